//! The whole request path at the wire: any bytes as a viewer's HTTP/1.1
//! request go through a real dev proxy (its accept loop, the layer, the
//! reqwest origin client) to a recording origin that answers before it
//! reads a declared body, followed by a clean viewer's request on another
//! connection. Checks what the origin framed off its socket, as
//! `tests/wire_props.rs` does: honest framing (no GET/HEAD content, no
//! `Content-Length` without its bytes), nothing outside `origin_path` and
//! nothing under the signed `/private/` behavior (read as leniently as any
//! origin could), at most one origin request per viewer request, no
//! forwarding-family header, and the clean viewer served its own page.
#![no_main]

#[path = "../../tests/support/wire.rs"]
mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_cdn::auth::TrustedKeys;
use tower_cdn::{CacheBehavior, CdnLayer, Distribution, Origin};
use wire::{RecordingOrigin, echo_target};

const RSA_A_PUB: &str = include_str!("../../src/auth/testdata/rsa_a_pub_spki.pem");
const ORIGIN_PATH: &str = "/public";

struct World {
    rt: tokio::runtime::Runtime,
    origin: RecordingOrigin,
    edge: SocketAddr,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        // libFuzzer's `main` is not Rust's, which sets SIGPIPE to ignored:
        // without this a write to a socket the peer already closed (a
        // hostile viewer hanging up) kills the run. The dev proxy binary
        // has Rust's `main`.
        // SAFETY: called once, before any thread of this process writes to a socket.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
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
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let edge = listener.local_addr().unwrap();
            let svc = tower::Layer::layer(
                &layer,
                tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
                }),
            );
            tokio::spawn(tower_cdn::cli::serve::serve(
                listener,
                svc,
                tower_cdn::cli::serve::ServeOptions::default(),
                std::future::pending(),
            ));
            (origin, edge)
        });
        World { rt, origin, edge }
    })
}

/// Sends `bytes` and reads what comes back: until the server closes, or
/// goes quiet after answering; a server still waiting for more after a
/// moment gets a half-close (hyper then closes at once). Bounded.
async fn attack(edge: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let Ok(mut s) = TcpStream::connect(edge).await else { return Vec::new() };
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let wait = if out.is_empty() { Duration::from_millis(50) } else { Duration::from_millis(20) };
        match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) if !out.is_empty() => return out,
            Err(_) => {
                let _ = s.shutdown().await;
                let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
                return out;
            }
        }
    }
}

/// Sends a request that closes its connection and reads the answer.
async fn exchange(edge: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let Ok(mut s) = TcpStream::connect(edge).await else { return Vec::new() };
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    out
}

fn lenient(path: &str) -> Option<String> {
    let p = path.replace('\\', "/").replace("%5C", "/").replace("%5c", "/").replace("%2F", "/").replace("%2f", "/");
    let b = p.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 3 <= b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            decoded.push(v);
            i += 3;
        } else {
            decoded.push(b[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8_lossy(&decoded).into_owned();
    let mut out: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg.split(';').next().unwrap_or("") {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s),
        }
    }
    Some(format!("/{}", out.join("/")))
}

static CASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fuzz_target!(|data: &[u8]| {
    let w = world();
    let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Each input starts from an empty record (kept whole, it would make
    // every later check slower).
    w.origin.clear();
    let before = 0;
    let answers = w.rt.block_on(attack(w.edge, data));
    let after_attack = w.origin.count();
    // Each viewer request makes at most one origin request, and each but
    // the last (which a closing client may not wait for) got its answer:
    // more origin requests than that would be requests of the origin's
    // own reading, not the viewer's.
    let answered = String::from_utf8_lossy(&answers).matches("x-request-id: ").count();
    assert!(
        after_attack - before <= answered + 1,
        "{} answers but {} origin requests for {:?}",
        answered,
        after_attack - before,
        String::from_utf8_lossy(data)
    );
    let clean = format!("GET /index.html?c={case} HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n");
    let resp = w.rt.block_on(exchange(w.edge, clean.as_bytes()));
    let resp = String::from_utf8_lossy(&resp);
    let want = format!("served {ORIGIN_PATH}/index.html?c={case}");
    assert!(resp.ends_with(&want), "the clean viewer after {:?} got {resp}", String::from_utf8_lossy(data));
    assert!(w.origin.garbled().is_empty(), "the origin could not frame: {:?}", w.origin.garbled());
    let all = w.origin.requests();
    for r in &all[before..] {
        let raw = String::from_utf8_lossy(&r.raw()).into_owned();
        if let Some(cl) = r.header("content-length")
            && !r.truncated
        {
            assert_eq!(cl.parse::<usize>().ok(), Some(r.body.len()), "{raw:?}");
        }
        if matches!(r.method.as_str(), "GET" | "HEAD") {
            assert!(r.body_wire.is_empty() && !r.has("content-length") && !r.has("transfer-encoding"), "{raw:?}");
        }
        let path = r.target.split_once('?').map_or(r.target.as_str(), |(p, _)| p);
        assert!(path == ORIGIN_PATH || path.starts_with("/public/"), "{raw:?}");
        let read = lenient(&path[ORIGIN_PATH.len()..]).unwrap_or_else(|| panic!("climbs out: {raw:?}"));
        // (`/private` itself is not under `/private/*`, as at CloudFront.)
        assert!(!read.starts_with("/private/"), "unsigned /private/: {raw:?}");
        for h in ["x-forwarded-host", "forwarded", "true-client-ip", "x-real-ip", "x-original-url"] {
            assert!(!r.has(h), "{h}: {raw:?}");
        }
        assert!(r.header_all("via").iter().any(|v| v.contains("tower-cdn")), "{raw:?}");
        assert!(r.header_all("cdn-loop").iter().any(|v| v.contains("tower-cdn")), "{raw:?}");
    }
    // Found by target: an attack's request whose content never completed
    // is recorded when its connection closes, which may be after this one.
    let wanted = format!("{ORIGIN_PATH}/index.html?c={case}");
    let victim = all.iter().find(|r| r.target == wanted).unwrap_or_else(|| panic!("{wanted} never reached the origin"));
    assert!(victim.body_wire.is_empty());
});
