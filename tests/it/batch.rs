//! The end of a `scan` (table, `summary.json`, near-duplicate groups, HTML
//! index, exit status) is made from what the batch kept of each report. Here
//! the same outputs are derived from the whole reports of the same pictures
//! (`--jsonl`), and the two must agree byte for byte.

use std::path::{Path, PathBuf};

use retrace::internals::pipeline::cluster::cluster;
use retrace::internals::report::{html, text, Report};
use retrace::MatchParams;
use serde_json::{json, Value};

use crate::common::*;

/// The samples plus what exercises the other rows: a file that is no
/// picture, a cut JPEG, and a byte-identical copy (grouped by content).
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let extra = dir.join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::write(extra.join("fake.jpg"), b"not a picture").unwrap();
    let storm = std::fs::read(samples().join("archive/Storm.jpg")).unwrap();
    std::fs::write(extra.join("cut.jpg"), &storm[..storm.len() / 2]).unwrap();
    std::fs::write(extra.join("same_storm.jpg"), &storm).unwrap();
    vec![
        samples().join("incoming"),
        samples().join("not-in-archive"),
        samples().join("archive"),
        extra,
    ]
}

#[test]
fn the_batch_outputs_match_those_derived_from_the_whole_reports() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let roots = inputs(dir.path());
    let claim = ["--claim-date", "2024-03-01"];

    let streamed = run(retrace(Some(&db))
        .arg("scan")
        .args(&roots)
        .arg("--jsonl")
        .args(claim));
    let mut reports: Vec<Report> = jsonl(&streamed)
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    reports.sort_by(|a, b| a.path.cmp(&b.path).then(a.sha256.cmp(&b.sha256)));
    assert!(reports.len() > 30);

    let (out_dir, html_dir) = (dir.path().join("out"), dir.path().join("html"));
    let batch = run(retrace(Some(&db))
        .arg("scan")
        .args(&roots)
        .arg("--out")
        .arg(&out_dir)
        .arg("--html")
        .arg(&html_dir)
        .args(claim));

    // Exit status: errors first, then earlier copies.
    let errors = reports.iter().filter(|r| !r.errors.is_empty()).count();
    let copies = reports.iter().filter(|r| !r.matches.is_empty()).count();
    assert!(errors > 0 && copies > 0);
    assert_eq!(batch.status.code(), Some(2));

    // The groups, from the whole reports.
    let (refs, clusters) = cluster(&reports, &MatchParams::default());
    assert!(clusters.len() >= 3, "{clusters:?}");
    assert!(clusters
        .iter()
        .any(|c| c.members.iter().any(|m| m.ends_with("same_storm.jpg"))));

    // The table.
    let mut table = String::new();
    for r in &reports {
        table += &text::summary_line(r);
        table += "\n";
    }
    table += &format!(
        "\n{} images: {copies} with an earlier copy, {} without, {errors} with errors\n",
        reports.len(),
        reports.len() - copies
    );
    for c in &clusters {
        table += &format!(
            "near-duplicates #{}: {} copies; closest to the original: {} ({})\n",
            c.id,
            c.members.len(),
            c.representative,
            c.reason
        );
    }
    assert_eq!(String::from_utf8(batch.stdout).unwrap(), table);

    // summary.json, read straight from the reports' JSON fields.
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    let rows: Vec<Value> = reports
        .iter()
        .map(|r| {
            let v = serde_json::to_value(r).unwrap();
            let m = &v["earliest_copy"];
            json!({
                "path": v["path"],
                "sha256": v["sha256"],
                "earliest_copy": if m.is_null() { Value::Null } else { json!({
                    "path": m["path"], "source": m["source"], "first_seen": m["first_seen"],
                    "confidence": m["confidence"], "transform": m["transform"],
                })},
                "findings": v["findings"].as_array().unwrap().iter().map(|f| f["code"].clone()).collect::<Vec<_>>(),
                "errors": v["errors"],
            })
        })
        .collect();
    assert_eq!(summary["reports"], Value::Array(rows));
    assert_eq!(
        summary["clusters"],
        serde_json::to_value(&clusters).unwrap()
    );
    assert_eq!(
        (
            &summary["images"],
            &summary["with_earlier_copy"],
            &summary["with_errors"]
        ),
        (&json!(reports.len()), &json!(copies), &json!(errors))
    );

    // Each written report is the streamed one plus its group.
    for (r, group) in reports.iter().zip(&refs) {
        let root = roots
            .iter()
            .find(|root| Path::new(&r.path).starts_with(root))
            .unwrap();
        let relative = Path::new(&r.path).strip_prefix(root.parent().unwrap());
        let mut name = relative.unwrap().as_os_str().to_owned();
        name.push(".json");
        let written: Report =
            serde_json::from_slice(&std::fs::read(out_dir.join(name)).unwrap()).unwrap();
        let mut expected = r.clone();
        expected.cluster = group.clone();
        assert_eq!(written, expected, "{}", r.path);
    }

    // The HTML index, rebuilt from the whole reports with the page names it
    // links. The inlined thumbnails are the pictures' own, not the reports':
    // both sides show them as `data:` alone, and the rebuilt index has one
    // wherever the picture was decoded and for every earliest copy (the
    // sample archive holds every picture's thumbnail).
    let index =
        without_inlined_pictures(&std::fs::read_to_string(html_dir.join("index.html")).unwrap());
    let pages: std::collections::HashMap<&str, &str> = index
        .split("<div class=\"text\"><a href=\"")
        .skip(1)
        .map(|s| {
            let (page, rest) = s.split_once("\">").unwrap();
            (rest.split_once("</a>").unwrap().0, page)
        })
        .collect();
    assert_eq!(pages.len(), reports.len());
    let shown: Vec<String> = reports.iter().map(|r| html::h(&r.path)).collect();
    let picture = html::Inline {
        mime: "image/jpeg",
        bytes: Vec::new(),
    };
    let mut rebuilt = Vec::new();
    html::write_index(
        &mut rebuilt,
        (reports.len(), copies, errors),
        reports
            .iter()
            .zip(&shown)
            .map(|(r, shown)| html::IndexEntry {
                report: r.outcome(),
                page: pages[shown.as_str()],
                thumb: r.width.is_some().then_some(&picture),
                original: r.earliest_copy.as_ref().map(|m| m.sha256.as_str()),
            }),
        &|_| Some(&picture),
    )
    .unwrap();
    assert_eq!(
        without_inlined_pictures(&String::from_utf8(rebuilt).unwrap()),
        index
    );
}

/// The page with every inlined picture's bytes left out (`src="data:"`).
fn without_inlined_pictures(page: &str) -> String {
    let mut out = String::new();
    let mut rest = page;
    while let Some(at) = rest.find("src=\"data:") {
        out.push_str(&rest[..at + "src=\"data:".len()]);
        rest = &rest[at + "src=\"data:".len()..];
        rest = &rest[rest.find('"').unwrap()..];
    }
    out.push_str(rest);
    out
}
