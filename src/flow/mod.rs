//! THE request state machine, read top to bottom:
//! route → key → lookup → hit | stale | miss → coalesce (lead | follow) →
//! fetch → store decision → respond. The only place that sequences IO;
//! every decision is a call into `policy`, every storage action one into
//! `cache`. The origin fetch of a fill runs in its own task (`task.rs`).

mod error_page;
mod origin_bound;
mod slice;
mod task;
mod tier;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use tokio::sync::oneshot;

use crate::auth::gate::Viewer;
use crate::body::CdnBody;
#[cfg(feature = "compression")]
use crate::body::compress;
use crate::cache::entry::Entry;
use crate::cache::fill::{FillReader, HeadState, Published, Served};
use crate::cache::key::{self, CacheKey};
use crate::cache::local::{Lookup, other_variant};
use crate::cache::lock::Join;
use crate::edge::Edge;
use crate::error::OriginError;
use crate::origin::OriginTarget;
use crate::origin::inner::{App, HttpBody};
use crate::policy::cache_control::CacheControl;
use crate::policy::forward_policy::ForwardMode;
use crate::policy::freshness::age_header_value;
use crate::policy::key_policy::{Credentials, unkeyed_credentials};
use crate::policy::reuse::{self, Reuse};
use crate::policy::{cdn_loop, headers, invalidation, storable};
use crate::respond::{self, Asked, Representation};
use crate::route::{Behavior, Refusal, Resolution};
use crate::status::{CacheStatus, Fwd, NotStored};
pub(crate) use error_page::{
    Viewer as ErrorPageViewer, is_candidate as error_page_candidate, substitute as error_page,
};
use origin_bound::{
    bypass, forward, forward_parts, invalidate_uri, origin_parts, origin_request_hook, prepare_forwarding,
    refresh_in_background, tunnel,
};
pub(crate) use origin_bound::{normalize_target, record_fetch};
use task::{FillTask, LeaderOutcome, Prior};

/// Extra time a follower waits for the leader's head beyond the origin's
/// own response timeout, before fetching on its own.
const FOLLOW_SLACK: Duration = Duration::from_secs(5);

/// A follower whose fill failed (or turned out to be another variant)
/// tries to coalesce again this many times, then fetches on its own.
const MAX_FOLLOW_ATTEMPTS: u32 = 3;

/// What the response side needs from the request side (see [`start`]).
#[derive(Debug, Default)]
pub(crate) struct Routed {
    /// The behavior, when it has a response headers policy or a viewer
    /// response hook.
    pub(crate) behavior: Option<Arc<Behavior>>,
    /// Request fields rewrites chose by (added to `Vary`).
    pub(crate) vary: Vec<http::HeaderName>,
    /// The counters of the route the request took.
    pub(crate) stats: Option<Arc<crate::observe::routes::RouteStats>>,
    /// The object asked for (its primary key), for the reports.
    pub(crate) object: Option<CacheKey>,
}

/// What the synchronous first half of a request decided.
pub(crate) enum Start<ReqB> {
    /// Answered without any IO: a fresh hit, a refusal, a bad request.
    Done(Response<CdnBody>),
    /// Needs the wrapped service or an origin: continue with [`run`].
    Continue(Box<Pending<ReqB>>),
}

/// A request after routing and lookup, waiting for IO.
pub(crate) struct Pending<ReqB> {
    now: SystemTime,
    parts: Parts,
    body: ReqB,
    step: Step,
}

enum Step {
    /// No distribution (or a disabled one in layer mode): the wrapped
    /// service answers, untouched.
    Bypass,
    /// A method that is not cached.
    Method { behavior: Arc<Behavior>, primary: CacheKey },
    /// A protocol upgrade (WebSocket): tunnelled to the origin.
    Upgrade { behavior: Arc<Behavior> },
    /// GET or HEAD after the lookup and the reuse decision.
    Cacheable(Box<Cacheable>),
}

/// A GET or HEAD that the lookup did not answer.
struct Cacheable {
    behavior: Arc<Behavior>,
    primary: CacheKey,
    req_cc: CacheControl,
    pragma: bool,
    /// Credentials outside the key that the origin sees: only explicitly
    /// shared answers serve this request.
    private: Credentials,
    /// What is stored, and how it may be used (decided once, in `start`).
    found: Found,
}

/// The lookup's result with its reuse decision.
enum Found {
    /// A stored response to refresh in the background while serving it,
    /// or to revalidate.
    Stored { entry: Arc<Entry>, store_key: CacheKey, fill_key: CacheKey, reuse: Reuse, soft_purged: bool },
    /// Responses for the URI vary, and none matches.
    VaryMiss { fill_key: CacheKey },
    /// Something is stored, but not as shareable with a request that
    /// carries credentials outside the key.
    NotShared,
    /// Nothing stored.
    Miss,
}

/// The first half of a request, with no IO and no await: route, key,
/// lookup, reuse decision. A fresh hit is answered here, so the hit path
/// builds no future at all.
/// `routed` gets the behavior when it has a response headers policy or a
/// viewer response hook, and the request fields an A/B rewrite route read
/// (the service applies them to the response, whichever way it was made).
pub(crate) fn start<ReqB: http_body::Body>(edge: &Arc<Edge>, req: Request<ReqB>, routed: &mut Routed) -> Start<ReqB> {
    let now = edge.now();
    #[cfg(feature = "l2")]
    if let Some(fleet) = &edge.fleet {
        fleet.ensure_started();
    }
    let (mut parts, body) = req.into_parts();
    // RFC 8586: this request has been through this instance already.
    if cdn_loop::names_instance(&parts.headers, &edge.edge_id) {
        let status = CacheStatus::refused("loop-detected");
        return Start::Done(respond::cache_error(StatusCode::LOOP_DETECTED, "508 Loop Detected\n", status));
    }
    // RFC 9112 §6.1: a message with both is a smuggling attempt or a
    // broken client; answered and the connection closed (§6.3 item 3).
    // Each framing field looked up once (this runs on every request).
    let chunked = parts.headers.contains_key(header::TRANSFER_ENCODING);
    let length = parts.headers.contains_key(header::CONTENT_LENGTH);
    if chunked && length {
        let text = "400 Bad Request: Content-Length with Transfer-Encoding\n";
        return Start::Done(closing(StatusCode::BAD_REQUEST, text, "ambiguous-framing"));
    }
    // RFC 9112 §6.1: a transfer coding the edge does not understand (only
    // `chunked` is decoded) gets 501; passed on, the origin would read the
    // still-coded bytes as the content. `chunked` twice is refused too: a
    // server that decodes it twice would end the content elsewhere.
    if chunked && !chunked_once(&parts.headers) {
        let text = "501 Not Implemented: only the chunked transfer coding, once, is understood\n";
        return Start::Done(closing(StatusCode::NOT_IMPLEMENTED, text, "transfer-coding"));
    }
    // A tunnel is not a resource (CONNECT's target is an authority, not a
    // path): refused as a method no behavior allows, and an HTTP/1.1
    // connection closed, so nothing meant for the tunnel is read as requests.
    // Methods are case-sensitive, but a framework that folds case would
    // read `connect` as CONNECT.
    if parts.method.as_str().eq_ignore_ascii_case("CONNECT") {
        let mut resp = Refusal::MethodNotAllowed.respond();
        if parts.version <= http::Version::HTTP_11 {
            resp.headers_mut().insert(header::CONNECTION, http::HeaderValue::from_static("close"));
        }
        return Start::Done(resp);
    }
    crate::nest::adopt_original(&mut parts);
    if let Err(why) = normalize_target(&mut parts) {
        let status = CacheStatus::refused(why.as_str());
        return Start::Done(respond::cache_error(StatusCode::BAD_REQUEST, "400 Bad Request: invalid path\n", status));
    }
    let pending = |parts, body, step| Start::Continue(Box::new(Pending { now, parts, body, step }));

    // Rewrites and the viewer request hook of the behavior the request
    // routes to: they may answer, or change the request; a changed target
    // is normalised and routed again, and the behavior it reaches runs its
    // own rewrites and hook too (each behavior once, at most four), so a
    // rewrite never carries a request past another behavior's controls.
    if edge.routes.load().has_viewer_request_hooks {
        let mut visited: Vec<Arc<Behavior>> = Vec::new();
        while visited.len() < 4 {
            let Some(behavior) = edge.routes.load().behavior_for(&parts) else { break };
            if visited.iter().any(|b| Arc::ptr_eq(b, &behavior)) {
                break;
            }
            let before = parts.uri.clone();
            if let Some(done) = viewer_side(edge, &behavior, &mut parts, routed) {
                return Start::Done(done);
            }
            visited.push(behavior);
            if parts.uri == before {
                break;
            }
            if let Err(why) = normalize_target(&mut parts) {
                let status = CacheStatus::refused(why.as_str());
                let text = "400 Bad Request: invalid path\n";
                return Start::Done(respond::cache_error(StatusCode::BAD_REQUEST, text, status));
            }
        }
    }

    // A CORS preflight is answered from the behavior's response headers
    // policy, before the method check (it is not a request for the
    // resource) and without the origin.
    if parts.method == Method::OPTIONS
        && parts.headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        && let Some(behavior) = edge.routes.load().behavior_for(&parts)
        && let Some(policy) = &behavior.response_headers
        && let Some((code, headers)) = policy.preflight(&parts.method, &parts.headers)
    {
        return Start::Done(respond::preflight(code, headers));
    }

    // 1. Route: host → distribution, path → behavior (a behavior with
    //    trusted keys refuses unsigned requests here, before any lookup),
    //    then the cache key; `parts` becomes the origin request (default
    //    root object, signing parameters removed, policies).
    let viewer = Viewer {
        now,
        scheme: edge.settings.viewer_scheme,
        trust_forwarded_proto: edge.settings.trust_forwarding_headers,
    };
    // An upgrade (WebSocket) keeps its handshake fields through routing's
    // forwarding policy, and is tunnelled, never cached or coalesced.
    let handshake = (parts.version == http::Version::HTTP_11 && headers::upgrade_requested(&parts.headers))
        .then(|| headers::handshake_fields(&parts.headers));
    let (behavior, primary) = match edge.routes.load().resolve(&mut parts, &viewer) {
        Resolution::Cache { behavior, key } => {
            if behavior.response_headers.is_some() || behavior.hooks.viewer_response.is_some() {
                routed.behavior = Some(Arc::clone(&behavior));
            }
            routed.stats = Some(Arc::clone(behavior.route_stats(&edge.observe.metrics)));
            routed.object = Some(Arc::clone(&key));
            (behavior, key)
        }
        Resolution::Bypass => return pending(parts, body, Step::Bypass),
        Resolution::Disabled if edge.settings.standalone => return Start::Done(Refusal::Disabled.respond()),
        Resolution::Disabled => return pending(parts, body, Step::Bypass),
        Resolution::ToHttps { status, location } => {
            return Start::Done(respond::redirect(status, &location, "redirect-to-https"));
        }
        Resolution::Refuse(refusal) => {
            if refusal == Refusal::HookFailed {
                edge.observe.metrics.hook_failed();
            }
            return Start::Done(refusal.respond());
        }
    };
    if let Some(fields) = handshake {
        for (name, value) in fields {
            parts.headers.insert(name, value);
        }
        parts.headers.insert(header::CONNECTION, http::HeaderValue::from_static("upgrade"));
        return pending(parts, body, Step::Upgrade { behavior });
    }
    #[cfg(feature = "compression")]
    if behavior.compress {
        compress::normalize_accept_encoding(&mut parts.headers);
    }

    // 2. Unsafe and other uncacheable methods go to the origin.
    if !matches!(parts.method, Method::GET | Method::HEAD) {
        return pending(parts, body, Step::Method { behavior, primary });
    }
    // A GET or HEAD with content: CloudFront answers 403. The content has
    // no meaning (RFC 9110 §9.3.1) and is not in the key, and forwarding
    // its framing without it desynchronises the origin connection.
    if carries_content(&parts.headers, chunked, length, &body) {
        let status = CacheStatus::refused("request-content");
        return Start::Done(respond::cache_error(
            StatusCode::FORBIDDEN,
            "403 Forbidden: a GET or HEAD request cannot have content\n",
            status,
        ));
    }
    if chunked || length {
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.remove(header::TRANSFER_ENCODING);
    }
    parts.headers.remove(header::EXPECT);
    let req_cc = CacheControl::from_headers(&parts.headers, &header::CACHE_CONTROL);
    let pragma = reuse::pragma_no_cache(&parts.headers);

    // The app sees cookies and `Authorization` as sent; a request with
    // some the key does not hold may be answered personally, so only an
    // answer its origin called shareable (`public`, `s-maxage`) serves it.
    let private = match behavior.forward_mode {
        ForwardMode::App => unkeyed_credentials(&behavior.key, &parts.headers),
        ForwardMode::Edge | ForwardMode::Standards => Credentials::None,
    };

    // 3./4. Look up, and decide how a stored response may be used.
    let found = match edge.cache.lookup(&primary, &parts.headers) {
        Lookup::Found { entry, .. } if private != Credentials::None && !entry.head().meta.shared => Found::NotShared,
        Lookup::Found { entry, store_key, fill_key, soft_purged } => match if soft_purged {
            reuse::decide_soft_purged(&entry.head().meta, &req_cc, pragma, now)
        } else {
            reuse::decide(&entry.head().meta, &req_cc, pragma, now)
        } {
            Reuse::Fresh { remaining } => {
                return Start::Done(serve_entry(entry, &parts, CacheStatus::hit(remaining), now));
            }
            Reuse::StaleAllowed { staleness } => {
                let status = CacheStatus::stale_hit(staleness, "max-stale");
                return Start::Done(serve_entry(entry, &parts, status, now));
            }
            reuse => Found::Stored { entry, store_key, fill_key, reuse, soft_purged },
        },
        Lookup::VaryMiss { fill_key } => Found::VaryMiss { fill_key },
        Lookup::Miss => Found::Miss,
    };
    let cacheable = Cacheable { behavior, primary, req_cc, pragma, private, found };
    pending(parts, body, Step::Cacheable(Box::new(cacheable)))
}

/// One behavior's rewrites, then its viewer request hook: the edge's own
/// answer if one answers (a redirect, the hook's response, a 500 for a
/// panic), else `None` with `parts` perhaps changed.
fn viewer_side(
    edge: &Edge,
    behavior: &Arc<Behavior>,
    parts: &mut Parts,
    routed: &mut Routed,
) -> Option<Response<CdnBody>> {
    use crate::policy::rewrite::Outcome;
    let answering = |routed: &mut Routed| {
        if behavior.response_headers.is_some() || behavior.hooks.viewer_response.is_some() {
            routed.behavior = Some(Arc::clone(behavior));
        }
    };
    if let Some(rewrite) = &behavior.rewrite {
        // The answer depends on the fields its A/B routes read: downstream
        // caches must key on them too.
        routed.vary.extend(rewrite.vary_fields());
        let host = crate::policy::host::request_host(parts).ok().flatten().map(|h| h.into_owned());
        match rewrite.apply(host.as_deref(), parts.uri.path(), parts.uri.query(), &parts.headers) {
            Outcome::Same => {}
            Outcome::Redirect(code, to) => {
                answering(routed);
                return Some(respond::redirect(code, &to, "rewrite-redirect"));
            }
            Outcome::Target(pq) => {
                let mut uri = parts.uri.clone().into_parts();
                uri.path_and_query = pq.parse().ok();
                match http::Uri::from_parts(uri) {
                    Ok(uri) if pq.starts_with('/') => parts.uri = uri,
                    _ => {
                        let status = CacheStatus::refused("rewrite-invalid");
                        return Some(respond::cache_error(
                            StatusCode::BAD_REQUEST,
                            "400 Bad Request: invalid path\n",
                            status,
                        ));
                    }
                }
            }
        }
    }
    let hook = behavior.hooks.viewer_request.as_ref()?;
    match crate::hooks::guarded(|| hook(parts)) {
        Err(_) => {
            edge.observe.metrics.hook_failed();
            Some(Refusal::HookFailed.respond())
        }
        Ok(Some(answer)) => {
            answering(routed);
            Some(respond::hook_answer(answer))
        }
        Ok(None) => None,
    }
}

/// Whether `Transfer-Encoding` is exactly one `chunked` (over all its
/// field lines).
fn chunked_once(headers: &HeaderMap) -> bool {
    let mut codings = 0;
    for value in headers.get_all(header::TRANSFER_ENCODING) {
        let Ok(text) = value.to_str() else { return false };
        for coding in text.split(',') {
            if !coding.trim().eq_ignore_ascii_case("chunked") {
                return false;
            }
            codings += 1;
        }
    }
    codings == 1
}

/// The edge's answer to a request whose framing it will not read further:
/// the connection is closed after it (RFC 9112 §6.3 item 3), so no byte
/// after it is read as another request.
fn closing(code: StatusCode, text: &'static str, detail: &'static str) -> Response<CdnBody> {
    let mut resp = respond::cache_error(code, text, CacheStatus::refused(detail));
    resp.headers_mut().insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    resp
}

/// Whether a request has content or may have some: framing fields other
/// than `Content-Length: 0`, or a body that has not ended (an HTTP/2
/// request without `END_STREAM` on its HEADERS frame).
fn carries_content<B: http_body::Body>(headers: &HeaderMap, chunked: bool, length: bool, body: &B) -> bool {
    if chunked {
        return true;
    }
    let declared = length && headers.get_all(header::CONTENT_LENGTH).iter().any(|v| v.as_bytes() != b"0");
    declared || !(body.is_end_stream() || body.size_hint().exact() == Some(0))
}

/// The second half of a request: everything that waits on the wrapped
/// service or an origin.
pub(crate) async fn run<S, ReqB, ResB>(
    edge: Arc<Edge>,
    inner: S,
    pending: Box<Pending<ReqB>>,
) -> Result<Response<CdnBody>, S::Error>
where
    S: App<ReqB, ResB>,
    ReqB: HttpBody,
    ResB: HttpBody,
{
    let Pending { now, parts, body, step } = *pending;
    match step {
        Step::Bypass => bypass(inner, parts, body).await,
        Step::Method { behavior, primary } => unsafe_method(&edge, &behavior, &primary, inner, parts, body).await,
        Step::Upgrade { behavior } => tunnel(&edge, &behavior, inner, parts, body).await,
        Step::Cacheable(c) => cacheable(edge, inner, parts, body, *c, now).await,
    }
}

/// A method that is not cached goes to the origin; a successful unsafe
/// one invalidates what it changed (§4.4).
async fn unsafe_method<S, ReqB, ResB>(
    edge: &Edge,
    behavior: &Behavior,
    primary: &CacheKey,
    inner: S,
    parts: Parts,
    body: ReqB,
) -> Result<Response<CdnBody>, S::Error>
where
    S: App<ReqB, ResB>,
    ReqB: HttpBody,
    ResB: HttpBody,
{
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let req_headers = parts.headers.clone();
    // The key was built when routing; a hook that panics now keys nothing.
    let extension = behavior.extension_value(&parts).ok().flatten();
    let resp = forward(edge, behavior, inner, parts, body, true, CacheStatus::forward(Fwd::Method)).await?;
    if invalidation::invalidates(&method, resp.status()) {
        invalidate_uri(edge, behavior, primary, resp.headers(), &path, &req_headers, extension.as_deref());
    }
    Ok(resp)
}

/// What a cacheable request the lookup did not answer needs from the origin.
struct Fetch {
    fwd: Fwd,
    fill_key: CacheKey,
    /// The stored response being revalidated.
    prior: Option<Prior>,
}

/// A GET or HEAD after the lookup: serve stale while refreshing, or fetch
/// (revalidating what is stored), alone or coalesced.
async fn cacheable<S, ReqB, ResB>(
    edge: Arc<Edge>,
    inner: S,
    parts: Parts,
    body: ReqB,
    c: Cacheable,
    now: SystemTime,
) -> Result<Response<CdnBody>, S::Error>
where
    S: App<ReqB, ResB>,
    ReqB: HttpBody,
    ResB: HttpBody,
{
    let Cacheable { behavior, primary, req_cc, pragma, private, found } = c;
    let fetch = match found {
        Found::Stored { entry, store_key, fill_key, reuse: Reuse::StaleWhileRevalidate { staleness }, soft_purged } => {
            let prior = Prior { entry: Arc::clone(&entry), store_key };
            refresh_in_background(&edge, &behavior, inner, &parts, body, fill_key, prior, req_cc);
            let why = if soft_purged { "soft-purged" } else { "stale-while-revalidate" };
            let status = CacheStatus::stale_hit(staleness, why);
            return Ok(serve_entry(entry, &parts, status, now));
        }
        Found::Stored { entry, store_key, fill_key, .. } => {
            let forced =
                req_cc.no_cache.is_present() || pragma || req_cc.max_age.is_some() || req_cc.min_fresh.is_some();
            let fwd = if forced && entry.head().meta.is_fresh(now) { Fwd::Request } else { Fwd::Stale };
            Fetch { fwd, fill_key, prior: Some(Prior { entry, store_key }) }
        }
        Found::VaryMiss { fill_key } => Fetch { fwd: Fwd::VaryMiss, fill_key, prior: None },
        Found::NotShared => Fetch { fwd: Fwd::Request, fill_key: Arc::clone(&primary), prior: None },
        Found::Miss => Fetch { fwd: Fwd::UriMiss, fill_key: Arc::clone(&primary), prior: None },
    };

    // §5.2.1.7: nothing usable is stored and the client will not wait.
    if req_cc.only_if_cached {
        let status = CacheStatus::forward(fetch.fwd).with_detail("only-if-cached");
        return Ok(respond::cache_error(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Timeout: not in cache\n", status));
    }
    // A HEAD for what only the disk holds (too large for memory) is
    // answered from the file's head.
    #[cfg(feature = "disk")]
    if parts.method == Method::HEAD
        && fetch.prior.is_none()
        && !pragma
        && let Some(resp) = head_from_disk(&edge, &primary, &parts, &req_cc, private, now).await
    {
        return Ok(resp);
    }
    // HEAD and `no-store` requests are answered by the origin and not
    // stored; a request for server-sent events gets a stream of its own.
    let event_stream = storable::wants_event_stream(&parts.headers);
    if parts.method == Method::HEAD || req_cc.no_store || event_stream {
        let reason = if parts.method == Method::HEAD {
            NotStored::Method
        } else if event_stream {
            NotStored::EventStream
        } else {
            NotStored::RequestNoStore
        };
        let status = CacheStatus::forward(fetch.fwd).with_not_stored(reason);
        return forward(&edge, &behavior, inner, parts, body, false, status).await;
    }
    // A range of an object not stored: only the slices it needs.
    if fetch.prior.is_none()
        && fetch.fwd == Fwd::UriMiss
        && let Some(first) = slice::first_slice(&edge, &behavior, &parts, &req_cc, pragma, private)
        && let Some(resp) = slice::serve(&edge, &behavior, &primary, &parts, &req_cc, first, now).await
    {
        return Ok(resp);
    }
    coalesce(edge, behavior, primary, req_cc, private, fetch, inner, parts, body, now).await
}

/// 5./6. Leads the fill or follows the one in flight.
#[allow(clippy::too_many_arguments)]
async fn coalesce<S, ReqB, ResB>(
    edge: Arc<Edge>,
    behavior: Arc<Behavior>,
    primary: CacheKey,
    req_cc: CacheControl,
    private: Credentials,
    fetch: Fetch,
    inner: S,
    parts: Parts,
    body: ReqB,
    now: SystemTime,
) -> Result<Response<CdnBody>, S::Error>
where
    S: App<ReqB, ResB>,
    ReqB: HttpBody,
    ResB: HttpBody,
{
    let Fetch { mut fwd, mut fill_key, prior } = fetch;
    let origin_timeout = behavior.origin.response_timeout();
    // With a fleet, the leader may first wait for another edge's fill.
    #[cfg(feature = "l2")]
    let fleet_wait = edge.fleet.as_ref().map_or(Duration::ZERO, |f| f.lock_wait(origin_timeout));
    #[cfg(not(feature = "l2"))]
    let fleet_wait = Duration::ZERO;
    let follow_wait = origin_timeout + FOLLOW_SLACK + fleet_wait;
    let mut attempts = 0;
    loop {
        match edge.cache.join_or_lead(&fill_key) {
            Join::Lead(writer, reader, registration) => {
                let req_headers = parts.headers.clone();
                let task = FillTask::new(&edge, &behavior, primary, req_headers, req_cc, prior, writer, registration);
                return lead(task, inner, parts, body, reader, fwd, now).await;
            }
            Join::Follow(reader) if private != Credentials::None => {
                // Another viewer's fill: its answer may not be this
                // visitor's (the app sees the credentials), and waiting for
                // it to find out would tie her to a stranger's latency.
                reader.detach();
                let reason = private_reason(private);
                let status = CacheStatus::forward(fwd).with_not_stored(reason);
                return forward(&edge, &behavior, inner, parts, body, false, status).await;
            }
            Join::FromFile(published) => {
                // A large fill past its start, followed from its disk write
                // (an explicitly shared answer only, as with any follower).
                let shareable = private == Credentials::None || published.head.meta.shared;
                if shareable && other_variant(&published, &parts.headers).is_none() {
                    edge.observe.metrics.coalesced();
                    crate::observe::telemetry::coalesced(&parts, None);
                    return Ok(serve_published(&edge, published, None, &parts, fwd, true, now));
                }
                let reason = if shareable { NotStored::Vary } else { private_reason(private) };
                let status = CacheStatus::forward(fwd).with_not_stored(reason);
                return forward(&edge, &behavior, inner, parts, body, false, status).await;
            }
            Join::Follow(mut reader) => {
                let state = tokio::time::timeout(follow_wait, reader.head()).await;
                attempts += 1;
                match state {
                    Ok(HeadState::Ready(published)) => {
                        edge.observe.metrics.coalesced();
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
                            return forward(&edge, &behavior, inner, parts, body, false, status).await;
                        }
                        // One fetch served this request too: its span links to it.
                        crate::observe::telemetry::coalesced(&parts, reader.fetch_link());
                        return Ok(serve_published(&edge, published, Some(reader), &parts, fwd, true, now));
                    }
                    Ok(HeadState::Released(reason)) => {
                        // Not shareable: this request gets its own answer.
                        drop(reader);
                        let status = CacheStatus::forward(fwd).with_not_stored(reason);
                        return forward(&edge, &behavior, inner, parts, body, false, status).await;
                    }
                    Ok(HeadState::Failed) | Err(_) => {
                        drop(reader);
                        if attempts >= MAX_FOLLOW_ATTEMPTS {
                            let status = CacheStatus::forward(fwd).with_not_stored(NotStored::Incomplete);
                            return forward(&edge, &behavior, inner, parts, body, false, status).await;
                        }
                    }
                }
            }
        }
    }
}

/// A HEAD answered from a fresh disk entry's head.
#[cfg(feature = "disk")]
async fn head_from_disk(
    edge: &Arc<Edge>,
    primary: &CacheKey,
    parts: &Parts,
    req_cc: &CacheControl,
    private: Credentials,
    now: SystemTime,
) -> Option<Response<CdnBody>> {
    let hit = edge.cache.disk()?.lookup_head(primary, &parts.headers).await?;
    let meta = &hit.head.meta;
    if private != Credentials::None && !meta.shared {
        return None;
    }
    let Reuse::Fresh { remaining } = reuse::decide(meta, req_cc, false, now) else { return None };
    let mut headers = hit.head.headers.clone();
    headers.insert(header::AGE, age_header_value(meta.clock.current_age(now)));
    let len = hit.body.len();
    let rep = Representation { status: hit.head.status, headers, body: CdnBody::empty(), len: Some(len), entry: None };
    let status = CacheStatus::hit(remaining).with_detail("disk");
    Some(respond::represent(rep, Asked { method: &parts.method, headers: &parts.headers }, status))
}

/// Why a request with credentials outside the key is not given another
/// viewer's answer.
fn private_reason(private: Credentials) -> NotStored {
    match private {
        Credentials::Authorization => NotStored::Authorization,
        Credentials::Cookie | Credentials::None => NotStored::Cookie,
    }
}

/// A response from a stored entry (hit or stale hit).
fn serve_entry(entry: Arc<Entry>, parts: &Parts, status: CacheStatus, now: SystemTime) -> Response<CdnBody> {
    let age = entry.head().meta.clock.current_age(now);
    let asked = Asked { method: &parts.method, headers: &parts.headers };
    respond::represent(Representation::from_entry(entry, age), asked, status)
}

/// A response read from a fill, for its leader or a follower.
fn serve_published(
    edge: &Edge,
    published: Published,
    reader: Option<FillReader>,
    parts: &Parts,
    fwd: Fwd,
    collapsed: bool,
    now: SystemTime,
) -> Response<CdnBody> {
    #[cfg(feature = "disk")]
    let edge_disk = edge.cache.disk();
    #[cfg(not(feature = "disk"))]
    let _ = edge;
    let head = &published.head;
    let mut status = match published.served {
        Served::Origin => CacheStatus::forward(fwd).with_fwd_status(head.status).with_stored(true),
        Served::Revalidated => CacheStatus::forward(fwd).with_fwd_status(StatusCode::NOT_MODIFIED).with_stored(true),
        Served::L2 => CacheStatus::hit(head.meta.remaining(now)).with_detail("l2"),
        Served::Disk => {
            #[cfg(feature = "disk")]
            if let Some(disk) = edge_disk {
                disk.served();
            }
            CacheStatus::hit(head.meta.remaining(now)).with_detail("disk")
        }
        Served::Streamed(reason) => CacheStatus::forward(fwd).with_fwd_status(head.status).with_not_stored(reason),
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
    if collapsed || !matches!(published.served, Served::Origin | Served::Streamed(_)) {
        headers.insert(header::AGE, age_header_value(head.meta.clock.current_age(now)));
    }
    let len = head.content_length();
    let body = match (published.file, reader) {
        // The body is read from the disk tier's file; a reader of the
        // fill lets it go on without it.
        (Some(file), reader) => {
            if let Some(reader) = reader {
                reader.detach();
            }
            CdnBody::file(file)
        }
        (None, Some(reader)) => CdnBody::fill(reader, len),
        (None, None) => CdnBody::empty(),
    };
    let rep = Representation { status: head.status, headers, body, len, entry: None };
    respond::represent(rep, Asked { method: &parts.method, headers: &parts.headers }, status)
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
    S: App<ReqB, ResB>,
    ReqB: HttpBody,
    ResB: HttpBody,
{
    let behavior = Arc::clone(&task.behavior);
    let edge = Arc::clone(&task.edge);
    let (tx, rx) = oneshot::channel();
    let fill = Arc::clone(task.writer.fill());
    let mut origin_req = origin_parts(&task.edge, &parts, task.prior.as_ref());
    if let Err(e) = origin_request_hook(&task.edge, &task.behavior, &mut origin_req).await {
        // The fill fails: its followers fetch on their own.
        drop(task);
        drop(reader);
        return Ok(respond::origin_error(e, CacheStatus::forward(fwd)));
    }
    let handle = tokio::spawn(task.run(inner.clone(), origin_req, body, Some(tx)));
    fill.set_abort(handle.abort_handle());

    let status = CacheStatus::forward(fwd);
    match rx.await {
        Ok(LeaderOutcome::Shared(published)) => {
            Ok(serve_published(&edge, published, Some(reader), &parts, fwd, false, now))
        }
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
                prepare_forwarding(&edge, &mut parts);
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
