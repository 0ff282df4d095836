//! Partial copies through local features: the archived pictures that share
//! the most geometrically consistent visual words with the incoming one
//! ([`crate::index::features`]), each verified by a similarity transform fitted
//! to its descriptor pairs ([`crate::features::geometry`]), then judged by how
//! rare that many agreeing pairs are among unrelated pictures
//! ([`super::chance`]). Where the geometry is decisive, the part both pictures
//! share is compared a second, independent way: the incoming picture is turned,
//! scaled and cut as the transform says, and its hashes are compared with those
//! of the same part of the archived thumbnail. Only that agreement confirms:
//! two exposures of one scene (an HDR bracket, a burst) share most local
//! features too, but not their pixels.
//!
//! Any crop, any turn, screenshots and captioned copies go this way, whatever
//! the archive's size: nothing here ranks by whole-picture distance.

use std::collections::BTreeMap;

use image::{DynamicImage, GrayImage};

use super::chance::ChanceModel;
use super::{Lookup, MatchParams};
use crate::error::Result;
use crate::evidence::{Confidence, MatchRegion, Rect};
use crate::features::geometry::{
    verify_each_sorted, verify_oriented, Orientations, Similarity, SortedQuery, Verified,
    VerifyParams,
};
use crate::features::vocabulary::Vocabulary;
use crate::features::{Features, View};
use crate::geometry::Dihedral;
use crate::hash::{self, HashKind};
use crate::index::features::query_words;
use crate::index::MemoryIndex;
use crate::matching::align::Thumb;

/// What the local features found for one archived picture.
#[derive(Debug, Clone)]
pub(crate) struct LocalMatch {
    /// Archive image id.
    pub id: i64,
    /// Votes the index gave it.
    pub votes: u32,
    /// The verified transform and its support.
    pub verified: Verified,
    /// Expected chance matches with at least this many agreeing pairs.
    pub expected_false: f64,
    /// The shared part's hashes, incoming vs archived, when compared.
    pub overlap: Option<Overlap>,
    /// Which parts of each picture the transform maps onto the other.
    pub region: Option<MatchRegion>,
    /// The transform in the report's words.
    pub transform: String,
    /// What the geometry and the overlap make of it.
    pub confidence: Confidence,
}

/// The hashes of the part both pictures show, made from the archived
/// thumbnail and from the incoming picture brought onto it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Overlap {
    /// Distance per algorithm.
    pub distances: BTreeMap<HashKind, u32>,
    /// Both PDQ qualities are high enough to trust PDQ.
    pub pdq_reliable: bool,
    /// Size of the compared part, in thumbnail pixels.
    pub side: (u32, u32),
}

impl Overlap {
    /// Whether any hash agrees at its `possible` distance (PDQ only when
    /// both qualities are high enough to trust it).
    pub fn agrees_at_all(&self, p: &MatchParams) -> bool {
        let d = |k| self.distances.get(&k).copied().unwrap_or(u32::MAX);
        d(HashKind::Phash) <= p.phash_possible
            || d(HashKind::Dhash) <= p.dhash_possible
            || (self.pdq_reliable && d(HashKind::Pdq) <= p.pdq_possible)
    }

    /// Whether the shared part's hashes agree as a whole-frame confirmation
    /// needs them to, a notch stricter: PDQ and a 64-bit hash within their
    /// confirmation thresholds, or, when PDQ cannot speak, both 64-bit hashes.
    pub fn confirms(&self, p: &MatchParams) -> bool {
        let d = |k| self.distances.get(&k).copied().unwrap_or(u32::MAX);
        // The second hash at its confirmation distance, not its possible one
        // as for whole frames: the shared part is compared at thumbnail
        // resolution, where two photographs of one scene differ less.
        let second = d(HashKind::Phash) <= p.phash_confirm || d(HashKind::Dhash) <= p.dhash_confirm;
        if self.pdq_reliable {
            d(HashKind::Pdq) <= p.pdq_confirm && second
        } else {
            d(HashKind::Phash) <= p.phash_confirm && d(HashKind::Dhash) <= p.dhash_confirm
        }
    }
}

/// The transform from the archived picture to the incoming one in the
/// report's words: the dihedral name (`identity`, `mirror`, `rot90`,
/// `mirror_rot90`, …) of the nearest quarter turn, then `rotate(x°)` for what
/// is left when that is at least 1° (clockwise positive, as the quarter turns).
pub(crate) fn transform_name(v: &Verified) -> String {
    // The similarity maps incoming (mirrored first, when mirrored) to
    // archived. Incoming = mirror ∘ S⁻¹ = R(θ) ∘ mirror when mirrored, and
    // S⁻¹ = R(−θ) otherwise (y down: positive angles turn clockwise).
    let theta = v.transform.angle().to_degrees();
    let turn = if v.mirrored { theta } else { -theta };
    let turn = f64::from(turn).rem_euclid(360.0);
    let quarter = ((turn / 90.0).round() as i64).rem_euclid(4);
    let mut rest = turn - 90.0 * quarter as f64;
    if rest > 180.0 {
        rest -= 360.0;
    }
    let base = Dihedral::from_parts(v.mirrored, quarter as u8).as_str();
    if rest.abs() < 1.0 {
        base.to_string()
    } else if base == "identity" {
        format!("rotate({rest:.1}°)")
    } else {
        format!("{base}+rotate({rest:.1}°)")
    }
}

/// Corners in pixels.
type Polygon = Vec<(f32, f32)>;

/// Clip a polygon to the rectangle `[0, w] × [0, h]` (Sutherland–Hodgman).
fn clip(poly: &[(f32, f32)], w: f32, h: f32) -> Vec<(f32, f32)> {
    let mut out = poly.to_vec();
    // Each edge as (inside test, intersection along x or y).
    let edges: [(u8, f32); 4] = [(0, 0.0), (1, w), (2, 0.0), (3, h)];
    for (side, at) in edges {
        let inside = |p: (f32, f32)| match side {
            0 => p.0 >= at,
            1 => p.0 <= at,
            2 => p.1 >= at,
            _ => p.1 <= at,
        };
        let cross = |a: (f32, f32), b: (f32, f32)| {
            if side < 2 {
                let t = (at - a.0) / (b.0 - a.0);
                (at, a.1 + t * (b.1 - a.1))
            } else {
                let t = (at - a.1) / (b.1 - a.1);
                (a.0 + t * (b.0 - a.0), at)
            }
        };
        let input = std::mem::take(&mut out);
        for (i, &cur) in input.iter().enumerate() {
            let prev = input[(i + input.len() - 1) % input.len()];
            match (inside(prev), inside(cur)) {
                (true, true) => out.push(cur),
                (true, false) => out.push(cross(prev, cur)),
                (false, true) => {
                    out.push(cross(prev, cur));
                    out.push(cur);
                }
                (false, false) => {}
            }
        }
        if out.is_empty() {
            break;
        }
    }
    out
}

fn area(poly: &[(f32, f32)]) -> f32 {
    let n = poly.len();
    (0..n)
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum::<f32>()
        .abs()
        / 2.0
}

fn bbox(poly: &[(f32, f32)], w: f32, h: f32) -> Rect {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(x, y) in poly {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let (w, h) = (w.max(1.0), h.max(1.0));
    Rect {
        x: (x0 / w).clamp(0.0, 1.0),
        y: (y0 / h).clamp(0.0, 1.0),
        w: ((x1 - x0) / w).clamp(0.0, 1.0),
        h: ((y1 - y0) / h).clamp(0.0, 1.0),
    }
}

/// An incoming-picture point (in its own, unmirrored pixels) → archived pixels.
fn to_archived(v: &Verified, qw: f32, x: f32, y: f32) -> (f32, f32) {
    let x = if v.mirrored { qw - 1.0 - x } else { x };
    v.transform.apply(x, y)
}

/// An archived point → incoming pixels (unmirrored).
fn to_incoming(v: &Verified, inv: &Similarity, qw: f32, x: f32, y: f32) -> (f32, f32) {
    let (x, y) = inv.apply(x, y);
    (if v.mirrored { qw - 1.0 - x } else { x }, y)
}

/// The part of each picture that the transform maps inside the other, as
/// polygons in pixels: (incoming part, archived part).
fn overlap_polygons(
    v: &Verified,
    (qw, qh): (f32, f32),
    (aw, ah): (f32, f32),
) -> Option<(Polygon, Polygon)> {
    let inv = v.transform.inverse()?;
    let q_frame = [(0.0, 0.0), (qw, 0.0), (qw, qh), (0.0, qh)];
    let a_frame = [(0.0, 0.0), (aw, 0.0), (aw, ah), (0.0, ah)];
    let in_archive: Vec<_> = q_frame
        .iter()
        .map(|&(x, y)| to_archived(v, qw, x, y))
        .collect();
    let in_incoming: Vec<_> = a_frame
        .iter()
        .map(|&(x, y)| to_incoming(v, &inv, qw, x, y))
        .collect();
    let a_part = clip(&in_archive, aw, ah);
    let q_part = clip(&in_incoming, qw, qh);
    (a_part.len() >= 3 && q_part.len() >= 3).then_some((q_part, a_part))
}

fn describe(query_share: f32, archive_share: f32, transform: &str) -> String {
    let turned = if transform == "identity" {
        String::new()
    } else {
        format!(" ({transform})")
    };
    if archive_share < 0.95 && query_share >= 0.9 {
        format!(
            "the incoming picture is a crop showing {:.0}% of the archived one{turned}",
            archive_share * 100.0
        )
    } else if query_share < 0.95 && archive_share >= 0.9 {
        format!(
            "the archived picture fills {:.0}% of the incoming one (frame, caption or screenshot){turned}",
            query_share * 100.0
        )
    } else {
        format!(
            "{:.0}% of the incoming picture shows {:.0}% of the archived one{turned}",
            query_share * 100.0,
            archive_share * 100.0
        )
    }
}

/// Area-average `src` down by an integer-free factor `f ≥ 1` (output pixel
/// `i` covers source `[i·f, (i+1)·f)`), so that sampling it afterwards does
/// not alias.
fn shrink_by(src: &GrayImage, f: f32) -> GrayImage {
    if f <= 1.0 {
        return src.clone();
    }
    let (w, h) = src.dimensions();
    let (ow, oh) = (
        ((w as f32 / f).round() as u32).max(1),
        ((h as f32 / f).round() as u32).max(1),
    );
    let t = Thumb::from_luma_with_side(src, ow.max(oh));
    GrayImage::from_raw(u32::from(t.width), u32::from(t.height), t.pixels)
        .unwrap_or_else(|| src.clone())
}

fn bilinear(img: &GrayImage, x: f32, y: f32) -> Option<f32> {
    let (w, h) = img.dimensions();
    if !(x >= -0.5 && y >= -0.5 && x <= w as f32 - 0.5 && y <= h as f32 - 0.5) {
        return None;
    }
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |xx, yy| f32::from(img.get_pixel(xx, yy).0[0]);
    let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
    let bot = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
    Some(top * (1.0 - fy) + bot * fy)
}

/// Whether a point lies inside (or on the edge of) a convex polygon.
fn inside_convex(poly: &[(f32, f32)], x: f32, y: f32) -> bool {
    let n = poly.len();
    let mut sign = 0i32;
    for i in 0..n {
        let (a, c) = (poly[i], poly[(i + 1) % n]);
        let cross = (c.0 - a.0) * (y - a.1) - (c.1 - a.1) * (x - a.0);
        let s = if cross > 1e-3 {
            1
        } else if cross < -1e-3 {
            -1
        } else {
            0
        };
        if s != 0 {
            if sign != 0 && s != sign {
                return false;
            }
            sign = s;
        }
    }
    true
}

/// The shared part compared by hashes: the largest box of the archived
/// thumbnail inside the archived part, and the incoming picture brought onto
/// that box by the transform. `None` when the box is too small to hash.
fn overlap_hashes(
    v: &Verified,
    archived_part: &[(f32, f32)],
    thumb: &Thumb,
    (aw, ah): (f32, f32),
    query: &GrayImage,
    min_quality: u8,
) -> Option<Overlap> {
    let (tw, th) = (f32::from(thumb.width), f32::from(thumb.height));
    let (kx, ky) = (aw / tw, ah / th);
    // The part in thumbnail pixels; its bounding box shrunk until its corners
    // are inside the part (a turned crop is a turned rectangle).
    let part: Vec<(f32, f32)> = archived_part
        .iter()
        .map(|&(x, y)| (x / kx, y / ky))
        .collect();
    // Its bounding box in thumbnail pixels (not `bbox`, which normalises).
    let (mut lx, mut ly, mut hx, mut hy) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(x, y) in &part {
        (lx, ly, hx, hy) = (lx.min(x), ly.min(y), hx.max(x), hy.max(y));
    }
    let (bw_, bh_) = (hx - lx, hy - ly);
    let inside = |x: f32, y: f32| inside_convex(&part, x, y);
    let (cx, cy) = (lx + bw_ / 2.0, ly + bh_ / 2.0);
    let mut shrink = 1.0f32;
    let (mut x0, mut y0, mut x1, mut y1);
    loop {
        x0 = cx - shrink * bw_ / 2.0;
        x1 = cx + shrink * bw_ / 2.0;
        y0 = cy - shrink * bh_ / 2.0;
        y1 = cy + shrink * bh_ / 2.0;
        if [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
            .iter()
            .all(|&(x, y)| inside(x, y))
            || shrink < 0.3
        {
            break;
        }
        shrink -= 0.03;
    }
    // One pixel in from every edge: the thumbnail's border pixels average
    // over less than a whole pixel of the picture.
    let (bx0, by0) = ((x0.ceil() as i64 + 1).max(0), (y0.ceil() as i64 + 1).max(0));
    let (bx1, by1) = (
        (x1.floor() as i64 - 1).min(i64::from(thumb.width)),
        (y1.floor() as i64 - 1).min(i64::from(thumb.height)),
    );
    let (bw, bh) = (bx1 - bx0, by1 - by0);
    if bw < 32 || bh < 32 {
        return None;
    }
    let (bw, bh) = (bw as u32, bh as u32);
    let archived = GrayImage::from_fn(bw, bh, |u, v| {
        let i = (by0 as usize + v as usize) * usize::from(thumb.width) + bx0 as usize + u as usize;
        image::Luma([thumb.pixels.get(i).copied().unwrap_or(0)])
    });
    // One thumbnail pixel is kx archived pixels, kx / scale incoming pixels:
    // the incoming picture is averaged down to that before it is sampled.
    let inv = v.transform.inverse()?;
    let s = v.transform.scale().max(1e-3);
    let f = (kx.max(ky) / s).max(1.0);
    let small = shrink_by(query, f);
    let (fx, fy) = (
        query.width() as f32 / small.width() as f32,
        query.height() as f32 / small.height() as f32,
    );
    let qw = query.width() as f32;
    let mut missing = 0u32;
    let incoming = GrayImage::from_fn(bw, bh, |u, v2| {
        let ax = ((bx0 as f32 + u as f32 + 0.5) * kx) - 0.5;
        let ay = ((by0 as f32 + v2 as f32 + 0.5) * ky) - 0.5;
        let (x, y) = to_incoming(v, &inv, qw, ax, ay);
        match bilinear(&small, (x + 0.5) / fx - 0.5, (y + 0.5) / fy - 0.5) {
            Some(val) => image::Luma([val.round().clamp(0.0, 255.0) as u8]),
            None => {
                missing += 1;
                image::Luma([0])
            }
        }
    });
    if missing * 50 > bw * bh {
        return None;
    }
    let ha = hash::compute(&DynamicImage::ImageLuma8(archived));
    let hi = hash::compute(&DynamicImage::ImageLuma8(incoming));
    let mut distances = BTreeMap::new();
    for kind in HashKind::ALL {
        if let (Some(a), Some(b)) = (ha.get(kind), hi.get(kind)) {
            if let Some(d) = a.distance(&b) {
                distances.insert(kind, d);
            }
        }
    }
    let pdq_reliable = ha.pdq_quality.is_some_and(|q| q >= min_quality)
        && hi.pdq_quality.is_some_and(|q| q >= min_quality);
    Some(Overlap {
        distances,
        pdq_reliable,
        side: (bw, bh),
    })
}

/// Features whose descriptors stand for their visual words (distance 0 for
/// the same word, more for any other), for a geometric check on shared words.
fn words_as_features(
    f: &Features,
    upright: impl Iterator<Item = u16>,
    mirrored: impl Iterator<Item = u16>,
) -> Features {
    let word = |w: u16| [u64::from(w); 4];
    let items: Vec<_> = f
        .items
        .iter()
        .zip(upright)
        .map(|(x, w)| crate::features::Feature {
            descriptor: word(w),
            ..*x
        })
        .collect();
    let m: Vec<[u64; 4]> = mirrored.map(word).collect();
    Features {
        width: f.width,
        height: f.height,
        mirrored: (m.len() == items.len()).then_some(crate::features::MirrorDescriptors(m)),
        items,
    }
}

/// A verification of a view's features, in the picture's own pixels: the
/// view's point `u` is `s·q + c` for the picture's point `q` (per axis, pixel
/// centres kept), and mirroring happens in whichever frame the points are
/// in, so the offset differs when mirrored.
fn in_picture(v: &Verified, view: &View) -> Verified {
    let s = view.scale;
    let (vw, vh) = (view.features.width as f32, view.features.height as f32);
    let (pw, ph) = (view.picture.0 as f32, view.picture.1 as f32);
    let c = |o: f32| s * (0.5 - o) - 0.5;
    let (mut cx, cy) = (c(view.x), c(view.y));
    if v.mirrored {
        cx = vw - 1.0 - s * (pw - 1.0) - cx;
    }
    let t = &v.transform;
    let (tx, ty) = t.apply(cx, cy);
    // The view's area in the picture's pixels, over the picture's.
    let share = (vw * vh / (s * s)) / (pw * ph).max(1.0);
    Verified {
        transform: Similarity {
            a: t.a * s,
            b: t.b * s,
            tx,
            ty,
        },
        query_cover: (v.query_cover * share).clamp(0.0, 1.0),
        ..v.clone()
    }
}

/// Search the feature index for partial copies of the incoming picture and
/// verify the best `params.feature_candidates`. Returns what passed the
/// `possible` line of the chance model, and how many candidates were verified.
#[allow(clippy::too_many_arguments)]
pub(crate) fn search(
    features: &Features,
    inner: Option<&View>,
    image: Option<&GrayImage>,
    index: &MemoryIndex,
    lookup: &dyn Lookup,
    params: &MatchParams,
    chance: &ChanceModel,
    archive_images: u64,
    exclude: Option<i64>,
) -> Result<(Vec<LocalMatch>, usize)> {
    let vocabulary = Vocabulary::builtin();
    // The picture itself, and the picture inside it when there is one: each
    // with its words, and its words as features for the quick check below.
    let mut views: Vec<(&Features, Option<&View>, Features, SortedQuery)> = Vec::with_capacity(2);
    let (mut all_up, mut all_mirrored) = (Vec::new(), Vec::new());
    for (f, view) in std::iter::once((features, None)).chain(inner.map(|v| (&v.features, Some(v))))
    {
        let (up, mirrored) = query_words(vocabulary, f);
        let as_words = words_as_features(
            f,
            up.iter().map(|w| w.word),
            mirrored.iter().map(|w| w.word),
        );
        all_up.extend(up);
        all_mirrored.extend(mirrored);
        // Sorted once for every candidate's quick check.
        let sorted = SortedQuery::new(&as_words);
        views.push((f, view, as_words, sorted));
    }
    // One candidate list for both: the votes are by word, turn and scale,
    // so the inner picture's words vote for its original with the frame's
    // turn but at a scale of their own (the view is enlarged); a picture is
    // ranked by whichever view agrees with it more.
    let candidates = index.features().candidates_of_words(
        &all_up,
        &all_mirrored,
        params.feature_candidates,
        &params.feature_index,
    );
    let word_params = VerifyParams {
        max_distance: 0,
        ..params.verify.clone()
    };
    let mut out = Vec::new();
    let mut verified_count = 0;
    for c in candidates {
        if Some(c.image_id) == exclude {
            continue;
        }
        let Some(sf) = lookup.features(c.image_id)? else {
            continue;
        };
        let Some(stored) = Features::from_bytes(&sf.data) else {
            continue;
        };
        verified_count += 1;
        let archived_words = crate::index::features::words_from_bytes(&sf.words)
            .filter(|w| w.len() == stored.len() && !w.is_empty())
            .map(|words| {
                words_as_features(&stored, words.iter().map(|w| w.word), std::iter::empty())
            });
        // Each view on its own: their points are in different pixels. The
        // one with the most agreeing pairs speaks for the pair of pictures.
        let mut best: Option<Verified> = None;
        for (f, view, query_words, sorted_words) in &views {
            // First on shared words alone (no descriptor distances: a few
            // microseconds): an unrelated picture's chance words do not line
            // up under one transform, and most candidates stop here. Each
            // orientation on its own, so that pairing descriptors (most of
            // a verification's cost) is done only for the ones that pass.
            let mut ways = Orientations::BOTH;
            if let Some(archived_words) = &archived_words {
                let quick = verify_each_sorted(
                    query_words,
                    sorted_words,
                    archived_words,
                    params.feature_scale_factor,
                    &word_params,
                    Orientations::BOTH,
                )
                .map(|v| v.is_some_and(|v| v.inliers >= params.quick_inliers));
                ways = Orientations {
                    upright: quick[0],
                    mirrored: quick[1],
                };
                if !ways.upright && !ways.mirrored {
                    continue;
                }
            }
            let Some(v) = verify_oriented(
                f,
                &stored,
                params.feature_scale_factor,
                &params.verify,
                ways,
            ) else {
                continue;
            };
            let v = match view {
                Some(view) => in_picture(&v, view),
                None => v,
            };
            if best.as_ref().is_none_or(|b| v.inliers > b.inliers) {
                best = Some(v);
            }
        }
        let Some(v) = best else {
            continue;
        };
        // The best of `views.len()` verifications is a chance match that
        // many times as often as one.
        let expected_false =
            chance.inliers_e(v.inliers, archive_images.max(1)) * views.len() as f64;
        if expected_false > params.possible_e {
            continue;
        }
        let (qw, qh) = (features.width as f32, features.height as f32);
        let (aw, ah) = (stored.width as f32, stored.height as f32);
        let transform = transform_name(&v);
        let polygons = overlap_polygons(&v, (qw, qh), (aw, ah));
        let region = polygons.as_ref().and_then(|(q, a)| {
            let (qs, as_) = (area(q) / (qw * qh).max(1.0), area(a) / (aw * ah).max(1.0));
            (qs < 0.95 || as_ < 0.95).then(|| MatchRegion {
                query: bbox(q, qw, qh),
                archive: bbox(a, aw, ah),
                description: describe(qs, as_, &transform),
                query_polygon: Some(
                    q.iter()
                        .map(|&(x, y)| [x / qw.max(1.0), y / qh.max(1.0)])
                        .collect(),
                ),
                archive_polygon: Some(
                    a.iter()
                        .map(|&(x, y)| [x / aw.max(1.0), y / ah.max(1.0)])
                        .collect(),
                ),
            })
        });
        let mut overlap = None;
        if let (Some(img), Some((_, a_part))) = (image, polygons.as_ref()) {
            if let Some(thumb) = lookup
                .thumb(c.image_id)?
                .and_then(|b| Thumb::from_bytes(&b))
            {
                overlap = crate::decode::contain(|| {
                    overlap_hashes(&v, a_part, &thumb, (aw, ah), img, params.pdq_min_quality)
                })
                .ok()
                .flatten();
            }
        }
        if params.overlap_must_agree && overlap.as_ref().is_some_and(|o| !o.agrees_at_all(params)) {
            continue;
        }
        let confidence = if expected_false <= params.confirm_e
            && v.residual <= params.confirm_max_residual
            && overlap.as_ref().is_some_and(|o| o.confirms(params))
        {
            Confidence::Confirmed
        } else {
            Confidence::Possible
        };
        out.push(LocalMatch {
            id: c.image_id,
            votes: c.votes,
            verified: v,
            expected_false,
            overlap,
            region,
            transform,
            confidence,
        });
    }
    Ok((out, verified_count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(mirrored: bool, degrees: f32) -> Verified {
        let a = degrees.to_radians();
        Verified {
            residual: 0.5,
            mirrored,
            transform: Similarity {
                a: a.cos(),
                b: a.sin(),
                tx: 0.0,
                ty: 0.0,
            },
            inliers: 10,
            tentative: 20,
            query_cover: 0.5,
            archive_cover: 0.5,
        }
    }

    #[test]
    fn transforms_are_named_as_the_quarter_turns_are_plus_what_is_left() {
        assert_eq!(transform_name(&verified(false, 0.3)), "identity");
        // The similarity maps incoming to archived: an incoming picture turned
        // 5° clockwise is mapped back by −5°.
        assert_eq!(transform_name(&verified(false, -5.0)), "rotate(5.0°)");
        assert_eq!(transform_name(&verified(false, 5.0)), "rotate(-5.0°)");
        assert_eq!(transform_name(&verified(false, -90.0)), "rot90");
        assert_eq!(
            transform_name(&verified(false, -93.0)),
            "rot90+rotate(3.0°)"
        );
        assert_eq!(transform_name(&verified(true, 0.0)), "mirror");
        assert_eq!(transform_name(&verified(true, 90.0)), "mirror_rot90");
    }

    /// A transform found on an inner view, brought into the picture's own
    /// pixels, sends every point of the picture where the view's transform
    /// sends the same point of the view, mirrored or not (each mirrors in
    /// its own frame).
    #[test]
    fn a_views_transform_in_the_pictures_pixels_maps_points_alike() {
        let features = |w: u32, h: u32| Features {
            width: w,
            height: h,
            items: Vec::new(),
            mirrored: None,
        };
        let view = View {
            x: 17.0,
            y: 240.0,
            scale: 2.35,
            picture: (236, 512),
            features: features(512, 385),
        };
        for mirrored in [false, true] {
            for degrees in [0.0f32, 3.0, -95.0] {
                let mut v = verified(mirrored, degrees);
                v.transform.a *= 0.9;
                v.transform.b *= 0.9;
                v.transform.tx = 12.5;
                v.transform.ty = -7.0;
                let p = in_picture(&v, &view);
                assert_eq!(p.mirrored, mirrored);
                for (ux, uy) in [(0.0, 0.0), (511.0, 0.0), (100.5, 200.25), (511.0, 384.0)] {
                    let in_view = to_archived(&v, 512.0, ux, uy);
                    let (qx, qy) = view.to_picture(ux, uy);
                    let in_pic = to_archived(&p, 236.0, qx, qy);
                    assert!(
                        (in_view.0 - in_pic.0).abs() < 1e-2 && (in_view.1 - in_pic.1).abs() < 1e-2,
                        "mirrored {mirrored}, {degrees}°: {in_view:?} vs {in_pic:?}"
                    );
                }
                // The picture is seen 2.35 times smaller than the view.
                assert!((p.transform.scale() - 2.35 * v.transform.scale()).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn clipping_keeps_what_is_inside_the_frame() {
        let square = [(-10.0, -10.0), (50.0, -10.0), (50.0, 50.0), (-10.0, 50.0)];
        let c = clip(&square, 100.0, 100.0);
        assert!((area(&c) - 2500.0).abs() < 1e-3, "{c:?}");
        let outside = [(200.0, 200.0), (300.0, 200.0), (300.0, 300.0)];
        assert!(clip(&outside, 100.0, 100.0).is_empty());
    }
}
