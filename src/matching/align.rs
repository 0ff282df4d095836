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

/// Longest side, in pixels, of the thumbnail stored for every archive picture.
///
/// 128 px keeps the stored thumbnail at ≤ 16 KiB (typically 10 KiB for 4:3 and
/// 16:10 photos) while a crop showing a third of the archive picture still covers
/// about 40 × 30 archive pixels, enough blocks to verify. Measured in
/// `tests/align_eval.rs`: 96 px lost recall on small crops, 160 px gained nothing
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
        let side = side.clamp(8, u32::from(MAX_THUMB_SIDE));
        let luma = img.to_luma8();
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

/// One of the eight symmetries of a rectangle (rotations by multiples of 90° and
/// mirror images). Rotations turn **clockwise** (as `image::imageops::rotate90`);
/// `Mirror` swaps left and right; `MirrorRotN` mirrors first, then rotates N°
/// clockwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dihedral {
    /// Unchanged.
    Identity,
    /// Left-right mirror image.
    Mirror,
    /// Rotated 90° clockwise.
    Rot90,
    /// Rotated 180°.
    Rot180,
    /// Rotated 270° clockwise (90° counter-clockwise).
    Rot270,
    /// Mirrored left-right, then rotated 90° clockwise.
    MirrorRot90,
    /// Mirrored left-right, then rotated 180° (an up-down flip).
    MirrorRot180,
    /// Mirrored left-right, then rotated 270° clockwise.
    MirrorRot270,
}

impl Dihedral {
    /// All eight, identity first.
    pub const ALL: [Dihedral; 8] = [
        Dihedral::Identity,
        Dihedral::Mirror,
        Dihedral::Rot90,
        Dihedral::Rot180,
        Dihedral::Rot270,
        Dihedral::MirrorRot90,
        Dihedral::MirrorRot180,
        Dihedral::MirrorRot270,
    ];

    /// Stable lower-case name for reports: `"identity"`, `"mirror"`, `"rot90"`,
    /// `"rot180"`, `"rot270"`, `"mirror_rot90"`, `"mirror_rot180"`, `"mirror_rot270"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dihedral::Identity => "identity",
            Dihedral::Mirror => "mirror",
            Dihedral::Rot90 => "rot90",
            Dihedral::Rot180 => "rot180",
            Dihedral::Rot270 => "rot270",
            Dihedral::MirrorRot90 => "mirror_rot90",
            Dihedral::MirrorRot180 => "mirror_rot180",
            Dihedral::MirrorRot270 => "mirror_rot270",
        }
    }

    /// Whether width and height trade places.
    pub fn swaps_axes(self) -> bool {
        matches!(
            self,
            Dihedral::Rot90 | Dihedral::Rot270 | Dihedral::MirrorRot90 | Dihedral::MirrorRot270
        )
    }

    /// The transform undoing this one: rotations by ±90° undo each other, every
    /// other element (including all mirror images) is its own inverse.
    pub fn inverse(self) -> Dihedral {
        match self {
            Dihedral::Rot90 => Dihedral::Rot270,
            Dihedral::Rot270 => Dihedral::Rot90,
            d => d,
        }
    }

    fn quarter_turns(self) -> u8 {
        match self {
            Dihedral::Identity | Dihedral::Mirror => 0,
            Dihedral::Rot90 | Dihedral::MirrorRot90 => 1,
            Dihedral::Rot180 | Dihedral::MirrorRot180 => 2,
            Dihedral::Rot270 | Dihedral::MirrorRot270 => 3,
        }
    }

    fn mirrored(self) -> bool {
        matches!(
            self,
            Dihedral::Mirror
                | Dihedral::MirrorRot90
                | Dihedral::MirrorRot180
                | Dihedral::MirrorRot270
        )
    }

    /// Where a point given as fractions (u, v) of the source frame lands, as
    /// fractions of the transformed frame.
    pub fn map_point(self, u: f32, v: f32) -> (f32, f32) {
        let (mut u, mut v) = (u, v);
        if self.mirrored() {
            u = 1.0 - u;
        }
        for _ in 0..self.quarter_turns() {
            // A clockwise quarter turn sends the left edge to the top.
            (u, v) = (1.0 - v, u);
        }
        (u, v)
    }

    /// Where a region (fractions of the source frame) lands in the transformed frame.
    pub fn map_region(self, r: Region) -> Region {
        let (u0, v0) = self.map_point(r.x, r.y);
        let (u1, v1) = self.map_point(r.x + r.w, r.y + r.h);
        Region {
            x: u0.min(u1),
            y: v0.min(v1),
            w: (u1 - u0).abs(),
            h: (v1 - v0).abs(),
        }
    }
}

/// A rectangle given as fractions (0..1) of an image's width and height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    /// Left edge, fraction of the width.
    pub x: f32,
    /// Top edge, fraction of the height.
    pub y: f32,
    /// Width, fraction of the width.
    pub w: f32,
    /// Height, fraction of the height.
    pub h: f32,
}

impl Region {
    /// The whole frame.
    pub const FULL: Region = Region {
        x: 0.0,
        y: 0.0,
        w: 1.0,
        h: 1.0,
    };

    /// Largest distance between corresponding edges of two regions, as a fraction
    /// of the frame; handy for checking a region against a known truth.
    pub fn max_edge_distance(&self, other: &Region) -> f32 {
        [
            (self.x - other.x).abs(),
            (self.y - other.y).abs(),
            (self.x + self.w - other.x - other.w).abs(),
            (self.y + self.h - other.y - other.h).abs(),
        ]
        .into_iter()
        .fold(0.0, f32::max)
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
    pub query_region: Region,
    /// The part of the archive picture (in its own, untransformed frame) that the
    /// query shows.
    pub archive_region: Region,
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
/// Figures from `tests/align_eval.rs`, re-run with
/// `cargo test --release --test align_eval -- --nocapture`. (Filled in below.)
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

/// A coarse search waiting to be refined and scored; see [`search`].
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

// ---------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------

/// Smallest level side worth comparing: below this, pictures carry no structure.
const MIN_LEVEL_SIDE: usize = 4;
/// The comparison never runs at a level where the query would be upsampled by more
/// than this factor (query pixels per comparison pixel ≥ 0.8): upsampled pixels
/// carry no information and would make the archive look less similar than it is.
const MIN_QUERY_PX: f32 = 0.8;
/// Minimum per-pixel variance (gray levels²) for an overlap to be correlated at all
/// during the search; flat overlaps would give meaningless NCC peaks.
const SEARCH_VAR_MIN: f64 = 4.0;

/// A grayscale image as f32 (values centred on 0 for numerical headroom).
#[derive(Clone, Debug)]
struct Plane {
    w: usize,
    h: usize,
    p: Vec<f32>,
}

impl Plane {
    fn new(w: usize, h: usize, p: Vec<f32>) -> Plane {
        debug_assert_eq!(p.len(), w * h);
        Plane { w, h, p }
    }

    /// 2 × 2 box average (odd last row/column dropped), the pyramid step.
    fn half(&self) -> Plane {
        let (w, h) = ((self.w / 2).max(1), (self.h / 2).max(1));
        let mut p = Vec::with_capacity(w * h);
        for y in 0..h {
            let r0 = (2 * y).min(self.h - 1) * self.w;
            let r1 = (2 * y + 1).min(self.h - 1) * self.w;
            for x in 0..w {
                let x0 = (2 * x).min(self.w - 1);
                let x1 = (2 * x + 1).min(self.w - 1);
                p.push(
                    0.25 * (self.p[r0 + x0] + self.p[r0 + x1] + self.p[r1 + x0] + self.p[r1 + x1]),
                );
            }
        }
        Plane::new(w, h, p)
    }

    fn dihedral(&self, d: Dihedral) -> Plane {
        let (w, h) = (self.w, self.h);
        let (ow, oh) = if d.swaps_axes() { (h, w) } else { (w, h) };
        let mut p = vec![0.0; ow * oh];
        for y in 0..h {
            for x in 0..w {
                let mx = if d.mirrored() { w - 1 - x } else { x };
                let (nx, ny) = match d.quarter_turns() {
                    0 => (mx, y),
                    1 => (h - 1 - y, mx),
                    2 => (w - 1 - mx, h - 1 - y),
                    _ => (y, w - 1 - mx),
                };
                p[ny * ow + nx] = self.p[y * w + x];
            }
        }
        Plane::new(ow, oh, p)
    }
}

/// Per-axis resampling weights, flat: output pixel `i` reads `len` source pixels
/// from `start` with weights `w[off..off + len]`.
struct AxisWeights {
    taps: Vec<(usize, usize, usize)>,
    w: Vec<f32>,
}

impl AxisWeights {
    /// Output pixel i covers source [i·k, (i+1)·k). For k ≥ 1 it is the exact area
    /// average (fractional coverage at the ends); for k < 1 linear interpolation at
    /// the pixel centre, since an area average would degenerate to nearest-neighbour.
    fn new(src_len: usize, k: f64, first: f64, out_len: usize) -> AxisWeights {
        let mut taps = Vec::with_capacity(out_len);
        let mut w = Vec::with_capacity(out_len * (k.ceil() as usize + 2));
        let n = src_len as f64;
        for i in 0..out_len {
            let off = w.len();
            if k >= 1.0 {
                let a = ((first + i as f64) * k).clamp(0.0, n);
                let b = ((first + i as f64 + 1.0) * k).clamp(0.0, n);
                let j0 = (a.floor() as usize).min(src_len - 1);
                let j1 = (b.ceil() as usize).clamp(j0 + 1, src_len);
                let mut total = 0.0;
                for j in j0..j1 {
                    let cover = (b.min(j as f64 + 1.0) - a.max(j as f64)).max(0.0);
                    w.push(cover as f32);
                    total += cover;
                }
                if total <= 0.0 {
                    w[off..].iter_mut().for_each(|v| *v = 0.0);
                    w[off] = 1.0;
                } else {
                    w[off..].iter_mut().for_each(|v| *v /= total as f32);
                }
                taps.push((j0, off, j1 - j0));
            } else {
                let c = ((first + i as f64 + 0.5) * k - 0.5).clamp(0.0, n - 1.0);
                let j0 = c.floor() as usize;
                let f = (c - j0 as f64) as f32;
                if j0 + 1 < src_len {
                    w.extend_from_slice(&[1.0 - f, f]);
                    taps.push((j0, off, 2));
                } else {
                    w.push(1.0);
                    taps.push((j0, off, 1));
                }
            }
        }
        AxisWeights { taps, w }
    }
}

/// Resample so that each output pixel covers `kx × ky` source pixels; output
/// pixel (i, j) is pixel (x0 + i, y0 + j) of the resampled grid, which starts at
/// the source origin. Fractional origins shift the grid by sub-pixel amounts.
/// Callers keep the output within the source (edges are clamped).
fn resample(src: &Plane, kx: f64, ky: f64, (x0, y0): (f64, f64), ow: usize, oh: usize) -> Plane {
    let (ow, oh) = (ow.max(1), oh.max(1));
    let wx = AxisWeights::new(src.w, kx, x0, ow);
    let wy = AxisWeights::new(src.h, ky, y0, oh);
    // Only the source rows some output row reads are filtered horizontally.
    let row0 = wy.taps.first().map_or(0, |t| t.0);
    let row1 = wy
        .taps
        .iter()
        .map(|&(s, _, l)| s + l)
        .max()
        .unwrap_or(src.h)
        .min(src.h);
    let mut tmp = vec![0.0f32; (row1 - row0) * ow];
    for y in row0..row1 {
        let row = &src.p[y * src.w..(y + 1) * src.w];
        let out = &mut tmp[(y - row0) * ow..(y - row0 + 1) * ow];
        for (o, &(start, off, len)) in out.iter_mut().zip(&wx.taps) {
            let (w, s) = (&wx.w[off..off + len], &row[start..start + len]);
            // Queries are read from the pyramid level just finer than the grid,
            // so almost every pixel has two or three taps; written out, they
            // skip the general loop. Sums in the same order (`sum` starts from
            // −0.0, which adds nothing).
            *o = match (w, s) {
                ([w0, w1], [s0, s1]) => w0 * s0 + w1 * s1,
                ([w0, w1, w2], [s0, s1, s2]) => w0 * s0 + w1 * s1 + w2 * s2,
                _ => w.iter().zip(s).map(|(a, b)| a * b).sum(),
            };
        }
    }
    let mut p = vec![0.0f32; ow * oh];
    for (y, &(start, off, len)) in wy.taps.iter().enumerate() {
        let out = &mut p[y * ow..(y + 1) * ow];
        for (j, &wt) in wy.w[off..off + len].iter().enumerate() {
            let r = start + j - row0;
            let src_row = &tmp[r * ow..(r + 1) * ow];
            for (o, s) in out.iter_mut().zip(src_row) {
                *o += wt * s;
            }
        }
    }
    Plane::new(ow, oh, p)
}

/// Resize to exactly `ow × oh` covering the whole source.
fn resize_exact(src: &Plane, ow: usize, oh: usize) -> Plane {
    resample(
        src,
        src.w as f64 / ow.max(1) as f64,
        src.h as f64 / oh.max(1) as f64,
        (0.0, 0.0),
        ow,
        oh,
    )
}

/// Half-width of the local contrast normalisation window (5 × 5 pixels).
const LCN_RADIUS: usize = 2;
/// Contrast floor of the normalisation, gray levels: neighbourhoods flatter than
/// this stay near zero, so noise in sky or inside a caption bar is not amplified.
const LCN_FLOOR: f32 = 3.0;
/// Normalised values are scaled to gray-level-like magnitudes so that the same
/// flatness floor (`SEARCH_VAR_MIN`) applies in the search.
const LCN_GAIN: f32 = 32.0;

/// Local contrast normalisation: (v − local mean) / local standard deviation.
///
/// The search correlates these instead of raw luma. Raw NCC is dominated by
/// large uniform areas: a dark caption bar or a letterbox pulls it down so much
/// that the search prefers wrong alignments that avoid the bar. After
/// normalisation a flat bar is ~0 inside, high-contrast text weighs no more per
/// pixel than the photo's own texture, and contrast or brightness edits cancel.
///
/// Every query window of the refinement goes through here, which made it the
/// aligner's largest cost. The arithmetic is that of plain running sums and a
/// per-pixel formula, in the same order (a test compares it bit for bit with
/// the plain loops it replaced); only the loops are arranged so that they overlap or
/// vectorise.
fn lcn(p: &Plane) -> Plane {
    let (w, h) = (p.w, p.h);
    if w == 0 || h == 0 {
        return p.clone();
    }
    let r = LCN_RADIUS;
    // Horizontal box sums of v and v² (clamped window), then vertical ones:
    // separable running sums in f32 (values are centred, so precision is ample).
    let mut h1 = vec![0.0f32; w * h];
    let mut h2 = vec![0.0f32; w * h];
    // A running sum is a chain of dependent additions; several rows at once
    // give the processor independent chains to overlap.
    const ROWS: usize = 8;
    let mut y = 0;
    while y + ROWS <= h {
        let span = y * w..(y + ROWS) * w;
        row_sums::<ROWS>(&p.p[span.clone()], w, &mut h1[span.clone()], &mut h2[span]);
        y += ROWS;
    }
    for y in y..h {
        let span = y * w..(y + 1) * w;
        row_sums::<1>(&p.p[span.clone()], w, &mut h1[span.clone()], &mut h2[span]);
    }
    let count = |i: usize, n: usize| (i + r + 1).min(n) - i.saturating_sub(r);
    let floor2 = LCN_FLOOR * LCN_FLOOR;
    // 1 / (pixels in the clamped window), looked up instead of divided per pixel:
    // the window holds at most (2r + 1)² pixels.
    let inv: Vec<f32> = (0..=(2 * r + 1) * (2 * r + 1))
        .map(|n| 1.0 / n.max(1) as f32)
        .collect();
    let cx: Vec<usize> = (0..w).map(|x| count(x, w)).collect();
    let mut inv_n = vec![0.0f32; w];
    let mut out = vec![0.0f32; w * h];
    let mut c1 = vec![0.0f32; w];
    let mut c2 = vec![0.0f32; w];
    for y in 0..r.min(h) {
        add_row(&mut c1, &h1[y * w..(y + 1) * w]);
        add_row(&mut c2, &h2[y * w..(y + 1) * w]);
    }
    for y in 0..h {
        if y + r < h {
            let row = (y + r) * w..(y + r + 1) * w;
            add_row(&mut c1, &h1[row.clone()]);
            add_row(&mut c2, &h2[row]);
        }
        if y > r {
            let row = (y - r - 1) * w..(y - r) * w;
            for (c, &v) in c1.iter_mut().zip(&h1[row.clone()]) {
                *c -= v;
            }
            for (c, &v) in c2.iter_mut().zip(&h2[row]) {
                *c -= v;
            }
        }
        let cy = count(y, h);
        for (i, &c) in inv_n.iter_mut().zip(&cx) {
            *i = inv[c * cy];
        }
        let src = &p.p[y * w..(y + 1) * w];
        let dst = &mut out[y * w..(y + 1) * w];
        for ((((o, &v), &s1), &s2), &k) in dst.iter_mut().zip(src).zip(&c1).zip(&c2).zip(&inv_n) {
            let m = s1 * k;
            let var = (s2 * k - m * m).max(0.0);
            *o = LCN_GAIN * (v - m) / (var + floor2).sqrt();
        }
    }
    // The sums are spent: their buffers hold the blur's passes.
    blur121_into(w, h, &out, &mut h1, &mut h2);
    Plane::new(w, h, h2)
}

fn add_row(acc: &mut [f32], row: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(row) {
        *a += v;
    }
}

/// Running 5-pixel sums of v and v² (window clamped at the ends) along each of
/// `N` rows of width `w`, advanced in step so that the rows' chains overlap.
fn row_sums<const N: usize>(p: &[f32], w: usize, o1: &mut [f32], o2: &mut [f32]) {
    let r = LCN_RADIUS;
    let (mut s1, mut s2) = ([0.0f32; N], [0.0f32; N]);
    for x in 0..r.min(w) {
        for k in 0..N {
            let v = p[k * w + x];
            s1[k] += v;
            s2[k] += v * v;
        }
    }
    for x in 0..w {
        if x + r < w {
            for k in 0..N {
                let v = p[k * w + x + r];
                s1[k] += v;
                s2[k] += v * v;
            }
        }
        if x > r {
            for k in 0..N {
                let v = p[k * w + x - r - 1];
                s1[k] -= v;
                s2[k] -= v * v;
            }
        }
        for k in 0..N {
            o1[k * w + x] = s1[k];
            o2[k * w + x] = s2[k];
        }
    }
}

/// Separable [1 2 1]/4 blur (edges clamped). Applied after normalisation so that
/// the correlation peak is about two pixels wide instead of one: the coarse
/// search's scale steps and the refinement's integer offsets then land on the
/// slope of the peak rather than beside it.
///
/// `tmp` and `out` hold at least `w × h` values; the interior is written as
/// whole-slice arithmetic, which vectorises, and the clamped edges apart.
fn blur121_into(w: usize, h: usize, p: &[f32], tmp: &mut [f32], out: &mut [f32]) {
    for (row, t) in p.chunks_exact(w).zip(tmp.chunks_exact_mut(w)).take(h) {
        let at =
            |x: usize| 0.25 * (row[x.saturating_sub(1)] + row[(x + 1).min(w - 1)]) + 0.5 * row[x];
        t[0] = at(0);
        t[w - 1] = at(w - 1);
        if w > 2 {
            for (((o, &l), &c), &r) in t[1..w - 1]
                .iter_mut()
                .zip(&row[..w - 2])
                .zip(&row[1..w - 1])
                .zip(&row[2..])
            {
                *o = 0.25 * (l + r) + 0.5 * c;
            }
        }
    }
    for y in 0..h {
        let (u, d) = (y.saturating_sub(1), (y + 1).min(h - 1));
        let (tu, td, tc) = (&tmp[u * w..][..w], &tmp[d * w..][..w], &tmp[y * w..][..w]);
        for (((o, &a), &b), &c) in out[y * w..][..w].iter_mut().zip(tu).zip(td).zip(tc) {
            *o = 0.25 * (a + b) + 0.5 * c;
        }
    }
}

/// A plane with summed-area tables of values and squares, for O(1) window sums.
struct Level {
    img: Plane,
    /// (w+1) × (h+1) prefix sums of values.
    s1: Vec<f64>,
    /// (w+1) × (h+1) prefix sums of squares.
    s2: Vec<f64>,
}

impl Level {
    fn new(img: Plane) -> Level {
        let (w, h) = (img.w, img.h);
        let mut s1 = vec![0.0f64; (w + 1) * (h + 1)];
        let mut s2 = vec![0.0f64; (w + 1) * (h + 1)];
        for y in 0..h {
            let (mut r1, mut r2) = (0.0f64, 0.0f64);
            for x in 0..w {
                let v = f64::from(img.p[y * w + x]);
                r1 += v;
                r2 += v * v;
                s1[(y + 1) * (w + 1) + x + 1] = s1[y * (w + 1) + x + 1] + r1;
                s2[(y + 1) * (w + 1) + x + 1] = s2[y * (w + 1) + x + 1] + r2;
            }
        }
        Level { img, s1, s2 }
    }
}

/// Dot product written with independent lanes so that it vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Overlap of a query placed at offset (dx, dy) on the archive grid: archive
/// pixel (X, Y) sits on query pixel (X − dx, Y − dy). Archive coordinates,
/// half-open.
#[derive(Debug, Clone, Copy)]
struct Rect {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

fn overlap(aw: usize, ah: usize, qw: usize, qh: usize, dx: i32, dy: i32) -> Option<Rect> {
    let x0 = dx.max(0);
    let y0 = dy.max(0);
    let x1 = (dx + qw as i32).min(aw as i32);
    let y1 = (dy + qh as i32).min(ah as i32);
    (x1 > x0 && y1 > y0).then_some(Rect {
        x0: x0 as usize,
        y0: y0 as usize,
        x1: x1 as usize,
        y1: y1 as usize,
    })
}

/// NCC at every offset of a rectangle of offsets, reported through `f(dx, dy, ncc)`
/// (offsets whose overlap is flat are skipped), computing the cross terms
/// directly. The coarse search uses [`ncc_all_many`], which gets the same values
/// up to rounding through FFTs; this is its reference in the tests.
#[cfg(test)]
fn ncc_all(a: &Level, q: &Level, xr: (i32, i32), yr: (i32, i32), mut f: impl FnMut(i32, i32, f32)) {
    let Some(g) = OffsetGrid::new(a, q, xr, yr) else {
        return;
    };
    let cross = cross_direct(a, q, &g);
    let ncc = ncc_from_cross(a, q, &g, &cross);
    for (dy, row) in (g.y_lo..=g.y_hi).zip(ncc.chunks_exact(g.nx())) {
        for (dx, &v) in (g.x_lo..).zip(row) {
            if v != f32::NEG_INFINITY {
                f(dx, dy, v);
            }
        }
    }
}

/// The offsets [`ncc_all`] visits: x clamped to where the padding reaches, y to
/// where any row overlaps.
#[derive(Debug, Clone, Copy)]
struct OffsetGrid {
    x_lo: i32,
    x_hi: i32,
    y_lo: i32,
    y_hi: i32,
}

impl OffsetGrid {
    fn new(a: &Level, q: &Level, xr: (i32, i32), yr: (i32, i32)) -> Option<OffsetGrid> {
        let (aw, ah, qw, qh) = (a.img.w, a.img.h, q.img.w, q.img.h);
        let g = OffsetGrid {
            x_lo: xr.0.max(-(qw as i32)),
            x_hi: xr.1.min(aw as i32),
            y_lo: yr.0.max(-(qh as i32)),
            y_hi: yr.1.min(ah as i32),
        };
        (g.x_hi >= g.x_lo && g.y_hi >= g.y_lo).then_some(g)
    }

    fn nx(&self) -> usize {
        (self.x_hi - self.x_lo + 1) as usize
    }

    fn ny(&self) -> usize {
        (self.y_hi - self.y_lo + 1) as usize
    }
}

/// Cross terms Σ q[y − dy][x − dx] · a[y][x] over the overlap at every offset of
/// `g`, row-major by dy then dx (zero where nothing overlaps).
///
/// Computed one offset row at a time as a sum of scaled archive rows
/// (`num[dx] += q[x] · a[x + dx]`): the inner loop runs over contiguous offsets
/// and vectorises. The wider picture is zero-padded so that pixels falling
/// outside it add nothing.
fn cross_direct(a: &Level, q: &Level, g: &OffsetGrid) -> Vec<f32> {
    let (aw, ah, qw, qh) = (a.img.w, a.img.h, q.img.w, q.img.h);
    let (x_lo, x_hi) = (g.x_lo, g.x_hi);
    let nx = g.nx();
    let mut out = vec![0.0f32; nx * g.ny()];
    // Iterate over the narrower picture's pixels and slide the wider one (zero
    // padded) along contiguous offsets: the work per row is min(aw, qw) × nx.
    let query_narrow = qw <= aw;
    // Left padding keeps every index non-negative; the row is long enough for the
    // last offset. Zeros stand for pixels outside the picture.
    let (pad, data_len) = if query_narrow {
        ((-x_lo).max(0) as usize, aw)
    } else {
        ((aw as i32 - qw as i32 - x_lo).max(0) as usize, qw)
    };
    let pw = pad + data_len.max(qw + x_hi.max(0) as usize) + nx + 1;
    let rows = if query_narrow { ah } else { qh };
    let mut padded = vec![0.0f32; pw * rows];
    if query_narrow {
        // padded[y][pad + x] = a[y][x]
        for y in 0..ah {
            padded[y * pw + pad..y * pw + pad + aw].copy_from_slice(&a.img.p[y * aw..(y + 1) * aw]);
        }
    } else {
        // padded[y][pad + m] = q[y][qw − 1 − m]: reversed, so that q[xa − dx] is
        // contiguous and increasing in dx.
        for y in 0..qh {
            let row = &q.img.p[y * qw..(y + 1) * qw];
            for (m, &v) in row.iter().rev().enumerate() {
                padded[y * pw + pad + m] = v;
            }
        }
    }
    for (dy, num) in (g.y_lo..=g.y_hi).zip(out.chunks_exact_mut(nx)) {
        let yq0 = (-dy).max(0) as usize;
        let yq1 = (ah as i32 - dy).min(qh as i32);
        if yq1 <= yq0 as i32 {
            continue;
        }
        for yq in yq0..yq1 as usize {
            let ya = (yq as i32 + dy) as usize;
            if query_narrow {
                let arow = &padded[ya * pw..(ya + 1) * pw];
                let qrow = &q.img.p[yq * qw..(yq + 1) * qw];
                for (xq, &qv) in qrow.iter().enumerate() {
                    // Archive pixel xq + dx sits at padded index xq + dx + pad.
                    let base = (xq as i32 + x_lo + pad as i32) as usize;
                    for (o, &av) in num.iter_mut().zip(&arow[base..base + nx]) {
                        *o += qv * av;
                    }
                }
            } else {
                let qrow = &padded[yq * pw..(yq + 1) * pw];
                let arow = &a.img.p[ya * aw..(ya + 1) * aw];
                for (xa, &av) in arow.iter().enumerate() {
                    // Query pixel xa − dx sits at padded index qw − 1 − xa + dx + pad.
                    let base = (qw as i32 - 1 - xa as i32 + x_lo + pad as i32) as usize;
                    for (o, &qv) in num.iter_mut().zip(&qrow[base..base + nx]) {
                        *o += qv * av;
                    }
                }
            }
        }
    }
    out
}

/// NCC at every offset of `g` (row-major, dy then dx) from the cross terms of
/// [`cross_direct`] or [`cross_fft`]; `NEG_INFINITY` where the overlap is empty
/// or flat. The window sums come from the summed-area tables over the true
/// overlap, read as one strip of rows per dy so that each offset costs a few
/// subtractions and a single division: this runs for every offset of the coarse
/// search (tens of thousands per candidate), and written per offset with full
/// rectangle lookups it cost more than the FFTs.
fn ncc_from_cross(a: &Level, q: &Level, g: &OffsetGrid, cross: &[f32]) -> Vec<f32> {
    let (aw, ah, qw, qh) = (a.img.w, a.img.h, q.img.w, q.img.h);
    let nx = g.nx();
    // Overlap along one axis at offset d: archive [p0, p1) and the query from q0.
    let span = |d: i32, alen: usize, qlen: usize| -> (usize, usize, usize) {
        let p0 = d.max(0);
        let p1 = (d + qlen as i32).min(alen as i32);
        if p1 <= p0 {
            (0, 0, 0)
        } else {
            (p0 as usize, p1 as usize, (p0 - d) as usize)
        }
    };
    let xs: Vec<(usize, usize, usize)> = (g.x_lo..=g.x_hi).map(|dx| span(dx, aw, qw)).collect();
    let (aws, qws) = (aw + 1, qw + 1);
    let (mut a1, mut a2) = (vec![0.0f64; aws], vec![0.0f64; aws]);
    let (mut q1, mut q2) = (vec![0.0f64; qws], vec![0.0f64; qws]);
    let mut out = vec![f32::NEG_INFINITY; nx * g.ny()];
    for ((dy, row), o) in (g.y_lo..=g.y_hi)
        .zip(cross.chunks_exact(nx))
        .zip(out.chunks_exact_mut(nx))
    {
        let (y0, y1, qy0) = span(dy, ah, qh);
        let h = y1 - y0;
        if h == 0 {
            continue;
        }
        let qy1 = qy0 + h;
        // Prefix sums along x of the rows [y0, y1) (archive) and [qy0, qy1) (query).
        for x in 0..aws {
            a1[x] = a.s1[y1 * aws + x] - a.s1[y0 * aws + x];
            a2[x] = a.s2[y1 * aws + x] - a.s2[y0 * aws + x];
        }
        for x in 0..qws {
            q1[x] = q.s1[qy1 * qws + x] - q.s1[qy0 * qws + x];
            q2[x] = q.s2[qy1 * qws + x] - q.s2[qy0 * qws + x];
        }
        for ((o, &sqa), &(x0, x1, qx0)) in o.iter_mut().zip(row).zip(&xs) {
            if x1 == x0 {
                continue;
            }
            let w = x1 - x0;
            let n = (w * h) as f64;
            let inv_n = 1.0 / n;
            let (sa, saa) = (a1[x1] - a1[x0], a2[x1] - a2[x0]);
            let (sq, sqq) = (q1[qx0 + w] - q1[qx0], q2[qx0 + w] - q2[qx0]);
            let va = (saa - sa * sa * inv_n) as f32;
            let vq = (sqq - sq * sq * inv_n) as f32;
            let floor = (SEARCH_VAR_MIN * n) as f32;
            if va < floor || vq < floor {
                continue;
            }
            // f32 from here: the cross terms are f32 already.
            let cov = sqa - (sa * sq * inv_n) as f32;
            *o = cov / (va * vq).sqrt();
        }
    }
    out
}

/// Largest FFT grid (points) used for the cross terms. Stored thumbnails are
/// 128 px and queries 320 px, so the coarse levels need at most ~450 × 300
/// points (level 0 of a large inset); only oversized thumbnails from a damaged
/// or foreign archive go beyond, and they take the direct path, whose buffers
/// are a quarter of the size, instead of allocating tens of MB per call.
const MAX_FFT_POINTS: usize = 1 << 18;

/// Smallest length ≥ n whose only prime factors are 2, 3 and 5: rustfft is
/// fastest on those, and the extra padding costs less than a prime length.
fn smooth_len(n: usize) -> usize {
    let mut m = n.max(1);
    loop {
        let mut r = m;
        for p in [2, 3, 5] {
            while r % p == 0 {
                r /= p;
            }
        }
        if r == 1 {
            return m;
        }
        m += 1;
    }
}

/// FFT grid size (x, y) on which circular correlation equals the linear one at
/// every offset of `g`: a shift wraps around only if it reaches past both
/// pictures, i.e. the period must exceed aw − x_lo and qw + x_hi (likewise in y).
/// `None` when it would exceed [`MAX_FFT_POINTS`].
fn fft_grid(a: &Plane, q: &Plane, g: &OffsetGrid) -> Option<(usize, usize)> {
    let need = |alen: usize, qlen: usize, lo: i32, hi: i32| {
        let n = (alen as i64 - i64::from(lo))
            .max(qlen as i64 + i64::from(hi))
            .max(alen.max(qlen) as i64);
        smooth_len(n.max(1) as usize)
    };
    let px = need(a.w, q.w, g.x_lo, g.x_hi);
    let py = need(a.h, q.h, g.y_lo, g.y_hi);
    (px.checked_mul(py)? <= MAX_FFT_POINTS).then_some((px, py))
}

thread_local! {
    /// rustfft's planner caches plans by length; the coarse search meets a few
    /// dozen lengths, so one planner per thread plans each once.
    static FFT_PLANNER: RefCell<rustfft::FftPlanner<f32>> = RefCell::new(rustfft::FftPlanner::new());
}

type Cpx = rustfft::num_complex::Complex32;

/// Forward and inverse plans for a `px × py` grid.
struct Plans2 {
    fx: std::sync::Arc<dyn rustfft::Fft<f32>>,
    fy: std::sync::Arc<dyn rustfft::Fft<f32>>,
    ix: std::sync::Arc<dyn rustfft::Fft<f32>>,
    iy: std::sync::Arc<dyn rustfft::Fft<f32>>,
}

impl Plans2 {
    fn new(px: usize, py: usize) -> Plans2 {
        FFT_PLANNER.with(|pl| {
            let mut pl = pl.borrow_mut();
            Plans2 {
                fx: pl.plan_fft_forward(px),
                fy: pl.plan_fft_forward(py),
                ix: pl.plan_fft_inverse(px),
                iy: pl.plan_fft_inverse(py),
            }
        })
    }
}

/// 2-D forward FFT of `re + i·im` (each w × h, placed at the origin of a zero
/// `px × py` grid). The spectrum is returned transposed (index kx · py + ky),
/// which is the layout the inverse starts from.
fn fft2_forward(
    plans: &Plans2,
    (px, py): (usize, usize),
    re: &Plane,
    im: Option<&Plane>,
    scratch: &mut Vec<Cpx>,
) -> Vec<Cpx> {
    let (w, h) = (re.w, re.h);
    let mut rows = vec![Cpx::new(0.0, 0.0); px * h];
    for y in 0..h {
        let out = &mut rows[y * px..y * px + w];
        let r = &re.p[y * w..(y + 1) * w];
        match im {
            Some(im) => {
                let i = &im.p[y * w..(y + 1) * w];
                for ((o, &a), &b) in out.iter_mut().zip(r).zip(i) {
                    *o = Cpx::new(a, b);
                }
            }
            None => {
                for (o, &a) in out.iter_mut().zip(r) {
                    *o = Cpx::new(a, 0.0);
                }
            }
        }
    }
    // Rows past h are zero and stay zero: only the h picture rows are transformed.
    run_fft(&*plans.fx, &mut rows, scratch);
    let mut cols = vec![Cpx::new(0.0, 0.0); px * py];
    for y in 0..h {
        for (kx, &v) in rows[y * px..(y + 1) * px].iter().enumerate() {
            cols[kx * py + y] = v;
        }
    }
    run_fft(&*plans.fy, &mut cols, scratch);
    cols
}

fn run_fft(plan: &dyn rustfft::Fft<f32>, buf: &mut [Cpx], scratch: &mut Vec<Cpx>) {
    let n = plan.get_inplace_scratch_len();
    if scratch.len() < n {
        scratch.resize(n, Cpx::new(0.0, 0.0));
    }
    plan.process_with_scratch(buf, &mut scratch[..n]);
}

/// Cross terms as [`cross_direct`] gives them, for one or two archive planes of
/// the same size at once, through FFTs: correlation is linear in the archive,
/// so correlating `a0 + i·a1` with the (real) query gives both at once, one in
/// the real part and one in the imaginary part. `qspec` is the query's spectrum
/// on the same grid (see [`fft2_forward`]). f32 throughout: the values differ
/// from the direct sums by rounding only (relative ~1e-6 of the pictures'
/// energy), far below the differences the search ranks by.
fn cross_fft(
    plans: &Plans2,
    grid: (usize, usize),
    a: [Option<&Plane>; 2],
    qspec: &[Cpx],
    g: &OffsetGrid,
    scratch: &mut Vec<Cpx>,
) -> [Vec<f32>; 2] {
    let (px, py) = grid;
    let (nx, ny) = (g.nx(), g.ny());
    let Some(a0) = a[0] else {
        return [Vec::new(), Vec::new()];
    };
    let mut spec = fft2_forward(plans, grid, a0, a[1], scratch);
    for (s, q) in spec.iter_mut().zip(qspec) {
        *s *= q.conj();
    }
    run_fft(&*plans.iy, &mut spec, scratch);
    // Back to rows, only those of the offsets asked for.
    let mut rows = vec![Cpx::new(0.0, 0.0); px * ny];
    for (j, dy) in (g.y_lo..=g.y_hi).enumerate() {
        let iy = dy.rem_euclid(py as i32) as usize;
        for (kx, o) in rows[j * px..(j + 1) * px].iter_mut().enumerate() {
            *o = spec[kx * py + iy];
        }
    }
    run_fft(&*plans.ix, &mut rows, scratch);
    let norm = 1.0 / (px * py) as f32;
    let mut out = [
        vec![0.0f32; nx * ny],
        vec![0.0f32; if a[1].is_some() { nx * ny } else { 0 }],
    ];
    for j in 0..ny {
        let row = &rows[j * px..(j + 1) * px];
        for (i, dx) in (g.x_lo..=g.x_hi).enumerate() {
            let v = row[dx.rem_euclid(px as i32) as usize] * norm;
            out[0][j * nx + i] = v.re;
            if let Some(o) = out[1].get_mut(j * nx + i) {
                *o = v.im;
            }
        }
    }
    out
}

/// NCC at every offset (as [`ncc_from_cross`] lays them out on the returned
/// grid) for several archive planes of one size against one query, in the order
/// given; `None` when no offset overlaps or the sizes differ. The cross terms
/// come from FFTs, two archive planes per transform (see [`cross_fft`]): for
/// the coarse search's crop scales the archive level is several times the
/// overlap, and the direct sums cost |overlap| × |offsets| (~9 M multiply-adds
/// per candidate against ~60 FFTs of a few thousand points).
fn ncc_all_many(
    archives: &[&Level],
    q: &Level,
    xr: (i32, i32),
    yr: (i32, i32),
) -> Option<(OffsetGrid, Vec<Vec<f32>>)> {
    let first = archives.first()?;
    let g = OffsetGrid::new(first, q, xr, yr)?;
    if archives
        .iter()
        .any(|a| (a.img.w, a.img.h) != (first.img.w, first.img.h))
    {
        return None;
    }
    let Some(grid) = fft_grid(&first.img, &q.img, &g) else {
        let out = archives
            .iter()
            .map(|a| ncc_from_cross(a, q, &g, &cross_direct(a, q, &g)))
            .collect();
        return Some((g, out));
    };
    let plans = Plans2::new(grid.0, grid.1);
    let mut scratch = Vec::new();
    let qspec = fft2_forward(&plans, grid, &q.img, None, &mut scratch);
    let mut out = Vec::with_capacity(archives.len());
    for pair in archives.chunks(2) {
        let cross = cross_fft(
            &plans,
            grid,
            [Some(&pair[0].img), pair.get(1).map(|a| &a.img)],
            &qspec,
            &g,
            &mut scratch,
        );
        for (a, c) in pair.iter().zip(&cross) {
            out.push(ncc_from_cross(a, q, &g, c));
        }
    }
    Some((g, out))
}

thread_local! {
    static STATS: RefCell<[usize; 10]> = const { RefCell::new([0; 10]) };
}

/// Plain NCC at one offset, with the query given as a window (origin `wo`) of
/// its full grid of size `gdim`; `None` when the overlap is flat or leaves the
/// window. One pass computes all five sums.
fn ncc_window(
    a: &Plane,
    win: &Plane,
    wo: (usize, usize),
    gdim: (usize, usize),
    dx: i32,
    dy: i32,
) -> Option<f32> {
    let r = overlap(a.w, a.h, gdim.0, gdim.1, dx, dy)?;
    let qx0 = (r.x0 as i32 - dx) as usize;
    let qy0 = (r.y0 as i32 - dy) as usize;
    let (wx0, wy0) = (qx0.checked_sub(wo.0)?, qy0.checked_sub(wo.1)?);
    let (w, h) = (r.x1 - r.x0, r.y1 - r.y0);
    if wx0 + w > win.w || wy0 + h > win.h {
        return None;
    }
    STATS.with(|s| {
        let mut s = s.borrow_mut();
        s[8] += 1;
        s[9] += w * h;
    });
    let (mut sa, mut saa, mut sq, mut sqq, mut sqa) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for y in 0..h {
        let ar = &a.p[(r.y0 + y) * a.w + r.x0..][..w];
        let qr = &win.p[(wy0 + y) * win.w + wx0..][..w];
        // Eight independent lanes per sum so that the loops vectorise.
        let t = [
            lane_sum(ar, ar, |a, _| a),
            lane_sum(ar, ar, |a, _| a * a),
            lane_sum(qr, qr, |q, _| q),
            lane_sum(qr, qr, |q, _| q * q),
            lane_sum(ar, qr, |a, q| a * q),
        ];
        sa += f64::from(t[0]);
        saa += f64::from(t[1]);
        sq += f64::from(t[2]);
        sqq += f64::from(t[3]);
        sqa += f64::from(t[4]);
    }
    let n = (w * h) as f64;
    let va = saa - sa * sa / n;
    let vq = sqq - sq * sq / n;
    if va < SEARCH_VAR_MIN * n || vq < SEARCH_VAR_MIN * n {
        return None;
    }
    Some(((sqa - sa * sq / n) / (va * vq).sqrt()) as f32)
}

/// Σ f(v, o) over a row: eight lanes over whole chunks, the lanes added in
/// order, then the tail one by one (the order `ncc_window` has always summed
/// in). One call per kind of sum: LLVM vectorised a loop carrying several
/// sums across the sums instead of the lanes, with shuffles and spills, and
/// that loop cost about a third more than these five.
#[inline(always)]
fn lane_sum(v: &[f32], o: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut l = [0.0f32; 8];
    let (cv, co) = (v.chunks_exact(8), o.chunks_exact(8));
    let (tv, to) = (cv.remainder(), co.remainder());
    for (x, y) in cv.zip(co) {
        for i in 0..8 {
            l[i] += f(x[i], y[i]);
        }
    }
    let mut s = l.iter().sum::<f32>();
    for (&x, &y) in tv.iter().zip(to) {
        s += f(x, y);
    }
    s
}

/// Offsets along one axis for which the overlap spans at least `cover` of the
/// shorter of the two lengths.
fn offset_range(alen: usize, qlen: usize, cover: f32) -> (i32, i32) {
    let need = ((cover * alen.min(qlen) as f32).ceil() as i32).max(1);
    (need - qlen as i32, alen as i32 - need)
}

/// Scales live on a fine logarithmic grid, s = exp(index / SCALE_GRID) (0.2 %
/// apart), so that refinement revisits exactly the same scales and each
/// resampled query is made once per call.
const SCALE_GRID: f64 = 512.0;

fn scale_of(si: i32) -> f64 {
    (f64::from(si) / SCALE_GRID).exp()
}

/// Grid steps closest to a scale ratio (at least one).
fn grid_steps(ratio: f64) -> i32 {
    ((ratio.ln() * SCALE_GRID).round() as i32).max(1)
}

/// One hypothesis being refined: archive transform index, scale index, pyramid
/// level and offset of the query on that level's archive grid.
#[derive(Debug, Clone, Copy)]
struct Cand {
    t: usize,
    si: i32,
    level: usize,
    dx: i32,
    dy: i32,
    /// Sub-pixel phase of the query grid: archive pixel X sits on query grid
    /// coordinate X − dx + ph (continuous, pixel-edge coordinates), i.e. the
    /// exact offset is dx − ph.
    ph: (f64, f64),
    ncc: f32,
}

impl Cand {
    /// Exact (fractional) offset of the query grid on the archive grid.
    fn offset(&self) -> (f64, f64) {
        (
            f64::from(self.dx) - self.ph.0,
            f64::from(self.dy) - self.ph.1,
        )
    }

    /// The same hypothesis with a new exact offset, split into the nearest
    /// integer and a phase within ±0.5.
    fn at_offset(&self, ox: f64, oy: f64) -> Cand {
        let (dx, dy) = (ox.round(), oy.round());
        Cand {
            dx: dx as i32,
            dy: dy as i32,
            ph: (dx - ox, dy - oy),
            ..*self
        }
    }
}

struct Ctx<'a> {
    params: &'a AlignParams,
    query: &'a Thumb,
    archive: &'a Thumb,
    /// Query pyramid and resampling cache, shared across candidates.
    prepared: &'a PreparedQuery<'a>,
    /// Query pyramid, raw luma (level j = 2^j thumbnail pixels per pixel).
    qpyr: &'a [Plane],
    /// Archive pyramid, raw luma, untransformed.
    base: Vec<Plane>,
    /// The same, contrast-normalised, made on first use.
    base_lcn: Vec<OnceCell<Plane>>,
    /// Archive pyramids per searched transform, contrast-normalised (search),
    /// made on first use: most candidates are only coarse-searched, which reads
    /// one or two levels of the rotated transforms, and building all of them
    /// eagerly cost about as much as a third of the coarse search.
    apyr: Vec<Vec<OnceCell<Level>>>,
    /// The same, raw luma (scoring), made on first use.
    araw: Vec<Vec<OnceCell<Plane>>>,
    qw: f64,
    qh: f64,
    /// Scale-index range searched (refinement may not leave it).
    si_range: (i32, i32),
}

/// `n × m` empty cells, filled on first use.
fn lazy_grid<T>(n: usize, m: usize) -> Vec<Vec<OnceCell<T>>> {
    (0..n)
        .map(|_| (0..m).map(|_| OnceCell::new()).collect())
        .collect()
}

/// A query window: resampled query grid pixels [x, x + p.w) × [y, y + p.h),
/// shifted by a sub-pixel phase.
struct Window {
    x: usize,
    y: usize,
    p: Plane,
}

impl<'a> Ctx<'a> {
    fn new(
        prepared: &'a PreparedQuery<'a>,
        archive: &'a Thumb,
        params: &'a AlignParams,
    ) -> Option<Ctx<'a>> {
        let query = prepared.thumb;
        let mut base = vec![archive.plane()];
        while base.last()?.w.min(base.last()?.h) >= 2 * MIN_LEVEL_SIDE {
            let next = base.last()?.half();
            base.push(next);
        }
        let (nt, nl) = (params.transforms.len(), base.len());
        let (apyr, araw) = (lazy_grid(nt, nl), lazy_grid(nt, nl));
        Some(Ctx {
            params,
            query,
            archive,
            prepared,
            qpyr: &prepared.qpyr,
            base_lcn: base.iter().map(|_| OnceCell::new()).collect(),
            base,
            apyr,
            araw,
            qw: f64::from(query.width),
            qh: f64::from(query.height),
            si_range: (0, 0),
        })
    }

    /// Number of archive pyramid levels.
    fn levels(&self) -> usize {
        self.base.len()
    }

    /// Contrast-normalised archive level under transform `t`. Normalisation
    /// commutes with the dihedral transforms (square window), so it is done once
    /// per level and shared by the transforms.
    fn alevel(&self, t: usize, level: usize) -> &Level {
        self.apyr[t][level].get_or_init(|| {
            let n = self.base_lcn[level].get_or_init(|| lcn(&self.base[level]));
            Level::new(n.dihedral(self.params.transforms[t]))
        })
    }

    /// Raw archive level under transform `t` (block scoring).
    fn araw(&self, t: usize, level: usize) -> &Plane {
        self.araw[t][level].get_or_init(|| self.base[level].dihedral(self.params.transforms[t]))
    }

    /// The whole query, contrast-normalised, on the archive grid of `level` at
    /// scale index `si` (cached: the coarse search reuses it for every transform).
    fn query(&self, si: i32, level: usize) -> Option<Arc<Level>> {
        let cache = || {
            self.prepared
                .qcache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
        };
        if let Some(q) = cache().get(&(si, level)) {
            return Some(Arc::clone(q));
        }
        let (j, kk, ow, oh) = self.query_grid(si, level)?;
        // Two workers may both make a missing level; the results are the same.
        let q = Arc::new(Level::new(lcn(&resample(
            &self.qpyr[j],
            kk,
            kk,
            (0.0, 0.0),
            ow,
            oh,
        ))));
        cache().insert((si, level), Arc::clone(&q));
        Some(q)
    }

    /// How the query maps onto the grid of (si, level): source pyramid level,
    /// source pixels per grid pixel, and the grid size. One grid pixel covers
    /// s·2^level query-thumbnail pixels; reading from the pyramid level just finer
    /// than that bounds the cost per output pixel and keeps the average exact.
    fn query_grid(&self, si: i32, level: usize) -> Option<(usize, f64, usize, usize)> {
        let k = scale_of(si) * f64::from(1u32 << level);
        let mut j = 0;
        while j + 1 < self.qpyr.len() && f64::from(1u32 << (j + 1)) <= k {
            j += 1;
        }
        let src = &self.qpyr[j];
        let kk = k / f64::from(1u32 << j);
        let ow = (src.w as f64 / kk).floor() as usize;
        let oh = (src.h as f64 / kk).floor() as usize;
        (ow >= MIN_LEVEL_SIDE && oh >= MIN_LEVEL_SIDE).then_some((j, kk, ow, oh))
    }

    /// Part of the query grid covering grid pixels [n0, n1) on each axis, with a
    /// margin so that normalisation inside that range is exact, at a sub-pixel
    /// phase. Only this part is resampled: the query may be far larger than the
    /// archive (a screenshot), and refinement only needs the overlap.
    fn window(
        &self,
        si: i32,
        level: usize,
        nx: (usize, usize),
        ny: (usize, usize),
        phase: (f64, f64),
        normalised: bool,
    ) -> Option<Window> {
        let (j, kk, gw, gh) = self.query_grid(si, level)?;
        let m = if normalised { LCN_RADIUS + 2 } else { 1 };
        let (x, y) = (nx.0.saturating_sub(m), ny.0.saturating_sub(m));
        let (w, h) = (
            (nx.1 + m).min(gw).checked_sub(x)?,
            (ny.1 + m).min(gh).checked_sub(y)?,
        );
        if w == 0 || h == 0 {
            return None;
        }
        let p = resample(
            &self.qpyr[j],
            kk,
            kk,
            (x as f64 + phase.0, y as f64 + phase.1),
            w,
            h,
        );
        STATS.with(|s| {
            let mut s = s.borrow_mut();
            s[level.min(3)] += 1;
            s[4 + level.min(3)] += w * h;
        });
        Some(Window {
            x,
            y,
            p: if normalised { lcn(&p) } else { p },
        })
    }

    /// Finest archive level at which the query is not upsampled much.
    fn final_level(&self, si: i32) -> usize {
        let levels = self.levels();
        let mut l = 0;
        while l + 1 < levels && scale_of(si) * f64::from(1u32 << l) < f64::from(MIN_QUERY_PX) {
            l += 1;
        }
        l
    }

    fn relaxed_cover(&self) -> f32 {
        // The search tolerates a little less coverage than the decision, so that a
        // true alignment near the limit is not lost to a one-pixel error.
        (self.params.min_axis_cover - 0.1).max(0.3)
    }

    /// Linear size ratio of the two thumbnails: the scale at which their areas
    /// would match; crops lie above it, insets below.
    fn area_ratio(&self) -> f64 {
        let (aw, ah) = (
            f64::from(self.archive.width),
            f64::from(self.archive.height),
        );
        ((self.qw * self.qh) / (aw * ah)).sqrt()
    }

    /// Scale indices from the smallest inset to the smallest crop allowed.
    fn scale_range(&self) -> (i32, i32) {
        let p = self.params;
        let r = self.area_ratio();
        let lo = ((r * f64::from(p.min_inset_fraction)).ln() * SCALE_GRID).floor() as i32;
        let hi = ((r / f64::from(p.min_crop_fraction)).ln() * SCALE_GRID).ceil() as i32;
        (lo, hi)
    }

    /// Coarse search: the best few (scale, transform, offset) candidates, best first.
    fn coarse(&self) -> Vec<Cand> {
        let p = self.params;
        let (aw, ah) = (
            f64::from(self.archive.width),
            f64::from(self.archive.height),
        );
        let r = self.area_ratio();
        let (lo, hi) = self.si_range;
        let rot_lo = (r * f64::from(p.rotated_min_fraction)).ln() * SCALE_GRID;
        let rot_hi = (r / f64::from(p.rotated_min_fraction)).ln() * SCALE_GRID;
        let step = grid_steps(f64::from(p.coarse_scale_step.max(1.01)));
        let levels = self.levels();
        let relaxed = self.relaxed_cover();
        let dbg = std::env::var_os("ALIGN_DEBUG").is_some();

        let mut cands: Vec<Cand> = Vec::new();
        let mut si = lo;
        while si <= hi + step / 2 {
            let s = scale_of(si);
            // Overlap size in archive-thumbnail pixels: the query footprint or the
            // archive itself, whichever is smaller.
            let ov = ((self.qw * self.qh / (s * s)).min(aw * ah)).sqrt();
            let whole = f64::from(si) >= rot_lo && f64::from(si) <= rot_hi;
            // Coarsest level at which the overlap still spans about
            // `coarse_side` pixels (within a factor √2 either way).
            let mut lc = self.final_level(si);
            while lc + 1 < levels
                && ov / f64::from(1u32 << (lc + 1))
                    >= f64::from(p.coarse_side) * std::f64::consts::FRAC_1_SQRT_2
            {
                lc += 1;
            }
            if let Some(q) = self.query(si, lc) {
                let ts: Vec<usize> = (0..p.transforms.len())
                    .filter(|&t| {
                        whole || matches!(p.transforms[t], Dihedral::Identity | Dihedral::Mirror)
                    })
                    .collect();
                // Transforms that keep the axes and those that swap them give
                // archive levels of two different shapes; each shape is one batch.
                let mut per_t: Vec<Option<(OffsetGrid, Vec<f32>)>> = vec![None; p.transforms.len()];
                for swapped in [false, true] {
                    let batch: Vec<usize> = ts
                        .iter()
                        .copied()
                        .filter(|&t| p.transforms[t].swaps_axes() == swapped)
                        .collect();
                    let Some(&t0) = batch.first() else {
                        continue;
                    };
                    let a0 = &self.alevel(t0, lc).img;
                    let xr = offset_range(a0.w, q.img.w, relaxed);
                    let yr = offset_range(a0.h, q.img.h, relaxed);
                    let levels: Vec<&Level> = batch.iter().map(|&t| self.alevel(t, lc)).collect();
                    if let Some((g, nccs)) = ncc_all_many(&levels, &q, xr, yr) {
                        for (&t, v) in batch.iter().zip(nccs) {
                            per_t[t] = Some((g, v));
                        }
                    }
                }
                for &t in &ts {
                    let Some((g, nccs)) = &per_t[t] else {
                        continue;
                    };
                    // Keep the best two separate peaks per scale and transform:
                    // with an occluder the true peak is sometimes only second here.
                    // Ties go to the last offset in scan order.
                    let top = |skip: Option<(i32, i32, f32)>| {
                        let mut best: Option<(i32, i32, f32)> = None;
                        for (dy, row) in (g.y_lo..).zip(nccs.chunks_exact(g.nx())) {
                            for (dx, &v) in (g.x_lo..).zip(row) {
                                if v == f32::NEG_INFINITY
                                    || skip.is_some_and(|b| {
                                        (b.0 - dx).abs() <= 2 && (b.1 - dy).abs() <= 2
                                    })
                                {
                                    continue;
                                }
                                if best.is_none_or(|b| v.total_cmp(&b.2).is_ge()) {
                                    best = Some((dx, dy, v));
                                }
                            }
                        }
                        best
                    };
                    let first = top(None);
                    let second = first.and_then(|f| top(Some(f)));
                    for (dx, dy, ncc) in [first, second].into_iter().flatten() {
                        cands.push(Cand {
                            t,
                            si,
                            level: lc,
                            dx,
                            dy,
                            ph: (0.0, 0.0),
                            ncc,
                        });
                    }
                }
            }
            si += step;
        }
        cands.sort_by(|a, b| b.ncc.total_cmp(&a.ncc));
        cands.truncate(p.candidates.max(1));
        if dbg {
            eprintln!("after coarse: {:?}", STATS.with(|s| *s.borrow()));
            for c in &cands {
                eprintln!("coarse {c:?} s={:.3}", scale_of(c.si));
            }
        }
        cands
    }

    /// Refine the coarse candidates level by level, polish and score them.
    fn finish(&self, cands: Vec<Cand>) -> Option<Alignment> {
        let step = grid_steps(f64::from(self.params.coarse_scale_step.max(1.01)));
        let dbg = std::env::var_os("ALIGN_DEBUG").is_some();
        // Refine level by level, halving the field after each round so that only a
        // few candidates pay for the full-resolution comparison.
        if std::env::var_os("ALIGN_COARSE_ONLY").is_some() {
            return None;
        }
        let mut live: Vec<Cand> = cands
            .into_iter()
            .map(|c| self.refine(c, (step / 2).max(1), 1, 3))
            .collect();
        // Descend level by level. The field is pruned before each descent (the
        // finer levels are where the cost is), keeping the best few plus the best
        // of any transform that comes close (see `prune`).
        for round in 0.. {
            dedup(&mut live);
            prune(&mut live, [6, 4, 3][round.min(2)]);
            let mut moved = false;
            for c in live.iter_mut() {
                let lf = self.final_level(c.si);
                if c.level > lf {
                    // Pixel-edge coordinates double from one level to the next.
                    let (ox, oy) = c.offset();
                    let down = Cand {
                        level: c.level - 1,
                        ..*c
                    }
                    .at_offset(2.0 * ox, 2.0 * oy);
                    // Most of the movement happens at coarse levels; at the final
                    // level two rounds suffice before `polish`.
                    let rounds = if down.level == lf { 2 } else { 3 };
                    *c = self.refine(down, self.fine_step(&down), 1, rounds);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        dedup(&mut live);
        prune(&mut live, 3);
        if dbg {
            for c in &live {
                eprintln!("refined {c:?} s={:.3}", scale_of(c.si));
            }
        }
        // Polish (finest scale step, sub-pixel phase), then score each survivor;
        // the decision is made on block agreement, not on the search's NCC.
        let mut best: Option<Alignment> = None;
        for c in live {
            let c = self.polish(c);
            if let Some(al) = self.evaluate(&c) {
                if dbg {
                    eprintln!("evaluated {c:?}: {al:?}");
                }
                let better = match &best {
                    None => true,
                    Some(b) => (al.score, al.ncc) > (b.score, b.ncc),
                };
                if better {
                    best = Some(al);
                }
            }
        }
        if dbg {
            eprintln!(
                "stats windows per level, px per level, ncc calls, ncc px: {:?}",
                STATS.with(|s| *s.borrow())
            );
        }
        best
    }

    /// Scale step (grid units) at a candidate's level that moves the far edge of
    /// the overlap by about one pixel.
    fn fine_step(&self, c: &Cand) -> i32 {
        let a = &self.alevel(c.t, c.level).img;
        let qext = (self.qw.max(self.qh)) / (scale_of(c.si) * f64::from(1u32 << c.level));
        let ext = qext.min(a.w.max(a.h) as f64).max(4.0);
        grid_steps(1.0 + 1.0 / ext)
    }

    /// Query grid pixels X − dx reached from archive pixels X in [0, alen) for
    /// offsets in [lo, hi], clipped to the grid.
    fn needed(lo: i32, hi: i32, alen: usize, glen: usize) -> (usize, usize) {
        let n0 = (-hi).max(0) as usize;
        let n1 = (alen as i32 - lo).clamp(0, glen as i32) as usize;
        (n0, n1)
    }

    /// Exact offset at scale `si` that keeps the centre of the candidate's
    /// overlap in place: find it in archive pixels, express it in query-thumbnail
    /// pixels at the old scale, and place it again at the new one. (The query grid
    /// grows from the query's corner, so keeping the integer offset would slide
    /// the far side of the overlap by up to several pixels.)
    fn recentre(&self, c: &Cand, si: i32) -> (f64, f64) {
        let a = &self.alevel(c.t, c.level).img;
        let unit = f64::from(1u32 << c.level);
        let k_old = scale_of(c.si) * unit;
        let k_new = scale_of(si) * unit;
        let (qwf, qhf) = (self.qw / k_old, self.qh / k_old);
        let (ox, oy) = c.offset();
        let xc = 0.5 * (ox.max(0.0) + (ox + qwf).min(a.w as f64));
        let yc = 0.5 * (oy.max(0.0) + (oy + qhf).min(a.h as f64));
        (
            xc - (xc - ox) * k_old / k_new,
            yc - (yc - oy) * k_old / k_new,
        )
    }

    /// Local search around a candidate: scale indices si ± `ds` (each with the
    /// exact centre-preserving offset) and integer offsets within `radius` of it,
    /// repeated while the best moves (at most `rounds` times).
    fn refine(&self, mut c: Cand, ds: i32, radius: i32, rounds: usize) -> Cand {
        let relaxed = self.relaxed_cover();
        let a = &self.alevel(c.t, c.level).img;
        let mut windows: Vec<(i32, (f64, f64), Window)> = Vec::new();
        let mut seen: Vec<(i32, i32, i32, u64, u64)> = Vec::new();
        for _ in 0..rounds {
            let mut best = c;
            best.ncc = f32::NEG_INFINITY;
            for k in -1i32..=1 {
                let si = c.si + k * ds;
                if k != 0 && (si < self.si_range.0 || si > self.si_range.1) {
                    continue;
                }
                let Some((_, _, gw, gh)) = self.query_grid(si, c.level) else {
                    continue;
                };
                let (ox, oy) = if k == 0 {
                    c.offset()
                } else {
                    self.recentre(&c, si)
                };
                // Phases are kept on a quarter-pixel grid during refinement so that
                // windows can be reused between rounds; `polish` makes them exact.
                let q4 = |v: f64| (v * 4.0).round() / 4.0;
                let mut base = Cand { si, ..c }.at_offset(ox, oy);
                base.ph = (q4(base.ph.0), q4(base.ph.1));
                let (x_lo, x_hi) = offset_range(a.w, gw, relaxed);
                let (y_lo, y_hi) = offset_range(a.h, gh, relaxed);
                let (ox0, ox1) = ((base.dx - radius).max(x_lo), (base.dx + radius).min(x_hi));
                let (oy0, oy1) = ((base.dy - radius).max(y_lo), (base.dy + radius).min(y_hi));
                if ox1 < ox0 || oy1 < oy0 {
                    continue;
                }
                let nx = Self::needed(ox0, ox1, a.w, gw);
                let ny = Self::needed(oy0, oy1, a.h, gh);
                if nx.1 <= nx.0 || ny.1 <= ny.0 {
                    continue;
                }
                let have = windows.iter().position(|(wsi, wph, w)| {
                    *wsi == si
                        && *wph == base.ph
                        && w.x <= nx.0
                        && w.y <= ny.0
                        && w.x + w.p.w >= nx.1
                        && w.y + w.p.h >= ny.1
                });
                let wi = match have {
                    Some(i) => i,
                    None => {
                        // One pixel of slack each way lets the next round reuse it.
                        let grow =
                            |n: (usize, usize), g: usize| (n.0.saturating_sub(1), (n.1 + 1).min(g));
                        let Some(w) =
                            self.window(si, c.level, grow(nx, gw), grow(ny, gh), base.ph, true)
                        else {
                            continue;
                        };
                        windows.push((si, base.ph, w));
                        windows.len() - 1
                    }
                };
                let win = &windows[wi].2;
                let key = (base.ph.0.to_bits(), base.ph.1.to_bits());
                for dy in oy0..=oy1 {
                    for dx in ox0..=ox1 {
                        let id = (si, dx, dy, key.0, key.1);
                        let current = si == c.si && dx == c.dx && dy == c.dy && base.ph == c.ph;
                        if seen.contains(&id) && !current {
                            continue;
                        }
                        seen.push(id);
                        if let Some(v) = ncc_window(a, &win.p, (win.x, win.y), (gw, gh), dx, dy) {
                            if v > best.ncc {
                                best = Cand {
                                    dx,
                                    dy,
                                    ncc: v,
                                    ..base
                                };
                            }
                        }
                    }
                }
            }
            if !best.ncc.is_finite() {
                return c;
            }
            let unchanged =
                best.si == c.si && best.dx == c.dx && best.dy == c.dy && best.ph == c.ph;
            c = best;
            if unchanged {
                break;
            }
        }
        c
    }

    /// Sub-pixel refinement of the offset at the candidate's scale: an offset
    /// off by a fraction of a pixel blurs fine texture (text, foliage, gravel)
    /// enough to fail block agreement at thumbnail size. The correlation at the
    /// 3 × 3 neighbouring offsets is fitted with a parabola per axis (the usual
    /// sub-pixel peak estimate): one window instead of a search over phases.
    fn polish(&self, c: Cand) -> Cand {
        let a = &self.alevel(c.t, c.level).img;
        // Scale first: correlation at si ± ds with centre-preserving exact
        // offsets, parabola through the three values, rounded to the scale grid.
        let ds = (self.fine_step(&c) / 2).max(1);
        let at_scale = |si: i32| -> Option<f32> {
            let (_, _, gw, gh) = self.query_grid(si, c.level)?;
            let (ox, oy) = self.recentre(&c, si);
            let cc = Cand { si, ..c }.at_offset(ox, oy);
            let nx = Self::needed(cc.dx, cc.dx, a.w, gw);
            let ny = Self::needed(cc.dy, cc.dy, a.h, gh);
            let w = self.window(si, c.level, nx, ny, cc.ph, true)?;
            ncc_window(a, &w.p, (w.x, w.y), (gw, gh), cc.dx, cc.dy)
        };
        let mut c = c;
        if let (Some(m), Some(v0), Some(p)) =
            (at_scale(c.si - ds), at_scale(c.si), at_scale(c.si + ds))
        {
            let d = parabola_peak(m, v0, p);
            let si = c.si + (d * f64::from(ds)).round() as i32;
            if si != c.si {
                let (ox, oy) = self.recentre(&c, si);
                c = Cand { si, ..c }.at_offset(ox, oy);
            }
        }
        // Then translation: the 3 × 3 neighbouring offsets on one window.
        let Some((_, _, gw, gh)) = self.query_grid(c.si, c.level) else {
            return c;
        };
        let nx = Self::needed(c.dx - 1, c.dx + 1, a.w, gw);
        let ny = Self::needed(c.dy - 1, c.dy + 1, a.h, gh);
        let Some(w) = self.window(c.si, c.level, nx, ny, c.ph, true) else {
            return c;
        };
        let at = |dx: i32, dy: i32| ncc_window(a, &w.p, (w.x, w.y), (gw, gh), dx, dy);
        let Some(v0) = at(c.dx, c.dy) else {
            return c;
        };
        let peak = |m: Option<f32>, p: Option<f32>| match (m, p) {
            (Some(m), Some(p)) => parabola_peak(m, v0, p),
            _ => 0.0,
        };
        let sx = peak(at(c.dx - 1, c.dy), at(c.dx + 1, c.dy));
        let sy = peak(at(c.dx, c.dy - 1), at(c.dx, c.dy + 1));
        let (ox, oy) = c.offset();
        Cand { ncc: v0, ..c }.at_offset(ox + sx, oy + sy)
    }

    /// Block scoring and geometry of a polished candidate.
    fn evaluate(&self, c: &Cand) -> Option<Alignment> {
        let p = self.params;
        let t = self.params.transforms[c.t];
        let a = self.araw(c.t, c.level);
        let unit = f64::from(1u32 << c.level);
        let k = scale_of(c.si) * unit;
        let (_, _, gw, gh) = self.query_grid(c.si, c.level)?;
        let r = overlap(a.w, a.h, gw, gh, c.dx, c.dy)?;
        let nx = Self::needed(c.dx, c.dx, a.w, gw);
        let ny = Self::needed(c.dy, c.dy, a.h, gh);
        let win = self.window(c.si, c.level, nx, ny, c.ph, false)?;
        let ncc = ncc_window(a, &win.p, (win.x, win.y), (gw, gh), c.dx, c.dy).unwrap_or(0.0);

        // Coverage along each axis, in archive-level pixels.
        let ow = (r.x1 - r.x0) as f32;
        let oh = (r.y1 - r.y0) as f32;
        let covered = ow >= p.min_axis_cover * a.w.min(gw) as f32 - 0.5
            && oh >= p.min_axis_cover * a.h.min(gh) as f32 - 0.5;

        let bs = block_stats(a, &win, r, c.dx, c.dy, p);
        if bs.either == 0 && ncc <= 0.0 {
            return None;
        }
        let score = if bs.either > 0 {
            bs.agreeing as f32 / bs.either as f32
        } else {
            0.0
        };
        let confident = covered
            && bs.agreeing >= p.min_agreeing_blocks
            && score >= p.min_score
            && ncc >= p.min_ncc;

        // Regions: archive level pixels → fractions of the transformed archive
        // thumbnail → untransformed archive frame; query grid pixels (with the
        // sub-pixel phase) → query fractions.
        let (atw, ath) = if t.swaps_axes() {
            (
                f64::from(self.archive.height),
                f64::from(self.archive.width),
            )
        } else {
            (
                f64::from(self.archive.width),
                f64::from(self.archive.height),
            )
        };
        let in_t = Region {
            x: (r.x0 as f64 * unit / atw) as f32,
            y: (r.y0 as f64 * unit / ath) as f32,
            w: ((r.x1 - r.x0) as f64 * unit / atw) as f32,
            h: ((r.y1 - r.y0) as f64 * unit / ath) as f32,
        };
        let archive_region = clamp_region(t.inverse().map_region(in_t));
        let qx0 = (f64::from(r.x0 as i32 - c.dx) + c.ph.0) * k;
        let qy0 = (f64::from(r.y0 as i32 - c.dy) + c.ph.1) * k;
        let query_region = clamp_region(Region {
            x: (qx0 / self.qw) as f32,
            y: (qy0 / self.qh) as f32,
            w: ((r.x1 - r.x0) as f64 * k / self.qw) as f32,
            h: ((r.y1 - r.y0) as f64 * k / self.qh) as f32,
        });
        // Thumbnail scale → source pixels: each thumbnail's source-per-thumb ratio
        // taken on its longest side (least rounding error).
        let q_src = f64::from(self.query.source_width.max(self.query.source_height))
            / f64::from(self.query.width.max(self.query.height));
        let a_src = f64::from(self.archive.source_width.max(self.archive.source_height))
            / f64::from(self.archive.width.max(self.archive.height));
        Some(Alignment {
            transform: t,
            scale: (scale_of(c.si) * q_src / a_src) as f32,
            query_region,
            archive_region,
            score,
            ncc,
            textured_blocks: bs.either,
            agreeing_blocks: bs.agreeing,
            confident,
            features: bs.features(ncc, c.ncc, covered),
        })
    }
}

/// Vertex of the parabola through (−1, m), (0, v0), (1, p), clamped to ±0.5;
/// 0 when the three values do not form a peak.
fn parabola_peak(m: f32, v0: f32, p: f32) -> f64 {
    let curv = f64::from(m) - 2.0 * f64::from(v0) + f64::from(p);
    if curv < -1e-6 {
        (0.5 * f64::from(m - p) / curv).clamp(-0.5, 0.5)
    } else {
        0.0
    }
}

/// Keep the `n` best candidates by search NCC, plus the best of any other
/// transform that comes close: near-symmetric pictures (cells, textures) make a
/// wrong orientation score almost as well in the search, and only block scoring
/// tells them apart.
fn prune(v: &mut Vec<Cand>, n: usize) {
    v.sort_by(|a, b| b.ncc.total_cmp(&a.ncc));
    let Some(top) = v.first().map(|c| c.ncc) else {
        return;
    };
    let mut out: Vec<Cand> = Vec::new();
    for (i, c) in v.iter().enumerate() {
        let new_t = !out.iter().any(|o| o.t == c.t);
        if i < n || (new_t && c.ncc >= top - 0.15) {
            out.push(*c);
        }
    }
    *v = out;
}

/// Drop candidates that converged onto the same hypothesis (same transform and
/// level, scale within two grid steps, offset within a pixel), keeping the best.
fn dedup(v: &mut Vec<Cand>) {
    v.sort_by(|a, b| b.ncc.total_cmp(&a.ncc));
    let mut out: Vec<Cand> = Vec::with_capacity(v.len());
    for c in v.drain(..) {
        let dup = out.iter().any(|o| {
            o.t == c.t
                && o.level == c.level
                && (o.si - c.si).abs() <= 2
                && (o.dx - c.dx).abs() <= 1
                && (o.dy - c.dy).abs() <= 1
        });
        if !dup {
            out.push(c);
        }
    }
    *v = out;
}

fn clamp_region(r: Region) -> Region {
    let x = r.x.clamp(0.0, 1.0);
    let y = r.y.clamp(0.0, 1.0);
    Region {
        x,
        y,
        w: r.w.clamp(0.0, 1.0 - x),
        h: r.h.clamp(0.0, 1.0 - y),
    }
}

/// Block statistics of an alignment.
#[derive(Debug, Default)]
struct BlockStats {
    /// Blocks textured in the archive, in the query, in both, in either.
    in_archive: u32,
    in_query: u32,
    both: u32,
    either: u32,
    /// Blocks textured in both whose detail correlation reaches `block_ncc`.
    agreeing: u32,
    /// Correlations of the blocks textured in both.
    nccs: Vec<f32>,
    /// Detail correlation pooled over blocks textured in both.
    pooled: f32,
}

impl BlockStats {
    fn features(&self, ncc: f32, lcn_ncc: f32, covered: bool) -> Vec<f32> {
        let mut v = self.nccs.clone();
        v.sort_by(f32::total_cmp);
        let median = v.get(v.len() / 2).copied().unwrap_or(0.0);
        let at = |t: f32| v.iter().filter(|&&x| x >= t).count() as f32;
        vec![
            self.in_archive as f32,
            self.in_query as f32,
            self.both as f32,
            self.either as f32,
            at(0.5),
            at(0.6),
            at(0.7),
            at(0.8),
            at(0.9),
            self.pooled,
            median,
            ncc,
            lcn_ncc,
            f32::from(u8::from(covered)),
        ]
    }
}

/// Compare the two pictures block by block over the overlap (archive level `a`,
/// query window `win`, query grid pixel X − dx on archive pixel X).
///
/// Detail is a block minus its least-squares plane: smooth gradients (sky,
/// vignetting) are removed, because any two gradients of similar direction
/// correlate perfectly and would otherwise vote for a false match.
fn block_stats(a: &Plane, win: &Window, r: Rect, dx: i32, dy: i32, p: &AlignParams) -> BlockStats {
    let b = p.block.max(3);
    let bw = (r.x1 - r.x0) / b;
    let bh = (r.y1 - r.y0) / b;
    // Centre the blocks in the overlap so that both edges lose the same amount.
    let ox = r.x0 + ((r.x1 - r.x0) - bw * b) / 2;
    let oy = r.y0 + ((r.y1 - r.y0) - bh * b) / 2;
    let n = (b * b) as f32;
    let half = (b as f32 - 1.0) / 2.0;
    let sxx: f32 = (0..b).map(|i| (i as f32 - half).powi(2)).sum::<f32>() * b as f32;
    let mut ra = vec![0.0f32; b * b];
    let mut rq = vec![0.0f32; b * b];
    let tex2 = p.texture_min * p.texture_min * n;
    let mut st = BlockStats::default();
    let (mut sab, mut saa, mut sbb) = (0.0f64, 0.0f64, 0.0f64);
    for by in 0..bh {
        for bx in 0..bw {
            let x0 = ox + bx * b;
            let y0 = oy + by * b;
            let mut inside = true;
            for j in 0..b {
                for i in 0..b {
                    let (x, y) = (x0 + i, y0 + j);
                    ra[j * b + i] = a.p[y * a.w + x];
                    let qx = (x as i32 - dx) as usize;
                    let qy = (y as i32 - dy) as usize;
                    match (qx.checked_sub(win.x), qy.checked_sub(win.y)) {
                        (Some(wx), Some(wy)) if wx < win.p.w && wy < win.p.h => {
                            rq[j * b + i] = win.p.p[wy * win.p.w + wx];
                        }
                        _ => inside = false,
                    }
                }
            }
            if !inside {
                continue;
            }
            let ea = detrend(&mut ra, b, half, sxx);
            let eq = detrend(&mut rq, b, half, sxx);
            let (ta, tq) = (ea >= tex2, eq >= tex2);
            st.in_archive += u32::from(ta);
            st.in_query += u32::from(tq);
            st.either += u32::from(ta || tq);
            if !(ta && tq) {
                continue;
            }
            st.both += 1;
            let d = dot(&ra, &rq);
            sab += f64::from(d);
            saa += f64::from(ea);
            sbb += f64::from(eq);
            let c = d / (ea * eq).sqrt();
            if std::env::var_os("ALIGN_BLOCKS").is_some() {
                eprintln!(
                    "block {bx},{by} rms_a {:.1} rms_q {:.1} ncc {c:.3}",
                    (ea / n).sqrt(),
                    (eq / n).sqrt()
                );
            }
            st.nccs.push(c);
            if c >= p.block_ncc {
                st.agreeing += 1;
            }
        }
    }
    st.pooled = if st.both > 0 {
        (sab / (saa * sbb).sqrt()) as f32
    } else {
        0.0
    };
    st
}

/// Subtract the least-squares plane from a b × b block in place; returns the
/// residual energy.
fn detrend(v: &mut [f32], b: usize, half: f32, sxx: f32) -> f32 {
    let n = (b * b) as f32;
    let (mut m, mut gx, mut gy) = (0.0f32, 0.0f32, 0.0f32);
    for j in 0..b {
        for i in 0..b {
            let x = v[j * b + i];
            m += x;
            gx += (i as f32 - half) * x;
            gy += (j as f32 - half) * x;
        }
    }
    m /= n;
    gx /= sxx;
    gy /= sxx;
    let mut e = 0.0;
    for j in 0..b {
        for i in 0..b {
            let r = v[j * b + i] - m - gx * (i as f32 - half) - gy * (j as f32 - half);
            v[j * b + i] = r;
            e += r * r;
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop `ncc_window` had before its sums were split in two passes.
    fn ncc_window_reference(
        a: &Plane,
        win: &Plane,
        wo: (usize, usize),
        gdim: (usize, usize),
        dx: i32,
        dy: i32,
    ) -> Option<f32> {
        let r = overlap(a.w, a.h, gdim.0, gdim.1, dx, dy)?;
        let qx0 = (r.x0 as i32 - dx) as usize;
        let qy0 = (r.y0 as i32 - dy) as usize;
        let (wx0, wy0) = (qx0.checked_sub(wo.0)?, qy0.checked_sub(wo.1)?);
        let (w, h) = (r.x1 - r.x0, r.y1 - r.y0);
        if wx0 + w > win.w || wy0 + h > win.h {
            return None;
        }
        let (mut sa, mut saa, mut sq, mut sqq, mut sqa) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for y in 0..h {
            let ar = &a.p[(r.y0 + y) * a.w + r.x0..][..w];
            let qr = &win.p[(wy0 + y) * win.w + wx0..][..w];
            // Eight independent lanes per sum so that the loop vectorises.
            let mut acc = [[0.0f32; 8]; 5];
            let (ca, cq) = (ar.chunks_exact(8), qr.chunks_exact(8));
            let (ta, tq) = (ca.remainder(), cq.remainder());
            for (xa, xq) in ca.zip(cq) {
                for i in 0..8 {
                    acc[0][i] += xa[i];
                    acc[1][i] += xa[i] * xa[i];
                    acc[2][i] += xq[i];
                    acc[3][i] += xq[i] * xq[i];
                    acc[4][i] += xa[i] * xq[i];
                }
            }
            let mut t = acc.map(|l| l.iter().sum::<f32>());
            for (&x, &q) in ta.iter().zip(tq) {
                t[0] += x;
                t[1] += x * x;
                t[2] += q;
                t[3] += q * q;
                t[4] += x * q;
            }
            sa += f64::from(t[0]);
            saa += f64::from(t[1]);
            sq += f64::from(t[2]);
            sqq += f64::from(t[3]);
            sqa += f64::from(t[4]);
        }
        let n = (w * h) as f64;
        let va = saa - sa * sa / n;
        let vq = sqq - sq * sq / n;
        if va < SEARCH_VAR_MIN * n || vq < SEARCH_VAR_MIN * n {
            return None;
        }
        Some(((sqa - sa * sq / n) / (va * vq).sqrt()) as f32)
    }

    /// `resample` before its common tap counts were written out.
    fn resample_reference(
        src: &Plane,
        kx: f64,
        ky: f64,
        (x0, y0): (f64, f64),
        ow: usize,
        oh: usize,
    ) -> Plane {
        let (ow, oh) = (ow.max(1), oh.max(1));
        let wx = AxisWeights::new(src.w, kx, x0, ow);
        let wy = AxisWeights::new(src.h, ky, y0, oh);
        // Only the source rows some output row reads are filtered horizontally.
        let row0 = wy.taps.first().map_or(0, |t| t.0);
        let row1 = wy
            .taps
            .iter()
            .map(|&(s, _, l)| s + l)
            .max()
            .unwrap_or(src.h)
            .min(src.h);
        let mut tmp = vec![0.0f32; (row1 - row0) * ow];
        for y in row0..row1 {
            let row = &src.p[y * src.w..(y + 1) * src.w];
            let out = &mut tmp[(y - row0) * ow..(y - row0 + 1) * ow];
            for (o, &(start, off, len)) in out.iter_mut().zip(&wx.taps) {
                *o = wx.w[off..off + len]
                    .iter()
                    .zip(&row[start..start + len])
                    .map(|(a, b)| a * b)
                    .sum();
            }
        }
        let mut p = vec![0.0f32; ow * oh];
        for (y, &(start, off, len)) in wy.taps.iter().enumerate() {
            let out = &mut p[y * ow..(y + 1) * ow];
            for (j, &wt) in wy.w[off..off + len].iter().enumerate() {
                let r = start + j - row0;
                let src_row = &tmp[r * ow..(r + 1) * ow];
                for (o, s) in out.iter_mut().zip(src_row) {
                    *o += wt * s;
                }
            }
        }
        Plane::new(ow, oh, p)
    }

    /// The straightforward loops `lcn` replaced; it must match them bit for bit.
    fn lcn_reference(p: &Plane) -> Plane {
        let (w, h) = (p.w, p.h);
        let r = LCN_RADIUS;
        // Horizontal box sums of v and v² (clamped window), then vertical ones:
        // separable running sums in f32 (values are centred, so precision is ample).
        let mut h1 = vec![0.0f32; w * h];
        let mut h2 = vec![0.0f32; w * h];
        for y in 0..h {
            let row = &p.p[y * w..(y + 1) * w];
            let (o1, o2) = (&mut h1[y * w..(y + 1) * w], &mut h2[y * w..(y + 1) * w]);
            let (mut s1, mut s2) = (0.0f32, 0.0f32);
            for &v in row.iter().take(r.min(w)) {
                s1 += v;
                s2 += v * v;
            }
            for x in 0..w {
                if x + r < w {
                    let v = row[x + r];
                    s1 += v;
                    s2 += v * v;
                }
                if x > r {
                    let v = row[x - r - 1];
                    s1 -= v;
                    s2 -= v * v;
                }
                o1[x] = s1;
                o2[x] = s2;
            }
        }
        let count = |i: usize, n: usize| (i + r + 1).min(n) - i.saturating_sub(r);
        let floor2 = LCN_FLOOR * LCN_FLOOR;
        let mut out = vec![0.0f32; w * h];
        let mut c1 = vec![0.0f32; w];
        let mut c2 = vec![0.0f32; w];
        for y in 0..r.min(h) {
            for x in 0..w {
                c1[x] += h1[y * w + x];
                c2[x] += h2[y * w + x];
            }
        }
        for y in 0..h {
            if y + r < h {
                let row = (y + r) * w;
                for x in 0..w {
                    c1[x] += h1[row + x];
                    c2[x] += h2[row + x];
                }
            }
            if y > r {
                let row = (y - r - 1) * w;
                for x in 0..w {
                    c1[x] -= h1[row + x];
                    c2[x] -= h2[row + x];
                }
            }
            let cy = count(y, h);
            for x in 0..w {
                let inv_n = 1.0 / (count(x, w) * cy) as f32;
                let m = c1[x] * inv_n;
                let var = (c2[x] * inv_n - m * m).max(0.0);
                out[y * w + x] = LCN_GAIN * (p.p[y * w + x] - m) / (var + floor2).sqrt();
            }
        }
        blur121_reference(&Plane::new(w, h, out))
    }

    fn blur121_reference(p: &Plane) -> Plane {
        let (w, h) = (p.w, p.h);
        let mut tmp = vec![0.0f32; w * h];
        for y in 0..h {
            let row = &p.p[y * w..(y + 1) * w];
            for x in 0..w {
                let l = row[x.saturating_sub(1)];
                let r = row[(x + 1).min(w - 1)];
                tmp[y * w + x] = 0.25 * (l + r) + 0.5 * row[x];
            }
        }
        let mut out = vec![0.0f32; w * h];
        for y in 0..h {
            let (u, d) = (y.saturating_sub(1), (y + 1).min(h - 1));
            for x in 0..w {
                out[y * w + x] = 0.25 * (tmp[u * w + x] + tmp[d * w + x]) + 0.5 * tmp[y * w + x];
            }
        }
        Plane::new(w, h, out)
    }

    /// Deterministic multi-octave value noise: texture at several scales without
    /// the periodicity of sums of sines (which would make shifted copies match).
    fn textured(w: u32, h: u32) -> DynamicImage {
        let mut seed = 0x9e37_79b9u32;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed % 1000) as f32 / 1000.0
        };
        let mut acc = vec![0.0f32; (w * h) as usize];
        for (cell, amp) in [(64u32, 60.0f32), (24, 40.0), (9, 25.0), (4, 12.0)] {
            let (gw, gh) = (w / cell + 2, h / cell + 2);
            let grid: Vec<f32> = (0..gw * gh).map(|_| rnd() - 0.5).collect();
            for y in 0..h {
                for x in 0..w {
                    let (fx, fy) = (x as f32 / cell as f32, y as f32 / cell as f32);
                    let (ix, iy) = (fx as u32, fy as u32);
                    let (tx, ty) = (fx - ix as f32, fy - iy as f32);
                    let g = |i: u32, j: u32| grid[(j * gw + i) as usize];
                    let v = g(ix, iy) * (1.0 - tx) * (1.0 - ty)
                        + g(ix + 1, iy) * tx * (1.0 - ty)
                        + g(ix, iy + 1) * (1.0 - tx) * ty
                        + g(ix + 1, iy + 1) * tx * ty;
                    acc[(y * w + x) as usize] += amp * v;
                }
            }
        }
        let img = image::GrayImage::from_fn(w, h, |x, y| {
            image::Luma([(128.0 + acc[(y * w + x) as usize]).clamp(0.0, 255.0) as u8])
        });
        DynamicImage::ImageLuma8(img)
    }

    /// Pseudo-random plane with values of the magnitude `lcn` produces.
    fn noise_plane(w: usize, h: usize, seed: u32) -> Plane {
        let mut x = seed.max(1);
        let p = (0..w * h)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x % 2001) as f32 / 10.0 - 100.0
            })
            .collect();
        Plane::new(w, h, p)
    }

    #[test]
    fn ncc_window_sums_in_the_same_order() {
        let a = noise_plane(61, 45, 3);
        let q = noise_plane(50, 37, 4);
        let mut checked = 0;
        for dy in -20..30 {
            for dx in -25..30 {
                for wo in [(0, 0), (3, 2)] {
                    let (wx, wy) = (q.w - wo.0, q.h - wo.1);
                    let win = Plane::new(
                        wx,
                        wy,
                        (0..wy)
                            .flat_map(|y| q.p[(y + wo.1) * q.w + wo.0..][..wx].to_vec())
                            .collect(),
                    );
                    let fast = ncc_window(&a, &win, wo, (q.w, q.h), dx, dy);
                    let slow = ncc_window_reference(&a, &win, wo, (q.w, q.h), dx, dy);
                    assert_eq!(fast.map(f32::to_bits), slow.map(f32::to_bits), "{dx} {dy}");
                    checked += usize::from(fast.is_some());
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    #[test]
    fn resample_matches_plain_loops_bit_for_bit() {
        let src = noise_plane(97, 61, 5);
        for k in [0.45, 0.8, 1.0, 1.13, 1.5, 1.99, 2.0, 2.7, 3.3] {
            for first in [(0.0, 0.0), (3.25, 1.5), (-0.5, 0.75), (7.0, 2.0)] {
                let (ow, oh) = ((90.0 / k) as usize - 8, (55.0 / k) as usize - 4);
                let fast = resample(&src, k, k * 1.01, first, ow, oh);
                let slow = resample_reference(&src, k, k * 1.01, first, ow, oh);
                let bits = |q: &Plane| q.p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fast), bits(&slow), "k {k} from {first:?}");
            }
        }
    }

    #[test]
    fn lcn_matches_plain_loops_bit_for_bit() {
        for (k, &(w, h)) in [
            (1, 1),
            (2, 3),
            (5, 1),
            (1, 7),
            (4, 4),
            (6, 9),
            (9, 17),
            (64, 42),
            (33, 128),
        ]
        .iter()
        .enumerate()
        {
            let p = noise_plane(w, h, 11 + k as u32);
            let (fast, slow) = (lcn(&p), lcn_reference(&p));
            assert_eq!((fast.w, fast.h), (slow.w, slow.h));
            let bits = |q: &Plane| q.p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&slow), "{w} x {h}");
        }
    }

    #[test]
    fn fft_cross_terms_equal_direct_sums() {
        // Query narrower than the archive (crops), wider (insets), mixed, and
        // offset ranges reaching past the pictures; odd and even batch sizes.
        let shapes = [
            ((64, 42), (26, 17)),
            ((16, 10), (57, 37)),
            ((16, 12), (14, 11)),
            ((33, 20), (19, 41)),
            ((5, 4), (4, 5)),
        ];
        for (k, &((aw, ah), (qw, qh))) in shapes.iter().enumerate() {
            let q = Level::new(noise_plane(qw, qh, 7 + k as u32));
            let archives: Vec<Level> = (0..3)
                .map(|i| Level::new(noise_plane(aw, ah, 100 * (k as u32 + 1) + i)))
                .collect();
            let refs: Vec<&Level> = archives.iter().collect();
            for (xr, yr) in [
                (offset_range(aw, qw, 0.7), offset_range(ah, qh, 0.7)),
                (
                    (-(qw as i32) - 3, aw as i32 + 3),
                    (-(qh as i32) - 3, ah as i32 + 3),
                ),
            ] {
                let (g, fast) = ncc_all_many(&refs, &q, xr, yr).expect("offsets overlap");
                assert_eq!(fast.len(), archives.len());
                let mut checked = 0;
                for (a, nccs) in archives.iter().zip(&fast) {
                    let mut slow: Vec<(i32, i32, f32)> = Vec::new();
                    ncc_all(a, &q, xr, yr, |dx, dy, v| slow.push((dx, dy, v)));
                    let finite = nccs.iter().filter(|v| **v != f32::NEG_INFINITY).count();
                    assert_eq!(finite, slow.len(), "shape {k}");
                    for &(dx, dy, v) in &slow {
                        let i = (dy - g.y_lo) as usize * g.nx() + (dx - g.x_lo) as usize;
                        // The FFT's rounding error is relative to the whole
                        // pictures' energy, so it grows as the overlap shrinks;
                        // the search only asks for overlaps spanning most of the
                        // smaller picture, where it is ~1e-5.
                        let r = overlap(aw, ah, qw, qh, dx, dy).expect("overlaps");
                        let n = ((r.x1 - r.x0) * (r.y1 - r.y0)) as f32;
                        let tol = 1e-4 * ((aw * ah).max(qw * qh) as f32 / n);
                        assert!((nccs[i] - v).abs() < tol, "shape {k}: {} vs {v}", nccs[i]);
                        // And the reference agrees with a plain per-offset NCC.
                        // (None only at the flatness floor, where f32 and f64 may differ.)
                        if let Some(plain) =
                            ncc_window(&a.img, &q.img, (0, 0), (q.img.w, q.img.h), dx, dy)
                        {
                            assert!((plain - v).abs() < 1e-4, "shape {k}: {plain} vs {v}");
                            checked += 1;
                        }
                    }
                }
                assert!(checked > 20, "shape {k}: only {checked} offsets");
            }
        }
    }

    #[test]
    fn smooth_lengths_have_small_factors_only() {
        assert_eq!(smooth_len(0), 1);
        assert_eq!(smooth_len(7), 8);
        assert_eq!(smooth_len(61), 64);
        assert_eq!(smooth_len(71), 72);
        assert_eq!(smooth_len(121), 125);
        for n in 1..600 {
            let m = smooth_len(n);
            assert!(m >= n && m < n + n / 4 + 2, "{n} -> {m}");
        }
    }

    #[test]
    fn bytes_round_trip() {
        let t = Thumb::from_image(&textured(640, 427));
        assert_eq!((t.width, t.height), (128, 85));
        assert_eq!((t.source_width, t.source_height), (640, 427));
        let b = t.to_bytes();
        assert_eq!(b.len(), 16 + 128 * 85);
        assert_eq!(Thumb::from_bytes(&b), Some(t));
    }

    #[test]
    fn from_bytes_rejects_garbage() {
        let t = Thumb::from_image(&textured(300, 200));
        let b = t.to_bytes();
        for n in 0..b.len() {
            assert_eq!(Thumb::from_bytes(&b[..n]), None, "truncated to {n}");
        }
        let mut long = b.clone();
        long.push(0);
        assert_eq!(Thumb::from_bytes(&long), None);
        let mut bad = b.clone();
        bad[0] = b'X';
        assert_eq!(Thumb::from_bytes(&bad), None);
        let mut ver = b.clone();
        ver[3] = 99;
        assert_eq!(Thumb::from_bytes(&ver), None);
        let mut zero = b.clone();
        zero[4] = 0;
        zero[5] = 0;
        assert_eq!(Thumb::from_bytes(&zero), None);
        let mut huge = b.clone();
        huge[4] = 0xff;
        huge[5] = 0xff;
        assert_eq!(Thumb::from_bytes(&huge), None);
        let mut small_src = b.clone();
        small_src[8..12].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(Thumb::from_bytes(&small_src), None);
        // Pseudo-random junk never panics.
        let mut x = 0x1234_5678u32;
        for len in 0..300 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = Thumb::from_bytes(&junk);
        }
    }

    #[test]
    fn small_images_are_not_upscaled() {
        let t = Thumb::from_image(&textured(60, 40));
        assert_eq!((t.width, t.height), (60, 40));
    }

    #[test]
    fn self_alignment_is_identity() {
        let img = textured(512, 384);
        let t = Thumb::from_image(&img);
        let al = align(&t, &t, &AlignParams::default()).expect("aligns");
        assert_eq!(al.transform, Dihedral::Identity);
        assert!((al.scale - 1.0).abs() < 0.02, "{al:?}");
        assert!(
            al.query_region.max_edge_distance(&Region::FULL) < 0.02,
            "{al:?}"
        );
        assert!(
            al.archive_region.max_edge_distance(&Region::FULL) < 0.02,
            "{al:?}"
        );
        assert!(al.confident, "{al:?}");
        assert!(al.score > 0.95 && al.ncc > 0.99, "{al:?}");
    }

    #[test]
    fn rotation_is_found() {
        let img = textured(400, 300);
        let archive = Thumb::from_image(&img);
        let query = Thumb::from_image_with_side(&img.rotate90(), QUERY_SIDE);
        let al = align(&query, &archive, &AlignParams::default()).expect("aligns");
        assert_eq!(al.transform, Dihedral::Rot90, "{al:?}");
        assert!(al.confident, "{al:?}");
        assert!((al.scale - 1.0).abs() < 0.03, "{al:?}");
    }

    #[test]
    fn flat_images_are_never_confident() {
        let flat =
            DynamicImage::ImageLuma8(image::GrayImage::from_pixel(200, 150, image::Luma([90])));
        let t = Thumb::from_image(&flat);
        assert!(align(&t, &t, &AlignParams::default()).is_none_or(|a| !a.confident));
    }

    #[test]
    fn dihedral_points_agree_with_image_crate() {
        // A single bright pixel, followed through each transform.
        let (w, h) = (5u32, 3u32);
        let mut img = image::GrayImage::new(w, h);
        img.put_pixel(1, 0, image::Luma([255]));
        let src = Plane::new(
            w as usize,
            h as usize,
            img.as_raw().iter().map(|&v| f32::from(v)).collect(),
        );
        let dynimg = DynamicImage::ImageLuma8(img);
        let expect = |d: Dihedral| -> DynamicImage {
            let m = if d.mirrored() {
                dynimg.fliph()
            } else {
                dynimg.clone()
            };
            match d.quarter_turns() {
                0 => m,
                1 => m.rotate90(),
                2 => m.rotate180(),
                _ => m.rotate270(),
            }
        };
        for d in Dihedral::ALL {
            let got = src.dihedral(d);
            let want = expect(d).to_luma8();
            assert_eq!((got.w as u32, got.h as u32), want.dimensions(), "{d:?}");
            let got_px: Vec<u8> = got.p.iter().map(|&v| v as u8).collect();
            assert_eq!(&got_px, want.as_raw(), "{d:?}");
            // Pixel centre (1.5/5, 0.5/3) maps to the bright pixel's centre.
            let (u, v) = d.map_point(1.5 / w as f32, 0.5 / h as f32);
            let idx = got_px.iter().position(|&v| v == 255).unwrap();
            let (px, py) = (idx % got.w, idx / got.w);
            assert!((u * got.w as f32 - (px as f32 + 0.5)).abs() < 1e-4, "{d:?}");
            assert!((v * got.h as f32 - (py as f32 + 0.5)).abs() < 1e-4, "{d:?}");
            let back = d.inverse().map_point(u, v);
            assert!((back.0 - 1.5 / 5.0).abs() < 1e-5 && (back.1 - 0.5 / 3.0).abs() < 1e-5);
        }
    }
}
