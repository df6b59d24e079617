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
    body: Vec<Bytes>,
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
        head.headers = own_headers(&head.headers);
        let body = join_chunks(chunks);
        let body_len: u64 = body.iter().map(|b| b.len() as u64).sum();
        head.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body_len));
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
        &self.body
    }
    /// Bytes this entry costs in the cache (headers + body + overhead).
    pub fn weight(&self) -> u64 {
        self.weight
    }
}

/// The header values copied into one buffer of their own. Values parsed by
/// hyper are slices of the connection's read buffer: stored as they are,
/// each entry would keep a whole read buffer (often the response's body
/// with it) alive for as long as it is cached.
fn own_headers(headers: &HeaderMap) -> HeaderMap {
    let total: usize = headers.values().map(HeaderValue::len).sum();
    let mut buf = BytesMut::with_capacity(total);
    for value in headers.values() {
        buf.extend_from_slice(value.as_bytes());
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
    out
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
        let owned = own_headers(&h);
        assert_eq!(owned, h);
        assert!(owned["x-secret"].is_sensitive());
        let range = buffer.as_ptr_range();
        for v in owned.values() {
            assert!(!range.contains(&v.as_bytes().as_ptr()), "a value still points into the read buffer");
        }
    }

    proptest! {
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
