//! Helpers shared by the integration tests: a temp dir per test and a command
//! builder for the real `retrace` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn samples() -> PathBuf {
    repo().join("samples")
}

pub fn retrace(archive: Option<&Path>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_retrace"));
    c.env_remove("RETRACE_ARCHIVE");
    if let Some(a) = archive {
        c.arg("--archive").arg(a);
    }
    c
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run retrace");
    if !out.stderr.is_empty() {
        eprintln!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    out
}

pub fn jsonl(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .expect("utf-8 stdout")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// An archive built from `samples/archive` with its catalogue, in a temp dir.
pub fn sample_archive(dir: &Path) -> PathBuf {
    let db = dir.join("archive.db");
    let out = run(retrace(Some(&db))
        .arg("archive")
        .arg("add")
        .arg(samples().join("archive"))
        .arg("--manifest")
        .arg(samples().join("archive/sources.tsv")));
    assert_eq!(out.status.code(), Some(0), "archive add failed");
    db
}
