//! An axum app behind the CDN layer: its own pages are cached, and `/assets`
//! come from a separate HTTP origin through a second layer.
//!
//! Run: `cargo run --example axum_app`, then try
//! `curl -si http://127.0.0.1:3002/` and `curl -si http://127.0.0.1:3002/assets/logo.txt` twice each.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tower_cdn::{CdnConfig, CdnLayer, Origin};

async fn home() -> impl IntoResponse {
    ([("cache-control", "max-age=60")], "welcome home\n")
}

/// A stand-in for an asset server (in real life: a bucket or a static host).
async fn start_asset_origin() -> std::io::Result<String> {
    let assets =
        Router::new().route("/assets/logo.txt", get(|| async { ([("cache-control", "max-age=3600")], "(a logo)\n") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, assets).await });
    Ok(url)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let asset_origin = start_asset_origin().await?;

    // `/assets/*` is fetched from the asset origin and cached.
    let assets =
        CdnLayer::builder().origin(Origin::http(asset_origin).response_timeout(Duration::from_secs(5))).build()?;
    let asset_routes =
        Router::new().route("/assets/{*path}", get(|| async { StatusCode::NOT_FOUND })).route_layer(assets);

    // Everything else is the app's own pages, cached by a second layer.
    let app = Router::new().route("/", get(home)).route_layer(CdnLayer::new(CdnConfig::default())).merge(asset_routes);

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3002".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
