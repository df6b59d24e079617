//! Run: `source .ci/s3.sh && cargo run --example per_route_origins` (add `-- --once` to run the self-check and exit).
//!
//! One distribution in front of an axum app, with a behavior per route:
//!
//! | path | origin |
//! |---|---|
//! | `/dir/*`, `/hello.txt` | an S3 bucket (the test server `.ci/s3.sh` starts, read from `S3_*` variables) |
//! | `/api/*` | a separate HTTP service (started in-process here) |
//! | everything else | the app itself |
//!
//! Without `S3_ENDPOINT` the example says how to start the S3 server and
//! serves the other two routes.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tower_cdn::{AllowedMethods, CacheBehavior, CachePolicy, CdnLayer, Distribution, Origin, S3Origin, Select};

/// The app: its own pages are cached like any origin's.
fn app() -> Router {
    Router::new()
        .route("/", get(|| async { ([("cache-control", "max-age=60")], "home page, from the app\n") }))
        .route("/account", get(|| async { ([("cache-control", "private")], "your account (never shared)\n") }))
}

/// A stand-in for a separate API service.
async fn start_api() -> std::io::Result<String> {
    let api = Router::new().route(
        "/api/time",
        get(|| async {
            let now = httpdate::fmt_http_date(std::time::SystemTime::now());
            ([("cache-control", "max-age=5")], format!("api time: {now}\n"))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, api).await });
    Ok(url)
}

/// The S3 bucket from the environment `.ci/s3.sh` exports, if any.
fn bucket_from_env() -> Option<S3Origin> {
    let endpoint = std::env::var("S3_ENDPOINT").ok()?;
    let bucket = std::env::var("S3_PUBLIC_BUCKET").unwrap_or_else(|_| "pub-bucket".to_owned());
    let region = std::env::var("S3_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
    Some(S3Origin::new(bucket).endpoint(endpoint).region(region).path_style(true))
}

fn layer(api_url: &str, bucket: Option<S3Origin>) -> Result<CdnLayer, tower_cdn::ConfigError> {
    let mut site = Distribution::new("site")
        .origin("app", Origin::inner())
        .origin("api", Origin::http(api_url))
        .behavior(
            CacheBehavior::new("/api/*")
                .origin("api")
                .cache_policy(CachePolicy::new().headers(Select::only(["accept"]))),
        )
        .default_behavior(CacheBehavior::default_for("app").allowed_methods(AllowedMethods::All));
    if let Some(bucket) = bucket {
        // As in CloudFront, the matched path is the object key as is:
        // `/dir/a+b.txt` reads the key `dir/a+b.txt`.
        let static_files = CachePolicy::new().query_strings(Select::None).default_ttl(Duration::from_secs(3600));
        site = site
            .origin("assets", Origin::s3(bucket))
            .behavior(CacheBehavior::new("/dir/*").origin("assets").cache_policy(static_files.clone()))
            .behavior(CacheBehavior::new("/hello.txt").origin("assets").cache_policy(static_files));
    }
    CdnLayer::builder().distribution(site).build()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let once = std::env::args().any(|a| a == "--once");
    let api_url = start_api().await?;
    let bucket = bucket_from_env();
    if bucket.is_none() {
        eprintln!(
            "S3_ENDPOINT is not set, so there is no S3 behavior. Start the test S3 server with\n  \
             source .ci/s3.sh\nand run the example again from that shell."
        );
    }
    let has_s3 = bucket.is_some();
    let layer = layer(&api_url, bucket)?;
    let router = app().layer(layer);
    let addr =
        if once { "127.0.0.1:0".to_owned() } else { std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3002".into()) };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });

    // Fetch each route twice and show what the cache did.
    // rustls 0.23.48 deprecates ring for its lack of post-quantum key
    // exchange; ring keeps the build free of a C toolchain (aws-lc).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let mut paths = vec!["/", "/account", "/api/time"];
    if has_s3 {
        paths.extend(["/hello.txt", "/dir/a+b.txt", "/dir/space%20key.txt"]);
    }
    for path in &paths {
        for _ in 0..2 {
            let resp = client.get(format!("http://{local}{path}")).send().await?;
            let status = resp.status();
            let cache = resp.headers().get("cache-status").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let body = resp.text().await?;
            println!("GET {path:<18} {status} [{cache}] {}", body.trim_end());
        }
    }
    if once {
        return Ok(());
    }
    println!("\nserving on http://{local} (Ctrl-C to stop); try: curl -si http://{local}/api/time");
    std::future::pending::<()>().await;
    Ok(())
}
