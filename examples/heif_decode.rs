//! Time the HEIF decoder (libheif through libheif-rs, `--features heif`) on
//! the files given: the figures behind docs/formats.md's choice of decoder.
//!
//! ```sh
//! cargo run --release --features heif,examples --example heif_decode -- ../shared/ref/exif/exif-samples/heic/*.HEIC
//! ```

use std::time::Instant;

fn main() {
    let limits = retrace::internals::limits::Limits::default();
    for path in std::env::args().skip(1) {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        // The best of three: the first run also pays for libheif's set-up.
        let mut best = f64::MAX;
        let mut last = None;
        for _ in 0..3 {
            let t = Instant::now();
            let d = retrace::internals::decode::decode_heif(&bytes, None, None, &limits);
            best = best.min(t.elapsed().as_secs_f64() * 1000.0);
            last = Some(d);
        }
        match last.unwrap() {
            Ok(d) => println!(
                "{path}: {best:.0} ms, coded {}x{}, working copy {}x{}",
                d.width,
                d.height,
                d.working.width(),
                d.working.height()
            ),
            Err(e) => println!("{path}: {e}"),
        }
    }
}
