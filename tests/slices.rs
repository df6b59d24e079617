//! Range requests for objects that are not stored: only the slices a range
//! needs are fetched (counted in bytes the origin sends), stored and
//! reused; an object that changes between slices is never mixed.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use support::{client, start_proxy};
use tower_cdn::{CdnLayer, Origin as OriginCfg};

/// The byte at `offset` of version `v` of the object.
fn byte(v: u8, offset: u64) -> u8 {
    (offset % 251) as u8 ^ v
}

fn bytes(v: u8, start: u64, end_inclusive: u64) -> Vec<u8> {
    (start..=end_inclusive).map(|i| byte(v, i)).collect()
}

/// An origin serving one generated object (never held in memory) with
/// ranges, counting requests and body bytes sent.
#[derive(Default)]
struct Object {
    len: AtomicU64,
    version: AtomicU64,
    requests: AtomicU64,
    sent: AtomicU64,
    ignore_ranges: AtomicBool,
    /// Slices end at half their announced length (chunked, so the framing
    /// does not tell).
    short_slices: AtomicBool,
    /// A weak `ETag`, and a new version of the bytes on every request.
    weak_and_changing: AtomicBool,
}

async fn serve(State(o): State<Arc<Object>>, headers: HeaderMap) -> Response {
    let n = o.requests.fetch_add(1, Ordering::SeqCst);
    let len = o.len.load(Ordering::SeqCst);
    let weak = o.weak_and_changing.load(Ordering::SeqCst);
    let v = if weak { n as u8 } else { o.version.load(Ordering::SeqCst) as u8 };
    let etag = if weak { "W/\"same\"".to_owned() } else { format!("\"v{v}\"") };
    let range = headers
        .get(header::RANGE)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
    let (status, start, end) = match range {
        Some((a, b)) if !o.ignore_ranges.load(Ordering::SeqCst) && a < len => {
            (StatusCode::PARTIAL_CONTENT, a, b.min(len - 1))
        }
        _ => (StatusCode::OK, 0, len - 1),
    };
    o.sent.fetch_add(end - start + 1, Ordering::SeqCst);
    let mut body = bytes(v, start, end);
    let short = status == StatusCode::PARTIAL_CONTENT && o.short_slices.load(Ordering::SeqCst);
    if short {
        body.truncate(body.len() / 2);
    }
    let headers = [(header::CACHE_CONTROL, "max-age=600".to_owned()), (header::ETAG, etag)];
    let mut resp = if short {
        let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(body))]);
        (status, headers, axum::body::Body::from_stream(stream)).into_response()
    } else {
        (status, headers, body).into_response()
    };
    if status == StatusCode::PARTIAL_CONTENT {
        resp.headers_mut().insert(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}").parse().unwrap());
    }
    resp
}

/// A very large object is generated per range, so the origin answers
/// only ranges when asked for the whole (a test must never ask it).
async fn start_origin(len: u64) -> (SocketAddr, Arc<Object>) {
    let o = Arc::new(Object::default());
    o.len.store(len, Ordering::SeqCst);
    let app = axum::Router::new().route("/obj", axum::routing::get(serve)).with_state(Arc::clone(&o));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, o)
}

async fn proxy(origin: SocketAddr) -> (SocketAddr, CdnLayer) {
    let layer = CdnLayer::builder()
        .origin(OriginCfg::http(format!("http://{origin}")))
        .standalone(true)
        .capacity_bytes(64 << 20)
        .max_entry_bytes(4 << 20)
        .build()
        .unwrap();
    (start_proxy(layer.clone()).await, layer)
}

async fn get_range(addr: SocketAddr, range: &str) -> (StatusCode, HeaderMap, Result<Bytes, reqwest::Error>) {
    let r = client().get(format!("http://{addr}/obj")).header("range", range).send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await)
}

const MIB: u64 = 1 << 20;

#[tokio::test]
async fn a_range_at_the_end_of_a_2_gib_object_fetches_only_its_slices() {
    let len = 2 << 30;
    let (origin, o) = start_origin(len).await;
    let (addr, _) = proxy(origin).await;
    let (status, headers, body) = get_range(addr, "bytes=-100").await;
    assert_eq!(status, 206);
    assert_eq!(headers["content-range"], format!("bytes {}-{}/{len}", len - 100, len - 1).as_str());
    assert_eq!(body.unwrap(), bytes(0, len - 100, len - 1));
    assert!(headers["cache-status"].to_str().unwrap().contains("detail=slice"));
    // The first slice (for the length) and the last one.
    assert!(o.sent.load(Ordering::SeqCst) <= 2 * MIB, "origin sent {} bytes", o.sent.load(Ordering::SeqCst));
    let before = o.requests.load(Ordering::SeqCst);
    let (status, headers, body) = get_range(addr, "bytes=-50").await;
    assert_eq!(status, 206);
    assert_eq!(body.unwrap(), bytes(0, len - 50, len - 1));
    assert!(headers["cache-status"].to_str().unwrap().starts_with("tower-cdn; hit"), "{:?}", headers["cache-status"]);
    assert_eq!(o.requests.load(Ordering::SeqCst), before, "both slices were stored");
}

#[tokio::test]
async fn a_range_across_slices_is_assembled_and_each_slice_reused() {
    let len = 10 * MIB + 12345;
    let (origin, o) = start_origin(len).await;
    let (addr, _) = proxy(origin).await;
    let (start, end) = (MIB - 10, 3 * MIB + 10);
    let (status, headers, body) = get_range(addr, &format!("bytes={start}-{end}")).await;
    assert_eq!(status, 206);
    assert_eq!(headers["content-range"], format!("bytes {start}-{end}/{len}").as_str());
    assert!(body.unwrap() == bytes(0, start, end));
    assert_eq!(o.requests.load(Ordering::SeqCst), 4, "slices 0 to 3");
    // Inside stored slices: no origin request; the last, short slice too.
    for (a, b) in [(2 * MIB + 5, 2 * MIB + 99), (0, 10), (len - 10, len - 1)] {
        let (status, _, body) = get_range(addr, &format!("bytes={a}-{b}")).await;
        assert_eq!(status, 206);
        assert!(body.unwrap() == bytes(0, a, b));
    }
    assert_eq!(o.requests.load(Ordering::SeqCst), 5, "only the last slice was new");
    // Past the end: 416 with the length.
    let (status, headers, _) = get_range(addr, &format!("bytes={len}-")).await;
    assert_eq!(status, 416);
    assert_eq!(headers["content-range"], format!("bytes */{len}").as_str());
}

#[tokio::test]
async fn concurrent_ranges_in_one_slice_make_one_origin_fetch() {
    let (origin, o) = start_origin(8 * MIB).await;
    let (addr, _) = proxy(origin).await;
    let all: Vec<_> = (0..8u64)
        .map(|i| tokio::spawn(async move { get_range(addr, &format!("bytes={}-{}", i * 1000, i * 1000 + 99)).await }))
        .collect();
    for (i, r) in all.into_iter().enumerate() {
        let (status, _, body) = r.await.unwrap();
        assert_eq!(status, 206);
        assert_eq!(body.unwrap(), bytes(0, i as u64 * 1000, i as u64 * 1000 + 99));
    }
    assert_eq!(o.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_object_that_changes_between_slices_is_never_mixed() {
    let len = 4 * MIB;
    let (origin, o) = start_origin(len).await;
    let (addr, _) = proxy(origin).await;
    // Slice 0 of version 0 is stored.
    let (_, _, body) = get_range(addr, "bytes=0-99").await;
    assert_eq!(body.unwrap(), bytes(0, 0, 99));
    o.version.store(1, Ordering::SeqCst);
    // Slices 0 (stored, v0) and 1 (fetched now, v1) disagree: cut, never mixed.
    let (status, _, body) = get_range(addr, &format!("bytes=0-{}", MIB + 99)).await;
    assert_eq!(status, 206);
    match body {
        Err(_) => {}
        Ok(b) => panic!("a body of {} bytes was served from two versions", b.len()),
    }
    // The old slices are forgotten: the next answer is all version 1.
    let (status, _, body) = get_range(addr, &format!("bytes=0-{}", MIB + 99)).await;
    assert_eq!(status, 206);
    assert!(body.unwrap() == bytes(1, 0, MIB + 99));
}

#[tokio::test]
async fn an_origin_that_ignores_ranges_gets_the_usual_path() {
    let len = 3 * MIB;
    let (origin, o) = start_origin(len).await;
    o.ignore_ranges.store(true, Ordering::SeqCst);
    let (addr, layer) = proxy(origin).await;
    let (status, headers, body) = get_range(addr, "bytes=100-199").await;
    assert_eq!(status, 206);
    assert_eq!(headers["content-range"], format!("bytes 100-199/{len}").as_str());
    assert_eq!(body.unwrap(), bytes(0, 100, 199));
    // The whole object was fetched and stored the usual way.
    assert!(support::eventually(|| !layer.cache().is_empty()).await);
    let (status, headers, _) = get_range(addr, "bytes=5-9").await;
    assert_eq!(status, 206);
    assert!(cache_status_of(&headers).starts_with("tower-cdn; hit"), "{}", cache_status_of(&headers));
    assert_eq!(o.requests.load(Ordering::SeqCst), 2);
}

fn cache_status_of(h: &HeaderMap) -> String {
    h.get("cache-status").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// Any single range, over small slices: the bytes the origin has, in order,
/// with the right `Content-Range`; the origin never sends a slice twice.
#[tokio::test]
async fn any_range_over_small_slices_is_byte_exact() {
    let len = MIB + 7;
    let (origin, o) = start_origin(len).await;
    let layer = CdnLayer::builder()
        .origin(OriginCfg::http(format!("http://{origin}")))
        .standalone(true)
        .slice_bytes(64 * 1024)
        .build()
        .unwrap();
    let addr = start_proxy(layer).await;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for i in 0..60 {
        let (spec, start, end) = match i % 3 {
            0 => {
                let a = next(len);
                let b = a + next(len - a);
                (format!("bytes={a}-{b}"), a, b)
            }
            1 => {
                let a = next(len);
                (format!("bytes={a}-"), a, len - 1)
            }
            _ => {
                let n = 1 + next(len);
                (format!("bytes=-{n}"), len - n, len - 1)
            }
        };
        let (status, headers, body) = get_range(addr, &spec).await;
        assert_eq!(status, 206, "{spec}");
        assert_eq!(headers["content-range"], format!("bytes {start}-{end}/{len}").as_str(), "{spec}");
        assert!(body.unwrap() == bytes(0, start, end), "{spec}");
    }
    // 17 slices in all, each fetched once at most.
    assert!(o.requests.load(Ordering::SeqCst) <= 17, "{} origin requests", o.requests.load(Ordering::SeqCst));
    assert!(o.sent.load(Ordering::SeqCst) <= len);
}

#[tokio::test]
async fn a_slice_shorter_than_its_content_range_is_never_stored() {
    let len = 3 * MIB;
    let (origin, o) = start_origin(len).await;
    o.short_slices.store(true, Ordering::SeqCst);
    let (addr, _) = proxy(origin).await;
    for _ in 0..3 {
        let (status, _, body) = get_range(addr, "bytes=600000-600099").await;
        assert_eq!(status, 206);
        assert_eq!(body.unwrap(), bytes(0, 600_000, 600_099), "the usual path serves the right bytes");
    }
    // One slice attempt, then the usual path (a whole fetch, stored).
    assert_eq!(o.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn slices_without_a_strong_validator_are_never_combined() {
    let len = 3 * MIB;
    let (origin, o) = start_origin(len).await;
    o.weak_and_changing.store(true, Ordering::SeqCst);
    let (addr, _) = proxy(origin).await;
    let (status, _, body) = get_range(addr, &format!("bytes=0-{}", 2 * MIB + 99)).await;
    assert_eq!(status, 206);
    let body = body.unwrap();
    assert_eq!(body.len() as u64, 2 * MIB + 100);
    // Every byte from one version (whichever the usual path fetched).
    let v = body[0] ^ byte(0, 0);
    assert!(body[..] == bytes(v, 0, 2 * MIB + 99)[..], "bytes of two versions were combined");
}
