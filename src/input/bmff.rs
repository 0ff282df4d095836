//! ISO BMFF box headers (ISO/IEC 14496-12), the one walker of boxes that the
//! HEIF item reader ([`super::heif`]), the RAW preview finder ([`super::raw`],
//! CR3) and the C2PA reader ([`crate::metadata::c2pa`]) share. It reads a
//! header and checks its size against the parent; it owns no box's content.

pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

pub(crate) fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// One ISO BMFF box header: where it starts, how long it is (header
/// included), where its content starts.
pub(crate) struct BmffHeader {
    pub(crate) kind: [u8; 4],
    pub(crate) size: usize,
    pub(crate) content: usize,
}

/// The box header at `at` inside `b[..end]`. A size of 0 runs to `end`, 1
/// takes the 64-bit largesize; `mdat` past `end` is cut to it (c2pa-rs
/// hashes a truncated media box the same way), any other box past it is an
/// error.
pub(crate) fn bmff_header(b: &[u8], at: usize, end: usize) -> Result<Option<BmffHeader>, String> {
    let (Some(size32), Some(kind)) = (be32(b, at), b.get(at + 4..at + 8)) else {
        // Trailing bytes too short for a header: readers stop there.
        return Ok(None);
    };
    let kind: [u8; 4] = kind.try_into().unwrap_or_default();
    let room = end - at;
    let (size, mut content) = match size32 {
        0 => (room, at + 8),
        1 => {
            let Some(large) = be64(b, at + 8) else {
                return Ok(None);
            };
            (usize::try_from(large).unwrap_or(usize::MAX), at + 16)
        }
        n => (n as usize, at + 8),
    };
    if &kind == b"uuid" {
        content += 16;
    }
    let size = if size > room && &kind == b"mdat" {
        room
    } else {
        size
    };
    if size > room {
        return Err(format!(
            "box {} at offset {at} runs past its parent",
            String::from_utf8_lossy(&kind)
        ));
    }
    if at + size < content {
        return Err(format!(
            "box {} at offset {at} is shorter than its header",
            String::from_utf8_lossy(&kind)
        ));
    }
    Ok(Some(BmffHeader {
        kind,
        size,
        content,
    }))
}
