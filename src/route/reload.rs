//! What a configuration reload changes: a fingerprint per distribution,
//! the comparison of two routing tables, and which stored entries the new
//! table may no longer serve. Pure: tables in, a decision out.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;

use super::build::BuildContext;
use super::distribution::Distribution;
use super::table::{DistributionState, Routes, strip_port};
use crate::cache::key::key_host;
use crate::origin::config::OriginKind;

/// The fingerprint of a distribution's definition, without `enabled` (a
/// switch, not a change of policy) and without its host names (compared
/// per host by [`owner_changed`]), with the layer-wide TTL defaults it
/// inherits.
pub(crate) fn fingerprint(d: &Distribution, ctx: &BuildContext) -> u64 {
    let mut h = DefaultHasher::new();
    let mut d = d.clone();
    d.enabled = true;
    d.domain = None;
    d.aliases.clear();
    // `Debug` shows every setting except secrets; the values of custom
    // origin headers are hidden there but change what an origin answers.
    format!("{d:?}").hash(&mut h);
    for (_, origin) in &d.origins {
        if let OriginKind::Http(c) = &origin.kind {
            c.custom_headers.hash(&mut h);
        }
    }
    format!("{:?}", ctx.ttl).hash(&mut h);
    ctx.standalone.hash(&mut h);
    h.finish()
}

/// Distribution ids by what a reload does to them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RouteChanges {
    /// Same definition: entries kept.
    pub(crate) unchanged: Vec<String>,
    /// New definition: entries invalidated.
    pub(crate) changed: Vec<String>,
    /// Only in the new table.
    pub(crate) added: Vec<String>,
    /// Only in the old table: entries invalidated.
    pub(crate) removed: Vec<String>,
}

impl RouteChanges {
    /// Compares two tables by distribution id and fingerprint.
    pub(crate) fn between(old: &Routes, new: &Routes) -> Self {
        let mut out = RouteChanges::default();
        for d in &new.distributions {
            match old.distribution(&d.id) {
                Some(o) if o.fingerprint == d.fingerprint => out.unchanged.push(d.id.clone()),
                Some(_) => out.changed.push(d.id.clone()),
                None => out.added.push(d.id.clone()),
            }
        }
        for o in &old.distributions {
            if new.distribution(&o.id).is_none() {
                out.removed.push(o.id.clone());
            }
        }
        out
    }

    /// Whether any stored entry may have to go.
    pub(crate) fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }
}

/// `true` when the stored entry `key` may not be served under `new`: its
/// host is answered by another distribution than under `old` (or by none
/// any more), or by one whose definition changed. Entries of hosts that
/// keep an unchanged distribution survive the reload.
pub(crate) fn owner_changed(old: &Routes, new: &Routes, key: &str) -> bool {
    let host = strip_port(key_host(key));
    match (old.owner(host), new.owner(host)) {
        (None, None) => false,
        (Some(a), Some(b)) => a.id != b.id || a.fingerprint != b.fingerprint,
        _ => true,
    }
}

impl Routes {
    /// The distribution answering `host` (port removed), if any.
    pub(crate) fn owner(&self, host: &str) -> Option<&DistributionState> {
        self.for_host(Some(host))
    }

    /// The distribution with this id.
    pub(crate) fn distribution(&self, id: &str) -> Option<&DistributionState> {
        self.distributions.iter().find(|d| d.id == id)
    }

    /// Whether the stored entry `key` belongs to the distribution `id`.
    pub(crate) fn owns(&self, id: &str, key: &str) -> bool {
        self.owner(strip_port(key_host(key))).is_some_and(|d| d.id == id)
    }

    /// `(id, enabled)` of every distribution, in configuration order.
    pub(crate) fn enabled_states(&self) -> Vec<(String, bool)> {
        self.distributions.iter().map(|d| (d.id.clone(), d.enabled.load(Ordering::Relaxed))).collect()
    }

    /// Keeps run-time `set_enabled` changes of `old` in this (new) table,
    /// for distributions whose configured `enabled` did not change: a
    /// reload does not undo an operator's switch, but an edited file wins.
    pub(crate) fn keep_switches(&self, old: &Routes) {
        for d in &self.distributions {
            if let Some(o) = old.distribution(&d.id)
                && o.configured_enabled == d.configured_enabled
            {
                d.enabled.store(o.enabled.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
    }
}
