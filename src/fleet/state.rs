//! The fleet purge generation, as one edge knows it. Pure: no IO.
//!
//! Every invalidation in the fleet gets the next value of a counter in
//! Redis (its *generation*) and is kept in a capped log there. Each L2
//! entry is stamped with the generation its writer knew when its fill
//! began. An edge knows every rule with a generation in `(floor, seen]`;
//! an L2 entry stamped `s` is usable unless a known rule newer than `s`
//! covers it, or `s < floor` (rules it may be covered by are no longer
//! known: treated as purged, a miss).

use std::collections::VecDeque;

use crate::cache::purge::{Mode, Scope};

/// One fleet invalidation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) generation: u64,
    pub(crate) scope: Scope,
    /// Soft (mark stale in L1) or not; the shared tier's copies are
    /// removed either way.
    pub(crate) mode: Mode,
}

/// What a resync found out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Catchup {
    /// Nothing was missed.
    UpToDate,
    /// These rules were missed: apply them to L1.
    Apply(Vec<(Scope, Mode)>),
    /// History is lost (too many missed, or Redis lost its data): drop L1.
    DropAll,
}

/// The generation state of one edge.
#[derive(Debug)]
pub(crate) struct Generations {
    /// Identity of the Redis data set (changes when Redis lost its data).
    epoch: Option<String>,
    seen: u64,
    floor: u64,
    log: VecDeque<Rule>,
    cap: usize,
}

impl Generations {
    pub(crate) fn new(cap: usize) -> Self {
        Generations { epoch: None, seen: 0, floor: 0, log: VecDeque::new(), cap: cap.max(1) }
    }

    /// `true` once synchronised with Redis at least once.
    pub(crate) fn is_synced(&self) -> bool {
        self.epoch.is_some()
    }

    /// The stamp for a fill that begins now.
    pub(crate) fn stamp(&self) -> u64 {
        self.seen
    }

    /// Whether an L2 entry stamped `stamp`, stored under `key` with `tags`,
    /// is covered by an invalidation newer than it.
    pub(crate) fn is_purged(&self, stamp: u64, key: &str, tags: &[Box<str>]) -> bool {
        if stamp >= self.seen {
            return false;
        }
        if stamp < self.floor {
            return true;
        }
        self.log.iter().any(|r| r.generation > stamp && r.scope.covers(key, tags))
    }

    /// A rule announced on the channel. `Some(true)`: new and next in line
    /// (apply it); `Some(false)`: already known; `None`: a gap, resync.
    pub(crate) fn announce(&mut self, rule: Rule) -> Option<bool> {
        if !self.is_synced() || rule.generation > self.seen + 1 {
            return None;
        }
        if rule.generation <= self.seen {
            return Some(false);
        }
        self.push(rule);
        Some(true)
    }

    fn push(&mut self, rule: Rule) {
        self.seen = rule.generation;
        self.log.push_back(rule);
        while self.log.len() > self.cap {
            if let Some(old) = self.log.pop_front() {
                self.floor = old.generation;
            }
        }
    }

    /// Brings the state up to Redis's: `epoch`, its generation, and its log
    /// (any order). `l1_empty`: nothing stored locally yet (first start).
    pub(crate) fn resync(&mut self, epoch: &str, generation: u64, log: Vec<Rule>, l1_empty: bool) -> Catchup {
        let known = self.epoch.as_deref() == Some(epoch) && generation >= self.seen;
        let mut log = log;
        log.sort_by_key(|r| r.generation);
        log.dedup_by_key(|r| r.generation);
        if known {
            if generation == self.seen {
                return Catchup::UpToDate;
            }
            let missed: Vec<Rule> = log.iter().filter(|r| r.generation > self.seen).cloned().collect();
            let complete = missed.len() as u64 == generation - self.seen
                && missed.first().is_some_and(|r| r.generation == self.seen + 1);
            if complete {
                let scopes = missed.iter().map(|r| (r.scope.clone(), r.mode)).collect();
                for r in missed {
                    self.push(r);
                }
                return Catchup::Apply(scopes);
            }
        }
        // First sync, a new data set, or more missed than the log holds:
        // start over from what Redis has.
        let first = self.epoch.is_none();
        self.epoch = Some(epoch.to_owned());
        self.seen = generation;
        self.log.clear();
        self.floor = generation;
        // The newest contiguous run of rules ending at `generation`.
        let mut run: Vec<Rule> = Vec::new();
        for r in log.into_iter().rev() {
            let next = run.last().map_or(generation, |l| l.generation - 1);
            if r.generation != next {
                break;
            }
            run.push(r);
        }
        for r in run.into_iter().rev().take(self.cap) {
            self.floor = self.floor.min(r.generation - 1);
            self.log.push_back(r);
        }
        if self.log.len() > self.cap {
            self.log.drain(..self.log.len() - self.cap);
        }
        if first && l1_empty { Catchup::UpToDate } else { Catchup::DropAll }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(generation: u64, path: &str) -> Rule {
        Rule { generation, scope: Scope::Paths { host: None, paths: vec![path.into()] }, mode: Mode::Remove }
    }

    fn key(path: &str) -> String {
        crate::cache::key::cache_key("h", path, None).to_string()
    }

    #[test]
    fn entries_older_than_a_covering_rule_are_purged() {
        let mut g = Generations::new(10);
        assert_eq!(g.resync("e1", 2, vec![rule(1, "/a"), rule(2, "/b")], true), Catchup::UpToDate);
        assert!(g.is_purged(0, &key("/a"), &[]));
        assert!(!g.is_purged(1, &key("/a"), &[]), "written after the purge of /a");
        assert!(g.is_purged(1, &key("/b"), &[]));
        assert!(!g.is_purged(0, &key("/c"), &[]));
        assert!(!g.is_purged(2, &key("/b"), &[]));
        assert_eq!(g.announce(rule(3, "/c")), Some(true));
        assert!(g.is_purged(2, &key("/c"), &[]));
        assert_eq!(g.announce(rule(3, "/c")), Some(false));
        assert_eq!(g.announce(rule(5, "/d")), None, "gap: resync");
    }

    #[test]
    fn resync_applies_what_was_missed_or_drops_everything() {
        let mut g = Generations::new(3);
        g.resync("e1", 1, vec![rule(1, "/a")], true);
        let got = g.resync("e1", 3, vec![rule(3, "/c"), rule(2, "/b"), rule(1, "/a")], false);
        assert_eq!(got, Catchup::Apply(vec![(rule(2, "/b").scope, Mode::Remove), (rule(3, "/c").scope, Mode::Remove)]));
        assert_eq!(g.resync("e1", 3, vec![], false), Catchup::UpToDate);
        // Missed more than the log holds.
        assert_eq!(g.resync("e1", 9, vec![rule(9, "/x"), rule(8, "/y")], false), Catchup::DropAll);
        assert!(g.is_purged(6, &key("/zzz"), &[]), "below the floor: unknown, so purged");
        assert!(!g.is_purged(7, &key("/zzz"), &[]));
        // Redis lost its data (new epoch).
        assert_eq!(g.resync("e2", 0, vec![], false), Catchup::DropAll);
        assert_eq!(g.stamp(), 0);
    }

    #[test]
    fn the_log_is_capped_and_the_floor_follows() {
        let mut g = Generations::new(2);
        g.resync("e", 0, vec![], true);
        for n in 1..=4 {
            assert_eq!(g.announce(rule(n, "/p")), Some(true));
        }
        assert!(g.is_purged(1, &key("/unrelated"), &[]), "rule 2 is forgotten");
        assert!(!g.is_purged(2, &key("/unrelated"), &[]));
    }
}
