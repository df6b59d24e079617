//! # tower-cdn
//!
//! A CloudFront-style CDN edge cache as a Tower layer.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body;
mod cache;
mod clock;
mod error;
mod flow;
mod future;
mod handle;
mod layer;
mod observe;
mod origin;
pub mod policy;
mod respond;
mod route;
mod service;
mod shared;
mod status;

pub use body::CdnBody;

/// The address of the client a request came from. Servers put it in the
/// request extensions (the dev proxy does; in axum, `ConnectInfo` works
/// too); the layer uses it for `X-Forwarded-For` and access logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub std::net::SocketAddr);
pub use cache::purge::InvalidationStatus;
pub use clock::Clock;
pub use error::{ConfigError, OriginError};
pub use future::ResponseFuture;
pub use handle::{CacheHandle, Invalidation};
pub use layer::{CdnConfig, CdnLayer, CdnLayerBuilder, DEFAULT_CAPACITY_BYTES, DEFAULT_MAX_ENTRY_BYTES};
pub use observe::X_REQUEST_ID;
pub use observe::metrics::Stats;
pub use observe::record::{AccessRecord, ResultType};
pub use observe::sink::{AccessLog, LogFormat};
pub use origin::Origin;
pub use service::Cdn;
pub use status::{CacheStatus, Fwd, NotStored};

#[cfg(feature = "cli")]
pub mod cli;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
