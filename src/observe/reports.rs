//! CloudFront's report views computed at the edge: popular objects (by
//! requests and bytes, with their hit ratio), top referrers, and requests
//! by result, status class and bytes over time.
//!
//! Popular objects and referrers use a Space-Saving sketch (Metwally et
//! al.): a bounded table per shard that keeps the heaviest keys exactly;
//! a newcomer takes the place (and the count) of the smallest one. Reports
//! give the count a key surely had (what it got since it entered the
//! table) and rank by it, with `error` the most it may have had besides,
//! so a flood of one-off keys cannot push junk to the top. Each sketch covers a sliding window made of the
//! current and the previous period of [`PERIOD_SECS`], so a report covers
//! the last 5 to 10 minutes. The timeline keeps one bucket per minute for
//! the last hour. Updates are a hash, an uncontended lock of one shard
//! and a few atomic adds; nothing grows with traffic.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

use super::record::ResultType;

/// Length of one sketch period, in seconds.
pub(crate) const PERIOD_SECS: u64 = 300;
/// Minutes kept by the timeline.
pub(crate) const TIMELINE_MINUTES: usize = 60;
/// Keys kept per shard of a sketch.
const SHARD_CAPACITY: usize = 64;
/// Shards of a sketch (by key hash), so edge workers rarely share a lock.
const SHARDS: usize = 8;

/// What one request adds to the reports.
pub(crate) struct Sample<'a> {
    /// Seconds since the epoch, when the response ended.
    pub(crate) now: u64,
    /// The object (its cache key), when it had one.
    pub(crate) object: Option<&'a str>,
    /// The `Referer`'s host, when there was one.
    pub(crate) referrer: Option<&'a str>,
    pub(crate) result: ResultType,
    pub(crate) status: u16,
    pub(crate) bytes: u64,
    pub(crate) from_cache: bool,
}

/// The reports of one layer.
#[derive(Debug, Default)]
pub(crate) struct Reports {
    objects: Sketch,
    referrers: Sketch,
    timeline: Timeline,
}

impl Reports {
    pub(crate) fn record(&self, s: &Sample<'_>) {
        let hit = matches!(s.result, ResultType::Hit | ResultType::RefreshHit);
        if let Some(object) = s.object {
            self.objects.add(s.now, object, s.bytes, hit);
        }
        if let Some(referrer) = s.referrer {
            self.referrers.add(s.now, referrer, s.bytes, hit);
        }
        self.timeline.add(s.now, s.result, s.status, s.bytes, s.from_cache);
    }

    /// The most requested objects (or those that sent the most bytes).
    pub(crate) fn popular(&self, now: u64, by_bytes: bool, limit: usize) -> Vec<Heavy> {
        self.objects.top(now, by_bytes, limit)
    }

    /// The referring hosts that sent the most requests.
    pub(crate) fn referrers(&self, now: u64, limit: usize) -> Vec<Heavy> {
        self.referrers.top(now, false, limit)
    }

    /// One point per minute of the last hour, oldest first.
    pub(crate) fn timeline(&self, now: u64) -> Vec<Point> {
        self.timeline.points(now)
    }
}

/// One heavy key of a sketch.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Heavy {
    pub(crate) key: String,
    /// Requests it surely had (since it entered the table).
    pub(crate) requests: u64,
    /// Body bytes of those requests.
    pub(crate) bytes: u64,
    /// Of those requests, hits.
    pub(crate) hits: u64,
    /// How many more requests it may have had before it entered (0: exact).
    pub(crate) error: u64,
}

impl Heavy {
    pub(crate) fn hit_ratio(&self) -> f64 {
        if self.requests == 0 { 0.0 } else { (self.hits as f64 / self.requests as f64).min(1.0) }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    requests: u64,
    bytes: u64,
    hits: u64,
    error: u64,
}

/// One period's table: Space-Saving (Metwally et al.) with evictions in
/// batches. When full, the half with the smallest counts leaves at once
/// and `floor` becomes the largest count that left; a newcomer starts at
/// `floor + 1` with `floor` as its possible over-count. Every key not in
/// the table was seen at most `floor` times, so the bounds of Space-Saving
/// hold, and a stream of distinct keys (a million objects hit at random)
/// costs one pass over the table per `SHARD_CAPACITY / 2` newcomers
/// instead of one per newcomer.
#[derive(Debug, Default)]
struct Table {
    /// Keyed by viewers' paths and referrers: a per-process seeded hash
    /// (SipHash's cost showed on every hit).
    counts: HashMap<Box<str>, Counts, foldhash::quality::RandomState>,
    floor: u64,
}

impl Table {
    fn add(&mut self, key: &str, bytes: u64, hit: bool) {
        if let Some(c) = self.counts.get_mut(key) {
            c.requests += 1;
            c.bytes += bytes;
            c.hits += u64::from(hit);
            return;
        }
        if self.counts.len() >= SHARD_CAPACITY {
            self.evict_half();
        }
        let fresh = Counts { requests: self.floor + 1, bytes, hits: u64::from(hit), error: self.floor };
        self.counts.insert(key.into(), fresh);
    }

    /// Removes the keys with the smallest counts, at least half of them
    /// (ties at the threshold leave together), and raises `floor`.
    fn evict_half(&mut self) {
        let mut requests: Vec<u64> = self.counts.values().map(|c| c.requests).collect();
        let (_, threshold, _) = requests.select_nth_unstable(SHARD_CAPACITY / 2 - 1);
        let threshold = *threshold;
        self.counts.retain(|_, c| c.requests > threshold);
        self.floor = self.floor.max(threshold);
    }

    fn iter(&self) -> impl Iterator<Item = (&Box<str>, &Counts)> {
        self.counts.iter()
    }
}

/// A shard: the current and the previous period.
#[derive(Debug, Default)]
struct Shard {
    period: u64,
    current: Table,
    previous: Table,
}

impl Shard {
    fn roll(&mut self, period: u64) {
        if period == self.period {
            return;
        }
        let previous = std::mem::take(&mut self.current);
        self.previous = if period == self.period + 1 { previous } else { Table::default() };
        self.period = period;
    }
}

#[derive(Debug, Default)]
struct Sketch {
    shards: [Mutex<Shard>; SHARDS],
}

impl Sketch {
    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, Shard> {
        use std::hash::Hasher as _;
        // A fixed hash: the same key always picks the same shard.
        let mut f = Fnv(0xcbf2_9ce4_8422_2325);
        f.write(key.as_bytes());
        let i = (f.finish() as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self, now: u64, key: &str, bytes: u64, hit: bool) {
        let mut shard = self.shard(key);
        shard.roll(now / PERIOD_SECS);
        shard.current.add(key, bytes, hit);
    }

    fn top(&self, now: u64, by_bytes: bool, limit: usize) -> Vec<Heavy> {
        let mut merged: HashMap<Box<str>, Counts> = HashMap::new();
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            shard.roll(now / PERIOD_SECS);
            for (k, c) in shard.current.iter().chain(shard.previous.iter()) {
                let m = merged.entry(k.clone()).or_default();
                m.requests += c.requests;
                m.bytes += c.bytes;
                m.hits += c.hits;
                m.error += c.error;
            }
        }
        let mut out: Vec<Heavy> = merged
            .into_iter()
            .map(|(k, c)| Heavy {
                key: k.into(),
                requests: c.requests.saturating_sub(c.error),
                bytes: c.bytes,
                hits: c.hits,
                error: c.error,
            })
            .collect();
        out.sort_by(|a, b| {
            let (x, y) = if by_bytes { (b.bytes, a.bytes) } else { (b.requests, a.requests) };
            x.cmp(&y).then_with(|| a.key.cmp(&b.key))
        });
        out.truncate(limit);
        out
    }
}

/// FNV-1a: a stable, cheap hash for picking a shard.
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// One minute of the timeline.
#[derive(Debug, Default)]
struct Bucket {
    minute: AtomicU64,
    requests: [AtomicU64; ResultType::ALL.len()],
    statuses: [AtomicU64; 5],
    bytes: AtomicU64,
    bytes_from_cache: AtomicU64,
}

/// One minute, as reported.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Point {
    /// Start of the minute, in seconds since the epoch.
    pub(crate) start: u64,
    pub(crate) requests: Vec<(&'static str, u64)>,
    pub(crate) statuses: Vec<(&'static str, u64)>,
    pub(crate) bytes: u64,
    pub(crate) bytes_from_cache: u64,
}

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Debug)]
struct Timeline {
    buckets: Box<[Bucket]>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline { buckets: (0..TIMELINE_MINUTES).map(|_| Bucket::default()).collect() }
    }
}

impl Timeline {
    fn bucket(&self, minute: u64) -> &Bucket {
        let b = &self.buckets[(minute % TIMELINE_MINUTES as u64) as usize];
        let seen = b.minute.load(Relaxed);
        // The first request of a new minute clears the bucket an hour old
        // (a race between two such requests may lose a count or two).
        if seen != minute && b.minute.compare_exchange(seen, minute, Relaxed, Relaxed).is_ok() {
            for c in b.requests.iter().chain(&b.statuses).chain([&b.bytes, &b.bytes_from_cache]) {
                c.store(0, Relaxed);
            }
        }
        b
    }

    fn add(&self, now: u64, result: ResultType, status: u16, bytes: u64, from_cache: bool) {
        let b = self.bucket(now / 60);
        b.requests[result.index()].fetch_add(1, Relaxed);
        if let Some(c) = usize::from(status / 100).checked_sub(1).and_then(|i| b.statuses.get(i)) {
            c.fetch_add(1, Relaxed);
        }
        b.bytes.fetch_add(bytes, Relaxed);
        if from_cache {
            b.bytes_from_cache.fetch_add(bytes, Relaxed);
        }
    }

    fn points(&self, now: u64) -> Vec<Point> {
        let this = now / 60;
        (0..TIMELINE_MINUTES as u64)
            .rev()
            .filter_map(|back| this.checked_sub(back))
            .map(|minute| {
                let b = &self.buckets[(minute % TIMELINE_MINUTES as u64) as usize];
                let live = b.minute.load(Relaxed) == minute;
                let get = |c: &AtomicU64| if live { c.load(Relaxed) } else { 0 };
                Point {
                    start: minute * 60,
                    requests: ResultType::ALL.iter().zip(&b.requests).map(|(r, c)| (r.as_str(), get(c))).collect(),
                    statuses: STATUS_CLASSES.iter().zip(&b.statuses).map(|(s, c)| (*s, get(c))).collect(),
                    bytes: get(&b.bytes),
                    bytes_from_cache: get(&b.bytes_from_cache),
                }
            })
            .collect()
    }
}

/// The host of a `Referer` value (`https://news.example/a?b` → `news.example`).
pub(crate) fn referrer_host(referer: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(referer).ok()?;
    let rest = text.split_once("://").map_or(text, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    (!host.is_empty() && host.len() <= 255).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(now: u64, object: &str, result: ResultType) -> Sample<'_> {
        Sample { now, object: Some(object), referrer: None, result, status: 200, bytes: 10, from_cache: true }
    }

    #[test]
    fn heavy_hitters_survive_a_flood_of_unique_keys() {
        let r = Reports::default();
        let keys: Vec<String> = (0..5000).map(|i| format!("once-{i}")).collect();
        for (i, k) in keys.iter().enumerate() {
            r.record(&sample(1000, k, ResultType::Miss));
            if i % 10 == 0 {
                r.record(&sample(1000, "hot", ResultType::Hit));
            }
            if i % 25 == 0 {
                r.record(&sample(1000, "warm", ResultType::Miss));
            }
        }
        let top = r.popular(1000, false, 2);
        assert_eq!(top[0].key, "hot");
        assert_eq!(top[1].key, "warm");
        assert!(top[0].requests <= 501 && top[0].requests + top[0].error >= 500, "{top:?}");
        // A key seen once after the flood is not ranked by what it replaced.
        r.record(&sample(1000, "once-more", ResultType::Miss));
        let ranked = r.popular(1000, false, 3);
        assert!(ranked.iter().all(|h| h.key != "once-more"), "{ranked:?}");
        assert!(top[0].hit_ratio() > 0.0);
    }

    #[test]
    fn counts_stay_within_space_savings_bounds() {
        // A skewed stream over 3,000 keys (key i about 1/(i+1) of the
        // time) through the batched evictions: every reported key's true
        // count lies in [requests, requests + error], and the heaviest
        // keys are all found, in order.
        let r = Reports::default();
        let mut exact: HashMap<String, u64> = HashMap::new();
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            let key = format!("k{}", (3000f64.powf(u) as u64).saturating_sub(1));
            r.record(&sample(1000, &key, ResultType::Hit));
            *exact.entry(key).or_default() += 1;
        }
        let top = r.popular(1000, false, 200);
        assert!(top.len() > 100, "{}", top.len());
        for h in &top {
            let truth = exact[&h.key];
            assert!(h.requests <= truth && truth <= h.requests + h.error, "{h:?} truth {truth}");
        }
        let names: Vec<&str> = top.iter().take(5).map(|h| h.key.as_str()).collect();
        assert_eq!(names, ["k0", "k1", "k2", "k3", "k4"]);
    }

    #[test]
    fn the_window_slides() {
        let r = Reports::default();
        r.record(&sample(0, "old", ResultType::Hit));
        r.record(&sample(PERIOD_SECS, "new", ResultType::Hit));
        let keys = |now| r.popular(now, false, 10).into_iter().map(|h| h.key).collect::<Vec<_>>();
        assert_eq!(keys(PERIOD_SECS), ["new", "old"]);
        assert_eq!(keys(2 * PERIOD_SECS), ["new"]);
        assert!(keys(4 * PERIOD_SECS).is_empty());
    }

    #[test]
    fn the_timeline_counts_per_minute_and_forgets_after_an_hour() {
        let r = Reports::default();
        r.record(&sample(120, "a", ResultType::Hit));
        r.record(&sample(130, "a", ResultType::Miss));
        r.record(&Sample { status: 503, ..sample(190, "a", ResultType::Error) });
        let points = r.timeline(200);
        assert_eq!(points.len(), 4, "minutes 0..=3");
        let at = |start| points.iter().find(|p| p.start == start).unwrap();
        assert_eq!(at(120).requests.iter().map(|(_, n)| n).sum::<u64>(), 2);
        assert_eq!(at(180).statuses[4], ("5xx", 1));
        let later = r.timeline(190 + 3600 + 60);
        assert!(later.iter().all(|p| p.bytes == 0), "an hour later nothing is left");
    }

    #[test]
    fn referrer_hosts() {
        assert_eq!(referrer_host(b"https://news.example/a?b"), Some("news.example"));
        assert_eq!(referrer_host(b"https://u:p@x.test:8443/"), Some("x.test:8443"));
        assert_eq!(referrer_host(b""), None);
    }
}
