//! The embedded EXIF thumbnail (and the MPF preview, a larger copy cameras and
//! phones append after the picture) against the main picture. Cameras write the
//! thumbnail together with the picture; many editors rewrite the picture and
//! copy the EXIF block unchanged, so a thumbnail that shows something else
//! (another framing, removed or added content) is the trace of an edit.
//!
//! It owns the comparison of two decoded, oriented pictures by their hashes
//! and aspect ratios. Pure: no I/O, no decoding, no verdict wording (assess
//! writes the finding). It is part of `hash`, not `metadata`, which only says
//! where the thumbnails lie: the comparison is made of hashes, and a stage
//! uses only the stages before it.

use std::collections::BTreeMap;

use image::DynamicImage;
use serde::{Deserialize, Serialize};

use crate::hash::{self, variants, HashKind, Hashes};

/// What the comparison found. Part of the report (`thumbnail_comparison`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ThumbnailComparison {
    /// Thumbnail size as decoded and oriented.
    pub width: u32,
    /// Thumbnail size as decoded and oriented.
    pub height: u32,
    /// Uniform borders (the bars cameras add to fit 160×120) were removed first.
    pub trimmed: bool,
    /// Main picture width / height, after orientation.
    pub aspect_main: f32,
    /// Thumbnail width / height, after orientation and trimming.
    pub aspect_thumbnail: f32,
    /// Hamming distance per algorithm between the two pictures.
    pub distance: BTreeMap<String, u32>,
    /// Both PDQ hashes reach the quality at which PDQ decides.
    pub pdq_reliable: bool,
    /// The verdict under [`Thresholds`]: the thumbnail shows the main picture.
    pub same_picture: bool,
    /// The HEIF thumbnail item compared (its id in
    /// `metadata.container.heif.items`); null for an EXIF thumbnail or an
    /// MPF preview.
    #[serde(default)]
    pub heif_item: Option<u32>,
}

/// The MPF preview against the main picture. Part of the report
/// (`preview_comparison`): the fields of [`ThumbnailComparison`], measured the
/// same way under the same [`Thresholds`] (`aspect_thumbnail` is the
/// preview's), plus which MPF entry was compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PreviewComparison {
    /// The entry's `number` in `metadata.container.jpeg.mpf_images`.
    pub mpf_entry: u32,
    /// Its MP type code (`0x010001` VGA or `0x010002` full-HD large thumbnail).
    pub type_code: u32,
    /// The comparison itself.
    #[serde(flatten)]
    pub comparison: ThumbnailComparison,
}

impl ThumbnailComparison {
    /// The distances in words for findings and pages: `pdq 14, phash 2, ...`.
    pub fn distances(&self) -> String {
        self.distance
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Distances above which the thumbnail shows another picture or framing.
/// Measured with `cargo run --features examples --example thumbnails` (see docs/metadata.md,
/// "Thumbnail vs image"): camera files with their own thumbnails against the same files
/// cropped or edited and against other files' thumbnails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// PDQ, used when both hashes are reliable.
    pub pdq: u32,
    /// pHash, used with dHash when PDQ cannot decide.
    pub phash: u32,
    /// dHash, used with pHash when PDQ cannot decide.
    pub dhash: u32,
    /// Lowest PDQ quality that counts as reliable.
    pub pdq_min_quality: u8,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            pdq: 70,
            phash: 16,
            dhash: 18,
            pdq_min_quality: 50,
        }
    }
}

/// Compare the oriented main picture's hashes and size with the oriented thumbnail.
pub fn compare(
    main: &Hashes,
    main_size: (u32, u32),
    thumb: &DynamicImage,
    t: &Thresholds,
) -> ThumbnailComparison {
    let (width, height) = (thumb.width(), thumb.height());
    let gray = thumb.to_luma8();
    let window = variants::trim_window(&gray);
    let view = match &window {
        Some(w) => {
            let (x, y, cw, ch) = w.pixels(width, height);
            thumb.crop_imm(x, y, cw, ch)
        }
        None => thumb.clone(),
    };
    let th = hash::compute(&view);
    let mut distance = BTreeMap::new();
    for kind in [HashKind::Pdq, HashKind::Phash, HashKind::Dhash] {
        if let (Some(a), Some(b)) = (main.get(kind), th.get(kind)) {
            if let Some(d) = a.distance(&b) {
                distance.insert(kind.name().to_string(), d);
            }
        }
    }
    let pdq_reliable = [main.pdq_quality, th.pdq_quality]
        .iter()
        .all(|q| q.is_some_and(|q| q >= t.pdq_min_quality));
    let d = |k: &str| distance.get(k).copied();
    let same_picture = match (pdq_reliable, d("pdq")) {
        (true, Some(p)) => p <= t.pdq,
        // Both 64-bit hashes must say "different" before an edit is claimed.
        _ => !(d("phash").is_some_and(|x| x > t.phash) && d("dhash").is_some_and(|x| x > t.dhash)),
    };
    let ratio = |w: u32, h: u32| w as f32 / h.max(1) as f32;
    ThumbnailComparison {
        width,
        height,
        trimmed: window.is_some(),
        aspect_main: ratio(main_size.0, main_size.1),
        aspect_thumbnail: ratio(view.width(), view.height()),
        distance,
        pdq_reliable,
        same_picture,
        heif_item: None,
    }
}
