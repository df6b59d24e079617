//! Access logs, request ids, metrics and invalidation through the layer.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use support::{Origin, Reply, cache_status, client, eventually, start_proxy};
use tower_cdn::{AccessLog, AccessRecord, CdnLayer, LogFormat, Origin as CdnOrigin, ResultType};

fn collecting() -> (AccessLog, Arc<Mutex<Vec<AccessRecord>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    (AccessLog::callback(move |r| s.lock().unwrap().push(r.clone())), seen)
}

async fn wait_records(seen: &Arc<Mutex<Vec<AccessRecord>>>, n: usize) -> Vec<AccessRecord> {
    assert!(eventually(|| seen.lock().unwrap().len() >= n).await, "expected {n} records");
    seen.lock().unwrap().clone()
}

#[tokio::test]
async fn records_describe_hits_misses_errors_ranges_and_cuts() {
    let origin = Origin::start().await;
    origin.route(
        "/obj",
        Reply::ok(vec![b'o'; 1000]).header("cache-control", "max-age=60").header("content-type", "text/plain"),
    );
    let (log, seen) = collecting();
    let layer = CdnLayer::builder()
        .origin(CdnOrigin::http(origin.url()))
        .access_log(log)
        .edge_location("TEST1")
        .build()
        .unwrap();
    let edge = start_proxy(layer).await;
    let c = client();
    let miss = c
        .get(format!("http://{edge}/obj?a=1"))
        .header("user-agent", "probe 1.0")
        .header("referer", "http://r.test/")
        .send()
        .await
        .unwrap();
    let miss_id = miss.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(miss.bytes().await.unwrap().len(), 1000);
    let hit = c.get(format!("http://{edge}/obj?a=1")).send().await.unwrap();
    let _ = hit.bytes().await;
    let range = c.get(format!("http://{edge}/obj?a=1")).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(range.status(), 206);
    let _ = range.bytes().await;
    let records = wait_records(&seen, 3).await;
    let find = |id: &str| records.iter().find(|r| r.x_edge_request_id == id).cloned().unwrap();
    let m = find(&miss_id);
    assert_eq!(m.x_edge_result_type, ResultType::Miss);
    assert_eq!((m.sc_status, m.sc_bytes), (200, 1000));
    assert_eq!(m.cs_uri_stem, "/obj");
    assert_eq!(m.cs_uri_query.as_deref(), Some("a=1"));
    assert_eq!(m.cs_user_agent.as_deref(), Some("probe 1.0"));
    assert_eq!(m.edge_location, "TEST1");
    assert!(m.client.is_some());
    let w3c = m.to_w3c();
    let fields: Vec<&str> = w3c.split('\t').collect();
    assert_eq!(fields.len(), 33);
    assert_eq!(fields[5], "GET");
    assert_eq!(fields[8], "200");
    assert_eq!(fields[10], "probe%201.0");
    assert_eq!(fields[13], "Miss");
    assert_eq!(fields[14], miss_id);
    assert!(records.iter().any(|r| r.x_edge_result_type == ResultType::Hit && r.sc_bytes == 1000));
    let r = records.iter().find(|r| r.sc_status == 206).unwrap();
    assert_eq!((r.sc_range_start, r.sc_range_end, r.sc_bytes), (Some(10), Some(19), 10));

    // The origin saw the same request id.
    assert_eq!(origin.last_headers("/obj?a=1").unwrap()["x-request-id"], miss_id.as_str());
}

#[tokio::test]
async fn an_origin_fault_and_a_client_cut_are_logged_as_errors() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (log, seen) = collecting();
    let layer = CdnLayer::builder().origin(CdnOrigin::http(format!("http://{dead}"))).access_log(log).build().unwrap();
    let edge = start_proxy(layer).await;
    let r = client().get(format!("http://{edge}/x")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let _ = r.bytes().await;
    let rec = wait_records(&seen, 1).await.pop().unwrap();
    assert_eq!(rec.x_edge_result_type, ResultType::Error);
    assert_eq!(rec.x_edge_detailed_result_type, "OriginConnectError");

    let origin = Origin::start().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    origin.route(
        "/big",
        Reply::ok(vec![b'b'; 1 << 20])
            .header("cache-control", "no-store")
            .chunks(vec![8192])
            .gate_after(64 * 1024, gate.clone()),
    );
    let (log, seen) = collecting();
    let layer = CdnLayer::builder().origin(CdnOrigin::http(origin.url())).access_log(log).build().unwrap();
    let edge = start_proxy(layer).await;
    {
        let c = client();
        let r = c.get(format!("http://{edge}/big")).send().await.unwrap();
        let mut s = r.bytes_stream();
        let _ = s.next().await;
    }
    gate.notify_one();
    let rec = wait_records(&seen, 1).await.pop().unwrap();
    assert_eq!(rec.x_edge_response_result_type, ResultType::Error);
    assert_eq!(rec.x_edge_detailed_result_type, "ClientCommError");
    assert!(rec.sc_bytes < 1 << 20, "sc-bytes counts what was sent: {}", rec.sc_bytes);
}

#[tokio::test]
async fn file_logs_have_the_w3c_header_and_survive_rotation() {
    let dir = tempfile::Builder::new().prefix("tower-cdn-log-").tempdir().unwrap();
    let path = dir.path().join("access.log");
    let origin = Origin::start().await;
    origin.route("/f", Reply::ok("f").header("cache-control", "max-age=60"));
    let log = AccessLog::file(&path, LogFormat::CloudFront).unwrap();
    let layer = CdnLayer::builder().origin(CdnOrigin::http(origin.url())).access_log(log.clone()).build().unwrap();
    let edge = start_proxy(layer).await;
    let _ = client().get(format!("http://{edge}/f")).send().await.unwrap().bytes().await;
    assert!(eventually(|| log.written() == 1).await);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("#Version: 1.0\n#Fields: date time x-edge-location"), "{text}");
    assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 1);
    // logrotate: move the file, ask for a reopen, log again.
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&path, &rotated).unwrap();
    log.reopen();
    let _ = client().get(format!("http://{edge}/f")).send().await.unwrap().bytes().await;
    assert!(eventually(|| log.written() == 2).await);
    let fresh = std::fs::read_to_string(&path).unwrap();
    assert!(fresh.starts_with("#Version: 1.0"));
    assert!(fresh.lines().last().unwrap().contains("\tHit\t"), "{fresh}");
    assert_eq!(log.dropped(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn metrics_count_results_bytes_and_origin_fetches() {
    let origin = Origin::start().await;
    origin.route("/m", Reply::ok(vec![b'm'; 100]).header("cache-control", "max-age=60"));
    let layer = CdnLayer::builder().origin(CdnOrigin::http(origin.url())).build().unwrap();
    let cache = layer.cache();
    let edge = start_proxy(layer).await;
    for _ in 0..4 {
        let _ = client().get(format!("http://{edge}/m")).send().await.unwrap().bytes().await;
    }
    assert!(eventually(|| cache.stats().bytes_from_cache == 300).await);
    let s = cache.stats();
    let count = |t: ResultType| s.requests.iter().find(|(r, _)| *r == t).unwrap().1;
    assert_eq!((count(ResultType::Miss), count(ResultType::Hit)), (1, 3));
    assert_eq!(s.hit_ratio, 0.75);
    assert_eq!((s.bytes_from_origin, s.origin_fetches, s.entries), (100, 1, 1));
    let text = cache.metrics_text();
    assert!(text.contains("tower_cdn_requests_total{result_type=\"Hit\",status_class=\"2xx\"} 3"), "{text}");
    assert!(text.contains("tower_cdn_origin_fetches_total 1"));
    assert!(text.contains("tower_cdn_cache_entries 1"));
    assert!(text.contains("tower_cdn_origin_response_seconds_bucket"));
}

#[tokio::test]
async fn invalidating_exact_and_wildcard_paths_makes_the_next_request_a_miss() {
    let origin = Origin::start().await;
    for p in ["/index.html", "/images/a.png", "/images/b/c.png", "/other"] {
        origin.route(p, Reply::ok(p).header("cache-control", "max-age=600"));
    }
    let layer = CdnLayer::builder().origin(CdnOrigin::http(origin.url())).build().unwrap();
    let cache = layer.cache();
    let edge = start_proxy(layer).await;
    let get = |p: &'static str| async move {
        let r = client().get(format!("http://{edge}{p}")).send().await.unwrap();
        let s = cache_status(&r);
        let _ = r.bytes().await;
        s
    };
    for p in ["/index.html", "/images/a.png", "/images/b/c.png", "/other"] {
        get(p).await;
    }
    let inv = cache.invalidate(["/index.html", "/images/*"]);
    let id = inv.id();
    assert_eq!(inv.wait().await, 3);
    assert_eq!(cache.invalidation_status(id), Some(tower_cdn::InvalidationStatus::Completed { removed: 3 }));
    assert!(get("/index.html").await.contains("fwd=uri-miss"));
    assert!(get("/images/a.png").await.contains("fwd=uri-miss"));
    assert!(get("/images/b/c.png").await.contains("fwd=uri-miss"));
    assert!(get("/other").await.contains("hit"));
    assert_eq!(origin.hits("/index.html"), 2);
    assert_eq!(cache.stats().invalidations, 1);
    // In effect at once, before the sweep finished.
    let _pending = cache.invalidate_all();
    assert!(get("/other").await.contains("fwd=uri-miss"));
    let _ = Duration::ZERO;
}

#[tokio::test]
async fn purge_by_tag_drops_every_entry_carrying_the_tag() {
    let origin = Origin::start().await;
    origin.route(
        "/p1",
        Reply::ok("1").header("cache-control", "max-age=600").header("surrogate-key", "product-7 listing"),
    );
    origin.route("/p2", Reply::ok("2").header("cache-control", "max-age=600").header("cache-tag", "product-7,blue"));
    origin.route("/p3", Reply::ok("3").header("cache-control", "max-age=600").header("surrogate-key", "product-70"));
    let layer = CdnLayer::builder().origin(CdnOrigin::http(origin.url())).build().unwrap();
    let cache = layer.cache();
    let edge = start_proxy(layer).await;
    let get = |p: &'static str| async move {
        let r = client().get(format!("http://{edge}{p}")).send().await.unwrap();
        let s = cache_status(&r);
        assert!(r.headers().get("surrogate-key").is_none() && r.headers().get("cache-tag").is_none());
        let _ = r.bytes().await;
        s
    };
    for p in ["/p1", "/p2", "/p3"] {
        get(p).await;
    }
    assert_eq!(cache.invalidate_tags(["product-7"]).wait().await, 2);
    assert!(get("/p1").await.contains("fwd=uri-miss"));
    assert!(get("/p2").await.contains("fwd=uri-miss"));
    assert!(get("/p3").await.contains("hit"), "tags match exactly, not as prefixes");
}

#[tokio::test]
async fn an_entry_being_filled_when_invalidated_is_not_stored() {
    let origin = Origin::start().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    origin.route(
        "/old",
        Reply::ok(vec![b'o'; 100_000])
            .header("cache-control", "max-age=600")
            .chunks(vec![10_000])
            .gate_after(20_000, gate.clone()),
    );
    let layer = CdnLayer::builder().origin(CdnOrigin::http(origin.url())).build().unwrap();
    let cache = layer.cache();
    let edge = start_proxy(layer).await;
    let r = client().get(format!("http://{edge}/old")).send().await.unwrap();
    let mut s = r.bytes_stream();
    let _ = s.next().await;
    cache.invalidate(["/old"]).wait().await;
    gate.notify_one();
    while s.next().await.is_some() {}
    assert!(eventually(|| cache.fills_in_flight() == 0).await);
    let again = client().get(format!("http://{edge}/old")).send().await.unwrap();
    assert!(cache_status(&again).contains("fwd=uri-miss"), "{}", cache_status(&again));
}
