//! The catalogue `archive add --manifest` reads: a TAB-separated file
//! `file  source  first_seen  url` whose rows set, per picture, where it came
//! from and when it was first seen. Owns parsing and checking the rows; it
//! does not read pictures or touch the archive. Shared by the CLI and the
//! Python package, so that both read a catalogue alike.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::assess::parse_date;
use crate::error::{Error, Result};

/// One row: what the catalogue says about one picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueRow {
    /// Who or what the picture came from; empty when the row leaves it out.
    pub source: String,
    /// The first-seen date, checked to be an ISO 8601 date.
    pub first_seen: Option<String>,
    /// Where the picture was published.
    pub url: Option<String>,
}

/// Read a catalogue. Rows are keyed by the file's canonical path (`file` is
/// relative to the catalogue's folder), so that a picture found by a walk is
/// looked up with `std::fs::canonicalize` of its path. A first line starting
/// with `file<TAB>` is the header; empty lines and lines starting with `#`
/// are skipped. A row naming a file that does not exist, or a first-seen
/// that is not a date, is an error naming the line.
pub fn read_catalogue(path: &Path) -> Result<HashMap<PathBuf, CatalogueRow>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::CatalogueRead {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut rows = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if n == 0 && line.starts_with("file\t") || line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let row_error = |message: String, source| Error::CatalogueRow {
            path: path.to_path_buf(),
            line: n + 1,
            message,
            source,
        };
        let cols: Vec<&str> = line.split('\t').collect();
        let file = cols[0];
        let first_seen = cols.get(2).map(|s| s.trim()).filter(|s| !s.is_empty());
        if let Some(d) = first_seen {
            if parse_date(d).is_none() {
                return Err(row_error(
                    format!("first_seen {d:?} is not an ISO 8601 date"),
                    None,
                ));
            }
        }
        let key = std::fs::canonicalize(base.join(file))
            .map_err(|e| row_error(file.to_string(), Some(e)))?;
        rows.insert(
            key,
            CatalogueRow {
                source: cols
                    .get(1)
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default(),
                first_seen: first_seen.map(str::to_string),
                url: cols
                    .get(3)
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty()),
            },
        );
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message as the CLI prints it: the error and its causes.
    fn chain(e: &Error) -> String {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(c) = src {
            s.push_str(": ");
            s.push_str(&c.to_string());
            src = c.source();
        }
        s
    }

    #[test]
    fn the_samples_catalogue_names_every_archived_picture() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/archive");
        let rows = read_catalogue(&dir.join("sources.tsv")).unwrap();
        assert_eq!(rows.len(), 7);
        let storm = &rows[&std::fs::canonicalize(dir.join("Storm.jpg")).unwrap()];
        assert_eq!(storm.first_seen.as_deref(), Some("2008-04-20T19:12:06"));
        assert_eq!(
            storm.url.as_deref(),
            Some("https://github.com/mate-desktop/mate-backgrounds/blob/master/nature/Storm.jpg")
        );
        assert!(storm.source.contains("Sergey Nazarov"));
        // grace_hopper.jpg has no URL (samples/README.md says why).
        let hopper = &rows[&std::fs::canonicalize(dir.join("grace_hopper.jpg")).unwrap()];
        assert_eq!(hopper.url, None);
        assert_eq!(hopper.first_seen.as_deref(), Some("1984-01-20"));
    }

    #[test]
    fn a_bad_row_is_an_error_that_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.jpg"), b"x").unwrap();
        let cat = dir.path().join("cat.tsv");
        std::fs::write(
            &cat,
            "file\tsource\tfirst_seen\turl\n# a comment\n\na.jpg\tdesk\tyesterday\t\n",
        )
        .unwrap();
        let e = read_catalogue(&cat).unwrap_err();
        assert_eq!(
            chain(&e),
            format!(
                "{}:4: first_seen \"yesterday\" is not an ISO 8601 date",
                cat.display()
            )
        );
        std::fs::write(&cat, "a.jpg\tdesk\t2024-03-01\nmissing.jpg\tdesk\n").unwrap();
        let e = chain(&read_catalogue(&cat).unwrap_err());
        let prefix = format!("{}:2: missing.jpg: ", cat.display());
        assert!(e.starts_with(&prefix), "{e}");
        let e = chain(&read_catalogue(&dir.path().join("none.tsv")).unwrap_err());
        assert!(
            e.starts_with(&format!(
                "reading manifest {}: ",
                dir.path().join("none.tsv").display()
            )),
            "{e}"
        );
    }

    #[test]
    fn rows_without_a_header_or_optional_columns_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.jpg"), b"x").unwrap();
        let cat = dir.path().join("cat.tsv");
        std::fs::write(&cat, "a.jpg\n").unwrap();
        let rows = read_catalogue(&cat).unwrap();
        let row = &rows[&std::fs::canonicalize(dir.path().join("a.jpg")).unwrap()];
        assert_eq!(
            row,
            &CatalogueRow {
                source: String::new(),
                first_seen: None,
                url: None
            }
        );
    }
}
