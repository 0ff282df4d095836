//! What the fuzz targets run, shared with `tests/library/hostile.rs`, which runs every
//! committed crash input (`tests/fixtures/fuzz-regressions/`) through these
//! same functions, so a crash found once stays a test without cargo-fuzz.
//!
//! The limits are smaller than the defaults: those allow 150-megapixel
//! pictures and 1 GiB decoder allocations, which libFuzzer would report as
//! out-of-memory or slow inputs rather than bugs. The code paths are the same.

// Each fuzz target uses only its half of this file.
#![allow(dead_code)]

use std::sync::OnceLock;

use retrace::internals::input::layout::{
    BmffEnd, BmffLayout, End, ExifSegment, JpegLayout, Layout, PngEnd, PngLayout, WebpLayout,
    MAX_BMFF_BOXES_KEPT, MAX_PNG_CHUNKS_KEPT, MAX_WEBP_CHUNKS_KEPT,
};
use retrace::internals::input::read::{sniff, Blob};
use retrace::internals::metadata::read_metadata_with;
use retrace::Limits;
use retrace::Report;
use retrace::{Config, Engine};

pub fn limits() -> Limits {
    Limits {
        max_pixels: 4_000_000,
        max_width: 8_000,
        max_height: 8_000,
        max_decoder_alloc: 256 * 1024 * 1024,
        max_metadata_bytes: 4 * 1024 * 1024,
        ..Limits::default()
    }
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let config = Config {
            limits: limits(),
            ..Config::default()
        };
        Engine::new(config, None).expect("engine without archive")
    })
}

/// The `analyze` target: bytes → finished report → JSON.
pub fn analyze(data: &[u8]) -> Report {
    let e = engine();
    let blob = Blob::from_bytes(data.to_vec());
    let mut ex = e.examine_blob("fuzz".to_string(), &blob);
    e.analyze(&mut ex);
    // The report must always serialise: it is the contract with every consumer.
    let mut out = Vec::new();
    retrace::internals::report::write_json(&mut out, &ex.report).expect("report serialises");
    ex.report
}

/// The `metadata` target: the format as the pipeline would sniff it, so that
/// inputs mutate across formats.
pub fn metadata(data: &[u8]) {
    // The container read once, as the pipeline reads it, then the metadata
    // from it; the JPEG walk is held to what it promises on every input,
    // whatever the format sniffed.
    let format = sniff(data);
    let layout = Layout::read(data, format);
    jpeg_layout(data);
    png_layout(data);
    webp_layout(data);
    let _ = read_metadata_with(data, format, &layout, &limits());
}

/// What [`BmffLayout`] promises its readers: boxes back to back from
/// offset 0, each inside the bytes with its content after its header, at
/// most the cap kept, and the list reaching the end of the bytes exactly
/// when the walk says it did.
pub fn bmff_layout(data: &[u8]) -> BmffLayout {
    let l = BmffLayout::read(data);
    assert!(l.boxes.len() <= MAX_BMFF_BOXES_KEPT);
    let mut at = 0;
    for b in &l.boxes {
        assert_eq!(b.offset, at, "boxes back to back");
        assert!(b.content >= b.offset + 8 && b.content <= b.end());
        assert!(b.end() <= data.len());
        assert_eq!(data.get(b.offset + 4..b.offset + 8), Some(&b.kind[..]));
        at = b.end();
    }
    assert_eq!(l.end == BmffEnd::Eof, at == data.len());
    l
}

/// What [`WebpLayout`] promises its readers: chunks back to back from
/// offset 12 (each odd one followed by its pad byte), each one's data inside
/// the bytes and as long as its size field, at most the cap kept, and an
/// `EXIF` block vouched for only inside the RIFF size.
pub fn webp_layout(data: &[u8]) {
    let w = WebpLayout::read(data);
    assert!(w.chunks.len() <= MAX_WEBP_CHUNKS_KEPT);
    let mut at = 12;
    for c in &w.chunks {
        assert_eq!(c.offset, at, "chunks back to back");
        let len = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap());
        assert_eq!(c.payload, at + 8..at + 8 + len as usize);
        assert!(c.payload.end <= data.len());
        assert_eq!(&data[at..at + 4], &c.kind);
        at = c.payload.end + (len as usize & 1);
    }
    match w.exif(data) {
        ExifSegment::At(r) => {
            assert!(r.end <= w.riff_end().unwrap());
            assert_eq!(data.get(r.start - 8..r.start - 4), Some(&b"EXIF"[..]));
        }
        ExifSegment::Absent => assert!(w.riff_end().is_some_and(|e| e <= data.len())),
        ExifSegment::Unsure => {}
    }
}

/// What [`PngLayout`] promises its readers: chunks back to back from offset
/// 8, each one's data inside the bytes and as long as its length field, at
/// most the cap kept, IEND last when the walk reached it, and an `eXIf`
/// block vouched for only where one is.
pub fn png_layout(data: &[u8]) {
    let p = PngLayout::read(data);
    assert!(p.chunks.len() <= MAX_PNG_CHUNKS_KEPT);
    let mut at = 8;
    for c in &p.chunks {
        assert_eq!(c.offset, at, "chunks back to back");
        let len = u32::from_be_bytes(data[at..at + 4].try_into().unwrap());
        assert_eq!(c.payload, at + 8..at + 8 + len as usize);
        assert!(c.payload.end <= data.len());
        assert_eq!(&data[at + 4..at + 8], &c.kind);
        at = c.payload.end + 4;
    }
    if p.reached_iend() && p.chunks_dropped == 0 {
        assert_eq!(p.chunks.last().map(|c| &c.kind), Some(b"IEND"));
    }
    match p.exif(data) {
        ExifSegment::At(r) => {
            assert!(p.signature);
            assert_eq!(data.get(r.start - 4..r.start), Some(&b"eXIf"[..]));
        }
        ExifSegment::Absent => assert_eq!(p.end, PngEnd::Iend { trailing: 0 }),
        ExifSegment::Unsure => {}
    }
}

/// What [`JpegLayout`] promises its readers: segments in file order, each
/// inside the bytes with a payload its length field measures, EOI last when
/// the walk is complete, and the header-only walk a prefix of the full one
/// that gives the same frame size.
pub fn jpeg_layout(data: &[u8]) {
    let full = JpegLayout::read(data);
    let mut after = 0;
    for (i, s) in full.segments.iter().enumerate() {
        assert!(i == 0 || s.offset >= after.max(2), "segments out of order");
        assert_eq!(
            data.get(s.offset..s.offset + 2),
            Some(&[0xFF, s.marker][..])
        );
        assert!(s.payload.start <= s.payload.end && s.payload.end <= data.len());
        if s.length > 0 {
            assert_eq!(s.payload.len() + 2, s.length);
        } else {
            assert!(s.payload.is_empty());
        }
        after = s.payload.end;
    }
    assert_eq!(full.reached_eoi(), full.end == End::Eoi);
    assert!(!full.complete() || full.reached_eoi());
    if full.reached_eoi() && full.segments_dropped == 0 {
        assert_eq!(full.segments.last().map(|s| s.marker), Some(0xD9));
    }
    let headers = JpegLayout::headers(data);
    assert!(headers.segments.len() <= full.segments.len());
    assert_eq!(
        headers.segments[..],
        full.segments[..headers.segments.len()]
    );
    assert_eq!(headers.frame_size(data), full.frame_size(data));
    if let ExifSegment::At(r) = headers.exif(data) {
        assert_eq!(full.exif(data), ExifSegment::At(r));
    }
}

/// The `jpeg_dc` target: the DC-only decoder directly (the pipeline reaches
/// it only for JPEGs over ~3000 px, which mutated inputs rarely declare),
/// both its outputs, which must agree on the size.
pub fn jpeg_dc(data: &[u8]) {
    let limits = limits();
    if let Some(l) = retrace::internals::decode::jpeg_dc::luma(data, &limits) {
        let dims = retrace::internals::decode::jpeg_frame_size(data);
        if let Some(p) =
            dims.and_then(|d| retrace::internals::decode::jpeg_dc::decode(data, d, &limits))
        {
            assert_eq!((p.width(), p.height()), l.dimensions());
            // From the whole file's layout, as the pipeline decodes it: the
            // same picture as from the headers alone.
            let full = JpegLayout::read(data);
            let q = dims.and_then(|d| {
                retrace::internals::decode::jpeg_dc::decode_with(data, &full, d, &limits)
            });
            assert_eq!(q.as_ref().map(|q| q.as_bytes()), Some(p.as_bytes()));
        }
    }
}

/// The `formats` target: the parsers of the formats that reach pixels
/// through more than one picture — the HEIF item structure and its decoder
/// (libheif when built with `--features heif`, else the clear error), the
/// RAW preview walk for every RAW container, and the frames of an animation.
pub fn formats(data: &[u8]) {
    let limits = limits();
    let mut warnings = Vec::new();
    // The top-level boxes walked once, as the pipeline walks them, then the
    // item structure from them.
    let boxes = bmff_layout(data);
    let _ =
        retrace::internals::input::heif::read_structure_with(data, &boxes, &limits, &mut warnings);
    let _ = retrace::internals::decode::decode_heif(data, None, None, &limits);
    for kind in [
        retrace::internals::input::raw::RawKind::Tiff,
        retrace::internals::input::raw::RawKind::VendorTiff,
        retrace::internals::input::raw::RawKind::Cr3,
        retrace::internals::input::raw::RawKind::Raf,
    ] {
        let _ = retrace::internals::input::raw::largest_preview(data, kind);
    }
    let _ = retrace::internals::input::raw::is_tiff_raw(data);
    let _ = retrace::internals::input::raw::cr3_exif_tiff(data);
    let blob = Blob::from_bytes(data.to_vec());
    let _ = retrace::internals::decode::frames(&blob, &limits, 64, |_, _, _| {
        std::ops::ControlFlow::Continue(())
    });
}
