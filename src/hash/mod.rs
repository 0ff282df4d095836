//! Perceptual hashes computed from decoded pixels; each algorithm lives in its own submodule.

pub mod pdq;
