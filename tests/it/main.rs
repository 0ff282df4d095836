//! Integration tests: one binary, topic modules, shared helpers in `common`.

mod cli;
mod common;
mod durability;
mod hostile_tree;
mod html;
mod interrupt;
#[cfg(feature = "postgres")]
mod postgres;
mod samples;
mod serve;
mod watch;
