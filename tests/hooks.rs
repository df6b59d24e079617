//! Hooks at the four events and in the key, through the layer: what the
//! origin receives, what is stored, what viewers get; panics answered 500
//! for their request only; a rewriting hook keeps key and origin request
//! naming the same resource.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use support::{Origin, Reply, cache_status, client, get_with as get, start_proxy};
use tower_cdn::{CacheHint, CdnLayer, Hooks, Origin as OriginCfg};

fn layer(origin: &Origin, hooks: Hooks) -> CdnLayer {
    CdnLayer::builder().origin(OriginCfg::http(origin.url())).standalone(true).hooks(hooks).build().unwrap()
}

#[tokio::test]
async fn a_viewer_request_hook_answers_or_rewrites_and_the_key_follows() {
    let origin = Origin::start().await;
    origin.route("/new/page", Reply::ok("new page").header("cache-control", "max-age=600"));
    let hooks = Hooks::new().viewer_request(|req| {
        if req.uri.path() == "/gone" {
            let mut r = Response::new(Bytes::from_static(b"moved\n"));
            *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
            r.headers_mut().insert("location", HeaderValue::from_static("/new/page"));
            return Some(r);
        }
        if let Some(rest) = req.uri.path().strip_prefix("/old/") {
            req.uri = format!("/new/{rest}").parse().unwrap();
        }
        None
    });
    let l = layer(&origin, hooks);
    let addr = start_proxy(l.clone()).await;
    let r = get(&format!("http://{addr}/gone"), &[]).await;
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], "/new/page");
    assert!(cache_status(&r).contains("detail=viewer-request-hook"), "{}", cache_status(&r));
    assert_eq!(origin.total_hits(), 0);
    // The rewritten request is keyed and fetched as /new/page.
    let r = get(&format!("http://{addr}/old/page"), &[]).await;
    assert_eq!(r.text().await.unwrap(), "new page");
    let r = get(&format!("http://{addr}/new/page"), &[]).await;
    assert!(cache_status(&r).contains("hit"), "same resource, same key: {}", cache_status(&r));
    assert_eq!(origin.hits("/new/page"), 1);
    // A rewrite that would climb out of the root is refused like the raw path.
    let bad = Hooks::new().viewer_request(|req| {
        req.uri = "/a/../../etc/passwd".parse().unwrap();
        None
    });
    let addr = start_proxy(layer(&origin, bad)).await;
    assert_eq!(get(&format!("http://{addr}/x"), &[]).await.status(), 400);
}

#[tokio::test]
async fn origin_side_hooks_shape_the_fetch_and_the_store() {
    let origin = Origin::start().await;
    origin.route("/short", Reply::ok("short-lived"));
    origin.route("/mine", Reply::ok("personal").header("cache-control", "max-age=600"));
    let hooks = Hooks::new()
        .origin_request(|_uri, headers| {
            headers.insert("x-edge-secret", HeaderValue::from_static("s3cr3t"));
            // Neither the target's host nor the framing can be changed.
            headers.insert("host", HeaderValue::from_static("evil.example"));
            headers.insert("content-length", HeaderValue::from_static("5"));
        })
        .origin_response(|resp| {
            resp.headers.insert("x-checked", HeaderValue::from_static("yes"));
            if resp.headers.get("cache-control").is_none() {
                resp.extensions.insert(CacheHint::ttl(Duration::from_secs(60)).tag("short"));
            } else {
                resp.extensions.insert(CacheHint::private());
            }
        });
    let l = layer(&origin, hooks);
    let addr = start_proxy(l.clone()).await;
    let r = get(&format!("http://{addr}/short"), &[]).await;
    assert_eq!(r.headers()["x-checked"], "yes");
    let seen = origin.last_headers("/short").unwrap();
    assert_eq!(seen["x-edge-secret"], "s3cr3t");
    assert_ne!(seen["host"], "evil.example");
    assert!(seen.get("content-length").is_none());
    let r = get(&format!("http://{addr}/short"), &[]).await;
    assert!(cache_status(&r).contains("hit"), "stored for the hook's TTL: {}", cache_status(&r));
    assert_eq!(r.headers()["x-checked"], "yes", "the hook's header is stored");
    // Tagged by the hook: a tag purge removes it.
    l.cache().invalidate_tags(["short"]).wait().await;
    assert!(cache_status(&get(&format!("http://{addr}/short"), &[]).await).contains("fwd="));
    for _ in 0..2 {
        get(&format!("http://{addr}/mine"), &[]).await;
    }
    assert_eq!(origin.hits("/mine"), 2, "kept private by the hook: never stored");
}

#[tokio::test]
async fn viewer_response_hooks_and_key_hooks_apply_to_hits_and_misses() {
    let origin = Origin::start().await;
    origin.route("/p", Reply::ok("page").header("cache-control", "max-age=600").stamped());
    let hooks = Hooks::new()
        .viewer_response(|req, resp| {
            let ua = req.headers.get("x-device").cloned().unwrap_or(HeaderValue::from_static("none"));
            resp.headers.insert("x-seen-device", ua);
        })
        .cache_key(|req| req.headers.get("x-device").and_then(|v| v.to_str().ok()).map(str::to_owned));
    let addr = start_proxy(layer(&origin, hooks)).await;
    let phone1 = get(&format!("http://{addr}/p"), &[("x-device", "phone")]).await;
    assert_eq!(phone1.headers()["x-seen-device"], "phone");
    let phone1 = phone1.text().await.unwrap();
    let desk = get(&format!("http://{addr}/p"), &[("x-device", "desktop")]).await;
    assert_eq!(desk.headers()["x-seen-device"], "desktop");
    assert_ne!(desk.text().await.unwrap(), phone1, "the key hook separates the entries");
    let phone2 = get(&format!("http://{addr}/p"), &[("x-device", "phone")]).await;
    assert!(cache_status(&phone2).contains("hit"));
    assert_eq!(phone2.headers()["x-seen-device"], "phone");
    assert_eq!(phone2.text().await.unwrap(), phone1);
    assert_eq!(origin.hits("/p"), 2);
}

#[tokio::test]
async fn a_panicking_hook_fails_its_request_only() {
    let origin = Origin::start().await;
    origin.route("/ok", Reply::ok("fine").header("cache-control", "max-age=600"));
    origin.route("/boom", Reply::ok("fine").header("cache-control", "max-age=600"));
    let hooks = Hooks::new()
        .viewer_request(|req| {
            assert!(req.uri.path() != "/boom-request", "viewer request hook exploded");
            None
        })
        .viewer_response(|req, _| assert!(req.uri.path() != "/boom-response", "viewer response hook exploded"))
        .cache_key(|req| {
            assert!(req.uri.path() != "/boom-key", "key hook exploded");
            None
        });
    let l = layer(&origin, hooks);
    let addr = start_proxy(l.clone()).await;
    for path in ["/boom-request", "/boom-response", "/boom-key"] {
        let r = get(&format!("http://{addr}{path}"), &[]).await;
        assert_eq!(r.status(), 500, "{path}");
        assert!(cache_status(&r).contains("detail=hook-failed"), "{path}: {}", cache_status(&r));
    }
    assert_eq!(get(&format!("http://{addr}/ok"), &[]).await.text().await.unwrap(), "fine");
    assert_eq!(l.cache().stats().hook_failures, 3);
}

#[tokio::test]
async fn an_origin_response_hook_that_panics_mid_fill_never_poisons_the_waiters() {
    let origin = Origin::start().await;
    origin.route(
        "/slow",
        Reply::ok("slow").header("cache-control", "max-age=600").head_delay(Duration::from_millis(300)),
    );
    let hooks = Hooks::new().origin_response(|_| panic!("origin response hook exploded"));
    let l = layer(&origin, hooks);
    let addr = start_proxy(l.clone()).await;
    let all: Vec<_> = (0..4).map(|_| tokio::spawn(get_owned(format!("http://{addr}/slow")))).collect();
    for r in all {
        let (status, body) = r.await.unwrap();
        assert_eq!(status, 500);
        assert!(!body.contains("slow"), "nothing from the failed fill reaches a waiter");
    }
    assert!(l.cache().is_empty(), "nothing stored");
    assert!(l.cache().stats().hook_failures >= 1);
}

async fn get_owned(url: String) -> (u16, String) {
    let r = client().get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// An origin that answers every path (cacheable) and records the last
/// path and query it was asked for.
async fn recording_origin() -> (String, std::sync::Arc<std::sync::Mutex<Option<String>>>) {
    let last = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = std::sync::Arc::clone(&last);
    let app = axum::Router::new().fallback(move |uri: http::Uri| {
        let seen = std::sync::Arc::clone(&seen);
        async move {
            *seen.lock().unwrap() = Some(uri.path_and_query().map_or("/", |p| p.as_str()).to_owned());
            ([("cache-control", "max-age=600")], "any")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), last)
}

/// Property: whatever target a rewriting hook produces, the origin is asked
/// for exactly the resource the entry is stored under (a direct request
/// for that path is a hit), or the request is refused before any contact.
#[tokio::test]
async fn a_rewriting_hook_keeps_key_and_origin_request_in_agreement() {
    let (origin_url, last) = recording_origin().await;
    let targets = [
        "/a/b",
        "/a/./b",
        "/a//b",
        "/a/%2e%2e/b",
        "/a/%62",
        "/a/b?x=1",
        "/a/b?x=1&x=2",
        "/A/B",
        "/a/b/",
        "/a%2Fb",
        "/a/b;c",
        "/%7Ea",
        "/a/../b",
        "/a/b?",
        "/a/%5Cb",
        "/a/\\b",
        "/%00",
        "*",
    ];
    let mut seed: u64 = 7;
    let mut checked = 0;
    for i in 0..40 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let target = targets[(seed >> 33) as usize % targets.len()];
        let rewrite = target.to_owned();
        let hooks = Hooks::new().viewer_request(move |req| {
            if req.uri.path() == "/in"
                && let Ok(uri) = rewrite.parse()
            {
                req.uri = uri;
            }
            None
        });
        let l = CdnLayer::builder().origin(OriginCfg::http(&origin_url)).standalone(true).hooks(hooks).build().unwrap();
        let addr = start_proxy(l).await;
        *last.lock().unwrap() = None;
        let r = get(&format!("http://{addr}/in"), &[]).await;
        let seen = last.lock().unwrap().clone();
        let Some(seen) = seen else {
            assert!(r.status().is_client_error(), "round {i}: {target}: no origin contact, status {}", r.status());
            continue;
        };
        // The path the origin saw, asked directly, is the stored entry.
        let direct = get(&format!("http://{addr}{seen}"), &[]).await;
        assert!(
            cache_status(&direct).contains("hit"),
            "round {i}: {target} fetched {seen}, but {seen} is not its entry: {}",
            cache_status(&direct)
        );
        checked += 1;
    }
    assert!(checked > 10);
}

#[tokio::test]
async fn a_viewer_request_hook_picks_another_origin_keyed_apart() {
    let a = Origin::start().await;
    let b = Origin::start().await;
    a.route("/page", Reply::ok("from a").header("cache-control", "max-age=600"));
    b.route("/page", Reply::ok("from b").header("cache-control", "max-age=600"));
    let hooks = Hooks::new().viewer_request(|req| {
        match req.headers.get("x-variant").and_then(|v| v.to_str().ok()) {
            Some("b") => {
                req.extensions.insert(tower_cdn::UseOrigin::new("b"));
            }
            Some("nope") => {
                req.extensions.insert(tower_cdn::UseOrigin::new("nope"));
            }
            _ => {}
        }
        None
    });
    let layer = CdnLayer::builder()
        .standalone(true)
        .distribution(
            tower_cdn::Distribution::new("d")
                .domain("ab.test")
                .origin("a", OriginCfg::http(a.url()))
                .origin("b", OriginCfg::http(b.url()))
                .default_behavior(tower_cdn::CacheBehavior::default_for("a").hooks(hooks)),
        )
        .build()
        .unwrap();
    let addr = start_proxy(layer).await;
    let url = format!("http://{addr}/page");
    for _ in 0..2 {
        assert_eq!(get(&url, &[("host", "ab.test"), ("x-variant", "b")]).await.text().await.unwrap(), "from b");
        assert_eq!(get(&url, &[("host", "ab.test")]).await.text().await.unwrap(), "from a");
    }
    assert_eq!((a.hits("/page"), b.hits("/page")), (1, 1), "each origin's answer stored under its own key");
    let r = get(&url, &[("host", "ab.test"), ("x-variant", "nope")]).await;
    assert_eq!(r.status(), 500);
    assert!(cache_status(&r).contains("detail=unknown-origin"));
}

#[tokio::test]
async fn the_async_origin_request_hook_waits_on_io_before_the_fetch() {
    let origin = Origin::start().await;
    origin.route("/t", Reply::ok("signed").header("cache-control", "max-age=600"));
    origin.route("/boom", Reply::ok("never"));
    let hooks = Hooks::new().origin_request_async(|uri, mut headers| async move {
        // A token service, say.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(uri.path() != "/boom", "token service exploded");
        headers.insert("authorization", HeaderValue::from_static("Bearer fresh-token"));
        headers
    });
    let addr = start_proxy(layer(&origin, hooks)).await;
    assert_eq!(get(&format!("http://{addr}/t"), &[]).await.text().await.unwrap(), "signed");
    assert_eq!(origin.last_headers("/t").unwrap()["authorization"], "Bearer fresh-token");
    // A hit never runs it.
    let r = get(&format!("http://{addr}/t"), &[]).await;
    assert!(cache_status(&r).contains("hit"));
    let r = get(&format!("http://{addr}/boom"), &[]).await;
    assert_eq!(r.status(), 500);
    assert_eq!(origin.hits("/boom"), 0);
}
