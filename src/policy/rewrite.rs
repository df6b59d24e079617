//! Declarative rewrites and redirects (what CloudFront Functions are mostly
//! used for), sans-IO: [`Rewrite::apply`] reads a request's host, path,
//! query and headers and says what to do: answer with a redirect, or go on
//! with a new target (which the edge then normalises, routes and keys).
//!
//! Order: redirects (first match), then the prefix strip, the directory
//! index, the single-page-app fallback, the A/B routes (the first match
//! adds its prefix), the prefix added, and the query's normalisation.

use http::HeaderMap;
use http::StatusCode;

/// A redirect rule: when the host and/or path pattern match, answer with a
/// redirect to `to`, where `$path` is the request's path, `$query` its
/// query string (with `?`, or empty), and `$1` what a trailing `*` of the
/// path pattern matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub(crate) host: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) to: String,
    pub(crate) status: StatusCode,
}

impl Redirect {
    /// A redirect to `to` with `status` (301, 302, 303, 307 or 308).
    pub fn new(to: impl Into<String>, status: StatusCode) -> Self {
        Redirect { host: None, path: None, to: to.into(), status }
    }
    /// Only for this host (case-insensitive, port ignored).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }
    /// Only for this path (`/old/*` matches a prefix; `$1` is the rest).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
}

/// What an A/B route matches: a request header or a cookie with a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The header's value (case-sensitive), e.g. `x-beta: 1`.
    Header(String, String),
    /// The cookie's value, e.g. `variant=b`.
    Cookie(String, String),
}

/// Rewrites and redirects for a behavior.
///
/// ```
/// use http::StatusCode;
/// use tower_cdn::{Rewrite, RewriteMatch, RewriteRedirect};
///
/// let site = Rewrite::new()
///     .redirect(RewriteRedirect::new("https://example.com$path$query", StatusCode::MOVED_PERMANENTLY).host("www.example.com"))
///     .route(RewriteMatch::Cookie("variant".into(), "b".into()), "/_b")
///     .index("index.html")
///     .spa("/index.html")
///     .drop_query(["utm_source", "fbclid"])
///     .sort_query(true);
/// # let _ = site;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Rewrite {
    pub(crate) redirects: Vec<Redirect>,
    pub(crate) routes: Vec<(Match, String)>,
    pub(crate) strip_prefix: Option<String>,
    pub(crate) add_prefix: Option<String>,
    pub(crate) index: Option<String>,
    pub(crate) spa: Option<String>,
    pub(crate) sort_query: bool,
    pub(crate) drop_query: Vec<String>,
}

/// What a rewrite decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Unchanged.
    Same,
    /// Go on with this path and query.
    Target(String),
    /// Answer with a redirect.
    Redirect(StatusCode, String),
}

impl Rewrite {
    /// No rules.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a redirect (the first that matches answers).
    pub fn redirect(mut self, r: Redirect) -> Self {
        self.redirects.push(r);
        self
    }
    /// Requests matching `m` get `prefix` in front of their path (and so
    /// the behavior, and origin, that path routes to; the first match wins).
    pub fn route(mut self, m: Match, prefix: impl Into<String>) -> Self {
        self.routes.push((m, prefix.into()));
        self
    }
    /// Removes this prefix from paths that have it.
    pub fn strip_prefix(mut self, p: impl Into<String>) -> Self {
        self.strip_prefix = Some(p.into());
        self
    }
    /// Puts this prefix in front of every path.
    pub fn add_prefix(mut self, p: impl Into<String>) -> Self {
        self.add_prefix = Some(p.into());
        self
    }
    /// A path ending in `/` gets this object (`/docs/` → `/docs/index.html`).
    pub fn index(mut self, object: impl Into<String>) -> Self {
        self.index = Some(object.into());
        self
    }
    /// A path whose last segment has no extension is the app's page
    /// (`/users/7` → `/index.html`); files (`/app.js`) are left alone.
    pub fn spa(mut self, page: impl Into<String>) -> Self {
        self.spa = Some(page.into());
        self
    }
    /// Sorts the query's parameters (a stable key for every order).
    pub fn sort_query(mut self, yes: bool) -> Self {
        self.sort_query = yes;
        self
    }
    /// Drops these query parameters (tracking ones, say).
    pub fn drop_query<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.drop_query = names.into_iter().map(Into::into).collect();
        self
    }

    /// The request fields the A/B routes read (for `Vary`).
    pub(crate) fn vary_fields(&self) -> impl Iterator<Item = http::HeaderName> + '_ {
        self.routes.iter().filter_map(|(m, _)| match m {
            Match::Header(name, _) => http::HeaderName::from_bytes(name.as_bytes()).ok(),
            Match::Cookie(..) => Some(http::header::COOKIE),
        })
    }

    /// Applies the rules to a request.
    pub fn apply(&self, host: Option<&str>, path: &str, query: Option<&str>, headers: &HeaderMap) -> Outcome {
        let host = host.map(super::host::strip_port);
        for r in &self.redirects {
            if let Some(want) = &r.host
                && !host.is_some_and(|h| h.eq_ignore_ascii_case(want))
            {
                continue;
            }
            let rest = match &r.path {
                None => Some(""),
                Some(p) => match p.strip_suffix('*') {
                    Some(prefix) => path.strip_prefix(prefix),
                    None => (path == p).then_some(""),
                },
            };
            let Some(rest) = rest else { continue };
            let q = query.map(|q| format!("?{q}")).unwrap_or_default();
            let to = expand(&r.to, path, &q, rest);
            return Outcome::Redirect(r.status, to);
        }
        let mut p = path.to_owned();
        if let Some(prefix) = &self.strip_prefix
            && let Some(rest) = p.strip_prefix(prefix.trim_end_matches('/'))
            && (rest.is_empty() || rest.starts_with('/'))
        {
            p = if rest.is_empty() { "/".to_owned() } else { rest.to_owned() };
        }
        if let Some(index) = &self.index
            && p.ends_with('/')
        {
            p.push_str(index.trim_start_matches('/'));
        }
        if let Some(page) = &self.spa {
            let last = p.rsplit('/').next().unwrap_or("");
            if !last.contains('.') {
                p = page.clone();
            }
        }
        if let Some((_, prefix)) = self.routes.iter().find(|(m, _)| matches(m, headers)) {
            p = format!("{}{p}", prefix.trim_end_matches('/'));
        }
        if let Some(prefix) = &self.add_prefix {
            p = format!("{}{p}", prefix.trim_end_matches('/'));
        }
        let q = query.map(|q| self.query(q));
        let changed_query = match (&q, query) {
            (Some(new), Some(old)) => new != old,
            _ => false,
        };
        if p == path && !changed_query {
            return Outcome::Same;
        }
        match q.filter(|q| !q.is_empty()) {
            Some(q) => Outcome::Target(format!("{p}?{q}")),
            None => Outcome::Target(p),
        }
    }

    fn query(&self, q: &str) -> String {
        if !self.sort_query && self.drop_query.is_empty() {
            return q.to_owned();
        }
        let mut params: Vec<&str> = q
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| {
                let name = p.split('=').next().unwrap_or("");
                !self.drop_query.iter().any(|d| d == name)
            })
            .collect();
        if self.sort_query {
            params.sort_unstable();
        }
        params.join("&")
    }
}

/// Expands `$path`, `$query` and `$1` in one pass (a value that contains
/// `$1` is not expanded again). A value is never allowed to extend or
/// replace the template's scheme and host: one placed right after them, or
/// at the very start of the template, begins with `/` (so
/// `https://a.example$1` with `@evil.example` stays on `a.example`, and
/// `$1` alone cannot become `https://evil.example` or `javascript:`); and
/// a result that starts with `//` is a path, never protocol-relative.
fn expand(template: &str, path: &str, query: &str, rest: &str) -> String {
    let mut out = String::with_capacity(template.len() + path.len() + query.len());
    let mut t = template;
    while let Some(at) = t.find('$') {
        out.push_str(&t[..at]);
        let after = &t[at..];
        let (value, len) = if after.starts_with("$path") {
            (path, 5)
        } else if after.starts_with("$query") {
            (query, 6)
        } else if after.starts_with("$1") {
            (rest, 2)
        } else {
            out.push('$');
            t = &after[1..];
            continue;
        };
        // At the start a value must be a path; right after the authority, a
        // path, a query or a fragment.
        let bare = if out.is_empty() {
            !value.starts_with('/')
        } else {
            ends_with_authority(&out) && !value.starts_with(['/', '?', '#'])
        };
        if bare && !value.is_empty() {
            out.push('/');
        }
        out.push_str(value);
        t = &after[len..];
    }
    out.push_str(t);
    if out.starts_with("//") || out.starts_with("/\\") {
        out = format!("/{}", out.trim_start_matches(['/', '\\']));
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Whether `s` is `scheme://host[:port]` with nothing after the host yet.
fn ends_with_authority(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, rest)| !scheme.contains('/') && !rest.contains(['/', '?', '#']))
}

fn matches(m: &Match, headers: &HeaderMap) -> bool {
    match m {
        Match::Header(name, value) => headers.get_all(name.as_str()).iter().any(|v| v.as_bytes() == value.as_bytes()),
        Match::Cookie(name, value) => {
            crate::policy::key_policy::cookies(headers).any(|(n, v)| n == name.as_str() && v == value.as_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the request's path, query and captured rest, a redirect
        /// never leaves the template's host, never becomes another scheme or
        /// protocol-relative, and is a valid `Location`.
        #[test]
        fn a_redirect_never_leaves_its_host(
            path in "/[ -~]{0,40}",
            query in proptest::option::of("[ -~]{0,20}"),
            template in prop_oneof![
                Just("https://a.example$1"), Just("https://a.example$path$query"), Just("https://a.example/x$1"),
                Just("$1"), Just("$path"), Just("/new/$1$query"), Just("https://a.example:8443$path"),
            ],
        ) {
            let r = Rewrite::new().redirect(Redirect::new(template, StatusCode::FOUND).path("/*"));
            let Outcome::Redirect(_, to) = r.apply(None, &path, query.as_deref(), &HeaderMap::new()) else {
                panic!("the catch-all redirect answers")
            };
            prop_assert!(!to.starts_with("//") && !to.starts_with("/\\"), "{to}");
            if let Some(rest) = template.strip_prefix("https://") {
                let host = rest.split(['/', '$']).next().unwrap_or("");
                let after = to.strip_prefix("https://").unwrap_or("");
                let got_host = after.split(['/', '?', '#']).next().unwrap_or("");
                prop_assert_eq!(got_host, host, "{} -> {}", template, to);
            } else {
                prop_assert!(to.starts_with('/'), "{to}");
            }
        }
    }

    fn hdr(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_usual_functions() {
        let r = Rewrite::new()
            .redirect(
                Redirect::new("https://example.com$path$query", StatusCode::MOVED_PERMANENTLY).host("www.example.com"),
            )
            .redirect(Redirect::new("/new/$1", StatusCode::FOUND).path("/old/*"))
            .route(Match::Cookie("variant".into(), "b".into()), "/_b")
            .index("index.html")
            .drop_query(["utm_source"])
            .sort_query(true);
        let none = HeaderMap::new();
        assert_eq!(
            r.apply(Some("WWW.example.com:8080"), "/a", Some("x=1"), &none),
            Outcome::Redirect(StatusCode::MOVED_PERMANENTLY, "https://example.com/a?x=1".into())
        );
        assert_eq!(
            r.apply(Some("example.com"), "/old/x/y", None, &none),
            Outcome::Redirect(StatusCode::FOUND, "/new/x/y".into())
        );
        assert_eq!(r.apply(None, "/docs/", None, &none), Outcome::Target("/docs/index.html".into()));
        assert_eq!(r.apply(None, "/a", Some("b=2&utm_source=x&a=1"), &none), Outcome::Target("/a?a=1&b=2".into()));
        assert_eq!(r.apply(None, "/a", Some("a=1&b=2"), &none), Outcome::Same);
        let b = hdr(&[("cookie", "session=1; variant=b")]);
        assert_eq!(r.apply(None, "/page", None, &b), Outcome::Target("/_b/page".into()));
        let spa = Rewrite::new().spa("/index.html");
        assert_eq!(spa.apply(None, "/users/7", None, &none), Outcome::Target("/index.html".into()));
        assert_eq!(spa.apply(None, "/app.js", None, &none), Outcome::Same);
        let open = Rewrite::new().redirect(Redirect::new("$path", StatusCode::FOUND));
        assert_eq!(
            open.apply(None, "//evil.example/x", None, &none),
            Outcome::Redirect(StatusCode::FOUND, "/evil.example/x".into())
        );
        let pre = Rewrite::new().strip_prefix("/app").add_prefix("/v2");
        assert_eq!(pre.apply(None, "/app/x", None, &none), Outcome::Target("/v2/x".into()));
        assert_eq!(pre.apply(None, "/apple", None, &none), Outcome::Target("/v2/apple".into()));
    }
}
