//! The hashes of one kind and the exact searches over them: flat entry arrays, the
//! multi-index substring tables (Norouzi, Punjani & Fleet, "Fast Exact Search in
//! Hamming Space With Multi-Index Hashing", TPAMI 2014), and the cost model that
//! picks between probing those tables and a linear scan.
//!
//! # Multi-index hashing
//!
//! A hash is cut into `m` disjoint substrings. Pigeonhole: if two hashes differ
//! in at most `r = m·s + a` bits (`0 ≤ a < m`), then one of the first `a + 1`
//! substrings differs in at most `s` bits or one of the others in at most `s − 1`
//! (otherwise the total would be at least `(a+1)(s+1) + (m−a−1)s = r + 1`). So a
//! search looks up, per substring table, every stored substring within that
//! sub-radius of the query's, and verifies the entries found with the full
//! distance. Nothing within `r` can be missed: the search is exact, not approximate.
//!
//! # Parameters: PDQ 11 × 24/23 bits, 64-bit kinds 3 × 22/21 bits, 17-bit buckets
//!
//! Once the archive outgrows the caches, what a lookup costs is its random memory
//! accesses: a candidate to verify is one (a 64-byte line of hash words somewhere in
//! 320 MB at 10 M PDQ hashes), a bucket probe one or two plus its list. Measured on
//! the shared 2-core EPYC VM this was written on, at 10 M entries, a sequential
//! scan costs ~4–5 ns per PDQ hash and a random access 100–200 ns.
//!
//! The textbook split for PDQ's radius 31, 16 substrings of 16 bits (sub-radius 1,
//! 16 × 17 = 272 probes), verifies `272 · n / 2^16` unrelated candidates: 41,500 at
//! 10 M, 7 ms here. Longer substrings cut candidates by `2^-bits` but multiply the
//! probes (Norouzi et al. suggest `m ≈ bits / log2 n`, about 11 at 10 M), and a
//! table with 2^24 buckets would cost 400 MB of list headers. The middle way used
//! here: 11 substrings of 24 or 23 bits, each addressed by its first 17 bits (a
//! direct-addressed array of 131,072 posting lists per table) with the remaining
//! 6–7 bits carried inline in each posting. A probe reads one list (`n / 2^17`
//! postings, contiguous) and keeps the postings whose inline bits fit what is left
//! of the sub-radius, so each table filters like a 24-bit table. Radius 31 is
//! `s = 2` on ten tables and 1 on the last: ~1,560 lists, ~119,000 posting checks
//! and ~2,900 candidates at 10 M, against 41,500 candidates for 16 × 16. Measured
//! alternatives: 10 × 26/25 bits probed twice the lists for half the candidates and
//! was slower; 16-bit buckets doubled the posting reads, which dominated. The 64-bit
//! kinds use 3 substrings of 22/21/21 bits the same way (pHash radius 8: ~460 lists,
//! ~3,300 candidates at 10 M).
//!
//! The split is fixed, not chosen from `n`: the best split moves as the archive
//! grows, and changing it would mean a rebuild. So `insert` appends one posting per
//! table (once the tables exist) and never rebuilds anything.
//!
//! # Memory per entry
//!
//! Struct of arrays: hash words (`8·W` bytes, in 64-byte-aligned lines), image id
//! (8), region id (2), and one 6-byte posting per table (inline bits and a `u32`
//! entry number as three `u16`): 66 bytes for PDQ, 18 for the 64-bit kinds. Arrays
//! and lists grow by a quarter rather than doubling, so they carry 0–25 % slack. The
//! list headers are a fixed 3 MB per table (35 MB for PDQ's eleven, 9 MB for a
//! 64-bit kind), only allocated once the tables are built (below). Measured
//! for PDQ (`examples/index_scale.rs`): ~129 bytes per entry at 10 M (1.29 GB of
//! capacity, 1.67 GB peak RSS with the allocator's fragmentation), ~158 at 1 M.
//!
//! # When the tables are not used
//!
//! Each search first prices its plan (list probes, posting checks and expected
//! candidates, with the costs below) against a scan of every entry and takes the
//! cheaper; it also counts what it actually meets, so a bucket swollen by many
//! identical hashes sends it to the scan. Measured crossover, PDQ: radius ~55–60
//! (at 64, retrace's "possible" threshold, the scan wins: a quarter of all bits may
//! differ there and no exact index helps much); pHash/dHash: radius ~14–16.
//!
//! # When the tables are built
//!
//! Not when the hashes are loaded, but when lookups have paid for them: each
//! lookup prices its search by the tables (the plan above, which needs only
//! the layout and `n`) and, when that is cheaper than what it pays without
//! them, adds the difference to what lookups have forgone; once that sum
//! reaches the build's price ([`BUILD_COST`] per entry and table) the tables
//! are built, and used from then on. Never below [`INDEX_FROM`] entries. This
//! is the ski-rental rule: never more than twice the cost of the better
//! choice in hindsight, whether the process goes on to make one lookup or
//! millions. It matters because matching's own lookups are not such lookups:
//! at its default radii (PDQ 64, pHash 14, dHash 16, with the 3 nearest) the
//! shared pass over the hashes is the cheaper plan at any archive size, so a
//! `scan` that built the tables at start-up spent 217 MB (2.2 KB a picture)
//! and 1.1 CPU seconds at 100,000 pictures on tables no lookup used
//! (`examples/snapshot_search.rs`).
//!
//! k-nearest searches widen the radius one (sub-radius, table) stage at a time, in
//! the order of the pigeonhole argument above, and stop once the k-th best distance
//! found is within the radius already covered. How far the k-th neighbour is cannot
//! be known in advance: in an archive of unrelated pictures the third-nearest PDQ is
//! ~85 bits away, beyond any useful radius. So unless the caller bounds the
//! distance, the widening gets a quarter of a scan's price and then hands what it
//! found to the scan: at worst about 1.25 scans.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use rayon::prelude::*;

use std::sync::Arc;

use memmap2::Mmap;

use super::column::{bytes_of, push_compact, Column, Plain, Runs};

/// Bits of a substring that address its bucket: a table is a direct-addressed
/// array of 2^17 posting lists.
const BUCKET_BITS: u32 = 17;
const BUCKETS: usize = 1 << BUCKET_BITS;

/// At most this many substring bits beyond the bucket's travel inline in a posting.
const MAX_INLINE_BITS: u32 = 10;

/// Substring widths by hash width in words, widest first: the first tables get
/// the larger sub-radius (module docs), and a wider substring makes fewer candidates.
fn widths(words: usize) -> &'static [u32] {
    match words {
        1 => &[22, 21, 21],
        _ => &[24, 24, 24, 23, 23, 23, 23, 23, 23, 23, 23],
    }
}

/// A kind gets its substring tables once it holds this many hashes. Below it a
/// scan takes at most a few hundred microseconds, and the tables' fixed 9 MB
/// (64-bit) or 35 MB (PDQ) of list headers would dwarf the entries.
pub(super) const INDEX_FROM: usize = 1 << 15;

// The cost model, in relative units fitted to lookups at 1 M and 10 M entries on
// the machine described above (one unit came to about half a nanosecond there;
// examples/index_scale.rs prints the list, posting and candidate counts to refit
// them). Only the ratios matter: they choose between tables and scan.

/// Scanning one stored 256-bit hash: sequential, four popcounts.
const SCAN_COST_256: f64 = 8.0;
/// Scanning one stored 64-bit hash.
const SCAN_COST_64: f64 = 3.0;
/// Probing one bucket: its list header and the head of its list, usually misses.
const BUCKET_COST: f64 = 200.0;
/// Checking one posting's inline bits: streamed within its list.
const POSTING_COST: f64 = 1.0;
/// Verifying one candidate: a random read of its hash words.
const CANDIDATE_COST: f64 = 150.0;
/// Building the tables, per entry and table: counting, then placing one
/// posting (a random write) per table. Fitted by `examples/snapshot_search.rs`
/// on the 100,000-picture archive of docs/matching.md: 1.1 CPU s for 27 M
/// postings, ~41 ns each, where scanning a PDQ hash (8 units) took 2.9 ns.
const BUILD_COST: f64 = 110.0;

/// All bucket-sized masks ordered by popcount, to enumerate the buckets within a
/// distance.
struct Masks {
    by_weight: Vec<u32>,
    /// `by_weight[start[w]..start[w + 1]]` are the masks with `w` bits set.
    start: [usize; BUCKET_BITS as usize + 2],
}

impl Masks {
    fn get() -> &'static Masks {
        static MASKS: OnceLock<Masks> = OnceLock::new();
        MASKS.get_or_init(|| {
            // Counting sort by popcount: a first query should not wait for a sort.
            let mut start = [0; BUCKET_BITS as usize + 2];
            for m in 0..BUCKETS as u32 {
                start[m.count_ones() as usize + 1] += 1;
            }
            for w in 0..=BUCKET_BITS as usize {
                start[w + 1] += start[w];
            }
            let mut next = start;
            let mut by_weight = vec![0; BUCKETS];
            for m in 0..BUCKETS as u32 {
                let w = m.count_ones() as usize;
                by_weight[next[w]] = m;
                next[w] += 1;
            }
            Masks { by_weight, start }
        })
    }

    /// Masks with exactly `w` bits set.
    fn of_weight(&self, w: u32) -> &[u32] {
        if w > BUCKET_BITS {
            return &[];
        }
        &self.by_weight[self.start[w as usize]..self.start[w as usize + 1]]
    }
}

/// Popcounts of the inline bits.
const POPCOUNT: [u8; 1 << MAX_INLINE_BITS] = {
    let mut t = [0u8; 1 << MAX_INLINE_BITS];
    let mut i = 0;
    while i < t.len() {
        t[i] = (i as u32).count_ones() as u8;
        i += 1;
    }
    t
};

/// `n` choose `k`, as a float for the cost model.
fn choose(n: u32, k: u32) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k).fold(1.0, |acc, i| acc * f64::from(n - i) / f64::from(i + 1))
}

/// Where each substring sits in a hash.
#[derive(Debug, Clone, Copy)]
struct Layout {
    m: usize,
    start: [u32; 16],
    width: [u32; 16],
}

impl Layout {
    fn of(words: usize) -> Layout {
        let w = widths(words);
        let (mut start, mut width) = ([0; 16], [0; 16]);
        let mut at = 0;
        for (t, &b) in w.iter().enumerate() {
            assert!((BUCKET_BITS..=BUCKET_BITS + MAX_INLINE_BITS).contains(&b));
            start[t] = at;
            width[t] = b;
            at += b;
        }
        assert_eq!(at as usize, 64 * words, "substrings cover the hash");
        Layout {
            m: w.len(),
            start,
            width,
        }
    }

    /// Substring `t` of a hash as (bucket, inline bits); bit 0 is the most
    /// significant bit of the first word, so table 0 starts with the first hex digit.
    #[inline]
    fn split<const W: usize>(&self, h: &[u64; W], t: usize) -> (usize, u16) {
        let (start, len) = (self.start[t], self.width[t]);
        let (i, off) = ((start / 64) as usize, start % 64);
        let mut v = h[i] << off;
        if off + len > 64 {
            v |= h[i + 1] >> (64 - off);
        }
        let sub = v >> (64 - len);
        let inline = len - BUCKET_BITS;
        ((sub >> inline) as usize, (sub & ((1 << inline) - 1)) as u16)
    }

    /// Bucket probes and expected posting checks and candidates of [`Tables::gather`]
    /// on table `t` with `n` entries, assuming substrings spread evenly.
    fn price(&self, n: usize, t: usize, s: u32, exact: bool) -> f64 {
        let width = self.width[t];
        let inline = width - BUCKET_BITS;
        let first = if exact { s.saturating_sub(inline) } else { 0 };
        let buckets: f64 = (first..=s.min(BUCKET_BITS))
            .map(|j| choose(BUCKET_BITS, j))
            .sum();
        let values = if exact {
            choose(width, s)
        } else {
            (0..=s.min(width)).map(|d| choose(width, d)).sum()
        };
        let n = n as f64;
        buckets * (BUCKET_COST + POSTING_COST * n / BUCKETS as f64)
            + CANDIDATE_COST * values * n / 2f64.powi(width as i32)
    }
}

#[inline(always)]
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
#[inline(always)]
fn head<const W: usize>(a: &[u64; W], b: &[u64; W]) -> u32 {
    let mut d = 0;
    for i in 0..W.div_ceil(2) {
        d += (a[i] ^ b[i]).count_ones();
    }
    d
}

/// Distance over the words [`head`] leaves out.
#[inline(always)]
fn tail<const W: usize>(a: &[u64; W], b: &[u64; W]) -> u32 {
    let mut d = 0;
    for i in W.div_ceil(2)..W {
        d += (a[i] ^ b[i]).count_ones();
    }
    d
}

/// [`Store::within_scan`]'s loop, to be inlined into its POPCNT-enabled caller.
#[inline(always)]
fn within_scan_body<const W: usize>(
    words: &Words<W>,
    q: &[u64; W],
    r: u32,
    split: bool,
    hits: &mut Vec<(u32, u32)>,
) {
    for e in 0..words.len {
        let w = words.get(e);
        let head = head(w, q);
        if split && head > r {
            continue;
        }
        let d = head + tail(w, q);
        if d <= r {
            hits.push((d, e as u32));
        }
    }
}

// POPCNT. x86-64's baseline predates it, so without it every `count_ones` in
// a scan is a dozen shifts, masks and adds. The three loops that compute
// distances (`Words::scan_many`, `within_scan_body`, `Store::verify_body`) are
// each compiled twice: inlined into a function with the feature enabled, run
// when the CPU has it, and as they are otherwise. Only the loop bodies inlined
// into that function get the instruction; an earlier version enabled it
// around closures, which the compiler sometimes kept as separate functions
// without it (`objdump -d` of `examples/views_lookup` showed the bit-twiddling
// popcount in the shared pass, the table verification and `within_scan`).
// The answers are the same either way: only how a popcount is computed changes.

/// The hash words of a store, packed into 64-byte-aligned cache lines, `8 / W`
/// hashes per line. Verifying a candidate is a random access, so it must touch one
/// line: in a plain `Vec<[u64; 4]>` the allocator's 16-byte chunk header leaves every
/// other PDQ hash straddling two lines, which made k-nearest searches (that read all
/// four words of each candidate) half again slower.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub(super) struct Line([u64; 8]);

// SAFETY: eight `u64`s filling the 64-byte alignment exactly: no padding.
unsafe impl Plain for Line {}

/// Lines of a snapshot's mapping hold only whole lines: a partial last line is
/// copied to memory, where the next hashes fill it.
struct Words<const W: usize> {
    lines: Column<Line>,
    len: usize,
}

impl<const W: usize> Words<W> {
    const PER_LINE: usize = 8 / W;

    fn new() -> Words<W> {
        Words {
            lines: Column::new(),
            len: 0,
        }
    }

    /// `len` hashes whose whole lines are in `lines` (mapped) and whose partial
    /// last line, if any, is `partial`.
    fn from_mapped(lines: Column<Line>, partial: Option<Line>, len: usize) -> Words<W> {
        let mut words = Words { lines, len };
        if let Some(line) = partial {
            words.lines.push(line);
        }
        words
    }

    /// The whole lines (those in the mapping, then those in memory), with the
    /// line number each slice starts at, and the partial last line if any.
    #[inline(always)]
    fn segments(&self) -> ([(&[Line], usize); 2], Option<&Line>) {
        let base = self.lines.base();
        let full = self.len / Self::PER_LINE - base.len();
        let tail = self.lines.tail();
        (
            [(base, 0), (&tail[..full], base.len())],
            tail.get(full).filter(|_| self.len % Self::PER_LINE != 0),
        )
    }

    #[inline(always)]
    fn get(&self, e: usize) -> &[u64; W] {
        Self::slot(&self.lines[e / Self::PER_LINE], e % Self::PER_LINE)
    }

    fn push(&mut self, w: [u64; W]) {
        let off = (self.len % Self::PER_LINE) * W;
        if off == 0 {
            self.lines.push(Line([0; 8]));
        }
        // A partial line is always in memory (see `Words`).
        let last = self.lines.tail_mut().last_mut().expect("a line in memory");
        last.0[off..off + W].copy_from_slice(&w);
        self.len += 1;
    }

    /// Every hash in entry order, with its entry number. Whole lines first, with a
    /// constant trip count the compiler unrolls, then the last partial line.
    #[inline]
    fn for_each(&self, mut f: impl FnMut(usize, &[u64; W])) {
        let (whole, partial) = self.segments();
        for (lines, first) in whole {
            for (l, line) in lines.iter().enumerate() {
                for j in 0..Self::PER_LINE {
                    f((first + l) * Self::PER_LINE + j, Self::slot(line, j));
                }
            }
        }
        if let Some(line) = partial {
            let first = self.len / Self::PER_LINE * Self::PER_LINE;
            for j in 0..self.len % Self::PER_LINE {
                f(first + j, Self::slot(line, j));
            }
        }
    }

    /// Every entry against every query of `qs`: `slow(entry, j, d)` is called
    /// when the distance `d` to query `j` is at most `limits[j]`, and returns
    /// the new limit. Compiled for POPCNT when the CPU has it (see above).
    fn scan_many(
        &self,
        qs: &[[u64; W]],
        limits: &mut [u32],
        slow: &mut impl FnMut(usize, usize, u32) -> u32,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "popcnt")]
            unsafe fn fast<const W: usize, F: FnMut(usize, usize, u32) -> u32>(
                words: &Words<W>,
                qs: &[[u64; W]],
                limits: &mut [u32],
                slow: &mut F,
            ) {
                words.scan_many_body(qs, limits, slow)
            }
            if W == 1
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("popcnt")
            {
                // SAFETY: the CPU was just seen to support both features
                // `simd::scan_many` is compiled with.
                return unsafe { simd::scan_many(self, qs, limits, slow) };
            }
            if std::arch::is_x86_feature_detected!("popcnt") {
                // SAFETY: the CPU was just seen to support the one feature
                // `fast` is compiled with.
                return unsafe { fast(self, qs, limits, slow) };
            }
        }
        self.scan_many_body(qs, limits, slow)
    }

    #[inline(always)]
    fn scan_many_body<F: FnMut(usize, usize, u32) -> u32>(
        &self,
        qs: &[[u64; W]],
        limits: &mut [u32],
        slow: &mut F,
    ) {
        // Queries go through in blocks of a size known at compile time, so that
        // each entry's distances to the whole block are computed without a
        // branch and tested together: the loop is then xors, popcounts and one
        // well-predicted branch per entry, which halved the shared pass. A
        // block of more than 8 would spill the queries' words out of registers
        // for PDQ anyway.
        let limits = &mut limits[..qs.len()];
        let mut at = 0;
        while at < qs.len() {
            let (q, l) = (&qs[at..], &mut limits[at..]);
            let n = match q.len() {
                1 => self.scan_block::<1, F>(q, l, at, slow),
                2 => self.scan_block::<2, F>(q, l, at, slow),
                3 => self.scan_block::<3, F>(q, l, at, slow),
                4 => self.scan_block::<4, F>(q, l, at, slow),
                5 => self.scan_block::<5, F>(q, l, at, slow),
                6 => self.scan_block::<6, F>(q, l, at, slow),
                _ => self.scan_block::<8, F>(q, l, at, slow),
            };
            at += n;
        }
    }

    /// The first `min(Q, qs.len())` queries against every entry; returns how
    /// many that was. A block not full is padded with the complement of its
    /// first query at limit 0, which only an entry equal to that complement
    /// can meet, and the slow path never sees the padding.
    #[inline(always)]
    fn scan_block<const Q: usize, F: FnMut(usize, usize, u32) -> u32>(
        &self,
        qs: &[[u64; W]],
        limits: &mut [u32],
        first: usize,
        slow: &mut F,
    ) -> usize {
        let n = qs.len().min(Q);
        let mut q = [qs[0].map(|w| !w); Q];
        let mut b = [0u32; Q];
        q[..n].copy_from_slice(&qs[..n]);
        b[..n].copy_from_slice(&limits[..n]);
        // A closure here would be compiled on its own, without POPCNT (see
        // above), so the one entry's work is a function inlined twice.
        let (whole, partial) = self.segments();
        for (lines, at) in whole {
            for (l, line) in lines.iter().enumerate() {
                for s in 0..Self::PER_LINE {
                    let e = (at + l) * Self::PER_LINE + s;
                    Self::visit(e, Self::slot(line, s), &q, &mut b, n, first, slow);
                }
            }
        }
        if let Some(line) = partial {
            let at = self.len / Self::PER_LINE * Self::PER_LINE;
            for s in 0..self.len % Self::PER_LINE {
                Self::visit(at + s, Self::slot(line, s), &q, &mut b, n, first, slow);
            }
        }
        limits[..n].copy_from_slice(&b[..n]);
        n
    }

    /// One entry against a block: every distance, one test for the block, and
    /// the slow path in query order for the live queries that matter.
    #[inline(always)]
    fn visit<const Q: usize, F: FnMut(usize, usize, u32) -> u32>(
        e: usize,
        w: &[u64; W],
        q: &[[u64; W]; Q],
        b: &mut [u32; Q],
        n: usize,
        first: usize,
        slow: &mut F,
    ) {
        let mut ds = [0u32; Q];
        let mut any = false;
        for j in 0..Q {
            ds[j] = distance(w, &q[j]);
            any |= ds[j] <= b[j];
        }
        if any {
            for j in 0..n {
                if ds[j] <= b[j] {
                    b[j] = slow(e, first + j, ds[j]);
                }
            }
        }
    }

    #[inline(always)]
    fn slot(line: &Line, j: usize) -> &[u64; W] {
        line.0[j * W..j * W + W].try_into().expect("W divides 8")
    }

    fn bytes(&self) -> (usize, usize) {
        self.lines.bytes()
    }
}

/// The shared pass in AVX2 for the 64-bit kinds. POPCNT counts one word per
/// instruction; here four entries' xors with a query are counted a byte at a
/// time by table lookups (`vpshufb`) and summed by `vpsadbw` at once: at a
/// million pictures, 0.09 -> 0.06 s per kind and dozen views. (The same for
/// 256-bit PDQ hashes, with the four lanes' sums gathered per query, was no
/// faster than POPCNT on this machine, and was taken back out.) The distances
/// and the slow path's calls are exactly those of `Words::scan_many_body`: the
/// vector test only decides whether a group of four entries is looked at one
/// entry and one query at a time, in order, with the limits as they are then.
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{distance, Words};
    use std::arch::x86_64::*;

    /// Each byte's count of set bits.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn popcount_bytes(x: __m256i) -> __m256i {
        let table = _mm256_setr_epi8(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, //
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
        );
        let nibble = _mm256_set1_epi8(0x0f);
        let lo = _mm256_and_si256(x, nibble);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(x), nibble);
        _mm256_add_epi8(
            _mm256_shuffle_epi8(table, lo),
            _mm256_shuffle_epi8(table, hi),
        )
    }

    /// Set bits of `a ^ b` in each 64-bit lane.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn lane_distances(a: __m256i, b: __m256i) -> __m256i {
        _mm256_sad_epu8(
            popcount_bytes(_mm256_xor_si256(a, b)),
            _mm256_setzero_si256(),
        )
    }

    /// See `Words::scan_many`; `W` is 1.
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn scan_many<const W: usize, F: FnMut(usize, usize, u32) -> u32>(
        words: &Words<W>,
        qs: &[[u64; W]],
        limits: &mut [u32],
        slow: &mut F,
    ) {
        let limits = &mut limits[..qs.len()];
        let mut at = 0;
        while at < qs.len() {
            let (q, l) = (&qs[at..], &mut limits[at..]);
            // Up to 4 queries the pass waits on memory, from 5 on on the
            // arithmetic. Five is what each of two workers gets for a picture
            // of ten views (0.05 -> 0.03-0.04 s a kind at a million pictures
            // against a block of 8); a block of 6 measured no faster than 8,
            // its queries and limits no longer fitting in the 16 registers.
            at += match q.len() {
                1..=4 => short::<W, 4, F>(words, q, l, at, slow),
                5 => short::<W, 5, F>(words, q, l, at, slow),
                _ => short::<W, 8, F>(words, q, l, at, slow),
            };
        }
    }

    /// The last, partial line one entry at a time.
    #[target_feature(enable = "popcnt")]
    #[inline]
    unsafe fn partial<const W: usize, F: FnMut(usize, usize, u32) -> u32>(
        words: &Words<W>,
        qs: &[[u64; W]],
        lim: &mut [u32],
        first: usize,
        slow: &mut F,
    ) {
        if let (_, Some(line)) = words.segments() {
            let at = words.len / Words::<W>::PER_LINE * Words::<W>::PER_LINE;
            for s in 0..words.len % Words::<W>::PER_LINE {
                let w = Words::<W>::slot(line, s);
                for (j, q) in qs.iter().enumerate() {
                    let d = distance(w, q);
                    if d <= lim[j] {
                        lim[j] = slow(at + s, first + j, d);
                    }
                }
            }
        }
    }

    /// Up to `Q` (at most 8) 64-bit queries against every entry, four entries at
    /// a time; returns how many queries that was.
    #[target_feature(enable = "avx2,popcnt")]
    unsafe fn short<const W: usize, const Q: usize, F: FnMut(usize, usize, u32) -> u32>(
        words: &Words<W>,
        qs: &[[u64; W]],
        limits: &mut [u32],
        first: usize,
        slow: &mut F,
    ) -> usize {
        debug_assert!(W == 1 && Q <= 8);
        let n = qs.len().min(Q);
        let mut qv = [_mm256_setzero_si256(); Q];
        let mut lv = [_mm256_set1_epi64x(-1); Q];
        let mut lim = [0u32; Q];
        for j in 0..n {
            qv[j] = _mm256_set1_epi64x(qs[j][0] as i64);
            lim[j] = limits[j];
            lv[j] = _mm256_set1_epi64x(i64::from(lim[j]));
        }
        let (whole, _) = words.segments();
        for (lines, at) in whole {
            for (l, line) in lines.iter().enumerate() {
                for half in 0..2 {
                    // SAFETY: a line is 64 aligned bytes, eight 64-bit hashes.
                    let e = _mm256_load_si256(line.0.as_ptr().add(4 * half).cast());
                    let mut far = _mm256_set1_epi64x(-1);
                    for j in 0..Q {
                        far = _mm256_and_si256(
                            far,
                            _mm256_cmpgt_epi64(lane_distances(e, qv[j]), lv[j]),
                        );
                    }
                    if _mm256_movemask_epi8(far) == -1 {
                        continue;
                    }
                    // The four entries one by one, as the plain loop takes them.
                    let e0 = (at + l) * 8 + half * 4;
                    for k in 0..4 {
                        let w = line.0[4 * half + k];
                        for j in 0..n {
                            let d = (w ^ qs[j][0]).count_ones();
                            if d <= lim[j] {
                                lim[j] = slow(e0 + k, first + j, d);
                                lv[j] = _mm256_set1_epi64x(i64::from(lim[j]));
                            }
                        }
                    }
                }
            }
        }
        partial(words, &qs[..n], &mut lim[..n], first, slow);
        limits[..n].copy_from_slice(&lim[..n]);
        n
    }
}

/// One stored hash's place in one table: its substring's inline bits and its entry
/// number (high, low halves). Three `u16` rather than a struct of `u32` and `u16`,
/// which padding would make 8 bytes.
type Posting = [u16; 3];

#[inline]
fn entry_of(p: &Posting) -> u32 {
    (u32::from(p[1]) << 16) | u32::from(p[2])
}

/// The substring tables: table `t`'s list for bucket `b` at `t << BUCKET_BITS | b`.
struct Tables {
    layout: Layout,
    lists: Vec<Vec<Posting>>,
}

/// What a probe met, for the cost accounting.
#[derive(Debug, Clone, Copy, Default)]
struct Met {
    buckets: usize,
    postings: usize,
}

impl Met {
    fn cost(&self) -> f64 {
        self.buckets as f64 * BUCKET_COST + self.postings as f64 * POSTING_COST
    }
}

impl Tables {
    fn build<const W: usize>(layout: Layout, words: &Words<W>) -> Tables {
        // Counting first gives every list its exact size: a bulk load carries no slack.
        let mut counts = vec![0u32; layout.m * BUCKETS];
        words.for_each(|_, h| {
            for t in 0..layout.m {
                counts[t << BUCKET_BITS | layout.split(h, t).0] += 1;
            }
        });
        let mut lists: Vec<Vec<Posting>> = counts
            .iter()
            .map(|&c| Vec::with_capacity(c as usize))
            .collect();
        words.for_each(|e, h| {
            for t in 0..layout.m {
                let (b, inline) = layout.split(h, t);
                lists[t << BUCKET_BITS | b].push([inline, (e >> 16) as u16, e as u16]);
            }
        });
        Tables { layout, lists }
    }

    fn add<const W: usize>(&mut self, h: &[u64; W], entry: u32) {
        for t in 0..self.layout.m {
            let (b, inline) = self.layout.split(h, t);
            push_compact(
                &mut self.lists[t << BUCKET_BITS | b],
                [inline, (entry >> 16) as u16, entry as u16],
            );
        }
    }

    /// Append to `out` the entries whose substring `t` is within `s` of the query's
    /// (`exact`: exactly `s` away): buckets `j` bits away, postings whose inline
    /// bits make up the rest. Stops early once what it met costs more than `budget`.
    fn gather<const W: usize>(
        &self,
        q: &[u64; W],
        t: usize,
        s: u32,
        exact: bool,
        budget: f64,
        out: &mut Vec<u32>,
    ) -> Met {
        let (qb, qi) = self.layout.split(q, t);
        let inline = self.layout.width[t] - BUCKET_BITS;
        let masks = Masks::get();
        let base = t << BUCKET_BITS;
        let mut met = Met::default();
        let first = if exact { s.saturating_sub(inline) } else { 0 };
        // Each bucket is a random access (two, with its list header), and its list
        // a few cache lines. Taken one at a time, filtering a list leaves no room
        // for the next list's misses to start early; so first collect the lists
        // (independent header loads), then, a batch at a time, touch every line of
        // the batch's lists (independent loads, many in flight) and filter them
        // from cache.
        let mut lists: Vec<(&[Posting], u32)> = Vec::new();
        for j in first..=s.min(BUCKET_BITS) {
            lists.extend(
                masks
                    .of_weight(j)
                    .iter()
                    .map(|&mask| (self.lists[base | (qb ^ mask as usize)].as_slice(), s - j)),
            );
        }
        // Which inline patterns each remaining distance accepts, so the filter is a
        // lookup rather than a popcount and a comparison.
        let patterns = 1usize << inline;
        let mut accept = vec![false; patterns * (s as usize + 1)];
        for rest in 0..=s {
            for (v, a) in accept[rest as usize * patterns..][..patterns]
                .iter_mut()
                .enumerate()
            {
                let d = u32::from(POPCOUNT[v ^ usize::from(qi)]);
                *a = if exact { d == rest } else { d <= rest };
            }
        }
        const PER_LINE: usize = 64 / std::mem::size_of::<Posting>();
        for batch in lists.chunks(32) {
            let mut touched = 0u16;
            for (list, _) in batch {
                for p in list.iter().step_by(PER_LINE) {
                    touched ^= p[0];
                }
            }
            std::hint::black_box(touched);
            for &(list, rest) in batch {
                met.buckets += 1;
                met.postings += list.len();
                if !exact && rest >= inline {
                    // Every inline pattern is within the rest: no check needed.
                    out.extend(list.iter().map(entry_of));
                } else {
                    let accept = &accept[rest as usize * patterns..][..patterns];
                    for p in list {
                        if accept[usize::from(p[0])] {
                            out.push(entry_of(p));
                        }
                    }
                }
            }
            if met.cost() > budget {
                return met;
            }
        }
        met
    }
}

/// Heap bytes of one kind's store, from the capacities actually allocated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Bytes {
    pub entries: usize,
    /// Entries read in place from a snapshot's mapping (page cache, shared).
    pub mapped: usize,
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
    image_ids: Runs,
    regions: Column<u16>,
    /// Built at the first lookup by which lookups together would have saved
    /// more than building them costs ([`Store::tables_for`]), or on request.
    tables: OnceLock<Tables>,
    /// The least number of entries for which the tables may be built;
    /// `usize::MAX`: never.
    index_from: usize,
    /// What lookups would have saved with the tables, in cost units (an
    /// `f64`'s bits), while there were none.
    forgone: AtomicU64,
}

impl<const W: usize> std::fmt::Debug for Store<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Millions of entries are no use in a debug print.
        f.debug_struct("Store")
            .field("bits", &(64 * W))
            .field("len", &self.words.len)
            .field("indexed", &self.tables.get().is_some())
            .finish()
    }
}

impl<const W: usize> Store<W> {
    /// Empty; the tables may be built once `index_from` hashes are stored.
    pub(super) fn new(index_from: usize) -> Store<W> {
        Store {
            words: Words::new(),
            image_ids: Runs::new(),
            regions: Column::new(),
            tables: OnceLock::new(),
            index_from,
            forgone: AtomicU64::new(0),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.words.len
    }

    #[inline]
    pub(super) fn image_id(&self, entry: u32) -> i64 {
        self.image_ids.get(entry)
    }

    pub(super) fn region(&self, entry: u32) -> u16 {
        self.regions[entry as usize]
    }

    /// Add one hash; once the tables exist this touches one list per table and
    /// never rebuilds anything.
    pub(super) fn push(&mut self, words: [u64; W], image_id: i64, region: u16) {
        let entry = u32::try_from(self.words.len)
            .expect("entry numbers are u32: over 4 billion hashes of one kind");
        self.words.push(words);
        self.image_ids.push(image_id);
        self.regions.push(region);
        if let Some(t) = self.tables.get_mut() {
            t.add(&words, entry);
        }
    }

    /// Build the tables now, unless they exist or the store holds fewer than
    /// `index_from` entries.
    pub(super) fn build_tables(&self) {
        self.tables_now();
    }

    fn tables_now(&self) -> Option<&Tables> {
        if self.len() == 0 || self.len() < self.index_from {
            return self.tables.get();
        }
        Some(
            self.tables
                .get_or_init(|| Tables::build(Layout::of(W), &self.words)),
        )
    }

    /// The tables for a lookup that would save `saving` cost units with them.
    /// Without them, the saving is added to what earlier lookups forwent, and
    /// they are built once that sum reaches what building them costs: the
    /// rule that rents skis until the rent paid would have bought them, never
    /// more than twice the cost of the better choice in hindsight. A process
    /// whose lookups the scan answers as cheaply (matching's default radii
    /// at any archive size, see the module docs) never builds them, and pays
    /// neither their memory nor their start-up.
    fn tables_for(&self, saving: f64) -> Option<&Tables> {
        if let Some(t) = self.tables.get() {
            return Some(t);
        }
        if saving.is_nan() || saving <= 0.0 || self.len() < self.index_from {
            return None;
        }
        let mut total = 0.0;
        let _ = self
            .forgone
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                total = f64::from_bits(bits) + saving;
                Some(total.to_bits())
            });
        if total < self.len() as f64 * Layout::of(W).m as f64 * BUILD_COST {
            return None;
        }
        self.tables_now()
    }

    #[cfg(test)]
    pub(super) fn words_of(&self, entry: u32) -> &[u64; W] {
        self.words.get(entry as usize)
    }

    /// A store over columns of a snapshot's mapping: `count` entries whose
    /// lines start at byte `lines`, the `runs` image-id runs' starts at
    /// `starts` and ids at `ids`, and region numbers at `regions`. `None`
    /// when a column does not lie in the mapping or is not aligned, or the
    /// runs do not cover the entries ([`Runs::mapped`]).
    pub(super) fn from_mapped(
        map: &Arc<Mmap>,
        [count, runs]: [usize; 2],
        [lines, starts, ids, regions]: [usize; 4],
        index_from: usize,
    ) -> Option<Store<W>> {
        let whole = count / Words::<W>::PER_LINE;
        let partial = if count % Words::<W>::PER_LINE == 0 {
            None
        } else {
            Some(Column::<Line>::mapped(map, lines, whole + 1)?.base()[whole])
        };
        Some(Store {
            words: Words::from_mapped(Column::mapped(map, lines, whole)?, partial, count),
            image_ids: Runs::mapped(map, [starts, ids], runs, count)?,
            regions: Column::mapped(map, regions, count)?,
            tables: OnceLock::new(),
            index_from,
            forgone: AtomicU64::new(0),
        })
    }

    /// The columns as a snapshot stores them, in the machine's byte order: the
    /// lines (the last one padded with zeros), the image-id runs' starts
    /// (`u32`) and ids (`i64`), the region numbers, each padded with zeros to a multiple of 64 bytes
    /// ([`Store::column_bytes`]).
    pub(super) fn write_columns<E>(
        &self,
        put: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        const ZEROS: [u8; 64] = [0; 64];
        let lines = &self.words.lines;
        let [starts, ids] = self.image_ids.parts();
        for [base, tail] in [
            [bytes_of(lines.base()), bytes_of(lines.tail())],
            starts,
            ids,
            [bytes_of(self.regions.base()), bytes_of(self.regions.tail())],
        ] {
            put(base)?;
            put(tail)?;
            let len = base.len() + tail.len();
            put(&ZEROS[..len.next_multiple_of(64) - len])?;
        }
        Ok(())
    }

    /// The image-id runs, as the snapshot header counts them.
    pub(super) fn runs(&self) -> usize {
        self.image_ids.runs()
    }

    /// The sizes [`Store::write_columns`] gives the columns of `count`
    /// entries in `runs` image-id runs.
    pub(super) fn column_bytes(count: u64, runs: u64) -> Option<[u64; 4]> {
        let lines = count
            .div_ceil(Words::<W>::PER_LINE as u64)
            .checked_mul(64)?;
        let starts = runs.checked_mul(4)?.checked_next_multiple_of(64)?;
        let ids = runs.checked_mul(8)?.checked_next_multiple_of(64)?;
        let regions = count.checked_mul(2)?.checked_next_multiple_of(64)?;
        Some([lines, starts, ids, regions])
    }

    /// Whether every region number is below `n`.
    pub(super) fn regions_below(&self, n: usize) -> bool {
        let n = u16::try_from(n).unwrap_or(u16::MAX);
        // No early exit: a branch-free fold over a column vectorises.
        let max = |r: &[u16]| r.iter().fold(0u16, |m, &x| m.max(x));
        self.len() == 0 || max(self.regions.base()).max(max(self.regions.tail())) < n
    }

    /// From now on the tables may be built once `index_from` hashes are
    /// stored; `usize::MAX` defers them. Tables already built stay.
    pub(super) fn set_index_from(&mut self, index_from: usize) {
        self.index_from = index_from;
    }

    pub(super) fn bytes(&self) -> Bytes {
        let [w, i, r] = [
            self.words.bytes(),
            self.image_ids.bytes(),
            self.regions.bytes(),
        ];
        let entries = w.0 + i.0 + r.0;
        let mapped = w.1 + i.1 + r.1;
        let (postings, list_headers) = self.tables.get().map_or((0, 0), |t| {
            (
                t.lists
                    .iter()
                    .map(|l| l.capacity() * std::mem::size_of::<Posting>())
                    .sum(),
                t.lists.capacity() * std::mem::size_of::<Vec<Posting>>(),
            )
        });
        Bytes {
            entries,
            mapped,
            postings,
            list_headers,
        }
    }

    fn scan_cost(&self) -> f64 {
        let per = if W == 1 { SCAN_COST_64 } else { SCAN_COST_256 };
        self.len() as f64 * per
    }

    /// Sub-radius of table `t` of `m` for a search of radius `r` (pigeonhole, module
    /// docs); `None` when the table need not be probed at all.
    fn sub_radius(m: usize, r: u32, t: usize) -> Option<u32> {
        let (s, a) = (r / m as u32, r % m as u32);
        if t as u32 <= a {
            Some(s)
        } else {
            s.checked_sub(1)
        }
    }

    /// What searching the tables for radius `r` is priced at, whether they are
    /// built or not; `None` when `r` covers every hash.
    fn within_price(&self, r: u32) -> Option<f64> {
        if r >= 64 * W as u32 {
            return None;
        }
        let layout = Layout::of(W);
        let m = layout.m;
        Some(
            (0..m)
                .filter_map(|t| {
                    Some(layout.price(self.len(), t, Self::sub_radius(m, r, t)?, false))
                })
                .sum(),
        )
    }

    /// What `lookups` searches of radius `r` would save by the tables against
    /// `budget` each (0 when the tables would not answer them).
    fn saving(&self, r: u32, budget: f64, lookups: usize) -> f64 {
        match self.within_price(r) {
            Some(price) if price < budget && lookups > 0 => (budget - price) * lookups as f64,
            _ => 0.0,
        }
    }

    /// Every entry within `r` as (distance, entry), in result order.
    pub(super) fn within(&self, q: &[u64; W], r: u32) -> Vec<(u32, u32)> {
        let scan = self.scan_cost();
        self.tables_for(self.saving(r, scan, 1));
        self.within_indexed(q, r, scan)
            .unwrap_or_else(|| self.within_scan(q, r))
    }

    /// [`Store::within`] by the tables, or `None` when they are missing or the
    /// search would (or turns out to) cost more than `budget`.
    pub(super) fn within_indexed(
        &self,
        q: &[u64; W],
        r: u32,
        budget: f64,
    ) -> Option<Vec<(u32, u32)>> {
        if self.within_price(r)? > budget {
            return None;
        }
        let tables = self.tables.get()?;
        let m = tables.layout.m;
        let mut candidates = Vec::new();
        let mut spent = 0.0;
        for t in 0..m {
            if let Some(s) = Self::sub_radius(m, r, t) {
                // Counting what the lists hold, not what was expected, catches skewed
                // buckets (thousands of copies of one blank-frame hash).
                spent += tables
                    .gather(q, t, s, false, budget - spent, &mut candidates)
                    .cost();
                if spent + candidates.len() as f64 * CANDIDATE_COST > budget {
                    return None;
                }
            }
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
    fn verify(&self, q: &[u64; W], candidates: &[u32], mut each: impl FnMut(u32, u32)) {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "popcnt")]
            unsafe fn fast<const W: usize, F: FnMut(u32, u32)>(
                s: &Store<W>,
                q: &[u64; W],
                candidates: &[u32],
                each: &mut F,
            ) {
                s.verify_body(q, candidates, each)
            }
            if std::arch::is_x86_feature_detected!("popcnt") {
                // SAFETY: the CPU was just seen to support the one feature
                // `fast` is compiled with.
                return unsafe { fast(self, q, candidates, &mut each) };
            }
        }
        self.verify_body(q, candidates, &mut each)
    }

    #[inline(always)]
    fn verify_body<F: FnMut(u32, u32)>(&self, q: &[u64; W], candidates: &[u32], each: &mut F) {
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
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "popcnt")]
            unsafe fn fast<const W: usize>(
                words: &Words<W>,
                q: &[u64; W],
                r: u32,
                split: bool,
                hits: &mut Vec<(u32, u32)>,
            ) {
                within_scan_body(words, q, r, split, hits)
            }
            if std::arch::is_x86_feature_detected!("popcnt") {
                // SAFETY: the CPU was just seen to support the one feature
                // `fast` is compiled with.
                unsafe { fast(&self.words, q, r, split, &mut hits) };
                return self.ordered(hits);
            }
        }
        within_scan_body(&self.words, q, r, split, &mut hits);
        self.ordered(hits)
    }

    /// Sort by (distance, image id, entry) and drop entries found through several tables.
    fn ordered(&self, mut hits: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
        // Each id looked up once, not once per comparison.
        hits.sort_by_cached_key(|&(d, e)| (d, self.image_id(e), e));
        hits.dedup_by_key(|h| h.1);
        hits
    }

    /// The `k` nearest entries within `cap` as (distance, entry), in result order.
    pub(super) fn nearest(&self, q: &[u64; W], k: usize, cap: u32) -> Vec<(u32, u32)> {
        let scan = self.scan_cost();
        // Up to `cap` the search is priced like `within(cap)`; beyond what it can
        // price the widening is a bet on a near k-th neighbour, held to a quarter scan.
        let budget = match self.within_price(cap) {
            Some(c) if c <= scan => {
                self.tables_for(scan - c);
                scan
            }
            _ => scan / 4.0,
        };
        self.nearest_with_budget(q, k, cap, budget)
    }

    /// [`Store::nearest`] with the tables' share of the work limited to `budget`
    /// (infinite: tables only, when built; `0`: scan only).
    pub(super) fn nearest_with_budget(
        &self,
        q: &[u64; W],
        k: usize,
        cap: u32,
        budget: f64,
    ) -> Vec<(u32, u32)> {
        if k == 0 || self.words.len == 0 {
            return Vec::new();
        }
        let mut top = Top::new(k, cap);
        let done = match self.tables.get() {
            Some(tables) if budget > 0.0 => self.nearest_indexed(tables, q, &mut top, budget),
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
    fn nearest_indexed(&self, tables: &Tables, q: &[u64; W], top: &mut Top, budget: f64) -> bool {
        let m = tables.layout.m;
        let widest = tables.layout.width[0];
        let mut spent = 0.0;
        let mut candidates = Vec::new();
        for s in 0..=widest {
            for t in 0..m {
                if spent + tables.layout.price(self.len(), t, s, true) > budget {
                    return false;
                }
                candidates.clear();
                spent += tables
                    .gather(q, t, s, true, budget - spent, &mut candidates)
                    .cost();
                spent += candidates.len() as f64 * CANDIDATE_COST;
                if spent > budget {
                    return false;
                }
                self.verify(q, &candidates, |d, e| {
                    if d <= top.bound() {
                        top.offer(d, self.image_id(e), e);
                    }
                });
                // Tables 0..=t searched to sub-radius s, the rest to s - 1: everything
                // within m·s + t has been seen (pigeonhole, module docs).
                let covered = m as u32 * s + t as u32;
                if covered >= top.cap || (top.full() && top.bound() <= covered) {
                    return true;
                }
            }
        }
        // Every substring distance of every table searched: every entry seen.
        true
    }

    /// For each query, every entry within `r` together with its `k` nearest
    /// entries, as (distance, entry) in result order (the union of
    /// [`Store::within`] and [`Store::nearest`], each entry once).
    ///
    /// Matching asks this for a dozen views of one picture at once. A query the
    /// tables answer cheaply is answered there; all the others share one pass
    /// over the entries, which reads the hashes from memory once instead of once
    /// per query: at a million archived pictures the hashes of one kind are
    /// hundreds of megabytes, and reading them is most of a scan's cost. The
    /// shared pass is split by queries across `threads` workers.
    pub(super) fn search_many(
        &self,
        qs: &[[u64; W]],
        r: u32,
        k: usize,
        threads: usize,
    ) -> Vec<Vec<(u32, u32)>> {
        // A query that joins the shared pass costs about a scan's arithmetic but
        // no memory traffic of its own; the tables must be clearly cheaper.
        self.search_many_with_budget(qs, r, k, threads, self.scan_cost() / 4.0)
    }

    /// [`Store::search_many`] with the tables' share per query limited to
    /// `budget` (infinite: tables wherever built; `0`: the shared pass only).
    pub(super) fn search_many_with_budget(
        &self,
        qs: &[[u64; W]],
        r: u32,
        k: usize,
        threads: usize,
        budget: f64,
    ) -> Vec<Vec<(u32, u32)>> {
        let mut out: Vec<Vec<(u32, u32)>> = vec![Vec::new(); qs.len()];
        if self.words.len == 0 {
            return out;
        }
        self.tables_for(self.saving(r, budget, qs.len()));
        let mut pending = Vec::new();
        for (i, q) in qs.iter().enumerate() {
            let within = self.within_indexed(q, r, budget);
            let near = match (self.tables.get(), &within) {
                (Some(tables), Some(_)) if k > 0 => {
                    let mut top = Top::new(k, u32::MAX);
                    self.nearest_indexed(tables, q, &mut top, budget)
                        .then_some(top)
                }
                (_, Some(_)) if k == 0 => Some(Top::new(0, u32::MAX)),
                _ => None,
            };
            match (within, near) {
                (Some(mut w), Some(top)) => {
                    w.extend(top.items.into_iter().map(|(d, _, e)| (d, e)));
                    out[i] = self.ordered(w);
                }
                _ => pending.push(i),
            }
        }
        if pending.is_empty() {
            return out;
        }
        let per = pending.len().div_ceil(threads.max(1));
        let scanned: Vec<(usize, Vec<(u32, u32)>)> = pending
            .par_chunks(per.max(1))
            .flat_map_iter(|group| {
                let mut hits: Vec<Vec<(u32, u32)>> = vec![Vec::new(); group.len()];
                let mut tops: Vec<Top> = group.iter().map(|_| Top::new(k, u32::MAX)).collect();
                // The group's queries side by side, and per query the one distance
                // an entry must not exceed to matter (the radius or the k-th
                // nearest so far, whichever is larger): the loop over every entry
                // is distances and one comparison each, and only the rare entry
                // that matters takes the slow path.
                let local: Vec<[u64; W]> = group.iter().map(|&i| qs[i]).collect();
                let limit = |top: &Top| if k > 0 { r.max(top.bound()) } else { r };
                let mut limits: Vec<u32> = tops.iter().map(limit).collect();
                self.words.scan_many(&local, &mut limits, &mut |e, j, d| {
                    if d <= r {
                        hits[j].push((d, e as u32));
                    }
                    if k > 0 && d <= tops[j].bound() {
                        tops[j].offer(d, self.image_id(e as u32), e as u32);
                    }
                    limit(&tops[j])
                });
                group
                    .iter()
                    .zip(hits.into_iter().zip(tops))
                    .map(|(&i, (mut h, top))| {
                        h.extend(top.items.into_iter().map(|(d, _, e)| (d, e)));
                        (i, self.ordered(h))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        for (i, v) in scanned {
            out[i] = v;
        }
        out
    }

    fn nearest_scan(&self, q: &[u64; W], top: &mut Top) {
        let mut bound = [top.bound()];
        self.words
            .scan_many(std::slice::from_ref(q), &mut bound, &mut |e, _, d| {
                top.offer(d, self.image_id(e as u32), e as u32);
                top.bound()
            });
    }
}

#[cfg(test)]
#[path = "mih_tests.rs"]
mod tests;
