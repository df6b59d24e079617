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
    // Split after the first directive, where RFC 9111's grammar puts a list
    // comma (a quoted-string opens only right after `=`).
    let split = first_list_comma(data);
    // (Values longer than the parser reads are truncated per line.)
    if let Some(at) = split
        && data.len() <= 1024
        && let (Ok(a), Ok(b)) = (HeaderValue::from_bytes(&data[..at]), HeaderValue::from_bytes(&data[at + 1..]))
    {
        let mut two = HeaderMap::new();
        two.append(CACHE_CONTROL, a);
        two.append(CACHE_CONTROL, b);
        assert_eq!(CacheControl::from_headers(&two, &CACHE_CONTROL), parsed, "{:?}", String::from_utf8_lossy(data));
    }
});

/// The comma ending the first directive, if it ends with one: `name`,
/// `name=token` or `name="quoted, string"`; `None` inside an unterminated
/// quoted-string.
fn first_list_comma(data: &[u8]) -> Option<usize> {
    let j = data.iter().position(|&b| b == b'=' || b == b',')?;
    if data[j] == b',' {
        return Some(j);
    }
    let mut k = j + 1;
    while data.get(k).is_some_and(|b| b.is_ascii_whitespace()) {
        k += 1;
    }
    if data.get(k) == Some(&b'"') {
        k += 1;
        loop {
            match data.get(k)? {
                b'\\' => k += 2,
                b'"' => break,
                _ => k += 1,
            }
        }
    }
    data[k..].iter().position(|&b| b == b',').map(|p| k + p)
}
