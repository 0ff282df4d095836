//! Geometric verification: does a query picture show (part of) an archive picture?
//!
//! Perceptual hashes only recognise whole-frame copies. Pictures that circulate are
//! cropped, captioned, watermarked, letterboxed, mirrored or shown small inside a
//! screenshot, and then a hash of the whole frame no longer matches. This module
//! decides those cases by aligning two small grayscale thumbnails: it searches the
//! eight dihedral transforms, a range of scales and all integer offsets,
//! coarse-to-fine, and scores the best alignment block by block so that occluders
//! (caption bars, logos) cost only the blocks they cover.
//!
//! It owns the [`Thumb`] format stored in the archive for every image (so that
//! verification never needs the original file) and the alignment itself. It does
//! no I/O, no hashing and no database work: callers decode the pictures, store and
//! load thumbnails, and pick which candidate pairs to verify. Everything here is
//! pure and deterministic, and never panics on untrusted thumbnail bytes.

use image::DynamicImage;
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::geometry::{Dihedral, Rect};

/// Longest side, in pixels, of the thumbnail stored for every archive picture.
///
/// 128 px keeps the stored thumbnail at ≤ 16 KiB (typically 10 KiB for 4:3 and
/// 16:10 photos) while a crop showing a third of the archive picture still covers
/// about 40 × 30 archive pixels, enough blocks to verify. Measured in
/// `tests/library/align_eval.rs`: 96 px lost recall on small crops, 160 px gained nothing
/// measurable.
pub const THUMB_SIDE: u32 = 128;

/// Recommended longest side for the *query* thumbnail (made in memory, never stored).
///
/// The archive thumbnail limits what can be verified, so the query only has to be
/// sharp enough where it shows the archive picture. A phone screenshot shows the
/// photo on ~40 % of its longest side: at 320 px that photo is still ≥ 128 px
/// wide, so the comparison runs at full archive resolution.
pub const QUERY_SIDE: u32 = 320;

/// Largest thumbnail side accepted by [`Thumb::from_bytes`]; larger values in stored
/// bytes mean corruption, and the cap bounds the allocation made on load.
pub const MAX_THUMB_SIDE: u16 = 2048;

/// First bytes of a serialised [`Thumb`]: a magic tag and the format version.
const THUMB_MAGIC: [u8; 3] = *b"RTH";
/// Current serialisation version; bump it when the layout or the pixel recipe changes.
const THUMB_VERSION: u8 = 1;
/// Magic (3) + version (1) + width, height (2 × u16) + source width, height (2 × u32).
const THUMB_HEADER: usize = 16;

/// A compact grayscale thumbnail stored in the archive for every image (so the
/// archive never needs the original file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumb {
    /// Thumbnail width in pixels (≥ 1).
    pub width: u16,
    /// Thumbnail height in pixels (≥ 1).
    pub height: u16,
    /// Row-major 8-bit luma, `width × height` bytes.
    pub pixels: Vec<u8>,
    /// Width of the picture the thumbnail was made from, so that scales can be
    /// reported in full-frame pixels.
    pub source_width: u32,
    /// Height of the picture the thumbnail was made from.
    pub source_height: u32,
}

impl Thumb {
    /// Thumbnail with longest side [`THUMB_SIDE`], as stored in the archive.
    pub fn from_image(img: &DynamicImage) -> Thumb {
        Thumb::from_image_with_side(img, THUMB_SIDE)
    }

    /// Thumbnail with the given longest side (clamped to 8..=[`MAX_THUMB_SIDE`]);
    /// pictures already smaller are kept at their size, never upscaled.
    ///
    /// Downscaling is an exact area average of the luma (Rec. 709 weights, as
    /// `image` computes them), so thumbnails made from differently sized copies of
    /// one picture agree up to rounding; alpha is ignored.
    pub fn from_image_with_side(img: &DynamicImage, side: u32) -> Thumb {
        Thumb::from_luma_with_side(&img.to_luma8(), side)
    }

    /// [`Thumb::from_image_with_side`] of a picture already turned grey as
    /// `to_luma8` turns it: the same thumbnail, without converting again.
    pub fn from_luma_with_side(luma: &image::GrayImage, side: u32) -> Thumb {
        let side = side.clamp(8, u32::from(MAX_THUMB_SIDE));
        let (sw, sh) = luma.dimensions();
        let (sw, sh) = (sw.max(1), sh.max(1));
        let long = sw.max(sh);
        let (w, h) = if long <= side {
            (sw, sh)
        } else {
            let k = f64::from(long) / f64::from(side);
            (
                ((f64::from(sw) / k).round() as u32).clamp(1, side),
                ((f64::from(sh) / k).round() as u32).clamp(1, side),
            )
        };
        let src = if luma.width() == 0 || luma.height() == 0 {
            Plane::new(1, 1, vec![0.0])
        } else {
            Plane::new(
                luma.width() as usize,
                luma.height() as usize,
                luma.as_raw().iter().map(|&v| f32::from(v)).collect(),
            )
        };
        let out = resize_exact(&src, w as usize, h as usize);
        Thumb {
            width: w as u16,
            height: h as u16,
            pixels: out
                .p
                .iter()
                .map(|&v| v.round().clamp(0.0, 255.0) as u8)
                .collect(),
            source_width: sw,
            source_height: sh,
        }
    }

    /// Serialise: `"RTH"`, version, width and height (u16 LE), source width and
    /// height (u32 LE), then the pixels. 16 bytes of overhead.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(THUMB_HEADER + self.pixels.len());
        out.extend_from_slice(&THUMB_MAGIC);
        out.push(THUMB_VERSION);
        out.extend_from_slice(&self.width.to_le_bytes());
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.source_width.to_le_bytes());
        out.extend_from_slice(&self.source_height.to_le_bytes());
        out.extend_from_slice(&self.pixels);
        out
    }

    /// Parse bytes made by [`Thumb::to_bytes`]. Database content is untrusted: any
    /// wrong magic, unknown version, zero or oversized dimension, length mismatch or
    /// a source smaller than the thumbnail gives `None`, never a panic.
    pub fn from_bytes(b: &[u8]) -> Option<Thumb> {
        if b.len() < THUMB_HEADER || b[..3] != THUMB_MAGIC || b[3] != THUMB_VERSION {
            return None;
        }
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let (width, height) = (u16_at(4), u16_at(6));
        let (source_width, source_height) = (u32_at(8), u32_at(12));
        if width == 0 || height == 0 || width > MAX_THUMB_SIDE || height > MAX_THUMB_SIDE {
            return None;
        }
        if source_width < u32::from(width) || source_height < u32::from(height) {
            return None;
        }
        let n = usize::from(width) * usize::from(height);
        if b.len() != THUMB_HEADER + n {
            return None;
        }
        Some(Thumb {
            width,
            height,
            pixels: b[THUMB_HEADER..].to_vec(),
            source_width,
            source_height,
        })
    }

    /// Whether the fields are mutually consistent (pixel count matches, sizes ≥ 1);
    /// `align` treats inconsistent thumbnails as unalignable instead of panicking.
    fn is_valid(&self) -> bool {
        self.width > 0
            && self.height > 0
            && self.pixels.len() == usize::from(self.width) * usize::from(self.height)
    }

    fn plane(&self) -> Plane {
        Plane::new(
            usize::from(self.width),
            usize::from(self.height),
            self.pixels.iter().map(|&v| f32::from(v) - 128.0).collect(),
        )
    }
}

/// The best alignment found between a query and an archive thumbnail.
#[derive(Debug, Clone, PartialEq)]
pub struct Alignment {
    /// What was applied to the archive picture to give the query's orientation.
    pub transform: Dihedral,
    /// Query pixels per archive pixel, in full-frame (source) pixels: measured on
    /// the thumbnails, then converted with each thumbnail's source size. 1.0 for a
    /// same-size copy, 0.5 when the query shows the archive at half size.
    pub scale: f32,
    /// The part of the query that shows the archive picture.
    pub query_region: Rect,
    /// The part of the archive picture (in its own, untransformed frame) that the
    /// query shows.
    pub archive_region: Rect,
    /// Robust similarity in 0..=1: the fraction of blocks, textured in both
    /// pictures, whose detail (each block minus its best-fit plane) correlates
    /// above [`AlignParams::block_ncc`]. Blocks flat in either picture (sky, bars,
    /// borders) count neither way, so an opaque caption bar costs nothing and text
    /// or a logo costs only the blocks it covers.
    pub score: f32,
    /// Plain normalised cross-correlation of the two pictures over the whole overlap.
    pub ncc: f32,
    /// Blocks textured in both pictures (the denominator of `score`).
    pub textured_blocks: u32,
    /// Textured blocks whose detail correlates above the threshold.
    pub agreeing_blocks: u32,
    /// The calibrated decision: true only when a newsroom could publish that the
    /// query shows this archive picture (see [`AlignParams`] for the rule).
    pub confident: bool,
    #[doc(hidden)]
    pub features: Vec<f32>,
}

/// Search ranges and decision thresholds for [`align`].
///
/// # Calibration
///
/// Figures from `tests/library/align_eval.rs`, re-run with
/// `cargo test --release --test library align_eval:: -- --nocapture`. (Filled in below.)
#[derive(Debug, Clone, PartialEq)]
pub struct AlignParams {
    /// Transforms searched. All eight by default; `[Identity, Mirror]` covers what
    /// is common in circulation (mirrored reposts) at a quarter of the cost.
    pub transforms: Vec<Dihedral>,
    /// Smallest part of the archive picture a cropped query may show, as a linear
    /// fraction (square root of the area fraction). 0.33: a crop to a third of the
    /// width and height (11 % of the area) is the smallest searched; smaller crops
    /// carry too few archive-thumbnail pixels to verify.
    pub min_crop_fraction: f32,
    /// Smallest part of the query the archive picture may occupy when shown inside
    /// it (screenshot, border, appended caption), linear as above. 0.28 covers a
    /// photo on 30 % of a screenshot's width-and-height mean with margin.
    pub min_inset_fraction: f32,
    /// Rotations and flips other than the plain mirror image are searched only for
    /// near whole-frame alignments, where each picture shows at least this linear
    /// fraction of the other. Sideways or upside-down copies circulate as whole
    /// frames (phone orientation); searching them over every crop and inset scale
    /// would quadruple the cost and the chances of a coincidental match. Set it to
    /// `min_crop_fraction.min(min_inset_fraction)` for a full search.
    pub rotated_min_fraction: f32,
    /// Along each axis the overlap must span this fraction of the shorter of the
    /// two pictures (in common coordinates). Real crops and insets overlap fully
    /// (1.0); 0.8 leaves room for borders around a crop while rejecting pictures
    /// that merely share an edge strip (panorama neighbours, burst pans).
    pub min_axis_cover: f32,
    /// Ratio between neighbouring scales in the coarse search (1.08 = 8 % steps;
    /// at the coarse level's ~16–32 px this moves the far edge by ≤ 1.3 px).
    pub coarse_scale_step: f32,
    /// Longest side, in pixels, of the overlap at the coarse search level. Smaller
    /// is faster but ranks the true alignment lower among chance peaks.
    pub coarse_side: f32,
    /// Candidates from the coarse search that are refined (the rest are dropped).
    pub candidates: usize,
    /// Side, in pixels at the comparison level, of the square scoring blocks.
    pub block: usize,
    /// Minimum detail (RMS of a block minus its best-fit plane, gray levels) for a
    /// block to count as textured. Below it a block is flat: JPEG noise and smooth
    /// gradients would otherwise correlate by chance.
    pub texture_min: f32,
    /// Detail correlation above which a textured block agrees.
    pub block_ncc: f32,
    /// Confidence needs at least this many agreeing blocks (absolute evidence).
    pub min_agreeing_blocks: u32,
    /// Confidence needs `score` at least this (agreeing / textured blocks).
    pub min_score: f32,
    /// Confidence needs the plain NCC over the overlap at least this.
    pub min_ncc: f32,
}

impl Default for AlignParams {
    fn default() -> Self {
        AlignParams {
            transforms: Dihedral::ALL.to_vec(),
            min_crop_fraction: 0.33,
            min_inset_fraction: 0.28,
            rotated_min_fraction: 0.7,
            min_axis_cover: 0.8,
            coarse_scale_step: 1.12,
            coarse_side: 16.0,
            candidates: 8,
            block: 8,
            texture_min: 2.5,
            block_ncc: 0.6,
            min_agreeing_blocks: 12,
            min_score: 0.6,
            min_ncc: 0.3,
        }
    }
}

/// Find the best alignment of `archive` (under a dihedral transform, scaled and
/// shifted) with `query`.
///
/// Returns `None` when nothing plausible was found (thumbnails too small or
/// inconsistent, or no overlap with any texture); otherwise the best alignment,
/// whose `confident` flag is the decision. The query thumbnail may be larger than
/// the archive one (see [`QUERY_SIDE`]); the comparison runs at the coarser of the
/// two resolutions where they overlap.
pub fn align(query: &Thumb, archive: &Thumb, params: &AlignParams) -> Option<Alignment> {
    align_prepared(&PreparedQuery::new(query)?, archive, params)
}

/// The query side of [`align`], made once per incoming picture and reused for
/// every archive candidate: its pyramid and its contrast-normalised resamplings
/// depend only on the query and the scale, not on the archive picture. Matching
/// aligns up to a few dozen candidates per picture, and without this each of
/// them rebuilt the same query grids.
///
/// Holds a cache that grows with the scales visited (bounded by the scale range
/// and pyramid depth, a few MB for a [`QUERY_SIDE`] query); drop it with the
/// picture. Not `Sync`: one picture is matched on one thread.
pub struct PreparedQuery<'a> {
    thumb: &'a Thumb,
    /// Query pyramid, raw luma (level j = 2^j thumbnail pixels per pixel).
    qpyr: Vec<Plane>,
    /// Contrast-normalised resampled queries by (scale index, level).
    /// Behind a lock: a picture's candidates are searched on several workers.
    qcache: Mutex<HashMap<(i32, usize), Arc<Level>>>,
}

impl<'a> PreparedQuery<'a> {
    /// `None` when the thumbnail is inconsistent (see [`Thumb::from_bytes`]).
    pub fn new(thumb: &'a Thumb) -> Option<PreparedQuery<'a>> {
        if !thumb.is_valid() {
            return None;
        }
        let mut qpyr = vec![thumb.plane()];
        while qpyr.last()?.w.min(qpyr.last()?.h) >= 2 * MIN_LEVEL_SIDE {
            let next = qpyr.last()?.half();
            qpyr.push(next);
        }
        Some(PreparedQuery {
            thumb,
            qpyr,
            qcache: Mutex::new(HashMap::new()),
        })
    }
}

/// [`align`] with the query side already prepared; the same result.
pub fn align_prepared(
    query: &PreparedQuery<'_>,
    archive: &Thumb,
    params: &AlignParams,
) -> Option<Alignment> {
    search(query, archive, params)?.finish()
}

/// The first half of [`align`]: the coarse search over every scale, transform
/// and offset. Its best correlation ranks candidates far better than their hash
/// distances do, at about half the cost of a whole alignment, so a caller with
/// many unlikely candidates can search them all and finish only the best few
/// (see `MatchParams::refine_unsupported`). `search(..)?.finish()` is exactly
/// [`align_prepared`].
pub fn search<'a>(
    query: &'a PreparedQuery<'a>,
    archive: &'a Thumb,
    params: &'a AlignParams,
) -> Option<Searched<'a>> {
    if !archive.is_valid() || params.transforms.is_empty() {
        return None;
    }
    let mut ctx = Ctx::new(query, archive, params)?;
    ctx.si_range = ctx.scale_range();
    let cands = ctx.coarse();
    Some(Searched { ctx, cands })
}

/// A coarse search waiting to be refined and scored; see [`search()`].
pub struct Searched<'a> {
    ctx: Ctx<'a>,
    cands: Vec<Cand>,
}

impl Searched<'_> {
    /// Best normalised cross-correlation of the coarse search (−1..1), `None`
    /// when no scale and offset had texture enough to correlate. Only for
    /// ranking candidates against each other: unrelated pictures reach 0.6–0.8
    /// at the coarse level, so it decides nothing alone.
    pub fn coarse_score(&self) -> Option<f32> {
        self.cands.first().map(|c| c.ncc)
    }

    /// Refine, polish and score the coarse candidates: the rest of [`align`].
    pub fn finish(self) -> Option<Alignment> {
        self.ctx.finish(self.cands)
    }
}

// The internals, one file per part of the work: planes and levels, the
// correlation (direct and through FFTs), the search, the block scores.
mod fft;
mod ncc;
mod plane;
mod score;
mod search;
#[cfg(test)]
mod tests;

use fft::*;
use ncc::*;
use plane::*;
use score::*;
use search::*;
