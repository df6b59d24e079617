//! `POST /invalidations`, `POST /distributions/{id}/invalidations` and
//! `GET /invalidations/{id}`, shaped like CloudFront's CreateInvalidation
//! and GetInvalidation.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminState, error, json_response};
use crate::InvalidationStatus;
use crate::cache::key::key_path;
use crate::cache::purge::{KeyFilter, Mode, Scope, path_matches};
use crate::observe::record::civil_from_days;

/// Most paths (or tags) in one request (CloudFront's limit).
const MAX_PATHS: usize = 3000;
/// Most wildcard paths in one request (CloudFront's limit).
const MAX_WILDCARDS: usize = 15;
/// Invalidations whose batch is remembered for `GET /invalidations/{id}`.
const REMEMBERED: usize = 1000;

/// The request body: the short form (`paths` or `tags`, optional `host`)
/// or CloudFront's `InvalidationBatch` (`Paths.Items`, `CallerReference`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    paths: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    host: Option<String>,
    #[serde(rename = "Paths")]
    cloudfront_paths: Option<CloudFrontPaths>,
    #[serde(rename = "CallerReference")]
    caller_reference: Option<String>,
    /// `"remove"` (the default) or `"stale"` (a soft purge).
    mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloudFrontPaths {
    #[serde(rename = "Quantity")]
    quantity: Option<usize>,
    #[serde(rename = "Items", default)]
    items: Vec<String>,
}

/// What is invalidated.
#[derive(Debug, Clone, PartialEq, Eq)]
enum What {
    Paths(Vec<String>),
    Tags(Vec<String>),
}

/// A validated batch, as echoed back.
#[derive(Debug, Clone)]
struct Batch {
    what: What,
    mode: Mode,
    host: Option<String>,
    distribution: Option<String>,
    caller_reference: Option<String>,
}

/// A remembered invalidation.
#[derive(Debug, Clone)]
struct Record {
    created: SystemTime,
    batch: Batch,
}

/// Invalidations created through this API.
#[derive(Debug, Default)]
pub(super) struct Registry(Mutex<BTreeMap<u64, Record>>);

impl Registry {
    fn insert(&self, id: u64, record: Record) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while map.len() >= REMEMBERED {
            map.pop_first();
        }
        map.insert(id, record);
    }

    fn get(&self, id: u64) -> Option<Record> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&id).cloned()
    }
}

/// A 400 with CloudFront's error code.
struct Invalid(&'static str, String);

fn parse(body: &[u8]) -> Result<Batch, Invalid> {
    let req: BatchRequest = serde_json::from_slice(body).map_err(|e| Invalid("MalformedInput", e.to_string()))?;
    let paths = match (req.paths, req.cloudfront_paths) {
        (Some(_), Some(_)) => return Err(invalid("give \"paths\" or CloudFront's \"Paths\", not both")),
        (Some(p), None) => Some(p),
        (None, Some(cf)) => {
            if cf.quantity.is_some_and(|q| q != cf.items.len()) {
                return Err(Invalid(
                    "InconsistentQuantities",
                    "Paths.Quantity differs from the number of Items".into(),
                ));
            }
            Some(cf.items)
        }
        (None, None) => None,
    };
    let mode = match req.mode.as_deref() {
        None | Some("remove") => Mode::Remove,
        Some("stale") => Mode::Stale,
        Some(other) => return Err(invalid(&format!("mode {other:?}: use \"remove\" or \"stale\" (a soft purge)"))),
    };
    let what = match (paths, req.tags) {
        (Some(_), Some(_)) => return Err(invalid("give \"paths\" or \"tags\", not both")),
        (Some(paths), None) => What::Paths(check_paths(paths)?),
        (None, Some(_)) if req.host.is_some() => {
            return Err(invalid("\"host\" applies to paths; tags are purged on every host"));
        }
        (None, Some(tags)) => What::Tags(check_tags(tags)?),
        (None, None) => return Err(invalid("give \"paths\" (e.g. [\"/images/*\", \"/index.html\"]) or \"tags\"")),
    };
    let host = req.host.map(|h| h.trim_end_matches('.').to_ascii_lowercase());
    Ok(Batch { what, mode, host, distribution: None, caller_reference: req.caller_reference })
}

fn invalid(message: &str) -> Invalid {
    Invalid("InvalidArgument", message.to_owned())
}

fn check_paths(paths: Vec<String>) -> Result<Vec<String>, Invalid> {
    if paths.is_empty() {
        return Err(invalid("\"paths\" is empty"));
    }
    if paths.len() > MAX_PATHS {
        return Err(Invalid("BatchTooLarge", format!("{} paths; at most {MAX_PATHS} per request", paths.len())));
    }
    for p in &paths {
        if !p.starts_with('/') {
            return Err(invalid(&format!("{p:?} does not start with /")));
        }
        if p.trim_end_matches('*').contains('*') || p.ends_with("**") {
            return Err(invalid(&format!("{p:?}: the * wildcard may only be the last character")));
        }
    }
    let wildcards = paths.iter().filter(|p| p.ends_with('*')).count();
    if wildcards > MAX_WILDCARDS {
        return Err(Invalid(
            "TooManyInvalidationsInProgress",
            format!("{wildcards} wildcard paths; at most {MAX_WILDCARDS} per request"),
        ));
    }
    Ok(paths)
}

fn check_tags(tags: Vec<String>) -> Result<Vec<String>, Invalid> {
    if tags.is_empty() {
        return Err(invalid("\"tags\" is empty"));
    }
    if tags.len() > MAX_PATHS {
        return Err(Invalid("BatchTooLarge", format!("{} tags; at most {MAX_PATHS} per request", tags.len())));
    }
    if let Some(t) = tags.iter().find(|t| t.is_empty() || t.contains(|c: char| c.is_whitespace() || c == ',')) {
        return Err(invalid(&format!("{t:?} is not a tag (no spaces or commas)")));
    }
    Ok(tags)
}

/// `POST /invalidations`.
pub(super) async fn create(State(admin): State<AdminState>, body: Bytes) -> Response {
    let batch = match parse(&body) {
        Ok(b) => b,
        Err(Invalid(code, message)) => return error(StatusCode::BAD_REQUEST, code, &message),
    };
    let cache = admin.layer.cache();
    let inv = match (&batch.what, &batch.host, batch.mode) {
        (What::Paths(paths), None, Mode::Stale) => cache.soft_invalidate(paths),
        (What::Paths(paths), Some(host), Mode::Stale) => cache.soft_invalidate_host(host, paths),
        (What::Tags(tags), _, Mode::Stale) => cache.soft_invalidate_tags(tags),
        (What::Paths(paths), None, _) => cache.invalidate(paths),
        (What::Paths(paths), Some(host), _) => cache.invalidate_host(host, paths),
        (What::Tags(tags), _, _) => cache.invalidate_tags(tags),
    };
    created(&admin, inv.id(), batch)
}

/// `PURGE /PATH` (Varnish's habit: `curl -X PURGE http://admin/PATH`):
/// the path (a trailing `*` makes it a prefix) on every host, or on the
/// host the `X-Purge-Host` header names.
pub(super) async fn purge(State(admin): State<AdminState>, req: axum::extract::Request) -> Response {
    let path = req.uri().path().to_owned();
    let host = req.headers().get("x-purge-host").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let paths = match check_paths(vec![path]) {
        Ok(p) => p,
        Err(Invalid(code, message)) => return error(StatusCode::BAD_REQUEST, code, &message),
    };
    let mode = match req.headers().get("x-purge-mode").map(HeaderValue::as_bytes) {
        None | Some(b"remove") => Mode::Remove,
        Some(b"stale" | b"soft") => Mode::Stale,
        Some(_) => return error(StatusCode::BAD_REQUEST, "InvalidArgument", "X-Purge-Mode: remove or stale"),
    };
    let cache = admin.layer.cache();
    let inv = match (&host, mode) {
        (None, Mode::Stale) => cache.soft_invalidate(&paths),
        (Some(h), Mode::Stale) => cache.soft_invalidate_host(h, &paths),
        (None, _) => cache.invalidate(&paths),
        (Some(h), _) => cache.invalidate_host(h, &paths),
    };
    let batch = Batch { what: What::Paths(paths), mode, host, distribution: None, caller_reference: None };
    created(&admin, inv.id(), batch)
}

/// `POST /distributions/{id}/invalidations`: paths on that distribution's hosts.
pub(super) async fn create_for_distribution(
    State(admin): State<AdminState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let mut batch = match parse(&body) {
        Ok(b) => b,
        Err(Invalid(code, message)) => return error(StatusCode::BAD_REQUEST, code, &message),
    };
    let routes = admin.layer.edge().routes.load_full();
    if routes.distribution(&id).is_none() {
        return error(StatusCode::NOT_FOUND, "NoSuchDistribution", &format!("no distribution {id:?}"));
    }
    let What::Paths(paths) = batch.what.clone() else {
        return error(StatusCode::BAD_REQUEST, "InvalidArgument", "tags are purged on every host: POST /invalidations");
    };
    let (dist, host) = (id.clone(), batch.host.clone());
    let filter = KeyFilter::new(move |key| {
        routes.owns(&dist, key)
            && host.as_deref().is_none_or(|h| crate::cache::key::key_host(key) == h)
            && paths.iter().any(|p| path_matches(p, key_path(key)))
    });
    let inv = admin.layer.cache().start_with(Scope::Keys(filter), batch.mode);
    batch.distribution = Some(id);
    created(&admin, inv.id(), batch)
}

fn created(admin: &AdminState, id: u64, batch: Batch) -> Response {
    tracing::info!(invalidation = id, batch = ?batch.what, "invalidation created through the admin API");
    let record = Record { created: admin.layer.edge().now(), batch };
    admin.registry.insert(id, record.clone());
    let status = admin.layer.cache().invalidation_status(id);
    let mut resp = json_response(StatusCode::CREATED, &render(id, status, Some(&record)));
    if let Ok(location) = HeaderValue::from_str(&format!("/invalidations/{id}")) {
        resp.headers_mut().insert(header::LOCATION, location);
    }
    resp
}

/// `GET /invalidations/{id}`.
pub(super) async fn status(State(admin): State<AdminState>, Path(id): Path<String>) -> Response {
    let found = id.parse::<u64>().ok().and_then(|n| Some((n, admin.layer.cache().invalidation_status(n)?)));
    match found {
        Some((n, status)) => json_response(StatusCode::OK, &render(n, Some(status), admin.registry.get(n).as_ref())),
        None => error(StatusCode::NOT_FOUND, "NoSuchInvalidation", &format!("no invalidation {id:?}")),
    }
}

fn render(id: u64, status: Option<InvalidationStatus>, record: Option<&Record>) -> Value {
    let mut inv = json!({"Id": id.to_string()});
    match status {
        Some(InvalidationStatus::Completed { removed }) => {
            inv["Status"] = "Completed".into();
            let soft = record.is_some_and(|r| r.batch.mode == Mode::Stale);
            inv[if soft { "EntriesMarkedStale" } else { "EntriesRemoved" }] = removed.into();
        }
        _ => inv["Status"] = "InProgress".into(),
    }
    if let Some(r) = record {
        inv["CreateTime"] = rfc3339(r.created).into();
        let (key, items) = match &r.batch.what {
            What::Paths(p) => ("Paths", p),
            What::Tags(t) => ("Tags", t),
        };
        let mut batch = json!({ key: {"Quantity": items.len(), "Items": items} });
        if let Some(c) = &r.batch.caller_reference {
            batch["CallerReference"] = c.as_str().into();
        }
        if let Some(h) = &r.batch.host {
            batch["Host"] = h.as_str().into();
        }
        if r.batch.mode == Mode::Stale {
            batch["Mode"] = "stale".into();
        }
        if let Some(d) = &r.batch.distribution {
            inv["DistributionId"] = d.as_str().into();
        }
        inv["InvalidationBatch"] = batch;
    }
    json!({ "Invalidation": inv })
}

/// `2026-11-26T04:48:10Z`.
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days(secs / 86_400);
    let s = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s % 3600 / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> &'static str {
        parse(body.as_bytes()).err().map_or("ok", |Invalid(c, _)| c)
    }

    #[test]
    fn batches_are_checked_like_cloudfront() {
        assert_eq!(code(r#"{"paths": ["/images/*", "/index.html"]}"#), "ok");
        assert_eq!(code(r#"{"Paths": {"Quantity": 1, "Items": ["/a"]}, "CallerReference": "x"}"#), "ok");
        assert_eq!(code(r#"{"Paths": {"Quantity": 2, "Items": ["/a"]}}"#), "InconsistentQuantities");
        assert_eq!(code(r#"{"paths": ["images/*"]}"#), "InvalidArgument");
        assert_eq!(code(r#"{"paths": ["/a*b"]}"#), "InvalidArgument");
        assert_eq!(code(r#"{"paths": []}"#), "InvalidArgument");
        assert_eq!(code(r#"{"paths": ["/a"], "tags": ["t"]}"#), "InvalidArgument");
        assert_eq!(code(r#"{"tags": ["t"], "host": "a.test"}"#), "InvalidArgument");
        assert_eq!(code(r#"{"tags": ["a b"]}"#), "InvalidArgument");
        assert_eq!(code(r#"{}"#), "InvalidArgument");
        assert_eq!(code(r#"{"pahts": ["/a"]}"#), "MalformedInput");
        assert_eq!(code("not json"), "MalformedInput");
        let many: Vec<String> = (0..3001).map(|i| format!("\"/p{i}\"")).collect();
        assert_eq!(code(&format!("{{\"paths\": [{}]}}", many.join(","))), "BatchTooLarge");
        let wild: Vec<String> = (0..16).map(|i| format!("\"/w{i}/*\"")).collect();
        assert_eq!(code(&format!("{{\"paths\": [{}]}}", wild.join(","))), "TooManyInvalidationsInProgress");
    }

    #[test]
    fn create_times_are_rfc_3339() {
        assert_eq!(rfc3339(UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)), "2023-11-14T22:13:20Z");
    }
}
