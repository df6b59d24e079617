//! The viewer's request content as reqwest sends it to an origin: a
//! `Sync` body, frame by frame, with only the declared trailers, whose
//! own failures are told apart from the origin's.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName};
use http_body::{Frame, SizeHint};
use sync_wrapper::SyncWrapper;

use crate::origin::inner::HttpBody;

/// An error of the viewer's request body, marked so that a failed origin
/// request can tell it from the origin's.
#[derive(Debug)]
pub(crate) struct ViewerBodyError(crate::error::BoxError);

impl std::fmt::Display for ViewerBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request's content: {}", self.0)
    }
}

impl std::error::Error for ViewerBodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// The viewer's body error behind a failed origin request, if that is what
/// failed.
pub(crate) fn viewer_body_error(e: &reqwest::Error) -> Option<String> {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(ours) = cause.downcast_ref::<ViewerBodyError>() {
            return Some(ours.to_string());
        }
        source = cause.source();
    }
    None
}

/// A request body as reqwest takes it (`Sync`), frame by frame: a viewer's
/// body is polled only through `&mut`, so the wrapper needs no lock. Its
/// trailers keep only the fields in `trailers` (see
/// [`declared_trailers`](crate::policy::headers::declared_trailers)); none left, none sent.
pub(crate) struct SyncBody<B> {
    inner: SyncWrapper<Pin<Box<B>>>,
    hint: SizeHint,
    trailers: Vec<HeaderName>,
}

impl<B: HttpBody> SyncBody<B> {
    pub(crate) fn new(body: B, trailers: Vec<HeaderName>) -> Self {
        let hint = body.size_hint();
        SyncBody { inner: SyncWrapper::new(Box::pin(body)), hint, trailers }
    }
}

impl<B: HttpBody> http_body::Body for SyncBody<B> {
    type Data = Bytes;
    type Error = crate::error::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let frame = match this.inner.get_mut().as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(Box::new(ViewerBodyError(e.into()))))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let frame = match frame.into_trailers() {
            Ok(mut fields) => {
                let mut kept = HeaderMap::new();
                for name in &this.trailers {
                    for value in fields.get_all(name) {
                        kept.append(name.clone(), value.clone());
                    }
                }
                fields.clear();
                if kept.is_empty() {
                    return Poll::Ready(None);
                }
                Frame::trailers(kept)
            }
            Err(frame) => frame,
        };
        Poll::Ready(Some(Ok(frame)))
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}
