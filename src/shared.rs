//! The state every clone of a layer shares.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use http::HeaderName;

use crate::Clock;
use std::sync::Arc;

use crate::cache::lock::Fills;
use crate::cache::purge::Purges;
use crate::cache::store::Store;
use crate::fleet::Fleet;
use crate::layer::CdnConfig;
use crate::observe::Observe;
use crate::route::Routes;

/// Cache, in-flight fills and routing, behind one `Arc`.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) fills: Fills,
    /// The routing table; swapped whole by `CdnLayer::reload`.
    pub(crate) routes: ArcSwap<Routes>,
    /// Serialises reloads with run-time `set_enabled` changes.
    pub(crate) reconfigure: Mutex<()>,
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
    /// The shared L2 tier and fleet coordination, when configured.
    pub(crate) fleet: Option<Arc<Fleet>>,
    /// This cache's name in `Cache-Status`.
    pub(crate) cache_name: Arc<str>,
    /// This instance's identity in `CDN-Loop` and fleet messages.
    pub(crate) edge_id: Arc<str>,
    /// `http` or `https`: the scheme of signed URLs.
    pub(crate) viewer_scheme: &'static str,
}

impl Shared {
    pub(crate) fn new(config: &CdnConfig) -> Self {
        let observe = Observe::new(config.access_logs.clone(), &config.edge_location);
        let edge_id: Arc<str> = match &config.edge_id {
            Some(id) => Arc::from(id.as_str()),
            None => Arc::from(format!("{:016x}", crate::fleet::random_u64())),
        };
        let fleet = config.l2.as_ref().and_then(|l2| {
            match Fleet::new(l2, &edge_id, Arc::clone(&observe.metrics)) {
                Ok(fleet) => Some(Arc::new(fleet)),
                // URLs were validated by the builder; a failure here is logged.
                Err(e) => {
                    tracing::error!(error = %e, "L2 disabled: cannot set up the Redis client");
                    None
                }
            }
        });
        Shared {
            store: Store::new(config.store),
            fills: Fills::default(),
            routes: ArcSwap::new(Arc::clone(&config.routes)),
            reconfigure: Mutex::new(()),
            max_entry_bytes: config.store.max_entry_bytes,
            standalone: config.standalone,
            targeted: config.targeted.clone(),
            generation: AtomicU64::new(1),
            clock: config.clock.clone(),
            trust_forwarding_headers: config.trust_forwarding_headers,
            purges: Arc::new(Purges::default()),
            observe,
            fleet,
            cache_name: Arc::from(config.cache_name.as_str()),
            edge_id,
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
