//! Hostile and malformed inputs: rejected, never panicking.

use super::*;

fn valid_canned() -> String {
    signer_a().canned_url(&format!("{BASE}/x"), t0() + Duration::from_secs(60)).unwrap()
}

#[test]
fn missing_and_incomplete_parameters() {
    let x = format!("{BASE}/x");
    assert_eq!(check_url(&x, t0()), Err(Rejection::Missing));
    assert_eq!(check_url(&format!("{x}?a=1"), t0()), Err(Rejection::Missing));
    assert_eq!(check_url(&format!("{x}?Hash-Algorithm=SHA256"), t0()), Err(Rejection::Missing));
    for q in [
        "Signature=AAAA",
        "Key-Pair-Id=KA",
        "Expires=1700000060",
        "Expires=1700000060&Key-Pair-Id=KA",
        "Expires=1700000060&Signature=AAAA",
        "Policy=e30_&Key-Pair-Id=KA",
        "Signature=AAAA&Key-Pair-Id=KA",
    ] {
        assert_eq!(check_url(&format!("{x}?{q}"), t0()), Err(Rejection::Malformed), "{q}");
    }
}

#[test]
fn malformed_parameter_values() {
    let signed = valid_canned();
    let sig = param(&signed, "Signature").to_owned();
    let cases = [
        replace_param(&signed, "Expires", ""),
        replace_param(&signed, "Expires", "-5"),
        replace_param(&signed, "Expires", "+1700000060"),
        replace_param(&signed, "Expires", "1e9"),
        replace_param(&signed, "Expires", "99999999999999999999"),
        replace_param(&signed, "Expires", "123456789012345678901234"),
        replace_param(&signed, "Signature", ""),
        replace_param(&signed, "Signature", "not base64!"),
        replace_param(&signed, "Signature", &format!("+{}", &sig[1..])),
        replace_param(&signed, "Signature", &"A".repeat(5000)),
        replace_param(&signed, "Signature", "%ff%fe"),
        replace_param(&signed, "Key-Pair-Id", ""),
        replace_param(&signed, "Key-Pair-Id", &"K".repeat(129)),
        format!("{signed}&Hash-Algorithm=sha256"),
        format!("{signed}&Hash-Algorithm=MD5"),
        format!("{signed}&Signature={sig}"),
        format!("{signed}&Expires=1700000060"),
        format!("{signed}&Policy=e30_"),
        format!("{signed}&Key-Pair-Id=KA"),
        format!("{signed}&Hash-Algorithm=SHA1&Hash-Algorithm=SHA1"),
        format!("{signed}&Expires"),
    ];
    for url in cases {
        assert_eq!(check_url(&url, t0()), Err(Rejection::Malformed), "{url}");
    }
    // Expires with a big but valid number: the signature no longer matches.
    let big = replace_param(&signed, "Expires", "18446744073709551615");
    assert_eq!(check_url(&big, t0()), Err(Rejection::BadSignature));
    // Percent-encoded values are decoded before use.
    let encoded = replace_param(&signed, "Signature", &sig.replace('~', "%7E").replace('-', "%2D"));
    assert_eq!(check_url(&encoded, t0()), Ok(()));
}

#[test]
fn oversized_policy_is_rejected_before_decoding() {
    let big = "A".repeat(6000);
    let url = format!("{BASE}/x?Policy={big}&Signature=AAAA&Key-Pair-Id=KA");
    assert_eq!(check_url(&url, t0()), Err(Rejection::Malformed));
    let huge_query = format!("{BASE}/x?{}", "a=1&".repeat(50_000));
    assert_eq!(check_url(&huge_query, t0()), Err(Rejection::Missing));
}

#[test]
fn signed_but_invalid_policy_documents() {
    let s = signer_a();
    let x = format!("{BASE}/x");
    let bad_policies: [&[u8]; 16] = [
        b"",
        b"null",
        b"not json",
        br#"{"Statement":[]}"#,
        br#"{"Statement":{}}"#,
        br#"{"Statement":[{"Condition":{}}]}"#,
        br#"{"Statement":[{"Resource":"*"}]}"#,
        br#"{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":"1700003600"}}}]}"#,
        br#"{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":-1}}}]}"#,
        br#"{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":1.5e9}}}]}"#,
        br#"{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":1700003600}},"Extra":1}]}"#,
        br#"{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":1700003600},"DateLessThan":{"AWS:EpochTime":1}}}]}"#,
        br#"{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":1700003600},"IpAddress":{"AWS:SourceIp":"300.0.0.0/8"}}}]}"#,
        br#"{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":1700003600},"IpAddress":{"AWS:SourceIp":"10.0.0.0/33"}}}]}"#,
        br#"{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":1700003600}}},{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":1700003600}}}]}"#,
        b"{\"Statement\":[{\"Resource\":\"\xff\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":1700003600}}}]}",
    ];
    for policy in bad_policies {
        let url = url_with_raw_policy(&s, &x, policy);
        assert_eq!(check_url(&url, t0()), Err(Rejection::Malformed), "{}", String::from_utf8_lossy(policy));
    }
    // Deeply nested JSON does not overflow the stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let url = url_with_raw_policy(&s, &x, deep.as_bytes());
    assert_eq!(check_url(&url, t0()), Err(Rejection::Malformed));
    let nested = format!(r#"{{"Statement":[{{"Resource":"*","Condition":{{"DateLessThan":{}}}}}]}}"#, "[".repeat(3000));
    let url = url_with_raw_policy(&s, &x, nested.as_bytes());
    assert_eq!(check_url(&url, t0()), Err(Rejection::Malformed));
    // Whitespace and key order are fine: the signature covers the exact bytes.
    let pretty = b"{ \"Statement\": [ { \"Condition\": { \"DateLessThan\": { \"AWS:EpochTime\": 1700003600 } },\n \"Resource\": \"https://d111111abcdef8.cloudfront.net/*\" } ] }";
    let url = url_with_raw_policy(&s, &x, pretty);
    assert_eq!(check_url(&url, t0()), Ok(()));
}

#[test]
fn policy_json_matches_python_escaping() {
    let p = Policy::new("https://h/\"q\"\\é😀\n\t\u{7f}\u{1}", at(1));
    assert_eq!(
        p.to_json(),
        r#"{"Statement":[{"Resource":"https://h/\"q\"\\\u00e9\ud83d\ude00\n\t\u007f\u0001","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}"#
    );
    let full = Policy::new("r", at(10)).date_greater_than(at(5)).ip_address("2001:db8::1").unwrap();
    assert_eq!(full.date_less_than_epoch(), 10);
    assert_eq!(full.date_greater_than_epoch(), Some(5));
    assert_eq!(full.resource(), "r");
    assert_eq!(
        full.to_json(),
        r#"{"Statement":[{"Resource":"r","Condition":{"DateLessThan":{"AWS:EpochTime":10},"IpAddress":{"AWS:SourceIp":"2001:db8::1/128"},"DateGreaterThan":{"AWS:EpochTime":5}}}]}"#
    );
    // Times before the epoch clamp to 0.
    let before = Policy::new("r", UNIX_EPOCH - Duration::from_secs(5));
    assert_eq!(before.date_less_than_epoch(), 0);
    let err = Policy::new("r", at(1)).ip_address("10.0.0.0/40").unwrap_err();
    assert!(err.to_string().contains("10.0.0.0/40"), "{err}");
    assert!(Policy::new("r", at(1)).ip_address("host.example").is_err());
}
