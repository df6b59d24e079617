//! Beyond one machine: a shared L2 tier on Redis, fleet-wide fill
//! coalescing, and invalidations that reach every edge.
//!
//! - **L2** (`store.rs`): on an L1 miss the fill task looks in Redis before
//!   the origin (in-process coalescing already makes that one Redis lookup
//!   per key per edge at a time); a complete, storable fill is written to
//!   Redis in the background, with an expiry of its remaining freshness
//!   plus its stale windows. Values are self-checking (`cache/codec.rs`).
//! - **Fleet lock** (`lock.rs`): before the origin fetch an edge takes a
//!   short-lived lock key (`SET NX PX`, refreshed while filling); other
//!   edges wait for the entry to appear in L2 (bounded), then fetch alone.
//! - **Purge fan-out** (`fanout.rs`): an invalidation gets a generation
//!   number from Redis, goes into a capped log and onto a pub/sub channel;
//!   every edge applies it to its L1. Entries in L2 carry the generation
//!   their fill began at (`state.rs`), so a purge covers them even if they
//!   were written after it.
//! - **Redis down** (`client.rs`): every command has a short timeout; a
//!   failure marks Redis down (logged once per interval, counted), and the
//!   edge serves from L1 and the origin until a background probe finds
//!   Redis back and the generation state is resynchronised.

mod client;
pub(crate) mod config;
mod fanout;
mod lock;
mod state;
mod store;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use xxhash_rust::xxh3::xxh3_128;

pub(crate) use crate::cache::codec::L2Entry;
pub(crate) use lock::{LockGuard, Locked, Waited};
pub(crate) use store::Found;

use crate::cache::local::LocalCache;
use crate::cache::purge::{Mode, Scope};
pub(crate) use crate::clock::random_u64;
use crate::observe::metrics::SharedMetrics;
use client::Redis;
use config::L2Config;
use state::Generations;

/// Invalidations queued for publishing while Redis is unreachable.
const PUBLISH_QUEUE: usize = 4096;

/// One edge's membership in a fleet.
pub(crate) struct Fleet {
    redis: Redis,
    cfg: L2Config,
    edge_id: Arc<str>,
    generations: Mutex<Generations>,
    started: AtomicBool,
    publish_tx: mpsc::Sender<(Scope, Mode)>,
    publish_rx: Mutex<Option<mpsc::Receiver<(Scope, Mode)>>>,
    metrics: SharedMetrics,
    /// The edge's own cache, for invalidations from the other edges.
    cache: Weak<LocalCache>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet").field("edge_id", &self.edge_id).field("redis", &self.redis).finish_non_exhaustive()
    }
}

impl Fleet {
    /// Sets up the clients (no IO until started).
    pub(crate) fn new(
        cfg: &L2Config,
        edge_id: &str,
        metrics: SharedMetrics,
        cache: Weak<LocalCache>,
    ) -> redis::RedisResult<Self> {
        let redis = Redis::new(cfg, Arc::clone(&metrics))?;
        let (publish_tx, publish_rx) = mpsc::channel(PUBLISH_QUEUE);
        Ok(Fleet {
            redis,
            cfg: cfg.clone(),
            edge_id: Arc::from(edge_id),
            generations: Mutex::new(Generations::new(cfg.purge_log_len)),
            started: AtomicBool::new(false),
            publish_tx,
            publish_rx: Mutex::new(Some(publish_rx)),
            metrics,
            cache,
        })
    }

    /// Starts the background tasks (subscription, probes, publisher) once,
    /// when a Tokio runtime is at hand. Cheap after the first call.
    pub(crate) fn ensure_started(self: &Arc<Self>) {
        if self.started.load(Ordering::Acquire) || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Err(e) = self.redis.start() {
            tracing::error!(error = %e, "L2 disabled: cannot set up the Redis connection");
            return;
        }
        let weak: Weak<Fleet> = Arc::downgrade(self);
        tokio::spawn(fanout::supervise(weak.clone()));
        let rx = self.publish_rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(rx) = rx {
            tokio::spawn(fanout::publisher(weak, rx));
        }
    }

    /// `true` while Redis answers and this edge is in sync with the fleet.
    pub(crate) fn is_up(&self) -> bool {
        self.redis.is_up()
    }

    /// The stamp for a fill that begins now (see `state.rs`).
    pub(crate) fn stamp(&self) -> u64 {
        self.generations().stamp()
    }

    /// How long to wait for another edge's fill (default: `origin_timeout`).
    pub(crate) fn lock_wait(&self, origin_timeout: Duration) -> Duration {
        self.cfg.lock_wait.unwrap_or(origin_timeout)
    }

    /// Queues an invalidation for the other edges (published as soon as
    /// Redis is reachable).
    pub(crate) fn publish(&self, scope: Scope, mode: Mode) {
        // A key predicate (a reload dropping a changed distribution's
        // entries) is local: every edge reloads its own configuration.
        if matches!(scope, Scope::Keys(_)) {
            return;
        }
        if self.publish_tx.try_send((scope, mode)).is_err() {
            tracing::warn!("fleet invalidation queue full; an invalidation reaches this edge only");
        }
    }

    fn generations(&self) -> MutexGuard<'_, Generations> {
        self.generations.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `PREFIX:{ID}:SUFFIX` for a cache key: the hash tag keeps an entry's
    /// values and its lock in one cluster slot.
    fn entry_key(&self, key: &str, suffix: &str) -> String {
        format!("{}:{{{}}}:{suffix}", self.cfg.key_prefix, entry_id(key))
    }

    fn entry_key_by_id(&self, id: &str, suffix: &str) -> String {
        format!("{}:{{{id}}}:{suffix}", self.cfg.key_prefix)
    }

    /// Fleet-wide keys share one slot (`{fleet}`), so one script can use them.
    fn fleet_key(&self, suffix: &str) -> String {
        format!("{}:{{fleet}}:{suffix}", self.cfg.key_prefix)
    }

    fn channel(&self) -> String {
        format!("{}:purges", self.cfg.key_prefix)
    }

    /// The set listing the entries of one path (or tag).
    fn index_key(&self, kind: &str, name: &str) -> String {
        format!("{}:ix:{kind}:{:032x}", self.cfg.key_prefix, xxh3_128(name.as_bytes()))
    }
}

/// A stable id for a cache key (the same on every edge and build).
fn entry_id(key: &str) -> String {
    format!("{:032x}", xxh3_128(key.as_bytes()))
}
