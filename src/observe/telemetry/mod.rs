//! OpenTelemetry (feature `otel`): a server span per request, a client
//! span per origin fetch (its `traceparent` sent to the origin), links from
//! coalesced requests to the fetch that served them and from a request to
//! the background refresh it started, exported over OTLP/HTTP.
//!
//! The request flow sees only [`start_fetch`], [`coalesced`] and
//! [`start_refresh`]; without the feature they are empty inline functions,
//! and with it but tracing not configured they find no [`RequestTrace`]
//! in the request and do nothing. The hit path pays one branch.

#[cfg(feature = "otel")]
mod config;
#[cfg(feature = "otel")]
mod export;
#[cfg(feature = "otel")]
mod fetch;
#[cfg(not(feature = "otel"))]
mod noop;
#[cfg(feature = "otel")]
mod propagate;
#[cfg(feature = "otel")]
mod server;

#[cfg(feature = "otel")]
pub use config::{DEFAULT_SERVICE_NAME, TelemetryConfig};
#[cfg(feature = "otel")]
pub(crate) use export::Tracing;
#[cfg(feature = "otel")]
pub(crate) use fetch::{coalesced, start_fetch, start_refresh};
#[cfg(not(feature = "otel"))]
pub(crate) use noop::{coalesced, start_fetch, start_refresh};
#[cfg(feature = "otel")]
pub(crate) use server::ServerSpan;

/// A request's trace context, in its extensions while tracing is on: the
/// span origin fetches are children of (the request's server span, or a
/// background refresh's span), and the tracer to make them with.
#[cfg(feature = "otel")]
#[derive(Clone)]
pub(crate) struct RequestTrace {
    cx: opentelemetry::Context,
    tracer: opentelemetry_sdk::trace::SdkTracer,
}
