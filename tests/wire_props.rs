//! A differential property test at the wire: generated hostile viewer
//! requests (paths with `\`, `%5C`, `%2F`, dot segments, `;` parameters,
//! doubled slashes, odd framing, `Connection` lists; over HTTP/1.1 raw
//! bytes and HTTP/2 frames) go through the real dev proxy to a recording
//! origin, and what that origin framed off its socket must keep four
//! invariants:
//!
//! 1. the path the origin receives is `origin_path` + the keyed path, byte
//!    for byte: asking again for exactly what the origin received (minus
//!    `origin_path`) is a hit on the same entry, with no origin request;
//! 2. the framing the origin receives matches the content it receives (no
//!    GET/HEAD content, no `Content-Length` without its bytes);
//! 3. no byte of one viewer's request appears in another's upstream
//!    request (each viewer request carries its own marker);
//! 4. a request the signed behavior refuses never reaches the origin: no
//!    origin request, read as leniently as any origin could, names a path
//!    under `/private/`, and none climbs out of `origin_path`.
//!
//! The `wire` fuzz target (fuzz/) drives the same invariants from raw bytes.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use support::wire::{RecordingOrigin, echo_target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_cdn::auth::TrustedKeys;
use tower_cdn::{CacheBehavior, CdnLayer, Distribution, Origin};

const RSA_A_PUB: &str = include_str!("../src/auth/testdata/rsa_a_pub_spki.pem");
const ORIGIN_PATH: &str = "/public";

struct World {
    rt: tokio::runtime::Runtime,
    origin: RecordingOrigin,
    edge: SocketAddr,
}

fn world() -> World {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (origin, edge) = rt.block_on(async {
        let origin = RecordingOrigin::answering_first(Arc::new(echo_target)).await;
        let mut keys = TrustedKeys::new();
        keys.add_pem("KA", RSA_A_PUB).unwrap();
        let layer = CdnLayer::builder()
            .distribution(
                Distribution::new("d")
                    .origin("web", Origin::http(origin.url()).origin_path(ORIGIN_PATH))
                    .behavior(CacheBehavior::new("/private/*").origin("web").trusted_keys(keys))
                    .default_behavior(
                        CacheBehavior::default_for("web").allowed_methods(tower_cdn::AllowedMethods::All),
                    ),
            )
            .build()
            .unwrap();
        let edge = support::start_proxy(layer).await;
        (origin, edge)
    });
    World { rt, origin, edge }
}

/// Path pieces that origins, URL libraries and the cache may read apart.
fn segment() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a",
        "b",
        "private",
        "public",
        "%70rivate",
        ".",
        "..",
        "%2e",
        "%2E%2e",
        ".%2E",
        "..;",
        ";x=1",
        "a;v=1",
        "%2F",
        "%2f",
        "a%2Fb",
        "..%2F",
        "\\",
        "%5C",
        "%5c",
        "x\\..",
        "",
        "%00",
        "%0a",
        "%7f",
        "{",
        "^",
        "|",
        "~",
        "%7E",
        "x%",
        "%41",
        "%%",
        "%zz",
        "secret",
        "index.html",
        "'",
    ])
    .prop_map(str::to_owned)
}

fn path() -> impl Strategy<Value = String> {
    (prop::collection::vec((segment(), prop::bool::weighted(0.15)), 1..7), prop::bool::weighted(0.2)).prop_map(
        |(segs, trailing)| {
            let mut p = String::new();
            for (seg, double) in segs {
                p.push('/');
                if double {
                    p.push('/');
                }
                p.push_str(&seg);
            }
            if trailing {
                p.push('/');
            }
            p
        },
    )
}

#[derive(Debug, Clone)]
enum Framing {
    None,
    Length(usize),
    Chunked(usize),
    Both(usize),
    ZeroLength,
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        3 => Just(Framing::None),
        1 => (1usize..80).prop_map(Framing::Length),
        1 => (1usize..80).prop_map(Framing::Chunked),
        1 => (0usize..40).prop_map(Framing::Both),
        1 => Just(Framing::ZeroLength),
    ]
}

fn connection() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop::sample::select(vec![
            "keep-alive",
            "via",
            "cdn-loop",
            "x-forwarded-for",
            "x-request-id",
            "host",
            "content-length",
            "transfer-encoding",
            "x-m",
            "upgrade",
            "te",
        ])
        .prop_map(str::to_owned),
        0..4,
    )
}

#[derive(Debug, Clone)]
struct Viewer {
    method: &'static str,
    path: String,
    framing: Framing,
    connection: Vec<String>,
    forged: bool,
    h2: bool,
}

fn viewer() -> impl Strategy<Value = Viewer> {
    (
        prop::sample::select(vec!["GET", "GET", "GET", "HEAD", "POST", "DELETE", "OPTIONS"]),
        path(),
        framing(),
        connection(),
        any::<bool>(),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(method, path, framing, connection, forged, h2)| Viewer {
            method,
            path,
            framing,
            connection,
            forged,
            h2,
        })
}

/// The content a request declares, made of a smuggled request line so
/// that a desynchronised origin would show it as a request of its own.
fn content(n: usize, marker: &str) -> String {
    let base = format!("GET /smuggled-{marker} HTTP/1.1\r\nhost: a.test\r\nx-m: {marker}\r\n\r\n");
    base.chars().cycle().take(n).collect()
}

async fn send_h1(edge: SocketAddr, v: &Viewer, marker: &str) -> Option<String> {
    let mut head = format!("{} {}?m={marker} HTTP/1.1\r\nhost: a.test\r\nx-m: {marker}\r\n", v.method, v.path);
    let mut conn = vec!["close".to_owned()];
    conn.extend(v.connection.iter().cloned());
    head.push_str(&format!("connection: {}\r\n", conn.join(", ")));
    if v.forged {
        head.push_str(
            "x-forwarded-host: evil.example\r\nx-forwarded-for: 6.6.6.6\r\ncdn-loop: other\r\nvia: 1.0 other\r\n",
        );
    }
    let body = match v.framing {
        Framing::None => String::new(),
        Framing::ZeroLength => {
            head.push_str("content-length: 0\r\n");
            String::new()
        }
        Framing::Length(n) => {
            let c = content(n, marker);
            head.push_str(&format!("content-length: {}\r\n", c.len()));
            c
        }
        Framing::Chunked(n) => {
            let c = content(n, marker);
            head.push_str("transfer-encoding: chunked\r\n");
            format!("{:x}\r\n{c}\r\n0\r\n\r\n", c.len())
        }
        Framing::Both(n) => {
            let c = content(n, marker);
            head.push_str(&format!("content-length: {}\r\ntransfer-encoding: chunked\r\n", c.len() + 3));
            format!("{:x}\r\n{c}\r\n0\r\n\r\n", c.len())
        }
    };
    let mut s = TcpStream::connect(edge).await.ok()?;
    s.write_all(format!("{head}\r\n{body}").as_bytes()).await.ok()?;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    Some(String::from_utf8_lossy(&out).into_owned())
}

async fn send_h2(edge: SocketAddr, v: &Viewer, marker: &str) -> Option<String> {
    let tcp = TcpStream::connect(edge).await.ok()?;
    let (client, conn) = h2::client::handshake(tcp).await.ok()?;
    tokio::spawn(conn);
    let mut client = client.ready().await.ok()?;
    let uri: http::Uri = format!("http://a.test{}?m={marker}", v.path).parse().ok()?;
    let mut req = http::Request::builder().method(v.method).uri(uri).header("x-m", marker);
    if v.forged {
        req = req.header("x-forwarded-host", "evil.example").header("true-client-ip", "6.6.6.6");
    }
    let body = match v.framing {
        Framing::None => None,
        Framing::ZeroLength => Some(String::new()),
        Framing::Length(n) | Framing::Chunked(n) | Framing::Both(n) => Some(content(n, marker)),
    };
    if let (Framing::Length(_), Some(b)) = (&v.framing, &body) {
        req = req.header("content-length", b.len());
    }
    let req = req.body(()).ok()?;
    let (resp, mut stream) = client.send_request(req, body.is_none()).ok()?;
    if let Some(b) = body {
        stream.send_data(bytes::Bytes::from(b), true).ok()?;
    }
    let resp = tokio::time::timeout(Duration::from_secs(10), resp).await.ok()?.ok()?;
    let status = resp.status().as_u16();
    let cs = resp.headers().get("cache-status").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut body = resp.into_body();
    let mut text = Vec::new();
    while let Some(Ok(chunk)) = tokio::time::timeout(Duration::from_secs(10), body.data()).await.ok().flatten() {
        let _ = body.flow_control().release_capacity(chunk.len());
        text.extend_from_slice(&chunk);
    }
    Some(format!("HTTP/2.0 {status} X\r\ncache-status: {cs}\r\n\r\n{}", String::from_utf8_lossy(&text)))
}

/// Reads a path as leniently as any origin might: `%2F`/`%5C`/`\` as `/`,
/// `;` parameters dropped, other escapes decoded, slashes merged, dot
/// segments resolved. `None` if it climbs above the root.
fn lenient(path: &str) -> Option<String> {
    let p = path.replace('\\', "/").replace("%5C", "/").replace("%5c", "/").replace("%2F", "/").replace("%2f", "/");
    let decoded = percent_decode(&p);
    let mut out: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        let seg = seg.split(';').next().unwrap_or("");
        match seg {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s),
        }
    }
    Some(format!("/{}", out.join("/")))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 3 <= b.len()
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `zqmk01234` or `zqck01234`.
fn is_marker(m: &str) -> bool {
    (m.starts_with("zqmk") || m.starts_with("zqck")) && m[4..].bytes().all(|b| b.is_ascii_digit())
}

fn check(w: &World, v: &Viewer, case: usize) -> Result<(), TestCaseError> {
    let marker = format!("zqmk{case:05}");
    let before = w.origin.count();
    let resp = w
        .rt
        .block_on(async { if v.h2 { send_h2(w.edge, v, &marker).await } else { send_h1(w.edge, v, &marker).await } });
    // A clean viewer after it, on its own connection: reuses the pooled
    // origin connection the hostile request may have left behind.
    let clean_marker = format!("zqck{case:05}");
    let clean = Viewer {
        method: "GET",
        path: "/index.html".into(),
        framing: Framing::None,
        connection: vec![],
        forged: false,
        h2: false,
    };
    let clean_resp = w.rt.block_on(send_h1(w.edge, &clean, &clean_marker)).unwrap_or_default();
    prop_assert!(
        clean_resp.contains(&format!("served {ORIGIN_PATH}/index.html?m=")),
        "a clean viewer after {v:?} got: {clean_resp}"
    );
    let all = w.origin.requests();
    let new = &all[before.min(all.len())..];
    prop_assert!(w.origin.garbled().is_empty(), "the origin could not frame: {:?}", w.origin.garbled());
    for r in new {
        let raw = String::from_utf8_lossy(&r.raw()).into_owned();
        // (3) one viewer's bytes per upstream request.
        let markers: std::collections::BTreeSet<&str> =
            raw.match_indices("zq").filter_map(|(i, _)| raw.get(i..i + 9)).filter(|m| is_marker(m)).collect();
        prop_assert!(markers.len() <= 1, "bytes of two viewers in one origin request: {raw:?}");
        prop_assert!(!r.target.contains("smuggled"), "a smuggled request reached the origin: {raw:?}");
        // (2) honest framing.
        if let Some(cl) = r.header("content-length")
            && !r.truncated
        {
            prop_assert_eq!(cl.parse::<usize>().ok(), Some(r.body.len()), "{:?}", raw);
        }
        if matches!(r.method.as_str(), "GET" | "HEAD") {
            prop_assert!(r.body_wire.is_empty() && !r.has("content-length") && !r.has("transfer-encoding"), "{raw:?}");
        }
        // (4) nothing refused or outside the origin path reaches it.
        let (path, _) = r.target.split_once('?').unwrap_or((&r.target, ""));
        prop_assert!(path == ORIGIN_PATH || path.starts_with(&format!("{ORIGIN_PATH}/")), "{raw:?}");
        let viewer_path = &path[ORIGIN_PATH.len()..];
        let read = lenient(if viewer_path.is_empty() { "/" } else { viewer_path });
        prop_assert!(read.is_some(), "climbs out of the origin path: {raw:?}");
        prop_assert!(!read.unwrap().starts_with("/private/"), "an unsigned request reached /private: {raw:?}");
        prop_assert!(!r.has("x-forwarded-host") && !r.has("true-client-ip"), "{raw:?}");
        prop_assert!(!r.header_all("x-forwarded-for").iter().any(|x| x.contains("6.6.6.6")), "{raw:?}");
        prop_assert!(r.header_all("via").iter().any(|x| x.contains("tower-cdn")), "{raw:?}");
        prop_assert!(r.header_all("cdn-loop").iter().any(|x| x.contains("tower-cdn")), "{raw:?}");
    }
    // (1) the key names what the origin received.
    let Some(resp) = resp else { return Ok(()) };
    if v.method == "GET" && resp.contains("stored") && resp.contains(" 200 ") {
        let mine = new.iter().find(|r| r.target.ends_with(&format!("?m={marker}")));
        prop_assert!(mine.is_some(), "{resp}");
        let received = mine.unwrap().target[ORIGIN_PATH.len()..].to_owned();
        let (p, _) = received.split_once('?').unwrap();
        let again = Viewer {
            method: "GET",
            path: p.to_owned(),
            framing: Framing::None,
            connection: vec![],
            forged: false,
            h2: false,
        };
        let count = w.origin.count();
        let second = w.rt.block_on(send_h1(w.edge, &again, &marker)).unwrap_or_default();
        prop_assert!(
            second.contains("; hit"),
            "what the origin received ({received}) is not the key of {v:?}: {second}"
        );
        prop_assert_eq!(w.origin.count(), count);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn what_the_origin_receives_is_what_the_cache_keyed(viewers in prop::collection::vec(viewer(), 1..4)) {
        thread_local! {
            static WORLD: World = world();
            static CASE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        }
        WORLD.with(|w| {
            for v in &viewers {
                let case = CASE.with(|c| { let n = c.get(); c.set(n + 1); n });
                check(w, v, case)?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}
