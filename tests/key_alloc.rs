//! The cache key is built with one heap allocation (keys up to
//! `INLINE_KEY_BYTES`), whatever the policy selects. A counting allocator
//! checks it; its own test binary, so nothing else runs on the thread.

#[path = "support/counting.rs"]
mod counting;

use counting::allocations;
use http::{HeaderMap, HeaderValue};
use tower_cdn::Select;
use tower_cdn::policy::key_policy::{KeyPolicy, cache_key};

#[test]
fn a_key_costs_one_allocation() {
    let mut headers = HeaderMap::new();
    headers.insert("accept-language", HeaderValue::from_static("de-CH, de;q=0.9"));
    headers.insert("cookie", HeaderValue::from_static("theme=dark; session=abc"));
    headers.insert("x-weird", HeaderValue::from_bytes(b"caf\xc3\xa9 %").unwrap());
    let full = KeyPolicy {
        query_strings: Select::all_except(["utm_source"]),
        headers: Select::only(["accept-language", "x-weird"]),
        cookies: Select::only(["theme"]),
    };
    let default = KeyPolicy::default();
    let query = Some("page=2&utm_source=mail&sort=asc");
    let (n, ()) = allocations(|| {
        let key = cache_key(&full, "example.com", "/list", query, &headers);
        assert!(key.contains("ctheme=dark"));
        drop(key);
    });
    assert_eq!(n, 1, "policy with query, header and cookie parts");
    let (n, ()) = allocations(|| drop(cache_key(&default, "example.com", "/list", query, &headers)));
    assert_eq!(n, 1, "default policy");
}
