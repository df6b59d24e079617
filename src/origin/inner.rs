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

/// How long the inner service may take to produce a response head.
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Calls the inner service and boxes its body.
pub(crate) async fn call<S, ReqB, ResB>(inner: S, parts: Parts, body: ReqB) -> Result<Response<OriginBody>, S::Error>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    let resp = inner.oneshot(Request::from_parts(parts, body)).await?;
    Ok(resp.map(box_body))
}

/// Boxes any body into an [`OriginBody`].
pub(crate) fn box_body<B>(body: B) -> OriginBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}
