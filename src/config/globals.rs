//! The layer-wide settings that both the file (top-level keys) and the dev
//! proxy's flags can give: one list, applied in one place, so a setting
//! added to one source is not forgotten in the other.

use std::time::Duration;

use crate::CdnLayerBuilder;

/// Layer-wide settings; `None` leaves the builder's value.
#[derive(Debug)]
pub(crate) struct Globals {
    pub(crate) capacity: Option<u64>,
    pub(crate) max_object_size: Option<u64>,
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) min_ttl: Option<Duration>,
    pub(crate) max_ttl: Option<Duration>,
    pub(crate) error_caching_min_ttl: Option<Duration>,
    pub(crate) stale_while_revalidate: Option<Duration>,
    pub(crate) stale_if_error: Option<Duration>,
    pub(crate) stale_if_unreachable: Option<Duration>,
    pub(crate) viewer_scheme: Option<String>,
    pub(crate) slice_size: Option<u64>,
}

impl Globals {
    /// Sets on `b` what is given.
    pub(crate) fn apply(self, mut b: CdnLayerBuilder) -> CdnLayerBuilder {
        let Globals {
            capacity,
            max_object_size,
            default_ttl,
            min_ttl,
            max_ttl,
            error_caching_min_ttl,
            stale_while_revalidate,
            stale_if_error,
            stale_if_unreachable,
            viewer_scheme,
            slice_size,
        } = self;
        if let Some(v) = capacity {
            b = b.capacity_bytes(v);
        }
        if let Some(v) = max_object_size {
            b = b.max_entry_bytes(v);
        }
        if let Some(v) = default_ttl {
            b = b.default_ttl(v);
        }
        if let Some(v) = min_ttl {
            b = b.min_ttl(v);
        }
        if let Some(v) = max_ttl {
            b = b.max_ttl(v);
        }
        if let Some(v) = error_caching_min_ttl {
            b = b.error_caching_min_ttl(v);
        }
        if let Some(v) = stale_while_revalidate {
            b = b.stale_while_revalidate(v);
        }
        if let Some(v) = stale_if_error {
            b = b.stale_if_error(v);
        }
        if let Some(v) = stale_if_unreachable {
            b = b.stale_if_unreachable(v);
        }
        if let Some(v) = viewer_scheme {
            b = b.viewer_scheme(v);
        }
        if let Some(v) = slice_size {
            b = b.slice_bytes(v);
        }
        b
    }
}
