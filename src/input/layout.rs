//! A file's container structure, read once: the one parser of a JPEG's marker
//! segments that every later stage takes instead of walking the bytes again.
//! Container forensics lists and reads the segments
//! ([`crate::metadata::container`]), the EXIF reader takes the APP1 payload
//! (`metadata`), the decoder reads the frame size and the
//! completeness (EOI) from it (`decode`), the DC-only decoder its
//! tables and scan header ([`crate::decode::jpeg_dc`]), and the RAW preview
//! finder the size of each preview ([`super::raw`]).
//!
//! It records where things are (offsets and lengths into the bytes, never a
//! copy of a payload) and how the walk ended, and judges nothing: a damaged
//! file gives a shorter list and an [`End`] that says why, never an error or
//! a panic. Every offset is checked before use, and the list is capped at
//! [`MAX_SEGMENTS_KEPT`] entries whatever the file claims; the walk goes on
//! past the cap to find the end without keeping more.
//!
//! A PNG's chunks ([`PngLayout`]) and a WebP's ([`WebpLayout`]) are read
//! here too: container forensics and the EXIF reader take them. So are a
//! HEIF or AVIF file's top-level boxes ([`BmffLayout`]), which the HEIF item
//! reader, the C2PA store finder and the C2PA BMFF hash check take. The
//! item structure read from them (`input::heif`) is what `decode_heif`'s
//! tile check takes in the pipeline.

use std::ops::Range;

use crate::input::read::Format;

mod bmff;
mod png;
mod webp;

pub use bmff::{BmffBox, BmffEnd, BmffLayout, MAX_BMFF_BOXES_KEPT};
pub use png::{PngChunk, PngEnd, PngLayout, MAX_PNG_CHUNKS_KEPT, PNG_SIGNATURE};
pub use webp::{WebpChunk, WebpEnd, WebpLayout, MAX_WEBP_CHUNKS_KEPT};

/// JPEG marker codes (ITU T.81 table B.1) that retrace reads by name.
pub mod marker {
    /// Temporary use in arithmetic coding; stands alone.
    pub const TEM: u8 = 0x01;
    /// Baseline DCT frame header.
    pub const SOF0: u8 = 0xC0;
    /// Extended sequential DCT frame header (Huffman).
    pub const SOF1: u8 = 0xC1;
    /// Progressive DCT frame header (Huffman).
    pub const SOF2: u8 = 0xC2;
    /// Huffman tables.
    pub const DHT: u8 = 0xC4;
    /// Reserved for JPEG extensions; not a frame header.
    pub const JPG: u8 = 0xC8;
    /// Arithmetic coding conditioning; not a frame header.
    pub const DAC: u8 = 0xCC;
    /// First restart marker (RST0–RST7 are 0xD0–0xD7); they stand alone.
    pub const RST0: u8 = 0xD0;
    /// Last restart marker.
    pub const RST7: u8 = 0xD7;
    /// Start of image; stands alone.
    pub const SOI: u8 = 0xD8;
    /// End of image; stands alone.
    pub const EOI: u8 = 0xD9;
    /// Start of scan: entropy-coded data follows its header.
    pub const SOS: u8 = 0xDA;
    /// Quantization tables.
    pub const DQT: u8 = 0xDB;
    /// Restart interval.
    pub const DRI: u8 = 0xDD;
    /// APP0 (JFIF).
    pub const APP0: u8 = 0xE0;
    /// APP1 (EXIF, XMP).
    pub const APP1: u8 = 0xE1;
    /// APP2 (ICC profile, MPF).
    pub const APP2: u8 = 0xE2;
    /// APP11 (JUMBF: C2PA).
    pub const APP11: u8 = 0xEB;
    /// APP13 (Photoshop resources: IPTC).
    pub const APP13: u8 = 0xED;
    /// APP14 (Adobe).
    pub const APP14: u8 = 0xEE;
    /// Comment.
    pub const COM: u8 = 0xFE;

    /// A frame header (SOF0–SOF15), not the DHT, JPG and DAC codes that
    /// share the range.
    pub fn is_sof(m: u8) -> bool {
        matches!(m, 0xC0..=0xCF) && !matches!(m, DHT | JPG | DAC)
    }

    /// A marker without a length: TEM and the restart markers (SOI and EOI,
    /// which also stand alone, are told apart by the walk).
    pub fn stands_alone(m: u8) -> bool {
        m == TEM || (RST0..=RST7).contains(&m)
    }
}

/// Most segments a [`JpegLayout`] keeps. A photo has a few dozen (a file
/// with a long extended XMP or a split ICC profile a few hundred); a hostile
/// file of 4-byte segments could otherwise make the list eight times its own
/// size. Past the cap the walk still runs to the end, and
/// [`JpegLayout::segments_dropped`] counts what was not kept.
pub const MAX_SEGMENTS_KEPT: usize = 100_000;

/// The structure of one file, as far as retrace reads containers: built once
/// after the file is read, then lent to every stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// A JPEG's marker segments.
    Jpeg(JpegLayout),
    /// A PNG's chunks.
    Png(PngLayout),
    /// A WebP's RIFF chunks.
    Webp(WebpLayout),
    /// A HEIF or AVIF file's top-level boxes.
    Bmff(BmffLayout),
    /// A format whose structure is not read here (yet): its readers walk it
    /// themselves.
    #[default]
    Other,
}

impl Layout {
    /// The structure of `bytes` as `format` says they are laid out.
    pub fn read(bytes: &[u8], format: Format) -> Layout {
        match format {
            Format::Jpeg => Layout::Jpeg(JpegLayout::read(bytes)),
            Format::Png => Layout::Png(PngLayout::read(bytes)),
            Format::Webp => Layout::Webp(WebpLayout::read(bytes)),
            Format::Heif => Layout::Bmff(BmffLayout::read(bytes)),
            _ => Layout::Other,
        }
    }

    /// The JPEG structure, when the file is a JPEG.
    pub fn jpeg(&self) -> Option<&JpegLayout> {
        match self {
            Layout::Jpeg(j) => Some(j),
            _ => None,
        }
    }

    /// The PNG structure, when the file is a PNG.
    pub fn png(&self) -> Option<&PngLayout> {
        match self {
            Layout::Png(p) => Some(p),
            _ => None,
        }
    }

    /// The WebP structure, when the file is a WebP.
    pub fn webp(&self) -> Option<&WebpLayout> {
        match self {
            Layout::Webp(w) => Some(w),
            _ => None,
        }
    }

    /// The top-level boxes, when the file is a HEIF or AVIF.
    pub fn bmff(&self) -> Option<&BmffLayout> {
        match self {
            Layout::Bmff(b) => Some(b),
            _ => None,
        }
    }
}

/// One marker of a JPEG: a segment with its payload, or a marker that
/// stands alone (SOI, EOI, RSTn, TEM; empty payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The marker code (the byte after 0xFF).
    pub marker: u8,
    /// Offset of the 0xFF that starts the marker (the last one, when fill
    /// bytes precede it).
    pub offset: usize,
    /// The segment's length field (it counts its own two bytes); 0 for a
    /// marker that stands alone.
    pub length: usize,
    /// Where the payload (after the length field) lies in the file.
    pub payload: Range<usize>,
}

impl Segment {
    /// The payload's bytes, from the bytes this layout was read from.
    pub fn data<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        bytes.get(self.payload.clone()).unwrap_or_default()
    }
}

/// How a walk over a JPEG's markers ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The EOI marker, the last entry of [`JpegLayout::segments`] (unless
    /// the list was capped).
    Eoi,
    /// The bytes do not start with SOI: nothing was read.
    NoSoi,
    /// The bytes ran out between segments (or in fill bytes) before EOI.
    Eof,
    /// A byte other than 0xFF at `offset`, where a marker was due.
    NotAMarker {
        /// Where.
        offset: usize,
    },
    /// 0xFF00 (a stuffed byte, only meaningful inside scan data) at
    /// `offset`, where a marker was due.
    Stuffed {
        /// Where.
        offset: usize,
    },
    /// A marker whose length field the bytes cut off.
    TruncatedLength {
        /// The marker code.
        marker: u8,
    },
    /// A segment whose length is under 2 or runs past the end of the bytes.
    Overrun {
        /// The marker code.
        marker: u8,
        /// Offset of its 0xFF.
        offset: usize,
        /// Its length field.
        length: usize,
    },
    /// The walk stopped after the first scan header, as asked
    /// ([`JpegLayout::headers`]): the rest was not read.
    FirstScan,
}

/// A JPEG's markers in file order, each segment found by its length and the
/// entropy-coded data after each SOS skipped, in one linear pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JpegLayout {
    /// Every marker from SOI on, in file order, at most
    /// [`MAX_SEGMENTS_KEPT`].
    pub segments: Vec<Segment>,
    /// Markers walked past but not kept (over [`MAX_SEGMENTS_KEPT`]).
    pub segments_dropped: usize,
    /// How the walk ended.
    pub end: End,
}

impl JpegLayout {
    /// The whole file's markers, to EOI or to whatever stops the walk.
    pub fn read(bytes: &[u8]) -> JpegLayout {
        walk(bytes, false)
    }

    /// The markers up to and including the first SOS: the headers a decoder
    /// needs, without a pass over the entropy-coded data (for a caller that
    /// holds only the bytes and wants the frame size or the tables).
    pub fn headers(bytes: &[u8]) -> JpegLayout {
        walk(bytes, true)
    }

    /// Whether the walk reached EOI.
    pub fn reached_eoi(&self) -> bool {
        self.end == End::Eoi
    }

    /// Whether the file is whole: the walk reached EOI with no second SOI
    /// on the way. The JPEG decoders are lenient and fill a missing part in
    /// grey, which would silently hash a different picture; a second SOI
    /// among the headers is damage too (jpeg-decoder stops there with
    /// "Premature End of image"), and the completeness check has always
    /// called such a file damaged.
    pub fn complete(&self) -> bool {
        self.reached_eoi()
            && !self
                .segments
                .iter()
                .skip(1)
                .any(|s| s.marker == marker::SOI)
    }

    /// The markers before the first scan (SOI excluded), in file order.
    pub fn before_scan(&self) -> impl Iterator<Item = &Segment> {
        let mut done = false;
        self.segments.iter().skip(1).take_while(move |s| {
            let take = !done;
            done |= s.marker == marker::SOS;
            take
        })
    }

    /// The stored size from the first frame header (SOF0–SOF15 but DHT, JPG
    /// and DAC) before any scan. `None` when another marker comes first that
    /// is not a table or an APPn (a second SOI, a scan, a marker that stands
    /// alone, EOI), when the walk ends first, or for a size of zero (a
    /// height to come from a DNL marker): callers then ask a decoder.
    pub fn frame_size(&self, bytes: &[u8]) -> Option<(u32, u32)> {
        let sof = self.first_frame_header()?;
        if !marker::is_sof(sof.marker) {
            return None;
        }
        let d = sof.data(bytes);
        // Precision (1), height (2), width (2).
        let h = u16::from_be_bytes([*d.get(1)?, *d.get(2)?]);
        let w = u16::from_be_bytes([*d.get(3)?, *d.get(4)?]);
        (w > 0 && h > 0).then_some((u32::from(w), u32::from(h)))
    }

    /// The first segment before any scan that is a frame header or ends the
    /// search for one (SOI, SOS, a marker that stands alone, EOI).
    pub fn first_frame_header(&self) -> Option<&Segment> {
        self.segments.iter().skip(1).find(|s| {
            marker::is_sof(s.marker)
                || matches!(s.marker, marker::SOI | marker::SOS | marker::EOI)
                || marker::stands_alone(s.marker)
        })
    }

    /// The first APP1 segment whose payload starts with `Exif\0\0`, as the
    /// EXIF reader (kamadak-exif) picks it, and whether a reader that walks
    /// the markers as kamadak-exif does would reach it: `None` when the
    /// answer needs its walk (see [`ExifSegment`]).
    pub fn exif(&self, bytes: &[u8]) -> ExifSegment {
        const EXIF_ID: &[u8] = b"Exif\0\0";
        for s in self.segments.iter().skip(1) {
            match s.marker {
                // kamadak-exif stops at a second SOI with an error.
                marker::SOI => return ExifSegment::Unsure,
                marker::APP1 if s.data(bytes).starts_with(EXIF_ID) => {
                    let p = &s.payload;
                    return ExifSegment::At(p.start + EXIF_ID.len()..p.end);
                }
                _ => {}
            }
        }
        if self.reached_eoi() && self.segments_dropped == 0 {
            ExifSegment::Absent
        } else {
            ExifSegment::Unsure
        }
    }
}

/// Where a file's EXIF block is, as far as the walk can tell.
///
/// For a JPEG: kamadak-exif's own reader resynchronises on the next 0xFF after bytes that
/// are not a marker and stops at a second SOI; the walk here follows T.81
/// and stops at the first thing that is not a marker. On a well-formed file
/// both see the same segments, and these answers are the same as its own.
/// On a damaged one (`Unsure`) the EXIF reader asks kamadak-exif to walk.
/// For a PNG see [`PngLayout::exif`], for a WebP [`WebpLayout::exif`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExifSegment {
    /// The TIFF-structured block (after `Exif\0\0`) lies here.
    At(Range<usize>),
    /// The walk reached EOI without one.
    Absent,
    /// The walk ended early or met a second SOI before finding one.
    Unsure,
}

fn walk(bytes: &[u8], stop_at_scan: bool) -> JpegLayout {
    let mut j = JpegLayout {
        segments: Vec::new(),
        segments_dropped: 0,
        end: End::Eof,
    };
    let keep = |j: &mut JpegLayout, s: Segment| {
        if j.segments.len() < MAX_SEGMENTS_KEPT {
            j.segments.push(s);
        } else {
            j.segments_dropped += 1;
        }
    };
    if !bytes.starts_with(&[0xFF, marker::SOI]) {
        j.end = End::NoSoi;
        return j;
    }
    keep(
        &mut j,
        Segment {
            marker: marker::SOI,
            offset: 0,
            length: 0,
            payload: 2..2,
        },
    );
    let mut pos = 2usize;
    while pos < bytes.len() {
        if bytes[pos] != 0xFF {
            j.end = End::NotAMarker { offset: pos };
            return j;
        }
        // Fill bytes: any number of 0xFF may precede a marker.
        let mut at = pos + 1;
        while bytes.get(at) == Some(&0xFF) {
            at += 1;
        }
        let Some(&m) = bytes.get(at) else { break };
        let start = at - 1;
        pos = at + 1;
        let alone = |m: u8| Segment {
            marker: m,
            offset: start,
            length: 0,
            payload: pos..pos,
        };
        match m {
            marker::EOI => {
                keep(&mut j, alone(m));
                j.end = End::Eoi;
                return j;
            }
            marker::SOI => {
                keep(&mut j, alone(m));
                continue;
            }
            m if marker::stands_alone(m) => {
                keep(&mut j, alone(m));
                continue;
            }
            0x00 => {
                j.end = End::Stuffed { offset: start };
                return j;
            }
            _ => {}
        }
        let (Some(&hi), Some(&lo)) = (bytes.get(pos), bytes.get(pos + 1)) else {
            j.end = End::TruncatedLength { marker: m };
            return j;
        };
        let length = usize::from(u16::from_be_bytes([hi, lo]));
        let end = pos + length;
        if length < 2 || end > bytes.len() {
            j.end = End::Overrun {
                marker: m,
                offset: start,
                length,
            };
            return j;
        }
        keep(
            &mut j,
            Segment {
                marker: m,
                offset: start,
                length,
                payload: pos + 2..end,
            },
        );
        pos = end;
        if m == marker::SOS {
            if stop_at_scan {
                j.end = End::FirstScan;
                return j;
            }
            pos = skip_entropy_coded(bytes, pos);
        }
    }
    j
}

/// Where the entropy-coded data from `pos` ends: the next marker that is not a
/// stuffed byte (FF00), a restart marker or fill, or the end of the file.
///
/// That data is nearly all of a photo's bytes, so the search for its next 0xFF
/// is memchr's (vectorised), not a byte-by-byte loop.
pub fn skip_entropy_coded(bytes: &[u8], pos: usize) -> usize {
    let mut k = pos;
    while let Some(i) = bytes.get(k..).and_then(|rest| memchr::memchr(0xFF, rest)) {
        let at = k + i;
        match bytes.get(at + 1) {
            Some(0x00 | 0xD0..=0xD7 | 0xFF) => k = at + 1,
            Some(_) => return at,
            None => break,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let mut out = Vec::new();
        for sub in ["archive", "incoming", "not-in-archive"] {
            for e in std::fs::read_dir(dir.join(sub)).unwrap().flatten() {
                let bytes = std::fs::read(e.path()).unwrap();
                if bytes.starts_with(&[0xFF, 0xD8]) {
                    out.push((e.path().display().to_string(), bytes));
                }
            }
        }
        assert!(out.len() >= 10, "only {} sample JPEGs", out.len());
        out
    }

    /// The definition [`skip_entropy_coded`] must meet, a position at a time:
    /// the first 0xFF from `pos` followed by a byte that is not a stuffed 0x00,
    /// a restart code or more fill.
    fn skip_entropy_coded_bytewise(bytes: &[u8], pos: usize) -> usize {
        (pos..bytes.len().saturating_sub(1))
            .find(|&i| bytes[i] == 0xFF && !matches!(bytes[i + 1], 0x00 | 0xD0..=0xD7 | 0xFF))
            .unwrap_or(bytes.len())
    }

    #[test]
    fn entropy_coded_data_ends_where_the_bytewise_scan_says() {
        // Bytes drawn mostly from the ones that matter here (0xFF, 0x00, the
        // restart markers, a real marker), at every start and length.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let pick = [0xFF, 0xFF, 0x00, 0xD0, 0xD7, 0xD9, 0xC4, 0x12, 0xFE];
        for len in 0..64 {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        let r = next();
                        if r % 3 == 0 {
                            r as u8 >> 1
                        } else {
                            pick[(r >> 8) as usize % pick.len()]
                        }
                    })
                    .collect();
                for pos in 0..=len {
                    assert_eq!(
                        skip_entropy_coded(&bytes, pos),
                        skip_entropy_coded_bytewise(&bytes, pos),
                        "{bytes:02X?} from {pos}"
                    );
                }
            }
        }
        // And on real photos: the scan of every sample ends at the same marker.
        for (_, bytes) in samples() {
            for pos in (0..bytes.len()).step_by(997) {
                assert_eq!(
                    skip_entropy_coded(&bytes, pos),
                    skip_entropy_coded_bytewise(&bytes, pos)
                );
            }
        }
    }

    /// Every sample walks to EOI, each segment's length field and payload
    /// agree and lie inside the file, in order, and the header-only walk is
    /// the full walk's prefix up to the first scan.
    #[test]
    fn samples_walk_to_eoi_with_consistent_segments() {
        for (name, bytes) in samples() {
            let j = JpegLayout::read(&bytes);
            assert!(j.complete(), "{name}: {:?}", j.end);
            assert_eq!(j.segments.last().map(|s| s.marker), Some(marker::EOI));
            let mut last = 0;
            for s in &j.segments[1..] {
                assert!(s.offset >= last.max(2), "{name}: order");
                assert_eq!(bytes[s.offset], 0xFF);
                assert_eq!(bytes[s.offset + 1], s.marker);
                if s.length > 0 {
                    assert_eq!(s.payload.len() + 2, s.length, "{name}");
                    assert_eq!(s.payload.start, s.offset + 4);
                }
                assert!(s.payload.end <= bytes.len());
                last = s.payload.end;
            }
            let h = JpegLayout::headers(&bytes);
            assert_eq!(h.end, End::FirstScan, "{name}");
            assert_eq!(h.segments[..], j.segments[..h.segments.len()]);
            assert_eq!(h.segments.last().unwrap().marker, marker::SOS);
            assert!(j.frame_size(&bytes).is_some(), "{name}");
            assert_eq!(h.frame_size(&bytes), j.frame_size(&bytes));
        }
    }

    /// Every prefix of a real file ends the walk without EOI and without a
    /// panic, and the segments it keeps are the whole file's.
    #[test]
    fn every_prefix_is_incomplete() {
        let (_, bytes) = samples().into_iter().next().unwrap();
        let whole = JpegLayout::read(&bytes);
        let step = (bytes.len() / 200).max(1);
        let cuts = (0..400).chain((400..bytes.len()).step_by(step));
        for cut in cuts.filter(|&c| c < bytes.len()) {
            let j = JpegLayout::read(&bytes[..cut]);
            assert!(!j.complete(), "prefix {cut}");
            assert_eq!(j.segments[..], whole.segments[..j.segments.len()]);
        }
    }

    #[test]
    fn damaged_walks_say_why_they_ended() {
        let end = |b: &[u8]| JpegLayout::read(b).end;
        assert_eq!(end(b""), End::NoSoi);
        assert_eq!(end(b"\xFF\xD8"), End::Eof);
        assert_eq!(end(b"\xFF\xD8\xFF\xFF"), End::Eof);
        assert_eq!(end(b"\xFF\xD8\x12"), End::NotAMarker { offset: 2 });
        assert_eq!(end(b"\xFF\xD8\xFF\x00"), End::Stuffed { offset: 2 });
        assert_eq!(
            end(b"\xFF\xD8\xFF\xE1\x00"),
            End::TruncatedLength { marker: 0xE1 }
        );
        assert_eq!(
            end(b"\xFF\xD8\xFF\xE1\x00\x01"),
            End::Overrun {
                marker: 0xE1,
                offset: 2,
                length: 1
            }
        );
        assert_eq!(
            end(b"\xFF\xD8\xFF\xFF\xE1\x00\x09abc"),
            End::Overrun {
                marker: 0xE1,
                offset: 3,
                length: 9
            }
        );
        // A second SOI and restart markers stand alone; fill before EOI.
        // The walk reaches EOI, but a second SOI is damage.
        let j = JpegLayout::read(b"\xFF\xD8\xFF\xD8\xFF\xD0\xFF\xFE\x00\x03x\xFF\xFF\xD9");
        assert!(j.reached_eoi());
        assert!(!j.complete());
        let markers: Vec<u8> = j.segments.iter().map(|s| s.marker).collect();
        assert_eq!(markers, [0xD8, 0xD8, 0xD0, 0xFE, 0xD9]);
        assert_eq!(j.segments[3].payload, 10..11);
        assert_eq!(j.segments[4].offset, 12);
        // Scan data with stuffed bytes and restarts is skipped to EOI.
        let j = JpegLayout::read(b"\xFF\xD8\xFF\xDA\x00\x02ab\xFF\x00c\xFF\xD3d\xFF\xD9");
        assert!(j.complete());
        assert_eq!(j.segments.len(), 3);
    }

    /// A file of more markers than are kept still walks to its end, and
    /// says how many were not kept.
    #[test]
    fn the_list_is_capped_and_the_walk_goes_on() {
        let mut b = vec![0xFF, 0xD8];
        for _ in 0..MAX_SEGMENTS_KEPT + 10 {
            b.extend_from_slice(&[0xFF, 0xD0]);
        }
        b.extend_from_slice(&[0xFF, 0xD9]);
        let j = JpegLayout::read(&b);
        assert!(j.complete());
        assert_eq!(j.segments.len(), MAX_SEGMENTS_KEPT);
        assert_eq!(j.segments_dropped, 12);
    }

    #[test]
    fn exif_segment_is_found_or_the_answer_left_to_the_reader() {
        let app1 = b"\xFF\xE1\x00\x0EExif\0\0MM\0*\0\0";
        let mut b = b"\xFF\xD8".to_vec();
        b.extend_from_slice(app1);
        b.extend_from_slice(b"\xFF\xD9");
        let j = JpegLayout::read(&b);
        assert_eq!(j.exif(&b), ExifSegment::At(12..18));
        assert_eq!(&b[12..16], b"MM\0*");
        let j = JpegLayout::read(b"\xFF\xD8\xFF\xFE\x00\x03x\xFF\xD9");
        assert_eq!(
            j.exif(b"\xFF\xD8\xFF\xFE\x00\x03x\xFF\xD9"),
            ExifSegment::Absent
        );
        // Cut short, or past a second SOI: kamadak-exif's own walk decides.
        let cut = &b[..b.len() - 2];
        assert_eq!(
            JpegLayout::read(cut).exif(cut),
            ExifSegment::At(12..18),
            "found before the cut"
        );
        let cut = b"\xFF\xD8\xFF\xFE\x00\x03x";
        assert_eq!(JpegLayout::read(cut).exif(cut), ExifSegment::Unsure);
        let mut soi = b"\xFF\xD8\xFF\xD8".to_vec();
        soi.extend_from_slice(app1);
        soi.extend_from_slice(b"\xFF\xD9");
        assert_eq!(JpegLayout::read(&soi).exif(&soi), ExifSegment::Unsure);
    }
}
