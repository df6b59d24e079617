//! Unit tests for `auth`, split by concern; shared helpers live here.

mod cookies;
mod keys_signer;
mod malformed;
mod props;
mod urls;

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, header::COOKIE};

use super::*;

pub(super) const RSA_A_PKCS1: &str = include_str!("testdata/rsa_a_pkcs1.pem");
pub(super) const RSA_A_PKCS8: &str = include_str!("testdata/rsa_a_pkcs8.pem");
pub(super) const RSA_A_PUB_SPKI: &str = include_str!("testdata/rsa_a_pub_spki.pem");
pub(super) const RSA_A_PUB_PKCS1: &str = include_str!("testdata/rsa_a_pub_pkcs1.pem");
pub(super) const RSA_B_PKCS8: &str = include_str!("testdata/rsa_b_pkcs8.pem");
pub(super) const RSA_B_PUB_SPKI: &str = include_str!("testdata/rsa_b_pub_spki.pem");
pub(super) const RSA_1024_PUB: &str = include_str!("testdata/rsa_1024_pub_spki.pem");
pub(super) const RSA_1024_PKCS8: &str = include_str!("testdata/rsa_1024_pkcs8.pem");
pub(super) const EC_SEC1: &str = include_str!("testdata/ec_sec1.pem");
pub(super) const EC_PKCS8: &str = include_str!("testdata/ec_pkcs8.pem");
pub(super) const EC_PUB_SPKI: &str = include_str!("testdata/ec_pub_spki.pem");

pub(super) const BASE: &str = "https://d111111abcdef8.cloudfront.net";

/// 2023-11-14T22:13:20Z.
pub(super) fn t0() -> SystemTime {
    at(1_700_000_000)
}

pub(super) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Trusted keys: `KA` (RSA A, SPKI), `KA1` (RSA A, PKCS#1), `KB` (RSA B),
/// `KE` (EC P-256).
pub(super) fn keys() -> TrustedKeys {
    let mut k = TrustedKeys::new();
    k.add_pem("KA", RSA_A_PUB_SPKI).unwrap();
    k.add_pem("KA1", RSA_A_PUB_PKCS1).unwrap();
    k.add_pem("KB", RSA_B_PUB_SPKI).unwrap();
    k.add_pem("KE", EC_PUB_SPKI).unwrap();
    k
}

pub(super) fn signer(key_id: &str, pem: &str) -> Signer {
    Signer::from_pem(key_id, pem).unwrap()
}

pub(super) fn signer_a() -> Signer {
    signer("KA", RSA_A_PKCS1)
}

/// Splits `scheme://host/path?query` (test URLs only).
pub(super) fn split(url: &str) -> (&str, &str, &str, Option<&str>) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let slash = rest.find('/').unwrap();
    let (host, path_query) = rest.split_at(slash);
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_query, None),
    };
    (scheme, host, path, query)
}

pub(super) fn req<'a>(url: &'a str, headers: Option<&'a HeaderMap>, ip: Option<IpAddr>) -> SignedRequest<'a> {
    let (scheme, host, path, query) = split(url);
    SignedRequest { scheme, host, path, query, headers, client_ip: ip }
}

/// Verifies a signed URL at `now` with no cookies and no client address.
pub(super) fn check_url(url: &str, now: SystemTime) -> Result<(), Rejection> {
    verify(&keys(), &req(url, None, None), now)
}

pub(super) fn cookie_headers(pairs: &[(String, String)]) -> HeaderMap {
    let joined: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let mut h = HeaderMap::new();
    h.insert(COOKIE, HeaderValue::from_str(&joined.join("; ")).unwrap());
    h
}

/// Value of query parameter `name` in `url`.
pub(super) fn param<'a>(url: &'a str, name: &str) -> &'a str {
    let query = url.split_once('?').unwrap().1;
    query.split('&').find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('='))).unwrap()
}

/// Replaces the value of query parameter `name`.
pub(super) fn replace_param(url: &str, name: &str, value: &str) -> String {
    let old = format!("{name}={}", param(url, name));
    url.replacen(&old, &format!("{name}={value}"), 1)
}

/// Builds a custom-policy URL from raw policy bytes signed by `s`.
pub(super) fn url_with_raw_policy(s: &Signer, url: &str, policy: &[u8]) -> String {
    let sig = s.sign(policy).unwrap();
    format!("{url}?Policy={}&Signature={sig}&Key-Pair-Id={}", b64::encode(policy), s.key_id())
}

#[test]
fn rejection_display() {
    let all = [
        (Rejection::Missing, "missing signature"),
        (Rejection::Malformed, "malformed signature parameters"),
        (Rejection::UnknownKey, "unknown key pair id"),
        (Rejection::BadSignature, "invalid signature"),
        (Rejection::Expired, "signature expired"),
        (Rejection::NotYetValid, "signature not yet valid"),
        (Rejection::IpNotAllowed, "client IP address not allowed"),
        (Rejection::ResourceMismatch, "URL not covered by policy"),
    ];
    for (r, text) in all {
        assert_eq!(r.to_string(), text);
    }
    let e: Box<dyn std::error::Error> = Box::new(Rejection::Expired);
    assert_eq!(e.to_string(), "signature expired");
}

#[test]
fn resource_url_strips_signing_params() {
    let r = req("https://h.example/a/b?x=1&Expires=2&Signature=s&y=2&Key-Pair-Id=K&Hash-Algorithm=SHA1", None, None);
    assert_eq!(r.resource_url(), "https://h.example/a/b?x=1&y=2");
    let r = req("https://h.example/a?Policy=p&Signature=s&Key-Pair-Id=K", None, None);
    assert_eq!(r.resource_url(), "https://h.example/a");
    let r = SignedRequest { path: "nopath", ..req("http://h/", None, None) };
    assert_eq!(r.resource_url(), "http://h/nopath");
}

#[test]
fn strip_signing_params_cases() {
    let cases: [(&str, Option<&str>); 9] = [
        ("", None),
        ("a=1", Some("a=1")),
        ("Expires=1&Signature=2&Key-Pair-Id=3", None),
        ("Policy=1&Signature=2&Key-Pair-Id=3&Hash-Algorithm=SHA256", None),
        ("a=1&Expires=1&b=2&Signature=x&c&Key-Pair-Id=K&d=", Some("a=1&b=2&c&d=")),
        ("expires=1&EXPIRES=2", Some("expires=1&EXPIRES=2")),
        ("Expires&Signature=&x=Signature", Some("x=Signature")),
        ("Key%2DPair-Id=1", Some("Key%2DPair-Id=1")),
        ("a=1&&b=2&Policy=x", Some("a=1&&b=2")),
    ];
    for (q, want) in cases {
        assert_eq!(strip_signing_params(q).as_deref(), want, "{q:?}");
    }
}

#[test]
fn resource_wildcards() {
    use crate::policy::wildcard::wildcard_match;
    let base = "https://d111111abcdef8.cloudfront.net/";
    let pat = format!("{base}*game_download.zip*");
    assert!(wildcard_match(&pat, &format!("{base}game_download.zip")));
    assert!(wildcard_match(&pat, &format!("{base}example_game_download.zip?license=yes")));
    assert!(!wildcard_match(&pat, &format!("{base}game_download.tar")));
    assert!(wildcard_match("http*://h/?.jpg", "https://h/a.jpg"));
    assert!(wildcard_match("http*://h/?.jpg", "http://h/é.jpg"));
    assert!(!wildcard_match("http*://h/?.jpg", "http://h/ab.jpg"));
    assert!(wildcard_match("*", ""));
    assert!(wildcard_match("https://h/é*", "https://h/éa"));
    assert!(!wildcard_match("https://h/é", "https://h/e"));
    let a = "a".repeat(10_000);
    assert!(!wildcard_match("*a*a*a*a*a*a*a*b", &a));
}
