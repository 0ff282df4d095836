//! The visual vocabulary: descriptors quantised to words, so that an index can
//! list, for each word, the archived pictures that have a feature of it.
//!
//! A two-level k-majority tree (k-means in Hamming space, each centroid the
//! bitwise majority of its members) of 256 × 256 words, trained on public
//! photographs by `examples/train_features.rs` and embedded in the binary
//! (`vocabulary.bin`, 2 MB; `benches/features/README.md` says how it was made
//! and from what). A descriptor goes to the nearest of the 256 coarse words,
//! then to the nearest of that word's 256 fine ones: 512 Hamming distances.

use std::sync::OnceLock;

use super::distance;

/// Names the vocabulary in stored words: words made with another vocabulary
/// are never compared with these.
pub const STAMP: &str = "retrace-voc-1";

/// Eight centroids side by side: `self.0[k][l]` is 64-bit word `k` of
/// centroid `l`, so word `k` of all eight is one 512-bit vector. The last block
/// of a set is padded with zeros; its padding lanes are masked out (AVX-512)
/// or never read (scalar), so they never win.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Block([[u64; 8]; 4]);

impl Block {
    /// Centroids in blocks of eight, the last one padded.
    fn of(centroids: &[[u64; 4]]) -> Vec<Block> {
        centroids
            .chunks(8)
            .map(|c| {
                let mut b = Block([[0; 8]; 4]);
                for (l, centroid) in c.iter().enumerate() {
                    for (row, &w) in b.0.iter_mut().zip(centroid) {
                        row[l] = w;
                    }
                }
                b
            })
            .collect()
    }
}

/// A loaded vocabulary.
///
/// The centroids are kept in one layout only, the transposed blocks that the
/// AVX-512 path needs; the scalar path reads them too, the eight lanes of a
/// block in turn. A second, row-major copy for it would be 2 MB more per
/// process for nothing: a block's four rows are four whole 64-byte lines that
/// its eight lanes use up, and the scalar loop over them measured a little
/// faster than the row-major one (0.73 against 0.86 ms for 1,200 descriptors;
/// AVX-512: 0.21 ms).
#[derive(Debug)]
pub struct Vocabulary {
    k1: usize,
    k2: usize,
    /// The `k1` coarse centroids, `k1.div_ceil(8)` blocks.
    coarse: Vec<Block>,
    /// The `k2` fine centroids of each coarse word, `k2.div_ceil(8)` blocks a
    /// coarse word (each word's set padded on its own).
    fine: Vec<Block>,
}

impl Vocabulary {
    /// Parse the stored form: `"RVOC"`, version 1, K1 and K2 (u16 LE), then
    /// K1 coarse and K1 × K2 fine centroids of 32 bytes each.
    pub fn from_bytes(b: &[u8]) -> Option<Vocabulary> {
        if b.len() < 9 || &b[..4] != b"RVOC" || b[4] != 1 {
            return None;
        }
        let k1 = usize::from(u16::from_le_bytes([b[5], b[6]]));
        let k2 = usize::from(u16::from_le_bytes([b[7], b[8]]));
        if k1 == 0 || k2 == 0 || k1 * k2 > usize::from(u16::MAX) + 1 {
            return None;
        }
        if b.len() != 9 + 32 * (k1 + k1 * k2) {
            return None;
        }
        let words: Vec<[u64; 4]> = b[9..]
            .chunks_exact(32)
            .map(|c| {
                std::array::from_fn(|k| {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(&c[8 * k..8 * k + 8]);
                    u64::from_le_bytes(w)
                })
            })
            .collect();
        let (coarse, fine) = words.split_at(k1);
        Some(Vocabulary {
            k1,
            k2,
            coarse: Block::of(coarse),
            fine: fine.chunks_exact(k2).flat_map(Block::of).collect(),
        })
    }

    /// The vocabulary built into retrace.
    pub fn builtin() -> &'static Vocabulary {
        static V: OnceLock<Vocabulary> = OnceLock::new();
        V.get_or_init(|| {
            // Checked by a test; the fallback (one word) keeps a broken build
            // working, only without a useful index.
            Vocabulary::from_bytes(include_bytes!("vocabulary.bin")).unwrap_or(Vocabulary {
                k1: 1,
                k2: 1,
                coarse: Block::of(&[[0; 4]]),
                fine: Block::of(&[[0; 4]]),
            })
        })
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.k1 * self.k2
    }

    /// Whether it has no words (never for a parsed vocabulary).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The word of a descriptor.
    pub fn word(&self, d: &[u64; 4]) -> u16 {
        self.words(std::slice::from_ref(d))[0]
    }

    /// The words of many descriptors.
    pub fn words(&self, ds: &[[u64; 4]]) -> Vec<u16> {
        words_avx512(self, ds).unwrap_or_else(|| self.words_scalar(ds))
    }

    /// The words one Hamming distance at a time: every CPU but those with
    /// AVX-512 VPOPCNTDQ.
    fn words_scalar(&self, ds: &[[u64; 4]]) -> Vec<u16> {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "popcnt")]
            unsafe fn fast(v: &Vocabulary, ds: &[[u64; 4]]) -> Vec<u16> {
                v.words_body(ds)
            }
            if super::has_popcnt() {
                // SAFETY: the CPU was just seen to support the one feature
                // `fast` is compiled with.
                return unsafe { fast(self, ds) };
            }
        }
        self.words_body(ds)
    }

    #[inline(always)]
    fn words_body(&self, ds: &[[u64; 4]]) -> Vec<u16> {
        let mut out = vec![0u16; ds.len()];
        for i in 0..ds.len() {
            out[i] = self.word_inline(&ds[i]);
        }
        out
    }

    #[inline(always)]
    fn word_inline(&self, d: &[u64; 4]) -> u16 {
        /// The first of the `n` centroids in `set` at the least distance.
        #[inline(always)]
        fn nearest(d: &[u64; 4], set: &[Block], n: usize) -> usize {
            let mut best = (u32::MAX, 0usize);
            let (whole, last) = set.split_at(n / 8);
            for (b, block) in whole.iter().enumerate() {
                for l in 0..8 {
                    let x = distance(d, &block.0.map(|w| w[l]));
                    if x < best.0 {
                        best = (x, 8 * b + l);
                    }
                }
            }
            // Only the real lanes of the last block.
            if let Some(block) = last.first() {
                for l in 0..n % 8 {
                    let x = distance(d, &block.0.map(|w| w[l]));
                    if x < best.0 {
                        best = (x, n / 8 * 8 + l);
                    }
                }
            }
            best.1
        }
        let c = nearest(d, &self.coarse, self.k1);
        let per = self.k2.div_ceil(8);
        let f = nearest(d, &self.fine[c * per..(c + 1) * per], self.k2);
        (c * self.k2 + f) as u16
    }
}

/// [`Vocabulary::words`] with AVX-512 where the CPU has it (`None` where it
/// has not). Its intrinsics are stable since Rust 1.89; retrace builds with
/// 1.85 (Debian stable's rustc), and there this is always `None`.
#[rustversion::since(1.89)]
// Compiled only by a rustc that has these intrinsics (`rustversion`), so
// the package's 1.85 does not apply here.
#[allow(clippy::incompatible_msrv)]
fn words_avx512(v: &Vocabulary, ds: &[[u64; 4]]) -> Option<Vec<u16>> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `avx512::words` is called only once the CPU was seen to
        // support both features it is compiled with.
        avx512::available().then(|| unsafe { avx512::words(v, ds) })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (v, ds);
        None
    }
}

/// See the other definition: a rustc before 1.89.
#[rustversion::before(1.89)]
fn words_avx512(_: &Vocabulary, _: &[[u64; 4]]) -> Option<Vec<u16>> {
    None
}

/// The same words with AVX-512: eight centroids' distances at once, `vpxorq`
/// and `vpopcntq` on one 512-bit word of eight centroids (a `Block` row) at a
/// time. Each lane keeps the least of `distance << 32 | index` over its
/// centroids, and the least over the eight lanes is the least distance with,
/// among equals, the least index: the scalar path's first minimum (its strict
/// `<`) exactly, as the indices are distinct and below 2^32.
#[rustversion::since(1.89)]
#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)]
mod avx512 {
    use super::{Block, Vocabulary};
    use std::arch::x86_64::*;

    /// Whether the CPU has what `words` is compiled with.
    #[inline]
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
    }

    /// `Vocabulary::words`; the CPU must support both features (`available`).
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    pub(super) unsafe fn words(v: &Vocabulary, ds: &[[u64; 4]]) -> Vec<u16> {
        let per = v.k2.div_ceil(8);
        ds.iter()
            .map(|d| {
                let d = d.map(|w| _mm512_set1_epi64(w as i64));
                let c = nearest(&d, &v.coarse, v.k1);
                let f = nearest(&d, &v.fine[c * per..(c + 1) * per], v.k2);
                (c * v.k2 + f) as u16
            })
            .collect()
    }

    /// The first of the `n` centroids in `set` (`n.div_ceil(8)` blocks) at
    /// the least distance from the descriptor `d` (each word broadcast).
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    #[inline]
    unsafe fn nearest(d: &[__m512i; 4], set: &[Block], n: usize) -> usize {
        debug_assert!(n > 0 && set.len() == n.div_ceil(8));
        let key = |b: &Block, index: __m512i| {
            let row = |k: usize| {
                // SAFETY: a row is eight `u64`s, 64 readable bytes.
                let w = unsafe { _mm512_loadu_si512(b.0[k].as_ptr().cast()) };
                _mm512_popcnt_epi64(_mm512_xor_si512(w, d[k]))
            };
            let dist = _mm512_add_epi64(
                _mm512_add_epi64(row(0), row(1)),
                _mm512_add_epi64(row(2), row(3)),
            );
            _mm512_or_si512(_mm512_slli_epi64::<32>(dist), index)
        };
        let eight = _mm512_set1_epi64(8);
        let mut index = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
        let mut best = _mm512_set1_epi64(-1);
        let (whole, last) = set.split_at(n / 8);
        for b in whole {
            best = _mm512_min_epu64(best, key(b, index));
            index = _mm512_add_epi64(index, eight);
        }
        if let Some(b) = last.first() {
            // Padding lanes keep `u64::MAX`, above every real key (and lane 0
            // always has one: `n > 0`).
            let real: __mmask8 = (1u8 << (n % 8)) - 1;
            best = _mm512_mask_min_epu64(best, real, best, key(b, index));
        }
        (_mm512_reduce_min_epu64(best) & 0xffff_ffff) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_vocabulary_parses_and_spreads_descriptors_over_its_words() {
        let v = Vocabulary::from_bytes(include_bytes!("vocabulary.bin")).expect("vocabulary.bin");
        assert_eq!(v.len(), 65536);
        // Real descriptors of a sample land on many different words.
        let f = china_query_features();
        let words: std::collections::HashSet<u16> =
            f.items.iter().map(|x| v.word(&x.descriptor)).collect();
        assert!(
            words.len() * 10 > f.len() * 8,
            "{} words for {}",
            words.len(),
            f.len()
        );
        // Anything else is refused.
        assert!(Vocabulary::from_bytes(b"RVOC").is_none());
        assert!(Vocabulary::from_bytes(&include_bytes!("vocabulary.bin")[..1000]).is_none());
    }

    /// The features of a sample photograph as an incoming picture has them
    /// (with their mirrored descriptors).
    fn china_query_features() -> super::super::Features {
        let img = image::open(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/archive/china.jpg"),
        )
        .unwrap();
        super::super::Features::of_image(
            &crate::decode::shrink(&img, crate::decode::WORKING_SIDE),
            &super::super::FeatureParams::query(),
        )
    }

    /// The stored form of a vocabulary of these centroids.
    fn stored(k1: usize, k2: usize, coarse: &[[u64; 4]], fine: &[[u64; 4]]) -> Vec<u8> {
        assert_eq!((coarse.len(), fine.len()), (k1, k1 * k2));
        let mut b = b"RVOC\x01".to_vec();
        b.extend((k1 as u16).to_le_bytes());
        b.extend((k2 as u16).to_le_bytes());
        for c in coarse.iter().chain(fine) {
            for w in c {
                b.extend(w.to_le_bytes());
            }
        }
        b
    }

    /// The centroids of a stored vocabulary, row-major as stored: k1, k2,
    /// coarse, fine.
    fn rows(b: &[u8]) -> (usize, usize, Vec<[u64; 4]>, Vec<[u64; 4]>) {
        let k1 = usize::from(u16::from_le_bytes([b[5], b[6]]));
        let k2 = usize::from(u16::from_le_bytes([b[7], b[8]]));
        let all: Vec<[u64; 4]> = b[9..]
            .chunks_exact(32)
            .map(|c| {
                std::array::from_fn(|k| u64::from_le_bytes(c[8 * k..][..8].try_into().unwrap()))
            })
            .collect();
        (k1, k2, all[..k1].to_vec(), all[k1..].to_vec())
    }

    /// The words by the plain row-major loop over the stored centroids
    /// (neither path's layout), and how many of the descriptors met a tie
    /// for the least distance among the coarse and among the fine words.
    fn reference(b: &[u8], ds: &[[u64; 4]]) -> (Vec<u16>, usize, usize) {
        let (_, k2, coarse, fine) = rows(b);
        let nearest = |d: &[u64; 4], set: &[[u64; 4]]| {
            let ds: Vec<u32> = set.iter().map(|c| distance(d, c)).collect();
            let least = *ds.iter().min().unwrap();
            let first = ds.iter().position(|&x| x == least).unwrap();
            (first, ds.iter().filter(|&&x| x == least).count() > 1)
        };
        let (mut coarse_ties, mut fine_ties) = (0, 0);
        let words = ds
            .iter()
            .map(|d| {
                let (c, tie) = nearest(d, &coarse);
                coarse_ties += usize::from(tie);
                let (f, tie) = nearest(d, &fine[c * k2..(c + 1) * k2]);
                fine_ties += usize::from(tie);
                (c * k2 + f) as u16
            })
            .collect();
        (words, coarse_ties, fine_ties)
    }

    /// The scalar path's words, checked against the AVX-512 path's when the
    /// CPU has AVX-512F and AVX512_VPOPCNTDQ (said on stderr when it has not),
    /// and against `words`, which picks one of them.
    fn both_paths(v: &Vocabulary, ds: &[[u64; 4]]) -> Vec<u16> {
        let scalar = v.words_scalar(ds);
        assert_eq!(v.words(ds), scalar);
        if let Some(simd) = words_avx512(v, ds) {
            for (i, (s, x)) in scalar.iter().zip(&simd).enumerate() {
                assert_eq!(s, x, "descriptor {i}: {:x?}", ds[i]);
            }
            assert_eq!(simd.len(), scalar.len());
            return scalar;
        }
        eprintln!(
            "no AVX-512F + AVX512_VPOPCNTDQ on this CPU (or a rustc before 1.89): only the scalar path checked"
        );
        scalar
    }

    /// Pseudo-random descriptors (an LCG: the same every run).
    fn lcg_descriptors(n: usize, seed: u64) -> Vec<[u64; 4]> {
        let mut x = seed;
        let mut next = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x
        };
        (0..n).map(|_| std::array::from_fn(|_| next())).collect()
    }

    /// `a` with the first half of the bits where it differs from `b` taken
    /// from `b`: as far from both when they differ in an even number of bits.
    fn midway(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
        let mut half = distance(a, b) / 2;
        std::array::from_fn(|k| {
            let mut w = a[k];
            let mut diff = a[k] ^ b[k];
            while diff != 0 && half > 0 {
                w ^= diff & diff.wrapping_neg();
                diff &= diff - 1;
                half -= 1;
            }
            w
        })
    }

    #[test]
    fn the_avx512_and_scalar_paths_give_the_same_words() {
        let bytes = include_bytes!("vocabulary.bin");
        let v = Vocabulary::from_bytes(bytes).unwrap();
        let (k1, k2, coarse, fine) = rows(bytes);
        let mut ds = lcg_descriptors(5000, 0x5eed);
        // Every centroid itself, and the two extremes.
        ds.extend(&coarse);
        ds.extend(&fine);
        ds.extend([[0; 4], [u64::MAX; 4]]);
        // Halfway between each centroid and the nearest other centroid of its
        // set that it differs from in an even number of bits: often a tie
        // for the least distance.
        let mut midways = |set: &[[u64; 4]]| {
            for (i, a) in set.iter().enumerate() {
                let other = (0..set.len())
                    .filter(|&j| j != i && distance(a, &set[j]) % 2 == 0)
                    .min_by_key(|&j| distance(a, &set[j]));
                if let Some(j) = other {
                    ds.push(midway(a, &set[j]));
                }
            }
        };
        midways(&coarse);
        for c in 0..k1 {
            midways(&fine[c * k2..(c + 1) * k2]);
        }
        let (expected, coarse_ties, fine_ties) = reference(bytes, &ds);
        // The ties the test is about do occur.
        assert!(
            coarse_ties > 100 && fine_ties > 100,
            "{coarse_ties} {fine_ties}"
        );
        assert_eq!(both_paths(&v, &ds), expected);

        // The real descriptors of a sample, as seen and mirrored.
        let f = china_query_features();
        let mut real: Vec<[u64; 4]> = f.items.iter().map(|x| x.descriptor).collect();
        real.extend(&f.mirrored.as_ref().expect("mirrored descriptors").0);
        assert!(f.len() >= 500 && real.len() == 2 * f.len(), "{}", f.len());
        assert_eq!(both_paths(&v, &real), reference(bytes, &real).0);
    }

    #[test]
    fn padding_lanes_never_win_when_k1_and_k2_are_not_multiples_of_eight() {
        // Centroid `i` of a set: `ones` bits set from a place of its own, so
        // that the zero descriptor is equally far from all centroids with as
        // many bits, and nearer to none of them than to a padding lane (zeros).
        let centroid = |i: usize, ones: u32| -> [u64; 4] {
            let at = (i * 37) % 200;
            std::array::from_fn(|k| {
                (0..64)
                    .filter(|b| (at..at + ones as usize).contains(&(64 * k + b)))
                    .fold(0u64, |w, b| w | 1 << b)
            })
        };
        for (k1, k2) in [(1, 1), (3, 5), (7, 9), (11, 13), (8, 3), (9, 8), (17, 2)] {
            // The nearest to zero are the coarse words from k1 / 2 on (3 bits
            // against 6) and the fine words from k2 - 2 on (2 against 4).
            let coarse: Vec<[u64; 4]> = (0..k1)
                .map(|i| centroid(i, if i >= k1 / 2 { 3 } else { 6 }))
                .collect();
            let fine: Vec<[u64; 4]> = (0..k1 * k2)
                .map(|i| centroid(i, if i % k2 + 2 >= k2 { 2 } else { 4 }))
                .collect();
            let bytes = stored(k1, k2, &coarse, &fine);
            let v = Vocabulary::from_bytes(&bytes).unwrap();
            assert_eq!(v.len(), k1 * k2);
            let zero = both_paths(&v, &[[0; 4]])[0];
            assert_eq!(
                usize::from(zero),
                k1 / 2 * k2 + k2.saturating_sub(2),
                "{k1} x {k2}"
            );
            let mut ds = lcg_descriptors(500, (k1 * 100 + k2) as u64);
            ds.extend(coarse.iter().chain(&fine));
            ds.extend([[0; 4], [u64::MAX; 4]]);
            let words = both_paths(&v, &ds);
            assert!(words.iter().all(|&w| usize::from(w) < k1 * k2));
            assert_eq!(words, reference(&bytes, &ds).0, "{k1} x {k2}");
        }
    }
}
