//! An ISO BMFF file's top-level boxes (HEIF, AVIF), read once through the
//! one box-header reader ([`crate::input::bmff`]), which checks each size
//! against the file.
//!
//! The HEIF item reader (`input::heif`), the C2PA store finder
//! (`metadata::c2pa::bmff_store`) and the C2PA BMFF hash check take the
//! list instead of each walking the top level again; they descend into the
//! boxes they read (`meta`, the containers an exclusion can name) through
//! the same header reader. The pipeline hands the item structure read from
//! them to `decode_heif` (built with the `heif` feature) for its tile check.

use crate::input::bmff::bmff_header;

/// Most top-level boxes a [`BmffLayout`] keeps: the default of
/// [`crate::limits::Limits::max_bmff_boxes`], the budget the HEIF item
/// reader spends on every box it visits. A HEIF or AVIF still has three or
/// four top-level boxes; a hostile file of 8-byte boxes could otherwise make
/// the list four times its own size. Past the cap the walk stops
/// ([`BmffEnd::Capped`]); a reader allowed more boxes walks on from the last
/// one kept.
pub const MAX_BMFF_BOXES_KEPT: usize = 100_000;

/// One top-level box: its header read, its size checked against the file
/// (an `mdat` running past the end is cut to it, as c2pa-rs hashes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmffBox {
    /// The box type (`ftyp`, `meta`, `mdat`, `uuid`, …).
    pub kind: [u8; 4],
    /// Offset of the box's first byte (its size field).
    pub offset: usize,
    /// The box's size, header included (a size of 0 or an `mdat` cut short
    /// already resolved to the bytes it has).
    pub size: usize,
    /// Where its content starts (after the 64-bit size and a `uuid`'s
    /// extended type, when present).
    pub content: usize,
}

impl BmffBox {
    /// Offset just past the box.
    pub fn end(&self) -> usize {
        self.offset + self.size
    }
}

/// How a walk over the top-level boxes ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BmffEnd {
    /// The last box ended where the bytes do.
    Eof,
    /// Bytes after the last box too few for a box header: readers stop
    /// there without a word, as they always have.
    Short,
    /// A box header that does not fit the file: its size runs past the end
    /// or is smaller than its own header.
    Broken {
        /// What is wrong, as the header reader says it (readers prefix it
        /// with their name: "HEIF: …", "BMFF: …").
        message: String,
    },
    /// More boxes than [`MAX_BMFF_BOXES_KEPT`]; the walk stopped there.
    Capped,
}

/// A BMFF file's top-level boxes in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmffLayout {
    /// The boxes, at most [`MAX_BMFF_BOXES_KEPT`].
    pub boxes: Vec<BmffBox>,
    /// How the walk ended.
    pub end: BmffEnd,
}

impl BmffLayout {
    /// The top-level boxes of `bytes`.
    pub fn read(bytes: &[u8]) -> BmffLayout {
        let mut boxes = Vec::new();
        let end = walk(bytes, 0, MAX_BMFF_BOXES_KEPT, &mut boxes);
        BmffLayout { boxes, end }
    }

    /// Where a walk that goes on past this list starts: the end of the
    /// last box kept (0 when none was).
    pub fn resume_at(&self) -> usize {
        self.boxes.last().map_or(0, BmffBox::end)
    }
}

/// The top-level boxes from `at` on, at most `max` pushed into `out`.
pub(crate) fn walk(bytes: &[u8], mut at: usize, max: usize, out: &mut Vec<BmffBox>) -> BmffEnd {
    let mut kept = 0usize;
    while at < bytes.len() {
        if kept == max {
            return BmffEnd::Capped;
        }
        match bmff_header(bytes, at, bytes.len()) {
            Ok(Some(h)) => {
                out.push(BmffBox {
                    kind: h.kind,
                    offset: at,
                    size: h.size,
                    content: h.content,
                });
                kept += 1;
                at += h.size;
            }
            Ok(None) => return BmffEnd::Short,
            Err(message) => return BmffEnd::Broken { message },
        }
    }
    BmffEnd::Eof
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = (8 + body.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    fn fixtures() -> Vec<(String, Vec<u8>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut out = Vec::new();
        for d in ["heif", "c2pa"] {
            for e in std::fs::read_dir(root.join(d)).unwrap().flatten() {
                let b = std::fs::read(e.path()).unwrap_or_default();
                if b.get(4..8) == Some(b"ftyp") {
                    out.push((e.path().display().to_string(), b));
                }
            }
        }
        assert!(out.len() >= 4, "only {} BMFF fixtures", out.len());
        out
    }

    /// Every HEIF and AVIF fixture's boxes lie back to back from `ftyp` to
    /// the end of the file, and every prefix keeps a prefix of them (the
    /// last one possibly an `mdat` cut to the prefix) without a panic.
    #[test]
    fn fixtures_walk_to_their_end_and_prefixes_keep_prefixes() {
        for (name, b) in fixtures() {
            let l = BmffLayout::read(&b);
            assert_eq!(l.end, BmffEnd::Eof, "{name}");
            assert_eq!(&l.boxes[0].kind, b"ftyp", "{name}");
            let mut at = 0;
            for x in &l.boxes {
                assert_eq!(x.offset, at, "{name}");
                assert!(x.content >= x.offset + 8 && x.content <= x.end());
                at = x.end();
            }
            assert_eq!(at, b.len());
            for cut in (0..b.len()).step_by(7) {
                let p = BmffLayout::read(&b[..cut]);
                let n = p.boxes.len();
                for (i, x) in p.boxes.iter().enumerate() {
                    if i + 1 == n && &x.kind == b"mdat" && x != &l.boxes[i] {
                        assert_eq!(x.end(), cut, "{name}: an mdat cut to the prefix");
                        assert_eq!(x.offset, l.boxes[i].offset);
                    } else {
                        assert_eq!(x, &l.boxes[i], "{name} cut at {cut}");
                    }
                }
                assert_eq!(p.resume_at() == cut, p.end == BmffEnd::Eof);
            }
        }
    }

    #[test]
    fn each_end_is_told_apart() {
        let end = |b: &[u8]| BmffLayout::read(b).end;
        let ftyp = bx(b"ftyp", b"heic\0\0\0\0");
        assert_eq!(end(b""), BmffEnd::Eof);
        assert_eq!(end(&ftyp), BmffEnd::Eof);
        assert_eq!(end(&ftyp[..7]), BmffEnd::Short);
        let mut b = ftyp.clone();
        b.extend_from_slice(b"\0\0\0\x40free");
        assert!(
            matches!(end(&b), BmffEnd::Broken { message } if message.contains("past its parent"))
        );
        let mut b = ftyp.clone();
        b.extend_from_slice(b"\0\0\0\x03free");
        assert!(
            matches!(end(&b), BmffEnd::Broken { message } if message.contains("shorter than its header"))
        );
        // Size 0 runs to the end; a 64-bit size is read; an mdat past the
        // end is cut to it.
        let mut b = ftyp.clone();
        b.extend_from_slice(b"\0\0\0\0mdatpixels");
        let l = BmffLayout::read(&b);
        assert_eq!((l.boxes[1].size, &l.end), (14, &BmffEnd::Eof));
        let mut b = ftyp.clone();
        b.extend_from_slice(b"\0\0\0\x01free\0\0\0\0\0\0\0\x18abcdefgh");
        let l = BmffLayout::read(&b);
        assert_eq!((l.boxes[1].size, l.boxes[1].content), (24, 32));
        let mut b = ftyp.clone();
        b.extend_from_slice(b"\0\x10\0\0mdatpixels");
        let l = BmffLayout::read(&b);
        assert_eq!((l.boxes[1].size, &l.end), (14, &BmffEnd::Eof));
        // A 64-bit size beyond any file.
        let mut b = ftyp.clone();
        b.extend_from_slice(b"\0\0\0\x01free\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFFab");
        assert!(matches!(end(&b), BmffEnd::Broken { .. }));
    }

    #[test]
    fn the_list_is_capped() {
        let mut b = bx(b"ftyp", b"heic\0\0\0\0");
        for _ in 0..MAX_BMFF_BOXES_KEPT + 3 {
            b.extend_from_slice(b"\0\0\0\x08free");
        }
        let l = BmffLayout::read(&b);
        assert_eq!(l.end, BmffEnd::Capped);
        assert_eq!(l.boxes.len(), MAX_BMFF_BOXES_KEPT);
        assert_eq!(l.resume_at(), 16 + 8 * (MAX_BMFF_BOXES_KEPT - 1));
        let mut rest = Vec::new();
        assert_eq!(walk(&b, l.resume_at(), usize::MAX, &mut rest), BmffEnd::Eof);
        assert_eq!(rest.len(), 4);
    }
}
