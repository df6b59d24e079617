//! [`Refusal`]: why the cache answers a request itself, with an error,
//! before any lookup or origin contact.

use http::{Response, StatusCode};

use crate::auth::Rejection;
use crate::body::CdnBody;
use crate::respond;
use crate::status::CacheStatus;

/// Why a request is answered by the cache itself with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Several or invalid `Host` fields (RFC 9112 §3.2).
    BadHost,
    /// The behavior does not allow the method (CloudFront answers 403).
    MethodNotAllowed,
    /// An S3 object path that could escape the origin path, or is malformed.
    BadPath,
    /// A path that a lenient origin would read as another resource: one
    /// that climbs above the root (`/a/..%2F..%2Fx`, `/..;/x`) or that
    /// another behavior would serve (`//private/x`, `/private%2Fx` beside
    /// a `/private/*` behavior). See [`crate::policy::target`].
    AmbiguousPath,
    /// `/` on an S3 origin without a default root object.
    NoObject,
    /// The distribution is disabled (standalone proxy).
    Disabled,
    /// The behavior requires a signed URL or signed cookies, and this
    /// request has none that verify.
    Unsigned(Rejection),
    /// An HTTP request to an https-only behavior.
    HttpsRequired,
    /// A hook panicked (the viewer request or cache key hook).
    HookFailed,
    /// A hook chose an origin the distribution does not have.
    UnknownOrigin,
}

impl Refusal {
    fn parts(self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Refusal::BadHost => (StatusCode::BAD_REQUEST, "400 Bad Request: invalid Host header\n", "bad-host"),
            Refusal::MethodNotAllowed => {
                (StatusCode::FORBIDDEN, "403 Forbidden: this method is not allowed here\n", "method-not-allowed")
            }
            Refusal::BadPath => (StatusCode::BAD_REQUEST, "400 Bad Request: invalid object path\n", "bad-path"),
            Refusal::AmbiguousPath => (
                StatusCode::BAD_REQUEST,
                "400 Bad Request: invalid path: a lenient server would read it as another resource\n",
                "ambiguous-path",
            ),
            Refusal::NoObject => (StatusCode::NOT_FOUND, "404 Not Found\n", "no-object"),
            Refusal::Disabled => (StatusCode::FORBIDDEN, "403 Forbidden: this distribution is disabled\n", "disabled"),
            Refusal::HttpsRequired => {
                (StatusCode::FORBIDDEN, "403 Forbidden: this resource is served over HTTPS only\n", "https-required")
            }
            Refusal::UnknownOrigin => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error: an edge hook chose an unknown origin\n",
                "unknown-origin",
            ),
            Refusal::HookFailed => {
                (StatusCode::INTERNAL_SERVER_ERROR, "500 Internal Server Error: an edge hook failed\n", "hook-failed")
            }
            Refusal::Unsigned(why) => (
                StatusCode::FORBIDDEN,
                "403 Forbidden: a valid signed URL or signed cookie is required\n",
                why.as_str(),
            ),
        }
    }

    /// The `Cache-Status` detail token of the refusal.
    pub(crate) fn reason(self) -> &'static str {
        self.parts().2
    }

    /// The response: a short fixed body and `Cache-Status` with the reason.
    pub(crate) fn respond(self) -> Response<CdnBody> {
        let (code, body, detail) = self.parts();
        respond::cache_error(code, body, CacheStatus::refused(detail))
    }
}
