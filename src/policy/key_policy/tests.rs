//! Unit tests of `key_policy`.

use std::borrow::Cow;

use http::header::HeaderValue;

use super::*;
use crate::policy::forward_policy::{
    ForwardMode, ForwardPolicy, Forwarding, apply_forward_headers as apply_with, forwarded_query,
};

const STANDARDS: Forwarding = Forwarding { mode: ForwardMode::Standards, compress: false, trust_forwarding: false };

fn apply_forward_headers(key: &KeyPolicy, fwd: &ForwardPolicy, h: &mut HeaderMap) {
    apply_with(key, fwd, STANDARDS, &http::Method::GET, h);
}
use proptest::prelude::*;

use crate::test_util::headers;

fn key(policy: &KeyPolicy, query: Option<&str>, pairs: &[(&str, &str)]) -> String {
    cache_key(policy, "h.test", "/p", query, &headers(pairs)).to_string()
}

fn policy(query: Select, hdrs: Select, cookies: Select) -> KeyPolicy {
    KeyPolicy { query_strings: query, headers: hdrs, cookies }
}

#[test]
fn default_policy_is_host_path_and_whole_query() {
    let p = KeyPolicy::default();
    assert!(p.is_default());
    assert_eq!(key(&p, Some("b=2&a=1"), &[("accept", "x")]), "h.test\u{1f}/p?b=2&a=1");
    assert_eq!(key(&p, None, &[]), "h.test\u{1f}/p");
    assert_eq!(
        key(&p, Some("a=1"), &[]),
        crate::cache::key::cache_key("h.test", "/p", Some("a=1")).to_string(),
        "same layout as the plain key"
    );
    // Invalidation reads the path part; the policy's parts do not hide it.
    let with_parts = policy(Select::All, Select::only(["x"]), Select::None);
    let k = cache_key(&with_parts, "h", "/p", Some("q=1"), &headers(&[("x", "1")]));
    assert_eq!(crate::cache::key::key_path(&k), "/p?q=1");
    assert_eq!(crate::cache::key::key_host(&k), "h");
}

#[test]
fn query_allow_and_deny_lists_keep_request_order() {
    let only = policy(Select::only(["a", "c"]), Select::None, Select::None);
    assert_eq!(key(&only, Some("c=3&b=2&a=1"), &[]), "h.test\u{1f}/p?c=3&a=1");
    assert_eq!(key(&only, Some("b=2"), &[]), "h.test\u{1f}/p");
    assert_eq!(key(&only, Some("a"), &[]), "h.test\u{1f}/p?a");
    let except = policy(Select::all_except(["utm_source"]), Select::None, Select::None);
    assert_eq!(key(&except, Some("utm_source=x&id=7&&utm_source=y"), &[]), "h.test\u{1f}/p?id=7");
    let none = policy(Select::None, Select::None, Select::None);
    assert_eq!(key(&none, Some("id=7"), &[]), "h.test\u{1f}/p");
}

#[test]
fn headers_in_the_key_are_named_and_absent_differs_from_empty() {
    let p = policy(Select::All, Select::only(["accept-language", "x-v"]), Select::None);
    let en = key(&p, None, &[("Accept-Language", "en")]);
    assert_eq!(en, "h.test\u{1f}/p\u{1f}haccept-language:en");
    assert_ne!(en, key(&p, None, &[("accept-language", "de")]));
    assert_ne!(key(&p, None, &[]), key(&p, None, &[("x-v", "")]));
    // Several field lines are kept apart from one line with a comma.
    assert_ne!(key(&p, None, &[("x-v", "a"), ("x-v", "b")]), key(&p, None, &[("x-v", "a,b")]));
    // Unlisted headers do not matter.
    assert_eq!(key(&p, None, &[("cookie", "a=1")]), key(&p, None, &[]));
}

#[test]
fn values_cannot_forge_other_components() {
    let p = policy(Select::All, Select::only(["x-a", "x-b"]), Select::None);
    let mut forged = HeaderMap::new();
    forged.insert("x-a", HeaderValue::from_bytes(b"1\xc2\x9fhx-b:2").unwrap());
    let honest = headers(&[("x-a", "1"), ("x-b", "2")]);
    let a = cache_key(&p, "h", "/p", None, &forged);
    let b = cache_key(&p, "h", "/p", None, &honest);
    assert_ne!(a, b);
    assert!(a.contains("%C2%9F"), "{a:?}");
    // `%` itself is escaped, so an escape cannot be faked either.
    let pct = key(&p, None, &[("x-a", "%25")]);
    assert!(pct.ends_with("x-a:%2525"), "{pct:?}");
}

#[test]
fn cookie_allow_list_is_sorted_by_name_and_ignores_others() {
    // Validation sorts allow-lists; the key follows their order.
    let p = policy(Select::All, Select::None, Select::only(["a", "b"]));
    let one = key(&p, None, &[("cookie", "b=2; tracking=9; a=1")]);
    let two = key(&p, None, &[("cookie", "a=1"), ("cookie", "b=2"), ("cookie", "x=0")]);
    assert_eq!(one, "h.test\u{1f}/p\u{1f}ca=1\u{1f}cb=2");
    assert_eq!(one, two);
    assert_ne!(one, key(&p, None, &[("cookie", "a=1; b=3")]));
    assert_eq!(key(&p, None, &[]), "h.test\u{1f}/p");
}

#[test]
fn cookie_parsing_is_careful() {
    let h = headers(&[("cookie", " a=1 ;b = 2;;=x; c=\"q v\"; novalue")]);
    let got: Vec<(&str, &[u8])> = cookies(&h).collect();
    assert_eq!(got, vec![("a", &b"1"[..]), ("b", &b"2"[..]), ("c", &b"\"q v\""[..])]);
}

#[test]
fn long_keys_are_built_on_the_heap() {
    let p = policy(Select::All, Select::None, Select::None);
    let path = format!("/{}", "x".repeat(INLINE_KEY_BYTES * 2));
    let k = cache_key(&p, "h", &path, Some("a=1"), &HeaderMap::new());
    assert_eq!(k.len(), 1 + 1 + path.len() + 4);
    assert!(k.ends_with("?a=1"));
}

#[test]
fn forwarding_is_the_union_of_key_and_origin_request_policy() {
    let key_p = policy(Select::only(["v"]), Select::only(["x-key"]), Select::only(["k"]));
    let mut fwd = ForwardPolicy::default();
    assert_eq!(forwarded_query(&key_p, &fwd, Some("v=1&w=2")).as_deref(), Some("v=1"));
    fwd.query_strings = Select::only(["w"]);
    assert!(matches!(forwarded_query(&key_p, &fwd, Some("v=1&w=2")), Some(Cow::Borrowed("v=1&w=2"))));
    assert_eq!(forwarded_query(&key_p, &ForwardPolicy::default(), Some("z=1")), None);

    // Default forward policy in standards mode: every header, no cookie
    // beyond the key's.
    let mut h = headers(&[("accept", "x"), ("cookie", "k=1; session=s"), ("host", "h")]);
    apply_forward_headers(&key_p, &ForwardPolicy::default(), &mut h);
    assert_eq!(h["cookie"], "k=1");
    assert_eq!(h["accept"], "x");
    assert_eq!(h["host"], "h");

    // Header allow-list: key headers, listed and neutral ones survive
    // (`Authorization` is neutral: its answers are not shared, §3.5).
    let fwd =
        ForwardPolicy { headers: Some(Select::only(["accept"])), cookies: Select::All, query_strings: Select::None };
    let mut h = headers(&[
        ("accept", "x"),
        ("x-key", "1"),
        ("x-api-key", "secret"),
        ("authorization", "a"),
        ("host", "h"),
        ("cookie", "a=1"),
    ]);
    apply_forward_headers(&key_p, &fwd, &mut h);
    assert!(h.contains_key("accept") && h.contains_key("x-key") && h.contains_key("host"));
    assert!(h.contains_key("authorization"));
    assert!(!h.contains_key("x-api-key"));
    assert_eq!(h["cookie"], "a=1");
}

#[test]
fn a_cookie_fragment_the_key_ignores_never_reaches_the_origin() {
    // Found by the `headers` fuzz target's review: with every cookie in
    // the key, `admin` (no `=`) was not in the key but was forwarded.
    let key_all = policy(Select::None, Select::None, Select::All);
    let mut h = headers(&[("cookie", "admin; a=1;;b = 2 ;=x")]);
    apply_forward_headers(&key_all, &ForwardPolicy::default(), &mut h);
    assert_eq!(h["cookie"], "a=1; b=2");
    assert_eq!(
        cache_key(&key_all, "h", "/", None, &h),
        cache_key(&key_all, "h", "/", None, &headers(&[("cookie", "admin; a=1;;b = 2 ;=x")]))
    );
    let mut h = headers(&[("cookie", "admin")]);
    apply_forward_headers(&key_all, &ForwardPolicy::default(), &mut h);
    assert!(!h.contains_key("cookie"));
    // Forwarding every cookie without keying on any: sent as written.
    let fwd_all = ForwardPolicy { cookies: Select::All, ..ForwardPolicy::default() };
    let mut h = headers(&[("cookie", "admin; a=1")]);
    apply_forward_headers(&KeyPolicy::default(), &fwd_all, &mut h);
    assert_eq!(h["cookie"], "admin; a=1");
}

#[test]
fn default_policies_strip_every_cookie() {
    let mut h = headers(&[("cookie", "session=abc"), ("cookie", "b=2")]);
    apply_forward_headers(&KeyPolicy::default(), &ForwardPolicy::default(), &mut h);
    assert!(!h.contains_key("cookie"));
}

proptest! {
    /// The key is a function of what the policy selects: changing an
    /// unselected header or cookie never changes it, and the exact-length
    /// pre-count always matches what is written.
    #[test]
    fn key_ignores_unselected_inputs(
        v in "[ -~]{0,20}",
        other in "[ -~]{0,20}",
        c in "[a-z0-9]{0,8}",
        q in proptest::option::of("[a-z0-9=&]{0,30}"),
    ) {
        let p = policy(Select::all_except(["utm"]), Select::only(["x-a"]), Select::only(["s"]));
        let mut h1 = HeaderMap::new();
        h1.insert("x-a", HeaderValue::from_str(&v).unwrap());
        h1.insert("x-other", HeaderValue::from_str(&other).unwrap());
        h1.insert("cookie", HeaderValue::from_str(&format!("s=1; t={c}")).unwrap());
        let mut h2 = HeaderMap::new();
        h2.insert("x-a", HeaderValue::from_str(&v).unwrap());
        h2.insert("cookie", HeaderValue::from_str("t=zz; s=1").unwrap());
        let k1 = cache_key(&p, "h", "/p", q.as_deref(), &h1);
        let k2 = cache_key(&p, "h", "/p", q.as_deref(), &h2);
        prop_assert_eq!(&k1, &k2);
        let mut count = Count(0);
        write_key(&mut count, &p, "h", "/p", q.as_deref(), &h1);
        prop_assert_eq!(count.0, k1.len());
    }

    /// Distinct selected header values give distinct keys.
    #[test]
    fn distinct_values_give_distinct_keys(a in proptest::collection::vec(any::<u8>(), 0..12), b in proptest::collection::vec(any::<u8>(), 0..12)) {
        let (Ok(va), Ok(vb)) = (HeaderValue::from_bytes(&a), HeaderValue::from_bytes(&b)) else {
            return Ok(());
        };
        prop_assume!(va != vb);
        let p = policy(Select::All, Select::only(["x-a"]), Select::None);
        let mut ha = HeaderMap::new();
        ha.insert("x-a", va);
        let mut hb = HeaderMap::new();
        hb.insert("x-a", vb);
        prop_assert_ne!(cache_key(&p, "h", "/p", None, &ha), cache_key(&p, "h", "/p", None, &hb));
    }
}

fn forwarded(mode: ForwardMode, fwd: &ForwardPolicy, method: http::Method, pairs: &[(&str, &str)]) -> HeaderMap {
    let key_p = policy(Select::All, Select::only(["accept-language"]), Select::None);
    let mut h = headers(pairs);
    let ctx = Forwarding { mode, compress: false, trust_forwarding: false };
    apply_with(&key_p, fwd, ctx, &method, &mut h);
    h
}

#[test]
fn edge_mode_forwards_only_the_key_and_neutral_headers() {
    let viewer = [
        ("host", "h"),
        ("accept-language", "de"),
        ("x-api-key", "k"),
        ("accept", "text/html"),
        ("authorization", "Bearer x"),
        ("referer", "https://evil.example/"),
        ("if-none-match", "\"v1\""),
        ("range", "bytes=0-1"),
        ("cache-control", "no-cache"),
        ("user-agent", "curl/8"),
        ("x-forwarded-prefix", "//evil.example"),
        ("true-client-ip", "1.2.3.4"),
        ("cloudfront-viewer-country", "XX"),
    ];
    let h = forwarded(ForwardMode::Edge, &ForwardPolicy::default(), http::Method::GET, &viewer);
    let mut names: Vec<&str> = h.keys().map(|n| n.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["accept-language", "authorization", "cache-control", "host", "if-none-match", "range", "user-agent"]
    );
    assert_eq!(h["user-agent"], "tower-cdn");

    // Standards mode: end-to-end headers pass, the forwarding family never.
    let h = forwarded(ForwardMode::Standards, &ForwardPolicy::default(), http::Method::GET, &viewer);
    assert!(h.contains_key("x-api-key") && h.contains_key("accept") && h.contains_key("referer"));
    assert_eq!(h["user-agent"], "curl/8");
    for family in ["x-forwarded-prefix", "true-client-ip", "cloudfront-viewer-country"] {
        assert!(!h.contains_key(family), "{family}");
    }

    // Unsafe methods are never stored: their headers pass in every mode.
    let h = forwarded(ForwardMode::Edge, &ForwardPolicy::default(), http::Method::POST, &viewer);
    assert!(h.contains_key("x-api-key") && h.contains_key("authorization"));
    assert!(!h.contains_key("x-forwarded-prefix"));

    // A policy that names a header forwards it (and may name the family).
    let fwd = ForwardPolicy { headers: Some(Select::only(["x-api-key", "true-client-ip"])), ..Default::default() };
    let h = forwarded(ForwardMode::Edge, &fwd, http::Method::GET, &viewer);
    assert!(h.contains_key("x-api-key") && h.contains_key("true-client-ip"));
    assert!(!h.contains_key("accept") && !h.contains_key("x-forwarded-prefix"));
    // ... but "all" does not include the family.
    let fwd = ForwardPolicy { headers: Some(Select::All), ..Default::default() };
    let h = forwarded(ForwardMode::Edge, &fwd, http::Method::GET, &viewer);
    assert!(h.contains_key("accept") && !h.contains_key("true-client-ip"));
}
