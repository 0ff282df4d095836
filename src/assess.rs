//! Pure policy: turns what the other stages found (metadata, matches, the
//! claim being checked) into findings with reasons a person can act on. No I/O,
//! no thresholds on hashes (matching owns those).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::evidence::{Confidence, Finding, FindingCode, Match, Severity};
use crate::metadata::c2pa::ValidationState;
use crate::metadata::container::AppId;
use crate::metadata::Metadata;

/// What the picture is claimed to show, when the user says so.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claim {
    /// The date the picture is claimed to have been taken.
    pub date: Option<NaiveDate>,
    /// The place the picture is claimed to have been taken.
    pub location: Option<ClaimedPlace>,
}

/// A claimed place: a point and how far from it still counts as "there".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClaimedPlace {
    /// Signed decimal degrees, south negative.
    pub latitude: f64,
    /// Signed decimal degrees, west negative.
    pub longitude: f64,
    /// Kilometres around the point that still count as the claimed place.
    pub radius_km: f64,
}

/// Radius used when a claimed place is given without one: a city and its
/// outskirts, wide enough for phone GPS error and "near X" captions.
pub const DEFAULT_CLAIM_RADIUS_KM: f64 = 25.0;

/// Parse `LAT,LON[,RADIUS_KM]` (decimal degrees, south and west negative).
pub fn parse_location(s: &str) -> Option<ClaimedPlace> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect::<Option<_>>()?;
    let (latitude, longitude, radius_km) = match parts.as_slice() {
        [a, b] => (*a, *b, DEFAULT_CLAIM_RADIUS_KM),
        [a, b, r] => (*a, *b, *r),
        _ => return None,
    };
    ((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude) && radius_km > 0.0)
        .then_some(ClaimedPlace {
            latitude,
            longitude,
            radius_km,
        })
}

/// Mean Earth radius (IUGG), km.
const EARTH_RADIUS_KM: f64 = 6371.0088;

fn haversine(lat1: f64, lon1: f64, lat2: f64, lon2: f64, radius: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * radius * a.sqrt().min(1.0).asin()
}

/// Great-circle distance in km between two points in decimal degrees.
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    haversine(lat1, lon1, lat2, lon2, EARTH_RADIUS_KM)
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
    /// The embedded thumbnail compared with the main picture, when both decoded.
    pub thumbnail: Option<&'a crate::hash::thumbnail::ThumbnailComparison>,
    /// The MPF preview compared with the main picture, when both decoded.
    pub preview: Option<&'a crate::hash::thumbnail::PreviewComparison>,
    /// The animation's frames, when the picture is animated.
    pub animation: Option<&'a crate::decode::Animation>,
}

/// Turn the evidence into findings, most severe first.
pub fn assess(input: &Inputs<'_>) -> Vec<Finding> {
    let mut f = Vec::new();
    if !input.archive_searched {
        f.push(Finding::new(
            FindingCode::NoArchive,
            Severity::Info,
            "No archive was searched: earlier copies cannot be found without one (--archive or RETRACE_ARCHIVE).",
        ));
    }
    if let Some(reason) = &input.unmatchable {
        f.push(Finding::new(
            FindingCode::Unmatchable,
            Severity::Warning,
            reason.clone(),
        ));
    }
    if let Some(exact) = input.matches.iter().find(|m| m.exact) {
        f.push(Finding::new(
            FindingCode::ExactCopy,
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
            FindingCode::EarlierCopy,
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
            FindingCode::EarlierCopy,
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
                    FindingCode::EarlierCopyBeforeClaim,
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
                FindingCode::CaptureDateBeforeClaim,
                Severity::High,
                format!(
                    "The camera recorded a capture date of {taken}, {} before the claimed date {claim}.",
                    describe_gap(taken, claim)
                ),
            ));
        }
    }
    if let Some(a) = input.animation {
        f.push(animation(a));
    }
    if let Some(place) = input.claim.location {
        claimed_place(input.metadata, place, &mut f);
    }
    if let Some(meta) = input.metadata {
        if let Some(cc) = meta.container.as_ref().and_then(|c| c.c2pa.as_ref()) {
            content_credentials(cc, &mut f);
        }
        if let Some(finding) = declared_ai(meta) {
            f.push(finding);
        }
        if meta.exif.is_empty() {
            f.push(Finding::new(
                FindingCode::NoMetadata,
                Severity::Info,
                "The file carries no EXIF metadata, typical of a copy re-encoded by a platform or messenger.",
            ));
        }
        edited_with_software(meta, &mut f);
        if let Some(c) = &meta.container {
            if let Some(msg) = reencoded(meta, c) {
                f.push(Finding::new(FindingCode::Reencoded, Severity::Warning, msg));
            }
        }
        date_inconsistent(meta, &mut f);
        if let Some(t) = input.thumbnail.filter(|t| !t.same_picture) {
            f.push(thumbnail_mismatch(t));
        }
        if let Some(p) = input.preview.filter(|p| !p.comparison.same_picture) {
            f.push(preview_mismatch(p));
        }
        if let Some(gps) = &meta.gps {
            f.push(Finding::new(
                FindingCode::GpsPresent,
                Severity::Info,
                format!(
                    "The file records a GPS position: {:.5}, {:.5}.",
                    gps.latitude, gps.longitude
                ),
            ));
        }
        if !meta.warnings.is_empty() {
            f.push(Finding::new(
                FindingCode::MetadataDamaged,
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

/// The editors among `agents`, each once, the first five quoted and joined;
/// `None` when there is none.
fn editor_names<'a>(agents: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut seen: Vec<&str> = Vec::new();
    for a in agents {
        if is_editor(a) && !seen.contains(&a) {
            seen.push(a);
        }
    }
    (!seen.is_empty()).then(|| {
        seen.iter()
            .take(5)
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    })
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
        if let Some(names) =
            editor_names(x.history.iter().filter_map(|h| h.software_agent.as_deref()))
        {
            said.push(format!("XMP History {names}"));
        }
    }
    if let Some(cc) = meta.container.as_ref().and_then(|c| c.c2pa.as_ref()) {
        let agents = cc
            .manifests
            .iter()
            .flat_map(|m| &m.actions)
            .filter_map(|a| a.software_agent.as_deref());
        if let Some(names) = editor_names(agents) {
            said.push(format!("Content Credentials actions by {names}"));
        }
    }
    if !said.is_empty() {
        f.push(Finding::new(
            FindingCode::EditedWithSoftware,
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
fn reencoded(meta: &Metadata, c: &crate::metadata::container::Container) -> Option<String> {
    let j = c.jpeg.as_ref()?;
    if j.exif || !meta.exif.is_empty() {
        return None;
    }
    let jfif_only = j.jfif
        && j.segments
            .iter()
            .filter(|s| s.marker.is_app())
            .all(|s| s.marker.app == Some(AppId::Jfif));
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
    let mut others: Vec<(&str, &str)> = Vec::new();
    if let Some(c) = &meta.container {
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
    if let Some(why) = gps_time_gap(meta, orig, exif_t) {
        bad.push(why);
    }
    if !bad.is_empty() {
        f.push(Finding::new(
            FindingCode::DateInconsistent,
            Severity::Warning,
            format!(
                "The file's dates disagree by more than time zones explain: EXIF DateTimeOriginal {orig} vs {}.",
                bad.join(", ")
            ),
        ));
    }
}

/// GPS time (UTC, from the satellites) against the camera's clock. With
/// OffsetTimeOriginal the two are compared in UTC and may differ by
/// [`GPS_MARGIN_WITH_OFFSET_H`] (a stale fix); without it the local time may be
/// up to 14 h from UTC, so only more than [`GPS_MARGIN_NO_OFFSET_H`] counts.
fn gps_time_gap(meta: &Metadata, orig: &str, exif_t: chrono::NaiveDateTime) -> Option<String> {
    let g = meta.gps.as_ref()?.timestamp.as_deref()?;
    let gps = chrono::DateTime::parse_from_rfc3339(g).ok()?.naive_utc();
    let (minutes, margin) = match chrono::DateTime::parse_from_rfc3339(orig) {
        Ok(local) => (
            (local.naive_utc() - gps).num_minutes(),
            GPS_MARGIN_WITH_OFFSET_H,
        ),
        Err(_) => ((exif_t - gps).num_minutes(), GPS_MARGIN_NO_OFFSET_H),
    };
    let hours = minutes.abs() as f64 / 60.0;
    (hours > margin).then(|| {
        format!("GPS time {g} ({hours:.1} h apart; the camera clock was wrong, or the time or the GPS data was changed)")
    })
}

/// Hours GPS time and capture time may differ when the capture time has an offset.
const GPS_MARGIN_WITH_OFFSET_H: f64 = 2.0;
/// Hours they may differ without an offset: 14 h of time zones plus a stale fix.
const GPS_MARGIN_NO_OFFSET_H: f64 = 15.0;

fn thumbnail_mismatch(t: &crate::hash::thumbnail::ThumbnailComparison) -> Finding {
    let d = t.distances();
    let framing = (t.aspect_main / t.aspect_thumbnail - 1.0).abs() > 0.05;
    Finding::new(
        FindingCode::ThumbnailMismatch,
        Severity::Warning,
        format!(
            "{} shows a different picture{} than the main image ({d}; aspect {:.2} vs {:.2}): the picture was probably cropped or edited after it was taken, and the thumbnail may show the earlier version.",
            match t.heif_item {
                Some(id) => format!("The HEIF thumbnail (item {id})"),
                None => "The embedded EXIF thumbnail".to_string(),
            },
            if framing { " or framing" } else { "" },
            t.aspect_main,
            t.aspect_thumbnail
        ),
    )
}

/// A sibling of `thumbnail_mismatch` rather than the same code: the two are
/// separate evidence (an editor may keep one and drop the other), both can
/// fire on one file, and a reader filtering on either code keeps its meaning.
fn preview_mismatch(p: &crate::hash::thumbnail::PreviewComparison) -> Finding {
    let t = &p.comparison;
    let d = t.distances();
    let framing = (t.aspect_main / t.aspect_thumbnail - 1.0).abs() > 0.05;
    Finding::new(
        FindingCode::PreviewMismatch,
        Severity::Warning,
        format!(
            "The MPF preview (entry {}, the larger copy the camera or phone appended after the picture) shows a different picture{} than the main image ({d}; aspect {:.2} vs {:.2}): the picture was probably cropped or edited after it was taken, and the preview may show the earlier version.",
            p.mpf_entry,
            if framing { " or framing" } else { "" },
            t.aspect_main,
            t.aspect_thumbnail
        ),
    )
}

/// An animation: how long, and whether a later frame shows another picture
/// than the first, which is the one hashed and matched.
fn animation(a: &crate::decode::Animation) -> Finding {
    let frames = if a.frames_truncated {
        format!("at least {} frames", a.frames)
    } else {
        format!("{} frames", a.frames)
    };
    let seconds = a.duration_ms as f64 / 1000.0;
    match &a.differing_frame {
        Some(d) => Finding::new(
            FindingCode::AnimationFrameDiffers,
            Severity::Warning,
            format!(
                "The picture is an animation of {frames} ({seconds:.1} s), and frame {} (shown at {:.1} s) differs from the first as much as another picture does ({}): the picture that circulated may be a later frame. Only the first frame was hashed and matched against the archive.",
                d.index + 1,
                d.at_ms as f64 / 1000.0,
                d.distance
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        None => Finding::new(
            FindingCode::Animated,
            Severity::Info,
            format!(
                "The picture is an animation of {frames} ({seconds:.1} s); the first frame was hashed and matched, and {} later frame(s) compared with it all show the same picture.",
                a.frames_compared
            ),
        ),
    }
}

/// GPS position against the claimed place.
fn claimed_place(meta: Option<&Metadata>, place: ClaimedPlace, f: &mut Vec<Finding>) {
    let Some(gps) = meta.and_then(|m| m.gps.as_ref()) else {
        f.push(Finding::new(
            FindingCode::ClaimLocationUnchecked,
            Severity::Info,
            "The file records no GPS position: the claimed place cannot be checked against it.",
        ));
        return;
    };
    let km = distance_km(gps.latitude, gps.longitude, place.latitude, place.longitude);
    if km > place.radius_km {
        f.push(Finding::new(
            FindingCode::LocationFarFromClaim,
            Severity::High,
            format!(
                "The file's GPS position {:.5}, {:.5} is {km:.0} km from the claimed place {:.5}, {:.5} (allowed radius {} km).",
                gps.latitude, gps.longitude, place.latitude, place.longitude, place.radius_km
            ),
        ));
    } else {
        f.push(Finding::new(
            FindingCode::LocationNearClaim,
            Severity::Info,
            format!(
                "The file's GPS position is {km:.1} km from the claimed place, within the {} km radius; GPS metadata can be edited, so this supports the claim without proving it.",
                place.radius_km
            ),
        ));
    }
}

/// IPTC digital source types that mean generative AI made the picture or part of it.
const GENERATIVE_SOURCE_TYPES: &[&str] = &[
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
];

fn content_credentials(cc: &crate::metadata::c2pa::ContentCredentials, f: &mut Vec<Finding>) {
    let active = cc.manifests.last();
    let signer = active.and_then(|m| m.signature.as_ref()).map(|s| {
        let who = [s.common_name.as_deref(), s.issuer.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        match &s.time {
            Some(t) => format!("signed by {who} at {t} (time-stamp)"),
            None => format!("signed by {who} (no time-stamp)"),
        }
    });
    let generator = active.and_then(|m| {
        m.claim_generator
            .clone()
            .or_else(|| m.claim_generator_info.first().cloned())
    });
    let mut what = Vec::new();
    what.extend(signer);
    what.extend(generator.map(|g| format!("made with {g}")));
    if let Some(m) = active {
        let acts: Vec<&str> = m
            .actions
            .iter()
            .map(|a| a.action.as_str())
            .take(8)
            .collect();
        if !acts.is_empty() {
            what.push(format!("actions {}", acts.join(", ")));
        }
    }
    match cc.validation_state {
        ValidationState::Invalid => {
            let failures: Vec<String> = active
                .map(|m| {
                    m.validation
                        .iter()
                        .filter(|s| !s.success)
                        .map(|s| format!("{} ({})", s.code, s.explanation))
                        .take(5)
                        .collect()
                })
                .unwrap_or_default();
            f.push(Finding::new(
                FindingCode::ContentCredentialsInvalid,
                Severity::High,
                format!(
                    "The file carries Content Credentials (C2PA) that do not check out: {}{}. The picture or its manifest was changed after signing, or the manifest is broken.",
                    if failures.is_empty() { "no readable manifest".to_string() } else { failures.join("; ") },
                    if what.is_empty() { String::new() } else { format!("; it says: {}", what.join("; ")) }
                ),
            ));
        }
        state => f.push(Finding::new(
            FindingCode::ContentCredentials,
            Severity::Info,
            format!(
                "The file carries Content Credentials (C2PA){}. {} The signer was not checked against a trust list (offline): anyone can sign.",
                if what.is_empty() { String::new() } else { format!(": {}", what.join("; ")) },
                if state == ValidationState::Valid {
                    "The signature and the file's bytes check out."
                } else {
                    "Not every check could be done (see metadata.container.c2pa.not_checked)."
                }
            ),
        )),
    }
}

/// Generator names that tool fields (EXIF Software, XMP CreatorTool and
/// History agents, PNG Software/Source chunks) carry when an image generator
/// wrote the file, matched case-insensitively as substrings. Only names that
/// mean an image generator and nothing else: "Imagen" alone is Spanish for
/// "image", "Flux" and "Gemini" name other software too.
const GENERATORS: &[(&str, &str)] = &[
    ("midjourney", "Midjourney"),
    ("dall-e", "DALL-E"),
    ("dall·e", "DALL-E"),
    ("chatgpt", "ChatGPT"),
    ("openai", "OpenAI"),
    ("stable diffusion", "Stable Diffusion"),
    ("stablediffusion", "Stable Diffusion"),
    ("stability ai", "Stability AI"),
    ("dreamstudio", "DreamStudio"),
    ("sdxl", "Stable Diffusion XL"),
    ("novelai", "NovelAI"),
    ("comfyui", "ComfyUI"),
    ("invokeai", "InvokeAI"),
    ("automatic1111", "Stable Diffusion web UI"),
    ("fooocus", "Fooocus"),
    ("adobe firefly", "Adobe Firefly"),
    ("google imagen", "Google Imagen"),
    ("bing image creator", "Bing Image Creator"),
    ("image creator from microsoft", "Bing Image Creator"),
    ("leonardo.ai", "Leonardo.Ai"),
    ("ideogram", "Ideogram"),
    ("draw things", "Draw Things"),
    ("craiyon", "Craiyon"),
    ("nightcafe", "NightCafe"),
    ("playground ai", "Playground AI"),
    ("flux.1", "FLUX.1"),
];

/// The generator a tool field names, if any.
fn generator_named(s: &str) -> Option<&'static str> {
    let lower = s.to_lowercase();
    GENERATORS
        .iter()
        .find(|(needle, _)| lower.contains(needle))
        .map(|(_, name)| *name)
}

/// What a PNG text chunk that image generators write says about its
/// writer: the chunk names (and for the generic ones, the shape of the
/// text) of the Stable Diffusion front ends, which store their prompt and
/// settings this way. `None` for any other chunk.
fn generator_chunk(keyword: &str, text: &str) -> Option<&'static str> {
    match keyword {
        // AUTOMATIC1111, Forge, SD.Next: "prompt\nNegative prompt: …\nSteps: 20, Sampler: …, Seed: …".
        "parameters"
            if text.contains("Steps:") && (text.contains("Sampler:") || text.contains("Seed:")) =>
        {
            Some("Stable Diffusion web UI")
        }
        "parameters" | "fooocus_scheme"
            if text.to_lowercase().contains("fooocus") || keyword == "fooocus_scheme" =>
        {
            Some("Fooocus")
        }
        // ComfyUI: the node graph as JSON.
        "prompt" | "workflow"
            if text.trim_start().starts_with('{')
                && (text.contains("class_type") || text.contains("\"nodes\"")) =>
        {
            Some("ComfyUI")
        }
        "invokeai_metadata" | "invokeai_graph" | "sd-metadata" | "Dream" => Some("InvokeAI"),
        "sui_image_params" => Some("StableSwarmUI"),
        _ => None,
    }
}

/// IPTC digital source types (the last path segment of the term's URI)
/// that mean generative AI made the picture or part of it.
fn generative_source_type(uri: &str) -> Option<&str> {
    let kind = uri.trim().trim_end_matches('/').rsplit('/').next()?;
    GENERATIVE_SOURCE_TYPES.contains(&kind).then_some(kind)
}

/// One `generative_ai` finding naming every place where the file declares
/// that generative AI made it: Content Credentials actions, the IPTC digital
/// source type in XMP, PNG text chunks of image generators, generator names
/// in the tool fields. Only declarations count; nothing here looks at pixels,
/// and the finding says that a file without one proves nothing.
fn declared_ai(meta: &Metadata) -> Option<Finding> {
    let mut said: Vec<String> = Vec::new();
    let mut say = |s: String| {
        if !said.contains(&s) && said.len() < 8 {
            said.push(s);
        }
    };
    let container = meta.container.as_ref();
    if let Some(cc) = container.and_then(|c| c.c2pa.as_ref()) {
        for a in cc.manifests.iter().flat_map(|m| &m.actions) {
            if let Some(kind) = a
                .digital_source_type
                .as_deref()
                .and_then(generative_source_type)
            {
                say(format!("Content Credentials action {} ({kind})", a.action));
            }
        }
    }
    if let Some(x) = container.and_then(|c| c.xmp.as_ref()) {
        if let Some(kind) = x
            .digital_source_type
            .as_deref()
            .and_then(generative_source_type)
        {
            say(format!("XMP Iptc4xmpExt:DigitalSourceType {kind}"));
        }
        if let Some(g) = x.creator_tool.as_deref().and_then(generator_named) {
            say(format!("XMP CreatorTool names {g}"));
        }
        for h in x.history.iter().filter_map(|h| h.software_agent.as_deref()) {
            if let Some(g) = generator_named(h) {
                say(format!("XMP History agent names {g}"));
            }
        }
    }
    if let Some(g) = meta.software.as_deref().and_then(generator_named) {
        say(format!("EXIF Software names {g}"));
    }
    for t in container.map(|c| c.png_text.as_slice()).unwrap_or_default() {
        if let Some(g) = generator_chunk(&t.keyword, &t.text) {
            say(format!(
                "PNG text chunk {:?} as {g} writes it (prompt and settings)",
                t.keyword
            ));
        } else if matches!(
            t.keyword.as_str(),
            "Software" | "Source" | "Generator" | "Creator Tool"
        ) {
            if let Some(g) = generator_named(&t.text) {
                say(format!("PNG text chunk {:?} names {g}", t.keyword));
            }
        }
    }
    (!said.is_empty()).then(|| {
        Finding::new(
            FindingCode::GenerativeAi,
            Severity::Warning,
            format!(
                "The file declares that generative AI made this picture or part of it: {}. This is what the file says, not a reading of the pixels, and such a declaration can be removed or added; a picture without one may still be generated: a missing declaration proves nothing.",
                said.join("; ")
            ),
        )
    })
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
            first_seen_from: crate::evidence::FirstSeenFrom::Given,
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
            chance: None,
            geometry: None,
            hash_only: false,
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
            ..Claim::default()
        };
        let f = assess(&Inputs {
            metadata: Some(&meta),
            matches: &matches,
            archive_searched: true,
            claim: &claim,
            unmatchable: None,
            thumbnail: None,
            preview: None,
            animation: None,
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
            thumbnail: None,
            preview: None,
            animation: None,
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
            thumbnail: None,
            preview: None,
            animation: None,
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
            thumbnail: None,
            preview: None,
            animation: None,
        })
    }

    fn jpeg(exif: bool, quality: u8, standard: bool) -> crate::metadata::container::JpegStructure {
        use crate::metadata::container::{JpegStructure, Marker, Segment};
        let mut segments = vec![Segment {
            marker: Marker {
                code: 0xE0,
                app: Some(AppId::Jfif),
            },
            offset: 2,
            length: 16,
        }];
        if exif {
            segments.push(Segment {
                marker: Marker {
                    code: 0xE1,
                    app: Some(AppId::Exif),
                },
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
        use crate::metadata::container::{Container, HistoryEvent, Xmp};
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
        use crate::metadata::container::Container;
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
        use crate::metadata::container::{Container, Iptc, Xmp};
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

    #[test]
    fn haversine_matches_the_rosetta_code_reference() {
        // Rosetta Code "Haversine formula": Nashville BNA (36.12, -86.67) to
        // Los Angeles LAX (33.94, -118.40) with R = 6372.8 km is 2887.2599506 km.
        let d = haversine(36.12, -86.67, 33.94, -118.40, 6372.8);
        assert!((d - 2_887.259_950_6).abs() < 1e-4, "{d}");
        assert_eq!(distance_km(10.0, 20.0, 10.0, 20.0), 0.0);
        // Antipodes: half the circumference, no NaN from rounding.
        let half = distance_km(0.0, 0.0, 0.0, 180.0);
        assert!((half - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
    }

    #[test]
    fn claimed_locations_parse_strictly() {
        let p = parse_location("50.4501, 30.5234").unwrap();
        assert_eq!(p.radius_km, DEFAULT_CLAIM_RADIUS_KM);
        assert_eq!(parse_location("-33.9,18.4,5").unwrap().radius_km, 5.0);
        for bad in [
            "", "50", "91,0", "0,181", "1,2,0", "1,2,-3", "a,b", "1,2,3,4", "NaN,1",
        ] {
            assert!(parse_location(bad).is_none(), "{bad}");
        }
    }

    fn with_gps(lat: f64, lon: f64, original: &str, gps_time: Option<&str>) -> Metadata {
        Metadata {
            datetime_original: Some(original.into()),
            gps: Some(crate::metadata::Gps {
                latitude: lat,
                longitude: lon,
                altitude: None,
                timestamp: gps_time.map(str::to_string),
                direction: None,
                direction_ref: None,
            }),
            ..Metadata::default()
        }
    }

    fn with_claim(meta: &Metadata, place: &str) -> Vec<Finding> {
        assess(&Inputs {
            metadata: Some(meta),
            matches: &[],
            archive_searched: true,
            claim: &Claim {
                location: parse_location(place),
                ..Claim::default()
            },
            unmatchable: None,
            thumbnail: None,
            preview: None,
            animation: None,
        })
    }

    #[test]
    fn a_gps_position_far_from_the_claimed_place_is_high() {
        // Kyiv vs a claim of Kharkiv (about 410 km apart).
        let kyiv = with_gps(50.4501, 30.5234, "2022-03-01T10:00:00", None);
        let f = with_claim(&kyiv, "49.9935,36.2304");
        let far = f
            .iter()
            .find(|x| x.code == "location_far_from_claim")
            .unwrap();
        assert_eq!(far.severity, Severity::High);
        // Road atlases give about 410 km as the crow flies.
        assert!(
            far.message.contains(" 409 km") || far.message.contains(" 410 km"),
            "{}",
            far.message
        );
        let f = with_claim(&kyiv, "50.45,30.52,5");
        assert!(f.iter().any(|x| x.code == "location_near_claim"));
        assert!(f.iter().all(|x| x.code != "location_far_from_claim"));
        let f = with_claim(&Metadata::default(), "50.45,30.52");
        assert!(f.iter().any(|x| x.code == "claim_location_unchecked"));
    }

    #[test]
    fn gps_time_far_from_the_camera_clock_is_inconsistent() {
        let gap = |orig: &str, gps: &str| {
            codes_for(&with_gps(0.0, 0.0, orig, Some(gps)))
                .into_iter()
                .any(|x| x.code == "date_inconsistent")
        };
        // The shape of ExifTool's reading of exiftool-t-images/Google.jpg:
        // local time with +02:00, GPS two hours earlier in UTC.
        assert!(!gap("2016-04-29T13:24:48+02:00", "2016-04-29T11:22:59Z"));
        // The same clock, wrong by 5 hours, with a known offset.
        assert!(gap("2016-04-29T18:24:48+02:00", "2016-04-29T11:22:59Z"));
        // Without an offset, a time zone explains up to 14 h ...
        assert!(!gap("2016-04-29T23:00:00", "2016-04-29T10:00:00Z"));
        // ... but not the 22 h of exif-samples/jpg/gps/DSCN0010.jpg (camera
        // 2008-10-22 16:28, GPS 2008-10-23 14:27 UTC per ExifTool).
        assert!(gap("2008-10-22T16:28:39", "2008-10-23T14:27:07Z"));
    }

    #[test]
    fn content_credentials_become_findings() {
        use crate::metadata::c2pa::{Action, ContentCredentials, Manifest, Status, StatusCode};
        use crate::metadata::container::Container;
        let meta = |state: ValidationState, failed: bool| {
            Metadata {
            container: Some(Container {
                c2pa: Some(ContentCredentials {
                    validation_state: state,
                    manifests: vec![Manifest {
                        actions: vec![Action {
                            action: "c2pa.edited".into(),
                            software_agent: Some("Adobe Photoshop 25.0".into()),
                            digital_source_type: Some("http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia".into()),
                            ..Action::default()
                        }],
                        validation: vec![Status {
                            code: if failed { StatusCode::AssertionDataHashMismatch } else { StatusCode::ClaimSignatureValidated },
                            success: !failed,
                            url: None,
                            explanation: String::new(),
                        }],
                        ..Manifest::default()
                    }],
                    ..ContentCredentials::default()
                }),
                ..Container::default()
            }),
            ..Metadata::default()
        }
        };
        let codes = |m: &Metadata| -> Vec<FindingCode> {
            codes_for(m).into_iter().map(|f| f.code).collect()
        };
        let ok = codes(&meta(ValidationState::Valid, false));
        assert!(ok.contains(&FindingCode::ContentCredentials), "{ok:?}");
        assert!(ok.contains(&FindingCode::GenerativeAi));
        assert!(ok.contains(&FindingCode::EditedWithSoftware));
        let bad = codes_for(&meta(ValidationState::Invalid, true));
        assert_eq!(bad[0].code, "content_credentials_invalid");
        assert!(bad[0].message.contains("assertion.dataHash.mismatch"));
    }

    #[test]
    fn declared_ai_origin_is_one_finding_naming_every_declaration() {
        use crate::metadata::container::{Container, PngText, Xmp};
        let with = |xmp: Option<Xmp>, png: Vec<(&str, &str)>, software: Option<&str>| Metadata {
            software: software.map(str::to_string),
            container: Some(Container {
                xmp,
                png_text: png
                    .into_iter()
                    .map(|(k, t)| PngText {
                        keyword: k.into(),
                        text: t.into(),
                    })
                    .collect(),
                ..Container::default()
            }),
            ..Metadata::default()
        };
        let ai = |m: &Metadata| -> Vec<Finding> {
            codes_for(m)
                .into_iter()
                .filter(|f| f.code == "generative_ai")
                .collect()
        };
        let iptc = |term: &str| Xmp {
            digital_source_type: Some(format!(
                "http://cv.iptc.org/newscodes/digitalsourcetype/{term}"
            )),
            ..Xmp::default()
        };
        // What AUTOMATIC1111's web UI writes into its PNGs.
        let a1111 = "a lighthouse in a storm\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1234, Size: 512x512, Model: sd_xl_base_1.0";
        let all = with(
            Some(iptc("trainedAlgorithmicMedia")),
            vec![("parameters", a1111)],
            Some("Midjourney"),
        );
        let f = ai(&all);
        assert_eq!(f.len(), 1, "{f:?}");
        let m = &f[0].message;
        assert!(
            m.contains("XMP Iptc4xmpExt:DigitalSourceType trainedAlgorithmicMedia"),
            "{m}"
        );
        assert!(
            m.contains("PNG text chunk \"parameters\" as Stable Diffusion web UI writes it"),
            "{m}"
        );
        assert!(m.contains("EXIF Software names Midjourney"), "{m}");
        assert!(m.contains("a missing declaration proves nothing"), "{m}");

        // Each declaration alone is enough.
        assert_eq!(
            ai(&with(
                Some(iptc("compositeWithTrainedAlgorithmicMedia")),
                vec![],
                None
            ))
            .len(),
            1
        );
        assert_eq!(
            ai(&with(
                None,
                vec![(
                    "prompt",
                    r#"{"3": {"class_type": "KSampler", "inputs": {}}}"#
                )],
                None
            ))
            .len(),
            1
        );
        assert_eq!(
            ai(&with(None, vec![("Software", "NovelAI")], None)).len(),
            1
        );
        let tool = Xmp {
            creator_tool: Some("Adobe Firefly".into()),
            ..Xmp::default()
        };
        assert_eq!(ai(&with(Some(tool), vec![], None)).len(), 1);

        // Nothing is inferred from what is not a declaration.
        for quiet in [
            with(
                Some(iptc("digitalCapture")),
                vec![],
                Some("Adobe Photoshop 25.0"),
            ),
            with(Some(iptc("algorithmicallyEnhanced")), vec![], None),
            with(None, vec![("parameters", "exposure=3")], Some("GIMP 2.10")),
            with(
                None,
                vec![("prompt", "say cheese"), ("Comment", "Stable lighting")],
                None,
            ),
            with(None, vec![("Software", "Editor de imagen 2.0")], None),
        ] {
            assert!(ai(&quiet).is_empty(), "{quiet:?}");
        }
    }
}
