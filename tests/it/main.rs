//! Integration tests: one binary, topic modules, shared helpers in `common`.

mod cli;
mod common;
mod durability;
mod interrupt;
mod samples;
