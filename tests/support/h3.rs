//! HTTP/3 for the tests and the latency bench: a self-signed certificate
//! (rcgen, ring), the server's rustls config, and a real HTTP/3 client
//! (h3 + h3-quinn over a quinn client endpoint that trusts only it).
//! Standalone (no `super::`), so `benches/h3_latency.rs` includes it too.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Request, Response};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The name the certificate is for (and the `:authority` the tests send).
pub const NAME: &str = "localhost";

#[allow(deprecated)] // rustls 0.23.48 deprecates ring; the project keeps it (no aws-lc).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate for [`NAME`] and a server config with it, as
/// a TLS listener would have (ALPN h2 and http/1.1; `serve_h3` sets `h3`).
pub fn self_signed() -> (Arc<rustls::ServerConfig>, CertificateDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec![NAME.to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (Arc::new(config), cert)
}

/// A rustls client config that trusts `cert` alone, offering `alpn`.
pub fn client_tls(cert: &CertificateDer<'static>, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// One HTTP/3 connection to a server (cheap to clone: requests run
/// concurrently on it).
#[derive(Clone)]
pub struct H3Client {
    send: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    // Kept so the endpoint lives as long as a clone does.
    endpoint: quinn::Endpoint,
}

/// A complete response: head, body bytes, trailers.
pub struct H3Response {
    pub head: Response<()>,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

impl H3Response {
    pub fn status(&self) -> u16 {
        self.head.status().as_u16()
    }
    pub fn header(&self, name: &str) -> String {
        self.head.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }
}

impl H3Client {
    /// Connects to `addr`, trusting `cert` (for [`NAME`]).
    pub async fn connect(addr: SocketAddr, cert: &CertificateDer<'static>) -> Self {
        H3Client::connect_as(addr, NAME, cert).await
    }

    /// Connects to `addr` asking for `sni`, trusting `root` (a CA or the
    /// server's own certificate).
    pub async fn connect_as(addr: SocketAddr, sni: &str, root: &CertificateDer<'static>) -> Self {
        let tls = client_tls(root, &[b"h3"]);
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        let conn = endpoint.connect(addr, sni).unwrap().await.unwrap();
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn)).await.unwrap();
        tokio::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        H3Client { send, endpoint }
    }

    /// A GET of `path_and_query` on `https://localhost`.
    pub async fn get(&self, path_and_query: &str) -> H3Response {
        self.request(Request::get(format!("https://{NAME}{path_and_query}")).body(()).unwrap(), None).await.unwrap()
    }

    /// Sends `req` (with `body` as DATA, if any) and reads the whole
    /// response.
    pub async fn request(&self, req: Request<()>, body: Option<Bytes>) -> Result<H3Response, h3::error::StreamError> {
        let mut send = self.send.clone();
        let mut stream = send.send_request(req).await?;
        if let Some(body) = body {
            // Several DATA frames, as a client streaming an upload would.
            for chunk in body.chunks(16 * 1024) {
                stream.send_data(Bytes::copy_from_slice(chunk)).await?;
            }
        }
        stream.finish().await?;
        read_response(&mut stream).await
    }

    /// The request sender, for tests that drive a stream themselves.
    pub fn sender(&self) -> h3::client::SendRequest<h3_quinn::OpenStreams, Bytes> {
        self.send.clone()
    }

    /// Closes the connection.
    pub fn close(&self) {
        self.endpoint.close(0u32.into(), b"done");
    }
}

/// Reads a whole response from a request stream whose request was sent.
pub async fn read_response<S>(
    stream: &mut h3::client::RequestStream<S, Bytes>,
) -> Result<H3Response, h3::error::StreamError>
where
    S: h3::quic::RecvStream,
{
    let head = stream.recv_response().await?;
    let mut buf = BytesMut::new();
    while let Some(mut chunk) = stream.recv_data().await? {
        while chunk.has_remaining() {
            let part = chunk.chunk();
            buf.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    let trailers = stream.recv_trailers().await?;
    Ok(H3Response { head, body: buf.freeze(), trailers })
}
