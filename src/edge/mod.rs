//! [`Edge`]: what one running layer is. Every clone of a
//! [`CdnLayer`](crate::CdnLayer) and every service it makes holds one
//! `Arc<Edge>`: this edge's cache, its routing table, its fixed settings,
//! what it observes, and its place in a fleet. The request flow reads it;
//! nothing below the flow sees it (a part gets the piece it needs).

mod settings;

pub(crate) use settings::EdgeSettings;

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::cache::local::LocalCache;
#[cfg(feature = "l2")]
use crate::fleet::Fleet;
use crate::observe::Observe;
use crate::observe::sink::AccessLog;
use crate::route::Routes;
use crate::status::Names;

/// One running layer.
#[derive(Debug)]
pub(crate) struct Edge {
    /// This edge's own cache.
    pub(crate) cache: Arc<LocalCache>,
    /// The routing table; swapped whole by `CdnLayer::reload`.
    pub(crate) routes: ArcSwap<Routes>,
    /// Serialises reloads with run-time `set_enabled` changes.
    pub(crate) reconfigure: Mutex<()>,
    /// The settings fixed when the layer was built.
    pub(crate) settings: EdgeSettings,
    /// This instance's identity in `CDN-Loop` and fleet messages (the
    /// configured one, or random per start).
    pub(crate) edge_id: Arc<str>,
    /// Request ids, access logs, counters.
    pub(crate) observe: Observe,
    /// The shared L2 tier and fleet coordination, when configured.
    #[cfg(feature = "l2")]
    pub(crate) fleet: Option<Arc<Fleet>>,
    /// This cache's name in `Cache-Status` and `X-Cache`.
    pub(crate) names: Names,
    /// URIs whose origin did not serve slices lately, until when.
    unsliced: Until,
    /// The admin token: a request that carries it in `X-Cache-Debug` gets
    /// its cache key in `Cache-Status` (RFC 9211 §2.7).
    pub(crate) debug_token: arc_swap::ArcSwapOption<Box<[u8]>>,
    /// Wrong `X-Cache-Debug` tokens in the current minute (and when it
    /// began): past [`DEBUG_GUESSES`], none is accepted until it ends.
    debug_failures: Mutex<(std::time::Instant, u32)>,
    /// Keys whose last background refresh failed, until when none is tried.
    refresh_failed: Until,
    /// Background refreshes (stale-while-revalidate, soft purges) running
    /// at once are bounded: past the bound a stale answer is served
    /// without starting another, and a later request refreshes it.
    pub(crate) refresh_slots: Arc<tokio::sync::Semaphore>,
}

/// Keys held back until some time (a memo of at most 10,000; full, it
/// starts over).
#[derive(Debug, Default)]
struct Until(Mutex<std::collections::HashMap<Arc<str>, std::time::Instant>>);

impl Until {
    fn holds(&self, key: &str) -> bool {
        let map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key).is_some_and(|until| std::time::Instant::now() < *until)
    }

    fn hold(&self, key: &str, for_: std::time::Duration) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= 10_000 {
            map.clear();
        }
        map.insert(Arc::from(key), std::time::Instant::now() + for_);
    }
}

/// Wrong `X-Cache-Debug` tokens a minute before the header is ignored for
/// the rest of it: the public listener is no place to guess the admin
/// token at speed.
pub(crate) const DEBUG_GUESSES: u32 = 10;

/// How long a key whose background refresh failed is not refreshed again
/// in the background (its stale answer still goes out where allowed).
pub(crate) const REFRESH_BACKOFF: std::time::Duration = std::time::Duration::from_secs(5);

/// Most background refreshes in flight at once per layer.
pub(crate) const MAX_BACKGROUND_REFRESHES: usize = 32;

impl Edge {
    /// Whether `given` (an `X-Cache-Debug` value) is the admin token,
    /// compared in constant time; wrong ones are counted, and past
    /// [`DEBUG_GUESSES`] in a minute no value is accepted until it ends.
    pub(crate) fn debug_allowed(&self, given: &[u8]) -> bool {
        let Some(token) = &*self.debug_token.load() else { return false };
        let same =
            given.len() == token.len() && given.iter().zip(token.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        let mut failures = self.debug_failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.0.elapsed() >= std::time::Duration::from_secs(60) {
            *failures = (std::time::Instant::now(), 0);
        }
        if failures.1 >= DEBUG_GUESSES {
            return false;
        }
        if !same {
            failures.1 += 1;
            if failures.1 == DEBUG_GUESSES {
                tracing::warn!(
                    "{DEBUG_GUESSES} wrong X-Cache-Debug tokens in a minute: the header is ignored until it ends"
                );
            }
        }
        same
    }

    /// A slot for one background refresh, if fewer than
    /// [`MAX_BACKGROUND_REFRESHES`] are running.
    pub(crate) fn refresh_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.refresh_slots).try_acquire_owned().ok()
    }
}

impl Edge {
    pub(crate) fn new(routes: Arc<Routes>, settings: EdgeSettings, access_logs: Vec<AccessLog>) -> Self {
        let observe = Observe::new(access_logs, &settings.edge_location);
        #[cfg(feature = "otel")]
        let observe = observe.with_tracing(settings.telemetry.as_ref().and_then(|cfg| {
            match crate::observe::telemetry::Tracing::start(cfg) {
                Ok(tracing) => Some(tracing),
                // The builder checked the settings; a failure here is logged.
                Err(e) => {
                    tracing::error!(error = %e, "OpenTelemetry disabled: cannot set up the OTLP exporter");
                    None
                }
            }
        }));
        let edge_id: Arc<str> = match &settings.edge_id {
            Some(id) => Arc::from(id.as_str()),
            None => Arc::from(format!("{:016x}", crate::clock::random_u64())),
        };
        #[cfg(feature = "disk")]
        let disk = settings.disk.clone().and_then(|cfg| {
            let dir = cfg.dir().display().to_string();
            match crate::cache::disk::Disk::open(cfg) {
                Ok(disk) => Some(Arc::new(disk)),
                // The builder checked the directory; a failure here is logged.
                Err(e) => {
                    tracing::error!(error = %e, dir, "disk tier disabled: cannot open its directory");
                    None
                }
            }
        });
        let cache = Arc::new(LocalCache::new(
            settings.store,
            #[cfg(feature = "disk")]
            disk,
        ));
        #[cfg(feature = "l2")]
        let fleet = settings.l2.as_ref().and_then(|l2| {
            match Fleet::new(l2, &edge_id, Arc::clone(&observe.metrics), Arc::downgrade(&cache)) {
                Ok(fleet) => Some(Arc::new(fleet)),
                // URLs were validated by the builder; a failure here is logged.
                Err(e) => {
                    tracing::error!(error = %e, "L2 disabled: cannot set up the Redis client");
                    None
                }
            }
        });
        let names = Names::new(&settings.cache_name);
        Edge {
            cache,
            routes: ArcSwap::new(routes),
            reconfigure: Mutex::new(()),
            settings,
            edge_id,
            observe,
            #[cfg(feature = "l2")]
            fleet,
            names,
            unsliced: Until::default(),
            debug_token: arc_swap::ArcSwapOption::empty(),
            debug_failures: Mutex::new((std::time::Instant::now(), 0)),
            refresh_failed: Until::default(),
            refresh_slots: Arc::new(tokio::sync::Semaphore::new(MAX_BACKGROUND_REFRESHES)),
        }
    }

    /// Whether a background refresh of `key` is held back (its last one
    /// failed a moment ago: the stale answer goes out without another).
    pub(crate) fn refresh_held(&self, key: &str) -> bool {
        self.refresh_failed.holds(key)
    }

    /// Holds background refreshes of `key` back for [`REFRESH_BACKOFF`].
    pub(crate) fn hold_refresh(&self, key: &str) {
        self.refresh_failed.hold(key, REFRESH_BACKOFF);
    }

    /// Whether range requests for `primary` skip slicing for now.
    pub(crate) fn slicing_refused(&self, primary: &str) -> bool {
        self.unsliced.holds(primary)
    }

    /// Range requests for `primary` take the usual path for `for_`.
    pub(crate) fn refuse_slicing(&self, primary: &str, for_: std::time::Duration) {
        self.unsliced.hold(primary, for_);
    }

    /// The current time; read once per request and passed to the policy.
    pub(crate) fn now(&self) -> SystemTime {
        self.settings.clock.now()
    }
}
