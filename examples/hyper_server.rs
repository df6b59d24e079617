//! A bare hyper 1 server with the CDN layer in front of a handler.
//!
//! Run: `cargo run --example hyper_server`, then `curl -si http://127.0.0.1:3001/` twice.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tower::Layer;
use tower_cdn::{CdnConfig, CdnLayer};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let renders = Arc::new(AtomicUsize::new(0));
    let handler = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
        let n = renders.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let body = format!("rendered {} (render #{n})\n", req.uri().path());
            let mut resp = Response::new(Full::new(Bytes::from(body)));
            resp.headers_mut().insert("cache-control", http::HeaderValue::from_static("max-age=30"));
            Ok::<_, Infallible>(resp)
        }
    });
    // The handler itself is the origin: its responses are cached for 30 s.
    let service = CdnLayer::new(CdnConfig::default()).layer(handler);

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3001".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}
