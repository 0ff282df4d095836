//! Placeholder until the metadata stage lands (same API).
#![allow(missing_docs)]
use crate::limits::Limits;
use crate::read::Format;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub make: Option<String>,
    pub model: Option<String>,
    pub software: Option<String>,
    pub datetime_original: Option<String>,
    pub datetime_digitized: Option<String>,
    pub datetime_modified: Option<String>,
    pub gps: Option<Gps>,
    pub orientation: Option<u16>,
    pub exif: Vec<ExifField>,
    pub warnings: Vec<String>,
}
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Gps {
    pub latitude: f64,
    pub longitude: f64,
    pub altitude: Option<f64>,
}
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExifField {
    pub ifd: String,
    pub tag: String,
    pub value: String,
}
pub fn read_metadata(_bytes: &[u8], _format: Format, _limits: &Limits) -> Metadata {
    Metadata::default()
}
