//! HTTP/3 (`tower_cdn::cli::h3`): one `CdnLayer` served over QUIC and over
//! the TCP accept loop at once, driven by a real HTTP/3 client (h3 +
//! h3-quinn over quinn, trusting a self-signed certificate) and reqwest.
//! (Debian's curl is built without HTTP/3.)
#![cfg(feature = "http3")]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::BodyExt as _;
use support::h3::{H3Client, NAME, self_signed};
use support::wire::{Recorded, RecordingOrigin, response};
use support::{Origin, Reply, cache_status, client};
use tokio::sync::oneshot;
use tower_cdn::cli::h3::{AltSvcLayer, H3Options, RequestBody, serve_h3};
use tower_cdn::cli::serve::{ServeOptions, serve};
use tower_cdn::{CdnLayer, Origin as CdnOrigin};
use tower_layer::Layer as _;

/// One layer behind both servers: HTTP/1.1 on TCP (advertising HTTP/3)
/// and HTTP/3 on UDP.
struct Edge {
    tcp: SocketAddr,
    h3: SocketAddr,
    cert: rustls::pki_types::CertificateDer<'static>,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Edge {
    async fn start(layer: CdnLayer) -> Self {
        let (tls, cert) = self_signed();
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let h3 = socket.local_addr().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = listener.local_addr().unwrap();
        let tcp_service = AltSvcLayer::new(h3.port()).layer(layer.layer(tower::service_fn(no_app)));
        tokio::spawn(serve(listener, tcp_service, ServeOptions::default(), std::future::pending()));
        let (stop, stopped) = oneshot::channel();
        let h3_service = layer.layer(tower::service_fn(no_app));
        let shutdown = async move {
            let _ = stopped.await;
        };
        let served = tokio::spawn(serve_h3(socket, tls, h3_service, H3Options::default(), shutdown));
        Edge { tcp, h3, cert, stop: Some(stop), served }
    }

    async fn client(&self) -> H3Client {
        H3Client::connect(self.h3, &self.cert).await
    }

    /// Requests shutdown and waits (bounded) for `serve_h3` to return.
    async fn shut_down(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let done = tokio::time::timeout(Duration::from_secs(30), self.served).await;
        done.expect("serve_h3 returned after shutdown").unwrap().unwrap();
    }
}

async fn no_app<B>(_req: Request<B>) -> Result<Response<http_body_util::Full<Bytes>>, Infallible> {
    let mut r = Response::new(http_body_util::Full::new(Bytes::from_static(b"no app\n")));
    *r.status_mut() = http::StatusCode::NOT_FOUND;
    Ok(r)
}

fn layer_for(url: String) -> CdnLayer {
    CdnLayer::builder().origin(CdnOrigin::http(url)).build().unwrap()
}

/// A body no chunking can fake: each byte depends on its offset.
fn pattern(len: usize) -> Bytes {
    (0..len).map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8).collect::<Vec<u8>>().into()
}

#[tokio::test]
async fn a_miss_over_http1_is_a_hit_over_http3() {
    let origin = Origin::start().await;
    origin.route("/shared", Reply::ok("one object, two protocols").header("cache-control", "max-age=60"));
    let edge = Edge::start(layer_for(origin.url())).await;

    let r1 = client().get(format!("http://{}/shared", edge.tcp)).header("host", NAME).send().await.unwrap();
    assert!(cache_status(&r1).contains("fwd=uri-miss"), "{}", cache_status(&r1));
    assert_eq!(r1.headers()["alt-svc"], format!("h3=\":{}\"; ma=86400", edge.h3.port()));
    assert_eq!(r1.text().await.unwrap(), "one object, two protocols");
    assert_eq!(origin.hits("/shared"), 1);

    let h3 = edge.client().await;
    let r2 = h3.get("/shared").await;
    assert_eq!(r2.status(), 200);
    assert_eq!(r2.head.version(), http::Version::HTTP_3);
    assert!(r2.header("cache-status").starts_with("tower-cdn; hit"), "{}", r2.header("cache-status"));
    assert_eq!(r2.header("alt-svc"), "", "an HTTP/3 response does not advertise itself");
    assert_eq!(r2.body, "one object, two protocols");
    assert_eq!(origin.hits("/shared"), 1, "the origin saw exactly one request");
    edge.shut_down().await;
}

#[tokio::test]
async fn a_large_miss_streams_byte_exact_over_http3_and_is_stored() {
    let body = pattern(5 * 1024 * 1024 + 7);
    let origin = Origin::start().await;
    origin.route("/big", Reply::ok(body.clone()).header("cache-control", "max-age=60").chunks(vec![64 * 1024, 1000]));
    let layer = CdnLayer::builder()
        .origin(CdnOrigin::http(origin.url()))
        .capacity_bytes(64 * 1024 * 1024)
        .max_entry_bytes(16 * 1024 * 1024)
        .build()
        .unwrap();
    let edge = Edge::start(layer).await;
    let h3 = edge.client().await;

    let miss = h3.get("/big").await;
    assert_eq!(miss.status(), 200);
    assert!(miss.header("cache-status").contains("fwd=uri-miss"), "{}", miss.header("cache-status"));
    assert_eq!(miss.body.len(), body.len());
    assert!(miss.body == body, "the streamed bytes equal the origin's");

    assert!(support::eventually(|| origin.hits("/big") == 1).await);
    let hit = h3.get("/big").await;
    assert!(hit.header("cache-status").starts_with("tower-cdn; hit"), "{}", hit.header("cache-status"));
    assert!(hit.body == body, "the stored bytes equal the origin's");
    assert_eq!(origin.hits("/big"), 1);
    edge.shut_down().await;
}

#[tokio::test]
async fn a_post_body_reaches_the_origin_byte_exact() {
    let origin = RecordingOrigin::start(Arc::new(|r: &Recorded| {
        response(200, &[("cache-control", "no-store")], format!("got {} bytes", r.body.len()).as_bytes())
    }))
    .await;
    let edge = Edge::start(layer_for(origin.url())).await;
    let h3 = edge.client().await;
    let upload = pattern(300 * 1024 + 3);

    let req = Request::post(format!("https://{NAME}/upload"))
        .header("content-length", upload.len())
        .header("content-type", "application/octet-stream")
        .body(())
        .unwrap();
    let resp = h3.request(req, Some(upload.clone())).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body, format!("got {} bytes", upload.len()));
    let seen = origin.last("/upload").expect("the origin saw the POST");
    assert_eq!(seen.method, "POST");
    assert!(seen.body == upload, "the origin received the bytes the client sent");

    // Without Content-Length: the origin gets it chunked, still exact.
    let req = Request::post(format!("https://{NAME}/upload")).body(()).unwrap();
    let resp = h3.request(req, Some(upload.clone())).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(origin.last("/upload").unwrap().body == upload);
    edge.shut_down().await;
}

#[tokio::test]
async fn concurrent_http3_misses_for_one_key_make_one_origin_fetch() {
    let origin = Origin::start().await;
    // The delay only makes the requests overlap; a request that comes
    // after the fill is a hit, so the count holds either way.
    origin.route(
        "/cold",
        Reply::ok(pattern(200_000)).header("cache-control", "max-age=60").head_delay(Duration::from_millis(300)),
    );
    let edge = Edge::start(layer_for(origin.url())).await;
    let h3 = edge.client().await;

    let gets = (0..20).map(|_| {
        let h3 = h3.clone();
        tokio::spawn(async move { h3.get("/cold").await })
    });
    let responses = futures_util::future::join_all(gets).await;
    for r in responses {
        let r = r.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.body == pattern(200_000));
    }
    assert_eq!(origin.hits("/cold"), 1, "twenty concurrent requests, one origin fetch");
    edge.shut_down().await;
}

#[tokio::test]
async fn a_request_target_over_8_kib_gets_414() {
    let origin = Origin::start().await;
    let edge = Edge::start(layer_for(origin.url())).await;
    let h3 = edge.client().await;
    let long = format!("/{}", "a".repeat(9 * 1024));
    let r = h3.get(&long).await;
    assert_eq!(r.status(), 414);
    assert_eq!(origin.total_hits(), 0);
    // The connection is still usable.
    assert_eq!(h3.get("/short").await.status(), 404);
    edge.shut_down().await;
}

#[tokio::test]
async fn trailers_cross_in_both_directions() {
    // A bare service (no cache): it echoes the request's trailer and
    // content length in response trailers after streaming a body.
    let svc = tower::service_fn(|req: Request<RequestBody>| async move {
        let collected = req.into_body().collect().await.unwrap();
        let echoed = collected.trailers().and_then(|t| t.get("x-checksum")).cloned();
        let len = collected.to_bytes().len();
        let mut trailers = HeaderMap::new();
        trailers.insert("x-received", HeaderValue::from(len));
        if let Some(v) = echoed {
            trailers.insert("x-checksum", v);
        }
        let frames = vec![
            Ok::<_, Infallible>(http_body::Frame::data(Bytes::from_static(b"part one, "))),
            Ok(http_body::Frame::data(Bytes::from_static(b"part two"))),
            Ok(http_body::Frame::trailers(trailers)),
        ];
        let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
        Ok::<_, Infallible>(Response::new(body))
    });
    let (tls, cert) = self_signed();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(serve_h3(socket, tls, svc, H3Options::default(), std::future::pending()));
    let h3 = H3Client::connect(addr, &cert).await;

    let mut send = h3.sender();
    let mut stream = send.send_request(Request::post(format!("https://{NAME}/t")).body(()).unwrap()).await.unwrap();
    stream.send_data(Bytes::from_static(b"12345")).await.unwrap();
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    stream.send_trailers(trailers).await.unwrap();
    stream.finish().await.unwrap();
    let resp = support::h3::read_response(&mut stream).await.unwrap();
    assert_eq!(resp.body, "part one, part two");
    let t = resp.trailers.expect("response trailers");
    assert_eq!(t["x-received"], "5");
    assert_eq!(t["x-checksum"], "abc");
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let origin = Origin::start().await;
    origin.route("/slow", Reply::ok("late but whole").head_delay(Duration::from_millis(500)));
    let edge = Edge::start(layer_for(origin.url())).await;
    let h3 = edge.client().await;
    let in_flight = tokio::spawn({
        let h3 = h3.clone();
        async move { h3.get("/slow").await }
    });
    assert!(support::eventually(|| origin.hits("/slow") == 1).await);
    edge.shut_down().await;
    let r = in_flight.await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.body, "late but whole");
}

#[tokio::test]
async fn a_get_with_content_gets_403_and_one_without_is_served() {
    let origin = Origin::start().await;
    origin.route("/g", Reply::ok("g").header("cache-control", "max-age=60"));
    let edge = Edge::start(layer_for(origin.url())).await;
    let h3 = edge.client().await;
    // HTTP/3 has no END_STREAM on HEADERS: the server reads to the first
    // DATA frame or the stream's end before the edge decides.
    let with_content = Request::get(format!("https://{NAME}/g")).body(()).unwrap();
    let r = h3.request(with_content, Some(Bytes::from_static(b"content"))).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(origin.total_hits(), 0);
    assert_eq!(h3.get("/g").await.status(), 200);
    edge.shut_down().await;
}

#[tokio::test]
async fn a_post_shorter_than_its_content_length_never_reaches_the_origin_whole() {
    let origin = RecordingOrigin::start(Arc::new(|_: &Recorded| response(200, &[], b"ok"))).await;
    let edge = Edge::start(layer_for(origin.url())).await;
    let h3 = edge.client().await;
    let req = Request::post(format!("https://{NAME}/lying")).header("content-length", "100").body(()).unwrap();
    let r = h3.request(req, Some(pattern(50))).await;
    let status = r.map(|r| r.status()).unwrap_or(0);
    assert_ne!(status, 200, "a malformed request is not answered as if it were whole");
    for seen in origin.requests() {
        assert!(seen.truncated, "the origin saw a request it could take for whole: {seen:?}");
    }
    edge.shut_down().await;
}
