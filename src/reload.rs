//! [`CdnLayer::reload`]: a new configuration swapped in atomically while
//! the cache (and everything stored for unchanged distributions) stays.

use std::fmt;
use std::sync::Arc;

use crate::cache::purge::{KeyFilter, Scope};
use crate::layer::{CdnConfig, CdnLayer};
use crate::route::{RouteChanges, owner_changed};

/// What [`CdnLayer::reload`] did. `Display` gives a one-line summary for
/// logs.
#[derive(Debug, Clone)]
pub struct Reloaded {
    changes: RouteChanges,
    not_applied: Vec<&'static str>,
    invalidation: Option<u64>,
}

impl Reloaded {
    /// Distributions whose definition is the same: their entries are kept.
    pub fn unchanged(&self) -> &[String] {
        &self.changes.unchanged
    }

    /// Distributions whose definition changed: their entries are invalidated.
    pub fn changed(&self) -> &[String] {
        &self.changes.changed
    }

    /// Distributions that are new.
    pub fn added(&self) -> &[String] {
        &self.changes.added
    }

    /// Distributions that are gone: their entries are invalidated.
    pub fn removed(&self) -> &[String] {
        &self.changes.removed
    }

    /// Layer-wide settings that differ in the new configuration but cannot
    /// change while running (named as the builder names them, e.g.
    /// `capacity_bytes`); a restart applies them.
    pub fn not_applied(&self) -> &[&'static str] {
        &self.not_applied
    }

    /// The invalidation that removes entries the new routes must not serve
    /// (see [`CacheHandle::invalidation_status`](crate::CacheHandle::invalidation_status)).
    pub fn invalidation(&self) -> Option<u64> {
        self.invalidation
    }
}

impl fmt::Display for Reloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |ids: &[String]| if ids.is_empty() { "-".to_owned() } else { ids.join(",") };
        write!(
            f,
            "unchanged: {}; changed: {}; added: {}; removed: {}",
            list(&self.changes.unchanged),
            list(&self.changes.changed),
            list(&self.changes.added),
            list(&self.changes.removed),
        )?;
        if !self.not_applied.is_empty() {
            write!(f, "; not applied until a restart: {}", self.not_applied.join(", "))?;
        }
        Ok(())
    }
}

impl CdnLayer {
    /// Swaps in the distributions, behaviors, policies and origins of
    /// `config` atomically: requests that already started finish with the
    /// old routes, the next ones use the new. Every clone of this layer
    /// sees the change.
    ///
    /// The cache is kept. Entries of distributions whose definition is
    /// unchanged (same fingerprint: everything but `enabled` and the host
    /// names) stay; entries whose host is now answered by a changed, new or
    /// different distribution, or by none, are invalidated, so no response
    /// stored under an old policy is served under the new one.
    ///
    /// A distribution switched with [`set_enabled`](Self::set_enabled)
    /// keeps its switch unless the new configuration changes its
    /// `enabled`. The cache's sizes, `standalone`, the targeted
    /// cache-control fields, forwarding-header trust and the edge location
    /// cannot change while running: they keep their values and are listed
    /// in [`Reloaded::not_applied`]. Access logs and the clock are those
    /// the layer was built with.
    ///
    /// ```
    /// use tower_cdn::{CdnLayer, Origin};
    ///
    /// let layer = CdnLayer::builder().origin(Origin::http("http://127.0.0.1:3000")).build()?;
    /// let next = CdnLayer::builder().origin(Origin::http("http://127.0.0.1:3001")).build_config()?;
    /// let done = layer.reload(next);
    /// assert_eq!(done.changed(), ["default"]);
    /// # Ok::<(), tower_cdn::ConfigError>(())
    /// ```
    pub fn reload(&self, config: CdnConfig) -> Reloaded {
        let edge = self.edge();
        let not_applied = fixed_settings_changed(self, &config);
        let new = config.routes;
        let _switches = edge.reconfigure.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = edge.routes.load_full();
        let changes = RouteChanges::between(&old, &new);
        new.keep_switches(&old);
        // Swap first, then invalidate: a fill that started under the old
        // routes is in flight at the invalidation and is never stored.
        edge.routes.store(Arc::clone(&new));
        let invalidation = (!changes.is_empty()).then(|| {
            let filter = KeyFilter::new(move |key| owner_changed(&old, &new, key));
            self.cache().start(Scope::Keys(filter)).id()
        });
        Reloaded { changes, not_applied, invalidation }
    }
}

/// Layer-wide settings of `config` that differ from the running layer's:
/// every fixed setting is compared ([`EdgeSettings::differences`]).
fn fixed_settings_changed(layer: &CdnLayer, config: &CdnConfig) -> Vec<&'static str> {
    layer.edge().settings.differences(&config.settings)
}
