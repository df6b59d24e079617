//! At most N fetches in flight per origin. A fetch holds its slot from the
//! request until the origin's body ends (or is dropped): that is what keeps
//! an origin's connections and work bounded, a slow body included. A fetch
//! that finds no free slot waits a short, bounded time, then fails with
//! [`OriginError::capacity`], which clients see as `503 Service
//! Unavailable` with `Retry-After: 1` (CloudFront's `CapacityExceeded`).
//!
//! Coalesced requests share their leader's fetch and take no slot.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::body::OriginBody;
use crate::error::{BoxError, ConfigError, OriginError};

/// Default time a fetch waits for a free slot before the 503.
pub(crate) const DEFAULT_CONCURRENCY_WAIT: Duration = Duration::from_secs(1);

/// The configured limit of one origin (public setters live on `Origin`
/// and `S3Origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LimitConfig {
    /// `None`: unlimited.
    pub(crate) max: Option<usize>,
    pub(crate) wait: Duration,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig { max: None, wait: DEFAULT_CONCURRENCY_WAIT }
    }
}

impl LimitConfig {
    /// The limiter, or `None` when unlimited; 0 is an error.
    pub(crate) fn build(self) -> Result<Option<Limiter>, ConfigError> {
        match self.max {
            None => Ok(None),
            Some(0) => Err(ConfigError::new("max_concurrent_requests", "must be at least 1")),
            Some(n) if n > Semaphore::MAX_PERMITS => {
                Err(ConfigError::new("max_concurrent_requests", format!("at most {}", Semaphore::MAX_PERMITS)))
            }
            Some(n) => Ok(Some(Limiter { slots: Arc::new(Semaphore::new(n)), wait: self.wait })),
        }
    }
}

/// The slots of one origin.
#[derive(Debug)]
pub(crate) struct Limiter {
    slots: Arc<Semaphore>,
    wait: Duration,
}

/// A taken slot, if the origin is limited.
pub(crate) struct Slot(Option<OwnedSemaphorePermit>);

/// Takes a slot of `limiter` (immediately when there is no limit).
pub(crate) async fn acquire(limiter: Option<&Limiter>) -> Result<Slot, OriginError> {
    let Some(limiter) = limiter else { return Ok(Slot(None)) };
    if let Ok(permit) = Arc::clone(&limiter.slots).try_acquire_owned() {
        return Ok(Slot(Some(permit)));
    }
    match tokio::time::timeout(limiter.wait, Arc::clone(&limiter.slots).acquire_owned()).await {
        Ok(Ok(permit)) => Ok(Slot(Some(permit))),
        // Timed out (the semaphore is never closed).
        _ => Err(OriginError::capacity("too many requests in flight to this origin")),
    }
}

impl Slot {
    /// Keeps the slot until the response's body ends or is dropped.
    pub(crate) fn hold(self, resp: Response<OriginBody>) -> Response<OriginBody> {
        match self.0 {
            None => resp,
            Some(permit) => hold_until_end(resp, permit),
        }
    }
}

/// Keeps `guard` until the response's body ends, fails or is dropped.
pub(crate) fn hold_until_end<G: Send + 'static>(resp: Response<OriginBody>, guard: G) -> Response<OriginBody> {
    resp.map(|inner| OriginBody::new(Held { inner, permit: Some(guard) }))
}

pin_project_lite::pin_project! {
    /// An origin body that releases its slot (or other guard) at its end.
    struct Held<G> {
        #[pin]
        inner: OriginBody,
        permit: Option<G>,
    }
}

impl<G> Body for Held<G> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            // Ended or failed: the connection is done with.
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => *this.permit = None,
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => *this.permit = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn limiter(n: usize) -> Limiter {
        LimitConfig { max: Some(n), wait: Duration::ZERO }.build().unwrap().unwrap()
    }

    fn response() -> Response<OriginBody> {
        Response::new(OriginBody::new(http_body_util::Full::new(Bytes::from_static(b"body")).map_err(|e| match e {})))
    }

    #[tokio::test]
    async fn a_slot_is_held_until_the_body_ends() {
        let l = limiter(1);
        let held = acquire(Some(&l)).await.ok().unwrap().hold(response());
        let err = acquire(Some(&l)).await.err().unwrap();
        assert!(err.is_capacity_exceeded());
        let bytes = held.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"body");
        assert!(acquire(Some(&l)).await.is_ok());
    }

    #[tokio::test]
    async fn a_dropped_body_frees_its_slot() {
        let l = limiter(1);
        let held = acquire(Some(&l)).await.ok().unwrap().hold(response());
        drop(held);
        assert!(acquire(Some(&l)).await.is_ok());
        assert!(acquire(None).await.is_ok());
    }

    #[test]
    fn zero_is_an_error() {
        let e = LimitConfig { max: Some(0), wait: Duration::ZERO }.build().unwrap_err();
        assert_eq!(e.setting(), "max_concurrent_requests");
        assert!(LimitConfig::default().build().unwrap().is_none());
    }
}
