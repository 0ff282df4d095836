//! Find earlier copies: hashes of the incoming picture's views against the
//! archive index, then a decision per candidate. Candidates come from two
//! places: every stored hash within a loose distance, and the few nearest stored
//! hashes whatever their distance (so that a crop or a screenshot whose hashes
//! moved far still reaches the verifier). A candidate becomes a match only when
//! independent signals agree: two hash algorithms on the same view, or a
//! geometric alignment of the thumbnails. No file I/O, no verdict on the story:
//! that is `assess`'s job.

pub mod align;
pub mod chance;
mod exposures;
mod local;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use image::GrayImage;
use rayon::prelude::*;

use crate::archive::{Archive, KnownImage, StoredHash};
use crate::error::{Error, Result};
use crate::evidence::{Chance, ChanceSignal, Confidence, Geometry, Match, MatchRegion};
use crate::features::geometry::VerifyParams;
use crate::geometry::{Dihedral, Rect};
use crate::hash::variants::QueryVariant;
use crate::hash::HashKind;
use crate::index::features::CandidateParams;
use crate::index::MemoryIndex;
use align::{AlignParams, Thumb};
use chance::ChanceModel;

/// Distances and counts that turn hash distances into decisions.
///
/// The defaults come from the measured distributions written down in
/// docs/matching.md ("How the thresholds were set"); re-measure with
/// `cargo run --release --features examples --example distances`. Measured on 100 real photos
/// (9 circulation changes each, 4950 different-photo pairs): PDQ (quality ≥ 50)
/// same-photo max 46 (a 320 px q60 messenger copy), different-photo min 88 (a
/// stereo pair of the same scene), 0.1st percentile 102; pHash same max 10,
/// different min 6 (that stereo pair) then 12; dHash same max 9, different min 4
/// (two nearly blank frames). So PDQ leads, with a wide margin on both sides, and
/// the 64-bit hashes only confirm together and only when PDQ cannot speak.
#[derive(Debug, Clone)]
pub struct MatchParams {
    /// pHash distance at or below which two views agree strongly.
    pub phash_confirm: u32,
    /// pHash distance at or below which a view is worth a look.
    pub phash_possible: u32,
    /// dHash distance at or below which two views agree strongly.
    pub dhash_confirm: u32,
    /// dHash distance at or below which a view is worth a look.
    pub dhash_possible: u32,
    /// PDQ distance at or below which two views agree strongly.
    pub pdq_confirm: u32,
    /// PDQ distance at or below which a view is worth a look (Meta's own threshold is 31).
    pub pdq_possible: u32,
    /// PDQ quality below which a PDQ hash is not trusted for matching.
    pub pdq_min_quality: u8,
    /// Nearest stored hashes taken per view and algorithm, whatever their distance.
    pub nearest_per_view: usize,
    /// At most this many candidates are verified per picture.
    pub max_candidates: usize,
    /// Of the candidates no hash agrees with at all (reached only as nearest
    /// neighbours), the aligner's coarse search looks at this many, nearest
    /// first. Aligning is most of the time of a scan; the far ones are nearly
    /// always unrelated pictures.
    pub align_unsupported: usize,
    /// Of those unsupported candidates, all get the aligner's coarse search
    /// and only this many, best coarse correlation first, are refined and
    /// scored. The coarse correlation ranks the original of a crop or a
    /// screenshot first far more often than hash distances do (see
    /// docs/matching.md, "The crop search"), and refining is about half
    /// of each alignment's cost.
    pub refine_unsupported: usize,
    /// Whether the candidates no hash supports are aligned even when the
    /// incoming picture is already known whole: identical bytes, or its whole
    /// frame confirmed against the whole frame of an archived picture by
    /// hashes rare enough at the archive's size (`confirm_e`). Off by
    /// default. Such a picture *is* that archived one, so any other archived
    /// picture that shows part of it, or that it is part of, relates to the
    /// archived one in the same way; the search would only repeat, for a copy,
    /// what was there to find when the archived picture itself came in. It is
    /// most of the time of a scan of known pictures (docs/matching.md, "The crop
    /// search"). Candidates a hash points at are
    /// aligned either way.
    pub align_unsupported_when_known: bool,
    /// Whether the candidates no hash supports are also searched turned by a
    /// quarter or half turn (the six dihedral transforms other than the
    /// identity and the mirror image). Off by default. A copy turned whole is
    /// found by the hashes of the incoming picture's eight turns, which are
    /// looked up against every archived frame and window, so such a candidate
    /// has hash support and is aligned with every transform anyway; what is
    /// left to the search of unsupported candidates is crops, captions and
    /// screenshots, which circulate upright or mirrored. Searching the other
    /// six turns of every unsupported candidate cost ~11% of a scan of new
    /// pictures, and their chance correlations outranked the true original
    /// (docs/matching.md, "The crop search").
    pub align_unsupported_turned: bool,
    /// Thumbnail alignment settings.
    pub align: AlignParams,
    /// Whether a confident alignment needs a hash of some view to agree too
    /// before a match is `confirmed` (on by default: zero false confirmations
    /// matters more than confirming every crop).
    pub alignment_needs_hash_support: bool,
    /// How many archived pictures the local-feature index points at are
    /// verified geometrically (`--crop-search`): the search for crops,
    /// screenshots, captioned and turned copies. 0 turns it off. 256: the
    /// unrelated pictures that outrank a weak copy's original grow in
    /// number with the archive, and at 100,000 pictures a half-area crop's
    /// original ranked between 65th and 256th; verifying 256 instead of 64
    /// found it for 6-7 ms more CPU a query at 10,000 and 100,000 pictures
    /// (docs/matching.md, "How many candidates to verify"). The chance model counts every archived picture whether
    /// verified or not, so verifying more costs time, not false matches.
    pub feature_candidates: usize,
    /// How the feature index is searched.
    pub feature_index: CandidateParams,
    /// How a candidate's features are verified.
    pub verify: VerifyParams,
    /// Agreeing pairs of shared visual words a candidate needs before its
    /// descriptors are compared (the quick check that most candidates of a
    /// picture new to the archive stop at).
    pub quick_inliers: usize,
    /// The pyramid step the stored features were made with
    /// ([`crate::features::FeatureParams::scale_factor`]).
    pub feature_scale_factor: f32,
    /// The chance model that turns evidence into expected chance matches.
    pub chance: ChanceModel,
    /// Largest expected number of chance matches for `possible`.
    pub possible_e: f64,
    /// Largest expected number of chance matches for `confirmed` (which also
    /// needs a second, independent signal).
    pub confirm_e: f64,
    /// Drop a partial copy whose shared part, compared by hashes, agrees on
    /// no hash even at its `possible` distance: what the local features
    /// agreed on was a logo, a watermark or a phone's bars, not the picture.
    pub overlap_must_agree: bool,
    /// Largest residual of a partial copy's geometry for `confirmed`
    /// ([`crate::features::geometry::Verified::residual`]): a copy is one
    /// similarity to within about a pixel; two photographs of one scene from
    /// a step apart (a stereo pair, a burst from a moving hand) agree on many
    /// features but, through parallax, only to a few pixels.
    pub confirm_max_residual: f32,
    /// Of two confirmed matches whose archived pictures were captured at
    /// different times and are not whole-frame copies of each other (two
    /// exposures of one scene, which cannot both be a copy's source), the one
    /// with this many times more chance matches expected from its evidence is
    /// lowered to `possible`. A margin between two measured ranges, not a
    /// fitted line: the exposures of the benchmark's HDR bracket differ by
    /// 10^3.5 to 10^33, one picture's re-saved copies of the same size by up
    /// to 10^3 (re-saves of another size by more, which the whole-frame copy
    /// check, not this margin, keeps confirmed; docs/matching.md, "Exposures
    /// of one scene").
    pub exposure_margin: f64,
}

impl Default for MatchParams {
    fn default() -> Self {
        MatchParams {
            phash_confirm: 8,
            phash_possible: 14,
            dhash_confirm: 10,
            dhash_possible: 16,
            pdq_confirm: 52,
            pdq_possible: 64,
            pdq_min_quality: 50,
            nearest_per_view: 3,
            max_candidates: 24,
            // The local features search for crops now; the thumbnail
            // search of the nearest pictures by hash finds them only while
            // the archive is small (docs/matching.md).
            align_unsupported: 0,
            refine_unsupported: 8,
            align_unsupported_when_known: false,
            align_unsupported_turned: false,
            align: AlignParams::default(),
            alignment_needs_hash_support: true,
            feature_candidates: 256,
            feature_index: CandidateParams::default(),
            verify: VerifyParams::default(),
            quick_inliers: 4,
            feature_scale_factor: crate::features::FeatureParams::archive().scale_factor,
            chance: ChanceModel::default(),
            possible_e: 1e-3,
            confirm_e: 1e-6,
            overlap_must_agree: true,
            confirm_max_residual: 2.0,
            exposure_margin: 1e2,
        }
    }
}

/// What matching needs from the archive besides the index.
pub trait Lookup {
    /// Image id of byte-identical content.
    fn by_sha256(&self, sha256: &str) -> Result<Option<i64>>;
    /// What is known of an image.
    fn known(&self, id: i64) -> Result<Option<KnownImage>>;
    /// Its verification thumbnail.
    fn thumb(&self, id: i64) -> Result<Option<Vec<u8>>>;
    /// Its stored hashes (every region and kind). The default knows none, and
    /// matching then judges on the distances the index returned.
    fn hashes(&self, _id: i64) -> Result<Vec<StoredHash>> {
        Ok(Vec::new())
    }
    /// Its stored local features and their words. The default knows none,
    /// and only hashes are matched.
    fn features(&self, _id: i64) -> Result<Option<crate::archive::StoredFeatures>> {
        Ok(None)
    }
}

impl Lookup for Mutex<Archive> {
    fn by_sha256(&self, sha256: &str) -> Result<Option<i64>> {
        self.lock()
            .map_err(|_| Error::Archive("archive lock poisoned".into()))?
            .lookup_sha256(sha256)
    }
    fn known(&self, id: i64) -> Result<Option<KnownImage>> {
        self.lock()
            .map_err(|_| Error::Archive("archive lock poisoned".into()))?
            .known_image(id)
    }
    fn thumb(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.lock()
            .map_err(|_| Error::Archive("archive lock poisoned".into()))?
            .thumb(id)
    }
    fn hashes(&self, id: i64) -> Result<Vec<StoredHash>> {
        self.lock()
            .map_err(|_| Error::Archive("archive lock poisoned".into()))?
            .image_hashes(id)
    }
    fn features(&self, id: i64) -> Result<Option<crate::archive::StoredFeatures>> {
        self.lock()
            .map_err(|_| Error::Archive("archive lock poisoned".into()))?
            .features(id)
    }
}

/// The picture inside the incoming one, when its views show one (the photo
/// of a screenshot, a picture inside a frame) at most two thirds of the
/// working copy's side: its features enlarged to the working side (see
/// [`crate::features::View`]).
pub fn inner_view(img: &GrayImage, variants: &[QueryVariant]) -> Option<crate::features::View> {
    let window = ["content", "trimmed"]
        .iter()
        .find_map(|r| variants.iter().find(|v| v.region == *r))?
        .window;
    crate::features::View::of_part(
        img,
        window.pixels(img.width(), img.height()),
        crate::decode::WORKING_SIDE,
        INNER_VIEW_MIN_SCALE,
        &crate::features::FeatureParams::query(),
    )
}

/// Whether matching looks up an archived picture's stored hash of `kind`
/// for `region` in the in-memory index (the archive keeps them all, and
/// judging a candidate reads them all from it).
///
/// The whole frame's hashes all are. Of the crop windows, the 64-bit hashes
/// only: a window is searched to make a cropped copy's original a candidate,
/// and its pHash and dHash, at their wider radii, already do; its PDQ (32 of
/// the 48 bytes each window costs in memory) is then measured from the
/// archive with the rest. Local features find crops whatever the windows. The
/// accuracy benchmark at 100,000 archived pictures finds the same copies
/// either way (docs/matching.md), with a third of the index's hash bytes.
pub fn searched(region: &str, kind: HashKind) -> bool {
    region == "full" || kind != HashKind::Pdq
}

/// Below this enlargement the picture's own features already describe the
/// part inside at the archive's finer scales (the pyramid's step is 1.2).
pub const INNER_VIEW_MIN_SCALE: f32 = 1.5;

/// The incoming picture as matching sees it.
pub struct Query<'a> {
    /// Content SHA-256.
    pub sha256: &'a str,
    /// Hashed views (see [`crate::hash::variants::query_variants`]).
    pub variants: &'a [QueryVariant],
    /// Verification thumbnail, when the pixels could be decoded.
    pub thumb: Option<&'a Thumb>,
    /// Local features ([`crate::features::FeatureParams::query`]), when computed.
    pub features: Option<&'a crate::features::Features>,
    /// The features of the picture inside this one (a screenshot's photo, a
    /// framed picture), enlarged: searched with [`Query::features`].
    pub inner: Option<&'a crate::features::View>,
    /// The working copy the features were computed on, grey as `to_luma8`
    /// makes it (for comparing the part a verified transform says both
    /// pictures show).
    pub image: Option<&'a GrayImage>,
    /// Pictures in the archive: what the chance of a match is measured against.
    pub archive_images: u64,
}

/// Best distances seen between one view and one archived region.
#[derive(Debug, Clone, Default)]
struct PairDistances {
    by_kind: BTreeMap<HashKind, u32>,
    /// The archived region's PDQ quality is known to be too low to trust.
    archived_pdq_unreliable: bool,
}

#[derive(Debug, Default)]
struct Candidate {
    /// (variant index, archive region) → distances per kind.
    pairs: HashMap<(usize, String), PairDistances>,
}

impl MatchParams {
    fn possible(&self, kind: HashKind) -> u32 {
        match kind {
            HashKind::Phash => self.phash_possible,
            HashKind::Dhash => self.dhash_possible,
            HashKind::Pdq => self.pdq_possible,
        }
    }
}

/// Verdict of the hashes on one candidate.
struct HashVerdict {
    confidence: Option<Confidence>,
    variant: usize,
    region: String,
    distances: BTreeMap<String, u32>,
    evidence: Vec<String>,
    /// Some pair agreed at confirmation strength (on any region).
    strong_somewhere: bool,
    /// The whole incoming frame and the whole archived one agreed at
    /// confirmation strength (under some transform).
    whole_frame_strong: bool,
    /// PDQ could be trusted on the chosen pair (both qualities high enough).
    pdq_reliable: bool,
}

fn judge_hashes(c: &Candidate, variants: &[QueryVariant], p: &MatchParams) -> Option<HashVerdict> {
    let mut best: Option<(f32, HashVerdict)> = None;
    let mut strong_somewhere = false;
    let mut whole_frame_strong = false;
    // In a fixed order, so that equal ranks resolve the same way on every run
    // (the map's order is random): the first view, then the region name.
    let mut pairs: Vec<_> = c.pairs.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    for ((vi, region), d) in pairs {
        let variant = &variants[*vi];
        let pdq_ok = variant
            .hashes
            .pdq_quality
            .is_some_and(|q| q >= p.pdq_min_quality)
            && !d.archived_pdq_unreliable;
        let get = |k: HashKind| d.by_kind.get(&k).copied();
        let (ph, dh, pq) = (
            get(HashKind::Phash),
            get(HashKind::Dhash),
            get(HashKind::Pdq).filter(|_| pdq_ok),
        );
        // Two independent algorithms must agree for a confirmation: one hash
        // alone is fooled too easily by similar-looking but different pictures.
        // A reliable PDQ far away vetoes the 64-bit hashes, which collide more.
        let second =
            ph.is_some_and(|x| x <= p.phash_possible) || dh.is_some_and(|x| x <= p.dhash_possible);
        let strong_pairs = match pq {
            Some(x) => [x <= p.pdq_confirm && second, false],
            None => [
                false,
                ph.is_some_and(|x| x <= p.phash_confirm)
                    && dh.is_some_and(|x| x <= p.dhash_confirm),
            ],
        };
        let weak = match pq {
            Some(x) => x <= p.pdq_possible,
            None => {
                ph.is_some_and(|x| x <= p.phash_possible)
                    && dh.is_some_and(|x| x <= p.dhash_possible)
            }
        };
        // The same part of both frames (whole vs whole, or the picture above a
        // caption bar vs the same window of the archived one) is geometrically
        // consistent by construction; any other pairing only says where to look.
        let whole = region == "full" || region == variant.region;
        strong_somewhere |= strong_pairs.iter().any(|&b| b);
        whole_frame_strong |=
            strong_pairs.iter().any(|&b| b) && region == "full" && variant.window == Rect::FULL;
        let confidence = if strong_pairs.iter().any(|&b| b) {
            // A hit on an archive window only says where to look; the aligner confirms it.
            Some(if whole {
                Confidence::Confirmed
            } else {
                Confidence::Possible
            })
        } else if weak {
            Some(Confidence::Possible)
        } else {
            None
        };
        // Rank pairs by confidence, then by normalised distance.
        let norm: f32 = d
            .by_kind
            .iter()
            .map(|(k, v)| *v as f32 / k.bits() as f32)
            .sum::<f32>()
            / d.by_kind.len().max(1) as f32;
        let rank = match confidence {
            Some(Confidence::Confirmed) => norm,
            Some(Confidence::Possible) => 1.0 + norm,
            None => 2.0 + norm,
        };
        if best.as_ref().is_none_or(|(r, _)| rank < *r) {
            let mut evidence = Vec::new();
            let mut distances = BTreeMap::new();
            for (k, v) in &d.by_kind {
                distances.insert(k.name().to_string(), *v);
                evidence.push(format!(
                    "{} distance {} of {} bits ({} view{}{} vs archived {})",
                    k.name(),
                    v,
                    k.bits(),
                    variant.region,
                    if variant.transform == Dihedral::Identity {
                        ""
                    } else {
                        ", undoing "
                    },
                    if variant.transform == Dihedral::Identity {
                        ""
                    } else {
                        variant.transform.as_str()
                    },
                    region
                ));
            }
            best = Some((
                rank,
                HashVerdict {
                    confidence,
                    variant: *vi,
                    region: region.clone(),
                    distances,
                    evidence,
                    strong_somewhere: false,
                    whole_frame_strong: false,
                    pdq_reliable: pdq_ok,
                },
            ));
        }
    }
    best.map(|(_, mut v)| {
        v.strong_somewhere = strong_somewhere;
        v.whole_frame_strong = whole_frame_strong;
        v
    })
}

fn describe_alignment(a: &align::Alignment) -> String {
    let qa = a.query_region.w * a.query_region.h;
    let aa = a.archive_region.w * a.archive_region.h;
    if aa < 0.95 && qa >= 0.9 {
        format!(
            "the incoming picture is a crop showing {:.0}% of the archived one",
            aa * 100.0
        )
    } else if qa < 0.95 && aa >= 0.9 {
        format!(
            "the archived picture fills {:.0}% of the incoming one (frame, caption or screenshot)",
            qa * 100.0
        )
    } else {
        format!(
            "{:.0}% of the incoming picture shows {:.0}% of the archived one",
            qa * 100.0,
            aa * 100.0
        )
    }
}

/// Align the candidates no hash supports, within the budget of
/// [`MatchParams`]: the first `align_unsupported` in rank order get the coarse
/// search, the `refine_unsupported` best of those by coarse correlation are
/// finished. At most that many coarse searches are held at once.
fn refine_unsupported(
    prepared: Option<&align::PreparedQuery<'_>>,
    judged: &[(i64, Option<HashVerdict>)],
    exact_id: Option<i64>,
    lookup: &dyn Lookup,
    params: &MatchParams,
) -> Result<(HashMap<i64, Option<align::Alignment>>, usize)> {
    let mut out = HashMap::new();
    let Some(pq) = prepared else {
        return Ok((out, 0));
    };
    let ids: Vec<i64> = judged
        .iter()
        .filter(|(id, v)| {
            Some(*id) != exact_id && v.as_ref().is_none_or(|v| v.confidence.is_none())
        })
        .map(|(id, _)| *id)
        .take(params.align_unsupported)
        .collect();
    let mut thumbs = Vec::with_capacity(ids.len());
    for &id in &ids {
        if let Some(t) = lookup.thumb(id)?.and_then(|b| Thumb::from_bytes(&b)) {
            thumbs.push((id, t));
        }
    }
    let keep = params.refine_unsupported;
    let unsupported_align = if params.align_unsupported_turned {
        params.align.clone()
    } else {
        AlignParams {
            transforms: vec![Dihedral::Identity, Dihedral::Mirror],
            ..params.align.clone()
        }
    };
    // Best first; among equal scores the better-ranked candidate. The coarse
    // searches and the finishes run on rayon's workers (a one-off `check` has
    // both cores to itself); each fold keeps only its `keep` best, so no more
    // coarse searches are held at once than that per worker, and the chosen
    // ones are the same as one after the other.
    type Ranked<'a> = (f32, usize, align::Searched<'a>);
    fn best_of(mut v: Vec<Ranked<'_>>, keep: usize) -> Vec<Ranked<'_>> {
        v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        v.truncate(keep);
        v
    }
    let best: Vec<Ranked<'_>> = thumbs
        .par_iter()
        .enumerate()
        .filter_map(|(i, (_, t))| {
            let searched = align::search(pq, t, &unsupported_align)?;
            Some((searched.coarse_score()?, i, searched))
        })
        .fold(Vec::new, |mut v, r| {
            v.push(r);
            best_of(v, keep)
        })
        .reduce(Vec::new, |mut a, b| {
            a.extend(b);
            best_of(a, keep)
        });
    let finished: Vec<(i64, Option<align::Alignment>)> = best
        .into_par_iter()
        .map(|(_, i, searched)| (thumbs[i].0, searched.finish()))
        .collect();
    out.extend(finished);
    Ok((out, thumbs.len()))
}

/// What [`find_matches_counted`] found, and how far it looked.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// Earlier copies, earliest first-seen first.
    pub matches: Vec<Match>,
    /// How many archived pictures that no hash pointed at were searched by
    /// the aligner (at most [`MatchParams::align_unsupported`]; 0 when the
    /// picture is known whole).
    pub unsupported_searched: usize,
}

/// Find the archived pictures that the query is a copy of, best first.
pub fn find_matches(
    query: &Query<'_>,
    index: &MemoryIndex,
    lookup: &dyn Lookup,
    params: &MatchParams,
) -> Result<Vec<Match>> {
    Ok(find_matches_counted(query, index, lookup, params)?.matches)
}

/// [`find_matches`], and how many candidates without hash support the aligner
/// searched, for the report to say how far the search for crops went.
pub fn find_matches_counted(
    query: &Query<'_>,
    index: &MemoryIndex,
    lookup: &dyn Lookup,
    params: &MatchParams,
) -> Result<Found> {
    // Every view's hashes in one request, so that those the index's tables
    // cannot answer cheaply share one pass over the stored hashes.
    let asked: Vec<(usize, crate::hash::HashBits)> = query
        .variants
        .iter()
        .enumerate()
        .flat_map(|(vi, v)| v.hashes.iter().map(move |bits| (vi, bits)))
        .collect();
    let bits: Vec<crate::hash::HashBits> = asked.iter().map(|(_, b)| *b).collect();
    let found = index.search_many(&bits, |k| params.possible(k), params.nearest_per_view);
    // Every archived picture a hash pointed at, ranked by its nearest hash
    // (as a fraction of the hash's bits). Only the first `max_candidates`
    // are judged, so only they get their (view, region) pairs below: at
    // 100,000 archived pictures the loose 64-bit radii point at tens of
    // thousands, and a map of pairs for each of them was the largest thing
    // a `scan` held (90 MB of 160 MB of heap, heaptrack).
    let mut best: HashMap<i64, f32> = HashMap::new();
    for ((_, bits), hits) in asked.iter().zip(&found) {
        for hit in hits {
            let b = best.entry(hit.image_id).or_insert(1.0);
            *b = b.min(hit.distance as f32 / bits.kind.bits() as f32);
        }
    }
    let exact_id = lookup.by_sha256(query.sha256)?;
    let mut order: Vec<(i64, f32)> = best
        .into_iter()
        .map(|(id, b)| (id, if Some(id) == exact_id { -1.0 } else { b }))
        .collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    order.truncate(params.max_candidates);
    let mut candidates: HashMap<i64, Candidate> = order
        .iter()
        .map(|&(id, _)| (id, Candidate::default()))
        .collect();
    for ((vi, bits), hits) in asked.iter().zip(found) {
        for hit in hits {
            let Some(c) = candidates.get_mut(&hit.image_id) else {
                continue;
            };
            let pair = c.pairs.entry((*vi, hit.region)).or_default();
            let slot = pair.by_kind.entry(bits.kind).or_insert(hit.distance);
            *slot = (*slot).min(hit.distance);
        }
    }

    // The hash verdict of every candidate, from all of its stored hashes.
    let mut judged = Vec::with_capacity(order.len());
    for (id, _) in order {
        let Some(c) = candidates.get_mut(&id) else {
            continue;
        };
        // The index answers per algorithm, so a pair may have come in through
        // pHash alone while its PDQ distance, far beyond any threshold, was never
        // returned; judged on the 64-bit hashes only, it could pass. Measure every
        // algorithm on every pair that came in, from the candidate's stored hashes.
        let stored = lookup.hashes(id)?;
        for ((vi, region), pair) in c.pairs.iter_mut() {
            let variant = &query.variants[*vi];
            for h in stored.iter().filter(|h| &h.region == region) {
                let Some(mine) = variant.hashes.get(h.bits.kind) else {
                    continue;
                };
                if let Some(d) = mine.distance(&h.bits) {
                    pair.by_kind.insert(h.bits.kind, d);
                }
                if h.bits.kind == HashKind::Pdq {
                    pair.archived_pdq_unreliable =
                        h.quality.is_some_and(|q| q < params.pdq_min_quality);
                }
            }
        }
        let verdict = judge_hashes(c, query.variants, params);
        judged.push((id, verdict));
    }
    let hash_chance = |v: &HashVerdict| -> Option<(f64, ChanceSignal)> {
        let d = |k: HashKind| v.distances.get(k.name()).copied();
        params.chance.hashes_e(
            d(HashKind::Pdq).filter(|_| v.pdq_reliable),
            d(HashKind::Phash),
            d(HashKind::Dhash),
            query.archive_images.max(1),
        )
    };

    let prepared = query.thumb.and_then(align::PreparedQuery::new);
    // Known whole: identical bytes, or a whole frame confirmed by hashes
    // that are rare enough at this archive's size. Hashes that agree but
    // not that rarely (a watermark, a star field) leave the picture to the
    // searches below, whose local features can confirm it.
    let known_whole = exact_id.is_some()
        || judged.iter().any(|(_, v)| {
            v.as_ref().is_some_and(|v| {
                v.whole_frame_strong && hash_chance(v).is_some_and(|x| x.0 <= params.confirm_e)
            })
        });
    let (mut refined, unsupported_searched) = if known_whole && !params.align_unsupported_when_known
    {
        (HashMap::new(), 0)
    } else {
        refine_unsupported(prepared.as_ref(), &judged, exact_id, lookup, params)?
    };

    // Partial copies: the local features. A picture known whole is that
    // archived picture, for the same reason as above.
    let (mut locals, local_searched) = match query.features {
        Some(f)
            if params.feature_candidates > 0
                && (!known_whole || params.align_unsupported_when_known) =>
        {
            let (found, n) = local::search(
                f,
                query.inner,
                query.image,
                index,
                lookup,
                params,
                &params.chance,
                query.archive_images,
                exact_id,
            )?;
            (
                found
                    .into_iter()
                    .map(|m| (m.id, m))
                    .collect::<HashMap<_, _>>(),
                n,
            )
        }
        _ => (HashMap::new(), 0),
    };
    let mut out = Vec::new();
    // Beside `out`, for telling exposures of one scene apart: the archived
    // pictures' ids and capture times and the strength of each match.
    let mut sides = Vec::new();
    for (id, verdict) in judged {
        let exact = Some(id) == exact_id;
        let mut confidence = verdict.as_ref().and_then(|v| v.confidence);
        let hash_e = verdict.as_ref().and_then(hash_chance);
        if !exact {
            // What the hashes say holds only if agreeing that well is rare
            // among this many pictures.
            let e = hash_e.map_or(f64::INFINITY, |x| x.0);
            if confidence == Some(Confidence::Confirmed) && e > params.confirm_e {
                confidence = Some(Confidence::Possible);
            }
            if confidence.is_some() && e > params.possible_e {
                confidence = None;
            }
        }
        let mut evidence = verdict
            .as_ref()
            .filter(|v| v.confidence.is_some())
            .map(|v| v.evidence.clone())
            .unwrap_or_default();
        let mut transform = verdict
            .as_ref()
            .map(|v| query.variants[v.variant].transform.as_str().to_string())
            .unwrap_or_else(|| "identity".to_string());
        let mut region = verdict.as_ref().and_then(|v| {
            let w = query.variants[v.variant].window;
            (v.confidence.is_some() && (v.region != "full" || w != Rect::FULL)).then(|| {
                MatchRegion {
                    query: w,
                    archive: crate::hash::variants::ARCHIVE_WINDOWS
                        .iter()
                        .find(|(n, _)| *n == v.region)
                        .map(|(_, w)| *w)
                        .unwrap_or(Rect::FULL),
                    description: format!(
                        "hashes agree between the {} view of the incoming picture and the {} region of the archived one",
                        query.variants[v.variant].region, v.region
                    ),
                    query_polygon: None,
                    archive_polygon: None,
                }
            })
        });
        if exact {
            confidence = Some(Confidence::Confirmed);
            transform = "identity".into();
            region = None;
            evidence.insert(0, "identical bytes (same SHA-256)".into());
        } else if confidence != Some(Confidence::Confirmed) {
            // The hashes alone did not settle it: align the thumbnails.
            let alignment = if confidence.is_none() {
                refined.remove(&id).flatten()
            } else {
                match (prepared.as_ref(), lookup.thumb(id)?) {
                    (Some(pq), Some(bytes)) => Thumb::from_bytes(&bytes)
                        .and_then(|at| align::align_prepared(pq, &at, &params.align)),
                    _ => None,
                }
            };
            if let Some(a) = alignment {
                if a.confident {
                    // Alignment is one signal; a confirmation needs a
                    // second, independent one as strong as a whole-frame
                    // confirmation (some view's hashes within the confirm
                    // thresholds of some region's). Two weak signals do
                    // not make a strong one: different exposures of one
                    // scene (an HDR bracket) align well and sit just past
                    // the hashes' confirm line. Alone it asks a person to look.
                    let hash_support = verdict.as_ref().is_some_and(|v| v.strong_somewhere)
                        && hash_e.is_some_and(|x| x.0 <= params.confirm_e);
                    let loose_hashes = confidence.is_some();
                    confidence = Some(if hash_support || !params.alignment_needs_hash_support {
                        Confidence::Confirmed
                    } else {
                        Confidence::Possible
                    });
                    transform = a.transform.as_str().to_string();
                    evidence.push(format!(
                        "thumbnail alignment: score {:.2}, correlation {:.2}, scale {:.2}{}",
                        a.score,
                        a.ncc,
                        a.scale,
                        if hash_support {
                            ", with hash support"
                        } else if loose_hashes {
                            "; hashes agree only loosely, so only possible"
                        } else {
                            "; no hash agreed, so only possible"
                        }
                    ));
                    let full = |r: &Rect| r.w * r.h > 0.95;
                    region = (!(full(&a.query_region) && full(&a.archive_region))).then(|| {
                        MatchRegion {
                            query: a.query_region,
                            archive: a.archive_region,
                            description: describe_alignment(&a),
                            query_polygon: None,
                            archive_polygon: None,
                        }
                    });
                } else if confidence.is_some() {
                    evidence.push(format!(
                        "thumbnail alignment inconclusive: score {:.2}, correlation {:.2}",
                        a.score, a.ncc
                    ));
                }
            }
        }
        let mut chance = if exact {
            Some(Chance {
                expected_false: 0.0,
                signal: ChanceSignal::IdenticalBytes,
                archive_images: query.archive_images,
            })
        } else {
            hash_e
                .filter(|_| confidence.is_some())
                .map(|(e, signal)| Chance {
                    expected_false: e,
                    signal,
                    archive_images: query.archive_images,
                })
        };
        let mut geometry = None;
        let mut overlap = None;
        if let Some(l) = locals.remove(&id) {
            evidence.extend(local_evidence(&l, params));
            geometry = Some(geometry_of(&l));
            let stronger = confidence.is_none_or(|c| l.confidence > c);
            if stronger {
                confidence = Some(l.confidence);
                transform = l.transform.clone();
                region = l.region.clone();
            }
            if !exact
                && chance
                    .as_ref()
                    .is_none_or(|c| l.expected_false < c.expected_false)
            {
                chance = Some(Chance {
                    expected_false: l.expected_false,
                    signal: ChanceSignal::LocalFeatures,
                    archive_images: query.archive_images,
                });
            }
            overlap = l.overlap;
        }
        let Some(confidence) = confidence else {
            continue;
        };
        let Some(known) = lookup.known(id)? else {
            continue;
        };
        let hash_only = crate::archive::hashlist::hash_only(&known.metadata_json).is_some();
        if hash_only {
            evidence.push(
                "hash-only entry from a shared hash list: no picture to align, judged on these \
                 hashes alone"
                    .into(),
            );
        }
        sides.push(exposures::Side {
            id,
            captured: captured_at(&known.metadata_json),
            evidence: exposures::log10_evidence(chance.as_ref(), overlap.as_ref(), &params.chance),
        });
        out.push(Match {
            path: known.earliest.location.clone(),
            sha256: known.sha256.clone(),
            source: known.earliest.source.clone(),
            url: known.earliest.url.clone(),
            first_seen: known.earliest.first_seen.clone(),
            first_seen_from: known.earliest.first_seen_from.clone(),
            distance: verdict.map(|v| v.distances).unwrap_or_default(),
            exact,
            transform,
            region,
            confidence,
            evidence,
            sightings: known.sightings,
            format: known.format.clone(),
            width: known.width,
            height: known.height,
            chance,
            geometry,
            hash_only,
        });
    }
    // What only the local features found.
    let mut rest: Vec<local::LocalMatch> = locals.into_values().collect();
    rest.sort_by_key(|l| l.id);
    for l in rest {
        let Some(known) = lookup.known(l.id)? else {
            continue;
        };
        let chance = Chance {
            expected_false: l.expected_false,
            signal: ChanceSignal::LocalFeatures,
            archive_images: query.archive_images,
        };
        sides.push(exposures::Side {
            id: l.id,
            captured: captured_at(&known.metadata_json),
            evidence: exposures::log10_evidence(Some(&chance), l.overlap.as_ref(), &params.chance),
        });
        out.push(Match {
            path: known.earliest.location.clone(),
            sha256: known.sha256.clone(),
            source: known.earliest.source.clone(),
            url: known.earliest.url.clone(),
            first_seen: known.earliest.first_seen.clone(),
            first_seen_from: known.earliest.first_seen_from.clone(),
            distance: l
                .overlap
                .as_ref()
                .map(|o| {
                    o.distances
                        .iter()
                        .map(|(k, d)| (k.name().to_string(), *d))
                        .collect()
                })
                .unwrap_or_default(),
            exact: false,
            transform: l.transform.clone(),
            region: l.region.clone(),
            confidence: l.confidence,
            evidence: local_evidence(&l, params),
            sightings: known.sightings,
            format: known.format.clone(),
            width: known.width,
            height: known.height,
            chance: Some(chance),
            geometry: Some(geometry_of(&l)),
            // Features are a picture's: an entry without one has none.
            hash_only: crate::archive::hashlist::hash_only(&known.metadata_json).is_some(),
        });
    }
    exposures::settle(&mut out, &sides, params.exposure_margin, |a, b| {
        Ok(whole_frame_copies(
            &lookup.hashes(a)?,
            &lookup.hashes(b)?,
            params,
        ))
    })?;
    // Earliest first; among equals, the surer and closer one first.
    out.sort_by(|a, b| {
        a.first_seen
            .cmp(&b.first_seen)
            .then(b.confidence.cmp(&a.confidence))
            .then(a.sha256.cmp(&b.sha256))
    });
    Ok(Found {
        matches: out,
        unsupported_searched: unsupported_searched + local_searched,
    })
}

/// Whether two archived pictures' whole frames are copies of each other by
/// their stored hashes, as a whole-frame match would confirm them: PDQ within
/// `pdq_confirm` when both are trusted, else pHash and dHash both within
/// theirs.
fn whole_frame_copies(a: &[StoredHash], b: &[StoredHash], params: &MatchParams) -> bool {
    fn full(s: &[StoredHash], k: HashKind) -> Option<&StoredHash> {
        s.iter().find(|h| h.region == "full" && h.bits.kind == k)
    }
    let d = |k| full(a, k)?.bits.distance(&full(b, k)?.bits);
    let trusted = |s: &[StoredHash]| {
        full(s, HashKind::Pdq)
            .is_some_and(|h| h.quality.is_none_or(|q| q >= params.pdq_min_quality))
    };
    match d(HashKind::Pdq) {
        Some(p) if trusted(a) && trusted(b) => p <= params.pdq_confirm,
        _ => matches!(
            (d(HashKind::Phash), d(HashKind::Dhash)),
            (Some(p), Some(h)) if p <= params.phash_confirm && h <= params.dhash_confirm
        ),
    }
}

/// An archived picture's capture time, from the metadata summary it was
/// recorded with (`datetime_original`; none for a hash-only entry).
fn captured_at(metadata_json: &str) -> Option<String> {
    if !metadata_json.contains("\"datetime_original\"") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(metadata_json).ok()?;
    v.get("datetime_original")?.as_str().map(str::to_string)
}

fn geometry_of(l: &local::LocalMatch) -> Geometry {
    let v = &l.verified;
    let theta = v.transform.angle().to_degrees();
    Geometry {
        inliers: v.inliers as u32,
        tentative: v.tentative as u32,
        query_cover: v.query_cover,
        archive_cover: v.archive_cover,
        scale: v.transform.scale(),
        rotation_degrees: if v.mirrored { theta } else { -theta },
        mirrored: v.mirrored,
        residual: v.residual,
    }
}

/// The evidence lines of a match found through local features.
fn local_evidence(l: &local::LocalMatch, params: &MatchParams) -> Vec<String> {
    let v = &l.verified;
    let mut out = vec![format!(
        "local features: {} votes in the feature index; {} of {} matched feature pairs agree with one transform ({}, scale {:.2}) to within {:.1} px, spanning {:.0}% of the incoming picture and {:.0}% of the archived one; {:.1e} chance matches expected at this archive's size",
        l.votes,
        v.inliers,
        v.tentative,
        l.transform,
        v.transform.scale(),
        v.residual,
        v.query_cover * 100.0,
        v.archive_cover * 100.0,
        l.expected_false
    )];
    if v.residual > params.confirm_max_residual {
        out.push(format!(
            "the features agree only to within {:.1} px, as two photographs of one scene taken a step apart do (a copy agrees to within {:.1}), so at most possible",
            v.residual, params.confirm_max_residual
        ));
    }
    match &l.overlap {
        Some(o) => {
            let d: Vec<String> = o
                .distances
                .iter()
                .map(|(k, d)| format!("{} {}", k.name(), d))
                .collect();
            out.push(format!(
                "the part both show, brought onto the archived thumbnail by that transform ({}×{} px), has hash distances {}{}",
                o.side.0,
                o.side.1,
                d.join(", "),
                match l.confidence {
                    Confidence::Confirmed => ": a second, independent signal, so confirmed",
                    Confidence::Possible if o.confirms(params) => "",
                    Confidence::Possible => ": not close enough to confirm, so only possible",
                }
            ));
        }
        None => out.push(
            "the shared part was not compared by hashes (too small, or the geometry alone is not decisive), so only possible"
                .into(),
        ),
    }
    out
}

#[cfg(test)]
mod tests;
