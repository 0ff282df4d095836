//! Bounded reading, content SHA-256 and magic-byte sniffing. Never decodes pixels:
//! everything later works from the one buffer read here, so a file is opened once.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::limits::Limits;

/// A container format recognised from the file's first bytes (never from its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Format {
    /// JPEG / JFIF / EXIF.
    Jpeg,
    /// PNG.
    Png,
    /// GIF.
    Gif,
    /// WebP (RIFF).
    Webp,
    /// TIFF (and TIFF-based raw formats).
    Tiff,
    /// Windows bitmap.
    Bmp,
    /// HEIF / HEIC / AVIF (ISO-BMFF); pixels with the `heif` feature.
    Heif,
    /// A camera RAW file in a container of its own (Olympus ORF, Panasonic
    /// RW2, Fujifilm RAF, Canon CR3); TIFF-based RAW files (CR2, NEF, ARW,
    /// DNG, …) are [`Format::Tiff`]. Hashed through their JPEG preview.
    Raw,
    /// Anything else.
    Unknown,
}

impl Format {
    /// Lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Gif => "gif",
            Format::Webp => "webp",
            Format::Tiff => "tiff",
            Format::Bmp => "bmp",
            Format::Heif => "heif",
            Format::Raw => "raw",
            Format::Unknown => "unknown",
        }
    }

    /// The `image` crate's format, when retrace can decode the pixels.
    pub fn image_format(self) -> Option<image::ImageFormat> {
        Some(match self {
            Format::Jpeg => image::ImageFormat::Jpeg,
            Format::Png => image::ImageFormat::Png,
            Format::Gif => image::ImageFormat::Gif,
            Format::Webp => image::ImageFormat::WebP,
            Format::Tiff => image::ImageFormat::Tiff,
            Format::Bmp => image::ImageFormat::Bmp,
            Format::Heif | Format::Raw | Format::Unknown => return None,
        })
    }
}

/// Recognise the container from magic bytes.
pub fn sniff(bytes: &[u8]) -> Format {
    let starts = |m: &[u8]| bytes.starts_with(m);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        Format::Jpeg
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Format::Png
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Format::Gif
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Format::Webp
    } else if crate::input::raw::sniff(bytes).is_some() {
        Format::Raw
    } else if starts(b"II*\0") || starts(b"MM\0*") || starts(b"II+\0") || starts(b"MM\0+") {
        Format::Tiff
    } else if starts(b"BM") && bytes.len() >= 26 {
        Format::Bmp
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && is_heif_brand(&bytes[8..12]) {
        Format::Heif
    } else {
        Format::Unknown
    }
}

fn is_heif_brand(brand: &[u8]) -> bool {
    matches!(
        brand,
        b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1" | b"avif"
    )
}

/// The bytes of one file, with what can be known without decoding them.
#[derive(Debug, Clone)]
pub struct Blob {
    /// The whole file.
    pub bytes: Vec<u8>,
    /// Lower-case hex SHA-256 of `bytes`.
    pub sha256: String,
    /// Sniffed container format.
    pub format: Format,
}

/// Largest buffer a thread keeps from one file for the next (16 MiB: every
/// camera JPEG). Reading into memory the thread has already touched spares
/// the kernel's zeroing and a page fault per 4 KiB of every file; larger
/// files get a buffer of their own, so what a worker holds stays small.
const KEEP_BUFFER_BYTES: usize = 16 << 20;

thread_local! {
    /// The buffer of the last file this thread read, for the next one.
    static SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A buffer for a file of `len` bytes: the thread's spare one when there is.
fn buffer_for(len: usize) -> Vec<u8> {
    // A spare too small stays for the next file; this one gets a fresh buffer.
    let spare = SPARE.try_with(|s| {
        let v = s.take();
        if v.capacity() >= len {
            Some(v)
        } else {
            s.set(v);
            None
        }
    });
    let mut v = spare.ok().flatten().unwrap_or_default();
    v.clear();
    v
}

impl Drop for Blob {
    fn drop(&mut self) {
        let bytes = std::mem::take(&mut self.bytes);
        if bytes.capacity() <= KEEP_BUFFER_BYTES {
            // Keep the larger of the two, so a run of small files does not
            // trade a camera-size buffer for a small one. During a thread's
            // teardown the slot is gone and the buffer is simply freed.
            let _ = SPARE.try_with(|s| {
                let spare = s.take();
                s.set(if spare.capacity() >= bytes.capacity() {
                    spare
                } else {
                    bytes
                });
            });
        }
    }
}

impl Blob {
    /// Wrap bytes already in memory (an upload, a test buffer).
    pub fn from_bytes(bytes: Vec<u8>) -> Blob {
        let sha256 = sha256_hex(&bytes);
        let format = sniff(&bytes);
        Blob {
            bytes,
            sha256,
            format,
        }
    }
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of any bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Read a whole file, refusing anything larger than `limits.max_file_bytes`.
///
/// The size is checked twice: from the metadata before allocating, and while
/// reading through `take`, because a file can grow between the two.
pub fn read_file(path: &Path, limits: &Limits) -> Result<Blob> {
    let err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(err)?;
    let len = file.metadata().map_err(err)?.len();
    limits.check_file_size(len)?;
    let mut bytes = buffer_for(usize::try_from(len).unwrap_or(usize::MAX));
    // `len` is bounded by the limit above, so reserving it is safe.
    bytes
        .try_reserve_exact(len as usize)
        .map_err(|_| Error::Limit {
            what: "file size in bytes (allocation)",
            actual: len,
            limit: limits.max_file_bytes,
        })?;
    file.take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(err)?;
    limits.check_file_size(bytes.len() as u64)?;
    Ok(Blob::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread reads its next file into the buffer of its last one, and the
    /// bytes are exactly the new file's: a smaller file after a larger one
    /// must not carry the larger one's tail, and a file too large to keep is
    /// not kept.
    #[test]
    fn a_thread_reuses_its_read_buffer_and_keeps_only_what_fits() {
        // On a thread of its own, so no other test's blob fills the slot.
        std::thread::spawn(|| {
            let dir = tempfile::tempdir().unwrap();
            let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
            let small: Vec<u8> = (0..1_000u32).map(|i| (i % 13) as u8 + 100).collect();
            let huge = vec![7u8; KEEP_BUFFER_BYTES + 1];
            for (name, b) in [("big", &big), ("small", &small), ("huge", &huge)] {
                std::fs::write(dir.path().join(name), b).unwrap();
            }
            let limits = Limits::default();
            let read = |name: &str| read_file(&dir.path().join(name), &limits).unwrap();

            let first = read("big");
            assert_eq!(first.bytes, big);
            let at = first.bytes.as_ptr();
            drop(first);
            let second = read("small");
            assert_eq!(second.bytes, small, "the bytes are the small file's alone");
            assert_eq!(second.sha256, sha256_hex(&small));
            assert_eq!(
                second.bytes.as_ptr(),
                at,
                "the big file's buffer was reused"
            );
            drop(second);
            // The larger buffer stays the spare after a smaller file.
            let third = read("big");
            assert_eq!(third.bytes.as_ptr(), at);
            assert_eq!(third.bytes, big);
            drop(third);
            // Too large to keep: freed, and the spare is still the big one's.
            let h = read("huge");
            assert_eq!(h.bytes.len(), huge.len());
            drop(h);
            assert_eq!(
                SPARE.with(|s| {
                    let v = s.take();
                    let p = v.as_ptr();
                    s.set(v);
                    p
                }),
                at
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn sniffs_by_magic_not_name() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Format::Jpeg);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Format::Png);
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Format::Webp);
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), Format::Tiff);
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Format::Heif);
        assert_eq!(sniff(b"hello, this is text"), Format::Unknown);
        assert_eq!(sniff(b""), Format::Unknown);
        assert_eq!(sniff(b"\xFF\xD8"), Format::Unknown);
    }

    #[test]
    fn sha256_matches_known_vector() {
        // FIPS 180-2 test vector for "abc".
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn refuses_files_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.bin");
        std::fs::write(&p, vec![0u8; 1000]).unwrap();
        let limits = Limits {
            max_file_bytes: 999,
            ..Limits::default()
        };
        assert!(matches!(read_file(&p, &limits), Err(Error::Limit { .. })));
        let limits = Limits {
            max_file_bytes: 1000,
            ..Limits::default()
        };
        assert_eq!(read_file(&p, &limits).unwrap().bytes.len(), 1000);
    }
}
