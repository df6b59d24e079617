//! Tee throughput: a cold miss through the layer whose inner origin streams
//! a cacheable body of N chunks. The fill task copies each chunk to the
//! client and accumulates it for the store, so this measures MiB/s of
//! "forward + keep + commit". Each iteration uses a new key.
//!
//! Run: `cargo bench --bench tee -- --warm-up-time 1 --measurement-time 3`

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::header::{self, HeaderValue};
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Empty, StreamBody};
use tower::ServiceExt;
use tower_cdn::{CdnConfig, CdnLayer};
use tower_layer::Layer;

const MIB: usize = 1024 * 1024;

fn tee(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let mut group = c.benchmark_group("tee_miss");
    // (total bytes, chunks)
    for (total, chunks) in [(MIB, 16usize), (MIB, 256), (16 * MIB, 256)] {
        let chunk = Bytes::from(vec![b'x'; total / chunks]);
        let origin = tower::service_fn(move |_req: Request<Empty<Bytes>>| {
            let chunk = chunk.clone();
            async move {
                let frames = (0..chunks).map(move |_| Ok::<_, Infallible>(Frame::data(chunk.clone())));
                let mut resp = Response::new(StreamBody::new(futures_util::stream::iter(frames)));
                resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
                Ok::<_, Infallible>(resp)
            }
        });
        let cdn = CdnLayer::new(CdnConfig::default()).layer(origin);
        let mut n = 0u64;
        group.throughput(Throughput::Bytes(total as u64));
        group.bench_function(format!("{}MiB_in_{chunks}_chunks", total / MIB), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iters {
                        n += 1;
                        let req = Request::get(format!("/big?n={n}"))
                            .header(header::HOST, "bench.example")
                            .body(Empty::<Bytes>::new())
                            .expect("a valid request");
                        let start = Instant::now();
                        let mut body = cdn.clone().oneshot(req).await.expect("infallible").into_body();
                        // Count the bytes as a client would see them, without
                        // joining them (that copy is not the tee's).
                        let mut received = 0;
                        while let Some(frame) = body.frame().await {
                            received += frame.expect("body").into_data().map_or(0, |d| d.len());
                        }
                        elapsed += start.elapsed();
                        assert_eq!(received, total);
                    }
                    elapsed
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, tee);
criterion_main!(benches);
