//! The library's error type. No I/O happens here; errors carry their context
//! (path, stage) as fields so that reports can keep them typed.

use std::path::PathBuf;

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening or reading an input file failed.
    #[error("reading {path}")]
    Read {
        /// The file being read.
        path: PathBuf,
        /// The underlying cause.
        #[source]
        source: std::io::Error,
    },
    /// A configured limit was exceeded.
    #[error("limit exceeded: {what} is {actual}, the limit is {limit}")]
    Limit {
        /// Which limit.
        what: &'static str,
        /// The observed value.
        actual: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The bytes are not an image format retrace can decode.
    #[error("unsupported or unrecognised format: {0}")]
    Format(String),
    /// The image decoder rejected the file.
    #[error("decoding image")]
    Decode(#[source] image::ImageError),
    /// A decoder panicked; contained at the file boundary.
    #[error("decoder panicked: {0}")]
    DecoderPanic(String),
    /// The archive database failed.
    #[error("archive: {0}")]
    Archive(String),
    /// A catalogue (`archive add --manifest`) could not be read.
    #[error("reading manifest {path}")]
    CatalogueRead {
        /// The catalogue.
        path: PathBuf,
        /// The underlying cause.
        #[source]
        source: std::io::Error,
    },
    /// A catalogue row is malformed or names a file that is not there.
    #[error("{path}:{line}: {message}")]
    CatalogueRow {
        /// The catalogue.
        path: PathBuf,
        /// The row's line number, from 1.
        line: usize,
        /// What is wrong with the row.
        message: String,
        /// Why the row's file could not be found, when that is the problem.
        #[source]
        source: Option<std::io::Error>,
    },
    /// Invalid user input such as a malformed date.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        message: String,
    },
}

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
