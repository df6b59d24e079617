//! Building the responses the layer sends. A representation (a stored
//! entry, a fill in progress or an origin stream) is answered as the request
//! asks: 304 / 412 for conditional requests (RFC 9110 §13.2), 206 / 416 for
//! ranges (RFC 9110 §14), an empty body for HEAD. Every response carries
//! the cache's status headers.

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::body::{CdnBody, OriginBody};
use crate::cache::entry::Entry;
use crate::error::{OriginError, text_response};
use crate::policy::conditional::{self, Precondition, Validators};
use crate::policy::freshness::{age_header_value, header_date};
use crate::policy::headers::append_via;
use crate::policy::range::{self, RangeOutcome};
use crate::status::CacheStatus;

/// Boundary for `multipart/byteranges` bodies (RFC 9110 §14.6).
const BOUNDARY: &str = "tower-cdn-byteranges-3d6b0a1c";

/// Adds `Via` and the typed status extension (rendered as `Cache-Status`
/// and `X-Cache` once the head is ready, with this cache's name).
/// The response speaks this cache's protocol version, not the origin's
/// (RFC 9110 §6.2): an HTTP/1.0 origin's answer passed through would
/// otherwise go out as `HTTP/1.0` and close the client's connection.
fn finish(mut resp: Response<CdnBody>, status: CacheStatus) -> Response<CdnBody> {
    *resp.version_mut() = http::Version::HTTP_11;
    append_via(resp.headers_mut());
    resp.extensions_mut().insert(status);
    resp
}

/// The request facts that shape the answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked<'a> {
    pub(crate) method: &'a Method,
    pub(crate) headers: &'a HeaderMap,
}

/// A representation ready to be answered from.
pub(crate) struct Representation {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: CdnBody,
    /// Total body length, when known (needed for ranges).
    pub(crate) len: Option<u64>,
    /// The complete stored entry, when the body is one (multipart ranges).
    pub(crate) entry: Option<Arc<Entry>>,
}

impl Representation {
    /// A stored entry, with `Age` set.
    pub(crate) fn from_entry(entry: Arc<Entry>, age: Duration) -> Self {
        let head = entry.head();
        let mut headers = with_room(&head.headers);
        headers.insert(header::AGE, age_header_value(age));
        let len = entry.body().iter().map(|c| c.len() as u64).sum();
        Representation {
            status: head.status,
            headers,
            body: CdnBody::entry(Arc::clone(&entry)),
            len: Some(len),
            entry: Some(entry),
        }
    }

    /// An origin response passed through.
    pub(crate) fn from_origin(resp: Response<OriginBody>) -> Self {
        let (parts, body) = resp.into_parts();
        let len = content_length(&parts.headers);
        Representation { status: parts.status, headers: parts.headers, body: CdnBody::stream(body), len, entry: None }
    }
}

/// Header fields this cache adds to a response (Age, Cache-Status,
/// X-Cache, Via, X-Request-Id, and one spare).
const ADDED_FIELDS: usize = 6;

/// A copy of stored header fields with room for the ones this cache adds,
/// so adding them does not grow (and move) the map again.
pub(crate) fn with_room(stored: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(stored.len() + ADDED_FIELDS);
    headers.extend(stored.iter().map(|(k, v)| (k.clone(), v.clone())));
    headers
}

/// The `Content-Length` of a header map, if valid.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// A redirect the edge answers itself (no body): a rewrite's, or a viewer
/// protocol policy's; `detail` goes in `Cache-Status`.
pub(crate) fn redirect(code: StatusCode, location: &str, detail: &'static str) -> Response<CdnBody> {
    let mut resp = Response::new(CdnBody::empty());
    *resp.status_mut() = code;
    match HeaderValue::from_str(location) {
        Ok(v) => {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR,
    }
    resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    resp.extensions_mut().insert(CacheStatus::answered(detail));
    resp
}

/// A viewer request hook's own answer (its body sent as it is).
pub(crate) fn hook_answer(answer: Response<bytes::Bytes>) -> Response<CdnBody> {
    let (mut parts, body) = answer.into_parts();
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    parts.extensions.insert(CacheStatus::answered("viewer-request-hook"));
    Response::from_parts(parts, CdnBody::once(body))
}

/// The edge's answer to a CORS preflight (RFC 9110 has no body for 204).
pub(crate) fn preflight(code: StatusCode, headers: HeaderMap) -> Response<CdnBody> {
    let mut resp = Response::new(CdnBody::empty());
    *resp.status_mut() = code;
    *resp.headers_mut() = headers;
    if code != StatusCode::NO_CONTENT {
        resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    }
    let status = if code == StatusCode::NO_CONTENT {
        CacheStatus::answered("cors-preflight")
    } else {
        CacheStatus::refused("cors-preflight")
    };
    resp.extensions_mut().insert(status);
    resp
}

/// Answers `asked` from `rep`: preconditions, then range, then HEAD.
pub(crate) fn represent(rep: Representation, asked: Asked<'_>, status: CacheStatus) -> Response<CdnBody> {
    let Representation { status: code, headers, body, len, entry } = rep;
    if code.is_success() && has_preconditions(asked.headers) {
        let mut validators = Validators::from_headers(&headers);
        // RFC 9111 §4.3.2: without Last-Modified, a cache may evaluate
        // If-Modified-Since against the stored response's Date.
        if validators.last_modified.is_none() {
            validators.last_modified = header_date(&headers, header::DATE);
        }
        match conditional::evaluate(asked.method, asked.headers, &validators) {
            Precondition::Proceed => {}
            Precondition::NotModified => {
                body.discard();
                let mut h = conditional::not_modified_headers(&headers);
                if let Some(age) = headers.get(header::AGE) {
                    h.insert(header::AGE, age.clone());
                }
                return finish(with_head(StatusCode::NOT_MODIFIED, h, CdnBody::empty()), status);
            }
            Precondition::Failed => {
                body.discard();
                let resp = text_response(StatusCode::PRECONDITION_FAILED, "412 Precondition Failed\n");
                return finish(resp.map(CdnBody::once), status);
            }
        }
    }
    let is_head = *asked.method == Method::HEAD;
    if code == StatusCode::OK
        && *asked.method == Method::GET
        && asked.headers.contains_key(header::RANGE)
        && let Some(len) = len
        && conditional::if_range_allows(asked.headers, &Validators::from_headers(&headers))
    {
        match range::evaluate_headers(asked.headers, len) {
            RangeOutcome::Full => {}
            RangeOutcome::Unsatisfiable => {
                body.discard();
                let mut resp = text_response(StatusCode::RANGE_NOT_SATISFIABLE, "416 Range Not Satisfiable\n");
                resp.headers_mut().insert(header::CONTENT_RANGE, range::unsatisfied_content_range(len));
                return finish(resp.map(CdnBody::once), status);
            }
            RangeOutcome::Partial(ranges) => {
                if let [r] = ranges.as_slice() {
                    let mut h = headers;
                    h.insert(header::CONTENT_RANGE, range::content_range(*r, len));
                    h.insert(header::CONTENT_LENGTH, HeaderValue::from(r.len()));
                    let body = body.range(r.start, r.len());
                    return finish(with_head(StatusCode::PARTIAL_CONTENT, h, body), status);
                }
                if let Some(entry) = &entry
                    && let Some((ctype, chunks, total)) = range::multipart_byteranges(
                        entry.body(),
                        &ranges,
                        len,
                        headers.get(header::CONTENT_TYPE),
                        BOUNDARY,
                    )
                {
                    body.discard();
                    let mut h = headers;
                    h.insert(header::CONTENT_TYPE, ctype);
                    h.insert(header::CONTENT_LENGTH, HeaderValue::from(total));
                    return finish(with_head(StatusCode::PARTIAL_CONTENT, h, CdnBody::chunks(chunks)), status);
                }
                // Several ranges of a body still streaming: the whole
                // representation is a valid answer (RFC 9110 §14.2).
            }
        }
    }
    let body = if is_head {
        body.discard();
        CdnBody::empty()
    } else {
        body
    };
    finish(with_head(code, headers, body), status)
}

/// Any of the precondition fields of RFC 9110 §13.1 (checked first so a
/// plain hit parses no validator).
fn has_preconditions(headers: &HeaderMap) -> bool {
    headers.contains_key(header::IF_NONE_MATCH)
        || headers.contains_key(header::IF_MODIFIED_SINCE)
        || headers.contains_key(header::IF_MATCH)
        || headers.contains_key(header::IF_UNMODIFIED_SINCE)
}

fn with_head(code: StatusCode, headers: HeaderMap, body: CdnBody) -> Response<CdnBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = code;
    *resp.headers_mut() = headers;
    resp
}

/// An origin response passed through untouched (uncacheable requests).
pub(crate) fn passthrough(mut resp: Response<OriginBody>, status: CacheStatus) -> Response<CdnBody> {
    // The handler's hint is for this cache only.
    resp.extensions_mut().remove::<crate::hint::CacheHint>();
    finish(resp.map(CdnBody::stream), status)
}

/// The response for an origin fault: a short body, the typed error in the
/// extensions.
pub(crate) fn origin_error(err: OriginError, status: CacheStatus) -> Response<CdnBody> {
    let mut resp = text_response(err.status(), err.public_message()).map(CdnBody::once);
    if err.is_capacity_exceeded() {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    let status = status.with_detail(err.detail());
    resp.extensions_mut().insert(err);
    finish(resp, status.with_error())
}

/// An error generated by the cache itself (invalid `Host`, `only-if-cached`).
pub(crate) fn cache_error(code: StatusCode, body: &'static str, status: CacheStatus) -> Response<CdnBody> {
    finish(text_response(code, body).map(CdnBody::once), status.with_error())
}
