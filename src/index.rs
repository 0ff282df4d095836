//! In-memory index over the archive's hashes for near-duplicate lookup.
//! Knows distances, not policy: it answers "which stored hashes are within d of
//! this one" and "which are the k nearest", and matching decides what that means.
//!
//! The search is a linear scan over packed 256-bit words (a few ns per entry);
//! it is exact by construction, which is what a faster index must be tested against.

use std::collections::HashMap;

use crate::hash::{hamming, HashBits, HashKind};

/// One stored hash.
#[derive(Debug, Clone, Copy)]
struct Entry {
    words: [u64; 4],
    image_id: i64,
    region: u16,
}

/// A lookup result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Archive image id.
    pub image_id: i64,
    /// Which region of the archive image the hash describes.
    pub region: String,
    /// Hamming distance.
    pub distance: u32,
}

/// Hashes grouped by kind.
#[derive(Debug, Default)]
pub struct MemoryIndex {
    by_kind: HashMap<HashKind, Vec<Entry>>,
    regions: Vec<String>,
    region_ids: HashMap<String, u16>,
}

impl MemoryIndex {
    /// An empty index.
    pub fn new() -> MemoryIndex {
        MemoryIndex::default()
    }

    /// Add one hash of one image.
    pub fn insert(&mut self, image_id: i64, region: &str, bits: HashBits) {
        let region = match self.region_ids.get(region) {
            Some(&r) => r,
            None => {
                let r = u16::try_from(self.regions.len()).unwrap_or(u16::MAX);
                self.regions.push(region.to_string());
                self.region_ids.insert(region.to_string(), r);
                r
            }
        };
        self.by_kind.entry(bits.kind).or_default().push(Entry {
            words: bits.words,
            image_id,
            region,
        });
    }

    /// Number of stored hashes of one kind.
    pub fn len(&self, kind: HashKind) -> usize {
        self.by_kind.get(&kind).map_or(0, Vec::len)
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.by_kind.values().all(Vec::is_empty)
    }

    fn hit(&self, e: &Entry, distance: u32) -> Hit {
        Hit {
            image_id: e.image_id,
            region: self
                .regions
                .get(e.region as usize)
                .cloned()
                .unwrap_or_default(),
            distance,
        }
    }

    /// Every stored hash of the same kind within `max_distance`, nearest first.
    pub fn within(&self, query: &HashBits, max_distance: u32) -> Vec<Hit> {
        let Some(entries) = self.by_kind.get(&query.kind) else {
            return Vec::new();
        };
        let mut hits: Vec<Hit> = entries
            .iter()
            .filter_map(|e| {
                let d = hamming(&e.words, &query.words);
                (d <= max_distance).then(|| self.hit(e, d))
            })
            .collect();
        hits.sort_by_key(|h| (h.distance, h.image_id));
        hits
    }

    /// The `k` nearest stored hashes of the same kind (ties by image id), any distance.
    pub fn nearest(&self, query: &HashBits, k: usize) -> Vec<Hit> {
        let Some(entries) = self.by_kind.get(&query.kind) else {
            return Vec::new();
        };
        if k == 0 {
            return Vec::new();
        }
        // A bounded max-heap keeps memory at k entries whatever the archive size.
        let mut heap: std::collections::BinaryHeap<(u32, i64, usize)> =
            std::collections::BinaryHeap::with_capacity(k + 1);
        for (i, e) in entries.iter().enumerate() {
            let d = hamming(&e.words, &query.words);
            if heap.len() < k {
                heap.push((d, e.image_id, i));
            } else if let Some(&(worst, wid, _)) = heap.peek() {
                if (d, e.image_id) < (worst, wid) {
                    heap.pop();
                    heap.push((d, e.image_id, i));
                }
            }
        }
        let mut hits: Vec<Hit> = heap
            .into_iter()
            .map(|(d, _, i)| self.hit(&entries[i], d))
            .collect();
        hits.sort_by_key(|h| (h.distance, h.image_id));
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(hex: &str) -> HashBits {
        HashBits::from_hex(HashKind::Phash, hex).unwrap()
    }

    #[test]
    fn within_and_nearest_agree_with_brute_force() {
        let mut idx = MemoryIndex::new();
        // A seeded xorshift keeps the test reproducible without a dependency.
        let mut s = 0x9E3779B97F4A7C15u64;
        let mut all = Vec::new();
        for id in 0..500 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let b = HashBits {
                kind: HashKind::Phash,
                words: [s, 0, 0, 0],
            };
            idx.insert(id, "full", b);
            all.push((id, b));
        }
        let q = h("00000000ffffffff");
        let mut brute: Vec<(u32, i64)> = all
            .iter()
            .map(|(id, b)| (b.distance(&q).unwrap(), *id))
            .collect();
        brute.sort();
        let near = idx.nearest(&q, 7);
        assert_eq!(
            near.iter()
                .map(|x| (x.distance, x.image_id))
                .collect::<Vec<_>>(),
            brute[..7].to_vec()
        );
        let r = brute[20].0;
        let w = idx.within(&q, r);
        assert_eq!(w.len(), brute.iter().filter(|(d, _)| *d <= r).count());
        // Other kinds are never compared.
        let d = HashBits {
            kind: HashKind::Dhash,
            words: q.words,
        };
        assert!(idx.within(&d, 64).is_empty());
    }
}
