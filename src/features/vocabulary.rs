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

/// A loaded vocabulary.
#[derive(Debug)]
pub struct Vocabulary {
    k1: usize,
    k2: usize,
    coarse: Vec<[u64; 4]>,
    fine: Vec<[u64; 4]>,
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
            coarse: coarse.to_vec(),
            fine: fine.to_vec(),
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
                coarse: vec![[0; 4]],
                fine: vec![[0; 4]],
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
        #[inline(always)]
        fn nearest(d: &[u64; 4], set: &[[u64; 4]]) -> usize {
            let mut best = (u32::MAX, 0usize);
            for (i, c) in set.iter().enumerate() {
                let x = distance(d, c);
                if x < best.0 {
                    best = (x, i);
                }
            }
            best.1
        }
        let c = nearest(d, &self.coarse);
        let f = nearest(d, &self.fine[c * self.k2..(c + 1) * self.k2]);
        (c * self.k2 + f) as u16
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
        let img = image::open(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/archive/china.jpg"),
        )
        .unwrap();
        let f = super::super::Features::of_image(
            &crate::decode::shrink(&img, crate::decode::WORKING_SIDE),
            &super::super::FeatureParams::query(),
        );
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
}
