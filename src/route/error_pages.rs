//! Custom error responses (CloudFront's): when the response to a viewer
//! is an error with a configured code, answer with an error page of the
//! site instead, fetched (and cached) like any object, with the original
//! code or another one.

use std::time::Duration;

use http::StatusCode;

use crate::error::ConfigError;

/// The codes CloudFront lets a distribution customise.
const ERROR_CODES: [u16; 11] = [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];
/// The codes CloudFront lets the custom response use.
const RESPONSE_CODES: [u16; 12] = [200, 400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];

/// A custom error response of a [`Distribution`](crate::Distribution):
/// for responses with status `error_code`, serve the object at
/// `response_page_path` (fetched through the behavior matching that path
/// and cached like any object), with `response_code` or the original code.
///
/// The error page must come from an HTTP or S3 origin (keep it where it
/// survives your app being down, as CloudFront advises). If it cannot be
/// fetched, the original error goes to the viewer.
///
/// [`error_caching_min_ttl`](Self::error_caching_min_ttl) sets how long
/// errors with this code are cached in this distribution (CloudFront's
/// per-code Error Caching Minimum TTL; otherwise the layer's, 10 s by
/// default); an entry may set only that, without a page.
///
/// ```
/// use http::StatusCode;
/// use tower_cdn::{CacheBehavior, CustomErrorResponse, Distribution, Origin};
///
/// let site = Distribution::new("site")
///     .origin("app", Origin::inner())
///     .origin("pages", Origin::http("http://127.0.0.1:9000"))
///     .behavior(CacheBehavior::new("/errors/*").origin("pages"))
///     .default_behavior(CacheBehavior::default_for("app"))
///     .custom_error_response(CustomErrorResponse::new(StatusCode::NOT_FOUND).page("/errors/404.html"))
///     // A single-page app: unknown paths get the app's shell with 200.
///     .custom_error_response(
///         CustomErrorResponse::new(StatusCode::FORBIDDEN).page("/errors/index.html").response_code(StatusCode::OK),
///     );
/// # let _ = site;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[must_use]
pub struct CustomErrorResponse {
    pub(crate) error_code: StatusCode,
    pub(crate) page: Option<String>,
    pub(crate) response_code: Option<StatusCode>,
    pub(crate) caching_min_ttl: Option<Duration>,
}

impl CustomErrorResponse {
    /// For responses with this status (one of 400, 403, 404, 405, 414,
    /// 416, 500, 501, 502, 503, 504).
    pub fn new(error_code: StatusCode) -> Self {
        CustomErrorResponse { error_code, page: None, response_code: None, caching_min_ttl: None }
    }

    /// How long errors with this code are cached when the origin does not
    /// say longer: the longer of this and the origin's `max-age` /
    /// `s-maxage` / `Expires` (at most the behavior's maximum TTL); 0 =
    /// only as long as the origin says. CloudFront never caches 416, so
    /// there this has no effect.
    pub fn error_caching_min_ttl(mut self, ttl: Duration) -> Self {
        self.caching_min_ttl = Some(ttl);
        self
    }

    /// The path of the error page on this distribution, e.g. `/errors/404.html`.
    pub fn page(mut self, path: impl Into<String>) -> Self {
        self.page = Some(path.into());
        self
    }

    /// The status sent with the page (default: the original error's).
    pub fn response_code(mut self, code: StatusCode) -> Self {
        self.response_code = Some(code);
        self
    }
}

/// A validated custom error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorPage {
    pub(crate) error_code: StatusCode,
    /// An absolute path without query, `.` or `..` segments.
    pub(crate) path: String,
    pub(crate) response_code: Option<StatusCode>,
}

/// Checks one custom error response; errors name the setting as the TOML
/// file spells it, relative to the entry. `None` for an entry that only
/// names a code (and perhaps its error caching TTL).
pub(crate) fn validate(r: &CustomErrorResponse) -> Result<Option<ErrorPage>, ConfigError> {
    if !ERROR_CODES.contains(&r.error_code.as_u16()) {
        return Err(ConfigError::new(
            "error_code",
            format!("{} cannot be customised (one of {})", r.error_code.as_u16(), list(&ERROR_CODES)),
        ));
    }
    if let Some(code) = r.response_code
        && !RESPONSE_CODES.contains(&code.as_u16())
    {
        return Err(ConfigError::new(
            "response_code",
            format!("{} is not allowed (one of {})", code.as_u16(), list(&RESPONSE_CODES)),
        ));
    }
    let Some(path) = &r.page else {
        if r.response_code.is_some() {
            return Err(ConfigError::new("response_page_path", "missing: a response_code needs a page to send"));
        }
        return Ok(None);
    };
    let plain = path.starts_with('/')
        && path.len() > 1
        && path.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '\\' | '%'))
        && path[1..].split('/').all(|seg| !matches!(seg, "." | ".."));
    if !plain {
        return Err(ConfigError::new(
            "response_page_path",
            format!("{path:?} is not an absolute object path such as /errors/404.html"),
        ));
    }
    Ok(Some(ErrorPage { error_code: r.error_code, path: path.clone(), response_code: r.response_code }))
}

fn list(codes: &[u16]) -> String {
    codes.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(r: CustomErrorResponse) -> Result<Option<ErrorPage>, String> {
        validate(&r).map_err(|e| e.to_string())
    }

    #[test]
    fn a_page_for_a_customisable_code_is_accepted() {
        let page = check(CustomErrorResponse::new(StatusCode::NOT_FOUND).page("/errors/404.html")).unwrap().unwrap();
        assert_eq!(page.path, "/errors/404.html");
        assert_eq!(page.response_code, None);
        let spa = CustomErrorResponse::new(StatusCode::FORBIDDEN).page("/index.html").response_code(StatusCode::OK);
        assert_eq!(check(spa).unwrap().unwrap().response_code, Some(StatusCode::OK));
        assert_eq!(check(CustomErrorResponse::new(StatusCode::BAD_GATEWAY)).unwrap(), None);
    }

    #[test]
    fn codes_outside_cloudfronts_lists_are_refused_by_name() {
        let err = check(CustomErrorResponse::new(StatusCode::OK).page("/x.html")).unwrap_err();
        assert!(err.contains("error_code") && err.contains("200 cannot be customised"), "{err}");
        let err = check(CustomErrorResponse::new(StatusCode::IM_A_TEAPOT).page("/x.html")).unwrap_err();
        assert!(err.contains("error_code"), "{err}");
        let r = CustomErrorResponse::new(StatusCode::NOT_FOUND).page("/x.html").response_code(StatusCode::CREATED);
        let err = check(r).unwrap_err();
        assert!(err.contains("response_code") && err.contains("201"), "{err}");
    }

    #[test]
    fn a_response_code_needs_a_page() {
        let err = check(CustomErrorResponse::new(StatusCode::NOT_FOUND).response_code(StatusCode::OK)).unwrap_err();
        assert!(err.contains("response_page_path") && err.contains("missing"), "{err}");
    }

    #[test]
    fn page_paths_must_be_plain_absolute_paths() {
        for bad in ["errors/404.html", "/", "/a/../b", "/./x", "/x?y", "/x#y", "/a b", "/%2e%2e/x", "/a\\b"] {
            let err = check(CustomErrorResponse::new(StatusCode::NOT_FOUND).page(bad)).unwrap_err();
            assert!(err.contains("response_page_path"), "{bad}: {err}");
        }
    }
}
