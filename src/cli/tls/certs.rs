//! Loading a certificate chain and key from PEM files, and checking them
//! before anything is served: readable, a key that matches the leaf, and a
//! leaf that covers every name it will be presented for.

use crate::origin::tls::read_pem_file;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::CertifiedKey;

use crate::config::CertFiles;
use crate::error::ConfigError;

/// The setting an error about one of the pair's files names: the file's
/// key path (`distributions[0].tls.key_file`) or the flag.
fn setting(files: &CertFiles, which: &str) -> String {
    match (files.setting.as_str(), which) {
        ("--tls-cert", "key_file") => "--tls-key".to_owned(),
        ("--tls-cert", _) => "--tls-cert".to_owned(),
        (at, which) => format!("{at}.{which}"),
    }
}

/// Reads and checks a pair; `names` are the host names it is served for.
pub(crate) fn load(
    files: &CertFiles,
    names: &[String],
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, ConfigError> {
    let cert_at = setting(files, "cert_file");
    let key_at = setting(files, "key_file");
    let cert_pem = read_pem_file(&files.cert_file, &cert_at)?;
    let key_pem = read_pem_file(&files.key_file, &key_at)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem).collect::<Result<Vec<_>, _>>().map_err(|e| {
        ConfigError::new(&cert_at, format!("{}: not a PEM certificate chain: {e}", files.cert_file.display()))
    })?;
    if chain.is_empty() {
        return Err(ConfigError::new(
            &cert_at,
            format!("{}: no certificate in it (expected `-----BEGIN CERTIFICATE-----`)", files.cert_file.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        ConfigError::new(
            &key_at,
            format!("{}: no private key in it (PKCS#8, PKCS#1 or SEC1 PEM): {e}", files.key_file.display()),
        )
    })?;
    certified(chain, key, names, provider).map_err(|(which, message)| {
        let (at, path) = if which == "key_file" { (&key_at, &files.key_file) } else { (&cert_at, &files.cert_file) };
        ConfigError::new(at, format!("{}: {message}", path.display()))
    })
}

/// A chain and key, checked: `Err(("key_file" | "cert_file", why))`.
pub(crate) fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    names: &[String],
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, (&'static str, String)> {
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => ("key_file", "the key does not match the certificate".to_owned()),
        rustls::Error::General(m) => ("key_file", format!("unusable private key: {m}")),
        other => ("key_file", format!("unusable private key: {other}")),
    })?;
    let leaf = webpki::EndEntityCert::try_from(&certified.cert[0])
        .map_err(|e| ("cert_file", format!("the first certificate cannot be parsed: {e}")))?;
    for name in names {
        if !covers(&leaf, name) {
            return Err(("cert_file", format!("the certificate does not cover {name:?}, which it is served for")));
        }
    }
    Ok(Arc::new(certified))
}

/// Whether `leaf` is valid for `name` (`*.example.com`: for the names the
/// wildcard stands for).
pub(crate) fn covers(leaf: &webpki::EndEntityCert<'_>, name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let probe = match name.strip_prefix("*.") {
        Some(rest) => format!("tower-cdn-probe.{rest}"),
        None => name,
    };
    let host = probe.trim_start_matches('[').trim_end_matches(']');
    match ServerName::try_from(host) {
        Ok(server_name) => leaf.verify_is_valid_for_subject_name(&server_name).is_ok(),
        Err(_) => false,
    }
}
