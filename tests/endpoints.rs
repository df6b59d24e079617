//! Origins with several endpoints (issue 18): weighted balance, health
//! checks, passive ejection, the retry budget, consistent hashing by the
//! cache key, least outstanding. Every endpoint is a real server on
//! 127.0.0.1:0 that records the paths it was asked for, and can die (its
//! listener and every connection closed, so connects are refused) and
//! come back on the same port.

mod support;

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::proxy::Proxy;
use support::{client, eventually, start_proxy};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_cdn::{Balance, CdnLayer, HealthCheck, Origin};

const HEALTH: &str = "/health";

/// What an endpoint answers.
struct State {
    name: String,
    /// Paths (and queries) asked, in order, health checks included.
    seen: Mutex<Vec<String>>,
    /// The status of non-health requests.
    status: Mutex<u16>,
    /// Requests to `/hold*` wait until this is true.
    release: watch::Receiver<bool>,
}

/// A recording endpoint that can be killed and restarted on its port.
struct Endpoint {
    addr: SocketAddr,
    state: Arc<State>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
    release: watch::Sender<bool>,
}

impl Endpoint {
    async fn start(name: &str) -> Endpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (release, rx) = watch::channel(false);
        let state = Arc::new(State {
            name: name.to_owned(),
            seen: Mutex::new(Vec::new()),
            status: Mutex::new(200),
            release: rx,
        });
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, Arc::clone(&state)));
        Endpoint { addr, state, server: Mutex::new(Some(server)), release }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the listener and every connection: connects are refused.
    fn kill(&self) {
        if let Some(server) = self.server.lock().unwrap().take() {
            server.abort();
        }
    }

    /// Listens again on the same port.
    async fn revive(&self) {
        let listener = loop {
            // The aborted task may still be dropping the old listener.
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        };
        *self.server.lock().unwrap() = Some(tokio::spawn(serve(listener, Arc::clone(&self.state))));
    }

    fn seen(&self) -> Vec<String> {
        self.state.seen.lock().unwrap().clone()
    }

    /// What it saw that was not a health check.
    fn traffic(&self) -> Vec<String> {
        self.seen().into_iter().filter(|p| p != HEALTH).collect()
    }

    fn answer(&self, status: u16) {
        *self.state.status.lock().unwrap() = status;
    }
}

/// Accepts until aborted; the connections are tasks of this one, so they
/// end with it.
async fn serve(listener: tokio::net::TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let state = Arc::clone(&state);
        connections.spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| handle(Arc::clone(&state), req));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    state.seen.lock().unwrap().push(path.clone());
    if path.starts_with("/hold") {
        let mut release = state.release.clone();
        let _ = release.wait_for(|open| *open).await;
    }
    let status = if path == HEALTH { 200 } else { *state.status.lock().unwrap() };
    let resp = Response::builder()
        .status(status)
        .header("cache-control", "max-age=60")
        .body(Full::new(Bytes::from(state.name.clone())))
        .unwrap();
    Ok(resp)
}

async fn get(url: String, host: &str) -> (u16, String) {
    let resp = client().get(url).header("host", host).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn round_robin_spreads_misses_by_weight_through_the_binary() {
    let eps = [Endpoint::start("a").await, Endpoint::start("b").await, Endpoint::start("c").await];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cdn.toml");
    let text = format!(
        r#"
[[distributions]]
id = "site"
domain = "site.test"

[distributions.origins.web]
kind = "http"
endpoints = [{{ url = "{}", weight = 3 }}, {{ url = "{}", weight = 2 }}, "{}"]
balance = "round-robin"

[distributions.default_behavior]
origin = "web"
"#,
        eps[0].url(),
        eps[1].url(),
        eps[2].url()
    );
    std::fs::write(&file, text).unwrap();
    let proxy =
        Proxy::start([std::ffi::OsStr::new("--listen"), "127.0.0.1:0".as_ref(), "--config".as_ref(), file.as_os_str()]);
    for i in 0..12 {
        let (status, _) = get(format!("{}/object/{i}", proxy.url), "site.test").await;
        assert_eq!(status, 200);
    }
    let counts: Vec<usize> = eps.iter().map(|e| e.traffic().len()).collect();
    assert_eq!(counts, [6, 4, 2], "two cycles of smooth weighted round-robin over 3, 2, 1");
    // Interleaved, not in bursts: the heaviest never takes 3 in a row.
    let mut all: Vec<(usize, &str)> = Vec::new();
    for (i, e) in eps.iter().enumerate() {
        for p in e.traffic() {
            let n: usize = p.rsplit('/').next().unwrap().parse().unwrap();
            all.push((n, ["a", "b", "c"][i]));
        }
    }
    all.sort();
    let order: String = all.iter().map(|(_, e)| *e).collect();
    assert_eq!(order, "abacbaabacba", "nginx's sequence for weights 3, 2, 1");
}

#[tokio::test]
async fn a_dead_endpoint_is_left_out_until_its_health_check_passes_again() {
    let eps = [Endpoint::start("a").await, Endpoint::start("b").await, Endpoint::start("c").await];
    let origin = Origin::http_endpoints(eps.iter().map(|e| (e.url(), 1)))
        .health_check(
            HealthCheck::new(HEALTH)
                .interval(Duration::from_millis(50))
                .timeout(Duration::from_millis(500))
                .healthy_threshold(2)
                .unhealthy_threshold(2),
        )
        .eject_after(2)
        .ejection_time(Duration::from_millis(100))
        .retry_budget(0.5, 100);
    let layer = CdnLayer::builder().origin(origin).build().unwrap();
    let edge = start_proxy(layer).await;
    // The checks run before any request.
    assert!(eventually(|| eps.iter().all(|e| e.seen().iter().any(|p| p == HEALTH))).await);
    for i in 0..6 {
        assert_eq!(get(format!("http://{edge}/warm/{i}"), "site.test").await.0, 200);
    }
    assert!(eps[1].traffic().len() == 2, "b took its share: {:?}", eps[1].traffic());

    eps[1].kill();
    // Requests while it dies are retried on another endpoint; whatever
    // happens meanwhile, once the checks have seen it dead (a settling
    // wait, not an assertion) no viewer sees an error.
    for i in 0..10 {
        let _ = get(format!("http://{edge}/dying/{i}"), "site.test").await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let before = eps[1].seen().len();
    for i in 0..30 {
        let (status, body) = get(format!("http://{edge}/down/{i}"), "site.test").await;
        assert_eq!(status, 200, "request {i} answered {status} {body}");
        assert_ne!(body, "b");
    }
    assert_eq!(eps[1].seen().len(), before, "nothing reached the dead endpoint");

    // Back on the same port: health checks first, traffic only after two pass.
    let seen_before = eps[1].seen().len();
    eps[1].revive().await;
    let mut i = 0;
    while eps[1].traffic().len() <= 2 && i < 500 {
        let (status, _) = get(format!("http://{edge}/back/{i}"), "site.test").await;
        assert_eq!(status, 200);
        i += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let since: Vec<String> = eps[1].seen()[seen_before..].to_vec();
    let first_traffic = since.iter().position(|p| p != HEALTH).expect("b takes traffic again once healthy");
    assert!(
        since[..first_traffic].iter().filter(|p| *p == HEALTH).count() >= 2,
        "b got traffic before passing two checks: {since:?}"
    );
}

#[tokio::test]
async fn consistent_hashing_sends_each_key_to_one_endpoint_and_removing_one_moves_only_its_keys() {
    let eps = [Endpoint::start("a").await, Endpoint::start("b").await, Endpoint::start("c").await];
    let layer = |members: &[&Endpoint]| {
        let origin = Origin::http_endpoints(members.iter().map(|e| (e.url(), 1))).balance(Balance::ConsistentHash);
        CdnLayer::builder().origin(origin).build().unwrap()
    };
    let paths: Vec<String> = (0..90).map(|i| format!("/k/{i}")).collect();
    let edge = start_proxy(layer(&[&eps[0], &eps[1], &eps[2]])).await;
    // Twice each, on two edges with the same endpoints: a shield tier's
    // view (the second edge misses too, and must pick the same endpoint).
    let twin = start_proxy(layer(&[&eps[0], &eps[1], &eps[2]])).await;
    for p in &paths {
        assert_eq!(get(format!("http://{edge}{p}"), "site.test").await.0, 200);
        assert_eq!(get(format!("http://{twin}{p}"), "site.test").await.0, 200);
    }
    let mut owner: HashMap<String, usize> = HashMap::new();
    for (i, e) in eps.iter().enumerate() {
        let traffic = e.traffic();
        assert!(!traffic.is_empty(), "endpoint {i} got no key");
        for p in traffic {
            let prev = owner.insert(p.clone(), i);
            assert!(prev.is_none_or(|j| j == i), "{p} went to endpoints {j:?} and {i}", j = prev);
        }
    }
    assert_eq!(owner.len(), paths.len());
    for (i, e) in eps.iter().enumerate() {
        let t = e.traffic();
        assert_eq!(t.len(), 2 * t.iter().collect::<HashSet<_>>().len(), "endpoint {i}: each key twice, once per edge");
    }

    // b removed (a new configuration, a cold cache): a's and c's keys stay.
    let before: Vec<usize> = eps.iter().map(|e| e.traffic().len()).collect();
    let edge = start_proxy(layer(&[&eps[0], &eps[2]])).await;
    for p in &paths {
        assert_eq!(get(format!("http://{edge}{p}"), "site.test").await.0, 200);
    }
    assert_eq!(eps[1].traffic().len(), before[1], "b is out of the configuration");
    for (i, e) in [(0, &eps[0]), (2, &eps[2])] {
        for p in &e.traffic()[before[i]..] {
            let was = owner[p];
            assert!(was == i || was == 1, "{p} moved from endpoint {was} to {i} although {was} stayed");
        }
    }
}

#[tokio::test]
async fn in_an_outage_retries_stay_within_the_budget() {
    let eps = [Endpoint::start("a").await, Endpoint::start("b").await, Endpoint::start("c").await];
    for e in &eps {
        e.answer(503);
    }
    let origin = Origin::http_endpoints(eps.iter().map(|e| (e.url(), 1))).retry_budget(0.2, 0);
    let edge = start_proxy(CdnLayer::builder().origin(origin).build().unwrap()).await;
    let n = 50;
    for i in 0..n {
        let (status, _) = get(format!("http://{edge}/outage/{i}"), "site.test").await;
        assert_eq!(status, 503, "the origin's answer passes through");
    }
    let total: usize = eps.iter().map(|e| e.traffic().len()).sum();
    assert!(total <= n + n / 5, "{n} viewer requests caused {total} origin requests (budget: 20%)");
    assert!(total > n, "some failures were retried: {total}");
    // With a reserve of 1 retry a second (10 over the window) and no ratio.
    let origin = Origin::http_endpoints(eps.iter().map(|e| (e.url(), 1))).retry_budget(0.0, 1);
    let edge = start_proxy(CdnLayer::builder().origin(origin).build().unwrap()).await;
    for i in 0..n {
        assert_eq!(get(format!("http://{edge}/reserve/{i}"), "site.test").await.0, 503);
    }
    let reserve: usize = eps.iter().map(|e| e.traffic().iter().filter(|p| p.starts_with("/reserve/")).count()).sum();
    assert!(reserve <= n + 10, "{reserve} origin requests for {n} with a reserve of 10");
}

#[tokio::test]
async fn an_apps_500_for_one_url_ejects_no_endpoint_and_is_not_retried() {
    let eps = [Endpoint::start("a").await, Endpoint::start("b").await];
    for e in &eps {
        e.answer(500);
    }
    // Ejection after two failures in a row, were 500 a failure.
    let origin = Origin::http_endpoints(eps.iter().map(|e| (e.url(), 1))).eject_after(2);
    let edge = start_proxy(CdnLayer::builder().origin(origin).build().unwrap()).await;
    for i in 0..10 {
        assert_eq!(get(format!("http://{edge}/boom/{i}"), "site.test").await.0, 500);
    }
    let boom: usize = eps.iter().map(|e| e.traffic().iter().filter(|p| p.starts_with("/boom/")).count()).sum();
    assert_eq!(boom, 10, "a 500 is the app's answer: not retried elsewhere");
    for e in &eps {
        e.answer(200);
    }
    for i in 0..10 {
        assert_eq!(get(format!("http://{edge}/fine/{i}"), "site.test").await.0, 200);
    }
    for e in &eps {
        let fine = e.traffic().iter().filter(|p| p.starts_with("/fine/")).count();
        assert_eq!(fine, 5, "both endpoints still take fetches");
    }
}

#[tokio::test]
async fn least_outstanding_prefers_the_idle_endpoint() {
    let eps = [Endpoint::start("a").await, Endpoint::start("b").await];
    let origin = Origin::http_endpoints(eps.iter().map(|e| (e.url(), 1))).balance(Balance::LeastOutstanding);
    let edge = start_proxy(CdnLayer::builder().origin(origin).build().unwrap()).await;
    let held = tokio::spawn(get(format!("http://{edge}/hold"), "site.test"));
    assert!(eventually(|| eps.iter().any(|e| e.traffic().contains(&"/hold".to_owned()))).await);
    let busy = if eps[0].traffic().is_empty() { 1 } else { 0 };
    let idle = 1 - busy;
    for i in 0..10 {
        let (status, body) = get(format!("http://{edge}/quick/{i}"), "site.test").await;
        assert_eq!((status, body.as_str()), (200, ["a", "b"][idle]));
    }
    assert_eq!(eps[busy].traffic(), ["/hold"], "the held endpoint got nothing more");
    eps[busy].release.send(true).unwrap();
    assert_eq!(held.await.unwrap().0, 200);
}

#[test]
fn builder_mistakes_name_the_setting() {
    let err = |o: Origin| CdnLayer::builder().origin(o).build().unwrap_err().setting().to_owned();
    let two = || Origin::http_endpoints([("http://127.0.0.1:9", 1), ("http://127.0.0.1:10", 2)]);
    assert_eq!(err(two().endpoint("http://127.0.0.1:11", 0)), "origin.endpoints[2].weight");
    assert_eq!(err(two().endpoint("http://127.0.0.1:11", 1001)), "origin.endpoints[2].weight");
    assert_eq!(err(two().endpoint("http://127.0.0.1:9/", 1)), "origin.endpoints[2].url");
    assert_eq!(err(two().endpoint("ftp://127.0.0.1:11", 1)), "origin.endpoints[2].url");
    assert_eq!(err(Origin::http("http://127.0.0.1:9").endpoint("http://127.0.0.1:9", 1)), "origin.endpoints[0].url");
    assert_eq!(err(Origin::http_endpoints(Vec::<(String, u32)>::new())), "origin.endpoints");
    assert_eq!(
        err(two().health_check(HealthCheck::new("/h").interval(Duration::ZERO))),
        "origin.health_check.interval"
    );
    assert_eq!(err(two().eject_after(0)), "origin.eject_after");
    assert_eq!(err(two().ejection_time(Duration::ZERO)), "origin.ejection_time");
    assert_eq!(err(two().retry_budget(2.0, 1)), "origin.retry_budget.ratio");
    assert!(CdnLayer::builder().origin(two().balance(Balance::ConsistentHash)).build().is_ok());
}

const FILE: &str = r#"
[[distributions]]
id = "site"

[distributions.origins.web]
kind = "http"
endpoints = [{ url = "http://127.0.0.1:9", weight = 2 }, "http://127.0.0.1:10"]
balance = "least-outstanding"
eject_after = 3
ejection_time = "10s"
retry_budget = { ratio = 0.1, min_per_second = 2 }

[distributions.origins.web.health_check]
path = "/healthz"
interval = "2s"
timeout = "1s"
healthy_threshold = 2
unhealthy_threshold = 3
host = "origin.internal"
expected_status = "200-299"

[distributions.default_behavior]
origin = "web"
"#;

fn check_config(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cdn.toml");
    std::fs::write(&file, text).unwrap();
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_tower-cdn")).arg("--check-config").arg(&file).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn file_mistakes_name_the_setting_before_the_server_starts() {
    assert_eq!(check_config(FILE).0, 0, "{}", check_config(FILE).1);
    let at = "distributions[0].origins.web";
    for (from, to, setting, says) in [
        ("kind = \"http\"", "kind = \"http\"\nurl = \"http://127.0.0.1:8\"", "endpoints", "url"),
        ("balance = \"least-outstanding\"", "balance = \"random\"", "balance", "consistent-hash"),
        ("weight = 2", "weight = 0", "endpoints[0].weight", "1 to 1000"),
        ("\"http://127.0.0.1:10\"", "\"http://127.0.0.1:9\"", "endpoints[1].url", "listed twice"),
        ("\"http://127.0.0.1:10\"", "\"127.0.0.1:10\"", "endpoints[1].url", "http://"),
        ("eject_after = 3", "eject_after = 0", "eject_after", "1 to 1000"),
        ("ejection_time = \"10s\"", "ejection_time = 0", "ejection_time", "greater than zero"),
        ("ratio = 0.1", "ratio = 1.5", "retry_budget.ratio", "0 to 1"),
        ("interval = \"2s\"", "interval = 0", "health_check.interval", "greater than zero"),
        ("healthy_threshold = 2", "healthy_threshold = 0", "health_check.healthy_threshold", "1 to 100"),
        ("path = \"/healthz\"", "path = \"healthz\"", "health_check.path", "absolute path"),
        ("\"200-299\"", "\"299-200\"", "health_check.expected_status", "299-200"),
        ("\"200-299\"", "\"ok\"", "health_check.expected_status", "\"ok\""),
    ] {
        assert!(FILE.contains(from), "{from}");
        let (code, err) = check_config(&FILE.replacen(from, to, 1));
        assert_eq!(code, 2, "{to}: {err}");
        assert!(err.contains(&format!("{at}.{setting}: ")), "{to}: expected {at}.{setting}: {err}");
        assert!(err.contains(says), "{to}: expected {says:?} in {err}");
    }
}

#[tokio::test]
async fn a_group_fails_over_from_a_multi_endpoint_origin() {
    use tower_cdn::{CacheBehavior, Distribution, OriginGroup};
    let primary = [Endpoint::start("a").await, Endpoint::start("b").await];
    for e in &primary {
        e.answer(503);
    }
    let backup = Endpoint::start("backup").await;
    let site = Distribution::new("site")
        .origin("web", Origin::http_endpoints(primary.iter().map(|e| (e.url(), 1))).retry_budget(0.0, 0))
        .origin("backup", Origin::http(backup.url()))
        .origin_group("web-or-backup", OriginGroup::new("web", "backup"))
        .default_behavior(CacheBehavior::default_for("web-or-backup"));
    let edge = start_proxy(CdnLayer::builder().distribution(site).build().unwrap()).await;
    for i in 0..4 {
        assert_eq!(get(format!("http://{edge}/g/{i}"), "site.test").await, (200, "backup".to_owned()));
    }
    let tried: Vec<usize> = primary.iter().map(|e| e.traffic().len()).collect();
    assert_eq!(tried, [2, 2], "the primary's endpoints took turns, no retry (budget 0), then the group failed over");
    assert_eq!(backup.traffic().len(), 4);
}
