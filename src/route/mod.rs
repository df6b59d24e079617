//! Routing: which distribution (by host) and which behavior (by path)
//! handles a request, with what cache key and what origin request.
//!
//! Precedence, documented once:
//!
//! 1. **Host → distribution.** The request host (the URI's authority, else
//!    `Host`; lower-cased, port ignored) is looked up among the domain names
//!    and aliases: an exact name beats a `*.example.com` wildcard, which
//!    matches exactly one extra label. A distribution without names takes
//!    every other host. No match: the request bypasses the cache.
//! 2. **Disabled** distributions pass requests to the wrapped service (layer)
//!    or answer 403 (standalone proxy).
//! 3. **Default root object**: the path `/` (only that one) becomes the root
//!    object, e.g. `/index.html`, before behaviors are matched.
//! 4. **Path → behavior.** Behaviors are tried in their configured order with
//!    CloudFront patterns (case-sensitive, `*` any run, `?` one character);
//!    the first match wins and the default behavior (`*`) comes last.

mod behavior;
mod build;
mod distribution;
mod error_pages;
mod host;
mod lint;
mod pattern;
mod policies;
mod refusal;
mod reload;
mod table;

pub use behavior::{AllowedMethods, CacheBehavior, ViewerProtocolPolicy};
pub use distribution::Distribution;
pub use error_pages::CustomErrorResponse;
pub use host::{HostPattern, HostPatternError};
pub use pattern::{PathPattern, PatternError, PatternErrorKind};
pub use policies::{CachePolicy, OriginRequestPolicy};

pub(crate) use behavior::Behavior;
pub(crate) use build::{BuildContext, build_routes};
pub(crate) use policies::check_ttls;
pub(crate) use reload::{RouteChanges, owner_changed};
pub(crate) use table::{Refusal, Resolution, Routes};
