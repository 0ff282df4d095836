//! Integration tests: one binary, topic modules, shared helpers in `common`.

mod cli;
mod common;
mod html;
mod durability;
mod hostile_tree;
mod interrupt;
mod samples;
mod serve;
mod watch;
