//! [`L2Config`]: where the shared second tier lives and how it is used.

use std::time::Duration;

use crate::error::ConfigError;

/// Default largest entry stored in L2: 16 MiB.
pub const DEFAULT_L2_MAX_ENTRY_BYTES: u64 = 16 * 1024 * 1024;
/// Default size above which a body is split into chunk values: 1 MiB.
pub const DEFAULT_L2_CHUNK_BYTES: u64 = 1024 * 1024;

/// A shared second cache tier on Redis (or a Redis-protocol server such as
/// Valkey, or a Redis Cluster), behind each edge's in-memory cache.
///
/// Several edges (processes or layers) given the same `L2Config` behave as
/// one cache from the origin's point of view: an L1 miss looks in Redis
/// before the origin, concurrent misses across edges make one origin fetch,
/// and an invalidation on any edge reaches every edge. Redis being down or
/// slow never fails a request: the edge carries on with L1 and the origin.
///
/// ```
/// use std::time::Duration;
/// use tower_cdn::{CdnLayer, L2Config, Origin};
///
/// let layer = CdnLayer::builder()
///     .origin(Origin::http("http://127.0.0.1:3000"))
///     .l2(L2Config::new("redis://127.0.0.1:6379").timeout(Duration::from_millis(100)))
///     .build()
///     .expect("valid configuration");
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct L2Config {
    pub(crate) urls: Vec<String>,
    pub(crate) cluster: bool,
    pub(crate) key_prefix: String,
    pub(crate) timeout: Duration,
    pub(crate) max_entry_bytes: u64,
    pub(crate) chunk_bytes: u64,
    pub(crate) lock_ttl: Duration,
    pub(crate) lock_wait: Option<Duration>,
    pub(crate) log_interval: Duration,
    pub(crate) purge_log_len: usize,
}

impl L2Config {
    /// One Redis server (or a Redis-protocol server such as Valkey):
    /// `redis://[user:password@]host:port[/db]`, `rediss://...` for TLS
    /// (the server's certificate is checked against the system's roots, or
    /// the PEM file named by `SSL_CERT_FILE`), or `redis+unix:///path`.
    pub fn new(url: impl Into<String>) -> Self {
        Self::with(vec![url.into()], false)
    }

    /// A Redis Cluster, given some of its nodes (the others are discovered).
    pub fn cluster<I, U>(urls: I) -> Self
    where
        I: IntoIterator<Item = U>,
        U: Into<String>,
    {
        Self::with(urls.into_iter().map(Into::into).collect(), true)
    }

    fn with(urls: Vec<String>, cluster: bool) -> Self {
        L2Config {
            urls,
            cluster,
            key_prefix: "tcdn".into(),
            timeout: Duration::from_millis(100),
            max_entry_bytes: DEFAULT_L2_MAX_ENTRY_BYTES,
            chunk_bytes: DEFAULT_L2_CHUNK_BYTES,
            lock_ttl: Duration::from_secs(5),
            lock_wait: None,
            log_interval: Duration::from_secs(30),
            purge_log_len: 1000,
        }
    }

    /// Prefix of every key this fleet writes (default `tcdn`); fleets that
    /// share a Redis need different prefixes.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Time allowed for one Redis command or pipeline, connecting included
    /// (default 100 ms). A command that takes longer counts as Redis being
    /// down. Reading a chunked body fetches 4 chunks per pipeline, so allow
    /// for 4 × [`chunk_bytes`](Self::chunk_bytes) on your network.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Largest entry (headers + body) written to L2 (default 16 MiB).
    /// Larger ones stay in L1 only.
    pub fn max_entry_bytes(mut self, bytes: u64) -> Self {
        self.max_entry_bytes = bytes;
        self
    }

    /// Bodies larger than this are stored as several values of at most
    /// this size (default 1 MiB), so no single value blocks Redis long.
    pub fn chunk_bytes(mut self, bytes: u64) -> Self {
        self.chunk_bytes = bytes;
        self
    }

    /// Expiry of the fleet fill lock (default 5 s), refreshed while the
    /// fill runs; a crashed filler's lock expires after this long.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// How long an edge waits for another edge's fill to appear in L2
    /// before fetching on its own (default: the origin's response timeout).
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = Some(wait);
        self
    }

    /// While Redis is unreachable, one warning per this interval (default 30 s).
    pub fn log_interval(mut self, interval: Duration) -> Self {
        self.log_interval = interval;
        self
    }

    /// Invalidations kept in Redis for edges that were disconnected
    /// (default 1000). An edge that missed more than this drops its whole L1.
    pub fn purge_log_len(mut self, len: usize) -> Self {
        self.purge_log_len = len;
        self
    }

    /// The first invalid setting, named as in the TOML file's `[l2]` table.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let at = |key: &str, msg: &str| Err(ConfigError::new(format!("l2.{key}"), msg));
        if self.urls.is_empty() {
            return at(if self.cluster { "cluster" } else { "url" }, "at least one Redis URL is needed");
        }
        for url in &self.urls {
            if let Err(e) = redis::Client::open(url.as_str()) {
                let key = if self.cluster { "cluster" } else { "url" };
                return Err(ConfigError::new(format!("l2.{key}"), format!("{url:?} is not a valid Redis URL: {e}")));
            }
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(['{', '}']) {
            return at("key_prefix", "must be non-empty, without { or }");
        }
        if self.timeout.is_zero() {
            return at("timeout", "must be greater than zero");
        }
        if self.max_entry_bytes == 0 {
            return at("max_object_size", "must be greater than zero");
        }
        if self.chunk_bytes < 1024 || self.chunk_bytes > 512 * 1024 * 1024 {
            return at("chunk_size", "must be between 1 KiB and 512 MiB");
        }
        if self.lock_ttl < Duration::from_millis(100) {
            return at("lock_ttl", "must be at least 100ms");
        }
        if self.log_interval.is_zero() {
            return at("log_interval", "must be greater than zero");
        }
        if self.purge_log_len == 0 {
            return at("purge_log_len", "must be greater than zero");
        }
        Ok(())
    }
}
