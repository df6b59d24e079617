//! `examples/app_routes.rs` (a login, a per-user page, a WebSocket, an
//! SSE route, a gRPC method and shared assets behind the default layer) works unchanged
//! behind the layer, and no user's response reaches another.

#[allow(dead_code)]
#[path = "../examples/app_routes.rs"]
mod example;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

async fn serve() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, example::app()).await.unwrap() });
    addr
}

fn client() -> reqwest::Client {
    // rustls 0.23.48 deprecates ring for its lack of post-quantum key
    // exchange; ring keeps the build free of a C toolchain (aws-lc).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test]
async fn the_example_app_works_behind_the_layer_and_keeps_users_apart() {
    let addr = serve().await;
    let c = client();
    let base = format!("http://{addr}");
    let login = c.post(format!("{base}/login")).body("name=alice").send().await.unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    assert_eq!(cookie, "session=alice");
    for _ in 0..2 {
        let me = c.get(format!("{base}/me")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(me.text().await.unwrap(), "hello alice");
        let anon = c.get(format!("{base}/me")).send().await.unwrap();
        assert_eq!(anon.text().await.unwrap(), "hello stranger");
    }
    // Shared assets are shared, with or without a session.
    c.get(format!("{base}/assets/logo.svg")).send().await.unwrap();
    let hit = c.get(format!("{base}/assets/logo.svg")).header("cookie", &cookie).send().await.unwrap();
    let status = hit.headers().get("cache-status").unwrap().to_str().unwrap().to_owned();
    assert!(status.contains("hit"), "{status}");
    // The hint is the edge's; the browser sees the app's own header.
    c.get(format!("{base}/price")).send().await.unwrap();
    let price = c.get(format!("{base}/price")).send().await.unwrap();
    assert_eq!(price.headers().get("cache-control").unwrap(), "no-cache");
    assert!(price.headers().get("cache-status").unwrap().to_str().unwrap().contains("hit"));
    // Events per viewer.
    let mine = c.get(format!("{base}/events")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(mine.text().await.unwrap(), "data: hello alice\n\n");
    let theirs = c.get(format!("{base}/events")).send().await.unwrap();
    assert_eq!(theirs.text().await.unwrap(), "data: hello stranger\n\n");
    // The WebSocket echoes through the layer.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.unwrap();
    ws.send(Message::text("ping")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap().into_text().unwrap().as_str(), "ping");
    // gRPC over h2c: each call answers its own caller.
    let channel = tonic::transport::Channel::from_shared(base.clone()).unwrap().connect().await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    for (session, want) in [(Some("session=alice"), "hi alice"), (None, "hi stranger"), (Some("session=bob"), "hi bob")]
    {
        let mut req = tonic::Request::new(bytes::Bytes::from_static(b"hi"));
        if let Some(s) = session {
            req.metadata_mut().insert("cookie", s.parse().unwrap());
        }
        grpc.ready().await.unwrap();
        let path = http::uri::PathAndQuery::from_static(example::GREET);
        let resp: tonic::Response<bytes::Bytes> = grpc.unary(req, path, example::Raw).await.unwrap();
        assert_eq!(resp.into_inner().as_ref(), want.as_bytes());
    }
}
