//! The app as origin, in process (`ServiceExt::oneshot`, as tower-http's
//! tests are): the app sees the request as the client sent it, nothing it
//! did not give a lifetime is stored, and no answer to one visitor's
//! cookies or credentials reaches another unless the app says `public` or
//! `s-maxage`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use tokio::sync::Notify;
use tower::{Service, ServiceExt};
use tower_cdn::{CacheBehavior, CachePolicy, CdnConfig, CdnLayer, Distribution, Origin, Select};

/// A page that says who asked: the `Cookie` and `Authorization` it saw,
/// and how many times it ran. `cc` is its `Cache-Control` (none if empty).
fn whoami(count: Arc<AtomicUsize>, cc: &'static str) -> Router {
    Router::new().route(
        "/page",
        get(move |headers: HeaderMap| {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            let seen = |name: &str| headers.get(name).map_or("-", |v| v.to_str().unwrap()).to_owned();
            let body = format!("#{n} cookie={} authorization={}", seen("cookie"), seen("authorization"));
            async move {
                let mut resp = Response::new(body);
                if !cc.is_empty() {
                    resp.headers_mut().insert("cache-control", cc.parse().unwrap());
                }
                resp
            }
        }),
    )
}

fn get_req(headers: &[(&str, &str)]) -> Request<axum::body::Body> {
    let mut b = Request::get("/page").header("host", "app.test");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(axum::body::Body::empty()).unwrap()
}

/// Sends one request through a clone of `svc`; returns the body and the
/// `Cache-Status`.
async fn send<S, B>(svc: &S, headers: &[(&str, &str)]) -> (String, String)
where
    S: Service<Request<axum::body::Body>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let resp = svc.clone().oneshot(get_req(headers)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let status = resp.headers().get("cache-status").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (String::from_utf8(body.to_vec()).unwrap(), status)
}

#[tokio::test]
async fn the_app_sees_cookies_and_authorization_as_sent() {
    let count = Arc::new(AtomicUsize::new(0));
    let svc = whoami(Arc::clone(&count), "").layer(CdnLayer::new(CdnConfig::default()));
    let (body, _) = send(&svc, &[("cookie", "session=abc; theme=dark"), ("authorization", "Bearer t")]).await;
    assert_eq!(body, "#1 cookie=session=abc; theme=dark authorization=Bearer t");
}

#[tokio::test]
async fn a_response_without_a_lifetime_is_not_stored_by_default() {
    let count = Arc::new(AtomicUsize::new(0));
    let svc = whoami(Arc::clone(&count), "").layer(CdnLayer::new(CdnConfig::default()));
    let (a, status) = send(&svc, &[]).await;
    assert_eq!(a, "#1 cookie=- authorization=-");
    assert!(status.contains("detail=status") || status.contains("detail=zero-ttl"), "{status}");
    let (b, _) = send(&svc, &[]).await;
    assert_eq!(b, "#2 cookie=- authorization=-");
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_error_without_a_lifetime_is_not_cached_either() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    let app = Router::new().route(
        "/page",
        get(move || {
            c.fetch_add(1, Ordering::SeqCst);
            async { (StatusCode::FORBIDDEN, "not for you") }
        }),
    );
    let svc = app.layer(CdnLayer::new(CdnConfig::default()));
    for _ in 0..2 {
        let resp = svc.clone().oneshot(get_req(&[])).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(count.load(Ordering::SeqCst), 2, "a 403 for one visitor is not shared with the next");
}

#[tokio::test]
async fn a_default_ttl_set_explicitly_applies_to_the_app() {
    let count = Arc::new(AtomicUsize::new(0));
    let layer = CdnLayer::builder().default_ttl(Duration::from_secs(60)).build().unwrap();
    let svc = whoami(Arc::clone(&count), "").layer(layer);
    send(&svc, &[]).await;
    let (b, status) = send(&svc, &[]).await;
    assert_eq!(b, "#1 cookie=- authorization=-");
    assert!(status.contains("hit"), "{status}");
}

#[tokio::test]
async fn an_answer_to_cookies_is_stored_only_when_the_app_says_public() {
    // max-age alone: personal (the app saw the session cookie).
    let count = Arc::new(AtomicUsize::new(0));
    let svc = whoami(Arc::clone(&count), "max-age=60").layer(CdnLayer::new(CdnConfig::default()));
    let (mine, status) = send(&svc, &[("cookie", "session=alice")]).await;
    assert_eq!(mine, "#1 cookie=session=alice authorization=-");
    assert!(status.contains("detail=cookie"), "{status}");
    let (anon, _) = send(&svc, &[]).await;
    assert_eq!(anon, "#2 cookie=- authorization=-", "alice's page reached an anonymous visitor");

    // `public`: the app says it may be shared whatever the cookies.
    let count = Arc::new(AtomicUsize::new(0));
    let svc = whoami(Arc::clone(&count), "public, max-age=60").layer(CdnLayer::new(CdnConfig::default()));
    send(&svc, &[("cookie", "_ga=GA1.1")]).await;
    let (anon, status) = send(&svc, &[]).await;
    assert!(status.contains("hit"), "{status}");
    assert_eq!(anon, "#1 cookie=_ga=GA1.1 authorization=-");
    let (other, status) = send(&svc, &[("cookie", "_ga=GA1.2")]).await;
    assert!(status.contains("hit"), "a public answer serves requests with cookies too: {status}");
    assert_eq!(other, "#1 cookie=_ga=GA1.1 authorization=-");
}

#[tokio::test]
async fn a_stored_answer_serves_a_visitor_with_cookies_only_when_public() {
    let count = Arc::new(AtomicUsize::new(0));
    let svc = whoami(Arc::clone(&count), "max-age=60").layer(CdnLayer::new(CdnConfig::default()));
    let (anon, _) = send(&svc, &[]).await;
    assert_eq!(anon, "#1 cookie=- authorization=-");
    // Alice is logged in: the anonymous page is not hers.
    let (mine, status) = send(&svc, &[("cookie", "session=alice")]).await;
    assert_eq!(mine, "#2 cookie=session=alice authorization=-", "{status}");
    let (mine, _) = send(&svc, &[("authorization", "Bearer alice")]).await;
    assert_eq!(mine, "#3 cookie=- authorization=Bearer alice");
    // The anonymous entry is still there for anonymous visitors.
    let (anon, status) = send(&svc, &[]).await;
    assert_eq!(anon, "#1 cookie=- authorization=-");
    assert!(status.contains("hit"), "{status}");
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_answer_to_authorization_is_not_shared_without_public() {
    let count = Arc::new(AtomicUsize::new(0));
    let svc = whoami(Arc::clone(&count), "max-age=60").layer(CdnLayer::new(CdnConfig::default()));
    let (mine, status) = send(&svc, &[("authorization", "Bearer alice")]).await;
    assert_eq!(mine, "#1 cookie=- authorization=Bearer alice");
    assert!(status.contains("detail=authorization"), "{status}");
    let (anon, _) = send(&svc, &[]).await;
    assert_eq!(anon, "#2 cookie=- authorization=-");
}

#[tokio::test]
async fn cookies_in_the_key_are_shared_per_value() {
    let count = Arc::new(AtomicUsize::new(0));
    let policy = CachePolicy::new().cookies(Select::only(["lang"]));
    let dist = Distribution::new("app")
        .origin("app", Origin::inner())
        .default_behavior(CacheBehavior::default_for("app").cache_policy(policy));
    let layer = CdnLayer::builder().distribution(dist).build().unwrap();
    let svc = whoami(Arc::clone(&count), "max-age=60").layer(layer);
    let (fr, _) = send(&svc, &[("cookie", "lang=fr")]).await;
    let (fr2, status) = send(&svc, &[("cookie", "lang=fr")]).await;
    assert_eq!(fr, fr2);
    assert!(status.contains("hit"), "{status}");
    let (de, _) = send(&svc, &[("cookie", "lang=de")]).await;
    assert_eq!(de, "#2 cookie=lang=de authorization=-");
    // A cookie outside the key makes the request personal again.
    let (mine, _) = send(&svc, &[("cookie", "lang=fr; session=alice")]).await;
    assert_eq!(mine, "#3 cookie=lang=fr; session=alice authorization=-");
    let (fr3, _) = send(&svc, &[("cookie", "lang=fr")]).await;
    assert_eq!(fr3, fr, "alice's page did not replace the shared one");
}

/// An anonymous fill in flight is not joined by a visitor with a session:
/// the anonymous answer is not shareable with her (it is not `public`).
#[tokio::test]
async fn a_visitor_with_cookies_does_not_join_an_anonymous_fill() {
    let release = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let (r, e) = (Arc::clone(&release), Arc::clone(&entered));
    let app = Router::new().route(
        "/page",
        get(move |headers: HeaderMap| {
            let (r, e) = (Arc::clone(&r), Arc::clone(&e));
            async move {
                let cookie = headers.get("cookie").map(|v| v.to_str().unwrap().to_owned());
                if cookie.is_none() {
                    e.notify_one();
                    r.notified().await;
                }
                ([("cache-control", "max-age=60")], format!("for {}", cookie.as_deref().unwrap_or("anyone")))
            }
        }),
    );
    let svc = app.layer(CdnLayer::new(CdnConfig::default()));
    let anon = tokio::spawn({
        let svc = svc.clone();
        async move { send(&svc, &[]).await }
    });
    entered.notified().await;
    let (mine, _) = tokio::time::timeout(Duration::from_secs(10), send(&svc, &[("cookie", "session=alice")]))
        .await
        .expect("the visitor with a session waited on the anonymous fill");
    assert_eq!(mine, "for session=alice");
    release.notify_one();
    let (anon, _) = anon.await.unwrap();
    assert_eq!(anon, "for anyone");
}

#[tokio::test]
async fn the_layer_answers_a_bare_request_in_process() {
    // The same, with the smallest request body type the layer accepts.
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    let svc = tower::service_fn(move |_req: Request<Empty<bytes::Bytes>>| {
        c.fetch_add(1, Ordering::SeqCst);
        async {
            let mut resp = Response::new(http_body_util::Full::new(bytes::Bytes::from_static(b"hello")));
            resp.headers_mut().insert("cache-control", "max-age=60".parse().unwrap());
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    let svc = tower::Layer::layer(&CdnLayer::new(CdnConfig::default()), svc);
    for _ in 0..3 {
        let req = Request::get("/x").header("host", "app.test").body(Empty::new()).unwrap();
        let resp = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "hello");
    }
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

/// The other way round: an anonymous visitor who joins the fill of a
/// visitor with a session gets his own answer once hers turns out to be
/// personal (not `public`).
#[tokio::test]
async fn an_anonymous_visitor_never_receives_the_answer_to_a_session() {
    let release = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let (r, e) = (Arc::clone(&release), Arc::clone(&entered));
    let app = Router::new().route(
        "/page",
        get(move |headers: HeaderMap| {
            let (r, e) = (Arc::clone(&r), Arc::clone(&e));
            async move {
                let cookie = headers.get("cookie").map(|v| v.to_str().unwrap().to_owned());
                if cookie.is_some() {
                    e.notify_one();
                    r.notified().await;
                }
                ([("cache-control", "max-age=60")], format!("for {}", cookie.as_deref().unwrap_or("anyone")))
            }
        }),
    );
    let svc = app.layer(CdnLayer::new(CdnConfig::default()));
    let alice = tokio::spawn({
        let svc = svc.clone();
        async move { send(&svc, &[("cookie", "session=alice")]).await }
    });
    entered.notified().await;
    let anon = tokio::spawn({
        let svc = svc.clone();
        async move { send(&svc, &[]).await }
    });
    // Give the anonymous request time to join her fill (if it has not,
    // it leads its own after hers: the answer must be the same).
    tokio::time::sleep(Duration::from_millis(50)).await;
    release.notify_one();
    assert_eq!(alice.await.unwrap().0, "for session=alice");
    assert_eq!(anon.await.unwrap().0, "for anyone");
}

/// Server-sent events: every viewer gets a stream of its own, even when the
/// app (wrongly) gives it a lifetime, and a fetch for one is never joined.
#[tokio::test]
async fn event_streams_are_never_stored_or_shared() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    let app = Router::new().route(
        "/page",
        get(move || {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                ([("content-type", "text/event-stream"), ("cache-control", "max-age=60")], format!("data: {n}\n\n"))
            }
        }),
    );
    let layer = CdnLayer::builder().default_ttl(Duration::from_secs(3600)).build().unwrap();
    let svc = app.layer(layer);
    let (a, status) = send(&svc, &[("accept", "text/event-stream")]).await;
    assert_eq!(a, "data: 1\n\n");
    assert!(status.contains("detail=event-stream"), "{status}");
    // Without the Accept header (curl), the response type decides.
    let (b, status) = send(&svc, &[]).await;
    assert_eq!(b, "data: 2\n\n");
    assert!(status.contains("detail=event-stream"), "{status}");
    let (c2, _) = send(&svc, &[]).await;
    assert_eq!(c2, "data: 3\n\n");
}

/// gRPC-shaped traffic (POST, `te: trailers`, trailers both ways) passes
/// through the layer frame for frame and is never stored.
#[tokio::test]
async fn trailers_pass_both_ways_through_the_layer() {
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    let svc = tower::service_fn(|req: Request<axum::body::Body>| async move {
        assert_eq!(req.headers().get("te").map(|v| v.to_str().unwrap().to_owned()).as_deref(), Some("trailers"));
        let collected = req.into_body().collect().await.unwrap();
        let asked = collected.trailers().and_then(|t| t.get("x-request-trailer")).cloned();
        let data = collected.to_bytes();
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        trailers.insert("x-echo", asked.unwrap_or_else(|| "none".parse().unwrap()));
        let frames: Vec<Result<Frame<bytes::Bytes>, std::convert::Infallible>> =
            vec![Ok(Frame::data(data)), Ok(Frame::trailers(trailers))];
        let mut resp = Response::new(StreamBody::new(futures_util::stream::iter(frames)));
        resp.headers_mut().insert("content-type", "application/grpc".parse().unwrap());
        Ok::<_, std::convert::Infallible>(resp)
    });
    let svc = tower::Layer::layer(&CdnLayer::new(CdnConfig::default()), svc);
    for _ in 0..2 {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-request-trailer", "from-client".parse().unwrap());
        let frames: Vec<Result<Frame<bytes::Bytes>, axum::Error>> =
            vec![Ok(Frame::data(bytes::Bytes::from_static(b"\0\0\0\0\x02hi"))), Ok(Frame::trailers(trailers))];
        let body = axum::body::Body::new(StreamBody::new(futures_util::stream::iter(frames)));
        let req = Request::post("/svc.Echo/Say")
            .header("host", "app.test")
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(body)
            .unwrap();
        let resp = svc.clone().oneshot(req).await.unwrap();
        let collected = resp.into_body().collect().await.unwrap();
        let trailers = collected.trailers().cloned().expect("trailers reach the client");
        assert_eq!(trailers.get("grpc-status").unwrap(), "0");
        assert_eq!(trailers.get("x-echo").unwrap(), "from-client");
        assert_eq!(collected.to_bytes().as_ref(), b"\0\0\0\0\x02hi");
    }
}

/// A typed hint from the handler: read instead of headers, never sent.
#[tokio::test]
async fn a_cache_hint_gives_the_lifetime_and_tags_and_is_not_sent() {
    use tower_cdn::CacheHint;
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    let app = Router::new().route(
        "/page",
        get(move || {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            // The browser is told not to cache; the edge keeps it a minute.
            async move {
                (
                    CacheHint::ttl(Duration::from_secs(60)).tag("prices"),
                    [("cache-control", "no-store")],
                    format!("#{n}"),
                )
            }
        }),
    );
    let layer = CdnLayer::new(CdnConfig::default());
    let handle = layer.cache();
    let svc = app.layer(layer);
    let resp = svc.clone().oneshot(get_req(&[])).await.unwrap();
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store", "the client sees the app's own header");
    assert!(resp.extensions().get::<CacheHint>().is_none(), "the hint is the edge's alone");
    let (b, status) = send(&svc, &[]).await;
    assert_eq!(b, "#1");
    assert!(status.contains("hit"), "{status}");
    // Its tag purges it.
    handle.invalidate_tags(["prices"]);
    let (c2, _) = send(&svc, &[]).await;
    assert_eq!(c2, "#2");
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_private_hint_is_never_stored_even_under_a_minimum_ttl() {
    use tower_cdn::CacheHint;
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    let app = Router::new().route(
        "/page",
        get(move || {
            c.fetch_add(1, Ordering::SeqCst);
            async { (CacheHint::private(), [("cache-control", "max-age=600")], "yours") }
        }),
    );
    let layer = CdnLayer::builder().min_ttl(Duration::from_secs(60)).build().unwrap();
    let svc = app.layer(layer);
    let (_, status) = send(&svc, &[]).await;
    assert!(status.contains("detail=private"), "{status}");
    send(&svc, &[]).await;
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

/// A handler that writes invalidates through the layer's handle after its
/// write commits; the next read is fresh.
#[tokio::test]
async fn a_handler_invalidates_after_its_write_and_the_next_read_is_fresh() {
    use axum::extract::State;
    use axum::routing::post;
    #[derive(Clone)]
    struct AppState {
        value: Arc<std::sync::Mutex<String>>,
        cdn: tower_cdn::CacheHandle,
    }
    let layer = CdnLayer::new(CdnConfig::default());
    let state = AppState { value: Arc::new(std::sync::Mutex::new("one".into())), cdn: layer.cache() };
    let app = Router::new()
        .route(
            "/page",
            get(|State(s): State<AppState>| async move {
                let v = s.value.lock().unwrap().clone();
                ([("cache-control", "max-age=600")], v)
            }),
        )
        .route(
            "/page/edit",
            post(|State(s): State<AppState>, body: String| async move {
                *s.value.lock().unwrap() = body;
                // The write is committed: drop what readers would see.
                s.cdn.invalidate(["/page"]);
                "saved"
            }),
        )
        .with_state(state)
        .layer(layer);
    assert_eq!(send(&app, &[]).await.0, "one");
    assert!(send(&app, &[]).await.1.contains("hit"));
    let edit = Request::post("/page/edit").header("host", "app.test").body(axum::body::Body::from("two")).unwrap();
    assert_eq!(app.clone().oneshot(edit).await.unwrap().status(), StatusCode::OK);
    assert_eq!(send(&app, &[]).await.0, "two");
}

/// A key on a typed request extension set by the app's own middleware:
/// answers are shared within a tenant, and no header a client sends can
/// put it in another tenant's entry.
#[tokio::test]
async fn a_typed_request_extension_keys_the_cache_per_tenant() {
    use axum::middleware::{self, Next};
    use tower_cdn::CacheHint;
    #[derive(Clone)]
    struct Tenant(&'static str);
    impl std::fmt::Display for Tenant {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    async fn tenant_of_session(mut req: axum::extract::Request, next: Next) -> axum::response::Response {
        let cookie = req.headers().get("cookie").and_then(|v| v.to_str().ok()).unwrap_or("");
        let tenant = match cookie {
            "session=alice" | "session=bob" => Some(Tenant("acme")),
            "session=carol" => Some(Tenant("globex")),
            _ => None,
        };
        if let Some(t) = tenant {
            req.extensions_mut().insert(t);
        }
        next.run(req).await
    }
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    let policy = CachePolicy::new().key_extension::<Tenant>();
    let dist = Distribution::new("app")
        .origin("app", Origin::inner())
        .default_behavior(CacheBehavior::default_for("app").cache_policy(policy));
    let layer = CdnLayer::builder().distribution(dist).build().unwrap();
    let app = Router::new()
        .route(
            "/page",
            get(move |tenant: Option<axum::Extension<Tenant>>| {
                let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                let name = tenant.map_or("nobody", |t| t.0.0);
                async move { (CacheHint::ttl(Duration::from_secs(60)), format!("#{n} {name}")) }
            }),
        )
        .layer(layer)
        .layer(middleware::from_fn(tenant_of_session));
    let (alice, _) = send(&app, &[("cookie", "session=alice")]).await;
    assert_eq!(alice, "#1 acme");
    let (bob, status) = send(&app, &[("cookie", "session=bob")]).await;
    assert_eq!(bob, "#1 acme", "{status}");
    let (carol, _) = send(&app, &[("cookie", "session=carol")]).await;
    assert_eq!(carol, "#2 globex");
    let (forged, _) = send(&app, &[("x-tenant", "acme"), ("tenant", "acme")]).await;
    assert_eq!(forged, "#3 nobody");
}

/// The README's per-route form with one layer for two nested routers:
/// each nested app sees its own short path, but the cache keys and
/// invalidates on the path the viewer asked for, so `/assets/logo.svg`
/// and `/admin/logo.svg` never answer for each other.
#[tokio::test]
async fn nested_routers_behind_one_layer_keep_their_own_entries() {
    use axum::extract::OriginalUri;
    let cdn = CdnLayer::new(CdnConfig::default());
    let handle = cdn.cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let svg = |name: &'static str, calls: Arc<AtomicUsize>| {
        Router::new().route(
            "/logo.svg",
            get(move |uri: http::Uri, OriginalUri(original): OriginalUri| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    // The nested app routes on its own path; the outer one
                    // is still there for it to read.
                    assert_eq!(uri.path(), "/logo.svg");
                    assert_eq!(original.path(), format!("/{name}/logo.svg"));
                    ([("cache-control", "public, max-age=3600")], format!("<svg>{name}</svg>"))
                }
            }),
        )
    };
    let app = Router::new()
        .nest("/assets", svg("assets", Arc::clone(&calls)).layer(cdn.clone()))
        .nest("/admin", svg("admin", Arc::clone(&calls)).layer(cdn.clone()));
    let fetch = |path: &'static str| {
        let app = app.clone();
        async move {
            let resp =
                app.oneshot(Request::get(path).header("host", "app.test").body(axum::body::Body::empty()).unwrap());
            let resp = resp.await.unwrap();
            let status = resp.headers().get("cache-status").unwrap().to_str().unwrap().to_owned();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (String::from_utf8(body.to_vec()).unwrap(), status)
        }
    };
    for round in 0..2 {
        for name in ["assets", "admin"] {
            let path = if name == "assets" { "/assets/logo.svg" } else { "/admin/logo.svg" };
            let (body, status) = fetch(path).await;
            assert_eq!(body, format!("<svg>{name}</svg>"), "{path}: {status}");
            assert_eq!(status.contains("hit"), round == 1, "{path}: {status}");
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Invalidation names the viewer's path.
    handle.invalidate(["/assets/logo.svg"]).wait().await;
    let (body, status) = fetch("/assets/logo.svg").await;
    assert_eq!(body, "<svg>assets</svg>");
    assert!(!status.contains("hit"), "{status}");
    assert!(fetch("/admin/logo.svg").await.1.contains("hit"));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
