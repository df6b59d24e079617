//! The `Vary` layout (RFC 9111 §4.1), for L1 and L2 alike: a URI whose
//! responses vary has a marker at its primary key naming the fields; each
//! variant is found by the secondary key those fields' request values make.
//! Fills coalesce on `primary + secondary` ([`key::variant_fill_key`]),
//! which is also where L2 stores the variant; L1 stores it under the
//! marker's generation too ([`key::variant_key`]), so a marker replaced by
//! one with other fields never finds the old variants.

use http::{HeaderMap, HeaderName};

use super::key::{self, CacheKey};
use crate::policy::vary;

/// Where a request's variant lives.
pub(crate) struct Location {
    /// Fills of it coalesce here; L2 stores it here.
    pub(crate) fill_key: CacheKey,
    /// L1 stores it here.
    pub(crate) store_key: CacheKey,
}

/// The variant of `primary` a request with `headers` selects, under a
/// marker of `fields` and `generation`.
pub(crate) fn locate(primary: &str, fields: &[HeaderName], generation: u64, headers: &HeaderMap) -> Location {
    let secondary = vary::secondary_key(fields, headers);
    Location {
        fill_key: key::variant_fill_key(primary, &secondary),
        store_key: key::variant_key(primary, generation, &secondary),
    }
}

/// The key a variant has in the shared tier (no generation: L2 markers are
/// replaced whole, and the value names its key).
pub(crate) fn shared_key(primary: &str, fields: &[HeaderName], headers: &HeaderMap) -> (String, String) {
    let secondary = vary::secondary_key(fields, headers);
    (key::variant_fill_key(primary, &secondary).to_string(), secondary)
}
