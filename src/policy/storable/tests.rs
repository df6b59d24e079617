use super::*;
use crate::policy::targeted;
use http::HeaderValue;
use std::sync::Arc;

fn decide_with(
    method: Method,
    req_h: &[(&'static str, &'static str)],
    status: u16,
    resp_h: &[(&'static str, &'static str)],
    policy: &TtlPolicy,
    cookies_in_key: bool,
) -> Result<Storable, NotStored> {
    let mut rq = HeaderMap::new();
    for (k, v) in req_h {
        rq.append(*k, HeaderValue::from_static(v));
    }
    let mut rs = HeaderMap::new();
    for (k, v) in resp_h {
        rs.append(*k, HeaderValue::from_static(v));
    }
    let rq_cc = CacheControl::from_headers(&rq, &header::CACHE_CONTROL);
    let eff = targeted::effective(&rs, &targeted::default_targeted());
    evaluate(
        RequestFacts { method: &method, headers: &rq, cc: &rq_cc },
        ResponseFacts { status: StatusCode::from_u16(status).unwrap(), headers: &rs, eff: &eff },
        StoreRules { ttl: policy, cookies_in_key, unkeyed_cookies: false },
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

fn decide(
    method: Method,
    req_h: &[(&'static str, &'static str)],
    status: u16,
    resp_h: &[(&'static str, &'static str)],
    policy: &TtlPolicy,
) -> Result<u64, NotStored> {
    decide_with(method, req_h, status, resp_h, policy, false).map(|s| s.lifetime.as_secs())
}

#[test]
fn storing_table_with_min_ttl_zero() {
    let p = TtlPolicy::default();
    let day = 86_400;
    let g = Method::GET;
    let cc = |v| [("cache-control", v)];
    assert_eq!(decide(g.clone(), &[], 200, &[], &p), Ok(day));
    assert_eq!(decide(Method::POST, &[], 200, &[], &p), Err(NotStored::Method));
    assert_eq!(decide(Method::HEAD, &[], 200, &[], &p), Err(NotStored::Method));
    assert_eq!(decide(g.clone(), &cc("no-store"), 200, &[], &p), Err(NotStored::RequestNoStore));
    assert_eq!(decide(g.clone(), &[], 206, &[], &p), Err(NotStored::Partial));
    assert_eq!(decide(g.clone(), &[], 304, &[], &p), Err(NotStored::Status));
    assert_eq!(decide(g.clone(), &[], 302, &[], &p), Err(NotStored::Status));
    assert_eq!(decide(g.clone(), &[], 302, &cc("max-age=5"), &p), Ok(5));
    assert_eq!(decide(g.clone(), &[], 302, &cc("public"), &p), Ok(day));
    assert_eq!(decide(g.clone(), &[], 404, &[], &p), Ok(10));
    assert_eq!(decide(g.clone(), &[], 500, &[], &p), Ok(10));
    assert_eq!(decide(g.clone(), &[], 418, &[], &p), Err(NotStored::Status));
    assert_eq!(decide(g.clone(), &[], 200, &cc("no-store"), &p), Err(NotStored::NoStore));
    assert_eq!(decide(g.clone(), &[], 200, &cc("private"), &p), Err(NotStored::Private));
    assert_eq!(decide(g.clone(), &[], 200, &cc("no-cache"), &p), Err(NotStored::NoCache));
    assert_eq!(decide(g.clone(), &[], 200, &[("set-cookie", "a=b")], &p), Err(NotStored::SetCookie));
    assert_eq!(decide(g.clone(), &[], 200, &cc("max-age=0"), &p), Err(NotStored::ZeroTtl));
    assert_eq!(decide(g.clone(), &[], 200, &[("cache-control", "max-age=0"), ("etag", "\"v\"")], &p), Ok(0));
    assert_eq!(decide(g.clone(), &[], 200, &[("vary", "*")], &p), Err(NotStored::Vary));
    let auth = [("authorization", "Bearer x")];
    assert_eq!(decide(g.clone(), &auth, 200, &[], &p), Err(NotStored::Authorization));
    assert_eq!(decide(g.clone(), &auth, 200, &cc("public"), &p), Ok(day));
    assert_eq!(decide(g.clone(), &auth, 200, &cc("s-maxage=9"), &p), Ok(9));
    assert_eq!(decide(g, &auth, 200, &cc("must-revalidate, max-age=3"), &p), Ok(3));
}

#[test]
fn cloudfront_min_ttl_overrides_no_store_private_and_no_cache() {
    let p = TtlPolicy { min_ttl: Duration::from_secs(30), ..TtlPolicy::default() };
    let g = Method::GET;
    assert_eq!(decide(g.clone(), &[], 200, &[("cache-control", "no-store")], &p), Ok(86_400));
    assert_eq!(decide(g.clone(), &[], 200, &[("cache-control", "private, max-age=0")], &p), Ok(30));
    let s = decide_with(g.clone(), &[], 200, &[("cache-control", "no-cache")], &p, false).unwrap();
    assert!(!s.no_cache);
    assert_eq!(decide(g, &[], 200, &[("set-cookie", "a=b")], &p), Err(NotStored::SetCookie));
}

#[test]
fn qualified_private_and_no_cache_strip_fields() {
    let p = TtlPolicy::default();
    let s = decide_with(
        Method::GET,
        &[],
        200,
        &[("cache-control", "private=\"x-user\", no-cache=\"x-token\", max-age=60")],
        &p,
        false,
    )
    .unwrap();
    assert_eq!(s.strip, vec![HeaderName::from_static("x-user"), HeaderName::from_static("x-token")]);
    assert!(!s.no_cache);
}

#[test]
fn no_cache_with_a_validator_is_stored_for_revalidation() {
    let p = TtlPolicy::default();
    let s = decide_with(Method::GET, &[], 200, &[("cache-control", "no-cache"), ("etag", "\"1\"")], &p, false).unwrap();
    assert!(s.no_cache);
}

#[test]
fn must_understand() {
    let p = TtlPolicy::default();
    let g = Method::GET;
    let mu = [("cache-control", "must-understand, no-store, max-age=60")];
    assert_eq!(decide(g.clone(), &[], 200, &mu, &p), Ok(60));
    assert_eq!(decide(g, &[], 299, &mu, &p), Err(NotStored::MustUnderstand));
}

#[test]
fn set_cookie_is_shared_only_when_cookies_are_keyed() {
    let p = TtlPolicy::default();
    assert!(decide_with(Method::GET, &[], 200, &[("set-cookie", "a=b")], &p, true).is_ok());
}

#[test]
fn targeted_field_wins_over_cache_control() {
    let p = TtlPolicy::default();
    let r = decide(Method::GET, &[], 200, &[("cache-control", "no-store"), ("cdn-cache-control", "max-age=77")], &p);
    assert_eq!(r, Ok(77));
}

#[test]
fn stale_windows() {
    let p = TtlPolicy { stale_while_revalidate: Duration::from_secs(5), ..TtlPolicy::default() };
    let g = Method::GET;
    let s = decide_with(
        g.clone(),
        &[],
        200,
        &[("cache-control", "max-age=1, stale-while-revalidate=30, stale-if-error=60")],
        &p,
        false,
    )
    .unwrap();
    assert_eq!((s.stale_while_revalidate.as_secs(), s.stale_if_error.as_secs()), (30, 60));
    assert!(!s.must_revalidate);
    let s = decide_with(g.clone(), &[], 200, &[("cache-control", "max-age=1")], &p, false).unwrap();
    assert_eq!(s.stale_while_revalidate.as_secs(), 5);
    let s = decide_with(
        g.clone(),
        &[],
        200,
        &[("cache-control", "max-age=1, must-revalidate, stale-if-error=60")],
        &p,
        false,
    )
    .unwrap();
    assert_eq!(
        (s.stale_while_revalidate, s.stale_if_error, s.stale_if_unreachable),
        (Duration::ZERO, Duration::ZERO, Duration::ZERO)
    );
    assert!(s.must_revalidate);
    let s = decide_with(g.clone(), &[], 200, &[("cache-control", "s-maxage=1")], &p, false).unwrap();
    assert_eq!((s.stale_while_revalidate, s.stale_if_unreachable), (Duration::ZERO, Duration::ZERO));
    let s = decide_with(g, &[], 200, &[("cache-control", "s-maxage=1, stale-if-error=99")], &p, false).unwrap();
    assert_eq!(s.stale_if_error.as_secs(), 99);
    let _ = Arc::new(());
}
