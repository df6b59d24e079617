//! Pure decisions on the request path: key derivation, `Cache-Control`
//! parsing (typical and hostile values), and the storing and reuse
//! decisions for a typical response.
//!
//! Run: `cargo bench --bench policy -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode};
use tower_cdn::__bench::{cache_key, request_host};
use tower_cdn::policy::cache_control::CacheControl;
use tower_cdn::policy::freshness::{AgeClock, TtlPolicy};
use tower_cdn::policy::reuse;
use tower_cdn::policy::storable::{self, RequestFacts, ResponseFacts, StoreRules};
use tower_cdn::policy::targeted;

fn key_derivation(c: &mut Criterion) {
    let mut group = c.benchmark_group("key");
    let cases = [
        // The common case: a lower-case Host, borrowed without copying.
        ("host_header", Request::get("/static/app.js?v=123").header(header::HOST, "www.example.com")),
        // Mixed case and a non-default port: the host is normalised into a new string.
        ("host_normalised", Request::get("/static/app.js?v=123").header(header::HOST, "WWW.Example.COM:8080")),
        // Absolute form: the URI's authority wins over Host.
        ("absolute_form", Request::get("http://www.example.com/static/app.js?v=123")),
    ];
    for (name, builder) in cases {
        let (parts, ()) = builder.body(()).expect("valid request").into_parts();
        group.bench_function(name, |b| {
            b.iter(|| {
                let parts = black_box(&parts);
                let host = request_host(parts).expect("valid host");
                cache_key(host.as_deref().unwrap_or(""), parts.uri.path(), parts.uri.query())
            })
        });
    }
    group.finish();
}

fn cache_control_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("cache_control");
    let typical: [(&str, &[u8]); 5] = [
        ("max_age", b"max-age=3600"),
        ("static_asset", b"public, max-age=31536000, immutable"),
        ("no_store", b"no-cache, no-store, must-revalidate"),
        ("cdn", b"public, s-maxage=600, max-age=60, stale-while-revalidate=30, stale-if-error=86400"),
        ("private_fields", b"private=\"set-cookie, x-user\", no-cache=\"x-debug\", max-age=0"),
    ];
    for (name, value) in typical {
        group.throughput(Throughput::Bytes(value.len() as u64));
        group.bench_function(format!("typical/{name}"), |b| b.iter(|| CacheControl::parse(black_box(value))));
    }
    for (name, value) in hostile_values() {
        group.throughput(Throughput::Bytes(value.len() as u64));
        group.bench_function(format!("hostile/{name}"), |b| b.iter(|| CacheControl::parse(black_box(&value))));
    }
    group.finish();
}

/// Values an origin or client could send to make parsing slow: long lists,
/// many commas, huge numbers, long quoted strings with escapes. Each is
/// about 16 KiB, the length the parser reads before it truncates.
fn hostile_values() -> Vec<(&'static str, Vec<u8>)> {
    let unknown_tokens = "x-unknown-directive=abc, ".repeat(650).into_bytes();
    let commas = vec![b','; 16 * 1024];
    let duplicates = "max-age=1, ".repeat(1480).into_bytes();
    let huge_number = format!("max-age={}", "9".repeat(8000)).into_bytes();
    let mut quoted = b"private=\"".to_vec();
    quoted.extend("a\\\"b, ".repeat(2700).as_bytes());
    quoted.push(b'"');
    let field_list =
        format!("no-cache=\"{}\"", (0..800).map(|i| format!("x-field-{i}")).collect::<Vec<_>>().join(",")).into_bytes();
    vec![
        ("unknown_tokens_650", unknown_tokens),
        ("commas_16k", commas),
        ("duplicate_max_age_1480", duplicates),
        ("huge_number", huge_number),
        ("quoted_escapes", quoted),
        ("no_cache_800_fields", field_list),
    ]
}

fn decisions(c: &mut Criterion) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let (req, ()) = Request::get("/static/app.js")
        .header(header::HOST, "www.example.com")
        .body(())
        .expect("a valid request")
        .into_parts();
    let req_cc = CacheControl::from_headers(&req.headers, &header::CACHE_CONTROL);
    let mut resp = HeaderMap::new();
    resp.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    resp.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/javascript"));
    resp.insert(header::ETAG, HeaderValue::from_static("\"abc123\""));
    let date = httpdate::fmt_http_date(now).parse::<HeaderValue>().expect("an HTTP-date is a valid header value");
    resp.insert(header::DATE, date);
    let ttl = TtlPolicy::default();
    let targeted = targeted::default_targeted();

    let mut group = c.benchmark_group("decide");
    group.bench_function("store_response", |b| {
        b.iter(|| {
            let eff = targeted::effective(black_box(&resp), &targeted);
            let reqf = RequestFacts { method: &Method::GET, headers: &req.headers, cc: &req_cc };
            let respf = ResponseFacts { status: StatusCode::OK, headers: &resp, eff: &eff };
            let rules = StoreRules { ttl: &ttl, cookies_in_key: false, unkeyed_cookies: false };
            storable::evaluate(reqf, respf, rules, now)
        })
    });
    let eff = targeted::effective(&resp, &targeted);
    let reqf = RequestFacts { method: &Method::GET, headers: &req.headers, cc: &req_cc };
    let respf = ResponseFacts { status: StatusCode::OK, headers: &resp, eff: &eff };
    let stored =
        storable::evaluate(reqf, respf, StoreRules { ttl: &ttl, cookies_in_key: false, unkeyed_cookies: false }, now)
            .expect("a public max-age response is storable");
    let meta = stored.meta(AgeClock::new(&resp, now, now));
    let later = now + Duration::from_secs(60);
    group.bench_function("reuse_hit", |b| {
        b.iter(|| {
            let req_cc = CacheControl::from_headers(black_box(&req.headers), &header::CACHE_CONTROL);
            let pragma = reuse::pragma_no_cache(&req.headers);
            reuse::decide(&meta, &req_cc, pragma, black_box(later))
        })
    });
    group.finish();
}

criterion_group!(benches, key_derivation, cache_control_parse, decisions);
criterion_main!(benches);
