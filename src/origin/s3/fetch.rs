//! Fetching objects from an S3 origin: key, URL, signature, request, and
//! the error mapping that keeps S3's XML away from clients.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode, Uri};

use super::addressing::{FORWARDED_REQUEST_HEADERS, S3Target, UrlStyle, map_error_status, object_url, origin_request};
use super::config::S3Origin;
use super::credentials::Credentials;
use super::key::object_key;
use super::sign::sign;
use crate::body::OriginBody;
use crate::error::{ConfigError, OriginError, text_response};
use crate::origin::custom::classify;
use crate::origin::inner::box_body;
use crate::origin::limit::Limiter;
use crate::origin::report::{FailureLog, s3_error_code};
use crate::policy::headers::strip_hop_by_hop;

/// A validated S3 origin with its connection pool and resolved credentials.
pub(crate) struct S3Fetcher {
    client: reqwest::Client,
    target: S3Target,
    credentials: Credentials,
    response_timeout: Duration,
    forbidden_as_not_found: bool,
    limiter: Option<Limiter>,
    failures: FailureLog,
}

impl std::fmt::Debug for S3Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `Credentials`' Debug shows the key id only, never the secret.
        f.debug_struct("S3Fetcher")
            .field("target", &self.target)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl S3Fetcher {
    /// Validates the configuration, resolves credentials, builds the client.
    pub(crate) fn new(name: &str, cfg: &S3Origin, check_only: bool) -> Result<Self, ConfigError> {
        if cfg.bucket.is_empty() {
            return Err(ConfigError::new("bucket", "must not be empty"));
        }
        let mut target = S3Target::new(cfg.bucket.as_str(), cfg.region.as_str()).map_err(|e| {
            let setting = match e {
                super::AddressError::InvalidRegion => "region",
                _ => "bucket",
            };
            ConfigError::new(setting, e.to_string())
        })?;
        if let Some(endpoint) = &cfg.endpoint {
            let uri: Uri =
                endpoint.parse().map_err(|_| ConfigError::new("endpoint", format!("{endpoint:?} is not a URL")))?;
            target = target.with_endpoint(uri).map_err(|e| ConfigError::new("endpoint", e.to_string()))?;
        }
        let style = if cfg.path_style { UrlStyle::Path } else { UrlStyle::VirtualHosted };
        target = target
            .with_style(style)
            .with_origin_path(&cfg.origin_path)
            .map_err(|e| ConfigError::new("origin_path", e.to_string()))?;
        // Check now that URLs can be formed (bucket name rules per style).
        let probe = object_url(&target, "probe", None).map_err(|e| {
            let hint = if style == UrlStyle::VirtualHosted {
                " (set path_style = true for IP endpoints or bucket names with dots or capitals)"
            } else {
                ""
            };
            ConfigError::new("bucket", format!("{e}{hint}"))
        })?;
        if cfg.response_timeout.is_zero() {
            return Err(ConfigError::new("response_timeout", "must be greater than zero"));
        }
        if cfg.connect_timeout.is_zero() {
            return Err(ConfigError::new("connect_timeout", "must be greater than zero"));
        }
        let credentials = if check_only { Credentials::Anonymous } else { cfg.credentials.resolve()? };
        // Idempotent; an `Err` means a provider is already installed.
        // rustls 0.23.48 deprecates ring for its lack of post-quantum key
        // exchange; ring keeps the build free of a C toolchain (aws-lc).
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.connect_timeout)
            .pool_idle_timeout(cfg.keepalive_timeout)
            .pool_max_idle_per_host(cfg.max_idle_per_host)
            .tcp_nodelay(true);
        if let (Some(addr), Some(host)) = (cfg.connect_to, probe.host()) {
            builder = builder.resolve(host, addr);
        }
        let client =
            builder.build().map_err(|e| ConfigError::new("endpoint", format!("cannot build an HTTP client: {e}")))?;
        Ok(S3Fetcher {
            client,
            target,
            credentials,
            response_timeout: cfg.response_timeout,
            forbidden_as_not_found: cfg.forbidden_as_not_found,
            limiter: cfg.limit.build()?,
            failures: FailureLog::new(name),
        })
    }

    pub(crate) fn response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// The S3 endpoint (for traces).
    pub(crate) fn endpoint(&self) -> &http::Uri {
        self.target.endpoint()
    }

    /// The operator's log of this origin's failures.
    pub(crate) fn failures(&self) -> &FailureLog {
        &self.failures
    }

    /// The concurrency limit, if any.
    pub(crate) fn limiter(&self) -> Option<&Limiter> {
        self.limiter.as_ref()
    }

    /// GETs or HEADs the object the request path names.
    pub(crate) async fn fetch(&self, parts: &Parts) -> Result<Response<OriginBody>, OriginError> {
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            // Writes through the CDN are not supported; CloudFront answers
            // 403 for methods a behavior does not allow.
            return Ok(generated(StatusCode::FORBIDDEN));
        }
        let Ok(key) = object_key(self.target.origin_path(), parts.uri.path()) else {
            return Ok(generated(StatusCode::BAD_REQUEST));
        };
        // Only the headers S3 honours, and only values that can be signed.
        let mut viewer = HeaderMap::new();
        for name in FORWARDED_REQUEST_HEADERS {
            for value in parts.headers.get_all(name) {
                if value.to_str().is_ok() {
                    viewer.append(name.clone(), value.clone());
                }
            }
        }
        let mut req = origin_request(&self.target, &parts.method, &key, None, &viewer)
            .map_err(|_| OriginError::protocol("cannot form the S3 request"))?;
        sign(&mut req, &self.credentials, self.target.region(), SystemTime::now())
            .map_err(|_| OriginError::protocol("cannot sign the S3 request"))?;
        let (head, ()) = req.into_parts();
        let url = head.uri.to_string();
        let resp = match self.client.request(head.method, &url).headers(head.headers).send().await {
            Ok(resp) => resp,
            Err(e) => {
                let err = classify(e);
                self.failures.warn(&url, &err, None);
                return Err(err);
            }
        };
        let status = resp.status();
        if status.as_u16() < 300 || status == StatusCode::NOT_MODIFIED {
            let mut resp = Response::from(resp);
            strip_hop_by_hop(resp.headers_mut());
            drop_unforwarded_vary(resp.headers_mut());
            return Ok(resp.map(box_body));
        }
        // The status is mapped; the XML error document is read (bounded)
        // for the operator's log only: a wrong secret and a missing bucket
        // both look like a bare 403/404 to the viewer.
        let code = read_error_code(resp).await;
        if status != StatusCode::NOT_FOUND || code.as_deref() != Some("NoSuchKey") {
            let cause = format!("S3 answered {status}");
            self.failures.warn(&url, &cause, Some(code.as_deref().unwrap_or("-")));
        }
        Ok(generated(map_error_status(status, self.forbidden_as_not_found)))
    }
}

/// The error code of an S3 error response, reading at most 16 KiB of it
/// within two seconds.
async fn read_error_code(resp: reqwest::Response) -> Option<String> {
    use futures_util::StreamExt as _;
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    let read = async {
        while let Some(Ok(chunk)) = stream.next().await {
            body.extend_from_slice(&chunk);
            if body.len() >= 16 * 1024 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), read).await;
    s3_error_code(&body)
}

/// Removes the `Vary` members that name headers S3 never receives.
///
/// S3 (and SeaweedFS) send `Vary: Origin` (plus the CORS preflight headers)
/// on every response of a bucket with CORS. Only
/// [`FORWARDED_REQUEST_HEADERS`] reach S3, so its response cannot depend on
/// any other request header: for this origin such members are moot, and
/// keeping them would make every such object uncacheable.
fn drop_unforwarded_vary(headers: &mut HeaderMap) {
    if !headers.contains_key(header::VARY) {
        return;
    }
    let kept: Vec<String> = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|m| *m == "*" || FORWARDED_REQUEST_HEADERS.iter().any(|h| h.as_str().eq_ignore_ascii_case(m)))
        .map(str::to_owned)
        .collect();
    headers.remove(header::VARY);
    if let Ok(v) = HeaderValue::from_str(&kept.join(", "))
        && !kept.is_empty()
    {
        headers.insert(header::VARY, v);
    }
}

/// A short, uncacheable text response standing in for an S3 error.
fn generated(status: StatusCode) -> Response<OriginBody> {
    let body = match status.as_u16() {
        400 => "400 Bad Request\n",
        403 => "403 Forbidden\n",
        404 => "404 Not Found\n",
        412 => "412 Precondition Failed\n",
        416 => "416 Range Not Satisfiable\n",
        503 => "503 Service Unavailable: the origin is busy\n",
        504 => "504 Gateway Timeout\n",
        _ => "502 Bad Gateway: the origin failed\n",
    };
    let mut resp = text_response(status, body);
    resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    resp.map(|b: Bytes| box_body(http_body_util::Full::new(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_members_s3_cannot_see_are_dropped() {
        let mut h = HeaderMap::new();
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        h.append(header::VARY, HeaderValue::from_static("Access-Control-Request-Method, range"));
        drop_unforwarded_vary(&mut h);
        assert_eq!(h[header::VARY], "range");
        let mut h = HeaderMap::new();
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        drop_unforwarded_vary(&mut h);
        assert!(!h.contains_key(header::VARY));
        let mut h = HeaderMap::new();
        h.insert(header::VARY, HeaderValue::from_static("*"));
        drop_unforwarded_vary(&mut h);
        assert_eq!(h[header::VARY], "*");
    }
}
