//! The outcome of a request through the cache: one value that becomes the
//! `Cache-Status` (RFC 9211) and `X-Cache` (CloudFront) headers, a response
//! extension and a log field.

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// `Cache-Status` (RFC 9211).
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");
/// CloudFront's `X-Cache`.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
/// The name this cache uses in `Via`, `Cache-Status` and `X-Cache` by default.
pub const CACHE_NAME: &str = "tower-cdn";

/// How the request was forwarded, if it was (RFC 9211 §2.2 `fwd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fwd {
    /// The cache was configured not to handle this request.
    Bypass,
    /// The request method is not cacheable.
    Method,
    /// No stored response matched the request URI.
    UriMiss,
    /// A stored response matched the URI but not its `Vary` headers.
    VaryMiss,
    /// The request's own directives (e.g. `no-cache`) required forwarding.
    Request,
    /// The stored response was stale and had to be validated or replaced.
    Stale,
    /// The stored response was partial.
    Partial,
}

impl Fwd {
    fn as_str(self) -> &'static str {
        match self {
            Fwd::Bypass => "bypass",
            Fwd::Method => "method",
            Fwd::UriMiss => "uri-miss",
            Fwd::VaryMiss => "vary-miss",
            Fwd::Request => "request",
            Fwd::Stale => "stale",
            Fwd::Partial => "partial",
        }
    }
}

/// Why a forwarded response was not stored; shown as `detail=` in
/// `Cache-Status` so users can see why something was not cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotStored {
    /// The request method is not GET.
    Method,
    /// The status code is not cacheable.
    Status,
    /// `Cache-Control: no-store` on the response.
    NoStore,
    /// `Cache-Control: no-store` on the request.
    RequestNoStore,
    /// `Cache-Control: private` on the response.
    Private,
    /// The request carried `Authorization` and the response did not allow sharing.
    Authorization,
    /// The response sets a cookie.
    SetCookie,
    /// A server-sent event stream (`text/event-stream`): live, never a
    /// stored representation.
    EventStream,
    /// The request carried cookies the key does not hold (the app saw
    /// them) and the response did not say `public` or `s-maxage`.
    Cookie,
    /// The response varies on request headers in a way we cannot key.
    Vary,
    /// The freshness lifetime is zero and there is no validator.
    ZeroTtl,
    /// `Cache-Control: no-cache` without a validator to revalidate with.
    NoCache,
    /// The body exceeds the maximum object size.
    TooLarge,
    /// The body did not complete (origin error or client gone).
    Incomplete,
    /// The origin returned a partial response (206).
    Partial,
    /// `must-understand` with a status code this cache does not understand.
    MustUnderstand,
    /// The entry was invalidated while it was being filled.
    Invalidated,
}

impl NotStored {
    /// The token used in `Cache-Status: ...; detail=TOKEN`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotStored::Method => "method",
            NotStored::Status => "status",
            NotStored::NoStore => "no-store",
            NotStored::RequestNoStore => "request-no-store",
            NotStored::Private => "private",
            NotStored::Authorization => "authorization",
            NotStored::SetCookie => "set-cookie",
            NotStored::Cookie => "cookie",
            NotStored::EventStream => "event-stream",
            NotStored::Vary => "vary",
            NotStored::ZeroTtl => "zero-ttl",
            NotStored::NoCache => "no-cache",
            NotStored::TooLarge => "too-large",
            NotStored::Incomplete => "incomplete",
            NotStored::Partial => "partial",
            NotStored::MustUnderstand => "must-understand",
            NotStored::Invalidated => "invalidated",
        }
    }
}

impl fmt::Display for NotStored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the cache did with one request. Put in the response extensions;
/// rendered as `Cache-Status` and `X-Cache`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStatus {
    hit: bool,
    fwd: Option<Fwd>,
    fwd_status: Option<u16>,
    stored: bool,
    collapsed: bool,
    ttl: Option<i64>,
    detail: Option<&'static str>,
    error: bool,
}

impl CacheStatus {
    /// Served from a fresh stored response.
    pub(crate) fn hit(ttl: Duration) -> Self {
        let mut s = Self::empty();
        s.hit = true;
        s.ttl = Some(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        s
    }

    /// Served from a stale stored response (`detail` says why that was allowed).
    pub(crate) fn stale_hit(staleness: Duration, detail: &'static str) -> Self {
        let mut s = Self::empty();
        s.hit = true;
        s.ttl = Some(-i64::try_from(staleness.as_secs()).unwrap_or(i64::MAX));
        s.detail = Some(detail);
        s
    }

    /// Forwarded for the given reason.
    pub(crate) fn forward(fwd: Fwd) -> Self {
        let mut s = Self::empty();
        s.fwd = Some(fwd);
        s
    }

    /// Answered by the cache itself with an error, without forwarding
    /// (`detail` says why, e.g. `method-not-allowed`).
    /// The edge answered itself, not as an error (a hook's redirect).
    pub(crate) fn answered(detail: &'static str) -> Self {
        let mut s = Self::empty();
        s.detail = Some(detail);
        s
    }

    pub(crate) fn refused(detail: &'static str) -> Self {
        let mut s = Self::empty();
        s.detail = Some(detail);
        s.error = true;
        s
    }

    fn empty() -> Self {
        CacheStatus {
            hit: false,
            fwd: None,
            fwd_status: None,
            stored: false,
            collapsed: false,
            ttl: None,
            detail: None,
            error: false,
        }
    }

    pub(crate) fn with_fwd(mut self, fwd: Fwd) -> Self {
        self.fwd = Some(fwd);
        self
    }
    pub(crate) fn with_fwd_status(mut self, status: StatusCode) -> Self {
        self.fwd_status = Some(status.as_u16());
        self
    }
    pub(crate) fn with_stored(mut self, stored: bool) -> Self {
        self.stored = stored;
        self
    }
    pub(crate) fn with_collapsed(mut self) -> Self {
        self.collapsed = true;
        self
    }
    pub(crate) fn with_not_stored(mut self, reason: NotStored) -> Self {
        self.detail = Some(reason.as_str());
        self
    }
    pub(crate) fn with_detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }
    pub(crate) fn with_error(mut self) -> Self {
        self.error = true;
        self
    }

    /// `true` when the response came from the cache without contacting the origin.
    pub fn is_hit(&self) -> bool {
        self.hit
    }
    /// How the request was forwarded, if it was.
    pub fn fwd(&self) -> Option<Fwd> {
        self.fwd
    }
    /// The status the origin answered with, when it was contacted.
    pub fn fwd_status(&self) -> Option<u16> {
        self.fwd_status
    }
    /// `true` when the forwarded response was stored.
    pub fn is_stored(&self) -> bool {
        self.stored
    }
    /// `true` when this request shared another request's origin fetch.
    pub fn is_collapsed(&self) -> bool {
        self.collapsed
    }
    /// The `detail` token (why a response was not stored, or an error kind).
    pub fn detail(&self) -> Option<&'static str> {
        self.detail
    }
    /// `true` when the response is an error generated by this cache.
    pub fn is_error(&self) -> bool {
        self.error
    }

    /// The `Cache-Status` member for this cache, e.g.
    /// `tower-cdn; fwd=uri-miss; fwd-status=200; stored`.
    pub fn cache_status_value(&self) -> String {
        self.value_named(CACHE_NAME)
    }

    /// The `Cache-Status` member, named `name`.
    pub(crate) fn value_named(&self, name: &str) -> String {
        let mut out = String::with_capacity(48);
        out.push_str(name);
        if self.hit {
            out.push_str("; hit");
        }
        if let Some(fwd) = self.fwd {
            out.push_str("; fwd=");
            out.push_str(fwd.as_str());
        }
        if let Some(status) = self.fwd_status {
            out.push_str("; fwd-status=");
            push_decimal(&mut out, i64::from(status));
        }
        if let Some(ttl) = self.ttl {
            out.push_str("; ttl=");
            push_decimal(&mut out, ttl);
        }
        if self.stored {
            out.push_str("; stored");
        }
        if self.collapsed {
            out.push_str("; collapsed");
        }
        if let Some(detail) = self.detail {
            out.push_str("; detail=");
            out.push_str(detail);
        }
        out
    }

    /// CloudFront's `X-Cache` wording for a response with `status`.
    pub fn x_cache_value(&self, status: StatusCode) -> &'static str {
        match self.x_cache_kind(status) {
            XCache::Error => "Error from tower-cdn",
            XCache::Hit => "Hit from tower-cdn",
            XCache::RefreshHit => "RefreshHit from tower-cdn",
            XCache::Miss => "Miss from tower-cdn",
        }
    }

    fn x_cache_kind(&self, status: StatusCode) -> XCache {
        if self.error || status.is_client_error() || status.is_server_error() {
            XCache::Error
        } else if self.hit {
            XCache::Hit
        } else if self.fwd_status == Some(304) {
            XCache::RefreshHit
        } else {
            XCache::Miss
        }
    }

    /// Adds `Cache-Status` (appended after any upstream cache's member,
    /// RFC 9211 §2) and `X-Cache` (replacing an upstream one), with this
    /// cache's name. The only place these headers are written.
    pub(crate) fn render(&self, names: &Names, status: StatusCode, headers: &mut HeaderMap) {
        self.render_with_key(names, status, headers, None);
    }

    /// [`render`](Self::render), with the `key` parameter (RFC 9211 §2.7)
    /// when `key` is given: the cache key as an sf-string, its bytes
    /// outside printable ASCII (the key's separators) and `%`, `"`, `\`
    /// percent-encoded.
    pub(crate) fn render_with_key(
        &self,
        names: &Names,
        status: StatusCode,
        headers: &mut HeaderMap,
        key: Option<&str>,
    ) {
        // The String's buffer becomes the value's: one allocation, no copy.
        let mut value = self.value_named(&names.name);
        if let Some(key) = key {
            value.push_str("; key=\"");
            for b in key.bytes() {
                if (0x20..0x7f).contains(&b) && !matches!(b, b'%' | b'"' | b'\\') {
                    value.push(char::from(b));
                } else {
                    value.push_str(&format!("%{b:02X}"));
                }
            }
            value.push('"');
        }
        if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(value)) {
            headers.append(CACHE_STATUS, v);
        }
        let x = match self.x_cache_kind(status) {
            XCache::Error => &names.error,
            XCache::Hit => &names.hit,
            XCache::RefreshHit => &names.refresh_hit,
            XCache::Miss => &names.miss,
        };
        headers.insert(X_CACHE, x.clone());
    }
}

/// CloudFront's four `X-Cache` words.
#[derive(Debug, Clone, Copy)]
enum XCache {
    Hit,
    RefreshHit,
    Miss,
    Error,
}

/// This cache's name as its headers carry it: the `Cache-Status` member
/// name and the four `X-Cache` values, made once per layer.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    name: std::sync::Arc<str>,
    hit: HeaderValue,
    refresh_hit: HeaderValue,
    miss: HeaderValue,
    error: HeaderValue,
}

impl Names {
    /// `name` is a token (the builder checks it).
    pub(crate) fn new(name: &str) -> Self {
        let x = |word: &str| {
            HeaderValue::from_str(&format!("{word} from {name}")).unwrap_or(HeaderValue::from_static("tower-cdn"))
        };
        Names {
            name: std::sync::Arc::from(name),
            hit: x("Hit"),
            refresh_hit: x("RefreshHit"),
            miss: x("Miss"),
            error: x("Error"),
        }
    }

    /// The name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// Appends `n` in decimal: every hit's `Cache-Status` has a `ttl`, and
/// this is a fraction of what `write!` costs.
fn push_decimal(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimals_are_written_as_display_would() {
        for n in [0, 1, -1, 9, 10, 99, 100, 3599, -3600, i64::MAX, i64::MIN, 1 << 31] {
            let mut out = String::new();
            super::push_decimal(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    use super::*;

    #[test]
    fn renders_rfc_9211_members() {
        let s = CacheStatus::forward(Fwd::UriMiss).with_fwd_status(StatusCode::OK).with_stored(true);
        assert_eq!(s.cache_status_value(), "tower-cdn; fwd=uri-miss; fwd-status=200; stored");
        assert_eq!(s.x_cache_value(StatusCode::OK), "Miss from tower-cdn");
        let h = CacheStatus::hit(Duration::from_secs(5));
        assert_eq!(h.cache_status_value(), "tower-cdn; hit; ttl=5");
        assert_eq!(h.x_cache_value(StatusCode::OK), "Hit from tower-cdn");
        let n = CacheStatus::forward(Fwd::UriMiss).with_not_stored(NotStored::NoStore);
        assert_eq!(n.cache_status_value(), "tower-cdn; fwd=uri-miss; detail=no-store");
        assert_eq!(n.x_cache_value(StatusCode::BAD_GATEWAY), "Error from tower-cdn");
    }

    #[test]
    fn our_member_comes_after_upstream_ones_with_our_name() {
        let mut h = HeaderMap::new();
        h.append(CACHE_STATUS, HeaderValue::from_static("tower-cdn; fwd=uri-miss; stored"));
        h.insert(X_CACHE, HeaderValue::from_static("Miss from tower-cdn"));
        CacheStatus::hit(Duration::from_secs(5)).render(&Names::new("edge-1"), StatusCode::OK, &mut h);
        let all: Vec<_> = h.get_all(CACHE_STATUS).iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(all, ["tower-cdn; fwd=uri-miss; stored", "edge-1; hit; ttl=5"]);
        assert_eq!(h[X_CACHE], "Hit from edge-1");
    }
}
