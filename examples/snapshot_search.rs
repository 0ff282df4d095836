//! What the shared pass over a large archive's hashes costs, kind by kind:
//! an index snapshot (as `retrace check` writes beside a SQLite archive of
//! 20 000 pictures or more) is mapped, and random query hashes, VIEWS per kind
//! as one picture's views, are searched against it three times at matching's
//! radii; then whether those lookups build the substring tables, what
//! building them costs (time, memory) and what they save at small radii.
//!
//! ```sh
//! cargo run --release --features examples --example snapshot_search -- target/archive-load/synthetic-1000000.db.index [VIEWS]
//! ```
//!
//! `examples/archive_load.rs` makes that snapshot. Random queries are the
//! usual case (a picture never seen) and the expensive one.

use std::time::Instant;

use retrace::internals::hash::{HashBits, HashKind};
use retrace::internals::index::MemoryIndex;
use retrace::MatchParams;

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
    let rounds = |idx: &MemoryIndex, what: &str| {
        let mut s = 7u64;
        for round in 0..3 {
            let mut line = format!("{what} round {round}, {views} views, wall / CPU s:");
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
    };
    let mut idx = idx;
    rounds(&idx, "as loaded (matching's radii)");
    idx.finish_bulk();
    rounds(&idx, "after finish_bulk");
    let tables = |idx: &MemoryIndex| -> usize {
        HashKind::ALL
            .iter()
            .map(|&k| idx.memory(k).posting_bytes + idx.memory(k).table_bytes)
            .sum()
    };
    println!(
        "tables built by matching's lookups: {:.1} MB (RSS {:.0} MB)",
        tables(&idx) as f64 / 1e6,
        status_mb("VmRSS:")
    );
    // What building the tables costs, and what they then save on lookups
    // at radii where they answer (the scan is the reference: same hits).
    let (start, cpu0) = (Instant::now(), cpu_s());
    idx.build_tables();
    println!(
        "build_tables: {:.3} s wall / {:.3} s CPU, {:.1} MB ({:.0} bytes a picture), RSS {:.0} MB",
        start.elapsed().as_secs_f64(),
        cpu_s() - cpu0,
        tables(&idx) as f64 / 1e6,
        tables(&idx) as f64 / of.images.max(1) as f64,
        status_mb("VmRSS:")
    );
    rounds(&idx, "with tables");
    let mut s = 11u64;
    for (kind, r) in [
        (HashKind::Pdq, 31),
        (HashKind::Phash, 8),
        (HashKind::Dhash, 8),
    ] {
        let qs: Vec<HashBits> = (0..100).map(|_| random(kind, &mut s)).collect();
        let start = Instant::now();
        let by_tables: Vec<_> = qs.iter().map(|q| idx.within(q, r)).collect();
        let t = start.elapsed().as_secs_f64() / 100.0;
        let start = Instant::now();
        let by_scan: Vec<_> = qs.iter().map(|q| idx.within_scan(q, r)).collect();
        let sc = start.elapsed().as_secs_f64() / 100.0;
        assert_eq!(by_tables, by_scan, "{kind:?} within {r}");
        println!(
            "{} within {r}, 100 random queries: {:.2} ms by the planner, {:.2} ms by a scan",
            kind.name(),
            t * 1e3,
            sc * 1e3
        );
    }
}
