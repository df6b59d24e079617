//! gRPC passes through untouched: tonic unary and server-streaming calls
//! through the layer (the app as origin) and through the dev proxy's accept
//! loop to an HTTP/2 origin. Metadata reaches the server, trailers
//! (`grpc-status`, a status message, custom metadata) reach the client, and
//! every call is answered by the server itself: never stored, never joined.

mod support;

// The app example's codec: messages as raw bytes, no protobuf needed to
// exercise the framing.
#[allow(dead_code)]
#[path = "../examples/app_routes.rs"]
mod example;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use example::Raw;
use futures_util::Stream;
use http::uri::PathAndQuery;
use support::start_proxy;
use tonic::{Code, Request, Response, Status};
use tower_cdn::{CdnConfig, CdnLayer, Origin};

const SAY: &str = "/echo.Echo/Say";
const COUNT: &str = "/echo.Echo/Count";
const FAIL: &str = "/echo.Echo/Fail";

type Messages = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>;

/// An echo service written as tonic's generated code is: `Say` answers
/// `hello <message> from <x-user>` with metadata (the call's number, and
/// the `TE` the server received), `Count` streams
/// `<message> 0..n`, `Fail` answers with an error status. Every call counts.
fn grpc_app(calls: Arc<AtomicUsize>) -> Router {
    let say_calls = Arc::clone(&calls);
    let count_calls = Arc::clone(&calls);
    let fail_calls = calls;
    Router::new()
        .route(
            SAY,
            post(move |req: axum::extract::Request| {
                let calls = Arc::clone(&say_calls);
                // What the server received as `TE` (gRPC servers such as
                // grpc-go refuse a call without `te: trailers`).
                let te = req.headers().get("te").cloned();
                async move {
                    let svc = tower::service_fn(move |req: Request<Bytes>| {
                        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                        let te = te.clone();
                        async move {
                            let user = req
                                .metadata()
                                .get("x-user")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("nobody")
                                .to_owned();
                            let msg = String::from_utf8_lossy(req.get_ref()).into_owned();
                            let mut resp = Response::new(Bytes::from(format!("hello {msg} from {user}")));
                            resp.metadata_mut().insert("x-call", n.to_string().parse().unwrap());
                            if let Some(te) = te {
                                resp.metadata_mut().insert("x-te", te.to_str().unwrap().parse().unwrap());
                            }
                            Ok::<_, Status>(resp)
                        }
                    });
                    tonic::server::Grpc::new(Raw).unary(svc, req).await
                }
            }),
        )
        .route(
            COUNT,
            post(move |req: axum::extract::Request| {
                let calls = Arc::clone(&count_calls);
                async move {
                    let svc = tower::service_fn(move |req: Request<Bytes>| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        async move {
                            let msg = String::from_utf8_lossy(req.get_ref()).into_owned();
                            let stream: Messages = Box::pin(futures_util::stream::iter(
                                (0..5).map(move |i| Ok(Bytes::from(format!("{msg} {i}")))),
                            ));
                            Ok::<_, Status>(Response::new(stream))
                        }
                    });
                    tonic::server::Grpc::new(Raw).server_streaming(svc, req).await
                }
            }),
        )
        .route(
            FAIL,
            post(move |req: axum::extract::Request| {
                let calls = Arc::clone(&fail_calls);
                async move {
                    let svc = tower::service_fn(move |_req: Request<Bytes>| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        async move { Err::<Response<Bytes>, _>(Status::permission_denied("not yours")) }
                    });
                    tonic::server::Grpc::new(Raw).unary(svc, req).await
                }
            }),
        )
}

async fn serve(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // axum::serve speaks HTTP/1.1 and h2c (prior knowledge), as gRPC needs.
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

async fn client(addr: std::net::SocketAddr) -> tonic::client::Grpc<tonic::transport::Channel> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    tonic::client::Grpc::new(channel)
}

async fn say(grpc: &mut tonic::client::Grpc<tonic::transport::Channel>, msg: &str, user: &str) -> Response<Bytes> {
    grpc.ready().await.unwrap();
    let mut req = Request::new(Bytes::from(msg.to_owned()));
    req.metadata_mut().insert("x-user", user.parse().unwrap());
    grpc.unary(req, PathAndQuery::from_static(SAY), Raw).await.expect("unary call")
}

/// The calls every test makes, against `addr` (the layer or the proxy).
async fn exercise(addr: std::net::SocketAddr, calls: &AtomicUsize) {
    let mut grpc = client(addr).await;

    // Unary: metadata in, message and trailing metadata out; the same call
    // twice, and from another user, each reaches the server.
    for (i, user) in ["ann", "ann", "bob"].into_iter().enumerate() {
        let resp = say(&mut grpc, "world", user).await;
        assert_eq!(resp.get_ref().as_ref(), format!("hello world from {user}").as_bytes());
        assert_eq!(resp.metadata().get("x-call").unwrap(), (i + 1).to_string().as_str());
        assert_eq!(resp.metadata().get("x-te").map(|v| v.to_str().unwrap()), Some("trailers"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // Server streaming: every message, in order, then the status.
    grpc.ready().await.unwrap();
    let resp =
        grpc.server_streaming(Request::new(Bytes::from_static(b"n")), PathAndQuery::from_static(COUNT), Raw).await;
    let mut stream = resp.expect("streaming call").into_inner();
    let mut got = Vec::new();
    while let Some(msg) = stream.message().await.expect("a message or the end") {
        got.push(String::from_utf8(msg.to_vec()).unwrap());
    }
    assert_eq!(got, ["n 0", "n 1", "n 2", "n 3", "n 4"]);
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    // An error status travels in the trailers (or a trailers-only answer).
    grpc.ready().await.unwrap();
    let err = grpc
        .unary::<_, Bytes, _>(Request::new(Bytes::from_static(b"x")), PathAndQuery::from_static(FAIL), Raw)
        .await
        .expect_err("the server refuses");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert_eq!(err.message(), "not yours");
    assert_eq!(calls.load(Ordering::SeqCst), 5);

    // Eight identical calls at once: eight server calls, eight answers.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut grpc = grpc.clone();
        tasks.push(tokio::spawn(async move { say(&mut grpc, "again", "cat").await.into_inner() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().as_ref(), b"hello again from cat");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 13);
}

#[tokio::test]
async fn grpc_calls_pass_through_the_layer_to_the_app() {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = grpc_app(Arc::clone(&calls)).layer(CdnLayer::new(CdnConfig::default()));
    let addr = serve(app).await;
    exercise(addr, &calls).await;
}

#[tokio::test]
async fn grpc_calls_pass_through_the_proxy_to_an_http2_origin() {
    let calls = Arc::new(AtomicUsize::new(0));
    let origin = serve(grpc_app(Arc::clone(&calls))).await;
    let layer = CdnLayer::builder()
        .origin(Origin::http(format!("http://{origin}")).http2(true))
        .standalone(true)
        .build()
        .unwrap();
    let proxy = start_proxy(layer).await;
    exercise(proxy, &calls).await;
}

#[tokio::test]
async fn grpc_calls_pass_through_a_proxy_configured_by_file() {
    let calls = Arc::new(AtomicUsize::new(0));
    let origin = serve(grpc_app(Arc::clone(&calls))).await;
    let toml = format!(
        r#"
[[distributions]]
id = "grpc"

[distributions.origins.api]
kind = "http"
url = "http://{origin}"
http2 = true

[distributions.default_behavior]
origin = "api"
allowed_methods = "all"
"#
    );
    let file = tower_cdn::config::from_toml_str(&toml, "grpc.toml").unwrap();
    let layer = file.builder().standalone(true).build().unwrap();
    let proxy = start_proxy(layer).await;
    exercise(proxy, &calls).await;
}

/// Request trailers (a client-streaming gRPC call ends with them) reach an
/// HTTP/2 origin through the proxy, and the origin's trailers come back, on
/// a raw h2 connection so nothing but the proxy can add or drop a frame.
#[tokio::test]
async fn request_trailers_reach_an_http2_origin_through_the_proxy() {
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::Frame;
    let origin = serve(Router::new().route(
        "/t",
        post(|req: axum::extract::Request| async move {
            let te = req.headers().get("te").cloned();
            let collected = req.into_body().collect().await.unwrap();
            let asked = collected.trailers().and_then(|t| t.get("x-request-trailer")).cloned();
            let forbidden =
                collected.trailers().is_some_and(|t| t.contains_key("x-forwarded-for") || t.contains_key("cookie"));
            let data = collected.to_bytes();
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            trailers.insert("x-echo", asked.unwrap_or_else(|| "none".parse().unwrap()));
            trailers.insert("x-te", te.unwrap_or_else(|| "none".parse().unwrap()));
            trailers.insert("x-forbidden-seen", if forbidden { "yes" } else { "no" }.parse().unwrap());
            let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> =
                vec![Ok(Frame::data(data)), Ok(Frame::trailers(trailers))];
            let mut resp =
                http::Response::new(axum::body::Body::new(StreamBody::new(futures_util::stream::iter(frames))));
            resp.headers_mut().insert("content-type", "application/grpc".parse().unwrap());
            resp
        }),
    ))
    .await;
    let layer = CdnLayer::builder()
        .origin(Origin::http(format!("http://{origin}")).http2(true))
        .standalone(true)
        .build()
        .unwrap();
    let proxy = start_proxy(layer).await;
    let tcp = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    for _ in 0..2 {
        let mut client = client.clone().ready().await.unwrap();
        let req = http::Request::post(format!("http://{proxy}/t"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("trailer", "x-request-trailer, x-forwarded-for, cookie")
            .body(())
            .unwrap();
        let (resp, mut send) = client.send_request(req, false).unwrap();
        send.send_data(Bytes::from_static(b"\0\0\0\0\x02hi"), false).unwrap();
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-request-trailer", "from-client".parse().unwrap());
        // Fields the head may not carry to the origin: not in the tail either.
        trailers.insert("x-forwarded-for", "6.6.6.6".parse().unwrap());
        trailers.insert("cookie", "session=victim".parse().unwrap());
        send.send_trailers(trailers).unwrap();
        let resp = resp.await.unwrap();
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut data = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            body.flow_control().release_capacity(chunk.len()).unwrap();
            data.extend_from_slice(&chunk);
        }
        assert_eq!(data, b"\0\0\0\0\x02hi");
        let trailers = body.trailers().await.unwrap().expect("trailers reach the client");
        assert_eq!(trailers.get("grpc-status").unwrap(), "0");
        assert_eq!(trailers.get("x-echo").unwrap(), "from-client");
        assert_eq!(trailers.get("x-te").unwrap(), "trailers");
        assert_eq!(trailers.get("x-forbidden-seen").unwrap(), "no");
    }
}

/// An HTTP/1.1 viewer's trailer section may hold what HTTP/2 forbids (a
/// connection-specific field): toward an HTTP/2 origin it is dropped, not
/// sent (hyper would stall the stream until the response timeout).
#[tokio::test]
async fn an_http1_viewers_connection_trailer_does_not_stall_an_http2_origin() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let origin = serve(
        Router::new().route("/t", post(|body: Bytes| async move { format!("got {}", String::from_utf8_lossy(&body)) })),
    )
    .await;
    let layer = CdnLayer::builder()
        .origin(Origin::http(format!("http://{origin}")).http2(true))
        .standalone(true)
        .build()
        .unwrap();
    let proxy = start_proxy(layer).await;
    let mut s = tokio::net::TcpStream::connect(proxy).await.unwrap();
    s.write_all(
        b"POST /t HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\ntrailer: keep-alive, connection, x-ok\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nkeep-alive: 1\r\nconnection: close\r\nx-ok: 1\r\n\r\n",
    )
    .await
    .unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("got abc"), "{resp}");
}
