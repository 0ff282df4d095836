//! The report: one JSON object per picture (`retrace.report/1`), and the
//! writers that present it. Writers take `impl Write` and compute nothing.
//! Field names are a public contract: change them only by adding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::evidence::{Finding, Match, StageError};
use crate::metadata::Metadata;

pub mod csv;
pub mod html;
pub mod text;

/// Schema identifier written into every report.
pub const SCHEMA: &str = "retrace.report/1";

/// What was searched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ArchiveSearch {
    /// Whether an archive was searched at all.
    pub searched: bool,
    /// The archive file, when one was used.
    pub path: Option<String>,
    /// How many distinct images it held.
    pub images: Option<u64>,
    /// How far the search for crops, captions and screenshots went among the
    /// archived pictures that no hash pointed at; null when no archive was
    /// searched or the file could not be read.
    #[serde(default)]
    pub crop_search: Option<CropSearch>,
}

impl ArchiveSearch {
    /// Whether the search for crops was turned off (`--crop-search 0`).
    pub fn crop_search_off(&self) -> bool {
        self.crop_search.is_some_and(|c| c.limit == 0)
    }
}

/// What a verdict without an earlier copy adds when [`ArchiveSearch::crop_search_off`].
pub const CROP_SEARCH_OFF_NOTE: &str = " The search for crops, captioned copies and screenshots was off (--crop-search 0): only those that some hash points at are found.";

/// The thumbnail aligner's search of archived pictures that no hash of the
/// incoming one points at: a crop, a captioned copy or a screenshot of an
/// archived picture often has no hash near it, and this search is what finds
/// them. It covers the nearest such pictures only, so a report without a
/// match says how many were looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CropSearch {
    /// The most that are searched per picture (`--crop-search`; 0: off).
    pub limit: u32,
    /// How many were searched for this picture. 0 also when the picture is
    /// known whole (identical bytes, or its whole frame confirmed against an
    /// archived one): such a picture is the archived one, and the search would
    /// only repeat what was found when that came in.
    pub searched: u32,
}

/// A report's place in its batch's near-duplicate group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClusterRef {
    /// Group number within the batch (stable: groups are numbered in path order).
    pub id: usize,
    /// How many pictures the group holds.
    pub size: usize,
    /// The copy most likely closest to the original.
    pub representative: String,
    /// Whether this report is that copy.
    pub is_representative: bool,
    /// Why that copy was chosen.
    pub reason: String,
}

/// The provenance report of one picture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Report {
    /// Always [`SCHEMA`].
    #[cfg_attr(
        feature = "schema",
        schemars(description = "Always `retrace.report/1`.", extend("const" = SCHEMA))
    )]
    pub schema: String,
    /// The file as given or found (UTF-8, lossy for invalid names).
    pub path: String,
    /// Content SHA-256, when the file could be read.
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9a-f]{64}$")))]
    pub sha256: Option<String>,
    /// File size in bytes.
    pub bytes: Option<u64>,
    /// Format sniffed from the content (not the name).
    pub format: Option<String>,
    /// Stored pixel width (before EXIF orientation).
    pub width: Option<u32>,
    /// Stored pixel height (before EXIF orientation).
    pub height: Option<u32>,
    /// What the file's metadata says; null when the file could not be read.
    pub metadata: Option<Metadata>,
    /// Algorithm name → hex hash (plus `pdq_quality`), computed after EXIF orientation.
    #[cfg_attr(feature = "schema", schemars(schema_with = "hashes_schema"))]
    pub hashes: BTreeMap<String, serde_json::Value>,
    /// Earlier copies, earliest first-seen first.
    pub matches: Vec<Match>,
    /// The first of `matches`, or null.
    pub earliest_copy: Option<Match>,
    /// Conclusions, most severe first.
    pub findings: Vec<Finding>,
    /// Stages that failed; the rest of the report is what could still be done.
    pub errors: Vec<StageError>,
    /// Which archive was searched.
    pub archive: ArchiveSearch,
    /// The claimed date checked against, when given.
    pub claim_date: Option<String>,
    /// The embedded EXIF thumbnail compared with the main picture, when both decoded.
    #[serde(default)]
    pub thumbnail_comparison: Option<crate::hash::thumbnail::ThumbnailComparison>,
    /// The MPF preview (the larger copy a camera or phone appends after the
    /// picture) compared with the main picture, when both decoded.
    #[serde(default)]
    pub preview_comparison: Option<crate::hash::thumbnail::PreviewComparison>,
    /// The claimed place checked against, when given.
    #[serde(default)]
    pub claim_location: Option<crate::assess::ClaimedPlace>,
    /// The near-duplicate group this picture belongs to within its batch
    /// (`scan` only; null when alone or not known when the report was streamed).
    #[serde(default)]
    pub cluster: Option<ClusterRef>,
    /// How the picture that was hashed was obtained (which image of the
    /// file, which decoder); null when nothing could be decoded.
    #[serde(default)]
    pub decode: Option<crate::decode::DecodeInfo>,
    /// The program that wrote the report.
    pub generator: String,
}

impl Report {
    /// An empty report for a path; stages fill it in.
    pub fn new(path: String) -> Report {
        Report {
            schema: SCHEMA.to_string(),
            path,
            sha256: None,
            bytes: None,
            format: None,
            width: None,
            height: None,
            metadata: None,
            hashes: BTreeMap::new(),
            matches: Vec::new(),
            earliest_copy: None,
            findings: Vec::new(),
            errors: Vec::new(),
            archive: ArchiveSearch::default(),
            claim_date: None,
            claim_location: None,
            thumbnail_comparison: None,
            preview_comparison: None,
            cluster: None,
            decode: None,
            generator: concat!("retrace ", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }

    /// True when at least one earlier copy was found.
    pub fn has_earlier_copy(&self) -> bool {
        !self.matches.is_empty()
    }

    /// True when a stage failed.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// What the one-line verdicts (the `scan` table and `watch` line, the HTML
    /// index and a page's headline) read of this report.
    pub fn outcome(&self) -> Outcome<'_> {
        Outcome {
            path: &self.path,
            readable: self.sha256.is_some(),
            hashed: !self.hashes.is_empty(),
            errors: &self.errors,
            has_earlier_copy: self.has_earlier_copy(),
            earliest_copy: self.earliest_copy.as_ref().map(CopyRef::of),
            archive_searched: self.archive.searched,
            archive_images: self.archive.images,
            crop_search_off: self.archive.crop_search_off(),
            claim_date: self.claim_date.as_deref(),
            findings: self
                .findings
                .iter()
                .map(|f| (f.code.as_str(), f.severity))
                .collect(),
        }
    }
}

/// The part of a report that a one-line verdict reads, borrowed from a whole
/// [`Report`] or from what a batch kept of one (`crate::pipeline::batch::BatchRecord`),
/// so that both say exactly the same thing.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<'a> {
    /// The file as given or found.
    pub path: &'a str,
    /// Whether the file could be read (it has a SHA-256).
    pub readable: bool,
    /// Whether any hash was computed.
    pub hashed: bool,
    /// Stages that failed.
    pub errors: &'a [StageError],
    /// Whether at least one earlier copy was found.
    pub has_earlier_copy: bool,
    /// The earliest of them.
    pub earliest_copy: Option<CopyRef<'a>>,
    /// Whether an archive was searched.
    pub archive_searched: bool,
    /// How many pictures it held.
    pub archive_images: Option<u64>,
    /// Whether the search for crops and screenshots among the archived
    /// pictures no hash points at was turned off (`--crop-search 0`).
    pub crop_search_off: bool,
    /// The claimed date checked against.
    pub claim_date: Option<&'a str>,
    /// Finding codes and severities, most severe first.
    pub findings: Vec<(&'a str, crate::evidence::Severity)>,
}

/// What a one-line verdict says of an earlier copy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CopyRef<'a> {
    /// Where its earliest sighting was.
    pub path: &'a str,
    /// Source of that sighting.
    pub source: &'a str,
    /// Its publication URL.
    pub url: Option<&'a str>,
    /// When it was first seen.
    pub first_seen: &'a str,
    /// `confirmed` or `possible`.
    pub confidence: crate::evidence::Confidence,
    /// What was done to it to give the incoming picture.
    pub transform: &'a str,
    /// Which part matched, in words, when not the whole.
    pub region: Option<&'a str>,
}

impl<'a> CopyRef<'a> {
    /// The view of a whole match.
    pub fn of(m: &'a Match) -> CopyRef<'a> {
        CopyRef {
            path: &m.path,
            source: &m.source,
            url: m.url.as_deref(),
            first_seen: &m.first_seen,
            confidence: m.confidence,
            transform: &m.transform,
            region: m.region.as_ref().map(|r| r.description.as_str()),
        }
    }
}

/// The schema of [`Report::hashes`]: `serde_json::Value` alone would say
/// "anything", but the map only ever holds lower-case hex hashes and the two
/// PDQ qualities (see `pipeline::hashes_json`).
#[cfg(feature = "schema")]
fn hashes_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let quality = schemars::json_schema!({
        "type": "integer",
        "minimum": 0,
        "maximum": 100,
        "description": "PDQ quality, 0-100; below 50 PDQ is not used for matching."
    });
    schemars::json_schema!({
        "type": "object",
        "description": "Hash name -> lower-case hex: `pdq` (256 bits), `phash`, `dhash` (64 bits), `thumbnail_pdq`, ... for the embedded EXIF thumbnail and `preview_pdq`, ... for the MPF preview; plus the integer `pdq_quality` / `thumbnail_pdq_quality` / `preview_pdq_quality`.",
        "properties": {
            "pdq_quality": quality,
            "thumbnail_pdq_quality": quality,
            "preview_pdq_quality": quality,
        },
        "additionalProperties": { "type": "string", "pattern": "^[0-9a-f]+$" }
    })
}

/// The JSON Schema (draft 2020-12) of `retrace.report/1` as this version
/// writes it, generated from the types. It describes serialisation: every
/// field is present (`null` when unknown); objects allow properties this
/// version does not know, so a reader checking against it accepts reports
/// of later versions, whose fields only get added. The committed copy is
/// `src/report/retrace.report-1.schema.json`; `tests/it/schema.rs` fails when
/// the two differ.
#[cfg(feature = "schema")]
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<Report>();
    schema.insert("$id".into(), SCHEMA_ID.into());
    schema.insert("title".into(), SCHEMA.into());
    schema.to_value()
}

/// The `$id` of the committed schema: a name, not a place to fetch it from
/// (retrace works offline; the file ships in the repository).
#[cfg(feature = "schema")]
pub const SCHEMA_ID: &str = "urn:retrace:schema:retrace.report/1";

/// Write one report as a single JSON line.
pub fn write_jsonl(out: &mut impl std::io::Write, report: &Report) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, report)?;
    out.write_all(b"\n")
}

/// Write one report as pretty JSON.
pub fn write_json(out: &mut impl std::io::Write, report: &Report) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}

/// Escape what a terminal or a text file must not receive raw: control
/// characters, bidirectional overrides and zero-width characters, which can
/// make a hostile file name look like another one.
pub fn escape_untrusted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let dangerous = c.is_control()
            || matches!(c,
                '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}');
        if dangerous {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi_but_keeps_plain_text() {
        assert_eq!(escape_untrusted("photo-Київ.jpg"), "photo-Київ.jpg");
        assert_eq!(escape_untrusted("a\x1b[31mb"), "a\\u{1b}[31mb");
        assert_eq!(
            escape_untrusted("evil\u{202E}gpj.exe"),
            "evil\\u{202e}gpj.exe"
        );
        assert_eq!(escape_untrusted("a\nb"), "a\\u{a}b");
    }

    #[test]
    fn a_report_serialises_with_the_contract_fields() {
        let r = Report::new("x.jpg".into());
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        for key in [
            "schema",
            "path",
            "sha256",
            "bytes",
            "format",
            "width",
            "height",
            "metadata",
            "hashes",
            "matches",
            "earliest_copy",
            "findings",
            "errors",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["schema"], SCHEMA);
        let back: Report = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }
}
