//! Entry points for the `cargo fuzz` targets in `fuzz/`, compiled only with
//! `--cfg fuzzing` (which cargo-fuzz and cargo-afl set). Not a public API:
//! everything else the targets call is public already.

pub use crate::cache::key::{HostError, cache_key, request_host};

/// Parses a received custom policy document the way [`crate::auth::verify`]
/// does once its signature checked out; `true` when it is usable.
pub fn parse_policy(json: &[u8]) -> bool {
    crate::auth::policy::ParsedPolicy::parse(json).is_ok()
}
