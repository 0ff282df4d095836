//! retrace: offline provenance for circulating pictures.
//!
//! The library does all the work; the `retrace` binary only parses flags, calls
//! [`pipeline`], renders and picks an exit code. Data flows through the modules in
//! the order they are declared here, and a stage only uses the types of earlier ones:
//! discover → read → decode → metadata → hash → (archive/index) → matching → assess → report.
#![deny(missing_docs)]

pub mod error;
pub mod limits;
pub mod read;
pub mod align;
