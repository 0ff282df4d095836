//! The JPEG walk: the segment list and what the APPn, COM, DQT and SOF
//! segments say (which encoder, at which quality, with which subsampling),
//! from the segments `input::layout` found; the XMP, Photoshop and ICC
//! payloads are collected for their own parsers.

use serde::{Deserialize, Serialize};

use super::{append_bounded, text_of, Container, Raw, MAX_ENTRIES};
use crate::input::layout::{marker, End, JpegLayout};
use crate::metadata::c2pa::Carrier;

/// Most JPEG segments listed; a real file has a few dozen at most.
pub const MAX_SEGMENTS: usize = 512;

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

const XMP_ID: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const XMP_EXT_ID: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";
const ICC_ID: &[u8] = b"ICC_PROFILE\0";
const PS_ID: &[u8] = b"Photoshop 3.0\0";

fn marker_name(m: u8) -> String {
    Marker { code: m, app: None }.to_string()
}

/// The segment list and what the APPn, COM, DQT and SOF segments say, from
/// the segments [`JpegLayout`] found.
pub(super) fn walk_jpeg(
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
    if layout.end == End::NoSoi {
        c.warnings.push("JPEG: no SOI marker".to_string());
        return j;
    }
    for seg in &layout.segments {
        let (m, start, len) = (seg.marker, seg.offset, seg.length);
        if len == 0 {
            // SOI, EOI, RSTn, TEM: no payload.
            push_segment(&mut j, Marker { code: m, app: None }, start, 0);
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
        push_segment(&mut j, name, start, len);
    }
    end_warnings(layout, &mut j, c);
    if let Some(s) = sof {
        j.subsampling = subsampling(s);
    }
    raw.icc = assemble_icc(icc_chunks, icc_total, max, c);
    if !irb.is_empty() {
        raw.irb = Some(irb);
    }
    if let Some(store) = crate::metadata::c2pa::jpeg_store(&app11, max, &mut c.warnings) {
        raw.c2pa = Some((Carrier::JpegApp11, store));
    }
    estimate_quality(&mut j);
    j.dqt_digest = dqt_digest(&dqt_segments, sof);
    j
}

/// Lists a segment, or notes that the list is full.
fn push_segment(j: &mut JpegStructure, marker: Marker, offset: usize, length: usize) {
    if j.segments.len() < MAX_SEGMENTS {
        j.segments.push(Segment {
            marker,
            offset,
            length,
        });
    } else {
        j.segments_truncated = true;
    }
}

/// What the walk's end says about the file: why it stopped before EOI (a
/// segment claiming more than the file holds is still listed), and markers
/// past the layout's cap.
fn end_warnings(layout: &JpegLayout, j: &mut JpegStructure, c: &mut Container) {
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
            push_segment(
                j,
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
}

/// The ICC profile from its APP2 chunks in sequence order; `None` when there
/// is none or it is over the metadata limit (half a profile would only yield
/// a misleading "no description").
fn assemble_icc(
    mut chunks: Vec<(u8, &[u8])>,
    total: usize,
    max: usize,
    c: &mut Container,
) -> Option<Vec<u8>> {
    if total > max {
        c.warnings.push(format!(
            "ICC profile is {total} bytes, over the {max}-byte metadata limit; not read"
        ));
        return None;
    }
    if chunks.is_empty() {
        return None;
    }
    chunks.sort_by_key(|&(seq, _)| seq);
    let mut icc = Vec::with_capacity(total.min(max));
    for (_, chunk) in chunks {
        icc.extend_from_slice(chunk);
    }
    Some(icc)
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn ijg_quality_50_is_the_base_table() {
        assert_eq!(ijg_scaled(&IJG_LUMA, 50), IJG_LUMA);
        assert_eq!(ijg_scaled(&IJG_LUMA, 100), [1u16; 64]);
    }
}
