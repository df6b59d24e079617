//! The tier settings of the file: `cache_name`, `edge_id`, `[l2]` and `[disk]`.

use std::path::Path;

use super::schema::L2Schema;
use crate::CdnLayerBuilder;
#[cfg(feature = "l2")]
use crate::L2Config;
use crate::error::ConfigError;

/// Applies the fleet settings to the builder.
pub(crate) fn apply(
    mut b: CdnLayerBuilder,
    cache_name: Option<String>,
    edge_id: Option<String>,
    l2: Option<L2Schema>,
    base: &Path,
) -> Result<CdnLayerBuilder, ConfigError> {
    if let Some(name) = cache_name {
        b = b.cache_name(name);
    }
    if let Some(id) = edge_id {
        b = b.edge_id(id);
    }
    #[cfg(feature = "l2")]
    if let Some(l2) = l2 {
        b = b.l2(l2_config(l2, base)?);
    }
    #[cfg(not(feature = "l2"))]
    if l2.is_some() {
        let _ = base;
        return Err(super::needs_feature("l2", "l2"));
    }
    Ok(b)
}

/// Applies `[disk]`; a relative `dir` is relative to the file.
pub(crate) fn apply_disk(
    b: CdnLayerBuilder,
    disk: Option<super::schema::DiskSchema>,
    base: &Path,
) -> Result<CdnLayerBuilder, ConfigError> {
    let Some(disk) = disk else { return Ok(b) };
    #[cfg(feature = "disk")]
    {
        let mut c = crate::DiskConfig::new(base.join(&disk.dir));
        if let Some(v) = disk.capacity {
            c = c.capacity_bytes(v.0);
        }
        if let Some(v) = disk.max_object_size {
            c = c.max_object_bytes(v.0);
        }
        Ok(b.disk(c))
    }
    #[cfg(not(feature = "disk"))]
    {
        let _ = (b, disk, base);
        Err(super::needs_feature("disk", "disk"))
    }
}

#[cfg(feature = "l2")]
fn l2_config(s: L2Schema, base: &Path) -> Result<L2Config, ConfigError> {
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
    if let Some(file) = &s.tls_ca_file {
        c = c.tls_root_certs(read(base, file, "l2.tls_ca_file")?);
    }
    match (&s.tls_cert_file, &s.tls_key_file) {
        (Some(cert), Some(key)) => {
            c = c.tls_client_cert(read(base, cert, "l2.tls_cert_file")?, read(base, key, "l2.tls_key_file")?);
        }
        (Some(_), None) => return Err(ConfigError::new("l2.tls_key_file", "missing: tls_cert_file needs its key")),
        (None, Some(_)) => {
            return Err(ConfigError::new("l2.tls_cert_file", "missing: tls_key_file needs its certificate"));
        }
        (None, None) => {}
    }
    Ok(c)
}

/// A PEM file named by setting `key`, relative to the config file's directory.
#[cfg(feature = "l2")]
fn read(base: &Path, file: &str, key: &str) -> Result<Vec<u8>, ConfigError> {
    crate::origin::tls::read_pem_file(&base.join(file), key)
}

#[cfg(all(test, feature = "l2"))]
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

    #[test]
    fn tls_files_are_read_relative_to_the_file_and_checked() {
        let dir = std::env::temp_dir().join(format!("tower-cdn-l2-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), "not a certificate").unwrap();
        let file = dir.join("edge.toml").display().to_string();
        let build = |text: &str| from_toml_str(text, &file).unwrap().build().unwrap_err().key().to_owned();
        assert_eq!(key_of("[l2]\nurl = \"rediss://a\"\ntls_ca_file = \"missing.pem\""), "l2.tls_ca_file");
        assert_eq!(key_of("[l2]\nurl = \"rediss://a\"\ntls_cert_file = \"ca.pem\""), "l2.tls_key_file");
        assert_eq!(key_of("[l2]\nurl = \"rediss://a\"\ntls_key_file = \"ca.pem\""), "l2.tls_cert_file");
        // Read from the file's directory, then found unusable.
        assert_eq!(build("[l2]\nurl = \"rediss://a\"\ntls_ca_file = \"ca.pem\""), "l2.tls_ca_file");
        assert_eq!(build("[l2]\nurl = \"redis://a\"\ntls_ca_file = \"ca.pem\""), "l2.tls_ca_file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
