//! The disk tier on a real directory: restarts, crashes, damaged files,
//! purges across restarts, a size cap, a failing disk, and large objects
//! that one origin fetch serves to every concurrent reader.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use support::{Origin, Reply, cache_status, client, eventually, start_proxy};
use tokio::sync::Notify;
use tower_cdn::{CdnLayer, DiskConfig, Origin as OriginCfg};

/// Every entry file under the tier's directory (not the temporary ones).
fn entry_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(dir.join("v1/objects")) else { return out };
    for d in dirs.flatten() {
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            out.push(f.path());
        }
    }
    out.sort();
    out
}

fn tmp_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("v1/tmp")).map_or(0, |d| d.count())
}

/// Whether a write in progress has at least `bytes` in its temporary file.
fn tmp_file_reached(dir: &Path, bytes: u64) -> bool {
    std::fs::read_dir(dir.join("v1/tmp"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|f| f.metadata().is_ok_and(|m| m.len() >= bytes))
}

/// The entry file whose body starts with `prefix`.
fn file_starting_with(dir: &Path, prefix: &[u8]) -> PathBuf {
    entry_files(dir)
        .into_iter()
        .find(|p| std::fs::read(p).is_ok_and(|b| b.starts_with(prefix)))
        .unwrap_or_else(|| panic!("no entry file starts with {:?}", String::from_utf8_lossy(prefix)))
}

fn layer(origin: &Origin, dir: &Path, capacity: u64) -> CdnLayer {
    CdnLayer::builder()
        .origin(OriginCfg::http(origin.url()))
        .standalone(true)
        .capacity_bytes(64 << 20)
        .max_entry_bytes(4 << 20)
        .disk(DiskConfig::new(dir).capacity_bytes(capacity))
        .build()
        .unwrap()
}

/// The key holds the host: every layer is asked as `disk.test`, whatever
/// port it listens on.
const HOST: &str = "disk.test";

async fn get(url: &str) -> (u16, String, Bytes) {
    let r = client().get(url).header("host", HOST).send().await.unwrap();
    let status = r.status().as_u16();
    let cs = cache_status(&r);
    (status, cs, r.bytes().await.unwrap())
}

/// Waits until `n` entry files are committed.
async fn committed(dir: &Path, n: usize) {
    assert!(eventually(|| entry_files(dir).len() >= n).await, "{} of {n} entries on disk", entry_files(dir).len());
}

#[tokio::test]
async fn a_new_layer_on_the_same_directory_serves_old_entries_as_hits() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start().await;
    origin.route("/a", Reply::ok("persisted").header("cache-control", "max-age=3600"));
    origin.route("/v", Reply::ok("varies").header("cache-control", "max-age=3600").header("vary", "accept-language"));
    {
        let addr = start_proxy(layer(&origin, dir.path(), 64 << 20)).await;
        let (_, cs, body) = get(&format!("http://{addr}/a")).await;
        assert!(cs.contains("fwd=uri-miss"), "{cs}");
        assert_eq!(body, "persisted");
        let r = client()
            .get(format!("http://{addr}/v"))
            .header("host", HOST)
            .header("accept-language", "fr")
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap(), "varies");
        // The entry, the variant and its marker.
        committed(dir.path(), 3).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let layer = layer(&origin, dir.path(), 64 << 20);
    let addr = start_proxy(layer.clone()).await;
    let r = client().get(format!("http://{addr}/a")).header("host", HOST).send().await.unwrap();
    let cs = cache_status(&r);
    assert!(cs.contains("hit") && cs.contains("detail=disk"), "{cs}");
    let age: u64 = r.headers()["age"].to_str().unwrap().parse().unwrap();
    assert!(age >= 1, "Age counts the time since the origin answered, across the restart: {age}");
    assert_eq!(r.bytes().await.unwrap(), "persisted");
    // Admitted to memory: the next one is a memory hit.
    let (_, cs, _) = get(&format!("http://{addr}/a")).await;
    assert!(cs.contains("hit") && !cs.contains("detail"), "{cs}");
    // A response with `Vary` is found through its marker. (The proxy's
    // default policy does not forward Accept-Language, so the origin's
    // answer serves every language, as in memory.)
    let r = client()
        .get(format!("http://{addr}/v"))
        .header("host", HOST)
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap();
    assert!(cache_status(&r).contains("detail=disk"), "{}", cache_status(&r));
    assert_eq!(origin.hits("/a"), 1);
    assert_eq!(origin.hits("/v"), 1);
    assert!(layer.cache().stats().disk_hits >= 2);
    assert!(layer.cache().stats().disk_served >= 2, "responses served from disk are counted");
}

#[tokio::test]
async fn damaged_files_are_misses_deleted_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start().await;
    let bodies = ["flip-one-body-byte", "cut-short-by-a-crash", "another-keys-file", "left-alone-entry"];
    for b in bodies {
        origin.route(&format!("/{b}"), Reply::ok(b.repeat(100)).header("cache-control", "max-age=3600"));
    }
    {
        let addr = start_proxy(layer(&origin, dir.path(), 64 << 20)).await;
        for b in bodies {
            assert_eq!(get(&format!("http://{addr}/{b}")).await.2, b.repeat(100));
        }
        committed(dir.path(), 4).await;
    }
    let flip = file_starting_with(dir.path(), b"flip");
    let mut bytes = std::fs::read(&flip).unwrap();
    bytes[5] ^= 1;
    std::fs::write(&flip, bytes).unwrap();
    let cut = file_starting_with(dir.path(), b"cut");
    let len = std::fs::metadata(&cut).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&cut).unwrap().set_len(len - 7).unwrap();
    // A whole, valid file under another key's name.
    let other = file_starting_with(dir.path(), b"another");
    std::fs::copy(file_starting_with(dir.path(), b"left"), &other).unwrap();

    let layer = layer(&origin, dir.path(), 64 << 20);
    let addr = start_proxy(layer.clone()).await;
    for b in bodies {
        let (status, cs, body) = get(&format!("http://{addr}/{b}")).await;
        assert_eq!(status, 200);
        assert_eq!(body, b.repeat(100), "{b}: the right bytes, whatever the disk held");
        if b.starts_with("left") {
            assert!(cs.contains("detail=disk"), "{b}: {cs}");
        } else {
            assert!(cs.contains("fwd="), "{b} was served from a bad file: {cs}");
        }
    }
    assert!(eventually(|| layer.cache().stats().disk_corrupt >= 3).await, "{:?}", layer.cache().stats());
    assert_eq!(origin.hits("/left-alone-entry"), 1);
}

#[tokio::test]
async fn purges_reach_the_disk_and_stay_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start().await;
    for path in ["/p/1", "/p/2", "/keep", "/tagged", "/later"] {
        let mut reply = Reply::ok(format!("body of {path}")).header("cache-control", "max-age=3600");
        if path == "/tagged" {
            reply = reply.header("surrogate-key", "red blue");
        }
        origin.route(path, reply);
    }
    {
        let layer = layer(&origin, dir.path(), 64 << 20);
        let addr = start_proxy(layer.clone()).await;
        for path in ["/p/1", "/p/2", "/keep", "/tagged", "/later"] {
            get(&format!("http://{addr}{path}")).await;
        }
        committed(dir.path(), 5).await;
        // The layer goes away right after: the purge must not depend on
        // its deletions having run.
        layer.cache().invalidate(["/p/*"]);
        layer.cache().invalidate_tags(["blue"]);
    }
    let first = layer(&origin, dir.path(), 64 << 20);
    let addr = start_proxy(first.clone()).await;
    for (path, stored) in [("/p/1", false), ("/p/2", false), ("/tagged", false), ("/keep", true)] {
        let (_, cs, body) = get(&format!("http://{addr}{path}")).await;
        assert_eq!(body, format!("body of {path}"));
        assert_eq!(cs.contains("detail=disk"), stored, "{path}: {cs}");
    }
    // An entry only on disk (memory is empty after the restart) is purged too.
    first.cache().invalidate(["/later"]).wait().await;
    let (_, cs, _) = get(&format!("http://{addr}/later")).await;
    assert!(cs.contains("fwd="), "{cs}");
    assert_eq!(origin.hits("/p/1"), 2);
    assert_eq!(origin.hits("/keep"), 1);
    assert_eq!(origin.hits("/later"), 2);
}

#[tokio::test]
async fn the_directory_stays_under_its_capacity_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start().await;
    let capacity = 1 << 20;
    let layer = layer(&origin, dir.path(), capacity);
    let addr = start_proxy(layer.clone()).await;
    for i in 0..30 {
        origin.route(
            &format!("/o{i}"),
            Reply::ok(vec![b'a' + (i % 26) as u8; 100 * 1024]).header("cache-control", "max-age=3600"),
        );
        let (status, _, body) = get(&format!("http://{addr}/o{i}")).await;
        assert_eq!(status, 200);
        assert_eq!(body.len(), 100 * 1024);
    }
    assert!(eventually(|| layer.cache().stats().disk_writes == 30).await, "{:?}", layer.cache().stats());
    let stats = layer.cache().stats();
    assert!(stats.disk_evictions > 0, "{stats:?}");
    assert!(stats.disk_bytes <= capacity, "{stats:?}");
    let on_disk: u64 = entry_files(dir.path()).iter().map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum();
    assert!(
        eventually(|| entry_files(dir.path()).iter().map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum::<u64>()
            <= capacity)
        .await,
        "{on_disk} bytes on disk"
    );
}

#[test]
fn a_directory_that_cannot_be_used_is_named_before_the_server_starts() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let err = CdnLayer::builder()
        .origin(OriginCfg::http("http://127.0.0.1:9"))
        .disk(DiskConfig::new(file.path()))
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "disk.dir");
    assert!(err.message().contains("not a directory"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn"))
        .args(["--listen", "127.0.0.1:0", "--cache-dir"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cache-dir"), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn"))
        .args(["--listen", "127.0.0.1:0", "--disk-capacity", "1MiB", "--disk-max-object-size", "1MiB", "--cache-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--disk-max-object-size") && err.contains("--disk-capacity"), "{err}");
}

// ---- the dev proxy, as a process ----

struct Proxy {
    child: Child,
    url: String,
}

impl Proxy {
    fn start(shell_prefix: &str, args: &[&str]) -> Proxy {
        let bin = env!("CARGO_BIN_EXE_tower-cdn");
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("{shell_prefix} exec '{bin}' {}", quoted.join(" ")))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tower-cdn");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line {line:?}")).to_owned();
        Proxy { child, url }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Peak and current resident memory, in KiB.
    fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.kill9();
    }
}

#[tokio::test]
async fn the_dev_proxy_keeps_its_cache_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let origin = Origin::start().await;
    origin.route("/page", Reply::ok("kept").header("cache-control", "max-age=600"));
    let mut proxy = Proxy::start("", &["--listen", "127.0.0.1:0", "--origin", &origin.url(), "--cache-dir", d]);
    assert_eq!(get(&format!("{}/page", proxy.url)).await.2, "kept");
    committed(dir.path(), 1).await;
    proxy.kill9();
    let proxy = Proxy::start("", &["--listen", "127.0.0.1:0", "--origin", &origin.url(), "--cache-dir", d]);
    // A new port: the same site (the key holds the host the client names).
    let (_, cs, body) = get(&format!("{}/page", proxy.url)).await;
    assert!(cs.contains("detail=disk"), "{cs}");
    assert_eq!(body, "kept");
    assert_eq!(origin.hits("/page"), 1);
}

#[tokio::test]
async fn kill_9_in_the_middle_of_a_fill_leaves_no_torn_entry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let origin = Origin::start().await;
    let body: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 253) as u8).collect();
    let gate = Arc::new(Notify::new());
    origin.route(
        "/big",
        Reply::ok(body.clone())
            .header("cache-control", "max-age=600")
            .chunks(vec![64 * 1024])
            .gate_after(5 << 20, Arc::clone(&gate)),
    );
    let mut proxy = Proxy::start("", &["--listen", "127.0.0.1:0", "--origin", &origin.url(), "--cache-dir", d]);
    let url = format!("{}/big", proxy.url);
    let reader = tokio::spawn(async move {
        let r = client().get(url).send().await.unwrap();
        let mut stream = r.bytes_stream();
        while let Some(Ok(_)) = stream.next().await {}
    });
    // Part of the body is in the temporary file when the process dies.
    assert!(eventually(|| tmp_file_reached(dir.path(), (1 << 20) + 1)).await, "the fill never reached the disk");
    proxy.kill9();
    let _ = reader.await;
    assert!(entry_files(dir.path()).is_empty(), "a partial body was committed: {:?}", entry_files(dir.path()));
    gate.notify_one();

    let proxy = Proxy::start("", &["--listen", "127.0.0.1:0", "--origin", &origin.url(), "--cache-dir", d]);
    assert_eq!(tmp_files(dir.path()), 0, "what the crash left in tmp/ is removed at start");
    let (_, cs, got) = get(&format!("{}/big", proxy.url)).await;
    assert!(cs.contains("fwd="), "{cs}");
    assert!(got == body, "the body after the crash is the origin's, whole");
}

#[tokio::test]
async fn a_disk_that_refuses_writes_degrades_to_memory_and_the_origin() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let origin = Origin::start().await;
    origin.route("/big", Reply::ok(vec![b'x'; 512 * 1024]).header("cache-control", "max-age=600"));
    origin.route("/small", Reply::ok("small").header("cache-control", "max-age=600"));
    // Files may not grow past 64 KiB (EFBIG, as a full disk gives ENOSPC).
    let admin_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let admin = format!("127.0.0.1:{admin_port}");
    let proxy = Proxy::start(
        "trap '' XFSZ; ulimit -f 64;",
        &["--listen", "127.0.0.1:0", "--origin", &origin.url(), "--cache-dir", d, "--admin", &admin],
    );
    for _ in 0..3 {
        let (status, _, body) = get(&format!("{}/big", proxy.url)).await;
        assert_eq!(status, 200);
        assert_eq!(body.len(), 512 * 1024);
    }
    assert_eq!(get(&format!("{}/small", proxy.url)).await.2, "small");
    assert_eq!(origin.hits("/big"), 1, "memory still serves");
    committed(dir.path(), 1).await;
    let metrics =
        || async { client().get(format!("http://{admin}/metrics")).send().await.unwrap().text().await.unwrap() };
    let mut text = metrics().await;
    for _ in 0..50 {
        if text.lines().any(|l| l.starts_with("tower_cdn_disk_errors_total ") && !l.ends_with(" 0")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        text = metrics().await;
    }
    assert!(text.lines().any(|l| l.starts_with("tower_cdn_disk_errors_total ") && !l.ends_with(" 0")), "{text}");
    assert_eq!(entry_files(dir.path()).len(), 1, "only the small entry was written");
}

#[tokio::test]
async fn ten_cold_requests_for_a_200_mib_object_make_one_fetch_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let origin = Origin::start().await;
    let size = 200usize << 20;
    origin.route("/huge", Reply::ok(vec![b'h'; size]).header("cache-control", "max-age=600").chunks(vec![256 * 1024]));
    let proxy = Proxy::start(
        "",
        &["--listen", "127.0.0.1:0", "--origin", &origin.url(), "--cache-dir", d, "--capacity", "64MiB"],
    );
    // Warm the process (allocator, connection pools) before the baseline.
    assert_eq!(get(&format!("{}/warm", proxy.url)).await.0, 404);
    let (_, before) = proxy.rss_kib();
    let readers: Vec<_> = (0..10)
        .map(|_| {
            let url = format!("{}/huge", proxy.url);
            tokio::spawn(async move {
                let r = client().get(url).header("host", HOST).send().await.unwrap();
                let mut n = 0usize;
                let mut stream = r.bytes_stream();
                while let Some(chunk) = stream.next().await {
                    n += chunk.unwrap().len();
                }
                n
            })
        })
        .collect();
    for r in readers {
        assert_eq!(r.await.unwrap(), size);
    }
    let (peak, _) = proxy.rss_kib();
    assert_eq!(origin.hits("/huge"), 1, "one origin fetch for ten readers");
    assert!(peak.saturating_sub(before) < 32 * 1024, "RSS grew {} KiB", peak.saturating_sub(before));
    // Stored on disk: the next request is a disk hit.
    let (_, cs, body) = get(&format!("{}/huge", proxy.url)).await;
    assert!(cs.contains("detail=disk"), "{cs}");
    assert_eq!(body.len(), size);
    // A range of it is read from its own offset.
    let r = client()
        .get(format!("{}/huge", proxy.url))
        .header("host", HOST)
        .header("range", "bytes=-100")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], format!("bytes {}-{}/{size}", size - 100, size - 1).as_str());
    assert_eq!(r.bytes().await.unwrap(), vec![b'h'; 100]);
    assert_eq!(origin.hits("/huge"), 1);
}

#[tokio::test]
async fn a_request_that_arrives_after_a_large_fill_started_follows_it_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let origin = Origin::start().await;
    let body: Vec<u8> = (0..24u32 << 20).map(|i| (i % 251) as u8).collect();
    let gate = Arc::new(Notify::new());
    origin.route(
        "/movie",
        Reply::ok(body.clone())
            .header("cache-control", "max-age=600")
            .chunks(vec![128 * 1024])
            .gate_after(12 << 20, Arc::clone(&gate)),
    );
    let proxy = Proxy::start(
        "",
        &["--listen", "127.0.0.1:0", "--origin", &origin.url(), "--cache-dir", d, "--capacity", "16MiB"],
    );
    let read_all = |url: String, range: Option<&'static str>| async move {
        let mut req = client().get(url).header("host", HOST);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let cs = cache_status(&r);
        let mut got = Vec::new();
        let mut stream = r.bytes_stream();
        while let Some(chunk) = stream.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        (status, cs, got)
    };
    let first = tokio::spawn(read_all(format!("{}/movie", proxy.url), None));
    // The fill is 12 MiB in, far past what memory keeps of its start.
    assert!(eventually(|| tmp_file_reached(dir.path(), 12 << 20)).await);
    let late = tokio::spawn(read_all(format!("{}/movie", proxy.url), None));
    let late_range = tokio::spawn(read_all(format!("{}/movie", proxy.url), Some("bytes=1000-1999")));
    tokio::time::sleep(Duration::from_millis(200)).await;
    gate.notify_one();
    let (_, _, got) = first.await.unwrap();
    assert!(got == body);
    let (status, cs, got) = late.await.unwrap();
    assert_eq!(status, 200);
    assert!(cs.contains("collapsed"), "{cs}");
    assert!(got == body, "the late reader gets every byte, in order");
    let (status, _, got) = late_range.await.unwrap();
    assert_eq!(status, 206);
    assert_eq!(got, body[1000..2000]);
    assert_eq!(origin.hits("/movie"), 1, "one origin fetch for all three");
}

#[tokio::test]
async fn without_a_disk_concurrent_requests_for_a_too_large_object_share_one_fetch() {
    let origin = Origin::start().await;
    let size = 40usize << 20;
    // The origin holds the body after its first chunk until every reader
    // has its response head: all five requests arrive during the fetch,
    // however slowly the machine runs (a fast fetch used to end before the
    // last request came, which then fetched again).
    let gate = Arc::new(Notify::new());
    origin.route(
        "/large",
        Reply::ok(vec![b'l'; size])
            .header("cache-control", "max-age=600")
            .chunks(vec![256 * 1024])
            .gate_after(256 * 1024, Arc::clone(&gate)),
    );
    let proxy = Proxy::start("", &["--listen", "127.0.0.1:0", "--origin", &origin.url(), "--max-object-size", "1MiB"]);
    let heads: Vec<_> = (0..5)
        .map(|_| {
            let url = format!("{}/large", proxy.url);
            tokio::spawn(async move { client().get(url).send().await.unwrap() })
        })
        .collect();
    let mut responses = Vec::new();
    for head in heads {
        responses.push(head.await.unwrap());
    }
    // One permit per fetch waiting at the gate: a second fetch, if any,
    // goes on too, and the count below says so.
    let opener = {
        let gate = Arc::clone(&gate);
        tokio::spawn(async move {
            loop {
                gate.notify_one();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    // The bodies are read at once: the fill goes at its readers' pace.
    let bodies: Vec<_> = responses
        .into_iter()
        .map(|r| tokio::spawn(async move { (cache_status(&r), r.bytes().await.unwrap().len()) }))
        .collect();
    for body in bodies {
        let (cs, len) = body.await.unwrap();
        assert_eq!(len, size);
        assert!(cs.contains("detail=too-large") || cs.contains("too-large"), "{cs}");
    }
    opener.abort();
    assert_eq!(origin.hits("/large"), 1, "five readers, one fetch");
}

#[tokio::test]
async fn the_config_files_disk_section_is_used_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start().await;
    origin.route("/f", Reply::ok("from a file config").header("cache-control", "max-age=600"));
    let config = |disk: &str| {
        format!(
            "slice_size = \"2MiB\"\n[disk]\n{disk}\n\n[[distributions]]\nid = \"d\"\n[distributions.origins.o]\nkind = \"http\"\nurl = \"{}\"\n[distributions.default_behavior]\norigin = \"o\"\n",
            origin.url()
        )
    };
    // A relative directory is relative to the file.
    let file = dir.path().join("edge.toml");
    std::fs::write(&file, config("dir = \"cache\"\ncapacity = \"64MiB\"")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn")).arg("--check-config").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let proxy = Proxy::start("", &["--listen", "127.0.0.1:0", "--config", file.to_str().unwrap()]);
    assert_eq!(get(&format!("{}/f", proxy.url)).await.2, "from a file config");
    committed(&dir.path().join("cache"), 1).await;

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, config("dir = \"cache\"\ncapacity = \"1MiB\"\nmax_object_size = \"1MiB\"")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn")).arg("--check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("disk.max_object_size") && err.contains("disk.capacity"), "{err}");
    std::fs::write(&bad, config("capacity = \"1GiB\"")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tower-cdn")).arg("--check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dir"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn a_stale_disk_entry_is_revalidated_not_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start().await;
    let body = "x".repeat(300 * 1024);
    origin.route("/s", Reply::ok(body.clone()).header("cache-control", "max-age=1").header("etag", "\"e1\""));
    {
        let addr = start_proxy(layer(&origin, dir.path(), 64 << 20)).await;
        assert_eq!(get(&format!("http://{addr}/s")).await.2, body);
        committed(dir.path(), 1).await;
    }
    // The stored copy says max-age=1; the 304 says max-age=600, so the
    // freshened entry cannot go stale again before the second request
    // however slow the machine (with max-age=1 and Date's whole seconds it
    // could be fresh for a few milliseconds only).
    origin.route("/s", Reply::ok(body.clone()).header("cache-control", "max-age=600").header("etag", "\"e1\""));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let addr = start_proxy(layer(&origin, dir.path(), 64 << 20)).await;
    let (status, cs, got) = get(&format!("http://{addr}/s")).await;
    assert_eq!(status, 200);
    assert_eq!(got, body);
    assert!(cs.contains("fwd-status=304"), "the stale copy was revalidated: {cs}");
    let asked = origin.last_headers("/s").unwrap();
    assert_eq!(asked["if-none-match"], "\"e1\"");
    assert_eq!(origin.hits("/s"), 2);
    // Freshened in memory (and on disk): a hit.
    let (_, cs, _) = get(&format!("http://{addr}/s")).await;
    assert!(cs.contains("hit"), "{cs}");
    assert_eq!(origin.hits("/s"), 2);
}

#[tokio::test]
async fn an_older_layout_and_files_of_another_format_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    // What an older version might have left: another layout directory, and
    // files in this layout that are not entries of this format.
    std::fs::create_dir_all(dir.path().join("v0/objects/ab")).unwrap();
    std::fs::write(dir.path().join("v0/objects/ab/whatever"), b"old format").unwrap();
    std::fs::create_dir_all(dir.path().join("v1/objects/00")).unwrap();
    std::fs::write(dir.path().join("v1/objects/00/00000000000000000000000000000000"), b"TCDF not really").unwrap();
    std::fs::write(dir.path().join("v1/objects/00/not-a-hash"), b"stray").unwrap();
    let origin = Origin::start().await;
    origin.route("/n", Reply::ok("new").header("cache-control", "max-age=600"));
    let layer = layer(&origin, dir.path(), 64 << 20);
    let addr = start_proxy(layer.clone()).await;
    assert_eq!(get(&format!("http://{addr}/n")).await.2, "new");
    assert!(eventually(|| layer.cache().disk_loaded() == Some(true)).await);
    assert!(!dir.path().join("v1/objects/00/00000000000000000000000000000000").exists());
    assert!(!dir.path().join("v1/objects/00/not-a-hash").exists());
    assert!(dir.path().join("v0/objects/ab/whatever").exists(), "another version's tree is left alone");
    committed(dir.path(), 1).await;
}

#[tokio::test]
async fn the_scan_never_follows_a_symlink_or_waits_on_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("important.txt"), b"keep me").unwrap();
    std::fs::create_dir_all(dir.path().join("v1/objects/ee")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("v1/objects/ab")).unwrap();
    let fifo = dir.path().join("v1/objects/ee/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let origin = Origin::start().await;
    origin.route("/z", Reply::ok("z").header("cache-control", "max-age=600"));
    let layer = layer(&origin, dir.path(), 64 << 20);
    let addr = start_proxy(layer.clone()).await;
    assert!(eventually(|| layer.cache().disk_loaded() == Some(true)).await, "the scan finished");
    assert_eq!(get(&format!("http://{addr}/z")).await.2, "z");
    assert!(outside.path().join("important.txt").exists(), "nothing outside the cache is touched");
}

#[tokio::test]
async fn a_head_for_an_object_only_on_disk_is_answered_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start().await;
    origin.route("/big", Reply::ok(vec![b'b'; 6 << 20]).header("cache-control", "max-age=600"));
    let addr = start_proxy(layer(&origin, dir.path(), 64 << 20)).await;
    assert_eq!(get(&format!("http://{addr}/big")).await.2.len(), 6 << 20);
    committed(dir.path(), 1).await;
    let r = client().head(format!("http://{addr}/big")).header("host", HOST).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], (6u64 << 20).to_string().as_str());
    assert!(cache_status(&r).contains("detail=disk"), "{}", cache_status(&r));
    assert_eq!(origin.hits("/big"), 1);
}
