//! The command-line contract: exit codes, per-file errors that never stop a
//! batch, output modes, and behaviour without an archive.

use crate::common::*;

fn copy_sample(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let src = samples().join("incoming").join(name);
    let dst = dir.join(name);
    std::fs::copy(src, &dst).unwrap();
    dst
}

#[test]
fn bad_files_get_reports_with_errors_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("batch");
    std::fs::create_dir_all(&d).unwrap();
    let good = copy_sample(&d, "new_flower.jpg");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(d.join("truncated.jpg"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(d.join("notes.jpg"), b"this is a text file, not a picture\n").unwrap();
    std::fs::write(d.join("empty.png"), b"").unwrap();
    let out = run(retrace(None).arg("scan").arg(&d).arg("--jsonl"));
    assert_eq!(out.status.code(), Some(2), "a file failed → exit 2");
    let reports = jsonl(&out);
    assert_eq!(reports.len(), 4);
    for r in &reports {
        let path = r["path"].as_str().unwrap();
        let errors = r["errors"].as_array().unwrap();
        if path.ends_with("new_flower.jpg") {
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(r["hashes"]["phash"].as_str().unwrap().len(), 16);
            assert_eq!(r["format"], "jpeg");
        } else {
            assert!(!errors.is_empty(), "{path} should have errors");
            assert!(errors[0]["stage"].is_string() && errors[0]["message"].is_string());
        }
        if path.ends_with("notes.jpg") {
            assert_eq!(r["format"], "unknown");
            assert_eq!(errors[0]["stage"], "format");
        }
        if path.ends_with("truncated.jpg") {
            // Read and hashed bytes are still reported for a file that fails to decode.
            assert_eq!(r["bytes"], bytes.len() as u64 / 3);
            assert!(r["sha256"].is_string());
        }
    }
}

#[test]
fn without_an_archive_everything_else_is_reported_and_said_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy_sample(dir.path(), "storm_caption.jpg");
    let out = run(retrace(None).arg("check").arg(&f));
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("No archive searched"), "{text}");
    let out = run(retrace(None).arg("check").arg("--json").arg(&f));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["archive"]["searched"], false);
    assert!(r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "no_archive"));
    // `archive` commands need one and say so.
    let out = run(retrace(None).args(["archive", "info"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no archive given"));
}

#[test]
fn usage_errors_exit_2_and_help_and_version_work() {
    assert_eq!(run(retrace(None).arg("frobnicate")).status.code(), Some(2));
    let out = run(retrace(None)
        .args(["scan", "--claim-date", "last tuesday"])
        .arg(samples().join("incoming")));
    assert_eq!(out.status.code(), Some(2));
    let out = run(retrace(None).arg("--version"));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    for sub in [
        &["scan"][..],
        &["check"],
        &["archive", "add"],
        &["archive", "info"],
    ] {
        let out = run(retrace(None).args(sub).arg("--help"));
        assert_eq!(out.status.code(), Some(0), "{sub:?} --help");
    }
}

#[test]
fn out_dir_mirrors_the_tree_and_record_makes_tomorrows_copies_match() {
    let dir = tempfile::tempdir().unwrap();
    let intake = dir.path().join("intake/day1");
    std::fs::create_dir_all(&intake).unwrap();
    copy_sample(&intake, "new_coffee.jpg");
    let db = dir.path().join("a.db");
    let out_dir = dir.path().join("reports");
    let out = run(retrace(Some(&db))
        .arg("scan")
        .arg(dir.path().join("intake"))
        .arg("--out")
        .arg(&out_dir)
        .args(["--record", "--source", "tip line"]));
    assert_eq!(out.status.code(), Some(0), "nothing earlier yet");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("day1/new_coffee.jpg.json")).unwrap())
            .unwrap();
    assert_eq!(report["schema"], "retrace.report/1");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["images"], 1);
    // The next day the same picture comes back re-encoded: it is now known.
    let img = image::open(intake.join("new_coffee.jpg")).unwrap();
    let day2 = dir.path().join("coffee_again.png");
    img.resize(300, 300, image::imageops::FilterType::Triangle)
        .save(&day2)
        .unwrap();
    let out = run(retrace(Some(&db)).arg("check").arg("--json").arg(&day2));
    assert_eq!(out.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["earliest_copy"]["source"], "tip line");
    assert_eq!(r["earliest_copy"]["first_seen_from"], "recorded");
}

#[test]
fn copies_within_a_batch_are_grouped_and_the_original_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(
        samples().join("archive/Storm.jpg"),
        d.join("a_storm_original.jpg"),
    )
    .unwrap();
    copy_sample(d, "storm_recompressed_q65.jpg");
    copy_sample(d, "new_flower.jpg");
    let out_dir = d.join("out");
    let out = run(retrace(None).arg("scan").arg(d).arg("--out").arg(&out_dir));
    assert_eq!(out.status.code(), Some(0));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    let clusters = summary["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    assert_eq!(clusters[0]["members"].as_array().unwrap().len(), 2);
    // The camera original (full size, EXIF) is closer to the source than the re-encode.
    assert!(clusters[0]["representative"]
        .as_str()
        .unwrap()
        .ends_with("a_storm_original.jpg"));
    let r: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out_dir.join("storm_recompressed_q65.jpg.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(r["cluster"]["is_representative"], false);
    let flower: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("new_flower.jpg.json")).unwrap())
            .unwrap();
    assert!(flower["cluster"].is_null());
}

/// A JPEG whose EXIF (IFD1) thumbnail is `thumb` (JPEG bytes) and whose main
/// picture is `main` (JPEG bytes): the layout of a camera file edited by a tool
/// that replaced the pixels but kept the old metadata.
fn with_exif_thumbnail(main: &[u8], thumb: &[u8]) -> Vec<u8> {
    let mut tiff = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes());
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, value: u32| {
        t.extend(tag.to_le_bytes());
        t.extend(kind.to_le_bytes());
        t.extend(1u32.to_le_bytes());
        t.extend(value.to_le_bytes());
    };
    // IFD0 at 8: one entry (Orientation = 1), next IFD at 26.
    tiff.extend(1u16.to_le_bytes());
    entry(&mut tiff, 0x0112, 3, 1);
    tiff.extend(26u32.to_le_bytes());
    // IFD1 at 26: the thumbnail's offset and length; the thumbnail at 56.
    tiff.extend(2u16.to_le_bytes());
    entry(&mut tiff, 0x0201, 4, 56);
    entry(&mut tiff, 0x0202, 4, thumb.len() as u32);
    tiff.extend(0u32.to_le_bytes());
    assert_eq!(tiff.len(), 56);
    tiff.extend_from_slice(thumb);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend(((2 + 6 + tiff.len()) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend(tiff);
    out.extend_from_slice(&main[2..]);
    out
}

#[test]
fn a_thumbnail_that_shows_an_archived_picture_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let storm = image::open(samples().join("archive/Storm.jpg")).unwrap();
    let mut thumb = std::io::Cursor::new(Vec::new());
    storm
        .thumbnail(160, 160)
        .write_to(&mut thumb, image::ImageFormat::Jpeg)
        .unwrap();
    let main = std::fs::read(samples().join("incoming/new_flower.jpg")).unwrap();
    let f = dir.path().join("edited.jpg");
    std::fs::write(&f, with_exif_thumbnail(&main, thumb.get_ref())).unwrap();
    let out = run(retrace(Some(&db)).arg("check").arg("--json").arg(&f));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["hashes"]["thumbnail_pdq"].is_string(), "{}", r["hashes"]);
    assert!(r["earliest_copy"]["path"]
        .as_str()
        .unwrap()
        .ends_with("Storm.jpg"));
    assert!(r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "thumbnail_earlier_copy"));
    assert!(r["earliest_copy"]["evidence"][0]
        .as_str()
        .unwrap()
        .contains("thumbnail"));

    // The same through an MPF preview, with the same archive:
    // `tests/fixtures/mpf/other.jpg` shows the archived rocket, and its
    // preview the archived Grace Hopper portrait.
    let f = repo().join("tests/fixtures/mpf/other.jpg");
    let out = run(retrace(Some(&db)).arg("check").arg("--json").arg(&f));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let matches = r["matches"].as_array().unwrap();
    let via_preview = |m: &&serde_json::Value| {
        m["evidence"][0] == "found through the MPF preview, not the main picture"
    };
    let hopper = matches
        .iter()
        .find(via_preview)
        .expect("a match through the preview");
    assert!(hopper["path"]
        .as_str()
        .unwrap()
        .ends_with("grace_hopper.jpg"));
    assert!(matches
        .iter()
        .any(|m| m["path"].as_str().unwrap().ends_with("rocket.jpg") && !via_preview(&m)));
    let codes: Vec<_> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["code"])
        .collect();
    assert!(codes.contains(&&"preview_earlier_copy".into()), "{codes:?}");
    assert!(codes.contains(&&"preview_mismatch".into()), "{codes:?}");
}

#[test]
fn c2pa_limits_have_flags_and_nesting_caps_cannot_be_lifted() {
    let signed = repo().join("tests/fixtures/c2pa/signed.jpg");
    let manifests = |extra: &[&str]| {
        let out = run(retrace(None)
            .arg("check")
            .arg("--json")
            .args(extra)
            .arg(&signed));
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        r["metadata"]["container"]["c2pa"]["manifests"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert!(manifests(&[]) > 0);
    assert_eq!(manifests(&["--max-c2pa-manifests", "0"]), 0);
    // Past the stack ceiling is a usage error, not a setting.
    let out = run(retrace(None)
        .args(["check", "--max-cbor-depth", "100000"])
        .arg(&signed));
    assert_eq!(out.status.code(), Some(2));
    let out = run(retrace(None)
        .args(["check", "--json", "--max-jumbf-depth", "256"])
        .arg(&signed));
    assert!(out.status.success() || out.status.code() == Some(1));
}

/// Great-circle distance on a sphere of radius 6371 km (the mean Earth radius
/// the IUGG gives), by the spherical law of cosines — a formula independent of
/// the haversine form the library uses.
fn great_circle_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (p1, p2) = (a.0.to_radians(), b.0.to_radians());
    let dl = (b.1 - a.1).to_radians();
    (p1.sin() * p2.sin() + p1.cos() * p2.cos() * dl.cos())
        .clamp(-1.0, 1.0)
        .acos()
        * 6371.0
}

#[test]
fn claim_location_on_the_command_line_turns_gps_into_findings() {
    // A real iPhone photo taken in Madrid (west of Greenwich: negative longitude,
    // which the flag must accept as a value, not as an option). ExifTool 12.57
    // reads its position as 40.4469722, -3.7247528.
    let photo = repo().join("../shared/ref/exif/exif-samples/jpg/hdr/iphone_hdr_YES.jpg");
    if !photo.is_file() {
        eprintln!("skipped: {} is absent (../shared/ref)", photo.display());
        return;
    }
    let gps = (40.446_972_2, -3.724_752_8);
    let check = |claim: &str| -> serde_json::Value {
        let out = run(retrace(None)
            .args(["check", "--json", "--claim-location", claim])
            .arg(&photo));
        assert_eq!(out.status.code(), Some(0), "claim {claim}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let findings = |r: &serde_json::Value, code: &str| -> Vec<serde_json::Value> {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == code)
            .cloned()
            .collect()
    };
    // Kyiv, claimed: about 2,860 km away, far outside the default 25 km radius.
    let r = check("50.45,30.52");
    assert_eq!(r["claim_location"]["latitude"], 50.45);
    assert_eq!(r["claim_location"]["longitude"], 30.52);
    let far = findings(&r, "location_far_from_claim");
    assert_eq!(far.len(), 1, "{:#}", r["findings"]);
    assert_eq!(far[0]["severity"], "high");
    let msg = far[0]["message"].as_str().unwrap();
    let expected = great_circle_km(gps, (50.45, 30.52));
    let said: f64 = msg
        .split(" km from")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no distance in {msg:?}"));
    assert!(
        (said - expected).abs() <= 0.005 * expected + 1.0,
        "said {said} km, expected {expected:.0} km: {msg}"
    );
    assert!(findings(&r, "location_near_claim").is_empty());

    // Madrid's Puerta del Sol, 3–4 km from where it was taken: near, informative only.
    let r = check("40.4168,-3.7038");
    assert!(findings(&r, "location_far_from_claim").is_empty());
    assert_eq!(findings(&r, "location_near_claim").len(), 1);
    assert!(great_circle_km(gps, (40.4168, -3.7038)) < 5.0);
    // The same place with a 1 km radius: now too far.
    let r = check("40.4168,-3.7038,1");
    assert_eq!(findings(&r, "location_far_from_claim").len(), 1);
    assert_eq!(r["claim_location"]["radius_km"], 1.0);

    // A file without GPS cannot be checked, and says so.
    let no_gps = samples().join("incoming").join("new_flower.jpg");
    let out = run(retrace(None)
        .args(["check", "--json", "--claim-location", "50.45,30.52"])
        .arg(&no_gps));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(findings(&r, "claim_location_unchecked").len(), 1);
    assert!(findings(&r, "location_far_from_claim").is_empty());

    // Nonsense is a usage error, not a silent no-op.
    for bad in ["95,10", "50.45", "north,east", "50,30,-5"] {
        let out = run(retrace(None)
            .args(["check", "--claim-location", bad])
            .arg(&no_gps));
        assert_eq!(out.status.code(), Some(2), "--claim-location {bad}");
    }
}

#[test]
fn max_depth_bounds_the_walk_of_scan_and_archive_add() {
    // samples/ holds only folders of pictures (and a README and a script):
    // one level down no picture is reached, and each folder is named (what
    // was not walked makes the exit status 2, as any walk problem does).
    let not_walked = |stderr: &str| {
        ["archive", "incoming", "not-in-archive"]
            .iter()
            .filter(|f| {
                stderr.contains(&format!(
                    "retrace: {}: not walked: deeper than the depth limit (1 levels, --max-depth)",
                    samples().join(f).display()
                ))
            })
            .count()
    };
    let out = run(retrace(None)
        .args(["scan", "--jsonl", "--max-depth", "1"])
        .arg(samples()));
    assert_eq!(out.status.code(), Some(2));
    assert!(jsonl(&out).is_empty());
    assert_eq!(not_walked(&String::from_utf8_lossy(&out.stderr)), 3);
    let out = run(retrace(None)
        .args(["scan", "--jsonl", "--max-depth", "2"])
        .arg(samples()));
    // 7 archived pictures, 17 incoming, 4 not in the archive.
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(jsonl(&out).len(), 28);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("depth limit"));

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("archive.db");
    let out = run(retrace(Some(&db))
        .args(["archive", "add", "--max-depth", "1"])
        .arg(samples()));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "added 0, already known 0, failed 0"
    );
    assert_eq!(not_walked(&String::from_utf8_lossy(&out.stderr)), 3);
}
