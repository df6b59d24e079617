//! [`CdnBody`]: the body of every response the layer produces.

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
/// fill in progress, an uncached origin stream, or a short generated body.
pub struct CdnBody {
    kind: Kind,
}

enum Kind {
    Empty,
    Once(Option<Bytes>),
    Entry {
        entry: Arc<Entry>,
        next: usize,
    },
    Fill {
        reader: FillReader,
        remaining: Option<u64>,
    },
    Stream(OriginBody),
}

impl std::fmt::Debug for CdnBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Empty => "empty",
            Kind::Once(_) => "once",
            Kind::Entry { .. } => "entry",
            Kind::Fill { .. } => "fill",
            Kind::Stream(_) => "stream",
        };
        f.debug_struct("CdnBody").field("kind", &kind).finish()
    }
}

impl CdnBody {
    pub(crate) fn empty() -> Self {
        CdnBody { kind: Kind::Empty }
    }
    pub(crate) fn once(bytes: Bytes) -> Self {
        CdnBody {
            kind: Kind::Once(Some(bytes)),
        }
    }
    pub(crate) fn entry(entry: Arc<Entry>) -> Self {
        CdnBody {
            kind: Kind::Entry { entry, next: 0 },
        }
    }
    pub(crate) fn fill(reader: FillReader, len: Option<u64>) -> Self {
        CdnBody {
            kind: Kind::Fill {
                reader,
                remaining: len,
            },
        }
    }
    pub(crate) fn stream(body: OriginBody) -> Self {
        CdnBody {
            kind: Kind::Stream(body),
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

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Once(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Entry { entry, next } => {
                let chunk = entry.body().get(*next).cloned();
                *next += 1;
                Poll::Ready(chunk.map(|c| Ok(Frame::data(c))))
            }
            Kind::Fill { reader, remaining } => match reader.poll_chunk(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Some(r) = remaining {
                        *r = r.saturating_sub(chunk.len() as u64);
                    }
                    Poll::Ready(Some(Ok(Frame::data(chunk))))
                }
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
            Kind::Stream(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Once(b) => b.is_none(),
            Kind::Entry { entry, next } => *next >= entry.body().len(),
            Kind::Fill { reader, .. } => reader.is_end_stream(),
            Kind::Stream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Once(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Entry { entry, next } => SizeHint::with_exact(
                entry
                    .body()
                    .iter()
                    .skip(*next)
                    .map(|c| c.len() as u64)
                    .sum(),
            ),
            Kind::Fill {
                remaining: Some(n), ..
            } => SizeHint::with_exact(*n),
            Kind::Fill {
                remaining: None, ..
            } => SizeHint::default(),
            Kind::Stream(body) => body.size_hint(),
        }
    }
}
