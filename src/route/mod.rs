//! Routing: which behavior (origin + cache policy) handles a request.

use std::sync::Arc;

use crate::origin::OriginTarget;
use crate::policy::freshness::TtlPolicy;

/// A cache behavior: the origin and the cache policy for matching requests.
#[derive(Debug)]
pub(crate) struct Behavior {
    pub(crate) origin: Arc<OriginTarget>,
    pub(crate) ttl: TtlPolicy,
}

/// What routing decided for a request.
pub(crate) enum Route<'a> {
    /// Handle with this behavior.
    Behavior(&'a Arc<Behavior>),
}

/// The routing table.
#[derive(Debug)]
pub(crate) struct Routes {
    default: Arc<Behavior>,
}

impl Routes {
    pub(crate) fn single(behavior: Behavior) -> Self {
        Routes { default: Arc::new(behavior) }
    }

    /// Picks the behavior for a host and path.
    pub(crate) fn route(&self, _host: Option<&str>, _path: &str) -> Route<'_> {
        Route::Behavior(&self.default)
    }
}
