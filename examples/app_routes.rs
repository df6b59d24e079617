//! An app with a login, a per-user page, a WebSocket, server-sent events,
//! a gRPC method and static assets, behind `CdnLayer::new(CdnConfig::default())` as the
//! README's quickstart puts it. Nothing in the app knows about the cache:
//! only what it marks `public` (or hints with `CacheHint`) is shared.
//!
//! ```sh
//! cargo run --example app_routes     # listens on ADDR (default 127.0.0.1:3002)
//! curl -si -c jar -d name=alice http://127.0.0.1:3002/login
//! curl -si -b jar http://127.0.0.1:3002/me          # hello alice, never shared
//! curl -si http://127.0.0.1:3002/assets/logo.svg    # miss, then hit
//! ```

use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::Redirect;
use axum::routing::{get, post};
use bytes::{Buf, BufMut, Bytes};
use tower_cdn::{CacheHint, CdnConfig, CdnLayer};

fn user(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').find_map(|c| c.trim().strip_prefix("session=").map(str::to_owned))
}

/// The app, with the layer in front of it.
pub fn app() -> Router {
    Router::new()
        .route(
            "/login",
            post(|form: String| async move {
                // `name=alice` (a form post); names are letters only here.
                let name: String =
                    form.strip_prefix("name=").unwrap_or("").chars().filter(char::is_ascii_alphabetic).collect();
                let cookie = format!("session={name}; HttpOnly; Path=/");
                ([(header::SET_COOKIE, cookie)], Redirect::to("/me"))
            }),
        )
        // Personal, and says nothing about caching: never shared.
        .route(
            "/me",
            get(|headers: HeaderMap| async move {
                match user(&headers) {
                    Some(name) => format!("hello {name}"),
                    None => "hello stranger".to_owned(),
                }
            }),
        )
        // The same for everyone: shared for an hour, cookies or not.
        .route("/assets/logo.svg", get(|| async { ([(header::CACHE_CONTROL, "public, max-age=3600")], "<svg/>") }))
        // Shared for 30 s by a typed hint; browsers are told not to cache.
        .route(
            "/price",
            get(|| async { (CacheHint::ttl(Duration::from_secs(30)), [(header::CACHE_CONTROL, "no-cache")], "42") }),
        )
        .route("/ws", get(|ws: WebSocketUpgrade| async move { ws.on_upgrade(echo) }))
        .route(
            "/events",
            get(|headers: HeaderMap| async move {
                let who = user(&headers).unwrap_or_else(|| "stranger".to_owned());
                ([(header::CONTENT_TYPE, "text/event-stream")], format!("data: hello {who}\n\n"))
            }),
        )
        // gRPC (HTTP/2, trailers): `greet.Greeter/Hello` answers the
        // session's user, per call.
        .route(
            GREET,
            post(|req: axum::extract::Request| async move {
                let who = user(req.headers()).unwrap_or_else(|| "stranger".to_owned());
                let hello = tower::service_fn(move |msg: tonic::Request<Bytes>| {
                    let reply = format!("{} {who}", String::from_utf8_lossy(msg.get_ref()));
                    async move { Ok::<_, tonic::Status>(tonic::Response::new(Bytes::from(reply))) }
                });
                tonic::server::Grpc::new(Raw).unary(hello, req).await
            }),
        )
        .layer(CdnLayer::new(CdnConfig::default()))
}

/// The gRPC method's path.
pub const GREET: &str = "/greet.Greeter/Hello";

/// gRPC messages as raw bytes (an app would use prost's generated code).
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw;

impl tonic::codec::Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl tonic::codec::Encoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(msg)) = socket.recv().await {
        let reply = match msg {
            Message::Text(t) => Message::Text(t),
            Message::Binary(b) => Message::Binary(b),
            Message::Close(_) => break,
            _ => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}

#[allow(dead_code)] // The tests include this file for `app()` alone.
#[tokio::main]
async fn main() {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3002".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind ADDR");
    println!("listening on http://{}", listener.local_addr().expect("an address"));
    axum::serve(listener, app()).await.expect("serve");
}
