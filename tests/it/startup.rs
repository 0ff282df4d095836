//! Many processes, one archive, from the first second: workers started at the
//! same instant on an archive that does not exist yet (or has an older
//! schema) all start, none waits forever, nothing is lost; an archive from a
//! newer retrace is refused and left as it was. PostgreSQL's counterparts are
//! in `postgres.rs`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use crate::common::*;

/// Processes started together, and rounds of it.
pub const WORKERS: u64 = 8;
pub const ROUNDS: u64 = 5;
/// Pictures each worker adds: its own, and some every worker adds.
const OWN: u64 = 3;
const SHARED: u64 = 2;
/// No start may take this long: a wait that long is a hang.
pub const LIMIT: Duration = Duration::from_secs(300);

/// The folders of one round: worker `w` gets its own pictures and the shared
/// ones (every worker records those, each with its own sighting). Returns the
/// folders and the SHA-256 of every distinct picture.
pub fn round_folders(dir: &Path, round: u64) -> (Vec<std::path::PathBuf>, BTreeSet<String>) {
    let base = 10_000 + round * 1_000;
    let mut shas = BTreeSet::new();
    let folders = (0..WORKERS)
        .map(|w| {
            let own = (0..OWN).map(|i| base + 100 + w * OWN + i);
            let seeds: Vec<u64> = (base..base + SHARED).chain(own).collect();
            for &s in &seeds {
                shas.insert(format!("{:x}", Sha256::digest(small_jpeg(s))));
            }
            jpeg_folder(&dir.join(format!("r{round}w{w}")), seeds)
        })
        .collect();
    (folders, shas)
}

/// `archive add` of each folder into `archive`, with the worker's own source.
pub fn workers(archive: &Path, folders: &[std::path::PathBuf]) -> Vec<Command> {
    folders
        .iter()
        .enumerate()
        .map(|(w, folder)| {
            let mut c = retrace(Some(archive));
            c.args(["archive", "add"]).arg(folder).args([
                "--source",
                &format!("worker {w}"),
                "--first-seen",
                "2021-02-03",
            ]);
            c
        })
        .collect()
}

/// Every worker exited 0 with nothing about locks on stderr.
pub fn assert_all_started(outs: &[Output], what: &str) {
    for (w, out) in outs.iter().enumerate() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{what}: worker {w} failed: {stderr}"
        );
        assert!(
            !stderr.contains("locked") && !stderr.contains("busy"),
            "{what}: worker {w}: {stderr}"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("added "),
            "{what}: worker {w} printed no summary: {stdout}"
        );
    }
}

pub fn run_together(cmds: Vec<Command>) -> Vec<Output> {
    spawn_together(cmds)
        .into_iter()
        .map(|c| output_bounded(c, LIMIT))
        .collect()
}

fn one(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn shas(conn: &Connection) -> BTreeSet<String> {
    conn.prepare("SELECT sha256 FROM images")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// What 8 workers leave in one new archive: every distinct picture once, every
/// worker's sighting of each of its pictures, all hashes.
fn assert_everything_arrived(db: &Path, want: &BTreeSet<String>, what: &str) {
    let conn = Connection::open(db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "{what}");
    assert_eq!(&shas(&conn), want, "{what}: every picture, once");
    assert_eq!(
        one(&conn, "SELECT COUNT(*) FROM sightings"),
        (WORKERS * (OWN + SHARED)) as i64,
        "{what}: every worker's sighting of every picture"
    );
    assert_eq!(
        one(
            &conn,
            "SELECT COUNT(DISTINCT source) FROM sightings s JOIN images i ON i.id = s.image_id
             WHERE i.id IN (SELECT image_id FROM sightings GROUP BY image_id HAVING COUNT(*) > 1)"
        ),
        WORKERS as i64,
        "{what}: the shared pictures carry every worker's sighting"
    );
    assert_eq!(
        one(
            &conn,
            "SELECT COUNT(*) FROM images i WHERE NOT EXISTS (SELECT 1 FROM hashes h WHERE h.image_id = i.id)"
        ),
        0,
        "{what}: hashes"
    );
    assert_eq!(
        one(&conn, "PRAGMA user_version"),
        i64::from(retrace::internals::archive::SCHEMA_VERSION),
        "{what}: schema version"
    );
}

#[test]
fn eight_processes_create_one_new_sqlite_archive_at_the_same_instant() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..ROUNDS {
        let (folders, want) = round_folders(dir.path(), round);
        let db = dir.path().join(format!("new{round}.db"));
        let outs = run_together(workers(&db, &folders));
        let what = format!("round {round}");
        assert_all_started(&outs, &what);
        assert_everything_arrived(&db, &want, &what);
    }
}

/// The schema an older retrace (before `watch`) left: migration 1 only, with a
/// picture in it.
fn version_one_archive(db: &Path) {
    let conn = Connection::open(db).unwrap();
    conn.execute_batch(include_str!(
        "../../src/archive/migrations/sqlite/0001_initial.sql"
    ))
    .unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA user_version = 1;
         INSERT INTO images (id, sha256, format, bytes, first_seen, added_at)
             VALUES (1, 'from-an-older-retrace', 'jpeg', 10, '2001-01-01', '2001-01-02');
         INSERT INTO sightings (image_id, location, first_seen, first_seen_from, added_at)
             VALUES (1, 'old.jpg', '2001-01-01', 'given', '2001-01-02');",
    )
    .unwrap();
}

#[test]
fn an_older_sqlite_schema_is_migrated_once_while_eight_processes_open_it() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..2 {
        let (folders, mut want) = round_folders(dir.path(), round);
        let db = dir.path().join(format!("v1-{round}.db"));
        version_one_archive(&db);
        // Migration 2 creates its table without IF NOT EXISTS: a second run of
        // it would fail that worker.
        let outs = run_together(workers(&db, &folders));
        let what = format!("older schema, round {round}");
        assert_all_started(&outs, &what);
        let conn = Connection::open(&db).unwrap();
        assert_eq!(
            one(&conn, "PRAGMA user_version"),
            i64::from(retrace::internals::archive::SCHEMA_VERSION),
            "{what}"
        );
        assert_eq!(
            one(&conn, "SELECT COUNT(*) FROM watched_files"),
            0,
            "{what}"
        );
        want.insert("from-an-older-retrace".into());
        assert_eq!(shas(&conn), want, "{what}: the old picture is kept");
        assert_eq!(
            one(&conn, "SELECT COUNT(*) FROM sightings"),
            (WORKERS * (OWN + SHARED) + 1) as i64,
            "{what}"
        );
    }
}

#[test]
fn a_sqlite_archive_from_a_newer_retrace_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("newer.db");
    {
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE images (id INTEGER PRIMARY KEY, sha256 TEXT, a_column_from_later BLOB);
             PRAGMA user_version = 99;",
        )
        .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let folder = jpeg_folder(&dir.path().join("pics"), 0..2);
    for args in [
        &["archive", "add"][..],
        &["scan", "--record", "--source", "x"][..],
    ] {
        let out = run(retrace(Some(&db)).args(args).arg(&folder));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("version 99") && stderr.contains("newer retrace"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("newer.db"), "names the archive: {stderr}");
    }
    let out = run(retrace(Some(&db)).args(["archive", "info"]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&db).unwrap(), before, "the file changed");
    assert!(!dir.path().join("newer.db-wal").exists());
}
