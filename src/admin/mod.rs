//! The admin API: invalidations, counters and distribution switches over
//! HTTP, as an axum [`Router`] to serve on an address of its own (never
//! the public one). The dev proxy serves it with `--admin ADDR`; an app
//! mounts it on its own admin port:
//!
//! ```no_run
//! use tower_cdn::{CdnConfig, CdnLayer};
//!
//! # async fn run() -> std::io::Result<()> {
//! let layer = CdnLayer::new(CdnConfig::default());
//! let admin = tower_cdn::admin::router(&layer, Some("s3cret-token"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9901").await?;
//! axum::serve(listener, admin).await?;
//! # Ok(()) }
//! ```
//!
//! | request | answer |
//! |---|---|
//! | `POST /invalidations` with `{"paths": ["/images/*", "/index.html"]}` (optionally `"host"`, and `"mode": "stale"` for a soft purge), `{"tags": [...]}`, or CloudFront's `{"Paths": {"Quantity": 1, "Items": [...]}, "CallerReference": "..."}` | `201 Created`, `Location: /invalidations/ID`, `{"Invalidation": {"Id", "Status", "CreateTime", "InvalidationBatch"}}` |
//! | `POST /distributions/{id}/invalidations` with paths | the same, for that distribution's hosts only |
//! | `GET /invalidations/{id}` | `200` with `Status` `InProgress` or `Completed` (and `EntriesRemoved`), or `404` |
//! | `GET /cache?url=http://HOST/PATH` (optionally `&header=Name:%20value`, repeated) | what the cache does with a GET of that URL, [`CacheHandle::explain`](crate::CacheHandle::explain): distribution, behavior, key, each stored variant (age, freshness, size, tags, tier), and why the last answer was not stored |
//! | `GET /cache/keys?host=&prefix=&tag=&limit=&cursor=` | one page of stored keys in key order, [`CacheHandle::keys`](crate::CacheHandle::keys): `{"keys": [...], "next_cursor"}` |
//! | `GET /reports/popular?by=requests\|bytes&limit=N` | the most requested objects of the last 5 to 10 minutes with their hit ratio: `{"window_seconds", "objects": [{"host", "path", "requests", "bytes", "hit_ratio", "error"}]}` |
//! | `GET /reports/referrers?limit=N` | the referring hosts with the most requests: `{"referrers": [{"referrer", "requests", "error"}]}` |
//! | `GET /reports/timeline` | per minute of the last hour: `{"interval_seconds": 60, "points": [{"start", "requests": {"Hit": n, ...}, "statuses": {"2xx": n, ...}, "bytes", "bytes_from_cache"}]}` |
//! | `GET /stats` | the counters of [`CacheHandle::stats`](crate::CacheHandle::stats) as JSON |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /distributions` | `{"Distributions": [{"Id", "Enabled"}]}` |
//! | `POST /distributions/{id}/disable`, `.../enable` | `200` with `{"Distribution": {"Id", "Enabled"}}`, or `404` |
//! | `PURGE /PATH` (optionally `X-Purge-Host: HOST`; a trailing `*` purges a prefix) | the same as `POST /invalidations` with that path (Varnish's `curl -X PURGE`) |
//! | `GET /healthz` | `200` `{"status": "ok"}`, without a token (for load balancers) |
//! | `GET /` (and its files, `/dashboard/NAME`) | the dashboard: an HTML page whose script reads the endpoints above with the token it asks for; served without a token (it holds no data), with a strict `Content-Security-Policy` and `X-Frame-Options: DENY` |
//! | `POST /reload` (dev proxy with `--config`) | re-reads the file as SIGHUP does: `200` with `{"Reload": {"Status": "Completed", "Summary"}}`, or `400` `InvalidConfiguration` naming the key (the running configuration stays); `404` `NoConfigFile` without a file |
//!
//! Invalidation paths start with `/`; `*` may only end a path (a prefix);
//! a request holds at most 3000 paths, at most 15 of them wildcards
//! (CloudFront's limits). Errors are JSON:
//! `{"Error": {"Code": "InvalidArgument", "Message": "..."}}`.
//! Invalidation ids are unique within the process, not across restarts.
//!
//! **Access.** With a token, every request needs `Authorization: Bearer
//! TOKEN` (compared in constant time), else `401` with
//! `WWW-Authenticate: Bearer`. Without one, only loopback clients are
//! served (`403` otherwise); the client address comes from
//! [`ClientAddr`](crate::ClientAddr) or axum's `ConnectInfo<SocketAddr>`
//! (`into_make_service_with_connect_info`), and a request without either
//! is refused; its `Host` must then be `localhost`, a loopback address or
//! the listener's own ([`LocalAddr`](crate::LocalAddr)), else `421`, so a
//! DNS-rebinding page cannot read it.
//!
//! **Cross-site requests.** With or without a token, a request whose
//! `Origin` names another site than its `Host`, or whose `Sec-Fetch-Site`
//! is not `same-origin` or `none`, gets `403` `CrossSiteRequest`; a `POST`
//! with content (or a content type) must be `application/json`, else
//! `415`. So a web page can neither submit a form to it nor `fetch` it
//! with a simple request; `curl -X POST URL` without content, and
//! `curl --json '{...}' URL`, keep working.

mod auth;
mod dashboard;
mod invalidations;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::CdnLayer;
use invalidations::Registry;

/// Shared by the admin handlers.
struct Admin {
    layer: CdnLayer,
    /// Invalidations created here: their batch and creation time.
    registry: Registry,
    reload: Option<Reloader>,
}

/// Re-reads the configuration the server started from and swaps it in:
/// what changed, or why the new one was rejected.
pub(crate) type Reloader = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

type AdminState = Arc<Admin>;

/// The admin API of `layer` as a router. `token`: the bearer token every
/// request must carry; `None` (or an empty token) serves loopback clients
/// only.
pub fn router(layer: &CdnLayer, token: Option<&str>) -> Router {
    router_with_reload(layer, token, None)
}

/// [`router`], with `POST /reload` doing `reload`.
pub(crate) fn router_with_reload(layer: &CdnLayer, token: Option<&str>, reload: Option<Reloader>) -> Router {
    let state = Arc::new(Admin { layer: layer.clone(), registry: Registry::default(), reload });
    let token = token.filter(|t| !t.is_empty());
    // The same token lets a request see its cache key (`X-Cache-Debug`).
    if let Some(t) = token {
        layer.edge().debug_token.store(Some(Arc::new(t.as_bytes().into())));
    }
    let token = Arc::new(auth::Token::new(token));
    Router::new()
        .route("/invalidations", post(invalidations::create))
        .route("/invalidations/{id}", get(invalidations::status))
        .route("/distributions", get(distributions))
        .route("/distributions/{id}/invalidations", post(invalidations::create_for_distribution))
        .route("/distributions/{id}/{action}", post(switch))
        .route("/cache", get(explain))
        .route("/cache/keys", get(keys))
        .route("/reports/popular", get(popular))
        .route("/reports/referrers", get(referrers))
        .route("/reports/timeline", get(timeline))
        .route("/stats", get(stats))
        .route("/metrics", get(metrics))
        .route("/reload", post(reload_config))
        .fallback(fallback)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(token.clone(), auth::check))
        // The dashboard's page and assets: no data, so no token (the page
        // asks for it), but the loopback and Host rules without one.
        .merge(dashboard::routes(token))
        // For load balancers and supervisors: no token, nothing revealed.
        .route("/healthz", get(|| async { json_response(StatusCode::OK, &json!({"status": "ok"})) }))
}

/// `PURGE /PATH`, or 404.
async fn fallback(State(admin): State<AdminState>, req: axum::extract::Request) -> Response {
    if req.method().as_str() == "PURGE" {
        return invalidations::purge(State(admin), req).await;
    }
    error(StatusCode::NOT_FOUND, "NotFound", "no such admin endpoint")
}

async fn reload_config(State(admin): State<AdminState>) -> Response {
    let Some(reload) = &admin.reload else {
        return error(StatusCode::NOT_FOUND, "NoConfigFile", "started without a configuration file: nothing to reload");
    };
    match reload() {
        Ok(summary) => json_response(StatusCode::OK, &json!({"Reload": {"Status": "Completed", "Summary": summary}})),
        Err(why) => error(
            StatusCode::BAD_REQUEST,
            "InvalidConfiguration",
            &format!("{why} (still serving the previous configuration)"),
        ),
    }
}

/// A JSON response.
fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut resp = (status, value.to_string()).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Operators' data: never kept by a cache on the way, never sniffed.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// A JSON error in CloudFront's shape.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, &json!({"Error": {"Code": code, "Message": message}}))
}

async fn distributions(State(admin): State<AdminState>) -> Response {
    let list: Vec<Value> = admin
        .layer
        .edge()
        .routes
        .load()
        .enabled_states()
        .into_iter()
        .map(|(id, enabled)| json!({"Id": id, "Enabled": enabled}))
        .collect();
    json_response(StatusCode::OK, &json!({ "Distributions": list }))
}

async fn switch(State(admin): State<AdminState>, Path((id, action)): Path<(String, String)>) -> Response {
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return error(StatusCode::NOT_FOUND, "NotFound", "use .../enable or .../disable"),
    };
    if !admin.layer.set_enabled(&id, enabled) {
        return error(StatusCode::NOT_FOUND, "NoSuchDistribution", &format!("no distribution {id:?}"));
    }
    tracing::info!(distribution = %id, enabled, "distribution switched through the admin API");
    json_response(StatusCode::OK, &json!({"Distribution": {"Id": id, "Enabled": enabled}}))
}

async fn stats(State(admin): State<AdminState>) -> Response {
    let cache = admin.layer.cache();
    let s = cache.stats();
    let requests: serde_json::Map<String, Value> =
        s.requests.iter().map(|(r, n)| (r.as_str().to_owned(), Value::from(*n))).collect();
    #[cfg_attr(not(feature = "disk"), allow(unused_mut))]
    let mut body = json!({
        "requests": requests,
        "hit_ratio": s.hit_ratio,
        "bytes_from_cache": s.bytes_from_cache,
        "bytes_from_origin": s.bytes_from_origin,
        "origin_fetches": s.origin_fetches,
        "origin_errors": s.origin_errors,
        "coalesced_waiters": s.coalesced_waiters,
        "entries": s.entries,
        "cached_bytes": s.cached_bytes,
        "capacity_bytes": cache.capacity_bytes(),
        "evictions": s.evictions,
        "fills_in_flight": cache.fills_in_flight(),
        "invalidations": s.invalidations,
        "log_records_dropped": s.log_records_dropped,
        "distributions": by_distribution(&cache.routes()),
        "routes": cache.routes().iter().map(route_json).collect::<Vec<_>>(),
    });
    #[cfg(feature = "disk")]
    if let (Some(loaded), Some(obj)) = (cache.disk_loaded(), body.as_object_mut()) {
        obj.insert(
            "disk".to_owned(),
            json!({
                "entries": s.disk_entries,
                "bytes": s.disk_bytes,
                "index_loaded": loaded,
                "hits": s.disk_hits,
                "served": s.disk_served,
                "misses": s.disk_misses,
                "writes": s.disk_writes,
                "writes_abandoned": s.disk_writes_abandoned,
                "errors": s.disk_errors,
                "corrupt": s.disk_corrupt,
                "evictions": s.disk_evictions,
            }),
        );
    }
    json_response(StatusCode::OK, &body)
}

/// `GET /cache?url=...`: [`CacheHandle::explain`](crate::CacheHandle::explain).
async fn explain(State(admin): State<AdminState>, req: axum::extract::Request) -> Response {
    let mut url = None;
    let mut headers = http::HeaderMap::new();
    for (name, value) in form_pairs(req.uri().query()) {
        match name.as_str() {
            "url" => url = Some(value),
            "header" => {
                let Some((n, v)) = value.split_once(':') else {
                    return error(StatusCode::BAD_REQUEST, "InvalidArgument", "header=Name: value");
                };
                let (Ok(n), Ok(v)) =
                    (http::HeaderName::from_bytes(n.trim().as_bytes()), HeaderValue::from_str(v.trim()))
                else {
                    return error(StatusCode::BAD_REQUEST, "InvalidArgument", &format!("{value:?} is not a header"));
                };
                headers.append(n, v);
            }
            _ => {}
        }
    }
    let Some(url) = url else {
        return error(StatusCode::BAD_REQUEST, "InvalidArgument", "give ?url=http://host/path");
    };
    match admin.layer.cache().explain(&url, headers).await {
        Ok(e) => json_response(StatusCode::OK, &serde_json::to_value(e).unwrap_or(Value::Null)),
        Err(why) => error(StatusCode::BAD_REQUEST, "InvalidArgument", &why),
    }
}

/// `GET /cache/keys`: [`CacheHandle::keys`](crate::CacheHandle::keys).
async fn keys(State(admin): State<AdminState>, req: axum::extract::Request) -> Response {
    let mut q = crate::KeyQuery::new();
    for (name, value) in form_pairs(req.uri().query()) {
        match name.as_str() {
            "host" => q.host = Some(value),
            "prefix" => q.prefix = Some(value),
            "tag" => q.tag = Some(value),
            "cursor" => q.cursor = Some(value),
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => q.limit = n,
                _ => return error(StatusCode::BAD_REQUEST, "InvalidArgument", "limit is 1..=1000"),
            },
            _ => {}
        }
    }
    match admin.layer.cache().keys(q).await {
        Ok(page) => json_response(StatusCode::OK, &serde_json::to_value(page).unwrap_or(Value::Null)),
        Err(why) => error(StatusCode::BAD_REQUEST, "InvalidArgument", &why),
    }
}

/// `limit=N` (1..=1000, default 50) of a report request.
fn report_limit(query: Option<&str>) -> Option<usize> {
    match form_pairs(query).into_iter().find(|(k, _)| k == "limit") {
        None => Some(50),
        Some((_, v)) => v.parse::<usize>().ok().filter(|n| (1..=1000).contains(n)),
    }
}

async fn popular(State(admin): State<AdminState>, req: axum::extract::Request) -> Response {
    let Some(limit) = report_limit(req.uri().query()) else {
        return error(StatusCode::BAD_REQUEST, "InvalidArgument", "limit is 1..=1000");
    };
    let by = match form_pairs(req.uri().query()).into_iter().find(|(k, _)| k == "by").map(|(_, v)| v) {
        None => crate::PopularBy::Requests,
        Some(v) if v == "requests" => crate::PopularBy::Requests,
        Some(v) if v == "bytes" => crate::PopularBy::Bytes,
        Some(_) => return error(StatusCode::BAD_REQUEST, "InvalidArgument", "by=requests or by=bytes"),
    };
    let objects = admin.layer.cache().popular_objects(by, limit);
    json_response(
        StatusCode::OK,
        &json!({"window_seconds": crate::REPORT_WINDOW_SECS, "objects": serde_json::to_value(objects).unwrap_or(Value::Null)}),
    )
}

async fn referrers(State(admin): State<AdminState>, req: axum::extract::Request) -> Response {
    let Some(limit) = report_limit(req.uri().query()) else {
        return error(StatusCode::BAD_REQUEST, "InvalidArgument", "limit is 1..=1000");
    };
    let list = admin.layer.cache().top_referrers(limit);
    json_response(
        StatusCode::OK,
        &json!({"window_seconds": crate::REPORT_WINDOW_SECS, "referrers": serde_json::to_value(list).unwrap_or(Value::Null)}),
    )
}

async fn timeline(State(admin): State<AdminState>) -> Response {
    let pairs = |v: &[(&str, u64)]| {
        v.iter().map(|(k, n)| ((*k).to_owned(), Value::from(*n))).collect::<serde_json::Map<_, _>>()
    };
    let points: Vec<Value> = admin
        .layer
        .cache()
        .timeline()
        .iter()
        .map(|p| {
            json!({
                "start": p.start,
                "requests": pairs(&p.requests),
                "statuses": pairs(&p.statuses),
                "bytes": p.bytes,
                "bytes_from_cache": p.bytes_from_cache,
            })
        })
        .collect();
    json_response(StatusCode::OK, &json!({"interval_seconds": 60, "points": points}))
}

/// `application/x-www-form-urlencoded` pairs of a query string.
fn form_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s).decode_utf8_lossy().into_owned()
    };
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn requests_json(requests: &[(crate::ResultType, u64)]) -> serde_json::Map<String, Value> {
    requests.iter().map(|(r, n)| (r.as_str().to_owned(), Value::from(*n))).collect()
}

fn route_json(r: &crate::RouteCounters) -> Value {
    json!({
        "distribution": r.distribution,
        "behavior": r.behavior,
        "origin": r.origin,
        "requests": requests_json(&r.requests),
        "tiers": r.tiers.iter().map(|(t, n)| ((*t).to_owned(), Value::from(*n))).collect::<serde_json::Map<_, _>>(),
        "hit_ratio": r.hit_ratio,
        "bytes_from_cache": r.bytes_from_cache,
        "bytes_from_origin": r.bytes_from_origin,
        "origin_fetches": r.origin_fetches,
        "origin_errors": r.origin_errors,
        "origin_mean_seconds": r.origin_mean_seconds,
        "fills_in_flight": r.fills_in_flight,
    })
}

/// The routes' counters summed per distribution.
fn by_distribution(routes: &[crate::RouteCounters]) -> Value {
    let mut out = serde_json::Map::new();
    for r in routes {
        let slot = out.entry(r.distribution.clone()).or_insert_with(|| {
            json!({"requests": {}, "bytes_from_cache": 0, "bytes_from_origin": 0, "origin_fetches": 0, "fills_in_flight": 0})
        });
        let add = |v: &mut Value, n: u64| *v = Value::from(v.as_u64().unwrap_or(0) + n);
        for (result, n) in &r.requests {
            add(&mut slot["requests"][result.as_str()], *n);
        }
        add(&mut slot["bytes_from_cache"], r.bytes_from_cache);
        add(&mut slot["bytes_from_origin"], r.bytes_from_origin);
        add(&mut slot["origin_fetches"], r.origin_fetches);
        slot["fills_in_flight"] = Value::from(slot["fills_in_flight"].as_i64().unwrap_or(0) + r.fills_in_flight);
    }
    for slot in out.values_mut() {
        let n = |k: &str| slot["requests"][k].as_u64().unwrap_or(0);
        let hits = n("Hit") + n("RefreshHit");
        let lookups = hits + n("Miss");
        slot["hit_ratio"] = Value::from(if lookups == 0 { 0.0 } else { hits as f64 / lookups as f64 });
    }
    Value::Object(out)
}

async fn metrics(State(admin): State<AdminState>) -> Response {
    let mut resp = admin.layer.cache().metrics_text().into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    resp
}
