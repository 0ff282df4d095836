//! How well local features find the copies of the accuracy benchmark: for each
//! archived photo and each transformation, the inliers of the true pair and the
//! most inliers any other archived photo gets (a chance match), plus the time
//! to compute features.
//!
//!     cargo run --release --features examples --example features_eval [-- --only crop_50,rotate5_crop]
//!
//! With `--index DIR N`, the candidate search instead: the rank of each copy's
//! original among the inverted file's candidates (recall at 1 … 128) with N
//! distractor tiles cut from the pictures under DIR, or, with
//! `--index archive:DB N`, the first N pictures of an archive that has local
//! features (e.g. the accuracy benchmark's kept distractor archive; give it a
//! copy, as it is brought to the current schema). `RETRACE_EVAL_RANKS=1`
//! also prints each copy's rank (`rank TRANSFORMATION PHOTO RANK`, 999 when
//! not among the 128) to standard error, to compare two searches copy by copy.
#[path = "accuracy.rs"]
#[allow(dead_code)]
mod accuracy;

use std::time::Instant;

use accuracy::{Rng, TRANSFORMATIONS};
use retrace::internals::decode::{shrink, WORKING_SIDE};
use retrace::internals::features::geometry::{verify, VerifyParams};
use retrace::internals::features::{FeatureParams, Features, View};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').map(String::from).collect());
    if let Some(i) = args.iter().position(|a| a == "--time") {
        let img = image::open(&args[i + 1]).unwrap();
        let w = shrink(&img, WORKING_SIDE);
        for (name, p) in [
            ("archive", FeatureParams::archive()),
            ("query", FeatureParams::query()),
        ] {
            let c = cpu_s();
            let mut n = 0;
            let iters: usize = std::env::var("ITERS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(50);
            for _ in 0..iters {
                n += Features::of_image(&w, &p).len();
            }
            println!(
                "{name}: {:.2} ms cpu each ({} features)",
                (cpu_s() - c) * 1000.0 / iters as f64,
                n / iters
            );
        }
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--index") {
        index_eval(
            &args[i + 1],
            args.get(i + 2).and_then(|s| s.parse().ok()).unwrap_or(5000),
            only.as_deref(),
        );
        return;
    }
    let verbose = args.iter().any(|a| a == "--verbose");
    let ref_dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/ref");
    let photos = accuracy::photo_set(&ref_dir, false);
    let ap = FeatureParams::archive();
    let qp = FeatureParams::query();
    let vp = VerifyParams::default();
    let mut archived = Vec::new();
    let mut t_arch = 0.0;
    for p in photos.iter() {
        let img = match image::open(&p.path) {
            Ok(i) => i,
            Err(_) => continue,
        };
        let w = shrink(&img, WORKING_SIDE);
        let t = Instant::now();
        let f = Features::of_image(&w, &ap);
        t_arch += t.elapsed().as_secs_f64();
        archived.push((p.name.clone(), img, f, p.archived, p.group));
    }
    println!(
        "{} photos, archive features {:.2} ms each, mean {:.0} features",
        archived.len(),
        1000.0 * t_arch / archived.len() as f64,
        archived.iter().map(|a| a.2.len()).sum::<usize>() as f64 / archived.len() as f64
    );
    let mut t_query = 0.0;
    let mut n_query = 0;
    for tr in TRANSFORMATIONS {
        if let Some(o) = &only {
            if !o.iter().any(|x| x == tr.name) {
                continue;
            }
        }
        let mut true_inl = Vec::new();
        let mut chance = Vec::new();
        for (i, (name, img, _, is_archived, group)) in archived.iter().enumerate() {
            if !is_archived {
                continue;
            }
            let raw = accuracy::jpeg(img, 95);
            let src = accuracy::Source {
                bytes: &raw,
                image: img,
            };
            let mut rng = Rng::keyed(&[tr.name, &i.to_string()]);
            let bytes = (tr.make)(&src, &mut rng);
            let Ok(copy) = image::load_from_memory(&bytes) else {
                continue;
            };
            let w = shrink(&copy, WORKING_SIDE);
            let t = Instant::now();
            let (q, inner) = describe(&w, &qp);
            t_query += t.elapsed().as_secs_f64();
            n_query += 1;
            let mut best_other = 0;
            for (j, (other, _, af, _, og)) in archived.iter().enumerate() {
                let n = best_inliers(&q, inner.as_ref(), af, ap.scale_factor, &vp);
                if i == j {
                    true_inl.push(n);
                    if n < 12 && verbose {
                        println!("  weak true pair: {} {} inliers", name, n);
                    }
                } else if group.is_some() && group == og {
                    continue;
                } else {
                    if n >= 10 && verbose {
                        println!("  chance pair: {} -> {} {} inliers", name, other, n);
                    }
                    best_other = best_other.max(n);
                    chance.push(n);
                }
            }
            let _ = best_other;
        }
        true_inl.sort();
        chance.sort();
        let pct = |v: &Vec<usize>, q: f64| {
            v.get(((v.len() as f64 - 1.0) * q) as usize)
                .copied()
                .unwrap_or(0)
        };
        println!(
            "{:<20} true: min {:>3} p10 {:>3} p50 {:>3} | chance: p50 {} p99 {} p99.9 {} max {} (n={})",
            tr.name,
            pct(&true_inl, 0.0),
            pct(&true_inl, 0.1),
            pct(&true_inl, 0.5),
            pct(&chance, 0.5),
            pct(&chance, 0.99),
            pct(&chance, 0.999),
            chance.last().copied().unwrap_or(0),
            chance.len()
        );
    }
    println!(
        "query features {:.2} ms each",
        1000.0 * t_query / n_query.max(1) as f64
    );
}

/// A copy as matching describes it: its features, and those of the picture
/// inside it when there is one ([`retrace::internals::matching::inner_view`]).
fn describe(w: &image::DynamicImage, qp: &FeatureParams) -> (Features, Option<View>) {
    let variants = retrace::internals::hash::variants::query_variants(
        w,
        &retrace::internals::hash::compute(w),
    );
    (
        Features::of_image(w, qp),
        retrace::internals::matching::inner_view(&w.to_luma8(), &variants),
    )
}

/// Both sets as one, for the candidate search: `matching::local` searches
/// the words of both at once (votes are by word and turn, not position).
fn united(q: &Features, inner: Option<&View>) -> Features {
    let mut all = q.clone();
    if let Some(v) = inner {
        all.items.extend(v.features.items.iter().copied());
        if let (Some(a), Some(b)) = (all.mirrored.as_mut(), v.features.mirrored.as_ref()) {
            a.0.extend(b.0.iter().copied());
        }
    }
    all
}

/// The agreeing pairs of the better of the two verifications, as
/// `matching::local` keeps.
fn best_inliers(
    q: &Features,
    inner: Option<&View>,
    stored: &Features,
    scale_factor: f32,
    vp: &VerifyParams,
) -> usize {
    std::iter::once(q)
        .chain(inner.map(|v| &v.features))
        .filter_map(|f| verify(f, stored, scale_factor, vp))
        .map(|v| v.inliers)
        .max()
        .unwrap_or(0)
}

#[allow(dead_code)]
fn cpu_s() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// Retrieval through the inverted file: the archived photos plus `n`
/// distractor tiles cut from the pictures under `dir`; for each copy, the
/// rank of its original among the candidates, and the inliers of the
/// verified candidates that are not its original.
fn index_eval(dir: &str, n: usize, only: Option<&[String]>) {
    use retrace::internals::features::vocabulary::Vocabulary;
    use retrace::internals::index::features::{words, CandidateParams, FeatureIndex};
    let ref_dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/ref");
    let photos = accuracy::photo_set(&ref_dir, false);
    let lw: f32 = std::env::var("LEVEL_WEIGHT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let ap = FeatureParams {
        level_weight: lw,
        ..FeatureParams::archive()
    };
    let qp = FeatureParams {
        level_weight: lw,
        ..FeatureParams::query()
    };
    let vp = VerifyParams::default();
    let voc = Vocabulary::builtin();
    let mut index = FeatureIndex::default();
    let mut stored: Vec<Features> = Vec::new();
    let mut originals = Vec::new();
    for p in photos.iter().filter(|p| p.archived) {
        let Ok(img) = image::open(&p.path) else {
            continue;
        };
        let f = Features::of_image(&shrink(&img, WORKING_SIDE), &ap);
        index.insert(stored.len() as i64, &words(voc, &f));
        stored.push(f);
        originals.push((p.name.clone(), img));
    }
    if let Some(db) = dir.strip_prefix("archive:") {
        // The words of an archive's pictures (e.g. the accuracy benchmark's
        // kept distractor archive) instead of tiles: ranks only, these
        // pictures' descriptors are not read for verification.
        let db = retrace::internals::archive::Archive::open_existing(std::path::Path::new(db))
            .expect("distractor archive");
        let mut next = stored.len() as i64;
        db.load_current_words(i64::MAX, |_, bytes| {
            if next as usize - stored.len() >= n {
                return;
            }
            if let Some(w) = retrace::internals::index::features::words_from_bytes(bytes) {
                index.insert(next, &w);
                next += 1;
            }
        })
        .expect("words");
        println!(
            "index: {} pictures, {} postings",
            index.len(),
            index.postings()
        );
    }
    // Tiles are cut only when no archive gave the distractors.
    let tiles_from = (!dir.starts_with("archive:")).then_some(dir);
    let mut files: Vec<_> = tiles_from
        .and_then(|d| std::fs::read_dir(d).ok())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let c = cpu_s();
    let mut added = 0;
    'outer: for round in 0..64u32 {
        for f in &files {
            if added >= n {
                break 'outer;
            }
            let Ok(img) = image::open(f) else { continue };
            let (w, h) = (img.width(), img.height());
            if w.min(h) < 128 {
                continue;
            }
            // Round 0: the whole picture; later rounds: a window of it.
            let mut r = Rng::keyed(&[&f.to_string_lossy(), &round.to_string()]);
            let pic = if round == 0 {
                img
            } else {
                let frac = 0.35 + 0.5 * r.unit();
                let (cw, ch) = ((f64::from(w) * frac) as u32, (f64::from(h) * frac) as u32);
                if cw < 96 || ch < 96 {
                    continue;
                }
                let x = (r.unit() * f64::from(w - cw)) as u32;
                let y = (r.unit() * f64::from(h - ch)) as u32;
                img.crop_imm(x, y, cw, ch)
            };
            let feats = Features::of_image(&shrink(&pic, WORKING_SIDE), &ap);
            index.insert(stored.len() as i64, &words(voc, &feats));
            stored.push(feats);
            added += 1;
        }
    }
    println!(
        "index: {} pictures ({} distractors), {} postings, {:.0} B/picture in memory, archive features {:.2} ms cpu each",
        index.len(),
        added,
        index.postings(),
        index.memory() as f64 / index.len() as f64,
        1000.0 * (cpu_s() - c) / added.max(1) as f64
    );
    let cp = CandidateParams::default();
    let mut chance_inliers: Vec<usize> = Vec::new();
    let (mut t_feat, mut t_cand, mut t_ver, mut nq) = (0.0, 0.0, 0.0, 0usize);
    for tr in TRANSFORMATIONS {
        if let Some(o) = only {
            if !o.iter().any(|x| x == tr.name) {
                continue;
            }
        }
        let mut ranks = Vec::new();
        let mut true_inl = Vec::new();
        for (i, (name, img)) in originals.iter().enumerate() {
            let raw = accuracy::jpeg(img, 95);
            let src = accuracy::Source {
                bytes: &raw,
                image: img,
            };
            let mut rng = Rng::keyed(&[tr.name, name]);
            let bytes = (tr.make)(&src, &mut rng);
            let Ok(copy) = image::load_from_memory(&bytes) else {
                continue;
            };
            let w = shrink(&copy, WORKING_SIDE);
            let c0 = cpu_s();
            let (q, inner) = describe(&w, &qp);
            let c1 = cpu_s();
            let cands = index.candidates(voc, &united(&q, inner.as_ref()), 128, &cp);
            let c2 = cpu_s();
            let rank = cands.iter().position(|c| c.image_id == i as i64);
            ranks.push(rank.map(|r| r + 1).unwrap_or(999));
            if std::env::var_os("RETRACE_EVAL_RANKS").is_some() {
                // One line a copy, to compare two searches copy by copy.
                eprintln!("rank {} {name} {}", tr.name, ranks[ranks.len() - 1]);
            }
            let mut best_true = 0;
            for c in cands.iter().take(16) {
                if c.image_id as usize >= stored.len() {
                    continue;
                }
                let k = best_inliers(
                    &q,
                    inner.as_ref(),
                    &stored[c.image_id as usize],
                    ap.scale_factor,
                    &vp,
                );
                if c.image_id == i as i64 {
                    best_true = k;
                } else {
                    chance_inliers.push(k);
                }
            }
            let c3 = cpu_s();
            t_feat += c1 - c0;
            t_cand += c2 - c1;
            t_ver += c3 - c2;
            nq += 1;
            true_inl.push(best_true);
        }
        let at = |k: usize| {
            ranks.iter().filter(|&&r| r <= k).count() as f64 * 100.0 / ranks.len() as f64
        };
        true_inl.sort();
        println!(
            "{:<20} recall@1 {:5.1}% @4 {:5.1}% @16 {:5.1}% @32 {:5.1}% @64 {:5.1}% @128 {:5.1}% | true inliers (top 16) p10 {} p50 {}",
            tr.name,
            at(1),
            at(4),
            at(16),
            at(32),
            at(64),
            at(128),
            true_inl.get(true_inl.len() / 10).copied().unwrap_or(0),
            true_inl.get(true_inl.len() / 2).copied().unwrap_or(0)
        );
    }
    chance_inliers.sort();
    let pct = |q: f64| {
        chance_inliers
            .get(((chance_inliers.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "verified non-originals: n {} p50 {} p99 {} p99.9 {} max {}",
        chance_inliers.len(),
        pct(0.5),
        pct(0.99),
        pct(0.999),
        chance_inliers.last().copied().unwrap_or(0)
    );
    let mut hist = std::collections::BTreeMap::new();
    for &k in &chance_inliers {
        *hist.entry(k).or_insert(0usize) += 1;
    }
    println!("inlier histogram of verified non-originals: {hist:?}");
    println!(
        "cpu per query: features {:.2} ms, candidates {:.2} ms, verify 16 {:.2} ms",
        1000.0 * t_feat / nq.max(1) as f64,
        1000.0 * t_cand / nq.max(1) as f64,
        1000.0 * t_ver / nq.max(1) as f64
    );
}
