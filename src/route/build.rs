//! Validating distributions into the routing table. Every error names the
//! setting the way the TOML file spells it, e.g.
//! `distributions[1].behaviors[0].path_pattern`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::behavior::{Behavior, CacheBehavior};
use super::distribution::Distribution;
use super::error_pages::{self, ErrorPage};
use super::host::{HostTable, HostTableError};
use super::pattern::PathPattern;
use super::table::{DistributionState, Routes, match_behavior};
use crate::error::ConfigError;
use crate::origin::OriginTarget;
use crate::policy::forward_policy::{ForwardMode, unkeyed_forwarded_headers};
use crate::policy::freshness::{StatusTtl, TtlPolicy};

/// Layer-wide settings the distributions inherit.
pub(crate) struct BuildContext {
    /// TTLs of cache policies that set none.
    pub(crate) ttl: TtlPolicy,
    /// The same for behaviors whose origin is the app (no default TTL
    /// unless one was set explicitly).
    pub(crate) app_ttl: TtlPolicy,
    /// The standalone proxy has no app: app origins are an error.
    pub(crate) standalone: bool,
    /// Checking a configuration, not starting it: what the environment
    /// provides at start (S3 credentials from variables or files) is not
    /// read.
    pub(crate) check_only: bool,
}

/// Validates the distributions and builds the routing table.
pub(crate) fn build_routes(distributions: &[Distribution], ctx: &BuildContext) -> Result<Routes, ConfigError> {
    let mut hosts = HostTable::new();
    let mut any_host = None;
    let mut states: Vec<DistributionState> = Vec::with_capacity(distributions.len());
    for (i, d) in distributions.iter().enumerate() {
        let at = format!("distributions[{i}]");
        if d.id.is_empty() {
            return Err(ConfigError::new(format!("{at}.id"), "must not be empty"));
        }
        if states.iter().any(|s| s.id == d.id) {
            return Err(ConfigError::new(format!("{at}.id"), format!("distribution id {:?} is used twice", d.id)));
        }
        let state = build_distribution(d, ctx).map_err(|e| e.within(&at))?;
        for warning in super::lint::lint(d, &at) {
            tracing::warn!("{warning}");
        }
        let names = d
            .domain
            .iter()
            .map(|h| (h, "domain".to_owned()))
            .chain(d.aliases.iter().enumerate().map(|(k, h)| (h, format!("aliases[{k}]"))));
        let mut named = false;
        for (host, setting) in names {
            named = true;
            hosts.insert_str(host, i).map_err(|e| {
                let message = match e {
                    HostTableError::Duplicate { host } => {
                        let owner = hosts.lookup(&host.to_string()).and_then(|&k| states.get(k)).map(|s| s.id.as_str());
                        format!(
                            "{host} already belongs to distribution {:?} (CloudFront: CNAMEAlreadyExists)",
                            owner.unwrap_or("?")
                        )
                    }
                    other => other.to_string(),
                };
                ConfigError::new(format!("{at}.{setting}"), message)
            })?;
        }
        if !named {
            if any_host.is_some() {
                return Err(ConfigError::new(
                    format!("{at}.domain"),
                    "only one distribution may go without a domain (it answers every other host); give this one a domain",
                ));
            }
            any_host = Some(i);
        }
        states.push(state);
    }
    let has_error_pages = states.iter().any(|s| !s.error_pages.is_empty());
    let has_viewer_request_hooks =
        states.iter().any(|s| s.behaviors.iter().any(|b| b.hooks.viewer_request.is_some() || b.rewrite.is_some()));
    let has_viewer_response_hooks =
        states.iter().any(|s| s.behaviors.iter().any(|b| b.hooks.viewer_response.is_some()));
    Ok(Routes {
        distributions: states,
        hosts,
        any_host,
        has_error_pages,
        has_viewer_request_hooks,
        has_viewer_response_hooks,
    })
}

fn build_distribution(d: &Distribution, ctx: &BuildContext) -> Result<DistributionState, ConfigError> {
    // Error caching TTLs of the custom error responses, over the layer's
    // per-status settings, for every behavior of this distribution.
    let local;
    let ctx = if d.error_responses.iter().any(|r| r.caching_min_ttl.is_some()) {
        let mut statuses: Vec<(u16, StatusTtl)> = ctx.ttl.status_ttls.to_vec();
        for r in &d.error_responses {
            if let Some(min) = r.caching_min_ttl {
                let code = r.error_code.as_u16();
                statuses.retain(|(s, _)| *s != code);
                statuses.push((code, StatusTtl::ErrorMin(min)));
            }
        }
        let statuses: Arc<[(u16, StatusTtl)]> = Arc::from(statuses);
        let ttl = TtlPolicy { status_ttls: Arc::clone(&statuses), ..ctx.ttl.clone() };
        let app_ttl = TtlPolicy { status_ttls: statuses, ..ctx.app_ttl.clone() };
        local = BuildContext { ttl, app_ttl, standalone: ctx.standalone, check_only: ctx.check_only };
        &local
    } else {
        ctx
    };
    let mut targets: HashMap<&str, Arc<OriginTarget>> = HashMap::new();
    for (id, origin) in &d.origins {
        let at = format!("origins.{id}");
        check_id(id, &at, &targets)?;
        if ctx.standalone && origin.is_inner() {
            return Err(ConfigError::new(
                at,
                "an app origin needs an app behind the layer; the standalone proxy has none (use kind = \"http\" or \"s3\")",
            ));
        }
        let target = OriginTarget::from_config(id, origin, ctx.check_only).map_err(|e| e.within(&at))?;
        targets.insert(id, Arc::new(target));
    }
    for (id, group) in &d.groups {
        let at = format!("origin_groups.{id}");
        check_id(id, &at, &targets)?;
        let target = group.build(&|member| targets.get(member).cloned(), known(&targets)).map_err(|e| e.within(&at))?;
        targets.insert(id, Arc::new(target));
    }
    let mut behaviors = Vec::with_capacity(d.behaviors.len() + 1);
    for (j, b) in d.behaviors.iter().enumerate() {
        let behavior = build_behavior(b, &targets, ctx).map_err(|e| e.within(&format!("behaviors[{j}]")))?;
        behaviors.push(Arc::new(with_alternates(b, behavior, &targets, ctx, &d.id)));
    }
    let Some(default) = &d.default_behavior else {
        return Err(ConfigError::new(
            "default_behavior",
            "missing: every distribution needs a default behavior (pattern *) naming an origin",
        ));
    };
    if default.path_pattern != "*" {
        return Err(ConfigError::new(
            "default_behavior.path_pattern",
            "the default behavior's pattern is always \"*\"",
        ));
    }
    let built = build_behavior(default, &targets, ctx).map_err(|e| e.within("default_behavior"))?;
    behaviors.push(Arc::new(with_alternates(default, built, &targets, ctx, &d.id)));
    let error_pages = error_pages(d, &behaviors)?;
    Ok(DistributionState {
        id: d.id.clone(),
        enabled: AtomicBool::new(d.enabled),
        configured_enabled: d.enabled,
        fingerprint: super::reload::fingerprint(d, ctx),
        root_object: root_object(d.default_root_object.as_deref())?,
        behaviors,
        error_pages,
    })
}

/// Validates the custom error responses: one per code, each page served
/// by an HTTP or S3 origin (the error may be the app's own, or its being down).
fn error_pages(d: &Distribution, behaviors: &[Arc<Behavior>]) -> Result<Vec<ErrorPage>, ConfigError> {
    let mut pages: Vec<ErrorPage> = Vec::new();
    let mut codes = Vec::new();
    for (k, r) in d.error_responses.iter().enumerate() {
        let at = format!("custom_error_responses[{k}]");
        if codes.contains(&r.error_code) {
            return Err(ConfigError::new(
                format!("{at}.error_code"),
                format!("{} already has a custom error response", r.error_code.as_u16()),
            ));
        }
        codes.push(r.error_code);
        let Some(page) = error_pages::validate(r).map_err(|e| e.within(&at))? else { continue };
        if match_behavior(behaviors, &page.path).is_some_and(|b| b.origin.uses_app()) {
            return Err(ConfigError::new(
                format!("{at}.response_page_path"),
                format!(
                    "{} is served by the app origin; error pages must come from an http or s3 origin \
                     (a behavior for the page's path with such an origin)",
                    page.path
                ),
            ));
        }
        pages.push(page);
    }
    Ok(pages)
}

fn check_id(id: &str, at: &str, targets: &HashMap<&str, Arc<OriginTarget>>) -> Result<(), ConfigError> {
    if id.is_empty() {
        return Err(ConfigError::new(at, "an origin id must not be empty"));
    }
    if targets.contains_key(id) {
        return Err(ConfigError::new(at, format!("{id:?} is already an origin or origin group of this distribution")));
    }
    Ok(())
}

/// The ids a distribution knows, for error messages.
fn known(targets: &HashMap<&str, Arc<OriginTarget>>) -> String {
    let mut ids: Vec<&str> = targets.keys().copied().collect();
    ids.sort_unstable();
    if ids.is_empty() { "none".to_owned() } else { ids.join(", ") }
}

fn build_behavior(
    b: &CacheBehavior,
    targets: &HashMap<&str, Arc<OriginTarget>>,
    ctx: &BuildContext,
) -> Result<Behavior, ConfigError> {
    let pattern = PathPattern::parse(&b.path_pattern).map_err(|e| ConfigError::new("path_pattern", e.to_string()))?;
    let Some(origin_id) = &b.origin else {
        return Err(ConfigError::new("origin", "missing: name the origin or origin group that serves this behavior"));
    };
    let Some(origin) = targets.get(origin_id.as_str()) else {
        return Err(ConfigError::new(
            "origin",
            format!("unknown origin {origin_id:?} (this distribution has: {})", known(targets)),
        ));
    };
    let defaults = if origin.uses_app() { &ctx.app_ttl } else { &ctx.ttl };
    let (ttl, key) = b.cache_policy.validate(defaults).map_err(|e| e.within("cache_policy"))?;
    let forward = b.origin_request_policy.validate().map_err(|e| e.within("origin_request_policy"))?;
    #[cfg_attr(not(feature = "signed-urls"), allow(unreachable_code))]
    let trusted_keys = match &b.trusted_keys {
        Some(keys) if keys.is_empty() => {
            return Err(ConfigError::new(
                "trusted_keys",
                "no keys: a behavior that requires signed requests needs at least one public key",
            ));
        }
        Some(keys) => Some(Arc::new(keys.clone())),
        None => None,
    };
    let forward_mode = super::behavior::forward_mode(origin, &ttl);
    if forward_mode == ForwardMode::Edge {
        for name in unkeyed_forwarded_headers(&key, &forward) {
            tracing::warn!(
                behavior = %b.path_pattern,
                header = %name,
                "a header outside the cache key is forwarded to the origin while the edge gives responses a \
                 lifetime: if the origin varies on it, one viewer's response is shared with all (add it to the \
                 cache policy, or let the origin declare freshness)"
            );
        }
    }
    Ok(Behavior {
        origin: Arc::clone(origin),
        forward_mode,
        ttl,
        pattern,
        key,
        forward,
        allowed: b.allowed_methods,
        viewer_protocol: b.viewer_protocol,
        compress: b.compress,
        trusted_keys,
        key_extension: b.cache_policy.extension,
        response_headers: b.response_headers.clone().map(Arc::new),
        hooks: b.hooks.clone(),
        rewrite: b.rewrite.clone().map(Arc::new),
        origin_id: Some(Box::from(origin_id.as_str())),
        alternates: std::collections::HashMap::new(),
        distribution: Box::from(""),
        stats: crate::observe::routes::RouteSlot::default(),
    })
}

/// The behavior with each of the distribution's other origins (what a
/// viewer request hook's [`UseOrigin`](crate::UseOrigin) picks): the same
/// configuration, built against that origin (its TTL defaults, forwarding
/// mode). An origin the behavior cannot use (the app on a standalone
/// proxy) is left out.
fn with_alternates(
    b: &CacheBehavior,
    mut behavior: Behavior,
    targets: &HashMap<&str, Arc<OriginTarget>>,
    ctx: &BuildContext,
    distribution: &str,
) -> Behavior {
    behavior.distribution = Box::from(distribution);
    for id in targets.keys() {
        if b.origin.as_deref() == Some(*id) {
            continue;
        }
        if let Ok(mut alt) = build_behavior(&b.clone().origin(*id), targets, ctx) {
            alt.distribution = Box::from(distribution);
            behavior.alternates.insert(Box::from(*id), Arc::new(alt));
        }
    }
    behavior
}

/// `index.html` → `/index.html`; the object must be a plain path.
fn root_object(object: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Some(object) = object else {
        return Ok(None);
    };
    let trimmed = object.trim_start_matches('/');
    let valid = !trimmed.is_empty()
        && trimmed.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '\\'))
        && trimmed.split('/').all(|seg| !matches!(seg, "" | "." | ".."));
    if !valid {
        return Err(ConfigError::new(
            "default_root_object",
            format!("{object:?} is not an object path such as index.html"),
        ));
    }
    Ok(Some(format!("/{trimmed}")))
}
