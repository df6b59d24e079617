//! OpenTelemetry: spans exported over OTLP/HTTP to an in-process collector
//! (an axum server that decodes the protobuf it is sent), `traceparent` as
//! the origin receives it, trace ids in the JSON access log.
#![cfg(feature = "otel")]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message as _;
use support::{Origin, Reply, cache_status, client, eventually, start_proxy};
use tokio::sync::Notify;
use tower_cdn::{AccessLog, CdnLayer, LogFormat, Origin as CdnOrigin, TelemetryConfig};

/// One exported span, flattened.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    kind: SpanKind,
    attrs: HashMap<String, String>,
    /// `(trace id, span id, link attributes)`.
    links: Vec<(String, String, HashMap<String, String>)>,
    status: StatusCode,
}

impl Span {
    fn attr(&self, key: &str) -> &str {
        self.attrs.get(key).map_or("", String::as_str)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn attrs(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter().map(|kv| (kv.key.clone(), text(kv.value.as_ref()))).collect()
}

/// An OTLP/HTTP collector on 127.0.0.1:0 that keeps every span posted to
/// `/v1/traces`.
#[derive(Clone)]
struct Collector {
    addr: std::net::SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Collector {
    async fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&spans);
        let app = axum::Router::new().route(
            "/v1/traces",
            post(move |body: Bytes| {
                let kept = Arc::clone(&kept);
                async move {
                    let req = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                    let mut kept = kept.lock().unwrap();
                    for rs in req.resource_spans {
                        let resource = attrs(&rs.resource.map(|r| r.attributes).unwrap_or_default());
                        let service = resource.get("service.name").cloned().unwrap_or_default();
                        for s in rs.scope_spans.into_iter().flat_map(|ss| ss.spans) {
                            kept.push(Span {
                                service: service.clone(),
                                trace_id: hex(&s.trace_id),
                                span_id: hex(&s.span_id),
                                parent: hex(&s.parent_span_id),
                                name: s.name.clone(),
                                kind: s.kind(),
                                attrs: attrs(&s.attributes),
                                links: s
                                    .links
                                    .iter()
                                    .map(|l| (hex(&l.trace_id), hex(&l.span_id), attrs(&l.attributes)))
                                    .collect(),
                                status: s.status.as_ref().map_or(StatusCode::Unset, |st| st.code()),
                            });
                        }
                    }
                    ([("content-type", "application/x-protobuf")], Bytes::new())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Collector { addr, spans }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }

    /// Flushes the layer's exporter until `enough` holds of what arrived
    /// (server spans end when their body has been sent, which can be just
    /// after the client read it). Bounded, so a broken test cannot hang.
    async fn until(&self, layer: &CdnLayer, enough: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        for _ in 0..200 {
            let l = layer.clone();
            tokio::task::spawn_blocking(move || l.flush_telemetry()).await.unwrap();
            let spans = self.spans();
            if enough(&spans) {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.spans()
    }
}

fn servers<'a>(spans: &'a [Span], path: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.kind == SpanKind::Server && s.attr("url.path") == path).collect()
}

fn clients<'a>(spans: &'a [Span], path: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.kind == SpanKind::Client && s.attr("url.path") == path).collect()
}

fn traced(origin: &Origin, collector: &Collector) -> tower_cdn::CdnLayerBuilder {
    CdnLayer::builder()
        .origin(CdnOrigin::http(origin.url()))
        .telemetry(TelemetryConfig::otlp(collector.endpoint()).service_name("edge-test"))
}

/// `traceparent` as the origin received it: (trace id, parent id, flags).
fn origin_traceparent(origin: &Origin, path: &str) -> (String, String, String) {
    let headers = origin.last_headers(path).expect("the origin was asked");
    let tp = headers.get("traceparent").expect("a traceparent reaches the origin").to_str().unwrap().to_owned();
    let f: Vec<&str> = tp.split('-').collect();
    assert_eq!((f.len(), f[0]), (4, "00"), "{tp}");
    (f[1].to_owned(), f[2].to_owned(), f[3].to_owned())
}

#[tokio::test]
async fn a_miss_and_a_hit_are_server_spans_and_the_fetch_is_a_client_span_the_origin_sees() {
    let origin = Origin::start().await;
    origin.route("/a?x=1&Signature=secret", Reply::ok("alpha").header("cache-control", "max-age=60"));
    let collector = Collector::start().await;
    let layer = traced(&origin, &collector).build().unwrap();
    let edge = start_proxy(layer.clone()).await;
    let c = client();
    let url = format!("http://{edge}/a?x=1&Signature=secret");

    let miss = c.get(&url).send().await.unwrap();
    assert_eq!(miss.status(), 200);
    let miss_id = miss.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(miss.text().await.unwrap(), "alpha");
    let hit = c.get(&url).send().await.unwrap();
    assert!(cache_status(&hit).contains("hit"), "{}", cache_status(&hit));
    let hit_id = hit.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(hit.text().await.unwrap(), "alpha");

    let spans = collector.until(&layer, |s| servers(s, "/a").len() == 2 && clients(s, "/a").len() == 1).await;
    let server = servers(&spans, "/a");
    assert_eq!(server.len(), 2, "{spans:#?}");
    let by_id = |id: &str| *server.iter().find(|s| s.attr("tower_cdn.request_id") == id).expect("span of request");
    let (m, h) = (by_id(&miss_id), by_id(&hit_id));
    for s in [m, h] {
        assert_eq!(s.name, "GET");
        assert_eq!(s.service, "edge-test");
        assert_eq!(s.attr("http.request.method"), "GET");
        assert_eq!(s.attr("url.query"), "x=1&Signature=REDACTED", "a signature is a credential");
        assert_eq!(s.attr("url.scheme"), "http");
        assert_eq!(s.attr("server.address"), "127.0.0.1");
        assert_eq!(s.attr("server.port"), edge.port().to_string());
        assert_eq!(s.attr("network.protocol.version"), "1.1");
        assert_eq!(s.attr("client.address"), "127.0.0.1");
        assert_eq!(s.attr("http.response.status_code"), "200");
        assert_eq!(s.attr("http.response.body.size"), "5");
        assert_eq!(s.status, StatusCode::Unset);
        assert_eq!(s.parent, "", "no traceparent came in: a root span");
        assert_eq!(s.attr("tower_cdn.distribution"), "default");
        assert_eq!(s.attr("tower_cdn.behavior"), "*");
    }
    assert_eq!(m.attr("tower_cdn.result_type"), "Miss");
    assert_eq!(m.attr("tower_cdn.cache_status"), "fwd=uri-miss; fwd-status=200; stored");
    assert_eq!(m.attr("tower_cdn.cache.hit"), "false");
    assert_eq!(h.attr("tower_cdn.result_type"), "Hit");
    assert!(h.attr("tower_cdn.cache_status").starts_with("hit; ttl="), "{}", h.attr("tower_cdn.cache_status"));
    assert_eq!(h.attr("tower_cdn.cache.hit"), "true");
    assert_ne!(m.trace_id, h.trace_id);

    // The miss's fetch: a client span, its child, which the origin saw.
    let fetch = clients(&spans, "/a");
    assert_eq!(fetch.len(), 1, "one fetch, none for the hit: {spans:#?}");
    let f = fetch[0];
    assert_eq!(
        (f.name.as_str(), f.trace_id.as_str(), f.parent.as_str()),
        ("GET", m.trace_id.as_str(), m.span_id.as_str())
    );
    assert_eq!(f.attr("server.address"), "127.0.0.1");
    assert_eq!(f.attr("server.port"), origin.addr.port().to_string());
    assert_eq!(f.attr("http.response.status_code"), "200");
    assert_eq!(f.attr("url.query"), "x=1&Signature=REDACTED");
    assert_eq!(
        origin_traceparent(&origin, "/a?x=1&Signature=secret"),
        (m.trace_id.clone(), f.span_id.clone(), "01".into())
    );
}

#[tokio::test]
async fn an_incoming_traceparent_is_the_parent_and_a_malformed_one_is_ignored() {
    let origin = Origin::start().await;
    origin.route("/p", Reply::ok("p").header("cache-control", "no-store"));
    let collector = Collector::start().await;
    let layer = traced(&origin, &collector).build().unwrap();
    let edge = start_proxy(layer.clone()).await;
    let c = client();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let theirs = format!("00-{trace}-00f067aa0ba902b7-01");

    let r =
        c.get(format!("http://{edge}/p")).header("traceparent", &theirs).header("tracestate", "vendor=v1").send().await;
    let id = r.as_ref().unwrap().headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(r.unwrap().text().await.unwrap(), "p");
    let spans = collector.until(&layer, |s| !clients(s, "/p").is_empty() && !servers(s, "/p").is_empty()).await;
    let server = servers(&spans, "/p");
    let s = server.iter().find(|s| s.attr("tower_cdn.request_id") == id).unwrap();
    assert_eq!((s.trace_id.as_str(), s.parent.as_str()), (trace, "00f067aa0ba902b7"), "a child of the client's span");
    let f = clients(&spans, "/p")[0];
    assert_eq!((f.trace_id.as_str(), f.parent.as_str()), (trace, s.span_id.as_str()));
    // The origin gets the edge's span as parent, not the client's header.
    assert_eq!(origin_traceparent(&origin, "/p"), (trace.to_owned(), f.span_id.clone(), "01".to_owned()));
    let state = origin.last_headers("/p").unwrap();
    // A viewer's tracestate is free-form and the answer may be shared: not forwarded.
    assert!(!state.contains_key("tracestate"), "a viewer's tracestate reached the origin");

    for bad in ["00-zz-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "garbage"] {
        let r = c.get(format!("http://{edge}/p")).header("traceparent", bad).send().await.unwrap();
        assert_eq!(r.status(), 200, "{bad}: never an error");
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        r.text().await.unwrap();
        let spans = collector.until(&layer, |s| s.iter().any(|s| s.attr("tower_cdn.request_id") == id)).await;
        let s = spans.iter().find(|s| s.attr("tower_cdn.request_id") == id).unwrap();
        assert_eq!(s.parent, "", "{bad}: ignored, the span is a root");
        assert_ne!(s.trace_id, trace);
        let (origin_trace, _, _) = origin_traceparent(&origin, "/p");
        assert_eq!(origin_trace, s.trace_id, "{bad} does not reach the origin");
    }
}

#[tokio::test]
async fn concurrent_misses_make_one_fetch_span_that_every_follower_links_to() {
    const N: usize = 8;
    let origin = Origin::start().await;
    let gate = Arc::new(Notify::new());
    let body = vec![b'c'; 64 * 1024];
    origin.route(
        "/hot",
        Reply::ok(body.clone()).header("cache-control", "max-age=60").chunks(vec![8192]).gate_after(8192, gate.clone()),
    );
    let collector = Collector::start().await;
    let layer = traced(&origin, &collector).build().unwrap();
    let edge = start_proxy(layer.clone()).await;
    let c = client();
    // Every response head arrives while the origin holds the rest of the
    // body: all N are readers of the one fill.
    let (heads_tx, mut heads) = tokio::sync::mpsc::channel(N);
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (c, heads_tx) = (c.clone(), heads_tx.clone());
            tokio::spawn(async move {
                let r = c.get(format!("http://{edge}/hot")).send().await.unwrap();
                heads_tx.send(()).await.unwrap();
                let status = cache_status(&r);
                (status, r.bytes().await.unwrap())
            })
        })
        .collect();
    for _ in 0..N {
        heads.recv().await.unwrap();
    }
    gate.notify_one();
    for t in tasks {
        let (status, got) = t.await.unwrap();
        assert_eq!(got.len(), body.len(), "{status}");
    }
    assert_eq!(origin.hits("/hot"), 1);

    let spans = collector.until(&layer, |s| servers(s, "/hot").len() == N && !clients(s, "/hot").is_empty()).await;
    let fetch = clients(&spans, "/hot");
    assert_eq!(fetch.len(), 1, "one origin fetch, one client span");
    let f = fetch[0];
    let server = servers(&spans, "/hot");
    assert_eq!(server.len(), N);
    let (leaders, followers): (Vec<&Span>, Vec<&Span>) = server.into_iter().partition(|s| s.span_id == f.parent);
    assert_eq!(leaders.len(), 1, "the fetch is the child of the request that led it");
    assert_eq!(leaders[0].attr("tower_cdn.coalesced"), "");
    assert_eq!(followers.len(), N - 1);
    for s in followers {
        assert_eq!(s.attr("tower_cdn.coalesced"), "true");
        assert!(s.attr("tower_cdn.cache_status").contains("collapsed"), "{}", s.attr("tower_cdn.cache_status"));
        let link = s.links.iter().find(|(t, id, _)| *t == f.trace_id && *id == f.span_id);
        let (_, _, link_attrs) = link.unwrap_or_else(|| panic!("no link to the fetch: {s:#?}"));
        assert_eq!(link_attrs.get("tower_cdn.link").map(String::as_str), Some("coalesced_fetch"));
        assert_ne!(s.trace_id, f.trace_id, "a follower keeps its own trace");
    }
}

#[tokio::test]
async fn a_background_refresh_is_a_span_of_its_own_linked_both_ways() {
    let origin = Origin::start().await;
    let clock = tower_cdn::Clock::manual();
    origin.use_clock(&clock);
    origin.route("/swr", Reply::ok("v").header("cache-control", "max-age=10, stale-while-revalidate=600"));
    let collector = Collector::start().await;
    let layer = traced(&origin, &collector).clock(clock.clone()).build().unwrap();
    let edge = start_proxy(layer.clone()).await;
    let c = client();
    c.get(format!("http://{edge}/swr")).send().await.unwrap().text().await.unwrap();
    clock.advance(Duration::from_secs(30));
    let stale = c.get(format!("http://{edge}/swr")).send().await.unwrap();
    assert!(cache_status(&stale).contains("stale"), "{}", cache_status(&stale));
    let id = stale.headers()["x-request-id"].to_str().unwrap().to_owned();
    stale.text().await.unwrap();
    assert!(eventually(|| origin.hits("/swr") == 2).await);

    let done = |s: &[Span]| {
        s.iter().any(|s| s.name == "refresh") && clients(s, "/swr").len() == 2 && servers(s, "/swr").len() == 2
    };
    let spans = collector.until(&layer, done).await;
    let request = spans.iter().find(|s| s.attr("tower_cdn.request_id") == id).unwrap();
    let refresh = spans.iter().find(|s| s.name == "refresh").expect("a refresh span");
    assert_eq!(refresh.kind, SpanKind::Internal);
    assert_eq!(refresh.parent, "", "a trace of its own: it outlives the request");
    assert_ne!(refresh.trace_id, request.trace_id);
    assert!(refresh.links.iter().any(|(t, s, _)| *t == request.trace_id && *s == request.span_id), "{refresh:#?}");
    assert!(request.links.iter().any(|(t, s, _)| *t == refresh.trace_id && *s == refresh.span_id), "{request:#?}");
    let fetch = clients(&spans, "/swr").into_iter().find(|f| f.parent == refresh.span_id).expect("the refresh's fetch");
    assert_eq!(fetch.trace_id, refresh.trace_id);
    assert_eq!(origin_traceparent(&origin, "/swr").1, fetch.span_id);
}

#[tokio::test]
async fn the_json_access_log_carries_the_trace_and_span_ids() {
    let origin = Origin::start().await;
    origin.route("/log", Reply::ok("l").header("cache-control", "max-age=60"));
    let collector = Collector::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("access.log");
    let log = AccessLog::file(&path, LogFormat::Json).unwrap();
    let layer = traced(&origin, &collector).access_log(log).build().unwrap();
    let edge = start_proxy(layer.clone()).await;
    let r = client().get(format!("http://{edge}/log")).send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    r.text().await.unwrap();
    let lines = || std::fs::read_to_string(&path).unwrap_or_default();
    assert!(eventually(|| !lines().is_empty()).await);
    let record: serde_json::Value = serde_json::from_str(lines().lines().next().unwrap()).unwrap();
    let spans = collector.until(&layer, |s| s.iter().any(|s| s.attr("tower_cdn.request_id") == id)).await;
    let s = spans.iter().find(|s| s.attr("tower_cdn.request_id") == id).unwrap();
    assert_eq!(record["x-edge-request-id"], id);
    assert_eq!(record["trace_id"], s.trace_id.as_str());
    assert_eq!(record["span_id"], s.span_id.as_str());
}

#[tokio::test]
async fn requests_are_served_while_the_collector_is_down() {
    let origin = Origin::start().await;
    origin.route("/up", Reply::ok("up").header("cache-control", "max-age=60"));
    // A port that nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let layer = CdnLayer::builder()
        .origin(CdnOrigin::http(origin.url()))
        .telemetry(TelemetryConfig::otlp(format!("http://{closed}")))
        .build()
        .unwrap();
    let edge = start_proxy(layer.clone()).await;
    let c = client();
    for i in 0..50 {
        let r = c.get(format!("http://{edge}/up")).send().await.unwrap();
        assert_eq!(r.status(), 200, "request {i}");
        assert_eq!(r.text().await.unwrap(), "up");
    }
    assert_eq!(origin.hits("/up"), 1);
    // An export to nowhere fails quietly; requests go on being served.
    tokio::task::spawn_blocking({
        let layer = layer.clone();
        move || layer.flush_telemetry()
    })
    .await
    .unwrap();
    let r = c.get(format!("http://{edge}/up")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "up");
}

#[tokio::test]
async fn a_collector_that_never_answers_holds_no_request() {
    let origin = Origin::start().await;
    origin.route("/held", Reply::ok("h").header("cache-control", "no-store"));
    // Accepts connections and never answers: an export waits for its timeout.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_addr = hole.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hole.accept().await {
            held.push(socket);
        }
    });
    let layer = CdnLayer::builder()
        .origin(CdnOrigin::http(origin.url()))
        .telemetry(TelemetryConfig::otlp(format!("http://{hole_addr}")))
        .build()
        .unwrap();
    let edge = start_proxy(layer.clone()).await;
    let c = client();
    // A bound that only stops a hang (an exporter on the request path
    // would hold each of these for its 10 s timeout); not a measurement.
    let served = tokio::time::timeout(Duration::from_secs(60), async {
        for _ in 0..20 {
            let r = c.get(format!("http://{edge}/held")).send().await.unwrap();
            assert_eq!(r.text().await.unwrap(), "h");
        }
    });
    served.await.expect("requests were held by the exporter");
    assert_eq!(origin.hits("/held"), 20);
    tokio::task::spawn_blocking(move || layer.shutdown_telemetry(Duration::from_millis(100))).await.unwrap();
}

/// An app that answers with the `traceparent` it was sent (`-` for none).
fn echo_traceparent() -> axum::Router {
    axum::Router::new().route(
        "/echo",
        axum::routing::get(|h: axum::http::HeaderMap| async move {
            h.get("traceparent").map_or("-".to_owned(), |v| v.to_str().unwrap().to_owned())
        }),
    )
}

async fn ask<S>(svc: &S, traceparent: Option<&str>) -> String
where
    S: tower::Service<axum::http::Request<axum::body::Body>, Response = axum::response::Response> + Clone,
    S::Error: std::fmt::Debug,
{
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let mut req = axum::http::Request::get("/echo").header("host", "app.test");
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    let resp = svc.clone().oneshot(req.body(axum::body::Body::empty()).unwrap()).await.unwrap();
    String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn without_telemetry_trace_headers_reach_origins_as_they_did() {
    let theirs = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    // An HTTP origin with the default (CloudFront) forwarding: not forwarded.
    let origin = Origin::start().await;
    origin.route("/plain", Reply::ok("p").header("cache-control", "no-store"));
    let layer = CdnLayer::builder().origin(CdnOrigin::http(origin.url())).build().unwrap();
    let edge = start_proxy(layer).await;
    let r = client().get(format!("http://{edge}/plain")).header("traceparent", theirs).send().await.unwrap();
    r.text().await.unwrap();
    assert!(origin.last_headers("/plain").unwrap().get("traceparent").is_none());
    // The app sees every header as sent: the client's, unchanged; none made up.
    let app = echo_traceparent().layer(CdnLayer::builder().build().unwrap());
    assert_eq!(ask(&app, Some(theirs)).await, theirs);
    assert_eq!(ask(&app, None).await, "-");
}

#[tokio::test]
async fn with_telemetry_the_app_as_origin_gets_the_edges_traceparent() {
    let collector = Collector::start().await;
    let layer = CdnLayer::builder().telemetry(TelemetryConfig::otlp(collector.endpoint())).build().unwrap();
    let app = echo_traceparent().layer(layer.clone());
    let theirs = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let seen = ask(&app, Some(theirs)).await;
    assert_ne!(seen, theirs, "the client's traceparent does not reach the origin unchanged");
    let spans = collector.until(&layer, |s| !clients(s, "/echo").is_empty()).await;
    let fetch = clients(&spans, "/echo")[0];
    assert_eq!(fetch.attr("tower_cdn.origin.kind"), "app");
    assert_eq!(seen, format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", fetch.span_id));
}

/// The dev proxy binary.
#[cfg(feature = "cli")]
mod binary {
    use std::process::Command;

    use super::support::proxy::Proxy;
    use super::*;

    #[tokio::test]
    async fn the_dev_proxy_exports_spans_and_flushes_them_at_shutdown() {
        let origin = Origin::start().await;
        origin.route("/b", Reply::ok("b").header("cache-control", "max-age=60"));
        let collector = Collector::start().await;
        let (origin_url, endpoint) = (origin.url(), collector.endpoint());
        let mut proxy =
            Proxy::start(["--listen", "127.0.0.1:0", "--origin", &origin_url, "--otlp-endpoint", &endpoint]);
        let (url, child) = (proxy.url.clone(), &mut proxy.child);
        let r = client().get(format!("{url}/b")).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "b");
        // The batch is exported every 5 s; SIGTERM right away: what
        // arrives was flushed by the shutdown.
        assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
        let exited = async {
            for _ in 0..1000 {
                if let Some(status) = child.try_wait().unwrap() {
                    return Some(status);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = child.kill();
            None
        };
        assert!(exited.await.expect("the proxy exits after SIGTERM").success());
        let spans = collector.spans();
        let server = servers(&spans, "/b");
        assert_eq!(server.len(), 1, "{spans:#?}");
        assert_eq!(server[0].service, "tower-cdn");
        assert_eq!(clients(&spans, "/b")[0].parent, server[0].span_id);
    }

    #[test]
    fn bad_telemetry_settings_are_refused_before_serving() {
        let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn"))
            .args(["--origin", "http://127.0.0.1:1", "--otlp-endpoint", "127.0.0.1:4318"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("invalid setting --otlp-endpoint: \"127.0.0.1:4318\" must start with http://"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let check = |toml: &str| {
            let path = dir.path().join("cdn.toml");
            std::fs::write(&path, toml).unwrap();
            Command::new(env!("CARGO_BIN_EXE_tower-cdn")).arg("--check-config").arg(&path).output().unwrap()
        };
        let origin = "[[distributions]]\nid = \"d\"\n[distributions.origins.o]\nkind = \"http\"\nurl = \"http://127.0.0.1:1\"\n[distributions.default_behavior]\norigin = \"o\"\n";
        let out =
            check(&format!("[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"\nsample_ratio = 1.5\n{origin}"));
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cdn.toml: telemetry.sample_ratio: 1.5 is not between 0 and 1"), "{err}");
        let out = check(&format!("[telemetry]\notlp_endpoint = \"ftp://collector\"\n{origin}"));
        assert!(String::from_utf8_lossy(&out.stderr).contains("telemetry.otlp_endpoint"));
        let out = check(&format!(
            "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"\nservice_name = \"edge\"\nsample_ratio = 0.25\n{origin}"
        ));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = check(&format!("[telemetry]\nendpoint = \"http://127.0.0.1:4318\"\n{origin}"));
        assert!(String::from_utf8_lossy(&out.stderr).contains("telemetry.endpoint"), "unknown keys are errors");
    }
}
