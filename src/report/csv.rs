//! `scan --csv`: one row per picture for a spreadsheet, RFC 4180 (comma
//! separated, CRLF line ends, fields with a comma, a quote or a line break
//! quoted, quotes doubled), written with the `csv` crate. The columns are a
//! contract like the report's: new ones are only ever added at the end.
//!
//! Every value that came from a file or the archive is hostile twice over
//! here: control, bidi and zero-width characters are made visible as in the
//! text report, and a cell that a spreadsheet would run as a formula (one
//! starting with `=`, `+`, `-`, `@`, TAB or CR) gets a leading apostrophe, as
//! OWASP's advice on CSV injection has it. Presentation only.

use std::io::Write;

use super::{escape_untrusted, html::outcome_sentence, Outcome};
use crate::evidence::Confidence;

/// The header row, in column order.
pub const COLUMNS: [&str; 13] = [
    "path",
    "sha256",
    "verdict",
    "confidence",
    "earliest_copy",
    "earliest_first_seen",
    "earliest_source",
    "earliest_url",
    "transform",
    "region",
    "findings",
    "errors",
    "verdict_text",
];

/// The `verdict` column: one word a spreadsheet can filter on.
pub fn verdict_word(r: &Outcome<'_>) -> &'static str {
    if !r.readable || (!r.errors.is_empty() && !r.hashed) {
        "error"
    } else if let Some(m) = r.earliest_copy {
        match m.confidence {
            Confidence::Confirmed => "earlier_copy",
            Confidence::Possible => "possible_copy",
        }
    } else if r.archive_searched {
        "new"
    } else {
        "not_searched"
    }
}

/// A value as it may be put in a cell: made visible, and never a formula.
fn cell(s: &str) -> String {
    let shown = escape_untrusted(s);
    if shown.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{shown}")
    } else {
        shown
    }
}

/// Writes the rows of one batch.
pub struct CsvWriter<W: Write> {
    out: csv::Writer<W>,
}

impl<W: Write> CsvWriter<W> {
    /// Start the file with its header row.
    pub fn new(out: W) -> csv::Result<CsvWriter<W>> {
        let mut out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        out.write_record(COLUMNS)?;
        Ok(CsvWriter { out })
    }

    /// One picture.
    pub fn row(&mut self, sha256: Option<&str>, r: &Outcome<'_>) -> csv::Result<()> {
        let m = r.earliest_copy;
        let confidence = m.map(|m| match m.confidence {
            Confidence::Confirmed => "confirmed",
            Confidence::Possible => "possible",
        });
        let errors: Vec<String> = r
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.stage, e.message))
            .collect();
        let findings: Vec<&str> = r.findings.iter().map(|&(code, _)| code).collect();
        let row = [
            cell(r.path),
            sha256.unwrap_or("").to_string(),
            verdict_word(r).to_string(),
            confidence.unwrap_or("").to_string(),
            m.map(|m| cell(m.path)).unwrap_or_default(),
            m.map(|m| cell(m.first_seen)).unwrap_or_default(),
            m.map(|m| cell(m.source)).unwrap_or_default(),
            m.and_then(|m| m.url).map(cell).unwrap_or_default(),
            m.map(|m| cell(m.transform)).unwrap_or_default(),
            m.and_then(|m| m.region).map(cell).unwrap_or_default(),
            findings.join(" "),
            cell(&errors.join("; ")),
            cell(&outcome_sentence(r)),
        ];
        self.out.write_record(&row)
    }

    /// Flush and hand back the writer.
    pub fn finish(self) -> std::io::Result<W> {
        self.out
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{Finding, FindingCode, Match, MatchRegion, Rect, Severity};
    use crate::report::Report;

    #[test]
    fn hostile_values_are_quoted_made_visible_and_never_formulas() {
        let mut r = Report::new("=HYPERLINK(\"http://x\",\"a,b\")\u{202E}\n.jpg".into());
        r.sha256 = Some("ab".repeat(32));
        r.archive.searched = true;
        let m = Match {
            path: "archive/Storm.jpg".into(),
            sha256: "cd".repeat(32),
            source: "@wire, \"desk\"".into(),
            url: Some("https://example.org/a?b=1,2".into()),
            first_seen: "2008-04-20".into(),
            first_seen_from: crate::evidence::FirstSeenFrom::Manifest,
            distance: Default::default(),
            exact: false,
            transform: "identity".into(),
            region: Some(MatchRegion {
                query: Rect {
                    x: 0.0,
                    y: 0.0,
                    w: 1.0,
                    h: 0.8,
                },
                archive: Rect {
                    x: 0.0,
                    y: 0.0,
                    w: 1.0,
                    h: 1.0,
                },
                description: "the archived picture fills 80% of the incoming one".into(),
                query_polygon: None,
                archive_polygon: None,
            }),
            confidence: Confidence::Confirmed,
            chance: None,
            geometry: None,
            evidence: vec![],
            sightings: 1,
            format: "jpeg".into(),
            width: None,
            height: None,
            hash_only: false,
        };
        r.matches = vec![m.clone()];
        r.earliest_copy = Some(m);
        r.findings = vec![
            Finding::new(FindingCode::EarlierCopy, Severity::High, "x"),
            Finding::new(FindingCode::NoMetadata, Severity::Info, "y"),
        ];
        let mut w = CsvWriter::new(Vec::new()).unwrap();
        w.row(r.sha256.as_deref(), &r.outcome()).unwrap();
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], COLUMNS.join(","));
        assert_eq!(
            lines.len(),
            3,
            "header, one row, and the final CRLF: {text:?}"
        );
        // Read back by an independent RFC 4180 reading: the csv crate's reader.
        let mut rd = csv::Reader::from_reader(text.as_bytes());
        let rec = rd.records().next().unwrap().unwrap();
        assert_eq!(
            &rec[0],
            "'=HYPERLINK(\"http://x\",\"a,b\")\\u{202e}\\u{a}.jpg"
        );
        assert_eq!(&rec[2], "earlier_copy");
        assert_eq!(&rec[3], "confirmed");
        assert_eq!(&rec[5], "2008-04-20");
        assert_eq!(&rec[6], "'@wire, \"desk\"");
        assert_eq!(&rec[7], "https://example.org/a?b=1,2");
        assert_eq!(
            &rec[9],
            "the archived picture fills 80% of the incoming one"
        );
        assert_eq!(&rec[10], "earlier_copy no_metadata");
        assert!(rec[12].starts_with("This picture was first seen on 2008-04-20"));
    }
}
