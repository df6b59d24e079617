//! The dev proxy's accept loop: HTTP/1.1 and h2c, or h1 and h2 over TLS;
//! `TCP_NODELAY`, request limits, and graceful shutdown.
//!
//! | limit | default | answer |
//! |---|---|---|
//! | request line + headers | 32 KiB (`max_header_bytes`) | 431 (by hyper) |
//! | number of header fields | 100 (`max_headers`) | 431 (by hyper) |
//! | request-target length | 8 KiB (`max_uri_bytes`, CloudFront's limit) | 414 |
//! | HTTP/2 peer that stops answering PINGs | 60 s + 60 s (`h2_keep_alive`) | the connection is closed |
//! | time to receive a request head | 10 s (`header_read_timeout`) | 408 if a request had started, else the idle connection is closed (also a new connection that sends nothing) |
//! | an HTTP/1.1 request without `Host` (RFC 9112 §3.2) | | 400 |
//! | TLS handshake | 10 s (`header_read_timeout`) | the connection is closed |
//! | first byte after the TLS handshake | 10 s (`header_read_timeout`) | the connection is closed |
//! | a request over TLS for a host the connection's certificate does not serve | | 421 (RFC 9110 §15.5.20) |

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;

use super::tls::Tls;
use crate::conn::{ClientAddr, LocalAddr, ViewerConnection};
use crate::error::BoxError;

/// hyper's limit on request header fields when none is set.
const HYPER_MAX_HEADERS: usize = 100;

/// Limits applied to client connections.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Time allowed to receive a complete request head (slowloris defence).
    pub header_read_timeout: Duration,
    /// Time in-flight responses get to finish after shutdown is requested.
    pub grace_period: Duration,
    /// Largest request head (request line + header fields).
    pub max_header_bytes: usize,
    /// Most header fields in a request.
    pub max_headers: usize,
    /// Longest request-target.
    pub max_uri_bytes: usize,
    /// How often an HTTP/2 connection is checked with a PING; one not
    /// answered within the same time closes it (dead or stuck peers would
    /// otherwise hold their connection for good). `None`: never.
    pub h2_keep_alive: Option<Duration>,
    /// How viewers reach this listener, put in every request's extensions
    /// (the dev proxy sets it once it terminates TLS); `None`: not said.
    pub viewer: Option<ViewerConnection>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: Duration::from_secs(10),
            grace_period: Duration::from_secs(10),
            max_header_bytes: 32 * 1024,
            max_headers: HYPER_MAX_HEADERS,
            max_uri_bytes: 8 * 1024,
            h2_keep_alive: Some(Duration::from_secs(60)),
            viewer: None,
        }
    }
}

/// Serves `service` on `listener` until `shutdown` completes, then stops
/// accepting and gives open connections `grace_period` to finish.
pub async fn serve<S, B>(listener: TcpListener, service: S, opts: ServeOptions, shutdown: impl Future<Output = ()>)
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    serve_with(listener, service, opts, None, shutdown).await;
}

/// [`serve`] over TLS: each connection's handshake (within
/// `header_read_timeout`) picks its certificate by SNI and its protocol by
/// ALPN. A request whose host the connection's certificate does not serve
/// gets `421 Misdirected Request` (RFC 9110 §15.5.20), so one distribution's
/// connection never carries another's requests.
pub async fn serve_tls<S, B>(
    listener: TcpListener,
    service: S,
    opts: ServeOptions,
    tls: Arc<Tls>,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    serve_with(listener, service, opts, Some(tls), shutdown).await;
}

/// [`serve`] (or [`serve_tls`]) on `threads` threads, each a current-thread
/// runtime with its own listener on `first`'s address (`SO_REUSEPORT`; the
/// kernel spreads connections over them), like nginx's worker processes: a
/// connection's requests never leave its thread, so there is no work
/// stealing and no cross-thread wake-up per request. The shared cache is
/// one, as with one runtime. Returns when every thread has shut down.
pub(super) async fn serve_threads<S, B>(
    first: TcpListener,
    threads: usize,
    service: S,
    opts: ServeOptions,
    tls: Option<Arc<Tls>>,
    shutdown: super::ops::Shutdown,
) where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let Ok(addr) = first.local_addr() else { return };
    let mut listeners = Vec::with_capacity(threads);
    match first.into_std() {
        Ok(l) => listeners.push(l),
        Err(e) => {
            tracing::error!(error = %e, "cannot hand the listener to a thread");
            return;
        }
    }
    for _ in 1..threads {
        match super::listeners::listen_shared(addr).and_then(TcpListener::into_std) {
            Ok(l) => listeners.push(l),
            Err(e) => {
                tracing::warn!(error = %e, %addr, "one listener fewer: cannot share the address");
                break;
            }
        }
    }
    let mut handles = Vec::with_capacity(listeners.len());
    for (i, listener) in listeners.into_iter().enumerate() {
        let (service, tls, shutdown) = (service.clone(), tls.clone(), shutdown.clone());
        let spawned = std::thread::Builder::new().name(format!("tower-cdn-accept-{i}")).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start an accept thread's runtime");
                    return;
                }
            };
            runtime.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(listener) => serve_with(listener, service, opts, tls, shutdown.wait()).await,
                    Err(e) => tracing::error!(error = %e, "cannot register a listener"),
                }
            });
        });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => tracing::error!(error = %e, "cannot start an accept thread"),
        }
    }
    for handle in handles {
        let _ = tokio::task::spawn_blocking(move || handle.join()).await;
    }
}

async fn serve_with<S, B>(
    listener: TcpListener,
    service: S,
    opts: ServeOptions,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        .max_buf_size(opts.max_header_bytes.max(8192));
    // hyper's own limit is 100 fields too; naming it makes hyper build and
    // fill two 100-slot header arrays on every request head instead of
    // using uninitialised stack arrays (~1% of a 1 KiB hit's CPU).
    if opts.max_headers != HYPER_MAX_HEADERS {
        builder.http1().max_headers(opts.max_headers);
    }
    if let Some(every) = opts.h2_keep_alive {
        builder.http2().timer(TokioTimer::new()).keep_alive_interval(every).keep_alive_timeout(every);
    }
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn { remote, local: stream.local_addr().ok(), opts, tls: None };
        let svc = service.clone();
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        let first_byte = opts.header_read_timeout;
        let tls = tls.clone();
        tokio::spawn(async move {
            // hyper's header timeout starts once it knows the protocol, which
            // takes a first byte: a client that never sends one would hold
            // the connection (and a file descriptor) forever.
            let mut probe = [0u8; 1];
            match tokio::time::timeout(first_byte, stream.peek(&mut probe)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            if let Some(tls) = tls {
                // Boxed: the TLS connection's state (rustls, its buffers, a
                // connection typed over them) would otherwise size every
                // cleartext connection's task too, idle or not.
                Box::pin(async move {
                    // The handshake gets the same time as a request head.
                    let stream = match tokio::time::timeout(first_byte, tls.acceptor().accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %remote, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let sni = stream.get_ref().1.server_name().map(Arc::<str>::from);
                    // hyper's protocol detection (and so its header timeout)
                    // waits for the first decrypted byte with no deadline: a
                    // client that completes the handshake and then sends nothing
                    // would hold the connection for good. Wait for it here, as
                    // for the first TCP byte (buffered, not consumed).
                    let mut stream = tokio::io::BufReader::new(stream);
                    match tokio::time::timeout(first_byte, stream.fill_buf()).await {
                        Ok(Ok(buf)) if !buf.is_empty() => {}
                        _ => return,
                    }
                    let conn = Conn { tls: Some((tls, sni)), ..conn };
                    let svc = TowerToHyperService::new(conn.service(svc));
                    let served = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    if let Err(e) = watcher.watch(served.into_owned()).await {
                        tracing::debug!(error = %e, %remote, "connection ended with an error");
                    }
                })
                .await;
                return;
            }
            let (io, watch) = Watched::new(stream);
            let served =
                builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(conn.service(svc)));
            if let Err(e) = watcher.watch(served.into_owned()).await {
                // hyper has dropped the connection by now; a request head
                // it gave up on left the socket with us.
                if is_header_timeout(&*e)
                    && let Some(stream) = watch.take_abandoned()
                {
                    request_timeout(stream);
                }
                tracing::debug!(error = %e, %remote, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(opts.grace_period, graceful.shutdown()).await.is_err() {
        tracing::warn!("grace period over; closing remaining connections");
    }
}

/// The service's response, or the connection's own refusal.
type Answer<B> = Response<Either<B, Full<Bytes>>>;

/// One accepted connection: what its requests are checked against and
/// told about.
struct Conn {
    remote: std::net::SocketAddr,
    local: Option<std::net::SocketAddr>,
    opts: ServeOptions,
    /// The TLS termination and the name the handshake asked for.
    tls: Option<(Arc<Tls>, Option<Arc<str>>)>,
}

impl Conn {
    /// `svc` behind the connection's checks (request-target length, `Host`,
    /// a misdirected host) with the connection's facts in the extensions.
    fn service<S, B>(
        self,
        svc: S,
    ) -> impl Service<
        Request<Incoming>,
        Response = Answer<B>,
        Error = Infallible,
        Future = impl Future<Output = Result<Answer<B>, Infallible>> + Send,
    > + Clone
    + Send
    + 'static
    where
        S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
        S::Future: Send + 'static,
        B: Send + 'static,
    {
        let conn = Arc::new(self);
        tower::service_fn(move |mut req: Request<Incoming>| {
            let svc = svc.clone();
            let conn = Arc::clone(&conn);
            async move {
                if let Some(refused) = conn.refuse(&req) {
                    let mut r = Response::new(Either::Right(limit_body(refused)));
                    *r.status_mut() = refused;
                    r.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain; charset=utf-8"),
                    );
                    return Ok(r);
                }
                req.extensions_mut().insert(ClientAddr(conn.remote));
                if let Some(local) = conn.local {
                    req.extensions_mut().insert(LocalAddr(local));
                }
                if let Some(viewer) = conn.opts.viewer {
                    req.extensions_mut().insert(viewer);
                }
                let resp = tower::ServiceExt::oneshot(svc, req).await?;
                Ok::<_, Infallible>(resp.map(Either::Left))
            }
        })
    }

    /// The status a request is answered with before the service sees it.
    fn refuse<B>(&self, req: &Request<B>) -> Option<StatusCode> {
        if uri_len(req.uri()) > self.opts.max_uri_bytes {
            return Some(StatusCode::URI_TOO_LONG);
        }
        // RFC 9112 §3.2: an HTTP/1.1 request without `Host` (and without an
        // absolute-form target) gets 400.
        if req.version() == http::Version::HTTP_11
            && req.uri().authority().is_none()
            && !req.headers().contains_key(http::header::HOST)
        {
            return Some(StatusCode::BAD_REQUEST);
        }
        if let Some((tls, sni)) = &self.tls
            && !tls.serves_request(sni.as_deref(), req.uri(), req.headers())
        {
            return Some(StatusCode::MISDIRECTED_REQUEST);
        }
        None
    }
}

pub(crate) fn uri_len(uri: &http::Uri) -> usize {
    uri.scheme_str().map_or(0, str::len)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |pq| pq.as_str().len())
}

fn limit_body(status: StatusCode) -> Full<Bytes> {
    Full::new(Bytes::from(format!("{status}\n")))
}

fn is_header_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout)
}

/// Sends `408 Request Timeout` on the raw socket after hyper gave up on a
/// request head that started but never finished (RFC 9110 §15.5.9).
fn request_timeout(stream: TcpStream) {
    let msg = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 21\r\ncontent-type: text/plain\r\n\r\n408 Request Timeout\r\n";
    // Best effort, as any write to a client that stopped mid-head: what the
    // socket buffer takes now.
    let _ = stream.try_write(msg);
    if let Ok(raw) = stream.into_std() {
        let _ = raw.shutdown(std::net::Shutdown::Both);
    }
}

/// A client connection that notes whether a request has started since the
/// last response was written (so an idle keep-alive connection is closed
/// quietly, while a slow request head gets a 408).
///
/// One file descriptor per connection: when hyper drops the connection in
/// the middle of a request head, the socket is handed back through
/// [`Watch`] instead of being kept open twice (an earlier version held a
/// `dup` of every socket for the 408, halving the connections a
/// descriptor limit allows).
struct Watched {
    stream: Option<TcpStream>,
    watch: Arc<WatchState>,
}

struct WatchState {
    started: AtomicBool,
    abandoned: std::sync::Mutex<Option<TcpStream>>,
}

/// The accept loop's side of a [`Watched`] connection.
struct Watch(Arc<WatchState>);

impl Watch {
    /// The socket, if hyper dropped the connection after a request had
    /// started and before its response was written.
    fn take_abandoned(&self) -> Option<TcpStream> {
        self.0.abandoned.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

impl Watched {
    fn new(stream: TcpStream) -> (Self, Watch) {
        let watch = Arc::new(WatchState { started: AtomicBool::new(false), abandoned: std::sync::Mutex::new(None) });
        (Watched { stream: Some(stream), watch: Arc::clone(&watch) }, Watch(watch))
    }

    fn stream(&mut self) -> Pin<&mut TcpStream> {
        // Present from `new` until `drop`.
        Pin::new(self.stream.as_mut().expect("the stream is taken only on drop"))
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if self.watch.started.load(Ordering::Relaxed)
            && let Some(stream) = self.stream.take()
        {
            *self.watch.abandoned.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(stream);
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = self.stream().poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.started.store(true, Ordering::Relaxed);
        }
        res
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let res = self.stream().poll_write(cx, data);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.started.store(false, Ordering::Relaxed);
        }
        res
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = self.stream().poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.started.store(false, Ordering::Relaxed);
        }
        res
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(TcpStream::is_write_vectored)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_shutdown(cx)
    }
}
