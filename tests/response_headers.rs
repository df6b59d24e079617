//! Response headers policies through the layer and the dev proxy: CORS per
//! request origin (never another site's answer), preflights at the edge,
//! security and custom headers on hits and misses, `Server-Timing`.

mod support;

use std::process::Command;
use std::time::Duration;

use support::proxy::Proxy;
use support::{Origin, Reply, cache_status, client, get_with as get, start_proxy};
use tower_cdn::{
    AllowOrigins, CacheBehavior, CdnLayer, Cors, Distribution, Origin as OriginCfg, ResponseHeadersPolicy,
};

fn layer(origin: &Origin, policy: ResponseHeadersPolicy) -> CdnLayer {
    CdnLayer::builder()
        .origin(OriginCfg::http(origin.url()))
        .standalone(true)
        .response_headers_policy(policy)
        .build()
        .unwrap()
}

fn vary_has_origin(r: &reqwest::Response) -> bool {
    r.headers().get_all("vary").iter().any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("origin"))
}

#[tokio::test]
async fn two_sites_never_see_each_others_cors_headers() {
    let origin = Origin::start().await;
    // The origin grants site A itself, and forgets `Vary: Origin`.
    origin.route(
        "/api",
        Reply::ok("data")
            .header("cache-control", "max-age=600")
            .header("access-control-allow-origin", "https://a.example"),
    );
    let cors = Cors::new(AllowOrigins::List(vec!["https://a.example".into(), "https://b.example".into()]))
        .allow_credentials(true)
        .expose_headers([http::HeaderName::from_static("x-total")]);
    let addr = start_proxy(layer(&origin, ResponseHeadersPolicy::new().cors(cors))).await;
    let url = format!("http://{addr}/api");
    let a = get(&url, &[("origin", "https://a.example")]).await;
    assert_eq!(a.headers()["access-control-allow-origin"], "https://a.example");
    assert!(vary_has_origin(&a));
    // A hit for site B: its own grant, not A's.
    let b = get(&url, &[("origin", "https://b.example")]).await;
    assert!(cache_status(&b).contains("hit"), "{}", cache_status(&b));
    assert_eq!(b.headers()["access-control-allow-origin"], "https://b.example");
    assert_eq!(b.headers()["access-control-allow-credentials"], "true");
    assert_eq!(b.headers()["access-control-expose-headers"], "x-total");
    // A site the policy does not allow gets no grant at all.
    let c = get(&url, &[("origin", "https://c.example")]).await;
    assert!(c.headers().get("access-control-allow-origin").is_none());
    assert!(vary_has_origin(&c));
    // No Origin: none either (the origin's stored grant for A is not replayed).
    let plain = get(&url, &[]).await;
    assert!(plain.headers().get("access-control-allow-origin").is_none());
    assert_eq!(origin.hits("/api"), 1);
}

#[tokio::test]
async fn preflights_are_answered_at_the_edge() {
    let origin = Origin::start().await;
    origin.route("/api", Reply::ok("data"));
    let policy = ResponseHeadersPolicy::managed("CORS-With-Preflight").unwrap();
    let addr = start_proxy(layer(&origin, policy)).await;
    let r = client()
        .request(reqwest::Method::OPTIONS, format!("http://{addr}/api"))
        .header("origin", "https://x.example")
        .header("access-control-request-method", "DELETE")
        .header("access-control-request-headers", "x-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(r.headers()["access-control-allow-methods"].to_str().unwrap().contains("DELETE"));
    assert_eq!(r.headers()["access-control-allow-headers"], "x-token");
    assert_eq!(origin.total_hits(), 0, "the origin never saw the preflight");
    // A policy that does not allow the method refuses the preflight.
    let simple = start_proxy(layer(&origin, ResponseHeadersPolicy::managed("SimpleCORS").unwrap())).await;
    let r = client()
        .request(reqwest::Method::OPTIONS, format!("http://{simple}/api"))
        .header("origin", "https://x.example")
        .header("access-control-request-method", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn security_and_custom_headers_and_server_timing_on_hits_and_misses() {
    let origin = Origin::start().await;
    origin.route(
        "/page",
        Reply::ok("page")
            .header("cache-control", "max-age=600")
            .header("x-frame-options", "DENY")
            .header("x-powered-by", "php/5")
            .header("x-mine", "origin"),
    );
    let policy = ResponseHeadersPolicy::managed("Managed-SecurityHeadersPolicy")
        .unwrap()
        .content_security_policy("default-src 'self'", true)
        .header("x-mine", "edge", true)
        .header("x-added", "yes", false)
        .remove("x-powered-by")
        .server_timing(true);
    let addr = start_proxy(layer(&origin, policy)).await;
    for want in ["cdn-cache-miss", "cdn-cache-hit"] {
        let r = get(&format!("http://{addr}/page"), &[]).await;
        let h = r.headers();
        assert_eq!(h["strict-transport-security"], "max-age=31536000");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY", "the origin's value stays (no override)");
        assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
        assert_eq!(h["content-security-policy"], "default-src 'self'");
        assert_eq!(h["x-mine"], "edge");
        assert_eq!(h["x-added"], "yes");
        assert!(h.get("x-powered-by").is_none());
        let timing = h["server-timing"].to_str().unwrap();
        assert!(timing.starts_with(want) && timing.contains("cdn-downstream-fbl;dur="), "{timing}");
        assert!(timing.contains(&format!("cdn-rid;desc=\"{}\"", h["x-request-id"].to_str().unwrap())), "{timing}");
    }
    assert_eq!(origin.hits("/page"), 1);
}

#[tokio::test]
async fn policies_are_per_behavior() {
    let origin = Origin::start().await;
    origin.route("/api/x", Reply::ok("api"));
    origin.route("/site/x", Reply::ok("site"));
    let layer = CdnLayer::builder()
        .standalone(true)
        .distribution(
            Distribution::new("d")
                .domain("site.test")
                .origin("o", OriginCfg::http(origin.url()))
                .behavior(
                    CacheBehavior::new("/api/*")
                        .origin("o")
                        .response_headers_policy(ResponseHeadersPolicy::managed("SimpleCORS").unwrap()),
                )
                .default_behavior(CacheBehavior::default_for("o")),
        )
        .build()
        .unwrap();
    let addr = start_proxy(layer).await;
    let api = get(&format!("http://{addr}/api/x"), &[("origin", "https://s.example"), ("host", "site.test")]).await;
    assert_eq!(api.headers()["access-control-allow-origin"], "*");
    let site = get(&format!("http://{addr}/site/x"), &[("origin", "https://s.example"), ("host", "site.test")]).await;
    assert!(site.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn the_config_file_names_policies_and_managed_ones() {
    let origin = Origin::start().await;
    origin.route("/a", Reply::ok("a"));
    origin.route("/b/x", Reply::ok("b"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edge.toml");
    let text = format!(
        r#"
[response_headers_policies.site]
remove_headers = ["x-powered-by"]
server_timing = true
custom_headers = [{{ name = "x-edge", value = "1", override = true }}]
[response_headers_policies.site.security]
hsts = {{ max_age = "730d", include_subdomains = true, override = true }}
frame_options = {{ value = "DENY" }}
[response_headers_policies.site.cors]
allow_origins = ["https://*.example.org"]
allow_methods = ["GET", "POST"]
allow_headers = ["Content-Type"]
max_age = "10m"

[[distributions]]
id = "d"
[distributions.origins.o]
kind = "http"
url = "{}"
[[distributions.behaviors]]
path_pattern = "/b/*"
origin = "o"
response_headers_policy = "Managed-SecurityHeadersPolicy"
[distributions.default_behavior]
origin = "o"
response_headers_policy = "site"
"#,
        origin.url()
    );
    std::fs::write(&file, &text).unwrap();
    let proxy = Proxy::start(["--listen".as_ref(), "127.0.0.1:0".as_ref(), "--config".as_ref(), file.as_os_str()]);
    let url = &proxy.url;
    let r = get(&format!("{url}/a"), &[("origin", "https://app.example.org")]).await;
    assert_eq!(r.headers()["strict-transport-security"], "max-age=63072000; includeSubDomains");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["x-edge"], "1");
    assert_eq!(r.headers()["access-control-allow-origin"], "https://app.example.org");
    assert!(r.headers().contains_key("server-timing"));
    let pre = client()
        .request(reqwest::Method::OPTIONS, format!("{url}/a"))
        .header("origin", "https://app.example.org")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-max-age"], "600");
    let b = get(&format!("{url}/b/x"), &[]).await;
    assert_eq!(b.headers()["x-frame-options"], "SAMEORIGIN");
    assert!(b.headers().get("x-edge").is_none());

    std::fs::write(&file, text.replace("\"Managed-SecurityHeadersPolicy\"", "\"Nope\"")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn")).arg("--check-config").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("response_headers_policy") && err.contains("Nope") && err.contains("SimpleCORS"), "{err}");
    for (from, to, want) in [
        ("\"x-edge\"", "\"content-length\"", "custom_headers[0].name"),
        ("remove_headers = [\"x-powered-by\"]", "remove_headers = [\"Transfer-Encoding\"]", "remove_headers[0]"),
        (
            "allow_origins = [\"https://*.example.org\"]",
            "allow_origins = [\"*\"]\nallow_credentials = true",
            "cors.allow_credentials",
        ),
    ] {
        std::fs::write(&file, text.replace(from, to)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn")).arg("--check-config").arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{to}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{to}: {err}");
    }
    std::fs::write(&file, text.replace("\"x-edge\"", "\"bad header\"")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn")).arg("--check-config").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("response_headers_policies.site.custom_headers[0].name"), "{err}");
    tokio::time::sleep(Duration::ZERO).await;
}
