//! The state every clone of a layer shares.

use std::sync::Arc;
use std::time::SystemTime;

use crate::cache::lock::Fills;
use crate::cache::store::Store;
use crate::layer::CdnConfig;
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
}

impl Shared {
    pub(crate) fn new(config: &CdnConfig) -> Self {
        Shared {
            store: Store::new(config.store),
            fills: Fills::default(),
            routes: Arc::clone(&config.routes),
            max_entry_bytes: config.store.max_entry_bytes,
            standalone: config.standalone,
        }
    }

    /// The current time; read once per request and passed to the policy.
    pub(crate) fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}
