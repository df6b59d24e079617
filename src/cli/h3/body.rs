//! [`RequestBody`]: an HTTP/3 request's content as an [`http_body::Body`],
//! read from the receive half of its request stream.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use h3::server::RequestStream;
use http::HeaderMap;
use http_body::{Frame, SizeHint};

use crate::error::BoxError;

/// The receive half of a request stream.
pub(super) type Recv = RequestStream<h3_quinn::RecvStream, Bytes>;

/// The content of a request that came over HTTP/3: its DATA frames as they
/// arrive (QUIC flow control holds the client back while the service does
/// not read), then its trailers.
///
/// A `Content-Length` the DATA frames do not add up to ends the body with
/// an error (RFC 9114 §4.1.2: such a request is malformed).
pub struct RequestBody {
    recv: Option<Recv>,
    /// Content read before the request went to the service (to learn
    /// whether a GET has any).
    first: Option<Bytes>,
    reading: Reading,
    declared: Option<u64>,
    received: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Data,
    Trailers,
    Done,
}

impl RequestBody {
    pub(super) fn new(recv: Recv, declared: Option<u64>) -> Self {
        RequestBody { recv: Some(recv), first: None, reading: Reading::Data, declared, received: 0 }
    }

    /// Reads until the first content or the end of the stream, so that
    /// [`is_end_stream`](http_body::Body::is_end_stream) tells a GET without
    /// content (every client's) from one with some, as HTTP/2's
    /// `END_STREAM` on HEADERS does.
    pub(super) async fn peek(&mut self) -> Result<(), BoxError> {
        if let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await {
            match frame?.into_data() {
                Ok(data) => self.first = Some(data),
                // Trailers with no content: nothing left to read.
                Err(_) => self.reading = Reading::Done,
            }
        }
        Ok(())
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            let Some(recv) = this.recv.as_mut() else { return Poll::Ready(None) };
            match this.reading {
                Reading::Data => match ready!(recv.poll_recv_data(cx)) {
                    Ok(Some(mut buf)) => {
                        let data = buf.copy_to_bytes(buf.remaining());
                        this.received += data.len() as u64;
                        if this.declared.is_some_and(|n| this.received > n) {
                            return this.fail("more content than its Content-Length".into());
                        }
                        if !data.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(data))));
                        }
                    }
                    Ok(None) => {
                        if this.declared.is_some_and(|n| this.received != n) {
                            return this.fail("less content than its Content-Length".into());
                        }
                        this.reading = Reading::Trailers;
                    }
                    Err(e) => return this.fail(e.into()),
                },
                Reading::Trailers => {
                    let trailers = ready!(recv.poll_recv_trailers(cx));
                    this.reading = Reading::Done;
                    this.recv = None;
                    return Poll::Ready(match trailers {
                        Ok(Some(t)) => Some(Ok(Frame::trailers(t))),
                        Ok(None) => None,
                        Err(e) => Some(Err(e.into())),
                    });
                }
                Reading::Done => {
                    this.recv = None;
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn fail(&mut self, e: BoxError) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.reading = Reading::Done;
        if let Some(mut recv) = self.recv.take() {
            recv.stop_sending(h3::error::Code::H3_MESSAGE_ERROR);
        }
        Poll::Ready(Some(Err(e)))
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        self.poll_next(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.reading == Reading::Done
    }

    fn size_hint(&self) -> SizeHint {
        if self.is_end_stream() {
            return SizeHint::with_exact(0);
        }
        let pending = self.first.as_ref().map_or(0, |b| b.len() as u64);
        match self.declared {
            Some(n) => SizeHint::with_exact(n.saturating_sub(self.received) + pending),
            None => {
                let mut hint = SizeHint::new();
                hint.set_lower(pending);
                hint
            }
        }
    }
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody").field("received", &self.received).finish_non_exhaustive()
    }
}

/// The `Content-Length` of a request, when it has exactly one valid one.
pub(super) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let one = values.next()?;
    if values.next().is_some() {
        return None;
    }
    one.to_str().ok()?.parse().ok()
}
