//! [`CacheHint`]: how long the edge may share a response, said by the
//! handler in a typed response extension instead of in headers.

use std::time::Duration;

use crate::policy::cache_control::{CacheControl, FieldScope};
use crate::policy::targeted::Effective;

/// What a handler tells the layer about its response, read instead of
/// `Cache-Control`, `CDN-Cache-Control` and `Surrogate-Key`, and never
/// sent to the client (it is an extension, not a header; the client sees
/// the response's own `Cache-Control`, so browsers can be told something
/// else than the edge).
///
/// The lifetime is clamped to the behavior's `min_ttl`/`max_ttl` as any
/// origin's would be. A hint with a lifetime says the response may be
/// shared outright (as `s-maxage` does), so it is also shared with
/// visitors carrying cookies: hint only what is the same for everyone, or
/// key the behavior on what it differs by.
///
/// ```
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use tower_cdn::CacheHint;
///
/// let app: Router = Router::new()
///     .route("/price", get(|| async {
///         let hint = CacheHint::ttl(Duration::from_secs(30))
///             .stale_while_revalidate(Duration::from_secs(60))
///             .tag("prices");
///         (hint, "42")
///     }))
///     .route("/me", get(|| async { (CacheHint::private(), "only yours") }));
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheHint {
    ttl: Option<Duration>,
    stale_while_revalidate: Option<Duration>,
    stale_if_error: Option<Duration>,
    tags: Vec<String>,
    private: bool,
}

impl CacheHint {
    /// Shared for `ttl` (then revalidated or refetched).
    pub fn ttl(ttl: Duration) -> Self {
        CacheHint { ttl: Some(ttl), ..CacheHint::default() }
    }

    /// Never stored by the edge, whatever the behavior's minimum TTL.
    pub fn private() -> Self {
        CacheHint { private: true, ..CacheHint::default() }
    }

    /// After the lifetime, served stale for up to `window` while one
    /// background refresh runs (RFC 5861 §3).
    pub fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.stale_while_revalidate = Some(window);
        self
    }

    /// After the lifetime, served stale for up to `window` when the app
    /// fails (RFC 5861 §4).
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = Some(window);
        self
    }

    /// A purge tag ([`CacheHandle::invalidate_tags`](crate::CacheHandle)),
    /// like a `Surrogate-Key` entry.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Several purge tags.
    pub fn tags<I, T>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Says how long the response may be stored, or that it may not.
    pub(crate) fn sets_lifetime(&self) -> bool {
        self.private || self.ttl.is_some()
    }

    /// Never store.
    pub(crate) fn is_private(&self) -> bool {
        self.private
    }

    /// The purge tags.
    pub(crate) fn tag_list(&self) -> &[String] {
        &self.tags
    }

    /// The directives the storing rules read, as if the response had said
    /// them in a targeted field (`Expires` is ignored).
    pub(crate) fn effective(&self) -> Effective {
        let secs = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        let mut cc = CacheControl::default();
        if self.private {
            cc.no_store = true;
            cc.private = FieldScope::All;
        } else if let Some(ttl) = self.ttl {
            cc.public = true;
            cc.s_maxage = Some(secs(ttl));
            cc.max_age = Some(secs(ttl));
            cc.stale_while_revalidate = self.stale_while_revalidate.map(secs);
            cc.stale_if_error = self.stale_if_error.map(secs);
        }
        Effective { cc, targeted: true }
    }
}

impl axum::response::IntoResponseParts for CacheHint {
    type Error = std::convert::Infallible;

    fn into_response_parts(
        self,
        mut res: axum::response::ResponseParts,
    ) -> Result<axum::response::ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}
