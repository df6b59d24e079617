//! Reading a body from the disk tier as it is sent: a stored entry block by
//! block (each checked, from any offset, so a range never reads what it
//! does not send), or a write still in progress up to what has reached the
//! file (readers that join a large fill after its start dropped out of
//! memory follow it from the file, as Varnish's streaming does).
//! Every read runs in `spawn_blocking`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::Body;
use super::write::{Outcome, WriteState};

/// Bytes read at once from a write in progress.
const SPILL_READ_BYTES: u64 = 256 * 1024;

/// Where a file body comes from.
#[derive(Clone)]
pub(crate) enum FileSource {
    /// A stored entry.
    Entry(Arc<Body>),
    /// A write in progress, of this many bytes in all.
    Spill(Arc<WriteState>, u64),
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileSource::Entry(b) => f.debug_tuple("Entry").field(&b.len()).finish(),
            FileSource::Spill(_, len) => f.debug_tuple("Spill").field(len).finish(),
        }
    }
}

impl FileSource {
    /// The body's whole length.
    pub(crate) fn len(&self) -> u64 {
        match self {
            FileSource::Entry(b) => b.len(),
            FileSource::Spill(_, len) => *len,
        }
    }

    /// Whether a reader can still follow it (a write that failed cannot).
    pub(crate) fn is_live(&self) -> bool {
        match self {
            FileSource::Entry(_) => true,
            FileSource::Spill(state, _) => state.outcome() != Outcome::Failed,
        }
    }
}

/// The body read went wrong (a damaged block, an IO error, a write that
/// failed): the response is cut, as with an origin that fails mid-body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadFailed;

impl std::fmt::Display for ReadFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk tier: the stored body could not be read")
    }
}

impl std::error::Error for ReadFailed {}

/// A body read from a file, bytes `offset..end`.
pub(crate) struct FileBody {
    source: FileSource,
    offset: u64,
    end: u64,
    pending: Option<JoinHandle<Result<Bytes, ReadFailed>>>,
}

impl std::fmt::Debug for FileBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileBody").field("offset", &self.offset).field("end", &self.end).finish_non_exhaustive()
    }
}

impl FileBody {
    /// The whole body.
    pub(crate) fn new(source: FileSource) -> Self {
        let end = source.len();
        FileBody { source, offset: 0, end, pending: None }
    }

    /// Only bytes `start..start + len`.
    pub(crate) fn seek(&mut self, start: u64, len: u64) {
        self.offset = start.min(self.end);
        self.end = start.saturating_add(len).min(self.end);
    }

    /// Bytes left to send.
    pub(crate) fn remaining(&self) -> u64 {
        self.end - self.offset
    }

    /// The next piece of the body.
    pub(crate) fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, ReadFailed>>> {
        if let Some(handle) = &mut self.pending {
            let result = match Pin::new(handle).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r.unwrap_or(Err(ReadFailed)),
            };
            self.pending = None;
            return Poll::Ready(Some(result.inspect(|b| self.offset += b.len() as u64)));
        }
        if self.offset >= self.end {
            return Poll::Ready(None);
        }
        let (offset, end) = (self.offset, self.end);
        let read = match &self.source {
            FileSource::Entry(body) => {
                let body = Arc::clone(body);
                tokio::task::spawn_blocking(move || body.read_range(offset, end))
            }
            FileSource::Spill(state, _) => {
                let persisted = match state.poll_persisted(offset, cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(())) => return Poll::Ready(Some(Err(ReadFailed))),
                    Poll::Ready(Ok(n)) => n,
                };
                let take = (persisted.min(end) - offset).min(SPILL_READ_BYTES);
                let state = Arc::clone(state);
                tokio::task::spawn_blocking(move || state.read_at(offset, take).map_err(|_| ReadFailed))
            }
        };
        self.pending = Some(read);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Body {
    /// Reads from `offset` to the end of its block (or `end`), checking
    /// the whole block.
    fn read_range(&self, offset: u64, end: u64) -> Result<Bytes, ReadFailed> {
        let block_bytes = u64::from(self.block_bytes);
        let index = usize::try_from(offset / block_bytes).map_err(|_| ReadFailed)?;
        let block = self.read(index).map_err(|()| ReadFailed)?;
        let within = (offset % block_bytes) as usize;
        let take = ((end - offset).min(block.len() as u64 - within as u64)) as usize;
        if within >= block.len() {
            return Err(ReadFailed);
        }
        Ok(block.slice(within..within + take))
    }
}
