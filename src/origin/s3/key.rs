//! Turning a viewer request path into an S3 object key.
//!
//! The request path is percent-decoded exactly once and then checked; anything that could
//! name a different object than the one the path appears to name (dot segments, encoded
//! slashes, backslashes, control characters, empty segments) is rejected rather than
//! "fixed", so that one object is only reachable (and cached) under one path.

use std::borrow::Cow;
use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Every byte but the unreserved `A-Za-z0-9-._~` and `/` is percent-encoded in key paths:
/// the form S3 itself uses in the SigV4 canonical URI.
pub(crate) const KEY_PATH: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');

/// The longest object key S3 accepts, in UTF-8 bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// Why a request path (or an origin path) cannot be turned into an object key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The request path does not start with `/`.
    NotAbsolute,
    /// The path names no object (`/`); a caller with a default root object substitutes it first.
    Empty,
    /// A `.` or `..` segment, after decoding.
    DotSegment,
    /// An empty segment (`//`) other than a single trailing slash.
    EmptySegment,
    /// An encoded slash (`%2F`), which would make a segment boundary invisible to path checks.
    EncodedSlash,
    /// A backslash, raw or encoded (`%5C`).
    Backslash,
    /// A NUL or other control character, after decoding.
    ControlChar,
    /// A raw `?` or `#`: the caller passed more than the path.
    NotAPath,
    /// A `%` not followed by two hex digits.
    BadPercentEncoding,
    /// The decoded bytes are not UTF-8.
    InvalidUtf8,
    /// The key (origin path included) is longer than [`MAX_KEY_LEN`] bytes.
    TooLong,
    /// The configured origin path is not acceptable (same rules as a request path).
    InvalidOriginPath,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAbsolute => "request path does not start with '/'",
            Self::Empty => "request path names no object",
            Self::DotSegment => "request path has a '.' or '..' segment",
            Self::EmptySegment => "request path has an empty segment ('//')",
            Self::EncodedSlash => "request path has an encoded slash",
            Self::Backslash => "request path has a backslash",
            Self::ControlChar => "request path has a control character",
            Self::NotAPath => "request path has a raw '?' or '#'",
            Self::BadPercentEncoding => "request path has a malformed percent-escape",
            Self::InvalidUtf8 => "request path does not decode to UTF-8",
            Self::TooLong => "object key is longer than 1024 bytes",
            Self::InvalidOriginPath => "origin path is invalid",
        })
    }
}

impl std::error::Error for KeyError {}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decode once. `+` stays a literal plus. Encoded `/` and `\` are errors.
fn decode_once(path: &str) -> Result<String, KeyError> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_val);
                let lo = bytes.get(i + 2).copied().and_then(hex_val);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(KeyError::BadPercentEncoding);
                };
                let decoded = hi * 16 + lo;
                match decoded {
                    b'/' => return Err(KeyError::EncodedSlash),
                    b'\\' => return Err(KeyError::Backslash),
                    _ => out.push(decoded),
                }
                i += 3;
            }
            b'?' | b'#' => return Err(KeyError::NotAPath),
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| KeyError::InvalidUtf8)
}

/// Check the segments of a decoded, leading-slash-stripped path.
fn check_segments(rest: &str) -> Result<(), KeyError> {
    if rest.chars().any(char::is_control) {
        return Err(KeyError::ControlChar);
    }
    if rest.contains('\\') {
        return Err(KeyError::Backslash);
    }
    let mut segments = rest.split('/').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        match seg {
            "." | ".." => return Err(KeyError::DotSegment),
            "" if !last => return Err(KeyError::EmptySegment),
            _ => {}
        }
    }
    Ok(())
}

/// Normalise a configured origin path (a literal prefix such as `/static`, not
/// percent-encoded): `""`, `"/"` → `""`; `"static"`, `"/static/"` → `"/static"`.
///
/// Dot segments, empty inner segments, backslashes, control characters and `?`/`#` are rejected.
pub fn normalize_origin_path(origin_path: &str) -> Result<String, KeyError> {
    let trimmed = origin_path.trim_start_matches('/').trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if trimmed.contains(['?', '#']) {
        return Err(KeyError::InvalidOriginPath);
    }
    check_segments(trimmed).map_err(|_| KeyError::InvalidOriginPath)?;
    if trimmed.split('/').any(str::is_empty) {
        return Err(KeyError::InvalidOriginPath);
    }
    Ok(format!("/{trimmed}"))
}

/// Derive the S3 object key for a viewer request path.
///
/// `request_path` is the raw path of the request URI (no query). It is percent-decoded once
/// (`+` is a literal plus, not a space) and must be UTF-8. Rejected with an error: a path not
/// starting with `/`; `.`/`..` segments (also when encoded, e.g. `%2e%2e`); empty segments
/// (`//`) except one trailing slash, which is kept (`/dir/` → `dir/`); encoded slashes
/// (`%2F`); backslashes, raw or encoded; NUL and other control characters; malformed
/// escapes; and `/` alone ([`KeyError::Empty`]; substitute a default root object before
/// calling). The leading `/` is stripped and the normalised `origin_path` (see
/// [`normalize_origin_path`]) is prefixed, joined by exactly one `/`.
///
/// For example `object_key("/static/", "/dir/a%20b+c.txt")` is `static/dir/a b+c.txt`, and
/// `object_key("", "/a/%2e%2e/b")` is an error.
pub fn object_key(origin_path: &str, request_path: &str) -> Result<String, KeyError> {
    let prefix = normalize_origin_path(origin_path)?;
    let Some(rest) = request_path.strip_prefix('/') else {
        return Err(KeyError::NotAbsolute);
    };
    let decoded = decode_once(rest)?;
    if decoded.is_empty() {
        return Err(KeyError::Empty);
    }
    check_segments(&decoded)?;
    let key = match prefix.strip_prefix('/') {
        Some(p) => format!("{p}/{decoded}"),
        None => decoded,
    };
    if key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong);
    }
    Ok(key)
}

/// The canonical spelling of a request path for an S3 origin: decoded once
/// with the rules of [`object_key`], then re-encoded as S3 encodes keys
/// (every byte but `A-Za-z0-9-._~/` as `%XX`, upper-case hex). Every
/// spelling of one object (`/a+b`, `/a%2Bb`, `/%C3%BC`, raw `/ü`) yields
/// the same string, which the cache key uses.
///
/// Borrowed (no allocation) when the path has only unreserved characters
/// and `/`, the common case.
pub fn canonical_path(request_path: &str) -> Result<Cow<'_, str>, KeyError> {
    let Some(rest) = request_path.strip_prefix('/') else {
        return Err(KeyError::NotAbsolute);
    };
    let plain = rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/'));
    if plain {
        if rest.is_empty() {
            return Err(KeyError::Empty);
        }
        check_segments(rest)?;
        if rest.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong);
        }
        return Ok(Cow::Borrowed(request_path));
    }
    let decoded = decode_once(rest)?;
    if decoded.is_empty() {
        return Err(KeyError::Empty);
    }
    check_segments(&decoded)?;
    if decoded.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong);
    }
    Ok(Cow::Owned(format!("/{}", utf8_percent_encode(&decoded, KEY_PATH))))
}

#[cfg(test)]
mod tests;
