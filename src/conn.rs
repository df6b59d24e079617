//! Facts about the connection a request came on, put in its extensions by
//! the server (the dev proxy's accept loop does; in axum, `ConnectInfo`
//! works for the client address too).

/// The address of the client a request came from. Servers put it in the
/// request extensions (the dev proxy does; in axum, `ConnectInfo` works
/// too); the layer uses it for `X-Forwarded-For` and access logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// The local address a request arrived on, for servers that know it (the
/// dev proxy's accept loop sets it). The admin API accepts a `Host` naming
/// it, besides `localhost` and loopback addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LocalAddr(pub std::net::SocketAddr);

/// How the viewer reached the server, put in the request extensions by a
/// server that knows (the dev proxy does on every request once it
/// terminates TLS). It decides the scheme signed URLs are checked with and
/// what a behavior's [`ViewerProtocolPolicy`](crate::ViewerProtocolPolicy)
/// sees, over the `viewer_scheme` setting and `X-Forwarded-Proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ViewerConnection {
    /// The request came over TLS (HTTPS).
    pub tls: bool,
    /// The port this server serves HTTPS on, for the `Location` of a
    /// redirect to HTTPS (443 is left out of the URL).
    pub https_port: u16,
}
