//! Accuracy benchmark: how often retrace finds the original of a circulating
//! copy, and how often it points at a picture that is not the original.
//!
//! Run: `cargo run --release --features examples --example accuracy [-- --quick] [-- --json PATH]`
//! (options: `--quick` a handful of small photos, `--json PATH` the results as
//! JSON, `--ref DIR` the reference data, default `../shared/ref`, `--threads N`,
//! `--verbose` every miss and false match with its hash distances, `--dump DIR`
//! the copies of the first three photos, to look at, `--distractors N` N
//! unrelated pictures added to the archive, see below).
//!
//! Real photographs from `../shared/ref` (photos shipped in Debian and PyPI
//! packages, the camera JPEGs of exif-samples, Meta's PDQ test photos) are split
//! into an archive set and a distractor set. The archive set is recorded in a
//! temporary archive through the library (`Engine::archive_entry` + `record`).
//! Every photo of both sets is then copied the ways pictures circulate (below),
//! and every copy is analysed with `Engine::analyze` at default settings.
//! A copy of an archived photo is *recalled* when its original is among the
//! report's matches (also counted: as `earliest_copy`, and at `confirmed`
//! tier). A *false match* is a match to any archived picture other than the
//! copy's own original; distractor copies must match nothing. Pairs of
//! different photos of the same scene (a stereo pair, an HDR/non-HDR pair, two
//! shots of one coaster) are all archived and counted apart as hard negatives:
//! `possible` is acceptable there, `confirmed` is not.
//!
//! Two baselines run on the same copies: PDQ alone (whole-frame PDQ, Hamming
//! ≤ 31, both qualities ≥ 50, nearest archived photo) and pHash alone
//! (whole-frame pHash ≤ 10, nearest), from the same whole-picture hashes the
//! library computes (`hash::compute` on the decoded, oriented copy): no views,
//! no sub-windows, no alignment.
//!
//! Deterministic: noise, crop offsets and the blocky "text" come from a seeded
//! PRNG keyed by photo and transformation, whatever the thread count.
//!
//! At archive scale (`--distractors N`): the first N pictures that
//! `benches/distractors/make.sh` made (`--distractor-dir`, default
//! `bench-data/distractors`; tiles of unrelated real photographs, none of them
//! a benchmark photo) are recorded first, through the same path as `retrace
//! archive add` (`retrace::Scan`, `Engine::archive_entry`, `Engine::record`,
//! in manifest order), then the archived photos. A match to a distractor
//! picture is a false match like any other; the baselines search them too.
//! Ingesting is slow (tens of pictures a second), so `--distractor-archive
//! PATH` keeps the distractors' archive in a file (and what made it in
//! `PATH.json`) and copies it for each run; it is rebuilt when the pictures,
//! the archive schema, the hash stamps or what the archive stores for a
//! picture differ. An interrupted build resumes from `PATH.partial`. The run also prints the ingest rate, the archive file's and
//! the index snapshot's bytes per picture, how long the index takes to load
//! from each, query time percentiles and the process's peak memory.
//!
//! With `RETRACE_ACCURACY_MATCHES=FILE` in the environment, every match of every
//! query is appended to FILE as one JSON line (photo, transformation, whose
//! picture it is, confidence, transform, geometry, chance, evidence).
//!
//! `tests/library/accuracy_smoke.rs` includes this file as a module and runs the quick
//! mode, so the transformations live in one place.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView, Rgb, RgbImage};
use retrace::internals::archive::{Archive, Sighting, StoredHash, SCHEMA_VERSION};
use retrace::internals::hash::variants::query_variants;
use retrace::internals::hash::{HashBits, HashKind, Hashes};
use retrace::internals::input::read::{Blob, Format};
use retrace::internals::pipeline::{Config, Engine};
use retrace::Limits;
use retrace::{Candidate, Confidence, Scan};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------- options

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// A handful of small photos (for tests and a quick look).
    pub quick: bool,
    /// Where to write the results as JSON.
    pub json: Option<PathBuf>,
    /// The reference data folder (`../shared/ref`).
    pub ref_dir: PathBuf,
    /// Worker threads.
    pub threads: usize,
    /// Print every miss and false match.
    pub verbose: bool,
    /// Write the copies of the first three photos here, to look at.
    pub dump: Option<PathBuf>,
    /// Run only these transformations (all when empty).
    pub only: Vec<String>,
    /// Override of `MatchParams::align_unsupported`.
    pub align_unsupported: Option<usize>,
    /// Override of `MatchParams::refine_unsupported`.
    pub refine_unsupported: Option<usize>,
    /// Set `MatchParams::align_unsupported_when_known` (the old behaviour).
    pub align_unsupported_when_known: bool,
    /// Set `MatchParams::align_unsupported_turned` (the old behaviour).
    pub align_unsupported_turned: bool,
    /// The CLI's `--crop-search N`: archived pictures the local features
    /// point at that are verified.
    pub crop_search: Option<u16>,
    /// Unrelated pictures added to the archive: the first N of the set that
    /// `benches/distractors/make.sh` made in `distractor_dir`.
    pub distractors: usize,
    /// Where `benches/distractors/make.sh` wrote the distractor pictures.
    pub distractor_dir: PathBuf,
    /// Keep the archive of the distractor pictures in this SQLite file and
    /// reuse it while it holds the same pictures made the same way.
    pub distractor_archive: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            quick: false,
            json: None,
            ref_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ref"),
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(4),
            verbose: false,
            dump: None,
            only: Vec::new(),
            align_unsupported: None,
            refine_unsupported: None,
            align_unsupported_when_known: false,
            align_unsupported_turned: false,
            crop_search: None,
            distractors: 0,
            distractor_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("bench-data/distractors"),
            distractor_archive: None,
        }
    }
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--verbose" | "-v" => o.verbose = true,
            "--json" => o.json = Some(args.next().ok_or("--json needs a path")?.into()),
            "--dump" => o.dump = Some(args.next().ok_or("--dump needs a folder")?.into()),
            "--ref" => o.ref_dir = args.next().ok_or("--ref needs a folder")?.into(),
            "--only" => {
                let names = args.next().ok_or("--only needs transformation names")?;
                o.only = names.split(',').map(str::to_string).collect();
                if let Some(bad) = o
                    .only
                    .iter()
                    .find(|n| TRANSFORMATIONS.iter().all(|t| t.name != n.as_str()))
                {
                    return Err(format!("--only: no transformation named {bad:?}"));
                }
            }
            "--align-unsupported" => {
                o.align_unsupported = Some(
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .ok_or("--align-unsupported needs a number")?,
                )
            }
            "--refine-unsupported" => {
                o.refine_unsupported = Some(
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .ok_or("--refine-unsupported needs a number")?,
                )
            }
            "--distractors" => {
                o.distractors = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--distractors needs a number")?
            }
            "--distractor-dir" => {
                o.distractor_dir = args.next().ok_or("--distractor-dir needs a folder")?.into()
            }
            "--distractor-archive" => {
                o.distractor_archive = Some(
                    args.next()
                        .ok_or("--distractor-archive needs a path")?
                        .into(),
                )
            }
            "--align-unsupported-when-known" => o.align_unsupported_when_known = true,
            "--align-unsupported-turned" => o.align_unsupported_turned = true,
            "--crop-search" => {
                o.crop_search = Some(
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .ok_or("--crop-search needs a number")?,
                )
            }
            "--threads" => {
                o.threads = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--threads needs a positive number")?
            }
            "-h" | "--help" => {
                println!(
                    "cargo run --release --features examples --example accuracy [-- --quick] [--json PATH] [--ref DIR] [--threads N] [--verbose] [--dump DIR] [--only NAME,NAME] [--align-unsupported N] [--refine-unsupported N] [--align-unsupported-when-known] [--align-unsupported-turned] [--crop-search N] [--distractors N] [--distractor-dir DIR] [--distractor-archive PATH]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(o)
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("accuracy: {e}");
            std::process::exit(2);
        }
    };
    match run(&opts) {
        Ok(summary) => {
            print!("{}", summary.render(opts.verbose));
            if let Some(path) = &opts.json {
                if let Err(e) = std::fs::write(path, summary.to_json()) {
                    eprintln!("accuracy: cannot write {}: {e}", path.display());
                    std::process::exit(2);
                }
                println!("\nJSON written to {}", path.display());
            }
        }
        Err(e) => {
            eprintln!("accuracy: {e}");
            std::process::exit(2);
        }
    }
}

// ---------------------------------------------------------------- PRNG

/// SplitMix64: small, fast, and the same sequence on every platform.
pub struct Rng(u64);

impl Rng {
    /// A generator keyed by strings (photo and transformation names).
    pub fn keyed(parts: &[&str]) -> Rng {
        // FNV-1a over the parts, separated, so that ("ab","c") != ("a","bc").
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for p in parts {
            for b in p.bytes().chain([0xff]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        Rng(h)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [lo, hi].
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next_u64() % u64::from(hi - lo + 1)) as u32
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

// ---------------------------------------------------------------- photos

/// One real photograph of the benchmark.
#[derive(Debug, Clone)]
pub struct Photo {
    /// Path relative to the reference folder.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Same-scene group: different photos of one scene (hard negatives).
    pub group: Option<&'static str>,
    /// In the archive (else a distractor).
    pub archived: bool,
}

/// Folders walked for photos, relative to the reference folder.
const PHOTO_DIRS: &[&str] = &["photos", "exif/exif-samples/jpg", "pdq/images"];

/// Files left out, and why.
const EXCLUDED: &[(&str, &str)] = &[
    ("microaneurysms", "102×102 px: too small to downscale"),
    ("/orientation/", "one picture stored eight ways"),
    ("/invalid/", "broken files"),
    ("BlueSquare", "synthetic flat square"),
    ("67-0_length_string", "flat grey frame"),
    ("32-lens_data", "200×133 px thumbnail"),
    ("bridge-mods/", "edits of the bridge photo"),
    (
        "/dih/bridge-",
        "dihedral copies of the bridge photo; the original is kept as pdq sample-b",
    ),
    (
        "misc-images/modes/",
        "the bridge photo in other pixel modes",
    ),
    ("exif-rotn-3", "re-shot of exif-rotn-1"),
    ("exif-rotn-6", "re-shot of exif-rotn-1"),
    ("exif-rotn-8", "re-shot of exif-rotn-1"),
    ("letterboxed_sample-b", "the bridge photo letterboxed"),
    ("resources/sample-b", "byte-identical bridge copy"),
    ("resources/LA.png", "random noise"),
    ("resources/rgb.jpeg", "random colour noise"),
    ("resources/I16.png", "16-bit test pattern"),
    ("random_image_base64", "26×28 random pixels"),
    ("q0003", "flat sky, PDQ quality 3"),
    ("q0004", "flat sky, PDQ quality 4"),
    ("misc-images/small", "black frame"),
    ("misc-images/wee", "34×42 px"),
];

/// Different photos of the same scene: kept together in the archive.
const GROUPS: &[(&str, &str)] = &[
    ("motorcycle_left", "motorcycle stereo pair"),
    ("motorcycle_right", "motorcycle stereo pair"),
    ("canon_hdr_NO", "chandelier HDR pair"),
    ("canon_hdr_YES", "chandelier HDR pair"),
    ("pen-and-coaster", "coaster photographed twice"),
    ("misc-images/c.png", "coaster photographed twice"),
];

/// Quick mode: a handful of small photos, with one hard-negative pair.
const QUICK: &[&str] = &[
    "scikit-image/chelsea.png",
    "scikit-image/coffee.png",
    "scikit-learn/china.jpg",
    "scikit-image/motorcycle_left.png",
    "scikit-image/motorcycle_right.png",
    "scikit-learn/flower.jpg",
    "scikit-image/astronaut.png",
];

/// Smallest side a photo must have to take part (leaves out the 100 px camera
/// thumbnails of exif-samples and scikit-image's 384×191 `page.png`).
const MIN_SIDE: u32 = 200;

/// The photos, split: same-scene groups archived, the rest alternately
/// archived and distractor in name order (which mixes every source folder).
pub fn photo_set(ref_dir: &Path, quick: bool) -> Vec<Photo> {
    let mut files = Vec::new();
    for d in PHOTO_DIRS {
        walk(&ref_dir.join(d), &mut files);
    }
    files.sort();
    let mut out = Vec::new();
    let mut alternate = 0usize;
    for path in files {
        let name = path
            .strip_prefix(ref_dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let ext = name.rsplit('.').next().unwrap_or("").to_lowercase();
        if !matches!(ext.as_str(), "jpg" | "jpeg" | "png" | "webp") {
            continue;
        }
        if EXCLUDED.iter().any(|(pat, _)| name.contains(pat)) {
            continue;
        }
        if quick && !QUICK.iter().any(|q| name.ends_with(q)) {
            continue;
        }
        match image::image_dimensions(&path) {
            Ok((w, h)) if w.min(h) >= MIN_SIDE => {}
            _ => continue,
        }
        let group = GROUPS
            .iter()
            .find(|(pat, _)| name.contains(pat))
            .map(|(_, g)| *g);
        let archived = if group.is_some() {
            true
        } else {
            alternate += 1;
            alternate % 2 == 1
        };
        out.push(Photo {
            name,
            path,
            group,
            archived,
        });
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(&p, out),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- encoding

/// Encode as baseline JPEG at a quality (RGB, or grey for grey pictures).
pub fn jpeg(img: &DynamicImage, quality: u8) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    let enc = JpegEncoder::new_with_quality(&mut buf, quality);
    let r = match img {
        DynamicImage::ImageLuma8(g) => g.write_with_encoder(enc),
        other => other.to_rgb8().write_with_encoder(enc),
    };
    r.expect("JPEG encoding to memory");
    buf.into_inner()
}

/// Encode as PNG in the picture's own pixel mode.
pub fn png(img: &DynamicImage) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    if img.write_to(&mut buf, image::ImageFormat::Png).is_err() {
        buf = Cursor::new(Vec::new());
        DynamicImage::ImageRgba8(img.to_rgba8())
            .write_to(&mut buf, image::ImageFormat::Png)
            .expect("PNG encoding to memory");
    }
    buf.into_inner()
}

/// Remove metadata without touching the pixels: JPEG APP1–APP15 (except the
/// Adobe APP14 that says how to read the colours) and comments; PNG text,
/// EXIF, time, ICC and physical-size chunks. What "strip metadata" tools do.
pub fn strip_metadata(bytes: &[u8]) -> Vec<u8> {
    if bytes.starts_with(&[0xff, 0xd8]) {
        strip_jpeg(bytes)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        strip_png(bytes)
    } else {
        bytes.to_vec()
    }
}

fn strip_jpeg(b: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff, 0xd8];
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xff {
            break;
        }
        let marker = b[i + 1];
        if marker == 0xff {
            i += 1;
            continue;
        }
        if marker == 0xda || marker == 0xd9 {
            // Start of scan: the rest is entropy-coded data.
            out.extend_from_slice(&b[i..]);
            return out;
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        let end = (i + 2 + len).min(b.len());
        let drop = (0xe1..=0xef).contains(&marker) && marker != 0xee || marker == 0xfe;
        if !drop {
            out.extend_from_slice(&b[i..end]);
        }
        i = end;
    }
    out.extend_from_slice(&b[i.min(b.len())..]);
    out
}

fn strip_png(b: &[u8]) -> Vec<u8> {
    const KEEP: &[&[u8; 4]] = &[
        b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD",
    ];
    let mut out = b[..8].to_vec();
    let mut i = 8;
    while i + 12 <= b.len() {
        let len = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
        let end = (i + 12 + len).min(b.len());
        let kind = &b[i + 4..i + 8];
        if KEEP.iter().any(|k| k.as_slice() == kind) {
            out.extend_from_slice(&b[i..end]);
        }
        i = end;
    }
    out
}

// ---------------------------------------------------------------- drawing

fn blend(p: &mut Rgb<u8>, c: [u8; 3], alpha: f32) {
    for (ch, target) in p.0.iter_mut().zip(c) {
        let v = f32::from(*ch) * (1.0 - alpha) + f32::from(target) * alpha;
        *ch = v.round().clamp(0.0, 255.0) as u8;
    }
}

/// Fill a rectangle (clipped), blending with `alpha`.
fn rect(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, c: [u8; 3], alpha: f32) {
    let (iw, ih) = (i64::from(img.width()), i64::from(img.height()));
    for yy in y.max(0)..(y + h).min(ih) {
        for xx in x.max(0)..(x + w).min(iw) {
            blend(img.get_pixel_mut(xx as u32, yy as u32), c, alpha);
        }
    }
}

/// Fill a disc (or a ring when `inner` > 0), blending with `alpha`.
fn disc(img: &mut RgbImage, cx: f64, cy: f64, r: f64, inner: f64, c: [u8; 3], alpha: f32) {
    let (iw, ih) = (i64::from(img.width()), i64::from(img.height()));
    let (x0, x1) = ((cx - r).floor() as i64, (cx + r).ceil() as i64);
    let (y0, y1) = ((cy - r).floor() as i64, (cy + r).ceil() as i64);
    for y in y0.max(0)..=y1.min(ih - 1) {
        for x in x0.max(0)..=x1.min(iw - 1) {
            let d = ((x as f64 + 0.5 - cx).powi(2) + (y as f64 + 0.5 - cy).powi(2)).sqrt();
            if d <= r && d >= inner {
                blend(img.get_pixel_mut(x as u32, y as u32), c, alpha);
            }
        }
    }
}

/// One line of blocky "text": words of block glyphs across `width`.
#[allow(clippy::too_many_arguments)]
fn text_line(
    img: &mut RgbImage,
    x: i64,
    y: i64,
    width: i64,
    height: i64,
    c: [u8; 3],
    alpha: f32,
    rng: &mut Rng,
) {
    let glyph = (height * 6 / 10).max(2);
    let gap = (glyph / 4).max(1);
    let mut cx = x;
    while cx < x + width {
        let letters = rng.range(2, 8) as i64;
        for _ in 0..letters {
            if cx + glyph > x + width {
                return;
            }
            // A glyph: a block, some with an ascender or a descender, so a
            // line has the ragged outline of text rather than a bar's.
            let (top, bottom) = match rng.range(0, 5) {
                0 => (0, height * 3 / 4),
                1 => (height / 4, height),
                _ => (height / 4, height * 3 / 4),
            };
            let gw = if rng.unit() < 0.2 { glyph / 2 } else { glyph };
            rect(img, cx, y + top, gw, bottom - top, c, alpha);
            cx += gw + gap;
        }
        cx += glyph; // space between words
    }
}

// ---------------------------------------------------------------- transformations

/// Long side at most `side` (never enlarged).
pub fn fit(img: &DynamicImage, side: u32) -> DynamicImage {
    if img.width().max(img.height()) <= side {
        img.clone()
    } else {
        img.resize(side, side, FilterType::Triangle)
    }
}

/// Keep a window of `frac` of each side, at (fx, fy) ∈ [0,1] of the slack.
pub fn crop_frac(img: &DynamicImage, frac: f64, fx: f64, fy: f64) -> DynamicImage {
    let (w, h) = img.dimensions();
    let cw = ((f64::from(w) * frac).round() as u32).clamp(1, w);
    let ch = ((f64::from(h) * frac).round() as u32).clamp(1, h);
    let x = (f64::from(w - cw) * fx).round() as u32;
    let y = (f64::from(h - ch) * fy).round() as u32;
    img.crop_imm(x, y, cw, ch)
}

/// A position in the slack away from the centre: near one edge on each axis.
fn off_centre(rng: &mut Rng) -> f64 {
    let t = rng.unit() * 0.3;
    if rng.unit() < 0.5 {
        t
    } else {
        1.0 - t
    }
}

/// A dark bar over the bottom 15% with one or two lines of light blocky text.
pub fn caption_bar(img: &DynamicImage, rng: &mut Rng) -> DynamicImage {
    let mut out = img.to_rgb8();
    let (w, h) = (i64::from(out.width()), i64::from(out.height()));
    let bar = (h * 15 / 100).max(4);
    rect(&mut out, 0, h - bar, w, bar, [18, 18, 22], 0.88);
    let margin = (w * 4 / 100).max(2);
    let line_h = (bar * 26 / 100).max(2);
    let lines = if bar >= 40 { 2 } else { 1 };
    for l in 0..lines {
        let y = h - bar + bar * 18 / 100 + l * line_h * 3 / 2;
        let width = (w - 2 * margin) * rng.range(55, 95) as i64 / 100;
        text_line(
            &mut out,
            margin,
            y,
            width,
            line_h,
            [240, 240, 235],
            1.0,
            rng,
        );
    }
    DynamicImage::ImageRgb8(out)
}

/// A semi-transparent logo (a ring with a dot) and blocky text in the
/// bottom-right corner.
pub fn watermark(img: &DynamicImage, rng: &mut Rng) -> DynamicImage {
    let mut out = img.to_rgb8();
    let (w, h) = (f64::from(out.width()), f64::from(out.height()));
    let s = w.min(h);
    let r = s * 0.07;
    let margin = s * 0.04;
    let (cx, cy) = (w - margin - r, h - margin - r);
    let white = [255, 255, 255];
    disc(&mut out, cx, cy, r, r * 0.7, white, 0.55);
    disc(&mut out, cx, cy, r * 0.35, 0.0, white, 0.55);
    let line_h = (r * 0.6) as i64;
    let tw = (w * 0.28) as i64;
    let tx = (cx - r * 1.3) as i64 - tw;
    text_line(
        &mut out,
        tx,
        (cy - r * 0.3) as i64,
        tw,
        line_h.max(2),
        white,
        0.55,
        rng,
    );
    DynamicImage::ImageRgb8(out)
}

/// A thin white border, then black bars to 16:9 (a video frame), fitted
/// into 1920×1080.
pub fn border_letterbox(img: &DynamicImage) -> DynamicImage {
    let src = img.to_rgb8();
    let (w, h) = src.dimensions();
    let b = (w.min(h) / 100).max(2);
    let mut framed = RgbImage::from_pixel(w + 2 * b, h + 2 * b, Rgb([255, 255, 255]));
    image::imageops::overlay(&mut framed, &src, i64::from(b), i64::from(b));
    let (fw, fh) = (u64::from(framed.width()), u64::from(framed.height()));
    let (cw, ch) = if fw * 9 < fh * 16 {
        (fh * 16 / 9, fh)
    } else {
        (fw, fw * 9 / 16)
    };
    let mut canvas = RgbImage::from_pixel(cw as u32, ch as u32, Rgb([0, 0, 0]));
    let ox = ((cw - fw) / 2) as i64;
    let oy = ((ch - fh) / 2) as i64;
    image::imageops::overlay(&mut canvas, &framed, ox, oy);
    let canvas = DynamicImage::ImageRgb8(canvas);
    if canvas.width() > 1920 {
        canvas.resize(1920, 1080, FilterType::Triangle)
    } else {
        canvas
    }
}

/// Turn by `degrees` about the centre (bilinear) and keep the largest
/// rectangle of the same shape that has no corner fill.
pub fn rotate_crop(img: &DynamicImage, degrees: f64) -> DynamicImage {
    let src = img.to_rgb8();
    let (w, h) = (f64::from(src.width()), f64::from(src.height()));
    let (s, c) = degrees.to_radians().sin_cos();
    let (sa, ca) = (s.abs(), c.abs());
    let k = (w / (w * ca + h * sa)).min(h / (w * sa + h * ca));
    let (ow, oh) = ((w * k).floor() as u32, (h * k).floor() as u32);
    let px = |x: i64, y: i64| -> [f64; 3] {
        let x = x.clamp(0, src.width() as i64 - 1) as u32;
        let y = y.clamp(0, src.height() as i64 - 1) as u32;
        let p = src.get_pixel(x, y).0;
        [f64::from(p[0]), f64::from(p[1]), f64::from(p[2])]
    };
    let out = RgbImage::from_fn(ow, oh, |u, v| {
        // Output pixel centre relative to the centre, turned back into the source.
        let dx = f64::from(u) + 0.5 - f64::from(ow) / 2.0;
        let dy = f64::from(v) + 0.5 - f64::from(oh) / 2.0;
        let sx = c * dx + s * dy + w / 2.0 - 0.5;
        let sy = -s * dx + c * dy + h / 2.0 - 0.5;
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let (a, b, cc, d) = (
            px(x0, y0),
            px(x0 + 1, y0),
            px(x0, y0 + 1),
            px(x0 + 1, y0 + 1),
        );
        let mut o = [0u8; 3];
        for i in 0..3 {
            let top = a[i] * (1.0 - fx) + b[i] * fx;
            let bot = cc[i] * (1.0 - fx) + d[i] * fx;
            o[i] = (top * (1.0 - fy) + bot * fy).round().clamp(0.0, 255.0) as u8;
        }
        Rgb(o)
    });
    DynamicImage::ImageRgb8(out)
}

/// Per-channel gains and a brightness lift: a warm filter.
pub fn colour_shift(img: &DynamicImage) -> DynamicImage {
    let mut out = img.to_rgb8();
    for p in out.pixels_mut() {
        for (ch, gain) in p.0.iter_mut().zip([1.10, 1.0, 0.85]) {
            *ch = (f64::from(*ch) * gain + 18.0).round().clamp(0.0, 255.0) as u8;
        }
    }
    DynamicImage::ImageRgb8(out)
}

/// Gaussian noise, σ = 12 grey levels per channel.
pub fn noise(img: &DynamicImage, rng: &mut Rng) -> DynamicImage {
    let mut out = img.to_rgb8();
    for p in out.pixels_mut() {
        for k in 0..3 {
            let v = f64::from(p.0[k]) + 12.0 * rng.normal();
            p.0[k] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    DynamicImage::ImageRgb8(out)
}

/// A phone screenshot of a social-media post showing the photo: 1080×2340,
/// light page, status bar, header with avatar and name, text lines, the photo
/// about 1000 px wide, a like/share bar, more text, a navigation bar; JPEG q80.
pub fn phone_screenshot(img: &DynamicImage, rng: &mut Rng) -> Vec<u8> {
    const W: u32 = 1080;
    const H: u32 = 2340;
    let page = [250, 250, 250];
    let ink = [28, 28, 30];
    let grey = [150, 152, 158];
    let mut s = RgbImage::from_pixel(W, H, Rgb(page));
    // Status bar: time on the left, signal and battery on the right.
    text_line(&mut s, 60, 30, 110, 36, ink, 1.0, rng);
    rect(&mut s, 860, 34, 40, 30, ink, 1.0);
    rect(&mut s, 920, 34, 70, 30, ink, 1.0);
    rect(&mut s, 990, 42, 8, 14, ink, 1.0);
    // App header and a divider.
    text_line(&mut s, 60, 130, 300, 48, ink, 1.0, rng);
    rect(&mut s, 0, 220, W as i64, 2, [225, 225, 228], 1.0);
    // Post header: avatar, name, handle and time.
    let hue = [
        rng.range(40, 220) as u8,
        rng.range(40, 220) as u8,
        rng.range(40, 220) as u8,
    ];
    disc(&mut s, 110.0, 300.0, 50.0, 0.0, hue, 1.0);
    text_line(&mut s, 190, 262, 320, 34, ink, 1.0, rng);
    text_line(&mut s, 190, 312, 240, 28, grey, 1.0, rng);
    // Post text: two or three lines.
    let mut y = 390;
    for _ in 0..rng.range(2, 3) {
        text_line(
            &mut s,
            40,
            y,
            1000 - rng.range(0, 300) as i64,
            34,
            ink,
            1.0,
            rng,
        );
        y += 56;
    }
    y += 20;
    // The photo, 1000 px wide unless that makes it taller than 1250 px.
    let (pw, ph) = img.dimensions();
    let scale = (1000.0 / f64::from(pw)).min(1250.0 / f64::from(ph));
    let (tw, th) = (
        (f64::from(pw) * scale).round() as u32,
        (f64::from(ph) * scale).round() as u32,
    );
    let photo = img.resize_exact(tw, th, FilterType::Triangle).to_rgb8();
    let px = (i64::from(W) - i64::from(tw)) / 2;
    image::imageops::overlay(&mut s, &photo, px, y);
    y += i64::from(th) + 30;
    // Like / comment / share bar with counts.
    for (i, x) in [60i64, 300, 540, 780].iter().enumerate() {
        disc(
            &mut s,
            *x as f64 + 22.0,
            y as f64 + 22.0,
            22.0,
            if i == 0 { 0.0 } else { 16.0 },
            grey,
            1.0,
        );
        text_line(&mut s, x + 60, y + 6, 90, 30, grey, 1.0, rng);
    }
    y += 80;
    for _ in 0..3 {
        if y + 40 > i64::from(H) - 200 {
            break;
        }
        text_line(
            &mut s,
            40,
            y,
            1000 - rng.range(0, 400) as i64,
            30,
            ink,
            1.0,
            rng,
        );
        y += 52;
    }
    // Navigation bar.
    rect(
        &mut s,
        0,
        i64::from(H) - 150,
        W as i64,
        150,
        [244, 244, 246],
        1.0,
    );
    for x in [120.0, 330.0, 540.0, 750.0, 960.0] {
        disc(&mut s, x, f64::from(H) - 85.0, 26.0, 18.0, ink, 1.0);
    }
    jpeg(&DynamicImage::ImageRgb8(s), 80)
}

/// The source a copy is made from.
pub struct Source<'a> {
    /// The original file's bytes.
    pub bytes: &'a [u8],
    /// The original's pixels, EXIF orientation applied (as it is displayed).
    pub image: &'a DynamicImage,
}

type Make = fn(&Source<'_>, &mut Rng) -> Vec<u8>;

/// One way a picture circulates.
pub struct Transformation {
    /// Short name (table row, JSON key).
    pub name: &'static str,
    /// What it does.
    pub what: &'static str,
    /// Required recall ("any tier"), percent, when the issue sets one.
    pub target: Option<f64>,
    /// Make the copy's file bytes.
    pub make: Make,
}

/// Every transformation, in table order.
pub const TRANSFORMATIONS: &[Transformation] = &[
    Transformation {
        name: "as_is",
        what: "the file itself (identical bytes for archived photos)",
        target: Some(99.0),
        make: |s, _| s.bytes.to_vec(),
    },
    Transformation {
        name: "jpeg_q50",
        what: "re-compressed, JPEG q50, full size",
        target: Some(99.0),
        make: |s, _| jpeg(s.image, 50),
    },
    Transformation {
        name: "messenger_640_q75",
        what: "messenger copy: long side 640 px, JPEG q75",
        target: Some(99.0),
        make: |s, _| jpeg(&fit(s.image, 640), 75),
    },
    Transformation {
        name: "messenger_320_q60",
        what: "messenger thumbnail: long side 320 px, JPEG q60",
        target: Some(99.0),
        make: |s, _| jpeg(&fit(s.image, 320), 60),
    },
    Transformation {
        name: "metadata_strip",
        what: "EXIF/XMP/ICC/comments removed, pixels untouched (a dropped EXIF orientation shows the picture as stored)",
        target: Some(99.0),
        make: |s, _| strip_metadata(s.bytes),
    },
    Transformation {
        name: "png_resave",
        what: "saved again as PNG",
        target: Some(99.0),
        make: |s, _| png(s.image),
    },
    Transformation {
        name: "grayscale",
        what: "grey, JPEG q85",
        target: Some(99.0),
        make: |s, _| jpeg(&DynamicImage::ImageLuma8(s.image.to_luma8()), 85),
    },
    Transformation {
        name: "colour_shift",
        what: "warm filter (R×1.10, B×0.85) and +18 brightness, JPEG q85",
        target: Some(99.0),
        make: |s, _| jpeg(&colour_shift(s.image), 85),
    },
    Transformation {
        name: "blur",
        what: "Gaussian blur, σ = long side / 800 (1–5 px), JPEG q85",
        target: Some(99.0),
        make: |s, _| {
            let sigma = (f64::from(s.image.width().max(s.image.height())) / 800.0).clamp(1.0, 5.0);
            jpeg(&s.image.blur(sigma as f32), 85)
        },
    },
    Transformation {
        name: "noise",
        what: "Gaussian noise σ = 12 per channel, JPEG q90",
        target: Some(99.0),
        make: |s, r| jpeg(&noise(s.image, r), 90),
    },
    Transformation {
        name: "caption_bar",
        what: "dark bar with light text over the bottom 15%, JPEG q85",
        target: Some(99.0),
        make: |s, r| jpeg(&caption_bar(s.image, r), 85),
    },
    Transformation {
        name: "watermark",
        what: "semi-transparent logo and text, bottom-right corner, JPEG q85",
        target: Some(99.0),
        make: |s, r| jpeg(&watermark(s.image, r), 85),
    },
    Transformation {
        name: "border_letterbox",
        what: "thin white border, black bars to 16:9, ≤ 1920×1080, JPEG q85",
        target: Some(99.0),
        make: |s, _| jpeg(&border_letterbox(s.image), 85),
    },
    Transformation {
        name: "mirror",
        what: "flipped left to right, JPEG q90",
        target: Some(99.0),
        make: |s, _| jpeg(&s.image.fliph(), 90),
    },
    Transformation {
        name: "rot90",
        what: "turned 90° clockwise, JPEG q90",
        target: Some(99.0),
        make: |s, _| jpeg(&s.image.rotate90(), 90),
    },
    Transformation {
        name: "rot180",
        what: "turned 180°, JPEG q90",
        target: Some(99.0),
        make: |s, _| jpeg(&s.image.rotate180(), 90),
    },
    Transformation {
        name: "crop_10_per_side",
        what: "10% cut from every side (64% of the area), JPEG q85",
        target: None,
        make: |s, _| jpeg(&crop_frac(s.image, 0.8, 0.5, 0.5), 85),
    },
    Transformation {
        name: "crop_25_offcentre",
        what: "25% of the area cut away, window pushed towards a corner, JPEG q85",
        target: Some(95.0),
        make: |s, r| {
            let (fx, fy) = (off_centre(r), off_centre(r));
            jpeg(&crop_frac(s.image, 0.75f64.sqrt(), fx, fy), 85)
        },
    },
    Transformation {
        name: "crop_50",
        what: "half of the area kept, window anywhere, JPEG q85",
        target: Some(85.0),
        make: |s, r| {
            let (fx, fy) = (r.unit(), r.unit());
            jpeg(&crop_frac(s.image, 0.5f64.sqrt(), fx, fy), 85)
        },
    },
    Transformation {
        name: "rotate5_crop",
        what: "turned 5° (random sense), cropped to the filled part, JPEG q85",
        target: Some(90.0),
        make: |s, r| {
            let sense = if r.unit() < 0.5 { -1.0 } else { 1.0 };
            jpeg(&rotate_crop(s.image, 5.0 * sense), 85)
        },
    },
    Transformation {
        name: "phone_screenshot",
        what: "phone screenshot (1080×2340) of a post showing the photo, JPEG q80",
        target: Some(95.0),
        make: |s, r| phone_screenshot(s.image, r),
    },
    Transformation {
        name: "combo",
        what: "off-centre crop (85% per side) + 640 px + caption bar + JPEG q70",
        target: Some(95.0),
        make: |s, r| {
            let (fx, fy) = (off_centre(r), off_centre(r));
            let c = fit(&crop_frac(s.image, 0.85, fx, fy), 640);
            jpeg(&caption_bar(&c, r), 70)
        },
    },
];

// ---------------------------------------------------------------- running

/// What is kept of each archived photo.
struct Archived {
    photo: usize,
    sha256: String,
    full: Full,
    regions: Vec<StoredHash>,
}

/// How a baseline answered one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// No archived photo within the threshold.
    Nothing,
    /// The nearest archived photo within the threshold is the original.
    Right,
    /// The nearest archived photo within the threshold is another photo.
    Wrong(usize),
    /// The nearest archived picture within the threshold is a distractor picture.
    Distractor,
}

impl Baseline {
    /// It named a picture that is not the original.
    pub fn is_wrong(self) -> bool {
        matches!(self, Baseline::Wrong(_) | Baseline::Distractor)
    }
}

/// The outcome of one query.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Photo index.
    pub photo: usize,
    /// Transformation index.
    pub transform: usize,
    /// The original is `earliest_copy`.
    pub earliest: bool,
    /// The original is among the matches.
    pub any: bool,
    /// The original is among the matches at confirmed tier.
    pub confirmed: bool,
    /// Its tier and how it matched, when found.
    pub how: Option<String>,
    /// Archived photos matched that are not the original: (photo, tier, how).
    pub wrong: Vec<(usize, Confidence, String)>,
    /// Distractor pictures matched: (their file, tier, how).
    pub wrong_distractor: Vec<(String, Confidence, String)>,
    /// Seconds to examine and match the copy (its bytes already in memory).
    pub seconds: f64,
    /// PDQ-alone answer.
    pub pdq: Baseline,
    /// pHash-alone answer.
    pub phash: Baseline,
    /// Best distances from any query view to any archived region of the
    /// original: (pdq, phash, dhash) and the query's PDQ quality.
    pub diag: Option<(u32, u32, u32, Option<u8>)>,
    /// What went wrong making or reading the copy.
    pub error: Option<String>,
}

/// Everything measured.
pub struct Summary {
    /// The photos, archive and distractors.
    pub photos: Vec<Photo>,
    /// Photos left out because the library could not read them: (name, why).
    pub skipped: Vec<(String, String)>,
    /// One per (photo, transformation).
    pub outcomes: Vec<Outcome>,
    /// Seconds taken.
    pub seconds: f64,
    /// The archive's size and costs.
    pub scale: Scale,
}

/// What the archive held and what it cost.
#[derive(Debug, Clone, Default)]
pub struct Scale {
    /// Distractor pictures in the archive.
    pub distractors: usize,
    /// Of those asked for, pictures the library could not read (not recorded).
    pub distractors_failed: usize,
    /// Pictures in the archive in all.
    pub pictures: u64,
    /// How the distractors were ingested, when there were any.
    pub ingest: Option<Ingest>,
    /// The SQLite file's bytes (with its WAL, if any).
    pub archive_bytes: u64,
    /// The index snapshot's bytes.
    pub index_bytes: u64,
    /// Seconds to build the engine's index from the archive (and save the snapshot).
    pub load_archive_s: f64,
    /// Seconds to build the engine's index from the snapshot.
    pub load_snapshot_s: f64,
    /// The process's peak resident memory, KiB (Linux).
    pub peak_rss_kib: Option<u64>,
}

/// An ingest of the distractor pictures.
#[derive(Debug, Clone)]
pub struct Ingest {
    /// Pictures read.
    pub pictures: usize,
    /// Wall seconds.
    pub seconds: f64,
    /// Worker threads.
    pub threads: usize,
    /// Read from a kept archive's record instead of measured in this run.
    pub reused: Option<String>,
}

/// The whole-picture hashes the baselines compare.
#[derive(Debug, Clone, Copy)]
struct Full {
    pdq: Option<HashBits>,
    quality: Option<u8>,
    phash: Option<HashBits>,
}

impl From<&Hashes> for Full {
    fn from(h: &Hashes) -> Full {
        Full {
            pdq: h.pdq,
            quality: h.pdq_quality,
            phash: Some(h.phash),
        }
    }
}

struct Ctx<'a> {
    engine: &'a Engine,
    photos: &'a [Photo],
    archived: &'a [Archived],
    distractor_full: &'a [Full],
    by_sha: HashMap<&'a str, usize>,
    dump: Option<&'a Path>,
    only: &'a [String],
}

/// Build the archive, make and query every copy.
pub fn run(opts: &Options) -> Result<Summary, String> {
    let start = Instant::now();
    let mut photos = photo_set(&opts.ref_dir, opts.quick);
    if photos.iter().filter(|p| p.archived).count() < 2 {
        return Err(format!(
            "too few photos under {} (is ../shared/ref there?)",
            opts.ref_dir.display()
        ));
    }
    let mut config = Config::default();
    if opts.crop_search.is_some() {
        config.matching =
            retrace::internals::pipeline::match_params_with_crop_search(opts.crop_search);
    }
    if let Some(n) = opts.align_unsupported {
        config.matching.align_unsupported = n;
    }
    if let Some(n) = opts.refine_unsupported {
        config.matching.refine_unsupported = n;
    }
    config.matching.align_unsupported_when_known = opts.align_unsupported_when_known;
    config.matching.align_unsupported_turned = opts.align_unsupported_turned;
    // What the archive stores of a picture does not depend on the archive, so
    // the photos are examined before there is one.
    let examiner = Engine::new(config.clone(), None).map_err(|e| e.to_string())?;

    // Read every photo; drop those the library cannot decode cleanly.
    let mut skipped = Vec::new();
    let mut kept = Vec::new();
    let mut archived = Vec::new();
    let mut batch = Vec::new();
    for p in photos.drain(..) {
        let blob = match std::fs::read(&p.path) {
            Ok(b) => Blob::from_bytes(b),
            Err(e) => {
                skipped.push((p.name, e.to_string()));
                continue;
            }
        };
        let ex = examiner.examine_blob(p.name.clone(), &blob);
        if let Some(err) = ex.report.errors.first() {
            skipped.push((p.name, format!("{}: {}", err.stage, err.message)));
            continue;
        }
        if p.archived {
            let Some(entry) = examiner.archive_entry(&ex) else {
                skipped.push((p.name, "no archive entry".into()));
                continue;
            };
            let n = archived.len();
            archived.push(Archived {
                photo: kept.len(),
                sha256: blob.sha256.clone(),
                full: Full::from(ex.hashes.as_ref().expect("hashed")),
                regions: entry.hashes.clone(),
            });
            // Distinct first-seen dates in an order unrelated to the names,
            // so that `earliest_copy` is put to the test by false matches.
            let day = (n * 37) % 360;
            let sighting = Sighting {
                location: p.name.clone(),
                source: "accuracy benchmark".into(),
                url: None,
                first_seen: format!("2020-{:02}-{:02}", day / 30 + 1, day % 30 + 1),
                first_seen_from: "given".into(),
            };
            batch.push((entry, sighting));
        }
        kept.push(p);
    }
    drop(examiner);
    let photos = kept;

    // The archive is a file, as in use, so that its size can be told.
    let work = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let db = work.path().join("archive.db");
    let mut scale = Scale::default();
    let distractor_full = if opts.distractors > 0 {
        let (ingest, failed) = distractor_archive(opts, &config, &db)?;
        scale.ingest = Some(ingest);
        scale.distractors_failed = failed;
        scale.distractors = opts.distractors - failed;
        full_hashes(&db)?
    } else {
        Vec::new()
    };
    {
        let mut archive = Archive::open(&db).map_err(|e| e.to_string())?;
        archive.record_batch(&batch).map_err(|e| e.to_string())?;
        scale.pictures = archive.image_count().map_err(|e| e.to_string())?;
    }
    scale.archive_bytes = file_len(&db) + file_len(&sibling(&db, "-wal"));
    // The index as `check` and `scan` load it: from the archive the first
    // time (saving the snapshot), from the snapshot after that.
    let snapshot = sibling(&db, ".index");
    config.index_cache = Some(snapshot.clone());
    config.index_cache_min_images = 1;
    let open = || Archive::open(&db).map_err(|e| e.to_string());
    let t = Instant::now();
    let first = Engine::new(config.clone(), Some(open()?)).map_err(|e| e.to_string())?;
    scale.load_archive_s = t.elapsed().as_secs_f64();
    if let Some(Err(e)) = &first.index_load().saved {
        eprintln!(
            "accuracy: the index snapshot was not saved: {}",
            retrace::error_chain(e)
        );
    }
    drop(first);
    scale.index_bytes = file_len(&snapshot);
    let t = Instant::now();
    let engine = Engine::new(config, Some(open()?)).map_err(|e| e.to_string())?;
    scale.load_snapshot_s = t.elapsed().as_secs_f64();
    if !engine.index_load().from_snapshot {
        eprintln!(
            "accuracy: the index was not loaded from its snapshot ({})",
            engine
                .index_load()
                .snapshot_refused
                .as_ref()
                .map_or("no snapshot".into(), |e| retrace::error_chain(e))
        );
    }
    let ctx = Ctx {
        engine: &engine,
        photos: &photos,
        archived: &archived,
        distractor_full: &distractor_full,
        by_sha: archived
            .iter()
            .enumerate()
            .map(|(i, a)| (a.sha256.as_str(), i))
            .collect(),
        dump: opts.dump.as_deref(),
        only: &opts.only,
    };

    // Photos are handed out one at a time; each photo's copies are made and
    // queried by one worker, so the results do not depend on the thread count.
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..opts.threads.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= photos.len() {
                    break;
                }
                let out = query_photo(&ctx, i);
                let mut all = results.lock().expect("results");
                all.extend(out);
                eprint!("\r{} queries done", all.len());
            });
        }
    });
    eprintln!();
    let mut outcomes = results.into_inner().expect("results");
    outcomes.sort_by_key(|o| (o.transform, o.photo));
    scale.peak_rss_kib = peak_rss_kib();
    Ok(Summary {
        photos,
        skipped,
        outcomes,
        seconds: start.elapsed().as_secs_f64(),
        scale,
    })
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// `archive.db` → `archive.db-wal`, `archive.db.index`, ...
fn sibling(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// The process's peak resident set (Linux `VmHWM`).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One distractor picture: its file relative to the set's folder, the
/// absolute path, its SHA-256 as the manifest lists it.
#[derive(Clone)]
struct DistractorFile {
    rel: String,
    path: PathBuf,
    sha256: String,
}

/// The first `n` pictures of the set in `dir`, in manifest order.
fn distractor_files(dir: &Path, n: usize) -> Result<Vec<DistractorFile>, String> {
    let manifest = dir.join("manifest.tsv");
    let text = std::fs::read_to_string(&manifest).map_err(|e| {
        format!(
            "{}: {e} (make the distractor pictures with benches/distractors/make.sh {} {n})",
            manifest.display(),
            dir.display()
        )
    })?;
    let mut out = Vec::with_capacity(n);
    for line in text.lines().skip(1).take(n) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(rel), Some(sha)) = (cols.get(1), cols.get(9)) else {
            return Err(format!(
                "{}: a line without a file and a SHA-256: {line:?}",
                manifest.display()
            ));
        };
        out.push(DistractorFile {
            rel: (*rel).to_string(),
            path: dir.join(rel),
            sha256: (*sha).to_string(),
        });
    }
    if out.len() < n {
        return Err(format!(
            "{} lists {} pictures, fewer than --distractors {n} (make more with benches/distractors/make.sh {} {n})",
            manifest.display(),
            out.len(),
            dir.display()
        ));
    }
    Ok(out)
}

/// Leaves `db` holding the distractor pictures: copied from the kept archive
/// when it holds the same pictures made the same way, else ingested (and
/// kept, when asked). Returns how they were ingested and how many failed.
fn distractor_archive(
    opts: &Options,
    config: &Config,
    db: &Path,
) -> Result<(Ingest, usize), String> {
    let files = distractor_files(&opts.distractor_dir, opts.distractors)?;
    let mut listed = Sha256::new();
    for f in &files {
        listed.update(format!("{}\t{}\n", f.rel, f.sha256));
    }
    let key = serde_json::json!({
        "format": "retrace.accuracy.distractors/1",
        "pictures": files.len(),
        "files_sha256": hex(&listed.finalize()),
        "schema_version": SCHEMA_VERSION,
        "stamps": HashKind::ALL.iter().map(|k| k.stamp()).collect::<Vec<_>>(),
        "entry_sha256": entry_fingerprint(config, &files[0].path)?,
    });
    let Some(keep) = &opts.distractor_archive else {
        return ingest_distractors(config, db, &files, opts.threads);
    };
    let record_path = sibling(keep, ".json");
    let record: Option<serde_json::Value> = std::fs::read(&record_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let why = match &record {
        _ if !keep.exists() => "none kept yet".to_string(),
        None => format!("no readable {}", record_path.display()),
        Some(r) if r.get("key") != Some(&key) => {
            format!(
                "it was made from other pictures or by another build: {}",
                r.get("key").map(|k| k.to_string()).unwrap_or_default()
            )
        }
        Some(r) => {
            std::fs::copy(keep, db).map_err(|e| format!("copying {}: {e}", keep.display()))?;
            let num = |k: &str| r["ingest"][k].as_f64().unwrap_or(0.0);
            let ingest = Ingest {
                pictures: num("pictures") as usize,
                seconds: num("seconds"),
                threads: num("threads") as usize,
                reused: Some(format!(
                    "{}, built {}",
                    keep.display(),
                    r["built"].as_str().unwrap_or("?")
                )),
            };
            return Ok((ingest, r["failed"].as_u64().unwrap_or(0) as usize));
        }
    };
    eprintln!(
        "accuracy: building the distractor archive {} ({why})",
        keep.display()
    );
    // An interrupted build resumes: the partial archive only ever holds whole
    // batches (each a transaction), its pictures known by their SHA-256, and
    // the key that made it is kept beside it so that another build or other
    // pictures start afresh instead of mixing.
    let partial = sibling(keep, ".partial");
    let partial_key = sibling(&partial, ".key");
    let resumable = std::fs::read(&partial_key)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|k| same_build(&k, &key))
        && partial.exists();
    if !resumable {
        for p in [
            partial.clone(),
            sibling(&partial, "-wal"),
            sibling(&partial, "-shm"),
        ] {
            let _ = std::fs::remove_file(p);
        }
        std::fs::write(&partial_key, format!("{key:#}\n"))
            .map_err(|e| format!("{}: {e}", partial_key.display()))?;
    } else {
        eprintln!("accuracy: resuming {}", partial.display());
    }
    let (ingest, failed) = ingest_distractors(config, &partial, &files, opts.threads)?;
    let _ = std::fs::remove_file(&record_path);
    std::fs::rename(&partial, keep).map_err(|e| format!("{}: {e}", keep.display()))?;
    let _ = std::fs::remove_file(&partial_key);
    let record = serde_json::json!({
        "key": key,
        "ingest": {"pictures": ingest.pictures, "seconds": ingest.seconds, "threads": ingest.threads},
        "failed": failed,
        "built": retrace::internals::archive::now_iso(),
    });
    std::fs::write(&record_path, format!("{record:#}\n"))
        .map_err(|e| format!("{}: {e}", record_path.display()))?;
    std::fs::copy(keep, db).map_err(|e| format!("copying {}: {e}", keep.display()))?;
    Ok((ingest, failed))
}

/// Whether a partial archive made under key `partial` can be finished under
/// `key`: the same build and schema, and no more pictures than now (the set
/// is taken in manifest order, so fewer pictures are a prefix of these).
fn same_build(partial: &serde_json::Value, key: &serde_json::Value) -> bool {
    let same = |k: &str| partial.get(k) == key.get(k);
    let fewer = partial["pictures"].as_u64() <= key["pictures"].as_u64();
    same("format") && same("schema_version") && same("stamps") && same("entry_sha256") && fewer
}

/// What the archive would store for one picture, with the schema and stamps:
/// when any of it changes, a kept distractor archive is stale.
fn entry_fingerprint(config: &Config, picture: &Path) -> Result<String, String> {
    let engine = Engine::new(config.clone(), None).map_err(|e| e.to_string())?;
    let ex = engine.examine_path(picture);
    let entry = engine
        .archive_entry(&ex)
        .ok_or_else(|| format!("{}: the library cannot read it", picture.display()))?;
    Ok(hex(&Sha256::digest(
        format!("{SCHEMA_VERSION}\n{entry:?}").as_bytes(),
    )))
}

/// Record the pictures into the archive at `path` as `retrace archive add`
/// does (examined in parallel by `retrace::Scan`, recorded 64 at a time),
/// in the order listed, so that their ids do not depend on the thread count.
fn ingest_distractors(
    config: &Config,
    path: &Path,
    files: &[DistractorFile],
    threads: usize,
) -> Result<(Ingest, usize), String> {
    const RECORD_BATCH: usize = 64;
    let start = Instant::now();
    let archive = Archive::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // What an interrupted build already recorded is not examined again.
    let mut recorded = 0usize;
    let mut todo = Vec::with_capacity(files.len());
    for f in files {
        match archive.lookup_sha256(&f.sha256) {
            Ok(Some(_)) => recorded += 1,
            Ok(None) => todo.push(f.clone()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    if recorded > 0 {
        eprintln!(
            "accuracy: {recorded} distractor pictures already recorded in {}, {} to go",
            path.display(),
            todo.len()
        );
    }
    let files = &todo[..];
    let engine = Engine::new(config.clone(), Some(archive)).map_err(|e| e.to_string())?;
    let candidates: Vec<Candidate> = files
        .iter()
        .map(|f| Candidate {
            path: f.path.clone(),
            relative: PathBuf::from(&f.rel),
        })
        .collect();
    let index_of: HashMap<&Path, usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (c.path.as_path(), i))
        .collect();
    let first_day = chrono::NaiveDate::from_ymd_opt(2018, 1, 1).expect("a date");
    let cancel = AtomicBool::new(false);
    let mut pending = BTreeMap::new();
    let (mut next, mut done, mut failed) = (0usize, 0usize, 0usize);
    let mut batch = Vec::new();
    let mut error = None;
    let flush = |batch: &mut Vec<_>, error: &mut Option<String>| {
        if error.is_none() && !batch.is_empty() {
            if let Err(e) = engine.record(batch) {
                *error = Some(format!(
                    "recording distractors into {}: {e}",
                    path.display()
                ));
                cancel.store(true, Ordering::SeqCst);
            }
        }
        batch.clear();
    };
    Scan::new(&engine)
        .threads(threads.max(1))
        .cancel(&cancel)
        .examine_only(true)
        .run(&candidates, |c, ex| {
            let i = index_of[c.path.as_path()];
            let item = engine.archive_entry(&ex).map(|entry| {
                // Spread over 2018–2023, so that a false match is sometimes
                // earlier than the archived original and `earliest_copy` is
                // put to the test.
                let day = first_day + chrono::Days::new((i as u64 * 7919) % 2000);
                let sighting = Sighting {
                    location: files[i].rel.clone(),
                    source: "accuracy distractors".into(),
                    url: None,
                    first_seen: day.format("%Y-%m-%d").to_string(),
                    first_seen_from: "given".into(),
                };
                (entry, sighting)
            });
            if item.is_none() {
                failed += 1;
                let why = ex
                    .report
                    .errors
                    .first()
                    .map(|e| format!("{}: {}", e.stage, e.message));
                eprintln!(
                    "\naccuracy: distractor {} not recorded: {}",
                    files[i].rel,
                    why.unwrap_or_default()
                );
            }
            pending.insert(i, item);
            while let Some(item) = pending.remove(&next) {
                next += 1;
                batch.extend(item);
                if batch.len() >= RECORD_BATCH {
                    flush(&mut batch, &mut error);
                }
            }
            done += 1;
            if done % 500 == 0 {
                let rate = done as f64 / start.elapsed().as_secs_f64();
                eprint!(
                    "\r{done}/{} distractor pictures recorded, {rate:.1}/s",
                    files.len()
                );
            }
        })
        .map_err(|e| e.to_string())?;
    flush(&mut batch, &mut error);
    eprintln!();
    if let Some(e) = error {
        return Err(e);
    }
    Ok((
        Ingest {
            pictures: files.len(),
            seconds: start.elapsed().as_secs_f64(),
            threads,
            reused: None,
        },
        failed,
    ))
}

/// The whole-picture hashes of every picture in the archive at `db`.
fn full_hashes(db: &Path) -> Result<Vec<Full>, String> {
    let archive = Archive::open(db).map_err(|e| e.to_string())?;
    let mut by_id: BTreeMap<i64, Full> = BTreeMap::new();
    archive
        .for_each_current_hash(|id, region, bits, quality| {
            if region != "full" {
                return;
            }
            let f = by_id.entry(id).or_insert(Full {
                pdq: None,
                quality: None,
                phash: None,
            });
            match bits.kind {
                HashKind::Pdq => {
                    f.pdq = Some(bits);
                    f.quality = quality;
                }
                HashKind::Phash => f.phash = Some(bits),
                _ => {}
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(by_id.into_values().collect())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn query_photo(ctx: &Ctx<'_>, pi: usize) -> Vec<Outcome> {
    let photo = &ctx.photos[pi];
    let bytes = std::fs::read(&photo.path).unwrap_or_default();
    let blob = Blob::from_bytes(bytes.clone());
    let meta = retrace::internals::metadata::read_metadata(&bytes, blob.format, &Limits::default());
    let decoded = image::load_from_memory(&bytes).map_err(|e| e.to_string());
    let mut out = Vec::new();
    for (ti, t) in TRANSFORMATIONS.iter().enumerate() {
        if !ctx.only.is_empty() && !ctx.only.iter().any(|n| n == t.name) {
            continue;
        }
        let blank = Outcome {
            photo: pi,
            transform: ti,
            earliest: false,
            any: false,
            confirmed: false,
            how: None,
            wrong: Vec::new(),
            wrong_distractor: Vec::new(),
            seconds: 0.0,
            pdq: Baseline::Nothing,
            phash: Baseline::Nothing,
            diag: None,
            error: None,
        };
        let img = match &decoded {
            Ok(img) => retrace::internals::decode::orient(img.clone(), meta.orientation),
            Err(e) => {
                out.push(Outcome {
                    error: Some(format!("decoding the original: {e}")),
                    ..blank
                });
                continue;
            }
        };
        let mut rng = Rng::keyed(&[&photo.name, t.name]);
        let copy = (t.make)(
            &Source {
                bytes: &bytes,
                image: &img,
            },
            &mut rng,
        );
        if let Some(dir) = ctx.dump.filter(|_| pi < 3) {
            let ext = match retrace::internals::input::read::sniff(&copy) {
                Format::Png => "png",
                _ => "jpg",
            };
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::write(dir.join(format!("{pi}_{}.{ext}", t.name)), &copy);
        }
        out.push(query(ctx, blank, copy));
    }
    out
}

fn query(ctx: &Ctx<'_>, mut o: Outcome, copy: Vec<u8>) -> Outcome {
    let blob = Blob::from_bytes(copy);
    debug_assert_ne!(blob.format, Format::Unknown);
    let t = &TRANSFORMATIONS[o.transform];
    let timer = Instant::now();
    let mut ex = ctx
        .engine
        .examine_blob(format!("{}#{}", ctx.photos[o.photo].name, t.name), &blob);
    ctx.engine.analyze(&mut ex);
    o.seconds = timer.elapsed().as_secs_f64();
    if let Some(e) = ex.report.errors.first() {
        o.error = Some(format!("{}: {}", e.stage, e.message));
    }
    let own = ctx.archived.iter().position(|a| a.photo == o.photo);
    let own_sha = own.map(|i| ctx.archived[i].sha256.as_str());
    if let Ok(path) = std::env::var("RETRACE_ACCURACY_MATCHES") {
        use std::io::Write as _;
        let mut lines = String::new();
        for m in &ex.report.matches {
            let kind = if Some(m.sha256.as_str()) == own_sha {
                "own".to_string()
            } else if let Some(&ai) = ctx.by_sha.get(m.sha256.as_str()) {
                format!("photo:{}", ctx.photos[ctx.archived[ai].photo].name)
            } else {
                "distractor".to_string()
            };
            let line = serde_json::json!({
                "photo": ctx.photos[o.photo].name, "transformation": t.name, "kind": kind,
                "confidence": m.confidence, "transform": m.transform, "geometry": m.geometry,
                "chance": m.chance, "evidence": m.evidence,
            });
            lines.push_str(&format!("{line}\n"));
        }
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(lines.as_bytes());
        }
    }
    for m in &ex.report.matches {
        let how = format!(
            "{} via {}{}; {}",
            match m.confidence {
                Confidence::Confirmed => "confirmed",
                Confidence::Possible => "possible",
            },
            m.transform,
            m.region
                .as_ref()
                .map(|r| format!(" ({})", r.description))
                .unwrap_or_default(),
            m.evidence.join("; ")
        );
        if Some(m.sha256.as_str()) == own_sha {
            o.any = true;
            o.confirmed |= m.confidence == Confidence::Confirmed;
            o.how = Some(how);
        } else if let Some(&ai) = ctx.by_sha.get(m.sha256.as_str()) {
            o.wrong.push((ctx.archived[ai].photo, m.confidence, how));
        } else {
            // Not a benchmark photo: a distractor picture.
            let file = ctx
                .engine
                .with_archive(|a| {
                    let id = a.lookup_sha256(&m.sha256).ok().flatten()?;
                    Some(a.known_image(id).ok().flatten()?.earliest.location)
                })
                .flatten()
                .unwrap_or_else(|| m.sha256.clone());
            o.wrong_distractor.push((file, m.confidence, how));
        }
    }
    o.earliest =
        own_sha.is_some() && ex.report.earliest_copy.as_ref().map(|m| m.sha256.as_str()) == own_sha;

    if let Some(h) = &ex.hashes {
        o.pdq = baseline(ctx, own, |a| {
            let ok = h.pdq_quality.is_some_and(|q| q >= 50) && a.quality.is_some_and(|q| q >= 50);
            let d = h.pdq.zip(a.pdq).and_then(|(x, y)| x.distance(&y))?;
            (ok && d <= 31).then_some(d)
        });
        o.phash = baseline(ctx, own, |a| {
            a.phash
                .and_then(|p| h.phash.distance(&p))
                .filter(|&d| d <= 10)
        });
        if let (Some(i), false) = (own, o.any) {
            o.diag = diagnose(&ex, h, &ctx.archived[i]);
        }
    }
    o
}

/// The nearest archived picture under `within` (which returns the distance
/// when the pair counts), judged against the query's own original. A
/// distractor picture is the nearest only when strictly nearer than every
/// benchmark photo within the threshold.
fn baseline(ctx: &Ctx<'_>, own: Option<usize>, within: impl Fn(&Full) -> Option<u32>) -> Baseline {
    let best = ctx
        .archived
        .iter()
        .enumerate()
        .filter_map(|(i, a)| within(&a.full).map(|d| (d, i)))
        .min();
    let distractor = ctx.distractor_full.iter().filter_map(&within).min();
    match (best, distractor) {
        (None, None) => Baseline::Nothing,
        (None, Some(_)) => Baseline::Distractor,
        (Some((d, _)), Some(dd)) if dd < d => Baseline::Distractor,
        (Some((_, i)), _) if Some(i) == own => Baseline::Right,
        (Some((_, i)), _) => Baseline::Wrong(ctx.archived[i].photo),
    }
}

/// Best distances between any view retrace hashes of the query and any
/// stored region of its original: what the matcher had to work with.
fn diagnose(
    ex: &retrace::Examined,
    h: &Hashes,
    a: &Archived,
) -> Option<(u32, u32, u32, Option<u8>)> {
    let img = ex.working.as_ref()?;
    let views = query_variants(img, h);
    let best = |kind: HashKind| {
        views
            .iter()
            .filter_map(|v| v.hashes.get(kind))
            .flat_map(|q| a.regions.iter().filter_map(move |s| q.distance(&s.bits)))
            .min()
            .unwrap_or(u32::MAX)
    };
    Some((
        best(HashKind::Pdq),
        best(HashKind::Phash),
        best(HashKind::Dhash),
        h.pdq_quality,
    ))
}

// ---------------------------------------------------------------- reporting

/// Counts for one table row.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// Transformation name.
    pub name: &'static str,
    /// Copies of archived photos.
    pub n: usize,
    /// Recalled as `earliest_copy`.
    pub earliest: usize,
    /// Recalled at any tier.
    pub any: usize,
    /// Recalled at confirmed tier.
    pub confirmed: usize,
    /// PDQ-alone recall.
    pub pdq: usize,
    /// pHash-alone recall.
    pub phash: usize,
    /// Queries (archived copies and distractors) with a false confirmed match.
    pub false_confirmed: usize,
    /// Queries with a false possible match (hard negatives apart).
    pub false_possible: usize,
    /// Queries of any kind.
    pub queries: usize,
    /// Queries where PDQ alone named another photo.
    pub pdq_false: usize,
    /// Queries where pHash alone named another photo.
    pub phash_false: usize,
    /// Target, percent.
    pub target: Option<f64>,
}

impl Row {
    /// Recall at any tier, percent.
    pub fn recall(&self) -> f64 {
        pct(self.any, self.n)
    }

    /// Whether the row meets its target (`None` when it has none).
    pub fn pass(&self) -> Option<bool> {
        self.target.map(|t| self.recall() >= t)
    }
}

/// False matches over all queries.
#[derive(Debug, Clone, Default)]
pub struct Falses {
    /// Queries in all.
    pub queries: usize,
    /// False confirmed matches (count of matches; hard negatives included).
    pub confirmed: usize,
    /// Queries with at least one false confirmed match.
    pub confirmed_queries: usize,
    /// False possible matches (hard negatives excluded).
    pub possible: usize,
    /// Queries with at least one false possible match (hard negatives excluded).
    pub possible_queries: usize,
    /// Possible matches between different photos of one scene (acceptable).
    pub hard_possible: usize,
    /// Confirmed matches between different photos of one scene (not acceptable; in `confirmed`).
    pub hard_confirmed: usize,
    /// Of the false matches, those from distractor queries.
    pub from_distractors: usize,
    /// Of the false confirmed matches, those to distractor pictures in the archive.
    pub confirmed_to_pictures: usize,
    /// Of the false possible matches, those to distractor pictures in the archive.
    pub possible_to_pictures: usize,
    /// Queries where PDQ alone named a distractor picture.
    pub pdq_to_pictures: usize,
    /// Queries where pHash alone named a distractor picture.
    pub phash_to_pictures: usize,
    /// Queries where PDQ alone named another photo (hard negatives included).
    pub pdq: usize,
    /// Queries where pHash alone named another photo (hard negatives included).
    pub phash: usize,
}

fn pct(k: usize, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        100.0 * k as f64 / n as f64
    }
}

impl Summary {
    fn is_hard(&self, a: usize, b: usize) -> bool {
        self.photos[a].group.is_some() && self.photos[a].group == self.photos[b].group
    }

    /// One row per transformation.
    pub fn rows(&self) -> Vec<Row> {
        TRANSFORMATIONS
            .iter()
            .enumerate()
            .filter(|(ti, _)| self.outcomes.iter().any(|o| o.transform == *ti))
            .map(|(ti, t)| {
                let mut r = Row {
                    name: t.name,
                    target: t.target,
                    ..Row::default()
                };
                for o in self.outcomes.iter().filter(|o| o.transform == ti) {
                    r.queries += 1;
                    if self.photos[o.photo].archived {
                        r.n += 1;
                        r.earliest += usize::from(o.earliest);
                        r.any += usize::from(o.any);
                        r.confirmed += usize::from(o.confirmed);
                        r.pdq += usize::from(o.pdq == Baseline::Right);
                        r.phash += usize::from(o.phash == Baseline::Right);
                    }
                    let wc = o.wrong.iter().any(|w| w.1 == Confidence::Confirmed)
                        || o.wrong_distractor
                            .iter()
                            .any(|w| w.1 == Confidence::Confirmed);
                    let wp = o
                        .wrong
                        .iter()
                        .any(|w| w.1 == Confidence::Possible && !self.is_hard(o.photo, w.0))
                        || o.wrong_distractor
                            .iter()
                            .any(|w| w.1 == Confidence::Possible);
                    r.false_confirmed += usize::from(wc);
                    r.false_possible += usize::from(wp);
                    r.pdq_false += usize::from(o.pdq.is_wrong());
                    r.phash_false += usize::from(o.phash.is_wrong());
                }
                r
            })
            .collect()
    }

    /// False matches over every query.
    pub fn falses(&self) -> Falses {
        let mut f = Falses::default();
        for o in &self.outcomes {
            f.queries += 1;
            let (mut c, mut p) = (false, false);
            for (other, tier, _) in &o.wrong {
                let hard = self.is_hard(o.photo, *other);
                match tier {
                    Confidence::Confirmed => {
                        f.confirmed += 1;
                        f.hard_confirmed += usize::from(hard);
                        c = true;
                    }
                    Confidence::Possible if hard => f.hard_possible += 1,
                    Confidence::Possible => {
                        f.possible += 1;
                        p = true;
                    }
                }
                if !self.photos[o.photo].archived && !hard {
                    f.from_distractors += 1;
                }
            }
            for (_, tier, _) in &o.wrong_distractor {
                match tier {
                    Confidence::Confirmed => {
                        f.confirmed += 1;
                        f.confirmed_to_pictures += 1;
                        c = true;
                    }
                    Confidence::Possible => {
                        f.possible += 1;
                        f.possible_to_pictures += 1;
                        p = true;
                    }
                }
                if !self.photos[o.photo].archived {
                    f.from_distractors += 1;
                }
            }
            f.confirmed_queries += usize::from(c);
            f.possible_queries += usize::from(p);
            f.pdq += usize::from(o.pdq.is_wrong());
            f.phash += usize::from(o.phash.is_wrong());
            f.pdq_to_pictures += usize::from(o.pdq == Baseline::Distractor);
            f.phash_to_pictures += usize::from(o.phash == Baseline::Distractor);
        }
        f
    }

    /// The readable report.
    pub fn render(&self, verbose: bool) -> String {
        let mut s = String::new();
        let archived = self.photos.iter().filter(|p| p.archived).count();
        let distractors = self.photos.len() - archived;
        let _ = writeln!(
            s,
            "retrace accuracy benchmark: {archived} archived photos, {distractors} distractors, {} transformations, {} queries ({:.0} s)",
            TRANSFORMATIONS.len(),
            self.outcomes.len(),
            self.seconds
        );
        let _ = writeln!(
            s,
            "archive: the {archived} photos + {} distractor pictures{}",
            self.scale.distractors,
            if self.scale.distractors_failed > 0 {
                format!(
                    " ({} more could not be read)",
                    self.scale.distractors_failed
                )
            } else {
                String::new()
            }
        );
        for (name, why) in &self.skipped {
            let _ = writeln!(s, "  skipped {name}: {why}");
        }
        let _ = writeln!(
            s,
            "\nRecall (copies of the {archived} archived photos): retrace's original among the matches as earliest_copy / at any tier / at confirmed tier; baselines: nearest whole-frame PDQ ≤ 31 (quality ≥ 50), pHash ≤ 10.\nFalse: queries (archived copies + distractors) with a false match, retrace confirmed/possible and baselines PDQ/pHash.\n"
        );
        let cell = |k: usize, n: usize| format!("{:5.1}% {:>3}/{:<3}", pct(k, n), k, n);
        let _ = writeln!(
            s,
            "{:<18} {:>14} {:>14} {:>14} {:>14} {:>14}  {:>6} {:<5}  {:>9} {:>9}",
            "transformation",
            "earliest",
            "any tier",
            "confirmed",
            "PDQ≤31",
            "pHash≤10",
            "target",
            "",
            "false c/p",
            "PDQ/pH"
        );
        let rows = self.rows();
        for r in &rows {
            let _ = writeln!(
                s,
                "{:<18} {:>14} {:>14} {:>14} {:>14} {:>14}  {:>6} {:<5}  {:>9} {:>9}",
                r.name,
                cell(r.earliest, r.n),
                cell(r.any, r.n),
                cell(r.confirmed, r.n),
                cell(r.pdq, r.n),
                cell(r.phash, r.n),
                r.target
                    .map(|t| format!("≥{t:.0}%"))
                    .unwrap_or_else(|| "—".into()),
                match r.pass() {
                    Some(true) => "PASS",
                    Some(false) => "MISS",
                    None => "",
                },
                format!("{}/{}", r.false_confirmed, r.false_possible),
                format!("{}/{}", r.pdq_false, r.phash_false),
            );
        }
        let f = self.falses();
        let _ = writeln!(
            s,
            "\nFalse matches over {} queries ({} of them from distractor photos):",
            f.queries, f.from_distractors
        );
        let _ = writeln!(
            s,
            "  retrace confirmed: {} matches on {} queries ({} between same-scene photos)   target 0: {}",
            f.confirmed,
            f.confirmed_queries,
            f.hard_confirmed,
            if f.confirmed == 0 { "PASS" } else { "MISS" }
        );
        let rate = pct(f.possible_queries, f.queries);
        let _ = writeln!(
            s,
            "  retrace possible:  {} matches on {} queries = {:.2}% of queries   target ≤ 0.5%: {}",
            f.possible,
            f.possible_queries,
            rate,
            if rate <= 0.5 { "PASS" } else { "MISS" }
        );
        let _ = writeln!(
            s,
            "  retrace possible between different photos of one scene (acceptable): {}",
            f.hard_possible
        );
        if self.scale.distractors > 0 {
            let _ = writeln!(
                s,
                "  of these, to the {} distractor pictures: {} confirmed, {} possible",
                self.scale.distractors, f.confirmed_to_pictures, f.possible_to_pictures
            );
        }
        let _ = writeln!(
            s,
            "  PDQ alone (≤ 31): {} queries named another photo = {:.2}%",
            f.pdq,
            pct(f.pdq, f.queries)
        );
        let _ = writeln!(
            s,
            "  pHash alone (≤ 10): {} queries named another photo = {:.2}%",
            f.phash,
            pct(f.phash, f.queries)
        );
        if self.scale.distractors > 0 {
            let _ = writeln!(
                s,
                "  of the baselines' false answers, a distractor picture: PDQ {}, pHash {}",
                f.pdq_to_pictures, f.phash_to_pictures
            );
        }
        s.push_str(&self.render_scale());
        let targeted: Vec<&Row> = rows.iter().filter(|r| r.target.is_some()).collect();
        let passed = targeted.iter().filter(|r| r.pass() == Some(true)).count();
        let _ = writeln!(
            s,
            "\nTargets (recall at any tier): {passed} of {} rows PASS{}",
            targeted.len(),
            if passed == targeted.len() {
                String::new()
            } else {
                format!(
                    "; MISS: {}",
                    targeted
                        .iter()
                        .filter(|r| r.pass() == Some(false))
                        .map(|r| format!(
                            "{} {:.1}% < {:.0}%",
                            r.name,
                            r.recall(),
                            r.target.unwrap_or(0.0)
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        let hard: Vec<String> = self
            .outcomes
            .iter()
            .flat_map(|o| {
                o.wrong
                    .iter()
                    .filter(|w| self.is_hard(o.photo, w.0))
                    .map(move |w| {
                        format!(
                            "  {} [{}] → {}: {:?}",
                            self.photos[o.photo].name,
                            TRANSFORMATIONS[o.transform].name,
                            self.photos[w.0].name,
                            w.1
                        )
                    })
            })
            .collect();
        if !hard.is_empty() {
            let _ = writeln!(
                s,
                "\nSame-scene matches (hard negatives; possible is acceptable):"
            );
            for h in &hard {
                let _ = writeln!(s, "{h}");
            }
        }
        let _ = writeln!(s, "\nTransformations:");
        for t in TRANSFORMATIONS {
            let _ = writeln!(s, "  {:<18} {}", t.name, t.what);
        }
        if verbose {
            s.push_str(&self.details());
        }
        s
    }

    /// Query times in seconds, sorted.
    fn query_times(&self) -> Vec<f64> {
        let mut t: Vec<f64> = self.outcomes.iter().map(|o| o.seconds).collect();
        t.sort_by(f64::total_cmp);
        t
    }

    fn render_scale(&self) -> String {
        let sc = &self.scale;
        let mut s = String::new();
        let per = |bytes: u64| bytes as f64 / sc.pictures.max(1) as f64;
        let _ = writeln!(
            s,
            "\nArchive and costs ({} pictures in the archive):",
            sc.pictures
        );
        match &sc.ingest {
            Some(i) => {
                let _ = writeln!(
                    s,
                    "  ingest of the distractors: {:.1} pictures/s ({} pictures in {:.0} s, {} threads, as `retrace archive add`){}",
                    i.pictures as f64 / i.seconds.max(1e-9),
                    i.pictures,
                    i.seconds,
                    i.threads,
                    i.reused
                        .as_ref()
                        .map(|r| format!("; measured when the kept archive was built: {r}"))
                        .unwrap_or_default()
                );
            }
            None => {
                let _ = writeln!(s, "  ingest: no distractors (--distractors N)");
            }
        }
        let _ = writeln!(
            s,
            "  archive file: {:.1} MB = {:.1} KB per picture; index snapshot: {:.1} MB = {:.2} KB per picture",
            sc.archive_bytes as f64 / 1e6,
            per(sc.archive_bytes) / 1e3,
            sc.index_bytes as f64 / 1e6,
            per(sc.index_bytes) / 1e3
        );
        let _ = writeln!(
            s,
            "  index load: {:.2} s from the archive (saving the snapshot), {:.2} s from the snapshot",
            sc.load_archive_s, sc.load_snapshot_s
        );
        let t = self.query_times();
        let q = |p: f64| {
            t.get(((t.len() as f64 * p).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or(0.0)
        };
        let _ = writeln!(
            s,
            "  query time (examine + match one copy, bytes in memory, {} queries, threads in parallel): p50 {:.3} s, p90 {:.3} s, p99 {:.3} s, max {:.3} s",
            t.len(),
            q(0.5),
            q(0.9),
            q(0.99),
            t.last().copied().unwrap_or(0.0)
        );
        if let Some(kib) = sc.peak_rss_kib {
            let _ = writeln!(
                s,
                "  peak memory of the whole benchmark process: {:.0} MB",
                kib as f64 * 1024.0 / 1e6
            );
        }
        s
    }

    fn details(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\nMisses (best distances between any query view and any stored region of the original: PDQ / pHash / dHash, query PDQ quality):"
        );
        for o in &self.outcomes {
            if self.photos[o.photo].archived && !o.any {
                let d = o
                    .diag
                    .map(|(p, ph, dh, q)| {
                        format!(
                            "pdq {p} / phash {ph} / dhash {dh}, quality {}",
                            q.map_or("-".into(), |q| q.to_string())
                        )
                    })
                    .unwrap_or_else(|| "no hashes".into());
                let _ = writeln!(
                    s,
                    "  {:<18} {:<55} {d}{}",
                    TRANSFORMATIONS[o.transform].name,
                    self.photos[o.photo].name,
                    o.error
                        .as_ref()
                        .map(|e| format!(" error {e}"))
                        .unwrap_or_default()
                );
            }
        }
        let _ = writeln!(s, "\nFalse matches:");
        for o in &self.outcomes {
            for (other, _, how) in &o.wrong {
                let _ = writeln!(
                    s,
                    "  {} [{}]{} → {}: {}",
                    self.photos[o.photo].name,
                    TRANSFORMATIONS[o.transform].name,
                    if self.photos[o.photo].archived {
                        ""
                    } else {
                        " (distractor)"
                    },
                    self.photos[*other].name,
                    how
                );
            }
            for (file, _, how) in &o.wrong_distractor {
                let _ = writeln!(
                    s,
                    "  {} [{}]{} → distractor picture {file}: {how}",
                    self.photos[o.photo].name,
                    TRANSFORMATIONS[o.transform].name,
                    if self.photos[o.photo].archived {
                        ""
                    } else {
                        " (distractor)"
                    },
                );
            }
        }
        let _ = writeln!(s, "\nBaseline false matches:");
        for o in &self.outcomes {
            for (which, b) in [("PDQ", o.pdq), ("pHash", o.phash)] {
                let other = match b {
                    Baseline::Wrong(other) => self.photos[other].name.as_str(),
                    Baseline::Distractor => "a distractor picture",
                    _ => continue,
                };
                let _ = writeln!(
                    s,
                    "  {which}: {} [{}] → {other}",
                    self.photos[o.photo].name, TRANSFORMATIONS[o.transform].name,
                );
            }
        }
        s
    }

    /// The same numbers as JSON.
    pub fn to_json(&self) -> String {
        let f = self.falses();
        let mut s = String::from("{\n");
        let _ = writeln!(s, "  \"benchmark\": \"retrace accuracy\",");
        let _ = writeln!(
            s,
            "  \"generator\": \"retrace {}\",",
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(
            s,
            "  \"archived\": [{}],",
            self.photos
                .iter()
                .filter(|p| p.archived)
                .map(|p| json_str(&p.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            s,
            "  \"distractors\": [{}],",
            self.photos
                .iter()
                .filter(|p| !p.archived)
                .map(|p| json_str(&p.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(s, "  \"queries\": {},", f.queries);
        s.push_str("  \"transformations\": [\n");
        let rows = self.rows();
        for (i, r) in rows.iter().enumerate() {
            let _ = write!(
                s,
                "    {{\"name\": {}, \"what\": {}, \"n\": {}, \"earliest\": {}, \"any\": {}, \"confirmed\": {}, \"pdq31\": {}, \"phash10\": {}, \"recall_any_pct\": {:.2}, \"target_pct\": {}, \"pass\": {}, \"queries\": {}, \"false_confirmed_queries\": {}, \"false_possible_queries\": {}, \"pdq_false_queries\": {}, \"phash_false_queries\": {}}}",
                json_str(r.name),
                json_str(TRANSFORMATIONS[i].what),
                r.n,
                r.earliest,
                r.any,
                r.confirmed,
                r.pdq,
                r.phash,
                r.recall(),
                r.target.map_or("null".into(), |t| format!("{t}")),
                r.pass().map_or("null".into(), |p| p.to_string()),
                r.queries,
                r.false_confirmed,
                r.false_possible,
                r.pdq_false,
                r.phash_false
            );
            s.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
        }
        s.push_str("  ],\n");
        let _ = writeln!(
            s,
            "  \"false_matches\": {{\"confirmed\": {}, \"confirmed_queries\": {}, \"possible\": {}, \"possible_queries\": {}, \"possible_queries_pct\": {:.3}, \"same_scene_possible\": {}, \"same_scene_confirmed\": {}, \"from_distractors\": {}, \"pdq31_queries\": {}, \"phash10_queries\": {}}},",
            f.confirmed,
            f.confirmed_queries,
            f.possible,
            f.possible_queries,
            pct(f.possible_queries, f.queries),
            f.hard_possible,
            f.hard_confirmed,
            f.from_distractors,
            f.pdq,
            f.phash
        );
        let sc = &self.scale;
        let t = self.query_times();
        let q = |p: f64| {
            t.get(((t.len() as f64 * p).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or(0.0)
        };
        let _ = writeln!(
            s,
            "  \"scale\": {{\"distractor_pictures\": {}, \"distractors_failed\": {}, \"false_confirmed_to_pictures\": {}, \"false_possible_to_pictures\": {}, \"pictures\": {}, \"ingest_pictures\": {}, \"ingest_seconds\": {:.1}, \"ingest_threads\": {}, \"ingest_reused\": {}, \"archive_bytes\": {}, \"index_snapshot_bytes\": {}, \"index_load_archive_s\": {:.3}, \"index_load_snapshot_s\": {:.3}, \"query_p50_s\": {:.4}, \"query_p90_s\": {:.4}, \"query_p99_s\": {:.4}, \"query_max_s\": {:.4}, \"peak_rss_kib\": {}}},",
            sc.distractors,
            sc.distractors_failed,
            f.confirmed_to_pictures,
            f.possible_to_pictures,
            sc.pictures,
            sc.ingest.as_ref().map_or(0, |i| i.pictures),
            sc.ingest.as_ref().map_or(0.0, |i| i.seconds),
            sc.ingest.as_ref().map_or(0, |i| i.threads),
            sc.ingest
                .as_ref()
                .and_then(|i| i.reused.as_deref())
                .map_or("null".into(), json_str),
            sc.archive_bytes,
            sc.index_bytes,
            sc.load_archive_s,
            sc.load_snapshot_s,
            q(0.5),
            q(0.9),
            q(0.99),
            t.last().copied().unwrap_or(0.0),
            sc.peak_rss_kib.map_or("null".into(), |k| k.to_string())
        );
        let misses: Vec<String> = self
            .outcomes
            .iter()
            .filter(|o| self.photos[o.photo].archived && !o.any)
            .map(|o| {
                format!(
                    "{{\"photo\": {}, \"transformation\": {}, \"best_pdq\": {}, \"best_phash\": {}, \"best_dhash\": {}}}",
                    json_str(&self.photos[o.photo].name),
                    json_str(TRANSFORMATIONS[o.transform].name),
                    o.diag.map_or("null".into(), |d| d.0.to_string()),
                    o.diag.map_or("null".into(), |d| d.1.to_string()),
                    o.diag.map_or("null".into(), |d| d.2.to_string()),
                )
            })
            .collect();
        let _ = writeln!(s, "  \"misses\": [{}],", misses.join(",\n    "));
        let wrong: Vec<String> = self
            .outcomes
            .iter()
            .flat_map(|o| {
                o.wrong.iter().map(move |(other, tier, how)| {
                    format!(
                        "{{\"photo\": {}, \"transformation\": {}, \"matched\": {}, \"tier\": {}, \"same_scene\": {}, \"how\": {}}}",
                        json_str(&self.photos[o.photo].name),
                        json_str(TRANSFORMATIONS[o.transform].name),
                        json_str(&self.photos[*other].name),
                        json_str(match tier {
                            Confidence::Confirmed => "confirmed",
                            Confidence::Possible => "possible",
                        }),
                        self.is_hard(o.photo, *other),
                        json_str(how)
                    )
                })
            })
            .collect();
        let _ = writeln!(s, "  \"wrong_matches\": [{}],", wrong.join(",\n    "));
        let wrong_pictures: Vec<String> = self
            .outcomes
            .iter()
            .flat_map(|o| {
                o.wrong_distractor.iter().map(move |(file, tier, how)| {
                    format!(
                        "{{\"photo\": {}, \"transformation\": {}, \"matched\": {}, \"tier\": {}, \"how\": {}}}",
                        json_str(&self.photos[o.photo].name),
                        json_str(TRANSFORMATIONS[o.transform].name),
                        json_str(file),
                        json_str(match tier {
                            Confidence::Confirmed => "confirmed",
                            Confidence::Possible => "possible",
                        }),
                        json_str(how)
                    )
                })
            })
            .collect();
        let _ = writeln!(
            s,
            "  \"wrong_matches_to_distractor_pictures\": [{}],",
            wrong_pictures.join(",\n    ")
        );
        let _ = writeln!(s, "  \"seconds\": {:.1}", self.seconds);
        s.push_str("}\n");
        s
    }
}

fn json_str(v: &str) -> String {
    let mut s = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}
