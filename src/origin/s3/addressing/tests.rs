//! Unit tests of `addressing`.

use super::*;

fn target(endpoint: &str, style: UrlStyle) -> S3Target {
    S3Target::new("pub-bucket", "us-east-1")
        .and_then(|t| t.with_endpoint(endpoint.parse().map_err(|_| AddressError::InvalidEndpoint)?))
        .map(|t| t.with_style(style))
        .unwrap()
}

#[test]
fn default_endpoint() {
    let t = S3Target::new("examplebucket", "eu-west-1").unwrap();
    assert_eq!(t.endpoint(), "https://s3.eu-west-1.amazonaws.com/");
    assert_eq!(t.style(), UrlStyle::VirtualHosted);
    let url = object_url(&t, "a b.txt", None).unwrap();
    assert_eq!(url, "https://examplebucket.s3.eu-west-1.amazonaws.com/a%20b.txt");
    assert_eq!(host_header(&url).unwrap(), "examplebucket.s3.eu-west-1.amazonaws.com");
}

#[test]
fn urls_both_styles_with_ports() {
    let p = target("http://127.0.0.1:19000", UrlStyle::Path);
    let v = target("http://localhost:19000", UrlStyle::VirtualHosted);
    let cases = [
        ("hello.txt", "/hello.txt"),
        ("dir/space key.txt", "/dir/space%20key.txt"),
        ("dir/a+b.txt", "/dir/a%2Bb.txt"),
        ("dir/ünï©ødé.txt", "/dir/%C3%BCn%C3%AF%C2%A9%C3%B8d%C3%A9.txt"),
        ("a-._~/!*'()&$=;:@,?%#[]", "/a-._~/%21%2A%27%28%29%26%24%3D%3B%3A%40%2C%3F%25%23%5B%5D"),
    ];
    for (key, path) in cases {
        assert_eq!(object_url(&p, key, None).unwrap().to_string(), format!("http://127.0.0.1:19000/pub-bucket{path}"));
        assert_eq!(object_url(&v, key, None).unwrap().to_string(), format!("http://pub-bucket.localhost:19000{path}"));
    }
    let u = object_url(&p, "k", Some("versionId=abc")).unwrap();
    assert_eq!(u.to_string(), "http://127.0.0.1:19000/pub-bucket/k?versionId=abc");
    assert_eq!(host_header(&u).unwrap(), "127.0.0.1:19000");
    let https = target("https://s3.example.com:443", UrlStyle::Path);
    assert_eq!(host_header(&object_url(&https, "k", None).unwrap()).unwrap(), "s3.example.com");
}

#[test]
fn rejections() {
    let ip = target("http://127.0.0.1:19000", UrlStyle::VirtualHosted);
    assert_eq!(object_url(&ip, "k", None), Err(AddressError::VirtualHostedNeedsDnsName));
    let v6 = target("http://[::1]:19000", UrlStyle::VirtualHosted);
    assert_eq!(object_url(&v6, "k", None), Err(AddressError::VirtualHostedNeedsDnsName));
    assert!(object_url(&target("http://[::1]:19000", UrlStyle::Path), "k", None).is_ok());
    let p = target("http://h:1", UrlStyle::Path);
    assert_eq!(object_url(&p, "", None), Err(AddressError::InvalidKey));
    assert_eq!(object_url(&p, &"k".repeat(1025), None), Err(AddressError::InvalidKey));
    assert_eq!(object_url(&p, "k", Some("a b")), Err(AddressError::InvalidQuery));
    assert_eq!(object_url(&p, "k", Some("a#b")), Err(AddressError::InvalidQuery));
    for bad in ["ftp://h", "http://h/x", "http://u@h", "http://h?x=1", "/relative"] {
        let t = S3Target::new("bkt", "us-east-1").unwrap();
        assert_eq!(t.with_endpoint(bad.parse().unwrap()), Err(AddressError::InvalidEndpoint), "{bad}");
    }
    assert_eq!(S3Target::new("a/b", "us-east-1"), Err(AddressError::InvalidBucket));
    assert_eq!(S3Target::new("ok-bucket", "US East"), Err(AddressError::InvalidRegion));
    let legacy = S3Target::new("Legacy_Bucket", "us-east-1").unwrap();
    assert_eq!(object_url(&legacy, "k", None), Err(AddressError::InvalidBucket));
    assert!(object_url(&legacy.with_style(UrlStyle::Path), "k", None).is_ok());
    assert!(matches!(
        S3Target::new("bkt", "us-east-1").unwrap().with_origin_path("/a/../b"),
        Err(AddressError::OriginPath(_))
    ));
}

#[test]
fn origin_request_forwards_only_listed_headers() {
    let t = target("http://127.0.0.1:19000", UrlStyle::Path).with_origin_path("static/").unwrap();
    assert_eq!(t.origin_path(), "/static");
    let mut viewer = HeaderMap::new();
    for (k, v) in [
        ("range", "bytes=0-9"),
        ("if-none-match", "\"a\""),
        ("if-none-match", "\"b\""),
        ("cookie", "s=1"),
        ("authorization", "Bearer x"),
        ("x-amz-request-payer", "requester"),
        ("if-modified-since", "Sat, 01 Jan 2000 00:00:00 GMT"),
    ] {
        viewer.append(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    let req = origin_request(&t, &Method::HEAD, "static/a", None, &viewer).unwrap();
    assert_eq!(req.method(), Method::HEAD);
    assert_eq!(req.uri(), "http://127.0.0.1:19000/pub-bucket/static/a");
    let mut names: Vec<_> = req.headers().keys().map(|n| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["host", "if-modified-since", "if-none-match", "range"]);
    assert_eq!(req.headers().get_all("if-none-match").iter().count(), 2);
    assert_eq!(origin_request(&t, &Method::POST, "k", None, &viewer).err(), Some(AddressError::UnsupportedMethod));
}

#[test]
fn error_status_mapping() {
    let s = |c: u16| StatusCode::from_u16(c).unwrap();
    for (input, plain, as_404) in [
        (200, 200, 200),
        (206, 206, 206),
        (304, 304, 304),
        (403, 403, 404),
        (404, 404, 404),
        (412, 412, 412),
        (416, 416, 416),
        (301, 502, 502),
        (307, 502, 502),
        (400, 502, 502),
        (405, 502, 502),
        (500, 502, 502),
        (503, 503, 503),
        (429, 503, 503),
        (504, 504, 504),
        (501, 502, 502),
    ] {
        assert_eq!(map_error_status(s(input), false), s(plain), "{input}");
        assert_eq!(map_error_status(s(input), true), s(as_404), "{input}");
    }
}
