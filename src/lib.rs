//! retrace: offline provenance for circulating pictures.
//!
//! The library does all the work; the `retrace` binary (`src/bin/retrace/`)
//! only parses flags, calls the [`Engine`], renders and picks an exit code.
//!
//! # Embedding
//!
//! An [`Engine`] holds the [`Config`] (every cap in [`Limits`]) and, when
//! earlier copies are to be found, an [`Archive`]. Each picture gives a
//! [`Report`] (the `retrace.report/1` model); a file that cannot be read or
//! decoded gives a report with its errors, never a panic or an abort.
//!
//! ```
//! use std::path::Path;
//! use retrace::{Archive, Config, Engine, FirstSeenFrom, Sighting};
//!
//! # fn main() -> Result<(), retrace::Error> {
//! let engine = Engine::new(Config::default(), Some(Archive::in_memory()?))?;
//!
//! // Record an archived picture...
//! let original = engine.process_path(Path::new("samples/archive/Dune.jpg"));
//! let entry = engine.archive_entry(&original).expect("decoded and hashed");
//! let seen = Sighting {
//!     location: "samples/archive/Dune.jpg".into(),
//!     source: "photo desk".into(),
//!     url: None,
//!     first_seen: "2019-06-01T12:00:00Z".into(),
//!     first_seen_from: FirstSeenFrom::Given,
//! };
//! engine.record(&[(entry, seen)])?;
//!
//! // ...then a crop of it that circulates is traced back to it.
//! let copy = engine.process_path(Path::new("samples/incoming/dune_crop_centre.jpg"));
//! let earliest = copy.report.earliest_copy.as_ref().expect("an earlier copy");
//! assert_eq!(earliest.path, "samples/archive/Dune.jpg");
//! assert_eq!(earliest.source, "photo desk");
//! println!("{}", serde_json::to_string_pretty(&copy.report).unwrap());
//! # Ok(())
//! # }
//! ```
//!
//! Many pictures at once go through a [`Scan`]: a list of files, or folders
//! walked while the first pictures are processed, on a pool of threads, each
//! report handed back as soon as it is done:
//!
//! ```
//! use std::path::PathBuf;
//! use retrace::{Config, Engine, Scan};
//!
//! # fn main() -> Result<(), retrace::Error> {
//! let engine = Engine::new(Config::default(), None)?;
//! let mut reports = Vec::new();
//! let problems = Scan::new(&engine)
//!     .threads(2)
//!     .walk(&[PathBuf::from("samples/incoming")], |_, _, examined| {
//!         reports.push(examined.report)
//!     })?;
//! assert!(problems.is_empty());
//! // Completion order; sorted for a stable one.
//! reports.sort_by(|a, b| a.path.cmp(&b.path));
//! assert_eq!(reports.len(), 17);
//! assert!(reports.iter().all(|r| r.errors.is_empty()));
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! Data
//! flows through the stages in this order, one folder each, and a stage only
//! uses the types of earlier ones:
//!
//! 1. `input`: walk the folders (`discover`), read a file within its caps
//!    with its SHA-256 and format (`read`), and the structure of containers
//!    holding several pictures (`raw` previews, `heif` items).
//! 2. `decode`: pixels under [`Limits`] (`jpeg_dc` for the DCT-domain
//!    1/8 decode, `resample` for the working copy); no metadata.
//! 3. `metadata`: EXIF, container forensics (`container`), Content
//!    Credentials (`c2pa`), MPF entries (`mpf`), where the embedded
//!    thumbnails lie.
//! 4. `hash`: perceptual hashes of the picture and its views, and the
//!    embedded thumbnail or preview against the main picture by them
//!    (`thumbnail`).
//! 5. `features`: local features (ORB keypoints, visual words).
//! 6. `archive`: the stored pictures and sightings (SQLite, PostgreSQL);
//!    the only SQL; hash lists shared without the pictures (`hashlist`).
//! 7. `index`: in-memory search over the archive's hashes and words, and its
//!    snapshot.
//! 8. `matching`: candidates from the index, verified (`align`, local
//!    features) and decided.
//! 9. `assess`: policy that turns the evidence into findings.
//! 10. `report`: the `retrace.report/1` model and its JSON, text, CSV and
//!     HTML renderings.
//! 11. `pipeline`: the [`Engine`] that runs the stages for one
//!     file, the [`Scan`] that runs it over many (`scan`), a batch's summary
//!     (`batch`, with near-duplicate groups in `cluster`); the only user of
//!     threads.
//!
//! `error`, `limits`, `evidence` and `geometry` (the eight turns and mirrors
//! of a picture, a rectangle in fractions of one) are the shared vocabulary
//! of every stage. Modules are declared alphabetically below (rustfmt sorts them); the
//! order above is the one that matters.
//!
//! The stage modules are private: the embedder's API is what the crate root
//! re-exports, and only it is meant to stay stable. The benches, examples,
//! fuzz targets and tests that call a stage on its own reach it through the
//! hidden `internals` module, which mirrors the layout above.
#![deny(missing_docs)]

pub use archive::{Archive, ArchiveInfo, Recorded, Sighting};
pub use assess::Claim;
pub use error::{error_chain, DatabaseErrorKind, Error, Result};
pub use evidence::{
    Chance, ChanceSignal, Confidence, Finding, FindingCode, FirstSeenFrom, Match, Severity, Stage,
    StageError,
};
pub use input::discover::{Candidate, WalkProblem};
pub use limits::Limits;
pub use matching::MatchParams;
pub use pipeline::scan::{Scan, WalkProgress};
pub use pipeline::{Config, Engine, Examined, FirstSeen, IndexLoad, SnapshotError};
pub use report::Report;

mod archive;
mod assess;
mod decode;
mod error;
mod evidence;
mod features;
mod geometry;
mod hash;
mod index;
mod input;
mod limits;
mod matching;
mod metadata;
mod pipeline;
mod report;

/// The stages' own items, for the benches, examples, fuzz targets, the Python
/// binding, the binary and the tests that call a stage on its own. Not part
/// of the API: it follows the source layout and changes with it.
#[doc(hidden)]
pub mod internals {
    pub mod archive {
        pub use crate::archive::*;
    }
    pub mod assess {
        pub use crate::assess::*;
    }
    pub mod decode {
        pub use crate::decode::*;
    }
    pub mod error {
        pub use crate::error::*;
    }
    pub mod evidence {
        pub use crate::evidence::*;
    }
    pub mod features {
        pub use crate::features::*;
    }
    pub mod geometry {
        pub use crate::geometry::*;
    }
    pub mod hash {
        pub use crate::hash::*;
    }
    pub mod index {
        pub use crate::index::*;
    }
    pub mod input {
        pub use crate::input::*;
    }
    pub mod limits {
        pub use crate::limits::*;
    }
    pub mod matching {
        pub use crate::matching::*;
    }
    pub mod metadata {
        pub use crate::metadata::*;
    }
    pub mod pipeline {
        pub use crate::pipeline::*;
    }
    pub mod report {
        pub use crate::report::*;
    }
}
