//! The dev proxy binary, driven as a user scripts it.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use support::{Origin, Reply, cache_status, client, x_cache};

struct Proxy {
    child: Child,
    url: String,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Proxy {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tower-cdn"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tower-cdn");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Proxy { url: url.to_owned(), child }
}

#[tokio::test]
async fn demo_origin_shows_miss_then_hit() {
    let proxy = start(&["--listen", "127.0.0.1:0"]);
    let c = client();
    let a = c.get(format!("{}/hello", proxy.url)).send().await.unwrap();
    assert_eq!(a.status(), 200);
    assert!(cache_status(&a).contains("fwd=uri-miss"), "{}", cache_status(&a));
    assert_eq!(x_cache(&a), "Miss from tower-cdn");
    let body = a.text().await.unwrap();
    let b = c.get(format!("{}/hello", proxy.url)).send().await.unwrap();
    assert!(cache_status(&b).contains("hit"), "{}", cache_status(&b));
    assert_eq!(x_cache(&b), "Hit from tower-cdn");
    assert_eq!(b.text().await.unwrap(), body);
}

#[tokio::test]
async fn proxies_and_caches_a_given_origin() {
    let origin = Origin::start().await;
    origin.route("/x", Reply::ok("from origin").header("cache-control", "max-age=30"));
    let proxy = start(&["--listen", ":0", "--origin", &origin.url(), "--capacity", "16MiB", "--default-ttl", "1h"]);
    let c = client();
    for _ in 0..3 {
        let r = c.get(format!("{}/x", proxy.url)).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "from origin");
    }
    assert_eq!(origin.hits("/x"), 1);
}

#[test]
fn bad_flags_are_reported_with_their_name() {
    let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--origin",
            "http://127.0.0.1:9",
            "--capacity",
            "1MiB",
            "--max-object-size",
            "64MiB",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--max-object-size"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn")).args(["--capacity", "lots"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--capacity"));
}

#[tokio::test]
async fn error_caching_and_the_viewer_scheme_have_flags() {
    let origin = Origin::start().await;
    origin.route("/missing", Reply::ok("no such page").status(404));
    // Default: CloudFront caches the 404 for 10 s.
    let cached = start(&["--listen", ":0", "--origin", &origin.url()]);
    // 0s: only as long as the origin says (it says nothing).
    let uncached = start(&["--listen", ":0", "--origin", &origin.url(), "--error-caching-min-ttl", "0s"]);
    let c = client();
    for proxy in [&cached, &uncached] {
        for _ in 0..2 {
            let r = c.get(format!("{}/missing", proxy.url)).send().await.unwrap();
            assert_eq!(r.status(), 404);
            // Read the body: a client that hangs up before it arrives
            // abandons the fill, and the next request fetches again.
            assert_eq!(r.text().await.unwrap(), "no such page");
        }
    }
    assert_eq!(origin.hits("/missing"), 1 + 2);

    let https = start(&["--listen", ":0", "--origin", &origin.url(), "--viewer-scheme", "https"]);
    assert_eq!(c.get(format!("{}/missing", https.url)).send().await.unwrap().status(), 404);
    let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn")).args(["--viewer-scheme", "ftp"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--viewer-scheme"));
}
