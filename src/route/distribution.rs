//! The public description of a distribution.

use crate::origin::{Origin, OriginGroup};

use super::error_pages::CustomErrorResponse;

use super::behavior::CacheBehavior;

/// A distribution (CloudFront's): the host names it answers for, its
/// origins, and the behaviors that route paths to them.
///
/// A layer holds any number of distributions and picks one by the request's
/// `Host` (exact names before `*.example.com` wildcards; the port is
/// ignored). A distribution with no domain name at all answers every host
/// that no other distribution claims; at most one may do so.
///
/// ```
/// use tower_cdn::{CacheBehavior, Distribution, Origin};
///
/// let site = Distribution::new("site")
///     .domain("example.com")
///     .alias("*.example.com")
///     .default_root_object("index.html")
///     .origin("app", Origin::inner())
///     .origin("static", Origin::http("http://127.0.0.1:9000"))
///     .behavior(CacheBehavior::new("/static/*").origin("static"))
///     .default_behavior(CacheBehavior::default_for("app"));
/// # let _ = site;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Distribution {
    pub(crate) id: String,
    pub(crate) enabled: bool,
    pub(crate) domain: Option<String>,
    pub(crate) aliases: Vec<String>,
    pub(crate) default_root_object: Option<String>,
    pub(crate) origins: Vec<(String, Origin)>,
    pub(crate) groups: Vec<(String, OriginGroup)>,
    pub(crate) behaviors: Vec<CacheBehavior>,
    pub(crate) default_behavior: Option<CacheBehavior>,
    pub(crate) error_responses: Vec<CustomErrorResponse>,
}

impl Distribution {
    /// A distribution named `id` (used in errors and to enable or disable it
    /// at run time with [`CdnLayer::set_enabled`](crate::CdnLayer::set_enabled)).
    pub fn new(id: impl Into<String>) -> Self {
        Distribution {
            id: id.into(),
            enabled: true,
            domain: None,
            aliases: Vec::new(),
            default_root_object: None,
            origins: Vec::new(),
            groups: Vec::new(),
            behaviors: Vec::new(),
            default_behavior: None,
            error_responses: Vec::new(),
        }
    }

    /// Whether the distribution serves requests (default `true`). A
    /// disabled distribution passes its requests to the wrapped service
    /// untouched, or answers 403 in a [standalone](crate::CdnLayerBuilder::standalone) proxy.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// The distribution's main domain name (CloudFront assigns one; here you
    /// choose it), e.g. `cdn.example.com`. Replaces an earlier one.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// An alternate domain name (CNAME): an exact name or `*.example.com`,
    /// which matches one extra leftmost label.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.aliases.push(alias.into());
        self
    }

    /// The object served for the root URL `/` only, e.g. `index.html`
    /// (sub-directories are not affected, as in CloudFront).
    pub fn default_root_object(mut self, object: impl Into<String>) -> Self {
        self.default_root_object = Some(object.into());
        self
    }

    /// Adds an origin under `id`, for behaviors and origin groups to name.
    pub fn origin(mut self, id: impl Into<String>, origin: Origin) -> Self {
        self.origins.push((id.into(), origin));
        self
    }

    /// Adds an origin group under `id` (failover from a primary to a
    /// secondary origin); behaviors name it like an origin.
    pub fn origin_group(mut self, id: impl Into<String>, group: OriginGroup) -> Self {
        self.groups.push((id.into(), group));
        self
    }

    /// Appends a behavior; behaviors are matched in the order added.
    pub fn behavior(mut self, behavior: CacheBehavior) -> Self {
        self.behaviors.push(behavior);
        self
    }

    /// The behavior for paths no other behavior matches. Its path pattern is
    /// always `*`. Required.
    pub fn default_behavior(mut self, behavior: CacheBehavior) -> Self {
        self.default_behavior = Some(behavior);
        self
    }

    /// Adds a custom error response (see [`CustomErrorResponse`]); one
    /// per error code.
    pub fn custom_error_response(mut self, response: CustomErrorResponse) -> Self {
        self.error_responses.push(response);
        self
    }

    /// The distribution's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}
