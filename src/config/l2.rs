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

#[cfg(test)]
mod tests {
    use crate::config::from_toml_str;

    fn key_of(text: &str) -> String {
        from_toml_str(text, "f.toml").unwrap_err().key().to_owned()
    }

    #[test]
    fn the_readme_fleet_files_are_valid() {
        let readme = include_str!("../../README.md");
        let fleet = &readme[readme.find("## Running a fleet").expect("the fleet section")..];
        let fleet = &fleet[..fleet.find("\n## ").unwrap_or(fleet.len())];
        let mut blocks = 0;
        for block in fleet.split("```toml\n").skip(1) {
            let text = &block[..block.find("```").unwrap()];
            from_toml_str(text, "README.md").unwrap().build().unwrap();
            blocks += 1;
        }
        assert_eq!(blocks, 2, "edge.toml and shield.toml");
    }

    #[test]
    fn l2_mistakes_name_their_key() {
        assert_eq!(key_of("[l2]\nurl = \"redis://a\"\ncluster = [\"redis://b\"]"), "l2.cluster");
        assert_eq!(key_of("[l2]\nkey_prefix = \"x\""), "l2.url");
        assert_eq!(key_of("[l2]\nurl = \"redis://a\"\nurll = 1"), "l2.urll");
        assert_eq!(key_of("[l2]\nurl = \"redis://a\"\ntimeout = \"soon\""), "l2.timeout");
        let build = |text: &str| from_toml_str(text, "f.toml").unwrap().build().unwrap_err().key().to_owned();
        assert_eq!(build("[l2]\nurl = \"http://nope\""), "l2.url");
        assert_eq!(build("[l2]\nurl = \"redis://a\"\nchunk_size = 10"), "l2.chunk_size");
        assert_eq!(build("[l2]\nurl = \"redis://a\"\ntimeout = 0"), "l2.timeout");
        assert_eq!(build("cache_name = \"two words\""), "cache_name");
    }
}
