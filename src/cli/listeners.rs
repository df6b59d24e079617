//! The dev proxy's public listeners: cleartext HTTP, or TLS (with an
//! optional cleartext listener beside it), and the TLS settings the flags
//! and the config file give.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;

use super::args::{Args, listen_addr};
use super::serve::ServeOptions;
use super::tls::{SecurityPolicy, Tls, TlsSource};
use crate::ViewerConnection;
use crate::config::{CertFiles, ConfigFile};
use crate::error::ConfigError;

/// TLS termination as running: the configuration and where it came from
/// (kept for reloads, with a generated certificate if there is one).
pub(super) struct TlsState {
    pub(super) tls: Arc<Tls>,
    source: Mutex<TlsSource>,
}

impl TlsState {
    /// Re-reads the certificates, from `file` when the config file was
    /// reloaded: `Err` (shown to the operator) leaves them as they were.
    pub(super) fn reload(&self, args: &Args, file: Option<&ConfigFile>) -> Result<(), String> {
        let mut current = self.source.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let source = match file {
            Some(file) => match source(args, Some(file)) {
                Ok(Some(mut source)) => {
                    source.keep_generated(&current);
                    source
                }
                Ok(None) => return Err("TLS cannot be turned off by a reload: restart to serve cleartext".into()),
                Err(e) => return Err(shown(&e, Some(file))),
            },
            None => current.clone(),
        };
        self.tls.reload(&source).map_err(|e| shown(&e, file))?;
        *current = source;
        Ok(())
    }
}

/// An error about a TLS setting, as the operator reads it.
fn shown(e: &ConfigError, file: Option<&ConfigFile>) -> String {
    match file {
        Some(file) if !e.setting().starts_with("--") => file.error(e.clone()).to_string(),
        _ => format!("tower-cdn: invalid setting {e}"),
    }
}

/// The TLS settings of the flags over the file's; `None`: no TLS.
fn source(args: &Args, file: Option<&ConfigFile>) -> Result<Option<TlsSource>, ConfigError> {
    let from_file = file.map(ConfigFile::tls);
    let policy = match (&args.tls_security_policy, from_file.and_then(|t| t.security_policy.as_deref())) {
        (Some(name), _) => SecurityPolicy::parse(name).map_err(|m| ConfigError::new("--tls-security-policy", m))?,
        (None, Some(name)) => SecurityPolicy::parse(name).map_err(|m| ConfigError::new("tls.security_policy", m))?,
        (None, None) => SecurityPolicy::default(),
    };
    let default = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(CertFiles { cert_file: cert.clone(), key_file: key.clone(), setting: "--tls-cert".into() })
        }
        _ => from_file.and_then(|t| t.default.clone()),
    };
    let distributions = from_file.map(|t| t.distributions.clone()).unwrap_or_default();
    if default.is_none() && distributions.is_empty() && !args.tls_self_signed {
        return Ok(None);
    }
    Ok(Some(TlsSource::new(default, distributions, policy)))
}

/// `--check-config`: the file's certificates load and cover their names.
pub(super) fn check(file: &ConfigFile) -> Result<(), String> {
    let t = file.tls();
    if !t.enabled() {
        return Ok(());
    }
    let policy = match t.security_policy.as_deref() {
        Some(name) => {
            SecurityPolicy::parse(name).map_err(|m| shown(&ConfigError::new("tls.security_policy", m), Some(file)))?
        }
        None => SecurityPolicy::default(),
    };
    let source = TlsSource::new(t.default.clone(), t.distributions.clone(), policy);
    Tls::new(&source).map(drop).map_err(|e| shown(&e, Some(file)))
}

/// The listeners, bound, with what the ready lines say.
pub(super) struct Listeners {
    pub(super) main: TcpListener,
    pub(super) main_addr: SocketAddr,
    pub(super) main_opts: ServeOptions,
    /// The cleartext listener beside a TLS one.
    pub(super) http: Option<(TcpListener, SocketAddr, ServeOptions)>,
    pub(super) tls: Option<Arc<TlsState>>,
    /// The PEM file of the `--tls-self-signed` certificate, for clients to trust.
    pub(super) self_signed_pem: Option<std::path::PathBuf>,
    /// HTTP/3 on the TLS listener's port.
    #[cfg(feature = "http3")]
    pub(super) h3: Option<std::net::UdpSocket>,
}

impl Listeners {
    /// Loads the TLS settings (an error names the setting) and binds.
    pub(super) async fn bind(
        args: &Args,
        file: Option<&ConfigFile>,
        listen: &str,
        opts: ServeOptions,
    ) -> Result<Listeners, ExitCode> {
        let bad = |e: ConfigError| {
            eprintln!("{}", shown(&e, file));
            ExitCode::from(2)
        };
        let mut self_signed_pem = None;
        let tls = match source(args, file).map_err(bad)? {
            Some(mut source) => {
                if args.tls_self_signed {
                    let names = file.map(|f| f.tls().all_names.clone()).unwrap_or_default();
                    match source.self_signed(&names, &std::env::temp_dir()) {
                        Ok((line, pem)) => {
                            eprintln!("tower-cdn: {line}");
                            self_signed_pem = Some(pem);
                        }
                        Err(e) => {
                            eprintln!("tower-cdn: --tls-self-signed: {e}");
                            return Err(ExitCode::FAILURE);
                        }
                    }
                }
                let tls = Tls::new(&source).map_err(bad)?;
                Some(Arc::new(TlsState { tls: Arc::new(tls), source: Mutex::new(source) }))
            }
            None => None,
        };
        let http_listen = args.http_listen.clone().or_else(|| file.and_then(|f| f.tls().http_listen.clone()));
        if http_listen.is_some() && tls.is_none() {
            let setting = if args.http_listen.is_some() { "--http-listen" } else { "tls.http_listen" };
            return Err(bad(ConfigError::new(
                setting,
                "needs TLS on the main listener (--tls-cert, --tls-self-signed or [tls] cert_file)",
            )));
        }
        let (main, main_addr) = bind(listen, "", args.accept_threads > 1).await?;
        let mut main_opts = opts;
        let http = match &http_listen {
            Some(text) => {
                let (listener, addr) = bind(text, " (cleartext HTTP)", false).await?;
                let viewer = ViewerConnection { tls: false, https_port: main_addr.port() };
                Some((listener, addr, ServeOptions { viewer: Some(viewer), ..opts }))
            }
            None => None,
        };
        if tls.is_some() {
            main_opts.viewer = Some(ViewerConnection { tls: true, https_port: main_addr.port() });
        }
        #[cfg(feature = "http3")]
        let h3 = {
            let wanted = args.http3 || file.and_then(|f| f.tls().http3).unwrap_or(false);
            if wanted && tls.is_none() {
                let setting = if args.http3 { "--http3" } else { "tls.http3" };
                return Err(bad(ConfigError::new(
                    setting,
                    "needs TLS (--tls-cert, --tls-self-signed or [tls] cert_file)",
                )));
            }
            match wanted {
                true => Some(std::net::UdpSocket::bind(main_addr).map_err(|e| {
                    eprintln!("tower-cdn: cannot listen on udp {main_addr} (HTTP/3): {e}");
                    ExitCode::FAILURE
                })?),
                false => None,
            }
        };
        #[cfg(not(feature = "http3"))]
        if file.and_then(|f| f.tls().http3) == Some(true) {
            return Err(bad(crate::config::needs_feature("tls.http3", "http3")));
        }
        Ok(Listeners {
            main,
            main_addr,
            main_opts,
            http,
            tls,
            self_signed_pem,
            #[cfg(feature = "http3")]
            h3,
        })
    }

    /// The ready lines for stdout: the main listener first.
    pub(super) fn ready_lines(&self) -> Vec<String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut lines = vec![format!("listening on {scheme}://{}", self.main_addr)];
        if let Some((_, addr, _)) = &self.http {
            lines.push(format!("listening on http://{addr}"));
        }
        lines
    }
}

/// Binds `text`; `shared` for a listener that `--accept-threads` adds more
/// listeners beside (`SO_REUSEPORT`).
async fn bind(text: &str, what: &str, shared: bool) -> Result<(TcpListener, SocketAddr), ExitCode> {
    let addr = listen_addr(text);
    let listener = listen(&addr, shared).await.map_err(|e| {
        eprintln!("tower-cdn: cannot listen on {addr}{what}: {e}");
        ExitCode::FAILURE
    })?;
    let local = listener.local_addr().map_err(|e| {
        eprintln!("tower-cdn: {e}");
        ExitCode::FAILURE
    })?;
    Ok((listener, local))
}

/// A listener on `addr`. A port another process listens on is an error
/// either way: a shared listener is bound plainly first (which fails on a
/// port in use, whatever the other socket's options), and only then again
/// with `SO_REUSEPORT` on the address it got, so a second instance cannot
/// silently split the first one's connections.
async fn listen(addr: &str, shared: bool) -> std::io::Result<TcpListener> {
    let plain = TcpListener::bind(addr).await?;
    if !shared {
        return Ok(plain);
    }
    let local = plain.local_addr()?;
    drop(plain);
    listen_shared(local)
}

/// Binds `addr` with `SO_REUSEADDR` and `SO_REUSEPORT` and listens.
pub(super) fn listen_shared(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
