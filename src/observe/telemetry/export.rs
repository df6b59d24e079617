//! The exporting half of tracing: the SDK's tracer provider with a batch
//! span processor (its own thread, a bounded queue) and the OTLP/HTTP
//! protobuf exporter over reqwest's blocking client, which does its IO on
//! that thread: nothing of it runs on the server's runtime.

use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider};

use super::TelemetryConfig;

/// How long one export may take before it is given up (its spans dropped).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// A running tracer: spans made with it are exported in batches.
#[derive(Debug)]
pub(crate) struct Tracing {
    provider: SdkTracerProvider,
    pub(super) tracer: SdkTracer,
}

impl Tracing {
    /// Starts the exporter thread. The configuration was validated by the
    /// builder; what can still fail is building the HTTP client.
    pub(crate) fn start(cfg: &TelemetryConfig) -> Result<Self, String> {
        // reqwest is built without a default TLS provider (an `https://`
        // collector needs one); installing ring is idempotent.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(cfg.traces_url())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        // The SDK's defaults (`OTEL_BSP_*` override them): a queue of 2048
        // spans, dropped when full, exported every 5 s in batches of 512.
        let processor = BatchSpanProcessor::builder(exporter).build();
        let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(cfg.sample_ratio)));
        let resource = Resource::builder().with_service_name(cfg.service_name.clone()).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(sampler)
            .with_resource(resource)
            .build();
        let scope = InstrumentationScope::builder("tower-cdn").with_version(env!("CARGO_PKG_VERSION")).build();
        let tracer = provider.tracer_with_scope(scope);
        Ok(Tracing { provider, tracer })
    }

    /// Exports every span ended so far; blocks until done (or the
    /// exporter's timeout).
    pub(crate) fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            tracing::warn!(error = %e, "OpenTelemetry: spans could not be exported");
        }
    }

    /// Exports what is queued and stops the exporter; spans ended later are
    /// dropped. Blocks for at most `timeout`.
    pub(crate) fn shutdown(&self, timeout: Duration) {
        if let Err(e) = self.provider.shutdown_with_timeout(timeout) {
            tracing::warn!(error = %e, "OpenTelemetry: the exporter did not shut down cleanly");
        }
    }
}
