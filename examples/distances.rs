//! Measures the hash distance distributions that retrace's match thresholds are
//! set from: the same photograph after the everyday changes of circulation
//! (re-encoding, messenger downscales, PNG re-save, grayscale, brightness, blur)
//! against pairs of different photographs.
//!
//! Run: `cargo run --release --features examples --example distances [PHOTO_DIR...]`
//! (default: ../shared/ref/photos and ../shared/ref/exif/exif-samples/jpg).
//! It prints, per algorithm, percentiles of both distributions and how many
//! pairs fall on each side of the thresholds in `MatchParams::default()`.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::DynamicImage;
use retrace::internals::decode::shrink;
use retrace::internals::hash::{compute, HashKind, Hashes};
use retrace::MatchParams;

fn jpeg(img: &DynamicImage, q: u8) -> DynamicImage {
    let mut buf = Cursor::new(Vec::new());
    img.to_rgb8()
        .write_with_encoder(JpegEncoder::new_with_quality(&mut buf, q))
        .expect("encode to memory");
    image::load_from_memory(buf.get_ref()).expect("decode own jpeg")
}

fn png(img: &DynamicImage) -> DynamicImage {
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png)
        .expect("encode png");
    image::load_from_memory(buf.get_ref()).expect("decode own png")
}

fn resize_long(img: &DynamicImage, side: u32) -> DynamicImage {
    img.resize(side, side, FilterType::Triangle)
}

type Transform = (&'static str, fn(&DynamicImage) -> DynamicImage);

const TRANSFORMS: &[Transform] = &[
    ("jpeg_q50", |i| jpeg(i, 50)),
    ("messenger_1280_q75", |i| jpeg(&resize_long(i, 1280), 75)),
    ("messenger_640_q75", |i| jpeg(&resize_long(i, 640), 75)),
    ("messenger_320_q60", |i| jpeg(&resize_long(i, 320), 60)),
    ("png_resave", png),
    ("grayscale", |i| {
        jpeg(&DynamicImage::ImageLuma8(i.to_luma8()), 85)
    }),
    ("brighter", |i| jpeg(&i.brighten(20), 85)),
    ("contrast", |i| jpeg(&i.adjust_contrast(15.0), 85)),
    ("blur", |i| jpeg(&i.blur(1.5), 85)),
];

fn photos(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dirs {
        for e in walkdir::WalkDir::new(d).sort_by_file_name() {
            let Ok(e) = e else { continue };
            let p = e.path();
            let ext = p
                .extension()
                .and_then(|x| x.to_str())
                .unwrap_or("")
                .to_lowercase();
            // The orientation set is one picture stored eight ways: not "different photos".
            let dup_set = p.components().any(|c| c.as_os_str() == "orientation");
            if e.file_type().is_file() && !dup_set && matches!(ext.as_str(), "jpg" | "jpeg" | "png")
            {
                out.push(p.to_path_buf());
            }
        }
    }
    out
}

fn percentile(v: &mut [u32], p: f64) -> u32 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i]
}

fn main() {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = if args.is_empty() {
        vec![
            root.join("../shared/ref/photos"),
            root.join("../shared/ref/exif/exif-samples/jpg"),
        ]
    } else {
        args
    };
    let files = photos(&dirs);
    let mut originals: Vec<(String, Hashes)> = Vec::new();
    let mut same: Vec<(String, HashKind, u32)> = Vec::new();
    let mut worst: Vec<(HashKind, u32, String, u8)> = Vec::new();
    for f in &files {
        let Ok(img) = image::open(f) else {
            eprintln!("skipped (not decodable): {}", f.display());
            continue;
        };
        // Tiny test files (exif corpora) are not photographs worth measuring.
        if img.width().min(img.height()) < 64 {
            continue;
        }
        let h = compute(&shrink(&img, 512));
        for (name, t) in TRANSFORMS {
            let copy = t(&img);
            let hc = compute(&shrink(&copy, 512));
            for (a, b) in h.iter().zip(hc.iter()) {
                let d = a.distance(&b).unwrap_or(0);
                // PDQ's own rule: below quality 50 a PDQ hash is not used for matching.
                if a.kind != HashKind::Pdq || h.pdq_quality.unwrap_or(0) >= 50 {
                    same.push((name.to_string(), a.kind, d));
                }
                worst.push((
                    a.kind,
                    d,
                    format!("{} {name}", f.display()),
                    h.pdq_quality.unwrap_or(0),
                ));
            }
        }
        originals.push((f.display().to_string(), h));
    }
    let mut different: Vec<(HashKind, u32)> = Vec::new();
    let mut closest: Vec<(HashKind, u32, String, String)> = Vec::new();
    for i in 0..originals.len() {
        for j in i + 1..originals.len() {
            for (a, b) in originals[i].1.iter().zip(originals[j].1.iter()) {
                let d = a.distance(&b).unwrap_or(0);
                different.push((a.kind, d));
                closest.push((a.kind, d, originals[i].0.clone(), originals[j].0.clone()));
            }
        }
    }
    closest.sort_by_key(|c| c.1);
    let p = MatchParams::default();
    println!(
        "{} photos, {} transforms, {} different-photo pairs\n",
        originals.len(),
        TRANSFORMS.len(),
        originals.len() * originals.len().saturating_sub(1) / 2
    );
    for kind in HashKind::ALL {
        let mut s: Vec<u32> = same.iter().filter(|x| x.1 == kind).map(|x| x.2).collect();
        let mut d: Vec<u32> = different
            .iter()
            .filter(|x| x.0 == kind)
            .map(|x| x.1)
            .collect();
        if s.is_empty() {
            continue;
        }
        let (confirm, possible) = match kind {
            HashKind::Phash => (p.phash_confirm, p.phash_possible),
            HashKind::Dhash => (p.dhash_confirm, p.dhash_possible),
            _ => (p.pdq_confirm, p.pdq_possible),
        };
        println!("{} ({} bits)", kind.name(), kind.bits());
        println!(
            "  same photo      n={:5}  p50={:3} p90={:3} p99={:3} max={:3}  over confirm({confirm})={} over possible({possible})={}",
            s.len(),
            percentile(&mut s, 0.5),
            percentile(&mut s, 0.9),
            percentile(&mut s, 0.99),
            s.iter().max().copied().unwrap_or(0),
            s.iter().filter(|&&x| x > confirm).count(),
            s.iter().filter(|&&x| x > possible).count(),
        );
        println!(
            "  different photo n={:5}  min={:3} p0.1={:3} p1={:3} p50={:3}  within confirm={} within possible={}",
            d.len(),
            d.iter().min().copied().unwrap_or(0),
            percentile(&mut d, 0.001),
            percentile(&mut d, 0.01),
            percentile(&mut d, 0.5),
            d.iter().filter(|&&x| x <= confirm).count(),
            d.iter().filter(|&&x| x <= possible).count(),
        );
        worst.sort_by_key(|w| std::cmp::Reverse(w.1));
        for (_, d, what, q) in worst
            .iter()
            .filter(|w| w.0 == kind && (kind != HashKind::Pdq || w.3 >= 50))
            .take(4)
        {
            println!("    farthest same pair: {d:3}  {what} (pdq quality {q})");
        }
        for (_, d, a, b) in closest.iter().filter(|c| c.0 == kind).take(4) {
            println!("    closest different pair: {d:3}  {a}  {b}");
        }
        for (name, _) in TRANSFORMS {
            let v: Vec<u32> = same
                .iter()
                .filter(|x| x.1 == kind && x.0 == *name)
                .map(|x| x.2)
                .collect();
            println!(
                "    {name:<20} max {:3}",
                v.iter().max().copied().unwrap_or(0)
            );
        }
    }
}
