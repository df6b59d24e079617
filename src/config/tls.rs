//! The file's TLS settings for the dev proxy: `[tls]` (the default
//! certificate, the security policy, the plain-HTTP listener, HTTP/3) and
//! each distribution's `tls = { cert_file, key_file }`. Read here, loaded
//! and checked by the dev proxy (`cli::tls`); a library building a layer
//! from the file does not use them.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ConfigError;

/// `[tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsSchema {
    pub(crate) cert_file: Option<String>,
    pub(crate) key_file: Option<String>,
    pub(crate) security_policy: Option<String>,
    pub(crate) http_listen: Option<String>,
    pub(crate) http3: Option<bool>,
}

/// A distribution's `tls = { cert_file = "...", key_file = "..." }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CertSchema {
    pub(crate) cert_file: String,
    pub(crate) key_file: String,
}

/// A certificate chain and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// The certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// Where the pair is set, for errors: `tls`, `distributions[1].tls`, `--tls-cert`.
    pub setting: String,
}

/// A distribution's own certificate and the names it must cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributionCert {
    /// The distribution's id.
    pub id: String,
    /// Its `domain` and `aliases`, as written (`*.example.com` included).
    pub names: Vec<String>,
    /// Its certificate.
    pub files: CertFiles,
}

/// Everything the file says about TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFile {
    /// `[tls]` `cert_file` and `key_file`: the certificate for names no
    /// distribution has its own for, and for connections without SNI.
    pub default: Option<CertFiles>,
    /// `[tls]` `security_policy`.
    pub security_policy: Option<String>,
    /// `[tls]` `http_listen`: also serve cleartext HTTP there.
    pub http_listen: Option<String>,
    /// `[tls]` `http3`: HTTP/3 on the TLS port (UDP).
    pub http3: Option<bool>,
    /// Distributions with their own certificate.
    pub distributions: Vec<DistributionCert>,
    /// Every distribution's names (for a self-signed certificate).
    pub all_names: Vec<String>,
}

impl TlsFile {
    /// Whether the file turns TLS on (a certificate anywhere).
    pub fn enabled(&self) -> bool {
        self.default.is_some() || !self.distributions.is_empty()
    }
}

/// Reads `[tls]`; `base` is the file's directory.
pub(crate) fn convert(tls: Option<TlsSchema>, base: &Path) -> Result<TlsFile, ConfigError> {
    let Some(t) = tls else { return Ok(TlsFile::default()) };
    let default = match (t.cert_file, t.key_file) {
        (Some(cert), Some(key)) => Some(files(base, &cert, &key, "tls")),
        (None, None) => None,
        (Some(_), None) => return Err(ConfigError::new("tls.key_file", "missing: `cert_file` needs its `key_file`")),
        (None, Some(_)) => return Err(ConfigError::new("tls.cert_file", "missing: `key_file` needs its `cert_file`")),
    };
    Ok(TlsFile {
        default,
        security_policy: t.security_policy,
        http_listen: t.http_listen,
        http3: t.http3,
        distributions: Vec::new(),
        all_names: Vec::new(),
    })
}

/// Notes a distribution's names and, if it has one, its certificate.
pub(crate) fn distribution(
    out: &mut TlsFile,
    index: usize,
    id: &str,
    domain: Option<&str>,
    aliases: &[String],
    cert: Option<CertSchema>,
    base: &Path,
) {
    let names: Vec<String> = domain.into_iter().map(str::to_owned).chain(aliases.iter().cloned()).collect();
    out.all_names.extend(names.iter().cloned());
    if let Some(c) = cert {
        let files = files(base, &c.cert_file, &c.key_file, &format!("distributions[{index}].tls"));
        out.distributions.push(DistributionCert { id: id.to_owned(), names, files });
    }
}

fn files(base: &Path, cert: &str, key: &str, setting: &str) -> CertFiles {
    CertFiles { cert_file: base.join(cert), key_file: base.join(key), setting: setting.to_owned() }
}
