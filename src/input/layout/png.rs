//! A PNG's chunks (PNG specification §5.3: a 4-byte length, a 4-byte type,
//! the data, a 4-byte CRC), read once from the signature to IEND.

use std::ops::Range;

use super::ExifSegment;

/// The eight bytes every PNG starts with.
pub const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Most chunks a [`PngLayout`] keeps. A photo has a handful (a file with
/// its pixels split into many IDAT chunks a few thousand); a hostile file of
/// 12-byte empty chunks could otherwise make the list nearly three times its
/// own size. Container forensics reads no further than this either: past it
/// the report says "PNG: too many chunks; stopped". Past the cap the walk
/// still runs to IEND or the end of the bytes, counting what it did not keep.
pub const MAX_PNG_CHUNKS_KEPT: usize = 100_000;

/// One chunk whose data lies inside the bytes (its CRC may not: see
/// [`PngEnd::Cut`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PngChunk {
    /// The chunk type (`IHDR`, `eXIf`, `iTXt`, …), as written.
    pub kind: [u8; 4],
    /// Offset of the chunk's length field.
    pub offset: usize,
    /// Where the data (after the type, before the CRC) lies in the file; its
    /// length is the chunk's length field.
    pub payload: Range<usize>,
}

impl PngChunk {
    /// The chunk's data, from the bytes this layout was read from.
    pub fn data<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        bytes.get(self.payload.clone()).unwrap_or_default()
    }
}

/// How a walk over a PNG's chunks ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PngEnd {
    /// The IEND chunk, the last entry of [`PngLayout::chunks`] (unless the
    /// list was capped); `trailing` bytes follow its CRC.
    Iend {
        /// Bytes after IEND's CRC (0 for a file that ends there).
        trailing: usize,
    },
    /// The bytes ended between two chunks, before IEND.
    Eof,
    /// The bytes ended inside the chunk header or the CRC at `offset`.
    Cut {
        /// Where the cut header or CRC starts.
        offset: usize,
    },
    /// A chunk whose length runs past the end of the bytes (not kept).
    Overrun {
        /// Its type.
        kind: [u8; 4],
        /// Offset of its length field.
        offset: usize,
        /// Its length field.
        length: usize,
    },
}

/// A PNG's chunks in file order, from offset 8 (after the signature) to
/// IEND or to whatever stops the walk, in one linear pass over the headers
/// (the data is never read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PngLayout {
    /// Whether the bytes start with the PNG signature. The walk starts at
    /// offset 8 either way, as container forensics always has.
    pub signature: bool,
    /// Every chunk from the signature on, in file order, at most
    /// [`MAX_PNG_CHUNKS_KEPT`].
    pub chunks: Vec<PngChunk>,
    /// Chunks walked past but not kept (over [`MAX_PNG_CHUNKS_KEPT`]).
    pub chunks_dropped: usize,
    /// How the walk ended.
    pub end: PngEnd,
}

impl PngLayout {
    /// The chunks of `bytes`, to IEND or to whatever stops the walk.
    pub fn read(bytes: &[u8]) -> PngLayout {
        let mut p = PngLayout {
            signature: bytes.starts_with(PNG_SIGNATURE),
            chunks: Vec::new(),
            chunks_dropped: 0,
            end: PngEnd::Eof,
        };
        let mut pos = PNG_SIGNATURE.len();
        loop {
            if pos >= bytes.len() {
                p.end = if pos == bytes.len() {
                    PngEnd::Eof
                } else {
                    // Shorter than the signature.
                    PngEnd::Cut {
                        offset: bytes.len(),
                    }
                };
                return p;
            }
            let Some(header) = bytes.get(pos..pos + 8) else {
                p.end = PngEnd::Cut { offset: pos };
                return p;
            };
            let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
            let length = usize::try_from(length).unwrap_or(usize::MAX);
            let kind = [header[4], header[5], header[6], header[7]];
            let start = pos + 8;
            let Some(end) = start.checked_add(length).filter(|&e| e <= bytes.len()) else {
                p.end = PngEnd::Overrun {
                    kind,
                    offset: pos,
                    length,
                };
                return p;
            };
            if p.chunks.len() < MAX_PNG_CHUNKS_KEPT {
                p.chunks.push(PngChunk {
                    kind,
                    offset: pos,
                    payload: start..end,
                });
            } else {
                p.chunks_dropped += 1;
            }
            // The CRC: four bytes the walk steps over (checking it is the
            // decoder's business).
            let next = end + 4;
            if next > bytes.len() {
                p.end = PngEnd::Cut { offset: end };
                return p;
            }
            if &kind == b"IEND" {
                p.end = PngEnd::Iend {
                    trailing: bytes.len() - next,
                };
                return p;
            }
            pos = next;
        }
    }

    /// Whether the walk reached IEND.
    pub fn reached_iend(&self) -> bool {
        matches!(self.end, PngEnd::Iend { .. })
    }

    /// The first `eXIf` chunk's data, as the EXIF reader (kamadak-exif)
    /// picks it, and whether a reader that walks the chunks as it does
    /// would reach it. kamadak-exif reads past IEND to the end of the bytes
    /// and calls a chunk cut short anywhere on the way a broken file, so
    /// "no EXIF" is vouched for only when IEND ends the file; anything else
    /// without an `eXIf` chunk is left to its own walk (`Unsure`).
    pub fn exif(&self, bytes: &[u8]) -> ExifSegment {
        if !self.signature {
            return ExifSegment::Unsure;
        }
        if let Some(c) = self.chunks.iter().find(|c| &c.kind == b"eXIf") {
            return if bytes.get(c.payload.clone()).is_some() {
                ExifSegment::At(c.payload.clone())
            } else {
                ExifSegment::Unsure
            };
        }
        if self.end == (PngEnd::Iend { trailing: 0 }) && self.chunks_dropped == 0 {
            ExifSegment::Absent
        } else {
            ExifSegment::Unsure
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend_from_slice(b"CRC_");
        c
    }

    fn png(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut b = PNG_SIGNATURE.to_vec();
        for c in chunks {
            b.extend_from_slice(c);
        }
        b
    }

    fn fixture_pngs() -> Vec<(String, Vec<u8>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut out = Vec::new();
        let mut dirs = vec![root];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if let Ok(b) = std::fs::read(&p) {
                    if b.starts_with(PNG_SIGNATURE) {
                        out.push((p.display().to_string(), b));
                    }
                }
            }
        }
        assert!(out.len() >= 3, "only {} fixture PNGs", out.len());
        out
    }

    /// Every whole PNG among the fixtures walks from IHDR to IEND, its
    /// chunks in order and back to back, each length field measuring its
    /// data; every prefix stops short of IEND with the chunks it kept the
    /// whole file's.
    #[test]
    fn fixture_pngs_walk_to_iend_and_prefixes_do_not() {
        let mut whole = 0;
        for (name, b) in fixture_pngs() {
            let p = PngLayout::read(&b);
            if !p.reached_iend() {
                continue;
            }
            whole += 1;
            assert!(p.signature);
            assert_eq!(&p.chunks.last().unwrap().kind, b"IEND", "{name}");
            let mut at = 8;
            for c in &p.chunks {
                assert_eq!(c.offset, at, "{name}");
                let len = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
                assert_eq!(c.payload, at + 8..at + 8 + len);
                assert_eq!(&b[at + 4..at + 8], &c.kind);
                at = c.payload.end + 4;
            }
            let step = (b.len() / 150).max(1);
            for cut in (0..b.len())
                .step_by(step)
                .chain(b.len().saturating_sub(40)..b.len())
            {
                let q = PngLayout::read(&b[..cut]);
                assert!(!q.reached_iend(), "{name} cut at {cut}");
                assert_eq!(q.chunks[..], p.chunks[..q.chunks.len()]);
                assert_ne!(q.exif(&b[..cut]), ExifSegment::Absent);
            }
        }
        assert!(whole >= 3, "only {whole} whole PNGs");
    }

    #[test]
    fn each_end_is_told_apart() {
        let ihdr = chunk(b"IHDR", &[0; 13]);
        let iend = chunk(b"IEND", b"");
        let end = |b: &[u8]| PngLayout::read(b).end;
        assert_eq!(end(b"\x89PN"), PngEnd::Cut { offset: 3 });
        assert_eq!(end(PNG_SIGNATURE), PngEnd::Eof);
        let mut b = png(std::slice::from_ref(&ihdr));
        assert_eq!(end(&b), PngEnd::Eof);
        b.extend_from_slice(b"\0\0\0");
        assert_eq!(end(&b), PngEnd::Cut { offset: 33 });
        let b = png(&[ihdr.clone(), iend.clone()]);
        assert_eq!(end(&b), PngEnd::Iend { trailing: 0 });
        assert_eq!(end(&b[..b.len() - 2]), PngEnd::Cut { offset: 41 });
        let mut t = b.clone();
        t.extend_from_slice(b"junk");
        assert_eq!(end(&t), PngEnd::Iend { trailing: 4 });
        // A length past the end, the largest one a u32 holds among them.
        for length in [14u32, 1 << 20, u32::MAX] {
            let mut b = PNG_SIGNATURE.to_vec();
            b.extend_from_slice(&length.to_be_bytes());
            b.extend_from_slice(b"tEXt0123456789abc");
            assert_eq!(
                end(&b),
                PngEnd::Overrun {
                    kind: *b"tEXt",
                    offset: 8,
                    length: length as usize
                }
            );
            assert!(PngLayout::read(&b).chunks.is_empty());
        }
    }

    #[test]
    fn exif_chunk_is_found_or_left_to_the_reader() {
        let ihdr = chunk(b"IHDR", &[0; 13]);
        let exif = chunk(b"eXIf", b"MM\0*\0\0\0\x08");
        let iend = chunk(b"IEND", b"");
        let b = png(&[ihdr.clone(), exif.clone(), iend.clone()]);
        let p = PngLayout::read(&b);
        assert_eq!(p.exif(&b), ExifSegment::At(41..49));
        assert_eq!(&b[41..45], b"MM\0*");
        let b = png(&[ihdr.clone(), iend.clone()]);
        assert_eq!(PngLayout::read(&b).exif(&b), ExifSegment::Absent);
        // kamadak-exif reads past IEND: an eXIf there is its answer, so
        // trailing bytes leave the question to it.
        let b = png(&[ihdr.clone(), iend.clone(), exif.clone()]);
        assert_eq!(PngLayout::read(&b).exif(&b), ExifSegment::Unsure);
        let b = png(std::slice::from_ref(&ihdr));
        assert_eq!(PngLayout::read(&b).exif(&b), ExifSegment::Unsure);
        let mut b = png(&[ihdr, exif, iend]);
        b[0] = b'x';
        assert_eq!(PngLayout::read(&b).exif(&b), ExifSegment::Unsure);
    }

    /// A file of more chunks than are kept still walks to IEND and counts
    /// what it did not keep; no eXIf past the cap is vouched absent.
    #[test]
    fn the_list_is_capped_and_the_walk_goes_on() {
        let mut b = png(&[]);
        for _ in 0..MAX_PNG_CHUNKS_KEPT + 7 {
            b.extend_from_slice(&chunk(b"tEXt", b""));
        }
        b.extend_from_slice(&chunk(b"IEND", b""));
        let p = PngLayout::read(&b);
        assert_eq!(p.end, PngEnd::Iend { trailing: 0 });
        assert_eq!(p.chunks.len(), MAX_PNG_CHUNKS_KEPT);
        assert_eq!(p.chunks_dropped, 8);
        assert_eq!(p.exif(&b), ExifSegment::Unsure);
    }
}
