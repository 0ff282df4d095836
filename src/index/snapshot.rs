//! The index saved to a file, so that a process can load a large archive's
//! hashes in one sequential read instead of stepping through one database row
//! per hash (at a million pictures: minutes from SQLite or PostgreSQL, against
//! a fraction of a second from here; docs/performance.md).
//!
//! A snapshot is a cache: the archive stays the truth. It says which archive
//! state it was taken from ([`SnapshotOf`], checked by the caller against the
//! archive) and which hasher versions made its hashes (checked here against
//! this build's stamps); anything that does not fit is refused and the caller
//! loads from the archive as before. Pictures recorded after the snapshot are
//! read from the archive by the usual following (`Archive::hashes_since`).
//!
//! Layout, in the byte order of the machine that wrote it, which must be
//! little-endian (a big-endian build neither writes nor reads snapshots): the
//! magic `RTIDX\0\0\x04`; the length of a JSON header (at most
//! [`MAX_HEADER`]) and the header (format, the archive state, the stamps, the
//! region names and each kind's entry and image-id run counts), zero-padded
//! to a multiple of 64 bytes; then per kind, in the header's order, its
//! columns as the index holds them, each zero-padded to a multiple of 64
//! bytes: the hash words in 64-byte lines, the first entry of each run of
//! entries with one image id (`u32`), each run's image id (`i64`), the region
//! numbers (`u16`); last a CRC-32 of everything between the magic and it. The
//! file's length must be exactly what the header announces, the runs must
//! start at entry 0 and increase, and region numbers must name a listed
//! region, so a truncated, damaged or foreign file is an error, never a wrong
//! index.
//!
//! A loaded snapshot is a read-only memory map whose columns the index
//! searches in place: at a million pictures, copying the 1.25 GB into memory
//! took longer than the search. The feature lists are read in place too
//! (only the picture ids and the lists' heads are copied), each followed in
//! memory by the postings of pictures recorded since. Only the checksum pass reads the whole file
//! at load (split across rayon's workers). The mapping stays valid while the
//! file is replaced, since a snapshot is only ever replaced by renaming a new
//! file over it; a process that truncated the file in place while another
//! had it mapped would make that one fail (SIGBUS), which nothing in retrace
//! does.
//!
//! Written to a temporary file in the same directory and renamed into place:
//! readers see the old snapshot or the new one, and two writers leave one of
//! their two complete files.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use rayon::prelude::*;

use serde::{Deserialize, Serialize};

use super::{MemoryIndex, Shelf};
use crate::hash::HashKind;

/// The file's first 8 bytes: a fixed prefix, then [`VERSION`].
const MAGIC: &[u8; 8] = b"RTIDX\0\0\x05";
/// The format's version, also in [`FORMAT`]. 4: image ids as runs (first
/// entry, id) instead of one per entry. 5: the same layout without the crop
/// windows' PDQ hashes, which matching no longer looks up
/// ([`crate::matching::searched`]): a snapshot of 4 would hold them, and is
/// rebuilt.
const VERSION: u8 = 5;
const FORMAT: &str = "retrace.index/5";
/// Largest header accepted: region names and counts are a few hundred bytes.
pub const MAX_HEADER: u64 = 1 << 20;
/// Bytes handed to the file (and the checksum) at once.
const CHUNK: usize = 1 << 20;
/// Bytes checksummed by one rayon task when loading.
const CRC_PIECE: usize = 16 << 20;

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
    /// Images up to `last_id` with local features: filling in the features of
    /// pictures recorded before retrace kept them changes it without a new id.
    /// Absent in snapshots written before it was kept (never equal then).
    #[serde(default)]
    pub features: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    of: SnapshotOf,
    /// Hasher version of each kind, as `HashKind::stamp`.
    stamps: BTreeMap<String, String>,
    regions: Vec<String>,
    kinds: Vec<KindCount>,
    /// The local-feature index, after the hashes.
    features: FeatureCounts,
}

#[derive(Debug, Serialize, Deserialize)]
struct FeatureCounts {
    /// [`crate::features::STAMP`] of the words' features.
    stamp: String,
    /// [`crate::features::vocabulary::STAMP`] of the words.
    vocabulary: String,
    /// Pictures, lists, posting bytes.
    images: u64,
    lists: u64,
    bytes: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct KindCount {
    kind: String,
    count: u64,
    /// Runs of entries with one image id.
    runs: u64,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn big_endian() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "index snapshots are little-endian only",
    )
}

/// Where each kind's columns start: after the magic, the header length, the
/// header and its padding.
fn first_section(header_len: u64) -> Option<u64> {
    header_len.checked_add(16)?.checked_next_multiple_of(64)
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
        if bytes.len() >= CHUNK {
            // A whole column goes to the file as it is.
            self.flush()?;
            self.crc.update(bytes);
            self.file.write_all(bytes)?;
            self.written += bytes.len() as u64;
            return Ok(());
        }
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
        if cfg!(target_endian = "big") {
            return Err(big_endian());
        }
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
                    runs: self.by_kind[k].runs() as u64,
                })
                .collect(),
            features: {
                let (images, lists, bytes) = self.features.sizes();
                FeatureCounts {
                    stamp: crate::features::STAMP.to_string(),
                    vocabulary: crate::features::vocabulary::STAMP.to_string(),
                    images,
                    lists,
                    bytes,
                }
            },
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
            let at = 16 + json.len() as u64;
            let pad = first_section(json.len() as u64).ok_or_else(|| bad("header size"))? - at;
            out.put(&vec![0; pad as usize])?;
            for kind in &kinds {
                self.by_kind[kind].write_columns(&mut |bytes| out.put(bytes))?;
            }
            // The feature index's three parts, each padded to 64 bytes as
            // the columns are.
            let mut part = 0usize;
            let mut written = 0u64;
            self.features
                .write_parts(&mut |bytes: &[u8]| -> io::Result<()> {
                    out.put(bytes)?;
                    written += bytes.len() as u64;
                    part += 1;
                    // Parts 1 and 2 are one slice each; the lists' bytes follow
                    // one list at a time and are padded once, at the end.
                    if part <= 2 {
                        let pad = written.next_multiple_of(64) - written;
                        out.put(&vec![0; pad as usize])?;
                        written += pad;
                    }
                    Ok(())
                })?;
            let pad = written.next_multiple_of(64) - written;
            out.put(&vec![0; pad as usize])?;
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
    /// substring tables deferred as after [`MemoryIndex::start_bulk`] (lookups
    /// scan; [`MemoryIndex::finish_bulk`] lets lookups that would pay for
    /// them build them). Errors when the file is damaged, truncated, of another
    /// format, or made by other hasher versions.
    pub fn load_snapshot(path: &Path) -> io::Result<(MemoryIndex, SnapshotOf)> {
        if cfg!(target_endian = "big") {
            return Err(big_endian());
        }
        let file = File::open(path)?;
        // SAFETY: the file is only read through the mapping, and snapshots are
        // replaced by renaming, never rewritten in place (see the module).
        let map = Arc::new(unsafe { Mmap::map(&file)? });
        let bytes: &[u8] = &map;
        if bytes.get(..7) != Some(&MAGIC[..7]) {
            return Err(bad("not a retrace index snapshot"));
        }
        match bytes.get(7) {
            Some(&v) if v == VERSION => {}
            Some(&v) => {
                return Err(bad(format!(
                    "a snapshot of format {v}, this retrace reads format {VERSION}"
                )))
            }
            None => return Err(bad("no header")),
        }
        let size = bytes.len() as u64;
        let header_len = u64::from_le_bytes(
            bytes
                .get(8..16)
                .ok_or_else(|| bad("no header"))?
                .try_into()
                .expect("8 bytes"),
        );
        if header_len > MAX_HEADER || header_len > size - 16 {
            return Err(bad(format!("header of {header_len} bytes")));
        }
        let header: Header = serde_json::from_slice(&bytes[16..16 + header_len as usize])
            .map_err(|e| bad(format!("header: {e}")))?;
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
        // Each kind's columns: (kind, entries, where each column starts).
        let mut sections: Vec<(HashKind, [usize; 2], [usize; 4])> = Vec::new();
        let mut offset = first_section(header_len).ok_or_else(|| bad("header size"))?;
        for kc in &header.kinds {
            let kind =
                HashKind::from_name(&kc.kind).ok_or_else(|| bad(format!("kind {:?}", kc.kind)))?;
            if sections.iter().any(|(k, _, _)| *k == kind)
                || kc.count > u64::from(u32::MAX)
                || kc.runs > kc.count
            {
                return Err(bad(format!("kind {:?} twice or too large", kc.kind)));
            }
            let mut at = [0usize; 4];
            for (start, len) in at.iter_mut().zip(
                Shelf::column_bytes(kind, kc.count, kc.runs)
                    .ok_or_else(|| bad("sizes overflow"))?,
            ) {
                *start = usize::try_from(offset).map_err(|_| bad("sizes overflow"))?;
                offset = offset
                    .checked_add(len)
                    .ok_or_else(|| bad("sizes overflow"))?;
            }
            sections.push((kind, [kc.count as usize, kc.runs as usize], at));
        }
        let fc = &header.features;
        let features_ok = fc.stamp == crate::features::STAMP
            && fc.vocabulary == crate::features::vocabulary::STAMP;
        let pad64 = |n: u64| n.checked_next_multiple_of(64);
        let (ids_len, heads_len) = (
            fc.images
                .checked_mul(8)
                .ok_or_else(|| bad("sizes overflow"))?,
            fc.lists
                .checked_mul(12)
                .ok_or_else(|| bad("sizes overflow"))?,
        );
        let feature_at = offset;
        offset = [pad64(ids_len), pad64(heads_len), pad64(fc.bytes)]
            .into_iter()
            .try_fold(offset, |o, n| o.checked_add(n?))
            .ok_or_else(|| bad("sizes overflow"))?;
        let expected = offset.saturating_add(4);
        if expected != size {
            return Err(bad(format!(
                "{size} bytes where the header announces {expected}"
            )));
        }
        // The checksum in pieces on rayon's workers, combined in file order.
        let body = &bytes[8..bytes.len() - 4];
        let crc = body
            .par_chunks(CRC_PIECE)
            .map(|piece| {
                let mut h = crc32fast::Hasher::new();
                h.update(piece);
                h
            })
            .reduce(crc32fast::Hasher::new, |mut a, b| {
                a.combine(&b);
                a
            });
        let tail = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().expect("4 bytes"));
        if tail != crc.finalize() {
            return Err(bad("checksum mismatch"));
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
        for (kind, count, at) in sections {
            let shelf = Shelf::from_mapped(kind, &map, count, at, usize::MAX).ok_or_else(|| {
                bad("a column outside the file, or image-id runs that do not cover the entries")
            })?;
            if !shelf.regions_below(header.regions.len()) {
                return Err(bad(format!(
                    "a region number beyond the {} listed",
                    header.regions.len()
                )));
            }
            index.by_kind.insert(kind, shelf);
        }
        // Words made by another detector or vocabulary are left out: the
        // caller then reads them from the archive.
        if features_ok && fc.lists > 0 {
            let part = |from: u64, len: u64| -> io::Result<&[u8]> {
                let (a, b) = (
                    usize::try_from(from).map_err(|_| bad("sizes overflow"))?,
                    usize::try_from(from + len).map_err(|_| bad("sizes overflow"))?,
                );
                bytes
                    .get(a..b)
                    .ok_or_else(|| bad("a part outside the file"))
            };
            let ids = part(feature_at, ids_len)?;
            let heads_at = feature_at + pad64(ids_len).unwrap_or(0);
            let heads = part(heads_at, heads_len)?;
            let lists_at = heads_at + pad64(heads_len).unwrap_or(0);
            part(lists_at, fc.bytes)?;
            let usize_of = |n: u64| usize::try_from(n).map_err(|_| bad("sizes overflow"));
            index.features = super::features::FeatureIndex::from_parts(
                ids,
                heads,
                &map,
                [usize_of(lists_at)?, usize_of(fc.bytes)?],
                usize_of(fc.lists)?,
            )
            .ok_or_else(|| bad("feature lists that do not fit together"))?;
        }
        Ok((index, header.of))
    }
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
            features: Some(7),
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
        out.resize(first_section(json.len() as u64).unwrap() as usize, 0);
        let body = first_section(len as u64).unwrap() as usize;
        out.extend_from_slice(&bytes[body..bytes.len() - 4]);
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
        back.build_tables();
        assert_eq!(back.search_many(&queries, radius, 3), want);
        // Pictures recorded after the snapshot go to memory behind the mapped
        // columns (3000 entries leave PDQ's last line half full), with the
        // tables built and without.
        let (mut scanned, _) = MemoryIndex::load_snapshot(&path).unwrap();
        let mut idx = idx;
        let more = random_index(37, 11);
        for kind in HashKind::ALL {
            for e in 0..37u32 {
                let words = match &more.by_kind[&kind] {
                    Shelf::Short(s) => [s.words_of(e)[0], 0, 0, 0],
                    Shelf::Long(s) => *s.words_of(e),
                };
                for i in [&mut idx, &mut back, &mut scanned] {
                    i.insert(90_000 + i64::from(e), "top", HashBits { kind, words });
                }
            }
        }
        let moved: Vec<HashBits> = queries
            .iter()
            .map(|q| match &more.by_kind[&q.kind] {
                Shelf::Short(s) => HashBits {
                    kind: q.kind,
                    words: [s.words_of(5)[0] ^ 1, 0, 0, 0],
                },
                Shelf::Long(s) => HashBits {
                    kind: q.kind,
                    words: *s.words_of(5),
                },
            })
            .chain(queries.iter().copied())
            .collect();
        let want = idx.search_many(&moved, radius, 3);
        assert!(want.iter().any(|h| h.iter().any(|h| h.image_id == 90_005)));
        assert_eq!(back.search_many(&moved, radius, 3), want);
        assert_eq!(scanned.search_many(&moved, radius, 3), want);
        assert!(scanned.memory(HashKind::Pdq).mapped_bytes >= 3000 * 32);
    }

    /// The error loading `bytes` as a snapshot gives; a panic if it loads.
    fn refused_in(dir: &std::path::Path, bytes: &[u8], what: &str) -> String {
        let p = dir.join("bad.index");
        std::fs::write(&p, bytes).unwrap();
        match MemoryIndex::load_snapshot(&p) {
            Ok(_) => panic!("{what} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn damaged_truncated_foreign_or_stale_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db.index");
        random_index(500, 3).save_snapshot(&path, &of()).unwrap();
        let good = std::fs::read(&path).unwrap();
        let refused = |bytes: &[u8], what: &str| refused_in(dir.path(), bytes, what);
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
        assert!(refused(b"SQLite format 3\0 and more", "another file").contains("not a retrace"));
        refused(&[], "an empty file");
        // An older format says so, instead of "not a snapshot".
        let mut older = good.clone();
        older[7] = VERSION - 1;
        let why = refused(&older, "an older format");
        assert!(
            why.contains("format 4") && why.contains("format 5"),
            "{why}"
        );
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

    /// Each entry's image id, read through the store's runs.
    fn ids_of(idx: &MemoryIndex, kind: HashKind) -> Vec<i64> {
        let n = idx.len(kind) as u32;
        match &idx.by_kind[&kind] {
            Shelf::Short(s) => (0..n).map(|e| s.image_id(e)).collect(),
            Shelf::Long(s) => (0..n).map(|e| s.image_id(e)).collect(),
        }
    }

    #[test]
    fn image_ids_read_through_runs_are_the_ids_inserted_before_and_after_a_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db.index");
        // Runs of one id of every length, ids going down as well as up, an
        // id coming back after others, negative and extreme ids.
        let before: Vec<i64> = [7, 7, 7, 3, 3, 9, 7, 7, -1, i64::MAX, i64::MIN, 0, 0]
            .into_iter()
            .chain((0..500).map(|i| 1000 + i / 16))
            .chain([5])
            .collect();
        let after: Vec<i64> = [5, 5, 6, 1000, 1000, 2, 2, 2, 5].into();
        let mut idx = MemoryIndex::new();
        let insert = |idx: &mut MemoryIndex, i: usize, id: i64| {
            for kind in HashKind::ALL {
                let words = [
                    (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    i as u64,
                    1,
                    2,
                ];
                idx.insert(id, "full", HashBits { kind, words });
            }
        };
        for (i, &id) in before.iter().enumerate() {
            insert(&mut idx, i, id);
        }
        for kind in HashKind::ALL {
            assert_eq!(ids_of(&idx, kind), before);
        }
        // 500 entries in runs of 16 and 14 short runs, not one id per entry.
        assert_eq!(idx.by_kind[&HashKind::Pdq].runs(), 9 + 32);
        idx.save_snapshot(&path, &of()).unwrap();
        let (mut back, _) = MemoryIndex::load_snapshot(&path).unwrap();
        // The first picture after the load continues the snapshot's last
        // run (5), then new runs go to memory behind the mapped ones.
        for (i, &id) in after.iter().enumerate() {
            insert(&mut back, before.len() + i, id);
        }
        let all: Vec<i64> = before.iter().chain(&after).copied().collect();
        for kind in HashKind::ALL {
            assert_eq!(ids_of(&back, kind), all, "{}", kind.name());
        }
        // Saved again with both parts, and loaded: the same ids.
        back.save_snapshot(&path, &of()).unwrap();
        let (again, _) = MemoryIndex::load_snapshot(&path).unwrap();
        for kind in HashKind::ALL {
            assert_eq!(ids_of(&again, kind), all);
        }
        // An empty index has no runs and loads back empty.
        MemoryIndex::new().save_snapshot(&path, &of()).unwrap();
        assert!(MemoryIndex::load_snapshot(&path).unwrap().0.is_empty());
    }

    #[test]
    fn a_damaged_run_table_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db.index");
        random_index(300, 5).save_snapshot(&path, &of()).unwrap();
        let good = std::fs::read(&path).unwrap();
        let refused = |bytes: &[u8], what: &str| refused_in(dir.path(), bytes, what);
        // random_index gives each picture one entry per kind: 300 runs.
        let len = u64::from_le_bytes(good[8..16].try_into().unwrap());
        let header: serde_json::Value =
            serde_json::from_slice(&good[16..16 + len as usize]).unwrap();
        assert_eq!(header["kinds"][0]["runs"], 300);
        let kind = HashKind::from_name(header["kinds"][0]["kind"].as_str().unwrap()).unwrap();
        let [lines, ..] = Shelf::column_bytes(kind, 300, 300).unwrap();
        let starts = (first_section(len).unwrap() + lines) as usize;
        // A run table edited in place, the checksum made right again.
        let edited = |at: usize, value: u32| {
            let mut b = good.clone();
            b[starts + 4 * at..starts + 4 * at + 4].copy_from_slice(&value.to_le_bytes());
            let n = b.len();
            let crc = crc32fast::hash(&b[8..n - 4]);
            b[n - 4..].copy_from_slice(&crc.to_le_bytes());
            b
        };
        assert!(refused(&edited(0, 1), "a first run not at 0").contains("runs"));
        assert!(refused(&edited(10, 9), "runs out of order").contains("runs"));
        assert!(refused(&edited(299, 300), "a run past the entries").contains("runs"));
        assert!(refused(&edited(299, u32::MAX), "a huge run start").contains("runs"));
        // More runs than entries, or counts the file does not hold.
        let more = with_header(&good, |h| h["kinds"][0]["runs"] = 301.into());
        assert!(refused(&more, "more runs than entries").contains("large"));
        let fewer = with_header(&good, |h| h["kinds"][0]["runs"] = 3.into());
        assert!(refused(&fewer, "fewer runs than stored").contains("announces"));
        let none = with_header(&good, |h| h["kinds"][0]["runs"] = 0.into());
        refused(&none, "no runs for 300 entries");
        // Only the edits were wrong.
        assert!(MemoryIndex::load_snapshot(&path).is_ok());
        let p = dir.path().join("same.index");
        std::fs::write(&p, edited(0, 0)).unwrap();
        assert!(MemoryIndex::load_snapshot(&p).is_ok());
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
