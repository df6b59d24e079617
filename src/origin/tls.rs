//! TLS to HTTPS origins: the roots trusted (a private CA), a client
//! certificate (mutual TLS), the name sent in SNI and verified, the lowest
//! protocol version, and turning verification off. One [`Transport`] per
//! endpoint carries what its requests go out with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use http::HeaderValue;

use crate::error::ConfigError;

/// TLS settings of an HTTPS origin (CloudFront's custom origin settings,
/// plus what private origins need).
///
/// ```
/// use tower_cdn::{Origin, OriginTls};
///
/// let api = Origin::http("https://10.0.0.5:8443").tls(
///     OriginTls::new()
///         .ca_file("certs/internal-ca.pem")          // trust only this CA
///         .client_cert("certs/edge.pem", "certs/edge.key") // mutual TLS
///         .server_name("api.internal"),               // SNI and the name verified
/// );
/// # let _ = api;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct OriginTls {
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) client_cert: Option<(PathBuf, PathBuf)>,
    pub(crate) server_name: Option<String>,
    pub(crate) verify: Option<bool>,
    pub(crate) min_version: Option<OriginTlsVersion>,
}

/// The lowest TLS version spoken to an origin (CloudFront's origin SSL
/// protocols; TLS 1.0 and 1.1 are not offered by rustls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginTlsVersion {
    /// TLS 1.2 and 1.3 (the default).
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl OriginTls {
    /// The defaults: the system's roots (the Mozilla set built into
    /// reqwest's verifier), no client certificate, the URL's host as SNI,
    /// verification on, TLS 1.2 and up.
    pub fn new() -> Self {
        OriginTls::default()
    }

    /// Trust only the CAs in this PEM file (one or more certificates), not
    /// the system's roots: for origins with a private PKI.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Present this certificate chain and key (PEM) to origins that ask for
    /// one (mutual TLS).
    pub fn client_cert(mut self, cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        self.client_cert = Some((cert_file.into(), key_file.into()));
        self
    }

    /// Send this name in SNI and verify the origin's certificate against
    /// it, instead of the URL's host (an origin reached by address, or
    /// behind a load balancer, whose certificate names the service). The
    /// `Host` header stays the URL's (or the viewer's, with `forward_host`).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// `false` accepts any certificate (expired, self-signed, another
    /// name's): an origin on a network you trust, as nginx's
    /// `proxy_ssl_verify off`. Logged as a warning when the layer is built.
    pub fn verify(mut self, verify: bool) -> Self {
        self.verify = Some(verify);
        self
    }

    /// Whether certificates are verified (`verify(false)` turns it off).
    pub(crate) fn verifies(&self) -> bool {
        self.verify != Some(false)
    }

    /// The lowest protocol version offered (default TLS 1.2).
    pub fn min_version(mut self, version: OriginTlsVersion) -> Self {
        self.min_version = Some(version);
        self
    }

    /// Applies the roots, client certificate, verification and version to
    /// a client builder. Errors name the setting (`tls.ca_file`, ...).
    pub(crate) fn apply(&self, mut b: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, ConfigError> {
        if let Some(path) = &self.ca_file {
            let pem = read_pem_file(path, "tls.ca_file")?;
            let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ConfigError::new("tls.ca_file", format!("{}: not PEM certificates: {e}", path.display()))
            })?;
            if roots.is_empty() {
                return Err(ConfigError::new("tls.ca_file", format!("{}: no certificate in it", path.display())));
            }
            b = b.tls_certs_only(roots);
        }
        if let Some((cert, key)) = &self.client_cert {
            let mut pem = read_pem_file(cert, "tls.cert_file")?;
            let key_pem = read_pem_file(key, "tls.key_file")?;
            check_pair(&pem, &key_pem).map_err(|(setting, m)| {
                let path = if setting == "tls.key_file" { key } else { cert };
                ConfigError::new(setting, format!("{}: {m}", path.display()))
            })?;
            pem.push(b'\n');
            pem.extend(key_pem);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                ConfigError::new(
                    "tls.cert_file",
                    format!("{} and {}: not a usable certificate and key: {e}", cert.display(), key.display()),
                )
            })?;
            b = b.identity(identity);
        }
        if self.verify == Some(false) {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        if self.min_version == Some(OriginTlsVersion::Tls13) {
            b = b.tls_version_min(reqwest::tls::Version::TLS_1_3);
        }
        if let Some(n) = &self.server_name
            && rustls::pki_types::ServerName::try_from(n.as_str()).is_err()
        {
            return Err(ConfigError::new("tls.server_name", format!("{n:?} is not a host name or address")));
        }
        Ok(b)
    }
}

/// The most a PEM file named in the configuration may hold (a long chain
/// or a CA bundle is tens of KiB).
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Reads a certificate, key or CA file named by `setting`: a regular file
/// of at most 1 MiB. A FIFO, a device (`/dev/zero`) or a directory is an
/// error naming the setting, never a read that blocks the server or fills
/// its memory (reloads read these files too).
pub(crate) fn read_pem_file(path: &std::path::Path, setting: &str) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read as _;
    let fail = |why: String| ConfigError::new(setting, format!("cannot read {}: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    if meta.len() > MAX_PEM_BYTES {
        return Err(fail(format!("larger than {MAX_PEM_BYTES} bytes")));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut out = Vec::new();
    file.take(MAX_PEM_BYTES + 1).read_to_end(&mut out).map_err(|e| fail(e.to_string()))?;
    if out.len() as u64 > MAX_PEM_BYTES {
        return Err(fail(format!("larger than {MAX_PEM_BYTES} bytes")));
    }
    Ok(out)
}

/// A client certificate chain and key that rustls can use together:
/// `Err((setting, why))`.
fn check_pair(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), (&'static str, String)> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ("tls.cert_file", format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(("tls.cert_file", "no certificate in it".into()));
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| ("tls.key_file", format!("no private key in it: {e}")))?;
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(chain, key, &provider).map(drop).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => ("tls.key_file", "the key does not match the certificate".to_owned()),
        other => ("tls.key_file", format!("unusable private key: {other}")),
    })
}

/// How requests to one endpoint go out.
#[derive(Clone)]
pub(crate) struct Transport {
    pub(crate) client: reqwest::Client,
    /// HTTP/1.1 only, unpooled: for upgrade requests.
    pub(crate) upgrade_client: reqwest::Client,
    /// `scheme://authority` of the request URL: the endpoint's, or the
    /// server name's (with the endpoint's port) when SNI is overridden.
    pub(crate) base: String,
    /// The `Host` to send when the URL names the server name instead.
    pub(crate) host: Option<HeaderValue>,
}

impl Transport {
    /// The endpoint's transport: the origin's clients as they are, or,
    /// with a server name, clients of its own whose DNS answers the server
    /// name with the endpoint's address.
    pub(crate) fn for_endpoint(
        tls: &OriginTls,
        base: &str,
        build: &dyn Fn(Option<Arc<ToEndpoint>>) -> Result<(reqwest::Client, reqwest::Client), ConfigError>,
        shared: &(reqwest::Client, reqwest::Client),
    ) -> Result<Transport, ConfigError> {
        let (scheme, authority) = base.split_once("://").unwrap_or(("http", base));
        let name = match &tls.server_name {
            Some(name) if scheme == "https" => name,
            _ => {
                let (client, upgrade_client) = shared.clone();
                return Ok(Transport { client, upgrade_client, base: base.to_owned(), host: None });
            }
        };
        let authority: http::uri::Authority =
            authority.parse().map_err(|_| ConfigError::new("url", format!("{base:?}: bad authority")))?;
        let port = authority.port_u16().unwrap_or(443);
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        let (client, upgrade_client) = build(Some(Arc::new(ToEndpoint { host, port })))?;
        let sni = if name.contains(':') { format!("[{name}]") } else { name.clone() };
        Ok(Transport {
            client,
            upgrade_client,
            base: format!("https://{sni}:{port}"),
            host: HeaderValue::from_str(authority.as_str()).ok(),
        })
    }
}

/// A DNS resolver for one endpoint's clients: every name is the endpoint.
#[derive(Debug)]
pub(crate) struct ToEndpoint {
    host: String,
    port: u16,
}

impl reqwest::dns::Resolve for ToEndpoint {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (host, port) = (self.host.clone(), self.port);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.pem");
        std::fs::write(&ok, "-----BEGIN CERTIFICATE-----\n").unwrap();
        assert!(read_pem_file(&ok, "tls.ca_file").is_ok());
        let err = read_pem_file(dir.path(), "tls.ca_file").unwrap_err();
        assert_eq!(err.setting(), "tls.ca_file");
        assert!(err.message().contains("not a regular file"), "{err}");
        let big = dir.path().join("big.pem");
        std::fs::write(&big, vec![b'a'; MAX_PEM_BYTES as usize + 1]).unwrap();
        assert!(read_pem_file(&big, "k").unwrap_err().message().contains("larger than"));
        #[cfg(unix)]
        {
            // A FIFO with no writer would block a plain read forever.
            let fifo = dir.path().join("fifo.pem");
            assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
            assert!(read_pem_file(&fifo, "k").unwrap_err().message().contains("not a regular file"));
            assert!(
                read_pem_file(std::path::Path::new("/dev/zero"), "k")
                    .unwrap_err()
                    .message()
                    .contains("not a regular file")
            );
        }
    }
}
