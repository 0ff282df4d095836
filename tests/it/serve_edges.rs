//! `retrace serve` at its edges, on loopback with the real binary: slow and
//! idle clients, a thousand checks at once, clients that vanish mid-upload,
//! SIGTERM and Ctrl-C with requests in flight, and `kill -9` while pictures
//! are being archived. Durations are the service's own limits (set small
//! here), never speed targets.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::common::*;

const TOKEN: &str = "edge-token-0123456789abcdef";
const AUTH: (&str, &str) = ("Authorization", "Bearer edge-token-0123456789abcdef");

fn start(db: &Path, dir: &Path, extra: &[&str]) -> Served {
    let token = dir.join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    Served::spawn(
        retrace(Some(db))
            .args(["serve", "--bind", "127.0.0.1:0", "--token-file"])
            .arg(&token)
            .args(extra),
    )
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(samples().join(name)).unwrap()
}

/// The head of a request with a body of `len` bytes.
fn head(method_path: &str, headers: &[(&str, &str)], len: usize) -> String {
    let mut h = format!("{method_path} HTTP/1.1\r\nHost: retrace\r\nContent-Length: {len}\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h + "\r\n"
}

/// Whether the server has closed this connection (EOF or reset) without
/// sending anything; `None` while it is still open and silent.
fn closed_silently(s: &mut TcpStream) -> Option<bool> {
    let mut b = [0u8; 1];
    match s.peek(&mut b) {
        Ok(0) => Some(true),
        Ok(_) => Some(false),
        Err(e) if e.kind() == ErrorKind::WouldBlock => None,
        Err(_) => Some(true),
    }
}

fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[test]
fn slow_clients_do_not_starve_others_and_idle_connections_are_closed() {
    const IDLE: Duration = Duration::from_secs(6);
    const DEADLINE: Duration = Duration::from_secs(10);
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let s = start(
        &db,
        dir.path(),
        &[
            "--idle-timeout",
            "6",
            "--timeout",
            "10",
            "--concurrency",
            "2",
        ],
    );
    const EACH: usize = 150;
    let connect = || {
        let t = TcpStream::connect(&s.addr).unwrap();
        t.set_nonblocking(true).unwrap();
        (t, Instant::now())
    };
    // Connections that never send a byte, that send a request head a byte at
    // a time, and that send a head and then trickle its 100 000-byte body.
    let mut idle: Vec<_> = (0..EACH).map(|_| connect()).collect();
    let mut heads: Vec<_> = (0..EACH).map(|_| connect()).collect();
    let mut bodies: Vec<_> = (0..EACH).map(|_| connect()).collect();
    for (b, _) in &mut bodies {
        b.set_nonblocking(false).unwrap();
        b.write_all(head("POST /v1/check", &[], 100_000).as_bytes())
            .unwrap();
        b.set_nonblocking(true).unwrap();
    }
    let long_head = head("POST /v1/check", &[("X-Padding", &"p".repeat(4000))], 10).into_bytes();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let trickler = {
            let heads: Vec<TcpStream> = heads.iter().map(|(t, _)| t.try_clone().unwrap()).collect();
            let bodies: Vec<TcpStream> =
                bodies.iter().map(|(t, _)| t.try_clone().unwrap()).collect();
            let (stop, long_head) = (&stop, &long_head);
            scope.spawn(move || {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < long_head.len() {
                    for mut t in heads.iter().chain(&bodies) {
                        // A closed connection refuses the byte: that is the point.
                        let _ = t.write(&long_head[i..i + 1]);
                    }
                    i += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        std::thread::sleep(Duration::from_millis(500));

        // A well-behaved client is answered at once, while all 450 are open.
        let h = http(&s.addr, "GET", "/v1/health", &[], b"").unwrap();
        assert_eq!(h.status, 200);
        for (t, _) in idle.iter_mut().chain(&mut heads).chain(&mut bodies) {
            assert_eq!(
                closed_silently(t),
                None,
                "a slow connection was closed early"
            );
        }
        let r = http(
            &s.addr,
            "POST",
            "/v1/check",
            &[],
            &sample("incoming/storm_caption.jpg"),
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.json()["earliest_copy"]["first_seen"],
            "2008-04-20T19:12:06"
        );

        // Idle and trickled-head connections are closed once the idle
        // timeout passes, not before.
        let mut closed_after = Vec::new();
        let watch_start = Instant::now();
        let mut open: Vec<&mut (TcpStream, Instant)> =
            idle.iter_mut().chain(heads.iter_mut()).collect();
        while !open.is_empty() && watch_start.elapsed() < Duration::from_secs(60) {
            open.retain_mut(|(t, since)| match closed_silently(t) {
                None => true,
                Some(silent) => {
                    assert!(silent, "a slow head was answered");
                    closed_after.push(since.elapsed());
                    false
                }
            });
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(open.is_empty(), "{} connections never closed", open.len());
        let (first, last) = (
            closed_after.iter().min().unwrap(),
            closed_after.iter().max().unwrap(),
        );
        eprintln!("idle and slow-head connections closed after {first:?} to {last:?} (idle timeout {IDLE:?})");
        assert!(
            *first >= IDLE - Duration::from_millis(300),
            "closed after {first:?}, before the idle timeout"
        );

        // Trickled bodies run into the request deadline: 503, as documented.
        for (t, since) in &mut bodies {
            t.set_nonblocking(false).unwrap();
            t.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let r = read_response(t).unwrap();
            assert_eq!(r.status, 503, "{}", r.text());
            assert!(r.json()["error"]
                .as_str()
                .unwrap()
                .contains("limit of 10 s"));
            assert!(since.elapsed() >= DEADLINE - Duration::from_millis(300));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        trickler.join().unwrap();
    });
    // And the service is as it was.
    assert_eq!(
        http(&s.addr, "GET", "/v1/health", &[], b"").unwrap().status,
        200
    );
}

#[test]
fn a_thousand_concurrent_checks_all_answer_with_memory_bounded() {
    const CLIENTS: usize = 1000;
    const UPLOAD_MEMORY: u64 = 4_000_000;
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let s = start(
        &db,
        dir.path(),
        &[
            "--concurrency",
            "2",
            "--timeout",
            "10",
            "--upload-memory",
            "4000000",
            "--max-body-bytes",
            "1000000",
        ],
    );
    // 196 KB: a thousand of them held at once would be 196 MB.
    let body = sample("archive/china.jpg");
    let idle_rss = vm_kib(s.pid(), "VmRSS:");
    let started = Instant::now();
    let results: Vec<(u16, Duration, serde_json::Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|_| {
                std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn_scoped(scope, || {
                        let t = Instant::now();
                        let r = http(&s.addr, "POST", "/v1/check", &[], &body)
                            .expect("every check is answered");
                        (
                            r.status,
                            t.elapsed(),
                            serde_json::from_slice(&r.body).unwrap_or_default(),
                        )
                    })
                    .unwrap()
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let peak_rss = vm_kib(s.pid(), "VmHWM:");
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let late = results.iter().filter(|r| r.0 == 503).count();
    eprintln!(
        "{CLIENTS} concurrent checks of a 196 KB JPEG, 2 slots, 10 s deadline: {ok} answered 200, \
         {late} 503, in {:.1} s; server RSS {} MB idle, peak {} MB",
        started.elapsed().as_secs_f64(),
        idle_rss / 1024,
        peak_rss / 1024
    );
    for (status, took, v) in &results {
        match status {
            200 => assert_eq!(v["earliest_copy"]["exact"], true, "{v}"),
            503 => {
                assert!(
                    *took >= Duration::from_millis(9_700),
                    "503 after only {took:?}"
                );
                assert!(
                    v["error"].as_str().unwrap().contains("limit of 10 s"),
                    "{v}"
                );
            }
            _ => panic!("answered {status}: {v}"),
        }
    }
    assert!(ok >= 2, "only {ok} checks were answered 200");
    // Bounded: the upload budget, plus what each of the 2 analyses (20 MiB)
    // and each open connection (32 KiB: buffers, task, answer) may use.
    // Measured here: a peak of 54-56 MB (8-9 MB idle); with
    // --upload-memory 1000000000 instead, 323 MB, most of it the thousand
    // bodies held at once.
    let bound_kib = UPLOAD_MEMORY / 1024 + 2 * 20 * 1024 + (CLIENTS as u64) * 32;
    assert!(
        peak_rss - idle_rss < bound_kib,
        "peak RSS grew {} MB above idle, more than the {} MB bound",
        (peak_rss - idle_rss) / 1024,
        bound_kib / 1024
    );
    assert_eq!(
        http(&s.addr, "GET", "/v1/health", &[], b"").unwrap().status,
        200
    );
}

/// The files under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().display().to_string())
        .collect()
}

#[test]
fn a_client_that_disconnects_mid_upload_leaves_no_file_no_row_and_no_stuck_worker() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let reports = dir.path().join("reports");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let picture = sample("incoming/new_coffee.jpg");
    let cap = (picture.len() + 4096).to_string();
    // One analysis slot, and an upload budget of exactly one body: a slot or
    // a share of the budget that a vanished client kept would make every
    // later upload wait until its deadline.
    let s = Served::spawn(
        retrace(Some(&db))
            .env("TMPDIR", &tmp)
            .args(["serve", "--bind", "127.0.0.1:0", "--token-file"])
            .arg({
                let t = dir.path().join("token");
                std::fs::write(&t, TOKEN).unwrap();
                t
            })
            .args(["--concurrency", "1", "--timeout", "10", "--report-dir"])
            .arg(&reports)
            .args(["--max-body-bytes", &cap, "--upload-memory", &cap]),
    );
    let images = || {
        http(&s.addr, "GET", "/v1/archive/stats", &[], b"")
            .unwrap()
            .json()["images"]
            .clone()
    };
    let before = images();
    let boundary = "edge-boundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.jpg\"\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&picture);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let multipart = format!("multipart/form-data; boundary={boundary}");
    let cases: Vec<(&str, String, &[u8])> = vec![
        (
            "raw archive upload",
            head("POST /v1/archive?source=gone&first_seen=2020-01-01", &[AUTH], picture.len()),
            &picture,
        ),
        (
            "multipart archive upload",
            head(
                "POST /v1/archive?source=gone&first_seen=2020-01-01",
                &[AUTH, ("Content-Type", &multipart)],
                form.len(),
            ),
            &form,
        ),
        (
            "check with record=true",
            head("POST /v1/check?record=true&source=gone", &[AUTH], picture.len()),
            &picture,
        ),
        (
            "chunked archive upload",
            "POST /v1/archive?source=gone&first_seen=2020-01-01 HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer edge-token-0123456789abcdef\r\nTransfer-Encoding: chunked\r\n\r\n".to_string(),
            &picture,
        ),
    ];
    for round in 0..3 {
        for (what, head, body) in &cases {
            let mut t = TcpStream::connect(&s.addr).unwrap();
            t.write_all(head.as_bytes()).unwrap();
            let half = &body[..body.len() / 2];
            if head.contains("chunked") {
                write!(t, "{:x}\r\n", half.len()).unwrap();
                t.write_all(half).unwrap();
                t.write_all(b"\r\n").unwrap();
            } else {
                t.write_all(half).unwrap();
            }
            std::thread::sleep(Duration::from_millis(100));
            // Gone: half the body sent, the connection closed.
            drop(t);
            std::thread::sleep(Duration::from_millis(100));
            assert_eq!(images(), before, "round {round}, {what}: a row was added");
        }
    }
    // A complete upload right after is served at once, by the one slot and
    // within the one body's budget that the vanished clients held.
    let started = Instant::now();
    let r = http(
        &s.addr,
        "POST",
        "/v1/archive?source=stayed&first_seen=2020-01-01",
        &[AUTH],
        &picture,
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the upload waited {:?}: something held the slot or the budget",
        started.elapsed()
    );
    assert_eq!(images().as_u64(), before.as_u64().map(|n| n + 1));
    // Nothing was written for the vanished uploads: no report, no temporary file.
    assert!(
        files_under(&reports).is_empty(),
        "{:?}",
        files_under(&reports)
    );
    assert!(files_under(&tmp).is_empty(), "{:?}", files_under(&tmp));
    let conn = Connection::open(&db).unwrap();
    let gone: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sightings WHERE source = 'gone'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(gone, 0);
}

#[test]
fn sigterm_and_ctrl_c_finish_the_requests_in_flight() {
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let dir = tempfile::tempdir().unwrap();
        let db = sample_archive(dir.path());
        let mut s = start(&db, dir.path(), &["--timeout", "60"]);
        let addr = s.addr.clone();
        // A keep-alive connection between requests, and an upload half sent.
        let mut kept = TcpStream::connect(&addr).unwrap();
        kept.write_all(b"GET /v1/health HTTP/1.1\r\nHost: r\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = kept.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        let picture = sample("incoming/new_flower.jpg");
        let mut upload = TcpStream::connect(&addr).unwrap();
        upload
            .write_all(
                head(
                    &format!(
                        "POST /v1/archive?source={name}&first_seen=2020-01-01&name=flower.jpg"
                    ),
                    &[AUTH],
                    picture.len(),
                )
                .as_bytes(),
            )
            .unwrap();
        upload.write_all(&picture[..picture.len() / 2]).unwrap();
        std::thread::sleep(Duration::from_millis(300));

        s.signal(signal);
        // New connections are refused once the listener is closed.
        let refused_by = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).is_ok() {
            assert!(Instant::now() < refused_by, "{name}: still accepting");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The idle keep-alive connection is closed...
        kept.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        assert!(
            matches!(kept.read(&mut buf), Ok(0) | Err(_)),
            "{name}: kept open"
        );
        // ...and the upload in flight is finished and answered.
        upload.write_all(&picture[picture.len() / 2..]).unwrap();
        upload
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let r = read_response(&mut upload).unwrap();
        assert_eq!(r.status, 201, "{name}: {}", r.text());
        let status = s.wait_exit(Duration::from_secs(60));
        assert_eq!(status.code(), Some(0), "{name}: exit status");
        let stderr = s.stderr_text();
        assert!(
            stderr.contains(name) && stderr.contains("stopped"),
            "{name}: {stderr}"
        );
        // What was answered is in the archive.
        let conn = Connection::open(&db).unwrap();
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sightings WHERE source = ?1 AND location = 'flower.jpg'",
                [name],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{name}");
    }
}

/// Uploads each client of [`uploads_then_kill_9`] sends, at most: more than
/// get through before the kill, which the callers check.
pub(crate) const UPLOADS_PER_CLIENT: u64 = 400;

/// One trial: a service on `archive`, 6 clients uploading distinct pictures
/// to `POST /v1/archive` (seeds from `first_seed` on), `kill -9` after
/// `after`. Returns the SHA-256 of every upload answered 201 or 200.
pub(crate) fn uploads_then_kill_9(
    archive: &Path,
    dir: &Path,
    first_seed: u64,
    after: Duration,
) -> Vec<String> {
    let s = start(archive, dir, &["--concurrency", "2"]);
    let stop_at = Instant::now() + after;
    let seeds: Vec<Vec<u64>> = (0..6)
        .map(|w| {
            (0..UPLOADS_PER_CLIENT)
                .map(|i| first_seed + w * UPLOADS_PER_CLIENT + i)
                .collect()
        })
        .collect();
    let done: Vec<Vec<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = seeds
            .iter()
            .map(|seeds| {
                let addr = &s.addr;
                scope.spawn(move || {
                    let mut ok = Vec::new();
                    for &seed in seeds {
                        let body = small_jpeg(seed);
                        let path = format!(
                            "/v1/archive?source=trial&first_seen=2020-01-01&name=p{seed}.jpg"
                        );
                        match http(addr, "POST", &path, &[AUTH], &body) {
                            Ok(r) if r.status == 201 || r.status == 200 => {
                                ok.push(r.json()["sha256"].as_str().unwrap().to_string())
                            }
                            // The server died under this request.
                            _ => break,
                        }
                    }
                    ok
                })
            })
            .collect();
        std::thread::sleep(stop_at.saturating_duration_since(Instant::now()));
        s.signal(libc::SIGKILL);
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    done.into_iter().flatten().collect()
}

#[test]
fn kill_9_during_archive_uploads_leaves_the_archive_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("archive.db");
    let mut rng = Rng(0x5EED_0023_0009);
    let mut acknowledged: Vec<String> = Vec::new();
    for trial in 0..4 {
        let after = Duration::from_millis(300 + rng.below(1500));
        let answered = uploads_then_kill_9(&db, dir.path(), trial * 6 * UPLOADS_PER_CLIENT, after);
        assert!(
            (answered.len() as u64) < 6 * UPLOADS_PER_CLIENT,
            "trial {trial}: every upload was done before the kill"
        );
        acknowledged.extend(answered);
        // The file as the killed server left it: whole, every picture with its
        // hashes and its sighting, every answered upload in it.
        let conn = Connection::open(&db).unwrap();
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "trial {trial}");
        let broken: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM images i
                 WHERE NOT EXISTS (SELECT 1 FROM hashes h WHERE h.image_id = i.id)
                    OR (SELECT COUNT(*) FROM sightings s WHERE s.image_id = i.id) <> 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            broken, 0,
            "trial {trial}: images without hashes or with other than one sighting"
        );
        for sha in &acknowledged {
            let n: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM images WHERE sha256 = ?1",
                    [sha],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "trial {trial}: an answered upload ({sha}) is missing");
        }
        eprintln!(
            "kill -9 trial {trial}: {} uploads answered so far",
            acknowledged.len()
        );
    }
    assert!(
        !acknowledged.is_empty(),
        "no upload was answered before a kill"
    );
    // A server started on the archive afterwards records as before.
    let s = start(&db, dir.path(), &[]);
    let r = http(
        &s.addr,
        "POST",
        "/v1/archive?source=after&first_seen=2021-01-01",
        &[AUTH],
        &small_jpeg(999_999),
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
}
