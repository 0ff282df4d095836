//! Integration tests: one binary, topic modules, shared helpers in `common`.

mod batch;
mod cli;
mod common;
mod durability;
mod formats;
mod hostile_tree;
mod html;
mod index_cache;
mod interrupt;
#[cfg(feature = "postgres")]
mod postgres;
mod samples;
#[cfg(feature = "schema")]
mod schema;
mod serve;
mod startup;
mod watch;
