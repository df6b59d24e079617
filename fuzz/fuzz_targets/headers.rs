//! The header-facing policy code on hostile request and response header
//! values: conditionals, `Vary`, targeted fields, storing, freshness and
//! reuse, 304 freshening, purge tags, hop-by-hop stripping, `Via`,
//! invalidation targets, the cache key's headers and cookies, and
//! `Accept-Encoding` negotiation. No panic, plus what each function's docs
//! promise (checked where cheap).
//!
//! Input: byte 0 picks the method (low 3 bits) and the status (high 5);
//! byte 1 holds flags (cookies in the key, standards-mode TTLs, when the
//! stored response is reused). The rest is split on `\n` (never part of a
//! header value) into values assigned in order to [`REQUEST`], [`RESPONSE`]
//! and [`NOT_MODIFIED`] names, cycling (later rounds append more field
//! lines); values that are not valid `HeaderValue`s are skipped.
#![no_main]

use std::time::{Duration, SystemTime};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower_cdn::fuzzing::{negotiate_encoding, normalize_accept_encoding};
use tower_cdn::policy::cache_control::CacheControl;
use tower_cdn::policy::conditional::{self, EntityTag, Precondition, Validators};
use tower_cdn::policy::freshness::{self, AgeClock, TtlPolicy};
use tower_cdn::policy::headers::{
    CACHE_TAG, KEEP_ALIVE, PROXY_CONNECTION, SURROGATE_KEY, append_via, strip_hop_by_hop, take_purge_tags, via_names_us,
};
use tower_cdn::policy::key_policy::{self, KeyPolicy, Select};
use tower_cdn::policy::reuse::{self, Reuse};
use tower_cdn::policy::storable::{self, RequestFacts, ResponseFacts, Storable, StoreRules};
use tower_cdn::policy::vary::Vary;
use tower_cdn::policy::{invalidation, targeted, update, vary};

const REQUEST: [&str; 11] = [
    "if-none-match",
    "if-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    "accept-encoding",
    "cookie",
    "cache-control",
    "pragma",
    "accept-language",
    "via",
];

const RESPONSE: [&str; 17] = [
    "etag",
    "last-modified",
    "date",
    "expires",
    "age",
    "cache-control",
    "cdn-cache-control",
    "surrogate-control",
    "vary",
    "surrogate-key",
    "cache-tag",
    "set-cookie",
    "content-location",
    "location",
    "content-length",
    "content-range",
    "connection",
];

/// The 304 that freshens the stored (response) headers.
const NOT_MODIFIED: [&str; 12] = [
    "etag",
    "last-modified",
    "date",
    "expires",
    "cache-control",
    "cdn-cache-control",
    "content-length",
    "content-encoding",
    "connection",
    "keep-alive",
    "vary",
    "x-extra",
];

const METHODS: [Method; 8] =
    [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS, Method::PATCH, Method::GET];

const STATUSES: [u16; 32] = [
    200, 203, 204, 206, 300, 301, 302, 304, 307, 308, 400, 403, 404, 405, 410, 414, 416, 500, 501, 502, 503, 504, 100,
    101, 201, 202, 205, 303, 418, 451, 299, 599,
];

/// How long after receipt the stored response is looked at again.
const LATER: [u64; 8] = [0, 1, 10, 59, 3_600, 86_400, 31_536_000, 4_000_000_000];

const HOST: &str = "a.test";
const PATH: &str = "/dir/page";

/// Fields a 304 never changes in the stored response (`update::freshen`).
const KEEP_FROM_STORED: [&str; 5] = ["content-length", "content-encoding", "content-range", "content-md5", "etag"];

fuzz_target!(|data: &[u8]| {
    let [pick, flags, rest @ ..] = data else { return };
    let method = METHODS[usize::from(pick & 7)].clone();
    let status = StatusCode::from_u16(STATUSES[usize::from(pick >> 3)]).expect("valid status");
    let cookies_in_key = flags & 1 != 0;
    let ttl = if flags & 2 == 0 {
        TtlPolicy::default()
    } else {
        // Standards mode: RFC 9111 alone (heuristic freshness).
        TtlPolicy { default_ttl: Duration::ZERO, error_caching_min_ttl: Duration::ZERO, ..TtlPolicy::default() }
    };
    let later = Duration::from_secs(LATER[usize::from((flags >> 2) & 7)]);

    let names: Vec<(usize, &str)> = REQUEST
        .iter()
        .map(|n| (0, *n))
        .chain(RESPONSE.iter().map(|n| (1, *n)))
        .chain(NOT_MODIFIED.iter().map(|n| (2, *n)))
        .collect();
    let mut maps = [HeaderMap::new(), HeaderMap::new(), HeaderMap::new()];
    for (i, raw) in rest.split(|&b| b == b'\n').enumerate() {
        let (map, name) = names[i % names.len()];
        if let Ok(value) = HeaderValue::from_bytes(raw) {
            maps[map].append(HeaderName::from_static(name), value);
        }
    }
    let [req, resp, not_modified] = maps;

    let request_time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let response_time = request_time + Duration::from_secs(1);

    conditionals(&method, &req, &resp);
    let vary = vary_keys(&req, &resp);
    storing(&method, status, &req, &resp, &ttl, cookies_in_key, &vary, request_time, response_time, later);
    freshening(&req, &resp, &not_modified, status, &ttl, response_time);
    hygiene(&req, &resp, &not_modified);
    invalidation_targets(&resp);
    key(&req);
    encoding(&req);
});

fn conditionals(method: &Method, req: &HeaderMap, resp: &HeaderMap) {
    let v = Validators::from_headers(resp);
    let pre = conditional::evaluate(method, req, &v);
    let conditions = [header::IF_MATCH, header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE, header::IF_UNMODIFIED_SINCE];
    if !conditions.iter().any(|n| req.contains_key(n)) {
        assert_eq!(pre, Precondition::Proceed, "no precondition, no verdict");
    }
    if pre == Precondition::NotModified {
        assert!(*method == Method::GET || *method == Method::HEAD, "304 only for GET/HEAD");
    }
    let allows = conditional::if_range_allows(req, &v);
    if !req.contains_key(header::IF_RANGE) {
        assert!(allows, "an absent If-Range allows the range");
    }
    let _ = conditional::revalidation_headers(resp);
    let _ = conditional::not_modified_headers(resp);
}

fn vary_keys(req: &HeaderMap, resp: &HeaderMap) -> Vary {
    let parsed = vary::parse(resp);
    if let Vary::Fields(fields) = &parsed {
        assert!(!fields.is_empty());
        assert!(fields.windows(2).all(|w| w[0].as_str() < w[1].as_str()), "sorted, unique: {fields:?}");
        let key = vary::secondary_key(fields, req);
        assert_eq!(key, vary::secondary_key(fields, &req.clone()), "deterministic");
        // One separator per field: no value can contain it.
        assert_eq!(key.matches('\u{1e}').count(), fields.len(), "{key:?}");
    }
    if resp.get_all(header::VARY).iter().next().is_none() {
        assert_eq!(parsed, Vary::None);
    }
    parsed
}

#[allow(clippy::too_many_arguments)]
fn storing(
    method: &Method,
    status: StatusCode,
    req: &HeaderMap,
    resp: &HeaderMap,
    ttl: &TtlPolicy,
    cookies_in_key: bool,
    vary: &Vary,
    request_time: SystemTime,
    response_time: SystemTime,
    later: Duration,
) {
    let targeted_names = targeted::default_targeted();
    let eff = targeted::effective(resp, &targeted_names);
    assert_eq!(eff.targeted, targeted_names.iter().any(|n| resp.contains_key(n)));

    let req_cc = CacheControl::from_headers(req, &header::CACHE_CONTROL);
    let decision = storable::evaluate(
        RequestFacts { method, headers: req, cc: &req_cc },
        ResponseFacts { status, headers: resp, eff: &eff },
        StoreRules { ttl, cookies_in_key, unkeyed_cookies: false },
        response_time,
    );
    // No per-status overrides: there is always a lifetime, within the clamp.
    let (lifetime, _) =
        freshness::freshness_lifetime(status, resp, &eff, ttl, response_time).expect("no status overrides");
    assert!(lifetime <= ttl.max_ttl, "{lifetime:?}");
    let _ = freshness::header_date(resp, header::DATE);
    let _ = freshness::header_date(resp, header::EXPIRES);
    let clock = AgeClock::new(resp, request_time, response_time);
    let now = response_time + later;
    assert!(clock.current_age(now) >= clock.initial_age);

    let pragma = reuse::pragma_no_cache(req);
    let uncacheable = Storable::uncacheable_meta(clock);
    assert_eq!(reuse::decide(&uncacheable, &req_cc, pragma, now), Reuse::Validate);

    let Ok(s) = decision else { return };
    assert_eq!(*method, Method::GET);
    assert!(!req_cc.no_store);
    assert!(!status.is_informational() && status != StatusCode::PARTIAL_CONTENT && status != StatusCode::NOT_MODIFIED);
    assert!(cookies_in_key || !resp.contains_key(header::SET_COOKIE));
    assert_eq!(s.vary, *vary);
    assert_ne!(s.vary, Vary::Any);
    assert_eq!(s.lifetime, lifetime);
    assert!(!s.lifetime.is_zero() || storable::has_validator(resp));

    let meta = s.meta(clock);
    let reuse = reuse::decide(&meta, &req_cc, pragma, now);
    if meta.no_cache || req_cc.no_cache.is_present() || pragma {
        assert_eq!(reuse, Reuse::Validate);
    }
    match reuse {
        Reuse::Fresh { remaining } => {
            assert!(meta.is_fresh(now));
            assert!(!remaining.is_zero() && remaining <= meta.lifetime, "{remaining:?} of {meta:?}");
        }
        Reuse::StaleAllowed { .. } => {
            assert!(!meta.is_fresh(now));
            assert!(!meta.must_revalidate, "must-revalidate is never served stale on the client's say-so");
        }
        Reuse::StaleWhileRevalidate { staleness } => {
            assert!(!meta.is_fresh(now));
            assert!(staleness < meta.stale_while_revalidate);
        }
        Reuse::Validate => {}
    }
}

fn freshening(
    req: &HeaderMap,
    stored: &HeaderMap,
    not_modified: &HeaderMap,
    status: StatusCode,
    ttl: &TtlPolicy,
    response_time: SystemTime,
) {
    let selected = update::validates(stored, not_modified);
    if stored.get(header::ETAG).and_then(|v| EntityTag::parse_bytes(v.as_bytes())).is_some() {
        assert!(selected, "a stored entity tag is what the 304 answered");
    }
    if !not_modified.contains_key(header::LAST_MODIFIED) {
        assert!(selected);
    }
    let fresh = update::freshen(stored, not_modified);
    for name in KEEP_FROM_STORED {
        assert!(fresh.get_all(name).iter().eq(stored.get_all(name).iter()), "{name} comes from the stored response");
    }
    let mut update = not_modified.clone();
    strip_hop_by_hop(&mut update);
    for name in update.keys().filter(|n| !KEEP_FROM_STORED.contains(&n.as_str())) {
        assert!(fresh.get_all(name).iter().eq(update.get_all(name).iter()), "{name} comes from the 304");
    }
    assert_eq!(update::freshen(stored, &HeaderMap::new()), *stored, "an empty 304 changes nothing");
    // As the fill does after a 304.
    let eff = targeted::effective(&fresh, &targeted::default_targeted());
    let req_cc = CacheControl::from_headers(req, &header::CACHE_CONTROL);
    let _ = storable::evaluate(
        RequestFacts { method: &Method::GET, headers: req, cc: &req_cc },
        ResponseFacts { status, headers: &fresh, eff: &eff },
        StoreRules { ttl, cookies_in_key: false, unkeyed_cookies: false },
        response_time,
    );
}

/// The names `Connection` nominates, read as `strip_hop_by_hop` reads them.
fn nominated(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect()
}

fn hygiene(req: &HeaderMap, resp: &HeaderMap, not_modified: &HeaderMap) {
    for map in [resp, not_modified] {
        let mut stripped = map.clone();
        strip_hop_by_hop(&mut stripped);
        let fixed = [
            header::CONNECTION,
            KEEP_ALIVE,
            PROXY_CONNECTION,
            header::PROXY_AUTHENTICATE,
            header::PROXY_AUTHORIZATION,
            header::TE,
            header::TRAILER,
            header::TRANSFER_ENCODING,
            header::UPGRADE,
        ];
        let gone: Vec<HeaderName> = fixed.into_iter().chain(nominated(map)).collect();
        for name in &gone {
            assert!(!stripped.contains_key(name), "{name} is hop-by-hop");
        }
        for name in map.keys().filter(|n| !gone.contains(n)) {
            assert!(stripped.get_all(name).iter().eq(map.get_all(name).iter()), "{name} is end-to-end");
        }
    }

    let mut tagged = resp.clone();
    let tags = take_purge_tags(&mut tagged);
    assert!(!tagged.contains_key(SURROGATE_KEY) && !tagged.contains_key(CACHE_TAG));
    let tag_lines = resp.get_all(SURROGATE_KEY).iter().count() + resp.get_all(CACHE_TAG).iter().count();
    assert_eq!(tagged.len() + tag_lines, resp.len(), "only the tag fields are taken");
    assert!(tags.len() <= 256);
    for (i, tag) in tags.iter().enumerate() {
        assert!(!tag.is_empty());
        assert!(!tag.contains([' ', ',', '\t']), "{tag:?}");
        assert!(!tags[..i].contains(tag), "de-duplicated: {tag:?}");
    }

    let _ = via_names_us(req);
    let mut via = req.clone();
    append_via(&mut via);
    assert!(via_names_us(&via), "our own Via member is recognised");
}

/// The authority of an absolute (or scheme-relative) reference when it is
/// not [`HOST`] (whatever the port).
fn foreign(value: &str) -> bool {
    let value = value.split('#').next().unwrap_or(value);
    // RFC 3986 §3.1: a scheme is a letter, then letters, digits, `+`, `-`,
    // `.`, ended by the first `:` (before any `/`, `?`, `#`).
    let scheme = value.find([':', '/', '?', '#']).filter(|&i| value[i..].starts_with(':')).map(|i| &value[..i]);
    let has_scheme = scheme.is_some_and(|s| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    let text = if value.starts_with("//") {
        format!("http:{value}")
    } else if has_scheme {
        value.to_owned()
    } else {
        return false;
    };
    let Ok(uri) = text.parse::<http::Uri>() else { return false };
    // A trailing dot names the same host.
    uri.authority().is_some_and(|a| !a.host().strip_suffix('.').unwrap_or(a.host()).eq_ignore_ascii_case(HOST))
}

fn invalidation_targets(resp: &HeaderMap) {
    let targets = invalidation::related_targets(resp, HOST, PATH);
    assert!(targets.len() <= 2);
    for target in &targets {
        assert!(target.starts_with('/'), "a path-and-query: {target:?}");
    }
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        let Some(value) = resp.get(&name) else { continue };
        let mut only = HeaderMap::new();
        only.insert(name.clone(), value.clone());
        let got = invalidation::related_targets(&only, HOST, PATH);
        let Ok(text) = value.to_str().map(str::trim) else { continue };
        if foreign(text) {
            assert!(got.is_empty(), "another host's URI {text:?} gave {got:?}");
        }
        // A query alone resolves against the whole path (RFC 3986 §5.2.2).
        if text.starts_with('?') {
            let query = text.split('#').next().unwrap_or(text);
            assert_eq!(got, [format!("{PATH}{query}")]);
        }
    }
}

fn key(req: &HeaderMap) {
    let mut names: Vec<String> = REQUEST.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    let policy = KeyPolicy { query_strings: Select::All, headers: Select::Only(names), cookies: Select::All };
    let key = key_policy::cache_key(&policy, HOST, PATH, Some("q=1"), req);
    assert_eq!(key, key_policy::cache_key(&policy, HOST, PATH, Some("q=1"), req), "deterministic");
    assert!(key.starts_with("a.test\u{1f}/dir/page?q=1"), "{key:?}");

    let pairs: Vec<(&str, &[u8])> = key_policy::cookies(req).collect();
    for (name, value) in &pairs {
        assert!(!name.is_empty() && !name.contains([';', '=']), "{name:?}");
        assert_eq!(name.trim_ascii(), *name);
        assert!(!value.contains(&b';'));
        assert_eq!(value.trim_ascii(), *value);
    }
    let without_cookies = KeyPolicy { cookies: Select::None, ..policy.clone() };
    let other = key_policy::cache_key(&without_cookies, HOST, PATH, Some("q=1"), req);
    assert_eq!(pairs.is_empty(), other == key, "cookies in the key");

    // A selected header that is present (even empty) is in the key; an
    // absent one adds nothing.
    for name in REQUEST {
        let mut fewer = req.clone();
        let had = fewer.remove(name).is_some();
        let changed = key_policy::cache_key(&policy, HOST, PATH, Some("q=1"), &fewer) != key;
        assert_eq!(had, changed, "{name}");
    }
}

/// What the `Accept-Encoding` fields say about `coding`, read as
/// `negotiate` reads them (lines that are not visible ASCII are skipped).
#[derive(Default)]
struct Said {
    accepted: bool,
    refused: bool,
    star: bool,
}

fn says(headers: &HeaderMap, coding: &str) -> Said {
    let mut said = Said::default();
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(text) = value.to_str() else { continue };
        for member in text.split(',') {
            let mut parts = member.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.get(..2).is_some_and(|q| q.eq_ignore_ascii_case("q="))
                    && p[2..].trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            });
            if name == "*" {
                said.star |= !refused;
            } else if name == coding || (coding == "gzip" && name == "x-gzip") {
                if refused {
                    said.refused = true;
                } else {
                    said.accepted = true;
                }
            }
        }
    }
    said
}

fn encoding(req: &HeaderMap) {
    let chosen = negotiate_encoding(req);
    let mut normalized = req.clone();
    normalize_accept_encoding(&mut normalized);
    let lines: Vec<&HeaderValue> = normalized.get_all(header::ACCEPT_ENCODING).iter().collect();
    match chosen {
        Some(token) => assert_eq!(lines, [token]),
        // Neither coding: the origin is asked for identity, not "anything".
        None => assert_eq!(lines, ["identity"]),
    }
    assert_eq!(negotiate_encoding(&normalized), chosen, "normalisation keeps the choice");
    // `q=0` refuses a coding; `*` stands only for codings not listed
    // (RFC 9110 §12.5.3).
    if let Some(token) = chosen {
        let said = says(req, token);
        assert!(
            said.accepted || (said.star && !said.refused),
            "{token} chosen for {:?}",
            req.get_all(header::ACCEPT_ENCODING)
        );
    }
}
