//! Storage: keys, entries, the byte-weighted store, in-flight fills, the
//! disk tier, and the value format L2 and the disk share.

#[cfg(any(feature = "l2", feature = "disk"))]
pub(crate) mod codec;
#[cfg(feature = "disk")]
pub(crate) mod disk;
pub(crate) mod entry;
pub(crate) mod fill;
pub(crate) mod key;
pub(crate) mod local;
pub(crate) mod lock;
pub(crate) mod purge;
pub(crate) mod store;
pub(crate) mod variants;
