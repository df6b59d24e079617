//! Edge compression, as CloudFront's "compress objects automatically": a
//! compressible response (by `Content-Type`, 1 000 to 10 000 000 bytes,
//! not already encoded, no `no-transform`) is compressed with brotli or
//! gzip when the client accepts it, and each encoding is cached as its own
//! `Vary: Accept-Encoding` variant. The request's `Accept-Encoding` is
//! normalised to `br`, `gzip` or nothing first, so there are at most three
//! variants per object.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

use super::OriginBody;
use crate::error::BoxError;
use crate::policy::cache_control::CacheControl;

/// Smallest and largest bodies compressed (CloudFront's limits).
const MIN_BYTES: u64 = 1_000;
const MAX_BYTES: u64 = 10_000_000;

/// A content coding we produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// What an `Accept-Encoding` field says about one coding (or about `*`).
#[derive(Debug, Clone, Copy, Default)]
struct Said {
    /// Listed without `q=0`.
    accepted: bool,
    /// Listed with `q=0`.
    refused: bool,
}

/// The coding a client accepts, preferring brotli; `q=0` refuses a coding.
/// `*` stands for the codings the field does not list (RFC 9110 §12.5.3),
/// so `br;q=0, *` refuses brotli.
pub(crate) fn negotiate(headers: &HeaderMap) -> Option<Coding> {
    let (mut br, mut gzip, mut any) = (Said::default(), Said::default(), Said::default());
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(text) = value.to_str() else { continue };
        for member in text.split(',') {
            let mut parts = member.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            // `q=` is case-insensitive (RFC 9110 §12.4.2).
            let refused = parts.any(|p| {
                let p = p.trim();
                p.get(..2).is_some_and(|q| q.eq_ignore_ascii_case("q="))
                    && p[2..].trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            });
            let said = match coding.as_str() {
                "br" => &mut br,
                "gzip" | "x-gzip" => &mut gzip,
                "*" => &mut any,
                _ => continue,
            };
            if refused {
                said.refused = true;
            } else {
                said.accepted = true;
            }
        }
    }
    let accepts = |said: Said| said.accepted || (any.accepted && !said.refused);
    if accepts(br) {
        Some(Coding::Brotli)
    } else if accepts(gzip) {
        Some(Coding::Gzip)
    } else {
        None
    }
}

/// Rewrites `Accept-Encoding` to the one coding this cache would use, or
/// to `identity` when the client takes neither (removing the field would
/// tell the origin that any coding will do, RFC 9110 §12.5.3), so
/// variants are keyed on at most three values.
pub(crate) fn normalize_accept_encoding(headers: &mut HeaderMap) {
    let token = negotiate(headers).map_or("identity", Coding::token);
    headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(token));
}

fn is_compressible_type(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime.starts_with("text/")
        || matches!(
            mime.as_str(),
            "application/json"
                | "application/javascript"
                | "application/x-javascript"
                | "application/xml"
                | "application/xhtml+xml"
                | "application/rss+xml"
                | "application/atom+xml"
                | "application/ld+json"
                | "application/manifest+json"
                | "application/wasm"
                | "application/vnd.ms-fontobject"
                | "application/x-font-ttf"
                | "font/ttf"
                | "font/otf"
                | "image/svg+xml"
                | "image/x-icon"
                | "image/vnd.microsoft.icon"
        )
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
}

/// Whether this origin response may be compressed at the edge.
pub(crate) fn eligible(status: StatusCode, headers: &HeaderMap) -> bool {
    let encoded = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
    let len = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let no_transform = CacheControl::from_headers(headers, &header::CACHE_CONTROL).no_transform;
    status == StatusCode::OK
        && !encoded
        && !no_transform
        && !headers.contains_key(header::CONTENT_RANGE)
        && len.is_some_and(|n| (MIN_BYTES..=MAX_BYTES).contains(&n))
        && is_compressible_type(headers)
}

/// Adds `Accept-Encoding` to `Vary` unless it is there already.
pub(crate) fn vary_on_accept_encoding(headers: &mut HeaderMap) {
    let present = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|n| n.trim().eq_ignore_ascii_case("accept-encoding") || n.trim() == "*");
    if !present {
        headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

/// Turns the head into that of the `coding`-encoded representation: new
/// `Content-Encoding`, unknown length, and a weak `ETag` (the bytes differ).
pub(crate) fn encode_head(headers: &mut HeaderMap, coding: Coding) {
    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::ACCEPT_RANGES);
    if let Some(etag) = headers.get(header::ETAG).and_then(|v| v.to_str().ok())
        && !etag.starts_with("W/")
        && let Ok(weak) = HeaderValue::from_str(&format!("W/{etag}"))
    {
        headers.insert(header::ETAG, weak);
    }
}

enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl Encoder {
    fn new(coding: Coding) -> Self {
        match coding {
            Coding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6))),
            // Quality 5, window 22: a good ratio at streaming speed.
            Coding::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(Vec::new(), 32 * 1024, 5, 22))),
        }
    }

    fn write(&mut self, data: &[u8]) -> std::io::Result<Bytes> {
        match self {
            Encoder::Gzip(e) => {
                e.write_all(data)?;
                Ok(Bytes::from(std::mem::take(e.get_mut())))
            }
            Encoder::Brotli(e) => {
                e.write_all(data)?;
                Ok(Bytes::from(std::mem::take(e.get_mut())))
            }
        }
    }

    fn finish(self) -> std::io::Result<Bytes> {
        match self {
            Encoder::Gzip(e) => e.finish().map(Bytes::from),
            Encoder::Brotli(mut e) => {
                e.flush()?;
                Ok(Bytes::from(e.into_inner()))
            }
        }
    }
}

/// A body compressed as it streams.
struct Compressed {
    inner: OriginBody,
    encoder: Option<Encoder>,
}

impl Body for Compressed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            if self.encoder.is_none() {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else { continue };
                    let out = match self.encoder.as_mut().map(|e| e.write(&data)) {
                        Some(Ok(out)) => out,
                        Some(Err(e)) => return Poll::Ready(Some(Err(Box::new(e)))),
                        None => return Poll::Ready(None),
                    };
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                }
                Poll::Ready(None) => {
                    let Some(encoder) = self.encoder.take() else {
                        return Poll::Ready(None);
                    };
                    return match encoder.finish() {
                        Ok(tail) if !tail.is_empty() => Poll::Ready(Some(Ok(Frame::data(tail)))),
                        Ok(_) => Poll::Ready(None),
                        Err(e) => Poll::Ready(Some(Err(Box::new(e)))),
                    };
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encoder.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// `body`, compressed with `coding` as it streams.
pub(crate) fn encode_body(body: OriginBody, coding: Coding) -> OriginBody {
    Compressed { inner: body, encoder: Some(Encoder::new(coding)) }.boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use std::io::Read;

    use crate::test_util::headers as h;

    #[test]
    fn negotiation_prefers_brotli_and_honours_q0() {
        assert_eq!(negotiate(&h(&[("accept-encoding", "gzip, deflate, br")])), Some(Coding::Brotli));
        assert_eq!(negotiate(&h(&[("accept-encoding", "gzip, br;q=0")])), Some(Coding::Gzip));
        assert_eq!(negotiate(&h(&[("accept-encoding", "identity")])), None);
        assert_eq!(negotiate(&h(&[])), None);
        assert_eq!(negotiate(&h(&[("accept-encoding", "*")])), Some(Coding::Brotli));
    }

    #[test]
    fn the_origin_is_asked_for_what_the_client_takes() {
        let normalized = |pairs: &[(&str, &str)]| {
            let mut headers = h(pairs);
            normalize_accept_encoding(&mut headers);
            headers.get_all(header::ACCEPT_ENCODING).iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>()
        };
        assert_eq!(normalized(&[("accept-encoding", "gzip, deflate, br")]), ["br"]);
        assert_eq!(normalized(&[("accept-encoding", "deflate"), ("accept-encoding", "gzip")]), ["gzip"]);
        // Neither: identity, not "anything" (which an absent field means).
        assert_eq!(normalized(&[("accept-encoding", "deflate")]), ["identity"]);
        assert_eq!(normalized(&[("accept-encoding", "")]), ["identity"]);
        assert_eq!(normalized(&[]), ["identity"]);
        assert_eq!(normalized(&[("accept-encoding", "br;Q=0, gzip;q=0")]), ["identity"]);
    }

    #[test]
    fn a_star_does_not_undo_a_refusal() {
        // RFC 9110 §12.5.3: `*` matches only codings not listed (found by
        // the `headers` fuzz target: `br;q=0,*` got brotli).
        let ae = |v| negotiate(&h(&[("accept-encoding", v)]));
        assert_eq!(ae("br;q=0,*"), Some(Coding::Gzip));
        assert_eq!(ae("br;q=0, gzip;q=0, *"), None);
        assert_eq!(ae("x-gzip;q=0, br;q=0, *"), None);
        assert_eq!(negotiate(&h(&[("accept-encoding", "br;q=0, gzip"), ("accept-encoding", "*")])), Some(Coding::Gzip));
        assert_eq!(ae("*;q=0, br"), Some(Coding::Brotli));
        assert_eq!(ae("*;q=0"), None);
        assert_eq!(ae("gzip;q=0, *"), Some(Coding::Brotli));
        // Listed both ways: still accepted, as before.
        assert_eq!(ae("br, br;q=0"), Some(Coding::Brotli));
    }

    #[test]
    fn eligibility() {
        let ok = h(&[("content-type", "text/html; charset=utf-8"), ("content-length", "5000")]);
        assert!(eligible(StatusCode::OK, &ok));
        assert!(!eligible(StatusCode::PARTIAL_CONTENT, &ok));
        let small = h(&[("content-type", "text/html"), ("content-length", "999")]);
        assert!(!eligible(StatusCode::OK, &small));
        let image = h(&[("content-type", "image/png"), ("content-length", "5000")]);
        assert!(!eligible(StatusCode::OK, &image));
        let encoded = h(&[("content-type", "text/css"), ("content-length", "5000"), ("content-encoding", "gzip")]);
        assert!(!eligible(StatusCode::OK, &encoded));
        let nt = h(&[("content-type", "text/css"), ("content-length", "5000"), ("cache-control", "no-transform")]);
        assert!(!eligible(StatusCode::OK, &nt));
        let unknown_len = h(&[("content-type", "text/css")]);
        assert!(!eligible(StatusCode::OK, &unknown_len));
    }

    #[tokio::test]
    async fn gzip_and_brotli_round_trip() {
        let text: Vec<u8> = (0..20_000u32).map(|i| b"abcdefgh"[(i % 8) as usize]).collect();
        for coding in [Coding::Gzip, Coding::Brotli] {
            let body = Full::new(Bytes::from(text.clone())).map_err(|e| -> BoxError { Box::new(e) }).boxed_unsync();
            let out = encode_body(body, coding).collect().await.unwrap().to_bytes();
            assert!(out.len() < text.len() / 4);
            let mut plain = Vec::new();
            match coding {
                Coding::Gzip => flate2::read::GzDecoder::new(&out[..]).read_to_end(&mut plain).unwrap(),
                Coding::Brotli => brotli::Decompressor::new(&out[..], 4096).read_to_end(&mut plain).unwrap(),
            };
            assert_eq!(plain, text);
        }
    }

    #[test]
    fn encoded_heads_get_a_weak_etag_and_no_length() {
        let mut m = h(&[("etag", "\"abc\""), ("content-length", "5000")]);
        encode_head(&mut m, Coding::Gzip);
        assert_eq!(m["etag"], "W/\"abc\"");
        assert_eq!(m["content-encoding"], "gzip");
        assert!(!m.contains_key("content-length"));
        let mut v = h(&[("vary", "Origin")]);
        vary_on_accept_encoding(&mut v);
        vary_on_accept_encoding(&mut v);
        assert_eq!(v.get_all("vary").iter().count(), 2);
    }
}
