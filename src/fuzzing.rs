//! Entry points for the `cargo fuzz` targets in `fuzz/`, compiled only with
//! `--cfg fuzzing` (which cargo-fuzz and cargo-afl set). Not a public API:
//! everything else the targets call is public already.

pub use crate::cache::key::cache_key;
pub use crate::policy::host::{HostError, request_host};

/// Parses a received custom policy document the way [`crate::auth::verify`]
/// does once its signature checked out; `true` when it is usable.
pub fn parse_policy(json: &[u8]) -> bool {
    crate::auth::policy::ParsedPolicy::parse(json).is_ok()
}

/// `Accept-Encoding` negotiation as the edge compression does it: the
/// token of the coding chosen (`"br"` or `"gzip"`), or `None`.
pub fn negotiate_encoding(headers: &http::HeaderMap) -> Option<&'static str> {
    use crate::body::compress::{Coding, negotiate};
    negotiate(headers).map(|c| match c {
        Coding::Brotli => "br",
        Coding::Gzip => "gzip",
    })
}

/// Rewrites `Accept-Encoding` to the one coding the edge would use, or
/// removes it (what the layer does to a request before keying it).
pub fn normalize_accept_encoding(headers: &mut http::HeaderMap) {
    crate::body::compress::normalize_accept_encoding(headers);
}
