//! Cache keys: method class + normalised host + path + query.
//!
//! A key is one string built with a single allocation, so a hit costs one
//! allocation for the key and a borrowed lookup (`&str`) in the store.

use std::borrow::Cow;
use std::sync::Arc;

use http::header::{self, HeaderMap};
use http::request::Parts;
use http::uri::Authority;

/// Separates the key's parts; cannot occur in a valid host, path or query.
const SEP: char = '\u{1f}';

/// An owned cache key, shared between the store and in-flight fills.
pub type CacheKey = Arc<str>;

/// Why the request's host could not be determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    /// More than one `Host` field line (RFC 9112 §3.2 requires a 400).
    Duplicate,
    /// The `Host` value is not a valid authority.
    Invalid,
}

/// The request's host, lower-cased, without a trailing dot and without the
/// scheme's default port. The URI's authority wins over `Host` (absolute
/// form, RFC 9112 §3.2.2). `Ok(None)` when neither is present.
pub fn request_host(parts: &Parts) -> Result<Option<Cow<'_, str>>, HostError> {
    if let Some(authority) = parts.uri.authority() {
        let https = parts.uri.scheme_str() == Some("https");
        return Ok(Some(normalise_authority(authority, https)));
    }
    host_header(&parts.headers)
}

fn host_header(headers: &HeaderMap) -> Result<Option<Cow<'_, str>>, HostError> {
    let mut values = headers.get_all(header::HOST).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(HostError::Duplicate);
    }
    let text = value.to_str().map_err(|_| HostError::Invalid)?;
    if text.is_empty() {
        return Ok(None);
    }
    if is_plain_host(text) {
        return Ok(Some(Cow::Borrowed(text)));
    }
    let authority: Authority = text.parse().map_err(|_| HostError::Invalid)?;
    if authority.as_str().contains('@') {
        return Err(HostError::Invalid);
    }
    let normal = normalise_authority(&authority, false);
    Ok(Some(if normal == text { Cow::Borrowed(text) } else { Cow::Owned(normal.into_owned()) }))
}

/// The common case, checked without parsing: a lower-case name or IPv4
/// address (letters, digits, `-`, `.`), not ending in `.`, with at most a
/// port that is not 80. Such a value is already its normal form; anything
/// else takes the full parse.
fn is_plain_host(text: &str) -> bool {
    let (host, port) = match text.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (text, None),
    };
    let host_ok = !host.is_empty()
        && !host.ends_with('.')
        && !host.starts_with('.')
        && host.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let port_ok = match port {
        None => true,
        Some(p) => {
            !p.is_empty()
                && p.len() <= 5
                && !p.starts_with('0')
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n != 80)
        }
    };
    host_ok && port_ok
}

/// `authority` as a key host: lower case, no trailing dot, no default port.
pub(crate) fn normalise_authority(authority: &Authority, https: bool) -> Cow<'_, str> {
    let host = authority.host();
    let host = host.strip_suffix('.').unwrap_or(host);
    let default_port = if https { 443 } else { 80 };
    let port = authority.port_u16().filter(|p| *p != default_port);
    let needs_lower = host.bytes().any(|b| b.is_ascii_uppercase());
    match (port, needs_lower) {
        (None, false) if host.len() == authority.as_str().len() => Cow::Borrowed(authority.as_str()),
        (None, false) => Cow::Borrowed(host),
        (None, true) => Cow::Owned(host.to_ascii_lowercase()),
        (Some(port), _) => Cow::Owned(format!("{}:{port}", host.to_ascii_lowercase())),
    }
}

/// Builds the primary cache key. GET and HEAD share entries, so the method
/// is not part of it; callers only build keys for those two methods. The
/// layout and the single allocation come from the default key policy.
pub fn cache_key(host: &str, path: &str, query: Option<&str>) -> CacheKey {
    crate::policy::key_policy::cache_key(
        &crate::policy::key_policy::KeyPolicy::default(),
        host,
        path,
        query,
        &HeaderMap::new(),
    )
}

/// Separates a primary key from a variant's secondary part (U+001D; the
/// key policy uses U+001F and U+001E inside the primary key).
const VARIANT_SEP: char = '\u{1d}';

/// The store key of one variant of a URI whose responses vary.
pub fn variant_key(primary: &str, generation: u64, secondary: &str) -> CacheKey {
    Arc::from(format!("{primary}{VARIANT_SEP}{generation}{VARIANT_SEP}{secondary}"))
}

/// The fill key for a variant (fills do not need the marker's generation).
pub fn variant_fill_key(primary: &str, secondary: &str) -> CacheKey {
    Arc::from(format!("{primary}{VARIANT_SEP}{secondary}"))
}

/// `true` when `key` is `primary` itself or one of its variants.
pub fn is_same_uri(key: &str, primary: &str) -> bool {
    key.strip_prefix(primary).is_some_and(|rest| rest.is_empty() || rest.starts_with(VARIANT_SEP))
}

/// The primary part of a key (without any variant suffix).
pub fn primary_of(key: &str) -> &str {
    key.split(VARIANT_SEP).next().unwrap_or(key)
}

/// The host part of a key (for invalidation by host).
pub fn key_host(key: &str) -> &str {
    key.split(SEP).next().unwrap_or("")
}

/// The path-and-query part of a key (for invalidation by path), without
/// any variant suffix or the header and cookie parts a cache policy may add.
pub fn key_path(key: &str) -> &str {
    primary_of(key).split(SEP).nth(1).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn host_of(uri: &str, host: Option<&str>) -> Result<Option<String>, HostError> {
        let mut b = Request::builder().uri(uri);
        if let Some(h) = host {
            b = b.header("host", h);
        }
        let (parts, ()) = b.body(()).unwrap().into_parts();
        request_host(&parts).map(|h| h.map(Cow::into_owned))
    }

    #[test]
    fn host_is_lowercased_and_default_port_removed() {
        assert_eq!(host_of("/", Some("Example.COM")).unwrap().as_deref(), Some("example.com"));
        assert_eq!(host_of("/", Some("example.com:80")).unwrap().as_deref(), Some("example.com"));
        assert_eq!(host_of("/", Some("example.com.")).unwrap().as_deref(), Some("example.com"));
        assert_eq!(host_of("/", Some("example.com:8080")).unwrap().as_deref(), Some("example.com:8080"));
        assert_eq!(host_of("/", Some("example.com:0080")).unwrap().as_deref(), Some("example.com"));
        assert_eq!(host_of("https://A.example:443/x", None).unwrap().as_deref(), Some("a.example"));
        assert_eq!(host_of("/", None).unwrap(), None);
    }

    #[test]
    fn the_fast_path_agrees_with_the_full_parse() {
        for h in [
            "example.com",
            "a.b-c.d",
            "127.0.0.1:8080",
            "x:80",
            "x:0080",
            "x:",
            "X.com",
            "x.com.",
            ".x",
            "x..y",
            "x:99999",
            "x:65535",
            "a b",
            "u@h",
            "[::1]:8080",
            "x:1:2",
            "_x.test",
            "x:01",
        ] {
            let fast = is_plain_host(h);
            let full = host_of("/", Some(h));
            if fast {
                assert_eq!(full.unwrap().as_deref(), Some(h), "{h}");
            }
        }
        assert!(is_plain_host("example.com:8080"));
        assert!(!is_plain_host("example.com:80"));
        assert!(!is_plain_host("Example.com"));
    }

    #[test]
    fn absolute_form_wins_over_host_header() {
        assert_eq!(host_of("http://origin.test/x", Some("evil.test")).unwrap().as_deref(), Some("origin.test"));
    }

    #[test]
    fn bad_hosts_are_rejected() {
        assert_eq!(host_of("/", Some("a b")), Err(HostError::Invalid));
        assert_eq!(host_of("/", Some("user@host")), Err(HostError::Invalid));
        let (mut parts, ()) = Request::builder().uri("/").body(()).unwrap().into_parts();
        parts.headers.append("host", "a".parse().unwrap());
        parts.headers.append("host", "b".parse().unwrap());
        assert_eq!(request_host(&parts).map(|h| h.is_some()), Err(HostError::Duplicate));
    }

    proptest::proptest! {
        /// The `key` fuzz target's properties: any `Host` bytes, no panic
        /// and a lower-case host; different (host, path, query) triples
        /// never share a key.
        #[test]
        fn hosts_are_normalised_and_keys_never_collide(
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            h1 in "[a-zA-Z0-9.:-]{0,12}",
            h2 in "[a-zA-Z0-9.:-]{0,12}",
            p1 in "/[a-z/%;.]{0,12}",
            p2 in "/[a-z/%;.]{0,12}",
            q1 in proptest::option::of("[a-z=&%]{0,8}"),
            q2 in proptest::option::of("[a-z=&%]{0,8}"),
        ) {
            if let Ok(req) = Request::builder().uri("/").header("host", raw.as_slice()).body(()) {
                let (parts, ()) = req.into_parts();
                if let Ok(Some(h)) = request_host(&parts) {
                    proptest::prop_assert!(!h.bytes().any(|b| b.is_ascii_uppercase()), "{}", h);
                }
            }
            let same = (&h1, &p1, &q1) == (&h2, &p2, &q2);
            let (k1, k2) = (cache_key(&h1, &p1, q1.as_deref()), cache_key(&h2, &p2, q2.as_deref()));
            proptest::prop_assert_eq!(k1 == k2, same);
        }
    }

    #[test]
    fn keys_differ_by_host_path_and_query() {
        let a = cache_key("a.test", "/x", None);
        assert_ne!(a, cache_key("b.test", "/x", None));
        assert_ne!(a, cache_key("a.test", "/y", None));
        assert_ne!(a, cache_key("a.test", "/x", Some("")));
        assert_ne!(cache_key("a.test", "/x", Some("q=1")), cache_key("a.test", "/x", Some("q=2")));
        assert_eq!(key_host(&a), "a.test");
        assert_eq!(key_path(&cache_key("h", "/p", Some("q"))), "/p?q");
        let v = variant_key(&a, 3, "accept-encoding:gzip");
        assert_eq!(key_path(&v), "/x");
        assert!(is_same_uri(&v, &a));
        assert!(is_same_uri(&a, &a));
        assert!(!is_same_uri(&cache_key("a.test", "/xy", None), &a));
    }
}
