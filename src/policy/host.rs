//! The request's host as a cache key and an invalidation target see it:
//! lower case, no trailing dot, no default port; the absolute-form
//! authority wins over `Host` (RFC 9112 §3.2.2).

use std::borrow::Cow;

use http::header::{self, HeaderMap};
use http::request::Parts;
use http::uri::Authority;

use crate::conn::ViewerConnection;

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
/// form, RFC 9112 §3.2.2). `Ok(None)` when neither is present. The scheme
/// is the URI's, else HTTPS when the server says the connection is TLS
/// ([`ViewerConnection`]): `Host: a.example:443` over HTTP/1.1 and
/// `https://a.example/` over HTTP/2 are one host.
pub fn request_host(parts: &Parts) -> Result<Option<Cow<'_, str>>, HostError> {
    let https = match parts.uri.scheme_str() {
        Some(scheme) => scheme == "https",
        None => parts.extensions.get::<ViewerConnection>().is_some_and(|c| c.tls),
    };
    if let Some(authority) = parts.uri.authority() {
        return Ok(Some(normalise_authority(authority, https)));
    }
    host_header(&parts.headers, https)
}

fn host_header(headers: &HeaderMap, https: bool) -> Result<Option<Cow<'_, str>>, HostError> {
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
    if is_plain_host(text, https) {
        return Ok(Some(Cow::Borrowed(text)));
    }
    let authority: Authority = text.parse().map_err(|_| HostError::Invalid)?;
    if authority.as_str().contains('@') {
        return Err(HostError::Invalid);
    }
    let normal = normalise_authority(&authority, https);
    Ok(Some(if normal == text { Cow::Borrowed(text) } else { Cow::Owned(normal.into_owned()) }))
}

/// The common case, checked without parsing: a lower-case name or IPv4
/// address (letters, digits, `-`, `.`), not ending in `.`, with at most a
/// port that is not the scheme's default. Such a value is already its
/// normal form; anything else takes the full parse.
fn is_plain_host(text: &str, https: bool) -> bool {
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
                && p.parse::<u16>().is_ok_and(|n| n != if https { 443 } else { 80 })
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

/// The host without its port: `example.com:8080` → `example.com`,
/// `[::1]:8080` → `[::1]`.
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
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
            for https in [false, true] {
                let fast = is_plain_host(h, https);
                let full = host_over(h, https);
                if fast {
                    assert_eq!(full.unwrap().as_deref(), Some(h), "{h} (https: {https})");
                }
            }
        }
        assert!(is_plain_host("example.com:8080", false));
        assert!(!is_plain_host("example.com:80", false));
        assert!(is_plain_host("example.com:80", true));
        assert!(!is_plain_host("example.com:443", true));
        assert!(!is_plain_host("Example.com", false));
    }

    /// The host of a request with `Host: host` on a connection the server
    /// says is TLS (or not).
    fn host_over(host: &str, tls: bool) -> Result<Option<String>, HostError> {
        let (mut parts, ()) = Request::builder().uri("/").header("host", host).body(()).unwrap().into_parts();
        parts.extensions.insert(ViewerConnection { tls, https_port: 443 });
        request_host(&parts).map(|h| h.map(Cow::into_owned))
    }

    #[test]
    fn over_tls_the_default_port_is_443() {
        assert_eq!(host_over("a.example:443", true).unwrap().as_deref(), Some("a.example"));
        assert_eq!(host_over("a.example:80", true).unwrap().as_deref(), Some("a.example:80"));
        assert_eq!(host_over("a.example:443", false).unwrap().as_deref(), Some("a.example:443"));
        assert_eq!(host_over("A.example:443", true).unwrap().as_deref(), Some("a.example"));
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
}
