//! ISO BMFF (HEIF, AVIF): the store's `uuid` box and the `c2pa.hash.bmff`
//! binding (box paths, exclusions, offsets).

use super::*;
use crate::input::bmff::BmffHeader;
use crate::input::layout::{BmffEnd, BmffLayout};

/// The extended type of the C2PA `uuid` box (the ContentProvenanceBox).
pub(super) const C2PA_UUID: [u8; 16] = [
    0xD8, 0xFE, 0xC3, 0xD6, 0x1B, 0x0E, 0x48, 0x3C, 0x92, 0x97, 0x58, 0x28, 0x87, 0x7E, 0xC4, 0x81,
];

/// Boxes whose children are walked, so that an exclusion can name a nested
/// box (`/meta/iloc`, `/moov/trak/…/stco`). The list is c2pa-rs's: a box
/// path means what the signer's walk made it mean, and a box it did not
/// descend into (`iprp`, `iinf`) has no path below it.
pub(super) const BMFF_CONTAINERS: [&[u8; 4]; 16] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"edts", b"udta", b"dinf",
    b"tref", b"treg", b"mvex", b"mfra", b"meta", b"schi",
];

/// Deepest box nesting walked; real files nest six levels at most.
pub(super) const MAX_BMFF_DEPTH: usize = 32;

/// The C2PA manifest store of an ISO BMFF file: the JUMBF inside the
/// top-level `uuid` box with the C2PA extended type and the purpose
/// `manifest` (`original` in older writers). Returns `None` without one, or
/// when the store is over `max` bytes (with a warning).
pub fn bmff_store<'a>(b: &'a [u8], max: usize, warnings: &mut Vec<String>) -> Option<&'a [u8]> {
    bmff_store_with(b, &BmffLayout::read(b), max, warnings)
}

/// [`bmff_store`] from the top-level boxes already walked
/// ([`BmffLayout::read`]). Every top-level box is looked at, however many:
/// past the list's cap the walk goes on here, one header at a time.
pub fn bmff_store_with<'a>(
    b: &'a [u8],
    boxes: &BmffLayout,
    max: usize,
    warnings: &mut Vec<String>,
) -> Option<&'a [u8]> {
    let mut found: Option<&[u8]> = None;
    let mut visit = |kind: &[u8; 4], at: usize, content: usize, end: usize| {
        let body = &b[content..end];
        if kind == b"uuid" && b.get(content - 16..content) == Some(&C2PA_UUID[..]) {
            match c2pa_uuid_payload(body) {
                Some(("manifest" | "original", store)) if found.is_none() => found = Some(store),
                Some(("manifest" | "original", _)) => warnings
                    .push("BMFF: a second C2PA manifest store; only the first is read".into()),
                Some(("update", _)) => warnings
                    .push("BMFF: a C2PA update manifest store is present and not read".into()),
                // Merkle boxes hold fragment hashes; the binding reports them.
                Some(_) => {}
                None => warnings.push(format!(
                    "BMFF: the C2PA uuid box at offset {at} is malformed"
                )),
            }
        }
    };
    for x in &boxes.boxes {
        visit(&x.kind, x.offset, x.content, x.end());
    }
    let mut end = boxes.end.clone();
    if end == BmffEnd::Capped {
        end = BmffEnd::Eof;
        let mut at = boxes.resume_at();
        while at < b.len() {
            match bmff_header(b, at, b.len()) {
                Ok(Some(h)) => {
                    visit(&h.kind, at, h.content, at + h.size);
                    at += h.size;
                }
                Ok(None) => break,
                Err(message) => {
                    end = BmffEnd::Broken { message };
                    break;
                }
            }
        }
    }
    if let BmffEnd::Broken { message } = end {
        warnings.push(format!("BMFF: {message}; the boxes after it are not read"));
    }
    let store = found?;
    if store.len() > max {
        warnings.push(format!(
            "BMFF uuid C2PA store is {} bytes, over the {max}-byte metadata limit; not read",
            store.len()
        ));
        return None;
    }
    Some(store)
}

/// The purpose and the JUMBF store of a C2PA `uuid` box's content: a
/// full-box header, a NUL-terminated purpose, for manifest boxes a 64-bit
/// offset to the first Merkle box, then the store. Padding after the store's
/// superbox is dropped.
pub(super) fn c2pa_uuid_payload(body: &[u8]) -> Option<(&str, &[u8])> {
    let rest = body.get(4..)?;
    let nul = rest.iter().position(|&c| c == 0)?;
    let purpose = std::str::from_utf8(&rest[..nul]).ok()?;
    let after = &rest[nul + 1..];
    if !matches!(purpose, "manifest" | "original" | "update") {
        return Some((purpose, after));
    }
    let store = after.get(8..)?;
    let store = match header(store, 0) {
        Some(h) => &store[..h.size],
        None => store,
    };
    Some((purpose, store))
}

/// One box of the walked tree, with the path an exclusion names it by.
pub(super) struct BmffBox {
    pub(super) path: String,
    pub(super) start: usize,
    pub(super) size: usize,
    pub(super) version: Option<u8>,
    pub(super) flags: Option<u32>,
}

/// Every box on the walked paths, in file order; `Err` when the structure is
/// broken (which a valid binding cannot survive) or too big to walk.
pub(super) fn bmff_tree(b: &[u8], limits: &Limits) -> Result<Vec<BmffBox>, BmffWalkError> {
    bmff_tree_with(b, &BmffLayout::read(b), limits)
}

/// [`bmff_tree`] from the top-level boxes already walked: the same boxes,
/// in the same order, with the same errors; past the list's cap the walk
/// goes on here.
pub(super) fn bmff_tree_with(
    b: &[u8],
    top: &BmffLayout,
    limits: &Limits,
) -> Result<Vec<BmffBox>, BmffWalkError> {
    /// One box whose header was read: listed, and its children walked when
    /// it is a container.
    #[allow(clippy::too_many_arguments)]
    fn one(
        b: &[u8],
        at: usize,
        h: &BmffHeader,
        parent: &str,
        depth: usize,
        max: usize,
        out: &mut Vec<BmffBox>,
    ) -> Result<(), BmffWalkError> {
        if out.len() >= max {
            return Err(BmffWalkError::Limit(format!("more than {max} boxes")));
        }
        let path = format!("{parent}/{}", String::from_utf8_lossy(&h.kind));
        let full = BMFF_FULL_BOXES.contains(&&h.kind)
            || (&h.kind == b"uuid" && b.get(h.content - 16..h.content) == Some(&C2PA_UUID[..]));
        // A QuickTime `meta` has no full-box header: its first child,
        // `hdlr`, follows the box header at once.
        let qt_meta = &h.kind == b"meta" && b.get(h.content + 4..h.content + 8) == Some(b"hdlr");
        let (version, flags, children) = match (full && !qt_meta, be32(b, h.content)) {
            (true, Some(vf)) => (Some((vf >> 24) as u8), Some(vf & 0xFF_FFFF), h.content + 4),
            _ => (None, None, h.content),
        };
        out.push(BmffBox {
            path: path.clone(),
            start: at,
            size: h.size,
            version,
            flags,
        });
        if BMFF_CONTAINERS.contains(&&h.kind) {
            walk(b, children, at + h.size, &path, depth + 1, max, out)?;
        }
        Ok(())
    }
    fn walk(
        b: &[u8],
        from: usize,
        end: usize,
        parent: &str,
        depth: usize,
        max: usize,
        out: &mut Vec<BmffBox>,
    ) -> Result<(), BmffWalkError> {
        if depth > MAX_BMFF_DEPTH {
            return Err(BmffWalkError::Limit("boxes nested too deeply".into()));
        }
        let mut at = from;
        while at < end {
            let Some(h) = bmff_header(b, at, end).map_err(BmffWalkError::Broken)? else {
                break;
            };
            one(b, at, &h, parent, depth, max, out)?;
            at += h.size;
        }
        Ok(())
    }
    let max = limits.max_bmff_boxes;
    let mut out = Vec::new();
    for x in &top.boxes {
        let h = BmffHeader {
            kind: x.kind,
            size: x.size,
            content: x.content,
        };
        one(b, x.offset, &h, "", 0, max, &mut out)?;
    }
    match &top.end {
        BmffEnd::Eof | BmffEnd::Short => {}
        BmffEnd::Broken { message } => return Err(BmffWalkError::Broken(message.clone())),
        BmffEnd::Capped => walk(b, top.resume_at(), b.len(), "", 0, max, &mut out)?,
    }
    Ok(out)
}

pub(super) enum BmffWalkError {
    /// The boxes do not fit together.
    Broken(String),
    /// Over a limit: not checked.
    Limit(String),
}

/// Full boxes (ISO/IEC 14496-12): their version and flags can be matched by
/// an exclusion.
pub(super) const BMFF_FULL_BOXES: [&[u8; 4]; 79] = [
    b"pdin", b"mvhd", b"tkhd", b"mdhd", b"hdlr", b"nmhd", b"elng", b"stsd", b"stdp", b"stts",
    b"ctts", b"cslg", b"stss", b"stsh", b"elst", b"dref", b"stsz", b"stz2", b"stsc", b"stco",
    b"co64", b"padb", b"subs", b"saiz", b"saio", b"mehd", b"trex", b"mfhd", b"tfhd", b"trun",
    b"tfra", b"mfro", b"tfdt", b"leva", b"trep", b"assp", b"sbgp", b"sgpd", b"csgp", b"cprt",
    b"tsel", b"kind", b"meta", b"xml ", b"bxml", b"iloc", b"pitm", b"ipro", b"infe", b"iinf",
    b"iref", b"ipma", b"schm", b"fiin", b"fpar", b"fecr", b"gitn", b"fire", b"stri", b"stsg",
    b"stvi", b"csch", b"sidx", b"ssix", b"prft", b"srpp", b"vmhd", b"smhd", b"srat", b"chnl",
    b"dmix", b"txtC", b"mime", b"uri ", b"uriI", b"hmhd", b"sthd", b"vvhd", b"medc",
];

/// The BMFF hard binding (`c2pa.hash.bmff`, `.v2`, `.v3`): the file's bytes
/// minus the boxes the exclusions name, hashed and compared with the
/// assertion. From v2 on, the 64-bit big-endian offset of every top-level
/// box not wholly excluded goes into the hash just before the box's first
/// byte, so moving boxes breaks the binding. c2pa-rs 0.91 does this for v3
/// as for v2 (verified against its signed fixtures, see the tests).
#[allow(clippy::too_many_arguments)]
pub(super) fn check_bmff_hash(
    a: &JBox<'_>,
    asset: &[u8],
    top: Option<&BmffLayout>,
    assertion_version: u8,
    alg: &str,
    limits: &Limits,
    m: &mut Manifest,
    cc: &mut ContentCredentials,
) {
    let url = Some(format!(
        "self#jumbf=/c2pa/{}/c2pa.assertions/{}",
        m.label,
        a.label.as_deref().unwrap_or("")
    ));
    let malformed = |m: &mut Manifest, why: &str| {
        status(
            m,
            StatusCode::AssertionBmffHashMalformed,
            false,
            url.clone(),
            why.into(),
        );
    };
    let v = match a.content(b"cbor").map(|c| cbor(c, limits)) {
        Some(Ok(v)) => v,
        _ => return malformed(m, "unreadable BMFF hash"),
    };
    let alg = text(get(&v, "alg")).unwrap_or_else(|| alg.to_string());
    let mut not_checked = |what: String| {
        if !cc.not_checked.contains(&what) {
            cc.not_checked.push(what);
        }
    };
    if get(&v, "merkle").is_some() {
        not_checked("the Merkle tree hashes of a fragmented BMFF file (only the whole-file hash is checked)".into());
    }
    if get(&v, "url").is_some() {
        return not_checked("a BMFF hash of remote content (needs the network)".into());
    }
    let Some(expected) = get(&v, "hash").and_then(Value::as_bytes) else {
        if get(&v, "merkle").is_none() {
            malformed(m, "no hash");
        }
        return;
    };
    let tree = match top {
        Some(top) => bmff_tree_with(asset, top, limits),
        None => bmff_tree(asset, limits),
    };
    let boxes = match tree {
        Ok(b) => b,
        Err(BmffWalkError::Limit(why)) => {
            return not_checked(format!(
                "the BMFF hash binding: the file's boxes are over a limit ({why})"
            ));
        }
        Err(BmffWalkError::Broken(why)) => {
            return status(
                m,
                StatusCode::AssertionBmffHashMismatch,
                false,
                url,
                format!("the file's box structure is broken ({why}): it was changed after signing"),
            );
        }
    };
    let num = |e: &Value, k: &str| {
        get(e, k)
            .and_then(Value::as_integer)
            .and_then(|i| usize::try_from(i).ok())
    };
    let mut excluded: Vec<(usize, usize)> = Vec::new();
    // Starts of boxes excluded whole: their offsets are not hashed either.
    let mut whole: Vec<usize> = Vec::new();
    // Top-level box starts, minus the boxes excluded whole.
    let mut offsets: Vec<usize> = boxes
        .iter()
        .filter(|b| b.path.matches('/').count() == 1)
        .map(|b| b.start)
        .collect();
    for e in list(get(&v, "exclusions")).iter().take(MAX_LIST) {
        let Some(xpath) = get(e, "xpath").and_then(Value::as_text) else {
            return malformed(m, "an exclusion without xpath");
        };
        let length = num(e, "length");
        let version = get(e, "version")
            .and_then(Value::as_integer)
            .and_then(|i| u8::try_from(i).ok());
        // Three bytes, big-endian, as the box stores them.
        let flags = get(e, "flags").and_then(Value::as_bytes).map(|f| {
            f.iter()
                .take(3)
                .fold(0u32, |acc, &x| (acc << 8) | u32::from(x))
        });
        let exact = !matches!(get(e, "exact"), Some(Value::Bool(false)));
        let mut data: Vec<(usize, &[u8])> = Vec::new();
        for d in list(get(e, "data")).iter().take(MAX_LIST) {
            match (num(d, "offset"), get(d, "value").and_then(Value::as_bytes)) {
                (Some(o), Some(val)) => data.push((o, val)),
                _ => return malformed(m, "malformed exclusion data"),
            }
        }
        let mut subsets: Vec<(usize, usize)> = Vec::new();
        for s in list(get(e, "subset")).iter().take(MAX_LIST) {
            match (num(s, "offset"), num(s, "length")) {
                (Some(o), Some(l)) => subsets.push((o, l)),
                _ => return malformed(m, "malformed exclusion subset"),
            }
        }
        subsets.sort_unstable();
        // Subsets in order and apart, as c2pa-rs requires before hashing.
        if subsets
            .windows(2)
            .any(|w| w[0].0.checked_add(w[0].1).is_none_or(|end| end > w[1].0))
        {
            return malformed(m, "exclusion subsets overlap");
        }
        for bx in boxes.iter().filter(|b| b.path == xpath) {
            if length.is_some_and(|l| l != bx.size) {
                continue;
            }
            if let (Some(want), Some(got)) = (version, bx.version) {
                if want != got {
                    continue;
                }
            }
            if let (Some(want), Some(got)) = (flags, bx.flags) {
                // Not exact: the box may set only flags the exclusion allows
                // (c2pa-rs's reading; the spec leaves it open).
                if (exact && want != got) || (!exact && want | got != want) {
                    continue;
                }
            }
            let mut data_ok = true;
            for (o, val) in &data {
                let at = bx.start.saturating_add(*o);
                match asset.get(at..at.saturating_add(val.len())) {
                    Some(here) => data_ok &= here == *val,
                    None => {
                        return malformed(m, "exclusion data past the end of the file");
                    }
                }
            }
            if !data_ok {
                continue;
            }
            if subsets.is_empty() {
                excluded.push((bx.start, bx.start + bx.size));
                whole.push(bx.start);
            }
            for &(o, l) in &subsets {
                if o > bx.size {
                    continue;
                }
                let len = if l == 0 {
                    bx.size - o
                } else {
                    l.min(bx.size - o)
                };
                excluded.push((bx.start + o, bx.start + o + len));
            }
            // Exclusions times boxes times subsets can be made huge.
            if excluded.len() > limits.max_bmff_boxes {
                return not_checked(format!(
                    "the BMFF hash binding: more than {} excluded ranges",
                    limits.max_bmff_boxes
                ));
            }
        }
    }
    whole.sort_unstable();
    offsets.retain(|o| whole.binary_search(o).is_err());
    // The included ranges: the file minus the exclusions, in order.
    excluded.sort_unstable();
    let mut included: Vec<(usize, usize)> = Vec::new();
    let mut at = 0usize;
    for (s, e) in excluded {
        if s > at {
            included.push((at, s));
        }
        at = at.max(e);
    }
    if at < asset.len() {
        included.push((at, asset.len()));
    }
    if assertion_version < 2 {
        offsets.clear();
    }
    // An offset goes in where its box starts; one whose first byte is
    // excluded (a subset) still goes in, in order, when it lies strictly
    // inside the hashed span, as c2pa-rs places it.
    let (first, last) = match (included.first(), included.last()) {
        (Some(f), Some(l)) => (f.0, l.1.saturating_sub(1)),
        _ => (0, asset.len().saturating_sub(1)),
    };
    let inside = |o: usize| {
        // `included` is sorted and disjoint: the last range starting at or before o.
        let i = included.partition_point(|r| r.0 <= o);
        i > 0 && o < included[i - 1].1
    };
    offsets.retain(|&o| inside(o) || (first < o && o < last));
    offsets.sort_unstable();
    let marks: Vec<[u8; 8]> = offsets.iter().map(|&o| (o as u64).to_be_bytes()).collect();
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut next = 0usize;
    for &(s, e) in &included {
        let mut from = s;
        while next < offsets.len() && offsets[next] < e {
            let o = offsets[next];
            if o > from {
                parts.push(&asset[from..o]);
                from = o;
            }
            parts.push(&marks[next]);
            next += 1;
        }
        parts.push(&asset[from..e]);
    }
    parts.extend(marks[next..].iter().map(|m| &m[..]));
    let codes = (
        StatusCode::AssertionBmffHashMatch,
        StatusCode::AssertionBmffHashMismatch,
    );
    hash_verdict(m, &alg, &parts, expected, url, codes, "boxes");
}
