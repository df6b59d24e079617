//! The TOML configuration file: errors name the file, the key path and the
//! problem; `--check-config` and `--config` through the real binary.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::proxy::Proxy;
use support::{Origin, Reply, client};
use tower_cdn::config::from_toml_str;

const GOOD: &str = r#"
[[distributions]]
id = "site"
domain = "site.test"

[distributions.origins.web]
kind = "http"
url = "http://127.0.0.1:9"

[distributions.origins.bucket]
kind = "s3"
bucket = "assets"
endpoint = "http://127.0.0.1:9"
path_style = true

[[distributions.behaviors]]
path_pattern = "/assets/*"
origin = "bucket"

[distributions.default_behavior]
origin = "web"
"#;

/// The error for `GOOD` with `from` replaced by `to`, as displayed.
fn error_after(from: &str, to: &str) -> (String, String) {
    assert!(GOOD.contains(from), "{from:?}");
    let text = GOOD.replacen(from, to, 1);
    let err = match from_toml_str(&text, "cdn.toml") {
        Ok(file) => file.build().expect_err("expected an error"),
        Err(e) => e,
    };
    assert_eq!(err.file(), "cdn.toml");
    (err.key().to_owned(), err.to_string())
}

#[test]
fn a_valid_file_builds() {
    from_toml_str(GOOD, "cdn.toml").unwrap().build().unwrap();
}

#[test]
fn the_commented_example_file_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cdn.toml");
    let file = tower_cdn::config::from_file(&path).unwrap();
    assert_eq!(file.listen(), Some("127.0.0.1:8080"));
    file.build().unwrap();
}

#[test]
fn an_unknown_key_is_named_with_its_path() {
    let (key, shown) = error_after("path_style = true", "path_style = true\nbukcet = \"x\"");
    assert_eq!(key, "distributions[0].origins.bucket.bukcet");
    assert!(shown.starts_with("cdn.toml: distributions[0].origins.bucket.bukcet: unknown field `bukcet`"), "{shown}");
    assert!(shown.contains("line 15, column 1"), "{shown}");
    let (key, _) = error_after("[[distributions]]", "colour = 1\n[[distributions]]");
    assert_eq!(key, "colour");
}

#[test]
fn a_bad_path_pattern_is_named_with_its_path() {
    let (key, shown) = error_after("\"/assets/*\"", "\"/assets/{x}\"");
    assert_eq!(key, "distributions[0].behaviors[0].path_pattern");
    assert!(shown.contains("invalid character '{'"), "{shown}");
}

#[test]
fn an_unknown_origin_id_is_named_with_its_path() {
    let (key, shown) = error_after("origin = \"web\"", "origin = \"wbe\"");
    assert_eq!(key, "distributions[0].default_behavior.origin");
    assert!(shown.contains("unknown origin \"wbe\" (this distribution has: bucket, web)"), "{shown}");
}

#[test]
fn an_s3_origin_without_a_bucket_is_named_with_its_path() {
    let (key, shown) = error_after("bucket = \"assets\"", "");
    assert_eq!(key, "distributions[0].origins.bucket.bucket");
    assert!(shown.contains("an s3 origin needs a bucket"), "{shown}");
}

#[test]
fn more_mistakes_are_caught_before_serving() {
    let cases = [
        ("kind = \"http\"", "kind = \"ftp\"", "distributions[0].origins.web.kind"),
        ("url = \"http://127.0.0.1:9\"", "url = \"ftp://x\"", "distributions[0].origins.web.url"),
        ("path_style = true", "path_style = true\nurl = \"http://x\"", "distributions[0].origins.bucket.url"),
        ("domain = \"site.test\"", "domain = \"a..test\"", "distributions[0].domain"),
        (
            "origin = \"bucket\"",
            "origin = \"bucket\"\ncache_policy = \"fast\"",
            "distributions[0].behaviors[0].cache_policy",
        ),
        (
            "origin = \"bucket\"",
            "origin = \"bucket\"\ncache_policy = { default_ttl = \"soon\" }",
            "distributions[0].behaviors[0].cache_policy.default_ttl",
        ),
        (
            "origin = \"bucket\"",
            "origin = \"bucket\"\nallowed_methods = \"post\"",
            "distributions[0].behaviors[0].allowed_methods",
        ),
        ("path_pattern = \"/assets/*\"\n", "", "distributions[0].behaviors[0].path_pattern"),
        ("id = \"site\"", "id = \"site\"\nenabled = \"yes\"", "distributions[0].enabled"),
    ];
    for (from, to, want) in cases {
        let (key, shown) = error_after(from, to);
        assert_eq!(key, want, "{shown}");
    }
}

/// A file in a directory of its own, removed when the value is dropped.
struct TempFile {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TempFile {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.path
    }
}

impl AsRef<std::ffi::OsStr> for TempFile {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path.as_os_str()
    }
}

fn temp_file(name: &str, text: &str) -> TempFile {
    let dir = tempfile::Builder::new().prefix("tower-cdn-config-").tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    TempFile { path, _dir: dir }
}

fn tower_cdn(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tower-cdn")).args(args).output().unwrap()
}

#[test]
fn check_config_exits_0_when_valid_and_2_with_the_error() {
    let good = temp_file("good.toml", GOOD);
    let out = tower_cdn(&["--check-config".as_ref(), good.as_os_str()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{}: ok\n", good.display()));

    let bad = temp_file("bad.toml", &GOOD.replace("origin = \"web\"", "origin = \"nope\""));
    let out = tower_cdn(&["--check-config".as_ref(), bad.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}: distributions[0].default_behavior.origin: unknown origin", bad.display())),
        "{err}"
    );

    // A file for library use (an app origin) checks, with a note that the
    // dev proxy cannot serve it; serving it is the error.
    let app = temp_file("app.toml", &GOOD.replace("kind = \"http\"\nurl = \"http://127.0.0.1:9\"", "kind = \"app\""));
    let out = tower_cdn(&["--check-config".as_ref(), app.as_os_str()]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("note:") && err.contains("distributions[0].origins.web: an app origin needs an app"), "{err}");
    let out = tower_cdn(&["--listen".as_ref(), "127.0.0.1:0".as_ref(), "--config".as_ref(), app.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("distributions[0].origins.web: an app origin needs an app"), "{err}");

    let missing = tower_cdn(&["--check-config".as_ref(), "no/such/file.toml".as_ref()]);
    assert_eq!(missing.status.code(), Some(2));
}

#[tokio::test]
async fn the_proxy_serves_a_config_file_and_flags_override_its_globals() {
    let origin = Origin::start().await;
    origin.route("/x", Reply::ok("from web").header("cache-control", "max-age=60"));
    let text = GOOD
        .replace(
            "http://127.0.0.1:9\"\n\n[distributions.origins.bucket]",
            &format!("{}\"\n\n[distributions.origins.bucket]", origin.url()),
        )
        .replace("[[distributions]]", "listen = \"127.0.0.1:1\"\ncapacity = \"1MiB\"\n[[distributions]]");
    let file = temp_file("serve.toml", &text);
    // The file's listen address and capacity would fail; the flags win.
    let args = ["--listen", "127.0.0.1:0", "--capacity", "64MiB", "--config"];
    let proxy = Proxy::start(args.iter().map(std::ffi::OsStr::new).chain([file.as_os_str()]));
    let url = &proxy.url;
    let c = client();
    let ok = c.get(format!("{url}/x")).header("host", "site.test").send().await.unwrap();
    let ok = (ok.status().as_u16(), ok.text().await.unwrap());
    let unknown = c.get(format!("{url}/x")).header("host", "other.test").send().await.unwrap();
    let unknown = (unknown.status().as_u16(), unknown.text().await.unwrap());
    drop(proxy);
    assert_eq!(ok, (200, "from web".to_owned()));
    assert_eq!(unknown, (404, "404 Not Found: no distribution is configured for this host\n".to_owned()));
}

#[test]
fn the_readme_file_is_valid() {
    let readme = include_str!("../README.md");
    let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let text = &readme[start..start + readme[start..].find("```").unwrap()];
    // Same file, without needing AWS_* variables in the test environment.
    let text = text.replace("credentials = \"env\"", "credentials = \"anonymous\"");
    let file = from_toml_str(&text, "README.md").unwrap();
    file.build().unwrap();
}

#[test]
fn secrets_never_appear_in_debug_output_or_errors() {
    use tower_cdn::{CacheBehavior, CdnLayer, Distribution, Origin, S3Credentials, S3Origin};
    let secrets = ["wJalrXUtnFEMI-SECRET", "SESSION-TOKEN-SECRET", "HEADER-SECRET"];
    let builder = CdnLayer::builder().distribution(
        Distribution::new("d")
            .origin(
                "bucket",
                Origin::s3(
                    S3Origin::new("bucket")
                        .credentials(S3Credentials::from_keys("AKIDEXAMPLE", secrets[0]).session_token(secrets[1])),
                ),
            )
            .origin("web", Origin::http("http://127.0.0.1:9").custom_header("x-origin-verify", secrets[2]))
            .default_behavior(CacheBehavior::default_for("bucket")),
    );
    let layer = builder.clone().build().unwrap();
    let shown = format!("{builder:?} {layer:?} {builder:#?}");
    assert!(shown.contains("AKIDEXAMPLE"), "the key id is not secret");
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    let text = format!(
        "[[distributions]]\nid = \"d\"\n[distributions.origins.b]\nkind = \"s3\"\nbucket = \"x\"\n\
         credentials = {{ access_key_id = \"AK\", secret_access_key = \"{}\", region = \"x\" }}\n",
        secrets[0]
    );
    let err = from_toml_str(&text, "cdn.toml").unwrap_err().to_string();
    assert!(!err.contains(secrets[0]), "{err}");
    let file = from_toml_str(&text.replace(", region = \"x\"", ""), "cdn.toml").unwrap();
    assert!(!format!("{file:?}").contains(secrets[0]));
}
