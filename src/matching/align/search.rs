//! The coarse-to-fine search over transforms, scales and offsets: candidates
//! from the coarse levels, refined and polished, then pruned.

use super::*;

/// Scales live on a fine logarithmic grid, s = exp(index / SCALE_GRID) (0.2 %
/// apart), so that refinement revisits exactly the same scales and each
/// resampled query is made once per call.
pub(super) const SCALE_GRID: f64 = 512.0;

pub(super) fn scale_of(si: i32) -> f64 {
    (f64::from(si) / SCALE_GRID).exp()
}

/// Grid steps closest to a scale ratio (at least one).
pub(super) fn grid_steps(ratio: f64) -> i32 {
    ((ratio.ln() * SCALE_GRID).round() as i32).max(1)
}

/// One hypothesis being refined: archive transform index, scale index, pyramid
/// level and offset of the query on that level's archive grid.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cand {
    pub(super) t: usize,
    pub(super) si: i32,
    pub(super) level: usize,
    pub(super) dx: i32,
    pub(super) dy: i32,
    /// Sub-pixel phase of the query grid: archive pixel X sits on query grid
    /// coordinate X − dx + ph (continuous, pixel-edge coordinates), i.e. the
    /// exact offset is dx − ph.
    pub(super) ph: (f64, f64),
    pub(super) ncc: f32,
}

impl Cand {
    /// Exact (fractional) offset of the query grid on the archive grid.
    pub(super) fn offset(&self) -> (f64, f64) {
        (
            f64::from(self.dx) - self.ph.0,
            f64::from(self.dy) - self.ph.1,
        )
    }

    /// The same hypothesis with a new exact offset, split into the nearest
    /// integer and a phase within ±0.5.
    pub(super) fn at_offset(&self, ox: f64, oy: f64) -> Cand {
        let (dx, dy) = (ox.round(), oy.round());
        Cand {
            dx: dx as i32,
            dy: dy as i32,
            ph: (dx - ox, dy - oy),
            ..*self
        }
    }
}

pub(super) struct Ctx<'a> {
    pub(super) params: &'a AlignParams,
    pub(super) query: &'a Thumb,
    pub(super) archive: &'a Thumb,
    /// Query pyramid and resampling cache, shared across candidates.
    pub(super) prepared: &'a PreparedQuery<'a>,
    /// Query pyramid, raw luma (level j = 2^j thumbnail pixels per pixel).
    pub(super) qpyr: &'a [Plane],
    /// Archive pyramid, raw luma, untransformed.
    pub(super) base: Vec<Plane>,
    /// The same, contrast-normalised, made on first use.
    pub(super) base_lcn: Vec<OnceCell<Plane>>,
    /// Archive pyramids per searched transform, contrast-normalised (search),
    /// made on first use: most candidates are only coarse-searched, which reads
    /// one or two levels of the rotated transforms, and building all of them
    /// eagerly cost about as much as a third of the coarse search.
    pub(super) apyr: Vec<Vec<OnceCell<Level>>>,
    /// The same, raw luma (scoring), made on first use.
    pub(super) araw: Vec<Vec<OnceCell<Plane>>>,
    pub(super) qw: f64,
    pub(super) qh: f64,
    /// Scale-index range searched (refinement may not leave it).
    pub(super) si_range: (i32, i32),
}

/// `n × m` empty cells, filled on first use.
pub(super) fn lazy_grid<T>(n: usize, m: usize) -> Vec<Vec<OnceCell<T>>> {
    (0..n)
        .map(|_| (0..m).map(|_| OnceCell::new()).collect())
        .collect()
}

/// A query window: resampled query grid pixels [x, x + p.w) × [y, y + p.h),
/// shifted by a sub-pixel phase.
///
/// Not a [`crate::geometry::Rect`] on purpose: it is the resampled pixels
/// themselves with their grid origin, a patch to correlate, not a part of a
/// picture in fractions.
pub(super) struct Window {
    pub(super) x: usize,
    pub(super) y: usize,
    pub(super) p: Plane,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(
        prepared: &'a PreparedQuery<'a>,
        archive: &'a Thumb,
        params: &'a AlignParams,
    ) -> Option<Ctx<'a>> {
        let query = prepared.thumb;
        let mut base = vec![archive.plane()];
        while base.last()?.w.min(base.last()?.h) >= 2 * MIN_LEVEL_SIDE {
            let next = base.last()?.half();
            base.push(next);
        }
        let (nt, nl) = (params.transforms.len(), base.len());
        let (apyr, araw) = (lazy_grid(nt, nl), lazy_grid(nt, nl));
        Some(Ctx {
            params,
            query,
            archive,
            prepared,
            qpyr: &prepared.qpyr,
            base_lcn: base.iter().map(|_| OnceCell::new()).collect(),
            base,
            apyr,
            araw,
            qw: f64::from(query.width),
            qh: f64::from(query.height),
            si_range: (0, 0),
        })
    }

    /// Number of archive pyramid levels.
    pub(super) fn levels(&self) -> usize {
        self.base.len()
    }

    /// Contrast-normalised archive level under transform `t`. Normalisation
    /// commutes with the dihedral transforms (square window), so it is done once
    /// per level and shared by the transforms.
    pub(super) fn alevel(&self, t: usize, level: usize) -> &Level {
        self.apyr[t][level].get_or_init(|| {
            let n = self.base_lcn[level].get_or_init(|| lcn(&self.base[level]));
            Level::new(n.dihedral(self.params.transforms[t]))
        })
    }

    /// Raw archive level under transform `t` (block scoring).
    pub(super) fn araw(&self, t: usize, level: usize) -> &Plane {
        self.araw[t][level].get_or_init(|| self.base[level].dihedral(self.params.transforms[t]))
    }

    /// The whole query, contrast-normalised, on the archive grid of `level` at
    /// scale index `si` (cached: the coarse search reuses it for every transform).
    pub(super) fn query(&self, si: i32, level: usize) -> Option<Arc<Level>> {
        let cache = || {
            self.prepared
                .qcache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
        };
        if let Some(q) = cache().get(&(si, level)) {
            return Some(Arc::clone(q));
        }
        let (j, kk, ow, oh) = self.query_grid(si, level)?;
        // Two workers may both make a missing level; the results are the same.
        let q = Arc::new(Level::new(lcn(&resample(
            &self.qpyr[j],
            kk,
            kk,
            (0.0, 0.0),
            ow,
            oh,
        ))));
        cache().insert((si, level), Arc::clone(&q));
        Some(q)
    }

    /// How the query maps onto the grid of (si, level): source pyramid level,
    /// source pixels per grid pixel, and the grid size. One grid pixel covers
    /// s·2^level query-thumbnail pixels; reading from the pyramid level just finer
    /// than that bounds the cost per output pixel and keeps the average exact.
    pub(super) fn query_grid(&self, si: i32, level: usize) -> Option<(usize, f64, usize, usize)> {
        let k = scale_of(si) * f64::from(1u32 << level);
        let mut j = 0;
        while j + 1 < self.qpyr.len() && f64::from(1u32 << (j + 1)) <= k {
            j += 1;
        }
        let src = &self.qpyr[j];
        let kk = k / f64::from(1u32 << j);
        let ow = (src.w as f64 / kk).floor() as usize;
        let oh = (src.h as f64 / kk).floor() as usize;
        (ow >= MIN_LEVEL_SIDE && oh >= MIN_LEVEL_SIDE).then_some((j, kk, ow, oh))
    }

    /// Part of the query grid covering grid pixels [n0, n1) on each axis, with a
    /// margin so that normalisation inside that range is exact, at a sub-pixel
    /// phase. Only this part is resampled: the query may be far larger than the
    /// archive (a screenshot), and refinement only needs the overlap.
    pub(super) fn window(
        &self,
        si: i32,
        level: usize,
        nx: (usize, usize),
        ny: (usize, usize),
        phase: (f64, f64),
        normalised: bool,
    ) -> Option<Window> {
        let (j, kk, gw, gh) = self.query_grid(si, level)?;
        let m = if normalised { LCN_RADIUS + 2 } else { 1 };
        let (x, y) = (nx.0.saturating_sub(m), ny.0.saturating_sub(m));
        let (w, h) = (
            (nx.1 + m).min(gw).checked_sub(x)?,
            (ny.1 + m).min(gh).checked_sub(y)?,
        );
        if w == 0 || h == 0 {
            return None;
        }
        let p = resample(
            &self.qpyr[j],
            kk,
            kk,
            (x as f64 + phase.0, y as f64 + phase.1),
            w,
            h,
        );
        STATS.with(|s| {
            let mut s = s.borrow_mut();
            s[level.min(3)] += 1;
            s[4 + level.min(3)] += w * h;
        });
        Some(Window {
            x,
            y,
            p: if normalised { lcn(&p) } else { p },
        })
    }

    /// Finest archive level at which the query is not upsampled much.
    pub(super) fn final_level(&self, si: i32) -> usize {
        let levels = self.levels();
        let mut l = 0;
        while l + 1 < levels && scale_of(si) * f64::from(1u32 << l) < f64::from(MIN_QUERY_PX) {
            l += 1;
        }
        l
    }

    pub(super) fn relaxed_cover(&self) -> f32 {
        // The search tolerates a little less coverage than the decision, so that a
        // true alignment near the limit is not lost to a one-pixel error.
        (self.params.min_axis_cover - 0.1).max(0.3)
    }

    /// Linear size ratio of the two thumbnails: the scale at which their areas
    /// would match; crops lie above it, insets below.
    pub(super) fn area_ratio(&self) -> f64 {
        let (aw, ah) = (
            f64::from(self.archive.width),
            f64::from(self.archive.height),
        );
        ((self.qw * self.qh) / (aw * ah)).sqrt()
    }

    /// Scale indices from the smallest inset to the smallest crop allowed.
    pub(super) fn scale_range(&self) -> (i32, i32) {
        let p = self.params;
        let r = self.area_ratio();
        let lo = ((r * f64::from(p.min_inset_fraction)).ln() * SCALE_GRID).floor() as i32;
        let hi = ((r / f64::from(p.min_crop_fraction)).ln() * SCALE_GRID).ceil() as i32;
        (lo, hi)
    }

    /// Coarse search: the best few (scale, transform, offset) candidates, best first.
    pub(super) fn coarse(&self) -> Vec<Cand> {
        let p = self.params;
        let (aw, ah) = (
            f64::from(self.archive.width),
            f64::from(self.archive.height),
        );
        let r = self.area_ratio();
        let (lo, hi) = self.si_range;
        let rot_lo = (r * f64::from(p.rotated_min_fraction)).ln() * SCALE_GRID;
        let rot_hi = (r / f64::from(p.rotated_min_fraction)).ln() * SCALE_GRID;
        let step = grid_steps(f64::from(p.coarse_scale_step.max(1.01)));
        let levels = self.levels();
        let relaxed = self.relaxed_cover();
        let dbg = std::env::var_os("ALIGN_DEBUG").is_some();

        let mut cands: Vec<Cand> = Vec::new();
        let mut si = lo;
        while si <= hi + step / 2 {
            let s = scale_of(si);
            // Overlap size in archive-thumbnail pixels: the query footprint or the
            // archive itself, whichever is smaller.
            let ov = ((self.qw * self.qh / (s * s)).min(aw * ah)).sqrt();
            let whole = f64::from(si) >= rot_lo && f64::from(si) <= rot_hi;
            // Coarsest level at which the overlap still spans about
            // `coarse_side` pixels (within a factor √2 either way).
            let mut lc = self.final_level(si);
            while lc + 1 < levels
                && ov / f64::from(1u32 << (lc + 1))
                    >= f64::from(p.coarse_side) * std::f64::consts::FRAC_1_SQRT_2
            {
                lc += 1;
            }
            if let Some(q) = self.query(si, lc) {
                let ts: Vec<usize> = (0..p.transforms.len())
                    .filter(|&t| {
                        whole || matches!(p.transforms[t], Dihedral::Identity | Dihedral::Mirror)
                    })
                    .collect();
                // Transforms that keep the axes and those that swap them give
                // archive levels of two different shapes; each shape is one batch.
                let mut per_t: Vec<Option<(OffsetGrid, Vec<f32>)>> = vec![None; p.transforms.len()];
                for swapped in [false, true] {
                    let batch: Vec<usize> = ts
                        .iter()
                        .copied()
                        .filter(|&t| p.transforms[t].swaps_axes() == swapped)
                        .collect();
                    let Some(&t0) = batch.first() else {
                        continue;
                    };
                    let a0 = &self.alevel(t0, lc).img;
                    let xr = offset_range(a0.w, q.img.w, relaxed);
                    let yr = offset_range(a0.h, q.img.h, relaxed);
                    let levels: Vec<&Level> = batch.iter().map(|&t| self.alevel(t, lc)).collect();
                    if let Some((g, nccs)) = ncc_all_many(&levels, &q, xr, yr) {
                        for (&t, v) in batch.iter().zip(nccs) {
                            per_t[t] = Some((g, v));
                        }
                    }
                }
                for &t in &ts {
                    let Some((g, nccs)) = &per_t[t] else {
                        continue;
                    };
                    // Keep the best two separate peaks per scale and transform:
                    // with an occluder the true peak is sometimes only second here.
                    // Ties go to the last offset in scan order.
                    let top = |skip: Option<(i32, i32, f32)>| {
                        let mut best: Option<(i32, i32, f32)> = None;
                        for (dy, row) in (g.y_lo..).zip(nccs.chunks_exact(g.nx())) {
                            for (dx, &v) in (g.x_lo..).zip(row) {
                                if v == f32::NEG_INFINITY
                                    || skip.is_some_and(|b| {
                                        (b.0 - dx).abs() <= 2 && (b.1 - dy).abs() <= 2
                                    })
                                {
                                    continue;
                                }
                                if best.is_none_or(|b| v.total_cmp(&b.2).is_ge()) {
                                    best = Some((dx, dy, v));
                                }
                            }
                        }
                        best
                    };
                    let first = top(None);
                    let second = first.and_then(|f| top(Some(f)));
                    for (dx, dy, ncc) in [first, second].into_iter().flatten() {
                        cands.push(Cand {
                            t,
                            si,
                            level: lc,
                            dx,
                            dy,
                            ph: (0.0, 0.0),
                            ncc,
                        });
                    }
                }
            }
            si += step;
        }
        cands.sort_by(|a, b| b.ncc.total_cmp(&a.ncc));
        cands.truncate(p.candidates.max(1));
        if dbg {
            eprintln!("after coarse: {:?}", STATS.with(|s| *s.borrow()));
            for c in &cands {
                eprintln!("coarse {c:?} s={:.3}", scale_of(c.si));
            }
        }
        cands
    }

    /// Refine the coarse candidates level by level, polish and score them.
    pub(super) fn finish(&self, cands: Vec<Cand>) -> Option<Alignment> {
        let step = grid_steps(f64::from(self.params.coarse_scale_step.max(1.01)));
        let dbg = std::env::var_os("ALIGN_DEBUG").is_some();
        // Refine level by level, halving the field after each round so that only a
        // few candidates pay for the full-resolution comparison.
        if std::env::var_os("ALIGN_COARSE_ONLY").is_some() {
            return None;
        }
        let mut live: Vec<Cand> = cands
            .into_iter()
            .map(|c| self.refine(c, (step / 2).max(1), 1, 3))
            .collect();
        // Descend level by level. The field is pruned before each descent (the
        // finer levels are where the cost is), keeping the best few plus the best
        // of any transform that comes close (see `prune`).
        for round in 0.. {
            dedup(&mut live);
            prune(&mut live, [6, 4, 3][round.min(2)]);
            let mut moved = false;
            for c in live.iter_mut() {
                let lf = self.final_level(c.si);
                if c.level > lf {
                    // Pixel-edge coordinates double from one level to the next.
                    let (ox, oy) = c.offset();
                    let down = Cand {
                        level: c.level - 1,
                        ..*c
                    }
                    .at_offset(2.0 * ox, 2.0 * oy);
                    // Most of the movement happens at coarse levels; at the final
                    // level two rounds suffice before `polish`.
                    let rounds = if down.level == lf { 2 } else { 3 };
                    *c = self.refine(down, self.fine_step(&down), 1, rounds);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        dedup(&mut live);
        prune(&mut live, 3);
        if dbg {
            for c in &live {
                eprintln!("refined {c:?} s={:.3}", scale_of(c.si));
            }
        }
        // Polish (finest scale step, sub-pixel phase), then score each survivor;
        // the decision is made on block agreement, not on the search's NCC.
        let mut best: Option<Alignment> = None;
        for c in live {
            let c = self.polish(c);
            if let Some(al) = self.evaluate(&c) {
                if dbg {
                    eprintln!("evaluated {c:?}: {al:?}");
                }
                let better = match &best {
                    None => true,
                    Some(b) => (al.score, al.ncc) > (b.score, b.ncc),
                };
                if better {
                    best = Some(al);
                }
            }
        }
        if dbg {
            eprintln!(
                "stats windows per level, px per level, ncc calls, ncc px: {:?}",
                STATS.with(|s| *s.borrow())
            );
        }
        best
    }

    /// Scale step (grid units) at a candidate's level that moves the far edge of
    /// the overlap by about one pixel.
    pub(super) fn fine_step(&self, c: &Cand) -> i32 {
        let a = &self.alevel(c.t, c.level).img;
        let qext = (self.qw.max(self.qh)) / (scale_of(c.si) * f64::from(1u32 << c.level));
        let ext = qext.min(a.w.max(a.h) as f64).max(4.0);
        grid_steps(1.0 + 1.0 / ext)
    }

    /// Query grid pixels X − dx reached from archive pixels X in [0, alen) for
    /// offsets in [lo, hi], clipped to the grid.
    pub(super) fn needed(lo: i32, hi: i32, alen: usize, glen: usize) -> (usize, usize) {
        let n0 = (-hi).max(0) as usize;
        let n1 = (alen as i32 - lo).clamp(0, glen as i32) as usize;
        (n0, n1)
    }

    /// Exact offset at scale `si` that keeps the centre of the candidate's
    /// overlap in place: find it in archive pixels, express it in query-thumbnail
    /// pixels at the old scale, and place it again at the new one. (The query grid
    /// grows from the query's corner, so keeping the integer offset would slide
    /// the far side of the overlap by up to several pixels.)
    pub(super) fn recentre(&self, c: &Cand, si: i32) -> (f64, f64) {
        let a = &self.alevel(c.t, c.level).img;
        let unit = f64::from(1u32 << c.level);
        let k_old = scale_of(c.si) * unit;
        let k_new = scale_of(si) * unit;
        let (qwf, qhf) = (self.qw / k_old, self.qh / k_old);
        let (ox, oy) = c.offset();
        let xc = 0.5 * (ox.max(0.0) + (ox + qwf).min(a.w as f64));
        let yc = 0.5 * (oy.max(0.0) + (oy + qhf).min(a.h as f64));
        (
            xc - (xc - ox) * k_old / k_new,
            yc - (yc - oy) * k_old / k_new,
        )
    }

    /// Local search around a candidate: scale indices si ± `ds` (each with the
    /// exact centre-preserving offset) and integer offsets within `radius` of it,
    /// repeated while the best moves (at most `rounds` times).
    pub(super) fn refine(&self, mut c: Cand, ds: i32, radius: i32, rounds: usize) -> Cand {
        let relaxed = self.relaxed_cover();
        let a = &self.alevel(c.t, c.level).img;
        let mut windows: Vec<(i32, (f64, f64), Window)> = Vec::new();
        let mut seen: Vec<(i32, i32, i32, u64, u64)> = Vec::new();
        for _ in 0..rounds {
            let mut best = c;
            best.ncc = f32::NEG_INFINITY;
            for k in -1i32..=1 {
                let si = c.si + k * ds;
                if k != 0 && (si < self.si_range.0 || si > self.si_range.1) {
                    continue;
                }
                let Some((_, _, gw, gh)) = self.query_grid(si, c.level) else {
                    continue;
                };
                let (ox, oy) = if k == 0 {
                    c.offset()
                } else {
                    self.recentre(&c, si)
                };
                // Phases are kept on a quarter-pixel grid during refinement so that
                // windows can be reused between rounds; `polish` makes them exact.
                let q4 = |v: f64| (v * 4.0).round() / 4.0;
                let mut base = Cand { si, ..c }.at_offset(ox, oy);
                base.ph = (q4(base.ph.0), q4(base.ph.1));
                let (x_lo, x_hi) = offset_range(a.w, gw, relaxed);
                let (y_lo, y_hi) = offset_range(a.h, gh, relaxed);
                let (ox0, ox1) = ((base.dx - radius).max(x_lo), (base.dx + radius).min(x_hi));
                let (oy0, oy1) = ((base.dy - radius).max(y_lo), (base.dy + radius).min(y_hi));
                if ox1 < ox0 || oy1 < oy0 {
                    continue;
                }
                let nx = Self::needed(ox0, ox1, a.w, gw);
                let ny = Self::needed(oy0, oy1, a.h, gh);
                if nx.1 <= nx.0 || ny.1 <= ny.0 {
                    continue;
                }
                let have = windows.iter().position(|(wsi, wph, w)| {
                    *wsi == si
                        && *wph == base.ph
                        && w.x <= nx.0
                        && w.y <= ny.0
                        && w.x + w.p.w >= nx.1
                        && w.y + w.p.h >= ny.1
                });
                let wi = match have {
                    Some(i) => i,
                    None => {
                        // One pixel of slack each way lets the next round reuse it.
                        let grow =
                            |n: (usize, usize), g: usize| (n.0.saturating_sub(1), (n.1 + 1).min(g));
                        let Some(w) =
                            self.window(si, c.level, grow(nx, gw), grow(ny, gh), base.ph, true)
                        else {
                            continue;
                        };
                        windows.push((si, base.ph, w));
                        windows.len() - 1
                    }
                };
                let win = &windows[wi].2;
                let key = (base.ph.0.to_bits(), base.ph.1.to_bits());
                for dy in oy0..=oy1 {
                    for dx in ox0..=ox1 {
                        let id = (si, dx, dy, key.0, key.1);
                        let current = si == c.si && dx == c.dx && dy == c.dy && base.ph == c.ph;
                        if seen.contains(&id) && !current {
                            continue;
                        }
                        seen.push(id);
                        if let Some(v) = ncc_window(a, &win.p, (win.x, win.y), (gw, gh), dx, dy) {
                            if v > best.ncc {
                                best = Cand {
                                    dx,
                                    dy,
                                    ncc: v,
                                    ..base
                                };
                            }
                        }
                    }
                }
            }
            if !best.ncc.is_finite() {
                return c;
            }
            let unchanged =
                best.si == c.si && best.dx == c.dx && best.dy == c.dy && best.ph == c.ph;
            c = best;
            if unchanged {
                break;
            }
        }
        c
    }

    /// Sub-pixel refinement of the offset at the candidate's scale: an offset
    /// off by a fraction of a pixel blurs fine texture (text, foliage, gravel)
    /// enough to fail block agreement at thumbnail size. The correlation at the
    /// 3 × 3 neighbouring offsets is fitted with a parabola per axis (the usual
    /// sub-pixel peak estimate): one window instead of a search over phases.
    pub(super) fn polish(&self, c: Cand) -> Cand {
        let a = &self.alevel(c.t, c.level).img;
        // Scale first: correlation at si ± ds with centre-preserving exact
        // offsets, parabola through the three values, rounded to the scale grid.
        let ds = (self.fine_step(&c) / 2).max(1);
        let at_scale = |si: i32| -> Option<f32> {
            let (_, _, gw, gh) = self.query_grid(si, c.level)?;
            let (ox, oy) = self.recentre(&c, si);
            let cc = Cand { si, ..c }.at_offset(ox, oy);
            let nx = Self::needed(cc.dx, cc.dx, a.w, gw);
            let ny = Self::needed(cc.dy, cc.dy, a.h, gh);
            let w = self.window(si, c.level, nx, ny, cc.ph, true)?;
            ncc_window(a, &w.p, (w.x, w.y), (gw, gh), cc.dx, cc.dy)
        };
        let mut c = c;
        if let (Some(m), Some(v0), Some(p)) =
            (at_scale(c.si - ds), at_scale(c.si), at_scale(c.si + ds))
        {
            let d = parabola_peak(m, v0, p);
            let si = c.si + (d * f64::from(ds)).round() as i32;
            if si != c.si {
                let (ox, oy) = self.recentre(&c, si);
                c = Cand { si, ..c }.at_offset(ox, oy);
            }
        }
        // Then translation: the 3 × 3 neighbouring offsets on one window.
        let Some((_, _, gw, gh)) = self.query_grid(c.si, c.level) else {
            return c;
        };
        let nx = Self::needed(c.dx - 1, c.dx + 1, a.w, gw);
        let ny = Self::needed(c.dy - 1, c.dy + 1, a.h, gh);
        let Some(w) = self.window(c.si, c.level, nx, ny, c.ph, true) else {
            return c;
        };
        let at = |dx: i32, dy: i32| ncc_window(a, &w.p, (w.x, w.y), (gw, gh), dx, dy);
        let Some(v0) = at(c.dx, c.dy) else {
            return c;
        };
        let peak = |m: Option<f32>, p: Option<f32>| match (m, p) {
            (Some(m), Some(p)) => parabola_peak(m, v0, p),
            _ => 0.0,
        };
        let sx = peak(at(c.dx - 1, c.dy), at(c.dx + 1, c.dy));
        let sy = peak(at(c.dx, c.dy - 1), at(c.dx, c.dy + 1));
        let (ox, oy) = c.offset();
        Cand { ncc: v0, ..c }.at_offset(ox + sx, oy + sy)
    }

    /// Block scoring and geometry of a polished candidate.
    pub(super) fn evaluate(&self, c: &Cand) -> Option<Alignment> {
        let p = self.params;
        let t = self.params.transforms[c.t];
        let a = self.araw(c.t, c.level);
        let unit = f64::from(1u32 << c.level);
        let k = scale_of(c.si) * unit;
        let (_, _, gw, gh) = self.query_grid(c.si, c.level)?;
        let r = overlap(a.w, a.h, gw, gh, c.dx, c.dy)?;
        let nx = Self::needed(c.dx, c.dx, a.w, gw);
        let ny = Self::needed(c.dy, c.dy, a.h, gh);
        let win = self.window(c.si, c.level, nx, ny, c.ph, false)?;
        let ncc = ncc_window(a, &win.p, (win.x, win.y), (gw, gh), c.dx, c.dy).unwrap_or(0.0);

        // Coverage along each axis, in archive-level pixels.
        let ow = (r.x1 - r.x0) as f32;
        let oh = (r.y1 - r.y0) as f32;
        let covered = ow >= p.min_axis_cover * a.w.min(gw) as f32 - 0.5
            && oh >= p.min_axis_cover * a.h.min(gh) as f32 - 0.5;

        let bs = block_stats(a, &win, r, c.dx, c.dy, p);
        if bs.either == 0 && ncc <= 0.0 {
            return None;
        }
        let score = if bs.either > 0 {
            bs.agreeing as f32 / bs.either as f32
        } else {
            0.0
        };
        let confident = covered
            && bs.agreeing >= p.min_agreeing_blocks
            && score >= p.min_score
            && ncc >= p.min_ncc;

        // Regions: archive level pixels → fractions of the transformed archive
        // thumbnail → untransformed archive frame; query grid pixels (with the
        // sub-pixel phase) → query fractions.
        let (atw, ath) = if t.swaps_axes() {
            (
                f64::from(self.archive.height),
                f64::from(self.archive.width),
            )
        } else {
            (
                f64::from(self.archive.width),
                f64::from(self.archive.height),
            )
        };
        let in_t = Rect {
            x: (r.x0 as f64 * unit / atw) as f32,
            y: (r.y0 as f64 * unit / ath) as f32,
            w: ((r.x1 - r.x0) as f64 * unit / atw) as f32,
            h: ((r.y1 - r.y0) as f64 * unit / ath) as f32,
        };
        let archive_region = clamp_region(t.inverse().map_rect(in_t));
        let qx0 = (f64::from(r.x0 as i32 - c.dx) + c.ph.0) * k;
        let qy0 = (f64::from(r.y0 as i32 - c.dy) + c.ph.1) * k;
        let query_region = clamp_region(Rect {
            x: (qx0 / self.qw) as f32,
            y: (qy0 / self.qh) as f32,
            w: ((r.x1 - r.x0) as f64 * k / self.qw) as f32,
            h: ((r.y1 - r.y0) as f64 * k / self.qh) as f32,
        });
        // Thumbnail scale → source pixels: each thumbnail's source-per-thumb ratio
        // taken on its longest side (least rounding error).
        let q_src = f64::from(self.query.source_width.max(self.query.source_height))
            / f64::from(self.query.width.max(self.query.height));
        let a_src = f64::from(self.archive.source_width.max(self.archive.source_height))
            / f64::from(self.archive.width.max(self.archive.height));
        Some(Alignment {
            transform: t,
            scale: (scale_of(c.si) * q_src / a_src) as f32,
            query_region,
            archive_region,
            score,
            ncc,
            textured_blocks: bs.either,
            agreeing_blocks: bs.agreeing,
            confident,
            features: bs.features(ncc, c.ncc, covered),
        })
    }
}

/// Vertex of the parabola through (−1, m), (0, v0), (1, p), clamped to ±0.5;
/// 0 when the three values do not form a peak.
pub(super) fn parabola_peak(m: f32, v0: f32, p: f32) -> f64 {
    let curv = f64::from(m) - 2.0 * f64::from(v0) + f64::from(p);
    if curv < -1e-6 {
        (0.5 * f64::from(m - p) / curv).clamp(-0.5, 0.5)
    } else {
        0.0
    }
}

/// Keep the `n` best candidates by search NCC, plus the best of any other
/// transform that comes close: near-symmetric pictures (cells, textures) make a
/// wrong orientation score almost as well in the search, and only block scoring
/// tells them apart.
pub(super) fn prune(v: &mut Vec<Cand>, n: usize) {
    v.sort_by(|a, b| b.ncc.total_cmp(&a.ncc));
    let Some(top) = v.first().map(|c| c.ncc) else {
        return;
    };
    let mut out: Vec<Cand> = Vec::new();
    for (i, c) in v.iter().enumerate() {
        let new_t = !out.iter().any(|o| o.t == c.t);
        if i < n || (new_t && c.ncc >= top - 0.15) {
            out.push(*c);
        }
    }
    *v = out;
}

/// Drop candidates that converged onto the same hypothesis (same transform and
/// level, scale within two grid steps, offset within a pixel), keeping the best.
pub(super) fn dedup(v: &mut Vec<Cand>) {
    v.sort_by(|a, b| b.ncc.total_cmp(&a.ncc));
    let mut out: Vec<Cand> = Vec::with_capacity(v.len());
    for c in v.drain(..) {
        let dup = out.iter().any(|o| {
            o.t == c.t
                && o.level == c.level
                && (o.si - c.si).abs() <= 2
                && (o.dx - c.dx).abs() <= 1
                && (o.dy - c.dy).abs() <= 1
        });
        if !dup {
            out.push(c);
        }
    }
    *v = out;
}

pub(super) fn clamp_region(r: Rect) -> Rect {
    let x = r.x.clamp(0.0, 1.0);
    let y = r.y.clamp(0.0, 1.0);
    Rect {
        x,
        y,
        w: r.w.clamp(0.0, 1.0 - x),
        h: r.h.clamp(0.0, 1.0 - y),
    }
}
