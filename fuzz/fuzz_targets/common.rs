//! Limits for fuzzing: the defaults allow 150-megapixel pictures and 1 GiB
//! decoder allocations, which libFuzzer would report as out-of-memory or slow
//! inputs rather than bugs. The caps are smaller, the code paths the same.

use retrace::limits::Limits;

pub fn limits() -> Limits {
    Limits {
        max_pixels: 4_000_000,
        max_width: 8_000,
        max_height: 8_000,
        max_decoder_alloc: 256 * 1024 * 1024,
        max_metadata_bytes: 4 * 1024 * 1024,
        ..Limits::default()
    }
}
