//! Real servers for the integration tests: a programmable origin that
//! counts its hits, and the CDN under test, both on 127.0.0.1:0.
#![allow(dead_code)]

#[cfg(feature = "http3")]
pub mod h3;
pub mod l2;
pub mod proxy;
pub mod raw;
pub mod s3;
pub mod tls;
pub mod wire;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::Notify;
use tower_cdn::CdnLayer;

/// How the origin answers one path.
#[derive(Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Split the body into chunks of these sizes (cycled); empty = one chunk.
    pub chunks: Vec<usize>,
    /// Wait this long before the response head.
    pub head_delay: Duration,
    /// Wait this long between chunks.
    pub chunk_delay: Duration,
    /// At each of these byte offsets, wait until the gate is opened
    /// (`notify_one`, so opening before the origin arrives there works).
    pub gates: Vec<(usize, Arc<Notify>)>,
    /// After this many bytes, fail the body (the connection is cut).
    pub fail_after: Option<usize>,
    /// Append the hit number to the body (so tests can tell responses apart).
    pub stamp: bool,
    /// Omit Content-Length (stream chunked).
    pub chunked: bool,
}

impl Reply {
    pub fn ok(body: impl Into<Bytes>) -> Self {
        Reply {
            status: StatusCode::OK,
            headers: Vec::new(),
            body: body.into(),
            chunks: Vec::new(),
            head_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            gates: Vec::new(),
            fail_after: None,
            stamp: false,
            chunked: false,
        }
    }
    pub fn status(mut self, s: u16) -> Self {
        self.status = StatusCode::from_u16(s).unwrap();
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn chunks(mut self, sizes: Vec<usize>) -> Self {
        self.chunks = sizes;
        self
    }
    pub fn head_delay(mut self, d: Duration) -> Self {
        self.head_delay = d;
        self
    }
    pub fn chunk_delay(mut self, d: Duration) -> Self {
        self.chunk_delay = d;
        self
    }
    pub fn gate_after(mut self, bytes: usize, gate: Arc<Notify>) -> Self {
        self.gates.push((bytes, gate));
        self.gates.sort_by_key(|(at, _)| *at);
        self
    }
    pub fn fail_after(mut self, bytes: usize) -> Self {
        self.fail_after = Some(bytes);
        self
    }
    pub fn stamped(mut self) -> Self {
        self.stamp = true;
        self
    }
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }
}

#[derive(Default)]
struct OriginState {
    clock: Mutex<Option<tower_cdn::Clock>>,
    routes: Mutex<HashMap<String, Reply>>,
    hits: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
    last_headers: Mutex<HashMap<String, HeaderMap>>,
}

/// An in-process origin on 127.0.0.1:0 that counts requests per path.
#[derive(Clone)]
pub struct Origin {
    pub addr: SocketAddr,
    state: Arc<OriginState>,
    shutdown: Arc<Notify>,
}

impl Origin {
    pub async fn start() -> Self {
        let state = Arc::new(OriginState::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Arc::new(Notify::new());
        let st = Arc::clone(&state);
        let app = axum::Router::new().fallback(move |req: Request| {
            let st = Arc::clone(&st);
            async move { handle(st, req).await }
        });
        let stop = Arc::clone(&shutdown);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(async move { stop.notified().await }).await;
        });
        Origin { addr, state, shutdown }
    }

    /// Stamps `Date` with this clock (share the CDN's manual clock so the
    /// two agree on the time, as NTP-synchronised servers do).
    pub fn use_clock(&self, clock: &tower_cdn::Clock) {
        *self.state.clock.lock().unwrap() = Some(clock.clone());
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn route(&self, path: &str, reply: Reply) {
        self.state.routes.lock().unwrap().insert(path.to_owned(), reply);
    }

    /// Requests seen for a path (path + query as requested).
    pub fn hits(&self, path: &str) -> usize {
        self.state.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub fn total_hits(&self) -> usize {
        self.state.total.load(Ordering::SeqCst)
    }

    pub fn last_headers(&self, path: &str) -> Option<HeaderMap> {
        self.state.last_headers.lock().unwrap().get(path).cloned()
    }

    /// Stops accepting (existing connections finish).
    pub fn stop(&self) {
        self.shutdown.notify_waiters();
    }
}

async fn handle(st: Arc<OriginState>, req: Request) -> Response {
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let path = req.uri().path().to_owned();
    let n = {
        let mut hits = st.hits.lock().unwrap();
        let e = hits.entry(pq.clone()).or_default();
        *e += 1;
        *e
    };
    st.total.fetch_add(1, Ordering::SeqCst);
    st.last_headers.lock().unwrap().insert(pq.clone(), req.headers().clone());
    let reply = {
        let routes = st.routes.lock().unwrap();
        routes.get(&pq).or_else(|| routes.get(&path)).cloned()
    };
    let Some(reply) = reply else {
        let mut r = Response::new(Body::from("no such route\n"));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r.headers_mut().insert("cache-control", HeaderValue::from_static("no-store"));
        return r;
    };
    if !reply.head_delay.is_zero() {
        tokio::time::sleep(reply.head_delay).await;
    }
    let date = st.clock.lock().unwrap().as_ref().map(|c| httpdate::fmt_http_date(c.now()));
    if let Some(resp) = not_modified(&req, &reply, date.as_deref()) {
        return resp;
    }
    let mut body = reply.body.clone();
    if reply.stamp {
        body = Bytes::from([body.as_ref(), format!("#{n}").as_bytes()].concat());
    }
    let mut reply = reply;
    if let Some((start, end)) = single_range(&req, body.len()).filter(|_| reply.status == StatusCode::OK) {
        reply.headers.push(("content-range".into(), format!("bytes {start}-{end}/{}", body.len())));
        reply.status = StatusCode::PARTIAL_CONTENT;
        body = body.slice(start..=end);
    }
    if let Some(date) = date {
        reply.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("date"));
        reply.headers.push(("date".into(), date));
    }
    let total_len = body.len();
    let mut resp = Response::new(Body::from_stream(body_stream(body, reply.clone())));
    *resp.status_mut() = reply.status;
    for (k, v) in &reply.headers {
        resp.headers_mut().append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
    }
    if !reply.chunked && !resp.headers().contains_key("content-length") {
        resp.headers_mut().insert("content-length", HeaderValue::from(total_len));
    }
    resp
}

/// Answers a conditional GET the way real origins do (RFC 9110 §13).
fn not_modified(req: &Request, reply: &Reply, date: Option<&str>) -> Option<Response> {
    if reply.status != StatusCode::OK {
        return None;
    }
    let find = |name: &str| reply.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let etag = find("etag");
    let last_modified = find("last-modified");
    let inm = req.headers().get("if-none-match").and_then(|v| v.to_str().ok());
    let matched = match (inm, &etag) {
        (Some(inm), Some(etag)) => {
            let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
            inm.split(',').any(|t| t.trim() == "*" || bare(t) == bare(etag))
        }
        (Some(_), None) => false,
        (None, _) => match (req.headers().get("if-modified-since").and_then(|v| v.to_str().ok()), &last_modified) {
            (Some(ims), Some(lm)) => match (httpdate::parse_http_date(ims), httpdate::parse_http_date(lm)) {
                (Ok(ims), Ok(lm)) => lm <= ims,
                _ => false,
            },
            _ => false,
        },
    };
    if !matched {
        return None;
    }
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NOT_MODIFIED;
    for (k, v) in &reply.headers {
        let k = k.to_ascii_lowercase();
        if matches!(
            k.as_str(),
            "etag" | "cache-control" | "expires" | "vary" | "content-location" | "last-modified" | "cdn-cache-control"
        ) {
            r.headers_mut().append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
    }
    if let Some(date) = date {
        r.headers_mut().insert("date", HeaderValue::from_str(date).unwrap());
    }
    Some(r)
}

/// `bytes=a-b`, `bytes=a-` and `bytes=-n` (one range), like a simple origin.
fn single_range(req: &Request, len: usize) -> Option<(usize, usize)> {
    let spec = req.headers().get("range")?.to_str().ok()?.strip_prefix("bytes=")?;
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: usize = b.parse().ok()?;
        (len.saturating_sub(n), len - 1)
    } else {
        let start: usize = a.parse().ok()?;
        let end = if b.is_empty() { len - 1 } else { b.parse::<usize>().ok()?.min(len - 1) };
        (start, end)
    };
    (start <= end && start < len).then_some((start, end))
}

fn body_stream(body: Bytes, reply: Reply) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    // State: (body, position, chunk index, gates passed)
    futures_util::stream::unfold((body, 0usize, 0usize, 0usize), move |(body, pos, i, passed)| {
        let reply = reply.clone();
        async move {
            if let Some(fail) = reply.fail_after
                && pos >= fail
            {
                return Some((Err(std::io::Error::other("origin died")), (body, usize::MAX, i, passed)));
            }
            if pos >= body.len() {
                return None;
            }
            let mut passed = passed;
            while let Some((at, gate)) = reply.gates.get(passed) {
                if pos < *at {
                    break;
                }
                gate.notified().await;
                passed += 1;
            }
            if pos > 0 && !reply.chunk_delay.is_zero() {
                tokio::time::sleep(reply.chunk_delay).await;
            }
            let mut size =
                if reply.chunks.is_empty() { body.len() } else { reply.chunks[i % reply.chunks.len()].max(1) };
            if let Some((at, _)) = reply.gates.get(passed) {
                size = size.min(at - pos);
            }
            if let Some(fail) = reply.fail_after {
                size = size.min(fail.saturating_sub(pos).max(1));
            }
            let end = (pos + size).min(body.len());
            Some((Ok(body.slice(pos..end)), (body, end, i + 1, passed)))
        }
    })
}

/// Serves `layer`'s admin router (with `token`, or loopback-only without)
/// on 127.0.0.1:0 with the dev proxy's accept loop.
#[allow(dead_code)]
pub async fn start_admin(layer: &CdnLayer, token: Option<&str>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tower_cdn::cli::serve::serve(
        listener,
        tower_cdn::admin::router(layer, token),
        tower_cdn::cli::serve::ServeOptions::default(),
        std::future::pending(),
    ));
    addr
}

/// Runs the dev proxy's server loop with `layer` in front of "no app"
/// (the standalone proxy), on 127.0.0.1:0.
pub async fn start_proxy(layer: CdnLayer) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_proxy_on(listener, layer)
}

/// [`start_proxy`] on a listener bound beforehand (to know the address
/// before the layer is built).
pub fn start_proxy_on(listener: tokio::net::TcpListener, layer: CdnLayer) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    let svc = tower::Layer::layer(
        &layer,
        tower::service_fn(|_req: axum::http::Request<hyper::body::Incoming>| async {
            let mut r = axum::http::Response::new(http_body_util::Full::new(Bytes::from_static(b"no app\n")));
            *r.status_mut() = StatusCode::NOT_FOUND;
            Ok::<_, Infallible>(r)
        }),
    );
    tokio::spawn(tower_cdn::cli::serve::serve(
        listener,
        svc,
        tower_cdn::cli::serve::ServeOptions::default(),
        std::future::pending(),
    ));
    addr
}

/// A GET of `url` with these request headers.
#[allow(dead_code)]
pub async fn get_with(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// A reqwest client for the tests (no proxy, no redirects, no pooling
/// surprises).
pub fn client() -> reqwest::Client {
    // rustls 0.23.48 deprecates ring for its lack of post-quantum key
    // exchange; ring keeps the build free of a C toolchain (aws-lc).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub fn cache_status(resp: &reqwest::Response) -> String {
    resp.headers().get("cache-status").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

pub fn x_cache(resp: &reqwest::Response) -> String {
    resp.headers().get("x-cache").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// Waits (bounded) until `cond` holds; for conditions that become true
/// asynchronously (a background fill finishing). Not a timing assertion:
/// the bound only stops a broken test from hanging.
pub async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}
