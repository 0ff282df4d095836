//! `scan --csv`: one RFC 4180 row per picture, read back with an independent
//! reader and checked against the samples' own list of which archived picture
//! each circulating copy was made from (`samples/incoming/EXPECTED.tsv`,
//! written when the copies were made, not by retrace).

use std::collections::HashMap;

use crate::common::*;

/// file → original (`-` for a picture the archive never saw).
fn expected() -> HashMap<String, String> {
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
fn scan_csv_has_one_row_per_picture_with_the_earliest_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let csv_path = dir.path().join("out/batch.csv");
    let out = run(retrace(Some(&db))
        .arg("scan")
        .arg(samples().join("incoming"))
        .args(["--claim-date", "2024-03-01", "--csv"])
        .arg(&csv_path));
    assert_eq!(out.status.code(), Some(1), "earlier copies were found");
    let bytes = std::fs::read(&csv_path).expect("the CSV file was written");
    // RFC 4180: CRLF line ends, and the header names the columns.
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("path,sha256,verdict,confidence,earliest_copy,"));
    assert!(text.ends_with("\r\n") && !text.replace("\r\n", "").contains('\n'));

    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let expected = expected();
    assert_eq!(rows.len(), expected.len(), "one row per picture");
    let mut found = 0;
    for row in &rows {
        let name = std::path::Path::new(&row[col("path")])
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let original = &expected[&name];
        assert_eq!(row[col("sha256")].len(), 64, "{name}");
        match row[col("verdict")].as_ref() {
            "earlier_copy" | "possible_copy" => {
                found += 1;
                assert_ne!(original, "-", "{name}: a new picture was matched");
                assert!(
                    row[col("earliest_copy")].ends_with(original.as_str()),
                    "{name}: earliest copy {} is not {original}",
                    &row[col("earliest_copy")]
                );
                assert!(row[col("earliest_source")].contains("("), "{name}");
                assert!(!row[col("earliest_first_seen")].is_empty());
                assert!(row[col("findings")].contains("earlier_copy"), "{name}");
                assert!(!row[col("confidence")].is_empty());
            }
            "new" => assert!(row[col("earliest_copy")].is_empty()),
            v => panic!("{name}: verdict {v}"),
        }
    }
    // The samples README's own figure: every copy but the off-centre crop is
    // found with the sample archive.
    assert!(found >= 12, "{found} earlier copies");
    let storm = rows
        .iter()
        .find(|r| r[col("path")].ends_with("storm_caption.jpg"))
        .unwrap();
    assert_eq!(&storm[col("earliest_first_seen")], "2008-04-20T19:12:06");
    assert_eq!(
        &storm[col("earliest_url")],
        "https://github.com/mate-desktop/mate-backgrounds/blob/master/nature/Storm.jpg"
    );
    assert!(storm[col("verdict_text")].ends_with("before the claimed date."));
}
