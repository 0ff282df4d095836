//! The Multi-Picture Format index (CIPA DC-007): the APP2 `MPF` segment in
//! which cameras and phones list the other pictures they append after the
//! first one's end-of-image marker — a larger preview ("large thumbnail"),
//! gain maps and depth maps (phones, type "undefined"), stereo and panorama
//! frames.
//!
//! It owns reading that index and checking every entry against the file, and
//! choosing which entry is the preview. It must not decode pixels or judge.
//! The index is a TIFF structure whose every offset and count comes from a
//! stranger: each is checked against the segment or the file before use, the
//! entry count is capped at [`MAX_MPF_ENTRIES`], and problems become warnings.

use serde::{Deserialize, Serialize};

/// Most index entries kept. Real files list two to four (a stereo or
/// multi-angle camera a few more); the segment itself could hold about 4000.
pub const MAX_MPF_ENTRIES: usize = 64;

/// The MP Entry tag (MPImageList in ExifTool): 16 bytes per picture.
const TAG_MP_ENTRY: u16 = 0xB002;
/// NumberOfImages.
const TAG_NUMBER_OF_IMAGES: u16 = 0xB001;

/// One picture the MPF index lists. Part of the report under
/// `metadata.container.jpeg.mpf_images`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MpfImage {
    /// Entry number from 1, in index order: the numbering the dependent-image
    /// fields use (ExifTool's `MPImage1`, `MPImage2`, …).
    pub number: u32,
    /// The attribute word as stored: flags in bits 27–31 (representative,
    /// dependent child, dependent parent), format in bits 24–26 (0 = JPEG),
    /// type in bits 0–23.
    pub attributes: u32,
    /// The MP type code (bits 0–23): `0x030000` (196608) baseline primary,
    /// `0x010001` / `0x010002` (65537 / 65538) large thumbnail VGA / full HD,
    /// `0x020001`–`0x020003` panorama / disparity / multi-angle frame,
    /// `0` undefined (what phones give gain maps and depth maps).
    pub type_code: u32,
    /// The type's name as CIPA DC-007 and ExifTool give it.
    pub type_name: String,
    /// Length in bytes, as recorded.
    pub size: u32,
    /// Offset as recorded: from the MPF segment's TIFF header (just after
    /// `MPF\0`); 0 for the first picture, which starts the file.
    pub offset: u32,
    /// Where the picture starts in the file.
    pub file_offset: u64,
    /// The whole recorded range lies inside the file.
    pub in_file: bool,
    /// The range lies inside the file and starts with a JPEG SOI marker.
    pub jpeg_soi: bool,
    /// The two dependent-image entry numbers (0: none).
    pub dependent: [u16; 2],
    /// This is the entry retrace compares with the main picture as its
    /// preview: the first large thumbnail, as ExifTool's `PreviewImage`.
    pub preview: bool,
}

/// The type's name as CIPA DC-007 (and ExifTool's `MPImageType`) give it.
pub fn type_name(code: u32) -> String {
    match code {
        0x000000 => "Undefined".into(),
        0x010001 => "Large Thumbnail (VGA equivalent)".into(),
        0x010002 => "Large Thumbnail (full HD equivalent)".into(),
        0x020001 => "Multi-frame Panorama".into(),
        0x020002 => "Multi-frame Disparity".into(),
        0x020003 => "Multi-angle".into(),
        0x030000 => "Baseline MP Primary Image".into(),
        c => format!("Unknown (0x{c:06X})"),
    }
}

/// Whether an entry of this type is a preview: a smaller copy of the same
/// picture, which must show what the main picture shows. Only the
/// large-thumbnail class (`0x01xxxx`, the test ExifTool uses for its
/// `PreviewImage`). Panorama frames and disparity or multi-angle views show
/// another part or another viewpoint of the scene, and the undefined type is
/// what phones give gain maps and depth maps: none of them is expected to
/// look like the picture, so none may ever count as a mismatch.
pub fn is_preview_type(code: u32) -> bool {
    code & 0x0F_0000 == 0x01_0000
}

/// A TIFF reader over the segment: every read is checked.
struct Tiff<'a> {
    b: &'a [u8],
    big: bool,
}

impl Tiff<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        let s = self.b.get(at..at.checked_add(2)?)?;
        let a = [s[0], s[1]];
        Some(if self.big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }
    fn u32(&self, at: usize) -> Option<u32> {
        let s = self.b.get(at..at.checked_add(4)?)?;
        let a = [s[0], s[1], s[2], s[3]];
        Some(if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }
}

/// The index read from one MPF segment.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub images: Vec<MpfImage>,
    /// More entries were listed than [`MAX_MPF_ENTRIES`].
    pub truncated: bool,
}

/// Read the MP Index IFD from `tiff` (the segment's bytes after `MPF\0`),
/// which starts at `tiff_at` in `file`. Segments without an index (the
/// attribute-only segments of the appended pictures) give no entries and no
/// warning.
pub(crate) fn read_index(
    tiff: &[u8],
    tiff_at: usize,
    file: &[u8],
    warnings: &mut Vec<String>,
) -> Index {
    let mut index = Index::default();
    let big = match tiff.get(..4) {
        Some(b"MM\0*") => true,
        Some(b"II*\0") => false,
        _ => {
            warnings.push("MPF: no TIFF header after MPF\\0; index not read".into());
            return index;
        }
    };
    let t = Tiff { b: tiff, big };
    let Some(ifd) = t.u32(4).and_then(|o| usize::try_from(o).ok()) else {
        warnings.push("MPF: truncated TIFF header".into());
        return index;
    };
    let Some(count) = t.u16(ifd) else {
        warnings.push(format!(
            "MPF: index IFD at {ifd} lies outside its {}-byte segment",
            tiff.len()
        ));
        return index;
    };
    let mut list: Option<(u32, u32)> = None;
    let mut claimed_images = None;
    for i in 0..usize::from(count) {
        // 2 + 12·i cannot overflow: count is a u16.
        let at = ifd + 2 + 12 * i;
        let (Some(tag), Some(n), Some(value)) = (t.u16(at), t.u32(at + 4), t.u32(at + 8)) else {
            warnings.push(format!(
                "MPF: index IFD claims {count} fields, the segment holds {i}"
            ));
            break;
        };
        match tag {
            TAG_MP_ENTRY if list.is_none() => list = Some((n, value)),
            TAG_NUMBER_OF_IMAGES => claimed_images = Some(value),
            _ => {}
        }
    }
    let Some((bytes, at)) = list else {
        return index;
    };
    // Entries are 16 bytes, so a list is never short enough to sit in the
    // field itself: `at` is always an offset.
    let start = usize::try_from(at).unwrap_or(usize::MAX);
    let want = usize::try_from(bytes).unwrap_or(usize::MAX);
    let avail = tiff.get(start..).map_or(0, <[u8]>::len);
    if want > avail {
        warnings.push(format!(
            "MPF: the entry list claims {want} bytes at {start}, the segment holds {avail}; only the entries that fit were read"
        ));
    }
    let listed = want.min(avail) / 16;
    if let Some(n) = claimed_images.filter(|&n| usize::try_from(n).ok() != Some(listed)) {
        warnings.push(format!(
            "MPF: NumberOfImages says {n}, the entry list holds {listed}"
        ));
    }
    if listed > MAX_MPF_ENTRIES {
        warnings.push(format!(
            "MPF: {listed} entries listed; only the first {MAX_MPF_ENTRIES} kept"
        ));
        index.truncated = true;
    }
    let mut preview_chosen = false;
    for k in 0..listed.min(MAX_MPF_ENTRIES) {
        let e = start + 16 * k;
        let (Some(attributes), Some(size), Some(offset), Some(d1), Some(d2)) = (
            t.u32(e),
            t.u32(e + 4),
            t.u32(e + 8),
            t.u16(e + 12),
            t.u16(e + 14),
        ) else {
            break;
        };
        let number = k as u32 + 1;
        let type_code = attributes & 0x00FF_FFFF;
        // Offset 0 is the first picture, which starts the file; anything else
        // counts from the TIFF header. A saturated sum lies past any file.
        let file_offset = if offset == 0 {
            0
        } else {
            (tiff_at as u64).saturating_add(u64::from(offset))
        };
        let end = file_offset.saturating_add(u64::from(size));
        let in_file = size > 0 && end <= file.len() as u64;
        let jpeg_soi = in_file
            && usize::try_from(file_offset)
                .ok()
                .and_then(|o| file.get(o..o.checked_add(2)?))
                == Some(&[0xFF, 0xD8][..]);
        // ExifTool's choice: the first large thumbnail with a place and a size,
        // usable or not (a broken first one is reported, not replaced).
        let preview = !preview_chosen && offset != 0 && size != 0 && is_preview_type(type_code);
        preview_chosen |= preview;
        let name = type_name(type_code);
        if size > 0 && !in_file {
            warnings.push(format!(
                "MPF: image {number} ({name}) claims bytes {file_offset}..{end}, past the end of the {}-byte file: the file was cut or rewritten after the index was written",
                file.len()
            ));
        } else if in_file && !jpeg_soi {
            warnings.push(format!(
                "MPF: image {number} ({name}) at byte {file_offset} does not start with a JPEG SOI marker: the index no longer fits the file"
            ));
        }
        index.images.push(MpfImage {
            number,
            attributes,
            type_code,
            type_name: name,
            size,
            offset,
            file_offset,
            in_file,
            jpeg_soi,
            dependent: [d1, d2],
            preview,
        });
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An MPF segment body (after `MPF\0`) listing `entries` as
    /// (attributes, size, offset), big- or little-endian.
    fn segment(big: bool, entries: &[(u32, u32, u32)]) -> Vec<u8> {
        let w16 = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w32 = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut b = if big {
            b"MM\0*".to_vec()
        } else {
            b"II*\0".to_vec()
        };
        b.extend(w32(8));
        b.extend(w16(3));
        let list_at = 8 + 2 + 3 * 12 + 4;
        for (tag, kind, n, v) in [
            (0xB000u16, 7u16, 4u32, u32::from_be_bytes(*b"0100")),
            (0xB001, 4, 1, entries.len() as u32),
            (0xB002, 7, 16 * entries.len() as u32, list_at),
        ] {
            b.extend(w16(tag));
            b.extend(w16(kind));
            b.extend(w32(n));
            b.extend(w32(v));
        }
        b.extend(w32(0));
        for &(a, s, o) in entries {
            b.extend(w32(a));
            b.extend(w32(s));
            b.extend(w32(o));
            b.extend(w16(0));
            b.extend(w16(0));
        }
        b
    }

    #[test]
    fn entries_are_read_in_both_byte_orders_and_checked_against_the_file() {
        // A 100-byte "file" with the TIFF header at 10 and a JPEG at 60.
        let mut file = vec![0u8; 100];
        file[..2].copy_from_slice(&[0xFF, 0xD8]);
        file[60..62].copy_from_slice(&[0xFF, 0xD8]);
        for big in [true, false] {
            let seg = segment(
                big,
                &[
                    (0x2003_0000, 100, 0),
                    (0x0001_0002, 40, 50),
                    (0x0001_0001, 40, 50),
                    (0, 80, 50),
                ],
            );
            let mut w = Vec::new();
            let ix = read_index(&seg, 10, &file, &mut w);
            let got: Vec<_> = ix
                .images
                .iter()
                .map(|m| (m.type_code, m.file_offset, m.in_file, m.jpeg_soi, m.preview))
                .collect();
            assert_eq!(
                got,
                [
                    (0x030000, 0, true, true, false),
                    (0x010002, 60, true, true, true),
                    // Only the first large thumbnail is the preview.
                    (0x010001, 60, true, true, false),
                    (0, 60, false, false, false),
                ]
            );
            assert_eq!(
                ix.images[1].type_name,
                "Large Thumbnail (full HD equivalent)"
            );
            assert_eq!(w.len(), 1, "{w:?}");
            assert!(w[0].contains("image 4") && w[0].contains("past the end"));
        }
    }

    #[test]
    fn only_large_thumbnails_are_previews() {
        for (code, preview) in [
            (0x010001, true),
            (0x010002, true),
            (0x000000, false),
            (0x020001, false),
            (0x020002, false),
            (0x020003, false),
            (0x030000, false),
        ] {
            assert_eq!(is_preview_type(code), preview, "{code:06X}");
        }
    }

    #[test]
    fn every_prefix_gives_a_result_and_never_a_panic() {
        let file = vec![0u8; 64];
        let seg = segment(true, &[(0x030000, 64, 0), (0x010001, 10, 20)]);
        for cut in 0..seg.len() {
            let mut w = Vec::new();
            let ix = read_index(&seg[..cut], 0, &file, &mut w);
            assert!(ix.images.len() <= 2);
            if cut < seg.len() {
                assert!(!w.is_empty(), "cut {cut}: a truncation says so");
            }
        }
    }

    #[test]
    fn hostile_counts_and_offsets_stay_bounded() {
        let file = vec![0u8; 64];
        // A million entries claimed: only what the segment holds is read, and
        // no more than the cap is kept.
        let mut seg = segment(false, &[(0x010001, 1, 1); 100]);
        let n_at = 8 + 2 + 2 * 12 + 4;
        seg[n_at..n_at + 4].copy_from_slice(&16_000_000u32.to_le_bytes());
        let mut w = Vec::new();
        let ix = read_index(&seg, 0, &file, &mut w);
        assert_eq!(ix.images.len(), MAX_MPF_ENTRIES);
        assert!(ix.truncated);
        assert!(
            w.iter().any(|m| m.contains("claims 16000000 bytes")),
            "{w:?}"
        );
        // Offsets and sizes at the top of the range do not wrap around.
        let seg = segment(false, &[(0x010001, u32::MAX, u32::MAX)]);
        let mut w = Vec::new();
        let ix = read_index(&seg, usize::MAX - 1, &file, &mut w);
        assert!(!ix.images[0].in_file && !ix.images[0].jpeg_soi);
        assert!(w[0].contains("past the end"), "{w:?}");
        // An entry list placed over the IFD itself is read as whatever bytes
        // are there, and a list offset past the segment gives nothing.
        for at in [0u32, 8, 0xFFFF_FFF0] {
            let mut seg = segment(true, &[(0x010001, 4, 60)]);
            seg[8 + 2 + 2 * 12 + 8..8 + 2 + 2 * 12 + 12].copy_from_slice(&at.to_be_bytes());
            let mut w = Vec::new();
            let ix = read_index(&seg, 0, &file, &mut w);
            assert!(ix.images.len() <= 1, "{at}: {:?}", ix.images);
        }
        // A segment that is not TIFF at all.
        let mut w = Vec::new();
        assert!(read_index(b"XX", 0, &file, &mut w).images.is_empty());
        assert_eq!(w.len(), 1);
    }
}
