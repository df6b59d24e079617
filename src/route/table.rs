//! The routing table: `(host, path)` → distribution → behavior, and
//! [`Routes::resolve`], which also derives the cache key and shapes the
//! origin request. Pure: request parts in, a decision out.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::StatusCode;
use http::request::Parts;
use http::uri::{PathAndQuery, Uri};

use super::behavior::{Behavior, ViewerProtocolPolicy};
use super::error_pages::ErrorPage;
use super::host::HostTable;
pub(crate) use super::refusal::Refusal;
use crate::auth::gate::{self, Viewer};
use crate::cache::key::{CacheKey, request_host};
use crate::conn::ViewerConnection;
use crate::policy::forward_policy::{Forwarding, apply_forward_headers, forwarded_query};
use crate::policy::target::lenient_reading;

/// A validated distribution.
#[derive(Debug)]
pub(crate) struct DistributionState {
    pub(crate) id: String,
    /// Flipped at run time by `CdnLayer::set_enabled`.
    pub(crate) enabled: AtomicBool,
    /// `enabled` as configured (a reload keeps a run-time change unless
    /// the configured value changed).
    pub(crate) configured_enabled: bool,
    /// Hash of everything but `enabled` and the host names: equal
    /// fingerprints mean a reload may keep the distribution's entries.
    pub(crate) fingerprint: u64,
    /// `/index.html` for a default root object `index.html`.
    pub(crate) root_object: Option<String>,
    /// In match order; the last one is the default behavior (`*`).
    pub(crate) behaviors: Vec<Arc<Behavior>>,
    /// Custom error responses, one per error code.
    pub(crate) error_pages: Vec<ErrorPage>,
}

/// What routing decided for a host and path.
#[derive(Debug)]
pub(crate) enum Route<'r> {
    /// Handle with this behavior; `root_object` replaces the path `/`.
    Behavior { behavior: &'r Arc<Behavior>, root_object: Option<&'r str> },
    /// No distribution answers for this host.
    Bypass,
    /// The distribution is disabled.
    Disabled,
}

/// The outcome of [`Routes::resolve`].
pub(crate) enum Resolution {
    /// Handle through the cache with this behavior and key; the request
    /// parts now hold the origin request (path, query, headers).
    Cache { behavior: Arc<Behavior>, key: CacheKey },
    /// Pass to the wrapped service untouched.
    Bypass,
    /// The distribution is disabled.
    Disabled,
    /// Answer with an error.
    Refuse(Refusal),
    /// An HTTP request to a redirect-to-https behavior: answer with a
    /// redirect to this HTTPS URL.
    ToHttps { status: StatusCode, location: String },
}

/// Where a request would go and what it would be keyed on, for the admin
/// API's explain ([`Routes::explain`]).
pub(crate) struct Explained {
    /// The distribution that answers for the host, if any.
    pub(crate) distribution: Option<String>,
    /// Whether that distribution is enabled.
    pub(crate) enabled: bool,
    /// The behavior the path matches.
    pub(crate) behavior: Option<Arc<Behavior>>,
    /// The cache key, or why the request has none.
    pub(crate) key: Option<Result<CacheKey, Refusal>>,
}

/// The routing table of a layer.
#[derive(Debug)]
pub(crate) struct Routes {
    pub(crate) distributions: Vec<DistributionState>,
    /// Host pattern → index in `distributions`.
    pub(crate) hosts: HostTable<usize>,
    /// The distribution without domain names, answering every other host.
    pub(crate) any_host: Option<usize>,
    /// Some distribution has custom error responses.
    pub(crate) has_error_pages: bool,
    /// Some behavior has a viewer request hook or rewrites (else none is
    /// looked for).
    pub(crate) has_viewer_request_hooks: bool,
    /// Some behavior has a viewer response hook (then the viewer's
    /// request head is kept for it).
    pub(crate) has_viewer_response_hooks: bool,
}

pub(crate) use crate::policy::host::strip_port;

impl Routes {
    /// One distribution for every host with a single behavior.
    pub(crate) fn single(behavior: Behavior) -> Self {
        let has_viewer_request_hooks = behavior.hooks.viewer_request.is_some() || behavior.rewrite.is_some();
        let has_viewer_response_hooks = behavior.hooks.viewer_response.is_some();
        Routes {
            distributions: vec![DistributionState {
                id: "default".to_owned(),
                enabled: AtomicBool::new(true),
                configured_enabled: true,
                fingerprint: behavior.fingerprint(),
                root_object: None,
                behaviors: vec![Arc::new(behavior)],
                error_pages: Vec::new(),
            }],
            hosts: HostTable::new(),
            any_host: Some(0),
            has_error_pages: false,
            has_viewer_request_hooks,
            has_viewer_response_hooks,
        }
    }

    /// The distribution for a normalised host, enabled or not.
    pub(super) fn for_host(&self, host: Option<&str>) -> Option<&DistributionState> {
        let index = host.and_then(|h| self.hosts.lookup(strip_port(h))).copied().or(self.any_host);
        index.and_then(|i| self.distributions.get(i))
    }

    /// The custom error response of the host's distribution for `status`.
    pub(crate) fn error_page(&self, host: Option<&str>, status: StatusCode) -> Option<&ErrorPage> {
        let dist = self.for_host(host).filter(|d| d.enabled.load(Ordering::Relaxed))?;
        dist.error_pages.iter().find(|p| p.error_code == status)
    }

    /// Picks the distribution for a normalised host (lower-case, default
    /// port removed; any other port is ignored here) and its behavior for
    /// the path: first match in order, the default behavior last.
    /// The behavior a request routes to, without the rest of resolving
    /// (a CORS preflight is answered from its policy).
    pub(crate) fn behavior_for(&self, parts: &Parts) -> Option<Arc<Behavior>> {
        let host = request_host(parts).ok()?;
        match self.route(host.as_deref(), parts.uri.path()) {
            Route::Behavior { behavior, .. } => Some(Arc::clone(behavior)),
            _ => None,
        }
    }

    pub(crate) fn route(&self, host: Option<&str>, path: &str) -> Route<'_> {
        let Some(dist) = self.for_host(host) else {
            return Route::Bypass;
        };
        if !dist.enabled.load(Ordering::Relaxed) {
            return Route::Disabled;
        }
        let root_object = dist.root_object.as_deref().filter(|_| path == "/");
        let path = root_object.unwrap_or(path);
        match_behavior(&dist.behaviors, path)
            .map_or(Route::Bypass, |behavior| Route::Behavior { behavior, root_object })
    }

    /// Routes a request, checks its method (and its signature, for
    /// behaviors with trusted keys), derives its cache key and turns
    /// `parts` into the origin request: the default root object replaces
    /// `/`, signing parameters and cookies are removed, and only the query
    /// strings, headers and cookies the behavior's policies forward remain.
    pub(crate) fn resolve(&self, parts: &mut Parts, viewer: &Viewer<'_>) -> Resolution {
        let (behavior, root_object, key) = {
            let host = match request_host(parts) {
                Ok(host) => host,
                Err(_) => return Resolution::Refuse(Refusal::BadHost),
            };
            let (behavior, root_object) = match self.route(host.as_deref(), parts.uri.path()) {
                Route::Behavior { behavior, root_object } => match parts.extensions.get::<crate::hooks::UseOrigin>() {
                    // A hook chose another origin of the distribution.
                    Some(chosen) if behavior.origin_id.as_deref() != Some(chosen.0.as_str()) => {
                        match behavior.alternates.get(chosen.0.as_str()) {
                            Some(alt) => (alt, root_object),
                            None => return Resolution::Refuse(Refusal::UnknownOrigin),
                        }
                    }
                    _ => (behavior, root_object),
                },
                Route::Bypass => return Resolution::Bypass,
                Route::Disabled => return Resolution::Disabled,
            };
            if let Err(refusal) = self.read_alike(host.as_deref(), parts.uri.path(), behavior) {
                return Resolution::Refuse(refusal);
            }
            // Before the method and the signature, as CloudFront: an HTTP
            // request to an HTTPS behavior learns only where to go.
            if behavior.viewer_protocol != ViewerProtocolPolicy::AllowAll && viewer.scheme_for(parts) == "http" {
                return match (behavior.viewer_protocol, host.as_deref()) {
                    (ViewerProtocolPolicy::RedirectToHttps, Some(host)) => to_https(parts, host),
                    _ => Resolution::Refuse(Refusal::HttpsRequired),
                };
            }
            if !behavior.allowed.allows(&parts.method) {
                return Resolution::Refuse(Refusal::MethodNotAllowed);
            }
            // Before the key and before any lookup: a stored object is never
            // served to a request that is not signed.
            if let Some(keys) = &behavior.trusted_keys
                && let Err(why) = gate::check(keys, parts, host.as_deref().unwrap_or(""), viewer)
            {
                return Resolution::Refuse(Refusal::Unsigned(why));
            }
            // Unsigned behaviors key now, on the host already read; signed
            // ones once the signing parameters are gone.
            let key = match behavior.trusted_keys {
                Some(_) => None,
                None => Some(key_for(parts, host.as_deref(), behavior, root_object)),
            };
            (Arc::clone(behavior), root_object, key)
        };
        let key = match key {
            Some(key) => key,
            None => {
                gate::strip(parts);
                let host = match request_host(parts) {
                    Ok(host) => host,
                    Err(_) => return Resolution::Refuse(Refusal::BadHost),
                };
                key_for(parts, host.as_deref(), &behavior, root_object)
            }
        };
        let key = match key {
            Ok(key) => key,
            Err(refusal) => return Resolution::Refuse(refusal),
        };
        let query = forwarded_query(&behavior.key, &behavior.forward, parts.uri.query());
        let query_changed = match &query {
            Some(Cow::Owned(_)) => true,
            Some(Cow::Borrowed(_)) => false,
            None => parts.uri.query().is_some(),
        };
        if root_object.is_some() || query_changed {
            let path = root_object.unwrap_or(parts.uri.path());
            if let Some(uri) = with_path_and_query(&parts.uri, path, query.as_deref()) {
                parts.uri = uri;
            }
        }
        let ctx = Forwarding {
            mode: behavior.forward_mode,
            compress: behavior.compress,
            trust_forwarding: viewer.trust_forwarded_proto,
        };
        apply_forward_headers(&behavior.key, &behavior.forward, ctx, &parts.method, &mut parts.headers);
        Resolution::Cache { behavior, key }
    }

    /// The distribution, behavior and cache key of a request, as `resolve`
    /// would find them but without checking its method or signature (a
    /// signed behavior is keyed as a valid signed request would be) and
    /// with a disabled distribution's behavior still named.
    pub(crate) fn explain(&self, parts: &mut Parts) -> Explained {
        let mut out = Explained { distribution: None, enabled: false, behavior: None, key: None };
        let host = match request_host(parts) {
            Ok(host) => host.map(|h| h.into_owned()),
            Err(_) => {
                out.key = Some(Err(Refusal::BadHost));
                return out;
            }
        };
        let Some(dist) = self.for_host(host.as_deref()) else { return out };
        out.distribution = Some(dist.id.clone());
        out.enabled = dist.enabled.load(Ordering::Relaxed);
        let root_object = dist.root_object.as_deref().filter(|_| parts.uri.path() == "/");
        let Some(behavior) = match_behavior(&dist.behaviors, root_object.unwrap_or(parts.uri.path())) else {
            return out;
        };
        // As `resolve`: a path a lenient origin would read as another
        // behavior's is refused.
        if let Err(refusal) = self.read_alike(host.as_deref(), parts.uri.path(), behavior) {
            out.key = Some(Err(refusal));
            return out;
        }
        out.behavior = Some(Arc::clone(behavior));
        if behavior.trusted_keys.is_some() {
            gate::strip(parts);
        }
        out.key = Some(key_for(parts, host.as_deref(), behavior, root_object));
        out
    }

    /// One behavior for every way an origin could read the path: a path a
    /// lenient origin would read above the root, or as another behavior's,
    /// is refused.
    fn read_alike(&self, host: Option<&str>, path: &str, behavior: &Arc<Behavior>) -> Result<(), Refusal> {
        match lenient_reading(path) {
            Ok(Cow::Borrowed(_)) => Ok(()),
            Ok(Cow::Owned(read)) => match self.route(host, &read) {
                Route::Behavior { behavior: other, .. } if Arc::ptr_eq(other, behavior) => Ok(()),
                _ => Err(Refusal::AmbiguousPath),
            },
            Err(_) => Err(Refusal::AmbiguousPath),
        }
    }

    /// Enables or disables a distribution; `false` if there is none by that id.
    pub(crate) fn set_enabled(&self, id: &str, enabled: bool) -> bool {
        self.distributions.iter().find(|d| d.id == id).map(|d| d.enabled.store(enabled, Ordering::Relaxed)).is_some()
    }

    /// Whether a distribution is enabled; `None` if there is none by that id.
    pub(crate) fn is_enabled(&self, id: &str) -> Option<bool> {
        self.distributions.iter().find(|d| d.id == id).map(|d| d.enabled.load(Ordering::Relaxed))
    }
}

/// The cache key of a request routed to `behavior` (`root_object`, when
/// given, stands for the path `/`).
fn key_for(
    parts: &Parts,
    host: Option<&str>,
    behavior: &Behavior,
    root_object: Option<&str>,
) -> Result<CacheKey, Refusal> {
    let path = root_object.unwrap_or(parts.uri.path());
    let extension = behavior.extension_value(parts)?;
    behavior.cache_key(host.unwrap_or(""), path, parts.uri.query(), &parts.headers, extension.as_deref())
}

/// The redirect of an HTTP request to the same URL over HTTPS: 301 for GET
/// and HEAD, 307 for other methods (which must be resent as they were).
/// `host` is the normalised request host; its port is replaced by the
/// server's HTTPS port ([`ViewerConnection`], else 443).
fn to_https(parts: &Parts, host: &str) -> Resolution {
    let https_port = parts.extensions.get::<ViewerConnection>().map_or(443, |c| c.https_port);
    let name = strip_port(host);
    let pq = parts.uri.path_and_query().map_or("/", PathAndQuery::as_str);
    let location =
        if https_port == 443 { format!("https://{name}{pq}") } else { format!("https://{name}:{https_port}{pq}") };
    let status = if matches!(parts.method, http::Method::GET | http::Method::HEAD) {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::TEMPORARY_REDIRECT
    };
    Resolution::ToHttps { status, location }
}

/// The first behavior whose pattern matches `path`, else the last one (the
/// default behavior).
pub(crate) fn match_behavior<'b>(behaviors: &'b [Arc<Behavior>], path: &str) -> Option<&'b Arc<Behavior>> {
    behaviors.iter().find(|b| b.pattern.matches(path)).or_else(|| behaviors.last())
}

/// `uri` with a new path and query (scheme and authority kept).
fn with_path_and_query(uri: &Uri, path: &str, query: Option<&str>) -> Option<Uri> {
    let pq = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let pq: PathAndQuery = pq.parse().ok()?;
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests;
