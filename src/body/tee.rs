//! The tee: reads an origin body into a fill, from which every client
//! (the leader included) streams, and hands the complete body back for
//! storing. Runs in its own task, so a client that goes away does not stop
//! the fetch for the others.

use std::time::Duration;

use http_body::Body as _;
use http_body_util::BodyExt;

use super::OriginBody;
use crate::cache::fill::{FillWriter, Pushed};
use crate::cache::lock::Fills;

/// How a pumped body ended.
pub(crate) enum Pumped {
    /// The whole body arrived; the caller stores it (if it still may) and
    /// then completes the writer.
    Complete(FillWriter),
    /// The origin failed, stalled, or lied about the length; readers saw an error.
    Failed,
    /// Every reader left before the end.
    Abandoned,
}

/// Copies `body` into the fill until it ends. `idle_timeout` bounds the wait
/// for each chunk (CloudFront's origin response timeout applies between
/// packets too). `expected_len` is the origin's `Content-Length`, checked
/// so a short or long body is never stored (RFC 9112 §6.3: such a message
/// is incomplete).
pub(crate) async fn pump(
    mut body: OriginBody,
    writer: FillWriter,
    idle_timeout: Duration,
    expected_len: Option<u64>,
    fills: &Fills,
) -> Pumped {
    let mut received: u64 = 0;
    loop {
        std::future::poll_fn(|cx| writer.poll_room(cx)).await;
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
            if !data.is_empty() {
                match writer.push(data) {
                    Pushed::Ok => {}
                    Pushed::Overflowed => fills.remove(writer.fill()),
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
    Pumped::Complete(writer)
}
