//! Throughput over a folder of camera-size JPEGs, and peak memory of `scan`.
//!
//! ```sh
//! cargo bench --bench throughput                       # 40 files, 1 and 2 threads
//! cargo bench --bench throughput -- --files 120 --threads 2
//! cargo bench --bench throughput -- --memory 1000,10000
//! cargo bench --bench throughput -- --files 16 --threads 1 --repeat 5
//! ```
//!
//! `--repeat N` runs each mode N times, in turn with the others so that a
//! passing load spreads over all of them, and reports the median time (and
//! the largest peak resident set).
//!
//! The corpus is built once under the cargo target dir from the real photos in
//! `../shared/ref/photos` (else `samples/archive`): each is upscaled to a camera
//! size (8, 12, 16 or 24 MP, 4:3), given a faint deterministic sensor grain so that
//! it compresses like a camera file rather than a smooth upscale, encoded as a
//! baseline JPEG at quality 92 and given its source's EXIF segment back.
//!
//! Its chroma is subsampled as cameras write it (`--chroma camera`, the
//! default): 4:2:0, 4:2:2, 4:2:0, 4:4:4, 4:2:0 in turn, close to the 75 : 29 : 19
//! of the JPEGs in `../shared/ref/exif` (PIL's `get_sampling`; the command is in
//! docs/performance.md, "Throughput of a batch").
//! `--chroma 444` builds the corpus of earlier measurements instead: every file
//! 4:4:4, written by `image`'s encoder, in `corpus-N` (the camera corpus is
//! `corpus-N-camera`). 4:4:4 has twice the chroma blocks of 4:2:0 to entropy-decode.
//!
//! Every mode runs in a child process (this binary again, `--child MODE`) so that
//! its peak resident set (`VmHWM`) is its own:
//!
//! - `scan`: retrace's pipeline (`retrace::Scan`, matching against an archive of
//!   the source photos, JSON reports serialised), as the CLI runs it: every
//!   picture is a copy of an archived one;
//! - `scan-new`: the same against an archive of other photos (`../shared/ref`'s
//!   camera JPEGs and PDQ test photos), so that no picture is known and each
//!   one's unrelated nearest candidates are aligned, as for a picture never seen
//!   before (skipped without `../shared/ref`);
//! - `scan-new-nocrop`: `scan-new` with the search of candidates that no hash
//!   points at turned off (`--crop-search 0`);
//! - `floor`: read + SHA-256 + the container's structure + metadata + decode
//!   (scaled when possible) + hashes,
//!   no matching: what no pipeline built on these decoders can beat by much;
//! - `naive`: `std::fs::read` + SHA-256 + `image` full decode + image_hasher pHash
//!   and dHash on the full image + kamadak-exif: the straightforward pipeline;
//! - `full-decode`: read + full decode with `image`, nothing else;
//! - `scaled-decode`: read + retrace's scaled decode to the working size alone.
//!
//! `--memory N,...` instead runs the real `retrace scan` (`--jsonl`, then the
//! table) over N hard links of the sample pictures and reports its peak resident
//! set (`ru_maxrss` from `wait4`; this parent stays small in that mode, so the
//! peak Linux carries across `exec` does not hide the child's).
//!
//! The machine is shared and noisy: compare ratios within one run, not figures
//! across runs. Nothing here asserts a timing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use image::{DynamicImage, GenericImageView, RgbImage};
use rayon::prelude::*;
use retrace::internals::decode;
use retrace::internals::hash;
use retrace::internals::input::layout::Layout;
use retrace::internals::input::read::{self, Blob, Format};
use retrace::internals::metadata;
use retrace::internals::pipeline::{self, Config, Engine};
use retrace::Limits;
use retrace::{Archive, Candidate, Scan, Sighting};

const MODES: [&str; 7] = [
    "scan",
    "scan-new",
    "scan-new-nocrop",
    "floor",
    "naive",
    "full-decode",
    "scaled-decode",
];

#[derive(Clone, Copy)]
enum Chroma {
    Camera,
    All444,
}

/// Chroma subsampling cycled through for `--chroma camera`: 3 : 1 : 1, near the
/// 75 : 29 : 19 (4:2:0 : 4:2:2 : 4:4:4) of the JPEGs in `../shared/ref/exif`.
/// Five long, so that it does not run in step with the four sizes.
const CAMERA_CHROMA: [jpeg_encoder::SamplingFactor; 5] = [
    jpeg_encoder::SamplingFactor::R_4_2_0,
    jpeg_encoder::SamplingFactor::R_4_2_2,
    jpeg_encoder::SamplingFactor::R_4_2_0,
    jpeg_encoder::SamplingFactor::R_4_4_4,
    jpeg_encoder::SamplingFactor::R_4_2_0,
];

/// Camera sizes cycled through, landscape (4:3): 8, 12, 16, 24 MP.
const SIZES: [(u32, u32); 4] = [(3264, 2448), (4000, 3000), (4608, 3456), (5984, 4000)];

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(mode) = arg(&args, "--child") {
        let corpus = PathBuf::from(arg(&args, "--corpus").expect("--corpus"));
        let threads: usize = arg(&args, "--threads").map_or(2, |t| t.parse().unwrap());
        let archive = arg(&args, "--archive").map(PathBuf::from);
        child(&mode, &corpus, threads, archive.as_deref());
        return;
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("throughput");
    if let Some(counts) = arg(&args, "--memory") {
        for n in counts.split(',') {
            memory(&work, n.parse().expect("--memory N,N"));
        }
        return;
    }
    let files: usize = arg(&args, "--files").map_or(40, |n| n.parse().unwrap());
    let threads: Vec<usize> = arg(&args, "--threads")
        .unwrap_or_else(|| "1,2".into())
        .split(',')
        .map(|t| t.parse().unwrap())
        .collect();
    let repeat: usize = arg(&args, "--repeat").map_or(1, |n| n.parse().unwrap());
    let sources = sources();
    let chroma = match arg(&args, "--chroma").as_deref() {
        None | Some("camera") => Chroma::Camera,
        Some("444") => Chroma::All444,
        Some(other) => panic!("--chroma camera|444, not {other}"),
    };
    let corpus = work.join(match chroma {
        Chroma::Camera => format!("corpus-{files}-camera"),
        Chroma::All444 => format!("corpus-{files}"),
    });
    build_corpus(&sources, &corpus, files, chroma);
    let archive = work.join("sources.db");
    build_archive(&sources, &archive);
    let others = others();
    let others_archive = work.join("others.db");
    if !others.is_empty() {
        build_archive(&others, &others_archive);
    }
    let bytes: u64 = list(&corpus)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    println!(
        "corpus: {} JPEGs, {:.1} MB ({:.1} MB each), 8-24 MP, chroma {}, in {}",
        files,
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / files as f64,
        match chroma {
            Chroma::Camera => "as cameras (4:2:0, 4:2:2, 4:4:4)",
            Chroma::All444 => "4:4:4",
        },
        corpus.display()
    );
    println!(
        "{:<16} {:>7} {:>9} {:>8} {:>9} {:>9} {:>9}",
        "mode", "threads", "images/s", "MB/s", "peak MB", "vs naive", "÷ floor"
    );
    for &t in &threads {
        let mut runs: Vec<(&str, Vec<f64>, u64)> = Vec::new();
        for _ in 0..repeat.max(1) {
            for mode in MODES {
                let archive = if mode.starts_with("scan-new") {
                    if others.is_empty() {
                        continue;
                    }
                    &others_archive
                } else {
                    &archive
                };
                let (secs, peak_kb) = run_child(mode, &corpus, t, archive);
                match runs.iter_mut().find(|r| r.0 == mode) {
                    Some(r) => {
                        r.1.push(secs);
                        r.2 = r.2.max(peak_kb);
                    }
                    None => runs.push((mode, vec![secs], peak_kb)),
                }
            }
        }
        let rows: Vec<(&str, f64, u64)> = runs
            .into_iter()
            .map(|(mode, mut secs, peak_kb)| {
                secs.sort_by(f64::total_cmp);
                (mode, secs[secs.len() / 2], peak_kb)
            })
            .collect();
        let naive = rows.iter().find(|r| r.0 == "naive").map_or(1.0, |r| r.1);
        let floor = rows.iter().find(|r| r.0 == "floor").map_or(1.0, |r| r.1);
        for (mode, secs, peak_kb) in rows {
            // "÷ floor": time per picture as a multiple of the floor's.
            println!(
                "{:<16} {:>7} {:>9.1} {:>8.1} {:>9.0} {:>8.1}x {:>8.2}x",
                mode,
                t,
                files as f64 / secs,
                bytes as f64 / 1e6 / secs,
                peak_kb as f64 / 1024.0,
                naive / secs,
                secs / floor
            );
        }
    }
}

/// The real photos the corpus is made from.
fn sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/ref/photos");
    let dir = if shared.is_dir() {
        shared
    } else {
        root.join("samples/archive")
    };
    list(&dir)
        .into_iter()
        .filter(|p| {
            let b = std::fs::read(p).unwrap_or_default();
            matches!(read::sniff(&b), Format::Jpeg | Format::Png)
        })
        .collect()
}

/// Real photos unrelated to [`sources`], for an archive that knows none of the
/// corpus: empty without `../shared/ref`.
fn others() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ref");
    ["exif", "pdq"]
        .iter()
        .flat_map(|d| list(&root.join(d)))
        .filter(|p| {
            let b = std::fs::read(p).unwrap_or_default();
            matches!(read::sniff(&b), Format::Jpeg | Format::Png)
        })
        .collect()
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(list(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The source's `APP1 Exif` segment, whole (marker and length included).
fn exif_segment(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut i = 2;
    while i + 4 <= bytes.len() && bytes[i] == 0xFF {
        let marker = bytes[i + 1];
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        if marker == 0xDA || i + 2 + len > bytes.len() {
            return None;
        }
        if marker == 0xE1 && bytes[i + 4..].starts_with(b"Exif\0\0") {
            return Some(bytes[i..i + 2 + len].to_vec());
        }
        i += 2 + len;
    }
    None
}

fn build_corpus(sources: &[PathBuf], dir: &Path, files: usize, chroma: Chroma) {
    if list(dir).len() == files {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    eprintln!(
        "building {files} camera-size JPEGs in {} ...",
        dir.display()
    );
    (0..files).into_par_iter().for_each(|i| {
        let src = &sources[i % sources.len()];
        let bytes = std::fs::read(src).unwrap();
        let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
        let (mut w, mut h) = SIZES[i % SIZES.len()];
        if img.height() > img.width() {
            std::mem::swap(&mut w, &mut h);
        }
        let big =
            DynamicImage::ImageRgb8(img).resize_exact(w, h, image::imageops::FilterType::Triangle);
        // Sensor grain: a cheap deterministic hash of the position, ±6 levels.
        let mut seed = i as u32 * 0x9E37_79B9;
        let grain = RgbImage::from_fn(w, h, |x, y| {
            let p = big.get_pixel(x, y);
            seed = seed
                .wrapping_mul(1_664_525)
                .wrapping_add(1_013_904_223 ^ x ^ (y << 16));
            let n = |s: u32| ((s >> 24) % 13) as i16 - 6;
            image::Rgb([
                (i16::from(p[0]) + n(seed)).clamp(0, 255) as u8,
                (i16::from(p[1]) + n(seed.rotate_left(8))).clamp(0, 255) as u8,
                (i16::from(p[2]) + n(seed.rotate_left(16))).clamp(0, 255) as u8,
            ])
        });
        let mut jpeg = Vec::new();
        match chroma {
            Chroma::All444 => grain
                .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
                    &mut jpeg, 92,
                ))
                .unwrap(),
            Chroma::Camera => {
                let mut enc = jpeg_encoder::Encoder::new(&mut jpeg, 92);
                enc.set_sampling_factor(CAMERA_CHROMA[i % CAMERA_CHROMA.len()]);
                enc.encode(
                    grain.as_raw(),
                    u16::try_from(w).unwrap(),
                    u16::try_from(h).unwrap(),
                    jpeg_encoder::ColorType::Rgb,
                )
                .unwrap();
            }
        }
        let mut out = jpeg[..2].to_vec();
        if let Some(exif) = exif_segment(&bytes) {
            out.extend_from_slice(&exif);
        }
        out.extend_from_slice(&jpeg[2..]);
        let name = src.file_stem().unwrap().to_string_lossy();
        std::fs::write(dir.join(format!("{i:04}-{name}.jpg")), out).unwrap();
    });
}

/// An archive of the source photos, so `scan` matches every copy against its original.
fn build_archive(sources: &[PathBuf], path: &Path) {
    if path.exists() {
        return;
    }
    let engine = Engine::new(Config::default(), Some(Archive::open(path).unwrap())).unwrap();
    let items: Vec<_> = sources
        .iter()
        .filter_map(|p| {
            let ex = engine.examine_path(p);
            let entry = engine.archive_entry(&ex)?;
            let (first_seen, first_seen_from) =
                pipeline::first_seen(&ex, &pipeline::FirstSeen::Auto);
            Some((
                entry,
                Sighting {
                    location: p.to_string_lossy().into_owned(),
                    source: "bench".into(),
                    url: None,
                    first_seen,
                    first_seen_from,
                },
            ))
        })
        .collect();
    engine.record(&items).unwrap();
}

/// Run one mode in a child process; its wall time and peak resident set (KiB).
///
/// The child reports its own `VmHWM`: `ru_maxrss` would not do, because Linux
/// carries a process's peak across `exec`, and this parent grew while it built
/// the corpus.
fn run_child(mode: &str, corpus: &Path, threads: usize, archive: &Path) -> (f64, u64) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--child", mode, "--threads", &threads.to_string()])
        .arg("--corpus")
        .arg(corpus)
        .arg("--archive")
        .arg(archive)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{mode} failed: {text}");
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().unwrap());
    match (it.next(), it.next()) {
        (Some(secs), Some(kb)) => (secs, kb as u64),
        _ => panic!("{mode}: child printed {text:?}"),
    }
}

/// This process's peak resident set in KiB (`VmHWM`), 0 where /proc is missing.
fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn child(mode: &str, corpus: &Path, threads: usize, archive: Option<&Path>) {
    let files = list(corpus);
    let limits = Limits::default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let start = Instant::now();
    match mode {
        "scan" | "scan-new" | "scan-new-nocrop" => {
            let known = mode == "scan";
            let archive = archive.map(|p| Archive::open_existing(p).unwrap());
            let mut config = Config::default();
            if mode == "scan-new-nocrop" {
                config.matching =
                    retrace::internals::pipeline::match_params_with_crop_search(Some(0));
            }
            let engine = Engine::new(config, archive).unwrap();
            let candidates: Vec<Candidate> = files.iter().map(Candidate::new).collect();
            let mut sink = std::io::sink();
            let mut found = 0;
            Scan::new(&engine)
                .threads(threads)
                .run(&candidates, |_, ex| {
                    found += usize::from(ex.report.has_earlier_copy());
                    serde_json::to_writer(&mut sink, &ex.report).unwrap();
                })
                .unwrap();
            assert!(!known || found > 0, "no copy found its original");
        }
        "floor" => pool.install(|| {
            files.par_iter().for_each(|p| {
                let blob = read::read_file(p, &limits).unwrap();
                // As the pipeline does: the container read once, then taken
                // by the metadata readers and the decoder.
                let layout = Layout::read(&blob.bytes, blob.format);
                let meta = metadata::read_metadata_with(&blob.bytes, blob.format, &layout, &limits);
                let d = decode::decode_with(&blob, &layout, &limits).unwrap();
                let img = decode::orient(d.working, meta.orientation);
                std::hint::black_box(hash::compute(&img));
            })
        }),
        "naive" => pool.install(|| {
            files.par_iter().for_each(|p| {
                let bytes = std::fs::read(p).unwrap();
                std::hint::black_box(read::sha256_hex(&bytes));
                let exif =
                    exif::Reader::new().read_from_container(&mut std::io::Cursor::new(&bytes));
                std::hint::black_box(exif.ok().map(|e| e.fields().count()));
                let img = image::load_from_memory(&bytes).unwrap();
                let ph = image_hasher::HasherConfig::new()
                    .hash_alg(image_hasher::HashAlg::Median)
                    .preproc_dct()
                    .to_hasher();
                let dh = image_hasher::HasherConfig::new()
                    .hash_alg(image_hasher::HashAlg::Gradient)
                    .to_hasher();
                std::hint::black_box((ph.hash_image(&img), dh.hash_image(&img)));
            })
        }),
        "full-decode" => pool.install(|| {
            files.par_iter().for_each(|p| {
                let bytes = std::fs::read(p).unwrap();
                std::hint::black_box(image::load_from_memory(&bytes).unwrap());
            })
        }),
        "scaled-decode" => pool.install(|| {
            files.par_iter().for_each(|p| {
                let blob = Blob {
                    bytes: std::fs::read(p).unwrap(),
                    sha256: String::new(),
                    format: Format::Jpeg,
                };
                let dims = decode::dimensions(&blob, &limits).unwrap();
                let d =
                    decode::decode_jpeg_scaled(&blob.bytes, dims, decode::WORKING_SIDE, &limits)
                        .unwrap()
                        .expect("baseline JPEGs take the scaled path");
                std::hint::black_box(d);
            })
        }),
        other => panic!("unknown mode {other}"),
    }
    println!("{} {}", start.elapsed().as_secs_f64(), vm_hwm_kb());
    std::io::stdout().flush().unwrap();
}

/// Peak RSS of the real CLI scanning `n` files (hard links of the samples).
fn memory(work: &Path, n: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples: Vec<PathBuf> = [root.join("samples/incoming"), root.join("samples/archive")]
        .iter()
        .flat_map(|d| list(d))
        .filter(|p| std::fs::read(p).is_ok_and(|b| read::sniff(&b) != Format::Unknown))
        .collect();
    let dir = work.join(format!("links-{n}"));
    if list(&dir).len() != n {
        let _ = std::fs::remove_dir_all(&dir);
        for i in 0..n {
            // 100 files per folder, like a camera card.
            let sub = dir.join(format!("{:04}", i / 100));
            std::fs::create_dir_all(&sub).unwrap();
            let src = &samples[i % samples.len()];
            let ext = src.extension().unwrap().to_string_lossy();
            std::fs::hard_link(src, sub.join(format!("{i:06}.{ext}"))).unwrap();
        }
    }
    let db = work.join("samples.db");
    if !db.exists() {
        let status = Command::new(env!("CARGO_BIN_EXE_retrace"))
            .arg("--archive")
            .arg(&db)
            .args(["archive", "add"])
            .arg(root.join("samples/archive"))
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    for (label, extra) in [("--jsonl", vec!["--jsonl"]), ("table", vec![])] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_retrace"));
        cmd.arg("--archive")
            .arg(&db)
            .arg("scan")
            .arg(&dir)
            .args(["--threads", "2"])
            .args(&extra);
        let start = Instant::now();
        let (out, peak) = run_measured_any(cmd);
        println!(
            "scan {label:<8} {n:>6} files: peak RSS {:.0} MB, {:.1} s, {:.1} MB of output",
            peak as f64 / 1024.0,
            start.elapsed().as_secs_f64(),
            out as f64 / 1e6
        );
    }
}

/// Run a command whose exit status may say "found copies" (1) or "some files had
/// errors" (2); its output size and peak RSS in KiB.
fn run_measured_any(mut cmd: Command) -> (u64, u64) {
    let out = tempfile::tempfile().unwrap();
    cmd.stdout(out.try_clone().unwrap());
    // Reaped below with wait4, which std's `wait` cannot give the rusage of.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().unwrap();
    #[cfg(target_os = "linux")]
    let peak = {
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: plain syscall on our own child's pid with valid out-pointers.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        assert_eq!(r, pid, "wait4 failed");
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) <= 2);
        usage.ru_maxrss as u64
    };
    #[cfg(not(target_os = "linux"))]
    let peak = {
        let mut child = child;
        child.wait().unwrap();
        0
    };
    (out.metadata().unwrap().len(), peak)
}
