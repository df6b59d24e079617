//! Property tests: no panics on hostile input; stripping keeps other params.

use proptest::prelude::*;

use super::*;

const NAMES: [&str; 5] = ["Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"];

fn query_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        // Signing parameters with arbitrary values.
        (prop::sample::select(NAMES.to_vec()), "[A-Za-z0-9_~%=-]{0,24}").prop_map(|(n, v)| format!("{n}={v}")),
        // Plausible but wrong names.
        (prop::sample::select(vec!["expires", "Key-Pair-ID", "Signature2", "XPolicy"]), "[a-z0-9]{0,6}")
            .prop_map(|(n, v)| format!("{n}={v}")),
        // Anything without `&`.
        "[^&]{0,16}",
    ]
}

fn cookie_pair() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            prop::sample::select(vec![
                "CloudFront-Expires",
                "CloudFront-Policy",
                "CloudFront-Signature",
                "CloudFront-Key-Pair-Id",
                "CloudFront-Hash-Algorithm",
            ]),
            "[ -~]{0,40}"
        )
            .prop_map(|(n, v)| format!("{n}={v}")),
        "[ -~]{0,24}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn verify_never_panics_on_query(
        segments in prop::collection::vec(query_segment(), 0..8),
        path in "/[^?#]{0,20}",
        ip in proptest::option::of(any::<std::net::IpAddr>()),
        now in 0u64..4_000_000_000,
    ) {
        let query = segments.join("&");
        let r = SignedRequest {
            scheme: "https",
            host: "h.example",
            path: &path,
            query: Some(&query),
            headers: None,
            client_ip: ip,
        };
        let _ = verify(&keys(), &r, at(now));
    }

    #[test]
    fn verify_never_panics_on_cookies(
        pairs in prop::collection::vec(cookie_pair(), 0..8),
        raw in prop::collection::vec(any::<u8>(), 0..64),
        query in proptest::option::of("[ -~]{0,40}"),
    ) {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&pairs.join("; ")) {
            h.append(COOKIE, v);
        }
        if let Ok(v) = HeaderValue::from_bytes(&raw) {
            h.append(COOKIE, v);
        }
        let r = SignedRequest {
            scheme: "http",
            host: "h",
            path: "/",
            query: query.as_deref(),
            headers: Some(&h),
            client_ip: None,
        };
        let _ = verify(&keys(), &r, t0());
    }

    #[test]
    fn verify_never_panics_on_signed_garbage_policy(policy in prop::collection::vec(any::<u8>(), 0..300)) {
        // Signed, so the JSON parser really sees it.
        let url = url_with_raw_policy(&signer_a(), &format!("{BASE}/p"), &policy);
        let r = check_url(&url, t0());
        prop_assert!(r.is_err() || serde_json::from_slice::<serde_json::Value>(&policy).is_ok());
    }

    #[test]
    fn strip_keeps_other_params_in_order(segments in prop::collection::vec(query_segment(), 0..10)) {
        let query = segments.join("&");
        let expected: Vec<&str> = query
            .split('&')
            .filter(|s| {
                let name = s.split_once('=').map_or(*s, |(n, _)| n);
                !NAMES.contains(&name)
            })
            .collect();
        let expected = expected.join("&");
        let got = strip_signing_params(&query);
        prop_assert_eq!(got.clone().unwrap_or_default(), expected.clone());
        prop_assert_eq!(got.is_none(), expected.is_empty());
        if let Some(g) = got {
            for seg in g.split('&') {
                let name = seg.split_once('=').map_or(seg, |(n, _)| n);
                prop_assert!(!NAMES.contains(&name));
            }
        }
    }
}
