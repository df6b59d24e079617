//! Declarative rewrites and redirects from the config file, through the dev
//! proxy: single-page-app fallback, directory index, redirects (host and
//! path), A/B routing by cookie to another origin, query normalisation.

mod support;

use std::process::Command;

use support::proxy::Proxy;
use support::{Origin, Reply, cache_status, get_with as get};

fn start(config: &str) -> (Proxy, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edge.toml");
    std::fs::write(&file, config).unwrap();
    (Proxy::start(["--listen".as_ref(), "127.0.0.1:0".as_ref(), "--config".as_ref(), file.as_os_str()]), dir)
}

#[tokio::test]
async fn spa_index_redirects_ab_and_query_normalisation() {
    let a = Origin::start().await;
    let b = Origin::start().await;
    a.route("/index.html", Reply::ok("the app shell").header("cache-control", "max-age=600"));
    a.route("/app.js", Reply::ok("js").header("cache-control", "max-age=600"));
    a.route("/docs/index.html", Reply::ok("docs index").header("cache-control", "max-age=600"));
    a.route("/q", Reply::ok("query").header("cache-control", "max-age=600"));
    b.route("/_b/index.html", Reply::ok("variant b shell").header("cache-control", "max-age=600"));
    let config = format!(
        r#"
[[distributions]]
id = "site"
domain = "site.test"
aliases = ["www.site.test"]
[distributions.origins.a]
kind = "http"
url = "{a}"
[distributions.origins.b]
kind = "http"
url = "{b}"

[[distributions.behaviors]]
path_pattern = "/_b/*"
origin = "b"
rewrite = {{ spa = "/_b/index.html" }}

[[distributions.behaviors]]
path_pattern = "/docs/*"
origin = "a"
rewrite = {{ index = "index.html" }}

[distributions.default_behavior]
origin = "a"
rewrite = {{ spa = "/index.html", drop_query = ["utm_source"], sort_query = true, redirects = [
    {{ host = "www.site.test", to = "https://site.test$path$query", status = 301 }},
    {{ path = "/old/*", to = "/docs/$1", status = 302 }},
], routes = [{{ cookie = "variant", value = "b", prefix = "/_b" }}] }}
"#,
        a = a.url(),
        b = b.url()
    );
    let (proxy, _dir) = start(&config);
    let url = &proxy.url;
    let site = [("host", "site.test")];

    // Single-page app: an app route is the shell; a file is itself.
    let r = get(&format!("{url}/users/7"), &site).await;
    assert_eq!(r.text().await.unwrap(), "the app shell");
    let r = get(&format!("{url}/settings"), &site).await;
    assert!(cache_status(&r).contains("hit"), "every app route is the shell's one entry: {}", cache_status(&r));
    assert_eq!(get(&format!("{url}/app.js"), &site).await.text().await.unwrap(), "js");
    assert_eq!(a.hits("/index.html"), 1);

    // Directory index.
    assert_eq!(get(&format!("{url}/docs/"), &site).await.text().await.unwrap(), "docs index");

    // Redirects: host to apex (with the query), and a moved path.
    let r = get(&format!("{url}/x?y=1"), &[("host", "www.site.test")]).await;
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], "https://site.test/x?y=1");
    let r = get(&format!("{url}/old/guide/"), &site).await;
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/docs/guide/");
    assert_eq!(a.total_hits() + b.total_hits(), 3, "redirects never reach an origin");

    // A/B: the cookie's visitors get origin b's variant, keyed apart.
    // Both answers say they vary on the cookie, for caches downstream.
    let vary_cookie = |r: &reqwest::Response| {
        r.headers().get_all("vary").iter().any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("cookie"))
    };
    let r = get(&format!("{url}/users/7"), &[("host", "site.test"), ("cookie", "variant=b")]).await;
    assert!(vary_cookie(&r));
    assert_eq!(r.text().await.unwrap(), "variant b shell");
    let r = get(&format!("{url}/users/7"), &site).await;
    assert!(vary_cookie(&r));
    assert_eq!(r.text().await.unwrap(), "the app shell");

    // Query normalisation: tracking parameters dropped, order sorted.
    let q = [("host", "site.test")];
    assert_eq!(get(&format!("{url}/q.x?b=2&utm_source=mail&a=1"), &q).await.status(), 404);
    a.route("/q.txt", Reply::ok("q").header("cache-control", "max-age=600"));
    get(&format!("{url}/q.txt?b=2&utm_source=mail&a=1"), &q).await;
    let r = get(&format!("{url}/q.txt?a=1&b=2"), &q).await;
    assert!(cache_status(&r).contains("hit"), "one key for both spellings: {}", cache_status(&r));
    assert_eq!(a.hits("/q.txt?a=1&b=2"), 1);
}

#[test]
fn bad_rewrites_are_named_before_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let base = r#"
[[distributions]]
id = "d"
[distributions.origins.o]
kind = "http"
url = "http://127.0.0.1:9"
[distributions.default_behavior]
origin = "o"
"#;
    for (rewrite, want) in [
        (r#"rewrite = { redirects = [{ to = "/x", status = 200 }] }"#, "rewrite.redirects[0].status"),
        (r#"rewrite = { spa = "index.html" }"#, "rewrite.spa"),
        (r#"rewrite = { routes = [{ value = "b", prefix = "/b" }] }"#, "rewrite.routes[0]"),
    ] {
        std::fs::write(&file, format!("{base}{rewrite}\n")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn")).arg("--check-config").arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{rewrite}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{rewrite}: {err}");
    }
}

#[tokio::test]
async fn a_rewrite_never_carries_a_request_past_another_behaviors_controls() {
    let app = Origin::start().await;
    let internal = Origin::start().await;
    internal.route("/internal/secret", Reply::ok("secret").header("cache-control", "max-age=600"));
    let config = format!(
        r#"
[[distributions]]
id = "d"
domain = "site.test"
[distributions.origins.app]
kind = "http"
url = "{app}"
[distributions.origins.internal]
kind = "http"
url = "{internal}"
[[distributions.behaviors]]
path_pattern = "/internal/*"
origin = "internal"
rewrite = {{ redirects = [ {{ path = "/internal/*", to = "https://login.example.com/", status = 302 }} ] }}
[distributions.default_behavior]
origin = "app"
rewrite = {{ strip_prefix = "/app" }}
"#,
        app = app.url(),
        internal = internal.url()
    );
    let (proxy, _dir) = start(&config);
    let site = [("host", "site.test")];
    for path in ["/internal/secret", "/app/internal/secret"] {
        let r = get(&format!("{}{path}", proxy.url), &site).await;
        assert_eq!(r.status(), 302, "{path}");
        assert_eq!(r.headers()["location"], "https://login.example.com/");
    }
    assert_eq!(internal.total_hits(), 0);
}
