//! Custom error responses (CloudFront's): an error with a customised code
//! is answered with the distribution's error page, fetched through the
//! cache like any object, with the original or the configured code.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use support::{Origin, Reply, cache_status, client, x_cache};
use tower_cdn::config::from_toml_str;
use tower_cdn::{CacheBehavior, CdnLayer, CustomErrorResponse, Distribution, Origin as CdnOrigin};

const PAGE: &str = "<h1>Not here</h1>";
const SHELL: &str = "<div id=app></div>";

/// A site on `site.test`: `/errors/*` from `pages`, the rest from `app_url`.
async fn site(app_url: String, pages: &Origin, responses: Vec<CustomErrorResponse>) -> SocketAddr {
    let mut d = Distribution::new("site")
        .domain("site.test")
        .origin("app", CdnOrigin::http(app_url))
        .origin("pages", CdnOrigin::http(pages.url()))
        .behavior(CacheBehavior::new("/errors/*").origin("pages"))
        .default_behavior(CacheBehavior::default_for("app"));
    for r in responses {
        d = d.custom_error_response(r);
    }
    let layer = CdnLayer::builder().distribution(d).standalone(true).build().unwrap();
    support::start_proxy(layer).await
}

fn pages() -> Reply {
    Reply::ok(PAGE).header("cache-control", "max-age=300").header("content-type", "text/html")
}

struct Got {
    status: u16,
    cache_status: String,
    x_cache: String,
    content_type: String,
    content_length: Option<String>,
    body: String,
}

async fn send(edge: SocketAddr, method: reqwest::Method, path: &str) -> Got {
    let resp =
        client().request(method, format!("http://{edge}{path}")).header("host", "site.test").send().await.unwrap();
    let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    Got {
        status: resp.status().as_u16(),
        cache_status: cache_status(&resp),
        x_cache: x_cache(&resp),
        content_type: header("content-type").unwrap_or_default(),
        content_length: header("content-length"),
        body: resp.text().await.unwrap(),
    }
}

async fn get(edge: SocketAddr, path: &str) -> Got {
    send(edge, reqwest::Method::GET, path).await
}

#[tokio::test]
async fn an_origin_404_is_answered_with_the_error_page_and_both_are_cached() {
    let (app, p) = (Origin::start().await, Origin::start().await);
    app.route("/gone", Reply::ok("plain origin 404").status(404).header("cache-control", "max-age=60"));
    p.route("/errors/404.html", pages());
    let not_found = CustomErrorResponse::new(StatusCode::NOT_FOUND).page("/errors/404.html");
    let edge = site(app.url(), &p, vec![not_found]).await;

    let first = get(edge, "/gone").await;
    assert_eq!((first.status, first.body.as_str()), (404, PAGE));
    assert_eq!(first.content_type, "text/html");
    // The verdict is the viewer's request's: a miss, stored.
    assert!(
        first.cache_status.contains("fwd=uri-miss") && first.cache_status.contains("stored"),
        "{}",
        first.cache_status
    );
    assert_eq!(first.x_cache, "Error from tower-cdn");

    let second = get(edge, "/gone").await;
    assert_eq!((second.status, second.body.as_str()), (404, PAGE));
    assert!(second.cache_status.contains("hit"), "{}", second.cache_status);
    assert_eq!((app.hits("/gone"), p.hits("/errors/404.html")), (1, 1), "the error and the page are both cached");

    // The page is an object of the site like any other.
    let page = get(edge, "/errors/404.html").await;
    assert_eq!((page.status, page.body.as_str()), (200, PAGE));
    assert!(page.cache_status.contains("hit"), "{}", page.cache_status);

    // HEAD: the page's head, no body.
    let head = send(edge, reqwest::Method::HEAD, "/gone").await;
    assert_eq!((head.status, head.body.as_str()), (404, ""));
    assert_eq!(head.content_length.as_deref(), Some(PAGE.len().to_string().as_str()));
    assert_eq!(p.hits("/errors/404.html"), 1);
}

#[tokio::test]
async fn a_response_code_turns_errors_into_a_single_page_apps_shell() {
    let (app, p) = (Origin::start().await, Origin::start().await);
    app.route("/deep/link", Reply::ok("AccessDenied").status(403));
    p.route("/errors/index.html", Reply::ok(SHELL).header("content-type", "text/html"));
    let spa = CustomErrorResponse::new(StatusCode::FORBIDDEN).page("/errors/index.html").response_code(StatusCode::OK);
    let edge = site(app.url(), &p, vec![spa]).await;
    let got = get(edge, "/deep/link").await;
    assert_eq!((got.status, got.body.as_str()), (200, SHELL));
    // Codes without a custom response pass as they are.
    app.route("/teapot", Reply::ok("short and stout").status(404));
    let got = get(edge, "/teapot").await;
    assert_eq!((got.status, got.body.as_str()), (404, "short and stout"));
}

#[tokio::test]
async fn an_unreachable_origin_gets_the_error_page_from_the_other_origin() {
    let p = Origin::start().await;
    p.route("/errors/502.html", pages());
    let bad_gateway = CustomErrorResponse::new(StatusCode::BAD_GATEWAY).page("/errors/502.html");
    // Nothing listens on the discard port.
    let edge = site("http://127.0.0.1:9".to_owned(), &p, vec![bad_gateway]).await;
    let got = get(edge, "/anything").await;
    assert_eq!((got.status, got.body.as_str()), (502, PAGE));
    assert_eq!(got.x_cache, "Error from tower-cdn");
    assert_eq!(get(edge, "/else").await.body, PAGE);
    assert_eq!(p.hits("/errors/502.html"), 1, "the page is cached");
}

#[tokio::test]
async fn a_missing_error_page_leaves_the_original_error() {
    let (app, p) = (Origin::start().await, Origin::start().await);
    app.route("/gone", Reply::ok("plain origin 404").status(404));
    p.route("/errors/404.html", Reply::ok("the page is gone too").status(404));
    let not_found = CustomErrorResponse::new(StatusCode::NOT_FOUND).page("/errors/404.html");
    let edge = site(app.url(), &p, vec![not_found]).await;
    let got = get(edge, "/gone").await;
    assert_eq!((got.status, got.body.as_str()), (404, "plain origin 404"));
    assert_eq!(p.hits("/errors/404.html"), 1);
}

#[tokio::test]
async fn in_an_app_the_apps_own_errors_get_the_page() {
    let p = Origin::start().await;
    p.route("/errors/404.html", pages());
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("site")
                .origin("app", CdnOrigin::inner())
                .origin("pages", CdnOrigin::http(p.url()))
                .behavior(CacheBehavior::new("/errors/*").origin("pages"))
                .default_behavior(CacheBehavior::default_for("app"))
                .custom_error_response(CustomErrorResponse::new(StatusCode::NOT_FOUND).page("/errors/404.html")),
        )
        .build()
        .unwrap();
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "home" })).layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let resp = client().get(format!("http://{addr}/nowhere")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.text().await.unwrap(), PAGE);
    let resp = client().get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "home");
}

#[test]
fn mistakes_are_named_before_serving() {
    let file = |responses: &str| {
        format!(
            r#"
[[distributions]]
id = "site"

[distributions.origins.web]
kind = "http"
url = "http://127.0.0.1:9"

[distributions.origins.app]
kind = "app"

[[distributions.behaviors]]
path_pattern = "/app/*"
origin = "app"

[distributions.default_behavior]
origin = "web"

{responses}
"#
        )
    };
    let error = |responses: &str| {
        let text = file(responses);
        let err = match from_toml_str(&text, "cdn.toml") {
            Ok(f) => f.build().expect_err("expected an error"),
            Err(e) => e,
        };
        (err.key().to_owned(), err.to_string())
    };
    let good = "[[distributions.custom_error_responses]]\nerror_code = 404\nresponse_page_path = \"/404.html\"\nresponse_code = 200\nerror_caching_min_ttl = \"5m\"";
    from_toml_str(&file(good), "cdn.toml").unwrap().build().unwrap();

    let cases = [
        (
            "error_code = 200\nresponse_page_path = \"/x.html\"",
            "custom_error_responses[0].error_code",
            "200 cannot be customised",
        ),
        ("error_code = 404\nresponse_code = 200", "custom_error_responses[0].response_page_path", "missing"),
        (
            "error_code = 404\nresponse_page_path = \"x.html\"",
            "custom_error_responses[0].response_page_path",
            "absolute",
        ),
        (
            "error_code = 404\nresponse_page_path = \"/app/404.html\"",
            "custom_error_responses[0].response_page_path",
            "app origin",
        ),
        (
            "error_code = 404\nresponse_page_path = \"/x\"\nresponse_code = 9999",
            "custom_error_responses[0].response_code",
            "not an HTTP status",
        ),
        ("error_code = 404\npage = \"/x\"", "custom_error_responses[0].page", "unknown field"),
    ];
    for (entry, key, says) in cases {
        let (got, shown) = error(&format!("[[distributions.custom_error_responses]]\n{entry}"));
        assert_eq!(got, format!("distributions[0].{key}"), "{shown}");
        assert!(shown.contains(says), "{shown}");
    }
    let twice = "[[distributions.custom_error_responses]]\nerror_code = 404\n\
                 [[distributions.custom_error_responses]]\nerror_code = 404";
    let (got, shown) = error(twice);
    assert_eq!(got, "distributions[0].custom_error_responses[1].error_code", "{shown}");
}

#[tokio::test]
async fn each_code_can_have_its_own_error_caching_minimum_ttl() {
    let clock = tower_cdn::Clock::manual();
    let app = Origin::start().await;
    app.use_clock(&clock);
    app.route("/gone", Reply::ok("gone").status(404));
    app.route("/busy", Reply::ok("busy").status(503));
    app.route("/broken", Reply::ok("broken").status(500));
    let layer = CdnLayer::builder()
        .clock(clock.clone())
        .standalone(true)
        .distribution(
            Distribution::new("site")
                .domain("site.test")
                .origin("app", CdnOrigin::http(app.url()))
                .default_behavior(CacheBehavior::default_for("app"))
                .custom_error_response(
                    CustomErrorResponse::new(StatusCode::NOT_FOUND).error_caching_min_ttl(Duration::from_secs(300)),
                )
                .custom_error_response(
                    CustomErrorResponse::new(StatusCode::SERVICE_UNAVAILABLE).error_caching_min_ttl(Duration::ZERO),
                ),
        )
        .build()
        .unwrap();
    let edge = support::start_proxy(layer).await;
    for path in ["/gone", "/busy", "/broken"] {
        get(edge, path).await;
    }
    clock.advance(Duration::from_secs(60));
    for path in ["/gone", "/busy", "/broken"] {
        get(edge, path).await;
    }
    // 404: 300 s here; 503: not cached at all; 500: the layer's 10 s.
    assert_eq!((app.hits("/gone"), app.hits("/busy"), app.hits("/broken")), (1, 2, 2));
    clock.advance(Duration::from_secs(241));
    let got = get(edge, "/gone").await;
    assert!(got.cache_status.contains("fwd="), "expired after 300 s: {}", got.cache_status);
    assert_eq!(app.hits("/gone"), 2);
}
