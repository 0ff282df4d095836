//! The JSON Schema of `retrace.report/1`: the committed file is what the
//! types generate (drift test), and real reports — every sample, the metadata
//! and C2PA fixtures, broken files, with and without an archive — validate
//! against it with an independent validator (`jsonschema`), so the schema is
//! checked against what retrace actually writes, not only against itself.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

const SCHEMA_FILE: &str = "src/report/retrace.report-1.schema.json";

fn committed() -> Value {
    let path = repo().join(SCHEMA_FILE);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{SCHEMA_FILE} is not JSON: {e}"))
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap();
    s.push('\n');
    s
}

#[test]
fn the_committed_schema_is_what_the_types_generate() {
    let generated = retrace::internals::report::json_schema();
    // Compared as JSON values: key order and whitespace are not the contract.
    if generated != committed() {
        if std::env::var_os("RETRACE_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(repo().join(SCHEMA_FILE), pretty(&generated)).unwrap();
            eprintln!("rewrote {SCHEMA_FILE}");
            return;
        }
        panic!(
            "{SCHEMA_FILE} differs from the schema the report types generate.\n\
             If the change to the types is intended (additive only: retrace.report/1 is a \
             public contract), regenerate it with\n  \
             RETRACE_BLESS=1 cargo test --test it schema::\n\
             or  cargo run -- schema > {SCHEMA_FILE}\nand commit it."
        );
    }
}

#[test]
fn retrace_schema_prints_the_committed_schema() {
    let out = run(retrace(None).arg("schema"));
    assert_eq!(out.status.code(), Some(0));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("`retrace schema` prints JSON");
    assert_eq!(printed, committed());
    assert_eq!(printed["title"], "retrace.report/1");
}

fn validator() -> jsonschema::Validator {
    let schema = committed();
    // The schema itself must be a valid draft 2020-12 schema.
    jsonschema::meta::validate(&schema).expect("the schema is a valid JSON Schema");
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

/// Every way the report's instance fails the schema, one line each.
fn violations(v: &jsonschema::Validator, report: &Value) -> Vec<String> {
    // The validator's message quotes the whole failing value (a report can be
    // 100 KB): the paths say where, the start of the message says what.
    v.iter_errors(report)
        .map(|e| {
            let what: String = e.to_string().chars().take(160).collect();
            format!(
                "at {} (schema {}): {what}",
                e.instance_path(),
                e.schema_path()
            )
        })
        .collect()
}

/// Broken and hostile files, so that the `errors` paths are in the sample.
fn hostile_files(dir: &Path) -> PathBuf {
    let d = dir.join("hostile");
    std::fs::create_dir_all(&d).unwrap();
    let jpeg = std::fs::read(samples().join("incoming/new_flower.jpg")).unwrap();
    std::fs::write(d.join("truncated.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    std::fs::write(d.join("header-only.jpg"), &jpeg[..600.min(jpeg.len())]).unwrap();
    std::fs::write(d.join("empty.png"), b"").unwrap();
    std::fs::write(d.join("notes.jpg"), b"a text file named like a picture\n").unwrap();
    let mut flipped = jpeg.clone();
    for i in (20..flipped.len().min(4000)).step_by(97) {
        flipped[i] ^= 0x55;
    }
    std::fs::write(d.join("bitflips.jpg"), flipped).unwrap();
    // A PNG header claiming 65535×65535: refused from the header, never decoded.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend_from_slice(&65535u32.to_be_bytes());
    png.extend_from_slice(&65535u32.to_be_bytes());
    png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    std::fs::write(d.join("huge.png"), png).unwrap();
    // Not broken: a sample with an XMP edit history (as Photoshop writes it)
    // spliced in after SOI, as no committed picture carries one.
    let xmp = concat!(
        "http://ns.adobe.com/xap/1.0/\0",
        r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">"#,
        r#"<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" "#,
        r#"xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"><xmp:CreatorTool>Adobe Photoshop 25.0</xmp:CreatorTool>"#,
        r#"<xmpMM:History><rdf:Seq><rdf:li stEvt:action="created" stEvt:softwareAgent="Adobe Photoshop 25.0"/>"#,
        r#"<rdf:li rdf:parseType="Resource"><stEvt:action>saved</stEvt:action><stEvt:when>2023-05-01T10:00:00Z</stEvt:when></rdf:li>"#,
        "</rdf:Seq></xmpMM:History></rdf:Description></rdf:RDF></x:xmpmeta>"
    );
    let mut edited = jpeg[..2].to_vec();
    edited.extend_from_slice(&[0xFF, 0xE1]);
    edited.extend_from_slice(&u16::try_from(xmp.len() + 2).unwrap().to_be_bytes());
    edited.extend_from_slice(xmp.as_bytes());
    edited.extend_from_slice(&jpeg[2..]);
    std::fs::write(d.join("xmp-history.jpg"), edited).unwrap();
    d
}

fn json_reports(dir: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        if entry.extension().is_some_and(|e| e == "json")
            && entry.file_name().is_some_and(|n| n != "summary.json")
        {
            let v: Value = serde_json::from_slice(&std::fs::read(&entry).unwrap())
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", entry.display()));
            out.push((entry.display().to_string(), v));
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files
}

/// True when `pointer` leads to something other than null, `[]` or `{}`.
fn present(r: &Value, pointer: &str) -> bool {
    match r.pointer(pointer) {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

#[test]
fn real_reports_validate_against_the_committed_schema() {
    let v = validator();
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let hostile = hostile_files(dir.path());
    let fixtures = repo().join("tests/fixtures");

    // With an archive: every sample (copies, new pictures and the archived
    // originals themselves, which match exactly), the metadata and C2PA
    // fixtures, and the made files; `--out` so that the near-duplicate
    // groups are filled in, and both claims so that they are reported.
    let out_dir = dir.path().join("out");
    let out = run(retrace(Some(&db))
        .arg("scan")
        .arg(samples().join("incoming"))
        .arg(samples().join("not-in-archive"))
        .arg(samples().join("archive"))
        .arg(fixtures.join("c2pa"))
        .arg(fixtures.join("container"))
        .arg(fixtures.join("exif"))
        .arg(&hostile)
        .arg("--out")
        .arg(&out_dir)
        .args([
            "--claim-date",
            "2024-03-01",
            "--claim-location",
            "48.8566,2.3522,30",
        ]));
    assert_eq!(out.status.code(), Some(2), "broken files → exit 2");
    let mut reports = json_reports(&out_dir);

    // Without an archive, through the other writers: `--jsonl` and `check --json`.
    let out = run(retrace(None)
        .arg("scan")
        .arg(&hostile)
        .arg(fixtures.join("exif"))
        .arg(fixtures.join("mpf"))
        .arg("--jsonl"));
    assert_eq!(out.status.code(), Some(2));
    let streamed = jsonl(&out);
    let unarchived = streamed.len();
    reports.extend(streamed.into_iter().map(|r| ("jsonl".to_string(), r)));
    let out = run(retrace(None)
        .args(["check", "--json"])
        .arg(samples().join("incoming/storm_caption.jpg")));
    reports.push((
        "check".into(),
        serde_json::from_slice(&out.stdout).expect("check --json prints a report"),
    ));

    let images = walk(&samples()).len() + walk(&fixtures).len();
    assert!(
        reports.len() > 40 && unarchived >= 12,
        "expected a report per picture, got {} ({} without archive) from {images} files",
        reports.len(),
        unarchived
    );
    let mut failures = Vec::new();
    for (name, r) in &reports {
        let errs = violations(&v, r);
        if !errs.is_empty() {
            failures.push(format!("{name} ({}):\n  {}", r["path"], errs.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} reports do not match {SCHEMA_FILE}:\n{}",
        failures.len(),
        reports.len(),
        failures.join("\n")
    );

    // The validation means something only where the reports carry the
    // section: every part of the schema below was exercised by some report.
    let must_appear = [
        "/errors/0/stage",
        "/earliest_copy/confidence",
        "/matches/0/region/query",
        "/matches/0/distance/pdq",
        "/findings/0/severity",
        "/cluster/representative",
        "/claim_location/radius_km",
        "/thumbnail_comparison/distance",
        "/preview_comparison/distance",
        "/preview_comparison/mpf_entry",
        "/hashes/preview_pdq_quality",
        "/metadata/container/jpeg/mpf_images/1/type_code",
        "/hashes/pdq_quality",
        "/hashes/thumbnail_pdq",
        "/metadata/gps/latitude",
        "/metadata/thumbnail/offset",
        "/metadata/exif/0/tag",
        "/metadata/container/jpeg/segments/0/marker",
        "/metadata/container/jpeg/quant_tables/0/values",
        "/metadata/container/xmp/history/0",
        "/metadata/container/iptc/keywords",
        "/metadata/container/png_text/0/keyword",
        "/metadata/container/c2pa/manifests/0/actions/0/action",
        // The second manifest of `ims_multiple_manifests.jpg` has its first as ingredient.
        "/metadata/container/c2pa/manifests/1/ingredients/0",
        "/metadata/container/c2pa/manifests/0/signature/alg",
        "/metadata/container/c2pa/manifests/0/validation/0/code",
    ];
    let missing: Vec<&str> = must_appear
        .iter()
        .copied()
        .filter(|p| !reports.iter().any(|(_, r)| present(r, p)))
        .collect();
    assert!(missing.is_empty(), "no report exercised {missing:?}");
    let searched = |b: bool| reports.iter().any(|(_, r)| r["archive"]["searched"] == b);
    assert!(searched(true) && searched(false));
}

#[test]
fn the_schema_rejects_what_retrace_never_writes() {
    let v = validator();
    let mut r =
        serde_json::to_value(retrace::internals::report::Report::new("x.jpg".into())).unwrap();
    assert!(violations(&v, &r).is_empty(), "{:?}", violations(&v, &r));
    // Each change breaks one promise of the contract.
    type Breakage = (&'static str, fn(&mut Value));
    let breakages: [Breakage; 6] = [
        ("another schema name", |r| {
            r["schema"] = "retrace.report/2".into()
        }),
        ("a missing field", |r| {
            r.as_object_mut().unwrap().remove("sha256");
        }),
        (
            "an unknown severity",
            |r| {
                r["findings"] =
                    serde_json::json!([{"code": "x", "severity": "critical", "message": ""}])
            },
        ),
        ("an upper-case hash", |r| r["hashes"]["pdq"] = "ABCD".into()),
        ("a PDQ quality above 100", |r| {
            r["hashes"]["pdq_quality"] = 101.into()
        }),
        ("a negative size", |r| r["bytes"] = (-1).into()),
    ];
    for (what, break_it) in breakages {
        let mut bad = r.clone();
        break_it(&mut bad);
        assert!(!violations(&v, &bad).is_empty(), "{what} was accepted");
    }
    // Fields a later version adds are allowed (the contract grows by addition).
    r["added_in_a_later_version"] = true.into();
    assert!(violations(&v, &r).is_empty());
}
