//! The report as a page an editor opens in a browser: one self-contained HTML
//! file per picture (the pictures are inlined as `data:` URIs, so the page can be
//! mailed or archived alone) and an index page for a batch.
//!
//! Every value that came from a file, a file name or the archive is hostile: it
//! goes through [`h`] (bidi and control characters made visible, then HTML
//! metacharacters escaped) before it reaches the page, links are only emitted
//! for `http(s)` URLs, and the page's Content-Security-Policy forbids scripts and
//! every external load, so a value that slipped through could still not run or
//! phone home. Presentation only: the preview images are made by the caller.

use std::io::{self, Write};

use super::{escape_untrusted, CopyRef, Outcome, Report};
use crate::assess::{date_of, describe_gap};
use crate::evidence::{Confidence, Match, Severity};

/// An image to inline: its encoded bytes and their media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inline {
    /// `image/jpeg` or `image/png`.
    pub mime: &'static str,
    /// The encoded image.
    pub bytes: Vec<u8>,
}

/// The pictures shown side by side; either may be missing (not decodable,
/// no match, no archive thumbnail), and the page says so in words.
#[derive(Debug, Clone, Default)]
pub struct Pictures {
    /// A downscaled preview of the picture checked.
    pub query: Option<Inline>,
    /// The archive's verification thumbnail of the earliest copy.
    pub earliest: Option<Inline>,
}

/// Escape an untrusted value for HTML text or a double-quoted attribute.
/// Bidi overrides and controls are made visible first (as in the text report),
/// so a name cannot pretend to be another one on the page either.
pub fn h(s: &str) -> String {
    let shown = escape_untrusted(s);
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 (RFC 4648, padded), for `data:` URIs.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Only absolute http(s) URLs become links; anything else (`javascript:`,
/// `data:`, relative paths) is shown as text.
fn safe_url(u: &str) -> Option<&str> {
    let lower = u.trim_start().get(..8).unwrap_or("").to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then_some(u)
}

fn where_seen(m: &Match) -> &str {
    seen_at(CopyRef::of(m))
}

fn seen_at(m: CopyRef<'_>) -> &str {
    if m.source.is_empty() {
        m.path
    } else {
        m.source
    }
}

/// How severe the page's verdict is, for its colour.
fn verdict_severity(r: &Outcome<'_>) -> Severity {
    r.findings
        .iter()
        .map(|&(_, s)| s)
        .max()
        .unwrap_or(Severity::Info)
}

/// The verdict in one plain-text sentence (not escaped: callers escape).
///
/// "This picture was first seen on 2019-06-12 at <source>, 4 years before the
/// claimed date." A possible match says that a person must compare.
pub fn verdict_sentence(r: &Report) -> String {
    outcome_sentence(&r.outcome())
}

/// [`verdict_sentence`] from what a batch kept of a report.
pub fn outcome_sentence(r: &Outcome<'_>) -> String {
    if !r.readable {
        let why = r
            .errors
            .first()
            .map(|e| format!(" ({}: {})", e.stage, e.message))
            .unwrap_or_default();
        return format!("This file could not be read{why}.");
    }
    match r.earliest_copy {
        Some(m) => {
            let date = date_of(m.first_seen)
                .map(|d| d.to_string())
                .unwrap_or_else(|| m.first_seen.to_string());
            let lead = match m.confidence {
                Confidence::Confirmed => "This picture was first seen",
                Confidence::Possible => {
                    "A picture that may be this one (a person must compare them) was first seen"
                }
            };
            let mut s = format!("{lead} on {date} at {}", seen_at(m));
            let claim = r.claim_date.and_then(date_of);
            if let (Some(seen), Some(claim)) = (date_of(m.first_seen), claim) {
                if seen < claim {
                    s.push_str(&format!(
                        ", {} before the claimed date",
                        describe_gap(seen, claim)
                    ));
                } else if seen == claim {
                    s.push_str(", the claimed date itself");
                } else {
                    s.push_str(", after the claimed date");
                }
            }
            s.push('.');
            s
        }
        None if r.archive_searched => format!(
            "No earlier copy of this picture is in the archive ({} pictures searched).{}",
            r.archive_images.unwrap_or(0),
            if r.crop_search_off {
                super::CROP_SEARCH_OFF_NOTE
            } else {
                ""
            }
        ),
        None => "No archive was searched: only the file itself was examined.".to_string(),
    }
}

fn sev_class(s: Severity) -> &'static str {
    match s {
        Severity::High => "high",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

const STYLE: &str = "body{font:16px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:70em;padding:0 1em;color:#1b1b1b}\
h1{font-size:1.1em;color:#555;word-break:break-all}\
.verdict{font-size:1.5em;font-weight:600;padding:.6em .8em;border-radius:6px;border-left:8px solid}\
.high{background:#fde8e8;border-color:#c81e1e}.warning{background:#fdf6e3;border-color:#c27803}.info{background:#e8f1fd;border-color:#1c64f2}\
.pair{display:flex;gap:1.5em;flex-wrap:wrap}figure{margin:0;flex:1 1 20em}\
figure img{width:100%;height:auto;max-height:28em;object-fit:contain;display:block;border:1px solid #ccc;background:#f4f4f4}\
figure .none{padding:3em 1em;border:1px dashed #aaa;color:#666;text-align:center}\
.shot{position:relative;display:inline-block;max-width:100%}.shot img{width:auto;max-width:100%}\
.shot svg{position:absolute;left:1px;top:1px;width:calc(100% - 2px);height:calc(100% - 2px);pointer-events:none}\
.shot polygon{fill:rgba(255,170,0,.15);stroke:#e65c00;stroke-width:2px;vector-effect:non-scaling-stroke}\
figcaption{font-size:.9em;color:#444;margin-top:.3em;word-break:break-word}\
ul.findings{list-style:none;padding:0}ul.findings li{margin:.3em 0;padding:.4em .7em;border-left-width:6px;border-left-style:solid;border-radius:4px}\
.sev{font-weight:700;text-transform:uppercase;font-size:.8em;margin-right:.5em}\
table{border-collapse:collapse}td,th{text-align:left;vertical-align:top;padding:.2em .8em .2em 0;word-break:break-word}\
th{color:#555;font-weight:500}code{font-size:.85em}footer{margin-top:2em;color:#777;font-size:.85em}";

fn head(out: &mut impl Write, title: &str) -> io::Result<()> {
    head_styled(out, title, "")
}

/// [`head`] with rules of the page's own after the common ones.
fn head_styled(out: &mut impl Write, title: &str, more: &str) -> io::Result<()> {
    // The CSP is the second line of defence behind escaping: no script runs,
    // nothing loads from the network; only inline styles and data: images.
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\
<meta name=\"referrer\" content=\"no-referrer\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{STYLE}{more}</style></head><body>\n",
        h(title)
    )
}

/// The corners of a matched part as `[x, y]` fractions of the picture: its
/// polygon when the match knows one (a turned copy), else its rectangle.
fn outline(polygon: Option<&Vec<[f32; 2]>>, rect: &crate::evidence::Rect) -> Vec<[f32; 2]> {
    match polygon {
        Some(p) if p.len() >= 3 => p.clone(),
        _ => vec![
            [rect.x, rect.y],
            [rect.x + rect.w, rect.y],
            [rect.x + rect.w, rect.y + rect.h],
            [rect.x, rect.y + rect.h],
        ],
    }
}

fn figure(
    out: &mut impl Write,
    id: &str,
    img: Option<&Inline>,
    alt: &str,
    caption: &str,
    missing: &str,
    region: Option<&[[f32; 2]]>,
) -> io::Result<()> {
    write!(out, "<figure>")?;
    match img {
        Some(i) => {
            let tag = format!(
                "<img id=\"{id}\" alt=\"{}\" src=\"data:{};base64,{}\">",
                h(alt),
                i.mime,
                base64(&i.bytes)
            );
            match region {
                // Drawn over the picture in its own fractions: the wrapper is
                // exactly the picture's size, and the drawing stretches to it.
                Some(points) => {
                    let pts: Vec<String> = points
                        .iter()
                        .filter(|p| p[0].is_finite() && p[1].is_finite())
                        .map(|p| format!("{:.4},{:.4}", p[0].clamp(0.0, 1.0), p[1].clamp(0.0, 1.0)))
                        .collect();
                    write!(
                        out,
                        "<div class=\"shot\">{tag}<svg class=\"region\" id=\"{id}-region\" viewBox=\"0 0 1 1\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"the part that matched\"><polygon points=\"{}\"/></svg></div>",
                        pts.join(" ")
                    )?
                }
                None => write!(out, "{tag}")?,
            }
        }
        None => write!(out, "<div class=\"none\" id=\"{id}\">{}</div>", h(missing))?,
    }
    writeln!(out, "<figcaption>{caption}</figcaption></figure>")
}

fn row(out: &mut impl Write, k: &str, v: Option<&str>) -> io::Result<()> {
    if let Some(v) = v {
        writeln!(out, "<tr><th>{k}</th><td>{}</td></tr>", h(v))?;
    }
    Ok(())
}

fn osm_link(lat: f64, lon: f64) -> Option<String> {
    let ok = lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0;
    ok.then(|| {
        format!("https://www.openstreetmap.org/?mlat={lat:.6}&amp;mlon={lon:.6}#map=15/{lat:.6}/{lon:.6}")
    })
}

/// Write the page of one picture.
pub fn write_page(out: &mut impl Write, r: &Report, pictures: &Pictures) -> io::Result<()> {
    head(out, &format!("retrace: {}", r.path))?;
    writeln!(out, "<h1>{}</h1>", h(&r.path))?;
    writeln!(
        out,
        "<p class=\"verdict {}\" id=\"verdict\">{}</p>",
        sev_class(verdict_severity(&r.outcome())),
        h(&verdict_sentence(r))
    )?;
    if let Some(m) = &r.earliest_copy {
        writeln!(
            out,
            "<p>{} match{}; {}.</p>",
            match m.confidence {
                Confidence::Confirmed => "Confirmed",
                Confidence::Possible => "Possible",
            },
            if m.exact { ", identical file" } else { "" },
            h(&m.evidence.join("; "))
        )?;
    }
    writeln!(out, "<div class=\"pair\">")?;
    let mut facts = Vec::new();
    if let Some(f) = &r.format {
        facts.push(f.clone());
    }
    if let (Some(w), Some(hh)) = (r.width, r.height) {
        facts.push(format!("{w}×{hh}"));
    }
    let facts = if facts.is_empty() {
        String::new()
    } else {
        format!(" ({})", h(&facts.join(", ")))
    };
    let region = r.earliest_copy.as_ref().and_then(|m| m.region.as_ref());
    let query_outline = region.map(|g| outline(g.query_polygon.as_ref(), &g.query));
    let archive_outline = region.map(|g| outline(g.archive_polygon.as_ref(), &g.archive));
    figure(
        out,
        "query",
        pictures.query.as_ref(),
        "The picture checked",
        &format!(
            "This picture: {}{facts}{}",
            h(&r.path),
            if query_outline.is_some() {
                "<br><small>Outlined: the part that shows the earliest copy.</small>"
            } else {
                ""
            }
        ),
        "This picture could not be decoded.",
        query_outline.as_deref(),
    )?;
    if let Some(m) = &r.earliest_copy {
        let mut cap = format!(
            "Earliest known copy: first seen {} ({}), {}",
            h(&m.first_seen),
            h(m.first_seen_from.as_str()),
            h(where_seen(m))
        );
        if !m.source.is_empty() {
            cap.push_str(&format!("<br>Location: {}", h(&m.path)));
        }
        if let Some(u) = m.url.as_deref() {
            match safe_url(u) {
                Some(u) => cap.push_str(&format!(
                    "<br><a href=\"{}\" rel=\"noreferrer noopener\">{}</a>",
                    h(u),
                    h(u)
                )),
                None => cap.push_str(&format!("<br>URL: {}", h(u))),
            }
        }
        if m.transform != "identity" {
            cap.push_str(&format!("<br>Changed by: {}", h(&m.transform)));
        }
        if let Some(reg) = &m.region {
            cap.push_str(&format!("<br>{}", h(&reg.description)));
        }
        cap.push_str("<br><small>Grayscale verification thumbnail kept by the archive");
        if archive_outline.is_some() {
            cap.push_str("; outlined: the part the picture checked shows");
        }
        cap.push_str(".</small>");
        figure(
            out,
            "earliest",
            pictures.earliest.as_ref(),
            "The earliest known copy",
            &cap,
            "The archive holds no thumbnail for this copy.",
            archive_outline.as_deref(),
        )?;
    }
    writeln!(out, "</div>")?;

    if !r.findings.is_empty() {
        writeln!(out, "<h2>Findings</h2><ul class=\"findings\">")?;
        for f in &r.findings {
            writeln!(
                out,
                "<li class=\"{c}\" data-code=\"{}\"><span class=\"sev\">{c}</span>{}</li>",
                h(f.code.as_str()),
                h(&f.message),
                c = sev_class(f.severity)
            )?;
        }
        writeln!(out, "</ul>")?;
    }

    writeln!(out, "<h2>What the file says</h2><table id=\"metadata\">")?;
    row(out, "Claimed date", r.claim_date.as_deref())?;
    if let Some(p) = &r.claim_location {
        row(
            out,
            "Claimed place",
            Some(&format!(
                "{:.5}, {:.5} (within {} km)",
                p.latitude, p.longitude, p.radius_km
            )),
        )?;
    }
    if let Some(meta) = &r.metadata {
        row(out, "Captured", meta.datetime_original.as_deref())?;
        let camera = match (&meta.make, &meta.model) {
            (Some(a), Some(b)) if b.starts_with(a.as_str()) => Some(b.clone()),
            (Some(a), Some(b)) => Some(format!("{a} {b}")),
            (a, b) => a.clone().or(b.clone()),
        };
        row(out, "Camera", camera.as_deref())?;
        row(out, "Lens", meta.lens.as_deref())?;
        row(out, "Software", meta.software.as_deref())?;
        row(out, "Artist", meta.artist.as_deref())?;
        row(out, "Copyright", meta.copyright.as_deref())?;
        row(out, "Description", meta.image_description.as_deref())?;
        row(out, "Modified", meta.datetime_modified.as_deref())?;
        if let Some(g) = &meta.gps {
            let pos = format!(
                "{:.6}, {:.6}{}",
                g.latitude,
                g.longitude,
                g.altitude
                    .map(|a| format!(", {a:.0} m"))
                    .unwrap_or_default()
            );
            match osm_link(g.latitude, g.longitude) {
                Some(link) => writeln!(
                    out,
                    "<tr><th>GPS</th><td>{} <a id=\"map\" href=\"{link}\" rel=\"noreferrer noopener\">map (OpenStreetMap)</a></td></tr>",
                    h(&pos)
                )?,
                None => row(out, "GPS", Some(&format!("{pos} (out of range)")))?,
            }
        }
        if let Some(c) = &meta.container {
            if let Some(x) = &c.xmp {
                row(out, "XMP tool", x.creator_tool.as_deref())?;
            }
            if let Some(i) = &c.iptc {
                row(out, "Caption", i.caption.as_deref())?;
                if !i.byline.is_empty() {
                    row(out, "By-line", Some(&i.byline.join("; ")))?;
                }
                row(out, "Credit", i.credit.as_deref())?;
                row(out, "City", i.city.as_deref())?;
                row(out, "Country", i.country.as_deref())?;
            }
            if let Some(j) = &c.jpeg {
                row(out, "Encoder", j.encoder.as_deref())?;
                row(out, "MPF", super::text::mpf_summary(j).as_deref())?;
            }
        }
        let n = meta.exif.len();
        row(
            out,
            "EXIF",
            Some(&if n == 0 {
                "none".to_string()
            } else {
                format!("{n} fields (all of them in the JSON report)")
            }),
        )?;
    }
    if let (Some(f), Some(w), Some(hh)) = (&r.format, r.width, r.height) {
        row(
            out,
            "Image",
            Some(&format!("{f}, {w}×{hh}, {} bytes", r.bytes.unwrap_or(0))),
        )?;
    }
    if let Some(t) = &r.thumbnail_comparison {
        row(out, "EXIF thumbnail", Some(&super::text::comparison(t)))?;
    }
    if let Some(p) = &r.preview_comparison {
        row(
            out,
            "MPF preview",
            Some(&format!(
                "entry {}: {}",
                p.mpf_entry,
                super::text::comparison(&p.comparison)
            )),
        )?;
    }
    row(out, "SHA-256", r.sha256.as_deref())?;
    writeln!(out, "</table>")?;

    if r.matches.len() > 1 {
        writeln!(
            out,
            "<h2>All earlier copies (earliest first)</h2><table id=\"matches\"><tr><th>First seen</th><th>Where</th><th>Confidence</th><th>How</th></tr>"
        )?;
        for m in &r.matches {
            writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                h(&m.first_seen),
                h(&format!("{} ({})", where_seen(m), m.path)),
                match m.confidence {
                    Confidence::Confirmed => "confirmed",
                    Confidence::Possible => "possible",
                },
                h(&m.transform)
            )?;
        }
        writeln!(out, "</table>")?;
    }
    if !r.errors.is_empty() {
        writeln!(out, "<h2>Errors</h2><ul id=\"errors\">")?;
        for e in &r.errors {
            writeln!(out, "<li>{}: {}</li>", h(e.stage.as_str()), h(&e.message))?;
        }
        writeln!(out, "</ul>")?;
    }
    writeln!(
        out,
        "<footer>{} · {} · archive: {}</footer></body></html>",
        h(&r.generator),
        h(&r.schema),
        if r.archive.searched {
            h(r.archive.path.as_deref().unwrap_or("yes"))
        } else {
            "none searched".to_string()
        }
    )
}

/// One picture of the batch index.
pub struct IndexEntry<'a> {
    /// The report, as far as its verdict goes.
    pub report: Outcome<'a>,
    /// The page's file name relative to the index.
    pub page: &'a str,
    /// A small preview of the picture, when it could be decoded.
    pub thumb: Option<&'a Inline>,
    /// Content SHA-256 of its earliest copy: the pictures that share one
    /// are one group of the index.
    pub original: Option<&'a str>,
}

/// How a group of the index ranks by verdict: the most damning first.
fn verdict_rank(r: &Outcome<'_>, before: bool) -> u8 {
    match r.earliest_copy {
        _ if before => 0,
        Some(m) if m.confidence == Confidence::Confirmed => 1,
        Some(_) => 2,
        None if !r.errors.is_empty() || !r.readable => 3,
        None if r.archive_searched => 4,
        None => 5,
    }
}

/// Whether the earliest copy was first seen before the date the picture is
/// claimed to show: the question a fact-checker triages by.
fn before_claim(r: &Outcome<'_>) -> bool {
    match (
        r.earliest_copy.and_then(|m| date_of(m.first_seen)),
        r.claim_date.and_then(date_of),
    ) {
        (Some(seen), Some(claim)) => seen < claim,
        _ => false,
    }
}

/// The index's own rules: sorting and filtering are CSS (radio buttons and a
/// checkbox ordering and hiding the groups), because the page's policy runs
/// no script at all.
const INDEX_STYLE: &str = ".ctl{position:absolute;opacity:0;width:1px;height:1px}\
.controls{margin:1em 0;display:flex;flex-wrap:wrap;gap:.4em;align-items:center}\
.controls label{border:1px solid #888;border-radius:4px;padding:.2em .7em;cursor:pointer;user-select:none}\
#by-verdict:checked~.controls [for=by-verdict],#by-date:checked~.controls [for=by-date],#by-name:checked~.controls [for=by-name],#before-claim:checked~.controls [for=before-claim]{background:#1b1b1b;color:#fff}\
.ctl:focus-visible~.controls label{outline:1px dotted #888}\
#index{display:flex;flex-direction:column;gap:.8em}\
#by-verdict:checked~#index>.group{order:var(--by-verdict)}\
#by-date:checked~#index>.group{order:var(--by-date)}\
#by-name:checked~#index>.group{order:var(--by-name)}\
#before-claim:checked~#index>.group:not(.before),#before-claim:checked~#index .member:not(.before){display:none}\
.group{display:grid;grid-template-columns:11em 1fr;gap:.8em;padding:.6em;border-left-width:8px;border-left-style:solid;border-radius:6px}\
.original{font-size:.85em;color:#333;word-break:break-word}\
.member{display:flex;gap:.8em;align-items:flex-start;padding:.3em 0}.member+.member{border-top:1px solid #ddd}\
.thumb{width:8em;height:8em;object-fit:contain;background:#f4f4f4;border:1px solid #ccc;flex:none}\
div.thumb{display:flex;align-items:center;justify-content:center;text-align:center;font-size:.75em;color:#666}\
.member .text{flex:1;min-width:0;word-break:break-word}.codes{font-size:.8em;color:#555}";

fn thumb(out: &mut impl Write, img: Option<&Inline>, alt: &str, missing: &str) -> io::Result<()> {
    match img {
        Some(i) => write!(
            out,
            "<img class=\"thumb\" alt=\"{}\" src=\"data:{};base64,{}\">",
            h(alt),
            i.mime,
            base64(&i.bytes)
        ),
        None => write!(out, "<div class=\"thumb\">{}</div>", h(missing)),
    }
}

/// Write the batch index to triage from: the pictures grouped by the
/// earliest copy they share, each with its thumbnail beside that copy's,
/// sortable by verdict (the default), by the earliest copy's date and by file
/// name, with a filter for earlier copies seen before the claimed date. The
/// totals are the caller's (`copies`, `errors`); `originals` gives the
/// archived thumbnail of an earliest copy by content SHA-256.
pub fn write_index<'a>(
    out: &mut impl Write,
    (images, copies, errors): (usize, usize, usize),
    entries: impl IntoIterator<Item = IndexEntry<'a>>,
    originals: &dyn Fn(&str) -> Option<&'a Inline>,
) -> io::Result<()> {
    // Groups in first-seen order of their key; a picture without an earlier
    // copy is a group of its own.
    let mut groups: Vec<Vec<IndexEntry<'a>>> = Vec::new();
    let mut by_original: std::collections::HashMap<&'a str, usize> = Default::default();
    for e in entries {
        match e.original.filter(|_| e.report.earliest_copy.is_some()) {
            Some(key) => match by_original.get(key) {
                Some(&g) => groups[g].push(e),
                None => {
                    by_original.insert(key, groups.len());
                    groups.push(vec![e]);
                }
            },
            None => groups.push(vec![e]),
        }
    }
    for g in &mut groups {
        g.sort_by(|a, b| a.report.path.cmp(b.report.path));
    }
    let rank = |g: &[IndexEntry<'_>]| {
        g.iter()
            .map(|e| verdict_rank(&e.report, before_claim(&e.report)))
            .min()
            .unwrap_or(u8::MAX)
    };
    let date = |g: &[IndexEntry<'a>]| g[0].report.earliest_copy.map(|m| m.first_seen);
    let name = |g: &[IndexEntry<'a>]| g[0].report.path;
    // Each order as a position per group; the page is written in verdict order.
    let positions =
        |cmp: &dyn Fn(&Vec<IndexEntry<'a>>, &Vec<IndexEntry<'a>>) -> std::cmp::Ordering| {
            let mut idx: Vec<usize> = (0..groups.len()).collect();
            idx.sort_by(|&a, &b| cmp(&groups[a], &groups[b]));
            let mut pos = vec![0; groups.len()];
            for (p, g) in idx.into_iter().enumerate() {
                pos[g] = p;
            }
            pos
        };
    let by_name = positions(&|a, b| name(a).cmp(name(b)));
    let by_date = positions(&|a, b| match (date(a), date(b)) {
        (Some(x), Some(y)) => x.cmp(y).then(name(a).cmp(name(b))),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => name(a).cmp(name(b)),
    });
    let by_verdict = positions(&|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then(date(a).is_none().cmp(&date(b).is_none()))
            .then(date(a).cmp(&date(b)))
            .then(name(a).cmp(name(b)))
    });
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| by_verdict[g]);

    let claimed = groups
        .iter()
        .flatten()
        .any(|e| e.report.claim_date.is_some());
    let before = groups
        .iter()
        .flatten()
        .filter(|e| before_claim(&e.report))
        .count();

    head_styled(out, "retrace: batch report", INDEX_STYLE)?;
    writeln!(
        out,
        "<h1>retrace batch report</h1><p id=\"totals\">{images} pictures: {copies} with an earlier copy, {} without, {errors} with errors; {} group{} by earliest copy.</p>",
        images - copies,
        groups.len(),
        if groups.len() == 1 { "" } else { "s" }
    )?;
    // The controls precede the groups as siblings: the rules above select
    // the groups through them (`:checked ~`).
    writeln!(
        out,
        "<input class=\"ctl\" type=\"radio\" name=\"sort\" id=\"by-verdict\" checked>\
<input class=\"ctl\" type=\"radio\" name=\"sort\" id=\"by-date\">\
<input class=\"ctl\" type=\"radio\" name=\"sort\" id=\"by-name\">\
<input class=\"ctl\" type=\"checkbox\" id=\"before-claim\"{}>",
        if claimed { "" } else { " disabled" }
    )?;
    writeln!(
        out,
        "<div class=\"controls\">Sort by <label for=\"by-verdict\">verdict</label><label for=\"by-date\">earliest copy's date</label><label for=\"by-name\">file name</label>{}</div>",
        if claimed {
            format!(
                " · Show <label for=\"before-claim\">only earlier copies seen before the claimed date ({before})</label>"
            )
        } else {
            " · <span class=\"codes\">(give <code>--claim-date</code> to filter by the claimed date)</span>".to_string()
        }
    )?;
    writeln!(out, "<div id=\"index\">")?;
    for g in order {
        let members = &groups[g];
        let first = &members[0].report;
        let any_before = members.iter().any(|e| before_claim(&e.report));
        let sev = members
            .iter()
            .map(|e| verdict_severity(&e.report))
            .max()
            .unwrap_or(Severity::Info);
        writeln!(
            out,
            "<section class=\"group {}{}\" style=\"--by-verdict:{};--by-date:{};--by-name:{}\">",
            sev_class(sev),
            if any_before { " before" } else { "" },
            by_verdict[g],
            by_date[g],
            by_name[g]
        )?;
        write!(out, "<div class=\"original\">")?;
        match first.earliest_copy {
            Some(m) => {
                thumb(
                    out,
                    members[0].original.and_then(originals),
                    "The earliest copy in the archive",
                    "no picture in the archive (a hash-only entry)",
                )?;
                let date = date_of(m.first_seen)
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| m.first_seen.to_string());
                let place = match m.url.and_then(safe_url) {
                    Some(u) => format!(
                        "<a href=\"{}\" rel=\"noreferrer\">{}</a>",
                        h(u),
                        h(seen_at(m))
                    ),
                    None => h(seen_at(m)),
                };
                write!(
                    out,
                    "<div>Earliest copy: first seen <b class=\"date\">{}</b> at {place}.{}</div>",
                    h(&date),
                    if members.len() > 1 {
                        format!(
                            " {} pictures of this batch are copies of it.",
                            members.len()
                        )
                    } else {
                        String::new()
                    }
                )?;
            }
            None => write!(out, "<div>No earlier copy.</div>")?,
        }
        writeln!(out, "</div><div class=\"members\">")?;
        for e in members {
            let r = &e.report;
            write!(
                out,
                "<div class=\"member {}{}\">",
                sev_class(verdict_severity(r)),
                if before_claim(r) { " before" } else { "" }
            )?;
            thumb(out, e.thumb, "The picture checked", "could not be decoded")?;
            writeln!(
                out,
                "<div class=\"text\"><a href=\"{}\">{}</a><div>{}</div><div class=\"codes\">{}</div></div></div>",
                h(e.page),
                h(r.path),
                h(&outcome_sentence(r)),
                h(&r.findings
                    .iter()
                    .map(|&(code, _)| code)
                    .collect::<Vec<_>>()
                    .join(", "))
            )?;
        }
        writeln!(out, "</div></section>")?;
    }
    writeln!(out, "</div></body></html>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{Finding, FindingCode};
    use crate::metadata::Metadata;

    fn copy(first_seen: &str, source: &str) -> Match {
        Match {
            path: "archive/Storm.jpg".into(),
            sha256: "ab".repeat(32),
            source: source.into(),
            url: Some("javascript:alert(1)".into()),
            first_seen: first_seen.into(),
            first_seen_from: crate::evidence::FirstSeenFrom::Manifest,
            distance: Default::default(),
            exact: false,
            transform: "identity".into(),
            region: None,
            confidence: Confidence::Confirmed,
            evidence: vec!["pdq 10".into()],
            sightings: 1,
            format: "jpeg".into(),
            width: Some(10),
            height: Some(10),
            chance: None,
            geometry: None,
            hash_only: false,
        }
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn the_verdict_says_when_and_how_long_before_the_claim() {
        let mut r = Report::new("x.jpg".into());
        r.sha256 = Some("00".into());
        r.claim_date = Some("2023-08-01".into());
        r.earliest_copy = Some(copy("2019-06-12T10:00:00", "Wire service"));
        assert_eq!(
            verdict_sentence(&r),
            "This picture was first seen on 2019-06-12 at Wire service, 4 years before the claimed date."
        );
        r.claim_date = None;
        assert_eq!(
            verdict_sentence(&r),
            "This picture was first seen on 2019-06-12 at Wire service."
        );
        r.earliest_copy = None;
        r.archive.searched = true;
        r.archive.images = Some(7);
        assert!(verdict_sentence(&r).starts_with("No earlier copy"));
    }

    #[test]
    fn hostile_values_never_reach_the_page_raw() {
        let evil = "<script>alert(1)</script>\u{202E}gpj.exe\"'&";
        let mut r = Report::new(format!("/in/{evil}.jpg"));
        r.sha256 = Some("00".into());
        r.earliest_copy = Some(copy("2001-01-01", evil));
        r.matches = vec![copy("2001-01-01", evil), copy("2002-01-01", evil)];
        r.findings = vec![Finding::new(FindingCode::EarlierCopy, Severity::High, evil)];
        r.metadata = Some(Metadata {
            make: Some(evil.into()),
            artist: Some(evil.into()),
            ..Metadata::default()
        });
        let mut out = Vec::new();
        write_page(&mut out, &r, &Pictures::default()).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(!page.contains("<script"), "raw script tag on the page");
        assert!(!page.contains('\u{202E}'), "raw RTL override on the page");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;\\u{202e}gpj.exe&quot;&#39;&amp;")
        );
        // A javascript: URL is shown, never linked.
        assert!(!page.contains("href=\"javascript"));
        let mut out = Vec::new();
        write_index(
            &mut out,
            (1, 1, 0),
            [IndexEntry {
                report: r.outcome(),
                page: "p.html",
                thumb: None,
                original: Some(&r.matches[0].sha256),
            }],
            &|_| None,
        )
        .unwrap();
        let index = String::from_utf8(out).unwrap();
        assert!(!index.contains("<script") && !index.contains('\u{202E}'));
        // The group's source is escaped and its javascript: URL not linked.
        assert!(index.contains("at &lt;script&gt;alert(1)&lt;/script&gt;\\u{202e}gpj.exe"));
        assert!(!index.contains("href=\"javascript"));
    }

    #[test]
    fn gps_gets_a_map_link_only_when_in_range() {
        assert_eq!(
            osm_link(48.858_37, 2.294_481).unwrap(),
            "https://www.openstreetmap.org/?mlat=48.858370&amp;mlon=2.294481#map=15/48.858370/2.294481"
        );
        assert!(osm_link(f64::NAN, 0.0).is_none());
        assert!(osm_link(91.0, 0.0).is_none());
    }
}
