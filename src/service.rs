//! [`Cdn`]: the service produced by [`CdnLayer`](crate::CdnLayer).

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;
use tracing::Instrument as _;

use crate::body::CdnBody;
use crate::edge::Edge;
use crate::error::BoxError;
use crate::flow::{ErrorPageViewer, Start, error_page, error_page_candidate};
use crate::future::ResponseFuture;
use crate::observe::Begun;
use crate::status::CacheStatus;

/// The response head is ready: `Cache-Status` and `X-Cache` rendered
/// (here only, with this cache's name), the request id, the log record and
/// counters, the span's fields. An answer to HEAD has no content, whoever
/// made it (the edge's own error pages have some): HTTP/1.1 would drop it,
/// but over HTTP/2 it would be sent as DATA and break the stream.
/// What the response side of a request needs from its request: the
/// behavior (when it has a response headers policy) and the `Origin`.
struct Viewed {
    routed: crate::flow::Routed,
    /// The request carried the admin token in `X-Cache-Debug`.
    debug: bool,
    origin: Option<http::HeaderValue>,
    /// The viewer's request head, when a viewer response hook may need it.
    request: Option<http::request::Parts>,
    /// The server says the request came over cleartext HTTP.
    cleartext: bool,
}

fn finish(
    edge: &Edge,
    begun: Begun,
    span: &tracing::Span,
    to_head: bool,
    viewed: &Viewed,
    resp: &mut Response<CdnBody>,
) {
    let code = resp.status();
    let (mut head, mut body) = std::mem::take(resp).into_parts();
    let status = head.extensions.get::<CacheStatus>();
    if let Some(status) = status {
        let key = viewed.routed.object.as_deref().filter(|_| viewed.debug);
        status.render_with_key(&edge.names, code, &mut head.headers, key);
        if key.is_some() {
            // Made for the operator who asked: no cache downstream keeps it.
            head.headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("private, no-store"));
        }
    }
    for name in &viewed.routed.vary {
        let named = head.headers.get_all(http::header::VARY).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|f| f.trim().eq_ignore_ascii_case(name.as_str()) || f.trim() == "*"))
        });
        if !named {
            head.headers.append(
                http::header::VARY,
                http::HeaderValue::from_str(name.as_str()).unwrap_or(http::HeaderValue::from_static("cookie")),
            );
        }
    }
    if let Some(policy) = viewed.routed.behavior.as_ref().and_then(|b| b.response_headers.as_deref()) {
        let timing = policy.server_timing.then(|| server_timing(edge, &begun, status));
        policy.apply(viewed.origin.as_ref(), &mut head.headers, timing);
    }
    // RFC 6797 §7.2: no `Strict-Transport-Security` over cleartext (a
    // policy's or the origin's), when the server says that is the transport.
    if viewed.cleartext {
        head.headers.remove(http::header::STRICT_TRANSPORT_SECURITY);
    }
    if let (Some(hook), Some(req)) =
        (viewed.routed.behavior.as_ref().and_then(|b| b.hooks.viewer_response.as_ref()), viewed.request.as_ref())
        && crate::hooks::guarded(|| hook(req, &mut head)).is_err()
    {
        edge.observe.metrics.hook_failed();
        let (failed, failed_body) = crate::route::Refusal::HookFailed.respond().into_parts();
        (head, body) = (failed, failed_body);
        if let Some(status) = head.extensions.get::<CacheStatus>() {
            status.render(&edge.names, head.status, &mut head.headers);
        }
    }
    if to_head && !http_body::Body::is_end_stream(&body) {
        body = body.range(0, 0);
    }
    *resp = Response::from_parts(head, body);
    let route = crate::observe::RouteOf { stats: viewed.routed.stats.clone(), object: viewed.routed.object.clone() };
    edge.observe.finish_head(begun, resp, edge.names.name(), route);
    crate::observe::span::record_head(span, resp, edge.names.name());
}

/// The request header that asks for the cache key in `Cache-Status`.
const DEBUG_HEADER: http::HeaderName = http::HeaderName::from_static("x-cache-debug");

/// CloudFront's `Server-Timing` metrics that the edge knows: the cache
/// result, the location, the request id and the time to the response head.
fn server_timing(edge: &Edge, begun: &Begun, status: Option<&CacheStatus>) -> http::HeaderValue {
    let result = match status {
        Some(s) if s.is_hit() => "cdn-cache-hit",
        Some(s) if s.fwd() == Some(crate::Fwd::Stale) => "cdn-cache-refresh",
        _ => "cdn-cache-miss",
    };
    let ms = begun.started().elapsed().as_secs_f64() * 1000.0;
    let quote = |v: &str| v.chars().filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\').collect::<String>();
    let rid = quote(begun.request_id().to_str().unwrap_or(""));
    let pop = quote(edge.observe.edge_location());
    let value = format!("{result}, cdn-pop;desc=\"{pop}\", cdn-rid;desc=\"{rid}\", cdn-downstream-fbl;dur={ms:.3}");
    http::HeaderValue::from_str(&value).unwrap_or_else(|_| http::HeaderValue::from_static("cdn-cache-miss"))
}

/// A service that answers from the cache and fetches misses from the
/// configured origin (or from the wrapped service).
///
/// Its error type is the wrapped service's: origin faults become 502/504
/// responses, never errors.
#[derive(Debug, Clone)]
pub struct Cdn<S> {
    inner: S,
    edge: Arc<Edge>,
}

impl<S> Cdn<S> {
    pub(crate) fn new(inner: S, edge: Arc<Edge>) -> Self {
        Cdn { inner, edge }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Cdn<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Body<Data = Bytes> + Send + 'static,
    ReqB::Error: Into<BoxError>,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<CdnBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        // The ready service goes with this request; keep a fresh clone.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let edge = Arc::clone(&self.edge);
        let mut req = req;
        // RFC 9110 §7.6.1: the fields the viewer's `Connection` names go
        // before any of ours (`X-Request-Id`, `Via`, `CDN-Loop`,
        // `X-Forwarded-For`) are added, so it cannot name those.
        if req.headers().contains_key(http::header::CONNECTION)
            && let Some(nominated) = crate::policy::headers::take_nominated(req.headers_mut())
        {
            req.extensions_mut().insert(nominated);
        }
        let to_head = req.method() == http::Method::HEAD;
        // `X-Cache-Debug: ADMIN-TOKEN`: the key in `Cache-Status`. Taken
        // off the request (never forwarded) once an admin token exists.
        let debug = edge.debug_token.load().is_some()
            && req.headers_mut().remove(DEBUG_HEADER).is_some_and(|v| edge.debug_allowed(v.as_bytes()));
        let begun = edge.observe.begin(&mut req);
        let span = crate::observe::span::request_span(&req);
        let viewer = ErrorPageViewer::capture(&edge, &req);
        let request = edge.routes.load().has_viewer_response_hooks.then(|| {
            let (head, ()) = http::Request::new(()).into_parts();
            let mut head = head;
            head.method = req.method().clone();
            head.uri = req.uri().clone();
            head.version = req.version();
            head.headers = req.headers().clone();
            head
        });
        let mut viewed = Viewed {
            routed: crate::flow::Routed::default(),
            debug,
            origin: req.headers().get(http::header::ORIGIN).cloned(),
            request,
            cleartext: req.extensions().get::<crate::ViewerConnection>().is_some_and(|c| !c.tls),
        };
        let pending = match span.in_scope(|| crate::flow::start(&edge, req, &mut viewed.routed)) {
            Start::Done(resp) => match viewer {
                Some(viewer) if error_page_candidate(&resp) => {
                    let head_span = span.clone();
                    return ResponseFuture::new(
                        async move {
                            let mut resp = error_page(&edge, viewer, resp).await;
                            finish(&edge, begun, &head_span, to_head, &viewed, &mut resp);
                            Ok(resp)
                        }
                        .instrument(span),
                    );
                }
                _ => {
                    let mut resp = resp;
                    finish(&edge, begun, &span, to_head, &viewed, &mut resp);
                    return ResponseFuture::ready(resp);
                }
            },
            Start::Continue(pending) => pending,
        };
        let head_span = span.clone();
        ResponseFuture::new(
            async move {
                let mut resp = crate::flow::run(Arc::clone(&edge), inner, pending).await?;
                if let Some(viewer) = viewer
                    && error_page_candidate(&resp)
                {
                    resp = error_page(&edge, viewer, resp).await;
                }
                finish(&edge, begun, &head_span, to_head, &viewed, &mut resp);
                Ok(resp)
            }
            .instrument(span),
        )
    }
}
