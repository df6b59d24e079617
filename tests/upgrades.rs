//! Upgrades pass through untouched: a WebSocket echo through the layer (the
//! app as origin) and through the dev proxy's accept loop to an HTTP origin,
//! each handshake with its own tunnel, never cached or joined.

mod support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use support::start_proxy;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tower_cdn::{CdnConfig, CdnLayer, Origin};

/// Echoes every text and binary message, prefixed with what the handshake
/// carried (`Origin`, and the first message says so).
async fn echo(ws: WebSocketUpgrade, headers: HeaderMap, seen: Arc<Mutex<Vec<HeaderMap>>>) -> impl IntoResponse {
    seen.lock().unwrap().push(headers);
    ws.on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            let reply = match msg {
                AxMessage::Text(t) => AxMessage::Text(format!("echo {t}").into()),
                AxMessage::Binary(b) => AxMessage::Binary(b),
                AxMessage::Close(_) => break,
                _ => continue,
            };
            if socket.send(reply).await.is_err() {
                break;
            }
        }
    })
}

fn ws_app(seen: Arc<Mutex<Vec<HeaderMap>>>) -> Router {
    Router::new()
        .route("/ws", get(move |ws: WebSocketUpgrade, h: HeaderMap| echo(ws, h, Arc::clone(&seen))))
        .route("/page", get(|| async { ([("cache-control", "max-age=60")], "page") }))
}

async fn serve(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Opens a WebSocket to `url`, checks the handshake went through the
/// cache untouched (`Cache-Status` says upgrade), and echoes `n` messages.
async fn talk(url: &str, who: &str, n: usize) {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("origin", "https://site.test".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.expect("handshake");
    assert_eq!(resp.status(), 101);
    let status = resp.headers().get("cache-status").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(status.contains("detail=upgrade"), "{status}");
    for i in 0..n {
        ws.send(Message::text(format!("{who} {i}"))).await.unwrap();
        let got = ws.next().await.expect("a reply").unwrap();
        assert_eq!(got.into_text().unwrap().as_str(), format!("echo {who} {i}"));
    }
    // Binary frames, larger than one read.
    let blob: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(blob.clone())).await.unwrap();
    let got = ws.next().await.expect("a reply").unwrap();
    assert_eq!(got.into_data().as_ref(), blob.as_slice());
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn a_websocket_tunnels_through_the_layer_to_the_app() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = ws_app(Arc::clone(&seen)).layer(CdnLayer::new(CdnConfig::default()));
    let addr = serve(app).await;
    talk(&format!("ws://{addr}/ws"), "a", 3).await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].get("origin").unwrap(), "https://site.test");
}

#[tokio::test]
async fn a_websocket_tunnels_through_the_proxy_to_an_http_origin() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let origin = serve(ws_app(Arc::clone(&seen))).await;
    // CloudFront mode: only the key's headers pass on GET, but a handshake
    // keeps its own (Sec-WebSocket-*, Origin).
    let layer = CdnLayer::builder().origin(Origin::http(format!("http://{origin}"))).standalone(true).build().unwrap();
    let proxy = start_proxy(layer).await;
    talk(&format!("ws://{proxy}/ws"), "a", 3).await;
    let seen = seen.lock().unwrap();
    let h = &seen[0];
    assert_eq!(h.get("origin").unwrap(), "https://site.test");
    assert!(h.get("sec-websocket-key").is_some());
    assert!(h.get("via").unwrap().to_str().unwrap().contains("tower-cdn"));
}

#[tokio::test]
async fn concurrent_handshakes_on_one_url_each_get_their_own_tunnel() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let origin = serve(ws_app(Arc::clone(&seen))).await;
    let layer = CdnLayer::builder().origin(Origin::http(format!("http://{origin}"))).standalone(true).build().unwrap();
    let proxy = start_proxy(layer).await;
    let url = format!("ws://{proxy}/ws");
    let mut tasks = Vec::new();
    for who in ["a", "b", "c", "d", "e"] {
        let url = url.clone();
        tasks.push(tokio::spawn(async move { talk(&url, who, 5).await }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(seen.lock().unwrap().len(), 5, "every handshake reached the origin");
    // The cache still works on the same proxy.
    let c = support::client();
    let r = c.get(format!("http://{proxy}/page")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "page");
}

#[tokio::test]
async fn an_origin_that_refuses_the_upgrade_is_answered_as_is() {
    // The origin has no WebSocket at /page: it answers 200, not 101.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let origin = serve(ws_app(seen)).await;
    let layer = CdnLayer::builder().origin(Origin::http(format!("http://{origin}"))).standalone(true).build().unwrap();
    let proxy = start_proxy(layer).await;
    let err = tokio_tungstenite::connect_async(format!("ws://{proxy}/page")).await.unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 200),
        other => panic!("expected the origin's answer, got {other:?}"),
    }
}

/// Only WebSocket handshakes are tunnelled: an `h2c` upgrade reaching the
/// origin would give the viewer an HTTP/2 connection to it past every
/// behavior ("h2c smuggling"). The origin sees no `Upgrade` and answers
/// as to a plain GET.
#[tokio::test]
async fn an_h2c_upgrade_is_never_passed_to_the_origin() {
    let origin = support::Origin::start().await;
    origin.route("/s", support::Reply::ok("plain"));
    let layer = CdnLayer::builder().origin(Origin::http(origin.url())).standalone(true).build().unwrap();
    let proxy = start_proxy(layer).await;
    let resp = support::raw::exchange(
        proxy,
        b"GET /s HTTP/1.1\r\nhost: a\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQAAP__\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let seen = origin.last_headers("/s").unwrap();
    assert!(seen.get("upgrade").is_none() && seen.get("http2-settings").is_none(), "{seen:?}");
}
