//! Cost of one `align` call on a typical pair: a cropped, downscaled and re-encoded
//! query (thumbnail at `QUERY_SIDE`) against a stored archive thumbnail, both for
//! the true original and for an unrelated photo (the common case when verifying
//! hash candidates). Uses `../shared/ref/photos` when present, else synthetic
//! texture so the bench always runs.
//!
//! `cargo bench --bench align`

use criterion::{criterion_group, criterion_main, Criterion};
use image::{DynamicImage, GrayImage, Luma};
use retrace::internals::geometry::Dihedral;
use retrace::internals::matching::align::{align, AlignParams, Thumb, QUERY_SIDE};
use std::hint::black_box;
use std::path::Path;

/// Multi-octave value noise (no periodicity), for when no photos are available.
fn noise(w: u32, h: u32, mut seed: u32) -> DynamicImage {
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed % 1000) as f32 / 1000.0 - 0.5
    };
    let mut acc = vec![0.0f32; (w * h) as usize];
    for (cell, amp) in [(64u32, 60.0f32), (24, 40.0), (9, 25.0), (4, 12.0)] {
        let gw = w / cell + 2;
        let grid: Vec<f32> = (0..gw * (h / cell + 2)).map(|_| rnd()).collect();
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f32 / cell as f32, y as f32 / cell as f32);
                let (ix, iy) = (fx as u32, fy as u32);
                let (tx, ty) = (fx - ix as f32, fy - iy as f32);
                let g = |i: u32, j: u32| grid[(j * gw + i) as usize];
                acc[(y * w + x) as usize] += amp
                    * (g(ix, iy) * (1.0 - tx) * (1.0 - ty)
                        + g(ix + 1, iy) * tx * (1.0 - ty)
                        + g(ix, iy + 1) * (1.0 - tx) * ty
                        + g(ix + 1, iy + 1) * tx * ty);
            }
        }
    }
    DynamicImage::ImageLuma8(GrayImage::from_fn(w, h, |x, y| {
        Luma([(128.0 + acc[(y * w + x) as usize]).clamp(0.0, 255.0) as u8])
    }))
}

fn pictures() -> (DynamicImage, DynamicImage) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ref/photos/pypi/scikit-image");
    let load = |n: &str| image::open(root.join(n)).ok();
    match (load("chelsea.png"), load("coffee.png")) {
        (Some(a), Some(b)) => (a, b),
        _ => (noise(640, 427, 1), noise(600, 400, 2)),
    }
}

fn bench(c: &mut Criterion) {
    let (orig, other) = pictures();
    // Query: centred crop to half the area, downscaled to 320 px, JPEG q70.
    let (w, h) = (orig.width(), orig.height());
    let (cw, ch) = (w * 707 / 1000, h * 707 / 1000);
    let crop = orig.crop_imm((w - cw) / 2, (h - ch) / 2, cw, ch).resize(
        320,
        320,
        image::imageops::FilterType::Triangle,
    );
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 70)
        .encode_image(&crop.to_rgb8())
        .unwrap();
    let query = Thumb::from_image_with_side(&image::load_from_memory(&jpeg).unwrap(), QUERY_SIDE);
    let same = Thumb::from_image(&orig);
    let diff = Thumb::from_image(&other);
    let all = AlignParams::default();
    let flips = AlignParams {
        transforms: vec![Dihedral::Identity, Dihedral::Mirror],
        ..AlignParams::default()
    };
    c.bench_function("align/crop_vs_original", |b| {
        b.iter(|| black_box(align(&query, &same, &all)))
    });
    c.bench_function("align/crop_vs_other_photo", |b| {
        b.iter(|| black_box(align(&query, &diff, &all)))
    });
    c.bench_function("align/crop_vs_other_photo_identity_mirror", |b| {
        b.iter(|| black_box(align(&query, &diff, &flips)))
    });
    c.bench_function("align/thumb_from_image", |b| {
        b.iter(|| black_box(Thumb::from_image(&orig)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
