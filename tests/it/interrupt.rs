//! Ctrl-C during a scan stops cleanly: exit status 130, every report already
//! written is a complete JSON file (atomic writes), the summary says the run was
//! interrupted, and the archive holds exactly the pictures whose reports exist.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn sigint_during_scan_leaves_whole_reports_and_a_consistent_archive() {
    let dir = tempfile::tempdir().unwrap();
    // Enough pictures that the scan is still running when the signal arrives,
    // however fast the machine.
    let folder = jpeg_folder(&dir.path().join("pics"), 5000..5400);
    let out_dir = dir.path().join("reports");
    let db = dir.path().join("archive.db");
    let mut child = retrace(Some(&db))
        .arg("scan")
        .arg(&folder)
        .arg("--out")
        .arg(&out_dir)
        .arg("--record")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until some reports exist: the Ctrl-C handler is installed by then.
    let start = Instant::now();
    while files_under(&out_dir).len() < 10 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the scan ended before it could be interrupted"
        );
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no reports appeared"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = wait_bounded(&mut child, Duration::from_secs(300));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "exit status says interrupted: {stderr}"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");

    let mut reports = 0;
    let mut summary = None;
    for f in files_under(&out_dir) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with(".json"), "leftover partial file {name}");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap())
            .unwrap_or_else(|e| panic!("{name} is not a whole JSON file: {e}"));
        if name == "summary.json" {
            summary = Some(v);
        } else {
            assert_eq!(v["schema"], "retrace.report/1", "{name}");
            assert!(v["errors"].as_array().unwrap().is_empty(), "{name}");
            reports += 1;
        }
    }
    let summary = summary.expect("summary.json written on interrupt");
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["images"], reports);
    assert!(reports < 400, "the scan stopped early ({reports} reports)");

    // Every picture with a report was recorded, in whole batches, and nothing else.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let images: i64 = conn
        .query_row("SELECT COUNT(*) FROM images", [], |r| r.get(0))
        .unwrap();
    assert_eq!(images, reports as i64);
}
