//! Counters per route: one set for each (distribution, behavior, origin),
//! created when a behavior first serves a request and kept across reloads
//! (the same labels find the same counters). Label sets are bounded: past
//! [`MAX_ROUTES`] every new one shares an `_other` set, so a configuration
//! with thousands of behaviors cannot grow the exposition without bound.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::record::ResultType;

/// Most label sets kept; later ones are counted under `_other`.
pub(crate) const MAX_ROUTES: usize = 512;

/// Upper bounds (seconds) of the origin latency histogram's buckets.
pub(crate) const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// What answered a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    Memory,
    Disk,
    L2,
    Origin,
}

impl Tier {
    pub(crate) const ALL: [Tier; 4] = [Tier::Memory, Tier::Disk, Tier::L2, Tier::Origin];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Tier::Memory => "memory",
            Tier::Disk => "disk",
            Tier::L2 => "l2",
            Tier::Origin => "origin",
        }
    }
}

/// The counters of one route.
#[derive(Debug)]
pub(crate) struct RouteStats {
    pub(crate) distribution: Box<str>,
    pub(crate) behavior: Box<str>,
    pub(crate) origin: Box<str>,
    requests: [AtomicU64; ResultType::ALL.len()],
    tiers: [AtomicU64; 4],
    bytes_cache: AtomicU64,
    bytes_origin: AtomicU64,
    origin_fetches: AtomicU64,
    origin_errors: AtomicU64,
    /// Cumulative counts per bucket bound (and the sum, in microseconds).
    latency: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_sum_micros: AtomicU64,
    fills: AtomicI64,
}

/// A snapshot of one route's counters.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteSnapshot {
    pub(crate) distribution: String,
    pub(crate) behavior: String,
    pub(crate) origin: String,
    pub(crate) requests: Vec<(ResultType, u64)>,
    pub(crate) tiers: Vec<(&'static str, u64)>,
    pub(crate) bytes_from_cache: u64,
    pub(crate) bytes_from_origin: u64,
    pub(crate) origin_fetches: u64,
    pub(crate) origin_errors: u64,
    pub(crate) latency: Vec<(f64, u64)>,
    pub(crate) latency_sum: f64,
    pub(crate) fills_in_flight: i64,
}

impl RouteSnapshot {
    /// Hits (and refresh hits) ÷ (hits + misses).
    pub(crate) fn hit_ratio(&self) -> f64 {
        hit_ratio(&self.requests)
    }
}

/// Hits (and refresh hits) ÷ (hits + misses), 0 without either.
pub(crate) fn hit_ratio(requests: &[(ResultType, u64)]) -> f64 {
    let count = |r: ResultType| requests.iter().filter(|(t, _)| *t == r).map(|(_, n)| *n).sum::<u64>();
    let hits = count(ResultType::Hit) + count(ResultType::RefreshHit);
    let lookups = hits + count(ResultType::Miss);
    if lookups == 0 { 0.0 } else { hits as f64 / lookups as f64 }
}

impl RouteStats {
    fn new(distribution: &str, behavior: &str, origin: &str) -> Self {
        RouteStats {
            distribution: distribution.into(),
            behavior: behavior.into(),
            origin: origin.into(),
            requests: Default::default(),
            tiers: Default::default(),
            bytes_cache: AtomicU64::new(0),
            bytes_origin: AtomicU64::new(0),
            origin_fetches: AtomicU64::new(0),
            origin_errors: AtomicU64::new(0),
            latency: Default::default(),
            latency_sum_micros: AtomicU64::new(0),
            fills: AtomicI64::new(0),
        }
    }

    /// A response of this route, answered by `tier`.
    pub(crate) fn response(&self, result: ResultType, tier: Tier) {
        self.requests[result.index()].fetch_add(1, Relaxed);
        self.tiers[tier as usize].fetch_add(1, Relaxed);
    }

    /// Body bytes sent for one response.
    pub(crate) fn body_bytes(&self, from_cache: bool, bytes: u64) {
        if from_cache { &self.bytes_cache } else { &self.bytes_origin }.fetch_add(bytes, Relaxed);
    }

    /// An origin fetch and the time to its response head.
    pub(crate) fn origin_fetch(&self, latency: Duration, failed: bool) {
        self.origin_fetches.fetch_add(1, Relaxed);
        if failed {
            self.origin_errors.fetch_add(1, Relaxed);
        }
        let secs = latency.as_secs_f64();
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&self.latency) {
            if secs <= *bound {
                count.fetch_add(1, Relaxed);
            }
        }
        self.latency_sum_micros.fetch_add(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    /// A fill of this route began (`+1`) or ended (`-1`).
    pub(crate) fn fill(&self, delta: i64) {
        self.fills.fetch_add(delta, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RouteSnapshot {
        RouteSnapshot {
            distribution: self.distribution.to_string(),
            behavior: self.behavior.to_string(),
            origin: self.origin.to_string(),
            requests: ResultType::ALL.iter().zip(&self.requests).map(|(r, n)| (*r, n.load(Relaxed))).collect(),
            tiers: Tier::ALL.iter().zip(&self.tiers).map(|(t, n)| (t.as_str(), n.load(Relaxed))).collect(),
            bytes_from_cache: self.bytes_cache.load(Relaxed),
            bytes_from_origin: self.bytes_origin.load(Relaxed),
            origin_fetches: self.origin_fetches.load(Relaxed),
            origin_errors: self.origin_errors.load(Relaxed),
            latency: LATENCY_BUCKETS.iter().zip(&self.latency).map(|(b, n)| (*b, n.load(Relaxed))).collect(),
            latency_sum: self.latency_sum_micros.load(Relaxed) as f64 / 1e6,
            fills_in_flight: self.fills.load(Relaxed),
        }
    }
}

/// Every route's counters.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    all: Mutex<Vec<Arc<RouteStats>>>,
    other: OnceLock<Arc<RouteStats>>,
}

impl Routes {
    /// The counters for these labels: the existing set, a new one, or the
    /// shared `_other` set once [`MAX_ROUTES`] exist.
    pub(crate) fn get(&self, distribution: &str, behavior: &str, origin: &str) -> Arc<RouteStats> {
        let mut all = self.all.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(found) =
            all.iter().find(|r| &*r.distribution == distribution && &*r.behavior == behavior && &*r.origin == origin)
        {
            return Arc::clone(found);
        }
        if all.len() >= MAX_ROUTES {
            return Arc::clone(self.other.get_or_init(|| Arc::new(RouteStats::new("_other", "_other", "_other"))));
        }
        let made = Arc::new(RouteStats::new(distribution, behavior, origin));
        all.push(Arc::clone(&made));
        made
    }

    /// Snapshots of every route that served a request.
    pub(crate) fn snapshots(&self) -> Vec<RouteSnapshot> {
        let all = self.all.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.iter().chain(self.other.get()).map(|r| r.snapshot()).collect()
    }
}

/// A behavior's handle on its counters, resolved on first use. Its
/// `Debug` is constant, so behaviors' fingerprints do not depend on it.
#[derive(Default)]
pub(crate) struct RouteSlot(OnceLock<Arc<RouteStats>>);

impl std::fmt::Debug for RouteSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteSlot")
    }
}

impl RouteSlot {
    /// The counters, found (or made) in `routes` the first time.
    pub(crate) fn get(&self, routes: &Routes, labels: impl FnOnce() -> (String, String, String)) -> &Arc<RouteStats> {
        self.0.get_or_init(|| {
            let (d, b, o) = labels();
            routes.get(&d, &b, &o)
        })
    }
}

/// Prometheus text for the routes' counters.
pub(crate) fn render(out: &mut String, routes: &[RouteSnapshot]) {
    use std::fmt::Write as _;
    if routes.is_empty() {
        return;
    }
    let labels = |r: &RouteSnapshot| {
        format!(
            "distribution=\"{}\",behavior=\"{}\",origin=\"{}\"",
            escape(&r.distribution),
            escape(&r.behavior),
            escape(&r.origin)
        )
    };
    out.push_str("# HELP tower_cdn_route_requests Responses by route, result type and the tier that answered.\n");
    out.push_str("# TYPE tower_cdn_route_requests counter\n");
    for r in routes {
        let l = labels(r);
        for (result, n) in &r.requests {
            let _ = writeln!(out, "tower_cdn_route_requests_total{{{l},result_type=\"{}\"}} {n}", result.as_str());
        }
    }
    out.push_str("# HELP tower_cdn_route_tier_responses Responses by route and the tier that answered.\n");
    out.push_str("# TYPE tower_cdn_route_tier_responses counter\n");
    for r in routes {
        let l = labels(r);
        for (tier, n) in &r.tiers {
            let _ = writeln!(out, "tower_cdn_route_tier_responses_total{{{l},tier=\"{tier}\"}} {n}");
        }
    }
    out.push_str("# HELP tower_cdn_route_response_body_bytes Body bytes sent, by route and source.\n");
    out.push_str("# TYPE tower_cdn_route_response_body_bytes counter\n");
    for r in routes {
        let l = labels(r);
        let _ =
            writeln!(out, "tower_cdn_route_response_body_bytes_total{{{l},source=\"cache\"}} {}", r.bytes_from_cache);
        let _ =
            writeln!(out, "tower_cdn_route_response_body_bytes_total{{{l},source=\"origin\"}} {}", r.bytes_from_origin);
    }
    out.push_str("# HELP tower_cdn_route_hit_ratio Hits / (hits + misses) by route.\n");
    out.push_str("# TYPE tower_cdn_route_hit_ratio gauge\n");
    for r in routes {
        let _ = writeln!(out, "tower_cdn_route_hit_ratio{{{}}} {}", labels(r), r.hit_ratio());
    }
    out.push_str("# HELP tower_cdn_route_fills_in_flight Origin fetches filling the cache, by route.\n");
    out.push_str("# TYPE tower_cdn_route_fills_in_flight gauge\n");
    for r in routes {
        let _ = writeln!(out, "tower_cdn_route_fills_in_flight{{{}}} {}", labels(r), r.fills_in_flight);
    }
    out.push_str("# HELP tower_cdn_route_origin_response_seconds Time to the origin's response head, by route.\n");
    out.push_str("# TYPE tower_cdn_route_origin_response_seconds histogram\n");
    for r in routes {
        let l = labels(r);
        for (bound, n) in &r.latency {
            let _ = writeln!(out, "tower_cdn_route_origin_response_seconds_bucket{{{l},le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "tower_cdn_route_origin_response_seconds_bucket{{{l},le=\"+Inf\"}} {}", r.origin_fetches);
        let _ = writeln!(out, "tower_cdn_route_origin_response_seconds_sum{{{l}}} {}", r.latency_sum);
        let _ = writeln!(out, "tower_cdn_route_origin_response_seconds_count{{{l}}} {}", r.origin_fetches);
    }
}

/// A label value escaped for the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_are_bounded_and_found_again() {
        let routes = Routes::default();
        let a = routes.get("d", "*", "o");
        assert!(Arc::ptr_eq(&a, &routes.get("d", "*", "o")));
        for i in 0..MAX_ROUTES + 50 {
            routes.get("d", &format!("/p{i}/*"), "o");
        }
        let other = routes.get("d", "/new/*", "o");
        assert_eq!(&*other.distribution, "_other");
        assert_eq!(routes.snapshots().len(), MAX_ROUTES + 1);
    }

    #[test]
    fn the_histogram_is_cumulative_and_labels_are_escaped() {
        let routes = Routes::default();
        let r = routes.get("d\"x", "*", "o");
        r.origin_fetch(Duration::from_millis(30), false);
        r.origin_fetch(Duration::from_millis(3), true);
        r.response(ResultType::Hit, Tier::Memory);
        let mut out = String::new();
        render(&mut out, &routes.snapshots());
        assert!(out.contains("distribution=\"d\\\"x\""), "{out}");
        assert!(out.contains("le=\"0.005\"} 1\n"), "{out}");
        assert!(out.contains("le=\"0.05\"} 2\n"), "{out}");
        assert!(out.contains("le=\"+Inf\"} 2\n"), "{out}");
        assert!(out.contains("result_type=\"Hit\"} 1\n"), "{out}");
    }
}
