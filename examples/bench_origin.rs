//! The origin used by `benches/load.sh`: run with
//! `cargo run --release --example bench_origin -- 127.0.0.1:18081`.
//!
//! It prints `listening on http://ADDR` first, then serves (the query string
//! only makes a distinct cache key; it never changes the answer):
//!
//! | path | answer |
//! |---|---|
//! | `/1k`, `/100k` | that many bytes from memory, `Cache-Control: max-age=3600` |
//! | `/slow` | first byte after 100 ms, then 1 KiB chunks every 100 ms for ~1 s, `max-age=60` |
//! | `/big100m` | 100 MiB with `Content-Length`, streamed in 64 KiB chunks, `max-age=3600` |
//! | `/delay` | 64 bytes after 20 ms (a slow miss), `max-age=3600` |
//! | `/tiny/N` | 64 bytes starting with the path (`/tiny/N`, so a client can tell which key it got), `max-age=3600` |
//! | `/count` | one line per path+query seen: `path hits first_byte_unix_ns` |
//! | `/total` | the number of requests counted, all paths (one line; `/count` of a million keys is large) |
//! | `/reset` | forgets the counts |

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Time before `/slow` sends its head and first chunk.
const SLOW_FIRST_BYTE: Duration = Duration::from_millis(100);
/// Chunks of `/slow`, one every `SLOW_INTERVAL`.
const SLOW_CHUNKS: usize = 10;
const SLOW_INTERVAL: Duration = Duration::from_millis(100);
const BIG_CHUNK: usize = 64 * 1024;
const BIG_CHUNKS: usize = 1600; // 100 MiB
/// Time `/delay` waits before answering.
const DELAY: Duration = Duration::from_millis(20);
/// Body size of `/delay` and `/tiny/N`.
const SMALL: usize = 64;

type Body = BoxBody<Bytes, Infallible>;

/// `SMALL` bytes: `text`, then dots, then a newline.
fn small_body(text: &str) -> Bytes {
    let mut body = text.as_bytes()[..text.len().min(SMALL - 1)].to_vec();
    body.resize(SMALL - 1, b'.');
    body.push(b'\n');
    Bytes::from(body)
}

/// Per path+query: hits, and when the first byte of the last `/slow` answer left.
#[derive(Default)]
struct Counts(Mutex<HashMap<String, (u64, u128)>>);

impl Counts {
    fn hit(&self, key: &str) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key.to_owned()).or_default().0 += 1;
    }
    fn first_byte(&self, key: &str, at: u128) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key.to_owned()).or_default().1 = at;
    }
    fn render(&self) -> String {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut lines: Vec<String> = map.iter().map(|(k, (n, t))| format!("{k} {n} {t}\n")).collect();
        lines.sort();
        lines.concat()
    }
    fn total(&self) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).values().map(|(n, _)| n).sum()
    }
    fn reset(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

struct Objects {
    one_k: Bytes,
    hundred_k: Bytes,
    slow_chunk: Bytes,
    big_chunk: Bytes,
    small: Bytes,
    counts: Counts,
}

fn unix_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).boxed()
}

fn cacheable(body: Body, max_age: &'static str) -> Response<Body> {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(max_age));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    resp
}

async fn handle(objects: Arc<Objects>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let key = req.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
    let resp = match req.uri().path() {
        "/count" => Response::new(full(Bytes::from(objects.counts.render()))),
        "/total" => Response::new(full(Bytes::from(format!("{}\n", objects.counts.total())))),
        "/reset" => {
            objects.counts.reset();
            Response::new(full(Bytes::from_static(b"ok\n")))
        }
        "/1k" => {
            objects.counts.hit(&key);
            cacheable(full(objects.one_k.clone()), "max-age=3600")
        }
        "/100k" => {
            objects.counts.hit(&key);
            cacheable(full(objects.hundred_k.clone()), "max-age=3600")
        }
        "/delay" => {
            objects.counts.hit(&key);
            tokio::time::sleep(DELAY).await;
            cacheable(full(objects.small.clone()), "max-age=3600")
        }
        path if path.starts_with("/tiny/") => {
            objects.counts.hit(&key);
            cacheable(full(small_body(path)), "max-age=3600")
        }
        "/slow" => {
            objects.counts.hit(&key);
            tokio::time::sleep(SLOW_FIRST_BYTE).await;
            let chunk = objects.slow_chunk.clone();
            let frames = futures_util::stream::unfold(0usize, move |i| {
                let chunk = chunk.clone();
                async move {
                    if i == SLOW_CHUNKS {
                        return None;
                    }
                    if i > 0 {
                        tokio::time::sleep(SLOW_INTERVAL).await;
                    }
                    Some((Ok::<_, Infallible>(Frame::data(chunk)), i + 1))
                }
            });
            // The head and first chunk leave as soon as this returns.
            objects.counts.first_byte(&key, unix_ns());
            cacheable(StreamBody::new(frames).boxed(), "max-age=60")
        }
        "/big100m" => {
            objects.counts.hit(&key);
            let chunk = objects.big_chunk.clone();
            let frames = futures_util::stream::iter((0..BIG_CHUNKS).map(move |_| Ok(Frame::data(chunk.clone()))));
            let mut resp = cacheable(StreamBody::new(frames).boxed(), "max-age=3600");
            resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(BIG_CHUNK * BIG_CHUNKS));
            resp
        }
        _ => {
            let mut resp = Response::new(full(Bytes::from_static(b"not found\n")));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp
        }
    };
    Ok(resp)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let objects = Arc::new(Objects {
        one_k: Bytes::from(vec![b'a'; 1024]),
        hundred_k: Bytes::from(vec![b'b'; 100 * 1024]),
        slow_chunk: Bytes::from(vec![b'c'; 1024]),
        big_chunk: Bytes::from(vec![b'd'; BIG_CHUNK]),
        small: small_body("delay"),
        counts: Counts::default(),
    });
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let objects = Arc::clone(&objects);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(Arc::clone(&objects), req));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}
