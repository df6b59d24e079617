//! Looking inside the cache: `CacheHandle::explain` / `GET /cache?url=`
//! ("why did this miss?") and `CacheHandle::keys` / `GET /cache/keys`.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use http::HeaderMap;
use serde_json::Value;
use support::{Origin, Reply, client, start_admin, start_proxy};
use tower_cdn::{CacheBehavior, CdnLayer, Distribution, KeyQuery, Origin as CdnOrigin, OriginRequestPolicy, Select};

const TOKEN: &str = "inspect-token";

async fn admin_get(admin: SocketAddr, path_and_query: &str) -> (u16, Value) {
    let r = client().get(format!("http://{admin}{path_and_query}")).bearer_auth(TOKEN).send().await.unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null))
}

async fn get(edge: SocketAddr, host: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut req = client().get(format!("http://{edge}{path}")).header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap().text().await.unwrap()
}

fn two_distributions(origin: &Origin) -> CdnLayer {
    CdnLayer::builder()
        .distribution(
            Distribution::new("site")
                .domain("www.site.test")
                .origin("web", CdnOrigin::http(origin.url()))
                .behavior(
                    CacheBehavior::new("/api/*")
                        .origin("web")
                        .origin_request_policy(OriginRequestPolicy::new().headers(Select::only(["accept-language"]))),
                )
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .distribution(
            Distribution::new("off")
                .domain("off.test")
                .enabled(false)
                .origin("web", CdnOrigin::http(origin.url()))
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn explain_names_the_route_the_key_and_each_stored_variant() {
    let origin = Origin::start().await;
    origin.route(
        "/page",
        Reply::ok("0123456789")
            .header("cache-control", "max-age=600, stale-while-revalidate=30")
            .header("etag", "\"p1\"")
            .header("surrogate-key", "pages home"),
    );
    origin
        .route("/api/list", Reply::ok("list").header("cache-control", "max-age=600").header("vary", "accept-language"));
    let layer = two_distributions(&origin);
    let edge = start_proxy(layer.clone()).await;
    get(edge, "www.site.test", "/page?x=1", &[]).await;
    get(edge, "www.site.test", "/api/list", &[("accept-language", "fr")]).await;
    get(edge, "www.site.test", "/api/list", &[("accept-language", "de")]).await;
    get(edge, "www.site.test", "/api/list", &[]).await;

    let cache = layer.cache();
    let e = cache.explain("http://www.site.test/page?x=1", HeaderMap::new()).await.unwrap();
    assert_eq!(e.distribution.as_deref(), Some("site"));
    assert_eq!(e.behavior.as_deref(), Some("*"));
    assert_eq!(e.origin.as_deref(), Some("web"));
    assert!(e.routed && e.enabled && e.stored, "{e:?}");
    assert!(e.key.as_deref().unwrap().contains("www.site.test"), "{e:?}");
    assert_eq!(e.variants.len(), 1, "{e:?}");
    let v = &e.variants[0];
    assert_eq!((v.status, v.size, v.stale_while_revalidate), (200, 10, 30));
    assert!(v.fresh_for > 590 && v.fresh_for <= 600, "{v:?}");
    assert_eq!(v.tags, ["pages", "home"]);
    assert_eq!(v.tiers, ["memory"]);
    assert_eq!(v.etag.as_deref(), Some("\"p1\""));
    assert!(e.why.contains("hit"), "{}", e.why);
    // Another query string is another key: not stored.
    let other = cache.explain("http://www.site.test/page?x=2", HeaderMap::new()).await.unwrap();
    assert!(!other.stored && other.variants.is_empty(), "{other:?}");

    let api = cache.explain("http://www.site.test/api/list", HeaderMap::new()).await.unwrap();
    assert_eq!(api.behavior.as_deref(), Some("/api/*"));
    let vary: BTreeSet<Option<String>> = api
        .variants
        .iter()
        .map(|v| {
            assert_eq!(v.vary.len(), 1, "{v:?}");
            assert_eq!(v.vary[0].0, "accept-language");
            v.vary[0].1.clone()
        })
        .collect();
    assert_eq!(vary, BTreeSet::from([None, Some("de".to_owned()), Some("fr".to_owned())]));

    let nobody = cache.explain("http://unknown.test/x", HeaderMap::new()).await.unwrap();
    assert!(nobody.distribution.is_none() && !nobody.routed, "{nobody:?}");
    assert!(nobody.why.contains("no distribution"), "{}", nobody.why);
    let off = cache.explain("http://off.test/x", HeaderMap::new()).await.unwrap();
    assert_eq!(off.distribution.as_deref(), Some("off"));
    assert!(!off.enabled && !off.routed && off.why.contains("disabled"), "{off:?}");
    assert!(cache.explain("not a url", HeaderMap::new()).await.is_err());
    assert!(cache.explain("ftp://www.site.test/page", HeaderMap::new()).await.is_err());
    // What a request would be refused for, explain says so.
    for hostile in ["/a%5Cb", "/a/../../etc", "/a%00b", "/api/..%2F..%2Fx"] {
        let e = cache.explain(&format!("http://www.site.test{hostile}"), HeaderMap::new()).await.unwrap();
        assert!(!e.routed && e.why.contains("refused"), "{hostile}: {e:?}");
    }
    // User information is not part of the host.
    let e = cache.explain("http://user:pw@www.site.test/page?x=1", HeaderMap::new()).await.unwrap();
    assert_eq!((e.host.as_str(), e.distribution.as_deref(), e.stored), ("www.site.test", Some("site"), true));
}

#[tokio::test]
async fn explain_remembers_why_the_last_answer_was_not_stored() {
    let origin = Origin::start().await;
    origin.route("/private", Reply::ok("mine").header("cache-control", "private, max-age=60"));
    origin.route("/cookie", Reply::ok("c").header("cache-control", "max-age=60").header("set-cookie", "a=1"));
    let layer = CdnLayer::builder().origin(CdnOrigin::http(origin.url())).build().unwrap();
    let edge = start_proxy(layer.clone()).await;
    let admin = start_admin(&layer, Some(TOKEN)).await;
    // Nothing requested yet: nothing remembered.
    let (code, before) = admin_get(admin, "/cache?url=http%3A%2F%2Fsite.test%2Fprivate").await;
    assert_eq!(code, 200, "{before}");
    assert!(before["not_stored"].is_null() && before["stored"] == false, "{before}");
    get(edge, "site.test", "/private", &[]).await;
    get(edge, "site.test", "/cookie", &[]).await;
    let (_, e) = admin_get(admin, "/cache?url=http%3A%2F%2Fsite.test%2Fprivate").await;
    assert_eq!(e["not_stored"]["reason"], "private", "{e}");
    assert!(e["why"].as_str().unwrap().contains("private"), "{e}");
    let (_, e) = admin_get(admin, "/cache?url=http://site.test/cookie").await;
    assert_eq!(e["not_stored"]["reason"], "set-cookie", "{e}");
    let (code, e) = admin_get(admin, "/cache").await;
    assert_eq!(code, 400, "{e}");
    // A soft-purged entry says so.
    origin.route("/soft", Reply::ok("s").header("cache-control", "max-age=600"));
    get(edge, "site.test", "/soft", &[]).await;
    layer.cache().soft_invalidate(["/soft"]).wait().await;
    let (_, e) = admin_get(admin, "/cache?url=http://site.test/soft").await;
    assert_eq!(e["variants"][0]["soft_purged"], true, "{e}");
    assert!(e["variants"][0]["fresh_for"].as_i64().unwrap() <= 0, "{e}");
    assert!(e["why"].as_str().unwrap().contains("soft-purged"), "{e}");
}

#[tokio::test]
async fn keys_are_listed_in_pages_by_host_prefix_and_tag() {
    let origin = Origin::start().await;
    for i in 0..250 {
        let tag = if i % 5 == 0 { "five" } else { "other" };
        origin.route(
            &format!("/k/{i:03}"),
            Reply::ok(format!("{i}")).header("cache-control", "max-age=600").header("cache-tag", tag),
        );
    }
    let layer = CdnLayer::builder().origin(CdnOrigin::http(origin.url())).build().unwrap();
    let edge = start_proxy(layer.clone()).await;
    for i in 0..250 {
        let host = if i < 200 { "a.test" } else { "b.test" };
        get(edge, host, &format!("/k/{i:03}"), &[]).await;
    }
    let cache = layer.cache();
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let mut q = KeyQuery::new();
        q.limit = 64;
        q.cursor = cursor.clone();
        let page = cache.keys(q).await.unwrap();
        assert!(page.keys.len() <= 64);
        seen.extend(page.keys.iter().map(|k| (k.host.clone(), k.path.clone())));
        pages += 1;
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 250, "every key exactly once");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 250);

    let mut q = KeyQuery::new();
    q.host = Some("B.test".into());
    assert_eq!(cache.keys(q).await.unwrap().keys.len(), 50);
    let mut q = KeyQuery::new();
    q.prefix = Some("/k/1".into());
    let page = cache.keys(q).await.unwrap();
    assert_eq!(page.keys.len(), 100);
    assert!(page.keys.iter().all(|k| k.path.starts_with("/k/1") && k.tier == "memory" && k.size > 0));
    let mut q = KeyQuery::new();
    q.tag = Some("five".into());
    q.limit = 1000;
    assert_eq!(cache.keys(q).await.unwrap().keys.len(), 50);

    let admin = start_admin(&layer, Some(TOKEN)).await;
    let (code, v) = admin_get(admin, "/cache/keys?host=b.test&limit=20").await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["keys"].as_array().unwrap().len(), 20);
    let next = v["next_cursor"].as_str().unwrap();
    let (_, v2) = admin_get(admin, &format!("/cache/keys?host=b.test&limit=20&cursor={next}")).await;
    assert!(v2["keys"][0]["path"].as_str().unwrap() > v["keys"][19]["path"].as_str().unwrap(), "{v2}");
    assert_eq!(admin_get(admin, "/cache/keys?limit=0").await.0, 400);
    assert_eq!(admin_get(admin, "/cache/keys?cursor=not-a-cursor").await.0, 400);
    // Keys removed after the listing began are left out of its next pages.
    let (_, first) = admin_get(admin, "/cache/keys?host=a.test&limit=10").await;
    cache.invalidate_host("a.test", ["/k/01*"]).wait().await;
    let next = first["next_cursor"].as_str().unwrap();
    let (_, second) = admin_get(admin, &format!("/cache/keys?host=a.test&limit=10&cursor={next}")).await;
    let paths: Vec<&str> = second["keys"].as_array().unwrap().iter().map(|k| k["path"].as_str().unwrap()).collect();
    assert_eq!(paths.len(), 10, "{second}");
    assert!(paths.iter().all(|p| !p.starts_with("/k/01")), "{paths:?}");
    assert!(paths[0] > first["keys"][9]["path"].as_str().unwrap());
    // Purged keys are not listed.
    cache.invalidate(["/k/2*"]);
    let mut q = KeyQuery::new();
    q.host = Some("b.test".into());
    assert_eq!(cache.keys(q).await.unwrap().keys.len(), 0);
}

#[cfg(feature = "disk")]
#[tokio::test]
async fn explain_and_keys_show_the_disk_tier() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start().await;
    origin.route("/big", Reply::ok(vec![b'x'; 3 << 20]).header("cache-control", "max-age=600"));
    origin.route("/small", Reply::ok("small").header("cache-control", "max-age=600"));
    let layer = CdnLayer::builder()
        .origin(CdnOrigin::http(origin.url()))
        .capacity_bytes(16 << 20)
        .max_entry_bytes(1 << 20)
        .disk(tower_cdn::DiskConfig::new(dir.path()).capacity_bytes(64 << 20))
        .build()
        .unwrap();
    let edge = start_proxy(layer.clone()).await;
    get(edge, "d.test", "/big", &[]).await;
    get(edge, "d.test", "/small", &[]).await;
    layer.cache().flush_disk(std::time::Duration::from_secs(5)).await;
    let cache = layer.cache();
    let big = cache.explain("http://d.test/big", HeaderMap::new()).await.unwrap();
    assert!(big.stored && big.variants.is_empty() && big.why.contains("disk"), "{big:?}");
    let small = cache.explain("http://d.test/small", HeaderMap::new()).await.unwrap();
    assert_eq!(small.variants[0].tiers, ["memory", "disk"], "{small:?}");
    let page = cache.keys(KeyQuery::new()).await.unwrap();
    let tiers: Vec<(&str, &str)> = page.keys.iter().map(|k| (k.path.as_str(), k.tier)).collect();
    assert_eq!(tiers, [("/big", "disk"), ("/small", "memory+disk")]);
    assert_eq!(page.keys[0].size >> 20, 3);
}

#[tokio::test]
async fn the_admin_token_in_x_cache_debug_shows_the_cache_key_and_never_reaches_the_origin() {
    let origin = Origin::start().await;
    origin.route("/dbg", Reply::ok("d").header("cache-control", "max-age=600"));
    // Every viewer header is forwarded: only the debug handling can keep the token back.
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("d").domain("debug.test").origin("web", CdnOrigin::http(origin.url())).default_behavior(
                CacheBehavior::default_for("web")
                    .origin_request_policy(OriginRequestPolicy::new().headers(Select::All)),
            ),
        )
        .build()
        .unwrap();
    let edge = start_proxy(layer.clone()).await;
    let ask = |token: Option<&'static str>| async move {
        let mut req = client().get(format!("http://{edge}/dbg?v=1")).header("host", "Debug.Test");
        if let Some(t) = token {
            req = req.header("x-cache-debug", t);
        }
        let r = req.send().await.unwrap();
        support::cache_status(&r)
    };
    // Before any admin token exists, the header is the app's: passed on.
    ask(Some("anything")).await;
    assert_eq!(origin.last_headers("/dbg?v=1").unwrap()["x-cache-debug"], "anything");
    layer.cache().invalidate_all().wait().await;

    let _admin = start_admin(&layer, Some(TOKEN)).await;
    let status = ask(Some(TOKEN)).await;
    assert!(status.contains("key=\"debug.test%1F/dbg?v=1"), "{status}");
    assert!(!origin.last_headers("/dbg?v=1").unwrap().contains_key("x-cache-debug"), "the token leaked to the origin");
    let hit = ask(Some(TOKEN)).await;
    assert!(hit.contains("hit") && hit.contains("key="), "{hit}");
    assert!(!ask(Some("wrong-token")).await.contains("key="));
    assert!(!ask(None).await.contains("key="));
    assert_eq!(origin.hits("/dbg?v=1"), 2, "the debug header is not in the key");
    let r = client().get(format!("http://{edge}/dbg?v=1")).header("host", "debug.test").header("x-cache-debug", TOKEN);
    let r = r.send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "private, no-store", "no cache downstream keeps a debug answer");
    // Guessing is throttled: after ten wrong tokens in a minute even the
    // right one is ignored.
    for _ in 0..10 {
        assert!(!ask(Some("guess")).await.contains("key="));
    }
    assert!(!ask(Some(TOKEN)).await.contains("key="), "the right token still worked after ten wrong guesses");
}
