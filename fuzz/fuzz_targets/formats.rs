//! The HEIF item structure (and its decoder with `--features heif`), RAW
//! previews and animation frames, fed directly: `analyze` reaches them only
//! for inputs that sniff as that format.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::formats(data);
});
