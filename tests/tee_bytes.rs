//! The tee never alters a byte: for any body size and any chunking by the
//! origin, the client of the miss and later hits get the origin's bytes.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use proptest::prelude::*;
use support::{Origin, Reply, cache_status, client, start_proxy};
use tower_cdn::{CdnLayer, Origin as CdnOrigin};

fn body_strategy() -> impl Strategy<Value = (usize, u8)> {
    prop_oneof![
        3 => (0usize..2048, any::<u8>()),
        2 => (2048usize..256 * 1024, any::<u8>()),
        1 => (256 * 1024usize..4 * 1024 * 1024, any::<u8>()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn cached_bytes_equal_origin_bytes(
        (len, seed) in body_strategy(),
        chunks in proptest::collection::vec(1usize..70_000, 1..6),
        chunked in any::<bool>(),
    ) {
        static CASE: AtomicUsize = AtomicUsize::new(0);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let origin = Origin::start().await;
            let body: Bytes = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect::<Vec<_>>().into();
            let path = format!("/obj{}", CASE.fetch_add(1, Ordering::SeqCst));
            let mut reply = Reply::ok(body.clone()).header("cache-control", "max-age=60").chunks(chunks);
            if chunked {
                reply = reply.chunked();
            }
            origin.route(&path, reply);
            let layer = CdnLayer::builder().origin(CdnOrigin::http(origin.url())).capacity_bytes(64 << 20).build().unwrap();
            let edge = start_proxy(layer).await;
            let c = client();
            let miss = c.get(format!("http://{edge}{path}")).send().await.unwrap();
            prop_assert!(cache_status(&miss).contains("stored"), "{}", cache_status(&miss));
            prop_assert_eq!(miss.bytes().await.unwrap(), body.clone());
            let hit = c.get(format!("http://{edge}{path}")).send().await.unwrap();
            prop_assert!(cache_status(&hit).contains("hit"), "{}", cache_status(&hit));
            prop_assert_eq!(hit.bytes().await.unwrap(), body);
            prop_assert_eq!(origin.hits(&path), 1);
            Ok(())
        })?;
    }
}
