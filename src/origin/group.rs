//! Origin groups: CloudFront origin failover from a primary to a secondary.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Response, StatusCode};
use http_body_util::Empty;

use super::OriginTarget;
use crate::body::OriginBody;
use crate::error::{ConfigError, OriginError};
use crate::origin::inner::HttpBody;

/// The statuses CloudFront lets a group fail over on.
const FAILOVER_STATUSES: [u16; 6] = [403, 404, 500, 502, 503, 504];

/// An origin group (CloudFront's origin failover): GET and HEAD requests
/// go to the primary; when it cannot be reached, times out, or answers with
/// one of the failover statuses, the request is sent once to the secondary.
/// Other methods go to the primary only.
///
/// Members are HTTP or S3 origins of the same distribution (not the app,
/// not another group).
///
/// ```
/// use tower_cdn::OriginGroup;
///
/// let group = OriginGroup::new("web", "backup-bucket").failover_statuses([500, 502, 503, 504]);
/// # let _ = group;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct OriginGroup {
    pub(crate) primary: String,
    pub(crate) secondary: String,
    pub(crate) statuses: Vec<u16>,
}

impl OriginGroup {
    /// A group of two origin ids. Fails over on connection failures and
    /// timeouts, and on 500, 502, 503 and 504 until
    /// [`failover_statuses`](Self::failover_statuses) says otherwise.
    pub fn new(primary: impl Into<String>, secondary: impl Into<String>) -> Self {
        OriginGroup { primary: primary.into(), secondary: secondary.into(), statuses: vec![500, 502, 503, 504] }
    }

    /// The primary's statuses that trigger failover: any of 403, 404, 500,
    /// 502, 503, 504 (as in CloudFront).
    pub fn failover_statuses(mut self, statuses: impl IntoIterator<Item = u16>) -> Self {
        self.statuses = statuses.into_iter().collect();
        self
    }

    /// Validates the group against the distribution's origins.
    pub(crate) fn build(
        &self,
        lookup: &dyn Fn(&str) -> Option<Arc<OriginTarget>>,
        known: String,
    ) -> Result<OriginTarget, ConfigError> {
        let member = |id: &str, setting: &str| -> Result<Arc<OriginTarget>, ConfigError> {
            let target = lookup(id).ok_or_else(|| {
                ConfigError::new(setting, format!("unknown origin {id:?} (this distribution has: {known})"))
            })?;
            if !target.is_remote() {
                return Err(ConfigError::new(
                    setting,
                    format!("{id:?} cannot be in a group: members are HTTP or S3 origins"),
                ));
            }
            Ok(target)
        };
        let primary = member(&self.primary, "primary")?;
        let secondary = member(&self.secondary, "secondary")?;
        if self.primary == self.secondary {
            return Err(ConfigError::new("secondary", "must differ from the primary"));
        }
        let mut statuses = Vec::with_capacity(self.statuses.len());
        for (i, code) in self.statuses.iter().enumerate() {
            if !FAILOVER_STATUSES.contains(code) {
                return Err(ConfigError::new(
                    format!("failover_statuses[{i}]"),
                    format!("{code} is not one of 403, 404, 500, 502, 503, 504"),
                ));
            }
            statuses.extend(StatusCode::from_u16(*code).ok());
        }
        Ok(OriginTarget::Group(Group { primary, secondary, statuses }))
    }
}

/// A validated origin group.
#[derive(Debug)]
pub(crate) struct Group {
    primary: Arc<OriginTarget>,
    secondary: Arc<OriginTarget>,
    statuses: Vec<StatusCode>,
}

impl Group {
    /// The member that takes requests no failover applies to.
    pub(crate) fn primary(&self) -> &Arc<OriginTarget> {
        &self.primary
    }

    /// Whether either member is the wrapped service.
    pub(crate) fn uses_app(&self) -> bool {
        self.primary.uses_app() || self.secondary.uses_app()
    }

    /// Both members' timeouts: the longest a failed-over fetch can take.
    pub(crate) fn response_timeout(&self) -> Duration {
        self.primary.response_timeout() + self.secondary.response_timeout()
    }

    #[cfg(feature = "s3")]
    pub(crate) fn reads_object_keys(&self) -> bool {
        self.primary.reads_object_keys() || self.secondary.reads_object_keys()
    }

    /// Tries the primary, then (GET/HEAD only) the secondary once.
    pub(crate) async fn fetch<B>(
        &self,
        parts: Parts,
        body: B,
        forward_body: bool,
    ) -> Result<Response<OriginBody>, OriginError>
    where
        B: HttpBody,
    {
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            return self.primary.fetch_remote(parts, body, forward_body).await;
        }
        let first = self.primary.fetch_remote(parts.clone(), Empty::<Bytes>::new(), false).await;
        let fail_over = match &first {
            Ok(resp) => self.statuses.contains(&resp.status()),
            Err(e) => e.is_connect() || e.is_timeout(),
        };
        if !fail_over {
            return first;
        }
        match &first {
            Ok(resp) => tracing::info!(status = %resp.status(), "origin group: failing over"),
            Err(e) => tracing::info!(error = %e, "origin group: failing over"),
        }
        drop(first);
        self.secondary.fetch_remote(parts, Empty::<Bytes>::new(), false).await
    }
}
