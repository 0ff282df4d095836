//! The file as bytes: which files a walk finds ([`discover`]), reading one
//! within its size cap with its SHA-256 and sniffed format ([`read`]), its
//! container structure read once for every later stage ([`layout`]: a
//! JPEG's marker segments, a PNG's and a WebP's chunks, a HEIF's top-level
//! boxes), and the structure of the containers that hold
//! several pictures: a camera RAW's embedded JPEG previews ([`raw`]) and a
//! HEIF file's items ([`heif`]).
//!
//! It decodes no pixels and reads no EXIF: [`crate::decode`] and
//! [`crate::metadata`] come after it and take what it read.

pub(crate) mod bmff;
pub mod discover;
pub mod heif;
pub mod layout;
pub mod raw;
pub mod read;
