//! CloudFront's report views, computed at the edge over a sliding window
//! ([`CacheHandle::popular_objects`], [`CacheHandle::top_referrers`],
//! [`CacheHandle::timeline`]), and the counters per distribution,
//! behavior and origin ([`CacheHandle::routes`]). The admin API serves
//! them as `GET /reports/...` and in `GET /stats`.

use serde::Serialize;

use crate::CacheHandle;
use crate::cache::key;
use crate::observe::record::ResultType;

/// An object among the most requested, from [`CacheHandle::popular_objects`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PopularObject {
    /// Its host.
    pub host: String,
    /// Its path and query.
    pub path: String,
    /// Requests it surely had in the window (counted since the sketch
    /// began tracking it; ranked by this).
    pub requests: u64,
    /// Body bytes sent for those requests.
    pub bytes: u64,
    /// Share of those requests answered from the cache.
    pub hit_ratio: f64,
    /// How many more requests it may have had before it was tracked (0: exact).
    pub error: u64,
}

/// A referring host, from [`CacheHandle::top_referrers`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Referrer {
    /// The host of the `Referer` header.
    pub referrer: String,
    /// Requests it surely sent in the window.
    pub requests: u64,
    /// How many more it may have sent before it was tracked (0: exact).
    pub error: u64,
}

/// One minute of [`CacheHandle::timeline`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TimelinePoint {
    /// Start of the minute, in seconds since the Unix epoch.
    pub start: u64,
    /// Responses by CloudFront result type (`Hit`, `Miss`, `Error`, ...).
    pub requests: Vec<(&'static str, u64)>,
    /// Responses by status class (`2xx`, ...).
    pub statuses: Vec<(&'static str, u64)>,
    /// Body bytes sent.
    pub bytes: u64,
    /// Of which from the cache.
    pub bytes_from_cache: u64,
}

/// The counters of one (distribution, behavior, origin), from
/// [`CacheHandle::routes`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RouteCounters {
    /// The distribution's id (`default` for the single-origin setup).
    pub distribution: String,
    /// The behavior's path pattern.
    pub behavior: String,
    /// The origin's id (`default` for the single-origin setup).
    pub origin: String,
    /// Responses by result type.
    pub requests: Vec<(ResultType, u64)>,
    /// Responses by the tier that answered: `memory`, `disk`, `l2`, `origin`.
    pub tiers: Vec<(&'static str, u64)>,
    /// Hits (and refresh hits) ÷ (hits + misses).
    pub hit_ratio: f64,
    /// Body bytes sent from the cache.
    pub bytes_from_cache: u64,
    /// Body bytes sent from origin fetches.
    pub bytes_from_origin: u64,
    /// Requests sent to the origin.
    pub origin_fetches: u64,
    /// Of which failed (connect, timeout, protocol, 5xx).
    pub origin_errors: u64,
    /// Mean time to the origin's response head, in seconds.
    pub origin_mean_seconds: f64,
    /// Origin fetches filling the cache now.
    pub fills_in_flight: i64,
}

/// What [`CacheHandle::popular_objects`] ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PopularBy {
    /// Requests.
    #[default]
    Requests,
    /// Body bytes sent.
    Bytes,
}

/// Seconds the reports' window covers at least (it covers up to twice this).
pub const REPORT_WINDOW_SECS: u64 = crate::observe::reports::PERIOD_SECS;

impl CacheHandle {
    fn epoch_secs(&self) -> u64 {
        self.edge().now().duration_since(std::time::SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }

    /// The most requested objects of the last 5 to 10 minutes (a bounded
    /// Space-Saving sketch: the heaviest are exact; each count is one the
    /// object surely had, and `error` how many more it may have had), with
    /// their hit ratio.
    pub fn popular_objects(&self, by: PopularBy, limit: usize) -> Vec<PopularObject> {
        let reports = &self.edge().observe.metrics.reports;
        reports
            .popular(self.epoch_secs(), by == PopularBy::Bytes, limit)
            .into_iter()
            .map(|h| PopularObject {
                host: key::key_host(&h.key).to_owned(),
                path: key::key_path(&h.key).to_owned(),
                hit_ratio: h.hit_ratio(),
                requests: h.requests,
                bytes: h.bytes,
                error: h.error,
            })
            .collect()
    }

    /// The referring hosts that sent the most requests in the last 5 to 10 minutes.
    pub fn top_referrers(&self, limit: usize) -> Vec<Referrer> {
        let reports = &self.edge().observe.metrics.reports;
        reports
            .referrers(self.epoch_secs(), limit)
            .into_iter()
            .map(|h| Referrer { referrer: h.key, requests: h.requests, error: h.error })
            .collect()
    }

    /// Requests by result and status class, and bytes, per minute of the
    /// last hour (oldest first).
    pub fn timeline(&self) -> Vec<TimelinePoint> {
        let reports = &self.edge().observe.metrics.reports;
        reports
            .timeline(self.epoch_secs())
            .into_iter()
            .map(|p| TimelinePoint {
                start: p.start,
                requests: p.requests,
                statuses: p.statuses,
                bytes: p.bytes,
                bytes_from_cache: p.bytes_from_cache,
            })
            .collect()
    }

    /// The counters of every (distribution, behavior, origin) that served
    /// a request (at most 512 label sets; later ones are summed under
    /// `_other`).
    pub fn routes(&self) -> Vec<RouteCounters> {
        self.edge()
            .observe
            .metrics
            .routes
            .snapshots()
            .into_iter()
            .map(|r| RouteCounters {
                hit_ratio: r.hit_ratio(),
                origin_mean_seconds: if r.origin_fetches == 0 { 0.0 } else { r.latency_sum / r.origin_fetches as f64 },
                distribution: r.distribution,
                behavior: r.behavior,
                origin: r.origin,
                requests: r.requests,
                tiers: r.tiers,
                bytes_from_cache: r.bytes_from_cache,
                bytes_from_origin: r.bytes_from_origin,
                origin_fetches: r.origin_fetches,
                origin_errors: r.origin_errors,
                fills_in_flight: r.fills_in_flight,
            })
            .collect()
    }
}
