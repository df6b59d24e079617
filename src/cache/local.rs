//! [`LocalCache`]: this edge's own cache, the one object that owns the
//! store, the fills in flight, the invalidations in progress and the
//! `Vary` layout. The request flow asks it to look up, coalesce, insert
//! and forget; it never touches a store key or a marker itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderMap;

use super::entry::{Entry, Head};
use super::fill::{FillWriter, Published};
use super::key::{self, CacheKey};
use super::lock::{Fills, Join, Registration};
use super::purge::{InvalidationStatus, Mode, Purges, Scope};
use super::store::{Cached, Store, StoreOptions};
use super::variants;
use crate::policy::vary::{self, Vary};
use crate::status::NotStored;

/// What the store has for a request.
pub(crate) enum Lookup {
    /// A stored response for this request (maybe stale).
    Found {
        entry: Arc<Entry>,
        /// Where it is stored (to forget it when the origin says so).
        store_key: CacheKey,
        /// The key a refresh of it coalesces on.
        fill_key: CacheKey,
        /// A soft invalidation covered it: stale, whatever its freshness.
        soft_purged: bool,
    },
    /// Responses for the URI vary, and none matches this request.
    VaryMiss { fill_key: CacheKey },
    /// Nothing for the URI.
    Miss,
}

/// A complete response about to be stored.
pub(crate) struct Stored<'a> {
    pub(crate) head: Head,
    pub(crate) chunks: &'a [bytes::Bytes],
    pub(crate) vary: &'a Vary,
    /// From [`LocalCache::next_seq`] when the fill began: invalidations
    /// issued later cover the result.
    pub(crate) seq: u64,
    pub(crate) tags: Box<[Box<str>]>,
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
    /// Its id (for [`CacheHandle::invalidation_status`](crate::CacheHandle::invalidation_status)
    /// and the admin API).
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

/// A stored response, as the admin API shows it.
pub(crate) struct Shown {
    pub(crate) key: CacheKey,
    pub(crate) entry: Arc<Entry>,
    pub(crate) soft_purged: bool,
}

/// A listing kept for its next pages: its id, when it was made, its keys.
type Listing = (u64, std::time::Instant, Arc<[CacheKey]>);

/// Listings (the key pages of the admin API) kept for their next pages.
const LISTINGS: usize = 4;
/// How long a listing's keys are kept.
const LISTING_KEPT: std::time::Duration = std::time::Duration::from_secs(60);

/// Responses that were not stored, remembered per URI (bounded).
const NOT_STORED_MEMO: usize = 16 * 1024;
/// Bytes of keys the memo holds at most (long URLs count for what they take).
const NOT_STORED_MEMO_BYTES: u64 = 2 << 20;

/// This edge's cache.
#[derive(Debug)]
pub(crate) struct LocalCache {
    store: Store,
    /// Why the last response for a URI was not stored, and when.
    not_stored: super::store::Memo<(NotStored, std::time::SystemTime)>,
    /// Sorted keys of recent listings: a page is a slice, not a walk.
    listings: std::sync::Mutex<std::collections::VecDeque<Listing>>,
    next_listing: AtomicU64,
    fills: Fills,
    purges: Arc<Purges>,
    /// Generations of `Vary` markers.
    generation: AtomicU64,
    max_entry_bytes: u64,
    /// The disk tier, when configured.
    #[cfg(feature = "disk")]
    disk: Option<Arc<super::disk::Disk>>,
}

impl LocalCache {
    pub(crate) fn new(opts: StoreOptions, #[cfg(feature = "disk")] disk: Option<Arc<super::disk::Disk>>) -> Self {
        LocalCache {
            store: Store::new(opts),
            not_stored: super::store::Memo::new(NOT_STORED_MEMO, NOT_STORED_MEMO_BYTES),
            listings: std::sync::Mutex::default(),
            next_listing: AtomicU64::new(1),
            fills: Fills::default(),
            purges: Arc::new(Purges::default()),
            generation: AtomicU64::new(1),
            max_entry_bytes: opts.max_entry_bytes,
            #[cfg(feature = "disk")]
            disk,
        }
    }

    /// The disk tier, when configured.
    #[cfg(feature = "disk")]
    pub(crate) fn disk(&self) -> Option<&Arc<super::disk::Disk>> {
        self.disk.as_ref()
    }

    /// Forgets what the disk tier holds for a URI (the origin outdated it).
    #[cfg_attr(not(feature = "disk"), allow(unused_variables))]
    pub(crate) fn remove_from_disk(&self, primary: &str) {
        #[cfg(feature = "disk")]
        if let Some(disk) = &self.disk {
            disk.remove(primary);
        }
    }

    /// The largest response stored.
    pub(crate) fn max_entry_bytes(&self) -> u64 {
        self.max_entry_bytes
    }

    /// The stored response for a request to `primary` with `headers`, if
    /// any (through the URI's `Vary` marker, RFC 9111 §4.1).
    pub(crate) fn lookup(&self, primary: &CacheKey, headers: &HeaderMap) -> Lookup {
        let get = |key: &str| self.store.get(key).filter(|v| !self.purges.hides(key, v));
        // Free unless an invalidation is in progress (a hit clones nothing).
        let soft = |key: &str, entry: &Arc<Entry>| {
            entry.is_soft_purged()
                || (self.purges.in_progress() && self.purges.softens(key, &Cached::Entry(Arc::clone(entry))))
        };
        match get(primary) {
            None => Lookup::Miss,
            Some(Cached::Entry(entry)) => {
                let soft_purged = soft(primary, &entry);
                Lookup::Found { entry, store_key: Arc::clone(primary), fill_key: Arc::clone(primary), soft_purged }
            }
            Some(Cached::Variants(v)) => {
                let at = variants::locate(primary, &v.fields, v.generation, headers);
                match get(&at.store_key) {
                    Some(Cached::Entry(entry)) => {
                        let soft_purged = soft(&at.store_key, &entry);
                        Lookup::Found { entry, store_key: at.store_key, fill_key: at.fill_key, soft_purged }
                    }
                    _ => Lookup::VaryMiss { fill_key: at.fill_key },
                }
            }
        }
    }

    /// Stores a complete response: under the primary key, or, when it
    /// varies, as a variant under the URI's marker. Returns the entry,
    /// unless an invalidation issued during the fill covers it.
    pub(crate) fn insert(&self, primary: &CacheKey, stored: Stored<'_>, req_headers: &HeaderMap) -> Option<Arc<Entry>> {
        let Stored { head, chunks, vary, seq, tags } = stored;
        let arc = Arc::new(Entry::new(head, chunks, seq, tags));
        let entry = Cached::Entry(Arc::clone(&arc));
        if self.purges.hides(primary, &entry) {
            return None;
        }
        match vary {
            Vary::Fields(fields) => {
                let generation = match self.store.get(primary) {
                    Some(Cached::Variants(v)) if v.fields == *fields => v.generation,
                    _ => {
                        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
                        let marker = super::entry::Variants { fields: fields.clone(), generation, seq };
                        self.store.insert(Arc::clone(primary), Cached::Variants(Arc::new(marker)));
                        generation
                    }
                };
                let at = variants::locate(primary, fields, generation, req_headers);
                self.store.insert(at.store_key, entry);
            }
            _ => self.store.insert(Arc::clone(primary), entry),
        }
        Some(arc)
    }

    /// Whether `entry` is still what is stored at `store_key`.
    pub(crate) fn still_holds(&self, store_key: &str, entry: &Arc<Entry>) -> bool {
        matches!(self.store.get(store_key), Some(Cached::Entry(e)) if Arc::ptr_eq(&e, entry))
    }

    /// Forgets one stored response (outdated by the origin's answer).
    pub(crate) fn remove(&self, store_key: &str) {
        self.store.remove(store_key);
    }

    /// RFC 9111 §4.4: forgets what an unsafe request changed, stored or
    /// in flight, for each of these URIs.
    pub(crate) fn forget(&self, primaries: &[CacheKey]) {
        for primary in primaries {
            self.store.remove(primary);
            self.remove_from_disk(primary);
            self.fills.invalidate_matching(|k| key::is_same_uri(k, primary));
        }
    }

    /// Follows the fill in flight for `fill_key`, or starts one.
    pub(crate) fn join_or_lead(&self, fill_key: &CacheKey) -> Join {
        self.fills.join_or_lead(fill_key, self.max_entry_bytes)
    }

    /// Whether a request for `fill_key` would join a fill in flight.
    pub(crate) fn fill_joinable(&self, fill_key: &str) -> bool {
        self.fills.joinable(fill_key)
    }

    /// Starts a fill only if none is in flight (background refreshes).
    pub(crate) fn lead_pinned(&self, fill_key: &CacheKey) -> Option<(FillWriter, Registration)> {
        self.fills.lead_pinned(fill_key, self.max_entry_bytes)
    }

    /// Takes a fill out of the table of fills in flight (its body outgrew
    /// the cap: later requests must not join it).
    pub(crate) fn unlist(&self, fill: &Arc<super::fill::Fill>) {
        self.fills.remove(fill);
    }

    /// A sequence number for a fill that begins now.
    pub(crate) fn next_seq(&self) -> u64 {
        self.purges.next_seq()
    }

    /// Applies an invalidation to this cache: in effect at once (lookups
    /// and fills in flight), entries removed in the background.
    /// A soft invalidation ([`Mode::Stale`]) marks what memory holds stale
    /// and removes the disk tier's copies (which could otherwise come back
    /// fresh after the marked copy left memory).
    pub(crate) fn invalidate(self: &Arc<Self>, scope: Scope, mode: Mode) -> Invalidation {
        #[cfg(feature = "disk")]
        if let Some(disk) = &self.disk {
            disk.invalidate(&scope);
        }
        let (id, sweep) = self.purges.start(scope, mode);
        // Fills in flight fetched before the invalidation: never stored.
        // Tags are unknown until a response is stored, so a tag purge
        // covers every fill in flight.
        self.fills.invalidate_matching(|k| match sweep.scope() {
            Scope::Tags(_) => true,
            scope => scope.covers_key(k),
        });
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let cache = Arc::clone(self);
                let handle = rt.spawn(async move { sweep.run(&cache.store).await });
                Invalidation { id, sweep: Some(handle), removed: 0 }
            }
            Err(_) => {
                let removed = sweep.run_blocking(&self.store);
                Invalidation { id, sweep: None, removed }
            }
        }
    }

    /// The status of an invalidation started here.
    pub(crate) fn invalidation_status(&self, id: u64) -> Option<InvalidationStatus> {
        self.purges.status(id)
    }

    /// Remembers why the origin's last answer for a URI was not stored.
    pub(crate) fn remember_not_stored(&self, primary: &str, reason: NotStored, at: std::time::SystemTime) {
        self.not_stored.insert(Arc::from(key::primary_of(primary)), (reason, at));
    }

    /// Why the last answer for a URI was not stored, if remembered.
    pub(crate) fn not_stored(&self, primary: &str) -> Option<(NotStored, std::time::SystemTime)> {
        self.not_stored.get(primary)
    }

    /// Every response stored for a URI: itself, its variants and slices.
    /// Walks the whole store (short read locks): for the admin API only.
    pub(crate) fn stored_for_uri(&self, primary: &str) -> Vec<Shown> {
        let mut out: Vec<Shown> = self
            .store
            .iter()
            .filter(|(k, _)| key::is_same_uri(k, primary))
            .filter_map(|(k, v)| self.shown(k, v))
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// The keys of the stored responses after `after` that `filter`
    /// selects, unsorted. Walks the whole store (short read locks, never
    /// a write lock): for the admin API only, off the runtime.
    pub(crate) fn matching_keys(&self, after: Option<&str>, filter: impl Fn(&str, &Entry) -> bool) -> Vec<CacheKey> {
        let mut out = Vec::new();
        for (k, v) in self.store.iter() {
            if after.is_some_and(|a| *k <= *a) {
                continue;
            }
            let Cached::Entry(entry) = &v else { continue };
            if filter(&k, entry) && !self.purges.hides(&k, &v) {
                out.push(k);
            }
        }
        out
    }

    /// The stored response at a store key, as shown.
    pub(crate) fn shown_at(&self, key: &CacheKey) -> Option<Shown> {
        let value = self.store.get(key)?;
        self.shown(Arc::clone(key), value)
    }

    /// Keeps a listing's sorted keys for its next pages; returns its id.
    pub(crate) fn keep_listing(&self, keys: Arc<[CacheKey]>) -> u64 {
        let id = self.next_listing.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.listings.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.retain(|(_, made, _)| made.elapsed() < LISTING_KEPT);
        while kept.len() >= LISTINGS {
            kept.pop_front();
        }
        kept.push_back((id, std::time::Instant::now(), keys));
        id
    }

    /// A listing's keys, while it is kept.
    pub(crate) fn listing(&self, id: u64) -> Option<Arc<[CacheKey]>> {
        let kept = self.listings.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.iter().find(|(i, made, _)| *i == id && made.elapsed() < LISTING_KEPT).map(|(_, _, k)| Arc::clone(k))
    }

    fn shown(&self, key: CacheKey, value: Cached) -> Option<Shown> {
        if self.purges.hides(&key, &value) {
            return None;
        }
        let soft_purged = self.purges.softens(&key, &value);
        let Cached::Entry(entry) = value else { return None };
        let soft_purged = soft_purged || entry.is_soft_purged();
        Some(Shown { key, entry, soft_purged })
    }

    /// Number of stored entries (markers included).
    pub(crate) fn len(&self) -> usize {
        self.store.len()
    }

    /// Bytes held.
    pub(crate) fn weight_bytes(&self) -> u64 {
        self.store.weight_bytes()
    }

    /// Configured capacity.
    pub(crate) fn capacity_bytes(&self) -> u64 {
        self.store.capacity_bytes()
    }

    /// Entries evicted so far.
    pub(crate) fn evictions(&self) -> u64 {
        self.store.evictions()
    }

    /// Fills in flight.
    pub(crate) fn fills_in_flight(&self) -> usize {
        self.fills.len()
    }
}

/// The secondary key of the variant a published response is, when it
/// varies and the request is for another one than `headers` selects.
pub(crate) fn other_variant(published: &Published, headers: &HeaderMap) -> Option<String> {
    let leader = published.vary_key.as_ref()?;
    let Vary::Fields(fields) = vary::parse(&published.head.headers) else {
        return None;
    };
    let mine = vary::secondary_key(&fields, headers);
    (*mine != **leader).then_some(mine)
}
