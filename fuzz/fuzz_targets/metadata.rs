//! Metadata parsing alone (EXIF via kamadak-exif, the container walkers for
//! XMP, IPTC, ICC, C2PA): no pixel decoding, so many more inputs per second
//! reach the parsers that read offsets and lengths from the file.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::metadata(data);
});
