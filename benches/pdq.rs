//! Criterion benchmarks for PDQ: hashing a luma buffer at the C++ tool's working size
//! (512×512) and at the size that skips the blur (64×64), and Hamming distance, which
//! sits in the inner loop of every index scan.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use retrace::internals::hash::pdq::{pdq_from_luma, PdqHash};

/// A deterministic textured buffer; flat input would make the median step trivial.
fn luma(w: usize, h: usize) -> Vec<f32> {
    let mut state = 0x2545_f491_u32;
    (0..w * h)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            (128.0 + 80.0 * (x / 23.0).sin() * (y / 17.0).cos() + (state % 32) as f32).min(255.0)
        })
        .collect()
}

fn bench_pdq(c: &mut Criterion) {
    for side in [512usize, 64] {
        let buf = luma(side, side);
        c.bench_function(&format!("pdq_from_luma {side}x{side}"), |b| {
            b.iter(|| pdq_from_luma(black_box(&buf), side, side))
        });
    }
    let a = PdqHash::from_hex("f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
        .unwrap();
    let z = PdqHash::from_hex("d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22")
        .unwrap();
    c.bench_function("pdq hamming distance", |b| {
        b.iter(|| black_box(&a).distance(black_box(&z)))
    });
}

criterion_group!(benches, bench_pdq);
criterion_main!(benches);
