//! Plain data passed from the matching and assessment stages to the report:
//! matches, findings, per-stage errors. Serde derives only; no behaviour, no I/O.
//! Field names here are part of the public `retrace.report/1` contract.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How sure a match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A person must look before anything is published.
    Possible,
    /// Independent signals agree; a newsroom could publish it.
    Confirmed,
}

/// Part of a picture, as fractions of its width and height.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Rect {
    /// Left edge, 0..1.
    pub x: f32,
    /// Top edge, 0..1.
    pub y: f32,
    /// Width, 0..1.
    pub w: f32,
    /// Height, 0..1.
    pub h: f32,
}

/// Which part of which picture matched, when it is not the whole of both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MatchRegion {
    /// The part of the incoming picture that shows the archived one.
    pub query: Rect,
    /// The part of the archived picture that the incoming one shows.
    pub archive: Rect,
    /// In words: "the incoming picture is a crop of 48% of the archived one".
    pub description: String,
    /// The part of the incoming picture that shows the archived one, as a
    /// polygon of `[x, y]` fractions (a turned copy's part is a turned
    /// rectangle); `query` is its bounding box. Null when the match came from
    /// hashes or thumbnail alignment, which know only rectangles.
    #[serde(default)]
    pub query_polygon: Option<Vec<[f32; 2]>>,
    /// The part of the archived picture that the incoming one shows, as a
    /// polygon of `[x, y]` fractions; `archive` is its bounding box.
    #[serde(default)]
    pub archive_polygon: Option<Vec<[f32; 2]>>,
}

/// How likely a match is to be chance, at this archive's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Chance {
    /// The expected number of archived pictures unrelated to the incoming one
    /// that would agree with it at least this well by chance, given the
    /// archive's size and the comparisons made (an E-value). `possible` needs
    /// it at most 1e-3, `confirmed` at most 1e-6 and a second, independent
    /// signal. 0 for identical bytes.
    pub expected_false: f64,
    /// The signal it was computed for: `local_features` (agreeing feature
    /// pairs), `pdq`, `phash`, `dhash` (hash distance), `hashes` (the three
    /// hash distances together), `identical_bytes`.
    pub signal: String,
    /// Pictures in the archive when it was searched.
    pub archive_images: u64,
}

/// The verified geometry of a match found through local features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Geometry {
    /// Feature pairs that agree with the transform.
    pub inliers: u32,
    /// Feature pairs whose descriptors matched, before the geometric check.
    pub tentative: u32,
    /// Fraction of the incoming picture spanned by the agreeing features.
    pub query_cover: f32,
    /// Fraction of the archived picture spanned by the agreeing features.
    pub archive_cover: f32,
    /// Archived pixels per incoming pixel.
    pub scale: f32,
    /// Turn from the archived picture to the incoming one, degrees clockwise.
    pub rotation_degrees: f32,
    /// The incoming picture is mirrored.
    pub mirrored: bool,
    /// How far the agreeing features lie from where the transform puts them
    /// (root mean square, in pixels of each feature's own scale): about a
    /// pixel for a copy, more for another photograph of the same scene.
    pub residual: f32,
}

/// An earlier copy found in the archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Match {
    /// Where the earliest sighting of the archived copy was (path or URL).
    pub path: String,
    /// Archived copy's content SHA-256.
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9a-f]{64}$")))]
    pub sha256: String,
    /// Source of the earliest sighting.
    pub source: String,
    /// Publication URL of the earliest sighting, when known.
    pub url: Option<String>,
    /// When the archived copy was first seen (ISO 8601).
    pub first_seen: String,
    /// Where that date came from: `exif`, `mtime`, `given`, `manifest`, `recorded`.
    pub first_seen_from: String,
    /// Hamming distance per algorithm, for the best-aligned whole-frame comparison.
    pub distance: BTreeMap<String, u32>,
    /// Byte-identical (same SHA-256).
    pub exact: bool,
    /// What was done to the archived picture to give the incoming one.
    pub transform: String,
    /// Which part matched, when not the whole.
    pub region: Option<MatchRegion>,
    /// `confirmed` or `possible`.
    pub confidence: Confidence,
    /// Which signals agreed, at which distances or scores.
    pub evidence: Vec<String>,
    /// How many sightings the archive holds for this content.
    pub sightings: u64,
    /// Archived copy's format.
    pub format: String,
    /// Archived copy's width.
    pub width: Option<u32>,
    /// Archived copy's height.
    pub height: Option<u32>,
    /// How likely this match is to be chance at this archive's size; null in
    /// reports made before it was computed.
    #[serde(default)]
    pub chance: Option<Chance>,
    /// The verified transform, when the match came through local features.
    #[serde(default)]
    pub geometry: Option<Geometry>,
    /// The archived copy is a hash-only entry (imported from a shared hash
    /// list, `retrace archive import`): there was no picture to align, so it
    /// was judged on the hashes in `distance` and `evidence` alone.
    #[serde(default)]
    pub hash_only: bool,
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Context.
    Info,
    /// Worth a look.
    Warning,
    /// Contradicts the story or proves an earlier copy.
    High,
}

/// One conclusion about the picture, with its reason in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Finding {
    /// Stable machine code (`earlier_copy`, `no_metadata`, ...).
    pub code: String,
    /// How much it matters.
    pub severity: Severity,
    /// One sentence for a person.
    pub message: String,
}

impl Finding {
    /// Build a finding.
    pub fn new(code: &str, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            code: code.to_string(),
            severity,
            message: message.into(),
        }
    }
}

/// A stage that failed for this file; the report is still written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StageError {
    /// `read`, `decode`, `metadata`, `hash`, `match`, `record`.
    pub stage: String,
    /// What went wrong, with its causes.
    pub message: String,
}
