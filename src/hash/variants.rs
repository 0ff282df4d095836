//! Which pictures get hashed: for an incoming picture, its dihedral transforms
//! and the picture inside borders or inside a screenshot; for an archived one,
//! the whole frame and a few sub-windows, so that crops find their original.
//! Pure image arithmetic; knows nothing of the archive or of thresholds.

use image::{imageops, DynamicImage, GenericImageView, GrayImage, ImageBuffer, Luma};

use super::{compute, compute_planes, grids, hashes_of_parts, pdq, Hashes};
use crate::decode::shrink;
use crate::geometry::{Dihedral, Rect};

/// PDQ's luma plane (see [`pdq::luma_from_image`]).
pub(crate) type LumaF32 = ImageBuffer<Luma<f32>, Vec<f32>>;

/// A picture's two grey planes (see [`compute_planes`]), cut and turned together.
struct Planes {
    gray: GrayImage,
    luma: LumaF32,
}

impl Planes {
    fn of(img: &DynamicImage) -> Planes {
        let (w, h) = img.dimensions();
        let luma =
            LumaF32::from_raw(w, h, pdq::luma_from_image(img)).expect("one luma value per pixel");
        Planes {
            gray: img.to_luma8(),
            luma,
        }
    }

    fn crop(&self, window: Rect) -> Planes {
        let (x, y, w, h) = window.pixels(self.gray.width(), self.gray.height());
        Planes {
            gray: imageops::crop_imm(&self.gray, x, y, w, h).to_image(),
            luma: imageops::crop_imm(&self.luma, x, y, w, h).to_image(),
        }
    }

    /// The hashes of the whole picture under every transform but the
    /// identity, in [`Dihedral::ALL`] order. pHash and dHash read only a
    /// small grid each, so the grey picture is resized to those grids once
    /// (dHash's both ways round, for the transforms that swap the axes) and
    /// only the grids are turned. That is not bit for bit what resizing each
    /// turned picture gives (the filter's sums round in another order; the
    /// tests bound it). PDQ is hashed from each turned luma plane, exactly as
    /// before: its eight hashes from one DCT ([`pdq::pdq_dihedral_from_luma`])
    /// were tried and moved a smooth photo's mirror image by 30 bits, since
    /// its blur grid is not symmetric.
    fn turned_hashes(&self) -> Vec<Hashes> {
        let g = &self.gray;
        let p16 = grids::phash(g);
        let d_wide = grids::dhash(g, false);
        let d_tall = grids::dhash(g, true);
        Dihedral::ALL[1..]
            .iter()
            .map(|&t| {
                let d = if t.swaps_axes() { &d_tall } else { &d_wide };
                let luma = t.undo_plane(&self.luma);
                let pdq = pdq::pdq_from_luma(
                    luma.as_raw(),
                    luma.width() as usize,
                    luma.height() as usize,
                );
                hashes_of_parts(&t.undo_plane(&p16), &t.undo_plane(d), pdq)
            })
            .collect()
    }

    fn hashes(&self, t: Dihedral) -> Hashes {
        if t == Dihedral::Identity {
            return compute_planes(&self.gray, &self.luma);
        }
        compute_planes(&t.undo_plane(&self.gray), &t.undo_plane(&self.luma))
    }
}

const fn win(x: f32, y: f32, w: f32, h: f32) -> Rect {
    Rect { x, y, w, h }
}

/// Sub-windows hashed for every archived picture, named as stored.
///
/// They are what lets a crop find its original in an archive of millions: a
/// cropped copy's whole-frame hashes are far from the original's whole frame,
/// but close to a stored window at nearly the same place and scale, and that
/// makes the original the query's nearest neighbour and a candidate for the
/// aligner. Perceptual hashes tolerate a shift of a few percent of the side, so
/// the windows are placed to leave no common crop further than that from one:
/// - a crop keeping about half the area (side ≈ 0.7) lies within 7.5% of the
///   side of one of nine 0.7 windows (corners, edge middles, centre);
/// - a crop keeping three quarters (side ≈ 0.87), usually pushed towards one
///   corner to cut away an edge, lies close to one of four 0.87 corner windows;
/// - 0.8 centred covers "10% off every side", and `top85` the picture above a
///   caption bar drawn over its bottom.
///
/// Each window costs three stored hashes per archived picture (what that costs in
/// memory: docs/archive.md and docs/performance.md).
pub const ARCHIVE_WINDOWS: &[(&str, Rect)] = &[
    ("tl87", win(0.0, 0.0, 0.87, 0.87)),
    ("tr87", win(0.13, 0.0, 0.87, 0.87)),
    ("bl87", win(0.0, 0.13, 0.87, 0.87)),
    ("br87", win(0.13, 0.13, 0.87, 0.87)),
    ("t70", win(0.15, 0.0, 0.7, 0.7)),
    ("b70", win(0.15, 0.3, 0.7, 0.7)),
    ("l70", win(0.0, 0.15, 0.7, 0.7)),
    ("r70", win(0.3, 0.15, 0.7, 0.7)),
    (
        "c80",
        Rect {
            x: 0.1,
            y: 0.1,
            w: 0.8,
            h: 0.8,
        },
    ),
    (
        "c70",
        Rect {
            x: 0.15,
            y: 0.15,
            w: 0.7,
            h: 0.7,
        },
    ),
    (
        "tl70",
        Rect {
            x: 0.0,
            y: 0.0,
            w: 0.7,
            h: 0.7,
        },
    ),
    (
        "tr70",
        Rect {
            x: 0.3,
            y: 0.0,
            w: 0.7,
            h: 0.7,
        },
    ),
    (
        "bl70",
        Rect {
            x: 0.0,
            y: 0.3,
            w: 0.7,
            h: 0.7,
        },
    ),
    (
        "br70",
        Rect {
            x: 0.3,
            y: 0.3,
            w: 0.7,
            h: 0.7,
        },
    ),
    (
        "top85",
        Rect {
            x: 0.0,
            y: 0.0,
            w: 1.0,
            h: 0.85,
        },
    ),
];

/// Side of the copy the variants are hashed from: every hash downsamples to
/// 64 px or less, so 256 px loses nothing and makes a dozen variants cheap.
const VARIANT_SIDE: u32 = 256;

/// Hashes of an archived picture: the whole frame and [`ARCHIVE_WINDOWS`].
pub fn archive_hashes(img: &DynamicImage) -> Vec<(String, Hashes)> {
    let mut out = vec![("full".to_string(), compute(img))];
    let small = Planes::of(&shrink(img, VARIANT_SIDE));
    for (name, window) in ARCHIVE_WINDOWS {
        out.push((
            name.to_string(),
            small.crop(*window).hashes(Dihedral::Identity),
        ));
    }
    out
}

/// One hashed view of an incoming picture.
#[derive(Debug, Clone)]
pub struct QueryVariant {
    /// The transform this view undoes (what was done to the original).
    pub transform: Dihedral,
    /// `full`, `trimmed` (uniform borders removed), `content` (the picture
    /// found inside a screenshot or a frame) or `top85` (above a caption bar).
    pub region: &'static str,
    /// Where the view sits in the incoming picture.
    pub window: Rect,
    /// Its hashes.
    pub hashes: Hashes,
}

/// Hashes of an incoming picture's views: the full frame under all eight
/// transforms, and the trimmed and content views (identity and mirror).
pub fn query_variants(img: &DynamicImage, full: &Hashes) -> Vec<QueryVariant> {
    let small = shrink(img, VARIANT_SIDE);
    let planes = Planes::of(&small);
    let mut out = vec![QueryVariant {
        transform: Dihedral::Identity,
        region: "full",
        window: Rect::FULL,
        hashes: full.clone(),
    }];
    for (t, hashes) in Dihedral::ALL[1..].iter().zip(planes.turned_hashes()) {
        out.push(QueryVariant {
            transform: *t,
            region: "full",
            window: Rect::FULL,
            hashes,
        });
    }
    let gray = &planes.gray;
    let mut views = Vec::new();
    if let Some(w) = trim_window(gray) {
        views.push(("trimmed", w));
    }
    if let Some(w) = content_window(gray) {
        if views.iter().all(|(_, v)| !close(*v, w)) {
            views.push(("content", w));
        }
    }
    // A caption bar drawn over the bottom of the picture: the part above it is
    // compared with the archived pictures' own `top85` windows.
    views.push((
        "top85",
        Rect {
            x: 0.0,
            y: 0.0,
            w: 1.0,
            h: 0.85,
        },
    ));
    for (region, window) in views {
        let part = planes.crop(window);
        for t in [Dihedral::Identity, Dihedral::Mirror] {
            out.push(QueryVariant {
                transform: t,
                region,
                window,
                hashes: part.hashes(t),
            });
        }
    }
    out
}

fn close(a: Rect, b: Rect) -> bool {
    (a.x - b.x).abs() < 0.02
        && (a.y - b.y).abs() < 0.02
        && (a.w - b.w).abs() < 0.02
        && (a.h - b.h).abs() < 0.02
}

/// Share of a line's pixels that must be within [`BORDER_TOLERANCE`] of the
/// border colour for the line to count as border. Not 100%: JPEG ringing and a
/// stray watermark pixel must not stop the trim.
const BORDER_SHARE: f32 = 0.97;
/// Grey-level tolerance for "same colour as the border" (JPEG noise on flat areas).
const BORDER_TOLERANCE: i16 = 14;

/// The window left after removing uniform borders (letterbox, pillarbox, frames);
/// `None` when there is nothing to trim or the trim would leave too little.
///
/// Borders nest: a channel puts a thin white frame around the photo and a
/// platform then letterboxes the result in black. One pass stops at the first
/// colour change, so trimming repeats (a few times at most) on what is left.
pub fn trim_window(gray: &GrayImage) -> Option<Rect> {
    const PASSES: usize = 3;
    let mut acc: Option<(u32, u32, u32, u32)> = None;
    for _ in 0..PASSES {
        let (x0, y0, w0, h0) = acc.unwrap_or((0, 0, gray.width(), gray.height()));
        let view = image::imageops::crop_imm(gray, x0, y0, w0, h0).to_image();
        let Some((l, t, r, b)) = trim_once(&view) else {
            break;
        };
        acc = Some((x0 + l, y0 + t, r - l, b - t));
    }
    let (x, y, w, h) = acc?;
    let (fw, fh) = (gray.width() as f32, gray.height() as f32);
    Some(Rect {
        x: x as f32 / fw,
        y: y as f32 / fh,
        w: w as f32 / fw,
        h: h as f32 / fh,
    })
}

/// One trimming pass: (left, top, right, bottom) in pixels of what remains.
fn trim_once(gray: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let (w, h) = gray.dimensions();
    if w < 8 || h < 8 {
        return None;
    }
    let px = |x: u32, y: u32| i16::from(gray.get_pixel(x, y).0[0]);
    let row_is = |y: u32, c: i16| {
        let same = (0..w)
            .filter(|&x| (px(x, y) - c).abs() <= BORDER_TOLERANCE)
            .count();
        same as f32 >= BORDER_SHARE * w as f32
    };
    let col_is = |x: u32, y0: u32, y1: u32, c: i16| {
        let n = y1 - y0;
        let same = (y0..y1)
            .filter(|&y| (px(x, y) - c).abs() <= BORDER_TOLERANCE)
            .count();
        same as f32 >= BORDER_SHARE * n as f32
    };
    let mut top = 0;
    let c = px(w / 2, 0);
    while top < h / 2 && row_is(top, c) {
        top += 1;
    }
    let mut bottom = h;
    let c = px(w / 2, h - 1);
    while bottom > top + h / 4 && row_is(bottom - 1, c) {
        bottom -= 1;
    }
    if bottom <= top + 4 {
        return None;
    }
    let mut left = 0;
    let c = px(0, (top + bottom) / 2);
    while left < w / 2 && col_is(left, top, bottom, c) {
        left += 1;
    }
    let mut right = w;
    let c = px(w - 1, (top + bottom) / 2);
    while right > left + w / 4 && col_is(right - 1, top, bottom, c) {
        right -= 1;
    }
    // Two pixels of margin on a 256 px copy is under 1%: not worth a variant.
    let trimmed = top + (h - bottom) + left + (w - right);
    if trimmed <= 2 || right <= left + 4 {
        return None;
    }
    Some((left, top, right, bottom))
}

/// Grey-level distance from the page background beyond which a pixel is "content".
const CONTENT_TOLERANCE: i16 = 16;
/// Share of a line that must be content for the line to belong to a picture:
/// a photo fills its rows (less rounded corners and margins), text lines do not.
const CONTENT_SHARE: f32 = 0.6;

/// The picture inside a page: in a screenshot of a post, the photo is the
/// tallest run of rows that are mostly not page background (text lines are
/// mostly background; a smooth sky is still not the page's white). `None` when
/// the block is (nearly) the whole frame or too small to hash.
pub fn content_window(gray: &GrayImage) -> Option<Rect> {
    let (w, h) = gray.dimensions();
    if w < 16 || h < 16 {
        return None;
    }
    let p = |x: u32, y: u32| i16::from(gray.get_pixel(x, y).0[0]);
    // The page colour is the most common value along the frame's edge.
    let mut hist = [0u32; 256];
    for x in 0..w {
        hist[p(x, 0) as usize] += 1;
        hist[p(x, h - 1) as usize] += 1;
    }
    for y in 0..h {
        hist[p(0, y) as usize] += 1;
        hist[p(w - 1, y) as usize] += 1;
    }
    let bg = (0..256).max_by_key(|&i| hist[i]).unwrap_or(0) as i16;
    // Only a page or a frame has a uniform edge; a photo's edge varies, and
    // then there is no "picture inside" to look for.
    let edge = 2 * (w + h);
    let near_bg: u32 = (0..256)
        .filter(|&i| (i as i16 - bg).abs() <= CONTENT_TOLERANCE)
        .map(|i| hist[i])
        .sum();
    if (near_bg as f32) < 0.5 * edge as f32 {
        return None;
    }
    let is_content = |x: u32, y: u32| (p(x, y) - bg).abs() > CONTENT_TOLERANCE;
    let rows: Vec<bool> = (0..h)
        .map(|y| (0..w).filter(|&x| is_content(x, y)).count() as f32 >= CONTENT_SHARE * w as f32)
        .collect();
    let (y0, y1) = longest_run(&rows, 2)?;
    if y1 - y0 < h / 8 {
        return None;
    }
    let cols: Vec<bool> = (0..w)
        .map(|x| {
            (y0..y1).filter(|&y| is_content(x, y)).count() as f32
                >= CONTENT_SHARE * (y1 - y0) as f32
        })
        .collect();
    let (x0, x1) = longest_run(&cols, 2)?;
    if x1 - x0 < w / 8 {
        return None;
    }
    let win = Rect {
        x: x0 as f32 / w as f32,
        y: y0 as f32 / h as f32,
        w: (x1 - x0) as f32 / w as f32,
        h: (y1 - y0) as f32 / h as f32,
    };
    (win.w * win.h < 0.9).then_some(win)
}

/// Longest run of `true`, bridging gaps of up to `gap` `false` values.
fn longest_run(v: &[bool], gap: usize) -> Option<(u32, u32)> {
    let mut best: Option<(usize, usize)> = None;
    let mut start: Option<usize> = None;
    let mut last_true = 0usize;
    for (i, &b) in v.iter().enumerate() {
        if b {
            if start.is_none() {
                start = Some(i);
            }
            last_true = i;
        } else if let Some(s) = start {
            if i - last_true > gap {
                if best.is_none_or(|(a, b)| last_true + 1 - s > b - a) {
                    best = Some((s, last_true + 1));
                }
                start = None;
            }
        }
    }
    if let Some(s) = start {
        if best.is_none_or(|(a, b)| last_true + 1 - s > b - a) {
            best = Some((s, last_true + 1));
        }
    }
    best.map(|(a, b)| (a as u32, b as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashKind;
    use image::{Luma, Rgb, RgbImage};

    fn textured(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let v = ((x * 7 + y * 13) % 97 + (x * y) % 61) as u8;
            Rgb([v, v.wrapping_mul(3), 255 - v])
        })
    }

    /// The views are cut from grey planes made once; hashing each view's
    /// colour pixels instead (what [`compute`] does, and what these functions
    /// did before) gives the same hashes, bit for bit, on real photos of every
    /// pixel layout the samples hold (RGB JPEGs, RGBA and RGB PNGs, greys),
    /// except for the pHash and dHash of the turned whole frames, which are
    /// resampled before they are turned: those stay within the bounds
    /// `tests/scaled_decode.rs` holds a resampling change to (6 bits each), far
    /// inside the matching thresholds.
    #[test]
    fn views_cut_from_the_planes_hash_as_the_colour_views_do() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let mut seen = 0;
        let mut worst = [0u32; 3];
        let mut turned = 0;
        for dir in ["archive", "incoming", "not-in-archive"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                let p = e.unwrap().path();
                let Ok(photo) = image::open(&p) else {
                    continue;
                };
                let img = shrink(&photo, crate::decode::WORKING_SIDE);
                for img in [img.clone(), DynamicImage::ImageLuma8(img.to_luma8())] {
                    let full = compute(&img);
                    let small = shrink(&img, VARIANT_SIDE);
                    let got = query_variants(&img, &full);
                    for v in &got[1..] {
                        let want = compute(&v.transform.undo(&crop(v.window, &small)));
                        let what = format!("{} {} {:?}", p.display(), v.region, v.transform);
                        if v.region != "full" {
                            assert_eq!(v.hashes, want, "{what}");
                            continue;
                        }
                        turned += 1;
                        assert_eq!(
                            (v.hashes.pdq, v.hashes.pdq_quality),
                            (want.pdq, want.pdq_quality),
                            "{what}"
                        );
                        let ds = [HashKind::Pdq, HashKind::Phash, HashKind::Dhash].map(|k| {
                            let (a, b) = (v.hashes.get(k).unwrap(), want.get(k).unwrap());
                            a.distance(&b).unwrap()
                        });
                        for (w, d) in worst.iter_mut().zip(ds) {
                            *w = (*w).max(d);
                        }
                        assert!(ds[0] <= 20 && ds[1] <= 6 && ds[2] <= 6, "{what}: {ds:?}");
                    }
                    let archived = archive_hashes(&img);
                    for ((name, h), (_, window)) in archived[1..].iter().zip(ARCHIVE_WINDOWS) {
                        assert_eq!(
                            h,
                            &compute(&crop(*window, &small)),
                            "{} {name}",
                            p.display()
                        );
                    }
                    seen += 1;
                }
            }
        }
        assert!(seen >= 40, "only {seen} pictures");
        eprintln!("{turned} turned whole frames; largest PDQ, pHash, dHash distances {worst:?}");
    }

    /// Resizing to the grids first is what image_hasher itself does: on the
    /// untouched picture the hashes are identical to [`compute`]'s.
    #[test]
    fn the_hash_grids_are_image_hashers_own() {
        use super::super::{DHASH_GRID, PHASH_GRID};
        use image::imageops::FilterType::Lanczos3;
        for name in [
            "archive/Storm.jpg",
            "archive/china.jpg",
            "not-in-archive/coffee.png",
        ] {
            let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("samples")
                .join(name);
            let img = shrink(&image::open(&p).unwrap(), VARIANT_SIDE);
            let g = img.to_luma8();
            let h = super::super::hashes_of_parts(
                &imageops::resize(&g, PHASH_GRID.0, PHASH_GRID.1, Lanczos3),
                &imageops::resize(&g, DHASH_GRID.0, DHASH_GRID.1, Lanczos3),
                None,
            );
            let want = compute(&img);
            assert_eq!((h.phash, h.dhash), (want.phash, want.dhash), "{name}");
        }
    }

    /// Undoing a transform on one plane moves the pixels as undoing it on
    /// the picture does (`Dihedral::undo`, itself checked against `apply`).
    #[test]
    fn undo_plane_is_undo() {
        let img = DynamicImage::ImageRgb8(textured(7, 5));
        for t in Dihedral::ALL {
            let turned = t.apply(&img);
            let plane = t.undo_plane(&turned.to_luma8());
            assert_eq!(plane, t.undo(&turned).to_luma8(), "{}", t.as_str());
            assert_eq!(plane, img.to_luma8(), "{}", t.as_str());
        }
    }

    fn crop(window: Rect, img: &DynamicImage) -> DynamicImage {
        let (x, y, w, h) = window.pixels(img.width(), img.height());
        img.crop_imm(x, y, w, h)
    }

    #[test]
    fn trims_a_letterbox() {
        let mut canvas = GrayImage::from_pixel(200, 200, Luma([0]));
        let photo = DynamicImage::ImageRgb8(textured(200, 100)).to_luma8();
        image::imageops::overlay(&mut canvas, &photo, 0, 50);
        let w = trim_window(&canvas).unwrap();
        assert!(
            (w.y - 0.25).abs() < 0.02 && (w.h - 0.5).abs() < 0.02,
            "{w:?}"
        );
        assert!(w.x < 0.02 && w.w > 0.98);
        assert!(trim_window(&photo).is_none());
    }

    #[test]
    fn trims_a_white_frame_inside_a_black_letterbox() {
        let mut canvas = GrayImage::from_pixel(200, 200, Luma([0]));
        let framed = GrayImage::from_pixel(200, 110, Luma([250]));
        let photo = DynamicImage::ImageRgb8(textured(190, 100)).to_luma8();
        image::imageops::overlay(&mut canvas, &framed, 0, 45);
        image::imageops::overlay(&mut canvas, &photo, 5, 50);
        let w = trim_window(&canvas).unwrap();
        assert!((w.y - 0.25).abs() < 0.02, "{w:?}");
        assert!((w.h - 0.5).abs() < 0.02, "{w:?}");
        assert!(
            (w.x - 0.025).abs() < 0.02 && (w.w - 0.95).abs() < 0.02,
            "{w:?}"
        );
    }

    #[test]
    fn finds_the_photo_in_a_screenshot_like_page() {
        let mut page = GrayImage::from_pixel(120, 260, Luma([245]));
        // Two short "text lines" above, the photo, one below.
        for y in [10u32, 20, 200] {
            for x in 10..100 {
                for dy in 0..4 {
                    if x % 3 != 0 {
                        page.put_pixel(x, y + dy, Luma([30]));
                    }
                }
            }
        }
        let photo = DynamicImage::ImageRgb8(textured(110, 140)).to_luma8();
        image::imageops::overlay(&mut page, &photo, 5, 40);
        let w = content_window(&page).unwrap();
        assert!((w.y - 40.0 / 260.0).abs() < 0.02, "{w:?}");
        assert!((w.h - 140.0 / 260.0).abs() < 0.02, "{w:?}");
        assert!((w.x - 5.0 / 120.0).abs() < 0.03, "{w:?}");
    }
}
