//! Operating the dev proxy: the access log, the admin listener, SIGHUP
//! (reload the config file, reopen the access log) and one shutdown
//! signal for every listener.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::args::{AccessLogFormat, Args, listen_addr};
use super::listeners::TlsState;
use super::serve::{ServeOptions, serve};
use crate::config::{self, ConfigFile};
use crate::{AccessLog, CdnLayer, LogFormat};

/// How long the access log gets to write its last records at exit.
const LOG_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the access log the flags (over the file) ask for.
pub(super) fn open_access_log(args: &Args, file: Option<&ConfigFile>) -> Result<Option<AccessLog>, ExitCode> {
    let path = args.access_log.as_deref().or_else(|| file.and_then(ConfigFile::access_log_path));
    let Some(path) = path else {
        return Ok(None);
    };
    let format = match args.access_log_format {
        Some(AccessLogFormat::Cloudfront) => LogFormat::CloudFront,
        Some(AccessLogFormat::Json) => LogFormat::Json,
        None => file.map_or(LogFormat::CloudFront, ConfigFile::access_log_format),
    };
    if path == "-" {
        return Ok(Some(AccessLog::stdout(format)));
    }
    AccessLog::file(path, format).map(Some).map_err(|e| {
        eprintln!("tower-cdn: cannot open the access log {path}: {e}");
        ExitCode::FAILURE
    })
}

/// Completes for every listener once Ctrl-C or SIGTERM arrives.
#[derive(Clone)]
pub(super) struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Starts watching for the signals. The handlers are registered before
    /// this returns, so a signal sent right after the ready line counts.
    pub(super) fn install() -> Self {
        let (tx, rx) = watch::channel(false);
        #[cfg(unix)]
        let signals = {
            use tokio::signal::unix::{SignalKind, signal};
            (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok())
        };
        tokio::spawn(async move {
            #[cfg(unix)]
            {
                let (mut term, mut int) = signals;
                tokio::select! {
                    () = recv(term.as_mut()) => {},
                    () = recv(int.as_mut()) => {},
                }
            }
            #[cfg(not(unix))]
            super::shutdown_signal().await;
            tracing::info!("shutting down: no new connections; responses in flight may finish");
            let _ = tx.send(true);
        });
        Shutdown(rx)
    }

    /// Waits for the signal.
    pub(super) async fn wait(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// The next delivery of a signal (never, if it could not be watched).
#[cfg(unix)]
async fn recv(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// The admin listener, if one was asked for: bound now (so a bad address
/// fails at start), announced on stderr, served until shutdown.
pub(super) async fn start_admin(
    args: &Args,
    file: Option<&ConfigFile>,
    layer: &CdnLayer,
    tls: Option<Arc<TlsState>>,
    opts: ServeOptions,
    shutdown: Shutdown,
) -> Result<Option<JoinHandle<()>>, ExitCode> {
    let token = args.admin_token.as_deref().or_else(|| file.and_then(ConfigFile::admin_token));
    let Some(text) = args.admin.as_deref().or_else(|| file.and_then(ConfigFile::admin)) else {
        if token.is_some() {
            tracing::warn!("an admin token is set but no admin listener (--admin ADDR)");
        }
        return Ok(None);
    };
    if token.is_some_and(|t| t.trim().is_empty()) {
        eprintln!("tower-cdn: invalid setting --admin-token: must not be empty");
        return Err(ExitCode::from(2));
    }
    let addr = listen_addr(text);
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
        eprintln!("tower-cdn: cannot listen on {addr} (admin): {e}");
        ExitCode::FAILURE
    })?;
    let local: SocketAddr = listener.local_addr().map_err(|e| {
        eprintln!("tower-cdn: {e}");
        ExitCode::FAILURE
    })?;
    let access = if token.is_some() { "bearer token required" } else { "no token: loopback clients only" };
    eprintln!("tower-cdn: admin API on http://{local} ({access})");
    if token.is_none() && !local.ip().is_loopback() {
        tracing::warn!(%local, "the admin listener is not on loopback and has no token: remote clients get 403");
    }
    let router = crate::admin::router_with_reload(layer, token, reloader(args, layer, file, tls));
    Ok(Some(tokio::spawn(serve(listener, router, opts, shutdown.wait()))))
}

/// Waits for the admin listener to stop, then writes the last log records.
pub(super) async fn finish(admin: Option<JoinHandle<()>>, log: Option<AccessLog>) {
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    if let Some(log) = log {
        let _ = tokio::task::spawn_blocking(move || log.close(LOG_CLOSE_TIMEOUT)).await;
    }
}

/// On SIGHUP: reopen the access log file and, with `--config`, reload it.
pub(super) fn spawn_sighup(
    args: Args,
    layer: CdnLayer,
    log: Option<AccessLog>,
    started: Option<ConfigFile>,
    tls: Option<Arc<TlsState>>,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // Registered now, before the ready line: SIGHUP's default action
        // would end the process.
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot watch SIGHUP: no reloads");
            return;
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                if let Some(log) = &log {
                    log.reopen();
                }
                match (&args.config, &started) {
                    (Some(path), Some(started)) => {
                        let _ = reload(&args, path, &layer, started, tls.as_deref());
                    }
                    _ => match &tls {
                        Some(tls) => match tls.reload(&args, None) {
                            Ok(()) => tracing::info!("SIGHUP: access log reopened, certificates re-read"),
                            Err(why) => tracing::error!(
                                "SIGHUP: certificates not re-read, still serving the previous ones: {why}"
                            ),
                        },
                        None => tracing::info!("SIGHUP: access log reopened (no --config file to reload)"),
                    },
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (args, layer, log, started, tls);
}

/// `POST /reload` on the admin API: what SIGHUP does to the config file.
fn reloader(
    args: &Args,
    layer: &CdnLayer,
    started: Option<&ConfigFile>,
    tls: Option<Arc<TlsState>>,
) -> Option<crate::admin::Reloader> {
    let (path, started) = (args.config.clone()?, started?.clone());
    let (args, layer) = (args.clone(), layer.clone());
    Some(Arc::new(move || reload(&args, &path, &layer, &started, tls.as_deref())))
}

/// Re-reads the config file and swaps it in: a summary of what changed.
/// A bad file is logged (and returned) and the running configuration stays.
fn reload(
    args: &Args,
    path: &Path,
    layer: &CdnLayer,
    started: &ConfigFile,
    tls: Option<&TlsState>,
) -> Result<String, String> {
    let rejected = |why: String| {
        tracing::error!("reload rejected, still serving the previous configuration: {why}");
        Err(why)
    };
    let file = match config::from_file(path) {
        Ok(file) => file,
        Err(e) => return rejected(e.to_string()),
    };
    let config = match super::with_flags(file.builder().standalone(true), args).build_config() {
        Ok(config) => config,
        Err(e) => {
            let shown = if super::set_by_flag(args, e.setting()) {
                format!("invalid setting {}", crate::config::settings::respell(&e, |s| s.flag))
            } else {
                file.error(e).to_string()
            };
            return rejected(shown);
        }
    };
    // Certificates first: a bad one rejects the whole reload.
    if let Some(tls) = tls
        && let Err(why) = tls.reload(args, Some(&file))
    {
        return rejected(why);
    }
    let done = layer.reload(config);
    let certificates = if tls.is_some() { "; certificates re-read" } else { "" };
    tracing::info!(file = %path.display(), "configuration reloaded: {done}{certificates}");
    for setting in done.not_applied() {
        let key = crate::config::settings::by_builder(setting).map_or(*setting, |s| s.file);
        tracing::warn!(file = %path.display(), "{key} changed: it applies after a restart");
    }
    for (key, same) in [
        ("listen", file.listen() == started.listen()),
        ("admin", file.admin() == started.admin()),
        ("admin_token", file.admin_token() == started.admin_token()),
        ("access_log", file.access_log_path() == started.access_log_path()),
        ("access_log.format", file.access_log_format() == started.access_log_format()),
        ("tls.http_listen", file.tls().http_listen == started.tls().http_listen),
        ("tls.http3", file.tls().http3 == started.tls().http3),
        ("tls", file.tls().enabled() == started.tls().enabled() || tls.is_some()),
    ] {
        if !same {
            tracing::warn!(file = %path.display(), "{key} changed: it applies after a restart");
        }
    }
    Ok(done.to_string())
}
