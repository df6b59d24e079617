//! The flow's tracing calls in a build without the `otel` feature: nothing.

use http::request::Parts;

use crate::cache::fill::FetchLink;
use crate::origin::{Fetched, OriginTarget};

/// No fetch span.
pub(crate) struct FetchSpan;

/// No refresh span.
pub(crate) struct RefreshSpan;

#[inline]
pub(crate) fn start_fetch(_parts: &mut Parts, _origin: &OriginTarget) -> FetchSpan {
    FetchSpan
}

impl FetchSpan {
    #[inline]
    pub(crate) fn link(&self) -> Option<FetchLink> {
        None
    }

    #[inline]
    pub(crate) fn end<E>(self, _fetched: &Fetched<E>) {}
}

#[inline]
pub(crate) fn coalesced(_parts: &Parts, _link: Option<FetchLink>) {}

#[inline]
pub(crate) fn start_refresh(_parts: &mut Parts) -> RefreshSpan {
    RefreshSpan
}
