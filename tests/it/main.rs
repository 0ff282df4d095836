//! Integration tests: one binary, topic modules, shared helpers in `common`.

mod cli;
mod common;
mod html;
mod samples;
mod serve;
mod watch;
