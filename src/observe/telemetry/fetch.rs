//! Spans of the edge's own work for a request: one client span per origin
//! fetch (its context sent to the origin as `traceparent`), links from the
//! requests a coalesced fetch served, and a background refresh's span.

use http::request::Parts;
use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId, TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue};

use super::server::{address_attributes, method_name, query_attribute};
use super::{RequestTrace, propagate};
use crate::cache::fill::FetchLink;
use crate::origin::{Fetched, OriginTarget};

/// The client span of one origin fetch; ended by [`FetchSpan::end`] or
/// when dropped (a fetch abandoned midway).
pub(crate) struct FetchSpan {
    cx: Option<Context>,
}

/// Starts the client span of a fetch of `parts` from `origin`, as a child
/// of the request's span, and puts its context in `parts`' `traceparent`
/// (and `tracestate`), replacing the client's. Does nothing when the
/// request is not traced.
pub(crate) fn start_fetch(parts: &mut Parts, origin: &OriginTarget) -> FetchSpan {
    let Some(trace) = parts.extensions.get::<RequestTrace>() else { return FetchSpan { cx: None } };
    let method = method_name(&parts.method);
    let mut attrs = Vec::with_capacity(8);
    attrs.push(KeyValue::new("http.request.method", method));
    if let Some(authority) = origin.authority() {
        address_attributes(authority, &mut attrs);
    }
    attrs.push(KeyValue::new("url.path", parts.uri.path().to_owned()));
    attrs.extend(query_attribute(parts.uri.query()));
    attrs.push(KeyValue::new("tower_cdn.origin.kind", origin.kind_name()));
    let name = if method == "_OTHER" { "HTTP" } else { method };
    let span = trace
        .tracer
        .span_builder(name)
        .with_kind(SpanKind::Client)
        .with_attributes(attrs)
        .start_with_context(&trace.tracer, &trace.cx);
    let cx = trace.cx.with_span(span);
    propagate::inject(&cx, &mut parts.headers);
    FetchSpan { cx: Some(cx) }
}

impl FetchSpan {
    /// What requests served by this fetch link to.
    pub(crate) fn link(&self) -> Option<FetchLink> {
        self.cx.as_ref().map(|cx| {
            let sc = propagate::span_context(cx);
            FetchLink {
                trace_id: sc.trace_id().to_bytes(),
                span_id: sc.span_id().to_bytes(),
                flags: sc.trace_flags().to_u8(),
            }
        })
    }

    /// The origin answered (the head) or failed. HTTP semantic
    /// conventions: a client span is an error for 4xx and 5xx.
    pub(crate) fn end<E>(mut self, fetched: &Fetched<E>) {
        let Some(cx) = self.cx.take() else { return };
        let span = cx.span();
        match fetched {
            Fetched::Response(resp) => {
                let status = resp.status();
                span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status.as_u16())));
                if status.is_client_error() || status.is_server_error() {
                    span.set_attribute(KeyValue::new("error.type", status.as_str().to_owned()));
                    span.set_status(Status::error(""));
                }
            }
            Fetched::Failed(err) => {
                let kind = if err.is_timeout() {
                    "timeout"
                } else if err.is_connect() {
                    "connect"
                } else {
                    "origin_error"
                };
                span.set_attribute(KeyValue::new("error.type", kind));
                span.set_status(Status::error(err.to_string()));
            }
            Fetched::Service(_) => {
                span.set_attribute(KeyValue::new("error.type", "service_error"));
                span.set_status(Status::error("the wrapped service failed"));
            }
        }
        span.end();
    }
}

impl Drop for FetchSpan {
    fn drop(&mut self) {
        if let Some(cx) = self.cx.take() {
            cx.span().set_status(Status::error("the fetch was abandoned"));
            cx.span().end();
        }
    }
}

/// This request waited on another request's fill instead of fetching: its
/// span says so, and links to the fetch's span when there was one.
pub(crate) fn coalesced(parts: &Parts, link: Option<FetchLink>) {
    let Some(trace) = parts.extensions.get::<RequestTrace>() else { return };
    let span = trace.cx.span();
    span.set_attribute(KeyValue::new("tower_cdn.coalesced", true));
    if let Some(l) = link {
        let fetch = SpanContext::new(
            TraceId::from_bytes(l.trace_id),
            SpanId::from_bytes(l.span_id),
            TraceFlags::new(l.flags),
            false,
            TraceState::default(),
        );
        span.add_link(fetch, vec![KeyValue::new("tower_cdn.link", "coalesced_fetch")]);
    }
}

/// The span of a background refresh (stale-while-revalidate); ended when
/// dropped, at the end of the refresh.
pub(crate) struct RefreshSpan {
    cx: Option<Context>,
}

/// Starts the span of a background refresh that the request `parts` set
/// off: a trace of its own (the refresh outlives the request), linked from
/// the request's span and to it. The refresh's fetch is its child.
pub(crate) fn start_refresh(parts: &mut Parts) -> RefreshSpan {
    let Some(trace) = parts.extensions.get::<RequestTrace>().cloned() else { return RefreshSpan { cx: None } };
    let request = propagate::span_context(&trace.cx);
    let link = Link::new(request, vec![KeyValue::new("tower_cdn.link", "triggered_by")], 0);
    let span = trace
        .tracer
        .span_builder("refresh")
        .with_kind(SpanKind::Internal)
        .with_links(vec![link])
        .start_with_context(&trace.tracer, &Context::new());
    let cx = Context::new().with_span(span);
    trace.cx.span().add_link(propagate::span_context(&cx), vec![KeyValue::new("tower_cdn.link", "background_refresh")]);
    parts.extensions.insert(RequestTrace { cx: cx.clone(), tracer: trace.tracer });
    RefreshSpan { cx: Some(cx) }
}

impl Drop for RefreshSpan {
    fn drop(&mut self) {
        if let Some(cx) = self.cx.take() {
            cx.span().end();
        }
    }
}
