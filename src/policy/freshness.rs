//! Freshness lifetime and age (RFC 9111 §4.2), with CloudFront's TTL clamp.
//!
//! # Precedence (first rule that applies wins)
//!
//! | origin says | lifetime |
//! |---|---|
//! | `s-maxage=N` (§5.2.2.10) | clamp(N, min, max) |
//! | `max-age=N` (§5.2.2.1) | clamp(N, min, max) |
//! | `Expires` (§5.3) | clamp(Expires − Date, min, max); an invalid date is already expired |
//! | nothing, `default_ttl > 0` | `default_ttl` (CloudFront's "Default TTL") |
//! | nothing, `default_ttl = 0` | heuristic (§4.2.2): a fraction of `now − Last-Modified` when the status is heuristically cacheable, else 0 |
//!
//! `clamp(x, min, max)` is CloudFront's rule: the origin can shorten the
//! lifetime down to `min_ttl` and lengthen it up to `max_ttl`, never beyond.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use http::header::{self, HeaderMap};

use super::cache_control::{CacheControl, DELTA_SECONDS_MAX, parse_delta};

/// The TTL settings of a cache policy (CloudFront's Minimum, Default and
/// Maximum TTL).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TtlPolicy {
    /// Lower bound on any freshness lifetime.
    pub min_ttl: Duration,
    /// Lifetime when the origin gives no freshness information.
    pub default_ttl: Duration,
    /// Upper bound on any freshness lifetime.
    pub max_ttl: Duration,
    /// Fraction of the `Last-Modified` age used as heuristic lifetime when
    /// `default_ttl` is 0 (RFC 9111 §4.2.2 suggests at most 10%).
    pub heuristic_fraction: f64,
}

impl Default for TtlPolicy {
    fn default() -> Self {
        TtlPolicy {
            min_ttl: Duration::ZERO,
            default_ttl: Duration::from_secs(24 * 60 * 60),
            max_ttl: Duration::from_secs(365 * 24 * 60 * 60),
            heuristic_fraction: 0.1,
        }
    }
}

/// Where a freshness lifetime came from; reported in logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlSource {
    /// `Cache-Control: s-maxage`.
    SMaxAge,
    /// `Cache-Control: max-age`.
    MaxAge,
    /// `Expires`.
    Expires,
    /// The policy's default TTL.
    Default,
    /// Heuristic freshness from `Last-Modified` (§4.2.2).
    Heuristic,
}

/// Status codes that are heuristically cacheable (RFC 9110 §15.1): a cache
/// may store them without explicit freshness information.
pub fn is_heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Parses an HTTP-date header; `None` when absent or invalid.
pub fn header_date(headers: &HeaderMap, name: header::HeaderName) -> Option<SystemTime> {
    let value = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(value.trim()).ok()
}

/// The freshness lifetime of a response for this cache (RFC 9111 §4.2.1),
/// clamped by the policy. `response_time` stands in for a missing `Date`.
pub fn freshness_lifetime(
    status: StatusCode,
    headers: &HeaderMap,
    cc: &CacheControl,
    policy: &TtlPolicy,
    response_time: SystemTime,
) -> (Duration, TtlSource) {
    let clamp = |d: Duration| d.clamp(policy.min_ttl, policy.max_ttl.max(policy.min_ttl));
    if let Some(s) = cc.s_maxage {
        return (clamp(secs(s)), TtlSource::SMaxAge);
    }
    if let Some(s) = cc.max_age {
        return (clamp(secs(s)), TtlSource::MaxAge);
    }
    if headers.contains_key(header::EXPIRES) {
        // §5.3: an invalid Expires (e.g. "0") means "already expired".
        let expires = header_date(headers, header::EXPIRES);
        let date = header_date(headers, header::DATE).unwrap_or(response_time);
        let lifetime = expires
            .and_then(|e| e.duration_since(date).ok())
            .unwrap_or(Duration::ZERO);
        return (clamp(lifetime), TtlSource::Expires);
    }
    if !policy.default_ttl.is_zero() {
        return (clamp(policy.default_ttl), TtlSource::Default);
    }
    (
        clamp(heuristic_lifetime(status, headers, policy, response_time)),
        TtlSource::Heuristic,
    )
}

/// §4.2.2: a fraction of the time since `Last-Modified`, only for
/// heuristically cacheable statuses.
fn heuristic_lifetime(
    status: StatusCode,
    headers: &HeaderMap,
    policy: &TtlPolicy,
    response_time: SystemTime,
) -> Duration {
    if !is_heuristically_cacheable(status) {
        return Duration::ZERO;
    }
    let Some(last_modified) = header_date(headers, header::LAST_MODIFIED) else {
        return Duration::ZERO;
    };
    let date = header_date(headers, header::DATE).unwrap_or(response_time);
    let age = date.duration_since(last_modified).unwrap_or(Duration::ZERO);
    let fraction = policy.heuristic_fraction.clamp(0.0, 1.0);
    Duration::from_secs_f64((age.as_secs_f64() * fraction).min(f64::from(DELTA_SECONDS_MAX)))
}

/// The timing facts of a stored response needed to compute its age
/// (RFC 9111 §4.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeClock {
    /// `corrected_initial_age` of §4.2.3.
    pub initial_age: Duration,
    /// When the response was received.
    pub response_time: SystemTime,
}

impl AgeClock {
    /// Computes `corrected_initial_age` from the response headers and the
    /// times the request was sent and the response received (§4.2.3).
    pub fn new(headers: &HeaderMap, request_time: SystemTime, response_time: SystemTime) -> Self {
        let age_value = headers
            .get(header::AGE)
            .and_then(|v| parse_delta(v.as_bytes()))
            .map_or(Duration::ZERO, secs);
        let date_value = header_date(headers, header::DATE).unwrap_or(response_time);
        let apparent_age = response_time
            .duration_since(date_value)
            .unwrap_or(Duration::ZERO);
        let response_delay = response_time
            .duration_since(request_time)
            .unwrap_or(Duration::ZERO);
        let corrected_age_value = age_value + response_delay;
        AgeClock {
            initial_age: apparent_age.max(corrected_age_value),
            response_time,
        }
    }

    /// `current_age` at `now` (§4.2.3).
    pub fn current_age(&self, now: SystemTime) -> Duration {
        let resident = now
            .duration_since(self.response_time)
            .unwrap_or(Duration::ZERO);
        self.initial_age + resident
    }
}

/// Whole seconds for the `Age` header (§5.1), saturating at 2^31.
pub fn age_header_secs(age: Duration) -> u64 {
    age.as_secs().min(u64::from(DELTA_SECONDS_MAX))
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn lifetime(pairs: &[(&'static str, String)], policy: &TtlPolicy) -> (u64, TtlSource) {
        let h = headers(pairs);
        let cc = CacheControl::from_headers(&h, &header::CACHE_CONTROL);
        let (d, s) = freshness_lifetime(StatusCode::OK, &h, &cc, policy, t(0));
        (d.as_secs(), s)
    }

    #[test]
    fn precedence_and_clamp_table() {
        let p = TtlPolicy {
            min_ttl: Duration::from_secs(10),
            default_ttl: Duration::from_secs(100),
            max_ttl: Duration::from_secs(1000),
            heuristic_fraction: 0.1,
        };
        let date = ("date", httpdate::fmt_http_date(t(0)));
        let expires = ("expires", httpdate::fmt_http_date(t(500)));
        type Row = (Vec<(&'static str, String)>, (u64, TtlSource));
        let table: Vec<Row> = vec![
            (
                vec![("cache-control", "s-maxage=50, max-age=20".into())],
                (50, TtlSource::SMaxAge),
            ),
            (
                vec![("cache-control", "max-age=20".into()), expires.clone()],
                (20, TtlSource::MaxAge),
            ),
            (
                vec![date.clone(), expires.clone()],
                (500, TtlSource::Expires),
            ),
            (
                vec![("cache-control", "max-age=5".into())],
                (10, TtlSource::MaxAge),
            ),
            (
                vec![("cache-control", "max-age=5000".into())],
                (1000, TtlSource::MaxAge),
            ),
            (vec![("expires", "0".into())], (10, TtlSource::Expires)),
            (vec![], (100, TtlSource::Default)),
        ];
        for (pairs, want) in table {
            assert_eq!(lifetime(&pairs, &p), want, "{pairs:?}");
        }
    }

    #[test]
    fn default_ttl_zero_uses_heuristic_from_last_modified() {
        let p = TtlPolicy {
            default_ttl: Duration::ZERO,
            ..TtlPolicy::default()
        };
        let pairs = vec![
            ("date", httpdate::fmt_http_date(t(1000))),
            ("last-modified", httpdate::fmt_http_date(t(0))),
        ];
        assert_eq!(lifetime(&pairs, &p), (100, TtlSource::Heuristic));
        assert_eq!(lifetime(&[], &p), (0, TtlSource::Heuristic));
    }

    #[test]
    fn age_follows_rfc_9111_4_2_3() {
        // Origin says Age: 30, Date is 10 s before we received it, and the
        // request took 2 s: corrected_initial_age = max(10, 30 + 2) = 32.
        let h = headers(&[
            ("age", "30".into()),
            ("date", httpdate::fmt_http_date(t(90))),
        ]);
        let clock = AgeClock::new(&h, t(98), t(100));
        assert_eq!(clock.initial_age, Duration::from_secs(32));
        assert_eq!(clock.current_age(t(110)), Duration::from_secs(42));
        // A clock going backwards never yields a negative age.
        assert_eq!(clock.current_age(t(50)), Duration::from_secs(32));
    }

    #[test]
    fn date_in_the_future_gives_zero_apparent_age() {
        let h = headers(&[("date", httpdate::fmt_http_date(t(500)))]);
        let clock = AgeClock::new(&h, t(100), t(100));
        assert_eq!(clock.initial_age, Duration::ZERO);
    }
}
