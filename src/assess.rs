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

/// A gap between two dates in words a reader takes in at once ("4 years",
/// "3 months", "12 days"); shared by findings and the HTML verdict so they agree.
pub fn describe_gap(earlier: NaiveDate, later: NaiveDate) -> String {
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
        edited_with_software(meta, &mut f);
        if let Some(c) = &meta.container {
            if let Some(msg) = reencoded(meta, c) {
                f.push(Finding::new("reencoded", Severity::Warning, msg));
            }
        }
        date_inconsistent(meta, &mut f);
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

fn is_editor(s: &str) -> bool {
    let lower = s.to_lowercase();
    EDITORS.iter().any(|e| lower.contains(e))
}

/// EXIF Software, XMP CreatorTool and XMP History agents, each named once.
fn edited_with_software(meta: &Metadata, f: &mut Vec<Finding>) {
    let mut said: Vec<String> = Vec::new();
    if let Some(sw) = meta.software.as_deref().filter(|s| is_editor(s)) {
        said.push(format!("EXIF Software {sw:?}"));
    }
    if let Some(x) = meta.container.as_ref().and_then(|c| c.xmp.as_ref()) {
        if let Some(t) = x.creator_tool.as_deref().filter(|s| is_editor(s)) {
            said.push(format!("XMP CreatorTool {t:?}"));
        }
        let mut agents: Vec<&str> = Vec::new();
        for a in x.history.iter().filter_map(|h| h.software_agent.as_deref()) {
            if is_editor(a) && !agents.contains(&a) {
                agents.push(a);
            }
        }
        if !agents.is_empty() {
            said.push(format!(
                "XMP History {}",
                agents
                    .iter()
                    .take(5)
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if !said.is_empty() {
        f.push(Finding::new(
            "edited_with_software",
            Severity::Warning,
            format!(
                "The file says it was written by editing software: {}.",
                said.join("; ")
            ),
        ));
    }
}

/// Highest IJG quality that counts as "typical of a platform re-encode":
/// messengers and social networks write 70–85; cameras write 90 and above.
const PLATFORM_QUALITY_MAX: u8 = 85;

/// Why the JPEG structure says this is not what a camera wrote, or `None`.
/// Only files without an EXIF segment qualify: cameras always write one, and
/// the structure of an EXIF-carrying file alone is too weak an accusation.
fn reencoded(meta: &Metadata, c: &crate::container::Container) -> Option<String> {
    let j = c.jpeg.as_ref()?;
    if j.exif || !meta.exif.is_empty() {
        return None;
    }
    let app: Vec<&str> = j
        .segments
        .iter()
        .filter(|s| s.marker.starts_with("APP"))
        .map(|s| s.marker.as_str())
        .collect();
    let jfif_only = j.jfif && app.iter().all(|m| m.ends_with("JFIF"));
    let low_q = j.quality.is_some_and(|q| q <= PLATFORM_QUALITY_MAX);
    if !(j.standard_tables || jfif_only || low_q) {
        return None;
    }
    let mut why = vec!["no EXIF segment".to_string()];
    if let Some(q) = j.quality {
        why.push(if j.standard_tables {
            format!("standard libjpeg/IJG quantization tables at quality {q}")
        } else {
            format!("non-standard tables, closest IJG quality {q}")
        });
        if low_q {
            why.push(format!(
                "quality {q} is in the range platforms re-encode at (≤{PLATFORM_QUALITY_MAX})"
            ));
        }
    }
    if jfif_only {
        why.push("only a JFIF header among the APP segments".to_string());
    }
    Some(format!(
        "The JPEG structure is not what a camera writes; this is probably a re-encoded copy: {}.",
        why.join("; ")
    ))
}

/// A calendar date-time from the forms files use: ISO 8601 (`2005-09-07T15:01:43`,
/// with or without an offset, which is ignored: the 24 h margin covers time
/// zones), EXIF-style colons, or a bare date (then `true`: day precision).
fn loose_datetime(s: &str) -> Option<(chrono::NaiveDateTime, bool)> {
    let s = s.trim();
    let date =
        NaiveDate::parse_from_str(s.get(..10)?.replace(':', "-").as_str(), "%Y-%m-%d").ok()?;
    let time = s
        .get(11..19)
        .filter(|_| matches!(s.as_bytes().get(10), Some(b'T' | b' ')))
        .and_then(|t| chrono::NaiveTime::parse_from_str(t, "%H:%M:%S").ok());
    match time {
        Some(t) => Some((date.and_time(t), false)),
        None => Some((date.and_hms_opt(12, 0, 0)?, true)),
    }
}

/// XMP CreateDate, photoshop:DateCreated and IPTC date created against EXIF
/// DateTimeOriginal: more than 24 h apart (36 h when one side is a bare date)
/// is more than time zones explain.
fn date_inconsistent(meta: &Metadata, f: &mut Vec<Finding>) {
    let Some(orig) = meta.datetime_original.as_deref() else {
        return;
    };
    let Some((exif_t, exif_day)) = loose_datetime(orig) else {
        return;
    };
    let Some(c) = &meta.container else { return };
    let mut others: Vec<(&str, &str)> = Vec::new();
    if let Some(x) = &c.xmp {
        if let Some(d) = x.create_date.as_deref() {
            others.push(("XMP CreateDate", d));
        }
        if let Some(d) = x.date_created.as_deref() {
            others.push(("XMP photoshop:DateCreated", d));
        }
    }
    if let Some(d) = c.iptc.as_ref().and_then(|i| i.date_created.as_deref()) {
        others.push(("IPTC date created", d));
    }
    let mut bad = Vec::new();
    for (what, d) in others {
        let Some((t, day)) = loose_datetime(d) else {
            continue;
        };
        let margin = if day || exif_day { 36 } else { 24 };
        let hours = (t - exif_t).num_hours().abs();
        if hours > margin {
            bad.push(format!("{what} {d} ({} h apart)", hours));
        }
    }
    if !bad.is_empty() {
        f.push(Finding::new(
            "date_inconsistent",
            Severity::Warning,
            format!(
                "The file's dates disagree by more than time zones explain: EXIF DateTimeOriginal {orig} vs {}.",
                bad.join(", ")
            ),
        ));
    }
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

    fn codes_for(meta: &Metadata) -> Vec<Finding> {
        assess(&Inputs {
            metadata: Some(meta),
            matches: &[],
            archive_searched: true,
            claim: &Claim::default(),
            unmatchable: None,
        })
    }

    fn jpeg(exif: bool, quality: u8, standard: bool) -> crate::container::JpegStructure {
        use crate::container::{JpegStructure, Segment};
        let mut segments = vec![Segment {
            marker: "APP0 JFIF".into(),
            offset: 2,
            length: 16,
        }];
        if exif {
            segments.push(Segment {
                marker: "APP1 Exif".into(),
                offset: 20,
                length: 100,
            });
        }
        JpegStructure {
            segments,
            jfif: true,
            exif,
            quality: Some(quality),
            standard_tables: standard,
            ..JpegStructure::default()
        }
    }

    #[test]
    fn xmp_creator_tool_and_history_count_as_editing() {
        use crate::container::{Container, HistoryEvent, Xmp};
        let meta = Metadata {
            container: Some(Container {
                xmp: Some(Xmp {
                    creator_tool: Some("Adobe Photoshop CC 2019 (Windows)".into()),
                    history: vec![HistoryEvent {
                        action: Some("saved".into()),
                        software_agent: Some("Adobe Lightroom 6.0".into()),
                        when: None,
                    }],
                    ..Xmp::default()
                }),
                ..Container::default()
            }),
            ..Metadata::default()
        };
        let f = codes_for(&meta);
        let e = f.iter().find(|x| x.code == "edited_with_software").unwrap();
        assert!(e.message.contains("CreatorTool"), "{}", e.message);
        assert!(e.message.contains("Lightroom"), "{}", e.message);
        // Camera firmware in CreatorTool is not editing.
        let cam = Metadata {
            container: Some(Container {
                xmp: Some(Xmp {
                    creator_tool: Some("Ver.1.00".into()),
                    ..Xmp::default()
                }),
                ..Container::default()
            }),
            ..Metadata::default()
        };
        assert!(codes_for(&cam)
            .iter()
            .all(|x| x.code != "edited_with_software"));
    }

    #[test]
    fn standard_tables_without_exif_mean_reencoded() {
        use crate::container::Container;
        let meta = Metadata {
            container: Some(Container {
                jpeg: Some(jpeg(false, 75, true)),
                ..Container::default()
            }),
            ..Metadata::default()
        };
        let f = codes_for(&meta);
        let r = f.iter().find(|x| x.code == "reencoded").unwrap();
        assert_eq!(r.severity, Severity::Warning);
        assert!(r.message.contains("quality 75"), "{}", r.message);
        assert!(r.message.contains("no EXIF"), "{}", r.message);
        // A camera file (EXIF, non-standard tables, high quality) is not.
        let cam = Metadata {
            exif: vec![crate::metadata::ExifField {
                ifd: "0th".into(),
                tag: "Make".into(),
                value: "Canon".into(),
            }],
            container: Some(Container {
                jpeg: Some(jpeg(true, 97, false)),
                ..Container::default()
            }),
            ..Metadata::default()
        };
        assert!(codes_for(&cam).iter().all(|x| x.code != "reencoded"));
    }

    #[test]
    fn dates_more_than_a_day_apart_are_inconsistent() {
        use crate::container::{Container, Iptc, Xmp};
        let with = |xmp_date: &str, iptc_date: &str| Metadata {
            datetime_original: Some("2020-05-01T10:00:00".into()),
            container: Some(Container {
                xmp: Some(Xmp {
                    create_date: Some(xmp_date.into()),
                    ..Xmp::default()
                }),
                iptc: Some(Iptc {
                    date_created: Some(iptc_date.into()),
                    ..Iptc::default()
                }),
                ..Container::default()
            }),
            ..Metadata::default()
        };
        // Time zones: 10 h apart and the same calendar day are fine.
        let ok = with("2020-05-01T20:00:00+09:00", "2020-05-01");
        assert!(codes_for(&ok).iter().all(|x| x.code != "date_inconsistent"));
        let bad = with("2019-05-01T10:00:00", "2020-05-01");
        let f = codes_for(&bad);
        let d = f.iter().find(|x| x.code == "date_inconsistent").unwrap();
        assert!(
            d.message.contains("XMP CreateDate 2019-05-01"),
            "{}",
            d.message
        );
        assert!(!d.message.contains("IPTC"), "{}", d.message);
        assert_eq!(
            loose_datetime("2005:09:07 15:01:43").map(|x| x.1),
            Some(false)
        );
    }
}
