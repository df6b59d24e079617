//! Active health checks: one background task per endpoint, started once a
//! Tokio runtime is at hand (when the origin is built inside one, else at
//! its first fetch). Each task holds only a `Weak` to its pool, so the
//! checks stop when the layer (or a reloaded-away configuration) is
//! dropped.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use http::HeaderMap;
use http::header::{self, HeaderValue};
use tokio::time::MissedTickBehavior;

use super::endpoints::Pool;
use super::health::HealthCheck;
use super::tls::Transport;

/// Starts `pool`'s health checks, if it has some and they are not
/// running yet; without a runtime, nothing happens (a later call starts
/// them). `headers` are the origin's custom headers.
pub(crate) fn ensure_started(pool: &Arc<Pool>, transports: &[Transport], headers: &HeaderMap) {
    if pool.check.is_none() || pool.started.load(Ordering::Acquire) {
        return;
    }
    if tokio::runtime::Handle::try_current().is_err() || pool.started.swap(true, Ordering::AcqRel) {
        return;
    }
    for (i, transport) in transports.iter().enumerate().take(pool.len()) {
        tokio::spawn(run(Arc::downgrade(pool), i, transport.clone(), headers.clone()));
    }
}

/// Checks endpoint `i` every interval while its pool lives.
async fn run(pool: Weak<Pool>, i: usize, transport: Transport, headers: HeaderMap) {
    let Some(interval) = pool.upgrade().and_then(|p| p.check.as_ref().map(|c| c.interval)) else { return };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let Some(check) = &pool.check else { return };
        match probe(&transport, check, &headers).await {
            Ok(()) => pool.on_probe(i, true, ""),
            Err(why) => pool.on_probe(i, false, &why),
        }
    }
}

/// One check: `Ok` when the endpoint answered an expected status in time.
async fn probe(transport: &Transport, check: &HealthCheck, headers: &HeaderMap) -> Result<(), String> {
    let url = format!("{}{}", transport.base, check.path);
    let mut headers = headers.clone();
    if let Some(host) = &transport.host {
        headers.insert(header::HOST, host.clone());
    }
    if let Some(host) = &check.host
        && let Ok(value) = HeaderValue::from_str(host)
    {
        headers.insert(header::HOST, value);
    }
    let sent = transport.client.get(&url).headers(headers).timeout(check.timeout).send().await;
    let resp = sent.map_err(|e| super::custom::classify(e).to_string())?;
    let status = resp.status().as_u16();
    // The body is not read: dropping it closes (or returns) the connection.
    if check.expected_status.contains(&status) { Ok(()) } else { Err(format!("{url} answered {status}")) }
}
