//! Signed cookies and URL-over-cookie precedence.

use super::*;

fn exp() -> SystemTime {
    t0() + Duration::from_secs(3600)
}

#[test]
fn custom_policy_cookies() {
    let s = signer_a();
    let policy = Policy::new(format!("{BASE}/private/*"), exp());
    let cookies = s.cookies(&policy).unwrap();
    let names: Vec<&str> = cookies.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"]);
    let h = cookie_headers(&cookies);
    let url = format!("{BASE}/private/a.mp4?start=10");
    assert_eq!(verify(&keys(), &req(&url, Some(&h), None), t0()), Ok(()));
    assert_eq!(verify(&keys(), &req(&url, Some(&h), None), exp()), Err(Rejection::Expired));
    let outside = format!("{BASE}/public/a.mp4");
    assert_eq!(verify(&keys(), &req(&outside, Some(&h), None), t0()), Err(Rejection::ResourceMismatch));
    // No cookies, no query: missing.
    assert_eq!(verify(&keys(), &req(&url, None, None), t0()), Err(Rejection::Missing));
    assert_eq!(verify(&keys(), &req(&url, Some(&HeaderMap::new()), None), t0()), Err(Rejection::Missing));
}

#[test]
fn cookies_split_across_headers_with_noise_and_quotes() {
    let s = signer_a().with_hash_algorithm(HashAlgorithm::Sha256);
    let policy = Policy::new(format!("{BASE}/*"), exp());
    let cookies = s.cookies(&policy).unwrap();
    assert_eq!(cookies.len(), 4);
    assert_eq!(cookies[3], ("CloudFront-Hash-Algorithm".to_owned(), "SHA256".to_owned()));
    let mut h = HeaderMap::new();
    h.append(COOKIE, HeaderValue::from_static("session=abc; theme=dark"));
    for (name, value) in &cookies {
        let v = format!("other=1;  {name}=\"{value}\" ;x");
        h.append(COOKIE, HeaderValue::from_str(&v).unwrap());
    }
    let url = format!("{BASE}/x");
    assert_eq!(verify(&keys(), &req(&url, Some(&h), None), t0()), Ok(()));

    // Without the hash-algorithm cookie the SHA-256 signature is checked as SHA-1.
    let no_hash = cookie_headers(&cookies[..3]);
    assert_eq!(verify(&keys(), &req(&url, Some(&no_hash), None), t0()), Err(Rejection::BadSignature));
}

#[test]
fn canned_cookies() {
    let s = signer_a();
    let url = format!("{BASE}/one/file.txt?v=2");
    let cookies = s.canned_cookies(&url, exp()).unwrap();
    assert_eq!(cookies[0], ("CloudFront-Expires".to_owned(), "1700003600".to_owned()));
    let h = cookie_headers(&cookies);
    assert_eq!(verify(&keys(), &req(&url, Some(&h), None), t0()), Ok(()));
    // Canned cookies cover only the exact URL.
    let other = format!("{BASE}/one/file.txt?v=3");
    assert_eq!(verify(&keys(), &req(&other, Some(&h), None), t0()), Err(Rejection::BadSignature));
    assert_eq!(verify(&keys(), &req(&url, Some(&h), None), exp()), Err(Rejection::Expired));
}

#[test]
fn url_parameters_take_precedence_over_cookies() {
    let s = signer_a();
    let policy = Policy::new(format!("{BASE}/*"), exp());
    let good = cookie_headers(&s.cookies(&policy).unwrap());
    let url = format!("{BASE}/x");
    let signed = s.custom_url(&url, &policy).unwrap();
    let broken = replace_param(&signed, "Key-Pair-Id", "NOPE");
    // Valid cookies do not rescue a bad signed URL.
    assert_eq!(verify(&keys(), &req(&broken, Some(&good), None), t0()), Err(Rejection::UnknownKey));
    // A valid URL is accepted whatever the cookies say.
    let junk = cookie_headers(&[("CloudFront-Signature".into(), "!!".into())]);
    assert_eq!(verify(&keys(), &req(&signed, Some(&junk), None), t0()), Ok(()));
    // A lone Hash-Algorithm query parameter does not count as a signed URL.
    let q = format!("{url}?Hash-Algorithm=SHA1");
    assert_eq!(verify(&keys(), &req(&q, Some(&good), None), t0()), Ok(()));
}

#[test]
fn first_cookie_of_a_name_wins() {
    let s = signer_a();
    let policy = Policy::new(format!("{BASE}/*"), exp());
    let cookies = s.cookies(&policy).unwrap();
    let mut with_dupes = cookies.clone();
    with_dupes.push(("CloudFront-Signature".into(), "AAAA".into()));
    let url = format!("{BASE}/x");
    let h = cookie_headers(&with_dupes);
    assert_eq!(verify(&keys(), &req(&url, Some(&h), None), t0()), Ok(()));
    let mut first_bad = vec![("CloudFront-Signature".to_owned(), "AAAA".to_owned())];
    first_bad.extend(cookies);
    let h = cookie_headers(&first_bad);
    assert_eq!(verify(&keys(), &req(&url, Some(&h), None), t0()), Err(Rejection::BadSignature));
}

#[test]
fn malformed_cookies() {
    let s = signer_a();
    let policy = Policy::new(format!("{BASE}/*"), exp());
    let cookies = s.cookies(&policy).unwrap();
    let url = format!("{BASE}/x");
    let run = |pairs: &[(String, String)]| {
        let h = cookie_headers(pairs);
        verify(&keys(), &req(&url, Some(&h), None), t0())
    };
    // Missing key pair id.
    assert_eq!(run(&cookies[..2]), Err(Rejection::Malformed));
    // Both CloudFront-Expires and CloudFront-Policy.
    let mut both = cookies.clone();
    both.push(("CloudFront-Expires".into(), "1700003600".into()));
    assert_eq!(run(&both), Err(Rejection::Malformed));
    // Unknown hash algorithm.
    let mut md5 = cookies.clone();
    md5.push(("CloudFront-Hash-Algorithm".into(), "MD5".into()));
    assert_eq!(run(&md5), Err(Rejection::Malformed));
    // Cookie names are case-sensitive: lower-case ones are ignored.
    let lower: Vec<(String, String)> = cookies.iter().map(|(n, v)| (n.to_lowercase(), v.clone())).collect();
    assert_eq!(run(&lower), Err(Rejection::Missing));
    // Non-UTF-8 bytes in a signing cookie.
    let mut h = HeaderMap::new();
    h.insert(COOKIE, HeaderValue::from_bytes(b"CloudFront-Key-Pair-Id=\xff\xfe; CloudFront-Expires=1").unwrap());
    assert_eq!(verify(&keys(), &req(&url, Some(&h), None), t0()), Err(Rejection::Malformed));
}
