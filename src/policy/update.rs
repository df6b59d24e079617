//! Freshening a stored response with a 304 (RFC 9111 §3.2, §4.3.3, §4.3.4).

use http::header::{self, HeaderMap};

use super::conditional::EntityTag;
use super::headers::strip_hop_by_hop;

/// §4.3.4: is the stored response the one the 304 validates? We keep one
/// response per key and the conditional request carried only its
/// validators, so the 304 refers to it. When the stored response has an
/// entity tag, the origin's "not modified" answered our `If-None-Match`
/// for exactly that tag: selected, whatever tag the 304 itself shows (the
/// stored `ETag` is kept, see [`freshen`]). Without a stored entity tag,
/// a 304 whose `Last-Modified` differs from the stored one is about
/// another representation: not selected.
pub fn validates(stored: &HeaderMap, not_modified: &HeaderMap) -> bool {
    if stored.get(header::ETAG).and_then(|v| EntityTag::parse_bytes(v.as_bytes())).is_some() {
        return true;
    }
    match not_modified.get(header::LAST_MODIFIED) {
        Some(new) => stored.get(header::LAST_MODIFIED) == Some(new),
        None => true,
    }
}

/// Fields a 304 never updates: they describe the stored body itself
/// (its length, encoding, range, digest and entity tag).
const KEEP_FROM_STORED: [&str; 5] = ["content-length", "content-encoding", "content-range", "content-md5", "etag"];

/// §3.2: the stored header fields updated with those of the 304: each
/// field in the 304 replaces the stored field of that name, except
/// hop-by-hop fields (§3.1) and the fields that describe the stored body
/// (`Content-Length`, `Content-Encoding`, `Content-Range`, `Content-MD5`,
/// `ETag`), as the HTTP caching test suite requires.
pub fn freshen(stored: &HeaderMap, not_modified: &HeaderMap) -> HeaderMap {
    let mut update = not_modified.clone();
    strip_hop_by_hop(&mut update);
    // The stored body is what these describe: a 304 cannot change them.
    for name in KEEP_FROM_STORED {
        update.remove(name);
    }
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

    use crate::test_util::headers as h;

    #[test]
    fn selection_by_validator() {
        let stored = h(&[("etag", "\"a\""), ("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT")]);
        assert!(validates(&stored, &h(&[("etag", "\"a\"")])));
        assert!(validates(&stored, &h(&[("etag", "W/\"a\"")])));
        assert!(validates(&stored, &h(&[("etag", "\"b\"")])), "our If-None-Match named the stored tag");
        assert!(validates(&stored, &h(&[])));
        let lm_only = h(&[("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT")]);
        assert!(validates(&lm_only, &h(&[("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT")])));
        assert!(!validates(&lm_only, &h(&[("last-modified", "Tue, 02 Jan 2024 00:00:00 GMT")])));
        assert!(validates(&lm_only, &h(&[])));
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
            ("content-encoding", "gzip"),
            ("etag", "\"other\""),
            ("date", "Tue, 02 Jan 2024 00:00:00 GMT"),
            ("connection", "close"),
        ]);
        let out = freshen(&stored, &nm);
        assert_eq!(out["cache-control"], "max-age=60");
        assert_eq!(out["content-length"], "5");
        assert!(!out.contains_key("content-encoding"));
        assert!(!out.contains_key("etag"));
        assert_eq!(out["x-old"], "1");
        assert_eq!(out["date"], "Tue, 02 Jan 2024 00:00:00 GMT");
        assert!(!out.contains_key("connection"));
    }
}
