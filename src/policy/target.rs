//! Request-target normalisation (RFC 3986 §6.2.2): the cache key, the
//! behavior match, the signed-URL check and the origin request are all
//! built from one canonical path, so they always name the same resource
//! (no `/a/../b` cached under one key and fetched as another).
//!
//! The canonical form of a path:
//!
//! * percent-encoded unreserved characters are decoded (`%7E` → `~`,
//!   `%2e` → `.`), other escapes get upper-case hex (§6.2.2.1, §6.2.2.2),
//!   and a `%` that starts no escape is encoded as `%25`, so decoding can
//!   never make a new escape (`/%%41a` would otherwise become `/%Aa`, a
//!   different resource, and normalising twice would differ from once);
//! * characters that are not allowed in a path but that the request line
//!   parser lets through (`"`, `[`, `]`, `^`, `{`, `|`, `}`) are
//!   percent-encoded, as a URL library on the way to the origin would
//!   encode some of them: the origin receives the keyed bytes exactly;
//! * dot segments are removed (§5.2.4, §6.2.2.3), after decoding, so
//!   `/a/%2e%2e/b` is `/b`;
//! * everything else is kept as sent: `//a` stays (an empty segment is a
//!   different resource), `%2F` stays encoded (an encoded slash is not a
//!   separator), `;` parameters stay, the query is untouched but for `'`,
//!   which becomes `%27` (URL libraries encode it in queries).
//!
//! Refused ([`BadTarget`], 400 before any lookup), because origins read
//! them in ways the cache cannot key: a backslash, raw or as `%5C` (many
//! servers take it for `/`); NUL and other control bytes, raw or encoded;
//! dot segments that climb above the root (and so above an origin path).
//!
//! [`lenient_reading`] gives the path as the most lenient origin would read
//! it (`%2F` as `/`, `;` parameters dropped, slashes merged, dot segments
//! resolved): the router refuses a request whose lenient reading climbs
//! above the root or would pick another behavior than its canonical path.

use std::borrow::Cow;

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Characters that the request line parser accepts in a path but RFC 3986
/// does not: encoded in the canonical form.
fn needs_encoding(b: u8) -> bool {
    matches!(b, b'"' | b'[' | b']' | b'^' | b'{' | b'|' | b'}') || !b.is_ascii()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Why a request target is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BadTarget {
    /// The path climbs above the root (`/../x`): refused with 400, as
    /// nginx does, rather than silently clamped.
    AboveRoot,
    /// A backslash, raw or encoded (`%5C`): many servers read it as `/`.
    Backslash,
    /// A NUL or other control byte, raw or encoded (`%00`, `%0A`, `%7F`).
    ControlByte,
    /// Not a path at all: the asterisk form (`OPTIONS *`, RFC 9112 §3.2.4)
    /// or another target without a leading `/`, which `origin_path` would
    /// otherwise be glued to (`/public` + `*` = `/public*`; found by the
    /// wire fuzz target).
    NotOriginForm,
}

impl BadTarget {
    /// The short reason used in `Cache-Status` `detail=`.
    pub fn as_str(self) -> &'static str {
        match self {
            BadTarget::AboveRoot => "path-above-root",
            BadTarget::Backslash => "path-backslash",
            BadTarget::ControlByte => "path-control-byte",
            BadTarget::NotOriginForm => "path-not-origin-form",
        }
    }
}

/// Normalises a path (without query) to its canonical form. Borrowed when
/// already canonical.
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, BadTarget> {
    // No length cut-off: the work is linear, and a long path left as sent
    // would route, key and match signed-URL policies on its dot segments.
    if !path.starts_with('/') {
        return Ok(Cow::Borrowed(path));
    }
    // One pass over the bytes (this runs on every request, hits too).
    let (mut escapes, mut dots) = (false, false);
    for &b in path.as_bytes() {
        match b {
            b'\\' => return Err(BadTarget::Backslash),
            _ if b.is_ascii_control() => return Err(BadTarget::ControlByte),
            b'%' => escapes = true,
            b'.' => dots = true,
            _ if needs_encoding(b) => escapes = true,
            _ => {}
        }
    }
    let needs_work = escapes || (dots && path.split('/').any(|seg| seg == "." || seg == ".."));
    if !needs_work {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(path)?;
    remove_dot_segments(&decoded).map(Cow::Owned)
}

/// The query with `'` encoded (what a URL library does to it on the way to
/// the origin, so the key holds what the origin receives). Borrowed when
/// there is none.
pub fn normalize_query(query: &str) -> Cow<'_, str> {
    if query.contains('\'') { Cow::Owned(query.replace('\'', "%27")) } else { Cow::Borrowed(query) }
}

/// §6.2.2.1/2: decode unreserved escapes, upper-case the rest; a `%`
/// that starts no valid escape becomes `%25` (found by the `key` fuzz
/// target: kept literally, it could combine with decoded characters into a
/// new escape). Encoded backslashes and control bytes are refused.
fn decode_unreserved(path: &str) -> Result<String, BadTarget> {
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
            if v == b'\\' {
                return Err(BadTarget::Backslash);
            }
            if v.is_ascii_control() {
                return Err(BadTarget::ControlByte);
            }
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
        } else if needs_encoding(b) {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.push(b);
        }
        i += 1;
    }
    // Every byte that is not ASCII was encoded: the result is ASCII.
    Ok(String::from_utf8(out).unwrap_or_else(|_| path.to_owned()))
}

/// RFC 3986 §5.2.4 for an absolute path.
fn remove_dot_segments(path: &str) -> Result<String, BadTarget> {
    let mut segments: Vec<&str> = Vec::new();
    let ends_with_slash = path.ends_with("/.") || path.ends_with("/..") || path.ends_with('/');
    for seg in path.split('/').skip(1) {
        match seg {
            "." => {}
            ".." => {
                segments.pop().ok_or(BadTarget::AboveRoot)?;
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

/// A canonical path as the most lenient origin reads it: `%2F` as a
/// separator, `;` parameters dropped from each segment (Tomcat reads
/// `/..;/` as `/../`), runs of slashes merged (nginx's `merge_slashes`),
/// dot segments resolved. Borrowed when it reads the same. Refused when it
/// climbs above the root.
pub fn lenient_reading(canonical: &str) -> Result<Cow<'_, str>, BadTarget> {
    // One pass: `%2F` (canonical escapes are upper-case), `;`, or `//`.
    let lenient = |s: &str| {
        let b = s.as_bytes();
        (0..b.len()).any(|i| match b[i] {
            b';' => true,
            b'/' => b.get(i + 1) == Some(&b'/'),
            b'%' => b.get(i + 1..i + 3) == Some(b"2F"),
            _ => false,
        })
    };
    if !canonical.starts_with('/') || !lenient(canonical) {
        return Ok(Cow::Borrowed(canonical));
    }
    let slashed = canonical.replace("%2F", "/");
    let mut read = String::with_capacity(slashed.len());
    for seg in slashed.split('/').skip(1) {
        let seg = seg.split(';').next().unwrap_or("");
        if seg.is_empty() {
            continue;
        }
        read.push('/');
        read.push_str(seg);
    }
    if slashed.ends_with('/') || read.is_empty() {
        read.push('/');
    }
    let resolved = remove_dot_segments(&read)?;
    Ok(if resolved == canonical { Cow::Borrowed(canonical) } else { Cow::Owned(resolved) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        for above in ["/../../etc/passwd", "/..", "/a/../../b", "/%2e%2e/x"] {
            assert_eq!(normalize_path(above), Err(BadTarget::AboveRoot), "{above}");
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
            ("/a{b}", "/a%7Bb%7D"),
            ("/a^b|c", "/a%5Eb%7Cc"),
            ("/a\"b[1]", "/a%22b%5B1%5D"),
            ("/ü", "/%C3%BC"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_path(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn ambiguous_bytes_are_refused() {
        for (input, why) in [
            ("/x\\..\\private/secret", BadTarget::Backslash),
            ("/a%5cb", BadTarget::Backslash),
            ("/a%5Cb", BadTarget::Backslash),
            ("/a%00b", BadTarget::ControlByte),
            ("/a%0Ab", BadTarget::ControlByte),
            ("/a%7fb", BadTarget::ControlByte),
            ("/a\tb", BadTarget::ControlByte),
            ("/a\0b", BadTarget::ControlByte),
        ] {
            assert_eq!(normalize_path(input), Err(why), "{input:?}");
        }
    }

    #[test]
    fn queries_get_their_quotes_encoded() {
        assert_eq!(normalize_query("a=1&b='x'"), "a=1&b=%27x%27");
        assert!(matches!(normalize_query("a=1"), Cow::Borrowed(_)));
    }

    #[test]
    fn lenient_readings() {
        let cases = [
            ("/a/b", "/a/b"),
            ("/private%2Fsecret", "/private/secret"),
            ("//private/secret", "/private/secret"),
            ("/public/..;/private/secret", "/private/secret"),
            ("/a;jsessionid=1/b", "/a/b"),
            ("/a/..%2Fb", "/b"),
            ("/a//", "/a/"),
            ("/", "/"),
        ];
        for (canonical, want) in cases {
            assert_eq!(lenient_reading(canonical).unwrap(), want, "{canonical}");
        }
        for above in ["/..;/x", "/a/..%2F..%2Fx", "/files/..%2F..%2Finternal/secret", "/a/..;/..;/x"] {
            assert_eq!(lenient_reading(above), Err(BadTarget::AboveRoot), "{above}");
        }
        assert!(matches!(lenient_reading("/static/app.js"), Ok(Cow::Borrowed(_))));
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
