//! EXIF metadata extraction: turns the EXIF block of a JPEG, TIFF (and TIFF-based
//! raw), PNG (`eXIf`), WebP (`EXIF`) or HEIF file into a [`Metadata`] record
//! (the orientation it reads is applied by [`crate::decode`]).
//!
//! It owns the reading of EXIF and nothing else: it must not read files, decode
//! pixels, or fail. Every problem in the input (bad offsets, impossible values,
//! a parser panic) becomes a warning in [`Metadata::warnings`], because for a
//! provenance tool malformed metadata is itself a finding. Input comes from
//! strangers: no number read from the file is used for an allocation, index or
//! offset without being checked, and the work is capped by
//! [`Limits::max_metadata_bytes`].
//!
//! A JPEG's EXIF block is found in the segments read once by
//! [`crate::input::layout`] and handed to kamadak-exif as it is (`read_raw`);
//! other containers are still opened by kamadak-exif (`read_from_container`),
//! and the small walkers here only *measure* where their EXIF block lies, so
//! that the size cap can be applied before parsing and thumbnail offsets can
//! be given in file coordinates.

pub mod c2pa;
pub mod container;
pub mod mpf;

use std::fmt::{self, Write as _};
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use exif::{Context, Exif, Field, In, Tag, Value};
use image::DynamicImage;
use serde::{Deserialize, Serialize};

use crate::input::layout::{ExifSegment, JpegLayout, Layout, PngLayout, WebpLayout};
use crate::input::read::Format;
use crate::limits::Limits;
use crate::metadata::container::{read_container_with, Container};

/// Longest [`ExifField::value`] kept, in characters, before it is cut with "…".
pub const MAX_VALUE_CHARS: usize = 1000;

/// What the EXIF block of one file says. Part of the public JSON contract:
/// every field is an `Option` or a `Vec`, so an absent value serialises as
/// `null` or `[]` and readers of older reports keep working.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Metadata {
    /// Camera or device maker (IFD0 `Make`), trailing NULs/spaces removed.
    pub make: Option<String>,
    /// Camera or device model (IFD0 `Model`).
    pub model: Option<String>,
    /// Software that wrote the file last (IFD0 `Software`).
    pub software: Option<String>,
    /// When the picture was taken (`DateTimeOriginal`), ISO 8601 as the file
    /// records it: `2008-01-22T03:28:22`, plus `.12` when `SubSecTimeOriginal`
    /// exists and `+02:00` when `OffsetTimeOriginal` exists. No offset is ever
    /// invented: without `OffsetTimeOriginal` the time is local and unzoned.
    pub datetime_original: Option<String>,
    /// When the picture was digitised (`DateTimeDigitized`, with
    /// `SubSecTimeDigitized` / `OffsetTimeDigitized`), same format.
    pub datetime_digitized: Option<String>,
    /// When the file was last changed (IFD0 `DateTime`, with `SubSecTime` /
    /// `OffsetTime`), same format.
    pub datetime_modified: Option<String>,
    /// Position, only when latitude and longitude are both present and valid.
    pub gps: Option<Gps>,
    /// EXIF orientation, only when it is a valid 1..=8 (else a warning).
    pub orientation: Option<u16>,
    /// Lens (`LensModel`).
    pub lens: Option<String>,
    /// Camera body serial number (`BodySerialNumber`).
    pub serial: Option<String>,
    /// Photographer (IFD0 `Artist`).
    pub artist: Option<String>,
    /// Copyright notice (IFD0 `Copyright`). When the file holds separate
    /// photographer and editor notices they are joined with " / ".
    pub copyright: Option<String>,
    /// Caption (IFD0 `ImageDescription`).
    pub image_description: Option<String>,
    /// Image width the EXIF block claims: `PixelXDimension`, or for TIFF the
    /// IFD0 `ImageWidth` (the TIFF's own raster; not when IFD0 is marked as a
    /// reduced-resolution preview, as in raw files). May differ from the pixels
    /// when a file was resized without updating EXIF: that is a finding.
    pub exif_width: Option<u32>,
    /// Image height the EXIF block claims (`PixelYDimension`, TIFF `ImageLength`).
    pub exif_height: Option<u32>,
    /// `Some(make)` (or `Some("unknown")` without a make) when a `MakerNote`
    /// is present; its contents are vendor-specific and not decoded.
    pub maker_note: Option<String>,
    /// Where the embedded EXIF (IFD1) JPEG thumbnail lies in the file.
    pub thumbnail: Option<ThumbnailRef>,
    /// Every field read, in file order (bounded: see [`read_metadata`]).
    pub exif: Vec<ExifField>,
    /// Per-field and structural problems, in the order found.
    pub warnings: Vec<String>,
    /// What the container says beyond EXIF (JPEG structure, XMP, IPTC, ICC,
    /// comments, PNG text); `None` for formats without such blocks and in
    /// reports written before it existed.
    pub container: Option<Container>,
}

/// A position from the GPS IFD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Gps {
    /// Signed decimal degrees, south negative.
    pub latitude: f64,
    /// Signed decimal degrees, west negative.
    pub longitude: f64,
    /// Metres; negative below sea level (`GPSAltitudeRef` = 1).
    pub altitude: Option<f64>,
    /// `GPSDateStamp` + `GPSTimeStamp` as ISO 8601 UTC (`2008-10-23T14:27:07.24Z`),
    /// only when both are present and valid.
    pub timestamp: Option<String>,
    /// Direction the camera pointed (`GPSImgDirection`), degrees.
    pub direction: Option<f64>,
    /// Reference of `direction`: "T" (true north) or "M" (magnetic north).
    pub direction_ref: Option<String>,
}

/// One EXIF field as read, for display and for diffing two copies of a picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExifField {
    /// Which IFD the field came from: "0th" (main image), "1st" (thumbnail),
    /// "exif", "gps", "interop" (sub-IFDs of the 0th), or for sub-IFDs of other
    /// IFDs "1st/exif", "1st/gps", …; further top-level IFDs are "ifd2", "ifd3", ….
    pub ifd: String,
    /// kamadak-exif's tag name (`Make`, `DateTimeOriginal`, …), or `Tag(0x1234)`
    /// for tags it does not know.
    pub tag: String,
    /// Display value, at most [`MAX_VALUE_CHARS`] characters (then cut with "…").
    /// Text is shown without quotes, trailing NULs and spaces removed.
    pub value: String,
}

/// Byte range of the embedded EXIF thumbnail **inside the whole file's bytes**
/// (not inside the EXIF block). Use [`exif_thumbnail`] to get the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ThumbnailRef {
    /// Offset from the start of the file.
    pub offset: usize,
    /// Length in bytes.
    pub length: usize,
}

/// The embedded thumbnail's JPEG bytes: `None` when there is no thumbnail, when
/// the range does not fit `bytes` (e.g. other bytes than those `meta` was read
/// from), or when the range does not start with a JPEG SOI marker.
pub fn exif_thumbnail<'a>(bytes: &'a [u8], meta: &Metadata) -> Option<&'a [u8]> {
    let t = meta.thumbnail?;
    let end = t.offset.checked_add(t.length)?;
    let thumb = bytes.get(t.offset..end)?;
    thumb.starts_with(&[0xFF, 0xD8]).then_some(thumb)
}

/// The MPF preview (the entry marked `preview` in
/// `container.jpeg.mpf_images`) and its JPEG bytes: `None` without one, when
/// its range does not fit `bytes`, or when the range does not start with a
/// JPEG SOI marker.
pub fn mpf_preview<'a>(
    bytes: &'a [u8],
    meta: &'a Metadata,
) -> Option<(&'a crate::metadata::mpf::MpfImage, &'a [u8])> {
    let jpeg = meta.container.as_ref()?.jpeg.as_ref()?;
    let entry = jpeg.mpf_images.iter().find(|m| m.preview)?;
    let start = usize::try_from(entry.file_offset).ok()?;
    let end = start.checked_add(usize::try_from(entry.size).ok()?)?;
    let preview = bytes.get(start..end)?;
    preview
        .starts_with(&[0xFF, 0xD8])
        .then_some((entry, preview))
}

/// The `image` crate's transform for an EXIF orientation value, `None` when the
/// value is not 1..=8.
pub fn orientation_transform(orientation: u16) -> Option<image::metadata::Orientation> {
    u8::try_from(orientation)
        .ok()
        .and_then(image::metadata::Orientation::from_exif)
}

/// Turn decoded pixels upright as the EXIF orientation says. Missing or invalid
/// orientations leave the image as decoded: guessing a rotation would be worse.
pub fn apply_orientation(mut img: DynamicImage, orientation: Option<u16>) -> DynamicImage {
    if let Some(t) = orientation.and_then(orientation_transform) {
        img.apply_orientation(t);
    }
    img
}

/// Read the EXIF metadata of a file already in memory. Never fails and never
/// panics: anything wrong becomes a warning, and formats without EXIF support
/// (GIF, BMP, unknown) give an empty record.
///
/// Work is capped by `limits.max_metadata_bytes`: an EXIF block larger than
/// that is skipped with a warning (for TIFF the block is the whole file), and
/// the listing in [`Metadata::exif`] stops once the parsed values would exceed
/// it.
pub fn read_metadata(bytes: &[u8], format: Format, limits: &Limits) -> Metadata {
    read_metadata_with(bytes, format, &Layout::read(bytes, format), limits)
}

/// [`read_metadata`] from the file's structure already read
/// ([`Layout::read`]): the EXIF block and the container's blocks are taken
/// from it instead of walking the bytes again.
pub fn read_metadata_with(
    bytes: &[u8],
    format: Format,
    layout: &Layout,
    limits: &Limits,
) -> Metadata {
    let mut meta = read_exif(bytes, format, layout, limits);
    if !exif_format(format) {
        return meta;
    }
    // The container readers never panic by design; the guard keeps that
    // promise from depending on them alone.
    match catch_unwind(AssertUnwindSafe(|| {
        read_container_with(bytes, format, layout, limits)
    })) {
        Ok(c) => meta.container = Some(c),
        Err(_) => meta
            .warnings
            .push("container parser panicked; XMP/IPTC/ICC not read".to_string()),
    }
    meta
}

/// The EXIF part of [`read_metadata_with`] alone (`container` stays `None`):
/// what an embedded picture's own orientation needs.
pub fn read_exif(bytes: &[u8], format: Format, layout: &Layout, limits: &Limits) -> Metadata {
    let mut meta = Metadata::default();
    if !exif_format(format) {
        return meta;
    }
    // kamadak-exif is careful, but this is the boundary with hostile input:
    // a panic in it (or here) must cost this file its metadata, not the batch.
    // `meta` stays a valid value whatever point a panic interrupts.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        extract(bytes, format, layout, limits, &mut meta)
    }));
    if let Err(payload) = outcome {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        meta.warnings.push(format!(
            "EXIF parser panicked ({}); metadata may be incomplete",
            bounded(&msg)
        ));
    }
    meta
}

fn exif_format(format: Format) -> bool {
    matches!(
        format,
        Format::Jpeg | Format::Tiff | Format::Png | Format::Webp | Format::Heif | Format::Raw
    )
}

fn extract(bytes: &[u8], format: Format, layout: &Layout, limits: &Limits, meta: &mut Metadata) {
    if format == Format::Raw {
        return extract_raw(bytes, limits, meta);
    }
    let max = usize::try_from(limits.max_metadata_bytes).unwrap_or(usize::MAX);
    // A JPEG's, PNG's or WebP's EXIF block from the segments or chunks
    // already read, when their walk vouches for the block kamadak-exif's own walk
    // would pick; a damaged file leaves it to that walk (`Unsure`).
    let found = match format {
        Format::Jpeg => Some(match layout.jpeg() {
            Some(j) => j.exif(bytes),
            None => JpegLayout::read(bytes).exif(bytes),
        }),
        Format::Png => Some(match layout.png() {
            Some(p) => p.exif(bytes),
            None => PngLayout::read(bytes).exif(bytes),
        }),
        Format::Webp => Some(match layout.webp() {
            Some(w) => w.exif(bytes),
            None => WebpLayout::read(bytes).exif(bytes),
        }),
        _ => None,
    }
    .map(|found| match found {
        ExifSegment::At(r) if bytes.get(r.clone()).is_none() => ExifSegment::Unsure,
        other => other,
    });
    let block = match &found {
        // No EXIF at all is normal, not a finding.
        Some(ExifSegment::Absent) => return,
        Some(ExifSegment::At(r)) => bytes.get(r.clone()),
        _ => None,
    };
    // Measure the block before parsing so the cap holds for the parse itself.
    let located = match (block, &found) {
        (Some(b), Some(ExifSegment::At(r))) => Some((r.start, b.len())),
        _ => locate_exif(bytes, format),
    };
    // A TIFF-based RAW file is its EXIF block as far as kamadak-exif is
    // concerned, and almost all of it is sensor data that the parse never
    // touches (it reads the IFDs only): the cap would refuse every RAW file.
    let raw_tiff = format == Format::Tiff && crate::input::raw::is_tiff_raw(bytes);
    if let Some((_, len)) = located.filter(|_| !raw_tiff) {
        if len > max {
            meta.warnings.push(format!(
                "EXIF block is {len} bytes, over the {max}-byte metadata limit; not parsed"
            ));
            return;
        }
    }

    if format == Format::Tiff && (bytes.starts_with(b"II+\0") || bytes.starts_with(b"MM\0+")) {
        meta.warnings.push(
            "BigTIFF: its EXIF is not read (kamadak-exif reads classic TIFF only)".to_string(),
        );
        return;
    }

    let mut reader = exif::Reader::new();
    reader.continue_on_error(true);
    let read = match block {
        Some(b) => reader.read_raw(b.to_vec()),
        None => reader.read_from_container(&mut Cursor::new(bytes)),
    };
    let exif = match read {
        Ok(exif) => exif,
        Err(exif::Error::PartialResult(partial)) => {
            let (exif, errors) = partial.into_inner();
            for e in errors {
                meta.warnings
                    .push(format!("EXIF: {}", bounded(&e.to_string())));
            }
            exif
        }
        // No EXIF at all is normal, not a finding.
        Err(exif::Error::NotFound(_)) => return,
        Err(e) => {
            meta.warnings
                .push(format!("EXIF unreadable: {}", bounded(&e.to_string())));
            return;
        }
    };
    // Containers the walkers above do not measure (HEIF) are only measured
    // here, after the parse; that parse was bounded by kamadak-exif's own
    // 128 KiB cap on HEIF EXIF items. Checking anyway keeps the limit's meaning
    // (an over-limit block yields nothing) the same for every container.
    if exif.buf().len() > max {
        meta.warnings.push(format!(
            "EXIF block is {} bytes, over the {max}-byte metadata limit; not parsed",
            exif.buf().len()
        ));
        return;
    }

    // Where the block starts in the file, to turn thumbnail offsets into file
    // offsets. The walker's answer is only trusted when the bytes agree.
    let blob = exif.buf();
    let blob_start = located
        .filter(|&(off, len)| {
            len == blob.len()
                && off.checked_add(len).and_then(|end| bytes.get(off..end)) == Some(blob)
        })
        .map(|(off, _)| off)
        .or_else(|| find_block(bytes, blob));

    meta.make = text(&exif, Tag::Make, meta);
    meta.model = text(&exif, Tag::Model, meta);
    meta.software = text(&exif, Tag::Software, meta);
    meta.lens = text(&exif, Tag::LensModel, meta);
    meta.serial = text(&exif, Tag::BodySerialNumber, meta);
    meta.artist = text(&exif, Tag::Artist, meta);
    meta.image_description = text(&exif, Tag::ImageDescription, meta);
    meta.copyright = copyright(&exif, meta);

    meta.datetime_original = datetime(
        &exif,
        [
            Tag::DateTimeOriginal,
            Tag::SubSecTimeOriginal,
            Tag::OffsetTimeOriginal,
        ],
        meta,
    );
    meta.datetime_digitized = datetime(
        &exif,
        [
            Tag::DateTimeDigitized,
            Tag::SubSecTimeDigitized,
            Tag::OffsetTimeDigitized,
        ],
        meta,
    );
    meta.datetime_modified = datetime(
        &exif,
        [Tag::DateTime, Tag::SubSecTime, Tag::OffsetTime],
        meta,
    );

    meta.orientation = orientation(&exif, meta);
    // In a TIFF, IFD0's size is the picture's own size, unless NewSubfileType
    // marks IFD0 as a reduced-resolution preview (raw files: NEF, DNG, …), where
    // the real raster sits in a SubIFD that kamadak-exif does not read; a
    // preview's size would be a wrong answer, so only PixelX/YDimension count.
    let ifd0_is_preview = uint(&exif, Tag(Context::Tiff, 0x00FE)).is_some_and(|t| t & 1 == 1);
    let (w, h) = if format == Format::Tiff && !ifd0_is_preview {
        (Tag::ImageWidth, Tag::ImageLength)
    } else {
        (Tag::PixelXDimension, Tag::PixelYDimension)
    };
    meta.exif_width = uint(&exif, w).or_else(|| uint(&exif, Tag::PixelXDimension));
    meta.exif_height = uint(&exif, h).or_else(|| uint(&exif, Tag::PixelYDimension));

    if exif.get_field(Tag::MakerNote, In::PRIMARY).is_some() {
        meta.maker_note = Some(meta.make.clone().unwrap_or_else(|| "unknown".into()));
    }
    meta.gps = gps(&exif, meta);
    meta.thumbnail = thumbnail(&exif, blob_start, meta);
    list_fields(&exif, max, meta);
}

/// The EXIF of a RAW file in a container of its own: ORF and RW2 are TIFF
/// with another magic number (read as TIFF, every offset unchanged); RAF
/// keeps its EXIF in the APP1 of the JPEG it embeds (read there, the
/// thumbnail's offset moved into file coordinates); CR3 keeps IFD0, EXIF
/// and GPS as separate TIFF structures, joined into one first.
fn extract_raw(bytes: &[u8], limits: &Limits, meta: &mut Metadata) {
    use crate::input::raw::RawKind;
    match crate::input::raw::sniff(bytes) {
        Some(RawKind::VendorTiff) => {
            let mut tiff = bytes.to_vec();
            let magic: &[u8] = if tiff.starts_with(b"MM") {
                b"\0*"
            } else {
                b"*\0"
            };
            tiff[2..4].copy_from_slice(magic);
            extract(&tiff, Format::Tiff, &Layout::Other, limits, meta);
        }
        Some(RawKind::Raf) => {
            if let Some((p, jpeg)) = crate::input::raw::largest_preview(bytes, RawKind::Raf) {
                // The embedded JPEG's headers: its APP1 comes before the scan.
                let headers = Layout::Jpeg(JpegLayout::headers(jpeg));
                extract(jpeg, Format::Jpeg, &headers, limits, meta);
                if let Some(t) = meta.thumbnail.as_mut() {
                    t.offset = t.offset.saturating_add(p.offset as usize);
                }
            }
        }
        Some(RawKind::Cr3) => {
            if let Some(tiff) = crate::input::raw::cr3_exif_tiff(bytes) {
                extract(&tiff, Format::Tiff, &Layout::Other, limits, meta);
                // Offsets into the rebuilt TIFF mean nothing in the file.
                meta.thumbnail = None;
            }
        }
        Some(RawKind::Tiff) | None => {}
    }
}

// ---------------------------------------------------------------------------
// Locating the EXIF block (measurement only; kamadak-exif does the parsing).

/// `(offset, length)` of the TIFF-structured EXIF block in `bytes`, found the
/// way kamadak-exif finds it (first match), or `None` when it cannot be
/// measured cheaply (HEIF) or is absent.
fn locate_exif(bytes: &[u8], format: Format) -> Option<(usize, usize)> {
    match format {
        // For TIFF the whole file is the block.
        Format::Tiff => Some((0, bytes.len())),
        Format::Jpeg => locate_jpeg(bytes),
        Format::Png => locate_png(bytes),
        Format::Webp => locate_webp(bytes),
        _ => None,
    }
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(usize::from(u16::from_be_bytes([s[0], s[1]])))
}

fn be32(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(4)?)?;
    usize::try_from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])).ok()
}

fn le32(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(4)?)?;
    usize::try_from(u32::from_le_bytes([s[0], s[1], s[2], s[3]])).ok()
}

/// Mirrors kamadak-exif's JPEG walk: resynchronise on 0xFF, skip stand-alone
/// markers, take the first APP1 segment that starts with "Exif\0\0". Only
/// for a damaged file, where kamadak-exif walks the markers itself: a
/// well-formed one's block comes from [`JpegLayout::exif`].
fn locate_jpeg(b: &[u8]) -> Option<(usize, usize)> {
    const EXIF_ID: &[u8] = b"Exif\0\0";
    let mut pos = 2;
    loop {
        pos += b.get(pos..)?.iter().position(|&x| x == 0xFF)? + 1;
        while *b.get(pos)? == 0xFF {
            pos += 1;
        }
        let code = *b.get(pos)?;
        pos += 1;
        match code {
            0x00 | 0x01 | 0xD0..=0xD7 => continue,
            0xD8 | 0xD9 => return None,
            _ => {}
        }
        let body = be16(b, pos)?.checked_sub(2)?;
        let start = pos + 2;
        let end = start.checked_add(body)?;
        let seg = b.get(start..end)?;
        if code == 0xE1 && seg.starts_with(EXIF_ID) {
            return Some((start + EXIF_ID.len(), body - EXIF_ID.len()));
        }
        pos = end;
    }
}

/// First `eXIf` chunk, wherever it is (kamadak-exif is liberal about order,
/// and reads past IEND). Only for a file whose chunk walk cannot vouch for
/// the block ([`PngLayout::exif`]): a damaged one, or one with bytes after
/// IEND.
fn locate_png(b: &[u8]) -> Option<(usize, usize)> {
    let mut pos = 8;
    while pos < b.len() {
        let len = be32(b, pos)?;
        let kind = b.get(pos + 4..pos + 8)?;
        let data = pos + 8;
        if kind == b"eXIf" {
            b.get(data..data.checked_add(len)?)?;
            return Some((data, len));
        }
        pos = data.checked_add(len)?.checked_add(4)?;
    }
    None
}

/// First `EXIF` chunk inside the RIFF size, as kamadak-exif walks to it.
/// Only for a file whose chunk walk cannot vouch for the block
/// ([`WebpLayout::exif`]): a damaged one, or one whose chunks overflow the
/// RIFF size.
fn locate_webp(b: &[u8]) -> Option<(usize, usize)> {
    let mut remaining = le32(b, 4)?.checked_sub(4)?;
    let mut pos: usize = 12;
    while remaining > 0 {
        remaining = remaining.checked_sub(8)?;
        let kind = b.get(pos..pos.checked_add(4)?)?;
        let mut size = le32(b, pos.checked_add(4)?)?;
        remaining = remaining.checked_sub(size)?;
        let data = pos + 8;
        if kind == b"EXIF" {
            b.get(data..data.checked_add(size)?)?;
            return Some((data, size));
        }
        if size % 2 == 1 && remaining > 0 {
            remaining -= 1;
            size += 1;
        }
        pos = data.checked_add(size)?;
    }
    None
}

/// Fallback for containers not walked above: where `blob` occurs in `bytes`.
/// Candidates must match the 8-byte TIFF header first, and the comparison work
/// is capped so a hostile file cannot make this quadratic.
fn find_block(bytes: &[u8], blob: &[u8]) -> Option<usize> {
    let head = blob.get(..8)?;
    let mut budget = bytes.len().saturating_mul(4).max(1 << 20);
    let mut from = 0;
    while let Some(i) = bytes.get(from..)?.windows(8).position(|w| w == head) {
        let at = from + i;
        let cand = bytes.get(at..at.checked_add(blob.len())?)?;
        budget = budget.checked_sub(blob.len())?;
        if cand == blob {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

// ---------------------------------------------------------------------------
// Field readers.

fn field(exif: &Exif, tag: Tag) -> Option<&Field> {
    exif.get_field(tag, In::PRIMARY)
}

/// Bytes of an EXIF ASCII string as text: valid UTF-8 as such (many phones
/// write it), anything else as Latin-1 (old Windows tools did), trailing NULs
/// and spaces removed as ExifTool does. `None` when empty.
fn decode_text(raw: &[u8]) -> Option<String> {
    let s = match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    };
    let s = s.trim_end_matches(['\0', ' ']);
    (!s.is_empty()).then(|| s.to_string())
}

/// The text of an ASCII field, up to its first NUL (what readers display).
fn text(exif: &Exif, tag: Tag, meta: &mut Metadata) -> Option<String> {
    let f = field(exif, tag)?;
    match &f.value {
        Value::Ascii(parts) => decode_text(parts.first()?).map(|s| bounded(&s)),
        other => {
            meta.warnings.push(format!(
                "{tag} is stored as {}, not text; ignored",
                type_name(other)
            ));
            None
        }
    }
}

/// Copyright may hold "photographer\0editor"; keep both notices.
fn copyright(exif: &Exif, meta: &mut Metadata) -> Option<String> {
    let f = field(exif, Tag::Copyright)?;
    match &f.value {
        Value::Ascii(parts) => {
            let kept: Vec<String> = parts.iter().filter_map(|p| decode_text(p)).collect();
            (!kept.is_empty()).then(|| bounded(&kept.join(" / ")))
        }
        other => {
            meta.warnings.push(format!(
                "Copyright is stored as {}, not text; ignored",
                type_name(other)
            ));
            None
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Byte(_) => "BYTE",
        Value::Ascii(_) => "ASCII",
        Value::Short(_) => "SHORT",
        Value::Long(_) => "LONG",
        Value::Rational(_) => "RATIONAL",
        Value::SByte(_) => "SBYTE",
        Value::Undefined(..) => "UNDEFINED",
        Value::SShort(_) => "SSHORT",
        Value::SLong(_) => "SLONG",
        Value::SRational(_) => "SRATIONAL",
        Value::Float(_) => "FLOAT",
        Value::Double(_) => "DOUBLE",
        _ => "an unknown type",
    }
}

fn uint(exif: &Exif, tag: Tag) -> Option<u32> {
    field(exif, tag)?.value.get_uint(0)
}

fn orientation(exif: &Exif, meta: &mut Metadata) -> Option<u16> {
    let f = field(exif, Tag::Orientation)?;
    match f.value.get_uint(0) {
        Some(o @ 1..=8) => u16::try_from(o).ok(),
        Some(o) => {
            meta.warnings
                .push(format!("Orientation {o} is not 1..=8; ignored"));
            None
        }
        None => {
            meta.warnings
                .push("Orientation is not an integer; ignored".to_string());
            None
        }
    }
}

/// Raw ASCII bytes of a field's first string, trimmed; `None` when absent/empty.
fn ascii_raw(exif: &Exif, tag: Tag) -> Option<&[u8]> {
    match &field(exif, tag)?.value {
        Value::Ascii(parts) => {
            let p = parts.first()?.as_slice();
            let end = p
                .iter()
                .rposition(|&c| c != b' ' && c != 0)
                .map_or(0, |i| i + 1);
            (end > 0).then(|| &p[..end])
        }
        _ => None,
    }
}

fn two_digits(s: &[u8]) -> Option<u32> {
    match s {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Some(u32::from(a - b'0') * 10 + u32::from(b - b'0')),
        _ => None,
    }
}

/// "YYYY:MM:DD HH:MM:SS" (also with '-' in the date, or 'T') to
/// "YYYY-MM-DDTHH:MM:SS". `Err` carries why it was rejected; `Ok(None)` means
/// a blank or zeroed value, which the standard uses for "unknown".
fn iso_datetime(raw: &[u8]) -> Result<Option<String>, &'static str> {
    if raw.iter().all(|&c| matches!(c, b' ' | b':' | b'0' | b'-')) {
        return Ok(None);
    }
    if raw.len() < 19 {
        return Err("too short");
    }
    let (d, t) = (&raw[..10], &raw[11..19]);
    let separators_ok = matches!(raw[10], b' ' | b'T')
        && d[4] == d[7]
        && matches!(d[4], b':' | b'-')
        && t[2] == b':'
        && t[5] == b':';
    if !separators_ok {
        return Err("unexpected separators");
    }
    let year = &d[..4];
    if !year.iter().all(u8::is_ascii_digit) {
        return Err("year is not a number");
    }
    let fields = [
        two_digits(&d[5..7]),
        two_digits(&d[8..10]),
        two_digits(&t[..2]),
        two_digits(&t[3..5]),
        two_digits(&t[6..8]),
    ];
    let [Some(mo), Some(day), Some(h), Some(mi), Some(s)] = fields else {
        return Err("not numeric");
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || h > 24 || mi > 59 || s > 60 {
        return Err("out of range");
    }
    let year = std::str::from_utf8(year).map_err(|_| "year is not a number")?;
    Ok(Some(format!(
        "{year}-{mo:02}-{day:02}T{h:02}:{mi:02}:{s:02}"
    )))
}

/// "+HH:MM" / "-HH:MM", the only forms EXIF 2.31 allows.
fn valid_offset(raw: &[u8]) -> bool {
    matches!(raw, [b'+' | b'-', h1, h2, b':', m1, m2]
        if two_digits(&[*h1, *h2]).is_some_and(|h| h <= 23)
            && two_digits(&[*m1, *m2]).is_some_and(|m| m <= 59))
}

fn datetime(exif: &Exif, [main, subsec, offset]: [Tag; 3], meta: &mut Metadata) -> Option<String> {
    let raw = ascii_raw(exif, main)?;
    // Keep a valid date-time even when junk follows it, but say so.
    let (head, tail) = raw.split_at(raw.len().min(19));
    if !tail.is_empty() {
        meta.warnings.push(format!(
            "{main} has trailing characters {:?}; ignored them",
            bounded(&String::from_utf8_lossy(tail))
        ));
    }
    let mut out = match iso_datetime(head) {
        Ok(Some(s)) => s,
        Ok(None) => {
            meta.warnings
                .push(format!("{main} is blank or zeroed (unknown time)"));
            return None;
        }
        Err(why) => {
            meta.warnings.push(format!(
                "{main} {:?} is not an EXIF date-time ({why}); ignored",
                bounded(&String::from_utf8_lossy(raw))
            ));
            return None;
        }
    };
    if let Some(ss) = ascii_raw(exif, subsec) {
        if ss.iter().all(u8::is_ascii_digit) && ss.len() <= 9 {
            out.push('.');
            out.extend(ss.iter().map(|&c| char::from(c)));
        } else {
            meta.warnings.push(format!(
                "{subsec} {:?} is not digits; ignored",
                bounded(&String::from_utf8_lossy(ss))
            ));
        }
    }
    if let Some(off) = ascii_raw(exif, offset) {
        if valid_offset(off) {
            out.extend(off.iter().map(|&c| char::from(c)));
        } else if !off.iter().all(|&c| matches!(c, b' ' | b':')) {
            meta.warnings.push(format!(
                "{offset} {:?} is not ±HH:MM; ignored",
                bounded(&String::from_utf8_lossy(off))
            ));
        }
    }
    Some(out)
}

/// A rational-valued field as f64s; `Err` names the problem.
fn rationals(f: &Field) -> Result<Vec<f64>, String> {
    let vals: Vec<(f64, f64)> = match &f.value {
        Value::Rational(v) => v
            .iter()
            .map(|r| (f64::from(r.num), f64::from(r.denom)))
            .collect(),
        Value::SRational(v) => v
            .iter()
            .map(|r| (f64::from(r.num), f64::from(r.denom)))
            .collect(),
        other => return Err(format!("is stored as {}, not rational", type_name(other))),
    };
    vals.into_iter()
        .map(|(n, d)| {
            if d == 0.0 {
                Err("has a zero denominator".to_string())
            } else {
                Ok(n / d)
            }
        })
        .collect()
}

/// Degrees, minutes, seconds to signed decimal degrees.
fn coordinate(
    exif: &Exif,
    tag: Tag,
    ref_tag: Tag,
    neg: u8,
    pos: u8,
    max_deg: f64,
    meta: &mut Metadata,
) -> Option<f64> {
    let f = field(exif, tag)?;
    let v = match rationals(f) {
        Ok(v) => v,
        Err(why) => {
            meta.warnings.push(format!("{tag} {why}; no position"));
            return None;
        }
    };
    if v.is_empty() || v.len() > 3 || v.iter().any(|x| !x.is_finite() || *x < 0.0) {
        meta.warnings
            .push(format!("{tag} is not degrees/minutes/seconds; no position"));
        return None;
    }
    let deg = v[0] + v.get(1).unwrap_or(&0.0) / 60.0 + v.get(2).unwrap_or(&0.0) / 3600.0;
    if !(deg.is_finite() && deg <= max_deg) {
        meta.warnings
            .push(format!("{tag} {deg} is out of range; no position"));
        return None;
    }
    // Without its reference the hemisphere is unknown; guessing one could put
    // a picture on the wrong continent, so there is no position (ExifTool's
    // Composite:GPSLatitude likewise requires the reference).
    let sign = match ascii_raw(exif, ref_tag).map(|r| r[0].to_ascii_uppercase()) {
        Some(c) if c == neg => -1.0,
        Some(c) if c == pos => 1.0,
        Some(_) => {
            meta.warnings.push(format!(
                "{ref_tag} is not {}/{}; no position",
                neg as char, pos as char
            ));
            return None;
        }
        None => {
            meta.warnings
                .push(format!("{tag} without {ref_tag}; no position"));
            return None;
        }
    };
    Some(sign * deg)
}

fn gps(exif: &Exif, meta: &mut Metadata) -> Option<Gps> {
    let lat_present = field(exif, Tag::GPSLatitude).is_some();
    let lon_present = field(exif, Tag::GPSLongitude).is_some();
    if !lat_present && !lon_present {
        return None;
    }
    let lat = coordinate(
        exif,
        Tag::GPSLatitude,
        Tag::GPSLatitudeRef,
        b'S',
        b'N',
        90.0,
        meta,
    );
    let lon = coordinate(
        exif,
        Tag::GPSLongitude,
        Tag::GPSLongitudeRef,
        b'W',
        b'E',
        180.0,
        meta,
    );
    let (Some(latitude), Some(longitude)) = (lat, lon) else {
        if lat_present != lon_present {
            meta.warnings
                .push("only one of GPSLatitude/GPSLongitude present; no position".to_string());
        }
        return None;
    };
    if ascii_raw(exif, Tag::GPSStatus) == Some(b"V") {
        meta.warnings
            .push("GPSStatus says the measurement is void".to_string());
    }
    let altitude = field(exif, Tag::GPSAltitude).and_then(|f| match rationals(f) {
        Ok(v) if v.len() == 1 && v[0].is_finite() => {
            // Reference 1 = below sea level; absent means above (the default).
            let below =
                field(exif, Tag::GPSAltitudeRef).and_then(|r| r.value.get_uint(0)) == Some(1);
            Some(if below { -v[0].abs() } else { v[0] })
        }
        Ok(_) => {
            meta.warnings
                .push("GPSAltitude is not a single number; ignored".to_string());
            None
        }
        Err(why) => {
            meta.warnings.push(format!("GPSAltitude {why}; ignored"));
            None
        }
    });
    let direction = field(exif, Tag::GPSImgDirection).and_then(|f| match rationals(f) {
        Ok(v) if v.len() == 1 && v[0].is_finite() => Some(v[0]),
        Ok(_) => {
            meta.warnings
                .push("GPSImgDirection is not a single number; ignored".to_string());
            None
        }
        Err(why) => {
            meta.warnings
                .push(format!("GPSImgDirection {why}; ignored"));
            None
        }
    });
    let direction_ref = direction
        .and(ascii_raw(exif, Tag::GPSImgDirectionRef))
        .and_then(decode_text);
    let timestamp = gps_timestamp(exif, meta);
    Some(Gps {
        latitude,
        longitude,
        altitude,
        timestamp,
        direction,
        direction_ref,
    })
}

fn gps_timestamp(exif: &Exif, meta: &mut Metadata) -> Option<String> {
    let date = ascii_raw(exif, Tag::GPSDateStamp)?;
    let time = field(exif, Tag::GPSTimeStamp)?;
    let hms = match rationals(time) {
        Ok(v) if v.len() == 3 => v,
        Ok(_) => {
            meta.warnings
                .push("GPSTimeStamp is not hours/minutes/seconds; ignored".to_string());
            return None;
        }
        Err(why) => {
            meta.warnings.push(format!("GPSTimeStamp {why}; ignored"));
            return None;
        }
    };
    let whole =
        |x: f64, max: f64| (x.fract() == 0.0 && (0.0..=max).contains(&x)).then_some(x as u32);
    let (Some(h), Some(m)) = (whole(hms[0], 23.0), whole(hms[1], 59.0)) else {
        meta.warnings
            .push("GPSTimeStamp hours/minutes out of range; ignored".to_string());
        return None;
    };
    let s = hms[2];
    if !(0.0..61.0).contains(&s) {
        meta.warnings
            .push("GPSTimeStamp seconds out of range; ignored".to_string());
        return None;
    }
    let mut date_time = date.to_vec();
    date_time.extend_from_slice(format!(" {h:02}:{m:02}:{:02}", s.trunc() as u32).as_bytes());
    let mut out = match iso_datetime(&date_time) {
        Ok(Some(s)) => s,
        _ => {
            meta.warnings.push(format!(
                "GPSDateStamp {:?} is not a date; ignored",
                bounded(&String::from_utf8_lossy(date))
            ));
            return None;
        }
    };
    // Up to microseconds, without trailing zeros: "…:20.91". Rounding must not
    // carry into the whole seconds already written.
    let micros = ((s.fract() * 1e6).round() as u32).min(999_999);
    if micros != 0 {
        let frac = format!("{micros:06}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    Some(out)
}

fn thumbnail(exif: &Exif, blob_start: Option<usize>, meta: &mut Metadata) -> Option<ThumbnailRef> {
    let off = exif.get_field(Tag::JPEGInterchangeFormat, In::THUMBNAIL);
    let len = exif.get_field(Tag::JPEGInterchangeFormatLength, In::THUMBNAIL);
    let (off, len) = match (off, len) {
        (None, None) => return None,
        (Some(o), Some(l)) => (o.value.get_uint(0), l.value.get_uint(0)),
        _ => {
            meta.warnings
                .push("thumbnail offset without length (or the reverse)".to_string());
            return None;
        }
    };
    let (Some(off), Some(len)) = (off, len) else {
        meta.warnings
            .push("thumbnail offset/length are not integers".to_string());
        return None;
    };
    let (off, len) = (usize::try_from(off).ok()?, usize::try_from(len).ok()?);
    let blob = exif.buf();
    let Some(thumb) = off.checked_add(len).and_then(|end| blob.get(off..end)) else {
        meta.warnings.push(format!(
            "thumbnail ({len} bytes at {off}) lies outside the {}-byte EXIF block",
            blob.len()
        ));
        return None;
    };
    if len == 0 {
        meta.warnings.push("thumbnail length is zero".to_string());
        return None;
    }
    if !thumb.starts_with(&[0xFF, 0xD8]) {
        meta.warnings
            .push("thumbnail does not start with a JPEG marker".to_string());
    }
    let Some(start) = blob_start else {
        meta.warnings.push(
            "thumbnail present but the EXIF block could not be placed in the file".to_string(),
        );
        return None;
    };
    Some(ThumbnailRef {
        offset: start.checked_add(off)?,
        length: len,
    })
}

// ---------------------------------------------------------------------------
// The field listing.

fn ifd_name(f: &Field) -> String {
    let sub = match f.tag.context() {
        Context::Tiff => "",
        Context::Exif => "exif",
        Context::Gps => "gps",
        Context::Interop => "interop",
        _ => "other",
    };
    match (f.ifd_num.index(), sub) {
        (0, "") => "0th".to_string(),
        (0, s) => s.to_string(),
        (1, "") => "1st".to_string(),
        (1, s) => format!("1st/{s}"),
        (n, "") => format!("ifd{n}"),
        (n, s) => format!("ifd{n}/{s}"),
    }
}

fn tag_name(tag: Tag) -> String {
    if tag.description().is_some() {
        tag.to_string()
    } else {
        format!("Tag(0x{:04x})", tag.number())
    }
}

/// Rough heap cost of a parsed value, to bound what listing all fields makes
/// kamadak-exif allocate (values are parsed lazily, on first access, and kept).
fn value_cost(v: &Value) -> usize {
    match v {
        Value::Byte(x) | Value::Undefined(x, _) => x.len(),
        Value::SByte(x) => x.len(),
        Value::Ascii(parts) => parts.iter().map(|p| p.len() + 24).sum(),
        Value::Short(x) => x.len() * 2,
        Value::SShort(x) => x.len() * 2,
        Value::Long(x) => x.len() * 4,
        Value::SLong(x) => x.len() * 4,
        Value::Float(x) => x.len() * 4,
        Value::Rational(x) => x.len() * 8,
        Value::SRational(x) => x.len() * 8,
        Value::Double(x) => x.len() * 8,
        _ => 0,
    }
}

fn list_fields(exif: &Exif, budget: usize, meta: &mut Metadata) {
    let total = exif.fields().len();
    let mut spent = 0usize;
    for (i, f) in exif.fields().enumerate() {
        let value = match &f.value {
            // Text without kamadak-exif's quotes and escapes: this is for people.
            Value::Ascii(parts) => {
                let kept: Vec<String> = parts.iter().filter_map(|p| decode_text(p)).collect();
                bounded(&kept.join(" / "))
            }
            _ => display_bounded(&f.display_value().with_unit(exif)),
        };
        let item = ExifField {
            ifd: ifd_name(f),
            tag: tag_name(f.tag),
            value,
        };
        // Overlapping IFD entries can make a small block expand into much
        // larger parsed values; stop listing rather than follow it.
        spent = spent
            .saturating_add(value_cost(&f.value))
            .saturating_add(item.value.len() + item.tag.len() + 64);
        if spent > budget {
            meta.warnings.push(format!(
                "stopped listing EXIF fields after {i} of {total}: parsed values exceed the metadata limit"
            ));
            return;
        }
        meta.exif.push(item);
    }
}

/// A `fmt::Write` that keeps the first [`MAX_VALUE_CHARS`] characters and then
/// refuses more, so formatting a huge value stops early instead of building it.
struct Bounded {
    out: String,
    chars: usize,
    cut: bool,
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.chars == MAX_VALUE_CHARS {
                self.cut = true;
                return Err(fmt::Error);
            }
            self.out.push(c);
            self.chars += 1;
        }
        Ok(())
    }
}

fn display_bounded(v: &dyn fmt::Display) -> String {
    let mut w = Bounded {
        out: String::new(),
        chars: 0,
        cut: false,
    };
    // An error here is our own refusal (or a formatter's): keep what we have.
    let _ = write!(w, "{v}");
    if w.cut {
        w.out.push('…');
    }
    w.out
}

fn bounded(s: &str) -> String {
    display_bounded(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_datetime_forms() {
        assert_eq!(
            iso_datetime(b"2008:01:22 03:28:22"),
            Ok(Some("2008-01-22T03:28:22".to_string()))
        );
        assert_eq!(iso_datetime(b"    :  :     :  :  "), Ok(None));
        assert_eq!(iso_datetime(b"0000:00:00 00:00:00"), Ok(None));
        assert!(iso_datetime(b"2008:13:22 03:28:22").is_err());
        assert!(iso_datetime(b"2008:01:22").is_err());
        assert!(iso_datetime(b"2008/01/22 03:28:22").is_err());
        assert!(iso_datetime(b"2008:01:22 03:28:2x").is_err());
        assert!(iso_datetime(b"2008:01:22-03:28:22").is_err());
    }

    #[test]
    fn offsets() {
        assert!(valid_offset(b"+02:00"));
        assert!(valid_offset(b"-05:30"));
        assert!(!valid_offset(b"02:00"));
        assert!(!valid_offset(b"+25:00"));
        assert!(!valid_offset(b"+2:00"));
    }

    #[test]
    fn text_decoding_trims_like_exiftool() {
        assert_eq!(decode_text(b"Canon  \0\0").as_deref(), Some("Canon"));
        assert_eq!(decode_text(b"   "), None);
        // Latin-1 fallback for non-UTF-8 bytes.
        assert_eq!(decode_text(b"\xa9 2001").as_deref(), Some("© 2001"));
        assert_eq!(decode_text("© 2001".as_bytes()).as_deref(), Some("© 2001"));
    }

    #[test]
    fn bounded_display_cuts_with_ellipsis() {
        let long = "x".repeat(5000);
        let b = bounded(&long);
        assert_eq!(b.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(b.ends_with('…'));
        assert_eq!(bounded("short"), "short");
    }

    #[test]
    fn unsupported_formats_give_empty_metadata() {
        let l = Limits::default();
        assert_eq!(
            read_metadata(b"GIF89a....", Format::Gif, &l),
            Metadata::default()
        );
        assert_eq!(read_metadata(b"", Format::Unknown, &l), Metadata::default());
    }

    #[test]
    fn garbage_never_panics() {
        let l = Limits::default();
        for f in [
            Format::Jpeg,
            Format::Tiff,
            Format::Png,
            Format::Webp,
            Format::Heif,
        ] {
            for data in [
                &b""[..],
                b"\xff\xd8\xff\xe1\xff\xffExif\0\0MM\0*",
                b"MM\0*\0\0\0\x08\xff\xff",
                b"II*\0\xff\xff\xff\xff",
                b"\x89PNG\r\n\x1a\n\xff\xff\xff\xffeXIf",
                b"RIFF\xff\xff\xff\xffWEBPEXIF\xff\xff\xff\xff",
                b"\0\0\0\x18ftypheic\0\0\0\0mif1heic",
            ] {
                let _ = read_metadata(data, f, &l);
            }
        }
    }

    /// A classic little-endian TIFF whose IFD0 has `n` entries that all point
    /// at the same `len`-byte UNDEFINED value: tiny file, huge parsed size.
    fn overlapping_tiff(n: u16, len: u32) -> Vec<u8> {
        let data_at = 8 + 2 + 12 * u32::from(n) + 4;
        let mut b = b"II*\0\x08\0\0\0".to_vec();
        b.extend_from_slice(&n.to_le_bytes());
        for i in 0..n {
            b.extend_from_slice(&(0xC000 + i).to_le_bytes());
            b.extend_from_slice(&7u16.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(&data_at.to_le_bytes());
        }
        b.extend_from_slice(&0u32.to_le_bytes());
        b.resize(b.len() + len as usize, 0xAB);
        b
    }

    #[test]
    fn overlapping_values_cannot_blow_up_the_listing() {
        // 2000 entries x 60 kB would be 120 MB of parsed values from an 84 kB file.
        let tiff = overlapping_tiff(2000, 60_000);
        let limits = Limits {
            max_metadata_bytes: 1 << 20,
            ..Limits::default()
        };
        let m = read_metadata(&tiff, Format::Tiff, &limits);
        assert!(m.exif.len() < 20, "{} fields listed", m.exif.len());
        assert!(
            m.warnings.iter().any(|w| w.contains("stopped listing")),
            "{:?}",
            m.warnings
        );
        // Each listed value is cut to MAX_VALUE_CHARS.
        assert!(m
            .exif
            .iter()
            .all(|f| f.value.chars().count() <= MAX_VALUE_CHARS + 1));
        // Under the default limit the 84 kB file is parsed too; the listing
        // still stops once the parsed values reach the limit.
        let m = read_metadata(&tiff, Format::Tiff, &Limits::default());
        assert!(m.exif.len() < 400, "{} fields listed", m.exif.len());
    }

    #[test]
    fn tiff_over_the_limit_is_skipped() {
        let tiff = overlapping_tiff(2, 100);
        let limits = Limits {
            max_metadata_bytes: 50,
            ..Limits::default()
        };
        let m = read_metadata(&tiff, Format::Tiff, &limits);
        assert!(m.exif.is_empty());
        assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
        assert!(m.warnings[0].contains("limit"));
    }

    #[test]
    fn orientation_transform_maps_all_valid_values() {
        for o in 1..=8 {
            assert_eq!(
                orientation_transform(o).map(|t| u16::from(t.to_exif())),
                Some(o)
            );
        }
        assert_eq!(orientation_transform(0), None);
        assert_eq!(orientation_transform(9), None);
        assert_eq!(orientation_transform(0x106), None);
    }

    #[test]
    fn apply_orientation_rotates() {
        let img = DynamicImage::new_rgb8(3, 2);
        let r = apply_orientation(img.clone(), Some(6));
        assert_eq!((r.width(), r.height()), (2, 3));
        let r = apply_orientation(img.clone(), Some(42));
        assert_eq!((r.width(), r.height()), (3, 2));
        let r = apply_orientation(img, None);
        assert_eq!((r.width(), r.height()), (3, 2));
    }
}
