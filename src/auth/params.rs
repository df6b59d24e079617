//! Extracting CloudFront signing parameters from a query string or cookies.

use std::borrow::Cow;

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

/// Query parameter names CloudFront reserves for signing.
const QUERY_NAMES: [&str; 5] = ["Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"];
/// Cookie names, in the same order as [`QUERY_NAMES`].
const COOKIE_NAMES: [&str; 5] = [
    "CloudFront-Expires",
    "CloudFront-Policy",
    "CloudFront-Signature",
    "CloudFront-Key-Pair-Id",
    "CloudFront-Hash-Algorithm",
];
/// Index of the signature in the name arrays.
const SIGNATURE: usize = 2;
/// Index of the hash algorithm in the name arrays (it comes last).
const HASH_ALGORITHM: usize = 4;

/// Largest signature accepted, in bytes (RSA-4096).
const MAX_SIGNATURE_BYTES: usize = 512;
/// `u64::MAX` has 20 digits.
const MAX_EXPIRES_DIGITS: usize = 20;
/// Largest raw (possibly percent-encoded) value looked at.
const MAX_RAW_VALUE: usize = 3 * 8192;

/// Whether `segment` (`name` or `name=value`) is a CloudFront signing
/// parameter. Names are compared exactly, without percent-decoding.
fn signing_index(segment: &str) -> Option<usize> {
    let name = segment.split_once('=').map_or(segment, |(n, _)| n);
    QUERY_NAMES.iter().position(|n| *n == name)
}

/// The query string with the CloudFront signing parameters (`Expires`,
/// `Signature`, `Key-Pair-Id`, `Policy`, `Hash-Algorithm`) removed, keeping the
/// other `&`-separated segments in order and byte for byte; `None` if nothing
/// is left.
///
/// ```
/// use tower_cdn::auth::strip_signing_params;
///
/// assert_eq!(
///     strip_signing_params("size=large&Expires=1&Signature=x&Key-Pair-Id=K&x=1").as_deref(),
///     Some("size=large&x=1")
/// );
/// assert_eq!(strip_signing_params("Policy=p&Signature=x&Key-Pair-Id=K"), None);
/// ```
pub fn strip_signing_params(query: &str) -> Option<String> {
    let kept: Vec<&str> = query.split('&').filter(|segment| signing_index(segment).is_none()).collect();
    let joined = kept.join("&");
    if joined.is_empty() { None } else { Some(joined) }
}

/// Whether a `name=value` cookie pair is one of CloudFront's signing cookies.
fn is_signing_cookie(pair: &[u8]) -> bool {
    let name = pair.iter().position(|&b| b == b'=').map_or(pair, |eq| pair.get(..eq).unwrap_or(pair));
    COOKIE_NAMES.iter().any(|n| n.as_bytes() == name.trim_ascii())
}

/// Removes the CloudFront signing cookies (`CloudFront-Policy`,
/// `CloudFront-Signature`, ...) from every `Cookie` field, keeping the other
/// pairs in order; a field left empty is dropped. They were for the edge:
/// the origin and the cache key never see them.
pub(crate) fn strip_signing_cookies(headers: &mut HeaderMap) {
    let any = headers.get_all(COOKIE).iter().any(|v| v.as_bytes().split(|&b| b == b';').any(is_signing_cookie));
    if !any {
        return;
    }
    let fields: Vec<HeaderValue> = headers.get_all(COOKIE).iter().cloned().collect();
    headers.remove(COOKIE);
    for field in fields {
        let kept: Vec<&[u8]> = field
            .as_bytes()
            .split(|&b| b == b';')
            .map(<[u8]>::trim_ascii)
            .filter(|pair| !pair.is_empty() && !is_signing_cookie(pair))
            .collect();
        if kept.is_empty() {
            continue;
        }
        // The kept pairs are bytes of a valid field value joined by "; ".
        if let Ok(v) = HeaderValue::from_bytes(&kept.join(&b"; "[..])) {
            headers.append(COOKIE, v);
        }
    }
}

/// What a redacted signature reads as in logs.
const REDACTED: &str = "REDACTED";

/// `query` with the value of every `Signature` parameter replaced by
/// `REDACTED`: a signature is a bearer credential until it expires, so it
/// stays out of access logs. Borrowed when there is none.
pub(crate) fn redact_signature_in_query(query: &str) -> Cow<'_, str> {
    if !query.split('&').any(|s| signing_index(s) == Some(SIGNATURE)) {
        return Cow::Borrowed(query);
    }
    let parts: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|s| {
            if signing_index(s) == Some(SIGNATURE) {
                Cow::Owned(format!("Signature={REDACTED}"))
            } else {
                Cow::Borrowed(s)
            }
        })
        .collect();
    Cow::Owned(parts.join("&"))
}

/// A `Cookie` field with the value of `CloudFront-Signature` replaced by
/// `REDACTED` (see [`redact_signature_in_query`]).
pub(crate) fn redact_signature_in_cookies(cookies: &str) -> Cow<'_, str> {
    let is_signature = |pair: &str| pair.trim().split('=').next() == Some(COOKIE_NAMES[SIGNATURE]);
    if !cookies.split(';').any(is_signature) {
        return Cow::Borrowed(cookies);
    }
    let parts: Vec<Cow<'_, str>> = cookies
        .split(';')
        .map(|p| {
            if is_signature(p) {
                Cow::Owned(format!(" {}={REDACTED}", COOKIE_NAMES[SIGNATURE]))
            } else {
                Cow::Borrowed(p)
            }
        })
        .collect();
    Cow::Owned(parts.join(";").trim_start().to_owned())
}

/// Raw values of the five signing parameters from one source.
// Reading the signing parameters for verification (feature `signed-urls`).
#[cfg(feature = "signed-urls")]
mod read {
    use std::borrow::Cow;

    use http::HeaderMap;
    use http::header::COOKIE;
    use percent_encoding::percent_decode;

    use super::super::keys::{HashAlgorithm, MAX_KEY_ID_LEN};
    use super::super::{MAX_POLICY_BYTES, Rejection, b64};
    use super::*;

    #[derive(Default)]
    struct Raw<'a> {
        values: [Option<Cow<'a, str>>; 5],
    }

    impl Raw<'_> {
        /// Whether any of Expires / Policy / Signature / Key-Pair-Id is present
        /// (a lone hash algorithm does not make a request "signed").
        fn is_signed(&self) -> bool {
            self.values.iter().take(HASH_ALGORITHM).any(Option::is_some)
        }
    }

    /// Percent-decodes a value; `None` for oversized or non-UTF-8 results.
    fn decode_value(raw: &[u8]) -> Option<Cow<'_, str>> {
        if raw.len() > MAX_RAW_VALUE {
            return None;
        }
        let decoded: Cow<'_, [u8]> = percent_decode(raw).into();
        match decoded {
            Cow::Borrowed(b) => std::str::from_utf8(b).ok().map(Cow::Borrowed),
            Cow::Owned(v) => String::from_utf8(v).ok().map(Cow::Owned),
        }
    }

    /// Signing parameters from the query string. Duplicates are malformed.
    fn from_query(query: &str) -> Result<Raw<'_>, Rejection> {
        let mut raw = Raw::default();
        for segment in query.split('&') {
            let Some(index) = signing_index(segment) else {
                continue;
            };
            let value = segment.split_once('=').map_or("", |(_, v)| v);
            let slot = raw.values.get_mut(index).ok_or(Rejection::Malformed)?;
            if slot.is_some() {
                return Err(Rejection::Malformed);
            }
            *slot = Some(decode_value(value.as_bytes()).ok_or(Rejection::Malformed)?);
        }
        Ok(raw)
    }

    /// Signing cookies from every `Cookie` header. The first occurrence of each
    /// name wins (browsers send the most specific path first).
    fn from_cookies(headers: &HeaderMap) -> Result<Raw<'_>, Rejection> {
        let mut raw = Raw::default();
        for header in headers.get_all(COOKIE) {
            for pair in header.as_bytes().split(|&b| b == b';') {
                let pair = pair.trim_ascii();
                let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                    continue;
                };
                let (name, value) = pair.split_at(eq);
                let value = value.get(1..).unwrap_or_default();
                let Some(index) = COOKIE_NAMES.iter().position(|n| n.as_bytes() == name) else {
                    continue;
                };
                let value = value.strip_prefix(b"\"").and_then(|v| v.strip_suffix(b"\"")).unwrap_or(value);
                let slot = raw.values.get_mut(index).ok_or(Rejection::Malformed)?;
                if slot.is_none() {
                    *slot = Some(decode_value(value).ok_or(Rejection::Malformed)?);
                }
            }
        }
        Ok(raw)
    }

    /// What was signed.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum SignedPolicy {
        /// Canned policy expiring at this epoch second.
        Canned(u64),
        /// Custom policy: the exact decoded JSON bytes.
        Custom(Vec<u8>),
    }

    /// Validated signing material.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) struct Credentials {
        pub(crate) policy: SignedPolicy,
        pub(crate) signature: Vec<u8>,
        pub(crate) key_id: String,
        pub(crate) hash: HashAlgorithm,
    }

    /// Finds and validates the signing material: query parameters if any are
    /// present, otherwise cookies.
    pub(crate) fn extract(query: Option<&str>, headers: Option<&HeaderMap>) -> Result<Credentials, Rejection> {
        let from_url = match query {
            Some(q) => from_query(q)?,
            None => Raw::default(),
        };
        let raw = if from_url.is_signed() {
            from_url
        } else {
            match headers {
                Some(h) => from_cookies(h)?,
                None => Raw::default(),
            }
        };
        if !raw.is_signed() {
            return Err(Rejection::Missing);
        }
        validate(raw)
    }

    fn validate(raw: Raw<'_>) -> Result<Credentials, Rejection> {
        let [expires, policy, signature, key_id, hash] = raw.values;
        let (Some(signature), Some(key_id)) = (signature, key_id) else {
            return Err(Rejection::Malformed);
        };
        let policy = match (expires, policy) {
            (Some(e), None) => SignedPolicy::Canned(parse_expires(&e)?),
            (None, Some(p)) => SignedPolicy::Custom(b64::decode(&p, MAX_POLICY_BYTES).ok_or(Rejection::Malformed)?),
            _ => return Err(Rejection::Malformed),
        };
        let signature = b64::decode(&signature, MAX_SIGNATURE_BYTES).ok_or(Rejection::Malformed)?;
        if signature.is_empty() || key_id.is_empty() || key_id.len() > MAX_KEY_ID_LEN {
            return Err(Rejection::Malformed);
        }
        let hash = match hash {
            None => HashAlgorithm::Sha1,
            Some(h) => HashAlgorithm::from_wire(&h).ok_or(Rejection::Malformed)?,
        };
        Ok(Credentials { policy, signature, key_id: key_id.into_owned(), hash })
    }

    fn parse_expires(s: &str) -> Result<u64, Rejection> {
        if s.is_empty() || s.len() > MAX_EXPIRES_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Rejection::Malformed);
        }
        s.parse().map_err(|_| Rejection::Malformed)
    }
}
#[cfg(feature = "signed-urls")]
pub(crate) use read::{SignedPolicy, extract};
