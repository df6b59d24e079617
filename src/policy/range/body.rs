//! Building 206 bodies: zero-copy slicing and `multipart/byteranges`
//! (RFC 9110 §14.6, §15.3.7). Re-exported from [`super`].

use bytes::Bytes;
use http::HeaderValue;

use super::{ByteRange, ascii_value, content_range};

/// Slice `r` out of a body held as a list of chunks, without copying
/// ([`Bytes::slice`] shares the buffer), returning the pieces in order.
///
/// Bytes of `r` beyond the end of the data are simply absent from the
/// result; empty chunks never appear in it.
pub fn slice_chunks(chunks: &[Bytes], r: ByteRange) -> Vec<Bytes> {
    let mut out = Vec::new();
    let end_exclusive = r.end_inclusive.saturating_add(1);
    let mut chunk_start: u64 = 0;
    for chunk in chunks {
        let chunk_len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        let chunk_end = chunk_start.saturating_add(chunk_len);
        let base = chunk_start;
        chunk_start = chunk_end;
        if chunk_end <= r.start {
            continue;
        }
        if base >= end_exclusive {
            break;
        }
        let lo = r.start.saturating_sub(base);
        let hi = end_exclusive.min(chunk_end).saturating_sub(base);
        if let (Ok(lo), Ok(hi)) = (usize::try_from(lo), usize::try_from(hi))
            && lo < hi
            && hi <= chunk.len()
        {
            out.push(chunk.slice(lo..hi));
        }
    }
    out
}

/// Build a `multipart/byteranges` body (RFC 9110 §14.6, §15.3.7.2).
///
/// `chunks` is the complete representation (`len` bytes in total), `ranges`
/// the parts in order, `content_type` the representation's `Content-Type`
/// (repeated in each part, §15.3.7.2), and `boundary` the delimiter.
///
/// Returns the response `Content-Type` value, the body as chunks (range data
/// is shared with `chunks`, not copied) and the body length. Each part is
/// `--boundary\r\nContent-Type: ..\r\nContent-Range: bytes a-b/len\r\n\r\n
/// <data>\r\n`, and the body ends with `--boundary--\r\n`.
///
/// Returns `None`, rather than a body that would lie, if `ranges` is empty,
/// a range is not within `0..len`, the chunks do not add up to `len`, or
/// `boundary` is not 1–70 characters of `A-Z a-z 0-9 ' + _ - .` (RFC 2046
/// §5.1.1 `bchars` that are also `tchar`, so the parameter needs no quoting).
pub fn multipart_byteranges(
    chunks: &[Bytes],
    ranges: &[ByteRange],
    len: u64,
    content_type: Option<&HeaderValue>,
    boundary: &str,
) -> Option<(HeaderValue, Vec<Bytes>, u64)> {
    let boundary_ok = (1..=70).contains(&boundary.len())
        && boundary.bytes().all(|b| b.is_ascii_alphanumeric() || b"'+_-.".contains(&b));
    let data_len = chunks.iter().fold(0u64, |acc, c| acc.saturating_add(u64::try_from(c.len()).unwrap_or(u64::MAX)));
    let ranges_ok = !ranges.is_empty() && ranges.iter().all(|r| r.start <= r.end_inclusive && r.end_inclusive < len);
    if !boundary_ok || !ranges_ok || data_len != len {
        return None;
    }
    let mut body = Vec::with_capacity(ranges.len().saturating_mul(3).saturating_add(1));
    let mut total: u64 = 0;
    let mut push = |body: &mut Vec<Bytes>, b: Bytes| {
        total = total.saturating_add(u64::try_from(b.len()).unwrap_or(u64::MAX));
        body.push(b);
    };
    for (i, r) in ranges.iter().enumerate() {
        let mut head = Vec::with_capacity(128);
        // The CRLF before a delimiter belongs to it (RFC 2046 §5.1.1), so the
        // previous part's trailing CRLF is emitted with this header.
        if i > 0 {
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"--");
        head.extend_from_slice(boundary.as_bytes());
        head.extend_from_slice(b"\r\n");
        if let Some(ct) = content_type {
            head.extend_from_slice(b"Content-Type: ");
            head.extend_from_slice(ct.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        // RFC 9110 §15.3.7.2: each part MUST carry Content-Range.
        head.extend_from_slice(b"Content-Range: ");
        head.extend_from_slice(content_range(*r, len).as_bytes());
        head.extend_from_slice(b"\r\n\r\n");
        push(&mut body, Bytes::from(head));
        for piece in slice_chunks(chunks, *r) {
            push(&mut body, piece);
        }
    }
    push(&mut body, Bytes::from(format!("\r\n--{boundary}--\r\n")));
    let ct = ascii_value(format!("multipart/byteranges; boundary={boundary}"));
    Some((ct, body, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn br(start: u64, end_inclusive: u64) -> ByteRange {
        ByteRange { start, end_inclusive }
    }

    fn concat(chunks: &[Bytes]) -> Vec<u8> {
        chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }

    #[test]
    fn slice_within_one_chunk_shares_the_buffer() {
        let chunk = Bytes::from_static(b"hello world");
        let out = slice_chunks(std::slice::from_ref(&chunk), br(6, 10));
        assert_eq!(out, vec![Bytes::from_static(b"world")]);
        // zero-copy: the slice points into the original allocation
        assert_eq!(out.first().map(|b| b.as_ptr()), Some(chunk[6..].as_ptr()));
    }

    #[test]
    fn slice_table() {
        let chunks =
            [Bytes::from_static(b"abc"), Bytes::new(), Bytes::from_static(b"defg"), Bytes::from_static(b"hij")];
        let cases: &[(u64, u64, &[&[u8]])] = &[
            (0, 0, &[b"a"]),
            (0, 2, &[b"abc"]),
            (2, 3, &[b"c", b"d"]),
            (1, 8, &[b"bc", b"defg", b"hi"]),
            (3, 6, &[b"defg"]),
            (9, 9, &[b"j"]),
            (9, 20, &[b"j"]), // clipped at the end of the data
            (10, 20, &[]),    // entirely past the data
            (5, 4, &[]),      // malformed range
        ];
        for (start, end, want) in cases {
            let got = slice_chunks(&chunks, br(*start, *end));
            let want: Vec<Bytes> = want.iter().map(|w| Bytes::copy_from_slice(w)).collect();
            assert_eq!(got, want, "range {start}-{end}");
        }
        assert!(slice_chunks(&[], br(0, 0)).is_empty());
    }

    #[test]
    fn multipart_is_byte_exact() {
        let chunks = [Bytes::from_static(b"0123456"), Bytes::from_static(b"789abcdef")];
        let ct = HeaderValue::from_static("text/plain");
        let ranges = [br(0, 1), br(5, 9), br(15, 15)];
        let (content_type, body, total) =
            multipart_byteranges(&chunks, &ranges, 16, Some(&ct), "SEP").expect("valid input");
        assert_eq!(content_type, "multipart/byteranges; boundary=SEP");
        let expected: &[u8] = b"--SEP\r\n\
Content-Type: text/plain\r\n\
Content-Range: bytes 0-1/16\r\n\
\r\n\
01\r\n\
--SEP\r\n\
Content-Type: text/plain\r\n\
Content-Range: bytes 5-9/16\r\n\
\r\n\
56789\r\n\
--SEP\r\n\
Content-Type: text/plain\r\n\
Content-Range: bytes 15-15/16\r\n\
\r\n\
f\r\n\
--SEP--\r\n";
        assert_eq!(concat(&body), expected);
        assert_eq!(total, u64::try_from(expected.len()).expect("small"));
    }

    #[test]
    fn multipart_without_content_type() {
        let chunks = [Bytes::from_static(b"abcdef")];
        let (_, body, total) = multipart_byteranges(&chunks, &[br(1, 1), br(4, 5)], 6, None, "b").expect("valid");
        let expected: &[u8] = b"--b\r\nContent-Range: bytes 1-1/6\r\n\r\nb\r\n\
--b\r\nContent-Range: bytes 4-5/6\r\n\r\nef\r\n--b--\r\n";
        assert_eq!(concat(&body), expected);
        assert_eq!(total, u64::try_from(expected.len()).expect("small"));
    }

    #[test]
    fn multipart_rejects_bad_input() {
        let chunks = [Bytes::from_static(b"abcdef")];
        let ok = [br(0, 1)];
        assert!(multipart_byteranges(&chunks, &ok, 6, None, "").is_none());
        assert!(multipart_byteranges(&chunks, &ok, 6, None, "a\r\nb").is_none());
        assert!(multipart_byteranges(&chunks, &ok, 6, None, "a b").is_none());
        assert!(multipart_byteranges(&chunks, &ok, 6, None, &"x".repeat(71)).is_none());
        assert!(multipart_byteranges(&chunks, &ok, 6, None, &"x".repeat(70)).is_some());
        assert!(multipart_byteranges(&chunks, &[], 6, None, "b").is_none());
        assert!(multipart_byteranges(&chunks, &[br(0, 6)], 6, None, "b").is_none());
        assert!(multipart_byteranges(&chunks, &[br(3, 2)], 6, None, "b").is_none());
        assert!(multipart_byteranges(&chunks, &ok, 7, None, "b").is_none());
    }

    proptest! {
        #[test]
        fn slice_equals_slicing_the_concatenation(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
            a in any::<prop::sample::Index>(),
            b in any::<prop::sample::Index>(),
        ) {
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
            points.push(0);
            points.push(data.len());
            points.sort_unstable();
            let whole = Bytes::from(data.clone());
            let chunks: Vec<Bytes> = points.windows(2).map(|w| whole.slice(w[0]..w[1])).collect();
            prop_assume!(!data.is_empty());
            let (x, y) = (a.index(data.len()), b.index(data.len()));
            let (lo, hi) = (x.min(y), x.max(y));
            let r = br(lo as u64, hi as u64);
            let got = slice_chunks(&chunks, r);
            prop_assert!(got.iter().all(|c| !c.is_empty()));
            prop_assert_eq!(concat(&got), data[lo..=hi].to_vec());
        }
    }
}
