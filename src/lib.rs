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
mod origin;
pub mod policy;
mod respond;
mod route;
mod service;
mod shared;
mod status;

pub use body::CdnBody;
pub use clock::Clock;
pub use error::{ConfigError, OriginError};
pub use future::ResponseFuture;
pub use handle::CacheHandle;
pub use layer::{CdnConfig, CdnLayer, CdnLayerBuilder, DEFAULT_CAPACITY_BYTES, DEFAULT_MAX_ENTRY_BYTES};
pub use origin::Origin;
pub use service::Cdn;
pub use status::{CacheStatus, Fwd, NotStored};

#[cfg(feature = "cli")]
pub mod cli;

#[doc(hidden)] // Internals for `benches/` only; not a public API.
pub mod __bench {
    pub use crate::cache::key::{cache_key, request_host};
}

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
