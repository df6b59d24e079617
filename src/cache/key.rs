//! Cache keys: method class + normalised host + path + query.
//!
//! A key is one string built with a single allocation, so a hit costs one
//! allocation for the key and a borrowed lookup (`&str`) in the store.

use std::sync::Arc;

use http::header::HeaderMap;

/// Separates the key's parts; cannot occur in a valid host, path or query.
const SEP: char = '\u{1f}';

/// An owned cache key, shared between the store and in-flight fills.
pub type CacheKey = Arc<str>;

pub use crate::policy::host::request_host;

/// Builds the primary cache key. GET and HEAD share entries, so the method
/// is not part of it; callers only build keys for those two methods. The
/// layout and the single allocation come from the default key policy.
pub fn cache_key(host: &str, path: &str, query: Option<&str>) -> CacheKey {
    crate::policy::key_policy::cache_key(
        &crate::policy::key_policy::KeyPolicy::default(),
        host,
        path,
        query,
        &HeaderMap::new(),
    )
}

/// Separates a primary key from a variant's secondary part (U+001D; the
/// key policy uses U+001F and U+001E inside the primary key).
const VARIANT_SEP: char = '\u{1d}';

/// The store key of one variant of a URI whose responses vary.
pub fn variant_key(primary: &str, generation: u64, secondary: &str) -> CacheKey {
    Arc::from(format!("{primary}{VARIANT_SEP}{generation}{VARIANT_SEP}{secondary}"))
}

/// The fill key for a variant (fills do not need the marker's generation).
pub fn variant_fill_key(primary: &str, secondary: &str) -> CacheKey {
    Arc::from(format!("{primary}{VARIANT_SEP}{secondary}"))
}

/// The key of slice `index` (of `size` bytes) of a URI's object: stored
/// like a variant of it, so purges, unsafe methods and fills of the URI
/// cover its slices.
pub fn slice_key(primary: &str, size: u64, index: u64) -> CacheKey {
    Arc::from(format!("{primary}{VARIANT_SEP}slice{VARIANT_SEP}{size}:{index}"))
}

/// `true` when `key` is `primary` itself or one of its variants.
pub fn is_same_uri(key: &str, primary: &str) -> bool {
    key.strip_prefix(primary).is_some_and(|rest| rest.is_empty() || rest.starts_with(VARIANT_SEP))
}

/// The primary part of a key (without any variant suffix).
pub fn primary_of(key: &str) -> &str {
    key.split(VARIANT_SEP).next().unwrap_or(key)
}

/// The host part of a key (for invalidation by host).
pub fn key_host(key: &str) -> &str {
    key.split(SEP).next().unwrap_or("")
}

/// The path-and-query part of a key (for invalidation by path), without
/// any variant suffix or the header and cookie parts a cache policy may add.
pub fn key_path(key: &str) -> &str {
    primary_of(key).split(SEP).nth(1).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    proptest::proptest! {
        /// The `key` fuzz target's properties: any `Host` bytes, no panic
        /// and a lower-case host; different (host, path, query) triples
        /// never share a key.
        #[test]
        fn hosts_are_normalised_and_keys_never_collide(
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            h1 in "[a-zA-Z0-9.:-]{0,12}",
            h2 in "[a-zA-Z0-9.:-]{0,12}",
            p1 in "/[a-z/%;.]{0,12}",
            p2 in "/[a-z/%;.]{0,12}",
            q1 in proptest::option::of("[a-z=&%]{0,8}"),
            q2 in proptest::option::of("[a-z=&%]{0,8}"),
        ) {
            if let Ok(req) = Request::builder().uri("/").header("host", raw.as_slice()).body(()) {
                let (parts, ()) = req.into_parts();
                if let Ok(Some(h)) = request_host(&parts) {
                    proptest::prop_assert!(!h.bytes().any(|b| b.is_ascii_uppercase()), "{}", h);
                }
            }
            let same = (&h1, &p1, &q1) == (&h2, &p2, &q2);
            let (k1, k2) = (cache_key(&h1, &p1, q1.as_deref()), cache_key(&h2, &p2, q2.as_deref()));
            proptest::prop_assert_eq!(k1 == k2, same);
        }
    }

    #[test]
    fn keys_differ_by_host_path_and_query() {
        let a = cache_key("a.test", "/x", None);
        assert_ne!(a, cache_key("b.test", "/x", None));
        assert_ne!(a, cache_key("a.test", "/y", None));
        assert_ne!(a, cache_key("a.test", "/x", Some("")));
        assert_ne!(cache_key("a.test", "/x", Some("q=1")), cache_key("a.test", "/x", Some("q=2")));
        assert_eq!(key_host(&a), "a.test");
        assert_eq!(key_path(&cache_key("h", "/p", Some("q"))), "/p?q");
        let v = variant_key(&a, 3, "accept-encoding:gzip");
        assert_eq!(key_path(&v), "/x");
        assert!(is_same_uri(&v, &a));
        assert!(is_same_uri(&a, &a));
        assert!(!is_same_uri(&cache_key("a.test", "/xy", None), &a));
    }
}
