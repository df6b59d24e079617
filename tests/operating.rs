//! Operating the dev proxy binary: the admin listener, SIGHUP reloads and
//! log reopening, graceful shutdown, request spans in the logs.
#![cfg(unix)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use support::{Origin, Reply, cache_status, client, eventually};

const TOKEN: &str = "op-token-7";

/// The binary, its public URL and its stderr lines as they arrive.
struct Proxy {
    child: Child,
    url: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Proxy {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tower-cdn"))
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("TOWER_CDN_ADMIN_TOKEN")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tower-cdn");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stderr);
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line {line:?}")).to_owned();
        Proxy { child, url, stderr }
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// The admin URL announced on stderr (before the listening line).
    async fn admin_url(&self) -> String {
        self.wait_stderr("admin API on ").await;
        let text = self.stderr_text();
        let at = text.find("admin API on ").unwrap_or_else(|| panic!("no admin line in {text}")) + 13;
        text[at..].split_whitespace().next().unwrap().to_owned()
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill").args([name, &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill {name}");
    }

    async fn wait_stderr(&self, needle: &str) {
        let found = eventually(|| self.stderr_text().contains(needle)).await;
        assert!(found, "stderr never said {needle:?}:\n{}", self.stderr_text());
    }

    /// Waits (bounded) for the process to exit.
    async fn exit_status(&mut self) -> ExitStatus {
        for _ in 0..1000 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("tower-cdn did not exit:\n{}", self.stderr_text());
    }
}

/// A fresh directory, removed when the value is dropped.
fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("tower-cdn-op-{name}-")).tempdir().unwrap()
}

async fn get(url: &str, host: Option<&str>) -> (String, String) {
    let mut req = client().get(url);
    if let Some(h) = host {
        req = req.header("host", h);
    }
    let r = req.send().await.unwrap();
    let status = cache_status(&r);
    (status, r.text().await.unwrap())
}

#[tokio::test]
async fn admin_listener_invalidates_and_is_not_reachable_on_the_public_port() {
    let origin = Origin::start().await;
    origin.route("/x", Reply::ok("x").header("cache-control", "max-age=600"));
    origin.route("/invalidations", Reply::ok("the origin's own /invalidations").header("cache-control", "no-store"));
    let proxy = Proxy::start(
        &["--listen", "127.0.0.1:0", "--origin", &origin.url(), "--admin", "127.0.0.1:0"],
        &[("TOWER_CDN_ADMIN_TOKEN", TOKEN)],
    );
    let admin = proxy.admin_url().await;
    assert!(proxy.stderr_text().contains("bearer token required"));
    let x = format!("{}/x", proxy.url);
    get(&x, None).await;
    assert!(get(&x, None).await.0.contains("hit"));
    // On the public listener, /invalidations is just a path of the origin.
    let public = client()
        .post(format!("{}/invalidations", proxy.url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"paths": ["/*"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(public.text().await.unwrap(), "the origin's own /invalidations");
    assert_eq!(origin.hits("/invalidations"), 1);
    assert!(get(&x, None).await.0.contains("hit"), "nothing was invalidated");
    // Without the token the admin listener refuses.
    let refused = client()
        .post(format!("{admin}/invalidations"))
        .header("content-type", "application/json")
        .body(r#"{"paths": ["/x"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(get(&x, None).await.0.contains("hit"));
    // With it, the next request is a miss and the origin counts it.
    let r = client()
        .post(format!("{admin}/invalidations"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"paths": ["/x"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(body["Invalidation"]["Id"].is_string(), "{body}");
    assert!(get(&x, None).await.0.contains("fwd=uri-miss"));
    assert_eq!(origin.hits("/x"), 2);
    let stats = client().get(format!("{admin}/stats")).bearer_auth(TOKEN).send().await.unwrap();
    let stats: Value = serde_json::from_slice(&stats.bytes().await.unwrap()).unwrap();
    assert_eq!((stats["invalidations"].as_u64(), stats["origin_fetches"].as_u64()), (Some(1), Some(3)));
}

fn config(dir: &Path, origin_b: &str, origin_c: &str) -> String {
    let text = format!(
        r#"
listen = "127.0.0.1:0"

[access_log]
path = "{log}"

[[distributions]]
id = "stays"
domain = "stays.test"
[distributions.origins.web]
kind = "http"
url = "{origin_b}"
[distributions.default_behavior]
origin = "web"

[[distributions]]
id = "moves"
domain = "moves.test"
[distributions.origins.web]
kind = "http"
url = "{origin_c}"
[distributions.default_behavior]
origin = "web"
"#,
        log = dir.join("access.log").display()
    );
    let path = dir.join("cdn.toml");
    std::fs::write(&path, &text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn sighup_reloads_the_config_and_a_broken_file_keeps_the_old_one() {
    let (one, two) = (Origin::start().await, Origin::start().await);
    for (o, name) in [(&one, "one"), (&two, "two")] {
        o.route("/p", Reply::ok(name).header("cache-control", "max-age=600"));
        o.route("/q", Reply::ok(name).header("cache-control", "max-age=600"));
    }
    let tmp = temp_dir("reload");
    let dir = tmp.path();
    let path = config(dir, &one.url(), &one.url());
    let proxy = Proxy::start(&["--config", &path], &[]);
    let p = format!("{}/p", proxy.url);
    assert_eq!(get(&p, Some("stays.test")).await.1, "one");
    assert_eq!(get(&p, Some("moves.test")).await.1, "one");
    // The `moves` distribution now points at origin two.
    config(dir, &one.url(), &two.url());
    proxy.signal("-HUP");
    proxy.wait_stderr("configuration reloaded").await;
    assert!(proxy.stderr_text().contains("unchanged: stays; changed: moves"), "{}", proxy.stderr_text());
    let (status, body) = get(&p, Some("moves.test")).await;
    assert_eq!((body.as_str(), status.contains("fwd=uri-miss")), ("two", true), "{status}");
    let (status, body) = get(&p, Some("stays.test")).await;
    assert_eq!((body.as_str(), status.contains("hit")), ("one", true), "the cache survives for `stays`");
    // A broken file: logged with the file and key, the old config serves on.
    std::fs::write(&path, std::fs::read_to_string(&path).unwrap().replace("kind = \"http\"", "kind = \"ftp\""))
        .unwrap();
    proxy.signal("-HUP");
    proxy.wait_stderr("reload rejected").await;
    assert!(proxy.stderr_text().contains("distributions[0].origins.web.kind"), "{}", proxy.stderr_text());
    assert_eq!(get(&format!("{}/q", proxy.url), Some("moves.test")).await.1, "two");
    assert!(get(&p, Some("stays.test")).await.0.contains("hit"));
    assert_eq!((one.hits("/p"), two.hits("/p"), two.hits("/q")), (2, 1, 1));
}

#[tokio::test]
async fn the_admin_api_reloads_the_config_file_and_reports_a_broken_one() {
    let (one, two) = (Origin::start().await, Origin::start().await);
    for (o, name) in [(&one, "one"), (&two, "two")] {
        o.route("/p", Reply::ok(name).header("cache-control", "max-age=600"));
    }
    let tmp = temp_dir("admin-reload");
    let dir = tmp.path();
    let path = config(dir, &one.url(), &one.url());
    let proxy = Proxy::start(&["--config", &path, "--admin", "127.0.0.1:0"], &[]);
    let admin = proxy.admin_url().await;
    let p = format!("{}/p", proxy.url);
    assert_eq!(get(&p, Some("moves.test")).await.1, "one");
    let reload = || async { client().post(format!("{admin}/reload")).send().await.unwrap() };

    config(dir, &one.url(), &two.url());
    let r = reload().await;
    assert_eq!(r.status(), 200);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["Reload"]["Status"], "Completed", "{body}");
    assert!(body["Reload"]["Summary"].as_str().unwrap().contains("changed: moves"), "{body}");
    assert_eq!(get(&p, Some("moves.test")).await.1, "two");

    std::fs::write(&path, std::fs::read_to_string(&path).unwrap().replace("kind = \"http\"", "kind = \"ftp\""))
        .unwrap();
    let r = reload().await;
    assert_eq!(r.status(), 400);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["Error"]["Code"], "InvalidConfiguration", "{body}");
    let message = body["Error"]["Message"].as_str().unwrap();
    assert!(message.contains("distributions[0].origins.web.kind"), "{message}");
    assert!(get(&p, Some("moves.test")).await.0.contains("hit"), "the running configuration stays");

    // Started from flags: nothing to reload.
    let flags = Proxy::start(&["--listen", ":0", "--origin", &one.url(), "--admin", "127.0.0.1:0"], &[]);
    let admin = flags.admin_url().await;
    let r = client().post(format!("{admin}/reload")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["Error"]["Code"], "NoConfigFile", "{body}");
}

#[tokio::test]
async fn sighup_reopens_the_access_log_file() {
    let origin = Origin::start().await;
    origin.route("/f", Reply::ok("f").header("cache-control", "max-age=600"));
    let tmp = temp_dir("log");
    let dir = tmp.path();
    let log = dir.join("access.log");
    let proxy = Proxy::start(
        &[
            "--listen",
            ":0",
            "--origin",
            &origin.url(),
            "--access-log",
            log.to_str().unwrap(),
            "--access-log-format",
            "json",
        ],
        &[],
    );
    let records = |path: &Path| -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    };
    get(&format!("{}/f", proxy.url), None).await;
    assert!(eventually(|| records(&log).len() == 1).await);
    std::fs::rename(&log, dir.join("access.log.1")).unwrap();
    proxy.signal("-HUP");
    proxy.wait_stderr("access log reopened").await;
    get(&format!("{}/f", proxy.url), None).await;
    assert!(eventually(|| records(&log).len() == 1).await, "a new file after the reopen");
    assert_eq!(records(&log)[0]["x-edge-result-type"], "Hit");
    assert_eq!(records(&dir.join("access.log.1")).len(), 1);
}

#[tokio::test]
async fn sigterm_lets_a_slow_response_finish_then_exits_0() {
    let origin = Origin::start().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    let size = 256 * 1024;
    origin.route(
        "/slow",
        Reply::ok(vec![b's'; size])
            .header("cache-control", "max-age=600")
            .chunks(vec![16 * 1024])
            .gate_after(64 * 1024, gate.clone()),
    );
    let tmp = temp_dir("term");
    let dir = tmp.path();
    let log = dir.join("access.log");
    let args = ["--listen", "127.0.0.1:0", "--origin", &origin.url(), "--access-log", log.to_str().unwrap()];
    let mut proxy = Proxy::start(&args, &[]);
    let addr = proxy.url.strip_prefix("http://").unwrap().to_owned();
    let r = client().get(format!("{}/slow", proxy.url)).send().await.unwrap();
    let mut body = r.bytes_stream();
    let mut got = body.next().await.unwrap().unwrap().len();
    proxy.signal("-TERM");
    // New connections are refused once the listener is closed...
    let refused = async {
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(&addr).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    };
    assert!(refused.await, "the listener should close after SIGTERM");
    // ...while the response in flight finishes.
    gate.notify_one();
    while let Some(chunk) = body.next().await {
        got += chunk.expect("the body completes").len();
    }
    assert_eq!(got, size);
    let status = proxy.exit_status().await;
    assert!(status.success(), "{status:?}\n{}", proxy.stderr_text());
    assert!(proxy.stderr_text().contains("shutting down"));
    // The record of the response that finished during the grace period
    // was written before the exit.
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text.lines().find(|l| l.contains("/slow")).unwrap_or_else(|| panic!("no /slow record in {text:?}"));
    assert!(line.contains(&format!("\t{size}\t")), "{line}");
}

#[tokio::test]
async fn json_logs_carry_request_spans_filtered_by_rust_log() {
    let origin = Origin::start().await;
    origin.route("/s", Reply::ok("s").header("cache-control", "max-age=600"));
    let args = ["--listen", ":0", "--origin", &origin.url(), "--log-format", "json"];
    let proxy = Proxy::start(&args, &[("RUST_LOG", "info,tower_cdn::request=debug")]);
    let s = format!("{}/s", proxy.url);
    get(&s, None).await;
    get(&s, None).await;
    let responses = || -> Vec<Value> {
        let lines = proxy.stderr.lock().unwrap().clone();
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["target"] == "tower_cdn::request")
            .collect()
    };
    assert!(eventually(|| responses().len() == 2).await, "{}", proxy.stderr_text());
    let spans: Vec<Value> = responses().into_iter().map(|v| v["span"].clone()).collect();
    assert_eq!(spans[0]["cache_status"], "fwd=uri-miss; fwd-status=200; stored");
    assert!(spans[1]["cache_status"].as_str().unwrap().starts_with("hit"));
    assert_eq!(
        (&spans[1]["path"], &spans[1]["method"], &spans[1]["status"]),
        (&"/s".into(), &"GET".into(), &200.into())
    );
    assert_eq!(spans[1]["request_id"].as_str().unwrap().len(), 22);
    // At the default level, no per-request lines.
    let quiet = Proxy::start(&args, &[]);
    get(&format!("{}/s", quiet.url), None).await;
    quiet.signal("-HUP");
    quiet.wait_stderr("SIGHUP").await;
    assert!(!quiet.stderr_text().contains("tower_cdn::request"), "{}", quiet.stderr_text());
}
