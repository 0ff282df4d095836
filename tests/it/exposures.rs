//! Two exposures of one scene in the archive: a copy of one is `confirmed`
//! only against the one it was made from. The HDR bracket of exif-samples
//! (`canon_hdr_NO.jpg`, `canon_hdr_YES.jpg`: one camera, the same scene 26 s
//! and 1.2° apart; ExifTool 12.57 reads their DateTimeOriginal as 2015:02:09
//! 22:47:44 and 22:48:10) from `../shared/ref`; skips when it is absent.

use std::path::Path;

use crate::common::{encode_jpeg, repo, retrace, run};

/// The JPEG `bytes` with an EXIF segment after its SOI that holds one tag,
/// DateTimeOriginal (`YYYY:MM:DD HH:MM:SS`, as EXIF writes it): a big-endian
/// TIFF header, IFD0 with the pointer to the Exif IFD, the Exif IFD with
/// the tag, then the string. Offsets count from the TIFF header.
fn with_capture_time(bytes: &[u8], taken: &[u8; 19]) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    // IFD0 at 8: one entry, ExifIFDPointer (0x8769, LONG) to 26.
    tiff.extend_from_slice(&[0, 1, 0x87, 0x69, 0, 4, 0, 0, 0, 1, 0, 0, 0, 26, 0, 0, 0, 0]);
    // The Exif IFD at 26: DateTimeOriginal (0x9003, ASCII, 20 bytes) at 44.
    tiff.extend_from_slice(&[0, 1, 0x90, 0x03, 0, 2, 0, 0, 0, 20, 0, 0, 0, 44, 0, 0, 0, 0]);
    tiff.extend_from_slice(taken);
    tiff.push(0);
    let len = u16::try_from(2 + 6 + tiff.len()).unwrap();
    let mut out = bytes[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&bytes[2..]);
    out
}

/// The report of `check --json` on `incoming` (JPEG bytes) against an
/// archive of `files` (name, bytes), each made afresh in a temporary folder.
fn check_against(files: &[(&str, &[u8])], incoming: &[u8]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let archived = dir.path().join("archive");
    std::fs::create_dir(&archived).unwrap();
    for (name, bytes) in files {
        std::fs::write(archived.join(name), bytes).unwrap();
    }
    let db = dir.path().join("archive.db");
    let out = run(retrace(Some(&db)).args(["archive", "add"]).arg(&archived));
    assert_eq!(out.status.code(), Some(0));
    let query = dir.path().join("incoming.jpg");
    std::fs::write(&query, incoming).unwrap();
    let out = run(retrace(Some(&db)).args(["check", "--json"]).arg(&query));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The report's match to the archived file `name`.
fn match_to<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| Path::new(m["path"].as_str().unwrap()).ends_with(name))
        .unwrap_or_else(|| panic!("no match to {name}: {report:#}"))
}

#[test]
fn a_crop_is_confirmed_against_its_own_exposure_and_possible_against_the_other() {
    let hdr = repo().join("../shared/ref/exif/exif-samples/jpg/hdr");
    let (Ok(no), Ok(yes)) = (
        std::fs::read(hdr.join("canon_hdr_NO.jpg")),
        std::fs::read(hdr.join("canon_hdr_YES.jpg")),
    ) else {
        eprintln!("skipped: {} is absent (../shared/ref)", hdr.display());
        return;
    };
    // The incoming picture: the middle half of the NO exposure, JPEG q85.
    let picture = image::load_from_memory(&no).unwrap();
    let (w, h) = (picture.width(), picture.height());
    let crop = picture.crop_imm(w / 4, h / 5, w / 2, h / 2);
    let report = check_against(
        &[("canon_hdr_NO.jpg", &no), ("canon_hdr_YES.jpg", &yes)],
        &encode_jpeg(&crop, 85),
    );
    assert_eq!(
        match_to(&report, "canon_hdr_NO.jpg")["confidence"],
        "confirmed",
        "{report:#}"
    );
    let other = match_to(&report, "canon_hdr_YES.jpg");
    assert_eq!(other["confidence"], "possible", "{report:#}");
    let said = other["evidence"].as_array().unwrap();
    assert!(
        said.iter().any(|e| {
            let e = e.as_str().unwrap();
            e.starts_with("another exposure of the scene") && e.contains("2015-02-09T22:48:10")
        }),
        "{said:#?}"
    );
}

#[test]
fn a_copy_whose_capture_time_was_edited_is_still_the_same_exposure() {
    // A camera JPEG (exif-samples' Canon_PowerShot_S40.jpg, 480×360,
    // DateTimeOriginal 2003:12:14 12:01:44 as ExifTool 12.57 reads it) and
    // a half-size re-save of it whose capture time was moved by a minute.
    // The incoming crop, downscaled as the re-save was, agrees with the
    // re-save far more closely than with the camera file; the two are
    // still one exposure, so both stay confirmed.
    let camera = repo().join("../shared/ref/exif/exif-samples/jpg/Canon_PowerShot_S40.jpg");
    let Ok(bytes) = std::fs::read(&camera) else {
        eprintln!("skipped: {} is absent (../shared/ref)", camera.display());
        return;
    };
    let picture = image::load_from_memory(&bytes).unwrap();
    let (w, h) = (picture.width(), picture.height());
    let half = |p: &image::DynamicImage| {
        p.resize(
            p.width() / 2,
            p.height() / 2,
            image::imageops::FilterType::Triangle,
        )
    };
    let resaved = with_capture_time(&encode_jpeg(&half(&picture), 80), b"2003:12:14 12:02:44");
    let crop = picture.crop_imm(w / 8, h / 10, w * 6 / 10, h * 6 / 10);
    let report = check_against(
        &[("camera.jpg", &bytes), ("resaved.jpg", &resaved)],
        &encode_jpeg(&half(&crop), 70),
    );
    for name in ["camera.jpg", "resaved.jpg"] {
        assert_eq!(
            match_to(&report, name)["confidence"],
            "confirmed",
            "{name}: {report:#}"
        );
    }
}
