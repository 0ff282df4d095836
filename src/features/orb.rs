//! Oriented FAST keypoints with rotated BRIEF descriptors (ORB, Rublee et al.
//! 2011), computed on the grey working copy.
//!
//! Written here rather than taken from a crate (see `docs/matching.md`,
//! "Local features"): `imageproc` 0.27 has FAST and an *unrotated* BRIEF with
//! random test pairs drawn per call, no scale pyramid and no spatial spread of
//! the keypoints, and panics on pictures smaller than its border; `akaze` 0.7
//! is built on `image` 0.23 and `ndarray` 0.13 and its nonlinear scale space
//! costs tens of milliseconds a picture, more than a whole scan of one picture
//! is allowed. What is needed is small and fixed: a pyramid, FAST-9 with
//! non-maximum suppression, Harris ranking spread over a grid, the intensity
//! centroid, and 256 rotated tests; all of it integer or exactly specified
//! arithmetic, so that a descriptor stored in an archive today is computed the
//! same way tomorrow, on every platform.
//!
//! Pure and deterministic; no I/O. Never panics on any picture size: pictures
//! too small for a 31 px patch simply have no features.

use super::{Feature, FeatureParams, Features, MirrorDescriptors};

/// Radius of the descriptor's test pattern and of the orientation patch.
pub(crate) const PATCH_RADIUS: i32 = 15;
/// Keypoints closer to a level's border than this are dropped: the rotated
/// pattern and the orientation patch (radius 15) must lie inside the level.
const BORDER: i32 = PATCH_RADIUS + 1;

/// The 16 pixels of FAST's Bresenham circle of radius 3, clockwise from the top.
const CIRCLE: [(i32, i32); 16] = [
    (0, -3),
    (1, -3),
    (2, -2),
    (3, -1),
    (3, 0),
    (3, 1),
    (2, 2),
    (1, 3),
    (0, 3),
    (-1, 3),
    (-2, 2),
    (-3, 1),
    (-3, 0),
    (-3, -1),
    (-2, -2),
    (-1, -3),
];

/// One level of the scale pyramid.
struct Level {
    w: usize,
    h: usize,
    /// Level-0 pixels per level pixel, horizontally and vertically.
    sx: f32,
    sy: f32,
    /// The level's pixels.
    px: Vec<u8>,
}

/// The 256 tests `(ax, ay, bx, by)`: points inside the radius-15 disk whose
/// comparison is the descriptor's bit. Learned from public photographs by
/// `examples/train_features.rs` (ORB's greedy search for tests near a coin
/// toss and uncorrelated with each other; `benches/features/README.md`) and
/// stored as 1,024 signed bytes: a table, not a computation, so every build
/// on every platform describes a keypoint with the same bits.
pub(crate) fn pattern() -> &'static [[i8; 4]; 256] {
    static BYTES: &[u8; 1024] = include_bytes!("pattern.bin");
    static PATTERN: std::sync::OnceLock<[[i8; 4]; 256]> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| std::array::from_fn(|i| std::array::from_fn(|k| BYTES[4 * i + k] as i8)))
}

/// Half-widths of the radius-15 disk, row by row (`umax[|dy|]`).
fn disk_rows() -> [i32; PATCH_RADIUS as usize + 1] {
    let mut rows = [0; PATCH_RADIUS as usize + 1];
    for (dy, r) in rows.iter_mut().enumerate() {
        let dy = dy as i32;
        let mut u = 0;
        while (u + 1) * (u + 1) + dy * dy <= PATCH_RADIUS * PATCH_RADIUS {
            u += 1;
        }
        *r = u;
    }
    rows
}

/// Bilinear resample of `src` to `w` × `h` (pixel centres aligned), in
/// 8-bit fixed point.
fn downscale(src: &[u8], sw: usize, sh: usize, w: usize, h: usize) -> Vec<u8> {
    let taps = |len: usize, src_len: usize| -> Vec<(usize, usize, u32)> {
        let k = src_len as f32 / len as f32;
        (0..len)
            .map(|i| {
                let f = ((i as f32 + 0.5) * k - 0.5).clamp(0.0, (src_len - 1) as f32);
                let i0 = f.floor() as usize;
                let frac = ((f - i0 as f32) * 256.0).round() as u32;
                (i0, (i0 + 1).min(src_len - 1), frac.min(256))
            })
            .collect()
    };
    let cols = taps(w, sw);
    let mut row = vec![0u32; w];
    let mut out = vec![0u8; w * h];
    for (o, &(y0, y1, fy)) in out.chunks_exact_mut(w).zip(&taps(h, sh)) {
        let (r0, r1) = (&src[y0 * sw..(y0 + 1) * sw], &src[y1 * sw..(y1 + 1) * sw]);
        for (v, &(x0, x1, fx)) in row.iter_mut().zip(&cols) {
            let top = u32::from(r0[x0]) * (256 - fx) + u32::from(r0[x1]) * fx;
            let bot = u32::from(r1[x0]) * (256 - fx) + u32::from(r1[x1]) * fx;
            *v = top * (256 - fy) + bot * fy;
        }
        for (d, &v) in o.iter_mut().zip(&row) {
            *d = ((v + (1 << 15)) >> 16) as u8;
        }
    }
    out
}

/// Gaussian blur, σ ≈ 2 over 7 taps (integer weights summing to 256), borders
/// replicated: BRIEF's tests compare single pixels, and noise would flip them.
fn blur(src: &[u8], w: usize, h: usize) -> Vec<u8> {
    #[inline(always)]
    fn taps(s: [&[u8]; 7], out: &mut [u8]) {
        const K: [u16; 4] = [54, 49, 34, 18];
        let n = out.len();
        let (s0, s1, s2, s3, s4, s5, s6) = (
            &s[0][..n],
            &s[1][..n],
            &s[2][..n],
            &s[3][..n],
            &s[4][..n],
            &s[5][..n],
            &s[6][..n],
        );
        for x in 0..n {
            // At most 256 × 255: fits u16.
            let v = K[0] * u16::from(s3[x])
                + K[1] * (u16::from(s2[x]) + u16::from(s4[x]))
                + K[2] * (u16::from(s1[x]) + u16::from(s5[x]))
                + K[3] * (u16::from(s0[x]) + u16::from(s6[x]));
            out[x] = (v.saturating_add(128) >> 8) as u8;
        }
    }
    // Each row padded by 3 replicated pixels a side, so that the horizontal
    // pass reads seven shifted slices of one length, as the vertical one
    // reads seven rows: both vectorise.
    let mut padded = vec![0u8; w + 6];
    let mut tmp = vec![0u8; w * h];
    for (row, out) in src.chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
        padded[3..3 + w].copy_from_slice(row);
        for i in 0..3 {
            padded[i] = row[0];
            padded[w + 3 + i] = row[w - 1];
        }
        taps(std::array::from_fn(|k| &padded[k..k + w]), out);
    }
    let mut out = vec![0u8; w * h];
    for (y, o) in out.chunks_exact_mut(w).enumerate() {
        let row = |i: usize| {
            let yy = (y as isize + i as isize - 3).clamp(0, h as isize - 1) as usize;
            &tmp[yy * w..yy * w + w]
        };
        taps(std::array::from_fn(row), o);
    }
    out
}

/// FAST-9 on one row: for each pixel of the middle row of `rows` (seven
/// rows, y − 3 to y + 3) between columns `b` and `w − b`, its corner score
/// at `threshold` into `out` (0 when it is no corner): the largest `t` for
/// which 9 contiguous circle pixels are all brighter than the centre + t, or
/// all darker than the centre − t.
///
/// The sixteen comparisons run as sixteen passes over whole rows, which the
/// compiler vectorises; only the rare corners get the scalar score. Where the
/// CPU has AVX2 the passes run 32 pixels at a time instead of SSE2's 16 (the
/// same integer operations, so the same scores): FAST is the largest part of
/// describing an incoming picture.
fn fast_row(
    rows: &[&[u8]; 7],
    b: usize,
    threshold: i16,
    out: &mut [u16],
    masks: &mut [Vec<u8>; 4],
) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(
            rows: &[&[u8]; 7],
            b: usize,
            threshold: i16,
            out: &mut [u16],
            masks: &mut [Vec<u8>; 4],
        ) {
            fast_row_inline(rows, b, threshold, out, masks)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU was just seen to support the one feature `avx2`
            // is compiled with.
            return unsafe { avx2(rows, b, threshold, out, masks) };
        }
    }
    fast_row_inline(rows, b, threshold, out, masks)
}

#[inline(always)]
fn fast_row_inline(
    rows: &[&[u8]; 7],
    b: usize,
    threshold: i16,
    out: &mut [u16],
    masks: &mut [Vec<u8>; 4],
) {
    let w = rows[3].len();
    let n = w - 2 * b;
    let t = threshold.clamp(0, 255) as u8;
    // Four u8 masks per pixel: bright and dark, circle pixels 0-7 and 8-15.
    // p > c + t  ⇔  p ⊖ t > c, and p < c − t  ⇔  p ⊕ t < c, in saturating u8
    // arithmetic: no widening anywhere, and plain indexed loops over slices
    // of one length, so that the compiler vectorises the sixteen passes.
    let centre = &rows[3][b..b + n];
    for m in masks.iter_mut() {
        m.clear();
        m.resize(n, 0);
    }
    let [bl, bh, dl, dh] = masks;
    for (i, &(dx, dy)) in CIRCLE.iter().enumerate() {
        let start = (b as i32 + dx) as usize;
        let ring = &rows[(3 + dy) as usize][start..start + n];
        let (bm, dm) = if i < 8 {
            (&mut bl[..n], &mut dl[..n])
        } else {
            (&mut bh[..n], &mut dh[..n])
        };
        let bit = (i % 8) as u32;
        for x in 0..n {
            let (p, c) = (ring[x], centre[x]);
            bm[x] |= u8::from(p.saturating_sub(t) > c) << bit;
            dm[x] |= u8::from(p.saturating_add(t) < c) << bit;
        }
    }
    // Circle offsets into a 7×7 window around the pixel, row-major.
    const WIN: [usize; 16] = {
        let mut o = [0usize; 16];
        let mut i = 0;
        while i < 16 {
            o[i] = ((CIRCLE[i].1 + 3) * 7 + CIRCLE[i].0 + 3) as usize;
            i += 1;
        }
        o
    };
    let nine = nine_table();
    let has_nine = |m: u16| nine[usize::from(m >> 6)] >> (m & 63) & 1 == 1;
    // An arc of 9 of the 16 circle pixels holds two opposite ones, i and
    // i + 8, which are the same bit of the low and the high mask: a pixel
    // whose masks share no bit cannot be a corner. Eight pixels at a time
    // (most of a picture is no corner, and this scalar loop was as long as
    // the sixteen vectorised passes), the exact test only where it can pass.
    let word = |m: &[u8], k: usize| {
        let mut v = [0u8; 8];
        v.copy_from_slice(&m[k..k + 8]);
        u64::from_le_bytes(v)
    };
    let mut k0 = 0;
    while k0 < n {
        let (bright, dark) = if k0 + 8 <= n {
            (word(bl, k0) & word(bh, k0), word(dl, k0) & word(dh, k0))
        } else {
            (u64::MAX, u64::MAX)
        };
        let (from, to) = (k0, (k0 + 8).min(n));
        k0 = to;
        if bright | dark == 0 {
            continue;
        }
        for k in from..to {
            let shift = 8 * (k - from);
            let bm = u16::from(bl[k]) | (u16::from(bh[k]) << 8);
            let dm = u16::from(dl[k]) | (u16::from(dh[k]) << 8);
            let is_b = (bright >> shift) & 0xff != 0 && has_nine(bm);
            let is_d = (dark >> shift) & 0xff != 0 && has_nine(dm);
            if !is_b && !is_d {
                continue;
            }
            let x = b + k;
            let c = i16::from(rows[3][x]);
            let mut win = [0u8; 49];
            for (r, row) in win.chunks_exact_mut(7).zip(rows.iter()) {
                r.copy_from_slice(&row[x - 3..x + 4]);
            }
            let mut d = [0i16; 32];
            for (i, &o) in WIN.iter().enumerate() {
                let v = i16::from(win[o]) - c;
                d[i] = v;
                d[i + 16] = v;
            }
            // The score: the best arc's weakest contrast. Minima of 9 consecutive
            // values by doubling windows (2, 4, 8, then one more).
            let mut best = 0i16;
            if is_b {
                best = best.max(best_arc(&d));
            }
            if is_d {
                best = best.max(best_arc(&d.map(|v| -v)));
            }
            out[x] = best.max(1) as u16;
        }
    }
}

/// For every 16-bit circular mask, whether it has 9 consecutive bits set, as
/// a bitset (8 KB): one lookup instead of eight shifts per pixel.
fn nine_table() -> &'static [u64; 1024] {
    static TABLE: std::sync::OnceLock<Box<[u64; 1024]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([0u64; 1024]);
        for m in 0..=u16::MAX {
            if nine(m) {
                t[usize::from(m >> 6)] |= 1 << (m & 63);
            }
        }
        t
    })
}

/// Whether a 16-bit circular mask has 9 consecutive bits set.
#[inline]
fn nine(m: u16) -> bool {
    let mut m = u32::from(m) | (u32::from(m) << 16);
    for _ in 0..8 {
        m &= m >> 1;
    }
    m != 0
}

/// The largest, over the 16 arcs of 9 consecutive circle pixels, of the
/// smallest value on the arc (`d` holds the 16 values twice over).
#[inline]
fn best_arc(d: &[i16; 32]) -> i16 {
    let m2: [i16; 31] = std::array::from_fn(|i| d[i].min(d[i + 1]));
    let m4: [i16; 29] = std::array::from_fn(|i| m2[i].min(m2[i + 2]));
    let m8: [i16; 25] = std::array::from_fn(|i| m4[i].min(m4[i + 4]));
    (0..16).map(|i| m8[i].min(d[i + 8])).max().unwrap_or(0)
}

/// Harris corner response over a 7×7 block of Sobel gradients.
fn harris(px: &[u8], w: usize, x: usize, y: usize) -> f32 {
    let g = |xx: usize, yy: usize| i32::from(px[yy * w + xx]);
    let (mut a, mut b, mut c) = (0i64, 0i64, 0i64);
    for yy in y - 3..=y + 3 {
        for xx in x - 3..=x + 3 {
            let ix = (g(xx + 1, yy - 1) + 2 * g(xx + 1, yy) + g(xx + 1, yy + 1))
                - (g(xx - 1, yy - 1) + 2 * g(xx - 1, yy) + g(xx - 1, yy + 1));
            let iy = (g(xx - 1, yy + 1) + 2 * g(xx, yy + 1) + g(xx + 1, yy + 1))
                - (g(xx - 1, yy - 1) + 2 * g(xx, yy - 1) + g(xx + 1, yy - 1));
            a += i64::from(ix * ix);
            b += i64::from(iy * iy);
            c += i64::from(ix * iy);
        }
    }
    let (a, b, c) = (a as f64, b as f64, c as f64);
    (a * b - c * c - 0.04 * (a + b) * (a + b)) as f32
}

/// A corner found on one level, before selection.
#[derive(Clone, Copy)]
struct Corner {
    x: u16,
    y: u16,
    response: f32,
}

/// FAST-9 corners of one level with 3×3 non-maximum suppression; of those,
/// the `keep` strongest by FAST score are ranked by their Harris response
/// (Harris ranks corners better, FAST finds them faster).
fn detect(level: &Level, threshold: i32, keep: usize) -> (Vec<Corner>, usize) {
    let (w, h) = (level.w, level.h);
    let b = BORDER as usize;
    if w <= 2 * b || h <= 2 * b {
        return (Vec::new(), 0);
    }
    let mut score = vec![0u16; w * h];
    let mut found = Vec::new();
    let mut masks: [Vec<u8>; 4] = Default::default();
    let t = threshold.clamp(1, 255) as i16;
    for y in b..h - b {
        let rows: [&[u8]; 7] = std::array::from_fn(|i| &level.px[(y + i - 3) * w..(y + i - 2) * w]);
        let out = &mut score[y * w..(y + 1) * w];
        fast_row(&rows, b, t, out, &mut masks);
        found.extend((b..w - b).filter(|&x| out[x] > 0).map(|x| (x, y)));
    }
    let mut kept: Vec<(u16, usize, usize)> = Vec::new();
    for (x, y) in found {
        let s = score[y * w + x];
        // Keep the strict maximum; among equal neighbours, the first in raster order.
        let mut max = true;
        'n: for dy in -1i32..=1 {
            for dx in -1i32..=1 {
                if dx == 0 && dy == 0 {
                    continue;
                }
                let n = score[(y as i32 + dy) as usize * w + (x as i32 + dx) as usize];
                let before = dy < 0 || (dy == 0 && dx < 0);
                if n > s || (n == s && before) {
                    max = false;
                    break 'n;
                }
            }
        }
        if max {
            kept.push((s, x, y));
        }
    }
    let count = kept.len();
    if kept.len() > keep {
        kept.sort_by(|a, b| b.0.cmp(&a.0).then((a.2, a.1).cmp(&(b.2, b.1))));
        kept.truncate(keep);
    }
    let corners = kept
        .into_iter()
        .map(|(_, x, y)| Corner {
            x: x as u16,
            y: y as u16,
            response: harris(&level.px, w, x, y),
        })
        .collect();
    (corners, count)
}

/// Keep `n` corners, spread over the level: first the strongest of each cell
/// of a grid with about `n` cells, then the strongest of the rest. Copies are
/// cropped: a picture's features must cover all of it, not only its busiest
/// corner.
fn spread(mut corners: Vec<Corner>, w: usize, h: usize, n: usize) -> Vec<Corner> {
    if corners.len() <= n {
        return corners;
    }
    corners.sort_by(|a, b| {
        b.response
            .total_cmp(&a.response)
            .then((a.y, a.x).cmp(&(b.y, b.x)))
    });
    let cell = ((w * h) as f64 / n as f64).sqrt().max(8.0);
    let gx = ((w as f64 / cell).ceil() as usize).max(1);
    let gy = ((h as f64 / cell).ceil() as usize).max(1);
    let mut taken = vec![false; gx * gy];
    let mut chosen = vec![false; corners.len()];
    let mut out = Vec::with_capacity(n);
    for (i, c) in corners.iter().enumerate() {
        let cx = ((f64::from(c.x) / cell) as usize).min(gx - 1);
        let cy = ((f64::from(c.y) / cell) as usize).min(gy - 1);
        if !taken[cy * gx + cx] {
            taken[cy * gx + cx] = true;
            chosen[i] = true;
            out.push(*c);
            if out.len() == n {
                return out;
            }
        }
    }
    for (i, c) in corners.iter().enumerate() {
        if out.len() == n {
            break;
        }
        if !chosen[i] {
            out.push(*c);
        }
    }
    out
}

/// Orientation by the intensity centroid of the radius-15 disk, in radians
/// (image coordinates: x right, y down).
fn orientation(level: &Level, x: usize, y: usize, rows: &[i32; PATCH_RADIUS as usize + 1]) -> f32 {
    let w = level.w;
    let (mut m10, mut m01) = (0i64, 0i64);
    for dy in -PATCH_RADIUS..=PATCH_RADIUS {
        let r = rows[dy.unsigned_abs() as usize];
        let row = (y as i32 + dy) as usize * w;
        for dx in -r..=r {
            let v = i64::from(level.px[row + (x as i32 + dx) as usize]);
            m10 += i64::from(dx) * v;
            m01 += i64::from(dy) * v;
        }
    }
    (m01 as f64).atan2(m10 as f64) as f32
}

/// Orientation steps of the rotated pattern: the angle is rounded to 1/64 of
/// a turn (at most 2.8°, which moves a test point at radius 15 by under a
/// pixel of the blurred level) so that the rotated tests come from a table.
const ANGLE_STEPS: usize = 64;

/// The pattern rotated to each of the [`ANGLE_STEPS`] angles, upright and with
/// y negated (mirror): `[mirror][step][test] = (ax, ay, bx, by)`.
type RotatedPatterns = [[[[i8; 4]; 256]; ANGLE_STEPS]; 2];

fn rotated_patterns() -> &'static RotatedPatterns {
    static TABLE: std::sync::OnceLock<Box<RotatedPatterns>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([[[[0i8; 4]; 256]; ANGLE_STEPS]; 2]);
        for (m, per_mirror) in t.iter_mut().enumerate() {
            for (k, per_step) in per_mirror.iter_mut().enumerate() {
                // Exact for the quarter turns; elsewhere a rounding of the
                // ideal position, as any ORB does.
                let a = k as f64 * std::f64::consts::TAU / ANGLE_STEPS as f64;
                let (s, c) = a.sin_cos();
                for (out, tp) in per_step.iter_mut().zip(pattern().iter()) {
                    let rot = |u: i8, v: i8| -> (i8, i8) {
                        let (u, v) = (f64::from(u), f64::from(v) * if m == 1 { -1.0 } else { 1.0 });
                        ((u * c - v * s).round() as i8, (u * s + v * c).round() as i8)
                    };
                    let (ax, ay) = rot(tp[0], tp[1]);
                    let (bx, by) = rot(tp[2], tp[3]);
                    *out = [ax, ay, bx, by];
                }
            }
        }
        t
    })
}

/// The step of [`ANGLE_STEPS`] nearest to `angle`.
fn angle_step(angle: f32) -> usize {
    let turn = angle.rem_euclid(std::f32::consts::TAU) / std::f32::consts::TAU;
    (turn * ANGLE_STEPS as f32).round() as usize % ANGLE_STEPS
}

/// The 256 tests at one keypoint on the blurred level, rotated by `angle`;
/// with `mirror`, the tests of the mirrored picture at the mirrored keypoint
/// (the pattern's y negated: see [`MirrorDescriptors`]).
fn describe(blurred: &[u8], w: usize, x: usize, y: usize, angle: f32, mirror: bool) -> [u64; 4] {
    let tests = &rotated_patterns()[usize::from(mirror)][angle_step(angle)];
    let centre = (y * w + x) as isize;
    let w = w as isize;
    let at = |dx: i8, dy: i8| blurred[(centre + isize::from(dy) * w + isize::from(dx)) as usize];
    let mut out = [0u64; 4];
    for (word, chunk) in out.iter_mut().zip(tests.chunks_exact(64)) {
        let mut bits = 0u64;
        for (i, t) in chunk.iter().enumerate() {
            bits |= u64::from(at(t[0], t[1]) < at(t[2], t[3])) << i;
        }
        *word = bits;
    }
    out
}

/// The patch around a keypoint turned by its angle (see [`extract_with_patches`]).
fn steered_patch(
    blurred: &[u8],
    w: usize,
    x: usize,
    y: usize,
    angle: f32,
) -> [u8; PATCH_SIDE * PATCH_SIDE] {
    let a = angle_step(angle) as f64 * std::f64::consts::TAU / ANGLE_STEPS as f64;
    let (s, c) = a.sin_cos();
    let mut out = [0u8; PATCH_SIDE * PATCH_SIDE];
    let r = PATCH_RADIUS;
    for v in -r..=r {
        for u in -r..=r {
            if u * u + v * v > r * r {
                continue;
            }
            let (fu, fv) = (f64::from(u), f64::from(v));
            let dx = (fu * c - fv * s).round() as i32;
            let dy = (fu * s + fv * c).round() as i32;
            out[((v + r) * (2 * r + 1) + u + r) as usize] =
                blurred[(y as i32 + dy) as usize * w + (x as i32 + dx) as usize];
        }
    }
    out
}

/// Level sizes: level 0 is the picture, each next one `1 / scale_factor` of
/// the last, while at least a patch fits.
fn level_sizes(w: usize, h: usize, p: &FeatureParams) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let min = 2 * BORDER as usize + 1;
    for l in 0..p.levels {
        let k = f64::from(p.scale_factor).powi(i32::from(l));
        let (lw, lh) = (
            (w as f64 / k).round() as usize,
            (h as f64 / k).round() as usize,
        );
        if lw < min || lh < min {
            break;
        }
        out.push((lw, lh));
    }
    out
}

/// ORB features of a grey picture (`px`, `w` × `h`, row-major).
pub(crate) fn extract(px: &[u8], w: usize, h: usize, p: &FeatureParams) -> Features {
    extract_with_patches(px, w, h, p, None)
}

/// Side of a steered patch (see [`extract_with_patches`]).
pub(crate) const PATCH_SIDE: usize = 2 * PATCH_RADIUS as usize + 1;

/// [`extract`], and for each keypoint its steered patch when `patches` is
/// given: the blurred level sampled at every point `(u, v)` of the 31×31
/// square (row-major, centre at 15, 15; corners outside the disk are 0), each
/// point turned by the keypoint's angle exactly as the descriptor's test
/// points are. A test `(a, b)` of the pattern is then `patch[a] < patch[b]`:
/// what the trainer of the pattern and the vocabulary needs (see
/// `examples/train_features.rs`).
pub(crate) fn extract_with_patches(
    px: &[u8],
    w: usize,
    h: usize,
    p: &FeatureParams,
    mut patches: Option<&mut Vec<[u8; PATCH_SIDE * PATCH_SIDE]>>,
) -> Features {
    let mut features = Features {
        width: w as u32,
        height: h as u32,
        items: Vec::new(),
        mirrored: None,
    };
    if w == 0 || h == 0 || px.len() < w * h || p.max_features == 0 {
        return features;
    }
    let sizes = level_sizes(w, h, p);
    if sizes.is_empty() {
        return features;
    }
    // Quotas per level in proportion to its linear size, as ORB does: a coarse
    // level sees structure no fine one does, but has less room for it.
    let inv = (1.0 / f64::from(p.scale_factor)).powf(f64::from(p.level_weight.clamp(0.0, 4.0)));
    let total_weight: f64 = (0..sizes.len()).map(|l| inv.powi(l as i32)).sum();
    let rows = disk_rows();
    let mut mirrored = Vec::new();
    let mut prev: Option<Level> = None;
    let mut assigned = 0usize;
    // A picture soft at one scale is soft at the next: once lowered, the
    // threshold stays low for the coarser levels.
    let mut threshold = i32::from(p.fast_threshold);
    for (l, &(lw, lh)) in sizes.iter().enumerate() {
        let level = match &prev {
            None => Level {
                w,
                h,
                sx: 1.0,
                sy: 1.0,
                px: px[..w * h].to_vec(),
            },
            Some(last) => Level {
                w: lw,
                h: lh,
                sx: w as f32 / lw as f32,
                sy: h as f32 / lh as f32,
                px: downscale(&last.px, last.w, last.h, lw, lh),
            },
        };
        let quota = if l + 1 == sizes.len() {
            p.max_features.saturating_sub(assigned)
        } else {
            ((p.max_features as f64 * inv.powi(l as i32) / total_weight).round() as usize)
                .min(p.max_features - assigned)
        };
        assigned += quota;
        if quota > 0 {
            let keep = 3 * quota;
            let (mut corners, mut found) = detect(&level, threshold, keep);
            // Soft pictures (fog, clouds, night, a blurred copy) have few
            // corners at the usual contrast; take weaker ones rather than none.
            while found < quota && threshold > i32::from(p.min_fast_threshold) {
                threshold = (threshold / 2).max(i32::from(p.min_fast_threshold));
                (corners, found) = detect(&level, threshold, keep);
            }
            // Busy pictures (foliage, crowds, text) have corners everywhere;
            // scoring thousands more than are kept is most of the time spent,
            // so the next level starts from a higher threshold. The kept ones
            // are the strongest either way.
            if found > 24 * quota && threshold < 60 {
                threshold = threshold * 3 / 2;
            }
            let corners = spread(corners, lw, lh, quota);
            if !corners.is_empty() {
                let blurred = blur(&level.px, lw, lh);
                for c in corners {
                    let (x, y) = (usize::from(c.x), usize::from(c.y));
                    let angle = orientation(&level, x, y, &rows);
                    features.items.push(Feature {
                        x: (x as f32 + 0.5) * level.sx - 0.5,
                        y: (y as f32 + 0.5) * level.sy - 0.5,
                        level: l as u8,
                        angle,
                        response: c.response,
                        descriptor: describe(&blurred, lw, x, y, angle, false),
                    });
                    if p.mirror {
                        mirrored.push(describe(&blurred, lw, x, y, angle, true));
                    }
                    if let Some(out) = patches.as_deref_mut() {
                        out.push(steered_patch(&blurred, lw, x, y, angle));
                    }
                }
            }
        }
        prev = Some(level);
    }
    if p.mirror {
        features.mirrored = Some(MirrorDescriptors(mirrored));
    }
    features
}

/// The features an archive keeps of a picture: of those computed for a query
/// (more per level), each level's share of `p.max_features` chosen as
/// [`extract`] would choose them (strongest, spread over a grid), so that the
/// stored set is a subset of what the same picture shows as a query.
pub(crate) fn subset(f: &Features, p: &FeatureParams) -> Features {
    let levels = f
        .items
        .iter()
        .map(|x| usize::from(x.level) + 1)
        .max()
        .unwrap_or(0);
    let mut out = Features {
        width: f.width,
        height: f.height,
        items: Vec::new(),
        mirrored: None,
    };
    if levels == 0 || p.max_features == 0 {
        return out;
    }
    let inv = (1.0 / f64::from(p.scale_factor)).powf(f64::from(p.level_weight.clamp(0.0, 4.0)));
    let total_weight: f64 = (0..levels).map(|l| inv.powi(l as i32)).sum();
    let mut assigned = 0usize;
    for l in 0..levels {
        let quota = if l + 1 == levels {
            p.max_features.saturating_sub(assigned)
        } else {
            ((p.max_features as f64 * inv.powi(l as i32) / total_weight).round() as usize)
                .min(p.max_features - assigned)
        };
        assigned += quota;
        let k = f64::from(p.scale_factor).powi(l as i32);
        let (lw, lh) = (
            ((f.width as f64 / k).round() as usize).max(1),
            ((f.height as f64 / k).round() as usize).max(1),
        );
        let on_level: Vec<(usize, Corner)> = f
            .items
            .iter()
            .enumerate()
            .filter(|(_, x)| usize::from(x.level) == l)
            .map(|(i, x)| {
                let (sx, sy) = (f.width as f32 / lw as f32, f.height as f32 / lh as f32);
                (
                    i,
                    Corner {
                        x: ((x.x + 0.5) / sx - 0.5).round().clamp(0.0, 65535.0) as u16,
                        y: ((x.y + 0.5) / sy - 0.5).round().clamp(0.0, 65535.0) as u16,
                        response: x.response,
                    },
                )
            })
            .collect();
        let kept = spread(on_level.iter().map(|(_, c)| *c).collect(), lw, lh, quota);
        // Back from corners to the features they came from, in level order.
        let mut taken = vec![false; on_level.len()];
        for c in kept {
            if let Some(k) = on_level.iter().enumerate().position(|(k, (_, o))| {
                !taken[k] && o.x == c.x && o.y == c.y && o.response == c.response
            }) {
                taken[k] = true;
            }
        }
        for (k, (i, _)) in on_level.iter().enumerate() {
            if taken[k] {
                out.items.push(f.items[*i]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_is_fixed_and_inside_the_disk() {
        let p = pattern();
        for t in p.iter() {
            for (x, y) in [(t[0], t[1]), (t[2], t[3])] {
                let (x, y) = (i32::from(x), i32::from(y));
                assert!(x * x + y * y <= PATCH_RADIUS * PATCH_RADIUS);
            }
            assert!((t[0], t[1]) != (t[2], t[3]));
        }
        // Not all tests alike: the pattern spreads over the disk.
        let distinct: std::collections::HashSet<_> = p.iter().collect();
        assert!(distinct.len() > 250);
    }

    #[test]
    fn fast_finds_the_corner_of_a_square_and_nothing_on_flat_ground() {
        let (w, h) = (64usize, 64usize);
        let mut px = vec![40u8; w * h];
        for y in 20..64 {
            for x in 20..64 {
                px[y * w + x] = 200;
            }
        }
        let level = Level {
            w,
            h,
            sx: 1.0,
            sy: 1.0,
            px,
        };
        let (corners, _) = detect(&level, 20, 100);
        assert!(
            corners
                .iter()
                .any(|c| (i32::from(c.x) - 20).abs() <= 1 && (i32::from(c.y) - 20).abs() <= 1),
            "{:?}",
            corners.iter().map(|c| (c.x, c.y)).collect::<Vec<_>>()
        );
        // Straight edges are no corners.
        assert!(corners.iter().all(|c| c.x < 24 && c.y < 24));
        let flat = Level {
            w,
            h,
            sx: 1.0,
            sy: 1.0,
            px: vec![128; w * h],
        };
        assert!(detect(&flat, 20, 100).0.is_empty());
    }

    /// A sample picture (path under `samples/`) in grey, full size.
    fn sample_grey(name: &str) -> image::GrayImage {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples")
            .join(name);
        image::open(p).unwrap().to_luma8()
    }

    /// FAST-9 straight from its definition, one pixel at a time: a corner
    /// when 9 contiguous circle pixels are all brighter than the centre by
    /// more than `t`, or all darker; its score the best such side's largest
    /// weakest contrast over the 16 arcs. The row pass (with its
    /// opposite-pixel shortcut) must agree on every pixel of real photographs.
    #[test]
    fn fast_rows_score_as_the_definition_says() {
        fn naive(px: &[u8], w: usize, x: usize, y: usize, t: i16) -> u16 {
            let c = i16::from(px[y * w + x]);
            let v: Vec<i16> = CIRCLE
                .iter()
                .map(|&(dx, dy)| {
                    i16::from(px[(y as i32 + dy) as usize * w + (x as i32 + dx) as usize]) - c
                })
                .collect();
            let arc_min = |s: usize, sign: i16| (0..9).map(|i| sign * v[(s + i) % 16]).min();
            let side = |sign: i16| {
                let passes = (0..16).any(|s| arc_min(s, sign).is_some_and(|m| m > t));
                passes.then(|| (0..16).filter_map(|s| arc_min(s, sign)).max().unwrap_or(0))
            };
            match (side(1), side(-1)) {
                (None, None) => 0,
                (a, b) => a.unwrap_or(0).max(b.unwrap_or(0)).max(1) as u16,
            }
        }
        let mut corners = 0;
        for name in ["archive/Dune.jpg", "incoming/storm_caption.jpg"] {
            let img = sample_grey(name);
            // Every row at full size costs seconds in a debug build: every
            // seventh, which still crosses each kind of texture.
            let (w, h) = (img.width() as usize, img.height() as usize);
            let px = img.as_raw();
            let b = BORDER as usize;
            for t in [5i16, 20] {
                let mut masks: [Vec<u8>; 4] = Default::default();
                for y in (b..h - b).step_by(7) {
                    let rows: [&[u8]; 7] =
                        std::array::from_fn(|i| &px[(y + i - 3) * w..(y + i - 2) * w]);
                    let mut out = vec![0u16; w];
                    fast_row(&rows, b, t, &mut out, &mut masks);
                    for (x, &score) in out.iter().enumerate().take(w - b).skip(b) {
                        assert_eq!(score, naive(px, w, x, y, t), "{name} ({x}, {y}) t {t}");
                    }
                    corners += out.iter().filter(|&&s| s > 0).count();
                }
            }
        }
        assert!(corners > 1000, "{corners} corners");
    }

    /// The AVX2 build of the row pass scores every pixel of real photographs
    /// as the portable one does, at every threshold the detector uses.
    #[test]
    fn fast_rows_score_alike_with_and_without_avx2() {
        let mut rows_seen = 0;
        let mut corners = 0;
        for name in [
            "archive/Dune.jpg",
            "archive/Storm.jpg",
            "incoming/storm_caption.jpg",
        ] {
            let img = sample_grey(name);
            let (w, h) = (img.width() as usize, img.height() as usize);
            let px = img.as_raw();
            let b = BORDER as usize;
            for t in [5i16, 10, 20, 30] {
                let (mut m1, mut m2): ([Vec<u8>; 4], [Vec<u8>; 4]) = Default::default();
                for y in b..h - b {
                    let rows: [&[u8]; 7] =
                        std::array::from_fn(|i| &px[(y + i - 3) * w..(y + i - 2) * w]);
                    let (mut a, mut c) = (vec![0u16; w], vec![0u16; w]);
                    fast_row(&rows, b, t, &mut a, &mut m1);
                    fast_row_inline(&rows, b, t, &mut c, &mut m2);
                    assert_eq!(a, c, "{name} row {y} threshold {t}");
                    corners += a.iter().filter(|&&s| s > 0).count();
                    rows_seen += 1;
                }
            }
        }
        assert!(
            rows_seen > 1000 && corners > 1000,
            "{rows_seen} rows, {corners} corners"
        );
    }
}
