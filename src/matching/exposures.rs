//! Different exposures of one scene. Two frames of a burst, or an HDR bracket
//! and its plain frame, show the same scene from almost the same place: a
//! crop or a screenshot of one of them agrees with the other on many local
//! features and, on the part both show, on its hashes; the residual of the
//! geometry and the hash distances of the two lie inside the range of true
//! copies (docs/matching.md, "Exposures of one scene"), so each match, judged alone, is
//! `confirmed`. But a copy's pixels come from one exposure. When the archive
//! knows two confirmed candidates were captured at different times (their
//! EXIF `DateTimeOriginal`), they cannot both be its source: the one the copy
//! agrees with far better keeps `confirmed`, the other is lowered to
//! `possible` and says why. No pixel threshold is involved, only the order of
//! the two matches' own evidence and a margin between them.

use super::chance::ChanceModel;
use super::local::Overlap;
use crate::error::Result;
use crate::evidence::{Chance, ChanceSignal, Confidence, Match};
use crate::hash::HashKind;

/// What [`settle`] needs to know of a match's archived picture besides the
/// match: its id, its capture time (as `Metadata::datetime_original` writes
/// it) and the strength of the match's evidence ([`log10_evidence`]).
pub(super) struct Side {
    pub id: i64,
    pub captured: Option<String>,
    pub evidence: Option<f64>,
}

/// Lower to `possible` every confirmed match B for which there is a
/// confirmed match A whose archived picture was captured at another time,
/// is not a whole-frame copy of B's (`copies(a, b)`, from their stored
/// hashes: a re-saved copy whose date was edited is the same exposure), and
/// which the incoming picture agrees with `margin` times more closely.
pub(super) fn settle(
    matches: &mut [Match],
    sides: &[Side],
    margin: f64,
    mut copies: impl FnMut(i64, i64) -> Result<bool>,
) -> Result<()> {
    let log_margin = margin.max(1.0).log10();
    let strength: Vec<Option<f64>> = matches
        .iter()
        .zip(sides)
        .map(|(m, s)| s.evidence.filter(|_| m.confidence == Confidence::Confirmed))
        .collect();
    let mut lowered = Vec::new();
    for (b, sb) in strength.iter().enumerate() {
        let (Some(sb), Some(tb)) = (sb, sides[b].captured.as_deref()) else {
            continue;
        };
        if matches[b].exact {
            continue;
        }
        // The strongest such match is named.
        let mut by_strength: Vec<(usize, f64)> = strength
            .iter()
            .enumerate()
            .filter_map(|(a, sa)| Some((a, (*sa)?)))
            .filter(|&(a, sa)| a != b && sa + log_margin <= *sb)
            .collect();
        by_strength.sort_by(|x, y| x.1.total_cmp(&y.1));
        for (a, sa) in by_strength {
            let distinct = sides[a]
                .captured
                .as_deref()
                .is_some_and(|ta| other_exposure(ta, tb));
            if distinct && !copies(sides[a].id, sides[b].id)? {
                lowered.push((b, a, sb - sa));
                break;
            }
        }
    }
    for (b, a, orders) in lowered {
        let (path, when) = (matches[a].path.clone(), sides[a].captured.clone());
        let m = &mut matches[b];
        m.confidence = Confidence::Possible;
        m.evidence.push(format!(
            "another exposure of the scene: this picture was captured at {}, {} at {}; a copy is \
             of one exposure, and the incoming picture agrees with that one about 10^{:.0} times \
             more closely, so this match is only possible",
            sides[b].captured.as_deref().unwrap_or_default(),
            path,
            when.as_deref().unwrap_or_default(),
            orders.floor()
        ));
    }
    Ok(())
}

/// Whether two capture times (`2015-02-09T22:47:44`, then `.12` when the
/// camera wrote sub-seconds and `+01:00` when it wrote an offset) are of two
/// exposures. Compared to the second, and to the sub-second only when both
/// have one: a copy that lost `SubSecTimeOriginal` is still the same
/// exposure. Offsets are not compared, as software that rewrites a zone
/// would otherwise split one exposure in two.
fn other_exposure(a: &str, b: &str) -> bool {
    let (sa, fa) = split(a);
    let (sb, fb) = split(b);
    if sa.len() < 19 || sb.len() < 19 {
        // Not a full date and time: nothing to tell exposures apart by.
        return false;
    }
    sa != sb || matches!((fa, fb), (Some(x), Some(y)) if x != y)
}

/// The date and time to the second, and the sub-second digits if any.
fn split(t: &str) -> (&str, Option<&str>) {
    let Some(second) = t.get(..19) else {
        return (t, None);
    };
    let rest = &t[19..];
    let frac = rest
        .strip_prefix('.')
        .map(|r| r.split(['+', '-', 'Z']).next().unwrap_or(r))
        .filter(|f| !f.is_empty());
    (second, frac)
}

/// log10 of the expected number of chance matches a match's evidence would
/// have: its reported E-value and, for a match that E-value comes from local
/// features, the hashes of the part both pictures show (`overlap`), a second,
/// independent signal (as `confirmed` already requires). `None` without an
/// E-value.
pub(super) fn log10_evidence(
    chance: Option<&Chance>,
    overlap: Option<&Overlap>,
    model: &ChanceModel,
) -> Option<f64> {
    let c = chance?;
    let mut log = c.expected_false.max(f64::MIN_POSITIVE).log10();
    if let (ChanceSignal::LocalFeatures, Some(o)) = (c.signal, overlap) {
        let d = |k: HashKind| o.distances.get(&k).copied();
        // A probability: the E-value against one picture.
        let p = model.hashes_e(
            d(HashKind::Pdq).filter(|_| o.pdq_reliable),
            d(HashKind::Phash),
            d(HashKind::Dhash),
            1,
        );
        if let Some((p, _)) = p {
            log += p.clamp(f64::MIN_POSITIVE, 1.0).log10();
        }
    }
    Some(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_times_tell_exposures_apart_to_the_second() {
        // canon_hdr_NO.jpg and canon_hdr_YES.jpg of exif-samples, as
        // ExifTool reads their DateTimeOriginal (22:47:44 and 22:48:10).
        assert!(other_exposure("2015-02-09T22:47:44", "2015-02-09T22:48:10"));
        assert!(!other_exposure(
            "2015-02-09T22:47:44",
            "2015-02-09T22:47:44"
        ));
        // A copy that kept the time but lost the sub-seconds or the offset.
        assert!(!other_exposure(
            "2015-02-09T22:47:44.12",
            "2015-02-09T22:47:44"
        ));
        assert!(!other_exposure(
            "2015-02-09T22:47:44+01:00",
            "2015-02-09T22:47:44"
        ));
        // Two frames of one second's burst.
        assert!(other_exposure(
            "2015-02-09T22:47:44.12+01:00",
            "2015-02-09T22:47:44.50"
        ));
        // A date alone says nothing.
        assert!(!other_exposure("2015-02-09", "2015-02-10"));
    }
}
