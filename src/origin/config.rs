//! The public description of an origin; validated when the layer is built.

use std::fmt;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::balance::Balance;
use super::budget::BudgetConfig;
use super::endpoints::EndpointConfig;
use super::health::{Ejection, HealthCheck};
use super::limit::LimitConfig;
#[cfg(feature = "s3")]
use super::s3::S3Origin;

/// Default time to establish a connection (CloudFront: 10 s).
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time to wait for a response head and between body chunks
/// (CloudFront's origin response timeout: 30 s).
pub(crate) const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default idle keep-alive of pooled origin connections (CloudFront: 5 s).
pub(crate) const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where misses are fetched from: a custom HTTP(S) origin, an S3 bucket, or
/// the wrapped service. The HTTP setters below apply to HTTP origins only;
/// S3 origins are configured on their [`S3Origin`].
///
/// ```
/// use std::time::Duration;
/// use tower_cdn::Origin;
///
/// let api = Origin::http("http://127.0.0.1:3000")
///     .origin_path("/v1")
///     .response_timeout(Duration::from_secs(5));
/// let app = Origin::inner(); // the wrapped service itself
/// # let _ = (api, app);
/// ```
#[derive(Clone)]
pub struct Origin {
    pub(crate) kind: OriginKind,
}

#[derive(Clone)]
pub(crate) enum OriginKind {
    Http(HttpOriginConfig),
    #[cfg(feature = "s3")]
    S3(S3Origin),
    Inner,
}

#[derive(Clone)]
pub(crate) struct HttpOriginConfig {
    /// The one endpoint of [`Origin::http`] (weight 1), if given that way.
    pub(crate) url: Option<String>,
    /// Further endpoints ([`Origin::http_endpoints`], [`Origin::endpoint`]).
    pub(crate) endpoints: Vec<EndpointConfig>,
    pub(crate) balance: Balance,
    pub(crate) health_check: Option<HealthCheck>,
    pub(crate) ejection: Ejection,
    pub(crate) budget: BudgetConfig,
    pub(crate) origin_path: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) keepalive_timeout: Duration,
    pub(crate) max_idle_per_host: usize,
    pub(crate) forward_host: bool,
    pub(crate) http2: bool,
    pub(crate) custom_headers: Vec<(String, String)>,
    pub(crate) limit: LimitConfig,
    pub(crate) tls: super::tls::OriginTls,
}

impl Origin {
    /// A custom HTTP(S) origin at `base_url` (scheme, host, optional port;
    /// a path in the URL is used as the origin path).
    pub fn http(base_url: impl Into<String>) -> Self {
        Self::http_config(Some(base_url.into()), Vec::new())
    }

    /// A custom HTTP(S) origin with several endpoints (URLs as for
    /// [`Origin::http`]) and their weights, 1 to 1000: like an nginx
    /// upstream, a Varnish director or a pingora load balancer. Every
    /// endpoint shares the origin's settings (origin path, timeouts,
    /// headers, the concurrency limit, which counts the whole origin).
    ///
    /// Fetches spread by [`balance`](Self::balance); an endpoint whose
    /// fetches fail [`eject_after`](Self::eject_after) times in a row
    /// (connect errors, timeouts, 502/503/504) is left out for
    /// [`ejection_time`](Self::ejection_time), and one that fails its
    /// [`health_check`](Self::health_check) until it passes it again. When
    /// every endpoint is out, the least bad takes the fetch anyway (fail
    /// open). A failed `GET` or `HEAD` is retried once on another endpoint
    /// while the [`retry_budget`](Self::retry_budget) allows.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_cdn::{Balance, HealthCheck, Origin};
    ///
    /// let web = Origin::http_endpoints([("http://10.0.0.1:8080", 2), ("http://10.0.0.2:8080", 1)])
    ///     .endpoint("http://10.0.0.3:8080", 1)
    ///     .balance(Balance::LeastOutstanding)
    ///     .health_check(HealthCheck::new("/healthz").interval(Duration::from_secs(2)))
    ///     .eject_after(3)
    ///     .ejection_time(Duration::from_secs(10))
    ///     .retry_budget(0.1, 2);
    /// # let _ = web;
    /// ```
    pub fn http_endpoints<U: Into<String>>(endpoints: impl IntoIterator<Item = (U, u32)>) -> Self {
        let endpoints = endpoints.into_iter().map(|(url, weight)| EndpointConfig { url: url.into(), weight }).collect();
        Self::http_config(None, endpoints)
    }

    fn http_config(url: Option<String>, endpoints: Vec<EndpointConfig>) -> Self {
        Origin {
            kind: OriginKind::Http(HttpOriginConfig {
                url,
                endpoints,
                balance: Balance::default(),
                health_check: None,
                ejection: Ejection::default(),
                budget: BudgetConfig::default(),
                origin_path: String::new(),
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                response_timeout: DEFAULT_RESPONSE_TIMEOUT,
                keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
                max_idle_per_host: 64,
                forward_host: false,
                http2: false,
                custom_headers: Vec::new(),
                limit: LimitConfig::default(),
                tls: super::tls::OriginTls::default(),
            }),
        }
    }

    /// The wrapped inner service (the app behind the layer).
    pub fn inner() -> Self {
        Origin { kind: OriginKind::Inner }
    }

    #[cfg(feature = "s3")]
    /// An S3 bucket (see [`S3Origin`] for its settings).
    pub fn s3(bucket: S3Origin) -> Self {
        Origin { kind: OriginKind::S3(bucket) }
    }

    /// Whether this is the wrapped service.
    pub(crate) fn is_inner(&self) -> bool {
        matches!(self.kind, OriginKind::Inner)
    }

    /// A path prefix put in front of every request path
    /// (CloudFront's "origin path"), e.g. `/static`.
    #[must_use]
    pub fn origin_path(mut self, path: impl Into<String>) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.origin_path = path.into();
        }
        self
    }

    /// Time allowed to connect to the origin (default 10 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.connect_timeout = timeout;
        }
        self
    }

    /// Time allowed for the response head, and between body chunks
    /// (default 30 s). Exceeding it before the head gives a 504.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.response_timeout = timeout;
        }
        self
    }

    /// How long an idle pooled connection is kept (default 5 s).
    #[must_use]
    pub fn keepalive_timeout(mut self, timeout: Duration) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.keepalive_timeout = timeout;
        }
        self
    }

    /// Idle connections kept per origin host (default 64).
    #[must_use]
    pub fn max_idle_connections(mut self, n: usize) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.max_idle_per_host = n;
        }
        self
    }

    /// Forward the viewer's `Host` header instead of the origin's own
    /// host name (default: the origin's, as CloudFront does).
    #[must_use]
    pub fn forward_host(mut self, forward: bool) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.forward_host = forward;
        }
        self
    }

    /// Speak HTTP/2 to this origin from the first byte: h2c with prior
    /// knowledge on `http://`, h2 on `https://` (default: HTTP/1.1, or h2
    /// when the origin's TLS offers it). gRPC origins need it: gRPC is
    /// HTTP/2 only, with `te: trailers` and trailers both ways, which the
    /// layer carries (as `nginx`'s `grpc_pass grpc://`). WebSocket upgrades
    /// still use HTTP/1.1.
    #[must_use]
    pub fn http2(mut self, http2: bool) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.http2 = http2;
        }
        self
    }

    /// At most `n` fetches in flight to this origin (default: no limit),
    /// each counted from the request until its response body ends.
    /// Requests coalesced onto another's fetch do not count. A fetch that
    /// finds all `n` taken waits up to [`concurrency_wait`](Self::concurrency_wait),
    /// then gets `503 Service Unavailable` with `Retry-After: 1` (a stale
    /// copy is served instead when one may be). 0 is an error at build time.
    #[must_use]
    pub fn max_concurrent_requests(mut self, n: usize) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.limit.max = Some(n);
        }
        self
    }

    /// How long a fetch waits for a free slot under
    /// [`max_concurrent_requests`](Self::max_concurrent_requests) (default 1 s).
    #[must_use]
    pub fn concurrency_wait(mut self, wait: Duration) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.limit.wait = wait;
        }
        self
    }

    /// Adds an endpoint of weight `weight` (1 to 1000) to an HTTP origin
    /// (after its `url`, of weight 1, if it was made with [`Origin::http`]).
    #[must_use]
    pub fn endpoint(mut self, url: impl Into<String>, weight: u32) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.endpoints.push(EndpointConfig { url: url.into(), weight });
        }
        self
    }

    /// How fetches spread over the endpoints (default: smooth weighted
    /// round-robin).
    #[must_use]
    pub fn balance(mut self, balance: Balance) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.balance = balance;
        }
        self
    }

    /// Checks every endpoint in the background (default: no checks).
    #[must_use]
    pub fn health_check(mut self, check: HealthCheck) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.health_check = Some(check);
        }
        self
    }

    /// Failed fetches in a row (connect errors, timeouts, 502/503/504
    /// answers) that take an endpoint out for
    /// [`ejection_time`](Self::ejection_time) (default 5; 1 to 1000). At
    /// most half the endpoints are ejected at once.
    #[must_use]
    pub fn eject_after(mut self, failures: u32) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.ejection.after = failures;
        }
        self
    }

    /// How long an ejected endpoint stays out (default 30 s); with a
    /// health check, it must also pass it to come back.
    #[must_use]
    pub fn ejection_time(mut self, time: Duration) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.ejection.time = time;
        }
        self
    }

    /// The retry budget (default 0.2 and 3): over any 10 s, a failed
    /// `GET`/`HEAD` is retried on another endpoint only while retries stay
    /// under `ratio` (0 to 1) of the fetches plus `min_per_second` a
    /// second. In an outage the origin sees at most `1 + ratio` times the
    /// fetches (plus that reserve), never a doubled load. `(0.0, 0)` turns
    /// retries off.
    #[must_use]
    pub fn retry_budget(mut self, ratio: f64, min_per_second: u32) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.budget = BudgetConfig { ratio, min_per_second };
        }
        self
    }

    /// TLS to an `https://` origin: a private CA, a client certificate,
    /// the name sent in SNI and verified, the lowest version (see
    /// [`OriginTls`](crate::OriginTls)). Files are read when the layer is
    /// built; a missing or bad one is an error naming `tls.ca_file`, ...
    #[must_use]
    pub fn tls(mut self, tls: super::tls::OriginTls) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.tls = tls;
        }
        self
    }

    /// A header added to every origin request (CloudFront's "origin custom
    /// headers", e.g. a shared secret the origin checks). Values are never
    /// logged.
    #[must_use]
    pub fn custom_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let OriginKind::Http(c) = &mut self.kind {
            c.custom_headers.push((name.into(), value.into()));
        }
        self
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            OriginKind::Inner => f.write_str("Origin::Inner"),
            #[cfg(feature = "s3")]
            OriginKind::S3(c) => f.debug_tuple("Origin::S3").field(c).finish(),
            OriginKind::Http(c) => f
                .debug_struct("Origin::Http")
                .field("url", &c.url)
                .field("endpoints", &c.endpoints)
                .field("balance", &c.balance)
                .field("origin_path", &c.origin_path)
                .field("connect_timeout", &c.connect_timeout)
                .field("response_timeout", &c.response_timeout)
                .field("forward_host", &c.forward_host)
                .field("max_concurrent_requests", &c.limit.max)
                .field("custom_headers", &c.custom_headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// Validates a custom header pair.
pub(crate) fn parse_custom_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))?;
    let value = HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name}"))?;
    Ok((name, value))
}

#[cfg(feature = "s3")]
impl From<S3Origin> for Origin {
    fn from(bucket: S3Origin) -> Self {
        Origin::s3(bucket)
    }
}
