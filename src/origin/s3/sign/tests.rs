//! Unit tests of `sign`.

use super::*;
use std::time::{Duration, UNIX_EPOCH};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}
const T_2015_08_30_123600: u64 = 1_440_938_160;
const T_2013_05_24: u64 = 1_369_353_600;

fn header<'a>(req: &'a Request<()>, name: &str) -> &'a str {
    req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("<missing>")
}

fn creds(ak: &str, sk: &str, token: Option<&str>) -> Credentials {
    Credentials::Static { access_key_id: ak.into(), secret_access_key: sk.into(), session_token: token.map(Into::into) }
}

const SUITE_SK: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn suite_request() -> Request<()> {
    // aws-signing-test-suite/v4/get-vanilla/request.txt: "GET / HTTP/1.1\nHost:example.amazonaws.com"
    Request::builder().uri("/").header("Host", "example.amazonaws.com").body(()).unwrap()
}

/// AWS SigV4 test suite, `v4/get-vanilla/header-signed-request.txt` (as shipped in the
/// aws-sigv4 crate and in awslabs/aws-c-auth `tests/aws-signing-test-suite/v4/`).
#[test]
fn aws_suite_get_vanilla() {
    let mut req = suite_request();
    let opts = SignOptions { service: "service", payload: PayloadHash::Empty, s3_rules: false };
    sign_with(&mut req, &creds("AKIDEXAMPLE", SUITE_SK, None), "us-east-1", at(T_2015_08_30_123600), &opts).unwrap();
    assert_eq!(
        header(&req, "authorization"),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    assert_eq!(header(&req, "x-amz-date"), "20150830T123600Z");
    assert!(req.headers().get("x-amz-content-sha256").is_none());
    assert!(req.headers().get("authorization").is_some_and(HeaderValue::is_sensitive));
}

/// Same suite, `v4/get-vanilla-with-session-token`.
#[test]
fn aws_suite_get_vanilla_with_session_token() {
    let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
    let mut req = suite_request();
    let opts = SignOptions { service: "service", payload: PayloadHash::Empty, s3_rules: false };
    sign_with(&mut req, &creds("AKIDEXAMPLE", SUITE_SK, Some(token)), "us-east-1", at(T_2015_08_30_123600), &opts)
        .unwrap();
    assert_eq!(
        header(&req, "authorization"),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date;x-amz-security-token, \
         Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
    );
    assert_eq!(header(&req, "x-amz-security-token"), token);
    assert!(req.headers().get("x-amz-security-token").is_some_and(HeaderValue::is_sensitive));
}

fn s3_doc_request() -> Request<()> {
    Request::builder()
        .uri("https://examplebucket.s3.amazonaws.com/test.txt")
        .header("range", "bytes=0-9")
        .body(())
        .unwrap()
}
const DOC_AK: &str = "AKIAIOSFODNN7EXAMPLE";
const DOC_SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// AWS S3 API reference, "Signature Calculations for the Authorization Header: Transferring
/// Payload in a Single Chunk", example "GET Object" (Range bytes=0-9). It signs the SHA-256
/// of the empty payload, so `PayloadHash::Empty` with S3 rules.
#[test]
fn s3_docs_get_object_example() {
    let mut req = s3_doc_request();
    let opts = SignOptions { payload: PayloadHash::Empty, ..SignOptions::S3 };
    sign_with(&mut req, &creds(DOC_AK, DOC_SK, None), "us-east-1", at(T_2013_05_24), &opts).unwrap();
    assert_eq!(
        header(&req, "authorization"),
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
         Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
    assert_eq!(
        header(&req, "x-amz-content-sha256"),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(header(&req, "host"), "examplebucket.s3.amazonaws.com");
}

#[test]
fn default_sign_is_unsigned_payload_and_skips_other_headers() {
    let mut req = s3_doc_request();
    for (k, v) in
        [("cookie", "a=b"), ("user-agent", "x"), ("x-amz-request-payer", "requester"), ("x-amz-date", "stale")]
    {
        req.headers_mut().insert(k, HeaderValue::from_static(v));
    }
    sign(&mut req, &creds(DOC_AK, DOC_SK, None), "us-east-1", at(T_2013_05_24)).unwrap();
    assert_eq!(header(&req, "x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
    assert_eq!(header(&req, "x-amz-date"), "20130524T000000Z");
    assert!(
        header(&req, "authorization")
            .contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date;x-amz-request-payer,")
    );
    assert_eq!(header(&req, "cookie"), "a=b");
}

#[test]
fn anonymous_and_errors() {
    let mut req = s3_doc_request();
    let before = req.headers().clone();
    sign(&mut req, &Credentials::Anonymous, "us-east-1", at(0)).unwrap();
    assert_eq!(req.headers(), &before);

    let c = creds("a", "s", None);
    let mut post = s3_doc_request();
    *post.method_mut() = Method::POST;
    assert!(matches!(sign(&mut post, &c, "us-east-1", at(0)), Err(SignError::UnsupportedMethod)));
    let mut relative = Request::builder().uri("/k").body(()).unwrap();
    assert!(matches!(sign(&mut relative, &c, "us-east-1", at(0)), Err(SignError::MissingHost)));
    assert!(matches!(
        sign(&mut s3_doc_request(), &creds("", "s", None), "us-east-1", at(0)),
        Err(SignError::EmptyCredentials)
    ));
    assert!(matches!(sign(&mut s3_doc_request(), &c, "", at(0)), Err(SignError::InvalidRegion)));
    let mut bad = s3_doc_request();
    bad.headers_mut().insert("range", HeaderValue::from_bytes(b"bytes=\xff").unwrap());
    assert!(matches!(sign(&mut bad, &c, "us-east-1", at(0)), Err(SignError::InvalidHeaderValue(_))));
    // A session token that cannot be a header value is an error, not a panic.
    assert!(sign(&mut s3_doc_request(), &creds("a", "s", Some("bad\ntoken")), "us-east-1", at(0)).is_err());
}

#[test]
fn host_from_uri_drops_default_port_keeps_others() {
    let c = creds("a", "s", None);
    let mut r = Request::builder().uri("https://b.example.com:443/k").body(()).unwrap();
    sign(&mut r, &c, "us-east-1", at(0)).unwrap();
    assert_eq!(header(&r, "host"), "b.example.com");
    let mut r = Request::builder().uri("http://127.0.0.1:19000/b/k").body(()).unwrap();
    sign(&mut r, &c, "us-east-1", at(0)).unwrap();
    assert_eq!(header(&r, "host"), "127.0.0.1:19000");
}
