//! Local features of a picture: where its corners are and what each looks
//! like, so that a part of it can be recognised in another picture whatever
//! was cut away, added around it, scaled or turned.
//!
//! Whole-picture hashes recognise a picture as a whole; a crop of a quarter of
//! it, a screenshot of a post showing it, a copy turned 5° have hashes of their
//! own. What survives all of those is the picture's local detail. This module
//! owns that detail: ORB keypoints and descriptors (`orb`), their compact
//! stored form ([`Features::to_bytes`]), and the geometric check that two sets
//! of features show the same scene under one similarity transform
//! ([`geometry`]). It does no I/O and knows nothing of the archive or the
//! index; callers decide what to compare.

pub mod geometry;
mod orb;
pub mod vocabulary;

use image::{DynamicImage, GrayImage};

/// A stored feature set's format and recipe, as [`crate::hash::HashKind::stamp`]
/// is for hashes: bump it when the detector, the pattern or the stored layout
/// changes, so that an archive never compares descriptors made differently.
pub const STAMP: &str = "retrace-orb-1";

/// First bytes of a serialised [`Features`].
const MAGIC: [u8; 3] = *b"RFT";
/// Layout version of the serialised form.
const VERSION: u8 = 1;
/// Magic (3) + version (1) + count (2) + width, height (2 × u16).
const HEADER: usize = 10;
/// x, y (2 × u16, fractions of the side), angle (u8), level (u8), descriptor (32).
const RECORD: usize = 38;
/// Most features a stored set may hold; more in stored bytes means corruption,
/// and the cap bounds the allocation made on load.
pub const MAX_STORED: usize = 1024;

/// How features are computed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureParams {
    /// Most keypoints kept over all levels.
    pub max_features: usize,
    /// Pyramid levels (the picture itself is level 0).
    pub levels: u8,
    /// Ratio of one level's side to the next one's.
    pub scale_factor: f32,
    /// FAST contrast threshold, in grey levels.
    pub fast_threshold: u8,
    /// Lower threshold tried on a level with too few corners at the usual one.
    pub min_fast_threshold: u8,
    /// How the keypoints are shared among levels: level `l` gets a share in
    /// proportion to `scale_factor^(−l · level_weight)` (1: in proportion to
    /// its side, as ORB does; 0: the same on every level).
    pub level_weight: f32,
    /// Also describe each keypoint as it looks in the mirrored picture (for
    /// queries: mirrored copies circulate, and descriptors are not mirror-invariant).
    pub mirror: bool,
}

impl FeatureParams {
    /// What the archive keeps of each picture: few enough features that the
    /// index stays under a kilobyte a picture, spread over the whole frame.
    pub fn archive() -> FeatureParams {
        FeatureParams {
            max_features: 192,
            levels: 8,
            scale_factor: 1.2,
            fast_threshold: 20,
            min_fast_threshold: 5,
            level_weight: 1.0,
            mirror: false,
        }
    }

    /// What an incoming picture is described by: more features (they cost
    /// time, not index memory), mirrored descriptors too.
    pub fn query() -> FeatureParams {
        FeatureParams {
            max_features: 500,
            mirror: true,
            ..FeatureParams::archive()
        }
    }
}

/// One keypoint and its descriptor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feature {
    /// Position in pixels of the picture the features were computed on.
    pub x: f32,
    /// Position in pixels (y down).
    pub y: f32,
    /// Pyramid level (scale `scale_factor^level`).
    pub level: u8,
    /// Orientation in radians (x right, y down).
    pub angle: f32,
    /// Harris response on its level (ranking only; not stored).
    pub response: f32,
    /// 256 binary tests.
    pub descriptor: [u64; 4],
}

/// The descriptors of the same keypoints as the mirrored picture shows them.
///
/// For the picture mirrored left to right, keypoint `i` sits at
/// `(width − 1 − x, y)` with angle `π − angle`, and its descriptor is the
/// same tests sampled with the pattern's y negated at the original keypoint:
/// mirroring, turning by `π − θ` and mirroring back is turning by `θ` with y
/// flipped. So no second detection is needed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MirrorDescriptors(pub Vec<[u64; 4]>);

/// The features of one picture.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Features {
    /// Width of the picture they were computed on.
    pub width: u32,
    /// Height of the picture they were computed on.
    pub height: u32,
    /// Keypoints, level by level.
    pub items: Vec<Feature>,
    /// Mirrored descriptors, one per item, when asked for.
    pub mirrored: Option<MirrorDescriptors>,
}

impl Features {
    /// ORB features of a picture (its luma; alpha ignored).
    pub fn of_image(img: &DynamicImage, params: &FeatureParams) -> Features {
        let grey = img.to_luma8();
        let (w, h) = grey.dimensions();
        orb::extract(grey.as_raw(), w as usize, h as usize, params)
    }

    /// ORB features of a grey picture given as `width × height` bytes.
    pub fn of_luma(px: &[u8], width: u32, height: u32, params: &FeatureParams) -> Features {
        orb::extract(px, width as usize, height as usize, params)
    }

    /// The set an archive keeps of a picture whose query features these are:
    /// each level's share of `params.max_features`, strongest and spread over
    /// the frame, as extraction with `params` would choose them; a subset of
    /// these, so that a copy of an archived picture finds every stored feature
    /// among its own. Mirrored descriptors are dropped.
    pub fn for_archive(&self, params: &FeatureParams) -> Features {
        orb::subset(self, params)
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Serialise for the archive: `"RFT"`, version, count, width, height (u16
    /// LE each), then per feature x and y as fractions of the side (u16,
    /// 65535 = the far edge), angle (u8, 256 steps a turn), level (u8) and the
    /// 32 descriptor bytes. Mirrored descriptors are not stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.items.len().min(MAX_STORED);
        let mut out = Vec::with_capacity(HEADER + n * RECORD);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(n as u16).to_le_bytes());
        let side = |v: u32| v.min(u32::from(u16::MAX)) as u16;
        out.extend_from_slice(&side(self.width).to_le_bytes());
        out.extend_from_slice(&side(self.height).to_le_bytes());
        let frac = |v: f32, len: u32| -> u16 {
            let span = (len.max(2) - 1) as f32;
            ((v / span).clamp(0.0, 1.0) * 65535.0).round() as u16
        };
        for f in &self.items[..n] {
            out.extend_from_slice(&frac(f.x, self.width).to_le_bytes());
            out.extend_from_slice(&frac(f.y, self.height).to_le_bytes());
            let turn = f.angle.rem_euclid(std::f32::consts::TAU) / std::f32::consts::TAU;
            out.push(((turn * 256.0).round() as u32 % 256) as u8);
            out.push(f.level);
            for w in f.descriptor {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        out
    }

    /// Read a serialised set back; `None` for anything that is not one
    /// (wrong magic or version, a count over [`MAX_STORED`], a short buffer).
    pub fn from_bytes(b: &[u8]) -> Option<Features> {
        if b.len() < HEADER || b[..3] != MAGIC || b[3] != VERSION {
            return None;
        }
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let n = usize::from(u16_at(4));
        let (width, height) = (u32::from(u16_at(6)), u32::from(u16_at(8)));
        if n > MAX_STORED || b.len() != HEADER + n * RECORD {
            return None;
        }
        let mut items = Vec::with_capacity(n);
        for r in b[HEADER..].chunks_exact(RECORD) {
            let u = |i: usize| f32::from(u16::from_le_bytes([r[i], r[i + 1]])) / 65535.0;
            let mut descriptor = [0u64; 4];
            for (k, d) in descriptor.iter_mut().enumerate() {
                let mut w = [0u8; 8];
                w.copy_from_slice(&r[6 + 8 * k..14 + 8 * k]);
                *d = u64::from_le_bytes(w);
            }
            items.push(Feature {
                x: u(0) * (width.max(2) - 1) as f32,
                y: u(2) * (height.max(2) - 1) as f32,
                angle: f32::from(r[4]) / 256.0 * std::f32::consts::TAU,
                level: r[5],
                response: 0.0,
                descriptor,
            });
        }
        Some(Features {
            width,
            height,
            items,
            mirrored: None,
        })
    }
}

/// What the offline trainer of the test pattern and the vocabulary needs
/// (`examples/train_features.rs`); not part of the API.
#[doc(hidden)]
pub mod training {
    use super::{orb, FeatureParams, Features};

    /// Side of a steered patch.
    pub const PATCH_SIDE: usize = orb::PATCH_SIDE;

    /// Features of a grey picture and each keypoint's steered patch: the
    /// blurred level around it turned by its angle, so that test `(a, b)` of a
    /// pattern is `patch[a] < patch[b]` (points as `(v + 15) · 31 + u + 15`).
    pub fn features_and_patches(
        px: &[u8],
        width: u32,
        height: u32,
        params: &FeatureParams,
    ) -> (Features, Vec<[u8; PATCH_SIDE * PATCH_SIDE]>) {
        let mut patches = Vec::new();
        let f = orb::extract_with_patches(
            px,
            width as usize,
            height as usize,
            params,
            Some(&mut patches),
        );
        (f, patches)
    }

    /// The test pattern in use, as `(ax, ay, bx, by)` offsets.
    pub fn pattern() -> &'static [[i8; 4]; 256] {
        orb::pattern()
    }
}

/// Whether the CPU has the POPCNT instruction, which the hot loops over
/// descriptor distances are compiled for a second time with.
///
/// The portable x86-64 baseline has no population count instruction, and its
/// bit-twiddling replacement makes every descriptor distance several times
/// slower; descriptor distances are most of what quantising and verifying
/// cost. The loops are written once as `#[inline(always)]` bodies and wrapped
/// in a `#[target_feature(enable = "popcnt")]` function each, as
/// `index::mih` does.
#[inline]
pub(crate) fn has_popcnt() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("popcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Hamming distance of two descriptors.
#[inline(always)]
pub fn distance(a: &[u64; 4], b: &[u64; 4]) -> u32 {
    (a[0] ^ b[0]).count_ones()
        + (a[1] ^ b[1]).count_ones()
        + (a[2] ^ b[2]).count_ones()
        + (a[3] ^ b[3]).count_ones()
}

/// The features of a part of a picture described again at a larger scale:
/// the photo inside a screenshot of a post, a picture inside a wide frame.
///
/// In a phone screenshot the photo is about 220 pixels wide in the working
/// copy, so its detail sits at the archive's coarsest pyramid levels, where
/// the archive keeps the fewest features, and the screen's text takes most of
/// the query's own. Cut out and enlarged to the working side, the photo is
/// described at the scales the archive keeps most of (on the accuracy
/// benchmark's screenshots the true pair's agreeing features rise from a
/// median of 10 to 131: `examples/features_eval.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// Left edge of the part in the picture's pixels.
    pub x: f32,
    /// Top edge of the part in the picture's pixels.
    pub y: f32,
    /// View pixels per picture pixel (> 1).
    pub scale: f32,
    /// The picture's own size, in pixels.
    pub picture: (u32, u32),
    /// The features, in the view's pixels.
    pub features: Features,
}

impl View {
    /// The part `(x, y, width, height)` (the picture's pixels) of `img` (grey),
    /// enlarged so that its longer side is `side`, and its features; `None`
    /// when the part is empty, outside the picture, or would be enlarged by
    /// less than `min_scale` (then the picture's own features already see it
    /// at that scale).
    pub fn of_part(
        img: &GrayImage,
        (x, y, w, h): (u32, u32, u32, u32),
        side: u32,
        min_scale: f32,
        params: &FeatureParams,
    ) -> Option<View> {
        let (pw, ph) = (img.width(), img.height());
        if w == 0 || h == 0 || x >= pw || y >= ph || w > pw - x || h > ph - y {
            return None;
        }
        let scale = side as f32 / w.max(h) as f32;
        if scale < min_scale.max(1.0) {
            return None;
        }
        // Bounded by `side`: the view is at most side × side.
        let (vw, vh) = (
            ((w as f32 * scale).round() as u32).clamp(1, side),
            ((h as f32 * scale).round() as u32).clamp(1, side),
        );
        let part = image::imageops::crop_imm(img, x, y, w, h).to_image();
        let big = image::imageops::resize(&part, vw, vh, image::imageops::FilterType::Triangle);
        Some(View {
            x: x as f32,
            y: y as f32,
            scale: vw as f32 / w as f32,
            picture: (pw, ph),
            features: Features::of_luma(big.as_raw(), vw, vh, params),
        })
    }

    /// A point of the view → the picture's pixels.
    pub fn to_picture(&self, x: f32, y: f32) -> (f32, f32) {
        (
            self.x + (x + 0.5) / self.scale - 0.5,
            self.y + (y + 0.5) / self.scale - 0.5,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> DynamicImage {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples")
            .join(name);
        crate::decode::shrink(&image::open(p).unwrap(), crate::decode::WORKING_SIDE)
    }

    #[test]
    fn features_round_trip_through_their_stored_form() {
        let f = Features::of_image(&sample("archive/Storm.jpg"), &FeatureParams::archive());
        assert!(f.len() > 150, "{}", f.len());
        let back = Features::from_bytes(&f.to_bytes()).unwrap();
        assert_eq!(back.len(), f.len());
        for (a, b) in f.items.iter().zip(&back.items) {
            assert_eq!(a.descriptor, b.descriptor);
            assert_eq!(a.level, b.level);
            assert!((a.x - b.x).abs() < 0.01 && (a.y - b.y).abs() < 0.01);
            let da = (a.angle - b.angle).rem_euclid(std::f32::consts::TAU);
            assert!(da.min(std::f32::consts::TAU - da) <= std::f32::consts::TAU / 512.0 + 1e-4);
        }
        // Anything else is refused, never a panic.
        let bytes = f.to_bytes();
        for cut in [0, 3, 9, 10, 11, bytes.len() - 1] {
            assert!(Features::from_bytes(&bytes[..cut]).is_none());
        }
        let mut bad = bytes.clone();
        bad[4] = 0xff;
        bad[5] = 0xff;
        assert!(Features::from_bytes(&bad).is_none());
    }

    /// A view is the part enlarged to the side asked for, never more, and
    /// its points map back onto the part (its corners onto the part's).
    #[test]
    fn a_view_is_the_part_enlarged_and_maps_back_onto_it() {
        let img = sample("archive/grace_hopper.jpg").to_luma8();
        let (w, h) = (img.width(), img.height());
        let part = (w / 4, h / 5, w / 2, h / 3);
        let v = View::of_part(&img, part, 512, 1.5, &FeatureParams::query()).expect("a view");
        assert_eq!(v.features.width.max(v.features.height), 512);
        assert!(v.features.len() > 100, "{}", v.features.len());
        // Corner pixel centres map onto the part's corner pixel centres.
        let (x0, y0) = v.to_picture(-0.5, -0.5);
        assert!((x0 + 0.5 - part.0 as f32).abs() < 1e-3 && (y0 + 0.5 - part.1 as f32).abs() < 1e-3);
        let (vw, vh) = (v.features.width as f32, v.features.height as f32);
        let (x1, y1) = v.to_picture(vw - 0.5, vh - 0.5);
        assert!((x1 + 0.5 - (part.0 + part.2) as f32).abs() < 0.6, "{x1}");
        assert!((y1 + 0.5 - (part.1 + part.3) as f32).abs() < 0.6, "{y1}");
        // Every feature of the view lies inside the part.
        for f in &v.features.items {
            let (x, y) = v.to_picture(f.x, f.y);
            assert!(
                x >= part.0 as f32 - 1.0 && x <= (part.0 + part.2) as f32,
                "{x}"
            );
            assert!(
                y >= part.1 as f32 - 1.0 && y <= (part.1 + part.3) as f32,
                "{y}"
            );
        }
        // Too little to enlarge, empty or outside the picture: no view.
        let p = FeatureParams::query();
        assert!(View::of_part(&img, (0, 0, w, h), 512, 1.5, &p).is_none());
        assert!(View::of_part(&img, (0, 0, 0, 10), 512, 1.5, &p).is_none());
        assert!(View::of_part(&img, (w, 0, 10, 10), 512, 1.5, &p).is_none());
        assert!(View::of_part(&img, (w - 5, 0, 10, 10), 512, 1.5, &p).is_none());
        assert!(View::of_part(&img, (u32::MAX, u32::MAX, u32::MAX, 1), 512, 1.5, &p).is_none());
    }

    #[test]
    fn features_are_deterministic_and_tiny_pictures_have_none() {
        let img = sample("archive/Wood.jpg");
        let a = Features::of_image(&img, &FeatureParams::query());
        let b = Features::of_image(&img, &FeatureParams::query());
        assert_eq!(a, b);
        assert_eq!(a.mirrored.as_ref().map(|m| m.0.len()), Some(a.len()));
        for side in [0u32, 1, 5, 20, 33] {
            let tiny = DynamicImage::new_luma8(side, side);
            assert!(Features::of_image(&tiny, &FeatureParams::query()).is_empty());
        }
    }
}
