use super::*;
use crate::archive::{NewImage, Sighting, StoredHash};
use crate::decode::shrink;
use crate::hash::{compute, variants, HashBits, Hashes};
use image::DynamicImage;

fn load(name: &str) -> DynamicImage {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name);
    shrink(&image::open(p).unwrap(), crate::decode::WORKING_SIDE)
}

fn archive_with(images: &[(&str, &DynamicImage)]) -> (Mutex<Archive>, MemoryIndex) {
    let mut a = Archive::in_memory().unwrap();
    let mut index = MemoryIndex::new();
    for (sha, img) in images {
        let hashes: Vec<StoredHash> = variants::archive_hashes(img)
            .into_iter()
            .flat_map(|(region, h)| {
                h.iter()
                    .map(|bits| StoredHash {
                        region: region.clone(),
                        bits,
                        quality: None,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        // Stored as the pipeline stores them: a subset of the query set.
        let stored =
            crate::features::Features::of_image(img, &crate::features::FeatureParams::query())
                .for_archive(&crate::features::FeatureParams::archive());
        let words = crate::index::features::words(
            crate::features::vocabulary::Vocabulary::builtin(),
            &stored,
        );
        let entry = NewImage {
            sha256: sha.to_string(),
            format: "jpeg".into(),
            width: Some(img.width()),
            height: Some(img.height()),
            bytes: 1,
            metadata_json: "{}".into(),
            thumb: Some(Thumb::from_image(img).to_bytes()),
            hashes: hashes.clone(),
            features: Some(crate::archive::StoredFeatures {
                data: stored.to_bytes(),
                words: crate::index::features::words_to_bytes(&words),
            }),
        };
        let seen = Sighting {
            location: format!("{sha}.jpg"),
            source: "test".into(),
            url: None,
            first_seen: "2010-01-01".into(),
            first_seen_from: crate::evidence::FirstSeenFrom::Given,
        };
        a.record_batch(&[(entry, seen)]).unwrap();
        let id = a.lookup_sha256(sha).unwrap().unwrap();
        for h in hashes.iter().filter(|h| searched(&h.region, h.bits.kind)) {
            index.insert(id, &h.region, h.bits);
        }
        index.insert_words(id, &words);
    }
    (Mutex::new(a), index)
}

fn query(img: &DynamicImage, sha: &str, index: &MemoryIndex, a: &Mutex<Archive>) -> Vec<Match> {
    query_with(img, sha, index, a, &MatchParams::default())
}

fn query_with(
    img: &DynamicImage,
    sha: &str,
    index: &MemoryIndex,
    a: &Mutex<Archive>,
    params: &MatchParams,
) -> Vec<Match> {
    let size = a.lock().unwrap().image_count().unwrap();
    query_sized(img, sha, index, a, params, size)
}

/// [`query_with`], judged as if the archive held `archive_images` pictures
/// (the E-values grow with it).
fn query_sized(
    img: &DynamicImage,
    sha: &str,
    index: &MemoryIndex,
    a: &Mutex<Archive>,
    params: &MatchParams,
    archive_images: u64,
) -> Vec<Match> {
    let full = compute(img);
    let v = variants::query_variants(img, &full);
    let t = Thumb::from_image_with_side(img, crate::pipeline::QUERY_THUMB_SIDE);
    let f = crate::features::Features::of_image(img, &crate::features::FeatureParams::query());
    let grey = img.to_luma8();
    let inner = inner_view(&grey, &v);
    let q = Query {
        sha256: sha,
        variants: &v,
        thumb: Some(&t),
        features: Some(&f),
        inner: inner.as_ref(),
        image: Some(&grey),
        archive_images,
    };
    find_matches(&q, index, a, params).unwrap()
}

/// A candidate that the index returned through pHash alone must still be
/// judged on its PDQ distance: a reliable far PDQ vetoes the 64-bit hashes,
/// an unreliable archived PDQ does not.
#[test]
fn a_far_pdq_vetoes_agreeing_64_bit_hashes_even_when_the_index_did_not_return_it() {
    let bits = |kind: HashKind, w: u64| HashBits {
        kind,
        words: if kind.bits() == 64 {
            [w, 0, 0, 0]
        } else {
            [w, w.rotate_left(17), w.rotate_left(31), w.rotate_left(47)]
        },
    };
    let phash = bits(HashKind::Phash, 0x0123_4567_89ab_cdef);
    let dhash = bits(HashKind::Dhash, 0x0f0f_3355_aa55_c3c3);
    let pdq = bits(HashKind::Pdq, 0x5a5a_1234_fedc_9876);
    let mut far_pdq = pdq;
    for w in far_pdq.words.iter_mut() {
        *w = !*w;
    }
    let run = |archived_quality: u8| {
        let mut a = Archive::in_memory().unwrap();
        let stored: Vec<StoredHash> = [(phash, None), (dhash, None), (pdq, Some(archived_quality))]
            .into_iter()
            .map(|(bits, quality)| StoredHash {
                region: "full".into(),
                bits,
                quality,
            })
            .collect();
        let entry = NewImage {
            sha256: "original".into(),
            format: "jpeg".into(),
            width: Some(100),
            height: Some(100),
            bytes: 1,
            metadata_json: "{}".into(),
            thumb: None,
            hashes: stored.clone(),
            features: None,
        };
        let seen = Sighting {
            location: "original.jpg".into(),
            source: "test".into(),
            url: None,
            first_seen: "2010-01-01".into(),
            first_seen_from: crate::evidence::FirstSeenFrom::Given,
        };
        a.record_batch(&[(entry, seen)]).unwrap();
        let id = a.lookup_sha256("original").unwrap().unwrap();
        let mut index = MemoryIndex::new();
        for h in stored.iter().filter(|h| searched(&h.region, h.bits.kind)) {
            index.insert(id, &h.region, h.bits);
        }
        let variants = [QueryVariant {
            transform: Dihedral::Identity,
            region: "full",
            window: Rect::FULL,
            hashes: Hashes {
                phash,
                dhash,
                pdq: Some(far_pdq),
                pdq_quality: Some(100),
            },
        }];
        let q = Query {
            sha256: "copy",
            variants: &variants,
            thumb: None,
            features: None,
            inner: None,
            image: None,
            archive_images: 1,
        };
        // Only pHash and dHash within reach of the index: PDQ is 256 bits away
        // and, with nearest_per_view 0, never returned.
        let params = MatchParams {
            nearest_per_view: 0,
            ..MatchParams::default()
        };
        find_matches(&q, &index, &Mutex::new(a), &params).unwrap()
    };
    assert!(run(100).is_empty(), "a reliable far PDQ must veto");
    let m = run(20);
    assert_eq!(m.len(), 1, "an unreliable archived PDQ cannot veto");
    assert_eq!(m[0].confidence, Confidence::Confirmed);
    assert_eq!(m[0].distance.get("pdq"), Some(&256));
}

#[test]
fn copies_match_with_their_transform_and_other_photos_do_not() {
    let storm = load("archive/Storm.jpg");
    let wood = load("archive/Wood.jpg");
    let (a, index) = archive_with(&[("storm", &storm), ("wood", &wood)]);

    let exact = query(&storm, "storm", &index, &a);
    assert_eq!(exact.len(), 1);
    assert!(exact[0].exact && exact[0].confidence == Confidence::Confirmed);

    let copy = load("incoming/storm_recompressed_q65.jpg");
    let m = query(&copy, "x", &index, &a);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].sha256, "storm");
    assert_eq!(m[0].confidence, Confidence::Confirmed);
    assert!(!m[0].exact);
    assert_eq!(m[0].transform, "identity");

    let mirrored = storm.fliph();
    let m = query(&mirrored, "y", &index, &a);
    assert_eq!(m[0].sha256, "storm");
    assert_eq!(m[0].transform, "mirror");

    let turned = wood.rotate90();
    let m = query(&turned, "z", &index, &a);
    assert_eq!(m[0].sha256, "wood");
    assert_eq!(m[0].transform, "rot90");

    let other = load("not-in-archive/flower.jpg");
    assert!(query(&other, "w", &index, &a).is_empty());
}

/// The off-centre crop of the samples has no hash near its original; the
/// local features find it upright, mirrored, turned a quarter and turned
/// 5°, each with the turn it was given, and confirm it upright by the
/// hashes of the part both show. Without features (`feature_candidates`
/// 0), the thumbnail search of the nearest pictures by hash finds it only
/// when asked to (`align_unsupported`), upright and mirrored only.
#[test]
fn the_off_centre_crop_is_found_through_local_features_whatever_its_turn() {
    let original = load("archive/grace_hopper.jpg");
    let others = [load("archive/Storm.jpg"), load("archive/rocket.jpg")];
    let (a, index) = archive_with(&[
        ("grace", &original),
        ("storm", &others[0]),
        ("rocket", &others[1]),
    ]);
    let crop = load("incoming/grace_hopper_crop_offcentre.jpg");
    let found = |img: &DynamicImage, params: &MatchParams| {
        query_with(img, "x", &index, &a, params)
            .into_iter()
            .find(|m| m.sha256 == "grace")
    };
    let default = MatchParams::default();
    let m = found(&crop, &default).expect("the crop is found");
    assert_eq!(m.transform, "identity");
    assert!(
        m.evidence.iter().any(|e| e.starts_with("local features")),
        "{:?}",
        m.evidence
    );
    assert_eq!(m.confidence, Confidence::Confirmed, "{:?}", m.evidence);
    let chance = m.chance.as_ref().expect("a chance");
    assert_eq!(chance.signal, "local_features");
    assert!(chance.expected_false < 1e-6, "{chance:?}");
    let region = m.region.as_ref().expect("a crop has a region");
    assert!(region.archive.w * region.archive.h < 0.9, "{region:?}");
    let g = m.geometry.as_ref().expect("geometry");
    assert!(g.inliers >= 20 && !g.mirrored, "{g:?}");
    for (img, want) in [
        (crop.fliph(), "mirror"),
        (crop.rotate90(), "rot90"),
        (crop.rotate270(), "rot270"),
    ] {
        let m = found(&img, &default).unwrap_or_else(|| panic!("{want} not found"));
        assert_eq!(m.transform, want, "{:?}", m.evidence);
    }
    // Without the features, only the old thumbnail search finds it.
    let no_features = MatchParams {
        feature_candidates: 0,
        ..MatchParams::default()
    };
    assert!(found(&crop, &no_features).is_none());
    let aligner = MatchParams {
        feature_candidates: 0,
        align_unsupported: 24,
        ..MatchParams::default()
    };
    let m = found(&crop, &aligner).expect("found by the thumbnail search");
    assert!(
        m.evidence.iter().any(|e| e.contains("no hash agreed")),
        "{:?}",
        m.evidence
    );
    assert!(found(&crop.rotate90(), &aligner).is_none());
}

/// A crop turned 5° (as copies are straightened or tilted), cropped to
/// what the turn leaves: found through local features, with the turn.
#[test]
fn a_copy_turned_five_degrees_and_cropped_is_found_with_its_turn() {
    let original = load("archive/Dune.jpg");
    let others = [load("archive/Storm.jpg"), load("archive/Wood.jpg")];
    let (a, index) = archive_with(&[
        ("dune", &original),
        ("storm", &others[0]),
        ("wood", &others[1]),
    ]);
    // Turned 5° clockwise about the centre, the middle 60% kept
    // (bilinear, as any editor does; written out here so the test does
    // not depend on an image crate's rotate).
    let src = original.to_rgb8();
    let (w, h) = (src.width() as f32, src.height() as f32);
    let (sn, cs) = 5f32.to_radians().sin_cos();
    let (ow, oh) = ((w * 0.6) as u32, (h * 0.6) as u32);
    let turned = image::RgbImage::from_fn(ow, oh, |u, v| {
        let dx = u as f32 + 0.5 - ow as f32 / 2.0;
        let dy = v as f32 + 0.5 - oh as f32 / 2.0;
        // Output pixel turned back (counter-clockwise) into the source.
        let sx = cs * dx + sn * dy + w / 2.0 - 0.5;
        let sy = -sn * dx + cs * dy + h / 2.0 - 0.5;
        let (x0, y0) = (sx.floor().max(0.0) as u32, sy.floor().max(0.0) as u32);
        let (x1, y1) = (
            (x0 + 1).min(src.width() - 1),
            (y0 + 1).min(src.height() - 1),
        );
        let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
        let p = |x, y| src.get_pixel(x, y).0;
        let mut o = [0u8; 3];
        for (k, c) in o.iter_mut().enumerate() {
            let top = f32::from(p(x0, y0)[k]) * (1.0 - fx) + f32::from(p(x1, y0)[k]) * fx;
            let bot = f32::from(p(x0, y1)[k]) * (1.0 - fx) + f32::from(p(x1, y1)[k]) * fx;
            *c = (top * (1.0 - fy) + bot * fy).round() as u8;
        }
        image::Rgb(o)
    });
    let m = query(&DynamicImage::ImageRgb8(turned), "x", &index, &a);
    let m = m.iter().find(|m| m.sha256 == "dune").expect("found");
    // Named to a tenth of a degree, as estimated: within half a degree.
    let named: f32 = m
        .transform
        .strip_prefix("rotate(")
        .and_then(|t| t.strip_suffix("°)"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{} {:?}", m.transform, m.evidence));
    assert!((named - 5.0).abs() < 0.5, "{}", m.transform);
    let g = m.geometry.as_ref().expect("geometry");
    assert!((g.rotation_degrees - 5.0).abs() < 0.5, "{g:?}");
    assert!((g.scale - 1.0).abs() < 0.05, "{g:?}");
    let poly = m
        .region
        .as_ref()
        .and_then(|r| r.archive_polygon.as_ref())
        .expect("a polygon");
    assert_eq!(poly.len(), 4, "{poly:?}");
}

/// Every screenshot from one phone shares its status and navigation bars:
/// the local features of a screenshot of one picture agree under one
/// transform with those of a screenshot of another. The part both show,
/// compared by hashes, is unlike, so no match is reported; with that check
/// off, the bars alone do make a match.
#[test]
fn screenshots_of_different_pictures_from_one_phone_do_not_match() {
    let shot = load("incoming/grace_hopper_screenshot.jpg");
    let others = [load("archive/Storm.jpg"), load("archive/rocket.jpg")];
    let (a, index) = archive_with(&[
        ("shot", &shot),
        ("storm", &others[0]),
        ("rocket", &others[1]),
    ]);
    let no_check = MatchParams {
        overlap_must_agree: false,
        ..MatchParams::default()
    };
    let mut matched_by_bars = 0;
    for other in [
        "incoming/dune_screenshot.jpg",
        "incoming/new_astronaut_screenshot.jpg",
    ] {
        let img = load(other);
        let m = query(&img, "x", &index, &a);
        assert!(m.is_empty(), "{other}: {m:?}");
        matched_by_bars += usize::from(
            query_with(&img, "x", &index, &a, &no_check)
                .iter()
                .any(|m| m.sha256 == "shot"),
        );
    }
    assert!(
        matched_by_bars > 0,
        "the bars alone never matched: the test shows nothing"
    );
    // The same screenshot, re-encoded smaller, is still found.
    let again = shot.resize(540, 1170, image::imageops::FilterType::Triangle);
    let m = query(&again, "y", &index, &a);
    assert_eq!(m.first().map(|m| m.sha256.as_str()), Some("shot"), "{m:?}");
}

/// A phone screenshot shows its photo at about 220 pixels of the 512-pixel
/// working copy. The photo cut out and enlarged (the inner view) agrees
/// with the archived original on many more features than the frame does,
/// and the match is reported in the screenshot's own pixels: its region
/// is the photo's part of the screen.
#[test]
fn a_screenshots_photo_is_matched_through_its_inner_view() {
    let originals = [
        ("grace", load("archive/grace_hopper.jpg")),
        ("dune", load("archive/Dune.jpg")),
        ("storm", load("archive/Storm.jpg")),
    ];
    let (a, index) = archive_with(&originals.iter().map(|(n, i)| (*n, i)).collect::<Vec<_>>());
    for (file, original) in [
        ("incoming/grace_hopper_screenshot.jpg", "grace"),
        ("incoming/dune_screenshot.jpg", "dune"),
    ] {
        let img = load(file);
        let full = compute(&img);
        let v = variants::query_variants(&img, &full);
        let grey = img.to_luma8();
        let inner = inner_view(&grey, &v).expect("the photo inside the screenshot");
        let f = crate::features::Features::of_image(&img, &crate::features::FeatureParams::query());
        let t = Thumb::from_image_with_side(&img, crate::pipeline::QUERY_THUMB_SIDE);
        let inliers = |inner: Option<&crate::features::View>| {
            let q = Query {
                sha256: "x",
                variants: &v,
                thumb: Some(&t),
                features: Some(&f),
                inner,
                image: Some(&grey),
                archive_images: 3,
            };
            let m = find_matches(&q, &index, &a, &MatchParams::default()).unwrap();
            assert!(m.iter().all(|m| m.sha256 == original), "{file}: {m:?}");
            m.into_iter().find(|m| m.sha256 == original)
        };
        let with = inliers(Some(&inner)).expect("found with the inner view");
        let g = with.geometry.as_ref().expect("geometry");
        let frame_only = inliers(None)
            .and_then(|m| m.geometry)
            .map_or(0, |g| g.inliers);
        assert!(
            g.inliers >= 2 * frame_only.max(10),
            "{file}: {} vs {frame_only}",
            g.inliers
        );
        // Archived pixels per screenshot pixel: the photo is shown at
        // under half its archived size.
        assert!(g.scale > 1.5 && g.scale < 3.5, "{file}: {g:?}");
        let r = with.region.as_ref().expect("a region").query;
        let (px, py, pw, ph) = inner_part(&img, &v);
        let (iw, ih) = (img.width() as f32, img.height() as f32);
        let near = |a: f32, b: f32| (a - b).abs() < 0.03;
        assert!(
            near(r.x, px / iw) && near(r.y, py / ih) && near(r.w, pw / iw) && near(r.h, ph / ih),
            "{file}: region {r:?} vs part {:?}",
            (px / iw, py / ih, pw / iw, ph / ih)
        );
    }
}

/// The part the inner view was cut from, in pixels.
fn inner_part(img: &DynamicImage, v: &[QueryVariant]) -> (f32, f32, f32, f32) {
    let w = v.iter().find(|v| v.region == "content").unwrap().window;
    let (x, y, cw, ch) = w.pixels(img.width(), img.height());
    (x as f32, y as f32, cw as f32, ch as f32)
}

/// A picture known whole (its whole frame confirmed against a whole
/// archived frame) is that archived picture: other archived pictures that
/// show part of it are found only when asked for
/// (`align_unsupported_when_known`). A picture not known whole is searched.
#[test]
fn partial_copies_are_searched_only_for_pictures_not_known_whole() {
    let storm = load("archive/Storm.jpg");
    let crop = |img: &DynamicImage, x: f32, y: f32, f: f32| {
        let (w, h) = (img.width() as f32, img.height() as f32);
        img.crop_imm(
            (x * w) as u32,
            (y * h) as u32,
            (f * w) as u32,
            (f * h) as u32,
        )
    };
    let part = crop(&storm, 0.3, 0.25, 0.55);
    let (a, index) = archive_with(&[("storm", &storm), ("part", &part)]);
    let copy = load("incoming/storm_recompressed_q65.jpg");
    let names = |m: &[Match]| {
        m.iter()
            .map(|m| (m.sha256.clone(), m.confidence))
            .collect::<Vec<_>>()
    };

    let thorough = MatchParams {
        align_unsupported_when_known: true,
        ..MatchParams::default()
    };
    let m = query_with(&copy, "x", &index, &a, &thorough);
    assert!(
        m.iter()
            .any(|m| m.sha256 == "storm" && m.confidence == Confidence::Confirmed),
        "{:?}",
        names(&m)
    );
    let found_part = m.iter().find(|m| m.sha256 == "part");
    assert!(
        found_part.is_some_and(|p| p.evidence.iter().any(|e| e.starts_with("local features"))),
        "the archived crop is found by its local features: {:?}",
        names(&m)
    );

    let m = query(&copy, "x", &index, &a);
    assert_eq!(
        names(&m),
        vec![("storm".to_string(), Confidence::Confirmed)]
    );

    // A crop of the photo is not known whole: its local features are
    // searched and the photo is found although no hash agrees.
    let cropped = crop(&copy, 0.1, 0.35, 0.5);
    let m = query(&cropped, "y", &index, &a);
    assert!(
        m.iter()
            .any(|m| m.sha256 == "storm"
                && m.evidence.iter().any(|e| e.starts_with("local features"))),
        "{:?}",
        m.iter()
            .map(|m| (&m.sha256, &m.evidence))
            .collect::<Vec<_>>()
    );
}

/// A whole copy whose hashes agree, but not rarely enough for the archive's
/// size to confirm it on their own, is not "known whole": its local features
/// are searched, and they confirm it. The same recompressed copy as above,
/// judged as if the archive held a billion pictures: its hashes' E-value is
/// then far above `confirm_e`, its features' far below.
#[test]
fn a_whole_copy_whose_hashes_are_not_rare_enough_is_confirmed_by_its_features() {
    let storm = load("archive/Storm.jpg");
    let other = load("archive/Wood.jpg");
    let (a, index) = archive_with(&[("storm", &storm), ("wood", &other)]);
    let copy = load("incoming/storm_recompressed_q65.jpg");
    let params = MatchParams::default();
    let m = query_sized(&copy, "x", &index, &a, &params, 1_000_000_000);
    let storm_match = m.iter().find(|m| m.sha256 == "storm").expect("found");
    assert_eq!(
        storm_match.confidence,
        Confidence::Confirmed,
        "{:?}",
        storm_match.evidence
    );
    let chance = storm_match.chance.as_ref().expect("an E-value");
    assert_eq!(chance.signal, ChanceSignal::LocalFeatures, "{chance:?}");
    assert!(chance.expected_false <= params.confirm_e, "{chance:?}");
    assert!(m.iter().all(|m| m.sha256 != "wood"), "{:?}", m);
}
