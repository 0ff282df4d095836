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

use miniz_oxide::inflate::decompress_to_vec_zlib_with_limit;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use serde::{Deserialize, Serialize};

use crate::input::layout::{
    marker, BmffLayout, End, JpegLayout, Layout, PngEnd, PngLayout, WebpLayout, MAX_PNG_CHUNKS_KEPT,
};
use crate::input::read::Format;
use crate::limits::Limits;

/// Most JPEG segments listed; a real file has a few dozen at most.
pub const MAX_SEGMENTS: usize = 512;
/// Longest text value kept, in characters (then cut with "…").
pub const MAX_TEXT_CHARS: usize = 2000;
/// Most entries kept in any list (comments, PNG text chunks, keywords, history).
pub const MAX_ENTRIES: usize = 64;
/// Deepest XML nesting followed in an XMP packet.
const MAX_XML_DEPTH: usize = 64;

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

/// One PNG text chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PngText {
    /// The chunk's keyword ("Software", "Comment", …).
    pub keyword: String,
    /// Its text.
    pub text: String,
}

/// The layout of a JPEG file and what its quantization tables say.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct JpegStructure {
    /// Segments in file order (at most [`MAX_SEGMENTS`]).
    pub segments: Vec<Segment>,
    /// True when the file has more segments than were listed.
    pub segments_truncated: bool,
    /// APP0 JFIF (or JFXX) present.
    pub jfif: bool,
    /// APP1 EXIF present.
    pub exif: bool,
    /// APP1 XMP (or extended XMP) present.
    pub xmp: bool,
    /// APP2 ICC_PROFILE present.
    pub icc: bool,
    /// APP14 Adobe present (written by Adobe software and some others).
    pub adobe: bool,
    /// APP2 MPF present (multi-picture: phones and cameras store previews there).
    pub mpf: bool,
    /// The pictures the MPF index lists (at most 64, `mpf::MAX_MPF_ENTRIES`),
    /// each checked against the file; empty without an index.
    pub mpf_images: Vec<crate::metadata::mpf::MpfImage>,
    /// True when the index lists more pictures than were kept.
    pub mpf_images_truncated: bool,
    /// APP13 "Photoshop 3.0" present (IPTC and Photoshop resources).
    pub photoshop_irb: bool,
    /// At least one COM segment.
    pub comment: bool,
    /// Frame type from the SOF marker: "baseline", "extended", "progressive",
    /// "lossless", or with "arithmetic" for the rare arithmetic-coded forms.
    pub frame: Option<String>,
    /// Progressive (SOF2, SOF6, SOF10, SOF14).
    pub progressive: bool,
    /// Chroma subsampling from the SOF sampling factors: "4:4:4", "4:2:2",
    /// "4:2:0", "4:4:0", "4:1:1", "grayscale", or the raw factors.
    pub subsampling: Option<String>,
    /// The quantization tables, natural (row-major) order.
    pub quant_tables: Vec<QuantTable>,
    /// The IJG quality whose scaled standard tables are closest to the file's.
    pub quality: Option<u8>,
    /// True when the tables equal the IJG standard tables scaled at `quality`.
    pub standard_tables: bool,
    /// Encoder family guess with its evidence, for people.
    pub encoder: Option<String>,
    /// Machine-readable encoder family: `ijg` (the IJG/libjpeg standard tables
    /// at an IJG quality: libjpeg, libjpeg-turbo, mozjpeg with its
    /// `-quant-table 0`, Pillow, ImageMagick, GIMP and most platforms'
    /// re-encoders), `ijg_scaled` (the standard tables multiplied by factors
    /// that no IJG quality gives: typical of camera firmware and of encoders
    /// with their own quality curve), `adobe` (non-standard tables with Adobe
    /// and Photoshop segments), `custom` (tables of their own: many cameras and
    /// editors).
    pub encoder_family: Option<String>,
    /// ExifTool's `JPEGDigest` of this file: the MD5 of the DQT segments (in
    /// table-slot order, separated by a zero byte) and, after a colon, the
    /// components' sampling factors in hex (`221111` is 4:2:0). The same key
    /// ExifTool's and JPEGsnoop's signature lists use, so a reader can look up
    /// which camera or program writes these tables.
    pub dqt_digest: Option<String>,
}

/// One JPEG marker segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Segment {
    /// Marker name ("SOI", "APP1", "DQT", "SOF0", "SOS", …), with the APP
    /// identifier when known ("APP1 Exif", "APP2 ICC_PROFILE").
    pub marker: Marker,
    /// Offset of the marker in the file.
    pub offset: usize,
    /// The segment's length field (0 for markers without one).
    pub length: usize,
}

/// A JPEG marker as the report names it: its code and, for an APPn segment,
/// the identifier its payload starts with when retrace knows it. Written as
/// one string ("SOF0", "APP1 Exif", "0xFFC8"), as reports always had it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Marker {
    /// The byte after 0xFF.
    pub code: u8,
    /// What an APPn segment holds, when its identifier is known.
    pub app: Option<AppId>,
}

crate::evidence::named! {
    /// The APPn payloads retrace recognises by their identifier.
    pub enum AppId {
        /// JFIF (or its JFXX extension) in APP0.
        Jfif = "JFIF",
        /// EXIF in APP1.
        Exif = "Exif",
        /// The XMP packet in APP1.
        Xmp = "XMP",
        /// An extended XMP part in APP1.
        ExtendedXmp = "ExtendedXMP",
        /// An ICC profile chunk in APP2.
        IccProfile = "ICC_PROFILE",
        /// The Multi-Picture Format index in APP2.
        Mpf = "MPF",
        /// Photoshop image resources (IPTC) in APP13.
        Photoshop = "Photoshop",
        /// JUMBF boxes (C2PA) in APP11.
        Jumbf = "JUMBF",
        /// Adobe's colour transform flag in APP14.
        Adobe = "Adobe",
    }
}

impl Marker {
    /// An APPn marker (0xE0–0xEF).
    pub fn is_app(self) -> bool {
        (0xE0..=0xEF).contains(&self.code)
    }

    fn parse(s: &str) -> Option<Marker> {
        let (name, app) = match s.split_once(' ') {
            Some((name, id)) => (name, Some(AppId::ALL.iter().copied().find(|a| a == id)?)),
            None => (s, None),
        };
        let numbered = |prefix: &str, base: u8, max: u8| {
            let n: u8 = name.strip_prefix(prefix)?.parse().ok()?;
            (n <= max).then_some(base + n)
        };
        let code = match name {
            "SOI" => 0xD8,
            "EOI" => 0xD9,
            "SOS" => 0xDA,
            "DQT" => 0xDB,
            "DHT" => 0xC4,
            "DAC" => 0xCC,
            "DRI" => 0xDD,
            "DNL" => 0xDC,
            "COM" => 0xFE,
            "TEM" => 0x01,
            _ => numbered("SOF", 0xC0, 15)
                .or_else(|| numbered("RST", 0xD0, 7))
                .or_else(|| numbered("APP", 0xE0, 15))
                .or_else(|| u8::from_str_radix(name.strip_prefix("0xFF")?, 16).ok())?,
        };
        let m = Marker { code, app };
        // Only the one spelling this type writes is read back.
        (m.to_string() == s).then_some(m)
    }
}

impl std::fmt::Display for Marker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.code;
        match m {
            0xD8 => f.write_str("SOI")?,
            0xD9 => f.write_str("EOI")?,
            0xDA => f.write_str("SOS")?,
            0xDB => f.write_str("DQT")?,
            0xC4 => f.write_str("DHT")?,
            0xCC => f.write_str("DAC")?,
            0xDD => f.write_str("DRI")?,
            0xDC => f.write_str("DNL")?,
            0xFE => f.write_str("COM")?,
            0x01 => f.write_str("TEM")?,
            0xC0..=0xCF => write!(f, "SOF{}", m - 0xC0)?,
            0xD0..=0xD7 => write!(f, "RST{}", m - 0xD0)?,
            0xE0..=0xEF => write!(f, "APP{}", m - 0xE0)?,
            _ => write!(f, "0xFF{m:02X}")?,
        }
        match self.app {
            Some(id) => write!(f, " {id}"),
            None => Ok(()),
        }
    }
}

impl Serialize for Marker {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Marker {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Marker, D::Error> {
        let s = String::deserialize(d)?;
        Marker::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not a JPEG marker name: {s:?}")))
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Marker {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Marker".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let ids = AppId::ALL
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join("|");
        schemars::json_schema!({
            "type": "string",
            "pattern": format!(
                "^(SOI|EOI|SOS|DQT|DHT|DAC|DRI|DNL|COM|TEM|SOF(1[0-5]|[0-9])|RST[0-7]|APP(1[0-5]|[0-9])( ({ids}))?|0xFF[0-9A-F]{{2}})$"
            )
        })
    }
}

/// One DQT table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QuantTable {
    /// Table slot (0–3).
    pub id: u8,
    /// 64 values in natural (row-major) order.
    pub values: Vec<u16>,
}

/// Provenance fields of an XMP packet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Xmp {
    /// xmp:CreateDate.
    pub create_date: Option<String>,
    /// xmp:ModifyDate.
    pub modify_date: Option<String>,
    /// xmp:MetadataDate.
    pub metadata_date: Option<String>,
    /// xmp:CreatorTool.
    pub creator_tool: Option<String>,
    /// photoshop:DateCreated.
    pub date_created: Option<String>,
    /// xmpMM:DocumentID.
    pub document_id: Option<String>,
    /// xmpMM:OriginalDocumentID.
    pub original_document_id: Option<String>,
    /// xmpMM:History, in order.
    pub history: Vec<HistoryEvent>,
    /// dc:creator (a sequence).
    pub creator: Vec<String>,
    /// dc:rights (the first alternative, normally x-default).
    pub rights: Option<String>,
    /// dc:description (the first alternative).
    pub description: Option<String>,
    /// Iptc4xmpExt:DigitalSourceType: the IPTC term (a URI such as
    /// `http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia`)
    /// by which generators and platforms declare how the picture was made.
    pub digital_source_type: Option<String>,
}

/// One xmpMM:History entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct HistoryEvent {
    /// stEvt:action ("created", "saved", "converted", …).
    pub action: Option<String>,
    /// stEvt:softwareAgent.
    pub software_agent: Option<String>,
    /// stEvt:when.
    pub when: Option<String>,
}

/// IPTC-IIM record 2 fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Iptc {
    /// Caption/Abstract (2:120).
    pub caption: Option<String>,
    /// By-line (2:80), repeatable.
    pub byline: Vec<String>,
    /// Credit (2:110).
    pub credit: Option<String>,
    /// Source (2:115).
    pub source: Option<String>,
    /// Date created (2:55) and, when present, time created (2:60), ISO 8601:
    /// `2005-09-07` or `2005-09-07T15:01:43-07:00`.
    pub date_created: Option<String>,
    /// City (2:90).
    pub city: Option<String>,
    /// Country/Primary location name (2:101).
    pub country: Option<String>,
    /// Keywords (2:25), repeatable.
    pub keywords: Vec<String>,
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
            // Only the top-level C2PA `uuid` box is looked for; c2pa walks
            // the boxes again for the hash binding.
            if let Some(store) =
                crate::metadata::c2pa::bmff_store_with(bytes, boxes, max, &mut c.warnings)
            {
                raw.c2pa = Some(("BMFF uuid", store.to_vec()));
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
    c2pa: Option<(&'static str, Vec<u8>)>,
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

// ---------------------------------------------------------------------------
// JPEG

const XMP_ID: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const XMP_EXT_ID: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";
const ICC_ID: &[u8] = b"ICC_PROFILE\0";
const PS_ID: &[u8] = b"Photoshop 3.0\0";

fn marker_name(m: u8) -> String {
    Marker { code: m, app: None }.to_string()
}

/// The segment list and what the APPn, COM, DQT and SOF segments say, from
/// the segments [`JpegLayout`] found.
fn walk_jpeg(
    bytes: &[u8],
    layout: &JpegLayout,
    max: usize,
    raw: &mut Raw,
    c: &mut Container,
) -> JpegStructure {
    let mut j = JpegStructure::default();
    let mut icc_chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut icc_total = 0usize;
    let mut irb = Vec::new();
    let mut app11: Vec<&[u8]> = Vec::new();
    let mut sof: Option<&[u8]> = None;
    // DQT segment payloads by the slot of their first table, a later one
    // replacing an earlier one: what ExifTool hashes for its JPEGDigest.
    let mut dqt_segments: [Option<&[u8]>; 4] = [None; 4];
    let push = |j: &mut JpegStructure, marker: Marker, offset: usize, length: usize| {
        if j.segments.len() < MAX_SEGMENTS {
            j.segments.push(Segment {
                marker,
                offset,
                length,
            });
        } else {
            j.segments_truncated = true;
        }
    };
    if layout.end == End::NoSoi {
        c.warnings.push("JPEG: no SOI marker".to_string());
        return j;
    }
    for seg in &layout.segments {
        let (m, start, len) = (seg.marker, seg.offset, seg.length);
        if len == 0 {
            // SOI, EOI, RSTn, TEM: no payload.
            push(&mut j, Marker { code: m, app: None }, start, 0);
            continue;
        }
        let data = seg.data(bytes);
        let mut name = Marker { code: m, app: None };
        match m {
            marker::APP0 if data.starts_with(b"JFIF\0") || data.starts_with(b"JFXX\0") => {
                j.jfif = true;
                name.app = Some(AppId::Jfif);
            }
            marker::APP1 if data.starts_with(b"Exif\0") => {
                j.exif = true;
                name.app = Some(AppId::Exif);
            }
            marker::APP1 if data.starts_with(XMP_ID) => {
                j.xmp = true;
                name.app = Some(AppId::Xmp);
                if raw.xmp.is_none() {
                    raw.xmp = Some(data[XMP_ID.len()..].to_vec());
                }
            }
            marker::APP1 if data.starts_with(XMP_EXT_ID) => {
                // The extended part is an appendix to the main packet, split by
                // GUID; its provenance fields live in the main packet.
                j.xmp = true;
                name.app = Some(AppId::ExtendedXmp);
            }
            marker::APP2 if data.starts_with(ICC_ID) => {
                j.icc = true;
                name.app = Some(AppId::IccProfile);
                if let (Some(&seq), Some(chunk)) = (data.get(12), data.get(14..)) {
                    icc_total = icc_total.saturating_add(chunk.len());
                    if icc_total <= max && icc_chunks.len() < 256 {
                        icc_chunks.push((seq, chunk));
                    }
                }
            }
            marker::APP2 if data.starts_with(b"MPF\0") => {
                // Only the first index counts: it is the one the primary
                // picture's reader follows (ExifTool reads the same one).
                if !j.mpf {
                    // The TIFF header follows the marker, length and `MPF\0`.
                    let ix = crate::metadata::mpf::read_index(
                        &data[4..],
                        start + 8,
                        bytes,
                        &mut c.warnings,
                    );
                    j.mpf_images = ix.images;
                    j.mpf_images_truncated = ix.truncated;
                }
                j.mpf = true;
                name.app = Some(AppId::Mpf);
            }
            marker::APP13 if data.starts_with(PS_ID) => {
                j.photoshop_irb = true;
                name.app = Some(AppId::Photoshop);
                if !append_bounded(&mut irb, &data[PS_ID.len()..], max) {
                    c.warnings
                        .push("Photoshop APP13 over the metadata limit; not parsed".into());
                }
            }
            marker::APP11 if data.starts_with(b"JP") => {
                name.app = Some(AppId::Jumbf);
                if app11.len() < MAX_SEGMENTS {
                    app11.push(data);
                }
            }
            marker::APP14 if data.starts_with(b"Adobe") => {
                j.adobe = true;
                name.app = Some(AppId::Adobe);
            }
            marker::COM => {
                j.comment = true;
                if c.comments.len() < MAX_ENTRIES {
                    c.comments.push(text_of(data));
                }
            }
            marker::DQT => {
                if let Some(slot) = data
                    .first()
                    .map(|b| usize::from(b & 0x0F))
                    .filter(|&i| i < 4)
                {
                    dqt_segments[slot] = Some(data);
                }
                read_dqt(data, &mut j, c)
            }
            // Only the first frame header counts (hierarchical files have more).
            m if marker::is_sof(m) && sof.is_none() => {
                sof = Some(data);
                j.progressive = matches!(m, 0xC2 | 0xC6 | 0xCA | 0xCE);
                let kind = match m & 0x03 {
                    0 if m == 0xC0 => "baseline",
                    0 | 1 => "extended",
                    2 => "progressive",
                    _ => "lossless",
                };
                j.frame = Some(if m >= 0xC9 {
                    format!("{kind}, arithmetic")
                } else {
                    kind.to_string()
                });
            }
            _ => {}
        }
        push(&mut j, name, start, len);
    }
    match layout.end {
        End::NotAMarker { offset } => c
            .warnings
            .push(format!("JPEG: expected a marker at offset {offset}")),
        End::Stuffed { offset } => c
            .warnings
            .push(format!("JPEG: stray 0xFF00 at offset {offset}")),
        End::TruncatedLength { marker } => c
            .warnings
            .push(format!("JPEG: truncated {} segment", marker_name(marker))),
        End::Overrun {
            marker,
            offset,
            length,
        } => {
            c.warnings.push(format!(
                "JPEG: {} segment at offset {offset} claims {length} bytes, file has fewer",
                marker_name(marker)
            ));
            push(
                &mut j,
                Marker {
                    code: marker,
                    app: None,
                },
                offset,
                length,
            );
        }
        End::Eoi | End::NoSoi | End::Eof | End::FirstScan => {}
    }
    if layout.segments_dropped > 0 {
        c.warnings.push(format!(
            "JPEG: more than {} markers; the {} after them were not read",
            crate::input::layout::MAX_SEGMENTS_KEPT,
            layout.segments_dropped
        ));
    }
    if !layout.reached_eoi() {
        c.warnings
            .push("JPEG: no EOI marker (truncated file?)".into());
    }
    if let Some(s) = sof {
        j.subsampling = subsampling(s);
    }
    if icc_total > max {
        // Half a profile would only yield a misleading "no description".
        c.warnings.push(format!(
            "ICC profile is {icc_total} bytes, over the {max}-byte metadata limit; not read"
        ));
        icc_chunks.clear();
    }
    if !icc_chunks.is_empty() {
        icc_chunks.sort_by_key(|&(seq, _)| seq);
        let mut icc = Vec::with_capacity(icc_total.min(max));
        for (_, chunk) in icc_chunks {
            icc.extend_from_slice(chunk);
        }
        raw.icc = Some(icc);
    }
    if !irb.is_empty() {
        raw.irb = Some(irb);
    }
    if let Some(store) = crate::metadata::c2pa::jpeg_store(&app11, max, &mut c.warnings) {
        raw.c2pa = Some(("JPEG APP11", store));
    }
    estimate_quality(&mut j);
    j.dqt_digest = dqt_digest(&dqt_segments, sof);
    j
}

/// ExifTool's JPEGDigest (see [`JpegStructure::dqt_digest`]).
fn dqt_digest(segments: &[Option<&[u8]>; 4], sof: Option<&[u8]>) -> Option<String> {
    use md5::{Digest, Md5};
    if segments.iter().all(Option::is_none) {
        return None;
    }
    let mut h = Md5::new();
    let mut first = true;
    for seg in segments.iter().flatten() {
        if !first {
            h.update([0u8]);
        }
        first = false;
        h.update(seg);
    }
    let mut out: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if let Some(sof) = sof {
        let n = usize::from(*sof.get(5)?);
        let factors: Option<Vec<u8>> = (0..n.min(4)).map(|i| sof.get(7 + 3 * i).copied()).collect();
        out.push(':');
        for f in factors? {
            out.push_str(&format!("{f:02x}"));
        }
    }
    Some(out)
}

/// Zigzag position → natural (row-major) index, as in ITU T.81 figure A.6.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

fn read_dqt(data: &[u8], j: &mut JpegStructure, c: &mut Container) {
    let mut p = 0usize;
    while p < data.len() {
        let pq = data[p] >> 4;
        let id = data[p] & 0x0F;
        let width = if pq == 0 { 1 } else { 2 };
        let Some(body) = data.get(p + 1..p + 1 + 64 * width) else {
            c.warnings.push("JPEG: truncated DQT table".into());
            return;
        };
        let mut values = vec![0u16; 64];
        for (k, &nat) in ZIGZAG.iter().enumerate() {
            values[nat] = if width == 1 {
                u16::from(body[k])
            } else {
                u16::from_be_bytes([body[2 * k], body[2 * k + 1]])
            };
        }
        p += 1 + 64 * width;
        // A later table in the same slot replaces the earlier one.
        j.quant_tables.retain(|t| t.id != id);
        if j.quant_tables.len() < 4 {
            j.quant_tables.push(QuantTable { id, values });
        }
    }
}

fn subsampling(sof: &[u8]) -> Option<String> {
    let n = usize::from(*sof.get(5)?);
    let comps: Vec<(u8, u8)> = (0..n.min(4))
        .map(|i| sof.get(6 + 3 * i + 1).map(|&f| (f >> 4, f & 0x0F)))
        .collect::<Option<_>>()?;
    match comps.as_slice() {
        [_] => Some("grayscale".into()),
        [(h0, v0), (h1, v1), (h2, v2)] if h1 == h2 && v1 == v2 && *h1 > 0 && *v1 > 0 => {
            let named = match (h0 / h1, v0 / v1, h0 % h1, v0 % v1) {
                (1, 1, 0, 0) => Some("4:4:4"),
                (2, 1, 0, 0) => Some("4:2:2"),
                (2, 2, 0, 0) => Some("4:2:0"),
                (1, 2, 0, 0) => Some("4:4:0"),
                (4, 1, 0, 0) => Some("4:1:1"),
                (4, 2, 0, 0) => Some("4:1:0"),
                _ => None,
            };
            Some(
                named
                    .map(str::to_string)
                    .unwrap_or_else(|| raw_factors(&comps)),
            )
        }
        _ => Some(raw_factors(&comps)),
    }
}

fn raw_factors(comps: &[(u8, u8)]) -> String {
    comps
        .iter()
        .map(|(h, v)| format!("{h}x{v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The IJG (libjpeg `jcparam.c`) standard luminance table, natural order; the
/// same as ITU T.81 Annex K table K.1.
const IJG_LUMA: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
/// The IJG standard chrominance table (T.81 table K.2), natural order.
const IJG_CHROMA: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// libjpeg's `jpeg_quality_scaling` + `jpeg_add_quant_table` with
/// force_baseline: the table libjpeg writes for `base` at quality `q`.
pub fn ijg_scaled(base: &[u16; 64], q: u8) -> [u16; 64] {
    let q = u32::from(q.clamp(1, 100));
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    let mut out = [0u16; 64];
    for (o, &b) in out.iter_mut().zip(base) {
        let v = (u32::from(b) * scale + 50) / 100;
        *o = u16::try_from(v.clamp(1, 255)).unwrap_or(255);
    }
    out
}

/// Find the IJG quality whose scaled standard tables are closest (sum of
/// absolute differences over the luminance table 0 and, when present, the
/// chrominance table 1) — the idea of ImageMagick's and Forensically's
/// estimators — and say whether the match is exact.
fn estimate_quality(j: &mut JpegStructure) {
    let luma = j.quant_tables.iter().find(|t| t.id == 0);
    let chroma = j.quant_tables.iter().find(|t| t.id == 1);
    let Some(luma) = luma else { return };
    let mut best: Option<(u64, u8)> = None;
    for q in 1..=100u8 {
        let mut d: u64 = luma
            .values
            .iter()
            .zip(ijg_scaled(&IJG_LUMA, q))
            .map(|(&a, b)| u64::from(a.abs_diff(b)))
            .sum();
        if let Some(ch) = chroma {
            d += ch
                .values
                .iter()
                .zip(ijg_scaled(&IJG_CHROMA, q))
                .map(|(&a, b)| u64::from(a.abs_diff(b)))
                .sum::<u64>();
        }
        // Ties go to the higher quality: at the top of the scale several
        // qualities clamp to the same table.
        if best.is_none_or(|(bd, _)| d <= bd) {
            best = Some((d, q));
        }
    }
    let Some((d, q)) = best else { return };
    j.quality = Some(q);
    j.standard_tables = d == 0;
    let ps = j.adobe && j.photoshop_irb;
    let scaled = || -> Option<Vec<f64>> {
        let mut factors = vec![ijg_scale_factor(&luma.values, &IJG_LUMA)?];
        if let Some(ch) = chroma {
            factors.push(ijg_scale_factor(&ch.values, &IJG_CHROMA)?);
        }
        Some(factors)
    };
    let (family, text) = if j.standard_tables {
        ("ijg", format!("libjpeg/IJG standard tables at quality {q}"))
    } else if ps {
        (
            "adobe",
            format!(
                "Adobe Photoshop (Adobe and Photoshop segments; non-standard tables, closest IJG quality {q})"
            ),
        )
    } else if let Some(f) = scaled() {
        let f: Vec<String> = f.iter().map(|x| format!("{x:.3}")).collect();
        (
            "ijg_scaled",
            format!(
                "IJG standard tables scaled by {} (not an IJG quality: camera firmware or an encoder with its own quality curve), closest IJG quality {q}",
                f.join(" / ")
            ),
        )
    } else {
        (
            "custom",
            format!("non-standard tables (camera or editor), closest IJG quality {q}"),
        )
    };
    j.encoder_family = Some(family.to_string());
    j.encoder = Some(text);
}

/// The factor `s` for which `table` is `base × s` rounded, every entry within
/// one step of rounding (encoders round, truncate or clamp differently), or
/// `None`. Entries clamped at 255 (8-bit tables) or 1 carry no information
/// about the factor and are only required to be consistent with it.
fn ijg_scale_factor(table: &[u16], base: &[u16; 64]) -> Option<f64> {
    if table.len() != 64 {
        return None;
    }
    let informative: Vec<(f64, f64)> = table
        .iter()
        .zip(base)
        .filter(|(&t, _)| t > 1 && t < 255)
        .map(|(&t, &b)| (f64::from(t), f64::from(b)))
        .collect();
    // Too few free entries and any table "fits" some factor.
    if informative.len() < 32 {
        return None;
    }
    // Least squares through the origin: s = Σ t·b / Σ b².
    let s = informative.iter().map(|(t, b)| t * b).sum::<f64>()
        / informative.iter().map(|(_, b)| b * b).sum::<f64>();
    let fits = table.iter().zip(base).all(|(&t, &b)| {
        let want = (f64::from(b) * s).round().clamp(1.0, 255.0);
        (f64::from(t) - want).abs() <= 1.0 + f64::from(b) * s * 0.02
    });
    fits.then_some(s)
}

// ---------------------------------------------------------------------------
// PNG and WebP

fn inflate(data: &[u8], max: usize, what: &str, c: &mut Container) -> Option<Vec<u8>> {
    match decompress_to_vec_zlib_with_limit(data, max) {
        Ok(v) => Some(v),
        Err(_) => {
            c.warnings.push(format!(
                "PNG {what}: compressed data is damaged or inflates past the metadata limit"
            ));
            None
        }
    }
}

/// Reads the text, XMP, ICC and C2PA chunks from the chunks already walked,
/// in file order up to IEND, and says why the walk stopped short of it when
/// it did.
fn walk_png(bytes: &[u8], png: &PngLayout, max: usize, raw: &mut Raw, c: &mut Container) {
    for chunk in &png.chunks {
        let kind = &chunk.kind[..];
        let data = chunk.data(bytes);
        let len = data.len();
        let nul = data.iter().position(|&b| b == 0);
        match kind {
            b"IEND" => return,
            b"caBX" if raw.c2pa.is_none() => {
                if len > max {
                    c.warnings
                        .push("PNG caBX (C2PA) over the metadata limit; not read".into());
                } else {
                    raw.c2pa = Some(("PNG caBX", data.to_vec()));
                }
            }
            b"tEXt" | b"zTXt" | b"iTXt" | b"iCCP" => {
                let Some(nul) = nul else {
                    c.warnings.push(format!(
                        "PNG: {} chunk without a keyword terminator",
                        String::from_utf8_lossy(kind)
                    ));
                    continue;
                };
                let keyword = text_of(&data[..nul]);
                let rest = &data[nul + 1..];
                match kind {
                    b"tEXt" => push_text(c, keyword, text_of(rest)),
                    b"zTXt" => {
                        if let Some(t) = rest.get(1..).and_then(|z| inflate(z, max, "zTXt", c)) {
                            push_text(c, keyword, text_of(&t));
                        }
                    }
                    b"iCCP" => {
                        if raw.icc.is_none() {
                            raw.icc = rest.get(1..).and_then(|z| inflate(z, max, "iCCP", c));
                        }
                    }
                    _ => {
                        // iTXt: flag, method, language\0, translated keyword\0, text.
                        let compressed = rest.first() == Some(&1);
                        let body = rest.get(2..).and_then(|r| {
                            let a = r.iter().position(|&b| b == 0)?;
                            let r = &r[a + 1..];
                            let b = r.iter().position(|&b| b == 0)?;
                            Some(&r[b + 1..])
                        });
                        let Some(body) = body else {
                            c.warnings.push("PNG: malformed iTXt chunk".into());
                            continue;
                        };
                        let body = if compressed {
                            match inflate(body, max, "iTXt", c) {
                                Some(v) => v,
                                None => continue,
                            }
                        } else {
                            body.to_vec()
                        };
                        if keyword == "XML:com.adobe.xmp" {
                            if raw.xmp.is_none() {
                                raw.xmp = Some(body);
                            }
                        } else {
                            push_text(c, keyword, text_of(&body));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    // Every chunk kept was read and none was IEND: say why the walk ended,
    // the chunk limit first (the chunk past it may be the one cut short).
    if png.chunks_dropped > 0
        || (png.chunks.len() == MAX_PNG_CHUNKS_KEPT && matches!(png.end, PngEnd::Overrun { .. }))
    {
        c.warnings.push("PNG: too many chunks; stopped".into());
    } else if let PngEnd::Overrun { kind, length, .. } = png.end {
        c.warnings.push(format!(
            "PNG: {} chunk claims {length} bytes, file has fewer",
            String::from_utf8_lossy(&kind)
        ));
    }
}

fn push_text(c: &mut Container, keyword: String, text: String) {
    if c.png_text.len() < MAX_ENTRIES {
        c.png_text.push(PngText { keyword, text });
    }
}

/// Most WebP chunks container forensics reads: a still picture has a
/// handful, an animation one a frame. It reads one more than this says, as
/// it always has (the count was checked after a chunk was read); the report
/// does not say it stopped.
const MAX_WEBP_CHUNKS_READ: usize = 10_000;

/// Reads the XMP, ICC and C2PA chunks from the chunks already walked, in
/// file order to the end of the bytes (the RIFF size is not the bound here:
/// a chunk appended without updating it is still read, as it always was).
fn walk_webp(bytes: &[u8], webp: &WebpLayout, raw: &mut Raw) {
    for chunk in webp.chunks.iter().take(MAX_WEBP_CHUNKS_READ + 1) {
        let data = chunk.data(bytes);
        match &chunk.kind {
            b"XMP " if raw.xmp.is_none() => raw.xmp = Some(data.to_vec()),
            b"ICCP" if raw.icc.is_none() => raw.icc = Some(data.to_vec()),
            b"C2PA" if raw.c2pa.is_none() => raw.c2pa = Some(("WebP C2PA", data.to_vec())),
            _ => {}
        }
    }
}

/// The first `<x:xmpmeta …</x:xmpmeta>` (or bare `<rdf:RDF …</rdf:RDF>`) in
/// the bytes.
fn scan_xmp_packet(bytes: &[u8]) -> Option<&[u8]> {
    for (open, close) in [
        (&b"<x:xmpmeta"[..], &b"</x:xmpmeta>"[..]),
        (b"<rdf:RDF", b"</rdf:RDF>"),
    ] {
        if let Some(s) = find(bytes, open) {
            let e = find(&bytes[s..], close)?;
            return bytes.get(s..s + e + close.len());
        }
    }
    None
}

// ---------------------------------------------------------------------------
// XMP

const NS_RDF: &[u8] = b"http://www.w3.org/1999/02/22-rdf-syntax-ns#";
const NS_XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/";
const NS_XMPMM: &[u8] = b"http://ns.adobe.com/xap/1.0/mm/";
const NS_STEVT: &[u8] = b"http://ns.adobe.com/xap/1.0/sType/ResourceEvent#";
const NS_PS: &[u8] = b"http://ns.adobe.com/photoshop/1.0/";
const NS_DC: &[u8] = b"http://purl.org/dc/elements/1.1/";
const NS_IPTC_EXT: &[u8] = b"http://iptc.org/std/Iptc4xmpExt/2008-02-29/";

/// A property this module keeps.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Prop {
    CreateDate,
    ModifyDate,
    MetadataDate,
    CreatorTool,
    DateCreated,
    DocumentId,
    OriginalDocumentId,
    History,
    Action,
    Agent,
    When,
    Creator,
    Rights,
    Description,
    DigitalSourceType,
    /// Any other property (its text is ignored).
    Other,
    /// An rdf: structural element.
    Rdf,
}

fn prop(ns: &[u8], local: &[u8]) -> Prop {
    match (ns, local) {
        (NS_RDF, _) => Prop::Rdf,
        (NS_XMP, b"CreateDate") => Prop::CreateDate,
        (NS_XMP, b"ModifyDate") => Prop::ModifyDate,
        (NS_XMP, b"MetadataDate") => Prop::MetadataDate,
        (NS_XMP, b"CreatorTool") => Prop::CreatorTool,
        (NS_PS, b"DateCreated") => Prop::DateCreated,
        (NS_XMPMM, b"DocumentID") => Prop::DocumentId,
        (NS_XMPMM, b"OriginalDocumentID") => Prop::OriginalDocumentId,
        (NS_XMPMM, b"History") => Prop::History,
        (NS_STEVT, b"action") => Prop::Action,
        (NS_STEVT, b"softwareAgent") => Prop::Agent,
        (NS_STEVT, b"when") => Prop::When,
        (NS_DC, b"creator") => Prop::Creator,
        (NS_DC, b"rights") => Prop::Rights,
        (NS_DC, b"description") => Prop::Description,
        (NS_IPTC_EXT, b"DigitalSourceType") => Prop::DigitalSourceType,
        _ => Prop::Other,
    }
}

fn set_once(slot: &mut Option<String>, v: &str) {
    if slot.is_none() && !v.trim().is_empty() {
        *slot = Some(cap(v.trim()));
    }
}

fn store(x: &mut Xmp, p: Prop, in_history: bool, v: &str) {
    match p {
        Prop::CreateDate => set_once(&mut x.create_date, v),
        Prop::ModifyDate => set_once(&mut x.modify_date, v),
        Prop::MetadataDate => set_once(&mut x.metadata_date, v),
        Prop::CreatorTool => set_once(&mut x.creator_tool, v),
        Prop::DateCreated => set_once(&mut x.date_created, v),
        Prop::DocumentId => set_once(&mut x.document_id, v),
        Prop::OriginalDocumentId => set_once(&mut x.original_document_id, v),
        Prop::Rights => set_once(&mut x.rights, v),
        Prop::Description => set_once(&mut x.description, v),
        Prop::DigitalSourceType => set_once(&mut x.digital_source_type, v),
        Prop::Creator if x.creator.len() < MAX_ENTRIES && !v.trim().is_empty() => {
            x.creator.push(cap(v.trim()));
        }
        Prop::Action | Prop::Agent | Prop::When if in_history => {
            if let Some(ev) = x.history.last_mut() {
                match p {
                    Prop::Action => set_once(&mut ev.action, v),
                    Prop::Agent => set_once(&mut ev.software_agent, v),
                    _ => set_once(&mut ev.when, v),
                }
            }
        }
        _ => {}
    }
}

/// XMP may be UTF-16 or UTF-32 (the spec allows it; ExifTool's XMP.jpg is
/// UTF-16BE); quick-xml reads UTF-8, so UTF-16 is transcoded first. Detected by
/// BOM or by the NUL byte around the first '<'.
fn to_utf8(packet: &[u8]) -> Option<Vec<u8>> {
    let be = match packet {
        [0xFE, 0xFF, ..] | [0, b'<', ..] => true,
        [0xFF, 0xFE, ..] | [b'<', 0, ..] => false,
        _ => return None,
    };
    let units = packet.chunks_exact(2).map(|c| {
        if be {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_le_bytes([c[0], c[1]])
        }
    });
    let s: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .filter(|&c| c != '\u{FEFF}')
        .collect();
    Some(s.into_bytes())
}

fn parse_xmp(packet: &[u8], warnings: &mut Vec<String>) -> Xmp {
    let utf8 = to_utf8(packet);
    let packet = utf8.as_deref().unwrap_or(packet);
    let mut x = Xmp::default();
    let mut reader = NsReader::from_reader(packet);
    reader.config_mut().trim_text(true);
    // The innermost non-rdf property of each open element.
    let mut stack: Vec<Prop> = Vec::new();
    let mut buf = Vec::new();
    let context = |stack: &[Prop]| -> (Prop, bool) {
        let in_history = stack.contains(&Prop::History);
        let p = stack
            .iter()
            .rev()
            .copied()
            .find(|p| *p != Prop::Rdf)
            .unwrap_or(Prop::Rdf);
        (p, in_history)
    };
    loop {
        buf.clear();
        let ev = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                warnings.push(format!(
                    "XMP: malformed XML at byte {}: {}",
                    reader.error_position(),
                    cap(&e.to_string())
                ));
                break;
            }
        };
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                let (ns, local) = reader.resolve_element(e.name());
                let p = match ns {
                    ResolveResult::Bound(n) => prop(n.as_ref(), local.as_ref()),
                    _ => Prop::Other,
                };
                let (outer, in_history) = context(&stack);
                // A new rdf:li directly inside History starts an event.
                if p == Prop::Rdf
                    && local.as_ref() == b"li"
                    && outer == Prop::History
                    && x.history.len() < MAX_ENTRIES
                {
                    x.history.push(HistoryEvent::default());
                }
                attributes(&reader, e, &mut x, in_history || p == Prop::History);
                if p == Prop::DigitalSourceType {
                    // A URI-valued property may be written as a resource.
                    for a in e.attributes().with_checks(false).flatten().take(256) {
                        let (ns, local) = reader.resolve_attribute(a.key);
                        if matches!(ns, ResolveResult::Bound(n) if n.as_ref() == NS_RDF)
                            && local.as_ref() == b"resource"
                        {
                            if let Ok(v) = a.unescape_value() {
                                set_once(&mut x.digital_source_type, &v);
                            }
                        }
                    }
                }
                if !empty {
                    if stack.len() >= MAX_XML_DEPTH {
                        warnings.push("XMP: nested too deeply; stopped".into());
                        break;
                    }
                    stack.push(p);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(t) => {
                let (p, in_history) = context(&stack);
                if let Ok(s) = t.unescape() {
                    store(&mut x, p, in_history, &s);
                }
            }
            Event::CData(t) => {
                let (p, in_history) = context(&stack);
                store(&mut x, p, in_history, &String::from_utf8_lossy(&t));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    x
}

/// Properties written in attribute form (`<rdf:Description xmp:CreatorTool="…">`).
fn attributes(reader: &NsReader<&[u8]>, e: &BytesStart<'_>, x: &mut Xmp, in_history: bool) {
    for a in e.attributes().with_checks(false).flatten().take(256) {
        let (ns, local) = reader.resolve_attribute(a.key);
        let ResolveResult::Bound(ns) = ns else {
            continue;
        };
        let p = prop(ns.as_ref(), local.as_ref());
        if matches!(p, Prop::Other | Prop::Rdf | Prop::History) {
            continue;
        }
        if let Ok(v) = a.unescape_value() {
            store(x, p, in_history, &v);
        }
    }
}

// ---------------------------------------------------------------------------
// Photoshop image resources and IPTC-IIM

fn parse_irb(irb: &[u8], warnings: &mut Vec<String>) -> Option<Iptc> {
    let mut p = 0usize;
    let mut iptc = None;
    let mut count = 0usize;
    while p + 12 <= irb.len() && count < 10_000 {
        count += 1;
        if &irb[p..p + 4] != b"8BIM" {
            // Other signatures (old PhotoDeluxe "PHUT", …) carry no IPTC.
            break;
        }
        let id = be16(irb, p + 4)?;
        let name_len = usize::from(*irb.get(p + 6)?);
        // Pascal string padded to an even total length.
        let name_total = (1 + name_len + 1) & !1;
        let size_at = p + 6 + name_total;
        let Some(size) = be32(irb, size_at) else {
            warnings.push("Photoshop APP13: truncated resource header".into());
            break;
        };
        let start = size_at + 4;
        let Some(data) = start.checked_add(size).and_then(|e| irb.get(start..e)) else {
            warnings.push(format!(
                "Photoshop APP13: resource 0x{id:04X} claims {size} bytes, block has fewer"
            ));
            break;
        };
        if id == 0x0404 && iptc.is_none() {
            iptc = Some(parse_iim(data, warnings));
        }
        p = start.saturating_add(size).saturating_add(size & 1);
    }
    iptc
}

fn parse_iim(data: &[u8], warnings: &mut Vec<String>) -> Iptc {
    let mut i = Iptc::default();
    let mut date: Option<String> = None;
    let mut time: Option<String> = None;
    let mut p = 0usize;
    while p + 5 <= data.len() {
        if data[p] != 0x1C {
            // Padding after the last dataset is common; anything else is noted.
            if data[p..].iter().any(|&b| b != 0) {
                warnings.push(format!("IPTC: unexpected byte at offset {p}"));
            }
            break;
        }
        let (rec, ds) = (data[p + 1], data[p + 2]);
        let Some(len) = be16(data, p + 3) else { break };
        if len & 0x8000 != 0 {
            warnings.push("IPTC: extended-length dataset; rest not read".into());
            break;
        }
        let Some(v) = data.get(p + 5..p + 5 + len) else {
            warnings.push("IPTC: dataset runs past the end of its block".into());
            break;
        };
        p += 5 + len;
        if rec != 2 {
            continue;
        }
        let t = text_of(v);
        match ds {
            120 => set_once(&mut i.caption, &t),
            80 if i.byline.len() < MAX_ENTRIES => i.byline.push(t),
            110 => set_once(&mut i.credit, &t),
            115 => set_once(&mut i.source, &t),
            55 => set_once(&mut date, &t),
            60 => set_once(&mut time, &t),
            90 => set_once(&mut i.city, &t),
            101 => set_once(&mut i.country, &t),
            25 if i.keywords.len() < MAX_ENTRIES => i.keywords.push(t),
            _ => {}
        }
    }
    i.date_created = date.and_then(|d| iim_datetime(&d, time.as_deref()));
    i
}

/// IIM `CCYYMMDD` (+ `HHMMSS±HHMM`) as ISO 8601.
fn iim_datetime(d: &str, t: Option<&str>) -> Option<String> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if d.len() != 8 || !digits(d) {
        return Some(d.to_string());
    }
    let mut out = format!("{}-{}-{}", &d[0..4], &d[4..6], &d[6..8]);
    if let Some(t) = t.filter(|t| t.len() >= 6 && t.is_char_boundary(6) && digits(&t[..6])) {
        out.push_str(&format!("T{}:{}:{}", &t[0..2], &t[2..4], &t[4..6]));
        let z = &t[6..];
        if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) && digits(&z[1..]) {
            out.push_str(&format!("{}:{}", &z[0..3], &z[3..5]));
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// ICC

fn icc_description(icc: &[u8]) -> Option<String> {
    let n = be32(icc, 128)?.min(1000);
    for k in 0..n {
        let e = 132 + 12 * k;
        if icc.get(e..e + 4)? != b"desc" {
            continue;
        }
        let off = be32(icc, e + 4)?;
        let size = be32(icc, e + 8)?;
        let tag = icc.get(off..off.checked_add(size)?)?;
        return match tag.get(0..4)? {
            b"desc" => {
                let len = be32(tag, 8)?;
                let s = tag.get(12..12usize.checked_add(len)?)?;
                Some(text_of(s))
            }
            b"mluc" => {
                let count = be32(tag, 8)?;
                if count == 0 {
                    return None;
                }
                let len = be32(tag, 20)?;
                let at = be32(tag, 24)?;
                let s = tag.get(at..at.checked_add(len)?)?;
                let units: Vec<u16> = s
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                Some(cap(String::from_utf16_lossy(&units)
                    .trim_end_matches('\0')
                    .trim()))
            }
            _ => None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{AppId, Marker};

    /// Every marker is written as reports always named it, and a report's
    /// name reads back as the same marker.
    #[test]
    fn marker_names_are_the_old_strings_and_read_back() {
        let named = [
            (0xD8, None, "SOI"),
            (0xC0, None, "SOF0"),
            (0xC2, None, "SOF2"),
            (0xC4, None, "DHT"),
            (0xC8, None, "SOF8"),
            (0xD3, None, "RST3"),
            (0xE1, Some(AppId::Exif), "APP1 Exif"),
            (0xE2, Some(AppId::IccProfile), "APP2 ICC_PROFILE"),
            (0xEF, None, "APP15"),
            (0x02, None, "0xFF02"),
        ];
        for (code, app, name) in named {
            let m = Marker { code, app };
            assert_eq!(serde_json::to_value(m).unwrap(), name);
            assert_eq!(serde_json::from_value::<Marker>(name.into()).unwrap(), m);
        }
        for code in 0..=255u8 {
            let m = Marker { code, app: None };
            let back: Marker = serde_json::from_value(serde_json::to_value(m).unwrap()).unwrap();
            assert_eq!(back, m);
        }
        for bad in ["APP1 Nonsense", "SOF16", "sof0", "0xff02", ""] {
            assert!(
                serde_json::from_value::<Marker>(bad.into()).is_err(),
                "{bad}"
            );
        }
    }

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

    use super::*;

    #[test]
    fn ijg_quality_50_is_the_base_table() {
        assert_eq!(ijg_scaled(&IJG_LUMA, 50), IJG_LUMA);
        assert_eq!(ijg_scaled(&IJG_LUMA, 100), [1u16; 64]);
    }

    #[test]
    fn iim_dates_become_iso() {
        assert_eq!(
            iim_datetime("20050907", Some("150143-0700")).as_deref(),
            Some("2005-09-07T15:01:43-07:00")
        );
        assert_eq!(
            iim_datetime("20050907", None).as_deref(),
            Some("2005-09-07")
        );
    }

    #[test]
    fn xmp_attribute_and_element_forms() {
        let x = br#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
 xmp:CreatorTool="Tool &amp; Co" xmp:CreateDate="2020-01-02T03:04:05">
<dc:creator><rdf:Seq><rdf:li>Ann</rdf:li><rdf:li>Bob</rdf:li></rdf:Seq></dc:creator>
<dc:description><rdf:Alt><rdf:li xml:lang="x-default">A caption</rdf:li></rdf:Alt></dc:description>
<xmpMM:History><rdf:Seq>
<rdf:li stEvt:action="created" stEvt:softwareAgent="Adobe Photoshop 22.0"/>
<rdf:li rdf:parseType="Resource"><stEvt:action>saved</stEvt:action><stEvt:when>2020-01-03</stEvt:when></rdf:li>
</rdf:Seq></xmpMM:History>
</rdf:Description></rdf:RDF></x:xmpmeta>"#;
        let mut w = Vec::new();
        let p = parse_xmp(x, &mut w);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(p.creator_tool.as_deref(), Some("Tool & Co"));
        assert_eq!(p.create_date.as_deref(), Some("2020-01-02T03:04:05"));
        assert_eq!(p.creator, vec!["Ann", "Bob"]);
        assert_eq!(p.description.as_deref(), Some("A caption"));
        assert_eq!(p.history.len(), 2);
        assert_eq!(
            p.history[0].software_agent.as_deref(),
            Some("Adobe Photoshop 22.0")
        );
        assert_eq!(p.history[1].action.as_deref(), Some("saved"));
        assert_eq!(p.history[1].when.as_deref(), Some("2020-01-03"));
        // Malformed XML keeps what was read and warns.
        let mut w = Vec::new();
        let p = parse_xmp(&x[..x.len() - 40], &mut w);
        assert_eq!(p.creator_tool.as_deref(), Some("Tool & Co"));
        let mut w = Vec::new();
        parse_xmp(b"<a><b></a>", &mut w);
        assert!(!w.is_empty());
    }

    #[test]
    fn xmp_digital_source_type_in_each_form() {
        let ns = r#"xmlns:x="adobe:ns:meta/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/""#;
        let term = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";
        for body in [
            format!(r#"<rdf:Description Iptc4xmpExt:DigitalSourceType="{term}"/>"#),
            format!(
                r#"<rdf:Description><Iptc4xmpExt:DigitalSourceType>{term}</Iptc4xmpExt:DigitalSourceType></rdf:Description>"#
            ),
            format!(
                r#"<rdf:Description><Iptc4xmpExt:DigitalSourceType rdf:resource="{term}"/></rdf:Description>"#
            ),
        ] {
            let packet = format!(r#"<x:xmpmeta {ns}><rdf:RDF>{body}</rdf:RDF></x:xmpmeta>"#);
            let mut w = Vec::new();
            let x = parse_xmp(packet.as_bytes(), &mut w);
            assert!(w.is_empty(), "{w:?}");
            assert_eq!(x.digital_source_type.as_deref(), Some(term), "{body}");
        }
    }
}
