//! [`Hooks`]: typed Rust at CloudFront's four events (viewer request,
//! origin request, origin response, viewer response) and in the cache key,
//! per behavior. In-process, so no sandbox, no cold start, no size limit;
//! each hook is a plain closure, `Send + Sync`, synchronous (the hit path
//! never waits on one).
//!
//! A hook that panics answers its own request with a 500
//! (`Cache-Status: ...; detail=hook-failed`) and is counted
//! (`Stats::hook_failures`); a panic in an origin-side hook fails that
//! fill, whose waiters fetch on their own, so nothing it touched is stored.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response, Uri, request, response};

type ViewerRequestFn = dyn Fn(&mut request::Parts) -> Option<Response<Bytes>> + Send + Sync;
type OriginRequestFn = dyn Fn(&Uri, &mut HeaderMap) + Send + Sync;
type OriginRequestAsyncFn = dyn Fn(Uri, HeaderMap) -> BoxFuture<HeaderMap> + Send + Sync;

/// A boxed future of an async hook.
pub(crate) type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
type OriginResponseFn = dyn Fn(&mut response::Parts) + Send + Sync;
type ViewerResponseFn = dyn Fn(&request::Parts, &mut response::Parts) + Send + Sync;
type CacheKeyFn = dyn Fn(&request::Parts) -> Option<String> + Send + Sync;

/// The hooks of a behavior (or of the single-origin setup).
///
/// ```
/// use http::{HeaderValue, Response, StatusCode};
/// use tower_cdn::{CacheHint, Hooks};
///
/// let hooks = Hooks::new()
///     // Viewer request: answer at the edge, or rewrite the target.
///     .viewer_request(|req| {
///         if req.uri.path() == "/old" {
///             let mut moved = Response::new(bytes::Bytes::new());
///             *moved.status_mut() = StatusCode::MOVED_PERMANENTLY;
///             moved.headers_mut().insert("location", HeaderValue::from_static("/new"));
///             return Some(moved);
///         }
///         None
///     })
///     // Origin request: on a miss, before the fetch.
///     .origin_request(|_uri, headers| {
///         headers.insert("x-edge-secret", HeaderValue::from_static("s3cr3t"));
///     })
///     // Origin response: before the store decision (a `CacheHint` sets
///     // the TTL, the tags, or keeps it private).
///     .origin_response(|resp| {
///         if resp.status == StatusCode::OK {
///             resp.extensions.insert(CacheHint::ttl(std::time::Duration::from_secs(60)));
///         }
///     })
///     // Viewer response: every response, hits included.
///     .viewer_response(|_req, resp| {
///         resp.headers.insert("x-edge", HeaderValue::from_static("1"));
///     })
///     // Cache key: a component computed from the request.
///     .cache_key(|req| req.headers.get("x-device").and_then(|v| v.to_str().ok()).map(str::to_owned));
/// # let _ = hooks;
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct Hooks {
    pub(crate) viewer_request: Option<Arc<ViewerRequestFn>>,
    pub(crate) origin_request: Option<Arc<OriginRequestFn>>,
    pub(crate) origin_request_async: Option<Arc<OriginRequestAsyncFn>>,
    pub(crate) origin_response: Option<Arc<OriginResponseFn>>,
    pub(crate) viewer_response: Option<Arc<ViewerResponseFn>>,
    pub(crate) cache_key: Option<Arc<CacheKeyFn>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("viewer_request", &self.viewer_request.is_some())
            .field("origin_request", &self.origin_request.is_some())
            .field("origin_request_async", &self.origin_request_async.is_some())
            .field("origin_response", &self.origin_response.is_some())
            .field("viewer_response", &self.viewer_response.is_some())
            .field("cache_key", &self.cache_key.is_some())
            .finish()
    }
}

fn same<T: ?Sized>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

impl PartialEq for Hooks {
    fn eq(&self, other: &Self) -> bool {
        same(&self.viewer_request, &other.viewer_request)
            && same(&self.origin_request, &other.origin_request)
            && same(&self.origin_request_async, &other.origin_request_async)
            && same(&self.origin_response, &other.origin_response)
            && same(&self.viewer_response, &other.viewer_response)
            && same(&self.cache_key, &other.cache_key)
    }
}

impl Hooks {
    /// No hooks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Viewer request, before the lookup: change the target or headers
    /// (a changed target is normalised, routed and keyed again, so the key
    /// and the origin request name the same resource), or return a
    /// response to answer at the edge (a redirect, a 403).
    pub fn viewer_request(
        mut self,
        f: impl Fn(&mut request::Parts) -> Option<Response<Bytes>> + Send + Sync + 'static,
    ) -> Self {
        self.viewer_request = Some(Arc::new(f));
        self
    }

    /// Origin request, on a miss before the fetch: add or change headers
    /// (sign, authenticate). The target is the key's and cannot change.
    pub fn origin_request(mut self, f: impl Fn(&Uri, &mut HeaderMap) + Send + Sync + 'static) -> Self {
        self.origin_request = Some(Arc::new(f));
        self
    }

    /// The origin request hook's async variant, for IO that must happen
    /// before the fetch (fetch a token, ask a signing service): it gets the
    /// target and the headers and returns the headers to send. Runs after
    /// the sync one, where the fetch already waits on IO; never on a hit.
    pub fn origin_request_async<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Uri, HeaderMap) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = HeaderMap> + Send + 'static,
    {
        self.origin_request_async = Some(Arc::new(move |uri, headers| Box::pin(f(uri, headers))));
        self
    }

    /// Origin response, before the store decision: change headers, or set a
    /// [`CacheHint`](crate::CacheHint) extension (TTL, tags, private: not
    /// stored).
    pub fn origin_response(mut self, f: impl Fn(&mut response::Parts) + Send + Sync + 'static) -> Self {
        self.origin_response = Some(Arc::new(f));
        self
    }

    /// Viewer response, for every response of the behavior (hits, misses,
    /// the edge's own answers): add or remove headers. Runs after the
    /// response headers policy.
    pub fn viewer_response(
        mut self,
        f: impl Fn(&request::Parts, &mut response::Parts) + Send + Sync + 'static,
    ) -> Self {
        self.viewer_response = Some(Arc::new(f));
        self
    }

    /// A component of the cache key computed from the request (after the
    /// viewer request hook). `None` keys as its absence.
    pub fn cache_key(mut self, f: impl Fn(&request::Parts) -> Option<String> + Send + Sync + 'static) -> Self {
        self.cache_key = Some(Arc::new(f));
        self
    }
}

/// Set by a viewer request hook (or by the app's own middleware before the
/// layer) as a request extension: the request goes to this origin of the
/// distribution (its id), with the behavior's policies, and is keyed apart
/// from the same path at the behavior's own origin. An id the distribution
/// does not have answers 500 (`detail=unknown-origin`).
///
/// ```
/// use tower_cdn::{Hooks, UseOrigin};
/// let ab = Hooks::new().viewer_request(|req| {
///     let beta = req.headers.get("cookie").and_then(|c| c.to_str().ok()).is_some_and(|c| c.contains("beta=1"));
///     if beta {
///         req.extensions.insert(UseOrigin::new("beta"));
///     }
///     None
/// });
/// # let _ = ab;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseOrigin(pub(crate) String);

impl UseOrigin {
    /// The origin (or origin group) with this id.
    pub fn new(id: impl Into<String>) -> Self {
        UseOrigin(id.into())
    }
}

/// A hook panicked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HookPanicked;

/// Runs an async hook's future, catching a panic.
pub(crate) async fn guarded_async<T>(fut: BoxFuture<T>) -> Result<T, HookPanicked> {
    use futures_util::FutureExt;
    AssertUnwindSafe(fut).catch_unwind().await.map_err(|_| HookPanicked)
}

/// Runs a hook, catching a panic.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, HookPanicked> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| HookPanicked)
}
