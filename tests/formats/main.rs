//! The formats that reach their picture through more than one image: HEIC
//! and AVIF (pixels with `--features heif`; listing and thumbnails), RAW
//! files (their largest JPEG preview), animations (the first frame, and a
//! later one that differs), and pictures that declare AI origin. Outside
//! references: ExifTool 12.57's readings in ../shared/ref, Debian's
//! `heif-convert`, `webpinfo` and `exiftool` where installed (each test says
//! when it skipped).
//!
//! A test binary of its own rather than a module of `it`: CI runs these
//! tests again with the optional decoders (`--features turbojpeg,heif`), and
//! that build then compiles this file instead of all of `it`
//! (docs/development.md "CI").

use std::path::{Path, PathBuf};
use std::process::Command;

// `it`'s helpers; this binary uses some of them.
#[allow(dead_code)]
#[path = "../it/common.rs"]
mod common;
#[path = "../support/fetched_raws.rs"]
mod fetched_raws;

use common::*;

fn shared(rel: &str) -> Option<PathBuf> {
    let p = repo().join("../shared/ref").join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipped: {} is absent (../shared/ref)", p.display());
        None
    }
}

/// Whether a Debian tool is on PATH; under CI its absence is a failure
/// (`.ci/run` installs it).
fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is not installed (.ci/run installs it)"
        );
        eprintln!("skipped: {name} is not installed");
    }
    found
}

fn check_json(archive: Option<&Path>, file: &Path, extra: &[&str]) -> serde_json::Value {
    let out = run(retrace(archive)
        .args(extra)
        .arg("check")
        .arg("--json")
        .arg(file));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check {} printed no report ({e}): {}",
            file.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn codes(r: &serde_json::Value) -> Vec<String> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

fn finding<'a>(r: &'a serde_json::Value, code: &str) -> Option<&'a str> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .and_then(|f| f["message"].as_str())
}

#[cfg(feature = "heif")]
fn hex_distance(a: &str, b: &str) -> u32 {
    let bits = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    bits(a)
        .iter()
        .zip(bits(b))
        .map(|(x, y)| (x ^ y).count_ones())
        .sum()
}

#[cfg(feature = "heif")]
fn heif_fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/heif").join(name)
}

// ---------------------------------------------------------------------------
// HEIF without the decoder

/// The case: an iPhone picture. Without `--features heif` its
/// metadata and item structure are read and the error says how to get the
/// pixels; nothing is hashed.
#[cfg(not(feature = "heif"))]
#[test]
fn a_heic_without_the_heif_feature_is_listed_and_says_how_to_decode_it() {
    let Some(f) = shared("exif/exif-samples/heic/mobile/iphone_13_pro_max.HEIC") else {
        return;
    };
    let r = check_json(None, &f, &[]);
    let errors = r["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["stage"] == "decode"
            && e["message"].as_str().unwrap().contains("--features heif")),
        "{errors:?}"
    );
    assert!(r["hashes"].as_object().unwrap().is_empty());
    assert_eq!(r["metadata"]["make"], "Apple");
    let heif = &r["metadata"]["container"]["heif"];
    assert_eq!(heif["primary_item"], 49);
    let items = heif["items"].as_array().unwrap();
    assert!(items
        .iter()
        .any(|i| i["role"] == "thumbnail" && i["of_item"] == 49));
}

// ---------------------------------------------------------------------------
// HEIF pixels (libheif)

/// Every HEIC/AVIF at hand decodes, and shows what Debian's own libheif
/// (heif-convert 1.15.1, a separate build of an older version) shows: the
/// same picture after rotation, mirror and crop, by PDQ.
#[cfg(feature = "heif")]
#[test]
fn heic_and_avif_pixels_match_what_debians_heif_convert_shows() {
    if !tool("heif-convert") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = [
        "rocket.heic",
        "china_irot1.avif",
        "grace_hopper_imir_crop.avif",
    ]
    .iter()
    .map(|n| heif_fixture(n))
    .collect();
    for rel in [
        "exif/exif-samples/heic/mobile/iphone_13_pro_max.HEIC",
        "exif/exif-samples/heic/IMG_5195.HEIC",
        "exif/exif-samples/heic/mobile/HMD_Nokia_8.3_5G_hdr.heif",
        "exif/exif-samples/heic/samplefilehub.heif",
    ] {
        files.extend(shared(rel));
    }
    for f in &files {
        let r = check_json(None, f, &[]);
        assert!(
            r["errors"].as_array().unwrap().is_empty(),
            "{}: {}",
            f.display(),
            r["errors"]
        );
        assert_eq!(r["decode"]["source"], "heif_primary");
        assert_eq!(r["decode"]["decoder"], "libheif");
        // JPEG at quality 92: a 12 MP PNG costs heif-convert half a minute
        // here, and the artefacts move PDQ by a few bits at most.
        let png = dir.path().join("ref.jpg");
        let out = Command::new("heif-convert")
            .args(["-q", "92"])
            .arg(f)
            .arg(&png)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "heif-convert {}: {out:?}",
            f.display()
        );
        // heif-convert 1.15 writes the pixels turned but keeps the EXIF
        // Orientation (ExifTool reads "Rotate 90 CW" in its output of the
        // iPhone file): its pixels are taken as they are, without it.
        let shown = image::open(&png).unwrap().thumbnail(1024, 1024);
        let (w, h) = (
            image::image_dimensions(&png).unwrap().0 as u64,
            image::image_dimensions(&png).unwrap().1 as u64,
        );
        let plain = dir.path().join("ref.png");
        shown.save(&plain).unwrap();
        let reference = check_json(None, &plain, &[]);
        let (a, b) = (&r["hashes"], &reference["hashes"]);
        // PDQ where it is reliable (quality 50 and up, Meta's rule). (The
        // 96x64 gradients of the C2PA fixtures, though of quality 50 and up,
        // are left out: their PDQ bits sit at the median and flip between
        // two decodes that look the same, 116 bits apart.)
        let reliable = [a, b]
            .iter()
            .all(|h| h["pdq_quality"].as_u64().is_some_and(|q| q >= 50));
        let kind = if reliable { "pdq" } else { "phash" };
        let d = hex_distance(a[kind].as_str().unwrap(), b[kind].as_str().unwrap());
        eprintln!("{}: {kind} {d} from heif-convert", f.display());
        let max = if reliable { 16 } else { 6 };
        assert!(d <= max, "{}: {kind} {d} from heif-convert's", f.display());
        // The shown picture's shape: heif-convert writes it as shown.
        let (rw, rh) = (r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap());
        let rotated = r["metadata"]["container"]["heif"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["role"] == "primary" && matches!(i["rotation"].as_u64(), Some(90 | 270)));
        // The report gives the coded size, before rotation; heif-convert
        // writes the picture as shown.
        let cropped = r["metadata"]["container"]["heif"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["role"] == "primary" && i["crop"] == true);
        if !cropped {
            let shown = if rotated { (rh, rw) } else { (rw, rh) };
            assert_eq!(shown, (w, h), "{}", f.display());
        }
    }
}

/// The iPhone picture is stored landscape with irot 270 (EXIF Orientation
/// "Rotate 90 CW"): shown portrait, and the EXIF orientation is not applied
/// a second time; its 320×240 thumbnail item is compared and agrees.
#[cfg(feature = "heif")]
#[test]
fn an_iphone_heic_is_shown_upright_and_its_thumbnail_agrees() {
    let Some(f) = shared("exif/exif-samples/heic/mobile/iphone_13_pro_max.HEIC") else {
        return;
    };
    let r = check_json(None, &f, &[]);
    assert_eq!(
        (r["width"].as_u64(), r["height"].as_u64()),
        (Some(4032), Some(3024))
    );
    let t = &r["thumbnail_comparison"];
    assert_eq!(t["heif_item"], 50, "{t}");
    // Shown as the thumbnail is shown: portrait.
    assert_eq!(
        (t["width"].as_u64(), t["height"].as_u64()),
        (Some(240), Some(320))
    );
    assert!(t["aspect_main"].as_f64().unwrap() < 1.0, "{t}");
    assert_eq!(t["same_picture"], true, "{t}");
    assert!(r["hashes"]["thumbnail_pdq"].is_string());
}

/// The last case: a HEIC (and AVIFs) made from archived samples find
/// their earlier copies, through the rotation, mirror and crop they carry.
#[cfg(feature = "heif")]
#[test]
fn a_heic_made_from_an_archived_sample_finds_its_earlier_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    for (name, original) in [
        ("rocket.heic", "rocket.jpg"),
        ("china_irot1.avif", "china.jpg"),
        ("grace_hopper_imir_crop.avif", "grace_hopper.jpg"),
    ] {
        let r = check_json(Some(&db), &heif_fixture(name), &[]);
        let m = &r["earliest_copy"];
        assert!(
            m["path"].as_str().is_some_and(|p| p.ends_with(original)),
            "{name}: {}",
            r["matches"]
        );
        let transform = m["transform"].as_str().unwrap();
        // A mirrored 80% crop is found by the aligner alone ("possible"), as
        // crops of that size are (docs/matching.md, "Accuracy"); the others are whole.
        if !name.contains("crop") {
            assert_eq!(m["confidence"], "confirmed", "{name}: {m}");
        }
        match name {
            "rocket.heic" => assert_eq!(transform, "identity"),
            "china_irot1.avif" => assert!(transform.starts_with("rot"), "{transform}"),
            _ => assert!(transform.contains("mirror"), "{transform}"),
        }
    }
}

/// Limits hold before anything is decoded: the grid's size against the
/// pixel cap, its tile count against `--max-heif-tiles`.
#[cfg(feature = "heif")]
#[test]
fn heif_limits_refuse_before_decoding() {
    let Some(f) = shared("exif/exif-samples/heic/mobile/iphone_13_pro_max.HEIC") else {
        return;
    };
    let decode_error = |extra: &[&str]| -> String {
        let r = check_json(None, &f, extra);
        r["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["stage"] == "decode")
            .map(|e| e["message"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let pixels = decode_error(&["--max-pixels", "1000000"]);
    assert!(
        pixels.contains("limit exceeded: image pixel count"),
        "{pixels}"
    );
    let tiles = decode_error(&["--max-heif-tiles", "8"]);
    assert!(
        tiles.contains("limit exceeded: HEIF grid tiles is 48, the limit is 8"),
        "{tiles}"
    );
    assert!(decode_error(&[]).is_empty());
}

/// When the main picture cannot be decoded but its thumbnail can, a match
/// of the thumbnail says exactly that, and no longer that the main picture
/// "does not" match (it was never compared). A HEIC's thumbnail item is
/// looked up as an EXIF thumbnail is.
#[cfg(feature = "heif")]
#[test]
fn a_heif_thumbnail_finds_the_archived_picture_when_the_main_one_is_refused() {
    let Some(f) = shared("exif/exif-samples/heic/mobile/iphone_13_pro_max.HEIC") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let out = run(retrace(Some(&db))
        .args(["archive", "add"])
        .arg(&f)
        .args(["--source", "phone"]));
    assert_eq!(out.status.code(), Some(0));
    // Other bytes (not an exact copy), same pictures.
    let copy = dir.path().join("copy.heic");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.extend_from_slice(&[0, 0, 0, 8, b'f', b'r', b'e', b'e']);
    std::fs::write(&copy, bytes).unwrap();
    let r = check_json(Some(&db), &copy, &["--max-pixels", "1000000"]);
    let m = finding(&r, "thumbnail_earlier_copy").unwrap_or_else(|| panic!("{}", r["findings"]));
    assert!(
        m.starts_with("The HEIF thumbnail matches an archived picture"),
        "{m}"
    );
    assert!(m.contains("could not be decoded"), "{m}");
    assert!(!m.contains("that the main picture does not"), "{m}");
}

/// The same wording for a JPEG whose main picture is refused (here by the
/// pixel cap) while its EXIF thumbnail is read: this needs no feature.
#[test]
fn an_exif_thumbnail_match_says_when_the_main_picture_was_not_decoded() {
    let Some(f) = shared("exif/exif-samples/jpg/Canon_PowerShot_S40.jpg") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let out = run(retrace(Some(&db))
        .args(["archive", "add"])
        .arg(&f)
        .args(["--source", "camera"]));
    assert_eq!(out.status.code(), Some(0));
    let copy = dir.path().join("copy.jpg");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.extend_from_slice(b"trailing bytes after the end of the picture");
    std::fs::write(&copy, bytes).unwrap();
    let r = check_json(Some(&db), &copy, &["--max-pixels", "50000"]);
    assert!(r["hashes"]["pdq"].is_null(), "the main picture was refused");
    let m = finding(&r, "thumbnail_earlier_copy").unwrap_or_else(|| panic!("{}", r["findings"]));
    assert!(
        m.starts_with("The embedded EXIF thumbnail matches an archived picture"),
        "{m}"
    );
    assert!(m.contains("The main picture could not be decoded"), "{m}");
    // Decoded, the main picture matches by itself and nothing is said of the thumbnail.
    let r = check_json(Some(&db), &copy, &[]);
    assert!(
        finding(&r, "thumbnail_earlier_copy").is_none(),
        "{}",
        r["findings"]
    );
    assert!(codes(&r).contains(&"earlier_copy".to_string()));
}

// ---------------------------------------------------------------------------
// RAW

/// RAW files from ExifTool's test set, with their (stub) previews replaced
/// by ExifTool itself with an archived sample photograph: retrace takes the
/// same bytes ExifTool extracts, hashes them as the picture (turned by the
/// RAW's orientation), finds the archived photograph, and keeps the RAW's
/// own EXIF as the metadata.
#[test]
fn a_raw_preview_is_the_picture_and_finds_its_archived_original() {
    if !tool("exiftool") {
        return;
    }
    let Some(dir_ref) = shared("exif/exiftool-t-images") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let photo = samples().join("archive/grace_hopper.jpg");
    let want = std::fs::read(&photo).unwrap();
    for (name, tag, make) in [
        ("CanonRaw.cr2", "PreviewImage", "Canon"),
        ("DNG.dng", "PreviewImage", "Canon"),
        ("Panasonic.rw2", "JpgFromRaw", "Panasonic"),
        // Nikon's PreviewIFD, which only the maker note points at.
        ("Nikon.nef", "PreviewImage", "NIKON"),
    ] {
        let raw = dir.path().join(name);
        std::fs::copy(dir_ref.join(name), &raw).unwrap();
        let ok = Command::new("exiftool")
            .args(["-q", "-overwrite_original", "-m"])
            .arg(format!("-{tag}<={}", photo.display()))
            .arg(&raw)
            .status()
            .unwrap();
        assert!(ok.success(), "exiftool could not write {name}'s {tag}");
        let extracted = Command::new("exiftool")
            .args(["-b", &format!("-{tag}")])
            .arg(&raw)
            .output()
            .unwrap();
        assert_eq!(extracted.stdout, want, "{name}: ExifTool's own extraction");
        let r = check_json(Some(&db), &raw, &[]);
        assert_eq!(
            r["decode"]["source"], "raw_preview",
            "{name}: {}",
            r["decode"]
        );
        let p = &r["decode"]["raw_preview"];
        let (off, len) = (
            p["offset"].as_u64().unwrap() as usize,
            p["length"].as_u64().unwrap() as usize,
        );
        let bytes = std::fs::read(&raw).unwrap();
        assert_eq!(
            &bytes[off..off + len],
            &want[..],
            "{name}: not the bytes ExifTool extracts"
        );
        assert_eq!(
            (p["width"].as_u64(), p["height"].as_u64()),
            (Some(512), Some(600))
        );
        assert_eq!(
            r["metadata"]["make"].as_str().map(|m| m.starts_with(make)),
            Some(true),
            "{name}"
        );
        let m = &r["earliest_copy"];
        assert!(
            m["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("grace_hopper.jpg")),
            "{name}: {}",
            r["matches"]
        );
        assert_eq!(m["transform"], "identity", "{name}");
        assert_eq!(m["confidence"], "confirmed", "{name}");
    }
    // The RAW's orientation turns its preview: Orientation 6 (90° clockwise).
    let raw = dir.path().join("DNG.dng");
    let ok = Command::new("exiftool")
        .args([
            "-q",
            "-overwrite_original",
            "-m",
            "-n",
            "-IFD0:Orientation=6",
        ])
        .arg(&raw)
        .status()
        .unwrap();
    assert!(ok.success());
    let r = check_json(Some(&db), &raw, &[]);
    assert_eq!(r["metadata"]["orientation"], 6);
    let m = &r["earliest_copy"];
    assert!(
        m["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("grace_hopper.jpg")),
        "{}",
        r["matches"]
    );
    assert_ne!(m["transform"], "identity", "the preview was not turned");
}

/// CR3's full-size JPEG is the first sample of the first `trak` (ExifTool's
/// JpgFromRaw), found through the track's sample table. ExifTool cannot
/// write it, so the archived photo is put into a copy of ExifTool's CR3 test
/// file by hand: appended to `mdat`, with the first track's chunk offset
/// (`co64`) and sample size (`stsz`) pointed at it; ExifTool's extraction of
/// JpgFromRaw from the copy is the check that the edit means what it says.
#[test]
fn a_cr3_full_size_jpeg_track_is_the_picture() {
    if !tool("exiftool") {
        return;
    }
    let Some(cr3) = shared("exif/exiftool-t-images/CanonRaw.cr3") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let photo = std::fs::read(samples().join("archive/grace_hopper.jpg")).unwrap();
    let mut b = std::fs::read(&cr3).unwrap();
    let be32 = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
    // The top-level boxes: mdat comes last in Canon's files.
    let mut at = 0;
    let mut mdat = None;
    let be64 = |b: &[u8], at: usize| u64::from_be_bytes(b[at..at + 8].try_into().unwrap());
    while at + 8 <= b.len() {
        if &b[at + 4..at + 8] == b"mdat" {
            mdat = Some(at);
        }
        // Size 1: the 64-bit size follows the type (Canon writes mdat so).
        at += match be32(&b, at) {
            1 => be64(&b, at + 8) as usize,
            n => n as usize,
        };
    }
    let mdat = mdat.unwrap();
    assert_eq!(at, b.len(), "mdat is not the last box");
    let find = |b: &[u8], from: usize, what: &[u8]| {
        from + b[from..].windows(4).position(|w| w == what).unwrap()
    };
    let trak = find(&b, 0, b"trak");
    let (stsz, co64) = (find(&b, trak, b"stsz"), find(&b, trak, b"co64"));
    assert!(
        stsz < co64 && co64 < find(&b, trak + 4, b"trak"),
        "not the first track's"
    );
    let offset = b.len() as u64;
    assert_eq!(be32(&b, mdat), 1, "mdat with a 32-bit size");
    let mdat_size = be64(&b, mdat + 8) + photo.len() as u64;
    b[mdat + 8..mdat + 16].copy_from_slice(&mdat_size.to_be_bytes());
    // stsz: type, version/flags, then the size every sample shares.
    b[stsz + 8..stsz + 12].copy_from_slice(&(photo.len() as u32).to_be_bytes());
    // co64: type, version/flags, entry count, then the first chunk's offset.
    b[co64 + 12..co64 + 20].copy_from_slice(&offset.to_be_bytes());
    b.extend_from_slice(&photo);
    let raw = dir.path().join("track.cr3");
    std::fs::write(&raw, &b).unwrap();
    let extracted = Command::new("exiftool")
        .args(["-b", "-JpgFromRaw"])
        .arg(&raw)
        .output()
        .unwrap();
    assert_eq!(extracted.stdout, photo, "ExifTool's own extraction");

    let r = check_json(Some(&db), &raw, &[]);
    assert_eq!(r["decode"]["source"], "raw_preview", "{}", r["errors"]);
    let p = &r["decode"]["raw_preview"];
    assert_eq!(p["location"], "cr3_track1");
    assert_eq!(p["offset"].as_u64(), Some(offset));
    assert_eq!(p["length"].as_u64(), Some(photo.len() as u64));
    assert_eq!(
        (p["width"].as_u64(), p["height"].as_u64()),
        (Some(512), Some(600))
    );
    // The RAW's own EXIF stays the metadata.
    assert_eq!(r["metadata"]["model"], "Canon EOS M50");
    let m = &r["earliest_copy"];
    assert!(
        m["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("grace_hopper.jpg")),
        "{}",
        r["matches"]
    );
    assert_eq!(m["transform"], "identity");
    assert_eq!(m["confidence"], "confirmed");
}

/// The committed RAW seeds (tests/fixtures/raw/make.sh: ExifTool test files
/// carrying a 64x75 preview that only a maker note or a track points at):
/// retrace takes, from each, the bytes ExifTool extracts as its largest
/// preview, and says where it found them.
#[test]
fn maker_note_and_track_previews_are_the_bytes_exiftool_extracts() {
    if !tool("exiftool") {
        return;
    }
    let dir = repo().join("tests/fixtures/raw");
    for (name, location) in [
        ("nikon_preview_ifd.nef", "nikon_preview_ifd"),
        ("cr3_track1.cr3", "cr3_track1"),
        ("olympus_e1.orf", "olympus_camera_settings"),
        ("olympus_u760.orf", "olympus_camera_settings"),
    ] {
        let f = dir.join(name);
        let previews = exiftool_previews(&f);
        let (tag, largest, _) = previews
            .iter()
            .max_by_key(|(_, _, (w, h))| u64::from(*w) * u64::from(*h))
            .unwrap_or_else(|| panic!("{name}: ExifTool extracts no JPEG preview"));
        let r = check_json(None, &f, &[]);
        assert_eq!(
            r["decode"]["source"], "raw_preview",
            "{name}: {}",
            r["errors"]
        );
        let p = &r["decode"]["raw_preview"];
        assert_eq!(p["location"], location, "{name}");
        let (off, len) = (
            p["offset"].as_u64().unwrap() as usize,
            p["length"].as_u64().unwrap() as usize,
        );
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            bytes[off..off + len] == largest[..],
            "{name}: not the bytes of ExifTool's {tag}"
        );
    }
}

/// The stub previews of ExifTool's RAF and RW2 test files (8×8 JPEGs):
/// retrace takes exactly the bytes ExifTool extracts as the largest preview.
#[test]
fn raw_previews_are_the_bytes_exiftool_extracts() {
    if !tool("exiftool") {
        return;
    }
    let Some(dir_ref) = shared("exif/exiftool-t-images") else {
        return;
    };
    for (name, tag) in [
        ("FujiFilm.raf", "PreviewImage"),
        ("Panasonic.rw2", "JpgFromRaw"),
    ] {
        let f = dir_ref.join(name);
        let want = Command::new("exiftool")
            .args(["-b", &format!("-{tag}")])
            .arg(&f)
            .output()
            .unwrap()
            .stdout;
        assert!(want.starts_with(&[0xFF, 0xD8]), "{name}");
        let bytes = std::fs::read(&f).unwrap();
        let kind = retrace::internals::input::raw::sniff(&bytes).unwrap();
        let (p, jpeg) = retrace::internals::input::raw::largest_preview(&bytes, kind).unwrap();
        assert_eq!(jpeg, &want[..], "{name} ({})", p.location);
        let r = check_json(None, &f, &[]);
        assert_eq!(r["format"], "raw");
        assert_eq!(
            r["decode"]["source"], "raw_preview",
            "{name}: {}",
            r["errors"]
        );
    }
    // RAF keeps its EXIF in the embedded JPEG: read there.
    let r = check_json(None, &dir_ref.join("FujiFilm.raf"), &[]);
    assert_eq!(r["metadata"]["make"], "FUJIFILM");
    assert_eq!(r["metadata"]["model"], "FinePix S5Pro");
    let r = check_json(None, &dir_ref.join("Panasonic.rw2"), &[]);
    assert_eq!(r["metadata"]["model"], "DMC-LX3");
}

/// Every JPEG ExifTool extracts from a RAW file as a preview, with its tag
/// and its stored size.
fn exiftool_previews(f: &Path) -> Vec<(&'static str, Vec<u8>, (u32, u32))> {
    let mut out = Vec::new();
    for tag in ["PreviewImage", "JpgFromRaw", "OtherImage", "ThumbnailImage"] {
        let bytes = Command::new("exiftool")
            .args(["-b", &format!("-{tag}")])
            .arg(f)
            .output()
            .unwrap()
            .stdout;
        if !bytes.starts_with(&[0xFF, 0xD8]) {
            continue;
        }
        let size = image::ImageReader::new(std::io::Cursor::new(&bytes))
            .with_guessed_format()
            .unwrap()
            .into_dimensions();
        if let Ok(size) = size {
            out.push((tag, bytes, size));
        }
    }
    out
}

/// Real RAW files with real previews (see `tests/fixtures/raw/fetch.sh`):
/// retrace hashes exactly the bytes ExifTool extracts as the file's largest
/// preview, at its size, turned by the RAW's orientation as ExifTool reads
/// it; its hashes are the hashes of that JPEG checked on its own (given the
/// RAW's orientation), and an archived copy of it is found as the same
/// picture.
#[test]
fn real_raw_files_hash_the_largest_preview_exiftool_extracts() {
    let files = crate::fetched_raws::fetched_raws(
        "real_raw_files_hash_the_largest_preview_exiftool_extracts",
    );
    if files.is_empty() || !tool("exiftool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archived = dir.path().join("archived");
    std::fs::create_dir(&archived).unwrap();
    let mut expected = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let previews = exiftool_previews(f);
        let (tag, largest, (w, h)) = previews
            .iter()
            .max_by_key(|(_, _, (w, h))| u64::from(*w) * u64::from(*h))
            .unwrap_or_else(|| panic!("{name}: ExifTool extracts no JPEG preview"));
        let orientation: u64 = String::from_utf8(
            Command::new("exiftool")
                .args(["-s3", "-n", "-IFD0:Orientation"])
                .arg(f)
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .parse()
        .unwrap_or(1);

        let r = check_json(None, f, &[]);
        assert_eq!(
            r["decode"]["source"], "raw_preview",
            "{name}: {}",
            r["errors"]
        );
        let p = &r["decode"]["raw_preview"];
        let (off, len) = (
            p["offset"].as_u64().unwrap() as usize,
            p["length"].as_u64().unwrap() as usize,
        );
        let bytes = std::fs::read(f).unwrap();
        assert!(
            bytes[off..off + len] == largest[..],
            "{name}: retrace took {} bytes at {off} ({}), ExifTool's largest is its {tag} ({} bytes)",
            len,
            p["location"],
            largest.len()
        );
        assert_eq!(
            (p["width"].as_u64(), p["height"].as_u64()),
            (Some(u64::from(*w)), Some(u64::from(*h))),
            "{name}"
        );
        assert_eq!(
            p["candidates"].as_u64(),
            Some(previews.len() as u64),
            "{name}: previews counted"
        );
        assert_eq!(
            r["metadata"]["orientation"].as_u64().unwrap_or(1),
            orientation
        );

        // The preview alone, carrying the RAW's orientation as its own.
        let jpeg = archived.join(format!("{name}.jpg"));
        std::fs::write(&jpeg, largest).unwrap();
        if orientation != 1 {
            let ok = Command::new("exiftool")
                .args(["-q", "-overwrite_original", "-n"])
                .arg(format!("-Orientation={orientation}"))
                .arg(&jpeg)
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let alone = check_json(None, &jpeg, &[]);
        for (k, v) in alone["hashes"].as_object().unwrap() {
            if !k.starts_with("thumbnail") {
                assert_eq!(&r["hashes"][k], v, "{name}: {k}");
            }
        }
        expected.push((f.clone(), name));
    }
    let db = dir.path().join("archive.db");
    let out = run(retrace(Some(&db)).arg("archive").arg("add").arg(&archived));
    assert_eq!(out.status.code(), Some(0));
    for (f, name) in expected {
        let r = check_json(Some(&db), &f, &[]);
        let m = &r["earliest_copy"];
        assert!(
            m["path"]
                .as_str()
                .is_some_and(|p| p.ends_with(&format!("{name}.jpg"))),
            "{name}: {}",
            r["matches"]
        );
        assert_eq!(m["transform"], "identity", "{name}");
        assert_eq!(m["confidence"], "confirmed", "{name}");
    }
}

// ---------------------------------------------------------------------------
// Animations

fn photo_frame(name: &str, w: u32, h: u32) -> image::RgbaImage {
    image::open(samples().join("archive").join(name))
        .unwrap()
        .resize_exact(w, h, image::imageops::FilterType::Triangle)
        .to_rgba8()
}

/// Animated WebP made by Debian's img2webp, counted as `webpinfo` counts it;
/// the later frame that shows another photograph is reported, and an
/// animation of one picture is not.
#[test]
fn animated_webp_frames_are_counted_and_a_differing_frame_is_reported() {
    let dir = repo().join("tests/fixtures/animation");
    let r = check_json(None, &dir.join("china_then_rocket.webp"), &[]);
    let a = &r["decode"]["animation"];
    assert_eq!(r["decode"]["source"], "first_frame");
    assert_eq!(a["frames"], 2, "{a}");
    assert_eq!(a["duration_ms"], 1800, "{a}");
    assert_eq!(a["differing_frame"]["index"], 1, "{a}");
    assert_eq!(a["differing_frame"]["at_ms"], 1000, "{a}");
    let m = finding(&r, "animation_frame_differs").unwrap();
    assert!(m.contains("frame 2 (shown at 1.0 s)"), "{m}");
    // `check` says which picture was hashed.
    let text = run(retrace(None)
        .arg("check")
        .arg(dir.join("china_then_rocket.webp")));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Hashed       the first frame of 2 frames, 1.8 s"),
        "{text}"
    );

    let r = check_json(None, &dir.join("china_twice.webp"), &[]);
    let a = &r["decode"]["animation"];
    assert_eq!(
        (a["frames"].as_u64(), a["duration_ms"].as_u64()),
        (Some(2), Some(800)),
        "{a}"
    );
    assert!(a["differing_frame"].is_null(), "{a}");
    assert!(codes(&r).contains(&"animated".to_string()));
    assert!(!codes(&r).contains(&"animation_frame_differs".to_string()));

    // With an archive the first frame (the temple) is what is matched.
    let tmp = tempfile::tempdir().unwrap();
    let db = sample_archive(tmp.path());
    let r = check_json(Some(&db), &dir.join("china_then_rocket.webp"), &[]);
    assert!(
        r["earliest_copy"]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("china.jpg")),
        "{}",
        r["matches"]
    );
}

/// An animated GIF and an APNG of real photographs, written here with the
/// `image` and `png` crates: frames, durations and the differing frame;
/// `--max-frames` stops the count and the report says so.
#[test]
fn animated_gif_and_apng_are_counted_and_compared() {
    use image::codecs::gif::{GifEncoder, Repeat};
    use image::{Delay, Frame};
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (192, 128);
    let frames = [
        ("Storm.jpg", 300u32),
        ("Storm.jpg", 300),
        ("Storm.jpg", 300),
        ("Wood.jpg", 500),
    ];
    let gif = dir.path().join("a.gif");
    {
        let mut enc = GifEncoder::new(std::fs::File::create(&gif).unwrap());
        enc.set_repeat(Repeat::Infinite).unwrap();
        for (name, ms) in frames {
            let f = Frame::from_parts(
                photo_frame(name, w, h),
                0,
                0,
                Delay::from_numer_denom_ms(ms, 1),
            );
            enc.encode_frame(f).unwrap();
        }
    }
    let apng = dir.path().join("a.png");
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&apng).unwrap());
        let mut enc = png::Encoder::new(file, w, h);
        enc.set_color(png::ColorType::Rgba);
        enc.set_animated(frames.len() as u32, 0).unwrap();
        let mut writer = enc.write_header().unwrap();
        for (name, ms) in frames {
            writer.set_frame_delay(ms as u16, 1000).unwrap();
            writer
                .write_image_data(photo_frame(name, w, h).as_raw())
                .unwrap();
        }
        writer.finish().unwrap();
    }
    for f in [&gif, &apng] {
        let r = check_json(None, f, &[]);
        let a = &r["decode"]["animation"];
        assert_eq!(a["frames"], 4, "{}: {a}", f.display());
        assert_eq!(a["duration_ms"], 1400, "{}: {a}", f.display());
        assert_eq!(a["frames_compared"], 3);
        assert_eq!(a["differing_frame"]["index"], 3, "{}: {a}", f.display());
        assert_eq!(a["differing_frame"]["at_ms"], 900, "{}: {a}", f.display());
        let r = check_json(None, f, &["--max-frames", "2"]);
        let a = &r["decode"]["animation"];
        assert_eq!(
            (a["frames"].as_u64(), a["frames_truncated"].as_bool()),
            (Some(2), Some(true)),
            "{a}"
        );
        assert!(a["differing_frame"].is_null());
        assert!(finding(&r, "animated")
            .unwrap()
            .contains("at least 2 frames"));
    }
}

// ---------------------------------------------------------------------------
// Declared AI origin

/// ExifTool writes the IPTC digital source type a generator would into a
/// copy of a sample photograph: one `generative_ai` finding names it and
/// says that a missing declaration proves nothing; the photograph itself,
/// with the same pixels, has none.
#[test]
fn an_iptc_digital_source_type_written_by_exiftool_is_reported() {
    if !tool("exiftool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("declared.jpg");
    std::fs::copy(samples().join("archive/rocket.jpg"), &f).unwrap();
    let ok = Command::new("exiftool")
        .args([
            "-q",
            "-overwrite_original",
            "-XMP-iptcExt:DigitalSourceType=http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
            "-XMP-xmp:CreatorTool=Midjourney",
        ])
        .arg(&f)
        .status()
        .unwrap();
    assert!(ok.success());
    let r = check_json(None, &f, &[]);
    let found: Vec<_> = codes(&r)
        .into_iter()
        .filter(|c| c == "generative_ai")
        .collect();
    assert_eq!(found.len(), 1, "{}", r["findings"]);
    let m = finding(&r, "generative_ai").unwrap();
    assert!(
        m.contains("XMP Iptc4xmpExt:DigitalSourceType trainedAlgorithmicMedia"),
        "{m}"
    );
    assert!(m.contains("XMP CreatorTool names Midjourney"), "{m}");
    assert!(m.contains("a missing declaration proves nothing"), "{m}");
    let plain = check_json(None, &samples().join("archive/rocket.jpg"), &[]);
    assert!(finding(&plain, "generative_ai").is_none());
}

/// The C2PA fixture signed with a generative-AI action gives the same one
/// finding, naming the Content Credentials action.
#[test]
fn content_credentials_generative_actions_name_their_declaration() {
    let r = check_json(None, &repo().join("tests/fixtures/c2pa/signed.jpg"), &[]);
    let m = finding(&r, "generative_ai").unwrap_or_else(|| panic!("{}", r["findings"]));
    assert!(m.contains("Content Credentials action"), "{m}");
    assert!(m.contains("compositeWithTrainedAlgorithmicMedia"), "{m}");
}

/// A PNG with the text chunk AUTOMATIC1111's Stable Diffusion web UI writes.
#[test]
fn a_png_with_a_stable_diffusion_parameters_chunk_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("sd.png");
    let img = photo_frame("china.jpg", 96, 64);
    let file = std::io::BufWriter::new(std::fs::File::create(&f).unwrap());
    let mut enc = png::Encoder::new(file, 96, 64);
    enc.set_color(png::ColorType::Rgba);
    enc.add_text_chunk(
        "parameters".into(),
        "a temple by a lake\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 96x64, Model: v1-5-pruned".into(),
    )
    .unwrap();
    let mut w = enc.write_header().unwrap();
    w.write_image_data(img.as_raw()).unwrap();
    w.finish().unwrap();
    let r = check_json(None, &f, &[]);
    let m = finding(&r, "generative_ai").unwrap_or_else(|| panic!("{}", r["findings"]));
    assert!(m.contains("PNG text chunk \"parameters\""), "{m}");
}

/// Hostile HEIF through libheif: every 61st prefix and single bit flips
/// across the HEIC and AVIF fixtures (and the iPhone file's header part)
/// give a report, never a crash of the process; the decode errors, if any,
/// are per file. (C++ has no panic to contain: a crash here would end the
/// test binary, which is what this is for.)
#[cfg(feature = "heif")]
#[test]
fn truncated_and_flipped_heif_files_give_reports_through_libheif() {
    use retrace::internals::input::read::Blob;
    use retrace::{Config, Engine};
    let engine = Engine::new(Config::default(), None).unwrap();
    let mut files: Vec<Vec<u8>> = [
        "rocket.heic",
        "china_irot1.avif",
        "grace_hopper_imir_crop.avif",
    ]
    .iter()
    .map(|n| std::fs::read(heif_fixture(n)).unwrap())
    .collect();
    if let Some(p) = shared("exif/exif-samples/heic/samplefilehub.heif") {
        files.push(std::fs::read(p).unwrap());
    }
    let mut reports = 0;
    for bytes in &files {
        let mut inputs: Vec<Vec<u8>> = (0..bytes.len())
            .step_by(61)
            .map(|n| bytes[..n].to_vec())
            .collect();
        // Flips in the boxes (the first 2 KB) and a few in the coded data.
        let mut x = 0x9E37_79B9u32;
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let at = if x % 4 == 0 {
                x as usize % bytes.len()
            } else {
                x as usize % bytes.len().min(2048)
            };
            let mut b = bytes.clone();
            b[at] ^= 1 << (x % 8);
            inputs.push(b);
        }
        for input in inputs {
            let ex = engine.examine_blob("hostile.heic".into(), &Blob::from_bytes(input));
            assert!(
                ex.report
                    .errors
                    .iter()
                    .all(|e| !e.message.contains("panicked")),
                "{:?}",
                ex.report.errors
            );
            reports += 1;
        }
    }
    assert!(reports > 800, "{reports}");
}
