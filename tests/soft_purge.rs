//! Soft purges (`"mode": "stale"`, Varnish's softpurge): covered entries
//! are served stale while one background refresh per key runs, so a purge
//! of many entries under load costs the origin one fetch per key asked for.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use support::{Origin, Reply, cache_status, client, eventually, start_admin, start_proxy};
use tower_cdn::{CdnLayer, Origin as CdnOrigin};

const TOKEN: &str = "soft-token";

async fn admin_post(admin: SocketAddr, body: &str) -> (u16, Value) {
    let r = client()
        .post(format!("http://{admin}/invalidations"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null))
}

async fn completed(admin: SocketAddr, id: &str) -> Value {
    for _ in 0..500 {
        let r = client().get(format!("http://{admin}/invalidations/{id}")).bearer_auth(TOKEN).send().await.unwrap();
        let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        if v["Invalidation"]["Status"] == "Completed" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("invalidation {id} never completed");
}

async fn get(edge: SocketAddr, path: &str) -> (String, String) {
    let r = client().get(format!("http://{edge}{path}")).header("host", "site.test").send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let status = cache_status(&r);
    (status, r.text().await.unwrap())
}

fn layer(origin: &Origin) -> CdnLayer {
    CdnLayer::builder().origin(CdnOrigin::http(origin.url())).build().unwrap()
}

#[tokio::test]
async fn a_soft_purged_entry_is_served_stale_once_while_one_refresh_fetches_the_new_version() {
    let origin = Origin::start().await;
    let reply = |body: &str, etag: &str| {
        Reply::ok(body.to_owned()).header("cache-control", "max-age=3600").header("etag", etag)
    };
    origin.route("/page", reply("version 1", "\"v1\""));
    let layer = layer(&origin);
    let edge = start_proxy(layer.clone()).await;
    let admin = start_admin(&layer, Some(TOKEN)).await;
    get(edge, "/page").await;
    assert!(get(edge, "/page").await.0.contains("hit"));

    origin.route("/page", reply("version 2", "\"v2\""));
    let (code, body) = admin_post(admin, r#"{"paths": ["/page"], "mode": "stale"}"#).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["Invalidation"]["InvalidationBatch"]["Mode"], "stale");
    // The next request gets the stale copy at once, marked as such...
    let (status, text) = get(edge, "/page").await;
    assert_eq!(text, "version 1");
    assert!(status.contains("hit") && status.contains("detail=soft-purged"), "{status}");
    // ...while one conditional refresh brings the new version.
    assert!(eventually(|| origin.hits("/page") == 2).await);
    let sent = origin.last_headers("/page").unwrap();
    assert_eq!(sent["if-none-match"], "\"v1\"", "the refresh revalidates");
    let mut fresh = String::new();
    for _ in 0..200 {
        let (status, text) = get(edge, "/page").await;
        if text == "version 2" {
            fresh = status;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(fresh.contains("hit") && !fresh.contains("soft-purged"), "{fresh:?}");
    assert_eq!(origin.hits("/page"), 2);

    let id = body["Invalidation"]["Id"].as_str().unwrap().to_owned();
    let done = completed(admin, &id).await;
    assert!(done["Invalidation"]["EntriesMarkedStale"].is_u64(), "{done}");
}

#[tokio::test]
async fn a_soft_purge_that_the_origin_confirms_keeps_the_body_and_freshens_it() {
    let origin = Origin::start().await;
    origin.route("/same", Reply::ok("unchanged").header("cache-control", "max-age=3600").header("etag", "\"e\""));
    let layer = layer(&origin);
    let edge = start_proxy(layer.clone()).await;
    get(edge, "/same").await;
    layer.cache().soft_invalidate(["/same"]).wait().await;
    // The sweep marked the stored entry itself (the rule has retired).
    let (status, _) = get(edge, "/same").await;
    assert!(status.contains("soft-purged"), "{status}");
    assert!(eventually(|| origin.hits("/same") == 2).await);
    for _ in 0..200 {
        if !get(edge, "/same").await.0.contains("soft-purged") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, text) = get(edge, "/same").await;
    assert_eq!(text, "unchanged");
    assert!(status.contains("hit") && !status.contains("soft-purged"), "{status}");
    assert_eq!(origin.hits("/same"), 2, "a 304 freshened the copy; no further fetch");
}

#[tokio::test]
async fn a_response_that_must_be_revalidated_is_not_served_stale_after_a_soft_purge() {
    let origin = Origin::start().await;
    origin.route(
        "/strict",
        Reply::ok("strict 1").header("cache-control", "max-age=3600, must-revalidate").header("etag", "\"s1\""),
    );
    let layer = layer(&origin);
    let edge = start_proxy(layer.clone()).await;
    get(edge, "/strict").await;
    origin.route(
        "/strict",
        Reply::ok("strict 2").header("cache-control", "max-age=3600, must-revalidate").header("etag", "\"s2\""),
    );
    layer.cache().soft_invalidate(["/strict"]);
    let (status, text) = get(edge, "/strict").await;
    assert_eq!(text, "strict 2", "{status}");
    assert!(status.contains("fwd=stale"), "{status}");
    assert_eq!(origin.hits("/strict"), 2);
}

#[tokio::test]
async fn a_soft_tag_purge_of_many_entries_under_load_costs_one_fetch_per_key() {
    const KEYS: usize = 300;
    let origin = Origin::start().await;
    for i in 0..KEYS {
        origin.route(
            &format!("/p/{i}"),
            Reply::ok(format!("old {i}"))
                .header("cache-control", "max-age=3600")
                .header("etag", &format!("\"{i}\""))
                .header("surrogate-key", "catalog"),
        );
    }
    let layer = layer(&origin);
    let edge = start_proxy(layer.clone()).await;
    let admin = start_admin(&layer, Some(TOKEN)).await;
    for i in 0..KEYS {
        get(edge, &format!("/p/{i}")).await;
    }
    assert_eq!(origin.total_hits(), KEYS);
    // The origin is slow now: refreshes overlap many requests.
    for i in 0..KEYS {
        origin.route(
            &format!("/p/{i}"),
            Reply::ok(format!("new {i}"))
                .header("cache-control", "max-age=3600")
                .header("etag", &format!("\"n{i}\""))
                .header("surrogate-key", "catalog")
                .head_delay(Duration::from_millis(100)),
        );
    }
    let (code, body) = admin_post(admin, r#"{"tags": ["catalog"], "mode": "stale"}"#).await;
    assert_eq!(code, 201, "{body}");

    // 32 clients, each asking for every key in its own order, 4 times.
    let seen = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let mut tasks = Vec::new();
    for c in 0..32usize {
        let seen = Arc::clone(&seen);
        tasks.push(tokio::spawn(async move {
            let http = client();
            for round in 0..4 {
                for k in 0..KEYS {
                    let i = (k * 7 + c * 13 + round) % KEYS;
                    let r = http.get(format!("http://{edge}/p/{i}")).header("host", "site.test").send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    let status = cache_status(&r);
                    let text = r.text().await.unwrap();
                    assert!(text == format!("old {i}") || text == format!("new {i}"), "{text}");
                    // Every answer came from the cache: nobody waited for the origin.
                    assert!(status.contains("hit"), "{status}");
                    seen.lock().unwrap().insert(i);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(seen.lock().unwrap().len(), KEYS);
    assert!(eventually(|| origin.total_hits() == 2 * KEYS).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..KEYS {
        assert_eq!(origin.hits(&format!("/p/{i}")), 2, "/p/{i}: one fill, one refresh");
    }
    assert_eq!(get(edge, "/p/7").await.1, "new 7");
}

#[tokio::test]
async fn the_admin_api_rejects_an_unknown_purge_mode_and_purge_takes_a_mode_header() {
    let origin = Origin::start().await;
    origin.route("/a", Reply::ok("a").header("cache-control", "max-age=3600"));
    let layer = layer(&origin);
    let edge = start_proxy(layer.clone()).await;
    let admin = start_admin(&layer, Some(TOKEN)).await;
    get(edge, "/a").await;
    let (code, body) = admin_post(admin, r#"{"paths": ["/a"], "mode": "gentle"}"#).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["Error"]["Message"].as_str().unwrap().contains("stale"), "{body}");
    let r = client()
        .request(reqwest::Method::from_bytes(b"PURGE").unwrap(), format!("http://{admin}/a"))
        .bearer_auth(TOKEN)
        .header("x-purge-mode", "stale")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (status, text) = get(edge, "/a").await;
    assert_eq!(text, "a");
    assert!(status.contains("soft-purged"), "{status}");
}

/// 100,000 entries under one tag, soft-purged while 64 clients keep asking
/// for random ones as fast as they can: the origin sees at most one
/// refresh per key asked for, never more than the layer's bound on
/// background refreshes at once (32), and no client waits for it.
/// (`benches/listing.rs` does the same over 1,000,000 entries.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_purge_of_many_entries_sends_bounded_refreshes_only_as_keys_are_asked_for() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt as _;

    const ENTRIES: usize = 100_000;
    let calls = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    // Slow (2 ms an answer) once the cache is filled.
    let slow = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app = {
        let (calls, in_flight, peak, slow) =
            (Arc::clone(&calls), Arc::clone(&in_flight), Arc::clone(&peak), Arc::clone(&slow));
        tower::service_fn(move |req: http::Request<http_body_util::Empty<bytes::Bytes>>| {
            let (calls, in_flight, peak) = (Arc::clone(&calls), Arc::clone(&in_flight), Arc::clone(&peak));
            let slow = slow.load(Ordering::SeqCst);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                if slow {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                in_flight.fetch_sub(1, Ordering::SeqCst);
                let resp = http::Response::builder()
                    .header("cache-control", "max-age=3600")
                    .header("etag", "\"v\"")
                    .header("surrogate-key", "everything")
                    .body(http_body_util::Full::new(bytes::Bytes::from(req.uri().path().to_owned())))
                    .unwrap();
                Ok::<_, std::convert::Infallible>(resp)
            }
        })
    };
    let layer = CdnLayer::builder().capacity_bytes(1 << 30).build().unwrap();
    let svc = tower::Layer::layer(&layer, app);
    let get = |i: usize| {
        http::Request::get(format!("/item/{i}"))
            .header("host", "bulk.test")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap()
    };
    for i in 0..ENTRIES {
        let resp = svc.clone().oneshot(get(i)).await.unwrap();
        http_body_util::BodyExt::collect(resp.into_body()).await.unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), ENTRIES);
    assert!(layer.cache().len() >= ENTRIES);
    calls.store(0, Ordering::SeqCst);
    peak.store(0, Ordering::SeqCst);
    slow.store(true, Ordering::SeqCst);

    layer.cache().soft_invalidate_tags(["everything"]);
    let asked = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let mut clients = Vec::new();
    for c in 0..64usize {
        let (svc, asked) = (svc.clone(), Arc::clone(&asked));
        clients.push(tokio::spawn(async move {
            let mut x = c as u64 * 7919 + 1;
            for _ in 0..60 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let i = (x >> 33) as usize % ENTRIES;
                let resp = svc.clone().oneshot(get(i)).await.unwrap();
                let status = resp.headers()["cache-status"].to_str().unwrap().to_owned();
                assert!(status.contains("hit"), "a client waited for the origin: {status}");
                http_body_util::BodyExt::collect(resp.into_body()).await.unwrap();
                asked.lock().unwrap().insert(i);
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let distinct = asked.lock().unwrap().len();
    // Background refreshes finish shortly after their requests.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refreshes = calls.load(Ordering::SeqCst);
    assert!(refreshes > 0 && refreshes <= distinct, "{refreshes} refreshes for {distinct} keys asked for");
    assert!(peak.load(Ordering::SeqCst) <= 32, "refreshes at once: {}", peak.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_failing_origin_is_not_asked_again_by_every_request_for_a_soft_purged_entry() {
    let origin = Origin::start().await;
    origin.route("/down", Reply::ok("kept").header("cache-control", "max-age=3600"));
    let layer = layer(&origin);
    let edge = start_proxy(layer.clone()).await;
    get(edge, "/down").await;
    origin.route("/down", Reply::ok("broken").status(500));
    layer.cache().soft_invalidate(["/down"]).wait().await;
    // The first request starts a refresh, which fails; the next ones within
    // the backoff get the stale copy without asking the origin again.
    assert_eq!(get(edge, "/down").await.1, "kept");
    assert!(eventually(|| origin.hits("/down") == 2).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..10 {
        let (status, text) = get(edge, "/down").await;
        assert_eq!(text, "kept", "{status}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(origin.hits("/down"), 2, "a failing origin was asked again within the backoff");
}
