//! The embedded EXIF thumbnail against the main picture, on real camera files
//! from `../shared/ref/exif` (skipped, with a message, when the corpus is
//! absent). The edits are made here the way editors make them: the main picture
//! re-encoded from new pixels while the camera's APP1 EXIF segment, thumbnail
//! included, is copied unchanged.
//!
//! And the MPF preview, on the committed fixtures in `tests/fixtures/mpf`
//! (real photographs assembled into multi-picture files; see its README): the
//! index and the preview's bytes are checked against ExifTool's reading of the
//! same files, the verdicts against how each file was made.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::DynamicImage;
use retrace::internals::input::read::{sha256_hex, Blob, Format};
use retrace::internals::metadata::{self, read_metadata};
use retrace::Limits;
use retrace::Report;
use retrace::{Config, Engine};
use serde_json::Value;

/// Camera JPEGs with their own, unedited EXIF thumbnails.
const CAMERAS: &[&str] = &[
    "exif-samples/jpg/exif-org/canon-ixus.jpg",
    "exif-samples/jpg/exif-org/fujifilm-dx10.jpg",
    "exif-samples/jpg/exif-org/kodak-dc240.jpg",
    "exif-samples/jpg/exif-org/nikon-e950.jpg",
    "exif-samples/jpg/exif-org/sony-cybershot.jpg",
    "exif-samples/jpg/gps/DSCN0010.jpg",
    "exif-samples/jpg/hdr/canon_hdr_NO.jpg",
    "exif-samples/jpg/Canon_PowerShot_S40.jpg",
];

fn corpus() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ref/exif");
    if root.is_dir() {
        Some(root)
    } else {
        eprintln!("skipped: {} is absent", root.display());
        None
    }
}

fn analyse(bytes: Vec<u8>) -> Report {
    let engine = Engine::new(Config::default(), None).unwrap();
    let mut ex = engine.examine_blob("x.jpg".into(), &Blob::from_bytes(bytes));
    engine.analyze(&mut ex);
    ex.report
}

fn codes(r: &Report) -> Vec<&str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

/// The APP1 Exif segment, marker included.
fn exif_segment(jpeg: &[u8]) -> &[u8] {
    let mut at = 2;
    while at + 4 < jpeg.len() && jpeg[at] == 0xFF {
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if jpeg[at + 1] == 0xE1 && jpeg[at + 4..].starts_with(b"Exif\0") {
            return &jpeg[at..at + 2 + len];
        }
        at += 2 + len;
    }
    panic!("no APP1 Exif segment");
}

/// New pixels, old EXIF: what an editor that keeps metadata writes.
fn rewrite(original: &[u8], pixels: &DynamicImage) -> Vec<u8> {
    let mut enc = Cursor::new(Vec::new());
    pixels
        .to_rgb8()
        .write_with_encoder(JpegEncoder::new_with_quality(&mut enc, 90))
        .unwrap();
    let enc = enc.into_inner();
    let mut out = enc[..2].to_vec();
    out.extend_from_slice(exif_segment(original));
    out.extend_from_slice(&enc[2..]);
    out
}

fn each_camera(mut check: impl FnMut(&str, Vec<u8>, DynamicImage)) {
    let Some(root) = corpus() else { return };
    for name in CAMERAS {
        let bytes = std::fs::read(root.join(name)).unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        check(name, bytes, img);
    }
}

#[test]
fn camera_files_and_faithful_resaves_keep_their_thumbnail() {
    each_camera(|name, bytes, img| {
        let r = analyse(bytes.clone());
        let t = r
            .thumbnail_comparison
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no thumbnail compared"));
        assert!(t.same_picture, "{name}: {t:?}");
        assert!(!codes(&r).contains(&"thumbnail_mismatch"), "{name}");
        // Re-encoded at another quality, same framing: still the same picture.
        let r = analyse(rewrite(&bytes, &img));
        assert!(
            !codes(&r).contains(&"thumbnail_mismatch"),
            "{name}: {:?}",
            r.thumbnail_comparison
        );
    });
}

#[test]
fn a_crop_under_the_old_thumbnail_is_found() {
    each_camera(|name, bytes, img| {
        let (w, h) = (img.width(), img.height());
        for (what, cut) in [
            (
                "centre 70%",
                img.crop_imm(w * 15 / 100, h * 15 / 100, w * 70 / 100, h * 70 / 100),
            ),
            ("left half", img.crop_imm(0, 0, w / 2, h)),
        ] {
            let r = analyse(rewrite(&bytes, &cut));
            let f = r.findings.iter().find(|f| f.code == "thumbnail_mismatch");
            assert!(f.is_some(), "{name} {what}: {:?}", r.thumbnail_comparison);
        }
    });
}

// Local retouches (a region painted over) are not asserted: measured with
// `cargo run --features examples --example thumbnails`, half the frame painted grey is found in 39
// of 58 files and a quarter in 15; docs/metadata.md says so.

fn mpf_fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mpf")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// ExifTool 12.57's reading of the MPF fixtures, one object per file
/// (`tests/fixtures/exiftool/mpf-12.57.json`; the command is in
/// `tests/fixtures/mpf/README.md`).
fn exiftool_mpf() -> Vec<Value> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exiftool/mpf-12.57.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn exiftool_of(name: &str) -> Value {
    exiftool_mpf()
        .into_iter()
        .find(|r| r["SourceFile"] == name)
        .unwrap_or_else(|| panic!("{name}: no ExifTool reading"))
}

/// retrace's listing against ExifTool's `MPImage<k>` tags (ExifTool gives
/// `MPImageStart` as a file offset and `MPImageFlags` as the top five bits).
/// `grouped`: tags read with `-G3:1` (`MPImage2:MPImageType`); else with `-G`
/// (`MPF:MPImageType`), which keeps only one entry.
fn assert_index_matches_exiftool(name: &str, bytes: &[u8], exiftool: &Value, grouped: bool) {
    let meta = read_metadata(bytes, Format::Jpeg, &Limits::default());
    let j = meta.container.unwrap().jpeg.unwrap();
    assert!(j.mpf, "{name}");
    let mut listed = 0;
    for k in 1.. {
        let g = |t: &str| {
            let key = if grouped {
                format!("MPImage{k}:{t}")
            } else {
                format!("MPF:{t}")
            };
            exiftool[key].as_u64()
        };
        let Some(kind) = g("MPImageType") else { break };
        let m = &j.mpf_images[k - 1];
        assert_eq!(m.number as usize, k, "{name}");
        assert_eq!(u64::from(m.type_code), kind, "{name} {k}");
        assert_eq!(Some(u64::from(m.size)), g("MPImageLength"), "{name} {k}");
        assert_eq!(Some(m.file_offset), g("MPImageStart"), "{name} {k}");
        assert_eq!(
            Some(u64::from(m.attributes >> 27)),
            g("MPImageFlags"),
            "{name} {k}"
        );
        let dependent = [
            g("DependentImage1EntryNumber"),
            g("DependentImage2EntryNumber"),
        ];
        assert_eq!(
            dependent,
            m.dependent.map(|d| Some(u64::from(d))),
            "{name} {k}"
        );
        listed = k;
        if !grouped {
            break;
        }
    }
    assert!(listed > 0, "{name}: ExifTool lists no MPF image");
    assert_eq!(j.mpf_images.len(), listed, "{name}");
}

#[test]
fn mpf_index_and_preview_bytes_match_exiftool() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exiftool");
    let tsv = std::fs::read_to_string(dir.join("mpf-preview-12.57.tsv")).unwrap();
    let mut files = 0;
    for line in tsv.lines().filter(|l| !l.starts_with('#')) {
        let [name, len, sha] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("bad line {line:?}")
        };
        let bytes = mpf_fixture(name);
        assert_index_matches_exiftool(name, &bytes, &exiftool_of(name), true);
        // What retrace takes as the preview is byte for byte what ExifTool
        // extracts as `-MPF:PreviewImage`, and nothing when ExifTool has none.
        let meta = read_metadata(&bytes, Format::Jpeg, &Limits::default());
        match metadata::mpf_preview(&bytes, &meta) {
            Some((entry, p)) => {
                assert!(entry.preview, "{name}");
                assert_eq!(p.len().to_string(), len, "{name}");
                assert_eq!(sha256_hex(p), sha, "{name}");
            }
            None => assert_eq!(len, "0", "{name}: ExifTool extracts a preview"),
        }
        files += 1;
    }
    assert_eq!(files, 7);
}

#[test]
fn a_one_entry_camera_index_matches_exiftool() {
    let Some(root) = corpus() else { return };
    let name = "exif-samples/jpg/tests/45-gps_ifd.jpg";
    let all: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(root.join("exiftool-12.57_json_G_n.json")).unwrap(),
    )
    .unwrap();
    let exiftool = all.iter().find(|r| r["SourceFile"] == name).unwrap();
    assert_index_matches_exiftool(
        name,
        &std::fs::read(root.join(name)).unwrap(),
        exiftool,
        false,
    );
}

#[test]
fn an_index_pointing_past_the_end_is_a_warning() {
    // ExifTool's own test image: a FinePix index kept while the file was cut
    // down to 26 kB, so its preview lies megabytes past the end.
    let bytes = mpf_fixture("ExifTool.jpg");
    let r = analyse(bytes);
    let c = r.metadata.as_ref().unwrap().container.as_ref().unwrap();
    let past: Vec<_> = c
        .warnings
        .iter()
        .filter(|w| w.contains("past the end"))
        .collect();
    assert_eq!(past.len(), 2, "{:?}", c.warnings);
    assert!(r.preview_comparison.is_none());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

#[test]
fn the_preview_is_compared_with_the_main_picture() {
    for (name, same) in [
        ("same.jpg", true),
        ("cropped.jpg", false),
        ("other.jpg", false),
        ("rotated-own.jpg", true),
        ("rotated-inherit.jpg", true),
    ] {
        let r = analyse(mpf_fixture(name));
        let p = r
            .preview_comparison
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no preview compared"));
        assert_eq!(p.mpf_entry, 2, "{name}");
        assert_eq!(p.comparison.same_picture, same, "{name}: {p:?}");
        assert_eq!(
            codes(&r).contains(&"preview_mismatch"),
            !same,
            "{name}: {p:?}"
        );
        assert!(r.hashes.contains_key("preview_pdq"), "{name}");
        assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
    }
}

#[test]
fn a_preview_is_oriented_by_its_own_exif_else_by_the_main_pictures() {
    // The premise, from ExifTool: both main pictures say Orientation 6; the
    // preview of one has an Exif block of its own saying 1, the other none.
    let own = exiftool_of("rotated-own.jpg");
    let inherit = exiftool_of("rotated-inherit.jpg");
    assert_eq!(own["IFD0:Orientation"], 6);
    assert_eq!(own["Doc2:IFD0:Orientation"], 1);
    assert_eq!(inherit["IFD0:Orientation"], 6);
    assert!(inherit.get("Doc2:IFD0:Orientation").is_none());
    // Shown upright, both previews are landscape like the main picture; the
    // wrong orientation would make one of them portrait.
    for name in ["rotated-own.jpg", "rotated-inherit.jpg"] {
        let r = analyse(mpf_fixture(name));
        let p = &r.preview_comparison.as_ref().unwrap().comparison;
        assert!(
            p.aspect_main > 1.4 && p.aspect_thumbnail > 1.4,
            "{name}: {p:?}"
        );
    }
}

#[test]
fn a_gain_map_is_never_a_preview() {
    // ExifTool: entry 2 is type Undefined (what phones give gain maps), and it
    // extracts no PreviewImage.
    assert_eq!(exiftool_of("gainmap.jpg")["MPImage2:MPImageType"], 0);
    let r = analyse(mpf_fixture("gainmap.jpg"));
    let j = r
        .metadata
        .as_ref()
        .unwrap()
        .container
        .as_ref()
        .unwrap()
        .jpeg
        .as_ref()
        .unwrap();
    assert!(j.mpf_images[1].in_file && j.mpf_images[1].jpeg_soi && !j.mpf_images[1].preview);
    assert!(r.preview_comparison.is_none());
    assert!(!codes(&r).contains(&"preview_mismatch"));
    assert!(!codes(&r).contains(&"thumbnail_mismatch"));
}

#[test]
fn check_and_html_pages_show_the_preview_comparison() {
    let r = analyse(mpf_fixture("cropped.jpg"));
    let mut text = Vec::new();
    retrace::internals::report::text::write_check(&mut text, &r).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("[warn] preview_mismatch: The MPF preview (entry 2"),
        "{text}"
    );
    assert!(
        text.contains("  Preview      MPF entry 2: ANOTHER picture or framing: 240×160"),
        "{text}"
    );
    // The type names are ExifTool's for the codes it reads in this file.
    assert!(
        text.contains("  MPF          2 picture(s) listed: Baseline MP Primary Image, Large Thumbnail (full HD equivalent)\n"),
        "{text}"
    );
    let mut html = Vec::new();
    retrace::internals::report::html::write_page(&mut html, &r, &Default::default()).unwrap();
    let html = String::from_utf8(html).unwrap();
    assert!(
        html.contains("<tr><th>MPF preview</th><td>entry 2: ANOTHER picture or framing"),
        "{html}"
    );
    // An index the file no longer fits says so.
    let r = analyse(mpf_fixture("ExifTool.jpg"));
    let mut text = Vec::new();
    retrace::internals::report::text::write_check(&mut text, &r).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("; 2 not where the index says"), "{text}");
}
