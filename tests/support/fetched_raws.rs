//! The real RAW files `tests/fixtures/raw/fetch.sh` takes from Debian
//! packages, for the test crates that read them (included by `#[path]`).

use std::path::{Path, PathBuf};

/// The fetched RAW files (a cache outside git: `$RETRACE_RAW_DIR`, else
/// `target/raw-fixtures`), in name order; empty, with a message naming
/// `test`, when the script was not run. Under `RETRACE_REQUIRE_RAW` (set by
/// `.ci/run`, which runs the script) their absence is a failure.
pub fn fetched_raws(test: &str) -> Vec<PathBuf> {
    let dir = std::env::var_os("RETRACE_RAW_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/raw-fixtures"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e != "copyright"))
        .collect();
    files.sort();
    if files.is_empty() {
        assert!(
            std::env::var_os("RETRACE_REQUIRE_RAW").is_none(),
            "no RAW files in {} (sh tests/fixtures/raw/fetch.sh)",
            dir.display()
        );
        eprintln!(
            "SKIP {test}: no RAW files in {} (run sh tests/fixtures/raw/fetch.sh)",
            dir.display()
        );
    }
    files
}
