//! Human-readable presentation: the `check` page (verdict first) and the
//! `scan` summary table. Every value that came from a file or a file name is
//! escaped before it reaches the terminal.

use std::io::{self, Write};

use super::{escape_untrusted as esc, CopyRef, Outcome, Report};
use crate::evidence::{Confidence, Match, Severity};

fn verdict(r: &Report) -> String {
    if !r.errors.is_empty() && r.sha256.is_none() {
        return "Could not be read; see errors.".to_string();
    }
    match &r.earliest_copy {
        Some(m) => format!(
            "{} earlier copy: first seen {} — {}",
            match m.confidence {
                Confidence::Confirmed => "Confirmed",
                Confidence::Possible => "Possible",
            },
            esc(&m.first_seen),
            esc(&origin(CopyRef::of(m)))
        ),
        None if r.archive.searched => format!(
            "No earlier copy in the archive ({} images searched).{}",
            r.archive.images.unwrap_or(0),
            if r.archive.crop_search_off() {
                super::CROP_SEARCH_OFF_NOTE
            } else {
                ""
            }
        ),
        None => {
            "No archive searched (--archive or RETRACE_ARCHIVE): only the file itself was examined."
                .to_string()
        }
    }
}

fn origin(m: CopyRef<'_>) -> String {
    match (m.source, m.url) {
        (s, Some(u)) if !s.is_empty() => format!("{s} <{u}> ({})", m.path),
        (s, None) if !s.is_empty() => format!("{s} ({})", m.path),
        _ => m.path.to_string(),
    }
}

fn match_detail(m: &Match) -> String {
    let mut parts = vec![format!(
        "{}{}",
        match m.confidence {
            Confidence::Confirmed => "confirmed",
            Confidence::Possible => "possible — a person must compare",
        },
        if m.exact { ", identical file" } else { "" }
    )];
    if m.hash_only {
        parts.push("hash-only entry from a shared hash list, judged on its hashes alone".into());
    }
    if m.transform != "identity" {
        parts.push(format!("transform {}", m.transform));
    }
    if let Some(r) = &m.region {
        parts.push(r.description.clone());
    }
    if !m.distance.is_empty() {
        parts.push(
            m.distance
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    parts.push(format!("date from {}", m.first_seen_from));
    parts.join("; ")
}

fn sev(s: Severity) -> &'static str {
    match s {
        Severity::High => "HIGH",
        Severity::Warning => "warn",
        Severity::Info => "info",
    }
}

/// The MPF index in one line: what it lists and how much of it the file
/// still holds. `None` without an index.
pub(crate) fn mpf_summary(j: &crate::metadata::container::JpegStructure) -> Option<String> {
    if j.mpf_images.is_empty() {
        return None;
    }
    let kinds = j
        .mpf_images
        .iter()
        .map(|m| m.type_name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let misfit = j.mpf_images.iter().filter(|m| !m.jpeg_soi).count();
    Some(format!(
        "{} picture(s) listed: {kinds}{}{}",
        j.mpf_images.len(),
        if j.mpf_images_truncated { ", …" } else { "" },
        if misfit > 0 {
            format!("; {misfit} not where the index says (the file was cut or rewritten)")
        } else {
            String::new()
        }
    ))
}

/// An embedded copy (EXIF thumbnail, MPF preview) against the main picture,
/// in one line. Numbers only: nothing here comes from the file as text.
pub(crate) fn comparison(t: &crate::hash::thumbnail::ThumbnailComparison) -> String {
    let d = t.distances();
    format!(
        "{}: {}×{}, aspect {:.2} vs {:.2} for the main picture ({d})",
        if t.same_picture {
            "same picture"
        } else {
            "ANOTHER picture or framing"
        },
        t.width,
        t.height,
        t.aspect_thumbnail,
        t.aspect_main
    )
}

/// Which picture of the file was hashed, when it is not simply the file's
/// picture: a HEIF's primary image, a RAW's preview, an animation's first
/// frame.
pub(crate) fn decoded_from(d: &crate::decode::DecodeInfo) -> Option<String> {
    use crate::decode::DecodeSource;
    match d.source {
        DecodeSource::HeifPrimary => Some("the primary image, as shown (libheif)".into()),
        DecodeSource::RawPreview => d.raw_preview.as_ref().map(|p| {
            format!(
                "the RAW's embedded JPEG preview, {}×{} ({}; the largest of {})",
                p.width, p.height, p.location, p.candidates
            )
        }),
        DecodeSource::FirstFrame => d.animation.as_ref().map(|a| {
            format!(
                "the first frame of {}{} frames, {:.1} s",
                if a.frames_truncated { "at least " } else { "" },
                a.frames,
                a.duration_ms as f64 / 1000.0
            )
        }),
        DecodeSource::Image => None,
    }
}

/// The `check` page: verdict, findings, metadata, other matches, hashes, errors.
pub fn write_check(out: &mut impl Write, r: &Report) -> io::Result<()> {
    writeln!(out, "{}", esc(&r.path))?;
    writeln!(out, "  {}", verdict(r))?;
    if let Some(m) = &r.earliest_copy {
        writeln!(out, "  {}", esc(&match_detail(m)))?;
    }
    if let Some(c) = &r.claim_date {
        writeln!(out, "  Claimed date checked: {}", esc(c))?;
    }
    if let Some(p) = &r.claim_location {
        writeln!(
            out,
            "  Claimed place checked: {:.5}, {:.5} (within {} km)",
            p.latitude, p.longitude, p.radius_km
        )?;
    }
    if !r.findings.is_empty() {
        writeln!(out, "\nFindings")?;
        for f in &r.findings {
            writeln!(
                out,
                "  [{}] {}: {}",
                sev(f.severity),
                f.code,
                esc(&f.message)
            )?;
        }
    }
    writeln!(out, "\nThe file")?;
    if let Some(meta) = &r.metadata {
        let row = |out: &mut dyn Write, k: &str, v: Option<String>| -> io::Result<()> {
            if let Some(v) = v {
                writeln!(out, "  {k:<12} {}", esc(&v))?;
            }
            Ok(())
        };
        row(out, "Captured", meta.datetime_original.clone())?;
        let camera = match (&meta.make, &meta.model) {
            (Some(a), Some(b)) if b.starts_with(a.as_str()) => Some(b.clone()),
            (Some(a), Some(b)) => Some(format!("{a} {b}")),
            (a, b) => a.clone().or(b.clone()),
        };
        row(out, "Camera", camera)?;
        row(out, "Software", meta.software.clone())?;
        row(
            out,
            "GPS",
            meta.gps.as_ref().map(|g| {
                format!(
                    "{:.6}, {:.6}{}  https://www.openstreetmap.org/?mlat={:.6}&mlon={:.6}",
                    g.latitude,
                    g.longitude,
                    g.altitude
                        .map(|a| format!(", {a:.0} m"))
                        .unwrap_or_default(),
                    g.latitude,
                    g.longitude
                )
            }),
        )?;
        if let Some(cc) = meta.container.as_ref().and_then(|c| c.c2pa.as_ref()) {
            let active = cc.manifests.last();
            let signer = active
                .and_then(|m| m.signature.as_ref())
                .and_then(|s| s.common_name.clone().or(s.issuer.clone()))
                .unwrap_or_else(|| "unknown signer".into());
            let tool = active
                .and_then(|m| {
                    m.claim_generator
                        .clone()
                        .or_else(|| m.claim_generator_info.first().cloned())
                })
                .unwrap_or_default();
            row(
                out,
                "C2PA",
                Some(format!(
                    "{} ({} manifest(s); signed by {signer}; {tool}; trust not checked offline)",
                    cc.validation_state,
                    cc.manifests.len()
                )),
            )?;
        }
        row(out, "Orientation", meta.orientation.map(|o| o.to_string()))?;
        row(out, "Modified", meta.datetime_modified.clone())?;
        if let Some(c) = &meta.container {
            if let Some(j) = &c.jpeg {
                let mut enc = j
                    .encoder
                    .clone()
                    .unwrap_or_else(|| "no quantization tables".into());
                if let Some(sub) = &j.subsampling {
                    enc.push_str(&format!(", {sub}"));
                }
                if j.progressive {
                    enc.push_str(", progressive");
                }
                row(out, "Encoder", Some(enc))?;
                row(out, "MPF", mpf_summary(j))?;
            }
            if let Some(x) = &c.xmp {
                row(out, "XMP tool", x.creator_tool.clone())?;
            }
            if let Some(i) = &c.iptc {
                row(out, "Caption", i.caption.clone())?;
                row(
                    out,
                    "By-line",
                    (!i.byline.is_empty()).then(|| i.byline.join("; ")),
                )?;
                row(out, "Credit", i.credit.clone())?;
            }
        }
        if meta.exif.is_empty() {
            writeln!(out, "  {:<12} none", "EXIF")?;
        } else {
            writeln!(
                out,
                "  {:<12} {} fields (all of them with --json)",
                "EXIF",
                meta.exif.len()
            )?;
        }
    }
    if let (Some(f), Some(w), Some(h)) = (&r.format, r.width, r.height) {
        writeln!(
            out,
            "  {:<12} {f}, {w}×{h}, {} bytes",
            "Image",
            r.bytes.unwrap_or(0)
        )?;
    }
    if let Some(d) = r.decode.as_ref().and_then(decoded_from) {
        writeln!(out, "  {:<12} {d}", "Hashed")?;
    }
    if let Some(t) = &r.thumbnail_comparison {
        writeln!(out, "  {:<12} {}", "Thumbnail", comparison(t))?;
    }
    if let Some(p) = &r.preview_comparison {
        writeln!(
            out,
            "  {:<12} MPF entry {}: {}",
            "Preview",
            p.mpf_entry,
            comparison(&p.comparison)
        )?;
    }
    if let Some(s) = &r.sha256 {
        writeln!(out, "  {:<12} {s}", "SHA-256")?;
    }
    if r.matches.len() > 1 {
        writeln!(out, "\nAll matches (earliest first)")?;
        for m in &r.matches {
            writeln!(
                out,
                "  {}  {}\n      {}",
                esc(&m.first_seen),
                esc(&origin(CopyRef::of(m))),
                esc(&match_detail(m))
            )?;
        }
    }
    if !r.hashes.is_empty() {
        writeln!(out, "\nHashes")?;
        for (k, v) in &r.hashes {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            writeln!(out, "  {k:<12} {v}")?;
        }
    }
    if !r.errors.is_empty() {
        writeln!(out, "\nErrors")?;
        for e in &r.errors {
            writeln!(out, "  {}: {}", e.stage, esc(&e.message))?;
        }
    }
    Ok(())
}

/// One line of the `scan` table (and of `watch`).
pub fn summary_line(r: &Report) -> String {
    outcome_line(&r.outcome())
}

/// One line of the `scan` table, from what the batch kept.
pub fn outcome_line(r: &Outcome<'_>) -> String {
    let status = if !r.readable || (!r.errors.is_empty() && !r.hashed) {
        format!(
            "ERROR  {}",
            r.errors
                .first()
                .map(|e| format!("{}: {}", e.stage, e.message))
                .unwrap_or_default()
        )
    } else if let Some(m) = r.earliest_copy {
        format!(
            "{}  first seen {}  {}{}",
            match m.confidence {
                Confidence::Confirmed => "EARLIER COPY",
                Confidence::Possible => "POSSIBLE COPY",
            },
            m.first_seen,
            origin(m),
            if m.transform != "identity" {
                format!("  [{}]", m.transform)
            } else {
                String::new()
            }
        )
    } else if r.archive_searched && r.crop_search_off {
        "new: no earlier copy (crop search off)".to_string()
    } else if r.archive_searched {
        "new: no earlier copy".to_string()
    } else {
        "not matched: no archive".to_string()
    };
    format!("{}  {}", esc(r.path), esc(&status))
}

/// The `scan` table with a closing count; the rows come one at a time so that
/// a batch need not hold them all.
pub fn write_summary<'a>(
    out: &mut impl Write,
    rows: impl IntoIterator<Item = Outcome<'a>>,
) -> io::Result<()> {
    let (mut images, mut copies, mut errors) = (0usize, 0usize, 0usize);
    for r in rows {
        writeln!(out, "{}", outcome_line(&r))?;
        images += 1;
        copies += usize::from(r.has_earlier_copy);
        errors += usize::from(!r.errors.is_empty());
    }
    writeln!(
        out,
        "\n{} images: {} with an earlier copy, {} without, {} with errors",
        images,
        copies,
        images - copies,
        errors
    )
}
