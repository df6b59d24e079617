//! Interop with a real signer: botocore's `CloudFrontSigner` (the AWS SDK
//! for Python) driven by `scripts/sign_cloudfront.py`. What it signs is
//! accepted, directly and through the dev proxy, and our [`Signer`] produces
//! the same bytes.
//!
//! Needs `CLOUDFRONT_SIGNER_PYTHON` pointing at a Python interpreter with
//! botocore and cryptography (`source .ci/signer.sh` sets it up;
//! `scripts/test.sh` does so). Without it these tests FAIL on purpose.

mod support;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, header::COOKIE};
use serde_json::Value;
use support::{Origin, Reply, cache_status, client, start_proxy};
use tower_cdn::auth::{HashAlgorithm, Policy, Rejection, SignedRequest, Signer, TrustedKeys, verify};
use tower_cdn::{CacheBehavior, CdnLayer, Distribution, Origin as CdnOrigin};

const KEY_ID: &str = "K2JCJMDEHXQW5F";
const HOST: &str = "d111111abcdef8.cloudfront.net";
/// 2100-01-01T00:00:00Z.
const EXPIRES: u64 = 4_102_444_800;
const NOT_BEFORE: u64 = 1_700_000_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn key_path(name: &str) -> String {
    root().join("src/auth/testdata").join(name).to_string_lossy().into_owned()
}

fn read_key(name: &str) -> String {
    std::fs::read_to_string(key_path(name)).unwrap()
}

fn python() -> String {
    match std::env::var("CLOUDFRONT_SIGNER_PYTHON") {
        Ok(p) if !p.trim().is_empty() => p,
        _ => panic!(
            "CLOUDFRONT_SIGNER_PYTHON is not set: this interop test needs a Python with botocore \
             and cryptography. Set it up with:\n  \
             source .ci/signer.sh    # installs .ci/pyvenv and exports CLOUDFRONT_SIGNER_PYTHON\n\
             or run the whole suite with scripts/test.sh"
        ),
    }
}

/// Runs the botocore-based signer and returns its JSON output.
fn botocore(key: &str, url: &str, extra: &[&str]) -> Value {
    let script = root().join("scripts/sign_cloudfront.py");
    let expires = EXPIRES.to_string();
    let key = key_path(key);
    let mut args = vec![
        script.to_string_lossy().into_owned(),
        "--key".into(),
        key,
        "--key-id".into(),
        KEY_ID.into(),
        "--url".into(),
        url.into(),
        "--expires".into(),
        expires,
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let out = Command::new(python()).args(&args).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", python()));
    assert!(
        out.status.success(),
        "sign_cloudfront.py failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn trusted() -> TrustedKeys {
    let mut k = TrustedKeys::new();
    k.add_pem(KEY_ID, &read_key("rsa_a_pub_spki.pem")).unwrap();
    k
}

fn trusted_ec() -> TrustedKeys {
    let mut k = TrustedKeys::new();
    k.add_pem(KEY_ID, &read_key("ec_pub_spki.pem")).unwrap();
    k
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn now() -> SystemTime {
    at(NOT_BEFORE + 1000)
}

fn check(keys: &TrustedKeys, url: &str, cookies: Option<&HeaderMap>, ip: Option<&str>) -> Result<(), Rejection> {
    let rest = url.strip_prefix("https://").unwrap();
    let (host, path_query) = rest.split_at(rest.find('/').unwrap());
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_query, None),
    };
    let req = SignedRequest {
        scheme: "https",
        host,
        path,
        query,
        headers: cookies,
        client_ip: ip.map(|i| i.parse::<IpAddr>().unwrap()),
    };
    verify(keys, &req, now())
}

fn cookie_header(v: &Value) -> HeaderMap {
    let pairs: Vec<String> =
        v.as_object().unwrap().iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap())).collect();
    let mut h = HeaderMap::new();
    h.insert(COOKIE, HeaderValue::from_str(&pairs.join("; ")).unwrap());
    h
}

fn our_cookies(v: Vec<(String, String)>) -> Value {
    Value::Object(v.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

/// botocore output verifies, and our Signer reproduces it byte for byte.
fn rsa_round_trip(hash: HashAlgorithm, hash_arg: &str) {
    let url = format!("https://{HOST}/images/photo.jpg?size=large&color=red");
    let resource = format!("https://{HOST}/images/*");
    let nb = NOT_BEFORE.to_string();
    let boto = botocore(
        "rsa_a_pkcs1.pem",
        &url,
        &["--resource", &resource, "--ip", "192.0.2.0/24", "--not-before", &nb, "--hash", hash_arg],
    );
    let keys = trusted();
    let plain = format!("https://{HOST}/images/photo.jpg?size=large&color=red");

    // Verify what botocore produced.
    assert_eq!(check(&keys, s(&boto, "canned_url"), None, None), Ok(()));
    let custom = s(&boto, "custom_url");
    assert_eq!(check(&keys, custom, None, Some("192.0.2.44")), Ok(()));
    assert_eq!(check(&keys, custom, None, Some("198.51.100.1")), Err(Rejection::IpNotAllowed));
    let moved = custom.replace("/images/photo.jpg", "/images/other/thing.png");
    assert_eq!(check(&keys, &moved, None, Some("192.0.2.44")), Ok(()));
    let outside = custom.replace("/images/photo.jpg", "/videos/photo.jpg");
    assert_eq!(check(&keys, &outside, None, Some("192.0.2.44")), Err(Rejection::ResourceMismatch));
    let cookies = cookie_header(&boto["cookies"]);
    assert_eq!(check(&keys, &plain, Some(&cookies), Some("192.0.2.1")), Ok(()));
    let canned_cookies = cookie_header(&boto["canned_cookies"]);
    assert_eq!(check(&keys, &plain, Some(&canned_cookies), None), Ok(()));

    // Our signer, same key (PKCS#8 form), same inputs: identical bytes.
    let ours = Signer::from_pem(KEY_ID, &read_key("rsa_a_pkcs8.pem")).unwrap().with_hash_algorithm(hash);
    let policy =
        Policy::new(&resource, at(EXPIRES)).ip_address("192.0.2.0/24").unwrap().date_greater_than(at(NOT_BEFORE));
    assert_eq!(policy.to_json(), s(&boto, "policy_json"));
    assert_eq!(ours.canned_url(&url, at(EXPIRES)).unwrap(), s(&boto, "canned_url"));
    assert_eq!(ours.custom_url(&url, &policy).unwrap(), custom);
    assert_eq!(our_cookies(ours.cookies(&policy).unwrap()), boto["cookies"]);
    assert_eq!(our_cookies(ours.canned_cookies(&url, at(EXPIRES)).unwrap()), boto["canned_cookies"]);
}

#[test]
fn botocore_rsa_sha1_interop() {
    rsa_round_trip(HashAlgorithm::Sha1, "sha1");
}

#[test]
fn botocore_rsa_sha256_interop() {
    rsa_round_trip(HashAlgorithm::Sha256, "sha256");
}

#[test]
fn botocore_plain_url_and_expiry() {
    let url = format!("https://{HOST}/index.html");
    let boto = botocore("rsa_a_pkcs1.pem", &url, &[]);
    let canned = s(&boto, "canned_url");
    assert!(canned.starts_with(&format!("{url}?Expires={EXPIRES}&Signature=")));
    assert_eq!(check(&trusted(), canned, None, None), Ok(()));
    let ours = Signer::from_pem(KEY_ID, &read_key("rsa_a_pkcs1.pem")).unwrap();
    assert_eq!(ours.canned_url(&url, at(EXPIRES)).unwrap(), canned);
    // Custom policy without IpAddress/DateGreaterThan.
    assert_eq!(ours.custom_url(&url, &Policy::new(&url, at(EXPIRES))).unwrap(), s(&boto, "custom_url"));
    let keys = trusted();
    let req = SignedRequest {
        scheme: "https",
        host: HOST,
        path: "/index.html",
        query: canned.split_once('?').map(|(_, q)| q),
        headers: None,
        client_ip: None,
    };
    assert_eq!(verify(&keys, &req, at(EXPIRES)), Err(Rejection::Expired));
    assert_eq!(verify(&keys, &req, at(EXPIRES - 1)), Ok(()));
}

#[test]
fn botocore_ecdsa_interop() {
    let url = format!("https://{HOST}/video.mp4");
    let resource = format!("https://{HOST}/*");
    for (hash_arg, key) in [("sha1", "ec_sec1.pem"), ("sha256", "ec_pkcs8.pem")] {
        let boto = botocore(key, &url, &["--resource", &resource, "--hash", hash_arg]);
        let keys = trusted_ec();
        assert_eq!(check(&keys, s(&boto, "canned_url"), None, None), Ok(()), "{hash_arg}");
        assert_eq!(check(&keys, s(&boto, "custom_url"), None, None), Ok(()), "{hash_arg}");
        let cookies = cookie_header(&boto["cookies"]);
        assert_eq!(check(&keys, &url, Some(&cookies), None), Ok(()), "{hash_arg}");
        // ECDSA signatures are randomised; compare everything but the signature.
        let ours = Signer::from_pem(KEY_ID, &read_key(key)).unwrap().with_hash_algorithm(if hash_arg == "sha1" {
            HashAlgorithm::Sha1
        } else {
            HashAlgorithm::Sha256
        });
        let mine = ours.custom_url(&url, &Policy::new(&resource, at(EXPIRES))).unwrap();
        let strip_sig = |u: &str| u.split('&').filter(|p| !p.starts_with("Signature=")).collect::<Vec<_>>().join("&");
        assert_eq!(strip_sig(&mine), strip_sig(s(&boto, "custom_url")));
        assert_eq!(check(&keys, &mine, None, None), Ok(()));
    }
}

#[test]
fn botocore_policy_json_escaping() {
    let url = format!("https://{HOST}/x");
    let resource = "https://h/\"quoted\"\\back/é/😀/\u{7f}/tab\there/*";
    let boto = botocore("rsa_a_pkcs1.pem", &url, &["--resource", resource, "--ip", "10.1.2.3"]);
    let ours = Policy::new(resource, at(EXPIRES)).ip_address("10.1.2.3").unwrap();
    assert_eq!(ours.to_json(), s(&boto, "policy_json"));
}

#[tokio::test]
async fn botocore_signed_urls_and_cookies_are_accepted_through_the_proxy() {
    let origin = Origin::start().await;
    origin.route("/private/a.txt", Reply::ok("a").header("cache-control", "max-age=60").stamped());
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("site")
                .origin("web", CdnOrigin::http(origin.url()))
                .behavior(CacheBehavior::new("/private/*").origin("web").trusted_keys(trusted()))
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .build()
        .unwrap();
    let edge = start_proxy(layer).await;
    let url = format!("http://{edge}/private/a.txt?v=1");
    let resource = format!("http://{edge}/private/*");
    let boto = botocore("rsa_a_pkcs1.pem", &url, &["--resource", &resource, "--ip", "127.0.0.1"]);
    let c = client();

    let canned = c.get(s(&boto, "canned_url")).send().await.unwrap();
    assert_eq!(canned.status(), 200, "{}", cache_status(&canned));
    assert_eq!(canned.text().await.unwrap(), "a#1");
    assert_eq!(origin.hits("/private/a.txt?v=1"), 1, "the origin saw the URL without the signature");
    let custom = c.get(s(&boto, "custom_url")).send().await.unwrap();
    assert!(cache_status(&custom).starts_with("tower-cdn; hit"), "{}", cache_status(&custom));
    let cookies: Vec<String> =
        boto["cookies"].as_object().unwrap().iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap())).collect();
    let with_cookies = c.get(&url).header("cookie", cookies.join("; ")).send().await.unwrap();
    assert_eq!(with_cookies.status(), 200);
    assert_eq!(with_cookies.text().await.unwrap(), "a#1");
    assert_eq!(origin.total_hits(), 1);
    // Tampering with what botocore signed is refused.
    let moved = s(&boto, "canned_url").replace("v=1", "v=2");
    assert_eq!(c.get(&moved).send().await.unwrap().status(), 403);
    assert_eq!(origin.total_hits(), 1);
}
