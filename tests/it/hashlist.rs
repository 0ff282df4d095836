//! Hash lists to share (`archive export`, `archive import`): a retrace list
//! goes out and comes back hash for hash, the copies it knows are found
//! without the pictures and say `hash_only`, ThreatExchange PDQ rows made from
//! Meta's own published hashes are read and matched, and a list with any bad
//! line is refused line by line with nothing written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

fn export(archive: &Path, list: &Path, format: &str) -> String {
    let out = run(retrace(Some(archive))
        .args(["archive", "export", "--format", format])
        .arg(list));
    assert_eq!(out.status.code(), Some(0), "export failed");
    String::from_utf8(out.stdout).unwrap()
}

fn import(archive: &Path, list: &Path, extra: &[&str]) -> std::process::Output {
    run(retrace(Some(archive))
        .args(["archive", "import"])
        .arg(list)
        .args(extra))
}

fn info(archive: &Path) -> Value {
    let out = run(retrace(Some(archive)).args(["archive", "info", "--json"]));
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check(archive: Option<&Path>, picture: &Path) -> Value {
    let out = run(retrace(archive).args(["check", "--json"]).arg(picture));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// `incoming file → original` from samples/incoming/EXPECTED.tsv ("-": new).
fn expected() -> BTreeMap<String, String> {
    std::fs::read_to_string(samples().join("incoming/EXPECTED.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut c = l.split('\t');
            Some((c.next()?.to_string(), c.next()?.to_string()))
        })
        .collect()
}

#[test]
fn a_retrace_list_round_trips_and_finds_copies_without_the_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let a = sample_archive(dir.path());
    let list = dir.path().join("newsroom-a.jsonl");
    assert!(export(&a, &list, "retrace").starts_with("exported 7 pictures' hashes"));
    let text = std::fs::read_to_string(&list).unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 7);
    let fields: BTreeSet<&str> = [
        "schema",
        "sha256",
        "first_seen",
        "first_seen_from",
        "source",
        "url",
        "format",
        "width",
        "height",
        "stamps",
        "hashes",
    ]
    .into();
    for r in &rows {
        let keys: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys, fields,
            "no pixels, no thumbnail, no camera metadata: {r}"
        );
        assert_eq!(r["schema"], "retrace.hashlist/1");
    }
    // The list's whole-frame hashes are the pictures' own: what `check`
    // reports for each archived file, without any archive.
    for name in ["Blinds.jpg", "Dune.jpg", "Storm.jpg", "grace_hopper.jpg"] {
        let report = check(None, &samples().join("archive").join(name));
        let row = rows
            .iter()
            .find(|r| r["sha256"] == report["sha256"])
            .unwrap_or_else(|| panic!("{name} not in the list"));
        for kind in ["pdq", "phash", "dhash"] {
            let h = row["hashes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["region"] == "full" && h["kind"] == kind)
                .unwrap();
            assert_eq!(h["bits"], report["hashes"][kind], "{name} {kind}");
        }
        let pdq = row["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["kind"] == "pdq")
            .unwrap();
        assert_eq!(pdq["quality"], report["hashes"]["pdq_quality"], "{name}");
    }

    // Into a second newsroom's archive, and out again: the same list, byte
    // for byte; a second import adds nothing.
    let b = dir.path().join("b.db");
    let out = import(&b, &list, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("imported 7 entries"));
    let again = dir.path().join("from-b.jsonl");
    export(&b, &again, "retrace");
    assert_eq!(std::fs::read_to_string(&again).unwrap(), text);
    assert_eq!(import(&b, &list, &[]).status.code(), Some(0));
    let i = info(&b);
    assert_eq!(
        (i["images"].as_u64(), i["sightings"].as_u64()),
        (Some(7), Some(7))
    );

    // The copies of samples/incoming, checked against pictures (A) and
    // against hashes alone (B).
    let out = run(retrace(Some(&b))
        .args(["scan", "--jsonl"])
        .arg(samples().join("incoming")));
    let by_hashes = jsonl(&out);
    let out = run(retrace(Some(&a))
        .args(["scan", "--jsonl"])
        .arg(samples().join("incoming")));
    let by_pictures = jsonl(&out);
    let originals: BTreeMap<String, String> = rows
        .iter()
        .map(|r| {
            (
                r["sha256"].as_str().unwrap().to_string(),
                r["source"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut found = Vec::new();
    for (file, original) in expected() {
        let r = by_hashes
            .iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(&file))
            .unwrap();
        let e = &r["earliest_copy"];
        if original == "-" {
            assert!(e.is_null(), "{file} is new: {e}");
            continue;
        }
        if e.is_null() {
            continue;
        }
        assert_eq!(e["hash_only"], true, "{file}");
        assert!(originals.contains_key(e["sha256"].as_str().unwrap()));
        assert!(
            e["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l.as_str().unwrap().contains("hash-only entry")),
            "{file}: {e}"
        );
        let with_pictures = by_pictures.iter().find(|p| p["path"] == r["path"]).unwrap();
        assert_eq!(
            with_pictures["earliest_copy"]["sha256"], e["sha256"],
            "{file}"
        );
        assert_eq!(with_pictures["earliest_copy"]["hash_only"], false);
        found.push((file, e["confidence"].as_str().unwrap().to_string()));
    }
    eprintln!("found by hashes alone: {found:?}");
    // Whole-frame copies are found on hashes alone, and confirmed (two
    // algorithms agree); crops and screenshots need the aligner's picture.
    for file in [
        "storm_recompressed_q65.jpg",
        "blinds_messenger_1280.jpg",
        "blinds_mirrored.jpg",
        "wood_messenger_640.jpg",
        "china_resave.png",
    ] {
        assert!(
            found.iter().any(|(f, c)| f == file && c == "confirmed"),
            "{file} not confirmed on hashes alone: {found:?}"
        );
    }

    // The archived file itself: identical bytes to the list's entry.
    let r = check(Some(&b), &samples().join("archive/Storm.jpg"));
    assert_eq!(r["earliest_copy"]["exact"], true);
    assert_eq!(r["earliest_copy"]["hash_only"], true);
    assert_eq!(r["earliest_copy"]["confidence"], "confirmed");
    assert_eq!(r["earliest_copy"]["first_seen"], "2008-04-20T19:12:06");
    assert_eq!(r["earliest_copy"]["first_seen_from"], "hash_list");
    // What `check` prints says so too.
    let out = run(retrace(Some(&b))
        .arg("check")
        .arg(samples().join("archive/Storm.jpg")));
    assert!(String::from_utf8_lossy(&out.stdout).contains("hash-only entry"));
}

/// Meta's published PDQ hashes (C++ reference) of the ThreatExchange test
/// pictures, by path under ../shared/ref/pdq/images.
fn published_pdq() -> Option<(PathBuf, BTreeMap<String, String>)> {
    let root = repo().join("../shared/ref/pdq");
    let table = std::fs::read_to_string(root.join("expected/published_vectors.tsv")).ok()?;
    let hashes = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c.first()?.starts_with("cpp-reference")).then(|| (c[1].to_string(), c[2].to_string()))
        })
        .collect();
    Some((root.join("images"), hashes))
}

#[test]
fn threatexchange_pdq_rows_are_read_matched_and_written_back_as_they_came() {
    let Some((images, hashes)) = published_pdq() else {
        eprintln!("skipped: ../shared/ref/pdq is absent");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // ThreatExchange's row: pdq_hex,descriptor id,added_on,labels (space-separated).
    let bridge = &hashes["reg-test-input/dih/bridge-1-original.jpg"];
    let rotated = &hashes["reg-test-input/dih/bridge-2-rotate-90.jpg"];
    let rows = format!(
        "{bridge},3058061737574159,2020-07-31T18:47:52+0000,media_type_photo disputed\n\
         {rotated},3058061737574160,2020-08-01T09:00:00+0000,media_type_photo\n"
    );
    let list = dir.path().join("partner.pdq.te");
    std::fs::write(&list, &rows).unwrap();
    let db = dir.path().join("a.db");
    let out = import(&db, &list, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("imported 2 entries"));

    // Edits of the same photo (Meta's bridge-mods) are found against the
    // hash alone, as possible copies: one algorithm cannot confirm.
    for name in [
        "blur-a-little.jpg",
        "high-contrast.jpg",
        "shrink-a-lot.jpg",
        "sharpen-a-lot.jpg",
    ] {
        let r = check(Some(&db), &images.join("bridge-mods").join(name));
        let e = &r["earliest_copy"];
        assert_eq!(e["hash_only"], true, "{name}: {r}");
        assert_eq!(e["path"], "threatexchange:3058061737574159", "{name}");
        assert_eq!(e["source"], "ThreatExchange list partner.pdq.te");
        assert_eq!(e["first_seen"], "2020-07-31T18:47:52+0000");
        assert_eq!(e["confidence"], "possible");
        assert!(e["distance"]["pdq"].as_u64().unwrap() <= 31, "{name}: {e}");
        assert!(
            e["distance"].get("phash").is_none(),
            "only PDQ was compared"
        );
    }
    // A turn of the photo is found through the incoming picture's own turns.
    let r = check(
        Some(&db),
        &images.join("reg-test-input/dih/bridge-3-rotate-180.jpg"),
    );
    assert_eq!(r["earliest_copy"]["hash_only"], true, "{r}");
    // An unrelated picture is not.
    let r = check(Some(&db), &samples().join("incoming/new_coffee.jpg"));
    assert!(r["earliest_copy"].is_null(), "{r}");

    // Written back in ThreatExchange's form, the rows are the ones read.
    let back = dir.path().join("back.pdq.te");
    export(&db, &back, "threatexchange");
    assert_eq!(std::fs::read_to_string(&back).unwrap(), rows);

    // --source names the partner; importing again adds nothing new.
    let out = import(&db, &list, &["--source", "Partner desk"]);
    assert_eq!(out.status.code(), Some(0));
    let i = info(&db);
    assert_eq!(
        (i["images"].as_u64(), i["sightings"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(
        import(&db, &list, &["--source", "Partner desk"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(info(&db)["sightings"].as_u64(), Some(4));
}

#[test]
fn a_malformed_list_is_refused_line_by_line_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let a = sample_archive(dir.path());
    let good = dir.path().join("good.jsonl");
    export(&a, &good, "retrace");
    let good = std::fs::read_to_string(&good).unwrap();
    let lines: Vec<&str> = good.lines().collect();
    let edit = |i: usize, f: &dyn Fn(&mut Value)| {
        let mut v: Value = serde_json::from_str(lines[i]).unwrap();
        f(&mut v);
        v.to_string()
    };
    let bad = [
        lines[0].to_string(),
        edit(1, &|v| v["schema"] = "retrace.hashlist/2".into()),
        edit(2, &|v| v["hashes"][0]["bits"] = "abc".into()),
        edit(3, &|v| v["stamps"]["pdq"] = "pdq:someone-else:v9".into()),
        edit(4, &|v| v["hashes"][1]["region"] = "middle".into()),
        edit(5, &|v| v["first_seen"] = "last week".into()),
        "not json at all".to_string(),
        lines[0].to_string(),
        "x".repeat(70_000),
        edit(6, &|v| v["sha256"] = "ABC".into()),
        lines[6].to_string(),
    ]
    .join("\n");
    let list = dir.path().join("bad.jsonl");
    std::fs::write(&list, bad).unwrap();
    let fresh = dir.path().join("fresh.db");
    let out = import(&fresh, &list, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for (line, what) in [
        (2, "retrace.hashlist/2"),
        (3, "hash \"abc\" is not 16 hex digits"),
        (4, "pdq:someone-else:v9"),
        (5, "unknown region \"middle\""),
        (6, "\"last week\" is not an ISO 8601 date"),
        (7, "not a retrace.hashlist/1 line"),
        (8, "the same entry as an earlier line"),
        (9, "longer than 65536 bytes"),
        (10, "sha256 \"ABC\""),
    ] {
        let prefix = format!("bad.jsonl:{line}: ");
        assert!(
            err.lines().any(|l| l.contains(&prefix) && l.contains(what)),
            "line {line} ({what}) not named in:\n{err}"
        );
    }
    assert!(
        !err.contains("bad.jsonl:1:") && !err.contains("bad.jsonl:11:"),
        "{err}"
    );
    assert!(err.contains("9 lines with problems; the list was refused and nothing was imported"));
    assert!(!fresh.exists(), "not even an empty archive");
    let before = info(&a);
    assert_eq!(import(&a, &list, &[]).status.code(), Some(2));
    assert_eq!(info(&a), before, "the archive is as it was");

    // ThreatExchange rows: a short hash, too many columns, a PDQ hasher's
    // `hash,quality,filename` line (its third column is not a date).
    let hex = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22";
    let te = format!(
        "{hex},1,2020-01-01,a\nf8f8,2,2020-01-01,a\n{hex},3,2020-01-01,a,b\n{hex},100,photo.jpg\n"
    );
    let list = dir.path().join("bad.pdq.te");
    std::fs::write(&list, te).unwrap();
    let out = import(&fresh, &list, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("bad.pdq.te:2: pdq hash \"f8f8\" is not 64 hex digits"),
        "{err}"
    );
    assert!(err.contains("bad.pdq.te:3: 5 columns"), "{err}");
    assert!(
        err.contains("bad.pdq.te:4: \"photo.jpg\" is not an ISO 8601 date"),
        "{err}"
    );
    assert!(!fresh.exists());

    // A picture given as a list by mistake: refused, without a flood.
    let out = import(&fresh, &samples().join("incoming/new_coffee.jpg"), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.lines().count() <= 52,
        "at most 50 problems shown, then a count: {err}"
    );
    assert!(err.contains("the list was refused and nothing was imported"));
    assert!(!fresh.exists());
}

/// A list from an archive of another version may say its dates came from a
/// source this one does not know: the line is imported, not refused, and the
/// name goes out again unchanged when the entry is exported.
#[test]
fn an_unknown_first_seen_from_in_a_list_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let a = sample_archive(dir.path());
    let list = dir.path().join("a.jsonl");
    export(&a, &list, "retrace");
    let text = std::fs::read_to_string(&list).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let mut row = first.clone();
    row["first_seen_from"] = "carrier_pigeon".into();
    let one = dir.path().join("one.jsonl");
    std::fs::write(&one, format!("{row}\n")).unwrap();
    let b = dir.path().join("b.db");
    let out = import(&b, &one, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back = dir.path().join("back.jsonl");
    export(&b, &back, "retrace");
    let back: Value = serde_json::from_str(std::fs::read_to_string(&back).unwrap().trim()).unwrap();
    assert_eq!(back["first_seen_from"], "carrier_pigeon");
    assert_eq!(back["sha256"], first["sha256"]);
}
