//! The origin request policy as pure functions: what reaches the origin.
//!
//! CloudFront: "all headers, cookies and query strings that are specified in
//! the cache policy or the origin request policy" are forwarded. So a query
//! string, header or cookie is forwarded when the key policy **or** the
//! [`ForwardPolicy`] selects it. `Host` is never touched here (the origin
//! decides), and `Cookie` is governed by the cookie rules only: with the
//! default policies no cookie is in the key and none is forwarded.

use std::borrow::Cow;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::key_policy::{KeyPolicy, Select, cookies, param_name};

/// An origin request policy: what is forwarded to the origin on top of what
/// the cache key holds.
///
/// The default forwards every viewer header (except hop-by-hop ones) but no
/// cookie and no query string beyond those in the cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardPolicy {
    /// Viewer headers forwarded (`Cookie` and `Host` are never governed by this).
    pub headers: Select,
    /// Cookies forwarded.
    pub cookies: Select,
    /// Query strings forwarded.
    pub query_strings: Select,
}

impl Default for ForwardPolicy {
    fn default() -> Self {
        ForwardPolicy { headers: Select::All, cookies: Select::None, query_strings: Select::None }
    }
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

/// Removes from `headers` what neither policy forwards: headers (except
/// `Host` and `Cookie`), and cookies (the `Cookie` field is rebuilt from the
/// selected pairs, or removed).
pub fn apply_forward_headers(key: &KeyPolicy, forward: &ForwardPolicy, headers: &mut HeaderMap) {
    if !matches!(forward.headers, Select::All) {
        let drop: Vec<HeaderName> = headers
            .keys()
            .filter(|name| **name != header::HOST && **name != header::COOKIE)
            .filter(|name| !key.headers.selects_header(name.as_str()) && !forward.headers.selects_header(name.as_str()))
            .cloned()
            .collect();
        for name in drop {
            headers.remove(name);
        }
    }
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
