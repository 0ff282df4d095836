//! A folder a stranger prepared: file names with terminal escapes, bidi
//! overrides and invalid UTF-8, a symlink loop, an unreadable file, folders
//! nested past the depth limit, broken pictures. The batch completes, every
//! picture found gets a report, exit status 2, and no name reaches the
//! terminal unescaped.

#![cfg(unix)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::common::*;

/// Raw control characters (other than newline) or bidi/zero-width characters.
fn dangerous(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

#[test]
fn a_hostile_tree_is_scanned_to_the_end_with_every_name_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("tree");
    std::fs::create_dir_all(&d).unwrap();
    let good = small_jpeg(1);
    std::fs::write(d.join("ok.jpg"), &good).unwrap();
    std::fs::write(d.join("esc\x1b[31mred\x07.jpg"), &good).unwrap();
    std::fs::write(d.join("rlo\u{202E}gpj.exe.jpg"), small_jpeg(2)).unwrap();
    std::fs::write(d.join("new\nline.jpg"), &good[..good.len() / 2]).unwrap();
    std::fs::write(
        d.join(OsStr::from_bytes(b"bad\xff\xfeutf8.jpg")),
        b"\xFF\xD8\xFF\xE0 not really",
    )
    .unwrap();
    std::os::unix::fs::symlink(".", d.join("loop")).unwrap();
    std::os::unix::fs::symlink("ok.jpg", d.join("link.jpg")).unwrap();
    let mut deep = d.join("deep");
    for _ in 0..70 {
        deep.push("d");
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("too-deep.jpg"), small_jpeg(3)).unwrap();
    let shallow: std::path::PathBuf = d.join("deep/d/d/d");
    std::fs::write(shallow.join("shallow.jpg"), small_jpeg(4)).unwrap();

    let locked = d.join("locked.jpg");
    std::fs::write(&locked, &good).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    // As root, permissions do not stop reads; then the file is just a picture.
    let unreadable = std::fs::read(&locked).is_err();
    if !unreadable {
        eprintln!("running as root: chmod 000 does not block reads, unreadable-file case skipped");
    }

    let mut child = retrace(None)
        .arg("scan")
        .arg(&d)
        .arg("--jsonl")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read on other threads so a full pipe cannot stall the child.
    let (mut so, mut se) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut v).unwrap();
        v
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut v).unwrap();
        v
    });
    let status = wait_bounded(&mut child, Duration::from_secs(300));
    let (stdout, stderr) = (o.join().unwrap(), e.join().unwrap());
    let stderr = String::from_utf8(stderr).expect("stderr is UTF-8");
    assert_eq!(status.code(), Some(2), "{stderr}");
    let reports: Vec<serde_json::Value> = String::from_utf8(stdout)
        .expect("JSON Lines are UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_name = |needle: &str| {
        reports
            .iter()
            .find(|r| r["path"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no report for {needle:?}"))
    };
    let errors = |r: &serde_json::Value| r["errors"].as_array().unwrap().len();
    assert_eq!(errors(by_name("ok.jpg")), 0);
    assert_eq!(errors(by_name("esc\x1b[31mred")), 0);
    assert_eq!(errors(by_name("rlo\u{202E}gpj")), 0);
    assert_eq!(errors(by_name("shallow.jpg")), 0);
    assert!(errors(by_name("new\nline")) > 0);
    // Invalid UTF-8 is reported under a lossy name, with an error for its content.
    assert!(errors(by_name("bad\u{FFFD}\u{FFFD}utf8")) > 0);
    if unreadable {
        assert_eq!(by_name("locked.jpg")["errors"][0]["stage"], "read");
    }
    // Links are not followed: neither the loop nor the link to ok.jpg.
    assert!(reports
        .iter()
        .all(|r| !r["path"].as_str().unwrap().contains("loop")));
    assert!(reports
        .iter()
        .all(|r| !r["path"].as_str().unwrap().contains("link.jpg")));
    assert_eq!(reports.len(), 7, "one report per picture reached");
    // The picture below the depth limit is named as not walked.
    assert!(stderr.contains("depth limit"), "{stderr}");
    assert_eq!(dangerous(&stderr), Vec::<char>::new(), "{stderr}");

    // The readable table: names escaped there too.
    let out = run(retrace(None).arg("scan").arg(&d));
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stdout).expect("text output is UTF-8");
    assert!(text.contains("esc\\u{1b}[31mred"), "{text}");
    assert!(text.contains("rlo\\u{202e}gpj"), "{text}");
    assert_eq!(dangerous(&text), Vec::<char>::new(), "{text}");
    assert_eq!(
        dangerous(&String::from_utf8_lossy(&out.stderr)),
        Vec::<char>::new()
    );

    // `check` on each hostile name: a readable page, escaped, never a crash.
    for entry in std::fs::read_dir(&d).unwrap() {
        let p = entry.unwrap().path();
        if !p.is_file() || p.is_symlink() {
            continue;
        }
        let out = run(retrace(None).arg("check").arg(&p));
        assert!(matches!(out.status.code(), Some(0 | 2)), "{p:?}");
        assert_eq!(
            dangerous(&String::from_utf8_lossy(&out.stdout)),
            Vec::<char>::new(),
            "{p:?}"
        );
        assert_eq!(
            dangerous(&String::from_utf8_lossy(&out.stderr)),
            Vec::<char>::new(),
            "{p:?}"
        );
    }
    let _ = std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o600));
}
