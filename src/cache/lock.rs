//! Coalescing: the table of in-flight fills. The first miss on a key leads
//! (gets the [`FillWriter`]); later misses follow the same fill.
//!
//! A fill leaves the table when it completes, fails, is released or stops
//! being storable; a closed fill found in the table is replaced, so no path
//! (error, timeout, dropped client, panic) can leave a key locked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::fill::{Fill, FillReader, FillWriter};
use super::key::CacheKey;

type Map = Mutex<HashMap<CacheKey, Arc<Fill>>>;

/// How a miss joins the table.
pub enum Join {
    /// This request fetches from the origin; it also reads its own fill.
    /// The [`Registration`] takes the fill out of the table when dropped.
    Lead(FillWriter, FillReader, Registration),
    /// Another request is fetching; read its fill.
    Follow(FillReader),
    /// Another request is fetching a body too large to keep in memory,
    /// past its start: read it from the fill's disk write.
    FromFile(super::fill::Published),
}

/// The table of in-flight fills.
#[derive(Default)]
pub struct Fills {
    map: Arc<Map>,
}

/// Keeps a fill in the table; dropping it (at the end of the fill, or when
/// the fill task is aborted or panics) takes the fill out, so no path can
/// leave a key locked.
pub struct Registration {
    map: Arc<Map>,
    fill: Arc<Fill>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        remove_from(&self.map, &self.fill);
    }
}

fn lock_map(map: &Map) -> MutexGuard<'_, HashMap<CacheKey, Arc<Fill>>> {
    map.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn remove_from(map: &Map, fill: &Arc<Fill>) {
    let mut map = lock_map(map);
    if map.get(fill.key()).is_some_and(|f| Arc::ptr_eq(f, fill)) {
        map.remove(fill.key());
    }
}

impl std::fmt::Debug for Fills {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fills").field("in_flight", &self.lock().len()).finish()
    }
}

impl Fills {
    fn lock(&self) -> MutexGuard<'_, HashMap<CacheKey, Arc<Fill>>> {
        lock_map(&self.map)
    }

    /// Follows the fill in flight for `key`, or starts one.
    pub fn join_or_lead(&self, key: &CacheKey, max_bytes: u64) -> Join {
        let mut map = self.lock();
        if let Some(fill) = map.get(key) {
            if let Some(reader) = fill.attach() {
                return Join::Follow(reader);
            }
            if let Some(published) = fill.follow_from_file() {
                return Join::FromFile(published);
            }
        }
        let (fill, reader) = Fill::new_with_reader(Arc::clone(key));
        map.insert(Arc::clone(key), Arc::clone(&fill));
        let registration = Registration { map: Arc::clone(&self.map), fill: Arc::clone(&fill) };
        Join::Lead(FillWriter::new(fill, max_bytes), reader, registration)
    }

    /// Starts a fill with no reader (a background refresh), unless one is
    /// already in flight for `key`.
    pub fn lead_pinned(&self, key: &CacheKey, max_bytes: u64) -> Option<(FillWriter, Registration)> {
        let mut map = self.lock();
        if map.get(key).is_some_and(|f| !f.is_closed()) {
            return None;
        }
        let fill = Fill::new_pinned(Arc::clone(key));
        map.insert(Arc::clone(key), Arc::clone(&fill));
        let registration = Registration { map: Arc::clone(&self.map), fill: Arc::clone(&fill) };
        Some((FillWriter::new(fill, max_bytes), registration))
    }

    /// Whether a request for `key` would join a fill in flight (at byte 0
    /// or from its disk write).
    pub fn joinable(&self, key: &str) -> bool {
        self.lock().get(key).is_some_and(|f| !f.is_closed() || f.follow_from_file().is_some())
    }

    /// Removes `fill` from the table if it is still the one registered.
    pub fn remove(&self, fill: &Arc<Fill>) {
        remove_from(&self.map, fill);
    }

    /// Marks every in-flight fill whose key matches so its result is not
    /// stored (an invalidation must also cover fills in progress).
    pub fn invalidate_matching(&self, pred: impl Fn(&str) -> bool) -> usize {
        let mut map = self.lock();
        let mut n = 0;
        map.retain(|key, fill| {
            if pred(key) {
                fill.invalidate();
                n += 1;
                false
            } else {
                !fill.is_closed()
            }
        });
        n
    }

    /// Number of fills in flight.
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}
