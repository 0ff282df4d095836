//! The PostgreSQL archive against a real server: a throwaway cluster per test
//! (Debian's `postgresql`: `initdb` + `pg_ctl` in a temp dir, loopback TCP on a
//! free port, trust authentication, run as the `postgres` user when the tests
//! run as root), stopped when the test ends.
//!
//! Without PostgreSQL binaries the tests say "skipped" and pass, so `cargo
//! test` works on a laptop; with `RETRACE_REQUIRE_PG=1` (set by `.ci/run`) a
//! missing server is a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use serde_json::Value;

use crate::common::*;

/// A password the URLs carry (trust authentication ignores it): it must never
/// appear in any output.
const SECRET: &str = "hunter2-never-printed";

struct Pg {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    run_as: Option<String>,
    // The server's options, for a restart.
    opts: String,
}

fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

fn uid_gid(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&user))
            .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
    })
}

impl Pg {
    /// A fresh cluster, or `None` (after saying why) when this machine has no
    /// PostgreSQL and the run does not require one.
    fn start(test: &str) -> Option<Pg> {
        Pg::start_with(test, |_| String::new())
    }

    /// [`Pg::start`] with more server options, made from the data directory
    /// after `initdb` (which wants it empty).
    fn start_with(test: &str, more: impl FnOnce(&Pg) -> String) -> Option<Pg> {
        let required = std::env::var_os("RETRACE_REQUIRE_PG").is_some_and(|v| v == "1");
        let Some(bin) = pg_bin() else {
            assert!(
                !required,
                "RETRACE_REQUIRE_PG=1 but no PostgreSQL under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
            );
            eprintln!("{test}: skipped: no PostgreSQL binaries under /usr/lib/postgresql/*/bin");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        // initdb refuses to run as root: the cluster belongs to `postgres`.
        // SAFETY: geteuid has no preconditions.
        let run_as = (unsafe { libc::geteuid() } == 0).then(|| "postgres".to_string());
        if let Some(user) = &run_as {
            let (uid, gid) = uid_gid(user).unwrap_or_else(|| {
                panic!("running as root needs a `{user}` user to own the test cluster")
            });
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let pg = Pg {
            data: dir.path().join("data"),
            _dir: dir,
            bin,
            port: free_port(),
            run_as,
            opts: String::new(),
        };
        let initdb = pg.run(
            "initdb",
            &[
                "-D",
                pg.data.to_str().unwrap(),
                "-U",
                "retrace",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        assert!(
            initdb.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let mut pg = pg;
        pg.opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=60 {}",
            pg.port,
            pg.data.display(),
            more(&pg)
        );
        pg.start_server();
        Some(pg)
    }

    fn start_server(&self) {
        let log = self.data.join("server.log");
        let started = self.run(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "120",
                "-o",
                &self.opts,
                "start",
            ],
        );
        assert!(
            started.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&started.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stop the server at once, as a crash or a lost network would.
    fn stop_server(&self) {
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(tool);
        let mut c = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        c.args(args)
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"))
    }

    /// A new empty database; its URL carries [`SECRET`] as the password.
    fn database(&self, name: &str) -> PathBuf {
        self.client("postgres")
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        PathBuf::from(format!(
            "postgres://retrace:{SECRET}@127.0.0.1:{}/{name}",
            self.port
        ))
    }

    fn client(&self, db: &str) -> Client {
        Client::connect(
            &format!("host=127.0.0.1 port={} user=retrace dbname={db}", self.port),
            NoTls,
        )
        .unwrap()
    }

    fn count(&self, db: &str, sql: &str) -> i64 {
        let sql = format!("SELECT ({sql})::bigint");
        self.client(db).query_one(&sql, &[]).unwrap().get(0)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"],
        );
    }
}

fn assert_no_secret(what: &str, bytes: &[u8]) {
    assert!(
        !String::from_utf8_lossy(bytes).contains(SECRET),
        "{what} shows the password"
    );
}

/// Run retrace and check that the password never reaches its output.
fn run_quiet(cmd: &mut Command) -> std::process::Output {
    let out = run(cmd);
    assert_no_secret("stdout", &out.stdout);
    assert_no_secret("stderr", &out.stderr);
    out
}

fn add_samples(archive: &Path) {
    let out = run_quiet(
        retrace(Some(archive))
            .args(["archive", "add"])
            .arg(samples().join("archive"))
            .arg("--manifest")
            .arg(samples().join("archive/sources.tsv")),
    );
    assert_eq!(out.status.code(), Some(0), "archive add");
}

/// Which of several equally close views a match names (its `evidence`,
/// `region` and the finding's wording) is not stable from one run to the next
/// even on one SQLite archive: matching breaks those ties in hash-map order
/// (`check` of samples/incoming/china_resave.png says "full view" or "top85
/// view" at random). Everything else must be identical.
fn without_tie_breaks(r: &mut Value) {
    let strip = |m: &mut Value| {
        if let Some(m) = m.as_object_mut() {
            m.remove("evidence");
            m.remove("region");
        }
    };
    r["matches"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .for_each(strip);
    strip(&mut r["earliest_copy"]);
    for f in r["findings"].as_array_mut().unwrap() {
        f.as_object_mut().unwrap().remove("message");
    }
}

/// The reports of a scan, by path, without what names the archive itself.
fn scan_reports(archive: &Path) -> (Option<i32>, BTreeMap<String, Value>) {
    let out = run_quiet(
        retrace(Some(archive))
            .args(["scan", "--jsonl", "--claim-date", "2024-03-01"])
            .arg(samples().join("incoming")),
    );
    let mut by_path = BTreeMap::new();
    for mut r in jsonl(&out) {
        r["archive"]
            .as_object_mut()
            .expect("archive object")
            .remove("path");
        without_tie_breaks(&mut r);
        by_path.insert(r["path"].as_str().unwrap().to_string(), r);
    }
    (out.status.code(), by_path)
}

#[test]
fn the_samples_give_the_same_reports_on_both_backends() {
    let Some(pg) = Pg::start("the_samples_give_the_same_reports_on_both_backends") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("archive.db");
    let url = pg.database("samples");
    add_samples(&file);
    add_samples(&url);
    // Adding again changes nothing: content and sightings are unique.
    add_samples(&url);

    let (code_sqlite, sqlite) = scan_reports(&file);
    let (code_pg, pg_reports) = scan_reports(&url);
    assert_eq!(code_sqlite, Some(1), "the samples have earlier copies");
    assert_eq!(code_pg, code_sqlite);
    assert_eq!(sqlite.len(), 17);
    let with_match = sqlite
        .values()
        .filter(|r| !r["earliest_copy"].is_null())
        .count();
    assert!(
        with_match >= 10,
        "only {with_match} matches: the comparison would say little"
    );
    for (path, want) in &sqlite {
        assert_eq!(
            pg_reports.get(path),
            Some(want),
            "{path} differs between backends"
        );
    }

    let info = |a: &Path| {
        let out = run_quiet(retrace(Some(a)).args(["archive", "info", "--json"]));
        assert_eq!(out.status.code(), Some(0));
        let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let shown = v.as_object_mut().unwrap().remove("path").unwrap();
        (v, shown)
    };
    let (info_sqlite, _) = info(&file);
    let (info_pg, shown) = info(&url);
    assert_eq!(info_pg, info_sqlite);
    assert_eq!(
        shown.as_str().unwrap(),
        format!("postgres://retrace:***@127.0.0.1:{}/samples", pg.port)
    );

    // One check with the report written out: the redacted URL is its archive.path.
    let out = run_quiet(
        retrace(Some(&url))
            .args(["check", "--json"])
            .arg(samples().join("incoming/storm_caption.jpg")),
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["archive"]["path"], shown);
    assert_eq!(
        r["earliest_copy"]["sha256"].as_str().map(str::len),
        Some(64)
    );

    // A wrong server is an error that names the archive without the password.
    let out = run_quiet(
        retrace(Some(Path::new(&format!(
            "postgres://retrace:{SECRET}@127.0.0.1:{}/samples",
            free_port()
        ))))
        .args(["archive", "info"]),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("retrace:***@127.0.0.1"));
}

/// Invariants that must hold whatever happened to the writers: every image has
/// all its hash rows and at least one sighting, and its first-seen is its
/// earliest sighting's. Returns the number of images.
fn check_consistent(pg: &Pg, db: &str, hashes_per_image: i64) -> i64 {
    let mut c = pg.client(db);
    let tables: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'images'",
            &[],
        )
        .unwrap()
        .get(0);
    if tables == 0 {
        return 0;
    }
    let odd: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM images i
             WHERE (SELECT COUNT(*) FROM hashes h WHERE h.image_id = i.id) <> $1
                OR NOT EXISTS (SELECT 1 FROM sightings s WHERE s.image_id = i.id)
                OR i.first_seen IS DISTINCT FROM (SELECT MIN(first_seen) FROM sightings s WHERE s.image_id = i.id)",
            &[&hashes_per_image],
        )
        .unwrap()
        .get(0);
    assert_eq!(odd, 0, "images with missing hashes or sightings");
    c.query_one("SELECT COUNT(*) FROM images", &[])
        .unwrap()
        .get(0)
}

/// Hash rows per image, from a reference run.
fn hashes_per_image(pg: &Pg, db: &str) -> i64 {
    let n = pg.count(db, "SELECT COUNT(*) / COUNT(DISTINCT image_id) FROM hashes");
    assert!(n > 0);
    assert_eq!(
        pg.count(db, &format!("SELECT COUNT(*) FROM images i WHERE (SELECT COUNT(*) FROM hashes h WHERE h.image_id = i.id) <> {n}")),
        0,
        "every generated picture stores the same hash rows"
    );
    n
}

fn add(archive: &Path, folder: &Path, first_seen: &str) -> Command {
    let mut c = retrace(Some(archive));
    c.args(["archive", "add"])
        .arg(folder)
        .args(["--source", "trial", "--first-seen", first_seen])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

#[test]
fn two_workers_ingest_at_once_while_a_third_scans_and_a_late_one_sees_everything() {
    let Some(pg) = Pg::start("two_workers_ingest_at_once") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Overlapping folders: 0..60 and 30..90 (30 pictures in both).
    let a = jpeg_folder(&dir.path().join("a"), 0..60);
    let b = jpeg_folder(&dir.path().join("b"), 30..90);
    let url = pg.database("shared");
    // Both start on an empty database: the schema is created once, under the
    // migration lock, whichever comes first.
    let w1 = add(&url, &a, "2020-01-01").spawn().unwrap();
    let w2 = add(&url, &b, "2019-06-01").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut scanner = retrace(Some(&url));
    scanner
        .args(["scan", "--jsonl"])
        .arg(&a)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let s = scanner.spawn().unwrap();
    for (name, child) in [("worker 1", w1), ("worker 2", w2)] {
        let out = child.wait_with_output().unwrap();
        assert_no_secret(name, &out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = s.wait_with_output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "scan during ingest: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(jsonl(&out).len(), 60, "the scan reported every picture");

    let per = hashes_per_image(&pg, "shared");
    assert_eq!(
        check_consistent(&pg, "shared", per),
        90,
        "one row per content"
    );
    assert_eq!(pg.count("shared", "SELECT COUNT(*) FROM sightings"), 120);
    // The 30 pictures both workers saw keep the earlier date, whoever came last.
    assert_eq!(
        pg.count(
            "shared",
            "SELECT COUNT(*) FROM images WHERE first_seen = '2019-06-01'"
        ),
        60
    );
    assert_eq!(
        pg.count("shared", "SELECT MAX(version) FROM schema_version"),
        i64::from(retrace::internals::archive::SCHEMA_VERSION)
    );

    // A worker started now, after the others wrote: it sees all of it.
    let out = run_quiet(retrace(Some(&url)).args(["archive", "info", "--json"]));
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["images"], 90);
    assert_eq!(info["sightings"], 120);
    let out = run_quiet(retrace(Some(&url)).args(["scan", "--jsonl"]).arg(&b));
    assert_eq!(out.status.code(), Some(1));
    let reports = jsonl(&out);
    assert_eq!(reports.len(), 60);
    for r in &reports {
        let m = &r["earliest_copy"];
        assert_eq!(m["exact"], true, "{} has its exact copy", r["path"]);
        assert_eq!(r["archive"]["images"], 90);
    }
}

#[test]
fn a_worker_killed_mid_ingest_leaves_whole_batches_and_a_rerun_completes() {
    let Some(pg) = Pg::start("a_worker_killed_mid_ingest") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let folder = jpeg_folder(&dir.path().join("pics"), 0..140);
    let url = pg.database("killed");
    let start = Instant::now();
    let out = add(&url, &folder, "2020-01-01").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let full = start.elapsed();
    let per = hashes_per_image(&pg, "killed");
    let mut client = pg.client("killed");
    client
        .batch_execute("TRUNCATE images, hashes, sightings, features")
        .unwrap();
    drop(client);

    let mut rng = Rng(0x5EED_0008);
    let mut partial = 0;
    for trial in 0..4 {
        // Between 30% and 100% of a full run: the first batch commits about half-way.
        let delay = full.mul_f64(0.3 + (rng.below(70) as f64) / 100.0);
        let child = add(&url, &folder, "2020-01-01").spawn().unwrap();
        std::thread::sleep(delay);
        // SIGKILL: no handler runs, the connection just drops.
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        let n = check_consistent(&pg, "killed", per);
        if trial == 0 {
            assert!(n % 64 == 0 || n == 140, "{n} images is not whole batches");
        }
        if n > 0 && n < 140 {
            partial += 1;
        }
        assert_eq!(
            pg.count("killed", "SELECT COUNT(*) FROM sightings"),
            n,
            "one sighting per picture, never two"
        );
    }
    eprintln!("kill trials that left a partial archive: {partial} of 4");
    let out = add(&url, &folder, "2020-01-01").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(check_consistent(&pg, "killed", per), 140);
    assert_eq!(pg.count("killed", "SELECT COUNT(*) FROM sightings"), 140);
    // No transaction is left open holding the write lock.
    assert_eq!(
        pg.count(
            "killed",
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory'"
        ),
        0
    );
}

/// `retrace serve` following `archive` every `refresh_ms`.
fn serve_following(archive: &Path, refresh_ms: &str) -> Served {
    Served::spawn(retrace(Some(archive)).args([
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--archive-refresh-ms",
        refresh_ms,
    ]))
}

/// A long-running worker B (`serve`) learns what worker A (`archive add`)
/// recorded after B loaded its index, without restarting or rebuilding:
/// B's next check finds it. Returns the seconds from A's exit to B's match.
fn catch_up(archive: &Path) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one");
    std::fs::create_dir_all(&one).unwrap();
    std::fs::copy(samples().join("archive/Storm.jpg"), one.join("Storm.jpg")).unwrap();
    let other = jpeg_folder(&dir.path().join("other"), 0..3);
    // B starts on an archive that holds other pictures only.
    let out = add(archive, &other, "2020-01-01").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let b = serve_following(archive, "500");
    let copy = std::fs::read(samples().join("incoming/storm_recompressed_q65.jpg")).unwrap();
    let check = |b: &Served| {
        let r = http(&b.addr, "POST", "/v1/check", &[], &copy).unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_no_secret("report", r.text().as_bytes());
        v
    };
    let before = check(&b);
    assert!(before["earliest_copy"].is_null(), "not archived yet");
    assert_eq!(before["archive"]["images"], 3);

    let out = add(archive, &one, "2008-01-22").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let recorded = Instant::now();
    loop {
        let r = check(&b);
        if !r["earliest_copy"].is_null() {
            assert_eq!(r["earliest_copy"]["first_seen"], "2008-01-22");
            assert_eq!(r["archive"]["images"], 4, "followed, not reloaded twice");
            return recorded.elapsed().as_secs_f64();
        }
        // A liveness bound, not a timing target: the figure is printed.
        assert!(
            recorded.elapsed() < Duration::from_secs(120),
            "worker B never saw the picture worker A recorded"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_running_worker_follows_what_another_records() {
    // SQLite too: two processes on one file follow each other the same way.
    let dir = tempfile::tempdir().unwrap();
    let secs = catch_up(&dir.path().join("shared.db"));
    eprintln!("catch-up on SQLite: matched {secs:.2} s after the other worker finished");
    let Some(pg) = Pg::start("a_running_worker_follows_what_another_records") else {
        return;
    };
    let secs = catch_up(&pg.database("follow"));
    eprintln!("catch-up on PostgreSQL: matched {secs:.2} s after the other worker finished");
}

/// `watch` and serve's write endpoints on PostgreSQL: the very tests that run
/// on SQLite (tests/it/watch.rs, tests/it/serve.rs), on one cluster; then
/// other processes see what they wrote.
#[test]
fn watch_and_serve_writes_behave_the_same_on_postgresql() {
    let Some(pg) = Pg::start("watch_and_serve_writes_behave_the_same_on_postgresql") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let served = pg.database("served");
    add_samples(&served);
    crate::serve::checks_records_then_matches(&served, dir.path());
    // The two pictures serve recorded (one by /v1/check?record, one by
    // /v1/archive) are in the shared archive, each with its one sighting.
    let out = run_quiet(retrace(Some(&served)).args(["archive", "info", "--json"]));
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (info["images"].as_u64(), info["sightings"].as_u64()),
        (Some(9), Some(9))
    );
    assert_eq!(
        check_consistent(&pg, "served", hashes_per_image(&pg, "served")),
        9
    );

    let watched = pg.database("watched");
    add_samples(&watched);
    crate::watch::complete_files_once_across_restarts(&watched, &dir.path().join("watch"));
    // What watch remembers lives in the database, where any worker finds it:
    // the four pictures it processed, across its restart.
    assert_eq!(pg.count("watched", "SELECT COUNT(*) FROM watched_files"), 4);
}

/// A newsroom moving its laptop archive (SQLite, built by `archive add` from
/// the samples) into the shared one, which already saw one of the pictures,
/// later: every picture and sighting arrives, the earliest first-seen wins,
/// reports are the laptop's, and copying again adds nothing.
#[test]
fn a_sqlite_archive_copied_into_postgresql_keeps_everything_once() {
    let Some(pg) = Pg::start("a_sqlite_archive_copied_into_postgresql") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let laptop = dir.path().join("laptop.db");
    add_samples(&laptop);
    let url = pg.database("copied");
    let one = dir.path().join("desk");
    std::fs::create_dir_all(&one).unwrap();
    std::fs::copy(samples().join("archive/Storm.jpg"), one.join("Storm.jpg")).unwrap();
    assert_eq!(
        add(&url, &one, "2023-05-05")
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );

    let copy = || {
        let out = run_quiet(
            retrace(None)
                .args(["archive", "copy", "--from"])
                .arg(&laptop)
                .arg("--to")
                .arg(&url),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let said = copy();
    assert!(
        said.starts_with("copied 7 images (6 new, 1 already known) and 7 sightings"),
        "{said}"
    );
    assert!(said.contains("retrace:***@127.0.0.1"), "{said}");
    let storm_first_seen = "SELECT i.first_seen FROM images i JOIN sightings s ON s.image_id = i.id
                            WHERE s.location LIKE '%desk/Storm.jpg'";
    let dates: Vec<String> = pg
        .client("copied")
        .query(storm_first_seen, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        dates,
        ["2008-04-20T19:12:06"],
        "the laptop's earlier date wins"
    );
    assert_eq!(
        check_consistent(&pg, "copied", hashes_per_image(&pg, "copied")),
        7
    );

    let info = |a: &Path| {
        let out = run_quiet(retrace(Some(a)).args(["archive", "info", "--json"]));
        let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_object_mut().unwrap().remove("path");
        v
    };
    let (laptop_info, pg_info) = (info(&laptop), info(&url));
    assert_eq!(pg_info["sightings"], 8, "the laptop's 7 and the desk's own");
    assert_eq!(pg_info["images"], laptop_info["images"]);
    assert_eq!(pg_info["hash_stamps"], laptop_info["hash_stamps"]);
    assert_eq!(pg_info["first_seen_min"], laptop_info["first_seen_min"]);

    // The laptop's reports, but wherever they name the Storm picture the shared
    // archive also has the desk's sighting of it.
    let storm: String = pg
        .client("copied")
        .query_one(
            "SELECT i.sha256 FROM images i JOIN sightings s ON s.image_id = i.id
             WHERE s.location LIKE '%desk/Storm.jpg'",
            &[],
        )
        .unwrap()
        .get(0);
    let (code_laptop, mut want) = scan_reports(&laptop);
    let mut bumped = 0;
    let mut bump = |m: &mut Value| {
        if m["sha256"] == storm.as_str() {
            m["sightings"] = (m["sightings"].as_u64().unwrap() + 1).into();
            bumped += 1;
        }
    };
    for r in want.values_mut() {
        r["matches"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .for_each(&mut bump);
        bump(&mut r["earliest_copy"]);
    }
    assert!(bumped > 0, "the samples have copies of Storm");
    let (code_pg, got) = scan_reports(&url);
    assert_eq!(code_pg, code_laptop);
    assert_eq!(got.len(), want.len());
    for (path, w) in &want {
        assert_eq!(got.get(path), Some(w), "{path} differs after the copy");
    }

    let again = copy();
    assert!(
        again.starts_with("copied 7 images (0 new, 7 already known)"),
        "{again}"
    );
    assert_eq!(info(&url), pg_info, "copying again adds nothing");
}

/// `openssl` with arguments, in `dir`; panics with its message on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian's postgresql depends on it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`{name}.pem`, `{name}.key`) made in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

#[test]
fn sslmode_require_encrypts_and_verifies_the_server() {
    let certs = tempfile::tempdir().unwrap();
    let c = certs.path();
    make_ca(c, "ca");
    make_ca(c, "other-ca");
    openssl(
        c,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        c.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        c,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
    let Some(pg) = Pg::start_with("sslmode_require_encrypts_and_verifies_the_server", |pg| {
        // The server reads its key as the cluster's owner, and refuses a key
        // others can read.
        for f in ["server.pem", "server.key"] {
            let to = pg.data.join(f);
            std::fs::copy(c.join(f), &to).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
            if let Some(user) = &pg.run_as {
                let (uid, gid) = uid_gid(user).unwrap();
                std::os::unix::fs::chown(&to, Some(uid), Some(gid)).unwrap();
            }
        }
        format!(
            "-c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            pg.data.join("server.pem").display(),
            pg.data.join("server.key").display()
        )
    }) else {
        return;
    };
    // Only encrypted connections may reach this database, so a retrace that
    // works on it is one that encrypted.
    let plain = pg.database("tls");
    let hba = pg.data.join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("hostnossl tls all 127.0.0.1/32 reject\n{rules}"),
    )
    .unwrap();
    let reload = pg.run("pg_ctl", &["-D", pg.data.to_str().unwrap(), "reload"]);
    assert!(reload.status.success());
    std::thread::sleep(Duration::from_millis(500));
    let url = PathBuf::from(format!("{}?sslmode=require", plain.display()));
    let with_ca = |ca: &str| {
        let mut cmd = retrace(Some(&url));
        cmd.env("PGSSLROOTCERT", c.join(ca));
        cmd
    };

    // Verified against the CA that signed the server's certificate: works.
    let out = run_quiet(
        with_ca("ca.pem")
            .args(["archive", "add"])
            .arg(samples().join("archive"))
            .arg("--manifest")
            .arg(samples().join("archive/sources.tsv")),
    );
    assert_eq!(out.status.code(), Some(0), "archive add over TLS");
    let out = run_quiet(with_ca("ca.pem").args(["archive", "info", "--json"]));
    assert_eq!(out.status.code(), Some(0));
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(info["images"].as_u64().unwrap() > 0, "{info}");

    // A certificate from another CA (a man in the middle): refused.
    let out = run_quiet(with_ca("other-ca.pem").args(["archive", "info"]));
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("certificate"), "{err}");

    // Without sslmode=require the connection is plain, and this server refuses it.
    let out = run_quiet(retrace(Some(&plain)).args(["archive", "info"]));
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pg_hba") || err.contains("encryption"),
        "{err}"
    );

    // A CA file that is not there is named in the error, not skipped.
    let out = run_quiet(with_ca("missing.pem").args(["archive", "info"]));
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PGSSLROOTCERT"));
}

/// The distinct pictures and the versions recorded in `schema_version`.
fn shas_and_versions(pg: &Pg, db: &str) -> (std::collections::BTreeSet<String>, Vec<i32>) {
    let mut c = pg.client(db);
    let shas = c
        .query("SELECT sha256 FROM images", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let versions = c
        .query("SELECT version FROM schema_version ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    (shas, versions)
}

fn assert_no_secret_in(outs: &[std::process::Output]) {
    for out in outs {
        assert_no_secret("stdout", &out.stdout);
        assert_no_secret("stderr", &out.stderr);
    }
}

#[test]
fn eight_workers_create_one_new_postgresql_archive_at_the_same_instant() {
    use crate::startup::{
        assert_all_started, round_folders, run_together, workers, ROUNDS, WORKERS,
    };
    let Some(pg) = Pg::start("eight_workers_create_one_new_postgresql_archive") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for round in 0..ROUNDS {
        let (folders, want) = round_folders(dir.path(), round);
        let name = format!("race{round}");
        let url = pg.database(&name);
        let outs = run_together(workers(&url, &folders));
        let what = format!("round {round}");
        assert_no_secret_in(&outs);
        assert_all_started(&outs, &what);
        let (shas, versions) = shas_and_versions(&pg, &name);
        assert_eq!(shas, want, "{what}: every picture, once");
        assert_eq!(
            versions,
            every_version(),
            "{what}: each migration applied once"
        );
        assert_eq!(
            pg.count(&name, "SELECT COUNT(*) FROM sightings"),
            (WORKERS * 5) as i64,
            "{what}: every worker's sighting of every picture"
        );
        let per = hashes_per_image(&pg, &name);
        assert_eq!(check_consistent(&pg, &name, per), want.len() as i64);
    }
}

#[test]
fn an_older_postgresql_schema_is_migrated_once_while_eight_workers_open_it() {
    use crate::startup::{assert_all_started, round_folders, run_together, workers, WORKERS};
    let Some(pg) = Pg::start("an_older_postgresql_schema_is_migrated_once") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (folders, mut want) = round_folders(dir.path(), 0);
    let url = pg.database("older");
    // What a retrace before `watch` left: migration 1, recorded, with a picture.
    pg.client("older")
        .batch_execute(&format!(
            "{}
             CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
             INSERT INTO schema_version VALUES (1, '2001-01-01T00:00:00Z');
             INSERT INTO images (sha256, format, bytes, first_seen, added_at)
                 VALUES ('from-an-older-retrace', 'jpeg', 10, '2001-01-01', '2001-01-02');
             INSERT INTO sightings (image_id, location, first_seen, first_seen_from, added_at)
                 SELECT id, 'old.jpg', '2001-01-01', 'given', '2001-01-02' FROM images;",
            include_str!("../../src/archive/migrations/postgres/0001_initial.sql")
        ))
        .unwrap();
    let outs = run_together(workers(&url, &folders));
    assert_no_secret_in(&outs);
    assert_all_started(&outs, "older schema");
    let (shas, versions) = shas_and_versions(&pg, "older");
    assert_eq!(
        versions,
        every_version(),
        "each later migration applied once"
    );
    want.insert("from-an-older-retrace".into());
    assert_eq!(shas, want, "the old picture is kept");
    assert_eq!(
        pg.count("older", "SELECT COUNT(*) FROM sightings"),
        (WORKERS * 5 + 1) as i64
    );
    assert_eq!(
        pg.count(
            "older",
            "SELECT COUNT(*) FROM schema_version WHERE version = 1 AND applied_at = '2001-01-01T00:00:00Z'"
        ),
        1,
        "the step already there is not run again"
    );
}

#[test]
fn a_postgresql_archive_from_a_newer_retrace_is_refused_and_left_as_it_was() {
    let Some(pg) = Pg::start("a_postgresql_archive_from_a_newer_retrace") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.database("newer");
    add_samples(&url);
    pg.client("newer")
        .batch_execute(&format!(
            "INSERT INTO schema_version VALUES ({}, 'later'), ({}, 'later');
                 CREATE TABLE from_the_future (x BYTEA);",
            retrace::internals::archive::SCHEMA_VERSION + 1,
            retrace::internals::archive::SCHEMA_VERSION + 2
        ))
        .unwrap();
    // Everything the database holds, as text: tables, columns, rows counted.
    let snapshot = || {
        let mut c = pg.client("newer");
        let mut s = String::new();
        for r in c
            .query(
                "SELECT table_name, column_name, data_type FROM information_schema.columns
                 WHERE table_schema = 'public' ORDER BY 1, 2",
                &[],
            )
            .unwrap()
        {
            let (t, col, ty): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            s.push_str(&format!("{t}.{col} {ty}\n"));
        }
        for t in ["images", "hashes", "sightings", "schema_version"] {
            s.push_str(&format!(
                "{t}: {}\n",
                pg.count("newer", &format!("SELECT COUNT(*) FROM {t}"))
            ));
        }
        s
    };
    let before = snapshot();
    let folder = jpeg_folder(&dir.path().join("pics"), 0..2);
    for args in [&["archive", "add"][..], &["scan", "--record"][..]] {
        let out = run_quiet(retrace(Some(&url)).args(args).arg(&folder));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "version {}",
                retrace::internals::archive::SCHEMA_VERSION + 2
            )) && stderr.contains("newer retrace"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(snapshot(), before, "the database changed");
}

#[test]
fn a_lost_database_stops_archive_add_saying_what_it_recorded() {
    let Some(pg) = Pg::start("a_lost_database_stops_archive_add") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let folder = jpeg_folder(&dir.path().join("pics"), 0..400);
    let url = pg.database("lost");
    let child = add(&url, &folder, "2020-01-01").spawn().unwrap();
    // The server goes away once the first batches are in.
    let start = Instant::now();
    loop {
        let n = pg
            .client("postgres")
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = 'lost'",
                &[],
            )
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(0);
        let tables = n > 0
            && pg.count(
                "lost",
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'images'",
            ) > 0;
        if tables && pg.count("lost", "SELECT COUNT(*) FROM images") >= 64 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no batch was recorded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    pg.stop_server();
    let out = output_bounded(child, Duration::from_secs(300));
    assert_no_secret("stderr", &out.stderr);
    let stderr = String::from_utf8_lossy(&out.stderr);
    pg.start_server();
    let n = check_consistent(&pg, "lost", hashes_per_image(&pg, "lost"));
    if n == 400 {
        eprintln!("a_lost_database_stops_archive_add: the run finished before the server stopped");
        return;
    }
    eprintln!("after the server stopped with {n} pictures in: {stderr}");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "recorded {n} pictures ({n} new, 0 already known) before this error"
        )),
        "the message does not say the {n} pictures in the archive: {stderr}"
    );
}

#[test]
fn kill_9_during_archive_uploads_leaves_a_postgresql_archive_consistent() {
    let Some(pg) = Pg::start("kill_9_during_archive_uploads_postgresql") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.database("served");
    let mut acknowledged: Vec<String> = Vec::new();
    for trial in 0..3u64 {
        let after = Duration::from_millis(1000 + trial * 500);
        let per_trial = 6 * crate::serve_edges::UPLOADS_PER_CLIENT;
        let answered =
            crate::serve_edges::uploads_then_kill_9(&url, dir.path(), trial * per_trial, after);
        assert!(
            (answered.len() as u64) < per_trial,
            "trial {trial}: every upload was done before the kill"
        );
        acknowledged.extend(answered);
        if acknowledged.is_empty() {
            continue;
        }
        // The server rolled back whatever the killed service had in flight.
        let per = hashes_per_image(&pg, "served");
        let n = check_consistent(&pg, "served", per);
        assert_eq!(
            pg.count("served", "SELECT COUNT(*) FROM sightings"),
            n,
            "trial {trial}: one sighting per picture"
        );
        let mut c = pg.client("served");
        for sha in &acknowledged {
            let found: i64 = c
                .query_one("SELECT COUNT(*) FROM images WHERE sha256 = $1", &[sha])
                .unwrap()
                .get(0);
            assert_eq!(
                found, 1,
                "trial {trial}: an answered upload ({sha}) is missing"
            );
        }
        eprintln!(
            "kill -9 trial {trial} on PostgreSQL: {n} pictures, {} answered",
            acknowledged.len()
        );
    }
    assert!(
        !acknowledged.is_empty(),
        "no upload was answered before a kill"
    );
    // No transaction of the killed services is left holding the write lock.
    let start = Instant::now();
    while pg.count(
        "served",
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory'",
    ) > 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "an advisory lock outlived its service"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every schema version this build knows, in order.
fn every_version() -> Vec<i32> {
    (1..=retrace::internals::archive::SCHEMA_VERSION as i32).collect()
}

#[test]
fn a_hash_list_goes_through_postgresql_as_through_sqlite() {
    let Some(pg) = Pg::start("a_hash_list_goes_through_postgresql") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let laptop = dir.path().join("laptop.db");
    add_samples(&laptop);
    let list = dir.path().join("desk.jsonl");
    let export = |archive: &Path, to: &Path| {
        let out = run_quiet(retrace(Some(archive)).args(["archive", "export"]).arg(to));
        assert_eq!(out.status.code(), Some(0));
        std::fs::read_to_string(to).unwrap()
    };
    let text = export(&laptop, &list);
    let url = pg.database("hashlist");
    let out = run_quiet(retrace(Some(&url)).args(["archive", "import"]).arg(&list));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(export(&url, &dir.path().join("back.jsonl")), text);
    assert_eq!(
        pg.count(
            "hashlist",
            "SELECT count(*) FROM images WHERE thumb IS NULL"
        ),
        7
    );
    let r = run_quiet(
        retrace(Some(&url))
            .args(["check", "--json"])
            .arg(samples().join("incoming/storm_recompressed_q65.jpg")),
    );
    let r: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(r["earliest_copy"]["hash_only"], true, "{r}");
    assert_eq!(r["earliest_copy"]["confidence"], "confirmed");

    // A refused list leaves the database as it was.
    std::fs::write(dir.path().join("bad.jsonl"), format!("{text}not json\n")).unwrap();
    let out = run_quiet(
        retrace(Some(&url))
            .args(["archive", "import"])
            .arg(dir.path().join("bad.jsonl")),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.jsonl:8:"));
    assert_eq!(pg.count("hashlist", "SELECT count(*) FROM sightings"), 7);
}
