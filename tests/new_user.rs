//! What a new user trips over, through the real binary and real servers:
//! the protocol version of pass-through answers, origin failures on stderr,
//! errors that name the setting as the user wrote it, and every
//! configuration file in the README and `examples/` checking and serving.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::raw::RawOrigin;
use support::{client, start_proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_cdn::{CdnLayer, Origin};

/// The binary on 127.0.0.1:0; its URL once it says it listens.
struct Proxy {
    child: Child,
    url: String,
}

impl Proxy {
    fn start(args: &[&str]) -> Proxy {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tower-cdn"))
            .args(args)
            .env("RUST_LOG", "tower_cdn=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}")).to_owned();
        Proxy { child, url }
    }

    /// Stops it and returns what it wrote on stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut err = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        err
    }
}

fn tower_cdn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tower-cdn")).args(args).output().unwrap()
}

/// Reads one response with a `Content-Length` (or none, for HEAD) off a
/// kept-alive connection.
async fn read_response(s: &mut TcpStream, head_only: bool) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut byte)).await {
            Ok(Ok(1)) => buf.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    if !head_only {
        let len = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().to_owned()))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut body)).await;
    }
    head
}

#[tokio::test]
async fn pass_through_answers_speak_http_1_1_and_keep_the_connection_behind_an_http_1_0_origin() {
    let origin =
        RawOrigin::start(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\ncontent-type: text/css\r\n\r\nok".to_vec(), false)
            .await;
    let edge = start_proxy(CdnLayer::builder().origin(Origin::http(origin.url())).build().unwrap()).await;
    let mut s = TcpStream::connect(edge).await.unwrap();
    for (req, head_only) in [
        ("HEAD /style.css HTTP/1.1\r\nhost: a\r\n\r\n", true),
        ("POST /form HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\n\r\nx", false),
        ("OPTIONS /x HTTP/1.1\r\nhost: a\r\n\r\n", false),
        ("GET /fresh HTTP/1.1\r\nhost: a\r\ncache-control: no-store\r\n\r\n", false),
        ("GET /stored HTTP/1.1\r\nhost: a\r\n\r\n", false),
    ] {
        s.write_all(req.as_bytes()).await.unwrap();
        let head = read_response(&mut s, head_only).await;
        // One connection throughout: each answer arrived on it.
        assert!(head.starts_with("HTTP/1.1 200"), "{req:?}: {head:?}");
        assert!(!head.to_ascii_lowercase().contains("connection: close"), "{req:?}: {head:?}");
    }
}

#[tokio::test]
async fn origin_failures_are_logged_and_said_in_cache_status() {
    let proxy = Proxy::start(&["--listen", "127.0.0.1:0", "--origin", "http://127.0.0.1:1"]);
    let c = client();
    for _ in 0..3 {
        let r = c.get(format!("{}/down", proxy.url)).send().await.unwrap();
        assert_eq!(r.status(), 502);
        let cs = support::cache_status(&r);
        assert!(cs.contains("detail=origin-unreachable"), "{cs}");
    }
    let err = proxy.stop();
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("origin request failed")).collect();
    assert_eq!(lines.len(), 1, "one line, the rest counted: {err}");
    assert!(lines[0].contains("origin=origin") && lines[0].contains("http://127.0.0.1:1/down"), "{err}");
    assert!(lines[0].contains("WARN"), "{err}");
}

/// `--origin-http2` in front of an HTTP/1.1-only origin: a 502 that says
/// it is the origin's answer, and a log line with the cause and the hint.
#[tokio::test]
async fn an_http2_origin_that_speaks_http1_is_named_in_the_log() {
    let origin =
        RawOrigin::start(b"HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-length: 0\r\n\r\n".to_vec(), false).await;
    let proxy = Proxy::start(&["--listen", "127.0.0.1:0", "--origin", &origin.url(), "--origin-http2"]);
    let r = client().get(format!("{}/rpc", proxy.url)).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert!(support::cache_status(&r).contains("detail=origin-invalid-response"), "{}", support::cache_status(&r));
    let err = proxy.stop();
    let line = err.lines().find(|l| l.contains("origin request failed")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("does it speak HTTP/2?"), "{line}");
    assert_eq!(line.matches("invalid origin response").count(), 1, "{line}");
    // The cause below reqwest's "error sending request" is in the line too.
    assert!(line.matches(": ").count() >= 2, "{line}");
}

#[test]
fn errors_name_the_setting_as_the_file_or_the_flag_spells_it() {
    let dir = tempfile::tempdir().unwrap();
    let body = "[[distributions]]\nid = \"d\"\n[distributions.origins.o]\nkind = \"http\"\nurl = \"http://127.0.0.1:9\"\n[distributions.default_behavior]\norigin = \"o\"\n";
    for (globals, want) in [
        ("capacity = \"0\"\n", "capacity: must be greater than zero"),
        (
            "capacity = \"1MiB\"\nmax_object_size = \"768KiB\"\n",
            "max_object_size: 786432 bytes is more than half the cache capacity (1048576 bytes); raise capacity or lower max_object_size",
        ),
    ] {
        let path = dir.path().join("cdn.toml");
        std::fs::write(&path, format!("{globals}{body}")).unwrap();
        let out = tower_cdn(&["--check-config", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{err}");
        assert!(!err.contains("_bytes"), "{err}");
        let out = tower_cdn(&["--listen", "127.0.0.1:0", "--config", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want) && !err.contains("_bytes"), "{err}");
    }
    let out = tower_cdn(&["--listen", "127.0.0.1:0", "--origin", "http://127.0.0.1:9", "--capacity", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--capacity: must be greater than zero"), "{err}");
    let out = tower_cdn(&[
        "--listen",
        "127.0.0.1:0",
        "--origin",
        "http://127.0.0.1:9",
        "--capacity",
        "1MiB",
        "--max-object-size",
        "768KiB",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("raise --capacity or lower --max-object-size"), "{err}");
    assert!(!err.contains("_bytes"), "{err}");
}

/// The ```toml blocks of the README: complete files, each checked.
fn readme_files() -> Vec<String> {
    let readme = include_str!("../README.md");
    readme.split("```toml\n").skip(1).map(|rest| rest[..rest.find("```").unwrap()].to_owned()).collect()
}

/// The certificate files the README's TLS blocks name (relative to the
/// file, so under `dir/certs`), from a test CA: `--check-config` reads
/// them and checks each key and the names each certificate covers.
fn readme_certificates(dir: &std::path::Path) {
    let certs = dir.join("certs");
    std::fs::create_dir(&certs).unwrap();
    let pki = support::tls::Pki::new();
    for (stem, names) in [
        ("default", &["edge.example.net"][..]),
        ("shop", &["shop.example.com", "*.shop.example.com"][..]),
        ("edge", &["edge.internal"][..]),
    ] {
        let leaf = pki.leaf(names, &certs, stem);
        std::fs::rename(&leaf.key_file, certs.join(format!("{stem}.key"))).unwrap();
    }
    std::fs::write(certs.join("internal-ca.pem"), pki.ca_pem()).unwrap();
}

#[test]
fn every_configuration_in_the_readme_and_examples_passes_check_config() {
    let dir = tempfile::tempdir().unwrap();
    readme_certificates(dir.path());
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for (i, text) in readme_files().iter().enumerate() {
        let path = dir.path().join(format!("readme-{i}.toml"));
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    for entry in std::fs::read_dir("examples").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    assert!(files.len() >= 4, "{files:?}");
    for path in files {
        // No AWS_* variables here: credentials are resolved at start only.
        let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn"))
            .args(["--check-config", path.to_str().unwrap()])
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{}: {err}", path.display());
        assert!(String::from_utf8_lossy(&out.stdout).ends_with(": ok\n"));
    }
}

#[tokio::test]
async fn the_example_configuration_serves_the_seeded_objects() {
    let _ = support::s3::s3_env();
    let proxy = Proxy::start(&["--listen", "127.0.0.1:0", "--config", "examples/cdn.toml"]);
    let c = client();
    let r = c.get(format!("{}/assets/hello.txt", proxy.url)).header("host", "localhost").send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    // The error page of the distribution comes from the same bucket.
    let missing = c.get(format!("{}/assets/none.txt", proxy.url)).header("host", "localhost").send().await.unwrap();
    let missing_status = missing.status();
    let missing_text = missing.text().await.unwrap();
    let err = proxy.stop();
    assert_eq!((status.as_u16(), text.as_str()), (200, "hello from s3\n"), "{err}");
    assert_eq!(missing_status, 404, "{err}");
    assert!(missing_text.contains("Not found"), "{missing_text}");
}

#[tokio::test]
async fn sign_url_makes_urls_and_cookies_the_edge_accepts() {
    use tower_cdn::auth::TrustedKeys;
    use tower_cdn::{CacheBehavior, Distribution};
    let origin = support::Origin::start().await;
    origin.route("/private/a.txt", support::Reply::ok("secret").header("cache-control", "max-age=60"));
    let mut keys = TrustedKeys::new();
    keys.add_pem("KA", include_str!("../src/auth/testdata/rsa_a_pub_spki.pem")).unwrap();
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("d")
                .origin("web", Origin::http(origin.url()))
                .behavior(CacheBehavior::new("/private/*").origin("web").trusted_keys(keys))
                .default_behavior(CacheBehavior::default_for("web")),
        )
        .build()
        .unwrap();
    let edge = start_proxy(layer).await;
    let url = format!("http://{edge}/private/a.txt");
    let sign = |extra: &[&str]| {
        let mut args = vec!["sign-url", "--key-pair-id", "KA", "--private-key", "src/auth/testdata/rsa_a_pkcs1.pem"];
        args.extend_from_slice(extra);
        args.push(&url);
        let out = tower_cdn(&args);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let c = client();
    assert_eq!(c.get(&url).send().await.unwrap().status(), 403);
    for extra in [&[][..], &["--sha256"], &["--ip", "127.0.0.0/8", "--expires", "10m"]] {
        let signed = sign(extra);
        let r = c.get(&signed).send().await.unwrap();
        assert_eq!(r.status(), 200, "{extra:?}: {signed}");
    }
    let elsewhere = sign(&["--ip", "192.0.2.0/24"]);
    assert_eq!(c.get(&elsewhere).send().await.unwrap().status(), 403);
    let cookies = sign(&["--cookies"]);
    let cookie = cookies
        .lines()
        .map(|l| l.strip_prefix("Set-Cookie: ").unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    assert_eq!(c.get(&url).header("cookie", cookie).send().await.unwrap().status(), 200);
    let bad = tower_cdn(&["sign-url", "--key-pair-id", "KA", "--private-key", "no/such.pem", &url]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--private-key no/such.pem"));
}

#[tokio::test]
async fn the_admin_api_has_a_health_check_and_purges_with_curl_x_purge() {
    let origin = support::Origin::start().await;
    origin.route("/a/x", support::Reply::ok("x").header("cache-control", "max-age=600"));
    origin.route("/b", support::Reply::ok("b").header("cache-control", "max-age=600"));
    let layer = CdnLayer::builder().origin(Origin::http(origin.url())).build().unwrap();
    let edge = start_proxy(layer.clone()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = listener.local_addr().unwrap();
    tokio::spawn(tower_cdn::cli::serve::serve(
        listener,
        tower_cdn::admin::router(&layer, Some("tok")),
        tower_cdn::cli::serve::ServeOptions::default(),
        std::future::pending(),
    ));
    let c = client();
    let health = c.get(format!("http://{admin}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "no token needed");
    assert_eq!(health.text().await.unwrap(), r#"{"status":"ok"}"#);
    for p in ["/a/x", "/b"] {
        c.get(format!("http://{edge}{p}")).send().await.unwrap().text().await.unwrap();
    }
    let purge = |path: &'static str, token: Option<&'static str>| {
        let c = c.clone();
        async move {
            let mut r = c.request(reqwest::Method::from_bytes(b"PURGE").unwrap(), format!("http://{admin}{path}"));
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(purge("/a/*", None).await, 401);
    assert_eq!(purge("/a/*", Some("tok")).await, 201);
    assert!(support::eventually(|| layer.cache().len() == 1).await);
    let r = c.get(format!("http://{edge}/a/x")).send().await.unwrap();
    assert!(support::cache_status(&r).contains("fwd=uri-miss"));
    let r = c.get(format!("http://{edge}/b")).send().await.unwrap();
    assert!(support::cache_status(&r).contains("hit"));
}
