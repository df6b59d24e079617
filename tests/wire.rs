//! What the origin really receives: every test here sends requests as a
//! client (raw sockets for the hostile shapes, reqwest over h1 and h2c)
//! through the real front ends (the dev proxy's server loop, and the layer
//! in an axum app served by `axum::serve`) to a recording origin, and
//! asserts on the bytes that origin framed off its socket.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use support::wire::{Recorded, RecordingOrigin, echo_target, response};
use support::{client, start_proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_cdn::{CacheBehavior, CachePolicy, CdnLayer, Distribution, Origin, OriginRequestPolicy, Select};

/// The two ways the layer meets the wire.
#[derive(Debug, Clone, Copy)]
enum Front {
    /// The dev proxy's accept loop (`tower_cdn::cli::serve`).
    Proxy,
    /// The layer on an axum `Router`, served by `axum::serve`.
    Axum,
}

const FRONTS: [Front; 2] = [Front::Proxy, Front::Axum];

async fn start(front: Front, layer: CdnLayer) -> SocketAddr {
    match front {
        Front::Proxy => start_proxy(layer).await,
        Front::Axum => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = axum::Router::new()
                .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "no app route\n") })
                .layer(layer);
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            addr
        }
    }
}

/// One distribution for `a.test` (and every host) with a signed-looking
/// `/private/*` behavior on its own path, the rest to the default.
fn layer_to(origin: &RecordingOrigin, origin_path: &str) -> CdnLayer {
    CdnLayer::builder()
        .distribution(
            Distribution::new("d")
                .origin("web", Origin::http(origin.url()).origin_path(origin_path))
                .behavior(CacheBehavior::new("/private/*").origin("web").cache_policy(CachePolicy::caching_disabled()))
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .build()
        .unwrap()
}

/// Sends `bytes` on a fresh connection and reads until the server closes
/// it (every request here says `connection: close`), bounded.
async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(resp: &str) -> u16 {
    resp.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

async fn get_raw(addr: SocketAddr, target: &str) -> String {
    raw(addr, format!("GET {target} HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n").as_bytes()).await
}

/// Every request the origin framed declared exactly the content it sent,
/// and none of them carries bytes of another request.
fn assert_framing_is_honest(origin: &RecordingOrigin) {
    assert!(origin.garbled().is_empty(), "the origin received bytes it could not frame: {:?}", origin.garbled());
    for r in origin.requests() {
        assert!(!r.truncated, "{r:?}");
        if let Some(cl) = r.header("content-length") {
            assert_eq!(cl.parse::<usize>().unwrap(), r.body.len(), "{r:?}");
        }
        if matches!(r.method.as_str(), "GET" | "HEAD") {
            assert!(r.body_wire.is_empty() && !r.has("content-length") && !r.has("transfer-encoding"), "{r:?}");
        }
        let text = String::from_utf8_lossy(&r.body);
        assert!(!text.contains("HTTP/1.1"), "a request line inside another request's content: {r:?}");
    }
}

#[tokio::test]
async fn a_get_with_content_is_refused_and_cannot_poison_the_next_viewers_response() {
    for front in FRONTS {
        let origin = RecordingOrigin::answering_first(Arc::new(echo_target)).await;
        let edge = start(front, layer_to(&origin, "")).await;
        // The attack: a GET declaring 73 bytes of content, sent whole. An
        // origin answering first would take the next request's first 73
        // bytes as that content, and the rest as a request of its own.
        let smuggled = "GET /evil.html HTTP/1.1\r\nhost: a.test\r\nx-a: ";
        let body = format!("{smuggled}{}", "z".repeat(73 - smuggled.len()));
        for (method, framing) in [
            ("GET", format!("content-length: {}\r\n\r\n{body}", body.len())),
            ("HEAD", format!("content-length: {}\r\n\r\n{body}", body.len())),
            ("GET", format!("transfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n", body.len())),
            ("GET", "content-length: 0\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n".to_owned()),
        ] {
            let req = format!("{method} /index.html HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n{framing}");
            let resp = raw(edge, req.as_bytes()).await;
            assert!(matches!(status_of(&resp), 403 | 400), "{front:?} {method} {framing:?}: {resp}");
        }
        // Over h2c too: the content comes in DATA frames.
        let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
        let resp = h2.get(format!("http://{edge}/index.html")).body(body.clone()).send().await.unwrap();
        assert_eq!(resp.status(), 403, "{front:?} h2");
        // The next viewers get the real page, from one clean origin request.
        for _ in 0..2 {
            let resp = client().get(format!("http://{edge}/index.html")).send().await.unwrap();
            assert_eq!(resp.text().await.unwrap(), "served /index.html", "{front:?}");
        }
        let targets: Vec<String> = origin.requests().into_iter().map(|r| r.target).collect();
        assert_eq!(targets, ["/index.html"], "{front:?}");
        assert_framing_is_honest(&origin);
    }
}

#[tokio::test]
async fn content_of_other_methods_reaches_the_origin_with_its_own_framing() {
    for front in FRONTS {
        let origin = RecordingOrigin::answering_first(Arc::new(echo_target)).await;
        let layer = CdnLayer::builder().origin(Origin::http(origin.url())).build().unwrap();
        let edge = start(front, layer).await;
        // h1 with Content-Length, h1 chunked, and an h2 stream without one.
        let form = "a=1&b=2";
        let resp = raw(
            edge,
            format!(
                "POST /form HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{form}",
                form.len()
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(status_of(&resp), 200, "{resp}");
        let resp = raw(
            edge,
            b"DELETE /thing HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .await;
        assert_eq!(status_of(&resp), 200, "{resp}");
        let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
        let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from("x1")), Ok(Bytes::from("y2"))]);
        let resp =
            h2.put(format!("http://{edge}/upload")).body(reqwest::Body::wrap_stream(stream)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        // And a bodiless DELETE sends no framing of content at all.
        let resp = raw(edge, b"DELETE /gone HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n").await;
        assert_eq!(status_of(&resp), 200, "{resp}");
        let form_req = origin.last("/form").unwrap();
        assert_eq!(form_req.body, form.as_bytes());
        assert_eq!(form_req.header("content-length").as_deref(), Some("7"));
        assert_eq!(form_req.header("content-type").as_deref(), Some("text/plain"));
        assert_eq!(origin.last("/thing").unwrap().body, b"abcde");
        assert_eq!(origin.last("/upload").unwrap().body, b"x1y2");
        let gone = origin.last("/gone").unwrap();
        assert!(gone.body_wire.is_empty() && !gone.has("transfer-encoding"), "{gone:?}");
        assert!(gone.header("content-length").is_none_or(|v| v == "0"), "{gone:?}");
        assert_framing_is_honest(&origin);
        for r in origin.requests() {
            assert!(!r.has("expect"));
        }
    }
}

#[tokio::test]
async fn paths_an_origin_would_read_differently_are_refused_before_any_origin_contact() {
    for front in FRONTS {
        let origin = RecordingOrigin::start(Arc::new(echo_target)).await;
        let edge = start(front, layer_to(&origin, "/public")).await;
        for target in [
            "/x\\..\\private/secret",
            "/x%5C..%5Cprivate/secret",
            "/x%5c..%5cprivate/secret",
            "/files/..\\..\\internal/secret",
            "/files/..%2F..%2Finternal/secret",
            "/files/..%2f..%2finternal/secret",
            "//private/secret",
            "/private%2Fsecret",
            "/public/..;/private/secret",
            "/..;/internal/secret",
            "/a%00b",
            "/a%0d%0aX-Injected:%201",
            "/../internal/secret",
            "/%2e%2e/internal/secret",
            "/a/%2E%2E/%2e%2E/internal/secret",
        ] {
            let resp = get_raw(edge, target).await;
            assert_eq!(status_of(&resp), 400, "{front:?} {target}: {resp}");
        }
        assert_eq!(origin.count(), 0, "{front:?}: {:?}", origin.requests());
        // Paths that keep their meaning arrive as origin_path + the
        // canonical path, byte for byte.
        for (target, canonical) in [
            ("/a/b", "/a/b"),
            ("/a/./b/../c", "/a/c"),
            ("/%7Euser/x", "/~user/x"),
            ("/a%2Fb", "/a%2Fb"),
            ("/a{b}^", "/a%7Bb%7D%5E"),
            ("/q?x='1'", "/q?x=%271%27"),
        ] {
            let resp = get_raw(edge, target).await;
            assert_eq!(status_of(&resp), 200, "{front:?} {target}: {resp}");
            let want = format!("/public{canonical}");
            assert!(resp.ends_with(&format!("served {want}")), "{front:?} {target}: {resp}");
            assert!(origin.last(&want).is_some(), "{front:?} {target}: {:?}", origin.requests());
        }
    }
}

fn reflecting(r: &Recorded) -> Vec<u8> {
    // An origin that personalises by headers it does not `Vary` on, and
    // says nothing about freshness: the edge's default TTL applies.
    let mut body = format!("served {}", r.target);
    for name in ["x-forwarded-prefix", "x-api-key", "accept-language", "x-forwarded-host"] {
        if let Some(v) = r.header(name) {
            body.push_str(&format!(" {name}={v}"));
        }
    }
    response(200, &[], body.as_bytes())
}

#[tokio::test]
async fn where_the_edge_gives_lifetimes_unkeyed_headers_never_reach_the_origin() {
    for front in FRONTS {
        let origin = RecordingOrigin::start(Arc::new(reflecting)).await;
        let layer = CdnLayer::builder()
            .distribution(
                Distribution::new("d").origin("web", Origin::http(origin.url())).default_behavior(
                    CacheBehavior::default_for("web")
                        .cache_policy(CachePolicy::new().headers(Select::only(["accept-language"]))),
                ),
            )
            .build()
            .unwrap();
        let edge = start(front, layer).await;
        let forged = [
            ("x-forwarded-prefix", "//evil.example"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-for", "6.6.6.6"),
            ("forwarded", "for=6.6.6.6;host=evil.example"),
            ("x-api-key", "alice-key"),
            ("true-client-ip", "6.6.6.6"),
            ("x-real-ip", "6.6.6.6"),
            ("cloudfront-viewer-country", "XX"),
            ("x-original-url", "/admin"),
            ("referer", "https://evil.example/"),
            ("accept-language", "de"),
        ];
        let mut req = client().get(format!("http://{edge}/page"));
        for (k, v) in forged {
            req = req.header(k, v);
        }
        let first = req.send().await.unwrap().text().await.unwrap();
        assert_eq!(first, "served /page accept-language=de", "{front:?}");
        let clean = client().get(format!("http://{edge}/page")).send().await.unwrap().text().await.unwrap();
        assert_eq!(clean, "served /page", "{front:?}: another viewer's headers shaped this response");
        let seen = origin.requests();
        assert_eq!(seen.len(), 2, "{front:?}: the keyed header makes two entries");
        for r in &seen {
            for (name, _) in forged.iter().filter(|(n, _)| *n != "accept-language" && *n != "x-forwarded-for") {
                assert!(!r.has(name), "{front:?}: {name} reached the origin: {}", String::from_utf8_lossy(&r.head));
            }
            let xff = r.header_all("x-forwarded-for");
            assert!(xff.iter().all(|v| !v.contains("6.6.6.6")), "{front:?}: {xff:?}");
            assert_eq!(r.header("user-agent").as_deref(), Some("tower-cdn"));
            assert!(r.header("via").is_some_and(|v| v.contains("tower-cdn")));
            assert!(r.has("cdn-loop"));
        }
    }
}

#[tokio::test]
async fn where_the_origin_declares_freshness_end_to_end_headers_pass_but_the_forwarding_family_does_not() {
    let origin = RecordingOrigin::start(Arc::new(reflecting)).await;
    let layer = CdnLayer::builder().origin(Origin::http(origin.url())).default_ttl(Duration::ZERO).build().unwrap();
    let edge = start_proxy(layer).await;
    client()
        .get(format!("http://{edge}/p"))
        .header("x-api-key", "k")
        .header("accept", "text/html")
        .header("x-forwarded-host", "evil.example")
        .header("true-client-ip", "6.6.6.6")
        .header("cloudfront-viewer-address", "6.6.6.6:1")
        // CGI-style servers read `_` as `-`: the same family.
        .header("x_forwarded_host", "evil.example")
        .header("X_Real_IP", "6.6.6.6")
        .header("x-forwarded", "host=evil.example")
        .header("x_api_key", "k2")
        .send()
        .await
        .unwrap();
    let r = origin.last("/p").unwrap();
    assert_eq!(r.header("x-api-key").as_deref(), Some("k"));
    assert_eq!(r.header("x_api_key").as_deref(), Some("k2"));
    assert_eq!(r.header("accept").as_deref(), Some("text/html"));
    for name in [
        "x-forwarded-host",
        "true-client-ip",
        "cloudfront-viewer-address",
        "x_forwarded_host",
        "x_real_ip",
        "x-forwarded",
    ] {
        assert!(!r.has(name), "{name}");
    }
    assert_eq!(r.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    // A policy can forward one of the family by name.
    let origin = RecordingOrigin::start(Arc::new(reflecting)).await;
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("d").origin("web", Origin::http(origin.url())).default_behavior(
                CacheBehavior::default_for("web")
                    .origin_request_policy(OriginRequestPolicy::new().headers(Select::only(["true-client-ip"]))),
            ),
        )
        .build()
        .unwrap();
    let edge = start_proxy(layer).await;
    client().get(format!("http://{edge}/q")).header("true-client-ip", "1.2.3.4").send().await.unwrap();
    assert_eq!(origin.last("/q").unwrap().header("true-client-ip").as_deref(), Some("1.2.3.4"));
}

#[tokio::test]
async fn a_viewers_connection_header_cannot_remove_the_fields_the_edge_adds() {
    for front in FRONTS {
        let origin = RecordingOrigin::start(Arc::new(echo_target)).await;
        let layer = CdnLayer::builder().origin(Origin::http(origin.url())).build().unwrap();
        let edge = start(front, layer).await;
        let resp = raw(
            edge,
            b"GET /c HTTP/1.1\r\nhost: a.test\r\nconnection: close, CDN-Loop, Via, X-Forwarded-For, X-Request-Id, X-Hop\r\nx-hop: 1\r\ncache-control: no-cache\r\n\r\n",
        )
        .await;
        assert_eq!(status_of(&resp), 200, "{resp}");
        let r = origin.last("/c").unwrap();
        assert!(r.header("via").is_some_and(|v| v.contains("tower-cdn")), "{front:?}: {r:?}");
        assert!(r.header("cdn-loop").is_some_and(|v| v.contains("tower-cdn")), "{front:?}: {r:?}");
        assert!(r.has("x-request-id"), "{front:?}: {r:?}");
        assert!(!r.has("x-hop") && !r.has("connection-nominated"), "{front:?}: {r:?}");
        assert!(r.header("connection").is_none_or(|v| !v.to_ascii_lowercase().contains("cdn-loop")));
        if matches!(front, Front::Proxy) {
            assert_eq!(r.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
        }
    }
}

#[tokio::test]
async fn a_forwarding_loop_is_detected_even_when_the_viewer_nominates_cdn_loop() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let me = listener.local_addr().unwrap();
    let layer = CdnLayer::builder()
        .origin(Origin::http(format!("http://{me}")).response_timeout(Duration::from_secs(60)))
        .build()
        .unwrap();
    let cache = layer.cache();
    support::start_proxy_on(listener, layer);
    let resp =
        raw(me, b"GET /loop HTTP/1.1\r\nhost: a.test\r\nconnection: close, CDN-Loop, Via\r\ncdn-loop: other\r\n\r\n")
            .await;
    assert_eq!(status_of(&resp), 508, "{resp}");
    // Detected on the first return, not a hop later.
    assert_eq!(cache.stats().origin_fetches, 1);
}

#[tokio::test]
async fn the_smaller_framing_rules_hold_at_the_wire() {
    let origin = RecordingOrigin::start(Arc::new(echo_target)).await;
    let edge = start_proxy(CdnLayer::builder().origin(Origin::http(origin.url())).build().unwrap()).await;
    // HTTP/1.1 without Host: 400 (RFC 9112 §3.2); HTTP/1.0 may omit it.
    let resp = raw(edge, b"GET /nohost HTTP/1.1\r\nconnection: close\r\n\r\n").await;
    assert_eq!(status_of(&resp), 400, "{resp}");
    let resp = raw(edge, b"GET /old HTTP/1.0\r\n\r\n").await;
    assert_eq!(status_of(&resp), 200, "{resp}");
    // Content-Length with Transfer-Encoding: framed by the chunked coding
    // alone (hyper drops the length; RFC 9112 §6.3) and the connection
    // closed after the answer, so the bytes after it are never read as a
    // request. (Servers that keep both fields get 400 from the layer.)
    let resp = raw(
        edge,
        b"POST /cl-te HTTP/1.1\r\nhost: a.test\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: a.test\r\n\r\n",
    )
    .await;
    assert!(matches!(status_of(&resp), 200 | 400), "{resp}");
    assert_eq!(resp.matches("HTTP/1.1 ").count(), 1, "one response, then the connection closed: {resp}");
    let targets: Vec<String> = origin.requests().into_iter().map(|r| r.target).collect();
    assert!(!targets.iter().any(|t| t == "/smuggled"), "{targets:?}");
    // A transfer coding other than chunked: 501 (RFC 9112 §6.1), never
    // passed on as plain content.
    let resp = raw(
        edge,
        b"POST /gz HTTP/1.1\r\nhost: a.test\r\ntransfer-encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 501, "{resp}");
    assert!(resp.contains("detail=transfer-coding"), "{resp}");
    // `chunked` applied twice (RFC 9112 §6.1 forbids it): 501 too.
    for te in ["chunked, chunked", "chunked\r\ntransfer-encoding: chunked"] {
        let req =
            format!("POST /twice HTTP/1.1\r\nhost: a.test\r\ntransfer-encoding: {te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        let resp = raw(edge, req.as_bytes()).await;
        assert_eq!(status_of(&resp), 501, "{te:?}: {resp}");
    }
    // `trace` and `connect` in lower case are refused as their upper-case
    // names are, even by a behavior that allows every method.
    for method in ["trace", "connect", "TRACK"] {
        let req = format!("{method} /m HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n");
        let resp = raw(edge, req.as_bytes()).await;
        assert_eq!(status_of(&resp), 403, "{method}: {resp}");
    }
    // CONNECT: 403 as a method no behavior allows, and the connection
    // closed, so what the client meant for the tunnel is never a request.
    let resp = raw(
        edge,
        b"CONNECT a.test:443 HTTP/1.1\r\nhost: a.test:443\r\n\r\nGET /tunnelled HTTP/1.1\r\nhost: a.test\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 403, "{resp}");
    assert!(resp.contains("detail=method-not-allowed"), "{resp}");
    assert_eq!(resp.matches("HTTP/1.1 ").count(), 1, "{resp}");
    let targets: Vec<String> = origin.requests().into_iter().map(|r| r.target).collect();
    assert!(!targets.iter().any(|t| ["/gz", "/tunnelled", "/twice", "/m"].contains(&t.as_str())), "{targets:?}");
    assert_framing_is_honest(&origin);
}

#[tokio::test]
async fn an_origins_101_without_an_upgrade_is_a_502_not_a_dead_connection() {
    let raw_origin = support::raw::RawOrigin::start(
        b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n".to_vec(),
        true,
    )
    .await;
    let edge = start_proxy(CdnLayer::builder().origin(Origin::http(raw_origin.url())).build().unwrap()).await;
    let resp = get_raw(edge, "/ws").await;
    assert_eq!(status_of(&resp), 502, "{resp}");
}

#[tokio::test]
async fn a_body_the_origin_cuts_short_is_seen_as_cut_by_the_client() {
    for (name, bytes) in [
        (
            "chunked",
            &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncache-control: max-age=60\r\n\r\n5\r\nhello\r\n"[..],
        ),
        ("length", &b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncache-control: max-age=60\r\n\r\nonly ten b"[..]),
    ] {
        let raw_origin = support::raw::RawOrigin::start(bytes.to_vec(), false).await;
        let layer = CdnLayer::builder().origin(Origin::http(raw_origin.url())).build().unwrap();
        let cache = layer.cache();
        let edge = start_proxy(layer).await;
        let resp = get_raw(edge, "/cut").await;
        assert_eq!(status_of(&resp), 200, "{name}: {resp}");
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        let head = head.to_ascii_lowercase();
        if let Some(cl) = head.lines().find_map(|l| l.strip_prefix("content-length: ")) {
            assert!(body.len() < cl.trim().parse::<usize>().unwrap(), "{name}: looked complete: {resp}");
        } else {
            assert!(head.contains("transfer-encoding: chunked"), "{name}: {resp}");
            assert!(!body.ends_with("0\r\n\r\n"), "{name}: a clean end after a cut: {resp}");
        }
        assert!(support::eventually(|| cache.fills_in_flight() == 0).await);
        assert_eq!(cache.len(), 0, "{name}: stored");
    }
}

/// A target that is not a path (the asterisk form, RFC 9112 §3.2.4) is
/// refused before any origin contact: glued to `origin_path` it would name
/// `/public*` (found by the wire fuzz target, with a made-up method).
#[tokio::test]
async fn an_asterisk_target_never_reaches_the_origin() {
    for front in FRONTS {
        let origin = RecordingOrigin::start(Arc::new(echo_target)).await;
        let edge = start(front, layer_to(&origin, "/public")).await;
        for method in ["GET", "OPTIONS", "DELETE", "D`ELEPRI"] {
            let req = format!("{method} * HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n");
            let resp = support::raw::exchange(edge, req.as_bytes()).await;
            assert!(resp.starts_with("HTTP/1.1 400"), "{front:?} {method}: {resp}");
        }
        assert_eq!(origin.count(), 0, "{front:?}: {:?}", origin.requests());
    }
}

/// An answer to HEAD carries no content over HTTP/2 either: the edge's own
/// error pages (a refused path, a HEAD with content, a 502) end the stream
/// with their HEADERS frame, as RFC 9113 §8.1.1 requires, and the
/// connection goes on serving.
#[tokio::test]
async fn answers_to_head_over_h2_end_with_their_headers() {
    let origin = RecordingOrigin::start(Arc::new(echo_target)).await;
    for front in FRONTS {
        let edge = start(front, layer_to(&origin, "")).await;
        let tcp = TcpStream::connect(edge).await.unwrap();
        let (client, conn) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(conn);
        // (path, with a DATA frame, expected status)
        for (path, data, want) in [("/a%5Cb", false, 400), ("/ok", true, 403), ("/fine", false, 200)] {
            let mut client = client.clone().ready().await.unwrap();
            let req = http::Request::head(format!("http://a.test{path}")).body(()).unwrap();
            let (resp, mut send) = client.send_request(req, !data).unwrap();
            if data {
                send.send_data(Bytes::from_static(b"hello"), true).unwrap();
            }
            let resp = resp.await.unwrap();
            assert_eq!(resp.status(), want, "{front:?} {path}");
            // END_STREAM on HEADERS: the body is over before any DATA.
            assert!(resp.body().is_end_stream(), "{front:?} {path}: a HEAD answer with DATA frames");
        }
    }
}

/// Trailers of a viewer's content reach an HTTP/1.1 origin in the chunked
/// coding, declared in `Trailer`; a viewer that takes trailers says so with
/// `te: trailers` (named in `Connection`), and no other `TE` passes.
#[tokio::test]
async fn request_trailers_and_te_reach_an_http1_origin() {
    let origin = RecordingOrigin::start(Arc::new(echo_target)).await;
    let edge = start_proxy(CdnLayer::builder().origin(Origin::http(origin.url())).build().unwrap()).await;
    let resp = raw(
        edge,
        b"POST /rpc HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\nte: gzip, trailers;q=0.5\r\ntrailer: x-checksum, x-forwarded-for, cookie, keep-alive, host\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-checksum: 900150983cd24fb0\r\nx-forwarded-for: 6.6.6.6\r\ncookie: session=victim\r\nkeep-alive: 1\r\nhost: evil.test\r\nx-undeclared: 1\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 200, "{resp}");
    let r = origin.last("/rpc").unwrap();
    assert_eq!(r.body, b"abc");
    assert_eq!(r.header("te").as_deref(), Some("trailers"));
    assert!(r.header("connection").is_some_and(|c| c.to_ascii_lowercase().contains("te")), "{r:?}");
    assert_eq!(r.header("trailer").as_deref(), Some("x-checksum"));
    let wire = String::from_utf8_lossy(&r.body_wire).to_ascii_lowercase();
    assert!(wire.contains("x-checksum: 900150983cd24fb0"), "{wire:?}");
    // What the head may not carry, the tail may not either.
    for name in ["x-forwarded-for", "cookie", "keep-alive", "host", "x-undeclared"] {
        assert!(!wire.contains(&format!("{name}:")), "{name} in {wire:?}");
    }
    // `trailers;q=0` refuses them: no `te` at all.
    let resp = raw(
        edge,
        b"POST /refused HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\nte: trailers;q=0\r\ncontent-length: 1\r\n\r\nx",
    )
    .await;
    assert_eq!(status_of(&resp), 200, "{resp}");
    assert!(!origin.last("/refused").unwrap().has("te"));
    assert_framing_is_honest(&origin);
}

/// A viewer's content that fails on the way (a trailer section over the
/// server's limit) is the viewer's fault: 400, not a 502 blamed on the
/// origin, and not counted as an origin failure.
#[tokio::test]
async fn a_viewers_content_that_fails_on_the_way_is_a_400_not_an_origin_error() {
    let origin = RecordingOrigin::start(Arc::new(echo_target)).await;
    let layer = CdnLayer::builder().origin(Origin::http(origin.url())).build().unwrap();
    let handle = layer.cache();
    let edge = start_proxy(layer).await;
    let mut req = b"POST /big-trailers HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n".to_vec();
    for i in 0..4000 {
        req.extend_from_slice(format!("x-a-{i}: {}\r\n", "v".repeat(20)).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let resp = raw(edge, &req).await;
    assert_eq!(status_of(&resp), 400, "{resp}");
    assert!(resp.contains("detail=request-content-unreadable"), "{resp}");
    assert_eq!(handle.stats().origin_errors, 0);
}
