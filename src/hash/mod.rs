//! Perceptual hashes: what each algorithm is called, how its bits are stored and
//! compared, and the stamp that says how it was made. Pure: no I/O.
//!
//! A hash is only comparable with a hash of the same [`HashKind`] and the same
//! [`HashKind::stamp`]; the archive refuses to compare across stamps, because a
//! changed resize filter or bit order silently turns every distance into noise.

use std::sync::OnceLock;

use image::DynamicImage;
use image_hasher::{BitOrder, HashAlg, Hasher, HasherConfig};
use serde::{Deserialize, Serialize};

use crate::input::read::hex;

pub mod pdq;
pub mod thumbnail;
pub mod variants;

/// The hash algorithms retrace computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum HashKind {
    /// DCT hash (image_hasher: median of the 8×8 low frequencies), 64 bits.
    Phash,
    /// Difference (gradient) hash (image_hasher: 9×8 horizontal gradients), 64 bits.
    Dhash,
    /// Meta's PDQ, 256 bits, with a quality score.
    Pdq,
}

impl HashKind {
    /// Every kind, in report order.
    pub const ALL: [HashKind; 3] = [HashKind::Phash, HashKind::Dhash, HashKind::Pdq];

    /// The name used in reports and in the archive.
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Phash => "phash",
            HashKind::Dhash => "dhash",
            HashKind::Pdq => "pdq",
        }
    }

    /// Parse a name written by [`HashKind::name`].
    pub fn from_name(name: &str) -> Option<HashKind> {
        HashKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Number of bits.
    pub fn bits(self) -> u32 {
        match self {
            HashKind::Phash | HashKind::Dhash => 64,
            HashKind::Pdq => 256,
        }
    }

    /// Algorithm, parameters and implementation version. Bump the trailing
    /// version whenever the input preparation changes.
    pub fn stamp(self) -> &'static str {
        match self {
            HashKind::Phash => "phash:image_hasher3:median+dct:8x8:msb:working512:v1",
            HashKind::Dhash => "dhash:image_hasher3:gradient:8x8:msb:working512:v1",
            HashKind::Pdq => "pdq:retrace:jarosz64:dct16:working512:v1",
        }
    }
}

/// The bits of one hash, up to 256, stored as big-endian words so that hex
/// strings read the way other tools print them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashBits {
    /// Which algorithm made it.
    pub kind: HashKind,
    /// The bits, most significant first; words past `kind.bits()` are zero.
    pub words: [u64; 4],
}

impl HashBits {
    /// Build from big-endian bytes; `None` when the length is wrong for the kind.
    pub fn from_bytes(kind: HashKind, bytes: &[u8]) -> Option<HashBits> {
        if bytes.len() * 8 != kind.bits() as usize {
            return None;
        }
        let mut words = [0u64; 4];
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            words[i] = u64::from_be_bytes(w);
        }
        Some(HashBits { kind, words })
    }

    /// Big-endian bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.kind.bits() as usize / 8;
        self.words
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .take(n)
            .collect()
    }

    /// Lower-case hex, most significant bit first.
    pub fn to_hex(&self) -> String {
        hex(&self.to_bytes())
    }

    /// Parse lower- or upper-case hex.
    pub fn from_hex(kind: HashKind, s: &str) -> Option<HashBits> {
        if s.len() % 2 != 0 || !s.is_ascii() {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect();
        HashBits::from_bytes(kind, &bytes?)
    }

    /// Hamming distance; `None` across kinds, which are never comparable.
    pub fn distance(&self, other: &HashBits) -> Option<u32> {
        (self.kind == other.kind).then(|| hamming(&self.words, &other.words))
    }

    /// Share of set bits, 0..=1: all-zero or all-one hashes carry no information.
    pub fn ones_fraction(&self) -> f32 {
        let ones: u32 = self.words.iter().map(|w| w.count_ones()).sum();
        ones as f32 / self.kind.bits() as f32
    }
}

/// Hamming distance of two 256-bit words.
#[inline]
pub fn hamming(a: &[u64; 4], b: &[u64; 4]) -> u32 {
    (a[0] ^ b[0]).count_ones()
        + (a[1] ^ b[1]).count_ones()
        + (a[2] ^ b[2]).count_ones()
        + (a[3] ^ b[3]).count_ones()
}

/// The hashes of one picture (or of one region or transform of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Hashes {
    /// DCT hash.
    pub phash: HashBits,
    /// Gradient hash.
    pub dhash: HashBits,
    /// PDQ, when computed.
    pub pdq: Option<HashBits>,
    /// PDQ quality 0..=100 (below 50 PDQ is not reliable).
    pub pdq_quality: Option<u8>,
}

impl Hashes {
    /// All hashes present, as (kind, bits).
    pub fn iter(&self) -> impl Iterator<Item = HashBits> + '_ {
        [Some(self.phash), Some(self.dhash), self.pdq]
            .into_iter()
            .flatten()
    }

    /// The hash of a given kind, when present.
    pub fn get(&self, kind: HashKind) -> Option<HashBits> {
        self.iter().find(|h| h.kind == kind)
    }
}

fn phash_hasher() -> &'static Hasher {
    static H: OnceLock<Hasher> = OnceLock::new();
    H.get_or_init(|| {
        HasherConfig::new()
            .hash_size(8, 8)
            .hash_alg(HashAlg::Median)
            .preproc_dct()
            .bit_order(BitOrder::MsbFirst)
            .to_hasher()
    })
}

fn dhash_hasher() -> &'static Hasher {
    static H: OnceLock<Hasher> = OnceLock::new();
    H.get_or_init(|| {
        HasherConfig::new()
            .hash_size(8, 8)
            .hash_alg(HashAlg::Gradient)
            .bit_order(BitOrder::MsbFirst)
            .to_hasher()
    })
}

/// Compute every hash of an (already oriented, already downscaled) picture.
pub fn compute(image: &DynamicImage) -> Hashes {
    compute_with_grey(image).0
}

/// [`compute`], and the picture grey as `to_luma8` makes it, which the
/// later stages (local features, the verification thumbnail) read too.
pub fn compute_with_grey(image: &DynamicImage) -> (Hashes, image::GrayImage) {
    // image_hasher turns a colour picture grey (`to_luma8`) for each hasher;
    // turned once and handed to both, the hashes are the same bit for bit
    // (`compute_hashes_what_image_hasher_hashes`).
    let gray = image.to_luma8();
    let (phash, dhash) = grid_hashes(&gray);
    let (pdq, pdq_quality) = pdq_of(image);
    let h = Hashes {
        phash,
        dhash,
        pdq,
        pdq_quality,
    };
    (h, gray)
}

/// pHash and dHash of a grey picture, as image_hasher computes them: the
/// picture is resized to each hash's grid here, by [`crate::decode::resample::lanczos3_gray`]
/// (the same grid, a tenth of the time), and image_hasher, handed a picture
/// already at its grid's size, copies it instead of resampling.
fn grid_hashes(gray: &image::GrayImage) -> (HashBits, HashBits) {
    let h = hashes_of_parts(&grids::phash(gray), &grids::dhash(gray, false), None);
    (h.phash, h.dhash)
}

/// The grids image_hasher reads, made by [`crate::decode::resample::lanczos3_gray`].
pub(crate) mod grids {
    use super::{DHASH_GRID, PHASH_GRID};
    use crate::decode::resample::lanczos3_gray;
    use image::GrayImage;

    /// pHash's 16 × 16 DCT input.
    pub(crate) fn phash(gray: &GrayImage) -> GrayImage {
        lanczos3_gray(gray, PHASH_GRID.0, PHASH_GRID.1)
    }

    /// dHash's 9 × 8 input, or 8 × 9 (`tall`) for a view turned a quarter.
    pub(crate) fn dhash(gray: &GrayImage, tall: bool) -> GrayImage {
        if tall {
            lanczos3_gray(gray, DHASH_GRID.1, DHASH_GRID.0)
        } else {
            lanczos3_gray(gray, DHASH_GRID.0, DHASH_GRID.1)
        }
    }
}

/// [`compute`] from the picture's two grey planes: `gray` as `to_luma8` gives
/// it (what image_hasher hashes) and `luma` as [`pdq::luma_from_image`] gives
/// it (what PDQ hashes), for a picture with no side above
/// [`pdq::CPP_TOOL_MAX_SIDE`]. The same hashes as [`compute`] on the colour
/// picture, bit for bit; the point is that a view of a picture (a crop, a
/// turn, a flip) moves pixels only, so it can be cut from the planes made
/// once instead of converting the colour view twice over.
pub(crate) fn compute_planes(gray: &image::GrayImage, luma: &variants::LumaF32) -> Hashes {
    let pdq = pdq::pdq_from_luma(luma.as_raw(), luma.width() as usize, luma.height() as usize);
    hashes_of_parts(&grids::phash(gray), &grids::dhash(gray, false), pdq)
}

/// Hashes from what each algorithm reads: pHash's and dHash's grey pictures
/// (image_hasher resizes each to its own grid) and PDQ's finished hash.
pub(crate) fn hashes_of_parts(
    for_phash: &image::GrayImage,
    for_dhash: &image::GrayImage,
    pdq: Option<pdq::Pdq>,
) -> Hashes {
    let phash = HashBits::from_bytes(
        HashKind::Phash,
        phash_hasher().hash_image(for_phash).as_bytes(),
    )
    .expect("image_hasher is configured for 64 bits");
    let dhash = HashBits::from_bytes(
        HashKind::Dhash,
        dhash_hasher().hash_image(for_dhash).as_bytes(),
    )
    .expect("image_hasher is configured for 64 bits");
    Hashes {
        phash,
        dhash,
        pdq: pdq.and_then(|p| HashBits::from_bytes(HashKind::Pdq, &p.hash.0)),
        pdq_quality: pdq.map(|p| p.quality),
    }
}

/// The grid image_hasher resizes to for pHash (its DCT input: twice the
/// 8 × 8 hash) and for dHash (one column more than the hash, for the
/// differences). Resizing to exactly these first changes nothing, since
/// image_hasher then copies instead of resampling; the tests hold it to that.
pub(crate) const PHASH_GRID: (u32, u32) = (16, 16);
pub(crate) const DHASH_GRID: (u32, u32) = (9, 8);

fn pdq_of(image: &DynamicImage) -> (Option<HashBits>, Option<u8>) {
    match pdq::pdq_from_image(image) {
        Some(p) => (
            HashBits::from_bytes(HashKind::Pdq, &p.hash.0),
            Some(p.quality),
        ),
        None => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_bad_lengths() {
        let h = HashBits::from_hex(HashKind::Phash, "aca29c1c33dc23d7").unwrap();
        assert_eq!(h.to_hex(), "aca29c1c33dc23d7");
        assert!(HashBits::from_hex(HashKind::Phash, "aca29c").is_none());
        assert!(HashBits::from_hex(HashKind::Pdq, "aca29c1c33dc23d7").is_none());
        assert!(HashBits::from_hex(HashKind::Phash, "zzzzzzzzzzzzzzzz").is_none());
        let p = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
        assert_eq!(HashBits::from_hex(HashKind::Pdq, p).unwrap().to_hex(), p);
    }

    #[test]
    fn distance_is_a_metric_and_refuses_other_kinds() {
        let a = HashBits::from_hex(HashKind::Phash, "ffff000000000000").unwrap();
        let b = HashBits::from_hex(HashKind::Phash, "0fff000000000001").unwrap();
        assert_eq!(a.distance(&a), Some(0));
        assert_eq!(a.distance(&b), Some(5));
        assert_eq!(b.distance(&a), Some(5));
        let d = HashBits::from_hex(HashKind::Dhash, "ffff000000000000").unwrap();
        assert_eq!(a.distance(&d), None);
    }

    /// [`compute`] hands image_hasher the grey picture made once; on every
    /// sample photo, colour and grey, and on a picture with alpha, that gives
    /// what image_hasher gives for the picture itself.
    #[test]
    fn compute_hashes_what_image_hasher_hashes() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let mut seen = 0;
        for dir in ["archive", "incoming"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                let Ok(img) = image::open(e.unwrap().path()) else {
                    continue;
                };
                let img = crate::decode::shrink(&img, 512);
                for img in [
                    img.clone(),
                    DynamicImage::ImageRgba8(img.to_rgba8()),
                    img.grayscale(),
                ] {
                    let h = compute(&img);
                    let p = phash_hasher().hash_image(&img);
                    let d = dhash_hasher().hash_image(&img);
                    assert_eq!(h.phash.to_hex(), hex_of(p.as_bytes()));
                    assert_eq!(h.dhash.to_hex(), hex_of(d.as_bytes()));
                }
                seen += 1;
            }
        }
        assert!(seen >= 20, "only {seen} sample pictures");
    }

    fn hex_of(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn reencoded_photo_hashes_stay_close_and_other_photos_do_not() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ref/photos");
        let (Ok(a), Ok(b)) = (
            image::open(dir.join("pypi/scikit-learn/china.jpg")),
            image::open(dir.join("pypi/scikit-learn/flower.jpg")),
        ) else {
            eprintln!("skipped: ../shared/ref/photos not present");
            return;
        };
        let mut jpeg = std::io::Cursor::new(Vec::new());
        a.resize(320, 320, image::imageops::FilterType::Triangle)
            .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
                &mut jpeg, 60,
            ))
            .unwrap();
        let copy = image::load_from_memory(jpeg.get_ref()).unwrap();
        let (ha, hc, hb) = (compute(&a), compute(&copy), compute(&b));
        assert!(ha.phash.distance(&hc.phash).unwrap() <= 8);
        assert!(ha.dhash.distance(&hc.dhash).unwrap() <= 12);
        assert!(ha.phash.distance(&hb.phash).unwrap() > 16);
    }
}
