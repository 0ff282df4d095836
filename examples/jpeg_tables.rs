//! Print retrace's reading of each JPEG's quantization tables (family, closest
//! IJG quality, ExifTool-compatible digest) for the files or folders given.
//!
//! ```sh
//! cargo run --features examples --example jpeg_tables -- ../shared/ref/photos samples
//! ```

use std::path::PathBuf;

use retrace::internals::input::discover::{discover, WalkOptions};
use retrace::internals::input::read::{sniff, Format};
use retrace::internals::metadata::container::read_container;
use retrace::Limits;

fn main() {
    let roots: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let (found, _) = discover(&roots, &WalkOptions::default(), &retrace::Limits::default());
    let mut files: Vec<PathBuf> = found.into_iter().map(|c| c.path).collect();
    files.sort();
    let limits = Limits::default();
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        if sniff(&bytes) != Format::Jpeg {
            continue;
        }
        let c = read_container(&bytes, Format::Jpeg, &limits);
        if let Some(j) = c.jpeg {
            println!(
                "{}\t{}\t{}\t{}\t{}",
                f.display(),
                j.encoder_family.unwrap_or_default(),
                j.quality.map(|q| q.to_string()).unwrap_or_default(),
                j.dqt_digest.unwrap_or_default(),
                j.encoder.unwrap_or_default()
            );
        }
    }
}
