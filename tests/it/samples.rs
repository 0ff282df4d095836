//! The main job on `samples/`: every circulating copy finds its original, every
//! new picture matches nothing. Ground truth is `samples/incoming/EXPECTED.tsv`,
//! written by the generator when it made each copy (not by the code under test).

use crate::common::*;

struct Expected {
    file: String,
    original: Option<String>,
    transform: String,
}

fn expected() -> Vec<Expected> {
    let text = std::fs::read_to_string(samples().join("incoming/EXPECTED.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            Expected {
                file: c[0].to_string(),
                original: (c[1] != "-").then(|| c[1].to_string()),
                transform: c.get(2).unwrap_or(&"").to_string(),
            }
        })
        .collect()
}

#[test]
fn every_copy_finds_its_original_and_new_pictures_match_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let out = run(retrace(Some(&db))
        .arg("scan")
        .arg(samples().join("incoming"))
        .arg("--jsonl")
        .arg("--claim-date")
        .arg("2024-03-01"));
    let reports = jsonl(&out);
    let expected = expected();
    assert_eq!(
        reports.len(),
        expected.len(),
        "one report per incoming file"
    );
    let mut failures = Vec::new();
    for e in &expected {
        let r = reports
            .iter()
            .find(|r| {
                r["path"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{}", e.file))
            })
            .unwrap_or_else(|| panic!("no report for {}", e.file));
        assert_eq!(r["schema"], "retrace.report/1");
        assert!(
            r["errors"].as_array().unwrap().is_empty(),
            "{}: {}",
            e.file,
            r["errors"]
        );
        match &e.original {
            Some(orig) => {
                let earliest = &r["earliest_copy"];
                let ok = earliest["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with(&format!("/{orig}")));
                if !ok {
                    failures.push(format!(
                        "{} ({}) should find {orig}, got {}",
                        e.file, e.transform, earliest
                    ));
                    continue;
                }
                assert!(!earliest["first_seen"].as_str().unwrap().is_empty());
                assert!(!earliest["source"].as_str().unwrap().is_empty());
                let codes: Vec<&str> = r["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["code"].as_str().unwrap())
                    .collect();
                assert!(codes.contains(&"earlier_copy"), "{}: {codes:?}", e.file);
                // Every archived original predates the 2024 claim.
                assert!(
                    codes.contains(&"earlier_copy_before_claim"),
                    "{}: {codes:?}",
                    e.file
                );
            }
            None => {
                if !r["matches"].as_array().unwrap().is_empty() {
                    failures.push(format!("{} is new but matched {}", e.file, r["matches"]));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(out.status.code(), Some(1), "earlier copies found → exit 1");
}

#[test]
fn the_archive_keeps_camera_dates_and_catalogue_sources() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let out = run(retrace(Some(&db)).args(["archive", "info", "--json"]));
    assert_eq!(out.status.code(), Some(0));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n_archive = std::fs::read_dir(samples().join("archive"))
        .unwrap()
        .filter(|e| {
            let p = e.as_ref().unwrap().path();
            p.extension().is_some_and(|x| x == "jpg" || x == "png")
        })
        .count();
    assert_eq!(info["images"], n_archive as u64);
    assert_eq!(info["sightings"], n_archive as u64);
    assert_eq!(
        info["schema_version"],
        retrace::internals::archive::SCHEMA_VERSION
    );
    // Re-adding the same folder adds nothing and says so.
    let again = run(retrace(Some(&db))
        .args(["archive", "add"])
        .arg(samples().join("archive"))
        .arg("--manifest")
        .arg(samples().join("archive/sources.tsv")));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        format!("added 0, already known {n_archive}, failed 0")
    );
    // Storm.jpg's capture time as ExifTool reads it (photos/MANIFEST.tsv in
    // the shared reference data): 2008:04:20 19:12:06.
    let check = run(retrace(Some(&db))
        .arg("check")
        .arg("--json")
        .arg(samples().join("archive/Storm.jpg")));
    let r: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(r["metadata"]["datetime_original"], "2008-04-20T19:12:06");
    assert_eq!(r["metadata"]["make"], "Canon");
    assert_eq!(r["earliest_copy"]["exact"], true);
    assert_eq!(r["earliest_copy"]["first_seen"], "2008-04-20T19:12:06");
}

/// The same picture against the same archive gives the same report, run after
/// run: each process seeds its hash maps differently, so an order that leaked
/// from one (a tie between two views resolved by iteration order) shows up as a
/// different `evidence` or `region` from one run to the next.
#[test]
fn the_same_check_gives_the_same_report_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    for name in [
        "china_resave.png",
        "storm_crop_caption_640.jpg",
        "dune_screenshot.jpg",
    ] {
        let f = samples().join("incoming").join(name);
        let mut first: Option<serde_json::Value> = None;
        for _ in 0..4 {
            let out = run(retrace(Some(&db)).args(["check", "--json"]).arg(&f));
            let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(!r["matches"].as_array().unwrap().is_empty(), "{name}");
            match &first {
                None => first = Some(r),
                Some(f) => assert_eq!(&r, f, "{name}: a second run reported differently"),
            }
        }
    }
}

/// `--crop-search N` bounds the aligner's search of archived pictures that no
/// hash points at, and every report says how far it went. The off-centre crop
/// of Grace Hopper (half the area, upper left) has no hash near its original:
/// that search is what finds it, so with the search off it is missed and the
/// verdict says why. A recompressed copy is known whole and needs no search.
#[test]
fn the_crop_search_finds_the_off_centre_crop_and_reports_say_how_far_it_went() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let incoming = samples().join("incoming");
    let crop = incoming.join("grace_hopper_crop_offcentre.jpg");
    let check = |global: &[&str], file: &std::path::Path| -> serde_json::Value {
        let out = run(retrace(Some(&db))
            .args(global)
            .args(["check", "--json"])
            .arg(file));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let earliest = |r: &serde_json::Value| r["earliest_copy"]["path"].as_str().map(String::from);

    let r = check(&[], &crop);
    assert!(
        earliest(&r).is_some_and(|p| p.ends_with("grace_hopper.jpg")),
        "{:?}",
        earliest(&r)
    );
    assert_eq!(r["archive"]["crop_search"]["limit"], 256);
    let searched = r["archive"]["crop_search"]["searched"].as_u64().unwrap();
    // The original is among them, and there are 7 archived pictures.
    assert!((1..=7).contains(&searched), "searched {searched}");

    let r = check(&["--crop-search", "0"], &crop);
    assert_eq!(r["earliest_copy"], serde_json::Value::Null, "{r}");
    assert_eq!(
        r["archive"]["crop_search"],
        serde_json::json!({"limit": 0, "searched": 0})
    );
    let out = run(retrace(Some(&db))
        .args(["--crop-search", "0", "check"])
        .arg(&crop));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--crop-search 0"), "{text}");
    // The scan table and the HTML page (made from the batch's compact
    // records, not the reports) say it too.
    let html = dir.path().join("html");
    let out = run(retrace(Some(&db))
        .args(["--crop-search", "0", "scan"])
        .arg(&crop)
        .arg("--html")
        .arg(&html));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("no earlier copy (crop search off)"),
        "{table}"
    );
    let page = std::fs::read_dir(&html)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().is_some_and(|n| n != "index.html"))
        .expect("a page for the picture");
    let page = std::fs::read_to_string(page).unwrap();
    assert!(page.contains("screenshots was off"), "{page}");

    // Two candidates at most: only the nearest one or two are searched.
    let r = check(&["--crop-search", "2"], &crop);
    let searched = r["archive"]["crop_search"]["searched"].as_u64().unwrap();
    assert!(searched <= 2, "searched {searched}");

    let r = check(&[], &incoming.join("storm_recompressed_q65.jpg"));
    assert!(earliest(&r).is_some_and(|p| p.ends_with("Storm.jpg")));
    assert_eq!(
        r["archive"]["crop_search"],
        serde_json::json!({"limit": 256, "searched": 0})
    );

    // Without an archive nothing was searched at all.
    let out = run(retrace(None).args(["check", "--json"]).arg(&crop));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["archive"]["crop_search"], serde_json::Value::Null);

    let out = run(retrace(Some(&db))
        .args(["--crop-search", "257", "check"])
        .arg(&crop));
    assert_eq!(out.status.code(), Some(2));
}
