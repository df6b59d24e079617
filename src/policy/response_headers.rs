//! Response headers policies (CloudFront's model): CORS, security headers,
//! custom headers, headers to remove and `Server-Timing`, added to every
//! response of a behavior at the edge, hits and misses alike. Sans-IO:
//! [`ResponseHeadersPolicy::apply`] edits a response's headers for one
//! request; [`ResponseHeadersPolicy::preflight`] answers a CORS preflight.
//!
//! Each header of the policy either replaces the origin's (`override`) or
//! is added only when the origin sent none, as CloudFront's `Override`
//! does. CORS headers are computed per request from its `Origin`, never
//! stored, so one site's answer is never served to another; an origin's
//! own `Access-Control-Allow-Origin` naming another site than the
//! request's is removed, whatever `override` says.

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

/// Which request origins CORS allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowOrigins {
    /// Any (`Access-Control-Allow-Origin: *`, or the request's origin when
    /// credentials are allowed).
    Any,
    /// These origins exactly (`https://example.com`, case-insensitive);
    /// an entry `https://*.example.com` allows its subdomains.
    List(Vec<String>),
}

/// CORS, as CloudFront's response headers policy configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Cors {
    pub(crate) origins: AllowOrigins,
    /// `None`: every method a preflight asks for.
    pub(crate) methods: Option<Vec<Method>>,
    /// `None`: every header a preflight asks for.
    pub(crate) headers: Option<Vec<HeaderName>>,
    pub(crate) expose: Vec<HeaderName>,
    pub(crate) credentials: bool,
    pub(crate) max_age: Option<Duration>,
    pub(crate) override_origin: bool,
}

impl Cors {
    /// CORS for these origins: simple requests only, until methods or
    /// headers are added.
    pub fn new(origins: AllowOrigins) -> Self {
        Cors {
            origins,
            methods: Some(vec![Method::GET, Method::HEAD]),
            headers: Some(Vec::new()),
            expose: Vec::new(),
            credentials: false,
            max_age: None,
            override_origin: false,
        }
    }

    /// Methods a preflight may ask for (`["*"]`-like: [`Cors::any_method`]).
    pub fn allow_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = Some(methods.into_iter().collect());
        self
    }

    /// Every method a preflight asks for is allowed.
    pub fn any_method(mut self) -> Self {
        self.methods = None;
        self
    }

    /// Request headers a preflight may ask for.
    pub fn allow_headers(mut self, headers: impl IntoIterator<Item = HeaderName>) -> Self {
        self.headers = Some(headers.into_iter().collect());
        self
    }

    /// Every request header a preflight asks for is allowed.
    pub fn any_header(mut self) -> Self {
        self.headers = None;
        self
    }

    /// Response headers scripts may read (`Access-Control-Expose-Headers`).
    pub fn expose_headers(mut self, headers: impl IntoIterator<Item = HeaderName>) -> Self {
        self.expose = headers.into_iter().collect();
        self
    }

    /// Allow credentials (then the allowed origin is echoed). Ignored with
    /// [`AllowOrigins::Any`]: credentials are granted only to listed
    /// origins (the config file refuses the combination).
    pub fn allow_credentials(mut self, yes: bool) -> Self {
        self.credentials = yes;
        self
    }

    /// How long browsers may keep a preflight's answer.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Replace the origin's CORS headers (default: keep an origin's own
    /// when it sent them for this request's origin).
    pub fn override_origin(mut self, yes: bool) -> Self {
        self.override_origin = yes;
        self
    }

    fn allows(&self, origin: &str) -> bool {
        match &self.origins {
            AllowOrigins::Any => true,
            AllowOrigins::List(list) => list.iter().any(|allowed| origin_matches(allowed, origin)),
        }
    }

    /// Credentials are granted to listed origins only.
    fn grants_credentials(&self) -> bool {
        self.credentials && self.origins != AllowOrigins::Any
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`.
    fn allow_origin_value(&self, origin: &HeaderValue) -> HeaderValue {
        if self.origins == AllowOrigins::Any { HeaderValue::from_static("*") } else { origin.clone() }
    }
}

/// `https://*.example.com` matches `https://a.example.com`; otherwise exact,
/// case-insensitive.
fn origin_matches(allowed: &str, origin: &str) -> bool {
    // An origin is `scheme://host[:port]`: nothing else is ever allowed
    // (no path, userinfo, query; `null` only when listed as such).
    let well_formed = origin == "null"
        || origin.split_once("://").is_some_and(|(scheme, host)| {
            !scheme.is_empty()
                && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                && !host.is_empty()
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        });
    if !well_formed {
        return false;
    }
    match allowed.split_once("://*.") {
        Some((scheme, domain)) => origin.split_once("://").is_some_and(|(s, host)| {
            s.eq_ignore_ascii_case(scheme)
                && host.len() > domain.len() + 1
                && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
                && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
        }),
        None => allowed.eq_ignore_ascii_case(origin),
    }
}

/// Fields a policy may neither set nor remove (CloudFront refuses the same
/// family): the framing and connection fields (setting them would split or
/// break responses), ranges, `Vary` (downstream caches need it), and the
/// edge's own fields.
pub const RESERVED_HEADERS: [&str; 18] = [
    "connection",
    "content-length",
    "content-encoding",
    "content-range",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
    "vary",
    "warning",
    "cache-status",
    "x-cache",
    "age",
];

/// Whether a policy may set or remove this field.
pub fn is_reserved(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("access-control-") || lower.starts_with("x-amz-cf-")
}

/// A header the policy sets: its value and whether it replaces the origin's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    pub(crate) value: HeaderValue,
    pub(crate) override_origin: bool,
}

/// CloudFront's security headers; each `None` is not added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Security {
    pub(crate) hsts: Option<Set>,
    pub(crate) content_type_options: Option<Set>,
    pub(crate) frame_options: Option<Set>,
    pub(crate) referrer_policy: Option<Set>,
    pub(crate) csp: Option<Set>,
    pub(crate) xss_protection: Option<Set>,
}

/// A response headers policy: what the edge adds to (and removes from)
/// every response of the behaviors that use it.
///
/// ```
/// use std::time::Duration;
/// use tower_cdn::{AllowOrigins, CacheBehavior, Cors, ResponseHeadersPolicy};
///
/// let policy = ResponseHeadersPolicy::new()
///     .cors(Cors::new(AllowOrigins::List(vec!["https://app.example".into()])).allow_credentials(true))
///     .hsts(Duration::from_secs(31_536_000), true, false, true)
///     .header("x-served-by", "edge-1", false)
///     .remove("server")
///     .server_timing(true);
/// let managed = ResponseHeadersPolicy::managed("SecurityHeadersPolicy").unwrap();
/// let behavior = CacheBehavior::default_for("web").response_headers_policy(policy);
/// # let _ = (managed, behavior);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct ResponseHeadersPolicy {
    pub(crate) cors: Option<Cors>,
    pub(crate) security: Security,
    pub(crate) custom: Vec<(HeaderName, Set)>,
    pub(crate) remove: Vec<HeaderName>,
    pub(crate) server_timing: bool,
}

/// The names of CloudFront's managed response headers policies, in the
/// forms [`ResponseHeadersPolicy::managed`] accepts (with or without
/// `Managed-`).
pub const MANAGED_POLICIES: [&str; 5] = [
    "SimpleCORS",
    "CORS-With-Preflight",
    "SecurityHeadersPolicy",
    "CORS-and-SecurityHeadersPolicy",
    "CORS-with-preflight-and-SecurityHeadersPolicy",
];

fn set(value: &'static str, override_origin: bool) -> Option<Set> {
    Some(Set { value: HeaderValue::from_static(value), override_origin })
}

impl ResponseHeadersPolicy {
    /// An empty policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// One of CloudFront's managed policies by name ([`MANAGED_POLICIES`]),
    /// as AWS defines them.
    pub fn managed(name: &str) -> Option<Self> {
        let name = name.strip_prefix("Managed-").unwrap_or(name);
        let simple = || Cors::new(AllowOrigins::Any);
        let preflight = || {
            Cors::new(AllowOrigins::Any)
                .allow_methods([
                    Method::DELETE,
                    Method::GET,
                    Method::HEAD,
                    Method::OPTIONS,
                    Method::PATCH,
                    Method::POST,
                    Method::PUT,
                ])
                .any_header()
                .expose_headers([HeaderName::from_static("*")])
        };
        let security = || Security {
            hsts: set("max-age=31536000", false),
            content_type_options: set("nosniff", false),
            frame_options: set("SAMEORIGIN", false),
            referrer_policy: set("strict-origin-when-cross-origin", false),
            csp: None,
            xss_protection: set("1; mode=block", false),
        };
        let p = Self::new();
        Some(match name {
            "SimpleCORS" => p.cors(simple()),
            "CORS-With-Preflight" => p.cors(preflight()),
            "SecurityHeadersPolicy" => Self { security: security(), ..p },
            "CORS-and-SecurityHeadersPolicy" => Self { security: security(), ..p.cors(simple()) },
            "CORS-with-preflight-and-SecurityHeadersPolicy" => Self { security: security(), ..p.cors(preflight()) },
            _ => return None,
        })
    }

    /// CORS headers (and preflight answers at the edge).
    pub fn cors(mut self, cors: Cors) -> Self {
        self.cors = Some(cors);
        self
    }

    /// `Strict-Transport-Security`.
    pub fn hsts(mut self, max_age: Duration, include_subdomains: bool, preload: bool, override_origin: bool) -> Self {
        let mut v = format!("max-age={}", max_age.as_secs());
        if include_subdomains {
            v.push_str("; includeSubDomains");
        }
        if preload {
            v.push_str("; preload");
        }
        self.security.hsts = HeaderValue::from_str(&v).ok().map(|value| Set { value, override_origin });
        self
    }

    /// `X-Content-Type-Options: nosniff`.
    pub fn content_type_options(mut self, override_origin: bool) -> Self {
        self.security.content_type_options = set("nosniff", override_origin);
        self
    }

    /// `X-Frame-Options`: `DENY` (`deny = true`) or `SAMEORIGIN`.
    pub fn frame_options(mut self, deny: bool, override_origin: bool) -> Self {
        self.security.frame_options = set(if deny { "DENY" } else { "SAMEORIGIN" }, override_origin);
        self
    }

    /// `Referrer-Policy` (an invalid value is ignored).
    pub fn referrer_policy(mut self, value: &str, override_origin: bool) -> Self {
        self.security.referrer_policy = HeaderValue::from_str(value).ok().map(|value| Set { value, override_origin });
        self
    }

    /// `Content-Security-Policy` (an invalid value is ignored).
    pub fn content_security_policy(mut self, value: &str, override_origin: bool) -> Self {
        self.security.csp = HeaderValue::from_str(value).ok().map(|value| Set { value, override_origin });
        self
    }

    /// `X-XSS-Protection` (an invalid value is ignored).
    pub fn xss_protection(mut self, value: &str, override_origin: bool) -> Self {
        self.security.xss_protection = HeaderValue::from_str(value).ok().map(|value| Set { value, override_origin });
        self
    }

    /// A custom header. An invalid name or value, or a reserved field
    /// ([`RESERVED_HEADERS`], CORS fields: use [`cors`](Self::cors)), is
    /// ignored here; the config file refuses them by name.
    pub fn header(mut self, name: &str, value: &str, override_origin: bool) -> Self {
        if let (Ok(n), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value))
            && !is_reserved(name)
        {
            self.custom.push((n, Set { value, override_origin }));
        }
        self
    }

    /// A header removed from every response (an invalid or reserved name is
    /// ignored here; the config file refuses it).
    pub fn remove(mut self, name: &str) -> Self {
        if let Ok(n) = HeaderName::from_bytes(name.as_bytes())
            && !is_reserved(name)
        {
            self.remove.push(n);
        }
        self
    }

    /// `Server-Timing` with the edge's figures (cache result, time to the
    /// response head, location, request id).
    pub fn server_timing(mut self, yes: bool) -> Self {
        self.server_timing = yes;
        self
    }

    /// The answer to a CORS preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`), if this policy answers it: 204
    /// with what is allowed, or 403 for an origin, method or header it
    /// does not allow.
    pub fn preflight(&self, method: &Method, req: &HeaderMap) -> Option<(StatusCode, HeaderMap)> {
        let cors = self.cors.as_ref()?;
        if method != Method::OPTIONS {
            return None;
        }
        let origin = req.get(header::ORIGIN)?;
        let asked = req.get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
        let mut out = HeaderMap::new();
        out.insert(header::VARY, HeaderValue::from_static("Origin"));
        let origin_ok = origin.to_str().is_ok_and(|o| cors.allows(o));
        let method_ok = match &cors.methods {
            None => true,
            Some(list) => asked.to_str().is_ok_and(|m| list.iter().any(|x| x.as_str() == m.trim())),
        };
        let asked_headers: Vec<String> = req
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let headers_ok = match &cors.headers {
            None => true,
            Some(list) => asked_headers.iter().all(|h| list.iter().any(|x| x.as_str() == h)),
        };
        if !(origin_ok && method_ok && headers_ok) {
            return Some((StatusCode::FORBIDDEN, out));
        }
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, cors.allow_origin_value(origin));
        if cors.grants_credentials() {
            out.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        let methods = match &cors.methods {
            None => asked.clone(),
            Some(list) => join(list.iter().map(Method::as_str)),
        };
        out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
        let allowed_headers = match &cors.headers {
            None => join(asked_headers.iter().map(String::as_str)),
            Some(list) => join(list.iter().map(HeaderName::as_str)),
        };
        if !allowed_headers.is_empty() {
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed_headers);
        }
        if let Some(age) = cors.max_age {
            out.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age.as_secs()));
        }
        Some((StatusCode::NO_CONTENT, out))
    }

    /// Applies the policy to a response's headers for a request whose
    /// `Origin` is `origin`. `timing` is the `Server-Timing` value, when
    /// the policy asks for one.
    pub fn apply(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap, timing: Option<HeaderValue>) {
        for name in &self.remove {
            headers.remove(name);
        }
        if let Some(cors) = &self.cors {
            apply_cors(cors, origin, headers);
        }
        let s = &self.security;
        let fixed = [
            (header::STRICT_TRANSPORT_SECURITY, &s.hsts),
            (header::X_CONTENT_TYPE_OPTIONS, &s.content_type_options),
            (header::X_FRAME_OPTIONS, &s.frame_options),
            (header::REFERRER_POLICY, &s.referrer_policy),
            (header::CONTENT_SECURITY_POLICY, &s.csp),
            (header::X_XSS_PROTECTION, &s.xss_protection),
        ];
        for (name, value) in fixed {
            if let Some(v) = value {
                put(headers, name, v);
            }
        }
        for (name, v) in &self.custom {
            put(headers, name.clone(), v);
        }
        if let Some(t) = timing.filter(|_| self.server_timing) {
            headers.append(HeaderName::from_static("server-timing"), t);
        }
    }
}

fn put(headers: &mut HeaderMap, name: HeaderName, v: &Set) {
    // One lookup: the entry is replaced (override) or filled if vacant.
    match headers.entry(name) {
        http::header::Entry::Occupied(mut o) => {
            if v.override_origin {
                o.insert(v.value.clone());
            }
        }
        http::header::Entry::Vacant(e) => {
            e.insert(v.value.clone());
        }
    }
}

fn apply_cors(cors: &Cors, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
    let names = [
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
    ];
    // An origin's own answer stands only if it is for this request's origin.
    let origins_own = headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_some_and(|v| v == "*" || Some(v) == origin);
    if cors.override_origin || !origins_own {
        for n in &names {
            headers.remove(n);
        }
    }
    // Whether a grant is added depends on `Origin`: downstream caches
    // must not serve a copy without one to a cross-origin request.
    if !vary_names_origin(headers) {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    if headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        return;
    }
    let Some(origin) = origin.filter(|o| o.to_str().is_ok_and(|o| cors.allows(o))) else { return };
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, cors.allow_origin_value(origin));
    if cors.grants_credentials() {
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
    if !cors.expose.is_empty() {
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, join(cors.expose.iter().map(HeaderName::as_str)));
    }
}

fn vary_names_origin(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|f| f.trim().eq_ignore_ascii_case("origin") || f.trim() == "*")
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> HeaderValue {
    let s: Vec<&str> = items.collect();
    HeaderValue::from_str(&s.join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A grant only ever names the request's own origin, one the policy
        /// lists (or `*` without credentials); the framing fields the origin
        /// sent are never changed.
        #[test]
        fn grants_name_only_allowed_origins_and_framing_is_untouched(
            origin in prop_oneof![
                "https://[a-z]{1,8}\\.example\\.org", "https://[a-z.@/:?#]{1,20}", "[ -~]{0,20}", Just("null".to_owned()),
            ],
            any in any::<bool>(),
            credentials in any::<bool>(),
        ) {
            let list = AllowOrigins::List(vec!["https://*.example.org".into(), "https://app.example".into()]);
            let cors = Cors::new(if any { AllowOrigins::Any } else { list }).allow_credentials(credentials);
            let p = ResponseHeadersPolicy::managed("SecurityHeadersPolicy").unwrap().cors(cors);
            let Ok(value) = HeaderValue::from_str(&origin) else { return Ok(()) };
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("12"));
            h.insert(header::CONTENT_RANGE, HeaderValue::from_static("bytes 0-11/40"));
            p.apply(Some(&value), &mut h, None);
            prop_assert_eq!(&h[header::CONTENT_LENGTH], "12");
            prop_assert_eq!(&h[header::CONTENT_RANGE], "bytes 0-11/40");
            match h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
                None => {}
                Some(v) if v == "*" => {
                    prop_assert!(any);
                    prop_assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
                }
                Some(v) => {
                    prop_assert!(!any);
                    prop_assert_eq!(v, &value);
                    let host = origin.strip_prefix("https://").unwrap_or("");
                    prop_assert!(
                        origin == "https://app.example"
                            || host.ends_with(".example.org") && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'),
                        "granted {}", origin
                    );
                }
            }
        }
    }

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn one_sites_cors_answer_never_reaches_another() {
        let p = ResponseHeadersPolicy::new()
            .cors(Cors::new(AllowOrigins::List(vec!["https://a.example".into()])).allow_credentials(true));
        // A stored response carrying the origin's answer for site A...
        let mut stored = HeaderMap::new();
        stored.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, hv("https://a.example"));
        // ...served to site B: no CORS grant, and the answer varies on Origin.
        let mut h = stored.clone();
        p.apply(Some(&hv("https://b.example")), &mut h, None);
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{h:?}");
        assert!(vary_names_origin(&h));
        // Served to A: granted, with credentials.
        let mut h = stored.clone();
        p.apply(Some(&hv("https://a.example")), &mut h, None);
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://a.example");
        // No Origin: nothing granted.
        let mut h = HeaderMap::new();
        p.apply(None, &mut h, None);
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    }

    #[test]
    fn preflights_are_answered_from_the_policy() {
        let p = ResponseHeadersPolicy::managed("Managed-CORS-With-Preflight").unwrap();
        let mut req = HeaderMap::new();
        req.insert(header::ORIGIN, hv("https://x.example"));
        req.insert(header::ACCESS_CONTROL_REQUEST_METHOD, hv("PUT"));
        req.insert(header::ACCESS_CONTROL_REQUEST_HEADERS, hv("X-Token, content-type"));
        let (status, h) = p.preflight(&Method::OPTIONS, &req).unwrap();
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(h[header::VARY], "Origin");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(h[header::ACCESS_CONTROL_ALLOW_METHODS].to_str().unwrap().contains("PUT"));
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_HEADERS], "x-token, content-type");
        let strict =
            ResponseHeadersPolicy::new().cors(Cors::new(AllowOrigins::List(vec!["https://*.good.example".into()])));
        assert_eq!(strict.preflight(&Method::OPTIONS, &req).unwrap().0, StatusCode::FORBIDDEN);
        req.insert(header::ORIGIN, hv("https://app.good.example"));
        req.insert(header::ACCESS_CONTROL_REQUEST_METHOD, hv("GET"));
        req.remove(header::ACCESS_CONTROL_REQUEST_HEADERS);
        assert_eq!(strict.preflight(&Method::OPTIONS, &req).unwrap().0, StatusCode::NO_CONTENT);
        for evil in [
            "https://evilgood.example",
            "https://evil.com/.good.example",
            "https://evil.com@x.good.example",
            "https://x.good.example?",
            "null",
        ] {
            req.insert(header::ORIGIN, hv(evil));
            assert_eq!(strict.preflight(&Method::OPTIONS, &req).unwrap().0, StatusCode::FORBIDDEN, "{evil}");
        }
        // Any origin never gets credentials.
        let any = ResponseHeadersPolicy::new().cors(Cors::new(AllowOrigins::Any).allow_credentials(true));
        let mut h = HeaderMap::new();
        any.apply(Some(&hv("https://evil.test")), &mut h, None);
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        assert!(strict.preflight(&Method::GET, &req).is_none());
    }

    #[test]
    fn override_decides_whether_the_origins_header_stays() {
        let p = ResponseHeadersPolicy::managed("SecurityHeadersPolicy")
            .unwrap()
            .header("x-a", "edge", true)
            .header("x-b", "edge", false)
            .remove("server");
        let mut h = HeaderMap::new();
        h.insert(header::X_FRAME_OPTIONS, hv("DENY"));
        h.insert("x-a", hv("origin"));
        h.insert("x-b", hv("origin"));
        h.insert(header::SERVER, hv("secret/1.0"));
        p.apply(None, &mut h, None);
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "not overridden: the origin's stays");
        assert_eq!(h[header::STRICT_TRANSPORT_SECURITY], "max-age=31536000");
        assert_eq!(h["x-a"], "edge");
        assert_eq!(h["x-b"], "origin");
        assert!(h.get(header::SERVER).is_none());
        for name in MANAGED_POLICIES {
            assert!(ResponseHeadersPolicy::managed(name).is_some(), "{name}");
        }
        // Framing and the edge's own fields can be neither set nor removed.
        let p = ResponseHeadersPolicy::new()
            .header("content-length", "3", true)
            .header("Transfer-Encoding", "chunked", true)
            .header("access-control-allow-origin", "*", true)
            .remove("content-range")
            .remove("vary");
        assert_eq!(p, ResponseHeadersPolicy::new());
    }
}
