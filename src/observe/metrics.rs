//! Counters for Prometheus (`prometheus-client`, feature `metrics`),
//! readable in layer mode through
//! [`CacheHandle::stats`](crate::CacheHandle::stats) with or without that
//! feature. Hot-path updates are single atomic adds on pre-created
//! counters.

use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "metrics")]
use prometheus_client::encoding::EncodeLabelSet;
#[cfg(feature = "metrics")]
use prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram};
#[cfg(feature = "metrics")]
use prometheus_client::registry::Registry;

#[cfg(not(feature = "metrics"))]
use lite::{Counter, Family, Gauge, Histogram, Registry};

use super::record::ResultType;

/// Without the `metrics` feature: the same counters as plain atomics, for
/// [`Stats`], with nothing to export (no registry, no histogram).
#[cfg(not(feature = "metrics"))]
mod lite {
    use std::marker::PhantomData;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

    #[derive(Clone, Debug, Default)]
    pub(super) struct Counter(Arc<AtomicU64>);

    impl Counter {
        pub(super) fn inc(&self) {
            self.0.fetch_add(1, Relaxed);
        }
        pub(super) fn inc_by(&self, n: u64) {
            self.0.fetch_add(n, Relaxed);
        }
        pub(super) fn get(&self) -> u64 {
            self.0.load(Relaxed)
        }
    }

    #[derive(Clone, Debug, Default)]
    pub(super) struct Gauge(Arc<AtomicI64>);

    impl Gauge {
        pub(super) fn set(&self, v: i64) {
            self.0.store(v, Relaxed);
        }
        pub(super) fn get(&self) -> i64 {
            self.0.load(Relaxed)
        }
    }

    /// Latencies are exported only; without an exporter they are dropped.
    #[derive(Clone, Debug)]
    pub(super) struct Histogram;

    impl Histogram {
        pub(super) fn new(_buckets: impl IntoIterator<Item = f64>) -> Self {
            Histogram
        }
        pub(super) fn observe(&self, _v: f64) {}
    }

    /// Each label set's counter is created once, up front, and kept.
    pub(super) struct Family<L, C>(PhantomData<(L, C)>);

    impl<L, C> Default for Family<L, C> {
        fn default() -> Self {
            Family(PhantomData)
        }
    }

    impl<L, C> Clone for Family<L, C> {
        fn clone(&self) -> Self {
            Family(PhantomData)
        }
    }

    impl<L, C: Default> Family<L, C> {
        pub(super) fn get_or_create(&self, _labels: &L) -> C {
            C::default()
        }
    }

    pub(super) struct Registry;

    impl Registry {
        pub(super) fn with_prefix(_prefix: &str) -> Self {
            Registry
        }
        pub(super) fn register<M>(&mut self, _name: &str, _help: &str, _metric: M) {}
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
#[cfg_attr(feature = "metrics", derive(EncodeLabelSet))]
struct RequestLabels {
    result_type: &'static str,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
#[cfg_attr(feature = "metrics", derive(EncodeLabelSet))]
struct SourceLabels {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
#[cfg_attr(feature = "metrics", derive(EncodeLabelSet))]
struct ErrorLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
#[cfg_attr(feature = "metrics", derive(EncodeLabelSet))]
struct L2Labels {
    result: &'static str,
}

/// The outcome of one L2 lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L2Result {
    Hit,
    Miss,
    /// A value failed its checks (treated as a miss).
    Corrupt,
    /// Covered by a fleet invalidation (treated as a miss).
    Purged,
    /// Redis unavailable (treated as a miss).
    Error,
}

impl L2Result {
    const ALL: [L2Result; 5] = [L2Result::Hit, L2Result::Miss, L2Result::Corrupt, L2Result::Purged, L2Result::Error];
    fn label(self) -> &'static str {
        match self {
            L2Result::Hit => "hit",
            L2Result::Miss => "miss",
            L2Result::Corrupt => "corrupt",
            L2Result::Purged => "purged",
            L2Result::Error => "error",
        }
    }
}

const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// Kinds of origin failure counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OriginFailure {
    Connect,
    Timeout,
    Protocol,
    Status5xx,
}

impl OriginFailure {
    const ALL: [OriginFailure; 4] =
        [OriginFailure::Connect, OriginFailure::Timeout, OriginFailure::Protocol, OriginFailure::Status5xx];
    fn label(self) -> &'static str {
        match self {
            OriginFailure::Connect => "connect",
            OriginFailure::Timeout => "timeout",
            OriginFailure::Protocol => "protocol",
            OriginFailure::Status5xx => "status_5xx",
        }
    }
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Responses by result type (`Hit`, `Miss`, ...).
    pub requests: Vec<(ResultType, u64)>,
    /// Hits (incl. refresh hits) ÷ cacheable lookups (hits + misses).
    pub hit_ratio: f64,
    /// Body bytes served from the cache.
    pub bytes_from_cache: u64,
    /// Body bytes served from origin fetches.
    pub bytes_from_origin: u64,
    /// Requests sent to origins.
    pub origin_fetches: u64,
    /// Origin failures (connect, timeout, invalid response, 5xx).
    pub origin_errors: u64,
    /// Requests that joined another request's origin fetch.
    pub coalesced_waiters: u64,
    /// Stored entries.
    pub entries: u64,
    /// Bytes held by stored entries.
    pub cached_bytes: u64,
    /// Entries evicted for capacity.
    pub evictions: u64,
    /// Invalidation requests.
    pub invalidations: u64,
    /// Hooks that panicked (each answered its request with a 500).
    pub hook_failures: u64,
    /// Access-log records dropped because the writer was behind.
    pub log_records_dropped: u64,
    /// L2 (Redis) lookups that found a usable entry.
    pub l2_hits: u64,
    /// L2 lookups that found nothing usable (absent, corrupt, purged, or Redis unavailable).
    pub l2_misses: u64,
    /// Entries written to L2.
    pub l2_writes: u64,
    /// Failed or timed-out Redis commands.
    pub l2_errors: u64,
    /// `true` while L2 is configured and Redis answers.
    pub l2_up: bool,
    /// Fills that waited for another edge's fill (fleet coalescing).
    pub fleet_waits: u64,
    /// Files in the disk tier.
    pub disk_entries: u64,
    /// Bytes the disk tier's files take.
    pub disk_bytes: u64,
    /// Disk lookups that found a whole, matching entry.
    pub disk_hits: u64,
    /// Responses served from the disk tier (a lookup's, and those that joined it).
    pub disk_served: u64,
    /// Disk lookups that found none (absent, purged, corrupt, unreadable).
    pub disk_misses: u64,
    /// Entries written to disk.
    pub disk_writes: u64,
    /// Disk writes given up (over the size limit, cut short, failed).
    pub disk_writes_abandoned: u64,
    /// Disk IO errors (full or read-only disk, ...): each degraded to memory and origin.
    pub disk_errors: u64,
    /// Disk entries found damaged (short, bad checksum, another key): deleted.
    pub disk_corrupt: u64,
    /// Disk entries evicted for capacity.
    pub disk_evictions: u64,
}

/// The layer's counters.
pub(crate) struct Metrics {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    registry: Registry,
    requests: Vec<Vec<Counter>>,
    bytes_cache: Counter,
    bytes_origin: Counter,
    origin_fetches: Counter,
    origin_errors: Vec<Counter>,
    origin_latency: Histogram,
    coalesced: Counter,
    invalidations: Counter,
    hook_failures: Counter,
    l2_lookups: Vec<Counter>,
    l2_writes: Counter,
    l2_errors: Counter,
    l2_up: Gauge,
    fleet_waits: Counter,
    /// Counters per (distribution, behavior, origin).
    pub(crate) routes: super::routes::Routes,
    /// Popular objects, referrers and the timeline.
    pub(crate) reports: super::reports::Reports,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("tower_cdn");
        let requests_family = Family::<RequestLabels, Counter>::default();
        registry.register("requests", "Responses by CloudFront result type and status class", requests_family.clone());
        let requests = ResultType::ALL
            .iter()
            .map(|r| {
                STATUS_CLASSES
                    .iter()
                    .map(|c| {
                        requests_family
                            .get_or_create(&RequestLabels { result_type: r.as_str(), status_class: c })
                            .clone()
                    })
                    .collect()
            })
            .collect();
        let bytes = Family::<SourceLabels, Counter>::default();
        registry.register("response_body_bytes", "Body bytes sent to clients, by where they came from", bytes.clone());
        let bytes_cache = bytes.get_or_create(&SourceLabels { source: "cache" }).clone();
        let bytes_origin = bytes.get_or_create(&SourceLabels { source: "origin" }).clone();
        let origin_fetches = Counter::default();
        registry.register("origin_fetches", "Requests sent to origins", origin_fetches.clone());
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register("origin_errors", "Origin failures by kind", errors.clone());
        let origin_errors =
            OriginFailure::ALL.iter().map(|k| errors.get_or_create(&ErrorLabels { kind: k.label() }).clone()).collect();
        let origin_latency = Histogram::new([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]);
        registry.register("origin_response_seconds", "Time to the origin's response head", origin_latency.clone());
        let coalesced = Counter::default();
        registry.register(
            "coalesced_waiters",
            "Requests that shared another request's origin fetch",
            coalesced.clone(),
        );
        let invalidations = Counter::default();
        registry.register("invalidations", "Invalidation requests (paths, tags or all)", invalidations.clone());
        let hook_failures = Counter::default();
        registry.register("hook_failures", "Hooks that panicked (a 500 for their request)", hook_failures.clone());
        let lookups = Family::<L2Labels, Counter>::default();
        registry.register("l2_lookups", "L2 (Redis) lookups by result", lookups.clone());
        let l2_lookups =
            L2Result::ALL.iter().map(|r| lookups.get_or_create(&L2Labels { result: r.label() }).clone()).collect();
        let l2_writes = Counter::default();
        registry.register("l2_writes", "Entries written to L2", l2_writes.clone());
        let l2_errors = Counter::default();
        registry.register("l2_errors", "Failed or timed-out Redis commands", l2_errors.clone());
        let l2_up = Gauge::default();
        registry.register("l2_up", "1 while L2 is configured and Redis answers", l2_up.clone());
        let fleet_waits = Counter::default();
        registry.register("fleet_waits", "Fills that waited for another edge's fill", fleet_waits.clone());
        Metrics {
            registry,
            requests,
            bytes_cache,
            bytes_origin,
            origin_fetches,
            origin_errors,
            origin_latency,
            coalesced,
            invalidations,
            hook_failures,
            l2_lookups,
            l2_writes,
            l2_errors,
            l2_up,
            fleet_waits,
            routes: super::routes::Routes::default(),
            reports: super::reports::Reports::default(),
        }
    }

    pub(crate) fn l2_lookup(&self, result: L2Result) {
        if let Some(c) = L2Result::ALL.iter().position(|r| *r == result).and_then(|i| self.l2_lookups.get(i)) {
            c.inc();
        }
    }

    pub(crate) fn l2_write(&self) {
        self.l2_writes.inc();
    }

    pub(crate) fn l2_error(&self) {
        self.l2_errors.inc();
    }

    pub(crate) fn set_l2_up(&self, up: bool) {
        self.l2_up.set(i64::from(up));
    }

    pub(crate) fn fleet_wait(&self) {
        self.fleet_waits.inc();
    }

    pub(crate) fn response(&self, result: ResultType, status: u16) {
        let class = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        if let Some(c) = self.requests.get(result.index()).and_then(|row| row.get(class)) {
            c.inc();
        }
    }

    pub(crate) fn body_bytes(&self, from_cache: bool, bytes: u64) {
        if from_cache { &self.bytes_cache } else { &self.bytes_origin }.inc_by(bytes);
    }

    pub(crate) fn origin_fetch(&self, latency: Duration, failure: Option<OriginFailure>) {
        self.origin_fetches.inc();
        self.origin_latency.observe(latency.as_secs_f64());
        if let Some(kind) = failure
            && let Some(c) = OriginFailure::ALL.iter().position(|k| *k == kind).and_then(|i| self.origin_errors.get(i))
        {
            c.inc();
        }
    }

    pub(crate) fn coalesced(&self) {
        self.coalesced.inc();
    }

    pub(crate) fn invalidation(&self) {
        self.invalidations.inc();
    }

    pub(crate) fn hook_failed(&self) {
        self.hook_failures.inc();
    }

    /// A snapshot (store figures are filled in by the caller).
    pub(crate) fn stats(&self) -> Stats {
        let requests: Vec<(ResultType, u64)> = ResultType::ALL
            .iter()
            .zip(&self.requests)
            .map(|(r, row)| (*r, row.iter().map(Counter::get).sum()))
            .collect();
        let count = |r: ResultType| requests.iter().find(|(t, _)| *t == r).map_or(0, |(_, n)| *n);
        let hits = count(ResultType::Hit) + count(ResultType::RefreshHit);
        let lookups = hits + count(ResultType::Miss);
        Stats {
            hit_ratio: if lookups == 0 { 0.0 } else { hits as f64 / lookups as f64 },
            requests,
            bytes_from_cache: self.bytes_cache.get(),
            bytes_from_origin: self.bytes_origin.get(),
            origin_fetches: self.origin_fetches.get(),
            origin_errors: self.origin_errors.iter().map(Counter::get).sum(),
            coalesced_waiters: self.coalesced.get(),
            invalidations: self.invalidations.get(),
            hook_failures: self.hook_failures.get(),
            l2_hits: self.l2_lookups.first().map_or(0, Counter::get),
            l2_misses: self.l2_lookups.iter().skip(1).map(Counter::get).sum(),
            l2_writes: self.l2_writes.get(),
            l2_errors: self.l2_errors.get(),
            l2_up: self.l2_up.get() == 1,
            fleet_waits: self.fleet_waits.get(),
            ..Stats::default()
        }
    }

    /// Prometheus text exposition, plus the store gauges and hit ratio.
    #[cfg(feature = "metrics")]
    pub(crate) fn render(&self, stats: &Stats) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode_registry(&mut out, &self.registry).is_err() {
            out.clear();
        }
        let gauges: [(&str, &str, &str, f64); 15] = [
            ("tower_cdn_cache_entries", "gauge", "Stored entries", stats.entries as f64),
            ("tower_cdn_cache_bytes", "gauge", "Bytes held by stored entries", stats.cached_bytes as f64),
            ("tower_cdn_cache_evictions", "counter", "Entries evicted for capacity", stats.evictions as f64),
            ("tower_cdn_hit_ratio", "gauge", "Hits / (hits + misses)", stats.hit_ratio),
            (
                "tower_cdn_log_records_dropped",
                "counter",
                "Access-log records dropped",
                stats.log_records_dropped as f64,
            ),
            ("tower_cdn_disk_entries", "gauge", "Files in the disk tier", stats.disk_entries as f64),
            ("tower_cdn_disk_bytes", "gauge", "Bytes the disk tier's files take", stats.disk_bytes as f64),
            ("tower_cdn_disk_hits", "counter", "Disk lookups that found an entry", stats.disk_hits as f64),
            ("tower_cdn_disk_served", "counter", "Responses served from the disk tier", stats.disk_served as f64),
            ("tower_cdn_disk_misses", "counter", "Disk lookups that found none", stats.disk_misses as f64),
            ("tower_cdn_disk_writes", "counter", "Entries written to disk", stats.disk_writes as f64),
            ("tower_cdn_disk_writes_abandoned", "counter", "Disk writes given up", stats.disk_writes_abandoned as f64),
            ("tower_cdn_disk_errors", "counter", "Disk IO errors", stats.disk_errors as f64),
            ("tower_cdn_disk_corrupt", "counter", "Damaged disk entries deleted", stats.disk_corrupt as f64),
            ("tower_cdn_disk_evictions", "counter", "Disk entries evicted for capacity", stats.disk_evictions as f64),
        ];
        for (name, kind, help, value) in gauges {
            let sample = if kind == "counter" { format!("{name}_total") } else { name.to_owned() };
            out.push_str(&format!("# HELP {name} {help}.\n# TYPE {name} {kind}\n{sample} {value}\n"));
        }
        super::routes::render(&mut out, &self.routes.snapshots());
        out.push_str("# EOF\n");
        out
    }
}

/// Shared handle type.
pub(crate) type SharedMetrics = Arc<Metrics>;
