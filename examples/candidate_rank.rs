//! Where an archived picture ranks among the local-feature candidates of a
//! copy of it, in a real archive: what decides whether `--crop-search N`
//! verifies it (only the first N are). For a copy the benchmark does not make,
//! or to see why a copy was missed at archive scale.
//!
//!     cargo run --release --features examples --example candidate_rank -- ARCHIVE.db COPY ORIGINAL
//!
//! ORIGINAL is the archived file (found in the archive by its SHA-256). The
//! copy is described with the query's features and their mirror images, on
//! the copy decoded whole by `image` and shrunk to the working side (the
//! pipeline decodes JPEGs scaled, so the pixels can differ slightly); the
//! picture inside a screenshot, which matching also searches, is left out.
//! Prints the original's rank, its votes and score, and those of the first
//! candidates with where they were seen.

use retrace::internals::archive::Archive;
use retrace::internals::decode::{shrink, WORKING_SIDE};
use retrace::internals::features::vocabulary::Vocabulary;
use retrace::internals::features::{FeatureParams, Features};
use retrace::internals::index::features::{words_from_bytes, CandidateParams, FeatureIndex};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, copy, original] = args.as_slice() else {
        eprintln!("usage: candidate_rank ARCHIVE.db COPY ORIGINAL");
        std::process::exit(2);
    };
    let archive = Archive::open_existing(std::path::Path::new(db)).expect("archive");
    let bytes = std::fs::read(original).expect("original");
    let sha = retrace::internals::input::read::sha256_hex(&bytes);
    let Some(id) = archive.lookup_sha256(&sha).expect("lookup") else {
        eprintln!("{original} is not in {db}");
        std::process::exit(1);
    };
    let mut index = FeatureIndex::default();
    archive
        .load_current_words(i64::MAX, |image, stored| {
            if let Some(w) = words_from_bytes(stored) {
                index.insert(image, &w);
            }
        })
        .expect("words");
    let img = image::open(copy).expect("copy");
    let features = Features::of_image(&shrink(&img, WORKING_SIDE), &FeatureParams::query());
    let p = CandidateParams::default();
    let found = index.candidates(Vocabulary::builtin(), &features, usize::MAX, &p);
    println!(
        "{} pictures indexed; {} candidates with at least {} votes in one turn and scale",
        index.len(),
        found.len(),
        p.min_votes
    );
    let seen = |image: i64| {
        archive
            .known_image(image)
            .ok()
            .flatten()
            .map(|k| k.earliest.location)
            .unwrap_or_default()
    };
    match found.iter().position(|c| c.image_id == id) {
        Some(r) => println!(
            "original (image {id}): rank {}, {} votes, score {}",
            r + 1,
            found[r].votes,
            found[r].score
        ),
        None => println!("original (image {id}): not a candidate"),
    }
    for (r, c) in found.iter().take(5).enumerate() {
        println!(
            "  {:>2}. image {} ({}): {} votes, score {}",
            r + 1,
            c.image_id,
            seen(c.image_id),
            c.votes,
            c.score
        );
    }
}
