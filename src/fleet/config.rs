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
#[derive(Clone, PartialEq)]
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
    pub(crate) tls: Option<L2Tls>,
}

impl std::fmt::Debug for L2Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self.urls.iter().map(|u| redacted(u)).collect();
        f.debug_struct("L2Config")
            .field("urls", &urls)
            .field("cluster", &self.cluster)
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("max_entry_bytes", &self.max_entry_bytes)
            .field("chunk_bytes", &self.chunk_bytes)
            .field("lock_ttl", &self.lock_ttl)
            .field("lock_wait", &self.lock_wait)
            .field("log_interval", &self.log_interval)
            .field("purge_log_len", &self.purge_log_len)
            .field("tls", &self.tls)
            .finish()
    }
}

/// `url` with the password of its user information replaced by `***`
/// (`redis://user:***@host`, `redis://***@host`), for errors and `Debug`.
pub(crate) fn redacted(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_owned() };
    let userinfo = &rest[..at];
    let user = match userinfo.split_once(':') {
        Some((user, _)) if !user.is_empty() => format!("{user}:***"),
        _ => "***".to_owned(),
    };
    format!("{}{user}{}", &url[..scheme_end], &rest[at..])
}

/// TLS material for `rediss://` servers beyond the defaults: CA
/// certificates to trust instead of the system's roots, and a client
/// certificate for servers that require one. `Debug` shows what is set,
/// never the bytes.
#[derive(Clone, Default, PartialEq)]
pub(crate) struct L2Tls {
    root_certs: Option<Vec<u8>>,
    client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for L2Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L2Tls")
            .field("root_certs", &self.root_certs.as_ref().map(|_| "<pem>"))
            .field("client_cert", &self.client.as_ref().map(|_| "<pem, key redacted>"))
            .finish()
    }
}

impl L2Tls {
    /// In the form the Redis client takes.
    pub(crate) fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self
                .client
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig { client_cert: cert.clone(), client_key: key.clone() }),
            root_cert: self.root_certs.clone(),
        }
    }
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
            tls: None,
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

    /// Trusts these CA certificates (PEM, one or more) for `rediss://`
    /// servers, instead of the system's roots. TOML: `tls_ca_file`.
    pub fn tls_root_certs(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.get_or_insert_with(L2Tls::default).root_certs = Some(pem.into());
        self
    }

    /// Presents this client certificate and its private key (both PEM) to
    /// `rediss://` servers that require one (mutual TLS, Redis's
    /// `tls-auth-clients yes`). TOML: `tls_cert_file` and `tls_key_file`.
    pub fn tls_client_cert(mut self, cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.tls.get_or_insert_with(L2Tls::default).client = Some((cert_pem.into(), key_pem.into()));
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
                let url = redacted(url);
                return Err(ConfigError::new(format!("l2.{key}"), format!("{url:?} is not a valid Redis URL: {e}")));
            }
        }
        if let Some(tls) = &self.tls {
            let setting = if tls.client.is_some() { "tls_cert_file" } else { "tls_ca_file" };
            if let Some(url) = self.urls.iter().find(|u| !u.starts_with("rediss://")) {
                let url = redacted(url);
                return at(setting, &format!("TLS settings need rediss:// URLs, not {url:?}"));
            }
            let has = |pem: &[u8], label: &str| pem.windows(label.len()).any(|w| w == label.as_bytes());
            if tls.root_certs.as_ref().is_some_and(|pem| !has(pem, "-----BEGIN CERTIFICATE-----")) {
                return at("tls_ca_file", "no PEM certificate (-----BEGIN CERTIFICATE-----) in it");
            }
            if let Some((cert, key)) = &tls.client {
                if !has(cert, "-----BEGIN CERTIFICATE-----") {
                    return at("tls_cert_file", "no PEM certificate (-----BEGIN CERTIFICATE-----) in it");
                }
                if !has(key, "PRIVATE KEY-----") {
                    return at("tls_key_file", "no PEM private key in it");
                }
            }
            // Parses the certificates and the key.
            if let Some(first) = self.urls.first()
                && let Err(e) = redis::Client::build_with_tls(first.as_str(), tls.certificates())
            {
                return at(setting, &format!("unusable certificate or key: {e}"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redacted("redis://user:s3cret@host:6379/0"), "redis://user:***@host:6379/0");
        assert_eq!(redacted("rediss://:s3cret@host"), "rediss://***@host");
        assert_eq!(redacted("redis://s3cret@host"), "redis://***@host");
        assert_eq!(redacted("redis://host:6379/0?x=a@b"), "redis://host:6379/0?x=a@b");
        assert_eq!(redacted("redis+unix:///run/redis.sock"), "redis+unix:///run/redis.sock");
        assert_eq!(redacted("not a url"), "not a url");
    }

    #[test]
    fn debug_shows_no_password_and_no_key() {
        let c = L2Config::new("rediss://edge:s3cret@cache.internal:6380")
            .tls_client_cert("-----BEGIN CERTIFICATE-----", "-----BEGIN PRIVATE KEY----- KEYBYTES");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("KEYBYTES") && !shown.contains("PRIVATE"), "{shown}");
        assert!(shown.contains("edge:***@cache.internal"), "{shown}");
    }

    #[test]
    fn tls_settings_need_rediss_and_usable_pem() {
        let e = L2Config::new("redis://127.0.0.1:6379").tls_root_certs("x").validate().unwrap_err();
        assert_eq!(e.setting(), "l2.tls_ca_file");
        assert!(e.message().contains("rediss://"), "{}", e.message());
        let e = L2Config::new("rediss://127.0.0.1:6379").tls_client_cert("not pem", "not pem").validate().unwrap_err();
        assert_eq!(e.setting(), "l2.tls_cert_file");
        let e = L2Config::new("rediss://:pw@127.0.0.1:6379")
            .tls_root_certs("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
            .validate()
            .unwrap_err();
        assert!(!e.message().contains("pw@"), "{}", e.message());
    }
}
