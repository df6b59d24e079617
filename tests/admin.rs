//! The admin API (`tower_cdn::admin::router`) served on its own listener
//! next to a layer, and `CdnLayer::reload`.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use support::{Origin, Reply, cache_status, client, eventually, start_admin, start_proxy};
use tower::ServiceExt as _;
use tower_cdn::{CacheBehavior, CachePolicy, CdnLayer, ClientAddr, Distribution, Origin as CdnOrigin};

const TOKEN: &str = "test-token-1";

async fn post(admin: SocketAddr, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = client().post(format!("http://{admin}{path}")).body(body.to_owned());
    if !body.is_empty() {
        req = req.header("content-type", "application/json");
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null))
}

async fn get_json(admin: SocketAddr, path: &str) -> (u16, Value) {
    let r = client().get(format!("http://{admin}{path}")).bearer_auth(TOKEN).send().await.unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null))
}

async fn fetch(edge: SocketAddr, host: &str, path: &str) -> (String, String) {
    let r = client().get(format!("http://{edge}{path}")).header("host", host).send().await.unwrap();
    let status = cache_status(&r);
    (status, r.text().await.unwrap())
}

/// The `ttl` parameter of a `Cache-Status` value.
fn ttl(cache_status: &str) -> u64 {
    let at = cache_status.find("ttl=").expect("a ttl") + 4;
    cache_status[at..].split(';').next().unwrap().trim().parse().unwrap()
}

async fn wait_completed(admin: SocketAddr, id: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..500 {
        last = get_json(admin, &format!("/invalidations/{id}")).await.1;
        if last["Invalidation"]["Status"] == "Completed" {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("invalidation {id} never completed: {last}");
}

#[tokio::test]
async fn admin_invalidation_of_exact_and_wildcard_paths_makes_the_next_request_a_miss() {
    let origin = Origin::start().await;
    for p in ["/index.html", "/images/a.png", "/images/b/c.png", "/other"] {
        origin.route(p, Reply::ok(p).header("cache-control", "max-age=600"));
    }
    let layer = CdnLayer::builder().origin(CdnOrigin::http(origin.url())).build().unwrap();
    let edge = start_proxy(layer.clone()).await;
    let admin = start_admin(&layer, Some(TOKEN)).await;
    for p in ["/index.html", "/images/a.png", "/images/b/c.png", "/other"] {
        fetch(edge, "site.test", p).await;
    }
    let r = client()
        .post(format!("http://{admin}/invalidations"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"paths": ["/images/*", "/index.html"], "CallerReference": "deploy-42"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    let inv = &body["Invalidation"];
    let id = inv["Id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/invalidations/{id}"));
    assert!(inv["Status"] == "InProgress" || inv["Status"] == "Completed", "{body}");
    assert_eq!(inv["InvalidationBatch"]["Paths"]["Quantity"], 2);
    assert_eq!(inv["InvalidationBatch"]["CallerReference"], "deploy-42");
    assert!(inv["CreateTime"].as_str().unwrap().ends_with('Z'));
    // In effect at once, whatever the sweep's progress.
    assert!(fetch(edge, "site.test", "/index.html").await.0.contains("fwd=uri-miss"));
    assert!(fetch(edge, "site.test", "/images/a.png").await.0.contains("fwd=uri-miss"));
    assert!(fetch(edge, "site.test", "/images/b/c.png").await.0.contains("fwd=uri-miss"));
    assert!(fetch(edge, "site.test", "/other").await.0.contains("hit"));
    assert_eq!((origin.hits("/index.html"), origin.hits("/images/a.png"), origin.hits("/other")), (2, 2, 1));
    let done = wait_completed(admin, &id).await;
    assert_eq!(done["Invalidation"]["InvalidationBatch"]["Paths"]["Items"][0], "/images/*");
    assert_eq!(get_json(admin, "/invalidations/999999").await.0, 404);
}

#[tokio::test]
async fn admin_refuses_requests_without_the_right_token() {
    let origin = Origin::start().await;
    origin.route("/a", Reply::ok("a").header("cache-control", "max-age=600"));
    let layer = CdnLayer::builder().origin(CdnOrigin::http(origin.url())).build().unwrap();
    let edge = start_proxy(layer.clone()).await;
    let admin = start_admin(&layer, Some(TOKEN)).await;
    fetch(edge, "site.test", "/a").await;
    for token in [None, Some("wrong"), Some("test-token-10"), Some("test-token-")] {
        let mut req = client()
            .post(format!("http://{admin}/invalidations"))
            .header("content-type", "application/json")
            .body(r#"{"paths": ["/*"]}"#);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{token:?}");
        assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    }
    let basic = client().get(format!("http://{admin}/stats")).basic_auth("admin", Some(TOKEN)).send().await.unwrap();
    assert_eq!(basic.status(), 401);
    assert_eq!(client().get(format!("http://{admin}/metrics")).send().await.unwrap().status(), 401);
    assert_eq!(layer.cache().stats().invalidations, 0);
    assert!(fetch(edge, "site.test", "/a").await.0.contains("hit"));
    assert_eq!(origin.hits("/a"), 1);
}

#[tokio::test]
async fn admin_without_a_token_serves_loopback_clients_only() {
    let layer = CdnLayer::builder().origin(CdnOrigin::http("http://127.0.0.1:9")).build().unwrap();
    let router = tower_cdn::admin::router(&layer, None);
    let status_from = |client: Option<&str>| {
        let router = router.clone();
        let mut req = http::Request::get("/stats").body(axum::body::Body::empty()).unwrap();
        if let Some(addr) = client {
            req.extensions_mut().insert(ClientAddr(addr.parse().unwrap()));
        }
        async move { router.oneshot(req).await.unwrap().status().as_u16() }
    };
    assert_eq!(status_from(Some("127.0.0.1:5000")).await, 200);
    assert_eq!(status_from(Some("[::1]:5000")).await, 200);
    assert_eq!(status_from(Some("10.1.2.3:5000")).await, 403);
    assert_eq!(status_from(Some("[2001:db8::1]:5000")).await, 403);
    assert_eq!(status_from(None).await, 403, "an unknown client is refused");
    // Through a real loopback connection.
    let admin = start_admin(&layer, None).await;
    assert_eq!(client().get(format!("http://{admin}/stats")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn admin_rejects_bad_batches_with_a_json_400() {
    let layer = CdnLayer::builder().origin(CdnOrigin::http("http://127.0.0.1:9")).build().unwrap();
    let admin = start_admin(&layer, Some(TOKEN)).await;
    for (body, code) in [
        (r#"{"paths": ["images/*"]}"#, "InvalidArgument"),
        (r#"{"paths": ["/a*/b"]}"#, "InvalidArgument"),
        (r#"{"paths": []}"#, "InvalidArgument"),
        (r#"{"paths": ["/a"], "tags": ["x"]}"#, "InvalidArgument"),
        (r#"{"Paths": {"Quantity": 3, "Items": ["/a"]}}"#, "InconsistentQuantities"),
        (r#"{"paths": "/a"}"#, "MalformedInput"),
        ("paths=/a", "MalformedInput"),
    ] {
        let (status, err) = post(admin, "/invalidations", Some(TOKEN), body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["Error"]["Code"], code, "{body}: {err}");
        assert!(!err["Error"]["Message"].as_str().unwrap().is_empty());
    }
    let many: Vec<String> = (0..3001).map(|i| format!("\"/p/{i}\"")).collect();
    let (status, err) =
        post(admin, "/invalidations", Some(TOKEN), &format!("{{\"paths\": [{}]}}", many.join(","))).await;
    assert_eq!((status, err["Error"]["Code"].as_str()), (400, Some("BatchTooLarge")));
    assert_eq!(layer.cache().stats().invalidations, 0);
}

fn site(id: &str, host: &str, origin: &str, max_ttl_secs: u64) -> Distribution {
    Distribution::new(id).domain(host).origin("web", CdnOrigin::http(origin)).default_behavior(
        CacheBehavior::default_for("web").cache_policy(
            CachePolicy::new()
                .default_ttl(Duration::from_secs(max_ttl_secs))
                .max_ttl(Duration::from_secs(max_ttl_secs)),
        ),
    )
}

#[tokio::test]
async fn admin_purges_tags_and_paths_of_one_distribution_and_switches_distributions() {
    let origin = Origin::start().await;
    origin.route("/p", Reply::ok("p").header("cache-control", "max-age=600").header("surrogate-key", "product-7"));
    origin.route("/q", Reply::ok("q").header("cache-control", "max-age=600"));
    let layer = CdnLayer::builder()
        .distribution(site("a", "a.test", &origin.url(), 3600))
        .distribution(site("b", "b.test", &origin.url(), 3600))
        .standalone(true)
        .build()
        .unwrap();
    let edge = start_proxy(layer.clone()).await;
    let admin = start_admin(&layer, Some(TOKEN)).await;
    for host in ["a.test", "b.test"] {
        for p in ["/p", "/q"] {
            fetch(edge, host, p).await;
        }
    }
    // Paths within distribution `a` only.
    let (status, body) = post(admin, "/distributions/a/invalidations", Some(TOKEN), r#"{"paths": ["/q"]}"#).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["Invalidation"]["DistributionId"], "a");
    assert!(fetch(edge, "a.test", "/q").await.0.contains("fwd=uri-miss"));
    assert!(fetch(edge, "b.test", "/q").await.0.contains("hit"));
    let (status, _) = post(admin, "/distributions/zzz/invalidations", Some(TOKEN), r#"{"paths": ["/q"]}"#).await;
    assert_eq!(status, 404);
    // Tags, on every host.
    let (status, body) = post(admin, "/invalidations", Some(TOKEN), r#"{"tags": ["product-7"]}"#).await;
    assert_eq!(status, 201);
    assert_eq!(body["Invalidation"]["InvalidationBatch"]["Tags"]["Items"][0], "product-7");
    assert!(fetch(edge, "a.test", "/p").await.0.contains("fwd=uri-miss"));
    assert!(fetch(edge, "b.test", "/p").await.0.contains("fwd=uri-miss"));
    // Disable and enable `b` at run time.
    let (status, body) = post(admin, "/distributions/b/disable", Some(TOKEN), "").await;
    assert_eq!((status, &body["Distribution"]["Enabled"]), (200, &Value::Bool(false)));
    let r = client().get(format!("http://{edge}/q")).header("host", "b.test").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(layer.is_enabled("b"), Some(false));
    let (_, list) = get_json(admin, "/distributions").await;
    assert_eq!(list["Distributions"][1]["Enabled"], false);
    assert_eq!(post(admin, "/distributions/b/enable", Some(TOKEN), "").await.0, 200);
    assert!(fetch(edge, "b.test", "/q").await.0.contains("hit"));
    assert_eq!(post(admin, "/distributions/nope/disable", Some(TOKEN), "").await.0, 404);
    // Counters.
    let (status, stats) = get_json(admin, "/stats").await;
    assert_eq!(status, 200);
    assert_eq!(stats["invalidations"], 2);
    assert!(stats["requests"]["Hit"].as_u64().unwrap() >= 2, "{stats}");
    let metrics = client().get(format!("http://{admin}/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    assert!(metrics.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = metrics.text().await.unwrap();
    assert!(text.contains("tower_cdn_invalidations_total 2"), "{text}");
}

#[tokio::test]
async fn reload_keeps_entries_of_unchanged_distributions_and_drops_the_others() {
    let origin = Origin::start().await;
    for p in ["/x", "/y"] {
        origin.route(p, Reply::ok(p).header("cache-control", "max-age=600"));
    }
    let url = origin.url();
    let layer = CdnLayer::builder()
        .distribution(site("keep", "keep.test", &url, 3600))
        .distribution(site("change", "change.test", &url, 3600))
        .distribution(site("gone", "gone.test", &url, 3600))
        .build()
        .unwrap();
    let edge = start_proxy(layer.clone()).await;
    for host in ["keep.test", "change.test", "gone.test"] {
        fetch(edge, host, "/x").await;
    }
    assert!(layer.set_enabled("keep", false));
    layer.set_enabled("keep", true);
    let next = CdnLayer::builder()
        .distribution(site("keep", "keep.test", &url, 3600))
        .distribution(site("change", "change.test", &url, 60))
        .distribution(site("new", "gone.test", &url, 3600))
        .build_config()
        .unwrap();
    let done = layer.reload(next);
    assert_eq!(done.unchanged(), ["keep"]);
    assert_eq!(done.changed(), ["change"]);
    assert_eq!((done.added(), done.removed()), (&["new".to_owned()][..], &["gone".to_owned()][..]));
    assert!(done.not_applied().is_empty(), "{done}");
    let id = done.invalidation().unwrap();
    assert!(
        eventually(|| layer
            .cache()
            .invalidation_status(id)
            .is_some_and(|s| s != tower_cdn::InvalidationStatus::InProgress))
        .await
    );
    assert!(fetch(edge, "keep.test", "/x").await.0.contains("hit"));
    let (changed, _) = fetch(edge, "change.test", "/x").await;
    assert!(changed.contains("fwd=uri-miss"), "{changed}");
    let (again, _) = fetch(edge, "change.test", "/x").await;
    assert!(again.contains("hit") && ttl(&again) <= 60, "the new policy's max TTL applies: {again}");
    assert!(fetch(edge, "gone.test", "/x").await.0.contains("fwd=uri-miss"), "a host that moved is refetched");
    assert_eq!(origin.hits("/x"), 5);
}

#[tokio::test]
async fn reload_keeps_a_run_time_switch_and_reports_settings_it_cannot_apply() {
    let url = "http://127.0.0.1:9";
    let layer = CdnLayer::builder().distribution(site("a", "a.test", url, 60)).build().unwrap();
    layer.set_enabled("a", false);
    let same = CdnLayer::builder().distribution(site("a", "a.test", url, 60)).build_config().unwrap();
    let done = layer.reload(same);
    assert_eq!((done.unchanged(), done.invalidation()), (&["a".to_owned()][..], None));
    assert_eq!(layer.is_enabled("a"), Some(false), "the operator's switch survives a reload");
    let bigger = CdnLayer::builder()
        .distribution(site("a", "a.test", url, 60).enabled(true))
        .capacity_bytes(1 << 30)
        .build_config()
        .unwrap();
    let done = layer.reload(bigger);
    assert_eq!(done.not_applied(), ["capacity_bytes"]);
    assert!(done.to_string().contains("not applied until a restart: capacity_bytes"), "{done}");
    layer.set_enabled("a", true);
    let off = CdnLayer::builder().distribution(site("a", "a.test", url, 60).enabled(false)).build_config().unwrap();
    layer.reload(off);
    assert_eq!(layer.is_enabled("a"), Some(false), "a changed `enabled` in the file wins");
    // The single-origin layer: the same origin is an unchanged `default`.
    let single = || CdnLayer::builder().origin(CdnOrigin::http(url)).default_ttl(Duration::from_secs(60));
    let layer = single().build().unwrap();
    assert_eq!(layer.reload(single().build_config().unwrap()).unchanged(), ["default"]);
    let longer = single().default_ttl(Duration::from_secs(120)).build_config().unwrap();
    assert_eq!(layer.reload(longer).changed(), ["default"]);
}

#[tokio::test]
async fn a_web_page_cannot_drive_the_admin_api_without_a_token() {
    let origin = Origin::start().await;
    origin.route("/a", Reply::ok("a").header("cache-control", "max-age=600"));
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("d")
                .origin("web", CdnOrigin::http(origin.url()))
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .build()
        .unwrap();
    let edge = start_proxy(layer.clone()).await;
    let admin = start_admin(&layer, None).await;
    fetch(edge, "site.test", "/a").await;
    let raw = |req: String| async move { support::raw::exchange(admin, req.as_bytes()).await };
    let body = r#"{"paths": ["/*"]}"#;
    // A cross-site fetch with a simple content type, and a plain HTML form.
    for (origin_hdr, ctype, extra) in [
        ("origin: https://attacker.example\r\n", "text/plain", ""),
        ("origin: null\r\n", "text/plain", ""),
        ("", "text/plain", "sec-fetch-site: cross-site\r\n"),
        ("origin: https://attacker.example\r\n", "application/x-www-form-urlencoded", ""),
        ("", "text/plain", ""),
        ("", "application/x-www-form-urlencoded", ""),
        ("origin: http://attacker.example\r\n", "application/json", ""),
    ] {
        let resp = raw(format!(
            "POST /invalidations HTTP/1.1\r\nhost: {admin}\r\nconnection: close\r\n{origin_hdr}{extra}content-type: {ctype}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ))
        .await;
        assert!(resp.starts_with("HTTP/1.1 403") || resp.starts_with("HTTP/1.1 415"), "{origin_hdr}{ctype}: {resp}");
    }
    let form = raw(format!(
        "POST /distributions/d/disable HTTP/1.1\r\nhost: {admin}\r\nconnection: close\r\norigin: https://attacker.example\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 0\r\n\r\n"
    ))
    .await;
    assert!(form.starts_with("HTTP/1.1 403"), "{form}");
    assert_eq!(layer.is_enabled("d"), Some(true));
    assert_eq!(layer.cache().stats().invalidations, 0);
    assert!(fetch(edge, "site.test", "/a").await.0.contains("hit"));
    // DNS rebinding: the page's own host name in `Host`.
    for path in ["/stats", "/metrics", "/distributions"] {
        let resp =
            raw(format!("GET {path} HTTP/1.1\r\nhost: attacker.example:{}\r\nconnection: close\r\n\r\n", admin.port()))
                .await;
        assert!(resp.starts_with("HTTP/1.1 421"), "{path}: {resp}");
        assert!(!resp.contains("hit_ratio") && !resp.contains("tower_cdn"), "{resp}");
    }
    // Operators' curl keeps working: localhost, the address, JSON content,
    // and a POST without content.
    for host in ["localhost".to_owned(), format!("localhost:{}", admin.port()), admin.to_string()] {
        let resp = raw(format!("GET /stats HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n")).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{host}: {resp}");
    }
    let same_origin = raw(format!(
        "POST /distributions/d/enable HTTP/1.1\r\nhost: {admin}\r\nconnection: close\r\norigin: http://{admin}\r\nsec-fetch-site: same-origin\r\n\r\n"
    ))
    .await;
    assert!(same_origin.starts_with("HTTP/1.1 200"), "{same_origin}");
    let (status, _) = post(admin, "/invalidations", None, body).await;
    assert_eq!(status, 201);
    assert_eq!(layer.cache().stats().invalidations, 1);
    assert!(fetch(edge, "site.test", "/a").await.0.contains("fwd=uri-miss"));
}

#[test]
fn a_reload_reports_every_fixed_setting_it_cannot_apply() {
    type Change = fn(tower_cdn::CdnLayerBuilder) -> tower_cdn::CdnLayerBuilder;
    let base = || CdnLayer::builder().origin(CdnOrigin::http("http://127.0.0.1:9"));
    let layer = base().build().unwrap();
    let changes: [(&str, Change); 10] = [
        ("capacity_bytes", |b| b.capacity_bytes(512 * 1024 * 1024)),
        ("max_entry_bytes", |b| b.max_entry_bytes(1024)),
        ("standalone", |b| b.standalone(true)),
        ("targeted_cache_control", |b| b.targeted_cache_control(["edge-cache-control"])),
        ("trust_forwarding_headers", |b| b.trust_forwarding_headers(true)),
        ("edge_location", |b| b.edge_location("FRA50")),
        ("l2", |b| b.l2(tower_cdn::L2Config::new("redis://127.0.0.1:1"))),
        ("cache_name", |b| b.cache_name("edge-b")),
        ("edge_id", |b| b.edge_id("edge-7")),
        ("viewer_scheme", |b| b.viewer_scheme("https")),
    ];
    assert!(layer.reload(base().build_config().unwrap()).not_applied().is_empty());
    for (name, change) in changes {
        let done = layer.reload(change(base()).build_config().unwrap());
        assert_eq!(done.not_applied(), [name], "{name}");
    }
}
