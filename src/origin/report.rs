//! Origin failures told to the operator: one WARN line per origin at most
//! every [`INTERVAL`], with the origin's name, the URL, the cause (and
//! S3's error code), and how many like it were not shown. A dead origin
//! under load would otherwise write a line per request.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The shortest time between two lines about one origin.
pub(crate) const INTERVAL: Duration = Duration::from_secs(10);

/// The failure log of one origin.
pub(crate) struct FailureLog {
    name: String,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl fmt::Debug for FailureLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailureLog").field("name", &self.name).finish()
    }
}

impl FailureLog {
    pub(crate) fn new(name: &str) -> Self {
        FailureLog { name: name.to_owned(), last: Mutex::new(None), suppressed: AtomicU64::new(0) }
    }

    /// Logs a failure, or counts it if one was logged within [`INTERVAL`].
    pub(crate) fn warn(&self, url: &str, cause: &dyn fmt::Display, s3_code: Option<&str>) {
        let now = Instant::now();
        {
            let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|t| now.duration_since(t) < INTERVAL) {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            *last = Some(now);
        }
        let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
        match s3_code {
            Some(code) => tracing::warn!(
                origin = %self.name, url = %redact(url), s3_error = code, similar_not_shown = suppressed,
                "origin request failed: {cause}"
            ),
            None => tracing::warn!(
                origin = %self.name, url = %redact(url), similar_not_shown = suppressed,
                "origin request failed: {cause}"
            ),
        }
    }
}

/// The URL without its query (presigned URLs carry credentials there).
fn redact(url: &str) -> &str {
    url.split_once('?').map_or(url, |(base, _)| base)
}

#[cfg(feature = "s3")]
/// The `<Code>` of an S3 error document, if it has one.
pub(crate) fn s3_error_code(xml: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(xml).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    let code = text[start..end].trim();
    let plain = !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
    plain.then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "s3")]
    fn s3_error_codes_are_read_from_the_document() {
        let doc = b"<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error>";
        assert_eq!(s3_error_code(doc).as_deref(), Some("SignatureDoesNotMatch"));
        assert_eq!(s3_error_code(b"<Error><Code>No<script></Code></Error>"), None);
        assert_eq!(s3_error_code(b"not xml"), None);
    }

    #[test]
    fn a_burst_logs_once_and_counts_the_rest() {
        let log = FailureLog::new("web");
        for _ in 0..5 {
            log.warn("http://o/x?X-Amz-Signature=s", &"refused", None);
        }
        assert_eq!(log.suppressed.load(Ordering::Relaxed), 4);
        assert_eq!(redact("http://o/x?X-Amz-Signature=s"), "http://o/x");
    }
}
