//! [`CacheHandle`]: inspect and purge the cache shared by a layer's clones.

use std::fmt;
use std::sync::Arc;

use crate::cache::key::{key_host, key_path};
use crate::shared::Shared;

/// A handle on the cache behind a [`CdnLayer`](crate::CdnLayer), from
/// [`CdnLayer::cache`](crate::CdnLayer::cache). Cheap to clone.
#[derive(Clone)]
pub struct CacheHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for CacheHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheHandle").field("entries", &self.len()).field("weight_bytes", &self.weight_bytes()).finish()
    }
}

/// A CloudFront invalidation path: exact, or a prefix ending in `*`.
enum PathMatch<'a> {
    Exact(&'a str),
    Prefix(&'a str),
}

impl<'a> PathMatch<'a> {
    fn new(path: &'a str) -> Self {
        match path.strip_suffix('*') {
            Some(prefix) => PathMatch::Prefix(prefix),
            None => PathMatch::Exact(path),
        }
    }

    /// `key_path` is `path` or `path?query`. An exact path covers every
    /// query-string variant of that path.
    fn matches(&self, key_path: &str) -> bool {
        match self {
            PathMatch::Prefix(p) => key_path.starts_with(p),
            PathMatch::Exact(p) => {
                let path = key_path.split_once('?').map_or(key_path, |(path, _)| path);
                path == *p
            }
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

    /// Removes every entry (and stops fills in flight from being stored).
    pub fn invalidate_all(&self) {
        self.shared.observe.metrics.invalidation();
        self.shared.fills.invalidate_matching(|_| true);
        self.shared.store.clear();
    }

    /// Invalidates CloudFront-style paths on every host: `/index.html`
    /// (that path, with any query string) or `/images/*` (a prefix).
    /// Returns the number of stored entries removed.
    pub fn invalidate<I, P>(&self, paths: I) -> u64
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        self.invalidate_where(None, paths)
    }

    /// Like [`invalidate`](Self::invalidate), for one host only.
    pub fn invalidate_host<I, P>(&self, host: &str, paths: I) -> u64
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        self.invalidate_where(Some(&host.to_ascii_lowercase()), paths)
    }

    fn invalidate_where<I, P>(&self, host: Option<&str>, paths: I) -> u64
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        self.shared.observe.metrics.invalidation();
        let paths: Vec<P> = paths.into_iter().collect();
        let matchers: Vec<PathMatch<'_>> = paths.iter().map(|p| PathMatch::new(p.as_ref())).collect();
        let hit =
            |key: &str| host.is_none_or(|h| key_host(key) == h) && matchers.iter().any(|m| m.matches(key_path(key)));
        self.shared.fills.invalidate_matching(hit);
        self.shared.store.remove_matching(|key, _| hit(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudfront_paths() {
        assert!(PathMatch::new("/a").matches("/a"));
        assert!(PathMatch::new("/a").matches("/a?x=1"));
        assert!(!PathMatch::new("/a").matches("/ab"));
        assert!(PathMatch::new("/img/*").matches("/img/x/y.png?v=2"));
        assert!(!PathMatch::new("/img/*").matches("/im"));
        assert!(PathMatch::new("/*").matches("/anything"));
    }
}
