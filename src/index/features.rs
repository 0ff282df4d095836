//! The archive's local features as an inverted file: for each visual word,
//! the archived pictures that have a feature of it, with that feature's
//! orientation and scale. A query's features vote for the pictures that share
//! their words, and only votes that agree on one turn count (weak geometric
//! consistency, Jégou et al. 2008): a copy's shared features all turned by the
//! same angle pile up in one bin, an unrelated picture's chance words scatter.
//! What comes out is a short list of candidates, best first, for the
//! geometric check in [`crate::features::geometry`]; this module decides
//! nothing about matches.
//!
//! A posting is the picture (a dense local number, delta-coded in the list)
//! and one byte: the feature's angle in 16 steps and its pyramid level. About
//! 3 bytes a feature; `memory()` says what it comes to.

use crate::features::vocabulary::Vocabulary;
use crate::features::{Feature, Features};

/// Orientation bins of a posting (a turn in 16 steps of 22.5°).
const ANGLE_BINS: usize = 16;

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
/// by its geometry byte.
#[derive(Debug, Default, Clone)]
struct List {
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

    fn iter(&self) -> ListIter<'_> {
        ListIter {
            bytes: &self.bytes,
            at: 0,
            image: 0,
        }
    }
}

struct ListIter<'a> {
    bytes: &'a [u8],
    at: usize,
    image: u32,
}

impl Iterator for ListIter<'_> {
    type Item = (u32, u8);
    fn next(&mut self) -> Option<(u32, u8)> {
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
    /// Least votes in one turn for a picture to be a candidate.
    pub min_votes: u32,
    /// Words whose list is longer than this many times the mean are skipped
    /// (they are on nearly every picture and say nothing).
    pub stop_factor: f64,
}

impl Default for CandidateParams {
    fn default() -> Self {
        CandidateParams {
            min_votes: 3,
            stop_factor: 40.0,
        }
    }
}

/// An archived picture the features point at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Archive image id.
    pub image_id: i64,
    /// Votes in its best turn (upright or mirrored).
    pub votes: u32,
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

    /// Bytes held: postings, list headers and the id table.
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
        let upright: Vec<[u64; 4]> = query.items.iter().map(|f| f.descriptor).collect();
        let up: Vec<(u16, f32)> = vocabulary
            .words(&upright)
            .into_iter()
            .zip(&query.items)
            .map(|(w, f)| (w, f.angle))
            .collect();
        let mirrored: Vec<(u16, f32)> = match &query.mirrored {
            Some(m) => vocabulary
                .words(&m.0)
                .into_iter()
                .zip(&query.items)
                .map(|(w, f)| (w, mirrored_angle(f)))
                .collect(),
            None => Vec::new(),
        };
        self.candidates_of_words(&up, &mirrored, limit, p)
    }

    /// [`FeatureIndex::candidates`] for a query already quantised: its
    /// words with their angles, upright and as the mirrored picture shows
    /// them (angles of the mirrored picture).
    pub fn candidates_of_words(
        &self,
        upright: &[(u16, f32)],
        mirrored: &[(u16, f32)],
        limit: usize,
        p: &CandidateParams,
    ) -> Vec<Candidate> {
        if self.images.is_empty() || self.lists.is_empty() || limit == 0 {
            return Vec::new();
        }
        let mean = self.postings as f64 / self.lists.len() as f64;
        let stop = (p.stop_factor * mean).max(64.0) as u32;
        // Votes: per touched picture, 16 turn bins upright and 16 mirrored.
        let mut slot: std::collections::HashMap<u32, [u16; 2 * ANGLE_BINS]> =
            std::collections::HashMap::new();
        let mut vote = |word: u16, qangle: f32, mirrored: bool| {
            let word = usize::from(word);
            let Some(list) = self.lists.get(word) else {
                return;
            };
            if list.count > stop {
                return;
            }
            let qb = angle_bin(qangle);
            let mut last = u32::MAX;
            for (image, g) in list.iter() {
                if image == last {
                    continue;
                }
                last = image;
                let ab = usize::from(g >> 4);
                let turn = (ab + ANGLE_BINS - qb) % ANGLE_BINS;
                let bins = slot.entry(image).or_insert([0; 2 * ANGLE_BINS]);
                let k = turn + if mirrored { ANGLE_BINS } else { 0 };
                bins[k] = bins[k].saturating_add(1);
            }
        };
        for &(w, a) in upright {
            vote(w, a, false);
        }
        for &(w, a) in mirrored {
            vote(w, a, true);
        }
        let mut out: Vec<Candidate> = slot
            .into_iter()
            .filter_map(|(image, bins)| {
                let mut best = (0u32, false);
                for half in 0..2 {
                    for b in 0..ANGLE_BINS {
                        let v = u32::from(bins[half * ANGLE_BINS + b])
                            + u32::from(bins[half * ANGLE_BINS + (b + 1) % ANGLE_BINS]);
                        if v > best.0 {
                            best = (v, half == 1);
                        }
                    }
                }
                // A damaged snapshot could name a picture that is not there.
                let image_id = *self.images.get(image as usize)?;
                (best.0 >= p.min_votes).then_some(Candidate {
                    image_id,
                    votes: best.0,
                    mirrored: best.1,
                })
            })
            .collect();
        out.sort_by(|a, b| b.votes.cmp(&a.votes).then(a.image_id.cmp(&b.image_id)));
        out.truncate(limit);
        out
    }
}

impl FeatureIndex {
    /// Sizes of the stored form: (pictures, lists, posting bytes).
    pub(crate) fn sizes(&self) -> (u64, u64, u64) {
        (
            self.images.len() as u64,
            self.lists.len() as u64,
            self.lists.iter().map(|l| l.bytes.len() as u64).sum(),
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
            buf.extend_from_slice(&(l.bytes.len() as u32).to_le_bytes());
        }
        put(&buf)?;
        for l in &self.lists {
            put(&l.bytes)?;
        }
        Ok(())
    }

    /// Read what [`FeatureIndex::write_parts`] wrote: `ids` (8 bytes a
    /// picture), `heads` (12 bytes a list), `bytes` (the lists). `None` when
    /// the parts do not fit together; postings are also read defensively
    /// (a cut varint ends its list, a picture number beyond the ids is
    /// skipped), so damage can cost answers, never a panic.
    pub(crate) fn from_parts(
        ids: &[u8],
        heads: &[u8],
        bytes: &[u8],
        words: usize,
    ) -> Option<FeatureIndex> {
        if ids.len() % 8 != 0 || heads.len() != 12 * words {
            return None;
        }
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
                bytes: bytes[at..end].to_vec(),
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
        })
    }
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
        assert_eq!(l.iter().collect::<Vec<_>>(), items.to_vec());
        // A cut list ends early, never panics.
        let cut = List {
            bytes: l.bytes[..l.bytes.len() - 3].to_vec(),
            ..l.clone()
        };
        assert!(cut.iter().count() < items.len());
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
