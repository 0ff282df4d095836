//! Measures how often unrelated real pictures agree by chance, signal by
//! signal, and fits the tails that `matching::chance::ChanceModel` turns into
//! expected numbers of chance matches (E-values).
//!
//!     benches/distractors/make.sh /work/distractors 30000     # the pictures
//!     cargo run --release --features examples --example chance_fit -- [--dir /work/distractors] [--pictures 3000] [--per-query 200] [--hashes-only]
//!
//! Pictures come from the distractor set (`benches/distractors/`), whose
//! manifest names each picture's source photograph: pairs cut from the same
//! photograph are not unrelated and are never compared. Each picture is
//! examined as the pipeline examines it (decode, orient, working copy).
//!
//! - **Local features**: each picture's query features (500, mirrored too)
//!   against `--per-query` archived pictures from other photographs, picked
//!   at random; the inliers of the verified similarity, `p(≥ k)`.
//! - **Hashes**: for each pair of pictures from different photographs, the
//!   smallest distance between any query view's hash and any stored region's
//!   hash, per algorithm (PDQ only when both qualities are ≥ 50); `p(≤ d)`
//!   per picture pair, so that the many correlated views and regions are
//!   counted as what they are, one comparison of two pictures.
//! - **The three hashes together**: for the same pairs, where all three
//!   speak, `T`, the sum of each hash's `log10 p` under the built-in
//!   single-hash tails, and its own tail `p(T ≤ t)`. The hashes are
//!   correlated, so `T` is not itself a probability; its measured tail is.
//!   `--hashes-only` skips the local features (the slow part).
//!
//! Each tail is fitted with a straight line of `log10 p` over its measured
//! stretch (where at least 5 pairs back the point and p ≤ 5%), then raised
//! until no measured point lies above it: past the measured range the model
//! overstates chance rather than understates it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rayon::prelude::*;
use retrace::internals::features::geometry::{verify, VerifyParams};
use retrace::internals::features::{FeatureParams, Features};
use retrace::internals::hash::variants::{archive_hashes, query_variants};
use retrace::internals::hash::{HashBits, HashKind};
use retrace::internals::matching::chance::{ChanceModel, Tail};
use retrace::{Config, Engine};

struct Picture {
    source: String,
    query: Features,
    archived: Features,
    views: Vec<(HashBits, Option<u8>)>,
    regions: Vec<(HashBits, Option<u8>)>,
}

fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `log10 p` points of a tail: (x, log10 p, pairs behind it).
fn fit(points: &[(f64, f64, u64)]) -> Option<Tail> {
    let used: Vec<&(f64, f64, u64)> = points
        .iter()
        .filter(|(_, lp, n)| *n >= 5 && *lp <= (0.05f64).log10())
        .collect();
    if used.len() < 2 {
        return None;
    }
    let n = used.len() as f64;
    let mx = used.iter().map(|p| p.0).sum::<f64>() / n;
    let my = used.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = used.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = used.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let slope = sxy / sxx;
    // Raised to the upper envelope of the points backed by at least 5 pairs
    // (fewer is noise, or a true duplicate among the distractors):
    // conservative where it is extrapolated.
    let intercept = used
        .iter()
        .map(|p| p.1 - slope * p.0)
        .fold(my - slope * mx, f64::max);
    Some(Tail { intercept, slope })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let dir = PathBuf::from(opt("--dir").unwrap_or_else(|| "/work/distractors".into()));
    let count: usize = opt("--pictures")
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let per_query: usize = opt("--per-query")
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).expect("manifest.tsv");
    let rows: Vec<(String, String)> = manifest
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some((f.get(1)?.to_string(), f.get(2)?.to_string()))
        })
        .collect();
    // Spread over the whole manifest (and so over its sources).
    let step = (rows.len() / count.max(1)).max(1);
    let chosen: Vec<&(String, String)> = rows.iter().step_by(step).take(count).collect();
    eprintln!(
        "{} pictures from {} in the manifest",
        chosen.len(),
        rows.len()
    );
    let engine = Engine::new(Config::default(), None).expect("engine");
    let qp = FeatureParams::query();
    let ap = FeatureParams::archive();
    let pictures: Vec<Picture> = chosen
        .par_iter()
        .filter_map(|(file, source)| {
            let ex = engine.examine_path(&dir.join(file));
            let img = ex.working.as_ref()?;
            let hashes = ex.hashes.as_ref()?;
            let query = Features::of_image(img, &qp);
            let archived = query.for_archive(&ap);
            let mut views = Vec::new();
            for v in query_variants(img, hashes) {
                for b in v.hashes.iter() {
                    let q = (b.kind == HashKind::Pdq)
                        .then_some(v.hashes.pdq_quality)
                        .flatten();
                    views.push((b, q));
                }
            }
            let mut regions = Vec::new();
            for (_, h) in archive_hashes(img) {
                for b in h.iter() {
                    let q = (b.kind == HashKind::Pdq).then_some(h.pdq_quality).flatten();
                    regions.push((b, q));
                }
            }
            Some(Picture {
                source: source.clone(),
                query,
                archived,
                views,
                regions,
            })
        })
        .collect();
    eprintln!("{} pictures examined", pictures.len());

    let hashes_only = args.iter().any(|a| a == "--hashes-only");
    // Local features.
    let vp = VerifyParams::default();
    let inliers: Vec<usize> = pictures
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, p)| {
            let mut s = 0x5eed ^ i as u64;
            let mut out = Vec::with_capacity(per_query);
            let mut tries = 0;
            while !hashes_only && out.len() < per_query && tries < 4 * per_query {
                tries += 1;
                let j = (next(&mut s) % pictures.len() as u64) as usize;
                if j == i || pictures[j].source == p.source {
                    continue;
                }
                let v = verify(&p.query, &pictures[j].archived, ap.scale_factor, &vp);
                out.push(v.map_or(0, |v| v.inliers));
            }
            out
        })
        .collect();
    let total = inliers.len() as f64;
    let mut at_least: BTreeMap<usize, u64> = BTreeMap::new();
    let max = inliers.iter().copied().max().unwrap_or(0);
    for k in 0..=max {
        at_least.insert(k, inliers.iter().filter(|&&x| x >= k).count() as u64);
    }
    println!("local features: {} unrelated pairs", inliers.len());
    println!("  k   pairs with ≥ k inliers   log10 p");
    let mut points = Vec::new();
    for (&k, &n) in &at_least {
        let lp = (n as f64 / total).log10();
        println!("  {k:>2}  {n:>10}  {lp:>8.3}");
        points.push((k as f64, lp, n));
    }
    let inliers_tail = fit(&points);
    println!("  fitted: {inliers_tail:?}");

    // Hashes: every view against every region of every other picture.
    let kinds = [HashKind::Pdq, HashKind::Phash, HashKind::Dhash];
    // The joint evidence of the three hashes: the sum of their log10 p under
    // the built-in single-hash tails, in steps of 0.1, for pairs where all
    // three speak (PDQ qualities ≥ 50). Its own tail, measured here, is what
    // matching uses for a candidate whose hashes all agree moderately: the
    // hashes are correlated, so the product of their p is not a probability.
    let model = ChanceModel::default();
    const JOINT_BINS: usize = 601;
    let hist: Vec<([Vec<u64>; 3], Vec<u64>)> = pictures
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let mut h: [Vec<u64>; 3] = [vec![0; 257], vec![0; 65], vec![0; 65]];
            let mut joint = vec![0u64; JOINT_BINS];
            for (j, o) in pictures.iter().enumerate() {
                if j == i || o.source == p.source {
                    continue;
                }
                let mut best = [u32::MAX; 3];
                for (vb, vq) in &p.views {
                    for (rb, rq) in &o.regions {
                        if vb.kind != rb.kind {
                            continue;
                        }
                        if vb.kind == HashKind::Pdq
                            && (vq.unwrap_or(0) < 50 || rq.unwrap_or(0) < 50)
                        {
                            continue;
                        }
                        if let Some(d) = vb.distance(rb) {
                            let k = kinds.iter().position(|&k| k == vb.kind).unwrap_or(0);
                            best[k] = best[k].min(d);
                        }
                    }
                }
                for (k, &d) in best.iter().enumerate() {
                    if d != u32::MAX {
                        h[k][d as usize] += 1;
                    }
                }
                if best.iter().all(|&d| d != u32::MAX) {
                    let t: f64 = kinds
                        .iter()
                        .zip(best)
                        .map(|(&k, d)| model.hash(k).log10_p(f64::from(d)))
                        .sum();
                    joint[((-t * 10.0).floor().max(0.0) as usize).min(JOINT_BINS - 1)] += 1;
                }
            }
            (h, joint)
        })
        .collect();
    // Joint: bin b holds sums in (-(b+1)/10, -b/10]; p(T ≤ t) from the most
    // extreme bin up.
    let mut joint = vec![0u64; JOINT_BINS];
    for (_, j) in &hist {
        for (b, c) in j.iter().enumerate() {
            joint[b] += c;
        }
    }
    let joint_total: u64 = joint.iter().sum();
    println!("joint (sum of log10 p of pdq, phash, dhash): {joint_total} unrelated picture pairs where all three speak");
    println!("  t       pairs with T ≤ t   log10 p");
    let mut cum = 0u64;
    let mut joint_points = Vec::new();
    for b in (0..JOINT_BINS).rev() {
        cum += joint[b];
        if cum == 0 {
            continue;
        }
        let t = -(b as f64) / 10.0;
        let lp = (cum as f64 / joint_total.max(1) as f64).log10();
        if lp <= -1.0 && b % 5 == 0 {
            println!("  {t:>6.1}  {cum:>12}  {lp:>8.3}");
        }
        joint_points.push((t, lp, cum));
    }
    let joint_tail = fit(&joint_points);
    println!("  fitted: {joint_tail:?}");
    let hist: Vec<[Vec<u64>; 3]> = hist.into_iter().map(|(h, _)| h).collect();
    let mut tails = Vec::new();
    for (k, kind) in kinds.iter().enumerate() {
        let mut sum = vec![0u64; if *kind == HashKind::Pdq { 257 } else { 65 }];
        for h in &hist {
            for (d, c) in h[k].iter().enumerate() {
                sum[d] += c;
            }
        }
        let total: u64 = sum.iter().sum();
        println!(
            "{}: {} unrelated picture pairs (best view × region)",
            kind.name(),
            total
        );
        println!("  d   pairs with ≤ d   log10 p");
        let mut cum = 0u64;
        let mut points = Vec::new();
        for (d, c) in sum.iter().enumerate() {
            cum += c;
            if cum == 0 {
                continue;
            }
            let lp = (cum as f64 / total.max(1) as f64).log10();
            if lp <= -1.0 {
                println!("  {d:>3}  {cum:>12}  {lp:>8.3}");
            }
            points.push((d as f64, lp, cum));
        }
        let t = fit(&points);
        println!("  fitted: {t:?}");
        tails.push(t);
    }
    println!(
        "\nChanceModel {{ inliers: {:?}, pdq: {:?}, phash: {:?}, dhash: {:?}, joint: {:?} }}",
        inliers_tail, tails[0], tails[1], tails[2], joint_tail
    );
}
