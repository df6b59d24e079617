//! THE request state machine, read top to bottom:
//! route → key → lookup → hit | stale | miss → coalesce (lead | follow) →
//! fetch → store decision → respond. The only place that sequences IO;
//! every decision is a call into `policy`, every storage action one into
//! `cache`. The origin fetch of a fill runs in its own task (`task.rs`).

mod task;
mod tier;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use tokio::sync::oneshot;

use crate::ClientAddr;
use crate::auth::gate::Viewer;
use crate::body::{CdnBody, compress};
use crate::cache::entry::Entry;
use crate::cache::fill::{FillReader, HeadState, Published, Served};
use crate::cache::key::{self, CacheKey};
use crate::cache::lock::Join;
use crate::cache::store::Cached;
use crate::error::{BoxError, OriginError};
use crate::origin::{Fetched, OriginTarget};
use crate::policy::cache_control::CacheControl;
use crate::policy::conditional::revalidation_headers;
use crate::policy::freshness::age_header_secs;
use crate::policy::headers::{append_forwarded_for, strip_untrusted_forwarding};
use crate::policy::reuse::{self, Reuse};
use crate::policy::vary::{self, Vary};
use crate::policy::{cdn_loop, invalidation, target};
use crate::respond::{self, Asked, Representation};
use crate::route::{Behavior, Refusal, Resolution};
use crate::shared::Shared;
use crate::status::{CacheStatus, Fwd, NotStored};
use task::{FillTask, LeaderOutcome, Prior};

/// Extra time a follower waits for the leader's head beyond the origin's
/// own response timeout, before fetching on its own.
const FOLLOW_SLACK: Duration = Duration::from_secs(5);

/// A follower whose fill failed (or turned out to be another variant)
/// tries to coalesce again this many times, then fetches on its own.
const MAX_FOLLOW_ATTEMPTS: u32 = 3;

/// Request headers that would turn the fill's origin request into
/// something other than "the whole current representation"; the client's
/// own conditionals and ranges are answered from the fill instead.
const CLIENT_ONLY: [header::HeaderName; 6] = [
    header::RANGE,
    header::IF_RANGE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
];

/// What the store has for a request.
enum Lookup {
    /// A stored response for this request (maybe stale).
    Found { entry: Arc<Entry>, store_key: CacheKey, fill_key: CacheKey },
    /// Responses for the URI vary, and none matches this request.
    VaryMiss { fill_key: CacheKey },
    /// Nothing for the URI.
    Miss,
}

fn lookup(shared: &Shared, primary: &CacheKey, headers: &HeaderMap) -> Lookup {
    let get = |key: &str| shared.store.get(key).filter(|v| !shared.purges.hides(key, v));
    match get(primary) {
        None => Lookup::Miss,
        Some(Cached::Entry(entry)) => {
            Lookup::Found { entry, store_key: Arc::clone(primary), fill_key: Arc::clone(primary) }
        }
        Some(Cached::Variants(v)) => {
            let sk = vary::secondary_key(&v.fields, headers);
            let fill_key = key::variant_fill_key(primary, &sk);
            let store_key = key::variant_key(primary, v.generation, &sk);
            match get(&store_key) {
                Some(Cached::Entry(entry)) => Lookup::Found { entry, store_key, fill_key },
                _ => Lookup::VaryMiss { fill_key },
            }
        }
    }
}

/// Handles one request.
pub(crate) async fn run<S, ReqB, ResB>(
    shared: Arc<Shared>,
    inner: S,
    req: Request<ReqB>,
) -> Result<Response<CdnBody>, S::Error>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
    ReqB: Body<Data = Bytes> + Send + 'static,
    ReqB::Error: Into<BoxError>,
{
    let now = shared.now();
    if let Some(fleet) = &shared.fleet {
        fleet.ensure_started(&shared);
    }
    let (mut parts, body) = req.into_parts();
    // RFC 8586: this request has been through this instance already.
    if cdn_loop::names_instance(&parts.headers, &shared.edge_id) {
        let status = CacheStatus::refused("loop-detected");
        return Ok(respond::cache_error(StatusCode::LOOP_DETECTED, "508 Loop Detected\n", status));
    }
    if normalize_target(&mut parts).is_err() {
        let status = CacheStatus::forward(Fwd::Bypass);
        return Ok(respond::cache_error(StatusCode::BAD_REQUEST, "400 Bad Request: invalid path\n", status));
    }

    // 1. Route: host → distribution, path → behavior (a behavior with
    //    trusted keys refuses unsigned requests here, before any lookup),
    //    then the cache key; `parts` becomes the origin request (default
    //    root object, signing parameters removed, policies).
    let viewer = Viewer { now, scheme: shared.viewer_scheme, trust_forwarded_proto: shared.trust_forwarding_headers };
    let (behavior, primary) = match shared.routes.load().resolve(&mut parts, &viewer) {
        Resolution::Cache { behavior, key } => (behavior, key),
        Resolution::Bypass => return bypass(inner, parts, body).await,
        Resolution::Disabled if shared.standalone => return Ok(Refusal::Disabled.respond()),
        Resolution::Disabled => return bypass(inner, parts, body).await,
        Resolution::Refuse(refusal) => return Ok(refusal.respond()),
    };
    if behavior.compress {
        compress::normalize_accept_encoding(&mut parts.headers);
    }

    // 2. Unsafe and other uncacheable methods go to the origin; a
    //    successful unsafe request invalidates what it changed (§4.4).
    if !matches!(parts.method, Method::GET | Method::HEAD) {
        let method = parts.method.clone();
        let path = parts.uri.path().to_owned();
        let req_headers = parts.headers.clone();
        let resp = forward(&shared, &behavior, inner, parts, body, true, CacheStatus::forward(Fwd::Method)).await?;
        if invalidation::invalidates(&method, resp.status()) {
            invalidate_uri(&shared, &behavior, &primary, resp.headers(), &path, &req_headers);
        }
        return Ok(resp);
    }
    let req_cc = CacheControl::from_headers(&parts.headers, &header::CACHE_CONTROL);
    let pragma = reuse::pragma_no_cache(&parts.headers);

    // 3./4. Look up, and decide how a stored response may be used.
    let mut prior = None;
    let (mut fwd, mut fill_key) = (Fwd::UriMiss, Arc::clone(&primary));
    match lookup(&shared, &primary, &parts.headers) {
        Lookup::Found { entry, store_key, fill_key: fk } => {
            match reuse::decide(&entry.head().meta, &req_cc, pragma, now) {
                Reuse::Fresh { remaining } => {
                    return Ok(serve_entry(entry, &parts, CacheStatus::hit(remaining), now));
                }
                Reuse::StaleAllowed { staleness } => {
                    let status = CacheStatus::stale_hit(staleness, "max-stale");
                    return Ok(serve_entry(entry, &parts, status, now));
                }
                Reuse::StaleWhileRevalidate { staleness } => {
                    let prior = Prior { entry: Arc::clone(&entry), store_key };
                    refresh_in_background(&shared, &behavior, inner, &parts, body, fk, prior, req_cc);
                    let status = CacheStatus::stale_hit(staleness, "stale-while-revalidate");
                    return Ok(serve_entry(entry, &parts, status, now));
                }
                Reuse::Validate => {
                    let forced = req_cc.no_cache.is_present()
                        || pragma
                        || req_cc.max_age.is_some()
                        || req_cc.min_fresh.is_some();
                    fwd = if forced && entry.head().meta.is_fresh(now) { Fwd::Request } else { Fwd::Stale };
                    prior = Some(Prior { entry, store_key });
                    fill_key = fk;
                }
            }
        }
        Lookup::VaryMiss { fill_key: fk } => {
            fwd = Fwd::VaryMiss;
            fill_key = fk;
        }
        Lookup::Miss => {}
    }

    // §5.2.1.7: nothing usable is stored and the client will not wait.
    if req_cc.only_if_cached {
        let status = CacheStatus::forward(fwd).with_detail("only-if-cached");
        return Ok(respond::cache_error(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Timeout: not in cache\n", status));
    }
    // HEAD and `no-store` requests are answered by the origin and not stored.
    if parts.method == Method::HEAD || req_cc.no_store {
        let reason = if parts.method == Method::HEAD { NotStored::Method } else { NotStored::RequestNoStore };
        return forward(
            &shared,
            &behavior,
            inner,
            parts,
            body,
            false,
            CacheStatus::forward(fwd).with_not_stored(reason),
        )
        .await;
    }

    // 5./6. Lead the fill or follow the one in flight.
    let origin_timeout = behavior.origin.response_timeout();
    // With a fleet, the leader may first wait for another edge's fill.
    let fleet_wait = shared.fleet.as_ref().map_or(Duration::ZERO, |f| f.lock_wait(origin_timeout));
    let follow_wait = origin_timeout + FOLLOW_SLACK + fleet_wait;
    let mut attempts = 0;
    loop {
        match shared.fills.join_or_lead(&fill_key, shared.max_entry_bytes) {
            Join::Lead(writer, reader, registration) => {
                let task = FillTask {
                    shared: Arc::clone(&shared),
                    behavior: Arc::clone(&behavior),
                    primary,
                    req_headers: parts.headers.clone(),
                    req_cc,
                    prior,
                    seq: shared.purges.next_seq(),
                    writer,
                    registration,
                };
                return lead(task, inner, parts, body, reader, fwd, now).await;
            }
            Join::Follow(mut reader) => {
                let state = tokio::time::timeout(follow_wait, reader.head()).await;
                attempts += 1;
                match state {
                    Ok(HeadState::Ready(published)) => {
                        shared.observe.metrics.coalesced();
                        if let Some(mine) = other_variant(&published, &parts.headers) {
                            // Another variant: let that fill finish for its
                            // readers, and fill this variant on its own.
                            reader.detach();
                            fill_key = key::variant_fill_key(&primary, &mine);
                            fwd = Fwd::VaryMiss;
                            if attempts < MAX_FOLLOW_ATTEMPTS {
                                continue;
                            }
                            let status = CacheStatus::forward(fwd).with_not_stored(NotStored::Vary);
                            return forward(&shared, &behavior, inner, parts, body, false, status).await;
                        }
                        return Ok(serve_published(published, reader, &parts, fwd, true, now));
                    }
                    Ok(HeadState::Released(reason)) => {
                        // Not shareable: this request gets its own answer.
                        drop(reader);
                        let status = CacheStatus::forward(fwd).with_not_stored(reason);
                        return forward(&shared, &behavior, inner, parts, body, false, status).await;
                    }
                    Ok(HeadState::Failed) | Err(_) => {
                        drop(reader);
                        if attempts >= MAX_FOLLOW_ATTEMPTS {
                            let status = CacheStatus::forward(fwd).with_not_stored(NotStored::Incomplete);
                            return forward(&shared, &behavior, inner, parts, body, false, status).await;
                        }
                    }
                }
            }
        }
    }
}

/// Rewrites the request target to its normalised origin form (RFC 3986
/// §6.2.2), so the key and every origin request name the same resource.
/// An absolute-form target's authority becomes the `Host` (RFC 9112 §3.2.2).
fn normalize_target(parts: &mut Parts) -> Result<(), ()> {
    let normalized = target::normalize_path(parts.uri.path()).map_err(|_| ())?;
    let authority = parts.uri.authority().cloned();
    if matches!(normalized, Cow::Borrowed(_)) && authority.is_none() {
        return Ok(());
    }
    let pq = match parts.uri.query() {
        Some(q) => format!("{normalized}?{q}"),
        None => normalized.into_owned(),
    };
    if let Some(authority) = authority {
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| ())?;
        parts.headers.insert(header::HOST, host);
    }
    parts.uri = pq.parse().map_err(|_| ())?;
    Ok(())
}

/// Origin-bound header hygiene shared by every path: fields a client could
/// use to poison the cache are dropped, the client joins `X-Forwarded-For`.
fn prepare_forwarding(shared: &Shared, parts: &mut Parts) {
    if !shared.trust_forwarding_headers {
        strip_untrusted_forwarding(&mut parts.headers);
    }
    if let Some(ClientAddr(addr)) = parts.extensions.get::<ClientAddr>() {
        let ip = addr.ip();
        append_forwarded_for(&mut parts.headers, ip);
    }
    cdn_loop::append(&mut parts.headers, &shared.edge_id);
}

/// `Some(secondary key)` when the published response varies and this
/// request is for another variant than the one fetched.
fn other_variant(published: &Published, headers: &HeaderMap) -> Option<String> {
    let leader = published.vary_key.as_ref()?;
    let Vary::Fields(fields) = vary::parse(&published.head.headers) else {
        return None;
    };
    let mine = vary::secondary_key(&fields, headers);
    (*mine != **leader).then_some(mine)
}

/// A response from a stored entry (hit or stale hit).
fn serve_entry(entry: Arc<Entry>, parts: &Parts, status: CacheStatus, now: SystemTime) -> Response<CdnBody> {
    let age = entry.head().meta.clock.current_age(now);
    let asked = Asked { method: &parts.method, headers: &parts.headers };
    respond::represent(Representation::from_entry(entry, age), asked, status)
}

/// A response read from a fill, for its leader or a follower.
fn serve_published(
    published: Published,
    reader: FillReader,
    parts: &Parts,
    fwd: Fwd,
    collapsed: bool,
    now: SystemTime,
) -> Response<CdnBody> {
    let head = &published.head;
    let mut status = match published.served {
        Served::Origin => CacheStatus::forward(fwd).with_fwd_status(head.status).with_stored(true),
        Served::Revalidated => CacheStatus::forward(fwd).with_fwd_status(StatusCode::NOT_MODIFIED).with_stored(true),
        Served::L2 => CacheStatus::hit(head.meta.remaining(now)).with_detail("l2"),
        Served::StaleOnError(code) => {
            let s = CacheStatus::stale_hit(head.meta.staleness(now), "stale-if-error").with_fwd(fwd);
            match code {
                Some(code) => s.with_fwd_status(code),
                None => s,
            }
        }
    };
    if collapsed {
        status = status.with_collapsed();
    }
    let mut headers = head.headers.clone();
    if collapsed || published.served != Served::Origin {
        let age = age_header_secs(head.meta.clock.current_age(now));
        headers.insert(header::AGE, age.into());
    }
    let len = head.content_length();
    let rep = Representation { status: head.status, headers, body: CdnBody::fill(reader, len), len, entry: None };
    respond::represent(rep, Asked { method: &parts.method, headers: &parts.headers }, status)
}

/// The request the fill sends: the client's, without its own conditionals
/// and range (the whole representation is fetched once and those are
/// answered from it), plus our validators when revalidating (§4.3.1).
fn origin_parts(shared: &Shared, parts: &Parts, prior: Option<&Prior>) -> Parts {
    let mut p = parts.clone();
    prepare_forwarding(shared, &mut p);
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

/// Leads a fill: the origin fetch and body pump run in a task of their
/// own, so the fill goes on for followers if this client leaves.
async fn lead<S, ReqB, ResB>(
    task: FillTask,
    inner: S,
    parts: Parts,
    body: ReqB,
    reader: FillReader,
    fwd: Fwd,
    now: SystemTime,
) -> Result<Response<CdnBody>, S::Error>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
    ReqB: Body<Data = Bytes> + Send + 'static,
    ReqB::Error: Into<BoxError>,
{
    let behavior = Arc::clone(&task.behavior);
    let shared = Arc::clone(&task.shared);
    let (tx, rx) = oneshot::channel();
    let fill = Arc::clone(task.writer.fill());
    let origin_req = origin_parts(&task.shared, &parts, task.prior.as_ref());
    let handle = tokio::spawn(task.run(inner.clone(), origin_req, body, Some(tx)));
    fill.set_abort(handle.abort_handle());

    let status = CacheStatus::forward(fwd);
    match rx.await {
        Ok(LeaderOutcome::Shared(published)) => Ok(serve_published(published, reader, &parts, fwd, false, now)),
        Ok(LeaderOutcome::Own(resp, reason)) => {
            drop(reader);
            let status = status.with_fwd_status(resp.status()).with_not_stored(reason);
            // A range of an object too large to store: let the origin
            // serve just the range (its body was not forwarded anyway).
            if reason == NotStored::TooLarge
                && parts.headers.contains_key(header::RANGE)
                && !matches!(*behavior.origin, OriginTarget::Inner)
            {
                drop(resp);
                let mut parts = parts;
                prepare_forwarding(&shared, &mut parts);
                let empty = http_body_util::Empty::<Bytes>::new();
                return forward_parts(&behavior, inner, parts, empty, status).await;
            }
            let asked = Asked { method: &parts.method, headers: &parts.headers };
            Ok(respond::represent(Representation::from_origin(resp), asked, status))
        }
        Ok(LeaderOutcome::Failed(err)) => Ok(respond::origin_error(err, status)),
        Ok(LeaderOutcome::Service(err)) => Err(err),
        // The task ended without a word: it panicked.
        Err(_) => Ok(respond::origin_error(OriginError::protocol("fill task ended"), status)),
    }
}

/// Sends a request to the origin without storing the answer.
async fn forward<S, ReqB, ResB>(
    shared: &Shared,
    behavior: &Behavior,
    inner: S,
    mut parts: Parts,
    body: ReqB,
    forward_body: bool,
    status: CacheStatus,
) -> Result<Response<CdnBody>, S::Error>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
    ReqB: Body<Data = Bytes> + Send + 'static,
    ReqB::Error: Into<BoxError>,
{
    prepare_forwarding(shared, &mut parts);
    let started = std::time::Instant::now();
    let fetched = behavior.origin.fetch(inner, parts, body, forward_body).await;
    record_fetch(shared, started, &fetched);
    match fetched {
        Fetched::Response(resp) => {
            let status = status.with_fwd_status(resp.status());
            Ok(respond::passthrough(resp, status))
        }
        Fetched::Failed(err) => Ok(respond::origin_error(err, status)),
        Fetched::Service(err) => Err(err),
    }
}

/// [`forward`] for a custom origin with a request body of our own (the
/// client's was already used).
async fn forward_parts<S, ReqB, ResB>(
    behavior: &Behavior,
    _inner: S,
    parts: Parts,
    body: http_body_util::Empty<Bytes>,
    status: CacheStatus,
) -> Result<Response<CdnBody>, S::Error>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    match behavior.origin.fetch_remote(parts, body, false).await {
        Ok(resp) => {
            let status = status.with_fwd_status(resp.status());
            Ok(respond::passthrough(resp, status))
        }
        Err(err) => Ok(respond::origin_error(err, status)),
    }
}

/// Refreshes a stale entry without making anyone wait (RFC 5861 §3), once:
/// if a fill is already in flight for the key, nothing more is started.
#[allow(clippy::too_many_arguments)]
fn refresh_in_background<S, ReqB, ResB>(
    shared: &Arc<Shared>,
    behavior: &Arc<Behavior>,
    inner: S,
    parts: &Parts,
    body: ReqB,
    fill_key: CacheKey,
    prior: Prior,
    req_cc: CacheControl,
) where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
    ReqB: Body<Data = Bytes> + Send + 'static,
    ReqB::Error: Into<BoxError>,
{
    let Some((writer, registration)) = shared.fills.lead_pinned(&fill_key, shared.max_entry_bytes) else {
        return;
    };
    let origin_req = origin_parts(shared, parts, Some(&prior));
    let primary = Arc::from(key::primary_of(&fill_key));
    let task = FillTask {
        shared: Arc::clone(shared),
        behavior: Arc::clone(behavior),
        primary,
        req_headers: parts.headers.clone(),
        req_cc,
        prior: Some(prior),
        seq: shared.purges.next_seq(),
        writer,
        registration,
    };
    let fill = Arc::clone(task.writer.fill());
    let handle = tokio::spawn(task.run(inner, origin_req, body, None::<oneshot::Sender<LeaderOutcome<S::Error>>>));
    fill.set_abort(handle.abort_handle());
}

/// Counts an origin fetch and its failure kind.
pub(crate) fn record_fetch<E>(shared: &Shared, started: std::time::Instant, fetched: &Fetched<E>) {
    use crate::observe::metrics::OriginFailure;
    let failure = match fetched {
        // The origin was not contacted.
        Fetched::Failed(e) if e.is_capacity_exceeded() => return,
        Fetched::Response(r) if r.status().is_server_error() => Some(OriginFailure::Status5xx),
        Fetched::Response(_) | Fetched::Service(_) => None,
        Fetched::Failed(e) if e.is_timeout() => Some(OriginFailure::Timeout),
        Fetched::Failed(e) if e.is_connect() => Some(OriginFailure::Connect),
        Fetched::Failed(_) => Some(OriginFailure::Protocol),
    };
    shared.observe.metrics.origin_fetch(started.elapsed(), failure);
}

/// Passes a request to the wrapped service untouched: no distribution
/// answers for its host, or the distribution is disabled.
async fn bypass<S, ReqB, ResB>(inner: S, parts: Parts, body: ReqB) -> Result<Response<CdnBody>, S::Error>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    let resp = crate::origin::inner::call(inner, parts, body).await?;
    Ok(respond::passthrough(resp, CacheStatus::forward(Fwd::Bypass)))
}

/// §4.4: drops what an unsafe request changed, stored or in flight. The
/// keys of the related URIs are derived with the behavior's key policy and
/// this request's headers (entries keyed on other header or cookie values
/// for the same URI are left to expire).
fn invalidate_uri(
    shared: &Shared,
    behavior: &Behavior,
    primary: &CacheKey,
    resp_headers: &HeaderMap,
    path: &str,
    req_headers: &HeaderMap,
) {
    let host = key::key_host(primary);
    let mut targets = vec![Arc::clone(primary)];
    for pq in invalidation::related_targets(resp_headers, host, path) {
        let (p, q) = match pq.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (pq.as_str(), None),
        };
        let Ok(p) = target::normalize_path(p) else { continue };
        if let Ok(key) = behavior.cache_key(host, &p, q, req_headers) {
            targets.push(key);
        }
    }
    for target in &targets {
        shared.store.remove(target);
        shared.fills.invalidate_matching(|k| key::is_same_uri(k, target));
    }
    // The shared tier must not hand the old response back to this or any
    // edge (the other edges' L1 copies are theirs, as separate caches).
    if let Some(fleet) = &shared.fleet {
        fleet.forget(&targets);
    }
}
