//! The dev caching proxy behind the `tower-cdn` binary: flags, the demo
//! origin and the accept loop. Public so the binary and tests can drive it.

pub mod args;
pub mod demo;
pub mod serve;
pub mod units;

use std::convert::Infallible;
use std::io::Write as _;
use std::process::ExitCode;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower_layer::Layer;

use crate::{CdnLayer, ConfigError, Origin};
use args::{Args, LogFormat};
use serve::{ServeOptions, serve};

/// Runs the dev proxy with parsed flags; returns the process exit code.
pub async fn run(args: Args) -> ExitCode {
    init_tracing(args.log_format);
    if let Some(path) = &args.check_config {
        eprintln!("tower-cdn: --check-config {}: configuration files are not supported yet", path.display());
        return ExitCode::from(2);
    }
    if let Some(path) = &args.config {
        eprintln!("tower-cdn: --config {}: configuration files are not supported yet", path.display());
        return ExitCode::from(2);
    }
    let (origin_url, demo) = match &args.origin {
        Some(url) => (url.clone(), false),
        None => match demo::spawn().await {
            Ok(addr) => (format!("http://{addr}"), true),
            Err(e) => {
                eprintln!("tower-cdn: cannot start the demo origin: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let layer = match build_layer(&args, &origin_url) {
        Ok(layer) => layer,
        Err(e) => {
            eprintln!("tower-cdn: invalid setting {e}");
            return ExitCode::from(2);
        }
    };
    let addr = args::listen_addr(&args.listen);
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tower-cdn: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tower-cdn: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on http://{local}");
    let _ = std::io::stdout().flush();
    if demo {
        eprintln!("tower-cdn: no --origin given, serving the built-in demo origin ({origin_url})");
        eprintln!("tower-cdn: try: curl -si http://{local}/hello  (twice: miss, then hit)");
    } else {
        eprintln!("tower-cdn: caching {origin_url}");
    }
    let service = layer.layer(tower::service_fn(no_distribution));
    serve(listener, service, ServeOptions::default(), shutdown_signal()).await;
    ExitCode::SUCCESS
}

fn build_layer(args: &Args, origin_url: &str) -> Result<CdnLayer, ConfigError> {
    let mut b = CdnLayer::builder().origin(Origin::http(origin_url));
    if let Some(v) = args.capacity {
        b = b.capacity_bytes(v);
    }
    if let Some(v) = args.max_object_size {
        b = b.max_entry_bytes(v);
    }
    if let Some(v) = args.default_ttl {
        b = b.default_ttl(v);
    }
    if let Some(v) = args.min_ttl {
        b = b.min_ttl(v);
    }
    if let Some(v) = args.max_ttl {
        b = b.max_ttl(v);
    }
    b.build().map_err(rename_flag)
}

/// Names flags as the user typed them.
fn rename_flag(e: ConfigError) -> ConfigError {
    let flag = match e.setting() {
        "capacity_bytes" => "--capacity",
        "max_entry_bytes" => "--max-object-size",
        "default_ttl" => "--default-ttl",
        "min_ttl" => "--min-ttl",
        "max_ttl" => "--max-ttl",
        s if s.starts_with("origin") => "--origin",
        _ => return e,
    };
    ConfigError::new(flag, e.message())
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
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
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
