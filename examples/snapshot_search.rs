//! What the shared pass over a large archive's hashes costs, kind by kind:
//! an index snapshot (as `retrace check` writes beside a SQLite archive of
//! 20 000 pictures or more) is mapped, and random query hashes, VIEWS per kind
//! as one picture's views, are searched against it three times.
//!
//! ```sh
//! cargo run --release --example snapshot_search -- target/archive-load/synthetic-1000000.db.index [VIEWS]
//! ```
//!
//! `examples/archive_load.rs` makes that snapshot. Random queries are the
//! usual case (a picture never seen) and the expensive one.

use std::time::Instant;

use retrace::hash::{HashBits, HashKind};
use retrace::index::MemoryIndex;
use retrace::matching::MatchParams;

#[path = "support/mod.rs"]
mod support;
use support::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: snapshot_search SNAPSHOT [VIEWS]");
    let views: usize = args
        .next()
        .map_or(10, |v| v.parse().expect("VIEWS: a number"));
    let (start, cpu0) = (Instant::now(), cpu_s());
    let (idx, of) = MemoryIndex::load_snapshot(std::path::Path::new(&path)).unwrap();
    println!(
        "{} images, {} hashes per kind; load (map + checksum) {:.3} s wall / {:.3} s CPU",
        of.images,
        idx.len(HashKind::Pdq),
        start.elapsed().as_secs_f64(),
        cpu_s() - cpu0
    );
    let p = MatchParams::default();
    let radius = |k: HashKind| match k {
        HashKind::Pdq => p.pdq_possible,
        HashKind::Phash => p.phash_possible,
        _ => p.dhash_possible,
    };
    let mut s = 7u64;
    for round in 0..3 {
        let mut line = format!("round {round}, {views} views, wall / CPU s:");
        for kind in HashKind::ALL {
            let qs: Vec<HashBits> = (0..views).map(|_| random(kind, &mut s)).collect();
            let (start, cpu0) = (Instant::now(), cpu_s());
            let hits = idx.search_many(&qs, radius, p.nearest_per_view);
            line += &format!(
                "  {} {:.3} / {:.3} ({} hits)",
                kind.name(),
                start.elapsed().as_secs_f64(),
                cpu_s() - cpu0,
                hits.iter().map(Vec::len).sum::<usize>()
            );
        }
        println!("{line}");
    }
}
