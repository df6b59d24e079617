//! The wrapped service as origin: an app's own responses get cached.

use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::body::OriginBody;
use crate::error::BoxError;

/// A body the layer can forward, stream and store (request and response
/// bodies alike). Implemented for every such body.
pub(crate) trait HttpBody: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static {}

impl<B> HttpBody for B
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
}

/// The wrapped service as the request flow drives it: cloned into spawned
/// fills, its futures sent between threads. Implemented for every such
/// service.
pub(crate) trait App<ReqB, ResB>:
    tower_service::Service<Request<ReqB>, Response = Response<ResB>, Future: Send + 'static, Error: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S, ReqB, ResB> App<ReqB, ResB> for S
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
}

/// How long the inner service may take to produce a response head.
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Calls the inner service and boxes its body.
/// Inside a nested router, the app gets the path without the nest's prefix.
pub(crate) async fn call<S, ReqB, ResB>(
    inner: S,
    mut parts: Parts,
    body: ReqB,
) -> Result<Response<OriginBody>, S::Error>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: HttpBody,
{
    crate::nest::restore_nested(&mut parts);
    let resp = inner.oneshot(Request::from_parts(parts, body)).await?;
    Ok(resp.map(box_body))
}

/// Boxes any body into an [`OriginBody`].
pub(crate) fn box_body<B>(body: B) -> OriginBody
where
    B: HttpBody,
{
    body.map_err(Into::into).boxed_unsync()
}
