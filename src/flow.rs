//! THE request state machine, read top to bottom:
//! route → key → lookup → hit | miss → coalesce (lead | follow) → fetch →
//! store decision → respond. The only place that sequences IO; every
//! decision is a call into `policy`, every storage action one into `cache`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response};
use http_body::Body;
use tokio::sync::oneshot;

use crate::body::tee::{Pumped, pump};
use crate::body::{CdnBody, OriginBody};
use crate::cache::entry::{Entry, Head};
use crate::cache::fill::{FillReader, FillWriter, HeadState};
use crate::cache::key::CacheKey;
use crate::cache::lock::{Join, Registration};
use crate::error::{BoxError, OriginError};
use crate::origin::Fetched;
use crate::policy::cache_control::CacheControl;
use crate::policy::freshness::AgeClock;
use crate::policy::storable::{self, RequestFacts, ResponseFacts};
use crate::respond;
use crate::route::{Behavior, Refusal, Resolution};
use crate::shared::Shared;
use crate::status::{CacheStatus, Fwd, NotStored};

/// Extra time a follower waits for the leader's head beyond the origin's
/// own response timeout, before fetching on its own.
const FOLLOW_SLACK: Duration = Duration::from_secs(5);

/// A follower whose fill failed tries to coalesce again this many times,
/// then fetches on its own.
const MAX_FOLLOW_ATTEMPTS: u32 = 2;

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
    ReqB: Body<Data = Bytes> + Send + 'static,
    ReqB::Error: Into<BoxError>,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    let now = shared.now();
    let (mut parts, body) = req.into_parts();

    // 1. Route: host → distribution, path → behavior, then the cache key;
    //    `parts` becomes the origin request (default root object, policies).
    let (behavior, key) = match shared.routes.resolve(&mut parts) {
        Resolution::Cache { behavior, key } => (behavior, key),
        Resolution::Bypass => return bypass(inner, parts, body).await,
        Resolution::Disabled if shared.standalone => return Ok(Refusal::Disabled.respond()),
        Resolution::Disabled => return bypass(inner, parts, body).await,
        Resolution::Refuse(refusal) => return Ok(refusal.respond()),
    };

    // 2. Is the request cacheable at all?
    if !matches!(parts.method, Method::GET | Method::HEAD) {
        let status = CacheStatus::forward(Fwd::Method);
        return forward(&behavior, inner, parts, body, true, status).await;
    }
    let req_cc = CacheControl::from_headers(&parts.headers, &header::CACHE_CONTROL);
    let mut fwd = Fwd::UriMiss;

    // 3./4. Look up.
    if let Some(entry) = shared.store.get(&key) {
        let remaining = entry.head().remaining(now);
        if !remaining.is_zero() {
            let status = CacheStatus::hit(remaining);
            return Ok(respond::from_entry(entry, &parts.method, status, now));
        }
        fwd = Fwd::Stale;
    }

    // A HEAD miss is forwarded as HEAD and not stored: a body-less answer
    // must not become the entry a later GET is served from.
    if parts.method == Method::HEAD {
        let status = CacheStatus::forward(fwd).with_not_stored(NotStored::Method);
        return forward(&behavior, inner, parts, body, false, status).await;
    }

    // 5./6. Miss: lead the fill or follow the one in flight.
    let follow_wait = behavior.origin.response_timeout() + FOLLOW_SLACK;
    let mut attempts = 0;
    loop {
        match shared.fills.join_or_lead(&key, shared.max_entry_bytes) {
            Join::Lead(writer, reader, registration) => {
                let ctx = LeadContext {
                    shared: &shared,
                    behavior: &behavior,
                    key,
                    fwd,
                    req_cc,
                };
                return lead(ctx, inner, parts, body, (writer, reader, registration)).await;
            }
            Join::Follow(mut reader) => {
                let state = tokio::time::timeout(follow_wait, reader.head()).await;
                match state {
                    Ok(HeadState::Ready(head)) => {
                        let status = CacheStatus::forward(fwd)
                            .with_fwd_status(head.status)
                            .with_stored(true)
                            .with_collapsed();
                        return Ok(respond::from_fill(&head, reader, &parts.method, status));
                    }
                    Ok(HeadState::Released(reason)) => {
                        // Not shareable: this request gets its own answer.
                        drop(reader);
                        let status = CacheStatus::forward(fwd).with_not_stored(reason);
                        return forward(&behavior, inner, parts, body, false, status).await;
                    }
                    Ok(HeadState::Failed) | Err(_) => {
                        drop(reader);
                        attempts += 1;
                        if attempts >= MAX_FOLLOW_ATTEMPTS {
                            let status =
                                CacheStatus::forward(fwd).with_not_stored(NotStored::Incomplete);
                            return forward(&behavior, inner, parts, body, false, status).await;
                        }
                    }
                }
            }
        }
    }
}

/// Passes a request to the wrapped service untouched: no distribution
/// answers for its host, or the distribution is disabled.
async fn bypass<S, ReqB, ResB>(
    inner: S,
    parts: Parts,
    body: ReqB,
) -> Result<Response<CdnBody>, S::Error>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    let resp = crate::origin::inner::call(inner, parts, body).await?;
    Ok(respond::passthrough(
        resp,
        CacheStatus::forward(Fwd::Bypass),
    ))
}

/// Sends a request to the origin without storing the answer.
async fn forward<S, ReqB, ResB>(
    behavior: &Behavior,
    inner: S,
    parts: Parts,
    body: ReqB,
    forward_body: bool,
    status: CacheStatus,
) -> Result<Response<CdnBody>, S::Error>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>> + Send,
    S::Future: Send,
    ReqB: Body<Data = Bytes> + Send + 'static,
    ReqB::Error: Into<BoxError>,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    match behavior
        .origin
        .fetch(inner, parts, body, forward_body)
        .await
    {
        Fetched::Response(resp) => {
            let status = status.with_fwd_status(resp.status());
            Ok(respond::passthrough(resp, status))
        }
        Fetched::Failed(err) => Ok(respond::origin_error(err, status)),
        Fetched::Service(err) => Err(err),
    }
}

struct LeadContext<'a> {
    shared: &'a Arc<Shared>,
    behavior: &'a Arc<Behavior>,
    key: CacheKey,
    fwd: Fwd,
    req_cc: CacheControl,
}

/// What the fill task tells the leading request.
enum LeaderOutcome<E> {
    /// The response is shared: read it from the fill.
    Shared(Arc<Head>),
    /// Not shareable: this response is the leader's alone.
    Own(Response<OriginBody>, NotStored),
    /// The origin failed.
    Failed(OriginError),
    /// The inner service failed.
    Service(E),
}

/// Leads a fill: the origin fetch and the body pump run in a task of their
/// own, so the fill goes on for followers if this client leaves.
async fn lead<S, ReqB, ResB>(
    ctx: LeadContext<'_>,
    inner: S,
    parts: Parts,
    body: ReqB,
    (writer, reader, registration): (FillWriter, FillReader, Registration),
) -> Result<Response<CdnBody>, S::Error>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Body<Data = Bytes> + Send + 'static,
    ReqB::Error: Into<BoxError>,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    let method = parts.method.clone();
    let (tx, rx) = oneshot::channel();
    let fill = Arc::clone(writer.fill());
    let task = FillTask {
        shared: Arc::clone(ctx.shared),
        behavior: Arc::clone(ctx.behavior),
        key: ctx.key,
        req_cc: ctx.req_cc,
        writer,
        registration,
    };
    let handle = tokio::spawn(task.run(inner, parts, body, tx));
    fill.set_abort(handle.abort_handle());

    let status = CacheStatus::forward(ctx.fwd);
    match rx.await {
        Ok(LeaderOutcome::Shared(head)) => {
            let status = status.with_fwd_status(head.status).with_stored(true);
            Ok(respond::from_fill(&head, reader, &method, status))
        }
        Ok(LeaderOutcome::Own(resp, reason)) => {
            drop(reader);
            let status = status
                .with_fwd_status(resp.status())
                .with_not_stored(reason);
            Ok(respond::passthrough(resp, status))
        }
        Ok(LeaderOutcome::Failed(err)) => Ok(respond::origin_error(err, status)),
        Ok(LeaderOutcome::Service(err)) => Err(err),
        // The task ended without a word: it panicked.
        Err(_) => Ok(respond::origin_error(
            OriginError::protocol("fill task ended"),
            status,
        )),
    }
}

/// The origin fetch and body pump of one fill.
struct FillTask {
    shared: Arc<Shared>,
    behavior: Arc<Behavior>,
    key: CacheKey,
    req_cc: CacheControl,
    writer: FillWriter,
    /// Dropped last (after the entry is stored) or when the task is
    /// aborted: either way the key leaves the table of fills.
    registration: Registration,
}

impl FillTask {
    async fn run<S, ReqB, ResB>(
        self,
        inner: S,
        parts: Parts,
        body: ReqB,
        tx: oneshot::Sender<LeaderOutcome<S::Error>>,
    ) where
        S: tower_service::Service<Request<ReqB>, Response = Response<ResB>> + Send,
        S::Future: Send,
        ReqB: Body<Data = Bytes> + Send + 'static,
        ReqB::Error: Into<BoxError>,
        ResB: Body<Data = Bytes> + Send + 'static,
        ResB::Error: Into<BoxError>,
    {
        let FillTask {
            shared,
            behavior,
            key,
            req_cc,
            writer,
            registration,
        } = self;
        let method = parts.method.clone();
        let req_headers = parts.headers.clone();
        let request_time = shared.now();
        let fetched = behavior.origin.fetch(inner, parts, body, false).await;
        let response_time = shared.now();
        let resp = match fetched {
            Fetched::Response(resp) => resp,
            Fetched::Failed(err) => {
                // Dropping the writer fails the fill: followers retry.
                drop(writer);
                drop(registration);
                let _ = tx.send(LeaderOutcome::Failed(err));
                return;
            }
            Fetched::Service(err) => {
                drop(writer);
                drop(registration);
                let _ = tx.send(LeaderOutcome::Service(err));
                return;
            }
        };

        let (mut head_parts, origin_body) = resp.into_parts();
        let resp_cc = CacheControl::from_headers(&head_parts.headers, &header::CACHE_CONTROL);
        let decision = storable::evaluate(
            RequestFacts {
                method: &method,
                headers: &req_headers,
                cc: &req_cc,
            },
            ResponseFacts {
                status: head_parts.status,
                headers: &head_parts.headers,
                cc: &resp_cc,
            },
            &behavior.ttl,
            response_time,
        );
        let expected_len = content_length(&head_parts.headers);
        let decision = match decision {
            Ok(_) if expected_len.is_some_and(|n| n > shared.max_entry_bytes) => {
                Err(NotStored::TooLarge)
            }
            other => other,
        };
        let lifetime = match decision {
            Ok(store) => store.lifetime,
            Err(reason) => {
                drop(registration);
                writer.release(reason);
                let resp = Response::from_parts(head_parts, origin_body);
                let _ = tx.send(LeaderOutcome::Own(resp, reason));
                return;
            }
        };

        ensure_date(&mut head_parts.headers, response_time);
        let head = Arc::new(Head {
            status: head_parts.status,
            clock: AgeClock::new(&head_parts.headers, request_time, response_time),
            headers: head_parts.headers,
            lifetime,
        });
        writer.publish_head(Arc::clone(&head));
        // The leader may be gone; the fill goes on for the followers.
        let _ = tx.send(LeaderOutcome::Shared(Arc::clone(&head)));

        let timeout = behavior.origin.response_timeout();
        let outcome = pump(origin_body, writer, timeout, expected_len, &shared.fills).await;
        if let Pumped::Complete(writer) = outcome {
            // Store first, then let readers see the end: a client that
            // asks again right after its body ended finds the entry.
            if let Some(chunks) = writer.storable_chunks() {
                let head = Head {
                    status: head.status,
                    headers: head.headers.clone(),
                    clock: head.clock,
                    lifetime: head.lifetime,
                };
                shared
                    .store
                    .insert(key, Arc::new(Entry::new(head, &chunks)));
            }
            writer.complete();
        }
        drop(registration);
    }
}

/// RFC 9110 §6.6.1: a cache must add `Date` to a response that lacks one.
fn ensure_date(headers: &mut HeaderMap, response_time: SystemTime) {
    if !headers.contains_key(header::DATE)
        && let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(response_time))
    {
        headers.insert(header::DATE, v);
    }
}

/// The origin's `Content-Length`, if valid.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
