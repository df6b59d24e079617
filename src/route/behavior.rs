//! Cache behaviors: the public description ([`CacheBehavior`]) and the
//! validated one the request path uses ([`Behavior`]).

#[cfg(feature = "s3")]
use std::borrow::Cow;
use std::sync::Arc;

use http::{HeaderMap, Method};

use super::pattern::PathPattern;
use super::policies::{CachePolicy, OriginRequestPolicy};
use super::refusal::Refusal;
use crate::auth::TrustedKeys;
use crate::hooks::Hooks;
use crate::origin::OriginTarget;
#[cfg(feature = "s3")]
use crate::origin::s3::{KeyError, canonical_path};
use crate::policy::forward_policy::{ForwardMode, ForwardPolicy};
use crate::policy::freshness::TtlPolicy;
use crate::policy::key_policy::{self, KeyPolicy};
use crate::policy::response_headers::ResponseHeadersPolicy;
use crate::policy::rewrite::Rewrite;

/// The HTTP methods a behavior accepts; others get `403 Forbidden`, as
/// CloudFront answers. Only GET and HEAD responses are ever cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AllowedMethods {
    /// GET and HEAD (CloudFront's default).
    #[default]
    GetHead,
    /// GET, HEAD and OPTIONS.
    GetHeadOptions,
    /// GET, HEAD, OPTIONS, PUT, PATCH, POST and DELETE (CloudFront's "all"),
    /// and extension methods (forwarded, as the HTTP caching test suite
    /// expects of a proxy). Never `TRACE` (it echoes a request's
    /// credentials back to a script: cross-site tracing; nginx refuses it
    /// too) or `CONNECT` (a tunnel, not a resource): those are refused like
    /// any method a behavior does not allow.
    All,
}

impl AllowedMethods {
    /// Whether `method` is accepted.
    pub fn allows(self, method: &Method) -> bool {
        match self {
            AllowedMethods::GetHead => matches!(*method, Method::GET | Method::HEAD),
            AllowedMethods::GetHeadOptions => {
                matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
            }
            // In any case: a framework that folds method case would read
            // `trace` as TRACE.
            AllowedMethods::All => {
                !["TRACE", "TRACK", "CONNECT"].iter().any(|m| method.as_str().eq_ignore_ascii_case(m))
            }
        }
    }
}

/// Which protocol viewers may use for a behavior (CloudFront's viewer
/// protocol policy). The protocol is what the server that accepted the
/// connection says ([`ViewerConnection`](crate::ViewerConnection)), else a
/// trusted `X-Forwarded-Proto`, else the `viewer_scheme` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ViewerProtocolPolicy {
    /// HTTP and HTTPS (the default).
    #[default]
    AllowAll,
    /// An HTTP request gets `301 Moved Permanently` to the same URL over
    /// HTTPS (`307 Temporary Redirect` for methods other than GET and HEAD,
    /// so a client resends the same method and body), before any lookup.
    RedirectToHttps,
    /// An HTTP request gets `403 Forbidden`, before any lookup.
    HttpsOnly,
}

/// A cache behavior (CloudFront's): the requests whose path matches a
/// pattern go to one origin (or origin group) with one cache policy.
///
/// Patterns follow CloudFront: case-sensitive, `*` matches any run of
/// characters (including `/`), `?` exactly one; a leading `/` is optional.
/// Behaviors are tried in the order they were added, the first match wins,
/// and the distribution's default behavior (pattern `*`) comes last.
///
/// ```
/// use tower_cdn::{AllowedMethods, CacheBehavior, CachePolicy};
///
/// let assets = CacheBehavior::new("/assets/*")
///     .origin("bucket")
///     .cache_policy(CachePolicy::new().query_strings(tower_cdn::Select::None));
/// let app = CacheBehavior::default_for("app").allowed_methods(AllowedMethods::All);
/// # let _ = (assets, app);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct CacheBehavior {
    pub(crate) path_pattern: String,
    pub(crate) origin: Option<String>,
    pub(crate) cache_policy: CachePolicy,
    pub(crate) origin_request_policy: OriginRequestPolicy,
    pub(crate) allowed_methods: AllowedMethods,
    pub(crate) compress: bool,
    pub(crate) trusted_keys: Option<TrustedKeys>,
    pub(crate) response_headers: Option<ResponseHeadersPolicy>,
    pub(crate) hooks: Hooks,
    pub(crate) rewrite: Option<Rewrite>,
    pub(crate) viewer_protocol: ViewerProtocolPolicy,
}

impl CacheBehavior {
    /// A behavior for paths matching `path_pattern`. Set its
    /// [`origin`](Self::origin).
    pub fn new(path_pattern: impl Into<String>) -> Self {
        CacheBehavior {
            path_pattern: path_pattern.into(),
            origin: None,
            cache_policy: CachePolicy::default(),
            origin_request_policy: OriginRequestPolicy::default(),
            allowed_methods: AllowedMethods::default(),
            compress: false,
            trusted_keys: None,
            response_headers: None,
            hooks: Hooks::new(),
            rewrite: None,
            viewer_protocol: ViewerProtocolPolicy::AllowAll,
        }
    }

    /// Which protocol viewers may use (default: both); see
    /// [`ViewerProtocolPolicy`].
    pub fn viewer_protocol_policy(mut self, policy: ViewerProtocolPolicy) -> Self {
        self.viewer_protocol = policy;
        self
    }

    /// Declarative rewrites and redirects, run before the viewer request
    /// hook (see [`Rewrite`]); a rewritten target is normalised, routed and
    /// keyed again.
    pub fn rewrite(mut self, rewrite: Rewrite) -> Self {
        self.rewrite = Some(rewrite);
        self
    }

    /// Typed hooks at the four events and in the cache key (see [`Hooks`]).
    pub fn hooks(mut self, hooks: Hooks) -> Self {
        self.hooks = hooks;
        self
    }

    /// A response headers policy (CORS, security headers, custom headers,
    /// `Server-Timing`): applied at the edge to every response of this
    /// behavior, hits included; CORS preflights are answered at the edge.
    /// [`ResponseHeadersPolicy::managed`] gives CloudFront's managed ones.
    pub fn response_headers_policy(mut self, policy: ResponseHeadersPolicy) -> Self {
        self.response_headers = Some(policy);
        self
    }

    /// Compress compressible responses (text, JSON, JavaScript, SVG, ...;
    /// 1 000 to 10 000 000 bytes) with brotli or gzip for clients that
    /// accept them, caching each encoding as its own variant, as
    /// CloudFront's "compress objects automatically" (default off).
    /// `Accept-Encoding` is normalised to the one coding the edge would use
    /// (`br`, else `gzip`, honouring `q=0` and `*`), or `identity` when the
    /// client takes neither; the origin sees that value. Feature
    /// `compression`.
    #[cfg(feature = "compression")]
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// A default behavior (pattern `*`) sending everything to `origin_id`.
    pub fn default_for(origin_id: impl Into<String>) -> Self {
        CacheBehavior::new("*").origin(origin_id)
    }

    /// The id of the origin or origin group that serves this behavior.
    pub fn origin(mut self, origin_id: impl Into<String>) -> Self {
        self.origin = Some(origin_id.into());
        self
    }

    /// TTLs and cache key settings (default: [`CachePolicy::new`]).
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.cache_policy = policy;
        self
    }

    /// What is forwarded to the origin (default: [`OriginRequestPolicy::new`]).
    pub fn origin_request_policy(mut self, policy: OriginRequestPolicy) -> Self {
        self.origin_request_policy = policy;
        self
    }

    /// Accepted methods (default: GET and HEAD); others get 403.
    pub fn allowed_methods(mut self, methods: AllowedMethods) -> Self {
        self.allowed_methods = methods;
        self
    }

    #[cfg(feature = "signed-urls")]
    /// Restricts the behavior to signed URLs and signed cookies made with
    /// one of `keys` (CloudFront's trusted key groups; see [`crate::auth`]).
    /// Other requests, and expired, tampered or misdirected ones, get
    /// `403 Forbidden` before any cache lookup or origin contact. The
    /// signing query parameters and cookies are removed before the cache
    /// key and the origin request are made, so differently signed URLs for
    /// one object share one cached copy. An empty key set is an error at
    /// [`build`](crate::CdnLayerBuilder::build). Feature `signed-urls`.
    pub fn trusted_keys(mut self, keys: TrustedKeys) -> Self {
        self.trusted_keys = Some(keys);
        self
    }
}

/// A validated behavior: what the request path needs.
#[derive(Debug)]
pub(crate) struct Behavior {
    pub(crate) origin: Arc<OriginTarget>,
    pub(crate) ttl: TtlPolicy,
    pub(crate) pattern: PathPattern,
    pub(crate) key: KeyPolicy,
    pub(crate) forward: ForwardPolicy,
    /// Which viewer headers reach the origin by default.
    pub(crate) forward_mode: ForwardMode,
    pub(crate) allowed: AllowedMethods,
    /// HTTP, HTTPS, or HTTPS only (a redirect or a 403 for HTTP).
    pub(crate) viewer_protocol: ViewerProtocolPolicy,
    /// Compress at the edge (see [`CacheBehavior::compress`]).
    pub(crate) compress: bool,
    /// Requests must be signed by one of these keys.
    pub(crate) trusted_keys: Option<Arc<TrustedKeys>>,
    /// A typed request extension in the key (see
    /// [`CachePolicy::key_extension`](crate::CachePolicy::key_extension)).
    pub(crate) key_extension: Option<ExtensionKey>,
    /// Headers the edge adds to every response (see
    /// [`CacheBehavior::response_headers_policy`]).
    pub(crate) response_headers: Option<Arc<ResponseHeadersPolicy>>,
    /// Hooks at the four events and in the key (see [`Hooks`]).
    pub(crate) hooks: Hooks,
    /// Rewrites and redirects before the lookup.
    pub(crate) rewrite: Option<Arc<Rewrite>>,
    /// The id of its origin in its distribution (none in the single-origin
    /// setup).
    pub(crate) origin_id: Option<Box<str>>,
    /// The same behavior with each other origin of the distribution, for
    /// requests a hook sends there ([`UseOrigin`](crate::UseOrigin)).
    pub(crate) alternates: std::collections::HashMap<Box<str>, Arc<Behavior>>,
    /// The id of its distribution (for its counters).
    pub(crate) distribution: Box<str>,
    /// Its counters, found on first use.
    pub(crate) stats: crate::observe::routes::RouteSlot,
}

/// A typed request extension the key holds: set by the app's own
/// middleware (a tenant, a role), so no client can forge it the way it
/// forges a header.
#[derive(Clone, Copy)]
pub(crate) struct ExtensionKey {
    type_name: &'static str,
    read: fn(&http::Extensions) -> Option<String>,
}

impl ExtensionKey {
    pub(crate) fn of<T: std::fmt::Display + Send + Sync + 'static>() -> Self {
        fn read<T: std::fmt::Display + Send + Sync + 'static>(ext: &http::Extensions) -> Option<String> {
            ext.get::<T>().map(ToString::to_string)
        }
        ExtensionKey { type_name: std::any::type_name::<T>(), read: read::<T> }
    }

    /// The extension's value in this request, if it has one.
    pub(crate) fn value(&self, ext: &http::Extensions) -> Option<String> {
        (self.read)(ext)
    }
}

impl std::fmt::Debug for ExtensionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExtensionKey({})", self.type_name)
    }
}

impl PartialEq for ExtensionKey {
    fn eq(&self, other: &Self) -> bool {
        self.type_name == other.type_name
    }
}

impl Eq for ExtensionKey {}

/// The forwarding mode of a behavior: the app sees what the viewer sent;
/// a remote origin gets the edge's allow-list where the edge can give its
/// responses a lifetime of its own.
pub(crate) fn forward_mode(origin: &OriginTarget, ttl: &TtlPolicy) -> ForwardMode {
    if origin.uses_app() {
        ForwardMode::App
    } else if ttl.assigns_lifetimes() {
        ForwardMode::Edge
    } else {
        ForwardMode::Standards
    }
}

impl Behavior {
    /// A hash of everything the behavior is: equal fingerprints mean a
    /// reload may keep its entries.
    pub(crate) fn fingerprint(&self) -> u64 {
        use std::hash::{DefaultHasher, Hash as _, Hasher as _};
        let mut h = DefaultHasher::new();
        format!("{self:?}").hash(&mut h);
        h.finish()
    }

    /// Its counters (per distribution, behavior and origin).
    pub(crate) fn route_stats(
        &self,
        metrics: &crate::observe::metrics::Metrics,
    ) -> &Arc<crate::observe::routes::RouteStats> {
        self.stats.get(&metrics.routes, || {
            let origin = self.origin_id.as_deref().unwrap_or("default");
            (self.distribution.to_string(), self.pattern.as_str().to_owned(), origin.to_owned())
        })
    }

    /// A catch-all behavior with the default policies and every method
    /// allowed: what the simple builder (`.origin(..)` alone) configures.
    pub(crate) fn catch_all(origin: Arc<OriginTarget>, ttl: TtlPolicy) -> Self {
        let forward_mode = forward_mode(&origin, &ttl);
        Behavior {
            origin,
            ttl,
            pattern: PathPattern::default_pattern(),
            key: KeyPolicy::default(),
            forward: ForwardPolicy::default(),
            forward_mode,
            allowed: AllowedMethods::All,
            viewer_protocol: ViewerProtocolPolicy::AllowAll,
            compress: false,
            trusted_keys: None,
            key_extension: None,
            response_headers: None,
            hooks: Hooks::new(),
            rewrite: None,
            origin_id: None,
            alternates: std::collections::HashMap::new(),
            distribution: Box::from("default"),
            stats: crate::observe::routes::RouteSlot::default(),
        }
    }

    /// The cache key for a request. `path` is the effective path (after the
    /// default root object). For origins that read S3 object keys the path
    /// is normalised first (decoded once, re-encoded canonically), so every
    /// spelling of one object shares one entry; paths that could escape the
    /// origin path are refused.
    pub(crate) fn cache_key(
        &self,
        host: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        extension: Option<&str>,
    ) -> Result<Arc<str>, Refusal> {
        #[cfg(feature = "s3")]
        let path: Cow<'_, str> = if self.origin.reads_object_keys() {
            canonical_path(path).map_err(|e| match e {
                KeyError::Empty => Refusal::NoObject,
                _ => Refusal::BadPath,
            })?
        } else {
            Cow::Borrowed(path)
        };
        let key = if self.key.is_default() {
            crate::cache::key::cache_key(host, &path, query)
        } else {
            key_policy::cache_key(&self.key, host, &path, query, headers)
        };
        if self.key_extension.is_none() && self.hooks.cache_key.is_none() && extension.is_none() {
            return Ok(key);
        }
        Ok(key_policy::with_extension(&key, extension))
    }

    /// What the key holds beyond the policies: the keyed request
    /// extension's value and the cache key hook's component. A hook that
    /// panics refuses the request (a 500 for it alone).
    pub(crate) fn extension_value(&self, parts: &http::request::Parts) -> Result<Option<String>, Refusal> {
        let chosen = parts.extensions.get::<crate::hooks::UseOrigin>().map(|o| format!("origin={}", o.0));
        let ext = match (self.key_extension.as_ref().and_then(|x| x.value(&parts.extensions)), chosen) {
            (Some(e), Some(c)) => Some(format!("{e}\u{1e}{c}")),
            (e, c) => e.or(c),
        };
        let Some(hook) = &self.hooks.cache_key else { return Ok(ext) };
        let made = crate::hooks::guarded(|| hook(parts)).map_err(|_| Refusal::HookFailed)?;
        Ok(match (ext, made) {
            (None, None) => None,
            (Some(e), None) => Some(e),
            (None, Some(h)) => Some(format!("\u{1e}{h}")),
            (Some(e), Some(h)) => Some(format!("{e}\u{1e}{h}")),
        })
    }
}
