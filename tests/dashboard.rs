//! The admin dashboard (`GET /` of the admin API) in a real browser:
//! headless Chromium through chromedriver (`source .ci/browser.sh`), in
//! front of a real origin, the layer and the admin router on loopback.
//! Set `DASHBOARD_SCREENSHOT=docs/dashboard.png` to save what it shows.

#[path = "dashboard/browser.rs"]
mod browser;
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use browser::Browser;
use fantoccini::Locator;
use support::{Origin, Reply, cache_status, client, eventually, start_admin, start_proxy};
use tower::ServiceExt as _;
use tower_cdn::{CacheBehavior, CachePolicy, CdnLayer, ClientAddr, Distribution, Origin as CdnOrigin};

const TOKEN: &str = "dashboard-token-7";

/// One distribution, `site`, for `site.test`, caching the origin's answers.
async fn site() -> (Origin, CdnLayer, SocketAddr) {
    let origin = Origin::start().await;
    for p in ["/a", "/b", "/c.css"] {
        origin.route(
            p,
            Reply::ok(format!("body of {p}, long enough to count a few bytes"))
                .header("cache-control", "max-age=600")
                .header("surrogate-key", "docs"),
        );
    }
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("site")
                .domain("site.test")
                .origin("web", CdnOrigin::http(origin.url()))
                .default_behavior(
                    CacheBehavior::default_for("web")
                        .cache_policy(CachePolicy::new().default_ttl(Duration::from_secs(600))),
                ),
        )
        .standalone(true)
        .build()
        .unwrap();
    let edge = start_proxy(layer.clone()).await;
    (origin, layer, edge)
}

/// A GET through the proxy: status and `Cache-Status`.
async fn get(edge: SocketAddr, path: &str) -> (u16, String) {
    let r = client().get(format!("http://{edge}{path}")).header("host", "site.test").send().await.unwrap();
    let answer = (r.status().as_u16(), cache_status(&r));
    // Read to the end: bytes are counted as they are sent.
    r.bytes().await.unwrap();
    answer
}

/// Saves the page as a PNG after a few refreshes with some more traffic
/// (hits only: the counts the test checks afterwards do not change).
async fn screenshot(b: &Browser, edge: SocketAddr, path: &str) {
    for n in [4, 9, 3, 7, 5] {
        for i in 0..n {
            get(edge, if i % 3 == 0 { "/b" } else { "/a" }).await;
        }
        let before = b.text("status").await;
        b.wait_text("status", "another refresh", |t| t.starts_with("updated") && t != before).await;
    }
    // The whole page, without the empty space below it.
    let height = b
        .client
        .execute("return Math.ceil(document.querySelector('main').getBoundingClientRect().bottom) + window.outerHeight - window.innerHeight", vec![])
        .await
        .unwrap();
    b.client.set_window_size(1280, height.as_u64().unwrap() as u32).await.unwrap();
    let fits = "return document.documentElement.scrollHeight <= window.innerHeight";
    browser::poll_until(Duration::from_secs(10), || async {
        (b.client.execute(fits, vec![]).await.ok()? == true).then_some(())
    })
    .await;
    std::fs::write(path, b.client.screenshot().await.unwrap()).unwrap();
}

/// The text of each cell of a table's body, row by row.
async fn table_rows(b: &Browser, id: &str) -> Vec<Vec<String>> {
    let script = format!(
        "return Array.from(document.querySelectorAll('#{id} tbody tr'), (tr) => Array.from(tr.cells, (c) => c.textContent))"
    );
    serde_json::from_value(b.client.execute(&script, vec![]).await.unwrap()).unwrap()
}

/// A key as the page prints it: its separators as Latin-1 marks.
fn printable(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{1f}' => '·',
            '\u{1e}' => '¦',
            '\u{1d}' => '»',
            c if c.is_control() && c.is_ascii() => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// The explain box's lists (the URL's, then each variant's): label to text.
async fn explained(b: &Browser) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let lists = b
        .client
        .execute(
            "return Array.from(document.querySelectorAll('#explain-result dl'), (dl) => \
             Object.fromEntries(Array.from(dl.querySelectorAll('dt'), (dt) => [dt.textContent, dt.nextElementSibling.textContent])))",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(lists).unwrap()
}

fn percent(text: &str) -> Option<f64> {
    text.strip_suffix('%')?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_traffic_explains_purges_and_switches_with_a_token() {
    let (origin, layer, edge) = site().await;
    let admin = start_admin(&layer, Some(TOKEN)).await;
    let b = Browser::start().await;
    b.client.goto(&format!("http://127.0.0.1:{}/", admin.port())).await.unwrap();

    // The API answers 401 without the token: the page asks for it.
    let form = b.client.wait().for_element(Locator::Id("token-form")).await.unwrap();
    browser::poll_until(Duration::from_secs(30), || async { form.is_displayed().await.ok()?.then_some(()) })
        .await
        .expect("the token form is shown after a 401");
    b.fill("token-input", TOKEN).await;
    b.click("#token-submit").await;
    b.wait_text("status", "a refresh with the token", |t| t.starts_with("updated")).await;
    assert!(!form.is_displayed().await.unwrap(), "the token form is hidden once the token works");
    let stored: Option<String> = serde_json::from_value(
        b.client.execute("return sessionStorage.getItem('tower-cdn-admin-token')", vec![]).await.unwrap(),
    )
    .unwrap();
    assert_eq!(stored.as_deref(), Some(TOKEN), "the token is kept for the tab");
    // The stylesheet was applied under the CSP (no inline style anywhere).
    let display =
        b.client.execute("return getComputedStyle(document.querySelector('main')).display", vec![]).await.unwrap();
    assert_eq!(display, "grid");
    assert_eq!(b.text("hit-ratio").await, "—", "no lookups yet");

    // Traffic: one miss, then three hits.
    assert!(get(edge, "/a").await.1.contains("fwd=uri-miss"));
    for _ in 0..3 {
        assert!(get(edge, "/a").await.1.contains("hit"));
    }
    get(edge, "/b").await;
    get(edge, "/c.css").await;
    // 3 hits of 6 lookups.
    let shown = b.wait_text("hit-ratio", "the hit ratio after traffic", |t| t == "50.0%").await;
    assert_eq!(percent(&shown), Some(50.0));
    b.wait_text("requests-total", "the request count", |t| t == "6").await;
    assert!(b.text("hit-ratio-detail").await.contains("3 hits, 3 misses"));
    // The popular objects (GET /reports/popular): /a first, 3 hits of 4.
    let top = browser::poll_until(Duration::from_secs(30), || async {
        let rows = table_rows(&b, "popular").await;
        rows.first().filter(|r| r[1] == "/a" && r[2] == "4").cloned()
    })
    .await;
    let rows = table_rows(&b, "popular").await;
    let top = top.unwrap_or_else(|| panic!("/a tops the popular objects: {rows:?}"));
    assert_eq!((top[0].as_str(), top[4].as_str()), ("site.test", "75.0%"), "{top:?}");
    // The distribution's own counters (`/stats` "distributions").
    let site_row = browser::poll_until(Duration::from_secs(30), || async {
        let rows = table_rows(&b, "distributions").await;
        rows.into_iter().find(|r| r[0] == "site" && r[1] == "6")
    })
    .await;
    let rows = table_rows(&b, "distributions").await;
    let site_row = site_row.unwrap_or_else(|| panic!("site's counters: {rows:?}"));
    assert_eq!(site_row[2], "50.0%", "{site_row:?}");

    // The distribution is listed, enabled.
    let switch = "#distributions tr[data-id='site'] button.switch";
    browser::poll_until(Duration::from_secs(30), || async {
        let e = b.client.find(Locator::Css(switch)).await.ok()?;
        (e.attr("aria-checked").await.ok()?? == "true").then_some(())
    })
    .await
    .expect("distribution `site` is shown enabled");

    // Explain a URL.
    b.fill("explain-url", "http://site.test/a").await;
    b.click("#explain-submit").await;
    b.wait_text("explain-result", "the explanation of /a", |t| t.contains("stored variant")).await;
    let x: serde_json::Value = serde_json::from_slice(
        &client()
            .get(format!("http://{admin}/cache?url=http%3A%2F%2Fsite.test%2Fa"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let shown = explained(&b).await;
    assert_eq!(shown.len(), 2, "the URL's list and one stored variant's: {shown:?}");
    let (main, variant) = (&shown[0], &shown[1]);
    assert_eq!(main["Key"], printable(x["key"].as_str().unwrap()), "{shown:?}");
    assert_eq!(main["Distribution"], "site");
    assert_eq!((main["Routed"].as_str(), main["Stored"].as_str()), (Some("yes"), Some("yes")));
    assert!(variant["Age"].as_str().unwrap().ends_with(" s"), "{variant:?}");
    assert!(variant["Freshness"].as_str().unwrap().starts_with("fresh for "), "{variant:?}");
    assert_eq!(variant["Tiers"], "memory");
    assert_eq!(variant["Tags"], "docs");
    assert!(b.text("explain-result").await.contains("the next request is a hit"), "the one-line answer");
    // List what is stored under a prefix.
    b.fill("keys-prefix", "/").await;
    b.click("#keys-submit").await;
    b.wait_text("keys-note", "the stored keys", |t| t.starts_with("3 shown")).await;
    let listed = b.text("keys").await;
    for p in ["/a", "/b", "/c.css"] {
        assert!(listed.contains(p), "{p} is listed: {listed}");
    }

    if let Ok(path) = std::env::var("DASHBOARD_SCREENSHOT") {
        screenshot(&b, edge, &path).await;
    }

    // Purge /a through the form: the next request is a miss, fetched again.
    b.fill("purge-items", "/a").await;
    b.click("#purge-submit").await;
    let status = b.wait_text("purge-status", "the purge to complete", |t| t.contains("Completed")).await;
    assert!(status.contains("1 entry removed"), "{status}");
    assert_eq!(origin.hits("/a"), 1);
    assert!(get(edge, "/a").await.1.contains("fwd=uri-miss"));
    assert_eq!(origin.hits("/a"), 2);
    assert!(get(edge, "/b").await.1.contains("hit"), "only /a was purged");

    // A soft purge of a tag: /b and /c.css are served stale while they are
    // refreshed in the background.
    b.click("#purge-kind-tags").await;
    b.client.find(Locator::Id("purge-mode")).await.unwrap().select_by_value("stale").await.unwrap();
    b.fill("purge-items", "docs").await;
    b.click("#purge-submit").await;
    let status = b
        .wait_text("purge-status", "the soft purge to complete", |t| t.contains("of 1 tag") && t.contains("Completed"))
        .await;
    assert!(status.contains("marked stale"), "{status}");
    let (_, cache) = get(edge, "/b").await;
    assert!(cache.contains("soft-purged"), "{cache}");
    assert!(eventually(|| origin.hits("/b") == 2).await, "one background refresh of /b");

    // Switch the distribution off: the proxy refuses it; on again: served.
    b.click(switch).await;
    browser::poll_until(Duration::from_secs(30), || async {
        let e = b.client.find(Locator::Css(switch)).await.ok()?;
        (e.attr("aria-checked").await.ok()?? == "false").then_some(())
    })
    .await
    .expect("the switch shows `site` disabled");
    assert_eq!(layer.is_enabled("site"), Some(false));
    assert_eq!(get(edge, "/b").await.0, 403);
    b.click(switch).await;
    browser::poll_until(Duration::from_secs(30), || async {
        let e = b.client.find(Locator::Css(switch)).await.ok()?;
        (e.attr("aria-checked").await.ok()?? == "true").then_some(())
    })
    .await
    .expect("the switch shows `site` enabled again");
    let (status, cache) = get(edge, "/b").await;
    assert_eq!(status, 200);
    assert!(cache.contains("hit"), "{cache}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_without_a_token_works_for_a_loopback_browser() {
    let (_origin, layer, edge) = site().await;
    let admin = start_admin(&layer, None).await;
    get(edge, "/a").await;
    get(edge, "/a").await;
    let b = Browser::start().await;
    b.client.goto(&format!("http://localhost:{}/", admin.port())).await.unwrap();
    b.wait_text("status", "a refresh without a token", |t| t.contains("no token: loopback access")).await;
    assert_eq!(b.wait_text("hit-ratio", "the hit ratio", |t| t.ends_with('%')).await, "50.0%");
    let form = b.client.find(Locator::Id("token-form")).await.unwrap();
    assert!(!form.is_displayed().await.unwrap(), "no token is asked for");
    // A narrow window (a phone's width): nothing sticks out sideways.
    b.fill("explain-url", "http://site.test/a").await;
    b.click("#explain-submit").await;
    b.wait_text("explain-result", "the explanation of /a", |t| t.contains("stored variant")).await;
    b.client.set_window_size(400, 900).await.unwrap();
    let fits = "return window.innerWidth < 500 && document.documentElement.scrollWidth <= window.innerWidth";
    let narrow = browser::poll_until(Duration::from_secs(10), || async {
        (b.client.execute(fits, vec![]).await.ok()? == true).then_some(())
    })
    .await;
    assert!(narrow.is_some(), "the page fits a 400 px window");
    b.close().await;
}

#[tokio::test]
async fn dashboard_is_served_without_a_token_with_strict_headers() {
    let (_origin, layer, _edge) = site().await;
    let admin = start_admin(&layer, Some(TOKEN)).await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/dashboard/dashboard.css", "text/css; charset=utf-8"),
        ("/dashboard/dashboard.js", "text/javascript; charset=utf-8"),
        ("/dashboard/api.js", "text/javascript; charset=utf-8"),
    ] {
        let r = client().get(format!("http://{admin}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path} needs no token: it holds no data");
        let h = r.headers();
        assert_eq!(h["content-type"], content_type, "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
    assert_eq!(client().get(format!("http://{admin}/dashboard/nope.js")).send().await.unwrap().status(), 404);
    // The data still needs the token.
    assert_eq!(client().get(format!("http://{admin}/stats")).send().await.unwrap().status(), 401);
    // No inline script or style for the CSP to refuse.
    let html = client().get(format!("http://{admin}/")).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("<style") && !html.contains(" style="), "{html}");
    for attr in ["src=\"", "href=\""] {
        for value in html.split(attr).skip(1).filter_map(|rest| rest.split('"').next()) {
            assert!(!value.contains("//") || value.starts_with("data:"), "nothing is loaded from elsewhere: {value}");
        }
    }

    // Another site may link to the page, not embed it or its script.
    let from_elsewhere = |path: &str, mode: &str, dest: &str| {
        client()
            .get(format!("http://{admin}{path}"))
            .header("sec-fetch-site", "cross-site")
            .header("sec-fetch-mode", mode.to_owned())
            .header("sec-fetch-dest", dest.to_owned())
            .send()
    };
    assert_eq!(from_elsewhere("/", "navigate", "document").await.unwrap().status(), 200);
    assert_eq!(from_elsewhere("/", "navigate", "iframe").await.unwrap().status(), 403);
    assert_eq!(from_elsewhere("/dashboard/dashboard.js", "cors", "script").await.unwrap().status(), 403);
}

#[tokio::test]
async fn without_a_token_the_dashboard_keeps_the_loopback_and_host_rules() {
    let (_origin, layer, _edge) = site().await;
    let router = tower_cdn::admin::router(&layer, None);
    let status = |client: &str, host: &str| {
        let router = router.clone();
        let mut req = http::Request::get("/").header("host", host).body(axum::body::Body::empty()).unwrap();
        req.extensions_mut().insert(ClientAddr(client.parse().unwrap()));
        async move { router.oneshot(req).await.unwrap().status().as_u16() }
    };
    assert_eq!(status("127.0.0.1:5000", "localhost:9901").await, 200);
    assert_eq!(status("[::1]:5000", "127.0.0.1:9901").await, 200);
    assert_eq!(status("10.1.2.3:5000", "localhost:9901").await, 403, "not a loopback client");
    assert_eq!(status("127.0.0.1:5000", "rebound.attacker.example").await, 421, "DNS rebinding");
    // Through a real loopback connection.
    let admin = start_admin(&layer, None).await;
    assert_eq!(client().get(format!("http://{admin}/")).send().await.unwrap().status(), 200);
}
