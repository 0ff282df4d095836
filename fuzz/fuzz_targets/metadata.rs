//! Metadata parsing alone (EXIF via kamadak-exif, the container walkers for
//! XMP, IPTC, ICC, C2PA): no pixel decoding, so many more inputs per second
//! reach the parsers that read offsets and lengths from the file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use retrace::metadata::read_metadata;
use retrace::read::sniff;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let limits = common::limits();
    // The format as the pipeline would sniff it, so inputs mutate across formats.
    let _ = read_metadata(data, sniff(data), &limits);
});
