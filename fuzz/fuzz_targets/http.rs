//! The HTTP request path of `retrace serve`: query strings, headers, request
//! bodies (raw, chunked, multipart), pipelined requests, through hyper, the
//! router and the handlers, as a client's raw bytes on one connection. See
//! `http_common.rs` for what each answer is checked against.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "http_common.rs"]
mod http_common;

fuzz_target!(|data: &[u8]| {
    http_common::serve_bytes(data);
});
