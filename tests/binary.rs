//! The dev proxy binary, driven as a user scripts it.

mod support;

use std::process::Command;

use support::proxy::Proxy;
use support::{Origin, Reply, cache_status, client, x_cache};

#[tokio::test]
async fn demo_origin_shows_miss_then_hit() {
    let proxy = Proxy::start(["--listen", "127.0.0.1:0"]);
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
    let proxy =
        Proxy::start(["--listen", ":0", "--origin", &origin.url(), "--capacity", "16MiB", "--default-ttl", "1h"]);
    let c = client();
    for _ in 0..3 {
        let r = c.get(format!("{}/x", proxy.url)).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "from origin");
    }
    assert_eq!(origin.hits("/x"), 1);
}

#[tokio::test]
async fn accept_threads_share_one_cache_and_stop_on_sigterm() {
    let origin = Origin::start().await;
    origin.route("/x", Reply::ok("shared").header("cache-control", "max-age=30"));
    origin.route(
        "/slow",
        Reply::ok("slow").header("cache-control", "max-age=30").head_delay(std::time::Duration::from_millis(300)),
    );
    let mut proxy = Proxy::start(["--listen", ":0", "--origin", &origin.url(), "--accept-threads", "3"]);
    client(); // installs the TLS provider reqwest needs
    // New connections (no pooling) land on whichever thread's listener the
    // kernel picks; one cache answers them all.
    for _ in 0..24 {
        let c = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        let r = c.get(format!("{}/x", proxy.url)).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "shared");
    }
    assert_eq!(origin.hits("/x"), 1);
    // Concurrent misses on several threads make one fetch.
    let cold: Vec<_> = (0..12)
        .map(|_| {
            let url = format!("{}/slow", proxy.url);
            tokio::spawn(async move {
                let c = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
                c.get(url).send().await.unwrap().text().await.unwrap()
            })
        })
        .collect();
    for t in cold {
        assert_eq!(t.await.unwrap(), "slow");
    }
    assert_eq!(origin.hits("/slow"), 1);
    // SIGTERM: every thread stops, and the process exits 0.
    Command::new("kill").args(["-TERM", &proxy.child.id().to_string()]).status().unwrap();
    let mut exited = None;
    for _ in 0..200 {
        if let Some(status) = proxy.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(exited.is_some_and(|s| s.success()), "{exited:?}");
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
    let cached = Proxy::start(["--listen", ":0", "--origin", &origin.url()]);
    // 0s: only as long as the origin says (it says nothing).
    let uncached = Proxy::start(["--listen", ":0", "--origin", &origin.url(), "--error-caching-min-ttl", "0s"]);
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

    let https = Proxy::start(["--listen", ":0", "--origin", &origin.url(), "--viewer-scheme", "https"]);
    assert_eq!(c.get(format!("{}/missing", https.url)).send().await.unwrap().status(), 404);
    let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn")).args(["--viewer-scheme", "ftp"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--viewer-scheme"));
}

#[tokio::test]
async fn stale_windows_have_flags_and_file_settings() {
    let origin = Origin::start().await;
    // Stored (it has a validator) but stale at once: every reuse asks the origin.
    let fresh_then_failing = |path: &str| {
        origin.route(path, Reply::ok("v1").header("cache-control", "max-age=0").header("etag", "\"v1\""));
    };
    let dir = tempfile::Builder::new().prefix("tower-cdn-stale-").tempdir().unwrap();
    let file = dir.path().join("cdn.toml");
    std::fs::write(&file, format!("stale_if_error = \"1h\"\n[[distributions]]\nid = \"d\"\n[distributions.origins.o]\nkind = \"http\"\nurl = \"{}\"\n[distributions.default_behavior]\norigin = \"o\"\n", origin.url())).unwrap();
    let by_flag = Proxy::start(["--listen", ":0", "--origin", &origin.url(), "--stale-if-error", "1h"]);
    let by_file = Proxy::start(["--listen", ":0", "--config", file.to_str().unwrap()]);
    let default = Proxy::start(["--listen", ":0", "--origin", &origin.url()]);
    let c = client();
    for (i, proxy) in [&by_flag, &by_file, &default].into_iter().enumerate() {
        let path = format!("/s{i}");
        fresh_then_failing(&path);
        let r = c.get(format!("{}{path}", proxy.url)).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "v1");
        origin.route(&path, Reply::ok("boom").status(500));
        let r = c.get(format!("{}{path}", proxy.url)).send().await.unwrap();
        let (status, cs) = (r.status(), cache_status(&r));
        let body = r.text().await.unwrap();
        if i < 2 {
            assert_eq!((status.as_u16(), body.as_str()), (200, "v1"), "stale-if-error serves the stored copy: {cs}");
        } else {
            assert_eq!(status, 500, "by default a 5xx reaches the client (RFC 9111 4.2.4): {cs}");
        }
    }

    // The origin gone: stale by default (24 h), not with 0s. Its own
    // origin, closing every connection, so none is left in a pool.
    let doomed = Origin::start().await;
    let reply = Reply::ok("v1").header("cache-control", "max-age=0").header("etag", "\"v1\"");
    doomed.route("/gone", reply.header("connection", "close"));
    let default = Proxy::start(["--listen", ":0", "--origin", &doomed.url()]);
    let off = Proxy::start(["--listen", ":0", "--origin", &doomed.url(), "--stale-if-unreachable", "0s"]);
    for proxy in [&default, &off] {
        assert_eq!(c.get(format!("{}/gone", proxy.url)).send().await.unwrap().text().await.unwrap(), "v1");
    }
    doomed.stop();
    let addr = doomed.url().trim_start_matches("http://").to_owned();
    for _ in 0..500 {
        if std::net::TcpStream::connect(&addr).is_err() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let r = c.get(format!("{}/gone", default.url)).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "v1");
    let r = c.get(format!("{}/gone", off.url)).send().await.unwrap();
    assert_eq!(r.status(), 502);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Descriptors the process holds (Linux).
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[tokio::test]
async fn each_client_connection_costs_one_descriptor() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let origin = Origin::start().await;
    origin.route("/k", Reply::ok("kept").header("cache-control", "max-age=600"));
    let proxy = Proxy::start(["--listen", "127.0.0.1:0", "--origin", &origin.url()]);
    let addr = proxy.url.trim_start_matches("http://").to_owned();
    let c = client();
    // The origin connection pool and the cache's fill are set up first.
    let _ = c.get(format!("{}/k", proxy.url)).send().await.unwrap().text().await.unwrap();
    let pid = proxy.child.id();
    let before = open_fds(pid);
    let mut conns = Vec::new();
    for _ in 0..40 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(format!("GET /k HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.ends_with(b"kept") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        conns.push(s);
    }
    // 40 idle keep-alive connections, each after a hit: 40 descriptors (an
    // earlier version held two per connection).
    let during = open_fds(pid);
    assert!(during >= before + 40 && during <= before + 44, "{before} -> {during} for 40 connections");

    // A keep-alive connection that starts a second request head and stops
    // still gets its 408 (the socket comes back from hyper for it), and
    // one left idle after its response is closed without one.
    let slow = &mut conns[0];
    slow.write_all(format!("GET /k HTTP/1.1\r\nhost: {addr}\r\n").as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection was not closed");
    assert!(got.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&got));
    let idle = &mut conns[1];
    let mut got = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), idle.read_to_end(&mut got)).await;
    assert!(got.is_empty(), "an idle connection got {}", String::from_utf8_lossy(&got));
}

#[test]
fn a_port_in_use_is_an_error_with_or_without_accept_threads() {
    let first = Proxy::start(["--listen", "127.0.0.1:0"]);
    let addr = first.url.trim_start_matches("http://").to_owned();
    let shared = Proxy::start(["--listen", "127.0.0.1:0", "--accept-threads", "2"]);
    let shared_addr = shared.url.trim_start_matches("http://").to_owned();
    // A second instance on either port (plain, or with threads of its own)
    // must fail, not quietly take a share of the first one's connections.
    for (taken, extra) in [(&addr, None), (&addr, Some("2")), (&shared_addr, None), (&shared_addr, Some("2"))] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tower-cdn"));
        cmd.args(["--listen", taken]);
        if let Some(n) = extra {
            cmd.args(["--accept-threads", n]);
        }
        let mut child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        // Bounded: an instance that did bind would serve until killed.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let running = child.try_wait().unwrap().is_none();
        if running {
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!running, "{taken} {extra:?}: a second instance is serving the same port");
        assert_eq!(out.status.code(), Some(1), "{taken} {extra:?}: {err}");
        assert!(err.contains(&format!("cannot listen on {taken}")), "{err}");
    }
}
