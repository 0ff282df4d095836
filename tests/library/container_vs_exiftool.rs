//! Checks `container::read_container` against an outside truth: ExifTool 12.57's
//! readings (`exiftool-12.57_json_G.json`) of the shared corpus
//! (`../shared/ref/exif`, see its README.txt): XMP CreatorTool and CreateDate,
//! IPTC caption and by-line, ICC profile description, JPEG comment. It owns only
//! this comparison and must not tune expected values to fit retrace. Skips, with
//! a message, when the corpus is absent. `--nocapture` shows the agreement
//! table and every disagreement.

use std::collections::BTreeMap;
use std::path::Path;

use retrace::internals::input::read::{sniff, Format};
use retrace::internals::metadata::container::{read_container, Container};
use retrace::Limits;
use serde_json::Value;

/// ExifTool's value as a list of strings (it prints one value bare, several as
/// an array, and some numbers unquoted).
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        Value::String(s) => vec![s.clone()],
        other => vec![other.to_string()],
    }
}

/// Dates compared by their digits and zone sign: ExifTool prints
/// `2008:03:15 09:52:01-04:00` for XMP's `2008-03-15T09:52:01-04:00`.
fn date_key(s: &str) -> String {
    let (main, zone) = match s.get(10..) {
        Some(rest) => match rest.rfind(['+', '-']) {
            Some(i) => (&s[..10 + i], &s[10 + i..]),
            None => (s, ""),
        },
        None => (s, ""),
    };
    let digits = |x: &str| {
        x.chars()
            .filter(|c| c.is_ascii_digit() || *c == 'Z')
            .collect::<String>()
    };
    format!(
        "{}{}{}",
        digits(main),
        zone.get(..1).unwrap_or(""),
        digits(zone)
    )
}

/// Disagreements we understand: (file, field, why). Not counted as compared.
const EXPLAINED: &[(&str, &str, &str)] = &[
    (
        "exiftool-t-images/AFCP.jpg",
        "iptc_caption",
        "IPTC lives in an AFCP trailer after EOI, not in APP13; not read",
    ),
    (
        "exiftool-t-images/AFCP.jpg",
        "iptc_byline",
        "AFCP trailer, as above",
    ),
    (
        "exiftool-t-images/FotoStation.jpg",
        "iptc_caption",
        "IPTC lives in a FotoStation trailer after EOI; not read",
    ),
    (
        "exiftool-t-images/ExifTool.jpg",
        "jpeg_comment",
        "ExifTool prints a Comment from another block under the same name; the COM \
         segment says \"a comment\", which is what retrace reports",
    ),
];

type Getter = fn(&Container) -> Vec<String>;

fn fields() -> Vec<(&'static str, &'static str, Getter, bool)> {
    vec![
        (
            "creator_tool",
            "XMP:CreatorTool",
            |c| {
                c.xmp
                    .iter()
                    .filter_map(|x| x.creator_tool.clone())
                    .collect()
            },
            false,
        ),
        (
            "xmp_create_date",
            "XMP:CreateDate",
            |c| c.xmp.iter().filter_map(|x| x.create_date.clone()).collect(),
            true,
        ),
        (
            "iptc_caption",
            "IPTC:Caption-Abstract",
            |c| c.iptc.iter().filter_map(|i| i.caption.clone()).collect(),
            false,
        ),
        (
            "iptc_byline",
            "IPTC:By-line",
            |c| c.iptc.iter().flat_map(|i| i.byline.clone()).collect(),
            false,
        ),
        (
            "icc_description",
            "ICC_Profile:ProfileDescription",
            |c| c.icc_description.iter().cloned().collect(),
            false,
        ),
        (
            "jpeg_comment",
            "File:Comment",
            |c| c.comments.iter().take(1).cloned().collect(),
            false,
        ),
    ]
}

#[test]
fn container_agrees_with_exiftool() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ref/exif");
    let Ok(json) = std::fs::read(root.join("exiftool-12.57_json_G.json")) else {
        eprintln!("SKIP container_vs_exiftool: ../shared/ref/exif not found next to the crate");
        return;
    };
    let entries: Vec<Value> = serde_json::from_slice(&json).unwrap();
    let limits = Limits::default();
    // field → (compared, agreed)
    let mut table: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut disagreements = Vec::new();
    let mut out_of_scope: BTreeMap<&str, usize> = BTreeMap::new();
    let mut explained = 0usize;
    for e in &entries {
        let Some(rel) = e.get("SourceFile").and_then(Value::as_str) else {
            continue;
        };
        let Ok(bytes) = std::fs::read(root.join(rel)) else {
            continue;
        };
        let format = sniff(&bytes);
        let c = read_container(&bytes, format, &limits);
        for (name, key, get, is_date) in fields() {
            let Some(want) = e.get(key) else { continue };
            // Only the blocks retrace reads: JPEG, PNG, WebP fully; TIFF and
            // HEIF only their XMP packet (their ICC/IPTC tags and items are not
            // read); GIF, PSD and sidecar .xmp not at all.
            let in_scope = match format {
                Format::Jpeg | Format::Png | Format::Webp => true,
                Format::Tiff | Format::Heif => {
                    name.starts_with("creator_tool") || name.starts_with("xmp")
                }
                _ => false,
            };
            if !in_scope {
                *out_of_scope.entry(name).or_default() += 1;
                continue;
            }
            if EXPLAINED.iter().any(|(f, n, _)| *f == rel && *n == name) {
                explained += 1;
                continue;
            }
            let want = strings(want);
            let got = get(&c);
            // ExifTool prints an all-blank value; retrace drops it.
            let norm = |v: &[String]| -> Vec<String> {
                v.iter()
                    .map(|s| {
                        if is_date {
                            date_key(s)
                        } else {
                            s.trim().to_string()
                        }
                    })
                    .filter(|s| !s.is_empty())
                    .collect()
            };
            let entry = table.entry(name).or_default();
            entry.0 += 1;
            if norm(&want) == norm(&got) {
                entry.1 += 1;
            } else {
                disagreements.push(format!("{rel} {name}: exiftool {want:?}, retrace {got:?}"));
            }
        }
    }
    eprintln!("field                 agreed/compared");
    let (mut all, mut ok) = (0, 0);
    for (name, (n, a)) in &table {
        eprintln!("{name:<21} {a}/{n}");
        all += n;
        ok += a;
    }
    eprintln!("total                 {ok}/{all}");
    eprintln!(
        "explained (not compared): {explained}; outside what retrace reads: {out_of_scope:?}"
    );
    for d in &disagreements {
        eprintln!("  {d}");
    }
    assert!(all >= 30, "too few comparisons: {all}");
    // Every field must agree on at least 90% of the files that have it.
    for (name, (n, a)) in &table {
        assert!(a * 10 >= n * 9, "{name}: {a}/{n}; see the list above");
    }
}

/// The quantization-table digest and the IJG family against ExifTool's
/// `JPEGDigest` and its names for the digests it knows
/// (`tests/fixtures/exiftool/jpegdigest-12.57.tsv`, made by the command in its
/// first line over `../shared/ref`). The digest must be equal for every file
/// ExifTool digests; wherever ExifTool names the IJG library at a quality,
/// retrace must say `ijg` at that quality, and it must never say `ijg` where
/// ExifTool names something else.
#[test]
fn quantization_digest_and_ijg_family_agree_with_exiftool() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ref");
    if !root.is_dir() {
        eprintln!("SKIP quantization digest: ../shared/ref not found next to the crate");
        return;
    }
    let table = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exiftool/jpegdigest-12.57.tsv"),
    )
    .unwrap();
    let limits = Limits::default();
    let (mut digests, mut ijg, mut others) = (0, 0, 0);
    let mut families: BTreeMap<String, usize> = BTreeMap::new();
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, digest, name) = (cols[0], cols[1], cols[2]);
        let bytes = std::fs::read(root.join(file)).unwrap();
        let c = read_container(&bytes, sniff(&bytes), &limits);
        let Some(j) = c.jpeg.as_ref() else {
            panic!("{file}: no JPEG structure read");
        };
        if digest.is_empty() {
            continue;
        }
        digests += 1;
        let ours = j.dqt_digest.clone().unwrap_or_default();
        // ExifTool leaves the sampling suffix off when the bare MD5 is in its list.
        let ours_cmp = if digest.contains(':') {
            ours.clone()
        } else {
            ours.split(':').next().unwrap_or("").to_string()
        };
        assert_eq!(ours_cmp, digest, "{file}: digest");
        let family = j.encoder_family.clone().unwrap_or_default();
        *families.entry(family.clone()).or_default() += 1;
        if let Some(q) = name
            .strip_prefix("Independent JPEG Group library (used by many applications), Quality ")
        {
            ijg += 1;
            assert_eq!(family, "ijg", "{file}: ExifTool says {name}");
            // "0 or 1" and "(Grayscale)" forms: the first number is the quality.
            let q: u8 = q
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap();
            let ours_q = j.quality.unwrap();
            assert!(
                ours_q == q || (q <= 1 && ours_q <= 1),
                "{file}: quality {ours_q}, ExifTool {q}"
            );
        } else if !name.starts_with("Unknown") {
            others += 1;
            if family == "ijg" {
                // The digest covers the DQT segments' bytes, so IJG tables laid
                // out differently (both in one segment, as cameras write them)
                // get a digest of their own, which ExifTool's list files under
                // the camera it first saw it from. The tables are still IJG's.
                eprintln!(
                    "  {file}: ExifTool names the layout {name:?}; the tables are IJG's ({})",
                    j.encoder.as_deref().unwrap_or("")
                );
                assert!(j.standard_tables);
            }
        }
    }
    eprintln!(
        "{digests} digests equal to ExifTool's; {ijg} files ExifTool names IJG, all ijg at its quality; \
         {others} named otherwise (IJG tables in another layout listed above); retrace's families: {families:?}"
    );
    assert!(
        digests > 100 && ijg > 50,
        "the corpus shrank: {digests} digests, {ijg} IJG"
    );
}
