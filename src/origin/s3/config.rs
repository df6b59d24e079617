//! The public description of an S3 origin and of its credentials.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::credentials::{
    Credentials, credentials_from_process_env, credentials_from_shared_file_env, resolve_credentials,
    shared_credentials_location,
};
use crate::error::ConfigError;
use crate::origin::config::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEEPALIVE_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT};
use crate::origin::limit::LimitConfig;

/// An S3 bucket as origin (public or private), on AWS or any S3-compatible
/// server.
///
/// Object keys come from the request path, percent-decoded once; paths with
/// `..` segments, encoded slashes or backslashes are refused (400), so no
/// request reaches outside the origin path. Only GET and HEAD reach S3,
/// with `Range` and the conditional headers; query strings never do (S3
/// reads them as sub-resources such as `?acl`). S3 error bodies (XML) are
/// replaced by a short text body with the status kept (403 may become 404,
/// see [`forbidden_as_not_found`](Self::forbidden_as_not_found)) and are
/// never cached.
///
/// ```
/// use tower_cdn::{S3Credentials, S3Origin};
///
/// let bucket = S3Origin::new("my-assets")
///     .region("eu-west-1")
///     .origin_path("/v2")
///     .credentials(S3Credentials::from_env())
///     .forbidden_as_not_found(true);
/// let local = S3Origin::new("pub-bucket")
///     .endpoint("http://127.0.0.1:19000")
///     .path_style(true);
/// # let _ = (bucket, local);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct S3Origin {
    pub(crate) bucket: String,
    pub(crate) region: String,
    pub(crate) endpoint: Option<String>,
    pub(crate) path_style: bool,
    pub(crate) origin_path: String,
    pub(crate) credentials: S3Credentials,
    pub(crate) forbidden_as_not_found: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) keepalive_timeout: Duration,
    pub(crate) max_idle_per_host: usize,
    pub(crate) connect_to: Option<SocketAddr>,
    pub(crate) limit: LimitConfig,
}

impl S3Origin {
    /// The bucket `bucket` in `us-east-1` on AWS, virtual-hosted style,
    /// read anonymously (a public bucket).
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Origin {
            bucket: bucket.into(),
            region: "us-east-1".to_owned(),
            endpoint: None,
            path_style: false,
            origin_path: String::new(),
            credentials: S3Credentials::anonymous(),
            forbidden_as_not_found: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            max_idle_per_host: 64,
            connect_to: None,
            limit: LimitConfig::default(),
        }
    }

    /// The bucket's region, used in the endpoint and the signature scope.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// An S3-compatible endpoint such as `http://127.0.0.1:19000` (scheme,
    /// host, optional port). Default: `https://s3.REGION.amazonaws.com`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Path-style URLs (`endpoint/bucket/key`) instead of virtual-hosted
    /// ones (`bucket.endpoint/key`, the default). Needed for IP endpoints.
    pub fn path_style(mut self, path_style: bool) -> Self {
        self.path_style = path_style;
        self
    }

    /// A key prefix (CloudFront's origin path): `/v2` serves `/a.css` from
    /// the object `v2/a.css`.
    pub fn origin_path(mut self, path: impl Into<String>) -> Self {
        self.origin_path = path.into();
        self
    }

    /// How requests are signed (default: anonymous, for public buckets).
    pub fn credentials(mut self, credentials: S3Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Show S3's `403 Forbidden` as `404 Not Found`. S3 answers 403 for a
    /// missing key when the reader may not list the bucket, so with private
    /// buckets a 404 is usually the truth (default `false`).
    pub fn forbidden_as_not_found(mut self, yes: bool) -> Self {
        self.forbidden_as_not_found = yes;
        self
    }

    /// Time allowed to connect (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for the response head, and between body chunks (default 30 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long an idle pooled connection is kept (default 5 s).
    pub fn keepalive_timeout(mut self, timeout: Duration) -> Self {
        self.keepalive_timeout = timeout;
        self
    }

    /// Idle connections kept (default 64).
    pub fn max_idle_connections(mut self, n: usize) -> Self {
        self.max_idle_per_host = n;
        self
    }

    /// At most `n` fetches in flight to this bucket (default: no limit);
    /// see [`Origin::max_concurrent_requests`](crate::Origin::max_concurrent_requests).
    pub fn max_concurrent_requests(mut self, n: usize) -> Self {
        self.limit.max = Some(n);
        self
    }

    /// How long a fetch waits for a free slot (default 1 s).
    pub fn concurrency_wait(mut self, wait: Duration) -> Self {
        self.limit.wait = wait;
        self
    }

    /// Connect to this address instead of resolving the endpoint's host
    /// name (like curl's `--connect-to`); the `Host` header and the
    /// signature still name the endpoint. For local S3 servers reached as
    /// `bucket.localhost`, which does not resolve everywhere.
    pub fn connect_to(mut self, addr: SocketAddr) -> Self {
        self.connect_to = Some(addr);
        self
    }
}

/// Where an S3 origin's credentials come from. Resolved once, when the
/// layer is built; secrets never appear in `Debug` output, logs or errors.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    source: Source,
}

#[derive(Clone, PartialEq, Eq)]
enum Source {
    Anonymous,
    Static(Credentials),
    Env,
    SharedFile(Option<String>),
    Chain,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Anonymous => f.write_str("S3Credentials::Anonymous"),
            Source::Static(c) => write!(f, "S3Credentials::{c:?}"),
            Source::Env => f.write_str("S3Credentials::Env"),
            Source::SharedFile(p) => write!(f, "S3Credentials::SharedFile({p:?})"),
            Source::Chain => f.write_str("S3Credentials::Chain"),
        }
    }
}

impl S3Credentials {
    /// Unsigned requests (public buckets).
    pub fn anonymous() -> Self {
        S3Credentials { source: Source::Anonymous }
    }

    /// A static access key pair.
    pub fn from_keys(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        S3Credentials {
            source: Source::Static(Credentials::Static {
                access_key_id: access_key_id.into(),
                secret_access_key: secret_access_key.into(),
                session_token: None,
            }),
        }
    }

    /// Adds the session token of temporary credentials (static keys only).
    #[must_use]
    pub fn session_token(mut self, token: impl Into<String>) -> Self {
        if let Source::Static(Credentials::Static { session_token, .. }) = &mut self.source {
            *session_token = Some(token.into());
        }
        self
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and the optional
    /// `AWS_SESSION_TOKEN`; building fails if they are not set.
    pub fn from_env() -> Self {
        S3Credentials { source: Source::Env }
    }

    /// The shared credentials file (`AWS_SHARED_CREDENTIALS_FILE` or
    /// `~/.aws/credentials`), profile `profile` (else `AWS_PROFILE`, else
    /// `default`); building fails if the profile has no keys.
    pub fn from_shared_file(profile: Option<&str>) -> Self {
        S3Credentials { source: Source::SharedFile(profile.map(str::to_owned)) }
    }

    /// The environment, then the shared credentials file, else anonymous.
    pub fn default_chain() -> Self {
        S3Credentials { source: Source::Chain }
    }

    /// Reads the credentials (environment and files) once.
    pub(crate) fn resolve(&self) -> Result<Credentials, ConfigError> {
        let bad = |m: String| ConfigError::new("credentials", m);
        match &self.source {
            Source::Anonymous => Ok(Credentials::Anonymous),
            Source::Static(c) => Ok(c.clone()),
            Source::Env => credentials_from_process_env()
                .map_err(|e| bad(e.to_string()))?
                .ok_or_else(|| bad("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set".to_owned())),
            Source::SharedFile(profile) => {
                let lookup = |k: &str| match (k, profile) {
                    ("AWS_PROFILE", Some(p)) => Some(p.clone()),
                    _ => std::env::var(k).ok(),
                };
                let location = shared_credentials_location(lookup);
                credentials_from_shared_file_env(lookup).map_err(|e| bad(e.to_string()))?.ok_or_else(
                    || match location {
                        Some((path, profile)) => bad(format!("no keys for profile {profile:?} in {}", path.display())),
                        None => bad("no shared credentials file (HOME is not set)".to_owned()),
                    },
                )
            }
            Source::Chain => resolve_credentials(|k| std::env::var(k).ok()).map_err(|e| bad(e.to_string())),
        }
    }
}
