//! Checks `metadata::read_metadata` against an outside truth: ExifTool 12.57's
//! readings of the shared EXIF corpus (`../shared/ref/exif`, see its README.txt).
//! Owns only this comparison; it must not change what it compares (no tuning of
//! expected values to fit retrace). Skips, with a message, when the corpus is
//! absent. Run with `--nocapture` to see the agreement table and every
//! disagreement.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use retrace::internals::input::read::{read_file, Format};
use retrace::internals::metadata::{read_metadata, Metadata};
use retrace::Limits;
use serde_json::{Map, Value};

#[path = "../support/fetched_raws.rs"]
mod fetched_raws;

/// Disagreements we understand and accept: (file, fields, why). Each must still
/// occur, so the list cannot silently go stale.
const EXPLAINED: &[(&str, &[&str], &str)] = &[
    (
        "exif-samples/jpg/Kodak_CX7530.jpg",
        &["exif_width", "exif_height"],
        "the camera wrote PixelX/YDimension with count 2 (100 0 / 78 0); ExifTool prints \
         both numbers, retrace takes the first (the standard's count is 1)",
    ),
    (
        "exif-samples/jpg/tests/87_OSError.jpg",
        &["thumbnail_offset", "thumbnail_length"],
        "IFD1 says ThumbnailLength 0; ExifTool reports the raw tags, retrace reports no \
         thumbnail (with a warning) because there are no bytes to point at",
    ),
    (
        "exiftool-t-images/XMP.jpg",
        &["thumbnail_offset", "thumbnail_length"],
        "IFD1 says ThumbnailLength 0 (as above)",
    ),
    (
        "exiftool-t-images/ExifTool.jpg",
        &["thumbnail_offset", "thumbnail_length"],
        "IFD1 says ThumbnailLength 0 (as above)",
    ),
    (
        "exiftool-t-images/DNG.dng",
        &["exif_width", "exif_height"],
        "raw file: IFD0 is a reduced-resolution preview and the full raster is described \
         in a SubIFD, which ExifTool reads and kamadak-exif does not; retrace reports no \
         size rather than the preview's",
    ),
    (
        "exiftool-t-images/Nikon.nef",
        &["exif_width", "exif_height"],
        "raw file: same SubIFD limitation as DNG.dng",
    ),
    (
        "exiftool-t-images/BigTIFF.btf",
        &["exif_width", "exif_height"],
        "BigTIFF (64-bit offsets): kamadak-exif reads classic TIFF only; retrace warns \
         and reports nothing",
    ),
    (
        "exif-rs-tests/yaminabe.tif",
        &["serial"],
        "ExifTool's EXIF:SerialNumber here is the private IFD0 tag 0xFDE9 (which this \
         synthetic file fills with DOUBLEs), not EXIF BodySerialNumber (0xA431), which \
         is what retrace's serial reads",
    ),
    (
        "exif-rs-tests/yaminale.tif",
        &["serial"],
        "little-endian twin of yaminabe.tif (as above)",
    ),
];

fn corpus() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ref/exif");
    root.join("exiftool-12.57_json_G_n.json")
        .is_file()
        .then_some(root)
}

/// ExifTool trims trailing NULs and spaces from EXIF strings; do the same to
/// both sides so padding is not counted as a difference.
fn trim(s: &str) -> &str {
    s.trim_end_matches(['\0', ' '])
}

/// "YYYY:MM:DD HH:MM:SS[.sss][±HH:MM|Z]" (ExifTool) to retrace's ISO 8601 form.
fn exiftool_date_to_iso(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b':' || b[7] != b':' || b[10] != b' ' {
        return None;
    }
    Some(format!(
        "{}-{}-{}T{}",
        &s[..4],
        &s[5..7],
        &s[8..10],
        &s[11..]
    ))
}

/// What ExifTool says, as a comparable value.
#[derive(Debug, Clone, PartialEq)]
enum Exp {
    Text(String),
    Num(f64),
}

impl std::fmt::Display for Exp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exp::Text(s) => write!(f, "{s:?}"),
            Exp::Num(n) => write!(f, "{n}"),
        }
    }
}

fn exp_text(v: Option<&Value>) -> Option<Exp> {
    match v? {
        Value::String(s) if !trim(s).is_empty() => Some(Exp::Text(trim(s).to_string())),
        // ExifTool's JSON turns numeric-looking strings ("8.3", "1.00") into numbers.
        Value::Number(n) => n.as_f64().map(Exp::Num),
        _ => None,
    }
}

fn exp_num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Tolerance per field: 1e-5 degrees for coordinates, 1 mm for altitude.
fn tolerance(field: &str) -> f64 {
    match field {
        "gps_latitude" | "gps_longitude" => 1e-5,
        "gps_altitude" => 1e-3,
        "gps_direction" => 1e-6,
        _ => 1e-9,
    }
}

fn same(field: &str, ours: &Option<Exp>, theirs: &Option<Exp>) -> bool {
    match (ours, theirs) {
        (None, None) => true,
        (Some(Exp::Text(a)), Some(Exp::Text(b))) => trim(a) == trim(b),
        (Some(Exp::Num(a)), Some(Exp::Num(b))) => (a - b).abs() <= tolerance(field),
        // A string we read against a number ExifTool printed: compare as numbers.
        (Some(Exp::Text(a)), Some(Exp::Num(b))) | (Some(Exp::Num(b)), Some(Exp::Text(a))) => {
            trim(a)
                .parse::<f64>()
                .is_ok_and(|a| (a - b).abs() <= tolerance(field))
        }
        _ => false,
    }
}

/// (field, ours, ExifTool's) for one file.
fn pairs(
    meta: &Metadata,
    format: Format,
    et: &Map<String, Value>,
) -> Vec<(&'static str, Option<Exp>, Option<Exp>)> {
    let g = |k: &str| et.get(k);
    let t = |o: &Option<String>| o.clone().map(Exp::Text);
    let n = |o: Option<f64>| o.map(Exp::Num);
    let mut out = vec![
        ("make", t(&meta.make), exp_text(g("EXIF:Make"))),
        ("model", t(&meta.model), exp_text(g("EXIF:Model"))),
        ("software", t(&meta.software), exp_text(g("EXIF:Software"))),
        ("lens", t(&meta.lens), exp_text(g("EXIF:LensModel"))),
        ("serial", t(&meta.serial), exp_text(g("EXIF:SerialNumber"))),
        ("artist", t(&meta.artist), exp_text(g("EXIF:Artist"))),
        (
            "image_description",
            t(&meta.image_description),
            exp_text(g("EXIF:ImageDescription")),
        ),
    ];

    // DateTimeOriginal: ExifTool's Composite:SubSecDateTimeOriginal already
    // joins SubSecTimeOriginal and OffsetTimeOriginal when they exist.
    let dto = g("Composite:SubSecDateTimeOriginal")
        .or_else(|| g("EXIF:DateTimeOriginal"))
        .and_then(Value::as_str)
        .map(|s| match exiftool_date_to_iso(trim(s)) {
            Some(iso) => Exp::Text(iso),
            None => Exp::Text(s.to_string()),
        });
    out.push(("datetime_original", t(&meta.datetime_original), dto));
    for (field, ours, composite, plain) in [
        (
            "datetime_digitized",
            &meta.datetime_digitized,
            "Composite:SubSecCreateDate",
            "EXIF:CreateDate",
        ),
        (
            "datetime_modified",
            &meta.datetime_modified,
            "Composite:SubSecModifyDate",
            "EXIF:ModifyDate",
        ),
    ] {
        let theirs = g(composite)
            .or_else(|| g(plain))
            .and_then(Value::as_str)
            .map(|s| Exp::Text(exiftool_date_to_iso(trim(s)).unwrap_or_else(|| s.to_string())));
        out.push((field, t(ours), theirs));
    }
    out.push((
        "copyright",
        t(&meta.copyright),
        exp_text(g("EXIF:Copyright")),
    ));

    out.push((
        "orientation",
        n(meta.orientation.map(f64::from)),
        exp_num(g("EXIF:Orientation")).map(Exp::Num),
    ));
    let (wk, hk) = if format == Format::Tiff {
        ("EXIF:ImageWidth", "EXIF:ImageHeight")
    } else {
        ("EXIF:ExifImageWidth", "EXIF:ExifImageHeight")
    };
    out.push((
        "exif_width",
        n(meta.exif_width.map(f64::from)),
        exp_num(g(wk)).map(Exp::Num),
    ));
    out.push((
        "exif_height",
        n(meta.exif_height.map(f64::from)),
        exp_num(g(hk)).map(Exp::Num),
    ));

    // Position: ExifTool's composites are signed by the reference tags.
    let gps = meta.gps.as_ref();
    let et_lat = exp_num(g("Composite:GPSLatitude"));
    let et_lon = exp_num(g("Composite:GPSLongitude"));
    out.push(("gps_latitude", n(gps.map(|p| p.latitude)), n(et_lat)));
    out.push(("gps_longitude", n(gps.map(|p| p.longitude)), n(et_lon)));
    // Metadata keeps altitude, time and direction inside a position, so they
    // are compared only where ExifTool reports a position too.
    if et_lat.is_some() && et_lon.is_some() {
        let alt = exp_num(g("Composite:GPSAltitude")).or_else(|| exp_num(g("EXIF:GPSAltitude")));
        out.push(("gps_altitude", n(gps.and_then(|p| p.altitude)), n(alt)));
        let ts = g("Composite:GPSDateTime")
            .and_then(Value::as_str)
            .and_then(exiftool_date_to_iso)
            .map(Exp::Text);
        out.push((
            "gps_timestamp",
            t(&gps.and_then(|p| p.timestamp.clone())),
            ts,
        ));
        out.push((
            "gps_direction",
            n(gps.and_then(|p| p.direction)),
            n(exp_num(g("EXIF:GPSImgDirection"))),
        ));
    }

    // ExifTool gives ThumbnailOffset as a file offset, like ThumbnailRef.
    let th = meta.thumbnail;
    out.push((
        "thumbnail_offset",
        n(th.map(|t| t.offset as f64)),
        n(exp_num(g("EXIF:ThumbnailOffset"))),
    ));
    out.push((
        "thumbnail_length",
        n(th.map(|t| t.length as f64)),
        n(exp_num(g("EXIF:ThumbnailLength"))),
    ));
    out
}

#[derive(Default)]
struct Tally {
    compared: usize,
    equal: usize,
    explained: usize,
}

#[test]
fn agrees_with_exiftool() {
    let Some(root) = corpus() else {
        eprintln!("SKIP exif_vs_exiftool: ../shared/ref/exif not found next to the crate");
        return;
    };
    let json = std::fs::read(root.join("exiftool-12.57_json_G_n.json")).unwrap();
    let entries: Vec<Map<String, Value>> = serde_json::from_slice(&json).unwrap();
    let limits = Limits::default();

    let mut tally: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut disagreements = Vec::new();
    let mut explained_seen = vec![false; EXPLAINED.len()];
    let mut unsupported = Vec::new();
    let mut panics = Vec::new();
    let mut files = 0;
    let mut warnings = Vec::new();

    for et in &entries {
        let src = et["SourceFile"].as_str().unwrap();
        let blob = match read_file(&root.join(src), &limits) {
            Ok(b) => b,
            Err(e) => panic!("{src}: {e}"),
        };
        files += 1;
        let run = std::panic::catch_unwind(|| read_metadata(&blob.bytes, blob.format, &limits));
        let meta = match run {
            Ok(m) => m,
            Err(_) => {
                panics.push(src.to_string());
                continue;
            }
        };
        if meta.warnings.iter().any(|w| w.contains("panicked")) {
            panics.push(src.to_string());
        }
        // Containers read_metadata does not open by design (MRW, X3F, PSD,
        // JPEG 2000, JXL, GIF, BMP, …): listed, not scored. ORF, RW2, RAF and
        // CR3 (format `raw`) are read and scored.
        if !matches!(
            blob.format,
            Format::Jpeg | Format::Tiff | Format::Png | Format::Webp | Format::Heif | Format::Raw
        ) {
            if et.keys().any(|k| k.starts_with("EXIF:")) {
                unsupported.push(format!("{src} ({})", blob.format.name()));
            }
            let container = meta.container.clone().unwrap_or_default();
            assert_eq!(
                Metadata {
                    container: None,
                    ..meta
                },
                Metadata::default(),
                "{src}"
            );
            assert_eq!(container, Default::default(), "{src}");
            continue;
        }
        for w in &meta.warnings {
            warnings.push(format!("{src}: {w}"));
        }
        for (field, ours, theirs) in pairs(&meta, blob.format, et) {
            if ours.is_none() && theirs.is_none() {
                continue;
            }
            let t = tally.entry(field).or_default();
            t.compared += 1;
            if same(field, &ours, &theirs) {
                t.equal += 1;
                continue;
            }
            let fmt = |o: &Option<Exp>| o.as_ref().map_or("-".to_string(), Exp::to_string);
            let line = format!(
                "{src} {field}: retrace {} / exiftool {}",
                fmt(&ours),
                fmt(&theirs)
            );
            match EXPLAINED
                .iter()
                .position(|(f, flds, _)| *f == src && flds.contains(&field))
            {
                Some(i) => {
                    t.explained += 1;
                    explained_seen[i] = true;
                    println!("explained: {line} — {}", EXPLAINED[i].2);
                }
                None => disagreements.push(line),
            }
        }
    }

    println!("\n{files} files; agreement with ExifTool 12.57 per field:");
    println!(
        "{:<18} {:>8} {:>6} {:>9}",
        "field", "compared", "equal", "explained"
    );
    let (mut compared, mut equal, mut explained) = (0, 0, 0);
    for (field, t) in &tally {
        println!(
            "{field:<18} {:>8} {:>6} {:>9}",
            t.compared, t.equal, t.explained
        );
        compared += t.compared;
        equal += t.equal;
        explained += t.explained;
    }
    println!("{:<18} {compared:>8} {equal:>6} {explained:>9}", "total");
    println!(
        "\nnot scored, container not opened by read_metadata ({}):",
        unsupported.len()
    );
    for u in &unsupported {
        println!("  {u}");
    }
    println!("\nwarnings from read_metadata ({}):", warnings.len());
    for w in &warnings {
        println!("  {w}");
    }
    println!("\nunexplained disagreements ({}):", disagreements.len());
    for d in &disagreements {
        println!("  {d}");
    }

    assert!(panics.is_empty(), "panics in read_metadata: {panics:?}");
    for (i, seen) in explained_seen.iter().enumerate() {
        assert!(
            seen,
            "explained exception no longer occurs: {:?}",
            EXPLAINED[i]
        );
    }
    assert!(compared > 500, "suspiciously few comparisons: {compared}");
    let scored = compared - explained;
    let rate = equal as f64 / scored as f64;
    println!(
        "agreement excluding explained exceptions: {equal}/{scored} = {:.2}%",
        rate * 100.0
    );
    assert!(rate >= 0.99, "agreement {:.2}% < 99%", rate * 100.0);
}

/// Every file in the corpus folder, whatever its type, and every prefix-cut of
/// it at a few points, gives a Metadata without panicking.
#[test]
fn no_panic_on_any_corpus_file() {
    let Some(root) = corpus() else {
        eprintln!("SKIP no_panic_on_any_corpus_file: ../shared/ref/exif not found");
        return;
    };
    let limits = Limits::default();
    let mut stack = vec![root];
    let mut n = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let blob = read_file(&p, &limits).unwrap();
            n += 1;
            let len = blob.bytes.len();
            for cut in [len, len / 2, len / 3, 64.min(len)] {
                let bytes = &blob.bytes[..cut];
                let r = std::panic::catch_unwind(|| read_metadata(bytes, blob.format, &limits));
                let meta = r.unwrap_or_else(|_| panic!("panic on {} cut at {cut}", p.display()));
                assert!(
                    !meta.warnings.iter().any(|w| w.contains("panicked")),
                    "{} cut at {cut}: {:?}",
                    p.display(),
                    meta.warnings
                );
            }
        }
    }
    assert!(n >= 169, "only {n} files found");
}

/// The real RAW files `tests/fixtures/raw/fetch.sh` takes from Debian
/// packages (cache outside git; see that script): their EXIF, as retrace
/// reads it from the RAW itself, against ExifTool run now on the same file
/// the way the shared corpus's JSON was made. Every field must agree; skips
/// with a message when the cache or exiftool is absent (`.ci/run` has both
/// and sets `RETRACE_REQUIRE_RAW`).
#[test]
fn fetched_raw_files_agree_with_exiftool() {
    let required = std::env::var_os("RETRACE_REQUIRE_RAW").is_some();
    let files = fetched_raws::fetched_raws("fetched_raw_files_agree_with_exiftool");
    if files.is_empty() {
        return;
    }
    let Ok(out) = std::process::Command::new("exiftool")
        .args(["-json", "-G", "-a", "-u", "--System:all", "-n"])
        .args(&files)
        .output()
    else {
        assert!(!required, "exiftool is not installed");
        eprintln!("SKIP fetched_raw_files_agree_with_exiftool: exiftool is not installed");
        return;
    };
    let entries: Vec<Map<String, Value>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(entries.len(), files.len());
    let limits = Limits::default();
    let mut compared = 0;
    let mut disagreements = Vec::new();
    for (f, et) in files.iter().zip(&entries) {
        let blob = read_file(f, &limits).unwrap();
        let meta = read_metadata(&blob.bytes, blob.format, &limits);
        assert!(
            meta.warnings.is_empty(),
            "{}: {:?}",
            f.display(),
            meta.warnings
        );
        for (field, ours, theirs) in pairs(&meta, blob.format, et) {
            if ours.is_none() && theirs.is_none() {
                continue;
            }
            compared += 1;
            println!("{} {field}: {ours:?} / {theirs:?}", f.display());
            if !same(field, &ours, &theirs) {
                disagreements.push(format!("{} {field}: {ours:?} / {theirs:?}", f.display()));
            }
        }
    }
    // Make, model, three dates, orientation, size and the thumbnail at least.
    assert!(
        compared >= 8 * files.len(),
        "only {compared} fields compared"
    );
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
