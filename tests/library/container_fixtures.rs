//! Always-on tests of `container::read_container` on real files (see
//! tests/fixtures/container/README.md): expected values are ExifTool's readings.
//! Also the truncation rule (every prefix of a valid input gives a result, never
//! a panic) and the IJG quality estimate on JPEGs the `image` crate encodes.

use std::path::Path;

use retrace::internals::input::read::{sniff, Format};
use retrace::internals::metadata::container::{read_container, Container};
use retrace::Limits;

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/container")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn read(name: &str) -> Container {
    let b = fixture(name);
    read_container(&b, sniff(&b), &Limits::default())
}

#[test]
fn iptc_jpg_matches_exiftool() {
    let c = read("IPTC.jpg");
    let i = c.iptc.expect("IPTC block");
    assert_eq!(i.caption.as_deref(), Some("A witty caption"));
    assert_eq!(i.byline, vec!["Phil Harvey"]);
    assert_eq!(i.credit.as_deref(), Some("My Credit"));
    assert_eq!(i.source.as_deref(), Some("I'm the source"));
    assert_eq!(i.city.as_deref(), Some("Kingston"));
    assert_eq!(i.country.as_deref(), Some("Canada"));
    assert_eq!(i.keywords, vec!["ExifTool", "Test", "IPTC"]);
    assert_eq!(i.date_created.as_deref(), Some("2004-02-26"));
    let j = c.jpeg.expect("JPEG structure");
    assert!(j.photoshop_irb);
    assert_eq!(
        j.segments.first().map(|s| s.marker.to_string()).as_deref(),
        Some("SOI")
    );
}

#[test]
fn utf16_xmp_and_icc_match_exiftool() {
    let c = read("XMP.jpg");
    let x = c.xmp.expect("XMP packet");
    assert_eq!(x.creator, vec!["Phil Harvey"]);
    assert_eq!(x.rights.as_deref(), Some("Copyright 2004 Phil Harvey"));
    assert_eq!(
        x.description.as_deref(),
        Some("UTF-16 (big-endian) encoded XMP")
    );
    assert_eq!(x.date_created.as_deref(), Some("2004-02-26"));
    assert_eq!(c.icc_description.as_deref(), Some("sRGB IEC61966-2.1"));
}

#[test]
fn mwg_iptc_time_zone_and_repeats() {
    let c = read("MWG.jpg");
    let i = c.iptc.expect("IPTC block");
    assert_eq!(i.date_created.as_deref(), Some("1992-01-01T02:11:11+01:00"));
    assert_eq!(
        i.byline,
        vec!["WRONG1of2-IPTC-Creator", "WRONG2of2-IPTC-Creator"]
    );
    assert_eq!(i.country.as_deref(), Some("RIGHT-IPTC-Country"));
    let x = c.xmp.expect("XMP packet");
    assert_eq!(x.rights.as_deref(), Some("RIGHT-XMP-Copyright"));
    assert_eq!(x.description.as_deref(), Some("WRONG-XMP-Description"));
    assert_eq!(
        x.creator,
        vec!["WRONG1of2-XMP-Creator", "WRONG2of2-XMP-Creator"]
    );
}

#[test]
fn png_text_and_itxt_xmp() {
    let c = read("PNG.png");
    assert!(
        c.png_text
            .iter()
            // The file's keyword is "comment"; ExifTool prints tag names capitalised.
            .any(|t| t.keyword.eq_ignore_ascii_case("Comment") && t.text == "test comment"),
        "{:?}",
        c.png_text
    );
    assert_eq!(c.xmp.expect("XMP").creator, vec!["Phil Harvey"]);
}

#[test]
fn every_prefix_gives_a_result() {
    let l = Limits::default();
    for name in ["IPTC.jpg", "XMP.jpg", "MWG.jpg", "PNG.png"] {
        let b = fixture(name);
        let f = sniff(&b);
        for n in 0..=b.len() {
            // Whatever the prefix is sniffed as, and as the full file's format.
            let _ = read_container(&b[..n], f, &l);
            let _ = read_container(&b[..n], sniff(&b[..n]), &l);
        }
        // A complete file reads without structural warnings.
        assert!(read_container(&b, f, &l).warnings.is_empty(), "{name}");
    }
}

#[test]
fn tiny_limits_bound_every_block() {
    let l = Limits {
        max_metadata_bytes: 64,
        ..Limits::default()
    };
    let c = read_container(&fixture("XMP.jpg"), Format::Jpeg, &l);
    assert!(c.xmp.is_none());
    assert!(c.icc_description.is_none());
    assert!(!c.warnings.is_empty());
}

fn encode(q: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x + y) * 2) as u8])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q)
        .encode_image(&img)
        .unwrap();
    out
}

#[test]
fn image_crate_jpegs_have_standard_tables_at_their_quality() {
    for q in [10u8, 30, 50, 75, 85, 90, 95] {
        let b = encode(q);
        let j = read_container(&b, Format::Jpeg, &Limits::default())
            .jpeg
            .expect("JPEG structure");
        assert!(j.standard_tables, "q{q}: {:?}", j.encoder);
        let est = j.quality.unwrap();
        assert!(est.abs_diff(q) <= 1, "encoded at {q}, estimated {est}");
        assert!(!j.exif && !j.progressive);
        assert!(j.encoder.unwrap().starts_with("libjpeg/IJG"));
    }
    // Truncation of an encoded file, too.
    let b = encode(75);
    for n in 0..=b.len() {
        let _ = read_container(&b[..n], Format::Jpeg, &Limits::default());
    }
}
