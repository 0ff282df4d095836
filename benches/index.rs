//! Criterion benchmarks for the hash index at 100k entries: PDQ radius lookups
//! through the substring tables against the linear scan they replace, the
//! nearest-neighbour searches, a 64-bit lookup, and incremental insert.
//! `examples/index_scale.rs` measures the same at 1 M and 10 M.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use retrace::internals::hash::{HashBits, HashKind};
use retrace::internals::index::MemoryIndex;

/// splitmix64: reproducible input without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn hash(&mut self, kind: HashKind) -> HashBits {
        let mut words = [0u64; 4];
        for w in words.iter_mut().take(kind.bits() as usize / 64) {
            *w = self.next();
        }
        HashBits { kind, words }
    }
}

const N: usize = 100_000;

fn bench_index(c: &mut Criterion) {
    let mut rng = Rng(0xBE4C);
    let mut index = MemoryIndex::new();
    for id in 0..N as i64 {
        index.insert(id, "full", rng.hash(HashKind::Pdq));
        index.insert(id, "full", rng.hash(HashKind::Phash));
    }
    // A query with a stored neighbour 12 bits away, and one with none.
    let near = rng.hash(HashKind::Pdq);
    let mut copy = near;
    copy.words[0] ^= 0xFFF;
    index.insert(N as i64, "full", copy);
    let fresh = rng.hash(HashKind::Pdq);
    // Built now rather than by the first lookups that pay for them, so that
    // every sample is of a lookup with the tables in place.
    index.build_tables();

    c.bench_function("index 100k PDQ within 31 (tables)", |b| {
        b.iter(|| index.within(black_box(&near), 31))
    });
    c.bench_function("index 100k PDQ within 31, no neighbour (tables)", |b| {
        b.iter(|| index.within(black_box(&fresh), 31))
    });
    c.bench_function("index 100k PDQ within 31 (linear scan)", |b| {
        b.iter(|| index.within_scan(black_box(&near), 31))
    });
    c.bench_function("index 100k PDQ within 64 (auto: scan)", |b| {
        b.iter(|| index.within(black_box(&near), 64))
    });
    c.bench_function("index 100k PDQ 3 nearest within 31", |b| {
        b.iter(|| index.nearest_within(black_box(&near), 3, 31))
    });
    c.bench_function("index 100k PDQ 3 nearest (auto)", |b| {
        b.iter(|| index.nearest(black_box(&near), 3))
    });
    c.bench_function("index 100k PDQ 3 nearest (linear scan)", |b| {
        b.iter(|| index.nearest_scan(black_box(&near), 3))
    });
    let p = rng.hash(HashKind::Phash);
    c.bench_function("index 100k pHash within 8 (tables)", |b| {
        b.iter(|| index.within(black_box(&p), 8))
    });
    c.bench_function("index 100k pHash within 8 (linear scan)", |b| {
        b.iter(|| index.within_scan(black_box(&p), 8))
    });
    c.bench_function("index insert 1 PDQ into 100k", |b| {
        let mut id = 2 * N as i64;
        b.iter(|| {
            id += 1;
            index.insert(id, "full", rng.hash(HashKind::Pdq));
        })
    });
}

criterion_group!(benches, bench_index);
criterion_main!(benches);
