//! Static S3 credentials: from the environment or the shared `~/.aws/credentials` file.
//!
//! Only static keys are supported (no SSO, roles, IMDS or `credential_process`). Every reader
//! takes an environment-lookup closure so that tests never touch the process environment.

use std::fmt;
use std::path::PathBuf;

/// Credentials used to sign origin requests.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Send requests unsigned (public buckets).
    Anonymous,
    /// An access key pair, with a session token for temporary credentials.
    Static {
        /// The access key id (not secret: it appears in every `Authorization` header).
        access_key_id: String,
        /// The secret access key.
        secret_access_key: String,
        /// The session token of temporary (STS) credentials.
        session_token: Option<String>,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Static { access_key_id, session_token, .. } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &format_args!("***"))
                .field("session_token", &session_token.as_ref().map(|_| format_args!("***")))
                .finish(),
        }
    }
}

/// Why credentials could not be loaded. Never carries secret material.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialsError {
    /// Only one of the access key id and the secret access key was given (in `source`).
    Incomplete {
        /// Where: an environment variable pair or a profile name.
        source: String,
    },
    /// A line of the shared credentials file is neither a `[section]`, a `key = value`, a
    /// comment nor blank, or a property comes before any section.
    Parse {
        /// 1-based line number.
        line: usize,
    },
    /// The shared credentials file exists but could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error, as text.
        error: String,
    },
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Incomplete { source } => write!(f, "{source}: access key id and secret access key must both be set"),
            Self::Parse { line } => write!(f, "shared credentials file: cannot parse line {line}"),
            Self::Io { path, error } => write!(f, "cannot read {}: {error}", path.display()),
        }
    }
}

impl std::error::Error for CredentialsError {}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn pair(
    ak: Option<String>,
    sk: Option<String>,
    token: Option<String>,
    source: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    match (non_empty(ak), non_empty(sk)) {
        (Some(access_key_id), Some(secret_access_key)) => {
            Ok(Some(Credentials::Static { access_key_id, secret_access_key, session_token: non_empty(token) }))
        }
        (None, None) => Ok(None),
        _ => Err(CredentialsError::Incomplete { source: source.to_owned() }),
    }
}

/// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and the optional
/// `AWS_SESSION_TOKEN`, read through `lookup` (pass `|k| std::env::var(k).ok()`, or use
/// [`credentials_from_process_env`]). `Ok(None)` when neither key is set; an error when only one is.
pub fn credentials_from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Credentials>, CredentialsError> {
    pair(
        lookup("AWS_ACCESS_KEY_ID"),
        lookup("AWS_SECRET_ACCESS_KEY"),
        lookup("AWS_SESSION_TOKEN"),
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
    )
}

/// [`credentials_from_env`] on the process environment.
pub fn credentials_from_process_env() -> Result<Option<Credentials>, CredentialsError> {
    credentials_from_env(|k| std::env::var(k).ok())
}

/// Parse the contents of a shared credentials file (INI: `[profile]` sections with
/// `aws_access_key_id`, `aws_secret_access_key` and `aws_session_token`) and return the
/// credentials of `profile`.
///
/// Blank lines and whole-line comments (`#` or `;`) are skipped; whitespace around names and
/// values is trimmed; keys are case-insensitive; a repeated section or key adds to or overrides
/// the earlier one. Other keys (`region`, `role_arn`, indented sub-properties …) are ignored.
/// `Ok(None)` when the profile is missing or has neither key; an error when it has only one.
pub fn credentials_from_shared_file(contents: &str, profile: &str) -> Result<Option<Credentials>, CredentialsError> {
    let (mut ak, mut sk, mut token) = (None, None, None);
    let mut section: Option<&str> = None;
    for (n, raw) in contents.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(inner) = line.strip_prefix('[') {
            // Allow a trailing comment after the closing bracket: `[default] # main`.
            let name = inner.split_once(']').map(|(name, _)| name.trim());
            section = Some(name.ok_or(CredentialsError::Parse { line: n + 1 })?);
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(CredentialsError::Parse { line: n + 1 });
        };
        let Some(current) = section else {
            return Err(CredentialsError::Parse { line: n + 1 });
        };
        if current != profile {
            continue;
        }
        let value = Some(value.trim().to_owned());
        match key.trim().to_ascii_lowercase().as_str() {
            "aws_access_key_id" => ak = value,
            "aws_secret_access_key" => sk = value,
            "aws_session_token" => token = value,
            _ => {}
        }
    }
    pair(ak, sk, token, &format!("profile {profile:?}"))
}

/// Where the shared credentials file is and which profile to use: `AWS_SHARED_CREDENTIALS_FILE`
/// (a leading `~/` is expanded with `HOME`) or `$HOME/.aws/credentials`, and `AWS_PROFILE` or
/// `default`. `None` when no file location can be formed (no `HOME`).
pub fn shared_credentials_location(lookup: impl Fn(&str) -> Option<String>) -> Option<(PathBuf, String)> {
    let home = non_empty(lookup("HOME"));
    let path = match non_empty(lookup("AWS_SHARED_CREDENTIALS_FILE")) {
        Some(p) => match (p.strip_prefix("~/"), &home) {
            (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
            (Some(_), None) => return None,
            (None, _) => PathBuf::from(p),
        },
        None => PathBuf::from(home?).join(".aws").join("credentials"),
    };
    let profile = non_empty(lookup("AWS_PROFILE")).unwrap_or_else(|| "default".to_owned());
    Some((path, profile))
}

/// Read the shared credentials file found by [`shared_credentials_location`]. A missing file
/// is `Ok(None)`.
pub fn credentials_from_shared_file_env(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<Credentials>, CredentialsError> {
    let Some((path, profile)) = shared_credentials_location(lookup) else {
        return Ok(None);
    };
    match std::fs::read_to_string(&path) {
        Ok(contents) => credentials_from_shared_file(&contents, &profile),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CredentialsError::Io { path, error: e.to_string() }),
    }
}

/// The usual chain: environment, then shared credentials file, else [`Credentials::Anonymous`].
pub fn resolve_credentials(lookup: impl Fn(&str) -> Option<String>) -> Result<Credentials, CredentialsError> {
    if let Some(c) = credentials_from_env(&lookup)? {
        return Ok(c);
    }
    Ok(credentials_from_shared_file_env(&lookup)?.unwrap_or(Credentials::Anonymous))
}

#[cfg(test)]
mod tests;
