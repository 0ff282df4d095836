//! The geometry every stage speaks: the eight turns and mirrors of a picture
//! ([`Dihedral`]) and a rectangle as fractions of a picture ([`Rect`]).
//!
//! It owns these two types and the arithmetic on them (where a point or a
//! rectangle lands under a turn, which pixels a rectangle covers) and nothing
//! else: no search, no hashing, no I/O. Hashing (`hash::variants`, PDQ's own
//! dihedral order in `hash::pdq`), the aligner (`matching::align`), matching
//! and the report all use these, so that a transform or a rectangle is never
//! converted from one stage's type to another's. (`features::geometry` is
//! something else: the similarity fitted to local features.)

use image::{imageops, DynamicImage, ImageBuffer, Pixel};
use serde::{Deserialize, Serialize};

/// One of the eight symmetries of a rectangle (rotations by multiples of 90° and
/// mirror images). Rotations turn **clockwise** (as `image::imageops::rotate90`);
/// `Mirror` swaps left and right; `MirrorRotN` mirrors first, then rotates N°
/// clockwise. Said of a copy, it is what was done to the original to give the
/// copy.
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
    /// Mirrored left-right, then rotated 90° clockwise (the picture flipped
    /// about its anti-diagonal).
    MirrorRot90,
    /// Mirrored left-right, then rotated 180° (an up-down flip).
    MirrorRot180,
    /// Mirrored left-right, then rotated 270° clockwise (the picture
    /// transposed about its main diagonal).
    MirrorRot270,
}

impl Dihedral {
    /// All eight, identity first. The order the query's turned views are
    /// hashed in and the aligner searches them; PDQ's reference has its own
    /// (`hash::pdq::DIHEDRAL_ORDER`).
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

    /// Stable lower-case name for reports (`matches[].transform`): `"identity"`,
    /// `"mirror"`, `"rot90"`, `"rot180"`, `"rot270"`, `"mirror_rot90"`,
    /// `"mirror_rot180"`, `"mirror_rot270"`.
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

    /// The transform that mirrors (or not) and then turns `quarter_turns`
    /// quarters clockwise (taken modulo 4).
    pub fn from_parts(mirrored: bool, quarter_turns: u8) -> Dihedral {
        match (mirrored, quarter_turns % 4) {
            (false, 0) => Dihedral::Identity,
            (false, 1) => Dihedral::Rot90,
            (false, 2) => Dihedral::Rot180,
            (false, _) => Dihedral::Rot270,
            (true, 0) => Dihedral::Mirror,
            (true, 1) => Dihedral::MirrorRot90,
            (true, 2) => Dihedral::MirrorRot180,
            (true, _) => Dihedral::MirrorRot270,
        }
    }

    /// Whether width and height trade places.
    pub fn swaps_axes(self) -> bool {
        self.quarter_turns() % 2 == 1
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

    /// Clockwise quarter turns made after the mirror, 0..=3.
    pub fn quarter_turns(self) -> u8 {
        match self {
            Dihedral::Identity | Dihedral::Mirror => 0,
            Dihedral::Rot90 | Dihedral::MirrorRot90 => 1,
            Dihedral::Rot180 | Dihedral::MirrorRot180 => 2,
            Dihedral::Rot270 | Dihedral::MirrorRot270 => 3,
        }
    }

    /// Whether it mirrors left and right (before turning).
    pub fn mirrored(self) -> bool {
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

    /// Where a rectangle (fractions of the source frame) lands in the
    /// transformed frame.
    pub fn map_rect(self, r: Rect) -> Rect {
        let (u0, v0) = self.map_point(r.x, r.y);
        let (u1, v1) = self.map_point(r.x + r.w, r.y + r.h);
        Rect {
            x: u0.min(u1),
            y: v0.min(v1),
            w: (u1 - u0).abs(),
            h: (v1 - v0).abs(),
        }
    }

    /// The transform applied to a picture's pixels.
    pub fn apply(self, img: &DynamicImage) -> DynamicImage {
        let m = if self.mirrored() {
            img.fliph()
        } else {
            img.clone()
        };
        match self.quarter_turns() {
            0 => m,
            1 => m.rotate90(),
            2 => m.rotate180(),
            _ => m.rotate270(),
        }
    }

    /// [`Dihedral::undo`] on one plane of pixels (the grey and float planes
    /// the hashes are computed from): the same moves, without a
    /// `DynamicImage` around it.
    pub fn undo_plane<P: Pixel + 'static>(
        self,
        img: &ImageBuffer<P, Vec<P::Subpixel>>,
    ) -> ImageBuffer<P, Vec<P::Subpixel>> {
        let turned = match self.quarter_turns() {
            0 => img.clone(),
            1 => imageops::rotate270(img),
            2 => imageops::rotate180(img),
            _ => imageops::rotate90(img),
        };
        if self.mirrored() {
            imageops::flip_horizontal(&turned)
        } else {
            turned
        }
    }

    /// The transform undone on a picture's pixels: `d.undo(&d.apply(x)) == x`.
    pub fn undo(self, img: &DynamicImage) -> DynamicImage {
        let turned = match self.quarter_turns() {
            0 => img.clone(),
            1 => img.rotate270(),
            2 => img.rotate180(),
            _ => img.rotate90(),
        };
        if self.mirrored() {
            turned.fliph()
        } else {
            turned
        }
    }
}

// The report's rectangle (`matches[].region.query` and `.archive` in
// `retrace.report/1`), the aligner's regions and the hashed views' windows
// are all this one type. The doc comments below are the schema's
// descriptions: change them and the committed schema changes.
/// Part of a picture, as fractions of its width and height.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Rect {
    /// Left edge, 0..1.
    pub x: f32,
    /// Top edge, 0..1.
    pub y: f32,
    /// Width, 0..1.
    pub w: f32,
    /// Height, 0..1.
    pub h: f32,
}

impl Rect {
    /// The whole frame.
    pub const FULL: Rect = Rect {
        x: 0.0,
        y: 0.0,
        w: 1.0,
        h: 1.0,
    };

    /// The rectangle's pixels in a `w` × `h` picture: left, top, width,
    /// height, rounded to the nearest pixel and kept inside the picture
    /// (at least one pixel each way).
    pub fn pixels(self, w: u32, h: u32) -> (u32, u32, u32, u32) {
        let x0 = (self.x * w as f32).round() as u32;
        let y0 = (self.y * h as f32).round() as u32;
        let cw = ((self.w * w as f32).round() as u32).clamp(1, w.saturating_sub(x0).max(1));
        let ch = ((self.h * h as f32).round() as u32).clamp(1, h.saturating_sub(y0).max(1));
        (
            x0.min(w.saturating_sub(1)),
            y0.min(h.saturating_sub(1)),
            cw,
            ch,
        )
    }

    /// Largest distance between corresponding edges of two rectangles, as a
    /// fraction of the frame; handy for checking a rectangle against a known
    /// truth.
    pub fn max_edge_distance(&self, other: &Rect) -> f32 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn textured(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            let v = ((x * 7 + y * 13) % 97 + (x * y) % 61) as u8;
            Rgb([v, v.wrapping_mul(3), 255 - v])
        }))
    }

    /// Each transform moves pixels as its name says, written out with
    /// `image`'s own operations (the names the report prints are these).
    #[test]
    fn each_transform_moves_pixels_as_named() {
        let img = textured(7, 5);
        let named = [
            (Dihedral::Identity, img.clone()),
            (Dihedral::Mirror, img.fliph()),
            (Dihedral::Rot90, img.rotate90()),
            (Dihedral::Rot180, img.rotate180()),
            (Dihedral::Rot270, img.rotate270()),
            (Dihedral::MirrorRot90, img.fliph().rotate90()),
            (Dihedral::MirrorRot180, img.flipv()),
            (Dihedral::MirrorRot270, img.fliph().rotate270()),
        ];
        for (d, want) in named {
            assert_eq!(d.apply(&img), want, "{}", d.as_str());
        }
        // The two diagonal flips, pixel by pixel.
        let rgb = img.to_rgb8();
        let (w, h) = rgb.dimensions();
        let transposed = Dihedral::MirrorRot270.apply(&img).to_rgb8();
        let anti = Dihedral::MirrorRot90.apply(&img).to_rgb8();
        for y in 0..h {
            for x in 0..w {
                assert_eq!(transposed.get_pixel(y, x), rgb.get_pixel(x, y));
                assert_eq!(anti.get_pixel(h - 1 - y, w - 1 - x), rgb.get_pixel(x, y));
            }
        }
    }

    #[test]
    fn undo_and_inverse_undo_apply() {
        let img = textured(7, 5);
        for d in Dihedral::ALL {
            let turned = d.apply(&img);
            assert_eq!(d.undo(&turned), img, "{}", d.as_str());
            assert_eq!(d.inverse().apply(&turned), img, "{}", d.as_str());
            assert_eq!(d.swaps_axes(), turned.width() == 5, "{}", d.as_str());
            assert_eq!(
                Dihedral::from_parts(d.mirrored(), d.quarter_turns()),
                d,
                "{}",
                d.as_str()
            );
        }
        let names: std::collections::BTreeSet<_> = Dihedral::ALL.map(Dihedral::as_str).into();
        assert_eq!(names.len(), 8);
    }

    /// The pixel centre a transform moves a bright pixel to is where
    /// `map_point` says, and `map_rect` of a one-pixel rectangle is that
    /// pixel's rectangle.
    #[test]
    fn points_and_rects_follow_the_pixels() {
        let (w, h) = (5u32, 3u32);
        let mut img = image::GrayImage::new(w, h);
        img.put_pixel(1, 0, image::Luma([255]));
        let img = DynamicImage::ImageLuma8(img);
        for d in Dihedral::ALL {
            let got = d.apply(&img).to_luma8();
            let idx = got.as_raw().iter().position(|&v| v == 255).unwrap() as u32;
            let (px, py) = (idx % got.width(), idx / got.width());
            let (gw, gh) = (got.width() as f32, got.height() as f32);
            let (u, v) = d.map_point(1.5 / w as f32, 0.5 / h as f32);
            assert!((u * gw - (px as f32 + 0.5)).abs() < 1e-4, "{d:?}");
            assert!((v * gh - (py as f32 + 0.5)).abs() < 1e-4, "{d:?}");
            let r = d.map_rect(Rect {
                x: 1.0 / w as f32,
                y: 0.0,
                w: 1.0 / w as f32,
                h: 1.0 / h as f32,
            });
            assert_eq!(r.pixels(got.width(), got.height()), (px, py, 1, 1), "{d:?}");
        }
    }

    #[test]
    fn pixels_stay_inside_the_picture() {
        assert_eq!(Rect::FULL.pixels(10, 20), (0, 0, 10, 20));
        let r = Rect {
            x: 0.95,
            y: 1.0,
            w: 0.5,
            h: 0.0,
        };
        assert_eq!(r.pixels(10, 20), (9, 19, 1, 1));
        assert_eq!(Rect::FULL.max_edge_distance(&r), 1.0);
    }
}
