//! The WebP walk: the XMP, ICC and C2PA chunks, from the chunks
//! `input::layout` found.

use super::Raw;
use crate::input::layout::WebpLayout;
use crate::metadata::c2pa::Carrier;

/// Most WebP chunks container forensics reads: a still picture has a
/// handful, an animation one a frame. It reads one more than this says, as
/// it always has (the count was checked after a chunk was read); the report
/// does not say it stopped.
const MAX_WEBP_CHUNKS_READ: usize = 10_000;

/// Reads the XMP, ICC and C2PA chunks from the chunks already walked, in
/// file order to the end of the bytes (the RIFF size is not the bound here:
/// a chunk appended without updating it is still read, as it always was).
pub(super) fn walk_webp(bytes: &[u8], webp: &WebpLayout, raw: &mut Raw) {
    for chunk in webp.chunks.iter().take(MAX_WEBP_CHUNKS_READ + 1) {
        let data = chunk.data(bytes);
        match &chunk.kind {
            b"XMP " if raw.xmp.is_none() => raw.xmp = Some(data.to_vec()),
            b"ICCP" if raw.icc.is_none() => raw.icc = Some(data.to_vec()),
            b"C2PA" if raw.c2pa.is_none() => raw.c2pa = Some((Carrier::WebpC2pa, data.to_vec())),
            _ => {}
        }
    }
}
