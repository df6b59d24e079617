//! Fleet-wide fill coalescing: a short-lived lock key per cache key.
//!
//! The edge that takes the lock (`SET key token NX PX ttl`) fetches from
//! the origin; a task refreshes the lock every third of its expiry while
//! the fill runs, and it is deleted (only if still ours) once the entry is
//! in L2 or the response turned out not to be storable. The other edges
//! poll L2 for the entry (bounded), and fetch on their own when the lock
//! disappears without an entry or the wait runs out. A crashed filler's
//! lock expires by itself.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use redis::AsyncCommands as _;
use tokio::time::Instant;

use super::store::Found;
use super::{Fleet, random_u64};

/// Deletes the lock only if it is still ours.
const RELEASE: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
/// Extends the lock only if it is still ours.
const REFRESH: &str =
    r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

/// First and longest pause between two looks at L2 while another edge fills.
const POLL_MIN: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(100);

/// The outcome of trying to take the lock.
pub(crate) enum Locked {
    /// Ours: fetch from the origin.
    Acquired(LockGuard),
    /// Another edge is filling this key.
    Busy,
    /// Redis is unavailable: fetch without it.
    Unavailable,
}

/// The outcome of waiting for another edge's fill.
pub(crate) enum Waited {
    /// The entry appeared in L2.
    Found(Found),
    /// The lock is gone and no entry appeared (not storable, or the filler
    /// failed): try to take the lock.
    LockFree,
    /// The wait ran out, or Redis became unavailable: fetch alone.
    GiveUp,
}

/// A held lock. Dropping it stops the refreshing and deletes the lock.
pub(crate) struct LockGuard {
    fleet: Arc<Fleet>,
    key: String,
    token: String,
    refresher: tokio::task::JoinHandle<()>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.refresher.abort();
        let fleet = Arc::clone(&self.fleet);
        let key = std::mem::take(&mut self.key);
        let token = std::mem::take(&mut self.token);
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(async move {
                let script = redis::Script::new(RELEASE);
                let _ = fleet
                    .redis
                    .call(|mut c| async move { script.key(key).arg(token).invoke_async::<i64>(&mut c).await })
                    .await;
            });
        }
    }
}

impl Fleet {
    /// Tries to take the fill lock for `fill_key`.
    pub(crate) async fn try_lock(self: &Arc<Self>, fill_key: &str) -> Locked {
        let key = self.entry_key(fill_key, "lock");
        let token = format!("{}:{:016x}", self.edge_id, random_u64());
        let ttl_ms = u64::try_from(self.cfg.lock_ttl.as_millis()).unwrap_or(u64::MAX);
        let (k, t) = (key.clone(), token.clone());
        let set = self
            .redis
            .call(|mut c| async move {
                redis::cmd("SET")
                    .arg(k)
                    .arg(t)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<Option<String>>(&mut c)
                    .await
            })
            .await;
        match set {
            Ok(Some(_)) => {
                let refresher = tokio::spawn(refresh(Arc::clone(self), key.clone(), token.clone(), ttl_ms));
                Locked::Acquired(LockGuard { fleet: Arc::clone(self), key, token, refresher })
            }
            Ok(None) => Locked::Busy,
            Err(_) => Locked::Unavailable,
        }
    }

    /// Waits until the entry for `primary` appears in L2, the lock on
    /// `fill_key` is gone, or `deadline` passes.
    pub(crate) async fn wait_for_fill(
        &self,
        primary: &str,
        fill_key: &str,
        req_headers: &HeaderMap,
        deadline: Instant,
    ) -> Waited {
        self.metrics.fleet_wait();
        let lock = self.entry_key(fill_key, "lock");
        let mut pause = POLL_MIN;
        loop {
            if Instant::now() + pause > deadline {
                return Waited::GiveUp;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(POLL_MAX);
            if let Ok(Some(found)) = self.lookup_inner(primary, req_headers).await {
                return Waited::Found(found);
            }
            let l = lock.clone();
            match self.redis.call(|mut c| async move { c.exists::<_, bool>(l).await }).await {
                Ok(true) => {}
                Ok(false) => {
                    // The filler may have written the entry just before
                    // releasing: look once more.
                    return match self.lookup(primary, req_headers).await {
                        Some(found) => Waited::Found(found),
                        None => Waited::LockFree,
                    };
                }
                Err(_) => return Waited::GiveUp,
            }
        }
    }
}

async fn refresh(fleet: Arc<Fleet>, key: String, token: String, ttl_ms: u64) {
    let every = Duration::from_millis((ttl_ms / 3).max(10));
    loop {
        tokio::time::sleep(every).await;
        let script = redis::Script::new(REFRESH);
        let (k, t) = (key.clone(), token.clone());
        let kept = fleet
            .redis
            .call(|mut c| async move { script.key(k).arg(t).arg(ttl_ms).invoke_async::<i64>(&mut c).await })
            .await;
        if !matches!(kept, Ok(1)) {
            return;
        }
    }
}
