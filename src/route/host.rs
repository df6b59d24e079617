//! Host (`Host` header / alternate domain name) matching.
//!
//! A [`HostPattern`] is either an exact host (`example.com`, `localhost`, an IP
//! literal) or a CloudFront-style wildcard `*.example.com`, which matches
//! exactly one additional leftmost label: `a.example.com`, but neither
//! `example.com` nor `a.b.example.com`.
//!
//! Patterns are case-insensitive: they are lower-cased when parsed. Hosts
//! given to [`HostTable::lookup`] / [`HostPattern::matches`] must already be
//! normalised by the caller: lower-cased, port removed, trailing dot removed.
//! IPv6 literals are looked up in their bracketed form (`[2001:db8::1]`); any
//! spelling that `std::net::Ipv6Addr` parses matches.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Maximum length of a host name (RFC 1035), in bytes.
pub const MAX_HOST_LEN: usize = 253;
/// Maximum length of one DNS label, in bytes.
pub const MAX_LABEL_LEN: usize = 63;

/// A validated host pattern: exact name, `*.suffix` wildcard, or IP literal.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    kind: Kind,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Kind {
    /// Lower-case DNS name (or `localhost`).
    Exact(String),
    /// The part after `*.`, lower-case.
    Wildcard(String),
    /// IPv4 or IPv6 literal.
    Ip(IpAddr),
}

/// Why a host pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPatternError {
    input: String,
    reason: String,
}

impl HostPatternError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        // Keep error messages bounded even for absurd inputs.
        let input: String = input.chars().take(300).collect();
        Self { input, reason: reason.into() }
    }

    /// The rejected input (truncated to 300 characters).
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for HostPatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid host {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for HostPatternError {}

/// Parses an IP literal: dotted IPv4, bare IPv6, or bracketed IPv6.
fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    // Every request's host comes through here: a name is told apart
    // without running both address parsers on it. An IPv4 literal is
    // digits and dots only; every IPv6 form has a colon.
    if s.contains(':') {
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return s.parse::<Ipv4Addr>().ok().map(IpAddr::V4);
    }
    None
}

/// Validates a lower-case DNS name made of LDH labels.
fn validate_dns_name(original: &str, name: &str, total_len: usize) -> Result<(), HostPatternError> {
    if total_len > MAX_HOST_LEN {
        return Err(HostPatternError::new(
            original,
            format!("host is {total_len} characters long; the maximum is {MAX_HOST_LEN}"),
        ));
    }
    for (index, label) in name.split('.').enumerate() {
        if label.is_empty() {
            return Err(HostPatternError::new(original, format!("label {index} is empty")));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(HostPatternError::new(
                original,
                format!("label {label:?} is longer than {MAX_LABEL_LEN} characters"),
            ));
        }
        if let Some(bad) = label.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
            let what = if bad == '*' {
                "a wildcard is only allowed as the whole leftmost label (`*.example.com`)".to_owned()
            } else {
                format!("label {label:?} contains invalid character {bad:?}")
            };
            return Err(HostPatternError::new(original, what));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(HostPatternError::new(original, format!("label {label:?} starts or ends with a hyphen")));
        }
    }
    Ok(())
}

impl HostPattern {
    /// Parses `example.com`, `*.example.com`, `localhost`, `192.0.2.1`,
    /// `2001:db8::1` or `[2001:db8::1]`. Case-insensitive; one trailing dot is
    /// ignored.
    pub fn parse(input: &str) -> Result<Self, HostPatternError> {
        if input.is_empty() {
            return Err(HostPatternError::new(input, "host is empty"));
        }
        if !input.is_ascii() {
            return Err(HostPatternError::new(
                input,
                "host must be ASCII (use the punycode form of internationalised names)",
            ));
        }
        let lower = input.to_ascii_lowercase();
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        if let Some(ip) = parse_ip(name) {
            return Ok(Self { kind: Kind::Ip(ip) });
        }
        if let Some(suffix) = name.strip_prefix("*.") {
            if parse_ip(suffix).is_some() {
                return Err(HostPatternError::new(input, "a wildcard cannot be combined with an IP address"));
            }
            validate_dns_name(input, suffix, name.len())?;
            return Ok(Self { kind: Kind::Wildcard(suffix.to_owned()) });
        }
        validate_dns_name(input, name, name.len())?;
        Ok(Self { kind: Kind::Exact(name.to_owned()) })
    }

    /// Whether this is a `*.suffix` wildcard pattern.
    pub fn is_wildcard(&self) -> bool {
        matches!(self.kind, Kind::Wildcard(_))
    }

    /// Whether the (already normalised) request `host` matches this pattern.
    pub fn matches(&self, host: &str) -> bool {
        match &self.kind {
            Kind::Exact(name) => name == host,
            Kind::Wildcard(suffix) => wildcard_suffix(host).is_some_and(|s| s == suffix) && parse_ip(host).is_none(),
            Kind::Ip(ip) => parse_ip(host) == Some(*ip),
        }
    }
}

/// For `label.rest`, the `rest` part, provided `label` is non-empty.
fn wildcard_suffix(host: &str) -> Option<&str> {
    let (label, rest) = host.split_once('.')?;
    if label.is_empty() { None } else { Some(rest) }
}

impl FromStr for HostPattern {
    type Err = HostPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Exact(name) => f.write_str(name),
            Kind::Wildcard(suffix) => write!(f, "*.{suffix}"),
            Kind::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            Kind::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
        }
    }
}

impl fmt::Debug for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostPattern({self})")
    }
}

/// Error from [`HostTable::insert`] / [`HostTable::insert_str`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostTableError {
    /// The host pattern text did not parse.
    Invalid(HostPatternError),
    /// The same (normalised) host pattern was inserted twice.
    Duplicate {
        /// The duplicated host pattern, normalised.
        host: String,
    },
}

impl fmt::Display for HostTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(e) => e.fmt(f),
            Self::Duplicate { host } => write!(f, "host {host} is configured more than once"),
        }
    }
}

impl std::error::Error for HostTableError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Invalid(e) => Some(e),
            Self::Duplicate { .. } => None,
        }
    }
}

impl From<HostPatternError> for HostTableError {
    fn from(e: HostPatternError) -> Self {
        Self::Invalid(e)
    }
}

/// A map from host patterns to values. Exact matches beat wildcard matches;
/// lookups do not allocate.
#[derive(Clone)]
pub struct HostTable<T> {
    exact: HashMap<String, T>,
    /// Keyed by the suffix after `*.`.
    wildcard: HashMap<String, T>,
    ip: HashMap<IpAddr, T>,
}

impl<T> Default for HostTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> HostTable<T> {
    /// An empty table.
    pub fn new() -> Self {
        Self { exact: HashMap::new(), wildcard: HashMap::new(), ip: HashMap::new() }
    }

    /// Adds `pattern → value`; rejects a pattern that is already present.
    pub fn insert(&mut self, pattern: HostPattern, value: T) -> Result<(), HostTableError> {
        let host = pattern.to_string();
        let vacant = match pattern.kind {
            Kind::Exact(name) => vacant_insert(self.exact.entry(name), value),
            Kind::Wildcard(suffix) => vacant_insert(self.wildcard.entry(suffix), value),
            Kind::Ip(ip) => vacant_insert(self.ip.entry(ip), value),
        };
        if vacant { Ok(()) } else { Err(HostTableError::Duplicate { host }) }
    }

    /// Parses `host` with [`HostPattern::parse`] and inserts it.
    pub fn insert_str(&mut self, host: &str, value: T) -> Result<(), HostTableError> {
        self.insert(HostPattern::parse(host)?, value)
    }

    /// Finds the value for a normalised request host (lower-case, no port, no
    /// trailing dot): IP literal, else exact name, else `*.` wildcard on the
    /// part after the first label.
    pub fn lookup(&self, host: &str) -> Option<&T> {
        if let Some(ip) = parse_ip(host) {
            // IP literals never match names or wildcards.
            return self.ip.get(&ip);
        }
        if let Some(v) = self.exact.get(host) {
            return Some(v);
        }
        wildcard_suffix(host).and_then(|suffix| self.wildcard.get(suffix))
    }

    /// The value stored for exactly this pattern (no wildcard expansion).
    #[cfg(test)]
    pub fn get(&self, pattern: &HostPattern) -> Option<&T> {
        match &pattern.kind {
            Kind::Exact(name) => self.exact.get(name),
            Kind::Wildcard(suffix) => self.wildcard.get(suffix),
            Kind::Ip(ip) => self.ip.get(ip),
        }
    }

    /// Number of patterns stored.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len() + self.ip.len()
    }

    /// Whether the table is empty.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn vacant_insert<K, V>(entry: Entry<'_, K, V>, value: V) -> bool {
    match entry {
        Entry::Occupied(_) => false,
        Entry::Vacant(v) => {
            v.insert(value);
            true
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for HostTable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.exact {
            m.entry(k, v);
        }
        for (k, v) in &self.wildcard {
            m.entry(&format_args!("*.{k}"), v);
        }
        for (k, v) in &self.ip {
            m.entry(k, v);
        }
        m.finish()
    }
}

#[cfg(test)]
mod tests;
