//! The in-flight entry: one origin fetch that many readers follow while it
//! streams in.
//!
//! A [`Fill`] is shared by the pump task that reads the origin body (through
//! a [`FillWriter`]) and by every client reading it (each through its own
//! [`FillReader`], starting from byte 0 at its own pace). The pump never
//! waits for a reader while the fill can still be stored, so a slow client
//! never slows the origin fetch or the other clients; the fill holds at most
//! the maximum object size. If the body outgrows that size, the fill stops
//! being storable, leaves the table of joinable fills, and from then on keeps
//! only a small window of chunks that the slowest remaining reader has not
//! yet read (the pump then waits for that reader: backpressure, O(window)
//! memory).
//!
//! Dropping every reader before the body completed abandons the fill: the
//! origin task is aborted and nothing partial is stored. (The last reader
//! can leave between the pump's final chunk and its store, a client that
//! read the whole body: the chunks are kept, so that body is still stored.) Dropping the writer before
//! it finished (error, panic, abort) fails the fill: readers see an error
//! (their client sees a truncated response) and nothing is stored.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::task::AbortHandle;

use super::entry::Head;
use super::key::CacheKey;
use crate::status::NotStored;

/// While not storable, the pump pauses once this many bytes wait for the
/// slowest reader.
const WINDOW_BYTES: u64 = 2 * 1024 * 1024;

/// While not storable, chunks every reader has read are dropped only past
/// this many buffered bytes, so requests that arrive just after the first
/// can still join a fill that streams from its first byte (see
/// [`FillWriter::stream_only`]).
const KEEP_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the origin's response head.
    Pending,
    /// Head published; body chunks arriving.
    Streaming,
    /// Body complete.
    Complete,
    /// The response is not shareable: readers must fetch on their own.
    Released(NotStored),
    /// The origin failed, or the fill was abandoned.
    Failed,
}

/// How the head published by a fill came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// A new response from the origin.
    Origin,
    /// The stored response, freshened by a 304 from the origin.
    Revalidated,
    /// The stored response, served stale because the origin failed
    /// (with the origin's status when it answered).
    StaleOnError(Option<http::StatusCode>),
    /// A fresh entry from the shared L2 tier (another edge's fill).
    L2,
    /// A fresh entry from the disk tier.
    Disk,
    /// A new response from the origin that nothing stores (too large),
    /// shared by the requests that arrived while it started streaming.
    Streamed(NotStored),
}

/// A body readers take from a file instead of the fill (a large disk hit,
/// or a large fill followed from its disk write).
#[cfg(feature = "disk")]
pub(crate) use super::disk::FileSource;

/// Without the disk tier there are no file bodies.
#[cfg(not(feature = "disk"))]
#[derive(Debug, Clone)]
pub(crate) enum FileSource {}

/// What a fill publishes once the response head is known.
#[derive(Debug, Clone)]
pub struct Published {
    /// The head every reader responds with.
    pub head: Arc<Head>,
    /// How it came about.
    pub served: Served,
    /// For a response with `Vary`: the secondary key of the request that
    /// fetched it; other readers must match it to share the response.
    pub vary_key: Option<Arc<str>>,
    /// Readers read the body from this file, not from the fill.
    pub(crate) file: Option<FileSource>,
}

struct State {
    phase: Phase,
    head: Option<Published>,
    /// Chunk `i` (absolute) lives at `chunks[i - base]`.
    chunks: VecDeque<Bytes>,
    base: usize,
    total_bytes: u64,
    buffered_bytes: u64,
    /// Still storable (all chunks kept, joinable).
    shared: bool,
    /// Absolute chunk position of each reader slot; `None` = free slot.
    positions: Vec<Option<usize>>,
    live_readers: usize,
    wakers: Vec<Waker>,
    pump_waker: Option<Waker>,
    abort: Option<AbortHandle>,
    /// Keep filling even when no reader is left (a background refresh, or
    /// readers that only needed the head).
    pinned: bool,
    /// Not storable in memory from the start, but joinable while no chunk
    /// has been dropped yet (see [`FillWriter::stream_only`]).
    streams: bool,
}

impl State {
    /// Whether a new reader can start at byte 0.
    fn joinable(&self) -> bool {
        !matches!(self.phase, Phase::Failed | Phase::Released(_))
            && (self.shared || (self.streams && self.base == 0 && self.phase != Phase::Complete))
    }
}

/// The span of a fill's origin fetch, when the fetch was traced (W3C ids):
/// the requests that follow the fill link to it. Plain data here; the
/// tracing code makes and reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FetchLink {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) flags: u8,
}

/// An in-flight fill. See the module docs.
pub struct Fill {
    key: CacheKey,
    state: Mutex<State>,
    invalidated: AtomicBool,
    /// The disk write of a body the fill keeps only a window of: requests
    /// that arrive after its start left memory follow it from the file.
    #[cfg(feature = "disk")]
    spill: std::sync::OnceLock<FileSource>,
    /// The span of the origin fetch, when traced: followers link to it.
    fetch_link: std::sync::OnceLock<FetchLink>,
}

/// What a reader learns about the response head.
#[derive(Debug, Clone)]
pub enum HeadState {
    /// The response is shared: read the body from this fill.
    Ready(Published),
    /// Not shareable: fetch on your own.
    Released(NotStored),
    /// The fill failed or was abandoned: try again.
    Failed,
}

/// The body stopped before it completed.
#[derive(Debug, Clone, Copy)]
pub struct FillFailed;

impl std::fmt::Display for FillFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("origin response body ended prematurely")
    }
}

impl std::error::Error for FillFailed {}

impl Fill {
    /// Creates a fill together with its first reader (the leader's).
    pub(crate) fn new_with_reader(key: CacheKey) -> (Arc<Self>, FillReader) {
        let fill = Self::new(key, 1, false);
        let reader = FillReader { fill: Arc::clone(&fill), slot: 0, pos: 0 };
        (fill, reader)
    }

    /// Creates a fill with no reader that runs to completion on its own
    /// (a background refresh).
    pub(crate) fn new_pinned(key: CacheKey) -> Arc<Self> {
        Self::new(key, 0, true)
    }

    fn new(key: CacheKey, readers: usize, pinned: bool) -> Arc<Self> {
        Arc::new(Fill {
            key,
            state: Mutex::new(State {
                phase: Phase::Pending,
                head: None,
                chunks: VecDeque::new(),
                base: 0,
                total_bytes: 0,
                buffered_bytes: 0,
                shared: true,
                positions: vec![Some(0); readers],
                live_readers: readers,
                wakers: Vec::new(),
                pump_waker: None,
                abort: None,
                pinned,
                streams: false,
            }),
            invalidated: AtomicBool::new(false),
            #[cfg(feature = "disk")]
            spill: std::sync::OnceLock::new(),
            fetch_link: std::sync::OnceLock::new(),
        })
    }

    /// Notes the span of this fill's origin fetch (the first one wins).
    pub(crate) fn set_fetch_link(&self, link: Option<FetchLink>) {
        if let Some(link) = link {
            let _ = self.fetch_link.set(link);
        }
    }

    /// Lets late requests follow this fill from its disk write.
    #[cfg(feature = "disk")]
    pub(crate) fn set_spill(&self, source: FileSource) {
        let _ = self.spill.set(source);
    }

    /// For a request that can no longer join at byte 0: the published head
    /// with the disk write to read the body from, while that write goes on.
    pub(crate) fn follow_from_file(&self) -> Option<Published> {
        #[cfg(feature = "disk")]
        {
            let source = self.spill.get().filter(|s| s.is_live())?;
            let st = self.lock();
            if matches!(st.phase, Phase::Failed | Phase::Released(_)) || self.is_invalidated() {
                return None;
            }
            let mut published = st.head.clone()?;
            published.file = Some(source.clone());
            Some(published)
        }
        #[cfg(not(feature = "disk"))]
        None
    }

    /// The key being filled.
    pub fn key(&self) -> &CacheKey {
        &self.key
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked while holding
        // it; the state itself is always consistent between statements.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a reader starting at byte 0, unless the fill can no longer be
    /// joined (failed, released, or no longer storable).
    pub(crate) fn attach(self: &Arc<Self>) -> Option<FillReader> {
        let mut st = self.lock();
        if !st.joinable() {
            return None;
        }
        let slot = match st.positions.iter().position(Option::is_none) {
            Some(free) => {
                st.positions[free] = Some(0);
                free
            }
            None => {
                st.positions.push(Some(0));
                st.positions.len() - 1
            }
        };
        st.live_readers += 1;
        Some(FillReader { fill: Arc::clone(self), slot, pos: 0 })
    }

    /// Marks the fill so that its result is not stored (an invalidation
    /// arrived while it was in flight).
    pub(crate) fn invalidate(&self) {
        self.invalidated.store(true, Ordering::Release);
    }

    pub(crate) fn is_invalidated(&self) -> bool {
        self.invalidated.load(Ordering::Acquire)
    }

    /// `true` once the fill can no longer be joined.
    pub(crate) fn is_closed(&self) -> bool {
        !self.lock().joinable()
    }

    /// Registers the task fetching the origin, aborted if every reader leaves.
    pub(crate) fn set_abort(&self, handle: AbortHandle) {
        let mut st = self.lock();
        if st.live_readers == 0 && !st.pinned && matches!(st.phase, Phase::Pending | Phase::Streaming) {
            handle.abort();
        }
        st.abort = Some(handle);
    }

    fn finish(&self, st: &mut State, phase: Phase) -> Vec<Waker> {
        st.phase = phase;
        if matches!(phase, Phase::Failed | Phase::Released(_)) {
            st.chunks.clear();
            st.buffered_bytes = 0;
        }
        std::mem::take(&mut st.wakers)
    }
}

fn wake_all(wakers: Vec<Waker>) {
    for w in wakers {
        w.wake();
    }
}

/// The pump's handle on a fill. Dropping it before [`FillWriter::complete`]
/// fails the fill.
pub struct FillWriter {
    fill: Arc<Fill>,
    max_bytes: u64,
    done: bool,
}

/// What happened to a pushed chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Keep pumping.
    Ok,
    /// The body just outgrew the size cap: the fill is no longer storable
    /// or joinable (remove it from the table of fills).
    Overflowed,
    /// Every reader left; stop.
    Abandoned,
}

impl FillWriter {
    pub(crate) fn new(fill: Arc<Fill>, max_bytes: u64) -> Self {
        FillWriter { fill, max_bytes, done: false }
    }

    /// The fill this writer feeds.
    pub fn fill(&self) -> &Arc<Fill> {
        &self.fill
    }

    /// Publishes the response head; readers start streaming.
    pub fn publish_head(&self, head: Published) {
        let wakers = {
            let mut st = self.fill.lock();
            st.head = Some(head);
            st.phase = Phase::Streaming;
            std::mem::take(&mut st.wakers)
        };
        wake_all(wakers);
    }

    /// The body will not be kept whole in memory (it is larger than the
    /// memory tier's largest entry): the fill keeps only a window of it
    /// for its readers, the pump waits for the slowest, and requests that
    /// arrive before the first chunk is dropped still join it (nginx's
    /// `proxy_cache_lock`, Varnish's streaming), so they share one fetch.
    pub fn stream_only(&self) {
        let mut st = self.fill.lock();
        st.shared = false;
        st.streams = true;
    }

    /// Whether the fill keeps the whole body (it may be stored in memory).
    pub fn is_shared(&self) -> bool {
        self.fill.lock().shared
    }

    /// The response is not shareable; waiting readers fetch on their own.
    pub fn release(mut self, reason: NotStored) {
        self.done = true;
        let wakers = {
            let mut st = self.fill.lock();
            self.fill.finish(&mut st, Phase::Released(reason))
        };
        wake_all(wakers);
    }

    /// Appends a body chunk and wakes the readers.
    pub fn push(&self, chunk: Bytes) -> Pushed {
        let (wakers, outcome) = {
            let mut st = self.fill.lock();
            if st.live_readers == 0 && !st.pinned {
                return Pushed::Abandoned;
            }
            let len = chunk.len() as u64;
            st.total_bytes += len;
            st.buffered_bytes += len;
            st.chunks.push_back(chunk);
            let outcome = if st.shared && st.total_bytes > self.max_bytes {
                st.shared = false;
                trim(&mut st);
                Pushed::Overflowed
            } else {
                // With no reader left (a pinned fill), nothing else trims.
                trim(&mut st);
                Pushed::Ok
            };
            (std::mem::take(&mut st.wakers), outcome)
        };
        wake_all(wakers);
        outcome
    }

    /// Once the fill is no longer storable, waits until the slowest reader
    /// has left room in the window. Ready at once while storable.
    pub fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.fill.lock();
        if st.shared || st.buffered_bytes < WINDOW_BYTES || st.live_readers == 0 {
            Poll::Ready(())
        } else {
            st.pump_waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// The whole body, if the fill may be stored (still within the size
    /// cap and not invalidated). Call before [`complete`](Self::complete),
    /// so the entry is in the store before any reader sees the end, and
    /// only once the whole body was pushed: the chunks are all there even
    /// if every reader has left meanwhile.
    pub fn storable_chunks(&self) -> Option<Vec<Bytes>> {
        let st = self.fill.lock();
        (st.shared && !self.fill.is_invalidated()).then(|| st.chunks.iter().cloned().collect())
    }

    /// Ends the body with `tail`, its last chunk, held back until now. If
    /// the fill may still be stored, `store` gets the whole body first (with
    /// `tail`, and only within the size cap); only then do the readers see
    /// `tail` and the end. A client that has every byte and asks again at
    /// once therefore finds the entry stored, not a fill still in flight.
    pub fn finish_with(self, tail: Option<Bytes>, store: impl FnOnce(&[Bytes])) {
        if let Some(mut chunks) = self.storable_chunks() {
            chunks.extend(tail.iter().cloned());
            let total: u64 = chunks.iter().map(|c| c.len() as u64).sum();
            if total <= self.max_bytes {
                store(&chunks);
            }
        }
        if let Some(tail) = tail.filter(|t| !t.is_empty()) {
            // Every reader may have left meanwhile: then nobody needs it.
            let _ = self.push(tail);
        }
        self.complete();
    }

    /// Marks the body complete and wakes the readers.
    pub fn complete(mut self) {
        self.done = true;
        let wakers = {
            let mut st = self.fill.lock();
            self.fill.finish(&mut st, Phase::Complete)
        };
        wake_all(wakers);
    }
}

impl Drop for FillWriter {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let wakers = {
            let mut st = self.fill.lock();
            self.fill.finish(&mut st, Phase::Failed)
        };
        wake_all(wakers);
    }
}

/// Drops the chunks every remaining reader has read (only once the fill
/// is no longer storable) and wakes the pump if there is room again.
fn trim(st: &mut State) {
    if st.shared {
        return;
    }
    let min = st.positions.iter().flatten().copied().min().unwrap_or(st.base + st.chunks.len());
    while st.base < min && (!st.streams || st.buffered_bytes > KEEP_BYTES) {
        match st.chunks.pop_front() {
            Some(c) => {
                st.buffered_bytes -= c.len() as u64;
                st.base += 1;
            }
            None => break,
        }
    }
    if st.buffered_bytes < WINDOW_BYTES
        && let Some(w) = st.pump_waker.take()
    {
        w.wake();
    }
}

/// One client's cursor into a fill.
pub struct FillReader {
    fill: Arc<Fill>,
    slot: usize,
    pos: usize,
}

impl std::fmt::Debug for FillReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FillReader").field("key", &self.fill.key).field("pos", &self.pos).finish()
    }
}

impl FillReader {
    /// Stops reading but lets the fill run to completion (and be stored)
    /// even if this was the last reader: for clients that only needed the
    /// head (HEAD, 304, 412) or a prefix of the body (a range).
    pub fn detach(self) {
        self.keep_filling();
    }

    /// Lets the fill run to completion (and be stored) when this reader
    /// leaves: for a client that has received every byte the head
    /// announced, which may leave before the pump has stored the entry.
    pub fn keep_filling(&self) {
        self.fill.lock().pinned = true;
    }

    /// Waits for the response head (or for the fill to be released/fail).
    pub fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<HeadState> {
        let mut st = self.fill.lock();
        match st.phase {
            Phase::Released(reason) => Poll::Ready(HeadState::Released(reason)),
            Phase::Failed => Poll::Ready(HeadState::Failed),
            Phase::Pending => {
                register(&mut st.wakers, cx.waker());
                Poll::Pending
            }
            Phase::Streaming | Phase::Complete => match &st.head {
                Some(published) => Poll::Ready(HeadState::Ready(published.clone())),
                None => Poll::Ready(HeadState::Failed),
            },
        }
    }

    /// The span of the fill's origin fetch, when traced.
    pub(crate) fn fetch_link(&self) -> Option<FetchLink> {
        self.fill.fetch_link.get().copied()
    }

    /// Waits for the head.
    pub async fn head(&mut self) -> HeadState {
        std::future::poll_fn(|cx| self.poll_head(cx)).await
    }

    /// The next body chunk: `None` at the end, an error if the fill failed.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, FillFailed>>> {
        let mut st = self.fill.lock();
        if self.pos < st.base {
            return Poll::Ready(Some(Err(FillFailed)));
        }
        if let Some(chunk) = st.chunks.get(self.pos - st.base).cloned() {
            self.pos += 1;
            if let Some(p) = st.positions.get_mut(self.slot) {
                *p = Some(self.pos);
            }
            trim(&mut st);
            return Poll::Ready(Some(Ok(chunk)));
        }
        match st.phase {
            Phase::Complete => Poll::Ready(None),
            Phase::Failed | Phase::Released(_) => Poll::Ready(Some(Err(FillFailed))),
            Phase::Pending | Phase::Streaming => {
                register(&mut st.wakers, cx.waker());
                Poll::Pending
            }
        }
    }

    /// `true` when every chunk has been read and the body is complete.
    pub fn is_end_stream(&self) -> bool {
        let st = self.fill.lock();
        st.phase == Phase::Complete && self.pos >= st.base + st.chunks.len()
    }
}

fn register(wakers: &mut Vec<Waker>, waker: &Waker) {
    if !wakers.iter().any(|w| w.will_wake(waker)) {
        wakers.push(waker.clone());
    }
}

impl Drop for FillReader {
    fn drop(&mut self) {
        let mut st = self.fill.lock();
        if let Some(p) = st.positions.get_mut(self.slot) {
            *p = None;
        }
        st.live_readers = st.live_readers.saturating_sub(1);
        if st.live_readers == 0 && !st.pinned && matches!(st.phase, Phase::Pending | Phase::Streaming) {
            // Nobody is left to serve: abandon the fill (nothing partial
            // is stored; the next request fetches afresh).
            if let Some(abort) = st.abort.take() {
                abort.abort();
            }
            // Not `finish`: the chunks stay (freed with the fill once the
            // aborted task lets go of it) in case the pump has the whole
            // body already and is about to store it.
            st.phase = Phase::Failed;
            let wakers = std::mem::take(&mut st.wakers);
            drop(st);
            wake_all(wakers);
            return;
        }
        trim(&mut st);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::time::SystemTime;

    use crate::cache::entry::Head;
    use crate::policy::freshness::AgeClock;
    use crate::policy::storable::Storable;

    fn key() -> CacheKey {
        CacheKey::from("GET example.com/a")
    }

    fn published() -> Published {
        let now = SystemTime::now();
        let meta = Storable::uncacheable_meta(AgeClock::new(&http::HeaderMap::new(), now, now));
        let head = Head { status: http::StatusCode::OK, headers: http::HeaderMap::new(), meta };
        Published { head: Arc::new(head), served: Served::Origin, vary_key: None, file: None }
    }

    /// The race behind an empty stored body: the only client reads the
    /// last chunk and leaves before the pump stores the fill.
    #[tokio::test]
    async fn a_reader_leaving_after_the_last_chunk_leaves_the_whole_body_storable() {
        let (fill, mut reader) = Fill::new_with_reader(key());
        let writer = FillWriter::new(Arc::clone(&fill), 1 << 20);
        writer.publish_head(published());
        assert_eq!(writer.push(Bytes::from_static(b"hello ")), Pushed::Ok);
        assert_eq!(writer.push(Bytes::from_static(b"fleet")), Pushed::Ok);
        for want in [&b"hello "[..], b"fleet"] {
            let got = poll_fn(|cx| reader.poll_chunk(cx)).await.unwrap().unwrap();
            assert_eq!(got, want);
        }
        drop(reader);
        let chunks = writer.storable_chunks().expect("still storable");
        assert_eq!(chunks.concat(), b"hello fleet");
        // Late joiners are not handed an abandoned fill.
        assert!(fill.attach().is_none());
        writer.complete();
    }

    /// A client must not have the whole body before it is stored, or its
    /// next request would find the fill in flight instead of the entry.
    #[tokio::test]
    async fn the_last_chunk_reaches_readers_only_after_the_store() {
        let (fill, mut reader) = Fill::new_with_reader(key());
        let writer = FillWriter::new(Arc::clone(&fill), 1 << 20);
        writer.publish_head(published());
        writer.push(Bytes::from_static(b"head "));
        let got = poll_fn(|cx| reader.poll_chunk(cx)).await.unwrap().unwrap();
        assert_eq!(got, &b"head "[..]);
        let mut stored = None;
        writer.finish_with(Some(Bytes::from_static(b"tail")), |chunks| {
            // The reader has nothing new yet.
            let waker = std::task::Waker::noop();
            assert!(reader.poll_chunk(&mut Context::from_waker(waker)).is_pending());
            stored = Some(chunks.concat());
        });
        assert_eq!(stored.as_deref(), Some(&b"head tail"[..]));
        let got = poll_fn(|cx| reader.poll_chunk(cx)).await.unwrap().unwrap();
        assert_eq!(got, &b"tail"[..]);
        assert!(poll_fn(|cx| reader.poll_chunk(cx)).await.is_none());
    }

    #[test]
    fn a_body_over_the_cap_with_its_tail_is_not_stored() {
        let (fill, _reader) = Fill::new_with_reader(key());
        let writer = FillWriter::new(Arc::clone(&fill), 8);
        writer.publish_head(published());
        writer.push(Bytes::from_static(b"12345"));
        writer.finish_with(Some(Bytes::from_static(b"6789")), |_| panic!("stored over the cap"));
    }

    #[tokio::test]
    async fn a_writer_dropped_mid_body_fails_its_readers() {
        let (fill, mut reader) = Fill::new_with_reader(key());
        let writer = FillWriter::new(Arc::clone(&fill), 1 << 20);
        writer.publish_head(published());
        writer.push(Bytes::from_static(b"part"));
        drop(writer);
        assert!(matches!(reader.head().await, HeadState::Failed));
        assert!(poll_fn(|cx| reader.poll_chunk(cx)).await.unwrap().is_err());
    }

    #[test]
    fn pushing_after_every_reader_left_is_abandoned() {
        let (fill, reader) = Fill::new_with_reader(key());
        let writer = FillWriter::new(Arc::clone(&fill), 1 << 20);
        writer.publish_head(published());
        drop(reader);
        assert_eq!(writer.push(Bytes::from_static(b"x")), Pushed::Abandoned);
    }
}
