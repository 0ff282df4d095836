//! The HEIF item structure (ISO/IEC 23008-12: HEIC, HEIF, AVIF): which
//! pictures a file holds besides its primary one — thumbnails, auxiliary
//! images (depth maps, alpha planes, HDR gain maps), the tiles of a grid —
//! and the properties that say how each is shown (size, rotation, mirror,
//! crop). Listed in the report like the MPF entries of a JPEG.
//!
//! It owns reading the `ftyp` and `meta` boxes and nothing else: it must not
//! decode pixels (decode does, with libheif, when built with the `heif`
//! feature) or judge. Every box size, count and offset comes from a stranger:
//! boxes are walked through `bmff::bmff_header` (sizes checked against their
//! parent), the boxes visited are capped by [`Limits::max_bmff_boxes`], the
//! items listed by [`MAX_HEIF_ITEMS`], and problems become warnings.
//!
//! Written by hand because no maintained pure-Rust crate reads the item
//! structure of HEIC as well as AVIF (mp4parse reads AVIF only and keeps no
//! thumbnails or auxiliary images; libheif needs the C++ build), and the
//! listing must work in the default build.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::input::bmff::bmff_header;
use crate::input::layout::{BmffEnd, BmffLayout};
use crate::limits::Limits;

/// Most items listed. An iPhone picture holds a primary grid, its 48 tiles
/// (not listed one by one), a thumbnail, EXIF, XMP and a few auxiliary
/// images: about ten.
pub const MAX_HEIF_ITEMS: usize = 64;

/// Most compatible brands kept.
const MAX_BRANDS: usize = 32;

/// The item structure of one HEIF file. Part of the report under
/// `metadata.container.heif`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct HeifStructure {
    /// `ftyp` major brand (`heic`, `mif1`, `avif`, …).
    pub major_brand: String,
    /// `ftyp` compatible brands.
    pub compatible_brands: Vec<String>,
    /// The primary item's id (`pitm`).
    pub primary_item: Option<u32>,
    /// Every item but the tiles of a grid (counted in their grid's `tiles`),
    /// in id order.
    pub items: Vec<HeifItem>,
    /// More items than [`MAX_HEIF_ITEMS`] were there.
    pub items_truncated: bool,
}

/// One item of a HEIF file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct HeifItem {
    /// The item id.
    pub id: u32,
    /// The item type: `hvc1` (HEVC), `av01` (AV1), `grid` (tiles), `iden`,
    /// `iovl`, `tmap` (gain-map tone mapping), `jpeg`, `Exif`, `mime` (XMP), …
    pub item_type: String,
    /// What it is to the picture: `primary`, `thumbnail` (of `of_item`),
    /// `auxiliary` (of `of_item`: depth, alpha, gain map; see `aux_type`),
    /// `metadata` (describing `of_item`), `image` (another picture), `other`.
    pub role: String,
    /// The item a thumbnail, auxiliary image or metadata item belongs to.
    pub of_item: Option<u32>,
    /// The auxiliary type (`auxC`), e.g. `urn:mpeg:hevc:2015:auxid:1` (alpha),
    /// `urn:com:apple:photo:2020:aux:hdrgainmap`.
    pub aux_type: Option<String>,
    /// MIME type of a `mime` item (`application/rdf+xml` for XMP).
    pub content_type: Option<String>,
    /// Coded width (`ispe`), before rotation and crop.
    pub width: Option<u32>,
    /// Coded height (`ispe`).
    pub height: Option<u32>,
    /// Rotation (`irot`), degrees anticlockwise, applied when shown.
    pub rotation: Option<u16>,
    /// Mirror (`imir`): `left_right` (mode 1: left and right swapped) or
    /// `top_bottom` (mode 0: top and bottom swapped), applied when shown
    /// (ISO/IEC 23008-12:2022 and libheif; the 2017 text called the field
    /// `axis`).
    pub mirror: Option<String>,
    /// A clean-aperture crop (`clap`) is applied when shown.
    pub crop: bool,
    /// Tiles or inputs this derived image is made of (`dimg` references).
    pub tiles: u32,
    /// Marked hidden (`infe` flag): not meant to be shown on its own.
    pub hidden: bool,
    /// Length in bytes of its data (`iloc` extents added up).
    pub size: Option<u64>,
    /// Where its first extent starts in the file (data in the file only).
    pub file_offset: Option<u64>,
    /// Every extent lies inside the file (false also for data stored
    /// elsewhere, e.g. in `idat`, which is not checked).
    pub in_file: bool,
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u32::from(u16::from_be_bytes([s[0], s[1]])))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// An unsigned big-endian field of 0, 4 or 8 bytes (iloc's sizes).
fn be_n(b: &[u8], at: usize, n: usize) -> Option<u64> {
    match n {
        0 => Some(0),
        4 => be32(b, at).map(u64::from),
        8 => {
            let s = b.get(at..at.checked_add(8)?)?;
            Some(u64::from_be_bytes(s.try_into().ok()?))
        }
        _ => None,
    }
}

fn fourcc(k: &[u8]) -> String {
    k.iter()
        .map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                c as char
            } else {
                '?'
            }
        })
        .collect()
}

/// A NUL-terminated string at `at` (to `end` when unterminated), capped.
fn cstr(b: &[u8], at: usize, end: usize) -> (String, usize) {
    let s = b.get(at..end).unwrap_or_default();
    let n = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    let text: String = String::from_utf8_lossy(&s[..n]).chars().take(200).collect();
    (text, at + n + 1)
}

/// A property of `ipco` that this module keeps.
#[derive(Clone, Debug, Default)]
enum Prop {
    Ispe(u32, u32),
    Irot(u16),
    Imir(bool),
    Clap,
    AuxC(String),
    #[default]
    Other,
}

/// The walk: the box budget and the warnings.
struct Walk<'a> {
    b: &'a [u8],
    budget: usize,
    warnings: &'a mut Vec<String>,
    stopped: bool,
}

impl Walk<'_> {
    /// The child boxes of `b[start..end]`: kind, content start, end.
    fn children(&mut self, start: usize, end: usize) -> Vec<([u8; 4], usize, usize)> {
        let mut out = Vec::new();
        let mut at = start;
        while at < end && !self.stopped {
            if self.budget == 0 {
                self.warnings.push(
                    "HEIF: more boxes than the limit (max_bmff_boxes); the rest is not read".into(),
                );
                self.stopped = true;
                break;
            }
            self.budget -= 1;
            match bmff_header(self.b, at, end) {
                Ok(Some(h)) => {
                    out.push((h.kind, h.content, at + h.size));
                    at += h.size;
                }
                Ok(None) => break,
                Err(e) => {
                    self.warnings
                        .push(format!("HEIF: {e}; the boxes after it are not read"));
                    break;
                }
            }
        }
        out
    }

    /// The top-level boxes from the walk already made, spending the budget
    /// and saying what [`Walk::children`] would have said over them; walks
    /// them itself only when allowed more boxes than the list holds.
    fn top(&mut self, l: &BmffLayout) -> Vec<([u8; 4], usize, usize)> {
        let n = l.boxes.len();
        if l.end == BmffEnd::Capped && self.budget > n {
            return self.children(0, self.b.len());
        }
        let take = self.budget.min(n);
        self.budget -= take;
        let out = l.boxes[..take]
            .iter()
            .map(|x| (x.kind, x.content, x.end()))
            .collect();
        // Whether `children` would have tried another header after them.
        if take < n || l.end != BmffEnd::Eof {
            if self.budget == 0 {
                self.warnings.push(
                    "HEIF: more boxes than the limit (max_bmff_boxes); the rest is not read".into(),
                );
                self.stopped = true;
            } else {
                self.budget -= 1;
                if let BmffEnd::Broken { message } = &l.end {
                    self.warnings
                        .push(format!("HEIF: {message}; the boxes after it are not read"));
                }
            }
        }
        out
    }
}

/// The item structure of a HEIF file; `None` when it has no `meta` box
/// (then it is no HEIF still image). Never fails and never panics.
pub fn read_structure(
    bytes: &[u8],
    limits: &Limits,
    warnings: &mut Vec<String>,
) -> Option<HeifStructure> {
    read_structure_with(bytes, &BmffLayout::read(bytes), limits, warnings)
}

/// [`read_structure`] from the top-level boxes already walked
/// ([`BmffLayout::read`]).
pub fn read_structure_with(
    bytes: &[u8],
    boxes: &BmffLayout,
    limits: &Limits,
    warnings: &mut Vec<String>,
) -> Option<HeifStructure> {
    let mut w = Walk {
        b: bytes,
        budget: limits.max_bmff_boxes,
        warnings,
        stopped: false,
    };
    let mut s = HeifStructure::default();
    let mut meta = None;
    for (kind, content, end) in w.top(boxes) {
        match &kind {
            b"ftyp" if s.major_brand.is_empty() => {
                s.major_brand = fourcc(bytes.get(content..content + 4).unwrap_or_default());
                let mut at = content + 8;
                while at + 4 <= end && s.compatible_brands.len() < MAX_BRANDS {
                    s.compatible_brands.push(fourcc(&bytes[at..at + 4]));
                    at += 4;
                }
            }
            b"meta" if meta.is_none() => meta = Some((content + 4, end)),
            _ => {}
        }
    }
    let (start, end) = meta?;
    read_meta(&mut w, start, end, &mut s);
    Some(s)
}

#[derive(Default)]
struct Refs {
    /// (type, from, to)
    list: Vec<([u8; 4], u32, u32)>,
}

fn read_meta(w: &mut Walk<'_>, start: usize, end: usize, s: &mut HeifStructure) {
    let b = w.b;
    let mut items: BTreeMap<u32, HeifItem> = BTreeMap::new();
    let mut props: Vec<Prop> = Vec::new();
    let mut assoc: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    let mut refs = Refs::default();
    let mut locations: BTreeMap<u32, (Option<u64>, u64, bool)> = BTreeMap::new();
    for (kind, content, box_end) in w.children(start, end) {
        let version = b.get(content).copied().unwrap_or(0);
        let body = content + 4;
        match &kind {
            b"pitm" => {
                s.primary_item = if version == 0 {
                    be16(b, body)
                } else {
                    be32(b, body)
                }
            }
            b"iinf" => {
                let first = body + if version == 0 { 2 } else { 4 };
                for (k, c, e) in w.children(first, box_end) {
                    if &k == b"infe" {
                        if let Some(item) = infe(b, c, e) {
                            if items.len() < w.budget.max(1) {
                                items.entry(item.id).or_insert(item);
                            }
                        }
                    }
                }
            }
            b"iref" => {
                let wide = version != 0;
                for (k, c, e) in w.children(body, box_end) {
                    let id = |at| if wide { be32(b, at) } else { be16(b, at) };
                    let step = if wide { 4 } else { 2 };
                    let (Some(from), Some(count)) = (id(c), be16(b, c + step)) else {
                        continue;
                    };
                    let mut at = c + step + 2;
                    for _ in 0..count {
                        if at + step > e || refs.list.len() >= 100_000 {
                            break;
                        }
                        if let Some(to) = id(at) {
                            refs.list.push((k, from, to));
                        }
                        at += step;
                    }
                }
            }
            b"iprp" => {
                for (k, c, e) in w.children(content, box_end) {
                    match &k {
                        b"ipco" => {
                            for (pk, pc, pe) in w.children(c, e) {
                                props.push(property(b, &pk, pc, pe));
                            }
                        }
                        b"ipma" => ipma(b, c, e, &mut assoc),
                        _ => {}
                    }
                }
            }
            b"iloc" => iloc(b, content, box_end, &mut locations),
            _ => {}
        }
    }
    // Properties, by their 1-based index in ipco.
    for (id, item) in items.iter_mut() {
        for &i in assoc.get(id).map(Vec::as_slice).unwrap_or_default() {
            match i.checked_sub(1).and_then(|i| props.get(i)) {
                Some(Prop::Ispe(wd, ht)) => {
                    item.width = Some(*wd);
                    item.height = Some(*ht);
                }
                Some(Prop::Irot(r)) => item.rotation = Some(*r),
                Some(Prop::Imir(left_right)) => {
                    item.mirror = Some(
                        if *left_right {
                            "left_right"
                        } else {
                            "top_bottom"
                        }
                        .into(),
                    )
                }
                Some(Prop::Clap) => item.crop = true,
                Some(Prop::AuxC(t)) => item.aux_type = Some(t.clone()),
                _ => {}
            }
        }
        if let Some(&(offset, size, in_file)) = locations.get(id) {
            item.file_offset = offset;
            item.size = Some(size);
            item.in_file = in_file;
        }
    }
    let mut tiles = std::collections::BTreeSet::new();
    for (kind, from, to) in &refs.list {
        match kind {
            b"dimg" => {
                tiles.insert(*to);
                if let Some(g) = items.get_mut(from) {
                    g.tiles = g.tiles.saturating_add(1);
                }
            }
            b"thmb" | b"auxl" | b"cdsc" => {
                if let Some(i) = items.get_mut(from) {
                    if i.of_item.is_none() {
                        i.of_item = Some(*to);
                        i.role = match kind {
                            b"thmb" => "thumbnail",
                            b"auxl" => "auxiliary",
                            _ => "metadata",
                        }
                        .into();
                    }
                }
            }
            _ => {}
        }
    }
    for (id, mut item) in items {
        if Some(id) == s.primary_item {
            item.role = "primary".into();
        } else if tiles.contains(&id) && item.role.is_empty() {
            continue;
        }
        if item.role.is_empty() {
            item.role = match item.item_type.as_str() {
                "Exif" | "mime" | "uri " => "metadata",
                "hvc1" | "av01" | "grid" | "iden" | "iovl" | "jpeg" | "tmap" | "unci" | "j2k1"
                | "avc1" | "vvc1" => "image",
                _ => "other",
            }
            .into();
        }
        if s.items.len() >= MAX_HEIF_ITEMS {
            s.items_truncated = true;
            break;
        }
        s.items.push(item);
    }
}

/// One `infe` (versions 2 and 3 carry the item type; older ones are
/// listed with an empty type).
fn infe(b: &[u8], content: usize, end: usize) -> Option<HeifItem> {
    let version = *b.get(content)?;
    let hidden = be32(b, content)? & 1 == 1;
    let body = content + 4;
    let (id, after_id) = match version {
        0..=2 => (be16(b, body)?, body + 2),
        _ => (be32(b, body)?, body + 4),
    };
    let mut item = HeifItem {
        id,
        hidden,
        ..HeifItem::default()
    };
    if version >= 2 {
        let kind = b.get(after_id + 2..after_id + 6)?;
        item.item_type = fourcc(kind);
        let (_name, next) = cstr(b, after_id + 6, end);
        if kind == b"mime" && next < end {
            let (ct, _) = cstr(b, next, end);
            item.content_type = Some(ct);
        }
    }
    Some(item)
}

fn property(b: &[u8], kind: &[u8; 4], c: usize, e: usize) -> Prop {
    let get = || -> Option<Prop> {
        Some(match kind {
            b"ispe" => Prop::Ispe(be32(b, c + 4)?, be32(b, c + 8)?),
            b"irot" => Prop::Irot(u16::from(*b.get(c)? & 3) * 90),
            b"imir" => Prop::Imir(*b.get(c)? & 1 == 1),
            b"clap" => Prop::Clap,
            b"auxC" => Prop::AuxC(cstr(b, c + 4, e).0),
            _ => Prop::Other,
        })
    };
    get().unwrap_or_default()
}

fn ipma(b: &[u8], content: usize, end: usize, assoc: &mut BTreeMap<u32, Vec<usize>>) {
    let Some(version) = b.get(content).copied() else {
        return;
    };
    let wide_index = be32(b, content).unwrap_or(0) & 1 == 1;
    let Some(count) = be32(b, content + 4) else {
        return;
    };
    let mut at = content + 8;
    for _ in 0..count {
        let id = if version < 1 {
            be16(b, at)
        } else {
            be32(b, at)
        };
        at += if version < 1 { 2 } else { 4 };
        let (Some(id), Some(&n)) = (id, b.get(at)) else {
            return;
        };
        at += 1;
        let list = assoc.entry(id).or_default();
        for _ in 0..n {
            if at >= end {
                return;
            }
            let index = if wide_index {
                be16(b, at).map(|v| v as usize & 0x7FFF)
            } else {
                b.get(at).map(|&v| usize::from(v & 0x7F))
            };
            at += if wide_index { 2 } else { 1 };
            if let Some(i) = index {
                if list.len() < 64 {
                    list.push(i);
                }
            }
        }
        if at >= end {
            return;
        }
    }
}

/// `iloc`: per item, the first extent's file offset (data in the file
/// only), the extents' total length, and whether all of them lie inside the
/// file.
fn iloc(b: &[u8], content: usize, end: usize, out: &mut BTreeMap<u32, (Option<u64>, u64, bool)>) {
    let mut get = || -> Option<()> {
        let version = *b.get(content)?;
        let sizes = *b.get(content + 4)?;
        let more = *b.get(content + 5)?;
        let (offset_size, length_size) = (usize::from(sizes >> 4), usize::from(sizes & 15));
        let base_size = usize::from(more >> 4);
        let index_size = if version == 1 || version == 2 {
            usize::from(more & 15)
        } else {
            0
        };
        let mut at = content + 6;
        let count = if version < 2 {
            let c = be16(b, at)?;
            at += 2;
            c
        } else {
            let c = be32(b, at)?;
            at += 4;
            c
        };
        let file_len = b.len() as u64;
        for _ in 0..count {
            if at >= end || out.len() >= 100_000 {
                break;
            }
            let id = if version < 2 {
                let v = be16(b, at)?;
                at += 2;
                v
            } else {
                let v = be32(b, at)?;
                at += 4;
                v
            };
            let method = if version == 1 || version == 2 {
                let m = be16(b, at)? & 15;
                at += 2;
                m
            } else {
                0
            };
            at += 2; // data_reference_index
            let base = be_n(b, at, base_size)?;
            at += base_size;
            let extents = be16(b, at)?;
            at += 2;
            let (mut first, mut total, mut inside) = (None, 0u64, method == 0);
            for _ in 0..extents {
                at += index_size;
                let off = be_n(b, at, offset_size)?;
                at += offset_size;
                let len = be_n(b, at, length_size)?;
                at += length_size;
                let start = base.checked_add(off);
                if first.is_none() && method == 0 {
                    first = start;
                }
                total = total.saturating_add(len);
                inside &= start
                    .and_then(|s| s.checked_add(len))
                    .is_some_and(|e| e <= file_len && len > 0);
            }
            out.entry(id).or_insert((first, total, inside));
        }
        Some(())
    };
    let _ = get();
}

/// The thumbnail item that stands for the primary picture: the largest
/// `thmb` of the primary item (by coded area), when there is one.
pub fn primary_thumbnail(s: &HeifStructure) -> Option<&HeifItem> {
    let primary = s.primary_item?;
    s.items
        .iter()
        .filter(|i| i.role == "thumbnail" && i.of_item == Some(primary))
        .max_by_key(|i| u64::from(i.width.unwrap_or(0)) * u64::from(i.height.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ref_file(rel: &str) -> Option<Vec<u8>> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/ref/exif")
            .join(rel);
        match std::fs::read(&p) {
            Ok(b) => Some(b),
            Err(_) => {
                eprintln!("skipped: {} is absent", p.display());
                None
            }
        }
    }

    /// ExifTool 12.57's reading of the iPhone 13 Pro Max file (`-G`, in
    /// ../shared/ref/exif): PrimaryItemReference 49, ImageSpatialExtent
    /// 4032x3024, Rotation 270 (irot 3: 270° anticlockwise, "Rotate 90 CW"),
    /// AuxiliaryImageType urn:com:apple:photo:2020:aux:hdrgainmap.
    #[test]
    fn iphone_heic_items_as_exiftool_reads_them() {
        let Some(b) = ref_file("exif-samples/heic/mobile/iphone_13_pro_max.HEIC") else {
            return;
        };
        let mut w = Vec::new();
        let s = read_structure(&b, &Limits::default(), &mut w).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.major_brand, "heic");
        assert_eq!(s.primary_item, Some(49));
        let primary = s.items.iter().find(|i| i.role == "primary").unwrap();
        assert_eq!(Some(primary.id), s.primary_item);
        assert_eq!(primary.item_type, "grid");
        assert_eq!((primary.width, primary.height), (Some(4032), Some(3024)));
        assert_eq!(primary.rotation, Some(270));
        assert!(primary.tiles > 1);
        let t = primary_thumbnail(&s).unwrap();
        assert_eq!(t.item_type, "hvc1");
        assert!(t.in_file);
        assert!(s.items.iter().any(|i| i.role == "auxiliary"
            && i.aux_type
                .as_deref()
                .is_some_and(|a| a.contains("hdrgainmap"))));
        assert!(s
            .items
            .iter()
            .any(|i| i.item_type == "Exif" && i.role == "metadata"));
        // Tiles are counted, not listed.
        assert!(s.items.len() < 20, "{}", s.items.len());
    }

    #[test]
    fn every_prefix_and_flipped_byte_is_read_without_panic() {
        let Some(b) = ref_file("exif-samples/heic/samplefilehub.heif") else {
            return;
        };
        let limits = Limits::default();
        for cut in (0..b.len().min(4096)).step_by(7) {
            let mut w = Vec::new();
            let _ = read_structure(&b[..cut], &limits, &mut w);
        }
        let mut m = b.clone();
        for i in (0..m.len().min(4096)).step_by(3) {
            m[i] ^= 0xA5;
            let mut w = Vec::new();
            let _ = read_structure(&m, &limits, &mut w);
            m[i] ^= 0xA5;
        }
        let tight = Limits {
            max_bmff_boxes: 5,
            ..Limits::default()
        };
        let mut w = Vec::new();
        let _ = read_structure(&b, &tight, &mut w);
        assert!(w.iter().any(|x| x.contains("max_bmff_boxes")), "{w:?}");
    }

    /// The item structure and the C2PA store read from the top-level boxes
    /// walked once are what the readers find walking the boxes themselves
    /// (an empty list that says it was capped makes them walk), with the
    /// same warnings in the same order, under every box budget, on the
    /// HEIF and AVIF fixtures, their prefixes, overwritten bytes and boxes
    /// that lie about their size.
    #[test]
    fn the_top_level_walk_gives_what_each_reader_found_walking_itself() {
        let own_walk = BmffLayout {
            boxes: Vec::new(),
            end: BmffEnd::Capped,
        };
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut inputs = Vec::new();
        for f in [
            "heif/rocket.heic",
            "heif/china_irot1.avif",
            "c2pa/signed.heic",
            "c2pa/signed.avif",
        ] {
            let b = std::fs::read(root.join(f)).unwrap();
            for cut in (0..b.len()).step_by(b.len() / 97 + 1) {
                inputs.push(b[..cut].to_vec());
            }
            for i in (0..b.len().min(1200)).step_by(5) {
                for v in [0x00, 0x01, 0xFF, 0x10] {
                    let mut m = b.clone();
                    m[i] = v;
                    inputs.push(m);
                }
            }
            let mut t = b.clone();
            t.extend_from_slice(b"\0\0\0\x40free");
            inputs.push(t);
            inputs.push(b);
        }
        let budgets = [1, 2, 3, 4, 7, 40, 100_000];
        let mut stores = 0;
        let mut warned = 0;
        for b in &inputs {
            let once = BmffLayout::read(b);
            for &max in &budgets {
                let limits = Limits {
                    max_bmff_boxes: max,
                    ..Limits::default()
                };
                let (mut w1, mut w2) = (Vec::new(), Vec::new());
                let s1 = read_structure_with(b, &once, &limits, &mut w1);
                let s2 = read_structure_with(b, &own_walk, &limits, &mut w2);
                assert_eq!(s1, s2, "budget {max}");
                assert_eq!(w1, w2, "budget {max}");
                warned += usize::from(!w1.is_empty());
            }
            let (mut w1, mut w2) = (Vec::new(), Vec::new());
            let c1 = crate::metadata::c2pa::bmff_store_with(b, &once, 1 << 20, &mut w1);
            let c2 = crate::metadata::c2pa::bmff_store_with(b, &own_walk, 1 << 20, &mut w2);
            assert_eq!((c1, &w1), (c2, &w2));
            stores += usize::from(c1.is_some());
        }
        // The comparisons compare something: stores found, warnings given.
        assert!(stores > 100, "{stores} stores");
        assert!(warned > 100, "{warned} warned");
    }
}
