//! Integration tests: one binary, topic modules, shared helpers in `common`.

mod batch;
mod cli;
mod common;
mod config;
mod durability;
mod exposures;
mod front_door;
mod hashlist;
mod hostile_tree;
mod html;
mod index_cache;
mod interrupt;
mod openapi;
#[cfg(feature = "postgres")]
mod postgres;
mod samples;
#[cfg(feature = "schema")]
mod schema;
mod serve;
pub mod serve_edges;
mod spreadsheet;
mod startup;
mod terminal;
mod watch;
