//! Helpers shared by the integration tests: a temp dir per test and a command
//! builder for the real `retrace` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn samples() -> PathBuf {
    repo().join("samples")
}

pub fn retrace(archive: Option<&Path>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_retrace"));
    c.env_remove("RETRACE_ARCHIVE");
    if let Some(a) = archive {
        c.arg("--archive").arg(a);
    }
    c
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run retrace");
    if !out.stderr.is_empty() {
        eprintln!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    out
}

pub fn jsonl(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .expect("utf-8 stdout")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// An archive built from `samples/archive` with its catalogue, in a temp dir.
pub fn sample_archive(dir: &Path) -> PathBuf {
    let db = dir.join("archive.db");
    let out = run(retrace(Some(&db))
        .arg("archive")
        .arg("add")
        .arg(samples().join("archive"))
        .arg("--manifest")
        .arg(samples().join("archive/sources.tsv")));
    assert_eq!(out.status.code(), Some(0), "archive add failed");
    db
}

/// A seeded xorshift, so a failing trial can be reproduced from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A small JPEG whose content is unique to `seed`: a few random blocks on a
/// random gradient, so every file has its own SHA-256 and decodes fine.
pub fn small_jpeg(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (w, h) = (80u32, 64u32);
    let base = [rng.next() as u8, rng.next() as u8, rng.next() as u8];
    let mut img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            base[0].wrapping_add((x * 2) as u8),
            base[1].wrapping_add((y * 3) as u8),
            base[2].wrapping_add(((x + y) / 2) as u8),
        ])
    });
    for _ in 0..6 {
        let (x0, y0) = (
            rng.below(u64::from(w)) as u32,
            rng.below(u64::from(h)) as u32,
        );
        let c = image::Rgb([rng.next() as u8, rng.next() as u8, rng.next() as u8]);
        for y in y0..(y0 + 16).min(h) {
            for x in x0..(x0 + 16).min(w) {
                img.put_pixel(x, y, c);
            }
        }
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&img)
        .expect("encode JPEG");
    out
}

/// Write `small_jpeg(seed)` for each seed into `dir` as `p<seed>.jpg`.
pub fn jpeg_folder(dir: &Path, seeds: impl IntoIterator<Item = u64>) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for s in seeds {
        std::fs::write(dir.join(format!("p{s:04}.jpg")), small_jpeg(s)).unwrap();
    }
    dir.to_path_buf()
}

/// Wait for a child at most `limit`; on timeout kill it and fail the test,
/// so a hang is a failure and not a stuck CI job.
pub fn wait_bounded(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("retrace did not finish within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
