//! The scaled JPEG path against the full decode it replaces, on real photographs
//! (`../shared/ref` beside the checkout, and `samples/`): the hashes must stay
//! within a stated distance, files the scaled decoder does not handle must take the
//! full path, and limits and damage must still give errors, never panics.
//!
//! Without `../shared/ref`, the tests that need it print why and pass.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageEncoder, RgbImage};
use retrace::internals::decode::{self, DecodePath, WORKING_SIDE};
use retrace::internals::hash;
use retrace::internals::input::read::{self, Blob, Format};
use retrace::Error;
use retrace::Limits;

/// Largest full-vs-scaled distance accepted per algorithm. Measured over the 60
/// real JPEGs of `../shared/ref` and `samples/` that take the scaled path
/// (`cargo run --release --features examples --example scaled_decode`): PDQ max 14 (mean 3.9), pHash
/// max 4, dHash max 2. The limits leave room above that and stay far below the
/// matching thresholds (PDQ 52, pHash 8, dHash 10), so a copy that matched its
/// original before still matches it.
const MAX_PDQ: u32 = 20;
const MAX_PHASH: u32 = 6;
const MAX_DHASH: u32 = 6;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn shared(rel: &str) -> Option<PathBuf> {
    let p = root().join("../shared/ref").join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipped: {} not present", p.display());
        None
    }
}

fn jpegs_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(jpegs_in(&p));
        } else if std::fs::read(&p).is_ok_and(|b| read::sniff(&b) == Format::Jpeg) {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn blob(path: &Path) -> Blob {
    read::read_file(path, &Limits::default()).unwrap()
}

#[test]
fn scaled_hashes_stay_close_to_full_decode_hashes_on_real_photos() {
    let mut files = jpegs_in(&root().join("samples"));
    if let Some(p) = shared("photos") {
        files.extend(jpegs_in(&p));
    }
    // One 12 MP phone photo (4032×3024, decoded at 1/4): the camera-size case.
    if let Some(p) = shared("pdq/images/reg-test-input/exif-rotn/exif-rotn-6.jpg") {
        files.push(p);
    }
    let limits = Limits::default();
    let mut scaled = 0;
    let mut failures = Vec::new();
    for p in &files {
        let b = blob(p);
        let (Ok(full), Ok(fast)) = (
            decode::decode_full(&b, &limits),
            decode::decode(&b, &limits),
        ) else {
            panic!("{}: one path decodes, the other does not", p.display());
        };
        assert_eq!((full.width, full.height), (fast.width, fast.height));
        assert_eq!(
            (full.working.width(), full.working.height()),
            (fast.working.width(), fast.working.height()),
            "{}",
            p.display()
        );
        if fast.path == DecodePath::Full {
            continue;
        }
        scaled += 1;
        let (a, b) = (hash::compute(&full.working), hash::compute(&fast.working));
        let d = (
            a.pdq.unwrap().distance(&b.pdq.unwrap()).unwrap(),
            a.phash.distance(&b.phash).unwrap(),
            a.dhash.distance(&b.dhash).unwrap(),
        );
        eprintln!("{}: {:?} pdq/phash/dhash {:?}", p.display(), fast.path, d);
        if d.0 > MAX_PDQ || d.1 > MAX_PHASH || d.2 > MAX_DHASH {
            failures.push(format!("{}: {d:?}", p.display()));
        }
    }
    // samples/ alone has 12 large baseline JPEGs.
    assert!(scaled >= 10, "only {scaled} files took the scaled path");
    assert!(failures.is_empty(), "moved too far: {failures:?}");
}

#[test]
fn progressive_and_cmyk_jpegs_take_the_full_path() {
    for rel in [
        "photos/debian/mate-backgrounds/GreenMeadow.jpg", // progressive, 1280×1024
        "pdq/images/reg-test-input/dih/bridge-2-rotate-90.jpg", // progressive, 1004×1600
        "pdq/images/misc-images/modes/CMYK.jpg",          // Adobe CMYK, 1600×1004
    ] {
        let Some(p) = shared(rel) else { continue };
        let d = decode::decode(&blob(&p), &Limits::default()).unwrap();
        assert_eq!(d.path, DecodePath::Full, "{rel}");
        assert_eq!(d.working.width().max(d.working.height()), WORKING_SIDE);
    }
}

fn jpeg(w: u32, h: u32, quality: u8) -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            ((x * 7) ^ (y * 3)) as u8,
            ((x / 5 + y / 3) * 4) as u8,
            ((x * y) >> 6) as u8,
        ])
    }));
    let mut out = Cursor::new(Vec::new());
    img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
        &mut out, quality,
    ))
    .unwrap();
    out.into_inner()
}

#[test]
fn the_scale_is_the_smallest_that_keeps_the_working_side() {
    // (width, height, denominator) for a working side of 512.
    let expect = |choose: fn(u32, u32, u32) -> u32, cases: &[(u32, u32, u32)]| {
        for &(w, h, n) in cases {
            assert_eq!(choose(w, h, 512), n, "{w}×{h}");
        }
    };
    // The longest side counts, rounded up.
    expect(
        decode::dct_denominator,
        &[
            (4096, 3072, 8),
            (4089, 3000, 8), // 4089/8 rounds up to 512
            (4088, 3000, 4),
            (4000, 3000, 4),
            (3000, 4000, 4),
            (2048, 1536, 4),
            (2045, 1536, 4),
            (2044, 1536, 2),
            (1024, 10, 2),
            (1023, 700, 2), // 1023/2 rounds up to 512
            (1022, 700, 1),
            (512, 512, 1),
        ],
    );
    // The scaled path's own choice: 1/8 from 3065 px (384 = 3/4 of 512 at 1/8), the
    // rest as above.
    expect(
        decode::scaled_denominator,
        &[
            (4088, 3000, 8),
            (3000, 4000, 8),
            (3065, 2000, 8), // 3065/8 rounds up to 384
            (3064, 2000, 4),
            (2100, 1000, 4),
            (1023, 700, 2),
            (1022, 700, 1),
        ],
    );
    let b = Blob::from_bytes(jpeg(2100, 1000, 90));
    let d = decode::decode(&b, &Limits::default()).unwrap();
    assert_eq!(d.path, DecodePath::ScaledJpeg { denominator: 4 });
    assert_eq!((d.width, d.height), (2100, 1000));
    assert_eq!((d.working.width(), d.working.height()), (512, 243));
    // 8 and 12 MP phone sizes: 1/8 gives at least 3/4 of the working side
    // (400 px here), taken and enlarged to it; just under that, 1/4 as before.
    let b = Blob::from_bytes(jpeg(3200, 2400, 90));
    let d = decode::decode(&b, &Limits::default()).unwrap();
    assert_eq!(d.path, DecodePath::ScaledJpeg { denominator: 8 });
    assert_eq!((d.working.width(), d.working.height()), (512, 384));
    let b = Blob::from_bytes(jpeg(3064, 1000, 90));
    let d = decode::decode(&b, &Limits::default()).unwrap();
    assert_eq!(d.path, DecodePath::ScaledJpeg { denominator: 4 });
    assert_eq!((d.working.width(), d.working.height()), (512, 167));
    // Small pictures gain nothing from scaling and keep the reference decoder.
    let b = Blob::from_bytes(jpeg(900, 600, 90));
    assert_eq!(
        decode::decode(&b, &Limits::default()).unwrap().path,
        DecodePath::Full
    );
}

#[test]
fn limits_still_refuse_before_the_scaled_decoder_allocates() {
    let b = Blob::from_bytes(jpeg(1600, 1200, 80));
    let tight = Limits {
        max_pixels: 1600 * 1200 - 1,
        ..Limits::default()
    };
    assert!(matches!(
        decode::decode(&b, &tight),
        Err(Error::Limit { .. })
    ));
    // The decoder's own allocation cap is passed to both decoders: too small for
    // either output buffer, the file fails instead of allocating.
    let no_room = Limits {
        max_decoder_alloc: 100_000,
        ..Limits::default()
    };
    assert!(decode::decode(&b, &no_room).is_err());
    // A 60 000 × 60 000 header (the bytes are a JPEG header only) is refused by
    // its size, before any decoder allocates for it.
    let mut bomb = jpeg(1024, 1024, 50);
    let sof = bomb
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("baseline SOF0");
    bomb[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
    assert!(matches!(
        decode::decode(&Blob::from_bytes(bomb), &Limits::default()),
        Err(Error::Limit { .. })
    ));
}

#[test]
fn damaged_jpegs_fall_back_or_fail_without_panicking() {
    let bytes = jpeg(1100, 800, 85);
    let whole = decode::decode(&Blob::from_bytes(bytes.clone()), &Limits::default()).unwrap();
    assert_eq!(whole.path, DecodePath::ScaledJpeg { denominator: 2 });
    // Cuts everywhere: headers, tables, mid-scan. A cut the scaled decoder refuses
    // goes to the full decoder, which may fill the rest in grey (the pipeline
    // reports that separately) or fail; neither may panic.
    let step = (bytes.len() / 150).max(1);
    for cut in (0..bytes.len()).step_by(step) {
        let b = Blob::from_bytes(bytes[..cut].to_vec());
        if let Ok(d) = decode::decode(&b, &Limits::default()) {
            assert_eq!((d.width, d.height), (1100, 800), "prefix {cut}");
            assert!(d.working.width().max(d.working.height()) <= WORKING_SIDE);
        }
    }
    // Garbage in the entropy-coded data.
    let mut garbled = bytes.clone();
    let mid = garbled.len() / 2;
    for (i, v) in garbled[mid..mid + 64].iter_mut().enumerate() {
        *v = (i as u8).wrapping_mul(37) | 0x01;
    }
    let _ = decode::decode(&Blob::from_bytes(garbled), &Limits::default());
}

/// `decode::dimensions` reads a JPEG's size from its frame header itself
/// (`jpeg_frame_size`) instead of through `image`, whose decoder copies the
/// whole file first. The size must be ExifTool's (`File:ImageWidth`/`Height`,
/// read from the SOF, in `../shared/ref/exif`'s readings) on every JPEG it
/// read, and `image`'s wherever `image` reads the header; a file it declines
/// goes to `image` as before.
#[test]
fn jpeg_frame_size_is_exiftools_and_images() {
    // ExifTool's readings: an outside reference.
    if let Some(dir) = shared("exif") {
        let json = std::fs::read(dir.join("exiftool-12.57_json_G_n.json")).unwrap();
        let entries: Vec<serde_json::Value> = serde_json::from_slice(&json).unwrap();
        let mut compared = 0;
        for e in &entries {
            if e["File:FileType"] != "JPEG" {
                continue;
            }
            let rel = e["SourceFile"].as_str().unwrap();
            let (Some(w), Some(h)) = (
                e["File:ImageWidth"].as_u64(),
                e["File:ImageHeight"].as_u64(),
            ) else {
                continue;
            };
            let bytes = std::fs::read(dir.join(rel)).unwrap();
            let got = decode::jpeg_frame_size(&bytes);
            assert_eq!(got, Some((w as u32, h as u32)), "{rel}");
            compared += 1;
        }
        eprintln!("{compared} JPEGs: the size ExifTool read");
        assert!(compared >= 80, "only {compared} JPEGs had ExifTool sizes");
    }
    // `image`'s header reading, on every JPEG at hand, damaged ones included.
    let mut files = jpegs_under(&root().join("samples"));
    if let Some(d) = shared("") {
        files.extend(jpegs_under(&d));
    }
    let mut read = 0;
    for p in &files {
        let bytes = std::fs::read(p).unwrap();
        if read::sniff(&bytes) != Format::Jpeg {
            continue;
        }
        let ours = decode::jpeg_frame_size(&bytes);
        let theirs = image::ImageReader::with_format(Cursor::new(&bytes), image::ImageFormat::Jpeg)
            .into_dimensions()
            .ok();
        if let Some(size) = ours {
            assert_eq!(Some(size), theirs, "{}", p.display());
            read += 1;
        }
    }
    eprintln!("{read} of {} JPEGs: the size image reads", files.len());
    assert!(read >= 100, "only {read} of {} JPEGs read", files.len());
    // Cut anywhere, a header gives a size only when the frame header is whole.
    let bytes = std::fs::read(root().join("samples/archive/Storm.jpg")).unwrap();
    let whole = decode::jpeg_frame_size(&bytes).unwrap();
    for cut in 0..bytes.len().min(4096) {
        let got = decode::jpeg_frame_size(&bytes[..cut]);
        assert!(got.is_none() || got == Some(whole), "cut at {cut}: {got:?}");
    }
    assert_eq!(decode::jpeg_frame_size(b"\xFF\xD8\xFF\xDA\x00\x02"), None);
    assert_eq!(
        decode::jpeg_frame_size(b"\xFF\xD8\xFF\xC0\x00\x0B\x08\x00\x00\x01\x00"),
        None
    );
}

fn jpegs_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            e.path()
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "jpg" | "jpeg"))
        })
        .map(|e| e.into_path())
        .collect()
}

/// Every JPEG of `samples/` and `../shared/ref` (those starting with SOI), with
/// its bytes.
fn all_jpegs() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = jpegs_under(&root().join("samples"));
    if let Some(d) = shared("") {
        files.extend(jpegs_under(&d));
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            let b = std::fs::read(&p).ok()?;
            b.starts_with(&[0xFF, 0xD8]).then_some((p, b))
        })
        .collect()
}

// The DC-only 1/8 decoder (`retrace::internals::decode::jpeg_dc`), which the scaled path uses
// from 8 MP up, against outside decoders: its luma must be each 8×8 block's
// mean as `image`'s full decode sees it, and, with the `turbojpeg` feature,
// libjpeg-turbo's own 1/8 output to the bit. It must take only what those
// decoders read without complaint, and decline anything cut or out of place.

/// The JFIF luma (`0.299 R + 0.587 G + 0.114 B`) of `image`'s full decode,
/// averaged over each whole 8×8 block; `None` for blocks cut by the edge
/// (their hidden part is whatever the encoder padded with) and for blocks with
/// a sample clipped to 0 or 255 (the decoder's clamp moved that luma away from
/// the coded one).
fn block_means(bytes: &[u8]) -> Option<(usize, Vec<Option<f32>>)> {
    let img = image::load_from_memory(bytes).ok()?.to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (bw, bh) = (w.div_ceil(8), h.div_ceil(8));
    let mut sums = vec![0f32; bw * bh];
    let mut clipped = vec![false; bw * bh];
    for (x, y, p) in img.enumerate_pixels() {
        let l = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
        let b = (y as usize / 8) * bw + x as usize / 8;
        sums[b] += l;
        clipped[b] |= p.0.iter().any(|&v| v == 0 || v == 255);
    }
    let means = (0..bw * bh)
        .map(|i| {
            let (bx, by) = (i % bw, i / bw);
            ((bx + 1) * 8 <= w && (by + 1) * 8 <= h && !clipped[i]).then(|| sums[i] / 64.0)
        })
        .collect();
    Some((bw, means))
}

/// How far the DC luma is from the block means: the mean absolute difference,
/// how many blocks are off by more than 4 levels, and how many were compared.
fn difference(luma: &image::GrayImage, means: &[Option<f32>]) -> (f64, usize, usize) {
    let (mut n, mut sum, mut over) = (0usize, 0f64, 0usize);
    for (&l, m) in luma.as_raw().iter().zip(means) {
        let Some(m) = m else { continue };
        let d = (f32::from(l) - m).abs();
        n += 1;
        sum += f64::from(d);
        over += usize::from(d > 4.0);
    }
    (sum / n.max(1) as f64, over, n)
}

/// A DC coefficient is the block's exact mean; the full decode's pixels differ
/// from the true ones by its inverse DCT's and colour conversion's rounding
/// (±0.5 a pixel, which averages out over 64) and by clamping where the colour
/// is clipped (those blocks are left out). Measured over the 196 files taken:
/// mean difference 0.18 a file, the worst 0.39, no block off by more than 4.
/// A decoder reading the wrong table, block or bit is off by tens of levels,
/// and one that truncates instead of rounding by half a level everywhere.
#[test]
fn dc_luma_is_the_block_mean_of_images_full_decode() {
    let limits = Limits::default();
    let mut taken = 0;
    let (mut mean_sum, mut worst, mut over_all) = (0f64, 0f64, 0usize);
    let mut failures = Vec::new();
    for (p, bytes) in all_jpegs() {
        let Some(luma) = retrace::internals::decode::jpeg_dc::luma(&bytes, &limits) else {
            continue;
        };
        // A file the full decoder cannot read is damaged in a way the DC
        // decoder did not see (it reads no AC values); nothing to compare.
        let Some((bw, means)) = block_means(&bytes) else {
            continue;
        };
        assert_eq!(luma.width() as usize, bw, "{}", p.display());
        taken += 1;
        let (mean, over, n) = difference(&luma, &means);
        (mean_sum, worst, over_all) = (mean_sum + mean, worst.max(mean), over_all + over);
        if mean > 0.5 || over * 1000 > n {
            failures.push(format!(
                "{}: mean {mean:.3}, {over} of {n} blocks over 4",
                p.display()
            ));
        }
    }
    eprintln!(
        "{taken} JPEGs decoded from their DC coefficients: luma off the block means by {:.2} \
         levels on average a file, {worst:.2} in the worst file, {over_all} blocks by more than 4",
        mean_sum / f64::from(taken.max(1))
    );
    // samples/ alone holds more than 20 baseline JPEGs.
    assert!(taken >= 20, "only {taken} JPEGs taken");
    assert!(failures.is_empty(), "{failures:#?}");
}

/// libjpeg-turbo's 1/8 grey output is `(DC·q + 4) >> 3` plus 128, clamped:
/// ours must be the same bytes, and it must read every file we take without a
/// warning (turbojpeg reports warnings as errors), so the DC decoder is never
/// laxer than the decoder it replaces.
#[cfg(feature = "turbojpeg")]
#[test]
fn dc_luma_is_libjpeg_turbos_eighth_scale_to_the_bit() {
    use image::GrayImage;
    use turbojpeg::{Decompressor, Image, PixelFormat, ScalingFactor};
    let limits = Limits::default();
    let (mut taken, mut declined_by_us, mut with_restarts) = (0, 0, 0);
    for (p, bytes) in all_jpegs() {
        let ours = retrace::internals::decode::jpeg_dc::luma(&bytes, &limits);
        let mut dec = Decompressor::new().unwrap();
        let theirs = (|| {
            let header = dec.read_header(&bytes).ok()?;
            let f = ScalingFactor::new(1, 8);
            dec.set_scaling_factor(f).ok()?;
            let s = header.scaled(f);
            let mut px = vec![0u8; s.width * s.height];
            let out = Image {
                pixels: &mut px[..],
                width: s.width,
                pitch: s.width,
                height: s.height,
                format: PixelFormat::GRAY,
            };
            dec.decompress(&bytes, out).ok()?;
            GrayImage::from_raw(s.width as u32, s.height as u32, px)
        })();
        match (ours, theirs) {
            (Some(a), Some(b)) => {
                assert_eq!(a.dimensions(), b.dimensions(), "{}", p.display());
                let differ = a.pixels().zip(b.pixels()).filter(|(x, y)| x != y).count();
                assert_eq!(differ, 0, "{}: {differ} pixels differ", p.display());
                taken += 1;
                let restarts = |s: &retrace::internals::input::layout::Segment| {
                    s.marker == retrace::internals::input::layout::marker::DRI
                        && s.data(&bytes) != [0, 0]
                };
                let headers = retrace::internals::input::layout::JpegLayout::headers(&bytes);
                with_restarts += usize::from(headers.segments.iter().any(restarts));
            }
            (Some(_), None) => panic!("{}: taken, but libjpeg-turbo refuses it", p.display()),
            (None, Some(_)) => declined_by_us += 1,
            (None, None) => {}
        }
    }
    eprintln!(
        "{taken} JPEGs identical ({with_restarts} with restart intervals); \
         {declined_by_us} read by libjpeg-turbo only"
    );
    assert!(taken >= 20, "only {taken} JPEGs compared");
}

/// Offsets of the entropy-coded data's restart markers.
fn restart_markers(bytes: &[u8]) -> Vec<usize> {
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    (sos..bytes.len() - 1)
        .filter(|&i| bytes[i] == 0xFF && (0xD0..=0xD7).contains(&bytes[i + 1]))
        .collect()
}

/// A real JPEG re-encoded with a restart marker every few MCUs, by
/// libjpeg-turbo's own tools when the machine has them (Debian's
/// libjpeg-turbo-progs); `None` otherwise.
fn with_restarts(src: &Path) -> Option<Vec<u8>> {
    let out = std::env::temp_dir().join(format!("retrace-dc-{}.jpg", std::process::id()));
    let ok = std::process::Command::new("jpegtran")
        .args(["-restart", "3", "-outfile"])
        .arg(&out)
        .arg(src)
        .status()
        .ok()?
        .success();
    let bytes = ok.then(|| std::fs::read(&out).ok()).flatten();
    let _ = std::fs::remove_file(&out);
    bytes
}

#[test]
fn cut_or_misplaced_data_is_declined() {
    let limits = Limits::default();
    let bytes = std::fs::read(root().join("samples/archive/Storm.jpg")).unwrap();
    let whole =
        retrace::internals::decode::jpeg_dc::luma(&bytes, &limits).expect("a baseline photo");
    // Cut anywhere after the headers: never a picture with a grey end.
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let step = ((bytes.len() - sos) / 200).max(1);
    for cut in (0..bytes.len() - 2).step_by(step) {
        assert!(
            retrace::internals::decode::jpeg_dc::luma(&bytes[..cut], &limits).is_none(),
            "cut at {cut}"
        );
    }
    // Stray bytes before the end marker.
    let mut stray = bytes[..bytes.len() - 2].to_vec();
    stray.extend_from_slice(&[0x12, 0x34, 0xFF, 0xD9]);
    assert!(retrace::internals::decode::jpeg_dc::luma(&stray, &limits).is_none());
    // Progressive: not for this decoder.
    let mut progressive = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut progressive, 80)
        .write_image(
            whole.as_raw(),
            whole.width(),
            whole.height(),
            image::ExtendedColorType::L8,
        )
        .unwrap();
    assert!(
        retrace::internals::decode::jpeg_dc::luma(&progressive, &limits).is_some(),
        "baseline grey"
    );
    let sof = progressive
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .unwrap();
    progressive[sof + 1] = 0xC2;
    assert!(retrace::internals::decode::jpeg_dc::luma(&progressive, &limits).is_none());

    // Restart markers: decoded across them, and declined when one is missing
    // or out of order.
    let Some(rst) = with_restarts(&root().join("samples/archive/Storm.jpg")) else {
        eprintln!("skipped the restart cases: no jpegtran (apt-get install libjpeg-turbo-progs)");
        return;
    };
    let markers = restart_markers(&rst);
    assert!(
        markers.len() > 10,
        "jpegtran wrote {} restarts",
        markers.len()
    );
    assert_eq!(
        retrace::internals::decode::jpeg_dc::luma(&rst, &limits).as_ref(),
        Some(&whole)
    );
    let m = markers[markers.len() / 2];
    let mut dropped = rst.clone();
    dropped.drain(m..m + 2);
    assert!(retrace::internals::decode::jpeg_dc::luma(&dropped, &limits).is_none());
    let mut renumbered = rst.clone();
    renumbered[m + 1] = 0xD0 + (renumbered[m + 1] - 0xD0 + 1) % 8;
    assert!(retrace::internals::decode::jpeg_dc::luma(&renumbered, &limits).is_none());
}

/// Grey frames and every chroma layout a camera writes, from `image`'s and
/// jpeg-encoder's encoders (outside encoders): the luma is the block means as
/// above, and the colour picture's grey is the luma's within the colour
/// conversion's rounding.
#[test]
fn grey_and_every_chroma_layout() {
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
    let limits = Limits::default();
    let src =
        image::load_from_memory(&std::fs::read(root().join("samples/archive/Storm.jpg")).unwrap())
            .unwrap()
            .to_rgb8();
    let (w, h) = (src.width(), src.height());
    let mut grey = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut grey, 90)
        .write_image(
            image::DynamicImage::ImageRgb8(src.clone())
                .to_luma8()
                .as_raw(),
            w,
            h,
            image::ExtendedColorType::L8,
        )
        .unwrap();
    let mut files = vec![("grey", grey)];
    for (name, f) in [
        ("4:4:4", SamplingFactor::R_4_4_4),
        ("4:2:2", SamplingFactor::R_4_2_2),
        ("4:2:0", SamplingFactor::R_4_2_0),
        ("4:4:0", SamplingFactor::R_4_4_0),
    ] {
        let mut out = Vec::new();
        let mut enc = Encoder::new(&mut out, 90);
        enc.set_sampling_factor(f);
        enc.encode(src.as_raw(), w as u16, h as u16, ColorType::Rgb)
            .unwrap();
        files.push((name, out));
    }
    for (name, bytes) in &files {
        let dims = retrace::internals::decode::jpeg_frame_size(bytes).unwrap();
        let luma = retrace::internals::decode::jpeg_dc::luma(bytes, &limits)
            .unwrap_or_else(|| panic!("{name}"));
        let (bw, means) = block_means(bytes).unwrap();
        assert_eq!(luma.width() as usize, bw);
        let (mean, _, _) = difference(&luma, &means);
        assert!(mean <= 0.6, "{name}: mean {mean}");
        let picture = retrace::internals::decode::jpeg_dc::decode(bytes, dims, &limits).unwrap();
        assert_eq!((picture.width(), picture.height()), luma.dimensions());
        let rgb = picture.to_rgb8();
        let worst = rgb
            .pixels()
            .zip(luma.pixels())
            .map(|(p, l)| {
                let y = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
                (y - f32::from(l[0])).abs()
            })
            .fold(0f32, f32::max);
        // Each of R, G, B is rounded once (±0.5) and clamped, which only
        // saturated colours reach; Storm has none.
        assert!(worst <= 1.5, "{name}: RGB's luma {worst} from the DC luma");
    }
}
