//! Who may use the admin API: a bearer token compared in constant time,
//! or, without a token, loopback clients only. In both cases a browser on
//! another site cannot drive it: cross-site requests (`Origin`,
//! `Sec-Fetch-Site`) are refused, content must be `application/json`
//! (a form or a `text/plain` fetch needs no CORS preflight; JSON does), and
//! without a token the `Host` must name this listener or `localhost`, so a
//! DNS-rebinding page (`Host: attacker.example`) reads nothing.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use subtle::ConstantTimeEq as _;

use super::error;
use crate::conn::{ClientAddr, LocalAddr};

/// The configured token, if any.
pub(super) struct Token(Option<Box<[u8]>>);

impl Token {
    pub(super) fn new(token: Option<&str>) -> Self {
        Token(token.map(|t| t.as_bytes().into()))
    }
}

/// Lets a request through, or answers 401 / 403 / 415 / 421.
pub(super) async fn check(State(token): State<Arc<Token>>, req: Request, next: Next) -> Response {
    match &token.0 {
        Some(expected) => {
            let given = req.headers().get(header::AUTHORIZATION).and_then(|v| bearer(v.as_bytes()));
            if !given.is_some_and(|g| same(g, expected)) {
                let mut resp = error(StatusCode::UNAUTHORIZED, "AccessDenied", "a valid bearer token is required");
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"tower-cdn admin\""));
                return resp;
            }
        }
        None => {
            if let Err(resp) = loopback_only(&req) {
                return resp;
            }
        }
    }
    if let Err(resp) = same_site(&req) {
        return resp;
    }
    next.run(req).await
}

/// For the dashboard's page and assets, which hold no data: no token
/// needed (a browser's navigation cannot send one; the page's script sends
/// it with every API call), but without a token the loopback and `Host`
/// rules hold as for the API, so a DNS-rebinding page cannot load it
/// either. Cross-site rules hold for the assets; the page itself may be
/// reached by a top-level navigation from another site (a link in a
/// runbook): it does nothing from its address and cannot be framed.
pub(super) async fn page(State(token): State<Arc<Token>>, req: Request, next: Next) -> Response {
    if token.0.is_none()
        && let Err(resp) = loopback_only(&req)
    {
        return resp;
    }
    if !is_top_level_navigation(&req)
        && let Err(resp) = same_site(&req)
    {
        return resp;
    }
    next.run(req).await
}

/// Without a token: a loopback client naming this listener or `localhost`.
#[allow(clippy::result_large_err)]
fn loopback_only(req: &Request) -> Result<(), Response> {
    if !client_ip(req).is_some_and(is_loopback) {
        return Err(error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "without a token the admin API serves loopback clients only",
        ));
    }
    if !host_is_ours(req) {
        return Err(error(
            StatusCode::MISDIRECTED_REQUEST,
            "MisdirectedRequest",
            "without a token the admin API answers only for localhost and its own address",
        ));
    }
    Ok(())
}

/// A `GET` that a browser sends to show a document in a tab (Fetch
/// Metadata: `Sec-Fetch-Mode: navigate`, `Sec-Fetch-Dest: document`), not
/// a frame, a script or a `fetch`.
fn is_top_level_navigation(req: &Request) -> bool {
    let h = req.headers();
    req.method() == http::Method::GET
        && h.get("sec-fetch-mode").is_some_and(|v| v.as_bytes() == b"navigate")
        && h.get("sec-fetch-dest").is_some_and(|v| v.as_bytes() == b"document")
}

/// Refuses requests a browser sends on another site's behalf, and content
/// that is not JSON.
#[allow(clippy::result_large_err)]
fn same_site(req: &Request) -> Result<(), Response> {
    let cross_site = || error(StatusCode::FORBIDDEN, "CrossSiteRequest", "cross-site requests are refused");
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return Err(cross_site());
    }
    if let Some(origin) = h.get(header::ORIGIN) {
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.parse::<http::Uri>().ok())
            .and_then(|u| u.authority().map(|a| a.as_str().to_ascii_lowercase()));
        if origin_host.is_none() || origin_host != request_host(req) {
            return Err(cross_site());
        }
    }
    if req.method() == http::Method::POST {
        let has_content = h.contains_key(header::TRANSFER_ENCODING)
            || h.get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0");
        let content_type = h.get(header::CONTENT_TYPE).map(|v| v.as_bytes());
        let json = content_type.is_some_and(|t| {
            let essence = t.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
            essence.eq_ignore_ascii_case(b"application/json")
        });
        if (has_content || content_type.is_some()) && !json {
            return Err(error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                "POST content must be application/json (curl: --json '...' or -H 'content-type: application/json')",
            ));
        }
    }
    Ok(())
}

/// The request's authority, lower-cased: the absolute-form target's, else
/// the `Host` field's.
fn request_host(req: &Request) -> Option<String> {
    if let Some(a) = req.uri().authority() {
        return Some(a.as_str().to_ascii_lowercase());
    }
    req.headers().get(header::HOST)?.to_str().ok().map(str::to_ascii_lowercase)
}

/// `localhost`, a loopback address, or the listener's own address (with
/// or without a port). A request with no host at all is no browser's (they
/// always send one) and passes.
fn host_is_ours(req: &Request) -> bool {
    let Some(host) = request_host(req) else { return true };
    let Ok(authority) = host.parse::<http::uri::Authority>() else { return false };
    let name = authority.host();
    if name == "localhost" {
        return true;
    }
    let ip = name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
    if ip.is_some_and(is_loopback) {
        return true;
    }
    let local = req.extensions().get::<LocalAddr>().map(|l| l.0);
    match (ip, local) {
        (Some(ip), Some(local)) => ip == local.ip() && authority.port_u16().is_none_or(|p| p == local.port()),
        _ => false,
    }
}

/// The token of `Authorization: Bearer TOKEN` (scheme case-insensitive,
/// RFC 6750 §2.1).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let rest = rest.trim_ascii();
    (!rest.is_empty()).then_some(rest)
}

/// Constant time in the token's content (the length may show).
fn same(given: &[u8], expected: &[u8]) -> bool {
    given.ct_eq(expected).into()
}

fn client_ip(req: &Request) -> Option<IpAddr> {
    let ext = req.extensions();
    ext.get::<ClientAddr>()
        .map(|c| c.0.ip())
        .or_else(|| ext.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_parsed_per_rfc_6750() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bear"), None);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"s3cret", b"s3cret"));
        assert!(!same(b"s3cre", b"s3cret"));
        assert!(!same(b"s3cret!", b"s3cret"));
        assert!(!same(b"", b"s3cret"));
    }

    #[test]
    fn mapped_loopback_counts_as_loopback() {
        assert!(is_loopback("127.0.0.1".parse().unwrap()));
        assert!(is_loopback("::1".parse().unwrap()));
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("10.0.0.1".parse().unwrap()));
    }
}
