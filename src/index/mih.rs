//! The hashes of one kind and the exact searches over them: flat entry arrays, the
//! multi-index substring tables (Norouzi, Punjani & Fleet, "Fast Exact Search in
//! Hamming Space With Multi-Index Hashing", TPAMI 2014), and the cost model that
//! picks between probing those tables and a linear scan.
//!
//! # Why multi-index hashing, and these parameters
//!
//! A hash of `64 · W` bits is cut into `m = 4 · W` substrings of 16 bits (4 for
//! pHash/dHash, 16 for PDQ). Pigeonhole: if two hashes differ in at most
//! `r = m·s + a` bits (`0 ≤ a < m`), then one of the first `a + 1` substrings differs
//! in at most `s` bits or one of the others in at most `s − 1` (otherwise the total
//! would be at least `(a+1)(s+1) + (m−a−1)s = r + 1`). So a search probes, per
//! table, every key within that sub-radius of the query's substring, and verifies
//! the entries found there with the full distance. Nothing within `r` can be
//! missed, which is what makes it exact rather than approximate.
//!
//! For PDQ at Meta's radius 31 that is `s = 1` on all 16 tables: 16 × 17 = 272
//! probes. With `n` stored hashes a bucket holds `n / 65,536` entries on average,
//! so about `272 · n / 65,536` unrelated candidates are verified (≈ 41,500 at 10 M,
//! 0.4 % of the archive). Longer substrings would verify fewer candidates (Norouzi
//! suggest `m ≈ bits / log2 n`, ~11 at 10 M) but need far more probes and tables
//! of 2^22+ buckets, a fixed cost paid even by a small archive, and the best `m`
//! moves as the archive grows, which would mean rebuilding. 16-bit keys keep each
//! table a plain array of 65,536 posting lists addressed by the key itself: no
//! hashing, no rebuild, and `insert` appends one `u32` to one list per table.
//!
//! # Memory per entry
//!
//! Struct of arrays: `8·W` bytes of hash words, 8 of image id, 2 of region id, and
//! one `u32` entry number per table (`4·m` = 64 bytes for PDQ, 16 for the 64-bit
//! kinds). Lists grow by a quarter rather than doubling, so they carry about 12 %
//! slack on average. The tables' list headers are a fixed 24 × 65,536 × m bytes
//! (25 MB for PDQ) and are only allocated once a kind holds [`INDEX_FROM`] hashes:
//! below that a scan is as fast and costs nothing. PDQ: ~42 + ~72 ≈ 115 bytes per
//! entry at 10 M, about 1.15 GB.
//!
//! # When the index is not used
//!
//! Probing grows combinatorially with the sub-radius (`s = 2` is 137 probes per
//! table, `s = 4` is 2,517). Each search first prices its plan (probes and the
//! expected candidates, each candidate a random memory access) against a scan of
//! every entry (sequential) and takes the cheaper; it also counts the candidates
//! it actually meets, so a bucket swollen by many identical hashes sends it to the
//! scan too. In practice: PDQ radius ≤ ~40 and 64-bit radius ≤ ~9 use the tables;
//! PDQ at 64 (retrace's "possible" threshold) or pHash at 14 scan, because about a
//! quarter of all bits may differ there and no exact index helps much.
//!
//! k-nearest searches widen the radius stage by stage (one table at a time, in
//! the same order as the pigeonhole argument above) and stop once the k-th best
//! distance found is within the radius already covered. How far the k-th
//! neighbour is cannot be known in advance: in an archive of unrelated pictures
//! the third-nearest PDQ is ~85 bits away, beyond any useful radius. So unless the
//! caller bounds the distance, the widening gets a quarter of a scan's cost and
//! then hands over to the scan, keeping what it found: never worse than 1.25 scans.

use std::sync::OnceLock;

/// Bits per substring key: a table is a direct-addressed array of 2^16 lists.
const KEY_BITS: u32 = 16;
const BUCKETS: usize = 1 << KEY_BITS;

/// A kind gets its substring tables once it holds this many hashes. Below it a
/// scan takes a few tens of microseconds, and the tables' fixed 6 MB (64-bit) or
/// 25 MB (PDQ) of list headers would dwarf the entries.
pub(super) const INDEX_FROM: usize = 1 << 15;

// The cost model, in rough nanoseconds on one core of the machine these were
// measured on (examples/index_scale.rs prints the figures to re-derive them).
// Only their ratios matter: they decide between the tables and a scan.

/// Scanning one stored 256-bit hash: sequential, four popcounts.
const SCAN_COST_256: u64 = 4;
/// Scanning one stored 64-bit hash.
const SCAN_COST_64: u64 = 1;
/// One probe: a list header and the first line of its list, usually cache misses.
const PROBE_COST: u64 = 40;
/// Verifying one candidate: a random access into the hash words, a cache miss
/// once the archive outgrows the last-level cache.
const CANDIDATE_COST: u64 = 20;

/// All 16-bit masks ordered by popcount, to enumerate the keys within a sub-radius.
struct Masks {
    by_weight: Vec<u16>,
    /// `by_weight[start[w]..start[w + 1]]` are the masks with `w` bits set.
    start: [usize; KEY_BITS as usize + 2],
}

impl Masks {
    fn get() -> &'static Masks {
        static MASKS: OnceLock<Masks> = OnceLock::new();
        MASKS.get_or_init(|| {
            let mut by_weight: Vec<u16> = (0..=u16::MAX).collect();
            by_weight.sort_by_key(|m| (m.count_ones(), *m));
            let mut start = [0; KEY_BITS as usize + 2];
            for w in 0..=KEY_BITS as usize {
                start[w + 1] = start[w] + by_weight.iter().filter(|m| m.count_ones() as usize == w).count();
            }
            Masks { by_weight, start }
        })
    }

    /// Masks with exactly `w` bits set.
    fn of_weight(&self, w: u32) -> &[u16] {
        let w = w.min(KEY_BITS) as usize;
        &self.by_weight[self.start[w]..self.start[w + 1]]
    }

    /// Masks with at most `w` bits set.
    fn up_to(&self, w: u32) -> &[u16] {
        &self.by_weight[..self.start[w.min(KEY_BITS) as usize + 1]]
    }
}

/// Substring `t` of a hash: 16 bits, most significant first, so table 0 keys on
/// the first four hex digits.
#[inline]
fn key<const W: usize>(words: &[u64; W], t: usize) -> usize {
    ((words[t / 4] >> (48 - 16 * (t % 4))) & 0xFFFF) as usize
}

#[inline]
fn distance<const W: usize>(a: &[u64; W], b: &[u64; W]) -> u32 {
    let mut d = 0;
    for i in 0..W {
        d += (a[i] ^ b[i]).count_ones();
    }
    d
}

/// Distance over the first half of the words. For a random hash it already
/// exceeds the small radii (64 ± 6 of 128 bits for PDQ), so a scan seldom needs
/// the second half.
#[inline]
fn head<const W: usize>(a: &[u64; W], b: &[u64; W]) -> u32 {
    let mut d = 0;
    for i in 0..W.div_ceil(2) {
        d += (a[i] ^ b[i]).count_ones();
    }
    d
}

/// Distance over the words [`head`] leaves out.
#[inline]
fn tail<const W: usize>(a: &[u64; W], b: &[u64; W]) -> u32 {
    let mut d = 0;
    for i in W.div_ceil(2)..W {
        d += (a[i] ^ b[i]).count_ones();
    }
    d
}

/// Append with a quarter's growth instead of doubling: posting lists are most of
/// the memory, and doubling would leave a third of it empty on average.
#[inline]
fn push_compact<T>(v: &mut Vec<T>, x: T) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 4).max(4));
    }
    v.push(x);
}

/// The hash words of a store, packed into 64-byte-aligned cache lines, `8 / W`
/// hashes per line. Verifying a candidate is a random access, so it must touch one
/// line: in a plain `Vec<[u64; 4]>` the allocator's 16-byte chunk header leaves every
/// other PDQ hash straddling two lines, which made k-nearest searches (that read all
/// four words of each candidate) half again slower.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([u64; 8]);

struct Words<const W: usize> {
    lines: Vec<Line>,
    len: usize,
}

impl<const W: usize> Words<W> {
    const PER_LINE: usize = 8 / W;

    fn new() -> Words<W> {
        Words {
            lines: Vec::new(),
            len: 0,
        }
    }

    #[inline]
    fn get(&self, e: usize) -> &[u64; W] {
        Self::slot(&self.lines[e / Self::PER_LINE], e % Self::PER_LINE)
    }

    fn push(&mut self, w: [u64; W]) {
        let off = (self.len % Self::PER_LINE) * W;
        if off == 0 {
            push_compact(&mut self.lines, Line([0; 8]));
        }
        let last = self.lines.len() - 1;
        self.lines[last].0[off..off + W].copy_from_slice(&w);
        self.len += 1;
    }

    /// Every hash in entry order, with its entry number. Whole lines first, with a
    /// constant trip count the compiler unrolls, then the last partial line.
    #[inline]
    fn for_each(&self, mut f: impl FnMut(usize, &[u64; W])) {
        let full = self.len / Self::PER_LINE;
        for (l, line) in self.lines[..full].iter().enumerate() {
            for j in 0..Self::PER_LINE {
                f(l * Self::PER_LINE + j, Self::slot(line, j));
            }
        }
        if let Some(line) = self.lines.get(full) {
            for j in 0..self.len % Self::PER_LINE {
                f(full * Self::PER_LINE + j, Self::slot(line, j));
            }
        }
    }

    #[inline]
    fn slot(line: &Line, j: usize) -> &[u64; W] {
        line.0[j * W..j * W + W].try_into().expect("W divides 8")
    }

    fn bytes(&self) -> usize {
        self.lines.capacity() * std::mem::size_of::<Line>()
    }
}

/// The substring tables: `4·W` tables of [`BUCKETS`] posting lists of entry numbers,
/// table `t`'s list for key `k` at `t << 16 | k`.
struct Tables {
    lists: Vec<Vec<u32>>,
}

impl Tables {
    fn build<const W: usize>(words: &Words<W>) -> Tables {
        // Counting first gives every list its exact size: a bulk load carries no slack.
        let m = 4 * W;
        let mut counts = vec![0u32; m * BUCKETS];
        words.for_each(|_, w| {
            for t in 0..m {
                counts[t << KEY_BITS | key(w, t)] += 1;
            }
        });
        let mut lists: Vec<Vec<u32>> = counts
            .iter()
            .map(|&c| Vec::with_capacity(c as usize))
            .collect();
        words.for_each(|i, w| {
            for t in 0..m {
                lists[t << KEY_BITS | key(w, t)].push(i as u32);
            }
        });
        Tables { lists }
    }

    /// Append the entries under table `t`'s keys `key(q, t) ^ mask` to `out` and
    /// return what that is priced at. All lists are copied out before any entry is
    /// verified: the list headers and heads are independent loads whose cache
    /// misses overlap, where verifying list by list would wait for each in turn.
    fn gather<const W: usize>(&self, q: &[u64; W], t: usize, masks: &[u16], out: &mut Vec<u32>) -> u64 {
        let (base, qk) = (t << KEY_BITS, key(q, t));
        let mut cost = 0u64;
        for &mask in masks {
            let list = &self.lists[base | (qk ^ mask as usize)];
            cost += PROBE_COST + list.len() as u64 * CANDIDATE_COST;
            out.extend_from_slice(list);
        }
        cost
    }

    fn add<const W: usize>(&mut self, w: &[u64; W], entry: u32) {
        for t in 0..4 * W {
            push_compact(&mut self.lists[t << KEY_BITS | key(w, t)], entry);
        }
    }
}

/// Heap bytes of one kind's store, from the capacities actually allocated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Bytes {
    pub entries: usize,
    pub postings: usize,
    pub list_headers: usize,
}

/// The k best so far, as (distance, image id, entry) sorted ascending: the order
/// results are returned in, with the entry number (insertion order) breaking ties
/// the way a scan would.
pub(super) struct Top {
    k: usize,
    cap: u32,
    items: Vec<(u32, i64, u32)>,
}

impl Top {
    fn new(k: usize, cap: u32) -> Top {
        Top {
            k,
            cap,
            items: Vec::with_capacity(k.min(1024) + 1),
        }
    }

    fn full(&self) -> bool {
        self.items.len() >= self.k
    }

    /// Entries farther than this cannot enter.
    #[inline]
    fn bound(&self) -> u32 {
        if self.full() {
            self.items[self.k - 1].0
        } else {
            self.cap
        }
    }

    #[inline]
    fn offer(&mut self, d: u32, image_id: i64, entry: u32) {
        if d > self.cap {
            return;
        }
        let item = (d, image_id, entry);
        if self.full() && item >= self.items[self.k - 1] {
            return;
        }
        // The same entry reached through several tables has the same item: keep one.
        if let Err(at) = self.items.binary_search(&item) {
            self.items.insert(at, item);
            self.items.truncate(self.k);
        }
    }
}

/// The hashes of one kind, `W` 64-bit words each, as parallel arrays indexed by
/// entry number (insertion order).
pub(super) struct Store<const W: usize> {
    words: Words<W>,
    image_ids: Vec<i64>,
    regions: Vec<u16>,
    tables: Option<Tables>,
    index_from: usize,
}

impl<const W: usize> std::fmt::Debug for Store<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Millions of entries are no use in a debug print.
        f.debug_struct("Store")
            .field("bits", &(64 * W))
            .field("len", &self.words.len)
            .field("indexed", &self.tables.is_some())
            .finish()
    }
}

impl<const W: usize> Store<W> {
    /// Empty; the tables are built once `index_from` hashes are stored.
    pub(super) fn new(index_from: usize) -> Store<W> {
        Store {
            words: Words::new(),
            image_ids: Vec::new(),
            regions: Vec::new(),
            tables: None,
            index_from,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.words.len
    }

    pub(super) fn image_id(&self, entry: u32) -> i64 {
        self.image_ids[entry as usize]
    }

    pub(super) fn region(&self, entry: u32) -> u16 {
        self.regions[entry as usize]
    }

    /// Add one hash; after the tables exist this touches one list per table and
    /// never rebuilds anything.
    pub(super) fn push(&mut self, words: [u64; W], image_id: i64, region: u16) {
        let entry = u32::try_from(self.words.len)
            .expect("entry numbers are u32: over 4 billion hashes of one kind");
        self.words.push(words);
        push_compact(&mut self.image_ids, image_id);
        push_compact(&mut self.regions, region);
        match &mut self.tables {
            Some(t) => t.add(&words, entry),
            None if self.words.len >= self.index_from => {
                self.tables = Some(Tables::build(&self.words));
            }
            None => {}
        }
    }

    pub(super) fn bytes(&self) -> Bytes {
        let entries = self.words.bytes()
            + self.image_ids.capacity() * 8
            + self.regions.capacity() * 2;
        let (postings, list_headers) = self.tables.as_ref().map_or((0, 0), |t| {
            (
                t.lists.iter().map(|l| l.capacity() * 4).sum(),
                t.lists.capacity() * std::mem::size_of::<Vec<u32>>(),
            )
        });
        Bytes {
            entries,
            postings,
            list_headers,
        }
    }

    fn scan_cost(&self) -> u64 {
        let per = if W == 1 { SCAN_COST_64 } else { SCAN_COST_256 };
        self.len() as u64 * per
    }

    /// The cost of probing `probes` keys: the probes plus their expected
    /// candidates, assuming substrings spread evenly over the keys.
    fn probe_cost(&self, probes: usize) -> u64 {
        let candidates = probes as u64 * self.len() as u64 / BUCKETS as u64;
        probes as u64 * PROBE_COST + candidates * CANDIDATE_COST
    }

    /// Sub-radius of table `t` for a search of radius `r` (pigeonhole, module docs);
    /// `None` when the table need not be probed at all.
    fn sub_radius(r: u32, t: usize) -> Option<u32> {
        let m = 4 * W as u32;
        let (s, a) = (r / m, r % m);
        if t as u32 <= a {
            Some(s)
        } else {
            s.checked_sub(1)
        }
    }

    /// What probing for radius `r` would cost; `None` when every key would be probed.
    fn within_cost(&self, r: u32) -> Option<u64> {
        if r >= 64 * W as u32 {
            return None;
        }
        let masks = Masks::get();
        let probes = (0..4 * W)
            .filter_map(|t| Self::sub_radius(r, t))
            .map(|s| masks.up_to(s).len())
            .sum();
        Some(self.probe_cost(probes))
    }

    /// Every entry within `r` as (distance, entry), in result order.
    pub(super) fn within(&self, q: &[u64; W], r: u32) -> Vec<(u32, u32)> {
        self.within_indexed(q, r, self.scan_cost())
            .unwrap_or_else(|| self.within_scan(q, r))
    }

    /// [`Store::within`] by the tables, or `None` when they are missing or the
    /// search would (or turns out to) cost more than `budget`.
    pub(super) fn within_indexed(&self, q: &[u64; W], r: u32, budget: u64) -> Option<Vec<(u32, u32)>> {
        let tables = self.tables.as_ref()?;
        if self.within_cost(r)? > budget {
            return None;
        }
        let masks = Masks::get();
        let mut candidates = Vec::new();
        let mut spent = 0u64;
        for t in 0..4 * W {
            if let Some(s) = Self::sub_radius(r, t) {
                spent = spent.saturating_add(tables.gather(q, t, masks.up_to(s), &mut candidates));
            }
        }
        // Counting what the lists hold, not what was expected, catches skewed
        // buckets (thousands of copies of one blank-frame hash) before verifying.
        if spent > budget {
            return None;
        }
        let mut hits = Vec::new();
        self.verify(q, &candidates, |d, e| {
            if d <= r {
                hits.push((d, e));
            }
        });
        Some(self.ordered(hits))
    }

    /// Hand each candidate's distance to `each`, a chunk at a time: first copy the
    /// chunk's hashes (random reads with few instructions between them, so dozens
    /// of cache misses are in flight at once), then compute on the copy in L1.
    /// Reading and computing candidate by candidate kept only a few misses in
    /// flight and was about twice as slow.
    #[inline]
    fn verify(&self, q: &[u64; W], candidates: &[u32], mut each: impl FnMut(u32, u32)) {
        const CHUNK: usize = 64;
        let mut copy = [[0u64; W]; CHUNK];
        for chunk in candidates.chunks(CHUNK) {
            for (c, &e) in copy.iter_mut().zip(chunk) {
                *c = *self.words.get(e as usize);
            }
            for (c, &e) in copy.iter().zip(chunk) {
                each(distance(c, q), e);
            }
        }
    }

    /// [`Store::within`] by reading every entry.
    pub(super) fn within_scan(&self, q: &[u64; W], r: u32) -> Vec<(u32, u32)> {
        // Rejecting on the first half only pays while it nearly always rejects
        // (two standard deviations below its mean); nearer the mean the branch
        // would mispredict.
        let split = W > 1 && r + 12 < 16 * W as u32;
        let mut hits = Vec::new();
        self.words.for_each(|e, w| {
            let head = head(w, q);
            if split && head > r {
                return;
            }
            let d = head + tail(w, q);
            if d <= r {
                hits.push((d, e as u32));
            }
        });
        self.ordered(hits)
    }

    /// Sort by (distance, image id, entry) and drop entries found through several tables.
    fn ordered(&self, mut hits: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
        hits.sort_unstable_by_key(|&(d, e)| (d, self.image_id(e), e));
        hits.dedup_by_key(|h| h.1);
        hits
    }

    /// The `k` nearest entries within `cap` as (distance, entry), in result order.
    pub(super) fn nearest(&self, q: &[u64; W], k: usize, cap: u32) -> Vec<(u32, u32)> {
        let scan = self.scan_cost();
        // Up to `cap` the search is priced like `within(cap)`; beyond what it can price
        // the widening is a bet on a near k-th neighbour, limited to a quarter scan.
        let budget = match self.within_cost(cap) {
            Some(c) if c <= scan => scan,
            _ => scan / 4,
        };
        self.nearest_with_budget(q, k, cap, budget)
    }

    /// [`Store::nearest`] with the tables' share of the work limited to `budget`
    /// (`u64::MAX`: tables only, when built; `0`: scan only).
    pub(super) fn nearest_with_budget(&self, q: &[u64; W], k: usize, cap: u32, budget: u64) -> Vec<(u32, u32)> {
        if k == 0 || self.words.len == 0 {
            return Vec::new();
        }
        let mut top = Top::new(k, cap);
        let done = match &self.tables {
            Some(tables) if budget > 0 => self.nearest_indexed(tables, q, &mut top, budget),
            _ => false,
        };
        if !done {
            // What the tables found stays: it only tightens the scan's bound.
            self.nearest_scan(q, &mut top);
        }
        top.items.into_iter().map(|(d, _, e)| (d, e)).collect()
    }

    /// Widen the search one (sub-radius, table) stage at a time; true when `top`
    /// is final, false when the budget ran out first.
    fn nearest_indexed(&self, tables: &Tables, q: &[u64; W], top: &mut Top, budget: u64) -> bool {
        let m = 4 * W;
        let masks = Masks::get();
        let mut spent = 0u64;
        let mut candidates = Vec::new();
        for s in 0..=KEY_BITS {
            let stage = masks.of_weight(s);
            let stage_cost = self.probe_cost(stage.len());
            for t in 0..m {
                if spent.saturating_add(stage_cost) > budget {
                    return false;
                }
                candidates.clear();
                spent = spent.saturating_add(tables.gather(q, t, stage, &mut candidates));
                if spent > budget {
                    return false;
                }
                self.verify(q, &candidates, |d, e| {
                    if d <= top.bound() {
                        top.offer(d, self.image_id(e), e);
                    }
                });
                // Tables 0..=t probed to sub-radius s, the rest to s - 1: everything
                // within m·s + t has been seen (pigeonhole, module docs).
                let covered = m as u32 * s + t as u32;
                if covered >= top.cap || (top.full() && top.bound() <= covered) {
                    return true;
                }
            }
        }
        // Every key of every table probed: every entry seen.
        true
    }

    fn nearest_scan(&self, q: &[u64; W], top: &mut Top) {
        let mut bound = top.bound();
        self.words.for_each(|e, w| {
            let d = distance(w, q);
            if d <= bound {
                top.offer(d, self.image_ids[e], e as u32);
                bound = top.bound();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_enumerate_every_key_by_weight() {
        let m = Masks::get();
        let binom = |n: u64, k: u64| (0..k).fold(1u64, |acc, i| acc * (n - i) / (i + 1));
        for w in 0..=KEY_BITS {
            assert_eq!(m.of_weight(w).len() as u64, binom(16, w as u64));
            assert!(m.of_weight(w).iter().all(|x| x.count_ones() == w));
        }
        assert_eq!(m.up_to(1).len(), 17);
        assert_eq!(m.up_to(KEY_BITS).len(), BUCKETS);
        let mut all = m.by_weight.clone();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), BUCKETS);
    }

    #[test]
    fn substrings_follow_hex_order() {
        let w = [0x0123_4567_89ab_cdefu64, 0xfedc_ba98_7654_3210, 0, 0xffff];
        assert_eq!(key(&w, 0), 0x0123);
        assert_eq!(key(&w, 3), 0xcdef);
        assert_eq!(key(&w, 4), 0xfedc);
        assert_eq!(key(&w, 15), 0xffff);
        assert_eq!(key(&[0xabcd_0000_0000_0001u64], 3), 1);
    }

    #[test]
    fn sub_radii_cover_every_split_of_the_distance() {
        // The pigeonhole claim itself, checked by counting: any way of spreading
        // r differing bits over m substrings leaves some table within its sub-radius.
        fn check<const W: usize>(r: u32) {
            let m = 4 * W;
            // Worst case: every table just over its sub-radius.
            let needed: u32 = (0..m)
                .map(|t| Store::<W>::sub_radius(r, t).map_or(0, |s| s + 1))
                .sum();
            assert_eq!(needed, r + 1, "r={r} m={m}");
        }
        for r in 0..64 {
            check::<1>(r);
        }
        for r in 0..256 {
            check::<4>(r);
        }
    }

    #[test]
    fn top_keeps_k_best_once_each() {
        let mut t = Top::new(2, 10);
        t.offer(5, 1, 0);
        t.offer(5, 1, 0);
        t.offer(11, 0, 1);
        t.offer(3, 9, 2);
        t.offer(5, 0, 3);
        assert_eq!(t.items, vec![(3, 9, 2), (5, 0, 3)]);
        assert_eq!(t.bound(), 5);
    }

    #[test]
    fn lists_grow_by_a_quarter() {
        let mut v = Vec::new();
        for i in 0..1000u32 {
            push_compact(&mut v, i);
        }
        assert!(v.capacity() <= 1250, "{}", v.capacity());
    }
}
