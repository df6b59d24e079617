//! [`CdnLayer`] and its builder.

use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::Clock;
use crate::cache::store::StoreOptions;
use crate::edge::{Edge, EdgeSettings};
use crate::error::ConfigError;
#[cfg(feature = "l2")]
use crate::fleet::config::L2Config;
use crate::handle::CacheHandle;
use crate::observe::sink::AccessLog;
use crate::origin::{Origin, OriginTarget};
use crate::policy::freshness::{StatusTtl, TtlPolicy};
use crate::policy::headers::CACHE_NAME;
use crate::policy::targeted;
use crate::route::{Behavior, BuildContext, Distribution, Routes, build_routes, check_ttls};
use crate::service::Cdn;
use http::HeaderName;

/// Default `x-edge-location` in access logs.
const DEFAULT_EDGE_LOCATION: &str = "local";

/// Default cache capacity: 256 MiB.
pub const DEFAULT_CAPACITY_BYTES: u64 = 256 * 1024 * 1024;
/// Default maximum object size: 64 MiB.
pub const DEFAULT_MAX_ENTRY_BYTES: u64 = 64 * 1024 * 1024;

/// Default slice size for range requests (see [`CdnLayerBuilder::slice_bytes`]).
pub const DEFAULT_SLICE_BYTES: u64 = 1024 * 1024;

/// A validated configuration for a [`CdnLayer`].
///
/// `CdnConfig::default()` caches the wrapped service's own responses in a
/// 256 MiB cache, as a shared cache in front of an app should: the app sees
/// every request as the client sent it (cookies, `Authorization`), a
/// response is stored only when it gives itself a lifetime
/// (`Cache-Control: max-age`, `s-maxage`, `Expires`, or a heuristic from
/// `Last-Modified`), and one answered to a request with cookies or
/// credentials only when it says `public` or `s-maxage`. HTTP and S3 origins
/// get CloudFront's model instead (default TTL 24 h); see the crate docs.
#[derive(Debug, Clone)]
pub struct CdnConfig {
    pub(crate) routes: Arc<Routes>,
    pub(crate) settings: EdgeSettings,
    pub(crate) access_logs: Vec<AccessLog>,
}

impl Default for CdnConfig {
    fn default() -> Self {
        CdnLayerBuilder::default().build_config().expect("the default configuration is valid")
    }
}

fn default_store_options() -> StoreOptions {
    StoreOptions {
        capacity_bytes: DEFAULT_CAPACITY_BYTES,
        max_entry_bytes: DEFAULT_MAX_ENTRY_BYTES,
        hot_allocation: 0.9,
    }
}

impl CdnConfig {
    /// Starts a builder with the defaults.
    pub fn builder() -> CdnLayerBuilder {
        CdnLayerBuilder::default()
    }
}

/// Builds a [`CdnLayer`]. Setters never fail; the first invalid setting is
/// reported by [`build`](Self::build) as a [`ConfigError`] naming it (with
/// distributions, as the TOML file spells it:
/// `distributions[1].behaviors[0].path_pattern`).
///
/// Two shapes:
///
/// - **One origin for everything**: [`origin`](Self::origin) alone (or
///   nothing: the wrapped service). This is one distribution answering
///   every host, whose default behavior sends every path and method to that
///   origin with the default cache policy.
/// - **Distributions**: [`distribution`](Self::distribution) any number of
///   times, each with its host names, origins and behaviors. The TTL setters
///   then give the TTLs of cache policies that set none.
///
/// ```
/// use std::time::Duration;
/// use tower_cdn::{CdnLayer, Origin};
///
/// let layer = CdnLayer::builder()
///     .origin(Origin::http("http://127.0.0.1:3000"))
///     .capacity_bytes(64 * 1024 * 1024)
///     .default_ttl(Duration::from_secs(600))
///     .build()
///     .expect("valid configuration");
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct CdnLayerBuilder {
    origin: Option<Origin>,
    distributions: Vec<Distribution>,
    store: StoreOptions,
    max_entry_set: bool,
    ttl: TtlPolicy,
    /// `default_ttl` was set: the app as origin gets it too.
    default_ttl_set: bool,
    standalone: bool,
    check_only: bool,
    compress: bool,
    error_ttl_set: bool,
    targeted: Vec<HeaderName>,
    status_ttls: Vec<(u16, StatusTtl)>,
    clock: Clock,
    trust_forwarding_headers: bool,
    access_logs: Vec<AccessLog>,
    edge_location: String,
    #[cfg(feature = "l2")]
    l2: Option<L2Config>,
    #[cfg(feature = "disk")]
    disk: Option<crate::cache::disk::DiskConfig>,
    slice_bytes: u64,
    response_headers: Option<crate::ResponseHeadersPolicy>,
    hooks: crate::Hooks,
    rewrite: Option<crate::Rewrite>,
    cache_name: String,
    edge_id: Option<String>,
    viewer_scheme: String,
    #[cfg(feature = "otel")]
    telemetry: Option<crate::TelemetryConfig>,
}

impl Default for CdnLayerBuilder {
    fn default() -> Self {
        CdnLayerBuilder {
            origin: None,
            distributions: Vec::new(),
            store: default_store_options(),
            max_entry_set: false,
            ttl: TtlPolicy::default(),
            default_ttl_set: false,
            standalone: false,
            check_only: false,
            compress: false,
            error_ttl_set: false,
            targeted: targeted::default_targeted(),
            status_ttls: Vec::new(),
            clock: Clock::system(),
            trust_forwarding_headers: false,
            access_logs: Vec::new(),
            edge_location: DEFAULT_EDGE_LOCATION.into(),
            #[cfg(feature = "l2")]
            l2: None,
            #[cfg(feature = "disk")]
            disk: None,
            slice_bytes: DEFAULT_SLICE_BYTES,
            response_headers: None,
            hooks: crate::Hooks::new(),
            rewrite: None,
            cache_name: CACHE_NAME.into(),
            edge_id: None,
            viewer_scheme: "http".into(),
            #[cfg(feature = "otel")]
            telemetry: None,
        }
    }
}

impl CdnLayerBuilder {
    /// Where misses are fetched from (default: the wrapped service), for a
    /// layer without distributions.
    pub fn origin(mut self, origin: Origin) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Adds a distribution. Requests for hosts no distribution claims pass
    /// to the wrapped service untouched (`Cache-Status: tower-cdn; fwd=bypass`).
    pub fn distribution(mut self, distribution: Distribution) -> Self {
        self.distributions.push(distribution);
        self
    }

    /// The layer fronts no app (the dev proxy): a disabled distribution
    /// answers 403 instead of passing requests on, and app origins are a
    /// configuration error. Default `false`.
    pub fn standalone(mut self, standalone: bool) -> Self {
        self.standalone = standalone;
        self
    }

    /// Checks rather than starts (`--check-config`): S3 credentials that
    /// come from the environment are not resolved.
    pub(crate) fn check_only(mut self, check_only: bool) -> Self {
        self.check_only = check_only;
        self
    }

    /// Memory the cached entries may take (default 256 MiB): bodies, headers
    /// and a measured per-entry overhead (see the README's "Memory").
    pub fn capacity_bytes(mut self, bytes: u64) -> Self {
        self.store.capacity_bytes = bytes;
        self
    }

    /// Largest object that is stored (default 64 MiB, or a quarter of the
    /// capacity when that is smaller). Larger responses stream to their
    /// client and are not stored. At most half the capacity.
    pub fn max_entry_bytes(mut self, bytes: u64) -> Self {
        self.store.max_entry_bytes = bytes;
        self.max_entry_set = true;
        self
    }

    /// Lifetime when the origin gives none (default 24 h).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.ttl.default_ttl = ttl;
        self.default_ttl_set = true;
        self
    }

    /// Lower bound on lifetimes (default 0). Above 0, responses marked
    /// `no-store`, `no-cache` or `private` are cached for at least this
    /// long, as CloudFront does.
    pub fn min_ttl(mut self, ttl: Duration) -> Self {
        self.ttl.min_ttl = ttl;
        self
    }

    /// Upper bound on lifetimes (default 365 days).
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.ttl.max_ttl = ttl;
        self
    }

    /// With `default_ttl(0)`: the share of a response's `Last-Modified` age
    /// used as its heuristic lifetime (RFC 9111 §4.2.2; default 0.1).
    pub fn heuristic_fraction(mut self, fraction: f64) -> Self {
        self.ttl.heuristic_fraction = fraction;
        self
    }

    /// How long error responses CloudFront caches (400, 403, 404, 405, 414,
    /// 500, 501, 502, 503, 504) are cached: the longer of this and the
    /// origin's lifetime (default 10 s; 0 caches them only as long as the
    /// origin says, and with `default_ttl(0)` leaves them to RFC 9111 alone).
    /// A distribution's custom error responses can set it per code.
    pub fn error_caching_min_ttl(mut self, ttl: Duration) -> Self {
        self.ttl.error_caching_min_ttl = ttl;
        self.error_ttl_set = true;
        self
    }

    /// Caches responses with `status` for exactly `ttl`, whatever the
    /// origin says (`no-store` and `private` are still obeyed).
    pub fn status_ttl(mut self, status: u16, ttl: Duration) -> Self {
        self.status_ttls.retain(|(s, _)| *s != status);
        self.status_ttls.push((status, StatusTtl::Ttl(ttl)));
        self
    }

    /// Never stores responses with `status` (e.g. 404 or 503).
    pub fn never_cache_status(mut self, status: u16) -> Self {
        self.status_ttls.retain(|(s, _)| *s != status);
        self.status_ttls.push((status, StatusTtl::Never));
        self
    }

    /// Serve a stale response for up to `window` while it is refreshed in
    /// the background, when the origin does not send
    /// `stale-while-revalidate` (Varnish's grace; default 0).
    pub fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.ttl.stale_while_revalidate = window;
        self
    }

    /// Serve a stale response for up to `window` when the origin answers
    /// 5xx, when the origin does not send `stale-if-error` (default 0).
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.ttl.stale_if_error = window;
        self
    }

    /// Serve a stale response for up to `window` when the origin cannot be
    /// reached at all (default 24 h, as CloudFront keeps serving cached
    /// objects when the origin is down; 0 disables).
    pub fn stale_if_unreachable(mut self, window: Duration) -> Self {
        self.ttl.stale_if_unreachable = window;
        self
    }

    /// Targeted cache-control fields this cache obeys instead of
    /// `Cache-Control`, in precedence order (RFC 9213; default
    /// `CDN-Cache-Control`, then `Surrogate-Control`). They are never
    /// forwarded to clients.
    pub fn targeted_cache_control<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        self.targeted =
            names.into_iter().filter_map(|n| HeaderName::from_bytes(n.as_ref().trim().as_bytes()).ok()).collect();
        self
    }

    /// The time source (default: the system clock). Tests pass
    /// [`Clock::manual`] to move time without sleeping.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Forward `X-Forwarded-Host`, `X-Forwarded-Proto`, `Forwarded`,
    /// `X-Original-URL`, `X-HTTP-Method-Override` and similar fields from
    /// clients to the origin (default: removed, because they are not part
    /// of the cache key and would let one client poison an entry for
    /// everyone). Turn on only when a trusted proxy in front of this layer
    /// sets them.
    pub fn trust_forwarding_headers(mut self, trust: bool) -> Self {
        self.trust_forwarding_headers = trust;
        self
    }

    /// Sends one record per request to `log` (CloudFront's standard log
    /// format or JSON lines, a file, stdout, `tracing` or a callback). May
    /// be given several times.
    pub fn access_log(mut self, log: AccessLog) -> Self {
        self.access_logs.push(log);
        self
    }

    /// The scheme viewers use to reach this layer, `http` (default) or
    /// `https` for an app behind a TLS terminator: signed URLs
    /// ([`CacheBehavior::trusted_keys`](crate::CacheBehavior::trusted_keys))
    /// are checked as `SCHEME://host/path?query`. With
    /// [`trust_forwarding_headers`](Self::trust_forwarding_headers), an
    /// `X-Forwarded-Proto` of `http` or `https` wins.
    pub fn viewer_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.viewer_scheme = scheme.into();
        self
    }

    /// The name logged as `x-edge-location` (default `local`).
    pub fn edge_location(mut self, name: impl Into<String>) -> Self {
        self.edge_location = name.into();
        self
    }

    /// Compress compressible responses with brotli or gzip for clients that
    /// accept them (the single-origin setup; distributions set it per
    /// behavior with [`CacheBehavior::compress`](crate::CacheBehavior::compress)).
    /// Feature `compression`.
    #[cfg(feature = "compression")]
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// A shared second tier on Redis behind the in-memory cache, which makes
    /// several edges one cache (see [`L2Config`]). Default: none.
    /// Feature `l2`.
    #[cfg(feature = "l2")]
    pub fn l2(mut self, l2: L2Config) -> Self {
        self.l2 = Some(l2);
        self
    }

    /// A local disk tier between memory and the origin (or L2): it keeps
    /// entries across restarts and objects larger than memory (see
    /// [`DiskConfig`](crate::DiskConfig)). Default: none. Feature `disk`.
    #[cfg(feature = "disk")]
    pub fn disk(mut self, disk: crate::cache::disk::DiskConfig) -> Self {
        self.disk = Some(disk);
        self
    }

    /// The disk tier set so far (the dev proxy's flags amend the file's).
    #[cfg(feature = "disk")]
    pub(crate) fn disk_config(&self) -> Option<&crate::cache::disk::DiskConfig> {
        self.disk.as_ref()
    }

    /// Rewrites and redirects for the single-origin setup (with
    /// distributions, each behavior has its own:
    /// [`CacheBehavior::rewrite`](crate::CacheBehavior::rewrite)).
    pub fn rewrite(mut self, rewrite: crate::Rewrite) -> Self {
        self.rewrite = Some(rewrite);
        self
    }

    /// Hooks for the single-origin setup (with distributions, each behavior
    /// has its own: [`CacheBehavior::hooks`](crate::CacheBehavior::hooks)).
    pub fn hooks(mut self, hooks: crate::Hooks) -> Self {
        self.hooks = hooks;
        self
    }

    /// A response headers policy for the single-origin setup (with
    /// distributions, each behavior has its own:
    /// [`CacheBehavior::response_headers_policy`](crate::CacheBehavior::response_headers_policy)).
    pub fn response_headers_policy(mut self, policy: crate::ResponseHeadersPolicy) -> Self {
        self.response_headers = Some(policy);
        self
    }

    /// A range request for an object that is not stored fetches, stores
    /// and serves only the fixed-size slices of it that the range needs,
    /// with origin `Range` requests (nginx's slice module), instead of the
    /// whole object; slices of one object must share its `ETag` (or
    /// `Last-Modified`). Default 1 MiB; 0 turns it off (a range then waits
    /// for the whole object, or goes to the origin when it is too large to
    /// store). Applies to HTTP and S3 origins, not to the app.
    pub fn slice_bytes(mut self, bytes: u64) -> Self {
        self.slice_bytes = bytes;
        self
    }

    /// This cache's name in `Cache-Status` (RFC 9211; default
    /// `tower-cdn`). Give tiers different names (`edge`, `shield`) so a
    /// response's `Cache-Status` tells their verdicts apart.
    pub fn cache_name(mut self, name: impl Into<String>) -> Self {
        self.cache_name = name.into();
        self
    }

    /// This instance's identity (default: random per layer), sent to origins
    /// in `CDN-Loop` (RFC 8586) so a request that comes back to the same
    /// instance is refused with 508, and carried in fleet messages.
    pub fn edge_id(mut self, id: impl Into<String>) -> Self {
        self.edge_id = Some(id.into());
        self
    }

    /// OpenTelemetry tracing: request and origin-fetch spans exported over
    /// OTLP/HTTP, W3C `traceparent` to origins, trace ids in JSON access
    /// logs (see [`TelemetryConfig`](crate::TelemetryConfig)). Default:
    /// off. Feature `otel`.
    #[cfg(feature = "otel")]
    pub fn telemetry(mut self, telemetry: crate::TelemetryConfig) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// The tracing set so far (the dev proxy's flag amends the file's).
    #[cfg(feature = "otel")]
    pub(crate) fn telemetry_config(&self) -> Option<&crate::TelemetryConfig> {
        self.telemetry.as_ref()
    }

    /// Validates the settings.
    pub fn build_config(mut self) -> Result<CdnConfig, ConfigError> {
        if !self.max_entry_set {
            self.store.max_entry_bytes = DEFAULT_MAX_ENTRY_BYTES.min(self.store.capacity_bytes / 4).max(1);
        }
        let c = &self;
        if c.store.capacity_bytes == 0 {
            return Err(ConfigError::new("capacity_bytes", "must be greater than zero"));
        }
        if c.store.max_entry_bytes == 0 {
            return Err(ConfigError::new("max_entry_bytes", "must be greater than zero"));
        }
        if c.store.max_entry_bytes > c.store.capacity_bytes / 2 {
            return Err(ConfigError::new(
                "max_entry_bytes",
                format!(
                    "{} bytes is more than half the cache capacity ({} bytes); raise capacity_bytes or lower max_entry_bytes",
                    c.store.max_entry_bytes, c.store.capacity_bytes
                ),
            ));
        }
        check_ttls(&c.ttl)?;
        if c.slice_bytes > 0 && c.slice_bytes < 64 * 1024 {
            return Err(ConfigError::new("slice_bytes", "must be 0 (off) or at least 64 KiB"));
        }
        #[cfg(feature = "l2")]
        if let Some(l2) = &c.l2 {
            l2.validate()?;
        }
        #[cfg(feature = "disk")]
        if let Some(disk) = &c.disk {
            disk.validate(c.check_only)?;
        }
        #[cfg(feature = "otel")]
        if let Some(telemetry) = &c.telemetry {
            telemetry.validate()?;
        }
        if !is_token(&c.cache_name) {
            return Err(ConfigError::new(
                "cache_name",
                "must be a non-empty token (letters, digits, - . _ ~ and similar)",
            ));
        }
        if c.edge_id.as_deref().is_some_and(|id| !is_token(id)) {
            return Err(ConfigError::new(
                "edge_id",
                "must be a non-empty token (letters, digits, - . _ ~ and similar)",
            ));
        }
        let viewer_scheme = match c.viewer_scheme.as_str() {
            "http" => "http",
            "https" => "https",
            other => {
                return Err(ConfigError::new("viewer_scheme", format!("{other:?}: expected \"http\" or \"https\"")));
            }
        };
        if !(0.0..=1.0).contains(&c.ttl.heuristic_fraction) {
            return Err(ConfigError::new("heuristic_fraction", "must be between 0 and 1"));
        }
        for (status, _) in &c.status_ttls {
            if !(100..=599).contains(status) {
                return Err(ConfigError::new("status_ttl", format!("{status} is not an HTTP status code")));
            }
        }
        let mut layer_ttl = self.ttl.clone();
        // `default_ttl(0)` asks for a standards-only cache: no CloudFront
        // error caching unless asked for explicitly.
        if layer_ttl.default_ttl.is_zero() && !self.error_ttl_set {
            layer_ttl.error_caching_min_ttl = Duration::ZERO;
        }
        layer_ttl.status_ttls = Arc::from(self.status_ttls.clone());
        let app_ttl = app_defaults(&layer_ttl, self.default_ttl_set, self.error_ttl_set);
        let routes = if self.distributions.is_empty() {
            let origin = self.origin.unwrap_or_else(Origin::inner);
            if self.standalone && origin.is_inner() {
                return Err(ConfigError::new("origin", "a standalone proxy needs an HTTP or S3 origin"));
            }
            let target =
                OriginTarget::from_config("origin", &origin, self.check_only).map_err(|e| e.within("origin"))?;
            let ttl = if target.uses_app() { app_ttl } else { layer_ttl };
            let mut behavior = Behavior::catch_all(Arc::new(target), ttl);
            behavior.compress = self.compress;
            behavior.response_headers = self.response_headers.map(Arc::new);
            behavior.hooks = self.hooks;
            behavior.rewrite = self.rewrite.map(Arc::new);
            Routes::single(behavior)
        } else {
            if self.origin.is_some() {
                return Err(ConfigError::new(
                    "origin",
                    "a layer with distributions has no layer-wide origin; add origins to the distributions",
                ));
            }
            let ctx =
                BuildContext { ttl: layer_ttl, app_ttl, standalone: self.standalone, check_only: self.check_only };
            build_routes(&self.distributions, &ctx)?
        };
        Ok(CdnConfig {
            routes: Arc::new(routes),
            settings: EdgeSettings {
                store: self.store,
                standalone: self.standalone,
                targeted: self.targeted,
                clock: self.clock,
                trust_forwarding_headers: self.trust_forwarding_headers,
                edge_location: self.edge_location,
                // Checked above; `--check-config` connects to no Redis and
                // opens no disk tier (a check has no side effects).
                #[cfg(feature = "l2")]
                l2: if self.check_only { None } else { self.l2 },
                #[cfg(feature = "disk")]
                disk: if self.check_only { None } else { self.disk },
                slice_bytes: self.slice_bytes,
                cache_name: Arc::from(self.cache_name.as_str()),
                edge_id: self.edge_id,
                viewer_scheme,
                // Checked above; `--check-config` starts no exporter.
                #[cfg(feature = "otel")]
                telemetry: if self.check_only { None } else { self.telemetry },
            },
            access_logs: self.access_logs,
        })
    }

    /// Validates the settings and creates the layer.
    pub fn build(self) -> Result<CdnLayer, ConfigError> {
        Ok(CdnLayer::new(self.build_config()?))
    }
}

/// The TTLs the app as origin gets when its cache policy sets none: no
/// lifetime the app did not give (no default TTL, no error caching) unless
/// the layer's `default_ttl` (or `error_caching_min_ttl`) was set. An app's
/// handlers answer per visitor far more often than a bucket of files does;
/// its responses say how long they may be shared (RFC 9111 §4.2.1). A
/// minimum TTL still applies when set.
fn app_defaults(layer: &TtlPolicy, default_ttl_set: bool, error_ttl_set: bool) -> TtlPolicy {
    let mut ttl = layer.clone();
    if !default_ttl_set {
        ttl.default_ttl = ttl.min_ttl;
        if !error_ttl_set {
            ttl.error_caching_min_ttl = Duration::ZERO;
        }
    }
    ttl
}

/// An RFC 9110 `token` (what `Cache-Status` and `CDN-Loop` members need).
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A Tower layer that puts a CDN edge cache in front of a service.
///
/// Cheap to clone; clones share one cache, so two routers layered with
/// clones of the same `CdnLayer` share entries.
#[derive(Debug, Clone)]
pub struct CdnLayer {
    edge: Arc<Edge>,
}

impl CdnLayer {
    /// Creates a layer from a validated configuration.
    pub fn new(config: CdnConfig) -> Self {
        let edge = Arc::new(Edge::new(config.routes, config.settings, config.access_logs));
        #[cfg(feature = "l2")]
        if let Some(fleet) = &edge.fleet {
            // Starts now inside a runtime, else on the first request.
            fleet.ensure_started();
        }
        CdnLayer { edge }
    }

    /// Starts a builder.
    pub fn builder() -> CdnLayerBuilder {
        CdnLayerBuilder::default()
    }

    /// Enables or disables the distribution `id` at run time (clones of
    /// this layer see the change). Returns `false` if there is no such
    /// distribution. The simple builder's distribution is called `default`.
    pub fn set_enabled(&self, id: &str, enabled: bool) -> bool {
        let _reloads = self.edge.reconfigure.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.edge.routes.load().set_enabled(id, enabled)
    }

    /// Whether the distribution `id` is enabled; `None` if there is none.
    pub fn is_enabled(&self, id: &str) -> Option<bool> {
        self.edge.routes.load().is_enabled(id)
    }

    /// What this layer's clones share.
    pub(crate) fn edge(&self) -> &Arc<Edge> {
        &self.edge
    }

    /// Exports the spans ended so far (feature `otel`; nothing without
    /// tracing). Blocks until they are sent or the export times out (10 s):
    /// call it from a blocking context (`tokio::task::spawn_blocking`).
    #[cfg(feature = "otel")]
    pub fn flush_telemetry(&self) {
        if let Some(tracing) = self.edge.observe.tracing() {
            tracing.flush();
        }
    }

    /// Exports the spans still queued and stops exporting (feature `otel`):
    /// at shutdown, once requests are done. Blocks for at most `timeout`;
    /// call it from a blocking context. Without it, the queue is exported
    /// when the last clone of the layer is dropped.
    #[cfg(feature = "otel")]
    pub fn shutdown_telemetry(&self, timeout: Duration) {
        if let Some(tracing) = self.edge.observe.tracing() {
            tracing.shutdown(timeout);
        }
    }

    /// A handle to inspect and invalidate the shared cache.
    pub fn cache(&self) -> CacheHandle {
        CacheHandle::new(Arc::clone(&self.edge))
    }
}

impl<S> Layer<S> for CdnLayer {
    type Service = Cdn<S>;

    fn layer(&self, inner: S) -> Cdn<S> {
        Cdn::new(inner, Arc::clone(&self.edge))
    }
}
