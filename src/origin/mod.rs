//! Origins: where a miss is fetched from. One seam, [`OriginTarget::fetch`]:
//! a request head (and body, for methods that have one) in, a response with
//! a boxed body or an [`OriginError`] out.

pub(crate) mod config;
pub(crate) mod custom;
pub(crate) mod inner;

pub use config::Origin;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, request::Parts};
use http_body::Body;

use crate::body::OriginBody;
use crate::error::{BoxError, OriginError};

/// A configured origin, ready to fetch.
#[derive(Debug)]
pub(crate) enum OriginTarget {
    /// A custom HTTP origin reached through reqwest.
    Http(custom::CustomOrigin),
    /// The wrapped inner service.
    Inner,
}

/// The outcome of asking an origin.
pub(crate) enum Fetched<E> {
    /// A response head arrived (its body streams).
    Response(Response<OriginBody>),
    /// The origin could not produce a response.
    Failed(OriginError),
    /// The inner service returned its own error, passed back to the caller.
    Service(E),
}

impl OriginTarget {
    /// Validates an origin description and sets up its client.
    pub(crate) fn from_config(origin: &Origin) -> Result<Self, crate::error::ConfigError> {
        match &origin.kind {
            config::OriginKind::Inner => Ok(OriginTarget::Inner),
            config::OriginKind::Http(c) => Ok(OriginTarget::Http(custom::CustomOrigin::new(c)?)),
        }
    }

    /// How long to wait for a response head, and between body chunks.
    pub(crate) fn response_timeout(&self) -> Duration {
        match self {
            OriginTarget::Http(h) => h.response_timeout(),
            OriginTarget::Inner => inner::RESPONSE_TIMEOUT,
        }
    }

    /// Fetches from a custom origin with a body of our own (the client's
    /// was used already). The inner service cannot be asked this way.
    pub(crate) async fn fetch_custom<B>(&self, parts: Parts, body: B) -> Result<Response<OriginBody>, OriginError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        match self {
            OriginTarget::Http(origin) => {
                match tokio::time::timeout(origin.response_timeout(), origin.fetch(parts, body, false)).await {
                    Ok(r) => r,
                    Err(_) => Err(OriginError::timeout("no response head in time")),
                }
            }
            OriginTarget::Inner => Err(OriginError::protocol("the inner service cannot be asked twice")),
        }
    }

    /// Fetches `parts` (with `body` when the method has one) from this
    /// origin, applying the response timeout to the head.
    pub(crate) async fn fetch<S, ReqB, ResB>(
        self: &Arc<Self>,
        inner: S,
        parts: Parts,
        body: ReqB,
        forward_body: bool,
    ) -> Fetched<S::Error>
    where
        S: tower_service::Service<http::Request<ReqB>, Response = Response<ResB>> + Send,
        S::Future: Send,
        ReqB: Body<Data = Bytes> + Send + 'static,
        ReqB::Error: Into<BoxError>,
        ResB: Body<Data = Bytes> + Send + 'static,
        ResB::Error: Into<BoxError>,
    {
        let timeout = self.response_timeout();
        match self.as_ref() {
            OriginTarget::Http(origin) => {
                let fut = origin.fetch(parts, body, forward_body);
                match tokio::time::timeout(timeout, fut).await {
                    Ok(Ok(resp)) => Fetched::Response(resp),
                    Ok(Err(e)) => Fetched::Failed(e),
                    Err(_) => Fetched::Failed(OriginError::timeout("no response head in time")),
                }
            }
            OriginTarget::Inner => {
                let fut = inner::call(inner, parts, body);
                match tokio::time::timeout(timeout, fut).await {
                    Ok(Ok(resp)) => Fetched::Response(resp),
                    Ok(Err(e)) => Fetched::Service(e),
                    Err(_) => Fetched::Failed(OriginError::timeout("no response head in time")),
                }
            }
        }
    }
}
