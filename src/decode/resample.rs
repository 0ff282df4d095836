//! `image`'s resizes of 8-bit grey and RGB pictures, with `image`'s results
//! bit for bit, in a fraction of the time: the Lanczos3 that image_hasher runs
//! before pHash and dHash, the Triangle that enlarges a slightly-too-small
//! scaled decode to the working size, and the area average (`thumbnail`) that
//! shrinks it.
//!
//! `image`'s resizes are generic over pixel types: every sample becomes four
//! `f32` (or `u32`) channels read through a bounds-checked `get_pixel`, column
//! by column. Together they were a fifth of a whole `scan`. Here the same
//! weights multiply the same values and are added in the same order (every
//! output value is the same chain of `f32` operations, with no reassociation
//! and no fused multiply-add; the area average's integer sums are exact in any
//! order), so the pictures, and so every hash, are unchanged; the tests hold
//! that against `image` itself on real pictures. What changes is that only the
//! channels that exist are computed, and that a whole source row is added at a
//! time, which the compiler vectorises.
//!
//! Pixel types other than 8-bit grey and RGB go to `image` as before.

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, RgbImage};

/// `image`'s kernels, as `image` computes them.
#[derive(Clone, Copy)]
enum Kernel {
    Triangle,
    Lanczos3,
}

impl Kernel {
    fn of(filter: FilterType) -> Option<Kernel> {
        match filter {
            FilterType::Triangle => Some(Kernel::Triangle),
            FilterType::Lanczos3 => Some(Kernel::Lanczos3),
            _ => None,
        }
    }

    fn support(self) -> f32 {
        match self {
            Kernel::Triangle => 1.0,
            Kernel::Lanczos3 => 3.0,
        }
    }

    fn at(self, x: f32) -> f32 {
        fn sinc(t: f32) -> f32 {
            let a = t * std::f32::consts::PI;
            if t == 0.0 {
                1.0
            } else {
                a.sin() / a
            }
        }
        match self {
            Kernel::Triangle if x.abs() < 1.0 => 1.0 - x.abs(),
            Kernel::Lanczos3 if x.abs() < 3.0 => sinc(x) * sinc(x / 3.0),
            _ => 0.0,
        }
    }

    /// The first source index and the normalised weights of output sample
    /// `out` when `len` samples are resized to `new_len`, as `image` computes them.
    fn weights(self, out: u32, len: u32, new_len: u32, ws: &mut Vec<f32>) -> usize {
        let ratio = len as f32 / new_len as f32;
        let sratio = if ratio < 1.0 { 1.0 } else { ratio };
        let support = self.support() * sratio;
        let centre = (out as f32 + 0.5) * ratio;
        let left = ((centre - support).floor() as i64).clamp(0, i64::from(len) - 1);
        let right = ((centre + support).ceil() as i64).clamp(left + 1, i64::from(len));
        let centre = centre - 0.5;
        ws.clear();
        let mut sum = 0.0;
        for i in left..right {
            let w = self.at((i as u32 as f32 - centre) / sratio);
            ws.push(w);
            sum += w;
        }
        for w in ws.iter_mut() {
            *w /= sum;
        }
        left as usize
    }
}

/// `image::imageops::resize` of `ch`-channel 8-bit samples, `w` × `h` to
/// `new_w` × `new_h`, for a source of at least one pixel.
fn resize_samples(
    src: &[u8],
    (w, h): (u32, u32),
    ch: usize,
    (new_w, new_h): (u32, u32),
    kernel: Kernel,
) -> Vec<u8> {
    let (row_len, nwu, nhu) = (w as usize * ch, new_w as usize, new_h as usize);
    let mut ws = Vec::new();

    // Columns first, as `image` does: `tall` is `new_h` rows of `w` pixels.
    let mut tall = vec![0.0f32; row_len * nhu];
    for (oy, acc) in tall.chunks_exact_mut(row_len).enumerate() {
        let top = kernel.weights(oy as u32, h, new_h, &mut ws);
        for (i, &wt) in ws.iter().enumerate() {
            let row = &src[(top + i) * row_len..(top + i + 1) * row_len];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += f32::from(p) * wt;
            }
        }
    }

    let mut out = vec![0u8; nwu * nhu * ch];
    for ox in 0..nwu {
        let left = kernel.weights(ox as u32, w, new_w, &mut ws);
        for (oy, row) in tall.chunks_exact(row_len).enumerate() {
            for c in 0..ch {
                let mut t = 0.0f32;
                for (i, &wt) in ws.iter().enumerate() {
                    t += row[(left + i) * ch + c] * wt;
                }
                // `image` clamps to 0..=255 and rounds half away from zero. A
                // sum whose weights add to nothing is NaN there (and a panic);
                // here it saturates to 0.
                out[(oy * nwu + ox) * ch + c] = t.clamp(0.0, 255.0).round() as u8;
            }
        }
    }
    out
}

/// `image::imageops::resize(src, new_w, new_h, FilterType::Lanczos3)` for a
/// grey picture, with the same result.
pub(crate) fn lanczos3_gray(src: &GrayImage, new_w: u32, new_h: u32) -> GrayImage {
    let (w, h) = src.dimensions();
    if (w, h) == (new_w, new_h) {
        return src.clone();
    }
    if w == 0 || h == 0 {
        // `image` gives an empty (black) picture of the new size.
        return GrayImage::new(new_w, new_h);
    }
    let out = resize_samples(src.as_raw(), (w, h), 1, (new_w, new_h), Kernel::Lanczos3);
    GrayImage::from_raw(new_w, new_h, out).expect("one value per pixel")
}

/// `img.resize_exact(new_w, new_h, filter)`, with the same result.
pub(crate) fn resize_exact(
    img: &DynamicImage,
    new_w: u32,
    new_h: u32,
    filter: FilterType,
) -> DynamicImage {
    let (w, h) = (img.width(), img.height());
    let fast = Kernel::of(filter).filter(|_| w > 0 && h > 0 && (w, h) != (new_w, new_h));
    match (img, fast) {
        (DynamicImage::ImageLuma8(g), Some(k)) => {
            let out = resize_samples(g.as_raw(), (w, h), 1, (new_w, new_h), k);
            GrayImage::from_raw(new_w, new_h, out).map_or_else(
                || img.resize_exact(new_w, new_h, filter),
                DynamicImage::ImageLuma8,
            )
        }
        (DynamicImage::ImageRgb8(rgb), Some(k)) => {
            let out = resize_samples(rgb.as_raw(), (w, h), 3, (new_w, new_h), k);
            RgbImage::from_raw(new_w, new_h, out).map_or_else(
                || img.resize_exact(new_w, new_h, filter),
                DynamicImage::ImageRgb8,
            )
        }
        _ => img.resize_exact(new_w, new_h, filter),
    }
}

/// Where `image`'s `thumbnail` takes each output sample from along one axis:
/// the source range `[start, end)` of output `i`, computed as `image` does.
/// `None` when some range is empty, which happens only when enlarging along
/// that axis; `image` then interpolates, and the caller leaves it to `image`.
fn blocks(len: u32, new_len: u32) -> Option<Vec<(usize, usize)>> {
    let ratio = len as f32 / new_len as f32;
    (0..new_len)
        .map(|i| {
            let startf = i as f32 * ratio;
            let endf = startf + ratio;
            let start = (startf.ceil() as u32).clamp(0, len - 1);
            let end = (endf.ceil() as u32).clamp(start, len);
            (start != end).then_some((start as usize, end as usize))
        })
        .collect()
}

/// The area average of `ch`-channel samples, `image`'s `thumbnail` when every
/// output pixel covers at least one source pixel; `None` otherwise.
fn average_samples(
    src: &[u8],
    (w, h): (u32, u32),
    ch: usize,
    (new_w, new_h): (u32, u32),
) -> Option<Vec<u8>> {
    let cols = blocks(w, new_w)?;
    let rows = blocks(h, new_h)?;
    let row_len = w as usize * ch;
    let mut out = Vec::with_capacity(new_w as usize * new_h as usize * ch);
    let mut sums = vec![0u32; new_w as usize * ch];
    for &(top, bottom) in &rows {
        sums.fill(0);
        for row in src[top * row_len..bottom * row_len].chunks_exact(row_len) {
            for (&(left, right), sum) in cols.iter().zip(sums.chunks_exact_mut(ch)) {
                for px in row[left * ch..right * ch].chunks_exact(ch) {
                    for (s, &p) in sum.iter_mut().zip(px) {
                        *s += u32::from(p);
                    }
                }
            }
        }
        for (&(left, right), sum) in cols.iter().zip(sums.chunks_exact(ch)) {
            let n = ((right - left) * (bottom - top)) as u32;
            // `image`: rounded to nearest, halves up, in the wider integer type.
            out.extend(sum.iter().map(|&s| ((s + n / 2) / n).min(255) as u8));
        }
    }
    Some(out)
}

/// `img.thumbnail_exact(new_w, new_h)`, with the same result.
pub(crate) fn thumbnail_exact(img: &DynamicImage, new_w: u32, new_h: u32) -> DynamicImage {
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 || new_w == 0 || new_h == 0 {
        return img.thumbnail_exact(new_w, new_h);
    }
    let fast = match img {
        DynamicImage::ImageLuma8(g) => average_samples(g.as_raw(), (w, h), 1, (new_w, new_h))
            .and_then(|o| GrayImage::from_raw(new_w, new_h, o))
            .map(DynamicImage::ImageLuma8),
        DynamicImage::ImageRgb8(rgb) => average_samples(rgb.as_raw(), (w, h), 3, (new_w, new_h))
            .and_then(|o| RgbImage::from_raw(new_w, new_h, o))
            .map(DynamicImage::ImageRgb8),
        _ => None,
    };
    fast.unwrap_or_else(|| img.thumbnail_exact(new_w, new_h))
}

/// Used by the tests to compare against `image` without going through the
/// functions above.
#[cfg(test)]
fn image_resize(img: &DynamicImage, w: u32, h: u32, f: FilterType) -> DynamicImage {
    use image::imageops;
    match img {
        DynamicImage::ImageLuma8(g) => DynamicImage::ImageLuma8(imageops::resize(g, w, h, f)),
        DynamicImage::ImageRgb8(g) => DynamicImage::ImageRgb8(imageops::resize(g, w, h, f)),
        _ => unreachable!(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops;

    fn same(got: &DynamicImage, want: &DynamicImage, what: &str) {
        assert_eq!(got.color(), want.color(), "{what}");
        assert_eq!(got.dimensions_pair(), want.dimensions_pair(), "{what}");
        assert!(
            got.as_bytes() == want.as_bytes(),
            "{what}: differs from image's"
        );
    }

    trait Dims {
        fn dimensions_pair(&self) -> (u32, u32);
    }
    impl Dims for DynamicImage {
        fn dimensions_pair(&self) -> (u32, u32) {
            (self.width(), self.height())
        }
    }

    fn check_all(img: &DynamicImage, sizes: &[(u32, u32)], what: &str) {
        for &(nw, nh) in sizes {
            let what = format!("{what} {}x{} -> {nw}x{nh}", img.width(), img.height());
            // Lanczos3 only to the hash grids, where it is used: `image`'s
            // own Lanczos3 to a large size is what makes this test slow.
            let filters: &[FilterType] = if nw * nh <= 256 {
                &[FilterType::Lanczos3, FilterType::Triangle]
            } else {
                &[FilterType::Triangle]
            };
            for &f in filters {
                same(
                    &resize_exact(img, nw, nh, f),
                    &image_resize(img, nw, nh, f),
                    &format!("{what} {f:?}"),
                );
            }
            same(
                &thumbnail_exact(img, nw, nh),
                &img.thumbnail_exact(nw, nh),
                &format!("{what} thumbnail"),
            );
            if let DynamicImage::ImageLuma8(g) = img {
                let want = imageops::resize(g, nw, nh, FilterType::Lanczos3);
                assert!(
                    lanczos3_gray(g, nw, nh).as_raw() == want.as_raw(),
                    "{what} lanczos3_gray"
                );
            }
        }
    }

    /// Every sample picture, grey and RGB, at the working size and at odd sizes
    /// around it: to the two hash grids both ways round, enlarged by up to a
    /// third (the scaled decode's enlargement) and shrunk (its area average).
    /// Every result is `image`'s, byte for byte.
    #[test]
    fn resizes_are_images_own_on_real_pictures() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let mut seen = 0;
        for dir in ["archive", "incoming", "not-in-archive"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                let Ok(img) = image::open(e.unwrap().path()) else {
                    continue;
                };
                for side in [700, 301] {
                    let small = crate::decode::shrink(&img, side);
                    let (w, h) = (small.width(), small.height());
                    let sizes = [
                        (16, 16),
                        (9, 8),
                        (8, 9),
                        (w * 4 / 3, h * 4 / 3),
                        (w * 512 / 500, h * 512 / 500),
                        ((w * 2 / 3).max(1), (h * 2 / 3).max(1)),
                        ((w / 7).max(1), (h / 5).max(1)),
                    ];
                    check_all(&DynamicImage::ImageRgb8(small.to_rgb8()), &sizes, "rgb");
                    check_all(&DynamicImage::ImageLuma8(small.to_luma8()), &sizes, "grey");
                }
                seen += 1;
            }
        }
        assert!(seen >= 20, "only {seen} sample pictures");
    }

    /// Pictures smaller than the target (enlarged, where the kernel is not
    /// widened and the area average interpolates), one pixel wide or high, and
    /// the same size (a copy).
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
            let rgb = RgbImage::from_fn(w, h, |_, _| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                image::Rgb([(seed >> 24) as u8, (seed >> 16) as u8, (seed >> 8) as u8])
            });
            let img = DynamicImage::ImageRgb8(rgb);
            let sizes = [(16, 16), (9, 8), (8, 9), (w, h), (w + 1, h), (1, 1)];
            check_all(&img, &sizes, "rgb");
            check_all(&DynamicImage::ImageLuma8(img.to_luma8()), &sizes, "grey");
        }
        assert_eq!(
            lanczos3_gray(&GrayImage::new(0, 0), 9, 8).dimensions(),
            (9, 8)
        );
    }

    /// A picture type without a fast path (16-bit, alpha) still gets
    /// `image`'s answer.
    #[test]
    fn other_pixel_types_go_to_image() {
        let img = DynamicImage::ImageRgba16(image::ImageBuffer::from_fn(30, 20, |x, y| {
            image::Rgba([x as u16 * 999, y as u16 * 777, 5, 60000])
        }));
        same(
            &thumbnail_exact(&img, 7, 5),
            &img.thumbnail_exact(7, 5),
            "rgba16 thumbnail",
        );
        same(
            &resize_exact(&img, 40, 25, FilterType::Triangle),
            &img.resize_exact(40, 25, FilterType::Triangle),
            "rgba16 triangle",
        );
    }
}
