//! Always-on checks of `metadata::read_metadata` on the small real files in
//! `tests/fixtures/exif/` (origin and licences in its README.md). Expected values
//! are ExifTool 12.57's readings of the same files, never retrace's own output.

use std::path::Path;

use retrace::internals::input::read::{sniff, Format};
use retrace::internals::metadata::{exif_thumbnail, read_metadata, Metadata};
use retrace::Limits;

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/exif")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn read(name: &str) -> (Vec<u8>, Metadata) {
    let bytes = fixture(name);
    let meta = read_metadata(&bytes, sniff(&bytes), &Limits::default());
    (bytes, meta)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn google_pixel_jpeg() {
    let (bytes, m) = read("Google.jpg");
    // All expected values: ExifTool 12.57's reading (-n) of Google.jpg.
    assert_eq!(m.make.as_deref(), Some("Google"));
    assert_eq!(m.model.as_deref(), Some("Pixel 8 Pro"));
    assert_eq!(m.software.as_deref(), Some("HDR+ 1.0.570503588zd"));
    assert_eq!(
        m.lens.as_deref(),
        Some("Pixel 8 Pro back camera 6.9mm f/1.68")
    );
    // ExifTool: Composite:SubSecDateTimeOriginal "2023:10:06 22:53:51.724+02:00".
    assert_eq!(
        m.datetime_original.as_deref(),
        Some("2023-10-06T22:53:51.724+02:00")
    );
    // ExifTool: Composite:SubSecCreateDate / SubSecModifyDate, same instant.
    assert_eq!(
        m.datetime_digitized.as_deref(),
        Some("2023-10-06T22:53:51.724+02:00")
    );
    assert_eq!(
        m.datetime_modified.as_deref(),
        Some("2023-10-06T22:53:51.724+02:00")
    );
    assert_eq!(m.orientation, Some(1));
    assert_eq!((m.exif_width, m.exif_height), (Some(3072), Some(4080)));

    let g = m.gps.as_ref().expect("gps");
    // ExifTool: Composite:GPSLatitude 40.4000694444444, GPSLongitude -3.71464722222222.
    assert!(close(g.latitude, 40.4000694444444, 1e-9), "{}", g.latitude);
    assert!(
        close(g.longitude, -3.71464722222222, 1e-9),
        "{}",
        g.longitude
    );
    // ExifTool: Composite:GPSAltitude 634, GPSDateTime "2023:10:06 20:52:10Z",
    // GPSImgDirection 164, GPSImgDirectionRef "M".
    assert_eq!(g.altitude, Some(634.0));
    assert_eq!(g.timestamp.as_deref(), Some("2023-10-06T20:52:10Z"));
    assert_eq!(g.direction, Some(164.0));
    assert_eq!(g.direction_ref.as_deref(), Some("M"));

    // ExifTool: ThumbnailOffset 1322, ThumbnailLength 23 (file offsets). The
    // test file's thumbnail is the text "<dummy thumbnail image>", not a JPEG:
    // located, flagged, and not handed out as JPEG bytes.
    let t = m.thumbnail.expect("thumbnail");
    assert_eq!((t.offset, t.length), (1322, 23));
    assert_eq!(&bytes[1322..1345], b"<dummy thumbnail image>");
    assert_eq!(exif_thumbnail(&bytes, &m), None);
    assert!(
        m.warnings.iter().any(|w| w.contains("JPEG marker")),
        "{:?}",
        m.warnings
    );

    assert!(m
        .exif
        .iter()
        .any(|f| f.ifd == "gps" && f.tag == "GPSLatitude"));
    assert!(m
        .exif
        .iter()
        .any(|f| f.ifd == "0th" && f.tag == "Make" && f.value == "Google"));
    assert!(m
        .exif
        .iter()
        .any(|f| f.ifd == "1st" && f.tag == "JPEGInterchangeFormat"));
}

#[test]
fn gopro_below_sea_level() {
    let (_, m) = read("GoPro.jpg");
    // ExifTool 12.57's reading (-n) of GoPro.jpg.
    assert_eq!(m.make.as_deref(), Some("GoPro"));
    assert_eq!(m.model.as_deref(), Some("HERO6 Black"));
    assert_eq!(m.software.as_deref(), Some("HD6.01.01.51.00"));
    assert_eq!(m.serial.as_deref(), Some("C3221324657219"));
    assert_eq!(
        m.image_description.as_deref(),
        Some("DCIM\\100GOPRO\\GOPR0482.JPG")
    );
    // ExifTool: DateTimeOriginal "2017:10:03 10:58:29", no sub-seconds, no offset:
    // none may be invented.
    assert_eq!(m.datetime_original.as_deref(), Some("2017-10-03T10:58:29"));
    assert_eq!((m.exif_width, m.exif_height), (Some(4000), Some(3000)));
    let g = m.gps.as_ref().expect("gps");
    // ExifTool: Composite:GPSLatitude 40.6584191999722, GPSLongitude
    // -73.9933542999722, GPSAltitude -3.983 (GPSAltitudeRef 1), GPSDateTime
    // "2017:10:03 14:58:14Z".
    assert!(close(g.latitude, 40.6584191999722, 1e-9));
    assert!(close(g.longitude, -73.9933542999722, 1e-9));
    assert!(close(g.altitude.unwrap(), -3.983, 1e-9));
    assert_eq!(g.timestamp.as_deref(), Some("2017-10-03T14:58:14Z"));
    assert_eq!(g.direction, None);
    // ExifTool: ThumbnailOffset 3754, ThumbnailLength 28.
    let t = m.thumbnail.expect("thumbnail");
    assert_eq!((t.offset, t.length), (3754, 28));
}

#[test]
fn big_endian_tiff_with_half_a_position() {
    let (_, m) = read("yaminabe.tif");
    // ExifTool 12.57: ImageDescription "Test image", ImageWidth 17, ImageHeight 11,
    // Orientation 1, GPSLatitude 10 but no longitude and no references, so no
    // Composite:GPSLatitude.
    assert_eq!(m.image_description.as_deref(), Some("Test image"));
    assert_eq!((m.exif_width, m.exif_height), (Some(17), Some(11)));
    assert_eq!(m.orientation, Some(1));
    assert_eq!(m.gps, None);
    assert!(!m.warnings.is_empty(), "half a position is worth a warning");
    assert!(m
        .exif
        .iter()
        .any(|f| f.ifd == "1st" && f.tag == "ImageDescription"));
}

#[test]
fn jpeg_with_a_real_thumbnail() {
    let (bytes, m) = read("exif.jpg");
    // ExifTool 12.57: ImageDescription "Test image", ModifyDate "2016:05:04 03:02:01",
    // ExifImageWidth 15, ExifImageHeight 7, ThumbnailOffset 236, ThumbnailLength 648.
    assert_eq!(m.image_description.as_deref(), Some("Test image"));
    assert_eq!(m.datetime_modified.as_deref(), Some("2016-05-04T03:02:01"));
    assert_eq!(m.datetime_original, None);
    assert_eq!((m.exif_width, m.exif_height), (Some(15), Some(7)));
    let t = m.thumbnail.expect("thumbnail");
    assert_eq!((t.offset, t.length), (236, 648));
    let thumb = exif_thumbnail(&bytes, &m).expect("thumbnail bytes");
    assert_eq!(thumb.len(), 648);
    assert_eq!(&thumb[..2], &[0xFF, 0xD8]);
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
}

/// The `eXIf` chunk's payload, found by walking the PNG's chunks.
fn png_exif_payload(png: &[u8]) -> &[u8] {
    let mut pos = 8;
    loop {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
        if &png[pos + 4..pos + 8] == b"eXIf" {
            return &png[pos + 8..pos + 8 + len];
        }
        pos += 12 + len;
    }
}

#[test]
fn png_and_webp_chunks() {
    let (png, m) = read("exif.png");
    // ExifTool 12.57: ImageDescription "Test image", Software "implex + kamadak-exif".
    assert_eq!(m.image_description.as_deref(), Some("Test image"));
    assert_eq!(m.software.as_deref(), Some("implex + kamadak-exif"));

    // The same EXIF block in a WebP container (RIFF, a VP8X chunk, an odd-sized
    // chunk to exercise padding, then EXIF): the same reading.
    let exif = png_exif_payload(&png);
    let mut body = b"WEBP".to_vec();
    body.extend_from_slice(b"VP8X\x0a\0\0\0\x08\0\0\0\0\0\0\0\0\0");
    body.extend_from_slice(b"ODD \x03\0\0\0abc\0");
    body.extend_from_slice(b"EXIF");
    body.extend_from_slice(&(exif.len() as u32).to_le_bytes());
    body.extend_from_slice(exif);
    let mut webp = b"RIFF".to_vec();
    webp.extend_from_slice(&(body.len() as u32).to_le_bytes());
    webp.extend_from_slice(&body);
    assert_eq!(sniff(&webp), Format::Webp);
    let w = read_metadata(&webp, Format::Webp, &Limits::default());
    assert_eq!(w.image_description, m.image_description);
    assert_eq!(w.software, m.software);
    assert_eq!(w.exif, m.exif);
}

#[test]
fn every_prefix_of_a_jpeg_gives_metadata() {
    let bytes = fixture("GoPro.jpg");
    let limits = Limits::default();
    for cut in 0..=bytes.len() {
        let m = read_metadata(&bytes[..cut], Format::Jpeg, &limits);
        assert!(
            !m.warnings.iter().any(|w| w.contains("panicked")),
            "cut {cut}: {:?}",
            m.warnings
        );
        if let Some(t) = exif_thumbnail(&bytes[..cut], &m) {
            assert!(t.len() <= cut);
        }
    }
}

#[test]
fn every_prefix_of_a_tiff_gives_metadata() {
    let bytes = fixture("yaminabe.tif");
    let limits = Limits::default();
    for cut in 0..=bytes.len() {
        let m = read_metadata(&bytes[..cut], Format::Tiff, &limits);
        assert!(
            !m.warnings.iter().any(|w| w.contains("panicked")),
            "cut {cut}"
        );
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    // Overwrite each byte of the EXIF block in turn with values that break
    // counts, offsets and types; every result must still be a Metadata.
    let orig = fixture("GoPro.jpg");
    let limits = Limits::default();
    let end = orig.len().min(4096);
    for i in 2..end {
        for v in [0x00, 0xFF, 0x7F] {
            let mut b = orig.clone();
            b[i] = v;
            let m = read_metadata(&b, Format::Jpeg, &limits);
            assert!(
                !m.warnings.iter().any(|w| w.contains("panicked")),
                "byte {i}={v:#x}"
            );
            if let Some(t) = exif_thumbnail(&b, &m) {
                assert_eq!(&t[..2], &[0xFF, 0xD8]);
            }
        }
    }
}

#[test]
fn oversized_exif_block_is_skipped_with_a_warning() {
    let bytes = fixture("Google.jpg");
    let limits = Limits {
        max_metadata_bytes: 100,
        ..Limits::default()
    };
    let m = read_metadata(&bytes, Format::Jpeg, &limits);
    assert_eq!(m.make, None);
    assert!(m.exif.is_empty());
    assert!(
        m.warnings.iter().any(|w| w.contains("limit")),
        "{:?}",
        m.warnings
    );
}

#[test]
fn thumbnail_helper_is_bounds_checked() {
    let (bytes, m) = read("Google.jpg");
    assert!(exif_thumbnail(&bytes[..1000], &m).is_none());
    assert!(exif_thumbnail(&[], &m).is_none());
    let mut far = m.clone();
    far.thumbnail.as_mut().unwrap().offset = usize::MAX;
    assert!(exif_thumbnail(&bytes, &far).is_none());
}

#[test]
fn json_contract_field_names() {
    let v = serde_json::to_value(Metadata::default()).unwrap();
    for key in [
        "make",
        "model",
        "software",
        "datetime_original",
        "datetime_digitized",
        "datetime_modified",
        "gps",
        "orientation",
        "lens",
        "serial",
        "artist",
        "copyright",
        "image_description",
        "exif_width",
        "exif_height",
        "maker_note",
        "thumbnail",
        "exif",
        "warnings",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["gps"], serde_json::Value::Null);
    assert_eq!(v["exif"], serde_json::json!([]));

    let (_, m) = read("Google.jpg");
    let s = serde_json::to_string(&m).unwrap();
    let back: Metadata = serde_json::from_str(&s).unwrap();
    assert_eq!(back, m);
    let v = serde_json::to_value(&m).unwrap();
    for key in [
        "latitude",
        "longitude",
        "altitude",
        "timestamp",
        "direction",
    ] {
        assert!(v["gps"].get(key).is_some(), "gps.{key}");
    }
    for key in ["offset", "length"] {
        assert!(v["thumbnail"].get(key).is_some(), "thumbnail.{key}");
    }
    for key in ["ifd", "tag", "value"] {
        assert!(v["exif"][0].get(key).is_some(), "exif[].{key}");
    }
}

/// kamadak-exif's own JPEG walk as the reference for the one marker walk
/// (`input::layout`): the EXIF read from the block the walk found is the
/// EXIF kamadak-exif reads when it walks the file itself, on real files and
/// on damaged ones (every prefix, bytes overwritten, a second SOI, bytes
/// that are not a marker, a stray 0xFF00 between segments).
#[test]
fn the_marker_walk_finds_the_exif_block_kamadak_exif_finds() {
    use retrace::internals::input::layout::{End, JpegLayout, Layout};
    use retrace::internals::metadata::read_exif;
    let limits = Limits::default();
    // A layout that vouches for nothing: kamadak-exif walks the file.
    let own_walk = Layout::Jpeg(JpegLayout {
        segments: Vec::new(),
        segments_dropped: 0,
        end: End::Eof,
    });
    let same = |b: &[u8], what: &str| {
        let once = read_exif(b, Format::Jpeg, &Layout::read(b, Format::Jpeg), &limits);
        let theirs = read_exif(b, Format::Jpeg, &own_walk, &limits);
        assert_eq!(once, theirs, "{what}");
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<_> = [
        "samples/archive",
        "samples/incoming",
        "samples/not-in-archive",
    ]
    .iter()
    .chain(&[
        "tests/fixtures/exif",
        "tests/fixtures/mpf",
        "tests/fixtures/container",
    ])
    .chain(&["tests/fixtures/c2pa"])
    .map(|d| root.join(d))
    .collect();
    let shared = root.join("../shared/ref/exif");
    if shared.is_dir() {
        for e in std::fs::read_dir(&shared).unwrap().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            }
        }
    } else {
        eprintln!("../shared/ref/exif absent: its JPEGs not compared");
    }
    let mut files = 0;
    for d in dirs {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if !e.path().is_file() {
                continue;
            }
            let b = std::fs::read(e.path()).unwrap();
            if b.starts_with(&[0xFF, 0xD8]) {
                same(&b, &e.path().display().to_string());
                files += 1;
            }
        }
    }
    assert!(files >= 40, "only {files} JPEGs");
    let bytes = fixture("GoPro.jpg");
    for cut in (0..bytes.len()).step_by(7) {
        same(&bytes[..cut], &format!("prefix {cut}"));
    }
    for i in 2..bytes.len().min(2048) {
        for v in [0x00, 0xFF, 0xD8, 0x12] {
            let mut b = bytes.clone();
            b[i] = v;
            same(&b, &format!("byte {i}={v:#x}"));
        }
    }
    for insert in [
        &b"\xFF\xD8"[..],
        b"\x12\x34",
        b"\xFF\x00",
        b"\xFF\xD3",
        b"\xFF\xFF",
    ] {
        let mut b = bytes[..2].to_vec();
        b.extend_from_slice(insert);
        b.extend_from_slice(&bytes[2..]);
        same(&b, &format!("{insert:02X?} after SOI"));
    }
}

/// A PNG's EXIF block from the chunks read once (`input::layout`): the EXIF
/// read from the `eXIf` chunk the walk found is the EXIF kamadak-exif reads
/// when it walks the chunks itself, on real files and on damaged ones (every
/// prefix, bytes overwritten, an `eXIf` chunk after IEND or after bytes that
/// are not a chunk, a chunk whose length runs past the end).
#[test]
fn the_chunk_walk_finds_the_exif_block_kamadak_exif_finds() {
    use retrace::internals::input::layout::{Layout, PngEnd, PngLayout};
    use retrace::internals::metadata::read_exif;
    let limits = Limits::default();
    // A layout that vouches for nothing: kamadak-exif walks the file.
    let own_walk = Layout::Png(PngLayout {
        signature: false,
        chunks: Vec::new(),
        chunks_dropped: 0,
        end: PngEnd::Eof,
    });
    let same = |b: &[u8], what: &str| {
        let once = read_exif(b, Format::Png, &Layout::read(b, Format::Png), &limits);
        let theirs = read_exif(b, Format::Png, &own_walk, &limits);
        assert_eq!(once, theirs, "{what}");
        once
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<_> = [
        "samples/incoming",
        "samples/not-in-archive",
        "tests/fixtures/exif",
        "tests/fixtures/container",
        "tests/fixtures/c2pa",
    ]
    .iter()
    .map(|d| root.join(d))
    .collect();
    let shared = root.join("../shared/ref/exif");
    if shared.is_dir() {
        for e in std::fs::read_dir(&shared).unwrap().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            }
        }
    } else {
        eprintln!("../shared/ref/exif absent: its PNGs not compared");
    }
    let mut files = 0;
    for d in dirs {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let b = std::fs::read(e.path()).unwrap_or_default();
            if b.starts_with(b"\x89PNG\r\n\x1a\n") {
                same(&b, &e.path().display().to_string());
                files += 1;
            }
        }
    }
    assert!(files >= 5, "only {files} PNGs");
    let bytes = fixture("exif.png");
    // The block is found at all (so the comparisons below compare readings).
    let whole = same(&bytes, "exif.png");
    assert!(whole.software.is_some(), "{whole:?}");
    for cut in 0..bytes.len() {
        same(&bytes[..cut], &format!("prefix {cut}"));
    }
    for i in 8..bytes.len() {
        for v in [0x00, 0xFF, 0x49, 0x12] {
            let mut b = bytes.clone();
            b[i] = v;
            same(&b, &format!("byte {i}={v:#x}"));
        }
    }
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend_from_slice(b"CRC_");
        c
    };
    let p = PngLayout::read(&bytes);
    let exif = p.chunks.iter().find(|c| &c.kind == b"eXIf").unwrap();
    let block = exif.data(&bytes).to_vec();
    let without: Vec<u8> = bytes[..exif.offset]
        .iter()
        .chain(&bytes[exif.payload.end + 4..])
        .copied()
        .collect();
    assert_eq!(same(&without, "no eXIf"), Metadata::default());
    for (what, tail) in [
        ("eXIf after IEND", chunk(b"eXIf", &block)),
        ("junk after IEND", b"junk".to_vec()),
        ("cut eXIf after IEND", chunk(b"eXIf", &block)[..20].to_vec()),
        ("overrun after IEND", b"\x00\x10\x00\x00eXIf".to_vec()),
    ] {
        let mut b = without.clone();
        b.extend_from_slice(&tail);
        let m = same(&b, what);
        assert_eq!(
            m.software.is_some(),
            what == "eXIf after IEND",
            "{what}: {m:?}"
        );
        let mut b = bytes.clone();
        b.extend_from_slice(&tail);
        same(&b, &format!("{what}, eXIf before"));
    }
}

/// A WebP's EXIF block from the chunks read once (`input::layout`): the EXIF
/// read from the `EXIF` chunk the walk found is the EXIF kamadak-exif reads
/// when it walks the chunks itself, on real files and on damaged ones (every
/// prefix, bytes overwritten, a RIFF size too small or too large, chunks
/// after the RIFF size, an odd chunk without its pad byte).
#[test]
fn the_riff_walk_finds_the_exif_block_kamadak_exif_finds() {
    use retrace::internals::input::layout::{Layout, WebpEnd, WebpLayout};
    use retrace::internals::metadata::read_exif;
    let limits = Limits::default();
    // A layout that vouches for nothing: kamadak-exif walks the file.
    let own_walk = Layout::Webp(WebpLayout {
        riff_size: None,
        chunks: Vec::new(),
        chunks_dropped: 0,
        end: WebpEnd::Eof,
    });
    let same = |b: &[u8], what: &str| {
        let once = read_exif(b, Format::Webp, &Layout::read(b, Format::Webp), &limits);
        let theirs = read_exif(b, Format::Webp, &own_walk, &limits);
        assert_eq!(once, theirs, "{what}");
        once
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<Vec<u8>> = Vec::new();
    let mut dirs = vec![root.join("tests/fixtures/animation")];
    let shared = root.join("../shared/ref/exif");
    if shared.is_dir() {
        for e in std::fs::read_dir(&shared).unwrap().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            }
        }
    } else {
        eprintln!("../shared/ref/exif absent: its WebPs not compared");
    }
    for d in dirs {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let b = std::fs::read(e.path()).unwrap_or_default();
            if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
                same(&b, &e.path().display().to_string());
                files.push(b);
            }
        }
    }
    assert!(!files.is_empty(), "no WebP");
    // A WebP with EXIF, built from a real one: the animation fixture's
    // chunks with the EXIF block of tests/fixtures/exif/exif.png added after
    // VP8X, so that the comparisons below compare readings.
    let base = std::fs::read(root.join("tests/fixtures/animation/china_twice.webp")).unwrap();
    let png = fixture("exif.png");
    let p = retrace::internals::input::layout::PngLayout::read(&png);
    let block = p
        .chunks
        .iter()
        .find(|c| &c.kind == b"eXIf")
        .unwrap()
        .data(&png);
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = kind.to_vec();
        c.extend_from_slice(&(data.len() as u32).to_le_bytes());
        c.extend_from_slice(data);
        if data.len() % 2 == 1 {
            c.push(0);
        }
        c
    };
    let riff = |body: &[u8], size: u32| {
        let mut b = b"RIFF".to_vec();
        b.extend_from_slice(&size.to_le_bytes());
        b.extend_from_slice(b"WEBP");
        b.extend_from_slice(body);
        b
    };
    let w = WebpLayout::read(&base);
    let vp8x_end = w.chunks[0].payload.end;
    let mut body = base[12..vp8x_end].to_vec();
    body.extend_from_slice(&chunk(b"EXIF", block));
    body.extend_from_slice(&base[vp8x_end..]);
    let with = riff(&body, body.len() as u32 + 4);
    let m = same(&with, "with EXIF");
    assert!(m.software.is_some(), "{m:?}");
    for cut in (0..with.len())
        .step_by(3)
        .chain(with.len() - 40..with.len())
    {
        same(&with[..cut], &format!("prefix {cut}"));
    }
    for i in 4..vp8x_end + 40 {
        for v in [0x00, 0xFF, 0x01, 0x45] {
            let mut b = with.clone();
            b[i] = v;
            same(&b, &format!("byte {i}={v:#x}"));
        }
    }
    let n = body.len() as u32 + 4;
    for size in [0, 3, 4, 5, 12, n / 2, n - 1, n + 1, n + 1000, u32::MAX] {
        same(&riff(&body, size), &format!("RIFF size {size}"));
    }
    // The EXIF chunk after the RIFF size (kamadak-exif does not read it),
    // and after an odd chunk, padded and not.
    let mut tail = base.clone();
    tail.extend_from_slice(&chunk(b"EXIF", block));
    assert!(same(&tail, "EXIF after the RIFF size").software.is_none());
    for pad in [true, false] {
        let mut odd = chunk(b"odd_", b"x");
        if !pad {
            odd.pop();
        }
        let mut body = base[12..].to_vec();
        body.extend_from_slice(&odd);
        body.extend_from_slice(&chunk(b"EXIF", block));
        let b = riff(&body, body.len() as u32 + 4);
        same(&b, &format!("EXIF after an odd chunk, pad {pad}"));
        same(&b[..b.len() - block.len() - 8], "ends with the odd chunk");
    }
}
