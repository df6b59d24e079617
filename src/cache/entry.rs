//! A stored response: immutable once built; `Arc<Entry>` is the cache value.

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::policy::freshness::StoredMeta;

/// Fixed per-entry memory counted in the weight besides headers and body:
/// the entry and its `Arc`, the cache's slot and key, the header map's
/// table, allocator headers. Measured: a full 64 MiB cache of 43k
/// entries of 1 KiB held ~2.5 KB of memory per entry.
const ENTRY_OVERHEAD_BYTES: u64 = 640;

/// Memory per stored header field besides its name and value bytes (the
/// header map's bucket and index slot).
const HEADER_OVERHEAD_BYTES: usize = 112;

/// Bodies up to this size are joined into one buffer when stored, so a hit
/// writes one frame. Larger bodies keep their chunks, joined up to this size.
const JOIN_CHUNK_BYTES: usize = 256 * 1024;

/// Responses whose header values and body together are at most this size
/// are stored in one buffer.
const ONE_BUFFER_BYTES: usize = JOIN_CHUNK_BYTES;

/// The response head that a fill and its readers share.
#[derive(Debug)]
pub struct Head {
    /// Status code from the origin.
    pub status: StatusCode,
    /// Headers as stored: hop-by-hop and this cache's own headers removed.
    pub headers: HeaderMap,
    /// Freshness and reuse facts.
    pub meta: StoredMeta,
}

impl Clone for Head {
    fn clone(&self) -> Self {
        Head { status: self.status, headers: self.headers.clone(), meta: self.meta }
    }
}

impl Head {
    /// The `Content-Length` of the head, if valid.
    pub fn content_length(&self) -> Option<u64> {
        self.headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
    }
}

/// The `Vary` marker stored at a primary key when responses vary: the
/// fields that form the secondary key, and a generation that is part of
/// every variant's key (replacing the marker orphans the old variants).
#[derive(Debug)]
pub struct Variants {
    /// The request fields the responses vary on.
    pub fields: Vec<HeaderName>,
    /// Distinguishes variant keys of successive markers.
    pub generation: u64,
    /// When it was stored, in invalidation order.
    pub seq: u64,
}

impl Variants {
    /// Bytes this marker costs in the cache.
    pub fn weight(&self) -> u64 {
        64 + self.fields.iter().map(|f| f.as_str().len() as u64 + 16).sum::<u64>()
    }
}

/// A complete stored response.
#[derive(Debug)]
pub struct Entry {
    head: Head,
    body: Chunks,
    weight: u64,
    seq: u64,
    tags: Box<[Box<str>]>,
    /// Soft-purged: served stale while one refresh runs.
    soft_purged: bool,
}

impl Entry {
    /// Builds an entry from a head and the body chunks as received.
    /// Small chunks are joined (one copy at store time, none per hit) and
    /// `Content-Length` is set to the real length.
    /// `seq` orders the entry against invalidations (see `cache::purge`);
    /// `tags` are its purge tags (`Surrogate-Key` / `Cache-Tag`).
    pub fn new(mut head: Head, chunks: &[Bytes], seq: u64, tags: Box<[Box<str>]>) -> Self {
        let body_len: u64 = chunks.iter().map(|b| b.len() as u64).sum();
        head.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body_len));
        let values_len: usize = head.headers.values().map(HeaderValue::len).sum();
        let body = if values_len as u64 + body_len <= ONE_BUFFER_BYTES as u64 {
            // Small responses: the header values and the body in one buffer,
            // so a hit touches one allocation and one reference count.
            let (headers, body) = own_head(&head.headers, chunks);
            head.headers = headers;
            body.map_or(Chunks::Many(Box::new([])), Chunks::One)
        } else {
            head.headers = own_head(&head.headers, &[]).0;
            Chunks::from(join_chunks(chunks))
        };
        let header_bytes: u64 =
            head.headers.iter().map(|(k, v)| (k.as_str().len() + v.len() + HEADER_OVERHEAD_BYTES) as u64).sum();
        let tag_bytes: u64 = tags.iter().map(|t| t.len() as u64 + 16).sum();
        let weight = ENTRY_OVERHEAD_BYTES + header_bytes + body_len + tag_bytes;
        Entry { head, body, weight, seq, tags, soft_purged: false }
    }

    /// The same response, soft-purged (a soft invalidation covered it):
    /// stale from now on, whatever its freshness said. Shares the body.
    pub fn softened(&self) -> Self {
        Entry {
            head: self.head.clone(),
            body: self.body.clone(),
            weight: self.weight,
            seq: self.seq,
            tags: self.tags.clone(),
            soft_purged: true,
        }
    }

    /// Whether a soft invalidation covered it (see [`softened`](Self::softened)).
    pub fn is_soft_purged(&self) -> bool {
        self.soft_purged
    }

    /// When it was stored, in invalidation order.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Its purge tags.
    pub fn tags(&self) -> &[Box<str>] {
        &self.tags
    }

    /// The stored head.
    pub fn head(&self) -> &Head {
        &self.head
    }
    /// The body chunks.
    pub fn body(&self) -> &[Bytes] {
        self.body.as_slice()
    }
    /// Bytes this entry costs in the cache (headers + body + overhead).
    pub fn weight(&self) -> u64 {
        self.weight
    }
}

/// The header values, followed by the `body` chunks, copied into one buffer
/// of their own; the body comes back as one slice of it (`None` when
/// empty). Values parsed by hyper are slices of the connection's read
/// buffer: stored as they are, each entry would keep a whole read buffer
/// (often the response's body with it) alive for as long as it is cached.
fn own_head(headers: &HeaderMap, body: &[Bytes]) -> (HeaderMap, Option<Bytes>) {
    let values: usize = headers.values().map(HeaderValue::len).sum();
    let body_len: usize = body.iter().map(Bytes::len).sum();
    let mut buf = BytesMut::with_capacity(values + body_len);
    for value in headers.values() {
        buf.extend_from_slice(value.as_bytes());
    }
    for chunk in body {
        buf.extend_from_slice(chunk);
    }
    let mut buf = buf.freeze();
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let own = buf.split_to(value.len());
        // The bytes were a valid value a moment ago.
        let mut copy = HeaderValue::from_maybe_shared(own).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        out.append(name.clone(), copy);
    }
    (out, (!buf.is_empty()).then_some(buf))
}

/// An entry's body chunks: most bodies are one chunk, kept in the entry
/// itself rather than behind a `Vec` (one memory access less per hit).
#[derive(Debug, Clone)]
enum Chunks {
    One(Bytes),
    Many(Box<[Bytes]>),
}

impl Chunks {
    fn as_slice(&self) -> &[Bytes] {
        match self {
            Chunks::One(chunk) => std::slice::from_ref(chunk),
            Chunks::Many(chunks) => chunks,
        }
    }
}

impl From<Vec<Bytes>> for Chunks {
    fn from(mut chunks: Vec<Bytes>) -> Self {
        match chunks.len() {
            1 => Chunks::One(chunks.remove(0)),
            _ => Chunks::Many(chunks.into_boxed_slice()),
        }
    }
}

/// Copies runs of small chunks into exactly-sized buffers of up to
/// [`JOIN_CHUNK_BYTES`]; large chunks are kept as they are. Besides making
/// hits write few frames, this frees the (larger) read buffers that small
/// received chunks are slices of, so the entry's weight is what it holds.
fn join_chunks(chunks: &[Bytes]) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut run: Vec<&Bytes> = Vec::new();
    let mut run_len = 0;
    let flush = |run: &mut Vec<&Bytes>, run_len: &mut usize, out: &mut Vec<Bytes>| {
        if run.is_empty() {
            return;
        }
        let mut buf = BytesMut::with_capacity(*run_len);
        for c in run.drain(..) {
            buf.extend_from_slice(c);
        }
        out.push(buf.freeze());
        *run_len = 0;
    };
    for chunk in chunks.iter().filter(|c| !c.is_empty()) {
        if chunk.len() >= JOIN_CHUNK_BYTES {
            flush(&mut run, &mut run_len, &mut out);
            out.push(chunk.clone());
            continue;
        }
        if run_len + chunk.len() > JOIN_CHUNK_BYTES {
            flush(&mut run, &mut run_len, &mut out);
        }
        run_len += chunk.len();
        run.push(chunk);
    }
    flush(&mut run, &mut run_len, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stored_headers_do_not_keep_the_read_buffer_alive() {
        let buffer = Bytes::from(vec![b'x'; 64 * 1024]);
        let mut h = HeaderMap::new();
        h.insert(header::ETAG, HeaderValue::from_maybe_shared(buffer.slice(0..10)).unwrap());
        h.append("x-a", HeaderValue::from_maybe_shared(buffer.slice(10..20)).unwrap());
        h.append("x-a", HeaderValue::from_static("second"));
        let mut secret = HeaderValue::from_maybe_shared(buffer.slice(20..30)).unwrap();
        secret.set_sensitive(true);
        h.insert("x-secret", secret);
        let (owned, body) = own_head(&h, &[]);
        assert!(body.is_none());
        assert_eq!(owned, h);
        assert!(owned["x-secret"].is_sensitive());
        let range = buffer.as_ptr_range();
        for v in owned.values() {
            assert!(!range.contains(&v.as_bytes().as_ptr()), "a value still points into the read buffer");
        }
    }

    fn head_with(fields: &[(&'static str, &str)]) -> Head {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        Head { status: StatusCode::OK, headers, meta: meta() }
    }

    fn meta() -> StoredMeta {
        StoredMeta::plain(std::time::Duration::from_secs(60), std::time::SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn a_small_entry_is_one_buffer_and_one_chunk() {
        let head = head_with(&[("content-type", "text/plain"), ("etag", "\"v1\""), ("content-length", "999")]);
        let chunks = [Bytes::from_static(b"hello "), Bytes::from_static(b"world")];
        let entry = Entry::new(head, &chunks, 1, Box::new([]));
        assert_eq!(entry.body().len(), 1);
        assert_eq!(&entry.body()[0][..], b"hello world");
        assert_eq!(entry.head().headers[header::CONTENT_LENGTH], "11");
        assert_eq!(entry.head().content_length(), Some(11));
        assert_eq!(entry.head().headers[header::ETAG], "\"v1\"");
        // Every value and the body lie in one allocation, in order.
        let mut spans: Vec<std::ops::Range<*const u8>> =
            entry.head().headers.values().map(|v| v.as_bytes().as_ptr_range()).collect();
        spans.push(entry.body()[0].as_ptr_range());
        for pair in spans.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "not one contiguous buffer");
        }
    }

    #[test]
    fn a_large_body_keeps_its_own_chunks() {
        let big = Bytes::from(vec![7u8; ONE_BUFFER_BYTES + 1]);
        let entry = Entry::new(head_with(&[("content-type", "x/y")]), std::slice::from_ref(&big), 1, Box::new([]));
        assert_eq!(entry.body(), &[big][..]);
        assert_eq!(entry.head().content_length(), Some(ONE_BUFFER_BYTES as u64 + 1));
        let empty = Entry::new(head_with(&[]), &[], 1, Box::new([]));
        assert!(empty.body().is_empty());
        assert_eq!(empty.head().headers[header::CONTENT_LENGTH], "0");
    }

    proptest! {
        #[test]
        fn an_entry_keeps_every_body_byte_and_field(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 0..6),
            fields in proptest::collection::vec(("[a-c]", "[ -~]{0,40}"), 0..8),
        ) {
            let mut headers = HeaderMap::new();
            for (name, value) in &fields {
                headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
            }
            let mut want = headers.clone();
            let input: Vec<Bytes> = chunks.iter().cloned().map(Bytes::from).collect();
            let entry = Entry::new(Head { status: StatusCode::OK, headers, meta: meta() }, &input, 1, Box::new([]));
            let flat: Vec<u8> = entry.body().iter().flat_map(|b| b.iter().copied()).collect();
            prop_assert_eq!(flat, chunks.concat());
            prop_assert!(entry.body().iter().all(|c| !c.is_empty()));
            want.insert(header::CONTENT_LENGTH, HeaderValue::from(chunks.concat().len()));
            prop_assert_eq!(&entry.head().headers, &want);
        }

        #[test]
        fn joining_keeps_every_byte_in_order(chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..2000), 0..40)) {
            let input: Vec<Bytes> = chunks.iter().cloned().map(Bytes::from).collect();
            let joined = join_chunks(&input);
            let flat: Vec<u8> = joined.iter().flat_map(|b| b.iter().copied()).collect();
            let want: Vec<u8> = chunks.concat();
            prop_assert_eq!(flat, want);
        }
    }
}
