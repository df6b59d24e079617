//! Header names and header hygiene shared by the request and response paths.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

pub use crate::status::{CACHE_NAME, CACHE_STATUS, X_CACHE};

/// `Keep-Alive` (RFC 9112 §9.6 lists it as hop-by-hop via RFC 2068).
pub const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
/// Non-standard but widely used hop-by-hop header.
pub const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// The value we add to `Via` (RFC 9110 §7.6.3).
pub const VIA_VALUE: &str = "1.1 tower-cdn";

/// Headers that are meaningful only for a single connection
/// (RFC 9110 §7.6.1): never stored, never forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop headers: the fixed list, `Upgrade`, and every header
/// named by `Connection` (RFC 9110 §7.6.1).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let nominated: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in nominated {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// Fields a `Connection` option cannot remove from a request.
const END_TO_END_ALWAYS: [HeaderName; 2] = [header::HOST, header::CONTENT_LENGTH];

/// Fields a request's `Connection` header named, removed on arrival
/// ([`take_nominated`]) so that they cannot remove fields this cache adds
/// later; kept to be put back when the request passes to the app untouched.
#[derive(Debug, Clone, Default)]
pub struct Nominated(pub Vec<(HeaderName, HeaderValue)>);

/// Removes the fields the `Connection` header names (RFC 9110 §7.6.1),
/// except the fixed hop-by-hop ones (removed later anyway) and those that
/// belong to every recipient (`Host`, which routes and keys the request,
/// and the framing fields the server already used; found by the wire
/// property test: `Connection: host` left the key without its host), and
/// returns them. `None` when nothing was removed (the common
/// `keep-alive`/`close`).
pub fn take_nominated(headers: &mut HeaderMap) -> Option<Nominated> {
    let names: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .filter(|name| !HOP_BY_HOP.contains(name) && !END_TO_END_ALWAYS.contains(name) && *name != header::UPGRADE)
        .collect();
    let mut taken = Vec::new();
    for name in names {
        if let header::Entry::Occupied(e) = headers.entry(name) {
            let (name, values) = e.remove_entry_mult();
            taken.extend(values.map(|v| (name.clone(), v)));
        }
    }
    (!taken.is_empty()).then_some(Nominated(taken))
}

impl Nominated {
    /// Puts the fields back.
    pub fn restore(self, headers: &mut HeaderMap) {
        for (name, value) in self.0 {
            headers.append(name, value);
        }
    }
}

/// Removes the fixed hop-by-hop fields and `Upgrade`, but not the fields
/// a `Connection` header names: for a request whose received fields were
/// stripped on arrival ([`strip_hop_by_hop`]) and that has fields of this
/// cache's own since (`Via`, `CDN-Loop`, `X-Forwarded-For`), which a
/// viewer's `Connection` must not remove (RFC 9110 §7.6.1 applies to the
/// fields received).
pub fn strip_hop_by_hop_fixed(headers: &mut HeaderMap) {
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// Whether an HTTP/1.1 request is a WebSocket handshake (RFC 6455 §4.1):
/// `Upgrade: websocket`, named by `Connection`. Other upgrades are not
/// tunnelled (their `Upgrade` is removed like any hop-by-hop field): an
/// `h2c` upgrade passed to the origin would open an HTTP/2 connection to it
/// that no behavior, signature check or cache key sees ("h2c smuggling").
pub fn upgrade_requested(headers: &HeaderMap) -> bool {
    let mut upgrades = headers.get_all(header::UPGRADE).iter();
    let websocket = match (upgrades.next(), upgrades.next()) {
        (Some(v), None) => v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"websocket"),
        _ => false,
    };
    websocket
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// The fields of an upgrade handshake that reach the origin whatever the
/// behavior's forwarding policy (CloudFront forwards the WebSocket ones
/// too): `Upgrade`, `Sec-WebSocket-*`, and `Origin`, which the origin
/// checks against cross-site WebSocket hijacking.
pub fn handshake_fields(headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    headers
        .iter()
        .filter(|(name, _)| {
            *name == header::UPGRADE || *name == header::ORIGIN || name.as_str().starts_with("sec-websocket-")
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// Appends the client's address to `X-Forwarded-For` (as CloudFront does).
pub fn append_forwarded_for(headers: &mut HeaderMap, client: std::net::IpAddr) {
    let name = HeaderName::from_static("x-forwarded-for");
    let value = match headers.get(&name).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => format!("{prev}, {client}"),
        _ => client.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(name, v);
    }
}

/// `Surrogate-Key` (Fastly; space-separated tags).
pub const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");
/// `Cache-Tag` (Cloudflare; comma-separated tags).
pub const CACHE_TAG: HeaderName = HeaderName::from_static("cache-tag");

/// Most tags kept per response (a bound against hostile origins).
const MAX_TAGS: usize = 256;

/// `tags` and `more` as one list: de-duplicated, bounded like
/// [`take_purge_tags`].
pub fn merge_tags(tags: Box<[Box<str>]>, more: &[String]) -> Box<[Box<str>]> {
    let mut all = tags.into_vec();
    for tag in more.iter().filter(|t| !t.is_empty()) {
        if all.len() < MAX_TAGS && !all.iter().any(|t| **t == **tag) {
            all.push(Box::from(tag.as_str()));
        }
    }
    all.into_boxed_slice()
}

/// Removes the purge-tag fields (`Surrogate-Key`, `Cache-Tag`) and returns
/// their tags: exact strings, split on spaces and commas, de-duplicated.
/// A tag that is not UTF-8 is dropped (it could not be purged by name, and
/// a lossy conversion would make different tags one). They are for the
/// cache, not for clients (as at Fastly and Cloudflare).
pub fn take_purge_tags(headers: &mut HeaderMap) -> Box<[Box<str>]> {
    let mut tags: Vec<Box<str>> = Vec::new();
    for name in [SURROGATE_KEY, CACHE_TAG] {
        for value in headers.get_all(&name) {
            let words = value.as_bytes().split(|b| matches!(b, b' ' | b',' | b'\t'));
            for tag in words.filter_map(|t| std::str::from_utf8(t).ok()).filter(|t| !t.is_empty()) {
                if tags.len() < MAX_TAGS && !tags.iter().any(|t| **t == *tag) {
                    tags.push(Box::from(tag));
                }
            }
        }
        headers.remove(&name);
    }
    tags.into_boxed_slice()
}

/// Appends our `Via` entry to a header map (RFC 9110 §7.6.3): each
/// intermediary adds its own member, so earlier hops stay visible.
pub fn append_via(headers: &mut HeaderMap) {
    headers.append(header::VIA, HeaderValue::from_static(VIA_VALUE));
}

/// `true` if any `Via` member names this cache: a forwarding loop.
pub fn via_names_us(headers: &HeaderMap) -> bool {
    headers.get_all(header::VIA).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|member| {
        let mut parts = member.split_whitespace();
        let _protocol = parts.next();
        parts.next() == Some(CACHE_NAME)
    })
}

/// The request trailer fields a viewer may send on to an origin: those it
/// declared in `Trailer`, except what a trailer must not carry (RFC 9110
/// §6.5.1: framing, routing, request modifiers, authentication, response
/// control) and what the edge never forwards from a viewer anyway
/// (hop-by-hop fields, cookies, the forwarding family, its own fields).
/// Many servers merge trailers into the header section, so a field
/// stripped from the head must not come back in the tail; and over HTTP/2
/// a connection-specific field there would stall the stream.
pub fn declared_trailers(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut out: Vec<HeaderName> = headers
        .get_all(header::TRAILER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .filter(trailer_field_allowed)
        .collect();
    out.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
    out.dedup();
    out
}

fn trailer_field_allowed(name: &HeaderName) -> bool {
    const NEVER: [&str; 24] = [
        "host",
        "content-length",
        "transfer-encoding",
        "te",
        "trailer",
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "expect",
        "max-forwards",
        "authorization",
        "proxy-authorization",
        "proxy-authenticate",
        "cookie",
        "set-cookie",
        "cache-control",
        "pragma",
        "range",
        "age",
        "via",
        "cdn-loop",
        "x-request-id",
        "www-authenticate",
    ];
    let n = name.as_str();
    !(NEVER.contains(&n)
        || n.starts_with("content-")
        || n.starts_with("if-")
        || n.starts_with("proxy-")
        || super::forward_policy::is_forwarding_family(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_fixed_and_connection_nominated_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("close, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(KEEP_ALIVE, HeaderValue::from_static("timeout=5"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::CONTENT_TYPE));
    }

    #[test]
    fn purge_tags_are_taken_from_both_fields() {
        let mut h = HeaderMap::new();
        h.insert(SURROGATE_KEY, HeaderValue::from_static("a b  product-7"));
        h.append(CACHE_TAG, HeaderValue::from_static("b,c"));
        let tags = take_purge_tags(&mut h);
        assert_eq!(tags.iter().map(|t| &**t).collect::<Vec<_>>(), ["a", "b", "product-7", "c"]);
        assert!(h.is_empty());
        // Tags that are not UTF-8 are dropped, not merged into one U+FFFD tag.
        h.insert(SURROGATE_KEY, HeaderValue::from_bytes(b"x\xff \xfe ok").unwrap());
        assert_eq!(take_purge_tags(&mut h).iter().map(|t| &**t).collect::<Vec<_>>(), ["ok"]);
    }

    #[test]
    fn via_detects_our_own_member() {
        let mut h = HeaderMap::new();
        h.insert(header::VIA, HeaderValue::from_static("1.0 fred, 1.1 other"));
        assert!(!via_names_us(&h));
        append_via(&mut h);
        assert!(via_names_us(&h));
    }
}
