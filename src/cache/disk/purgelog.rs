//! Invalidations the disk must remember across a restart: each one is
//! appended (and synced) to `purges.log` before the files it covers are
//! deleted, and the start-up scan deletes every file written before a
//! purge that covers it. So a crash between a purge and its deletions, or a
//! file the running index never knew of, cannot bring a purged entry back.
//!
//! ```text
//! record = len:u32 payload xxh3_64(payload):u64
//! payload = at:u64 (ns since the epoch) kind:u8 (0 all, 1 paths, 2 tags)
//!           host: (u32 len, bytes; u32::MAX = any host) count:u32 (u32 len, bytes) x count
//! ```
//!
//! A torn last record (a crash mid-append) fails its checksum and ends the
//! read. Key-predicate invalidations (a reload's) are not written: they
//! are applied to the index, whose deletions are then queued.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use bytes::{Buf, BufMut, BytesMut};
use xxhash_rust::xxh3::xxh3_64;

use crate::cache::purge::Scope;

/// One invalidation, with when it was issued.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) at: u64,
    pub(crate) scope: Scope,
}

impl Record {
    /// Whether it covers a file written at `written` with this key and tags.
    pub(crate) fn covers(&self, written: u64, key: &str, tags: &[Box<str>]) -> bool {
        written < self.at && self.scope.covers(key, tags)
    }
}

/// The record's bytes, or `None` for a scope that is not persisted.
pub(crate) fn encode(r: &Record) -> Option<Vec<u8>> {
    let mut p = BytesMut::new();
    p.put_u64(r.at);
    let (kind, host, items): (u8, Option<&str>, &[String]) = match &r.scope {
        Scope::All => (0, None, &[]),
        Scope::Paths { host, paths } => (1, host.as_deref(), paths),
        Scope::Tags(tags) => (2, None, tags),
        Scope::Keys(_) => return None,
    };
    p.put_u8(kind);
    match host {
        Some(h) => {
            p.put_u32(u32::try_from(h.len()).ok()?);
            p.put_slice(h.as_bytes());
        }
        None => p.put_u32(u32::MAX),
    }
    p.put_u32(u32::try_from(items.len()).ok()?);
    for s in items {
        p.put_u32(u32::try_from(s.len()).ok()?);
        p.put_slice(s.as_bytes());
    }
    let mut out = Vec::with_capacity(p.len() + 12);
    out.extend_from_slice(&u32::try_from(p.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&p);
    out.extend_from_slice(&xxh3_64(&p).to_be_bytes());
    Some(out)
}

fn decode_payload(mut p: &[u8]) -> Option<Record> {
    fn string(p: &mut &[u8]) -> Option<String> {
        if p.remaining() < 4 {
            return None;
        }
        let len = p.get_u32() as usize;
        if p.remaining() < len {
            return None;
        }
        let s = String::from_utf8(p[..len].to_vec()).ok()?;
        p.advance(len);
        Some(s)
    }
    if p.remaining() < 13 {
        return None;
    }
    let at = p.get_u64();
    let kind = p.get_u8();
    let host = if p[..4] == u32::MAX.to_be_bytes() {
        p.advance(4);
        None
    } else {
        Some(string(&mut p)?)
    };
    if p.remaining() < 4 {
        return None;
    }
    let n = p.get_u32();
    let mut items = Vec::new();
    for _ in 0..n {
        items.push(string(&mut p)?);
    }
    let scope = match kind {
        0 => Scope::All,
        1 => Scope::Paths { host, paths: items },
        2 => Scope::Tags(items),
        _ => return None,
    };
    Some(Record { at, scope })
}

/// Every whole record of the log at `path` (none if it does not exist).
pub(crate) fn read(path: &Path) -> std::io::Result<Vec<Record>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(record) = rest.get(4..4 + len + 8) else { break };
        let (payload, sum) = record.split_at(len);
        if xxh3_64(payload).to_be_bytes() != sum {
            break;
        }
        if let Some(r) = decode_payload(payload) {
            out.push(r);
        }
        rest = &rest[4 + len + 8..];
    }
    Ok(out)
}

/// Appends one record and syncs it.
pub(crate) fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(bytes)?;
    f.sync_data()
}

/// Replaces the log with these records (after a start-up scan applied the
/// older ones to every file).
pub(crate) fn rewrite(path: &Path, records: &[Record]) -> std::io::Result<()> {
    let tmp = path.with_extension("log.new");
    let mut f = File::create(&tmp)?;
    for r in records {
        if let Some(bytes) = encode(r) {
            f.write_all(&bytes)?;
        }
    }
    f.sync_data()?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("purges.log");
        let records = [
            Record { at: 1, scope: Scope::All },
            Record { at: 2, scope: Scope::Paths { host: Some("a.example".into()), paths: vec!["/x*".into()] } },
            Record { at: 3, scope: Scope::Paths { host: None, paths: vec!["/y".into(), "/z".into()] } },
            Record { at: 4, scope: Scope::Tags(vec!["t1".into()]) },
        ];
        for r in &records {
            append(&path, &encode(r).unwrap()).unwrap();
        }
        let back = read(&path).unwrap();
        assert_eq!(back.len(), 4);
        assert!(back[1].covers(1, "a.example\u{1f}/x/1", &[]));
        assert!(!back[1].covers(2, "a.example\u{1f}/x/1", &[]), "written at the purge: not covered");
        assert!(!back[1].covers(1, "b.example\u{1f}/x/1", &[]));
        assert!(back[3].covers(0, "a\u{1f}/b", &["t1".into()]));
        // A crash mid-append leaves a partial record: the others still read.
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 5]).unwrap();
        assert_eq!(read(&path).unwrap().len(), 3);
    }
}
