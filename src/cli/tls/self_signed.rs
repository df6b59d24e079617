//! `--tls-self-signed`: a certificate made at start for the names the proxy
//! serves, for local development (browsers and curl need to be told to
//! trust it: its PEM is written to a file and its fingerprint printed).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

/// A generated certificate.
pub(crate) struct SelfSigned {
    pub(crate) key: Arc<CertifiedKey>,
    /// `AB:CD:...`, SHA-256 of the DER certificate.
    pub(crate) fingerprint: String,
    /// The names it covers.
    pub(crate) names: Vec<String>,
    /// Where its PEM was written.
    pub(crate) pem_file: PathBuf,
}

/// Makes a certificate (ECDSA P-256, valid for a year) for `names` plus
/// `localhost`, `127.0.0.1` and `::1`, and writes its PEM to `dir`.
pub(crate) fn generate(
    names: &[String],
    dir: &std::path::Path,
    provider: &CryptoProvider,
) -> Result<SelfSigned, String> {
    let mut all: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for n in names {
        let n = n.trim_end_matches('.').to_ascii_lowercase();
        if !n.is_empty() && !all.contains(&n) {
            all.push(n);
        }
    }
    let mut params =
        rcgen::CertificateParams::new(all.clone()).map_err(|e| format!("cannot make a certificate: {e}"))?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "tower-cdn self-signed");
    let now = std::time::SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(3600)).into();
    params.not_after = (now + std::time::Duration::from_secs(365 * 86_400)).into();
    let key_pair = rcgen::KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
    let cert = params.self_signed(&key_pair).map_err(|e| format!("cannot sign the certificate: {e}"))?;
    let der: CertificateDer<'static> = cert.der().clone();
    let fingerprint = fingerprint(&der);
    let pem_file = write_new(dir, cert.pem().as_bytes())?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    let key = super::certs::certified(vec![der], key, &[], provider).map_err(|(_, m)| m)?;
    Ok(SelfSigned { key, fingerprint, names: all, pem_file })
}

/// Writes `pem` to a new file in `dir` (the system's temporary directory,
/// which others can write to): a name no one can guess
/// (`tower-cdn-self-signed-PID-RANDOM.pem`), created, never opened if it
/// exists, so a file or symlink planted there is neither followed nor
/// handed to the operator as the certificate to trust.
fn write_new(dir: &std::path::Path, pem: &[u8]) -> Result<PathBuf, String> {
    use ring::rand::SecureRandom as _;
    use std::io::Write as _;
    let mut random = [0u8; 8];
    ring::rand::SystemRandom::new().fill(&mut random).map_err(|_| "no randomness for the file name".to_owned())?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let pem_file = dir.join(format!("tower-cdn-self-signed-{}-{suffix}.pem", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&pem_file)
        .map_err(|e| format!("cannot create {}: {e}", pem_file.display()))?;
    file.write_all(pem).map_err(|e| format!("cannot write {}: {e}", pem_file.display()))?;
    Ok(pem_file)
}

/// SHA-256 of `der` as colon-separated upper-case hex (what browsers show).
pub(crate) fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = String::with_capacity(95);
    for (i, b) in digest.as_ref().iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{b:02X}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_file_planted_at_a_guessable_name_is_neither_followed_nor_used() {
        let dir = std::env::temp_dir().join(format!("tower-cdn-self-signed-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // What another local user can do in /tmp: plant a symlink at the
        // name the process id predicts, and a file of their own.
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let planted = dir.join(format!("tower-cdn-self-signed-{}.pem", std::process::id()));
        let _ = std::fs::remove_file(&planted);
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        let made = generate(&["edge.test".to_owned()], &dir, &provider).unwrap();
        let again = generate(&[], &dir, &provider).unwrap();
        let victim_now = std::fs::read_to_string(&victim).unwrap();
        let kind = std::fs::symlink_metadata(&made.pem_file).unwrap().file_type();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(victim_now, "precious", "the symlink was followed");
        assert!(kind.is_file(), "{:?} is not a new regular file", made.pem_file);
        assert_ne!(made.pem_file, again.pem_file, "two starts, two files");
    }
}
