//! Run: `REDIS_URL=redis://127.0.0.1:16379 cargo run --release --example fleet_bench`
//!
//! Measures, on loopback, in one run: the latency of an L1 hit, an L2 hit
//! (an entry another edge filled) and a miss that goes to the origin; and
//! the hit throughput of one edge with L2 enabled and without it (L1 hits
//! never touch Redis, so the two should match within noise). Bounded: a
//! few hundred sequential requests per latency figure and 2 s per
//! throughput run, all to 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use tower_cdn::{CdnLayer, L2Config, Origin};

const SAMPLES: usize = 300;
const BODY_BYTES: usize = 4096;
const LOAD_CONCURRENCY: usize = 32;
const LOAD_SECONDS: u64 = 2;

#[tokio::main]
async fn main() {
    // rustls 0.23.48 deprecates ring for its lack of post-quantum key
    // exchange; ring keeps the build free of a C toolchain (aws-lc).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = std::env::var("REDIS_URL").expect("set REDIS_URL (e.g. redis://127.0.0.1:16379)");
    let origin = start_origin().await;
    let prefix = format!("bench-{}", std::process::id());
    let l2 = || L2Config::new(&url).key_prefix(&prefix);
    let (a, a_addr) = start_edge(&origin, Some(l2())).await;
    let (b, b_addr) = start_edge(&origin, Some(l2())).await;
    let (_plain, plain_addr) = start_edge(&origin, None).await;
    for layer in [&a, &b] {
        for _ in 0..500 {
            if layer.cache().stats().l2_up {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(layer.cache().stats().l2_up, "Redis at {url} is not reachable");
    }
    let client = reqwest::Client::builder().tcp_nodelay(true).build().expect("client");

    // Misses: every path new, through the L2 edge (L2 lookup, lock, origin,
    // L2 write) and through the plain edge (origin only).
    let miss_l2 = latencies(&client, a_addr, "/miss-l2").await;
    let miss_plain = latencies(&client, plain_addr, "/miss-plain").await;
    // L2 hits: paths A filled, read once from B.
    let target = a.cache().stats().l2_writes;
    for _ in 0..500 {
        if a.cache().stats().l2_writes >= target {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let l2_hit = latencies(&client, b_addr, "/miss-l2").await;
    assert!(b.cache().stats().l2_hits as usize >= SAMPLES * 9 / 10, "B did not hit L2");
    // L1 hits: the same path again and again.
    get(&client, a_addr, "/hot").await;
    let l1_hit = repeated(&client, a_addr, "/hot").await;

    println!("latency on loopback, {SAMPLES} sequential requests each, {BODY_BYTES}-byte body:");
    println!("  {:<32} {:>10} {:>10}", "", "median", "p99");
    for (name, mut v) in [
        ("L1 hit", l1_hit),
        ("L2 hit (filled by another edge)", l2_hit),
        ("miss -> origin, edge with L2", miss_l2),
        ("miss -> origin, edge without L2", miss_plain),
    ] {
        v.sort();
        println!("  {name:<32} {:>8.0}us {:>8.0}us", micros(v[v.len() / 2]), micros(v[v.len() * 99 / 100]));
    }

    get(&client, plain_addr, "/hot").await;
    let mut with_l2 = Vec::new();
    let mut without = Vec::new();
    for _ in 0..2 {
        with_l2.push(load(&client, a_addr).await);
        without.push(load(&client, plain_addr).await);
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    println!(
        "hit throughput, {LOAD_CONCURRENCY} connections, {LOAD_SECONDS} s runs, best of 2 (client in the same process):"
    );
    println!("  L2 enabled:  {:>8.0} req/s", best(&with_l2));
    println!("  L2 disabled: {:>8.0} req/s", best(&without));
    println!("  ratio enabled/disabled: {:.3}", best(&with_l2) / best(&without));
    println!("L2 lookups on the L2 edge during the hit runs: {}", a.cache().stats().l2_hits);
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn get(client: &reqwest::Client, addr: SocketAddr, path: &str) {
    // One site name for every edge, as behind a load balancer (the host is
    // part of the cache key).
    let resp = client.get(format!("http://{addr}{path}")).header("host", "bench.test").send().await.expect("request");
    assert!(resp.status().is_success());
    resp.bytes().await.expect("body");
}

async fn latencies(client: &reqwest::Client, addr: SocketAddr, prefix: &str) -> Vec<Duration> {
    let mut out = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let t = Instant::now();
        get(client, addr, &format!("{prefix}/{i}")).await;
        out.push(t.elapsed());
    }
    out
}

async fn repeated(client: &reqwest::Client, addr: SocketAddr, path: &str) -> Vec<Duration> {
    let mut out = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t = Instant::now();
        get(client, addr, path).await;
        out.push(t.elapsed());
    }
    out
}

/// Requests per second on one hot key for `LOAD_SECONDS`.
async fn load(client: &reqwest::Client, addr: SocketAddr) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(LOAD_SECONDS);
    let workers: Vec<_> = (0..LOAD_CONCURRENCY)
        .map(|_| {
            let (client, done) = (client.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                while Instant::now() < until {
                    get(&client, addr, "/hot").await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    done.load(Ordering::Relaxed) as f64 / LOAD_SECONDS as f64
}

async fn start_origin() -> SocketAddr {
    let body = vec![b'x'; BODY_BYTES];
    let app = Router::new().fallback(move || {
        let body = body.clone();
        async move { ([("cache-control", "max-age=600")], body) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn start_edge(origin: &SocketAddr, l2: Option<L2Config>) -> (CdnLayer, SocketAddr) {
    let mut builder = CdnLayer::builder().origin(Origin::http(format!("http://{origin}"))).standalone(true);
    if let Some(l2) = l2 {
        builder = builder.l2(l2);
    }
    let layer = builder.build().expect("valid configuration");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let svc = tower::Layer::layer(
        &layer,
        tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
        }),
    );
    tokio::spawn(tower_cdn::cli::serve::serve(
        listener,
        svc,
        tower_cdn::cli::serve::ServeOptions::default(),
        std::future::pending(),
    ));
    (layer, addr)
}
