//! The disk tier: between memory and the shared tier (or the origin),
//! persistent, larger than memory, for objects up to 1 GiB by default.
//!
//! Layout (nginx's design, see `format.rs`): `DIR/v1/objects/ab/<hash>`,
//! one file per response named by a hash of its key, body first; `tmp/`
//! for writes in progress; `purges.log` for invalidations. The index of
//! what is stored lives in memory and is rebuilt from the files by a
//! background scan at start, so the tier serves at once: a lookup opens
//! the file its key names and checks it; purges recorded in the log apply
//! to files the scan has not reached yet.
//!
//! Every file operation runs off the async workers: lookups and body reads
//! in `spawn_blocking`, writes, renames and deletions on the tier's own
//! writer threads. A file that is short, fails a checksum or names another
//! key is a miss, deleted and counted; an IO error is a miss (reads) or a
//! write not stored (writes), counted and logged at most every 10 seconds.
//! Nothing the disk does fails a request.

mod format;
mod index;
mod purgelog;
mod read;
mod write;

pub(crate) use index::Item as DiskItem;
pub(crate) use read::{FileBody, FileSource};
pub(crate) use write::DiskWrite;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::HeaderMap;

use self::format::Bad;
use self::index::{Index, Item};
use self::purgelog::Record;
use self::write::{Job, WriteState};
use super::codec::{self, L2Entry, Meta};
use super::entry::Head;
use super::purge::Scope;
use super::variants;
use crate::error::ConfigError;
use crate::policy::vary::Vary;

/// Writer threads (jobs for one key always go to the same one).
const WRITERS: usize = 2;

/// Bodies up to this size are read and checked whole before the head is
/// served; larger ones block by block as they are sent.
pub(crate) const CHECK_WHOLE_BYTES: u64 = 8 * 1024 * 1024;

/// The disk tier's settings: a directory, and how much it may hold.
///
/// ```
/// # #[cfg(feature = "disk")] {
/// use tower_cdn::{CdnLayer, DiskConfig};
/// let dir = std::env::temp_dir().join("tower-cdn-doc-disk");
/// let layer = CdnLayer::builder()
///     .disk(DiskConfig::new(&dir).capacity_bytes(50 << 30))
///     .build()
///     .unwrap();
/// # drop(layer); let _ = std::fs::remove_dir_all(dir);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskConfig {
    pub(crate) dir: PathBuf,
    pub(crate) capacity_bytes: u64,
    /// `None`: 1 GiB, or half the capacity if that is less.
    pub(crate) max_object_bytes: Option<u64>,
}

impl DiskConfig {
    /// Default capacity: 10 GiB.
    pub const DEFAULT_CAPACITY_BYTES: u64 = 10 << 30;
    /// Default largest object: 1 GiB.
    pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 1 << 30;

    /// A disk tier in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DiskConfig { dir: dir.into(), capacity_bytes: Self::DEFAULT_CAPACITY_BYTES, max_object_bytes: None }
    }

    /// The most the files may take (bodies and their trailers).
    pub fn capacity_bytes(mut self, bytes: u64) -> Self {
        self.capacity_bytes = bytes;
        self
    }

    /// The largest body stored on disk (default 1 GiB, or half the
    /// capacity if that is less).
    pub fn max_object_bytes(mut self, bytes: u64) -> Self {
        self.max_object_bytes = Some(bytes);
        self
    }

    /// The largest body stored, as configured or by default.
    pub fn largest_object(&self) -> u64 {
        self.max_object_bytes.unwrap_or(Self::DEFAULT_MAX_OBJECT_BYTES.min(self.capacity_bytes / 2))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Checks the sizes and that the directory can be created and written
    /// (unless `check_only`: then only that it could be).
    pub(crate) fn validate(&self, check_only: bool) -> Result<(), ConfigError> {
        if self.capacity_bytes == 0 {
            return Err(ConfigError::new("disk.capacity", "must be greater than zero"));
        }
        if self.max_object_bytes == Some(0) {
            return Err(ConfigError::new("disk.max_object_size", "must be greater than zero"));
        }
        if let Some(max) = self.max_object_bytes
            && max > self.capacity_bytes / 2
        {
            return Err(ConfigError::new(
                "disk.max_object_size",
                format!(
                    "{max} bytes is more than half the disk capacity ({} bytes); raise disk.capacity or lower disk.max_object_size",
                    self.capacity_bytes
                ),
            ));
        }
        let dir = &self.dir;
        let at = |what: String| ConfigError::new("disk.dir", format!("{}: {what}", dir.display()));
        if dir.as_os_str().is_empty() {
            return Err(ConfigError::new("disk.dir", "must not be empty"));
        }
        if dir.exists() && !dir.is_dir() {
            return Err(at("exists and is not a directory".into()));
        }
        if check_only {
            return Ok(());
        }
        std::fs::create_dir_all(dir).map_err(|e| at(format!("cannot create it: {e}")))?;
        let probe = dir.join(format!(".probe-{:016x}", crate::clock::random_u64()));
        std::fs::write(&probe, b"tower-cdn").map_err(|e| at(format!("cannot write in it: {e}")))?;
        let _ = std::fs::remove_file(probe);
        Ok(())
    }
}

/// Counters of the disk tier.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) served: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) writes_abandoned: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) corrupt: AtomicU64,
    pub(crate) evictions: AtomicU64,
}

/// A snapshot of the disk tier's state and counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DiskStats {
    pub(crate) entries: u64,
    pub(crate) bytes: u64,
    pub(crate) hits: u64,
    pub(crate) served: u64,
    pub(crate) misses: u64,
    pub(crate) writes: u64,
    pub(crate) writes_abandoned: u64,
    pub(crate) errors: u64,
    pub(crate) corrupt: u64,
    pub(crate) evictions: u64,
    pub(crate) loaded: bool,
}

/// What the threads and the tier share.
pub(crate) struct Shared {
    cfg: DiskConfig,
    objects: PathBuf,
    tmp: PathBuf,
    purge_log: PathBuf,
    index: Mutex<Index>,
    /// The start-up scan is done: the index knows every file.
    loaded: AtomicBool,
    /// Invalidations issued while running (and, until the scan is done,
    /// those of the log): a commit or a not-yet-indexed file they cover
    /// is not used.
    recent: Mutex<Vec<Record>>,
    stats: Counters,
    last_error_log: Mutex<Option<Instant>>,
}

impl Shared {
    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn recent(&self) -> MutexGuard<'_, Vec<Record>> {
        self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn purged_since(&self, written: u64, key: &str, tags: &[Box<str>]) -> bool {
        self.recent().iter().any(|r| r.covers(written, key, tags))
    }

    fn delete_file(&self, hash: u128) {
        match std::fs::remove_file(format::path_of(&self.objects, hash)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => self.io_error("delete a file", &e),
        }
    }

    /// Counts an IO error and logs it, at most every 10 seconds.
    fn io_error(&self, doing: &str, e: &std::io::Error) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last_error_log.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::warn!(dir = %self.cfg.dir.display(), error = %e, "disk tier: cannot {doing}; serving from memory and the origin");
        }
    }

    fn corrupt(&self, hash: u128, why: &'static str) {
        self.stats.corrupt.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(file = %format!("{hash:032x}"), why, "disk tier: bad entry deleted");
        self.index().remove(hash);
        self.delete_file(hash);
    }
}

/// The disk tier of one layer.
pub(crate) struct Disk {
    shared: Arc<Shared>,
    writers: Vec<Sender<Job>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disk").field("dir", &self.shared.cfg.dir).finish_non_exhaustive()
    }
}

/// Nanoseconds since the epoch, now: what purges and writes are ordered by.
fn now_nanos() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

impl Disk {
    /// Opens (creating) the tier's directory, removes what a crash left in
    /// `tmp/`, and starts the writer threads and the index scan.
    pub(crate) fn open(cfg: DiskConfig) -> std::io::Result<Disk> {
        let root = cfg.dir.join(format!("v{}", format::VERSION));
        let objects = root.join("objects");
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&objects)?;
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        let purge_log = root.join("purges.log");
        let logged = purgelog::read(&purge_log).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "disk tier: cannot read the invalidation log; ignoring it");
            Vec::new()
        });
        let shared = Arc::new(Shared {
            cfg,
            objects,
            tmp,
            purge_log,
            index: Mutex::new(Index::default()),
            loaded: AtomicBool::new(false),
            recent: Mutex::new(logged.clone()),
            stats: Counters::default(),
            last_error_log: Mutex::new(None),
        });
        let mut writers = Vec::with_capacity(WRITERS);
        for i in 0..WRITERS {
            let (tx, rx) = std::sync::mpsc::channel();
            let s = Arc::clone(&shared);
            std::thread::Builder::new().name(format!("tower-cdn-disk-{i}")).spawn(move || write::run(s, rx))?;
            writers.push(tx);
        }
        let s = Arc::clone(&shared);
        let scan_started = now_nanos();
        std::thread::Builder::new()
            .name("tower-cdn-disk-scan".into())
            .spawn(move || scan(&s, &logged, scan_started))?;
        Ok(Disk { shared, writers, next_id: AtomicU64::new(1) })
    }

    /// The tier's settings.
    pub(crate) fn config(&self) -> &DiskConfig {
        &self.shared.cfg
    }

    fn writer_for(&self, hash: u128) -> &Sender<Job> {
        &self.writers[(hash % WRITERS as u128) as usize]
    }

    /// Finds the stored response for a request to `primary` (through its
    /// `Vary` marker), checked, with its first block (or, up to
    /// [`CHECK_WHOLE_BYTES`], its whole body) read.
    pub(crate) async fn lookup(self: &Arc<Self>, primary: &str, headers: &HeaderMap) -> Option<DiskHit> {
        self.find(primary, headers, true).await
    }

    /// Like [`lookup`](Self::lookup) without reading the body (for HEAD).
    pub(crate) async fn lookup_head(self: &Arc<Self>, primary: &str, headers: &HeaderMap) -> Option<DiskHit> {
        self.find(primary, headers, false).await
    }

    async fn find(self: &Arc<Self>, primary: &str, headers: &HeaderMap, read: bool) -> Option<DiskHit> {
        let disk = Arc::clone(self);
        let primary = primary.to_owned();
        let headers = headers.clone();
        let found =
            tokio::task::spawn_blocking(move || disk.lookup_blocking(&primary, &headers, read)).await.ok().flatten();
        let counter = if found.is_some() { &self.shared.stats.hits } else { &self.shared.stats.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn lookup_blocking(self: &Arc<Self>, primary: &str, headers: &HeaderMap, read: bool) -> Option<DiskHit> {
        let (opened, meta, hash) = self.open_checked(primary)?;
        match meta {
            Meta::Entry { entry, .. } => self.hit(opened, *entry, hash, None, read),
            Meta::Variants(fields) => {
                let (key, secondary) = variants::shared_key(primary, &fields, headers);
                let (opened, meta, hash) = self.open_checked(&key)?;
                match meta {
                    Meta::Entry { entry, .. } => self.hit(opened, *entry, hash, Some(Arc::from(secondary)), read),
                    Meta::Variants(_) => {
                        self.shared.corrupt(hash, "a marker where a variant belongs");
                        None
                    }
                }
            }
        }
    }

    /// Opens the file of `key` if it is whole, names `key` and is not
    /// purged.
    fn open_checked(&self, key: &str) -> Option<(format::Opened, Meta, u128)> {
        let hash = format::key_hash(key);
        let loaded = self.shared.loaded.load(Ordering::Acquire);
        if loaded && !self.shared.index().contains(hash) {
            // Not indexed once the scan is done: never written, or purged
            // or evicted with its deletion still queued.
            return None;
        }
        let opened = match format::open(&format::path_of(&self.shared.objects, hash)) {
            Ok(o) => o,
            Err(Bad::Absent) => {
                self.shared.index().remove(hash);
                return None;
            }
            Err(Bad::Corrupt(why)) => {
                self.shared.corrupt(hash, why);
                return None;
            }
            Err(Bad::Io(e)) => {
                self.shared.io_error("read an entry", &e);
                return None;
            }
        };
        let meta = match codec::decode_meta(key, &opened.meta) {
            Ok(m) => m,
            Err(codec::Corrupt(why)) => {
                self.shared.corrupt(hash, why);
                return None;
            }
        };
        if let Meta::Entry { entry, .. } = &meta
            && self.shared.purged_since(entry.stamp, key, &entry.tags)
        {
            self.shared.index().remove(hash);
            self.delete(vec![hash]);
            return None;
        }
        if !loaded {
            // The scan may not have reached it yet; purges checked above.
            let written = match &meta {
                Meta::Entry { entry, .. } => entry.stamp,
                Meta::Variants(_) => 0,
            };
            let tags = match &meta {
                Meta::Entry { entry, .. } => entry.tags.clone(),
                Meta::Variants(_) => Box::new([]),
            };
            self.shared.index().insert_scanned(hash, Item::new(key.into(), tags, opened.file_len, written));
        }
        self.shared.index().touch(hash);
        Some((opened, meta, hash))
    }

    fn hit(
        &self,
        opened: format::Opened,
        entry: L2Entry,
        hash: u128,
        vary_key: Option<Arc<str>>,
        read: bool,
    ) -> Option<DiskHit> {
        let body = Body {
            file: opened.file,
            len: opened.body_len,
            block_bytes: opened.block_bytes,
            sums: opened.sums,
            hash,
            shared: Arc::clone(&self.shared),
        };
        let whole = match (read, body.len <= CHECK_WHOLE_BYTES) {
            (false, _) => 0,
            (true, true) => body.sums.len(),
            (true, false) => 1,
        };
        let mut first = Vec::with_capacity(whole);
        for i in 0..whole {
            first.push(body.read(i).ok()?);
        }
        Some(DiskHit { head: entry.head, tags: entry.tags, vary_key, first, body })
    }

    /// Starts writing the response stored under `key` (the fill key: a
    /// variant's own), whose fill began at `began`. `None` when the
    /// announced length is over the tier's largest object.
    pub(crate) fn begin(&self, key: &str, began: SystemTime, expected_len: Option<u64>) -> Option<DiskWrite> {
        if expected_len.is_some_and(|n| n > self.shared.cfg.largest_object()) {
            return None;
        }
        let hash = format::key_hash(key);
        let tx = self.writer_for(hash).clone();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) << 8 | (crate::clock::random_u64() & 0xff);
        let state = Arc::new(WriteState::default());
        tx.send(Job::Begin { id, state: Arc::clone(&state) }).ok()?;
        let written = began.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Some(DiskWrite {
            shared: Arc::clone(&self.shared),
            tx,
            id,
            state,
            key: key.to_owned(),
            written,
            len: 0,
            done: false,
        })
    }

    /// The meta value of an entry (what [`DiskWrite::commit`] takes).
    pub(crate) fn entry_meta(write: &DiskWrite, head: &Head, tags: &[Box<str>]) -> Option<Bytes> {
        let entry = L2Entry {
            write_id: write.id,
            stamp: write.written,
            head: head.clone(),
            tags: tags.into(),
            body: Vec::new(),
        };
        codec::encode_entry(&write.key, &entry, usize::MAX).map(|(meta, _)| meta)
    }

    /// Writes the `Vary` marker of `primary` when the response varies.
    pub(crate) fn write_marker(&self, primary: &str, vary: &Vary, began: SystemTime) {
        let Vary::Fields(fields) = vary else { return };
        let written = began.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let meta = codec::encode_variants(primary, fields);
        let _ = self.writer_for(format::key_hash(primary)).send(Job::Whole { key: primary.to_owned(), meta, written });
    }

    /// The key a response to a request with `headers` is stored under.
    pub(crate) fn key_for(primary: &str, vary: &Vary, headers: &HeaderMap) -> String {
        match vary {
            Vary::Fields(fields) => variants::shared_key(primary, fields, headers).0,
            _ => primary.to_owned(),
        }
    }

    /// The keys of the indexed files after `after` that `pred` selects.
    pub(crate) fn keys_where(&self, after: Option<&str>, pred: impl Fn(&str, &[Box<str>]) -> bool) -> Vec<Box<str>> {
        self.shared.index().keys_where(after, |i| pred(&i.key, &i.tags))
    }

    /// What the index knows of the file for `key` (not purged since).
    pub(crate) fn item(&self, key: &str) -> Option<Item> {
        let item = self.shared.index().item(format::key_hash(key), key)?;
        (!self.shared.purged_since(item.written, &item.key, &item.tags)).then_some(item)
    }

    /// Whether a file may hold what `primary` names (until the start-up
    /// scan is done, any key may).
    pub(crate) fn may_hold(&self, primary: &str) -> bool {
        !self.shared.loaded.load(Ordering::Acquire) || self.shared.index().contains(format::key_hash(primary))
    }

    /// Removes what is stored for `primary` (its marker: the variants are
    /// then unreachable and age out).
    pub(crate) fn remove(&self, primary: &str) {
        let hash = format::key_hash(primary);
        let indexed = self.shared.index().remove(hash).is_some();
        if indexed || !self.shared.loaded.load(Ordering::Acquire) {
            self.delete(vec![hash]);
        }
    }

    fn delete(&self, hashes: Vec<u128>) {
        for h in hashes {
            let _ = self.writer_for(h).send(Job::Delete(vec![h]));
        }
    }

    /// Applies an invalidation: in effect at once, recorded in the log
    /// (paths, prefixes, tags, everything) before the files are deleted.
    /// The lookups check it at once; the log append, the sweep of the
    /// index and the deletions run on a writer thread (a sweep of a
    /// million entries never holds an async worker).
    pub(crate) fn invalidate(&self, scope: &Scope) {
        let record = Record { at: now_nanos(), scope: scope.clone() };
        self.shared.recent().push(record.clone());
        let bytes = purgelog::encode(&record);
        let _ = self.writers[0].send(Job::Purge { bytes, record });
        prune_recent(&self.shared);
    }

    /// Counts a response served from the disk tier (its own lookup's, or
    /// one that joined it).
    pub(crate) fn served(&self) {
        self.shared.stats.served.fetch_add(1, Ordering::Relaxed);
    }

    /// Blocks until every job queued so far has run (or `timeout`).
    pub(crate) fn flush(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let waits: Vec<_> = self
            .writers
            .iter()
            .filter_map(|w| {
                let (tx, rx) = std::sync::mpsc::channel();
                w.send(Job::Barrier(tx)).ok().map(|()| rx)
            })
            .collect();
        for rx in waits {
            let _ = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
    }

    /// State and counters.
    pub(crate) fn stats(&self) -> DiskStats {
        let (entries, bytes) = {
            let ix = self.shared.index();
            (ix.len() as u64, ix.bytes())
        };
        let c = &self.shared.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DiskStats {
            entries,
            bytes,
            hits: get(&c.hits),
            served: get(&c.served),
            misses: get(&c.misses),
            writes: get(&c.writes),
            writes_abandoned: get(&c.writes_abandoned),
            errors: get(&c.errors),
            corrupt: get(&c.corrupt),
            evictions: get(&c.evictions),
            loaded: self.shared.loaded.load(Ordering::Acquire),
        }
    }
}

/// Forgets running invalidations old enough that no write still in flight
/// began before them (an hour), once the scan no longer needs them.
fn prune_recent(shared: &Shared) {
    if !shared.loaded.load(Ordering::Acquire) {
        return;
    }
    let horizon = now_nanos().saturating_sub(3600 * 1_000_000_000);
    shared.recent().retain(|r| r.at >= horizon);
}

/// Builds the index from the files: deletes those that are not whole, name
/// another key, or were written before a logged purge that covers them.
/// Then rewrites the log with only the purges issued since the scan began.
fn scan(shared: &Shared, logged: &[Record], started: u64) {
    let t0 = Instant::now();
    let mut found = 0u64;
    // Only real directories named like buckets, and regular files in them:
    // a symlink is never followed (it could lead out of the cache), and
    // nothing but a stray regular file of ours is ever deleted.
    let is = |entry: &std::fs::DirEntry, dir: bool| {
        entry.file_type().is_ok_and(|t| if dir { t.is_dir() } else { t.is_file() })
    };
    if let Ok(dirs) = std::fs::read_dir(&shared.objects) {
        for dir in dirs.flatten() {
            let bucket = dir.file_name();
            let ours = bucket.len() == 2 && bucket.to_str().is_some_and(|b| b.bytes().all(|c| c.is_ascii_hexdigit()));
            if !ours || !is(&dir, true) {
                continue;
            }
            let Ok(files) = std::fs::read_dir(dir.path()) else { continue };
            for file in files.flatten() {
                if !is(&file, false) {
                    continue;
                }
                let name = file.file_name();
                let Some(hash) = name.to_str().and_then(format::hash_of_name) else {
                    let _ = std::fs::remove_file(file.path());
                    continue;
                };
                if scan_one(shared, logged, hash, &file.path()) {
                    found += 1;
                }
            }
        }
    }
    let keep: Vec<Record> = shared.recent().iter().filter(|r| r.at >= started).cloned().collect();
    if let Err(e) = purgelog::rewrite(&shared.purge_log, &keep) {
        shared.io_error("rewrite the invalidation log", &e);
    }
    let evicted = shared.index().evict_over(shared.cfg.capacity_bytes);
    for h in &evicted {
        shared.delete_file(*h);
    }
    shared.loaded.store(true, Ordering::Release);
    prune_recent(shared);
    let entries = shared.index().len();
    tracing::info!(entries, scanned = found, elapsed_ms = t0.elapsed().as_millis() as u64, dir = %shared.cfg.dir.display(), "disk tier: index loaded");
}

fn scan_one(shared: &Shared, logged: &[Record], hash: u128, path: &Path) -> bool {
    let bad = |why: &'static str| {
        shared.stats.corrupt.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(file = %path.display(), why, "disk tier: bad entry deleted");
        let _ = std::fs::remove_file(path);
        false
    };
    let opened = match format::open(path) {
        Ok(o) => o,
        Err(Bad::Absent) => return false,
        Err(Bad::Corrupt(why)) => return bad(why),
        Err(Bad::Io(e)) => {
            shared.io_error("read an entry", &e);
            return false;
        }
    };
    let Ok(key) = codec::peek_key(&opened.meta) else { return bad("unreadable meta") };
    if format::key_hash(&key) != hash {
        return bad("file name does not match its key");
    }
    let (written, tags) = match codec::decode_meta(&key, &opened.meta) {
        Ok(Meta::Entry { entry, .. }) => (entry.stamp, entry.tags),
        Ok(Meta::Variants(_)) => (0, Box::default()),
        Err(codec::Corrupt(why)) => return bad(why),
    };
    if logged.iter().any(|r| r.covers(written, &key, &tags)) || shared.purged_since(written, &key, &tags) {
        let _ = std::fs::remove_file(path);
        return false;
    }
    shared.index().insert_scanned(hash, Item::new(key.into(), tags, opened.file_len, written))
}

/// A response found on disk.
#[derive(Debug)]
pub(crate) struct DiskHit {
    pub(crate) head: Head,
    pub(crate) tags: Box<[Box<str>]>,
    /// For a variant: the secondary key it was stored under.
    pub(crate) vary_key: Option<Arc<str>>,
    /// The blocks already read and checked (the first, or all of a body
    /// up to [`CHECK_WHOLE_BYTES`]).
    pub(crate) first: Vec<Bytes>,
    pub(crate) body: Body,
}

/// The body of a disk hit, read block by block.
pub(crate) struct Body {
    file: File,
    len: u64,
    block_bytes: u32,
    sums: Vec<u64>,
    hash: u128,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body").field("len", &self.len).finish_non_exhaustive()
    }
}

impl Body {
    /// The body's length.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Number of blocks.
    pub(crate) fn blocks(&self) -> usize {
        self.sums.len()
    }

    /// Reads block `index` (blocking); a bad block deletes the entry.
    pub(crate) fn read(&self, index: usize) -> Result<Bytes, ()> {
        match format::read_block(&self.file, self.len, self.block_bytes, &self.sums, index) {
            Ok(b) => Ok(b),
            Err(Bad::Corrupt(why)) => {
                self.shared.corrupt(self.hash, why);
                Err(())
            }
            Err(Bad::Absent) => Err(()),
            Err(Bad::Io(e)) => {
                self.shared.io_error("read an entry", &e);
                Err(())
            }
        }
    }
}
