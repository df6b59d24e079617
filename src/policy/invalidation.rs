//! Invalidation by unsafe requests (RFC 9111 §4.4).
//!
//! A non-error response (2xx or 3xx) to an unsafe method invalidates the
//! stored responses for the target URI and for the URIs in `Location` and
//! `Content-Location`, but only when those are on the same host, to keep
//! one site from purging another's entries.

use http::header::{self, HeaderMap};
use http::{Method, StatusCode, Uri};

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
    let absolute = if value.starts_with("//") {
        Some(format!("http:{value}"))
    } else if value.contains("://") {
        Some(value.to_owned())
    } else {
        None
    };
    if let Some(text) = absolute {
        let uri: Uri = text.parse().ok()?;
        let authority = uri.authority()?;
        let same = authority.as_str().eq_ignore_ascii_case(host)
            || (authority.port().is_none() && authority.host().eq_ignore_ascii_case(host));
        // `path()` is `/` for an empty path (`http://host?q`), as RFC 9110
        // §4.2.3 says; `path_and_query()` would give `?q`.
        return same.then(|| match uri.query() {
            Some(query) => format!("{}?{query}", uri.path()),
            None => uri.path().to_owned(),
        });
    }
    if value.is_empty() || value.starts_with('#') {
        return None;
    }
    let value = value.split('#').next().unwrap_or(value);
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
    fn a_query_alone_resolves_against_the_whole_path() {
        let mut h = HeaderMap::new();
        h.insert(header::LOCATION, HeaderValue::from_static("?page=2#top"));
        assert_eq!(related_targets(&h, "a.test", "/items/1"), vec!["/items/1?page=2"]);
    }
}
