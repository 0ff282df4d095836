//! The DC-only 1/8 decoder (`retrace::jpeg_dc`) against outside decoders, on
//! every JPEG of `samples/` and `../shared/ref` (without `../shared/ref`,
//! `samples/` alone): its luma must be each 8×8 block's mean as `image`'s full
//! decode sees it, and, with the `turbojpeg` feature, libjpeg-turbo's own 1/8
//! output to the bit. It must take only what those decoders read without
//! complaint, and decline anything cut or out of place.

use std::path::{Path, PathBuf};

use image::ImageEncoder;
use retrace::jpeg_dc;
use retrace::limits::Limits;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn jpegs() -> Vec<(PathBuf, Vec<u8>)> {
    let mut dirs = vec![root().join("samples")];
    let shared = root().join("../shared/ref");
    if shared.exists() {
        dirs.push(shared);
    } else {
        eprintln!("../shared/ref not present: samples/ only");
    }
    let mut out = Vec::new();
    for d in dirs {
        for e in walkdir::WalkDir::new(d).into_iter().filter_map(|e| e.ok()) {
            let p = e.path();
            let jpg = p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "jpg" | "jpeg"));
            if e.file_type().is_file() && jpg {
                if let Ok(b) = std::fs::read(p) {
                    if b.starts_with(&[0xFF, 0xD8]) {
                        out.push((p.to_path_buf(), b));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

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
    let mut failures = Vec::new();
    for (p, bytes) in jpegs() {
        let Some(luma) = jpeg_dc::luma(&bytes, &limits) else {
            continue;
        };
        // A file the full decoder cannot read is damaged in a way the DC
        // decoder did not see (it reads no AC values); nothing to compare.
        let Some((bw, means)) = block_means(&bytes) else {
            continue;
        };
        assert_eq!(luma.width() as usize, bw, "{}", p.display());
        taken += 1;
        let (mut n, mut sum, mut over) = (0usize, 0f64, 0usize);
        for (i, m) in means.iter().enumerate() {
            let Some(m) = m else { continue };
            let d = (f32::from(luma.as_raw()[i]) - m).abs();
            n += 1;
            sum += f64::from(d);
            if d > 4.0 {
                over += 1;
            }
        }
        let mean = sum / n.max(1) as f64;
        if mean > 0.5 || over * 1000 > n {
            failures.push(format!(
                "{}: mean {mean:.3}, {over} of {n} blocks over 4",
                p.display()
            ));
        }
    }
    eprintln!("{taken} JPEGs decoded from their DC coefficients");
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
    let (mut taken, mut declined_by_us) = (0, 0);
    for (p, bytes) in jpegs() {
        let ours = jpeg_dc::luma(&bytes, &limits);
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
            }
            (Some(_), None) => panic!("{}: taken, but libjpeg-turbo refuses it", p.display()),
            (None, Some(_)) => declined_by_us += 1,
            (None, None) => {}
        }
    }
    eprintln!("{taken} JPEGs identical; {declined_by_us} read by libjpeg-turbo only");
    assert!(taken >= 20, "only {taken} JPEGs compared");
}

fn real(name: &str) -> Vec<u8> {
    std::fs::read(root().join("samples").join(name)).unwrap()
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
    let bytes = real("archive/Storm.jpg");
    let whole = jpeg_dc::luma(&bytes, &limits).expect("a baseline photo");
    // Cut anywhere after the headers: never a picture with a grey end.
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let step = ((bytes.len() - sos) / 200).max(1);
    for cut in (0..bytes.len() - 2).step_by(step) {
        assert!(
            jpeg_dc::luma(&bytes[..cut], &limits).is_none(),
            "cut at {cut}"
        );
    }
    // Stray bytes before the end marker.
    let mut stray = bytes[..bytes.len() - 2].to_vec();
    stray.extend_from_slice(&[0x12, 0x34, 0xFF, 0xD9]);
    assert!(jpeg_dc::luma(&stray, &limits).is_none());
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
        jpeg_dc::luma(&progressive, &limits).is_some(),
        "baseline grey"
    );
    let sof = progressive
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .unwrap();
    progressive[sof + 1] = 0xC2;
    assert!(jpeg_dc::luma(&progressive, &limits).is_none());

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
    assert_eq!(jpeg_dc::luma(&rst, &limits).as_ref(), Some(&whole));
    let m = markers[markers.len() / 2];
    let mut dropped = rst.clone();
    dropped.drain(m..m + 2);
    assert!(jpeg_dc::luma(&dropped, &limits).is_none());
    let mut renumbered = rst.clone();
    renumbered[m + 1] = 0xD0 + (renumbered[m + 1] - 0xD0 + 1) % 8;
    assert!(jpeg_dc::luma(&renumbered, &limits).is_none());
}

/// Grey frames and every chroma layout a camera writes, from `image`'s and
/// jpeg-encoder's encoders (outside encoders): the luma is the block means as
/// above, and the colour picture's grey is the luma's within the colour
/// conversion's rounding.
#[test]
fn grey_and_every_chroma_layout() {
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
    let limits = Limits::default();
    let src = image::load_from_memory(&real("archive/Storm.jpg"))
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
        let dims = retrace::decode::jpeg_frame_size(bytes).unwrap();
        let luma = jpeg_dc::luma(bytes, &limits).unwrap_or_else(|| panic!("{name}"));
        let (bw, means) = block_means(bytes).unwrap();
        assert_eq!(luma.width() as usize, bw);
        let (mut n, mut sum) = (0, 0f32);
        for (i, m) in means.iter().enumerate() {
            if let Some(m) = m {
                n += 1;
                sum += (f32::from(luma.as_raw()[i]) - m).abs();
            }
        }
        assert!(sum / n as f32 <= 0.6, "{name}: mean {}", sum / n as f32);
        let picture = jpeg_dc::decode(bytes, dims, &limits).unwrap();
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
