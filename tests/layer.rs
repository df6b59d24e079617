//! The layer in apps: axum routers (the app as origin), shared clones, a
//! bare hyper server.

mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use support::{cache_status, client};
use tower_cdn::{CacheStatus, CdnConfig, CdnLayer};

async fn serve_router(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn counting_app(counter: Arc<AtomicUsize>) -> Router {
    Router::new().route(
        "/page",
        get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move { ([("cache-control", "max-age=60")], format!("page #{n}")) }
        }),
    )
}

#[tokio::test]
async fn axum_app_responses_are_cached_with_no_error_handling_layer() {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = counting_app(hits.clone()).layer(CdnLayer::new(CdnConfig::default()));
    let addr = serve_router(app).await;
    let c = client();
    let a = c.get(format!("http://{addr}/page")).send().await.unwrap();
    assert!(cache_status(&a).contains("fwd=uri-miss"), "{}", cache_status(&a));
    assert_eq!(a.text().await.unwrap(), "page #1");
    let b = c.get(format!("http://{addr}/page")).send().await.unwrap();
    assert!(cache_status(&b).contains("hit"));
    assert_eq!(b.text().await.unwrap(), "page #1");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn clones_of_one_layer_share_entries() {
    let hits = Arc::new(AtomicUsize::new(0));
    let layer = CdnLayer::new(CdnConfig::default());
    let one = serve_router(counting_app(hits.clone()).layer(layer.clone())).await;
    let two = serve_router(counting_app(hits.clone()).layer(layer.clone())).await;
    let c = client();
    // Same Host header for both, so both requests share a key.
    let a = c.get(format!("http://{one}/page")).header("host", "shared.test").send().await.unwrap();
    assert_eq!(a.text().await.unwrap(), "page #1");
    let b = c.get(format!("http://{two}/page")).header("host", "shared.test").send().await.unwrap();
    assert!(cache_status(&b).contains("hit"), "{}", cache_status(&b));
    assert_eq!(b.text().await.unwrap(), "page #1");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(layer.cache().len(), 1);
}

#[tokio::test]
async fn status_is_in_the_response_extensions() {
    use tower::ServiceExt;
    let hits = Arc::new(AtomicUsize::new(0));
    let app = counting_app(hits).layer(CdnLayer::new(CdnConfig::default()));
    let req = || axum::http::Request::get("http://x.test/page").body(axum::body::Body::empty()).unwrap();
    let first = app.clone().oneshot(req()).await.unwrap();
    let s = first.extensions().get::<CacheStatus>().cloned().unwrap();
    assert!(!s.is_hit());
    drop(axum::body::to_bytes(first.into_body(), usize::MAX).await.unwrap());
    let second = app.oneshot(req()).await.unwrap();
    assert!(second.extensions().get::<CacheStatus>().unwrap().is_hit());
}

#[tokio::test]
async fn works_in_a_bare_hyper_server() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;

    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = tower::service_fn(move |_req: http::Request<hyper::body::Incoming>| {
        let n = h.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let mut r = http::Response::new(http_body_util::Full::new(Bytes::from(format!("hyper #{n}"))));
            r.headers_mut().insert("cache-control", http::HeaderValue::from_static("max-age=60"));
            Ok::<_, Infallible>(r)
        }
    });
    let svc = tower::Layer::layer(&CdnLayer::new(CdnConfig::default()), app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let svc = TowerToHyperService::new(svc.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    let c = client();
    for _ in 0..3 {
        let r = c.get(format!("http://{addr}/x")).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "hyper #1");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
