//! PDQ against outside reference values: Meta's published vectors, a regenerated run of
//! Meta's C++ tool and pdqhash (PyPI). The data lives in `../shared/ref` beside the
//! checkout; without it every test here prints why and passes.
//!
//! Two of Meta's acceptance rules are checked: the same luma gives the identical hash,
//! and with our own decoder every image of quality >= 80 is within Hamming distance 10
//! of the C++ reference. Distance tables are printed (`--nocapture`) for the record.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::DynamicImage;
use rayon::prelude::*;
use retrace::internals::hash::pdq::{
    luma_from_image, pdq_dihedral_from_image, pdq_dihedral_from_luma, pdq_from_image,
    pdq_from_luma, Pdq, PdqHash, DIHEDRAL_ORDER,
};

/// Meta: implementations with their own decoder should be this close to the C++ tool
/// on images of quality >= 80.
const META_TOLERANCE: u32 = 10;

fn ref_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ref");
    if root.join("pdq/expected").is_dir() && root.join("peer_hashes.tsv").is_file() {
        Some(root)
    } else {
        eprintln!(
            "skipping PDQ reference test: {} not found",
            root.join("pdq").display()
        );
        None
    }
}

/// Rows of a tab-separated file, without `#` comments and without the header line.
fn read_tsv(path: &Path) -> Vec<Vec<String>> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1)
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

fn hex(s: &str) -> PdqHash {
    PdqHash::from_hex(s).unwrap_or_else(|| panic!("bad hash in reference data: {s:?}"))
}

fn decode(path: &Path) -> DynamicImage {
    image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
        .decode()
        .unwrap_or_else(|e| panic!("decoding {}: {e}", path.display()))
}

fn full_resolution(img: &DynamicImage) -> Pdq {
    let luma = luma_from_image(img);
    pdq_from_luma(&luma, img.width() as usize, img.height() as usize).expect("non-empty image")
}

/// Both ways of hashing one file, computed once and shared by the tests.
struct Hashed {
    /// `pdq_from_image`: the C++ tool's 512×512 pre-shrink for large inputs.
    tool: Pdq,
    /// Full-resolution luma, as pdqhash (PyPI) hashes.
    full: Pdq,
    /// `pdq_dihedral_from_luma` on the full-resolution luma, like pdqhash's
    /// `compute_dihedral`.
    dihedral_full: [PdqHash; 8],
}

/// Every image named in `peer_hashes.tsv` (a superset of the C++ table), keyed by its
/// path relative to `ref/`. Decoding is the slow part, so it happens once, on all cores.
fn hashed(root: &Path) -> &'static HashMap<String, Hashed> {
    static CACHE: OnceLock<HashMap<String, Hashed>> = OnceLock::new();
    CACHE.get_or_init(|| {
        let paths: Vec<String> = read_tsv(&root.join("peer_hashes.tsv"))
            .into_iter()
            .map(|row| row[0].clone())
            .collect();
        paths
            .into_par_iter()
            .map(|rel| {
                let img = decode(&root.join(&rel));
                let luma = luma_from_image(&img);
                let (w, h) = (img.width() as usize, img.height() as usize);
                let hashed = Hashed {
                    tool: pdq_from_image(&img).expect("non-empty image"),
                    full: pdq_from_luma(&luma, w, h).expect("non-empty image"),
                    dihedral_full: pdq_dihedral_from_luma(&luma, w, h).expect("non-empty image"),
                };
                (rel, hashed)
            })
            .collect()
    })
}

fn histogram(distances: &[u32]) -> String {
    let mut counts = BTreeMap::new();
    for &d in distances {
        *counts.entry(d).or_insert(0usize) += 1;
    }
    counts
        .iter()
        .map(|(d, n)| format!("d={d}:{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// python-threatexchange's own unit-test vectors (pdqhash + Pillow). PNG decoding is
/// lossless, so our luma equals theirs and the hash must be identical; for the JPEG
/// files equality additionally needs our decoder to match libjpeg-turbo.
#[test]
fn python_threatexchange_vectors_are_exact() {
    let Some(root) = ref_root() else { return };
    let pdq = root.join("pdq");
    let published = read_tsv(&pdq.join("expected/published_vectors.tsv"));
    let mut checked = 0;
    for row in &published {
        let (implementation, image, hash, quality, note) =
            (&row[0], &row[1], &row[2], &row[3], &row[5]);
        if !implementation.starts_with("python-threatexchange")
            || note.contains("dihedral")
            || note.contains("unletterbox")
            || image.ends_with("I16.png")
        {
            continue;
        }
        let got = full_resolution(&decode(&pdq.join("images").join(image)));
        let d = got.hash.distance(&hex(hash));
        eprintln!(
            "{image}: d={d} quality={} (published {quality})",
            got.quality
        );
        assert_eq!(d, 0, "{image}: {} vs published {hash}", got.hash);
        if let Ok(q) = quality.parse::<u8>() {
            assert_eq!(got.quality, q, "{image}");
        }
        checked += 1;
    }
    assert!(
        checked >= 4,
        "expected the LA, rgb, random and sample-b vectors, found {checked}"
    );
}

/// I16.png: Pillow converts 16-bit grey to RGB by clipping each value at 255, then
/// pdqhash hashes that. Feeding the same luma must reproduce the published hash and
/// quality exactly (Meta's "same luma, same hash" rule). `luma_from_image` itself scales
/// 16-bit samples by 1/257 instead, which is the faithful reading of the pixels.
#[test]
fn i16_png_with_pillows_luma_is_exact() {
    let Some(root) = ref_root() else { return };
    let pdq = root.join("pdq");
    let path =
        pdq.join("images/python-threatexchange/threatexchange/tests/hashing/resources/I16.png");
    let img = decode(&path);
    let grey = img.to_luma16();
    let luma: Vec<f32> = grey
        .as_raw()
        .iter()
        .map(|&v| {
            let c = f64::from(v.min(255));
            (c * 0.299 + c * 0.587 + c * 0.114) as f32
        })
        .collect();
    let got = pdq_from_luma(&luma, grey.width() as usize, grey.height() as usize).unwrap();
    let want = hex("de2ef0e99ecdfc1d248a0eb055f023d1d61e79c3920cbb55d561c02accab1763");
    assert_eq!(got.hash, want);
    assert_eq!(got.quality, 36);
    eprintln!(
        "I16.png with our 1/257 scaling: d={} quality={}",
        full_resolution(&img).hash.distance(&want),
        full_resolution(&img).quality
    );
}

/// LA.png's published dihedral vectors were made by transforming pixels with Pillow and
/// hashing each result, so the same pixel transforms must give the same bits. LA.png is
/// uniform random noise, the worst case for the reference's DCT-domain shortcut: moving
/// the decimation grid by one pixel decorrelates it, so those slots are far from the
/// pixel vectors (78..92 bits in pdqhash too); they must still equal pdqhash's
/// `compute_dihedral` bit for bit.
#[test]
fn la_png_dihedral_vectors() {
    let Some(root) = ref_root() else { return };
    let pdq = root.join("pdq");
    let la = "python-threatexchange/threatexchange/tests/hashing/resources/LA.png";
    let published: HashMap<String, PdqHash> = read_tsv(&pdq.join("expected/published_vectors.tsv"))
        .into_iter()
        .filter(|row| row[1] == la && row[5].starts_with("dihedral "))
        .map(|row| {
            let label = row[5]["dihedral ".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned();
            (label, hex(&row[2]))
        })
        .collect();
    assert_eq!(published.len(), 8, "labels: {:?}", published.keys());
    let compute_dihedral: Vec<PdqHash> = read_tsv(&root.join("peer_hashes.tsv"))
        .into_iter()
        .find(|row| row[0] == format!("pdq/images/{la}"))
        .expect("LA.png in peer_hashes.tsv")[7]
        .split(',')
        .map(hex)
        .collect();
    let img = decode(&pdq.join("images").join(la));
    let (w, h) = (img.width() as usize, img.height() as usize);
    let dct_domain = pdq_dihedral_from_luma(&luma_from_image(&img), w, h).unwrap();
    assert_eq!(
        dct_domain.to_vec(),
        compute_dihedral,
        "DCT-domain slots vs pdqhash compute_dihedral"
    );
    let labels = [
        "ORIGINAL",
        "ROTATE90",
        "ROTATE180",
        "ROTATE270",
        "FLIPX",
        "FLIPY",
        "FLIPPLUS1",
        "FLIPMINUS1",
    ];
    for ((d, label), slot) in DIHEDRAL_ORDER.iter().zip(labels).zip(dct_domain) {
        let want = published[label];
        let pixels = full_resolution(&d.apply(&img)).hash;
        eprintln!(
            "LA.png {label:>10}: pixel transform d={}, DCT-domain slot d={}",
            pixels.distance(&want),
            slot.distance(&want)
        );
        assert_eq!(pixels, want, "{label} via pixel transform");
    }
}

/// Meta's rule for independent decoders, against `pdq-photo-hasher` rebuilt from the
/// reference sources (which pre-shrinks large images to 512×512 nearest neighbour, as
/// `pdq_from_image` does).
#[test]
fn within_meta_tolerance_of_cpp_reference() {
    let Some(root) = ref_root() else { return };
    let results = hashed(&root);
    let rows = read_tsv(&root.join("pdq/expected/cpp_reference_regenerated.tsv"));
    let mut tool_d = Vec::new();
    let mut full_d = Vec::new();
    let mut failures = Vec::new();
    eprintln!(
        "{:<90} {:>4} {:>6} {:>6} {:>5}",
        "image (vs C++ reference)", "q", "d_tool", "d_full", "our_q"
    );
    for row in &rows {
        let (image, hash, quality) = (&row[0], hex(&row[1]), row[2].parse::<u8>().unwrap());
        let ours = &results[&format!("pdq/images/{image}")];
        let (dt, df) = (
            ours.tool.hash.distance(&hash),
            ours.full.hash.distance(&hash),
        );
        eprintln!(
            "{image:<90} {quality:>4} {dt:>6} {df:>6} {:>5}",
            ours.tool.quality
        );
        if quality >= 80 && !image.ends_with("I16.png") {
            tool_d.push(dt);
            full_d.push(df);
            if dt > META_TOLERANCE {
                failures.push(format!("{image}: d={dt}"));
            }
        }
        // Low-quality images are exempt from the distance rule, but the quality score
        // itself must agree closely.
        assert!(
            ours.tool.quality.abs_diff(quality) <= 5,
            "{image}: quality {} vs {quality}",
            ours.tool.quality
        );
    }
    eprintln!("pdq_from_image vs C++ (q>=80): {}", histogram(&tool_d));
    eprintln!("full-resolution vs C++ (q>=80): {}", histogram(&full_d));
    assert!(tool_d.len() >= 30, "only {} rows compared", tool_d.len());
    assert!(failures.is_empty(), "beyond Meta's tolerance: {failures:?}");
}

/// pdqhash (PyPI) hashes the full-resolution luma, so compare our full-resolution path
/// with it over every image in `pdq/` and `photos/`.
#[test]
fn agrees_with_pdqhash_pypi() {
    let Some(root) = ref_root() else { return };
    let results = hashed(&root);
    let rows = read_tsv(&root.join("peer_hashes.tsv"));
    let mut full_d = Vec::new();
    let mut tool_d = Vec::new();
    let mut dihedral_d = Vec::new();
    let mut failures = Vec::new();
    eprintln!(
        "{:<90} {:>4} {:>6} {:>6} {:>5}",
        "image (vs pdqhash PyPI)", "q", "d_full", "d_tool", "our_q"
    );
    for row in &rows {
        let (path, mode, hash, quality) = (
            &row[0],
            &row[4],
            hex(&row[5]),
            row[6].parse::<u8>().unwrap(),
        );
        let ours = &results[path];
        let (df, dt) = (
            ours.full.hash.distance(&hash),
            ours.tool.hash.distance(&hash),
        );
        eprintln!(
            "{path:<90} {quality:>4} {df:>6} {dt:>6} {:>5}",
            ours.full.quality
        );
        // Pillow clips 16-bit grey at 255 where we scale it (see the I16 test).
        if mode == "I;16" {
            continue;
        }
        full_d.push(df);
        tool_d.push(dt);
        if path.ends_with(".png") {
            assert_eq!(
                df, 0,
                "{path}: lossless input, same luma, must be the same hash"
            );
        }
        if quality >= 80 && df > META_TOLERANCE {
            failures.push(format!("{path}: d={df}"));
        }
        assert!(
            ours.full.quality.abs_diff(quality) <= 5,
            "{path}: quality {} vs {quality}",
            ours.full.quality
        );
        // compute_dihedral uses the same DCT-domain transforms: with lossless input our
        // luma is theirs and every slot must be identical; a JPEG decoded by a different
        // decoder can move coefficients near the median without changing the plain hash.
        let theirs: Vec<PdqHash> = row[7].split(',').map(hex).collect();
        assert_eq!(theirs.len(), 8, "{path}");
        let slot_d: Vec<u32> = ours
            .dihedral_full
            .iter()
            .zip(&theirs)
            .map(|(a, b)| a.distance(b))
            .collect();
        dihedral_d.extend(&slot_d);
        if path.ends_with(".png") {
            assert!(
                slot_d.iter().all(|&d| d == 0),
                "{path}: dihedral slots {slot_d:?}"
            );
        } else if quality >= 80 {
            assert!(
                slot_d.iter().all(|&d| d <= META_TOLERANCE),
                "{path}: dihedral slots {slot_d:?}"
            );
        }
    }
    eprintln!("full-resolution vs pdqhash: {}", histogram(&full_d));
    eprintln!(
        "dihedral slots vs compute_dihedral: {}",
        histogram(&dihedral_d)
    );
    eprintln!("pdq_from_image vs pdqhash: {}", histogram(&tool_d));
    assert!(full_d.len() >= 80, "only {} rows compared", full_d.len());
    assert!(
        failures.is_empty(),
        "quality >= 80 but far from pdqhash: {failures:?}"
    );
}

/// The DCT-domain dihedral slots of the bridge photo against hashing actually
/// transformed pixels: our own transforms and Meta's eight pre-transformed files.
/// Transform and hash commute only up to the asymmetry of the sampling grids (the
/// blur's phases, the decimation points and, in `pdq_from_image`, the 512×512
/// nearest-neighbour pre-shrink) plus JPEG re-encoding of the shipped files.
#[test]
fn dihedral_slots_match_transformed_pixels() {
    let Some(root) = ref_root() else { return };
    let dih = root.join("pdq/images/reg-test-input/dih");
    let files = [
        "bridge-1-original.jpg",
        "bridge-2-rotate-90.jpg",
        "bridge-3-rotate-180.jpg",
        "bridge-4-rotate-270.jpg",
        "bridge-5-flipx.jpg",
        "bridge-6-flipy.jpg",
        "bridge-7-flip-plus-1.jpg",
        "bridge-8-flip-minus-1.jpg",
    ];
    let original = decode(&dih.join(files[0]));
    let tool_slots = pdq_dihedral_from_image(&original).unwrap();
    let results = hashed(&root);
    let full_slots = results[&format!("pdq/images/reg-test-input/dih/{}", files[0])].dihedral_full;
    let mut full_d = Vec::new();
    let mut tool_d = Vec::new();
    for (((d, file), tool_slot), full_slot) in DIHEDRAL_ORDER
        .iter()
        .zip(files)
        .zip(tool_slots)
        .zip(full_slots)
    {
        let transformed = d.apply(&original);
        let shipped = &results[&format!("pdq/images/reg-test-input/dih/{file}")];
        let full = [
            full_slot.distance(&full_resolution(&transformed).hash),
            full_slot.distance(&shipped.full.hash),
        ];
        let tool = [
            tool_slot.distance(&pdq_from_image(&transformed).unwrap().hash),
            tool_slot.distance(&shipped.tool.hash),
        ];
        eprintln!(
            "{d:?}: full-res slot vs our transform d={}, vs {file} d={}; pdq_from_image slot d={} / d={}",
            full[0], full[1], tool[0], tool[1]
        );
        full_d.extend(full);
        tool_d.extend(tool);
    }
    eprintln!("full resolution: {}", histogram(&full_d));
    eprintln!("pdq_from_image: {}", histogram(&tool_d));
    assert!(full_d.iter().all(|&d| d <= META_TOLERANCE), "{full_d:?}");
    // Nearest-neighbour sampling adds its own grid shift, still far below a match.
    assert!(
        tool_d.iter().all(|&d| d <= 2 * META_TOLERANCE),
        "{tool_d:?}"
    );
    // Unrelated photos are ~128 apart; distinct slots of one photo must not collide.
    assert!(full_slots[0].distance(&full_slots[1]) > 31);
}
