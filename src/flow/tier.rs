//! The further tiers' steps in a fill: before the origin, look on disk,
//! then in L2 and coalesce with the other edges (fleet lock); after a
//! storable fill, write it to L2 (the disk write runs with the pump, in
//! `task.rs`). Without a tier configured (or its feature) its steps are
//! no-ops. A disk hit is served through the fill like an origin response:
//! its readers coalesce, and it is admitted to memory when it fits there.

use std::sync::Arc;

use http::HeaderMap;
#[cfg(feature = "l2")]
use tokio::time::Instant;

use super::task::FillTask;
#[cfg(any(feature = "l2", feature = "disk"))]
use super::task::{LeaderOutcome, Tx, tell};
use crate::cache::entry::Entry;
#[cfg(any(feature = "l2", feature = "disk"))]
use crate::cache::fill::{Published, Pushed, Served};
use crate::cache::key::CacheKey;
#[cfg(any(feature = "l2", feature = "disk"))]
use crate::cache::local::Stored;
use crate::edge::Edge;
#[cfg(feature = "l2")]
use crate::fleet::{Fleet, Found, L2Entry, LockGuard, Locked, Waited};
#[cfg(any(feature = "l2", feature = "disk"))]
use crate::policy::reuse::{self, Reuse};
#[cfg(any(feature = "l2", feature = "disk"))]
use crate::policy::vary;
use crate::policy::vary::Vary;

/// Rounds of "the lock was freed without an entry: try to take it".
#[cfg(feature = "l2")]
const LOCK_ATTEMPTS: u32 = 3;

/// What the fill does after looking at the further tiers.
pub(super) enum Before {
    /// The disk tier has a fresh entry: serve it, no origin fetch.
    #[cfg(feature = "disk")]
    Disk(Box<crate::cache::disk::DiskHit>),
    /// L2 has a fresh entry: serve it, no origin fetch.
    #[cfg(feature = "l2")]
    Hit(Found),
    /// Fetch from the origin, then hand the result to [`Tier::write`].
    Fetch(Tier),
    /// Fetch, revalidating this stale disk copy (it also serves stale on
    /// error where allowed).
    #[cfg(feature = "disk")]
    Revalidate(Tier, super::task::Prior),
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

/// Looks on disk, then in the shared tier.
pub(super) async fn before_origin(task: &FillTask) -> Before {
    #[cfg(feature = "disk")]
    let stale = match disk_lookup(task).await {
        Some(DiskFound::Fresh(hit)) => return Before::Disk(hit),
        Some(DiskFound::Stale(prior)) => Some(prior),
        None => None,
    };
    match shared_tier(task).await {
        #[cfg(feature = "disk")]
        Before::Fetch(tier) if let Some(prior) = stale => Before::Revalidate(tier, prior),
        other => other,
    }
}

/// What the disk tier has for a fill.
#[cfg(feature = "disk")]
enum DiskFound {
    /// Fresh: serve it.
    Fresh(Box<crate::cache::disk::DiskHit>),
    /// Stale, small enough to have been read whole: revalidate it.
    Stale(super::task::Prior),
}

/// A disk entry this request may be served, or revalidate.
#[cfg(feature = "disk")]
async fn disk_lookup(task: &FillTask) -> Option<DiskFound> {
    let disk = task.edge.cache.disk()?;
    // A fill that already holds a stored copy revalidates that one.
    if task.prior.is_some() {
        return None;
    }
    let pragma = reuse::pragma_no_cache(&task.req_headers);
    let hit = disk.lookup(&task.primary, &task.req_headers).await?;
    let meta = &hit.head.meta;
    if task.private() && !meta.shared {
        return None;
    }
    let fresh = matches!(reuse::decide(meta, &task.req_cc, pragma, task.edge.now()), Reuse::Fresh { .. });
    if fresh {
        return Some(DiskFound::Fresh(Box::new(hit)));
    }
    // Stale (or the client asked for the origin's answer): with the whole
    // body read, it is a stored response to revalidate (RFC 9111 §4.3).
    let whole = hit.first.iter().map(|b| b.len() as u64).sum::<u64>() == hit.body.len();
    if !whole || hit.body.len() > task.edge.cache.max_entry_bytes() {
        return None;
    }
    let crate::cache::disk::DiskHit { head, tags, first, .. } = hit;
    let entry = Arc::new(Entry::new(head, &first, task.seq, tags));
    Some(DiskFound::Stale(super::task::Prior { entry, store_key: Arc::clone(&task.primary) }))
}

/// Without the `l2` feature there is no shared tier: fetch.
#[cfg(not(feature = "l2"))]
async fn shared_tier(_task: &FillTask) -> Before {
    Before::Fetch(Tier::none())
}

#[cfg(feature = "l2")]
/// Looks in L2 and, on a miss, takes the fleet lock or waits (bounded) for
/// the edge that holds it.
async fn shared_tier(task: &FillTask) -> Before {
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
        let published = Published { head: Arc::new(entry.head.clone()), served: Served::L2, vary_key, file: None };
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

#[cfg(feature = "disk")]
impl FillTask {
    /// Serves a disk entry to the fill's readers, block by block (each
    /// read off the async workers, each checked before it is sent), and
    /// admits it to memory when it fits there. A block that fails its
    /// check ends the body (readers see it cut, as with an origin that
    /// fails mid-body) and the entry is deleted.
    pub(super) async fn serve_disk<E>(self, hit: Box<crate::cache::disk::DiskHit>, tx: Tx<E>) {
        use std::collections::VecDeque;

        let crate::cache::disk::DiskHit { head, tags, vary_key, first, body } = *hit;
        if body.len() > self.edge.cache.max_entry_bytes() {
            // Not for memory: every reader reads the file itself, at its
            // own pace and from its own offset (a range reads only its part).
            let file = Some(crate::cache::disk::FileSource::Entry(Arc::new(body)));
            let published = Published { head: Arc::new(head), served: Served::Disk, vary_key, file };
            self.writer.publish_head(published.clone());
            tell(tx, LeaderOutcome::Shared(published));
            let FillTask { writer, registration, .. } = self;
            writer.complete();
            drop(registration);
            return;
        }
        let published = Published { head: Arc::new(head), served: Served::Disk, vary_key, file: None };
        self.writer.publish_head(published.clone());
        tell(tx, LeaderOutcome::Shared(published.clone()));
        let blocks = body.blocks();
        let body = Arc::new(body);
        let mut ready: VecDeque<bytes::Bytes> = first.into();
        let mut next = ready.len();
        let mut tail = None;
        loop {
            let block = match ready.pop_front() {
                Some(block) => block,
                None if next < blocks => {
                    let (b, i) = (Arc::clone(&body), next);
                    match tokio::task::spawn_blocking(move || b.read(i)).await {
                        Ok(Ok(block)) => {
                            next += 1;
                            block
                        }
                        // Dropping the writer fails the fill: nothing stored.
                        _ => return,
                    }
                }
                None => break,
            };
            if ready.is_empty() && next >= blocks {
                tail = Some(block);
                break;
            }
            std::future::poll_fn(|cx| self.writer.poll_room(cx)).await;
            match self.writer.push(block) {
                Pushed::Ok => {}
                Pushed::Overflowed => self.edge.cache.unlist(self.writer.fill()),
                Pushed::Abandoned => return,
            }
        }
        let FillTask { edge, primary, req_headers, writer, registration, seq, .. } = self;
        // Admitted to memory (where quick_cache's own policy decides what
        // stays).
        writer.finish_with(tail, |chunks| {
            let head = crate::cache::entry::Head::clone(&published.head);
            let vary = vary::parse(&head.headers);
            let stored = Stored { head, chunks, vary: &vary, seq, tags };
            edge.cache.insert(&primary, stored, &req_headers);
        });
        drop(registration);
    }
}
