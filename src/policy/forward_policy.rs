//! The origin request policy as pure functions: what reaches the origin.
//!
//! CloudFront: "all headers, cookies and query strings that are specified in
//! the cache policy or the origin request policy" are forwarded. So a query
//! string, header or cookie is forwarded when the key policy **or** the
//! [`ForwardPolicy`] selects it. `Host` is never touched here (the origin
//! decides), and `Cookie` is governed by the cookie rules only: with the
//! default policies no cookie is in the key and none is forwarded to an
//! HTTP or S3 origin. The app as origin gets every cookie.
//!
//! # Which headers reach the origin
//!
//! Whoever decides how long a response may be shared decides what may be
//! forwarded without being in the key ([`ForwardMode`]):
//!
//! | request | [`ForwardMode::Edge`] (the edge gives lifetimes: default or minimum TTL) | [`ForwardMode::Standards`] (the origin declares freshness) | [`ForwardMode::App`] (the wrapped app) |
//! |---|---|---|---|
//! | GET, HEAD, default policy | the key's headers and [`NEUTRAL`] (with `Authorization`, whose answers are not shared: RFC 9111 §3.5); `Accept-Encoding` when the behavior compresses (normalised); `User-Agent` becomes `tower-cdn` | every end-to-end header (`Vary` is the contract) | every end-to-end header |
//! | GET, HEAD, headers set in the policy | the key's, [`NEUTRAL`], and those the policy selects | the same | the same |
//! | other methods (never stored) | every end-to-end header | every end-to-end header | every end-to-end header |
//!
//! In every mode the forwarding family ([`is_forwarding_family`]:
//! `Forwarded`, `X-Forwarded-*`, `X-Original-*`, client-IP and CDN-viewer
//! headers) is removed unless the layer trusts the proxy in front of it
//! (`trust_forwarding_headers`) or the policy names the header in an
//! allow-list (`Select::Only`); the key naming it is fine too (then the
//! responses differ per value). The edge then adds its own `Via`,
//! `CDN-Loop`, `X-Forwarded-For` (the client's address) and `X-Request-Id`.

use std::borrow::Cow;

use http::Method;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::key_policy::{KeyPolicy, Select, cookies, param_name};

/// An origin request policy: what is forwarded to the origin on top of what
/// the cache key holds.
///
/// The default forwards the headers of the [`ForwardMode`]'s default (see
/// the module documentation), no cookie and no query string beyond those in
/// the cache key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForwardPolicy {
    /// Viewer headers forwarded besides the key's and [`NEUTRAL`] (`Cookie`
    /// and `Host` are never governed by this); `None`: the mode's default.
    pub headers: Option<Select>,
    /// Cookies forwarded.
    pub cookies: Select,
    /// Query strings forwarded.
    pub query_strings: Select,
}

/// Who gives a behavior's responses their lifetime, which decides which
/// viewer headers reach its origin by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardMode {
    /// The edge may give a response a lifetime its origin did not
    /// (CloudFront's default and minimum TTLs, error caching): an origin
    /// that varies on a header it is not told to vary on would have its
    /// answer shared, so only the key's headers and representation-neutral
    /// ones are forwarded.
    Edge,
    /// Freshness comes from the origin alone (`default_ttl` and `min_ttl`
    /// 0): end-to-end headers pass as RFC 9111 expects, and the origin
    /// declares what it varies on with `Vary` (§4.1).
    Standards,
    /// The wrapped app is the origin: it sees the request as the viewer
    /// sent it, cookies included (an answer to a request with cookies or
    /// `Authorization` outside the key is shared only when it says
    /// `public` or `s-maxage`).
    App,
}

/// What the request context adds to a policy when forwarding.
#[derive(Debug, Clone, Copy)]
pub struct Forwarding {
    /// The behavior's mode.
    pub mode: ForwardMode,
    /// The behavior compresses at the edge (the normalised
    /// `Accept-Encoding` is forwarded and keyed on as a variant).
    pub compress: bool,
    /// The proxy in front is trusted with the forwarding family.
    pub trust_forwarding: bool,
}

/// Headers forwarded in [`ForwardMode::Edge`] without being in the key:
/// they do not select a shared representation (conditionals and ranges are
/// answered from the whole representation; request directives are the
/// edge's to honour; `Via`, `CDN-Loop` and `X-Request-Id` trace the path).
/// `Authorization` passes too (CloudFront removes it from GET and HEAD):
/// a response to a request with it is never stored unless the origin says
/// `public`, `s-maxage` or `must-revalidate` (RFC 9111 §3.5), so the
/// origin's answer to one viewer's credentials is never shared by mistake.
pub const NEUTRAL: [HeaderName; 13] = [
    header::HOST,
    header::AUTHORIZATION,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
    header::IF_RANGE,
    header::RANGE,
    header::CACHE_CONTROL,
    header::PRAGMA,
    header::VIA,
    HeaderName::from_static("cdn-loop"),
    HeaderName::from_static("x-request-id"),
];

/// The `User-Agent` origins see in [`ForwardMode::Edge`] (CloudFront sends
/// `Amazon CloudFront`): device detection by user agent must be keyed.
pub const EDGE_USER_AGENT: &str = "tower-cdn";

/// Exact names of the forwarding family (besides [`FORWARDING_PREFIXES`]).
const FORWARDING_NAMES: [&str; 13] = [
    "forwarded",
    "x-forwarded",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "client-ip",
    "x-cluster-client-ip",
    "x-host",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-proxyuser-ip",
];

/// Prefixes of the forwarding family: proxies' and CDNs' own headers.
const FORWARDING_PREFIXES: [&str; 9] =
    ["x-forwarded-", "x-original-", "cloudfront-", "cf-", "x-amz-cf-", "x-edge-", "x-envoy-", "fastly-", "akamai-"];

/// Whether `name` is a header an upstream proxy or CDN sets about the
/// viewer or the request's route (client address, scheme, host, original
/// path, viewer country, method override): a viewer forging one could make
/// the origin answer for another client or URL under this request's key.
/// `_` counts as `-`: CGI, WSGI, PHP and Rack read `X_Forwarded_Host` and
/// `X-Forwarded-Host` as the same `HTTP_X_FORWARDED_HOST`.
pub fn is_forwarding_family(name: &str) -> bool {
    if !name.contains('_') {
        return FORWARDING_NAMES.contains(&name) || FORWARDING_PREFIXES.iter().any(|p| name.starts_with(p));
    }
    let same = |a: u8, b: u8| a == b || (a == b'_' && b == b'-');
    let starts = |p: &str| name.len() >= p.len() && name.bytes().zip(p.bytes()).all(|(a, b)| same(a, b));
    FORWARDING_NAMES.iter().any(|n| n.len() == name.len() && starts(n)) || FORWARDING_PREFIXES.iter().any(|p| starts(p))
}

/// The query string to send to the origin: the parameters the key policy
/// or the forward policy selects, in request order. Borrowed when nothing
/// is removed.
pub fn forwarded_query<'a>(key: &KeyPolicy, forward: &ForwardPolicy, query: Option<&'a str>) -> Option<Cow<'a, str>> {
    let query = query?;
    let keep = |name: &str| key.query_strings.selects(name) || forward.query_strings.selects(name);
    let params = || query.split('&').filter(|p| !p.is_empty());
    if params().all(|p| keep(param_name(p))) {
        return Some(Cow::Borrowed(query));
    }
    let kept: Vec<&str> = params().filter(|p| keep(param_name(p))).collect();
    if kept.is_empty() { None } else { Some(Cow::Owned(kept.join("&"))) }
}

/// Removes from `headers` what neither policy nor the mode forwards (see
/// the module documentation), and rebuilds `Cookie` from the selected pairs.
pub fn apply_forward_headers(
    key: &KeyPolicy,
    forward: &ForwardPolicy,
    ctx: Forwarding,
    method: &Method,
    headers: &mut HeaderMap,
) {
    let cacheable = matches!(*method, Method::GET | Method::HEAD);
    let named = |name: &HeaderName| matches!(&forward.headers, Some(Select::Only(_))) && selected(forward, name);
    let keep = |name: &HeaderName| -> bool {
        if *name == header::COOKIE || key.headers.selects_header(name.as_str()) {
            return true;
        }
        if is_forwarding_family(name.as_str()) {
            return ctx.trust_forwarding || named(name);
        }
        if forward.headers.is_some() && selected(forward, name) {
            return true;
        }
        let default_all = matches!(ctx.mode, ForwardMode::Standards | ForwardMode::App) || !cacheable;
        if forward.headers.is_none() && default_all {
            return true;
        }
        if NEUTRAL.contains(name) {
            return true;
        }
        if !cacheable && name.as_str().starts_with("content-") {
            return true;
        }
        *name == header::ACCEPT_ENCODING && ctx.compress
    };
    let mut drop: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        if !keep(name) {
            drop.push(name.clone());
        }
    }
    for name in drop {
        headers.remove(name);
    }
    if ctx.mode == ForwardMode::Edge && cacheable && !headers.contains_key(header::USER_AGENT) {
        headers.insert(header::USER_AGENT, HeaderValue::from_static(EDGE_USER_AGENT));
    }
    // The app reads its own cookies (a session, a CSRF token); what it
    // answers to a request with cookies outside the key is shared only when
    // it says `public` or `s-maxage` (`storable`, `StoreRules::unkeyed_cookies`).
    if ctx.mode != ForwardMode::App {
        apply_forward_cookies(key, forward, headers);
    }
}

/// Whether the policy's header selection names `name`.
fn selected(forward: &ForwardPolicy, name: &HeaderName) -> bool {
    forward.headers.as_ref().is_some_and(|s| s.selects_header(name.as_str()))
}

/// The headers a behavior forwards in [`ForwardMode::Edge`] outside its
/// key beyond [`NEUTRAL`]: each is a way for an origin to personalise a
/// response that is then shared. `Some(["*"])` for every header.
pub fn unkeyed_forwarded_headers(key: &KeyPolicy, forward: &ForwardPolicy) -> Vec<String> {
    match &forward.headers {
        None | Some(Select::None) => Vec::new(),
        Some(Select::Only(names)) => names
            .iter()
            .filter(|n| !key.headers.selects_header(n))
            .filter(|n| !NEUTRAL.iter().any(|h| h.as_str().eq_ignore_ascii_case(n)))
            .cloned()
            .collect(),
        Some(_) => vec!["*".to_owned()],
    }
}

/// The cookie half of [`apply_forward_headers`].
fn apply_forward_cookies(key: &KeyPolicy, forward: &ForwardPolicy, headers: &mut HeaderMap) {
    if !headers.contains_key(header::COOKIE) {
        return;
    }
    let keep = |name: &str| key.cookies.selects(name) || forward.cookies.selects(name);
    // Sent as the viewer wrote it only when the key does not depend on
    // cookies. A key that does is made of the well-formed pairs
    // ([`cookies`]), so the origin gets exactly those: a fragment the key
    // ignores (`Cookie: admin`) must not reach the origin under the key of
    // a request without it.
    if matches!(forward.cookies, Select::All) && key.cookies.is_none() {
        return;
    }
    if key.cookies.is_none() && forward.cookies.is_none() {
        headers.remove(header::COOKIE);
        return;
    }
    let mut kept = Vec::new();
    for (name, value) in cookies(headers).filter(|(n, _)| keep(n)) {
        if !kept.is_empty() {
            kept.extend_from_slice(b"; ");
        }
        kept.extend_from_slice(name.as_bytes());
        kept.push(b'=');
        kept.extend_from_slice(value);
    }
    headers.remove(header::COOKIE);
    if let Ok(value) = HeaderValue::from_bytes(&kept)
        && !kept.is_empty()
    {
        headers.insert(header::COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::is_forwarding_family;

    #[test]
    fn the_forwarding_family_is_matched_with_underscores_too() {
        for name in ["x-forwarded-host", "x_forwarded_host", "x_real_ip", "true_client_ip", "x-forwarded", "cf_ray"] {
            assert!(is_forwarding_family(name), "{name}");
        }
        for name in ["x-api-key", "x_api_key", "accept", "x-forwardedx", "forwarded-x", "x-real-ipx"] {
            assert!(!is_forwarding_family(name), "{name}");
        }
    }
}
