//! Signed URLs: canned and custom policies, time, IP and resource checks.

use super::*;

fn exp() -> SystemTime {
    t0() + Duration::from_secs(3600)
}

#[test]
fn canned_url_round_trip() {
    let url = format!("{BASE}/images/photo.jpg?size=large&color=red");
    let signed = signer_a().canned_url(&url, exp()).unwrap();
    assert!(signed.starts_with(&format!("{url}&Expires=1700003600&Signature=")));
    assert!(signed.ends_with("&Key-Pair-Id=KA"));
    assert_eq!(check_url(&signed, t0()), Ok(()));
    assert_eq!(check_url(&signed, at(1_700_003_599)), Ok(()));
    // DateLessThan is exclusive.
    assert_eq!(check_url(&signed, at(1_700_003_600)), Err(Rejection::Expired));
    assert_eq!(check_url(&signed, exp() + Duration::from_secs(86_400)), Err(Rejection::Expired));
    // Sub-second precision is truncated.
    assert_eq!(check_url(&signed, at(1_700_003_599) + Duration::from_millis(999)), Ok(()));

    // The canned policy binds the exact URL: any change breaks the signature.
    for tampered in [
        signed.replace("photo.jpg", "photo.png"),
        signed.replace("size=large", "size=small"),
        signed.replace("size=large&color=red", "color=red&size=large"),
        signed.replace("https://", "http://"),
        signed.replace("d111111abcdef8", "d222222abcdef8"),
        format!("{signed}&extra=1"),
    ] {
        assert_eq!(check_url(&tampered, t0()), Err(Rejection::BadSignature), "{tampered}");
    }
    // Longer expiry claimed than signed.
    let later = signed.replace("Expires=1700003600", "Expires=1700007200");
    assert_eq!(check_url(&later, t0()), Err(Rejection::BadSignature));

    // Own parameters may follow the signing parameters.
    let (base, query) = signed.split_once('?').unwrap();
    let signing = query.strip_prefix("size=large&color=red&").unwrap();
    let reordered = format!("{base}?size=large&{signing}&color=red");
    assert_eq!(check_url(&reordered, t0()), Ok(()));
}

#[test]
fn canned_url_without_own_query() {
    let url = format!("{BASE}/a.txt");
    let signed = signer_a().canned_url(&url, exp()).unwrap();
    assert!(signed.starts_with(&format!("{url}?Expires=")));
    assert_eq!(check_url(&signed, t0()), Ok(()));
    // Same key under its PKCS#1 public form.
    let s1 = signer("KA1", RSA_A_PKCS8).canned_url(&url, exp()).unwrap();
    assert_eq!(check_url(&s1, t0()), Ok(()));
    assert_eq!(param(&s1, "Signature"), param(&signed, "Signature"));
}

#[test]
fn custom_policy_with_wildcard() {
    let policy = Policy::new(format!("{BASE}/images/*"), exp());
    let s = signer_a();
    let signed = s.custom_url(&format!("{BASE}/images/a/b.jpg?v=1"), &policy).unwrap();
    assert_eq!(check_url(&signed, t0()), Ok(()));
    assert_eq!(check_url(&signed, exp()), Err(Rejection::Expired));

    // The same policy and signature work on any URL the wildcard covers...
    let signing = signed.split_once('?').unwrap().1.strip_prefix("v=1&").unwrap();
    let other = format!("{BASE}/images/other.png?{signing}");
    assert_eq!(check_url(&other, t0()), Ok(()));
    // ...and no other.
    for outside in [
        format!("{BASE}/images2/x?{signing}"),
        format!("{BASE}/Images/x?{signing}"),
        format!("http://d111111abcdef8.cloudfront.net/images/x?{signing}"),
        format!("https://evil.example/images/x?{signing}"),
    ] {
        assert_eq!(check_url(&outside, t0()), Err(Rejection::ResourceMismatch), "{outside}");
    }

    // `?` matches exactly one character.
    let policy = Policy::new(format!("{BASE}/v?/*.js"), exp());
    let signed = s.custom_url(&format!("{BASE}/v1/app.js"), &policy).unwrap();
    assert_eq!(check_url(&signed, t0()), Ok(()));
    let signing = signed.split_once('?').unwrap().1;
    let bad = format!("{BASE}/v10/app.js?{signing}");
    assert_eq!(check_url(&bad, t0()), Err(Rejection::ResourceMismatch));
}

#[test]
fn custom_policy_date_greater_than() {
    let policy = Policy::new(format!("{BASE}/*"), exp()).date_greater_than(t0());
    let signed = signer_a().custom_url(&format!("{BASE}/x"), &policy).unwrap();
    assert_eq!(check_url(&signed, at(1_699_999_999)), Err(Rejection::NotYetValid));
    // "not allowed on or before" DateGreaterThan.
    assert_eq!(check_url(&signed, t0()), Err(Rejection::NotYetValid));
    assert_eq!(check_url(&signed, at(1_700_000_001)), Ok(()));
    assert_eq!(check_url(&signed, exp()), Err(Rejection::Expired));
}

#[test]
fn custom_policy_ip_ranges() {
    let s = signer_a();
    let url = format!("{BASE}/secret.bin");
    let policy = Policy::new(&url, exp()).ip_address("192.0.2.0/24").unwrap();
    let signed = s.custom_url(&url, &policy).unwrap();
    let check = |ip: Option<&str>| {
        let ip = ip.map(|s| s.parse().unwrap());
        verify(&keys(), &req(&signed, None, ip), t0())
    };
    assert_eq!(check(Some("192.0.2.1")), Ok(()));
    assert_eq!(check(Some("192.0.2.255")), Ok(()));
    assert_eq!(check(Some("::ffff:192.0.2.9")), Ok(()));
    assert_eq!(check(Some("192.0.3.1")), Err(Rejection::IpNotAllowed));
    assert_eq!(check(Some("2001:db8::1")), Err(Rejection::IpNotAllowed));
    assert_eq!(check(None), Err(Rejection::IpNotAllowed));

    let single = Policy::new(&url, exp()).ip_address("203.0.113.7").unwrap();
    assert_eq!(single.ip_range(), Some("203.0.113.7/32"));
    let signed = s.custom_url(&url, &single).unwrap();
    let ok = verify(&keys(), &req(&signed, None, Some("203.0.113.7".parse().unwrap())), t0());
    assert_eq!(ok, Ok(()));
    let ko = verify(&keys(), &req(&signed, None, Some("203.0.113.8".parse().unwrap())), t0());
    assert_eq!(ko, Err(Rejection::IpNotAllowed));

    let v6 = Policy::new(&url, exp()).ip_address("2001:db8::/32").unwrap();
    let signed = s.custom_url(&url, &v6).unwrap();
    let ok = verify(&keys(), &req(&signed, None, Some("2001:db8:1::5".parse().unwrap())), t0());
    assert_eq!(ok, Ok(()));
    let ko = verify(&keys(), &req(&signed, None, Some("192.0.2.1".parse().unwrap())), t0());
    assert_eq!(ko, Err(Rejection::IpNotAllowed));
}

#[test]
fn tampering_and_keys() {
    let url = format!("{BASE}/doc.pdf");
    let policy = Policy::new(format!("{BASE}/*"), exp());
    let signed = signer_a().custom_url(&url, &policy).unwrap();
    let sig = param(&signed, "Signature");

    // Flip one signature character (staying inside the alphabet).
    let first = if sig.starts_with('A') { "B" } else { "A" };
    let flipped = format!("{first}{}", &sig[1..]);
    let bad = replace_param(&signed, "Signature", &flipped);
    assert_eq!(check_url(&bad, t0()), Err(Rejection::BadSignature));

    // Swap in a different (validly encoded) policy, keep the signature.
    let wider = Policy::new("*", exp() + Duration::from_secs(999_999));
    let forged = replace_param(&signed, "Policy", &b64::encode(wider.to_json().as_bytes()));
    assert_eq!(check_url(&forged, t0()), Err(Rejection::BadSignature));

    // Unknown key id, and a real key id that did not make the signature.
    let unknown = replace_param(&signed, "Key-Pair-Id", "NOPE");
    assert_eq!(check_url(&unknown, t0()), Err(Rejection::UnknownKey));
    let other_key = replace_param(&signed, "Key-Pair-Id", "KB");
    assert_eq!(check_url(&other_key, t0()), Err(Rejection::BadSignature));
    let ec_key = replace_param(&signed, "Key-Pair-Id", "KE");
    assert_eq!(check_url(&ec_key, t0()), Err(Rejection::BadSignature));
    let by_b = signer("KA", RSA_B_PKCS8).custom_url(&url, &policy).unwrap();
    assert_eq!(check_url(&by_b, t0()), Err(Rejection::BadSignature));
    assert_eq!(verify(&TrustedKeys::new(), &req(&signed, None, None), t0()), Err(Rejection::UnknownKey));
}

#[test]
fn url_safe_base64_characters_round_trip() {
    let s = signer_a();
    let (mut dash, mut tilde, mut underscore) = (false, false, false);
    for i in 0..40u64 {
        let url = format!("{BASE}/file-{i}.bin");
        let signed = s.canned_url(&url, exp()).unwrap();
        let sig = param(&signed, "Signature");
        assert!(!sig.contains(['+', '/', '=']), "{sig}");
        dash |= sig.contains('-');
        tilde |= sig.contains('~');
        underscore |= sig.contains('_');
        assert_eq!(check_url(&signed, t0()), Ok(()));
    }
    assert!(dash && tilde && underscore, "alphabet not exercised");
    // Policy with characters whose base64 needs `-` / `~` (">>>" / "???").
    let policy = Policy::new(format!("{BASE}/?>>>???~~*"), exp());
    let encoded = b64::encode(policy.to_json().as_bytes());
    assert!(encoded.contains('-') || encoded.contains('~'), "{encoded}");
    // The path contains `?`, so deliver the policy in cookies.
    let cookies = s.cookies(&policy).unwrap();
    let h = cookie_headers(&cookies);
    let root = format!("{BASE}/");
    let r = SignedRequest { path: "/a>>>???~~b", ..req(&root, Some(&h), None) };
    assert_eq!(verify(&keys(), &r, t0()), Ok(()));
}

#[test]
fn sha256_and_ecdsa() {
    let url = format!("{BASE}/video.mp4");
    let rsa256 = signer_a().with_hash_algorithm(HashAlgorithm::Sha256);
    assert_eq!(rsa256.hash_algorithm(), HashAlgorithm::Sha256);
    let signed = rsa256.canned_url(&url, exp()).unwrap();
    assert!(signed.ends_with("&Key-Pair-Id=KA&Hash-Algorithm=SHA256"), "{signed}");
    assert_eq!(check_url(&signed, t0()), Ok(()));
    // Same signature verified as SHA-1 (parameter dropped) fails.
    let as_sha1 = signed.replace("&Hash-Algorithm=SHA256", "");
    assert_eq!(check_url(&as_sha1, t0()), Err(Rejection::BadSignature));
    let explicit_sha1 = signer_a().canned_url(&url, exp()).unwrap() + "&Hash-Algorithm=SHA1";
    assert_eq!(check_url(&explicit_sha1, t0()), Ok(()));

    for pem in [EC_SEC1, EC_PKCS8] {
        for hash in [HashAlgorithm::Sha1, HashAlgorithm::Sha256] {
            let ec = signer("KE", pem).with_hash_algorithm(hash);
            let canned = ec.canned_url(&url, exp()).unwrap();
            assert_eq!(check_url(&canned, t0()), Ok(()), "{hash:?}");
            let policy = Policy::new(format!("{BASE}/*"), exp()).ip_address("10.0.0.0/8").unwrap();
            let custom = ec.custom_url(&url, &policy).unwrap();
            let r = req(&custom, None, Some("10.1.2.3".parse().unwrap()));
            assert_eq!(verify(&keys(), &r, t0()), Ok(()));
            let wrong_hash = if hash == HashAlgorithm::Sha1 {
                format!("{canned}&Hash-Algorithm=SHA256")
            } else {
                canned.replace("&Hash-Algorithm=SHA256", "")
            };
            assert_eq!(check_url(&wrong_hash, t0()), Err(Rejection::BadSignature));
        }
    }
}

#[test]
fn policy_without_resource_allows_any_url() {
    let s = signer_a();
    let json = br#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":1700003600}}}]}"#;
    let signed = url_with_raw_policy(&s, &format!("{BASE}/anything"), json);
    assert_eq!(check_url(&signed, t0()), Ok(()));
    let moved = signed.replace(BASE, "http://elsewhere.example");
    assert_eq!(check_url(&moved, t0()), Ok(()));
    assert_eq!(check_url(&signed, exp()), Err(Rejection::Expired));
}
