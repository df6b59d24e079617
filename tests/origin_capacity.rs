//! `max_concurrent_requests`: at most N fetches in flight per origin; the
//! next one waits briefly, then gets 503 with `Retry-After` and never
//! reaches the origin. Coalesced requests take no slot.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Origin, Reply, cache_status, client, eventually, start_proxy};
use tokio::sync::Notify;
use tower_cdn::{AccessLog, AccessRecord, CdnLayer, Origin as CdnOrigin, ResultType};

fn limited(origin: &Origin, n: usize) -> CdnOrigin {
    CdnOrigin::http(origin.url()).max_concurrent_requests(n).concurrency_wait(Duration::from_millis(50))
}

#[tokio::test]
async fn a_fetch_over_the_limit_gets_503_and_never_reaches_the_origin() {
    let origin = Origin::start().await;
    let gate = Arc::new(Notify::new());
    for path in ["/one", "/two", "/three"] {
        // Heads go out at once; bodies wait for the gate, so the slots stay taken.
        origin.route(path, Reply::ok("body").header("cache-control", "max-age=60").gate_after(0, gate.clone()));
    }
    let records = Arc::new(Mutex::new(Vec::<AccessRecord>::new()));
    let sink = Arc::clone(&records);
    let layer = CdnLayer::builder()
        .origin(limited(&origin, 2))
        .access_log(AccessLog::callback(move |r| sink.lock().unwrap().push(r.clone())))
        .build()
        .unwrap();
    let edge = start_proxy(layer).await;
    let c = client();
    let slow: Vec<_> = ["/one", "/two"]
        .into_iter()
        .map(|p| {
            let c = c.clone();
            tokio::spawn(async move { c.get(format!("http://{edge}{p}")).send().await.unwrap().text().await.unwrap() })
        })
        .collect();
    assert!(eventually(|| origin.total_hits() == 2).await);

    let third = c.get(format!("http://{edge}/three")).send().await.unwrap();
    assert_eq!(third.status(), 503);
    assert_eq!(third.headers()["retry-after"], "1");
    assert!(cache_status(&third).contains("detail=capacity-exceeded"), "{}", cache_status(&third));
    assert_eq!(
        third.text().await.unwrap(),
        "503 Service Unavailable: too many requests to the origin, retry shortly\n"
    );
    assert_eq!(origin.hits("/three"), 0, "the origin saw only the two fetches in the limit");

    gate.notify_one();
    gate.notify_one();
    for t in slow {
        assert_eq!(t.await.unwrap(), "body");
    }
    // Slots are free again once the bodies ended.
    gate.notify_one();
    let again = c.get(format!("http://{edge}/three")).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(origin.total_hits(), 3);
    assert!(eventually(|| records.lock().unwrap().len() == 4).await);
    let capacity: Vec<_> = records
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.x_edge_result_type == ResultType::CapacityExceeded)
        .cloned()
        .collect();
    assert_eq!(capacity.len(), 1, "the access log calls the 503 CapacityExceeded");
    assert_eq!(capacity[0].sc_status, 503);
}

#[tokio::test]
async fn coalesced_requests_take_no_slot() {
    let origin = Origin::start().await;
    let gate = Arc::new(Notify::new());
    origin.route("/hot", Reply::ok("hot").header("cache-control", "max-age=60").gate_after(0, gate.clone()));
    let layer = CdnLayer::builder().origin(limited(&origin, 1)).build().unwrap();
    let edge = start_proxy(layer).await;
    let c = client();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                let r = c.get(format!("http://{edge}/hot")).send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            })
        })
        .collect();
    assert!(eventually(|| origin.total_hits() == 1).await);
    gate.notify_one();
    for t in tasks {
        assert_eq!(t.await.unwrap(), (200, "hot".to_owned()));
    }
    assert_eq!(origin.hits("/hot"), 1, "eight requests, one fetch, one slot");
}

#[test]
fn zero_concurrent_requests_is_a_configuration_error() {
    let err = CdnLayer::builder().origin(CdnOrigin::http("http://127.0.0.1:9").max_concurrent_requests(0)).build();
    assert_eq!(err.unwrap_err().setting(), "origin.max_concurrent_requests");
    let bucket = tower_cdn::S3Origin::new("bucket").endpoint("http://127.0.0.1:9").path_style(true);
    let err = CdnLayer::builder().origin(CdnOrigin::s3(bucket.clone().max_concurrent_requests(0))).build();
    assert_eq!(err.unwrap_err().setting(), "origin.max_concurrent_requests");
    assert!(CdnLayer::builder().origin(CdnOrigin::s3(bucket.max_concurrent_requests(4))).build().is_ok());
}
