//! The byte-weighted in-memory store. The only file that names `quick_cache`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::{Cache, EntryAction, EntryResult};
use quick_cache::{DefaultHashBuilder, Lifecycle, OptionsBuilder, Weighter};

use super::entry::{Entry, Variants};
use super::key::CacheKey;

/// A value in the store: a response, or the `Vary` marker of a URI.
#[derive(Debug, Clone)]
pub enum Cached {
    /// A complete stored response.
    Entry(Arc<Entry>),
    /// Responses for this URI vary; look up the variant key.
    Variants(Arc<Variants>),
}

impl Cached {
    fn weight(&self) -> u64 {
        match self {
            Cached::Entry(e) => e.weight(),
            Cached::Variants(v) => v.weight(),
        }
    }
}

/// Counts evictions (capacity pressure, not explicit removals).
#[derive(Clone, Default)]
struct Evictions(Arc<AtomicU64>);

impl Lifecycle<CacheKey, Cached> for Evictions {
    type RequestState = ();

    fn on_evict(&self, _state: &mut (), _key: CacheKey, _val: Cached) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Clone)]
struct EntryWeighter;

impl Weighter<CacheKey, Cached> for EntryWeighter {
    fn weight(&self, key: &CacheKey, val: &Cached) -> u64 {
        key.len() as u64 + val.weight()
    }
}

/// A small bounded map beside the store (what the edge remembers about
/// keys it did not store), weighed by its keys' length so long URLs count
/// for what they take.
pub struct Memo<V: Clone> {
    map: Cache<CacheKey, V, KeyWeight>,
}

/// Weighs a memo's item by its key's length.
#[derive(Clone)]
pub struct KeyWeight;

impl<V> Weighter<CacheKey, V> for KeyWeight {
    fn weight(&self, key: &CacheKey, _: &V) -> u64 {
        key.len() as u64 + 64
    }
}

impl<V: Clone> std::fmt::Debug for Memo<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo").field("len", &self.map.len()).finish()
    }
}

impl<V: Clone> Memo<V> {
    /// About `items` entries, at most `bytes` of keys.
    pub fn new(items: usize, bytes: u64) -> Self {
        Memo { map: Cache::with_weighter(items, bytes, KeyWeight) }
    }

    /// Remembers `value` for `key`.
    pub fn insert(&self, key: CacheKey, value: V) {
        self.map.insert(key, value);
    }

    /// What is remembered for `key`.
    pub fn get(&self, key: &str) -> Option<V> {
        self.map.get(key)
    }
}

/// Sizing of the store.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Total weight (bytes) the store may hold.
    pub capacity_bytes: u64,
    /// Largest single entry; shards are sized so one always fits.
    pub max_entry_bytes: u64,
    /// Share of each shard reserved for entries that proved popular.
    pub hot_allocation: f64,
}

/// The shared cache of complete entries.
pub struct Store {
    cache: Cache<CacheKey, Cached, EntryWeighter, DefaultHashBuilder, Evictions>,
    evictions: Evictions,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("entries", &self.cache.len())
            .field("weight", &self.cache.weight())
            .field("capacity", &self.cache.capacity())
            .finish()
    }
}

/// Typical entry size used to estimate the number of items.
const TYPICAL_ENTRY_BYTES: u64 = 16 * 1024;

impl Store {
    /// Creates a store. Shards are as many as the cores suggest, but few
    /// enough that each can hold an entry of `max_entry_bytes` (quick_cache
    /// rejects items heavier than about 97% of a shard).
    pub fn new(opts: StoreOptions) -> Self {
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        let mut shards = (cores * 4).next_power_of_two();
        // quick_cache refuses items heavier than a shard's hot share:
        // size shards so the largest entry fits it, with 5% headroom.
        let hot = opts.hot_allocation.clamp(0.05, 0.95);
        let per_shard_needed = (opts.max_entry_bytes as f64 * 1.05 / hot) as u64;
        while shards > 1 && opts.capacity_bytes / shards as u64 <= per_shard_needed {
            shards /= 2;
        }
        let items = usize::try_from(opts.capacity_bytes / TYPICAL_ENTRY_BYTES).unwrap_or(usize::MAX).clamp(64, 1 << 22);
        let evictions = Evictions::default();
        let options = OptionsBuilder::new()
            .estimated_items_capacity(items)
            .weight_capacity(opts.capacity_bytes.max(1))
            .hot_allocation(hot)
            .shards(shards)
            .build();
        let cache = match options {
            Ok(options) => {
                Cache::with_options(options, EntryWeighter, DefaultHashBuilder::default(), evictions.clone())
            }
            // The options above are always valid; fall back to plain
            // sizing rather than panic if a future quick_cache disagrees.
            Err(_) => Cache::with(
                items,
                opts.capacity_bytes.max(1),
                EntryWeighter,
                DefaultHashBuilder::default(),
                evictions.clone(),
            ),
        };
        Store { cache, evictions }
    }

    /// Looks a value up by its key, without allocating.
    pub fn get(&self, key: &str) -> Option<Cached> {
        self.cache.get(key)
    }

    /// Inserts or replaces a value.
    pub fn insert(&self, key: CacheKey, value: Cached) {
        self.cache.insert(key, value);
    }

    /// Removes a value; returns whether one was present.
    pub fn remove(&self, key: &str) -> bool {
        self.cache.remove(key).is_some()
    }

    /// Removes a value if `pred` holds for it; returns whether it did.
    pub fn remove_if(&self, key: &str, pred: impl FnOnce(&Cached) -> bool) -> bool {
        self.cache.remove_if(key, pred).is_some()
    }

    /// Replaces the entry at `key` by its soft-purged copy if it is older
    /// than `seq` (stored before a soft invalidation) and not marked yet;
    /// returns whether it did. Atomic: a newer entry stored meanwhile is
    /// left alone.
    pub fn soften(&self, key: &CacheKey, seq: u64) -> bool {
        let result = self.cache.entry(key, Some(std::time::Duration::ZERO), |_, value| {
            let Cached::Entry(entry) = value else { return EntryAction::Retain(false) };
            if entry.seq() >= seq || entry.is_soft_purged() {
                return EntryAction::Retain(false);
            }
            *value = Cached::Entry(Arc::new(entry.softened()));
            EntryAction::Retain(true)
        });
        // A vacant key's placeholder guard is dropped unused here.
        matches!(result, EntryResult::Retained(true))
    }

    /// Every (key, value), one short read lock per item.
    pub fn iter(&self) -> impl Iterator<Item = (CacheKey, Cached)> + '_ {
        self.cache.iter()
    }

    /// Removes every entry whose key satisfies `pred`; returns how many.
    pub fn remove_matching(&self, pred: impl Fn(&str, &Cached) -> bool) -> u64 {
        let removed = std::cell::Cell::new(0u64);
        self.cache.retain(|k, v| {
            let drop = pred(k, v);
            removed.set(removed.get() + u64::from(drop));
            !drop
        });
        removed.get()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Total weight of the entries, in bytes.
    pub fn weight_bytes(&self) -> u64 {
        self.cache.weight()
    }

    /// Configured capacity, in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.cache.capacity()
    }

    /// Entries evicted for capacity so far.
    pub fn evictions(&self) -> u64 {
        self.evictions.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::entry::Head;
    use crate::policy::freshness::StoredMeta;
    use bytes::Bytes;
    use std::time::{Duration, SystemTime};

    fn entry(body_len: usize) -> Cached {
        let meta = StoredMeta::plain(Duration::from_secs(60), SystemTime::now());
        let head = Head { status: http::StatusCode::OK, headers: http::HeaderMap::new(), meta };
        Cached::Entry(Arc::new(Entry::new(head, &[Bytes::from(vec![0u8; body_len])], 0, Box::new([]))))
    }

    #[test]
    fn the_largest_allowed_entry_is_always_admitted() {
        for (capacity, max_entry) in [(1 << 20, 512 * 1024), (256 << 20, 64 << 20), (16 << 20, 4 << 20)] {
            let store =
                Store::new(StoreOptions { capacity_bytes: capacity, max_entry_bytes: max_entry, hot_allocation: 0.9 });
            // The body plus headers and overhead must stay within max_entry.
            store.insert(Arc::from("k"), entry(max_entry as usize - 1024));
            assert!(store.get("k").is_some(), "capacity {capacity}, max entry {max_entry}");
            assert!(store.weight_bytes() <= capacity);
        }
    }
}
