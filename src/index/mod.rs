//! In-memory index over the archive's hashes for near-duplicate lookup.
//! Knows distances, not policy: it answers "which stored hashes are within d of
//! this one" and "which are the k nearest", and matching decides what that means.
//!
//! Each kind's hashes live in flat arrays with multi-index substring tables over
//! them (`mih.rs` explains the structure, its parameters and its memory), so a
//! lookup within Meta's PDQ radius of 31 verifies a fraction of a percent of the
//! archive instead of all of it. Every answer is exact: identical, order included,
//! to a linear scan, which is kept ([`MemoryIndex::within_scan`],
//! [`MemoryIndex::nearest_scan`]) as the reference the tables are tested against and
//! as the fallback for radii where probing would cost more than reading everything.

mod column;
pub mod features;
mod mih;
mod snapshot;

pub use snapshot::{SnapshotOf, MAX_HEADER as MAX_SNAPSHOT_HEADER};

use std::collections::HashMap;

use crate::hash::{HashBits, HashKind};

use mih::Store;

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

/// Heap bytes held for one kind, from allocated capacities (what the allocator was
/// asked for, not what the pages the kernel has touched).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryUse {
    /// Stored hashes.
    pub entries: usize,
    /// Hash words, image ids and region ids in memory.
    pub entry_bytes: usize,
    /// Hash words, image ids and region ids read in place from a snapshot's
    /// mapping: the page cache's, shared with other processes, not in `total`.
    pub mapped_bytes: usize,
    /// Entry numbers in the substring tables' posting lists.
    pub posting_bytes: usize,
    /// The posting lists' headers: fixed once a kind is indexed.
    pub table_bytes: usize,
}

impl MemoryUse {
    /// Everything.
    pub fn total(&self) -> usize {
        self.entry_bytes + self.posting_bytes + self.table_bytes
    }

    /// Total bytes per stored hash; 0 when empty.
    pub fn per_entry(&self) -> f64 {
        if self.entries == 0 {
            0.0
        } else {
            self.total() as f64 / self.entries as f64
        }
    }
}

/// One kind's store, by width: the 64-bit kinds keep one word per hash, not four.
#[derive(Debug)]
enum Shelf {
    Short(Store<1>),
    Long(Store<4>),
}

impl Shelf {
    fn new(kind: HashKind, index_from: usize) -> Shelf {
        if kind.bits() <= 64 {
            Shelf::Short(Store::new(index_from))
        } else {
            Shelf::Long(Store::new(index_from))
        }
    }

    fn len(&self) -> usize {
        match self {
            Shelf::Short(s) => s.len(),
            Shelf::Long(s) => s.len(),
        }
    }

    /// Add one hash, given as the four words every kind fits in.
    fn push(&mut self, words: &[u64; 4], image_id: i64, region: u16) {
        match self {
            Shelf::Short(s) => s.push(narrow(words), image_id, region),
            Shelf::Long(s) => s.push(narrow(words), image_id, region),
        }
    }

    fn from_mapped(
        kind: HashKind,
        map: &std::sync::Arc<memmap2::Mmap>,
        count: [usize; 2],
        at: [usize; 4],
        index_from: usize,
    ) -> Option<Shelf> {
        Some(if kind.bits() <= 64 {
            Shelf::Short(Store::from_mapped(map, count, at, index_from)?)
        } else {
            Shelf::Long(Store::from_mapped(map, count, at, index_from)?)
        })
    }

    fn column_bytes(kind: HashKind, count: u64, runs: u64) -> Option<[u64; 4]> {
        if kind.bits() <= 64 {
            Store::<1>::column_bytes(count, runs)
        } else {
            Store::<4>::column_bytes(count, runs)
        }
    }

    fn runs(&self) -> usize {
        match self {
            Shelf::Short(s) => s.runs(),
            Shelf::Long(s) => s.runs(),
        }
    }

    fn write_columns<E>(&self, put: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        match self {
            Shelf::Short(s) => s.write_columns(put),
            Shelf::Long(s) => s.write_columns(put),
        }
    }

    fn regions_below(&self, n: usize) -> bool {
        match self {
            Shelf::Short(s) => s.regions_below(n),
            Shelf::Long(s) => s.regions_below(n),
        }
    }

    fn set_index_from(&mut self, index_from: usize) {
        match self {
            Shelf::Short(s) => s.set_index_from(index_from),
            Shelf::Long(s) => s.set_index_from(index_from),
        }
    }

    fn build_tables(&self) {
        match self {
            Shelf::Short(s) => s.build_tables(),
            Shelf::Long(s) => s.build_tables(),
        }
    }
}

/// The query's words at a store's width.
fn narrow<const W: usize>(words: &[u64; 4]) -> [u64; W] {
    std::array::from_fn(|i| words[i])
}

/// How a lookup is answered; the public methods pick `Auto`, tests and benchmarks
/// pin the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Tables or scan, whichever the cost model says is cheaper.
    Auto,
    /// Linear scan only.
    Scan,
    /// Tables whenever the kind may have them (built first if need be),
    /// whatever the cost.
    #[cfg(test)]
    Tables,
}

/// Hashes grouped by kind.
#[derive(Debug)]
pub struct MemoryIndex {
    by_kind: HashMap<HashKind, Shelf>,
    regions: Vec<String>,
    region_ids: HashMap<String, u16>,
    /// Entries a kind needs before its tables are built (`mih::INDEX_FROM`).
    index_from: usize,
    /// `index_from` as it was before [`MemoryIndex::start_bulk`].
    bulk_index_from: Option<usize>,
    /// The archive's local features as an inverted file.
    features: features::FeatureIndex,
}

impl Default for MemoryIndex {
    fn default() -> Self {
        MemoryIndex {
            by_kind: HashMap::new(),
            regions: Vec::new(),
            region_ids: HashMap::new(),
            index_from: mih::INDEX_FROM,
            bulk_index_from: None,
            features: features::FeatureIndex::default(),
        }
    }
}

impl MemoryIndex {
    /// An empty index.
    pub fn new() -> MemoryIndex {
        MemoryIndex::default()
    }

    /// Build no substring tables until [`MemoryIndex::finish_bulk`], whatever
    /// the lookups.
    ///
    /// For loading a whole archive: appending each hash to one posting list per
    /// table is a dozen random writes per hash, and lists grown one posting at a
    /// time keep up to a quarter of slack. Built at once from exact counts, the
    /// tables cost a sequential pass and carry no slack. Lookups made in
    /// between are exact (by scan), only slower. A process that never calls
    /// `finish_bulk` never builds them (`Config::index_scan_only`).
    pub fn start_bulk(&mut self) {
        if self.bulk_index_from.is_none() {
            self.bulk_index_from = Some(self.index_from);
        }
        self.index_from = usize::MAX;
        for shelf in self.by_kind.values_mut() {
            shelf.set_index_from(usize::MAX);
        }
    }

    /// Let the tables [`MemoryIndex::start_bulk`] deferred be built again:
    /// not here, but once lookups they would answer more cheaply than a scan
    /// have together forgone what building them costs (`mih.rs`, "When the
    /// tables are built"), or at [`MemoryIndex::build_tables`]. Inserts go
    /// into tables that exist.
    pub fn finish_bulk(&mut self) {
        if let Some(index_from) = self.bulk_index_from.take() {
            self.index_from = index_from;
            for shelf in self.by_kind.values_mut() {
                shelf.set_index_from(index_from);
            }
        }
    }

    /// Build the substring tables of every kind that holds enough hashes
    /// (`mih::INDEX_FROM`) now, instead of when lookups have paid for them:
    /// for a process that knows it will answer many lookups at small radii,
    /// and for benchmarks of the tables. Nothing during a bulk load.
    pub fn build_tables(&self) {
        for shelf in self.by_kind.values() {
            shelf.build_tables();
        }
    }

    /// Add one hash of one image. Cheap at any size: the substring tables, when
    /// built, take one more entry number each, nothing is rebuilt.
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
        let index_from = self.index_from;
        self.by_kind
            .entry(bits.kind)
            .or_insert_with(|| Shelf::new(bits.kind, index_from))
            .push(&bits.words, image_id, region);
    }

    /// Add the visual words of one image's local features.
    pub fn insert_words(&mut self, image_id: i64, words: &[features::Word]) {
        self.features.insert(image_id, words);
    }

    /// The local-feature index.
    pub fn features(&self) -> &features::FeatureIndex {
        &self.features
    }

    /// Number of stored hashes of one kind.
    pub fn len(&self, kind: HashKind) -> usize {
        self.by_kind.get(&kind).map_or(0, Shelf::len)
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.by_kind.values().all(|s| s.len() == 0)
    }

    /// Heap bytes held for one kind's hashes and tables.
    pub fn memory(&self, kind: HashKind) -> MemoryUse {
        let (entries, b) = match self.by_kind.get(&kind) {
            None => return MemoryUse::default(),
            Some(Shelf::Short(s)) => (s.len(), s.bytes()),
            Some(Shelf::Long(s)) => (s.len(), s.bytes()),
        };
        MemoryUse {
            entries,
            entry_bytes: b.entries,
            mapped_bytes: b.mapped,
            posting_bytes: b.postings,
            table_bytes: b.list_headers,
        }
    }

    fn hits<const W: usize>(&self, store: &Store<W>, found: Vec<(u32, u32)>) -> Vec<Hit> {
        found
            .into_iter()
            .map(|(distance, e)| Hit {
                image_id: store.image_id(e),
                region: self
                    .regions
                    .get(store.region(e) as usize)
                    .cloned()
                    .unwrap_or_default(),
                distance,
            })
            .collect()
    }

    fn within_by(&self, query: &HashBits, max_distance: u32, plan: Plan) -> Vec<Hit> {
        fn run<const W: usize>(s: &Store<W>, q: &[u64; W], r: u32, plan: Plan) -> Vec<(u32, u32)> {
            match plan {
                Plan::Auto => s.within(q, r),
                Plan::Scan => s.within_scan(q, r),
                #[cfg(test)]
                Plan::Tables => {
                    s.build_tables();
                    s.within_indexed(q, r, f64::INFINITY)
                        .unwrap_or_else(|| s.within_scan(q, r))
                }
            }
        }
        match self.by_kind.get(&query.kind) {
            None => Vec::new(),
            Some(Shelf::Short(s)) => {
                self.hits(s, run(s, &narrow(&query.words), max_distance, plan))
            }
            Some(Shelf::Long(s)) => self.hits(s, run(s, &narrow(&query.words), max_distance, plan)),
        }
    }

    fn nearest_by(&self, query: &HashBits, k: usize, cap: u32, plan: Plan) -> Vec<Hit> {
        fn run<const W: usize>(
            s: &Store<W>,
            q: &[u64; W],
            k: usize,
            cap: u32,
            plan: Plan,
        ) -> Vec<(u32, u32)> {
            match plan {
                Plan::Auto => s.nearest(q, k, cap),
                Plan::Scan => s.nearest_with_budget(q, k, cap, 0.0),
                #[cfg(test)]
                Plan::Tables => {
                    s.build_tables();
                    s.nearest_with_budget(q, k, cap, f64::INFINITY)
                }
            }
        }
        match self.by_kind.get(&query.kind) {
            None => Vec::new(),
            Some(Shelf::Short(s)) => self.hits(s, run(s, &narrow(&query.words), k, cap, plan)),
            Some(Shelf::Long(s)) => self.hits(s, run(s, &narrow(&query.words), k, cap, plan)),
        }
    }

    /// Every stored hash of the same kind within `max_distance`, nearest first
    /// (ties by image id, then insertion order).
    pub fn within(&self, query: &HashBits, max_distance: u32) -> Vec<Hit> {
        self.within_by(query, max_distance, Plan::Auto)
    }

    /// The `k` nearest stored hashes of the same kind (ties by image id, then
    /// insertion order), any distance. Exact, so its cost is set by how far the
    /// k-th neighbour is: far (no near copies stored) means a scan.
    pub fn nearest(&self, query: &HashBits, k: usize) -> Vec<Hit> {
        self.nearest_by(query, k, u32::MAX, Plan::Auto)
    }

    /// [`MemoryIndex::nearest`] among the hashes within `max_distance` only: a
    /// bounded search the substring tables can always answer when `within` can.
    pub fn nearest_within(&self, query: &HashBits, k: usize, max_distance: u32) -> Vec<Hit> {
        self.nearest_by(query, k, max_distance, Plan::Auto)
    }

    /// For each query, the stored hashes of its kind within `radius(kind)`
    /// together with its `k` nearest, nearest first: the union of
    /// [`MemoryIndex::within`] and [`MemoryIndex::nearest`] (each stored hash
    /// once), answered for all queries at once so that those the tables cannot
    /// answer cheaply share one pass over the stored hashes (see
    /// `Store::search_many`), run on rayon's workers.
    pub fn search_many(
        &self,
        queries: &[HashBits],
        radius: impl Fn(HashKind) -> u32,
        k: usize,
    ) -> Vec<Vec<Hit>> {
        self.search_many_by(queries, radius, k, Plan::Auto)
    }

    fn search_many_by(
        &self,
        queries: &[HashBits],
        radius: impl Fn(HashKind) -> u32,
        k: usize,
        plan: Plan,
    ) -> Vec<Vec<Hit>> {
        fn run<const W: usize>(
            s: &Store<W>,
            qs: &[[u64; W]],
            r: u32,
            k: usize,
            threads: usize,
            plan: Plan,
        ) -> Vec<Vec<(u32, u32)>> {
            match plan {
                Plan::Auto => s.search_many(qs, r, k, threads),
                Plan::Scan => s.search_many_with_budget(qs, r, k, threads, 0.0),
                #[cfg(test)]
                Plan::Tables => s.search_many_with_budget(qs, r, k, threads, f64::INFINITY),
            }
        }
        let mut out: Vec<Vec<Hit>> = vec![Vec::new(); queries.len()];
        let threads = rayon::current_num_threads();
        for (kind, shelf) in &self.by_kind {
            let picked: Vec<usize> = (0..queries.len())
                .filter(|&i| queries[i].kind == *kind)
                .collect();
            if picked.is_empty() {
                continue;
            }
            let r = radius(*kind);
            match shelf {
                Shelf::Short(s) => {
                    let qs: Vec<[u64; 1]> =
                        picked.iter().map(|&i| narrow(&queries[i].words)).collect();
                    for (&i, found) in picked.iter().zip(run(s, &qs, r, k, threads, plan)) {
                        out[i] = self.hits(s, found);
                    }
                }
                Shelf::Long(s) => {
                    let qs: Vec<[u64; 4]> =
                        picked.iter().map(|&i| narrow(&queries[i].words)).collect();
                    for (&i, found) in picked.iter().zip(run(s, &qs, r, k, threads, plan)) {
                        out[i] = self.hits(s, found);
                    }
                }
            }
        }
        out
    }

    /// [`MemoryIndex::within`] by a linear scan of every stored hash: the reference
    /// the index is tested against, for benchmarks and cross-checks.
    pub fn within_scan(&self, query: &HashBits, max_distance: u32) -> Vec<Hit> {
        self.within_by(query, max_distance, Plan::Scan)
    }

    /// [`MemoryIndex::nearest`] by a linear scan of every stored hash.
    pub fn nearest_scan(&self, query: &HashBits, k: usize) -> Vec<Hit> {
        self.nearest_by(query, k, u32::MAX, Plan::Scan)
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

    /// splitmix64: seeded and reproducible without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn hash(&mut self, kind: HashKind) -> HashBits {
            let mut words = [0u64; 4];
            for w in words.iter_mut().take(kind.bits() as usize / 64) {
                *w = self.next();
            }
            HashBits { kind, words }
        }

        /// `h` with exactly `d` distinct bits flipped.
        fn at_distance(&mut self, h: &HashBits, d: u32) -> HashBits {
            let bits = h.kind.bits() as usize;
            let mut order: Vec<usize> = (0..bits).collect();
            for i in 0..d as usize {
                let j = i + self.below(bits - i);
                order.swap(i, j);
            }
            let mut out = *h;
            for &b in &order[..d as usize] {
                out.words[b / 64] ^= 1 << (b % 64);
            }
            assert_eq!(out.distance(h), Some(d));
            out
        }
    }

    /// What was inserted, in insertion order, for a brute force that shares no code
    /// with the index.
    #[derive(Default)]
    struct Rows(Vec<(HashBits, i64, String)>);

    impl Rows {
        fn add(&mut self, idx: &mut [&mut MemoryIndex], h: HashBits, id: i64, region: &str) {
            for i in idx.iter_mut() {
                i.insert(id, region, h);
            }
            self.0.push((h, id, region.to_string()));
        }

        fn sorted(&self, q: &HashBits) -> Vec<Hit> {
            let mut all: Vec<(u32, i64, usize, Hit)> = self
                .0
                .iter()
                .enumerate()
                .filter_map(|(n, (h, id, region))| {
                    let d = h.distance(q)?;
                    let hit = Hit {
                        image_id: *id,
                        region: region.clone(),
                        distance: d,
                    };
                    Some((d, *id, n, hit))
                })
                .collect();
            all.sort_by_key(|x| (x.0, x.1, x.2));
            all.into_iter().map(|x| x.3).collect()
        }
    }

    /// Every way of answering agrees with the brute force, order included. The
    /// tables are forced (no fallback to the scan) wherever that stays quick: up to
    /// a quarter of the bits, beyond which their enumeration is all of the buckets.
    fn agree(idx: &MemoryIndex, rows: &Rows, q: &HashBits, radii: &[u32], ks: &[usize]) {
        let all = rows.sorted(q);
        let forced = q.kind.bits() / 4;
        for &r in radii {
            let expect: Vec<Hit> = all.iter().filter(|h| h.distance <= r).cloned().collect();
            let what = format!("{:?} within {r} of {}", q.kind, q.to_hex());
            assert_eq!(idx.within(q, r), expect, "auto: {what}");
            assert_eq!(idx.within_scan(q, r), expect, "scan: {what}");
            if r <= forced {
                assert_eq!(idx.within_by(q, r, Plan::Tables), expect, "tables: {what}");
            }
        }
        for &k in ks {
            let expect: Vec<Hit> = all.iter().take(k).cloned().collect();
            let what = format!("{:?} {k} nearest to {}", q.kind, q.to_hex());
            assert_eq!(idx.nearest(q, k), expect, "auto: {what}");
            assert_eq!(idx.nearest_scan(q, k), expect, "scan: {what}");
            if expect.last().is_some_and(|h| h.distance <= forced) {
                assert_eq!(
                    idx.nearest_by(q, k, u32::MAX, Plan::Tables),
                    expect,
                    "tables: {what}"
                );
            }
            for &cap in radii {
                let expect: Vec<Hit> = expect
                    .iter()
                    .filter(|h| h.distance <= cap)
                    .cloned()
                    .collect();
                assert_eq!(
                    idx.nearest_within(q, k, cap),
                    expect,
                    "auto cap {cap}: {what}"
                );
                // A few caps suffice to cover stopping at the cap on every table.
                if [0, 1, 9, 16, 31, 47].contains(&cap) && cap <= forced {
                    assert_eq!(
                        idx.nearest_by(q, k, cap, Plan::Tables),
                        expect,
                        "tables cap {cap}: {what}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_bulk_load_answers_like_incremental_inserts_with_no_more_memory() {
        for kind in [HashKind::Pdq, HashKind::Phash] {
            let mut rng = Rng(7);
            let queries: Vec<HashBits> = (0..8).map(|_| rng.hash(kind)).collect();
            let mut rows = Vec::new();
            for i in 0..3000 {
                // Near neighbours of the queries among random hashes.
                let h = if i % 100 == 0 {
                    let d = rng.below(12) as u32;
                    rng.at_distance(&queries[i / 100 % queries.len()], d)
                } else {
                    rng.hash(kind)
                };
                rows.push((i as i64 / 3, if i % 2 == 0 { "full" } else { "top85" }, h));
            }
            let (mut one_by_one, mut bulk) = (indexed_from(256), indexed_from(256));
            for (i, &(id, region, h)) in rows.iter().enumerate() {
                one_by_one.insert(id, region, h);
                if i + 1 == 256 {
                    one_by_one.build_tables();
                }
            }
            bulk.start_bulk();
            for &(id, region, h) in &rows[..2000] {
                bulk.insert(id, region, h);
            }
            bulk.build_tables();
            assert_eq!(bulk.memory(kind).posting_bytes, 0, "tables deferred");
            bulk.finish_bulk();
            assert_eq!(bulk.memory(kind).posting_bytes, 0, "tables built lazily");
            bulk.build_tables();
            // Incremental again after the bulk.
            for &(id, region, h) in &rows[2000..] {
                bulk.insert(id, region, h);
            }
            let (a, b) = (one_by_one.memory(kind), bulk.memory(kind));
            assert!(b.posting_bytes > 0, "tables built at the end");
            assert!(b.posting_bytes <= a.posting_bytes, "{b:?} vs {a:?}");
            for q in &queries {
                for r in [0, 8, 20] {
                    assert_eq!(bulk.within_by(q, r, Plan::Tables), one_by_one.within(q, r));
                }
                assert_eq!(bulk.nearest(q, 3), one_by_one.nearest(q, 3));
            }
        }
    }

    fn indexed_from(n: usize) -> MemoryIndex {
        MemoryIndex {
            index_from: n,
            ..MemoryIndex::default()
        }
    }

    /// Random hashes with, around each of a few query points, one planted neighbour
    /// at every distance 0..=40 (some sharing image ids, some in a second region),
    /// inserted in two halves; checked after each half, with tables built from the
    /// first insert, built part-way (bulk then incremental), and without tables.
    fn planted(kind: HashKind, seed: u64) {
        let mut rng = Rng(seed);
        let queries: Vec<HashBits> = (0..10).map(|_| rng.hash(kind)).collect();
        let mut pending: Vec<(HashBits, i64, &str)> =
            (0..3000).map(|id| (rng.hash(kind), id, "full")).collect();
        for q in &queries {
            for d in 0..=40 {
                let id = rng.below(3000) as i64;
                let region = if d % 3 == 0 { "crop" } else { "full" };
                pending.push((rng.at_distance(q, d), id, region));
            }
            // A copy of a query point stored twice for one image: ties by insertion order.
            pending.push((*q, 7, "full"));
            pending.push((*q, 7, "crop"));
        }
        for i in (1..pending.len()).rev() {
            pending.swap(i, rng.below(i + 1));
        }
        let (mut eager, mut midway, mut never) = (
            indexed_from(0),
            indexed_from(1000),
            indexed_from(usize::MAX),
        );
        // Tables from the first insert on, from the 1000th on, and never (not
        // even when asked for).
        let mut rows = Rows::default();
        let mut added = 0;
        let radii: &[u32] = if kind.bits() == 64 {
            &[
                0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 15, 16, 17, 20, 24, 31, 32, 40, 63, 64,
            ]
        } else {
            &[
                0, 1, 2, 5, 10, 15, 16, 17, 20, 31, 32, 40, 47, 48, 63, 64, 100, 255, 256,
            ]
        };
        let ks = [1, 2, 3, 7, 41, 44];
        let half = pending.len() / 2;
        for part in [&pending[..half], &pending[half..]] {
            for &(h, id, region) in part {
                rows.add(&mut [&mut eager, &mut midway, &mut never], h, id, region);
                added += 1;
                if added == 1 || added == 1000 {
                    for idx in [&eager, &midway, &never] {
                        idx.build_tables();
                    }
                }
            }
            let stored: Vec<HashBits> = (0..3).map(|_| rows.0[rng.below(rows.0.len())].0).collect();
            let random: Vec<HashBits> = (0..3).map(|_| rng.hash(kind)).collect();
            for q in queries.iter().chain(&stored).chain(&random) {
                for idx in [&eager, &midway, &never] {
                    agree(idx, &rows, q, radii, &ks);
                }
            }
            // All of them at once, with a query of a kind not stored mixed in.
            let other = if kind == HashKind::Pdq {
                HashKind::Dhash
            } else {
                HashKind::Pdq
            };
            let mut many: Vec<HashBits> = queries
                .iter()
                .chain(&stored)
                .chain(&random)
                .copied()
                .collect();
            many.insert(4, rng.hash(other));
            let quarter = kind.bits() / 4;
            for (r, k) in [
                (quarter, 3),
                (0, 1),
                (1, 7),
                (radii[5], 0),
                (2 * quarter, 7),
                (quarter, 44),
            ] {
                let expect: Vec<Vec<Hit>> = many
                    .iter()
                    .map(|q| {
                        rows.sorted(q)
                            .into_iter()
                            .enumerate()
                            .filter(|(n, h)| h.distance <= r || *n < k)
                            .map(|(_, h)| h)
                            .collect()
                    })
                    .collect();
                for idx in [&eager, &midway, &never] {
                    assert_eq!(
                        idx.search_many(&many, |_| r, k),
                        expect,
                        "{kind:?} search_many within {r} and {k} nearest"
                    );
                    assert_eq!(
                        idx.search_many_by(&many, |_| r, k, Plan::Scan),
                        expect,
                        "{kind:?} search_many by one pass, within {r} and {k} nearest"
                    );
                    // The tables' enumeration is all of the buckets beyond a quarter.
                    if r <= quarter / 2 && k <= 7 {
                        assert_eq!(
                            idx.search_many_by(&many, |_| r, k, Plan::Tables),
                            expect,
                            "{kind:?} search_many by tables, within {r} and {k} nearest"
                        );
                    }
                }
            }
        }
        assert_eq!(eager.len(kind), rows.0.len());
        assert!(eager.memory(kind).posting_bytes >= 4 * (kind.bits() as usize / 16) * rows.0.len());
        assert_eq!(never.memory(kind).posting_bytes, 0);
    }

    #[test]
    fn planted_neighbours_pdq_agree_with_brute_force() {
        planted(HashKind::Pdq, 1);
    }

    #[test]
    fn planted_neighbours_phash_agree_with_brute_force() {
        planted(HashKind::Phash, 2);
    }

    #[test]
    fn tables_are_built_once_lookups_have_paid_for_them_and_keep_growing() {
        // The default threshold, crossed by plain inserts.
        let mut idx = MemoryIndex::new();
        let mut rows = Rows::default();
        let mut rng = Rng(3);
        let q = rng.hash(HashKind::Pdq);
        let mut add = |idx: &mut MemoryIndex, rows: &mut Rows, n: usize| {
            let h = if n % 1000 == 0 {
                rng.at_distance(&q, (n / 1000) as u32 % 60)
            } else {
                rng.hash(HashKind::Pdq)
            };
            rows.add(&mut [idx], h, n as i64, "full");
        };
        for n in 0..mih::INDEX_FROM - 1 {
            add(&mut idx, &mut rows, n);
        }
        idx.build_tables();
        assert_eq!(
            idx.memory(HashKind::Pdq).posting_bytes,
            0,
            "below the threshold"
        );
        for n in mih::INDEX_FROM - 1..mih::INDEX_FROM + 5000 {
            add(&mut idx, &mut rows, n);
        }
        // Lookups a scan answers as cheaply never build them, however many:
        // matching's, at its default radii.
        let p = crate::matching::MatchParams::default();
        for _ in 0..300 {
            idx.search_many(&[q], |_| p.pdq_possible, p.nearest_per_view);
            idx.within(&q, 60);
            idx.nearest(&q, 3);
        }
        assert_eq!(idx.memory(HashKind::Pdq).posting_bytes, 0, "not worth it");
        // Lookups at a small radius do, once they have together forgone what
        // building costs, and not at the first.
        let mut lookups = 0;
        while idx.memory(HashKind::Pdq).posting_bytes == 0 {
            assert_eq!(idx.within(&q, 10), idx.within_scan(&q, 10));
            lookups += 1;
            assert!(lookups < 1000, "still no tables after {lookups} lookups");
        }
        assert!(lookups > 1, "built at the first lookup");
        let built = idx.memory(HashKind::Pdq).posting_bytes;
        for n in mih::INDEX_FROM + 5000..mih::INDEX_FROM + 9000 {
            add(&mut idx, &mut rows, n);
        }
        assert!(
            idx.memory(HashKind::Pdq).posting_bytes > built,
            "inserts go into them"
        );
        agree(&idx, &rows, &q, &[0, 10, 31, 40], &[1, 3, 30]);
    }

    #[test]
    fn many_identical_hashes_still_answer_exactly() {
        // One bucket holding most of the archive sends the search to the scan.
        let mut idx = indexed_from(0);
        let mut rows = Rows::default();
        let mut rng = Rng(4);
        let blank = HashBits {
            kind: HashKind::Pdq,
            words: [0; 4],
        };
        for id in 0..3000 {
            let h = if id % 3 == 0 {
                rng.hash(HashKind::Pdq)
            } else {
                blank
            };
            rows.add(&mut [&mut idx], h, id, "full");
        }
        let near = rng.at_distance(&blank, 5);
        agree(&idx, &rows, &near, &[0, 4, 5, 31], &[1, 5, 2500]);
    }

    #[test]
    fn meta_needles_against_haystack_match_the_published_brute_force() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ref/pdq");
        let read = |p: &str| std::fs::read_to_string(root.join(p));
        let (Ok(haystack), Ok(needles), Ok(tsv)) = (
            read("images/reg-test-input/haystack.txt"),
            read("images/reg-test-input/needles.txt"),
            read("expected/needles_vs_haystack_bruteforce.tsv"),
        ) else {
            eprintln!("skipped: ../shared/ref/pdq not present");
            return;
        };
        let parse = |s: &str| -> Vec<HashBits> {
            s.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| HashBits::from_hex(HashKind::Pdq, l.trim()).expect("PDQ hex"))
                .collect()
        };
        let (haystack, needles) = (parse(&haystack), parse(&needles));
        assert_eq!((haystack.len(), needles.len()), (1350, 100));
        // Rows: needle index, needle, haystack index, haystack hash, distance; every
        // pair within 63 is listed.
        let mut expected: Vec<Vec<(u32, i64)>> = vec![Vec::new(); needles.len()];
        for line in tsv
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let f: Vec<&str> = line.split('\t').collect();
            let (n, h, d): (usize, usize, u32) = (
                f[0].parse().unwrap(),
                f[2].parse().unwrap(),
                f[4].parse().unwrap(),
            );
            assert_eq!(needles[n].to_hex(), f[1]);
            assert_eq!(haystack[h].to_hex(), f[3]);
            expected[n].push((d, h as i64));
        }
        for e in &mut expected {
            e.sort();
        }
        let (mut tables, mut plain) = (indexed_from(0), MemoryIndex::new());
        for (i, h) in haystack.iter().enumerate() {
            tables.insert(i as i64, "full", *h);
            plain.insert(i as i64, "full", *h);
        }
        tables.build_tables();
        plain.build_tables();
        assert_eq!(plain.memory(HashKind::Pdq).posting_bytes, 0, "too few");
        let as_pairs = |hits: Vec<Hit>| -> Vec<(u32, i64)> {
            hits.into_iter().map(|h| (h.distance, h.image_id)).collect()
        };
        let mut found = 0;
        for (n, q) in needles.iter().enumerate() {
            for r in [0, 10, 31, 63] {
                let expect: Vec<(u32, i64)> =
                    expected[n].iter().copied().filter(|p| p.0 <= r).collect();
                assert_eq!(as_pairs(tables.within(q, r)), expect, "needle {n} r {r}");
                assert_eq!(
                    as_pairs(tables.within_by(q, r, Plan::Tables)),
                    expect,
                    "needle {n} r {r}"
                );
                assert_eq!(as_pairs(plain.within(q, r)), expect, "needle {n} r {r}");
                found += expect.len();
            }
            for k in [1, 3, 4, 10] {
                let scan = as_pairs(tables.nearest_scan(q, k));
                assert_eq!(as_pairs(tables.nearest(q, k)), scan, "needle {n} k {k}");
                // Forced tables bounded to 47: farther, they enumerate most buckets.
                let near: Vec<(u32, i64)> = scan.iter().copied().filter(|p| p.0 <= 47).collect();
                assert_eq!(
                    as_pairs(tables.nearest_by(q, k, 47, Plan::Tables)),
                    near,
                    "needle {n} k {k}"
                );
                if expected[n].len() >= k {
                    assert_eq!(scan, expected[n][..k].to_vec(), "needle {n} k {k}");
                }
            }
        }
        assert!(found > 0);
    }
}
