//! W3C Trace Context (`traceparent`, `tracestate`) in and out of header
//! maps, with the SDK's propagator. Never from or into the thread's
//! "current" context: a request's context travels with the request.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// `traceparent` (W3C Trace Context §3.2).
pub(crate) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate` (W3C Trace Context §3.3).
pub(crate) const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

struct Extract<'a>(&'a HeaderMap);

impl Extractor for Extract<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct Inject<'a>(&'a mut HeaderMap);

impl Injector for Inject<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(key.as_bytes()), HeaderValue::from_str(&value)) {
            self.0.insert(name, value);
        }
    }
}

/// The remote parent a request's `traceparent` (and `tracestate`) names;
/// an empty context when there is none or it is malformed.
pub(super) fn extract(headers: &HeaderMap) -> Context {
    if !headers.contains_key(TRACEPARENT) {
        return Context::new();
    }
    TraceContextPropagator::new().extract_with_context(&Context::new(), &Extract(headers))
}

/// Replaces whatever trace context `headers` carry with `cx`'s span: a
/// `traceparent` only. A viewer's `tracestate` (free-form vendor data) is
/// never forwarded: the origin's answer may be stored and shared, so what
/// reaches it stays within the key's headers and a neutral set.
pub(super) fn inject(cx: &Context, headers: &mut HeaderMap) {
    headers.remove(TRACEPARENT);
    headers.remove(TRACESTATE);
    TraceContextPropagator::new().inject_context(cx, &mut Inject(headers));
    headers.remove(TRACESTATE);
}

/// `(trace id, span id)` in lower-case hex, as `traceparent` writes them.
pub(super) fn ids(sc: &SpanContext) -> (String, String) {
    (sc.trace_id().to_string(), sc.span_id().to_string())
}

/// The span context of `cx`'s span.
pub(super) fn span_context(cx: &Context) -> SpanContext {
    cx.span().span_context().clone()
}
