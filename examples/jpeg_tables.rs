//! Print retrace's reading of each JPEG's quantization tables (family, closest
//! IJG quality, ExifTool-compatible digest) for the files or folders given.
//!
//! ```sh
//! cargo run --example jpeg_tables -- ../shared/ref/photos samples
//! ```

use retrace::container::read_container;
use retrace::limits::Limits;
use retrace::read::{sniff, Format};

fn walk(p: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    if p.is_dir() {
        let mut v: Vec<_> = std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        v.sort();
        for c in v {
            walk(&c, out);
        }
    } else {
        out.push(p.to_path_buf());
    }
}

fn main() {
    let mut files = Vec::new();
    for a in std::env::args().skip(1) {
        walk(std::path::Path::new(&a), &mut files);
    }
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
