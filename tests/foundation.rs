//! The foundation: caching, streaming fills, coalescing, origin faults.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use support::{Origin, Reply, cache_status, client, eventually, start_proxy, x_cache};
use tokio::sync::Notify;
use tower_cdn::{CdnLayer, Origin as CdnOrigin};

fn layer_for(origin: &Origin) -> CdnLayer {
    CdnLayer::builder().origin(CdnOrigin::http(origin.url())).build().unwrap()
}

#[tokio::test]
async fn second_get_is_served_from_cache() {
    let origin = Origin::start().await;
    origin.route("/a", Reply::ok("alpha").header("cache-control", "max-age=60"));
    let edge = start_proxy(layer_for(&origin)).await;
    let c = client();

    let r1 = c.get(format!("http://{edge}/a")).send().await.unwrap();
    assert_eq!(r1.status(), 200);
    assert_eq!(cache_status(&r1), "tower-cdn; fwd=uri-miss; fwd-status=200; stored");
    assert_eq!(x_cache(&r1), "Miss from tower-cdn");
    assert_eq!(r1.text().await.unwrap(), "alpha");

    assert!(eventually(|| origin.hits("/a") == 1).await);
    let layer_hit = c.get(format!("http://{edge}/a")).send().await.unwrap();
    assert!(cache_status(&layer_hit).starts_with("tower-cdn; hit"), "{}", cache_status(&layer_hit));
    assert_eq!(x_cache(&layer_hit), "Hit from tower-cdn");
    assert!(layer_hit.headers().contains_key("age"));
    assert_eq!(layer_hit.headers()["via"], "1.1 tower-cdn");
    assert_eq!(layer_hit.text().await.unwrap(), "alpha");
    assert_eq!(origin.hits("/a"), 1, "the origin saw exactly one request");
}

#[tokio::test]
async fn host_path_and_query_make_distinct_entries() {
    let origin = Origin::start().await;
    origin.route("/p", Reply::ok("p").header("cache-control", "max-age=60").stamped());
    origin.route("/q", Reply::ok("q").header("cache-control", "max-age=60").stamped());
    let edge = start_proxy(layer_for(&origin)).await;
    let c = client();
    let get = |host: &'static str, path: &'static str| {
        let c = c.clone();
        async move {
            let r = c.get(format!("http://{edge}{path}")).header("host", host).send().await.unwrap();
            let status = cache_status(&r);
            (status, r.text().await.unwrap())
        }
    };
    let a = get("a.test", "/p").await;
    let b = get("b.test", "/p").await;
    let c1 = get("a.test", "/p?x=1").await;
    let d = get("a.test", "/q").await;
    for (s, _) in [&a, &b, &c1, &d] {
        assert!(s.contains("fwd=uri-miss"), "{s}");
    }
    assert_eq!(origin.hits("/p"), 2);
    assert_eq!(origin.hits("/p?x=1"), 1);
    // Host normalisation: case, trailing dot and the default port collapse.
    let again = get("A.TEST.", "/p").await;
    assert!(again.0.contains("hit"), "{}", again.0);
    assert_eq!(again.1, a.1);
    let port80 = get("a.test:80", "/p").await;
    assert!(port80.0.contains("hit"), "{}", port80.0);
}

#[tokio::test]
async fn first_byte_of_a_miss_arrives_while_the_origin_is_still_sending() {
    let origin = Origin::start().await;
    let gate = Arc::new(Notify::new());
    origin.route(
        "/slow",
        Reply::ok(vec![b'x'; 64 * 1024]).header("cache-control", "max-age=60").gate_after(1024, gate.clone()),
    );
    let edge = start_proxy(layer_for(&origin)).await;
    let resp = client().get(format!("http://{edge}/slow")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    // The origin is still blocked at byte 1024: the client already has bytes.
    let mut got = first.len();
    gate.notify_one();
    while let Some(chunk) = stream.next().await {
        got += chunk.unwrap().len();
    }
    assert_eq!(got, 64 * 1024);
    let layer_hit = client().get(format!("http://{edge}/slow")).send().await.unwrap();
    assert!(cache_status(&layer_hit).contains("hit"));
    assert_eq!(layer_hit.bytes().await.unwrap().len(), 64 * 1024);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_body_leaves_nothing_stored_and_no_key_locked() {
    let origin = Origin::start().await;
    let first = Arc::new(Notify::new());
    let last = Arc::new(Notify::new());
    let body = vec![b'y'; 4 << 20];
    origin.route(
        "/cut",
        Reply::ok(body.clone())
            .header("cache-control", "max-age=60")
            .chunks(vec![16 * 1024])
            .gate_after(4096, first.clone())
            .gate_after(body.len() - 1024, last.clone()),
    );
    let layer = layer_for(&origin);
    let cache = layer.cache();
    let edge = start_proxy(layer).await;
    {
        let resp = client().get(format!("http://{edge}/cut")).send().await.unwrap();
        let mut stream = resp.bytes_stream();
        let _ = stream.next().await.unwrap().unwrap();
        // Dropping the response and the client closes the connection.
    }
    // The origin goes on (but never finishes while `last` is closed): the
    // edge writes to the closed connection, notices the client is gone,
    // and abandons the fill.
    first.notify_one();
    assert!(eventually(|| cache.fills_in_flight() == 0).await, "key still locked");
    assert_eq!(cache.len(), 0, "a partial body was stored");
    last.notify_one();

    origin.route("/cut", Reply::ok(body.clone()).header("cache-control", "max-age=60"));
    let r = client().get(format!("http://{edge}/cut")).send().await.unwrap();
    assert!(cache_status(&r).contains("fwd=uri-miss"), "{}", cache_status(&r));
    assert_eq!(r.bytes().await.unwrap().len(), body.len());
    assert_eq!(origin.hits("/cut"), 2, "the next request refetched");
}

#[tokio::test]
async fn origin_dying_mid_body_is_not_stored() {
    let origin = Origin::start().await;
    origin.route(
        "/die",
        Reply::ok(vec![b'z'; 100_000])
            .header("cache-control", "max-age=60")
            .chunked()
            .chunks(vec![10_000])
            .chunk_delay(Duration::from_millis(20))
            .fail_after(30_000),
    );
    let layer = layer_for(&origin);
    let cache = layer.cache();
    let edge = start_proxy(layer).await;
    let resp = client().get(format!("http://{edge}/die")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.is_err(), "the client must see the truncation");
    assert!(eventually(|| cache.fills_in_flight() == 0).await);
    assert_eq!(cache.len(), 0);
    let again = client().get(format!("http://{edge}/die")).send().await.unwrap();
    assert!(cache_status(&again).contains("fwd=uri-miss"));
    let _ = again.bytes().await;
    assert_eq!(origin.hits("/die"), 2);
}

#[tokio::test]
async fn origin_down_gives_502_and_slow_origin_gives_504() {
    // A port that was free a moment ago: nothing listens there.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let layer = CdnLayer::builder().origin(CdnOrigin::http(format!("http://{dead}"))).build().unwrap();
    let edge = start_proxy(layer).await;
    let r = client().get(format!("http://{edge}/x")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(x_cache(&r), "Error from tower-cdn");
    let body = r.text().await.unwrap();
    assert!(!body.contains(&dead.port().to_string()), "error body leaks the origin: {body}");

    let origin = Origin::start().await;
    origin.route("/slow", Reply::ok("late").head_delay(Duration::from_secs(5)));
    let layer = CdnLayer::builder()
        .origin(CdnOrigin::http(origin.url()).response_timeout(Duration::from_millis(200)))
        .build()
        .unwrap();
    let edge = start_proxy(layer).await;
    let r = client().get(format!("http://{edge}/slow")).send().await.unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(x_cache(&r), "Error from tower-cdn");
}

#[tokio::test]
async fn oversized_body_streams_in_full_but_is_not_stored() {
    let origin = Origin::start().await;
    let big = Bytes::from((0..300_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    origin.route("/known", Reply::ok(big.clone()).header("cache-control", "max-age=60").chunks(vec![16_384]));
    origin
        .route("/chunked", Reply::ok(big.clone()).header("cache-control", "max-age=60").chunks(vec![16_384]).chunked());
    let layer = CdnLayer::builder()
        .origin(CdnOrigin::http(origin.url()))
        .capacity_bytes(1 << 20)
        .max_entry_bytes(100_000)
        .build()
        .unwrap();
    let cache = layer.cache();
    let edge = start_proxy(layer).await;
    for path in ["/known", "/chunked"] {
        for _ in 0..2 {
            let r = client().get(format!("http://{edge}{path}")).send().await.unwrap();
            let status = cache_status(&r);
            assert!(!status.contains("hit"), "{path}: {status}");
            assert_eq!(r.bytes().await.unwrap(), big, "{path}: body differs");
        }
        assert_eq!(origin.hits(path), 2);
    }
    let r = client().get(format!("http://{edge}/known")).send().await.unwrap();
    assert!(cache_status(&r).contains("detail=too-large"), "{}", cache_status(&r));
    let _ = r.bytes().await;
    assert!(eventually(|| cache.fills_in_flight() == 0).await);
    assert_eq!(cache.len(), 0);
}

#[tokio::test]
async fn concurrent_cold_requests_make_one_origin_fetch() {
    let origin = Origin::start().await;
    let body = Bytes::from(vec![b'c'; 200_000]);
    origin.route(
        "/hot",
        Reply::ok(body.clone())
            .header("cache-control", "max-age=60")
            .head_delay(Duration::from_millis(200))
            .chunks(vec![8192])
            .chunk_delay(Duration::from_millis(1)),
    );
    let edge = start_proxy(layer_for(&origin)).await;
    let c = client();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                let r = c.get(format!("http://{edge}/hot")).send().await.unwrap();
                (cache_status(&r), r.bytes().await.unwrap())
            })
        })
        .collect();
    let mut collapsed = 0;
    for t in tasks {
        let (status, bytes) = t.await.unwrap();
        assert_eq!(bytes, body);
        collapsed += usize::from(status.contains("collapsed"));
    }
    assert_eq!(origin.hits("/hot"), 1, "32 concurrent misses must make one origin fetch");
    assert!(collapsed > 0);
}

#[tokio::test]
async fn responses_meant_for_one_user_are_never_shared() {
    let origin = Origin::start().await;
    origin.route("/nostore", Reply::ok("n").header("cache-control", "no-store").stamped());
    origin.route("/private", Reply::ok("p").header("cache-control", "private, max-age=60").stamped());
    origin.route("/auth", Reply::ok("a").header("cache-control", "max-age=60").stamped());
    origin.route("/cookie", Reply::ok("c").header("cache-control", "max-age=60").header("set-cookie", "s=1").stamped());
    let edge = start_proxy(layer_for(&origin)).await;
    let c = client();
    for path in ["/nostore", "/private", "/cookie"] {
        let a = c.get(format!("http://{edge}{path}")).send().await.unwrap().text().await.unwrap();
        let b = c.get(format!("http://{edge}{path}")).send().await.unwrap().text().await.unwrap();
        assert_ne!(a, b, "{path} was shared");
        assert_eq!(origin.hits(path), 2, "{path}");
    }
    let a = c.get(format!("http://{edge}/auth")).header("authorization", "Bearer alice").send().await.unwrap();
    assert!(cache_status(&a).contains("detail=authorization"), "{}", cache_status(&a));
    let a = a.text().await.unwrap();
    let b = c.get(format!("http://{edge}/auth")).send().await.unwrap().text().await.unwrap();
    assert_ne!(a, b, "alice's response reached another user");
}

#[tokio::test]
async fn concurrent_waiters_on_an_unshareable_response_each_get_their_own() {
    let origin = Origin::start().await;
    origin.route(
        "/mine",
        Reply::ok("u").header("cache-control", "private").head_delay(Duration::from_millis(150)).stamped(),
    );
    let edge = start_proxy(layer_for(&origin)).await;
    let c = client();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(
                async move { c.get(format!("http://{edge}/mine")).send().await.unwrap().text().await.unwrap() },
            )
        })
        .collect();
    let mut bodies = Vec::new();
    for t in tasks {
        bodies.push(t.await.unwrap());
    }
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 8, "a private response was handed to another waiter: {bodies:?}");
    assert_eq!(origin.hits("/mine"), 8);
}

/// HTTP/2 (prior knowledge, as `h2load` and gRPC-style clients speak it):
/// streams on one connection coalesce on one fill, and a stream the client
/// resets mid-body abandons only its own fill, not the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_share_one_fill_and_a_reset_stream_leaves_nothing_behind() {
    let origin = Origin::start().await;
    let gate = Arc::new(Notify::new());
    let body = vec![b'h'; 256 * 1024];
    origin.route(
        "/h2",
        Reply::ok(body.clone())
            .header("cache-control", "max-age=60")
            .chunks(vec![16 * 1024])
            .gate_after(16 * 1024, gate.clone()),
    );
    let layer = layer_for(&origin);
    let cache = layer.cache();
    let edge = start_proxy(layer).await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();

    let streams: Vec<_> = (0..8)
        .map(|_| {
            let h2 = h2.clone();
            tokio::spawn(async move {
                let r = h2.get(format!("http://{edge}/h2")).send().await.unwrap();
                assert_eq!(r.version(), reqwest::Version::HTTP_2);
                r.bytes().await.unwrap()
            })
        })
        .collect();
    assert!(eventually(|| origin.hits("/h2") == 1).await);
    gate.notify_one();
    for s in streams {
        assert_eq!(s.await.unwrap().len(), body.len());
    }
    assert_eq!(origin.hits("/h2"), 1, "eight streams, one origin fetch");

    // A stream reset after its first bytes: its fill (it was the only
    // reader) is abandoned and stores nothing; the connection lives on.
    let cut_gate = Arc::new(Notify::new());
    origin.route(
        "/h2cut",
        Reply::ok(body.clone())
            .header("cache-control", "max-age=60")
            .chunks(vec![16 * 1024])
            .gate_after(16 * 1024, cut_gate.clone()),
    );
    {
        let r = h2.get(format!("http://{edge}/h2cut")).send().await.unwrap();
        let mut stream = r.bytes_stream();
        let _ = stream.next().await.unwrap().unwrap();
    }
    assert!(eventually(|| cache.fills_in_flight() == 0).await, "key still locked");
    cut_gate.notify_one();
    assert_eq!(cache.len(), 1, "only /h2 is stored, not the cut /h2cut");
    // Same client, same connection: other streams still work.
    let again = h2.get(format!("http://{edge}/h2")).send().await.unwrap();
    assert!(cache_status(&again).contains("hit"), "{}", cache_status(&again));
    assert_eq!(again.bytes().await.unwrap().len(), body.len());
    let refetch = h2.get(format!("http://{edge}/h2cut")).send().await.unwrap();
    assert!(cache_status(&refetch).contains("fwd=uri-miss"), "{}", cache_status(&refetch));
    assert_eq!(refetch.bytes().await.unwrap().len(), body.len());
    assert_eq!(origin.hits("/h2cut"), 2);
}
