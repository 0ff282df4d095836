//! How the feature index (the candidate search for partial copies) scales to
//! a million archived pictures, from the features of real pictures.
//!
//! Run:
//! ```sh
//! cargo run --release --features examples --example features_scale -- \
//!     --archive ARCHIVE.db --pictures 1000000 --queries DIR [--count 300] [--exhaustive]
//! ```
//! `ARCHIVE.db` is an archive whose pictures have local features (e.g. the
//! accuracy benchmark's kept distractor archive); it is opened read-only in
//! spirit (nothing is recorded) but, as every command, brought to the current
//! schema, so give it a copy. Its pictures' visual words are indexed, then
//! more pictures are made until `--pictures`: each is half the features of
//! one real picture and half of another, drawn at random, so every made
//! picture is distinct while word frequencies, angles and levels stay those of
//! real photographs (uniform random words would make the inverted lists
//! unrealistically even). The queries are real pictures from `DIR` (the first
//! `--count` files in name order), their features computed as for any
//! incoming picture, and searched for the same number of candidates matching
//! uses. Printed: build time, index memory per picture, single-thread
//! candidate-search time (p50/p90/p99/max) and the process's peak memory.
//! With `--exhaustive`, each query is also searched without the shortlist
//! (every picture it touches sorted by turn and scale), to show what the shortlist
//! saves and how many of the exhaustive search's candidates it keeps.
//!
//! What a `check` costs beyond this search does not grow with the archive:
//! the verification of a fixed number of candidates and the hash index
//! (measured by `examples/index_scale.rs`).

use std::path::PathBuf;
use std::time::Instant;

use retrace::internals::features::vocabulary::Vocabulary;
use retrace::internals::features::{FeatureParams, Features};
use retrace::internals::index::features::{query_words, words_from_bytes, FeatureIndex, Word};
use retrace::Archive;
use retrace::MatchParams;

#[path = "support/mod.rs"]
mod support;

/// A reproducible stream for choosing pictures and features.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        support::next(&mut self.0)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn main() -> Result<(), String> {
    let (mut archive, mut pictures, mut queries, mut count) = (None, 1_000_000usize, None, 300);
    let mut exhaustive = false;
    let mut stop_factor = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--archive" => archive = Some(PathBuf::from(value()?)),
            "--pictures" => pictures = value()?.parse().map_err(|e| format!("{e}"))?,
            "--queries" => queries = Some(PathBuf::from(value()?)),
            "--count" => count = value()?.parse().map_err(|e| format!("{e}"))?,
            "--exhaustive" => exhaustive = true,
            "--stop-factor" => {
                stop_factor = Some(value()?.parse::<f64>().map_err(|e| format!("{e}"))?)
            }
            _ => {
                return Err(
                    "cargo run --release --features examples --example features_scale -- --archive DB [--pictures N] --queries DIR [--count Q] [--exhaustive] [--stop-factor F]"
                        .into(),
                )
            }
        }
    }
    let archive = archive.ok_or("--archive DB is needed")?;
    let queries = queries.ok_or("--queries DIR is needed")?;

    let t = Instant::now();
    let db = Archive::open_existing(&archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let mut real: Vec<Vec<Word>> = Vec::new();
    db.load_current_words(i64::MAX, |_, bytes| {
        if let Some(w) = words_from_bytes(bytes).filter(|w| !w.is_empty()) {
            real.push(w);
        }
    })
    .map_err(|e| e.to_string())?;
    if real.is_empty() {
        return Err(format!("{}: no pictures with features", archive.display()));
    }
    println!(
        "{} real pictures' words read in {:.1} s ({:.0} words each on average)",
        real.len(),
        t.elapsed().as_secs_f64(),
        real.iter().map(Vec::len).sum::<usize>() as f64 / real.len() as f64
    );

    let t = Instant::now();
    let mut index = FeatureIndex::new(Vocabulary::builtin().len());
    let mut rng = Rng(0x5eed);
    for (i, w) in real.iter().enumerate().take(pictures) {
        index.insert(i as i64 + 1, w);
    }
    let mut made = Vec::new();
    for id in real.len()..pictures {
        let (a, b) = (&real[rng.below(real.len())], &real[rng.below(real.len())]);
        made.clear();
        made.extend(a.iter().filter(|_| rng.next() & 1 == 0).copied());
        made.extend(b.iter().filter(|_| rng.next() & 1 == 1).copied());
        made.truncate(a.len().max(b.len()));
        index.insert(id as i64 + 1, &made);
    }
    let n = index.len();
    println!(
        "index of {n} pictures built in {:.1} s: {:.0} MB, {:.0} bytes per picture, {} postings",
        t.elapsed().as_secs_f64(),
        index.memory() as f64 / 1e6,
        index.memory() as f64 / n.max(1) as f64,
        index.postings()
    );
    drop(real);

    let mut files: Vec<PathBuf> = std::fs::read_dir(&queries)
        .map_err(|e| format!("{}: {e}", queries.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let params = MatchParams::default();
    let vocabulary = Vocabulary::builtin();
    let (limit, cp) = (params.feature_candidates, &params.feature_index);
    // Another stop-word limit, compared with the default's candidates.
    let other = stop_factor.map(|f| retrace::internals::index::features::CandidateParams {
        stop_factor: f,
        ..cp.clone()
    });
    let (mut other_times, mut other_kept, mut other_first) = (Vec::new(), 0usize, 0usize);
    let (mut times, mut exhaustive_times) = (Vec::new(), Vec::new());
    let (mut found, mut kept, mut same_first, mut compared) = (0usize, 0usize, 0usize, 0usize);
    for f in &files {
        if times.len() >= count {
            break;
        }
        let Ok(img) = image::open(f) else { continue };
        let img =
            retrace::internals::decode::shrink(&img, retrace::internals::decode::WORKING_SIDE);
        let features = Features::of_image(&img, &FeatureParams::query());
        let (up, mirrored) = query_words(vocabulary, &features);
        let t = Instant::now();
        let c = index.candidates_of_words(&up, &mirrored, limit, cp);
        times.push(t.elapsed().as_secs_f64() * 1e3);
        if let Some(o) = &other {
            let t = Instant::now();
            let oc = index.candidates_of_words(&up, &mirrored, limit, o);
            other_times.push(t.elapsed().as_secs_f64() * 1e3);
            other_kept += c
                .iter()
                .filter(|a| oc.iter().any(|b| b.image_id == a.image_id))
                .count();
            other_first +=
                usize::from(oc.first().map(|a| a.image_id) == c.first().map(|b| b.image_id));
        }
        if exhaustive {
            // The same search without the shortlist: what it costs, and
            // how many of its candidates the shortlist keeps.
            let t = Instant::now();
            let all = index.candidates_exhaustive(&up, &mirrored, limit, cp);
            exhaustive_times.push(t.elapsed().as_secs_f64() * 1e3);
            compared += all.len();
            kept += all
                .iter()
                .filter(|a| c.iter().any(|b| b.image_id == a.image_id))
                .count();
            same_first +=
                usize::from(all.first().map(|a| a.image_id) == c.first().map(|b| b.image_id));
        }
        found += c.len();
        std::hint::black_box(c);
    }
    if times.is_empty() {
        return Err(format!("{}: no readable pictures", queries.display()));
    }
    let line = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        format!(
            "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            at(0.5),
            at(0.9),
            at(0.99),
            at(1.0)
        )
    };
    println!(
        "candidate search, {} queries, one thread: {} ({:.1} candidates each on average)",
        times.len(),
        line(&mut times),
        found as f64 / times.len() as f64
    );
    if let Some(f) = stop_factor {
        println!(
            "with stop factor {f} instead of {}: {}; it returns {} of the default's {} candidates ({:.1}%), the same first candidate for {} of {} queries",
            cp.stop_factor,
            line(&mut other_times),
            other_kept,
            found,
            100.0 * other_kept as f64 / found.max(1) as f64,
            other_first,
            other_times.len()
        );
    }
    if exhaustive {
        println!(
            "without the shortlist (every touched picture sorted by turn and scale): {}; of its {} candidates the shortlist search returns {} ({:.1}%), the same first candidate for {} of {} queries",
            line(&mut exhaustive_times),
            compared,
            kept,
            100.0 * kept as f64 / compared.max(1) as f64,
            same_first,
            exhaustive_times.len()
        );
    }
    println!(
        "peak memory of the process: {:.0} MiB",
        support::status_mb("VmHWM:")
    );
    Ok(())
}
