//! The origin-bound half of the state machine: shaping the request an
//! origin gets (normalised target, forwarding hygiene, the fill's own
//! validators), and the requests that go to the origin without a fill:
//! uncacheable methods, bypasses, background refreshes, §4.4 invalidation.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Request, Response};
use tokio::sync::oneshot;

use super::task::{FillTask, LeaderOutcome, Prior};
use crate::body::CdnBody;
use crate::cache::key::{self, CacheKey};
use crate::conn::ClientAddr;
use crate::edge::Edge;
use crate::error::OriginError;
use crate::observe::telemetry;
use crate::origin::Fetched;
use crate::origin::inner::{App, HttpBody};
use crate::policy::cache_control::CacheControl;
use crate::policy::conditional::revalidation_headers;
use crate::policy::headers::append_forwarded_for;
use crate::policy::{cdn_loop, invalidation, target};
use crate::respond;
use crate::route::Behavior;
use crate::status::{CacheStatus, Fwd};

/// Request headers that would turn the fill's origin request into
/// something other than "the whole current representation"; the client's
/// own conditionals and ranges are answered from the fill instead.
pub(super) const CLIENT_ONLY: [header::HeaderName; 6] = [
    header::RANGE,
    header::IF_RANGE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
];

/// Rewrites the request target to its canonical origin form (see
/// [`target`]), so the key and every origin request name the same
/// resource. An absolute-form target's authority becomes the `Host`
/// (RFC 9112 §3.2.2).
pub(crate) fn normalize_target(parts: &mut Parts) -> Result<(), target::BadTarget> {
    let path = parts.uri.path();
    if !path.is_empty() && !path.starts_with('/') {
        return Err(target::BadTarget::NotOriginForm);
    }
    let normalized = target::normalize_path(parts.uri.path())?;
    let query = parts.uri.query().map(target::normalize_query);
    let authority = parts.uri.authority().cloned();
    if matches!(normalized, Cow::Borrowed(_)) && !matches!(query, Some(Cow::Owned(_))) && authority.is_none() {
        return Ok(());
    }
    let pq = match query {
        Some(q) => format!("{normalized}?{q}"),
        None => normalized.into_owned(),
    };
    if let Some(authority) = authority {
        // An authority the URI parser took is a valid header value.
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| target::BadTarget::ControlByte)?;
        parts.headers.insert(header::HOST, host);
    }
    parts.uri = pq.parse().map_err(|_| target::BadTarget::ControlByte)?;
    Ok(())
}

/// Origin-bound fields of the edge's own, added after the viewer's were
/// filtered by the behavior's policies (routing removed the forwarding
/// family): the client joins `X-Forwarded-For`, this edge `CDN-Loop`.
pub(super) fn prepare_forwarding(edge: &Edge, parts: &mut Parts) {
    if let Some(ClientAddr(addr)) = parts.extensions.get::<ClientAddr>() {
        let ip = addr.ip();
        append_forwarded_for(&mut parts.headers, ip);
    }
    cdn_loop::append(&mut parts.headers, &edge.edge_id);
}

/// The request the fill sends: the client's, without its own conditionals
/// and range (the whole representation is fetched once and those are
/// answered from it), plus our validators when revalidating (§4.3.1).
pub(super) fn origin_parts(edge: &Edge, parts: &Parts, prior: Option<&Prior>) -> Parts {
    let mut p = parts.clone();
    prepare_forwarding(edge, &mut p);
    for name in &CLIENT_ONLY {
        p.headers.remove(name);
    }
    if let Some(prior) = prior {
        for (name, value) in &revalidation_headers(&prior.entry.head().headers) {
            p.headers.insert(name, value.clone());
        }
    }
    p
}

/// Fields an origin request hook may not set: the framing, hop-by-hop
/// fields, and `Host` (restored: the key and the origin request must name
/// the same resource).
const HOOK_MAY_NOT_SET: [header::HeaderName; 7] = [
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
    header::EXPECT,
];

/// Runs the behavior's origin request hooks (sync, then async) on an
/// origin request; `Host` and the framing fields are restored after them.
pub(super) async fn origin_request_hook(
    edge: &Edge,
    behavior: &Behavior,
    parts: &mut Parts,
) -> Result<(), OriginError> {
    let hooks = &behavior.hooks;
    if hooks.origin_request.is_none() && hooks.origin_request_async.is_none() {
        return Ok(());
    }
    let host = parts.headers.get(header::HOST).cloned();
    let kept: Vec<_> = HOOK_MAY_NOT_SET.iter().map(|n| parts.headers.get(n).cloned()).collect();
    let failed = || {
        edge.observe.metrics.hook_failed();
        OriginError::hook("the origin request hook panicked")
    };
    if let Some(hook) = &hooks.origin_request
        && crate::hooks::guarded(|| hook(&parts.uri, &mut parts.headers)).is_err()
    {
        return Err(failed());
    }
    if let Some(hook) = &hooks.origin_request_async {
        let headers = std::mem::take(&mut parts.headers);
        let fut = crate::hooks::guarded(|| hook(parts.uri.clone(), headers)).map_err(|_| failed())?;
        parts.headers = crate::hooks::guarded_async(fut).await.map_err(|_| failed())?;
    }
    parts.headers.remove(header::HOST);
    if let Some(host) = host {
        parts.headers.insert(header::HOST, host);
    }
    for (name, value) in HOOK_MAY_NOT_SET.iter().zip(kept) {
        parts.headers.remove(name);
        if let Some(v) = value {
            parts.headers.insert(name, v);
        }
    }
    Ok(())
}

/// Sends a request to the origin without storing the answer.
pub(super) async fn forward<S, ReqB, ResB>(
    edge: &Edge,
    behavior: &Behavior,
    inner: S,
    mut parts: Parts,
    body: ReqB,
    forward_body: bool,
    status: CacheStatus,
) -> Result<Response<CdnBody>, S::Error>
where
    S: App<ReqB, ResB>,
    ReqB: HttpBody,
    ResB: HttpBody,
{
    prepare_forwarding(edge, &mut parts);
    if let Err(e) = origin_request_hook(edge, behavior, &mut parts).await {
        return Ok(respond::origin_error(e, status));
    }
    let started = std::time::Instant::now();
    let span = telemetry::start_fetch(&mut parts, &behavior.origin);
    let fetched = behavior.origin.fetch(inner, parts, body, forward_body).await;
    span.end(&fetched);
    record_fetch(edge, behavior, started, &fetched);
    // The origin response hook sees every origin response, stored or not.
    let fetched = match (fetched, &behavior.hooks.origin_response) {
        (Fetched::Response(resp), Some(hook)) => {
            let (mut head, body) = resp.into_parts();
            if crate::hooks::guarded(|| hook(&mut head)).is_err() {
                edge.observe.metrics.hook_failed();
                Fetched::Failed(OriginError::hook("the origin response hook panicked"))
            } else {
                Fetched::Response(Response::from_parts(head, body))
            }
        }
        (other, _) => other,
    };
    answer(fetched, status)
}

/// The client's response to a fetch that is passed through unstored.
fn answer<E>(fetched: Fetched<E>, status: CacheStatus) -> Result<Response<CdnBody>, E> {
    match fetched {
        Fetched::Response(resp) => {
            let status = status.with_fwd_status(resp.status());
            Ok(respond::passthrough(resp, status))
        }
        Fetched::Failed(err) => Ok(respond::origin_error(err, status)),
        Fetched::Service(err) => Err(err),
    }
}

/// An upgrade request (WebSocket handshake): to the origin, never cached;
/// on `101` the origin's connection and the viewer's are joined.
pub(super) async fn tunnel<S, ReqB, ResB>(
    edge: &Edge,
    behavior: &Behavior,
    inner: S,
    mut parts: Parts,
    body: ReqB,
) -> Result<Response<CdnBody>, S::Error>
where
    S: App<ReqB, ResB>,
    ReqB: HttpBody,
    ResB: HttpBody,
{
    prepare_forwarding(edge, &mut parts);
    let status = CacheStatus::forward(Fwd::Request).with_detail("upgrade");
    let started = std::time::Instant::now();
    let span = telemetry::start_fetch(&mut parts, &behavior.origin);
    let fetched = behavior.origin.upgrade(inner, parts, body).await;
    span.end(&fetched);
    record_fetch(edge, behavior, started, &fetched);
    answer(fetched, status)
}

/// [`forward`] for a custom origin with a request body of our own (the
/// client's was already used).
pub(super) async fn forward_parts<S, ReqB, ResB>(
    behavior: &Behavior,
    _inner: S,
    mut parts: Parts,
    body: http_body_util::Empty<Bytes>,
    status: CacheStatus,
) -> Result<Response<CdnBody>, S::Error>
where
    S: App<ReqB, ResB>,
    ResB: HttpBody,
{
    let span = telemetry::start_fetch(&mut parts, &behavior.origin);
    let fetched = match behavior.origin.fetch_remote(parts, body, false).await {
        Ok(resp) => Fetched::Response(resp),
        Err(err) => Fetched::Failed(err),
    };
    span.end(&fetched);
    answer(fetched, status)
}

/// Refreshes a stale entry without making anyone wait (RFC 5861 §3), once:
/// if a fill is already in flight for the key, nothing more is started.
#[allow(clippy::too_many_arguments)]
pub(super) fn refresh_in_background<S, ReqB, ResB>(
    edge: &Arc<Edge>,
    behavior: &Arc<Behavior>,
    inner: S,
    parts: &Parts,
    body: ReqB,
    fill_key: CacheKey,
    prior: Prior,
    req_cc: CacheControl,
) where
    S: App<ReqB, ResB>,
    ReqB: HttpBody,
    ResB: HttpBody,
{
    // The origin's load stays bounded whatever the traffic: past the
    // bound, the stale answer goes out and a later request refreshes.
    if edge.refresh_held(&fill_key) {
        return;
    }
    let Some(slot) = edge.refresh_slot() else {
        return;
    };
    let (before, store_key) = (Arc::clone(&prior.entry), Arc::clone(&prior.store_key));
    let Some((writer, registration)) = edge.cache.lead_pinned(&fill_key) else {
        return;
    };
    let mut origin_req = origin_parts(edge, parts, Some(&prior));
    // Its own span (and trace), linked from this request's.
    let refresh = telemetry::start_refresh(&mut origin_req);
    let primary = Arc::from(key::primary_of(&fill_key));
    let req_headers = parts.headers.clone();
    let task = FillTask::new(edge, behavior, primary, req_headers, req_cc, Some(prior), writer, registration);
    let fill = Arc::clone(task.writer.fill());
    let handle = tokio::spawn(async move {
        // A hook that fails drops the fill: nothing stored, the stale entry stays.
        let _slot = slot;
        let edge = Arc::clone(&task.edge);
        if origin_request_hook(&task.edge, &task.behavior, &mut origin_req).await.is_ok() {
            task.run(inner, origin_req, body, None::<oneshot::Sender<LeaderOutcome<S::Error>>>).await;
        }
        // Nothing replaced the stale entry: the refresh failed (the origin
        // is down or erring). Later requests get the stale answer without
        // sending it another request for a few seconds.
        if edge.cache.still_holds(&store_key, &before) {
            edge.hold_refresh(&fill_key);
        }
        drop(refresh);
    });
    fill.set_abort(handle.abort_handle());
}

/// Counts an origin fetch and its failure kind.
pub(crate) fn record_fetch<E>(edge: &Edge, behavior: &Behavior, started: std::time::Instant, fetched: &Fetched<E>) {
    use crate::observe::metrics::OriginFailure;
    let failure = match fetched {
        // The origin was not contacted, or the failure was the viewer's.
        Fetched::Failed(e) if e.is_capacity_exceeded() || e.is_bad_target() || e.is_bad_content() => return,
        Fetched::Response(r) if r.status().is_server_error() => Some(OriginFailure::Status5xx),
        Fetched::Response(_) | Fetched::Service(_) => None,
        Fetched::Failed(e) if e.is_timeout() => Some(OriginFailure::Timeout),
        Fetched::Failed(e) if e.is_connect() => Some(OriginFailure::Connect),
        Fetched::Failed(_) => Some(OriginFailure::Protocol),
    };
    let latency = started.elapsed();
    edge.observe.metrics.origin_fetch(latency, failure);
    behavior.route_stats(&edge.observe.metrics).origin_fetch(latency, failure.is_some());
}

/// Passes a request to the wrapped service untouched: no distribution
/// answers for its host, or the distribution is disabled.
pub(super) async fn bypass<S, ReqB, ResB>(inner: S, mut parts: Parts, body: ReqB) -> Result<Response<CdnBody>, S::Error>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: HttpBody,
{
    if let Some(nominated) = parts.extensions.remove::<crate::policy::headers::Nominated>() {
        nominated.restore(&mut parts.headers);
    }
    let resp = crate::origin::inner::call(inner, parts, body).await?;
    Ok(respond::passthrough(resp, CacheStatus::forward(Fwd::Bypass)))
}

/// §4.4: drops what an unsafe request changed, stored or in flight. The
/// keys of the related URIs are derived with the behavior's key policy and
/// this request's headers (entries keyed on other header or cookie values
/// for the same URI are left to expire).
pub(super) fn invalidate_uri(
    edge: &Edge,
    behavior: &Behavior,
    primary: &CacheKey,
    resp_headers: &HeaderMap,
    path: &str,
    req_headers: &HeaderMap,
    extension: Option<&str>,
) {
    let host = key::key_host(primary);
    let mut targets = vec![Arc::clone(primary)];
    for pq in invalidation::related_targets(resp_headers, host, path) {
        let (p, q) = match pq.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (pq.as_str(), None),
        };
        let Ok(p) = target::normalize_path(p) else { continue };
        if let Ok(key) = behavior.cache_key(host, &p, q, req_headers, extension) {
            targets.push(key);
        }
    }
    edge.cache.forget(&targets);
    // The shared tier must not hand the old response back to this or any
    // edge (the other edges' L1 copies are theirs, as separate caches).
    #[cfg(feature = "l2")]
    if let Some(fleet) = &edge.fleet {
        fleet.forget(&targets);
    }
}
