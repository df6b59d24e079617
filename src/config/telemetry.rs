//! The file's `[telemetry]` table: OpenTelemetry tracing.

use super::schema::TelemetrySchema;
use crate::CdnLayerBuilder;
use crate::error::ConfigError;

/// Applies `[telemetry]` (checked by the builder: the endpoint's URL, the
/// ratio's range).
pub(crate) fn apply(b: CdnLayerBuilder, telemetry: Option<TelemetrySchema>) -> Result<CdnLayerBuilder, ConfigError> {
    let Some(t) = telemetry else { return Ok(b) };
    #[cfg(feature = "otel")]
    {
        let mut c = crate::TelemetryConfig::otlp(t.otlp_endpoint);
        if let Some(name) = t.service_name {
            c = c.service_name(name);
        }
        if let Some(ratio) = t.sample_ratio {
            c = c.sample_ratio(ratio);
        }
        Ok(b.telemetry(c))
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = (b, t);
        Err(super::needs_feature("telemetry", "otel"))
    }
}
