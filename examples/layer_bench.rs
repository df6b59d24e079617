//! The layer's own cost on a hit, used by `benches/load.sh` (stage `LAYER`):
//! `cargo run --release --example layer_bench -- 127.0.0.1:18089 127.0.0.1:18090`.
//!
//! One process, one multi-thread tokio runtime, two listeners serving the
//! same axum `Router` (`GET /1k`: 1 KiB, `Cache-Control: max-age=3600`,
//! `Content-Type: application/octet-stream`):
//!
//! * the first address (a): the bare router;
//! * the second (b): the router wrapped in `CdnLayer::new(CdnConfig::default())`,
//!   so the app is the origin; after the first request, every `/1k` is a hit.
//!
//! Both sockets get `TCP_NODELAY`, as the dev proxy's do. It prints one
//! `listening on http://ADDR (...)` line per listener, (a) first.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use bytes::Bytes;
use tower_cdn::{CdnConfig, CdnLayer};

static ONE_K: [u8; 1024] = [b'a'; 1024];

async fn one_k() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "max-age=3600"), (header::CONTENT_TYPE, "application/octet-stream")],
        Bytes::from_static(&ONE_K),
    )
}

async fn bind(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let bare_addr = args.next().unwrap_or_else(|| "127.0.0.1:18089".to_owned());
    let cdn_addr = args.next().unwrap_or_else(|| "127.0.0.1:18090".to_owned());

    let app = Router::new().route("/1k", get(one_k));
    let cached = app.clone().layer(CdnLayer::new(CdnConfig::default()));

    let bare = bind(&bare_addr).await?;
    let cdn = bind(&cdn_addr).await?;
    println!("listening on http://{} (a: bare axum)", bare.local_addr()?);
    println!("listening on http://{} (b: axum behind CdnLayer)", cdn.local_addr()?);

    let bare = bare.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let cdn = cdn.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let bare = tokio::spawn(async move { axum::serve(bare, app).await });
    axum::serve(cdn, cached).await?;
    bare.await.map_err(std::io::Error::other)?
}
