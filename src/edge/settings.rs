//! [`EdgeSettings`]: the layer-wide settings fixed when a layer is built,
//! and which of them a reload cannot change.

use http::HeaderName;

use crate::cache::store::StoreOptions;
use crate::clock::Clock;
#[cfg(feature = "l2")]
use crate::fleet::config::L2Config;

/// The fixed settings of one layer (everything but the routing table,
/// which a reload swaps, and the access logs).
#[derive(Debug, Clone)]
pub(crate) struct EdgeSettings {
    /// Capacity and entry size cap of the memory tier.
    pub(crate) store: StoreOptions,
    /// Range requests for objects not stored fetch and store slices of
    /// this size (0: off).
    pub(crate) slice_bytes: u64,
    /// No app behind the layer: disabled distributions answer 403.
    pub(crate) standalone: bool,
    /// Targeted cache-control fields obeyed by this cache (RFC 9213).
    pub(crate) targeted: Vec<HeaderName>,
    /// Where the time comes from.
    pub(crate) clock: Clock,
    /// Keep `X-Forwarded-Host` and friends from clients (a trusted proxy sets them).
    pub(crate) trust_forwarding_headers: bool,
    /// `x-edge-location` of access records.
    pub(crate) edge_location: String,
    /// The shared tier.
    #[cfg(feature = "l2")]
    pub(crate) l2: Option<L2Config>,
    /// The disk tier.
    #[cfg(feature = "disk")]
    pub(crate) disk: Option<crate::cache::disk::DiskConfig>,
    /// This cache's name in `Cache-Status` and `X-Cache`.
    pub(crate) cache_name: std::sync::Arc<str>,
    /// This instance's configured id (`None`: random per start).
    pub(crate) edge_id: Option<String>,
    /// `http` or `https`: the scheme of signed URLs.
    pub(crate) viewer_scheme: &'static str,
    /// OpenTelemetry tracing.
    #[cfg(feature = "otel")]
    pub(crate) telemetry: Option<crate::TelemetryConfig>,
}

impl EdgeSettings {
    /// The settings of `next` that differ from these, by the builder's
    /// names (`capacity_bytes`, `l2`, ...): a reload cannot apply them.
    /// Every field is compared but the clock, which has no identity.
    pub(crate) fn differences(&self, next: &EdgeSettings) -> Vec<&'static str> {
        let EdgeSettings {
            store,
            slice_bytes,
            standalone,
            targeted,
            clock: _,
            trust_forwarding_headers,
            edge_location,
            #[cfg(feature = "l2")]
            l2,
            #[cfg(feature = "disk")]
            disk,
            cache_name,
            edge_id,
            viewer_scheme,
            #[cfg(feature = "otel")]
            telemetry,
        } = next;
        let mut out = Vec::new();
        let mut differs = |same: bool, name: &'static str| {
            if !same {
                out.push(name);
            }
        };
        differs(store.capacity_bytes == self.store.capacity_bytes, "capacity_bytes");
        differs(store.max_entry_bytes == self.store.max_entry_bytes, "max_entry_bytes");
        differs(*standalone == self.standalone, "standalone");
        differs(*slice_bytes == self.slice_bytes, "slice_bytes");
        differs(*targeted == self.targeted, "targeted_cache_control");
        differs(*trust_forwarding_headers == self.trust_forwarding_headers, "trust_forwarding_headers");
        differs(*edge_location == self.edge_location, "edge_location");
        #[cfg(feature = "l2")]
        differs(*l2 == self.l2, "l2");
        #[cfg(feature = "disk")]
        differs(*disk == self.disk, "disk");
        differs(*cache_name == self.cache_name, "cache_name");
        differs(*edge_id == self.edge_id, "edge_id");
        differs(*viewer_scheme == self.viewer_scheme, "viewer_scheme");
        #[cfg(feature = "otel")]
        differs(*telemetry == self.telemetry, "telemetry");
        out
    }
}
