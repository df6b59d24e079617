//! The tee: reads an origin body into a fill, from which every client
//! (the leader included) streams, and hands the complete body back for
//! storing. Runs in its own task, so a client that goes away does not stop
//! the fetch for the others.

use std::sync::Arc;
use std::time::Duration;

use http_body::Body as _;
use http_body_util::BodyExt;

use super::OriginBody;
use crate::cache::fill::{Fill, FillWriter, Pushed};

/// A second destination of the body's chunks (the disk tier's write).
pub(crate) trait Tap {
    /// A chunk, in order.
    fn chunk(&mut self, data: &bytes::Bytes);
    /// Ready when the tap can take more; the pump waits on it only while
    /// the fill does not keep the whole body (then the fill's own chunks
    /// are what the tap holds, at no extra memory).
    fn poll_room(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()>;
}

impl Tap for () {
    fn chunk(&mut self, _: &bytes::Bytes) {}
    fn poll_room(&self, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Ready(())
    }
}

/// How a pumped body ended.
pub(crate) enum Pumped {
    /// The whole body arrived; the caller stores it (if it still may) and
    /// then hands the readers the last chunk, held back so that no client
    /// has the whole body before it is stored (see
    /// [`FillWriter::finish_with`]).
    Complete(FillWriter, Option<bytes::Bytes>),
    /// The origin failed, stalled, or lied about the length; readers saw an error.
    Failed,
    /// Every reader left before the end.
    Abandoned,
}

/// Copies `body` into the fill until it ends. `idle_timeout` bounds the wait
/// for each chunk (CloudFront's origin response timeout applies between
/// packets too). `expected_len` is the origin's `Content-Length`, checked
/// so a short or long body is never stored (RFC 9112 §6.3: such a message
/// is incomplete). `unlist` is told when the body outgrows the cap: the
/// fill is no longer one later requests may join. `tap` gets every chunk
/// too (the tail included).
pub(crate) async fn pump(
    mut body: OriginBody,
    writer: FillWriter,
    idle_timeout: Duration,
    expected_len: Option<u64>,
    unlist: impl Fn(&Arc<Fill>),
    tap: &mut impl Tap,
) -> Pumped {
    let mut received: u64 = 0;
    let mut tail = None;
    loop {
        std::future::poll_fn(|cx| writer.poll_room(cx)).await;
        if !writer.is_shared() {
            std::future::poll_fn(|cx| tap.poll_room(cx)).await;
        }
        let frame = match tokio::time::timeout(idle_timeout, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => break,
            // Dropping the writer fails the fill.
            Ok(Some(Err(_))) | Err(_) => return Pumped::Failed,
        };
        if let Ok(data) = frame.into_data() {
            received += data.len() as u64;
            if expected_len.is_some_and(|n| received > n) {
                return Pumped::Failed;
            }
            tap.chunk(&data);
            if expected_len == Some(received) {
                // The announced length is complete: a client could have
                // every byte, so this one waits for the store.
                tail = Some(data);
                break;
            }
            if !data.is_empty() {
                match writer.push(data) {
                    Pushed::Ok => {}
                    Pushed::Overflowed => unlist(writer.fill()),
                    Pushed::Abandoned => return Pumped::Abandoned,
                }
            }
        }
        if body.is_end_stream() {
            break;
        }
    }
    if expected_len.is_some_and(|n| received != n) {
        return Pumped::Failed;
    }
    Pumped::Complete(writer, tail)
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::task::{Context, Waker};

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};

    use super::*;
    use crate::cache::lock::{Fills, Join};

    fn body(bytes: &'static [u8]) -> OriginBody {
        Full::new(Bytes::from_static(bytes)).map_err(|never| match never {}).boxed_unsync()
    }

    #[tokio::test]
    async fn the_chunk_that_completes_the_length_is_held_for_the_store() {
        let fills = Fills::default();
        let key: crate::cache::key::CacheKey = "GET example.com/a".into();
        let Join::Lead(writer, mut reader, _registration) = fills.join_or_lead(&key, 1 << 20) else {
            panic!("first request leads")
        };
        let Pumped::Complete(writer, tail) =
            pump(body(b"whole"), writer, Duration::from_secs(5), Some(5), |f| fills.remove(f), &mut ()).await
        else {
            panic!("the body is complete")
        };
        assert_eq!(tail.as_deref(), Some(&b"whole"[..]));
        // The reader has nothing yet: the store comes first.
        assert!(reader.poll_chunk(&mut Context::from_waker(Waker::noop())).is_pending());
        writer.finish_with(tail, |chunks| assert_eq!(chunks.concat(), b"whole"));
        let got = poll_fn(|cx| reader.poll_chunk(cx)).await.unwrap().unwrap();
        assert_eq!(got, &b"whole"[..]);
    }

    #[tokio::test]
    async fn a_short_body_fails() {
        let fills = Fills::default();
        let key: crate::cache::key::CacheKey = "GET example.com/b".into();
        let Join::Lead(writer, _reader, _registration) = fills.join_or_lead(&key, 1 << 20) else {
            panic!("first request leads")
        };
        let pumped = pump(body(b"short"), writer, Duration::from_secs(5), Some(9), |f| fills.remove(f), &mut ()).await;
        assert!(matches!(pumped, Pumped::Failed));
    }
}
