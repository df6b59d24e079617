//! Distributions and behaviors end to end: host → distribution, path →
//! behavior, default root object, allowed methods, disabled distributions,
//! in an axum app (layer mode) and in the standalone proxy.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use support::{Origin, Reply, cache_status, client, eventually, start_proxy};
use tower_cdn::{AllowedMethods, CacheBehavior, CdnLayer, Distribution, Origin as CdnOrigin};

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// An app whose every page is cacheable and counts its hits.
fn app(hits: Arc<AtomicUsize>) -> Router {
    Router::new().fallback(get(move |uri: axum::http::Uri| {
        let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
        async move { ([("cache-control", "max-age=60")], format!("app {} #{n}", uri.path())) }
    }))
}

fn cached(body: &str) -> Reply {
    Reply::ok(body.to_owned()).header("cache-control", "max-age=60")
}

async fn get_text(c: &reqwest::Client, addr: SocketAddr, host: &str, path: &str) -> (u16, String, String) {
    let r = c.get(format!("http://{addr}{path}")).header("host", host).send().await.unwrap();
    let status = r.status().as_u16();
    let cs = cache_status(&r);
    (status, cs, r.text().await.unwrap())
}

#[tokio::test]
async fn hosts_pick_distributions_exact_names_before_wildcards() {
    let (a, b) = (Origin::start().await, Origin::start().await);
    a.route("/", cached("from a"));
    b.route("/", cached("from b"));
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("main")
                .domain("example.test")
                .alias("*.example.test")
                .origin("a", CdnOrigin::http(a.url()))
                .default_behavior(CacheBehavior::default_for("a")),
        )
        .distribution(
            Distribution::new("api")
                .domain("api.example.test")
                .origin("b", CdnOrigin::http(b.url()))
                .default_behavior(CacheBehavior::default_for("b")),
        )
        .build()
        .unwrap();
    let edge = start_proxy(layer).await;
    let c = client();
    assert_eq!(get_text(&c, edge, "example.test", "/").await.2, "from a");
    assert_eq!(get_text(&c, edge, "www.example.test:8080", "/").await.2, "from a");
    assert_eq!(get_text(&c, edge, "API.example.test", "/").await.2, "from b");
    let (status, cs, body) = get_text(&c, edge, "x.y.example.test", "/").await;
    assert_eq!((status, cs.as_str(), body.as_str()), (404, "tower-cdn; fwd=bypass", "no app\n"));
}

#[tokio::test]
async fn unknown_hosts_and_disabled_distributions_pass_to_the_app_untouched() {
    let hits = Arc::new(AtomicUsize::new(0));
    let origin = Origin::start().await;
    origin.route("/page", cached("from the cdn's origin"));
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("site")
                .domain("site.test")
                .origin("web", CdnOrigin::http(origin.url()))
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .build()
        .unwrap();
    let addr = serve(app(hits.clone()).layer(layer.clone())).await;
    let c = client();
    for n in 1..=2 {
        let (status, cs, body) = get_text(&c, addr, "elsewhere.test", "/page").await;
        assert_eq!(status, 200);
        assert_eq!(cs, "tower-cdn; fwd=bypass");
        assert_eq!(body, format!("app /page #{n}"), "never cached");
    }
    assert_eq!(get_text(&c, addr, "site.test", "/page").await.2, "from the cdn's origin");

    assert!(layer.set_enabled("site", false));
    let (_, cs, body) = get_text(&c, addr, "site.test", "/page").await;
    assert_eq!((cs.as_str(), body.as_str()), ("tower-cdn; fwd=bypass", "app /page #3"));
    layer.set_enabled("site", true);
    let (_, cs, body) = get_text(&c, addr, "site.test", "/page").await;
    assert!(cs.contains("hit"), "{cs}");
    assert_eq!(body, "from the cdn's origin");
    assert_eq!(origin.hits("/page"), 1);
}

#[tokio::test]
async fn a_disabled_distribution_answers_403_in_the_standalone_proxy() {
    let origin = Origin::start().await;
    origin.route("/x", cached("x"));
    let layer = CdnLayer::builder()
        .standalone(true)
        .distribution(
            Distribution::new("off")
                .enabled(false)
                .origin("web", CdnOrigin::http(origin.url()))
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .build()
        .unwrap();
    let edge = start_proxy(layer.clone()).await;
    let c = client();
    let (status, cs, body) = get_text(&c, edge, "any.test", "/x").await;
    assert_eq!(status, 403);
    assert_eq!(cs, "tower-cdn; detail=disabled");
    assert_eq!(body, "403 Forbidden: this distribution is disabled\n");
    assert_eq!(origin.total_hits(), 0);
    layer.set_enabled("off", true);
    assert_eq!(get_text(&c, edge, "any.test", "/x").await.0, 200);
}

#[tokio::test]
async fn behaviors_send_paths_to_their_origin_first_match_wins() {
    let hits = Arc::new(AtomicUsize::new(0));
    let (assets, web) = (Origin::start().await, Origin::start().await);
    assets.route("/static/logo.png", cached("png from assets"));
    assets.route("/static/app.js", cached("js from assets"));
    web.route("/static/app.JS", cached("JS from web"));
    web.route("/about", cached("about from web"));
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("site")
                .origin("assets", CdnOrigin::http(assets.url()))
                .origin("web", CdnOrigin::http(web.url()))
                .origin("app", CdnOrigin::inner())
                .behavior(CacheBehavior::new("/static/*.js").origin("assets"))
                .behavior(CacheBehavior::new("static/*.png").origin("assets"))
                .behavior(CacheBehavior::new("/api/*").origin("app"))
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .build()
        .unwrap();
    let addr = serve(app(hits.clone()).layer(layer)).await;
    let c = client();
    let body = |path: &'static str| {
        let c = c.clone();
        async move { get_text(&c, addr, "h.test", path).await.2 }
    };
    assert_eq!(body("/static/app.js").await, "js from assets");
    assert_eq!(body("/static/logo.png").await, "png from assets");
    assert_eq!(body("/static/app.JS").await, "JS from web", "patterns are case-sensitive");
    assert_eq!(body("/about").await, "about from web");
    assert_eq!(body("/api/users").await, "app /api/users #1");
    assert_eq!(body("/api/users").await, "app /api/users #1", "the app's answer is cached");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_root_url_serves_the_default_root_object() {
    let origin = Origin::start().await;
    origin.route("/index.html", cached("<h1>home</h1>"));
    origin.route("/docs/", cached("docs listing"));
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("site")
                .default_root_object("index.html")
                .origin("web", CdnOrigin::http(origin.url()))
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .build()
        .unwrap();
    let edge = start_proxy(layer.clone()).await;
    let c = client();
    assert_eq!(get_text(&c, edge, "h.test", "/").await.2, "<h1>home</h1>");
    assert_eq!(origin.hits("/index.html"), 1);
    assert_eq!(origin.hits("/"), 0);
    assert_eq!(get_text(&c, edge, "h.test", "/docs/").await.2, "docs listing");
    // `/` and `/index.html` are one object.
    assert!(eventually(|| layer.cache().len() == 2).await);
    let (_, cs, _) = get_text(&c, edge, "h.test", "/index.html").await;
    assert!(cs.contains("hit"), "{cs}");
}

#[tokio::test]
async fn methods_a_behavior_does_not_allow_get_403_and_never_reach_the_origin() {
    let origin = Origin::start().await;
    origin.route("/form", Reply::ok("posted"));
    origin.route("/doc", cached("doc"));
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("site")
                .origin("web", CdnOrigin::http(origin.url()))
                .behavior(CacheBehavior::new("/form").origin("web").allowed_methods(AllowedMethods::All))
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .build()
        .unwrap();
    let edge = start_proxy(layer).await;
    let c = client();
    let r = c.post(format!("http://{edge}/doc")).body("x").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(cache_status(&r), "tower-cdn; detail=method-not-allowed");
    assert_eq!(r.text().await.unwrap(), "403 Forbidden: this method is not allowed here\n");
    let r = c.delete(format!("http://{edge}/doc")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(origin.total_hits(), 0);
    let r = c.post(format!("http://{edge}/form")).body("x").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(cache_status(&r).contains("fwd=method"), "{}", cache_status(&r));
    assert_eq!(origin.hits("/form"), 1);
}
