//! Verifying a request's signed URL or signed cookies.

use std::net::IpAddr;
use std::time::SystemTime;

use http::HeaderMap;

use super::keys::TrustedKeys;
use super::params::{self, SignedPolicy};
use super::policy::{ParsedPolicy, canned_json, epoch_secs};
use super::{Rejection, strip_signing_params};
use crate::policy::wildcard::wildcard_match;

/// The parts of a request that CloudFront signature verification looks at.
///
/// The URL compared with the policy is
/// `scheme://host` + `path` + (`?` + query without signing parameters), so
/// pass them exactly as the signer saw them: `host` as in the URL (with a
/// non-default port if the URL had one), `path` and `query` raw
/// (percent-encoded, as received).
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// Host as it appears in the URL.
    pub host: &'a str,
    /// Raw path, starting with `/`.
    pub path: &'a str,
    /// Raw query string without the `?`, if any.
    pub query: Option<&'a str>,
    /// Request headers; only `Cookie` fields are read (all of them).
    pub headers: Option<&'a HeaderMap>,
    /// The viewer's address, needed when a policy has an `IpAddress` condition.
    pub client_ip: Option<IpAddr>,
}

impl SignedRequest<'_> {
    /// The URL the policy must cover: signing parameters removed.
    pub fn resource_url(&self) -> String {
        let stripped = self.query.and_then(strip_signing_params);
        let slash = if self.path.starts_with('/') { "" } else { "/" };
        let mut url = String::with_capacity(
            self.scheme.len() + self.host.len() + self.path.len() + stripped.as_ref().map_or(0, |q| q.len() + 1) + 4,
        );
        url.push_str(self.scheme);
        url.push_str("://");
        url.push_str(self.host);
        url.push_str(slash);
        url.push_str(self.path);
        if let Some(q) = stripped {
            url.push('?');
            url.push_str(&q);
        }
        url
    }
}

/// Verifies a CloudFront signed URL or, when the query string has no signing
/// parameters, signed cookies.
///
/// Order of checks: parameters → key id → signature → `DateLessThan`
/// (`now < DateLessThan`) → `DateGreaterThan` (`now > DateGreaterThan`) →
/// `IpAddress` → `Resource`. Times are compared in whole seconds.
pub fn verify(keys: &TrustedKeys, req: &SignedRequest<'_>, now: SystemTime) -> Result<(), Rejection> {
    let creds = params::extract(req.query, req.headers)?;
    if !keys.contains(&creds.key_id) {
        return Err(Rejection::UnknownKey);
    }
    let resource = req.resource_url();
    let policy = match creds.policy {
        SignedPolicy::Canned(expires) => {
            let message = canned_json(&resource, expires);
            keys.verify(&creds.key_id, creds.hash, message.as_bytes(), &creds.signature)?;
            // The URL is part of the signed message, so it already matched.
            ParsedPolicy { resource: None, date_less_than: expires, date_greater_than: None, source_ip: None }
        }
        SignedPolicy::Custom(json) => {
            keys.verify(&creds.key_id, creds.hash, &json, &creds.signature)?;
            ParsedPolicy::parse(&json)?
        }
    };
    let now = epoch_secs(now);
    if now >= policy.date_less_than {
        return Err(Rejection::Expired);
    }
    if policy.date_greater_than.is_some_and(|t| now <= t) {
        return Err(Rejection::NotYetValid);
    }
    if let Some(range) = policy.source_ip
        && !req.client_ip.is_some_and(|ip| range.contains(ip))
    {
        return Err(Rejection::IpNotAllowed);
    }
    if let Some(pattern) = &policy.resource
        && !wildcard_match(pattern, &resource)
    {
        return Err(Rejection::ResourceMismatch);
    }
    Ok(())
}
