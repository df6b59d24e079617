//! Seeing into the cache: per-request ids, access logs (CloudFront's
//! standard format or JSON), and Prometheus counters.
//!
//! Every response gets an `X-Request-Id` (also sent to the origin and
//! logged as `x-edge-request-id`). The record of a request is completed
//! when its body ends or is cut, so `sc-bytes` and `time-taken` are what
//! the client actually got.

pub(crate) mod metrics;
pub(crate) mod record;
pub(crate) mod reports;
pub(crate) mod routes;
pub(crate) mod sink;
pub(crate) mod span;
pub(crate) mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode, Version};

use crate::body::CdnBody;
use crate::conn::ClientAddr;
use crate::error::OriginError;
use crate::status::CacheStatus;
use metrics::{Metrics, SharedMetrics};
use record::{AccessRecord, ResultType};
use sink::AccessLog;

/// `X-Request-Id`: ties a response to its log line.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Generates CloudFront-style request ids: 128 random-looking bits, URL-safe base64.
///
/// Each id is a per-process random 64-bit prefix and a counter, both
/// passed through the SplitMix64 finaliser (a bijection): unique within the
/// process, unlikely to repeat across processes, and cheap to make. They
/// only tie log lines to responses; they are not secrets.
struct RequestIds {
    seed: u64,
    counter: AtomicU64,
}

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl RequestIds {
    fn new() -> Self {
        RequestIds { seed: crate::clock::random_u64(), counter: AtomicU64::new(0) }
    }

    fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&mix64(self.seed).to_le_bytes());
        bytes[8..].copy_from_slice(&mix64(n ^ self.seed.rotate_left(32)).to_le_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}

/// Observation state shared by a layer's clones.
pub(crate) struct Observe {
    pub(crate) metrics: SharedMetrics,
    logs: Arc<[AccessLog]>,
    edge_location: Arc<str>,
    ids: RequestIds,
    /// OpenTelemetry, when configured.
    #[cfg(feature = "otel")]
    tracing: Option<telemetry::Tracing>,
}

impl std::fmt::Debug for Observe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observe").field("logs", &self.logs).field("edge_location", &self.edge_location).finish()
    }
}

/// What is known of a request before it is handled.
pub(crate) struct Begun {
    request_id: HeaderValue,
    started: Instant,
    record: Option<Box<AccessRecord>>,
    /// The `Referer`, for the top referrers report.
    referer: Option<HeaderValue>,
    #[cfg(feature = "otel")]
    trace: Option<telemetry::ServerSpan>,
}

/// The route a request took, for the per-route counters and the reports.
#[derive(Default)]
pub(crate) struct RouteOf {
    pub(crate) stats: Option<Arc<routes::RouteStats>>,
    pub(crate) object: Option<Arc<str>>,
}

impl Begun {
    /// When the request arrived.
    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// The request's id (`X-Request-Id`).
    pub(crate) fn request_id(&self) -> &HeaderValue {
        &self.request_id
    }
}

impl Observe {
    /// This edge's location (`x-edge-location`).
    pub(crate) fn edge_location(&self) -> &str {
        &self.edge_location
    }

    pub(crate) fn new(logs: Vec<AccessLog>, edge_location: &str) -> Self {
        Observe {
            metrics: Arc::new(Metrics::new()),
            logs: Arc::from(logs),
            edge_location: Arc::from(edge_location),
            ids: RequestIds::new(),
            #[cfg(feature = "otel")]
            tracing: None,
        }
    }

    /// Traces requests with `tracing`.
    #[cfg(feature = "otel")]
    pub(crate) fn with_tracing(mut self, tracing: Option<telemetry::Tracing>) -> Self {
        self.tracing = tracing;
        self
    }

    /// OpenTelemetry, when configured.
    #[cfg(feature = "otel")]
    pub(crate) fn tracing(&self) -> Option<&telemetry::Tracing> {
        self.tracing.as_ref()
    }

    /// The access logs.
    pub(crate) fn logs(&self) -> &[AccessLog] {
        &self.logs
    }

    /// Starts observing a request: assigns its id (also sent to the
    /// origin) and, when logging, notes the request fields.
    pub(crate) fn begin<B>(&self, req: &mut http::Request<B>) -> Begun {
        let id = self.ids.next();
        #[cfg_attr(not(feature = "otel"), allow(unused_mut))]
        let mut record = (!self.logs.is_empty()).then(|| Box::new(self.start_record(req, id.clone())));
        // The one branch the hit path pays when tracing is off.
        #[cfg(feature = "otel")]
        let trace = self.tracing.as_ref().map(|tracing| {
            let client = req.extensions().get::<ClientAddr>().map(|c| c.0).or_else(|| connect_info(req));
            let span = telemetry::ServerSpan::start(tracing, req, &id, client);
            req.extensions_mut().insert(span.request_trace(tracing));
            if let Some(r) = record.as_mut() {
                let (trace_id, span_id) = span.ids();
                r.trace_id = Some(trace_id);
                r.span_id = Some(span_id);
            }
            span
        });
        // The String's buffer becomes the value's: no copy.
        let request_id =
            HeaderValue::from_maybe_shared(bytes::Bytes::from(id)).unwrap_or(HeaderValue::from_static("-"));
        req.headers_mut().insert(X_REQUEST_ID, request_id.clone());
        let referer = req.headers().get(header::REFERER).cloned();
        Begun {
            request_id,
            started: Instant::now(),
            record,
            referer,
            #[cfg(feature = "otel")]
            trace,
        }
    }

    fn start_record<B>(&self, req: &http::Request<B>, id: String) -> AccessRecord {
        let h = req.headers();
        let text = |name: header::HeaderName| h.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let head_bytes: usize =
            req.uri().to_string().len() + 16 + h.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum::<usize>();
        let body_bytes = h.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok()).unwrap_or(0);
        let host =
            req.uri().authority().map(|a| a.as_str().to_owned()).or_else(|| text(header::HOST)).unwrap_or_default();
        AccessRecord {
            received: SystemTime::now(),
            edge_location: self.edge_location.to_string(),
            sc_bytes: 0,
            client: req.extensions().get::<ClientAddr>().map(|c| c.0).or_else(|| connect_info(req)),
            cs_method: req.method().as_str().to_owned(),
            cs_host: host.to_ascii_lowercase(),
            cs_uri_stem: req.uri().path().to_owned(),
            sc_status: 0,
            cs_referer: text(header::REFERER),
            cs_user_agent: text(header::USER_AGENT),
            // Signed-URL signatures are credentials: never logged.
            cs_uri_query: req.uri().query().map(|q| crate::auth::redact_signature_in_query(q).into_owned()),
            cs_cookie: text(header::COOKIE).map(|c| crate::auth::redact_signature_in_cookies(&c).into_owned()),
            x_edge_result_type: ResultType::Miss,
            x_edge_request_id: id,
            x_host_header: text(header::HOST),
            cs_protocol: if req.uri().scheme_str() == Some("https") { "https" } else { "http" },
            cs_bytes: head_bytes as u64 + body_bytes,
            time_taken: Duration::ZERO,
            x_forwarded_for: text(HeaderName::from_static("x-forwarded-for")),
            x_edge_response_result_type: ResultType::Miss,
            cs_protocol_version: version(req.version()),
            time_to_first_byte: None,
            x_edge_detailed_result_type: String::new(),
            sc_content_type: None,
            sc_content_len: None,
            sc_range_start: None,
            sc_range_end: None,
            trace_id: None,
            span_id: None,
        }
    }

    /// The response head is ready: sets `X-Request-Id`, counts it, and
    /// attaches the body observer that completes the record.
    /// `name` is this cache's name in `Cache-Status`.
    pub(crate) fn finish_head(&self, begun: Begun, resp: &mut Response<CdnBody>, name: &str, route: RouteOf) {
        let status = resp.status();
        let cache_status = resp.extensions().get::<CacheStatus>();
        let (result, detail) = classify(status, cache_status, resp.extensions().get::<OriginError>());
        let from_cache = cache_status.is_some_and(|s| s.is_hit() || s.fwd_status() == Some(304) || s.is_collapsed());
        let tier = match cache_status {
            Some(s) if s.is_hit() && s.detail() == Some("disk") => routes::Tier::Disk,
            Some(s) if s.is_hit() && s.detail() == Some("l2") => routes::Tier::L2,
            Some(s) if s.is_hit() => routes::Tier::Memory,
            _ => routes::Tier::Origin,
        };
        #[cfg(feature = "otel")]
        if let Some(span) = &begun.trace {
            span.record_head(status, cache_status, name, result, route.stats.as_deref());
        }
        #[cfg(not(feature = "otel"))]
        let _ = name;
        resp.headers_mut().insert(X_REQUEST_ID, begun.request_id);
        self.metrics.response(result, status.as_u16());
        if let Some(stats) = &route.stats {
            stats.response(result, tier);
        }
        let record = begun.record.map(|mut r| {
            r.sc_status = status.as_u16();
            r.x_edge_result_type = result;
            r.x_edge_response_result_type = result;
            r.x_edge_detailed_result_type = detail.to_owned();
            fill_response_fields(&mut r, resp.headers());
            r
        });
        let observer = BodyObserver {
            metrics: Arc::clone(&self.metrics),
            logs: Arc::clone(&self.logs),
            from_cache,
            started: begun.started,
            bytes: 0,
            first_byte: None,
            record,
            route,
            referer: begun.referer,
            result,
            status: status.as_u16(),
            #[cfg(feature = "otel")]
            trace: begun.trace,
        };
        resp.body_mut().observe(Box::new(observer));
    }
}

fn connect_info<B>(req: &http::Request<B>) -> Option<SocketAddr> {
    req.extensions().get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0)
}

fn version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// CloudFront's result type for a response, and the detailed type.
fn classify(
    status: StatusCode,
    cache: Option<&CacheStatus>,
    origin_error: Option<&OriginError>,
) -> (ResultType, &'static str) {
    if let Some(err) = origin_error.filter(|e| !e.is_capacity_exceeded() && !e.is_bad_content()) {
        let detail = if err.is_timeout() {
            "OriginReadTimeout"
        } else if err.is_connect() {
            "OriginConnectError"
        } else {
            "OriginCommError"
        };
        return (ResultType::Error, detail);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE && cache.is_some_and(|c| c.detail() == Some("capacity-exceeded")) {
        return (ResultType::CapacityExceeded, "CapacityExceeded");
    }
    if status.is_client_error() || status.is_server_error() || cache.is_some_and(CacheStatus::is_error) {
        return (ResultType::Error, "Error");
    }
    match cache {
        Some(c) if c.is_hit() => (ResultType::Hit, "Hit"),
        Some(c) if c.fwd_status() == Some(304) => (ResultType::RefreshHit, "RefreshHit"),
        _ => (ResultType::Miss, "Miss"),
    }
}

fn fill_response_fields(r: &mut AccessRecord, h: &HeaderMap) {
    r.sc_content_type = h.get(header::CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    r.sc_content_len = h.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
    if let Some(cr) = h.get(header::CONTENT_RANGE).and_then(|v| v.to_str().ok())
        && let Some(range) = cr.strip_prefix("bytes ").and_then(|s| s.split('/').next())
        && let Some((a, b)) = range.split_once('-')
    {
        r.sc_range_start = a.parse().ok();
        r.sc_range_end = b.parse().ok();
    }
}

/// Rides in a response body; completes the request's record when the
/// body ends, fails or is dropped (client gone).
pub(crate) struct BodyObserver {
    metrics: SharedMetrics,
    logs: Arc<[AccessLog]>,
    from_cache: bool,
    started: Instant,
    bytes: u64,
    first_byte: Option<Duration>,
    record: Option<Box<AccessRecord>>,
    route: RouteOf,
    referer: Option<HeaderValue>,
    result: ResultType,
    status: u16,
    #[cfg(feature = "otel")]
    trace: Option<telemetry::ServerSpan>,
}

impl crate::body::BodyWatch for BodyObserver {
    fn on_data(&mut self, len: usize) {
        // Only the access log's record uses it: no clock read otherwise.
        if self.first_byte.is_none() && self.record.is_some() {
            self.first_byte = Some(self.started.elapsed());
        }
        self.bytes += len as u64;
    }

    fn finish(mut self: Box<Self>, complete: bool) {
        self.metrics.body_bytes(self.from_cache, self.bytes);
        if let Some(stats) = &self.route.stats {
            stats.body_bytes(self.from_cache, self.bytes);
        }
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.metrics.reports.record(&reports::Sample {
            now,
            object: self.route.object.as_deref().map(crate::cache::key::primary_of),
            referrer: self.referer.as_ref().and_then(|r| reports::referrer_host(r.as_bytes())),
            result: self.result,
            status: self.status,
            bytes: self.bytes,
            from_cache: self.from_cache,
        });
        #[cfg(feature = "otel")]
        if let Some(span) = self.trace.take() {
            span.finish(self.bytes, complete);
        }
        if let Some(mut r) = self.record.take() {
            r.sc_bytes = self.bytes;
            r.time_taken = self.started.elapsed();
            r.time_to_first_byte = self.first_byte.or(Some(r.time_taken));
            if !complete {
                r.x_edge_response_result_type = ResultType::Error;
                r.x_edge_detailed_result_type = "ClientCommError".into();
            }
            for log in self.logs.iter() {
                log.send((*r).clone());
            }
        }
    }
}
