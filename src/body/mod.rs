//! [`CdnBody`]: the body of every response the layer produces.

#[cfg(feature = "compression")]
pub(crate) mod compress;
pub(crate) mod tee;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;

use crate::cache::entry::Entry;
use crate::cache::fill::FillReader;
use crate::error::BoxError;

/// A body from an origin, boxed.
pub(crate) type OriginBody = UnsyncBoxBody<Bytes, BoxError>;

/// The response body produced by [`Cdn`](crate::Cdn): a stored entry, a
/// fill in progress, an uncached origin stream, or a short generated body;
/// optionally only a byte range of it (for 206 responses).
pub struct CdnBody {
    kind: Kind,
    window: Option<Window>,
    observer: Option<Box<dyn BodyWatch>>,
}

/// A byte range of the underlying body: skip, then take.
#[derive(Debug, Clone, Copy)]
struct Window {
    skip: u64,
    remaining: u64,
}

enum Kind {
    Empty,
    Once(Option<Bytes>),
    Chunks {
        chunks: Vec<Bytes>,
        next: usize,
    },
    Entry {
        entry: Arc<Entry>,
        next: usize,
    },
    Fill {
        reader: FillReader,
        remaining: Option<u64>,
    },
    Stream(OriginBody),
    #[cfg(feature = "disk")]
    File(crate::cache::disk::FileBody),
    /// A body made on its first poll for bytes `start..end` (a range of
    /// an object assembled from slices): what is not asked is never made.
    Lazy {
        make: Option<MakeBody>,
        start: u64,
        end: u64,
        body: Option<OriginBody>,
    },
}

/// Makes the body of bytes `start..end`.
pub(crate) type MakeBody = Box<dyn FnOnce(u64, u64) -> OriginBody + Send>;

impl std::fmt::Debug for CdnBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Empty => "empty",
            Kind::Once(_) => "once",
            Kind::Chunks { .. } => "chunks",
            Kind::Entry { .. } => "entry",
            Kind::Fill { .. } => "fill",
            Kind::Stream(_) => "stream",
            #[cfg(feature = "disk")]
            Kind::File(_) => "file",
            Kind::Lazy { .. } => "lazy",
        };
        f.debug_struct("CdnBody").field("kind", &kind).finish()
    }
}

/// Told how a response body goes out (the access log and the counters
/// implement it, in `observe`).
pub(crate) trait BodyWatch: Send + Sync {
    /// A data frame of `len` bytes went out.
    fn on_data(&mut self, len: usize);
    /// The body is over: `complete` unless it broke or was cut short.
    fn finish(self: Box<Self>, complete: bool);
}

impl CdnBody {
    fn of(kind: Kind) -> Self {
        CdnBody { kind, window: None, observer: None }
    }

    /// Attaches the observer that completes the request's log record.
    pub(crate) fn observe(&mut self, observer: Box<dyn BodyWatch>) {
        self.observer = Some(observer);
        if self.is_end_stream() {
            self.end_observation(true);
        }
    }

    fn end_observation(&mut self, complete: bool) {
        if let Some(o) = self.observer.take() {
            o.finish(complete);
        }
    }
    pub(crate) fn empty() -> Self {
        Self::of(Kind::Empty)
    }
    pub(crate) fn once(bytes: Bytes) -> Self {
        Self::of(Kind::Once(Some(bytes)))
    }
    pub(crate) fn chunks(chunks: Vec<Bytes>) -> Self {
        Self::of(Kind::Chunks { chunks, next: 0 })
    }
    pub(crate) fn entry(entry: Arc<Entry>) -> Self {
        Self::of(Kind::Entry { entry, next: 0 })
    }
    pub(crate) fn fill(reader: FillReader, len: Option<u64>) -> Self {
        Self::of(Kind::Fill { reader, remaining: len })
    }
    pub(crate) fn stream(body: OriginBody) -> Self {
        Self::of(Kind::Stream(body))
    }
    /// A body of `len` bytes made only when (and for the range) it is read.
    pub(crate) fn lazy(len: u64, make: MakeBody) -> Self {
        Self::of(Kind::Lazy { make: Some(make), start: 0, end: len, body: None })
    }
    /// A body read from the disk tier's file (no file without the feature).
    pub(crate) fn file(source: crate::cache::fill::FileSource) -> Self {
        #[cfg(feature = "disk")]
        return Self::of(Kind::File(crate::cache::disk::FileBody::new(source)));
        #[cfg(not(feature = "disk"))]
        match source {}
    }

    /// Only bytes `start..start + len` of this body.
    pub(crate) fn range(mut self, start: u64, len: u64) -> Self {
        #[cfg(feature = "disk")]
        if let Kind::File(file) = &mut self.kind {
            // A file is read from the range's start, not skipped through.
            file.seek(start, len);
            return self;
        }
        if let Kind::Lazy { start: s, end: e, body: None, .. } = &mut self.kind {
            *s = start.min(*e);
            *e = start.saturating_add(len).min(*e);
            return self;
        }
        self.window = Some(Window { skip: start, remaining: len });
        if len == 0 {
            self.finish_early();
        }
        self
    }

    /// Drops the body without reading it; a fill goes on for its other
    /// readers and for the store.
    pub(crate) fn discard(mut self) {
        self.finish_early();
    }

    /// The window is satisfied: stop reading the source. A fill keeps
    /// going for its other readers and for the store.
    fn finish_early(&mut self) {
        if let Kind::Fill { reader, .. } = std::mem::replace(&mut self.kind, Kind::Empty) {
            reader.detach();
        }
    }

    fn poll_source(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Once(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Chunks { chunks, next } => {
                let chunk = chunks.get(*next).cloned();
                *next += 1;
                Poll::Ready(chunk.map(|c| Ok(Frame::data(c))))
            }
            Kind::Entry { entry, next } => {
                let chunk = entry.body().get(*next).cloned();
                *next += 1;
                Poll::Ready(chunk.map(|c| Ok(Frame::data(c))))
            }
            Kind::Fill { reader, remaining } => match reader.poll_chunk(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Some(r) = remaining {
                        *r = r.saturating_sub(chunk.len() as u64);
                        if *r == 0 {
                            // hyper drops the body once the announced length
                            // is sent, possibly before the pump has stored the
                            // entry: that is not the client going away.
                            reader.keep_filling();
                        }
                    }
                    Poll::Ready(Some(Ok(Frame::data(chunk))))
                }
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
            Kind::Stream(body) => Pin::new(body).poll_frame(cx),
            Kind::Lazy { make, start, end, body } => {
                if body.is_none() {
                    match make.take() {
                        Some(make) if start < end => *body = Some(make(*start, *end)),
                        _ => return Poll::Ready(None),
                    }
                }
                match body {
                    Some(b) => Pin::new(b).poll_frame(cx),
                    None => Poll::Ready(None),
                }
            }
            #[cfg(feature = "disk")]
            Kind::File(file) => match file.poll_chunk(cx) {
                Poll::Ready(Some(Ok(data))) => Poll::Ready(Some(Ok(Frame::data(data)))),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn poll_windowed(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Some(mut window) = self.window else {
            return self.poll_source(cx);
        };
        loop {
            if window.remaining == 0 {
                return Poll::Ready(None);
            }
            let frame = match self.poll_source(cx) {
                Poll::Ready(Some(Ok(frame))) => frame,
                other => return other,
            };
            let Ok(mut data) = frame.into_data() else {
                continue; // trailers do not belong to a range
            };
            let len = data.len() as u64;
            if window.skip >= len {
                window.skip -= len;
                self.window = Some(window);
                continue;
            }
            // `skip < len` and both fit in usize because `len` does.
            let start = usize::try_from(window.skip).unwrap_or(data.len());
            let take = usize::try_from(window.remaining.min(len - window.skip)).unwrap_or(data.len());
            data = data.slice(start..start + take);
            window.skip = 0;
            window.remaining -= take as u64;
            self.window = Some(window);
            if window.remaining == 0 {
                self.finish_early();
            }
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
    }

    fn source_size(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Once(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Chunks { chunks, next } => {
                SizeHint::with_exact(chunks.iter().skip(*next).map(|c| c.len() as u64).sum())
            }
            Kind::Entry { entry, next } => {
                SizeHint::with_exact(entry.body().iter().skip(*next).map(|c| c.len() as u64).sum())
            }
            Kind::Fill { remaining: Some(n), .. } => SizeHint::with_exact(*n),
            Kind::Fill { remaining: None, .. } => SizeHint::default(),
            Kind::Stream(body) => body.size_hint(),
            #[cfg(feature = "disk")]
            Kind::File(file) => SizeHint::with_exact(file.remaining()),
            Kind::Lazy { body: Some(b), .. } => b.size_hint(),
            Kind::Lazy { start, end, .. } => SizeHint::with_exact(end - start),
        }
    }
}

impl Drop for CdnBody {
    fn drop(&mut self) {
        if self.observer.is_some() {
            // Dropped before its end: the client went away (or the server
            // stopped writing), unless nothing was left to send.
            let complete = self.is_end_stream();
            self.end_observation(complete);
        }
    }
}

impl Default for CdnBody {
    fn default() -> Self {
        CdnBody::empty()
    }
}

impl Body for CdnBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = this.poll_windowed(cx);
        if this.observer.is_some() {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let (Some(o), Some(d)) = (this.observer.as_mut(), frame.data_ref()) {
                        o.on_data(d.len());
                    }
                    // hyper stops polling once the body says it is over.
                    if this.is_end_stream() {
                        this.end_observation(true);
                    }
                }
                Poll::Ready(None) => this.end_observation(true),
                Poll::Ready(Some(Err(_))) => this.end_observation(false),
                Poll::Pending => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match self.window {
            Some(w) if w.remaining == 0 => true,
            _ => match &self.kind {
                Kind::Empty => true,
                Kind::Once(b) => b.is_none(),
                Kind::Chunks { chunks, next } => *next >= chunks.len(),
                Kind::Entry { entry, next } => *next >= entry.body().len(),
                Kind::Fill { reader, .. } => reader.is_end_stream(),
                Kind::Stream(body) => body.is_end_stream(),
                #[cfg(feature = "disk")]
                Kind::File(file) => file.remaining() == 0,
                Kind::Lazy { body: Some(b), .. } => b.is_end_stream(),
                Kind::Lazy { start, end, .. } => start >= end,
            },
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.window {
            Some(w) => SizeHint::with_exact(w.remaining),
            None => self.source_size(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use proptest::prelude::*;

    use crate::cache::fill::{Fill, FillWriter};

    /// A client that received the whole announced body leaves before the
    /// pump stored the entry: the fill goes on (joinable, storable), so the
    /// client's next request joins it or finds the entry, never refetches.
    #[tokio::test]
    async fn a_client_that_got_every_announced_byte_does_not_abandon_the_fill() {
        let (fill, reader) = Fill::new_with_reader(crate::cache::key::CacheKey::from("GET h.test/a"));
        let writer = FillWriter::new(Arc::clone(&fill), 1 << 20);
        writer.push(Bytes::from_static(b"hello"));
        let mut body = CdnBody::fill(reader, Some(5));
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "hello");
        drop(body);
        assert!(fill.attach().is_some(), "still joinable");
        assert_eq!(writer.storable_chunks().unwrap().concat(), b"hello");
        writer.complete();
    }

    proptest! {
        #[test]
        fn a_window_yields_exactly_that_slice(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..50), 0..10),
            start in 0u64..400,
            len in 0u64..400,
        ) {
            let flat: Vec<u8> = chunks.concat();
            let total = flat.len() as u64;
            let start = start.min(total);
            let len = len.min(total - start);
            let body = CdnBody::chunks(chunks.into_iter().map(Bytes::from).collect()).range(start, len);
            prop_assert_eq!(body.size_hint().exact(), Some(len));
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let got = rt.block_on(body.collect()).unwrap().to_bytes();
            let (s, e) = (start as usize, (start + len) as usize);
            prop_assert_eq!(&got[..], &flat[s..e]);
        }
    }
}
