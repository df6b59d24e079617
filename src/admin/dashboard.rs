//! The admin dashboard: one HTML page, a stylesheet and a script, built
//! into the binary (no build step, nothing fetched from elsewhere). They
//! hold no data: the script reads the admin API with the token the user
//! types (kept in `sessionStorage`), so they are served without a token,
//! under the loopback and `Host` rules when there is none
//! ([`auth::page`](super::auth::page)).
//!
//! Headers: a Content Security Policy that allows only this origin's
//! script, style and `fetch` (no inline code, so data shown by the page
//! cannot run), no framing (the purge form cannot be clickjacked), no
//! sniffing, no referrer, no caching.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderName, HeaderValue, StatusCode, header};

use super::auth::{self, Token};
use super::error;

const INDEX_HTML: &str = include_str!("dashboard/index.html");

/// `/dashboard/NAME`: the stylesheet and the script's modules (one
/// concern each: the API and token, safe text and charts, the panels, the
/// explain box, stored keys, the purge form).
const ASSETS: &[(&str, &str, &str)] = &[
    ("dashboard.css", include_str!("dashboard/dashboard.css"), "text/css; charset=utf-8"),
    ("dashboard.js", include_str!("dashboard/dashboard.js"), JS),
    ("api.js", include_str!("dashboard/api.js"), JS),
    ("view.js", include_str!("dashboard/view.js"), JS),
    ("explain.js", include_str!("dashboard/explain.js"), JS),
    ("keys.js", include_str!("dashboard/keys.js"), JS),
    ("purge.js", include_str!("dashboard/purge.js"), JS),
];

const JS: &str = "text/javascript; charset=utf-8";

/// What the page may load and where it may be shown.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `GET /` and `GET /dashboard/NAME`.
pub(super) fn routes(token: Arc<Token>) -> Router {
    Router::new()
        .route("/", get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }))
        .route("/dashboard/{name}", get(file))
        .layer(axum::middleware::from_fn_with_state(token, auth::page))
}

async fn file(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, body, content_type)) => asset(body, content_type),
        None => error(StatusCode::NOT_FOUND, "NotFound", "no such dashboard file"),
    }
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Another site may not embed the script or stylesheet either.
    h.insert(HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin"));
    resp
}
