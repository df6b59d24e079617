//! Command-line flags of the dev proxy.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::config::units::{parse_duration, parse_size};

/// A local CDN edge cache: proxies and caches an origin like CloudFront.
#[derive(Debug, Clone, Parser)]
#[command(name = "tower-cdn", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Other things the binary does than serving.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on (`:PORT` means 127.0.0.1:PORT; port 0 picks a free one)
    /// [default: the config file's `listen`, else 127.0.0.1:8080].
    #[arg(long, env = "TOWER_CDN_LISTEN")]
    pub listen: Option<String>,

    /// Origin to proxy and cache, e.g. http://localhost:3000 (default: a built-in demo origin).
    #[arg(long)]
    pub origin: Option<String>,

    /// Speak HTTP/2 to --origin from the first byte (h2c on http://), as
    /// gRPC origins need. In a file: `http2 = true` on the origin.
    #[arg(long, requires = "origin")]
    pub origin_http2: bool,

    /// TOML configuration file (distributions, behaviors, origins); flags
    /// override the file's global settings.
    #[arg(long, conflicts_with = "origin")]
    pub config: Option<PathBuf>,

    /// Validate a configuration file and exit: prints `FILE: ok` and exits 0,
    /// or prints the error and exits 2.
    #[arg(long, value_name = "FILE")]
    pub check_config: Option<PathBuf>,

    /// Admin listener address (invalidations, stats, metrics, distribution
    /// switches, reload), e.g. 127.0.0.1:9901 [default: the config file's `admin`,
    /// else off]. Never served on the public listener.
    #[arg(long)]
    pub admin: Option<String>,

    /// Bearer token the admin API requires [default: the config file's
    /// `admin_token`; without one, only loopback clients are served].
    #[arg(long, env = "TOWER_CDN_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Access log: a file (reopened on SIGHUP, for logrotate) or `-` for
    /// standard output [default: the config file's `[access_log]`, else none].
    #[arg(long, value_name = "PATH|-")]
    pub access_log: Option<String>,

    /// Access log line format [default: the config file's, else cloudfront].
    #[arg(long, value_enum)]
    pub access_log_format: Option<AccessLogFormat>,

    /// Time responses in flight get to finish after SIGTERM or Ctrl-C.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub grace_period: Duration,

    /// Cache capacity (bodies, headers and per-entry overhead), e.g. 256MiB.
    #[arg(long, value_parser = parse_size)]
    pub capacity: Option<u64>,

    /// Largest object stored, e.g. 64MiB; larger ones stream through.
    #[arg(long, value_parser = parse_size)]
    pub max_object_size: Option<u64>,

    /// Range requests for objects not stored fetch and store slices of this
    /// size, e.g. 4MiB [default: 1MiB; 0 turns slicing off].
    #[arg(long, value_parser = parse_size)]
    pub slice_size: Option<u64>,

    /// Lifetime when the origin sends no Cache-Control/Expires, e.g. 24h.
    #[arg(long, value_parser = parse_duration)]
    pub default_ttl: Option<Duration>,

    /// Lower bound on lifetimes, e.g. 0s.
    #[arg(long, value_parser = parse_duration)]
    pub min_ttl: Option<Duration>,

    /// Upper bound on lifetimes, e.g. 365d.
    #[arg(long, value_parser = parse_duration)]
    pub max_ttl: Option<Duration>,

    /// How long errors CloudFront caches (400, 403, 404, 405, 414, 5xx) are
    /// cached at least, e.g. 10s (the default); 0s: only as the origin says.
    #[arg(long, value_parser = parse_duration)]
    pub error_caching_min_ttl: Option<Duration>,

    /// Serve a stale response this long while it is refreshed in the
    /// background, when the origin does not say (stale-while-revalidate;
    /// Varnish's grace), e.g. 30s [default: 0s].
    #[arg(long, value_parser = parse_duration)]
    pub stale_while_revalidate: Option<Duration>,

    /// Serve a stale response this long when the origin answers 5xx, when
    /// the origin does not say (stale-if-error), e.g. 1h [default: 0s].
    #[arg(long, value_parser = parse_duration)]
    pub stale_if_error: Option<Duration>,

    /// Serve a stale response this long when the origin cannot be reached
    /// or times out [default: 24h; 0s turns it off].
    #[arg(long, value_parser = parse_duration)]
    pub stale_if_unreachable: Option<Duration>,

    /// The scheme viewers use (signed URLs are checked as SCHEME://host/...):
    /// `https` behind a TLS terminator [default: the config file's, else http].
    #[arg(long, value_parser = ["http", "https"])]
    pub viewer_scheme: Option<String>,

    /// Shared L2 cache on Redis, e.g. redis://127.0.0.1:6379 (rediss:// for TLS): edges given
    /// the same one act as one cache (overrides the file's `[l2] url`).
    #[arg(long, value_name = "URL")]
    pub l2: Option<String>,

    /// Keep a disk tier in DIR (created if missing): entries survive
    /// restarts, and objects larger than memory are cached (overrides the
    /// file's `[disk] dir`).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<std::path::PathBuf>,

    /// The most the disk tier may hold, e.g. 50GiB [default: 10GiB].
    #[arg(long, value_parser = parse_size, requires = "cache_dir")]
    pub disk_capacity: Option<u64>,

    /// Largest object the disk tier stores, e.g. 4GiB [default: 1GiB].
    #[arg(long, value_parser = parse_size, requires = "cache_dir")]
    pub disk_max_object_size: Option<u64>,

    /// This cache's name in Cache-Status (default tower-cdn); give tiers
    /// (edge, shield) different names.
    #[arg(long, value_name = "NAME")]
    pub cache_name: Option<String>,

    /// Export request and origin-fetch spans (OpenTelemetry) to this OTLP/HTTP
    /// collector, e.g. http://127.0.0.1:4318 (posted to /v1/traces), and send
    /// W3C traceparent to origins [default: the config file's `[telemetry]`,
    /// else off].
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,

    /// Terminate TLS with this certificate chain (PEM, leaf first) as the
    /// default certificate [default: the config file's `[tls] cert_file`].
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Terminate TLS with a certificate made now for localhost and the
    /// configured names (local development): its SHA-256 fingerprint and a
    /// PEM file to trust are printed on stderr.
    #[arg(long, conflicts_with = "tls_cert")]
    pub tls_self_signed: bool,

    /// TLS protocols and ciphers: TLSv1.2_2021 (TLS 1.2 and 1.3, AEAD
    /// ciphers) or TLSv1.3_2025 [default: the config file's, else TLSv1.2_2021].
    #[arg(long, value_name = "POLICY")]
    pub tls_security_policy: Option<String>,

    /// With TLS on: also serve cleartext HTTP here (behaviors' viewer
    /// protocol policies redirect or refuse it), e.g. :8080
    /// [default: the config file's `[tls] http_listen`, else none].
    #[arg(long, value_name = "ADDR")]
    pub http_listen: Option<String>,

    /// With TLS on: also serve HTTP/3 (QUIC) on the TLS listener's port over
    /// UDP, advertised to TCP clients with `Alt-Svc` [default: the config
    /// file's `[tls] http3`, else off].
    #[cfg(feature = "http3")]
    #[arg(long)]
    pub http3: bool,

    /// Serve connections on N threads, each with its own event loop and its
    /// own listening socket on the address (SO_REUSEPORT), as nginx's
    /// workers do [default: 0, one multi-threaded runtime for everything].
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub accept_threads: usize,

    /// Compress text-like responses with brotli/gzip for clients that accept them.
    #[arg(long)]
    pub compress: bool,

    /// Log format on stderr; filter with RUST_LOG (default `info`; one line
    /// per request: `RUST_LOG=info,tower_cdn::request=debug`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Print a CloudFront signed URL (or signed cookies) for a behavior with
    /// trusted keys: `tower-cdn sign-url --key-pair-id K --private-key key.pem
    /// --expires 1h https://example.com/private/a.pdf`.
    SignUrl(SignUrlArgs),
}

/// `tower-cdn sign-url`.
#[derive(Debug, Clone, clap::Args)]
pub struct SignUrlArgs {
    /// The URL to sign (as viewers will request it, scheme and host included).
    pub url: String,

    /// The key pair (public key) id the edge trusts.
    #[arg(long)]
    pub key_pair_id: String,

    /// The private key, PEM (RSA PKCS#1/PKCS#8, or EC P-256).
    #[arg(long, value_name = "FILE")]
    pub private_key: PathBuf,

    /// How long the URL stays valid from now, e.g. 1h.
    #[arg(long, value_parser = parse_duration, default_value = "1h")]
    pub expires: Duration,

    /// Also not valid before this long from now (a custom policy).
    #[arg(long, value_parser = parse_duration)]
    pub not_before: Option<Duration>,

    /// Only for clients in this range, e.g. 192.0.2.0/24 (a custom policy).
    #[arg(long)]
    pub ip: Option<String>,

    /// The resource the policy covers, with `*` wildcards, e.g.
    /// `https://example.com/private/*` [default: the URL; a custom policy].
    #[arg(long)]
    pub resource: Option<String>,

    /// Sign with SHA-256 (`Hash-Algorithm=SHA256`) instead of SHA-1.
    #[arg(long)]
    pub sha256: bool,

    /// Print `Set-Cookie` lines (signed cookies) instead of a URL.
    #[arg(long)]
    pub cookies: bool,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Access log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccessLogFormat {
    /// CloudFront's standard log format (W3C, tab-separated).
    Cloudfront,
    /// One JSON object per line.
    Json,
}

/// The listen address when neither the flag nor a config file sets one.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Resolves `:PORT` to the loopback address.
pub fn listen_addr(text: &str) -> String {
    match text.strip_prefix(':') {
        Some(port) => format!("127.0.0.1:{port}"),
        None => text.to_owned(),
    }
}
