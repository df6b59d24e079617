//! An http origin's endpoints, balance, health check, ejection and retry
//! budget: from the file's keys to the `Origin` builder, which validates
//! the values (errors name the same keys).

use std::ops::RangeInclusive;

use super::schema::{EndpointSchema, HealthCheckSchema, OriginSchema, StatusesSchema, StrOrTable};
use crate::error::ConfigError;
use crate::{Balance, HealthCheck, Origin};

/// The origin of `url` or of `endpoints` (exactly one of them).
pub(super) fn base(o: &mut OriginSchema) -> Result<Origin, ConfigError> {
    match (o.url.take(), o.endpoints.take()) {
        (Some(_), Some(_)) => {
            Err(ConfigError::new("endpoints", "give either url or endpoints, not both (url is one endpoint)"))
        }
        (Some(url), None) => Ok(Origin::http(url)),
        (None, Some(list)) => Ok(Origin::http_endpoints(list.into_iter().map(|e| match e {
            StrOrTable::Str(url) => (url, 1),
            StrOrTable::Table(EndpointSchema { url, weight }) => (url, weight.unwrap_or(1)),
        }))),
        (None, None) => Err(ConfigError::new("url", "missing: an http origin needs a url (or endpoints)")),
    }
}

/// Applies the balancing settings of an http origin.
pub(super) fn apply(mut out: Origin, o: &mut OriginSchema) -> Result<Origin, ConfigError> {
    if let Some(name) = o.balance.take() {
        let balance = match name.as_str() {
            "round-robin" => Balance::RoundRobin,
            "least-outstanding" => Balance::LeastOutstanding,
            "consistent-hash" => Balance::ConsistentHash,
            _ => {
                return Err(ConfigError::new(
                    "balance",
                    format!("{name:?} is not one of \"round-robin\", \"least-outstanding\", \"consistent-hash\""),
                ));
            }
        };
        out = out.balance(balance);
    }
    if let Some(check) = o.health_check.take() {
        out = out.health_check(health_check(check)?);
    }
    if let Some(n) = o.eject_after {
        out = out.eject_after(n);
    }
    if let Some(t) = o.ejection_time {
        out = out.ejection_time(t.0);
    }
    if let Some(b) = o.retry_budget.take() {
        let defaults = (crate::origin::budget::DEFAULT_RATIO, crate::origin::budget::DEFAULT_MIN_PER_SECOND);
        out = out.retry_budget(b.ratio.unwrap_or(defaults.0), b.min_per_second.unwrap_or(defaults.1));
    }
    Ok(out)
}

fn health_check(c: HealthCheckSchema) -> Result<HealthCheck, ConfigError> {
    let mut out = HealthCheck::new(c.path);
    if let Some(v) = c.interval {
        out = out.interval(v.0);
    }
    if let Some(v) = c.timeout {
        out = out.timeout(v.0);
    }
    if let Some(v) = c.healthy_threshold {
        out = out.healthy_threshold(v);
    }
    if let Some(v) = c.unhealthy_threshold {
        out = out.unhealthy_threshold(v);
    }
    if let Some(v) = c.host {
        out = out.host(v);
    }
    if let Some(v) = c.expected_status {
        out = out.expected_status(statuses(v)?);
    }
    Ok(out)
}

fn statuses(s: StatusesSchema) -> Result<RangeInclusive<u16>, ConfigError> {
    let bad = |text: &str| {
        ConfigError::new(
            "health_check.expected_status",
            format!("{text:?} is not a status or a range such as \"200-399\""),
        )
    };
    match s {
        StatusesSchema::One(code) => Ok(code..=code),
        StatusesSchema::Range(text) => {
            let parse = |t: &str| t.trim().parse::<u16>().map_err(|_| bad(&text));
            match text.split_once('-') {
                Some((lo, hi)) => Ok(parse(lo)?..=parse(hi)?),
                None => parse(&text).map(|c| c..=c),
            }
        }
    }
}

/// Rejects the balancing settings on an origin of another kind.
pub(super) fn unused_by(o: &OriginSchema, kind: &str) -> Result<(), ConfigError> {
    for (set, name) in [
        (o.endpoints.is_some(), "endpoints"),
        (o.balance.is_some(), "balance"),
        (o.health_check.is_some(), "health_check"),
        (o.eject_after.is_some(), "eject_after"),
        (o.ejection_time.is_some(), "ejection_time"),
        (o.retry_budget.is_some(), "retry_budget"),
    ] {
        if set {
            return Err(ConfigError::new(name, format!("not a setting of {kind} origins")));
        }
    }
    Ok(())
}
