//! Several edges, one origin, one Redis: they behave as one cache.
//!
//! Needs Redis: `REDIS_URL` (started by `scripts/test.sh`) and, for the
//! tests that stop and restart it, the `redis-server` binary.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands as _;
use support::l2::{self, RedisServer, Relay};
use support::{Origin, Reply, cache_status, client, start_proxy};
use tokio::sync::Notify;
use tower_cdn::{CdnLayer, L2Config};

/// An edge on 127.0.0.1:0 in front of `origin`, sharing `l2`.
async fn edge(origin: &Origin, l2: L2Config) -> (CdnLayer, SocketAddr) {
    let layer =
        CdnLayer::builder().origin(tower_cdn::Origin::http(origin.url())).standalone(true).l2(l2).build().unwrap();
    let addr = start_proxy(layer.clone()).await;
    (layer, addr)
}

fn l2_config(url: &str, prefix: &str) -> L2Config {
    L2Config::new(url).key_prefix(prefix).timeout(Duration::from_millis(500)).log_interval(Duration::from_secs(1))
}

/// Edges sharing one L2 under one key prefix.
struct Fleet {
    edges: Vec<(CdnLayer, SocketAddr)>,
    prefix: String,
}

/// `n` edges sharing one L2, each connected to Redis.
async fn fleet(origin: &Origin, url: &str, test: &str, n: usize) -> Fleet {
    let prefix = l2::unique_prefix(test);
    let mut edges = Vec::new();
    for _ in 0..n {
        edges.push(edge(origin, l2_config(url, &prefix)).await);
    }
    for (layer, _) in &edges {
        assert!(wait_up(layer, true).await, "edge never connected to Redis");
    }
    Fleet { edges, prefix }
}

/// The meta keys (one per stored response) under `prefix`.
async fn meta_keys(url: &str, prefix: &str) -> Vec<String> {
    let mut conn = l2::connect(url).await;
    let mut keys: Vec<String> = Vec::new();
    let mut iter = conn.scan_match::<_, String>(format!("{prefix}:{{*}}:m")).await.unwrap();
    while let Some(k) = futures_util::StreamExt::next(&mut iter).await {
        keys.push(k.unwrap());
    }
    keys
}

async fn wait_up(layer: &CdnLayer, up: bool) -> bool {
    wait_until(|| layer.cache().stats().l2_up == up).await
}

/// Bounded wait for something that happens in the background.
async fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

/// The site's name: behind a load balancer every edge sees the same `Host`
/// (the cache key includes it).
const SITE: &str = "fleet.test";

fn request(addr: SocketAddr, path: &str) -> reqwest::RequestBuilder {
    client().get(format!("http://{addr}{path}")).header("host", SITE)
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let resp = request(addr, path).send().await.unwrap();
    let status = resp.status().as_u16();
    let cs = cache_status(&resp);
    (status, cs, resp.text().await.unwrap())
}

fn is_l2_hit(cs: &str) -> bool {
    cs.contains("hit") && cs.contains("detail=l2")
}

/// Waits until `layer` has written `n` entries to L2 (writes are in the background).
async fn wait_writes(layer: &CdnLayer, n: u64) {
    assert!(wait_until(|| layer.cache().stats().l2_writes >= n).await, "the L2 write never happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_on_one_edge_is_an_l2_hit_on_another() {
    let origin = Origin::start().await;
    origin.route("/a", Reply::ok("hello fleet").header("cache-control", "max-age=60").header("age", "5"));
    let f = fleet(&origin, &l2::shared_url(), "l2hit", 2).await;
    let ((a, a_addr), (b, b_addr)) = (&f.edges[0], &f.edges[1]);

    let (status, cs, body) = get(*a_addr, "/a").await;
    assert_eq!((status, body.as_str()), (200, "hello fleet"));
    assert!(cs.contains("fwd=uri-miss"), "{cs}");
    wait_writes(a, 1).await;

    let resp = request(*b_addr, "/a").send().await.unwrap();
    let cs = cache_status(&resp);
    assert!(is_l2_hit(&cs), "{cs} {}", b.cache().metrics_text());
    let age: u64 = resp.headers()["age"].to_str().unwrap().parse().unwrap();
    assert!(age >= 5, "age counts from the origin's response, not the L2 read: {age}");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = resp.text().await.unwrap();
    assert_eq!(body, "hello fleet", "{status} {headers:?}");
    assert_eq!(origin.hits("/a"), 1);

    // Now in B's L1: a plain hit that does not touch Redis.
    let (_, cs, _) = get(*b_addr, "/a").await;
    assert!(cs.contains("hit") && !cs.contains("l2"), "{cs}");
    assert_eq!(b.cache().stats().l2_hits, 1);
    assert_eq!(origin.hits("/a"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_cold_requests_over_three_edges_make_one_origin_fetch() {
    let origin = Origin::start().await;
    // The origin holds its body until both other edges are waiting.
    let gate = Arc::new(Notify::new());
    let reply = Reply::ok("cold start").header("cache-control", "max-age=60").gate_after(0, Arc::clone(&gate));
    origin.route("/cold", reply);
    let Fleet { edges, .. } = fleet(&origin, &l2::shared_url(), "stampede", 3).await;
    let requests: Vec<_> = (0..20).map(|i| tokio::spawn(get(edges[i % 3].1, "/cold"))).collect();
    let waiting = || edges.iter().filter(|(l, _)| l.cache().stats().fleet_waits >= 1).count();
    assert!(wait_until(|| waiting() == 2).await, "two edges wait for the third's fill");
    gate.notify_one();
    for r in requests {
        let (status, cs, body) = r.await.unwrap();
        assert_eq!((status, body.as_str()), (200, "cold start"), "{cs}");
    }
    assert_eq!(origin.hits("/cold"), 1, "the fleet fetched once");
    let fetches: u64 = edges.iter().map(|(l, _)| l.cache().stats().origin_fetches).sum();
    assert_eq!(fetches, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filler_keeps_its_fleet_lock_while_the_origin_is_slow() {
    let origin = Origin::start().await;
    let gate = Arc::new(Notify::new());
    let reply = Reply::ok("slow body").header("cache-control", "max-age=60").gate_after(0, Arc::clone(&gate));
    origin.route("/slow", reply);
    let url = l2::shared_url();
    let prefix = l2::unique_prefix("refresh");
    // A 600 ms lock, refreshed every 200 ms while the fill runs (a
    // refresh may be 400 ms late on a busy machine before the lock lapses).
    let config = || l2_config(&url, &prefix).lock_ttl(Duration::from_millis(600));
    let (a, a_addr) = edge(&origin, config()).await;
    let (b, b_addr) = edge(&origin, config()).await;
    assert!(wait_up(&a, true).await && wait_up(&b, true).await);

    let first = tokio::spawn(get(a_addr, "/slow"));
    assert!(wait_until(|| origin.hits("/slow") == 1).await, "edge A fetches and holds the lock");
    let second = tokio::spawn(get(b_addr, "/slow"));
    assert!(wait_until(|| b.cache().stats().fleet_waits >= 1).await, "edge B waits for A's fill");
    // Three lock lifetimes later the lock is still there, and B still waits.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let mut conn = l2::connect(&url).await;
    let locks: Vec<String> = conn.keys(format!("{prefix}:{{*}}:lock")).await.unwrap();
    assert_eq!(locks.len(), 1, "the lock outlived its 600 ms expiry");
    assert_eq!(origin.hits("/slow"), 1, "edge B did not take over");

    gate.notify_one();
    for r in [first, second] {
        let (status, cs, body) = r.await.unwrap();
        assert_eq!((status, body.as_str()), (200, "slow body"), "{cs}");
    }
    assert_eq!(origin.hits("/slow"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_on_one_edge_stops_every_edge_serving_the_entry() {
    let origin = Origin::start().await;
    origin.route("/p", Reply::ok("v").header("cache-control", "max-age=300").stamped());
    origin.route("/img/1.png", Reply::ok("png").header("cache-control", "max-age=300").stamped());
    let url = l2::shared_url();
    let f = fleet(&origin, &url, "purge", 3).await;
    let (a, b, c) = (&f.edges[0], &f.edges[1], &f.edges[2]);
    for path in ["/p", "/img/1.png"] {
        get(a.1, path).await;
    }
    wait_writes(&a.0, 2).await;
    assert_eq!(meta_keys(&url, &f.prefix).await.len(), 2);
    for e in [b, c] {
        for path in ["/p", "/img/1.png"] {
            let (_, cs, body) = get(e.1, path).await;
            assert!(is_l2_hit(&cs) && body.ends_with("#1"), "{cs} {body}");
        }
    }

    b.0.cache().invalidate(["/p", "/img/*"]);

    for e in [a, b, c] {
        for (path, old) in [("/p", "v#1"), ("/img/1.png", "png#1")] {
            let mut fresh = false;
            for _ in 0..200 {
                let (status, _, body) = get(e.1, path).await;
                assert_eq!(status, 200);
                if body != old {
                    fresh = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(fresh, "an edge kept serving the purged {path}");
        }
    }
    let mut conn = l2::connect(&url).await;
    let generation: u64 = conn.get(format!("{}:{{fleet}}:gen", f.prefix)).await.unwrap();
    assert_eq!(generation, 1, "one invalidation went through Redis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_purge_deletes_the_entries_from_redis_too() {
    let origin = Origin::start().await;
    origin.route("/t1", Reply::ok("one").header("cache-control", "max-age=300").header("surrogate-key", "product-7"));
    origin.route("/t2", Reply::ok("two").header("cache-control", "max-age=300").header("cache-tag", "other"));
    let url = l2::shared_url();
    let f = fleet(&origin, &url, "tags", 2).await;
    let (a, b) = (&f.edges[0], &f.edges[1]);
    get(a.1, "/t1").await;
    get(a.1, "/t2").await;
    wait_writes(&a.0, 2).await;
    assert_eq!(meta_keys(&url, &f.prefix).await.len(), 2);

    b.0.cache().invalidate_tags(["product-7"]);

    assert!(
        {
            let mut gone = false;
            for _ in 0..200 {
                if meta_keys(&url, &f.prefix).await.len() == 1 {
                    gone = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            gone
        },
        "the tagged entry is deleted from Redis, the other stays"
    );
    assert!(wait_until(|| a.0.cache().len() == 1).await, "and from the other edge's L1");
    let (_, cs, _) = get(a.1, "/t2").await;
    assert!(cs.contains("hit"), "untagged entry still a hit: {cs}");
    let (_, cs, _) = get(a.1, "/t1").await;
    assert!(cs.contains("fwd=uri-miss"), "{cs}");
    assert_eq!(origin.hits("/t1"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_redis_is_not_an_outage_and_l2_comes_back_with_it() {
    let mut server = RedisServer::start().await;
    let origin = Origin::start().await;
    for p in ["/x", "/y", "/z"] {
        origin.route(p, Reply::ok(format!("body of {p}")).header("cache-control", "max-age=300"));
    }
    let f = fleet(&origin, &server.url(), "down", 2).await;
    let ((a, a_addr), (b, b_addr)) = (&f.edges[0], &f.edges[1]);
    get(*a_addr, "/x").await;
    wait_writes(a, 1).await;
    assert!(is_l2_hit(&get(*b_addr, "/x").await.1));

    server.stop();
    assert!(wait_up(a, false).await && wait_up(b, false).await, "both edges notice");
    // L1 hits and origin fetches carry on, without errors to clients.
    let (status, cs, body) = get(*a_addr, "/x").await;
    assert_eq!((status, body.as_str()), (200, "body of /x"), "{cs}");
    for e in [*a_addr, *b_addr] {
        let (status, cs, body) = get(e, "/y").await;
        assert_eq!((status, body.as_str()), (200, "body of /y"), "{cs}");
    }
    assert!(a.cache().stats().l2_errors >= 1);
    assert!(a.cache().metrics_text().contains("tower_cdn_l2_up 0"));

    server.restart().await;
    assert!(wait_up(a, true).await && wait_up(b, true).await, "both edges reconnect by themselves");
    let writes = a.cache().stats().l2_writes;
    get(*a_addr, "/z").await;
    wait_writes(a, writes + 1).await;
    let (_, cs, body) = get(*b_addr, "/z").await;
    assert!(is_l2_hit(&cs), "L2 is used again: {cs}");
    assert_eq!(body, "body of /z");
    assert_eq!(origin.hits("/z"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_or_truncated_l2_values_are_misses() {
    let origin = Origin::start().await;
    origin.route("/c", Reply::ok("intact body").header("cache-control", "max-age=300"));
    let url = l2::shared_url();
    let f = fleet(&origin, &url, "corrupt", 2).await;
    let ((a, a_addr), (b, b_addr)) = (&f.edges[0], &f.edges[1]);
    get(*a_addr, "/c").await;
    wait_writes(a, 1).await;
    let mut conn = l2::connect(&url).await;
    for key in meta_keys(&url, &f.prefix).await {
        let value: Vec<u8> = conn.get(&key).await.unwrap();
        let truncated = &value[..value.len() - 5];
        let _: () = redis::cmd("SET").arg(&key).arg(truncated).arg("KEEPTTL").query_async(&mut conn).await.unwrap();
    }
    let (status, cs, body) = get(*b_addr, "/c").await;
    assert_eq!((status, body.as_str()), (200, "intact body"));
    assert!(cs.contains("fwd=uri-miss"), "{cs}");
    assert_eq!(origin.hits("/c"), 2);
    assert!(b.cache().metrics_text().contains("tower_cdn_l2_lookups_total{result=\"corrupt\"} 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_are_stored_in_chunks_and_checked() {
    let origin = Origin::start().await;
    let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    origin.route("/big", Reply::ok(body.clone()).header("cache-control", "max-age=300").chunks(vec![777]));
    origin.route("/too-big", Reply::ok(vec![7u8; 20_000]).header("cache-control", "max-age=300"));
    let url = l2::shared_url();
    let prefix = l2::unique_prefix("chunks");
    let config = || l2_config(&url, &prefix).chunk_bytes(4096).max_entry_bytes(16 * 1024);
    let (a, a_addr) = edge(&origin, config()).await;
    let (_b, b_addr) = edge(&origin, config()).await;
    assert!(wait_up(&a, true).await && wait_up(&_b, true).await);
    request(a_addr, "/big").send().await.unwrap().bytes().await.unwrap();
    wait_writes(&a, 1).await;
    let mut conn = l2::connect(&url).await;
    let chunks: Vec<String> = conn.keys(format!("{prefix}:{{*}}:c:*")).await.unwrap();
    assert_eq!(chunks.len(), 3, "10 000 bytes in 4 KiB chunks");
    let resp = request(b_addr, "/big").send().await.unwrap();
    assert!(is_l2_hit(&cache_status(&resp)));
    assert!(resp.bytes().await.unwrap() == body, "same bytes as the origin's");

    // Over the L2 size cap: stored in L1 only.
    get(a_addr, "/too-big").await;
    let (_, cs, _) = get(a_addr, "/too-big").await;
    assert!(cs.contains("hit"), "{cs}");
    let (_, cs, _) = get(b_addr, "/too-big").await;
    assert!(cs.contains("fwd=uri-miss"), "{cs}");
    assert_eq!(a.cache().stats().l2_writes, 1);

    // A chunk from another write is detected.
    let first = chunks.iter().min().unwrap().clone();
    let value: Vec<u8> = conn.get(&first).await.unwrap();
    let mut tampered = value.clone();
    tampered[5] ^= 0xff;
    let _: () = redis::cmd("SET").arg(&first).arg(tampered).arg("KEEPTTL").query_async(&mut conn).await.unwrap();
    let (c, c_addr) = edge(&origin, config()).await;
    assert!(wait_up(&c, true).await);
    let resp = request(c_addr, "/big").send().await.unwrap();
    let cs = cache_status(&resp);
    assert!(cs.contains("fwd=uri-miss"), "{cs}");
    assert!(resp.bytes().await.unwrap() == body, "the origin's bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_cut_off_during_a_purge_drops_the_entry_when_it_reconnects() {
    let origin = Origin::start().await;
    origin.route("/d", Reply::ok("d").header("cache-control", "max-age=300").stamped());
    let url = l2::shared_url();
    let relay = Relay::start(&url).await;
    let prefix = l2::unique_prefix("cutoff");
    let (a, a_addr) = edge(&origin, l2_config(&relay.url(), &prefix)).await;
    let (b, b_addr) = edge(&origin, l2_config(&url, &prefix)).await;
    assert!(wait_up(&a, true).await && wait_up(&b, true).await);
    assert_eq!(get(a_addr, "/d").await.2, "d#1");
    wait_writes(&a, 1).await;
    assert_eq!(get(b_addr, "/d").await.2, "d#1");

    relay.cut();
    assert!(wait_up(&a, false).await, "A lost Redis");
    b.cache().invalidate(["/d"]);
    assert!(wait_until(|| b.cache().is_empty()).await);
    assert_eq!(get(b_addr, "/d").await.2, "d#2", "B refetched");
    // A cannot know yet: it still serves what it has.
    assert_eq!(get(a_addr, "/d").await.2, "d#1");

    relay.restore();
    assert!(wait_up(&a, true).await, "A reconnected");
    let (_, cs, body) = get(a_addr, "/d").await;
    assert_ne!(body, "d#1", "A caught up with the purge it missed ({cs})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_works_as_the_l2() {
    let server = RedisServer::start_cluster().await;
    let origin = Origin::start().await;
    origin.route("/k", Reply::ok("clustered").header("cache-control", "max-age=300").stamped());
    let prefix = l2::unique_prefix("cluster");
    let config = || L2Config::cluster([server.url()]).key_prefix(&prefix).timeout(Duration::from_millis(500));
    let (a, a_addr) = edge(&origin, config()).await;
    let (b, b_addr) = edge(&origin, config()).await;
    assert!(wait_up(&a, true).await && wait_up(&b, true).await);
    assert_eq!(get(a_addr, "/k").await.2, "clustered#1");
    wait_writes(&a, 1).await;
    let (_, cs, body) = get(b_addr, "/k").await;
    assert!(is_l2_hit(&cs) && body == "clustered#1", "{cs} {body}");

    a.cache().invalidate(["/k"]);
    assert!(wait_until(|| b.cache().is_empty()).await, "the purge reached the other edge through the cluster");
    let (_, _, body) = get(b_addr, "/k").await;
    assert_eq!(body, "clustered#2");
}

/// A `tower-cdn` process in front of `origin` with `--l2 url`; `ca_file`
/// (the only certificate it trusts then) goes in `SSL_CERT_FILE`.
fn edge_process(origin: &Origin, url: &str, name: &str, ca_file: Option<&std::path::Path>) -> KillOnDrop {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tower-cdn"));
    cmd.args(["--listen", ":0", "--origin", &origin.url(), "--l2", url, "--cache-name", name])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(ca) = ca_file {
        cmd.env("SSL_CERT_FILE", ca);
    }
    let mut child = cmd.spawn().expect("start tower-cdn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr: SocketAddr = line.trim().strip_prefix("listening on http://").unwrap().parse().unwrap();
    KillOnDrop(child, addr)
}

/// Each process connects to Redis in the background: tries fresh paths
/// until one filled by `a` is an L2 hit on `b` (bounded). The path and body.
async fn l2_hit_between(origin: &Origin, a: &KillOnDrop, b: &KillOnDrop) -> Option<(String, String)> {
    let run = l2::unique_prefix("bin");
    for i in 0..100 {
        let path = format!("/{run}/{i}");
        origin.route(&path, Reply::ok("from origin").header("cache-control", "max-age=300"));
        let (_, cs, _) = get(a.1, &path).await;
        assert!(cs.starts_with("edge-a; fwd=uri-miss"), "{cs}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (_, cs, body) = get(b.1, &path).await;
        if cs.starts_with("edge-b; hit") && cs.contains("detail=l2") {
            return Some((path, body));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxy_processes_with_the_l2_flag_share_one_cache() {
    let origin = Origin::start().await;
    let url = l2::shared_url();
    let (a, b) = (edge_process(&origin, &url, "edge-a", None), edge_process(&origin, &url, "edge-b", None));
    let (path, body) = l2_hit_between(&origin, &a, &b).await.expect("no L2 hit between the two processes");
    assert_eq!(body, "from origin");
    assert_eq!(origin.hits(&path), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edges_reach_redis_over_tls_and_check_its_certificate() {
    let server = RedisServer::start_tls().await;
    let tls = server.tls.as_ref().unwrap();
    let origin = Origin::start().await;
    let start = |name| edge_process(&origin, &tls.url(), name, Some(&tls.ca_file));
    let (a, b) = (start("edge-a"), start("edge-b"));
    let (path, body) = l2_hit_between(&origin, &a, &b).await.expect("no L2 hit over TLS");
    assert_eq!(body, "from origin");
    assert_eq!(origin.hits(&path), 1);
    // The entries are in that server (read back on its plain port).
    assert!(!meta_keys(&server.url(), "tcdn").await.is_empty());

    // An edge that does not trust the test CA never uses that Redis.
    let (untrusting, addr) = edge(&origin, l2_config(&tls.url(), &l2::unique_prefix("tls"))).await;
    assert!(wait_until(|| untrusting.cache().stats().l2_errors >= 1).await, "the handshake must fail");
    assert!(!untrusting.cache().stats().l2_up);
    let (status, cs, body) = get(addr, &path).await;
    assert_eq!((status, body.as_str()), (200, "from origin"), "{cs}");
    assert!(!cs.contains("l2"), "{cs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edges_with_a_client_certificate_reach_a_redis_that_requires_one() {
    let server = RedisServer::start_mtls().await;
    let tls = server.tls.as_ref().unwrap();
    let origin = Origin::start().await;
    origin.route("/m", Reply::ok("mutual").header("cache-control", "max-age=60"));
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    let prefix = l2::unique_prefix("mtls");
    let trusting = || l2_config(&tls.url(), &prefix).tls_root_certs(read(&tls.ca_file));
    let with_cert = || trusting().tls_client_cert(read(&tls.client_cert_file), read(&tls.client_key_file));
    let (a, a_addr) = edge(&origin, with_cert()).await;
    let (b, b_addr) = edge(&origin, with_cert()).await;
    assert!(wait_up(&a, true).await && wait_up(&b, true).await, "edges with the certificate never connected");
    assert_eq!(get(a_addr, "/m").await.2, "mutual");
    wait_writes(&a, 1).await;
    let (_, cs, body) = get(b_addr, "/m").await;
    assert!(is_l2_hit(&cs), "{cs}");
    assert_eq!((body.as_str(), origin.hits("/m")), ("mutual", 1));
    assert_eq!(meta_keys(&server.url(), &prefix).await.len(), 1);

    // Trusting the server is not enough: without a certificate the
    // server refuses the edge, which carries on with its origin.
    let (anonymous, addr) = edge(&origin, trusting()).await;
    assert!(wait_until(|| anonymous.cache().stats().l2_errors >= 1).await, "the server must refuse it");
    assert!(!anonymous.cache().stats().l2_up);
    let (status, cs, body) = get(addr, "/m").await;
    assert_eq!((status, body.as_str()), (200, "mutual"), "{cs}");
    assert!(!cs.contains("l2"), "{cs}");
    assert_eq!(origin.hits("/m"), 2);
}

struct KillOnDrop(std::process::Child, SocketAddr);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsafe_request_on_one_edge_removes_the_entry_from_l2() {
    let origin = Origin::start().await;
    origin.route("/u", Reply::ok("u").header("cache-control", "max-age=300").stamped());
    let url = l2::shared_url();
    let f = fleet(&origin, &url, "unsafe", 2).await;
    let ((a, a_addr), (_, b_addr)) = (&f.edges[0], &f.edges[1]);
    assert_eq!(get(*a_addr, "/u").await.2, "u#1");
    wait_writes(a, 1).await;
    let resp = client().post(format!("http://{a_addr}/u")).header("host", SITE).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut gone = false;
    for _ in 0..200 {
        if meta_keys(&url, &f.prefix).await.is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "the POST deleted the L2 entry");
    let (_, cs, body) = get(*b_addr, "/u").await;
    assert!(cs.contains("fwd=uri-miss") && body == "u#3", "{cs} {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_purge_on_one_edge_makes_every_edge_serve_stale_while_it_refreshes() {
    let origin = Origin::start().await;
    origin.route("/s", Reply::ok("s").header("cache-control", "max-age=300").header("etag", "\"s\"").stamped());
    let url = l2::shared_url();
    let f = fleet(&origin, &url, "softpurge", 3).await;
    let (a, b, c) = (&f.edges[0], &f.edges[1], &f.edges[2]);
    get(a.1, "/s").await;
    wait_writes(&a.0, 1).await;
    for e in [b, c] {
        let (_, cs, _) = get(e.1, "/s").await;
        assert!(is_l2_hit(&cs), "{cs}");
    }
    assert_eq!(origin.hits("/s"), 1);

    b.0.cache().soft_invalidate(["/s"]);

    // Every edge: hits all along (never a miss), the stale copy marked
    // soft-purged once the purge reached it, then fresh again (the origin
    // confirmed the ETag: 304).
    for e in [a, b, c] {
        let (mut marked, mut renewed) = (false, false);
        for _ in 0..300 {
            let (status, cs, body) = get(e.1, "/s").await;
            assert_eq!(status, 200);
            assert_eq!(body, "s#1", "the 304 kept the stored body");
            assert!(cs.contains("hit"), "a soft purge made a client wait for the origin: {cs}");
            if cs.contains("soft-purged") {
                marked = true;
            } else if marked {
                renewed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(marked && renewed, "edge {}: marked {marked}, renewed {renewed}", e.1);
    }
    assert!(origin.hits("/s") <= 4, "one refresh per edge at most: {}", origin.hits("/s"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_says_when_only_the_shared_tier_holds_a_url() {
    let origin = Origin::start().await;
    origin.route("/x", Reply::ok("x").header("cache-control", "max-age=300"));
    let url = l2::shared_url();
    let f = fleet(&origin, &url, "explainl2", 2).await;
    let (a, b) = (&f.edges[0], &f.edges[1]);
    get(a.1, "/x").await;
    wait_writes(&a.0, 1).await;
    let e = b.0.cache().explain(&format!("http://{SITE}/x"), http::HeaderMap::new()).await.unwrap();
    assert_eq!(e.l2, Some(true), "{e:?}");
    assert!(e.stored && e.variants.is_empty() && e.why.contains("shared tier"), "{e:?}");
    let none = b.0.cache().explain(&format!("http://{SITE}/nothing"), http::HeaderMap::new()).await.unwrap();
    assert_eq!(none.l2, Some(false));
    assert_eq!(b.0.cache().stats().l2_hits + b.0.cache().stats().l2_misses, 0, "explain is not counted as a lookup");
}
