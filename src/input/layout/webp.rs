//! A WebP's RIFF chunks (a 4-byte type, a 4-byte little-endian size, the
//! data, a pad byte after odd sizes), read once from offset 12 on.
//!
//! Two readers with two rules take the one list. Container forensics reads
//! every chunk to the end of the bytes, as it always has: a file whose RIFF
//! size was not updated when a chunk was appended keeps its XMP in the
//! report. The EXIF reader (kamadak-exif) reads only inside the RIFF size
//! and calls a chunk that overflows it an error: [`WebpLayout::exif`]
//! answers as it would from the same list, and the RIFF size is kept for
//! that.

use std::ops::Range;

use super::ExifSegment;

/// Most chunks a [`WebpLayout`] keeps. A still picture has one to five, an
/// animation one per frame; a hostile file of 8-byte empty chunks could
/// otherwise make the list four times its own size. Past the cap the walk
/// still runs to the end of the bytes, counting what it did not keep.
/// (Container forensics reads fewer still: `container::webp::MAX_WEBP_CHUNKS_READ`.)
pub const MAX_WEBP_CHUNKS_KEPT: usize = 100_000;

/// One chunk whose data lies inside the bytes (its pad byte may not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebpChunk {
    /// The FourCC (`VP8X`, `EXIF`, `XMP `, …), as written.
    pub kind: [u8; 4],
    /// Offset of the FourCC.
    pub offset: usize,
    /// Where the data lies in the file; its length is the chunk's size
    /// field (the pad byte is not part of it).
    pub payload: Range<usize>,
}

impl WebpChunk {
    /// The chunk's data, from the bytes this layout was read from.
    pub fn data<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        bytes.get(self.payload.clone()).unwrap_or_default()
    }
}

/// How a walk over a WebP's chunks ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebpEnd {
    /// The bytes ended between two chunks (or in the pad byte of the last).
    Eof,
    /// The bytes ended inside the chunk header at `offset`.
    Cut {
        /// Where the cut header starts.
        offset: usize,
    },
    /// A chunk whose size runs past the end of the bytes (not kept).
    Overrun {
        /// Its FourCC.
        kind: [u8; 4],
        /// Offset of its FourCC.
        offset: usize,
        /// Its size field.
        length: usize,
    },
}

/// A WebP's chunks in file order from offset 12 (after `RIFF`, the size and
/// `WEBP`) to the end of the bytes, in one linear pass over the headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebpLayout {
    /// The RIFF header's size field, when the bytes start with `RIFF` and
    /// have `WEBP` at offset 8. The walk starts at offset 12 either way.
    pub riff_size: Option<u32>,
    /// Every chunk from offset 12 on, in file order, at most
    /// [`MAX_WEBP_CHUNKS_KEPT`]; chunks past the RIFF size included.
    pub chunks: Vec<WebpChunk>,
    /// Chunks walked past but not kept (over [`MAX_WEBP_CHUNKS_KEPT`]).
    pub chunks_dropped: usize,
    /// How the walk ended.
    pub end: WebpEnd,
}

impl WebpLayout {
    /// The chunks of `bytes`, to the end of the bytes or to whatever stops
    /// the walk.
    pub fn read(bytes: &[u8]) -> WebpLayout {
        let riff_size = (bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP")
            .then(|| u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]));
        let mut w = WebpLayout {
            riff_size,
            chunks: Vec::new(),
            chunks_dropped: 0,
            end: WebpEnd::Eof,
        };
        let mut pos = 12usize;
        loop {
            if pos >= bytes.len() {
                return w;
            }
            let Some(header) = bytes.get(pos..pos + 8) else {
                w.end = WebpEnd::Cut { offset: pos };
                return w;
            };
            let kind = [header[0], header[1], header[2], header[3]];
            let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            let length = usize::try_from(length).unwrap_or(usize::MAX);
            let start = pos + 8;
            let Some(end) = start.checked_add(length).filter(|&e| e <= bytes.len()) else {
                w.end = WebpEnd::Overrun {
                    kind,
                    offset: pos,
                    length,
                };
                return w;
            };
            if w.chunks.len() < MAX_WEBP_CHUNKS_KEPT {
                w.chunks.push(WebpChunk {
                    kind,
                    offset: pos,
                    payload: start..end,
                });
            } else {
                w.chunks_dropped += 1;
            }
            pos = end + (length & 1);
        }
    }

    /// Where the RIFF size says the file ends (8 bytes of `RIFF` and the
    /// size field, then the size), when the header is there.
    pub fn riff_end(&self) -> Option<usize> {
        let size = usize::try_from(self.riff_size?).ok()?;
        size.checked_add(8)
    }

    /// The first `EXIF` chunk's data, as the EXIF reader (kamadak-exif)
    /// picks it, and whether its walk would reach it. That walk reads
    /// inside the RIFF size only, pads an odd chunk only when more is to
    /// come inside it, and calls a chunk that overflows the RIFF size, or
    /// bytes that end before it, an error: those files are left to its own
    /// walk (`Unsure`), so its message still reaches the report.
    pub fn exif(&self, bytes: &[u8]) -> ExifSegment {
        let Some(riff_end) = self.riff_end() else {
            return ExifSegment::Unsure;
        };
        if riff_end < 12 {
            return ExifSegment::Unsure;
        }
        if riff_end == 12 {
            return ExifSegment::Absent;
        }
        for c in &self.chunks {
            if c.payload.end > riff_end {
                return ExifSegment::Unsure;
            }
            if &c.kind == b"EXIF" {
                return ExifSegment::At(c.payload.clone());
            }
            let pad = c.payload.len() & 1;
            let next = if c.payload.end < riff_end {
                c.payload.end + pad
            } else {
                c.payload.end
            };
            if next == riff_end {
                // Its walk stops here, having stepped over the pad byte.
                return if next <= bytes.len() {
                    ExifSegment::Absent
                } else {
                    ExifSegment::Unsure
                };
            }
        }
        ExifSegment::Unsure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = kind.to_vec();
        c.extend_from_slice(&(data.len() as u32).to_le_bytes());
        c.extend_from_slice(data);
        if data.len() % 2 == 1 {
            c.push(0);
        }
        c
    }

    fn riff(body: &[u8], size: Option<u32>) -> Vec<u8> {
        let mut b = b"RIFF".to_vec();
        let size = size.unwrap_or(body.len() as u32 + 4);
        b.extend_from_slice(&size.to_le_bytes());
        b.extend_from_slice(b"WEBP");
        b.extend_from_slice(body);
        b
    }

    /// The WebP files among the fixtures walk to their RIFF end, each chunk
    /// back to back with its pad byte, and every prefix keeps a prefix of
    /// the whole file's chunks and never vouches for an absent EXIF.
    #[test]
    fn fixture_webps_walk_to_their_riff_end_and_prefixes_keep_prefixes() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/animation");
        let mut seen = 0;
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let b = std::fs::read(e.path()).unwrap();
            if !b.starts_with(b"RIFF") {
                continue;
            }
            seen += 1;
            let w = WebpLayout::read(&b);
            assert_eq!(w.end, WebpEnd::Eof);
            assert_eq!(w.riff_end(), Some(b.len()));
            let mut at = 12;
            for c in &w.chunks {
                assert_eq!(c.offset, at);
                assert_eq!(&b[at..at + 4], &c.kind);
                at = c.payload.end + (c.payload.len() & 1);
            }
            assert_eq!(at, b.len());
            assert!(w.chunks.len() >= 3, "an animation has several chunks");
            for cut in 0..b.len() {
                let p = WebpLayout::read(&b[..cut]);
                assert_eq!(p.chunks[..], w.chunks[..p.chunks.len()]);
                assert_ne!(p.exif(&b[..cut]), ExifSegment::Absent, "cut at {cut}");
            }
        }
        assert!(seen >= 2);
    }

    #[test]
    fn each_end_is_told_apart() {
        let end = |b: &[u8]| WebpLayout::read(b).end;
        assert_eq!(end(b"RIFF"), WebpEnd::Eof);
        let b = riff(&chunk(b"VP8 ", b"abc"), None);
        assert_eq!(end(&b), WebpEnd::Eof);
        // The pad byte missing after the last chunk.
        assert_eq!(end(&b[..b.len() - 1]), WebpEnd::Eof);
        assert_eq!(
            end(&b[..b.len() - 2]),
            WebpEnd::Overrun {
                kind: *b"VP8 ",
                offset: 12,
                length: 3
            }
        );
        assert_eq!(end(&b[..15]), WebpEnd::Cut { offset: 12 });
        let mut huge = riff(b"JUNK\xFF\xFF\xFF\xFFabc", None);
        assert_eq!(
            end(&huge),
            WebpEnd::Overrun {
                kind: *b"JUNK",
                offset: 12,
                length: u32::MAX as usize
            }
        );
        huge.truncate(12);
        assert!(WebpLayout::read(&huge).chunks.is_empty());
    }

    /// The answers kamadak-exif's own walk gives (its unit tests' cases,
    /// webp.rs in kamadak-exif 0.6), from the one list.
    #[test]
    fn exif_answers_follow_the_riff_size() {
        let at = |b: &[u8]| WebpLayout::read(b).exif(b);
        let b = riff(&chunk(b"EXIF", b"Exif"), None);
        assert_eq!(at(&b), ExifSegment::At(20..24));
        // Every prefix is a broken file to kamadak-exif.
        for cut in 0..b.len() {
            assert_eq!(at(&b[..cut]), ExifSegment::Unsure, "cut at {cut}");
        }
        assert_eq!(at(b"RIFF\x0c\0\0\0WEBPwhat\0\0\0\0"), ExifSegment::Absent);
        assert_eq!(
            at(b"RIFF\x16\0\0\0WEBPodd_\x01\0\0\0X\0EXIF\0\0\0\0"),
            ExifSegment::At(30..30)
        );
        assert_eq!(
            at(b"RIFF\x18\0\0\0WEBPEXIF\x02\0\0\0abEXIF\x02\0\0\0cd"),
            ExifSegment::At(20..22)
        );
        // An EXIF chunk past the RIFF size is not kamadak-exif's.
        assert_eq!(
            at(b"RIFF\x0e\0\0\0WEBPwhat\x02\0\0\0abEXIF\x02\0\0\0cd"),
            ExifSegment::Absent
        );
        // A RIFF size the chunk overflows is its error, not an answer here.
        let mut b = b"RIFF\x10\0\0\0WEBPEXIF\x04\0\0\0Exif".to_vec();
        for x in 0x05..=0x0f {
            b[4] = x;
            assert_eq!(at(&b), ExifSegment::Unsure, "size {x}");
        }
        b[4] = 0x04;
        assert_eq!(at(&b), ExifSegment::Absent);
        b[4] = 0x03;
        assert_eq!(at(&b), ExifSegment::Unsure);
        // The last odd chunk unpadded: no pad is due at the RIFF end.
        assert_eq!(
            at(b"RIFF\x17\0\0\0WEBPwhat\0\0\0\0EXIF\x03\0\0\0abc"),
            ExifSegment::At(28..31)
        );
        // A pad byte due inside the RIFF size but missing from the file.
        assert_eq!(
            at(b"RIFF\x0e\0\0\0WEBPodd_\x01\0\0\0X"),
            ExifSegment::Unsure
        );
        assert_eq!(
            at(b"RIFF\x0e\0\0\0WEBPodd_\x01\0\0\0X\0"),
            ExifSegment::Absent
        );
        let mut not = riff(&chunk(b"EXIF", b"Exif"), None);
        not[8] = b'w';
        assert_eq!(at(&not), ExifSegment::Unsure);
    }

    #[test]
    fn the_list_is_capped_and_the_walk_goes_on() {
        let mut body = Vec::new();
        for _ in 0..MAX_WEBP_CHUNKS_KEPT + 5 {
            body.extend_from_slice(&chunk(b"JUNK", b""));
        }
        body.extend_from_slice(&chunk(b"EXIF", b"Exif"));
        let b = riff(&body, None);
        let w = WebpLayout::read(&b);
        assert_eq!(w.end, WebpEnd::Eof);
        assert_eq!(w.chunks.len(), MAX_WEBP_CHUNKS_KEPT);
        assert_eq!(w.chunks_dropped, 6);
        assert_eq!(w.exif(&b), ExifSegment::Unsure);
    }
}
