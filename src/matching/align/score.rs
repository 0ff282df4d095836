//! The decision's evidence: block statistics of an alignment, so that
//! occluders (caption bars, logos) cost only the blocks they cover.

use super::*;

/// Block statistics of an alignment.
#[derive(Debug, Default)]
pub(super) struct BlockStats {
    /// Blocks textured in the archive, in the query, in both, in either.
    pub(super) in_archive: u32,
    pub(super) in_query: u32,
    pub(super) both: u32,
    pub(super) either: u32,
    /// Blocks textured in both whose detail correlation reaches `block_ncc`.
    pub(super) agreeing: u32,
    /// Correlations of the blocks textured in both.
    pub(super) nccs: Vec<f32>,
    /// Detail correlation pooled over blocks textured in both.
    pub(super) pooled: f32,
}

impl BlockStats {
    pub(super) fn features(&self, ncc: f32, lcn_ncc: f32, covered: bool) -> Vec<f32> {
        let mut v = self.nccs.clone();
        v.sort_by(f32::total_cmp);
        let median = v.get(v.len() / 2).copied().unwrap_or(0.0);
        let at = |t: f32| v.iter().filter(|&&x| x >= t).count() as f32;
        vec![
            self.in_archive as f32,
            self.in_query as f32,
            self.both as f32,
            self.either as f32,
            at(0.5),
            at(0.6),
            at(0.7),
            at(0.8),
            at(0.9),
            self.pooled,
            median,
            ncc,
            lcn_ncc,
            f32::from(u8::from(covered)),
        ]
    }
}

/// Compare the two pictures block by block over the overlap (archive level `a`,
/// query window `win`, query grid pixel X − dx on archive pixel X).
///
/// Detail is a block minus its least-squares plane: smooth gradients (sky,
/// vignetting) are removed, because any two gradients of similar direction
/// correlate perfectly and would otherwise vote for a false match.
pub(super) fn block_stats(
    a: &Plane,
    win: &Window,
    r: Overlap,
    dx: i32,
    dy: i32,
    p: &AlignParams,
) -> BlockStats {
    let b = p.block.max(3);
    let bw = (r.x1 - r.x0) / b;
    let bh = (r.y1 - r.y0) / b;
    // Centre the blocks in the overlap so that both edges lose the same amount.
    let ox = r.x0 + ((r.x1 - r.x0) - bw * b) / 2;
    let oy = r.y0 + ((r.y1 - r.y0) - bh * b) / 2;
    let n = (b * b) as f32;
    let half = (b as f32 - 1.0) / 2.0;
    let sxx: f32 = (0..b).map(|i| (i as f32 - half).powi(2)).sum::<f32>() * b as f32;
    let mut ra = vec![0.0f32; b * b];
    let mut rq = vec![0.0f32; b * b];
    let tex2 = p.texture_min * p.texture_min * n;
    let mut st = BlockStats::default();
    let (mut sab, mut saa, mut sbb) = (0.0f64, 0.0f64, 0.0f64);
    for by in 0..bh {
        for bx in 0..bw {
            let x0 = ox + bx * b;
            let y0 = oy + by * b;
            let mut inside = true;
            for j in 0..b {
                for i in 0..b {
                    let (x, y) = (x0 + i, y0 + j);
                    ra[j * b + i] = a.p[y * a.w + x];
                    let qx = (x as i32 - dx) as usize;
                    let qy = (y as i32 - dy) as usize;
                    match (qx.checked_sub(win.x), qy.checked_sub(win.y)) {
                        (Some(wx), Some(wy)) if wx < win.p.w && wy < win.p.h => {
                            rq[j * b + i] = win.p.p[wy * win.p.w + wx];
                        }
                        _ => inside = false,
                    }
                }
            }
            if !inside {
                continue;
            }
            let ea = detrend(&mut ra, b, half, sxx);
            let eq = detrend(&mut rq, b, half, sxx);
            let (ta, tq) = (ea >= tex2, eq >= tex2);
            st.in_archive += u32::from(ta);
            st.in_query += u32::from(tq);
            st.either += u32::from(ta || tq);
            if !(ta && tq) {
                continue;
            }
            st.both += 1;
            let d = dot(&ra, &rq);
            sab += f64::from(d);
            saa += f64::from(ea);
            sbb += f64::from(eq);
            let c = d / (ea * eq).sqrt();
            if std::env::var_os("ALIGN_BLOCKS").is_some() {
                eprintln!(
                    "block {bx},{by} rms_a {:.1} rms_q {:.1} ncc {c:.3}",
                    (ea / n).sqrt(),
                    (eq / n).sqrt()
                );
            }
            st.nccs.push(c);
            if c >= p.block_ncc {
                st.agreeing += 1;
            }
        }
    }
    st.pooled = if st.both > 0 {
        (sab / (saa * sbb).sqrt()) as f32
    } else {
        0.0
    };
    st
}

/// Subtract the least-squares plane from a b × b block in place; returns the
/// residual energy.
pub(super) fn detrend(v: &mut [f32], b: usize, half: f32, sxx: f32) -> f32 {
    let n = (b * b) as f32;
    let (mut m, mut gx, mut gy) = (0.0f32, 0.0f32, 0.0f32);
    for j in 0..b {
        for i in 0..b {
            let x = v[j * b + i];
            m += x;
            gx += (i as f32 - half) * x;
            gy += (j as f32 - half) * x;
        }
    }
    m /= n;
    gx /= sxx;
    gy /= sxx;
    let mut e = 0.0;
    for j in 0..b {
        for i in 0..b {
            let r = v[j * b + i] - m - gx * (i as f32 - half) - gy * (j as f32 - half);
            v[j * b + i] = r;
            e += r * r;
        }
    }
    e
}
