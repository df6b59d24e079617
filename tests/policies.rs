//! Cache key policies, origin request policies, origin custom headers and
//! `Host` forwarding, and HTTP origin failover, through the proxy.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::{Origin, Reply, cache_status, client, eventually, start_proxy};
use tower_cdn::{
    CacheBehavior, CachePolicy, CdnLayer, Distribution, Origin as CdnOrigin, OriginGroup, OriginRequestPolicy, Select,
};

fn one_behavior(origin: CdnOrigin, behavior: CacheBehavior) -> CdnLayer {
    CdnLayer::builder()
        .distribution(Distribution::new("d").origin("web", origin).default_behavior(behavior.origin("web")))
        .build()
        .unwrap()
}

async fn fetch(c: &reqwest::Client, edge: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (String, String) {
    let mut req = c.get(format!("http://{edge}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let cs = cache_status(&r);
    (cs, r.text().await.unwrap())
}

fn stamped(body: &str) -> Reply {
    Reply::ok(body.to_owned()).header("cache-control", "max-age=60").stamped()
}

#[tokio::test]
async fn a_header_in_the_cache_key_makes_distinct_entries() {
    let origin = Origin::start().await;
    origin.route("/greeting", stamped("hello"));
    let policy = CachePolicy::new().headers(Select::only(["Accept-Language"]));
    let layer = one_behavior(CdnOrigin::http(origin.url()), CacheBehavior::new("*").cache_policy(policy));
    let edge = start_proxy(layer.clone()).await;
    let c = client();
    let en = fetch(&c, edge, "/greeting", &[("accept-language", "en")]).await.1;
    let de = fetch(&c, edge, "/greeting", &[("accept-language", "de")]).await.1;
    assert_ne!(en, de);
    assert!(eventually(|| layer.cache().len() == 2).await);
    let (cs, again) = fetch(&c, edge, "/greeting", &[("accept-language", "en"), ("x-other", "1")]).await;
    assert!(cs.contains("hit"), "{cs}");
    assert_eq!(again, en);
    assert_eq!(origin.hits("/greeting"), 2);
}

#[tokio::test]
async fn a_cookie_allow_list_keys_on_and_forwards_only_the_listed_cookies() {
    let origin = Origin::start().await;
    origin.route("/page", stamped("page"));
    let policy = CachePolicy::new().cookies(Select::only(["theme"]));
    let layer = one_behavior(CdnOrigin::http(origin.url()), CacheBehavior::new("*").cache_policy(policy));
    let edge = start_proxy(layer).await;
    let c = client();
    let dark = fetch(&c, edge, "/page", &[("cookie", "theme=dark; session=alice")]).await.1;
    let seen = origin.last_headers("/page").unwrap();
    assert_eq!(seen["cookie"], "theme=dark", "only the keyed cookie reaches the origin");
    let light = fetch(&c, edge, "/page", &[("cookie", "theme=light")]).await.1;
    assert_ne!(dark, light);
    let (cs, bob) = fetch(&c, edge, "/page", &[("cookie", "session=bob; theme=dark")]).await;
    assert!(cs.contains("hit"), "{cs}");
    assert_eq!(bob, dark, "other cookies are not in the key");
    assert_eq!(origin.hits("/page"), 2);
}

#[tokio::test]
async fn with_every_cookie_in_the_key_the_origin_sees_only_what_the_key_holds() {
    let origin = Origin::start().await;
    origin.route("/me", stamped("me"));
    let policy = CachePolicy::new().cookies(Select::All);
    let layer = one_behavior(CdnOrigin::http(origin.url()), CacheBehavior::new("*").cache_policy(policy));
    let edge = start_proxy(layer).await;
    let c = client();
    let plain = fetch(&c, edge, "/me", &[]).await.1;
    // `admin` is not a name=value pair: not in the key, so it must not
    // reach the origin either (its answer would be stored under the key
    // of a request without cookies).
    let (cs, fragment) = fetch(&c, edge, "/me", &[("cookie", "admin")]).await;
    assert!(cs.contains("hit"), "{cs}");
    assert_eq!(fragment, plain);
    let (_, keyed) = fetch(&c, edge, "/me", &[("cookie", "admin; theme=dark")]).await;
    assert_ne!(keyed, plain);
    assert_eq!(origin.last_headers("/me").unwrap()["cookie"], "theme=dark");
    assert_eq!(origin.hits("/me"), 2);
}

#[tokio::test]
async fn query_string_allow_and_deny_lists() {
    let origin = Origin::start().await;
    origin.route("/list", stamped("list"));
    origin.route("/track", stamped("track"));
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("d")
                .origin("web", CdnOrigin::http(origin.url()))
                .behavior(
                    CacheBehavior::new("/list")
                        .origin("web")
                        .cache_policy(CachePolicy::new().query_strings(Select::only(["page"]))),
                )
                .default_behavior(
                    CacheBehavior::default_for("web")
                        .cache_policy(CachePolicy::new().query_strings(Select::all_except(["utm_source"]))),
                ),
        )
        .build()
        .unwrap();
    let edge = start_proxy(layer).await;
    let c = client();
    let p1 = fetch(&c, edge, "/list?page=1&sort=up", &[]).await.1;
    assert_eq!(origin.hits("/list?page=1"), 1, "unlisted query strings are not forwarded");
    let (cs, again) = fetch(&c, edge, "/list?sort=down&page=1", &[]).await;
    assert!(cs.contains("hit"), "{cs}");
    assert_eq!(again, p1);
    let (cs, _) = fetch(&c, edge, "/list?page=2", &[]).await;
    assert!(cs.contains("fwd=uri-miss"), "{cs}");
    assert_eq!(origin.hits("/list?page=2"), 1);

    let t1 = fetch(&c, edge, "/track?id=7&utm_source=mail", &[]).await.1;
    assert_eq!(origin.hits("/track?id=7"), 1);
    let (cs, again) = fetch(&c, edge, "/track?id=7&utm_source=web", &[]).await;
    assert!(cs.contains("hit"), "{cs}");
    assert_eq!(again, t1);
}

#[tokio::test]
async fn cookies_are_stripped_by_default_and_forwarded_when_the_policy_says_so() {
    let origin = Origin::start().await;
    origin.route("/a", Reply::ok("a"));
    origin.route("/b", Reply::ok("b"));
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("d")
                .origin("web", CdnOrigin::http(origin.url()))
                .behavior(
                    CacheBehavior::new("/b")
                        .origin("web")
                        .origin_request_policy(OriginRequestPolicy::new().cookies(Select::only(["session"]))),
                )
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .build()
        .unwrap();
    let edge = start_proxy(layer).await;
    let c = client();
    let cookie = [("cookie", "session=alice; other=1"), ("x-custom", "kept")];
    fetch(&c, edge, "/a", &cookie).await;
    let seen = origin.last_headers("/a").unwrap();
    assert!(!seen.contains_key("cookie"), "{seen:?}");
    // The edge gives lifetimes here: a header outside the key is not
    // forwarded either (the wire tests cover the whole rule).
    assert!(!seen.contains_key("x-custom"), "{seen:?}");
    fetch(&c, edge, "/b", &cookie).await;
    assert_eq!(origin.last_headers("/b").unwrap()["cookie"], "session=alice");
}

#[tokio::test]
async fn origin_custom_headers_are_added_and_host_forwarding_is_a_switch() {
    let origin = Origin::start().await;
    origin.route("/h", Reply::ok("h"));
    let c = client();
    for forward_host in [false, true] {
        let layer = one_behavior(
            CdnOrigin::http(origin.url()).custom_header("x-origin-secret", "s3cr3t").forward_host(forward_host),
            CacheBehavior::new("*"),
        );
        let edge = start_proxy(layer).await;
        fetch(&c, edge, "/h", &[("host", "viewer.test"), ("x-origin-secret", "forged")]).await;
        let seen = origin.last_headers("/h").unwrap();
        assert_eq!(seen["x-origin-secret"], "s3cr3t");
        assert_eq!(seen.get_all("x-origin-secret").iter().count(), 1);
        let host = seen["host"].to_str().unwrap().to_owned();
        if forward_host {
            assert_eq!(host, "viewer.test");
        } else {
            assert_eq!(host, origin.addr.to_string());
        }
    }
}

/// A loopback address nothing listens on.
async fn dead_address() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

fn group_layer(primary: String, secondary: String, statuses: Vec<u16>) -> CdnLayer {
    CdnLayer::builder()
        .distribution(
            Distribution::new("d")
                .origin("primary", CdnOrigin::http(primary).connect_timeout(Duration::from_secs(2)))
                .origin("secondary", CdnOrigin::http(secondary))
                .origin_group("both", OriginGroup::new("primary", "secondary").failover_statuses(statuses))
                .default_behavior(CacheBehavior::default_for("both")),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_group_fails_over_on_connection_failure_and_listed_statuses_only() {
    let (primary, secondary) = (Origin::start().await, Origin::start().await);
    primary.route("/busy", Reply::ok("busy").status(503));
    primary.route("/gone", Reply::ok("gone").status(404));
    primary.route("/ok", Reply::ok("primary ok").header("cache-control", "max-age=60"));
    for path in ["/busy", "/gone", "/ok", "/x"] {
        secondary.route(path, Reply::ok("from secondary").header("cache-control", "max-age=60"));
    }
    let c = client();
    let edge = start_proxy(group_layer(primary.url(), secondary.url(), vec![503])).await;
    assert_eq!(fetch(&c, edge, "/busy", &[]).await.1, "from secondary");
    assert_eq!((primary.hits("/busy"), secondary.hits("/busy")), (1, 1));
    assert_eq!(fetch(&c, edge, "/gone", &[]).await.1, "gone", "404 is not listed");
    assert_eq!(secondary.hits("/gone"), 0);
    assert_eq!(fetch(&c, edge, "/ok", &[]).await.1, "primary ok");
    assert_eq!(secondary.hits("/ok"), 0);

    let dead = format!("http://{}", dead_address().await);
    let edge = start_proxy(group_layer(dead, secondary.url(), vec![500])).await;
    let (cs, body) = fetch(&c, edge, "/x", &[]).await;
    assert_eq!(body, "from secondary");
    assert!(cs.contains("stored"), "{cs}");

    // Both down: the secondary's failure is the answer.
    let (d1, d2) = (dead_address().await, dead_address().await);
    let edge = start_proxy(group_layer(format!("http://{d1}"), format!("http://{d2}"), vec![])).await;
    let r = c.get(format!("http://{edge}/x")).send().await.unwrap();
    assert_eq!(r.status(), 502);
}
