//! A custom HTTP(S) origin reached through reqwest.

use std::sync::Arc;
use std::time::Duration;

use super::sync_body::{SyncBody, viewer_body_error};
use super::tls::{ToEndpoint, Transport};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Response};

use super::config::{HttpOriginConfig, parse_custom_header};
use super::endpoints::{Endpoint, EndpointConfig, Pool, PoolConfig};
use super::inner::box_body;
use super::limit::Limiter;
use super::report::FailureLog;
use crate::body::OriginBody;
use crate::error::{ConfigError, OriginError};
use crate::origin::inner::HttpBody;
use crate::policy::headers::{append_via, declared_trailers, strip_hop_by_hop, strip_hop_by_hop_fixed};

/// A validated custom origin with its connection pool.
pub(crate) struct CustomOrigin {
    /// Per endpoint (same index as the pool's): the clients and the URL
    /// base its requests go out with.
    transports: Vec<Transport>,
    /// The endpoints (one for a plain `url`), each with its base and
    /// origin path.
    pool: Arc<Pool>,
    response_timeout: Duration,
    /// HTTP/2 from the first byte.
    http2: bool,
    forward_host: bool,
    custom_headers: HeaderMap,
    limiter: Option<Limiter>,
    failures: FailureLog,
}

impl std::fmt::Debug for CustomOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomOrigin")
            .field("endpoints", &self.pool.endpoints().iter().map(Endpoint::display).collect::<Vec<_>>())
            .field("custom_headers", &self.custom_headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl CustomOrigin {
    /// Validates the configuration and builds the client.
    pub(crate) fn new(name: &str, cfg: &HttpOriginConfig) -> Result<Self, ConfigError> {
        let listed: Vec<(String, EndpointConfig)> = cfg
            .url
            .iter()
            .map(|url| ("url".to_owned(), EndpointConfig { url: url.clone(), weight: 1 }))
            .chain(cfg.endpoints.iter().enumerate().map(|(i, e)| (format!("endpoints[{i}]"), e.clone())))
            .collect();
        let pool_cfg = PoolConfig {
            name,
            balance: cfg.balance,
            check: cfg.health_check.as_ref(),
            ejection: cfg.ejection,
            budget: cfg.budget,
        };
        join_paths("", &cfg.origin_path).map_err(|m| ConfigError::new("origin_path", m))?;
        let pool = Arc::new(Pool::new(pool_cfg, &listed, |url| parse_base(url, &cfg.origin_path))?);
        let mut custom_headers = HeaderMap::new();
        for (name, value) in &cfg.custom_headers {
            let (n, v) = parse_custom_header(name, value).map_err(|m| ConfigError::new("custom_headers", m))?;
            custom_headers.append(n, v);
        }
        if cfg.response_timeout.is_zero() {
            return Err(ConfigError::new("response_timeout", "must be greater than zero"));
        }
        if cfg.connect_timeout.is_zero() {
            return Err(ConfigError::new("connect_timeout", "must be greater than zero"));
        }
        // reqwest is built without a default TLS provider; installing ring
        // is idempotent (an `Err` means one is already installed).
        // rustls 0.23.48 deprecates ring for its lack of post-quantum key
        // exchange; ring keeps the build free of a C toolchain (aws-lc).
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let build = |resolver: Option<Arc<ToEndpoint>>| -> Result<(reqwest::Client, reqwest::Client), ConfigError> {
            let mut client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(cfg.connect_timeout)
                .pool_idle_timeout(cfg.keepalive_timeout)
                .pool_max_idle_per_host(cfg.max_idle_per_host)
                .tcp_nodelay(true);
            if cfg.http2 {
                client = client.http2_prior_knowledge();
            }
            // Upgrades (WebSocket) are an HTTP/1.1 mechanism: their connection
            // must not be negotiated to h2, and it leaves the pool once upgraded.
            let mut upgrade = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(cfg.connect_timeout)
                .http1_only()
                .pool_max_idle_per_host(0)
                .tcp_nodelay(true);
            if let Some(resolver) = resolver {
                // The URL names the TLS server name, not a place: a proxy
                // from the environment (HTTPS_PROXY) would be asked to
                // CONNECT to that name and reach whatever it resolves to,
                // not this endpoint (nor would NO_PROXY listing the
                // endpoint's address apply). The endpoint is dialed directly.
                client = client.dns_resolver(Arc::clone(&resolver)).no_proxy();
                upgrade = upgrade.dns_resolver(resolver).no_proxy();
            }
            let built = |b: reqwest::ClientBuilder| {
                cfg.tls
                    .apply(b)?
                    .build()
                    .map_err(|e| ConfigError::new("url", format!("cannot build an HTTP client: {e}")))
            };
            Ok((built(client)?, built(upgrade)?))
        };
        let shared = build(None)?;
        // Once per origin (its clients are built per endpoint and for upgrades).
        if !cfg.tls.verifies() {
            tracing::warn!(origin = name, "TLS verification is off for this origin: any certificate is accepted");
        }
        let transports = pool
            .endpoints()
            .iter()
            .map(|e| Transport::for_endpoint(&cfg.tls, &e.base, &build, &shared))
            .collect::<Result<Vec<_>, _>>()?;
        let limiter = cfg.limit.build()?;
        Ok(CustomOrigin {
            limiter,
            transports,
            pool,
            response_timeout: cfg.response_timeout,
            http2: cfg.http2,
            forward_host: cfg.forward_host,
            custom_headers,
            failures: FailureLog::new(name),
        })
    }

    pub(crate) fn response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// The operator's log of this origin's failures.
    pub(crate) fn failures(&self) -> &FailureLog {
        &self.failures
    }

    /// `host[:port]` of the origin's first endpoint.
    pub(crate) fn authority(&self) -> &str {
        self.pool.endpoint(0).authority()
    }

    /// The endpoints and their state.
    pub(crate) fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Starts the endpoints' health checks if they have some and a
    /// runtime is at hand (cheap once started).
    pub(crate) fn start_checks(&self) {
        super::probe::ensure_started(&self.pool, &self.transports, &self.custom_headers);
    }

    /// The concurrency limit, if any.
    pub(crate) fn limiter(&self) -> Option<&Limiter> {
        self.limiter.as_ref()
    }

    /// Sends the request to endpoint `i`; `forward_body` is false for
    /// GET/HEAD, whose bodies have no meaning (RFC 9110 §9.3.1) and are
    /// never forwarded.
    pub(crate) async fn fetch<B>(
        &self,
        i: usize,
        parts: Parts,
        body: B,
        forward_body: bool,
    ) -> Result<Response<OriginBody>, OriginError>
    where
        B: HttpBody,
    {
        let (endpoint, transport) = (self.pool.endpoint(i), &self.transports[i]);
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let url = url_for(&transport.base, &endpoint.origin_path, path_and_query)?;
        let url_text = url.to_string();
        let mut headers = parts.headers;
        // A viewer that takes trailers (gRPC) gets the origin's: say so to
        // the origin (RFC 9110 §10.1.4), as the only `TE` value that passes,
        // named in `Connection` where the connection is surely HTTP/1.1
        // (over HTTP/2, hyper removes what `Connection` names, `te` too;
        // `https://` may negotiate either).
        let trailers = te_trailers(&headers);
        let declared = declared_trailers(&headers);
        self.origin_headers(transport, &mut headers);
        if trailers {
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
            if !self.http2 && endpoint.base.starts_with("http://") {
                headers.insert(header::CONNECTION, HeaderValue::from_static("te"));
            }
        }
        let has_body = forward_body && !matches!(parts.method, Method::GET | Method::HEAD) && !body.is_end_stream();
        // The trailer fields the viewer declared, and may send on, travel
        // with its content (HTTP/1.1 sends only declared ones); no other.
        if has_body && !declared.is_empty() {
            let names = declared.iter().map(HeaderName::as_str).collect::<Vec<_>>().join(", ");
            if let Ok(value) = HeaderValue::from_str(&names) {
                headers.insert(header::TRAILER, value);
            }
        }
        if has_body && let Some(len) = body.size_hint().exact() {
            headers.insert(header::CONTENT_LENGTH, len.into());
        }
        let mut req = transport.client.request(parts.method.clone(), url).headers(headers);
        if has_body {
            // Frames as they come, trailers included.
            req = req.body(reqwest::Body::wrap(SyncBody::new(body, declared)));
        }
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => {
                // The viewer's content failed on the way (cut short, a
                // trailer section over the limit): its fault, not the origin's.
                if let Some(cause) = viewer_body_error(&e) {
                    tracing::debug!(url = %url_text, cause = %cause, "request content unreadable");
                    return Err(OriginError::bad_content(cause));
                }
                let mut err = classify(e);
                if self.http2 && err.is_protocol() {
                    err =
                        err.with_note(" (HTTP/2 is spoken from the first byte to this origin: does it speak HTTP/2?)");
                }
                self.failures.warn(&url_text, &err, None);
                return Err(err);
            }
        };
        // No `Upgrade` was sent, so no tunnel can follow: passing this on
        // would leave the client on a dead connection.
        if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
            let err = OriginError::protocol("101 Switching Protocols to a request that asked for no upgrade");
            self.failures.warn(&url_text, &err, None);
            return Err(err);
        }
        let mut resp = Response::from(resp);
        strip_hop_by_hop(resp.headers_mut());
        Ok(resp.map(box_body))
    }
}

/// Whether the viewer's `TE` lists `trailers`.
fn te_trailers(headers: &HeaderMap) -> bool {
    headers.get_all(header::TE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| {
        let mut parts = t.split(';');
        let named = parts.next().is_some_and(|t| t.trim().eq_ignore_ascii_case("trailers"));
        // `trailers;q=0` refuses them.
        let refused = parts.any(|p| {
            p.trim().split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("q") && v.trim().parse::<f32>().is_ok_and(|q| q == 0.0)
            })
        });
        named && !refused
    })
}

impl CustomOrigin {
    /// The viewer's headers as this origin gets them, for every request
    /// sent to it.
    fn origin_headers(&self, transport: &Transport, headers: &mut HeaderMap) {
        // The fields named by the viewer's `Connection` were removed when
        // the request arrived (before ours were added); these never pass.
        strip_hop_by_hop_fixed(headers);
        // The framing of what is sent is the body's own, never the viewer's
        // fields: a `Content-Length` without its bytes would make the origin
        // read the next request on the connection as this one's content.
        for name in [header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::EXPECT] {
            headers.remove(name);
        }
        if !self.forward_host {
            // reqwest sends the URL's; when the URL names the TLS server
            // name instead, the endpoint's own.
            match &transport.host {
                Some(host) => headers.insert(header::HOST, host.clone()),
                None => headers.remove(header::HOST),
            };
        }
        append_via(headers);
        for (name, value) in &self.custom_headers {
            headers.insert(name, value.clone());
        }
    }

    /// Sends an upgrade request (a WebSocket handshake) and, when the
    /// origin switches protocols, tunnels bytes both ways between the
    /// viewer's connection and the origin's until either side closes.
    /// The answer is the origin's `101` (or its refusal, as any response).
    pub(crate) async fn upgrade(
        &self,
        parts: Parts,
        viewer: hyper::upgrade::OnUpgrade,
    ) -> Result<Response<OriginBody>, OriginError> {
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        // A tunnel is not balanced by its key: any healthy endpoint.
        let key = super::balance::hash64(path_and_query.as_bytes());
        let i = self.pool.pick(key, None, std::time::Instant::now()).unwrap_or(0);
        let (endpoint, transport) = (self.pool.endpoint(i), &self.transports[i]);
        let url = url_for(&transport.base, &endpoint.origin_path, path_and_query)?;
        let url_text = url.to_string();
        let mut headers = parts.headers;
        let protocol = headers.get(header::UPGRADE).cloned();
        self.origin_headers(transport, &mut headers);
        if let Some(protocol) = protocol {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, protocol);
        }
        let resp = match transport.upgrade_client.request(parts.method, url).headers(headers).send().await {
            Ok(resp) => resp,
            Err(e) => {
                let err = classify(e);
                self.failures.warn(&url_text, &err, None);
                return Err(err);
            }
        };
        if resp.status() != http::StatusCode::SWITCHING_PROTOCOLS {
            let mut resp = Response::from(resp);
            strip_hop_by_hop(resp.headers_mut());
            return Ok(resp.map(box_body));
        }
        let mut head = resp.headers().clone();
        let switched_to = head.get(header::UPGRADE).cloned();
        strip_hop_by_hop(&mut head);
        let Some(switched_to) = switched_to else {
            let err = OriginError::protocol("101 Switching Protocols without Upgrade");
            self.failures.warn(&url_text, &err, None);
            return Err(err);
        };
        head.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        head.insert(header::UPGRADE, switched_to);
        tokio::spawn(async move {
            let origin = match resp.upgrade().await {
                Ok(io) => io,
                Err(e) => {
                    tracing::debug!(error = %e, "origin connection did not upgrade");
                    return;
                }
            };
            let viewer = match viewer.await {
                Ok(io) => io,
                Err(e) => {
                    tracing::debug!(error = %e, "viewer connection did not upgrade");
                    return;
                }
            };
            let mut viewer = hyper_util::rt::TokioIo::new(viewer);
            let mut origin = origin;
            // Either side closing (or failing) ends the tunnel.
            let _ = tokio::io::copy_bidirectional(&mut viewer, &mut origin).await;
        });
        let mut out = Response::new(box_body(http_body_util::Empty::<bytes::Bytes>::new()));
        *out.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
        *out.headers_mut() = head;
        Ok(out)
    }
}

/// The origin URL for a canonical path and query: `origin_path` and
/// then exactly those bytes. Refused if the URL parser would rewrite
/// them (the canonical form is chosen so that it does not).
fn url_for(base: &str, origin_path: &str, path_and_query: &str) -> Result<reqwest::Url, OriginError> {
    let wanted = format!("{origin_path}{path_and_query}");
    let url = reqwest::Url::parse(&format!("{base}{wanted}"))
        .map_err(|e| OriginError::bad_target(format!("{path_and_query:?}: {e}")))?;
    let got_path = url.path();
    let same = match url.query() {
        Some(q) => wanted.len() == got_path.len() + 1 + q.len() && wanted.starts_with(got_path) && wanted.ends_with(q),
        None => wanted == got_path,
    };
    if !same {
        return Err(OriginError::bad_target(format!("{path_and_query:?} would reach the origin rewritten")));
    }
    Ok(url)
}

/// reqwest's message names only the outermost error ("error sending
/// request"); the cause is in its sources, and the operator needs it.
pub(crate) fn classify(e: reqwest::Error) -> OriginError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    if e.is_timeout() {
        OriginError::timeout(message)
    } else if e.is_connect() {
        OriginError::connect(message)
    } else {
        OriginError::protocol(message)
    }
}

/// An endpoint's URL as `scheme://authority` and its origin path (the
/// URL's path, then the configured one), or why it cannot be one.
fn parse_base(url: &str, origin_path: &str) -> Result<(String, String), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url:?} is not a valid URL: {e}"))?;
    let scheme = match uri.scheme_str() {
        Some(s @ ("http" | "https")) => s,
        _ => return Err(format!("{url:?} must start with http:// or https://")),
    };
    let Some(authority) = uri.authority() else {
        return Err(format!("{url:?} has no host"));
    };
    if uri.query().is_some() {
        return Err("an origin URL cannot have a query string".into());
    }
    let url_path = uri.path().trim_end_matches('/');
    let origin_path = join_paths(url_path, origin_path)?;
    Ok((format!("{scheme}://{authority}"), origin_path))
}

/// Joins the URL's own path and the configured origin path into `""` or
/// `/a/b` (no trailing slash).
fn join_paths(url_path: &str, origin_path: &str) -> Result<String, String> {
    let extra = origin_path.trim_matches('/');
    if extra.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err(format!("{origin_path:?} must not contain . or .. segments"));
    }
    if extra.contains(['?', '#']) {
        return Err(format!("{origin_path:?} must not contain ? or #"));
    }
    let mut out = String::from(url_path.trim_end_matches('/'));
    if !extra.is_empty() {
        out.push('/');
        out.push_str(extra);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_paths_join_without_double_slashes() {
        assert_eq!(join_paths("", "").unwrap(), "");
        assert_eq!(join_paths("", "/static/").unwrap(), "/static");
        assert_eq!(join_paths("/a", "b").unwrap(), "/a/b");
        assert!(join_paths("", "/../etc").is_err());
    }
}
