//! # tower-cdn
//!
//! A CloudFront-style CDN edge cache as a Tower layer.
//!
//! # Routes and origins
//!
//! A [`CdnLayer`] holds [`Distribution`]s, chosen by the request's host;
//! each routes paths to origins through ordered [`CacheBehavior`]s
//! (CloudFront [`PathPattern`]s, first match wins), each with a
//! [`CachePolicy`] (TTLs, what is in the cache key), an
//! [`OriginRequestPolicy`] (what else reaches the origin) and
//! [`AllowedMethods`]. Origins are HTTP servers ([`Origin::http`]), S3
//! buckets ([`S3Origin`]) or the wrapped app ([`Origin::inner`]); an
//! [`OriginGroup`] fails over from one to another. The same model reads
//! from a TOML file with [`config::from_file`] (feature `toml`, on by
//! default through `cli`). See the README for the rules and a complete file.
//!
//! ```
//! use tower_cdn::{CacheBehavior, CdnLayer, Distribution, Origin, S3Origin};
//!
//! let layer = CdnLayer::builder()
//!     .distribution(
//!         Distribution::new("site")
//!             .domain("example.com")
//!             .origin("app", Origin::inner())
//!             .origin("bucket", Origin::s3(S3Origin::new("my-assets").region("eu-west-1")))
//!             .behavior(CacheBehavior::new("/assets/*").origin("bucket"))
//!             .default_behavior(CacheBehavior::default_for("app")),
//!     )
//!     .build()
//!     .expect("valid configuration");
//! # let _ = layer;
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
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
pub use origin::{Origin, OriginGroup, S3Credentials, S3Origin};
pub use policy::key_policy::Select;
pub use route::{
    AllowedMethods, CacheBehavior, CachePolicy, Distribution, HostPattern, HostPatternError, OriginRequestPolicy,
    PathPattern, PatternError, PatternErrorKind,
};
pub use service::Cdn;
pub use status::{CacheStatus, Fwd, NotStored};

#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "toml")]
pub mod config;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
