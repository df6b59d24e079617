//! The public cache policy and origin request policy of a behavior.

use std::time::Duration;

use http::HeaderName;

use crate::error::ConfigError;
use crate::policy::forward_policy::ForwardPolicy;
use crate::policy::freshness::TtlPolicy;
use crate::policy::key_policy::{KeyPolicy, Select};
use crate::route::behavior::ExtensionKey;

/// A cache policy (CloudFront's): how long responses stay fresh and which
/// parts of the request are in the cache key.
///
/// The default keeps the layer's TTLs (CloudFront's 0 s / 24 h / 1 year
/// unless the layer sets others) and keys on host, path and **every** query
/// string, no header, no cookie.
///
/// ```
/// use std::time::Duration;
/// use tower_cdn::{CachePolicy, Select};
///
/// let per_language = CachePolicy::new()
///     .default_ttl(Duration::from_secs(300))
///     .query_strings(Select::only(["page"]))
///     .headers(Select::only(["accept-language"]))
///     .cookies(Select::only(["theme"]));
/// # let _ = per_language;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct CachePolicy {
    pub(crate) min_ttl: Option<Duration>,
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) max_ttl: Option<Duration>,
    pub(crate) key: KeyPolicy,
    pub(crate) extension: Option<ExtensionKey>,
}

impl CachePolicy {
    /// The default policy (see the type's documentation).
    pub fn new() -> Self {
        CachePolicy::default()
    }

    /// Like CloudFront's managed "CachingDisabled": every TTL 0, so nothing
    /// is stored. The key settings keep their defaults, so every query
    /// string still reaches the origin.
    pub fn caching_disabled() -> Self {
        CachePolicy::new().min_ttl(Duration::ZERO).default_ttl(Duration::ZERO).max_ttl(Duration::ZERO)
    }

    /// Lower bound on lifetimes (CloudFront's Minimum TTL).
    pub fn min_ttl(mut self, ttl: Duration) -> Self {
        self.min_ttl = Some(ttl);
        self
    }

    /// Lifetime when the origin gives none (CloudFront's Default TTL).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// Upper bound on lifetimes (CloudFront's Maximum TTL).
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = Some(ttl);
        self
    }

    /// Query strings in the key (and so forwarded). Default: all.
    pub fn query_strings(mut self, select: Select) -> Self {
        self.key.query_strings = select;
        self
    }

    /// Request headers in the key (and so forwarded): [`Select::None`]
    /// (default) or [`Select::Only`], as in CloudFront. The response then
    /// differs per value, so keep the list short.
    pub fn headers(mut self, select: Select) -> Self {
        self.key.headers = select;
        self
    }

    /// A typed request extension in the key: its `Display` text, as the
    /// app's own middleware set it (a tenant, a role), so responses are
    /// shared per value and no client can forge it as it could a header.
    /// A request without the extension has a key of its own. For the app
    /// as origin, say `public` (or give a [`CacheHint`](crate::CacheHint)
    /// lifetime) on responses to requests with a session cookie, or they
    /// are not shared at all.
    ///
    /// ```
    /// use tower_cdn::CachePolicy;
    ///
    /// #[derive(Clone)]
    /// struct Tenant(String);
    /// impl std::fmt::Display for Tenant {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         f.write_str(&self.0)
    ///     }
    /// }
    /// let policy = CachePolicy::new().key_extension::<Tenant>();
    /// # let _ = policy;
    /// ```
    pub fn key_extension<T: std::fmt::Display + Send + Sync + 'static>(mut self) -> Self {
        self.extension = Some(ExtensionKey::of::<T>());
        self
    }

    /// Cookies in the key (and so forwarded). Default: none.
    pub fn cookies(mut self, select: Select) -> Self {
        self.key.cookies = select;
        self
    }

    /// Resolves the TTLs against the layer's defaults and checks the key
    /// settings; errors name the setting relative to the policy.
    pub(crate) fn validate(&self, defaults: &TtlPolicy) -> Result<(TtlPolicy, KeyPolicy), ConfigError> {
        let ttl = TtlPolicy {
            min_ttl: self.min_ttl.unwrap_or(defaults.min_ttl),
            default_ttl: self.default_ttl.unwrap_or(defaults.default_ttl),
            max_ttl: self.max_ttl.unwrap_or(defaults.max_ttl),
            // A policy asking for `default_ttl = 0` is a standards-only
            // cache: no CloudFront error caching without explicit freshness.
            error_caching_min_ttl: if self.default_ttl == Some(Duration::ZERO) {
                Duration::ZERO
            } else {
                defaults.error_caching_min_ttl
            },
            ..defaults.clone()
        };
        check_ttls(&ttl)?;
        let headers = match &self.key.headers {
            Select::None => Select::None,
            Select::Only(names) => Select::Only(header_names(names, "headers")?),
            _ => {
                return Err(ConfigError::new(
                    "headers",
                    "a cache policy keys on no header or on an allow-list of headers (CloudFront allows nothing else)",
                ));
            }
        };
        let key = KeyPolicy {
            query_strings: names(&self.key.query_strings, "query_strings")?,
            headers,
            cookies: names(&self.key.cookies, "cookies")?,
        };
        Ok((ttl, key))
    }
}

/// Checks that `min <= default <= max`.
pub(crate) fn check_ttls(ttl: &TtlPolicy) -> Result<(), ConfigError> {
    let show = |d: std::time::Duration| humantime_secs(d);
    if ttl.min_ttl > ttl.max_ttl {
        return Err(ConfigError::new(
            "min_ttl",
            format!("{} must not exceed max_ttl ({})", show(ttl.min_ttl), show(ttl.max_ttl)),
        ));
    }
    if ttl.default_ttl < ttl.min_ttl || ttl.default_ttl > ttl.max_ttl {
        return Err(ConfigError::new(
            "default_ttl",
            format!(
                "{} must lie between min_ttl ({}) and max_ttl ({})",
                show(ttl.default_ttl),
                show(ttl.min_ttl),
                show(ttl.max_ttl)
            ),
        ));
    }
    Ok(())
}

/// A duration as seconds, with the largest whole unit when there is one
/// (`86400s (1d)`), for error messages.
fn humantime_secs(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let unit =
        [(86_400, "d"), (3_600, "h"), (60, "m")].into_iter().find(|(n, _)| secs >= *n && secs.is_multiple_of(*n));
    match unit {
        Some((n, u)) => format!("{secs}s ({}{u})", secs / n),
        None => format!("{secs}s"),
    }
}

/// An origin request policy (CloudFront's): which viewer headers, cookies
/// and query strings reach the origin besides those in the cache key.
///
/// The default forwards **no cookie and no query string** that is not in
/// the cache key, and the headers its behavior's mode allows (see
/// SECURITY.md, "Which viewer headers reach the origin"): where the edge gives
/// responses a lifetime (a default or minimum TTL, CloudFront's model),
/// only the key's headers and a representation-neutral set (conditionals,
/// `Range`, `Cache-Control`, `Via`); where the origin declares freshness
/// itself (TTLs 0), every end-to-end header. Headers that name the
/// viewer's address or route (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`,
/// `CloudFront-Viewer-*`, ...) never pass unless listed here by name.
///
/// ```
/// use tower_cdn::{OriginRequestPolicy, Select};
///
/// // Forward the session cookie to the origin without keying on it (only
/// // safe when the origin marks personalised responses `private`).
/// let policy = OriginRequestPolicy::new().cookies(Select::only(["session"]));
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct OriginRequestPolicy {
    pub(crate) forward: ForwardPolicy,
}

impl OriginRequestPolicy {
    /// The default policy (see the type's documentation).
    pub fn new() -> Self {
        OriginRequestPolicy::default()
    }

    /// Viewer headers forwarded besides the key's and the neutral ones
    /// (default: the mode's, see the type's documentation). `Host` follows
    /// the origin's `forward_host` setting and `Cookie` the cookie setting
    /// instead. Where the edge gives lifetimes, each header forwarded here
    /// but not in the cache key is warned about when the layer is built: an
    /// origin that varies on it would have one viewer's answer shared.
    pub fn headers(mut self, select: Select) -> Self {
        self.forward.headers = Some(select);
        self
    }

    /// Cookies forwarded besides those in the cache key (default: none).
    pub fn cookies(mut self, select: Select) -> Self {
        self.forward.cookies = select;
        self
    }

    /// Query strings forwarded besides those in the cache key (default: none).
    pub fn query_strings(mut self, select: Select) -> Self {
        self.forward.query_strings = select;
        self
    }

    pub(crate) fn validate(&self) -> Result<ForwardPolicy, ConfigError> {
        let headers = match &self.forward.headers {
            Some(Select::Only(n)) => Some(Select::Only(header_names(n, "headers")?)),
            Some(Select::AllExcept(n)) => Some(Select::AllExcept(header_names(n, "headers")?)),
            other => other.clone(),
        };
        Ok(ForwardPolicy {
            headers,
            cookies: names(&self.forward.cookies, "cookies")?,
            query_strings: names(&self.forward.query_strings, "query_strings")?,
        })
    }
}

/// Validates header names: lower-cased, sorted, without duplicates.
fn header_names(names: &[String], setting: &str) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let parsed = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConfigError::new(format!("{setting}[{i}]"), format!("{name:?} is not a header name")))?;
        out.push(parsed.as_str().to_owned());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Validates query string or cookie names (non-empty, no `=`, `&`, `;`).
fn names(select: &Select, setting: &str) -> Result<Select, ConfigError> {
    let check = |names: &[String]| -> Result<Vec<String>, ConfigError> {
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() || name.contains(['=', '&', ';', ' ']) || name.chars().any(char::is_control) {
                return Err(ConfigError::new(format!("{setting}[{i}]"), format!("{name:?} is not a valid name")));
            }
        }
        let mut sorted = names.to_vec();
        sorted.sort();
        sorted.dedup();
        Ok(sorted)
    };
    Ok(match select {
        Select::Only(n) => Select::Only(check(n)?),
        Select::AllExcept(n) => Select::AllExcept(check(n)?),
        other => other.clone(),
    })
}
