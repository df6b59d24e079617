//! Range requests for objects that are not stored, without fetching them
//! whole (nginx's slice module, CloudFront's range GETs): the object is
//! cut into fixed-size slices; each slice a range needs is looked up, or
//! fetched with an origin `Range` request and stored as the 206 it is,
//! coalesced per slice like any fill (memory, disk and L2 tiers included).
//! The viewer's answer is assembled from the slices and streamed one slice
//! at a time; `respond` cuts it to the range, or answers 416.
//!
//! Every slice must name the same complete length and the same `ETag`
//! (else `Last-Modified`) as the first: an object that changed between
//! two slices ends the response there (the client sees it cut, as with an
//! origin failing mid-body) and its slices are forgotten, so old and new
//! bytes are never mixed. An origin that answers a slice with anything
//! but that exact 206 (a whole 200, an error) sends the request down the
//! usual path.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt as _;
use tokio::sync::{mpsc, oneshot};

use super::origin_bound::origin_parts;
use super::task::{FillTask, LeaderOutcome};
use crate::body::{CdnBody, OriginBody};
use crate::cache::entry::Head;
use crate::cache::fill::{FillReader, HeadState, Published, Served};
use crate::cache::key::{self, CacheKey};
use crate::cache::local::Lookup;
use crate::cache::lock::Join;
use crate::edge::Edge;
use crate::error::BoxError;
use crate::origin::OriginTarget;
use crate::policy::cache_control::CacheControl;
use crate::policy::freshness::age_header_value;
use crate::policy::key_policy::Credentials;
use crate::policy::range::{self, ByteRange, RangeOutcome};
use crate::policy::reuse::{self, Reuse};
use crate::respond::{self, Asked, Representation};
use crate::route::Behavior;
use crate::status::{CacheStatus, Fwd};

/// Slices of a response assembled at once waiting to be sent.
const QUEUE_SLICES: usize = 2;

/// Tries to coalesce on a slice this many times before giving up.
const ATTEMPTS: u32 = 3;

/// Conditional fields that make a range request take the usual path.
const CONDITIONALS: [header::HeaderName; 5] =
    [header::IF_RANGE, header::IF_MATCH, header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE, header::IF_UNMODIFIED_SINCE];

/// The first slice a request's range needs, if the request is one slices
/// serve: a GET with one byte range and no conditional, from a configured
/// origin, shared (no credentials outside the key), the client not asking
/// for the origin's own answer.
pub(super) fn first_slice(
    edge: &Edge,
    behavior: &Behavior,
    parts: &Parts,
    req_cc: &CacheControl,
    pragma: bool,
    private: Credentials,
) -> Option<u64> {
    let size = edge.settings.slice_bytes;
    if size == 0
        || parts.method != Method::GET
        || matches!(*behavior.origin, OriginTarget::Inner)
        || behavior.compress
        || private != Credentials::None
        || req_cc.no_cache.is_present()
        || pragma
        || CONDITIONALS.iter().any(|h| parts.headers.contains_key(h))
    {
        return None;
    }
    let RangeOutcome::Partial(ranges) = range::evaluate_headers(&parts.headers, u64::MAX) else { return None };
    let [r] = ranges.as_slice() else { return None };
    let value = parts.headers.get(header::RANGE)?.to_str().ok()?;
    let suffix = value.split_once('=').is_some_and(|(_, spec)| spec.trim_start().starts_with('-'));
    // A suffix needs the length first: the first slice names it.
    Some(if suffix { 0 } else { r.start / size })
}

/// One slice, read whole.
struct Got {
    index: u64,
    head: Arc<Head>,
    chunks: Vec<Bytes>,
    total: u64,
    /// Served from a tier, not fetched for this request.
    hit: bool,
}

/// What every slice of one response is fetched with.
struct Slicer {
    edge: Arc<Edge>,
    behavior: Arc<Behavior>,
    primary: CacheKey,
    headers: HeaderMap,
    req_cc: CacheControl,
    origin: Parts,
    size: u64,
}

impl Slicer {
    fn key(&self, index: u64) -> CacheKey {
        key::slice_key(&self.primary, self.size, index)
    }

    fn want(&self, index: u64) -> ByteRange {
        let start = index.saturating_mul(self.size);
        ByteRange { start, end_inclusive: start.saturating_add(self.size - 1) }
    }

    /// Slice `index`: stored, or fetched (coalesced); `None` when the
    /// origin does not serve it as a slice.
    async fn get(&self, index: u64) -> Option<Got> {
        let key = self.key(index);
        for _ in 0..ATTEMPTS {
            let now = self.edge.now();
            // A soft-purged slice is refetched (a slice is never served stale).
            if let Lookup::Found { entry, soft_purged: false, .. } = self.edge.cache.lookup(&key, &self.headers)
                && matches!(reuse::decide(&entry.head().meta, &self.req_cc, false, now), Reuse::Fresh { .. })
            {
                let head = Arc::new(Head::clone(entry.head()));
                return got(index, head, entry.body().to_vec(), true);
            }
            match self.edge.cache.join_or_lead(&key) {
                Join::Lead(writer, reader, registration) => {
                    let mut task = FillTask::new(
                        &self.edge,
                        &self.behavior,
                        Arc::clone(&key),
                        self.headers.clone(),
                        self.req_cc.clone(),
                        None,
                        writer,
                        registration,
                    );
                    let want = self.want(index);
                    task.slice = Some(want);
                    let mut parts = clone_parts(&self.origin);
                    let value = format!("bytes={}-{}", want.start, want.end_inclusive);
                    parts.headers.insert(header::RANGE, HeaderValue::from_str(&value).ok()?);
                    let (tx, rx) = oneshot::channel();
                    let fill = Arc::clone(task.writer.fill());
                    let handle = tokio::spawn(task.run_remote(parts, Some(tx)));
                    fill.set_abort(handle.abort_handle());
                    return match rx.await {
                        Ok(LeaderOutcome::Shared(published)) => read(index, published, reader).await,
                        _ => None,
                    };
                }
                Join::Follow(mut reader) => match reader.head().await {
                    HeadState::Ready(published) => return read(index, published, reader).await,
                    HeadState::Released(_) => return None,
                    HeadState::Failed => {}
                },
                Join::FromFile(_) => return None,
            }
        }
        None
    }

    /// Forgets every slice of the object (it changed under us).
    fn forget(&self, total: u64) {
        for index in 0..total.div_ceil(self.size) {
            let key = self.key(index);
            self.edge.cache.remove(&key);
            self.edge.cache.remove_from_disk(&key);
        }
    }
}

fn clone_parts(p: &Parts) -> Parts {
    let mut b = http::Request::builder().method(p.method.clone()).uri(p.uri.clone()).version(p.version);
    if let Some(h) = b.headers_mut() {
        *h = p.headers.clone();
    }
    let (mut parts, ()) =
        b.body(()).map(http::Request::into_parts).unwrap_or_else(|_| http::Request::new(()).into_parts());
    parts.extensions = p.extensions.clone();
    parts
}

fn got(index: u64, head: Arc<Head>, chunks: Vec<Bytes>, hit: bool) -> Option<Got> {
    // A slice names the length; a first slice that was the whole object was
    // stored as the object itself (a 200 with its length).
    let total = match range::slice_total(&head.headers) {
        Some(n) => n,
        None if head.status == StatusCode::OK && index == 0 => head.content_length()?,
        None => return None,
    };
    Some(Got { index, head, chunks, total, hit })
}

/// Reads a published slice whole (a slice is at most the slice size).
async fn read(index: u64, published: Published, mut reader: FillReader) -> Option<Got> {
    if published.file.is_some() {
        return None;
    }
    let mut chunks = Vec::new();
    while let Some(chunk) = std::future::poll_fn(|cx| reader.poll_chunk(cx)).await {
        chunks.push(chunk.ok()?);
    }
    let hit = !matches!(published.served, Served::Origin);
    got(index, published.head, chunks, hit)
}

/// The validator every slice of one object must share: a strong `ETag`
/// (RFC 9111 §3.4 combines parts only under one strong validator; a
/// `Last-Modified` or weak tag can stay the same across changes).
fn validator(headers: &HeaderMap) -> Option<&HeaderValue> {
    headers.get(header::ETAG).filter(|v| !v.as_bytes().starts_with(b"W/"))
}

/// How long a URI whose origin did not serve a slice (an error, a whole
/// `200`, an answer not to store, no strong validator) takes the usual
/// path before slicing is tried again.
const UNSLICED_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// Serves a range request from slices; `None` sends it down the usual
/// path (the origin does not serve slices, the whole object is being
/// fetched, or a whole copy is on disk).
pub(super) async fn serve(
    edge: &Arc<Edge>,
    behavior: &Arc<Behavior>,
    primary: &CacheKey,
    parts: &Parts,
    req_cc: &CacheControl,
    first: u64,
    now: SystemTime,
) -> Option<Response<CdnBody>> {
    // The whole object is on its way: the range is served from that fill.
    if edge.cache.fill_joinable(primary) {
        return None;
    }
    #[cfg(feature = "disk")]
    if edge.cache.disk().is_some_and(|d| d.may_hold(primary)) {
        // The whole object may be on disk: the usual path reads it there.
        return None;
    }
    let mut origin = origin_parts(edge, parts, None);
    if let Err(e) = super::origin_bound::origin_request_hook(edge, behavior, &mut origin).await {
        return Some(respond::origin_error(e, CacheStatus::forward(Fwd::UriMiss)));
    }
    let slicer = Arc::new(Slicer {
        edge: Arc::clone(edge),
        behavior: Arc::clone(behavior),
        primary: Arc::clone(primary),
        headers: parts.headers.clone(),
        req_cc: req_cc.clone(),
        origin,
        size: edge.settings.slice_bytes,
    });
    if edge.slicing_refused(primary) {
        return None;
    }
    let Some(first) = slicer.get(first).await else {
        edge.refuse_slicing(primary, UNSLICED_FOR);
        return None;
    };
    let total = first.total;
    // More than one slice must share a strong validator, or none is combined.
    let spans = match range::evaluate_headers(&parts.headers, total) {
        RangeOutcome::Partial(r) => r.first().is_some_and(|r| r.start / slicer.size != r.end_inclusive / slicer.size),
        _ => false,
    };
    if spans && validator(&first.head.headers).is_none() {
        edge.refuse_slicing(primary, UNSLICED_FOR);
        return None;
    }
    let mut headers = first.head.headers.clone();
    headers.remove(header::CONTENT_RANGE);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    let meta = &first.head.meta;
    headers.insert(header::AGE, age_header_value(meta.clock.current_age(now)));
    let status = if first.hit {
        CacheStatus::hit(meta.remaining(now))
    } else {
        CacheStatus::forward(Fwd::UriMiss).with_fwd_status(StatusCode::PARTIAL_CONTENT).with_stored(true)
    }
    .with_detail("slice");
    let body = CdnBody::lazy(total, Box::new(move |start, end| assemble(slicer, first, start, end)));
    let rep = Representation { status: StatusCode::OK, headers, body, len: Some(total), entry: None };
    Some(respond::represent(rep, Asked { method: &parts.method, headers: &parts.headers }, status))
}

/// Streams bytes `start..end` of the object from its slices.
fn assemble(slicer: Arc<Slicer>, first: Got, start: u64, end: u64) -> OriginBody {
    let (tx, rx) = mpsc::channel::<Result<Bytes, BoxError>>(QUEUE_SLICES);
    tokio::spawn(async move {
        let size = slicer.size;
        let total = first.total;
        let reference = validator(&first.head.headers).cloned();
        let first_index = first.index;
        let mut held = Some(first);
        for index in start / size..=(end - 1) / size {
            let slice = match held.take().filter(|g| g.index == index) {
                Some(g) => g,
                None => match slicer.get(index).await {
                    Some(g) => g,
                    None => {
                        // The origin stopped serving slices of it.
                        slicer.edge.refuse_slicing(&slicer.primary, UNSLICED_FOR);
                        let _ = tx.send(Err("a slice of the object could not be fetched".into())).await;
                        return;
                    }
                },
            };
            let combined = slice.index != first_index;
            if slice.total != total
                || (combined && (reference.is_none() || validator(&slice.head.headers) != reference.as_ref()))
            {
                slicer.forget(total.max(slice.total));
                let _ = tx.send(Err("the object changed between two slices".into())).await;
                return;
            }
            let at = index * size;
            let from = start.max(at) - at;
            let to = end.min(at + size) - at;
            if to <= from {
                continue;
            }
            for piece in range::slice_chunks(&slice.chunks, ByteRange { start: from, end_inclusive: to - 1 }) {
                if tx.send(Ok(piece)).await.is_err() {
                    return;
                }
            }
        }
    });
    ChannelBody(rx).boxed_unsync()
}

/// A body fed through a channel.
struct ChannelBody(mpsc::Receiver<Result<Bytes, BoxError>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(http_body::Frame::data)))
    }
}
