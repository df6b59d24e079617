//! `Cache-Control` parsing: any bytes, no panic; one field line parses the
//! same through `parse` and `from_headers`; a list split over two field
//! lines at a top-level comma means the same as one line (RFC 9111 §5.2).
#![no_main]

use http::header::{CACHE_CONTROL, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tower_cdn::policy::cache_control::CacheControl;

fuzz_target!(|data: &[u8]| {
    let parsed = CacheControl::parse(data);
    let Ok(value) = HeaderValue::from_bytes(data) else { return };
    let mut one = HeaderMap::new();
    one.insert(CACHE_CONTROL, value);
    assert_eq!(CacheControl::from_headers(&one, &CACHE_CONTROL), parsed);
    // Split at the first comma outside a quoted string, if any.
    let mut quoted = false;
    let mut escaped = false;
    let split = data.iter().position(|&b| {
        let top = b == b',' && !quoted;
        if escaped {
            escaped = false;
        } else if b == b'\\' && quoted {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        }
        top
    });
    // (Values longer than the parser reads are truncated per line.)
    if let Some(at) = split
        && !quoted
        && data.len() <= 1024
        && let (Ok(a), Ok(b)) = (HeaderValue::from_bytes(&data[..at]), HeaderValue::from_bytes(&data[at + 1..]))
    {
        let mut two = HeaderMap::new();
        two.append(CACHE_CONTROL, a);
        two.append(CACHE_CONTROL, b);
        assert_eq!(CacheControl::from_headers(&two, &CACHE_CONTROL), parsed, "{:?}", String::from_utf8_lossy(data));
    }
});
