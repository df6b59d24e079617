//! One table of the layer-wide settings: the builder's name (what
//! [`crate::CdnLayerBuilder`] errors say), the file's key and the dev
//! proxy's flag. Errors are re-spelled through it, so a mistake names the
//! setting the way the user wrote it (`capacity`, `--capacity`), never a
//! builder field (`capacity_bytes`).

use crate::error::ConfigError;

/// A layer-wide setting, as each source spells it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Setting {
    /// The name in builder errors (`CdnLayerBuilder`'s setter).
    pub(crate) builder: &'static str,
    /// The file's top-level key.
    pub(crate) file: &'static str,
    /// The dev proxy's flag, if it has one.
    pub(crate) flag: Option<&'static str>,
}

const fn s(builder: &'static str, file: &'static str, flag: Option<&'static str>) -> Setting {
    Setting { builder, file, flag }
}

/// Every layer-wide setting whose builder name and file key or flag
/// differ, or that has a flag.
pub(crate) const SETTINGS: &[Setting] = &[
    s("capacity_bytes", "capacity", Some("--capacity")),
    s("max_entry_bytes", "max_object_size", Some("--max-object-size")),
    s("slice_bytes", "slice_size", Some("--slice-size")),
    s("default_ttl", "default_ttl", Some("--default-ttl")),
    s("min_ttl", "min_ttl", Some("--min-ttl")),
    s("max_ttl", "max_ttl", Some("--max-ttl")),
    s("error_caching_min_ttl", "error_caching_min_ttl", Some("--error-caching-min-ttl")),
    s("stale_while_revalidate", "stale_while_revalidate", Some("--stale-while-revalidate")),
    s("stale_if_error", "stale_if_error", Some("--stale-if-error")),
    s("stale_if_unreachable", "stale_if_unreachable", Some("--stale-if-unreachable")),
    s("viewer_scheme", "viewer_scheme", Some("--viewer-scheme")),
    s("cache_name", "cache_name", Some("--cache-name")),
    s("edge_id", "edge_id", None),
    s("l2.url", "l2.url", Some("--l2")),
    s("disk.dir", "disk.dir", Some("--cache-dir")),
    s("disk.capacity", "disk.capacity", Some("--disk-capacity")),
    s("disk.max_object_size", "disk.max_object_size", Some("--disk-max-object-size")),
    s("telemetry.otlp_endpoint", "telemetry.otlp_endpoint", Some("--otlp-endpoint")),
];

/// The setting a builder error names, if it is in the table.
pub(crate) fn by_builder(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.builder == name)
}

/// `e` with its setting, and every builder name in its message, spelled
/// by `spell` (settings it returns `None` for keep their name).
pub(crate) fn respell(e: &ConfigError, spell: impl Fn(&Setting) -> Option<&'static str>) -> ConfigError {
    let setting = by_builder(e.setting()).and_then(&spell).unwrap_or(e.setting());
    let mut message = e.message().to_owned();
    for s in SETTINGS {
        if let Some(name) = spell(s)
            && name != s.builder
        {
            message = replace_word(&message, s.builder, name);
        }
    }
    ConfigError::new(setting, message)
}

/// Replaces `word` where it stands as a whole identifier.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + word.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(is_ident) || after.is_some_and(is_ident) {
            out.push_str(word);
        } else {
            out.push_str(with);
        }
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_names_are_spelled_as_the_file_and_the_flags_spell_them() {
        let e = ConfigError::new(
            "max_entry_bytes",
            "9 bytes is more than half the cache capacity (8 bytes); raise capacity_bytes or lower max_entry_bytes",
        );
        let file = respell(&e, |s| Some(s.file));
        assert_eq!(file.setting(), "max_object_size");
        assert_eq!(
            file.message(),
            "9 bytes is more than half the cache capacity (8 bytes); raise capacity or lower max_object_size"
        );
        let flags = respell(&e, |s| s.flag);
        assert_eq!(flags.setting(), "--max-object-size");
        assert!(flags.message().ends_with("raise --capacity or lower --max-object-size"), "{}", flags.message());
        assert_eq!(replace_word("a min_ttl_x min_ttl", "min_ttl", "M"), "a min_ttl_x M");
    }
}
