//! [`CacheHandle`]: inspect and purge the cache shared by a layer's clones.

use std::fmt;
use std::sync::Arc;

use crate::cache::local::Invalidation;
use crate::cache::purge::{InvalidationStatus, Mode, Scope};
use crate::edge::Edge;

/// A handle on the cache behind a [`CdnLayer`](crate::CdnLayer), from
/// [`CdnLayer::cache`](crate::CdnLayer::cache). Cheap to clone.
///
/// With an [L2](crate::L2Config), every invalidation also reaches the
/// other edges of the fleet and the shared tier (published through Redis,
/// queued while Redis is unreachable); [`Invalidation::wait`] waits for
/// this edge's own sweep only.
#[derive(Clone)]
pub struct CacheHandle {
    edge: Arc<Edge>,
}

impl fmt::Debug for CacheHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheHandle").field("entries", &self.len()).field("weight_bytes", &self.weight_bytes()).finish()
    }
}

impl CacheHandle {
    pub(crate) fn new(edge: Arc<Edge>) -> Self {
        CacheHandle { edge }
    }

    pub(crate) fn edge(&self) -> &Arc<Edge> {
        &self.edge
    }

    /// Number of stored entries.
    pub fn len(&self) -> usize {
        self.edge.cache.len()
    }

    /// `true` when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held (headers + bodies + per-entry overhead).
    pub fn weight_bytes(&self) -> u64 {
        self.edge.cache.weight_bytes()
    }

    /// Configured capacity in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.edge.cache.capacity_bytes()
    }

    /// Entries evicted to make room so far.
    pub fn evictions(&self) -> u64 {
        self.edge.cache.evictions()
    }

    /// A snapshot of the counters (what `/metrics` exports).
    pub fn stats(&self) -> crate::Stats {
        let mut s = self.edge.observe.metrics.stats();
        #[cfg(feature = "l2")]
        {
            s.l2_up = self.edge.fleet.as_ref().is_some_and(|f| f.is_up());
        }
        s.entries = self.edge.cache.len() as u64;
        s.cached_bytes = self.edge.cache.weight_bytes();
        s.evictions = self.edge.cache.evictions();
        s.log_records_dropped = self.edge.observe.logs().iter().map(crate::AccessLog::dropped).sum();
        #[cfg(feature = "disk")]
        if let Some(disk) = self.edge.cache.disk() {
            let d = disk.stats();
            s.disk_entries = d.entries;
            s.disk_bytes = d.bytes;
            s.disk_hits = d.hits;
            s.disk_served = d.served;
            s.disk_misses = d.misses;
            s.disk_writes = d.writes;
            s.disk_writes_abandoned = d.writes_abandoned;
            s.disk_errors = d.errors;
            s.disk_corrupt = d.corrupt;
            s.disk_evictions = d.evictions;
        }
        s
    }

    /// The counters in Prometheus text format. Feature `metrics`.
    #[cfg(feature = "metrics")]
    pub fn metrics_text(&self) -> String {
        self.edge.observe.metrics.render(&self.stats())
    }

    /// Whether the disk tier's start-up scan has indexed every file (`None`
    /// without a disk tier). Until then the tier serves and purges
    /// correctly but does not yet count every file toward its capacity.
    #[cfg(feature = "disk")]
    pub fn disk_loaded(&self) -> Option<bool> {
        self.edge.cache.disk().map(|d| d.stats().loaded)
    }

    /// Waits (at most `timeout`) until what was queued for the disk tier so
    /// far is written: the dev proxy calls it at shutdown, so an entry whose
    /// body was received is not lost to the exit. Feature `disk`.
    #[cfg(feature = "disk")]
    pub async fn flush_disk(&self, timeout: std::time::Duration) {
        if let Some(disk) = self.edge.cache.disk() {
            let disk = Arc::clone(disk);
            let _ = tokio::task::spawn_blocking(move || disk.flush(timeout)).await;
        }
    }

    /// Origin fetches currently filling the cache.
    pub fn fills_in_flight(&self) -> usize {
        self.edge.cache.fills_in_flight()
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

    /// Soft-invalidates everything: see [`soft_invalidate`](Self::soft_invalidate).
    pub fn soft_invalidate_all(&self) -> Invalidation {
        self.start_with(Scope::All, Mode::Stale)
    }

    /// Like [`invalidate`](Self::invalidate), but marks the entries stale
    /// instead of removing them (Varnish's soft purge): the next request
    /// for each is answered with the stale copy while one background
    /// refresh (conditional, coalesced per key) fetches the new version,
    /// so a purge of many entries never sends the origin more than the
    /// traffic asks for, one fetch per key at a time. Responses that may
    /// not be served stale (`must-revalidate`, `no-cache`) are revalidated
    /// first; copies in the disk tier and the shared (Redis) tier are
    /// removed. Reaches the fleet like any invalidation.
    pub fn soft_invalidate<I, P>(&self, paths: I) -> Invalidation
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        let paths = paths.into_iter().map(|p| p.as_ref().to_owned()).collect();
        self.start_with(Scope::Paths { host: None, paths }, Mode::Stale)
    }

    /// [`soft_invalidate`](Self::soft_invalidate) on one host only.
    pub fn soft_invalidate_host<I, P>(&self, host: &str, paths: I) -> Invalidation
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        let paths = paths.into_iter().map(|p| p.as_ref().to_owned()).collect();
        let host = Some(host.trim_end_matches('.').to_ascii_lowercase());
        self.start_with(Scope::Paths { host, paths }, Mode::Stale)
    }

    /// [`soft_invalidate`](Self::soft_invalidate) of the entries carrying
    /// one of `tags` (Varnish's `xkey.softpurge`).
    pub fn soft_invalidate_tags<I, T>(&self, tags: I) -> Invalidation
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.start_with(Scope::Tags(tags.into_iter().map(|t| t.as_ref().to_owned()).collect()), Mode::Stale)
    }

    /// The status of an invalidation started on this cache.
    pub fn invalidation_status(&self, id: u64) -> Option<InvalidationStatus> {
        self.edge.cache.invalidation_status(id)
    }

    pub(crate) fn start(&self, scope: Scope) -> Invalidation {
        self.start_with(scope, Mode::Remove)
    }

    pub(crate) fn start_with(&self, scope: Scope, mode: Mode) -> Invalidation {
        self.edge.observe.metrics.invalidation();
        #[cfg(feature = "l2")]
        if let Some(fleet) = &self.edge.fleet {
            fleet.publish(scope.clone(), mode);
        }
        self.edge.cache.invalidate(scope, mode)
    }
}
