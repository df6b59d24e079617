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
    inner: Inner<E>,
}

impl<E> ResponseFuture<E> {
    pub(crate) fn new(fut: impl Future<Output = Result<Response<CdnBody>, E>> + Send + 'static) -> Self {
        ResponseFuture { inner: Box::pin(fut) }
    }
}

impl<E> Future for ResponseFuture<E> {
    type Output = Result<Response<CdnBody>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<E> fmt::Debug for ResponseFuture<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
