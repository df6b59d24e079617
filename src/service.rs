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
fn finish(edge: &Edge, begun: Begun, span: &tracing::Span, to_head: bool, resp: &mut Response<CdnBody>) {
    let code = resp.status();
    let (mut head, mut body) = std::mem::take(resp).into_parts();
    if let Some(status) = head.extensions.get::<CacheStatus>() {
        status.render(&edge.names, code, &mut head.headers);
    }
    if to_head && !http_body::Body::is_end_stream(&body) {
        body = body.range(0, 0);
    }
    *resp = Response::from_parts(head, body);
    edge.observe.finish_head(begun, resp);
    crate::observe::span::record_head(span, resp, edge.names.name());
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
        let begun = edge.observe.begin(&mut req);
        let span = crate::observe::span::request_span(&req);
        let viewer = ErrorPageViewer::capture(&edge, &req);
        let pending = match span.in_scope(|| crate::flow::start(&edge, req)) {
            Start::Done(resp) => match viewer {
                Some(viewer) if error_page_candidate(&resp) => {
                    let head_span = span.clone();
                    return ResponseFuture::new(
                        async move {
                            let mut resp = error_page(&edge, viewer, resp).await;
                            finish(&edge, begun, &head_span, to_head, &mut resp);
                            Ok(resp)
                        }
                        .instrument(span),
                    );
                }
                _ => {
                    let mut resp = resp;
                    finish(&edge, begun, &span, to_head, &mut resp);
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
                finish(&edge, begun, &head_span, to_head, &mut resp);
                Ok(resp)
            }
            .instrument(span),
        )
    }
}
