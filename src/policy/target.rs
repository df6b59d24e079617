//! Request-target normalisation (RFC 3986 §6.2.2): the cache key and the
//! origin request are built from the same normalised path, so they always
//! name the same resource (no `/a/../b` cached under one key and fetched
//! as another).
//!
//! * percent-encoded unreserved characters are decoded (`%7E` → `~`,
//!   `%2e` → `.`), other escapes get upper-case hex (§6.2.2.1, §6.2.2.2),
//!   and a `%` that starts no escape is encoded as `%25`, so decoding can
//!   never make a new escape (`/%%41a` would otherwise become `/%Aa`, a
//!   different resource, and normalising twice would differ from once);
//! * dot segments are removed (§5.2.4, §6.2.2.3), after decoding, so
//!   `/a/%2e%2e/b` is `/b`;
//! * everything else is kept as sent: `//a` stays (an empty segment is a
//!   different resource), `%2F` stays encoded (an encoded slash is not a
//!   separator), `;` parameters stay, the query is untouched.

use std::borrow::Cow;

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The path climbs above the root (`/../x`): refused with 400, as nginx
/// does, rather than silently clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AboveRoot;

/// Normalises a path (without query). Borrowed when already normal.
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, AboveRoot> {
    // No length cut-off: the work is linear, and a long path left as sent
    // would route, key and match signed-URL policies on its dot segments.
    if !path.starts_with('/') {
        return Ok(Cow::Borrowed(path));
    }
    let needs_work = path.contains('%') || path.split('/').any(|seg| seg == "." || seg == "..");
    if !needs_work {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(path);
    remove_dot_segments(&decoded).map(Cow::Owned)
}

/// §6.2.2.1/2: decode unreserved escapes, upper-case the rest; a `%`
/// that starts no valid escape becomes `%25` (found by the `key` fuzz
/// target: kept literally, it could combine with decoded characters into a
/// new escape).
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%'
            && let (Some(h), Some(l)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            let v = h * 16 + l;
            if is_unreserved(v) {
                out.push(v);
            } else {
                out.extend_from_slice(&[b'%', bytes[i + 1].to_ascii_uppercase(), bytes[i + 2].to_ascii_uppercase()]);
            }
            i += 3;
            continue;
        }
        if b == b'%' {
            out.extend_from_slice(b"%25");
        } else {
            out.push(b);
        }
        i += 1;
    }
    // Only ASCII escapes were replaced by ASCII bytes, so the UTF-8 of the
    // input is intact.
    String::from_utf8(out).unwrap_or_else(|_| path.to_owned())
}

/// RFC 3986 §5.2.4 for an absolute path.
fn remove_dot_segments(path: &str) -> Result<String, AboveRoot> {
    let mut segments: Vec<&str> = Vec::new();
    let ends_with_slash = path.ends_with("/.") || path.ends_with("/..") || path.ends_with('/');
    for seg in path.split('/').skip(1) {
        match seg {
            "." => {}
            ".." => {
                segments.pop().ok_or(AboveRoot)?;
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    for seg in &segments {
        out.push('/');
        out.push_str(seg);
    }
    // A trailing "." or ".." leaves a directory ("/a/b/.." is "/a/").
    if ends_with_slash && !out.ends_with('/') {
        out.push('/');
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        for above in ["/../../etc/passwd", "/..", "/a/../../b", "/%2e%2e/x"] {
            assert_eq!(normalize_path(above), Err(AboveRoot), "{above}");
        }
        let cases = [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/../b", "/b"),
            ("/a/./b", "/a/b"),
            ("/a/%2e%2e/b", "/b"),
            ("/a/%2E%2E/b", "/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("//a", "//a"),
            ("/a%2fb", "/a%2Fb"),
            ("/a%2Fb", "/a%2Fb"),
            ("/%7Euser", "/~user"),
            ("/a;v=1/../b", "/b"),
            ("/a;v=1", "/a;v=1"),
            ("/%zz", "/%25zz"),
            ("/%", "/%25"),
            ("/%%41a", "/%25Aa"),
            ("/%%2541", "/%25%2541"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("*", "*"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_path(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn long_paths_are_normalised_too() {
        let long = format!("/private/{}/../../secret", "a".repeat(100_000));
        assert_eq!(normalize_path(&long).unwrap(), "/secret");
    }

    #[test]
    fn normal_paths_are_borrowed() {
        assert!(matches!(normalize_path("/static/app.js"), Ok(Cow::Borrowed(_))));
    }

    proptest! {
        #[test]
        fn never_panics_and_keeps_utf8(path in "/\\PC{0,30}") {
            let _ = normalize_path(&path);
        }

        #[test]
        fn idempotent_and_free_of_dot_segments(path in "/[a-fA-F0-9%./eE;]{0,40}") {
            let Ok(once) = normalize_path(&path).map(Cow::into_owned) else { return Ok(()) };
            let twice = normalize_path(&once).unwrap().into_owned();
            prop_assert_eq!(&once, &twice);
            prop_assert!(once.starts_with('/'));
            prop_assert!(!once.split('/').any(|s| s == "." || s == ".."), "{}", once);
        }
    }
}
