//! Hostile input: every picture comes from a stranger. Truncations, bit flips,
//! empty files, random bytes and decompression bombs must each give a report
//! (with `errors` where processing failed), never a panic, a hang or a huge
//! allocation. Inputs are generated in code from the committed samples.
//!
//! A panic in retrace's own code is a bug even when the per-file boundary
//! contains it (the file's report would lose its metadata or its thumbnail
//! comparison silently), so a panic hook records every panic and each test
//! fails on one raised from `src/`. Panics inside dependencies are contained by
//! design and only printed.

use std::path::Path;
use std::sync::{Mutex, Once};

use retrace::internals::input::read::Blob;
use retrace::Limits;
use retrace::{Config, Engine};

fn engine() -> Engine {
    watch_panics();
    Engine::new(Config::default(), None).unwrap()
}

/// Locations of every panic seen in this test binary, contained or not.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn watch_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            PANICS.lock().unwrap_or_else(|p| p.into_inner()).push(at);
            previous(info);
        }));
    });
}

/// Fail when retrace's own code panicked (tests share the hook, so a panic in
/// a parallel test, of this module or another of the binary, is caught too:
/// any of them is a bug).
fn assert_no_own_panics() {
    let panics = PANICS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let own: Vec<_> = panics.iter().filter(|p| p.starts_with("src/")).collect();
    assert!(own.is_empty(), "retrace panicked at {own:?}");
}

fn analyse(engine: &Engine, name: &str, bytes: Vec<u8>) -> retrace::Report {
    let blob = Blob::from_bytes(bytes);
    let mut ex = engine.examine_blob(name.to_string(), &blob);
    engine.analyze(&mut ex);
    ex.report
}

/// A seeded xorshift so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn incoming() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/incoming");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg" || x == "png"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

#[test]
fn truncated_files_report_errors_and_never_panic() {
    let e = engine();
    for (name, bytes) in incoming() {
        for k in 1..8 {
            let cut = bytes.len() * k / 8;
            let r = analyse(&e, &name, bytes[..cut].to_vec());
            assert!(!r.errors.is_empty(), "{name} cut at {cut} gave no error");
            assert_eq!(r.bytes, Some(cut as u64));
        }
    }
    assert_no_own_panics();
}

#[test]
fn bit_flips_never_panic() {
    let e = engine();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for (name, bytes) in incoming() {
        for _ in 0..6 {
            let mut b = bytes.clone();
            for _ in 0..8 {
                let i = (rng.next() % b.len() as u64) as usize;
                b[i] ^= 1 << (rng.next() % 8);
            }
            // Any outcome but a panic is acceptable: a flip in pixel data
            // still decodes, a flip in a header fails with an error.
            let r = analyse(&e, &name, b);
            assert_eq!(r.schema, "retrace.report/1");
        }
    }
    assert_no_own_panics();
}

#[test]
fn empty_and_random_files_are_per_file_errors() {
    let e = engine();
    let r = analyse(&e, "empty.jpg", Vec::new());
    assert_eq!(r.errors[0].stage, "format");
    let mut rng = Rng(42);
    for n in [1usize, 7, 100, 5000] {
        let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        let r = analyse(&e, "random.png", bytes);
        assert!(!r.errors.is_empty());
    }
    // Random bytes behind each format's magic go to that decoder and fail there.
    for magic in [
        &b"\xFF\xD8\xFF\xE0"[..],
        b"\x89PNG\r\n\x1a\n",
        b"GIF89a",
        b"II*\0",
        b"BM",
    ] {
        let mut bytes = magic.to_vec();
        bytes.extend((0..2000).map(|_| rng.next() as u8));
        let r = analyse(&e, "noise", bytes);
        assert!(!r.errors.is_empty(), "{magic:?}");
    }
}

/// A valid PNG header claiming `w`×`h` pixels, with a tiny IDAT.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend_from_slice(data);
        out.extend_from_slice(&c);
        out.extend(crc32fast::hash(&c).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    out
}

/// A JPEG whose frame header claims `w`×`h` pixels.
fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08];
    b.extend(h.to_be_bytes());
    b.extend(w.to_be_bytes());
    b.extend([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    b.extend([0xFF, 0xD9]);
    b
}

#[test]
fn decompression_bombs_are_refused_before_allocating() {
    let e = engine();
    for bytes in [
        png_claiming(65535, 65535),
        png_claiming(1 << 30, 4),
        jpeg_claiming(65535, 65535),
    ] {
        let r = analyse(&e, "bomb", bytes);
        assert!(!r.errors.is_empty());
        assert!(r.hashes.is_empty());
    }
    // The same header under permissive limits gets past the size check and
    // fails on the missing pixel data instead: the limit is what refused it.
    let r = analyse(&e, "bomb", png_claiming(65535, 65535));
    assert!(r.errors[0].message.contains("limit"), "{:?}", r.errors);
    let loose = Engine::new(
        Config {
            limits: Limits {
                max_pixels: u64::MAX,
                max_width: u32::MAX,
                max_height: u32::MAX,
                ..Limits::default()
            },
            ..Config::default()
        },
        None,
    )
    .unwrap();
    let r = analyse(&loose, "bomb", png_claiming(65535, 65535));
    assert!(!r.errors.is_empty());
    assert!(
        !r.errors[0].message.contains("limit exceeded: image"),
        "{:?}",
        r.errors
    );
}

/// A small valid JPEG (80×64) to carry hostile metadata.
fn base_jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(80, 64, |x, y| {
        image::Rgb([(x * 3) as u8, (y * 4) as u8, ((x * y) % 251) as u8])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&img)
        .unwrap();
    out
}

/// `base` with extra marker segments inserted right after SOI.
fn with_segments(base: &[u8], segments: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    for (marker, payload) in segments {
        assert!(payload.len() + 2 <= 0xFFFF, "segment too long");
        out.extend([0xFF, *marker]);
        out.extend(((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(payload);
    }
    out.extend_from_slice(&base[2..]);
    out
}

/// Little-endian TIFF writer for hand-made (and hand-broken) EXIF blocks.
struct Tiff(Vec<u8>);
impl Tiff {
    fn new(ifd0: u32) -> Tiff {
        let mut b = b"II*\0".to_vec();
        b.extend(ifd0.to_le_bytes());
        Tiff(b)
    }
    /// An IFD at the current end: `entries` as (tag, type, count, value/offset).
    fn ifd(mut self, entries: &[(u16, u16, u32, u32)], next: u32) -> Tiff {
        self.0.extend((entries.len() as u16).to_le_bytes());
        for &(tag, kind, count, value) in entries {
            self.0.extend(tag.to_le_bytes());
            self.0.extend(kind.to_le_bytes());
            self.0.extend(count.to_le_bytes());
            self.0.extend(value.to_le_bytes());
        }
        self.0.extend(next.to_le_bytes());
        self
    }
    fn raw(mut self, bytes: &[u8]) -> Tiff {
        self.0.extend_from_slice(bytes);
        self
    }
    fn app1(self) -> (u8, Vec<u8>) {
        let mut p = b"Exif\0\0".to_vec();
        p.extend(self.0);
        (0xE1, p)
    }
}

const ASCII: u16 = 2;
const SHORT: u16 = 3;
const LONG: u16 = 4;

#[test]
fn broken_exif_is_a_warning_and_the_picture_is_still_analysed() {
    let e = engine();
    let base = base_jpeg();
    let cases: Vec<(&str, Tiff)> = vec![
        ("IFD0 offset past the end", Tiff::new(0xFFFF_FF00)),
        (
            "value offset past the end",
            Tiff::new(8).ifd(&[(0x010F, ASCII, 100, 0x7FFF_0000)], 0),
        ),
        (
            "absurd entry count",
            Tiff::new(8).raw(&0xFFFFu16.to_le_bytes()).raw(&[0; 24]),
        ),
        (
            "absurd value count (count × 4 overflows 32 bits)",
            Tiff::new(8).ifd(&[(0x0111, LONG, 0x4000_0001, 8)], 0),
        ),
        (
            "IFD0 whose next IFD is itself",
            Tiff::new(8).ifd(&[(0x0112, SHORT, 1, 1)], 8),
        ),
        (
            "Exif IFD pointer back to IFD0",
            Tiff::new(8).ifd(&[(0x8769, LONG, 1, 8)], 0),
        ),
        (
            "GPS IFD pointer back to IFD0",
            Tiff::new(8).ifd(&[(0x8825, LONG, 1, 8)], 0),
        ),
        (
            "two IFDs pointing at each other",
            Tiff::new(8)
                .ifd(&[(0x0112, SHORT, 1, 1)], 26)
                .ifd(&[(0x0201, LONG, 1, 8)], 8),
        ),
        (
            "thumbnail range past the end",
            Tiff::new(8).ifd(&[(0x0112, SHORT, 1, 1)], 26).ifd(
                &[(0x0201, LONG, 1, 0xFFFF_FFF0), (0x0202, LONG, 1, 0xFFFF)],
                0,
            ),
        ),
        (
            "thumbnail offset + length overflow",
            Tiff::new(8)
                .ifd(&[(0x0112, SHORT, 1, 1)], 26)
                .ifd(&[(0x0201, LONG, 1, 56), (0x0202, LONG, 1, 0xFFFF_FFFF)], 0),
        ),
        (
            "orientation out of range",
            Tiff::new(8).ifd(&[(0x0112, SHORT, 1, 999)], 0),
        ),
    ];
    for (what, tiff) in cases {
        let bytes = with_segments(&base, &[tiff.app1()]);
        let r = analyse(&e, what, bytes);
        // The picture itself is fine: it is decoded and hashed whatever the EXIF says.
        assert!(r.errors.is_empty(), "{what}: {:?}", r.errors);
        assert!(r.hashes.contains_key("pdq"), "{what}");
        let m = r.metadata.as_ref().unwrap();
        let damaged = r.findings.iter().any(|f| f.code == "metadata_damaged");
        let noted = !m.warnings.is_empty() || damaged;
        if what != "orientation out of range" {
            assert!(
                noted,
                "{what}: broken EXIF went unremarked: {:?}",
                m.warnings
            );
        }
        assert!(
            m.warnings.iter().all(|w| w.len() < 2000),
            "{what}: warnings stay short"
        );
    }
    assert_no_own_panics();
}

#[test]
fn huge_xmp_and_icc_stay_within_the_metadata_limit() {
    let e = engine();
    let base = base_jpeg();
    // XMP: the largest single segment, deeply nested, with an entity
    // declaration (never expanded), plus 300 ExtendedXMP segments.
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    xmp.extend_from_slice(
        b"<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaaaaaaaa\">]><x:xmpmeta xmlns:x=\"adobe:ns:meta/\">",
    );
    while xmp.len() < 60_000 {
        xmp.extend_from_slice(b"<rdf:a>&a;");
    }
    let mut segments = vec![(0xE1, xmp)];
    for i in 0..300u32 {
        let mut ext = b"http://ns.adobe.com/xmp/extension/\0".to_vec();
        ext.extend_from_slice(&[b'0'; 32]);
        ext.extend((300 * 60_000u32).to_be_bytes());
        ext.extend((i * 60_000).to_be_bytes());
        ext.resize(60_040, b'x');
        segments.push((0xE1, ext));
    }
    // ICC: 250 chunks of 64 000 bytes = 16 MB of profile.
    for seq in 1..=250u8 {
        let mut icc = b"ICC_PROFILE\0".to_vec();
        icc.extend([seq, 250]);
        icc.resize(64_014, seq);
        segments.push((0xE2, icc));
    }
    let bytes = with_segments(&base, &segments);
    let r = analyse(&e, "huge.jpg", bytes.clone());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r.hashes.contains_key("pdq"));
    let c = r.metadata.as_ref().unwrap().container.as_ref().unwrap();
    assert!(c.jpeg.as_ref().unwrap().icc);

    // The same file under a 1 MiB metadata limit: both blocks are refused with a
    // warning that names the limit, and the picture is still analysed.
    let tight = Engine::new(
        Config {
            limits: Limits {
                max_metadata_bytes: 1 << 20,
                ..Limits::default()
            },
            ..Config::default()
        },
        None,
    )
    .unwrap();
    let r = analyse(&tight, "huge.jpg", bytes);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let c = r.metadata.as_ref().unwrap().container.as_ref().unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("ICC") && w.contains("limit")),
        "{:?}",
        c.warnings
    );
    assert!(c.icc_description.is_none());
    assert_no_own_panics();
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel),
    )
    .unwrap()
}

/// Byte ranges of the JPEG segments with `marker` (payload only).
fn segment_ranges(bytes: &[u8], marker: u8) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut pos = 2;
    while pos + 4 <= bytes.len() && bytes[pos] == 0xFF {
        let m = bytes[pos + 1];
        let len = usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]));
        if m == 0xDA {
            break;
        }
        if m == marker {
            out.push(pos + 4..(pos + 2 + len).min(bytes.len()));
        }
        pos += 2 + len;
    }
    out
}

#[test]
fn content_credentials_survive_truncation_and_bit_flips() {
    let e = engine();
    let mut rng = Rng(0xC2BA_0000_0001);
    for name in [
        "c2pa/signed.jpg",
        "c2pa/signed.png",
        "c2pa/ims_multiple_manifests.jpg",
    ] {
        let bytes = fixture(name);
        let whole = analyse(&e, name, bytes.clone());
        let c2pa = |r: &retrace::Report| {
            r.metadata
                .as_ref()
                .and_then(|m| m.container.as_ref())
                .and_then(|c| c.c2pa.clone())
        };
        assert!(c2pa(&whole).is_some(), "{name}: fixture has a manifest");
        for k in 1..24 {
            let cut = bytes.len() * k / 24;
            let r = analyse(&e, name, bytes[..cut].to_vec());
            assert_eq!(r.bytes, Some(cut as u64));
        }
        // Flips inside the manifest store reach the JUMBF, CBOR, COSE and
        // X.509 parsers instead of the image decoder.
        let store: Vec<usize> = if name.ends_with(".jpg") {
            segment_ranges(&bytes, 0xEB).into_iter().flatten().collect()
        } else {
            let at = bytes.windows(4).position(|w| w == b"caBX").unwrap();
            let len = u32::from_be_bytes(bytes[at - 4..at].try_into().unwrap()) as usize;
            (at + 4..at + 4 + len).collect()
        };
        assert!(store.len() > 1000, "{name}: store found");
        let mut changed = 0;
        for _ in 0..40 {
            let mut b = bytes.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = store[(rng.next() % store.len() as u64) as usize];
                b[i] ^= 1 << (rng.next() % 8);
            }
            let r = analyse(&e, name, b);
            assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
            if c2pa(&r) != c2pa(&whole) {
                changed += 1;
            }
        }
        // Flips that never changed the reading never reached the parsers.
        assert!(changed > 20, "{name}: only {changed} of 40 flips noticed");
    }
    assert_no_own_panics();
}

/// A JPEG whose EXIF IFD1 thumbnail is `thumb`.
fn with_thumbnail(main: &[u8], thumb: &[u8]) -> Vec<u8> {
    let tiff = Tiff::new(8)
        .ifd(&[(0x0112, SHORT, 1, 1)], 26)
        .ifd(
            &[(0x0201, LONG, 1, 56), (0x0202, LONG, 1, thumb.len() as u32)],
            0,
        )
        .raw(thumb);
    with_segments(main, &[tiff.app1()])
}

#[test]
fn exif_thumbnails_survive_truncation_and_bit_flips() {
    let e = engine();
    let main = base_jpeg();
    let img = image::load_from_memory(&main).unwrap();
    let mut thumb = Vec::new();
    img.resize_exact(64, 48, image::imageops::FilterType::Triangle)
        .to_rgb8()
        .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut thumb, 80,
        ))
        .unwrap();
    let whole = analyse(&e, "thumb.jpg", with_thumbnail(&main, &thumb));
    assert!(
        whole.thumbnail_comparison.is_some(),
        "the thumbnail is compared"
    );
    let mut rng = Rng(0x7468_756D_6221);
    for k in 0..16 {
        let cut = thumb.len() * k / 16;
        // The IFD still claims the full length: the range overruns into the
        // main picture's bytes or is cut short.
        let mut bytes = with_thumbnail(&main, &thumb[..cut]);
        let tiff_len_at = 2 + 4 + 6 + 8 + 2 + 12 + 4 + 2 + 12 + 8;
        bytes[tiff_len_at..tiff_len_at + 4].copy_from_slice(&(thumb.len() as u32).to_le_bytes());
        let r = analyse(&e, "thumb.jpg", bytes);
        assert!(r.errors.is_empty(), "cut {cut}: {:?}", r.errors);
        assert!(r.hashes.contains_key("pdq"));
    }
    for _ in 0..60 {
        let mut t = thumb.clone();
        for _ in 0..1 + rng.next() % 6 {
            let i = 2 + (rng.next() % (t.len() as u64 - 2)) as usize;
            t[i] ^= 1 << (rng.next() % 8);
        }
        let r = analyse(&e, "thumb.jpg", with_thumbnail(&main, &t));
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }
    assert_no_own_panics();
}

/// The container's warnings of a report that has them.
fn container_warnings(r: &retrace::Report) -> &[String] {
    &r.metadata
        .as_ref()
        .expect("metadata")
        .container
        .as_ref()
        .expect("container")
        .warnings
}

/// A camera-like multi-picture file (`tests/fixtures/mpf/same.jpg`: a
/// big-endian MPF index listing the primary and a 240 px preview appended
/// after it), cut, flipped and given hostile entries. The primary picture is
/// never touched, so every report must be complete, without errors.
#[test]
fn mpf_indexes_survive_truncation_bit_flips_and_hostile_entries() {
    let e = engine();
    let base = fixture("mpf/same.jpg");
    let whole = analyse(&e, "mpf.jpg", base.clone());
    assert!(
        whole.preview_comparison.is_some(),
        "the preview is compared"
    );
    let seg = segment_ranges(&base, 0xE2)[0].clone();
    assert_eq!(&base[seg.start..seg.start + 4], b"MPF\0");
    // make.py's layout: TIFF header after `MPF\0`, the entry list 50 bytes on.
    let tiff = seg.start + 4;
    let list = tiff + 50;
    let be32 = |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let primary_len = be32(&base, list + 4) as usize;
    let check = |what: &str, bytes: Vec<u8>| {
        let r = analyse(&e, "mpf.jpg", bytes);
        assert!(r.errors.is_empty(), "{what}: {:?}", r.errors);
        assert!(r.hashes.contains_key("pdq"), "{what}");
        r
    };
    // The trailer cut anywhere: the preview is gone or undecodable, and the
    // index says it points past the end.
    for k in 0..8 {
        let cut = primary_len + (base.len() - primary_len) * k / 8;
        let r = check(&format!("cut at {cut}"), base[..cut].to_vec());
        let warnings = container_warnings(&r);
        assert!(
            warnings.iter().any(|w| w.contains("past the end")),
            "{warnings:?}"
        );
        assert!(r.preview_comparison.is_none());
    }
    // The segment cut short (its length field follows): the index is read
    // as far as it goes.
    for keep in [4, 8, 12, 20, 49, 60] {
        let mut b = base[..tiff + keep - 4].to_vec();
        let len = (b.len() - seg.start + 2) as u16;
        b[seg.start - 2..seg.start].copy_from_slice(&len.to_be_bytes());
        b.extend_from_slice(&base[seg.end..]);
        check(&format!("segment cut to {keep}"), b);
    }
    // Hostile entries: a million entries claimed, an offset that overflows,
    // a preview pointing into the index itself or at offset 0 (the primary's
    // own start), a size of 4 GiB.
    let patch = |at: usize, v: u32| {
        let mut b = base.clone();
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
        b
    };
    let count_field = tiff + 8 + 2 + 2 * 12 + 4;
    let preview = list + 16;
    // A million entries claimed: the two the segment holds are read, and
    // the claim is a warning.
    let r = check("a million entries", patch(count_field, 16_000_000));
    let warnings = container_warnings(&r);
    assert!(
        warnings.iter().any(|w| w.contains("claims 16000000 bytes")),
        "{warnings:?}"
    );
    assert!(r.preview_comparison.is_some());
    for (what, bytes) in [
        ("offset overflow", patch(preview + 8, 0xFFFF_FFF0)),
        ("into the index", patch(preview + 8, 8)),
        ("offset 0", patch(preview + 8, 0)),
        ("size 4 GiB", patch(preview + 4, u32::MAX)),
    ] {
        let r = check(what, bytes);
        assert!(r.preview_comparison.is_none(), "{what}");
    }
    // Bit flips anywhere in the index and the preview.
    let mut rng = Rng(0x6D70_6621);
    for _ in 0..32 {
        let mut b = base.clone();
        for _ in 0..1 + rng.next() % 4 {
            let span = (seg.end - tiff) + (base.len() - primary_len);
            let mut i = (rng.next() % span as u64) as usize;
            i = if i < seg.end - tiff {
                tiff + i
            } else {
                primary_len + i - (seg.end - tiff)
            };
            b[i] ^= 1 << (rng.next() % 8);
        }
        check("bit flips", b);
    }
    assert_no_own_panics();
}

/// The fuzz targets' own entry points (bytes → report, bytes → metadata).
#[path = "../../fuzz/fuzz_targets/common.rs"]
mod fuzz_entry;

/// Every input committed under `tests/fixtures/fuzz-regressions/<target>/`
/// (a crash libFuzzer found, kept once fixed) plus the fuzz seeds
/// (`tests/fixtures/{exif,container,c2pa,mpf,heif,animation}`) goes through the same function as
/// that fuzz target, so a crash found once stays a test even where cargo-fuzz
/// is not installed. Like libFuzzer, this fails on any panic, contained or
/// not: a contained one shows up as a `decoder panicked` error in the report.
#[test]
fn fuzz_regressions_and_seeds_run_clean_through_the_fuzz_targets() {
    watch_panics();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let files_in = |dir: &Path| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        v.retain(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"));
        v.sort();
        v
    };
    let seeds: Vec<_> = [
        "exif",
        "container",
        "c2pa",
        "mpf",
        "heif",
        "animation",
        "raw",
    ]
    .iter()
    .flat_map(|d| files_in(&fixtures.join(d)))
    .collect();
    let regressions = fixtures.join("fuzz-regressions");
    let mut ran = 0;
    for (target, own) in [
        ("analyze", files_in(&regressions.join("analyze"))),
        ("metadata", files_in(&regressions.join("metadata"))),
        ("jpeg_dc", files_in(&regressions.join("jpeg_dc"))),
        ("formats", files_in(&regressions.join("formats"))),
    ] {
        for path in seeds.iter().chain(&own) {
            let data = std::fs::read(path).unwrap();
            let outcome = std::panic::catch_unwind(|| match target {
                "analyze" => Some(fuzz_entry::analyze(&data)),
                "jpeg_dc" => {
                    fuzz_entry::jpeg_dc(&data);
                    None
                }
                "formats" => {
                    fuzz_entry::formats(&data);
                    None
                }
                _ => {
                    fuzz_entry::metadata(&data);
                    None
                }
            });
            let report = match outcome {
                Ok(r) => r,
                Err(_) => panic!("fuzz target {target} panics on {}", path.display()),
            };
            if let Some(r) = report {
                let contained: Vec<_> = r
                    .errors
                    .iter()
                    .filter(|e| e.message.contains("panicked"))
                    .collect();
                assert!(
                    contained.is_empty(),
                    "{target} on {}: {contained:?}",
                    path.display()
                );
            }
            ran += 1;
        }
    }
    // The seeds alone are 25 files, each through both targets.
    assert!(ran >= 2 * 25, "only {ran} inputs found under {fixtures:?}");
    assert_no_own_panics();
}

/// The `http` fuzz target's entry point: a client's raw bytes through the
/// service's connection handling and router (`src/bin/retrace/serve.rs`).
#[cfg(feature = "serve")]
#[path = "../../fuzz/fuzz_targets/http_common.rs"]
mod http_entry;

/// The `http` target's seeds (`fuzz/seeds/http/`: every endpoint, raw,
/// chunked and multipart bodies, a query string that does not parse,
/// pipelined requests) and every committed crash input for it go through the
/// same function as the target, which also checks that each answer is the
/// documented kind; a panic anywhere (handler, analysis, connection) fails.
#[cfg(feature = "serve")]
#[test]
fn http_fuzz_seeds_and_regressions_run_clean_through_the_request_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs: Vec<std::path::PathBuf> = Vec::new();
    for dir in ["fuzz/seeds/http", "tests/fixtures/fuzz-regressions/http"] {
        if let Ok(d) = std::fs::read_dir(root.join(dir)) {
            inputs.extend(
                d.map(|e| e.unwrap().path())
                    .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md")),
            );
        }
    }
    inputs.sort();
    assert!(inputs.len() >= 13, "only {} inputs", inputs.len());
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        let out = std::panic::catch_unwind(|| http_entry::serve_bytes(&data))
            .unwrap_or_else(|_| panic!("the http target panics on {}", path.display()));
        let statuses: Vec<String> = String::from_utf8_lossy(&out)
            .split("HTTP/1.")
            .skip(1)
            .map(|a| a.get(2..).unwrap_or(""))
            .map(|a| a.chars().take(3).collect())
            .collect();
        eprintln!("{}: {statuses:?}", path.display());
        assert!(
            out.starts_with(b"HTTP/1."),
            "{}: no answer: {:?}",
            path.display(),
            String::from_utf8_lossy(&out)
        );
    }
    // The seed that writes really reached the archive.
    let seed = std::fs::read(root.join("fuzz/seeds/http/archive-raw.http")).unwrap();
    let out = String::from_utf8_lossy(&http_entry::serve_bytes(&seed)).into_owned();
    assert!(
        out.starts_with("HTTP/1.1 201") || out.starts_with("HTTP/1.1 200"),
        "{out}"
    );
}
