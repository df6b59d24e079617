//! Trusted public keys and signature verification.

use std::collections::HashMap;
use std::fmt;

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use super::Rejection;

/// Maximum accepted length of a key pair id.
pub(crate) const MAX_KEY_ID_LEN: usize = 128;
/// Accepted RSA modulus sizes in bytes (2048 to 4096 bits).
const RSA_BYTES: std::ops::RangeInclusive<usize> = 256..=512;
/// Refuse absurdly large PEM input outright.
const MAX_PEM_LEN: usize = 16 * 1024;

/// Hash algorithm of a CloudFront signature (`Hash-Algorithm` query parameter
/// or `CloudFront-Hash-Algorithm` cookie). CloudFront's default is SHA-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-1, the default when no hash algorithm is given.
    #[default]
    Sha1,
    /// SHA-256 (`Hash-Algorithm=SHA256`).
    Sha256,
}

impl HashAlgorithm {
    /// The wire value: `SHA1` or `SHA256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// Parses the wire value (exact, case-sensitive).
    pub(crate) fn from_wire(s: &str) -> Option<Self> {
        match s {
            "SHA1" => Some(Self::Sha1),
            "SHA256" => Some(Self::Sha256),
            _ => None,
        }
    }
}

/// Error adding a key to [`TrustedKeys`] or building a [`super::Signer`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The key id is empty, longer than 128 characters, or has characters
    /// other than ASCII letters, digits, `_` and `-`.
    InvalidKeyId {
        /// The rejected id (truncated).
        key_id: String,
    },
    /// A key with this id is already present.
    DuplicateKeyId {
        /// The duplicated id.
        key_id: String,
    },
    /// The PEM is not a supported key.
    Unsupported {
        /// The key id the PEM was given for.
        key_id: String,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidKeyId { key_id } => {
                write!(f, "invalid key id {key_id:?}: expected 1 to {MAX_KEY_ID_LEN} of A-Z a-z 0-9 _ -")
            }
            Self::DuplicateKeyId { key_id } => write!(f, "key id {key_id:?} is already present"),
            Self::Unsupported { key_id, reason } => write!(f, "key {key_id:?}: {reason}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// Checks the syntax of a configured key pair id.
pub(crate) fn check_key_id(key_id: &str) -> Result<(), KeyError> {
    let ok = !key_id.is_empty()
        && key_id.len() <= MAX_KEY_ID_LEN
        && key_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(KeyError::InvalidKeyId { key_id: key_id.chars().take(MAX_KEY_ID_LEN + 8).collect() }) }
}

pub(crate) fn unsupported(key_id: &str, reason: impl Into<String>) -> KeyError {
    KeyError::Unsupported { key_id: key_id.to_owned(), reason: reason.into() }
}

/// Checks that an RSA modulus has an accepted size.
pub(crate) fn check_rsa_size(key_id: &str, size_bytes: usize) -> Result<(), KeyError> {
    if RSA_BYTES.contains(&size_bytes) {
        Ok(())
    } else {
        Err(unsupported(key_id, format!("RSA key is {} bits; 2048 to 4096 are accepted", size_bytes * 8)))
    }
}

#[derive(Clone, PartialEq, Eq)]
enum PublicKey {
    Rsa(rsa::PublicKey),
    EcP256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    fn describe(&self) -> String {
        match self {
            Self::Rsa(k) => format!("RSA-{}", k.size() * 8),
            Self::EcP256(_) => "ECDSA-P256".to_owned(),
        }
    }
}

/// The public keys trusted to sign URLs and cookies, by key pair id
/// (CloudFront's trusted key group).
///
/// `Debug` shows key ids and key types only.
///
/// ```
/// use tower_cdn::auth::TrustedKeys;
///
/// let mut keys = TrustedKeys::new();
/// # let pem = include_str!("testdata/rsa_a_pub_spki.pem");
/// keys.add_pem("K2JCJMDEHXQW5F", pem)?;
/// assert!(keys.contains("K2JCJMDEHXQW5F"));
/// assert!(keys.add_pem("K2JCJMDEHXQW5F", pem).is_err()); // ids are unique
/// # Ok::<(), tower_cdn::auth::KeyError>(())
/// ```
#[derive(Default, Clone, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: HashMap<String, PublicKey>,
}

impl TrustedKeys {
    /// An empty key set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a public key in PEM form under `key_id`: RSA as PKCS#1
    /// (`RSA PUBLIC KEY`) or SPKI (`PUBLIC KEY`), or EC P-256 as SPKI.
    /// RSA keys must be 2048 to 4096 bits.
    pub fn add_pem(&mut self, key_id: &str, pem: &str) -> Result<(), KeyError> {
        check_key_id(key_id)?;
        if self.keys.contains_key(key_id) {
            return Err(KeyError::DuplicateKeyId { key_id: key_id.to_owned() });
        }
        if pem.len() > MAX_PEM_LEN {
            return Err(unsupported(key_id, "PEM input is too large"));
        }
        let pem = pem.trim();
        let key = if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
            rsa::PublicKey::from_pkcs1_pem(pem)
                .map(PublicKey::Rsa)
                .map_err(|e| unsupported(key_id, format!("bad PKCS#1 RSA public key: {e}")))?
        } else if pem.starts_with("-----BEGIN PUBLIC KEY-----") {
            if let Ok(k) = rsa::PublicKey::from_public_key_pem(pem) {
                PublicKey::Rsa(k)
            } else if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
                PublicKey::EcP256(k)
            } else {
                return Err(unsupported(key_id, "SPKI public key is neither RSA nor EC P-256"));
            }
        } else {
            return Err(unsupported(key_id, "expected a PEM `RSA PUBLIC KEY` or `PUBLIC KEY` block"));
        };
        if let PublicKey::Rsa(k) = &key {
            check_rsa_size(key_id, k.size())?;
        }
        self.keys.insert(key_id.to_owned(), key);
        Ok(())
    }

    /// Whether a key with this id is present.
    pub fn contains(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// The key ids present, in no particular order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies `signature` over `message` with the key `key_id`.
    pub(crate) fn verify(
        &self,
        key_id: &str,
        hash: HashAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), Rejection> {
        let key = self.keys.get(key_id).ok_or(Rejection::UnknownKey)?;
        let ok = match key {
            PublicKey::Rsa(k) => verify_rsa(k, hash, message, signature),
            PublicKey::EcP256(k) => verify_ec(k, hash, message, signature),
        };
        if ok { Ok(()) } else { Err(Rejection::BadSignature) }
    }
}

fn verify_rsa(key: &rsa::PublicKey, hash: HashAlgorithm, msg: &[u8], sig: &[u8]) -> bool {
    if sig.len() != key.size() {
        return false;
    }
    let (scheme, hashed) = match hash {
        HashAlgorithm::Sha1 => (rsa::Pkcs1v15Sign::new::<Sha1>(), Sha1::digest(msg).to_vec()),
        HashAlgorithm::Sha256 => (rsa::Pkcs1v15Sign::new::<Sha256>(), Sha256::digest(msg).to_vec()),
    };
    key.verify(scheme, &hashed, sig).is_ok()
}

fn verify_ec(key: &p256::ecdsa::VerifyingKey, hash: HashAlgorithm, msg: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = p256::ecdsa::Signature::from_der(sig) else {
        return false;
    };
    match hash {
        HashAlgorithm::Sha1 => key.verify_prehash(&Sha1::digest(msg), &sig).is_ok(),
        HashAlgorithm::Sha256 => key.verify(msg, &sig).is_ok(),
    }
}

impl fmt::Debug for TrustedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<_> = self.keys.iter().collect();
        ids.sort_by(|a, b| a.0.cmp(b.0));
        f.write_str("TrustedKeys ")?;
        let mut m = f.debug_map();
        for (id, key) in ids {
            m.entry(id, &key.describe());
        }
        m.finish()
    }
}
