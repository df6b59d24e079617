//! Where an object lives: the S3 target (endpoint, bucket, region, URL style, origin path),
//! the origin request URL, the viewer headers that may be forwarded, and how S3 error
//! statuses are shown to viewers.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use percent_encoding::utf8_percent_encode;

use super::key::{KEY_PATH, KeyError, MAX_KEY_LEN, normalize_origin_path};

/// The viewer request headers forwarded to S3 (and therefore signed). S3 honours all of them;
/// anything else (cookies, `Authorization`, `x-amz-*` …) stays at the edge.
pub const FORWARDED_REQUEST_HEADERS: &[HeaderName] =
    &[header::RANGE, header::IF_MATCH, header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE, header::IF_UNMODIFIED_SINCE];

/// How the bucket appears in the request URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UrlStyle {
    /// `https://endpoint/bucket/key`; needed for IP-address endpoints and dotted bucket names over TLS.
    Path,
    /// `https://bucket.endpoint/key` (what AWS recommends; the default).
    #[default]
    VirtualHosted,
}

/// Why a target or an origin URL cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressError {
    /// The bucket name is not valid (for virtual-hosted style it must also be a DNS label sequence).
    InvalidBucket,
    /// The region is empty or has characters other than `a-z`, `0-9` and `-`.
    InvalidRegion,
    /// The endpoint is not `http(s)://host[:port]` with an empty path and no user info or query.
    InvalidEndpoint,
    /// Virtual-hosted style needs a DNS name endpoint, not an IP address.
    VirtualHostedNeedsDnsName,
    /// The object key is empty or longer than 1024 bytes.
    InvalidKey,
    /// The origin path is invalid.
    OriginPath(KeyError),
    /// The pass-through query string is not a valid URI query.
    InvalidQuery,
    /// Only GET and HEAD are sent to the origin.
    UnsupportedMethod,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidBucket => f.write_str("invalid bucket name"),
            Self::InvalidRegion => f.write_str("invalid region"),
            Self::InvalidEndpoint => f.write_str("endpoint must be http(s)://host[:port]"),
            Self::VirtualHostedNeedsDnsName => f.write_str("virtual-hosted style needs a DNS name endpoint"),
            Self::InvalidKey => f.write_str("object key is empty or too long"),
            Self::OriginPath(e) => write!(f, "invalid origin path: {e}"),
            Self::InvalidQuery => f.write_str("invalid query string"),
            Self::UnsupportedMethod => f.write_str("only GET and HEAD are sent to S3"),
        }
    }
}

impl std::error::Error for AddressError {}

/// One S3 origin: where to send requests and how to name objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Target {
    endpoint: Uri,
    bucket: String,
    region: String,
    style: UrlStyle,
    origin_path: String,
}

fn valid_region(r: &str) -> bool {
    !r.is_empty() && r.len() <= 64 && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Legacy-tolerant check (path style): 3–255 of `A-Za-z0-9._-`.
fn valid_bucket_lenient(b: &str) -> bool {
    (3..=255).contains(&b.len()) && b.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
}

/// Current S3 rules, required for virtual-hosted style: 3–63 of `a-z0-9.-`, DNS labels, not an IP.
fn valid_bucket_dns(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        })
        && b.parse::<std::net::Ipv4Addr>().is_err()
}

fn check_endpoint(endpoint: &Uri) -> Result<(), AddressError> {
    let scheme_ok = matches!(endpoint.scheme_str(), Some("http" | "https"));
    let authority_ok = endpoint.authority().is_some_and(|a| !a.as_str().contains('@') && !a.host().is_empty());
    let path_ok = matches!(endpoint.path(), "" | "/") && endpoint.query().is_none();
    if scheme_ok && authority_ok && path_ok { Ok(()) } else { Err(AddressError::InvalidEndpoint) }
}

impl S3Target {
    /// A target for `bucket` in `region` at the AWS endpoint `https://s3.<region>.amazonaws.com`,
    /// virtual-hosted style, no origin path. (Other partitions, e.g. China, need [`Self::with_endpoint`].)
    pub fn new(bucket: impl Into<String>, region: impl Into<String>) -> Result<Self, AddressError> {
        let (bucket, region) = (bucket.into(), region.into());
        if !valid_bucket_lenient(&bucket) {
            return Err(AddressError::InvalidBucket);
        }
        if !valid_region(&region) {
            return Err(AddressError::InvalidRegion);
        }
        let endpoint =
            format!("https://s3.{region}.amazonaws.com").parse::<Uri>().map_err(|_| AddressError::InvalidRegion)?;
        Ok(Self { endpoint, bucket, region, style: UrlStyle::VirtualHosted, origin_path: String::new() })
    }

    /// Use a custom endpoint such as `http://127.0.0.1:19000` (scheme, host, optional port; nothing else).
    pub fn with_endpoint(mut self, endpoint: Uri) -> Result<Self, AddressError> {
        check_endpoint(&endpoint)?;
        self.endpoint = endpoint;
        Ok(self)
    }

    /// Choose path-style or virtual-hosted URLs.
    pub fn with_style(mut self, style: UrlStyle) -> Self {
        self.style = style;
        self
    }

    /// Prefix every key with this origin path (e.g. `/static`); it is normalised.
    pub fn with_origin_path(mut self, origin_path: &str) -> Result<Self, AddressError> {
        self.origin_path = normalize_origin_path(origin_path).map_err(AddressError::OriginPath)?;
        Ok(self)
    }

    /// The endpoint URI.
    pub fn endpoint(&self) -> &Uri {
        &self.endpoint
    }
    /// The region, used for the SigV4 scope.
    pub fn region(&self) -> &str {
        &self.region
    }
    /// The URL style.
    #[cfg(test)]
    pub fn style(&self) -> UrlStyle {
        self.style
    }
    /// The normalised origin path: `""` or `/a/b` (pass it to [`super::object_key`]).
    pub fn origin_path(&self) -> &str {
        &self.origin_path
    }
}

/// The URL to GET/HEAD `key` (an object key such as [`super::object_key`] returns) from `t`.
///
/// The key is percent-encoded as S3 and SigV4 expect (every byte except `A-Za-z0-9-._~` and `/`).
/// `query`, if any, is passed through unchanged (e.g. `versionId=…`; the caller decides what
/// may pass). Path style: `scheme://authority/bucket/key`; virtual-hosted:
/// `scheme://bucket.host[:port]/key`.
pub fn object_url(t: &S3Target, key: &str, query: Option<&str>) -> Result<Uri, AddressError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(AddressError::InvalidKey);
    }
    let authority = t.endpoint.authority().ok_or(AddressError::InvalidEndpoint)?;
    let scheme = t.endpoint.scheme_str().ok_or(AddressError::InvalidEndpoint)?;
    let encoded = utf8_percent_encode(key, KEY_PATH);
    let mut url = match t.style {
        UrlStyle::Path => {
            if !valid_bucket_lenient(&t.bucket) {
                return Err(AddressError::InvalidBucket);
            }
            format!("{scheme}://{authority}/{}/{encoded}", utf8_percent_encode(&t.bucket, KEY_PATH))
        }
        UrlStyle::VirtualHosted => {
            if !valid_bucket_dns(&t.bucket) {
                return Err(AddressError::InvalidBucket);
            }
            let host = authority.host();
            if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
                return Err(AddressError::VirtualHostedNeedsDnsName);
            }
            match authority.port_u16() {
                Some(port) => format!("{scheme}://{}.{host}:{port}/{encoded}", t.bucket),
                None => format!("{scheme}://{}.{host}/{encoded}", t.bucket),
            }
        }
    };
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        if q.contains('#') {
            return Err(AddressError::InvalidQuery);
        }
        url.push('?');
        url.push_str(q);
    }
    url.parse::<Uri>().map_err(|_| if query.is_some() { AddressError::InvalidQuery } else { AddressError::InvalidKey })
}

/// The `Host` header value for `url`: its authority, without a default port (80/443).
pub fn host_header(url: &Uri) -> Option<HeaderValue> {
    let authority = url.authority()?;
    let default_port = match url.scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    };
    let value = if authority.port_u16().is_some() && authority.port_u16() == default_port {
        authority.host()
    } else {
        authority.as_str()
    };
    HeaderValue::from_str(value).ok()
}

/// Build the unsigned origin request for `key`: method GET or HEAD, [`object_url`], the
/// `Host` header, and those viewer headers listed in [`FORWARDED_REQUEST_HEADERS`] (all
/// their values). Sign it with [`super::sign`] afterwards.
pub fn origin_request(
    t: &S3Target,
    method: &Method,
    key: &str,
    query: Option<&str>,
    viewer_headers: &HeaderMap,
) -> Result<Request<()>, AddressError> {
    if method != Method::GET && method != Method::HEAD {
        return Err(AddressError::UnsupportedMethod);
    }
    let url = object_url(t, key, query)?;
    let host = host_header(&url).ok_or(AddressError::InvalidEndpoint)?;
    let mut req = Request::new(());
    *req.method_mut() = method.clone();
    *req.uri_mut() = url;
    let headers = req.headers_mut();
    headers.insert(header::HOST, host);
    for name in FORWARDED_REQUEST_HEADERS {
        for value in viewer_headers.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    Ok(req)
}

/// The status a viewer sees for an origin response status. The S3 XML error body must never be
/// forwarded: for any status ≥ 300 except 304 the caller sends a short text body instead.
///
/// 1xx/2xx and 304 pass through; 403 becomes 404 when `forbidden_as_not_found` (S3 answers 403
/// for a missing key when the caller may not list the bucket); 404, 412 and 416 are the viewer's
/// business and pass through; 429 and 503 (SlowDown) become 503 and 504 stays 504; every
/// other status (redirects to another region, 400 such as a bad signature scope, 5xx …) is an
/// origin or configuration fault: 502.
pub fn map_error_status(status: StatusCode, forbidden_as_not_found: bool) -> StatusCode {
    match status.as_u16() {
        100..=299 | 304 | 404 | 412 | 416 => status,
        403 if forbidden_as_not_found => StatusCode::NOT_FOUND,
        403 => StatusCode::FORBIDDEN,
        429 | 503 => StatusCode::SERVICE_UNAVAILABLE,
        504 => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

#[cfg(test)]
mod tests;
