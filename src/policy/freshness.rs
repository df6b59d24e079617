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
//! | nothing, `default_ttl = 0` | heuristic (§4.2.2): a fraction of `now − Last-Modified` when the status is heuristically cacheable or the response is `public`, else 0 |
//!
//! `clamp(x, min, max)` is CloudFront's rule: the origin can shorten the
//! lifetime down to `min_ttl` and lengthen it up to `max_ttl`, never beyond.
//! When a targeted field (`CDN-Cache-Control`, RFC 9213) supplied the
//! directives, `Expires` is ignored.
//!
//! Two rules come before the table:
//!
//! * a per-status override ([`StatusTtl`]) replaces the lifetime, or makes
//!   the status never cacheable;
//! * the error statuses CloudFront caches (400, 403, 404, 405, 414, 500,
//!   501, 502, 503, 504) live for the *error caching minimum TTL* (default
//!   10 s; a distribution's custom error response can set one per code)
//!   when the origin gives no freshness, and for
//!   `max(origin's, error minimum)` (at most `max_ttl`) when it does. They
//!   never get the default TTL: with an error minimum of 0 they are cached
//!   only as long as the origin says. In standards mode (`default_ttl = 0`
//!   and an error minimum of 0) the table applies to them as to any status.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::StatusCode;
use http::header::{self, HeaderMap};

use super::cache_control::{DELTA_SECONDS_MAX, parse_delta};
use super::targeted::Effective;

/// A per-status override of the lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusTtl {
    /// Cache responses with this status for exactly this long.
    Ttl(Duration),
    /// Never store responses with this status.
    Never,
    /// CloudFront's Error Caching Minimum TTL for this (error) status:
    /// cached for the longer of this and the origin's lifetime; 0 = only
    /// as long as the origin says. Ignored for statuses CloudFront does
    /// not cache (e.g. 416).
    ErrorMin(Duration),
}

/// The TTL settings of a cache policy (CloudFront's Minimum, Default and
/// Maximum TTL).
#[derive(Debug, Clone, PartialEq)]
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
    /// Lifetime of cached error responses without freshness information
    /// (CloudFront's Error Caching Minimum TTL, default 10 s; 0 = do not
    /// cache errors unless the origin says so).
    pub error_caching_min_ttl: Duration,
    /// Per-status overrides.
    pub status_ttls: Arc<[(u16, StatusTtl)]>,
    /// How long a stale response may be served while it is refreshed in
    /// the background when the origin does not say (`stale-while-revalidate`,
    /// RFC 5861; Varnish's grace). Default 0.
    pub stale_while_revalidate: Duration,
    /// How long a stale response may be served when the origin answers
    /// with a 5xx and the origin does not say (`stale-if-error`). Default 0.
    pub stale_if_error: Duration,
    /// How long a stale response may still be served when the origin cannot
    /// be reached at all (RFC 9111 §4.2.4 "disconnected"; CloudFront keeps
    /// serving cached objects when the origin is unavailable). Default 24 h.
    pub stale_if_unreachable: Duration,
}

/// The error statuses CloudFront caches for the error caching minimum TTL.
pub fn is_cloudfront_cached_error(status: StatusCode) -> bool {
    matches!(status.as_u16(), 400 | 403 | 404 | 405 | 414 | 500 | 501 | 502 | 503 | 504)
}

impl TtlPolicy {
    /// Whether the edge can give a response a lifetime its origin did not
    /// (a default or minimum TTL, error caching, a status TTL): CloudFront's
    /// model, where only what is in the key may reach the origin by default.
    pub fn assigns_lifetimes(&self) -> bool {
        !self.min_ttl.is_zero()
            || !self.default_ttl.is_zero()
            || !self.error_caching_min_ttl.is_zero()
            || self.status_ttls.iter().any(|(_, t)| match t {
                StatusTtl::Ttl(d) | StatusTtl::ErrorMin(d) => !d.is_zero(),
                StatusTtl::Never => false,
            })
    }

    /// The override for `status`, if any.
    pub fn status_override(&self, status: StatusCode) -> Option<StatusTtl> {
        self.status_ttls.iter().find(|(s, _)| *s == status.as_u16()).map(|(_, t)| *t)
    }

    /// The error caching minimum TTL for `status`, if CloudFront caches
    /// that error: its own ([`StatusTtl::ErrorMin`]), else the policy's.
    pub fn error_min(&self, status: StatusCode) -> Option<Duration> {
        if !is_cloudfront_cached_error(status) {
            return None;
        }
        match self.status_override(status) {
            Some(StatusTtl::ErrorMin(min)) => Some(min),
            _ => Some(self.error_caching_min_ttl),
        }
    }
}

impl Default for TtlPolicy {
    fn default() -> Self {
        TtlPolicy {
            min_ttl: Duration::ZERO,
            default_ttl: Duration::from_secs(24 * 60 * 60),
            max_ttl: Duration::from_secs(365 * 24 * 60 * 60),
            heuristic_fraction: 0.1,
            error_caching_min_ttl: Duration::from_secs(10),
            status_ttls: Arc::from(Vec::new()),
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            stale_if_unreachable: Duration::from_secs(24 * 60 * 60),
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
    /// The error caching minimum TTL.
    Error,
    /// A per-status override.
    Status,
}

/// Status codes that are heuristically cacheable (RFC 9110 §15.1): a cache
/// may store them without explicit freshness information.
pub fn is_heuristically_cacheable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501)
}

/// Parses an HTTP-date header; `None` when absent or invalid.
pub fn header_date(headers: &HeaderMap, name: header::HeaderName) -> Option<SystemTime> {
    let value = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(value.trim()).ok()
}

/// `true` when the origin gave explicit freshness information.
pub fn has_explicit_freshness(headers: &HeaderMap, eff: &Effective) -> bool {
    eff.cc.s_maxage.is_some() || eff.cc.max_age.is_some() || (!eff.targeted && headers.contains_key(header::EXPIRES))
}

/// The freshness lifetime of a response for this cache (RFC 9111 §4.2.1),
/// with the policy's clamp, error and per-status rules. `None` when a
/// per-status override says never to store it. `response_time` stands in
/// for a missing `Date`.
pub fn freshness_lifetime(
    status: StatusCode,
    headers: &HeaderMap,
    eff: &Effective,
    policy: &TtlPolicy,
    response_time: SystemTime,
) -> Option<(Duration, TtlSource)> {
    match policy.status_override(status) {
        Some(StatusTtl::Never) => return None,
        Some(StatusTtl::Ttl(d)) => return Some((d, TtlSource::Status)),
        Some(StatusTtl::ErrorMin(_)) | None => {}
    }
    let max = policy.max_ttl.max(policy.min_ttl);
    let clamp = |d: Duration| d.clamp(policy.min_ttl, max);
    let explicit = explicit_lifetime(headers, eff, response_time);
    if let Some(min) = policy.error_min(status)
        && !(min.is_zero() && policy.default_ttl.is_zero())
    {
        return Some(match explicit {
            Some((d, source)) => (d.max(min).min(max), source),
            None => (min.min(max), TtlSource::Error),
        });
    }
    if let Some((d, source)) = explicit {
        return Some((clamp(d), source));
    }
    if !policy.default_ttl.is_zero() {
        return Some((clamp(policy.default_ttl), TtlSource::Default));
    }
    let allowed = is_heuristically_cacheable(status) || eff.cc.public;
    let heuristic = if allowed { heuristic_lifetime(headers, policy, response_time) } else { Duration::ZERO };
    Some((clamp(heuristic), TtlSource::Heuristic))
}

/// The origin's own lifetime: `s-maxage`, `max-age`, then `Expires − Date`.
fn explicit_lifetime(headers: &HeaderMap, eff: &Effective, response_time: SystemTime) -> Option<(Duration, TtlSource)> {
    if let Some(s) = eff.cc.s_maxage {
        return Some((secs(s), TtlSource::SMaxAge));
    }
    if let Some(s) = eff.cc.max_age {
        return Some((secs(s), TtlSource::MaxAge));
    }
    if !eff.targeted && headers.contains_key(header::EXPIRES) {
        // §5.3: an invalid Expires (e.g. "0") means "already expired".
        let expires = header_date(headers, header::EXPIRES);
        let date = header_date(headers, header::DATE).unwrap_or(response_time);
        let lifetime = expires.and_then(|e| e.duration_since(date).ok()).unwrap_or(Duration::ZERO);
        return Some((lifetime, TtlSource::Expires));
    }
    None
}

/// §4.2.2: a fraction of the time since `Last-Modified` (the caller checks
/// that the status is heuristically cacheable or the response `public`).
fn heuristic_lifetime(headers: &HeaderMap, policy: &TtlPolicy, response_time: SystemTime) -> Duration {
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
        let age_value = age_value(headers);
        let date_value = header_date(headers, header::DATE).unwrap_or(response_time);
        let apparent_age = response_time.duration_since(date_value).unwrap_or(Duration::ZERO);
        let response_delay = response_time.duration_since(request_time).unwrap_or(Duration::ZERO);
        let corrected_age_value = age_value + response_delay;
        AgeClock { initial_age: apparent_age.max(corrected_age_value), response_time }
    }

    /// `current_age` at `now` (§4.2.3).
    pub fn current_age(&self, now: SystemTime) -> Duration {
        let resident = now.duration_since(self.response_time).unwrap_or(Duration::ZERO);
        self.initial_age + resident
    }
}

/// What a cache needs to know about a stored response to decide whether
/// it may be reused (RFC 9111 §4.2) or served stale (§4.2.4, RFC 5861).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredMeta {
    /// Age bookkeeping.
    pub clock: AgeClock,
    /// Freshness lifetime granted.
    pub lifetime: Duration,
    /// Window after expiry in which it may be served while revalidating.
    pub stale_while_revalidate: Duration,
    /// Window after expiry in which it may be served if the origin errs.
    pub stale_if_error: Duration,
    /// Window after expiry in which it may be served if the origin is unreachable.
    pub stale_if_unreachable: Duration,
    /// `must-revalidate`, `proxy-revalidate` or `s-maxage`: never served
    /// stale (§5.2.2.2, §5.2.2.8, §5.2.2.10).
    pub must_revalidate: bool,
    /// `no-cache`: validated before every reuse (§5.2.2.4).
    pub no_cache: bool,
    /// `public` or `s-maxage`: the origin said outright that the response
    /// may be shared, so it may also answer a request that carries
    /// credentials the key does not hold (an app's cookies).
    pub shared: bool,
}

impl StoredMeta {
    /// Facts of a plain stored response for tests: received at
    /// `response_time` with no initial age, fresh for `lifetime`, no
    /// stale allowances or restrictions.
    #[cfg(test)]
    pub(crate) fn plain(lifetime: Duration, response_time: SystemTime) -> Self {
        StoredMeta {
            clock: AgeClock { initial_age: Duration::ZERO, response_time },
            lifetime,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            stale_if_unreachable: Duration::ZERO,
            must_revalidate: false,
            no_cache: false,
            shared: false,
        }
    }

    /// Freshness left at `now` (zero when stale).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.lifetime.saturating_sub(self.clock.current_age(now))
    }
    /// How long it has been stale at `now` (zero while fresh).
    pub fn staleness(&self, now: SystemTime) -> Duration {
        self.clock.current_age(now).saturating_sub(self.lifetime)
    }
    /// `true` while fresh (§4.2: `freshness_lifetime > current_age`).
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        self.lifetime > self.clock.current_age(now)
    }
    /// The longest time this entry can still be of use after expiry, for
    /// sizing its life in the store.
    pub fn stale_horizon(&self) -> Duration {
        if self.must_revalidate {
            return Duration::ZERO;
        }
        self.stale_while_revalidate.max(self.stale_if_error).max(self.stale_if_unreachable)
    }
}

/// The origin's `Age` (§5.1: `Age = delta-seconds`). A field that is not
/// exactly one delta-seconds value (several lines or members, a sign, a
/// fraction, parameters, trailing text) cannot be trusted to say how old
/// the response is, so it counts as the largest age: the response is
/// stale (the behaviour the HTTP caching test suite expects).
fn age_value(headers: &HeaderMap) -> Duration {
    let mut values = headers.get_all(header::AGE).iter();
    let Some(first) = values.next() else {
        return Duration::ZERO;
    };
    if values.next().is_some() {
        return secs(DELTA_SECONDS_MAX);
    }
    let text = first.as_bytes();
    let trimmed = text.trim_ascii();
    if trimmed.is_empty() || !trimmed.iter().all(u8::is_ascii_digit) {
        return secs(DELTA_SECONDS_MAX);
    }
    parse_delta(trimmed).map_or(secs(DELTA_SECONDS_MAX), secs)
}

/// Whole seconds for the `Age` header (§5.1), saturating at 2^31.
pub fn age_header_secs(age: Duration) -> u64 {
    age.as_secs().min(u64::from(DELTA_SECONDS_MAX))
}

/// Ages below this are served from [`AGE_DIGITS`] without an allocation.
const STATIC_AGES: u64 = 10_000;

/// "0123…9999": every age below [`STATIC_AGES`] written out once, so that
/// the `Age` of most hits is a static value (no allocation, and no
/// reference count shared between threads).
static AGE_DIGITS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| (0..STATIC_AGES).map(|n| n.to_string()).collect());

/// The `Age` header value for `age` (see [`age_header_secs`]).
pub fn age_header_value(age: Duration) -> http::HeaderValue {
    let secs = age_header_secs(age);
    if secs >= STATIC_AGES {
        return http::HeaderValue::from(secs);
    }
    // Where `secs` starts in AGE_DIGITS: after every shorter number, then
    // after the numbers of its own width below it.
    let (mut start, mut width, mut first, mut next) = (0, 1, 0, 10);
    while secs >= next {
        start += (next - first) * width;
        (first, next, width) = (next, next * 10, width + 1);
    }
    let start = (start + (secs - first) * width) as usize;
    let digits: &'static str = &AGE_DIGITS;
    http::HeaderValue::from_static(&digits[start..start + width as usize])
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
        lifetime_for(StatusCode::OK, pairs, policy).unwrap()
    }

    fn lifetime_for(
        status: StatusCode,
        pairs: &[(&'static str, String)],
        policy: &TtlPolicy,
    ) -> Option<(u64, TtlSource)> {
        let h = headers(pairs);
        let eff = crate::policy::targeted::effective(&h, &[]);
        freshness_lifetime(status, &h, &eff, policy, t(0)).map(|(d, s)| (d.as_secs(), s))
    }

    #[test]
    fn precedence_and_clamp_table() {
        let p = TtlPolicy {
            min_ttl: Duration::from_secs(10),
            default_ttl: Duration::from_secs(100),
            max_ttl: Duration::from_secs(1000),
            ..TtlPolicy::default()
        };
        let date = ("date", httpdate::fmt_http_date(t(0)));
        let expires = ("expires", httpdate::fmt_http_date(t(500)));
        type Row = (Vec<(&'static str, String)>, (u64, TtlSource));
        let table: Vec<Row> = vec![
            (vec![("cache-control", "s-maxage=50, max-age=20".into())], (50, TtlSource::SMaxAge)),
            (vec![("cache-control", "max-age=20".into()), expires.clone()], (20, TtlSource::MaxAge)),
            (vec![date.clone(), expires.clone()], (500, TtlSource::Expires)),
            (vec![("cache-control", "max-age=5".into())], (10, TtlSource::MaxAge)),
            (vec![("cache-control", "max-age=5000".into())], (1000, TtlSource::MaxAge)),
            (vec![("expires", "0".into())], (10, TtlSource::Expires)),
            (vec![], (100, TtlSource::Default)),
        ];
        for (pairs, want) in table {
            assert_eq!(lifetime(&pairs, &p), want, "{pairs:?}");
        }
    }

    #[test]
    fn cloudfront_error_caching() {
        let p = TtlPolicy::default();
        let s = |c| StatusCode::from_u16(c).unwrap();
        assert_eq!(lifetime_for(s(404), &[], &p), Some((10, TtlSource::Error)));
        assert_eq!(lifetime_for(s(503), &[], &p), Some((10, TtlSource::Error)));
        let short = vec![("cache-control", "max-age=3".to_string())];
        assert_eq!(lifetime_for(s(500), &short, &p), Some((10, TtlSource::MaxAge)));
        let long = vec![("cache-control", "max-age=300".to_string())];
        assert_eq!(lifetime_for(s(404), &long, &p), Some((300, TtlSource::MaxAge)));
        // Error caching off: only as long as the origin says, never the default TTL.
        let off = TtlPolicy { error_caching_min_ttl: Duration::ZERO, ..TtlPolicy::default() };
        assert_eq!(lifetime_for(s(404), &[], &off), Some((0, TtlSource::Error)));
        assert_eq!(lifetime_for(s(404), &long, &off), Some((300, TtlSource::MaxAge)));
        // Standards mode: RFC 9111 alone (a 404 is heuristically cacheable).
        let standards = TtlPolicy { default_ttl: Duration::ZERO, ..off };
        assert_eq!(lifetime_for(s(404), &[], &standards), Some((0, TtlSource::Heuristic)));
    }

    #[test]
    fn per_status_error_caching_minimum() {
        let p = TtlPolicy {
            status_ttls: Arc::from(vec![
                (404, StatusTtl::ErrorMin(Duration::from_secs(300))),
                (503, StatusTtl::ErrorMin(Duration::ZERO)),
                (416, StatusTtl::ErrorMin(Duration::from_secs(300))),
            ]),
            ..TtlPolicy::default()
        };
        let s = |c| StatusCode::from_u16(c).unwrap();
        let short = vec![("cache-control", "max-age=3".to_string())];
        let long = vec![("cache-control", "max-age=900".to_string())];
        assert_eq!(lifetime_for(s(404), &[], &p), Some((300, TtlSource::Error)));
        assert_eq!(lifetime_for(s(404), &short, &p), Some((300, TtlSource::MaxAge)));
        assert_eq!(lifetime_for(s(404), &long, &p), Some((900, TtlSource::MaxAge)));
        assert_eq!(lifetime_for(s(503), &[], &p), Some((0, TtlSource::Error)));
        assert_eq!(lifetime_for(s(503), &short, &p), Some((3, TtlSource::MaxAge)));
        // Other errors keep the policy's minimum; 416 is not an error CloudFront caches.
        assert_eq!(lifetime_for(s(500), &[], &p), Some((10, TtlSource::Error)));
        assert_eq!(p.error_min(s(416)), None);
    }

    #[test]
    fn per_status_overrides() {
        let p = TtlPolicy {
            status_ttls: Arc::from(vec![(404, StatusTtl::Never), (200, StatusTtl::Ttl(Duration::from_secs(42)))]),
            ..TtlPolicy::default()
        };
        let long = vec![("cache-control", "max-age=300".to_string())];
        assert_eq!(lifetime_for(StatusCode::NOT_FOUND, &long, &p), None);
        assert_eq!(lifetime_for(StatusCode::OK, &long, &p), Some((42, TtlSource::Status)));
    }

    #[test]
    fn targeted_fields_ignore_expires() {
        let p = TtlPolicy::default();
        let h = headers(&[
            ("cdn-cache-control", "public".into()),
            ("expires", httpdate::fmt_http_date(t(500))),
            ("date", httpdate::fmt_http_date(t(0))),
        ]);
        let eff = crate::policy::targeted::effective(&h, &crate::policy::targeted::default_targeted());
        let got = freshness_lifetime(StatusCode::OK, &h, &eff, &p, t(0)).unwrap();
        assert_eq!(got, (Duration::from_secs(86_400), TtlSource::Default));
    }

    #[test]
    fn default_ttl_zero_uses_heuristic_from_last_modified() {
        let p = TtlPolicy { default_ttl: Duration::ZERO, ..TtlPolicy::default() };
        let pairs = vec![("date", httpdate::fmt_http_date(t(1000))), ("last-modified", httpdate::fmt_http_date(t(0)))];
        assert_eq!(lifetime(&pairs, &p), (100, TtlSource::Heuristic));
        assert_eq!(lifetime(&[], &p), (0, TtlSource::Heuristic));
        // §4.2.2: only heuristically cacheable statuses, or `public` responses.
        let unknown = StatusCode::from_u16(599).unwrap();
        assert_eq!(lifetime_for(unknown, &pairs, &p), Some((0, TtlSource::Heuristic)));
        let mut public = pairs.clone();
        public.push(("cache-control", "public".into()));
        assert_eq!(lifetime_for(unknown, &public, &p), Some((100, TtlSource::Heuristic)));
    }

    #[test]
    fn age_follows_rfc_9111_4_2_3() {
        // Origin says Age: 30, Date is 10 s before we received it, and the
        // request took 2 s: corrected_initial_age = max(10, 30 + 2) = 32.
        let h = headers(&[("age", "30".into()), ("date", httpdate::fmt_http_date(t(90)))]);
        let clock = AgeClock::new(&h, t(98), t(100));
        assert_eq!(clock.initial_age, Duration::from_secs(32));
        assert_eq!(clock.current_age(t(110)), Duration::from_secs(42));
        // A clock going backwards never yields a negative age.
        assert_eq!(clock.current_age(t(50)), Duration::from_secs(32));
    }

    #[test]
    fn an_invalid_age_makes_the_response_stale() {
        for bad in ["abc", "-7200", "7200.0", "3600 abc", "0, 0", "1;a=b", ""] {
            let h = headers(&[("age", bad.into())]);
            let clock = AgeClock::new(&h, t(0), t(0));
            assert!(clock.initial_age >= Duration::from_secs(u64::from(DELTA_SECONDS_MAX)), "{bad:?}");
        }
        let mut h = headers(&[("age", "5".into())]);
        h.append("age", HeaderValue::from_static("5"));
        assert!(AgeClock::new(&h, t(0), t(0)).initial_age >= Duration::from_secs(1000));
        assert_eq!(AgeClock::new(&headers(&[("age", " 42 ".into())]), t(0), t(0)).initial_age, Duration::from_secs(42));
    }

    #[test]
    fn date_in_the_future_gives_zero_apparent_age() {
        let h = headers(&[("date", httpdate::fmt_http_date(t(500)))]);
        let clock = AgeClock::new(&h, t(100), t(100));
        assert_eq!(clock.initial_age, Duration::ZERO);
    }

    #[test]
    fn age_values_are_the_decimal_seconds() {
        for secs in (0..12_000).chain([99_999, 1 << 31, u64::MAX]) {
            let want = age_header_secs(Duration::from_secs(secs)).to_string();
            assert_eq!(age_header_value(Duration::from_secs(secs)), want.as_str(), "{secs}");
        }
        assert_eq!(age_header_value(Duration::from_millis(1_999)), "1");
    }
}
