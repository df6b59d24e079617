//! Metrics by distribution, behavior, origin and tier, and CloudFront's
//! report views (popular objects, referrers, timeline) through the admin
//! API and `CacheHandle`.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use support::{Origin, Reply, client, eventually, start_admin, start_proxy};
use tokio::sync::Notify;
use tower_cdn::{CacheBehavior, CdnLayer, Distribution, Origin as CdnOrigin, PopularBy};

const TOKEN: &str = "reports-token";

async fn admin_get(admin: SocketAddr, path: &str) -> Value {
    let r = client().get(format!("http://{admin}{path}")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

async fn admin_text(admin: SocketAddr, path: &str) -> String {
    client().get(format!("http://{admin}{path}")).bearer_auth(TOKEN).send().await.unwrap().text().await.unwrap()
}

async fn get(edge: SocketAddr, host: &str, path: &str, referer: Option<&str>) {
    let mut req = client().get(format!("http://{edge}{path}")).header("host", host);
    if let Some(r) = referer {
        req = req.header("referer", r);
    }
    let r = req.send().await.unwrap();
    r.bytes().await.unwrap();
}

fn layer(origin: &Origin) -> CdnLayer {
    CdnLayer::builder()
        .distribution(
            Distribution::new("site")
                .domain("www.site.test")
                .origin("web", CdnOrigin::http(origin.url()))
                .behavior(CacheBehavior::new("/api/*").origin("web"))
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .distribution(
            Distribution::new("media")
                .domain("media.test")
                .origin("web", CdnOrigin::http(origin.url()))
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn counters_are_kept_per_distribution_behavior_and_origin() {
    let origin = Origin::start().await;
    origin.route("/api/a", Reply::ok("a").header("cache-control", "max-age=600"));
    origin.route("/page", Reply::ok("page").header("cache-control", "max-age=600"));
    origin.route("/img", Reply::ok(vec![b'i'; 1000]).header("cache-control", "max-age=600"));
    let layer = layer(&origin);
    let edge = start_proxy(layer.clone()).await;
    let admin = start_admin(&layer, Some(TOKEN)).await;
    for _ in 0..4 {
        get(edge, "www.site.test", "/api/a", None).await;
    }
    get(edge, "www.site.test", "/page", None).await;
    for _ in 0..2 {
        get(edge, "media.test", "/img", None).await;
    }
    let stats = admin_get(admin, "/stats").await;
    let d = &stats["distributions"];
    assert_eq!(d["site"]["requests"]["Hit"], 3, "{stats}");
    assert_eq!(d["site"]["requests"]["Miss"], 2, "{stats}");
    assert_eq!(d["site"]["hit_ratio"], 0.6, "{stats}");
    assert_eq!(d["media"]["requests"]["Hit"], 1, "{stats}");
    assert_eq!(d["media"]["bytes_from_cache"], 1000, "{stats}");
    assert_eq!(d["media"]["bytes_from_origin"], 1000, "{stats}");
    let routes = stats["routes"].as_array().unwrap();
    let api = routes.iter().find(|r| r["behavior"] == "/api/*").unwrap();
    assert_eq!((api["distribution"].as_str(), api["origin"].as_str()), (Some("site"), Some("web")));
    assert_eq!(api["tiers"]["memory"], 3, "{api}");
    assert_eq!(api["tiers"]["origin"], 1, "{api}");
    assert_eq!(api["origin_fetches"], 1, "{api}");
    assert_eq!(api["fills_in_flight"], 0, "{api}");

    let metrics = admin_text(admin, "/metrics").await;
    let line = "tower_cdn_route_requests_total{distribution=\"site\",behavior=\"/api/*\",origin=\"web\",result_type=\"Hit\"} 3";
    assert!(metrics.contains(line), "{metrics}");
    assert!(metrics.contains(
        "tower_cdn_route_origin_response_seconds_count{distribution=\"media\",behavior=\"*\",origin=\"web\"} 1"
    ));
    assert!(metrics.trim_end().ends_with("# EOF"), "the exposition still ends with # EOF");
}

#[tokio::test]
async fn fills_in_flight_are_counted_per_route_while_the_origin_answers() {
    let origin = Origin::start().await;
    let gate = Arc::new(Notify::new());
    origin.route(
        "/slow",
        Reply::ok(vec![b's'; 64 * 1024])
            .header("cache-control", "max-age=600")
            .chunks(vec![1024; 64])
            .gate_after(1024, Arc::clone(&gate)),
    );
    let layer = layer(&origin);
    let edge = start_proxy(layer.clone()).await;
    let waiting = tokio::spawn(async move { get(edge, "media.test", "/slow", None).await });
    let cache = layer.cache();
    let in_flight = |n: i64| {
        let routes = cache.routes();
        routes.iter().any(|r| r.distribution == "media" && r.fills_in_flight == n)
    };
    assert!(eventually(|| in_flight(1)).await, "{:?}", cache.routes());
    gate.notify_one();
    waiting.await.unwrap();
    assert!(eventually(|| in_flight(0)).await, "{:?}", cache.routes());
}

#[tokio::test]
async fn popular_objects_referrers_and_the_timeline() {
    let origin = Origin::start().await;
    origin.route("/hot", Reply::ok("h").header("cache-control", "max-age=600"));
    origin.route("/warm", Reply::ok("w").header("cache-control", "max-age=600"));
    origin.route("/big", Reply::ok(vec![b'b'; 50_000]).header("cache-control", "max-age=600"));
    origin.route("/err", Reply::ok("no").status(503));
    let layer = layer(&origin);
    let edge = start_proxy(layer.clone()).await;
    let admin = start_admin(&layer, Some(TOKEN)).await;
    for _ in 0..10 {
        get(edge, "www.site.test", "/hot", Some("https://news.example/story?id=1")).await;
    }
    for _ in 0..4 {
        get(edge, "www.site.test", "/warm", Some("https://blog.example/")).await;
    }
    get(edge, "media.test", "/big", None).await;
    get(edge, "www.site.test", "/err", None).await;

    let cache = layer.cache();
    let top = cache.popular_objects(PopularBy::Requests, 3);
    let names: Vec<(&str, &str, u64)> = top.iter().map(|o| (o.host.as_str(), o.path.as_str(), o.requests)).collect();
    assert_eq!(names, [("www.site.test", "/hot", 10), ("www.site.test", "/warm", 4), ("media.test", "/big", 1)]);
    assert!((top[0].hit_ratio - 0.9).abs() < 1e-9, "{top:?}");
    assert_eq!(cache.popular_objects(PopularBy::Bytes, 1)[0].path, "/big");

    let v = admin_get(admin, "/reports/popular?by=requests&limit=2").await;
    assert_eq!(v["objects"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["objects"][0]["path"], "/hot");
    assert!(v["window_seconds"].as_u64().unwrap() >= 300);
    let v = admin_get(admin, "/reports/referrers").await;
    assert_eq!(v["referrers"][0]["referrer"], "news.example", "{v}");
    assert_eq!(v["referrers"][0]["requests"], 10);
    assert_eq!(v["referrers"][1]["referrer"], "blog.example");

    let v = admin_get(admin, "/reports/timeline").await;
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 60, "one point per minute of the last hour");
    let total = |key: &str| points.iter().map(|p| p["requests"][key].as_u64().unwrap()).sum::<u64>();
    assert_eq!((total("Hit"), total("Miss"), total("Error")), (12, 3, 1), "{v}");
    let fives: u64 = points.iter().map(|p| p["statuses"]["5xx"].as_u64().unwrap()).sum();
    assert_eq!(fives, 1);
    let bytes: u64 = points.iter().map(|p| p["bytes"].as_u64().unwrap()).sum();
    assert!(bytes >= 50_000, "{bytes}");

    let bad = client().get(format!("http://{admin}/reports/popular?by=time")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(bad.status(), 400);
}
