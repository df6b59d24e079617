//! The state every clone of a layer shares.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use http::HeaderName;

use crate::Clock;
use std::sync::Arc;

use crate::cache::lock::Fills;
use crate::cache::purge::Purges;
use crate::cache::store::Store;
use crate::layer::CdnConfig;
use crate::observe::Observe;
use crate::route::Routes;

/// Cache, in-flight fills and routing, behind one `Arc`.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) fills: Fills,
    pub(crate) routes: Arc<Routes>,
    pub(crate) max_entry_bytes: u64,
    /// No app behind the layer: disabled distributions answer 403.
    pub(crate) standalone: bool,
    /// Targeted cache-control fields obeyed by this cache (RFC 9213).
    pub(crate) targeted: Vec<HeaderName>,
    generation: AtomicU64,
    clock: Clock,
    /// Keep `X-Forwarded-Host` and friends from clients (a trusted proxy sets them).
    pub(crate) trust_forwarding_headers: bool,
    /// Request ids, access logs, counters.
    pub(crate) observe: Observe,
    /// Invalidations in progress.
    pub(crate) purges: Arc<Purges>,
    /// `http` or `https`: the scheme of signed URLs.
    pub(crate) viewer_scheme: &'static str,
}

impl Shared {
    pub(crate) fn new(config: &CdnConfig) -> Self {
        Shared {
            store: Store::new(config.store),
            fills: Fills::default(),
            routes: Arc::clone(&config.routes),
            max_entry_bytes: config.store.max_entry_bytes,
            standalone: config.standalone,
            targeted: config.targeted.clone(),
            generation: AtomicU64::new(1),
            clock: config.clock.clone(),
            trust_forwarding_headers: config.trust_forwarding_headers,
            purges: Arc::new(Purges::default()),
            observe: Observe::new(config.access_logs.clone(), &config.edge_location),
            viewer_scheme: config.viewer_scheme,
        }
    }

    /// A new generation number for a `Vary` marker.
    pub(crate) fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::Relaxed)
    }

    /// The current time; read once per request and passed to the policy.
    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }
}
