//! Pure policy: turns what the other stages found (metadata, matches, the
//! claim being checked) into findings with reasons a person can act on. No I/O,
//! no thresholds on hashes (matching owns those).

use chrono::NaiveDate;

use crate::evidence::{Confidence, Finding, Match, Severity};
use crate::metadata::Metadata;

/// What the picture is claimed to show, when the user says so.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claim {
    /// The date the picture is claimed to have been taken.
    pub date: Option<NaiveDate>,
}

/// Parse a date given on the command line or in a request: `2024-03-01`,
/// `2024-03-01T10:00:00`, or RFC 3339. Only the calendar date is kept.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let head = s.get(..10)?;
    let d = NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()?;
    // Whatever follows the date must look like a time, not arbitrary text.
    let rest = &s[10..];
    (rest.is_empty() || rest.starts_with('T') || rest.starts_with(' ')).then_some(d)
}

/// Calendar date of an ISO-8601-ish timestamp as stored in reports and the archive.
pub fn date_of(timestamp: &str) -> Option<NaiveDate> {
    timestamp
        .get(..10)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}

/// Editing and re-encoding software, matched case-insensitively against Software
/// and similar fields. Camera firmware strings ("Ver.1.00", "Firmware 1.0.3") do
/// not match on purpose.
const EDITORS: &[&str] = &[
    "photoshop",
    "lightroom",
    "gimp",
    "snapseed",
    "picasa",
    "paint.net",
    "affinity",
    "pixelmator",
    "capture one",
    "darktable",
    "rawtherapee",
    "acdsee",
    "photoscape",
    "canva",
    "facetune",
    "picsart",
    "vsco",
    "imagemagick",
    "graphicsmagick",
    "irfanview",
    "xnview",
    "photos 1",
    "windows photo editor",
    "microsoft windows photo viewer",
    "instagram",
    "paint",
];

fn describe_gap(earlier: NaiveDate, later: NaiveDate) -> String {
    let days = (later - earlier).num_days();
    if days >= 730 {
        format!("{} years", days / 365)
    } else if days >= 60 {
        format!("{} months", days / 30)
    } else if days == 1 {
        "1 day".to_string()
    } else {
        format!("{days} days")
    }
}

/// Everything the assessment needs.
pub struct Inputs<'a> {
    /// Metadata, when the file could be read.
    pub metadata: Option<&'a Metadata>,
    /// Matches, earliest first.
    pub matches: &'a [Match],
    /// Whether an archive was searched at all.
    pub archive_searched: bool,
    /// The claim being checked.
    pub claim: &'a Claim,
    /// Whether the hashes were too weak to match on.
    pub unmatchable: Option<String>,
}

/// Turn the evidence into findings, most severe first.
pub fn assess(input: &Inputs<'_>) -> Vec<Finding> {
    let mut f = Vec::new();
    if !input.archive_searched {
        f.push(Finding::new(
            "no_archive",
            Severity::Info,
            "No archive was searched: earlier copies cannot be found without one (--archive or RETRACE_ARCHIVE).",
        ));
    }
    if let Some(reason) = &input.unmatchable {
        f.push(Finding::new(
            "unmatchable",
            Severity::Warning,
            reason.clone(),
        ));
    }
    if let Some(exact) = input.matches.iter().find(|m| m.exact) {
        f.push(Finding::new(
            "exact_copy",
            Severity::High,
            format!(
                "This exact file (same SHA-256) is already in the archive, first seen {} ({}).",
                exact.first_seen,
                source_or_path(exact)
            ),
        ));
    }
    let earliest_confirmed = input
        .matches
        .iter()
        .find(|m| m.confidence == Confidence::Confirmed);
    if let Some(m) = earliest_confirmed {
        f.push(Finding::new(
            "earlier_copy",
            Severity::High,
            format!(
                "An earlier copy was first seen {} ({}){}.",
                m.first_seen,
                source_or_path(m),
                how(m)
            ),
        ));
    } else if let Some(m) = input.matches.first() {
        f.push(Finding::new(
            "earlier_copy",
            Severity::Warning,
            format!(
                "A possible earlier copy was first seen {} ({}){}; a person must compare them.",
                m.first_seen,
                source_or_path(m),
                how(m)
            ),
        ));
    }
    if let Some(claim) = input.claim.date {
        if let Some(m) = earliest_confirmed.or(input.matches.first()) {
            if let Some(seen) = date_of(&m.first_seen).filter(|d| *d < claim) {
                f.push(Finding::new(
                    "earlier_copy_before_claim",
                    if m.confidence == Confidence::Confirmed {
                        Severity::High
                    } else {
                        Severity::Warning
                    },
                    format!(
                        "The {} earlier copy was first seen on {seen}, {} before the claimed date {claim}.",
                        if m.confidence == Confidence::Confirmed { "confirmed" } else { "possible" },
                        describe_gap(seen, claim)
                    ),
                ));
            }
        }
        if let Some(taken) = input
            .metadata
            .and_then(|m| m.datetime_original.as_deref())
            .and_then(date_of)
            .filter(|d| *d < claim)
        {
            f.push(Finding::new(
                "capture_date_before_claim",
                Severity::High,
                format!(
                    "The camera recorded a capture date of {taken}, {} before the claimed date {claim}.",
                    describe_gap(taken, claim)
                ),
            ));
        }
    }
    if let Some(meta) = input.metadata {
        if meta.exif.is_empty() {
            f.push(Finding::new(
                "no_metadata",
                Severity::Info,
                "The file carries no EXIF metadata, typical of a copy re-encoded by a platform or messenger.",
            ));
        }
        if let Some(sw) = meta.software.as_deref() {
            let lower = sw.to_lowercase();
            if EDITORS.iter().any(|e| lower.contains(e)) {
                f.push(Finding::new(
                    "edited_with_software",
                    Severity::Warning,
                    format!("The file says it was written by editing software: {sw:?}."),
                ));
            }
        }
        if let Some(gps) = &meta.gps {
            f.push(Finding::new(
                "gps_present",
                Severity::Info,
                format!(
                    "The file records a GPS position: {:.5}, {:.5}.",
                    gps.latitude, gps.longitude
                ),
            ));
        }
        if !meta.warnings.is_empty() {
            f.push(Finding::new(
                "metadata_damaged",
                Severity::Warning,
                format!(
                    "The metadata is malformed in {} place(s); damaged metadata can be a sign of editing: {}",
                    meta.warnings.len(),
                    meta.warnings.first().map(String::as_str).unwrap_or("")
                ),
            ));
        }
    }
    f.sort_by_key(|x| std::cmp::Reverse(x.severity));
    f
}

fn source_or_path(m: &Match) -> String {
    if m.source.is_empty() {
        m.path.clone()
    } else {
        format!("{}, {}", m.source, m.path)
    }
}

fn how(m: &Match) -> String {
    let mut parts = Vec::new();
    if m.transform != "identity" {
        parts.push(format!("transform {}", m.transform));
    }
    if let Some(r) = &m.region {
        parts.push(r.description.clone());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn m(first_seen: &str, confidence: Confidence) -> Match {
        Match {
            path: "a.jpg".into(),
            sha256: "x".into(),
            source: "wire".into(),
            url: None,
            first_seen: first_seen.into(),
            first_seen_from: "given".into(),
            distance: BTreeMap::new(),
            exact: false,
            transform: "identity".into(),
            region: None,
            confidence,
            evidence: vec![],
            sightings: 1,
            format: "jpeg".into(),
            width: None,
            height: None,
        }
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(
            parse_date("2024-03-01"),
            NaiveDate::from_ymd_opt(2024, 3, 1)
        );
        assert_eq!(
            parse_date("2024-03-01T10:00:00+02:00"),
            NaiveDate::from_ymd_opt(2024, 3, 1)
        );
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("2024-03-01garbage"), None);
    }

    #[test]
    fn an_old_copy_contradicts_a_recent_claim() {
        let matches = [m("2008-04-20T19:12:06", Confidence::Confirmed)];
        let meta = Metadata {
            datetime_original: Some("2008-04-20T19:12:06".into()),
            ..Metadata::default()
        };
        let claim = Claim {
            date: parse_date("2024-02-24"),
        };
        let f = assess(&Inputs {
            metadata: Some(&meta),
            matches: &matches,
            archive_searched: true,
            claim: &claim,
            unmatchable: None,
        });
        let codes: Vec<&str> = f.iter().map(|x| x.code.as_str()).collect();
        assert!(codes.contains(&"earlier_copy"));
        assert!(codes.contains(&"earlier_copy_before_claim"));
        assert!(codes.contains(&"capture_date_before_claim"));
        assert!(codes.contains(&"no_metadata"));
        assert!(f[0].severity == Severity::High);
        let before = f
            .iter()
            .find(|x| x.code == "earlier_copy_before_claim")
            .unwrap();
        assert!(before.message.contains("15 years"), "{}", before.message);
    }

    #[test]
    fn nothing_found_and_no_claim_means_no_accusation() {
        let meta = Metadata {
            software: Some("Adobe Photoshop CS3 Windows".into()),
            ..Metadata::default()
        };
        let f = assess(&Inputs {
            metadata: Some(&meta),
            matches: &[],
            archive_searched: false,
            claim: &Claim::default(),
            unmatchable: None,
        });
        let codes: Vec<&str> = f.iter().map(|x| x.code.as_str()).collect();
        assert!(!codes.contains(&"earlier_copy"));
        assert!(codes.contains(&"no_archive"));
        assert!(codes.contains(&"edited_with_software"));
        // Firmware strings are not editors.
        let fw = Metadata {
            software: Some("Firmware Version 1.0.3".into()),
            ..Metadata::default()
        };
        let f = assess(&Inputs {
            metadata: Some(&fw),
            matches: &[],
            archive_searched: true,
            claim: &Claim::default(),
            unmatchable: None,
        });
        assert!(f.iter().all(|x| x.code != "edited_with_software"));
    }
}
