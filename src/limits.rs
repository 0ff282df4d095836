//! Every size and count cap lives here, with conservative defaults. Images come
//! from strangers: no stage may allocate based on a number read from a file
//! without checking it against these limits first.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Hard ceiling for the nesting caps (`max_jumbf_depth`, `max_cbor_depth`):
/// their parsers recurse, and a stack overflow aborts the process, which no
/// per-file boundary can contain. Not even [`Limits::none`] goes past it.
pub const MAX_NESTING: usize = 256;

/// Caps applied to every input. Exceeding one is a per-file error, never an abort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest file read, in bytes.
    pub max_file_bytes: u64,
    /// Largest accepted image width in pixels.
    pub max_width: u32,
    /// Largest accepted image height in pixels.
    pub max_height: u32,
    /// Largest accepted width × height.
    pub max_pixels: u64,
    /// Largest single allocation the image decoder may make, in bytes.
    pub max_decoder_alloc: u64,
    /// Largest metadata block (EXIF, XMP, ICC, …) parsed, in bytes.
    pub max_metadata_bytes: u64,
    /// Deepest folder level walked below each given path (`--max-depth`;
    /// a folder left unwalked because of it is reported, not skipped silently).
    pub max_depth: usize,
    /// Most JUMBF boxes read from one Content Credentials (C2PA) store.
    pub max_jumbf_boxes: usize,
    /// Deepest nesting of JUMBF superboxes followed.
    pub max_jumbf_depth: usize,
    /// Most manifests read from one C2PA store (each is verified).
    pub max_c2pa_manifests: usize,
    /// Deepest nesting of CBOR arrays, maps and tags decoded.
    pub max_cbor_depth: usize,
    /// Most certificates read from one signature's chain.
    pub max_cert_chain: usize,
    /// Most ISO BMFF boxes (HEIF, AVIF) walked to check a C2PA BMFF hash
    /// or to list a HEIF file's items.
    pub max_bmff_boxes: usize,
    /// Most tiles of a HEIF grid decoded (the grid's size is checked
    /// against the pixel caps as well, before any tile is decoded).
    pub max_heif_tiles: u64,
    /// Most frames of an animation (GIF, WebP, APNG) decoded to count them
    /// and compare them with the first; the report says when there were more.
    pub max_frames: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 200 * 1024 * 1024,
            max_width: 30_000,
            max_height: 30_000,
            // 150 MP covers medium-format cameras and panoramas.
            max_pixels: 150_000_000,
            max_decoder_alloc: 1024 * 1024 * 1024,
            max_metadata_bytes: 16 * 1024 * 1024,
            max_depth: 64,
            // A real store has a few dozen boxes per manifest and a handful of
            // manifests; these leave room for long edit histories.
            max_jumbf_boxes: 10_000,
            max_jumbf_depth: 16,
            max_c2pa_manifests: 64,
            max_cbor_depth: 64,
            max_cert_chain: 16,
            // A still HEIF has a dozen boxes on the walked paths; a long
            // fragmented video has a few per fragment.
            max_bmff_boxes: 100_000,
            // A 48 MP phone picture in 512 px tiles has 192; 4096 such
            // tiles are 1 gigapixel, far over `max_pixels` anyway.
            max_heif_tiles: 4096,
            // Each frame is a full canvas: 500 frames of a 1000 px GIF are
            // 2 GB decoded one after the other, a few seconds' work.
            max_frames: 500,
        }
    }
}

impl Limits {
    /// Refuse a picture of `width` × `height` pixels over [`Limits::max_width`],
    /// [`Limits::max_height`] or [`Limits::max_pixels`], before anything is
    /// allocated for its pixels.
    ///
    /// # Errors
    ///
    /// [`Error::Limit`] naming the cap that was exceeded.
    pub fn check_dimensions(&self, width: u32, height: u32) -> Result<()> {
        if width > self.max_width {
            return Err(Error::Limit {
                what: "image width in pixels",
                actual: width.into(),
                limit: self.max_width.into(),
            });
        }
        if height > self.max_height {
            return Err(Error::Limit {
                what: "image height in pixels",
                actual: height.into(),
                limit: self.max_height.into(),
            });
        }
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels {
            return Err(Error::Limit {
                what: "image pixel count",
                actual: pixels,
                limit: self.max_pixels,
            });
        }
        Ok(())
    }

    /// Refuse a file of `bytes` bytes over [`Limits::max_file_bytes`].
    ///
    /// # Errors
    ///
    /// [`Error::Limit`] with the size and the cap.
    pub fn check_file_size(&self, bytes: u64) -> Result<()> {
        if bytes > self.max_file_bytes {
            return Err(Error::Limit {
                what: "file size in bytes",
                actual: bytes,
                limit: self.max_file_bytes,
            });
        }
        Ok(())
    }

    /// No practical limits; only for trusted inputs, and only when asked for.
    pub fn none() -> Self {
        Limits {
            max_file_bytes: u64::MAX,
            max_width: u32::MAX,
            max_height: u32::MAX,
            max_pixels: u64::MAX,
            max_decoder_alloc: u64::MAX,
            max_metadata_bytes: u64::MAX,
            max_depth: usize::MAX,
            max_jumbf_boxes: usize::MAX,
            // Recursion depth stays bounded even here: the stack is not a limit
            // anyone can lift.
            max_jumbf_depth: MAX_NESTING,
            max_c2pa_manifests: usize::MAX,
            max_cbor_depth: MAX_NESTING,
            max_cert_chain: usize::MAX,
            max_bmff_boxes: usize::MAX,
            max_heif_tiles: u64::MAX,
            max_frames: usize::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checks_refuse_one_past_each_cap_and_name_it() {
        let l = Limits {
            max_width: 100,
            max_height: 50,
            max_pixels: 4000,
            max_file_bytes: 10,
            ..Limits::default()
        };
        assert!(l.check_dimensions(100, 40).is_ok());
        let what = |r: Result<()>| match r {
            Err(Error::Limit { what, .. }) => what,
            other => panic!("{other:?}"),
        };
        assert_eq!(what(l.check_dimensions(101, 1)), "image width in pixels");
        assert_eq!(what(l.check_dimensions(1, 51)), "image height in pixels");
        assert_eq!(what(l.check_dimensions(100, 41)), "image pixel count");
        assert!(l.check_file_size(10).is_ok());
        assert_eq!(what(l.check_file_size(11)), "file size in bytes");
        assert!(Limits::none().check_dimensions(u32::MAX, u32::MAX).is_ok());
    }
}
