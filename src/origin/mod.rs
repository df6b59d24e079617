//! Origins: where a miss is fetched from. One seam, [`OriginTarget::fetch`]:
//! a request head (and body, for methods that have one) in, a response with
//! a boxed body or an [`OriginError`] out.

pub(crate) mod balance;
pub(crate) mod budget;
pub(crate) mod config;
pub(crate) mod custom;
pub(crate) mod endpoints;
pub(crate) mod group;
pub(crate) mod health;
pub(crate) mod inner;
pub(crate) mod limit;
pub(crate) mod probe;
pub(crate) mod report;
pub(crate) mod retry;
#[cfg(feature = "s3")]
pub(crate) mod s3;
pub(crate) mod sync_body;
pub(crate) mod tls;

pub use balance::Balance;
pub(crate) use balance::BalanceKey;
pub use config::Origin;
pub use group::OriginGroup;
pub use health::HealthCheck;
#[cfg(feature = "s3")]
pub use s3::{S3Credentials, S3Origin};
pub use tls::{OriginTls, OriginTlsVersion};

use std::sync::Arc;
use std::time::Duration;

use http::{Response, request::Parts};

use crate::body::OriginBody;
use crate::error::OriginError;
use crate::origin::inner::{App, HttpBody};

/// A configured origin, ready to fetch.
#[derive(Debug)]
pub(crate) enum OriginTarget {
    /// A custom HTTP origin reached through reqwest.
    Http(custom::CustomOrigin),
    /// An S3 bucket.
    #[cfg(feature = "s3")]
    S3(s3::S3Fetcher),
    /// An origin group: primary, then secondary on failure.
    Group(group::Group),
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
    /// Whether a fetch from this target may go to the wrapped service.
    pub(crate) fn uses_app(&self) -> bool {
        match self {
            OriginTarget::Inner => true,
            OriginTarget::Group(g) => g.uses_app(),
            OriginTarget::Http(_) => false,
            #[cfg(feature = "s3")]
            OriginTarget::S3(_) => false,
        }
    }

    /// Validates an origin description and sets up its client.
    /// `name` is the origin's id, for the operator's log.
    /// With `check_only`, credentials from the environment are not read.
    pub(crate) fn from_config(
        name: &str,
        origin: &Origin,
        check_only: bool,
    ) -> Result<Self, crate::error::ConfigError> {
        match &origin.kind {
            config::OriginKind::Inner => Ok(OriginTarget::Inner),
            config::OriginKind::Http(c) => {
                let origin = custom::CustomOrigin::new(name, c)?;
                // Checks begin now inside a runtime, else at the first fetch.
                if !check_only {
                    origin.start_checks();
                }
                Ok(OriginTarget::Http(origin))
            }
            #[cfg(feature = "s3")]
            config::OriginKind::S3(c) => Ok(OriginTarget::S3(s3::S3Fetcher::new(name, c, check_only)?)),
        }
    }

    /// How long to wait for a response head, and between body chunks.
    pub(crate) fn response_timeout(&self) -> Duration {
        match self {
            // A retry on another endpoint may follow a timed-out attempt.
            OriginTarget::Http(h) if h.pool().len() > 1 => h.response_timeout() * 2,
            OriginTarget::Http(h) => h.response_timeout(),
            #[cfg(feature = "s3")]
            OriginTarget::S3(s) => s.response_timeout(),
            OriginTarget::Group(g) => g.response_timeout(),
            OriginTarget::Inner => inner::RESPONSE_TIMEOUT,
        }
    }

    #[cfg(feature = "s3")]
    /// Whether request paths name S3 objects here (so the cache key uses
    /// the canonical object path).
    pub(crate) fn reads_object_keys(&self) -> bool {
        match self {
            #[cfg(feature = "s3")]
            OriginTarget::S3(_) => true,
            OriginTarget::Group(g) => g.reads_object_keys(),
            OriginTarget::Http(_) | OriginTarget::Inner => false,
        }
    }

    /// The origin's `host[:port]`, as traces name it (`server.address`); a
    /// group's primary's; `None` for the app.
    pub(crate) fn authority(&self) -> Option<&str> {
        match self {
            OriginTarget::Http(h) => Some(h.authority()),
            #[cfg(feature = "s3")]
            OriginTarget::S3(s) => s.endpoint().authority().map(http::uri::Authority::as_str),
            OriginTarget::Group(g) => g.primary().authority(),
            OriginTarget::Inner => None,
        }
    }

    /// What kind of origin this is, for traces.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            OriginTarget::Http(_) => "http",
            #[cfg(feature = "s3")]
            OriginTarget::S3(_) => "s3",
            OriginTarget::Group(_) => "group",
            OriginTarget::Inner => "app",
        }
    }

    /// HTTP and S3 origins: the ones an origin group can hold.
    pub(crate) fn is_remote(&self) -> bool {
        match self {
            OriginTarget::Http(_) => true,
            #[cfg(feature = "s3")]
            OriginTarget::S3(_) => true,
            OriginTarget::Group(_) | OriginTarget::Inner => false,
        }
    }

    /// Fetches from an HTTP or S3 origin, or a group, with the response
    /// timeout applied to the head and the origin's concurrency limit to
    /// head and body. The app cannot be reached this way.
    pub(crate) async fn fetch_remote<B>(
        &self,
        parts: Parts,
        body: B,
        forward_body: bool,
    ) -> Result<Response<OriginBody>, OriginError>
    where
        B: HttpBody,
    {
        match self {
            // Each attempt at an endpoint applies the timeout; the slot
            // covers the origin's fetch, a retry included.
            OriginTarget::Http(origin) => {
                let slot = limit::acquire(origin.limiter()).await?;
                origin.fetch_balanced(parts, body, forward_body).await.map(|r| slot.hold(r))
            }
            #[cfg(feature = "s3")]
            OriginTarget::S3(origin) => {
                let timed_out = || OriginError::timeout("no response head in time");
                let timeout = self.response_timeout();
                let slot = limit::acquire(origin.limiter()).await?;
                let fut = origin.fetch(&parts);
                let Ok(fetched) = tokio::time::timeout(timeout, fut).await else {
                    origin.failures().warn(parts.uri.path(), &timed_out(), None);
                    return Err(timed_out());
                };
                fetched.map(|r| slot.hold(r))
            }
            // Each member applies its own timeout.
            OriginTarget::Group(group) => Box::pin(group.fetch(parts, body, forward_body)).await,
            OriginTarget::Inner => Err(OriginError::protocol("the app is not a remote origin")),
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
        S: App<ReqB, ResB>,
        ReqB: HttpBody,
        ResB: HttpBody,
    {
        match self.as_ref() {
            OriginTarget::Inner => {
                let timeout = self.response_timeout();
                let fut = inner::call(inner, parts, body);
                match tokio::time::timeout(timeout, fut).await {
                    Ok(Ok(resp)) => Fetched::Response(resp),
                    Ok(Err(e)) => Fetched::Service(e),
                    Err(_) => Fetched::Failed(OriginError::timeout("no response head in time")),
                }
            }
            remote => match remote.fetch_remote(parts, body, forward_body).await {
                Ok(resp) => Fetched::Response(resp),
                Err(e) => Fetched::Failed(e),
            },
        }
    }

    /// An upgrade request (WebSocket): the app gets it as sent (with the
    /// connection's upgrade handle); an HTTP origin gets the handshake and,
    /// if it switches protocols, a tunnel; an S3 origin cannot upgrade. A
    /// group sends it to its primary (a tunnel cannot fail over).
    pub(crate) async fn upgrade<S, ReqB, ResB>(
        self: &Arc<Self>,
        inner: S,
        mut parts: Parts,
        body: ReqB,
    ) -> Fetched<S::Error>
    where
        S: App<ReqB, ResB>,
        ReqB: HttpBody,
        ResB: HttpBody,
    {
        match self.as_ref() {
            OriginTarget::Inner => self.fetch(inner, parts, body, true).await,
            OriginTarget::Http(origin) => {
                let Some(viewer) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
                    return Fetched::Failed(OriginError::protocol(
                        "this connection cannot be upgraded (the server was not started with upgrades)",
                    ));
                };
                let slot = match limit::acquire(origin.limiter()).await {
                    Ok(slot) => slot,
                    Err(e) => return Fetched::Failed(e),
                };
                let timed_out = || OriginError::timeout("no response head in time");
                match tokio::time::timeout(self.response_timeout(), origin.upgrade(parts, viewer)).await {
                    // The slot covers the handshake, not the tunnel's life.
                    Ok(Ok(resp)) => Fetched::Response(slot.hold(resp)),
                    Ok(Err(e)) => Fetched::Failed(e),
                    Err(_) => Fetched::Failed(timed_out()),
                }
            }
            #[cfg(feature = "s3")]
            OriginTarget::S3(_) => Fetched::Failed(OriginError::protocol("an S3 origin cannot upgrade a connection")),
            OriginTarget::Group(group) => Box::pin(Arc::clone(group.primary()).upgrade(inner, parts, body)).await,
        }
    }
}
