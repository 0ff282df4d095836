//! retrace: offline provenance for circulating pictures.
//!
//! The library does all the work; the `retrace` binary only parses flags, calls
//! [`pipeline`], renders and picks an exit code. Data flows through the stages
//! in this order, and a stage only uses the types of earlier ones:
//! discover → read → decode → metadata (with container) → hash → archive/index → matching (with
//! align) → assess → report. Modules are listed alphabetically below (rustfmt
//! sorts them); the order above is the one that matters.
#![deny(missing_docs)]

pub mod align;
pub mod archive;
pub mod assess;
pub mod batch;
pub mod c2pa;
pub mod cluster;
pub mod container;
pub mod decode;
pub mod discover;
pub mod error;
pub mod evidence;
pub mod features;
pub mod hash;
pub mod heif;
pub mod index;
pub mod jpeg_dc;
pub mod limits;
pub mod matching;
pub mod metadata;
pub mod mpf;
pub mod pipeline;
pub mod raw;
pub mod read;
pub mod report;
mod resample;
pub mod thumbnail;
