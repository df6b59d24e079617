//! The server span of one request (OpenTelemetry HTTP semantic
//! conventions, `SpanKind::Server`): started when the request arrives (the
//! child of a valid incoming `traceparent`), given the response head's
//! status and cache verdict, ended when the response body ends or is cut.

use std::net::SocketAddr;

use http::header::{self, HeaderMap};
use http::{Method, Request, StatusCode, Version};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};

use super::{RequestTrace, Tracing, propagate};
use crate::observe::record::ResultType;
use crate::status::CacheStatus;

/// A request's server span; ended when dropped.
pub(crate) struct ServerSpan {
    cx: Context,
}

/// A span name and `http.request.method` for `method`: one of RFC 9110's
/// (and PATCH), else `HTTP` and `_OTHER`, so a client cannot make up span
/// names.
pub(super) fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

fn text(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn protocol_version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// `url.query`, with signed-URL signatures redacted as in the access log.
pub(super) fn query_attribute(query: Option<&str>) -> Option<KeyValue> {
    query.map(|q| KeyValue::new("url.query", crate::auth::redact_signature_in_query(q).into_owned()))
}

/// `server.address` and `server.port` from an authority (`host[:port]`).
pub(super) fn address_attributes(authority: &str, attrs: &mut Vec<KeyValue>) {
    // `[v6]:port`, `host:port`; a bare IPv6 address has no port.
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if h.ends_with(']') || !h.contains(':') => (h, p.parse::<u16>().ok()),
        _ => (authority, None),
    };
    attrs.push(KeyValue::new("server.address", host.to_ascii_lowercase()));
    if let Some(port) = port {
        attrs.push(KeyValue::new("server.port", i64::from(port)));
    }
}

impl ServerSpan {
    /// Starts the span of a request whose id is `request_id`.
    pub(crate) fn start<B>(tracing: &Tracing, req: &Request<B>, request_id: &str, client: Option<SocketAddr>) -> Self {
        let h = req.headers();
        let parent = propagate::extract(h);
        let method = method_name(req.method());
        let mut attrs = Vec::with_capacity(12);
        attrs.push(KeyValue::new("http.request.method", method));
        if method == "_OTHER" {
            attrs.push(KeyValue::new("http.request.method_original", req.method().as_str().to_owned()));
        }
        let scheme = if req.uri().scheme_str() == Some("https") { "https" } else { "http" };
        attrs.push(KeyValue::new("url.scheme", scheme));
        attrs.push(KeyValue::new("url.path", req.uri().path().to_owned()));
        attrs.extend(query_attribute(req.uri().query()));
        let authority = req.uri().authority().map(|a| a.as_str().to_owned()).or_else(|| text(h, header::HOST));
        if let Some(authority) = authority {
            address_attributes(&authority, &mut attrs);
        }
        attrs.push(KeyValue::new("network.protocol.version", protocol_version(req.version())));
        if let Some(client) = client {
            attrs.push(KeyValue::new("client.address", client.ip().to_string()));
            attrs.push(KeyValue::new("client.port", i64::from(client.port())));
        }
        if let Some(ua) = text(h, header::USER_AGENT) {
            attrs.push(KeyValue::new("user_agent.original", ua));
        }
        attrs.push(KeyValue::new("tower_cdn.request_id", request_id.to_owned()));
        let name = if method == "_OTHER" { "HTTP" } else { method };
        let span = tracing
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_attributes(attrs)
            .start_with_context(&tracing.tracer, &parent);
        ServerSpan { cx: parent.with_span(span) }
    }

    /// What origin fetches made for this request are children of.
    pub(crate) fn request_trace(&self, tracing: &Tracing) -> RequestTrace {
        RequestTrace { cx: self.cx.clone(), tracer: tracing.tracer.clone() }
    }

    /// `(trace id, span id)` in hex, for the access log.
    pub(crate) fn ids(&self) -> (String, String) {
        propagate::ids(self.cx.span().span_context())
    }

    /// The response head: its status, the cache's verdict (`Cache-Status`
    /// as this cache, `name`, renders it) and CloudFront's result type.
    pub(crate) fn record_head(
        &self,
        status: StatusCode,
        cache: Option<&CacheStatus>,
        name: &str,
        result: ResultType,
        route: Option<&crate::observe::routes::RouteStats>,
    ) {
        let span = self.cx.span();
        if !span.is_recording() {
            return;
        }
        if let Some(route) = route {
            span.set_attribute(KeyValue::new("tower_cdn.distribution", route.distribution.to_string()));
            span.set_attribute(KeyValue::new("tower_cdn.behavior", route.behavior.to_string()));
            span.set_attribute(KeyValue::new("tower_cdn.origin", route.origin.to_string()));
        }
        span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status.as_u16())));
        span.set_attribute(KeyValue::new("tower_cdn.result_type", result.as_str()));
        if let Some(cache) = cache {
            let value = cache.value_named(name);
            let params = value.split_once("; ").map_or("", |(_, params)| params).to_owned();
            span.set_attribute(KeyValue::new("tower_cdn.cache_status", params));
            span.set_attribute(KeyValue::new("tower_cdn.cache.hit", cache.is_hit()));
        }
        // HTTP semantic conventions: a server span is an error for 5xx only.
        if status.is_server_error() {
            span.set_attribute(KeyValue::new("error.type", status.as_str().to_owned()));
            span.set_status(Status::error(""));
        }
    }

    /// The response body ended (`complete`) or was cut after `bytes`.
    pub(crate) fn finish(self, bytes: u64, complete: bool) {
        let span = self.cx.span();
        if span.is_recording() {
            span.set_attribute(KeyValue::new("http.response.body.size", i64::try_from(bytes).unwrap_or(i64::MAX)));
            if !complete {
                span.set_attribute(KeyValue::new("error.type", "incomplete_body"));
                span.set_status(Status::error("the response body did not reach the client whole"));
            }
        }
        // Dropped here: ended.
    }
}

impl Drop for ServerSpan {
    fn drop(&mut self) {
        self.cx.span().end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(authority: &str) -> Vec<(String, String)> {
        let mut attrs = Vec::new();
        address_attributes(authority, &mut attrs);
        attrs.into_iter().map(|kv| (kv.key.to_string(), kv.value.to_string())).collect()
    }

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(address("Example.com"), [("server.address".into(), "example.com".into())]);
        assert_eq!(
            address("example.com:8080"),
            [("server.address".into(), "example.com".into()), ("server.port".into(), "8080".into())]
        );
        assert_eq!(
            address("[::1]:80"),
            [("server.address".into(), "[::1]".into()), ("server.port".into(), "80".into())]
        );
    }

    #[test]
    fn unknown_methods_are_other() {
        assert_eq!(method_name(&Method::GET), "GET");
        assert_eq!(method_name(&Method::from_bytes(b"BREW").unwrap()), "_OTHER");
    }
}
