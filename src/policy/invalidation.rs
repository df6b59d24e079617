//! Invalidation by unsafe requests (RFC 9111 §4.4).
//!
//! A non-error response (2xx or 3xx) to an unsafe method invalidates the
//! stored responses for the target URI and for the URIs in `Location` and
//! `Content-Location`, but only when those are on the same host, to keep
//! one site from purging another's entries.

use http::header::{self, HeaderMap};
use http::{Method, StatusCode, Uri};

use super::host::normalise_authority;

/// `true` for methods that are not safe (RFC 9110 §9.2.1).
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// `true` when the response to an unsafe request triggers invalidation.
pub fn invalidates(method: &Method, status: StatusCode) -> bool {
    is_unsafe(method) && (status.is_success() || status.is_redirection())
}

/// Path-and-query of the `Location` / `Content-Location` URIs that refer to
/// `host`: relative references are resolved against the request path;
/// absolute ones count only if their authority is `host`.
pub fn related_targets(resp: &HeaderMap, host: &str, request_path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        let Some(value) = resp.get(&name).and_then(|v| v.to_str().ok()).map(str::trim) else {
            continue;
        };
        if let Some(target) = resolve(value, host, request_path) {
            out.push(target);
        }
    }
    out
}

/// Resolves a URI reference (RFC 3986 §4.2) to a path-and-query on `host`.
fn resolve(value: &str, host: &str, request_path: &str) -> Option<String> {
    let value = value.split('#').next().unwrap_or(value);
    let absolute = if value.starts_with("//") {
        Some(format!("http:{value}"))
    } else if has_scheme(value) {
        // Without `//` there is no authority (`mailto:x`, `a.test:80` is
        // scheme `a.test`), so no host of ours.
        if !value.split_once(':').is_some_and(|(_, rest)| rest.starts_with("//")) {
            return None;
        }
        Some(value.to_owned())
    } else {
        None
    };
    if let Some(text) = absolute {
        let uri: Uri = text.parse().ok()?;
        let authority = uri.authority()?;
        // `host` is a key host: normalised the same way (and never with
        // user information).
        let https = uri.scheme_str().is_some_and(|s| s.eq_ignore_ascii_case("https"));
        let same = !authority.as_str().contains('@') && normalise_authority(authority, https) == host;
        // `path()` is `/` for an empty path (`http://host?q`), as RFC 9110
        // §4.2.3 says; `path_and_query()` would give `?q`.
        return same.then(|| match uri.query() {
            Some(query) => format!("{}?{query}", uri.path()),
            None => uri.path().to_owned(),
        });
    }
    if value.is_empty() {
        return None;
    }
    if value.starts_with('/') {
        return Some(value.to_owned());
    }
    // RFC 3986 §5.2.2: a query alone keeps the whole base path.
    if value.starts_with('?') {
        return Some(format!("{request_path}{value}"));
    }
    let dir = request_path.rsplit_once('/').map_or("", |(d, _)| d);
    Some(format!("{dir}/{value}"))
}

/// RFC 3986 §3.1: `value` starts with `scheme ":"` (a colon before any
/// `/`, `?` or `#`, after a letter and letters, digits, `+`, `-`, `.`).
fn has_scheme(value: &str) -> bool {
    let Some(end) = value.find([':', '/', '?', '#']) else { return false };
    let scheme = &value[..end];
    value[end..].starts_with(':')
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn which_methods_and_statuses_invalidate() {
        assert!(invalidates(&Method::POST, StatusCode::OK));
        assert!(invalidates(&Method::DELETE, StatusCode::NO_CONTENT));
        assert!(invalidates(&Method::PUT, StatusCode::SEE_OTHER));
        assert!(!invalidates(&Method::POST, StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!invalidates(&Method::GET, StatusCode::OK));
    }

    #[test]
    fn location_targets_on_the_same_host_only() {
        let mut h = HeaderMap::new();
        h.insert(header::LOCATION, HeaderValue::from_static("http://a.test/items/1"));
        h.insert(header::CONTENT_LOCATION, HeaderValue::from_static("http://evil.test/x"));
        assert_eq!(related_targets(&h, "a.test", "/items"), vec!["/items/1"]);
        let mut h = HeaderMap::new();
        h.insert(header::LOCATION, HeaderValue::from_static("/list?page=1"));
        h.insert(header::CONTENT_LOCATION, HeaderValue::from_static("2"));
        assert_eq!(related_targets(&h, "a.test", "/items/1"), vec!["/list?page=1", "/items/2"]);
    }

    #[test]
    fn an_empty_absolute_path_is_the_root() {
        // Found by the `headers` fuzz target: `//a.test?` gave the target `?`.
        let mut h = HeaderMap::new();
        h.insert(header::LOCATION, HeaderValue::from_static("http://a.test?page=2"));
        h.insert(header::CONTENT_LOCATION, HeaderValue::from_static("//a.test?"));
        assert_eq!(related_targets(&h, "a.test", "/items"), vec!["/?page=2", "/?"]);
        let mut h = HeaderMap::new();
        h.insert(header::LOCATION, HeaderValue::from_static("http://a.test"));
        assert_eq!(related_targets(&h, "a.test", "/items"), vec!["/"]);
    }

    #[test]
    fn only_a_real_scheme_makes_a_reference_absolute_and_default_ports_match() {
        let targets = |loc: &'static str, host: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::LOCATION, HeaderValue::from_static(loc));
            related_targets(&h, host, "/items/1")
        };
        // A URL in the query does not make the reference absolute.
        assert_eq!(targets("/next?u=http://x", "a.test"), ["/next?u=http://x"]);
        assert_eq!(targets("next?u=https://x/y", "a.test"), ["/items/next?u=https://x/y"]);
        // The scheme's default port is the request host without a port.
        assert_eq!(targets("http://a.test:80/x", "a.test"), ["/x"]);
        assert_eq!(targets("https://A.test:443/x", "a.test"), ["/x"]);
        assert_eq!(targets("http://a.test:8080/x", "a.test:8080"), ["/x"]);
        assert!(targets("http://a.test:8080/x", "a.test").is_empty());
        assert!(targets("https://a.test:80/x", "a.test").is_empty());
        assert!(targets("http://b.test/x", "a.test").is_empty());
        assert_eq!(targets("http://A.TEST.:80/x", "a.test"), ["/x"]);
        assert!(targets("http://user@a.test/x", "a.test").is_empty());
        // A scheme without `//` has no authority (found by the fuzz target
        // once hosts were compared normalised: `a.test:80` gave an empty target).
        assert!(targets("a.test:80", "a.test").is_empty());
        assert!(targets("a.test:", "a.test").is_empty());
        assert!(targets("mailto:someone@a.test", "a.test").is_empty());
        assert_eq!(targets("/x#frag", "a.test"), ["/x"]);
        assert!(targets("#frag", "a.test").is_empty());
    }

    #[test]
    fn a_query_alone_resolves_against_the_whole_path() {
        let mut h = HeaderMap::new();
        h.insert(header::LOCATION, HeaderValue::from_static("?page=2#top"));
        assert_eq!(related_targets(&h, "a.test", "/items/1"), vec!["/items/1?page=2"]);
    }
}
