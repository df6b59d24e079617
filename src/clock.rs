//! [`Clock`]: where the layer reads the time. The system clock in
//! production; a manual clock in tests, so expiry is tested without sleeping.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The time source of a layer.
///
/// ```
/// use std::time::Duration;
/// use tower_cdn::Clock;
///
/// let clock = Clock::manual();
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(61));
/// assert_eq!(clock.now().duration_since(t0).unwrap(), Duration::from_secs(61));
/// ```
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<SystemTime>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock { manual: None }
    }

    /// A clock that starts at the current time and only moves when
    /// [`advance`](Self::advance)d. Clones share the same time.
    pub fn manual() -> Self {
        Clock { manual: Some(Arc::new(Mutex::new(SystemTime::now()))) }
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        match &self.manual {
            None => SystemTime::now(),
            Some(t) => *t.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.manual {
            let mut t = t.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *t += by;
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.manual {
            None => f.write_str("Clock::System"),
            Some(_) => write!(f, "Clock::Manual({:?})", self.now()),
        }
    }
}

/// A random 64-bit value (request-id seeds, edge ids, write ids, lock
/// tokens, epochs): std's per-process random hash keys over the time.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}
