//! Signed URLs and signed cookies through the real layer and a real
//! origin: refusals never reach the origin or the cache, and every validly
//! signed request for one object shares one cached copy.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use support::raw::exchange;
use support::{Origin, Reply, cache_status, client, start_proxy};
use tower_cdn::auth::{HashAlgorithm, Policy, Signer, TrustedKeys};
use tower_cdn::{CacheBehavior, CachePolicy, CdnLayer, Clock, Distribution, Origin as CdnOrigin, Select};

const RSA_A: &str = include_str!("../src/auth/testdata/rsa_a_pkcs1.pem");
const RSA_A_PUB: &str = include_str!("../src/auth/testdata/rsa_a_pub_spki.pem");
const RSA_B: &str = include_str!("../src/auth/testdata/rsa_b_pkcs8.pem");
const EC: &str = include_str!("../src/auth/testdata/ec_sec1.pem");
const EC_PUB: &str = include_str!("../src/auth/testdata/ec_pub_spki.pem");

const REFUSED_BODY: &str = "403 Forbidden: a valid signed URL or signed cookie is required\n";

fn keys() -> TrustedKeys {
    let mut k = TrustedKeys::new();
    k.add_pem("KA", RSA_A_PUB).unwrap();
    k.add_pem("KE", EC_PUB).unwrap();
    k
}

fn signer() -> Signer {
    Signer::from_pem("KA", RSA_A).unwrap()
}

fn hours(n: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600 * n)
}

/// `/private/*` and `/secret/*` need signatures; everything else does not.
fn site(origin: &Origin, clock: Clock, policy: CachePolicy) -> CdnLayer {
    let web = || CdnOrigin::http(origin.url());
    CdnLayer::builder()
        .clock(clock)
        .distribution(
            Distribution::new("site")
                .origin("web", web())
                .behavior(CacheBehavior::new("/private/*").origin("web").trusted_keys(keys()).cache_policy(policy))
                .behavior(CacheBehavior::new("/secret/*").origin("web").trusted_keys(keys()))
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .build()
        .unwrap()
}

async fn edge(origin: &Origin) -> SocketAddr {
    start_proxy(site(origin, Clock::system(), CachePolicy::new())).await
}

/// Status, `Cache-Status` and body of a GET.
async fn get(url: &str, cookie: Option<&str>) -> (u16, String, String) {
    let mut req = client().get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.unwrap();
    let (status, cs) = (r.status().as_u16(), cache_status(&r));
    (status, cs, r.text().await.unwrap())
}

fn refused(detail: &str) -> (u16, String, String) {
    (403, format!("tower-cdn; detail={detail}"), REFUSED_BODY.to_owned())
}

fn cookie_header(pairs: &[(String, String)], extra: &str) -> String {
    let mut parts: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
    parts.insert(0, extra.to_owned());
    parts.join("; ")
}

#[tokio::test]
async fn a_signed_url_is_served_and_differently_signed_urls_share_one_entry() {
    let origin = Origin::start().await;
    origin.route("/private/a.txt", Reply::ok("secret").header("cache-control", "max-age=60").stamped());
    origin.route("/public", Reply::ok("public"));
    let edge = edge(&origin).await;
    let url = format!("http://{edge}/private/a.txt?v=1");

    let first = signer().canned_url(&url, hours(1)).unwrap();
    let (status, cs, body) = get(&first, None).await;
    assert_eq!((status, body.as_str()), (200, "secret#1"), "{cs}");
    assert_eq!(cs, "tower-cdn; fwd=uri-miss; fwd-status=200; stored");
    assert_eq!(origin.hits("/private/a.txt?v=1"), 1, "the origin gets the URL without the signing parameters");

    // Another expiry, a custom policy, an ECDSA SHA-256 signature: all the same object.
    let policy = Policy::new(format!("http://{edge}/private/*"), hours(1));
    let ec = Signer::from_pem("KE", EC).unwrap().with_hash_algorithm(HashAlgorithm::Sha256);
    for other in [
        signer().canned_url(&url, hours(2)).unwrap(),
        signer().custom_url(&url, &policy).unwrap(),
        ec.canned_url(&url, hours(1)).unwrap(),
    ] {
        let (status, cs, body) = get(&other, None).await;
        assert_eq!((status, body.as_str()), (200, "secret#1"), "{other}");
        assert!(cs.starts_with("tower-cdn; hit"), "{other}: {cs}");
    }
    assert_eq!(origin.total_hits(), 1, "one origin fetch for every signature");

    // The object is cached, and still never served to an unsigned request.
    assert_eq!(get(&url, None).await, refused("signature-missing"));
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    // A key the behavior does not trust.
    let stranger = Signer::from_pem("KB", RSA_B).unwrap().canned_url(&url, hours(1)).unwrap();
    assert_eq!(get(&stranger, None).await, refused("signature-unknown-key"));
    assert_eq!(origin.total_hits(), 1, "refusals never reach the origin");

    // Behaviors without trusted keys leave the query alone.
    let (status, _, _) = get(&format!("http://{edge}/public?Signature=x&Expires=1"), None).await;
    assert_eq!(status, 200);
    assert_eq!(origin.hits("/public?Signature=x&Expires=1"), 1);
}

#[tokio::test]
async fn expired_and_tampered_urls_are_refused_without_origin_contact() {
    let origin = Origin::start().await;
    origin.route("/private/doc", Reply::ok("doc").header("cache-control", "max-age=600"));
    origin.route("/private/other", Reply::ok("other").header("cache-control", "max-age=600"));
    let clock = Clock::manual();
    let edge = start_proxy(site(&origin, clock.clone(), CachePolicy::new())).await;
    let url = format!("http://{edge}/private/doc");
    let signed = signer().canned_url(&url, clock.now() + Duration::from_secs(60)).unwrap();
    assert_eq!(get(&signed, None).await.0, 200);
    assert_eq!(origin.total_hits(), 1);

    let (base, query) = signed.split_once('?').unwrap();
    let signature = query.split('&').find_map(|p| p.strip_prefix("Signature=")).unwrap();
    let flipped = format!("{}{}", if signature.starts_with('A') { "B" } else { "A" }, &signature[1..]);
    for (tampered, detail) in [
        (format!("{}?{query}", base.replace("/doc", "/other")), "signature-invalid"),
        (signed.replace(signature, &flipped), "signature-invalid"),
        (format!("{signed}&extra=1"), "signature-invalid"),
        (signed.replace("Key-Pair-Id=KA", "Key-Pair-Id=NOPE"), "signature-unknown-key"),
        (signed.replace("Expires=", "Expires=9"), "signature-invalid"),
        (format!("{signed}&Signature={signature}"), "signature-malformed"),
    ] {
        assert_eq!(get(&tampered, None).await, refused(detail), "{tampered}");
    }
    assert_eq!(origin.total_hits(), 1);

    // The entry is still fresh, but the URL has expired.
    clock.advance(Duration::from_secs(61));
    assert_eq!(get(&signed, None).await, refused("signature-expired"));
    assert_eq!(origin.total_hits(), 1, "an expired URL reaches neither the cache nor the origin");
    let renewed = signer().canned_url(&url, clock.now() + Duration::from_secs(60)).unwrap();
    let (status, cs, _) = get(&renewed, None).await;
    assert!(status == 200 && cs.starts_with("tower-cdn; hit"), "{cs}");
}

#[tokio::test]
async fn signed_cookies_open_the_path_and_never_reach_the_origin_or_the_key() {
    let origin = Origin::start().await;
    origin.route("/private/page", Reply::ok("page").header("cache-control", "max-age=60").stamped());
    // Every cookie is in the key (and so forwarded): the signing cookies must not be.
    let layer = site(&origin, Clock::system(), CachePolicy::new().cookies(Select::All));
    let edge = start_proxy(layer).await;
    let url = format!("http://{edge}/private/page");
    let policy = Policy::new(format!("http://{edge}/private/*"), hours(1));

    let cookies = signer().cookies(&policy).unwrap();
    let (status, _, body) = get(&url, Some(&cookie_header(&cookies, "theme=dark"))).await;
    assert_eq!((status, body.as_str()), (200, "page#1"));
    assert_eq!(origin.last_headers("/private/page").unwrap()["cookie"], "theme=dark");

    // Other signing cookies, same other cookies: the same entry.
    let later = signer().cookies(&Policy::new(format!("http://{edge}/private/*"), hours(3))).unwrap();
    let canned = signer().canned_cookies(&url, hours(1)).unwrap();
    for set in [later, canned] {
        let (status, cs, body) = get(&url, Some(&cookie_header(&set, "theme=dark"))).await;
        assert_eq!((status, body.as_str()), (200, "page#1"), "{cs}");
        assert!(cs.starts_with("tower-cdn; hit"), "{cs}");
    }
    // A cookie in the key still makes its own entry.
    let (_, cs, body) = get(&url, Some(&cookie_header(&cookies, "theme=light"))).await;
    assert!(cs.contains("fwd=uri-miss") && body == "page#2", "{cs} {body}");
    assert_eq!(origin.total_hits(), 2);

    assert_eq!(get(&url, Some("theme=dark")).await, refused("signature-missing"));
    let broken = cookie_header(&cookies, "theme=dark").replace("CloudFront-Key-Pair-Id=KA", "CloudFront-Key-Pair-Id");
    assert_eq!(get(&url, Some(&broken)).await, refused("signature-malformed"));
    assert_eq!(origin.total_hits(), 2);
}

#[tokio::test]
async fn a_custom_policy_covers_its_wildcard_its_ip_range_and_its_dates_only() {
    let origin = Origin::start().await;
    for path in ["/private/a", "/private/b/c", "/secret/x"] {
        origin.route(path, Reply::ok(path).header("cache-control", "max-age=60"));
    }
    let edge = edge(&origin).await;
    let base = format!("http://{edge}");
    let policy = Policy::new(format!("{base}/private/*"), hours(1)).ip_address("127.0.0.1").unwrap();
    let signed = signer().custom_url(&format!("{base}/private/a"), &policy).unwrap();
    let signing = signed.split_once('?').unwrap().1.to_owned();
    assert_eq!(get(&signed, None).await.0, 200);
    // The same policy opens every path its Resource covers...
    assert_eq!(get(&format!("{base}/private/b/c?{signing}"), None).await.0, 200);
    // ...and no other, however the path is spelled.
    assert_eq!(get(&format!("{base}/secret/x?{signing}"), None).await, refused("signature-resource-mismatch"));
    for sneaky in ["/private/../secret/x", "/private/%2e%2e/secret/x"] {
        let req = format!("GET {sneaky}?{signing} HTTP/1.1\r\nhost: {edge}\r\nconnection: close\r\n\r\n");
        let resp = exchange(edge, req.as_bytes()).await;
        assert!(resp.starts_with("HTTP/1.1 403") && resp.contains("detail=signature-resource-mismatch"), "{resp}");
    }
    assert_eq!(origin.hits("/secret/x"), 0);

    // The client address (127.0.0.1 here) must be in the range.
    let elsewhere = Policy::new(format!("{base}/private/*"), hours(1)).ip_address("10.0.0.0/8").unwrap();
    let url = signer().custom_url(&format!("{base}/private/a"), &elsewhere).unwrap();
    assert_eq!(get(&url, None).await, refused("signature-ip-not-allowed"));
    // Not before DateGreaterThan.
    let later = Policy::new(format!("{base}/private/*"), hours(2)).date_greater_than(hours(1));
    let url = signer().custom_url(&format!("{base}/private/a"), &later).unwrap();
    assert_eq!(get(&url, None).await, refused("signature-not-yet-valid"));
    assert_eq!(origin.total_hits(), 2);
}

#[tokio::test]
async fn the_viewer_scheme_is_part_of_the_signed_url() {
    let origin = Origin::start().await;
    origin.route("/private/a", Reply::ok("a").header("cache-control", "max-age=60"));
    let https = |trust: bool| {
        CdnLayer::builder()
            .viewer_scheme("https")
            .trust_forwarding_headers(trust)
            .distribution(
                Distribution::new("site")
                    .origin("web", CdnOrigin::http(origin.url()))
                    .default_behavior(CacheBehavior::default_for("web").trusted_keys(keys())),
            )
            .build()
            .unwrap()
    };
    let edge = start_proxy(https(false)).await;
    let as_https = signer().canned_url(&format!("https://{edge}/private/a"), hours(1)).unwrap();
    let as_http = signer().canned_url(&format!("http://{edge}/private/a"), hours(1)).unwrap();
    // Behind a TLS terminator the request arrives over plain HTTP.
    assert_eq!(get(&as_https.replacen("https://", "http://", 1), None).await.0, 200);
    assert_eq!(get(&as_http, None).await, refused("signature-invalid"));
    // A client cannot claim another scheme unless the proxy in front is trusted.
    let claims_http = client().get(&as_http).header("x-forwarded-proto", "http").send().await.unwrap();
    assert_eq!(claims_http.status(), 403);
    let trusted = start_proxy(https(true)).await;
    let url = signer().canned_url(&format!("http://{trusted}/private/a"), hours(1)).unwrap();
    let r = client().get(&url).header("x-forwarded-proto", "http").send().await.unwrap();
    assert_eq!(r.status(), 200);

    let bad = CdnLayer::builder().viewer_scheme("ftp").build().unwrap_err();
    assert_eq!(bad.setting(), "viewer_scheme");
}

#[test]
fn a_behavior_with_an_empty_key_set_is_a_configuration_error() {
    let err = CdnLayer::builder()
        .distribution(
            Distribution::new("site")
                .origin("web", CdnOrigin::http("http://127.0.0.1:9"))
                .behavior(CacheBehavior::new("/p/*").origin("web").trusted_keys(TrustedKeys::new()))
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "distributions[0].behaviors[0].trusted_keys");
}

#[tokio::test]
async fn signatures_never_reach_the_access_log() {
    use std::sync::{Arc, Mutex};
    let origin = Origin::start().await;
    origin.route("/private/a", Reply::ok("a").header("cache-control", "max-age=60"));
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    let layer = CdnLayer::builder()
        .access_log(tower_cdn::AccessLog::callback(move |r| {
            sink.lock().unwrap().push(format!("{:?} {:?}", r.cs_uri_query, r.cs_cookie));
        }))
        .distribution(
            Distribution::new("site")
                .origin("web", CdnOrigin::http(origin.url()))
                .default_behavior(CacheBehavior::default_for("web").trusted_keys(keys())),
        )
        .build()
        .unwrap();
    let edge = start_proxy(layer).await;
    let url = signer().canned_url(&format!("http://{edge}/private/a"), hours(1)).unwrap();
    let signature = url.split("Signature=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    assert_eq!(get(&url, None).await.0, 200);
    let policy = Policy::new(format!("http://{edge}/*"), hours(1));
    let cookies = signer().cookies(&policy).unwrap();
    let cookie_signature = cookies[1].1.clone();
    assert_eq!(get(&format!("http://{edge}/private/a"), Some(&cookie_header(&cookies, "a=1"))).await.0, 200);
    assert!(support::eventually(|| lines.lock().unwrap().len() == 2).await);
    for line in lines.lock().unwrap().iter() {
        assert!(line.contains("REDACTED"), "{line}");
        assert!(!line.contains(&signature) && !line.contains(&cookie_signature), "{line}");
    }
}
