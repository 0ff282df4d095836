//! What one picture's archive lookup costs: the hashes of a dozen query views
//! (three kinds each) against an index of N archived pictures with every
//! archive window stored, asked view by view (`within` + `nearest`, as matching
//! did before) and all at once (`search_many`, as it does now).
//!
//! ```sh
//! cargo run --release --features examples --example views_lookup -- 250000 [VIEWS] [ROUNDS]
//! ```
//!
//! The hashes are random (a picture never seen: the usual case, and the
//! expensive one, since nothing near lets the tables stop early). Both ways
//! must give the same hits; the example checks it.

use std::time::Instant;

use retrace::internals::hash::variants::ARCHIVE_WINDOWS;
use retrace::internals::hash::{HashBits, HashKind};
use retrace::internals::index::MemoryIndex;
use retrace::MatchParams;

#[path = "support/mod.rs"]
mod support;
use support::*;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: N [VIEWS] [ROUNDS]"))
        .collect();
    let n = args.first().copied().unwrap_or(250_000);
    let views = args.get(1).copied().unwrap_or(12);
    let rounds = args.get(2).copied().unwrap_or(3);
    let kinds = [HashKind::Pdq, HashKind::Phash, HashKind::Dhash];
    let p = MatchParams::default();
    let radius = |k: HashKind| match k {
        HashKind::Pdq => p.pdq_possible,
        HashKind::Phash => p.phash_possible,
        _ => p.dhash_possible,
    };
    let mut s = 1u64;
    let t = Instant::now();
    let mut idx = MemoryIndex::new();
    let regions: Vec<&str> = std::iter::once("full")
        .chain(ARCHIVE_WINDOWS.iter().map(|(name, _)| *name))
        .collect();
    for id in 0..n as i64 {
        for r in &regions {
            for k in kinds {
                idx.insert(id, r, random(k, &mut s));
            }
        }
    }
    println!(
        "{n} pictures × {} regions × 3 kinds = {} hashes per kind, built in {:.1} s",
        regions.len(),
        idx.len(HashKind::Pdq),
        t.elapsed().as_secs_f64()
    );
    for round in 0..rounds {
        let queries: Vec<HashBits> = (0..views)
            .flat_map(|_| kinds.map(|k| random(k, &mut s)))
            .collect();
        let t = Instant::now();
        let one_by_one: Vec<Vec<_>> = queries
            .iter()
            .map(|q| {
                let mut h = idx.within(q, radius(q.kind));
                h.extend(idx.nearest(q, p.nearest_per_view));
                h
            })
            .collect();
        let a = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let together = idx.search_many(&queries, radius, p.nearest_per_view);
        let b = t.elapsed().as_secs_f64();
        for (x, y) in one_by_one.iter().zip(&together) {
            let mut x: Vec<_> = x
                .iter()
                .map(|h| (h.distance, h.image_id, h.region.clone()))
                .collect();
            let mut y: Vec<_> = y
                .iter()
                .map(|h| (h.distance, h.image_id, h.region.clone()))
                .collect();
            x.sort();
            x.dedup();
            y.sort();
            assert_eq!(x, y, "search_many differs from within + nearest");
        }
        println!(
            "round {round}: {} queries ({views} views × 3 kinds): one by one {:.0} ms, all at once {:.0} ms ({:.1}× less), {} rayon threads",
            queries.len(),
            a * 1e3,
            b * 1e3,
            a / b,
            rayon::current_num_threads()
        );
    }
}
