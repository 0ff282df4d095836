//! Does a set of features show the same scene as another, under one
//! similarity transform (scale, turn, shift, and optionally a mirror)?
//!
//! Descriptors are paired by nearest neighbour with a ratio test, then a
//! deterministic RANSAC over two-point similarity hypotheses keeps the largest
//! set of pairs that agree on position, orientation and scale; the inliers are
//! refitted by least squares. Unrelated pictures leave a handful of pairs that
//! agree by chance; a copy leaves tens. How many is how sure: the count is what
//! the chance model in [`crate::matching::chance`] turns into an expected number
//! of false matches.
//!
//! Pure, deterministic, bounded by [`VerifyParams`]; no I/O.

use super::{distance, Features};

/// How two feature sets are compared.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyParams {
    /// Largest descriptor distance (of 256 bits) for a pair.
    pub max_distance: u32,
    /// A pair's distance must be below this fraction of the second-best one.
    pub ratio: f32,
    /// Largest position error of an inlier, as a fraction of the archived
    /// picture's diagonal.
    pub tolerance: f32,
    /// Largest orientation disagreement of an inlier, in radians.
    pub angle_tolerance: f32,
    /// Largest disagreement of an inlier's pyramid levels with the
    /// hypothesis' scale, in levels.
    pub level_tolerance: f32,
    /// RANSAC hypotheses tried at most.
    pub iterations: usize,
    /// Smallest and largest scale (archived pixels per incoming pixel) accepted.
    pub min_scale: f32,
    /// See `min_scale`.
    pub max_scale: f32,
}

impl Default for VerifyParams {
    fn default() -> Self {
        VerifyParams {
            max_distance: 64,
            ratio: 0.9,
            tolerance: 0.015,
            angle_tolerance: 25f32.to_radians(),
            level_tolerance: 2.0,
            iterations: 400,
            min_scale: 1.0 / 8.0,
            max_scale: 8.0,
        }
    }
}

/// A similarity transform from incoming-picture pixels to archived-picture
/// pixels: `X = a·x − b·y + tx`, `Y = b·x + a·y + ty` (after the mirror, when
/// [`Verified::mirrored`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// `scale · cos(turn)`.
    pub a: f32,
    /// `scale · sin(turn)`.
    pub b: f32,
    /// Shift along x.
    pub tx: f32,
    /// Shift along y.
    pub ty: f32,
}

impl Similarity {
    /// Archived pixels per incoming pixel.
    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    /// Turn in radians (image coordinates, y down: positive is clockwise on screen).
    pub fn angle(&self) -> f32 {
        self.b.atan2(self.a)
    }

    /// Map a point.
    pub fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        (
            self.a * x - self.b * y + self.tx,
            self.b * x + self.a * y + self.ty,
        )
    }

    /// The inverse transform.
    pub fn inverse(&self) -> Option<Similarity> {
        let d = self.a * self.a + self.b * self.b;
        if d.is_nan() || d <= f32::EPSILON {
            return None;
        }
        let (a, b) = (self.a / d, -self.b / d);
        Some(Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        })
    }

    /// From two point pairs `(x, y) → (X, Y)`.
    fn from_two(p: [(f32, f32); 2], q: [(f32, f32); 2]) -> Option<Similarity> {
        let (dx, dy) = (p[1].0 - p[0].0, p[1].1 - p[0].1);
        let (ex, ey) = (q[1].0 - q[0].0, q[1].1 - q[0].1);
        let d = dx * dx + dy * dy;
        if d <= 1e-6 {
            return None;
        }
        let a = (ex * dx + ey * dy) / d;
        let b = (ey * dx - ex * dy) / d;
        Some(Similarity {
            a,
            b,
            tx: q[0].0 - (a * p[0].0 - b * p[0].1),
            ty: q[0].1 - (b * p[0].0 + a * p[0].1),
        })
    }

    /// Least-squares fit to point pairs.
    fn fit(p: &[(f32, f32)], q: &[(f32, f32)]) -> Option<Similarity> {
        let n = p.len() as f64;
        if p.len() < 2 {
            return None;
        }
        let mean = |v: &[(f32, f32)]| {
            let (sx, sy) = v.iter().fold((0.0f64, 0.0f64), |(a, b), &(x, y)| {
                (a + f64::from(x), b + f64::from(y))
            });
            (sx / n, sy / n)
        };
        let (mpx, mpy) = mean(p);
        let (mqx, mqy) = mean(q);
        let (mut sxx, mut sa, mut sb) = (0.0f64, 0.0f64, 0.0f64);
        for (&(x, y), &(u, v)) in p.iter().zip(q) {
            let (x, y) = (f64::from(x) - mpx, f64::from(y) - mpy);
            let (u, v) = (f64::from(u) - mqx, f64::from(v) - mqy);
            sxx += x * x + y * y;
            sa += x * u + y * v;
            sb += x * v - y * u;
        }
        if sxx <= 1e-9 {
            return None;
        }
        let (a, b) = (sa / sxx, sb / sxx);
        Some(Similarity {
            a: a as f32,
            b: b as f32,
            tx: (mqx - (a * mpx - b * mpy)) as f32,
            ty: (mqy - (b * mpx + a * mpy)) as f32,
        })
    }
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The incoming picture matched mirrored (left to right) before `transform`.
    pub mirrored: bool,
    /// Incoming pixels (mirrored when `mirrored`) → archived pixels.
    pub transform: Similarity,
    /// Pairs that agree with `transform`.
    pub inliers: usize,
    /// Pairs that passed the descriptor tests.
    pub tentative: usize,
    /// Fraction of the incoming picture's area spanned by the inliers (their
    /// bounding box).
    pub query_cover: f32,
    /// Fraction of the archived picture's area spanned by the inliers.
    pub archive_cover: f32,
    /// Root-mean-square distance between where the transform puts the
    /// inliers and where they were found, in archived pixels of each
    /// inlier's own pyramid level (so comparable across scales). A copy is
    /// one similarity to within where a detector finds corners again (about
    /// a pixel); two photographs of one scene taken from a step apart are
    /// not (what is near shifts more than what is far).
    pub residual: f32,
}

/// One tentative pair: incoming point and angle, archived point and angle, levels.
#[derive(Debug, Clone, Copy)]
struct Pair {
    q: (f32, f32),
    a: (f32, f32),
    dq: f32,
    da: f32,
    lq: f32,
    la: f32,
}

fn wrap(a: f32) -> f32 {
    let t = std::f32::consts::TAU;
    let r = a.rem_euclid(t);
    if r > t / 2.0 {
        r - t
    } else {
        r
    }
}

/// Pairs of each incoming descriptor with its nearest archived one, kept when
/// close and unambiguous, then at most one per archived feature (the closest).
fn tentative(
    query: &Features,
    descriptors: &[[u64; 4]],
    mirrored: bool,
    archived: &Features,
    p: &VerifyParams,
) -> Vec<Pair> {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "popcnt")]
        unsafe fn fast(
            query: &Features,
            descriptors: &[[u64; 4]],
            mirrored: bool,
            archived: &Features,
            p: &VerifyParams,
        ) -> Vec<Pair> {
            tentative_inline(query, descriptors, mirrored, archived, p)
        }
        if super::has_popcnt() {
            // SAFETY: the CPU was just seen to support the one feature `fast`
            // is compiled with.
            return unsafe { fast(query, descriptors, mirrored, archived, p) };
        }
    }
    tentative_inline(query, descriptors, mirrored, archived, p)
}

/// [`tentative_inline`] when only equal descriptors may pair (visual words
/// standing for descriptors, `max_distance` 0): the same pairs, found by
/// walking the two sets of descriptors in order together instead of
/// measuring every pair. There the nearest is the first equal archived
/// descriptor, no ratio test can fail (0 is never more than a fraction of
/// anything), and an archived feature keeps the first incoming one paired
/// with it: each distinct descriptor pairs its first incoming feature with
/// its first archived one.
fn tentative_equal(
    query: &Features,
    sorted_query: &[([u64; 4], usize)],
    mirrored: bool,
    archived: &Features,
    sorted: &[([u64; 4], usize)],
) -> Vec<Pair> {
    let mut best_for_archived: Vec<Option<usize>> = vec![None; archived.items.len()];
    let (mut i, mut j) = (0, 0);
    while let (Some(&(q, qi)), Some(&(a, ai))) = (sorted_query.get(i), sorted.get(j)) {
        match q.cmp(&a) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                best_for_archived[ai] = Some(qi);
                i += 1;
                j += 1;
            }
        }
    }
    pairs_of(
        query,
        mirrored,
        archived,
        best_for_archived.iter().map(|s| s.map(|qi| (0, qi))),
    )
}

/// Each distinct descriptor once, with the first index holding it, in
/// order (for [`tentative_equal`]).
fn sorted_descriptors<'a>(
    descriptors: impl Iterator<Item = &'a [u64; 4]>,
) -> Vec<([u64; 4], usize)> {
    let mut sorted: Vec<([u64; 4], usize)> =
        descriptors.enumerate().map(|(i, d)| (*d, i)).collect();
    sorted.sort_unstable();
    sorted.dedup_by(|b, a| a.0 == b.0);
    sorted
}

/// An incoming picture's descriptors sorted once for all the archived
/// pictures it is checked against on equal descriptors
/// ([`verify_each_sorted`]): upright, and mirrored when it has them.
#[derive(Debug, Clone)]
pub struct SortedQuery {
    upright: Vec<([u64; 4], usize)>,
    mirrored: Option<Vec<([u64; 4], usize)>>,
}

impl SortedQuery {
    /// Sort `query`'s descriptors.
    pub fn new(query: &Features) -> SortedQuery {
        SortedQuery {
            upright: sorted_descriptors(query.items.iter().map(|f| &f.descriptor)),
            mirrored: query
                .mirrored
                .as_ref()
                .filter(|m| m.0.len() == query.items.len())
                .map(|m| sorted_descriptors(m.0.iter())),
        }
    }
}

#[inline(always)]
fn tentative_inline(
    query: &Features,
    descriptors: &[[u64; 4]],
    mirrored: bool,
    archived: &Features,
    p: &VerifyParams,
) -> Vec<Pair> {
    let mut best_for_archived: Vec<Option<(u32, usize)>> = vec![None; archived.items.len()];
    for (qi, d) in descriptors.iter().enumerate() {
        let (mut d1, mut d2, mut at) = (u32::MAX, u32::MAX, 0usize);
        for (ai, f) in archived.items.iter().enumerate() {
            let x = distance(d, &f.descriptor);
            if x < d1 {
                d2 = d1;
                d1 = x;
                at = ai;
            } else if x < d2 {
                d2 = x;
            }
        }
        if d1 > p.max_distance || (d2 != u32::MAX && d1 as f32 > p.ratio * d2 as f32) {
            continue;
        }
        let slot = &mut best_for_archived[at];
        if slot.is_none_or(|(d, _)| d1 < d) {
            *slot = Some((d1, qi));
        }
    }
    pairs_of(query, mirrored, archived, best_for_archived.into_iter())
}

/// The pairs, one per archived feature that an incoming one was paired with
/// (`(distance, incoming index)`), in archived order.
fn pairs_of(
    query: &Features,
    mirrored: bool,
    archived: &Features,
    best_for_archived: impl Iterator<Item = Option<(u32, usize)>>,
) -> Vec<Pair> {
    let w = query.width.max(1) as f32 - 1.0;
    best_for_archived
        .enumerate()
        .filter_map(|(ai, s)| {
            let (_, qi) = s?;
            let qf = &query.items[qi];
            let af = &archived.items[ai];
            let (qx, qa) = if mirrored {
                (w - qf.x, std::f32::consts::PI - qf.angle)
            } else {
                (qf.x, qf.angle)
            };
            Some(Pair {
                q: (qx, qf.y),
                a: (af.x, af.y),
                dq: qa,
                da: af.angle,
                lq: f32::from(qf.level),
                la: f32::from(af.level),
            })
        })
        .collect()
}

/// Small deterministic generator for RANSAC's samples.
struct SplitMix(u64);

impl SplitMix {
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
}

struct Consensus {
    transform: Similarity,
    inliers: Vec<usize>,
}

fn agrees(t: &Similarity, pair: &Pair, tol2: f32, p: &VerifyParams, log_step: f32) -> bool {
    let (x, y) = t.apply(pair.q.0, pair.q.1);
    let (ex, ey) = (x - pair.a.0, y - pair.a.1);
    if ex * ex + ey * ey > tol2 {
        return false;
    }
    if wrap(pair.da - pair.dq - t.angle()).abs() > p.angle_tolerance {
        return false;
    }
    // A feature found on level l spans scale_factor^l pixels: an archived
    // feature l_a levels up matches an incoming one l_q up when the transform
    // scales by about scale_factor^(l_a − l_q).
    let expected = t.scale().ln() / log_step;
    (pair.la - pair.lq - expected).abs() <= p.level_tolerance
}

fn ransac(pairs: &[Pair], tol: f32, p: &VerifyParams, log_step: f32) -> Option<Consensus> {
    let n = pairs.len();
    if n < 2 {
        return None;
    }
    let tol2 = tol * tol;
    let mut rng = SplitMix(0x7265_7472_6163_6521 ^ n as u64);
    let exhaustive = n * (n - 1) / 2 <= p.iterations;
    let mut tries: Vec<(usize, usize)> = Vec::new();
    if exhaustive {
        for i in 0..n {
            for j in i + 1..n {
                tries.push((i, j));
            }
        }
    } else {
        for _ in 0..p.iterations {
            let i = rng.below(n);
            let j = rng.below(n - 1);
            tries.push((i, if j >= i { j + 1 } else { j }));
        }
    }
    let mut best: Option<(usize, Similarity)> = None;
    for (i, j) in tries {
        let (pi, pj) = (&pairs[i], &pairs[j]);
        let Some(t) = Similarity::from_two([pi.q, pj.q], [pi.a, pj.a]) else {
            continue;
        };
        let s = t.scale();
        if !(p.min_scale..=p.max_scale).contains(&s) {
            continue;
        }
        // Both samples must agree with their own hypothesis' turn and scale.
        if !agrees(&t, pi, tol2, p, log_step) || !agrees(&t, pj, tol2, p, log_step) {
            continue;
        }
        let count = pairs
            .iter()
            .filter(|q| agrees(&t, q, tol2, p, log_step))
            .count();
        if best.as_ref().is_none_or(|(c, _)| count > *c) {
            best = Some((count, t));
        }
    }
    let (_, mut t) = best?;
    // Refit on the inliers, twice: the two samples fix the transform only as
    // well as their own positions are known.
    for _ in 0..2 {
        let inliers: Vec<usize> = (0..n)
            .filter(|&k| agrees(&t, &pairs[k], tol2, p, log_step))
            .collect();
        let (qs, as_): (Vec<_>, Vec<_>) = inliers.iter().map(|&k| (pairs[k].q, pairs[k].a)).unzip();
        match Similarity::fit(&qs, &as_) {
            Some(f) if (p.min_scale..=p.max_scale).contains(&f.scale()) => t = f,
            _ => break,
        }
    }
    let inliers = (0..n)
        .filter(|&k| agrees(&t, &pairs[k], tol2, p, log_step))
        .collect();
    Some(Consensus {
        transform: t,
        inliers,
    })
}

fn cover(points: impl Iterator<Item = (f32, f32)>, w: u32, h: u32) -> f32 {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    let mut any = false;
    for (x, y) in points {
        any = true;
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if !any {
        return 0.0;
    }
    let area = (w.max(1) as f32) * (h.max(1) as f32);
    ((x1 - x0).max(0.0) * (y1 - y0).max(0.0) / area).clamp(0.0, 1.0)
}

/// Compare an incoming picture's features (with mirrored descriptors when it
/// has them) with an archived picture's; the better of the upright and the
/// mirrored consensus, or `None` when neither has two agreeing pairs.
pub fn verify(
    query: &Features,
    archived: &Features,
    scale_factor: f32,
    p: &VerifyParams,
) -> Option<Verified> {
    verify_oriented(query, archived, scale_factor, p, Orientations::BOTH)
}

/// Which ways round [`verify_oriented`] compares the incoming picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Orientations {
    /// As it is.
    pub upright: bool,
    /// Mirrored (when it has mirrored descriptors).
    pub mirrored: bool,
}

impl Orientations {
    /// Both.
    pub const BOTH: Orientations = Orientations {
        upright: true,
        mirrored: true,
    };
}

/// [`verify`] for the orientations asked for only: pairing descriptors is
/// most of a verification's cost, and a cheaper test (the shared visual
/// words) often rules one orientation out.
pub fn verify_oriented(
    query: &Features,
    archived: &Features,
    scale_factor: f32,
    p: &VerifyParams,
    ways: Orientations,
) -> Option<Verified> {
    let [a, b] = verify_each(query, archived, scale_factor, p, ways);
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.inliers > a.inliers { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// [`verify_oriented`], each orientation's result on its own: upright, then
/// mirrored.
pub fn verify_each(
    query: &Features,
    archived: &Features,
    scale_factor: f32,
    p: &VerifyParams,
    ways: Orientations,
) -> [Option<Verified>; 2] {
    if p.max_distance == 0 {
        return verify_each_sorted(
            query,
            &SortedQuery::new(query),
            archived,
            scale_factor,
            p,
            ways,
        );
    }
    let upright: Vec<[u64; 4]> = query.items.iter().map(|f| f.descriptor).collect();
    let mirrored = query.mirrored.as_ref().map(|m| &m.0[..]);
    verify_pairs(query, archived, scale_factor, p, ways, |m| {
        let descriptors = if m { mirrored? } else { &upright[..] };
        (descriptors.len() == query.items.len())
            .then(|| tentative(query, descriptors, m, archived, p))
    })
}

/// [`verify_each`] on equal descriptors only (`p.max_distance` is taken as
/// 0: visual words standing for descriptors), with the incoming picture's
/// descriptors sorted beforehand: the same result, for a fraction of the
/// cost when one picture is checked against many.
pub fn verify_each_sorted(
    query: &Features,
    sorted_query: &SortedQuery,
    archived: &Features,
    scale_factor: f32,
    p: &VerifyParams,
    ways: Orientations,
) -> [Option<Verified>; 2] {
    if query.is_empty() || archived.len() < 2 {
        return [None, None];
    }
    let sorted = sorted_descriptors(archived.items.iter().map(|f| &f.descriptor));
    verify_pairs(query, archived, scale_factor, p, ways, |m| {
        let q = if m {
            sorted_query.mirrored.as_ref()?
        } else {
            &sorted_query.upright
        };
        Some(tentative_equal(query, q, m, archived, &sorted))
    })
}

/// The geometric check of each orientation asked for, on the tentative
/// pairs `pairs_for(mirrored)` gives.
fn verify_pairs(
    query: &Features,
    archived: &Features,
    scale_factor: f32,
    p: &VerifyParams,
    ways: Orientations,
    mut pairs_for: impl FnMut(bool) -> Option<Vec<Pair>>,
) -> [Option<Verified>; 2] {
    let mut out = [None, None];
    if query.is_empty() || archived.len() < 2 {
        return out;
    }
    let diag = (archived.width as f32).hypot(archived.height as f32);
    let tol = (p.tolerance * diag).max(1.0);
    let log_step = scale_factor.max(1.01).ln();
    for (mirrored, slot) in [false, true].into_iter().zip(out.iter_mut()) {
        let wanted = if mirrored {
            ways.mirrored
        } else {
            ways.upright
        };
        if !wanted {
            continue;
        }
        let Some(pairs) = pairs_for(mirrored) else {
            continue;
        };
        let Some(c) = ransac(&pairs, tol, p, log_step) else {
            continue;
        };
        let residual = {
            let sum: f32 = c
                .inliers
                .iter()
                .map(|&k| {
                    let pr = &pairs[k];
                    let (x, y) = c.transform.apply(pr.q.0, pr.q.1);
                    let level = scale_factor.max(1.01).powf(pr.la);
                    ((x - pr.a.0).powi(2) + (y - pr.a.1).powi(2)) / (level * level)
                })
                .sum();
            (sum / c.inliers.len().max(1) as f32).sqrt()
        };
        *slot = Some(Verified {
            mirrored,
            residual,
            transform: c.transform,
            inliers: c.inliers.len(),
            tentative: pairs.len(),
            query_cover: cover(
                c.inliers.iter().map(|&k| pairs[k].q),
                query.width,
                query.height,
            ),
            archive_cover: cover(
                c.inliers.iter().map(|&k| pairs[k].a),
                archived.width,
                archived.height,
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_point_and_least_squares_fits_recover_a_similarity() {
        let t = Similarity {
            a: 0.8 * 0.3f32.cos(),
            b: 0.8 * 0.3f32.sin(),
            tx: 12.0,
            ty: -7.0,
        };
        let p = [(10.0, 20.0), (200.0, 40.0), (50.0, 300.0), (120.0, 120.0)];
        let q: Vec<_> = p.iter().map(|&(x, y)| t.apply(x, y)).collect();
        let two = Similarity::from_two([p[0], p[1]], [q[0], q[1]]).unwrap();
        let fit = Similarity::fit(&p, &q).unwrap();
        for s in [two, fit] {
            assert!((s.scale() - 0.8).abs() < 1e-4);
            assert!((s.angle() - 0.3).abs() < 1e-4);
            assert!((s.tx - 12.0).abs() < 1e-2 && (s.ty + 7.0).abs() < 1e-2);
        }
        let inv = t.inverse().unwrap();
        let (x, y) = inv.apply(q[2].0, q[2].1);
        assert!((x - 50.0).abs() < 1e-3 && (y - 300.0).abs() < 1e-3);
    }

    /// A mirrored copy is found mirrored: asked for that orientation alone,
    /// the verification is the one both orientations give; asked for the
    /// upright one alone, it finds next to nothing.
    #[test]
    fn verifying_one_orientation_finds_what_both_find_there() {
        use crate::features::{FeatureParams, Features};
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/archive/Wood.jpg");
        let img = crate::decode::shrink(&image::open(p).unwrap(), crate::decode::WORKING_SIDE);
        let archived = Features::of_image(&img, &FeatureParams::archive());
        let query = Features::of_image(&img.fliph(), &FeatureParams::query());
        let vp = VerifyParams::default();
        let both = verify(&query, &archived, 1.2, &vp).expect("verified");
        assert!(both.mirrored && both.inliers > 50, "{both:?}");
        let mirrored = verify_oriented(
            &query,
            &archived,
            1.2,
            &vp,
            Orientations {
                upright: false,
                mirrored: true,
            },
        )
        .expect("verified mirrored");
        assert_eq!(mirrored.inliers, both.inliers);
        assert_eq!(mirrored.transform, both.transform);
        let upright = verify_oriented(
            &query,
            &archived,
            1.2,
            &vp,
            Orientations {
                upright: true,
                mirrored: false,
            },
        );
        assert!(
            upright
                .as_ref()
                .is_none_or(|v| !v.mirrored && v.inliers < 10),
            "{upright:?}"
        );
    }

    /// Visual words standing for descriptors pair exactly as the measuring
    /// of every pair pairs them: the same pairs in the same order, on real
    /// pictures' features turned into words (a copy, a crop, unrelated
    /// pictures, upright and mirrored).
    #[test]
    fn equal_descriptors_pair_as_measuring_every_pair_does() {
        use crate::features::vocabulary::Vocabulary;
        use crate::features::{FeatureParams, Features};
        let load = |n: &str| {
            let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("samples")
                .join(n);
            crate::decode::shrink(&image::open(p).unwrap(), crate::decode::WORKING_SIDE)
        };
        let voc = Vocabulary::builtin();
        let as_words = |f: &Features| {
            let mut w = f.clone();
            let up: Vec<[u64; 4]> = f.items.iter().map(|x| x.descriptor).collect();
            for (x, word) in w.items.iter_mut().zip(voc.words(&up)) {
                x.descriptor = [u64::from(word); 4];
            }
            if let Some(m) = w.mirrored.as_mut() {
                m.0 = voc
                    .words(&m.0)
                    .into_iter()
                    .map(|x| [u64::from(x); 4])
                    .collect();
            }
            w
        };
        let archived: Vec<Features> = ["archive/Dune.jpg", "archive/Storm.jpg", "archive/Wood.jpg"]
            .iter()
            .map(|n| as_words(&Features::of_image(&load(n), &FeatureParams::archive())))
            .collect();
        let p = VerifyParams {
            max_distance: 0,
            ..VerifyParams::default()
        };
        let mut pairs_seen = 0;
        for q in [
            "incoming/dune_crop_centre.jpg",
            "incoming/storm_caption.jpg",
            "archive/rocket.jpg",
        ] {
            let query = as_words(&Features::of_image(&load(q), &FeatureParams::query()));
            let up: Vec<[u64; 4]> = query.items.iter().map(|x| x.descriptor).collect();
            for a in &archived {
                for (mirrored, d) in [(false, &up), (true, &query.mirrored.as_ref().unwrap().0)] {
                    let fast = tentative_equal(
                        &query,
                        &sorted_descriptors(d.iter()),
                        mirrored,
                        a,
                        &sorted_descriptors(a.items.iter().map(|f| &f.descriptor)),
                    );
                    let slow = tentative_inline(&query, d, mirrored, a, &p);
                    assert_eq!(fast.len(), slow.len(), "{q}");
                    for (x, y) in fast.iter().zip(&slow) {
                        assert_eq!((x.q, x.a, x.lq, x.la), (y.q, y.a, y.lq, y.la), "{q}");
                    }
                    pairs_seen += fast.len();
                }
            }
        }
        assert!(
            pairs_seen > 100,
            "{pairs_seen}: the test compared next to nothing"
        );
    }
}
