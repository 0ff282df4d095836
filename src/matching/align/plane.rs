//! The aligner's working planes: thumbnails resampled to the search grid,
//! local contrast normalisation (LCN), blurs and the pyramid levels the
//! correlation runs on.

use super::*;

/// Smallest level side worth comparing: below this, pictures carry no structure.
pub(super) const MIN_LEVEL_SIDE: usize = 4;
/// The comparison never runs at a level where the query would be upsampled by more
/// than this factor (query pixels per comparison pixel ≥ 0.8): upsampled pixels
/// carry no information and would make the archive look less similar than it is.
pub(super) const MIN_QUERY_PX: f32 = 0.8;
/// Minimum per-pixel variance (gray levels²) for an overlap to be correlated at all
/// during the search; flat overlaps would give meaningless NCC peaks.
pub(super) const SEARCH_VAR_MIN: f64 = 4.0;

/// A grayscale image as f32 (values centred on 0 for numerical headroom).
#[derive(Clone, Debug)]
pub(super) struct Plane {
    pub(super) w: usize,
    pub(super) h: usize,
    pub(super) p: Vec<f32>,
}

impl Plane {
    pub(super) fn new(w: usize, h: usize, p: Vec<f32>) -> Plane {
        debug_assert_eq!(p.len(), w * h);
        Plane { w, h, p }
    }

    /// 2 × 2 box average (odd last row/column dropped), the pyramid step.
    pub(super) fn half(&self) -> Plane {
        let (w, h) = ((self.w / 2).max(1), (self.h / 2).max(1));
        let mut p = Vec::with_capacity(w * h);
        for y in 0..h {
            let r0 = (2 * y).min(self.h - 1) * self.w;
            let r1 = (2 * y + 1).min(self.h - 1) * self.w;
            for x in 0..w {
                let x0 = (2 * x).min(self.w - 1);
                let x1 = (2 * x + 1).min(self.w - 1);
                p.push(
                    0.25 * (self.p[r0 + x0] + self.p[r0 + x1] + self.p[r1 + x0] + self.p[r1 + x1]),
                );
            }
        }
        Plane::new(w, h, p)
    }

    pub(super) fn dihedral(&self, d: Dihedral) -> Plane {
        let (w, h) = (self.w, self.h);
        let (ow, oh) = if d.swaps_axes() { (h, w) } else { (w, h) };
        let mut p = vec![0.0; ow * oh];
        for y in 0..h {
            for x in 0..w {
                let mx = if d.mirrored() { w - 1 - x } else { x };
                let (nx, ny) = match d.quarter_turns() {
                    0 => (mx, y),
                    1 => (h - 1 - y, mx),
                    2 => (w - 1 - mx, h - 1 - y),
                    _ => (y, w - 1 - mx),
                };
                p[ny * ow + nx] = self.p[y * w + x];
            }
        }
        Plane::new(ow, oh, p)
    }
}

/// Per-axis resampling weights, flat: output pixel `i` reads `len` source pixels
/// from `start` with weights `w[off..off + len]`.
pub(super) struct AxisWeights {
    pub(super) taps: Vec<(usize, usize, usize)>,
    pub(super) w: Vec<f32>,
}

impl AxisWeights {
    /// Output pixel i covers source [i·k, (i+1)·k). For k ≥ 1 it is the exact area
    /// average (fractional coverage at the ends); for k < 1 linear interpolation at
    /// the pixel centre, since an area average would degenerate to nearest-neighbour.
    pub(super) fn new(src_len: usize, k: f64, first: f64, out_len: usize) -> AxisWeights {
        let mut taps = Vec::with_capacity(out_len);
        let mut w = Vec::with_capacity(out_len * (k.ceil() as usize + 2));
        let n = src_len as f64;
        for i in 0..out_len {
            let off = w.len();
            if k >= 1.0 {
                let a = ((first + i as f64) * k).clamp(0.0, n);
                let b = ((first + i as f64 + 1.0) * k).clamp(0.0, n);
                let j0 = (a.floor() as usize).min(src_len - 1);
                let j1 = (b.ceil() as usize).clamp(j0 + 1, src_len);
                let mut total = 0.0;
                for j in j0..j1 {
                    let cover = (b.min(j as f64 + 1.0) - a.max(j as f64)).max(0.0);
                    w.push(cover as f32);
                    total += cover;
                }
                if total <= 0.0 {
                    w[off..].iter_mut().for_each(|v| *v = 0.0);
                    w[off] = 1.0;
                } else {
                    w[off..].iter_mut().for_each(|v| *v /= total as f32);
                }
                taps.push((j0, off, j1 - j0));
            } else {
                let c = ((first + i as f64 + 0.5) * k - 0.5).clamp(0.0, n - 1.0);
                let j0 = c.floor() as usize;
                let f = (c - j0 as f64) as f32;
                if j0 + 1 < src_len {
                    w.extend_from_slice(&[1.0 - f, f]);
                    taps.push((j0, off, 2));
                } else {
                    w.push(1.0);
                    taps.push((j0, off, 1));
                }
            }
        }
        AxisWeights { taps, w }
    }
}

/// Resample so that each output pixel covers `kx × ky` source pixels; output
/// pixel (i, j) is pixel (x0 + i, y0 + j) of the resampled grid, which starts at
/// the source origin. Fractional origins shift the grid by sub-pixel amounts.
/// Callers keep the output within the source (edges are clamped).
pub(super) fn resample(
    src: &Plane,
    kx: f64,
    ky: f64,
    (x0, y0): (f64, f64),
    ow: usize,
    oh: usize,
) -> Plane {
    let (ow, oh) = (ow.max(1), oh.max(1));
    let wx = AxisWeights::new(src.w, kx, x0, ow);
    let wy = AxisWeights::new(src.h, ky, y0, oh);
    // Only the source rows some output row reads are filtered horizontally.
    let row0 = wy.taps.first().map_or(0, |t| t.0);
    let row1 = wy
        .taps
        .iter()
        .map(|&(s, _, l)| s + l)
        .max()
        .unwrap_or(src.h)
        .min(src.h);
    let mut tmp = vec![0.0f32; (row1 - row0) * ow];
    for y in row0..row1 {
        let row = &src.p[y * src.w..(y + 1) * src.w];
        let out = &mut tmp[(y - row0) * ow..(y - row0 + 1) * ow];
        for (o, &(start, off, len)) in out.iter_mut().zip(&wx.taps) {
            let (w, s) = (&wx.w[off..off + len], &row[start..start + len]);
            // Queries are read from the pyramid level just finer than the grid,
            // so almost every pixel has two or three taps; written out, they
            // skip the general loop. Sums in the same order (`sum` starts from
            // −0.0, which adds nothing).
            *o = match (w, s) {
                ([w0, w1], [s0, s1]) => w0 * s0 + w1 * s1,
                ([w0, w1, w2], [s0, s1, s2]) => w0 * s0 + w1 * s1 + w2 * s2,
                _ => w.iter().zip(s).map(|(a, b)| a * b).sum(),
            };
        }
    }
    let mut p = vec![0.0f32; ow * oh];
    for (y, &(start, off, len)) in wy.taps.iter().enumerate() {
        let out = &mut p[y * ow..(y + 1) * ow];
        for (j, &wt) in wy.w[off..off + len].iter().enumerate() {
            let r = start + j - row0;
            let src_row = &tmp[r * ow..(r + 1) * ow];
            for (o, s) in out.iter_mut().zip(src_row) {
                *o += wt * s;
            }
        }
    }
    Plane::new(ow, oh, p)
}

/// Resize to exactly `ow × oh` covering the whole source.
pub(super) fn resize_exact(src: &Plane, ow: usize, oh: usize) -> Plane {
    resample(
        src,
        src.w as f64 / ow.max(1) as f64,
        src.h as f64 / oh.max(1) as f64,
        (0.0, 0.0),
        ow,
        oh,
    )
}

/// Half-width of the local contrast normalisation window (5 × 5 pixels).
pub(super) const LCN_RADIUS: usize = 2;
/// Contrast floor of the normalisation, gray levels: neighbourhoods flatter than
/// this stay near zero, so noise in sky or inside a caption bar is not amplified.
pub(super) const LCN_FLOOR: f32 = 3.0;
/// Normalised values are scaled to gray-level-like magnitudes so that the same
/// flatness floor (`SEARCH_VAR_MIN`) applies in the search.
pub(super) const LCN_GAIN: f32 = 32.0;

/// Local contrast normalisation: (v − local mean) / local standard deviation.
///
/// The search correlates these instead of raw luma. Raw NCC is dominated by
/// large uniform areas: a dark caption bar or a letterbox pulls it down so much
/// that the search prefers wrong alignments that avoid the bar. After
/// normalisation a flat bar is ~0 inside, high-contrast text weighs no more per
/// pixel than the photo's own texture, and contrast or brightness edits cancel.
///
/// Every query window of the refinement goes through here, which made it the
/// aligner's largest cost. The arithmetic is that of plain running sums and a
/// per-pixel formula, in the same order (a test compares it bit for bit with
/// the plain loops it replaced); only the loops are arranged so that they overlap or
/// vectorise.
pub(super) fn lcn(p: &Plane) -> Plane {
    let (w, h) = (p.w, p.h);
    if w == 0 || h == 0 {
        return p.clone();
    }
    let r = LCN_RADIUS;
    // Horizontal box sums of v and v² (clamped window), then vertical ones:
    // separable running sums in f32 (values are centred, so precision is ample).
    let mut h1 = vec![0.0f32; w * h];
    let mut h2 = vec![0.0f32; w * h];
    // A running sum is a chain of dependent additions; several rows at once
    // give the processor independent chains to overlap.
    const ROWS: usize = 8;
    let mut y = 0;
    while y + ROWS <= h {
        let span = y * w..(y + ROWS) * w;
        row_sums::<ROWS>(&p.p[span.clone()], w, &mut h1[span.clone()], &mut h2[span]);
        y += ROWS;
    }
    for y in y..h {
        let span = y * w..(y + 1) * w;
        row_sums::<1>(&p.p[span.clone()], w, &mut h1[span.clone()], &mut h2[span]);
    }
    let count = |i: usize, n: usize| (i + r + 1).min(n) - i.saturating_sub(r);
    let floor2 = LCN_FLOOR * LCN_FLOOR;
    // 1 / (pixels in the clamped window), looked up instead of divided per pixel:
    // the window holds at most (2r + 1)² pixels.
    let inv: Vec<f32> = (0..=(2 * r + 1) * (2 * r + 1))
        .map(|n| 1.0 / n.max(1) as f32)
        .collect();
    let cx: Vec<usize> = (0..w).map(|x| count(x, w)).collect();
    let mut inv_n = vec![0.0f32; w];
    let mut out = vec![0.0f32; w * h];
    let mut c1 = vec![0.0f32; w];
    let mut c2 = vec![0.0f32; w];
    for y in 0..r.min(h) {
        add_row(&mut c1, &h1[y * w..(y + 1) * w]);
        add_row(&mut c2, &h2[y * w..(y + 1) * w]);
    }
    for y in 0..h {
        if y + r < h {
            let row = (y + r) * w..(y + r + 1) * w;
            add_row(&mut c1, &h1[row.clone()]);
            add_row(&mut c2, &h2[row]);
        }
        if y > r {
            let row = (y - r - 1) * w..(y - r) * w;
            for (c, &v) in c1.iter_mut().zip(&h1[row.clone()]) {
                *c -= v;
            }
            for (c, &v) in c2.iter_mut().zip(&h2[row]) {
                *c -= v;
            }
        }
        let cy = count(y, h);
        for (i, &c) in inv_n.iter_mut().zip(&cx) {
            *i = inv[c * cy];
        }
        let src = &p.p[y * w..(y + 1) * w];
        let dst = &mut out[y * w..(y + 1) * w];
        for ((((o, &v), &s1), &s2), &k) in dst.iter_mut().zip(src).zip(&c1).zip(&c2).zip(&inv_n) {
            let m = s1 * k;
            let var = (s2 * k - m * m).max(0.0);
            *o = LCN_GAIN * (v - m) / (var + floor2).sqrt();
        }
    }
    // The sums are spent: their buffers hold the blur's passes.
    blur121_into(w, h, &out, &mut h1, &mut h2);
    Plane::new(w, h, h2)
}

pub(super) fn add_row(acc: &mut [f32], row: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(row) {
        *a += v;
    }
}

/// Running 5-pixel sums of v and v² (window clamped at the ends) along each of
/// `N` rows of width `w`, advanced in step so that the rows' chains overlap.
pub(super) fn row_sums<const N: usize>(p: &[f32], w: usize, o1: &mut [f32], o2: &mut [f32]) {
    let r = LCN_RADIUS;
    let (mut s1, mut s2) = ([0.0f32; N], [0.0f32; N]);
    for x in 0..r.min(w) {
        for k in 0..N {
            let v = p[k * w + x];
            s1[k] += v;
            s2[k] += v * v;
        }
    }
    for x in 0..w {
        if x + r < w {
            for k in 0..N {
                let v = p[k * w + x + r];
                s1[k] += v;
                s2[k] += v * v;
            }
        }
        if x > r {
            for k in 0..N {
                let v = p[k * w + x - r - 1];
                s1[k] -= v;
                s2[k] -= v * v;
            }
        }
        for k in 0..N {
            o1[k * w + x] = s1[k];
            o2[k * w + x] = s2[k];
        }
    }
}

/// Separable [1 2 1]/4 blur (edges clamped). Applied after normalisation so that
/// the correlation peak is about two pixels wide instead of one: the coarse
/// search's scale steps and the refinement's integer offsets then land on the
/// slope of the peak rather than beside it.
///
/// `tmp` and `out` hold at least `w × h` values; the interior is written as
/// whole-slice arithmetic, which vectorises, and the clamped edges apart.
pub(super) fn blur121_into(w: usize, h: usize, p: &[f32], tmp: &mut [f32], out: &mut [f32]) {
    for (row, t) in p.chunks_exact(w).zip(tmp.chunks_exact_mut(w)).take(h) {
        let at =
            |x: usize| 0.25 * (row[x.saturating_sub(1)] + row[(x + 1).min(w - 1)]) + 0.5 * row[x];
        t[0] = at(0);
        t[w - 1] = at(w - 1);
        if w > 2 {
            for (((o, &l), &c), &r) in t[1..w - 1]
                .iter_mut()
                .zip(&row[..w - 2])
                .zip(&row[1..w - 1])
                .zip(&row[2..])
            {
                *o = 0.25 * (l + r) + 0.5 * c;
            }
        }
    }
    for y in 0..h {
        let (u, d) = (y.saturating_sub(1), (y + 1).min(h - 1));
        let (tu, td, tc) = (&tmp[u * w..][..w], &tmp[d * w..][..w], &tmp[y * w..][..w]);
        for (((o, &a), &b), &c) in out[y * w..][..w].iter_mut().zip(tu).zip(td).zip(tc) {
            *o = 0.25 * (a + b) + 0.5 * c;
        }
    }
}

/// A plane with summed-area tables of values and squares, for O(1) window sums.
pub(super) struct Level {
    pub(super) img: Plane,
    /// (w+1) × (h+1) prefix sums of values.
    pub(super) s1: Vec<f64>,
    /// (w+1) × (h+1) prefix sums of squares.
    pub(super) s2: Vec<f64>,
}

impl Level {
    pub(super) fn new(img: Plane) -> Level {
        let (w, h) = (img.w, img.h);
        let mut s1 = vec![0.0f64; (w + 1) * (h + 1)];
        let mut s2 = vec![0.0f64; (w + 1) * (h + 1)];
        for y in 0..h {
            let (mut r1, mut r2) = (0.0f64, 0.0f64);
            for x in 0..w {
                let v = f64::from(img.p[y * w + x]);
                r1 += v;
                r2 += v * v;
                s1[(y + 1) * (w + 1) + x + 1] = s1[y * (w + 1) + x + 1] + r1;
                s2[(y + 1) * (w + 1) + x + 1] = s2[y * (w + 1) + x + 1] + r2;
            }
        }
        Level { img, s1, s2 }
    }
}

/// Dot product written with independent lanes so that it vectorises.
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}
