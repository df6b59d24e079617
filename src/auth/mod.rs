//! CloudFront private content: signed URLs and signed cookies.
//!
//! A [`CacheBehavior`](crate::CacheBehavior) with
//! [`trusted_keys`](crate::CacheBehavior::trusted_keys) answers only
//! requests signed by one of those keys; everything else gets
//! `403 Forbidden` before the cache or the origin is consulted. Apps that
//! issue URLs sign them with [`Signer`].
//!
//! The formats are CloudFront's, byte for byte (checked against botocore's
//! `CloudFrontSigner` in `tests/signed_botocore.rs`):
//!
//! * **Canned policy** URL: query parameters `Expires`, `Signature`,
//!   `Key-Pair-Id`; the signed message is the canned policy JSON
//!   `{"Statement":[{"Resource":"<URL>","Condition":{"DateLessThan":{"AWS:EpochTime":<Expires>}}}]}`
//!   rebuilt from the request URL (so the URL must match exactly).
//! * **Custom policy** URL: `Policy` (CloudFront base64 of the policy JSON),
//!   `Signature`, `Key-Pair-Id`; the signature covers the decoded policy
//!   bytes, whose `Resource` may use `*` and `?` wildcards and which may add
//!   `DateGreaterThan` and an `IpAddress` CIDR range.
//! * **Signed cookies**: `CloudFront-Expires` (canned) or `CloudFront-Policy`,
//!   plus `CloudFront-Signature` and `CloudFront-Key-Pair-Id`. Query
//!   parameters win when both are present, as in CloudFront.
//! * CloudFront's URL-safe base64: `+` → `-`, `=` → `_`, `/` → `~`.
//! * Optional `Hash-Algorithm` query parameter / `CloudFront-Hash-Algorithm`
//!   cookie: `SHA1` (the default) or `SHA256`.
//! * Keys: RSA 2048–4096 bits (PKCS#1 v1.5 signatures) and ECDSA P-256 (DER
//!   signatures), with either hash.
//!
//! [`verify`] is pure: the current time and the client address are passed
//! in, nothing is read from the environment.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use tower_cdn::auth::{Signer, TrustedKeys};
//!
//! # let private_pem = include_str!("testdata/rsa_a_pkcs1.pem");
//! # let public_pem = include_str!("testdata/rsa_a_pub_spki.pem");
//! // The app that issues URLs holds the private key...
//! let signer = Signer::from_pem("K2JCJMDEHXQW5F", private_pem)?;
//! let url = signer.canned_url(
//!     "https://cdn.example.com/videos/intro.mp4",
//!     SystemTime::now() + Duration::from_secs(3600),
//! )?;
//! assert!(url.contains("&Key-Pair-Id=K2JCJMDEHXQW5F"));
//!
//! // ...the edge trusts the public one.
//! let mut keys = TrustedKeys::new();
//! keys.add_pem("K2JCJMDEHXQW5F", public_pem)?;
//! let behavior = tower_cdn::CacheBehavior::new("/videos/*").origin("media").trusted_keys(keys);
//! # let _ = behavior;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "signed-urls")]
mod b64;
mod cidr;
pub(crate) mod gate;
#[cfg(feature = "signed-urls")]
mod keys;
mod params;
#[cfg(feature = "signed-urls")]
pub(crate) mod policy;
#[cfg(feature = "signed-urls")]
mod signer;
#[cfg(feature = "signed-urls")]
mod verify;

pub use cidr::{Cidr, CidrError};
#[cfg(feature = "signed-urls")]
pub use keys::{HashAlgorithm, KeyError, TrustedKeys};
pub use params::strip_signing_params;
pub(crate) use params::{redact_signature_in_cookies, redact_signature_in_query};
#[cfg(feature = "signed-urls")]
pub use policy::{Policy, PolicyError};
#[cfg(feature = "signed-urls")]
pub use signer::{SignError, Signer};
#[cfg(feature = "signed-urls")]
pub use verify::{SignedRequest, verify};

/// Without the `signed-urls` feature no behavior can require signatures:
/// a key set that cannot exist.
#[cfg(not(feature = "signed-urls"))]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TrustedKeys {}

#[cfg(not(feature = "signed-urls"))]
impl TrustedKeys {
    pub(crate) fn is_empty(&self) -> bool {
        match *self {}
    }
}

use std::fmt;

/// Maximum size of a decoded custom policy, in bytes.
pub const MAX_POLICY_BYTES: usize = 4096;

/// Why a request was refused by [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// No CloudFront signing parameters in the query string or cookies.
    Missing,
    /// Signing parameters present but incomplete, duplicated, oversized or
    /// undecodable (bad base64, bad JSON, bad number, unknown hash algorithm...).
    Malformed,
    /// The key pair id is not one of the trusted keys.
    UnknownKey,
    /// The signature does not verify. For canned policies this is also what a
    /// URL that differs from the signed one produces.
    BadSignature,
    /// The current time is at or after `DateLessThan` / `Expires`.
    Expired,
    /// The current time is at or before the custom policy's `DateGreaterThan`.
    NotYetValid,
    /// The client address is unknown or outside the policy's `IpAddress` range.
    IpNotAllowed,
    /// The request URL does not match the custom policy's `Resource`.
    ResourceMismatch,
}

impl Rejection {
    /// The token shown as `Cache-Status: tower-cdn; detail=TOKEN` on the 403
    /// response, e.g. `signature-expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "signature-missing",
            Self::Malformed => "signature-malformed",
            Self::UnknownKey => "signature-unknown-key",
            Self::BadSignature => "signature-invalid",
            Self::Expired => "signature-expired",
            Self::NotYetValid => "signature-not-yet-valid",
            Self::IpNotAllowed => "signature-ip-not-allowed",
            Self::ResourceMismatch => "signature-resource-mismatch",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "missing signature",
            Self::Malformed => "malformed signature parameters",
            Self::UnknownKey => "unknown key pair id",
            Self::BadSignature => "invalid signature",
            Self::Expired => "signature expired",
            Self::NotYetValid => "signature not yet valid",
            Self::IpNotAllowed => "client IP address not allowed",
            Self::ResourceMismatch => "URL not covered by policy",
        })
    }
}

impl std::error::Error for Rejection {}

#[cfg(all(test, feature = "signed-urls"))]
mod tests;
