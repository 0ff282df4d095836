//! Placeholder until the alignment stage lands (same API).
#![allow(missing_docs)]
use image::DynamicImage;
#[derive(Debug, Clone)]
pub struct Thumb {
    pub width: u16,
    pub height: u16,
    pub pixels: Vec<u8>,
}
impl Thumb {
    pub fn from_image(img: &DynamicImage) -> Thumb {
        let g = img.thumbnail(128, 128).to_luma8();
        Thumb {
            width: g.width() as u16,
            height: g.height() as u16,
            pixels: g.into_raw(),
        }
    }
    pub fn from_image_with_side(img: &DynamicImage, _side: u32) -> Thumb {
        Thumb::from_image(img)
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        self.pixels.clone()
    }
    pub fn from_bytes(_b: &[u8]) -> Option<Thumb> {
        None
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dihedral {
    Identity,
    Mirror,
    Rot90,
    Rot180,
    Rot270,
    MirrorRot90,
    MirrorRot180,
    MirrorRot270,
}
impl Dihedral {
    pub fn as_str(self) -> &'static str {
        "identity"
    }
}
#[derive(Debug, Clone, Copy)]
pub struct Region {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}
#[derive(Debug, Clone)]
pub struct Alignment {
    pub transform: Dihedral,
    pub scale: f32,
    pub query_region: Region,
    pub archive_region: Region,
    pub score: f32,
    pub ncc: f32,
    pub confident: bool,
}
#[derive(Debug, Clone, Default)]
pub struct AlignParams {}
pub fn align(_q: &Thumb, _a: &Thumb, _p: &AlignParams) -> Option<Alignment> {
    None
}
