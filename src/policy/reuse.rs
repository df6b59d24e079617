//! May a stored response be reused for this request? (RFC 9111 §4,
//! §4.2.4, §5.2.1; RFC 5861.)
//!
//! | situation | decision |
//! |---|---|
//! | request `no-cache`, or `Pragma: no-cache` without `Cache-Control` (§5.2.1.4, §5.4) | validate first |
//! | stored `no-cache` (§5.2.2.4) | validate first |
//! | request `max-age=N` and age > N (§5.2.1.1) | validate first |
//! | request `min-fresh=N` and less than N s of freshness left (§5.2.1.3) | validate first |
//! | fresh | reuse |
//! | stale, `must-revalidate` / `proxy-revalidate` / `s-maxage` (§4.2.4) | validate first |
//! | stale, request `max-stale` covering the staleness (§5.2.1.2) | reuse stale |
//! | stale, within `stale-while-revalidate` (RFC 5861 §3) | reuse stale, refresh in the background |
//! | stale otherwise | validate first |
//!
//! "Validate first" is a conditional request when the stored response has
//! a validator, a full fetch otherwise (§4.3.1).

use std::time::{Duration, SystemTime};

use http::header::{self, HeaderMap};

use super::cache_control::{CacheControl, MaxStale};
use super::freshness::StoredMeta;

/// How a stored response may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Serve it; it is fresh with this much left.
    Fresh {
        /// Freshness left.
        remaining: Duration,
    },
    /// Serve it although stale, because the client allows it (`max-stale`).
    StaleAllowed {
        /// How stale it is.
        staleness: Duration,
    },
    /// Serve it stale now and refresh it in the background.
    StaleWhileRevalidate {
        /// How stale it is.
        staleness: Duration,
    },
    /// It must be validated with the origin before it is used.
    Validate,
}

/// How a soft-purged entry may be used (see `cache::purge::Mode::Stale`):
/// as a stale one, served while one background refresh runs, unless the
/// response or the request forbids stale answers (then validated first).
pub fn decide_soft_purged(
    meta: &StoredMeta,
    req_cc: &CacheControl,
    req_pragma_no_cache: bool,
    now: SystemTime,
) -> Reuse {
    if req_cc.no_cache.is_present()
        || req_pragma_no_cache
        || meta.no_cache
        || meta.must_revalidate
        || req_cc.min_fresh.is_some()
    {
        return Reuse::Validate;
    }
    if let Some(max_age) = req_cc.max_age
        && meta.clock.current_age(now) > Duration::from_secs(u64::from(max_age))
    {
        return Reuse::Validate;
    }
    Reuse::StaleWhileRevalidate { staleness: meta.staleness(now) }
}

/// `Pragma: no-cache` counts as request `no-cache` only when there is no
/// `Cache-Control` (RFC 9111 §5.4).
pub fn pragma_no_cache(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::CACHE_CONTROL)
        && headers
            .get_all(header::PRAGMA)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
}

/// Decides how the stored response may be used for a request.
pub fn decide(meta: &StoredMeta, req_cc: &CacheControl, req_pragma_no_cache: bool, now: SystemTime) -> Reuse {
    if req_cc.no_cache.is_present() || req_pragma_no_cache || meta.no_cache {
        return Reuse::Validate;
    }
    let age = meta.clock.current_age(now);
    if let Some(max_age) = req_cc.max_age
        && age > Duration::from_secs(u64::from(max_age))
    {
        return Reuse::Validate;
    }
    let remaining = meta.lifetime.saturating_sub(age);
    if let Some(min_fresh) = req_cc.min_fresh
        && remaining < Duration::from_secs(u64::from(min_fresh))
    {
        return Reuse::Validate;
    }
    if meta.is_fresh(now) {
        return Reuse::Fresh { remaining };
    }
    let staleness = meta.staleness(now);
    if meta.must_revalidate {
        return if staleness < meta.stale_while_revalidate {
            // Only an explicit stale-while-revalidate gets here (see storable).
            Reuse::StaleWhileRevalidate { staleness }
        } else {
            Reuse::Validate
        };
    }
    match req_cc.max_stale {
        Some(MaxStale::Any) => return Reuse::StaleAllowed { staleness },
        Some(MaxStale::Seconds(s)) if staleness <= Duration::from_secs(u64::from(s)) => {
            return Reuse::StaleAllowed { staleness };
        }
        _ => {}
    }
    if staleness < meta.stale_while_revalidate {
        return Reuse::StaleWhileRevalidate { staleness };
    }
    Reuse::Validate
}

/// Why the origin could not give a usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginTrouble {
    /// It could not be reached or timed out (the cache is "disconnected").
    Unreachable,
    /// It answered with a 5xx status.
    ServerError,
}

/// May the stale response be served instead of the origin's failure?
/// (RFC 9111 §4.2.4; RFC 5861 §4 `stale-if-error`.)
pub fn may_serve_stale_on_error(meta: &StoredMeta, trouble: OriginTrouble, now: SystemTime) -> bool {
    let staleness = meta.staleness(now);
    let window = match trouble {
        OriginTrouble::Unreachable => meta.stale_if_unreachable.max(meta.stale_if_error),
        OriginTrouble::ServerError => meta.stale_if_error,
    };
    // A still-fresh response is always usable.
    meta.is_fresh(now) || staleness <= window && !window.is_zero()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    fn meta(lifetime: u64) -> StoredMeta {
        StoredMeta::plain(Duration::from_secs(lifetime), t(0))
    }

    fn cc(s: &str) -> CacheControl {
        CacheControl::parse(s.as_bytes())
    }

    #[test]
    fn reuse_table() {
        let m = meta(100);
        let fresh = |r| Reuse::Fresh { remaining: Duration::from_secs(r) };
        assert_eq!(decide(&m, &cc(""), false, t(10)), fresh(90));
        assert_eq!(decide(&m, &cc("no-cache"), false, t(10)), Reuse::Validate);
        assert_eq!(decide(&m, &cc(""), true, t(10)), Reuse::Validate);
        assert_eq!(decide(&m, &cc("max-age=5"), false, t(10)), Reuse::Validate);
        assert_eq!(decide(&m, &cc("max-age=50"), false, t(10)), fresh(90));
        assert_eq!(decide(&m, &cc("min-fresh=95"), false, t(10)), Reuse::Validate);
        assert_eq!(decide(&m, &cc(""), false, t(100)), Reuse::Validate, "age == lifetime is stale");
        let stale = |s| Reuse::StaleAllowed { staleness: Duration::from_secs(s) };
        assert_eq!(decide(&m, &cc("max-stale"), false, t(150)), stale(50));
        assert_eq!(decide(&m, &cc("max-stale=60"), false, t(150)), stale(50));
        assert_eq!(decide(&m, &cc("max-stale=10"), false, t(150)), Reuse::Validate);
        let nc = StoredMeta { no_cache: true, ..m };
        assert_eq!(decide(&nc, &cc(""), false, t(1)), Reuse::Validate);
        let mr = StoredMeta { must_revalidate: true, ..m };
        assert_eq!(decide(&mr, &cc("max-stale"), false, t(150)), Reuse::Validate);
        let swr = StoredMeta { stale_while_revalidate: Duration::from_secs(30), ..m };
        assert_eq!(
            decide(&swr, &cc(""), false, t(120)),
            Reuse::StaleWhileRevalidate { staleness: Duration::from_secs(20) }
        );
        assert_eq!(decide(&swr, &cc(""), false, t(131)), Reuse::Validate);
    }

    #[test]
    fn pragma_counts_only_without_cache_control() {
        let mut h = HeaderMap::new();
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        assert!(pragma_no_cache(&h));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=5"));
        assert!(!pragma_no_cache(&h));
    }

    #[test]
    fn stale_on_error_windows() {
        let m = StoredMeta {
            stale_if_error: Duration::from_secs(60),
            stale_if_unreachable: Duration::from_secs(600),
            ..meta(100)
        };
        assert!(may_serve_stale_on_error(&m, OriginTrouble::ServerError, t(150)));
        assert!(!may_serve_stale_on_error(&m, OriginTrouble::ServerError, t(200)));
        assert!(may_serve_stale_on_error(&m, OriginTrouble::Unreachable, t(600)));
        assert!(!may_serve_stale_on_error(&meta(100), OriginTrouble::ServerError, t(101)));
        assert!(may_serve_stale_on_error(&meta(100), OriginTrouble::ServerError, t(50)));
    }
}
