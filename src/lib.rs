//! retrace: offline provenance for circulating pictures.
//!
//! The library does all the work; the `retrace` binary (`src/bin/retrace/`)
//! only parses flags, calls [`pipeline`], renders and picks an exit code. Data
//! flows through the stages in this order, one folder each, and a stage only
//! uses the types of earlier ones:
//!
//! 1. [`input`]: walk the folders (`discover`), read a file within its caps
//!    with its SHA-256 and format (`read`), and the structure of containers
//!    holding several pictures (`raw` previews, `heif` items).
//! 2. [`decode`]: pixels under [`limits::Limits`] (`jpeg_dc` for the DCT-domain
//!    1/8 decode, `resample` for the working copy); no metadata.
//! 3. [`metadata`]: EXIF, container forensics (`container`), Content
//!    Credentials (`c2pa`), MPF entries (`mpf`), embedded thumbnails
//!    (`thumbnail`).
//! 4. [`hash`]: perceptual hashes of the picture and its views.
//! 5. [`features`]: local features (ORB keypoints, visual words).
//! 6. [`archive`]: the stored pictures and sightings (SQLite, PostgreSQL);
//!    the only SQL; hash lists shared without the pictures (`hashlist`).
//! 7. [`index`]: in-memory search over the archive's hashes and words, and its
//!    snapshot.
//! 8. [`matching`]: candidates from the index, verified (`align`, local
//!    features) and decided.
//! 9. [`assess`]: policy that turns the evidence into findings.
//! 10. [`report`]: the `retrace.report/1` model and its JSON, text, CSV and
//!     HTML renderings.
//! 11. [`pipeline`]: the [`pipeline::Engine`] that runs the stages for one
//!     file, a batch (`batch`, with near-duplicate groups in `cluster`); the
//!     only user of threads.
//!
//! [`error`], [`limits`] and [`evidence`] are the shared vocabulary of every
//! stage. Modules are declared alphabetically below (rustfmt sorts them); the
//! order above is the one that matters.
#![deny(missing_docs)]

pub mod archive;
pub mod assess;
pub mod decode;
pub mod error;
pub mod evidence;
pub mod features;
pub mod hash;
pub mod index;
pub mod input;
pub mod limits;
pub mod matching;
pub mod metadata;
pub mod pipeline;
pub mod report;

// The paths of the modules before they were grouped into stage folders, kept
// for the benches, examples, fuzz targets and tests that name them.
#[doc(hidden)]
pub use decode::jpeg_dc;
#[doc(hidden)]
pub use input::{discover, heif, raw, read};
#[doc(hidden)]
pub use matching::align;
#[doc(hidden)]
pub use metadata::{c2pa, container, mpf, thumbnail};
#[doc(hidden)]
pub use pipeline::{batch, cluster};
