//! Plain data passed from the matching and assessment stages to the report:
//! matches, findings, per-stage errors. Serde derives only; no behaviour, no I/O.
//! Field names here are part of the public `retrace.report/1` contract.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An enum whose values are a fixed set of names, each written as its name
/// (`#[serde(rename)]` and [`as_str`] from the same literal, so the JSON and
/// the text renderings cannot drift apart), with `ALL` for the docs' tests.
macro_rules! named {
    (
        $(#[$m:meta])*
        pub enum $name:ident {
            $( $(#[$vm:meta])* $v:ident = $s:literal, )*
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        pub enum $name {
            $( $(#[$vm])* #[serde(rename = $s)] $v, )*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),*];

            /// The name written in reports.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$v => $s, )*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}
pub(crate) use named;

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

// Part of a picture, as fractions of its width and height: the one rectangle
// type of every stage, kept in `geometry` and named here because the report
// carries it (`matches[].region.query` and `.archive`).
pub use crate::geometry::Rect;

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
    /// The signal it was computed for.
    pub signal: ChanceSignal,
    /// Pictures in the archive when it was searched.
    pub archive_images: u64,
}

named! {
    /// What a match's E-value was computed for (`matches[].chance.signal`).
    pub enum ChanceSignal {
        /// Agreeing local-feature pairs of a verified geometry.
        LocalFeatures = "local_features",
        /// PDQ distance.
        Pdq = "pdq",
        /// pHash distance.
        Phash = "phash",
        /// dHash distance.
        Dhash = "dhash",
        /// The three hash distances together.
        Hashes = "hashes",
        /// The same bytes.
        IdenticalBytes = "identical_bytes",
    }
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
    /// Where that date came from: `exif`, `mtime`, `given`, `manifest`,
    /// `recorded`, `hash_list`.
    pub first_seen_from: FirstSeenFrom,
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
    pub code: FindingCode,
    /// How much it matters.
    pub severity: Severity,
    /// One sentence for a person.
    pub message: String,
}

impl Finding {
    /// Build a finding.
    pub fn new(code: FindingCode, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            code,
            severity,
            message: message.into(),
        }
    }
}

/// A stage that failed for this file; the report is still written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StageError {
    /// The stage that failed (`read`, `format`, `decode`, `metadata`,
    /// `hash`, `animation`, `match`, `internal`).
    pub stage: Stage,
    /// What went wrong, with its causes.
    pub message: String,
}

named! {
    /// A finding's stable machine code: what it is about.
    pub enum FindingCode {
        /// An earlier copy of the picture is in the archive.
        EarlierCopy = "earlier_copy",
        /// The archive holds these very bytes.
        ExactCopy = "exact_copy",
        /// The embedded EXIF thumbnail matches an archived picture the main
        /// picture does not.
        ThumbnailEarlierCopy = "thumbnail_earlier_copy",
        /// The MPF preview matches an archived picture the main picture does not.
        PreviewEarlierCopy = "preview_earlier_copy",
        /// A confirmed earlier copy was first seen before the claimed date.
        EarlierCopyBeforeClaim = "earlier_copy_before_claim",
        /// The capture date is before the claimed date.
        CaptureDateBeforeClaim = "capture_date_before_claim",
        /// The file carries no EXIF metadata.
        NoMetadata = "no_metadata",
        /// An editing program left its name.
        EditedWithSoftware = "edited_with_software",
        /// The JPEG structure is that of a re-encoded copy.
        Reencoded = "reencoded",
        /// The dates the metadata gives disagree.
        DateInconsistent = "date_inconsistent",
        /// The file carries a GPS position.
        GpsPresent = "gps_present",
        /// The metadata could not be read in full.
        MetadataDamaged = "metadata_damaged",
        /// The picture could not be compared with the archive.
        Unmatchable = "unmatchable",
        /// No archive was searched.
        NoArchive = "no_archive",
        /// The embedded EXIF thumbnail shows another picture or framing.
        ThumbnailMismatch = "thumbnail_mismatch",
        /// The MPF preview shows another picture or framing.
        PreviewMismatch = "preview_mismatch",
        /// The GPS position is outside the claimed place's radius.
        LocationFarFromClaim = "location_far_from_claim",
        /// The GPS position is within the claimed place's radius.
        LocationNearClaim = "location_near_claim",
        /// A place was claimed but the file has no GPS position to check.
        ClaimLocationUnchecked = "claim_location_unchecked",
        /// The file carries Content Credentials (C2PA).
        ContentCredentials = "content_credentials",
        /// The Content Credentials do not match the file or their signature fails.
        ContentCredentialsInvalid = "content_credentials_invalid",
        /// The file declares generative-AI origin.
        GenerativeAi = "generative_ai",
        /// The file is an animation.
        Animated = "animated",
        /// A later frame of the animation shows another picture than the first.
        AnimationFrameDiffers = "animation_frame_differs",
    }
}

named! {
    /// The stage of the processing that failed.
    pub enum Stage {
        /// Reading the file.
        Read = "read",
        /// Recognising its format.
        Format = "format",
        /// Decoding its pixels.
        Decode = "decode",
        /// Reading its metadata.
        Metadata = "metadata",
        /// Hashing the picture.
        Hash = "hash",
        /// Decoding an animation's later frames.
        Animation = "animation",
        /// Searching the archive.
        Match = "match",
        /// A bug: the file's processing panicked.
        Internal = "internal",
    }
}

/// Where a sighting's first-seen date came from.
///
/// Written as its name. Read tolerantly: archives and hash lists come from
/// other versions and other archives, so a name this version does not know is
/// kept as [`FirstSeenFrom::Other`] rather than refused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FirstSeenFrom {
    /// The EXIF capture time.
    Exif,
    /// The file's modification time.
    Mtime,
    /// A date the user gave.
    Given,
    /// The date of a catalogue (`--manifest`) line.
    Manifest,
    /// When it was recorded (intake, or a hash list row without a date).
    Recorded,
    /// The date a shared hash list gave.
    HashList,
    /// A name this version does not know, kept as read.
    Other(String),
}

impl FirstSeenFrom {
    /// The name written in reports, archives and hash lists.
    pub fn as_str(&self) -> &str {
        match self {
            FirstSeenFrom::Exif => "exif",
            FirstSeenFrom::Mtime => "mtime",
            FirstSeenFrom::Given => "given",
            FirstSeenFrom::Manifest => "manifest",
            FirstSeenFrom::Recorded => "recorded",
            FirstSeenFrom::HashList => "hash_list",
            FirstSeenFrom::Other(s) => s,
        }
    }
}

impl From<&str> for FirstSeenFrom {
    fn from(s: &str) -> FirstSeenFrom {
        match s {
            "exif" => FirstSeenFrom::Exif,
            "mtime" => FirstSeenFrom::Mtime,
            "given" => FirstSeenFrom::Given,
            "manifest" => FirstSeenFrom::Manifest,
            "recorded" => FirstSeenFrom::Recorded,
            "hash_list" => FirstSeenFrom::HashList,
            other => FirstSeenFrom::Other(other.to_string()),
        }
    }
}

impl From<String> for FirstSeenFrom {
    fn from(s: String) -> FirstSeenFrom {
        match FirstSeenFrom::from(s.as_str()) {
            FirstSeenFrom::Other(_) => FirstSeenFrom::Other(s),
            known => known,
        }
    }
}

impl fmt::Display for FirstSeenFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for FirstSeenFrom {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for FirstSeenFrom {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for FirstSeenFrom {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FirstSeenFrom {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FirstSeenFrom, D::Error> {
        String::deserialize(d).map(FirstSeenFrom::from)
    }
}

// A string, not an enum, in the schema: a report passes on what the archive
// holds, and an archive shared with another version may hold a name this one
// does not know (see the type's doc).
#[cfg(feature = "schema")]
impl schemars::JsonSchema for FirstSeenFrom {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FirstSeenFrom".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_serde_writes() {
        for c in FindingCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
            assert_eq!(
                serde_json::from_value::<FindingCode>(c.as_str().into()).unwrap(),
                *c
            );
        }
        for s in Stage::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(serde_json::to_value(Stage::Match).unwrap(), "match");
    }

    #[test]
    fn first_seen_from_keeps_names_it_does_not_know() {
        for name in [
            "exif",
            "mtime",
            "given",
            "manifest",
            "recorded",
            "hash_list",
        ] {
            let v: FirstSeenFrom = serde_json::from_value(name.into()).unwrap();
            assert!(!matches!(v, FirstSeenFrom::Other(_)), "{name}");
            assert_eq!(serde_json::to_value(&v).unwrap(), name);
        }
        let v: FirstSeenFrom = serde_json::from_value("carrier_pigeon".into()).unwrap();
        assert_eq!(v, FirstSeenFrom::Other("carrier_pigeon".into()));
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"carrier_pigeon\"");
    }

    #[test]
    fn every_finding_code_and_stage_is_in_the_report_docs() {
        let doc = include_str!("../docs/report.md");
        let row = |field: &str| {
            doc.lines()
                .find(|l| l.starts_with(&format!("| `{field}` |")))
                .unwrap_or_else(|| panic!("docs/report.md has no `{field}` row"))
        };
        let (findings, errors) = (row("findings"), row("errors"));
        for c in FindingCode::ALL {
            assert!(
                findings.contains(&format!("`{c}`")),
                "docs/report.md does not list `{c}`"
            );
        }
        for s in Stage::ALL {
            assert!(
                errors.contains(&format!("`{s}`")),
                "docs/report.md does not list stage `{s}`"
            );
        }
    }
}
