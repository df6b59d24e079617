//! HTTP/3 for the dev proxy (feature `http3`): QUIC by quinn (rustls with
//! ring), HTTP/3 by h3, serving the same Tower service as the TCP accept
//! loop in [`serve`](super::serve), with the same limits where they
//! translate.
//!
//! | limit | default | answer |
//! |---|---|---|
//! | request header section (RFC 9114 §4.2.2, `SETTINGS_MAX_FIELD_SECTION_SIZE`: names + values + 32 bytes a field) | 32 KiB (`max_header_bytes`) | 431 (by h3) |
//! | request-target length | 8 KiB (`max_uri_bytes`) | 414 |
//! | time from a request stream opening to its complete header section | 10 s (`header_read_timeout`) | the stream is dropped |
//! | a connection with nothing sent either way | 30 s (`idle_timeout`, QUIC's `max_idle_timeout`) | the connection is closed |
//! | requests in flight on one connection | 100 (`max_concurrent_streams`) | the client waits for stream credit |
//! | a request with neither `:authority` nor `Host` | | 400 |
//!
//! There is no count of header fields (HTTP/2 and HTTP/3 have none; the
//! 32 bytes each field costs in the section size bound it). 0-RTT is off:
//! early data can be replayed.
//!
//! ## Plugging it in
//!
//! ```ignore
//! let socket = std::net::UdpSocket::bind(tcp_listener.local_addr()?)?; // same port as TCP
//! let port = socket.local_addr()?.port();
//! // TCP responses advertise HTTP/3:
//! let tcp_service = AltSvcLayer::new(port).layer(layer.layer(tower::service_fn(no_distribution)));
//! // The same layer again: `Cdn` is generic over the request body.
//! let h3_service = layer.layer(tower::service_fn(no_distribution));
//! tokio::spawn(serve_h3(socket, Arc::clone(&tls), h3_service, H3Options::from(&opts), shutdown.wait()));
//! ```

mod alt_svc;
mod body;
mod connection;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_service::Service;

use super::serve::ServeOptions;
use super::tls::Tls;
use crate::error::BoxError;
pub use alt_svc::{ALT_SVC_MAX_AGE_SECS, AltSvc, AltSvcFuture, AltSvcLayer};
pub use body::RequestBody;

/// The ALPN protocol id of HTTP/3 (RFC 9114 §3.1).
pub const ALPN_H3: &[u8] = b"h3";

/// Limits applied to HTTP/3 connections; see the [module docs](self).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct H3Options {
    /// Time allowed from a request stream opening to its complete header
    /// section.
    pub header_read_timeout: Duration,
    /// Time in-flight responses get to finish after shutdown is requested.
    pub grace_period: Duration,
    /// Largest request header section, as HTTP/3 counts it.
    pub max_header_bytes: usize,
    /// Longest request-target (scheme, authority, path and query).
    pub max_uri_bytes: usize,
    /// A connection with no packet either way for this long is closed.
    pub idle_timeout: Duration,
    /// Requests one connection may have in flight at once.
    pub max_concurrent_streams: u32,
    /// How viewers reach this listener, put in every request's extensions
    /// (the TCP listener's, so policies see HTTPS).
    pub viewer: Option<crate::ViewerConnection>,
}

impl Default for H3Options {
    fn default() -> Self {
        H3Options::from(&ServeOptions::default())
    }
}

impl From<&ServeOptions> for H3Options {
    /// The TCP loop's limits, where they translate.
    fn from(o: &ServeOptions) -> Self {
        H3Options {
            header_read_timeout: o.header_read_timeout,
            grace_period: o.grace_period,
            max_header_bytes: o.max_header_bytes,
            max_uri_bytes: o.max_uri_bytes,
            idle_timeout: Duration::from_secs(30),
            max_concurrent_streams: 100,
            viewer: o.viewer,
        }
    }
}

/// Serves `service` over HTTP/3 on `socket` until `shutdown` completes.
///
/// `tls` is the TCP listener's rustls configuration (certificates, SNI
/// resolver): it is cloned and its ALPN set to `h3`; it must offer TLS 1.3
/// (QUIC has no other) with `TLS13_AES_128_GCM_SHA256`, which the ring
/// provider's defaults do. Bind `socket` to the TCP listener's port and
/// advertise it on TCP responses with [`AltSvcLayer`].
///
/// Each request reaches `service` as a `Request<RequestBody>` with the
/// [`ClientAddr`](crate::ClientAddr) and [`LocalAddr`](crate::LocalAddr)
/// extensions, like the TCP loop's. Response bodies are streamed as they
/// are produced, with QUIC flow control as backpressure; trailers are sent.
///
/// On shutdown: no new connection is accepted, every connection gets a
/// GOAWAY, and the requests in flight get `grace_period` to finish before
/// the endpoint is closed.
///
/// # Errors
///
/// When the endpoint cannot be made: `InvalidInput` if `tls` cannot carry
/// QUIC, or the socket's own error. Errors after that are per connection
/// or per request, logged at debug level.
pub async fn serve_h3<S, B>(
    socket: UdpSocket,
    tls: Arc<rustls::ServerConfig>,
    service: S,
    opts: H3Options,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    run(socket, &tls, None, service, opts, shutdown).await
}

/// [`serve_h3`] with the dev proxy's TLS termination: its certificates (a
/// reload swaps them here too), and `421 Misdirected Request` for a request
/// whose host the connection's certificate does not serve, as on TCP.
pub async fn serve_h3_tls<S, B>(
    socket: UdpSocket,
    tls: Arc<Tls>,
    service: S,
    opts: H3Options,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let config = tls.server_config();
    run(socket, &config, Some(tls), service, opts, shutdown).await
}

async fn run<S, B>(
    socket: UdpSocket,
    tls: &rustls::ServerConfig,
    check: Option<Arc<Tls>>,
    service: S,
    opts: H3Options,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let endpoint = endpoint(socket, tls, &opts)?;
    let local = endpoint.local_addr()?;
    let (closing, closed) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut shutdown => break,
        };
        let conn =
            connection::Conn { service: service.clone(), opts, local, closing: closed.clone(), tls: check.clone() };
        connections.spawn(conn.run(incoming));
    }
    // New connections are refused from here on.
    endpoint.set_server_config(None);
    let _ = closing.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(opts.grace_period, drained).await.is_err() {
        tracing::warn!("grace period over; closing remaining HTTP/3 connections");
        connections.abort_all();
    }
    endpoint.close(h3::error::Code::H3_NO_ERROR.value().try_into().unwrap_or_default(), b"shutting down");
    // Lets the closes reach the peers (bounded: a peer gone silent is not waited for).
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    Ok(())
}

/// A quinn server endpoint on `socket` with `tls` (ALPN `h3`, no 0-RTT)
/// and the transport limits of `opts`.
fn endpoint(socket: UdpSocket, tls: &rustls::ServerConfig, opts: &H3Options) -> io::Result<quinn::Endpoint> {
    let mut tls = tls.clone();
    tls.alpn_protocols = vec![ALPN_H3.to_vec()];
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(Arc::new(tls))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut transport = quinn::TransportConfig::default();
    let idle =
        quinn::IdleTimeout::try_from(opts.idle_timeout).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    transport.max_idle_timeout(Some(idle)).max_concurrent_bidi_streams(opts.max_concurrent_streams.into());
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport));
    socket.set_nonblocking(true)?;
    quinn::Endpoint::new(quinn::EndpointConfig::default(), Some(config), socket, Arc::new(quinn::TokioRuntime))
}
