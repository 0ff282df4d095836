//! The DC-only 1/8 JPEG decoder alone: hand-written bit reading and header
//! parsing on untrusted bytes. Much faster per input than `analyze`, which
//! reaches it too.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::jpeg_dc(data);
});
