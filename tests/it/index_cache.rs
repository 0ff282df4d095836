//! The index snapshot (`Config::index_cache`): written after a load from the
//! archive, read instead of the archive's rows next time, caught up with what
//! was recorded since, and ignored when it is not this archive's or is damaged.
//! Whatever way the index was loaded, matching answers the same.

use std::path::{Path, PathBuf};

use retrace::Archive;
use retrace::{Config, Engine};

use crate::common::*;

fn engine(db: &Path, cache: Option<&Path>) -> Engine {
    let config = Config {
        index_cache: cache.map(Path::to_path_buf),
        index_cache_min_images: 1,
        index_scan_only: true,
        ..Config::default()
    };
    Engine::new(config, Some(Archive::open_existing(db).unwrap())).unwrap()
}

/// What matching said of each incoming sample, as JSON.
fn answers(e: &Engine, pictures: &[PathBuf]) -> Vec<serde_json::Value> {
    pictures
        .iter()
        .map(|p| {
            let r = e.process_path(p).report;
            serde_json::json!([r.path, r.matches, r.earliest_copy, r.archive])
        })
        .collect()
}

fn incoming() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(samples().join("incoming"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x != "tsv"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_snapshot_loads_the_same_index_follows_the_archive_and_is_refused_when_foreign() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let cache = dir.path().join("index.snapshot");
    let pictures = incoming();

    // No snapshot yet: loaded from the archive, then saved.
    let first = engine(&db, Some(&cache));
    let load = first.index_load();
    assert!(
        !load.from_snapshot && load.snapshot_refused.is_none(),
        "{load:?}"
    );
    assert!(matches!(load.saved, Some(Ok(n)) if n > 0), "{load:?}");
    let want = answers(&engine(&db, None), &pictures);
    assert!(
        want.iter()
            .filter(|a| a[1] != serde_json::json!([]))
            .count()
            >= 8,
        "the samples should match the archive: {want:?}"
    );
    assert_eq!(answers(&first, &pictures), want);
    drop(first);

    // Next time from the snapshot, with the same answers.
    let second = engine(&db, Some(&cache));
    assert!(
        second.index_load().from_snapshot,
        "{:?}",
        second.index_load()
    );
    assert_eq!(second.index_load().caught_up, 0);
    assert_eq!(answers(&second, &pictures), want);
    drop(second);

    // A picture recorded afterwards (by another process) is read from the
    // archive on top of the snapshot, and found.
    let newcomer = samples().join("not-in-archive/flower.jpg");
    let before = engine(&db, None).process_path(&newcomer).report;
    assert!(before.matches.is_empty(), "{:?}", before.matches);
    let out = run(retrace(Some(&db))
        .args(["--no-index-cache", "archive", "add"])
        .arg(&newcomer));
    assert_eq!(out.status.code(), Some(0));
    let third = engine(&db, Some(&cache));
    assert!(third.index_load().from_snapshot);
    assert_eq!(third.index_load().caught_up, 1);
    let after = third.process_path(&newcomer).report;
    assert!(
        !after.matches.is_empty(),
        "the newly recorded picture is not found"
    );
    // A tenth of the archive and more was new (1 of 8): the snapshot was
    // brought up to date, so the next engine reads nothing more.
    assert!(matches!(third.index_load().saved, Some(Ok(_))));
    drop(third);
    assert_eq!(engine(&db, Some(&cache)).index_load().caught_up, 0);

    // Another archive's snapshot is refused (its last picture differs) and
    // the index loads from the archive.
    let other_dir = dir.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other = other_dir.join("other.db");
    let out = run(retrace(Some(&other))
        .args(["archive", "add"])
        .arg(samples().join("not-in-archive")));
    assert_eq!(out.status.code(), Some(0));
    let foreign = engine(&other, Some(&cache));
    let load = foreign.index_load();
    assert!(!load.from_snapshot);
    assert!(
        matches!(
            load.snapshot_refused,
            Some(retrace::SnapshotError::OtherArchive { .. })
        ) && retrace::error_chain(load.snapshot_refused.as_ref().unwrap())
            .contains("another archive"),
        "{load:?}"
    );
    let r = foreign.process_path(&newcomer).report;
    assert!(!r.matches.is_empty());
    let r = foreign
        .process_path(&samples().join("archive/Dune.jpg"))
        .report;
    assert!(
        r.matches.is_empty(),
        "matched a picture only the other archive has"
    );

    // A damaged snapshot is refused with its reason; matching is unaffected.
    let bytes = std::fs::read(&cache).unwrap();
    std::fs::write(&cache, &bytes[..bytes.len() / 2]).unwrap();
    let damaged = engine(&db, Some(&cache));
    assert!(!damaged.index_load().from_snapshot);
    let why = damaged.index_load().snapshot_refused.as_ref();
    assert!(
        matches!(why, Some(retrace::SnapshotError::File { .. })),
        "{why:?}"
    );
    // The reader's own error is kept as the cause, not only its text.
    assert!(std::error::Error::source(why.unwrap()).is_some());
    let r = damaged.process_path(&newcomer).report;
    assert!(!r.matches.is_empty());
}

#[test]
fn the_cli_keeps_the_snapshot_beside_a_large_sqlite_archive_only() {
    // Below the CLI's threshold nothing is written beside the archive.
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let out = run(retrace(Some(&db))
        .arg("check")
        .arg(samples().join("incoming/dune_crop_centre.jpg")));
    assert!(out.status.success() || out.status.code() == Some(1));
    let mut index = db.as_os_str().to_os_string();
    index.push(".index");
    assert!(!Path::new(&index).exists());
}

/// An archive made before retrace kept local features: its pictures have
/// hashes only, so partial copies of them are found only by hashes. Adding
/// their files again fills the features in; `archive info` says how many
/// pictures have them, and a snapshot taken before is not trusted after.
#[test]
fn features_filled_in_for_an_older_archive_reach_the_index_and_stale_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let cache = dir.path().join("index.snapshot");
    let pictures = incoming();
    let want = answers(&engine(&db, None), &pictures);

    // As an archive migrated from schema 2 looks: the features table empty.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let images: u64 = conn
        .query_row("SELECT COUNT(*) FROM images", [], |r| r.get(0))
        .unwrap();
    conn.execute("DELETE FROM features", []).unwrap();
    drop(conn);
    let info = run(retrace(Some(&db)).args(["archive", "info", "--json"]));
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["with_features"], 0, "{info}");
    let text = String::from_utf8_lossy(&run(retrace(Some(&db)).args(["archive", "info"])).stdout)
        .into_owned();
    assert!(
        text.contains(&format!("features      0 of {images} images"))
            && text.contains("retrace archive add"),
        "{text}"
    );

    // Without features some copies go unfound (the samples include crops
    // that only local features find); a snapshot of that state is saved.
    let without = engine(&db, Some(&cache));
    assert!(matches!(without.index_load().saved, Some(Ok(_))));
    let found =
        |a: &[serde_json::Value]| a.iter().filter(|x| x[1] != serde_json::json!([])).count();
    let lost = answers(&without, &pictures);
    assert!(
        found(&lost) < found(&want),
        "every copy was found without features: {lost:?}"
    );
    drop(without);

    // Adding the archived pictures again (from the same source: no new
    // sighting) fills their features in.
    let out = run(retrace(Some(&db))
        .args(["--no-index-cache", "archive", "add"])
        .arg(samples().join("archive"))
        .arg("--manifest")
        .arg(samples().join("archive/sources.tsv")));
    assert_eq!(out.status.code(), Some(0));
    let info = run(retrace(Some(&db)).args(["archive", "info", "--json"]));
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["with_features"], images, "{info}");

    // No new picture, so only the feature count tells the snapshot is stale.
    let refilled = engine(&db, Some(&cache));
    let load = refilled.index_load();
    assert!(!load.from_snapshot, "{load:?}");
    assert!(
        matches!(
            load.snapshot_refused,
            Some(retrace::SnapshotError::FeaturesChanged { .. })
        ) && retrace::error_chain(load.snapshot_refused.as_ref().unwrap())
            .contains("local features changed"),
        "{load:?}"
    );
    assert_eq!(answers(&refilled, &pictures), want);
}
