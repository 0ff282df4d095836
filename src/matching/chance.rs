//! How likely a match is to be chance: the expected number of archived
//! pictures unrelated to the incoming one that would look at least this much
//! like it, given the archive's size and how many comparisons were made (an
//! E-value, as sequence search reports). Confidence that holds at any archive
//! size has to come from here: a distance that is rare among 1,000 unrelated
//! pictures is common among a million.
//!
//! For each signal, the tail of its distribution over pairs of *unrelated*
//! real pictures was measured and fitted (`examples/chance_fit.rs`;
//! `docs/matching.md`, "How sure is sure"): `p(x)`, the chance that one
//! unrelated pair shows a value at least as extreme as `x`. The expected
//! number of chance matches for a query is then the archive's size times the
//! comparisons made per archived picture times `p(x)`: a union bound, valid
//! whatever the index chose to verify. Beyond the measured range the fitted
//! straight line of `log10 p` is extrapolated; it is steeper than any measured
//! stretch of the tail, so extrapolation errs towards larger E-values.

use serde::{Deserialize, Serialize};

use crate::evidence::ChanceSignal;
use crate::hash::HashKind;

/// A straight-line tail: `log10 p(x) = intercept + slope · x`, clamped to
/// `log10 p ≤ 0`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tail {
    /// `log10 p` at `x = 0`.
    pub intercept: f64,
    /// Change of `log10 p` per unit of `x` (negative for inliers, where more
    /// is rarer; positive for distances, where less is rarer).
    pub slope: f64,
}

impl Tail {
    /// `log10 p(x)`, at most 0.
    pub fn log10_p(&self, x: f64) -> f64 {
        (self.intercept + self.slope * x).min(0.0)
    }
}

/// The fitted tails of every signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChanceModel {
    /// Inliers of the verified similarity between one incoming picture
    /// (upright and mirrored) and one archived picture: `p(≥ k)`.
    pub inliers: Tail,
    /// PDQ distance (both qualities ≥ 50) between two views: `p(≤ d)`.
    pub pdq: Tail,
    /// pHash distance: `p(≤ d)`.
    pub phash: Tail,
    /// dHash distance: `p(≤ d)`.
    pub dhash: Tail,
    /// The three hashes of one pair of views together, PDQ trusted: `p(T ≤ t)`
    /// for `T` the sum of the three `log10 p` under the tails above. The
    /// hashes are correlated, so `T` is a score, not a probability; this
    /// tail, measured on the same unrelated pairs, is.
    #[serde(default = "default_joint")]
    pub joint: Tail,
}

/// The joint tail, fitted by `cargo run --release --features examples --example chance_fit --
/// --dir DIR --pictures 2000 --hashes-only` on 2,000 other pictures of the
/// distractor set (`benches/distractors/make.sh DIR 100000`): 3.86 million
/// pairs of pictures from different photographs where all three hashes speak,
/// measured down to `T = -9` (one pair, `p = 2.6e-7`), where the line says
/// `6.6e-7`. A watermarked copy at PDQ 40, pHash 2, dHash 0 (`T = -17.1`),
/// which no single tail can vouch for at 10,000 pictures, gets 1.5e-8.
const JOINT: Tail = Tail {
    intercept: 0.448,
    slope: 0.7361,
};

fn default_joint() -> Tail {
    JOINT
}

impl Default for ChanceModel {
    /// Fitted by `cargo run --release --features examples --example chance_fit -- --dir DIR
    /// --pictures 2000 --per-query 200` on 2,000 pictures of the distractor
    /// set (`benches/distractors/make.sh DIR 30000`), pairs from different
    /// photographs only: 400,000 verified feature pairs (no more than 12
    /// inliers except one pair at 16), 3.9 million picture pairs for each
    /// hash (`docs/matching.md`, "How sure is sure").
    fn default() -> Self {
        ChanceModel {
            inliers: Tail {
                intercept: 0.351,
                slope: -0.531,
            },
            pdq: Tail {
                intercept: -10.673,
                slope: 0.0947,
            },
            phash: Tail {
                intercept: -7.110,
                slope: 0.3485,
            },
            dhash: Tail {
                intercept: -3.796,
                slope: 0.1866,
            },
            joint: JOINT,
        }
    }
}

impl ChanceModel {
    /// The tail of a hash kind.
    pub fn hash(&self, kind: HashKind) -> &Tail {
        match kind {
            HashKind::Pdq => &self.pdq,
            HashKind::Phash => &self.phash,
            HashKind::Dhash => &self.dhash,
        }
    }

    /// Expected chance matches for `inliers` against `archive` pictures, each
    /// compared upright and mirrored.
    pub fn inliers_e(&self, inliers: usize, archive: u64) -> f64 {
        e(self.inliers.log10_p(inliers as f64), archive as f64 * 2.0)
    }

    /// Expected chance matches for a hash distance against `archive`
    /// pictures. The tails are per picture pair: measured as the smallest
    /// distance over every query view and stored region of two unrelated
    /// pictures, so the views and windows compared are already counted (as
    /// the correlated comparisons they are, not as independent ones).
    pub fn hash_e(&self, kind: HashKind, distance: u32, archive: u64) -> f64 {
        e(self.hash(kind).log10_p(f64::from(distance)), archive as f64)
    }

    /// Expected chance matches for PDQ, pHash and dHash distances of one
    /// pair of views, all three together (PDQ trusted), against `archive`
    /// pictures.
    pub fn joint_e(&self, pdq: u32, phash: u32, dhash: u32, archive: u64) -> f64 {
        let t = self.pdq.log10_p(f64::from(pdq))
            + self.phash.log10_p(f64::from(phash))
            + self.dhash.log10_p(f64::from(dhash));
        e(self.joint.log10_p(t), archive as f64)
    }
}

impl ChanceModel {
    /// The E-value of one pair of views' hash distances (`None` where a hash
    /// was not compared; give PDQ only when both qualities trust it) against
    /// `archive` pictures, and the signal it comes from: the best single
    /// hash, or the three together when all speak, at twice their joint
    /// E-value (for choosing between the two), whichever is smaller.
    pub fn hashes_e(
        &self,
        pdq: Option<u32>,
        phash: Option<u32>,
        dhash: Option<u32>,
        archive: u64,
    ) -> Option<(f64, ChanceSignal)> {
        let single = [
            (HashKind::Pdq, pdq, ChanceSignal::Pdq),
            (HashKind::Phash, phash, ChanceSignal::Phash),
            (HashKind::Dhash, dhash, ChanceSignal::Dhash),
        ]
        .into_iter()
        .filter_map(|(kind, d, signal)| Some((self.hash_e(kind, d?, archive), signal)))
        .min_by(|a, b| a.0.total_cmp(&b.0));
        // A copy whose every hash agrees moderately (a watermark, a border)
        // is rarer by chance than any one of them says.
        let joint = match (pdq, phash, dhash) {
            (Some(p), Some(ph), Some(dh)) => {
                Some((2.0 * self.joint_e(p, ph, dh, archive), ChanceSignal::Hashes))
            }
            _ => None,
        };
        match (single, joint) {
            (Some(s), Some(j)) if j.0 < s.0 => Some(j),
            (s, j) => s.or(j),
        }
    }
}

fn e(log10_p: f64, trials: f64) -> f64 {
    (10f64.powf(log10_p) * trials.max(1.0)).min(f64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_chance_matches_grow_with_the_archive_and_fall_with_the_evidence() {
        let m = ChanceModel::default();
        assert!(m.inliers_e(20, 1_000_000) < m.inliers_e(10, 1_000_000));
        assert!(m.inliers_e(10, 1_000) < m.inliers_e(10, 1_000_000));
        let ratio = m.inliers_e(10, 1_000_000) / m.inliers_e(10, 1_000);
        assert!((ratio - 1000.0).abs() < 1e-6, "{ratio}");
        assert!(m.hash_e(HashKind::Pdq, 30, 1000) < m.hash_e(HashKind::Pdq, 60, 1000));
        // p never exceeds 1: a far distance is as likely as anything.
        assert!(m.hash_e(HashKind::Phash, 64, 10) <= 10.0);
    }

    #[test]
    fn three_hashes_agreeing_moderately_are_rarer_than_any_one_but_not_independent() {
        let m = ChanceModel::default();
        // A watermarked copy (measured at 10,000 pictures): no single hash
        // gets under the `possible` line of 1e-3, the three together do.
        let n = 10_044;
        let single = [
            m.hash_e(HashKind::Pdq, 40, n),
            m.hash_e(HashKind::Phash, 2, n),
            m.hash_e(HashKind::Dhash, 0, n),
        ];
        assert!(single.iter().all(|&e| e > 1e-3), "{single:?}");
        let joint = m.joint_e(40, 2, 0, n);
        assert!(joint < 1e-6, "{joint}");
        // Less than a product of independent chances would claim.
        let product: f64 = single.iter().map(|e| e / n as f64).product::<f64>() * n as f64;
        assert!(joint > product, "{joint} vs {product}");
        // Farther distances are never rarer, and unrelated-looking ones are
        // as likely as anything.
        assert!(m.joint_e(60, 10, 8, n) > joint);
        assert!(m.joint_e(128, 32, 32, n) >= n as f64 * 0.999);
    }
}
