//! Heap allocations per cache hit, through the whole layer (issue 19's
//! "allocations per hit"), counted by a counting allocator on a
//! current-thread runtime: everything a hit does runs on this thread. Its
//! own test binary, so nothing else allocates on the thread meanwhile.
//!
//! The bound is today's count with a little room: a change that makes
//! every hit allocate more fails here and says by how much. Lower it when
//! a change removes allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body_util::{BodyExt as _, Empty, Full};
use tower::{Layer as _, ServiceExt as _};
use tower_cdn::{CdnConfig, CdnLayer};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers every call to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Most allocations one 1 KiB hit may make: 15 measured on 2026-12-07 (13
/// in the layer, 2 collecting the body), see `benches/README.md`.
const MAX_ALLOCATIONS_PER_HIT: usize = 17;

fn get() -> Request<Empty<Bytes>> {
    Request::get("/object")
        .header(header::HOST, "bench.example")
        .header(header::USER_AGENT, "test")
        .header(header::ACCEPT, "*/*")
        .body(Empty::new())
        .unwrap()
}

#[test]
fn a_hit_allocates_a_bounded_number_of_times() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let origin = tower::service_fn(|_req: Request<Empty<Bytes>>| async {
        let mut resp = Response::new(Full::new(Bytes::from(vec![b'x'; 1024])));
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
        Ok::<_, Infallible>(resp)
    });
    let cdn = CdnLayer::new(CdnConfig::default()).layer(origin);
    // The request is made before counting starts: only the layer's work
    // (and collecting the body) is counted.
    let hit = |req: Request<Empty<Bytes>>| {
        rt.block_on(async {
            let resp = cdn.clone().oneshot(req).await.unwrap();
            let status = resp.headers().get("cache-status").map(|v| v.to_str().unwrap().to_owned());
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status.unwrap_or_default(), body.len())
        })
    };
    // The miss, then hits until every lazily grown structure (report
    // sketches, route counters, timeline buckets) has its room.
    for _ in 0..50 {
        hit(get());
    }
    let mut counts = Vec::new();
    for _ in 0..20 {
        let req = get();
        COUNT.with(|c| c.set(0));
        COUNTING.with(|c| c.set(true));
        let (status, len) = hit(req);
        COUNTING.with(|c| c.set(false));
        assert!(status.contains("hit"), "{status}");
        assert_eq!(len, 1024);
        counts.push(COUNT.with(Cell::get));
    }
    counts.sort_unstable();
    let median = counts[counts.len() / 2];
    eprintln!("allocations per 1 KiB hit through the layer: median {median}, all {counts:?}");
    assert!(
        median <= MAX_ALLOCATIONS_PER_HIT,
        "a hit now allocates {median} times (bound {MAX_ALLOCATIONS_PER_HIT}): {counts:?}"
    );
}
