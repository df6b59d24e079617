//! The TOML configuration file: the whole distribution model, as the dev
//! proxy reads it (`tower-cdn --config cdn.toml`) and as a library can.
//!
//! `examples/cdn.toml` shows every setting. Every mistake is reported as
//! `FILE: KEY.PATH: what is wrong`, before anything is served: unknown
//! keys, bad values, bad path patterns, unknown origin ids, an S3 origin
//! without a bucket, ...
//!
//! ```
//! let text = r#"
//!     [[distributions]]
//!     id = "site"
//!     domain = "example.com"
//!     [distributions.origins.web]
//!     kind = "http"
//!     url = "http://127.0.0.1:3000"
//!     [distributions.default_behavior]
//!     origin = "web"
//! "#;
//! let file = tower_cdn::config::from_toml_str(text, "cdn.toml").unwrap();
//! let layer = file.build().unwrap();
//! # let _ = layer;
//!
//! let err = tower_cdn::config::from_toml_str("[[distributions]]\nid = 1", "cdn.toml").unwrap_err();
//! assert_eq!(err.key(), "distributions[0].id");
//! ```

mod convert;
mod endpoints;
mod globals;
mod keys;
mod l2;
mod ops;
mod response_headers;
mod schema;
pub(crate) mod settings;
mod telemetry;
mod tls;
pub mod units;

pub(crate) use globals::Globals;
pub use tls::{CertFiles, DistributionCert, TlsFile};

use std::fmt;
use std::path::Path;

use crate::error::ConfigError;
use crate::{CdnLayer, CdnLayerBuilder};

/// A parsed configuration file, ready to build a layer.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    file: String,
    listen: Option<String>,
    admin: Option<String>,
    ops: ops::OpsSettings,
    builder: CdnLayerBuilder,
    tls: TlsFile,
}

impl ConfigFile {
    /// The file name used in errors.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The `listen` address, if the file sets one.
    pub fn listen(&self) -> Option<&str> {
        self.listen.as_deref()
    }

    /// The TLS settings the dev proxy serves with (`[tls]` and each
    /// distribution's `tls`).
    pub fn tls(&self) -> &TlsFile {
        &self.tls
    }

    /// The `admin` address, if the file sets one.
    pub fn admin(&self) -> Option<&str> {
        self.admin.as_deref()
    }

    /// The `admin_token` (bearer token of the admin API), if the file sets one.
    pub fn admin_token(&self) -> Option<&str> {
        self.ops.admin_token()
    }

    /// The `[access_log]` `path` (`-` is stdout), if the file sets one.
    /// Not part of [`builder`](Self::builder): opening the log is up to the
    /// caller (the dev proxy does, once, at start).
    pub fn access_log_path(&self) -> Option<&str> {
        self.ops.access_log_path()
    }

    /// The `[access_log]` `format` (default CloudFront's).
    pub fn access_log_format(&self) -> crate::LogFormat {
        self.ops.access_log_format()
    }

    /// The layer builder with everything the file sets; change it further
    /// (e.g. command-line overrides) before building.
    pub fn builder(&self) -> CdnLayerBuilder {
        self.builder.clone()
    }

    /// Builds the layer as the file describes it.
    pub fn build(&self) -> Result<CdnLayer, ConfigFileError> {
        self.builder().build().map_err(|e| self.error(e))
    }

    /// Names this file in a builder error, whose setting path is the key
    /// path in the file.
    pub fn error(&self, e: ConfigError) -> ConfigFileError {
        let e = settings::respell(&e, |s| Some(s.file));
        ConfigFileError { file: self.file.clone(), key: e.setting().to_owned(), message: e.message().to_owned() }
    }
}

/// What is wrong with a configuration file: the file, the key path (empty
/// when the file cannot be read or parsed at all) and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFileError {
    file: String,
    key: String,
    message: String,
}

impl ConfigFileError {
    /// The file.
    pub fn file(&self) -> &str {
        &self.file
    }
    /// The key path, e.g. `distributions[0].behaviors[1].path_pattern`.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigFileError {}

/// Reads and parses a configuration file (the builder is not built yet).
pub fn from_file(path: &Path) -> Result<ConfigFile, ConfigFileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError {
        file: name.clone(),
        key: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    from_toml_str(&text, &name)
}

/// Parses TOML `text`; `file` names it in errors, and relative `pem_file`
/// paths are read from its directory.
pub fn from_toml_str(text: &str, file: &str) -> Result<ConfigFile, ConfigFileError> {
    let error = |key: String, message: String| ConfigFileError { file: file.to_owned(), key, message };
    let de = toml::de::Deserializer::parse(text).map_err(|e| error(String::new(), located(text, &e)))?;
    let parsed: schema::FileSchema = serde_path_to_error::deserialize(de).map_err(|e| {
        let mut key = e.path().to_string();
        if key == "." {
            key.clear();
        }
        let inner = e.into_inner();
        let message = inner.message().to_owned();
        // An unknown key is reported at its table; name the key itself.
        if let Some(field) = unknown_field(&message)
            && !key.ends_with(field)
        {
            key = if key.is_empty() { field.to_owned() } else { format!("{key}.{field}") };
        }
        error(key, with_line(text, &inner, message))
    })?;
    // PEM files named in the file are relative to its directory.
    let base = Path::new(file).parent().unwrap_or(Path::new(""));
    let converted =
        convert::convert(parsed, base).map_err(|e| error(e.setting().to_owned(), e.message().to_owned()))?;
    Ok(ConfigFile {
        file: file.to_owned(),
        listen: converted.listen,
        admin: converted.admin,
        ops: converted.ops,
        builder: converted.builder,
        tls: converted.tls,
    })
}

/// The name in serde's "unknown field `x`, expected ..." message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

/// `message (line L, column C)` when the error has a position.
fn with_line(text: &str, e: &toml::de::Error, message: String) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{message} (line {line}, column {column})")
        }
        None => message,
    }
}

fn located(text: &str, e: &toml::de::Error) -> String {
    with_line(text, e, e.message().to_owned())
}

/// A setting of the file that this build of the crate cannot apply: it was
/// compiled without the Cargo feature that implements it.
#[allow(dead_code)] // Every feature on: nothing is missing.
pub(crate) fn needs_feature(setting: &str, feature: &str) -> ConfigError {
    ConfigError::new(
        setting,
        format!("needs tower-cdn's `{feature}` Cargo feature, which this build was compiled without"),
    )
}
