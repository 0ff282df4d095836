//! The report: one JSON object per picture (`retrace.report/1`), and the
//! writers that present it. Writers take `impl Write` and compute nothing.
//! Field names are a public contract: change them only by adding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::evidence::{Finding, Match, StageError};
use crate::metadata::Metadata;

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
    pub thumbnail_comparison: Option<crate::thumbnail::ThumbnailComparison>,
    /// The MPF preview (the larger copy a camera or phone appends after the
    /// picture) compared with the main picture, when both decoded.
    #[serde(default)]
    pub preview_comparison: Option<crate::thumbnail::PreviewComparison>,
    /// The claimed place checked against, when given.
    #[serde(default)]
    pub claim_location: Option<crate::assess::ClaimedPlace>,
    /// The near-duplicate group this picture belongs to within its batch
    /// (`scan` only; null when alone or not known when the report was streamed).
    #[serde(default)]
    pub cluster: Option<crate::cluster::ClusterRef>,
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

    /// Drop what a batch no longer needs once this report has been written out,
    /// so that a scan of 100k files holds a few hundred bytes per file, not the
    /// whole report (EXIF fields, container segments, every match's evidence).
    ///
    /// Kept: path, sha256, size, format, dimensions, the whole-frame hashes,
    /// `earliest_copy` (and it alone in `matches`, so [`Report::has_earlier_copy`]
    /// still holds), finding codes and severities, errors, archive, claim and
    /// cluster: what the batch table, `summary.json`, the near-duplicate groups
    /// and the exit status read. Metadata is reduced to whether any EXIF field
    /// was read (the groups rank copies with camera metadata higher).
    pub fn retain_for_batch(&mut self) {
        // `Metadata` is large even when empty (every field inline), so a picture
        // without EXIF keeps none at all.
        if let Some(m) = self.metadata.take() {
            if !m.exif.is_empty() {
                self.metadata = Some(crate::metadata::Metadata {
                    exif: m.exif.into_iter().take(1).collect(),
                    ..Default::default()
                });
            }
        }
        self.hashes
            .retain(|k, _| matches!(k.as_str(), "pdq" | "pdq_quality" | "phash" | "dhash"));
        self.matches.truncate(1);
        for f in &mut self.findings {
            f.message = String::new();
        }
        self.matches.shrink_to_fit();
        self.findings.shrink_to_fit();
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
    use crate::evidence::Severity;

    #[test]
    fn a_batch_keeps_what_its_table_summary_and_groups_read() {
        let field = |tag: &str| crate::metadata::ExifField {
            ifd: "0th".into(),
            tag: tag.into(),
            value: "x".into(),
        };
        let mut r = Report::new("a.jpg".into());
        r.metadata = Some(crate::metadata::Metadata {
            make: Some("Canon".into()),
            exif: vec![field("Make"), field("Model")],
            ..Default::default()
        });
        for k in ["pdq", "phash", "dhash", "pdq_quality", "thumbnail_pdq"] {
            r.hashes.insert(k.into(), "00".into());
        }
        r.findings
            .push(Finding::new("no_metadata", Severity::Info, "long text"));
        r.retain_for_batch();
        let m = r.metadata.as_ref().unwrap();
        assert_eq!((m.exif.len(), m.make.as_deref()), (1, None));
        assert_eq!(
            r.hashes.keys().collect::<Vec<_>>(),
            ["dhash", "pdq", "pdq_quality", "phash"]
        );
        assert_eq!(
            (r.findings[0].code.as_str(), r.findings[0].message.as_str()),
            ("no_metadata", "")
        );
        assert!(!r.has_earlier_copy() && !r.has_errors());
        let mut bare = Report::new("b.png".into());
        bare.metadata = Some(Default::default());
        bare.retain_for_batch();
        assert!(bare.metadata.is_none());
    }

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
