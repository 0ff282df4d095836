//! The archive survives what happens to real ingests: a process killed at any
//! moment (SIGKILL, power cut of the process) and several processes adding to
//! the same file at once. Checked from outside, with SQLite's own integrity
//! check and with the invariants the archive promises: every committed batch is
//! whole, nothing is recorded twice, the earliest first-seen wins.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use crate::common::*;

/// Pictures per transaction in `archive add` (`RECORD_BATCH` in main.rs): a
/// fresh archive killed mid-run must hold a multiple of this, or everything.
const BATCH: i64 = 64;

fn sha_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn add(db: &Path, folder: &Path) -> std::process::Command {
    let mut c = retrace(Some(db));
    c.args(["archive", "add"])
        .arg(folder)
        .args(["--source", "trial", "--first-seen", "2020-01-01"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn one(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Hash rows per image SHA-256.
fn hash_counts(conn: &Connection) -> BTreeMap<String, i64> {
    let mut stmt = conn
        .prepare("SELECT i.sha256, COUNT(h.image_id) FROM images i LEFT JOIN hashes h ON h.image_id = i.id GROUP BY i.id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// What must hold after any interruption; returns the number of images.
fn check_consistent(db: &Path, reference: &BTreeMap<String, i64>, fresh: bool, what: &str) -> i64 {
    let conn = Connection::open(db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "{what}: integrity_check");
    let tables = one(
        &conn,
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'images'",
    );
    if tables == 0 {
        // Killed before the first migration committed: an empty file is a
        // consistent archive too (the next run creates the schema).
        return 0;
    }
    let fk: i64 = conn
        .prepare("PRAGMA foreign_key_check")
        .unwrap()
        .query_map([], |_| Ok(()))
        .unwrap()
        .count() as i64;
    assert_eq!(fk, 0, "{what}: dangling references");
    let images = one(&conn, "SELECT COUNT(*) FROM images");
    let total = reference.len() as i64;
    if fresh {
        assert!(
            images % BATCH == 0 || images == total,
            "{what}: {images} images is not a whole number of batches of {BATCH} (of {total})"
        );
    }
    for (sha, n) in hash_counts(&conn) {
        let want = reference
            .get(&sha)
            .unwrap_or_else(|| panic!("{what}: unknown image {sha}"));
        assert_eq!(
            n, *want,
            "{what}: image {sha} has {n} hash rows, not {want}"
        );
    }
    assert_eq!(
        one(
            &conn,
            "SELECT COUNT(*) FROM images i WHERE (SELECT COUNT(*) FROM sightings s WHERE s.image_id = i.id) != 1"
        ),
        0,
        "{what}: every image has exactly its one sighting"
    );
    assert_eq!(
        one(
            &conn,
            "SELECT COUNT(*) FROM images WHERE first_seen IS NULL"
        ),
        0,
        "{what}: first_seen set"
    );
    images
}

fn kill_after(mut child: Child, delay: Duration) -> bool {
    std::thread::sleep(delay);
    let finished = child.try_wait().unwrap().is_some();
    // On Unix `kill` is SIGKILL: no handler, no cleanup, no final commit.
    let _ = child.kill();
    let _ = child.wait();
    finished
}

#[test]
fn sigkill_at_random_moments_never_corrupts_or_splits_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let folder = jpeg_folder(&dir.path().join("pics"), 0..140);

    // The reference: one uninterrupted run, also timing the work to aim the kills.
    let reference_db = dir.path().join("reference.db");
    let start = Instant::now();
    let out = add(&reference_db, &folder).output().unwrap();
    // How long a whole run takes now; re-measured on every run to completion,
    // since other tests and builds load the machine unevenly.
    let mut full = start.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference = hash_counts(&Connection::open(&reference_db).unwrap());
    assert_eq!(reference.len(), 140);
    assert!(reference.values().all(|&n| n > 0));

    let mut rng = Rng(0xD00D_2024_0007);
    let (mut partial, mut empty, mut whole) = (0, 0, 0);
    let mut db = dir.path().join("unused.db");
    for trial in 0..24u32 {
        // Groups of three: a kill on a fresh archive, then two kills of runs
        // resuming that partial archive, then a run to completion.
        let fresh = trial % 3 == 0;
        if fresh {
            db = dir.path().join(format!("trial{trial}.db"));
        }
        // Between 20% and 110% of a run: the first commit comes at about 45%
        // (64 of 140 pictures), so kills land before, between and after commits.
        let span = full.as_millis() as u64;
        let delay = Duration::from_millis(span / 5 + rng.below((span * 9 / 10).max(1)));
        let child = add(&db, &folder).stderr(Stdio::null()).spawn().unwrap();
        let finished = kill_after(child, delay);
        let what = format!("trial {trial} (killed after {delay:?}, fresh {fresh})");
        let n = check_consistent(&db, &reference, fresh, &what);
        match n {
            0 => empty += 1,
            140 => whole += 1,
            _ => partial += 1,
        }
        if finished {
            assert_eq!(n, 140, "{what}: a run that finished recorded everything");
        }
        if trial % 3 == 2 {
            // Re-running completes the work, and nothing is recorded twice.
            let start = Instant::now();
            let out = add(&db, &folder).output().unwrap();
            full = start.elapsed();
            assert_eq!(out.status.code(), Some(0), "{what}: re-run");
            check_consistent(&db, &reference, true, &format!("{what}, re-run"));
            let conn = Connection::open(&db).unwrap();
            assert_eq!(one(&conn, "SELECT COUNT(*) FROM images"), 140);
            assert_eq!(one(&conn, "SELECT COUNT(*) FROM sightings"), 140);
        }
    }
    eprintln!("kill trials: {empty} empty, {partial} partial, {whole} whole (full run {full:?})");
    // If no kill ever landed mid-ingest, this test tested nothing.
    assert!(partial > 0, "no trial was killed between two commits");
}

#[test]
fn concurrent_writers_lose_nothing_and_never_see_locked() {
    let dir = tempfile::tempdir().unwrap();
    // Overlapping content: B shares half of A, C shares a quarter of A and half of B.
    let sets: [(&str, &str, Vec<u64>); 3] = [
        ("a", "2021-01-01", (1000..1080).collect()),
        ("b", "2019-06-01", (1040..1120).collect()),
        ("c", "2020-03-03", (1000..1020).chain(1100..1140).collect()),
    ];
    let db = dir.path().join("shared.db");
    for round in 0..2 {
        // Round 0 races on creating the file; round 1 on an existing archive,
        // with the same files at new paths so every one is a new sighting.
        let mut children = Vec::new();
        for (name, date, seeds) in &sets {
            let folder = jpeg_folder(
                &dir.path().join(format!("{name}{round}")),
                seeds.iter().copied(),
            );
            let child = retrace(Some(&db))
                .args(["archive", "add"])
                .arg(&folder)
                .args(["--source", name, "--first-seen", date])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            children.push((name, child));
        }
        for (name, child) in children {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(0),
                "writer {name} round {round}: {stderr}"
            );
            assert!(
                !stderr.contains("locked") && !stderr.contains("busy"),
                "{stderr}"
            );
        }
    }

    let conn = Connection::open(&db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    // Expected: unique by content, every sighting kept, the earliest date wins.
    let mut earliest: BTreeMap<String, &str> = BTreeMap::new();
    let mut sightings = 0;
    for (_, date, seeds) in &sets {
        for &s in seeds {
            let e = earliest.entry(sha_hex(&small_jpeg(s))).or_insert(date);
            if *date < *e {
                *e = date;
            }
            sightings += 2;
        }
    }
    let found: BTreeMap<String, String> = conn
        .prepare("SELECT sha256, first_seen FROM images")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        found.keys().collect::<BTreeSet<_>>(),
        earliest.keys().collect::<BTreeSet<_>>(),
        "every distinct picture once"
    );
    for (sha, date) in &earliest {
        assert_eq!(found[sha], *date, "earliest first-seen of {sha}");
    }
    assert_eq!(one(&conn, "SELECT COUNT(*) FROM sightings"), sightings);
    assert_eq!(
        one(&conn, "SELECT COUNT(*) FROM images i WHERE NOT EXISTS (SELECT 1 FROM hashes h WHERE h.image_id = i.id)"),
        0
    );
}

/// `archive add` with every file it writes capped at `limit` bytes
/// (RLIMIT_FSIZE): a write past it fails as on a full disk (SIGXFSZ, which
/// would kill the process instead, is ignored, so the write returns EFBIG).
fn add_with_file_size_limit(db: &Path, folder: &Path, limit: u64) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut c = add(db, folder);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    c.output().unwrap()
}

#[test]
fn a_full_disk_stops_archive_add_saying_what_it_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let folder = jpeg_folder(&dir.path().join("pics"), 0..200);
    let reference_db = dir.path().join("reference.db");
    let out = add(&reference_db, &folder).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let reference = hash_counts(&Connection::open(&reference_db).unwrap());
    // Room for about half of it: the database file stays small until a
    // checkpoint, so the write-ahead log is what hits the limit.
    let whole = std::fs::metadata(&reference_db).unwrap().len()
        + std::fs::metadata(dir.path().join("reference.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    let db = dir.path().join("full.db");
    let out = add_with_file_size_limit(&db, &folder, whole / 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let n = check_consistent(&db, &reference, true, "full disk");
    assert!(n > 0 && n < 200, "{n} pictures recorded: the limit missed");
    assert!(
        stderr.contains(&format!(
            "recorded {n} pictures ({n} new, 0 already known) before this error"
        )),
        "the message does not say the {n} pictures in the archive: {stderr}"
    );
    // With room again, the same command records the rest.
    let out = add(&db, &folder).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        check_consistent(&db, &reference, true, "after the full disk"),
        200
    );
}
