//! Does a prefix invalidation over a million entries stall request
//! handling? Fills a layer with N entries (default 1 000 000) through the
//! real hit path, then measures hit latency while `invalidate(["/a/*"])`
//! (half the entries) sweeps the store in the background, and compares it
//! with hit latency when no invalidation runs.
//!
//! Run: `cargo run --release --example invalidation_bench [-- ENTRIES]`

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use tower::{Service, ServiceExt};
use tower_cdn::CdnLayer;
use tower_layer::Layer;

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).header(header::HOST, "bench.example").body(Empty::new()).expect("a valid request")
}

async fn hit<S>(svc: &S, path: &str) -> Duration
where
    S: Service<Request<Empty<Bytes>>, Response = Response<tower_cdn::CdnBody>, Error = Infallible> + Clone,
{
    let start = Instant::now();
    let resp = svc.clone().oneshot(get(path)).await.expect("infallible");
    let _ = resp.into_body().collect().await;
    start.elapsed()
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p) as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let entries: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let origin = tower::service_fn(|_req: Request<Empty<Bytes>>| async {
        let mut resp = Response::new(Full::new(Bytes::from_static(b"x")));
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
        Ok::<_, Infallible>(resp)
    });
    let layer = CdnLayer::builder().capacity_bytes(4 << 30).build().expect("valid configuration");
    let cache = layer.cache();
    let svc = layer.layer(origin);

    let filled = Instant::now();
    for i in 0..entries {
        let prefix = if i % 2 == 0 { "a" } else { "b" };
        hit(&svc, &format!("/{prefix}/{i}")).await;
    }
    println!("filled {} entries in {:.1?}", cache.len(), filled.elapsed());
    // The probe key is under /b/, so it survives the invalidation.
    hit(&svc, "/b/probe").await;

    let probe = |duration: Duration| {
        let svc = svc.clone();
        async move {
            let mut samples = Vec::new();
            let end = Instant::now() + duration;
            while Instant::now() < end {
                samples.push(hit(&svc, "/b/probe").await);
                tokio::task::yield_now().await;
            }
            samples
        }
    };
    let mut quiet = probe(Duration::from_secs(3)).await;

    let started = Instant::now();
    let invalidation = cache.invalidate(["/a/*"]);
    let sweep = async move {
        let removed = invalidation.wait().await;
        (removed, started.elapsed())
    };
    let ((removed, sweep), mut during) = tokio::join!(sweep, probe(Duration::from_secs(3)));
    println!("invalidation removed {removed} entries; sweep took {sweep:.1?}; {} left", cache.len());
    for (name, samples) in [("no invalidation", &mut quiet), ("during the sweep", &mut during)] {
        let n = samples.len();
        let (p50, p99) = (percentile(samples, 0.5), percentile(samples, 0.99));
        let (p999, max) = (percentile(samples, 0.999), percentile(samples, 1.0));
        println!("{name:>18}: {n} hits, p50 {p50:.1?}, p99 {p99:.1?}, p99.9 {p999:.1?}, max {max:.1?}");
    }
}
