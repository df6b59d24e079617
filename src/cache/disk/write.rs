//! Writing to the disk tier. A fill's chunks go to a writer thread through
//! a channel (the fill's pump never does file IO, and never waits for the
//! disk while the fill keeps the whole body in memory anyway); the thread
//! appends them to a temporary file and, on commit, adds the trailer and
//! renames it into place, so a reader sees a whole file or none. Jobs for
//! one key always go to the same thread, in order.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::sync::oneshot;
use xxhash_rust::xxh3::Xxh3;

use super::Shared;
use super::format::{self, BLOCK_BYTES};
use super::index::Item;
use super::purgelog;

/// A write waits for room once this many of its bytes are queued (only
/// when the fill does not hold the body itself: see [`DiskWrite::poll_room`]).
const QUEUE_BYTES: u64 = 8 * 1024 * 1024;

/// Work for a writer thread.
pub(super) enum Job {
    Begin {
        id: u64,
        state: Arc<WriteState>,
    },
    Chunk {
        id: u64,
        data: Bytes,
    },
    Commit {
        id: u64,
        commit: Box<Commit>,
    },
    Abort {
        id: u64,
    },
    /// A small file written whole (a `Vary` marker).
    Whole {
        key: String,
        meta: Bytes,
        written: u64,
    },
    /// Answers once every job queued before it has run.
    Barrier(std::sync::mpsc::Sender<()>),
    /// Files to delete (purged, evicted, outdated).
    Delete(Vec<u128>),
    /// An invalidation: persisted (when it can be), then applied to the
    /// index and the files.
    Purge {
        bytes: Option<Vec<u8>>,
        record: purgelog::Record,
    },
}

/// What completes a write.
pub(super) struct Commit {
    pub(super) key: String,
    pub(super) meta: Bytes,
    pub(super) tags: Box<[Box<str>]>,
    pub(super) written: u64,
    pub(super) done: Option<oneshot::Sender<bool>>,
}

/// Where a write stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Writing,
    Committed,
    Failed,
}

/// Shared between a write's async side, its thread, and the readers that
/// follow it from the file.
#[derive(Default)]
pub(crate) struct WriteState {
    queued: AtomicU64,
    failed: AtomicBool,
    committed: AtomicBool,
    waker: Mutex<Option<Waker>>,
    /// Bytes of the body in the file.
    persisted: AtomicU64,
    readers: Mutex<Vec<Waker>>,
    /// The file, for readers (valid after its rename, and after a failed
    /// write's file is deleted: then they stop at `Failed`).
    file: OnceLock<File>,
}

impl WriteState {
    pub(crate) fn outcome(&self) -> Outcome {
        if self.failed.load(Ordering::Acquire) {
            Outcome::Failed
        } else if self.committed.load(Ordering::Acquire) {
            Outcome::Committed
        } else {
            Outcome::Writing
        }
    }

    /// Ready with the bytes in the file once there are more than `offset`
    /// (or the write ended: an error if it failed or has no such byte).
    pub(crate) fn poll_persisted(&self, offset: u64, cx: &mut Context<'_>) -> Poll<Result<u64, ()>> {
        let check = || {
            let persisted = self.persisted.load(Ordering::Acquire);
            match self.outcome() {
                Outcome::Failed => Some(Err(())),
                _ if persisted > offset => Some(Ok(persisted)),
                Outcome::Committed => Some(Err(())),
                Outcome::Writing => None,
            }
        };
        if let Some(r) = check() {
            return Poll::Ready(r);
        }
        let mut readers = self.readers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !readers.iter().any(|w| w.will_wake(cx.waker())) {
            readers.push(cx.waker().clone());
        }
        match check() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }

    /// Reads `len` bytes at `offset` of the file (blocking).
    pub(crate) fn read_at(&self, offset: u64, len: u64) -> std::io::Result<Bytes> {
        use std::os::unix::fs::FileExt;
        let file = self.file.get().ok_or_else(|| std::io::Error::other("no file"))?;
        let mut buf = vec![0u8; usize::try_from(len).map_err(std::io::Error::other)?];
        file.read_exact_at(&mut buf, offset)?;
        Ok(Bytes::from(buf))
    }

    fn wake_readers(&self) {
        let wakers = std::mem::take(&mut *self.readers.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for w in wakers {
            w.wake();
        }
    }

    fn progress(&self, n: u64) {
        self.persisted.fetch_add(n, Ordering::AcqRel);
        self.wake_readers();
    }

    fn committed(&self) {
        self.committed.store(true, Ordering::Release);
        self.wake_readers();
    }

    fn drained(&self, n: u64) {
        let left = self.queued.fetch_sub(n, Ordering::AcqRel) - n;
        if left < QUEUE_BYTES {
            self.wake();
        }
    }

    fn fail(&self) {
        self.failed.store(true, Ordering::Release);
        self.wake();
        self.wake_readers();
    }

    fn wake(&self) {
        if let Some(w) = self.waker.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            w.wake();
        }
    }
}

/// A fill's write to the disk tier. Dropped without
/// [`commit`](Self::commit), the temporary file is deleted.
pub(crate) struct DiskWrite {
    pub(super) shared: Arc<Shared>,
    pub(super) tx: Sender<Job>,
    pub(super) id: u64,
    pub(super) state: Arc<WriteState>,
    pub(super) key: String,
    pub(super) written: u64,
    pub(super) len: u64,
    pub(super) done: bool,
}

impl DiskWrite {
    /// What readers following this write from its file read.
    pub(crate) fn state(&self) -> &Arc<WriteState> {
        &self.state
    }

    /// Queues a body chunk. A body that outgrows the tier's largest object
    /// abandons the write.
    pub(crate) fn chunk(&mut self, data: &Bytes) {
        if self.done || data.is_empty() {
            return;
        }
        self.len += data.len() as u64;
        if self.len > self.shared.cfg.largest_object() || self.state.failed.load(Ordering::Acquire) {
            self.abandon();
            return;
        }
        self.state.queued.fetch_add(data.len() as u64, Ordering::AcqRel);
        if self.tx.send(Job::Chunk { id: self.id, data: data.clone() }).is_err() {
            self.done = true;
        }
    }

    /// Ready while fewer than 8 MiB of this write wait for the thread (or
    /// once the write failed). A fill that keeps only a window of the body
    /// waits here as it waits for its slowest reader: otherwise the queue
    /// would hold what the window does not.
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        let ready = || {
            self.done
                || self.state.failed.load(Ordering::Acquire)
                || self.state.queued.load(Ordering::Acquire) < QUEUE_BYTES
        };
        if ready() {
            return Poll::Ready(());
        }
        *self.state.waker.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(cx.waker().clone());
        if ready() { Poll::Ready(()) } else { Poll::Pending }
    }

    /// Completes the write with the response's meta value; resolves to
    /// whether the entry is now on disk.
    pub(crate) fn commit(mut self, meta: Bytes, tags: Box<[Box<str>]>) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        if self.done {
            let _ = tx.send(false);
            return rx;
        }
        self.done = true;
        let commit = Commit { key: std::mem::take(&mut self.key), meta, tags, written: self.written, done: Some(tx) };
        let _ = self.tx.send(Job::Commit { id: self.id, commit: Box::new(commit) });
        rx
    }

    /// When the fill began (what purges are compared with).
    pub(crate) fn began(&self) -> std::time::SystemTime {
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(self.written)
    }

    fn abandon(&mut self) {
        if !self.done {
            self.done = true;
            let _ = self.tx.send(Job::Abort { id: self.id });
        }
    }
}

impl Drop for DiskWrite {
    fn drop(&mut self) {
        self.abandon();
    }
}

/// A write in progress on a thread.
struct Open {
    state: Arc<WriteState>,
    path: PathBuf,
    file: Option<File>,
    len: u64,
    block: Xxh3,
    block_fill: u32,
    sums: Vec<u64>,
}

impl Open {
    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        let Some(file) = self.file.as_mut() else { return Ok(()) };
        file.write_all(data)?;
        self.len += data.len() as u64;
        let mut rest = data;
        while !rest.is_empty() {
            let room = (BLOCK_BYTES - self.block_fill) as usize;
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.block.update(now);
            self.block_fill += now.len() as u32;
            if self.block_fill == BLOCK_BYTES {
                self.sums.push(self.block.digest());
                self.block.reset();
                self.block_fill = 0;
            }
            rest = later;
        }
        Ok(())
    }
}

/// A writer thread's loop: runs until every sender is gone.
pub(super) fn run(shared: Arc<Shared>, jobs: Receiver<Job>) {
    let mut open: HashMap<u64, Open> = HashMap::new();
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Begin { id, state } => {
                let path = shared.tmp.join(format!("{id:016x}"));
                let created = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path);
                let file = match created {
                    Ok(f) => {
                        if let Ok(reader) = f.try_clone() {
                            let _ = state.file.set(reader);
                        }
                        Some(f)
                    }
                    Err(e) => {
                        shared.io_error("create a temporary file", &e);
                        state.fail();
                        None
                    }
                };
                open.insert(
                    id,
                    Open { state, path, file, len: 0, block: Xxh3::new(), block_fill: 0, sums: Vec::new() },
                );
            }
            Job::Chunk { id, data } => {
                let Some(w) = open.get_mut(&id) else { continue };
                match w.write(&data) {
                    Ok(()) if w.file.is_some() => w.state.progress(data.len() as u64),
                    Ok(()) => {}
                    Err(e) => {
                        shared.io_error("write", &e);
                        w.file = None;
                        let _ = std::fs::remove_file(&w.path);
                        w.state.fail();
                    }
                }
                w.state.drained(data.len() as u64);
            }
            Job::Abort { id } => {
                if let Some(w) = open.remove(&id) {
                    drop(w.file);
                    let _ = std::fs::remove_file(&w.path);
                    w.state.fail();
                    shared.stats.writes_abandoned.fetch_add(1, Ordering::Relaxed);
                }
            }
            Job::Commit { id, mut commit } => {
                let ok = match open.remove(&id) {
                    Some(w) => {
                        let state = Arc::clone(&w.state);
                        let ok = commit_one(&shared, w, &commit);
                        if ok {
                            state.committed()
                        } else {
                            state.fail()
                        }
                        ok
                    }
                    None => false,
                };
                if let Some(done) = commit.done.take() {
                    let _ = done.send(ok);
                }
            }
            Job::Whole { key, meta, written } => {
                let path = shared.tmp.join(format!("m{:016x}", crate::clock::random_u64()));
                let w = Open {
                    state: Arc::default(),
                    path: path.clone(),
                    file: None,
                    len: 0,
                    block: Xxh3::new(),
                    block_fill: 0,
                    sums: Vec::new(),
                };
                let w = match File::create(&path) {
                    Ok(f) => Open { file: Some(f), ..w },
                    Err(e) => {
                        shared.io_error("create a temporary file", &e);
                        continue;
                    }
                };
                let commit = Commit { key, meta, tags: Box::new([]), written, done: None };
                commit_one(&shared, w, &commit);
            }
            Job::Barrier(done) => {
                let _ = done.send(());
            }
            Job::Delete(hashes) => {
                for h in hashes {
                    shared.delete_file(h);
                }
            }
            Job::Purge { bytes, record } => {
                if let Some(bytes) = bytes
                    && let Err(e) = purgelog::append(&shared.purge_log, &bytes)
                {
                    shared.io_error("record an invalidation", &e);
                }
                let covered = shared.index().remove_matching(|item| record.covers(item.written, &item.key, &item.tags));
                for h in covered {
                    shared.delete_file(h);
                }
            }
        }
    }
    for (_, w) in open {
        let _ = std::fs::remove_file(&w.path);
    }
}

/// Adds the trailer, renames the file into place and indexes it.
fn commit_one(shared: &Shared, mut w: Open, c: &Commit) -> bool {
    let Some(mut file) = w.file.take() else { return false };
    if shared.purged_since(c.written, &c.key, &c.tags) {
        let _ = std::fs::remove_file(&w.path);
        return false;
    }
    if w.block_fill > 0 {
        w.sums.push(w.block.digest());
    }
    let result = (|| {
        let trailer = format::trailer(w.len, &c.meta, &w.sums)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "entry too large to describe"))?;
        file.write_all(&trailer)?;
        drop(file);
        let hash = format::key_hash(&c.key);
        let dest = format::path_of(&shared.objects, hash);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(&w.path, &dest)?;
        Ok::<_, std::io::Error>((hash, w.len + trailer.len() as u64))
    })();
    match result {
        Ok((hash, size)) => {
            let evicted = {
                let mut index = shared.index();
                index.insert(hash, Item::new(c.key.clone().into(), c.tags.clone(), size, c.written));
                index.evict_over(shared.cfg.capacity_bytes)
            };
            shared.stats.writes.fetch_add(1, Ordering::Relaxed);
            shared.stats.evictions.fetch_add(evicted.len() as u64, Ordering::Relaxed);
            for h in evicted {
                shared.delete_file(h);
            }
            true
        }
        Err(e) => {
            shared.io_error("store an entry", &e);
            let _ = std::fs::remove_file(&w.path);
            false
        }
    }
}
