//! The endpoints of one HTTP origin and their state: weights, health,
//! fetches in flight, the balancer's memory and the retry budget. The
//! choices themselves are pure (`balance.rs`, `health.rs`, `budget.rs`);
//! this file holds the locks and logs the transitions.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::balance::{self, Balance};
use super::budget::{BudgetConfig, RetryBudget};
use super::health::{Ejection, EndpointHealth, HealthCheck, Transition};
use crate::error::ConfigError;

/// Most endpoints one origin may list.
const MAX_ENDPOINTS: usize = 256;

/// One endpoint as configured: its URL and weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointConfig {
    pub(crate) url: String,
    pub(crate) weight: u32,
}

/// One validated endpoint.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// `scheme://authority`, no trailing slash.
    pub(crate) base: String,
    /// `""` or `/prefix`: the URL's path and the origin path.
    pub(crate) origin_path: String,
    weight: u32,
    /// For consistent hashing: the hash of `base` + `origin_path`.
    id: u64,
    health: Mutex<EndpointHealth>,
    in_flight: AtomicUsize,
}

impl Endpoint {
    /// `host[:port]`.
    pub(crate) fn authority(&self) -> &str {
        self.base.split_once("://").map_or(self.base.as_str(), |(_, authority)| authority)
    }

    /// The endpoint as logs name it.
    pub(crate) fn display(&self) -> String {
        format!("{}{}", self.base, self.origin_path)
    }

    fn health(&self) -> MutexGuard<'_, EndpointHealth> {
        // A panic while holding it left a valid state (plain fields).
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The endpoints of one origin.
#[derive(Debug)]
pub(crate) struct Pool {
    /// The origin's id, for logs.
    name: String,
    endpoints: Vec<Endpoint>,
    weights: Vec<u32>,
    ids: Vec<u64>,
    balance: Balance,
    /// Smooth weighted round-robin's current weights.
    current: Mutex<Vec<i64>>,
    /// Rotates least-outstanding's ties.
    turn: AtomicUsize,
    pub(crate) check: Option<HealthCheck>,
    ejection: Ejection,
    budget: Mutex<RetryBudget>,
    /// What the budget's clock counts from.
    epoch: Instant,
    /// Whether the health checks were started.
    pub(crate) started: AtomicBool,
}

/// The pool's settings, as the origin's configuration gives them.
pub(crate) struct PoolConfig<'a> {
    pub(crate) name: &'a str,
    pub(crate) balance: Balance,
    pub(crate) check: Option<&'a HealthCheck>,
    pub(crate) ejection: Ejection,
    pub(crate) budget: BudgetConfig,
}

impl Pool {
    /// Validates the endpoints, each listed with the setting that named it
    /// (`url` or `endpoints[i]`, for errors; `parse` turns a URL into its
    /// base and origin path, or says why not), and the pool's settings.
    pub(crate) fn new(
        cfg: PoolConfig<'_>,
        listed: &[(String, EndpointConfig)],
        parse: impl Fn(&str) -> Result<(String, String), String>,
    ) -> Result<Pool, ConfigError> {
        if listed.is_empty() {
            return Err(ConfigError::new("endpoints", "give at least one endpoint (or a url)"));
        }
        if listed.len() > MAX_ENDPOINTS {
            return Err(ConfigError::new("endpoints", format!("at most {MAX_ENDPOINTS} endpoints")));
        }
        let mut endpoints: Vec<Endpoint> = Vec::with_capacity(listed.len());
        for (setting, ep) in listed {
            let url_setting = if setting == "url" { setting.clone() } else { format!("{setting}.url") };
            let (base, origin_path) = parse(&ep.url).map_err(|m| ConfigError::new(&url_setting, m))?;
            if !(1..=1000).contains(&ep.weight) {
                return Err(ConfigError::new(
                    format!("{setting}.weight"),
                    format!("must be 1 to 1000, not {}", ep.weight),
                ));
            }
            if let Some(j) = endpoints.iter().position(|e| e.base == base && e.origin_path == origin_path) {
                return Err(ConfigError::new(
                    url_setting,
                    format!("{:?} is listed twice (also {})", ep.url, listed[j].0),
                ));
            }
            let id = balance::hash64(format!("{base}{origin_path}").as_bytes());
            endpoints.push(Endpoint {
                base,
                origin_path,
                weight: ep.weight,
                id,
                health: Mutex::new(EndpointHealth::default()),
                in_flight: AtomicUsize::new(0),
            });
        }
        if let Some(check) = cfg.check {
            check.validate()?;
        }
        cfg.ejection.validate()?;
        cfg.budget.validate()?;
        Ok(Pool {
            name: cfg.name.to_owned(),
            weights: endpoints.iter().map(|e| e.weight).collect(),
            ids: endpoints.iter().map(|e| e.id).collect(),
            current: Mutex::new(vec![0; endpoints.len()]),
            endpoints,
            balance: cfg.balance,
            turn: AtomicUsize::new(0),
            check: cfg.check.cloned(),
            ejection: cfg.ejection,
            budget: Mutex::new(RetryBudget::new(cfg.budget)),
            epoch: Instant::now(),
            started: AtomicBool::new(false),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.endpoints.len()
    }

    pub(crate) fn endpoint(&self, i: usize) -> &Endpoint {
        &self.endpoints[i]
    }

    pub(crate) fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The endpoint for a fetch whose key hashes to `key`, other than
    /// `except` (the one a retry is leaving). Healthy endpoints only; if
    /// none is, the least bad ones anyway (fail open, as Envoy's panic
    /// mode: some answers beat none).
    pub(crate) fn pick(&self, key: u64, except: Option<usize>, now: Instant) -> Option<usize> {
        let n = self.endpoints.len();
        let states: Vec<_> = self
            .endpoints
            .iter()
            .map(|e| {
                let h = e.health();
                (h.is_available(now), h.badness(now))
            })
            .collect();
        let other = |i: usize| Some(i) != except;
        let any_available = (0..n).any(|i| other(i) && states[i].0);
        let least_bad = (0..n).filter(|i| other(*i)).map(|i| states[i].1).min()?;
        let eligible = |i: usize| other(i) && if any_available { states[i].0 } else { states[i].1 == least_bad };
        match self.balance {
            Balance::RoundRobin => {
                let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
                balance::smooth_wrr(&mut current, &self.weights, eligible)
            }
            Balance::LeastOutstanding => {
                let loads: Vec<usize> = self.endpoints.iter().map(|e| e.in_flight.load(Ordering::Relaxed)).collect();
                let start = self.turn.fetch_add(1, Ordering::Relaxed) % n;
                balance::least_outstanding(&loads, &self.weights, start, eligible)
            }
            Balance::ConsistentHash => balance::rendezvous(key, &self.ids, &self.weights, eligible),
        }
    }

    /// Counts a fetch in the retry budget.
    pub(crate) fn on_fetch(&self, now: Instant) {
        self.budget().on_fetch(now.saturating_duration_since(self.epoch));
    }

    /// Takes a retry from the budget, if one is left.
    pub(crate) fn try_retry(&self, now: Instant) -> bool {
        self.budget().try_retry(now.saturating_duration_since(self.epoch))
    }

    fn budget(&self) -> MutexGuard<'_, RetryBudget> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a fetch to endpoint `i` in flight until the guard is dropped
    /// (when its body ends).
    pub(crate) fn begin(self: &Arc<Self>, i: usize) -> InFlight {
        self.endpoints[i].in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight { pool: Arc::clone(self), i }
    }

    /// A fetch's outcome at endpoint `i`.
    pub(crate) fn on_outcome(&self, i: usize, failed: bool, now: Instant) {
        // One endpoint has nowhere else to send fetches: nothing to eject.
        if self.endpoints.len() == 1 && self.check.is_none() {
            return;
        }
        let checked = self.check.is_some();
        // Passive ejection takes out at most half the endpoints at once
        // (Envoy's max ejection percent): what failing fetches say may be
        // the requests' fault as much as the endpoints'. Health checks
        // still take any number down.
        let may_eject = !failed || {
            let ejected =
                (0..self.endpoints.len()).filter(|&j| j != i && self.endpoints[j].health().is_ejected(now)).count();
            ejected < (self.endpoints.len() / 2).max(1)
        };
        let transition = self.endpoints[i].health().on_fetch(failed, now, &self.ejection, checked, may_eject);
        if let Some(t) = transition {
            self.log(i, t);
        }
    }

    /// A health check's result at endpoint `i`.
    pub(crate) fn on_probe(&self, i: usize, passed: bool, why: &str) {
        let Some(check) = &self.check else { return };
        let transition = self.endpoints[i].health().on_probe(passed, check);
        match transition {
            // The warning says why, as the last failed check saw it.
            Some(Transition::ProbedDown) => tracing::warn!(
                origin = %self.name,
                endpoint = %self.endpoints[i].display(),
                cause = %why,
                "origin endpoint down: it failed its health checks"
            ),
            Some(t) => self.log(i, t),
            None => {}
        }
    }

    fn log(&self, i: usize, t: Transition) {
        let endpoint = self.endpoints[i].display();
        let origin = self.name.as_str();
        match t {
            Transition::ProbedDown => {
                tracing::warn!(%origin, %endpoint, "origin endpoint down: it failed its health checks")
            }
            Transition::ProbedUp => {
                tracing::info!(%origin, %endpoint, "origin endpoint up: it passed its health checks")
            }
            Transition::Ejected => tracing::warn!(
                %origin,
                %endpoint,
                failures = self.ejection.after,
                ejection_time = ?self.ejection.time,
                "origin endpoint ejected: its fetches failed in a row"
            ),
        }
    }
}

/// A fetch in flight to one endpoint (least-outstanding counts them).
pub(crate) struct InFlight {
    pool: Arc<Pool>,
    i: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.pool.endpoints[self.i].in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pool(balance: Balance, weights: &[u32]) -> Pool {
        let listed: Vec<_> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| (format!("endpoints[{i}]"), EndpointConfig { url: format!("http://10.0.0.{i}"), weight: *w }))
            .collect();
        let cfg = PoolConfig {
            name: "web",
            balance,
            check: None,
            ejection: Ejection { after: 1, time: Duration::from_secs(10) },
            budget: BudgetConfig::default(),
        };
        Pool::new(cfg, &listed, |u| Ok((u.to_owned(), String::new()))).unwrap()
    }

    #[test]
    fn an_ejected_endpoint_is_skipped_until_all_are_out() {
        let p = pool(Balance::RoundRobin, &[1, 1, 1]);
        let now = Instant::now();
        p.on_outcome(1, true, now);
        let picks: Vec<_> = (0..4).map(|_| p.pick(0, None, now).unwrap()).collect();
        assert_eq!(picks, [0, 2, 0, 2]);
        // At most half the endpoints (here one of three) are ejected at
        // once: failures that may be the requests' never empty the pool.
        p.on_outcome(0, true, now);
        p.on_outcome(2, true, now);
        let picks: Vec<_> = (0..4).map(|_| p.pick(0, None, now).unwrap()).collect();
        assert_eq!(picks, [0, 2, 0, 2]);
        // Once it is back, another may go.
        let later = now + Duration::from_secs(11);
        p.on_outcome(0, true, later);
        let picks: Vec<_> = (0..4).map(|_| p.pick(0, None, later).unwrap()).collect();
        assert!(!picks.contains(&0) && picks.contains(&1), "{picks:?}");
        assert_eq!(p.pick(0, Some(1), now).map(|i| i != 1), Some(true));
        assert_eq!(pool(Balance::RoundRobin, &[1]).pick(0, Some(0), now), None, "a retry needs another endpoint");
    }

    #[test]
    fn one_of_two_endpoints_may_be_ejected_and_every_fetch_still_goes_somewhere() {
        let p = pool(Balance::RoundRobin, &[1, 1]);
        let now = Instant::now();
        p.on_outcome(0, true, now);
        p.on_outcome(1, true, now);
        assert_eq!((0..3).map(|_| p.pick(0, None, now).unwrap()).collect::<Vec<_>>(), [1, 1, 1]);
    }

    #[test]
    fn in_flight_fetches_steer_least_outstanding() {
        let p = Arc::new(pool(Balance::LeastOutstanding, &[1, 1]));
        let now = Instant::now();
        let held = p.begin(0);
        for _ in 0..4 {
            assert_eq!(p.pick(0, None, now), Some(1));
        }
        drop(held);
        let _other = p.begin(1);
        assert_eq!(p.pick(0, None, now), Some(0));
    }

    #[test]
    fn endpoint_mistakes_name_the_endpoint() {
        let cfg = || PoolConfig {
            name: "web",
            balance: Balance::RoundRobin,
            check: None,
            ejection: Ejection::default(),
            budget: BudgetConfig::default(),
        };
        let ep = |url: &str, weight| EndpointConfig { url: url.into(), weight };
        let parse = |u: &str| Ok::<_, String>((u.to_owned(), String::new()));
        let listed = [("endpoints[0]".to_owned(), ep("http://a", 1)), ("endpoints[1]".to_owned(), ep("http://b", 0))];
        assert_eq!(Pool::new(cfg(), &listed, parse).unwrap_err().setting(), "endpoints[1].weight");
        let listed = [("url".to_owned(), ep("http://a", 1)), ("endpoints[0]".to_owned(), ep("http://a", 1))];
        let e = Pool::new(cfg(), &listed, parse).unwrap_err();
        assert_eq!((e.setting(), e.message()), ("endpoints[0].url", "\"http://a\" is listed twice (also url)"));
        assert_eq!(Pool::new(cfg(), &[], parse).unwrap_err().setting(), "endpoints");
    }
}
