//! [`CacheHandle`]: inspect and purge the cache shared by a layer's clones.

use std::fmt;
use std::sync::Arc;

use crate::cache::purge::{InvalidationStatus, Scope};
use crate::shared::Shared;

/// A handle on the cache behind a [`CdnLayer`](crate::CdnLayer), from
/// [`CdnLayer::cache`](crate::CdnLayer::cache). Cheap to clone.
///
/// With an [L2](crate::L2Config), every invalidation also reaches the
/// other edges of the fleet and the shared tier (published through Redis,
/// queued while Redis is unreachable); [`Invalidation::wait`] waits for
/// this edge's own sweep only.
#[derive(Clone)]
pub struct CacheHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for CacheHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheHandle").field("entries", &self.len()).field("weight_bytes", &self.weight_bytes()).finish()
    }
}

/// An invalidation in progress: it is in effect from the moment it is
/// created; [`wait`](Self::wait) for the entries to be removed.
#[derive(Debug)]
pub struct Invalidation {
    id: u64,
    sweep: Option<tokio::task::JoinHandle<u64>>,
    removed: u64,
}

impl Invalidation {
    /// Its id (for [`CacheHandle::invalidation_status`] and the admin API).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Waits until the invalidated entries are removed; returns how many.
    pub async fn wait(self) -> u64 {
        match self.sweep {
            Some(handle) => handle.await.unwrap_or(0),
            None => self.removed,
        }
    }
}

impl CacheHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        CacheHandle { shared }
    }

    /// Number of stored entries.
    pub fn len(&self) -> usize {
        self.shared.store.len()
    }

    /// `true` when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held (headers + bodies + per-entry overhead).
    pub fn weight_bytes(&self) -> u64 {
        self.shared.store.weight_bytes()
    }

    /// Configured capacity in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.shared.store.capacity_bytes()
    }

    /// Entries evicted to make room so far.
    pub fn evictions(&self) -> u64 {
        self.shared.store.evictions()
    }

    /// A snapshot of the counters (what `/metrics` exports).
    pub fn stats(&self) -> crate::Stats {
        let mut s = self.shared.observe.metrics.stats();
        s.l2_up = self.shared.fleet.as_ref().is_some_and(|f| f.is_up());
        s.entries = self.shared.store.len() as u64;
        s.cached_bytes = self.shared.store.weight_bytes();
        s.evictions = self.shared.store.evictions();
        s.log_records_dropped = self.shared.observe.logs().iter().map(crate::AccessLog::dropped).sum();
        s
    }

    /// The counters in Prometheus text format.
    pub fn metrics_text(&self) -> String {
        self.shared.observe.metrics.render(&self.stats())
    }

    /// Origin fetches currently filling the cache.
    pub fn fills_in_flight(&self) -> usize {
        self.shared.fills.len()
    }

    /// Invalidates everything.
    pub fn invalidate_all(&self) -> Invalidation {
        self.start(Scope::All)
    }

    /// Invalidates CloudFront-style paths on every host: `/index.html`
    /// (that path, with any query string) or `/images/*` (a prefix).
    pub fn invalidate<I, P>(&self, paths: I) -> Invalidation
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        let paths = paths.into_iter().map(|p| p.as_ref().to_owned()).collect();
        self.start(Scope::Paths { host: None, paths })
    }

    /// Like [`invalidate`](Self::invalidate), for one host only.
    pub fn invalidate_host<I, P>(&self, host: &str, paths: I) -> Invalidation
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        let paths = paths.into_iter().map(|p| p.as_ref().to_owned()).collect();
        self.start(Scope::Paths { host: Some(host.trim_end_matches('.').to_ascii_lowercase()), paths })
    }

    /// Invalidates every entry whose response carried one of `tags` in
    /// `Surrogate-Key` (space-separated) or `Cache-Tag` (comma-separated).
    /// Tags match exactly (no patterns).
    pub fn invalidate_tags<I, T>(&self, tags: I) -> Invalidation
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.start(Scope::Tags(tags.into_iter().map(|t| t.as_ref().to_owned()).collect()))
    }

    /// The status of an invalidation started on this cache.
    pub fn invalidation_status(&self, id: u64) -> Option<InvalidationStatus> {
        self.shared.purges.status(id)
    }

    pub(crate) fn start(&self, scope: Scope) -> Invalidation {
        self.shared.observe.metrics.invalidation();
        if let Some(fleet) = &self.shared.fleet {
            fleet.publish(scope.clone());
        }
        apply_local(&self.shared, scope)
    }
}

/// Applies an invalidation to this edge's cache only (also how fleet
/// invalidations from other edges are applied).
pub(crate) fn apply_local(shared: &Arc<Shared>, scope: Scope) -> Invalidation {
    let (id, sweep) = shared.purges.start(scope);
    // Fills in flight fetched before the invalidation: never stored.
    // Tags are unknown until a response is stored, so a tag purge
    // covers every fill in flight.
    shared.fills.invalidate_matching(|k| match sweep.scope() {
        Scope::Tags(_) => true,
        scope => scope.covers_key(k),
    });
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            let shared = Arc::clone(shared);
            let handle = rt.spawn(async move { sweep.run(&shared.store).await });
            Invalidation { id, sweep: Some(handle), removed: 0 }
        }
        Err(_) => {
            let removed = sweep.run_blocking(&shared.store);
            Invalidation { id, sweep: None, removed }
        }
    }
}
