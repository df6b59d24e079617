//! [`TelemetryConfig`]: where spans go and how many are kept.

use crate::error::ConfigError;

/// The service name spans carry when none is set.
pub const DEFAULT_SERVICE_NAME: &str = "tower-cdn";

/// OpenTelemetry tracing for a layer (feature `otel`): one server span per
/// request and one client span per origin fetch, exported over OTLP/HTTP
/// (protobuf) to a collector, and W3C `traceparent` sent to origins.
///
/// Off unless given to [`CdnLayerBuilder::telemetry`](crate::CdnLayerBuilder::telemetry).
/// Export is batched on a thread of its own, with a bounded queue (2048
/// spans; the SDK's `OTEL_BSP_*` variables tune it): a slow or unreachable
/// collector costs dropped spans, never a slower or failed request.
///
/// ```
/// use tower_cdn::{CdnLayer, TelemetryConfig};
///
/// let layer = CdnLayer::builder()
///     .telemetry(TelemetryConfig::otlp("http://127.0.0.1:4318").service_name("edge-eu").sample_ratio(0.1))
///     .build()
///     .expect("valid configuration");
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct TelemetryConfig {
    pub(crate) endpoint: String,
    pub(crate) service_name: String,
    pub(crate) sample_ratio: f64,
}

impl TelemetryConfig {
    /// Exports to the OTLP/HTTP collector at `endpoint`, its base URL (as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is), e.g. `http://127.0.0.1:4318`:
    /// traces are posted to `/v1/traces` under it.
    pub fn otlp(endpoint: impl Into<String>) -> Self {
        TelemetryConfig { endpoint: endpoint.into(), service_name: DEFAULT_SERVICE_NAME.into(), sample_ratio: 1.0 }
    }

    /// The `service.name` of the spans (default `tower-cdn`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// The share of new traces that are recorded, 0 to 1 (default 1).
    /// A request whose `traceparent` says whether its trace is sampled
    /// follows that decision (the SDK's parent-based sampler).
    pub fn sample_ratio(mut self, ratio: f64) -> Self {
        self.sample_ratio = ratio;
        self
    }

    /// The URL spans are posted to: the endpoint's path + `/v1/traces`.
    pub(crate) fn traces_url(&self) -> String {
        // An endpoint given with the signal path already is taken as it is.
        let base = self.endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") { base.to_owned() } else { format!("{base}/v1/traces") }
    }

    /// The first invalid setting, named as the TOML file names it.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| ConfigError::new("telemetry.otlp_endpoint", m);
        let uri: http::Uri =
            self.endpoint.parse().map_err(|e| bad(format!("{:?} is not a valid URL: {e}", self.endpoint)))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(bad(format!("{:?} must start with http:// or https://", self.endpoint)));
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(bad(format!("{:?} has no host", self.endpoint)));
        }
        if uri.query().is_some() {
            return Err(bad("an OTLP endpoint cannot have a query string".into()));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(ConfigError::new(
                "telemetry.sample_ratio",
                format!("{} is not between 0 and 1", self.sample_ratio),
            ));
        }
        if self.service_name.trim().is_empty() {
            return Err(ConfigError::new("telemetry.service_name", "must not be empty"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_ratios_are_checked() {
        assert!(TelemetryConfig::otlp("http://127.0.0.1:4318").validate().is_ok());
        assert!(TelemetryConfig::otlp("https://otel.example.com/base/").validate().is_ok());
        for bad in ["127.0.0.1:4318", "ftp://x", "http://", "http://h:1/?a=b", "not a url"] {
            let e = TelemetryConfig::otlp(bad).validate().unwrap_err();
            assert_eq!(e.setting(), "telemetry.otlp_endpoint", "{bad}");
        }
        for bad in [-0.1, 1.5, f64::NAN] {
            let e = TelemetryConfig::otlp("http://h:4318").sample_ratio(bad).validate().unwrap_err();
            assert_eq!(e.setting(), "telemetry.sample_ratio");
        }
        let e = TelemetryConfig::otlp("http://h:4318").service_name(" ").validate().unwrap_err();
        assert_eq!(e.setting(), "telemetry.service_name");
    }

    #[test]
    fn traces_go_to_v1_traces_under_the_endpoint() {
        assert_eq!(TelemetryConfig::otlp("http://h:4318").traces_url(), "http://h:4318/v1/traces");
        assert_eq!(TelemetryConfig::otlp("http://h:4318/otel/").traces_url(), "http://h:4318/otel/v1/traces");
        assert_eq!(TelemetryConfig::otlp("http://h:4318/v1/traces").traces_url(), "http://h:4318/v1/traces");
    }
}
