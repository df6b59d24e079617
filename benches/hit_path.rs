//! The hit path through the layer: a `CdnLayer` around a `service_fn`
//! origin, one key warmed, then `oneshot` GETs that hit, body collected.
//! `origin_only` is the same request answered by the bare origin service,
//! so the difference is what the cache adds on a hit.
//!
//! Run: `cargo bench --bench hit_path -- --warm-up-time 1 --measurement-time 3`

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::header::{self, HeaderValue};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use tower::{Service, ServiceExt};
use tower_cdn::{CdnConfig, CdnLayer, Hooks, ResponseHeadersPolicy};
use tower_layer::Layer;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
}

fn origin(
    body: Bytes,
) -> impl Service<Request<Empty<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(move |_req: Request<Empty<Bytes>>| {
        let body = body.clone();
        async move {
            let mut resp = Response::new(Full::new(body));
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            Ok(resp)
        }
    })
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header(header::HOST, "bench.example")
        .header(header::USER_AGENT, "criterion")
        .header(header::ACCEPT, "*/*")
        .body(Empty::new())
        .expect("a valid request")
}

/// Sends `iters` requests one after another on `rt`; returns the elapsed time.
fn drive<S, B>(rt: &tokio::runtime::Runtime, svc: &S, path: &str, iters: u64) -> Duration
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            let resp = svc.clone().oneshot(get(path)).await.expect("infallible");
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            std::hint::black_box(body);
        }
        start.elapsed()
    })
}

fn hit_path(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("hit");
    for (name, size) in [("1KiB", 1024usize), ("100KiB", 100 * 1024)] {
        let body = Bytes::from(vec![b'x'; size]);
        let path = format!("/object-{name}");
        let cdn = CdnLayer::new(CdnConfig::default()).layer(origin(body.clone()));

        // Warm the key and check that the next request really is a hit.
        for expect_hit in [false, true] {
            let resp = rt.block_on(cdn.clone().oneshot(get(&path))).expect("infallible");
            let status = resp.headers().get("cache-status").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let got = rt.block_on(resp.into_body().collect()).expect("body").to_bytes();
            assert_eq!(got, body);
            assert_eq!(status.contains("hit"), expect_hit, "Cache-Status: {status}");
        }

        // Bodies are shared `Bytes`, never copied here: count requests, not bytes.
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("layer/{name}"), |b| b.iter_custom(|iters| drive(&rt, &cdn, &path, iters)));
        let bare = origin(body.clone());
        group.bench_function(format!("origin_only/{name}"), |b| b.iter_custom(|iters| drive(&rt, &bare, &path, iters)));

        // The same hit with a viewer response hook and the managed security
        // headers policy (issue: at most 10% over the plain layer).
        let programmed = CdnLayer::builder()
            .hooks(Hooks::new().viewer_response(|_req, resp| {
                resp.headers.insert("x-edge", HeaderValue::from_static("1"));
            }))
            .response_headers_policy(ResponseHeadersPolicy::managed("SecurityHeadersPolicy").expect("managed"))
            .build()
            .expect("a valid layer")
            .layer(origin(body.clone()));
        for _ in 0..2 {
            let resp = rt.block_on(programmed.clone().oneshot(get(&path))).expect("infallible");
            assert!(resp.headers().contains_key("strict-transport-security"));
            rt.block_on(resp.into_body().collect()).expect("body");
        }
        group.bench_function(format!("layer_hook_policy/{name}"), |b| {
            b.iter_custom(|iters| drive(&rt, &programmed, &path, iters))
        });
        // Each alone, to see which costs what.
        let hook_only = CdnLayer::builder()
            .hooks(Hooks::new().viewer_response(|_req, resp| {
                resp.headers.insert("x-edge", HeaderValue::from_static("1"));
            }))
            .build()
            .expect("a valid layer")
            .layer(origin(body.clone()));
        let policy_only = CdnLayer::builder()
            .response_headers_policy(ResponseHeadersPolicy::managed("SecurityHeadersPolicy").expect("managed"))
            .build()
            .expect("a valid layer")
            .layer(origin(body.clone()));
        for svc in [&hook_only, &policy_only] {
            for _ in 0..2 {
                let resp = rt.block_on(svc.clone().oneshot(get(&path))).expect("infallible");
                rt.block_on(resp.into_body().collect()).expect("body");
            }
        }
        group.bench_function(format!("layer_hook/{name}"), |b| {
            b.iter_custom(|iters| drive(&rt, &hook_only, &path, iters))
        });
        group.bench_function(format!("layer_policy/{name}"), |b| {
            b.iter_custom(|iters| drive(&rt, &policy_only, &path, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, hit_path);
criterion_main!(benches);
