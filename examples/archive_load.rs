//! How long `check` takes against a large archive: opening it, loading its hashes
//! into the in-memory index, and answering for one picture.
//!
//! The archive is synthetic: N image rows with random hashes (whole frame and
//! every archive window, all three kinds, current stamps, as `archive add` writes
//! them) inserted straight into SQLite, without thumbnails or sightings. It is
//! built once under the cargo target dir and reused.
//!
//! ```sh
//! cargo run --release --features examples --example archive_load -- 1000000 [PICTURE]
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use retrace::internals::hash::variants::ARCHIVE_WINDOWS;
use retrace::internals::hash::HashKind;
use retrace::Archive;
use retrace::{Config, Engine};

#[path = "support/mod.rs"]
mod support;
use support::*;

fn build(path: &Path, n: u64) {
    // Migrations and pragmas as retrace sets them.
    drop(Archive::open(path).unwrap());
    let mut conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "synchronous", "OFF").unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut img = tx
            .prepare(
                "INSERT INTO images (id, sha256, format, width, height, bytes, first_seen, added_at)
                 VALUES (?1, ?2, 'jpeg', 4000, 3000, 4000000, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z')",
            )
            .unwrap();
        let mut hash = tx
            .prepare(
                "INSERT INTO hashes (image_id, kind, stamp, region, bits, quality)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .unwrap();
        let mut state = 42u64;
        let regions: Vec<&str> = std::iter::once("full")
            .chain(ARCHIVE_WINDOWS.iter().map(|(r, _)| *r))
            .collect();
        for id in 1..=n as i64 {
            img.execute(rusqlite::params![id, format!("{id:064x}")])
                .unwrap();
            for region in &regions {
                for kind in HashKind::ALL {
                    let bytes: Vec<u8> = (0..kind.bits() / 64)
                        .flat_map(|_| next(&mut state).to_be_bytes())
                        .collect();
                    let quality = (kind == HashKind::Pdq).then_some(90);
                    hash.execute(rusqlite::params![
                        id,
                        kind.name(),
                        kind.stamp(),
                        region,
                        bytes,
                        quality
                    ])
                    .unwrap();
                }
            }
            if id % 100_000 == 0 {
                eprintln!("  {id} images");
            }
        }
    }
    tx.commit().unwrap();
    // One big transaction leaves everything in the WAL; `archive add` commits 64
    // pictures at a time and SQLite checkpoints as it goes, so do the same here
    // before measuring reads.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).map_or(1_000_000, |a| a.parse().unwrap());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let picture = args.get(2).map(PathBuf::from).unwrap_or_else(|| {
        root.join("../shared/ref/pdq/images/reg-test-input/exif-rotn/exif-rotn-1.jpg")
    });
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("archive-load");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("synthetic-{n}.db"));
    if !path.exists() {
        eprintln!("building {} (synthetic rows, once) ...", path.display());
        let t = Instant::now();
        let tmp = dir.join(format!("synthetic-{n}.db.part"));
        let _ = std::fs::remove_file(&tmp);
        build(&tmp, n);
        std::fs::rename(&tmp, &path).unwrap();
        eprintln!("built in {:.0} s", t.elapsed().as_secs_f64());
    }
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let size = std::fs::metadata(&path).unwrap().len();
    let (start, cpu0) = (Instant::now(), cpu_s());
    let archive = Archive::open_existing(&path).unwrap();
    let mut rows = 0u64;
    archive
        .for_each_current_hash(|_, _, _, _| rows += 1)
        .unwrap();
    let (read, read_cpu) = (start.elapsed(), cpu_s() - cpu0);
    println!(
        "{n} images, {rows} hash rows ({:.0} MB file); wall / CPU seconds:\n  \
         reading the rows alone                      {:.2} / {:.2}",
        size as f64 / 1e6,
        read.as_secs_f64(),
        read_cpu,
    );
    let name = picture.file_name().unwrap().to_string_lossy().to_string();
    let snapshot = dir.join(format!("synthetic-{n}.db.index"));
    let _ = std::fs::remove_file(&snapshot);
    // As `check` opens an archive: no substring tables, the snapshot written
    // on the first run and read on the next ones.
    let check_config = || Config {
        index_cache: Some(snapshot.clone()),
        index_cache_min_images: 1,
        index_scan_only: true,
        ..Config::default()
    };
    let mut reports = Vec::new();
    for (what, config) in [
        ("open + load, no tables, + save snapshot", check_config()),
        ("open + load from the snapshot", check_config()),
    ]
    .into_iter()
    .chain(
        args.iter()
            .any(|a| a == "--tables")
            .then(|| ("open + load + build the tables", Config::default())),
    ) {
        let (start, cpu0) = (Instant::now(), cpu_s());
        let engine = Engine::new(config, Some(Archive::open_existing(&path).unwrap())).unwrap();
        let (loaded, loaded_cpu) = (start.elapsed(), cpu_s() - cpu0);
        let (start, cpu0) = (Instant::now(), cpu_s());
        let ex = engine.process_path(&picture);
        let (checked, checked_cpu) = (start.elapsed(), cpu_s() - cpu0);
        assert!(ex.report.errors.is_empty(), "{:?}", ex.report.errors);
        let load = engine.index_load();
        println!(
            "  {what:<43} {:.2} / {:.2}{}\n    then check {name}  {:.2} / {:.2}",
            loaded.as_secs_f64(),
            loaded_cpu,
            match &load.saved {
                Some(Ok(bytes)) => format!(" (snapshot {:.0} MB)", *bytes as f64 / 1e6),
                Some(Err(e)) => format!(" (snapshot failed: {})", retrace::error_chain(e)),
                None if load.from_snapshot => " (from the snapshot)".to_string(),
                None => String::new(),
            },
            checked.as_secs_f64(),
            checked_cpu,
        );
        let r = &ex.report;
        reports.push(serde_json::json!([r.matches, r.earliest_copy, r.archive]));
    }
    // Every way of loading answers the same.
    assert!(reports.windows(2).all(|w| w[0] == w[1]));
    println!("peak RSS {:.0} MB", status_mb("VmHWM:"));
    println!(
        "now: /usr/bin/time -f '%e s %M KB' target/release/retrace check {} --archive {}",
        picture.display(),
        path.display()
    );
}
