//! Invalidations across the fleet, and keeping in touch with Redis.
//!
//! Publishing (one Lua script, so the steps cannot be separated): `INCR`
//! the fleet generation, push `GEN\nEDGE\nSCOPE` onto a log capped at
//! `purge_log_len`, and `PUBLISH` it on `PREFIX:purges`. Then the entries
//! of exact paths and tags are deleted from Redis through their index sets
//! (prefix and whole-cache invalidations are not: the generation stamps
//! already make those entries misses, which delete them as they are read,
//! and they expire on their own). Invalidations made while Redis is down
//! are queued and published when it is back.
//!
//! The supervisor holds the subscription. Every (re)connection first
//! resynchronises: the epoch (a random value set once per Redis data set),
//! the generation and the log are read; missed invalidations are applied to
//! L1, or, when more were missed than the log holds or Redis lost its data,
//! the whole L1 is dropped (correctness first). Only then is L2 used again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::AsyncCommands as _;
use serde_json::{Value, json};

use super::client::Failure;
use super::state::{Catchup, Rule};
use super::{Fleet, random_u64};
use crate::cache::purge::{Mode, Scope};

const PUBLISH: &str = r"
local g = redis.call('INCR', KEYS[1])
local item = g .. '\n' .. ARGV[1] .. '\n' .. ARGV[2]
redis.call('LPUSH', KEYS[2], item)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
redis.call('PUBLISH', ARGV[4], item)
return g";

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How often a live subscription checks on the data connection.
const TICK: Duration = Duration::from_millis(500);
/// Index members removed per round trip.
const SCAN_PAGE: usize = 200;

/// The fleet membership, while the layer that owns it lives.
fn fleet_of(weak: &Weak<Fleet>) -> Option<Arc<Fleet>> {
    weak.upgrade()
}

/// Keeps the subscription and the up/down state, until the layer is dropped.
pub(super) async fn supervise(weak: Weak<Fleet>) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let Some(fleet) = fleet_of(&weak) else { return };
        let connect = tokio::time::timeout(fleet.redis.timeout.max(Duration::from_secs(1)), async {
            let mut pubsub = fleet.redis.pubsub.get_async_pubsub().await?;
            pubsub.subscribe(fleet.channel()).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match connect {
            Ok(Ok(pubsub)) => {
                backoff = BACKOFF_MIN;
                if resync(&fleet).await {
                    fleet.redis.mark_up();
                }
                listen(&weak, &fleet, pubsub).await;
                if weak.strong_count() == 0 {
                    return;
                }
                fleet.redis.failed(&Failure::Error(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "purge subscription lost",
                ))));
            }
            Ok(Err(e)) => fleet.redis.failed(&Failure::Error(e)),
            Err(_) => fleet.redis.failed(&Failure::Timeout),
        }
        drop(fleet);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Reads announcements until the subscription breaks; meanwhile brings the
/// data connection back up after command failures.
async fn listen(weak: &Weak<Fleet>, fleet: &Arc<Fleet>, pubsub: redis::aio::PubSub) {
    let mut stream = pubsub.into_on_message();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else { return };
                announced(fleet, msg.get_payload_bytes()).await;
            }
            _ = tick.tick() => {
                if weak.strong_count() == 0 {
                    return;
                }
                if !fleet.is_up() {
                    let ping = fleet.redis.try_call(|mut c| async move {
                        redis::cmd("PING").query_async::<String>(&mut c).await
                    }).await;
                    if ping.is_ok() && resync(fleet).await {
                        fleet.redis.mark_up();
                    }
                }
            }
        }
    }
}

async fn announced(fleet: &Arc<Fleet>, payload: &[u8]) {
    let Some((rule, edge)) = parse_item(payload) else {
        tracing::debug!("ignoring a malformed fleet invalidation");
        return;
    };
    let mine = edge == *fleet.edge_id;
    let verdict = fleet.generations().announce(rule.clone());
    match verdict {
        Some(true) if !mine => {
            if let Some(cache) = fleet.cache.upgrade() {
                cache.invalidate(rule.scope, rule.mode);
            }
        }
        Some(_) => {}
        // A gap (a message was lost): catch up from the log.
        None => {
            resync(fleet).await;
        }
    }
}

/// The epoch, the generation (absent before the first invalidation) and the log.
type SyncState = (String, Option<u64>, Vec<Vec<u8>>);

/// Brings this edge's generation state (and its L1) up to date with Redis.
async fn resync(fleet: &Arc<Fleet>) -> bool {
    let epoch_key = fleet.fleet_key("epoch");
    let mut pipe = redis::pipe();
    pipe.cmd("SET").arg(&epoch_key).arg(format!("{:016x}", random_u64())).arg("NX").ignore();
    pipe.get(&epoch_key);
    pipe.get(fleet.fleet_key("gen"));
    pipe.lrange(fleet.fleet_key("log"), 0, -1);
    let got: Result<SyncState, _> = fleet.redis.try_call(|mut c| async move { pipe.query_async(&mut c).await }).await;
    let Ok((epoch, generation, items)) = got else { return false };
    let Some(cache) = fleet.cache.upgrade() else { return false };
    let rules = items.iter().filter_map(|i| parse_item(i)).map(|(r, _)| r).collect();
    let l1_empty = cache.len() == 0;
    let catchup = fleet.generations().resync(&epoch, generation.unwrap_or(0), rules, l1_empty);
    match catchup {
        Catchup::UpToDate => {}
        Catchup::Apply(scopes) => {
            for (scope, mode) in scopes {
                cache.invalidate(scope, mode);
            }
        }
        Catchup::DropAll => {
            tracing::warn!("missed fleet invalidations that are no longer known; dropping this edge's L1 cache");
            cache.invalidate(Scope::All, Mode::Remove);
        }
    }
    true
}

/// Publishes queued invalidations, in order, retrying while Redis is down.
pub(super) async fn publisher(weak: Weak<Fleet>, mut rx: tokio::sync::mpsc::Receiver<(Scope, Mode)>) {
    while let Some((scope, mode)) = rx.recv().await {
        let text = scope_json(&scope, mode).to_string();
        loop {
            let Some(fleet) = fleet_of(&weak) else { return };
            if fleet.is_up() && publish_once(&fleet, &text).await.is_ok() {
                delete_indexed(&fleet, &scope).await;
                break;
            }
            drop(fleet);
            tokio::time::sleep(BACKOFF_MAX / 4).await;
        }
    }
}

async fn publish_once(fleet: &Fleet, scope: &str) -> Result<u64, Failure> {
    let script = redis::Script::new(PUBLISH);
    let (gen_key, log_key, channel) = (fleet.fleet_key("gen"), fleet.fleet_key("log"), fleet.channel());
    let (edge, scope, cap) = (fleet.edge_id.to_string(), scope.to_owned(), fleet.cfg.purge_log_len);
    fleet
        .redis
        .call(|mut c| async move {
            script.key(gen_key).key(log_key).arg(edge).arg(scope).arg(cap).arg(channel).invoke_async(&mut c).await
        })
        .await
}

/// Deletes the L2 entries of exact paths and tags through their indexes.
async fn delete_indexed(fleet: &Fleet, scope: &Scope) {
    let sets: Vec<(String, Option<&str>)> = match scope {
        Scope::Paths { host, paths } => {
            paths.iter().filter(|p| !p.ends_with('*')).map(|p| (fleet.index_key("p", p), host.as_deref())).collect()
        }
        Scope::Tags(tags) => tags.iter().map(|t| (fleet.index_key("t", t), None)).collect(),
        Scope::All | Scope::Keys(_) => Vec::new(),
    };
    for (set, host) in sets {
        let mut cursor = 0u64;
        loop {
            let s = set.clone();
            let page: Result<(u64, Vec<String>), _> = fleet
                .redis
                .call(|mut c| async move {
                    redis::cmd("SSCAN").arg(s).arg(cursor).arg("COUNT").arg(SCAN_PAGE).query_async(&mut c).await
                })
                .await;
            let Ok((next, members)) = page else { return };
            for member in members {
                let mut parts = member.splitn(3, '\t');
                let (Some(id), Some(chunks), Some(h)) = (parts.next(), parts.next(), parts.next()) else { continue };
                if host.is_some_and(|want| want != h) {
                    continue;
                }
                let keys = fleet.value_keys(id, chunks.parse().unwrap_or(0));
                let _ = fleet.redis.call(|mut c| async move { c.del::<_, ()>(keys).await }).await;
                let (s, m) = (set.clone(), member.clone());
                let _ = fleet.redis.call(|mut c| async move { c.srem::<_, _, ()>(s, m).await }).await;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
}

fn scope_json(scope: &Scope, mode: Mode) -> Value {
    let mut v = match scope {
        Scope::All => json!({ "all": true }),
        Scope::Paths { host, paths } => json!({ "host": host, "paths": paths }),
        Scope::Tags(tags) => json!({ "tags": tags }),
        // Never published (see `Fleet::publish`); kept total for safety.
        Scope::Keys(_) => json!({ "tags": [] }),
    };
    // Absent means a removal: what edges of earlier versions publish.
    if mode == Mode::Stale
        && let Some(obj) = v.as_object_mut()
    {
        obj.insert("mode".to_owned(), json!("stale"));
    }
    v
}

fn mode_from_json(v: &Value) -> Mode {
    match v.get("mode").and_then(Value::as_str) {
        Some("stale") => Mode::Stale,
        _ => Mode::Remove,
    }
}

fn scope_from_json(v: &Value) -> Option<Scope> {
    let strings =
        |v: &Value| -> Option<Vec<String>> { v.as_array()?.iter().map(|s| s.as_str().map(str::to_owned)).collect() };
    if v.get("all").and_then(Value::as_bool) == Some(true) {
        return Some(Scope::All);
    }
    if let Some(paths) = v.get("paths") {
        let host = v.get("host").and_then(Value::as_str).map(str::to_owned);
        return Some(Scope::Paths { host, paths: strings(paths)? });
    }
    Some(Scope::Tags(strings(v.get("tags")?)?))
}

/// `GEN\nEDGE\nSCOPE-JSON` → the rule and the edge that issued it.
fn parse_item(item: &[u8]) -> Option<(Rule, String)> {
    let text = std::str::from_utf8(item).ok()?;
    let mut parts = text.splitn(3, '\n');
    let generation = parts.next()?.parse().ok()?;
    let edge = parts.next()?.to_owned();
    let json: Value = serde_json::from_str(parts.next()?).ok()?;
    let scope = scope_from_json(&json)?;
    Some((Rule { generation, scope, mode: mode_from_json(&json) }, edge))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_survive_the_wire() {
        for scope in [
            Scope::All,
            Scope::Paths { host: Some("example.com".into()), paths: vec!["/a".into(), "/img/*".into()] },
            Scope::Paths { host: None, paths: vec!["/x".into()] },
            Scope::Tags(vec!["t1".into(), "product-9".into()]),
        ] {
            for mode in [Mode::Remove, Mode::Stale] {
                let item = format!("7\nedge-1\n{}", scope_json(&scope, mode));
                let (rule, edge) = parse_item(item.as_bytes()).unwrap();
                assert_eq!((rule.generation, edge.as_str(), &rule.scope, rule.mode), (7, "edge-1", &scope, mode));
            }
        }
        assert!(parse_item(b"x\ny\n{}").is_none());
        assert!(parse_item(b"3\nedge").is_none());
    }
}
