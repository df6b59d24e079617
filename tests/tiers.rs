//! Tiered edges: an edge whose origin is another tower-cdn (an origin
//! shield), and loop detection.

mod support;

use support::{Origin, Reply, client, start_proxy, start_proxy_on};
use tower_cdn::CdnLayer;

fn statuses(resp: &reqwest::Response) -> Vec<String> {
    resp.headers().get_all("cache-status").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn an_edge_behind_a_shield_shows_both_verdicts_and_then_hits() {
    let origin = Origin::start().await;
    origin.route("/s", Reply::ok("shielded").header("cache-control", "max-age=60"));
    let shield = CdnLayer::builder()
        .origin(tower_cdn::Origin::http(origin.url()))
        .standalone(true)
        .cache_name("shield")
        .build()
        .unwrap();
    let shield_addr = start_proxy(shield.clone()).await;
    let edge = CdnLayer::builder()
        .origin(tower_cdn::Origin::http(format!("http://{shield_addr}")))
        .standalone(true)
        .cache_name("edge")
        .build()
        .unwrap();
    let edge_addr = start_proxy(edge).await;

    let first = client().get(format!("http://{edge_addr}/s")).send().await.unwrap();
    let members = statuses(&first);
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(members[0].starts_with("shield; fwd=uri-miss") && members[0].contains("stored"), "{members:?}");
    assert!(members[1].starts_with("edge; fwd=uri-miss") && members[1].contains("stored"), "{members:?}");
    assert_eq!(first.text().await.unwrap(), "shielded");
    let via = origin
        .last_headers("/s")
        .unwrap()
        .get_all("via")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(via, ["1.1 tower-cdn", "1.1 tower-cdn"], "each tier adds its Via member");

    let second = client().get(format!("http://{edge_addr}/s")).send().await.unwrap();
    let members = statuses(&second);
    assert!(members.last().unwrap().starts_with("edge; hit"), "{members:?}");
    assert_eq!(origin.hits("/s"), 1);
    assert_eq!(shield.cache().stats().origin_fetches, 1);
}

#[tokio::test]
async fn an_edge_whose_origin_is_itself_answers_508() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer =
        CdnLayer::builder().origin(tower_cdn::Origin::http(format!("http://{addr}"))).standalone(true).build().unwrap();
    start_proxy_on(listener, layer.clone());
    let resp = client().get(format!("http://{addr}/loop")).send().await.unwrap();
    assert_eq!(resp.status(), 508);
    let members = statuses(&resp);
    assert!(members.iter().any(|m| m.contains("detail=loop-detected")), "{members:?}");
    assert_eq!(layer.cache().stats().origin_fetches, 1, "the loop was cut after one hop");
    assert!(layer.cache().is_empty());
}
