//! Peak memory of the real binary against the configured limits: decompression
//! bombs, a huge but valid picture, a real 5-megapixel photo and metadata
//! blocks near the limit, each run through `retrace check` with given
//! `--max-*` flags, the child's peak resident set taken from `wait4`
//! (`ru_maxrss`, exact and race-free, unlike sampling `VmHWM`).
//!
//! Its own test binary on purpose: Linux carries the parent's resident peak
//! into the child's `ru_maxrss` across `exec` (std spawns with vfork, whose
//! child exits the parent's address space at `exec`), so the parent must stay
//! small. Every input is therefore written to disk in pieces, never held
//! whole, and each test checks the parent's own peak before trusting a figure.
//!
//! Bounds are `baseline + what the limit lets through × factor`, where the
//! baseline is `check` of a 20 KB JPEG measured in the same run. The factors
//! are explained where they are used; resident memory does not depend on
//! machine load, so the margins only cover allocator behaviour.

#![cfg(target_os = "linux")]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const MIB: u64 = 1024 * 1024;

struct Run {
    code: i32,
    /// Peak resident set of the child, in bytes.
    peak: u64,
    stdout: String,
    stderr: String,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// This process's own resident peak, in bytes (`VmHWM`; exact for ourselves).
fn own_peak() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib * 1024
}

/// Above this the parent's own peak could hide the child's (see the top).
const PARENT_CEILING: u64 = 48 * MIB;

/// `retrace check --json FILE` with `flags`, measured.
fn check(file: &Path, flags: &[&str]) -> Run {
    let parent = own_peak();
    assert!(
        parent < PARENT_CEILING,
        "the test process itself peaked at {} MiB: child figures would be its",
        parent / MIB
    );
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_retrace"));
    cmd.env_remove("RETRACE_ARCHIVE")
        .args(flags)
        .arg("check")
        .arg("--json")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap());
    // Reaped below with wait4: std's `wait` does not return the rusage.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().expect("spawn retrace");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a plain syscall on our own child's pid with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status),
        "retrace died (status {status:#x}) on {}",
        file.display()
    );
    let read = |mut f: File| {
        use std::io::{Read, Seek};
        let mut s = String::new();
        f.rewind().unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    Run {
        code: libc::WEXITSTATUS(status),
        peak: usage.ru_maxrss as u64 * 1024,
        stdout: read(out),
        stderr: read(err),
    }
}

impl Run {
    fn report(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not a JSON report ({e}): {}{}", self.stdout, self.stderr))
    }
    fn errors(&self) -> String {
        self.report()["errors"].to_string()
    }
    fn assert_below(&self, bound: u64, what: &str) {
        eprintln!(
            "{what}: peak RSS {:.1} MiB (bound {:.1} MiB)",
            self.peak as f64 / MIB as f64,
            bound as f64 / MIB as f64
        );
        assert!(
            self.peak <= bound,
            "{what}: peak RSS {} MiB above the bound {} MiB",
            self.peak / MIB,
            bound / MIB
        );
    }
}

/// `check` of a 20 KB sample JPEG: the binary, its tables, rayon's pool and
/// one small decode. Measured once per test binary.
fn baseline() -> u64 {
    static B: OnceLock<u64> = OnceLock::new();
    *B.get_or_init(|| {
        let r = check(&repo().join("samples/incoming/new_chelsea.jpg"), &[]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        eprintln!("baseline: peak RSS {:.1} MiB", r.peak as f64 / MIB as f64);
        r.peak
    })
}

/// Allocator slack on top of the baseline for inputs that are refused before
/// anything the size of the input is allocated: the report, a few buffers,
/// glibc arenas touched by a thread that the baseline run did not touch.
const SLACK: u64 = 8 * MIB;

fn png_chunk(out: &mut impl Write, kind: &[u8; 4], data: &[u8]) {
    out.write_all(&(data.len() as u32).to_be_bytes()).unwrap();
    let mut c = kind.to_vec();
    c.extend_from_slice(data);
    out.write_all(&c).unwrap();
    out.write_all(&crc32fast::hash(&c).to_be_bytes()).unwrap();
}

fn png_ihdr(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
    ihdr
}

/// A PNG header claiming `w`×`h` pixels with a few bytes of pixel data.
fn write_png_bomb(path: &Path, w: u32, h: u32) {
    let mut f = BufWriter::new(File::create(path).unwrap());
    f.write_all(b"\x89PNG\r\n\x1a\n").unwrap();
    png_chunk(&mut f, b"IHDR", &png_ihdr(w, h));
    png_chunk(
        &mut f,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    png_chunk(&mut f, b"IEND", &[]);
    f.flush().unwrap();
}

/// A valid `w`×`h` RGB PNG, `row(y, buf)` filling each row, compressed as
/// it is written: this process never holds more than a row and its output.
fn write_png(path: &Path, w: u32, h: u32, mut row: impl FnMut(u32, &mut [u8])) {
    use miniz_oxide::deflate::core::{
        compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
    };
    let mut f = BufWriter::new(File::create(path).unwrap());
    f.write_all(b"\x89PNG\r\n\x1a\n").unwrap();
    png_chunk(&mut f, b"IHDR", &png_ihdr(w, h));
    // Level 1, zlib wrapper (positive window bits).
    let mut z = CompressorOxide::new(create_comp_flags_from_zip_params(1, 15, 0));
    let mut line = vec![0u8; 1 + 3 * w as usize]; // filter byte 0, then RGB
    let mut out = vec![0u8; 1 << 16];
    for y in 0..h {
        row(y, &mut line[1..]);
        let flush = if y + 1 == h {
            TDEFLFlush::Finish
        } else {
            TDEFLFlush::None
        };
        let mut input = &line[..];
        loop {
            let (status, used, made) = compress(&mut z, input, &mut out, flush);
            assert!(status as i32 >= 0, "deflate failed: {status:?}");
            if made > 0 {
                png_chunk(&mut f, b"IDAT", &out[..made]);
            }
            input = &input[used..];
            let finished = match flush {
                TDEFLFlush::Finish => status == TDEFLStatus::Done,
                _ => input.is_empty(),
            };
            if finished {
                break;
            }
        }
    }
    png_chunk(&mut f, b"IEND", &[]);
    f.flush().unwrap();
}

/// A 12-megapixel picture with structure for the hashes: gradients and a moiré.
fn write_big_png(path: &Path, w: u32, h: u32) {
    write_png(path, w, h, |y, px| {
        for (x, p) in px.chunks_exact_mut(3).enumerate() {
            let x = x as u32;
            p[0] = (x * 255 / w) as u8;
            p[1] = (y * 255 / h) as u8;
            p[2] = ((x * x + y * y) / 97 % 256) as u8;
        }
    });
}

/// A real JPEG (`samples/incoming/new_chelsea.jpg`) whose frame header is
/// changed to claim `w`×`h` pixels: every other segment stays valid, so the
/// decoders read the header through and the claim is what they act on.
fn write_jpeg_bomb(path: &Path, w: u16, h: u16) {
    let mut b = std::fs::read(repo().join("samples/incoming/new_chelsea.jpg")).unwrap();
    let mut i = 2;
    loop {
        assert!(i + 9 < b.len() && b[i] == 0xFF, "no frame header found");
        let marker = b[i + 1];
        if matches!(marker, 0xC0..=0xC2) {
            b[i + 5..i + 7].copy_from_slice(&h.to_be_bytes());
            b[i + 7..i + 9].copy_from_slice(&w.to_be_bytes());
            break;
        }
        i += 2 + usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
    }
    std::fs::write(path, b).unwrap();
}

/// A real photo (`samples/incoming/new_chelsea.jpg`) with `icc_chunks` ICC
/// segments of 64 000 bytes and `xmp_ext` ExtendedXMP segments of 60 000
/// bytes inserted after SOI, written segment by segment.
fn write_metadata_heavy_jpeg(path: &Path, icc_chunks: u8, xmp_ext: u32) -> u64 {
    let photo = std::fs::read(repo().join("samples/incoming/new_chelsea.jpg")).unwrap();
    let mut f = BufWriter::new(File::create(path).unwrap());
    f.write_all(&photo[..2]).unwrap();
    let mut segment = |payload: &[u8], marker: u8| {
        f.write_all(&[0xFF, marker]).unwrap();
        f.write_all(&((payload.len() + 2) as u16).to_be_bytes())
            .unwrap();
        f.write_all(payload).unwrap();
    };
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    xmp.extend_from_slice(
        b"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description xmlns:xmpNote=\"http://ns.adobe.com/xmp/note/\" xmpNote:HasExtendedXMP=\"00000000000000000000000000000000\"/></rdf:RDF></x:xmpmeta>",
    );
    segment(&xmp, 0xE1);
    let total = xmp_ext * 60_000;
    for i in 0..xmp_ext {
        let mut ext = b"http://ns.adobe.com/xmp/extension/\0".to_vec();
        ext.extend_from_slice(&[b'0'; 32]);
        ext.extend(total.to_be_bytes());
        ext.extend((i * 60_000).to_be_bytes());
        let body = if i == 0 {
            b"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">".as_slice()
        } else {
            b" ".as_slice()
        };
        ext.extend_from_slice(body);
        ext.resize(ext.len() + 60_000 - body.len(), b' ');
        segment(&ext, 0xE1);
    }
    for seq in 1..=icc_chunks {
        let mut icc = b"ICC_PROFILE\0".to_vec();
        icc.extend([seq, icc_chunks]);
        icc.resize(64_014, seq);
        segment(&icc, 0xE2);
    }
    f.write_all(&photo[2..]).unwrap();
    f.flush().unwrap();
    drop(f);
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn decompression_bombs_are_refused_at_baseline_memory() {
    let base = baseline();
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("bomb.png");
    let jpg = dir.path().join("bomb.jpg");
    write_png_bomb(&png, 65_535, 65_535);
    write_jpeg_bomb(&jpg, 65_535, 65_535);
    for file in [&png, &jpg] {
        // 4.3 gigapixels, 12.9 GB as RGB: refused from the header.
        let r = check(file, &[]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.errors().contains("limit exceeded"), "{}", r.errors());
        r.assert_below(base + SLACK, &format!("{} (defaults)", file.display()));
    }
}

#[test]
fn decoder_allocation_cap_holds_when_the_pixel_caps_are_lifted() {
    let base = baseline();
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("bomb.png");
    // A real decompression bomb: 10 000 × 10 000 black pixels, 300 MB as RGB,
    // in a file of a few hundred KB, every byte of it decodable.
    write_png(&png, 10_000, 10_000, |_, _| {});
    let file_bytes = std::fs::metadata(&png).unwrap().len();
    assert!(file_bytes < 2 * MIB, "{file_bytes}");
    let lifted = [
        "--max-pixels",
        "18446744073709551615",
        "--max-width",
        "4294967295",
        "--max-height",
        "4294967295",
    ];
    let cap = 64 * MIB;
    let cap_flag = cap.to_string();
    let capped = [&lifted[..], &["--max-decoder-alloc", &cap_flag]].concat();
    let r = check(&png, &capped);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.errors().contains("Memory limit exceeded"),
        "{}",
        r.errors()
    );
    // Refused before the decoder allocates its output buffer.
    r.assert_below(
        base + file_bytes + SLACK,
        "300 MB PNG bomb, 64 MiB decoder cap",
    );

    // Under the default 1 GiB cap the same file is decoded: the cap is what
    // stopped it above, and the bomb is real.
    let r = check(&png, &lifted);
    assert!(r.code <= 1, "{}: {}", r.stderr, r.errors());
    assert!(
        r.peak > base + 4 * cap,
        "decoded the 300 MB bomb in {} MiB?",
        r.peak / MIB
    );
    eprintln!(
        "300 MB PNG bomb, default 1 GiB decoder cap: peak RSS {:.1} MiB",
        r.peak as f64 / MIB as f64
    );
}

#[test]
fn a_huge_valid_picture_stays_within_its_limit_and_fails_cleanly_below_it() {
    let base = baseline();
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("big.png");
    let (w, h) = (4_000u32, 3_000u32);
    write_big_png(&png, w, h);
    let file_bytes = std::fs::metadata(&png).unwrap().len();
    assert!(
        file_bytes > 4 * MIB,
        "{file_bytes}: too small for the file-size cap below"
    );
    let pixels = u64::from(w) * u64::from(h);

    let r = check(&png, &[]);
    assert_eq!(r.code, 0, "{}: {}", r.stderr, r.errors());
    assert!(r.report()["hashes"]["pdq"].is_string());
    // The file is read whole, decoded whole (12 MP × 3 B = 36 MB; PNG has no
    // scaled decoding), and the working copy is made from it. Allowed: the
    // file once plus 4 bytes per pixel twice (a decoded buffer and one
    // conversion alive together).
    r.assert_below(base + file_bytes + 2 * 4 * pixels, "12 MP PNG (defaults)");
    let decoded_peak = r.peak;

    // One pixel under the picture: refused from the header, before decoding.
    let r = check(&png, &["--max-pixels", &(pixels - 1).to_string()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.errors().contains("limit exceeded") && r.errors().contains("pixel count"),
        "{}",
        r.errors()
    );
    assert!(r.report()["hashes"]
        .as_object()
        .is_none_or(|h| h.is_empty()));
    // Only the file was read: nothing the size of the picture was allocated.
    r.assert_below(
        base + file_bytes + SLACK,
        "12 MP PNG, --max-pixels below it",
    );
    assert!(
        r.peak + 3 * pixels / 2 < decoded_peak,
        "refusing ({} MiB) should save at least half the decoded picture over decoding it ({} MiB)",
        r.peak / MIB,
        decoded_peak / MIB
    );

    // Under a file-size cap the file is not even read whole.
    let r = check(&png, &["--max-file-bytes", "1000000"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("limit") || r.errors().contains("limit"));
    r.assert_below(base + SLACK, "12 MP PNG, --max-file-bytes 1 MB");
}

#[test]
fn a_real_five_megapixel_photo_is_refused_under_a_lower_max_pixels() {
    let base = baseline();
    // 2560 × 1920, from the mate-backgrounds package (see samples/README.md).
    let photo = repo().join("samples/archive/Wood.jpg");
    let r = check(&photo, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Decoded at 1/4 scale in the DCT domain: far less than the 14.7 MB the
    // full RGB picture would take. The bound allows the full picture once.
    r.assert_below(base + 2560 * 1920 * 3, "Wood.jpg 4.9 MP (defaults)");
    let r = check(&photo, &["--max-pixels", "4000000"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.errors().contains("limit exceeded"), "{}", r.errors());
    r.assert_below(base + SLACK, "Wood.jpg, --max-pixels 4000000");
}

#[test]
fn metadata_blocks_near_the_limit_stay_within_a_bound_of_the_file_size() {
    let base = baseline();
    let dir = tempfile::tempdir().unwrap();
    let jpg = dir.path().join("heavy.jpg");
    // 250 ICC chunks (16 MB of profile) and 250 ExtendedXMP segments (15 MB).
    let file_bytes = write_metadata_heavy_jpeg(&jpg, 250, 250);
    let limit = 16 * MIB;
    let r = check(&jpg, &["--max-metadata-bytes", &limit.to_string()]);
    assert!(r.code <= 1, "{}: {}", r.stderr, r.errors());
    assert!(r.report()["hashes"]["pdq"].is_string());
    // Measured: 2.9 times the file over the baseline. The image decoders
    // (zune-jpeg for the header, jpeg-decoder for the scaled decode) each keep
    // their own copy of every ICC, XMP and comment segment before retrace's
    // metadata limit applies, so what bounds this is the file size (at most
    // --max-file-bytes), not --max-metadata-bytes: 4 times the file.
    r.assert_below(base + 4 * file_bytes, "31 MB of ICC + XMP, 16 MiB limit");

    // Under a 1 MiB limit both blocks are skipped with a warning; the memory
    // stays the same (see above), within the same bound.
    let r = check(&jpg, &["--max-metadata-bytes", &MIB.to_string()]);
    assert!(r.code <= 1, "{}: {}", r.stderr, r.errors());
    let report = r.report();
    let warnings = report["metadata"]["container"]["warnings"].to_string();
    assert!(
        warnings.contains("ICC") && warnings.contains("limit"),
        "{warnings}"
    );
    r.assert_below(base + 4 * file_bytes, "the same, 1 MiB limit");

    // And a file-size cap below it refuses the file before reading it whole.
    let r = check(&jpg, &["--max-file-bytes", &(file_bytes - 1).to_string()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    r.assert_below(base + SLACK, "the same, --max-file-bytes one byte short");
}
