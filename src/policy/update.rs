//! Freshening a stored response with a 304 (RFC 9111 §3.2, §4.3.3, §4.3.4).

use http::header::{self, HeaderMap};

use super::conditional::EntityTag;
use super::headers::strip_hop_by_hop;

/// §4.3.4: is the stored response the one the 304 validates? With one
/// stored response per key: selected when the 304's strong-or-weak ETag
/// matches the stored one, else when its `Last-Modified` equals the stored
/// one, else (no validator in the 304) when the stored response has none
/// of the 304's validators to contradict.
pub fn validates(stored: &HeaderMap, not_modified: &HeaderMap) -> bool {
    if let Some(new) = not_modified.get(header::ETAG) {
        let (Some(new), Some(old)) = (
            EntityTag::parse_bytes(new.as_bytes()),
            stored.get(header::ETAG).and_then(|v| EntityTag::parse_bytes(v.as_bytes())),
        ) else {
            return false;
        };
        return new.weak_eq(&old);
    }
    if let Some(new) = not_modified.get(header::LAST_MODIFIED) {
        return stored.get(header::LAST_MODIFIED) == Some(new);
    }
    true
}

/// §3.2: the stored header fields updated with those of the 304: each
/// field in the 304 replaces the stored field of that name, except
/// hop-by-hop fields (§3.1) and `Content-Length` (the stored body's length
/// is what it is).
pub fn freshen(stored: &HeaderMap, not_modified: &HeaderMap) -> HeaderMap {
    let mut update = not_modified.clone();
    strip_hop_by_hop(&mut update);
    update.remove(header::CONTENT_LENGTH);
    let mut out = stored.clone();
    for name in update.keys() {
        out.remove(name);
    }
    for (name, value) in &update {
        out.append(name, value.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn selection_by_validator() {
        let stored = h(&[("etag", "\"a\""), ("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT")]);
        assert!(validates(&stored, &h(&[("etag", "\"a\"")])));
        assert!(validates(&stored, &h(&[("etag", "W/\"a\"")])));
        assert!(!validates(&stored, &h(&[("etag", "\"b\"")])));
        assert!(validates(&stored, &h(&[("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT")])));
        assert!(!validates(&stored, &h(&[("last-modified", "Tue, 02 Jan 2024 00:00:00 GMT")])));
        assert!(validates(&stored, &h(&[])));
    }

    #[test]
    fn freshening_replaces_fields_but_keeps_length() {
        let stored = h(&[
            ("cache-control", "max-age=1"),
            ("content-length", "5"),
            ("x-old", "1"),
            ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ]);
        let nm = h(&[
            ("cache-control", "max-age=60"),
            ("content-length", "0"),
            ("date", "Tue, 02 Jan 2024 00:00:00 GMT"),
            ("connection", "close"),
        ]);
        let out = freshen(&stored, &nm);
        assert_eq!(out["cache-control"], "max-age=60");
        assert_eq!(out["content-length"], "5");
        assert_eq!(out["x-old"], "1");
        assert_eq!(out["date"], "Tue, 02 Jan 2024 00:00:00 GMT");
        assert!(!out.contains_key("connection"));
    }
}
