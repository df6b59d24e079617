//! Edge compression: each encoding is cached as its own variant.

mod support;

use std::io::Read;

use support::{Origin, Reply, cache_status, start_proxy};
use tower_cdn::{CdnLayer, Origin as CdnOrigin};

fn raw_client() -> reqwest::Client {
    // rustls 0.23.48 deprecates ring for its lack of post-quantum key
    // exchange; ring keeps the build free of a C toolchain (aws-lc).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    // reqwest here has no decompression: we see the bytes as sent.
    reqwest::Client::builder().build().unwrap()
}

#[tokio::test]
async fn compressible_responses_are_compressed_once_per_encoding_and_cached() {
    let origin = Origin::start().await;
    let text: String = (0..4000).map(|i| format!("line {i}\n")).collect();
    origin.route(
        "/page.html",
        Reply::ok(text.clone())
            .header("cache-control", "max-age=60")
            .header("content-type", "text/html")
            .header("etag", "\"p1\""),
    );
    origin.route(
        "/logo.png",
        Reply::ok(vec![7u8; 5000]).header("cache-control", "max-age=60").header("content-type", "image/png"),
    );
    let layer = CdnLayer::builder().origin(CdnOrigin::http(origin.url())).compress(true).build().unwrap();
    let edge = start_proxy(layer).await;
    let c = raw_client();
    let url = format!("http://{edge}/page.html");
    let get = |ae: Option<&'static str>| {
        let c = c.clone();
        let url = url.clone();
        async move {
            let mut rb = c.get(&url);
            if let Some(ae) = ae {
                rb = rb.header("accept-encoding", ae);
            }
            let r = rb.send().await.unwrap();
            let cs = cache_status(&r);
            let h = r.headers().clone();
            (cs, h, r.bytes().await.unwrap())
        }
    };
    let (cs, h, gz) = get(Some("gzip, deflate")).await;
    assert!(cs.contains("stored"), "{cs}");
    assert_eq!(h["content-encoding"], "gzip");
    assert_eq!(h["vary"], "Accept-Encoding");
    assert_eq!(h["etag"], "W/\"p1\"");
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut plain).unwrap();
    assert_eq!(plain, text);
    assert!(gz.len() < text.len() / 3);
    // Another spelling of "gzip" is the same variant: a hit.
    let (cs, h, again) = get(Some("deflate, gzip;q=0.8")).await;
    assert!(cs.contains("hit"), "{cs}");
    assert_eq!(h["content-length"], gz.len().to_string().as_str());
    assert_eq!(again, gz);
    // Brotli, and identity, are their own variants.
    let (_, h, br) = get(Some("br, gzip")).await;
    assert_eq!(h["content-encoding"], "br");
    let mut plain = String::new();
    brotli::Decompressor::new(&br[..], 4096).read_to_string(&mut plain).unwrap();
    assert_eq!(plain, text);
    let (_, h, identity) = get(None).await;
    assert!(h.get("content-encoding").is_none());
    assert_eq!(identity, text.as_bytes());
    assert_eq!(origin.hits("/page.html"), 3, "one origin fetch per encoding");
    for ae in [Some("gzip"), Some("br"), None] {
        assert!(get(ae).await.0.contains("hit"));
    }
    // Images are not compressed.
    let r = c.get(format!("http://{edge}/logo.png")).header("accept-encoding", "gzip").send().await.unwrap();
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(r.bytes().await.unwrap().len(), 5000);
}
