//! Pixel decoding under [`Limits`]: header first, then a bounded decode, with
//! decoder panics contained so that one hostile file costs one report, not the
//! batch. Knows nothing of EXIF or the archive; orientation is applied by the
//! caller-supplied value.
//!
//! Everything downstream works from a copy of at most [`WORKING_SIDE`] px, so a
//! large JPEG is decoded in the DCT domain at 1/2, 1/4 or 1/8 scale (the inverse
//! DCT of each 8×8 block computes only 4×4, 2×2 or 1×1 output pixels) and then
//! area-averaged down: the entropy decoding is all that is still paid in full.
//! Anything the scaled decoder does not handle the way the full decoder does
//! (progressive, CMYK, 12-bit, odd sampling, damaged data) takes the full path.

pub mod jpeg_dc;
pub(crate) mod resample;

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use image::{DynamicImage, ImageReader};

use crate::error::{Error, Result};
use crate::input::heif::HeifStructure;
use crate::input::layout::{JpegLayout, Layout};
use crate::input::read::{Blob, Format};
use crate::limits::Limits;

/// Longest side of the working copy that hashes and alignment are computed from.
///
/// PDQ downsamples to 64×64 and pHash to 32×32, so 512 px keeps every hash's
/// input well above its own resolution while making the hashing cost independent
/// of the camera's megapixels.
pub const WORKING_SIDE: u32 = 512;

/// A decoded picture, reduced to what later stages need.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Width of the stored pixels, before orientation.
    pub width: u32,
    /// Height of the stored pixels, before orientation.
    pub height: u32,
    /// Downscaled copy (longest side ≤ [`WORKING_SIDE`]), orientation not yet applied.
    pub working: DynamicImage,
    /// How the pixels were decoded.
    pub path: DecodePath,
    /// `working` already shows the picture as the file says it is shown
    /// (a HEIF's rotation, mirror and crop were applied by its decoder): the
    /// EXIF orientation must not be applied again.
    pub oriented: bool,
}

/// Which decoder produced the working copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodePath {
    /// The whole picture at full size, then area-averaged.
    Full,
    /// A JPEG decoded in the DCT domain at `1/denominator` scale (2, 4 or 8), then
    /// area-averaged.
    ScaledJpeg {
        /// 2, 4 or 8.
        denominator: u32,
    },
    /// A HEIF (HEIC, AVIF) item decoded by libheif, its transformations
    /// applied, then area-averaged.
    Heif,
}

/// Decode a HEIF file's primary image (`item` `None`) or another of its
/// images by item id (a thumbnail), as libheif shows it: rotation (`irot`),
/// mirror (`imir`) and crop (`clap`) applied, grids assembled. `width` and
/// `height` are the coded size (`ispe`), before those transformations, like
/// a JPEG's stored size before its EXIF orientation.
///
/// Limits first: libheif's own security limits are set from `limits`
/// (pixels, grid tiles, memory) before the file is read, and the image's
/// size, known from its properties, is checked against the pixel caps
/// before anything is decoded.
///
/// `structure` is the file's item structure when it was already read (the
/// pipeline's container forensics reads it, [`crate::input::heif`]); `None`
/// reads it here for the tile check.
#[cfg(feature = "heif")]
pub fn decode_heif(
    bytes: &[u8],
    item: Option<u32>,
    structure: Option<&HeifStructure>,
    limits: &Limits,
) -> Result<Decoded> {
    use libheif_rs::{ColorSpace, HeifContext, LibHeif, RgbChroma};
    let failed = |what: &str, e: libheif_rs::HeifError| Error::Decoder {
        what: format!("HEIF {what}"),
        source: Box::new(e),
    };
    // The tile count from the item structure first: libheif 1.23 applies
    // its own tile limit to some layouts only, and this one holds for all.
    let own = match structure {
        Some(_) => None,
        None => crate::input::heif::read_structure(bytes, limits, &mut Vec::new()),
    };
    if let Some(s) = structure.or(own.as_ref()) {
        let id = item.or(s.primary_item);
        if let Some(tiles) = s.items.iter().find(|i| Some(i.id) == id).map(|i| i.tiles) {
            if u64::from(tiles) > limits.max_heif_tiles {
                return Err(Error::Limit {
                    what: "HEIF grid tiles",
                    actual: tiles.into(),
                    limit: limits.max_heif_tiles,
                });
            }
        }
    }
    let lib = LibHeif::new();
    let mut ctx = HeifContext::new().map_err(|e| failed("context", e))?;
    let mut security = ctx.security_limits();
    security.set_max_image_size_pixels(limits.max_pixels);
    security.set_max_number_of_tiles(limits.max_heif_tiles);
    security.set_max_memory_block_size(limits.max_decoder_alloc);
    security.set_max_total_memory(limits.max_decoder_alloc);
    ctx.set_security_limits(&security)
        .map_err(|e| failed("limits", e))?;
    contain(|| ctx.read_bytes(bytes))?.map_err(|e| failed("container", e))?;
    let primary = ctx
        .primary_image_handle()
        .map_err(|e| failed("primary image", e))?;
    let handle = match item {
        None => primary,
        Some(id) => primary.thumbnail(id).map_err(|e| failed("thumbnail", e))?,
    };
    // The coded size and the size as shown (rotated, cropped) both within
    // the caps, before the decoder allocates anything.
    let coded = (
        u32::try_from(handle.ispe_width()).unwrap_or(0),
        u32::try_from(handle.ispe_height()).unwrap_or(0),
    );
    let shown = (handle.width(), handle.height());
    check_dimensions(shown.0, shown.1, limits)?;
    let (width, height) = if coded.0 > 0 && coded.1 > 0 {
        check_dimensions(coded.0, coded.1, limits)?;
        coded
    } else {
        shown
    };
    if u64::from(shown.0) * u64::from(shown.1) * 3 > limits.max_decoder_alloc {
        return Err(Error::Limit {
            what: "decoded image bytes",
            actual: u64::from(shown.0) * u64::from(shown.1) * 3,
            limit: limits.max_decoder_alloc,
        });
    }
    let image = contain(|| lib.decode(&handle, ColorSpace::Rgb(RgbChroma::Rgb), None))?
        .map_err(|e| failed("decoding", e))?;
    let planes = image.planes();
    let plane = planes
        .interleaved
        .ok_or_else(|| Error::Format("HEIF decoding: no interleaved RGB plane".into()))?;
    let (w, h, stride) = (plane.width, plane.height, plane.stride);
    let row = usize::try_from(w).unwrap_or(usize::MAX).saturating_mul(3);
    if w == 0 || h == 0 || stride < row {
        return Err(Error::Format(format!(
            "HEIF decoding: unusable plane {w}×{h}, stride {stride}"
        )));
    }
    let mut rgb = Vec::new();
    rgb.try_reserve_exact(row * h as usize)
        .map_err(|_| Error::Limit {
            what: "decoded image bytes",
            actual: (row * h as usize) as u64,
            limit: limits.max_decoder_alloc,
        })?;
    for y in 0..h as usize {
        let Some(line) = plane.data.get(y * stride..y * stride + row) else {
            return Err(Error::Format(
                "HEIF decoding: plane shorter than its size".into(),
            ));
        };
        rgb.extend_from_slice(line);
    }
    let full = image::RgbImage::from_raw(w, h, rgb)
        .map(DynamicImage::ImageRgb8)
        .ok_or_else(|| Error::Format("HEIF decoding: plane size".into()))?;
    let working = contain(|| shrink_owned(full, WORKING_SIDE))?;
    Ok(Decoded {
        width,
        height,
        working,
        path: DecodePath::Heif,
        oriented: true,
    })
}

/// Without the `heif` feature a HEIF file gets the error it always got.
#[cfg(not(feature = "heif"))]
pub fn decode_heif(
    _bytes: &[u8],
    _item: Option<u32>,
    _structure: Option<&HeifStructure>,
    _limits: &Limits,
) -> Result<Decoded> {
    Err(Error::Format(
        "no pixel decoder for heif (HEIC, HEIF and AVIF pixels need a build with --features heif)"
            .into(),
    ))
}

/// Whether this build decodes HEIF (HEIC, AVIF) pixels.
pub const HEIF_PIXELS: bool = cfg!(feature = "heif");

/// How the picture that was hashed was obtained. Part of the report
/// (`decode`): null when nothing could be decoded.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct DecodeInfo {
    /// What the hashes describe: `image` (the file's own picture),
    /// `heif_primary` (a HEIF's primary image, shown as the file says:
    /// rotation, mirror and crop applied), `raw_preview` (the largest JPEG
    /// preview a RAW file carries, turned by the RAW's orientation),
    /// `first_frame` (the first frame of an animation).
    pub source: DecodeSource,
    /// Which decoder made the pixels: `image` (full size), `jpeg_scaled`
    /// (a JPEG decoded at 1/2, 1/4 or 1/8 in the DCT domain), `libheif`.
    pub decoder: DecoderKind,
    /// The RAW file's preview that was hashed, when `source` is `raw_preview`.
    pub raw_preview: Option<crate::input::raw::RawPreview>,
    /// The animation, when the picture has more than one frame.
    pub animation: Option<Animation>,
}

crate::evidence::named! {
    /// What the hashes describe (the report's `decode.source`).
    #[derive(Default)]
    pub enum DecodeSource {
        /// The file's own picture.
        #[default]
        Image = "image",
        /// A HEIF's primary image, shown as the file says: rotation, mirror
        /// and crop applied.
        HeifPrimary = "heif_primary",
        /// The largest JPEG preview a RAW file carries, turned by the RAW's
        /// orientation.
        RawPreview = "raw_preview",
        /// The first frame of an animation.
        FirstFrame = "first_frame",
    }
}

crate::evidence::named! {
    /// Which decoder made the pixels (the report's `decode.decoder`).
    #[derive(Default)]
    pub enum DecoderKind {
        /// The `image` crate's decoders, at full size.
        #[default]
        Image = "image",
        /// A JPEG decoded at 1/2, 1/4 or 1/8 in the DCT domain.
        JpegScaled = "jpeg_scaled",
        /// libheif (HEIF, AVIF; the `heif` feature).
        Libheif = "libheif",
    }
}

/// An animated picture (GIF, WebP, APNG): what was counted, and the later
/// frame that shows something else than the first, if any.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Animation {
    /// Frames counted (all of them unless `frames_truncated`).
    pub frames: u32,
    /// There were more frames than `--max-frames`; only the first were
    /// counted and compared.
    pub frames_truncated: bool,
    /// The frames' delays added up, in milliseconds.
    pub duration_ms: u64,
    /// Frames compared with the first (every later one counted).
    pub frames_compared: u32,
    /// The later frame that differs most from the first, when one differs
    /// as much as an edited picture's thumbnail does (the thumbnail
    /// thresholds): it could be the picture that circulated.
    pub differing_frame: Option<DifferingFrame>,
}

/// A later frame of an animation that shows another picture than the first.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct DifferingFrame {
    /// Its index, counting the first frame as 0.
    pub index: u32,
    /// When it is shown, in milliseconds from the start.
    pub at_ms: u64,
    /// Hamming distance per algorithm from the first frame.
    pub distance: std::collections::BTreeMap<String, u32>,
}

impl DecodeInfo {
    /// The source and decoder of a decoded picture.
    pub fn of(d: &Decoded) -> DecodeInfo {
        let (source, decoder) = match d.path {
            DecodePath::Heif => (DecodeSource::HeifPrimary, DecoderKind::Libheif),
            DecodePath::ScaledJpeg { .. } => (DecodeSource::Image, DecoderKind::JpegScaled),
            DecodePath::Full => (DecodeSource::Image, DecoderKind::Image),
        };
        DecodeInfo {
            source,
            decoder,
            ..DecodeInfo::default()
        }
    }
}

/// Call `each` with every frame of an animated GIF, WebP or PNG (APNG), in
/// order: its index from 0, its delay in milliseconds and its pixels (the
/// whole canvas as shown at that frame, shrunk to at most `side` px). Stops
/// after `limits.max_frames` frames or when `each` breaks. Returns the
/// frames given and whether there were more; `Ok(None)` for a still
/// picture (one frame, or a format without animation).
///
/// The canvas size is checked against the limits before the first frame is
/// decoded, and the decoder gets the allocation cap; each frame is shrunk
/// before the next is decoded, so memory holds one canvas at a time.
pub fn frames(
    blob: &Blob,
    limits: &Limits,
    side: u32,
    mut each: impl FnMut(u32, u64, DynamicImage) -> std::ops::ControlFlow<()>,
) -> Result<Option<(u32, bool)>> {
    use image::{AnimationDecoder, ImageDecoder};
    dimensions(blob, limits)?;
    let cursor = || Cursor::new(&blob.bytes[..]);
    let failed = Error::Decode;
    let frames: image::Frames<'_> = match blob.format {
        Format::Gif => {
            let mut d = image::codecs::gif::GifDecoder::new(cursor()).map_err(failed)?;
            d.set_limits(image_limits(limits)).map_err(failed)?;
            d.into_frames()
        }
        Format::Webp => {
            let mut d = image::codecs::webp::WebPDecoder::new(cursor()).map_err(failed)?;
            if !d.has_animation() {
                return Ok(None);
            }
            d.set_limits(image_limits(limits)).map_err(failed)?;
            d.into_frames()
        }
        Format::Png => {
            let mut d = image::codecs::png::PngDecoder::new(cursor()).map_err(failed)?;
            if !d.is_apng().map_err(failed)? {
                return Ok(None);
            }
            d.set_limits(image_limits(limits)).map_err(failed)?;
            d.apng().map_err(failed)?.into_frames()
        }
        _ => return Ok(None),
    };
    let mut frames = frames;
    let mut n = 0u32;
    let mut more = false;
    loop {
        let Some(frame) = contain(|| frames.next())? else {
            break;
        };
        let frame = frame.map_err(failed)?;
        if n as usize >= limits.max_frames {
            more = true;
            break;
        }
        let (num, den) = frame.delay().numer_denom_ms();
        let ms = u64::from(num) / u64::from(den.max(1));
        let img = contain(|| shrink_owned(DynamicImage::ImageRgba8(frame.into_buffer()), side))?;
        let flow = each(n, ms, img);
        n += 1;
        if flow.is_break() {
            break;
        }
    }
    Ok((n > 1 || more).then_some((n, more)))
}

/// Read only the header and check the dimensions against the limits.
pub fn dimensions(blob: &Blob, limits: &Limits) -> Result<(u32, u32)> {
    if blob.format == Format::Jpeg {
        let headers = Layout::Jpeg(JpegLayout::headers(&blob.bytes));
        return dimensions_with(blob, &headers, limits);
    }
    dimensions_with(blob, &Layout::Other, limits)
}

/// [`dimensions`] from the file's structure already read: a JPEG's size
/// comes from its frame header.
pub fn dimensions_with(blob: &Blob, layout: &Layout, limits: &Limits) -> Result<(u32, u32)> {
    // `image`'s JPEG decoder copies the whole file into a buffer of its own
    // before it reads the header: a fresh 4 MB a photo, 2-4% of a scan.
    if let Some((w, h)) = layout.jpeg().and_then(|j| j.frame_size(&blob.bytes)) {
        check_dimensions(w, h, limits)?;
        return Ok((w, h));
    }
    let format = blob
        .format
        .image_format()
        .ok_or_else(|| Error::Format(format!("no pixel decoder for {}", blob.format.name())))?;
    let mut reader = ImageReader::with_format(Cursor::new(&blob.bytes[..]), format);
    // Only the allocation cap here: the dimension caps are checked below, so that
    // exceeding one is reported as our own limit error with its numbers.
    let mut header_limits = image::Limits::default();
    header_limits.max_alloc = Some(limits.max_decoder_alloc);
    reader.limits(header_limits);
    let (w, h) = contain(|| reader.into_dimensions())?.map_err(Error::Decode)?;
    check_dimensions(w, h, limits)?;
    Ok((w, h))
}

/// A JPEG's stored size from its first frame header (see
/// [`JpegLayout::frame_size`]), reading the segments before it alone. `None`
/// for anything else: the caller then asks the `image` crate.
pub fn jpeg_frame_size(bytes: &[u8]) -> Option<(u32, u32)> {
    JpegLayout::headers(bytes).frame_size(bytes)
}

fn check_dimensions(w: u32, h: u32, limits: &Limits) -> Result<()> {
    if w == 0 || h == 0 {
        return Err(Error::Format(format!("image has no pixels ({w}×{h})")));
    }
    limits.check_dimensions(w, h)
}

fn image_limits(limits: &Limits) -> image::Limits {
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_width);
    l.max_image_height = Some(limits.max_height);
    l.max_alloc = Some(limits.max_decoder_alloc);
    l
}

/// Whether a JPEG's marker structure reaches its end-of-image marker (see
/// [`JpegLayout::complete`]), for a caller that holds only the bytes; the
/// pipeline asks the layout it read once.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    JpegLayout::read(bytes).complete()
}

/// Decode the pixels (header checked first) and make the working copy.
///
/// A JPEG at least twice [`WORKING_SIDE`] on its longest side is decoded at the
/// smallest DCT scale that still gives the working side (1/8 from 3/4 of it:
/// see [`decode_jpeg_scaled`]); anything the scaled
/// decoder declines or fails on is decoded in full, so the result never depends
/// on which decoder could read the file, only the speed does.
pub fn decode(blob: &Blob, limits: &Limits) -> Result<Decoded> {
    if blob.format == Format::Jpeg {
        // Only the headers: the decoders find the end of the data themselves.
        return decode_with(
            blob,
            &Layout::Jpeg(JpegLayout::headers(&blob.bytes)),
            limits,
        );
    }
    decode_with(blob, &Layout::Other, limits)
}

/// [`decode`] from the file's structure already read (frame size, tables
/// and scan header from a JPEG's segments).
pub fn decode_with(blob: &Blob, layout: &Layout, limits: &Limits) -> Result<Decoded> {
    if blob.format == Format::Heif {
        return decode_heif(&blob.bytes, None, None, limits);
    }
    let (width, height) = dimensions_with(blob, layout, limits)?;
    if let (Format::Jpeg, Some(jpeg)) = (blob.format, layout.jpeg()) {
        if let Ok(Some(d)) =
            decode_jpeg_scaled_with(&blob.bytes, jpeg, (width, height), WORKING_SIDE, limits)
        {
            return Ok(d);
        }
    }
    decode_full_checked(blob, (width, height), limits)
}

/// Decode at full size with the `image` crate, whatever the format, and make the
/// working copy: the reference that the scaled path is measured against.
pub fn decode_full(blob: &Blob, limits: &Limits) -> Result<Decoded> {
    let dims = dimensions(blob, limits)?;
    decode_full_checked(blob, dims, limits)
}

fn decode_full_checked(
    blob: &Blob,
    (width, height): (u32, u32),
    limits: &Limits,
) -> Result<Decoded> {
    let format = blob
        .format
        .image_format()
        .ok_or_else(|| Error::Format(format!("no pixel decoder for {}", blob.format.name())))?;
    let mut reader = ImageReader::with_format(Cursor::new(&blob.bytes[..]), format);
    reader.limits(image_limits(limits));
    let image = contain(|| reader.decode())?.map_err(Error::Decode)?;
    let working = contain(|| shrink_owned(image, WORKING_SIDE))?;
    Ok(Decoded {
        width,
        height,
        working,
        path: DecodePath::Full,
        oriented: false,
    })
}

/// The largest DCT scale denominator (8, 4, 2) whose output still has a longest
/// side of at least `side`; 1 when no reduction keeps it.
///
/// A reduced inverse DCT gives `ceil(len / n)` pixels per dimension.
pub fn dct_denominator(width: u32, height: u32, side: u32) -> u32 {
    let long = width.max(height);
    [8, 4, 2]
        .into_iter()
        .find(|&n| long.div_ceil(n) >= side)
        .unwrap_or(1)
}

/// The DCT scale the scaled path decodes at: [`dct_denominator`]'s, except
/// that 8 and 12 MP phone pictures (3065 to 4088 px long) take 1/8 instead of
/// 1/4. Their 1/8 is 384 to 511 px, a little under `side` and far over what
/// any hash or the aligner reads (PDQ 64 px, the aligner 320); at 1/8
/// libjpeg-turbo skips most of the inverse DCT and leaves a quarter of the
/// pixels to convert and average. The working copy is then enlarged by at
/// most 4/3.
pub fn scaled_denominator(width: u32, height: u32, side: u32) -> u32 {
    match dct_denominator(width, height, side) {
        4 if width.max(height).div_ceil(8) >= side * 3 / 4 => 8,
        n => n,
    }
}

/// Decode a JPEG in the DCT domain at the smallest scale whose longest side is
/// still at least `side` (or 1/8 when that is at least 3/4 of `side`), then
/// area-average (or enlarge) to `side`.
///
/// `Ok(None)` means "not for this path": no reduction is possible, or the file is
/// progressive, CMYK/YCCK, 12/16-bit, arithmetic-coded or lossless, or the two
/// decoders disagree on its size. The caller then decodes in full. `dims` must
/// already have been checked against `limits` (by [`dimensions`]); the output
/// buffer is capped by `limits.max_decoder_alloc` as well.
///
/// The DCT-domain decoder is jpeg-decoder, or libjpeg-turbo with the `turbojpeg`
/// feature; both decline the same files, so which one is built changes the speed
/// and the last bits of a few pixels, not which path a file takes.
pub fn decode_jpeg_scaled(
    bytes: &[u8],
    dims: (u32, u32),
    side: u32,
    limits: &Limits,
) -> Result<Option<Decoded>> {
    decode_jpeg_scaled_with(bytes, &JpegLayout::headers(bytes), dims, side, limits)
}

/// [`decode_jpeg_scaled`] from the JPEG's segments already read (at least to
/// the first scan: [`JpegLayout::headers`] or [`JpegLayout::read`]).
pub fn decode_jpeg_scaled_with(
    bytes: &[u8],
    layout: &JpegLayout,
    dims: (u32, u32),
    side: u32,
    limits: &Limits,
) -> Result<Option<Decoded>> {
    let (width, height) = dims;
    let n = scaled_denominator(width, height, side);
    if n == 1 {
        return Ok(None);
    }
    // At 1/8 only the DC coefficients are needed; the DC-only decoder takes
    // plain baseline files and leaves anything else to the general one.
    let dc_only = if n == 8 {
        contain(|| crate::decode::jpeg_dc::decode_with(bytes, layout, dims, limits))?
    } else {
        None
    };
    let image = match dc_only {
        Some(image) => Some(image),
        #[cfg(feature = "turbojpeg")]
        None => scaled_pixels_turbo(bytes, dims, n, limits)?,
        #[cfg(not(feature = "turbojpeg"))]
        None => scaled_pixels(bytes, dims, n, limits)?,
    };
    let Some(image) = image else {
        return Ok(None);
    };
    // The target comes from the stored size, not the scaled one, so that both
    // paths give the same working size (rounding `ceil(w / n)` first can differ
    // by a pixel).
    let (tw, th) = working_size(width, height, side);
    let working = if image.width() >= tw && image.height() >= th {
        contain(|| crate::decode::resample::thumbnail_exact(&image, tw, th))?
    } else {
        contain(|| {
            crate::decode::resample::resize_exact(
                &image,
                tw,
                th,
                image::imageops::FilterType::Triangle,
            )
        })?
    };
    Ok(Some(Decoded {
        width,
        height,
        working,
        path: DecodePath::ScaledJpeg { denominator: n },
        oriented: false,
    }))
}

/// Size of a reduced inverse DCT's output at `1/n`: `ceil(len / n)` a side.
/// Either decoder's own answer must equal it, or the file takes the full path.
fn scaled_size(width: u32, height: u32, n: u32) -> (u32, u32) {
    (width.div_ceil(n), height.div_ceil(n))
}

/// A decoder's output, one byte per sample: luma (`gray`) or RGB.
fn raw_image(w: u32, h: u32, gray: bool, pixels: Vec<u8>) -> Option<DynamicImage> {
    if gray {
        image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8)
    } else {
        image::RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
    }
}

/// The picture at `1/n` scale by jpeg-decoder's reduced inverse DCT. Compiled
/// in every build so that one lint run (all features) checks both decoders.
#[cfg_attr(feature = "turbojpeg", allow(dead_code))]
fn scaled_pixels(
    bytes: &[u8],
    (width, height): (u32, u32),
    n: u32,
    limits: &Limits,
) -> Result<Option<DynamicImage>> {
    use jpeg_decoder::{CodingProcess, PixelFormat};
    let mut dec = jpeg_decoder::Decoder::new(bytes);
    dec.set_max_decoding_buffer_size(
        usize::try_from(limits.max_decoder_alloc).unwrap_or(usize::MAX),
    );
    let failed = |what: &str| {
        let what = what.to_string();
        move |e: jpeg_decoder::Error| Error::Decoder {
            what,
            source: Box::new(e),
        }
    };
    contain(|| dec.read_info())?.map_err(failed("scaled JPEG header"))?;
    let Some(info) = dec.info() else {
        return Ok(None);
    };
    // Progressive files keep every coefficient of the full image until the last
    // scan, CMYK needs the Adobe inversion the full decoder applies, and 16-bit
    // output is not what hashes take: those are rare and go the reference way.
    if info.coding_process != CodingProcess::DctSequential
        || !matches!(info.pixel_format, PixelFormat::L8 | PixelFormat::RGB24)
        || (u32::from(info.width), u32::from(info.height)) != (width, height)
    {
        return Ok(None);
    }
    // jpeg-decoder picks the smallest scale at which either side reaches the
    // request: asking for the scaled size of the longest side gives `1/n`.
    let req = u16::try_from(width.max(height).div_ceil(n)).unwrap_or(u16::MAX);
    let (sw, sh) = contain(|| dec.scale(req, req))?.map_err(failed("scaled JPEG"))?;
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    if (sw, sh) != scaled_size(width, height, n) {
        return Ok(None);
    }
    let pixels = contain(|| dec.decode())?.map_err(failed("scaled JPEG"))?;
    Ok(raw_image(
        sw,
        sh,
        info.pixel_format == PixelFormat::L8,
        pixels,
    ))
}

/// The picture at `1/n` scale by libjpeg-turbo's reduced inverse DCT.
#[cfg(feature = "turbojpeg")]
fn scaled_pixels_turbo(
    bytes: &[u8],
    (width, height): (u32, u32),
    n: u32,
    limits: &Limits,
) -> Result<Option<DynamicImage>> {
    use std::cell::RefCell;
    use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat, ScalingFactor};
    thread_local! {
        // A handle per worker thread, reused: "buffers reused per worker".
        static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
    }
    let failed = |e: turbojpeg::Error| Error::Decoder {
        what: "scaled JPEG (libjpeg-turbo)".into(),
        source: Box::new(e),
    };
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let dec = match &mut *slot {
            Some(d) => d,
            None => slot.insert(Decompressor::new().map_err(failed)?),
        };
        let header = dec.read_header(bytes).map_err(failed)?;
        // The same files as jpeg-decoder's path declines (see there); arithmetic
        // coding too, which the full decoder cannot read: a file must not decode
        // only in the build that has libjpeg-turbo.
        if header.is_progressive
            || header.is_lossless
            || header.is_arithmetic
            || (header.width, header.height) != (width as usize, height as usize)
        {
            return Ok(None);
        }
        let (format, channels) = match header.colorspace {
            Colorspace::Gray => (PixelFormat::GRAY, 1),
            Colorspace::YCbCr | Colorspace::RGB => (PixelFormat::RGB, 3),
            _ => return Ok(None),
        };
        let factor = ScalingFactor::new(1, n as usize);
        let scaled = header.scaled(factor);
        let (sw, sh) = scaled_size(width, height, n);
        if (scaled.width, scaled.height) != (sw as usize, sh as usize) {
            return Ok(None);
        }
        let (sw, sh) = (scaled.width, scaled.height);
        let Some(len) = sw
            .checked_mul(sh)
            .and_then(|p| p.checked_mul(channels))
            .filter(|&len| len as u64 <= limits.max_decoder_alloc)
        else {
            return Ok(None);
        };
        dec.set_scaling_factor(factor).map_err(failed)?;
        let mut pixels = vec![0u8; len];
        let out = Image {
            pixels: &mut pixels[..],
            width: sw,
            pitch: sw * channels,
            height: sh,
            format,
        };
        // libjpeg-turbo reports corrupt data as an error (its warnings
        // included), so a damaged file takes the full decoder, as with
        // jpeg-decoder.
        contain(|| dec.decompress(bytes, out))?.map_err(failed)?;
        Ok(raw_image(sw as u32, sh as u32, channels == 1, pixels))
    })
}

/// Downscale so the longest side is at most `side`, by area averaging.
///
/// `thumbnail` averages every source pixel into its target (no aliasing, unlike
/// nearest-neighbour) and is several times cheaper than a Lanczos resize, which
/// hashes do not need.
pub fn shrink(image: &DynamicImage, side: u32) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    if w <= side && h <= side {
        return image.clone();
    }
    let (tw, th) = working_size(w, h, side);
    crate::decode::resample::thumbnail_exact(image, tw, th)
}

/// The size a `width`×`height` picture is shrunk to: longest side `side`, the
/// other rounded down, at least 1; unchanged when it already fits.
pub fn working_size(width: u32, height: u32, side: u32) -> (u32, u32) {
    let scale = |a: u32, b: u32| ((u64::from(a) * u64::from(side)) / u64::from(b)).max(1) as u32;
    if width <= side && height <= side {
        (width, height)
    } else if width >= height {
        (side, scale(height, width))
    } else {
        (scale(width, height), side)
    }
}

/// [`shrink`] taking ownership, so a picture already small enough is not copied.
fn shrink_owned(image: DynamicImage, side: u32) -> DynamicImage {
    if image.width() <= side && image.height() <= side {
        image
    } else {
        shrink(&image, side)
    }
}

/// Run decoder code and turn a panic into a per-file error.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Error::DecoderPanic(message)
    })
}

/// Apply an EXIF orientation (1–8) so that hashes see the picture as displayed.
pub fn orient(image: DynamicImage, orientation: Option<u16>) -> DynamicImage {
    let Some(o) = orientation.and_then(|o| u8::try_from(o).ok()) else {
        return image;
    };
    let Some(orientation) = image::metadata::Orientation::from_exif(o) else {
        return image;
    };
    let mut image = image;
    image.apply_orientation(orientation);
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Blob {
        let img = DynamicImage::new_rgb8(w, h);
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        Blob::from_bytes(out.into_inner())
    }

    #[test]
    fn limits_are_checked_before_decoding() {
        let blob = png(100, 50);
        let tight = Limits {
            max_pixels: 4999,
            ..Limits::default()
        };
        assert!(matches!(decode(&blob, &tight), Err(Error::Limit { .. })));
        let narrow = Limits {
            max_width: 99,
            ..Limits::default()
        };
        assert!(matches!(decode(&blob, &narrow), Err(Error::Limit { .. })));
        let d = decode(&blob, &Limits::default()).unwrap();
        assert_eq!((d.width, d.height), (100, 50));
    }

    #[test]
    fn working_copy_is_bounded_and_keeps_aspect() {
        let d = decode(&png(2000, 1000), &Limits::default()).unwrap();
        assert_eq!((d.working.width(), d.working.height()), (512, 256));
        let d = decode(&png(30, 20), &Limits::default()).unwrap();
        assert_eq!((d.working.width(), d.working.height()), (30, 20));
    }

    #[test]
    fn truncated_and_garbage_inputs_are_errors() {
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(64, 64, |x, y| {
            image::Rgb([((x * 7) ^ (y * 3)) as u8, (y * 5) as u8, (x * y) as u8])
        }));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        let blob = Blob::from_bytes(out.into_inner());
        // Cuts inside the header or the pixel data (a missing IEND alone is harmless).
        for cut in [8, 20, 33, blob.bytes.len() / 2, blob.bytes.len() - 40] {
            let b = Blob::from_bytes(blob.bytes[..cut].to_vec());
            assert!(decode(&b, &Limits::default()).is_err(), "prefix {cut}");
        }
        let text = Blob::from_bytes(b"not an image at all".to_vec());
        assert!(matches!(
            decode(&text, &Limits::default()),
            Err(Error::Format(_))
        ));
    }

    /// A decoder's refusal keeps the decoder's error as its cause, and the
    /// report's message (the chain) reads as it did when the cause was
    /// formatted into the text.
    #[test]
    fn a_decoder_error_keeps_its_cause() {
        let e = scaled_pixels(b"\xFF\xD8\xFF\xC0\x00", (64, 48), 8, &Limits::default())
            .expect_err("a cut frame header");
        let cause = std::error::Error::source(&e).expect("the decoder's error");
        assert!(matches!(e, Error::Decoder { .. }), "{e:?}");
        assert_eq!(
            crate::error::error_chain(&e),
            format!("unsupported or unrecognised format: scaled JPEG header: {cause}")
        );
    }

    #[test]
    fn jpeg_completeness_sees_every_cut() {
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x + y) * 2) as u8])
        }));
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, image::ImageFormat::Jpeg).unwrap();
        let bytes = buf.into_inner();
        assert!(jpeg_is_complete(&bytes));
        let mut trailing = bytes.clone();
        trailing.extend_from_slice(b"appended data after EOI");
        assert!(jpeg_is_complete(&trailing));
        for cut in 0..bytes.len() - 1 {
            assert!(!jpeg_is_complete(&bytes[..cut]), "prefix {cut}");
        }
    }

    #[test]
    fn orientation_six_turns_the_picture() {
        let img = DynamicImage::new_rgb8(40, 10);
        let o = orient(img, Some(6));
        assert_eq!((o.width(), o.height()), (10, 40));
        let same = orient(DynamicImage::new_rgb8(40, 10), Some(42));
        assert_eq!((same.width(), same.height()), (40, 10));
    }
}
