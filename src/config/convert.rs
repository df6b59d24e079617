//! From the file's shape to the builder. Errors name the key path;
//! everything the builder itself validates (patterns, origin ids, URLs,
//! TTL order) is left to `CdnLayerBuilder::build`, whose setting paths are
//! spelled the same way.

use std::collections::BTreeMap;
#[cfg(feature = "s3")]
use std::net::SocketAddr;
use std::path::Path;

use super::keys::{KeyGroups, behavior_keys, load_groups};
#[cfg(feature = "s3")]
use super::schema::CredentialsTable;
use super::schema::{
    AllowedMethodsSchema, BehaviorSchema, CachePolicySchema, DistributionSchema, FileSchema, OriginKindSchema,
    OriginRequestPolicySchema, OriginSchema, SelectTable, StrOrTable, ViewerProtocolSchema,
};
use crate::error::ConfigError;
use crate::policy::freshness::TtlPolicy;
use crate::{
    AllowedMethods, CacheBehavior, CachePolicy, CdnLayerBuilder, CustomErrorResponse, Distribution, Origin,
    OriginGroup, OriginRequestPolicy, Select, ViewerProtocolPolicy,
};
#[cfg(feature = "s3")]
use crate::{S3Credentials, S3Origin};
use http::StatusCode;

/// The file, converted.
pub(crate) struct Converted {
    pub(crate) listen: Option<String>,
    pub(crate) admin: Option<String>,
    pub(crate) ops: super::ops::OpsSettings,
    pub(crate) builder: CdnLayerBuilder,
    pub(crate) tls: super::tls::TlsFile,
}

/// Converts the whole file; `base` is its directory (PEM files are read
/// relative to it).
pub(crate) fn convert(file: FileSchema, base: &Path) -> Result<Converted, ConfigError> {
    let ops = super::ops::OpsSettings::convert(file.admin_token, file.access_log)?;
    let globals = super::Globals {
        capacity: file.capacity.map(|v| v.0),
        max_object_size: file.max_object_size.map(|v| v.0),
        default_ttl: file.default_ttl.map(|v| v.0),
        min_ttl: file.min_ttl.map(|v| v.0),
        max_ttl: file.max_ttl.map(|v| v.0),
        error_caching_min_ttl: file.error_caching_min_ttl.map(|v| v.0),
        stale_while_revalidate: file.stale_while_revalidate.map(|v| v.0),
        stale_if_error: file.stale_if_error.map(|v| v.0),
        stale_if_unreachable: file.stale_if_unreachable.map(|v| v.0),
        viewer_scheme: file.viewer_scheme,
        slice_size: file.slice_size.map(|v| v.0),
    };
    let mut b = globals.apply(crate::CdnLayer::builder());
    b = super::l2::apply(b, file.cache_name, file.edge_id, file.l2, base)?;
    b = super::l2::apply_disk(b, file.disk, base)?;
    b = super::telemetry::apply(b, file.telemetry)?;
    let key_groups = load_groups(&file.key_groups, base)?;
    let named = Named {
        cache: &file.cache_policies,
        forward: &file.origin_request_policies,
        response_headers: &file.response_headers_policies,
        key_groups,
        base,
    };
    for (name, p) in &file.response_headers_policies {
        let _checked =
            super::response_headers::policy(p).map_err(|e| e.within(&format!("response_headers_policies.{name}")))?;
    }
    // Named policies are checked where they are defined, against the
    // file's TTL defaults, so their errors point at their own keys.
    let defaults = TtlPolicy {
        min_ttl: file.min_ttl.map_or(TtlPolicy::default().min_ttl, |d| d.0),
        default_ttl: file.default_ttl.map_or(TtlPolicy::default().default_ttl, |d| d.0),
        max_ttl: file.max_ttl.map_or(TtlPolicy::default().max_ttl, |d| d.0),
        error_caching_min_ttl: file.error_caching_min_ttl.map_or(TtlPolicy::default().error_caching_min_ttl, |d| d.0),
        ..TtlPolicy::default()
    };
    for (name, p) in &file.cache_policies {
        cache_policy(p).and_then(|p| p.validate(&defaults)).map_err(|e| e.within(&format!("cache_policies.{name}")))?;
    }
    for (name, p) in &file.origin_request_policies {
        origin_request_policy(p)
            .and_then(|p| p.validate())
            .map_err(|e| e.within(&format!("origin_request_policies.{name}")))?;
    }
    let mut tls = super::tls::convert(file.tls, base)?;
    for (i, mut d) in file.distributions.into_iter().enumerate() {
        let cert = d.tls.take();
        super::tls::distribution(&mut tls, i, &d.id, d.domain.as_deref(), &d.aliases, cert, base);
        let d = distribution(d, &named).map_err(|e| e.within(&format!("distributions[{i}]")))?;
        b = b.distribution(d);
    }
    Ok(Converted { listen: file.listen, admin: file.admin, ops, builder: b, tls })
}

struct Named<'a> {
    cache: &'a BTreeMap<String, CachePolicySchema>,
    forward: &'a BTreeMap<String, OriginRequestPolicySchema>,
    response_headers: &'a BTreeMap<String, super::response_headers::ResponseHeadersSchema>,
    key_groups: KeyGroups,
    base: &'a Path,
}

fn distribution(d: DistributionSchema, named: &Named<'_>) -> Result<Distribution, ConfigError> {
    let mut out = Distribution::new(d.id).enabled(d.enabled.unwrap_or(true));
    if let Some(domain) = d.domain {
        out = out.domain(domain);
    }
    for alias in d.aliases {
        out = out.alias(alias);
    }
    if let Some(object) = d.default_root_object {
        out = out.default_root_object(object);
    }
    for (id, o) in d.origins {
        let origin = origin(o, named.base).map_err(|e| e.within(&format!("origins.{id}")))?;
        out = out.origin(id, origin);
    }
    for (id, g) in d.origin_groups {
        let mut group = OriginGroup::new(g.primary, g.secondary);
        if let Some(statuses) = g.failover_statuses {
            group = group.failover_statuses(statuses);
        }
        out = out.origin_group(id, group);
    }
    for (j, b) in d.behaviors.into_iter().enumerate() {
        let at = format!("behaviors[{j}]");
        let Some(pattern) = b.path_pattern.clone() else {
            return Err(ConfigError::new(format!("{at}.path_pattern"), "missing"));
        };
        let behavior = behavior(CacheBehavior::new(pattern), b, named).map_err(|e| e.within(&at))?;
        out = out.behavior(behavior);
    }
    if let Some(b) = d.default_behavior {
        let pattern = b.path_pattern.clone().unwrap_or_else(|| "*".to_owned());
        let behavior = behavior(CacheBehavior::new(pattern), b, named).map_err(|e| e.within("default_behavior"))?;
        out = out.default_behavior(behavior);
    }
    for (k, r) in d.custom_error_responses.into_iter().enumerate() {
        let at = format!("custom_error_responses[{k}]");
        let code = |setting: &str, n: u16| {
            StatusCode::from_u16(n)
                .map_err(|_| ConfigError::new(format!("{at}.{setting}"), format!("{n} is not an HTTP status code")))
        };
        let mut response = CustomErrorResponse::new(code("error_code", r.error_code)?);
        if let Some(path) = r.response_page_path {
            response = response.page(path);
        }
        if let Some(n) = r.response_code {
            response = response.response_code(code("response_code", n)?);
        }
        if let Some(ttl) = r.error_caching_min_ttl {
            response = response.error_caching_min_ttl(ttl.0);
        }
        out = out.custom_error_response(response);
    }
    Ok(out)
}

fn behavior(mut out: CacheBehavior, b: BehaviorSchema, named: &Named<'_>) -> Result<CacheBehavior, ConfigError> {
    if let Some(origin) = b.origin {
        out = out.origin(origin);
    }
    match b.cache_policy {
        None => {}
        Some(StrOrTable::Table(p)) => {
            out = out.cache_policy(cache_policy(&p).map_err(|e| e.within("cache_policy"))?);
        }
        Some(StrOrTable::Str(name)) => {
            let p = named.cache.get(&name).ok_or_else(|| {
                ConfigError::new(
                    "cache_policy",
                    format!("no cache policy named {name:?} (define it under [cache_policies.{name}])"),
                )
            })?;
            out = out.cache_policy(cache_policy(p)?);
        }
    }
    match b.origin_request_policy {
        None => {}
        Some(StrOrTable::Table(p)) => {
            let p = origin_request_policy(&p).map_err(|e| e.within("origin_request_policy"))?;
            out = out.origin_request_policy(p);
        }
        Some(StrOrTable::Str(name)) => {
            let p = named.forward.get(&name).ok_or_else(|| {
                ConfigError::new(
                    "origin_request_policy",
                    format!(
                        "no origin request policy named {name:?} (define it under [origin_request_policies.{name}])"
                    ),
                )
            })?;
            out = out.origin_request_policy(origin_request_policy(p)?);
        }
    }
    if let Some(r) = &b.rewrite {
        out = out.rewrite(rewrite(r).map_err(|e| e.within("rewrite"))?);
    }
    if let Some(name) = &b.response_headers_policy {
        out = out.response_headers_policy(super::response_headers::named(name, named.response_headers)?);
    }
    if let Some(p) = b.viewer_protocol_policy {
        out = out.viewer_protocol_policy(match p {
            ViewerProtocolSchema::AllowAll => ViewerProtocolPolicy::AllowAll,
            ViewerProtocolSchema::RedirectToHttps => ViewerProtocolPolicy::RedirectToHttps,
            ViewerProtocolSchema::HttpsOnly => ViewerProtocolPolicy::HttpsOnly,
        });
    }
    if let Some(m) = b.allowed_methods {
        out = out.allowed_methods(match m {
            AllowedMethodsSchema::GetHead => AllowedMethods::GetHead,
            AllowedMethodsSchema::GetHeadOptions => AllowedMethods::GetHeadOptions,
            AllowedMethodsSchema::All => AllowedMethods::All,
        });
    }
    #[cfg(feature = "compression")]
    {
        out = out.compress(b.compress);
    }
    #[cfg(not(feature = "compression"))]
    if b.compress {
        return Err(super::needs_feature("compress", "compression"));
    }
    let keys =
        behavior_keys(b.trusted_keys.as_deref(), b.trusted_key_groups.as_deref(), &named.key_groups, named.base)?;
    #[cfg(feature = "signed-urls")]
    if let Some(keys) = keys {
        out = out.trusted_keys(keys);
    }
    #[cfg(not(feature = "signed-urls"))]
    if let Some(never) = keys {
        match never {}
    }
    Ok(out)
}

fn rewrite(r: &super::schema::RewriteSchema) -> Result<crate::Rewrite, ConfigError> {
    use crate::policy::rewrite::{Match, Redirect};
    let mut out = crate::Rewrite::new();
    for (i, d) in r.redirects.iter().enumerate() {
        let status = d.status.unwrap_or(301);
        let code = StatusCode::from_u16(status)
            .ok()
            .filter(|c| matches!(c.as_u16(), 301 | 302 | 303 | 307 | 308))
            .ok_or_else(|| {
                ConfigError::new(format!("redirects[{i}].status"), format!("{status}: use 301, 302, 303, 307 or 308"))
            })?;
        let absolute = ["http://", "https://"].iter().any(|s| d.to.starts_with(s) && d.to.len() > s.len());
        let path = d.to.starts_with('/') && !d.to.starts_with("//") || d.to.starts_with('$');
        if d.to.bytes().any(|b| b.is_ascii_control() || b == b' ') || !(absolute || path) {
            return Err(ConfigError::new(
                format!("redirects[{i}].to"),
                format!("{:?}: use http(s)://host/... or a path starting with one / (or $path, $1)", d.to),
            ));
        }
        let mut redirect = Redirect::new(d.to.clone(), code);
        if let Some(h) = &d.host {
            redirect = redirect.host(h.clone());
        }
        if let Some(p) = &d.path {
            if !p.starts_with('/') {
                return Err(ConfigError::new(format!("redirects[{i}].path"), "must start with /"));
            }
            redirect = redirect.path(p.clone());
        }
        out = out.redirect(redirect);
    }
    for (i, route) in r.routes.iter().enumerate() {
        let m = match (&route.header, &route.cookie) {
            (Some(h), None) => Match::Header(h.to_ascii_lowercase(), route.value.clone()),
            (None, Some(c)) => Match::Cookie(c.clone(), route.value.clone()),
            _ => return Err(ConfigError::new(format!("routes[{i}]"), "set either header or cookie")),
        };
        if !route.prefix.starts_with('/') {
            return Err(ConfigError::new(format!("routes[{i}].prefix"), "must start with /"));
        }
        out = out.route(m, route.prefix.clone());
    }
    let path = |key: &str, v: &Option<String>| match v {
        Some(p) if !p.starts_with('/') => Err(ConfigError::new(key, "must start with /")),
        _ => Ok(()),
    };
    path("strip_prefix", &r.strip_prefix)?;
    path("add_prefix", &r.add_prefix)?;
    path("spa", &r.spa)?;
    if let Some(p) = &r.strip_prefix {
        out = out.strip_prefix(p.clone());
    }
    if let Some(p) = &r.add_prefix {
        out = out.add_prefix(p.clone());
    }
    if let Some(i) = &r.index {
        out = out.index(i.clone());
    }
    if let Some(p) = &r.spa {
        out = out.spa(p.clone());
    }
    Ok(out.sort_query(r.sort_query).drop_query(r.drop_query.clone()))
}

fn cache_policy(p: &CachePolicySchema) -> Result<CachePolicy, ConfigError> {
    let mut out = CachePolicy::new();
    if let Some(v) = p.min_ttl {
        out = out.min_ttl(v.0);
    }
    if let Some(v) = p.default_ttl {
        out = out.default_ttl(v.0);
    }
    if let Some(v) = p.max_ttl {
        out = out.max_ttl(v.0);
    }
    if let Some(s) = &p.query_strings {
        out = out.query_strings(select(s).map_err(|e| e.within("query_strings"))?);
    }
    if let Some(s) = &p.headers {
        out = out.headers(select(s).map_err(|e| e.within("headers"))?);
    }
    if let Some(s) = &p.cookies {
        out = out.cookies(select(s).map_err(|e| e.within("cookies"))?);
    }
    Ok(out)
}

fn origin_request_policy(p: &OriginRequestPolicySchema) -> Result<OriginRequestPolicy, ConfigError> {
    let mut out = OriginRequestPolicy::new();
    if let Some(s) = &p.headers {
        out = out.headers(select(s).map_err(|e| e.within("headers"))?);
    }
    if let Some(s) = &p.cookies {
        out = out.cookies(select(s).map_err(|e| e.within("cookies"))?);
    }
    if let Some(s) = &p.query_strings {
        out = out.query_strings(select(s).map_err(|e| e.within("query_strings"))?);
    }
    Ok(out)
}

fn select(s: &StrOrTable<SelectTable>) -> Result<Select, ConfigError> {
    match s {
        StrOrTable::Str(word) => match word.as_str() {
            "none" => Ok(Select::None),
            "all" => Ok(Select::All),
            other => Err(ConfigError::new(
                "",
                format!("{other:?}: expected \"none\", \"all\", {{ only = [...] }} or {{ all_except = [...] }}"),
            )),
        },
        StrOrTable::Table(t) => match (&t.only, &t.all_except) {
            (Some(names), None) => Ok(Select::Only(names.clone())),
            (None, Some(names)) => Ok(Select::AllExcept(names.clone())),
            _ => Err(ConfigError::new("", "give exactly one of `only` and `all_except`")),
        },
    }
}

/// Rejects a setting the origin's kind does not use.
fn unused<T>(value: &Option<T>, setting: &str, kind: &str) -> Result<(), ConfigError> {
    if value.is_some() {
        return Err(ConfigError::new(setting, format!("not a setting of {kind} origins")));
    }
    Ok(())
}

fn origin(o: OriginSchema, base: &Path) -> Result<Origin, ConfigError> {
    match o.kind {
        OriginKindSchema::App => {
            unused(&o.tls, "tls", "app")?;
            unused(&o.url, "url", "app")?;
            unused(&o.bucket, "bucket", "app")?;
            unused(&o.origin_path, "origin_path", "app")?;
            unused(&o.response_timeout, "response_timeout", "app")?;
            unused(&o.max_concurrent_requests, "max_concurrent_requests", "app")?;
            unused(&o.concurrency_wait, "concurrency_wait", "app")?;
            super::endpoints::unused_by(&o, "app")?;
            Ok(Origin::inner())
        }
        OriginKindSchema::Http => http_origin(o, base),
        #[cfg(feature = "s3")]
        OriginKindSchema::S3 => s3_origin(o),
        #[cfg(not(feature = "s3"))]
        OriginKindSchema::S3 => Err(super::needs_feature("kind", "s3")),
    }
}

fn http_origin(mut o: OriginSchema, base: &Path) -> Result<Origin, ConfigError> {
    for (v, name) in [
        (o.bucket.is_some(), "bucket"),
        (o.region.is_some(), "region"),
        (o.endpoint.is_some(), "endpoint"),
        (o.path_style.is_some(), "path_style"),
        (o.credentials.is_some(), "credentials"),
        (o.forbidden_as_not_found.is_some(), "forbidden_as_not_found"),
        (o.connect_to.is_some(), "connect_to"),
    ] {
        unused(&v.then_some(()), name, "http")?;
    }
    let mut out = super::endpoints::base(&mut o)?;
    out = super::endpoints::apply(out, &mut o)?;
    if let Some(p) = o.origin_path {
        out = out.origin_path(p);
    }
    if let Some(v) = o.forward_host {
        out = out.forward_host(v);
    }
    if let Some(v) = o.http2 {
        out = out.http2(v);
    }
    for (name, value) in o.custom_headers.unwrap_or_default() {
        out = out.custom_header(name, value);
    }
    if let Some(v) = o.connect_timeout {
        out = out.connect_timeout(v.0);
    }
    if let Some(v) = o.response_timeout {
        out = out.response_timeout(v.0);
    }
    if let Some(v) = o.keepalive_timeout {
        out = out.keepalive_timeout(v.0);
    }
    if let Some(v) = o.max_idle_connections {
        out = out.max_idle_connections(v);
    }
    if let Some(v) = o.max_concurrent_requests {
        out = out.max_concurrent_requests(v);
    }
    if let Some(v) = o.concurrency_wait {
        out = out.concurrency_wait(v.0);
    }
    if let Some(t) = o.tls {
        out = out.tls(origin_tls(t, base)?);
    }
    Ok(out)
}

/// An http origin's `tls` table; files are relative to the config file.
fn origin_tls(t: super::schema::OriginTlsSchema, base: &Path) -> Result<crate::OriginTls, ConfigError> {
    let mut out = crate::OriginTls::new();
    if let Some(ca) = t.ca_file {
        out = out.ca_file(base.join(ca));
    }
    match (t.cert_file, t.key_file) {
        (Some(cert), Some(key)) => out = out.client_cert(base.join(cert), base.join(key)),
        (None, None) => {}
        (Some(_), None) => return Err(ConfigError::new("tls.key_file", "missing: `cert_file` needs its `key_file`")),
        (None, Some(_)) => return Err(ConfigError::new("tls.cert_file", "missing: `key_file` needs its `cert_file`")),
    }
    if let Some(name) = t.server_name {
        out = out.server_name(name);
    }
    if let Some(v) = t.verify {
        out = out.verify(v);
    }
    if let Some(v) = t.min_version {
        out = out.min_version(match v.as_str() {
            "1.2" => crate::OriginTlsVersion::Tls12,
            "1.3" => crate::OriginTlsVersion::Tls13,
            other => {
                return Err(ConfigError::new("tls.min_version", format!("{other:?}: expected \"1.2\" or \"1.3\"")));
            }
        });
    }
    Ok(out)
}

#[cfg(feature = "s3")]
fn s3_origin(o: OriginSchema) -> Result<Origin, ConfigError> {
    unused(&o.url, "url", "s3")?;
    unused(&o.forward_host, "forward_host", "s3")?;
    unused(&o.http2, "http2", "s3")?;
    unused(&o.custom_headers, "custom_headers", "s3")?;
    unused(&o.tls, "tls", "s3")?;
    super::endpoints::unused_by(&o, "s3")?;
    let Some(bucket) = o.bucket else {
        return Err(ConfigError::new("bucket", "missing: an s3 origin needs a bucket"));
    };
    let mut out = S3Origin::new(bucket);
    if let Some(v) = o.region {
        out = out.region(v);
    }
    if let Some(v) = o.endpoint {
        out = out.endpoint(v);
    }
    if let Some(v) = o.path_style {
        out = out.path_style(v);
    }
    if let Some(v) = o.origin_path {
        out = out.origin_path(v);
    }
    if let Some(c) = o.credentials {
        out = out.credentials(credentials(c).map_err(|e| e.within("credentials"))?);
    }
    if let Some(v) = o.forbidden_as_not_found {
        out = out.forbidden_as_not_found(v);
    }
    if let Some(addr) = o.connect_to {
        let addr: SocketAddr =
            addr.parse().map_err(|_| ConfigError::new("connect_to", format!("{addr:?} is not an IP:port address")))?;
        out = out.connect_to(addr);
    }
    if let Some(v) = o.connect_timeout {
        out = out.connect_timeout(v.0);
    }
    if let Some(v) = o.response_timeout {
        out = out.response_timeout(v.0);
    }
    if let Some(v) = o.keepalive_timeout {
        out = out.keepalive_timeout(v.0);
    }
    if let Some(v) = o.max_idle_connections {
        out = out.max_idle_connections(v);
    }
    if let Some(v) = o.max_concurrent_requests {
        out = out.max_concurrent_requests(v);
    }
    if let Some(v) = o.concurrency_wait {
        out = out.concurrency_wait(v.0);
    }
    Ok(Origin::s3(out))
}

#[cfg(feature = "s3")]
fn credentials(c: StrOrTable<CredentialsTable>) -> Result<S3Credentials, ConfigError> {
    match c {
        StrOrTable::Str(word) => match word.as_str() {
            "anonymous" => Ok(S3Credentials::anonymous()),
            "env" => Ok(S3Credentials::from_env()),
            "shared-file" => Ok(S3Credentials::from_shared_file(None)),
            "chain" => Ok(S3Credentials::default_chain()),
            other => Err(ConfigError::new(
                "",
                format!(
                    "{other:?}: expected \"anonymous\", \"env\", \"shared-file\", \"chain\", {{ profile = \"...\" }} or {{ access_key_id = \"...\", secret_access_key = \"...\" }}"
                ),
            )),
        },
        StrOrTable::Table(t) => match (t.profile, t.access_key_id, t.secret_access_key) {
            (Some(profile), None, None) if t.session_token.is_none() => {
                Ok(S3Credentials::from_shared_file(Some(&profile)))
            }
            (None, Some(ak), Some(sk)) => {
                let mut c = S3Credentials::from_keys(ak, sk);
                if let Some(token) = t.session_token {
                    c = c.session_token(token);
                }
                Ok(c)
            }
            _ => Err(ConfigError::new(
                "",
                "give either `profile`, or `access_key_id` and `secret_access_key` (and optionally `session_token`)",
            )),
        },
    }
}
