//! # tower-cdn
//!
//! A CloudFront-style CDN edge cache as a Tower layer.
//!
//! How the crate is laid out (levels, which way imports run, where each
//! concern lives): `ARCHITECTURE.md` in the repository.
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
//!
//! # The app as origin
//!
//! Behind the layer, the app keeps working as it did: it sees each request
//! as the client sent it (cookies, `Authorization`, every header), and its
//! responses are shared only as far as they say. A response is stored only
//! when it gives itself a lifetime (`max-age`, `s-maxage`, `Expires`, or
//! RFC 9111's heuristic from `Last-Modified`) unless
//! [`CdnLayerBuilder::default_ttl`] or a cache policy's `default_ttl` is set;
//! errors are not cached on the edge's own account; and a request that
//! carries cookies outside the key or `Authorization` is served from the
//! cache, or has its answer stored, only when the answer says `public` or
//! `s-maxage`. Such a request never waits on another visitor's fetch. HTTP
//! and S3 origins get CloudFront's model (default TTL 24 h, what reaches
//! the origin limited to the key).
//!
//! # Operating
//!
//! [`AccessLog`]s, counters and invalidations through [`CdnLayer::cache`],
//! run-time switches ([`CdnLayer::set_enabled`]), atomic reconfiguration
//! that keeps the cache ([`CdnLayer::reload`]), an HTTP admin API
//! ([`admin::router`]) to serve on a port of its own, and a `tracing` span
//! per request (target `tower_cdn::request`, level DEBUG).
//!
//! # Fleets
//!
//! Several edges (processes behind a load balancer, or layers) given the
//! same [`L2Config`] share a second cache tier on Redis: an L1 miss looks
//! there before the origin, concurrent misses across edges make one origin
//! fetch, and an invalidation on any edge reaches every edge. Losing Redis
//! costs hit ratio, never correctness. An edge can also use another
//! tower-cdn as its origin (an origin shield); loops are refused with 508
//! (`CDN-Loop`, RFC 8586). See the README's "Running a fleet".
//!
//! # Security
//!
//! A shared cache is a security boundary: one client's request decides what
//! every later client is served. What the layer does about it (each item
//! has a test that fails without the defence; `SECURITY.md` lists them):
//!
//! - **Shared-cache rules** (RFC 9111 §3, §3.5): responses with `no-store`,
//!   `private` or `Set-Cookie`, responses to
//!   requests with `Authorization` (unless `public`, `s-maxage` or
//!   `must-revalidate`), partial and incomplete bodies are never stored.
//!   `Cookie` is neither keyed nor forwarded unless a policy names it, so an
//!   origin cannot personalise a response that is then edge.
//! - **One name per resource**: the request target is put in one canonical
//!   form before routing, the key and the origin request are derived from
//!   it (dot segments, `%2e`, unreserved escapes; RFC 3986 §6.2.2; see
//!   `src/policy/target.rs`); a backslash (raw or `%5C`), control bytes, `*`, paths
//!   above the root, and paths a lenient origin would read as another
//!   behavior's (`//private/x`, `/private%2Fx`, `/a/..;/x`) get 400; the host
//!   is lower-cased without trailing dot or default port, and an
//!   absolute-form target's authority wins over `Host` (RFC 9112 §3.2.2).
//! - **Unkeyed headers do not reach the origin**: where the edge gives
//!   responses a lifetime (CloudFront's TTLs), only the key's headers and a
//!   representation-neutral set are forwarded for GET and HEAD; the
//!   forwarding family (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`,
//!   `True-Client-IP`, `CloudFront-Viewer-*`, ...) never passes unless
//!   [`CdnLayerBuilder::trust_forwarding_headers`] or a policy names it
//!   (`src/policy/forward_policy.rs`); hop-by-hop fields (`Connection` and what
//!   it names, `Upgrade`, `TE`, ...) are neither forwarded nor stored, and a
//!   viewer's `Connection` cannot remove the fields the edge adds.
//! - **Smuggling and broken origins**: a request with both `Content-Length`
//!   and `Transfer-Encoding` gets 400 and its connection closed; a GET or
//!   HEAD with content gets 403 (as at CloudFront); forwarded bodies carry
//!   their own framing, never the viewer's; invalid, short, endless or
//!   garbage origin responses end in a 502 or a truncated body and are never
//!   stored.
//! - **Limits**: the dev proxy answers 414 for long URIs, 431 for large or
//!   too many header fields and 408 for a slow request head; origins get
//!   connect and response timeouts (502/504) and an optional
//!   [`Origin::max_concurrent_requests`] (503 with `Retry-After`).
//! - **Private content**: behaviors with
//!   [`trusted_keys`](CacheBehavior::trusted_keys) accept only CloudFront
//!   signed URLs or cookies ([`auth`]); refusals (403) happen before any
//!   cache lookup or origin contact, and the signing parameters are removed
//!   from the key and the origin request.
//! - **No secrets in output**: S3 credentials, origin custom header values
//!   and keys never appear in `Debug`, errors or logs; URL signatures are
//!   redacted from access logs; error bodies are short and fixed.
//!
//! What remains yours to do:
//!
//! - Terminate TLS in front of the layer or the dev proxy (they speak plain
//!   HTTP), and set [`CdnLayerBuilder::viewer_scheme`] to `https` there.
//! - Put the layer outermost, so it sees requests as clients sent them; an
//!   app behind it that authenticates or personalises must mark those
//!   responses `private` or `no-store`, or the behavior must key on what
//!   they vary on (`Vary`, or the cache policy's headers and cookies).
//! - Turn on `trust_forwarding_headers` only behind a proxy that overwrites
//!   those fields, and set [`ClientAddr`] to the real client address there.
//! - Keep signing keys out of the edge (it needs public keys only), and
//!   rotate them: trust the new key, sign with it, drop the old one once its
//!   URLs have expired.
//! - Rate-limit clients and bound request bodies (for example with tower's
//!   `RateLimit` and `tower_http::limit`); the layer does neither.
//! - Treat access logs as sensitive: they hold client addresses, queries
//!   and cookies, as CloudFront's do.
#![forbid(unsafe_code)]
// A build without some features leaves helpers that only those features
// call unused; the all-features build is the one linted with
// `-D warnings`, and CI checks every feature alone.
#![cfg_attr(
    not(all(
        feature = "s3",
        feature = "l2",
        feature = "signed-urls",
        feature = "compression",
        feature = "metrics",
        feature = "admin",
        feature = "toml",
        feature = "otel"
    )),
    allow(dead_code)
)]
#![warn(missing_docs)]

pub mod auth;
mod body;
mod cache;
mod clock;
mod conn;
mod edge;
mod error;
mod explain;
#[cfg(feature = "l2")]
mod fleet;
mod flow;
mod future;
mod handle;
mod hint;
mod hooks;
mod layer;
mod nest;
mod observe;
mod origin;
// The caching rules as pure functions. Not public API (no semver promise):
// the fuzz targets (`--cfg fuzzing`) and the project's own benches and
// allocation test (feature `unstable-internals`) reach into it.
#[cfg(any(fuzzing, feature = "unstable-internals"))]
pub mod policy;
// Parts of it only the fuzzers and benches call.
#[cfg(not(any(fuzzing, feature = "unstable-internals")))]
#[allow(dead_code, unused_imports)]
pub(crate) mod policy;
mod reload;
mod report;
mod respond;
mod route;
mod service;
mod status;
#[cfg(test)]
mod test_util;

pub use body::CdnBody;
#[cfg(feature = "disk")]
pub use cache::disk::DiskConfig;
pub use cache::local::Invalidation;
pub use cache::purge::InvalidationStatus;
pub use clock::Clock;
pub use conn::{ClientAddr, LocalAddr, ViewerConnection};
pub use error::{ConfigError, OriginError};
pub use explain::{Explanation, KeyPage, KeyQuery, ListedKey, NotStoredNote, StoredVariant};
#[cfg(feature = "l2")]
pub use fleet::config::{DEFAULT_L2_CHUNK_BYTES, DEFAULT_L2_MAX_ENTRY_BYTES, L2Config};
pub use future::ResponseFuture;
pub use handle::CacheHandle;
pub use hint::CacheHint;
pub use hooks::{Hooks, UseOrigin};
pub use layer::{
    CdnConfig, CdnLayer, CdnLayerBuilder, DEFAULT_CAPACITY_BYTES, DEFAULT_MAX_ENTRY_BYTES, DEFAULT_SLICE_BYTES,
};
pub use observe::X_REQUEST_ID;
pub use observe::metrics::Stats;
pub use observe::record::{AccessRecord, ResultType};
pub use observe::sink::{AccessLog, LogFormat};
#[cfg(feature = "otel")]
pub use observe::telemetry::{DEFAULT_SERVICE_NAME, TelemetryConfig};
pub use origin::{Balance, HealthCheck, Origin, OriginGroup, OriginTls, OriginTlsVersion};
#[cfg(feature = "s3")]
pub use origin::{S3Credentials, S3Origin};
pub use policy::key_policy::Select;
pub use policy::response_headers::{
    AllowOrigins, Cors, MANAGED_POLICIES as MANAGED_RESPONSE_HEADERS_POLICIES, ResponseHeadersPolicy,
};
pub use policy::rewrite::{Match as RewriteMatch, Redirect as RewriteRedirect, Rewrite};
pub use reload::Reloaded;
pub use report::{PopularBy, PopularObject, REPORT_WINDOW_SECS, Referrer, RouteCounters, TimelinePoint};
pub use route::{
    AllowedMethods, CacheBehavior, CachePolicy, CustomErrorResponse, Distribution, HostPattern, HostPatternError,
    OriginRequestPolicy, PathPattern, PatternError, PatternErrorKind, ViewerProtocolPolicy,
};
pub use service::Cdn;
pub use status::{CacheStatus, Fwd, NotStored};

#[cfg(feature = "admin")]
pub mod admin;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "toml")]
pub mod config;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;

#[doc(hidden)] // Internals for `benches/` only; not a public API.
pub mod __bench {
    pub use crate::cache::key::{cache_key, request_host};
}

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
