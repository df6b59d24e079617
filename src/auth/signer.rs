//! Issuing signed URLs and signed cookies.

use std::fmt;
use std::time::SystemTime;

use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::pkcs8::DecodePrivateKey as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use super::keys::{HashAlgorithm, KeyError, check_key_id, check_rsa_size, unsupported};
use super::params::strip_signing_params;
use super::policy::{Policy, canned_json, epoch_secs};
use super::{MAX_POLICY_BYTES, b64};

/// Error from [`Signer`] operations.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    /// The URL is not an absolute `http(s)` URL without fragment, whitespace,
    /// control or non-ASCII characters, or already has signing parameters.
    InvalidUrl(String),
    /// The policy JSON is larger than [`super::MAX_POLICY_BYTES`].
    PolicyTooLarge(usize),
    /// The signing primitive failed.
    Signing(String),
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl(why) => write!(f, "cannot sign URL: {why}"),
            Self::PolicyTooLarge(n) => {
                write!(f, "policy is {n} bytes; CloudFront-style verifiers accept at most {MAX_POLICY_BYTES}")
            }
            Self::Signing(why) => write!(f, "signing failed: {why}"),
        }
    }
}

impl std::error::Error for SignError {}

enum PrivateKey {
    Rsa(rsa::PrivateKey),
    EcP256(p256::ecdsa::SigningKey),
}

/// Issues CloudFront signed URLs and cookies with one private key.
///
/// With the default [`HashAlgorithm::Sha1`] and an RSA key, the output is
/// byte-for-byte what botocore's `CloudFrontSigner` produces. With
/// [`HashAlgorithm::Sha256`], `Hash-Algorithm=SHA256` (URLs) or a
/// `CloudFront-Hash-Algorithm=SHA256` cookie is added. `Debug` shows the key
/// id and key type only.
pub struct Signer {
    key_id: String,
    key: PrivateKey,
    hash: HashAlgorithm,
}

impl Signer {
    /// Loads a private key from PEM: RSA as PKCS#1 (`RSA PRIVATE KEY`) or
    /// PKCS#8 (`PRIVATE KEY`), EC P-256 as SEC1 (`EC PRIVATE KEY`) or PKCS#8.
    pub fn from_pem(key_id: &str, pem: &str) -> Result<Self, KeyError> {
        check_key_id(key_id)?;
        let pem = pem.trim();
        let key = if pem.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
            rsa::PrivateKey::from_pkcs1_pem(pem)
                .map(PrivateKey::Rsa)
                .map_err(|e| unsupported(key_id, format!("bad PKCS#1 RSA private key: {e}")))?
        } else if pem.starts_with("-----BEGIN EC PRIVATE KEY-----") {
            p256::SecretKey::from_sec1_pem(pem)
                .map(|k| PrivateKey::EcP256(k.into()))
                .map_err(|e| unsupported(key_id, format!("bad SEC1 EC P-256 private key: {e}")))?
        } else if pem.starts_with("-----BEGIN PRIVATE KEY-----") {
            if let Ok(k) = rsa::PrivateKey::from_pkcs8_pem(pem) {
                PrivateKey::Rsa(k)
            } else if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
                PrivateKey::EcP256(k)
            } else {
                return Err(unsupported(key_id, "PKCS#8 private key is neither RSA nor EC P-256 (or is encrypted)"));
            }
        } else {
            return Err(unsupported(
                key_id,
                "expected a PEM `RSA PRIVATE KEY`, `EC PRIVATE KEY` or `PRIVATE KEY` block",
            ));
        };
        if let PrivateKey::Rsa(k) = &key {
            check_rsa_size(key_id, k.size())?;
        }
        Ok(Self { key_id: key_id.to_owned(), key, hash: HashAlgorithm::default() })
    }

    /// Uses `hash` for subsequent signatures.
    #[must_use]
    pub fn with_hash_algorithm(mut self, hash: HashAlgorithm) -> Self {
        self.hash = hash;
        self
    }

    /// The key pair id put in `Key-Pair-Id`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The hash algorithm in use.
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.hash
    }

    /// Signs `message` and returns the signature in CloudFront base64.
    pub fn sign(&self, message: &[u8]) -> Result<String, SignError> {
        let sig = match &self.key {
            PrivateKey::Rsa(k) => {
                let (scheme, hashed) = match self.hash {
                    HashAlgorithm::Sha1 => (rsa::Pkcs1v15Sign::new::<Sha1>(), Sha1::digest(message).to_vec()),
                    HashAlgorithm::Sha256 => (rsa::Pkcs1v15Sign::new::<Sha256>(), Sha256::digest(message).to_vec()),
                };
                k.sign(scheme, &hashed).map_err(|e| SignError::Signing(e.to_string()))?
            }
            PrivateKey::EcP256(k) => {
                let prehash = match self.hash {
                    HashAlgorithm::Sha1 => Sha1::digest(message).to_vec(),
                    HashAlgorithm::Sha256 => Sha256::digest(message).to_vec(),
                };
                let sig: p256::ecdsa::Signature =
                    k.sign_prehash(&prehash).map_err(|e| SignError::Signing(e.to_string()))?;
                sig.to_der().as_bytes().to_vec()
            }
        };
        Ok(b64::encode(&sig))
    }

    /// A canned-policy signed URL: `url` + `Expires`, `Signature`,
    /// `Key-Pair-Id` (+ `Hash-Algorithm`).
    pub fn canned_url(&self, url: &str, expires: SystemTime) -> Result<String, SignError> {
        check_url(url)?;
        let expires = epoch_secs(expires);
        let signature = self.sign(canned_json(url, expires).as_bytes())?;
        Ok(self.append(url, &format!("Expires={expires}"), &signature))
    }

    /// A custom-policy signed URL: `url` + `Policy`, `Signature`,
    /// `Key-Pair-Id` (+ `Hash-Algorithm`). `url` need not equal the policy's
    /// resource, which may contain wildcards.
    pub fn custom_url(&self, url: &str, policy: &Policy) -> Result<String, SignError> {
        check_url(url)?;
        let json = policy_json(policy)?;
        let signature = self.sign(json.as_bytes())?;
        let encoded = b64::encode(json.as_bytes());
        Ok(self.append(url, &format!("Policy={encoded}"), &signature))
    }

    /// Signed cookies for a custom policy, as `(name, value)` pairs:
    /// `CloudFront-Policy`, `CloudFront-Signature`, `CloudFront-Key-Pair-Id`
    /// (+ `CloudFront-Hash-Algorithm`). Cookie attributes (`Domain`, `Path`,
    /// `Secure`, `HttpOnly`) are the caller's business.
    pub fn cookies(&self, policy: &Policy) -> Result<Vec<(String, String)>, SignError> {
        let json = policy_json(policy)?;
        let signature = self.sign(json.as_bytes())?;
        Ok(self.cookie_list(("CloudFront-Policy", b64::encode(json.as_bytes())), signature))
    }

    /// Signed cookies for a canned policy on exactly `url`:
    /// `CloudFront-Expires`, `CloudFront-Signature`, `CloudFront-Key-Pair-Id`
    /// (+ `CloudFront-Hash-Algorithm`).
    pub fn canned_cookies(&self, url: &str, expires: SystemTime) -> Result<Vec<(String, String)>, SignError> {
        check_url(url)?;
        let expires = epoch_secs(expires);
        let signature = self.sign(canned_json(url, expires).as_bytes())?;
        Ok(self.cookie_list(("CloudFront-Expires", expires.to_string()), signature))
    }

    fn append(&self, url: &str, first: &str, signature: &str) -> String {
        let sep = if url.contains('?') { '&' } else { '?' };
        let mut out = format!("{url}{sep}{first}&Signature={signature}&Key-Pair-Id={}", self.key_id);
        if self.hash != HashAlgorithm::Sha1 {
            out.push_str("&Hash-Algorithm=");
            out.push_str(self.hash.as_str());
        }
        out
    }

    fn cookie_list(&self, first: (&str, String), signature: String) -> Vec<(String, String)> {
        let mut v = vec![
            (first.0.to_owned(), first.1),
            ("CloudFront-Signature".to_owned(), signature),
            ("CloudFront-Key-Pair-Id".to_owned(), self.key_id.clone()),
        ];
        if self.hash != HashAlgorithm::Sha1 {
            v.push(("CloudFront-Hash-Algorithm".to_owned(), self.hash.as_str().to_owned()));
        }
        v
    }
}

fn policy_json(policy: &Policy) -> Result<String, SignError> {
    let json = policy.to_json();
    if json.len() > MAX_POLICY_BYTES {
        return Err(SignError::PolicyTooLarge(json.len()));
    }
    Ok(json)
}

fn check_url(url: &str) -> Result<(), SignError> {
    let lower_prefix = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !(lower_prefix.starts_with("http://") || lower_prefix.starts_with("https://")) {
        return Err(SignError::InvalidUrl("must start with http:// or https://".into()));
    }
    if let Some(c) = url.chars().find(|c| !c.is_ascii_graphic() || *c == '#') {
        return Err(SignError::InvalidUrl(format!("contains {c:?} (percent-encode it; fragments are not allowed)")));
    }
    if let Some((_, query)) = url.split_once('?')
        && strip_signing_params(query).as_deref() != Some(query).filter(|q| !q.is_empty())
    {
        return Err(SignError::InvalidUrl("query already contains CloudFront signing parameters".into()));
    }
    Ok(())
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.key {
            PrivateKey::Rsa(k) => format!("RSA-{}", k.size() * 8),
            PrivateKey::EcP256(_) => "ECDSA-P256".to_owned(),
        };
        f.debug_struct("Signer").field("key_id", &self.key_id).field("key", &kind).field("hash", &self.hash).finish()
    }
}
