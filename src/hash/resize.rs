//! The Lanczos3 resize that image_hasher runs before pHash and dHash, done the
//! same way, sum for sum, but on the grey plane alone and a row at a time.
//!
//! image_hasher shrinks the grey picture to its 16 × 16 (pHash) or 9 × 8 (dHash)
//! grid with `image::imageops::resize`. That resize is generic over pixel
//! types: it converts every grey pixel into four `f32` channels and reads each
//! through a bounds-checked `get_pixel`, column by column, so shrinking a
//! 512-pixel working copy to 16 rows cost as much as a tenth of a whole `scan`.
//! Here the same weights multiply the same values and are added in the same
//! order (every output value is the same chain of `f32` operations, with no
//! reassociation and no fused multiply-add), so the grids, and so the hashes,
//! are identical bit for bit; the tests hold that against `image` itself.
//! What changes is that only the grey channel is computed and that a whole
//! source row is added at a time, which the compiler vectorises.

use image::GrayImage;

/// `image`'s Lanczos3 kernel: a sinc windowed by a sinc three times as wide.
fn lanczos3(x: f32) -> f32 {
    fn sinc(t: f32) -> f32 {
        let a = t * std::f32::consts::PI;
        if t == 0.0 {
            1.0
        } else {
            a.sin() / a
        }
    }
    if x.abs() < 3.0 {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// The first source index and the normalised weights of output sample `out`
/// when `len` samples are resized to `new_len`, as `image` computes them.
fn weights(out: u32, len: u32, new_len: u32, ws: &mut Vec<f32>) -> usize {
    let ratio = len as f32 / new_len as f32;
    let sratio = if ratio < 1.0 { 1.0 } else { ratio };
    let support = 3.0 * sratio;
    let centre = (out as f32 + 0.5) * ratio;
    let left = ((centre - support).floor() as i64).clamp(0, i64::from(len) - 1);
    let right = ((centre + support).ceil() as i64).clamp(left + 1, i64::from(len));
    let centre = centre - 0.5;
    ws.clear();
    let mut sum = 0.0;
    for i in left..right {
        let w = lanczos3((i as u32 as f32 - centre) / sratio);
        ws.push(w);
        sum += w;
    }
    for w in ws.iter_mut() {
        *w /= sum;
    }
    left as usize
}

/// `image::imageops::resize(src, new_w, new_h, FilterType::Lanczos3)` for a
/// grey picture, with the same result.
pub(crate) fn lanczos3_gray(src: &GrayImage, new_w: u32, new_h: u32) -> GrayImage {
    let (w, h) = src.dimensions();
    if w == 0 || h == 0 || (w, h) == (new_w, new_h) {
        // `image` gives an empty (black) picture of the new size for an empty
        // source, and a copy for a resize to the same size.
        return if (w, h) == (new_w, new_h) {
            src.clone()
        } else {
            GrayImage::new(new_w, new_h)
        };
    }
    let (wu, nwu, nhu) = (w as usize, new_w as usize, new_h as usize);
    let pixels = src.as_raw();
    let mut ws = Vec::new();

    // Columns first, as `image` does: `tall[y][x]` is output row `y` of column `x`.
    let mut tall = vec![0.0f32; wu * nhu];
    for (oy, acc) in tall.chunks_exact_mut(wu).enumerate() {
        let top = weights(oy as u32, h, new_h, &mut ws);
        for (i, &wt) in ws.iter().enumerate() {
            let row = &pixels[(top + i) * wu..(top + i + 1) * wu];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += f32::from(p) * wt;
            }
        }
    }

    let mut out = vec![0u8; nwu * nhu];
    for ox in 0..nwu {
        let left = weights(ox as u32, w, new_w, &mut ws);
        for (oy, row) in tall.chunks_exact(wu).enumerate() {
            let mut t = 0.0f32;
            for (&p, &wt) in row[left..left + ws.len()].iter().zip(&ws) {
                t += p * wt;
            }
            // `image` clamps to 0..=255 and rounds half away from zero. A sum
            // whose weights add to nothing is NaN there (and a panic); here it
            // saturates to 0.
            out[oy * nwu + ox] = t.clamp(0.0, 255.0).round() as u8;
        }
    }
    GrayImage::from_raw(new_w, new_h, out).expect("one value per pixel")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::{self, FilterType::Lanczos3};

    fn same_as_image(src: &GrayImage, nw: u32, nh: u32) {
        let want = imageops::resize(src, nw, nh, Lanczos3);
        let got = lanczos3_gray(src, nw, nh);
        assert_eq!(got.dimensions(), want.dimensions());
        assert!(
            got.as_raw() == want.as_raw(),
            "{}x{} -> {nw}x{nh} differs from image's resize",
            src.width(),
            src.height()
        );
    }

    /// Every sample picture, at the working size and at odd sizes around it,
    /// to the two hash grids and both ways round: the same bytes as `image`.
    #[test]
    fn the_grids_are_images_own_on_real_pictures() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let mut seen = 0;
        for dir in ["archive", "incoming", "not-in-archive"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                let Ok(img) = image::open(e.unwrap().path()) else {
                    continue;
                };
                for side in [512, 301, 97] {
                    let g = crate::decode::shrink(&img, side).to_luma8();
                    for (nw, nh) in [(16, 16), (9, 8), (8, 9)] {
                        same_as_image(&g, nw, nh);
                    }
                }
                seen += 1;
            }
        }
        assert!(seen >= 20, "only {seen} sample pictures");
    }

    /// Pictures smaller than the grid (enlarged, where the kernel is not
    /// widened), one pixel wide or high, and the same size (a copy).
    #[test]
    fn small_thin_and_same_size_pictures_are_images_own() {
        let mut seed = 7u32;
        for (w, h) in [
            (1, 1),
            (1, 40),
            (40, 1),
            (3, 5),
            (9, 8),
            (16, 16),
            (15, 17),
            (700, 2),
        ] {
            let g = GrayImage::from_fn(w, h, |_, _| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                image::Luma([(seed >> 24) as u8])
            });
            for (nw, nh) in [(16, 16), (9, 8), (8, 9), (w, h)] {
                same_as_image(&g, nw, nh);
            }
        }
        assert_eq!(
            lanczos3_gray(&GrayImage::new(0, 0), 9, 8).dimensions(),
            (9, 8)
        );
    }
}
