//! Micro-benchmarks of the per-picture costs: decode of a real photo (scaled and
//! full), the hashes of a working copy, the query views, and index lookups.
//! Run: `cargo bench --bench hashing`. CI only builds it.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use retrace::internals::decode::{
    decode, decode_full, decode_jpeg_scaled, dimensions, shrink, WORKING_SIDE,
};
use retrace::internals::hash::variants::query_variants;
use retrace::internals::hash::{compute, HashBits, HashKind};
use retrace::internals::index::MemoryIndex;
use retrace::internals::input::read::Blob;
use retrace::Limits;

fn sample(name: &str) -> Blob {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples/archive")
        .join(name);
    Blob::from_bytes(std::fs::read(p).expect("samples/archive present"))
}

/// A 12 MP phone photo (4032×3024, 4:2:0) at 1/8, the scale 8 MP and larger
/// pictures take: the DC-only decoder against jpeg-decoder's and (with the
/// `turbojpeg` feature) libjpeg-turbo's reduced inverse DCT, each to its raw
/// 504×378 output. Skipped without `../shared/ref`.
fn camera_size_eighth(c: &mut Criterion, limits: &Limits) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/ref/pdq/images/reg-test-input/exif-rotn/exif-rotn-1.jpg");
    let Ok(bytes) = std::fs::read(&p) else {
        eprintln!("skipped the 1/8 decoders: {} not present", p.display());
        return;
    };
    let dims = retrace::internals::decode::jpeg_frame_size(&bytes).unwrap();
    c.bench_function("12 MP JPEG at 1/8: DC-only decoder (jpeg_dc)", |b| {
        b.iter(|| {
            retrace::internals::decode::jpeg_dc::decode(black_box(&bytes), dims, limits).unwrap()
        })
    });
    c.bench_function("12 MP JPEG at 1/8: jpeg-decoder", |b| {
        b.iter(|| {
            let mut d = jpeg_decoder::Decoder::new(black_box(&bytes[..]));
            d.read_info().unwrap();
            d.scale(504, 504).unwrap();
            d.decode().unwrap()
        })
    });
    #[cfg(feature = "turbojpeg")]
    c.bench_function("12 MP JPEG at 1/8: libjpeg-turbo", |b| {
        let mut d = turbojpeg::Decompressor::new().unwrap();
        let f = turbojpeg::ScalingFactor::new(1, 8);
        d.set_scaling_factor(f).unwrap();
        b.iter(|| {
            let h = d.read_header(black_box(&bytes)).unwrap().scaled(f);
            let mut px = vec![0u8; h.width * h.height * 3];
            let out = turbojpeg::Image {
                pixels: &mut px[..],
                width: h.width,
                pitch: h.width * 3,
                height: h.height,
                format: turbojpeg::PixelFormat::RGB,
            };
            d.decompress(&bytes, out).unwrap();
            px
        })
    });
}

fn benches(c: &mut Criterion) {
    let blob = sample("Storm.jpg");
    let limits = Limits::default();
    c.bench_function("decode Storm.jpg (1920x1280) to working copy", |b| {
        b.iter(|| decode(black_box(&blob), &limits).unwrap())
    });
    // The same file through the full decoder (what every JPEG took before scaled
    // decoding) and through the scaled decoder alone (1/2 here: 960×640 → 512).
    c.bench_function(
        "decode Storm.jpg full size + shrink (reference path)",
        |b| b.iter(|| decode_full(black_box(&blob), &limits).unwrap()),
    );
    let dims = dimensions(&blob, &limits).unwrap();
    c.bench_function("decode Storm.jpg DCT-scaled 1/2 + shrink", |b| {
        b.iter(|| {
            decode_jpeg_scaled(black_box(&blob.bytes), dims, WORKING_SIDE, &limits)
                .unwrap()
                .unwrap()
        })
    });
    camera_size_eighth(c, &limits);
    let working = decode(&blob, &limits).unwrap().working;
    c.bench_function("hashes of a 512px working copy", |b| {
        b.iter(|| compute(black_box(&working)))
    });
    let full = compute(&working);
    c.bench_function("query views (8 transforms + trimmed/content)", |b| {
        b.iter(|| query_variants(black_box(&working), &full))
    });
    let _ = shrink(&working, 256);

    let mut index = MemoryIndex::new();
    let mut s = 0x2545F4914F6CDD1Du64;
    for id in 0..100_000i64 {
        let mut words = [0u64; 4];
        for w in &mut words {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *w = s;
        }
        index.insert(
            id,
            "full",
            HashBits {
                kind: HashKind::Pdq,
                words,
            },
        );
    }
    let q = HashBits {
        kind: HashKind::Pdq,
        words: [1, 2, 3, 4],
    };
    c.bench_function("linear index: 100k PDQ within 31", |b| {
        b.iter(|| index.within(black_box(&q), 31))
    });
    c.bench_function("linear index: 100k PDQ 3 nearest", |b| {
        b.iter(|| index.nearest(black_box(&q), 3))
    });
}

criterion_group!(group, benches);
criterion_main!(group);
