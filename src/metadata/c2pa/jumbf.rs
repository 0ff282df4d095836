//! JUMBF (ISO/IEC 19566-5) boxes: the box tree of a manifest store, and
//! where a JPEG keeps it (APP11 segments).

use super::*;

pub(super) struct Header {
    pub(super) kind: [u8; 4],
    /// Header size: 8, or 16 with an XLBox.
    pub(super) header: usize,
    /// Whole box size, header included.
    pub(super) size: usize,
}

/// The box header at `at`, with its size checked against the bytes.
pub(super) fn header(b: &[u8], at: usize) -> Option<Header> {
    let lbox = be32(b, at)?;
    let kind: [u8; 4] = b.get(at + 4..at + 8)?.try_into().ok()?;
    let remaining = b.len().checked_sub(at)?;
    let (header, size) = match lbox {
        0 => (8, remaining),
        1 => (16, usize::try_from(be64(b, at + 8)?).ok()?),
        n => (8, usize::try_from(n).ok()?),
    };
    (size >= header && size <= remaining).then_some(Header { kind, header, size })
}

/// One box of the tree. Superboxes (`jumb`) have a label and children; other
/// boxes have content.
pub(super) struct JBox<'a> {
    pub(super) kind: [u8; 4],
    pub(super) label: Option<String>,
    /// Everything after the box header: for a superbox, the description box
    /// and content boxes, which is what assertion hashes cover.
    pub(super) payload: &'a [u8],
    pub(super) children: Vec<JBox<'a>>,
}

impl<'a> JBox<'a> {
    pub(super) fn child(&self, label: &str) -> Option<&JBox<'a>> {
        self.children
            .iter()
            .find(|c| c.label.as_deref() == Some(label))
    }

    /// The first content box of a kind (`cbor`, `json`, `bidb`).
    pub(super) fn content(&self, kind: &[u8; 4]) -> Option<&'a [u8]> {
        self.children
            .iter()
            .find(|c| &c.kind == kind)
            .map(|c| c.payload)
    }
}

pub(super) struct Budget {
    pub(super) boxes: usize,
    pub(super) max_depth: usize,
}

pub(super) fn parse_boxes<'a>(
    b: &'a [u8],
    depth: usize,
    budget: &mut Budget,
    warnings: &mut Vec<String>,
) -> Vec<JBox<'a>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < b.len() {
        let Some(h) = header(b, at) else {
            warnings.push(format!("JUMBF: malformed box header at offset {at}"));
            break;
        };
        if budget.boxes == 0 {
            warnings.push("JUMBF: too many boxes; the rest is not read".into());
            break;
        }
        budget.boxes -= 1;
        let payload = &b[at + h.header..at + h.size];
        let mut jb = JBox {
            kind: h.kind,
            label: None,
            payload,
            children: Vec::new(),
        };
        if &h.kind == b"jumb" {
            if depth >= budget.max_depth {
                warnings.push("JUMBF: superboxes nested too deeply; not followed".into());
            } else {
                jb.children = parse_boxes(payload, depth + 1, budget, warnings);
                jb.label = jb
                    .children
                    .first()
                    .filter(|d| &d.kind == b"jumd")
                    .and_then(|d| description_label(d.payload));
            }
        }
        out.push(jb);
        if h.size == 0 {
            break;
        }
        at += h.size;
    }
    out
}

/// The label of a description box: 16-byte type, toggles, then a
/// NUL-terminated label when toggle bit 1 is set.
pub(super) fn description_label(d: &[u8]) -> Option<String> {
    let toggles = *d.get(16)?;
    if toggles & 0x02 == 0 {
        return None;
    }
    let rest = d.get(17..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    Some(cap(&String::from_utf8_lossy(&rest[..end])))
}

pub(super) fn cap(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
