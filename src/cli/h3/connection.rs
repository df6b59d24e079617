//! One HTTP/3 connection: its requests, each sent to the service, and the
//! responses streamed back.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::{Buf, Bytes};
use h3::server::{RequestResolver, RequestStream};
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::BodyExt as _;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_service::Service;

use super::H3Options;
use super::body::{RequestBody, declared_length};
use std::sync::Arc;

use super::super::tls::Tls;
use crate::conn::{ClientAddr, LocalAddr};
use crate::error::BoxError;

type SendHalf = RequestStream<h3_quinn::SendStream<Bytes>, Bytes>;

/// What each connection task is given.
pub(super) struct Conn<S> {
    pub(super) service: S,
    pub(super) opts: H3Options,
    /// The endpoint's address (its IP is replaced by the one the client
    /// reached, where the socket reports it).
    pub(super) local: SocketAddr,
    /// Becomes `true` when the server shuts down.
    pub(super) closing: watch::Receiver<bool>,
    /// The TLS termination whose certificate a request's host must share
    /// (else 421), when the binary serves it.
    pub(super) tls: Option<Arc<Tls>>,
}

impl<S, B> Conn<S>
where
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// Completes the handshake, then serves requests until the client
    /// closes or, after shutdown, until the requests in flight are done.
    pub(super) async fn run(mut self, incoming: quinn::Incoming) {
        let conn = match incoming.await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(error = %e, "QUIC handshake failed");
                return;
            }
        };
        let remote = conn.remote_address();
        let sni: Option<Arc<str>> = conn
            .handshake_data()
            .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|d| d.server_name.as_deref().map(Arc::from));
        let check = self.tls.clone().map(|tls| (tls, sni));
        let local = SocketAddr::new(conn.local_ip().unwrap_or(self.local.ip()), self.local.port());
        let built = h3::server::builder()
            .max_field_section_size(self.opts.max_header_bytes as u64)
            .build::<_, Bytes>(h3_quinn::Connection::new(conn))
            .await;
        let mut h3 = match built {
            Ok(h3) => h3,
            Err(e) => {
                tracing::debug!(error = %e, %remote, "HTTP/3 connection setup failed");
                return;
            }
        };
        let mut requests = JoinSet::new();
        let mut goaway_sent = *self.closing.borrow();
        if goaway_sent {
            let _ = h3.shutdown(0).await;
        }
        loop {
            tokio::select! {
                accepted = h3.accept() => match accepted {
                    Ok(Some(resolver)) => {
                        let (svc, opts) = (self.service.clone(), self.opts);
                        requests.spawn(request(resolver, svc, opts, remote, local, check.clone()));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        if !e.is_h3_no_error() {
                            tracing::debug!(error = %e, %remote, "HTTP/3 connection ended with an error");
                        }
                        break;
                    }
                },
                Some(_) = requests.join_next(), if !requests.is_empty() => {}
                Ok(()) = self.closing.changed(), if !goaway_sent => {
                    goaway_sent = true;
                    let _ = h3.shutdown(0).await;
                }
            }
            if goaway_sent && requests.is_empty() {
                break;
            }
        }
        // The connection closes when `h3` is dropped: the requests still
        // running (the connection failed under them) end first.
        while requests.join_next().await.is_some() {}
    }
}

/// Reads one request head, sends the request to the service, and streams
/// its response back.
async fn request<S, B>(
    resolver: RequestResolver<h3_quinn::Connection, Bytes>,
    svc: S,
    opts: H3Options,
    remote: SocketAddr,
    local: SocketAddr,
    check: Option<(Arc<Tls>, Option<Arc<str>>)>,
) where
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let (head, stream) = match tokio::time::timeout(opts.header_read_timeout, resolver.resolve_request()).await {
        Ok(Ok(pair)) => pair,
        // h3 has answered 431 to a header section over the limit.
        Ok(Err(e)) => {
            tracing::debug!(error = %e, %remote, "HTTP/3 request head refused");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, "HTTP/3 request head timed out");
            return;
        }
    };
    let (mut send, recv) = stream.split();
    if super::super::serve::uri_len(head.uri()) > opts.max_uri_bytes {
        return refuse(&mut send, StatusCode::URI_TOO_LONG).await;
    }
    // RFC 9114 §4.3.1: `:authority` or `Host` for `http` and `https`.
    if head.uri().authority().is_none() && !head.headers().contains_key(header::HOST) {
        return refuse(&mut send, StatusCode::BAD_REQUEST).await;
    }
    if let Some((tls, sni)) = &check
        && !tls.serves_request(sni.as_deref(), head.uri(), head.headers())
    {
        return refuse(&mut send, StatusCode::MISDIRECTED_REQUEST).await;
    }
    let mut body = RequestBody::new(recv, declared_length(head.headers()));
    // A client that keeps a GET's stream open is bounded like a slow head
    // (its body then has not ended, and the edge answers 403).
    if matches!(*head.method(), Method::GET | Method::HEAD)
        && let Ok(Err(_)) = tokio::time::timeout(opts.header_read_timeout, body.peek()).await
    {
        return;
    }
    let (mut parts, ()) = head.into_parts();
    parts.extensions.insert(ClientAddr(remote));
    parts.extensions.insert(LocalAddr(local));
    if let Some(viewer) = opts.viewer {
        parts.extensions.insert(viewer);
    }
    let Ok(resp) = tower::ServiceExt::oneshot(svc, Request::from_parts(parts, body)).await;
    if let Err(e) = respond(&mut send, resp).await {
        tracing::debug!(error = %e, %remote, "HTTP/3 response not completed");
    }
}

/// Sends `resp`: the head, each DATA frame as the body yields it (waiting
/// for the client's flow control, so a slow reader slows the body), then
/// trailers. A body that fails resets the stream, so the client sees an
/// error instead of a short response.
async fn respond<B>(send: &mut SendHalf, resp: Response<B>) -> Result<(), BoxError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = resp.into_parts();
    strip_connection_fields(&mut parts.headers);
    send.send_response(Response::from_parts(parts, ())).await?;
    let mut body = std::pin::pin!(body);
    loop {
        // Converted at once: `B::Error` need not be `Send`.
        let next: Option<Result<http_body::Frame<Bytes>, BoxError>> = body.frame().await.map(|r| r.map_err(Into::into));
        let frame = match next {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                send.stop_stream(h3::error::Code::H3_INTERNAL_ERROR);
                return Err(e);
            }
        };
        match frame.into_data() {
            Ok(mut data) => {
                if data.has_remaining() {
                    send.send_data(data.copy_to_bytes(data.remaining())).await?;
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    send.send_trailers(trailers).await?;
                    break;
                }
            }
        }
    }
    send.finish().await?;
    Ok(())
}

/// A short answer from the server itself.
async fn refuse(send: &mut SendHalf, status: StatusCode) {
    let mut resp = Response::new(http_body_util::Full::new(Bytes::from(format!("{status}\n"))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    let _ = respond(send, resp).await;
}

/// RFC 9114 §4.2: connection-specific fields are malformed in HTTP/3 (the
/// edge's own `Connection: close` on a refusal included).
fn strip_connection_fields(headers: &mut HeaderMap) {
    for name in [header::CONNECTION, header::TRANSFER_ENCODING, header::UPGRADE] {
        headers.remove(name);
    }
    for name in ["keep-alive", "proxy-connection"] {
        headers.remove(name);
    }
}
