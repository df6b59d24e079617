//! Behaviour under load (no timings): followers stream the fill in
//! progress, a leader that leaves does not hurt the followers, a failing
//! origin truncates everyone, and eviction is by bytes and scan-resistant.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use support::{Origin, Reply, cache_status, client, eventually, start_proxy};
use tokio::sync::Notify;
use tower_cdn::{CdnLayer, Origin as CdnOrigin};

fn layer_for(origin: &Origin) -> CdnLayer {
    CdnLayer::builder().origin(CdnOrigin::http(origin.url())).build().unwrap()
}

#[tokio::test]
async fn fifty_concurrent_cold_requests_make_one_fetch_and_get_identical_bytes() {
    let origin = Origin::start().await;
    let gate = Arc::new(Notify::new());
    let body = Bytes::from((0..500_000u32).map(|i| (i % 253) as u8).collect::<Vec<_>>());
    origin.route(
        "/cold",
        Reply::ok(body.clone())
            .header("cache-control", "max-age=60")
            .chunks(vec![32 * 1024])
            .gate_after(64 * 1024, gate.clone()),
    );
    let layer = layer_for(&origin);
    let cache = layer.cache();
    let edge = start_proxy(layer).await;
    let c = client();
    let mut streams = Vec::new();
    for _ in 0..50 {
        let r = c.get(format!("http://{edge}/cold")).send().await.unwrap();
        streams.push(r.bytes_stream());
    }
    // Every client already has bytes while the origin is blocked mid-body.
    let mut got: Vec<Vec<u8>> = Vec::new();
    for s in &mut streams {
        let first = s.next().await.unwrap().unwrap();
        assert!(!first.is_empty());
        got.push(first.to_vec());
    }
    assert_eq!(origin.hits("/cold"), 1);
    gate.notify_one();
    for (s, buf) in streams.iter_mut().zip(got.iter_mut()) {
        while let Some(chunk) = s.next().await {
            buf.extend_from_slice(&chunk.unwrap());
        }
    }
    for buf in &got {
        assert_eq!(buf.as_slice(), body.as_ref());
    }
    assert_eq!(origin.hits("/cold"), 1, "50 concurrent cold requests → 1 origin fetch");
    assert!(eventually(|| cache.len() == 1).await);
}

#[tokio::test]
async fn a_late_follower_gets_the_bytes_already_received_then_the_rest_live() {
    let origin = Origin::start().await;
    let gate = Arc::new(Notify::new());
    let body = Bytes::from(vec![b'L'; 300_000]);
    origin.route(
        "/late",
        Reply::ok(body.clone())
            .header("cache-control", "max-age=60")
            .chunks(vec![10_000])
            .gate_after(150_000, gate.clone()),
    );
    let edge = start_proxy(layer_for(&origin)).await;
    let c = client();
    let mut leader = c.get(format!("http://{edge}/late")).send().await.unwrap().bytes_stream();
    let mut seen = 0;
    while seen < 150_000 {
        seen += leader.next().await.unwrap().unwrap().len();
    }
    // The origin is blocked at 150 000 bytes; a new client joins now.
    let follower = c.get(format!("http://{edge}/late")).send().await.unwrap();
    assert!(cache_status(&follower).contains("collapsed"), "{}", cache_status(&follower));
    let mut follower = follower.bytes_stream();
    let mut fseen = 0;
    while fseen < 150_000 {
        fseen += follower.next().await.unwrap().unwrap().len();
    }
    gate.notify_one();
    while let Some(c) = follower.next().await {
        fseen += c.unwrap().len();
    }
    while let Some(c) = leader.next().await {
        seen += c.unwrap().len();
    }
    assert_eq!((seen, fseen), (300_000, 300_000));
    assert_eq!(origin.hits("/late"), 1);
}

#[tokio::test]
async fn when_the_leader_leaves_the_followers_complete_and_the_entry_is_stored() {
    let origin = Origin::start().await;
    let gate = Arc::new(Notify::new());
    let body = Bytes::from(vec![b'F'; 2 << 20]);
    origin.route(
        "/lead",
        Reply::ok(body.clone())
            .header("cache-control", "max-age=60")
            .chunks(vec![16 * 1024])
            .gate_after(32 * 1024, gate.clone()),
    );
    let layer = layer_for(&origin);
    let cache = layer.cache();
    let edge = start_proxy(layer).await;
    let leader_client = client();
    let mut leader = leader_client.get(format!("http://{edge}/lead")).send().await.unwrap().bytes_stream();
    let _ = leader.next().await.unwrap().unwrap();
    let follower = client().get(format!("http://{edge}/lead")).send().await.unwrap();
    assert!(cache_status(&follower).contains("collapsed"));
    drop(leader);
    drop(leader_client);
    gate.notify_one();
    let got = follower.bytes().await.unwrap();
    assert_eq!(got, body);
    assert!(eventually(|| cache.len() == 1).await, "the fill went on and was stored");
    let hit = client().get(format!("http://{edge}/lead")).send().await.unwrap();
    assert!(cache_status(&hit).contains("hit"));
    assert_eq!(origin.hits("/lead"), 1);
}

#[tokio::test]
async fn an_origin_failure_mid_body_truncates_every_follower_and_stores_nothing() {
    let origin = Origin::start().await;
    let gate = Arc::new(Notify::new());
    origin.route(
        "/fail",
        Reply::ok(vec![b'x'; 400_000])
            .header("cache-control", "max-age=60")
            .chunked()
            .chunks(vec![20_000])
            .gate_after(40_000, gate.clone())
            .fail_after(100_000),
    );
    let layer = layer_for(&origin);
    let cache = layer.cache();
    let edge = start_proxy(layer).await;
    let c = client();
    let mut responses = Vec::new();
    for _ in 0..5 {
        responses.push(c.get(format!("http://{edge}/fail")).send().await.unwrap());
    }
    gate.notify_one();
    for r in responses {
        assert!(r.bytes().await.is_err(), "every follower must see the truncation");
    }
    assert_eq!(origin.hits("/fail"), 1);
    assert!(eventually(|| cache.fills_in_flight() == 0).await);
    assert_eq!(cache.len(), 0);
    origin.route("/fail", Reply::ok("fine").header("cache-control", "max-age=60"));
    let again = c.get(format!("http://{edge}/fail")).send().await.unwrap();
    assert!(cache_status(&again).contains("fwd=uri-miss"));
    assert_eq!(again.text().await.unwrap(), "fine");
}

#[tokio::test]
async fn the_cache_holds_at_most_its_capacity_in_bytes_and_keeps_the_hot_set() {
    let origin = Origin::start().await;
    let object = vec![b'o'; 20_000];
    for i in 0..300 {
        origin.route(&format!("/o{i}"), Reply::ok(object.clone()).header("cache-control", "max-age=600"));
    }
    origin.route("/hot1", Reply::ok(object.clone()).header("cache-control", "max-age=600"));
    origin.route("/hot2", Reply::ok(object.clone()).header("cache-control", "max-age=600"));
    let capacity = 1 << 20;
    let layer = CdnLayer::builder()
        .origin(CdnOrigin::http(origin.url()))
        .capacity_bytes(capacity)
        .max_entry_bytes(64 * 1024)
        .build()
        .unwrap();
    let cache = layer.cache();
    let edge = start_proxy(layer).await;
    let c = client();
    let fetch = |path: String| {
        let c = c.clone();
        async move {
            let r = c.get(format!("http://{edge}{path}")).send().await.unwrap();
            let s = cache_status(&r);
            r.bytes().await.unwrap();
            s
        }
    };
    // The hot set: requested repeatedly.
    for _ in 0..5 {
        fetch("/hot1".into()).await;
        fetch("/hot2".into()).await;
    }
    // A scan of one-hit wonders, 6 MB through a 1 MiB cache, with no
    // access to the hot set meanwhile (an LRU cache would lose it).
    for i in 0..300 {
        fetch(format!("/o{i}")).await;
        assert!(cache.weight_bytes() <= capacity, "{} > {capacity}", cache.weight_bytes());
    }
    assert!(cache.evictions() > 0);
    assert!(fetch("/hot1".into()).await.contains("hit"), "the scan flushed the hot set");
    assert!(fetch("/hot2".into()).await.contains("hit"), "the scan flushed the hot set");
    assert_eq!(origin.hits("/hot1"), 1);
}
