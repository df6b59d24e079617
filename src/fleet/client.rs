//! The Redis connection: one server (a connection manager: one multiplexed,
//! pipelined connection that reconnects by itself) or a Redis Cluster, every
//! command under a short timeout, and the up/down state that keeps a dead
//! Redis off the request path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::config::L2Config;
use crate::observe::metrics::SharedMetrics;

/// A connection to one server or to a cluster; cheap to clone (both
/// multiplex commands over shared connections).
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Why a Redis call produced nothing.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Redis is marked down; the call was not tried.
    Down,
    /// The call timed out.
    Timeout,
    /// Redis answered with an error, or the connection failed.
    Error(redis::RedisError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Down => f.write_str("marked down"),
            Failure::Timeout => f.write_str("timed out"),
            Failure::Error(e) => write!(f, "{e}"),
        }
    }
}

/// Errors that mean Redis cannot be reached (as opposed to an error reply).
fn is_outage(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
        || e.is_cluster_error()
}

/// The Redis side of the fleet.
pub(crate) struct Redis {
    conn: OnceLock<Conn>,
    cfg: L2Config,
    /// For the pub/sub subscription (a cluster forwards every publish to
    /// every node, so one node is enough).
    pub(crate) pubsub: redis::Client,
    pub(crate) timeout: Duration,
    up: AtomicBool,
    log_interval: Duration,
    last_warning: Mutex<Option<Instant>>,
    metrics: SharedMetrics,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("up", &self.is_up()).finish_non_exhaustive()
    }
}

impl Redis {
    /// Sets up the client; the connection is made by [`start`](Self::start).
    pub(crate) fn new(cfg: &L2Config, metrics: SharedMetrics) -> redis::RedisResult<Self> {
        let first = cfg.urls.first().map_or("redis://127.0.0.1:6379", String::as_str);
        let pubsub = match &cfg.tls {
            Some(tls) => redis::Client::build_with_tls(first, tls.certificates())?,
            None => redis::Client::open(first)?,
        };
        Ok(Redis {
            conn: OnceLock::new(),
            cfg: cfg.clone(),
            pubsub,
            timeout: cfg.timeout,
            up: AtomicBool::new(false),
            log_interval: cfg.log_interval,
            last_warning: Mutex::new(None),
            metrics,
        })
    }

    /// Creates the connection (lazy: it connects on first use and
    /// reconnects by itself). Needs a Tokio runtime.
    pub(crate) fn start(&self) -> redis::RedisResult<()> {
        let cfg = &self.cfg;
        let conn = if cfg.cluster {
            let mut builder = redis::cluster::ClusterClientBuilder::new(cfg.urls.clone())
                .connection_timeout(cfg.timeout)
                .response_timeout(cfg.timeout)
                .retries(1);
            if let Some(tls) = &cfg.tls {
                builder = builder.certs(tls.certificates());
            }
            let client = builder.build()?;
            let config = redis::cluster::ClusterConfig::new()
                .set_connection_timeout(cfg.timeout)
                .set_response_timeout(cfg.timeout);
            Conn::Cluster(client.get_pending_async_connection_with_config(config))
        } else {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(cfg.timeout))
                .set_response_timeout(Some(cfg.timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_secs(1));
            Conn::Single(ConnectionManager::new_lazy_with_config(self.pubsub.clone(), config)?)
        };
        let _ = self.conn.set(conn);
        Ok(())
    }

    /// `true` while Redis answers (and the fleet state is in sync).
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Runs one command or pipeline if Redis is up, under the timeout.
    pub(crate) async fn call<T, F, Fut>(&self, f: F) -> Result<T, Failure>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.is_up() {
            return Err(Failure::Down);
        }
        self.try_call(f).await
    }

    /// Runs one command whether or not Redis is marked up (for probes).
    pub(crate) async fn try_call<T, F, Fut>(&self, f: F) -> Result<T, Failure>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let Some(conn) = self.conn.get() else { return Err(Failure::Down) };
        let result = match tokio::time::timeout(self.timeout, f(conn.clone())).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) if !is_outage(&e) => {
                // Redis answered with an error (e.g. a command this server
                // version lacks): count it, but Redis is up.
                self.metrics.l2_error();
                tracing::debug!(error = %e, "Redis command failed");
                return Err(Failure::Error(e));
            }
            Ok(Err(e)) => Failure::Error(e),
            Err(_) => Failure::Timeout,
        };
        self.failed(&result);
        Err(result)
    }

    /// Records a failure: counted, Redis marked down (the supervisor probes
    /// it back up), and a warning at most once per interval.
    pub(crate) fn failed(&self, why: &Failure) {
        self.metrics.l2_error();
        let was_up = self.up.swap(false, Ordering::AcqRel);
        self.metrics.set_l2_up(false);
        let mut last = self.last_warning.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if was_up || last.is_none_or(|t| t.elapsed() >= self.log_interval) {
            *last = Some(Instant::now());
            tracing::warn!(error = %why, "L2 (Redis) unavailable; serving from L1 and the origin");
        }
    }

    /// Marks Redis up again (after a probe and a resync).
    pub(crate) fn mark_up(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            self.metrics.set_l2_up(true);
            tracing::info!("L2 (Redis) available");
        }
    }
}
