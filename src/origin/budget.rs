//! The retry budget of a multi-endpoint origin (Finagle's, Envoy's): over
//! the last [`WINDOW_SECS`] seconds, retries stay within `ratio` of the
//! fetches plus `min_per_second` × the window. In an outage where every
//! endpoint fails, the origin therefore sees at most `(1 + ratio)` times
//! the fetches plus that small reserve, never twice the load. Pure:
//! time is passed in as the time since the origin was built.

use std::time::Duration;

use crate::error::ConfigError;

/// The window the budget counts over (Finagle's default TTL).
pub(crate) const WINDOW_SECS: u64 = 10;

/// Default share of fetches that may be retried.
pub(crate) const DEFAULT_RATIO: f64 = 0.2;
/// Default retries per second allowed whatever the traffic (so a quiet
/// origin can still retry).
pub(crate) const DEFAULT_MIN_PER_SECOND: u32 = 3;

/// The configured budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BudgetConfig {
    pub(crate) ratio: f64,
    pub(crate) min_per_second: u32,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig { ratio: DEFAULT_RATIO, min_per_second: DEFAULT_MIN_PER_SECOND }
    }
}

impl BudgetConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.ratio.is_finite() || !(0.0..=1.0).contains(&self.ratio) {
            return Err(ConfigError::new("retry_budget.ratio", format!("must be 0 to 1, not {}", self.ratio)));
        }
        if self.min_per_second > 1000 {
            return Err(ConfigError::new(
                "retry_budget.min_per_second",
                format!("at most 1000, not {}", self.min_per_second),
            ));
        }
        Ok(())
    }
}

/// One second's counts.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    second: u64,
    fetches: u64,
    retries: u64,
}

/// Fetches and retries over the sliding window.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    cfg: BudgetConfig,
    buckets: [Bucket; WINDOW_SECS as usize],
}

impl RetryBudget {
    pub(crate) fn new(cfg: BudgetConfig) -> Self {
        RetryBudget { cfg, buckets: [Bucket::default(); WINDOW_SECS as usize] }
    }

    /// The bucket of `now`, emptied if it last counted an older second.
    fn bucket(&mut self, now: Duration) -> &mut Bucket {
        let second = now.as_secs();
        let b = &mut self.buckets[(second % WINDOW_SECS) as usize];
        if b.second != second {
            *b = Bucket { second, fetches: 0, retries: 0 };
        }
        b
    }

    /// Counts a fetch (its first attempt).
    pub(crate) fn on_fetch(&mut self, now: Duration) {
        self.bucket(now).fetches += 1;
    }

    /// Takes one retry from the budget, if there is one left.
    pub(crate) fn try_retry(&mut self, now: Duration) -> bool {
        let second = now.as_secs();
        let live = |b: &&Bucket| b.second + WINDOW_SECS > second && b.second <= second;
        let (fetches, retries) =
            self.buckets.iter().filter(live).fold((0u64, 0u64), |(f, r), b| (f + b.fetches, r + b.retries));
        let allowed = self.cfg.ratio * fetches as f64 + f64::from(self.cfg.min_per_second) * WINDOW_SECS as f64;
        if (retries + 1) as f64 > allowed + 1e-9 {
            return false;
        }
        self.bucket(now).retries += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn retries_stay_within_the_ratio_of_fetches() {
        let mut b = RetryBudget::new(BudgetConfig { ratio: 0.2, min_per_second: 0 });
        let mut retried = 0;
        for i in 0..100 {
            b.on_fetch(secs(f64::from(i) * 0.01));
            if b.try_retry(secs(f64::from(i) * 0.01)) {
                retried += 1;
            }
        }
        assert_eq!(retried, 20, "every fetch failed: 20% of them retried");
    }

    #[test]
    fn the_reserve_allows_retries_on_a_quiet_origin() {
        let mut b = RetryBudget::new(BudgetConfig { ratio: 0.0, min_per_second: 1 });
        let granted = (0..30).filter(|_| b.try_retry(secs(0.5))).count();
        assert_eq!(granted, WINDOW_SECS as usize, "1 a second over the 10 s window");
        assert!(!b.try_retry(secs(9.9)));
        // A bucket leaves the window: its retries are forgotten.
        assert!(b.try_retry(secs(10.0)));
    }

    #[test]
    fn old_fetches_leave_the_window() {
        let mut b = RetryBudget::new(BudgetConfig { ratio: 0.5, min_per_second: 0 });
        for _ in 0..10 {
            b.on_fetch(secs(0.0));
        }
        assert!(b.try_retry(secs(5.0)));
        assert!(!b.try_retry(secs(10.0)), "the fetches of second 0 are out of the window at 10");
        let none = RetryBudget::new(BudgetConfig { ratio: 0.0, min_per_second: 0 }).try_retry(secs(1.0));
        assert!(!none, "a budget of zero never retries");
    }

    #[test]
    fn bad_budgets_name_the_setting() {
        let e = BudgetConfig { ratio: 1.5, min_per_second: 0 }.validate().unwrap_err();
        assert_eq!(e.setting(), "retry_budget.ratio");
        let e = BudgetConfig { ratio: f64::NAN, min_per_second: 0 }.validate().unwrap_err();
        assert_eq!(e.setting(), "retry_budget.ratio");
        let e = BudgetConfig { ratio: 0.1, min_per_second: 5000 }.validate().unwrap_err();
        assert_eq!(e.setting(), "retry_budget.min_per_second");
        assert!(BudgetConfig::default().validate().is_ok());
    }
}
