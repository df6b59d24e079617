//! The disk tier's index in memory: what each file holds (its key, tags,
//! size and when its fill began), for capacity and purges. Rebuilt from the
//! files at start (nginx's cache loader); lookups do not need it to find a
//! file (the name is the key's hash), only to know it is still wanted.
//!
//! Eviction is least recently used: every disk hit moves its entry to the
//! back of a queue ordered by a tick, and a write that takes the total over
//! the capacity removes from the front down to 95% of it (so eviction
//! runs in batches, not on every write).

use std::collections::{BTreeMap, HashMap};

/// What the index knows about one file.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) key: Box<str>,
    pub(crate) tags: Box<[Box<str>]>,
    /// The file's length.
    pub(crate) size: u64,
    /// When its fill began (nanoseconds since the epoch): purges issued
    /// after it cover it.
    pub(crate) written: u64,
    tick: u64,
}

impl Item {
    pub(crate) fn new(key: Box<str>, tags: Box<[Box<str>]>, size: u64, written: u64) -> Self {
        Item { key, tags, size, written, tick: 0 }
    }
}

/// The index. Not thread-safe by itself: the tier wraps it in a mutex.
#[derive(Debug)]
pub(crate) struct Index {
    items: HashMap<u128, Item>,
    order: BTreeMap<u64, u128>,
    /// Ticks of uses count up from here...
    next_tick: u64,
    /// ...and those of scanned files down from here (older than any use).
    next_old: u64,
    bytes: u64,
}

impl Default for Index {
    fn default() -> Self {
        Index { items: HashMap::new(), order: BTreeMap::new(), next_tick: 1 << 62, next_old: (1 << 62) - 1, bytes: 0 }
    }
}

impl Index {
    /// Adds or replaces the file for `hash` (most recently used).
    pub(crate) fn insert(&mut self, hash: u128, mut item: Item) {
        self.remove(hash);
        item.tick = self.next_tick;
        self.next_tick += 1;
        self.order.insert(item.tick, hash);
        self.bytes += item.size;
        self.items.insert(hash, item);
    }

    /// Adds a file found by the start-up scan unless a newer write for the
    /// same hash is already indexed; least recently used among what is
    /// there (the scan has no access times).
    pub(crate) fn insert_scanned(&mut self, hash: u128, mut item: Item) -> bool {
        if self.items.contains_key(&hash) {
            return false;
        }
        item.tick = self.next_old;
        self.next_old = self.next_old.saturating_sub(1);
        self.order.insert(item.tick, hash);
        self.bytes += item.size;
        self.items.insert(hash, item);
        true
    }

    /// Marks a file used now.
    pub(crate) fn touch(&mut self, hash: u128) {
        if let Some(item) = self.items.get_mut(&hash) {
            self.order.remove(&item.tick);
            item.tick = self.next_tick;
            self.next_tick += 1;
            self.order.insert(item.tick, hash);
        }
    }

    /// Forgets a file; returns what it was.
    pub(crate) fn remove(&mut self, hash: u128) -> Option<Item> {
        let item = self.items.remove(&hash)?;
        self.order.remove(&item.tick);
        self.bytes -= item.size;
        Some(item)
    }

    pub(crate) fn contains(&self, hash: u128) -> bool {
        self.items.contains_key(&hash)
    }

    /// The least recently used files to remove so the total fits in
    /// `capacity` (down to 95% of it), removed from the index.
    pub(crate) fn evict_over(&mut self, capacity: u64) -> Vec<u128> {
        let mut out = Vec::new();
        if self.bytes <= capacity {
            return out;
        }
        let target = capacity - capacity / 20;
        while self.bytes > target {
            let Some((_, hash)) = self.order.pop_first() else { break };
            if let Some(item) = self.items.remove(&hash) {
                self.bytes -= item.size;
                out.push(hash);
            }
        }
        out
    }

    /// Removes every file `covers` selects; returns their hashes.
    pub(crate) fn remove_matching(&mut self, covers: impl Fn(&Item) -> bool) -> Vec<u128> {
        let hashes: Vec<u128> = self.items.iter().filter(|(_, item)| covers(item)).map(|(h, _)| *h).collect();
        for h in &hashes {
            self.remove(*h);
        }
        hashes
    }

    /// The keys of the items after `after` that `pred` selects, unsorted.
    pub(crate) fn keys_where(&self, after: Option<&str>, pred: impl Fn(&Item) -> bool) -> Vec<Box<str>> {
        self.items.values().filter(|i| after.is_none_or(|a| &*i.key > a) && pred(i)).map(|i| i.key.clone()).collect()
    }

    /// The item of a key, if indexed.
    pub(crate) fn item(&self, hash: u128, key: &str) -> Option<Item> {
        self.items.get(&hash).filter(|i| &*i.key == key).cloned()
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(size: u64) -> Item {
        Item::new("k".into(), Box::new([]), size, 0)
    }

    #[test]
    fn eviction_takes_the_least_recently_used_down_to_95_percent() {
        let mut ix = Index::default();
        for h in 0..10u128 {
            ix.insert(h, item(100));
        }
        ix.touch(0);
        assert!(ix.evict_over(1000).is_empty());
        ix.insert(10, item(100));
        let evicted = ix.evict_over(1000);
        // 1100 bytes down to at most 950: two go, the oldest untouched ones.
        assert_eq!(evicted, vec![1, 2]);
        assert!(ix.contains(0));
        assert_eq!(ix.bytes(), 900);
    }

    #[test]
    fn scanned_files_never_replace_newer_writes_and_go_first() {
        let mut ix = Index::default();
        ix.insert(1, item(10));
        assert!(!ix.insert_scanned(1, item(99)));
        assert!(ix.insert_scanned(2, item(10)));
        assert_eq!(ix.bytes(), 20);
        assert_eq!(ix.evict_over(15), vec![2]);
    }
}
