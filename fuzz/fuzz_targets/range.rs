//! `Range` and `Content-Range`: any bytes against any length, no panic;
//! every range served lies inside the representation, sorted, disjoint and
//! non-adjacent; what we write as `Content-Range` parses back.
#![no_main]

use http::HeaderValue;
use http::header::{HeaderMap, RANGE};
use libfuzzer_sys::fuzz_target;
use tower_cdn::policy::range::{
    ContentRange, RangeOutcome, content_range, evaluate, evaluate_headers, parse_content_range,
};

fuzz_target!(|data: &[u8]| {
    let (len_bytes, rest) = data.split_at(data.len().min(8));
    let mut buf = [0u8; 8];
    buf[..len_bytes.len()].copy_from_slice(len_bytes);
    // Mostly small lengths, sometimes huge ones.
    let raw = u64::from_le_bytes(buf);
    let len = if raw & 1 == 0 { (raw >> 1) % 4096 } else { raw >> 1 };
    if let Ok(v) = HeaderValue::from_bytes(rest) {
        let outcome = evaluate(Some(&v), len);
        let mut h = HeaderMap::new();
        h.insert(RANGE, v.clone());
        assert_eq!(evaluate_headers(&h, len), outcome);
        if let RangeOutcome::Partial(ranges) = &outcome {
            assert!(!ranges.is_empty());
            let mut previous_end: Option<u64> = None;
            for r in ranges {
                assert!(r.start <= r.end_inclusive && r.end_inclusive < len, "{r:?} of {len}");
                if let Some(end) = previous_end {
                    assert!(r.start > end.saturating_add(1), "not coalesced: {ranges:?}");
                }
                previous_end = Some(r.end_inclusive);
                let written = content_range(*r, len);
                let want = ContentRange::Satisfied { range: *r, complete_length: Some(len) };
                assert_eq!(parse_content_range(&written), Some(want));
            }
        }
        if let Some(ContentRange::Satisfied { range, complete_length }) = parse_content_range(&v) {
            assert!(range.start <= range.end_inclusive);
            assert!(complete_length.is_none_or(|l| range.end_inclusive < l));
        }
    }
});
