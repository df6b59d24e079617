//! Reading and writing entries in L2.
//!
//! Keys: `PREFIX:{ID}:m` holds the meta value (with the body inline when it
//! is at most `chunk_bytes`), `PREFIX:{ID}:c:N` the body chunks, where ID is
//! the 128-bit xxh3 of the cache key (the key itself is inside the value
//! and checked on read). A URI whose responses vary has a marker at its
//! primary key naming the `Vary` fields; each variant lives under the key
//! `primary + secondary key`, as in L1. Each path and each purge tag has an
//! index set (`PREFIX:ix:p:HASH`, `PREFIX:ix:t:HASH`) listing its entries,
//! so invalidations by exact path or tag delete them from Redis.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::HeaderMap;
use redis::AsyncCommands as _;

use super::{Fleet, LockGuard, entry_id, random_u64};
use crate::cache::codec::{self, L2Entry, Meta};
use crate::cache::entry::Entry;
use crate::cache::key::{self, CacheKey};
use crate::cache::variants;
use crate::observe::metrics::L2Result;
use crate::policy::vary::Vary;

/// Chunk values fetched per round trip.
const CHUNKS_PER_TRIP: usize = 4;

/// Chunk values outlive their meta value by this much, so a reader that
/// found the meta finds the chunks.
const CHUNK_GRACE: Duration = Duration::from_secs(5);

/// An entry found in L2.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) entry: Box<L2Entry>,
    /// For a response that varies: the secondary key of its variant.
    pub(crate) vary_key: Option<Arc<str>>,
}

impl Fleet {
    /// The L2 entry for a request to `primary`, if Redis has a sound one
    /// that no invalidation covers. Every problem is a miss.
    pub(crate) async fn lookup(&self, primary: &str, req_headers: &HeaderMap) -> Option<Found> {
        let found = self.lookup_inner(primary, req_headers).await;
        let result = match &found {
            Ok(Some(_)) => L2Result::Hit,
            Ok(None) => L2Result::Miss,
            Err(r) => *r,
        };
        self.metrics.l2_lookup(result);
        found.ok().flatten()
    }

    /// [`lookup`](Self::lookup) without counting (for polling).
    /// Whether the shared tier holds a usable value for a request to
    /// `primary` with `req_headers` (its head only is read; not counted as
    /// a lookup); `None` when Redis does not answer or the value is damaged.
    pub(crate) async fn holds(&self, primary: &str, req_headers: &HeaderMap) -> Option<bool> {
        let (key, meta) = match self.get_meta(primary).await.ok()? {
            None => return Some(false),
            Some(Meta::Variants(fields)) => {
                let (key, _) = variants::shared_key(primary, &fields, req_headers);
                (key.clone(), self.get_meta(&key).await.ok()?)
            }
            Some(m) => (primary.to_owned(), Some(m)),
        };
        match meta {
            Some(Meta::Entry { entry, .. }) => Some(!self.generations().is_purged(entry.stamp, &key, &entry.tags)),
            _ => Some(false),
        }
    }

    pub(super) async fn lookup_inner(&self, primary: &str, req_headers: &HeaderMap) -> Result<Option<Found>, L2Result> {
        let Some(meta) = self.get_meta(primary).await? else { return Ok(None) };
        let (key, meta, vary_key) = match meta {
            Meta::Variants(fields) => {
                let (key, sk) = variants::shared_key(primary, &fields, req_headers);
                match self.get_meta(&key).await? {
                    Some(m @ Meta::Entry { .. }) => (key, m, Some(Arc::from(sk))),
                    _ => return Ok(None),
                }
            }
            m => (primary.to_owned(), m, None),
        };
        let Meta::Entry { mut entry, chunk_lens } = meta else { return Ok(None) };
        if !chunk_lens.is_empty() {
            entry.body = self.get_chunks(&key, entry.write_id, &chunk_lens).await?;
        }
        if self.generations().is_purged(entry.stamp, &key, &entry.tags) {
            // Covered by an invalidation this value predates: remove it.
            let keys = self.value_keys(&entry_id(&key), chunk_lens.len());
            let _ = self.redis.call(|mut c| async move { c.del::<_, ()>(keys).await }).await;
            return Err(L2Result::Purged);
        }
        Ok(Some(Found { entry, vary_key }))
    }

    async fn get_meta(&self, key: &str) -> Result<Option<Meta>, L2Result> {
        let name = self.entry_key(key, "m");
        let value: Option<Vec<u8>> =
            self.redis.call(|mut c| async move { c.get(name).await }).await.map_err(|_| L2Result::Error)?;
        let Some(value) = value else { return Ok(None) };
        match codec::decode_meta(key, &Bytes::from(value)) {
            Ok(meta) => Ok(Some(meta)),
            Err(e) => {
                tracing::debug!(reason = e.0, "corrupt L2 value treated as a miss");
                Err(L2Result::Corrupt)
            }
        }
    }

    async fn get_chunks(&self, key: &str, write_id: u64, lens: &[u32]) -> Result<Vec<Bytes>, L2Result> {
        let id = entry_id(key);
        let mut body = Vec::with_capacity(lens.len());
        for (batch_no, batch) in lens.chunks(CHUNKS_PER_TRIP).enumerate() {
            let first = batch_no * CHUNKS_PER_TRIP;
            let mut pipe = redis::pipe();
            for i in first..first + batch.len() {
                pipe.get(self.entry_key_by_id(&id, &format!("c:{i}")));
            }
            let values: Vec<Option<Vec<u8>>> = self
                .redis
                .call(|mut c| async move { pipe.query_async(&mut c).await })
                .await
                .map_err(|_| L2Result::Error)?;
            for (j, (value, len)) in values.into_iter().zip(batch).enumerate() {
                let index = u32::try_from(first + j).map_err(|_| L2Result::Corrupt)?;
                let value = value.ok_or(L2Result::Corrupt)?;
                let data = codec::decode_chunk(&Bytes::from(value), write_id, index, *len).map_err(|e| {
                    tracing::debug!(reason = e.0, "corrupt L2 chunk treated as a miss");
                    L2Result::Corrupt
                })?;
                body.push(data);
            }
        }
        Ok(body)
    }

    /// Deletes the L2 entries stored under these exact keys, in the
    /// background (an unsafe request changed them, RFC 9111 §4.4). Their
    /// meta values are enough: chunks without one are never read.
    pub(crate) fn forget(self: &Arc<Self>, keys: &[CacheKey]) {
        if !self.is_up() || keys.is_empty() {
            return;
        }
        let names: Vec<String> = keys.iter().map(|k| self.entry_key(k, "m")).collect();
        let fleet = Arc::clone(self);
        tokio::spawn(async move {
            for name in names {
                let _ = fleet.redis.call(|mut c| async move { c.del::<_, ()>(name).await }).await;
            }
        });
    }

    /// The meta key and chunk keys of an entry.
    pub(super) fn value_keys(&self, id: &str, chunks: usize) -> Vec<String> {
        let mut keys = vec![self.entry_key_by_id(id, "m")];
        keys.extend((0..chunks).map(|i| self.entry_key_by_id(id, &format!("c:{i}"))));
        keys
    }

    /// Writes a stored entry to L2 in the background (clients never wait
    /// for it), then releases the fleet lock, if held, so that waiting
    /// edges find the entry.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write(
        self: &Arc<Self>,
        primary: &CacheKey,
        entry: &Arc<Entry>,
        vary: &Vary,
        req_headers: &HeaderMap,
        stamp: u64,
        lock: Option<LockGuard>,
        now: SystemTime,
    ) {
        let meta = &entry.head().meta;
        let ttl = meta.remaining(now) + meta.stale_horizon();
        if ttl < Duration::from_secs(1) || entry.weight() > self.cfg.max_entry_bytes || !self.is_up() {
            return;
        }
        let (key, marker) = match vary {
            Vary::Fields(fields) => (variants::shared_key(primary, fields, req_headers).0, Some(fields.clone())),
            _ => (primary.to_string(), None),
        };
        let l2 = L2Entry {
            write_id: random_u64(),
            stamp,
            head: entry.head().clone(),
            tags: entry.tags().into(),
            body: entry.body().to_vec(),
        };
        let fleet = Arc::clone(self);
        let primary = primary.to_string();
        tokio::spawn(async move {
            fleet.put(&primary, &key, &l2, marker, ttl).await;
            drop(lock);
        });
    }

    async fn put(&self, primary: &str, key: &str, l2: &L2Entry, marker: Option<Vec<http::HeaderName>>, ttl: Duration) {
        let chunk_bytes = usize::try_from(self.cfg.chunk_bytes).unwrap_or(usize::MAX);
        let Some((meta, chunks)) = codec::encode_entry(key, l2, chunk_bytes) else { return };
        let id = entry_id(key);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let chunk_ms = ttl_ms.saturating_add(CHUNK_GRACE.as_millis() as u64);
        let mut pipe = redis::pipe();
        for (i, chunk) in chunks.iter().enumerate() {
            pipe.cmd("SET")
                .arg(self.entry_key_by_id(&id, &format!("c:{i}")))
                .arg(chunk.as_ref())
                .arg("PX")
                .arg(chunk_ms)
                .ignore();
        }
        // The meta value last: a reader that finds it finds the chunks.
        pipe.cmd("SET").arg(self.entry_key_by_id(&id, "m")).arg(meta.as_ref()).arg("PX").arg(ttl_ms).ignore();
        if self.redis.call(|mut c| async move { pipe.query_async::<()>(&mut c).await }).await.is_err() {
            return;
        }
        if let Some(fields) = marker {
            let value = codec::encode_variants(primary, &fields);
            let name = self.entry_key(primary, "m");
            let _ =
                self.redis.call(|mut c| async move { c.pset_ex::<_, _, ()>(name, value.as_ref(), ttl_ms).await }).await;
            self.index(primary, &entry_id(primary), 0, &[], ttl).await;
        }
        self.index(key, &id, chunks.len(), &l2.tags, ttl).await;
        self.metrics.l2_write();
    }

    /// Adds an entry to its path index and tag indexes (members
    /// `ID<TAB>CHUNKS<TAB>HOST`), which live at least as long as it does.
    async fn index(&self, key: &str, id: &str, chunks: usize, tags: &[Box<str>], ttl: Duration) {
        let member = format!("{id}\t{chunks}\t{}", key::key_host(key));
        let path = key::key_path(key);
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let mut sets = vec![self.index_key("p", path)];
        sets.extend(tags.iter().map(|t| self.index_key("t", t)));
        let secs = ttl.as_secs().max(1) + CHUNK_GRACE.as_secs();
        for set in sets {
            let mut pipe = redis::pipe();
            pipe.sadd(&set, &member).ignore();
            // A new set gets the expiry; an existing one only a later one.
            pipe.cmd("EXPIRE").arg(&set).arg(secs).arg("NX").ignore();
            pipe.cmd("EXPIRE").arg(&set).arg(secs).arg("GT").ignore();
            if self.redis.call(|mut c| async move { pipe.query_async::<()>(&mut c).await }).await.is_err() {
                return;
            }
        }
    }
}
