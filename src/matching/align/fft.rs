//! Correlation through FFTs, for the coarse search's large offset grids: two
//! archive planes per transform, bounded by [`MAX_FFT_POINTS`].

use super::*;

/// Largest FFT grid (points) used for the cross terms. Stored thumbnails are
/// 128 px and queries 320 px, so the coarse levels need at most ~450 × 300
/// points (level 0 of a large inset); only oversized thumbnails from a damaged
/// or foreign archive go beyond, and they take the direct path, whose buffers
/// are a quarter of the size, instead of allocating tens of MB per call.
pub(super) const MAX_FFT_POINTS: usize = 1 << 18;

/// Smallest length ≥ n whose only prime factors are 2, 3 and 5: rustfft is
/// fastest on those, and the extra padding costs less than a prime length.
pub(super) fn smooth_len(n: usize) -> usize {
    let mut m = n.max(1);
    loop {
        let mut r = m;
        for p in [2, 3, 5] {
            while r % p == 0 {
                r /= p;
            }
        }
        if r == 1 {
            return m;
        }
        m += 1;
    }
}

/// FFT grid size (x, y) on which circular correlation equals the linear one at
/// every offset of `g`: a shift wraps around only if it reaches past both
/// pictures, i.e. the period must exceed aw − x_lo and qw + x_hi (likewise in y).
/// `None` when it would exceed [`MAX_FFT_POINTS`].
pub(super) fn fft_grid(a: &Plane, q: &Plane, g: &OffsetGrid) -> Option<(usize, usize)> {
    let need = |alen: usize, qlen: usize, lo: i32, hi: i32| {
        let n = (alen as i64 - i64::from(lo))
            .max(qlen as i64 + i64::from(hi))
            .max(alen.max(qlen) as i64);
        smooth_len(n.max(1) as usize)
    };
    let px = need(a.w, q.w, g.x_lo, g.x_hi);
    let py = need(a.h, q.h, g.y_lo, g.y_hi);
    (px.checked_mul(py)? <= MAX_FFT_POINTS).then_some((px, py))
}

thread_local! {
    /// rustfft's planner caches plans by length; the coarse search meets a few
    /// dozen lengths, so one planner per thread plans each once.
    static FFT_PLANNER: RefCell<rustfft::FftPlanner<f32>> = RefCell::new(rustfft::FftPlanner::new());
}

pub(super) type Cpx = rustfft::num_complex::Complex32;

/// Forward and inverse plans for a `px × py` grid.
pub(super) struct Plans2 {
    pub(super) fx: std::sync::Arc<dyn rustfft::Fft<f32>>,
    pub(super) fy: std::sync::Arc<dyn rustfft::Fft<f32>>,
    pub(super) ix: std::sync::Arc<dyn rustfft::Fft<f32>>,
    pub(super) iy: std::sync::Arc<dyn rustfft::Fft<f32>>,
}

impl Plans2 {
    pub(super) fn new(px: usize, py: usize) -> Plans2 {
        FFT_PLANNER.with(|pl| {
            let mut pl = pl.borrow_mut();
            Plans2 {
                fx: pl.plan_fft_forward(px),
                fy: pl.plan_fft_forward(py),
                ix: pl.plan_fft_inverse(px),
                iy: pl.plan_fft_inverse(py),
            }
        })
    }
}

/// 2-D forward FFT of `re + i·im` (each w × h, placed at the origin of a zero
/// `px × py` grid). The spectrum is returned transposed (index kx · py + ky),
/// which is the layout the inverse starts from.
pub(super) fn fft2_forward(
    plans: &Plans2,
    (px, py): (usize, usize),
    re: &Plane,
    im: Option<&Plane>,
    scratch: &mut Vec<Cpx>,
) -> Vec<Cpx> {
    let (w, h) = (re.w, re.h);
    let mut rows = vec![Cpx::new(0.0, 0.0); px * h];
    for y in 0..h {
        let out = &mut rows[y * px..y * px + w];
        let r = &re.p[y * w..(y + 1) * w];
        match im {
            Some(im) => {
                let i = &im.p[y * w..(y + 1) * w];
                for ((o, &a), &b) in out.iter_mut().zip(r).zip(i) {
                    *o = Cpx::new(a, b);
                }
            }
            None => {
                for (o, &a) in out.iter_mut().zip(r) {
                    *o = Cpx::new(a, 0.0);
                }
            }
        }
    }
    // Rows past h are zero and stay zero: only the h picture rows are transformed.
    run_fft(&*plans.fx, &mut rows, scratch);
    let mut cols = vec![Cpx::new(0.0, 0.0); px * py];
    for y in 0..h {
        for (kx, &v) in rows[y * px..(y + 1) * px].iter().enumerate() {
            cols[kx * py + y] = v;
        }
    }
    run_fft(&*plans.fy, &mut cols, scratch);
    cols
}

pub(super) fn run_fft(plan: &dyn rustfft::Fft<f32>, buf: &mut [Cpx], scratch: &mut Vec<Cpx>) {
    let n = plan.get_inplace_scratch_len();
    if scratch.len() < n {
        scratch.resize(n, Cpx::new(0.0, 0.0));
    }
    plan.process_with_scratch(buf, &mut scratch[..n]);
}

/// Cross terms as [`cross_direct`] gives them, for one or two archive planes of
/// the same size at once, through FFTs: correlation is linear in the archive,
/// so correlating `a0 + i·a1` with the (real) query gives both at once, one in
/// the real part and one in the imaginary part. `qspec` is the query's spectrum
/// on the same grid (see [`fft2_forward`]). f32 throughout: the values differ
/// from the direct sums by rounding only (relative ~1e-6 of the pictures'
/// energy), far below the differences the search ranks by.
pub(super) fn cross_fft(
    plans: &Plans2,
    grid: (usize, usize),
    a: [Option<&Plane>; 2],
    qspec: &[Cpx],
    g: &OffsetGrid,
    scratch: &mut Vec<Cpx>,
) -> [Vec<f32>; 2] {
    let (px, py) = grid;
    let (nx, ny) = (g.nx(), g.ny());
    let Some(a0) = a[0] else {
        return [Vec::new(), Vec::new()];
    };
    let mut spec = fft2_forward(plans, grid, a0, a[1], scratch);
    for (s, q) in spec.iter_mut().zip(qspec) {
        *s *= q.conj();
    }
    run_fft(&*plans.iy, &mut spec, scratch);
    // Back to rows, only those of the offsets asked for.
    let mut rows = vec![Cpx::new(0.0, 0.0); px * ny];
    for (j, dy) in (g.y_lo..=g.y_hi).enumerate() {
        let iy = dy.rem_euclid(py as i32) as usize;
        for (kx, o) in rows[j * px..(j + 1) * px].iter_mut().enumerate() {
            *o = spec[kx * py + iy];
        }
    }
    run_fft(&*plans.ix, &mut rows, scratch);
    let norm = 1.0 / (px * py) as f32;
    let mut out = [
        vec![0.0f32; nx * ny],
        vec![0.0f32; if a[1].is_some() { nx * ny } else { 0 }],
    ];
    for j in 0..ny {
        let row = &rows[j * px..(j + 1) * px];
        for (i, dx) in (g.x_lo..=g.x_hi).enumerate() {
            let v = row[dx.rem_euclid(px as i32) as usize] * norm;
            out[0][j * nx + i] = v.re;
            if let Some(o) = out[1].get_mut(j * nx + i) {
                *o = v.im;
            }
        }
    }
    out
}
