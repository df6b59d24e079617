//! Trusted public keys in the file: `[key_groups.NAME]` tables and a
//! behavior's `trusted_keys` / `trusted_key_groups`. PEM files are read
//! here, relative to the configuration file's directory; every error names
//! the key path (and the PEM file).

use std::collections::BTreeMap;
use std::path::Path;

use super::schema::{KeyGroupSchema, TrustedKeySchema};
#[cfg(feature = "signed-urls")]
use crate::auth::TrustedKeys;
/// Without the `signed-urls` feature no key can be trusted: every key in the
/// file is an error that names the feature.
#[cfg(not(feature = "signed-urls"))]
type TrustedKeys = std::convert::Infallible;
use crate::error::ConfigError;

/// One key as read: its id and PEM text.
#[derive(Debug, Clone)]
pub(crate) struct LoadedKey {
    id: String,
    pem: String,
    /// Where the PEM came from, for error messages (`"inline"` or the file).
    source: String,
}

/// The key groups of a file, loaded and checked.
pub(crate) type KeyGroups = BTreeMap<String, Vec<LoadedKey>>;

/// Reads every `[key_groups.NAME]`, checking each key parses.
pub(crate) fn load_groups(groups: &BTreeMap<String, KeyGroupSchema>, base: &Path) -> Result<KeyGroups, ConfigError> {
    let mut out = KeyGroups::new();
    // Without the feature, the feature is the first thing to say (before
    // any PEM file is looked for).
    #[cfg(not(feature = "signed-urls"))]
    if let Some(name) = groups.keys().next() {
        return Err(super::needs_feature(&format!("key_groups.{name}"), "signed-urls"));
    }
    for (name, group) in groups {
        let at = format!("key_groups.{name}.keys");
        let keys = load_list(&group.keys, base, &at)?;
        to_trusted(&keys, &at)?;
        if keys.is_empty() {
            return Err(ConfigError::new(at, "a key group needs at least one key"));
        }
        out.insert(name.clone(), keys);
    }
    Ok(out)
}

/// A behavior's trusted keys: its own `trusted_keys` and those of the
/// groups it names. `None` when it names neither (no signature required).
#[cfg_attr(not(feature = "signed-urls"), allow(unreachable_code, unused_variables))]
pub(crate) fn behavior_keys(
    inline: Option<&[TrustedKeySchema]>,
    group_names: Option<&[String]>,
    groups: &KeyGroups,
    base: &Path,
) -> Result<Option<TrustedKeys>, ConfigError> {
    if inline.is_none() && group_names.is_none() {
        return Ok(None);
    }
    #[cfg(not(feature = "signed-urls"))]
    return Err(super::needs_feature(
        if inline.is_some() { "trusted_keys" } else { "trusted_key_groups" },
        "signed-urls",
    ));
    let mut all = match inline {
        Some(list) => {
            let keys = load_list(list, base, "trusted_keys")?;
            to_trusted(&keys, "trusted_keys")?;
            keys
        }
        None => Vec::new(),
    };
    for (i, name) in group_names.unwrap_or_default().iter().enumerate() {
        let at = format!("trusted_key_groups[{i}]");
        let Some(group) = groups.get(name) else {
            return Err(ConfigError::new(
                at,
                format!("no key group named {name:?} (define it under [key_groups.{name}])"),
            ));
        };
        for key in group {
            if all.iter().any(|k| k.id == key.id) {
                return Err(ConfigError::new(at, format!("key id {:?} is trusted twice by this behavior", key.id)));
            }
            all.push(key.clone());
        }
    }
    to_trusted(&all, "trusted_keys").map(Some)
}

/// `list` is at key path `at` (e.g. `trusted_keys`).
fn load_list(list: &[TrustedKeySchema], base: &Path, at: &str) -> Result<Vec<LoadedKey>, ConfigError> {
    list.iter().enumerate().map(|(i, k)| load_one(k, base).map_err(|e| e.within(&format!("{at}[{i}]")))).collect()
}

fn load_one(k: &TrustedKeySchema, base: &Path) -> Result<LoadedKey, ConfigError> {
    match (&k.pem_file, &k.pem) {
        (Some(file), None) => {
            let path = base.join(file);
            let pem = crate::origin::tls::read_pem_file(&path, "pem_file")?;
            let pem = String::from_utf8(pem)
                .map_err(|_| ConfigError::new("pem_file", format!("{}: not a PEM text file", path.display())))?;
            Ok(LoadedKey { id: k.id.clone(), pem, source: path.display().to_string() })
        }
        (None, Some(pem)) => Ok(LoadedKey { id: k.id.clone(), pem: pem.clone(), source: "inline".into() }),
        _ => Err(ConfigError::new("", format!("key {:?}: give exactly one of `pem_file` and `pem`", k.id))),
    }
}

/// Parses the keys (listed at key path `at`) into a set; errors name the
/// entry and the PEM's source.
#[cfg(not(feature = "signed-urls"))]
fn to_trusted(_keys: &[LoadedKey], at: &str) -> Result<TrustedKeys, ConfigError> {
    Err(super::needs_feature(at, "signed-urls"))
}

/// Parses the keys (listed at key path `at`) into a set; errors name the
/// entry and the PEM's source.
#[cfg(feature = "signed-urls")]
fn to_trusted(keys: &[LoadedKey], at: &str) -> Result<TrustedKeys, ConfigError> {
    let mut set = TrustedKeys::new();
    for (i, k) in keys.iter().enumerate() {
        set.add_pem(&k.id, &k.pem).map_err(|e| {
            let setting = if k.source == "inline" { format!("{at}[{i}].pem") } else { format!("{at}[{i}].pem_file") };
            let message = if k.source == "inline" { e.to_string() } else { format!("{}: {e}", k.source) };
            ConfigError::new(setting, message)
        })?;
    }
    Ok(set)
}
