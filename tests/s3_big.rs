//! A 100 MiB S3 object streamed through the proxy: the first bytes reach
//! the client while memory stays flat (the object is larger than the
//! maximum object size, so it passes through without being stored).
//!
//! Its own test binary, so no other test moves this process's memory.

mod support;

use futures_util::StreamExt;
use support::s3::s3_env;
use support::{cache_status, client, start_proxy};
use tower_cdn::{CacheBehavior, CdnLayer, Distribution, Origin};

/// Resident memory of this process, in bytes (Linux).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// The seeded object: 16-byte lines, line `i` is `format!("{:015x}\n", 16 * i)`.
fn expected_at(offset: usize, len: usize) -> Vec<u8> {
    let first = offset / 16;
    let last = (offset + len).div_ceil(16);
    let lines: Vec<u8> = (first..last).flat_map(|i| format!("{:015x}\n", 16 * i).into_bytes()).collect();
    lines[offset - first * 16..][..len].to_vec()
}

#[tokio::test]
async fn a_100_mib_object_streams_through_with_flat_memory() {
    let e = s3_env();
    let layer = CdnLayer::builder()
        .distribution(
            Distribution::new("big")
                .origin("bucket", Origin::s3(e.path_style(&e.public)))
                .default_behavior(CacheBehavior::default_for("bucket")),
        )
        .build()
        .unwrap();
    let edge = start_proxy(layer.clone()).await;
    let baseline = rss_bytes();
    let resp = client().get(format!("http://{edge}/{}", e.big_key)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(cache_status(&resp).contains("detail=too-large"), "{}", cache_status(&resp));
    let mut body = resp.bytes_stream();
    let mut received = 0usize;
    let mut rss_at_first_byte = None;
    let mut peak = baseline;
    let mut next_sample = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("body chunk");
        if rss_at_first_byte.is_none() {
            rss_at_first_byte = Some(rss_bytes());
        }
        assert!(chunk[..] == expected_at(received, chunk.len())[..], "bytes differ at offset {received}");
        received += chunk.len();
        if received >= next_sample {
            peak = peak.max(rss_bytes());
            next_sample = received + (4 << 20);
        }
    }
    assert_eq!(received, e.big_size);
    let first = rss_at_first_byte.expect("a first chunk").saturating_sub(baseline);
    let growth = peak.saturating_sub(baseline);
    eprintln!("memory growth: {first} bytes at the first byte, {growth} bytes at most");
    // Buffering the object anywhere would cost 100 MiB before the first
    // byte (or during the transfer); streaming costs a few buffers.
    assert!(first < 32 << 20, "memory grew {first} bytes before the first byte");
    assert!(growth < 48 << 20, "memory grew {growth} bytes while streaming 100 MiB");
    assert!(layer.cache().is_empty(), "larger than the maximum object size");
}
