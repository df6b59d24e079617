//! Unit tests of the routing table: pure `(host, path)` decisions, the
//! resolve step, and configuration errors.

use std::sync::Arc;

use http::Request;

use super::*;
use crate::origin::{Origin, OriginGroup, S3Origin};
use crate::policy::freshness::TtlPolicy;
use crate::route::{AllowedMethods, BuildContext, CacheBehavior, CachePolicy, Distribution, build_routes};
use crate::{ConfigError, Select};

fn ctx() -> BuildContext {
    BuildContext { ttl: TtlPolicy::default(), app_ttl: TtlPolicy::default(), standalone: false, check_only: false }
}

fn http(port: u16) -> Origin {
    Origin::http(format!("http://127.0.0.1:{port}"))
}

fn table(dists: Vec<Distribution>) -> Routes {
    build_routes(&dists, &ctx()).unwrap()
}

fn err(dists: Vec<Distribution>) -> ConfigError {
    build_routes(&dists, &ctx()).unwrap_err()
}

/// Which distribution and behavior (by pattern) a request lands on.
fn land(routes: &Routes, host: &str, path: &str) -> String {
    match routes.route(Some(host), path) {
        Route::Behavior { behavior, root_object } => {
            let dist = routes
                .distributions
                .iter()
                .find(|d| d.behaviors.iter().any(|b| Arc::ptr_eq(b, behavior)))
                .map_or("?", |d| d.id.as_str());
            match root_object {
                Some(root) => format!("{dist} {} {root}", behavior.pattern),
                None => format!("{dist} {}", behavior.pattern),
            }
        }
        Route::Bypass => "bypass".to_owned(),
        Route::Disabled => "disabled".to_owned(),
    }
}

fn site() -> Distribution {
    Distribution::new("site")
        .domain("example.com")
        .alias("*.example.com")
        .alias("www.example.com")
        .default_root_object("index.html")
        .origin("web", http(1))
        .origin("app", Origin::inner())
        .behavior(CacheBehavior::new("/api/*").origin("app"))
        .behavior(CacheBehavior::new("/img/*.png").origin("web"))
        .behavior(CacheBehavior::new("/img/*").origin("app"))
        .behavior(CacheBehavior::new("/v?/x").origin("web"))
        .default_behavior(CacheBehavior::default_for("web"))
}

fn other() -> Distribution {
    Distribution::new("other")
        .domain("a.example.com")
        .origin("web", http(2))
        .default_behavior(CacheBehavior::default_for("web"))
}

#[test]
fn exact_names_beat_wildcards_and_ports_are_ignored() {
    let r = table(vec![site(), other()]);
    assert_eq!(land(&r, "example.com", "/x"), "site *");
    assert_eq!(land(&r, "example.com:8080", "/x"), "site *");
    assert_eq!(land(&r, "b.example.com", "/x"), "site *");
    assert_eq!(land(&r, "a.example.com", "/x"), "other *");
    assert_eq!(land(&r, "a.b.example.com", "/x"), "bypass");
    assert_eq!(land(&r, "example.org", "/x"), "bypass");
    assert!(matches!(r.route(None, "/x"), Route::Bypass));
}

#[test]
fn a_distribution_without_names_takes_every_other_host() {
    let any = Distribution::new("any").origin("web", http(3)).default_behavior(CacheBehavior::default_for("web"));
    let r = table(vec![other(), any]);
    assert_eq!(land(&r, "a.example.com", "/"), "other *");
    assert_eq!(land(&r, "127.0.0.1:3000", "/"), "any *");
    assert_eq!(land(&r, "[::1]:3000", "/"), "any *");
    assert!(matches!(r.route(None, "/"), Route::Behavior { .. }));
}

#[test]
fn behaviors_match_in_order_case_sensitively_with_the_default_last() {
    let r = table(vec![site()]);
    assert_eq!(land(&r, "example.com", "/api/users"), "site /api/*");
    assert_eq!(land(&r, "example.com", "/API/users"), "site *");
    assert_eq!(land(&r, "example.com", "/img/a/b.png"), "site /img/*.png");
    assert_eq!(land(&r, "example.com", "/img/a.PNG"), "site /img/*");
    assert_eq!(land(&r, "example.com", "/v1/x"), "site /v?/x");
    assert_eq!(land(&r, "example.com", "/v10/x"), "site *");
    assert_eq!(land(&r, "example.com", "/api"), "site *");
}

#[test]
fn the_default_root_object_replaces_only_the_root() {
    let r = table(vec![site()]);
    assert_eq!(land(&r, "example.com", "/"), "site * /index.html");
    assert_eq!(land(&r, "example.com", "/img/"), "site /img/*");
    let bare = table(vec![other()]);
    assert_eq!(land(&bare, "a.example.com", "/"), "other *");
}

#[test]
fn disabled_distributions_can_be_flipped_at_run_time() {
    let r = table(vec![site().enabled(false), other()]);
    assert_eq!(land(&r, "example.com", "/x"), "disabled");
    assert_eq!(land(&r, "a.example.com", "/x"), "other *");
    assert_eq!(r.is_enabled("site"), Some(false));
    assert!(r.set_enabled("site", true));
    assert_eq!(land(&r, "example.com", "/x"), "site *");
    assert!(!r.set_enabled("nope", true));
    assert_eq!(r.is_enabled("nope"), None);
}

fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn resolve(r: &Routes, p: &mut Parts) -> Result<(String, String), String> {
    let viewer = Viewer { now: std::time::SystemTime::UNIX_EPOCH, scheme: "http", trust_forwarded_proto: false };
    match r.resolve(p, &viewer) {
        Resolution::Cache { behavior, key } => Ok((behavior.pattern.to_string(), key.replace('\u{1f}', "|"))),
        Resolution::Bypass => Err("bypass".into()),
        Resolution::Disabled => Err("disabled".into()),
        Resolution::Refuse(r) => Err(format!("{r:?}")),
        Resolution::ToHttps { status, location } => Err(format!("{status} {location}")),
    }
}

#[test]
fn resolve_rewrites_the_root_and_strips_cookies_by_default() {
    let r = table(vec![site()]);
    let mut p = parts("GET", "/?a=1", &[("host", "Example.com"), ("cookie", "session=1"), ("accept", "*/*")]);
    assert_eq!(resolve(&r, &mut p), Ok(("*".into(), "example.com|/index.html?a=1".into())));
    assert_eq!(p.uri, "/index.html?a=1");
    assert!(!p.headers.contains_key("cookie"));
    // The edge gives lifetimes (default TTL 24 h): `Accept` is not in the
    // key, so it does not reach the origin either.
    assert!(!p.headers.contains_key("accept"));
    let mut bad = parts("GET", "/", &[("host", "a b")]);
    assert_eq!(resolve(&r, &mut bad), Err("BadHost".into()));
}

#[test]
fn paths_a_lenient_origin_reads_as_another_behaviors_are_refused() {
    let d = Distribution::new("d")
        .origin("web", http(4))
        .behavior(CacheBehavior::new("/private/*").origin("web"))
        .default_behavior(CacheBehavior::default_for("web"));
    let r = table(vec![d]);
    for ambiguous in ["//private/secret", "/private%2Fsecret", "/public/..;/private/secret", "/a/..%2F..%2Fb"] {
        let mut p = parts("GET", ambiguous, &[("host", "a.test")]);
        assert_eq!(resolve(&r, &mut p), Err("AmbiguousPath".into()), "{ambiguous}");
    }
    // Read leniently, these stay with the behavior they match.
    for fine in ["/a%2Fb", "/private/a%2Fb", "//a", "/a;v=1/b"] {
        let mut p = parts("GET", fine, &[("host", "a.test")]);
        assert!(resolve(&r, &mut p).is_ok(), "{fine}");
    }
}

#[test]
fn methods_outside_the_allowed_set_are_refused() {
    let d = Distribution::new("d")
        .origin("web", http(4))
        .behavior(CacheBehavior::new("/form").origin("web").allowed_methods(AllowedMethods::All))
        .behavior(CacheBehavior::new("/cors").origin("web").allowed_methods(AllowedMethods::GetHeadOptions))
        .default_behavior(CacheBehavior::default_for("web"));
    let r = table(vec![d]);
    let verdict = |m: &str, path: &str| resolve(&r, &mut parts(m, path, &[])).map(|_| ());
    assert_eq!(verdict("POST", "/x"), Err("MethodNotAllowed".into()));
    assert_eq!(verdict("HEAD", "/x"), Ok(()));
    assert_eq!(verdict("OPTIONS", "/x"), Err("MethodNotAllowed".into()));
    assert_eq!(verdict("OPTIONS", "/cors"), Ok(()));
    assert_eq!(verdict("DELETE", "/cors"), Err("MethodNotAllowed".into()));
    assert_eq!(verdict("POST", "/form"), Ok(()));
    for m in ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE", "PROPFIND", "M-SEARCH"] {
        assert_eq!(verdict(m, "/form"), Ok(()), "{m}");
    }
    // Not even "all" lets these through.
    for m in ["TRACE", "CONNECT"] {
        assert_eq!(verdict(m, "/form"), Err("MethodNotAllowed".into()), "{m}");
    }
}

#[test]
fn s3_paths_share_one_key_per_object_and_traversal_is_refused() {
    let d = Distribution::new("d")
        .origin("bucket", Origin::s3(S3Origin::new("bkt").path_style(true).endpoint("http://127.0.0.1:9")))
        .default_behavior(CacheBehavior::default_for("bucket"));
    let r = table(vec![d]);
    let key = |path: &str| resolve(&r, &mut parts("GET", path, &[])).map(|(_, k)| k);
    assert_eq!(key("/dir/a+b.txt"), key("/dir/a%2Bb.txt"));
    assert_eq!(key("/dir/a%2bb.txt"), key("/dir/a%2Bb.txt"));
    assert_eq!(key("/%C3%BC"), Ok("|/%C3%BC".into()));
    assert_eq!(key("/plain/file.css"), Ok("|/plain/file.css".into()));
    assert_eq!(key("/a/%2e%2e/secret"), Err("BadPath".into()));
    assert_eq!(key("/a/../secret"), Err("BadPath".into()));
    assert_eq!(key("/a%2Fb"), Err("BadPath".into()));
    assert_eq!(key("/"), Err("NoObject".into()));
}

#[test]
fn header_and_cookie_key_policies_apply() {
    let d = Distribution::new("d").origin("web", http(5)).default_behavior(
        CacheBehavior::default_for("web").cache_policy(
            CachePolicy::new()
                .headers(Select::only(["X-Lang"]))
                .cookies(Select::only(["theme"]))
                .query_strings(Select::only(["page"])),
        ),
    );
    let r = table(vec![d]);
    let mut p = parts("GET", "/list?utm=1&page=2", &[("x-lang", "de"), ("cookie", "theme=dark; sid=9")]);
    assert_eq!(resolve(&r, &mut p), Ok(("*".into(), "|/list?page=2|hx-lang:de|ctheme=dark".into())));
    // What the origin gets: the key's values only (default origin request policy).
    assert_eq!(p.uri, "/list?page=2");
    assert_eq!(p.headers["cookie"], "theme=dark");
}

#[test]
fn configuration_errors_name_the_setting() {
    let e = err(vec![site(), other().alias("www.example.com")]);
    assert_eq!(e.setting(), "distributions[1].aliases[0]");
    let e = err(vec![Distribution::new("d").origin("web", http(1))]);
    assert_eq!(e.setting(), "distributions[0].default_behavior");
    let e = err(vec![site().behavior(CacheBehavior::new("/a b").origin("web"))]);
    assert_eq!(e.setting(), "distributions[0].behaviors[4].path_pattern");
    let e = err(vec![site().behavior(CacheBehavior::new("/x").origin("nope"))]);
    assert_eq!(e.setting(), "distributions[0].behaviors[4].origin");
    assert!(e.message().contains("app, web"), "{e}");
    let e = err(vec![site().origin("web", http(9))]);
    assert_eq!(e.setting(), "distributions[0].origins.web");
    let any = || Distribution::new("x").origin("w", http(1)).default_behavior(CacheBehavior::default_for("w"));
    let e = err(vec![any(), any()]);
    assert_eq!(e.setting(), "distributions[1].id");
    let e =
        err(vec![any(), Distribution::new("y").origin("w", http(1)).default_behavior(CacheBehavior::default_for("w"))]);
    assert_eq!(e.setting(), "distributions[1].domain");
    let e = err(vec![site().default_root_object("../x")]);
    assert_eq!(e.setting(), "distributions[0].default_root_object");
    let e = err(vec![site().default_behavior(CacheBehavior::new("/x").origin("web"))]);
    assert_eq!(e.setting(), "distributions[0].default_behavior.path_pattern");
    let e = err(vec![site().behavior(CacheBehavior::new("/t").origin("web").cache_policy(
        CachePolicy::new().min_ttl(std::time::Duration::from_secs(10)).max_ttl(std::time::Duration::from_secs(5)),
    ))]);
    assert_eq!(e.setting(), "distributions[0].behaviors[4].cache_policy.min_ttl");
}

#[test]
fn groups_hold_remote_origins_and_known_statuses() {
    let base = || {
        Distribution::new("d")
            .origin("a", http(1))
            .origin("b", http(2))
            .origin("app", Origin::inner())
            .default_behavior(CacheBehavior::default_for("g"))
    };
    assert!(build_routes(&[base().origin_group("g", OriginGroup::new("a", "b"))], &ctx()).is_ok());
    let e = err(vec![base().origin_group("g", OriginGroup::new("a", "app"))]);
    assert_eq!(e.setting(), "distributions[0].origin_groups.g.secondary");
    let e = err(vec![base().origin_group("g", OriginGroup::new("zz", "b"))]);
    assert_eq!(e.setting(), "distributions[0].origin_groups.g.primary");
    let e = err(vec![base().origin_group("g", OriginGroup::new("a", "b").failover_statuses([500, 418]))]);
    assert_eq!(e.setting(), "distributions[0].origin_groups.g.failover_statuses[1]");
    let e = err(vec![base().origin_group("a", OriginGroup::new("a", "b"))]);
    assert_eq!(e.setting(), "distributions[0].origin_groups.a");
}

#[test]
fn the_standalone_proxy_has_no_app_origin() {
    let ctx =
        BuildContext { ttl: TtlPolicy::default(), app_ttl: TtlPolicy::default(), standalone: true, check_only: false };
    let e = build_routes(&[site()], &ctx).unwrap_err();
    assert_eq!(e.setting(), "distributions[0].origins.app");
}

#[test]
fn ports_are_stripped_from_names_and_ip_literals() {
    assert_eq!(strip_port("example.com:8080"), "example.com");
    assert_eq!(strip_port("example.com"), "example.com");
    assert_eq!(strip_port("[::1]:80"), "[::1]");
    assert_eq!(strip_port("[::1]"), "[::1]");
    assert_eq!(strip_port("127.0.0.1:3000"), "127.0.0.1");
}
