//! The dev caching proxy behind the `tower-cdn` binary: flags, the demo
//! origin, the accept loop, and operating it (admin listener, SIGHUP
//! reloads, access log, graceful shutdown). Public so the binary and tests
//! can drive it.

pub mod args;
pub mod demo;
#[cfg(feature = "http3")]
pub mod h3;
mod listeners;
mod ops;
pub mod serve;
pub mod tls;

use std::convert::Infallible;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower_layer::Layer;

use crate::config::settings::respell;
use crate::{CdnLayer, CdnLayerBuilder, ConfigError, Origin, config};
use args::{Args, LogFormat};
use serve::{ServeOptions, serve};

/// Runs the dev proxy with parsed flags; returns the process exit code.
pub async fn run(args: Args) -> ExitCode {
    init_tracing(args.log_format);
    if let Some(args::Command::SignUrl(sign)) = &args.command {
        return sign_url(sign);
    }
    if let Some(path) = &args.check_config {
        return check_config(path);
    }
    let served = match &args.config {
        Some(path) => from_config_file(&args, path),
        None => from_flags(&args).await,
    };
    let served = match served {
        Ok(served) => served,
        Err(code) => return code,
    };
    let opts = ServeOptions { grace_period: args.grace_period, ..ServeOptions::default() };
    let listeners = match listeners::Listeners::bind(&args, served.file.as_ref(), &served.listen, opts).await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let shutdown = ops::Shutdown::install();
    let tls = listeners.tls.clone();
    let admin =
        match ops::start_admin(&args, served.file.as_ref(), &served.layer, tls.clone(), opts, shutdown.clone()).await {
            Ok(admin) => admin,
            Err(code) => return code,
        };
    ops::spawn_sighup(args.clone(), served.layer.clone(), served.access_log.clone(), served.file.clone(), tls);
    for line in listeners.ready_lines() {
        println!("{line}");
    }
    let _ = std::io::stdout().flush();
    eprintln!("tower-cdn: {}", served.what);
    let local = listeners.main_addr;
    if served.demo {
        // The self-signed certificate covers 127.0.0.1: trust it rather than `-k`.
        let curl = match (&listeners.tls, &listeners.self_signed_pem) {
            (None, _) => format!("curl -si http://{local}/hello"),
            (Some(_), Some(pem)) => {
                let port = local.port();
                let to = if local.ip().is_unspecified() { format!("127.0.0.1:{port}") } else { local.to_string() };
                format!("curl -si --cacert {} https://{to}/hello", pem.display())
            }
            (Some(_), None) => format!("curl -sik https://{local}/hello"),
        };
        eprintln!("tower-cdn: try: {curl}  (twice: miss, then hit)");
    }
    let service = served.layer.layer(tower::service_fn(no_distribution));
    let cleartext = listeners.http.map(|(listener, _, http_opts)| {
        tokio::spawn(serve(listener, service.clone(), http_opts, shutdown.clone().wait()))
    });
    #[cfg(feature = "http3")]
    let h3 = match (listeners.h3, &listeners.tls) {
        (Some(socket), Some(state)) => {
            eprintln!("tower-cdn: HTTP/3 on udp {local}");
            let h3_opts = h3::H3Options::from(&listeners.main_opts);
            // The same layer (one cache) over HTTP/3's request body type.
            let h3_service = served.layer.layer(tower::service_fn(no_distribution));
            let serving =
                h3::serve_h3_tls(socket, Arc::clone(&state.tls), h3_service, h3_opts, shutdown.clone().wait());
            Some((local.port(), tokio::spawn(serving)))
        }
        _ => None,
    };
    #[cfg(not(feature = "http3"))]
    let h3: Option<(u16, tokio::task::JoinHandle<std::io::Result<()>>)> = None;
    let tls = listeners.tls.as_ref().map(|state| Arc::clone(&state.tls));
    // TCP responses advertise HTTP/3 on the same port, when it is served.
    #[cfg(feature = "http3")]
    let service = tower::util::option_layer(h3.as_ref().map(|(port, _)| h3::AltSvcLayer::new(*port))).layer(service);
    match (args.accept_threads, tls) {
        (n, tls) if n > 1 => {
            serve::serve_threads(listeners.main, n, service, listeners.main_opts, tls, shutdown).await;
        }
        (_, Some(tls)) => serve::serve_tls(listeners.main, service, listeners.main_opts, tls, shutdown.wait()).await,
        (_, None) => serve(listeners.main, service, listeners.main_opts, shutdown.wait()).await,
    }
    if let Some((_, h3)) = h3
        && let Ok(Err(e)) = h3.await
    {
        eprintln!("tower-cdn: HTTP/3: {e}");
    }
    if let Some(cleartext) = cleartext {
        let _ = cleartext.await;
    }
    // Entries still being written to the disk tier are committed first.
    #[cfg(feature = "disk")]
    served.layer.cache().flush_disk(std::time::Duration::from_secs(10)).await;
    // Spans still queued are exported (the exporter blocks its caller).
    let layer = served.layer.clone();
    let _ = tokio::task::spawn_blocking(move || layer.shutdown_telemetry(std::time::Duration::from_secs(5))).await;
    ops::finish(admin, served.access_log).await;
    ExitCode::SUCCESS
}

/// What the proxy is about to serve.
struct Served {
    layer: CdnLayer,
    listen: String,
    /// The config file, for the admin settings and reloads.
    file: Option<config::ConfigFile>,
    access_log: Option<crate::AccessLog>,
    /// One line for stderr: what is proxied.
    what: String,
    demo: bool,
}

/// `--check-config FILE`: `FILE: ok` and 0, or the error and 2. The file
/// is checked as a library builds it (app origins are fine there; a note
/// says the dev proxy cannot serve them), and S3 credentials from the
/// environment are resolved only when a server starts.
fn check_config(path: &Path) -> ExitCode {
    let checked = config::from_file(path).and_then(|file| {
        file.builder().check_only(true).build().map_err(|e| file.error(e))?;
        // The same file again, as the dev proxy would serve it: its
        // warnings were printed by the first build.
        let standalone = tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            file.builder().check_only(true).standalone(true).build()
        });
        if let Err(e) = standalone {
            eprintln!("tower-cdn: note: {}: the dev proxy cannot serve this file as it is", file.error(e));
        }
        if let Err(shown) = listeners::check(&file) {
            eprintln!("{shown}");
            return Ok(false);
        }
        Ok(true)
    });
    match checked {
        Ok(true) => {
            println!("{}: ok", path.display());
            ExitCode::SUCCESS
        }
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// `--config FILE`, with the flags overriding the file's globals.
fn from_config_file(args: &Args, path: &Path) -> Result<Served, ExitCode> {
    let file = config::from_file(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })?;
    let access_log = ops::open_access_log(args, Some(&file))?;
    let mut builder = with_flags(file.builder().standalone(true), args);
    if let Some(log) = &access_log {
        builder = builder.access_log(log.clone());
    }
    let layer = builder.build().map_err(|e| {
        if set_by_flag(args, e.setting()) {
            eprintln!("tower-cdn: invalid setting {}", respell(&e, |s| s.flag));
        } else {
            eprintln!("{}", file.error(e));
        }
        ExitCode::from(2)
    })?;
    let listen = args
        .listen
        .clone()
        .or_else(|| file.listen().map(str::to_owned))
        .unwrap_or_else(|| args::DEFAULT_LISTEN.to_owned());
    Ok(Served {
        layer,
        listen,
        file: Some(file.clone()),
        access_log,
        what: format!("serving the distributions of {}", path.display()),
        demo: false,
    })
}

/// `--origin URL`, or the demo origin.
async fn from_flags(args: &Args) -> Result<Served, ExitCode> {
    let (origin_url, demo) = match &args.origin {
        Some(url) => (url.clone(), false),
        None => match demo::spawn().await {
            Ok(addr) => (format!("http://{addr}"), true),
            Err(e) => {
                eprintln!("tower-cdn: cannot start the demo origin: {e}");
                return Err(ExitCode::FAILURE);
            }
        },
    };
    let access_log = ops::open_access_log(args, None)?;
    let origin = Origin::http(&origin_url).http2(args.origin_http2);
    let mut builder = with_flags(CdnLayer::builder().origin(origin).standalone(true), args);
    if let Some(log) = &access_log {
        builder = builder.access_log(log.clone());
    }
    let layer = builder.build().map_err(|e| {
        let e = if e.setting().starts_with("origin") { ConfigError::new("--origin", e.message()) } else { e };
        eprintln!("tower-cdn: invalid setting {}", respell(&e, |s| s.flag));
        ExitCode::from(2)
    })?;
    let what = if demo {
        format!("no --origin given, serving the built-in demo origin ({origin_url})")
    } else {
        format!("caching {origin_url}")
    };
    Ok(Served {
        layer,
        listen: args.listen.clone().unwrap_or_else(|| args::DEFAULT_LISTEN.to_owned()),
        file: None,
        access_log,
        what,
        demo,
    })
}

/// Applies the flags that override layer settings.
fn with_flags(b: CdnLayerBuilder, args: &Args) -> CdnLayerBuilder {
    let globals = crate::config::Globals {
        capacity: args.capacity,
        max_object_size: args.max_object_size,
        default_ttl: args.default_ttl,
        min_ttl: args.min_ttl,
        max_ttl: args.max_ttl,
        error_caching_min_ttl: args.error_caching_min_ttl,
        stale_while_revalidate: args.stale_while_revalidate,
        stale_if_error: args.stale_if_error,
        stale_if_unreachable: args.stale_if_unreachable,
        viewer_scheme: args.viewer_scheme.clone(),
        slice_size: args.slice_size,
    };
    let mut b = globals.apply(b);
    if args.compress {
        b = b.compress(true);
    }
    if let Some(url) = &args.l2 {
        b = b.l2(crate::L2Config::new(url));
    }
    if let Some(name) = &args.cache_name {
        b = b.cache_name(name);
    }
    if let Some(url) = &args.otlp_endpoint {
        // The file's service name and ratio stay.
        let telemetry = match b.telemetry_config() {
            Some(file) => crate::TelemetryConfig { endpoint: url.clone(), ..file.clone() },
            None => crate::TelemetryConfig::otlp(url),
        };
        b = b.telemetry(telemetry);
    }
    if let Some(dir) = &args.cache_dir {
        let mut disk = crate::DiskConfig::new(dir);
        if let Some(file) = b.disk_config() {
            disk = disk.capacity_bytes(file.capacity_bytes);
            if let Some(max) = file.max_object_bytes {
                disk = disk.max_object_bytes(max);
            }
        }
        if let Some(n) = args.disk_capacity {
            disk = disk.capacity_bytes(n);
        }
        if let Some(n) = args.disk_max_object_size {
            disk = disk.max_object_bytes(n);
        }
        b = b.disk(disk);
    }
    b
}

/// Whether a flag set the builder setting an error names.
fn set_by_flag(args: &Args, setting: &str) -> bool {
    match setting {
        "capacity_bytes" => args.capacity.is_some(),
        "max_entry_bytes" => args.max_object_size.is_some(),
        "slice_bytes" => args.slice_size.is_some(),
        "default_ttl" => args.default_ttl.is_some(),
        "min_ttl" => args.min_ttl.is_some(),
        "max_ttl" => args.max_ttl.is_some(),
        "error_caching_min_ttl" => args.error_caching_min_ttl.is_some(),
        "stale_while_revalidate" => args.stale_while_revalidate.is_some(),
        "stale_if_error" => args.stale_if_error.is_some(),
        "stale_if_unreachable" => args.stale_if_unreachable.is_some(),
        "viewer_scheme" => args.viewer_scheme.is_some(),
        "l2.url" => args.l2.is_some(),
        "cache_name" => args.cache_name.is_some(),
        "disk.dir" => args.cache_dir.is_some(),
        "disk.capacity" => args.disk_capacity.is_some(),
        "disk.max_object_size" => args.disk_max_object_size.is_some(),
        "telemetry.otlp_endpoint" => args.otlp_endpoint.is_some(),
        _ => false,
    }
}

/// `tower-cdn sign-url`: the signed URL (or cookies) on stdout, 0; or the
/// error and 2.
fn sign_url(a: &args::SignUrlArgs) -> ExitCode {
    use crate::auth::{HashAlgorithm, Policy, Signer};
    let fail = |what: String| {
        eprintln!("tower-cdn sign-url: {what}");
        ExitCode::from(2)
    };
    let pem = match std::fs::read_to_string(&a.private_key) {
        Ok(p) => p,
        Err(e) => return fail(format!("--private-key {}: {e}", a.private_key.display())),
    };
    let signer = match Signer::from_pem(&a.key_pair_id, &pem) {
        Ok(s) => s,
        Err(e) => return fail(format!("--private-key {}: {e}", a.private_key.display())),
    };
    let signer = if a.sha256 { signer.with_hash_algorithm(HashAlgorithm::Sha256) } else { signer };
    let now = std::time::SystemTime::now();
    let expires = now + a.expires;
    let custom = a.not_before.is_some() || a.ip.is_some() || a.resource.is_some();
    let signed = if custom {
        let mut policy = Policy::new(a.resource.clone().unwrap_or_else(|| a.url.clone()), expires);
        if let Some(d) = a.not_before {
            policy = policy.date_greater_than(now + d);
        }
        if let Some(ip) = &a.ip {
            policy = match policy.ip_address(ip) {
                Ok(p) => p,
                Err(e) => return fail(format!("--ip {ip}: {e}")),
            };
        }
        if a.cookies { signer.cookies(&policy).map(cookie_lines) } else { signer.custom_url(&a.url, &policy) }
    } else if a.cookies {
        signer.canned_cookies(&a.url, expires).map(cookie_lines)
    } else {
        signer.canned_url(&a.url, expires)
    };
    match signed {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e.to_string()),
    }
}

fn cookie_lines(cookies: Vec<(String, String)>) -> String {
    cookies.iter().map(|(k, v)| format!("Set-Cookie: {k}={v}; Secure; HttpOnly")).collect::<Vec<_>>().join("\n")
}

/// The standalone proxy has no app behind the cache: requests that no
/// distribution handles get a clear 404.
async fn no_distribution<B>(_req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp =
        Response::new(Full::new(Bytes::from_static(b"404 Not Found: no distribution is configured for this host\n")));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    Ok(resp)
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
