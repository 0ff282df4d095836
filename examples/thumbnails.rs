//! Measures how far an embedded EXIF thumbnail lies from its own main picture,
//! from the same picture after a crop or an edit that kept the old EXIF block,
//! and from other pictures: the distributions the `thumbnail_mismatch`
//! thresholds (`thumbnail::Thresholds`) are set from.
//!
//! Run: `cargo run --features examples --example thumbnails [DIR...]`
//! (default: ../shared/ref/exif and ../shared/ref/photos, every JPEG with a
//! decodable thumbnail of at least 32 px).

use std::path::{Path, PathBuf};

use image::DynamicImage;
use retrace::internals::decode::{decode, orient};
use retrace::internals::hash::compute;
use retrace::internals::hash::thumbnail::{compare, Thresholds, ThumbnailComparison};
use retrace::internals::input::discover::{discover, WalkOptions};
use retrace::internals::input::read::{read_file, Blob};
use retrace::internals::metadata::{exif_thumbnail, read_metadata};
use retrace::Limits;

/// A named edit of the main picture.
type Edit = fn(&DynamicImage) -> DynamicImage;

struct Item {
    name: String,
    main: DynamicImage,
    thumb: DynamicImage,
}

fn load(p: &Path, limits: &Limits) -> Option<Item> {
    let blob = read_file(p, limits).ok()?;
    let meta = read_metadata(&blob.bytes, blob.format, limits);
    let tb = exif_thumbnail(&blob.bytes, &meta)?;
    let t = decode(&Blob::from_bytes(tb.to_vec()), limits).ok()?;
    if t.width.min(t.height) < 32 {
        return None;
    }
    let m = decode(&blob, limits).ok()?;
    Some(Item {
        name: p.display().to_string(),
        main: orient(m.working, meta.orientation),
        thumb: orient(t.working, meta.orientation),
    })
}

fn cmp(main: &DynamicImage, thumb: &DynamicImage) -> ThumbnailComparison {
    compare(
        &compute(main),
        (main.width(), main.height()),
        thumb,
        &Thresholds::default(),
    )
}

fn crop(img: &DynamicImage, x: f32, y: f32, w: f32, h: f32) -> DynamicImage {
    let (iw, ih) = (img.width() as f32, img.height() as f32);
    img.crop_imm(
        (x * iw) as u32,
        (y * ih) as u32,
        (w * iw) as u32,
        (h * ih) as u32,
    )
}

fn paint(img: &DynamicImage, x: f32, y: f32, w: f32, h: f32) -> DynamicImage {
    let mut out = img.to_rgb8();
    let (iw, ih) = (out.width() as f32, out.height() as f32);
    for py in (y * ih) as u32..((y + h) * ih) as u32 {
        for px in (x * iw) as u32..((x + w) * iw) as u32 {
            out.put_pixel(px, py, image::Rgb([128, 128, 128]));
        }
    }
    DynamicImage::ImageRgb8(out)
}

fn report(label: &str, rows: &[ThumbnailComparison]) {
    let flagged = rows.iter().filter(|r| !r.same_picture).count();
    println!(
        "\n{label}: {} pairs, flagged as different {flagged}",
        rows.len()
    );
    for k in ["pdq", "phash", "dhash"] {
        let mut v: Vec<u32> = rows
            .iter()
            .filter(|r| k != "pdq" || r.pdq_reliable)
            .filter_map(|r| r.distance.get(k).copied())
            .collect();
        v.sort_unstable();
        if v.is_empty() {
            continue;
        }
        let pct = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        println!(
            "  {k:<6} n={:<4} min {:>3}  p1 {:>3}  p5 {:>3}  median {:>3}  p95 {:>3}  p99 {:>3}  max {:>3}",
            v.len(), v[0], pct(0.01), pct(0.05), pct(0.5), pct(0.95), pct(0.99), v[v.len() - 1]
        );
    }
}

fn main() {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ref");
    let dirs = if args.is_empty() {
        vec![root.join("exif"), root.join("photos")]
    } else {
        args
    };
    let (found, _) = discover(&dirs, &WalkOptions::default(), &retrace::Limits::default());
    let mut files: Vec<PathBuf> = found
        .into_iter()
        .map(|c| c.path)
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| x.eq_ignore_ascii_case("jpg") || x.eq_ignore_ascii_case("jpeg"))
        })
        .collect();
    files.sort();
    let limits = Limits::default();
    let items: Vec<Item> = files.iter().filter_map(|p| load(p, &limits)).collect();
    println!(
        "{} JPEGs, {} with a usable thumbnail",
        files.len(),
        items.len()
    );

    let own: Vec<_> = items.iter().map(|i| cmp(&i.main, &i.thumb)).collect();
    if std::env::var_os("RETRACE_LIST").is_some() {
        for (i, r) in items.iter().zip(&own) {
            println!(
                "  {} main {}x{} thumb {}x{} {:?}",
                i.name,
                i.main.width(),
                i.main.height(),
                r.width,
                r.height,
                r.distance
            );
        }
    }
    for (i, r) in items.iter().zip(&own) {
        if !r.same_picture {
            println!(
                "  own thumbnail flagged: {} {:?} q_ok={}",
                i.name, r.distance, r.pdq_reliable
            );
            // To look at them: RETRACE_DUMP=/tmp/dir writes main and thumbnail side by side.
            if let Some(dir) = std::env::var_os("RETRACE_DUMP") {
                let stem = Path::new(&i.name)
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let _ = i
                    .main
                    .thumbnail(320, 320)
                    .save(Path::new(&dir).join(format!("{stem}_main.png")));
                let _ = i
                    .thumb
                    .save(Path::new(&dir).join(format!("{stem}_thumb.png")));
            }
        }
    }
    report("own thumbnail, all", &own);
    let kept: Vec<_> = own.iter().filter(|r| r.same_picture).cloned().collect();
    report("own thumbnail, those passed", &kept);
    let mut close: Vec<(&str, u32)> = items
        .iter()
        .zip(&own)
        .filter(|(_, r)| r.same_picture)
        .filter_map(|(i, r)| Some((i.name.as_str(), *r.distance.get("pdq")?)))
        .collect();
    close.sort_by_key(|c| std::cmp::Reverse(c.1));
    for (n, d) in close.iter().take(5) {
        println!("  closest to the line: pdq {d}  {n}");
    }
    let mut edits: Vec<(&str, Vec<ThumbnailComparison>)> = Vec::new();
    let cases: [(&str, Edit); 6] = [
        ("with a quarter of the frame painted grey", |m| {
            paint(m, 0.25, 0.25, 0.5, 0.5)
        }),
        ("with half the frame painted grey", |m| {
            paint(m, 0.25, 0.0, 0.5, 1.0)
        }),
        ("crop to the centre 70%", |m| crop(m, 0.15, 0.15, 0.7, 0.7)),
        ("crop to the left half", |m| crop(m, 0.0, 0.0, 0.5, 1.0)),
        ("crop to the centre 85%", |m| {
            crop(m, 0.075, 0.075, 0.85, 0.85)
        }),
        ("mirror", |m| m.fliph()),
    ];
    for (label, f) in cases {
        let rows = items.iter().map(|i| cmp(&f(&i.main), &i.thumb)).collect();
        edits.push((label, rows));
    }
    for (label, rows) in &edits {
        report(
            &format!("main {label}, old thumbnail kept (should be flagged)"),
            rows,
        );
    }
    let n = items.len();
    let other: Vec<_> = (0..n)
        .map(|i| cmp(&items[i].main, &items[(i + n / 2) % n].thumb))
        .collect();
    report("another file's thumbnail (should be flagged)", &other);
}
