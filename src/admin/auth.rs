//! Who may use the admin API: a bearer token compared in constant time,
//! or, without a token, loopback clients only.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use subtle::ConstantTimeEq as _;

use super::error;
use crate::ClientAddr;

/// The configured token, if any.
pub(super) struct Token(Option<Box<[u8]>>);

impl Token {
    pub(super) fn new(token: Option<&str>) -> Self {
        Token(token.map(|t| t.as_bytes().into()))
    }
}

/// Lets a request through, or answers 401 / 403.
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
            if !client_ip(&req).is_some_and(is_loopback) {
                return error(
                    StatusCode::FORBIDDEN,
                    "AccessDenied",
                    "without a token the admin API serves loopback clients only",
                );
            }
        }
    }
    next.run(req).await
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
