//! The fleet settings of the file: `cache_name`, `edge_id` and `[l2]`.

use super::schema::L2Schema;
use crate::error::ConfigError;
use crate::{CdnLayerBuilder, L2Config};

/// Applies the fleet settings to the builder.
pub(crate) fn apply(
    mut b: CdnLayerBuilder,
    cache_name: Option<String>,
    edge_id: Option<String>,
    l2: Option<L2Schema>,
) -> Result<CdnLayerBuilder, ConfigError> {
    if let Some(name) = cache_name {
        b = b.cache_name(name);
    }
    if let Some(id) = edge_id {
        b = b.edge_id(id);
    }
    if let Some(l2) = l2 {
        b = b.l2(l2_config(l2)?);
    }
    Ok(b)
}

fn l2_config(s: L2Schema) -> Result<L2Config, ConfigError> {
    let mut c = match (s.url, s.cluster) {
        (Some(url), None) => L2Config::new(url),
        (None, Some(nodes)) => L2Config::cluster(nodes),
        (Some(_), Some(_)) => {
            return Err(ConfigError::new("l2.cluster", "set either url (one server) or cluster (cluster nodes)"));
        }
        (None, None) => {
            return Err(ConfigError::new("l2.url", "missing: a Redis URL, or cluster = [node URLs]"));
        }
    };
    if let Some(v) = s.key_prefix {
        c = c.key_prefix(v);
    }
    if let Some(v) = s.timeout {
        c = c.timeout(v.0);
    }
    if let Some(v) = s.max_object_size {
        c = c.max_entry_bytes(v.0);
    }
    if let Some(v) = s.chunk_size {
        c = c.chunk_bytes(v.0);
    }
    if let Some(v) = s.lock_ttl {
        c = c.lock_ttl(v.0);
    }
    if let Some(v) = s.lock_wait {
        c = c.lock_wait(v.0);
    }
    if let Some(v) = s.log_interval {
        c = c.log_interval(v.0);
    }
    if let Some(v) = s.purge_log_len {
        c = c.purge_log_len(v);
    }
    Ok(c)
}
