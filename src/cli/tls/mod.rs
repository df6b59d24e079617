//! TLS termination for the dev proxy: certificates per distribution chosen
//! by SNI, a default certificate, a security policy, ALPN `h2` and
//! `http/1.1`, and certificates re-read on reload.
//!
//! | `security_policy` | protocols | cipher suites |
//! |---|---|---|
//! | `TLSv1.2_2021` (default, CloudFront's recommended policy) | TLS 1.2, TLS 1.3 | TLS 1.3: AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305; TLS 1.2: ECDHE-ECDSA/RSA with AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305 |
//! | `TLSv1.3_2025` | TLS 1.3 | AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305 |
//!
//! Key exchange: X25519, P-256, P-384. CloudFront's older policies (TLS 1.0
//! and 1.1, CBC and RSA key exchange) are not offered: rustls implements
//! none of them. No 0-RTT early data (it can be replayed). Sessions resume
//! with tickets (rotated every 6 hours) or the session cache.

mod certs;
mod resolver;
mod self_signed;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::cipher_suite;

use crate::config::{CertFiles, DistributionCert};
use crate::error::ConfigError;
use resolver::{Certs, SniResolver};

/// The protocols and cipher suites offered (CloudFront's security policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityPolicy {
    /// TLS 1.2 and 1.3 with AEAD ciphers and forward secrecy only.
    #[default]
    Tls12_2021,
    /// TLS 1.3 only.
    Tls13_2025,
}

impl SecurityPolicy {
    /// `TLSv1.2_2021` or `TLSv1.3_2025`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "TLSv1.2_2021" => Ok(SecurityPolicy::Tls12_2021),
            "TLSv1.3_2025" => Ok(SecurityPolicy::Tls13_2025),
            other => Err(format!(
                "{other:?}: expected \"TLSv1.2_2021\" or \"TLSv1.3_2025\" (older policies with TLS 1.0/1.1 or CBC \
                 ciphers are not offered)"
            )),
        }
    }

    fn versions(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static BOTH: [&rustls::SupportedProtocolVersion; 2] = [&rustls::version::TLS13, &rustls::version::TLS12];
        static TLS13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            SecurityPolicy::Tls12_2021 => &BOTH,
            SecurityPolicy::Tls13_2025 => &TLS13,
        }
    }
}

/// What the proxy terminates TLS with: where the certificates come from.
#[derive(Clone)]
pub struct TlsSource {
    /// The default certificate's files (`[tls]`, `--tls-cert`).
    pub default: Option<CertFiles>,
    /// Distributions' own certificates.
    pub distributions: Vec<DistributionCert>,
    /// Protocols and ciphers.
    pub policy: SecurityPolicy,
    /// A generated certificate used as the default (`--tls-self-signed`),
    /// made once: reloads keep it.
    self_signed: Option<Arc<rustls::sign::CertifiedKey>>,
}

impl TlsSource {
    /// A source from files alone.
    pub fn new(default: Option<CertFiles>, distributions: Vec<DistributionCert>, policy: SecurityPolicy) -> Self {
        TlsSource { default, distributions, policy, self_signed: None }
    }

    /// Keeps the certificate `previous` generated (a reload does not make a
    /// new one).
    pub(crate) fn keep_generated(&mut self, previous: &TlsSource) {
        self.self_signed.clone_from(&previous.self_signed);
    }

    /// Generates a self-signed default certificate for `names` (plus
    /// localhost), writes its PEM in `dir`, and returns a line for the
    /// operator: the names, the SHA-256 fingerprint and the file.
    pub fn self_signed(&mut self, names: &[String], dir: &std::path::Path) -> Result<(String, PathBuf), String> {
        let made = self_signed::generate(names, dir, &provider(self.policy))?;
        let line = format!(
            "self-signed certificate for {} (SHA-256 {}); trust it with: curl --cacert {}",
            made.names.join(", "),
            made.fingerprint,
            made.pem_file.display()
        );
        self.self_signed = Some(made.key);
        Ok((line, made.pem_file))
    }

    /// Loads and checks every certificate.
    fn load(&self) -> Result<Certs, ConfigError> {
        let provider = provider(self.policy);
        let mut certs = Certs::default();
        if let Some(files) = &self.default {
            certs.default = Some(certs::load(files, &[], &provider)?);
        }
        if let Some(generated) = &self.self_signed {
            certs.default = Some(Arc::clone(generated));
        }
        for d in &self.distributions {
            let cert = certs::load(&d.files, &d.names, &provider)?;
            for name in &d.names {
                certs.add(name, &cert);
            }
        }
        if certs.default.is_none() && certs.exact.is_empty() && certs.wildcard.is_empty() {
            return Err(ConfigError::new("tls", "no certificate: set `cert_file` and `key_file`"));
        }
        Ok(certs)
    }
}

/// The rustls provider of a policy: ring, with the policy's suites. (ring
/// is deprecated by rustls for its lack of post-quantum key exchange; the
/// crate uses it everywhere to need no C toolchain, see `origin/custom.rs`.)
#[allow(deprecated)]
fn provider(policy: SecurityPolicy) -> CryptoProvider {
    let mut suites = vec![
        cipher_suite::TLS13_AES_128_GCM_SHA256,
        cipher_suite::TLS13_AES_256_GCM_SHA384,
        cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    if policy == SecurityPolicy::Tls12_2021 {
        suites.extend([
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ]);
    }
    CryptoProvider { cipher_suites: suites, ..rustls::crypto::ring::default_provider() }
}

/// The running TLS termination: one rustls configuration whose certificate
/// resolver is swapped on reload.
pub struct Tls {
    resolver: Arc<SniResolver>,
    config: Arc<ServerConfig>,
    policy: SecurityPolicy,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("resolver", &self.resolver).field("policy", &self.policy).finish()
    }
}

impl Tls {
    /// Loads every certificate (an error names the setting) and builds the
    /// server configuration.
    pub fn new(source: &TlsSource) -> Result<Tls, ConfigError> {
        let certs = source.load()?;
        let resolver = Arc::new(SniResolver::new(certs));
        let provider = Arc::new(provider(source.policy));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(source.policy.versions())
            .map_err(|e| ConfigError::new("tls.security_policy", e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn rustls::server::ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.session_storage = rustls::server::ServerSessionMemoryCache::new(16 * 1024);
        config.ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| ConfigError::new("tls", format!("cannot make a session ticket key: {e}")))?;
        Ok(Tls { resolver, config: Arc::new(config), policy: source.policy })
    }

    /// Re-reads every certificate and swaps them in; open connections keep
    /// theirs. On an error nothing changes. A changed security policy is
    /// not applied (it needs a restart): `Err` says so.
    pub fn reload(&self, source: &TlsSource) -> Result<(), ConfigError> {
        if source.policy != self.policy {
            return Err(ConfigError::new("tls.security_policy", "changed: restart to apply a new security policy"));
        }
        self.resolver.swap(source.load()?);
        Ok(())
    }

    /// The acceptor for the TCP listener (ALPN `h2`, `http/1.1`).
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config))
    }

    /// The server configuration, for another transport (HTTP/3 sets its
    /// own ALPN on a copy); it shares the certificate resolver.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }

    /// Whether a request for `host` may be served on a connection whose
    /// handshake named `sni` (else `421 Misdirected Request`).
    pub fn serves(&self, sni: Option<&str>, host: &str) -> bool {
        self.resolver.same_certificate(sni, host)
    }

    /// [`serves`](Self::serves) for a request head: its host is the
    /// target's authority (HTTP/2 and HTTP/3 `:authority`), else `Host`; a
    /// request with neither is left to the other checks.
    pub(crate) fn serves_request(&self, sni: Option<&str>, uri: &http::Uri, headers: &http::HeaderMap) -> bool {
        let host = uri
            .authority()
            .map(http::uri::Authority::host)
            .or_else(|| headers.get(http::header::HOST).and_then(|h| h.to_str().ok()))
            .map(crate::policy::host::strip_port);
        match host {
            Some(host) => self.serves(sni, host.trim_start_matches('[').trim_end_matches(']')),
            None => true,
        }
    }
}
