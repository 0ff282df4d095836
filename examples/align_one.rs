//! Align one incoming picture with one archived picture and print what the
//! aligner found: for looking into a single miss or false match.
//!
//! Run: `cargo run --release --features examples --example align_one -- QUERY ARCHIVED`
use retrace::internals::decode::{shrink, WORKING_SIDE};
use retrace::internals::matching::align::{align, AlignParams, Thumb};
// The same thumbnails as the pipeline makes, so what this prints is what matching saw.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [q, a] = &args[..] else {
        eprintln!("usage: align_one QUERY ARCHIVED");
        std::process::exit(2);
    };
    let load = |p: &str| shrink(&image::open(p).expect("readable image"), WORKING_SIDE);
    let (qi, ai) = (load(q), load(a));
    let qt = Thumb::from_image_with_side(&qi, retrace::internals::pipeline::QUERY_THUMB_SIDE);
    let at = Thumb::from_bytes(&Thumb::from_image(&ai).to_bytes()).expect("thumb");
    let t = std::time::Instant::now();
    let got = align(&qt, &at, &AlignParams::default());
    println!(
        "{:?} in {:?}",
        got.map(|mut a| {
            a.features.clear();
            a
        }),
        t.elapsed()
    );
}
