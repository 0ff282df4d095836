//! Makes the accuracy benchmark's distractor pictures: unrelated real
//! photographs cut into archive-sized pictures, deterministically.
//!
//! Run through `benches/distractors/make.sh`, which fetches the source
//! photographs from Debian packages and calls
//! `cargo run --release --features examples --example make_distractors -- --sources DIR --out DIR [--count N] [--threads N] [--ref DIR] [--remake]`.
//! Pictures already in `DIR/pictures` are kept (`--remake` makes them again):
//! the first N pictures of a larger count are the N pictures of a smaller
//! one, so a run with a larger count goes on from where a smaller one ended.
//!
//! Every file under `--sources` (JPEG, PNG, WebP) is one source photograph.
//! Each gives `pictures` variants: variant 0 is the whole photograph, the
//! others a window of 30–95% of its width in a common aspect ratio (3:2,
//! 4:3, 16:9, 1:1 or their portrait turns) at a random place; each is scaled
//! to a long side of 320–1600 px (never enlarged) and saved as a 4:2:0 JPEG
//! at a quality between 60 and 95, grey when the source is grey. How many
//! variants a source gives grows with its area (one per [`AREA_PER_PICTURE`]
//! pixels), at most [`MAX_PER_SOURCE`] for the large wallpapers and
//! [`MAX_PER_ASTRO`] for the small astronomical photographs, so that no
//! source dominates. Numbering: the whole photograph of every source comes
//! first, then the windows of all sources interleaved in proportion to what
//! each gives (variant k of a source giving n at k/n of the way), so that the
//! first N pictures the benchmark takes hold every source (for N above the
//! number of sources) and the sizes the whole set has: most windows come from
//! the large photographs, which is also where pictures of 1000–1600 px can
//! come from.
//!
//! Deterministic: the windows, sizes and qualities come from a PRNG keyed by
//! the source's path and the variant number; resampling and encoding are the
//! pinned crates' (Cargo.lock). The same sources give the same bytes whatever
//! the thread count; `manifest.tsv` lists every picture with its SHA-256 and
//! the run prints the manifest's own SHA-256 to compare runs by.
//!
//! Disjoint from the benchmark's queries: every source is hashed and compared
//! with every photo whose copies `examples/accuracy.rs` queries (archived and
//! its own distractors); a source within PDQ 50 of one, or within both pHash 10
//! and dHash 12, stops the run, naming the pair.

#[path = "accuracy.rs"]
#[allow(dead_code)]
mod accuracy;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView};
use retrace::internals::input::read::Blob;
use retrace::Limits;
use sha2::{Digest, Sha256};

/// One picture per this many source pixels.
const AREA_PER_PICTURE: u64 = 3_000;
/// At most this many pictures from one source.
const MAX_PER_SOURCE: usize = 3_000;
/// At most this many from one astronomical photograph (a folder named
/// `nebulae`): 333 of them would otherwise fill a fifth of the set with near
/// black frames (a newsroom archive holds some space pictures, not that many).
const MAX_PER_ASTRO: usize = 2;
/// Changes whenever the rules below change what a picture is made of, so
/// that pictures of an earlier run are not taken for this one's.
const GENERATOR: &str = "make_distractors/2";
/// Shortest side of an astronomical source (see [`MAX_PER_ASTRO`]).
const MIN_ASTRO_SIDE: u32 = 512;
/// Shortest side a picture may have.
const MIN_SIDE: u32 = 200;
/// Aspect ratios of the windows (width / height).
const ASPECTS: [f64; 7] = [1.5, 4.0 / 3.0, 16.0 / 9.0, 1.0, 2.0 / 3.0, 0.75, 1.5];
/// JPEG qualities, as archives hold them (repeats weight the draw).
const QUALITIES: [u8; 10] = [60, 70, 75, 80, 82, 85, 85, 90, 92, 95];

struct Args {
    sources: PathBuf,
    out: PathBuf,
    count: usize,
    threads: usize,
    ref_dir: PathBuf,
    reuse: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        sources: PathBuf::new(),
        out: PathBuf::new(),
        count: 100_000,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ref_dir: accuracy::Options::default().ref_dir,
        reuse: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(x) = args.next() {
        let mut val = || args.next().ok_or(format!("{x} needs a value"));
        match x.as_str() {
            "--sources" => a.sources = val()?.into(),
            "--out" => a.out = val()?.into(),
            "--ref" => a.ref_dir = val()?.into(),
            "--remake" => a.reuse = false,
            "--count" => a.count = val()?.parse().map_err(|_| "--count needs a number")?,
            "--threads" => {
                a.threads = val()?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--threads needs a positive number")?
            }
            "-h" | "--help" => {
                println!("cargo run --release --features examples --example make_distractors -- --sources DIR --out DIR [--count N] [--threads N] [--ref DIR] [--remake]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.sources.as_os_str().is_empty() || a.out.as_os_str().is_empty() {
        return Err("--sources and --out are required".into());
    }
    Ok(a)
}

/// A source photograph.
struct Source {
    /// Path relative to the sources folder (the PRNG key and the manifest's name).
    name: String,
    path: PathBuf,
    width: u32,
    height: u32,
    pictures: usize,
}

/// One picture to make.
struct Plan {
    index: usize,
    source: usize,
    variant: usize,
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

fn load(path: &Path) -> Result<DynamicImage, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let blob = Blob::from_bytes(bytes.clone());
    let meta = retrace::internals::metadata::read_metadata(&bytes, blob.format, &Limits::default());
    let img = image::load_from_memory(&bytes).map_err(|e| e.to_string())?;
    let img = retrace::internals::decode::orient(img, meta.orientation);
    // Transparent parts (a few cut-out photos) on white, as a page shows them.
    Ok(if img.color().has_alpha() {
        let mut rgba = img.to_rgba8();
        for p in rgba.pixels_mut() {
            let a = u16::from(p.0[3]);
            for c in 0..3 {
                p.0[c] = ((u16::from(p.0[c]) * a + 255 * (255 - a)) / 255) as u8;
            }
            p.0[3] = 255;
        }
        DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).to_rgb8())
    } else if is_grey(&img) {
        DynamicImage::ImageLuma8(img.to_luma8())
    } else {
        DynamicImage::ImageRgb8(img.to_rgb8())
    })
}

/// Grey pixels in a colour file (scans and astronomical frames often are).
fn is_grey(img: &DynamicImage) -> bool {
    match img {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageLuma16(_) => true,
        _ => img
            .to_rgb8()
            .pixels()
            .step_by(7)
            .all(|p| p.0[0].abs_diff(p.0[1]) <= 2 && p.0[1].abs_diff(p.0[2]) <= 2),
    }
}

/// The window and output size of one variant: (x, y, w, h) in the source,
/// (width, height) out, JPEG quality.
fn variant(src: &Source, k: usize) -> ((u32, u32, u32, u32), (u32, u32), u8) {
    let mut rng = accuracy::Rng::keyed(&[&src.name, &k.to_string()]);
    let (sw, sh) = (f64::from(src.width), f64::from(src.height));
    let (w, h) = if k == 0 {
        (sw, sh)
    } else {
        let aspect = ASPECTS[(rng.unit() * ASPECTS.len() as f64) as usize % ASPECTS.len()];
        let frac = 0.30 + 0.65 * rng.unit();
        let mut w = sw * frac;
        let mut h = w / aspect;
        if h > sh {
            h = sh;
            w = h * aspect;
        }
        // Never narrower than a picture may be.
        let short = f64::from(MIN_SIDE);
        if w.min(h) < short {
            let s = short / w.min(h);
            w = (w * s).min(sw);
            h = (h * s).min(sh);
        }
        (w.round(), h.round())
    };
    let x = ((sw - w) * rng.unit()).round() as u32;
    let y = ((sh - h) * rng.unit()).round() as u32;
    let (w, h) = (w as u32, h as u32);
    // Long side out: 320–1600 px, never more than the window has.
    let long = 320.0 + 1280.0 * rng.unit();
    let scale = (long / f64::from(w.max(h))).min(1.0);
    let mut ow = (f64::from(w) * scale).round().max(1.0) as u32;
    let mut oh = (f64::from(h) * scale).round().max(1.0) as u32;
    if ow.min(oh) < MIN_SIDE {
        let s = f64::from(MIN_SIDE) / f64::from(ow.min(oh));
        ow = ((f64::from(ow) * s).round() as u32).min(w);
        oh = ((f64::from(oh) * s).round() as u32).min(h);
    }
    let q = QUALITIES[(rng.unit() * QUALITIES.len() as f64) as usize % QUALITIES.len()];
    ((x, y, w, h), (ow, oh), q)
}

/// Halvings of the source, so that a large window is shrunk from a level
/// close to its output size (Triangle resampling over a 6000 px window
/// would take most of the run).
fn pyramid(img: DynamicImage) -> Vec<DynamicImage> {
    let mut levels = vec![img];
    loop {
        let last = levels.last().expect("a level");
        let (w, h) = last.dimensions();
        if w.min(h) < 2 * MIN_SIDE {
            break;
        }
        let half = last.resize_exact(w / 2, h / 2, FilterType::Triangle);
        levels.push(half);
    }
    levels
}

fn render(levels: &[DynamicImage], window: (u32, u32, u32, u32), out: (u32, u32)) -> DynamicImage {
    let (x, y, w, h) = window;
    // The smallest level that still has at least the output's pixels.
    let mut level = 0;
    while level + 1 < levels.len() && (w >> (level + 1)) >= out.0 && (h >> (level + 1)) >= out.1 {
        level += 1;
    }
    let img = &levels[level];
    let (lw, lh) = img.dimensions();
    let cx = (x >> level).min(lw - 1);
    let cy = (y >> level).min(lh - 1);
    let cw = (w >> level).clamp(1, lw - cx);
    let ch = (h >> level).clamp(1, lh - cy);
    let crop = img.crop_imm(cx, cy, cw, ch);
    if (cw, ch) == out {
        crop
    } else {
        crop.resize_exact(out.0, out.1, FilterType::Triangle)
    }
}

fn encode(img: &DynamicImage, quality: u8) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut buf, quality);
    let (w, h) = img.dimensions();
    let (w, h) = (
        u16::try_from(w).expect("width fits"),
        u16::try_from(h).expect("height fits"),
    );
    let r = match img {
        DynamicImage::ImageLuma8(g) => enc.encode(g.as_raw(), w, h, jpeg_encoder::ColorType::Luma),
        other => {
            enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
            enc.encode(other.to_rgb8().as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
        }
    };
    r.expect("JPEG encoding to memory");
    buf
}

/// Fails when a source is a copy of a photo the benchmark queries.
fn check_disjoint(sources: &[Source], ref_dir: &Path) -> Result<usize, String> {
    let queried = accuracy::photo_set(ref_dir, false);
    if queried.is_empty() {
        return Err(format!(
            "no benchmark photos under {} to check the sources against (--ref)",
            ref_dir.display()
        ));
    }
    let hash = |p: &Path| {
        load(p)
            .ok()
            .map(|img| retrace::internals::hash::compute(&img))
    };
    let theirs: Vec<(String, retrace::internals::hash::Hashes)> = queried
        .iter()
        .filter_map(|p| hash(&p.path).map(|h| (p.name.clone(), h)))
        .collect();
    for s in sources {
        let Some(mine) = hash(&s.path) else { continue };
        for (name, h) in &theirs {
            let ph = mine.phash.distance(&h.phash).unwrap_or(u32::MAX);
            let dh = mine.dhash.distance(&h.dhash).unwrap_or(u32::MAX);
            let pdq = mine
                .pdq
                .zip(h.pdq)
                .and_then(|(a, b)| a.distance(&b))
                .unwrap_or(u32::MAX);
            // A copy is near on PDQ, or on both 64-bit hashes at once; one
            // 64-bit hash alone is near by chance for a few hundred pairs of
            // unrelated low-detail pictures.
            if pdq <= 50 || (ph <= 10 && dh <= 12) {
                return Err(format!(
                    "source {} looks like benchmark photo {name} (PDQ {pdq}, pHash {ph}, dHash {dh}): leave it out",
                    s.name
                ));
            }
        }
    }
    Ok(theirs.len())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("make_distractors: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("make_distractors: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let mut files = Vec::new();
    walk(&args.sources, &mut files);
    files.sort();
    let mut sources = Vec::new();
    for path in files {
        let name = path
            .strip_prefix(&args.sources)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let ext = name.rsplit('.').next().unwrap_or("").to_lowercase();
        if !matches!(ext.as_str(), "jpg" | "jpeg" | "png" | "webp") {
            continue;
        }
        // Displayed size: orientation applied.
        let img = load(&path).map_err(|e| format!("{name}: {e}"))?;
        let (width, height) = img.dimensions();
        let astro = name.contains("/nebulae/");
        // Astronomical frames only from 512 px: Stellarium has hundreds of
        // small ones, which would make one picture in ten a near-black frame.
        if width.min(height) < if astro { MIN_ASTRO_SIDE } else { MIN_SIDE } {
            eprintln!("make_distractors: {name}: {width}×{height}, too small; left out");
            continue;
        }
        let cap = if astro { MAX_PER_ASTRO } else { MAX_PER_SOURCE };
        let pictures =
            ((u64::from(width) * u64::from(height) / AREA_PER_PICTURE) as usize).clamp(1, cap);
        sources.push(Source {
            name,
            path,
            width,
            height,
            pictures,
        });
    }
    if sources.is_empty() {
        return Err(format!("no pictures under {}", args.sources.display()));
    }
    let checked = check_disjoint(&sources, &args.ref_dir)?;
    eprintln!(
        "make_distractors: {} sources, none within PDQ 50 (or pHash 10 and dHash 12) of the {checked} benchmark photos",
        sources.len()
    );

    // Numbering: the whole photograph of every source first, then each
    // source's windows spread over the rest in proportion to what it gives
    // (variant k of a source giving n comes at k / n of the way), so that any
    // first N pictures hold every source and sizes as the whole set has them.
    // Past what the sources give at one picture per AREA_PER_PICTURE, more
    // rounds in the same proportions (k ≥ n comes after every k < n), so that
    // the first pictures of a larger count stay those of a smaller one.
    let capacity: usize = sources.iter().map(|s| s.pictures).sum();
    let rounds = args.count.div_ceil(capacity.max(1)).max(1);
    let mut order: Vec<(u64, usize, usize)> = Vec::with_capacity(capacity * rounds);
    for (si, s) in sources.iter().enumerate() {
        for k in 0..s.pictures * rounds {
            // k / n as an exact fraction scaled to an integer, ties by source.
            let at = if k == 0 {
                0
            } else {
                (k as u64 * (1 << 40)) / s.pictures as u64
            };
            order.push((at, si, k));
        }
    }
    order.sort_unstable();
    let plan: Vec<Plan> = order
        .into_iter()
        .take(args.count)
        .enumerate()
        .map(|(index, (_, source, variant))| Plan {
            index,
            source,
            variant,
        })
        .collect();
    let used: std::collections::BTreeSet<usize> = plan.iter().map(|p| p.source).collect();

    // One source at a time per worker, largest first (they take longest).
    let mut by_source: Vec<Vec<&Plan>> = (0..sources.len()).map(|_| Vec::new()).collect();
    for p in &plan {
        by_source[p.source].push(p);
    }
    let mut order: Vec<usize> = (0..sources.len())
        .filter(|&s| !by_source[s].is_empty())
        .collect();
    order.sort_by_key(|&s| std::cmp::Reverse(by_source[s].len()));
    let pictures = args.out.join("pictures");
    std::fs::create_dir_all(&pictures).map_err(|e| format!("{}: {e}", pictures.display()))?;
    // Pictures of an earlier run are kept only when they were planned from the
    // same sources by the same rules.
    let mut key = Sha256::new();
    key.update(format!("{GENERATOR}\n"));
    for s in &sources {
        key.update(format!(
            "{}\t{}\t{}\t{}\n",
            s.name, s.width, s.height, s.pictures
        ));
    }
    let key = hex(&key.finalize());
    let key_file = pictures.join("plan.sha256");
    let reuse = args.reuse && std::fs::read_to_string(&key_file).is_ok_and(|k| k.trim() == key);
    if !reuse {
        // Not one stale picture may stay behind to be taken for a new one.
        std::fs::remove_dir_all(&pictures)
            .and_then(|_| std::fs::create_dir_all(&pictures))
            .map_err(|e| format!("{}: {e}", pictures.display()))?;
    }
    std::fs::write(&key_file, format!("{key}\n"))
        .map_err(|e| format!("{}: {e}", key_file.display()))?;
    let rows = Mutex::new(vec![String::new(); plan.len()]);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failed = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..args.threads.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&si) = order.get(i) else { break };
                let src = &sources[si];
                let mut levels = None;
                for p in &by_source[si] {
                    let (window, out, q) = variant(src, p.variant);
                    let dir = pictures.join(format!("{:03}", p.index / 1000));
                    let file = dir.join(format!("{:06}.jpg", p.index));
                    // A picture already there was made by an earlier run
                    // (written whole, then renamed): a larger --count goes
                    // on from a smaller one.
                    let bytes = match std::fs::read(&file) {
                        Ok(b) if reuse => b,
                        _ => {
                            if levels.is_none() {
                                match load(&src.path) {
                                    Ok(img) => levels = Some(pyramid(img)),
                                    Err(e) => {
                                        *failed.lock().expect("failed") =
                                            Some(format!("{}: {e}", src.name));
                                        return;
                                    }
                                }
                            }
                            let levels = levels.as_deref().expect("decoded");
                            let bytes = encode(&render(levels, window, out), q);
                            let part = dir.join(format!("{:06}.jpg.part", p.index));
                            let written = std::fs::create_dir_all(&dir)
                                .and_then(|_| std::fs::write(&part, &bytes))
                                .and_then(|_| std::fs::rename(&part, &file));
                            if let Err(e) = written {
                                *failed.lock().expect("failed") =
                                    Some(format!("{}: {e}", file.display()));
                                return;
                            }
                            bytes
                        }
                    };
                    let sha = hex(&Sha256::digest(&bytes));
                    rows.lock().expect("rows")[p.index] = format!(
                        "{}\tpictures/{:03}/{:06}.jpg\t{}\t{}\t{},{},{},{}\t{}\t{}\t{}\t{}\t{}",
                        p.index,
                        p.index / 1000,
                        p.index,
                        src.name,
                        p.variant,
                        window.0,
                        window.1,
                        window.2,
                        window.3,
                        out.0,
                        out.1,
                        q,
                        bytes.len(),
                        sha
                    );
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if n % 1000 == 0 {
                        eprint!("\r{n} pictures");
                    }
                }
            });
        }
    });
    eprintln!();
    if let Some(e) = failed.into_inner().expect("failed") {
        return Err(e);
    }
    let mut manifest = String::from(
        "index\tfile\tsource\tvariant\twindow_x,y,w,h\twidth\theight\tquality\tbytes\tsha256\n",
    );
    for r in rows.into_inner().expect("rows") {
        manifest.push_str(&r);
        manifest.push('\n');
    }
    let path = args.out.join("manifest.tsv");
    // Whole or not at all: a benchmark may be reading the previous one.
    let part = args.out.join("manifest.tsv.part");
    std::fs::write(&part, &manifest)
        .and_then(|_| std::fs::rename(&part, &path))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut per = String::from("source\twidth\theight\tpictures_possible\tpictures_made\n");
    let mut made = vec![0usize; sources.len()];
    for p in &plan {
        made[p.source] += 1;
    }
    for (s, m) in sources.iter().zip(&made) {
        per.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            s.name, s.width, s.height, s.pictures, m
        ));
    }
    let spath = args.out.join("sources.tsv");
    std::fs::write(&spath, per).map_err(|e| format!("{}: {e}", spath.display()))?;
    println!(
        "{} pictures from {} of {} source photographs in {}\nmanifest {} sha256 {}",
        plan.len(),
        used.len(),
        sources.len(),
        pictures.display(),
        path.display(),
        hex(&Sha256::digest(manifest.as_bytes()))
    );
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
