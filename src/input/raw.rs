//! RAW camera files (CR2, CR3, NEF, ARW, DNG, ORF, RAF, RW2, PEF, …): which
//! JPEG previews the camera embedded and which of them is the largest. The
//! sensor data itself is not decoded (that is demosaicing, a raw
//! converter's work); the camera's own full-size or near-full-size JPEG is
//! what the photographer saw and what any copy of the picture was made from.
//!
//! It owns finding those previews and nothing else: it must not decode
//! pixels or read EXIF (metadata does, from the RAW). Every offset, count and
//! length is checked against the file; the IFDs walked are capped by
//! [`MAX_IFDS`] and their nesting by [`MAX_IFD_DEPTH`].
//!
//! Written by hand: the Rust RAW decoders (rawloader, rawler) decode sensor
//! data and do not return embedded previews; what is needed here is a walk
//! over TIFF IFDs, a few BMFF boxes and one fixed header.

use serde::{Deserialize, Serialize};

use crate::input::layout::{marker, JpegLayout};

/// Most IFDs visited in one file (IFD chain plus SubIFDs); real RAW files
/// have two to six.
pub const MAX_IFDS: usize = 64;
/// Deepest SubIFD nesting followed.
pub const MAX_IFD_DEPTH: usize = 4;
/// Most entries read from one IFD.
const MAX_ENTRIES: usize = 1024;

/// The embedded JPEG that was hashed as a RAW file's picture. Part of the
/// report (`decode.raw_preview`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct RawPreview {
    /// Where the JPEG starts in the file.
    pub offset: u64,
    /// Its length in bytes.
    pub length: u64,
    /// Its stored width (before the RAW's orientation).
    pub width: u32,
    /// Its stored height.
    pub height: u32,
    /// Where it was found: `ifd0`, `ifd1`, `subifd0` (TIFF-based RAW:
    /// JPEGInterchangeFormat or a JPEG strip), `jpg_from_raw` (RW2),
    /// `nikon_preview_ifd` (NEF: the PreviewIFD of Nikon's maker note),
    /// `olympus_camera_settings` (ORF: the preview Olympus's maker note
    /// points at from its CameraSettings),
    /// `cr3_prvw` (CR3's preview box), `cr3_track1`, `cr3_track2`, …
    /// (CR3: the first sample of a `trak`; the first is the camera's
    /// full-size JPEG), `raf_header` (RAF).
    pub location: String,
    /// How many JPEG previews the file carries (the largest is used).
    pub candidates: u32,
}

/// The kind of RAW file, from its first bytes and its TIFF structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawKind {
    /// TIFF-structured with the standard magic (CR2, NEF, ARW, DNG, PEF, …).
    Tiff,
    /// TIFF-structured with a vendor magic: Olympus ORF (`IIRO`, `IIRS`,
    /// `MMOR`) or Panasonic RW2 (`IIU\0`).
    VendorTiff,
    /// Canon CR3 (ISO BMFF, brand `crx `).
    Cr3,
    /// Fujifilm RAF.
    Raf,
}

/// Which RAW container this is, by its first bytes alone, for the formats
/// that no other sniffer recognises (TIFF-based RAW files sniff as TIFF;
/// [`is_tiff_raw`] tells them apart).
pub fn sniff(bytes: &[u8]) -> Option<RawKind> {
    let starts = |m: &[u8]| bytes.starts_with(m);
    if starts(b"IIRO") || starts(b"IIRS") || starts(b"MMOR") || starts(b"IIU\0") {
        Some(RawKind::VendorTiff)
    } else if starts(b"FUJIFILMCCD-RAW") {
        Some(RawKind::Raf)
    } else if bytes.get(4..12) == Some(b"ftypcrx ") {
        Some(RawKind::Cr3)
    } else {
        None
    }
}

/// A TIFF whose structure says it holds sensor data: Canon's CR2 signature,
/// a DNGVersion tag, a CFA or LinearRaw photometric interpretation or a
/// vendor's raw compression in any IFD. A plain TIFF is decoded as a picture;
/// a RAW one through its preview.
pub fn is_tiff_raw(bytes: &[u8]) -> bool {
    if bytes.get(8..10) == Some(b"CR") {
        return true;
    }
    let Some(t) = Tiff::new(bytes) else {
        return false;
    };
    let mut raw = false;
    t.walk(|_, ifd| {
        raw |= ifd.dng
            || matches!(ifd.photometric, Some(32803 | 34892))
            || matches!(
                ifd.compression,
                Some(34713 | 65535 | 32767 | 32769 | 32770 | 34316 | 65000)
            );
    });
    raw
}

/// A TIFF reader over the file; every read is checked.
struct Tiff<'a> {
    b: &'a [u8],
    big: bool,
    first: usize,
}

/// What one IFD says about previews and raw data.
#[derive(Default)]
struct Ifd {
    jpeg: Option<(u64, u64)>,
    strip: Option<(u64, u64)>,
    strips: u32,
    compression: Option<u32>,
    photometric: Option<u32>,
    dng: bool,
    jpg_from_raw: Option<(u64, u64)>,
    sub_ifds: Vec<usize>,
}

impl<'a> Tiff<'a> {
    fn new(b: &'a [u8]) -> Option<Tiff<'a>> {
        let big = match b.get(..2)? {
            b"II" => false,
            b"MM" => true,
            _ => return None,
        };
        let mut t = Tiff { b, big, first: 0 };
        t.first = t.u32(4)? as usize;
        Some(t)
    }
    fn u16(&self, at: usize) -> Option<u32> {
        let s = self.b.get(at..at.checked_add(2)?)?;
        let a = [s[0], s[1]];
        Some(u32::from(if self.big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }))
    }
    fn u32(&self, at: usize) -> Option<u32> {
        let s = self.b.get(at..at.checked_add(4)?)?;
        let a = [s[0], s[1], s[2], s[3]];
        Some(if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    /// The first value of an entry of type SHORT or LONG, and where its
    /// values lie with their count (for arrays: SubIFDs, strips).
    fn entry(&self, at: usize) -> Option<(u32, u32, u32, usize)> {
        let tag = self.u16(at)?;
        let kind = self.u16(at + 2)?;
        let count = self.u32(at + 4)?;
        let size = match kind {
            1 | 2 | 6 | 7 => 1usize,
            3 | 8 => 2,
            4 | 9 | 13 => 4,
            _ => return Some((tag, kind, count, 0)),
        };
        let total = size.checked_mul(count as usize)?;
        let values = if total <= 4 {
            at + 8
        } else {
            self.u32(at + 8)? as usize
        };
        Some((tag, kind, count, values))
    }

    /// The entry `want` of the IFD at `at`: its type, count and where its
    /// values lie.
    fn tag(&self, at: usize, want: u32) -> Option<(u32, u32, usize)> {
        let n = (self.u16(at)? as usize).min(MAX_ENTRIES);
        (0..n).find_map(|i| {
            let (tag, kind, count, values) = self.entry(at.checked_add(2 + i * 12)?)?;
            (tag == want).then_some((kind, count, values))
        })
    }

    fn value(&self, kind: u32, at: usize) -> Option<u32> {
        match kind {
            3 => self.u16(at),
            4 | 13 => self.u32(at),
            _ => None,
        }
    }

    fn read_ifd(&self, at: usize) -> Option<(Ifd, usize)> {
        let n = (self.u16(at)? as usize).min(MAX_ENTRIES);
        let mut ifd = Ifd::default();
        let (mut jpeg_at, mut jpeg_len) = (None, None);
        let (mut strip_at, mut strip_len) = (None, None);
        for i in 0..n {
            let Some((tag, kind, count, values)) = self.entry(at + 2 + i * 12) else {
                continue;
            };
            let first = || self.value(kind, values);
            match tag {
                0x0103 => ifd.compression = first(),
                0x0106 => ifd.photometric = first(),
                0x0111 => {
                    strip_at = first();
                    ifd.strips = count;
                }
                0x0117 => strip_len = first(),
                0x0201 => jpeg_at = first(),
                0x0202 => jpeg_len = first(),
                0xC612 => ifd.dng = true,
                // Panasonic RW2's JpgFromRaw: the JPEG as an UNDEFINED array.
                0x002E if kind == 7 && count > 0 => {
                    ifd.jpg_from_raw = Some((values as u64, u64::from(count)));
                }
                0x014A => {
                    for k in 0..count.min(16) as usize {
                        let v = if kind == 3 {
                            self.u16(values + 2 * k)
                        } else {
                            self.u32(values + 4 * k)
                        };
                        if let Some(v) = v {
                            ifd.sub_ifds.push(v as usize);
                        }
                    }
                }
                _ => {}
            }
        }
        if let (Some(a), Some(l)) = (jpeg_at, jpeg_len) {
            ifd.jpeg = Some((u64::from(a), u64::from(l)));
        }
        if let (Some(a), Some(l), 1) = (strip_at, strip_len, ifd.strips) {
            if matches!(ifd.compression, Some(6 | 7)) {
                ifd.strip = Some((u64::from(a), u64::from(l)));
            }
        }
        let next = self.u32(at.checked_add(2 + n * 12)?).unwrap_or(0) as usize;
        Some((ifd, next))
    }

    /// Every IFD of the chain and its SubIFDs, with its name.
    fn walk(&self, mut f: impl FnMut(String, &Ifd)) {
        let mut seen = Vec::new();
        let mut stack: Vec<(String, usize, usize)> = Vec::new();
        let mut at = self.first;
        let mut i = 0;
        while at != 0 && i < MAX_IFDS {
            stack.push((format!("ifd{i}"), at, 0));
            i += 1;
            // The chain's next pointer comes from the IFD itself.
            let Some((_, next)) = self.read_ifd(at) else {
                break;
            };
            at = next;
        }
        stack.reverse();
        let mut sub = 0;
        while let Some((name, at, depth)) = stack.pop() {
            if seen.contains(&at) || seen.len() >= MAX_IFDS {
                continue;
            }
            seen.push(at);
            let Some((ifd, _)) = self.read_ifd(at) else {
                continue;
            };
            if depth < MAX_IFD_DEPTH {
                for &s in &ifd.sub_ifds {
                    stack.push((format!("subifd{sub}"), s, depth + 1));
                    sub += 1;
                }
            }
            f(name, &ifd);
        }
    }
}

/// A baseline or extended (not lossless) JPEG's size from its frame header:
/// the previews. Lossless JPEG (SOF3) is how CR2 and many DNGs store the
/// sensor data itself, which is not a picture to hash.
fn jpeg_preview_size(b: &[u8]) -> Option<(u32, u32)> {
    let headers = JpegLayout::headers(b);
    // SOF0-SOF2; the layout reads the size from any frame header.
    let sof = headers.first_frame_header()?.marker;
    matches!(sof, marker::SOF0..=marker::SOF2)
        .then(|| headers.frame_size(b))
        .flatten()
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Every JPEG preview candidate: (offset, length, location).
fn candidates(bytes: &[u8], kind: RawKind) -> Vec<(u64, u64, String)> {
    let mut out = Vec::new();
    match kind {
        RawKind::Tiff | RawKind::VendorTiff => {
            // ORF and RW2 differ from TIFF in their magic number only.
            let Some(t) = Tiff::new(bytes) else {
                return out;
            };
            t.walk(|name, ifd| {
                for c in [ifd.jpeg, ifd.strip].into_iter().flatten() {
                    out.push((c.0, c.1, name.clone()));
                }
                if let Some(c) = ifd.jpg_from_raw {
                    out.push((c.0, c.1, "jpg_from_raw".into()));
                }
            });
            if let Some(c) = nikon_preview(&t) {
                out.push((c.0, c.1, "nikon_preview_ifd".into()));
            }
            if let Some(c) = olympus_preview(&t) {
                out.push((c.0, c.1, "olympus_camera_settings".into()));
            }
        }
        RawKind::Raf => {
            // The header gives the embedded JPEG's offset and length.
            if let (Some(at), Some(len)) = (be32(bytes, 84), be32(bytes, 88)) {
                out.push((u64::from(at), u64::from(len), "raf_header".into()));
            }
        }
        RawKind::Cr3 => {
            // The top-level `uuid` box eaf42b5e-… holds a PRVW box: a
            // 1620-px JPEG after a small header of its own.
            let mut at = 0usize;
            let mut boxes = 0;
            while let Ok(Some(h)) = crate::input::bmff::bmff_header(bytes, at, bytes.len()) {
                boxes += 1;
                if boxes > 1000 {
                    break;
                }
                if &h.kind == b"uuid" {
                    let end = at + h.size;
                    let body = bytes.get(h.content..end).unwrap_or_default();
                    if let Some(p) = body.windows(4).position(|w| w == b"PRVW") {
                        let start = h.content + p;
                        let window = bytes.get(start..(start + 64).min(end)).unwrap_or_default();
                        if let Some(soi) = window.windows(3).position(|w| w == [0xFF, 0xD8, 0xFF]) {
                            let j = start + soi;
                            // The PRVW box (4 bytes before its type) ends the JPEG.
                            let prvw_end = start
                                .checked_sub(4)
                                .and_then(|s| be32(bytes, s))
                                .map(|len| (start - 4).saturating_add(len as usize))
                                .filter(|&e| e <= end && e > j)
                                .unwrap_or(end);
                            out.push((j as u64, (prvw_end - j) as u64, "cr3_prvw".into()));
                        }
                    }
                }
                at += h.size;
            }
            out.extend(cr3_tracks(bytes));
        }
    }
    out
}

/// Most boxes looked at among one box's children.
const MAX_CHILD_BOXES: usize = 256;
/// Most `trak` boxes of a CR3 looked at (Canon writes four or five).
const MAX_CR3_TRACKS: usize = 8;

/// The children of the box whose content is `start..end`: (type, content
/// start, end). Stops at the first malformed header or after
/// [`MAX_CHILD_BOXES`].
fn child_boxes(bytes: &[u8], start: usize, end: usize) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut at = start;
    let end = end.min(bytes.len());
    while at < end && out.len() < MAX_CHILD_BOXES {
        let Ok(Some(h)) = crate::input::bmff::bmff_header(bytes, at, end) else {
            break;
        };
        out.push((h.kind, h.content, at + h.size));
        at += h.size;
    }
    out
}

/// CR3's tracks: each `trak` of `moov` stores one picture as its first
/// sample, found from the sample table (`stsz` for its size, `co64` or
/// `stco` for where its chunk starts). Canon's first track is the
/// full-size JPEG that ExifTool calls JpgFromRaw; the others are the raw
/// sensor data (not JPEG, so [`largest_preview`] skips them) and timed
/// metadata.
fn cr3_tracks(bytes: &[u8]) -> Vec<(u64, u64, String)> {
    let find = |start: usize, end: usize, want: &[u8; 4]| {
        child_boxes(bytes, start, end)
            .into_iter()
            .find(|b| &b.0 == want)
            .map(|b| (b.1, b.2))
    };
    let mut out = Vec::new();
    let Some((moov, moov_end)) = find(0, bytes.len(), b"moov") else {
        return out;
    };
    let traks = child_boxes(bytes, moov, moov_end)
        .into_iter()
        .filter(|b| &b.0 == b"trak")
        .take(MAX_CR3_TRACKS);
    for (i, (_, start, end)) in traks.enumerate() {
        let stbl = find(start, end, b"mdia")
            .and_then(|(s, e)| find(s, e, b"minf"))
            .and_then(|(s, e)| find(s, e, b"stbl"));
        let Some((s, e)) = stbl else {
            continue;
        };
        // stsz: version/flags, a size shared by every sample (0 when each
        // has its own), the sample count, then the sizes.
        let size = find(s, e, b"stsz").and_then(|(c, _)| match be32(bytes, c + 4)? {
            0 if be32(bytes, c + 8)? > 0 => be32(bytes, c + 12),
            0 => None,
            n => Some(n),
        });
        // co64 / stco: version/flags, the entry count, then the offsets.
        let first_chunk = |want: &[u8; 4]| -> Option<u64> {
            let (c, _) = find(s, e, want)?;
            if be32(bytes, c + 4)? == 0 {
                return None;
            }
            if want == b"co64" {
                let (hi, lo) = (be32(bytes, c + 8)?, be32(bytes, c + 12)?);
                Some((u64::from(hi) << 32) | u64::from(lo))
            } else {
                be32(bytes, c + 8).map(u64::from)
            }
        };
        let offset = first_chunk(b"co64").or_else(|| first_chunk(b"stco"));
        if let (Some(size), Some(offset)) = (size, offset) {
            out.push((offset, u64::from(size), format!("cr3_track{}", i + 1)));
        }
    }
    out
}

/// The maker note: (its file offset, its length), from the EXIF IFD's
/// MakerNote entry (UNDEFINED bytes).
fn maker_note<'a>(t: &Tiff<'a>) -> Option<(usize, &'a [u8])> {
    let exif = t.tag(t.first, 0x8769).and_then(|(k, _, v)| t.value(k, v))? as usize;
    let (kind, count, at) = t.tag(exif, 0x927C)?;
    if kind != 7 {
        return None;
    }
    Some((at, t.b.get(at..at.checked_add(count as usize)?)?))
}

/// Olympus's preview: ORF files keep a JPEG preview that only the maker
/// note's CameraSettings (tag 0x2020) points at, with PreviewImageValid
/// (0x0100), PreviewImageStart (0x0101) and PreviewImageLength (0x0102).
/// Two maker note layouts: `OLYMPUS\0` with a byte order and its IFD 12
/// bytes in, every offset measured from the maker note's start; the older
/// `OLYMP\0` with its IFD 8 bytes in, offsets measured like the file's.
/// Returns the preview's (file offset, length).
fn olympus_preview(t: &Tiff<'_>) -> Option<(u64, u64)> {
    let (at, mn) = maker_note(t)?;
    let (inner, base) = if mn.starts_with(b"OLYMPUS\0") {
        let big = match mn.get(8..10)? {
            b"II" => false,
            b"MM" => true,
            _ => return None,
        };
        let b = t.b.get(at..)?;
        (Tiff { b, big, first: 12 }, at)
    } else if mn.starts_with(b"OLYMP\0") {
        let first = at.checked_add(8)?;
        (
            Tiff {
                b: t.b,
                big: t.big,
                first,
            },
            0,
        )
    } else {
        return None;
    };
    // CameraSettings is an IFD pointer (LONG or IFD) in newer files and,
    // in the E-1's, UNDEFINED bytes that are the IFD itself.
    let settings = match inner.tag(inner.first, 0x2020)? {
        (7, _, at) => at,
        (k, _, v) => inner.value(k, v)? as usize,
    };
    let get = |tag| {
        inner
            .tag(settings, tag)
            .and_then(|(k, _, v)| inner.value(k, v))
    };
    if get(0x0100) == Some(0) {
        return None;
    }
    let (offset, length) = (get(0x0101)?, get(0x0102)?);
    Some((
        u64::from(offset).checked_add(base as u64)?,
        u64::from(length),
    ))
}

/// Nikon's PreviewIFD: NEF files keep a JPEG preview in an IFD that only
/// the maker note points at, besides the JpgFromRaw of a SubIFD that the
/// TIFF walk finds; a file may have only the former. The maker note (type 3: `Nikon\0` and a version, then a TIFF header
/// of its own ten bytes in) measures every offset from that header; its tag
/// 0x0011 is the PreviewIFD, whose JPEGInterchangeFormat(Length) give the
/// preview. Returns its (file offset, length).
fn nikon_preview(t: &Tiff<'_>) -> Option<(u64, u64)> {
    let (at, mn) = maker_note(t)?;
    if !mn.starts_with(b"Nikon\0\x02") {
        return None;
    }
    let base = at + 10;
    let inner = Tiff::new(t.b.get(base..)?)?;
    let preview_ifd = inner
        .tag(inner.first, 0x0011)
        .and_then(|(k, _, v)| inner.value(k, v))? as usize;
    let (ifd, _) = inner.read_ifd(preview_ifd)?;
    let (offset, length) = ifd.jpeg?;
    Some((offset.checked_add(base as u64)?, length))
}

/// A TIFF entry as stored: tag, type, count and its value bytes (in the
/// source's byte order).
type Entry<'a> = (u16, u16, u32, &'a [u8]);

impl<'a> Tiff<'a> {
    /// The entries of the first IFD with their values, each value bounded
    /// by the buffer; entries whose values lie outside it are dropped.
    fn entries(&self) -> Vec<Entry<'a>> {
        let at = self.first;
        let Some(n) = self.u16(at) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for i in 0..(n as usize).min(MAX_ENTRIES) {
            let e = at + 2 + i * 12;
            let (Some(tag), Some(kind), Some(count)) =
                (self.u16(e), self.u16(e + 2), self.u32(e + 4))
            else {
                break;
            };
            let size = match kind {
                1 | 2 | 6 | 7 => 1usize,
                3 | 8 => 2,
                4 | 9 | 11 | 13 => 4,
                5 | 10 | 12 => 8,
                _ => continue,
            };
            let Some(len) = size.checked_mul(count as usize) else {
                continue;
            };
            let value = if len <= 4 {
                self.b.get(e + 8..e + 8 + len)
            } else {
                self.u32(e + 8)
                    .and_then(|o| self.b.get(o as usize..(o as usize).checked_add(len)?))
            };
            if let Some(v) = value {
                out.push((tag as u16, kind as u16, count, v));
            }
        }
        out
    }
}

/// CR3's EXIF as one classic TIFF that the EXIF reader takes like any
/// other: CR3 keeps IFD0, the EXIF IFD and the GPS IFD as three separate
/// TIFF structures in the `CMT1`, `CMT2` and `CMT4` boxes of Canon's `uuid`
/// box in `moov`. Their entries are copied (values moved, byte order kept)
/// into IFD0 with pointers to the other two; the sub-IFD pointers they
/// carry themselves (interoperability, maker note offsets) are dropped, as
/// they point into the separate structures. `None` without `CMT1`, or when
/// the three disagree on byte order.
pub fn cr3_exif_tiff(bytes: &[u8]) -> Option<Vec<u8>> {
    const CANON_UUID: [u8; 16] = [
        0x85, 0xc0, 0xb6, 0x87, 0x82, 0x0f, 0x11, 0xe0, 0x81, 0x11, 0xf4, 0xce, 0x46, 0x2b, 0x6a,
        0x48,
    ];
    let child = |start: usize, end: usize, want: &[u8; 4]| -> Option<(usize, usize)> {
        let mut at = start;
        let mut n = 0;
        while let Ok(Some(h)) = crate::input::bmff::bmff_header(bytes, at, end) {
            n += 1;
            if n > 1000 {
                return None;
            }
            let box_end = at + h.size;
            if &h.kind == want
                && (want != b"uuid" || bytes.get(h.content - 16..h.content) == Some(&CANON_UUID))
            {
                return Some((h.content, box_end));
            }
            at = box_end;
        }
        None
    };
    let (moov, moov_end) = child(0, bytes.len(), b"moov")?;
    let (canon, canon_end) = child(moov, moov_end, b"uuid")?;
    let tiff_in = |name: &[u8; 4]| {
        child(canon, canon_end, name)
            .and_then(|(s, e)| bytes.get(s..e))
            .and_then(Tiff::new)
    };
    let ifd0 = tiff_in(b"CMT1")?;
    let exif = tiff_in(b"CMT2");
    let gps = tiff_in(b"CMT4");
    let big = ifd0.big;
    if [&exif, &gps]
        .iter()
        .any(|t| t.as_ref().is_some_and(|t| t.big != big))
    {
        return None;
    }
    let pointers = [0x8769u16, 0x8825, 0xA005, 0x014A];
    let keep = |t: &Tiff<'_>| -> Vec<(u16, u16, u32, Vec<u8>)> {
        t.entries()
            .into_iter()
            .filter(|e| !pointers.contains(&e.0))
            .map(|(tag, kind, count, v)| (tag, kind, count, v.to_vec()))
            .collect()
    };
    let mut ifds = vec![keep(&ifd0)];
    let mut subs = Vec::new();
    for (tag, t) in [(0x8769u16, &exif), (0x8825, &gps)] {
        if let Some(t) = t {
            subs.push(tag);
            ifds.push(keep(t));
        }
    }
    let (u16b, u32b) = (
        |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        },
        |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        },
    );
    // IFD0 gets one LONG pointer per sub-IFD, filled in below.
    for &tag in &subs {
        ifds[0].push((tag, 4, 1, vec![0; 4]));
    }
    for ifd in &mut ifds {
        ifd.sort_by_key(|e| e.0);
    }
    let size = |ifd: &[(u16, u16, u32, Vec<u8>)]| -> usize {
        2 + 12 * ifd.len()
            + 4
            + ifd
                .iter()
                .map(|e| {
                    if e.3.len() > 4 {
                        (e.3.len() + 1) & !1
                    } else {
                        0
                    }
                })
                .sum::<usize>()
    };
    let mut starts = vec![8usize];
    for ifd in &ifds[..ifds.len() - 1] {
        starts.push(starts.last()? + size(ifd));
    }
    for (i, &tag) in subs.iter().enumerate() {
        let e = ifds[0].iter_mut().find(|e| e.0 == tag)?;
        e.3 = u32b(u32::try_from(starts[i + 1]).ok()?).to_vec();
    }
    let mut out = Vec::new();
    out.extend_from_slice(if big { b"MM\0*" } else { b"II*\0" });
    out.extend_from_slice(&u32b(8));
    for (ifd, &start) in ifds.iter().zip(&starts) {
        let mut data = start + 2 + 12 * ifd.len() + 4;
        let mut tail = Vec::new();
        out.extend_from_slice(&u16b(u16::try_from(ifd.len()).ok()?));
        for (tag, kind, count, v) in ifd {
            out.extend_from_slice(&u16b(*tag));
            out.extend_from_slice(&u16b(*kind));
            out.extend_from_slice(&u32b(*count));
            if v.len() <= 4 {
                let mut inline = v.clone();
                inline.resize(4, 0);
                out.extend_from_slice(&inline);
            } else {
                out.extend_from_slice(&u32b(u32::try_from(data).ok()?));
                tail.extend_from_slice(v);
                if v.len() % 2 == 1 {
                    tail.push(0);
                }
                data += (v.len() + 1) & !1;
            }
        }
        out.extend_from_slice(&u32b(0));
        out.extend_from_slice(&tail);
    }
    Some(out)
}

/// The largest JPEG preview a RAW file of this kind carries, with its bytes:
/// `None` when there is none that lies inside the file and reads as a
/// baseline or progressive JPEG.
pub fn largest_preview(bytes: &[u8], kind: RawKind) -> Option<(RawPreview, &[u8])> {
    let all = candidates(bytes, kind);
    let mut best: Option<(RawPreview, &[u8])> = None;
    let mut valid = 0u32;
    for (offset, length, location) in all {
        let start = usize::try_from(offset).ok()?;
        let Some(jpeg) = usize::try_from(length)
            .ok()
            .and_then(|l| start.checked_add(l))
            .and_then(|end| bytes.get(start..end))
        else {
            continue;
        };
        let Some((width, height)) = jpeg_preview_size(jpeg) else {
            continue;
        };
        valid += 1;
        let area = u64::from(width) * u64::from(height);
        if best
            .as_ref()
            .is_none_or(|(b, _)| area > u64::from(b.width) * u64::from(b.height))
        {
            best = Some((
                RawPreview {
                    offset,
                    length,
                    width,
                    height,
                    location,
                    candidates: 0,
                },
                jpeg,
            ));
        }
    }
    best.map(|(mut p, j)| {
        p.candidates = valid;
        (p, j)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_magics_are_recognised_and_others_are_not() {
        assert_eq!(sniff(b"IIRO\x08\0\0\0"), Some(RawKind::VendorTiff));
        assert_eq!(sniff(b"IIU\0\x08\0\0\0"), Some(RawKind::VendorTiff));
        assert_eq!(sniff(b"FUJIFILMCCD-RAW 0201"), Some(RawKind::Raf));
        assert_eq!(sniff(b"\0\0\0\x18ftypcrx \0\0\0\x01"), Some(RawKind::Cr3));
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), None);
        assert_eq!(sniff(b"\0\0\0\x18ftypheic"), None);
    }

    #[test]
    fn every_prefix_of_a_tiff_walk_is_safe() {
        // IFD0 with a JPEGInterchangeFormat pointing past the end, a SubIFD
        // pointing at itself and a next-IFD loop.
        let mut b = b"II*\0\x08\0\0\0".to_vec();
        b.extend_from_slice(&3u16.to_le_bytes());
        for (tag, kind, count, value) in [
            (0x0201u16, 4u16, 1u32, 0xFFFF_FF00u32),
            (0x0202, 4, 1, 1000),
            (0x014A, 4, 1, 8),
        ] {
            b.extend_from_slice(&tag.to_le_bytes());
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(&count.to_le_bytes());
            b.extend_from_slice(&value.to_le_bytes());
        }
        b.extend_from_slice(&8u32.to_le_bytes());
        for cut in 0..=b.len() {
            assert!(largest_preview(&b[..cut], RawKind::Tiff).is_none());
            let _ = is_tiff_raw(&b[..cut]);
        }
    }

    /// The previews only a maker note (NEF's PreviewIFD, ORF's
    /// CameraSettings in both Olympus layouts) or a track (CR3's first
    /// `trak`) points at, in the committed seeds that
    /// tests/fixtures/raw/make.sh wrote with ExifTool (which reads back the
    /// same 64x75 JPEG from each): found, and every prefix and a sweep of
    /// bit flips is safe. The comparison with ExifTool's extraction on
    /// larger previews is tests/formats/main.rs.
    #[test]
    fn maker_note_and_track_previews_are_found_and_damage_is_safe() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raw");
        for (name, kind, location) in [
            ("nikon_preview_ifd.nef", RawKind::Tiff, "nikon_preview_ifd"),
            ("cr3_track1.cr3", RawKind::Cr3, "cr3_track1"),
            (
                "olympus_e1.orf",
                RawKind::VendorTiff,
                "olympus_camera_settings",
            ),
            (
                "olympus_u760.orf",
                RawKind::VendorTiff,
                "olympus_camera_settings",
            ),
        ] {
            let b = std::fs::read(dir.join(name)).unwrap();
            let (p, jpeg) =
                largest_preview(&b, kind).unwrap_or_else(|| panic!("{name}: no preview"));
            assert_eq!(p.location, location, "{name}");
            assert_eq!((p.width, p.height), (64, 75), "{name}");
            assert!(jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.ends_with(&[0xFF, 0xD9]));
            for cut in 0..b.len() {
                let _ = largest_preview(&b[..cut], kind);
            }
            let mut flipped = b.clone();
            for i in (0..b.len()).step_by(7) {
                for bit in [0x01u8, 0x80] {
                    flipped[i] ^= bit;
                    let _ = largest_preview(&flipped, kind);
                    let _ = is_tiff_raw(&flipped);
                    flipped[i] ^= bit;
                }
            }
        }
    }

    /// ExifTool's CR3 test file: the three CMT structures joined give
    /// ExifTool's Make, Model and LensModel (the field-by-field comparison
    /// is tests/library/exif_vs_exiftool.rs); every prefix is safe.
    #[test]
    fn cr3_exif_is_joined_and_prefixes_are_safe() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/ref/exif/exiftool-t-images/CanonRaw.cr3");
        let Ok(b) = std::fs::read(&p) else {
            eprintln!("skipped: {} is absent", p.display());
            return;
        };
        let tiff = cr3_exif_tiff(&b).unwrap();
        let exif = exif::Reader::new().read_raw(tiff).unwrap();
        let text = |t| {
            exif.get_field(t, exif::In::PRIMARY)
                .map(|f| f.display_value().to_string())
        };
        assert_eq!(text(exif::Tag::Make).as_deref(), Some("\"Canon\""));
        assert_eq!(text(exif::Tag::Model).as_deref(), Some("\"Canon EOS M50\""));
        assert_eq!(
            text(exif::Tag::LensModel).as_deref(),
            Some("\"EF-M15-45mm f/3.5-6.3 IS STM\"")
        );
        for cut in (0..b.len()).step_by(13) {
            let _ = cr3_exif_tiff(&b[..cut]);
        }
    }
}
