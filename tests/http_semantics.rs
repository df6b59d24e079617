//! RFC 9111 through the real layer: revalidation, Vary, Range, HEAD,
//! stale-if-error, unsafe-method invalidation, request directives.

mod support;

use std::time::Duration;

use support::{Origin, Reply, cache_status, client, eventually, start_proxy, x_cache};
use tower_cdn::{CdnLayer, Clock, Origin as CdnOrigin};

struct Edge {
    url: String,
    clock: Clock,
    cache: tower_cdn::CacheHandle,
}

async fn edge_with(origin: &Origin, f: impl FnOnce(tower_cdn::CdnLayerBuilder) -> tower_cdn::CdnLayerBuilder) -> Edge {
    let clock = Clock::manual();
    let layer = f(CdnLayer::builder().origin(CdnOrigin::http(origin.url())).clock(clock.clone())).build().unwrap();
    let cache = layer.cache();
    origin.use_clock(&clock);
    let addr = start_proxy(layer).await;
    Edge { url: format!("http://{addr}"), clock, cache }
}

async fn edge(origin: &Origin) -> Edge {
    edge_with(origin, |b| b).await
}

async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String, String, reqwest::header::HeaderMap) {
    let mut rb = client().get(url);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let cs = cache_status(&r);
    let h = r.headers().clone();
    (status, cs, r.text().await.unwrap(), h)
}

#[tokio::test]
async fn stale_entry_is_revalidated_and_a_304_freshens_it() {
    let origin = Origin::start().await;
    origin.route("/doc", Reply::ok("v1").header("cache-control", "max-age=60").header("etag", "\"v1\""));
    let e = edge(&origin).await;
    let url = format!("{}/doc", e.url);
    assert!(get(&url, &[]).await.1.contains("stored"));
    e.clock.advance(Duration::from_secs(61));
    let (status, cs, body, headers) = get(&url, &[]).await;
    assert_eq!((status, body.as_str()), (200, "v1"));
    assert!(cs.contains("fwd=stale") && cs.contains("fwd-status=304"), "{cs}");
    assert_eq!(headers["x-cache"], "RefreshHit from tower-cdn");
    let conditional = origin.last_headers("/doc").unwrap();
    assert_eq!(conditional["if-none-match"], "\"v1\"", "revalidation must be conditional");
    assert_eq!(origin.hits("/doc"), 2);
    // Freshened: a hit again, without asking the origin.
    let (_, cs, _, _) = get(&url, &[]).await;
    assert!(cs.contains("hit"), "{cs}");
    assert_eq!(origin.hits("/doc"), 2);
}

#[tokio::test]
async fn a_changed_object_replaces_the_stale_entry() {
    let origin = Origin::start().await;
    origin.route("/doc", Reply::ok("v1").header("cache-control", "max-age=60").header("etag", "\"v1\""));
    let e = edge(&origin).await;
    let url = format!("{}/doc", e.url);
    get(&url, &[]).await;
    origin.route("/doc", Reply::ok("v2").header("cache-control", "max-age=60").header("etag", "\"v2\""));
    e.clock.advance(Duration::from_secs(61));
    let (_, cs, body, _) = get(&url, &[]).await;
    assert_eq!(body, "v2");
    assert!(cs.contains("fwd=stale") && cs.contains("fwd-status=200") && cs.contains("stored"), "{cs}");
    assert_eq!(get(&url, &[]).await.2, "v2");
    assert_eq!(origin.hits("/doc"), 2);
}

#[tokio::test]
async fn last_modified_revalidation_uses_if_modified_since() {
    let origin = Origin::start().await;
    let lm = "Mon, 01 Jan 2024 00:00:00 GMT";
    origin.route("/lm", Reply::ok("x").header("cache-control", "max-age=10").header("last-modified", lm));
    let e = edge(&origin).await;
    let url = format!("{}/lm", e.url);
    get(&url, &[]).await;
    e.clock.advance(Duration::from_secs(11));
    let (_, cs, body, _) = get(&url, &[]).await;
    assert_eq!(body, "x");
    assert!(cs.contains("fwd-status=304"), "{cs}");
    assert_eq!(origin.last_headers("/lm").unwrap()["if-modified-since"], lm);
}

#[tokio::test]
async fn client_conditionals_are_answered_from_cache() {
    let origin = Origin::start().await;
    let lm = "Mon, 01 Jan 2024 00:00:00 GMT";
    origin.route(
        "/c",
        Reply::ok("body").header("cache-control", "max-age=60").header("etag", "W/\"e1\"").header("last-modified", lm),
    );
    let e = edge(&origin).await;
    let url = format!("{}/c", e.url);
    // On the miss too: the origin is asked for the whole object, the client gets its 304.
    let (status, _, body, h) = get(&url, &[("if-none-match", "\"e1\"")]).await;
    assert_eq!((status, body.as_str()), (304, ""));
    assert_eq!(h["etag"], "W/\"e1\"");
    assert!(origin.last_headers("/c").unwrap().get("if-none-match").is_none());
    assert!(eventually(|| e.cache.len() == 1).await, "the 304'd miss still filled the cache");
    let (status, cs, _, _) = get(&url, &[("if-none-match", "\"other\", W/\"e1\"")]).await;
    assert_eq!(status, 304);
    assert!(cs.contains("hit"));
    assert_eq!(get(&url, &[("if-modified-since", lm)]).await.0, 304);
    assert_eq!(get(&url, &[("if-none-match", "\"nope\"")]).await.0, 200);
    assert_eq!(get(&url, &[("if-match", "\"nope\"")]).await.0, 412);
    assert_eq!(get(&url, &[("if-unmodified-since", "Sun, 31 Dec 2023 00:00:00 GMT")]).await.0, 412);
    assert_eq!(origin.hits("/c"), 1);
}

#[tokio::test]
async fn where_the_edge_gives_lifetimes_an_unkeyed_header_never_reaches_the_origin() {
    let origin = Origin::start().await;
    origin.route(
        "/v",
        Reply::ok("enc").header("cache-control", "max-age=60").header("vary", "Accept-Encoding").stamped(),
    );
    let e = edge(&origin).await;
    let url = format!("{}/v", e.url);
    let gz = get(&url, &[("accept-encoding", "gzip, br")]).await;
    assert!(origin.last_headers("/v").unwrap().get("accept-encoding").is_none());
    // The origin saw no `Accept-Encoding` for either: one variant serves both.
    let (_, cs, body, _) = get(&url, &[]).await;
    assert!(cs.contains("hit"), "{cs}");
    assert_eq!(body, gz.2);
    assert_eq!(origin.hits("/v"), 1);
}

#[tokio::test]
async fn vary_keeps_one_variant_per_normalised_header_value() {
    let origin = Origin::start().await;
    origin.route(
        "/v",
        Reply::ok("enc").header("cache-control", "max-age=60").header("vary", "Accept-Encoding").stamped(),
    );
    // Standards mode: the origin declares freshness and `Vary`, and gets
    // the end-to-end headers it varies on.
    let e = edge_with(&origin, |b| b.default_ttl(Duration::ZERO)).await;
    let url = format!("{}/v", e.url);
    let gz = get(&url, &[("accept-encoding", "gzip, br")]).await;
    let plain = get(&url, &[]).await;
    assert_ne!(gz.2, plain.2, "different variants");
    let (_, cs, body, _) = get(&url, &[("accept-encoding", "BR,gzip")]).await;
    assert!(cs.contains("hit"), "{cs}");
    assert_eq!(body, gz.2);
    let (_, cs, body, _) = get(&url, &[]).await;
    assert!(cs.contains("hit"), "{cs}");
    assert_eq!(body, plain.2);
    let (_, cs, _, _) = get(&url, &[("accept-encoding", "deflate")]).await;
    assert!(cs.contains("fwd=vary-miss"), "{cs}");
    assert_eq!(origin.hits("/v"), 3);
}

#[tokio::test]
async fn vary_star_is_never_reused() {
    let origin = Origin::start().await;
    origin.route("/star", Reply::ok("s").header("cache-control", "max-age=60").header("vary", "*").stamped());
    let e = edge(&origin).await;
    let url = format!("{}/star", e.url);
    let a = get(&url, &[]).await;
    assert!(a.1.contains("detail=vary"), "{}", a.1);
    assert_ne!(a.2, get(&url, &[]).await.2);
}

#[tokio::test]
async fn ranges_are_served_from_the_cached_object() {
    let origin = Origin::start().await;
    let body: String = (0..100).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    origin.route("/r", Reply::ok(body.clone()).header("cache-control", "max-age=60").header("etag", "\"r\""));
    let e = edge(&origin).await;
    let url = format!("{}/r", e.url);
    // Miss with a range: the origin is asked once, for the first slice,
    // which here is the whole object (stored as the object itself).
    let (status, _, got, h) = get(&url, &[("range", "bytes=0-9")]).await;
    assert_eq!((status, got.as_str()), (206, &body[0..10]));
    assert_eq!(h["content-range"], "bytes 0-9/100");
    assert_eq!(origin.last_headers("/r").unwrap()["range"], "bytes=0-1048575");
    assert!(eventually(|| e.cache.len() == 1).await);
    let (status, cs, got, h) = get(&url, &[("range", "bytes=-5")]).await;
    assert_eq!((status, got.as_str()), (206, &body[95..]));
    assert!(cs.contains("hit"));
    assert_eq!(h["content-range"], "bytes 95-99/100");
    assert_eq!(get(&url, &[("range", "bytes=90-")]).await.2, &body[90..]);
    let (status, _, _, h) = get(&url, &[("range", "bytes=200-300")]).await;
    assert_eq!(status, 416);
    assert_eq!(h["content-range"], "bytes */100");
    let (status, _, got, h) = get(&url, &[("range", "bytes=0-1, 10-11")]).await;
    assert_eq!(status, 206);
    assert!(h["content-type"].to_str().unwrap().starts_with("multipart/byteranges; boundary="));
    assert!(got.contains("Content-Range: bytes 0-1/100") && got.contains("Content-Range: bytes 10-11/100"));
    // If-Range with a different validator: the whole object.
    let (status, _, got, _) = get(&url, &[("range", "bytes=0-9"), ("if-range", "\"other\"")]).await;
    assert_eq!((status, got.len()), (200, 100));
    let (status, _, _, _) = get(&url, &[("range", "bytes=0-9"), ("if-range", "\"r\"")]).await;
    assert_eq!(status, 206);
    assert_eq!(origin.hits("/r"), 1);
}

#[tokio::test]
async fn a_206_from_the_origin_is_never_stored_and_big_objects_get_the_range_forwarded() {
    let origin = Origin::start().await;
    origin.route(
        "/p",
        Reply::ok("part").status(206).header("content-range", "bytes 0-3/10").header("cache-control", "max-age=60"),
    );
    let big = vec![b'b'; 300_000];
    origin.route("/big", Reply::ok(big).header("cache-control", "max-age=60"));
    let e = edge_with(&origin, |b| b.capacity_bytes(1 << 20).max_entry_bytes(100_000)).await;
    let (status, cs, _, _) = get(&format!("{}/p", e.url), &[]).await;
    assert_eq!(status, 206);
    assert!(cs.contains("detail=partial"), "{cs}");
    let (status, cs, got, h) = get(&format!("{}/big", e.url), &[("range", "bytes=299990-")]).await;
    assert_eq!((status, got.len()), (206, 10), "{cs}");
    assert_eq!(h["content-range"], "bytes 299990-299999/300000");
    assert_eq!(origin.last_headers("/big").unwrap()["range"], "bytes=299990-");
}

#[tokio::test]
async fn head_is_served_from_a_stored_get_and_a_head_miss_stores_nothing() {
    let origin = Origin::start().await;
    origin.route("/h", Reply::ok("twelve bytes").header("cache-control", "max-age=60"));
    let e = edge(&origin).await;
    let url = format!("{}/h", e.url);
    let r = client().head(&url).send().await.unwrap();
    assert!(cache_status(&r).contains("detail=method"), "{}", cache_status(&r));
    assert_eq!(e.cache.len(), 0);
    get(&url, &[]).await;
    let r = client().head(&url).send().await.unwrap();
    assert!(cache_status(&r).contains("hit"));
    assert_eq!(r.headers()["content-length"], "12");
    assert_eq!(r.bytes().await.unwrap().len(), 0);
    assert_eq!(origin.hits("/h"), 2);
}

#[tokio::test]
async fn stale_if_error_serves_the_stale_copy_when_the_origin_is_down() {
    let origin = Origin::start().await;
    origin.route("/s", Reply::ok("keep me").header("cache-control", "max-age=10, stale-if-error=600"));
    let e = edge(&origin).await;
    let url = format!("{}/s", e.url);
    get(&url, &[]).await;
    origin.route("/s", Reply::ok("boom").status(503));
    e.clock.advance(Duration::from_secs(20));
    let (status, cs, body, h) = get(&url, &[]).await;
    assert_eq!((status, body.as_str()), (200, "keep me"));
    assert!(cs.contains("detail=stale-if-error") && cs.contains("fwd-status=503"), "{cs}");
    assert_eq!(h["x-cache"], "Hit from tower-cdn");
    // Origin stopped entirely: still served.
    origin.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, _, body, _) = get(&url, &[]).await;
    assert_eq!((status, body.as_str()), (200, "keep me"));
    // Beyond the window: the error.
    e.clock.advance(Duration::from_secs(24 * 3600 + 1000));
    assert_eq!(get(&url, &[]).await.0, 502);
}

#[tokio::test]
async fn must_revalidate_forbids_stale_on_error() {
    let origin = Origin::start().await;
    origin.route("/m", Reply::ok("m").header("cache-control", "max-age=10, must-revalidate"));
    let e = edge(&origin).await;
    let url = format!("{}/m", e.url);
    get(&url, &[]).await;
    origin.route("/m", Reply::ok("down").status(503).header("cache-control", "no-store"));
    e.clock.advance(Duration::from_secs(20));
    assert_eq!(get(&url, &[]).await.0, 503);
}

#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_once_in_the_background() {
    let origin = Origin::start().await;
    origin.route("/w", Reply::ok("old").header("cache-control", "max-age=10, stale-while-revalidate=60"));
    let e = edge(&origin).await;
    let url = format!("{}/w", e.url);
    get(&url, &[]).await;
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    origin.route(
        "/w",
        Reply::ok("new").header("cache-control", "max-age=10, stale-while-revalidate=60").gate_after(0, gate.clone()),
    );
    e.clock.advance(Duration::from_secs(15));
    let (_, cs, body, _) = get(&url, &[]).await;
    assert_eq!(body, "old");
    assert!(cs.contains("detail=stale-while-revalidate"), "{cs}");
    let (_, _, body, _) = get(&url, &[]).await;
    assert_eq!(body, "old", "still the stale copy while the refresh runs");
    assert!(eventually(|| origin.hits("/w") == 2).await);
    gate.notify_one();
    assert!(eventually(|| e.cache.fills_in_flight() == 0).await);
    let (_, cs, body, _) = get(&url, &[]).await;
    assert_eq!(body, "new");
    assert!(cs.contains("hit"), "{cs}");
    assert_eq!(origin.hits("/w"), 2, "one background refresh");
}

#[tokio::test]
async fn successful_unsafe_requests_invalidate_the_uri_and_its_locations() {
    let origin = Origin::start().await;
    origin.route("/item", Reply::ok("item").header("cache-control", "max-age=60").stamped());
    origin.route("/list", Reply::ok("list").header("cache-control", "max-age=60").stamped());
    origin.route("/other", Reply::ok("other").header("cache-control", "max-age=60").stamped());
    let e = edge(&origin).await;
    for p in ["/item", "/list", "/other"] {
        get(&format!("{}{p}", e.url), &[]).await;
    }
    origin.route("/item", Reply::ok("updated").status(200).header("content-location", "/list"));
    let r = client().post(format!("{}/item", e.url)).body("x").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(cache_status(&r).contains("fwd=method"));
    origin.route("/item", Reply::ok("item").header("cache-control", "max-age=60").stamped());
    assert!(get(&format!("{}/item", e.url), &[]).await.1.contains("fwd=uri-miss"));
    assert!(get(&format!("{}/list", e.url), &[]).await.1.contains("fwd=uri-miss"));
    assert!(get(&format!("{}/other", e.url), &[]).await.1.contains("hit"));
    // A failed unsafe request invalidates nothing.
    origin.route("/other", Reply::ok("no").status(500));
    let r = client().delete(format!("{}/other", e.url)).send().await.unwrap();
    assert_eq!(r.status(), 500);
    origin.route("/other", Reply::ok("other").header("cache-control", "max-age=60").stamped());
    assert!(get(&format!("{}/other", e.url), &[]).await.1.contains("hit"));
}

#[tokio::test]
async fn request_directives() {
    let origin = Origin::start().await;
    origin.route("/d", Reply::ok("d").header("cache-control", "max-age=100").header("etag", "\"d\""));
    let e = edge(&origin).await;
    let url = format!("{}/d", e.url);
    // only-if-cached on a miss: 504.
    let (status, cs, _, _) = get(&url, &[("cache-control", "only-if-cached")]).await;
    assert_eq!(status, 504, "{cs}");
    get(&url, &[]).await;
    assert_eq!(get(&url, &[("cache-control", "only-if-cached")]).await.0, 200);
    // no-cache: validated with the origin (a conditional request).
    let (_, cs, _, _) = get(&url, &[("cache-control", "no-cache")]).await;
    assert!(cs.contains("fwd=request") && cs.contains("fwd-status=304"), "{cs}");
    let (_, cs, _, _) = get(&url, &[("pragma", "no-cache")]).await;
    assert!(cs.contains("fwd=request"), "{cs}");
    let hits = origin.hits("/d");
    e.clock.advance(Duration::from_secs(50));
    let (_, cs, _, _) = get(&url, &[("cache-control", "max-age=10")]).await;
    assert!(cs.contains("fwd=request"), "{cs}");
    assert!(get(&url, &[("cache-control", "min-fresh=101")]).await.1.contains("fwd=request"));
    assert!(get(&url, &[("cache-control", "max-age=100")]).await.1.contains("hit"));
    assert_eq!(origin.hits("/d"), hits + 2);
    // max-stale: stale is acceptable.
    e.clock.advance(Duration::from_secs(200));
    let (_, cs, _, _) = get(&url, &[("cache-control", "max-stale=300")]).await;
    assert!(cs.contains("hit") && cs.contains("detail=max-stale"), "{cs}");
    // no-store request on a miss: not stored.
    let (_, cs, _, _) = get(&format!("{url}?fresh"), &[("cache-control", "no-store")]).await;
    assert!(cs.contains("detail=request-no-store"), "{cs}");
}

#[tokio::test]
async fn targeted_cache_control_overrides_and_is_not_forwarded() {
    let origin = Origin::start().await;
    origin.route("/t", Reply::ok("t").header("cache-control", "no-store").header("cdn-cache-control", "max-age=300"));
    let e = edge(&origin).await;
    let url = format!("{}/t", e.url);
    let (_, cs, _, h) = get(&url, &[]).await;
    assert!(cs.contains("stored"), "{cs}");
    assert!(h.get("cdn-cache-control").is_none());
    assert_eq!(h["cache-control"], "no-store", "clients still see the origin's Cache-Control");
    assert!(get(&url, &[]).await.1.contains("hit"));
}

#[tokio::test]
async fn errors_are_cached_briefly_and_per_status_rules_apply() {
    let origin = Origin::start().await;
    origin.route("/missing", Reply::ok("nope").status(404).stamped());
    origin.route("/broken", Reply::ok("err").status(500).stamped());
    let e = edge_with(&origin, |b| b.never_cache_status(500)).await;
    let m = format!("{}/missing", e.url);
    let first = get(&m, &[]).await;
    assert_eq!(first.0, 404);
    assert_eq!(x_cache_of(&first.3), "Error from tower-cdn");
    assert!(get(&m, &[]).await.1.contains("hit"));
    e.clock.advance(Duration::from_secs(11));
    assert!(get(&m, &[]).await.1.contains("fwd=stale"), "error caching minimum TTL is 10 s");
    let b = format!("{}/broken", e.url);
    get(&b, &[]).await;
    get(&b, &[]).await;
    assert_eq!(origin.hits("/broken"), 2, "500 is never cached when configured so");
}

fn x_cache_of(h: &reqwest::header::HeaderMap) -> String {
    h.get("x-cache").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn age_reflects_the_origins_age_and_time_in_cache() {
    let origin = Origin::start().await;
    origin.route("/a", Reply::ok("a").header("cache-control", "max-age=600").header("age", "100"));
    let e = edge(&origin).await;
    let url = format!("{}/a", e.url);
    get(&url, &[]).await;
    e.clock.advance(Duration::from_secs(30));
    let (_, cs, _, h) = get(&url, &[]).await;
    let age: u64 = h["age"].to_str().unwrap().parse().unwrap();
    assert!((130..=132).contains(&age), "age {age}");
    assert!(cs.contains("ttl=4"), "{cs}");
    let _ = x_cache;
}
