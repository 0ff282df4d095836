//! How much DCT-scaled JPEG decoding saves, and how far it moves the hashes.
//!
//! For every JPEG under the given folders (default: the real photos in
//! `../shared/ref/photos`, `../shared/ref/exif`, `../shared/ref/pdq/images` and
//! `samples/`), decode it twice — at full size with the `image` crate (the
//! reference) and through retrace's scaled path — time both, hash both working
//! copies and print the PDQ / pHash / dHash distances between them.
//!
//! ```sh
//! cargo run --release --features examples --example scaled_decode [DIR...]
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use retrace::internals::decode::{self, DecodePath};
use retrace::internals::hash;
use retrace::internals::input::read::{self, Format};
use retrace::Limits;

fn jpegs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            jpegs(&p, out);
        } else if std::fs::read(&p).is_ok_and(|b| read::sniff(&b) == Format::Jpeg) {
            out.push(p);
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        dirs = vec![
            root.join("../shared/ref/photos"),
            root.join("../shared/ref/exif"),
            root.join("../shared/ref/pdq/images"),
            root.join("samples"),
        ];
    }
    let mut files = Vec::new();
    for d in &dirs {
        jpegs(d, &mut files);
    }
    let limits = Limits::default();
    let (mut t_full, mut t_scaled, mut n_scaled) = (0.0f64, 0.0f64, 0usize);
    let mut worst = [0u32; 3];
    let mut sums = [0u64; 3];
    println!("file\tsize\tpath\tfull_ms\tscaled_ms\tpdq\tphash\tdhash");
    for p in &files {
        let Ok(blob) = read::read_file(p, &limits) else {
            continue;
        };
        let t = Instant::now();
        let Ok(full) = decode::decode_full(&blob, &limits) else {
            continue;
        };
        let full_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let Ok(fast) = decode::decode(&blob, &limits) else {
            println!(
                "{}\tscaled path failed where the full one did not",
                p.display()
            );
            continue;
        };
        let fast_ms = t.elapsed().as_secs_f64() * 1e3;
        let DecodePath::ScaledJpeg { denominator } = fast.path else {
            continue;
        };
        let (a, b) = (hash::compute(&full.working), hash::compute(&fast.working));
        let pdq = match (a.pdq, b.pdq) {
            (Some(x), Some(y)) => x.distance(&y).unwrap_or(0),
            _ => 0,
        };
        let d = [
            pdq,
            a.phash.distance(&b.phash).unwrap_or(0),
            a.dhash.distance(&b.dhash).unwrap_or(0),
        ];
        for i in 0..3 {
            worst[i] = worst[i].max(d[i]);
            sums[i] += u64::from(d[i]);
        }
        t_full += full_ms;
        t_scaled += fast_ms;
        n_scaled += 1;
        println!(
            "{}\t{}x{}\t1/{}\t{:.1}\t{:.1}\t{}\t{}\t{}",
            p.strip_prefix(root).unwrap_or(p).display(),
            full.width,
            full.height,
            denominator,
            full_ms,
            fast_ms,
            d[0],
            d[1],
            d[2]
        );
    }
    if n_scaled == 0 {
        println!("no JPEG took the scaled path");
        return;
    }
    let n = n_scaled as f64;
    println!(
        "\n{} of {} JPEGs decoded scaled: full decode+shrink {:.1} ms mean, scaled {:.1} ms mean ({:.1}x)",
        n_scaled,
        files.len(),
        t_full / n,
        t_scaled / n,
        t_full / t_scaled
    );
    println!(
        "distance full vs scaled: PDQ mean {:.1} max {}; pHash mean {:.2} max {}; dHash mean {:.2} max {}",
        sums[0] as f64 / n,
        worst[0],
        sums[1] as f64 / n,
        worst[1],
        sums[2] as f64 / n,
        worst[2]
    );
}
