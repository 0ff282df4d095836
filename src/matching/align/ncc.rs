//! Correlation by direct sums: the overlap of a query placed on the archive,
//! normalised cross-correlation over a grid of offsets, and over one window.

use super::*;

/// Overlap of a query placed at offset (dx, dy) on the archive grid: archive
/// pixel (X, Y) sits on query pixel (X − dx, Y − dy). Archive coordinates,
/// half-open.
///
/// Not a [`crate::geometry::Rect`] on purpose: it is whole pixels of one
/// pyramid level, indexed into planes in the inner loops; the fractions of
/// the picture the aligner reports are made from it once, at the end
/// (`Ctx::evaluate`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Overlap {
    pub(super) x0: usize,
    pub(super) y0: usize,
    pub(super) x1: usize,
    pub(super) y1: usize,
}

pub(super) fn overlap(
    aw: usize,
    ah: usize,
    qw: usize,
    qh: usize,
    dx: i32,
    dy: i32,
) -> Option<Overlap> {
    let x0 = dx.max(0);
    let y0 = dy.max(0);
    let x1 = (dx + qw as i32).min(aw as i32);
    let y1 = (dy + qh as i32).min(ah as i32);
    (x1 > x0 && y1 > y0).then_some(Overlap {
        x0: x0 as usize,
        y0: y0 as usize,
        x1: x1 as usize,
        y1: y1 as usize,
    })
}

/// NCC at every offset of a rectangle of offsets, reported through `f(dx, dy, ncc)`
/// (offsets whose overlap is flat are skipped), computing the cross terms
/// directly. The coarse search uses [`ncc_all_many`], which gets the same values
/// up to rounding through FFTs; this is its reference in the tests.
#[cfg(test)]
pub(super) fn ncc_all(
    a: &Level,
    q: &Level,
    xr: (i32, i32),
    yr: (i32, i32),
    mut f: impl FnMut(i32, i32, f32),
) {
    let Some(g) = OffsetGrid::new(a, q, xr, yr) else {
        return;
    };
    let cross = cross_direct(a, q, &g);
    let ncc = ncc_from_cross(a, q, &g, &cross);
    for (dy, row) in (g.y_lo..=g.y_hi).zip(ncc.chunks_exact(g.nx())) {
        for (dx, &v) in (g.x_lo..).zip(row) {
            if v != f32::NEG_INFINITY {
                f(dx, dy, v);
            }
        }
    }
}

/// The offsets [`ncc_all`] visits: x clamped to where the padding reaches, y to
/// where any row overlaps.
#[derive(Debug, Clone, Copy)]
pub(super) struct OffsetGrid {
    pub(super) x_lo: i32,
    pub(super) x_hi: i32,
    pub(super) y_lo: i32,
    pub(super) y_hi: i32,
}

impl OffsetGrid {
    pub(super) fn new(a: &Level, q: &Level, xr: (i32, i32), yr: (i32, i32)) -> Option<OffsetGrid> {
        let (aw, ah, qw, qh) = (a.img.w, a.img.h, q.img.w, q.img.h);
        let g = OffsetGrid {
            x_lo: xr.0.max(-(qw as i32)),
            x_hi: xr.1.min(aw as i32),
            y_lo: yr.0.max(-(qh as i32)),
            y_hi: yr.1.min(ah as i32),
        };
        (g.x_hi >= g.x_lo && g.y_hi >= g.y_lo).then_some(g)
    }

    pub(super) fn nx(&self) -> usize {
        (self.x_hi - self.x_lo + 1) as usize
    }

    pub(super) fn ny(&self) -> usize {
        (self.y_hi - self.y_lo + 1) as usize
    }
}

/// Cross terms Σ q[y − dy][x − dx] · a[y][x] over the overlap at every offset of
/// `g`, row-major by dy then dx (zero where nothing overlaps).
///
/// Computed one offset row at a time as a sum of scaled archive rows
/// (`num[dx] += q[x] · a[x + dx]`): the inner loop runs over contiguous offsets
/// and vectorises. The wider picture is zero-padded so that pixels falling
/// outside it add nothing.
pub(super) fn cross_direct(a: &Level, q: &Level, g: &OffsetGrid) -> Vec<f32> {
    let (aw, ah, qw, qh) = (a.img.w, a.img.h, q.img.w, q.img.h);
    let (x_lo, x_hi) = (g.x_lo, g.x_hi);
    let nx = g.nx();
    let mut out = vec![0.0f32; nx * g.ny()];
    // Iterate over the narrower picture's pixels and slide the wider one (zero
    // padded) along contiguous offsets: the work per row is min(aw, qw) × nx.
    let query_narrow = qw <= aw;
    // Left padding keeps every index non-negative; the row is long enough for the
    // last offset. Zeros stand for pixels outside the picture.
    let (pad, data_len) = if query_narrow {
        ((-x_lo).max(0) as usize, aw)
    } else {
        ((aw as i32 - qw as i32 - x_lo).max(0) as usize, qw)
    };
    let pw = pad + data_len.max(qw + x_hi.max(0) as usize) + nx + 1;
    let rows = if query_narrow { ah } else { qh };
    let mut padded = vec![0.0f32; pw * rows];
    if query_narrow {
        // padded[y][pad + x] = a[y][x]
        for y in 0..ah {
            padded[y * pw + pad..y * pw + pad + aw].copy_from_slice(&a.img.p[y * aw..(y + 1) * aw]);
        }
    } else {
        // padded[y][pad + m] = q[y][qw − 1 − m]: reversed, so that q[xa − dx] is
        // contiguous and increasing in dx.
        for y in 0..qh {
            let row = &q.img.p[y * qw..(y + 1) * qw];
            for (m, &v) in row.iter().rev().enumerate() {
                padded[y * pw + pad + m] = v;
            }
        }
    }
    for (dy, num) in (g.y_lo..=g.y_hi).zip(out.chunks_exact_mut(nx)) {
        let yq0 = (-dy).max(0) as usize;
        let yq1 = (ah as i32 - dy).min(qh as i32);
        if yq1 <= yq0 as i32 {
            continue;
        }
        for yq in yq0..yq1 as usize {
            let ya = (yq as i32 + dy) as usize;
            if query_narrow {
                let arow = &padded[ya * pw..(ya + 1) * pw];
                let qrow = &q.img.p[yq * qw..(yq + 1) * qw];
                for (xq, &qv) in qrow.iter().enumerate() {
                    // Archive pixel xq + dx sits at padded index xq + dx + pad.
                    let base = (xq as i32 + x_lo + pad as i32) as usize;
                    for (o, &av) in num.iter_mut().zip(&arow[base..base + nx]) {
                        *o += qv * av;
                    }
                }
            } else {
                let qrow = &padded[yq * pw..(yq + 1) * pw];
                let arow = &a.img.p[ya * aw..(ya + 1) * aw];
                for (xa, &av) in arow.iter().enumerate() {
                    // Query pixel xa − dx sits at padded index qw − 1 − xa + dx + pad.
                    let base = (qw as i32 - 1 - xa as i32 + x_lo + pad as i32) as usize;
                    for (o, &qv) in num.iter_mut().zip(&qrow[base..base + nx]) {
                        *o += qv * av;
                    }
                }
            }
        }
    }
    out
}

/// NCC at every offset of `g` (row-major, dy then dx) from the cross terms of
/// [`cross_direct`] or [`cross_fft`]; `NEG_INFINITY` where the overlap is empty
/// or flat. The window sums come from the summed-area tables over the true
/// overlap, read as one strip of rows per dy so that each offset costs a few
/// subtractions and a single division: this runs for every offset of the coarse
/// search (tens of thousands per candidate), and written per offset with full
/// rectangle lookups it cost more than the FFTs.
pub(super) fn ncc_from_cross(a: &Level, q: &Level, g: &OffsetGrid, cross: &[f32]) -> Vec<f32> {
    let (aw, ah, qw, qh) = (a.img.w, a.img.h, q.img.w, q.img.h);
    let nx = g.nx();
    // Overlap along one axis at offset d: archive [p0, p1) and the query from q0.
    let span = |d: i32, alen: usize, qlen: usize| -> (usize, usize, usize) {
        let p0 = d.max(0);
        let p1 = (d + qlen as i32).min(alen as i32);
        if p1 <= p0 {
            (0, 0, 0)
        } else {
            (p0 as usize, p1 as usize, (p0 - d) as usize)
        }
    };
    let xs: Vec<(usize, usize, usize)> = (g.x_lo..=g.x_hi).map(|dx| span(dx, aw, qw)).collect();
    let (aws, qws) = (aw + 1, qw + 1);
    let (mut a1, mut a2) = (vec![0.0f64; aws], vec![0.0f64; aws]);
    let (mut q1, mut q2) = (vec![0.0f64; qws], vec![0.0f64; qws]);
    let mut out = vec![f32::NEG_INFINITY; nx * g.ny()];
    for ((dy, row), o) in (g.y_lo..=g.y_hi)
        .zip(cross.chunks_exact(nx))
        .zip(out.chunks_exact_mut(nx))
    {
        let (y0, y1, qy0) = span(dy, ah, qh);
        let h = y1 - y0;
        if h == 0 {
            continue;
        }
        let qy1 = qy0 + h;
        // Prefix sums along x of the rows [y0, y1) (archive) and [qy0, qy1) (query).
        for x in 0..aws {
            a1[x] = a.s1[y1 * aws + x] - a.s1[y0 * aws + x];
            a2[x] = a.s2[y1 * aws + x] - a.s2[y0 * aws + x];
        }
        for x in 0..qws {
            q1[x] = q.s1[qy1 * qws + x] - q.s1[qy0 * qws + x];
            q2[x] = q.s2[qy1 * qws + x] - q.s2[qy0 * qws + x];
        }
        for ((o, &sqa), &(x0, x1, qx0)) in o.iter_mut().zip(row).zip(&xs) {
            if x1 == x0 {
                continue;
            }
            let w = x1 - x0;
            let n = (w * h) as f64;
            let inv_n = 1.0 / n;
            let (sa, saa) = (a1[x1] - a1[x0], a2[x1] - a2[x0]);
            let (sq, sqq) = (q1[qx0 + w] - q1[qx0], q2[qx0 + w] - q2[qx0]);
            let va = (saa - sa * sa * inv_n) as f32;
            let vq = (sqq - sq * sq * inv_n) as f32;
            let floor = (SEARCH_VAR_MIN * n) as f32;
            if va < floor || vq < floor {
                continue;
            }
            // f32 from here: the cross terms are f32 already.
            let cov = sqa - (sa * sq * inv_n) as f32;
            *o = cov / (va * vq).sqrt();
        }
    }
    out
}

/// NCC at every offset (as [`ncc_from_cross`] lays them out on the returned
/// grid) for several archive planes of one size against one query, in the order
/// given; `None` when no offset overlaps or the sizes differ. The cross terms
/// come from FFTs, two archive planes per transform (see [`cross_fft`]): for
/// the coarse search's crop scales the archive level is several times the
/// overlap, and the direct sums cost |overlap| × |offsets| (~9 M multiply-adds
/// per candidate against ~60 FFTs of a few thousand points).
pub(super) fn ncc_all_many(
    archives: &[&Level],
    q: &Level,
    xr: (i32, i32),
    yr: (i32, i32),
) -> Option<(OffsetGrid, Vec<Vec<f32>>)> {
    let first = archives.first()?;
    let g = OffsetGrid::new(first, q, xr, yr)?;
    if archives
        .iter()
        .any(|a| (a.img.w, a.img.h) != (first.img.w, first.img.h))
    {
        return None;
    }
    let Some(grid) = fft_grid(&first.img, &q.img, &g) else {
        let out = archives
            .iter()
            .map(|a| ncc_from_cross(a, q, &g, &cross_direct(a, q, &g)))
            .collect();
        return Some((g, out));
    };
    let plans = Plans2::new(grid.0, grid.1);
    let mut scratch = Vec::new();
    let qspec = fft2_forward(&plans, grid, &q.img, None, &mut scratch);
    let mut out = Vec::with_capacity(archives.len());
    for pair in archives.chunks(2) {
        let cross = cross_fft(
            &plans,
            grid,
            [Some(&pair[0].img), pair.get(1).map(|a| &a.img)],
            &qspec,
            &g,
            &mut scratch,
        );
        for (a, c) in pair.iter().zip(&cross) {
            out.push(ncc_from_cross(a, q, &g, c));
        }
    }
    Some((g, out))
}

thread_local! {
    pub(super) static STATS: RefCell<[usize; 10]> = const { RefCell::new([0; 10]) };
}

/// Plain NCC at one offset, with the query given as a window (origin `wo`) of
/// its full grid of size `gdim`; `None` when the overlap is flat or leaves the
/// window. One pass computes all five sums.
pub(super) fn ncc_window(
    a: &Plane,
    win: &Plane,
    wo: (usize, usize),
    gdim: (usize, usize),
    dx: i32,
    dy: i32,
) -> Option<f32> {
    let r = overlap(a.w, a.h, gdim.0, gdim.1, dx, dy)?;
    let qx0 = (r.x0 as i32 - dx) as usize;
    let qy0 = (r.y0 as i32 - dy) as usize;
    let (wx0, wy0) = (qx0.checked_sub(wo.0)?, qy0.checked_sub(wo.1)?);
    let (w, h) = (r.x1 - r.x0, r.y1 - r.y0);
    if wx0 + w > win.w || wy0 + h > win.h {
        return None;
    }
    STATS.with(|s| {
        let mut s = s.borrow_mut();
        s[8] += 1;
        s[9] += w * h;
    });
    let (mut sa, mut saa, mut sq, mut sqq, mut sqa) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for y in 0..h {
        let ar = &a.p[(r.y0 + y) * a.w + r.x0..][..w];
        let qr = &win.p[(wy0 + y) * win.w + wx0..][..w];
        // Eight independent lanes per sum so that the loops vectorise.
        let t = [
            lane_sum(ar, ar, |a, _| a),
            lane_sum(ar, ar, |a, _| a * a),
            lane_sum(qr, qr, |q, _| q),
            lane_sum(qr, qr, |q, _| q * q),
            lane_sum(ar, qr, |a, q| a * q),
        ];
        sa += f64::from(t[0]);
        saa += f64::from(t[1]);
        sq += f64::from(t[2]);
        sqq += f64::from(t[3]);
        sqa += f64::from(t[4]);
    }
    let n = (w * h) as f64;
    let va = saa - sa * sa / n;
    let vq = sqq - sq * sq / n;
    if va < SEARCH_VAR_MIN * n || vq < SEARCH_VAR_MIN * n {
        return None;
    }
    Some(((sqa - sa * sq / n) / (va * vq).sqrt()) as f32)
}

/// Σ f(v, o) over a row: eight lanes over whole chunks, the lanes added in
/// order, then the tail one by one (the order `ncc_window` has always summed
/// in). One call per kind of sum: LLVM vectorised a loop carrying several
/// sums across the sums instead of the lanes, with shuffles and spills, and
/// that loop cost about a third more than these five.
#[inline(always)]
pub(super) fn lane_sum(v: &[f32], o: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut l = [0.0f32; 8];
    let (cv, co) = (v.chunks_exact(8), o.chunks_exact(8));
    let (tv, to) = (cv.remainder(), co.remainder());
    for (x, y) in cv.zip(co) {
        for i in 0..8 {
            l[i] += f(x[i], y[i]);
        }
    }
    let mut s = l.iter().sum::<f32>();
    for (&x, &y) in tv.iter().zip(to) {
        s += f(x, y);
    }
    s
}

/// Offsets along one axis for which the overlap spans at least `cover` of the
/// shorter of the two lengths.
pub(super) fn offset_range(alen: usize, qlen: usize, cover: f32) -> (i32, i32) {
    let need = ((cover * alen.min(qlen) as f32).ceil() as i32).max(1);
    (need - qlen as i32, alen as i32 - need)
}
