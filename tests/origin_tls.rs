//! TLS to origins, against a real TLS origin that records what each
//! handshake and request carried: a private CA (`ca_file`), a client
//! certificate (mutual TLS), the SNI name and the name verified
//! (`server_name`), `verify = false`, and the lowest protocol version.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::tls::{Leaf, Pki};
use tower_cdn::{CdnLayer, Origin, OriginTls, OriginTlsVersion};

/// What one request to the TLS origin carried.
#[derive(Debug, Clone)]
struct Seen {
    sni: Option<String>,
    host: Option<String>,
    client_cert: bool,
}

/// A TLS origin: answers `200 ok` to everything and records each request.
struct TlsOrigin {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TlsOrigin {
    /// Serves `leaf`; `client_ca` makes a client certificate from that CA
    /// mandatory; `tls12_only` offers TLS 1.2 alone.
    async fn start(leaf: &Leaf, client_ca: Option<&Pki>, tls12_only: bool) -> TlsOrigin {
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = vec![CertificateDer::from(leaf.der.clone())];
        let key = PrivateKeyDer::from_pem_file(&leaf.key_file).unwrap();
        let versions: &[&'static rustls::SupportedProtocolVersion] =
            if tls12_only { &[&rustls::version::TLS12] } else { &[&rustls::version::TLS13, &rustls::version::TLS12] };
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(versions)
            .unwrap();
        let builder = match client_ca {
            Some(pki) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(CertificateDer::from_pem_slice(pki.ca_pem().as_bytes()).unwrap()).unwrap();
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(chain, key).unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (acceptor, recorded) = (acceptor.clone(), Arc::clone(&recorded));
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let sni = tls.get_ref().1.server_name().map(str::to_owned);
                    let client_cert = tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                        let host = req.headers().get("host").map(|h| h.to_str().unwrap().to_owned());
                        recorded.lock().unwrap().push(Seen { sni: sni.clone(), host, client_cert });
                        async { Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok")))) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), svc).await;
                });
            }
        });
        TlsOrigin { addr, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Status of a GET through a layer over `origin`.
async fn status_through(origin: Origin) -> u16 {
    let layer = CdnLayer::builder().origin(origin).standalone(true).build().unwrap();
    let proxy = support::start_proxy(layer).await;
    support::client().get(format!("http://{proxy}/a?{}", rand_suffix())).send().await.unwrap().status().as_u16()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn a_private_ca_is_trusted_only_when_given() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let leaf = pki.leaf(&["127.0.0.1"], dir.path(), "origin");
    let origin = TlsOrigin::start(&leaf, None, false).await;
    let url = format!("https://{}", origin.addr);
    assert_eq!(status_through(Origin::http(&url)).await, 502, "an unknown CA is refused");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    assert_eq!(status_through(Origin::http(&url).tls(OriginTls::new().ca_file(&ca))).await, 200);
    // Only that CA: a certificate from another CA is refused even if the
    // system would trust it.
    let other = Pki::new();
    let ca2 = dir.path().join("ca2.pem");
    std::fs::write(&ca2, other.ca_pem()).unwrap();
    assert_eq!(status_through(Origin::http(&url).tls(OriginTls::new().ca_file(&ca2))).await, 502);
}

#[tokio::test]
async fn server_name_is_sent_in_sni_and_verified_while_host_stays_the_urls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    // The certificate names the service, not the address it is reached at.
    let leaf = pki.leaf(&["api.internal"], dir.path(), "origin");
    let origin = TlsOrigin::start(&leaf, None, false).await;
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let url = format!("https://{}", origin.addr);
    assert_eq!(status_through(Origin::http(&url).tls(OriginTls::new().ca_file(&ca))).await, 502);
    let tls = OriginTls::new().ca_file(&ca).server_name("api.internal");
    assert_eq!(status_through(Origin::http(&url).tls(tls.clone())).await, 200);
    let last = origin.seen().pop().unwrap();
    assert_eq!(last.sni.as_deref(), Some("api.internal"));
    assert_eq!(last.host, Some(origin.addr.to_string()), "Host is the URL's authority");
    // With forward_host, the viewer's Host; SNI still the server name.
    let layer =
        CdnLayer::builder().origin(Origin::http(&url).tls(tls).forward_host(true)).standalone(true).build().unwrap();
    let proxy = support::start_proxy(layer).await;
    let r = support::client().get(format!("http://{proxy}/fwd")).header("host", "shop.example").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let last = origin.seen().pop().unwrap();
    assert_eq!((last.sni.as_deref(), last.host.as_deref()), (Some("api.internal"), Some("shop.example")));
    // A name that is not one is a configuration error.
    let err = CdnLayer::builder()
        .origin(Origin::http(&url).tls(OriginTls::new().server_name("bad name")))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("tls.server_name"), "{err}");
}

#[tokio::test]
async fn a_client_certificate_is_presented_to_origins_that_require_one() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let leaf = pki.leaf(&["127.0.0.1"], dir.path(), "origin");
    let client = pki.leaf(&["edge.test"], dir.path(), "edge");
    let origin = TlsOrigin::start(&leaf, Some(&pki), false).await;
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let url = format!("https://{}", origin.addr);
    assert_eq!(status_through(Origin::http(&url).tls(OriginTls::new().ca_file(&ca))).await, 502, "no certificate");
    let tls = OriginTls::new().ca_file(&ca).client_cert(&client.cert_file, &client.key_file);
    assert_eq!(status_through(Origin::http(&url).tls(tls)).await, 200);
    assert!(origin.seen().iter().all(|s| s.client_cert));
    assert_eq!(origin.seen().len(), 1);
    // A key that is not the certificate's is refused when the layer is built.
    let other = pki.leaf(&["edge.test"], dir.path(), "other");
    let err = CdnLayer::builder()
        .origin(Origin::http(&url).tls(OriginTls::new().client_cert(&client.cert_file, &other.key_file)))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("tls.key_file") && err.to_string().contains("does not match"), "{err}");
}

#[tokio::test]
async fn verification_can_be_turned_off_and_the_lowest_version_raised() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let leaf = pki.leaf(&["elsewhere.test"], dir.path(), "origin");
    let origin = TlsOrigin::start(&leaf, None, false).await;
    let url = format!("https://{}", origin.addr);
    assert_eq!(status_through(Origin::http(&url)).await, 502);
    assert_eq!(status_through(Origin::http(&url).tls(OriginTls::new().verify(false))).await, 200);

    let old = TlsOrigin::start(&leaf, None, true).await;
    let url = format!("https://{}", old.addr);
    assert_eq!(status_through(Origin::http(&url).tls(OriginTls::new().verify(false))).await, 200, "TLS 1.2");
    let tls13 = OriginTls::new().verify(false).min_version(OriginTlsVersion::Tls13);
    assert_eq!(status_through(Origin::http(&url).tls(tls13)).await, 502, "TLS 1.3 required");
}

#[test]
fn file_settings_are_checked_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let check = |tls: &str| {
        let path = dir.path().join("o.toml");
        std::fs::write(
            &path,
            format!(
                "[[distributions]]\nid = \"d\"\n[distributions.origins.web]\nkind = \"http\"\n\
                 url = \"https://127.0.0.1:1\"\ntls = {tls}\n[distributions.default_behavior]\norigin = \"web\"\n"
            ),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tower-cdn"))
            .arg("--check-config")
            .arg(&path)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = check(r#"{ ca_file = "missing-ca.pem" }"#);
    assert_eq!(code, Some(2));
    assert!(err.contains("distributions[0].origins.web.tls.ca_file") && err.contains("missing-ca.pem"), "{err}");
    let (code, err) = check(r#"{ cert_file = "c.pem" }"#);
    assert_eq!(code, Some(2));
    assert!(err.contains("tls.key_file"), "{err}");
    let (code, err) = check(r#"{ min_version = "1.1" }"#);
    assert_eq!(code, Some(2));
    assert!(err.contains("tls.min_version"), "{err}");
    let (code, err) = check(r#"{ server_name = "api.internal", verify = true, min_version = "1.3" }"#);
    assert_eq!(code, Some(0), "{err}");
}

/// The proxy the environment names (`HTTPS_PROXY`) is not asked to reach a
/// `server_name`: that name is not where the endpoint is, and `NO_PROXY`
/// listing the endpoint's address would not match it.
#[tokio::test]
async fn server_name_reaches_the_endpoint_itself_not_an_environment_proxy() {
    use std::io::{BufRead, BufReader};
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let leaf = pki.leaf(&["api.internal"], dir.path(), "origin");
    let origin = TlsOrigin::start(&leaf, None, false).await;
    std::fs::write(dir.path().join("ca.pem"), pki.ca_pem()).unwrap();
    // A "proxy" that records the first bytes of each connection and closes it.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    let recorded = Arc::clone(&asked);
    tokio::spawn(async move {
        loop {
            let (mut s, _) = proxy.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let n = s.read(&mut buf).await.unwrap_or(0);
            recorded.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    });
    let config = dir.path().join("cdn.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n[[distributions]]\nid = \"d\"\n[distributions.origins.web]\nkind = \"http\"\n\
             url = \"https://{}\"\ntls = {{ ca_file = \"ca.pem\", server_name = \"api.internal\" }}\n\
             [distributions.default_behavior]\norigin = \"web\"\n",
            origin.addr
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tower-cdn"))
        .arg("--config")
        .arg(&config)
        .env("HTTPS_PROXY", format!("http://{proxy_addr}"))
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("https_proxy")
        .env_remove("no_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let edge = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let status = support::client().get(format!("{edge}/through")).send().await.unwrap().status();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(asked.lock().unwrap().clone(), Vec::<String>::new(), "the environment's proxy was asked");
    assert_eq!(status, 200);
    let last = origin.seen().pop().unwrap();
    assert_eq!(last.sni.as_deref(), Some("api.internal"));
}
