//! Invalidations that never stall request handling.
//!
//! An invalidation is a *rule* (paths/prefixes, tags, or everything) with a
//! sequence number. It takes effect at once: lookups check the active rules
//! and treat any older matching entry as absent. The entries are then
//! removed by a background sweep that walks the store one item at a time
//! (short read locks, yielding to other tasks), and the rule retires when
//! the sweep is done. Entries stored after the rule (higher sequence
//! number) are untouched, so a refill racing with a purge is kept.
//!
//! A *soft* invalidation ([`Mode::Stale`], Varnish's `softpurge`) hides
//! nothing: a lookup of an entry it covers gets the entry marked stale, and
//! its sweep replaces each covered entry with a stale-marked copy (sharing
//! the body), so the next request is served stale while one background
//! refresh, coalesced per key, fetches the new version.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::key::{key_host, key_path};
use super::store::{Cached, Store};

/// What an invalidation covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything.
    All,
    /// CloudFront paths (exact, or a prefix ending in `*`), optionally on one host.
    Paths { host: Option<String>, paths: Vec<String> },
    /// Entries carrying any of these tags (exact match).
    Tags(Vec<String>),
    /// Entries whose key satisfies a predicate (a configuration reload,
    /// or paths within one distribution).
    Keys(KeyFilter),
}

/// A predicate on cache keys, for [`Scope::Keys`].
#[derive(Clone)]
pub struct KeyFilter(pub(crate) Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl KeyFilter {
    /// Wraps a predicate.
    pub(crate) fn new(f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        KeyFilter(Arc::new(f))
    }
}

impl std::fmt::Debug for KeyFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyFilter")
    }
}

impl PartialEq for KeyFilter {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for KeyFilter {}

impl Scope {
    fn matches(&self, key: &str, value: &Cached) -> bool {
        match self {
            Scope::All => true,
            Scope::Paths { host, paths } => {
                host.as_deref().is_none_or(|h| key_host(key) == h)
                    && paths.iter().any(|p| path_matches(p, key_path(key)))
            }
            Scope::Tags(tags) => match value {
                Cached::Entry(e) => e.tags().iter().any(|t| tags.iter().any(|x| **t == **x)),
                Cached::Variants(_) => false,
            },
            Scope::Keys(f) => (f.0)(key),
        }
    }

    /// Whether an entry stored under `key` with `tags` is covered (for
    /// entries that are not in this store, e.g. read from L2).
    pub(crate) fn covers(&self, key: &str, tags: &[Box<str>]) -> bool {
        match self {
            Scope::Tags(wanted) => tags.iter().any(|t| wanted.iter().any(|x| **t == **x)),
            other => other.covers_key(key),
        }
    }

    /// Whether a fill for `key` is covered (tags are unknown until stored).
    pub(crate) fn covers_key(&self, key: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Paths { host, paths } => {
                host.as_deref().is_none_or(|h| key_host(key) == h)
                    && paths.iter().any(|p| path_matches(p, key_path(key)))
            }
            Scope::Tags(_) => false,
            Scope::Keys(f) => (f.0)(key),
        }
    }
}

/// `/a` covers `/a` with any query string; `/img/*` covers everything under it.
pub fn path_matches(pattern: &str, key_path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => key_path.starts_with(prefix),
        None => key_path.split_once('?').map_or(key_path, |(p, _)| p) == pattern,
    }
}

/// What an invalidation does to the entries it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Removes them: the next request for each is a miss.
    #[default]
    Remove,
    /// Marks them stale (a soft purge): the next request for each is served
    /// the stale copy while one background refresh runs; responses that
    /// may not be served stale (`must-revalidate`, `no-cache`) are
    /// revalidated first. Copies in the disk tier and the shared tier are
    /// removed.
    Stale,
}

/// The state of one invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidationStatus {
    /// In effect; the sweep is still removing entries.
    InProgress,
    /// Done; this many entries were removed.
    Completed {
        /// Entries removed.
        removed: u64,
    },
}

struct Rule {
    id: u64,
    seq: u64,
    scope: Scope,
    mode: Mode,
}

/// Active rules and the history of invalidations.
#[derive(Default)]
pub(crate) struct Purges {
    seq: AtomicU64,
    active: AtomicUsize,
    rules: RwLock<Vec<Arc<Rule>>>,
    history: Mutex<HashMap<u64, InvalidationStatus>>,
}

impl std::fmt::Debug for Purges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Purges").field("active", &self.active.load(Ordering::Relaxed)).finish()
    }
}

/// Bound on remembered invalidations (for status queries).
const HISTORY: usize = 1000;

impl Purges {
    /// The next sequence number for a stored entry.
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::AcqRel)
    }

    /// `true` if an active rule hides this (older) value. Free when no
    /// invalidation is in progress.
    pub(crate) fn hides(&self, key: &str, value: &Cached) -> bool {
        if self.active.load(Ordering::Acquire) == 0 {
            return false;
        }
        self.covered(key, value, Mode::Remove)
    }

    /// Whether any invalidation is in progress.
    pub(crate) fn in_progress(&self) -> bool {
        self.active.load(Ordering::Acquire) != 0
    }

    /// `true` if an active soft rule marks this (older) value stale. Free
    /// when no invalidation is in progress.
    pub(crate) fn softens(&self, key: &str, value: &Cached) -> bool {
        self.active.load(Ordering::Acquire) != 0 && self.covered(key, value, Mode::Stale)
    }

    fn covered(&self, key: &str, value: &Cached, mode: Mode) -> bool {
        let seq = value_seq(value);
        let rules = self.rules.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        rules.iter().any(|r| r.mode == mode && seq < r.seq && r.scope.matches(key, value))
    }

    /// Starts an invalidation; returns its id and the sweep to run.
    pub(crate) fn start(self: &Arc<Self>, scope: Scope, mode: Mode) -> (u64, Sweep) {
        let seq = self.next_seq();
        let id = seq;
        let rule = Arc::new(Rule { id, seq, scope, mode });
        self.rules.write().unwrap_or_else(std::sync::PoisonError::into_inner).push(Arc::clone(&rule));
        self.active.fetch_add(1, Ordering::AcqRel);
        let mut history = self.history.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if history.len() >= HISTORY
            && let Some(oldest) = history.keys().min().copied()
        {
            history.remove(&oldest);
        }
        history.insert(id, InvalidationStatus::InProgress);
        (id, Sweep { purges: Arc::clone(self), rule })
    }

    /// The status of an invalidation, if remembered.
    pub(crate) fn status(&self, id: u64) -> Option<InvalidationStatus> {
        self.history.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&id).copied()
    }

    fn retire(&self, rule: &Rule, removed: u64) {
        self.rules.write().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|r| r.id != rule.id);
        self.active.fetch_sub(1, Ordering::AcqRel);
        self.history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(rule.id, InvalidationStatus::Completed { removed });
    }
}

fn value_seq(value: &Cached) -> u64 {
    match value {
        Cached::Entry(e) => e.seq(),
        Cached::Variants(v) => v.seq,
    }
}

/// The physical removal of an invalidation's entries.
pub(crate) struct Sweep {
    purges: Arc<Purges>,
    rule: Arc<Rule>,
}

/// Items visited between yields to other tasks.
const SWEEP_BATCH: usize = 512;

impl Sweep {
    /// The rule's scope.
    pub(crate) fn scope(&self) -> &Scope {
        &self.rule.scope
    }

    /// Walks the store and removes what the rule covers; yields often.
    pub(crate) async fn run(self, store: &Store) -> u64 {
        let mut removed = 0;
        let mut doomed = Vec::new();
        for (i, (key, value)) in store.iter().enumerate() {
            if value_seq(&value) < self.rule.seq && self.rule.scope.matches(&key, &value) {
                doomed.push(key);
            }
            if i % SWEEP_BATCH == SWEEP_BATCH - 1 {
                removed += self.remove(store, &mut doomed);
                tokio::task::yield_now().await;
            }
        }
        removed += self.remove(store, &mut doomed);
        self.purges.retire(&self.rule, removed);
        removed
    }

    /// The same, without a runtime (blocking the caller).
    pub(crate) fn run_blocking(self, store: &Store) -> u64 {
        let seq = self.rule.seq;
        if self.rule.mode == Mode::Stale {
            let mut doomed: Vec<_> = store
                .iter()
                .filter(|(k, v)| value_seq(v) < seq && self.rule.scope.matches(k, v))
                .map(|(k, _)| k)
                .collect();
            let softened = self.remove(store, &mut doomed);
            self.purges.retire(&self.rule, softened);
            return softened;
        }
        let removed = store.remove_matching(|k, v| value_seq(v) < seq && self.rule.scope.matches(k, v));
        self.purges.retire(&self.rule, removed);
        removed
    }

    /// Removes (or, for a soft rule, marks stale) the entries found, unless
    /// a newer one replaced them meanwhile.
    fn remove(&self, store: &Store, doomed: &mut Vec<super::key::CacheKey>) -> u64 {
        let seq = self.rule.seq;
        match self.rule.mode {
            Mode::Remove => doomed.drain(..).filter(|k| store.remove_if(k, |v| value_seq(v) < seq)).count() as u64,
            Mode::Stale => doomed.drain(..).filter(|k| store.soften(k, seq)).count() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudfront_paths() {
        assert!(path_matches("/a", "/a"));
        assert!(path_matches("/a", "/a?x=1"));
        assert!(!path_matches("/a", "/ab"));
        assert!(path_matches("/img/*", "/img/x/y.png?v=2"));
        assert!(!path_matches("/img/*", "/im"));
        assert!(path_matches("/*", "/anything"));
    }
}
