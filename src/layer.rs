//! [`CdnLayer`] and its builder.

use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::cache::store::StoreOptions;
use crate::error::ConfigError;
use crate::handle::CacheHandle;
use crate::origin::{Origin, OriginTarget};
use crate::policy::freshness::TtlPolicy;
use crate::route::{Behavior, BuildContext, Distribution, Routes, build_routes, check_ttls};
use crate::service::Cdn;
use crate::shared::Shared;

/// Default cache capacity: 256 MiB.
pub const DEFAULT_CAPACITY_BYTES: u64 = 256 * 1024 * 1024;
/// Default maximum object size: 64 MiB.
pub const DEFAULT_MAX_ENTRY_BYTES: u64 = 64 * 1024 * 1024;

/// A validated configuration for a [`CdnLayer`].
///
/// `CdnConfig::default()` caches the wrapped service's own responses with
/// CloudFront's default TTLs (min 0, default 24 h, max 1 year) in a
/// 256 MiB cache.
#[derive(Debug, Clone)]
pub struct CdnConfig {
    pub(crate) routes: Arc<Routes>,
    pub(crate) store: StoreOptions,
    pub(crate) standalone: bool,
}

impl Default for CdnConfig {
    fn default() -> Self {
        let behavior = Behavior::catch_all(Arc::new(OriginTarget::Inner), TtlPolicy::default());
        CdnConfig {
            routes: Arc::new(Routes::single(behavior)),
            store: default_store_options(),
            standalone: false,
        }
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
    standalone: bool,
}

impl Default for CdnLayerBuilder {
    fn default() -> Self {
        CdnLayerBuilder {
            origin: None,
            distributions: Vec::new(),
            store: default_store_options(),
            max_entry_set: false,
            ttl: TtlPolicy::default(),
            standalone: false,
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

    /// Total bytes (headers + bodies) the cache may hold (default 256 MiB).
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

    /// Validates the settings.
    pub fn build_config(mut self) -> Result<CdnConfig, ConfigError> {
        if !self.max_entry_set {
            self.store.max_entry_bytes = DEFAULT_MAX_ENTRY_BYTES
                .min(self.store.capacity_bytes / 4)
                .max(1);
        }
        let c = &self;
        if c.store.capacity_bytes == 0 {
            return Err(ConfigError::new(
                "capacity_bytes",
                "must be greater than zero",
            ));
        }
        if c.store.max_entry_bytes == 0 {
            return Err(ConfigError::new(
                "max_entry_bytes",
                "must be greater than zero",
            ));
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
        let routes = if self.distributions.is_empty() {
            let origin = self.origin.unwrap_or_else(Origin::inner);
            if self.standalone && origin.is_inner() {
                return Err(ConfigError::new(
                    "origin",
                    "a standalone proxy needs an HTTP or S3 origin",
                ));
            }
            let target = OriginTarget::from_config(&origin).map_err(|e| e.within("origin"))?;
            Routes::single(Behavior::catch_all(Arc::new(target), self.ttl))
        } else {
            if self.origin.is_some() {
                return Err(ConfigError::new(
                    "origin",
                    "a layer with distributions has no layer-wide origin; add origins to the distributions",
                ));
            }
            let ctx = BuildContext {
                ttl: self.ttl,
                standalone: self.standalone,
            };
            build_routes(&self.distributions, &ctx)?
        };
        Ok(CdnConfig {
            routes: Arc::new(routes),
            store: self.store,
            standalone: self.standalone,
        })
    }

    /// Validates the settings and creates the layer.
    pub fn build(self) -> Result<CdnLayer, ConfigError> {
        Ok(CdnLayer::new(self.build_config()?))
    }
}

/// A Tower layer that puts a CDN edge cache in front of a service.
///
/// Cheap to clone; clones share one cache, so two routers layered with
/// clones of the same `CdnLayer` share entries.
#[derive(Debug, Clone)]
pub struct CdnLayer {
    shared: Arc<Shared>,
}

impl CdnLayer {
    /// Creates a layer from a validated configuration.
    pub fn new(config: CdnConfig) -> Self {
        CdnLayer {
            shared: Arc::new(Shared::new(&config)),
        }
    }

    /// Starts a builder.
    pub fn builder() -> CdnLayerBuilder {
        CdnLayerBuilder::default()
    }

    /// Enables or disables the distribution `id` at run time (clones of
    /// this layer see the change). Returns `false` if there is no such
    /// distribution. The simple builder's distribution is called `default`.
    pub fn set_enabled(&self, id: &str, enabled: bool) -> bool {
        self.shared.routes.set_enabled(id, enabled)
    }

    /// Whether the distribution `id` is enabled; `None` if there is none.
    pub fn is_enabled(&self, id: &str) -> Option<bool> {
        self.shared.routes.is_enabled(id)
    }

    /// A handle to inspect and invalidate the shared cache.
    pub fn cache(&self) -> CacheHandle {
        CacheHandle::new(Arc::clone(&self.shared))
    }
}

impl<S> Layer<S> for CdnLayer {
    type Service = Cdn<S>;

    fn layer(&self, inner: S) -> Cdn<S> {
        Cdn::new(inner, Arc::clone(&self.shared))
    }
}
