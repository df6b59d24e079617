//! The file's operating settings: `admin_token` and `[access_log]`. They
//! configure the dev proxy around the layer, not the layer itself.

use std::fmt;

use super::schema::{AccessLogSchema, LogFormatSchema};
use crate::LogFormat;
use crate::error::ConfigError;

/// `admin_token` and `[access_log]`, checked.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct OpsSettings {
    admin_token: Option<String>,
    access_log: Option<(String, LogFormat)>,
}

impl fmt::Debug for OpsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a secret: never in Debug output or logs.
        f.debug_struct("OpsSettings")
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<redacted>"))
            .field("access_log", &self.access_log)
            .finish()
    }
}

impl OpsSettings {
    pub(crate) fn convert(
        admin_token: Option<String>,
        access_log: Option<AccessLogSchema>,
    ) -> Result<Self, ConfigError> {
        if admin_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ConfigError::new(
                "admin_token",
                "must not be empty (leave it out to serve loopback clients only)",
            ));
        }
        let access_log = match access_log {
            None => None,
            Some(a) if a.path.is_empty() => {
                return Err(ConfigError::new("access_log.path", "must not be empty (\"-\" is standard output)"));
            }
            Some(a) => {
                let format = match a.format {
                    None | Some(LogFormatSchema::Cloudfront) => LogFormat::CloudFront,
                    Some(LogFormatSchema::Json) => LogFormat::Json,
                };
                Some((a.path, format))
            }
        };
        Ok(OpsSettings { admin_token, access_log })
    }

    pub(crate) fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    pub(crate) fn access_log_path(&self) -> Option<&str> {
        self.access_log.as_ref().map(|(p, _)| p.as_str())
    }

    pub(crate) fn access_log_format(&self) -> LogFormat {
        self.access_log.as_ref().map_or(LogFormat::CloudFront, |(_, f)| *f)
    }
}
