//! Trains what retrace's local features are made of, from public photographs:
//! the 256 tests of the descriptor (`src/features/pattern.bin`) and the
//! visual vocabulary the feature index quantises descriptors with
//! (`src/features/vocabulary.bin`). `benches/features/make.sh` fetches the
//! photographs and runs this; see `benches/features/README.md`.
//!
//!     cargo run --release --features examples --example train_features -- PHOTO_DIR OUT_DIR [--words K1xK2] [--max-patches N]
//!
//! **The tests** are chosen as ORB chose its own (Rublee et al. 2011, §4.3):
//! from many candidate pairs of points in the keypoint's steered patch, the
//! ones whose outcome is closest to a coin toss over real keypoints, each
//! taken only if it is nearly uncorrelated with every test taken before
//! (the threshold raised step by step until 256 are found). Tests steered by
//! the keypoint's angle lose the variance that unsteered BRIEF tests have, and
//! correlated tests waste bits: both make unrelated features look alike.
//!
//! **The vocabulary** is a two-level k-majority tree (k-means in Hamming
//! space, each centroid the bitwise majority of its members: Grana et al.
//! 2013, as DBoW2 uses for ORB): K1 coarse words, each split into K2.
//!
//! Everything is deterministic for the same photographs: files are read in
//! name order, every random choice comes from a seeded splitmix64.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use retrace::internals::decode::shrink;
use retrace::internals::features::training::{features_and_patches, PATCH_SIDE};
use retrace::internals::features::FeatureParams;

const PATCH: usize = PATCH_SIDE * PATCH_SIDE;
const R: i32 = (PATCH_SIDE as i32 - 1) / 2;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn keyed(s: &str) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in s.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h)
    }
}

fn list(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            list(&p, out);
        } else if matches!(
            p.extension()
                .and_then(|e| e.to_str())
                .map(|e| e.to_ascii_lowercase())
                .as_deref(),
            Some("jpg" | "jpeg" | "png" | "webp")
        ) {
            out.push(p);
        }
    }
}

/// The pictures one photograph gives: itself at the working size, and windows
/// of it at 1/2 and 1/4 of its side where it is large enough, so that the
/// detail a crop or a zoom brings to the working size is trained on too.
fn variants(path: &Path) -> Vec<image::GrayImage> {
    let Ok(img) = image::open(path) else {
        return Vec::new();
    };
    let mut rng = Rng::keyed(&path.to_string_lossy());
    let mut out = Vec::new();
    let (w, h) = (img.width(), img.height());
    if w.min(h) < 256 {
        return out;
    }
    out.push(shrink(&img, 512).to_luma8());
    for (frac, count) in [(0.5f64, 2usize), (0.25, 3)] {
        let (cw, ch) = ((f64::from(w) * frac) as u32, (f64::from(h) * frac) as u32);
        if cw.max(ch) < 512 || cw.min(ch) < 256 {
            continue;
        }
        for _ in 0..count {
            let x = (rng.unit() * f64::from(w - cw)) as u32;
            let y = (rng.unit() * f64::from(h - ch)) as u32;
            out.push(shrink(&img.crop_imm(x, y, cw, ch), 512).to_luma8());
        }
    }
    out
}

fn popcount_and(a: &[u64], b: &[u64]) -> u64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| u64::from((x & y).count_ones()))
        .sum()
}

fn point_index(x: i32, y: i32) -> usize {
    ((y + R) * PATCH_SIDE as i32 + x + R) as usize
}

/// ORB's greedy search for 256 tests.
fn learn_pattern(patches: &[[u8; PATCH]], rng: &mut Rng) -> Vec<[i8; 4]> {
    let t = patches.len();
    let disk: Vec<(i32, i32)> = (-R..=R)
        .flat_map(|y| (-R..=R).map(move |x| (x, y)))
        .filter(|&(x, y)| x * x + y * y <= R * R)
        .collect();
    let mut candidates = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while candidates.len() < 30_000 {
        let a = disk[rng.below(disk.len())];
        let b = disk[rng.below(disk.len())];
        let d2 = (a.0 - b.0).pow(2) + (a.1 - b.1).pow(2);
        if d2 < 9 || !seen.insert((a, b)) || seen.contains(&(b, a)) {
            continue;
        }
        candidates.push((a, b));
    }
    let words = t.div_ceil(64);
    eprintln!(
        "pattern: {} candidate tests over {} patches",
        candidates.len(),
        t
    );
    let bits: Vec<Vec<u64>> = candidates
        .par_iter()
        .map(|&(a, b)| {
            let (ia, ib) = (point_index(a.0, a.1), point_index(b.0, b.1));
            let mut v = vec![0u64; words];
            for (k, p) in patches.iter().enumerate() {
                if p[ia] < p[ib] {
                    v[k / 64] |= 1 << (k % 64);
                }
            }
            v
        })
        .collect();
    let means: Vec<f64> = bits
        .iter()
        .map(|v| v.iter().map(|w| w.count_ones() as f64).sum::<f64>() / t as f64)
        .collect();
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| {
        (means[a] - 0.5)
            .abs()
            .total_cmp(&(means[b] - 0.5).abs())
            .then(a.cmp(&b))
    });
    let corr = |a: usize, b: usize| -> f64 {
        let p11 = popcount_and(&bits[a], &bits[b]) as f64 / t as f64;
        let (ma, mb) = (means[a], means[b]);
        let den = (ma * (1.0 - ma) * mb * (1.0 - mb)).sqrt();
        if den <= 1e-12 {
            1.0
        } else {
            (p11 - ma * mb) / den
        }
    };
    let mut threshold = 0.2;
    loop {
        let mut picked: Vec<usize> = Vec::new();
        for &c in &order {
            if picked.len() == 256 {
                break;
            }
            if picked.iter().all(|&p| corr(c, p).abs() < threshold) {
                picked.push(c);
            }
        }
        if picked.len() == 256 {
            let mean_dev: f64 = picked.iter().map(|&c| (means[c] - 0.5).abs()).sum::<f64>() / 256.0;
            let mut mean_corr = 0.0;
            let mut n = 0.0;
            for i in 0..picked.len() {
                for j in i + 1..picked.len() {
                    mean_corr += corr(picked[i], picked[j]).abs();
                    n += 1.0;
                }
            }
            eprintln!(
                "pattern: correlation threshold {threshold:.2}, mean |bit mean − 0.5| {mean_dev:.3}, mean |correlation| {:.3}",
                mean_corr / n
            );
            return picked
                .iter()
                .map(|&c| {
                    let (a, b) = candidates[c];
                    [a.0 as i8, a.1 as i8, b.0 as i8, b.1 as i8]
                })
                .collect();
        }
        threshold += 0.05;
    }
}

fn describe(p: &[u8; PATCH], pattern: &[[i8; 4]]) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (i, t) in pattern.iter().enumerate() {
        let a = p[point_index(i32::from(t[0]), i32::from(t[1]))];
        let b = p[point_index(i32::from(t[2]), i32::from(t[3]))];
        if a < b {
            out[i / 64] |= 1 << (i % 64);
        }
    }
    out
}

fn dist(a: &[u64; 4], b: &[u64; 4]) -> u32 {
    (0..4).map(|i| (a[i] ^ b[i]).count_ones()).sum()
}

/// k-majority: `k` centroids of `points` in Hamming space.
fn k_majority(points: &[[u64; 4]], k: usize, rounds: usize, rng: &mut Rng) -> Vec<[u64; 4]> {
    if points.is_empty() {
        return vec![[0; 4]; k];
    }
    // k-means++ seeding on a sample, for spread-out starting centroids.
    let sample: Vec<&[u64; 4]> = if points.len() > 20 * k {
        (0..20 * k)
            .map(|_| &points[rng.below(points.len())])
            .collect()
    } else {
        points.iter().collect()
    };
    let mut centroids = vec![*sample[rng.below(sample.len())]];
    let mut nearest: Vec<u32> = sample.iter().map(|p| dist(p, &centroids[0])).collect();
    while centroids.len() < k {
        let total: f64 = nearest.iter().map(|&d| f64::from(d * d)).sum();
        let c = if total <= 0.0 {
            *sample[rng.below(sample.len())]
        } else {
            let mut target = rng.unit() * total;
            let mut pick = 0;
            for (i, &d) in nearest.iter().enumerate() {
                target -= f64::from(d * d);
                if target <= 0.0 {
                    pick = i;
                    break;
                }
            }
            *sample[pick]
        };
        for (n, p) in nearest.iter_mut().zip(&sample) {
            *n = (*n).min(dist(p, &c));
        }
        centroids.push(c);
    }
    for _ in 0..rounds {
        let assign: Vec<usize> = points
            .par_iter()
            .map(|p| {
                let mut best = (u32::MAX, 0);
                for (i, c) in centroids.iter().enumerate() {
                    let d = dist(p, c);
                    if d < best.0 {
                        best = (d, i);
                    }
                }
                best.1
            })
            .collect();
        let mut counts = vec![[0u32; 256]; k];
        let mut sizes = vec![0u32; k];
        for (p, &a) in points.iter().zip(&assign) {
            sizes[a] += 1;
            for bit in 0..256 {
                counts[a][bit] += ((p[bit / 64] >> (bit % 64)) & 1) as u32;
            }
        }
        for (i, c) in centroids.iter_mut().enumerate() {
            if sizes[i] == 0 {
                // An empty word takes a random point: no word is wasted.
                *c = points[rng.below(points.len())];
                continue;
            }
            let mut out = [0u64; 4];
            for bit in 0..256 {
                if 2 * counts[i][bit] > sizes[i] {
                    out[bit / 64] |= 1 << (bit % 64);
                }
            }
            *c = out;
        }
    }
    centroids
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: train_features PHOTO_DIR OUT_DIR [--words K1xK2] [--max-patches N]");
        std::process::exit(2);
    }
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (k1, k2) = opt("--words")
        .and_then(|s| {
            let (a, b) = s.split_once('x')?;
            Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?))
        })
        .unwrap_or((256, 256));
    let max_patches: usize = opt("--max-patches")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_500_000);
    let mut files = Vec::new();
    list(Path::new(&args[1]), &mut files);
    files.sort();
    eprintln!("{} photographs", files.len());
    let params = FeatureParams {
        mirror: false,
        ..FeatureParams::query()
    };
    let mut patches: Vec<[u8; PATCH]> = files
        .par_iter()
        .flat_map_iter(|f| {
            variants(f).into_iter().flat_map(|g| {
                let (w, h) = g.dimensions();
                features_and_patches(g.as_raw(), w, h, &params).1
            })
        })
        .collect();
    eprintln!("{} patches", patches.len());
    let mut rng = Rng(0x7472_6169_6e21);
    if patches.len() > max_patches {
        // A fixed subsample (partial Fisher-Yates).
        for i in 0..max_patches {
            let j = i + rng.below(patches.len() - i);
            patches.swap(i, j);
        }
        patches.truncate(max_patches);
    }
    let learn: Vec<[u8; PATCH]> = (0..100_000.min(patches.len()))
        .map(|_| patches[rng.below(patches.len())])
        .collect();
    let pattern = learn_pattern(&learn, &mut rng);
    let descriptors: Vec<[u64; 4]> = patches.par_iter().map(|p| describe(p, &pattern)).collect();
    drop(patches);
    eprintln!(
        "vocabulary {k1} × {k2} from {} descriptors",
        descriptors.len()
    );
    let coarse = k_majority(&descriptors, k1, 12, &mut rng);
    let mut groups: Vec<Vec<[u64; 4]>> = vec![Vec::new(); k1];
    for d in &descriptors {
        let (mut best, mut at) = (u32::MAX, 0);
        for (i, c) in coarse.iter().enumerate() {
            let x = dist(d, c);
            if x < best {
                best = x;
                at = i;
            }
        }
        groups[at].push(*d);
    }
    let fine: Vec<Vec<[u64; 4]>> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut r = Rng(0x6669_6e65 ^ i as u64);
            k_majority(g, k2, 10, &mut r)
        })
        .collect();
    let out = Path::new(&args[2]);
    std::fs::create_dir_all(out).expect("output folder");
    let mut pat = Vec::with_capacity(1024);
    for t in &pattern {
        pat.extend(t.iter().map(|&v| v as u8));
    }
    std::fs::write(out.join("pattern.bin"), pat).expect("write pattern");
    let mut voc = Vec::new();
    voc.extend_from_slice(b"RVOC");
    voc.push(1);
    voc.extend_from_slice(&(k1 as u16).to_le_bytes());
    voc.extend_from_slice(&(k2 as u16).to_le_bytes());
    for c in coarse.iter().chain(fine.iter().flatten()) {
        for w in c {
            voc.extend_from_slice(&w.to_le_bytes());
        }
    }
    std::fs::write(out.join("vocabulary.bin"), voc).expect("write vocabulary");
    let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
    eprintln!(
        "coarse word sizes: min {} median {} max {}",
        sizes.iter().min().unwrap_or(&0),
        {
            let mut s = sizes.clone();
            s.sort();
            s[s.len() / 2]
        },
        sizes.iter().max().unwrap_or(&0)
    );
    eprintln!("wrote {}", out.display());
}
