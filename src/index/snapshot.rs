//! The index saved to a file, so that a process can load a large archive's
//! hashes in one sequential read instead of stepping through one database row
//! per hash (at a million pictures: minutes from SQLite or PostgreSQL, against
//! a fraction of a second from here; README "A large archive").
//!
//! A snapshot is a cache: the archive stays the truth. It says which archive
//! state it was taken from ([`SnapshotOf`], checked by the caller against the
//! archive) and which hasher versions made its hashes (checked here against
//! this build's stamps); anything that does not fit is refused and the caller
//! loads from the archive as before. Pictures recorded after the snapshot are
//! read from the archive by the usual following (`Archive::hashes_since`).
//!
//! Layout, little-endian: the magic `RTIDX\0\0\x01`; the length of a JSON
//! header (at most [`MAX_HEADER`]) and the header (format, the archive state,
//! the stamps, the region names and each kind's entry count); then per kind, in
//! the header's order, one record per entry: the hash words, the image id
//! (`i64`) and the region number (`u16`); last a CRC-32 of everything between
//! the magic and it. The file's length must be exactly what the header
//! announces before anything is allocated, and region numbers must name a
//! listed region, so a truncated, damaged or foreign file is an error, never a
//! wrong index or an allocation the file does not justify.
//!
//! Written to a temporary file in the same directory and renamed into place:
//! readers see the old snapshot or the new one, and two writers leave one of
//! their two complete files.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};

use rayon::prelude::*;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{MemoryIndex, Shelf};
use crate::hash::HashKind;

const MAGIC: &[u8; 8] = b"RTIDX\0\0\x01";
const FORMAT: &str = "retrace.index/1";
/// Largest header accepted: region names and counts are a few hundred bytes.
pub const MAX_HEADER: u64 = 1 << 20;
/// Bytes handed to the file (and the checksum) at once.
const CHUNK: usize = 1 << 20;

/// Which state of which archive a snapshot holds; opaque to the index, written
/// and compared by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotOf {
    /// The highest image id whose hashes are in the snapshot.
    pub last_id: i64,
    /// Images in the archive up to `last_id`.
    pub images: u64,
    /// Content SHA-256 of image `last_id`: the same id in another archive (or
    /// a rebuilt one) holds another picture.
    pub last_sha256: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    of: SnapshotOf,
    /// Hasher version of each kind, as `HashKind::stamp`.
    stamps: BTreeMap<String, String>,
    regions: Vec<String>,
    kinds: Vec<KindCount>,
}

#[derive(Debug, Serialize, Deserialize)]
struct KindCount {
    kind: String,
    count: u64,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn record_len(kind: HashKind) -> u64 {
    u64::from(kind.bits() / 8) + 8 + 2
}

/// Writes through a buffer, keeping the checksum of what went through.
struct Out {
    file: File,
    buf: Vec<u8>,
    crc: crc32fast::Hasher,
    written: u64,
}

impl Out {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.crc.update(&self.buf);
        self.file.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

impl MemoryIndex {
    /// Save every hash to `path` (see the module), replacing any file there
    /// atomically. Returns the file's size.
    pub fn save_snapshot(&self, path: &Path, of: &SnapshotOf) -> io::Result<u64> {
        let kinds: Vec<HashKind> = HashKind::ALL
            .into_iter()
            .filter(|k| self.by_kind.contains_key(k))
            .collect();
        let header = Header {
            format: FORMAT.to_string(),
            of: of.clone(),
            stamps: HashKind::ALL
                .iter()
                .map(|k| (k.name().to_string(), k.stamp().to_string()))
                .collect(),
            regions: self.regions.clone(),
            kinds: kinds
                .iter()
                .map(|k| KindCount {
                    kind: k.name().to_string(),
                    count: self.len(*k) as u64,
                })
                .collect(),
        };
        let json = serde_json::to_vec(&header).map_err(|e| bad(e.to_string()))?;
        let tmp = temp_path(path);
        let result = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(MAGIC)?;
            let mut out = Out {
                file,
                buf: Vec::with_capacity(CHUNK + 64),
                crc: crc32fast::Hasher::new(),
                written: MAGIC.len() as u64,
            };
            out.put(&(json.len() as u64).to_le_bytes())?;
            out.put(&json)?;
            for kind in &kinds {
                self.by_kind[kind].for_each_entry(|w, id, region| {
                    for word in w {
                        out.put(&word.to_le_bytes())?;
                    }
                    out.put(&id.to_le_bytes())?;
                    out.put(&region.to_le_bytes())
                })?;
            }
            out.flush()?;
            let crc = out.crc.clone().finalize();
            out.file.write_all(&crc.to_le_bytes())?;
            out.file.sync_all()?;
            Ok(out.written + 4)
        })();
        match result {
            Ok(size) => {
                std::fs::rename(&tmp, path)?;
                Ok(size)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Load a snapshot saved by [`MemoryIndex::save_snapshot`], with the
    /// substring tables deferred as after [`MemoryIndex::start_bulk`] (a
    /// one-off lookup scans; call [`MemoryIndex::finish_bulk`] to build them
    /// for many). Errors when the file is damaged, truncated, of another
    /// format, or made by other hasher versions.
    pub fn load_snapshot(path: &Path) -> io::Result<(MemoryIndex, SnapshotOf)> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        let mut r = BufReader::with_capacity(CHUNK, file);
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(bad("not a retrace index snapshot"));
        }
        let mut crc = crc32fast::Hasher::new();
        let mut len = [0u8; 8];
        r.read_exact(&mut len)?;
        crc.update(&len);
        let header_len = u64::from_le_bytes(len);
        if header_len > MAX_HEADER || header_len > size {
            return Err(bad(format!("header of {header_len} bytes")));
        }
        let mut json = vec![0u8; header_len as usize];
        r.read_exact(&mut json)?;
        crc.update(&json);
        let header: Header =
            serde_json::from_slice(&json).map_err(|e| bad(format!("header: {e}")))?;
        if header.format != FORMAT {
            return Err(bad(format!("format {:?}", header.format)));
        }
        for k in HashKind::ALL {
            if header.stamps.get(k.name()).map(String::as_str) != Some(k.stamp()) {
                return Err(bad(format!(
                    "made by another version of the {} hasher",
                    k.name()
                )));
            }
        }
        if header.regions.len() > usize::from(u16::MAX) {
            return Err(bad("too many regions"));
        }
        // Each kind's section: (kind, entries, where it starts).
        let mut sections: Vec<(HashKind, usize, u64)> = Vec::new();
        let mut offset = 8 + 8 + header_len;
        for kc in &header.kinds {
            let kind =
                HashKind::from_name(&kc.kind).ok_or_else(|| bad(format!("kind {:?}", kc.kind)))?;
            if sections.iter().any(|(k, _, _)| *k == kind) || kc.count > u64::from(u32::MAX) {
                return Err(bad(format!("kind {:?} twice or too large", kc.kind)));
            }
            sections.push((kind, kc.count as usize, offset));
            offset = record_len(kind)
                .checked_mul(kc.count)
                .and_then(|b| b.checked_add(offset))
                .ok_or_else(|| bad("sizes overflow"))?;
        }
        // Nothing is allocated for the entries before the file is seen to hold them.
        let expected = offset.saturating_add(4);
        if expected != size {
            return Err(bad(format!(
                "{size} bytes where the header announces {expected}"
            )));
        }
        let mut index = MemoryIndex::new();
        index.start_bulk();
        index.regions = header.regions.clone();
        index.region_ids = header
            .regions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.clone(), i as u16))
            .collect();
        // Each kind's section is read and parsed on its own rayon task from its
        // own file handle (PDQ is half of the file, so two workers halve the
        // time); the sections' checksums are combined in file order. Should
        // another process rename a new snapshot into place between the opens,
        // the sections come from two files and the combined checksum (or a
        // short read) refuses the mix.
        let regions = header.regions.len();
        let loaded: Vec<io::Result<(HashKind, Shelf, crc32fast::Hasher)>> = sections
            .par_iter()
            .map(|&(kind, count, offset)| read_section(path, kind, count, offset, regions))
            .collect();
        for section in loaded {
            let (kind, shelf, section_crc) = section?;
            crc.combine(&section_crc);
            index.by_kind.insert(kind, shelf);
        }
        r.seek(SeekFrom::Start(offset))?;
        let mut tail = [0u8; 4];
        r.read_exact(&mut tail)?;
        if u32::from_le_bytes(tail) != crc.finalize() {
            return Err(bad("checksum mismatch"));
        }
        Ok((index, header.of))
    }
}

/// One kind's records, `count` of them from `offset`: the store and the
/// checksum of the section.
fn read_section(
    path: &Path,
    kind: HashKind,
    count: usize,
    offset: u64,
    regions: usize,
) -> io::Result<(HashKind, Shelf, crc32fast::Hasher)> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut r = BufReader::with_capacity(CHUNK, file);
    let mut crc = crc32fast::Hasher::new();
    let rec = record_len(kind) as usize;
    let nw = (rec - 10) / 8;
    let mut shelf = Shelf::new(kind, usize::MAX);
    shelf.reserve(count);
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut left = count;
    while left > 0 {
        let n = left.min(CHUNK / rec);
        chunk.resize(n * rec, 0);
        r.read_exact(&mut chunk)?;
        crc.update(&chunk);
        for e in chunk.chunks_exact(rec) {
            let mut words = [0u64; 4];
            for (i, w) in words.iter_mut().take(nw).enumerate() {
                *w = u64::from_le_bytes(e[8 * i..8 * i + 8].try_into().expect("8 bytes"));
            }
            let id = i64::from_le_bytes(e[rec - 10..rec - 2].try_into().expect("8 bytes"));
            let region = u16::from_le_bytes(e[rec - 2..].try_into().expect("2 bytes"));
            if usize::from(region) >= regions {
                return Err(bad(format!("region number {region} of {regions}")));
            }
            shelf.push(&words, id, region);
        }
        left -= n;
    }
    Ok((kind, shelf, crc))
}

/// A name beside `path` that no other process picks at the same time.
fn temp_path(path: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}-{nanos}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashBits;

    fn random_index(n: usize, seed: u64) -> MemoryIndex {
        let mut s = seed;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s ^ (s >> 29)
        };
        let mut idx = MemoryIndex::new();
        let regions = ["full", "top", "centre", "left"];
        for i in 0..n {
            for kind in HashKind::ALL {
                let mut words = [0u64; 4];
                for w in words.iter_mut().take(kind.bits() as usize / 64) {
                    *w = next();
                }
                let region = regions[(next() % 4) as usize];
                idx.insert(i as i64 * 3 + 1, region, HashBits { kind, words });
            }
        }
        idx
    }

    fn of() -> SnapshotOf {
        SnapshotOf {
            last_id: 3001,
            images: 1000,
            last_sha256: "ab".repeat(32),
        }
    }

    /// The header's JSON replaced, and the checksum made right again: what a
    /// file written by another build would look like.
    fn with_header(bytes: &[u8], edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
        let len = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
        let mut header: serde_json::Value = serde_json::from_slice(&bytes[16..16 + len]).unwrap();
        edit(&mut header);
        let json = serde_json::to_vec(&header).unwrap();
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&bytes[16 + len..bytes.len() - 4]);
        let crc = crc32fast::hash(&out[8..]);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    #[test]
    fn a_saved_index_loads_back_answering_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db.index");
        let idx = random_index(3000, 7);
        let size = idx.save_snapshot(&path, &of()).unwrap();
        assert_eq!(size, std::fs::metadata(&path).unwrap().len());
        let (back, got) = MemoryIndex::load_snapshot(&path).unwrap();
        assert_eq!(got, of());
        for kind in HashKind::ALL {
            assert_eq!(back.len(kind), idx.len(kind));
        }
        // Queries near stored hashes and random ones, through the same planner.
        let probe = random_index(20, 99);
        let mut queries: Vec<HashBits> = Vec::new();
        for kind in HashKind::ALL {
            for e in 0..20u32 {
                let mut q = match &probe.by_kind[&kind] {
                    Shelf::Short(s) => HashBits {
                        kind,
                        words: [s.words_of(e)[0], 0, 0, 0],
                    },
                    Shelf::Long(s) => HashBits {
                        kind,
                        words: *s.words_of(e),
                    },
                };
                // Half of them planted next to a stored hash.
                if e % 2 == 0 {
                    q.words = match &idx.by_kind[&kind] {
                        Shelf::Short(s) => [s.words_of(e * 7)[0] ^ 0b101, 0, 0, 0],
                        Shelf::Long(s) => {
                            let mut w = *s.words_of(e * 7);
                            w[2] ^= 0xff;
                            w
                        }
                    };
                }
                queries.push(q);
            }
        }
        let radius = |k: HashKind| if k == HashKind::Pdq { 64 } else { 12 };
        let want = idx.search_many(&queries, radius, 3);
        let got = back.search_many(&queries, radius, 3);
        assert_eq!(got, want);
        assert!(want.iter().any(|h| h.iter().any(|h| h.distance <= 8)));
        // And once its tables are built.
        let mut back = back;
        back.finish_bulk();
        assert_eq!(back.search_many(&queries, radius, 3), want);
    }

    #[test]
    fn damaged_truncated_foreign_or_stale_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db.index");
        random_index(500, 3).save_snapshot(&path, &of()).unwrap();
        let good = std::fs::read(&path).unwrap();
        let refused = |bytes: &[u8], what: &str| {
            let p = dir.path().join("bad.index");
            std::fs::write(&p, bytes).unwrap();
            let e = MemoryIndex::load_snapshot(&p).err();
            assert!(e.is_some(), "{what} was accepted");
            e.unwrap().to_string()
        };
        // One bit flipped in a hash: only the checksum can tell.
        let mut flipped = good.clone();
        let at = good.len() - 100;
        flipped[at] ^= 0x10;
        assert!(refused(&flipped, "a flipped bit").contains("checksum"));
        // Cut short, or longer than announced.
        refused(&good[..good.len() - 1], "a truncated file");
        refused(&good[..good.len() / 2], "half a file");
        let mut longer = good.clone();
        longer.extend_from_slice(&[0; 42]);
        refused(&longer, "a longer file");
        refused(b"SQLite format 3\0 and more", "another file");
        refused(&[], "an empty file");
        // Another hasher version, a count the file does not hold, a region
        // number beyond the list: each refused with a consistent checksum.
        let stale = with_header(&good, |h| {
            h["stamps"]["pdq"] = "pdq:older".into();
        });
        assert!(refused(&stale, "another pdq stamp").contains("pdq"));
        let huge = with_header(&good, |h| {
            h["kinds"][0]["count"] = (u32::MAX as u64).into();
        });
        assert!(refused(&huge, "a huge count").contains("announces"));
        let fewer_regions = with_header(&good, |h| {
            h["regions"] = serde_json::json!(["full"]);
        });
        assert!(refused(&fewer_regions, "too few regions").contains("region"));
        // The untouched file still loads.
        std::fs::write(dir.path().join("ok.index"), &good).unwrap();
        assert!(MemoryIndex::load_snapshot(&dir.path().join("ok.index")).is_ok());
    }

    #[test]
    fn saving_replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db.index");
        random_index(50, 1).save_snapshot(&path, &of()).unwrap();
        let mut newer = of();
        newer.last_id = 4000;
        random_index(80, 2).save_snapshot(&path, &newer).unwrap();
        let (idx, got) = MemoryIndex::load_snapshot(&path).unwrap();
        assert_eq!(got.last_id, 4000);
        assert_eq!(idx.len(HashKind::Pdq), 80);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.db.index")]);
    }
}
