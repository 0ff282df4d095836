//! Per-file analysis, bytes → report: sniffing, metadata (EXIF, XMP, IPTC,
//! ICC, C2PA), decoding, hashing, the EXIF thumbnail and its comparison, and
//! assessment. Any panic is a finding, even one the pipeline would contain:
//! libfuzzer-sys's panic hook aborts before `catch_unwind` sees it.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::analyze(data);
});
