//! The ICC profile's description ('desc' tag, in its v2 `desc` or v4
//! `mluc` form).

use super::{be32, cap, text_of};

pub(super) fn icc_description(icc: &[u8]) -> Option<String> {
    let n = be32(icc, 128)?.min(1000);
    for k in 0..n {
        let e = 132 + 12 * k;
        if icc.get(e..e + 4)? != b"desc" {
            continue;
        }
        let off = be32(icc, e + 4)?;
        let size = be32(icc, e + 8)?;
        let tag = icc.get(off..off.checked_add(size)?)?;
        return match tag.get(0..4)? {
            b"desc" => {
                let len = be32(tag, 8)?;
                let s = tag.get(12..12usize.checked_add(len)?)?;
                Some(text_of(s))
            }
            b"mluc" => {
                let count = be32(tag, 8)?;
                if count == 0 {
                    return None;
                }
                let len = be32(tag, 20)?;
                let at = be32(tag, 24)?;
                let s = tag.get(at..at.checked_add(len)?)?;
                let units: Vec<u16> = s
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                Some(cap(String::from_utf16_lossy(&units)
                    .trim_end_matches('\0')
                    .trim()))
            }
            _ => None,
        };
    }
    None
}
