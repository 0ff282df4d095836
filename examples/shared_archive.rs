//! A shared archive at scale: insert rate through the real write path, a
//! worker's index load time and memory, and how fast a running worker follows
//! what another one records. Works on any archive location; made for
//! PostgreSQL.
//!
//! ```sh
//! cargo run --release --features examples --example shared_archive -- postgres://USER@HOST/DB 1000000 [WRITERS]
//! ```
//!
//! Synthetic pictures (random hashes for the whole frame and every archive
//! window, all three kinds, no thumbnail), recorded with `Archive::record_batch`
//! in batches of 64 as `archive add` does, by WRITERS threads (2) with a
//! connection each. Inserting stops at N images, so a rerun on the same
//! database skips straight to the measurements.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use retrace::internals::archive::{Archive, NewImage, Sighting, StoredHash};
use retrace::internals::hash::variants::ARCHIVE_WINDOWS;
use retrace::internals::hash::{HashBits, HashKind};
use retrace::internals::index::MemoryIndex;
use retrace::{Config, Engine};

#[path = "support/mod.rs"]
mod support;
use support::*;

fn picture(i: u64) -> (NewImage, Sighting) {
    let mut state = i.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED;
    let mut hashes = Vec::new();
    let regions = std::iter::once("full").chain(ARCHIVE_WINDOWS.iter().map(|(r, _)| *r));
    for region in regions {
        for kind in HashKind::ALL {
            let bytes: Vec<u8> = (0..kind.bits() / 64)
                .flat_map(|_| next(&mut state).to_be_bytes())
                .collect();
            hashes.push(StoredHash {
                region: region.to_string(),
                bits: HashBits::from_bytes(kind, &bytes).unwrap(),
                quality: (kind == HashKind::Pdq).then_some(90),
            });
        }
    }
    (
        NewImage {
            sha256: format!("{i:064x}"),
            format: "jpeg".into(),
            width: Some(4000),
            height: Some(3000),
            bytes: 4_000_000,
            metadata_json: "{}".into(),
            thumb: None,
            hashes,
            features: None,
        },
        Sighting {
            location: format!("/synthetic/{i}.jpg"),
            source: "synthetic".into(),
            url: None,
            first_seen: "2020-01-01T00:00:00Z".into(),
            first_seen_from: "given".into(),
        },
    )
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let location =
        std::path::PathBuf::from(args.get(1).expect("archive location (postgres://...)"));
    let n: u64 = args.get(2).map_or(1_000_000, |a| a.parse().unwrap());
    let writers: u64 = args.get(3).map_or(2, |a| a.parse().unwrap());
    let shown = retrace::internals::archive::display_location(&location);

    let have = Archive::open(&location).unwrap().image_count().unwrap();
    if have < n {
        eprintln!("{shown}: {have} images, inserting up to {n} with {writers} writers ...");
        let done = AtomicU64::new(0);
        let start = Instant::now();
        // The rate of each 100 000 as well as the running one: whether inserting
        // slows as the tables and their indexes outgrow memory.
        let lap = std::sync::Mutex::new(Instant::now());
        std::thread::scope(|s| {
            for w in 0..writers {
                let (location, done, lap) = (&location, &done, &lap);
                s.spawn(move || {
                    let mut a = Archive::open(location).unwrap();
                    let mine: Vec<u64> = (have..n).filter(|i| i % writers == w).collect();
                    for chunk in mine.chunks(64) {
                        let batch: Vec<_> = chunk.iter().map(|&i| picture(i)).collect();
                        a.record_batch(&batch).unwrap();
                        let d = done.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        if (d + chunk.len() as u64) / 100_000 != d / 100_000 {
                            let mut lap = lap.lock().unwrap();
                            eprintln!(
                                "  {} images, {:.0} images/s overall, {:.0} images/s for the last 100 000 ({:.0} s since start)",
                                have + d + chunk.len() as u64,
                                (d + chunk.len() as u64) as f64 / start.elapsed().as_secs_f64(),
                                100_000.0 / lap.elapsed().as_secs_f64(),
                                start.elapsed().as_secs_f64()
                            );
                            *lap = Instant::now();
                        }
                    }
                });
            }
        });
        let secs = start.elapsed().as_secs_f64();
        let added = done.load(Ordering::Relaxed);
        let rows = added * picture(0).0.hashes.len() as u64;
        println!(
            "insert: {added} images ({rows} hash rows) in {secs:.0} s with {writers} writers: {:.0} images/s, {:.0} hash rows/s",
            added as f64 / secs,
            rows as f64 / secs
        );
    }

    // A worker starting: connect, load every current hash into the index once.
    let rss0 = status_mb("VmRSS:");
    let (start, cpu0) = (Instant::now(), cpu_s());
    let archive = Archive::open(&location).unwrap();
    let config = Config {
        archive_refresh: Some(Duration::ZERO),
        ..Config::default()
    };
    let engine = Engine::new(config, Some(archive)).unwrap();
    let (load, load_cpu) = (start.elapsed().as_secs_f64(), cpu_s() - cpu0);
    let images = engine.archive_images();
    println!(
        "worker load: {images} images in {load:.1} s wall / {load_cpu:.1} s CPU; RSS +{:.0} MB ({:.0} MB now, peak {:.0} MB)",
        status_mb("VmRSS:") - rss0,
        status_mb("VmRSS:"),
        status_mb("VmHWM:")
    );

    // Following when nothing is new: the cost every picture pays at most once a second.
    let mut idle = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        assert_eq!(engine.follow_archive().unwrap(), 0);
        idle.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "follow, nothing new: p50 {:.2} ms, p99 {:.2} ms (200 calls)",
        percentile(&mut idle, 0.5),
        percentile(&mut idle, 0.99)
    );

    // Another worker records one picture; how long until this one has it indexed.
    let mut other = Archive::open(&location).unwrap();
    let mut lag = Vec::new();
    let base = n + 10_000_000 + (images % 1_000_000) * 100;
    for k in 0..20 {
        other.record_batch(&[picture(base + k)]).unwrap();
        let committed = Instant::now();
        loop {
            if engine.follow_archive().unwrap() > 0 {
                break;
            }
        }
        lag.push(committed.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "one picture recorded by another worker, indexed here after: p50 {:.2} ms, max {:.2} ms (20 trials; add the refresh interval, 1 s by default, for a running worker)",
        percentile(&mut lag, 0.5),
        percentile(&mut lag, 1.0)
    );

    // A worker that fell behind by 10 000 pictures catches up incrementally.
    let behind = 10_000u64;
    let start_insert = base + 100;
    for chunk in (start_insert..start_insert + behind)
        .collect::<Vec<_>>()
        .chunks(64)
    {
        let batch: Vec<_> = chunk.iter().map(|&i| picture(i)).collect();
        other.record_batch(&batch).unwrap();
    }
    let (t, cpu0) = (Instant::now(), cpu_s());
    let got = engine.follow_archive().unwrap();
    println!(
        "catching up {got} new images: {:.2} s wall / {:.2} s CPU (a full reload took {load:.1} s)",
        t.elapsed().as_secs_f64(),
        cpu_s() - cpu0
    );
    println!("archive now {} images", engine.archive_images());
    drop(engine);

    // Where a worker's memory goes: the index's own accounting, per kind, from
    // the capacities it allocated (RSS above adds the allocator's slack and the
    // rows in flight while loading).
    let archive = Archive::open(&location).unwrap();
    let mut index = MemoryIndex::new();
    let mut images = std::collections::HashSet::new();
    archive
        .for_each_current_hash(|id, region, bits, _| {
            images.insert(id);
            if retrace::internals::matching::searched(region, bits.kind) {
                index.insert(id, region, bits);
            }
        })
        .unwrap();
    let images = images.len().max(1) as f64;
    let mut total = 0;
    for kind in HashKind::ALL {
        let m = index.memory(kind);
        total += m.total();
        println!(
            "index {:<5} {:>10} hashes: {:>6.0} MB ({:.0} B/hash: entries {:.0} MB, postings {:.0} MB, list headers {:.0} MB)",
            kind.name(),
            m.entries,
            m.total() as f64 / 1e6,
            m.per_entry(),
            m.entry_bytes as f64 / 1e6,
            m.posting_bytes as f64 / 1e6,
            m.table_bytes as f64 / 1e6
        );
    }
    println!(
        "index total {:.0} MB for {images:.0} images: {:.0} B per image",
        total as f64 / 1e6,
        total as f64 / images
    );
}
