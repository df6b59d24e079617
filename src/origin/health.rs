//! Whether an endpoint may take fetches: the active health check's
//! verdict (probes, with thresholds) and passive ejection (consecutive
//! failures of real fetches, then a cool-down), as Envoy's health checker
//! and outlier detection. Pure: every change takes `now` and returns the
//! transition to log, if any. The probes themselves are in `probe.rs`.

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use crate::error::ConfigError;

/// Default consecutive failures that eject an endpoint (Envoy: 5).
pub(crate) const DEFAULT_EJECT_AFTER: u32 = 5;
/// Default time an ejected endpoint stays out (Envoy: 30 s).
pub(crate) const DEFAULT_EJECTION_TIME: Duration = Duration::from_secs(30);

/// An active health check of each endpoint of an HTTP origin: a `GET` of
/// `path` every `interval`. An endpoint that fails `unhealthy_threshold`
/// checks in a row takes no fetches until it passes `healthy_threshold` in
/// a row. A check passes when the answer's status is in `expected_status`
/// (default 200-399) within `timeout`. Requests carry the origin's custom
/// headers, and `Host` when [`host`](Self::host) is set.
///
/// ```
/// use std::time::Duration;
/// use tower_cdn::{HealthCheck, Origin};
///
/// let origin = Origin::http_endpoints([("http://10.0.0.1", 2), ("http://10.0.0.2", 1)])
///     .health_check(HealthCheck::new("/healthz").interval(Duration::from_secs(2)).healthy_threshold(3));
/// # let _ = origin;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct HealthCheck {
    pub(crate) path: String,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) healthy_threshold: u32,
    pub(crate) unhealthy_threshold: u32,
    pub(crate) host: Option<String>,
    pub(crate) expected_status: RangeInclusive<u16>,
}

impl HealthCheck {
    /// Checks `path` (an absolute path on each endpoint, not under the
    /// origin path) every 5 s with a 2 s timeout; 2 passes bring an
    /// endpoint up, 3 failures take it down.
    pub fn new(path: impl Into<String>) -> Self {
        HealthCheck {
            path: path.into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            host: None,
            expected_status: 200..=399,
        }
    }

    /// Time between two checks of an endpoint.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Time a check may take; longer is a failure.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Passes in a row that bring a down endpoint back.
    pub fn healthy_threshold(mut self, n: u32) -> Self {
        self.healthy_threshold = n;
        self
    }

    /// Failures in a row that take an endpoint down.
    pub fn unhealthy_threshold(mut self, n: u32) -> Self {
        self.unhealthy_threshold = n;
        self
    }

    /// The `Host` header of the checks (default: the endpoint's).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The statuses that pass (default 200-399).
    pub fn expected_status(mut self, statuses: RangeInclusive<u16>) -> Self {
        self.expected_status = statuses;
        self
    }

    /// The first invalid setting, named as the file names it.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let e = |setting: &str, message: String| Err(ConfigError::new(format!("health_check.{setting}"), message));
        if !self.path.starts_with('/') || self.path.contains(['#', ' ']) || self.path.parse::<http::Uri>().is_err() {
            return e("path", format!("{:?} must be an absolute path such as \"/healthz\"", self.path));
        }
        if self.interval.is_zero() {
            return e("interval", "must be greater than zero".into());
        }
        if self.timeout.is_zero() {
            return e("timeout", "must be greater than zero".into());
        }
        for (name, n) in
            [("healthy_threshold", self.healthy_threshold), ("unhealthy_threshold", self.unhealthy_threshold)]
        {
            if !(1..=100).contains(&n) {
                return e(name, format!("must be 1 to 100, not {n}"));
            }
        }
        if let Some(host) = &self.host
            && (host.is_empty() || http::HeaderValue::from_str(host).is_err() || host.contains([' ', '/']))
        {
            return e("host", format!("{host:?} is not a host name"));
        }
        let (lo, hi) = (*self.expected_status.start(), *self.expected_status.end());
        if !(100..=599).contains(&lo) || !(100..=599).contains(&hi) || lo > hi {
            return e("expected_status", format!("{lo}-{hi} is not a range of statuses within 100-599"));
        }
        Ok(())
    }
}

/// Passive ejection settings of an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ejection {
    pub(crate) after: u32,
    pub(crate) time: Duration,
}

impl Default for Ejection {
    fn default() -> Self {
        Ejection { after: DEFAULT_EJECT_AFTER, time: DEFAULT_EJECTION_TIME }
    }
}

impl Ejection {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=1000).contains(&self.after) {
            return Err(ConfigError::new("eject_after", format!("must be 1 to 1000, not {}", self.after)));
        }
        if self.time.is_zero() {
            return Err(ConfigError::new("ejection_time", "must be greater than zero"));
        }
        Ok(())
    }
}

/// A change worth a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Failed `unhealthy_threshold` checks in a row.
    ProbedDown,
    /// Passed `healthy_threshold` checks in a row.
    ProbedUp,
    /// `eject_after` failed fetches in a row.
    Ejected,
}

/// One endpoint's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointHealth {
    /// The active check's verdict (always up without one).
    probed_up: bool,
    /// Checks in a row that disagree with the verdict.
    streak: u32,
    /// Failed fetches in a row.
    failures: u32,
    ejected_until: Option<Instant>,
}

impl Default for EndpointHealth {
    fn default() -> Self {
        EndpointHealth { probed_up: true, streak: 0, failures: 0, ejected_until: None }
    }
}

impl EndpointHealth {
    /// Whether the endpoint takes fetches.
    pub(crate) fn is_available(&self, now: Instant) -> bool {
        self.probed_up && !self.is_ejected(now)
    }

    pub(crate) fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.is_some_and(|until| now < until)
    }

    /// How bad the endpoint is, when none is available and the least bad
    /// must take the fetch anyway: down by its checks, then ejected, then
    /// by failures in a row.
    pub(crate) fn badness(&self, now: Instant) -> (u8, u8, u32) {
        (u8::from(!self.probed_up), u8::from(self.is_ejected(now)), self.failures)
    }

    /// A health check's result.
    pub(crate) fn on_probe(&mut self, passed: bool, check: &HealthCheck) -> Option<Transition> {
        if passed == self.probed_up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        if passed && self.streak >= check.healthy_threshold {
            *self = EndpointHealth { ejected_until: self.ejected_until, ..EndpointHealth::default() };
            return Some(Transition::ProbedUp);
        }
        if !passed && self.streak >= check.unhealthy_threshold {
            self.probed_up = false;
            self.streak = 0;
            return Some(Transition::ProbedDown);
        }
        None
    }

    /// A fetch's outcome: `failed` for a connect error, a timeout or a
    /// 5xx. After `eject_after` in a row the endpoint is out for
    /// `ejection_time`; with a health check it must then pass
    /// `healthy_threshold` checks too. `may_eject` false (too many
    /// endpoints are out already) only counts the failure.
    pub(crate) fn on_fetch(
        &mut self,
        failed: bool,
        now: Instant,
        ejection: &Ejection,
        checked: bool,
        may_eject: bool,
    ) -> Option<Transition> {
        if !failed {
            self.failures = 0;
            return None;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures < ejection.after || self.is_ejected(now) || !may_eject {
            return None;
        }
        self.failures = 0;
        self.ejected_until = Some(now + ejection.time);
        if checked {
            self.probed_up = false;
            self.streak = 0;
        }
        Some(Transition::Ejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> HealthCheck {
        HealthCheck::new("/h").healthy_threshold(2).unhealthy_threshold(3)
    }

    #[test]
    fn probes_take_an_endpoint_down_and_bring_it_back_at_the_thresholds() {
        let now = Instant::now();
        let mut h = EndpointHealth::default();
        assert_eq!(h.on_probe(false, &check()), None);
        assert_eq!(h.on_probe(true, &check()), None, "a pass breaks the streak");
        assert_eq!(h.on_probe(false, &check()), None);
        assert_eq!(h.on_probe(false, &check()), None);
        assert!(h.is_available(now));
        assert_eq!(h.on_probe(false, &check()), Some(Transition::ProbedDown));
        assert!(!h.is_available(now));
        assert_eq!(h.on_probe(true, &check()), None);
        assert!(!h.is_available(now), "one pass is not enough");
        assert_eq!(h.on_probe(true, &check()), Some(Transition::ProbedUp));
        assert!(h.is_available(now));
    }

    #[test]
    fn consecutive_failures_eject_for_the_ejection_time() {
        let t0 = Instant::now();
        let ej = Ejection { after: 3, time: Duration::from_secs(30) };
        let mut h = EndpointHealth::default();
        assert_eq!(h.on_fetch(true, t0, &ej, false, true), None);
        assert_eq!(h.on_fetch(true, t0, &ej, false, true), None);
        assert_eq!(h.on_fetch(false, t0, &ej, false, true), None, "a success resets the count");
        assert_eq!(h.on_fetch(true, t0, &ej, false, true), None);
        assert_eq!(h.on_fetch(true, t0, &ej, false, true), None);
        assert_eq!(h.on_fetch(true, t0, &ej, false, true), Some(Transition::Ejected));
        assert!(!h.is_available(t0 + Duration::from_secs(29)));
        // Failures while ejected (fetches in fail-open mode) extend nothing.
        for _ in 0..5 {
            assert_eq!(h.on_fetch(true, t0 + Duration::from_secs(1), &ej, false, true), None);
        }
        assert!(h.is_available(t0 + Duration::from_secs(30)), "back after the cool-down");
    }

    #[test]
    fn with_a_health_check_an_ejected_endpoint_must_pass_it_to_return() {
        let t0 = Instant::now();
        let ej = Ejection { after: 1, time: Duration::from_secs(1) };
        let mut h = EndpointHealth::default();
        assert_eq!(h.on_fetch(true, t0, &ej, true, true), Some(Transition::Ejected));
        let later = t0 + Duration::from_secs(5);
        assert!(!h.is_available(later), "the cool-down is over, the check not passed");
        h.on_probe(true, &check());
        assert_eq!(h.on_probe(true, &check()), Some(Transition::ProbedUp));
        assert!(h.is_available(later));
        assert!(!h.is_available(t0), "passing checks does not cut the cool-down short");
    }

    #[test]
    fn badness_orders_down_then_ejected_then_failures() {
        let now = Instant::now();
        let ej = Ejection { after: 1, time: Duration::from_secs(9) };
        let mut ejected = EndpointHealth::default();
        ejected.on_fetch(true, now, &ej, false, true);
        let mut down = EndpointHealth::default();
        for _ in 0..3 {
            down.on_probe(false, &check());
        }
        let mut failing = EndpointHealth::default();
        failing.on_fetch(true, now, &Ejection { after: 9, ..ej }, false, true);
        assert!(failing.badness(now) < ejected.badness(now));
        assert!(ejected.badness(now) < down.badness(now));
    }

    #[test]
    fn bad_settings_name_themselves() {
        let setting = |c: HealthCheck| c.validate().unwrap_err().setting().to_owned();
        assert_eq!(setting(HealthCheck::new("healthz")), "health_check.path");
        assert_eq!(setting(check().interval(Duration::ZERO)), "health_check.interval");
        assert_eq!(setting(check().timeout(Duration::ZERO)), "health_check.timeout");
        assert_eq!(setting(check().healthy_threshold(0)), "health_check.healthy_threshold");
        assert_eq!(setting(check().unhealthy_threshold(101)), "health_check.unhealthy_threshold");
        assert_eq!(setting(check().host("a b")), "health_check.host");
        assert_eq!(setting(check().expected_status(RangeInclusive::new(400, 200))), "health_check.expected_status");
        assert!(check().validate().is_ok());
        let ej = |after, secs| Ejection { after, time: Duration::from_secs(secs) }.validate().unwrap_err();
        assert_eq!(ej(0, 1).setting(), "eject_after");
        assert_eq!(ej(1, 0).setting(), "ejection_time");
    }
}
