//! Programming the edge: a hook at each of CloudFront's four events and in
//! the cache key, a response headers policy and declarative rewrites, in
//! front of an axum app.
//!
//! ```sh
//! cargo run --example edge_hooks                      # listens on 127.0.0.1:3003 (or ADDR)
//! curl -si http://127.0.0.1:3003/old-blog             # 301 from the viewer request hook
//! curl -si http://127.0.0.1:3003/docs/                # rewritten to /docs/index.html
//! curl -si -H 'x-device: phone' http://127.0.0.1:3003/page   # keyed by device; x-edge-device added
//! curl -si -H 'origin: https://app.example' http://127.0.0.1:3003/page   # CORS from the policy
//! ```

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode};
use axum::routing::get;
use bytes::Bytes;
use tower_cdn::{AllowOrigins, CacheHint, CdnLayer, Cors, Hooks, ResponseHeadersPolicy, Rewrite};

/// The edge's program.
fn edge_hooks() -> Hooks {
    Hooks::new()
        // 1. Viewer request: before the lookup. Answer at the edge, or
        //    change the request (a changed target is routed and keyed again).
        .viewer_request(|req| {
            if req.uri.path() == "/old-blog" {
                let mut moved = Response::new(Bytes::from_static(b"moved\n"));
                *moved.status_mut() = StatusCode::MOVED_PERMANENTLY;
                moved.headers_mut().insert("location", HeaderValue::from_static("/blog"));
                return Some(moved);
            }
            req.headers.remove("x-debug");
            None
        })
        // 2. Origin request: on a miss, before the fetch.
        .origin_request(|_uri, headers| {
            headers.insert("x-from-edge", HeaderValue::from_static("1"));
        })
        // 3. Origin response: before the store decision.
        .origin_response(|resp| {
            if resp.status == StatusCode::OK && !resp.headers.contains_key("cache-control") {
                resp.extensions.insert(CacheHint::ttl(Duration::from_secs(30)).tag("pages"));
            }
        })
        // 4. Viewer response: every response, hits included.
        .viewer_response(|req, resp| {
            let device = req.headers.get("x-device").cloned().unwrap_or(HeaderValue::from_static("unknown"));
            resp.headers.insert("x-edge-device", device);
        })
        // The cache key: one entry per device class.
        .cache_key(|req| req.headers.get("x-device").and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase))
}

async fn page(headers: HeaderMap) -> String {
    let from_edge = headers.contains_key("x-from-edge");
    format!("a page (fetched through the edge: {from_edge})\n")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policy = ResponseHeadersPolicy::managed("SecurityHeadersPolicy")
        .ok_or("managed policy")?
        .cors(Cors::new(AllowOrigins::List(vec!["https://app.example".into()])))
        .server_timing(true);
    let layer = CdnLayer::builder()
        .hooks(edge_hooks())
        .rewrite(Rewrite::new().index("index.html").drop_query(["utm_source"]))
        .response_headers_policy(policy)
        // The app is the origin; its pages get a lifetime from the hook.
        .default_ttl(Duration::ZERO)
        .build()?;
    let router = Router::new()
        .route("/page", get(page))
        .route("/blog", get(|| async { "the blog\n" }))
        .route("/docs/index.html", get(|| async { "the docs\n" }));
    // The layer wraps the whole router (not `Router::layer`, which runs
    // after axum has routed): a rewritten path is routed by the app too.
    let app = Router::new().fallback_service(tower::Layer::layer(&layer, router));
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3003".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
