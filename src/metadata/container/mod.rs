//! Container forensics: what the file's structure still says beyond EXIF. The
//! JPEG segment list (which encoder wrote it, at which quality, with which
//! subsampling), the XMP packet, IPTC-IIM from the Photoshop APP13 resource,
//! the ICC profile's description, JPEG comments and PNG text chunks.
//!
//! It owns parsing these blocks from the file bytes and nothing else: it must
//! not read files, decode pixels, judge (assess does that) or fail. The input
//! comes from strangers: every length is checked before use, every count and
//! string is capped, and every allocation is bounded by
//! [`Limits::max_metadata_bytes`]. Problems become [`Container::warnings`].
//! Strings are kept raw; renderers escape them.
//!
//! One file per format walk (`jpeg`, `png`, `webp`) and per block found in
//! them (`xmp`, `iptc`, `icc`); this one holds the record, the dispatch by
//! format (a HEIF's item structure and C2PA store come from `input::heif`
//! and `c2pa`, read from the same top-level boxes), the caps and the text
//! helpers they share.

use serde::{Deserialize, Serialize};

use crate::input::layout::{BmffLayout, End, JpegLayout, Layout, PngLayout, WebpLayout};
use crate::input::read::Format;
use crate::limits::Limits;
use crate::metadata::c2pa::Carrier;

mod icc;
mod iptc;
mod jpeg;
mod png;
mod webp;
mod xmp;

pub use iptc::Iptc;
pub use jpeg::{ijg_scaled, AppId, JpegStructure, Marker, QuantTable, Segment, MAX_SEGMENTS};
pub use png::PngText;
pub use xmp::{HistoryEvent, Xmp};

use icc::icc_description;
use iptc::parse_irb;
use jpeg::walk_jpeg;
use png::walk_png;
use webp::walk_webp;
use xmp::{parse_xmp, scan_xmp_packet};

/// Longest text value kept, in characters (then cut with "…").
pub const MAX_TEXT_CHARS: usize = 2000;
/// Most entries kept in any list (comments, PNG text chunks, keywords, history).
pub const MAX_ENTRIES: usize = 64;

/// Everything the container says, per file. Part of the report under
/// `metadata.container`; fields only ever get added.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Container {
    /// The JPEG structure, for JPEG files.
    pub jpeg: Option<JpegStructure>,
    /// The XMP packet's provenance fields, when there is a packet.
    pub xmp: Option<Xmp>,
    /// IPTC-IIM (Photoshop APP13 resource 0x0404), when present.
    pub iptc: Option<Iptc>,
    /// The ICC profile's description ('desc' tag), when a profile is embedded.
    pub icc_description: Option<String>,
    /// JPEG COM segments, in file order.
    pub comments: Vec<String>,
    /// PNG tEXt / zTXt / iTXt chunks (the XMP packet excepted), in file order.
    pub png_text: Vec<PngText>,
    /// Structural problems found while reading these blocks.
    pub warnings: Vec<String>,
    /// Content Credentials (C2PA manifest store), when the file carries one.
    pub c2pa: Option<crate::metadata::c2pa::ContentCredentials>,
    /// The HEIF item structure (HEIC, HEIF, AVIF): the primary picture, its
    /// thumbnails and auxiliary images, with their sizes and transformations.
    pub heif: Option<crate::input::heif::HeifStructure>,
}

/// Read the container structure of a file already in memory. Never fails and
/// never panics on any input; formats without these blocks give an empty record.
pub fn read_container(bytes: &[u8], format: Format, limits: &Limits) -> Container {
    read_container_with(bytes, format, &Layout::read(bytes, format), limits)
}

/// [`read_container`] from the file's structure already read
/// ([`Layout::read`]: a JPEG's segments, a PNG's or WebP's chunks, a HEIF's
/// top-level boxes); a layout that does not cover the whole file or is of
/// another format than `format` is read again here.
pub fn read_container_with(
    bytes: &[u8],
    format: Format,
    layout: &Layout,
    limits: &Limits,
) -> Container {
    let max = usize::try_from(limits.max_metadata_bytes).unwrap_or(usize::MAX);
    let mut c = Container::default();
    let mut raw = Raw::default();
    // A HEIF's top-level boxes, when the layout did not bring them: read
    // once here for the item reader, the C2PA store and its hash check.
    let mut own_bmff = None;
    match format {
        Format::Jpeg => {
            let own;
            let jpeg = match layout.jpeg() {
                Some(j) if j.end != End::FirstScan => j,
                _ => {
                    own = JpegLayout::read(bytes);
                    &own
                }
            };
            c.jpeg = Some(walk_jpeg(bytes, jpeg, max, &mut raw, &mut c));
        }
        Format::Png => {
            let own;
            let png = match layout.png() {
                Some(p) => p,
                None => {
                    own = PngLayout::read(bytes);
                    &own
                }
            };
            walk_png(bytes, png, max, &mut raw, &mut c);
        }
        Format::Webp => {
            let own;
            let webp = match layout.webp() {
                Some(w) => w,
                None => {
                    own = WebpLayout::read(bytes);
                    &own
                }
            };
            walk_webp(bytes, webp, &mut raw);
        }
        // TIFF tag 700 and HEIF items hold a plain packet: the XMP spec's
        // packet scanning finds it without walking those containers.
        Format::Tiff => raw.xmp = scan_xmp_packet(bytes).map(<[u8]>::to_vec),
        Format::Heif => {
            raw.xmp = scan_xmp_packet(bytes).map(<[u8]>::to_vec);
            let boxes: &BmffLayout = match layout.bmff() {
                Some(b) => b,
                None => own_bmff.insert(BmffLayout::read(bytes)),
            };
            c.heif = crate::input::heif::read_structure_with(bytes, boxes, limits, &mut c.warnings);
            // Only the top-level C2PA `uuid` box is looked for; the hash
            // binding's check starts from the same top-level boxes and
            // descends into the containers an exclusion can name.
            if let Some(store) =
                crate::metadata::c2pa::bmff_store_with(bytes, boxes, max, &mut c.warnings)
            {
                raw.c2pa = Some((Carrier::BmffUuid, store.to_vec()));
            }
        }
        _ => {}
    }
    if let Some(packet) = raw.xmp.take() {
        if packet.len() > max {
            c.warnings.push(format!(
                "XMP packet is {} bytes, over the {max}-byte metadata limit; not parsed",
                packet.len()
            ));
        } else {
            c.xmp = Some(parse_xmp(&packet, &mut c.warnings));
        }
    }
    if let Some(irb) = raw.irb.take() {
        c.iptc = parse_irb(&irb, &mut c.warnings);
    }
    if let Some((carrier, store)) = raw.c2pa.take().filter(|(carrier, s)| {
        let fits = s.len() <= max;
        if !fits {
            c.warnings.push(format!(
                "{carrier} C2PA store is {} bytes, over the {max}-byte metadata limit; not read",
                s.len()
            ));
        }
        fits
    }) {
        let store = crate::metadata::c2pa::Store {
            carrier,
            bytes: store.into(),
        };
        let top = match format {
            Format::Heif => layout.bmff().or(own_bmff.as_ref()),
            _ => None,
        };
        c.c2pa = Some(crate::metadata::c2pa::read_with(&store, bytes, top, limits));
    }
    if let Some(icc) = raw.icc.take() {
        c.icc_description = icc_description(&icc);
        if c.icc_description.is_none() {
            c.warnings
                .push("ICC profile has no readable description".to_string());
        }
    }
    if c.warnings.len() > MAX_WARNINGS {
        // A hostile file can repeat one fault per chunk (100,000 keyword-less
        // tEXt chunks made 100,000 lines): the first ones say what is wrong,
        // the count says how much.
        let more = c.warnings.len() - MAX_WARNINGS;
        c.warnings.truncate(MAX_WARNINGS);
        c.warnings.push(format!(
            "… and {more} more warnings about this file's structure, not listed"
        ));
    }
    c
}

/// Container warnings listed in one report; past it they are counted.
pub const MAX_WARNINGS: usize = 100;

/// Blocks collected by the walkers, parsed afterwards.
#[derive(Default)]
struct Raw {
    xmp: Option<Vec<u8>>,
    irb: Option<Vec<u8>>,
    icc: Option<Vec<u8>>,
    /// The C2PA manifest store and where it was found.
    c2pa: Option<(Carrier, Vec<u8>)>,
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(usize::from(u16::from_be_bytes([s[0], s[1]])))
}

fn be32(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(4)?)?;
    usize::try_from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])).ok()
}

/// Text from bytes: UTF-8 when valid, else Latin-1 (what IIM and PNG tEXt use
/// by default). Control characters stay; renderers escape them. Capped.
fn text_of(b: &[u8]) -> String {
    let b = match b.iter().rposition(|&x| x != 0) {
        Some(end) => &b[..=end],
        None => &[],
    };
    let s = match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => b.iter().map(|&x| char::from(x)).collect(),
    };
    cap(s.trim())
}

fn cap(s: &str) -> String {
    if s.chars().count() <= MAX_TEXT_CHARS {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX_TEXT_CHARS).collect();
        t.push('…');
        t
    }
}

/// Fill an empty slot with a trimmed, capped value; a blank value or a later
/// repeat leaves it as it is (XMP properties and IIM fields alike).
fn set_once(slot: &mut Option<String>, v: &str) {
    if slot.is_none() && !v.trim().is_empty() {
        *slot = Some(cap(v.trim()));
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Append `more` to `buf` unless the result would pass `max`; says whether it fit.
fn append_bounded(buf: &mut Vec<u8>, more: &[u8], max: usize) -> bool {
    if buf.len().saturating_add(more.len()) > max {
        return false;
    }
    buf.extend_from_slice(more);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_repeated_in_every_chunk_is_listed_a_hundred_times_then_counted() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/container/PNG.png"
        );
        let png = std::fs::read(path).unwrap();
        // After the signature and IHDR (8 + 25 bytes): 5,000 tEXt chunks of
        // one byte with no keyword terminator, each a warning of its own.
        let mut bytes = png[..33].to_vec();
        for _ in 0..5_000 {
            bytes.extend_from_slice(&[0, 0, 0, 1, b't', b'E', b'X', b't', b'a', 0, 0, 0, 0]);
        }
        bytes.extend_from_slice(&png[33..]);
        let c = super::read_container(&bytes, Format::Png, &Limits::default());
        assert_eq!(c.warnings.len(), super::MAX_WARNINGS + 1);
        assert!(c.warnings[0].contains("tEXt chunk without a keyword terminator"));
        assert!(c.warnings[super::MAX_WARNINGS].contains("4900 more warnings"));
        // The whole file still reads: an untouched PNG has no such warning.
        let clean = super::read_container(&png, Format::Png, &Limits::default());
        assert!(clean.warnings.len() < 5, "{:?}", clean.warnings);
    }
}
