//! A response for one user is never served to another: origins that
//! personalise on cookies without saying `private`, cookie-keyed behaviors
//! and `Set-Cookie`, and `;` path parameters.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use support::raw::exchange;
use support::{Origin, Reply, cache_status, client, start_proxy};
use tower_cdn::{CacheBehavior, CachePolicy, CdnLayer, Distribution, Origin as CdnOrigin, Select};

/// An origin that greets whoever its `Cookie` says, with a shared-cacheable
/// `Cache-Control` (the kind of mistake a CDN must survive), and optionally
/// sets a cookie for that user.
async fn personalising_origin(set_cookie: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let h = Arc::clone(&h);
        async move {
            let n = h.fetch_add(1, Ordering::SeqCst);
            let who = headers.get("cookie").and_then(|v| v.to_str().ok()).unwrap_or("anonymous").to_owned();
            let mut resp = format!("page for {who}").into_response();
            resp.headers_mut().insert("cache-control", HeaderValue::from_static("max-age=60"));
            if set_cookie {
                // A fresh token per response: whoever receives it is that session.
                let token = HeaderValue::from_str(&format!("token={n}")).unwrap();
                resp.headers_mut().insert("set-cookie", token);
            }
            resp
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

fn layer(origin: SocketAddr, policy: CachePolicy) -> CdnLayer {
    CdnLayer::builder()
        .distribution(
            Distribution::new("site")
                .origin("web", CdnOrigin::http(format!("http://{origin}")))
                .default_behavior(CacheBehavior::default_for("web").cache_policy(policy)),
        )
        .build()
        .unwrap()
}

async fn get(edge: SocketAddr, cookie: &str) -> (String, Option<String>, String) {
    let r = client().get(format!("http://{edge}/account")).header("cookie", cookie).send().await.unwrap();
    let set_cookie = r.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
    (cache_status(&r), set_cookie, r.text().await.unwrap())
}

#[tokio::test]
async fn a_cookie_personalised_page_without_private_does_not_leak_with_the_default_policy() {
    let (origin, hits) = personalising_origin(false).await;
    let edge = start_proxy(layer(origin, CachePolicy::new())).await;
    let (_, _, alice) = get(edge, "session=alice").await;
    let (_, _, bob) = get(edge, "session=bob").await;
    // Cookies are neither keyed nor forwarded by default, so the origin can
    // only render the anonymous page, which is safe to share.
    assert_eq!(alice, "page for anonymous");
    assert_eq!(bob, "page for anonymous", "bob must never see alice's page");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_cookie_keyed_behavior_shares_a_page_only_between_the_same_cookie_values() {
    let (origin, hits) = personalising_origin(false).await;
    let edge = start_proxy(layer(origin, CachePolicy::new().cookies(Select::only(["session"])))).await;
    let (_, _, alice) = get(edge, "session=alice; theme=dark").await;
    assert_eq!(alice, "page for session=alice", "only the keyed cookie is forwarded");
    let (cs, _, bob) = get(edge, "session=bob").await;
    assert!(cs.contains("fwd=uri-miss") && bob == "page for session=bob", "{cs}: {bob}");
    let (cs, _, alice_again) = get(edge, "theme=light; session=alice").await;
    assert!(cs.starts_with("tower-cdn; hit") && alice_again == alice, "{cs}");
    let (_, _, nobody) = get(edge, "theme=dark").await;
    assert_eq!(nobody, "page for anonymous");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn set_cookie_never_reaches_another_user() {
    for policy in [CachePolicy::new(), CachePolicy::new().cookies(Select::only(["session"]))] {
        let (origin, hits) = personalising_origin(true).await;
        let edge = start_proxy(layer(origin, policy.clone())).await;
        let (cs, alice_cookie, _) = get(edge, "session=alice").await;
        let keyed = policy != CachePolicy::new();
        assert!(cs.contains(if keyed { "stored" } else { "detail=set-cookie" }), "{cs}");
        assert_eq!(alice_cookie.as_deref(), Some("token=0"));
        for cookie in ["session=bob", "other=1"] {
            let (cs, set_cookie, _) = get(edge, cookie).await;
            assert!(!cs.contains("hit"), "{policy:?} {cookie}: a Set-Cookie response was shared ({cs})");
            assert_ne!(set_cookie, alice_cookie, "{policy:?} {cookie} got alice's Set-Cookie");
        }
        // Without cookies in the key: not stored at all, so not even the
        // same cookie gets a copy. With the session in the key, alice's
        // own response is hers to reuse (the key holds her session), and
        // nobody else's key names it.
        let (cs, set_cookie, _) = get(edge, "session=alice").await;
        if !keyed {
            assert!(!cs.contains("hit"), "{cs}");
            assert_eq!(hits.load(Ordering::SeqCst), 4);
        } else {
            assert!(cs.starts_with("tower-cdn; hit"), "{cs}");
            assert_eq!(set_cookie, alice_cookie);
            assert_eq!(hits.load(Ordering::SeqCst), 3);
        }
    }
}

#[tokio::test]
async fn a_set_cookie_answer_to_a_request_without_keyed_cookies_is_never_stored() {
    // The key holds `session`, but this visitor has none: the key is the
    // anonymous one, and the new session the origin hands out is this
    // visitor's alone (storing it would fix one session on everybody).
    let (origin, hits) = personalising_origin(true).await;
    let edge = start_proxy(layer(origin, CachePolicy::new().cookies(Select::only(["session"])))).await;
    let (cs, first, _) = get(edge, "other=1").await;
    assert!(cs.contains("detail=set-cookie"), "{cs}");
    let (cs, second, _) = get(edge, "").await;
    assert!(!cs.contains("hit"), "{cs}");
    assert_ne!(first, second, "one visitor's new session reached another");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn semicolon_parameters_are_part_of_the_path() {
    let origin = Origin::start().await;
    origin.route("/b", Reply::ok("b").header("cache-control", "max-age=60"));
    origin.route("/b;jsessionid=alice", Reply::ok("alice's b").header("cache-control", "max-age=60"));
    let edge = start_proxy(CdnLayer::builder().origin(CdnOrigin::http(origin.url())).build().unwrap()).await;
    let get_raw = |path: &str| {
        let req = format!("GET {path} HTTP/1.1\r\nhost: site.test\r\nconnection: close\r\n\r\n");
        async move { exchange(edge, req.as_bytes()).await }
    };
    assert!(get_raw("/b;jsessionid=alice").await.ends_with("alice's b"));
    let plain = get_raw("/b").await;
    assert!(plain.contains("fwd=uri-miss") && plain.ends_with("\r\n\r\nb"), "{plain}");
    // A parameter on a dot segment goes with it.
    let dotted = get_raw("/x;v=1/../b").await;
    assert!(dotted.contains("; hit") && dotted.ends_with("\r\n\r\nb"), "{dotted}");
    assert_eq!(origin.hits("/b"), 1);
    assert_eq!(origin.hits("/b;jsessionid=alice"), 1);
}

#[tokio::test]
async fn response_splitting_attempts_from_the_origin_never_become_headers() {
    use support::raw::RawOrigin;
    for (name, head) in [
        ("bare CR", &b"HTTP/1.1 200 OK\r\nx-a: b\rset-cookie: evil=1\r\n"[..]),
        ("obs-fold", &b"HTTP/1.1 200 OK\r\nx-a: b\r\n set-cookie: evil=1\r\n"[..]),
        ("NUL", &b"HTTP/1.1 200 OK\r\nx-a: b\0set-cookie: evil=1\r\n"[..]),
    ] {
        let response = [head, b"content-length: 2\r\ncache-control: max-age=60\r\n\r\nok"].concat();
        let raw = RawOrigin::start(response, false).await;
        let layer = CdnLayer::builder().origin(CdnOrigin::http(raw.url())).build().unwrap();
        let cache = layer.cache();
        let edge = start_proxy(layer).await;
        let reply = exchange(edge, b"GET /x HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n").await;
        let head = reply.split("\r\n\r\n").next().unwrap_or_default().to_ascii_lowercase();
        assert!(!head.contains("\r\nset-cookie"), "{name}: {reply:?}");
        assert!(reply.starts_with("HTTP/1.1 502"), "{name}: {reply:?}");
        assert_eq!(cache.len(), 0, "{name}");
    }
}
