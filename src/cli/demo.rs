//! The built-in demo origin the dev proxy fronts when no `--origin` is given.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;

const INDEX: &str = "tower-cdn demo origin\n\
\n\
Paths (fetch each twice through the proxy and watch Cache-Status / X-Cache):\n\
  /hello    text, Cache-Control: max-age=60\n\
  /time     the origin's clock, max-age=5 (goes stale quickly)\n\
  /default  no caching headers: the default TTL applies\n\
  /private  Cache-Control: private (never shared)\n\
  /nostore  Cache-Control: no-store\n\
  /stream   ten chunks, 200 ms apart (streams while it fills)\n\
  /big      1 MiB of bytes\n";

/// The demo origin's routes.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { cached(INDEX, "max-age=60") }))
        .route("/hello", get(|| async { cached("hello from the demo origin\n", "max-age=60") }))
        .route(
            "/time",
            get(|| async { cached(format!("{}\n", httpdate::fmt_http_date(SystemTime::now())), "max-age=5") }),
        )
        .route("/default", get(|| async { "no caching headers here\n" }))
        .route("/private", get(|| async { cached("for one user only\n", "private") }))
        .route("/nostore", get(|| async { cached("never stored\n", "no-store") }))
        .route("/big", get(|| async { cached(vec![b'x'; 1 << 20], "max-age=300") }))
        .route("/stream", get(stream))
}

fn cached(body: impl Into<Body>, cache_control: &'static str) -> Response {
    let mut resp = Response::new(body.into());
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

async fn stream() -> impl IntoResponse {
    let chunks = futures_util::stream::unfold(0u32, |i| async move {
        if i >= 10 {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(format!("chunk {i}\n"))), i + 1))
    });
    let mut resp = cached(Body::from_stream(chunks), "max-age=60");
    *resp.status_mut() = StatusCode::OK;
    resp
}

/// Starts the demo origin on an ephemeral loopback port.
pub async fn spawn() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router()).await {
            tracing::error!(error = %e, "demo origin stopped");
        }
    });
    Ok(addr)
}
