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
}

impl Default for ChanceModel {
    /// Fitted by `cargo run --release --example chance_fit -- --dir DIR
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
}
