//! Per-file analysis, bytes → report: sniffing, metadata (EXIF, XMP, IPTC,
//! ICC, C2PA), decoding, hashing, the EXIF thumbnail and its comparison, and
//! assessment. Any panic is a finding, even one the pipeline would contain:
//! libfuzzer-sys's panic hook aborts before `catch_unwind` sees it.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use retrace::pipeline::{Config, Engine};
use retrace::read::Blob;

#[path = "common.rs"]
mod common;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let config = Config {
            limits: common::limits(),
            ..Config::default()
        };
        Engine::new(config, None).expect("engine without archive")
    })
}

fuzz_target!(|data: &[u8]| {
    let e = engine();
    let blob = Blob::from_bytes(data.to_vec());
    let mut ex = e.examine_blob("fuzz".to_string(), &blob);
    e.analyze(&mut ex);
    // The report must always serialise: it is the contract with every consumer.
    serde_json_check(&ex.report);
});

fn serde_json_check(r: &retrace::report::Report) {
    let mut out = Vec::new();
    retrace::report::write_json(&mut out, r).expect("report serialises");
}
