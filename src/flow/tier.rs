//! The shared tier's steps in a fill: before the origin, look in L2 and
//! coalesce with the other edges (fleet lock); after a storable fill, write
//! it to L2. Without L2 configured (or without the `l2` feature) every step
//! is a no-op. This is the seam where a further tier plugs into a fill.

use std::sync::Arc;

use http::HeaderMap;
#[cfg(feature = "l2")]
use tokio::time::Instant;

use super::task::FillTask;
#[cfg(feature = "l2")]
use super::task::{LeaderOutcome, Tx, tell};
use crate::cache::entry::Entry;
#[cfg(feature = "l2")]
use crate::cache::fill::{Published, Pushed, Served};
use crate::cache::key::CacheKey;
#[cfg(feature = "l2")]
use crate::cache::local::Stored;
use crate::edge::Edge;
#[cfg(feature = "l2")]
use crate::fleet::{Fleet, Found, L2Entry, LockGuard, Locked, Waited};
#[cfg(feature = "l2")]
use crate::policy::reuse::{self, Reuse};
#[cfg(feature = "l2")]
use crate::policy::vary;
use crate::policy::vary::Vary;

/// Rounds of "the lock was freed without an entry: try to take it".
#[cfg(feature = "l2")]
const LOCK_ATTEMPTS: u32 = 3;

/// What the fill does after looking at the shared tier.
pub(super) enum Before {
    /// L2 has a fresh entry: serve it, no origin fetch.
    #[cfg(feature = "l2")]
    Hit(Found),
    /// Fetch from the origin, then hand the result to [`Tier::write`].
    Fetch(Tier),
}

/// The fill's stake in the shared tier: the fleet generation when it began,
/// and the fleet lock if this edge holds it (released when dropped).
pub(super) struct Tier {
    #[cfg(feature = "l2")]
    fleet: Option<Arc<Fleet>>,
    #[cfg(feature = "l2")]
    stamp: u64,
    #[cfg(feature = "l2")]
    lock: Option<LockGuard>,
}

impl Tier {
    fn none() -> Self {
        #[cfg(feature = "l2")]
        return Tier { fleet: None, stamp: 0, lock: None };
        #[cfg(not(feature = "l2"))]
        Tier {}
    }

    /// Writes a stored entry to L2 (in the background) and then releases
    /// the fleet lock.
    #[cfg_attr(not(feature = "l2"), allow(unused_variables))]
    pub(super) fn write(self, edge: &Edge, primary: &CacheKey, entry: &Arc<Entry>, vary: &Vary, req: &HeaderMap) {
        #[cfg(feature = "l2")]
        if let Some(fleet) = &self.fleet {
            fleet.write(primary, entry, vary, req, self.stamp, self.lock, edge.now());
        }
    }
}

/// Without the `l2` feature there is no shared tier: fetch.
#[cfg(not(feature = "l2"))]
pub(super) async fn before_origin(_task: &FillTask) -> Before {
    Before::Fetch(Tier::none())
}

#[cfg(feature = "l2")]
/// Looks in L2 and, on a miss, takes the fleet lock or waits (bounded) for
/// the edge that holds it.
pub(super) async fn before_origin(task: &FillTask) -> Before {
    let Some(fleet) = task.edge.fleet.clone() else { return Before::Fetch(Tier::none()) };
    let stamp = fleet.stamp();
    let fetch = |lock| Before::Fetch(Tier { fleet: Some(Arc::clone(&fleet)), stamp, lock });
    let pragma = reuse::pragma_no_cache(&task.req_headers);
    // Redis down, or the client wants the origin's own answer (§5.2.1.4).
    if !fleet.is_up() || task.req_cc.no_cache.is_present() || pragma {
        return fetch(None);
    }
    let now = task.edge.now();
    let private = task.private();
    let usable = |found: Found| {
        let meta = &found.entry.head.meta;
        let shareable = !private || meta.shared;
        (shareable && matches!(reuse::decide(meta, &task.req_cc, pragma, now), Reuse::Fresh { .. })).then_some(found)
    };
    let fill_key = Arc::clone(task.writer.fill().key());
    let deadline = Instant::now() + fleet.lock_wait(task.behavior.origin.response_timeout());
    for _ in 0..LOCK_ATTEMPTS {
        if let Some(found) = fleet.lookup(&task.primary, &task.req_headers).await.and_then(usable) {
            return Before::Hit(found);
        }
        match fleet.try_lock(&fill_key).await {
            Locked::Acquired(guard) => return fetch(Some(guard)),
            Locked::Unavailable => return fetch(None),
            Locked::Busy => match fleet.wait_for_fill(&task.primary, &fill_key, &task.req_headers, deadline).await {
                Waited::Found(found) => {
                    return match usable(found) {
                        Some(found) => Before::Hit(found),
                        None => fetch(None),
                    };
                }
                Waited::LockFree => {}
                Waited::GiveUp => return fetch(None),
            },
        }
    }
    fetch(None)
}

#[cfg(feature = "l2")]
impl FillTask {
    /// Serves an L2 entry to the fill's readers and stores it in L1.
    pub(super) fn serve_l2<E>(self, found: Found, tx: Tx<E>) {
        let Found { entry, vary_key } = found;
        let published = Published { head: Arc::new(entry.head.clone()), served: Served::L2, vary_key };
        self.writer.publish_head(published.clone());
        tell(tx, LeaderOutcome::Shared(published));
        let L2Entry { head, tags, mut body, .. } = *entry;
        // The last chunk waits for the store (see `finish_with`).
        let tail = body.pop();
        for chunk in &body {
            if self.writer.push(chunk.clone()) == Pushed::Abandoned {
                // Every reader left: nothing to serve, and a partial body
                // must not be stored. Dropping the writer fails the fill.
                return;
            }
        }
        let FillTask { edge, primary, req_headers, writer, registration, seq, .. } = self;
        writer.finish_with(tail, |chunks| {
            let vary = vary::parse(&head.headers);
            let stored = Stored { head, chunks, vary: &vary, seq, tags };
            edge.cache.insert(&primary, stored, &req_headers);
        });
        drop(registration);
    }
}
