//! Request latency of a 1 KiB cache hit on loopback: HTTP/3 (`serve_h3`,
//! quinn + h3) against HTTP/2 over TLS (the same rustls config and layer,
//! hyper's server behind tokio-rustls). Each client is the protocol's
//! low-level one on a single warm connection (h3's `SendRequest`, hyper's
//! `http2::SendRequest`), sending requests one after another; p50 and p99
//! over `REQUESTS`, two rounds each, alternated.
//!
//! Run: `cargo bench --bench h3_latency --features http3` (prints the
//! figures; no harness).

#[path = "../tests/support/h3.rs"]
mod h3_support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower_cdn::CdnLayer;
use tower_cdn::cli::h3::{H3Options, serve_h3};
use tower_layer::Layer;

const REQUESTS: usize = 3000;
const PATH: &str = "/object/1k";

/// The app behind the layer: 1 KiB, cacheable for an hour.
async fn app<B>(_req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(Bytes::from(vec![b'x'; 1024])));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
    Ok(resp)
}

/// HTTP/2 (and HTTP/1.1) over TLS with hyper-util's auto builder.
async fn serve_h2_tls(layer: CdnLayer, tls: Arc<rustls::ServerConfig>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a listener");
    let addr = listener.local_addr().expect("an address");
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let _ = tcp.set_nodelay(true);
            let (acceptor, svc) = (acceptor.clone(), layer.layer(tower::service_fn(app)));
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let svc = hyper_util::service::TowerToHyperService::new(svc);
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    format!("p50 {:7.1} µs   p99 {:7.1} µs   max {:8.1} µs", us(at(0.50)), us(at(0.99)), us(at(1.0)))
}

async fn round_h3(client: &h3_support::H3Client) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let start = Instant::now();
        let resp = client.get(PATH).await;
        samples.push(start.elapsed());
        assert_eq!(resp.body.len(), 1024);
        assert!(resp.header("cache-status").contains("hit"));
    }
    samples
}

async fn round_h2(send: &mut hyper::client::conn::http2::SendRequest<Empty<Bytes>>) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let start = Instant::now();
        let req = Request::get(format!("https://{}{PATH}", h3_support::NAME)).body(Empty::new()).expect("a request");
        let resp = send.send_request(req).await.expect("a response");
        let hit = resp.headers().get("cache-status").is_some_and(|v| v.as_bytes().windows(3).any(|w| w == b"hit"));
        let body = resp.into_body().collect().await.expect("a body").to_bytes();
        samples.push(start.elapsed());
        assert_eq!(body.len(), 1024);
        assert!(hit);
    }
    samples
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("h3_latency: run with `cargo bench --bench h3_latency --features http3`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    rt.block_on(async {
        let (tls, cert) = h3_support::self_signed();
        let layer = CdnLayer::builder().build().expect("a layer");

        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
        let h3_addr = socket.local_addr().expect("an address");
        let h3_service = layer.layer(tower::service_fn(app));
        tokio::spawn(serve_h3(socket, Arc::clone(&tls), h3_service, H3Options::default(), std::future::pending()));
        let h2_addr = serve_h2_tls(layer.clone(), Arc::clone(&tls)).await;

        let h3 = h3_support::H3Client::connect(h3_addr, &cert).await;
        let tcp = tokio::net::TcpStream::connect(h2_addr).await.expect("a connection");
        tcp.set_nodelay(true).expect("nodelay");
        let connector = tokio_rustls::TlsConnector::from(Arc::new(h3_support::client_tls(&cert, &[b"h2"])));
        let name = rustls::pki_types::ServerName::try_from(h3_support::NAME).expect("a name");
        let tls_stream = connector.connect(name, tcp).await.expect("a TLS handshake");
        let (mut h2, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls_stream)).await.expect("h2");
        tokio::spawn(conn);

        // Fills the entry, then warms both paths.
        let first = h3.get(PATH).await;
        assert_eq!(first.status(), 200);
        for _ in 0..200 {
            let _ = h3.get(PATH).await;
        }
        let _ = round_h2(&mut h2).await;

        println!("1 KiB hit, {REQUESTS} sequential requests on one connection, loopback:");
        for round in 1..=2 {
            println!("  round {round} HTTP/2 + TLS  {}", percentiles(round_h2(&mut h2).await));
            println!("  round {round} HTTP/3        {}", percentiles(round_h3(&h3).await));
        }
    });
}
