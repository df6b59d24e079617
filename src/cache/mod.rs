//! Storage: keys, entries, the byte-weighted store, in-flight fills.

pub(crate) mod entry;
pub(crate) mod fill;
pub(crate) mod key;
pub(crate) mod local;
pub(crate) mod lock;
pub(crate) mod purge;
pub(crate) mod store;
pub(crate) mod variants;
