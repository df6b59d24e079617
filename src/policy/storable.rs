//! May this response be stored by a shared cache? (RFC 9111 §3, with
//! CloudFront's Minimum TTL override.)
//!
//! Checked in this order; the first rule that refuses wins:
//!
//! | condition | `min_ttl = 0` (RFC 9111) | `min_ttl > 0` (CloudFront) |
//! |---|---|---|
//! | method other than GET (§3) | not stored | not stored |
//! | request `no-store` (§5.2.1.5) | not stored | not stored |
//! | 206 (not the whole object), 304, 1xx | not stored | not stored |
//! | `must-understand` and a status this cache does not know (§5.2.2.3) | not stored | not stored |
//! | `Content-Type: text/event-stream` (a live stream) | not stored | not stored |
//! | per-status override `Never` | not stored | not stored |
//! | status neither heuristically cacheable, nor with explicit freshness or `public`, nor a cached error, nor overridden (§3) | not stored | not stored |
//! | `no-store` (§5.2.2.5; ignored with `must-understand` and a known status) | not stored | stored |
//! | `private` (§5.2.2.7) | not stored | stored |
//! | `private="field"` | stored without those fields | same |
//! | `no-cache` (§5.2.2.4) | stored, validated before every reuse (not stored without a validator) | stored, reused for the TTL |
//! | `no-cache="field"` | stored without those fields | same |
//! | request with `Authorization` and no `public`, `s-maxage`, `must-revalidate` (§3.5) | not stored | not stored |
//! | the origin saw cookies outside the key (the app as origin) and no `public` or `s-maxage` | not stored | not stored |
//! | `Set-Cookie`, unless cookies are part of the cache key | not stored | not stored |
//! | `Vary: *` (§4.1: can never be reused) | not stored | not stored |
//! | lifetime 0 without a validator | not stored | — |
//!
//! Stale windows: `stale-while-revalidate` / `stale-if-error` from the
//! origin (RFC 5861) or the policy's defaults. `must-revalidate` and
//! `proxy-revalidate` forbid serving stale at all (§4.2.4); `s-maxage`
//! implies `proxy-revalidate` (§5.2.2.10), but an explicit
//! `stale-while-revalidate` / `stale-if-error` next to it is honoured, as
//! other CDNs do for the common `s-maxage=60, stale-if-error=86400`.

use std::time::{Duration, SystemTime};

use http::header::{self, HeaderMap, HeaderName};
use http::{Method, StatusCode};

use super::cache_control::{CacheControl, FieldScope};
use super::freshness::{
    AgeClock, StatusTtl, StoredMeta, TtlPolicy, TtlSource, freshness_lifetime, has_explicit_freshness,
    is_heuristically_cacheable,
};
use super::targeted::Effective;
use super::vary::{self, Vary};
use crate::status::NotStored;

/// The request facts the storing decision needs.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// Request method.
    pub method: &'a Method,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Parsed request `Cache-Control`.
    pub cc: &'a CacheControl,
}

/// The response facts the storing decision needs.
#[derive(Debug, Clone, Copy)]
pub struct ResponseFacts<'a> {
    /// Response status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: &'a HeaderMap,
    /// The directives this cache obeys (targeted field or `Cache-Control`).
    pub eff: &'a Effective,
}

/// Settings of the behavior that affect storing.
#[derive(Debug, Clone, Copy)]
pub struct StoreRules<'a> {
    /// TTLs, error caching, per-status overrides, stale windows.
    pub ttl: &'a TtlPolicy,
    /// Cookies are part of the cache key, so `Set-Cookie` may be shared
    /// with requests carrying the same cookies.
    pub cookies_in_key: bool,
    /// The origin saw cookies the key does not hold (the app as origin
    /// gets every cookie): its answer may be personal, so it is stored only
    /// when it says `public` or `s-maxage` (Varnish's built-in rule).
    pub unkeyed_cookies: bool,
}

/// A positive storing decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storable {
    /// Freshness lifetime granted.
    pub lifetime: Duration,
    /// Where it came from.
    pub source: TtlSource,
    /// Stale windows and revalidation flags.
    pub stale_while_revalidate: Duration,
    /// See [`StoredMeta::stale_if_error`].
    pub stale_if_error: Duration,
    /// See [`StoredMeta::stale_if_unreachable`].
    pub stale_if_unreachable: Duration,
    /// See [`StoredMeta::must_revalidate`].
    pub must_revalidate: bool,
    /// See [`StoredMeta::no_cache`].
    pub no_cache: bool,
    /// See [`StoredMeta::shared`].
    pub shared: bool,
    /// Fields to remove before storing (`private="..."`, `no-cache="..."`).
    pub strip: Vec<HeaderName>,
    /// The request fields the response varies on.
    pub vary: Vary,
}

impl Storable {
    /// Metadata for a response that may be served once but not reused.
    pub fn uncacheable_meta(clock: AgeClock) -> StoredMeta {
        StoredMeta {
            clock,
            lifetime: Duration::ZERO,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            stale_if_unreachable: Duration::ZERO,
            must_revalidate: true,
            no_cache: true,
            shared: false,
        }
    }

    /// The metadata stored with the entry.
    pub fn meta(&self, clock: AgeClock) -> StoredMeta {
        StoredMeta {
            clock,
            lifetime: self.lifetime,
            stale_while_revalidate: self.stale_while_revalidate,
            stale_if_error: self.stale_if_error,
            stale_if_unreachable: self.stale_if_unreachable,
            must_revalidate: self.must_revalidate,
            no_cache: self.no_cache,
            shared: self.shared,
        }
    }
}

/// Status codes whose caching requirements this cache understands (the
/// codes defined by RFC 9110), for `must-understand` (§5.2.2.3).
fn is_understood(status: StatusCode) -> bool {
    matches!(status.as_u16(), 100..=101 | 200..=206 | 300..=305 | 307..=308 | 400..=417 | 421..=426 | 500..=505)
}

/// A `text/event-stream` response (server-sent events): each viewer's is
/// live and its own, whatever TTL a policy would give it.
pub fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream")))
}

/// Whether a request asks for server-sent events (`Accept:
/// text/event-stream`): it is never joined to another viewer's fetch.
pub fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream")))
}

/// `true` when the response carries a validator (§4.3.1).
pub fn has_validator(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ETAG) || headers.contains_key(header::LAST_MODIFIED)
}

/// Decides whether a shared cache may store the response (RFC 9111 §3)
/// and how it may be reused.
pub fn evaluate(
    req: RequestFacts<'_>,
    resp: ResponseFacts<'_>,
    rules: StoreRules<'_>,
    response_time: SystemTime,
) -> Result<Storable, NotStored> {
    let cc = &resp.eff.cc;
    let status = resp.status;
    if *req.method != Method::GET {
        return Err(NotStored::Method);
    }
    if req.cc.no_store {
        return Err(NotStored::RequestNoStore);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        return Err(NotStored::Partial);
    }
    if status.is_informational() || status == StatusCode::NOT_MODIFIED {
        return Err(NotStored::Status);
    }
    let understood = is_understood(status);
    if cc.must_understand && !understood {
        return Err(NotStored::MustUnderstand);
    }
    let overridden = rules.ttl.status_override(status);
    if overridden == Some(StatusTtl::Never) {
        return Err(NotStored::Status);
    }
    let storable_status = is_heuristically_cacheable(status)
        || has_explicit_freshness(resp.headers, resp.eff)
        || cc.public
        || rules.ttl.error_min(status).is_some_and(|min| !min.is_zero())
        || matches!(overridden, Some(StatusTtl::Ttl(_)));
    if !storable_status {
        return Err(NotStored::Status);
    }
    if is_event_stream(resp.headers) {
        return Err(NotStored::EventStream);
    }
    let cloudfront_override = !rules.ttl.min_ttl.is_zero();
    let mut strip = Vec::new();
    let mut no_cache = false;
    if !cloudfront_override {
        if cc.no_store && !(cc.must_understand && understood) {
            return Err(NotStored::NoStore);
        }
        match &cc.private {
            FieldScope::All => return Err(NotStored::Private),
            FieldScope::Fields(f) => strip.extend(f.iter().cloned()),
            FieldScope::Absent => {}
        }
        match &cc.no_cache {
            FieldScope::All if !has_validator(resp.headers) => return Err(NotStored::NoCache),
            FieldScope::All => no_cache = true,
            FieldScope::Fields(f) => strip.extend(f.iter().cloned()),
            FieldScope::Absent => {}
        }
    }
    if req.headers.contains_key(header::AUTHORIZATION) && !(cc.public || cc.s_maxage.is_some() || cc.must_revalidate) {
        return Err(NotStored::Authorization);
    }
    if rules.unkeyed_cookies && !(cc.public || cc.s_maxage.is_some()) {
        return Err(NotStored::Cookie);
    }
    if resp.headers.contains_key(header::SET_COOKIE) && !rules.cookies_in_key {
        return Err(NotStored::SetCookie);
    }
    let vary = vary::parse(resp.headers);
    if vary == Vary::Any {
        return Err(NotStored::Vary);
    }
    let Some((lifetime, source)) = freshness_lifetime(status, resp.headers, resp.eff, rules.ttl, response_time) else {
        return Err(NotStored::Status);
    };
    if lifetime.is_zero() && !has_validator(resp.headers) {
        return Err(NotStored::ZeroTtl);
    }
    let explicit_mr = cc.must_revalidate || cc.proxy_revalidate;
    let implied_mr = cc.s_maxage.is_some();
    let window = |origin: Option<u32>, default: Duration| match (explicit_mr, origin) {
        (true, _) => Duration::ZERO,
        (false, Some(s)) => Duration::from_secs(u64::from(s)),
        (false, None) if implied_mr => Duration::ZERO,
        (false, None) => default,
    };
    let stale_while_revalidate = window(cc.stale_while_revalidate, rules.ttl.stale_while_revalidate);
    let stale_if_error = window(cc.stale_if_error, rules.ttl.stale_if_error);
    let stale_if_unreachable = if explicit_mr || (implied_mr && cc.stale_if_error.is_none()) {
        Duration::ZERO
    } else {
        rules.ttl.stale_if_unreachable.max(stale_if_error)
    };
    Ok(Storable {
        lifetime,
        source,
        stale_while_revalidate,
        stale_if_error,
        stale_if_unreachable,
        must_revalidate: explicit_mr || implied_mr,
        no_cache,
        shared: cc.public || cc.s_maxage.is_some(),
        strip,
        vary,
    })
}

#[cfg(test)]
mod tests;
