//! May this response be stored by a shared cache? (RFC 9111 §3, with
//! CloudFront's Minimum TTL override.)
//!
//! | condition | `min_ttl = 0` (RFC 9111) | `min_ttl > 0` (CloudFront) |
//! |---|---|---|
//! | method other than GET | not stored (§3) | not stored |
//! | request `no-store` | not stored (§5.2.1.5) | not stored |
//! | 206, 304, 1xx | not stored (a partial or validation answer is not the object) | not stored |
//! | status not heuristically cacheable, no explicit freshness | not stored (§3) | not stored |
//! | `no-store` | not stored (§5.2.2.5) | stored for the clamped TTL |
//! | `private` (whole response) | not stored (§5.2.2.7) | stored for the clamped TTL |
//! | `no-cache` (whole response) | not stored here: revalidation before each reuse is not implemented yet | stored for the clamped TTL |
//! | request has `Authorization`, response lacks `public`, `s-maxage` and `must-revalidate` | not stored (§3.5) | not stored |
//! | response has `Set-Cookie` | not stored (would share one user's cookie) | not stored |
//! | `Vary` present | not stored yet (variants are not keyed yet) | not stored |
//! | freshness lifetime 0 | not stored | — (clamped to `min_ttl`) |

use std::time::{Duration, SystemTime};

use http::header::{self, HeaderMap};
use http::{Method, StatusCode};

use super::cache_control::CacheControl;
use super::freshness::{TtlPolicy, TtlSource, freshness_lifetime, is_heuristically_cacheable};
use crate::status::NotStored;

/// A positive storing decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Storable {
    /// Freshness lifetime granted.
    pub lifetime: Duration,
    /// Where it came from.
    pub source: TtlSource,
}

/// The request facts the storing decision needs.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// Request method.
    pub method: &'a Method,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Parsed request `Cache-Control`.
    pub cc: &'a CacheControl,
}

/// The response facts the storing decision needs.
#[derive(Debug, Clone, Copy)]
pub struct ResponseFacts<'a> {
    /// Response status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: &'a HeaderMap,
    /// Parsed response `Cache-Control`.
    pub cc: &'a CacheControl,
}

/// Decides whether a shared cache may store the response (RFC 9111 §3)
/// and for how long.
pub fn evaluate(
    req: RequestFacts<'_>,
    resp: ResponseFacts<'_>,
    policy: &TtlPolicy,
    response_time: SystemTime,
) -> Result<Storable, NotStored> {
    if *req.method != Method::GET {
        return Err(NotStored::Method);
    }
    if req.cc.no_store {
        return Err(NotStored::RequestNoStore);
    }
    let status = resp.status;
    if status == StatusCode::PARTIAL_CONTENT {
        return Err(NotStored::Partial);
    }
    if status.is_informational() || status == StatusCode::NOT_MODIFIED {
        return Err(NotStored::Status);
    }
    let explicit = resp.cc.s_maxage.is_some()
        || resp.cc.max_age.is_some()
        || resp.cc.public
        || resp.headers.contains_key(header::EXPIRES);
    if !is_heuristically_cacheable(status) && !explicit {
        return Err(NotStored::Status);
    }
    let cloudfront_override = !policy.min_ttl.is_zero();
    if !cloudfront_override {
        if resp.cc.no_store {
            return Err(NotStored::NoStore);
        }
        if resp.cc.private.is_all() {
            return Err(NotStored::Private);
        }
        if resp.cc.no_cache.is_all() {
            return Err(NotStored::ZeroTtl);
        }
    }
    if req.headers.contains_key(header::AUTHORIZATION)
        && !(resp.cc.public || resp.cc.s_maxage.is_some() || resp.cc.must_revalidate)
    {
        return Err(NotStored::Authorization);
    }
    if resp.headers.contains_key(header::SET_COOKIE) {
        return Err(NotStored::SetCookie);
    }
    if resp.headers.contains_key(header::VARY) {
        return Err(NotStored::Vary);
    }
    let (lifetime, source) =
        freshness_lifetime(status, resp.headers, resp.cc, policy, response_time);
    if lifetime.is_zero() {
        return Err(NotStored::ZeroTtl);
    }
    Ok(Storable { lifetime, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn decide(
        method: Method,
        req_h: &[(&'static str, &'static str)],
        status: u16,
        resp_h: &[(&'static str, &'static str)],
        policy: &TtlPolicy,
    ) -> Result<u64, NotStored> {
        let mut rq = HeaderMap::new();
        for (k, v) in req_h {
            rq.append(*k, HeaderValue::from_static(v));
        }
        let mut rs = HeaderMap::new();
        for (k, v) in resp_h {
            rs.append(*k, HeaderValue::from_static(v));
        }
        let rq_cc = CacheControl::from_headers(&rq, &header::CACHE_CONTROL);
        let rs_cc = CacheControl::from_headers(&rs, &header::CACHE_CONTROL);
        evaluate(
            RequestFacts {
                method: &method,
                headers: &rq,
                cc: &rq_cc,
            },
            ResponseFacts {
                status: StatusCode::from_u16(status).unwrap(),
                headers: &rs,
                cc: &rs_cc,
            },
            policy,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
        .map(|s| s.lifetime.as_secs())
    }

    #[test]
    fn storing_table_with_min_ttl_zero() {
        let p = TtlPolicy::default();
        let day = 86_400;
        let g = Method::GET;
        assert_eq!(decide(g.clone(), &[], 200, &[], &p), Ok(day));
        assert_eq!(
            decide(Method::POST, &[], 200, &[], &p),
            Err(NotStored::Method)
        );
        assert_eq!(
            decide(Method::HEAD, &[], 200, &[], &p),
            Err(NotStored::Method)
        );
        assert_eq!(
            decide(g.clone(), &[("cache-control", "no-store")], 200, &[], &p),
            Err(NotStored::RequestNoStore)
        );
        assert_eq!(
            decide(g.clone(), &[], 206, &[], &p),
            Err(NotStored::Partial)
        );
        assert_eq!(decide(g.clone(), &[], 302, &[], &p), Err(NotStored::Status));
        assert_eq!(
            decide(g.clone(), &[], 302, &[("cache-control", "max-age=5")], &p),
            Ok(5)
        );
        assert_eq!(decide(g.clone(), &[], 500, &[], &p), Err(NotStored::Status));
        assert_eq!(decide(g.clone(), &[], 404, &[], &p), Ok(day));
        assert_eq!(
            decide(g.clone(), &[], 200, &[("cache-control", "no-store")], &p),
            Err(NotStored::NoStore)
        );
        assert_eq!(
            decide(g.clone(), &[], 200, &[("cache-control", "private")], &p),
            Err(NotStored::Private)
        );
        assert_eq!(
            decide(g.clone(), &[], 200, &[("set-cookie", "a=b")], &p),
            Err(NotStored::SetCookie)
        );
        assert_eq!(
            decide(g.clone(), &[], 200, &[("cache-control", "max-age=0")], &p),
            Err(NotStored::ZeroTtl)
        );
        let auth = [("authorization", "Bearer x")];
        assert_eq!(
            decide(g.clone(), &auth, 200, &[], &p),
            Err(NotStored::Authorization)
        );
        assert_eq!(
            decide(g.clone(), &auth, 200, &[("cache-control", "public")], &p),
            Ok(day)
        );
        assert_eq!(
            decide(
                g.clone(),
                &auth,
                200,
                &[("cache-control", "s-maxage=9")],
                &p
            ),
            Ok(9)
        );
        assert_eq!(
            decide(
                g,
                &auth,
                200,
                &[("cache-control", "must-revalidate, max-age=3")],
                &p
            ),
            Ok(3)
        );
    }

    #[test]
    fn cloudfront_min_ttl_overrides_no_store_and_private() {
        let p = TtlPolicy {
            min_ttl: Duration::from_secs(30),
            ..TtlPolicy::default()
        };
        let g = Method::GET;
        assert_eq!(
            decide(g.clone(), &[], 200, &[("cache-control", "no-store")], &p),
            Ok(86_400)
        );
        assert_eq!(
            decide(
                g.clone(),
                &[],
                200,
                &[("cache-control", "private, max-age=0")],
                &p
            ),
            Ok(30)
        );
        assert_eq!(
            decide(g, &[], 200, &[("set-cookie", "a=b")], &p),
            Err(NotStored::SetCookie)
        );
    }
}
