//! HTTP Range requests (RFC 9110 §14), sans-IO.
//!
//! [`evaluate`] turns a `Range` request header into a [`RangeOutcome`] for a
//! complete representation of known length; [`slice_chunks`] and
//! [`multipart_byteranges`] build the 206 body; [`content_range`] and
//! [`unsatisfied_content_range`] build the response headers; and
//! [`parse_content_range`] validates an origin's `Content-Range`.
//!
//! Nothing here panics on any input: numbers saturate or are rejected, and
//! slicing is bounds-checked.

use http::header::{HeaderMap, HeaderValue, RANGE};

mod body;
mod content_range;
pub use body::{multipart_byteranges, slice_chunks};
pub use content_range::{ContentRange, content_range, parse_content_range, unsatisfied_content_range};

/// Most `range-spec`s accepted in one `Range` field; more → the field is
/// ignored ([`RangeOutcome::Full`]). RFC 9110 §14.2 lets a server ignore a
/// field with "a set of many small ranges" (a DoS indicator, §17.15).
pub const MAX_RANGES: usize = 32;

/// Longest `Range` field value (bytes) considered; longer → ignored
/// ([`RangeOutcome::Full`]), again under the RFC 9110 §14.2 permission.
pub const MAX_RANGE_HEADER_LEN: usize = 8 * 1024;

/// A satisfiable byte range resolved against a representation length:
/// `start..=end_inclusive`, both `< len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// Offset of the first byte (RFC 9110 §14.1.2 `first-pos`).
    pub start: u64,
    /// Offset of the last byte, inclusive (RFC 9110 §14.1.2 `last-pos`).
    pub end_inclusive: u64,
}

impl ByteRange {
    /// Number of bytes in the range (0 only for a malformed `start > end`).
    pub fn len(&self) -> u64 {
        match self.end_inclusive.checked_sub(self.start) {
            Some(d) => d.saturating_add(1),
            None => 0,
        }
    }

    /// True only for a malformed range with `start > end_inclusive`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Result of evaluating a `Range` header against a complete representation
/// of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeOutcome {
    /// No `Range`, or one that must/may be ignored (unknown unit, invalid
    /// syntax, abusive): serve 200 with the full representation.
    Full,
    /// One or more satisfiable ranges, sorted by `start`, with overlapping
    /// and adjacent ranges coalesced (so pairwise disjoint and non-adjacent).
    Partial(Vec<ByteRange>),
    /// Valid syntax but nothing satisfiable: 416 with
    /// [`unsatisfied_content_range`].
    Unsatisfiable,
}

/// One syntactically valid `range-spec` (RFC 9110 §14.1.1), numbers
/// saturated at `u64::MAX`.
#[derive(Debug, Clone, Copy)]
enum Spec {
    /// `int-range`: `first-pos "-" [ last-pos ]`.
    Int { first: u64, last: Option<u64> },
    /// `suffix-range`: `"-" suffix-length`.
    Suffix(u64),
}

/// Evaluate a `Range` header value against a complete representation of
/// `len` bytes. Call only for GET (RFC 9110 §14.2: range handling is defined
/// only for GET) and only once preconditions/`If-Range` allow it (§13.2.2).
pub fn evaluate(range_header: Option<&HeaderValue>, len: u64) -> RangeOutcome {
    let Some(value) = range_header else {
        return RangeOutcome::Full;
    };
    match parse_range_set(value.as_bytes()) {
        Some(specs) => resolve(&specs, len),
        None => RangeOutcome::Full,
    }
}

/// Whether an origin's answer to `Range: bytes=want` is exactly that slice
/// of a representation of known length: a 206 whose single
/// `Content-Range` starts at `want.start` and ends at `want.end_inclusive`
/// or at the last byte, and whose `Content-Length` (if any) agrees.
pub fn is_exact_slice(status: http::StatusCode, headers: &HeaderMap, want: ByteRange) -> bool {
    if status != http::StatusCode::PARTIAL_CONTENT {
        return false;
    }
    let mut values = headers.get_all(http::header::CONTENT_RANGE).iter();
    let (Some(value), None) = (values.next(), values.next()) else { return false };
    let Some(ContentRange::Satisfied { range, complete_length: Some(total) }) = parse_content_range(value) else {
        return false;
    };
    let length_agrees = match headers.get(http::header::CONTENT_LENGTH).map(|v| v.to_str().map(str::parse::<u64>)) {
        None => true,
        Some(Ok(Ok(n))) => n == range.len(),
        Some(_) => false,
    };
    range.start == want.start && range.end_inclusive == want.end_inclusive.min(total - 1) && length_agrees
}

/// The complete length, when a 206's `Content-Range` encloses the whole
/// representation (`bytes 0-(n-1)/n`).
pub fn whole_length(headers: &HeaderMap) -> Option<u64> {
    match parse_content_range(headers.get(http::header::CONTENT_RANGE)?)? {
        ContentRange::Satisfied { range, complete_length: Some(n) } if range.start == 0 && range.len() == n => Some(n),
        _ => None,
    }
}

/// The length of the range a 206's `Content-Range` encloses.
pub fn enclosed_len(headers: &HeaderMap) -> Option<u64> {
    match parse_content_range(headers.get(http::header::CONTENT_RANGE)?)? {
        ContentRange::Satisfied { range, .. } => Some(range.len()),
        ContentRange::Unsatisfied { .. } => None,
    }
}

/// The complete length a stored slice's `Content-Range` names.
pub fn slice_total(headers: &HeaderMap) -> Option<u64> {
    match parse_content_range(headers.get(http::header::CONTENT_RANGE)?)? {
        ContentRange::Satisfied { complete_length, .. } => complete_length,
        ContentRange::Unsatisfied { .. } => None,
    }
}

/// Like [`evaluate`] but reads `Range` from a header map. More than one
/// `Range` line is invalid (the field is a singleton, RFC 9110 §14.2 ABNF
/// `Range = ranges-specifier`), so it yields [`RangeOutcome::Full`].
pub fn evaluate_headers(headers: &HeaderMap, len: u64) -> RangeOutcome {
    let mut values = headers.get_all(RANGE).iter();
    match (values.next(), values.next()) {
        (first, None) => evaluate(first, len),
        _ => RangeOutcome::Full,
    }
}

/// Parse `ranges-specifier`; `None` means "ignore the field".
fn parse_range_set(raw: &[u8]) -> Option<Vec<Spec>> {
    // RFC 9110 §14.2: a server MAY ignore Range; we do so for oversized fields.
    if raw.len() > MAX_RANGE_HEADER_LEN {
        return None;
    }
    // RFC 9110 §14.1.1: ranges-specifier = range-unit "=" range-set (no
    // whitespace around "="); §5.5: leading/trailing OWS is not field content.
    let raw = trim_ows(raw);
    let eq = raw.iter().position(|&b| b == b'=')?;
    let (unit, rest) = raw.split_at_checked(eq)?;
    // RFC 9110 §14.1: range unit names are case-insensitive. §14.2: an origin
    // MUST ignore a Range with a unit it does not understand.
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let mut specs = Vec::new();
    // RFC 9110 §14.1.1: range-set = 1#range-spec; §5.6.1: OWS around commas,
    // and recipients ignore empty list elements.
    for element in rest.get(1..)?.split(|&b| b == b',') {
        let element = trim_ows(element);
        if element.is_empty() {
            continue;
        }
        // RFC 9110 §14.2: MAY ignore "a set of many small ranges".
        if specs.len() >= MAX_RANGES {
            return None;
        }
        // RFC 9110 §14.1.1: a ranges-specifier is invalid if any range-spec
        // is invalid, and §14.2: an invalid one is ignored as a whole.
        specs.push(parse_spec(element)?);
    }
    if specs.is_empty() { None } else { Some(specs) }
}

/// Parse one `range-spec`; `other-range` is undefined for `bytes` → invalid.
fn parse_spec(element: &[u8]) -> Option<Spec> {
    let dash = element.iter().position(|&b| b == b'-')?;
    let (first, rest) = element.split_at_checked(dash)?;
    let last = rest.get(1..)?;
    if first.is_empty() {
        // RFC 9110 §14.1.1: suffix-range = "-" suffix-length (1*DIGIT).
        return is_digits(last).then(|| Spec::Suffix(saturating_u64(last)));
    }
    if !is_digits(first) {
        return None;
    }
    if last.is_empty() {
        return Some(Spec::Int { first: saturating_u64(first), last: None });
    }
    // RFC 9110 §14.1.1: an int-range is invalid if last-pos < first-pos.
    // Compared as decimal strings so it stays exact past u64::MAX.
    if !is_digits(last) || cmp_decimal(first, last) == std::cmp::Ordering::Greater {
        return None;
    }
    Some(Spec::Int { first: saturating_u64(first), last: Some(saturating_u64(last)) })
}

/// Resolve parsed specs against `len` (RFC 9110 §14.1.2 satisfiability).
fn resolve(specs: &[Spec], len: u64) -> RangeOutcome {
    let last_byte = len.saturating_sub(1);
    let mut ranges = Vec::with_capacity(specs.len());
    let mut total: u64 = 0;
    for spec in specs {
        let range = match *spec {
            // RFC 9110 §14.1.2: satisfiable iff first-pos < len (a saturated
            // first-pos is therefore unsatisfiable); a last-pos that is absent
            // or >= len is replaced by len - 1 (saturated last-pos included).
            Spec::Int { first, last } if first < len => {
                ByteRange { start: first, end_inclusive: last.map_or(last_byte, |l| l.min(last_byte)) }
            }
            // RFC 9110 §14.1.2: a suffix-range is satisfiable iff its length
            // is non-zero; a longer suffix selects the whole representation.
            // With len == 0 there is no byte to select, so it is unsatisfiable.
            Spec::Suffix(n) if n > 0 && len > 0 => ByteRange { start: len.saturating_sub(n), end_inclusive: last_byte },
            _ => continue,
        };
        total = total.saturating_add(range.len());
        ranges.push(range);
    }
    if ranges.is_empty() {
        // RFC 9110 §15.5.17: no satisfiable range → 416.
        return RangeOutcome::Unsatisfiable;
    }
    // RFC 9110 §14.2 / §17.15: ranges that add up to more than the whole
    // representation only amplify; ignore the field and send it once.
    if total > len {
        return RangeOutcome::Full;
    }
    ranges.sort_unstable_by_key(|r| (r.start, r.end_inclusive));
    // RFC 9110 §15.3.7.2: a server MAY coalesce overlapping ranges (and ones
    // separated by a small gap; we merge only zero-gap, i.e. adjacent ones).
    let mut merged: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(prev) if r.start <= prev.end_inclusive.saturating_add(1) => {
                prev.end_inclusive = prev.end_inclusive.max(r.end_inclusive);
            }
            _ => merged.push(r),
        }
    }
    RangeOutcome::Partial(merged)
}

/// A header value from text we generated ourselves (ASCII digits, `bytes`,
/// and a validated boundary), which is always valid.
fn ascii_value(s: String) -> HeaderValue {
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Strip optional whitespace (SP / HTAB, RFC 9110 §5.6.3) at both ends.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `1*DIGIT`.
fn is_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// Decimal value of `1*DIGIT`, saturating at `u64::MAX`. RFC 9110 §14.1.1:
/// recipients MUST anticipate large numerals and prevent overflow errors.
fn saturating_u64(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |acc, d| {
        acc.checked_mul(10).and_then(|v| v.checked_add(u64::from(d.wrapping_sub(b'0')))).unwrap_or(u64::MAX)
    })
}

/// Decimal value of `1*DIGIT`, `None` if not digits or it overflows.
fn strict_u64(digits: &[u8]) -> Option<u64> {
    if !is_digits(digits) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, d| acc.checked_mul(10)?.checked_add(u64::from(d.wrapping_sub(b'0'))))
}

/// Compare two `1*DIGIT` strings numerically, at any length.
fn cmp_decimal(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    fn strip(s: &[u8]) -> &[u8] {
        let zeros = s.iter().take_while(|&&d| d == b'0').count();
        s.get(zeros..).unwrap_or_default()
    }
    let (a, b) = (strip(a), strip(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn br(start: u64, end_inclusive: u64) -> ByteRange {
        ByteRange { start, end_inclusive }
    }

    #[test]
    fn only_the_exact_slice_asked_for_is_one() {
        use http::StatusCode;
        let want = br(1024, 2047);
        let check = |status: StatusCode, fields: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in fields {
                h.append(
                    http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            is_exact_slice(status, &h, want)
        };
        let ok = StatusCode::PARTIAL_CONTENT;
        assert!(check(ok, &[("content-range", "bytes 1024-2047/5000")]));
        assert!(check(ok, &[("content-range", "bytes 1024-2047/5000"), ("content-length", "1024")]));
        // The last slice ends at the last byte.
        assert!(check(ok, &[("content-range", "bytes 1024-1499/1500")]));
        for bad in [
            vec![("content-range", "bytes 1024-2046/5000")],
            vec![("content-range", "bytes 1023-2047/5000")],
            vec![("content-range", "bytes 1024-1499/1600")],
            vec![("content-range", "bytes 1024-2047/*")],
            vec![("content-range", "bytes */5000")],
            vec![("content-range", "bytes 1024-2047/5000"), ("content-length", "10")],
            vec![("content-range", "bytes 1024-2047/5000"), ("content-range", "bytes 1024-2047/5000")],
            vec![("content-type", "multipart/byteranges; boundary=x")],
            vec![],
        ] {
            assert!(!check(ok, &bad), "{bad:?}");
        }
        assert!(!check(StatusCode::OK, &[("content-range", "bytes 1024-2047/5000")]));
    }

    fn eval(raw: &str, len: u64) -> RangeOutcome {
        let value = HeaderValue::from_str(raw).expect("test header is valid");
        evaluate(Some(&value), len)
    }

    fn partial(ranges: &[(u64, u64)]) -> RangeOutcome {
        RangeOutcome::Partial(ranges.iter().map(|&(s, e)| br(s, e)).collect())
    }

    #[test]
    fn evaluate_table() {
        use RangeOutcome::{Full, Unsatisfiable as Unsat};
        let cases: &[(&str, u64, RangeOutcome)] = &[
            // basic forms (§14.1.2)
            ("bytes=0-0", 10, partial(&[(0, 0)])),
            ("bytes=-1", 10, partial(&[(9, 9)])),
            ("bytes=5-", 10, partial(&[(5, 9)])),
            ("bytes=00-01", 10, partial(&[(0, 1)])),
            ("bytes=9-20", 10, partial(&[(9, 9)])),
            ("bytes=-20", 10, partial(&[(0, 9)])),
            // OWS around commas, empty list elements, field-level OWS (§5.6.1)
            ("bytes= 0-1 , 3-4", 10, partial(&[(0, 1), (3, 4)])),
            ("bytes=0-1,,3-4,", 10, partial(&[(0, 1), (3, 4)])),
            ("  bytes=0-1\t", 10, partial(&[(0, 1)])),
            // unit is case-insensitive (§14.1); unknown unit ignored (§14.2)
            ("BYTES=0-1", 10, partial(&[(0, 1)])),
            ("Bytes=0-1", 10, partial(&[(0, 1)])),
            ("items=0-1", 10, Full),
            ("bytes =0-1", 10, Full),
            ("bytes", 10, Full),
            // invalid syntax → whole field ignored (§14.1.1, §14.2)
            ("bytes=1-0", 10, Full),
            ("bytes=0-1,1-0", 10, Full),
            ("bytes=", 10, Full),
            ("bytes=,,", 10, Full),
            ("bytes=-", 10, Full),
            ("bytes=0 -1", 10, Full),
            ("bytes=a-b", 10, Full),
            ("bytes=1-2-3", 10, Full),
            ("bytes=+1-2", 10, Full),
            ("bytes=0x1-2", 10, Full),
            ("bytes=1", 10, Full),
            ("bytes=0-1;x", 10, Full),
            // huge numerals (§14.1.1 MUST anticipate overflow)
            ("bytes=0-99999999999999999999999", 10, partial(&[(0, 9)])),
            ("bytes=99999999999999999999-", 10, Unsat),
            ("bytes=-99999999999999999999", 10, partial(&[(0, 9)])),
            ("bytes=99999999999999999999-99999999999999999998", 10, Full),
            ("bytes=99999999999999999998-99999999999999999999", 10, Unsat),
            ("bytes=000000000000000000000000000005-9", 10, partial(&[(5, 9)])),
            // unsatisfiable (§14.1.2, §15.5.17)
            ("bytes=-0", 10, Unsat),
            ("bytes=10-", 10, Unsat),
            ("bytes=10-20", 10, Unsat),
            ("bytes=10-20,-0", 10, Unsat),
            ("bytes=-0,0-1", 10, partial(&[(0, 1)])),
            ("bytes=0-1,20-30", 10, partial(&[(0, 1)])),
            // zero-length representation
            ("bytes=0-", 0, Unsat),
            ("bytes=0-0", 0, Unsat),
            ("bytes=-5", 0, Unsat),
            ("bytes=1-1", 1, Unsat),
            ("bytes=0-0", 1, partial(&[(0, 0)])),
            // sorting and coalescing (§15.3.7.2)
            ("bytes=6-7,0-1", 10, partial(&[(0, 1), (6, 7)])),
            ("bytes=0-4,5-9", 10, partial(&[(0, 9)])),
            ("bytes=0-2,1-3", 10, partial(&[(0, 3)])),
            ("bytes=5-6,0-1,2-3", 10, partial(&[(0, 3), (5, 6)])),
            ("bytes=0-1,0-1", 10, partial(&[(0, 1)])),
            ("bytes=-2,7-7", 10, partial(&[(7, 9)])),
            // total larger than the representation → ignored (§14.2, §17.15)
            ("bytes=0-5,3-8", 10, Full),
            ("bytes=0-,0-", 10, Full),
            ("bytes=0-,-1", 10, Full),
            // extremes of u64
            ("bytes=18446744073709551614-", u64::MAX, partial(&[(u64::MAX - 1, u64::MAX - 1)])),
            ("bytes=-1", u64::MAX, partial(&[(u64::MAX - 1, u64::MAX - 1)])),
            ("bytes=18446744073709551615-", u64::MAX, Unsat),
        ];
        for (raw, len, want) in cases {
            assert_eq!(&eval(raw, *len), want, "Range: {raw:?}, len {len}");
        }
    }

    #[test]
    fn absent_header_is_full() {
        assert_eq!(evaluate(None, 10), RangeOutcome::Full);
        assert_eq!(evaluate_headers(&HeaderMap::new(), 10), RangeOutcome::Full);
    }

    #[test]
    fn repeated_range_lines_are_ignored() {
        let mut headers = HeaderMap::new();
        headers.append(RANGE, HeaderValue::from_static("bytes=0-1"));
        assert_eq!(evaluate_headers(&headers, 10), partial(&[(0, 1)]));
        headers.append(RANGE, HeaderValue::from_static("bytes=3-4"));
        assert_eq!(evaluate_headers(&headers, 10), RangeOutcome::Full);
    }

    #[test]
    fn range_count_limit() {
        let specs = |n: u64| (0..n).map(|i| format!("{}-{}", i * 2, i * 2)).collect::<Vec<_>>();
        let at_limit = format!("bytes={}", specs(32).join(","));
        match eval(&at_limit, 1000) {
            RangeOutcome::Partial(r) => assert_eq!(r.len(), 32),
            other => panic!("32 ranges: {other:?}"),
        }
        assert_eq!(eval(&format!("bytes={}", specs(33).join(",")), 1000), RangeOutcome::Full);
        // unsatisfiable specs count too: the limit is on what the client sent
        assert_eq!(eval(&format!("bytes={},-0", specs(32).join(",")), 1000), RangeOutcome::Full);
    }

    #[test]
    fn header_length_limit() {
        let fits = format!("bytes=0-1{}", ",".repeat(MAX_RANGE_HEADER_LEN - 9));
        assert_eq!(fits.len(), MAX_RANGE_HEADER_LEN);
        assert_eq!(eval(&fits, 10), partial(&[(0, 1)]));
        assert_eq!(eval(&format!("{fits},"), 10), RangeOutcome::Full);
    }

    #[test]
    fn byte_range_len() {
        assert_eq!(br(0, 0).len(), 1);
        assert_eq!(br(3, 9).len(), 7);
        assert_eq!(br(0, u64::MAX).len(), u64::MAX);
        assert_eq!(br(5, 4).len(), 0);
        assert!(br(5, 4).is_empty() && !br(4, 4).is_empty());
    }

    fn arb_spec() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u64..40, 0u64..40).prop_map(|(a, b)| format!("{a}-{b}")),
            (0u64..40).prop_map(|a| format!("{a}-")),
            (0u64..40).prop_map(|n| format!("-{n}")),
            "[0-9]{15,25}-[0-9]{0,25}",
            Just(" ".to_string()),
        ]
    }

    fn check_invariants(outcome: &RangeOutcome, len: u64) -> Result<(), TestCaseError> {
        if let RangeOutcome::Partial(ranges) = outcome {
            prop_assert!(!ranges.is_empty());
            for r in ranges {
                prop_assert!(r.start <= r.end_inclusive && r.end_inclusive < len, "{r:?}/{len}");
            }
            for w in ranges.windows(2) {
                if let [a, b] = w {
                    // sorted, disjoint and not even adjacent
                    prop_assert!(a.end_inclusive.saturating_add(1) < b.start, "{a:?} {b:?}");
                }
            }
            let total: u64 = ranges.iter().map(ByteRange::len).sum();
            prop_assert!(total <= len);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn evaluate_never_panics_on_bytes(raw in proptest::collection::vec(any::<u8>(), 0..200), len in any::<u64>()) {
            if let Ok(value) = HeaderValue::from_bytes(&raw) {
                check_invariants(&evaluate(Some(&value), len), len)?;
                let _ = parse_content_range(&value);
            }
        }

        #[test]
        fn evaluate_structured(specs in proptest::collection::vec(arb_spec(), 1..40), unit in "bytes|BYTES|bYtEs|items", len in prop_oneof![0u64..50, any::<u64>()]) {
            let raw = format!("{unit}={}", specs.join(","));
            let value = HeaderValue::from_str(&raw).expect("valid");
            check_invariants(&evaluate(Some(&value), len), len)?;
        }
    }
}
