//! Looking inside a full cache without stalling hits: 1,000,000 entries,
//! hits on two workers, measured alone and while `CacheHandle::keys`
//! pages through everything (1000 keys a page); `explain`'s cost; the
//! same hits against a 1,000-entry cache for scale.
//!
//! Run: `cargo bench --bench listing` (prints the figures; no harness).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use tower::{Service, ServiceExt};
use tower_cdn::{CdnLayer, KeyQuery};
use tower_layer::Layer;

const RUN: Duration = Duration::from_secs(3);

fn origin() -> impl Service<Request<Empty<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(|req: Request<Empty<Bytes>>| async move {
        let mut resp = Response::new(Full::new(Bytes::from(req.uri().path().to_owned())));
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
        Ok(resp)
    })
}

fn get(i: u64) -> Request<Empty<Bytes>> {
    Request::get(format!("/object/{i}")).header(header::HOST, "bench.example").body(Empty::new()).expect("a request")
}

/// Hits per second on two tasks over `keys` stored keys, for [`RUN`].
async fn hits<S>(svc: &S, keys: u64) -> f64
where
    S: Service<Request<Empty<Bytes>>, Response = Response<tower_cdn::CdnBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + RUN;
    let mut tasks = Vec::new();
    for t in 0..2u64 {
        let (svc, count) = (svc.clone(), Arc::clone(&count));
        tasks.push(tokio::spawn(async move {
            let mut i = t.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let mut n = 0u64;
            while Instant::now() < deadline {
                i = i.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let resp = svc.clone().oneshot(get((i >> 11) % keys)).await.expect("infallible");
                let _ = resp.into_body().collect().await;
                n += 1;
                // A hit never waits, so the task would never let others run.
                if n.is_multiple_of(64) {
                    tokio::task::yield_now().await;
                }
            }
            count.fetch_add(n, Ordering::Relaxed);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn fill<S>(svc: &S, keys: u64)
where
    S: Service<Request<Empty<Bytes>>, Response = Response<tower_cdn::CdnBody>, Error = Infallible> + Clone,
{
    for i in 0..keys {
        let resp = svc.clone().oneshot(get(i)).await.expect("infallible");
        let _ = resp.into_body().collect().await;
    }
}

fn main() {
    // `cargo test --all-targets` runs benches once without `--bench`: a
    // million entries are for `cargo bench` only.
    if !std::env::args().any(|a| a == "--bench") {
        println!("listing: run with `cargo bench --bench listing`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    rt.block_on(async {
        let layer = || CdnLayer::builder().capacity_bytes(4 << 30).build().expect("a layer");
        let small = layer();
        let small_svc = small.layer(origin());
        fill(&small_svc, 1000).await;
        let big = layer();
        let big_svc = big.layer(origin());
        let filling = Instant::now();
        fill(&big_svc, 1_000_000).await;
        println!("filled 1,000,000 entries in {:.1} s", filling.elapsed().as_secs_f64());
        let cache = big.cache();
        assert!(cache.len() >= 999_000, "entries: {}", cache.len());

        let small_rate = hits(&small_svc, 1000).await;
        let alone = hits(&big_svc, 1_000_000).await;

        // The same hits while an operator pages through every key and
        // explains URLs in a loop.
        let stop = Arc::new(AtomicBool::new(false));
        let lister = {
            let (cache, stop) = (cache.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let (mut pages, mut listed, mut worst) = (0u64, 0u64, Duration::ZERO);
                let mut spent = Duration::ZERO;
                let mut cursor = None;
                while !stop.load(Ordering::Relaxed) {
                    let mut q = KeyQuery::new();
                    q.limit = 1000;
                    q.cursor = cursor.take();
                    let t = Instant::now();
                    let page = cache.keys(q).await.unwrap();
                    let took = t.elapsed();
                    spent += took;
                    worst = worst.max(took);
                    pages += 1;
                    listed += page.keys.len() as u64;
                    cursor = page.next_cursor;
                }
                (pages, listed, spent, worst)
            })
        };
        let listing = hits(&big_svc, 1_000_000).await;
        stop.store(true, Ordering::Relaxed);
        let (pages, listed, spent, worst) = lister.await.expect("the lister");

        println!("hits/s, 1,000 entries:                 {small_rate:>10.0}");
        println!("hits/s, 1,000,000 entries:             {alone:>10.0}  ({:.2}x the 1,000-entry cache)", alone / small_rate);
        println!(
            "hits/s, 1,000,000 entries, listing:    {listing:>10.0}  ({:.2}x without listing)",
            listing / alone
        );
        let t = Instant::now();
        for i in 0..5 {
            let e = cache.explain(&format!("http://bench.example/object/{i}"), HeaderMap::new()).await;
            assert!(e.is_ok_and(|e| e.stored));
        }
        println!("explain on 1,000,000 entries: {:.0} ms each", t.elapsed().as_secs_f64() * 1000.0 / 5.0);
        println!(
            "listing: {pages} pages of up to 1000 keys ({listed} keys), mean {:.1} ms, worst {:.0} ms per page (the first walks the store)",
            spent.as_secs_f64() * 1000.0 / pages.max(1) as f64,
            worst.as_secs_f64() * 1000.0
        );
    });
}
