//! Loop detection between CDN tiers with `CDN-Loop` (RFC 8586).
//!
//! Every request this cache sends to an origin carries a `CDN-Loop` member
//! naming this instance: `tower-cdn; id=EDGE-ID`. A request that already
//! carries our member has been through this instance before (an edge whose
//! origin, directly or through other tiers, is itself) and is refused with
//! 508 Loop Detected. `Via` is not used for this: two tiers usually share
//! the product name `tower-cdn` there, and RFC 8586 exists because `Via` is
//! often rewritten or dropped by intermediaries.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// `CDN-Loop` (RFC 8586 §2).
pub const CDN_LOOP: HeaderName = HeaderName::from_static("cdn-loop");

/// The `cdn-id` of our members.
const CDN_ID: &str = "tower-cdn";

/// Appends this instance's member (RFC 8586 §2: each CDN adds its own,
/// earlier members stay).
pub fn append(headers: &mut HeaderMap, edge_id: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!("{CDN_ID}; id={edge_id}")) {
        headers.append(CDN_LOOP, v);
    }
}

/// `true` if a `CDN-Loop` member names this instance.
pub fn names_instance(headers: &HeaderMap, edge_id: &str) -> bool {
    headers.get_all(CDN_LOOP).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|member| {
        let mut parts = member.split(';').map(str::trim);
        parts.next() == Some(CDN_ID)
            && parts.any(|p| {
                p.split_once('=')
                    .is_some_and(|(k, v)| k.trim().eq_ignore_ascii_case("id") && v.trim().trim_matches('"') == edge_id)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_member_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(CDN_LOOP, HeaderValue::from_static("cloudflare, foo; abc=def"));
        assert!(!names_instance(&h, "e1"));
        append(&mut h, "e2");
        assert!(!names_instance(&h, "e1"), "another tower-cdn instance is not a loop");
        append(&mut h, "e1");
        assert!(names_instance(&h, "e1"));
        let quoted: HeaderMap = [(CDN_LOOP, HeaderValue::from_static("tower-cdn; ID=\"e3\""))].into_iter().collect();
        assert!(names_instance(&quoted, "e3"));
    }
}
