//! SigV4 header signing of origin requests, with aws-sigv4 doing the cryptography.

use std::fmt;
use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign as sigv4_sign,
};
use aws_sigv4::sign::v4;
use http::{HeaderName, HeaderValue, Method, Request, header};

use super::addressing::{FORWARDED_REQUEST_HEADERS, host_header};
use super::credentials::Credentials;

/// Headers the signer sets; any copy already on the request is removed first.
const SIGNER_HEADERS: [&str; 4] = ["authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"];

/// The payload hash that goes into the canonical request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadHash {
    /// `UNSIGNED-PAYLOAD` (what origin GET/HEAD requests use).
    Unsigned,
    /// The SHA-256 of an empty body, `e3b0c442…b855` (what AWS's published examples use).
    #[cfg(test)]
    Empty,
}

/// How to sign. [`SignOptions::S3`] is what [`sign`] uses; the other settings exist to check
/// the signer against AWS's published test vectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignOptions {
    /// The SigV4 service name in the credential scope (`s3`).
    pub service: &'static str,
    /// The payload hash.
    pub payload: PayloadHash,
    /// S3's canonicalisation: the path is used exactly as encoded (no second encoding, no
    /// dot-segment normalisation) and `x-amz-content-sha256` is sent and signed. `false` gives
    /// the generic SigV4 rules (double-encoded, normalised path, no payload header).
    pub s3_rules: bool,
}

impl SignOptions {
    /// S3, `UNSIGNED-PAYLOAD`.
    pub const S3: SignOptions = SignOptions { service: "s3", payload: PayloadHash::Unsigned, s3_rules: true };

    fn settings(&self) -> SigningSettings {
        let mut s = SigningSettings::default();
        if self.s3_rules {
            s.percent_encoding_mode = PercentEncodingMode::Single;
            s.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            s.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        s
    }
}

/// Why a request could not be signed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SignError {
    /// Only GET and HEAD requests are signed.
    UnsupportedMethod,
    /// Neither a `Host` header nor an absolute URI.
    MissingHost,
    /// A header to be signed has a value that is not visible ASCII.
    InvalidHeaderValue(HeaderName),
    /// The access key id or secret is empty.
    EmptyCredentials,
    /// The region is empty or not `a-z0-9-`.
    InvalidRegion,
    /// aws-sigv4 refused the request.
    Signer(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedMethod => f.write_str("only GET and HEAD requests are signed"),
            Self::MissingHost => f.write_str("request has no Host header and no absolute URI"),
            Self::InvalidHeaderValue(name) => {
                write!(f, "header {name} has a value that cannot be signed")
            }
            Self::EmptyCredentials => f.write_str("access key id or secret access key is empty"),
            Self::InvalidRegion => f.write_str("invalid signing region"),
            Self::Signer(e) => write!(f, "SigV4 signing failed: {e}"),
        }
    }
}

impl std::error::Error for SignError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Signer(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// Sign a GET or HEAD origin request for S3 with SigV4 header authentication at time `now`:
/// adds `x-amz-date`, `x-amz-content-sha256: UNSIGNED-PAYLOAD`, `Authorization` (marked
/// sensitive) and, for temporary credentials, `x-amz-security-token` (sensitive). A `Host`
/// header is added from the URI if missing, so that the signed host is the one sent; set it
/// first when the connection goes elsewhere. [`Credentials::Anonymous`] leaves the request
/// untouched.
///
/// Signed: `host`, the [`FORWARDED_REQUEST_HEADERS`] present, and any other `x-amz-*` header the
/// caller put on the request (S3 requires those to be signed). Other headers may be present and
/// stay unsigned. Stale `authorization`/`x-amz-date`/`x-amz-content-sha256`/`x-amz-security-token`
/// headers are replaced.
pub fn sign(req: &mut Request<()>, creds: &Credentials, region: &str, now: SystemTime) -> Result<(), SignError> {
    sign_with(req, creds, region, now, &SignOptions::S3)
}

/// [`sign`] with explicit [`SignOptions`].
pub fn sign_with(
    req: &mut Request<()>,
    creds: &Credentials,
    region: &str,
    now: SystemTime,
    opts: &SignOptions,
) -> Result<(), SignError> {
    let Credentials::Static { access_key_id, secret_access_key, session_token } = creds else {
        return Ok(());
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(SignError::UnsupportedMethod);
    }
    if access_key_id.is_empty() || secret_access_key.is_empty() {
        return Err(SignError::EmptyCredentials);
    }
    if region.is_empty() || !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(SignError::InvalidRegion);
    }
    for name in SIGNER_HEADERS {
        req.headers_mut().remove(name);
    }
    if !req.headers().contains_key(header::HOST) {
        let host = host_header(req.uri()).ok_or(SignError::MissingHost)?;
        req.headers_mut().insert(header::HOST, host);
    }

    let instructions = {
        let mut to_sign: Vec<(&str, &str)> = Vec::new();
        for (name, value) in req.headers() {
            let signed =
                name == header::HOST || FORWARDED_REQUEST_HEADERS.contains(name) || name.as_str().starts_with("x-amz-");
            if signed {
                let v = value.to_str().map_err(|_| SignError::InvalidHeaderValue(name.clone()))?;
                to_sign.push((name.as_str(), v));
            }
        }
        let body = match opts.payload {
            PayloadHash::Unsigned => SignableBody::UnsignedPayload,
            #[cfg(test)]
            PayloadHash::Empty => SignableBody::empty(),
        };
        let uri = req.uri().to_string();
        let signable = SignableRequest::new(req.method().as_str(), uri, to_sign.into_iter(), body)
            .map_err(|e| SignError::Signer(Box::new(e)))?;
        let identity = aws_credential_types::Credentials::new(
            access_key_id.as_str(),
            secret_access_key.as_str(),
            session_token.clone(),
            None,
            "tower-cdn",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(opts.service)
            .time(now)
            .settings(opts.settings())
            .build()
            .map_err(|e| SignError::Signer(Box::new(e)))?
            .into();
        let (instructions, _signature) =
            sigv4_sign(signable, &params).map_err(|e| SignError::Signer(Box::new(e)))?.into_parts();
        instructions
    };

    // Applied by hand: aws-sigv4's `apply_to_request_http1x` unwraps the header values.
    let (headers, _query) = instructions.into_parts();
    for h in headers {
        let name = HeaderName::from_static(h.name());
        let mut value = HeaderValue::from_str(h.value()).map_err(|_| SignError::InvalidHeaderValue(name.clone()))?;
        value.set_sensitive(h.sensitive() || name == header::AUTHORIZATION);
        req.headers_mut().insert(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
