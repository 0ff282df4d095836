//! How the index scales: builds a [`MemoryIndex`] over N random PDQ hashes with
//! planted near neighbours and measures build time, memory, and single-thread
//! query latency for the substring tables against the linear scan.
//!
//! Run: `cargo run --release --features examples --example index_scale -- 1000000` (or `-- 10000000`).
//! Optional second and third arguments: table queries (default 1000) and scan
//! queries (default 1000, or 100 from 5 M hashes up, where a scan takes tens of ms).
//!
//! Half the queries have one stored neighbour planted at a distance spread over
//! 0..=31, half are fresh random hashes (the usual case: a picture never seen). It
//! also prints the probe/candidate figures the cost model in `src/index/mih.rs` is
//! set from, and checks that every answer equals the scan's.

use std::hint::black_box;
use std::time::{Duration, Instant};

use retrace::internals::hash::{HashBits, HashKind};
use retrace::internals::index::{Hit, MemoryIndex};

/// splitmix64: reproducible runs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pdq(&mut self) -> HashBits {
        HashBits {
            kind: HashKind::Pdq,
            words: [self.next(), self.next(), self.next(), self.next()],
        }
    }

    /// `h` with `d` distinct bits flipped.
    fn flip(&mut self, h: &HashBits, d: u32) -> HashBits {
        let mut out = *h;
        while out.distance(h) != Some(d) {
            let b = (self.next() % 256) as usize;
            if (out.words[b / 64] ^ h.words[b / 64]) & (1 << (b % 64)) == 0 {
                out.words[b / 64] ^= 1 << (b % 64);
            }
        }
        out
    }
}

/// What a PDQ table search at radius `r` meets, by the layout of src/index/mih.rs
/// (11 substrings of 24/23 bits, a 17-bit bucket each): bucket probes, posting
/// checks and expected candidates, for uniformly random hashes.
struct Plan {
    buckets: f64,
    postings: f64,
    candidates: f64,
}

const BUCKET_BITS: u32 = 17;

fn plan(n: usize, r: u32) -> Plan {
    let choose = |n: u32, k: u32| -> f64 {
        (0..k).fold(1.0, |acc, i| {
            acc * f64::from(n.saturating_sub(i)) / f64::from(i + 1)
        })
    };
    let widths = [24, 24, 24, 23, 23, 23, 23, 23, 23, 23, 23];
    let m = widths.len() as u32;
    let (s, a) = (r / m, r % m);
    let (mut buckets, mut candidates) = (0.0, 0.0);
    for (t, &w) in widths.iter().enumerate() {
        let Some(st) = (if t as u32 <= a {
            Some(s)
        } else {
            s.checked_sub(1)
        }) else {
            continue;
        };
        buckets += (0..=st.min(BUCKET_BITS))
            .map(|j| choose(BUCKET_BITS, j))
            .sum::<f64>();
        candidates +=
            (0..=st.min(w)).map(|d| choose(w, d)).sum::<f64>() * n as f64 / 2f64.powi(w as i32);
    }
    Plan {
        buckets,
        postings: buckets * n as f64 / 2f64.powi(BUCKET_BITS as i32),
        candidates,
    }
}

/// Peak resident set size in bytes, from the kernel's own count.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

struct Latency(Vec<Duration>);

impl Latency {
    fn pct(&self, p: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        v[((v.len() - 1) as f64 * p).round() as usize]
    }

    fn line(&self, what: &str) -> String {
        format!(
            "{what:<34} n={:<5} p50 {:>10.3?}  p99 {:>10.3?}  mean {:>10.3?}",
            self.0.len(),
            self.pct(0.5),
            self.pct(0.99),
            self.0.iter().sum::<Duration>() / self.0.len() as u32
        )
    }
}

fn timed<T>(queries: &[HashBits], mut f: impl FnMut(&HashBits) -> T) -> (Latency, Vec<T>) {
    let mut times = Vec::with_capacity(queries.len());
    let mut out = Vec::with_capacity(queries.len());
    for q in queries {
        let t = Instant::now();
        let r = black_box(f(black_box(q)));
        times.push(t.elapsed());
        out.push(r);
    }
    (Latency(times), out)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| {
            a.replace('_', "")
                .parse()
                .expect("numbers: N [table queries] [scan queries]")
        })
        .collect();
    let n = args.first().copied().unwrap_or(1_000_000);
    let table_queries = args.get(1).copied().unwrap_or(1000);
    let scan_queries = args
        .get(2)
        .copied()
        .unwrap_or(if n >= 5_000_000 { 100 } else { 1000 });
    let radius = 31;

    let mut rng = Rng(0x5EED);
    let planted_count = table_queries / 2;
    let mut queries: Vec<HashBits> = (0..table_queries).map(|_| rng.pdq()).collect();
    // Planted neighbours go in at evenly spaced positions of the build, so some are
    // in the bulk-built tables and some arrive by incremental insert.
    let spacing = (n / planted_count.max(1)).max(1);
    let mut planted = Vec::with_capacity(planted_count);

    println!("retrace index scale: {n} PDQ hashes, radius {radius}");
    let t = Instant::now();
    let mut index = MemoryIndex::new();
    for id in 0..n {
        let p = id / spacing;
        let h = if id % spacing == 0 && p < planted_count {
            let d = (p * 32 / planted_count.max(1)) as u32;
            let h = rng.flip(&queries[p], d);
            planted.push((p, id as i64, d));
            h
        } else {
            rng.pdq()
        };
        index.insert(id as i64, "full", h);
        // The tables from where a kind may have them (32,768 hashes) on, so
        // that the rest go in one by one, as they would in a long-running
        // process whose lookups built them.
        if id + 1 == 1 << 15 {
            index.build_tables();
        }
    }
    let build = t.elapsed();
    // Interleave planted and fresh queries so neither half runs warm after the other.
    queries = (0..table_queries)
        .map(|i| {
            if i % 2 == 0 {
                queries[i / 2]
            } else {
                queries[planted_count + i / 2]
            }
        })
        .collect();

    let mem = index.memory(HashKind::Pdq);
    let rss = peak_rss();
    println!(
        "build      {:.2?} ({:.0} ns/insert)",
        build,
        build.as_nanos() as f64 / n as f64
    );
    println!(
        "memory     {:.1} bytes/entry from capacities: entries {:.1} + postings {:.1} + list headers {:.1}; total {:.0} MB",
        mem.per_entry(),
        mem.entry_bytes as f64 / n as f64,
        mem.posting_bytes as f64 / n as f64,
        mem.table_bytes as f64 / n as f64,
        mem.total() as f64 / 1e6
    );
    if let Some(rss) = rss {
        println!(
            "peak RSS   {:.0} MB (VmHWM, whole process: {:.1} bytes/entry)",
            rss as f64 / 1e6,
            rss as f64 / n as f64
        );
    }

    let (lat, within) = timed(&queries, |q| index.within(q, radius));
    println!("{}", lat.line("within 31, index (auto)"));
    let planted_found = planted
        .iter()
        .filter(|(p, id, d)| {
            within[2 * p]
                .iter()
                .any(|h: &Hit| h.image_id == *id && h.distance == *d)
        })
        .count();
    println!(
        "           planted neighbours found: {planted_found}/{}",
        planted.len()
    );
    let (lat_p, _) = timed(
        &queries.iter().step_by(2).copied().collect::<Vec<_>>(),
        |q| index.within(q, radius),
    );
    let (lat_r, _) = timed(
        &queries
            .iter()
            .skip(1)
            .step_by(2)
            .copied()
            .collect::<Vec<_>>(),
        |q| index.within(q, radius),
    );
    println!("{}", lat_p.line("  of which with a planted neighbour"));
    println!("{}", lat_r.line("  of which fresh random"));

    let scan_set: Vec<HashBits> = queries.iter().take(scan_queries).copied().collect();
    let (lat_scan, scanned) = timed(&scan_set, |q| index.within_scan(q, radius));
    println!("{}", lat_scan.line("within 31, linear scan"));
    assert!(
        scanned.iter().zip(&within).all(|(a, b)| a == b),
        "index and scan disagree"
    );
    println!(
        "           p50 ratio scan/index: {:.0}x (answers identical on {} queries)",
        lat_scan.pct(0.5).as_secs_f64() / lat.pct(0.5).as_secs_f64(),
        scan_set.len()
    );

    // What the cost model in src/index/mih.rs is set from: per-entry scan time, and
    // per-candidate table time (uniform random data: the expected count is exact).
    let p = plan(n, radius);
    println!(
        "           scan {:.1} ns/entry; tables meet ~{:.0} buckets, ~{:.0} postings, ~{:.0} candidates",
        lat_scan.pct(0.5).as_nanos() as f64 / n as f64,
        p.buckets,
        p.postings,
        p.candidates
    );

    // Other radii and the nearest-neighbour searches, on fewer queries.
    let few: Vec<HashBits> = queries
        .iter()
        .take(scan_queries.min(200))
        .copied()
        .collect();
    for r in [10, 20, 31, 36, 40, 44, 47, 52, 64] {
        let (lat, got) = timed(&few, |q| index.within(q, r));
        let (lat_s, want) = timed(&few[..few.len().min(20)], |q| index.within_scan(q, r));
        assert!(
            want.iter().zip(&got).all(|(a, b)| a == b),
            "radius {r} disagrees"
        );
        let p = plan(n, r);
        println!(
            "{} scan p50 {:>9.3?}; tables ~{:.0} buckets ~{:.0} postings ~{:.0} candidates",
            lat.line(&format!("within {r}, auto")),
            lat_s.pct(0.5),
            p.buckets,
            p.postings,
            p.candidates
        );
    }
    let (lat, got) = timed(&few, |q| index.nearest_within(q, 3, radius));
    println!("{}", lat.line("nearest 3 within 31, auto"));
    let (lat, near) = timed(&few, |q| index.nearest(q, 3));
    println!("{}", lat.line("nearest 3 (any distance), auto"));
    let (lat, want) = timed(&few, |q| index.nearest_scan(q, 3));
    println!("{}", lat.line("nearest 3, linear scan"));
    assert_eq!(near, want, "nearest disagrees with the scan");
    for ((g, w), q) in got.iter().zip(&near).zip(&few) {
        let w: Vec<&Hit> = w.iter().filter(|h| h.distance <= radius).collect();
        assert_eq!(
            g.iter().collect::<Vec<_>>(),
            w,
            "nearest_within disagrees for {}",
            q.to_hex()
        );
    }
    if let Some(rss) = peak_rss() {
        println!("peak RSS at end {:.0} MB", rss as f64 / 1e6);
    }
}
