//! Targeted cache-control fields (RFC 9213): `CDN-Cache-Control` and
//! `Surrogate-Control` override `Cache-Control` for this cache.
//!
//! The first configured field that is present wins; when one is used, the
//! response's `Cache-Control` and `Expires` are ignored for this cache's own
//! decisions (RFC 9213 §2.1) and still go to clients unchanged. Targeted
//! fields themselves are never forwarded to clients.

use http::header::{self, HeaderMap, HeaderName};

use super::cache_control::CacheControl;

/// `CDN-Cache-Control` (RFC 9213 §3).
pub const CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("cdn-cache-control");
/// `Surrogate-Control` (W3C Edge Architecture).
pub const SURROGATE_CONTROL: HeaderName = HeaderName::from_static("surrogate-control");

/// The default list, in precedence order.
pub fn default_targeted() -> Vec<HeaderName> {
    vec![CDN_CACHE_CONTROL, SURROGATE_CONTROL]
}

/// The directives this cache obeys for a response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effective {
    /// The parsed directives.
    pub cc: CacheControl,
    /// `true` when they came from a targeted field (then `Expires` is ignored).
    pub targeted: bool,
}

/// Picks the directives for this cache: the first present targeted field in
/// `targeted`, else `Cache-Control`.
pub fn effective(headers: &HeaderMap, targeted: &[HeaderName]) -> Effective {
    for name in targeted {
        if headers.contains_key(name) {
            let cc = if *name == SURROGATE_CONTROL {
                surrogate_control(headers)
            } else {
                CacheControl::from_headers(headers, name)
            };
            return Effective { cc, targeted: true };
        }
    }
    Effective { cc: CacheControl::from_headers(headers, &header::CACHE_CONTROL), targeted: false }
}

/// Surrogate-Control allows `max-age=N+M` (M: extra time to serve stale)
/// and `;device` targets; we read the freshness part and `no-store`.
fn surrogate_control(headers: &HeaderMap) -> CacheControl {
    let mut cc = CacheControl::default();
    for value in headers.get_all(SURROGATE_CONTROL) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for directive in text.split(',') {
            let directive = directive.split(';').next().unwrap_or("").trim();
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            if name.trim().eq_ignore_ascii_case("max-age") {
                let (fresh, stale) = arg.split_once('+').unwrap_or((arg, ""));
                let one = CacheControl::parse(format!("max-age={}", fresh.trim()).as_bytes());
                cc.max_age = one.max_age;
                if !stale.is_empty() {
                    cc.stale_if_error =
                        CacheControl::parse(format!("stale-if-error={}", stale.trim()).as_bytes()).stale_if_error;
                }
            } else if name.trim().eq_ignore_ascii_case("no-store") {
                cc.no_store = true;
            }
        }
    }
    cc
}

/// Removes the targeted fields from headers sent to clients.
pub fn strip(headers: &mut HeaderMap, targeted: &[HeaderName]) {
    for name in targeted {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_util::headers as h;

    #[test]
    fn cdn_cache_control_overrides_cache_control() {
        let m = h(&[("cache-control", "no-store"), ("cdn-cache-control", "max-age=600")]);
        let e = effective(&m, &default_targeted());
        assert!(e.targeted);
        assert_eq!(e.cc.max_age, Some(600));
        assert!(!e.cc.no_store);
    }

    #[test]
    fn precedence_follows_the_configured_list() {
        let m = h(&[("surrogate-control", "max-age=5"), ("cdn-cache-control", "max-age=7")]);
        assert_eq!(effective(&m, &default_targeted()).cc.max_age, Some(7));
        assert_eq!(effective(&m, &[SURROGATE_CONTROL]).cc.max_age, Some(5));
        assert_eq!(effective(&m, &[]).cc.max_age, None);
    }

    #[test]
    fn surrogate_control_extension_syntax() {
        let m = h(&[("surrogate-control", "max-age=60+30;dca, content=\"ESI/1.0\"")]);
        let e = effective(&m, &[SURROGATE_CONTROL]);
        assert_eq!(e.cc.max_age, Some(60));
        assert_eq!(e.cc.stale_if_error, Some(30));
        let m = h(&[("surrogate-control", "no-store")]);
        assert!(effective(&m, &[SURROGATE_CONTROL]).cc.no_store);
    }

    #[test]
    fn targeted_fields_are_stripped_for_clients() {
        let mut m = h(&[("cdn-cache-control", "max-age=1"), ("cache-control", "max-age=2")]);
        strip(&mut m, &default_targeted());
        assert!(!m.contains_key("cdn-cache-control"));
        assert!(m.contains_key("cache-control"));
    }
}
