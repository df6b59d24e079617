//! The L2 value format: compact, versioned, self-checking.
//!
//! An entry is one *meta* value (head, freshness facts, tags, and the body
//! when it is small) plus, for bodies over the chunk size, one value per
//! body chunk, so no single Redis value is huge. All integers big-endian.
//!
//! ```text
//! meta  = "TCDN" version:u8 kind:u8 key:(u32 len, bytes) payload xxh3_64(everything before):u64
//! kind 0 (entry) payload =
//!         write_id:u64 stamp:u64 status:u16
//!         response_time initial_age lifetime swr sie siu   (each secs:u64 nanos:u32; times since UNIX_EPOCH)
//!         flags:u8 (1 = must-revalidate, 2 = no-cache)
//!         headers:u32 count, each (name:u16 len, bytes) (value:u32 len, bytes)
//!         tags:u16 count, each (u16 len, bytes)
//!         body_len:u64 chunks:u32
//!         chunks = 0: the body bytes inline; else chunks x len:u32
//! kind 1 (the URI's responses vary) payload = fields:u16 count, each (u16 len, bytes)
//! chunk = "TCDC" write_id:u64 index:u32 data xxh3_64(everything before):u64
//! ```
//!
//! A value that is short, has another magic or version, fails its checksum,
//! names another key, or whose chunks belong to another write (`write_id`)
//! or have other lengths is *corrupt*: the reader treats it as a miss.

use std::time::{Duration, SystemTime};

use bytes::{BufMut, Bytes, BytesMut};
use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use xxhash_rust::xxh3::xxh3_64;

use crate::cache::entry::Head;
use crate::policy::freshness::{AgeClock, StoredMeta};

const META_MAGIC: &[u8; 4] = b"TCDN";
const CHUNK_MAGIC: &[u8; 4] = b"TCDC";
const VERSION: u8 = 1;
const KIND_ENTRY: u8 = 0;
const KIND_VARIANTS: u8 = 1;

/// Why a value was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Corrupt(pub(crate) &'static str);

/// A complete response as written to (and read back from) L2.
#[derive(Debug, Clone)]
pub(crate) struct L2Entry {
    /// Random per write: ties the chunks to their meta value.
    pub(crate) write_id: u64,
    /// The fleet purge generation the writer knew when its fill began.
    pub(crate) stamp: u64,
    pub(crate) head: Head,
    pub(crate) tags: Box<[Box<str>]>,
    pub(crate) body: Vec<Bytes>,
}

/// A decoded meta value.
#[derive(Debug)]
pub(crate) enum Meta {
    /// A response; `chunk_lens` is empty when the body was inline.
    Entry { entry: Box<L2Entry>, chunk_lens: Vec<u32> },
    /// Responses for the URI vary on these request fields.
    Variants(Vec<HeaderName>),
}

/// Encodes an entry: the meta value and the chunk values (none when the
/// body is at most `chunk_bytes`). `None` if a time predates 1970.
pub(crate) fn encode_entry(key: &str, e: &L2Entry, chunk_bytes: usize) -> Option<(Bytes, Vec<Bytes>)> {
    let body_len: usize = e.body.iter().map(Bytes::len).sum();
    let mut out = BytesMut::with_capacity(256 + body_len.min(chunk_bytes));
    start(&mut out, KIND_ENTRY, key);
    out.put_u64(e.write_id);
    out.put_u64(e.stamp);
    out.put_u16(e.head.status.as_u16());
    let m = &e.head.meta;
    put_duration(&mut out, m.clock.response_time.duration_since(SystemTime::UNIX_EPOCH).ok()?);
    for d in [m.clock.initial_age, m.lifetime, m.stale_while_revalidate, m.stale_if_error, m.stale_if_unreachable] {
        put_duration(&mut out, d);
    }
    out.put_u8(u8::from(m.must_revalidate) | (u8::from(m.no_cache) << 1) | (u8::from(m.shared) << 2));
    out.put_u32(u32::try_from(e.head.headers.len()).ok()?);
    for (name, value) in &e.head.headers {
        out.put_u16(u16::try_from(name.as_str().len()).ok()?);
        out.put_slice(name.as_str().as_bytes());
        out.put_u32(u32::try_from(value.len()).ok()?);
        out.put_slice(value.as_bytes());
    }
    out.put_u16(u16::try_from(e.tags.len()).ok()?);
    for tag in &e.tags {
        out.put_u16(u16::try_from(tag.len()).ok()?);
        out.put_slice(tag.as_bytes());
    }
    out.put_u64(body_len as u64);
    let mut chunks = Vec::new();
    if body_len <= chunk_bytes {
        out.put_u32(0);
        for c in &e.body {
            out.put_slice(c);
        }
    } else {
        let flat: Vec<u8> = e.body.iter().flat_map(|c| c.iter().copied()).collect();
        let pieces: Vec<&[u8]> = flat.chunks(chunk_bytes.max(1)).collect();
        out.put_u32(u32::try_from(pieces.len()).ok()?);
        for (i, piece) in pieces.iter().enumerate() {
            out.put_u32(u32::try_from(piece.len()).ok()?);
            chunks.push(encode_chunk(e.write_id, u32::try_from(i).ok()?, piece));
        }
    }
    Some((finish(out), chunks))
}

/// Encodes the marker of a URI whose responses vary.
pub(crate) fn encode_variants(key: &str, fields: &[HeaderName]) -> Bytes {
    let mut out = BytesMut::with_capacity(64);
    start(&mut out, KIND_VARIANTS, key);
    out.put_u16(u16::try_from(fields.len()).unwrap_or(u16::MAX));
    for f in fields.iter().take(usize::from(u16::MAX)) {
        put_str16(&mut out, f.as_str());
    }
    finish(out)
}

fn encode_chunk(write_id: u64, index: u32, data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 24);
    out.put_slice(CHUNK_MAGIC);
    out.put_u64(write_id);
    out.put_u32(index);
    out.put_slice(data);
    finish(out)
}

fn start(out: &mut BytesMut, kind: u8, key: &str) {
    out.put_slice(META_MAGIC);
    out.put_u8(VERSION);
    out.put_u8(kind);
    out.put_u32(u32::try_from(key.len()).unwrap_or(u32::MAX));
    out.put_slice(key.as_bytes());
}

fn finish(mut out: BytesMut) -> Bytes {
    let sum = xxh3_64(&out);
    out.put_u64(sum);
    out.freeze()
}

fn put_duration(out: &mut BytesMut, d: Duration) {
    out.put_u64(d.as_secs());
    out.put_u32(d.subsec_nanos());
}

fn put_str16(out: &mut BytesMut, s: &str) {
    let len = s.len().min(usize::from(u16::MAX));
    out.put_u16(len as u16);
    out.put_slice(&s.as_bytes()[..len]);
}

/// Checks the trailer and returns the bytes it covers.
fn verified<'a>(value: &'a [u8], magic: &[u8; 4]) -> Result<&'a [u8], Corrupt> {
    if value.len() < magic.len() + 8 || &value[..4] != magic {
        return Err(Corrupt("bad magic or too short"));
    }
    let (body, sum) = value.split_at(value.len() - 8);
    let want = u64::from_be_bytes(sum.try_into().map_err(|_| Corrupt("short trailer"))?);
    if xxh3_64(body) != want {
        return Err(Corrupt("checksum mismatch"));
    }
    Ok(&body[4..])
}

/// The key a meta value names, after checking its trailer (the disk tier
/// rebuilds its index from files whose key it does not know yet).
#[cfg(feature = "disk")]
pub(crate) fn peek_key(value: &[u8]) -> Result<String, Corrupt> {
    let body = verified(value, META_MAGIC)?;
    let mut r = Reader(body);
    if r.u8()? != VERSION {
        return Err(Corrupt("unknown version"));
    }
    let _kind = r.u8()?;
    let len = r.u32()? as usize;
    String::from_utf8(r.take(len)?.to_vec()).map_err(|_| Corrupt("key is not UTF-8"))
}

/// Decodes a meta value stored under `key`.
pub(crate) fn decode_meta(key: &str, value: &Bytes) -> Result<Meta, Corrupt> {
    let body = verified(value, META_MAGIC)?;
    let mut r = Reader(body);
    if r.u8()? != VERSION {
        return Err(Corrupt("unknown version"));
    }
    let kind = r.u8()?;
    let len = r.u32()? as usize;
    if r.take(len)? != key.as_bytes() {
        return Err(Corrupt("value belongs to another key"));
    }
    let meta = match kind {
        KIND_VARIANTS => {
            let n = r.u16()?;
            let mut fields = Vec::with_capacity(usize::from(n));
            for _ in 0..n {
                let len = usize::from(r.u16()?);
                fields.push(HeaderName::from_bytes(r.take(len)?).map_err(|_| Corrupt("bad field name"))?);
            }
            Meta::Variants(fields)
        }
        KIND_ENTRY => entry(&mut r, value)?,
        _ => return Err(Corrupt("unknown kind")),
    };
    if !r.0.is_empty() {
        return Err(Corrupt("trailing bytes"));
    }
    Ok(meta)
}

fn entry(r: &mut Reader<'_>, whole: &Bytes) -> Result<Meta, Corrupt> {
    let write_id = r.u64()?;
    let stamp = r.u64()?;
    let status = StatusCode::from_u16(r.u16()?).map_err(|_| Corrupt("bad status"))?;
    let response_time = SystemTime::UNIX_EPOCH.checked_add(r.duration()?).ok_or(Corrupt("bad response time"))?;
    let initial_age = r.duration()?;
    let lifetime = r.duration()?;
    let stale_while_revalidate = r.duration()?;
    let stale_if_error = r.duration()?;
    let stale_if_unreachable = r.duration()?;
    let flags = r.u8()?;
    let meta = StoredMeta {
        clock: AgeClock { initial_age, response_time },
        lifetime,
        stale_while_revalidate,
        stale_if_error,
        stale_if_unreachable,
        must_revalidate: flags & 1 != 0,
        no_cache: flags & 2 != 0,
        // Written as 0 by versions before the flag existed: not shared.
        shared: flags & 4 != 0,
    };
    let n = r.u32()?;
    let mut headers = HeaderMap::new();
    for _ in 0..n {
        let len = usize::from(r.u16()?);
        let name = HeaderName::from_bytes(r.take(len)?).map_err(|_| Corrupt("bad header name"))?;
        let len = r.u32()? as usize;
        let value = HeaderValue::from_bytes(r.take(len)?).map_err(|_| Corrupt("bad header value"))?;
        headers.append(name, value);
    }
    let n = r.u16()?;
    let mut tags = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let len = usize::from(r.u16()?);
        let tag = std::str::from_utf8(r.take(len)?).map_err(|_| Corrupt("bad tag"))?;
        tags.push(Box::from(tag));
    }
    let body_len = r.u64()?;
    let chunks = r.u32()?;
    let mut body = Vec::new();
    let mut chunk_lens = Vec::new();
    if chunks == 0 {
        let len = usize::try_from(body_len).map_err(|_| Corrupt("body too long"))?;
        let start = whole.len() - 8 - r.0.len();
        r.take(len)?;
        if len > 0 {
            body.push(whole.slice(start..start + len));
        }
    } else {
        let mut total = 0u64;
        for _ in 0..chunks {
            let len = r.u32()?;
            total += u64::from(len);
            chunk_lens.push(len);
        }
        if total != body_len {
            return Err(Corrupt("chunk lengths do not add up"));
        }
    }
    let head = Head { status, headers, meta };
    let entry = L2Entry { write_id, stamp, head, tags: tags.into_boxed_slice(), body };
    Ok(Meta::Entry { entry: Box::new(entry), chunk_lens })
}

/// Checks chunk `index` of the write `write_id`, of length `len`, and
/// returns its data (a slice of `value`, no copy).
pub(crate) fn decode_chunk(value: &Bytes, write_id: u64, index: u32, len: u32) -> Result<Bytes, Corrupt> {
    let body = verified(value, CHUNK_MAGIC)?;
    let mut r = Reader(body);
    if r.u64()? != write_id || r.u32()? != index {
        return Err(Corrupt("chunk of another write"));
    }
    if r.0.len() != len as usize {
        return Err(Corrupt("chunk length mismatch"));
    }
    let start = 4 + 8 + 4;
    Ok(value.slice(start..start + len as usize))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Corrupt> {
        if self.0.len() < n {
            return Err(Corrupt("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Corrupt> {
        self.take(N)?.try_into().map_err(|_| Corrupt("truncated"))
    }
    fn u8(&mut self) -> Result<u8, Corrupt> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, Corrupt> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, Corrupt> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, Corrupt> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn duration(&mut self) -> Result<Duration, Corrupt> {
        let secs = self.u64()?;
        let nanos = self.u32()?;
        if nanos >= 1_000_000_000 {
            return Err(Corrupt("bad duration"));
        }
        Ok(Duration::new(secs, nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(body: Vec<Bytes>) -> L2Entry {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.append("x-many", HeaderValue::from_static("a"));
        headers.append("x-many", HeaderValue::from_static("b"));
        let meta = StoredMeta {
            clock: AgeClock {
                initial_age: Duration::from_millis(1500),
                response_time: SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123),
            },
            lifetime: Duration::from_secs(60),
            stale_while_revalidate: Duration::from_secs(5),
            stale_if_error: Duration::ZERO,
            stale_if_unreachable: Duration::from_secs(86_400),
            must_revalidate: false,
            no_cache: true,
            shared: true,
        };
        L2Entry {
            write_id: 42,
            stamp: 7,
            head: Head { status: StatusCode::OK, headers, meta },
            tags: vec![Box::from("t1"), Box::from("product-9")].into_boxed_slice(),
            body,
        }
    }

    fn roundtrip(e: &L2Entry, chunk_bytes: usize) -> L2Entry {
        let (meta, chunks) = encode_entry("k", e, chunk_bytes).unwrap();
        let Meta::Entry { mut entry, chunk_lens } = decode_meta("k", &meta).unwrap() else { panic!("not an entry") };
        assert_eq!(chunk_lens.len(), chunks.len());
        for (i, (c, len)) in chunks.iter().zip(&chunk_lens).enumerate() {
            entry.body.push(decode_chunk(c, entry.write_id, i as u32, *len).unwrap());
        }
        *entry
    }

    #[test]
    fn entries_survive_the_round_trip_inline_and_chunked() {
        let e = sample(vec![Bytes::from_static(b"hello "), Bytes::from_static(b"world")]);
        for chunk_bytes in [1 << 20, 4, 1] {
            let back = roundtrip(&e, chunk_bytes);
            assert_eq!(back.head.meta, e.head.meta);
            assert_eq!(back.head.headers, e.head.headers);
            assert_eq!(back.tags, e.tags);
            assert_eq!((back.write_id, back.stamp), (42, 7));
            assert_eq!(back.body.concat(), b"hello world");
        }
    }

    #[test]
    fn truncated_flipped_or_foreign_values_are_corrupt() {
        let e = sample(vec![Bytes::from_static(b"0123456789")]);
        let (meta, chunks) = encode_entry("k", &e, 4).unwrap();
        assert!(decode_meta("k", &meta.slice(..meta.len() - 1)).is_err());
        let mut flipped = meta.to_vec();
        flipped[20] ^= 1;
        assert!(decode_meta("k", &Bytes::from(flipped)).is_err());
        assert_eq!(decode_meta("other", &meta).unwrap_err(), Corrupt("value belongs to another key"));
        assert!(decode_chunk(&chunks[0], 43, 0, 4).is_err(), "another write");
        assert!(decode_chunk(&chunks[0], 42, 1, 4).is_err(), "another index");
        assert!(decode_chunk(&chunks[0], 42, 0, 3).is_err(), "another length");
        assert!(decode_chunk(&chunks[0].slice(..10), 42, 0, 4).is_err());
        assert!(decode_meta("k", &Bytes::from_static(b"garbage")).is_err());
    }

    #[test]
    fn variant_markers_round_trip() {
        let fields = vec![HeaderName::from_static("accept-encoding"), HeaderName::from_static("accept-language")];
        let v = encode_variants("k", &fields);
        match decode_meta("k", &v).unwrap() {
            Meta::Variants(f) => assert_eq!(f, fields),
            Meta::Entry { .. } => panic!("marker decoded as entry"),
        }
    }

    proptest! {
        #[test]
        fn any_body_and_chunk_size_gives_identical_bytes(
            parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
            chunk_bytes in 1usize..700,
        ) {
            let body: Vec<Bytes> = parts.iter().cloned().map(Bytes::from).collect();
            let back = roundtrip(&sample(body), chunk_bytes);
            prop_assert_eq!(back.body.concat(), parts.concat());
        }
    }
}
