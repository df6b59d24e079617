//! `Content-Range` (RFC 9110 §14.4): building it for 206/416 responses and
//! validating an origin's. Re-exported from [`super`].

use http::HeaderValue;

use super::{ByteRange, ascii_value, strict_u64, trim_ows};

/// `Content-Range: bytes a-b/len` for a 206 or a multipart part
/// (RFC 9110 §14.4).
pub fn content_range(r: ByteRange, len: u64) -> HeaderValue {
    ascii_value(format!("bytes {}-{}/{}", r.start, r.end_inclusive, len))
}

/// `Content-Range: bytes */len` for a 416 (RFC 9110 §14.4, §15.5.17).
pub fn unsatisfied_content_range(len: u64) -> HeaderValue {
    ascii_value(format!("bytes */{len}"))
}

/// A parsed `Content-Range` response field (RFC 9110 §14.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes a-b/len` or `bytes a-b/*` (206): the enclosed range and the
    /// complete length if known. Guaranteed `a <= b`, and `b < len` if known.
    Satisfied {
        /// The range enclosed in the response.
        range: ByteRange,
        /// `complete-length`, or `None` for `*`.
        complete_length: Option<u64>,
    },
    /// `bytes */len` (416): the current length of the representation.
    Unsatisfied {
        /// `complete-length`.
        complete_length: u64,
    },
}

/// Parse and validate an origin's `Content-Range` (RFC 9110 §14.4). Returns
/// `None` for another unit, bad syntax, `last-pos < first-pos`,
/// `complete-length <= last-pos` (both invalid per §14.4), or numbers that
/// do not fit in `u64`.
pub fn parse_content_range(v: &HeaderValue) -> Option<ContentRange> {
    // RFC 9110 §14.4: Content-Range = range-unit SP ( range-resp / unsatisfied-range ).
    let raw = trim_ows(v.as_bytes());
    let sp = raw.iter().position(|&b| b == b' ')?;
    let (unit, rest) = raw.split_at_checked(sp)?;
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let rest = rest.get(1..)?;
    // unsatisfied-range = "*/" complete-length
    if let Some(complete) = rest.strip_prefix(b"*/") {
        return Some(ContentRange::Unsatisfied { complete_length: strict_u64(complete)? });
    }
    // range-resp = incl-range "/" ( complete-length / "*" ); incl-range = first-pos "-" last-pos
    let slash = rest.iter().position(|&b| b == b'/')?;
    let (incl, complete) = rest.split_at_checked(slash)?;
    let complete = complete.get(1..)?;
    let dash = incl.iter().position(|&b| b == b'-')?;
    let (first, last) = incl.split_at_checked(dash)?;
    let (start, end_inclusive) = (strict_u64(first)?, strict_u64(last.get(1..)?)?);
    if end_inclusive < start {
        return None;
    }
    let complete_length = if complete == b"*" {
        None
    } else {
        let n = strict_u64(complete)?;
        if n <= end_inclusive {
            return None;
        }
        Some(n)
    };
    Some(ContentRange::Satisfied { range: ByteRange { start, end_inclusive }, complete_length })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn br(start: u64, end_inclusive: u64) -> ByteRange {
        ByteRange { start, end_inclusive }
    }

    #[test]
    fn content_range_values() {
        assert_eq!(content_range(br(0, 9), 10), "bytes 0-9/10");
        assert_eq!(content_range(br(5, 5), 6), "bytes 5-5/6");
        assert_eq!(unsatisfied_content_range(10), "bytes */10");
        assert_eq!(unsatisfied_content_range(0), "bytes */0");
    }

    #[test]
    fn parse_content_range_table() {
        let sat = |s, e, l| Some(ContentRange::Satisfied { range: br(s, e), complete_length: l });
        let cases: &[(&str, Option<ContentRange>)] = &[
            ("bytes 0-9/10", sat(0, 9, Some(10))),
            ("BYTES 0-0/1", sat(0, 0, Some(1))),
            ("bytes 21010-47021/47022", sat(21010, 47021, Some(47022))),
            ("bytes 0-9/*", sat(0, 9, None)),
            ("bytes */10", Some(ContentRange::Unsatisfied { complete_length: 10 })),
            ("bytes */0", Some(ContentRange::Unsatisfied { complete_length: 0 })),
            ("bytes 5-4/10", None),
            ("bytes 0-10/10", None),
            ("bytes 0-9/9", None),
            ("items 0-1/2", None),
            ("bytes 0-1", None),
            ("bytes */*", None),
            ("bytes -1/2", None),
            ("bytes  0-1/2", None),
            ("bytes=0-1/2", None),
            ("bytes 0-1/2x", None),
            ("bytes 99999999999999999999-99999999999999999999/*", None),
            ("", None),
        ];
        for (raw, want) in cases {
            let value = HeaderValue::from_str(raw).expect("valid");
            assert_eq!(&parse_content_range(&value), want, "Content-Range: {raw:?}");
        }
    }
}
