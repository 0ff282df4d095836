//! Tests of the library on its own (no binary), mostly against outside
//! references (ExifTool, c2pa-python, Meta's PDQ vectors, real photographs
//! in `../shared/ref`) and hostile input: one binary, one module per subject
//! (`cargo test --test library hostile::`), so that they are linked once and
//! run side by side. `scan` uses only the crate root, as an embedder does.
//! `tests/memory.rs` stays a binary of its own (it measures its children's
//! peak memory, which a larger parent would distort), and so does
//! `tests/scaled_decode.rs` (CI builds it again with the optional decoders;
//! this binary would be a larger build for that).

mod accuracy_smoke;
mod align_eval;
mod c2pa_fixtures;
mod container_fixtures;
mod container_vs_exiftool;
mod exif_vs_exiftool;
mod hostile;
mod metadata_fixtures;
mod pdq_reference;
mod scan;
mod thumbnail_vs_image;
