//! S3 origins: object keys from request paths, origin URLs for path-style
//! and virtual-hosted buckets, credentials, SigV4 signing, error-status
//! mapping, and the fetch that puts them together. Everything but
//! `fetch.rs` and the credentials file reader is pure.

mod addressing;
mod config;
mod credentials;
mod fetch;
mod key;
mod sign;

pub use config::{S3Credentials, S3Origin};

pub(crate) use addressing::AddressError;
pub(crate) use fetch::S3Fetcher;
pub(crate) use key::{KeyError, canonical_path};
