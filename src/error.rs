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
    /// A decoder refused the bytes of a format retrace reads; its own error
    /// is the source.
    #[error("unsupported or unrecognised format: {what}")]
    Decoder {
        /// What was being decoded ("HEIF decoding", "scaled JPEG").
        what: String,
        /// The decoder's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The image decoder rejected the file.
    #[error("decoding image")]
    Decode(#[source] image::ImageError),
    /// A decoder panicked; contained at the file boundary.
    #[error("decoder panicked: {0}")]
    DecoderPanic(String),
    /// The archive failed in retrace's own checks (schema version, a lock
    /// poisoned by a panic, a missing archive).
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
    /// The archive's database refused an operation; [`DatabaseErrorKind`]
    /// tells a database another process holds from a damaged one.
    ///
    /// The message is the driver's, as it has always been printed; the driver's
    /// error itself is not kept as a `source`, which would print it twice in
    /// an error chain.
    #[error("archive: {message}")]
    Database {
        /// What kind of failure, as far as the driver's code tells.
        kind: DatabaseErrorKind,
        /// The driver's message.
        message: String,
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

/// What kind of database failure an [`Error::Database`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseErrorKind {
    /// Another process holds the database (SQLite busy or locked after the
    /// wait, a PostgreSQL lock timeout, serialization failure or deadlock):
    /// trying again later can succeed.
    Busy,
    /// The file or the data is damaged, or the file is not a database.
    Corrupt,
    /// The database cannot be written (read-only file or server, full disk).
    ReadOnly,
    /// The database could not be reached or opened.
    Unavailable,
    /// Anything else.
    Other,
}

impl Error {
    /// The kind of a database failure; `None` for any other error.
    pub fn database_kind(&self) -> Option<DatabaseErrorKind> {
        match self {
            Error::Database { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// An error and its causes, outermost first, joined by ": " (the way
/// `anyhow` prints `{:#}`): how reports and warnings write an error whose
/// `Display` leaves its cause to [`std::error::Error::source`].
///
/// A decoder's error ([`Error::Decoder`]) is written as the decoder writes
/// it, without its own causes: some decoders (jpeg-decoder's I/O errors)
/// print their cause and return it as `source` too, and reports always had
/// the decoder's text alone.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut link = e;
    while let Some(cause) = link.source() {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        if matches!(link.downcast_ref::<Error>(), Some(Error::Decoder { .. })) {
            break;
        }
        link = cause;
    }
    text
}

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
