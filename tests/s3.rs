//! S3 origins against a real S3 server (SeaweedFS from `.ci/s3.sh`):
//! public and private buckets, wrong keys, both URL styles, origin path,
//! awkward keys, traversal attempts, error bodies, failover to S3.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::s3::{S3Env, s3_env};
use support::{cache_status, client, eventually, start_proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_cdn::{AllowedMethods, CacheBehavior, CdnLayer, Distribution, Origin, OriginGroup, S3Credentials, S3Origin};

fn layer(bucket: S3Origin) -> CdnLayer {
    CdnLayer::builder()
        .distribution(
            Distribution::new("s3")
                .origin("bucket", Origin::s3(bucket))
                .default_behavior(CacheBehavior::default_for("bucket").allowed_methods(AllowedMethods::All)),
        )
        .build()
        .unwrap()
}

struct Got {
    status: u16,
    cache_status: String,
    content_type: String,
    body: String,
}

async fn get(edge: SocketAddr, path: &str) -> Got {
    let r = client().get(format!("http://{edge}{path}")).send().await.unwrap();
    Got {
        status: r.status().as_u16(),
        cache_status: cache_status(&r),
        content_type: r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default(),
        body: r.text().await.unwrap(),
    }
}

/// Sends a request line as written (reqwest would normalise `..` away).
async fn raw_get(edge: SocketAddr, target: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(edge).await.unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nHost: s3.test\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

fn assert_no_xml(g: &Got) {
    assert!(!g.body.contains("<?xml") && !g.body.contains("<Error>"), "{:?}", g.body);
    assert!(g.content_type.starts_with("text/plain"), "{:?}", g.content_type);
}

#[tokio::test]
async fn a_public_object_is_fetched_anonymously_and_cached() {
    let e = s3_env();
    for bucket in [e.path_style(&e.public), e.virtual_hosted(&e.public)] {
        let edge = start_proxy(layer(bucket)).await;
        let first = get(edge, "/hello.txt").await;
        assert_eq!((first.status, first.body.as_str()), (200, "hello from s3\n"));
        assert!(first.cache_status.contains("stored"), "{}", first.cache_status);
        let second = get(edge, "/hello.txt").await;
        assert!(second.cache_status.contains("hit"), "{}", second.cache_status);
        assert_eq!(second.body, first.body);
    }
}

#[tokio::test]
async fn a_private_object_needs_the_right_keys_in_both_url_styles() {
    let e = s3_env();
    for bucket in [e.path_style(&e.private), e.virtual_hosted(&e.private)] {
        let edge = start_proxy(layer(bucket.credentials(e.keys()))).await;
        let g = get(edge, "/hello.txt").await;
        assert_eq!((g.status, g.body.as_str()), (200, "hello from s3\n"));
    }
    let anonymous = start_proxy(layer(e.path_style(&e.private))).await;
    let g = get(anonymous, "/hello.txt").await;
    assert_eq!(g.status, 403);
    assert_no_xml(&g);
}

#[tokio::test]
async fn a_wrong_secret_gives_a_short_uncached_403_or_404() {
    let e = s3_env();
    let wrong = S3Credentials::from_keys(&e.access_key_id, "not-the-secret");
    for (as_404, status) in [(false, 403), (true, 404)] {
        let bucket = e.path_style(&e.private).credentials(wrong.clone()).forbidden_as_not_found(as_404);
        let l = layer(bucket);
        let edge = start_proxy(l.clone()).await;
        for _ in 0..2 {
            let g = get(edge, "/hello.txt").await;
            assert_eq!(g.status, status);
            assert_no_xml(&g);
            assert!(g.cache_status.contains("fwd=uri-miss"), "{}", g.cache_status);
            assert!(!g.cache_status.contains("stored"), "{}", g.cache_status);
        }
        assert!(l.cache().is_empty());
    }
}

#[tokio::test]
async fn missing_objects_are_404_without_the_xml() {
    let e = s3_env();
    let edge = start_proxy(layer(e.path_style(&e.public))).await;
    let g = get(edge, "/no/such/object.txt").await;
    assert_eq!(g.status, 404);
    assert_no_xml(&g);
    assert_eq!(g.body, "404 Not Found\n");
}

#[tokio::test]
async fn the_origin_path_prefixes_every_key() {
    let e = s3_env();
    let bucket = e.path_style(&e.private).credentials(e.keys()).origin_path("/prefix/");
    let edge = start_proxy(layer(bucket)).await;
    let g = get(edge, "/inside.txt").await;
    assert_eq!((g.status, g.body.as_str()), (200, "inside prefix\n"));
    let g = get(edge, "/hello.txt").await;
    assert_eq!(g.status, 404, "prefix/hello.txt does not exist");
    assert_no_xml(&g);
}

#[tokio::test]
async fn keys_with_spaces_unicode_and_plus_share_one_entry_per_object() {
    let e = s3_env();
    for bucket in [e.path_style(&e.private).credentials(e.keys()), e.virtual_hosted(&e.public)] {
        let l = layer(bucket);
        let edge = start_proxy(l.clone()).await;
        let cases = [
            ("/dir/space%20key.txt", "space key\n"),
            ("/dir/%C3%BCn%C3%AF%C2%A9%C3%B8d%C3%A9.txt", "unicode key\n"),
            ("/dir/a+b.txt", "plus key\n"),
        ];
        for (path, body) in cases {
            let g = get(edge, path).await;
            assert_eq!((g.status, g.body.as_str()), (200, body), "{path}");
        }
        assert!(eventually(|| l.cache().len() == 3).await);
        // Other spellings of the same objects are hits.
        for path in ["/dir/a%2Bb.txt", "/dir/a%2bb.txt", "/dir/%C3%BCn%C3%AF%C2%A9%C3%B8d%C3%A9.txt"] {
            let g = get(edge, path).await;
            assert!(g.cache_status.contains("hit"), "{path}: {}", g.cache_status);
        }
    }
}

#[tokio::test]
async fn traversal_attempts_never_reach_s3() {
    let e = s3_env();
    // With origin path `prefix`, `/../hello.txt` would name `hello.txt`.
    let bucket = e.path_style(&e.private).credentials(e.keys()).origin_path("/prefix");
    let edge = start_proxy(layer(bucket)).await;
    for target in [
        "/../hello.txt",
        "/%2e%2e/hello.txt",
        "/x/%2E%2E/%2e%2e/hello.txt",
        "/..%2Fhello.txt",
        "/a%5C..%5Chello.txt",
        "/a%00b",
    ] {
        let resp = raw_get(edge, target).await;
        assert!(resp.starts_with("HTTP/1.1 400"), "{target}: {resp}");
        assert!(resp.contains("400 Bad Request: invalid"), "{target}: {resp}");
    }
    let root = raw_get(edge, "/").await;
    assert!(root.starts_with("HTTP/1.1 404"), "{root}");
}

#[tokio::test]
async fn only_get_and_head_reach_s3_and_ranges_pass_through() {
    let e = s3_env();
    let edge = start_proxy(layer(e.path_style(&e.private).credentials(e.keys()))).await;
    let c = client();
    let r = c.put(format!("http://{edge}/hello.txt")).body("overwrite").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = c.get(format!("http://{edge}/hello.txt")).header("range", "bytes=0-4").send().await.unwrap();
    // A range miss is served from a stored slice of the object (or, where
    // the origin does not answer ranges, from the whole object, stored).
    assert_eq!(r.status(), 206);
    assert!(cache_status(&r).contains("stored"), "{}", cache_status(&r));
    assert_eq!(r.headers()["content-range"], "bytes 0-4/14");
    assert_eq!(r.text().await.unwrap(), "hello");
    let r = c.head(format!("http://{edge}/hello.txt")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "14");
}

#[tokio::test]
async fn a_dead_primary_fails_over_to_s3() {
    let e = s3_env();
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("d")
                .origin("web", Origin::http(format!("http://{dead}")).connect_timeout(Duration::from_secs(2)))
                .origin("bucket", Origin::s3(e.path_style(&e.public)))
                .origin_group("web-then-s3", OriginGroup::new("web", "bucket"))
                .default_behavior(CacheBehavior::default_for("web-then-s3")),
        )
        .build()
        .unwrap();
    let edge = start_proxy(layer).await;
    let g = get(edge, "/dir/a+b.txt").await;
    assert_eq!((g.status, g.body.as_str()), (200, "plus key\n"));
    assert!(g.cache_status.contains("stored"), "{}", g.cache_status);
}

/// The same model from a TOML file through the real binary.
#[tokio::test]
async fn the_binary_serves_s3_from_a_config_file() {
    let e: S3Env = s3_env();
    let dir = tempfile::Builder::new().prefix("tower-cdn-s3-").tempdir().unwrap();
    let file = dir.path().join("cdn.toml");
    std::fs::write(
        &file,
        format!(
            r#"
listen = "127.0.0.1:0"
[[distributions]]
id = "assets"
default_root_object = "hello.txt"
[distributions.origins.private]
kind = "s3"
bucket = "{bucket}"
region = "{region}"
endpoint = "{endpoint}"
path_style = true
credentials = "env"
forbidden_as_not_found = true
[distributions.default_behavior]
origin = "private"
"#,
            bucket = e.private,
            region = e.region,
            endpoint = e.endpoint,
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tower-cdn"))
        .arg("--config")
        .arg(&file)
        .env("AWS_ACCESS_KEY_ID", &e.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &e.secret_access_key)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let r = client().get(format!("{url}/")).send().await.unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    let missing = client().get(format!("{url}/nope")).send().await.unwrap().status();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((status.as_u16(), body.as_str()), (200, "hello from s3\n"));
    assert_eq!(missing, 404);
}

#[tokio::test]
async fn an_error_the_edge_builds_is_not_stored_under_a_minimum_ttl() {
    let e = s3_env();
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("s3").origin("bucket", Origin::s3(e.path_style(&e.public))).default_behavior(
                CacheBehavior::default_for("bucket")
                    .cache_policy(tower_cdn::CachePolicy::new().min_ttl(Duration::from_secs(3600))),
            ),
        )
        .build()
        .unwrap();
    let cache = layer.cache();
    let edge = start_proxy(layer).await;
    for _ in 0..2 {
        let g = get(edge, "/not-yet-uploaded.txt").await;
        assert_eq!(g.status, 404);
        assert!(!g.cache_status.contains("hit") && !g.cache_status.contains("stored"), "{}", g.cache_status);
    }
    assert!(cache.is_empty());
    // The objects S3 has are still kept for at least the minimum TTL.
    let g = get(edge, "/hello.txt").await;
    assert!(g.cache_status.contains("stored"), "{}", g.cache_status);
}

#[test]
fn s3_errors_are_logged_with_their_code() {
    let e = s3_env();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cdn.toml");
    std::fs::write(
        &file,
        format!(
            "[[distributions]]\nid = \"d\"\n[distributions.origins.priv]\nkind = \"s3\"\nbucket = \"{}\"\nendpoint = \"{}\"\npath_style = true\nregion = \"{}\"\ncredentials = {{ access_key_id = \"{}\", secret_access_key = \"wrong\" }}\n[distributions.default_behavior]\norigin = \"priv\"\n",
            e.private, e.endpoint, e.region, e.access_key_id
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tower-cdn"))
        .args(["--listen", "127.0.0.1:0", "--config", file.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async { client().get(format!("{url}/hello.txt")).send().await.unwrap().status() });
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status, 403);
    let line = err.lines().find(|l| l.contains("origin request failed")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("origin=priv") && line.contains("S3 answered 403"), "{line}");
    assert!(line.contains("s3_error=") && !line.contains("s3_error=-") && !line.contains("wrong"), "{line}");
}
