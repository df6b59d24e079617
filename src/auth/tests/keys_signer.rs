//! Key loading, `Debug` hygiene and signer input validation.

use super::*;

#[test]
fn trusted_keys_loading() {
    let k = keys();
    assert_eq!(k.len(), 4);
    assert!(!k.is_empty());
    assert!(k.contains("KE"));
    assert!(!k.contains("ke"));
    let mut ids: Vec<&str> = k.key_ids().collect();
    ids.sort_unstable();
    assert_eq!(ids, ["KA", "KA1", "KB", "KE"]);

    let dbg = format!("{k:?}");
    assert_eq!(dbg, r#"TrustedKeys {"KA": "RSA-2048", "KA1": "RSA-2048", "KB": "RSA-2048", "KE": "ECDSA-P256"}"#);
    assert!(!dbg.contains("MII"));
}

#[test]
fn trusted_keys_rejections() {
    let mut k = TrustedKeys::new();
    assert!(k.is_empty());
    k.add_pem("K1", RSA_A_PUB_SPKI).unwrap();
    assert_eq!(k.add_pem("K1", RSA_B_PUB_SPKI), Err(KeyError::DuplicateKeyId { key_id: "K1".into() }));
    for bad_id in ["", "has space", "ü", "a/b", &"K".repeat(129)] {
        let e = k.add_pem(bad_id, RSA_B_PUB_SPKI).unwrap_err();
        assert!(matches!(e, KeyError::InvalidKeyId { .. }), "{bad_id:?}: {e}");
    }
    let cases = [
        ("", "expected a PEM"),
        ("garbage", "expected a PEM"),
        (RSA_A_PKCS1, "expected a PEM"),
        (RSA_A_PKCS8, "expected a PEM"),
        (RSA_1024_PUB, "1024 bits"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "neither RSA nor EC"),
        ("-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n", "bad PKCS#1"),
    ];
    for (pem, needle) in cases {
        let e = k.add_pem("K2", pem).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
        assert!(e.to_string().contains("K2"), "{e}");
    }
    let huge = format!("-----BEGIN PUBLIC KEY-----\n{}", "A".repeat(20_000));
    assert!(k.add_pem("K2", &huge).unwrap_err().to_string().contains("too large"));
    assert_eq!(k.len(), 1);
}

#[test]
fn signer_loading_and_debug() {
    for (pem, kind) in
        [(RSA_A_PKCS1, "RSA-2048"), (RSA_A_PKCS8, "RSA-2048"), (EC_SEC1, "ECDSA-P256"), (EC_PKCS8, "ECDSA-P256")]
    {
        let s = signer("K1", pem);
        assert_eq!(s.key_id(), "K1");
        assert_eq!(s.hash_algorithm(), HashAlgorithm::Sha1);
        let dbg = format!("{s:?}");
        assert_eq!(dbg, format!(r#"Signer {{ key_id: "K1", key: "{kind}", hash: Sha1 }}"#));
    }
    for (pem, needle) in [
        ("nope", "expected a PEM"),
        (RSA_A_PUB_SPKI, "expected a PEM"),
        (RSA_1024_PKCS8, "1024 bits"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "neither RSA nor EC"),
        ("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----", "bad PKCS#1"),
        ("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----", "bad SEC1"),
    ] {
        let e = Signer::from_pem("K1", pem).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }
    assert!(matches!(Signer::from_pem("bad id", RSA_A_PKCS1), Err(KeyError::InvalidKeyId { .. })));
    assert_eq!(HashAlgorithm::Sha256.as_str(), "SHA256");
    assert_eq!(HashAlgorithm::default().as_str(), "SHA1");
}

#[test]
fn signer_rejects_bad_urls_and_policies() {
    let s = signer_a();
    let t = t0();
    for url in [
        "",
        "ftp://h/x",
        "//h/x",
        "https://h/a b",
        "https://h/a\tb",
        "https://h/é",
        "https://h/a#frag",
        "https://h/a?Expires=1",
        "https://h/a?x=1&Signature=2",
        "https://h/a?Hash-Algorithm=SHA1",
    ] {
        match s.canned_url(url, t) {
            Err(SignError::InvalidUrl(_)) => {}
            other => panic!("{url:?}: {other:?}"),
        }
        assert!(s.custom_url(url, &Policy::new("*", t)).is_err());
        assert!(s.canned_cookies(url, t).is_err());
    }
    assert!(s.canned_url("HTTPS://h/a", t).is_ok());
    assert!(s.canned_url("https://h/a?", t).is_ok());
    let e = s.canned_url("ftp://h", t).unwrap_err();
    assert!(e.to_string().starts_with("cannot sign URL"), "{e}");

    let huge = Policy::new(format!("https://h/{}", "a".repeat(5000)), t);
    assert!(matches!(s.cookies(&huge), Err(SignError::PolicyTooLarge(_))));
    let e = s.custom_url("https://h/a", &huge).unwrap_err();
    assert!(e.to_string().contains("4096"), "{e}");
}
