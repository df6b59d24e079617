//! One `tracing` span per request (target `tower_cdn::request`, level
//! DEBUG, as tower-http's `TraceLayer` does), with the cache status and
//! HTTP status recorded when the response head is ready, and one DEBUG
//! event `response` then. At the usual INFO level the span is filtered out
//! at its callsite, so the hit path pays a relaxed load for it.

use http::header::{self, HeaderValue};
use http::{Request, Response};
use tracing::Span;
use tracing::field::Empty;

use super::X_REQUEST_ID;
use crate::body::CdnBody;
use crate::status::CacheStatus;

/// The target of request spans and events, for `RUST_LOG` filters.
pub(crate) const TARGET: &str = "tower_cdn::request";

/// The span of a request whose id is already set.
pub(crate) fn request_span<B>(req: &Request<B>) -> Span {
    tracing::debug_span!(
        target: TARGET,
        "request",
        method = %req.method(),
        host = req.uri().host().unwrap_or_else(|| text(req.headers().get(header::HOST))),
        path = req.uri().path(),
        request_id = text(req.headers().get(X_REQUEST_ID)),
        cache_status = Empty,
        status = Empty,
    )
}

fn text(v: Option<&HeaderValue>) -> &str {
    v.and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Records the response head in the request's span.
pub(crate) fn record_head(span: &Span, resp: &Response<CdnBody>, name: &str) {
    if span.is_disabled() {
        return;
    }
    let status = resp.status().as_u16();
    span.record("status", status);
    if let Some(cache) = resp.extensions().get::<CacheStatus>() {
        let value = cache.value_named(name);
        let member = value.split_once("; ").map_or("", |(_, params)| params);
        span.record("cache_status", member);
    }
    tracing::debug!(target: TARGET, parent: span, "response");
}
