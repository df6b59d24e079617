//! Errors: origin faults (which become responses, never `Err`) and
//! configuration mistakes (reported with the setting's name).

use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

/// Boxed error used for bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an origin fetch failed. Carried in the extensions of the error
/// response the client receives (502 / 504 / 508), for logging.
///
/// | kind | status |
/// |---|---|
/// | connect failure, refused, DNS, TLS, malformed origin response | 502 Bad Gateway |
/// | no response head within the origin response timeout | 504 Gateway Timeout |
/// | no free slot under the origin's `max_concurrent_requests` in time | 503 Service Unavailable, `Retry-After: 1` |
/// | a request target the origin URL cannot carry unchanged (the origin is not contacted) | 400 Bad Request |
/// | the viewer's own content could not be read while it was forwarded (cut short, a trailer section over the limit) | 400 Bad Request |
#[derive(Debug, Clone)]
pub struct OriginError {
    kind: OriginErrorKind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OriginErrorKind {
    Connect,
    Timeout,
    Protocol,
    Capacity,
    BadTarget,
    BadContent,
    Hook,
}

impl OriginError {
    pub(crate) fn connect(message: impl fmt::Display) -> Self {
        Self::new(OriginErrorKind::Connect, message)
    }
    pub(crate) fn timeout(message: impl fmt::Display) -> Self {
        Self::new(OriginErrorKind::Timeout, message)
    }
    pub(crate) fn protocol(message: impl fmt::Display) -> Self {
        Self::new(OriginErrorKind::Protocol, message)
    }
    /// A hook of the edge panicked (a 500 for its request only).
    pub(crate) fn hook(message: impl fmt::Display) -> Self {
        Self::new(OriginErrorKind::Hook, message)
    }
    pub(crate) fn capacity(message: impl fmt::Display) -> Self {
        Self::new(OriginErrorKind::Capacity, message)
    }
    pub(crate) fn bad_target(message: impl fmt::Display) -> Self {
        Self::new(OriginErrorKind::BadTarget, message)
    }
    pub(crate) fn bad_content(message: impl fmt::Display) -> Self {
        Self::new(OriginErrorKind::BadContent, message)
    }
    fn new(kind: OriginErrorKind, message: impl fmt::Display) -> Self {
        OriginError { kind, message: message.to_string() }
    }
    /// The same error with `note` after its message (for the operator's log).
    pub(crate) fn with_note(mut self, note: &str) -> Self {
        self.message.push_str(note);
        self
    }

    /// The origin could not be reached (refused, unreachable, DNS, TLS).
    pub fn is_connect(&self) -> bool {
        self.kind == OriginErrorKind::Connect
    }
    /// The origin did not answer within the configured timeout.
    pub fn is_timeout(&self) -> bool {
        self.kind == OriginErrorKind::Timeout
    }
    /// The origin answered with something that is not valid HTTP.
    pub fn is_protocol(&self) -> bool {
        self.kind == OriginErrorKind::Protocol
    }
    /// The origin was not contacted: its `max_concurrent_requests` fetches
    /// were in flight and none finished in time.
    pub fn is_capacity_exceeded(&self) -> bool {
        self.kind == OriginErrorKind::Capacity
    }

    /// The request target could not be sent unchanged; the origin was not
    /// contacted.
    pub fn is_bad_target(&self) -> bool {
        self.kind == OriginErrorKind::BadTarget
    }

    /// The viewer's content failed while it was sent on (cut short, or
    /// over a limit): the viewer's fault, not the origin's.
    pub fn is_bad_content(&self) -> bool {
        self.kind == OriginErrorKind::BadContent
    }

    /// The cause as `Cache-Status` `detail=` says it.
    pub(crate) fn detail(&self) -> &'static str {
        match self.kind {
            OriginErrorKind::Connect => "origin-unreachable",
            OriginErrorKind::Timeout => "origin-timeout",
            OriginErrorKind::Protocol => "origin-invalid-response",
            OriginErrorKind::Capacity => "capacity-exceeded",
            OriginErrorKind::BadTarget => "bad-target",
            OriginErrorKind::BadContent => "request-content-unreadable",
            OriginErrorKind::Hook => "hook-failed",
        }
    }

    /// The status code a client receives for this error.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            OriginErrorKind::Connect | OriginErrorKind::Protocol => StatusCode::BAD_GATEWAY,
            OriginErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            OriginErrorKind::Capacity => StatusCode::SERVICE_UNAVAILABLE,
            OriginErrorKind::BadTarget | OriginErrorKind::BadContent => StatusCode::BAD_REQUEST,
            OriginErrorKind::Hook => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short, fixed body that leaks nothing about the origin.
    pub(crate) fn public_message(&self) -> &'static str {
        match self.kind {
            OriginErrorKind::Connect => "502 Bad Gateway: the origin could not be reached\n",
            OriginErrorKind::Protocol => "502 Bad Gateway: the origin sent an invalid response\n",
            OriginErrorKind::Timeout => "504 Gateway Timeout: the origin did not respond in time\n",
            OriginErrorKind::Capacity => "503 Service Unavailable: too many requests to the origin, retry shortly\n",
            OriginErrorKind::BadTarget => "400 Bad Request: invalid request target\n",
            OriginErrorKind::BadContent => "400 Bad Request: the request's content could not be read\n",
            OriginErrorKind::Hook => "500 Internal Server Error: an edge hook failed\n",
        }
    }
}

impl fmt::Display for OriginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            OriginErrorKind::Connect => "origin unreachable",
            OriginErrorKind::Timeout => "origin timed out",
            OriginErrorKind::Protocol => "invalid origin response",
            OriginErrorKind::Capacity => "origin at capacity",
            OriginErrorKind::BadTarget => "request target refused",
            OriginErrorKind::BadContent => "request content unreadable",
            OriginErrorKind::Hook => "edge hook failed",
        };
        write!(f, "{what}: {}", self.message)
    }
}

impl std::error::Error for OriginError {}

/// Marks a response the edge built itself (an error standing in for an
/// origin's, such as an S3 error mapped to a short page): its
/// `Cache-Control: no-store` holds even where a minimum TTL would override
/// an origin's (CloudFront's rule is for origin responses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EdgeBuilt;

/// A configuration mistake, naming the setting and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    setting: String,
    message: String,
}

impl ConfigError {
    /// Creates an error for `setting` (e.g. `max_entry_bytes` or
    /// `distributions[0].behaviors[2].path_pattern`).
    pub fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { setting: setting.into(), message: message.into() }
    }
    /// The setting at fault.
    pub fn setting(&self) -> &str {
        &self.setting
    }
    /// What is wrong with it.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// Prefixes the setting path (used when a part is nested in a larger config).
    pub(crate) fn within(mut self, parent: &str) -> Self {
        self.setting = if self.setting.is_empty() { parent.to_owned() } else { format!("{parent}.{}", self.setting) };
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A short plain-text response, used for every error this crate generates.
pub(crate) fn text_response(status: StatusCode, body: &'static str) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from_static(body.as_bytes()));
    *resp.status_mut() = status;
    resp.extensions_mut().insert(EdgeBuilt);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
