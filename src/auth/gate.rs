//! Signed requests at the edge: the glue between a request head and
//! [`verify`]. Called by routing for behaviors with trusted keys, before the
//! cache key is derived; pure (the time comes in [`Viewer`]).

use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use http::header::HeaderName;
use http::request::Parts;
use http::uri::{PathAndQuery, Uri};

use super::params::strip_signing_cookies;
use super::{Rejection, TrustedKeys, strip_signing_params};
#[cfg(feature = "signed-urls")]
use super::{SignedRequest, verify};
use crate::conn::{ClientAddr, ViewerConnection};

const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// What the edge knows about the viewer beyond the request head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Viewer<'a> {
    /// The time the request is checked at.
    pub(crate) now: SystemTime,
    /// The scheme viewers use to reach the layer (`http` or `https`).
    pub(crate) scheme: &'a str,
    /// `X-Forwarded-Proto` comes from a trusted proxy and may name the scheme.
    pub(crate) trust_forwarded_proto: bool,
}

impl Viewer<'_> {
    /// The scheme of the URL the viewer requested: what the server that
    /// accepted the connection says ([`ViewerConnection`]), else a trusted
    /// `X-Forwarded-Proto`, else the configured scheme.
    pub(crate) fn scheme_for<'p>(&'p self, parts: &'p Parts) -> &'p str {
        if let Some(conn) = parts.extensions.get::<ViewerConnection>() {
            return if conn.tls { "https" } else { "http" };
        }
        if self.trust_forwarded_proto
            && let Some(proto) = parts.headers.get(X_FORWARDED_PROTO).and_then(|v| v.to_str().ok())
        {
            // A chain of proxies lists the first hop's scheme first.
            match proto.split(',').next().map(str::trim) {
                Some(p) if p.eq_ignore_ascii_case("https") => return "https",
                Some(p) if p.eq_ignore_ascii_case("http") => return "http",
                _ => {}
            }
        }
        self.scheme
    }
}

/// The viewer's address: [`ClientAddr`] (the dev proxy sets it), else
/// axum's `ConnectInfo<SocketAddr>`.
fn client_ip(parts: &Parts) -> Option<IpAddr> {
    if let Some(ClientAddr(addr)) = parts.extensions.get::<ClientAddr>() {
        return Some(addr.ip());
    }
    parts.extensions.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// `host` as it appears in the signed URL: the normalised request host
/// (lower case, no trailing dot) without the scheme's default port.
fn url_host<'h>(host: &'h str, scheme: &str) -> &'h str {
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    host.strip_suffix(default_port).unwrap_or(host)
}

/// Checks the request's signed URL or signed cookies against `keys`.
///
/// `host` is the normalised request host; the path is the normalised one
/// the cache and the origin see (so `/private/../public` is checked as
/// `/public`, and a wildcard policy cannot be stretched with dot segments).
#[cfg(feature = "signed-urls")]
pub(crate) fn check(keys: &TrustedKeys, parts: &Parts, host: &str, viewer: &Viewer<'_>) -> Result<(), Rejection> {
    let scheme = viewer.scheme_for(parts);
    let req = SignedRequest {
        scheme,
        host: url_host(host, scheme),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: Some(&parts.headers),
        client_ip: client_ip(parts),
    };
    verify(keys, &req, viewer.now)
}

/// Without the `signed-urls` feature there are no keys to check against.
#[cfg(not(feature = "signed-urls"))]
pub(crate) fn check(keys: &TrustedKeys, _: &Parts, _: &str, _: &Viewer<'_>) -> Result<(), Rejection> {
    match *keys {}
}

/// Removes the signing query parameters and cookies, so every validly
/// signed request for one URL shares one cache key and the origin never
/// sees the credentials.
pub(crate) fn strip(parts: &mut Parts) {
    if let Some(query) = parts.uri.query() {
        let stripped = strip_signing_params(query);
        if stripped.as_deref() != Some(query) {
            let pq = match stripped {
                Some(q) => format!("{}?{q}", parts.uri.path()),
                None => parts.uri.path().to_owned(),
            };
            if let Ok(pq) = pq.parse::<PathAndQuery>() {
                let mut uri = parts.uri.clone().into_parts();
                uri.path_and_query = Some(pq);
                if let Ok(uri) = Uri::from_parts(uri) {
                    parts.uri = uri;
                }
            }
        }
    }
    strip_signing_cookies(&mut parts.headers);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn parts(uri: &str, cookies: &[&str]) -> Parts {
        let mut b = Request::builder().uri(uri);
        for c in cookies {
            b = b.header("cookie", *c);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn strip_removes_query_parameters_and_cookies_only() {
        let mut p = parts(
            "/a/b?x=1&Expires=2&Signature=s~-_&Key-Pair-Id=K&y=2",
            &["session=1; CloudFront-Signature=abc; theme=dark", "CloudFront-Key-Pair-Id=K"],
        );
        strip(&mut p);
        assert_eq!(p.uri.to_string(), "/a/b?x=1&y=2");
        let cookies: Vec<_> = p.headers.get_all("cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        assert_eq!(cookies, ["session=1; theme=dark"]);

        let mut p = parts("/a?Policy=p&Signature=s&Key-Pair-Id=K&Hash-Algorithm=SHA256", &["CloudFront-Policy=p"]);
        strip(&mut p);
        assert_eq!(p.uri.to_string(), "/a");
        assert!(p.headers.get("cookie").is_none());

        let mut p = parts("http://h.test/a?v=1", &["a=1;b=2"]);
        strip(&mut p);
        assert_eq!(p.uri.to_string(), "http://h.test/a?v=1");
        assert_eq!(p.headers.get("cookie").unwrap(), "a=1;b=2");
    }

    #[test]
    fn signatures_are_redacted_for_logs() {
        use crate::auth::{redact_signature_in_cookies, redact_signature_in_query};
        assert_eq!(
            redact_signature_in_query("a=1&Expires=2&Signature=s3cr~t&Key-Pair-Id=K"),
            "a=1&Expires=2&Signature=REDACTED&Key-Pair-Id=K"
        );
        assert!(matches!(redact_signature_in_query("a=1&Signatures=x"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(
            redact_signature_in_cookies("s=1; CloudFront-Signature=s3cr~t; CloudFront-Key-Pair-Id=K"),
            "s=1; CloudFront-Signature=REDACTED; CloudFront-Key-Pair-Id=K"
        );
        assert_eq!(redact_signature_in_cookies("CloudFront-Signature=x"), "CloudFront-Signature=REDACTED");
        assert_eq!(redact_signature_in_cookies("theme=dark"), "theme=dark");
    }

    #[test]
    fn scheme_and_host_of_the_signed_url() {
        let now = SystemTime::UNIX_EPOCH;
        let mut p = parts("/", &[]);
        let v = Viewer { now, scheme: "http", trust_forwarded_proto: false };
        p.headers.insert("x-forwarded-proto", "https".parse().unwrap());
        assert_eq!(v.scheme_for(&p), "http");
        let trusted = Viewer { trust_forwarded_proto: true, ..v };
        assert_eq!(trusted.scheme_for(&p), "https");
        p.headers.insert("x-forwarded-proto", "gopher".parse().unwrap());
        assert_eq!(trusted.scheme_for(&p), "http");
        // The server that accepted the connection knows best.
        p.headers.insert("x-forwarded-proto", "https".parse().unwrap());
        p.extensions.insert(ViewerConnection { tls: false, https_port: 8443 });
        assert_eq!(trusted.scheme_for(&p), "http");
        p.extensions.insert(ViewerConnection { tls: true, https_port: 8443 });
        assert_eq!(v.scheme_for(&p), "https");
        assert_eq!(url_host("h.test:443", "https"), "h.test");
        assert_eq!(url_host("h.test:443", "http"), "h.test:443");
        assert_eq!(url_host("127.0.0.1:8080", "http"), "127.0.0.1:8080");
    }
}
