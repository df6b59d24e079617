//! Policy statements: building the exact JSON bytes CloudFront expects, and
//! parsing a received custom policy.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::cidr::Cidr;
use super::{MAX_POLICY_BYTES, Rejection};

/// Seconds since the Unix epoch, truncated; times before the epoch give 0.
pub(crate) fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A custom policy statement, for [`super::Signer::custom_url`] and
/// [`super::Signer::cookies`].
///
/// [`Policy::to_json`] produces the same bytes as botocore's
/// `CloudFrontSigner.build_policy`: no whitespace, keys in the order
/// `Resource`, `Condition` { `DateLessThan`, `IpAddress`, `DateGreaterThan` },
/// strings escaped like Python's `json.dumps` (non-ASCII as `\uXXXX`).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tower_cdn::auth::Policy;
///
/// let p = Policy::new("https://d111111abcdef8.cloudfront.net/images/*", UNIX_EPOCH + Duration::from_secs(1767290400))
///     .ip_address("192.0.2.0/24")?;
/// assert_eq!(
///     p.to_json(),
///     r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/images/*","Condition":{"DateLessThan":{"AWS:EpochTime":1767290400},"IpAddress":{"AWS:SourceIp":"192.0.2.0/24"}}}]}"#
/// );
/// # Ok::<(), tower_cdn::auth::PolicyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    resource: String,
    date_less_than: u64,
    date_greater_than: Option<u64>,
    ip_address: Option<String>,
}

/// Error building a [`Policy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

impl Policy {
    /// A policy for `resource` (a URL, `*` and `?` wildcards allowed) valid
    /// until `date_less_than` (exclusive, whole seconds).
    pub fn new(resource: impl Into<String>, date_less_than: SystemTime) -> Self {
        Self {
            resource: resource.into(),
            date_less_than: epoch_secs(date_less_than),
            date_greater_than: None,
            ip_address: None,
        }
    }

    /// Not valid until strictly after this time (whole seconds).
    #[must_use]
    pub fn date_greater_than(mut self, t: SystemTime) -> Self {
        self.date_greater_than = Some(epoch_secs(t));
        self
    }

    /// Restricts the client address to a CIDR range (`192.0.2.0/24`) or one
    /// address (written as `/32`, or `/128` for IPv6, as botocore does).
    /// Note: CloudFront itself documents IPv4 ranges only.
    pub fn ip_address(mut self, cidr: &str) -> Result<Self, PolicyError> {
        Cidr::parse(cidr).map_err(|e| PolicyError(e.to_string()))?;
        let text = if cidr.contains('/') {
            cidr.to_owned()
        } else if cidr.contains(':') {
            format!("{cidr}/128")
        } else {
            format!("{cidr}/32")
        };
        self.ip_address = Some(text);
        Ok(self)
    }

    /// The resource pattern.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// `DateLessThan`, in seconds since the Unix epoch.
    pub fn date_less_than_epoch(&self) -> u64 {
        self.date_less_than
    }

    /// `DateGreaterThan`, in seconds since the Unix epoch, if set.
    pub fn date_greater_than_epoch(&self) -> Option<u64> {
        self.date_greater_than
    }

    /// The `IpAddress` CIDR text, if set.
    pub fn ip_range(&self) -> Option<&str> {
        self.ip_address.as_deref()
    }

    /// The policy JSON, exactly as signed.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(128 + self.resource.len());
        out.push_str(r#"{"Statement":[{"Resource":"#);
        push_json_string(&mut out, &self.resource);
        out.push_str(r#","Condition":{"DateLessThan":{"AWS:EpochTime":"#);
        out.push_str(&self.date_less_than.to_string());
        out.push('}');
        if let Some(ip) = &self.ip_address {
            out.push_str(r#","IpAddress":{"AWS:SourceIp":"#);
            push_json_string(&mut out, ip);
            out.push('}');
        }
        if let Some(t) = self.date_greater_than {
            out.push_str(r#","DateGreaterThan":{"AWS:EpochTime":"#);
            out.push_str(&t.to_string());
            out.push('}');
        }
        out.push_str("}}]}");
        out
    }
}

/// The canned policy JSON for `resource` expiring at `expires` (epoch secs).
pub(crate) fn canned_json(resource: &str, expires: u64) -> String {
    Policy { resource: resource.to_owned(), date_less_than: expires, date_greater_than: None, ip_address: None }
        .to_json()
}

/// Appends `s` as a JSON string literal, escaped like Python's
/// `json.dumps(ensure_ascii=True)`: printable ASCII other than `"` and `\`
/// verbatim, the usual short escapes, everything else as `\uXXXX` (lower-case
/// hex, UTF-16 surrogate pairs above U+FFFF).
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// A received custom policy, after its signature has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedPolicy {
    /// `None` when the statement has no `Resource` (CloudFront: any URL).
    pub(crate) resource: Option<String>,
    pub(crate) date_less_than: u64,
    pub(crate) date_greater_than: Option<u64>,
    pub(crate) source_ip: Option<Cidr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(rename = "Statement")]
    statement: Vec<Statement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Statement {
    #[serde(rename = "Resource")]
    resource: Option<String>,
    #[serde(rename = "Condition")]
    condition: Condition,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Condition {
    #[serde(rename = "DateLessThan")]
    date_less_than: EpochTime,
    #[serde(rename = "DateGreaterThan")]
    date_greater_than: Option<EpochTime>,
    #[serde(rename = "IpAddress")]
    ip_address: Option<SourceIp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EpochTime {
    #[serde(rename = "AWS:EpochTime")]
    value: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceIp {
    #[serde(rename = "AWS:SourceIp")]
    value: String,
}

impl ParsedPolicy {
    /// Parses custom policy JSON: exactly one statement, `DateLessThan`
    /// required, unknown or duplicate keys rejected.
    pub(crate) fn parse(json: &[u8]) -> Result<Self, Rejection> {
        if json.len() > MAX_POLICY_BYTES {
            return Err(Rejection::Malformed);
        }
        let doc: Document = serde_json::from_slice(json).map_err(|_| Rejection::Malformed)?;
        let mut statements = doc.statement.into_iter();
        let (Some(statement), None) = (statements.next(), statements.next()) else {
            return Err(Rejection::Malformed);
        };
        let source_ip = match statement.condition.ip_address {
            Some(ip) => Some(Cidr::parse(&ip.value).map_err(|_| Rejection::Malformed)?),
            None => None,
        };
        Ok(Self {
            resource: statement.resource,
            date_less_than: statement.condition.date_less_than.value,
            date_greater_than: statement.condition.date_greater_than.map(|t| t.value),
            source_ip,
        })
    }
}
