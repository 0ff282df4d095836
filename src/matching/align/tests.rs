use super::*;

/// The loop `ncc_window` had before its sums were split in two passes.
fn ncc_window_reference(
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
    let (mut sa, mut saa, mut sq, mut sqq, mut sqa) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for y in 0..h {
        let ar = &a.p[(r.y0 + y) * a.w + r.x0..][..w];
        let qr = &win.p[(wy0 + y) * win.w + wx0..][..w];
        // Eight independent lanes per sum so that the loop vectorises.
        let mut acc = [[0.0f32; 8]; 5];
        let (ca, cq) = (ar.chunks_exact(8), qr.chunks_exact(8));
        let (ta, tq) = (ca.remainder(), cq.remainder());
        for (xa, xq) in ca.zip(cq) {
            for i in 0..8 {
                acc[0][i] += xa[i];
                acc[1][i] += xa[i] * xa[i];
                acc[2][i] += xq[i];
                acc[3][i] += xq[i] * xq[i];
                acc[4][i] += xa[i] * xq[i];
            }
        }
        let mut t = acc.map(|l| l.iter().sum::<f32>());
        for (&x, &q) in ta.iter().zip(tq) {
            t[0] += x;
            t[1] += x * x;
            t[2] += q;
            t[3] += q * q;
            t[4] += x * q;
        }
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

/// `resample` before its common tap counts were written out.
fn resample_reference(
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
            *o = wx.w[off..off + len]
                .iter()
                .zip(&row[start..start + len])
                .map(|(a, b)| a * b)
                .sum();
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

/// The straightforward loops `lcn` replaced; it must match them bit for bit.
fn lcn_reference(p: &Plane) -> Plane {
    let (w, h) = (p.w, p.h);
    let r = LCN_RADIUS;
    // Horizontal box sums of v and v² (clamped window), then vertical ones:
    // separable running sums in f32 (values are centred, so precision is ample).
    let mut h1 = vec![0.0f32; w * h];
    let mut h2 = vec![0.0f32; w * h];
    for y in 0..h {
        let row = &p.p[y * w..(y + 1) * w];
        let (o1, o2) = (&mut h1[y * w..(y + 1) * w], &mut h2[y * w..(y + 1) * w]);
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for &v in row.iter().take(r.min(w)) {
            s1 += v;
            s2 += v * v;
        }
        for x in 0..w {
            if x + r < w {
                let v = row[x + r];
                s1 += v;
                s2 += v * v;
            }
            if x > r {
                let v = row[x - r - 1];
                s1 -= v;
                s2 -= v * v;
            }
            o1[x] = s1;
            o2[x] = s2;
        }
    }
    let count = |i: usize, n: usize| (i + r + 1).min(n) - i.saturating_sub(r);
    let floor2 = LCN_FLOOR * LCN_FLOOR;
    let mut out = vec![0.0f32; w * h];
    let mut c1 = vec![0.0f32; w];
    let mut c2 = vec![0.0f32; w];
    for y in 0..r.min(h) {
        for x in 0..w {
            c1[x] += h1[y * w + x];
            c2[x] += h2[y * w + x];
        }
    }
    for y in 0..h {
        if y + r < h {
            let row = (y + r) * w;
            for x in 0..w {
                c1[x] += h1[row + x];
                c2[x] += h2[row + x];
            }
        }
        if y > r {
            let row = (y - r - 1) * w;
            for x in 0..w {
                c1[x] -= h1[row + x];
                c2[x] -= h2[row + x];
            }
        }
        let cy = count(y, h);
        for x in 0..w {
            let inv_n = 1.0 / (count(x, w) * cy) as f32;
            let m = c1[x] * inv_n;
            let var = (c2[x] * inv_n - m * m).max(0.0);
            out[y * w + x] = LCN_GAIN * (p.p[y * w + x] - m) / (var + floor2).sqrt();
        }
    }
    blur121_reference(&Plane::new(w, h, out))
}

fn blur121_reference(p: &Plane) -> Plane {
    let (w, h) = (p.w, p.h);
    let mut tmp = vec![0.0f32; w * h];
    for y in 0..h {
        let row = &p.p[y * w..(y + 1) * w];
        for x in 0..w {
            let l = row[x.saturating_sub(1)];
            let r = row[(x + 1).min(w - 1)];
            tmp[y * w + x] = 0.25 * (l + r) + 0.5 * row[x];
        }
    }
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        let (u, d) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for x in 0..w {
            out[y * w + x] = 0.25 * (tmp[u * w + x] + tmp[d * w + x]) + 0.5 * tmp[y * w + x];
        }
    }
    Plane::new(w, h, out)
}

/// Deterministic multi-octave value noise: texture at several scales without
/// the periodicity of sums of sines (which would make shifted copies match).
fn textured(w: u32, h: u32) -> DynamicImage {
    let mut seed = 0x9e37_79b9u32;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed % 1000) as f32 / 1000.0
    };
    let mut acc = vec![0.0f32; (w * h) as usize];
    for (cell, amp) in [(64u32, 60.0f32), (24, 40.0), (9, 25.0), (4, 12.0)] {
        let (gw, gh) = (w / cell + 2, h / cell + 2);
        let grid: Vec<f32> = (0..gw * gh).map(|_| rnd() - 0.5).collect();
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f32 / cell as f32, y as f32 / cell as f32);
                let (ix, iy) = (fx as u32, fy as u32);
                let (tx, ty) = (fx - ix as f32, fy - iy as f32);
                let g = |i: u32, j: u32| grid[(j * gw + i) as usize];
                let v = g(ix, iy) * (1.0 - tx) * (1.0 - ty)
                    + g(ix + 1, iy) * tx * (1.0 - ty)
                    + g(ix, iy + 1) * (1.0 - tx) * ty
                    + g(ix + 1, iy + 1) * tx * ty;
                acc[(y * w + x) as usize] += amp * v;
            }
        }
    }
    let img = image::GrayImage::from_fn(w, h, |x, y| {
        image::Luma([(128.0 + acc[(y * w + x) as usize]).clamp(0.0, 255.0) as u8])
    });
    DynamicImage::ImageLuma8(img)
}

/// Pseudo-random plane with values of the magnitude `lcn` produces.
fn noise_plane(w: usize, h: usize, seed: u32) -> Plane {
    let mut x = seed.max(1);
    let p = (0..w * h)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 2001) as f32 / 10.0 - 100.0
        })
        .collect();
    Plane::new(w, h, p)
}

#[test]
fn ncc_window_sums_in_the_same_order() {
    let a = noise_plane(61, 45, 3);
    let q = noise_plane(50, 37, 4);
    let mut checked = 0;
    for dy in -20..30 {
        for dx in -25..30 {
            for wo in [(0, 0), (3, 2)] {
                let (wx, wy) = (q.w - wo.0, q.h - wo.1);
                let win = Plane::new(
                    wx,
                    wy,
                    (0..wy)
                        .flat_map(|y| q.p[(y + wo.1) * q.w + wo.0..][..wx].to_vec())
                        .collect(),
                );
                let fast = ncc_window(&a, &win, wo, (q.w, q.h), dx, dy);
                let slow = ncc_window_reference(&a, &win, wo, (q.w, q.h), dx, dy);
                assert_eq!(fast.map(f32::to_bits), slow.map(f32::to_bits), "{dx} {dy}");
                checked += usize::from(fast.is_some());
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn resample_matches_plain_loops_bit_for_bit() {
    let src = noise_plane(97, 61, 5);
    for k in [0.45, 0.8, 1.0, 1.13, 1.5, 1.99, 2.0, 2.7, 3.3] {
        for first in [(0.0, 0.0), (3.25, 1.5), (-0.5, 0.75), (7.0, 2.0)] {
            let (ow, oh) = ((90.0 / k) as usize - 8, (55.0 / k) as usize - 4);
            let fast = resample(&src, k, k * 1.01, first, ow, oh);
            let slow = resample_reference(&src, k, k * 1.01, first, ow, oh);
            let bits = |q: &Plane| q.p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&slow), "k {k} from {first:?}");
        }
    }
}

#[test]
fn lcn_matches_plain_loops_bit_for_bit() {
    for (k, &(w, h)) in [
        (1, 1),
        (2, 3),
        (5, 1),
        (1, 7),
        (4, 4),
        (6, 9),
        (9, 17),
        (64, 42),
        (33, 128),
    ]
    .iter()
    .enumerate()
    {
        let p = noise_plane(w, h, 11 + k as u32);
        let (fast, slow) = (lcn(&p), lcn_reference(&p));
        assert_eq!((fast.w, fast.h), (slow.w, slow.h));
        let bits = |q: &Plane| q.p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fast), bits(&slow), "{w} x {h}");
    }
}

#[test]
fn fft_cross_terms_equal_direct_sums() {
    // Query narrower than the archive (crops), wider (insets), mixed, and
    // offset ranges reaching past the pictures; odd and even batch sizes.
    let shapes = [
        ((64, 42), (26, 17)),
        ((16, 10), (57, 37)),
        ((16, 12), (14, 11)),
        ((33, 20), (19, 41)),
        ((5, 4), (4, 5)),
    ];
    for (k, &((aw, ah), (qw, qh))) in shapes.iter().enumerate() {
        let q = Level::new(noise_plane(qw, qh, 7 + k as u32));
        let archives: Vec<Level> = (0..3)
            .map(|i| Level::new(noise_plane(aw, ah, 100 * (k as u32 + 1) + i)))
            .collect();
        let refs: Vec<&Level> = archives.iter().collect();
        for (xr, yr) in [
            (offset_range(aw, qw, 0.7), offset_range(ah, qh, 0.7)),
            (
                (-(qw as i32) - 3, aw as i32 + 3),
                (-(qh as i32) - 3, ah as i32 + 3),
            ),
        ] {
            let (g, fast) = ncc_all_many(&refs, &q, xr, yr).expect("offsets overlap");
            assert_eq!(fast.len(), archives.len());
            let mut checked = 0;
            for (a, nccs) in archives.iter().zip(&fast) {
                let mut slow: Vec<(i32, i32, f32)> = Vec::new();
                ncc_all(a, &q, xr, yr, |dx, dy, v| slow.push((dx, dy, v)));
                let finite = nccs.iter().filter(|v| **v != f32::NEG_INFINITY).count();
                assert_eq!(finite, slow.len(), "shape {k}");
                for &(dx, dy, v) in &slow {
                    let i = (dy - g.y_lo) as usize * g.nx() + (dx - g.x_lo) as usize;
                    // The FFT's rounding error is relative to the whole
                    // pictures' energy, so it grows as the overlap shrinks;
                    // the search only asks for overlaps spanning most of the
                    // smaller picture, where it is ~1e-5.
                    let r = overlap(aw, ah, qw, qh, dx, dy).expect("overlaps");
                    let n = ((r.x1 - r.x0) * (r.y1 - r.y0)) as f32;
                    let tol = 1e-4 * ((aw * ah).max(qw * qh) as f32 / n);
                    assert!((nccs[i] - v).abs() < tol, "shape {k}: {} vs {v}", nccs[i]);
                    // And the reference agrees with a plain per-offset NCC.
                    // (None only at the flatness floor, where f32 and f64 may differ.)
                    if let Some(plain) =
                        ncc_window(&a.img, &q.img, (0, 0), (q.img.w, q.img.h), dx, dy)
                    {
                        assert!((plain - v).abs() < 1e-4, "shape {k}: {plain} vs {v}");
                        checked += 1;
                    }
                }
            }
            assert!(checked > 20, "shape {k}: only {checked} offsets");
        }
    }
}

#[test]
fn smooth_lengths_have_small_factors_only() {
    assert_eq!(smooth_len(0), 1);
    assert_eq!(smooth_len(7), 8);
    assert_eq!(smooth_len(61), 64);
    assert_eq!(smooth_len(71), 72);
    assert_eq!(smooth_len(121), 125);
    for n in 1..600 {
        let m = smooth_len(n);
        assert!(m >= n && m < n + n / 4 + 2, "{n} -> {m}");
    }
}

#[test]
fn bytes_round_trip() {
    let t = Thumb::from_image(&textured(640, 427));
    assert_eq!((t.width, t.height), (128, 85));
    assert_eq!((t.source_width, t.source_height), (640, 427));
    let b = t.to_bytes();
    assert_eq!(b.len(), 16 + 128 * 85);
    assert_eq!(Thumb::from_bytes(&b), Some(t));
}

#[test]
fn from_bytes_rejects_garbage() {
    let t = Thumb::from_image(&textured(300, 200));
    let b = t.to_bytes();
    for n in 0..b.len() {
        assert_eq!(Thumb::from_bytes(&b[..n]), None, "truncated to {n}");
    }
    let mut long = b.clone();
    long.push(0);
    assert_eq!(Thumb::from_bytes(&long), None);
    let mut bad = b.clone();
    bad[0] = b'X';
    assert_eq!(Thumb::from_bytes(&bad), None);
    let mut ver = b.clone();
    ver[3] = 99;
    assert_eq!(Thumb::from_bytes(&ver), None);
    let mut zero = b.clone();
    zero[4] = 0;
    zero[5] = 0;
    assert_eq!(Thumb::from_bytes(&zero), None);
    let mut huge = b.clone();
    huge[4] = 0xff;
    huge[5] = 0xff;
    assert_eq!(Thumb::from_bytes(&huge), None);
    let mut small_src = b.clone();
    small_src[8..12].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(Thumb::from_bytes(&small_src), None);
    // Pseudo-random junk never panics.
    let mut x = 0x1234_5678u32;
    for len in 0..300 {
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let _ = Thumb::from_bytes(&junk);
    }
}

#[test]
fn small_images_are_not_upscaled() {
    let t = Thumb::from_image(&textured(60, 40));
    assert_eq!((t.width, t.height), (60, 40));
}

#[test]
fn self_alignment_is_identity() {
    let img = textured(512, 384);
    let t = Thumb::from_image(&img);
    let al = align(&t, &t, &AlignParams::default()).expect("aligns");
    assert_eq!(al.transform, Dihedral::Identity);
    assert!((al.scale - 1.0).abs() < 0.02, "{al:?}");
    assert!(
        al.query_region.max_edge_distance(&Rect::FULL) < 0.02,
        "{al:?}"
    );
    assert!(
        al.archive_region.max_edge_distance(&Rect::FULL) < 0.02,
        "{al:?}"
    );
    assert!(al.confident, "{al:?}");
    assert!(al.score > 0.95 && al.ncc > 0.99, "{al:?}");
}

#[test]
fn rotation_is_found() {
    let img = textured(400, 300);
    let archive = Thumb::from_image(&img);
    let query = Thumb::from_image_with_side(&img.rotate90(), QUERY_SIDE);
    let al = align(&query, &archive, &AlignParams::default()).expect("aligns");
    assert_eq!(al.transform, Dihedral::Rot90, "{al:?}");
    assert!(al.confident, "{al:?}");
    assert!((al.scale - 1.0).abs() < 0.03, "{al:?}");
}

#[test]
fn flat_images_are_never_confident() {
    let flat = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(200, 150, image::Luma([90])));
    let t = Thumb::from_image(&flat);
    assert!(align(&t, &t, &AlignParams::default()).is_none_or(|a| !a.confident));
}

#[test]
fn dihedral_points_agree_with_image_crate() {
    // A single bright pixel, followed through each transform.
    let (w, h) = (5u32, 3u32);
    let mut img = image::GrayImage::new(w, h);
    img.put_pixel(1, 0, image::Luma([255]));
    let src = Plane::new(
        w as usize,
        h as usize,
        img.as_raw().iter().map(|&v| f32::from(v)).collect(),
    );
    let dynimg = DynamicImage::ImageLuma8(img);
    let expect = |d: Dihedral| -> DynamicImage {
        let m = if d.mirrored() {
            dynimg.fliph()
        } else {
            dynimg.clone()
        };
        match d.quarter_turns() {
            0 => m,
            1 => m.rotate90(),
            2 => m.rotate180(),
            _ => m.rotate270(),
        }
    };
    for d in Dihedral::ALL {
        let got = src.dihedral(d);
        let want = expect(d).to_luma8();
        assert_eq!((got.w as u32, got.h as u32), want.dimensions(), "{d:?}");
        let got_px: Vec<u8> = got.p.iter().map(|&v| v as u8).collect();
        assert_eq!(&got_px, want.as_raw(), "{d:?}");
        // Pixel centre (1.5/5, 0.5/3) maps to the bright pixel's centre.
        let (u, v) = d.map_point(1.5 / w as f32, 0.5 / h as f32);
        let idx = got_px.iter().position(|&v| v == 255).unwrap();
        let (px, py) = (idx % got.w, idx / got.w);
        assert!((u * got.w as f32 - (px as f32 + 0.5)).abs() < 1e-4, "{d:?}");
        assert!((v * got.h as f32 - (py as f32 + 0.5)).abs() < 1e-4, "{d:?}");
        let back = d.inverse().map_point(u, v);
        assert!((back.0 - 1.5 / 5.0).abs() < 1e-5 && (back.1 - 0.5 / 3.0).abs() < 1e-5);
    }
}
