//! One file per stored response (nginx's layout), named by a 128-bit hash
//! of its key under 256 directories. The body comes first, at offset 0 and
//! contiguous, so a hit can later be sent with `sendfile`; what describes
//! it follows, since the checksums are known only at the end of a write:
//!
//! ```text
//! body        body_len bytes
//! meta        the value format L2 uses (`cache::codec`): key, status,
//!             headers, freshness facts, tags; checked by its own xxh3
//! block sums  nblocks x u64: xxh3_64 of each block_bytes slice of the body
//! footer      "TCDF" version:u32 body_len:u64 meta_len:u32 block_bytes:u32
//!             nblocks:u32 xxh3_64(meta + block sums + footer so far):u64
//! ```
//!
//! A file is used only if its length is exactly what the footer adds up
//! to, both checksums hold and the meta names the key asked for; each body
//! block is checked before its bytes are served. Big-endian throughout.
//! A file of another format version reads as corrupt (and is deleted): the
//! layout's directory is versioned too (`v1/`), so an older tree is never
//! read at all.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};
use xxhash_rust::xxh3::{Xxh3, xxh3_64, xxh3_128};

fn xxh3_64_stream() -> Xxh3 {
    Xxh3::new()
}

/// Bytes per checksummed body block.
pub(crate) const BLOCK_BYTES: u32 = 1024 * 1024;

const MAGIC: &[u8; 4] = b"TCDF";
/// This layout's version (also the directory name, `v1`).
pub(crate) const VERSION: u32 = 1;
pub(crate) const FOOTER_BYTES: u64 = 36;

/// Why a file was not used.
#[derive(Debug)]
pub(crate) enum Bad {
    /// No such file.
    Absent,
    /// The file is there but is not a whole, matching entry.
    Corrupt(&'static str),
    /// Reading failed.
    Io(std::io::Error),
}

impl From<std::io::Error> for Bad {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::NotFound { Bad::Absent } else { Bad::Io(e) }
    }
}

/// The hash a key's file is named by.
pub(crate) fn key_hash(key: &str) -> u128 {
    xxh3_128(key.as_bytes())
}

/// Where the file for `hash` lives under `objects`.
pub(crate) fn path_of(objects: &Path, hash: u128) -> PathBuf {
    let name = format!("{hash:032x}");
    objects.join(&name[..2]).join(name)
}

/// The hash a file's name says it holds, if it is one of ours.
pub(crate) fn hash_of_name(name: &str) -> Option<u128> {
    (name.len() == 32).then(|| u128::from_str_radix(name, 16).ok()).flatten()
}

/// The checksum of one body block.
pub(crate) fn block_sum(data: &[u8]) -> u64 {
    xxh3_64(data)
}

/// What follows the body: meta, block sums, footer.
pub(crate) fn trailer(body_len: u64, meta: &[u8], sums: &[u64]) -> Option<Bytes> {
    let meta_len = u32::try_from(meta.len()).ok()?;
    let nblocks = u32::try_from(sums.len()).ok()?;
    let mut out = BytesMut::with_capacity(meta.len() + sums.len() * 8 + FOOTER_BYTES as usize);
    out.put_slice(meta);
    for s in sums {
        out.put_u64(*s);
    }
    out.put_slice(MAGIC);
    out.put_u32(VERSION);
    out.put_u64(body_len);
    out.put_u32(meta_len);
    out.put_u32(BLOCK_BYTES);
    out.put_u32(nblocks);
    let sum = xxh3_64(&out);
    out.put_u64(sum);
    Some(out.freeze())
}

/// An opened file whose footer, length and meta checksum hold.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) file: File,
    pub(crate) body_len: u64,
    pub(crate) block_bytes: u32,
    pub(crate) sums: Vec<u64>,
    /// The meta value (check it with `codec::decode_meta` or `peek_key`).
    pub(crate) meta: Bytes,
    /// The file's length.
    pub(crate) file_len: u64,
}

/// Opens the file at `path` and checks its length and trailer. A symlink,
/// a FIFO or anything but a regular file is corrupt: never followed, never
/// waited on.
pub(crate) fn open(path: &Path) -> Result<Opened, Bad> {
    use std::os::unix::fs::OpenOptionsExt;
    let file =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path).map_err(
            |e| if e.raw_os_error() == Some(libc::ELOOP) { Bad::Corrupt("a symlink") } else { Bad::from(e) },
        )?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(Bad::Corrupt("not a regular file"));
    }
    let file_len = meta.len();
    if file_len < FOOTER_BYTES {
        return Err(Bad::Corrupt("shorter than a footer"));
    }
    let mut footer = [0u8; FOOTER_BYTES as usize];
    file.read_exact_at(&mut footer, file_len - FOOTER_BYTES)?;
    if &footer[..4] != MAGIC {
        return Err(Bad::Corrupt("no footer"));
    }
    let be32 = |at: usize| u32::from_be_bytes(footer[at..at + 4].try_into().unwrap_or_default());
    let be64 = |at: usize| u64::from_be_bytes(footer[at..at + 8].try_into().unwrap_or_default());
    if be32(4) != VERSION {
        return Err(Bad::Corrupt("another format version"));
    }
    let body_len = be64(8);
    let meta_len = u64::from(be32(16));
    let block_bytes = be32(20);
    let nblocks = u64::from(be32(24));
    let want_sum = be64(28);
    if block_bytes == 0 || nblocks != body_len.div_ceil(u64::from(block_bytes)) {
        return Err(Bad::Corrupt("block count does not match the length"));
    }
    let total = body_len.checked_add(meta_len).and_then(|n| n.checked_add(nblocks * 8 + FOOTER_BYTES));
    if total != Some(file_len) {
        return Err(Bad::Corrupt("length does not match the footer"));
    }
    let mut rest = vec![0u8; (meta_len + nblocks * 8) as usize];
    file.read_exact_at(&mut rest, body_len)?;
    let mut covered = xxh3_64_stream();
    covered.update(&rest);
    covered.update(&footer[..28]);
    if covered.digest() != want_sum {
        return Err(Bad::Corrupt("footer checksum mismatch"));
    }
    let sums = rest[meta_len as usize..]
        .chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
        .collect();
    rest.truncate(meta_len as usize);
    Ok(Opened { file, body_len, block_bytes, sums, meta: Bytes::from(rest), file_len })
}

/// Reads body block `index` and checks it.
pub(crate) fn read_block(
    file: &File,
    body_len: u64,
    block_bytes: u32,
    sums: &[u64],
    index: usize,
) -> Result<Bytes, Bad> {
    let start = index as u64 * u64::from(block_bytes);
    let want = *sums.get(index).ok_or(Bad::Corrupt("block out of range"))?;
    let len = (body_len.saturating_sub(start)).min(u64::from(block_bytes)) as usize;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, start)?;
    if block_sum(&buf) != want {
        return Err(Bad::Corrupt("body block checksum mismatch"));
    }
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(path: &Path, body: &[u8], meta: &[u8]) {
        let sums: Vec<u64> = body.chunks(BLOCK_BYTES as usize).map(block_sum).collect();
        let mut f = File::create(path).unwrap();
        f.write_all(body).unwrap();
        f.write_all(&trailer(body.len() as u64, meta, &sums).unwrap()).unwrap();
    }

    #[test]
    fn a_written_file_reads_back_and_any_flipped_or_cut_byte_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let body: Vec<u8> = (0..(BLOCK_BYTES as usize + 1000)).map(|i| (i % 251) as u8).collect();
        write(&path, &body, b"meta bytes");
        let o = open(&path).unwrap();
        assert_eq!(o.body_len, body.len() as u64);
        assert_eq!(&o.meta[..], b"meta bytes");
        let b0 = read_block(&o.file, o.body_len, o.block_bytes, &o.sums, 0).unwrap();
        let b1 = read_block(&o.file, o.body_len, o.block_bytes, &o.sums, 1).unwrap();
        assert_eq!([&b0[..], &b1[..]].concat(), body);

        let whole = std::fs::read(&path).unwrap();
        // A flipped byte in the body fails its block; in the trailer, the open.
        for at in [10usize, body.len() + 2, whole.len() - 20, whole.len() - 3] {
            let mut bad = whole.clone();
            bad[at] ^= 0x40;
            std::fs::write(&path, &bad).unwrap();
            let failed = match open(&path) {
                Err(_) => true,
                Ok(o) => (0..o.sums.len()).any(|i| read_block(&o.file, o.body_len, o.block_bytes, &o.sums, i).is_err()),
            };
            assert!(failed, "a flipped byte at {at} went unnoticed");
        }
        // Cut anywhere (a crash mid-write): never opens.
        for len in [0, 10, body.len(), whole.len() - 1] {
            std::fs::write(&path, &whole[..len]).unwrap();
            assert!(open(&path).is_err(), "a file cut to {len} bytes opened");
        }
    }
}
