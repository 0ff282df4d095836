//! The archive's local features as an inverted file: for each visual word,
//! the archived pictures that have a feature of it, with that feature's
//! orientation and scale. A query's features vote for the pictures that share
//! their words, and only votes that agree on one turn and one change of scale
//! count (weak geometric consistency, Jégou et al. 2008): a copy's shared
//! features, all turned by the same angle and enlarged by the same factor,
//! pile up in one bin, an unrelated picture's chance words scatter over turns
//! and pyramid levels. Turn alone is not enough at archive scale: it left a
//! half-area crop's original 185th among 10,000 pictures (docs/matching.md).
//! What comes out is a short list of candidates, best first, for the
//! geometric check in [`crate::features::geometry`]; this module decides
//! nothing about matches.
//!
//! A posting is the picture (a dense local number, delta-coded in the list)
//! and one byte: the feature's angle in 16 steps and its pyramid level. About
//! 3 bytes a feature; `memory()` says what it comes to.

use std::sync::Arc;

use memmap2::Mmap;

use crate::features::vocabulary::Vocabulary;
use crate::features::{Feature, Features};

/// Orientation bins of a posting (a turn in 16 steps of 22.5°).
const ANGLE_BINS: usize = 16;

/// Highest pyramid level a vote tells apart (features have 8 levels,
/// `FeatureParams::levels`; a posting could name up to 15).
const MAX_LEVEL: u8 = 7;

/// Scale bins of a vote: the archived feature's pyramid level less the
/// query feature's, from −MAX_LEVEL to MAX_LEVEL.
const SCALE_BINS: usize = 2 * MAX_LEVEL as usize + 1;

/// Bins of one picture's votes: upright and mirrored, by turn and scale.
const BINS: usize = 2 * ANGLE_BINS * SCALE_BINS;

/// How much more a vote that agrees on scale counts than one that agrees
/// on the turn alone, in a candidate's [`Candidate::score`].
const SCALE_WEIGHT: u32 = 4;

/// A query feature's word, angle and pyramid level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryWord {
    /// Visual word.
    pub word: u16,
    /// Orientation in radians.
    pub angle: f32,
    /// Pyramid level.
    pub level: u8,
}

/// A feature's word and geometry byte, as stored and indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word {
    /// Visual word.
    pub word: u16,
    /// Angle bin (high 4 bits) and pyramid level (low 4 bits).
    pub geometry: u8,
}

fn angle_bin(angle: f32) -> usize {
    let turn = angle.rem_euclid(std::f32::consts::TAU) / std::f32::consts::TAU;
    ((turn * ANGLE_BINS as f32).round() as usize) % ANGLE_BINS
}

/// The words of a picture's features (upright descriptors).
pub fn words(vocabulary: &Vocabulary, features: &Features) -> Vec<Word> {
    let ds: Vec<[u64; 4]> = features.items.iter().map(|f| f.descriptor).collect();
    vocabulary
        .words(&ds)
        .into_iter()
        .zip(&features.items)
        .map(|(word, f)| Word {
            word,
            geometry: geometry_byte(f.angle, f.level),
        })
        .collect()
}

/// The geometry byte of a posting: angle bin (high 4 bits), level (low 4).
pub fn geometry_byte(angle: f32, level: u8) -> u8 {
    ((angle_bin(angle) as u8) << 4) | level.min(15)
}

/// The angle bin and level of a geometry byte ([`geometry_byte`] undone).
fn split_geometry(g: u8) -> (usize, u8) {
    (usize::from(g >> 4), g & 15)
}

/// Serialise words for storage: 3 bytes each (word u16 LE, geometry).
pub fn words_to_bytes(words: &[Word]) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 * words.len());
    for w in words {
        out.extend_from_slice(&w.word.to_le_bytes());
        out.push(w.geometry);
    }
    out
}

/// Read stored words back; `None` for a length that is not a multiple of 3 or
/// more than [`crate::features::MAX_STORED`] words.
pub fn words_from_bytes(b: &[u8]) -> Option<Vec<Word>> {
    if b.len() % 3 != 0 || b.len() / 3 > crate::features::MAX_STORED {
        return None;
    }
    Some(
        b.chunks_exact(3)
            .map(|c| Word {
                word: u16::from_le_bytes([c[0], c[1]]),
                geometry: c[2],
            })
            .collect(),
    )
}

/// One word's postings: pictures delta-coded as LEB128 varints, each followed
/// by its geometry byte. A list loaded from a snapshot is read where the
/// snapshot is mapped (`mapped`: where in the index's mapped lists it starts
/// and how long it is) and the postings added since follow in `bytes`.
#[derive(Debug, Default, Clone)]
struct List {
    mapped: (usize, usize),
    bytes: Vec<u8>,
    last: u32,
    count: u32,
}

impl List {
    fn push(&mut self, image: u32, geometry: u8) {
        // Pictures are added in increasing local number: deltas are small.
        let mut d = if self.count == 0 {
            image
        } else {
            image.wrapping_sub(self.last)
        };
        loop {
            let b = (d & 0x7f) as u8;
            d >>= 7;
            if d == 0 {
                self.bytes.push(b);
                break;
            }
            self.bytes.push(b | 0x80);
        }
        self.bytes.push(geometry);
        self.last = image;
        self.count += 1;
    }

    /// The postings, given the index's mapped lists.
    fn iter<'a>(&'a self, mapped: &'a [u8]) -> ListIter<'a> {
        let (at, len) = self.mapped;
        let base = at
            .checked_add(len)
            .and_then(|end| mapped.get(at..end))
            .unwrap_or_default();
        ListIter {
            bytes: base,
            then: &self.bytes,
            at: 0,
            image: 0,
        }
    }

    /// Bytes of postings, mapped and in memory.
    fn len(&self) -> usize {
        self.mapped.1 + self.bytes.len()
    }
}

struct ListIter<'a> {
    bytes: &'a [u8],
    /// What follows `bytes`: the postings added after the snapshot.
    then: &'a [u8],
    at: usize,
    image: u32,
}

impl Iterator for ListIter<'_> {
    type Item = (u32, u8);
    fn next(&mut self) -> Option<(u32, u8)> {
        // The mapped part holds whole postings (its length is the list's
        // as written), so a posting never straddles the two parts.
        if self.at == self.bytes.len() && !self.then.is_empty() {
            self.bytes = std::mem::take(&mut self.then);
            self.at = 0;
        }
        let mut d: u32 = 0;
        let mut shift = 0;
        loop {
            let b = *self.bytes.get(self.at)?;
            self.at += 1;
            d |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 28 {
                return None;
            }
        }
        let g = *self.bytes.get(self.at)?;
        self.at += 1;
        self.image = self.image.wrapping_add(d);
        Some((self.image, g))
    }
}

/// How the index is searched.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateParams {
    /// Least votes in one turn and scale for a picture to be a candidate.
    pub min_votes: u32,
    /// Words whose list is longer than this many times the mean are skipped
    /// (they are on nearly every picture and say nothing).
    pub stop_factor: f64,
    /// How many pictures, those sharing the most words with the query
    /// (upright or mirrored, any turn), have their votes sorted by turn and scale.
    /// Sorting every touched picture by turn is what made the search grow
    /// with the archive: at a million pictures a query touches most of them.
    /// A copy shares its consistent words on top of the chance ones every
    /// picture gets, so it is among the most-shared long before the
    /// shortlist fills (see `examples/features_scale.rs`, which measures how
    /// often the exhaustive search's candidates are kept).
    pub shortlist: usize,
}

impl Default for CandidateParams {
    fn default() -> Self {
        CandidateParams {
            min_votes: 3,
            stop_factor: 40.0,
            shortlist: 16_384,
        }
    }
}

/// An archived picture the features point at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Archive image id.
    pub image_id: i64,
    /// Votes in its best turn and scale (upright or mirrored).
    pub votes: u32,
    /// What candidates are ranked by: [`SCALE_WEIGHT`] times `votes`, plus
    /// the votes of that turn at any scale.
    pub score: u32,
    /// Whether the best turn was that of the mirrored query.
    pub mirrored: bool,
}

/// The inverted file.
#[derive(Debug)]
pub struct FeatureIndex {
    /// One list per word; allocated at the first insert (an index without
    /// features costs nothing).
    lists: Vec<List>,
    words: usize,
    /// Local number → archive image id.
    images: Vec<i64>,
    postings: u64,
    /// A snapshot's mapping and where in it the lists' bytes lie: read in
    /// place (the page cache's, shared), not copied into memory.
    mapped: Option<(Arc<Mmap>, usize, usize)>,
}

impl Default for FeatureIndex {
    fn default() -> Self {
        FeatureIndex::new(Vocabulary::builtin().len())
    }
}

impl FeatureIndex {
    /// An empty index over `words` visual words.
    pub fn new(words: usize) -> FeatureIndex {
        FeatureIndex {
            lists: Vec::new(),
            words: words.max(1),
            images: Vec::new(),
            postings: 0,
            mapped: None,
        }
    }

    /// The lists' bytes in a snapshot's mapping (empty without one).
    fn mapped_lists(&self) -> &[u8] {
        match &self.mapped {
            Some((map, at, len)) => map.get(*at..at + len).unwrap_or_default(),
            None => &[],
        }
    }

    /// Add a picture's words. Pictures are numbered in the order they are added.
    pub fn insert(&mut self, image_id: i64, words: &[Word]) {
        if words.is_empty() || self.images.len() >= u32::MAX as usize {
            return;
        }
        if self.lists.is_empty() {
            self.lists = vec![List::default(); self.words];
        }
        let local = self.images.len() as u32;
        self.images.push(image_id);
        let mut seen: Vec<(u16, u8)> = words.iter().map(|w| (w.word, w.geometry)).collect();
        seen.sort_unstable();
        seen.dedup();
        for (word, geometry) in seen {
            if let Some(list) = self.lists.get_mut(usize::from(word)) {
                list.push(local, geometry);
                self.postings += 1;
            }
        }
    }

    /// Pictures indexed.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Bytes held in memory: postings, list headers and the id table (not
    /// the postings read in place from a snapshot's mapping).
    pub fn memory(&self) -> usize {
        self.lists.iter().map(|l| l.bytes.capacity()).sum::<usize>()
            + self.lists.len() * std::mem::size_of::<List>()
            + self.images.capacity() * 8
    }

    /// Postings held.
    pub fn postings(&self) -> u64 {
        self.postings
    }

    /// The archived pictures sharing the most geometrically consistent words
    /// with the query, best first, at most `limit`.
    pub fn candidates(
        &self,
        vocabulary: &Vocabulary,
        query: &Features,
        limit: usize,
        p: &CandidateParams,
    ) -> Vec<Candidate> {
        if self.images.is_empty() || self.lists.is_empty() || limit == 0 {
            return Vec::new();
        }
        let (up, mirrored) = query_words(vocabulary, query);
        self.candidates_of_words(&up, &mirrored, limit, p)
    }

    /// [`FeatureIndex::candidates`] for a query already quantised: its
    /// words with their angles, upright and as the mirrored picture shows
    /// them (angles of the mirrored picture).
    ///
    /// Two passes over the query's lists: the first counts, per picture, the
    /// words it shares with the upright and with the mirrored query (two
    /// counters a picture, in arrays as long as the index); the
    /// `p.shortlist` pictures with the highest count go on to the second,
    /// which sorts only their votes into turn and scale bins.
    pub fn candidates_of_words(
        &self,
        upright: &[QueryWord],
        mirrored: &[QueryWord],
        limit: usize,
        p: &CandidateParams,
    ) -> Vec<Candidate> {
        if self.images.is_empty() || self.lists.is_empty() || limit == 0 {
            return Vec::new();
        }
        let n = self.images.len();
        // Pass 1: shared words, upright (even) and mirrored (odd). This pass
        // is a random increment per posting, so the counters' size is what
        // it costs: a byte a counter halves it (2 MB at a million pictures;
        // with the bitmap below, the search's p50 fell from 127-130 to
        // 111 ms there, docs/matching.md). A count saturates at 255, far
        // above any copy's threshold: past it pictures only tie.
        let mut shared = vec![0u8; 2 * n];
        self.votes(upright, mirrored, p, |half, image, _| {
            if let Some(c) = shared.get_mut(2 * image as usize + half) {
                *c = c.saturating_add(1);
            }
        });
        // The least count that keeps at most `shortlist` pictures (ties at
        // the edge are all left out rather than picked arbitrarily), never
        // below `min_votes`: fewer shared words cannot make that many votes.
        let floor = p.min_votes.clamp(1, u32::from(u8::MAX)) as u8;
        let top = usize::from(u8::MAX);
        let mut histogram = vec![0usize; top + 1];
        for pair in shared.chunks_exact(2) {
            let s = pair[0].max(pair[1]);
            if s >= floor {
                histogram[usize::from(s)] += 1;
            }
        }
        let (mut threshold, mut kept) = (top + 1, 0usize);
        while threshold > usize::from(floor) {
            let more = histogram[threshold - 1];
            if kept + more > p.shortlist {
                if kept == 0 {
                    // One count shared by more pictures than the shortlist
                    // holds (many near-identical archived pictures): the
                    // first ones are taken, so the search stays bounded.
                    threshold -= 1;
                }
                break;
            }
            kept += more;
            threshold -= 1;
        }
        // Pass 2: turn and scale bins (480 bytes a picture, 7.9 MB for a
        // full shortlist) for the shortlisted pictures only. They are
        // marked in a bitmap (128 KB at a million pictures) that every
        // posting is checked against; a kept picture's bins are found by its
        // rank among the kept ones: the kept pictures before its bitmap word
        // (counted once, 62 KB at a million) and the bits before it in the
        // word (a binary search in the kept pictures took a tenth of the
        // search at a million pictures, perf).
        let mut kept_images: Vec<u32> = Vec::with_capacity(kept.min(p.shortlist));
        let mut is_kept = vec![0u64; n.div_ceil(64)];
        for (image, pair) in shared.chunks_exact(2).enumerate() {
            let s = usize::from(pair[0].max(pair[1]));
            if s >= threshold && kept_images.len() < p.shortlist {
                kept_images.push(image as u32);
                is_kept[image / 64] |= 1 << (image % 64);
            }
        }
        drop(shared);
        if kept_images.is_empty() {
            return Vec::new();
        }
        let mut before = Vec::with_capacity(is_kept.len());
        let mut count = 0u32;
        for word in &is_kept {
            before.push(count);
            count += word.count_ones();
        }
        let mut bins = vec![[0u8; BINS]; kept_images.len()];
        self.votes(upright, mirrored, p, |_, image, at_bin| {
            let at = image as usize / 64;
            let word = is_kept.get(at).copied().unwrap_or(0);
            let bit = 1u64 << (image % 64);
            if word & bit == 0 {
                return;
            }
            let k = before[at] as usize + (word & (bit - 1)).count_ones() as usize;
            if let Some(bins) = bins.get_mut(k) {
                let b = &mut bins[at_bin];
                *b = b.saturating_add(1);
            }
        });
        best_first(
            kept_images
                .iter()
                .zip(&bins)
                .filter_map(|(&image, bins)| self.candidate(image, bins, p))
                .collect(),
            limit,
        )
    }

    /// The search without the shortlist: every touched picture's votes
    /// sorted by turn and scale. What [`FeatureIndex::candidates_of_words`] is measured
    /// against (tests, `examples/features_scale.rs`); it grows with the
    /// archive and is not used by matching.
    #[doc(hidden)]
    pub fn candidates_exhaustive(
        &self,
        upright: &[QueryWord],
        mirrored: &[QueryWord],
        limit: usize,
        p: &CandidateParams,
    ) -> Vec<Candidate> {
        if self.images.is_empty() || self.lists.is_empty() || limit == 0 {
            return Vec::new();
        }
        let mut slot: std::collections::HashMap<u32, [u8; BINS]> = std::collections::HashMap::new();
        self.votes(upright, mirrored, p, |_, image, at_bin| {
            let bins = slot.entry(image).or_insert([0; BINS]);
            let b = &mut bins[at_bin];
            *b = b.saturating_add(1);
        });
        best_first(
            slot.into_iter()
                .filter_map(|(image, bins)| self.candidate(image, &bins, p))
                .collect(),
            limit,
        )
    }

    /// Every vote of the query: for each query word (upright, half 0, then
    /// mirrored, half 1) whose list is not a stop word, each picture on the
    /// list once, with its [`bin`]: the half, the turn from the query
    /// feature to the picture's, and the picture's feature level less the
    /// query's.
    fn votes(
        &self,
        upright: &[QueryWord],
        mirrored: &[QueryWord],
        p: &CandidateParams,
        mut vote: impl FnMut(usize, u32, usize),
    ) {
        let stop = self.stop_length(p);
        let mapped = self.mapped_lists();
        for (half, query) in [upright, mirrored].into_iter().enumerate() {
            for q in query {
                let Some(list) = self
                    .lists
                    .get(usize::from(q.word))
                    .filter(|l| l.count <= stop)
                else {
                    continue;
                };
                let qb = angle_bin(q.angle);
                let ql = usize::from(q.level.min(MAX_LEVEL));
                let mut last = u32::MAX;
                for (image, g) in list.iter(mapped) {
                    if image == last {
                        continue;
                    }
                    last = image;
                    let (angle, level) = split_geometry(g);
                    let turn = (angle + ANGLE_BINS - qb) % ANGLE_BINS;
                    let scale = usize::from(level.min(MAX_LEVEL)) + usize::from(MAX_LEVEL) - ql;
                    vote(half, image, bin(half, turn, scale));
                }
            }
        }
    }

    /// Lists longer than this are stop words.
    fn stop_length(&self, p: &CandidateParams) -> u32 {
        let mean = self.postings as f64 / self.lists.len().max(1) as f64;
        (p.stop_factor * mean).max(64.0) as u32
    }

    /// A picture's votes in its best turn and scale (two neighbouring turn
    /// bins by two neighbouring scale bins, upright or mirrored), if enough,
    /// and its score.
    ///
    /// Two of each because a copy's turn and scale fall between bins: a copy
    /// 1.4 times larger puts a feature of level 3 at level 1 or 2 (levels
    /// are 1.2 apart), so its votes split between two scale bins, as a copy
    /// turned 10° splits its votes between two turn bins.
    ///
    /// The score also counts, less, the votes of the same turn at other
    /// scales: the same corner is often found on two pyramid levels with one
    /// word, and the archive's posting that votes may be the wrong level.
    /// Ranked by the scale-consistent votes alone, a crop + caption +
    /// downscale copy whose votes fell from 19 (turn alone) to 9 dropped out
    /// of the first 64 candidates among 100,000 pictures; ranked by turn
    /// alone, a half-area crop did among 10,000 (docs/matching.md).
    fn candidate(&self, image: u32, bins: &[u8; BINS], p: &CandidateParams) -> Option<Candidate> {
        // (score, votes, mirrored)
        let mut best = (0u32, 0u32, false);
        for half in 0..2 {
            let scales = |b: usize| &bins[bin(half, b, 0)..bin(half, b, SCALE_BINS)];
            let turns: [u32; ANGLE_BINS] =
                std::array::from_fn(|b| scales(b).iter().map(|&v| u32::from(v)).sum());
            for b in 0..ANGLE_BINS {
                let turn = turns[b] + turns[(b + 1) % ANGLE_BINS];
                // Most turns of most pictures cannot beat the best so far
                // (a score is at most SCALE_WEIGHT + 1 times the turn's
                // votes): their scales are not looked at, which keeps this
                // step small next to the votes at a million pictures.
                if turn < p.min_votes || (SCALE_WEIGHT + 1) * turn < best.0 {
                    continue;
                }
                let (this, next) = (scales(b), scales((b + 1) % ANGLE_BINS));
                let pair: [u32; SCALE_BINS] =
                    std::array::from_fn(|s| u32::from(this[s]) + u32::from(next[s]));
                for s in 0..SCALE_BINS - 1 {
                    let v = pair[s] + pair[s + 1];
                    let score = SCALE_WEIGHT * v + turn;
                    if (score, v) > (best.0, best.1) {
                        best = (score, v, half == 1);
                    }
                }
            }
        }
        // A damaged snapshot could name a picture that is not there.
        let image_id = *self.images.get(image as usize)?;
        (best.1 >= p.min_votes).then_some(Candidate {
            image_id,
            votes: best.1,
            score: best.0,
            mirrored: best.2,
        })
    }
}

impl FeatureIndex {
    /// Sizes of the stored form: (pictures, lists, posting bytes).
    pub(crate) fn sizes(&self) -> (u64, u64, u64) {
        (
            self.images.len() as u64,
            self.lists.len() as u64,
            self.lists.iter().map(|l| l.len() as u64).sum(),
        )
    }

    /// Write the stored form: the image ids (i64 each), then per list its
    /// posting count, last picture and byte length (u32 each), then every
    /// list's bytes, in word order; all little-endian.
    pub(crate) fn write_parts<E>(
        &self,
        put: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut buf = Vec::with_capacity(8 * self.images.len());
        for id in &self.images {
            buf.extend_from_slice(&id.to_le_bytes());
        }
        put(&buf)?;
        buf.clear();
        for l in &self.lists {
            buf.extend_from_slice(&l.count.to_le_bytes());
            buf.extend_from_slice(&l.last.to_le_bytes());
            buf.extend_from_slice(&(l.len() as u32).to_le_bytes());
        }
        put(&buf)?;
        let mapped = self.mapped_lists();
        for l in &self.lists {
            let (at, len) = l.mapped;
            put(mapped.get(at..at + len).unwrap_or_default())?;
            put(&l.bytes)?;
        }
        Ok(())
    }

    /// Read what [`FeatureIndex::write_parts`] wrote: `ids` (8 bytes a
    /// picture), `heads` (12 bytes a list), and the lists, the `len` bytes at
    /// `at` in `map`, which are read in place, not copied: at 100,000
    /// pictures they were 43 MB of a `scan`'s 160 MB of heap (heaptrack),
    /// and they are in the page cache already. `None` when the parts do not
    /// fit together; postings are also read defensively (a cut varint ends
    /// its list, a picture number beyond the ids is skipped), so damage can
    /// cost answers, never a panic.
    pub(crate) fn from_parts(
        ids: &[u8],
        heads: &[u8],
        map: &Arc<Mmap>,
        [at_map, len_map]: [usize; 2],
        words: usize,
    ) -> Option<FeatureIndex> {
        if ids.len() % 8 != 0 || heads.len() != 12 * words {
            return None;
        }
        let bytes = map.get(at_map..at_map.checked_add(len_map)?)?;
        let images: Vec<i64> = ids
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        let mut lists = Vec::with_capacity(words);
        let mut at = 0usize;
        let mut postings = 0u64;
        for h in heads.chunks_exact(12) {
            let u = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
            let (count, last, len) = (u(0), u(4), u(8) as usize);
            let end = at.checked_add(len)?;
            if end > bytes.len() || (count as usize) > len {
                return None;
            }
            lists.push(List {
                mapped: (at, len),
                bytes: Vec::new(),
                last,
                count,
            });
            postings += u64::from(count);
            at = end;
        }
        if at != bytes.len() {
            return None;
        }
        Some(FeatureIndex {
            lists: if postings == 0 { Vec::new() } else { lists },
            words: words.max(1),
            images,
            postings,
            mapped: (postings > 0).then(|| (Arc::clone(map), at_map, len_map)),
        })
    }
}

/// The first `limit` candidates by score, ties by image id: the order both
/// searches return, so that they can be compared candidate by candidate.
fn best_first(mut out: Vec<Candidate>, limit: usize) -> Vec<Candidate> {
    out.sort_by(|a, b| b.score.cmp(&a.score).then(a.image_id.cmp(&b.image_id)));
    out.truncate(limit);
    out
}

/// Where a vote goes among a picture's [`BINS`].
fn bin(half: usize, turn: usize, scale: usize) -> usize {
    (half * ANGLE_BINS + turn) * SCALE_BINS + scale
}

/// A query's words with their angles, upright and as the mirrored picture
/// shows them (what [`FeatureIndex::candidates_of_words`] takes).
#[allow(clippy::type_complexity)]
pub fn query_words(vocabulary: &Vocabulary, query: &Features) -> (Vec<QueryWord>, Vec<QueryWord>) {
    let upright: Vec<[u64; 4]> = query.items.iter().map(|f| f.descriptor).collect();
    let up: Vec<QueryWord> = vocabulary
        .words(&upright)
        .into_iter()
        .zip(&query.items)
        .map(|(word, f)| QueryWord {
            word,
            angle: f.angle,
            level: f.level,
        })
        .collect();
    let mirrored: Vec<QueryWord> = match &query.mirrored {
        Some(m) => vocabulary
            .words(&m.0)
            .into_iter()
            .zip(&query.items)
            .map(|(word, f)| QueryWord {
                word,
                angle: mirrored_angle(f),
                level: f.level,
            })
            .collect(),
        None => Vec::new(),
    };
    (up, mirrored)
}

/// A feature's angle as the mirrored picture shows it.
pub fn mirrored_angle(f: &Feature) -> f32 {
    std::f32::consts::PI - f.angle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_pictures_and_geometry() {
        let mut l = List::default();
        let items = [
            (0u32, 7u8),
            (1, 0),
            (1, 255),
            (300, 3),
            (70_000, 9),
            (4_000_000_000, 1),
        ];
        for (i, g) in items {
            l.push(i, g);
        }
        assert_eq!(l.iter(&[]).collect::<Vec<_>>(), items.to_vec());
        // A cut list ends early, never panics.
        let cut = List {
            bytes: l.bytes[..l.bytes.len() - 3].to_vec(),
            ..l.clone()
        };
        assert!(cut.iter(&[]).count() < items.len());
        // Split after any posting between a mapped part (here at byte 5 of
        // the mapped lists) and the postings added since: the same list.
        let mut ends = vec![0];
        let mut one = List::default();
        for (i, g) in items {
            one.push(i, g);
            ends.push(one.bytes.len());
        }
        for &split in &ends {
            let mapped: Vec<u8> = [0u8; 5].iter().chain(&l.bytes[..split]).copied().collect();
            let two = List {
                mapped: (5, split),
                bytes: l.bytes[split..].to_vec(),
                ..l.clone()
            };
            assert_eq!(two.len(), l.bytes.len());
            assert_eq!(
                two.iter(&mapped).collect::<Vec<_>>(),
                items.to_vec(),
                "{split}"
            );
        }
        // A mapped part cut inside a posting ends the list there.
        let two = List {
            mapped: (0, ends[3] - 1),
            bytes: l.bytes[ends[3]..].to_vec(),
            ..l.clone()
        };
        assert!(two.iter(&l.bytes).count() < items.len());
    }

    use crate::features::FeatureParams;

    fn sample(name: &str) -> image::DynamicImage {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples")
            .join(name);
        let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        crate::decode::shrink(&img, crate::decode::WORKING_SIDE)
    }

    /// The words of the seven archived samples, as the archive stores them.
    fn archived_words(vocabulary: &Vocabulary) -> Vec<Vec<Word>> {
        [
            "Blinds.jpg",
            "Dune.jpg",
            "Storm.jpg",
            "Wood.jpg",
            "china.jpg",
            "grace_hopper.jpg",
            "rocket.jpg",
        ]
        .iter()
        .map(|n| {
            let f = Features::of_image(&sample(&format!("archive/{n}")), &FeatureParams::archive());
            words(vocabulary, &f)
        })
        .collect()
    }

    /// A reproducible stream of 31-bit numbers (Knuth's MMIX constants).
    fn lcg(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *state >> 33
    }

    const QUERIES: [&str; 6] = [
        "incoming/dune_crop_centre.jpg",
        "incoming/grace_hopper_crop_offcentre.jpg",
        "incoming/blinds_mirrored.jpg",
        "incoming/storm_crop_caption_640.jpg",
        "incoming/dune_screenshot.jpg",
        "incoming/new_coffee.jpg",
    ];

    #[test]
    fn the_shortlist_changes_nothing_while_every_touched_picture_fits() {
        let vocabulary = Vocabulary::builtin();
        let mut index = FeatureIndex::default();
        for (i, w) in archived_words(vocabulary).iter().enumerate() {
            index.insert(i as i64 + 1, w);
        }
        let p = CandidateParams::default();
        let mut found = 0;
        for q in QUERIES {
            let f = Features::of_image(&sample(q), &FeatureParams::query());
            let (up, mirrored) = query_words(vocabulary, &f);
            let fast = index.candidates_of_words(&up, &mirrored, 24, &p);
            let slow = index.candidates_exhaustive(&up, &mirrored, 24, &p);
            assert_eq!(fast, slow, "{q}");
            found += fast.len();
        }
        assert!(
            found > 0,
            "the queries found nothing: the comparison says nothing"
        );
    }

    #[test]
    fn a_copy_outvotes_thousands_of_pictures_made_of_real_words_through_a_short_shortlist() {
        // 20,000 pictures, each half the words of one archived sample and
        // half of another (as examples/features_scale.rs makes them), then
        // the samples themselves: every query word's list is long, and a
        // shortlist of 64 is far shorter than the pictures each query touches.
        let vocabulary = Vocabulary::builtin();
        let real = archived_words(vocabulary);
        let mut index = FeatureIndex::default();
        let mut state = 0x5eed_u64;
        let mut next = || lcg(&mut state);
        for id in 0..20_000i64 {
            let a = &real[next() as usize % real.len()];
            let b = &real[next() as usize % real.len()];
            let mut made: Vec<Word> = a.iter().filter(|_| next() % 2 == 0).copied().collect();
            made.extend(b.iter().filter(|_| next() % 2 == 1));
            index.insert(100_000 + id, &made);
        }
        for (i, w) in real.iter().enumerate() {
            index.insert(i as i64 + 1, w);
        }
        // Made from seven pictures, these lists are far longer than a real
        // archive's mean: stop words are off so that they are searched.
        let short = CandidateParams {
            shortlist: 64,
            stop_factor: f64::INFINITY,
            ..CandidateParams::default()
        };
        for (q, archived) in [
            ("incoming/dune_crop_centre.jpg", 2),
            ("incoming/grace_hopper_crop_offcentre.jpg", 6),
            ("incoming/blinds_mirrored.jpg", 1),
        ] {
            let f = Features::of_image(&sample(q), &FeatureParams::query());
            let (up, mirrored) = query_words(vocabulary, &f);
            let fast = index.candidates_of_words(&up, &mirrored, 24, &short);
            let slow = index.candidates_exhaustive(&up, &mirrored, 24, &short);
            assert_eq!(
                slow.first().map(|c| c.image_id),
                Some(archived),
                "{q}: exhaustive"
            );
            assert_eq!(fast.first(), slow.first(), "{q}");
            assert!(fast.len() <= 24);
        }
    }

    #[test]
    fn votes_must_agree_on_scale_as_well_as_turn() {
        // Decoys hold the very words and angles of Dune.jpg, each at a
        // pyramid level drawn at random: by word and turn they tie with
        // Dune itself, and with their lower ids they would come first. A
        // copy's features keep their levels (shifted by its enlargement),
        // chance words do not, so Dune must come first and every decoy
        // far behind it.
        let vocabulary = Vocabulary::builtin();
        let real = archived_words(vocabulary);
        let dune = &real[1];
        let mut index = FeatureIndex::default();
        let mut state = 0x5ca1e_u64;
        for id in 1..=5i64 {
            let decoy: Vec<Word> = dune
                .iter()
                .map(|w| Word {
                    word: w.word,
                    geometry: (w.geometry & 0xf0) | (lcg(&mut state) % 8) as u8,
                })
                .collect();
            index.insert(id, &decoy);
        }
        index.insert(100, dune);
        let f = Features::of_image(
            &sample("incoming/dune_crop_centre.jpg"),
            &FeatureParams::query(),
        );
        let (up, mirrored) = query_words(vocabulary, &f);
        let p = CandidateParams::default();
        for c in [
            index.candidates_of_words(&up, &mirrored, 3, &p),
            index.candidates_exhaustive(&up, &mirrored, 3, &p),
        ] {
            assert_eq!(c.first().map(|c| c.image_id), Some(100), "{c:?}");
            assert!(
                c.iter().skip(1).all(|d| 2 * d.votes < c[0].votes),
                "a decoy came close: {c:?}"
            );
        }
    }

    #[test]
    fn votes_of_the_same_turn_at_other_scales_count_for_less() {
        let mut index = FeatureIndex::default();
        index.insert(
            1,
            &[Word {
                word: 0,
                geometry: 0,
            }],
        );
        index.insert(
            2,
            &[Word {
                word: 0,
                geometry: 0,
            }],
        );
        let p = CandidateParams::default();
        // Picture 1: six votes, all in one turn and scale.
        let mut one = [0u8; BINS];
        one[bin(0, 3, 7)] = 6;
        // Picture 2: five there, and six more of the same turn at scales
        // far off (the same corners' words posted at other levels).
        let mut two = [0u8; BINS];
        two[bin(0, 3, 7)] = 5;
        for s in [0, 2, 4, 10, 12, 14] {
            two[bin(0, 3, s)] = 1;
        }
        // Picture 3: as many votes in all as picture 2, spread over turns.
        let mut three = [0u8; BINS];
        for t in 0..11 {
            three[bin(0, t, 7)] = 1;
        }
        let c1 = index.candidate(0, &one, &p).expect("six votes");
        let c2 = index.candidate(1, &two, &p).expect("five votes");
        assert_eq!((c1.votes, c2.votes), (6, 5));
        assert_eq!(
            (c1.score, c2.score),
            (SCALE_WEIGHT * 6 + 6, SCALE_WEIGHT * 5 + 11)
        );
        // Fewer consistent votes, but the turn's others put it first.
        assert!(c2.score > c1.score);
        // Votes that agree on nothing neither make a candidate nor outrank.
        assert!(index
            .candidate(1, &three, &p)
            .is_none_or(|c| c.score < c1.score));
    }

    #[test]
    fn many_identical_pictures_keep_the_search_bounded() {
        let vocabulary = Vocabulary::builtin();
        let real = archived_words(vocabulary);
        let mut index = FeatureIndex::default();
        for id in 0..3_000i64 {
            index.insert(id + 1, &real[2]);
        }
        let p = CandidateParams {
            shortlist: 10,
            stop_factor: f64::INFINITY,
            ..CandidateParams::default()
        };
        let f = Features::of_image(&sample("archive/Storm.jpg"), &FeatureParams::query());
        let (up, mirrored) = query_words(vocabulary, &f);
        let c = index.candidates_of_words(&up, &mirrored, 24, &p);
        // All 3,000 tie; the shortlist takes its 10 and they all qualify.
        assert_eq!(c.len(), 10);
        assert!(c.iter().all(|c| c.votes >= p.min_votes && !c.mirrored));
    }

    #[test]
    fn stored_words_round_trip() {
        let w = vec![
            Word {
                word: 65535,
                geometry: 0xf7,
            },
            Word {
                word: 0,
                geometry: 0,
            },
        ];
        assert_eq!(words_from_bytes(&words_to_bytes(&w)), Some(w));
        assert_eq!(words_from_bytes(&[1, 2]), None);
    }
}
