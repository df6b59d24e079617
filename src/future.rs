//! [`ResponseFuture`]: the opaque future returned by [`Cdn`](crate::Cdn).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;

use crate::body::CdnBody;

type Inner<E> = Pin<Box<dyn Future<Output = Result<Response<CdnBody>, E>> + Send + 'static>>;

/// Response future of [`Cdn`](crate::Cdn).
pub struct ResponseFuture<E> {
    inner: State<E>,
}

enum State<E> {
    /// Answered without IO (a hit): no future was built.
    Ready(Option<Response<CdnBody>>),
    /// Waiting on the wrapped service or an origin.
    Pending(Inner<E>),
}

impl<E> ResponseFuture<E> {
    pub(crate) fn new(fut: impl Future<Output = Result<Response<CdnBody>, E>> + Send + 'static) -> Self {
        ResponseFuture { inner: State::Pending(Box::pin(fut)) }
    }

    pub(crate) fn ready(resp: Response<CdnBody>) -> Self {
        ResponseFuture { inner: State::Ready(Some(resp)) }
    }
}

impl<E> Future for ResponseFuture<E> {
    type Output = Result<Response<CdnBody>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.inner {
            State::Ready(resp) => match resp.take() {
                Some(resp) => Poll::Ready(Ok(resp)),
                // Polled after completion: a contract violation by the
                // caller; stay pending rather than panic.
                None => Poll::Pending,
            },
            State::Pending(fut) => fut.as_mut().poll(cx),
        }
    }
}

// The boxed future is `Unpin`; the ready response is moved out by value.
impl<E> Unpin for ResponseFuture<E> {}

impl<E> fmt::Debug for ResponseFuture<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
