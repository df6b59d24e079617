//! The fill task: one origin fetch (maybe a revalidation), its storing
//! decision, the body pump, and the store. Runs detached from any client.

use std::sync::Arc;
use std::time::SystemTime;

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use tokio::sync::oneshot;

use super::tier::{Before, Tier};
use crate::body::OriginBody;
#[cfg(feature = "compression")]
use crate::body::compress;
use crate::body::tee::{Pumped, pump};
use crate::cache::entry::{Entry, Head};
use crate::cache::fill::{FillWriter, Published, Served};
use crate::cache::key::CacheKey;
use crate::cache::local::Stored;
use crate::cache::lock::Registration;
use crate::edge::Edge;
use crate::error::{EdgeBuilt, OriginError};
use crate::hint::CacheHint;
use crate::observe::telemetry;
use crate::origin::inner::{App, HttpBody};
use crate::origin::{BalanceKey, Fetched};
use crate::policy::cache_control::CacheControl;
use crate::policy::forward_policy::ForwardMode;
use crate::policy::freshness::AgeClock;
use crate::policy::freshness::TtlPolicy;
use crate::policy::headers::{merge_tags, take_purge_tags};
use crate::policy::key_policy::{Credentials, unkeyed_credentials};
use crate::policy::range::ByteRange;
use crate::policy::reuse::{OriginTrouble, may_serve_stale_on_error};
use crate::policy::storable::{self, RequestFacts, ResponseFacts, Storable, StoreRules};
use crate::policy::vary::{self, Vary};
use crate::policy::{targeted, update};
use crate::respond::content_length;
use crate::route::Behavior;
use crate::status::NotStored;

/// A stored response the fill may revalidate or fall back to.
pub(crate) struct Prior {
    pub(crate) entry: Arc<Entry>,
    pub(crate) store_key: CacheKey,
}

/// What the fill task tells the leading request.
pub(crate) enum LeaderOutcome<E> {
    /// The response is shared: read it from the fill.
    Shared(Published),
    /// Not shareable: this response is the leader's alone.
    Own(Response<OriginBody>, NotStored),
    /// The origin failed.
    Failed(OriginError),
    /// The inner service failed.
    Service(E),
}

/// One fill's origin work.
pub(crate) struct FillTask {
    pub(crate) edge: Arc<Edge>,
    pub(crate) behavior: Arc<Behavior>,
    /// The URI's primary key (variants are stored under it).
    pub(crate) primary: CacheKey,
    /// The leader's request headers (for the storing rules and `Vary`).
    pub(crate) req_headers: HeaderMap,
    pub(crate) req_cc: CacheControl,
    pub(crate) prior: Option<Prior>,
    /// Taken when the fill began: invalidations issued later cover its result.
    pub(crate) seq: u64,
    /// When the fill began, by the wall clock (what the disk tier orders
    /// its writes and purges by, across restarts).
    pub(crate) began: SystemTime,
    /// For a slice fill (see `slice.rs`): the byte range asked of the
    /// origin, which must answer exactly it in a 206.
    pub(crate) slice: Option<ByteRange>,
    pub(crate) writer: FillWriter,
    /// Counts the fill in its route's `fills_in_flight` until dropped.
    pub(crate) _gauge: FillGauge,
    /// Dropped last (after the entry is stored) or when the task is
    /// aborted: either way the key leaves the table of fills.
    pub(crate) registration: Registration,
}

/// One fill in flight of a route, for its gauge.
pub(crate) struct FillGauge(Arc<crate::observe::routes::RouteStats>);

impl FillGauge {
    fn new(stats: &Arc<crate::observe::routes::RouteStats>) -> Self {
        stats.fill(1);
        FillGauge(Arc::clone(stats))
    }
}

impl Drop for FillGauge {
    fn drop(&mut self) {
        self.0.fill(-1);
    }
}

pub(super) type Tx<E> = Option<oneshot::Sender<LeaderOutcome<E>>>;

pub(super) fn tell<E>(tx: Tx<E>, outcome: LeaderOutcome<E>) {
    if let Some(tx) = tx {
        // The leader may be gone; the fill goes on for the followers.
        let _ = tx.send(outcome);
    }
}

impl FillTask {
    /// A fill led by this request; its sequence number is taken now, so
    /// invalidations issued from here on cover its result.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        edge: &Arc<Edge>,
        behavior: &Arc<Behavior>,
        primary: CacheKey,
        req_headers: HeaderMap,
        req_cc: CacheControl,
        prior: Option<Prior>,
        writer: FillWriter,
        registration: Registration,
    ) -> Self {
        FillTask {
            edge: Arc::clone(edge),
            behavior: Arc::clone(behavior),
            primary,
            req_headers,
            req_cc,
            prior,
            seq: edge.cache.next_seq(),
            began: SystemTime::now(),
            slice: None,
            writer,
            _gauge: FillGauge::new(behavior.route_stats(&edge.observe.metrics)),
            registration,
        }
    }

    pub(crate) async fn run<S, ReqB, ResB>(self, inner: S, parts: Parts, body: ReqB, tx: Tx<S::Error>)
    where
        S: App<ReqB, ResB>,
        ReqB: HttpBody,
        ResB: HttpBody,
    {
        // The further tiers first: disk, then another edge's fill.
        let mut parts = parts;
        let Some((task, tier, tx)) = self.tiers(&mut parts, tx).await else { return };
        let request_time = task.edge.now();
        let started = std::time::Instant::now();
        // Requests that follow this fill link to its fetch's span.
        let span = telemetry::start_fetch(&mut parts, &task.behavior.origin);
        task.writer.fill().set_fetch_link(span.link());
        parts.extensions.insert(BalanceKey::of(&task.primary));
        let fetched = task.behavior.origin.fetch(inner, parts, body, false).await;
        span.end(&fetched);
        task.settle(fetched, started, request_time, tx, tier).await;
    }

    /// Serves what a further tier holds (then `None`), or returns the
    /// fill's stake for the fetch; a stale disk copy becomes the response
    /// the fetch revalidates.
    #[cfg_attr(not(feature = "disk"), allow(unused_variables))]
    async fn tiers<E>(self, parts: &mut Parts, tx: Tx<E>) -> Option<(Self, Tier, Tx<E>)> {
        match super::tier::before_origin(&self).await {
            #[cfg(feature = "disk")]
            Before::Disk(hit) => {
                self.serve_disk(hit, tx).await;
                None
            }
            #[cfg(feature = "l2")]
            Before::Hit(found) => {
                self.serve_l2(found, tx);
                None
            }
            Before::Fetch(tier) => Some((self, tier, tx)),
            #[cfg(feature = "disk")]
            Before::Revalidate(tier, prior) => {
                let mut task = self;
                for (name, value) in &crate::policy::conditional::revalidation_headers(&prior.entry.head().headers) {
                    parts.headers.insert(name, value.clone());
                }
                task.prior = Some(prior);
                Some((task, tier, tx))
            }
        }
    }

    /// Runs a fill against a configured origin (not the app), with no
    /// request content: a slice of a large object.
    pub(crate) async fn run_remote(self, parts: Parts, tx: Tx<std::convert::Infallible>) {
        let mut parts = parts;
        let Some((task, tier, tx)) = self.tiers(&mut parts, tx).await else { return };
        let request_time = task.edge.now();
        let started = std::time::Instant::now();
        let empty = http_body_util::Empty::<bytes::Bytes>::new();
        let span = telemetry::start_fetch(&mut parts, &task.behavior.origin);
        task.writer.fill().set_fetch_link(span.link());
        parts.extensions.insert(BalanceKey::of(&task.primary));
        let fetched = match task.behavior.origin.fetch_remote(parts, empty, false).await {
            Ok(resp) => Fetched::Response(resp),
            Err(e) => Fetched::Failed(e),
        };
        span.end(&fetched);
        task.settle(fetched, started, request_time, tx, tier).await;
    }

    /// What follows the origin's answer (or failure).
    async fn settle<E>(
        self,
        fetched: Fetched<E>,
        started: std::time::Instant,
        request_time: SystemTime,
        tx: Tx<E>,
        tier: Tier,
    ) {
        super::record_fetch(&self.edge, &self.behavior, started, &fetched);
        let response_time = self.edge.now();
        match fetched {
            Fetched::Response(resp) => self.on_response(resp, request_time, response_time, tx, tier).await,
            Fetched::Failed(err) => {
                if self.stale_allowed(OriginTrouble::Unreachable, response_time) {
                    self.serve_stale(None, tx);
                } else {
                    drop(self);
                    tell(tx, LeaderOutcome::Failed(err));
                }
            }
            Fetched::Service(err) => {
                drop(self);
                tell(tx, LeaderOutcome::Service(err));
            }
        }
    }

    /// Whether the disk tier takes a response of this announced length.
    fn disk_takes(&self, expected_len: Option<u64>) -> bool {
        #[cfg(feature = "disk")]
        if let Some(disk) = self.edge.cache.disk() {
            return expected_len.is_none_or(|n| n <= disk.config().largest_object());
        }
        let _ = expected_len;
        false
    }

    /// Whether this request's key holds a cookie: then a `Set-Cookie`
    /// response is shared only with requests that carry the same keyed
    /// cookie values (the same visitor). A request with no keyed cookie
    /// shares its key with every anonymous visitor, so its `Set-Cookie`
    /// (a new session, say) is never stored.
    /// The app as origin saw cookies the key does not hold.
    fn unkeyed_cookies(&self) -> bool {
        self.behavior.forward_mode == ForwardMode::App
            && crate::policy::key_policy::has_unkeyed_cookies(&self.behavior.key, &self.req_headers)
    }

    /// The leader's request carries credentials outside the key and its
    /// origin sees them: only an entry stored as explicitly shared
    /// (`public`, `s-maxage`) may answer it.
    pub(super) fn private(&self) -> bool {
        self.behavior.forward_mode == ForwardMode::App
            && unkeyed_credentials(&self.behavior.key, &self.req_headers) != Credentials::None
    }

    fn keyed_on_cookies(&self) -> bool {
        let keyed = &self.behavior.key.cookies;
        !keyed.is_none() && crate::policy::key_policy::cookies(&self.req_headers).any(|(name, _)| keyed.selects(name))
    }

    fn stale_allowed(&self, trouble: OriginTrouble, now: SystemTime) -> bool {
        self.prior.as_ref().is_some_and(|p| may_serve_stale_on_error(&p.entry.head().meta, trouble, now))
    }

    async fn on_response<E>(
        mut self,
        resp: Response<OriginBody>,
        request_time: SystemTime,
        response_time: SystemTime,
        tx: Tx<E>,
        tier: Tier,
    ) {
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            match &self.prior {
                Some(prior) if update::validates(&prior.entry.head().headers, resp.headers()) => {
                    let headers = resp.headers().clone();
                    return self.freshen(&headers, request_time, response_time, tx, tier);
                }
                // A 304 we did not ask for, or for another representation.
                _ => {
                    if let Some(prior) = &self.prior {
                        self.edge.cache.remove(&prior.store_key);
                    }
                    drop(self);
                    tell(tx, LeaderOutcome::Failed(OriginError::protocol("unexpected 304 from the origin")));
                    return;
                }
            }
        }
        if status.is_server_error() && self.stale_allowed(OriginTrouble::ServerError, response_time) {
            return self.serve_stale(Some(status), tx);
        }
        // A slice is stored only as the exact 206 asked for; anything else
        // (a whole 200, another range) goes back to the request that asked.
        if let Some(want) = self.slice
            && !crate::policy::range::is_exact_slice(status, resp.headers(), want)
        {
            let FillTask { writer, registration, .. } = self;
            drop(registration);
            writer.release(NotStored::Partial);
            tell(tx, LeaderOutcome::Own(resp, NotStored::Partial));
            return;
        }
        // A first slice that is the whole object is the object: stored as
        // the complete 200 under the URI's own key, so every later request,
        // ranged or not, is a hit.
        let mut resp = resp;
        let mut status = status;
        if self.slice.is_some()
            && let Some(total) = crate::policy::range::whole_length(resp.headers())
        {
            status = StatusCode::OK;
            *resp.status_mut() = status;
            resp.headers_mut().remove(header::CONTENT_RANGE);
            resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(total));
            self.primary = Arc::from(crate::cache::key::primary_of(&self.primary));
            self.slice = None;
        }
        // A slice is judged as the whole response it is part of.
        let judged_status = if self.slice.is_some() { StatusCode::OK } else { status };

        #[cfg_attr(not(feature = "compression"), allow(unused_mut))]
        let (mut head_parts, mut origin_body) = resp.into_parts();
        #[cfg(feature = "compression")]
        if self.behavior.compress && compress::eligible(status, &head_parts.headers) {
            // Every encoding of this object is a variant, the identity one too.
            compress::vary_on_accept_encoding(&mut head_parts.headers);
            if let Some(coding) = compress::negotiate(&self.req_headers) {
                compress::encode_head(&mut head_parts.headers, coding);
                origin_body = compress::encode_body(origin_body, coding);
            }
        }
        // The origin response hook, before the store decision (it may set a
        // `CacheHint`); a panic fails the fill, nothing stored.
        if let Some(hook) = &self.behavior.hooks.origin_response
            && crate::hooks::guarded(|| hook(&mut head_parts)).is_err()
        {
            self.edge.observe.metrics.hook_failed();
            drop(self);
            tell(tx, LeaderOutcome::Failed(OriginError::hook("the origin response hook panicked")));
            return;
        }
        // A handler's typed hint is read instead of its headers.
        let hint = head_parts.extensions.remove::<CacheHint>();
        let eff = match &hint {
            Some(h) if h.sets_lifetime() => h.effective(),
            _ => targeted::effective(&head_parts.headers, &self.edge.settings.targeted),
        };
        // A response the edge built (an S3 error mapped to a short page)
        // says `no-store`, and a minimum TTL does not override that: only
        // an origin's directives are CloudFront's to override.
        let edge_ttl;
        let ttl = if head_parts.extensions.get::<EdgeBuilt>().is_some() && !self.behavior.ttl.min_ttl.is_zero() {
            edge_ttl = TtlPolicy { min_ttl: std::time::Duration::ZERO, ..self.behavior.ttl.clone() };
            &edge_ttl
        } else {
            &self.behavior.ttl
        };
        let decision = if hint.as_ref().is_some_and(CacheHint::is_private) {
            Err(NotStored::Private)
        } else {
            storable::evaluate(
                RequestFacts { method: &http::Method::GET, headers: &self.req_headers, cc: &self.req_cc },
                ResponseFacts { status: judged_status, headers: &head_parts.headers, eff: &eff },
                StoreRules { ttl, cookies_in_key: self.keyed_on_cookies(), unkeyed_cookies: self.unkeyed_cookies() },
                response_time,
            )
        };
        // A slice is exactly its `Content-Range`, whatever the framing says
        // (a body cut short by a closed connection is not a slice).
        let expected_len = match self.slice {
            Some(_) => crate::policy::range::enclosed_len(&head_parts.headers),
            None => content_length(&head_parts.headers),
        };
        // Too large for memory: stored on disk if it fits there, else
        // streamed to the requests that join before its start is dropped
        // (a range asked of an object nothing stores goes to the origin).
        let too_large = expected_len.is_some_and(|n| n > self.edge.cache.max_entry_bytes());
        let on_disk = self.disk_takes(expected_len);
        let decision = match decision {
            Ok(_) if too_large && !on_disk && self.req_headers.contains_key(header::RANGE) => Err(NotStored::TooLarge),
            other => other,
        };
        let storable = match decision {
            Ok(s) => s,
            Err(reason) => {
                self.edge.cache.remember_not_stored(&self.primary, reason, response_time);
                // What was stored is outdated by this answer.
                if let Some(prior) = &self.prior {
                    self.edge.cache.remove(&prior.store_key);
                }
                self.edge.cache.remove_from_disk(&self.primary);
                let FillTask { writer, registration, .. } = self;
                drop(registration);
                writer.release(reason);
                tell(tx, LeaderOutcome::Own(Response::from_parts(head_parts, origin_body), reason));
                return;
            }
        };

        targeted::strip(&mut head_parts.headers, &self.edge.settings.targeted);
        let mut tags = take_purge_tags(&mut head_parts.headers);
        if let Some(hint) = hint.as_ref().filter(|h| !h.tag_list().is_empty()) {
            tags = merge_tags(tags, hint.tag_list());
        }
        for name in &storable.strip {
            head_parts.headers.remove(name);
        }
        ensure_date(&mut head_parts.headers, response_time);
        let clock = AgeClock::new(&head_parts.headers, request_time, response_time);
        let head = Arc::new(Head { status, headers: head_parts.headers, meta: storable.meta(clock) });
        let vary_key = match &storable.vary {
            Vary::Fields(fields) => Some(Arc::from(vary::secondary_key(fields, &self.req_headers))),
            _ => None,
        };
        let served = if too_large && !on_disk {
            self.edge.cache.remember_not_stored(&self.primary, NotStored::TooLarge, response_time);
            Served::Streamed(NotStored::TooLarge)
        } else {
            Served::Origin
        };
        if too_large {
            self.writer.stream_only();
            // Not in memory: what memory holds for it is outdated.
            if let Some(prior) = &self.prior {
                self.edge.cache.remove(&prior.store_key);
            }
            if !on_disk {
                self.edge.cache.remove_from_disk(&self.primary);
            }
        }
        let mut disk = DiskTap::begin(&self, &storable.vary, expected_len, on_disk);
        if too_large {
            disk.offer_to_late_readers(&self, expected_len);
        }
        let published = Published { head: Arc::clone(&head), served, vary_key, file: None };
        self.writer.publish_head(published.clone());
        tell(tx, LeaderOutcome::Shared(published));

        let FillTask { edge, behavior, primary, req_headers, writer, registration, seq, .. } = self;
        let timeout = behavior.origin.response_timeout();
        if let Pumped::Complete(writer, tail) =
            pump(origin_body, writer, timeout, expected_len, |fill| edge.cache.unlist(fill), &mut disk).await
        {
            // Not in memory: the next request finds it on disk only once the
            // write is committed, so readers see the end after that.
            let in_memory = writer.is_shared();
            let committed = disk.commit(&edge, &primary, &head, &tags, &storable.vary, writer.fill().is_invalidated());
            if !in_memory && let Some(committed) = committed {
                let _ = tokio::time::timeout(DISK_COMMIT_WAIT, committed).await;
            }
            // Store first, then let readers see the end: a client that asks
            // again right after its body ended finds the entry.
            writer.finish_with(tail, |chunks| {
                let stored = Stored { head: Head::clone(&head), chunks, vary: &storable.vary, seq, tags };
                if let Some(entry) = edge.cache.insert(&primary, stored, &req_headers) {
                    tier.write(&edge, &primary, &entry, &storable.vary, &req_headers);
                }
            });
        }
        drop(registration);
    }

    /// §4.3.3/§4.3.4: a 304 freshens the stored response; everyone gets
    /// the stored body with the updated head, and the store is updated.
    fn freshen<E>(
        self,
        not_modified: &HeaderMap,
        request_time: SystemTime,
        response_time: SystemTime,
        tx: Tx<E>,
        tier: Tier,
    ) {
        let Some(prior) = &self.prior else { return };
        let old = prior.entry.head();
        let mut headers = update::freshen(&old.headers, not_modified);
        let eff = targeted::effective(&headers, &self.edge.settings.targeted);
        let decision = storable::evaluate(
            RequestFacts { method: &http::Method::GET, headers: &self.req_headers, cc: &self.req_cc },
            ResponseFacts { status: old.status, headers: &headers, eff: &eff },
            StoreRules {
                ttl: &self.behavior.ttl,
                cookies_in_key: self.keyed_on_cookies(),
                unkeyed_cookies: self.unkeyed_cookies(),
            },
            response_time,
        );
        targeted::strip(&mut headers, &self.edge.settings.targeted);
        let clock = AgeClock::new(&headers, request_time, response_time);
        let (meta, storable) = match decision {
            Ok(s) => (s.meta(clock), Some(s)),
            // Still this client's answer, but no longer storable.
            Err(_) => (Storable::uncacheable_meta(clock), None),
        };
        let head = Head { status: old.status, headers, meta };
        let published =
            Published { head: Arc::new(head.clone()), served: Served::Revalidated, vary_key: None, file: None };
        self.writer.publish_head(published.clone());
        tell(tx, LeaderOutcome::Shared(published));
        // Store first, then let readers have the body (see `finish_with`).
        match &storable {
            Some(s) if !self.writer.fill().is_invalidated() => {
                let tags: Box<[Box<str>]> = prior.entry.tags().into();
                let stored = Stored { head, chunks: prior.entry.body(), vary: &s.vary, seq: self.seq, tags };
                if let Some(entry) = self.edge.cache.insert(&self.primary, stored, &self.req_headers) {
                    tier.write(&self.edge, &self.primary, &entry, &s.vary, &self.req_headers);
                    // The disk keeps the freshened copy too.
                    let mut disk =
                        DiskTap::begin(&self, &s.vary, Some(entry.body().iter().map(|b| b.len() as u64).sum()), true);
                    for chunk in entry.body() {
                        crate::body::tee::Tap::chunk(&mut disk, chunk);
                    }
                    let _ = disk.commit(&self.edge, &self.primary, entry.head(), entry.tags(), &s.vary, false);
                }
            }
            _ => {
                self.edge.cache.remove(&prior.store_key);
            }
        }
        for chunk in prior.entry.body() {
            self.writer.push(chunk.clone());
        }
        let FillTask { writer, registration, .. } = self;
        writer.complete();
        drop(registration);
    }

    /// RFC 5861 §4 / RFC 9111 §4.2.4: the origin failed; everyone gets the
    /// stored response, stale, and it stays stored.
    fn serve_stale<E>(self, origin_status: Option<StatusCode>, tx: Tx<E>) {
        let Some(prior) = &self.prior else { return };
        let head = Arc::new(Head::clone(prior.entry.head()));
        let published = Published { head, served: Served::StaleOnError(origin_status), vary_key: None, file: None };
        self.writer.publish_head(published.clone());
        tell(tx, LeaderOutcome::Shared(published));
        for chunk in prior.entry.body() {
            self.writer.push(chunk.clone());
        }
        let FillTask { writer, registration, .. } = self;
        writer.complete();
        drop(registration);
    }
}

/// How long a fill whose body is not kept in memory waits for its disk
/// write to be committed before its readers see the end.
const DISK_COMMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The fill's write to the disk tier, if any: a second destination of the
/// pump's chunks.
struct DiskTap {
    #[cfg(feature = "disk")]
    write: Option<crate::cache::disk::DiskWrite>,
}

impl DiskTap {
    #[cfg_attr(not(feature = "disk"), allow(unused_variables))]
    fn begin(task: &FillTask, vary: &Vary, expected_len: Option<u64>, on_disk: bool) -> Self {
        #[cfg(feature = "disk")]
        {
            let write = task.edge.cache.disk().filter(|_| on_disk).and_then(|disk| {
                let key = crate::cache::disk::Disk::key_for(&task.primary, vary, &task.req_headers);
                disk.begin(&key, task.began, expected_len)
            });
            DiskTap { write }
        }
        #[cfg(not(feature = "disk"))]
        DiskTap {}
    }

    /// Lets requests that arrive once the fill's start has left memory
    /// read the body from the disk write.
    #[cfg_attr(not(feature = "disk"), allow(unused_variables))]
    fn offer_to_late_readers(&self, task: &FillTask, expected_len: Option<u64>) {
        #[cfg(feature = "disk")]
        if let (Some(write), Some(len)) = (&self.write, expected_len) {
            let source = crate::cache::disk::FileSource::Spill(Arc::clone(write.state()), len);
            task.writer.fill().set_spill(source);
        }
    }

    /// Commits the write (unless an invalidation covers the fill); the
    /// receiver resolves once the entry is on disk.
    #[cfg_attr(not(feature = "disk"), allow(unused_variables))]
    fn commit(
        &mut self,
        edge: &Edge,
        primary: &str,
        head: &Head,
        tags: &[Box<str>],
        vary: &Vary,
        invalidated: bool,
    ) -> Option<oneshot::Receiver<bool>> {
        #[cfg(feature = "disk")]
        {
            use crate::cache::disk::Disk;
            let write = self.write.take()?;
            let disk = edge.cache.disk()?;
            if invalidated {
                return None;
            }
            let meta = Disk::entry_meta(&write, head, tags)?;
            disk.write_marker(primary, vary, write.began());
            Some(write.commit(meta, tags.into()))
        }
        #[cfg(not(feature = "disk"))]
        None
    }
}

impl crate::body::tee::Tap for DiskTap {
    fn chunk(&mut self, _data: &bytes::Bytes) {
        #[cfg(feature = "disk")]
        if let Some(w) = &mut self.write {
            w.chunk(_data);
        }
    }

    fn poll_room(&self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        #[cfg(feature = "disk")]
        if let Some(w) = &self.write {
            return w.poll_room(_cx);
        }
        std::task::Poll::Ready(())
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
