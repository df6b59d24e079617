//! Signed URLs and cookies: any query string, cookie header and path,
//! verified against real keys, never panic and never pass unsigned; any
//! policy document, signed with a trusted key so the JSON parser sees it,
//! never panics; stripping leaves no signing parameter behind.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use http::header::{COOKIE, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tower_cdn::auth::{Cidr, Rejection, SignedRequest, Signer, TrustedKeys, strip_signing_params, verify};
use tower_cdn::fuzzing::parse_policy;

const RSA_PUB: &str = include_str!("../../src/auth/testdata/rsa_a_pub_spki.pem");
const EC_PUB: &str = include_str!("../../src/auth/testdata/ec_pub_spki.pem");
const EC_KEY: &str = include_str!("../../src/auth/testdata/ec_sec1.pem");

const NAMES: [&str; 5] = ["Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"];

/// Parsed once: PEM decoding would otherwise dominate every run.
static KEYS: LazyLock<TrustedKeys> = LazyLock::new(|| {
    let mut k = TrustedKeys::new();
    k.add_pem("KA", RSA_PUB).unwrap();
    k.add_pem("KE", EC_PUB).unwrap();
    k
});
static SIGNER: LazyLock<Signer> = LazyLock::new(|| Signer::from_pem("KE", EC_KEY).unwrap());

fuzz_target!(|data: &[u8]| {
    let keys = &*KEYS;
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    match data.split_first() {
        // A policy document, really signed, so verify parses it.
        Some((0, policy)) => {
            let sig = SIGNER.sign(policy).unwrap();
            let encoded = cloudfront_b64(policy);
            let query = format!("Policy={encoded}&Signature={sig}&Key-Pair-Id=KE");
            let req = SignedRequest {
                scheme: "https",
                host: "h.example",
                path: "/p",
                query: Some(&query),
                headers: None,
                client_ip: ip,
            };
            let parsed = parse_policy(policy);
            match verify(keys, &req, now) {
                // Decoded and signed: only the document can be wrong.
                Err(Rejection::Malformed) => assert!(!parsed),
                Ok(()) | Err(Rejection::Expired | Rejection::NotYetValid) => assert!(parsed),
                Err(Rejection::IpNotAllowed | Rejection::ResourceMismatch) => assert!(parsed),
                Err(other) => panic!("a validly signed policy was refused: {other:?}"),
            }
        }
        // "query \n cookie \n path"
        _ => {
            let Ok(text) = std::str::from_utf8(data) else { return };
            let mut it = text.splitn(3, '\n');
            let (query, cookie, path) = (it.next().unwrap_or(""), it.next().unwrap_or(""), it.next().unwrap_or("/"));
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(cookie) {
                headers.insert(COOKIE, v);
            }
            let req = SignedRequest {
                scheme: "https",
                host: "h.example",
                path,
                query: Some(query),
                headers: Some(&headers),
                client_ip: ip,
            };
            // Nothing here was signed by a trusted key.
            assert!(verify(keys, &req, now).is_err(), "{text:?} verified");
            if let Some(stripped) = strip_signing_params(query) {
                for segment in stripped.split('&') {
                    let name = segment.split_once('=').map_or(segment, |(n, _)| n);
                    assert!(!NAMES.contains(&name), "{stripped}");
                }
            }
            let _ = Cidr::parse(path);
        }
    }
});

/// CloudFront's base64: standard, then `+` → `-`, `=` → `_`, `/` → `~`.
fn cloudfront_b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .encode(data)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            c => c,
        })
        .collect()
}
