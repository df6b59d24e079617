//! Custom error responses (CloudFront's): an error response whose code the
//! distribution customises is replaced by the distribution's error page,
//! which is requested through this same flow (so it is cached, coalesced
//! and invalidated like any object) and sent with the configured code.
//! If the page cannot be had, the original error goes out unchanged.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::Empty;

use super::Start;
use crate::body::CdnBody;
use crate::cache::key::request_host;
use crate::edge::Edge;
use crate::policy::headers::{CACHE_STATUS, X_CACHE};

/// What an error page request needs of the viewer's request, kept only
/// when some distribution has custom error responses.
pub(crate) struct Viewer {
    method: Method,
    uri: Uri,
    host: Option<HeaderValue>,
    accept_encoding: Option<HeaderValue>,
}

impl Viewer {
    pub(crate) fn capture<B>(edge: &Edge, req: &Request<B>) -> Option<Self> {
        if !edge.routes.load().has_error_pages {
            return None;
        }
        Some(Viewer {
            method: req.method().clone(),
            uri: req.uri().clone(),
            host: req.headers().get(header::HOST).cloned(),
            accept_encoding: req.headers().get(header::ACCEPT_ENCODING).cloned(),
        })
    }
}

/// Whether `resp` may be replaced by an error page at all.
pub(crate) fn is_candidate(resp: &Response<CdnBody>) -> bool {
    resp.status().is_client_error() || resp.status().is_server_error()
}

/// `resp`, or the distribution's error page for its status.
pub(crate) async fn substitute(edge: &Arc<Edge>, viewer: Viewer, resp: Response<CdnBody>) -> Response<CdnBody> {
    let status = resp.status();
    let Some(page_req) = page_request(edge, &viewer, status) else { return resp };
    let (code, page_req) = page_req;
    let page = match super::start(edge, page_req, &mut super::Routed::default()) {
        Start::Done(page) => page,
        Start::Continue(pending) => match Box::pin(super::run(Arc::clone(edge), NoApp, pending)).await {
            Ok(page) => page,
            Err(never) => match never {},
        },
    };
    if !page.status().is_success() {
        tracing::debug!(
            page_status = page.status().as_u16(),
            "custom error page unavailable; sending the original error"
        );
        page.into_body().discard();
        return resp;
    }
    let (mut head, body) = resp.into_parts();
    // The original body is not sent; a fill behind it goes on (and is
    // stored, if it may be) for its other readers and the cache.
    body.discard();
    let (page_head, page_body) = page.into_parts();
    let mut headers = page_head.headers;
    // This response's cache verdict is the viewer's request's, not the page fetch's.
    headers.remove(CACHE_STATUS);
    headers.remove(X_CACHE);
    for v in head.headers.get_all(CACHE_STATUS) {
        headers.append(CACHE_STATUS, v.clone());
    }
    if let Some(v) = head.headers.get(X_CACHE) {
        headers.insert(X_CACHE, v.clone());
    }
    head.status = code;
    head.headers = headers;
    let body = if viewer.method == Method::HEAD {
        page_body.discard();
        CdnBody::empty()
    } else {
        page_body
    };
    Response::from_parts(head, body)
}

/// The status to send and the GET for the error page, if the viewer's
/// distribution customises `status`.
fn page_request(edge: &Edge, viewer: &Viewer, status: StatusCode) -> Option<(StatusCode, Request<Empty<Bytes>>)> {
    let mut builder = Request::get(path_on(&viewer.uri, "/")?);
    if let Some(host) = &viewer.host {
        builder = builder.header(header::HOST, host.clone());
    }
    if let Some(ae) = &viewer.accept_encoding {
        builder = builder.header(header::ACCEPT_ENCODING, ae.clone());
    }
    let probe = builder.body(Empty::new()).ok()?;
    let (mut parts, body) = probe.into_parts();
    let routes = edge.routes.load();
    let page = {
        let host = request_host(&parts).ok()?;
        routes.error_page(host.as_deref(), status)?.clone()
    };
    parts.uri = path_on(&viewer.uri, &page.path)?;
    Some((page.response_code.unwrap_or(status), Request::from_parts(parts, body)))
}

/// `uri` (keeping an absolute form's scheme and authority) with `path`.
fn path_on(uri: &Uri, path: &str) -> Option<Uri> {
    let mut parts = http::uri::Parts::default();
    if let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) {
        parts.scheme = Some(scheme.clone());
        parts.authority = Some(authority.clone());
    }
    parts.path_and_query = Some(path.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// The wrapped service, for an error page request: there is none to call
/// (configuration refuses error pages served by the app origin). Answers
/// an uncacheable 502, which makes the viewer get the original error.
#[derive(Debug, Clone, Copy)]
struct NoApp;

impl tower_service::Service<Request<Empty<Bytes>>> for NoApp {
    type Response = Response<Empty<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<Empty<Bytes>>) -> Self::Future {
        let mut resp = Response::new(Empty::new());
        *resp.status_mut() = StatusCode::BAD_GATEWAY;
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        std::future::ready(Ok(resp))
    }
}
