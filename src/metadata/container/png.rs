//! The PNG walk: text chunks (tEXt, zTXt, iTXt), the XMP packet, the ICC
//! profile (iCCP) and the C2PA store (caBX), from the chunks
//! `input::layout` found, inflating under the metadata limit.

use miniz_oxide::inflate::decompress_to_vec_zlib_with_limit;
use serde::{Deserialize, Serialize};

use super::{text_of, Container, Raw, MAX_ENTRIES};
use crate::input::layout::{PngEnd, PngLayout, MAX_PNG_CHUNKS_KEPT};
use crate::metadata::c2pa::Carrier;

/// One PNG text chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PngText {
    /// The chunk's keyword ("Software", "Comment", …).
    pub keyword: String,
    /// Its text.
    pub text: String,
}

fn inflate(data: &[u8], max: usize, what: &str, c: &mut Container) -> Option<Vec<u8>> {
    match decompress_to_vec_zlib_with_limit(data, max) {
        Ok(v) => Some(v),
        Err(_) => {
            c.warnings.push(format!(
                "PNG {what}: compressed data is damaged or inflates past the metadata limit"
            ));
            None
        }
    }
}

/// Reads the text, XMP, ICC and C2PA chunks from the chunks already walked,
/// in file order up to IEND, and says why the walk stopped short of it when
/// it did.
pub(super) fn walk_png(
    bytes: &[u8],
    png: &PngLayout,
    max: usize,
    raw: &mut Raw,
    c: &mut Container,
) {
    for chunk in &png.chunks {
        let kind = &chunk.kind[..];
        let data = chunk.data(bytes);
        let len = data.len();
        let nul = data.iter().position(|&b| b == 0);
        match kind {
            b"IEND" => return,
            b"caBX" if raw.c2pa.is_none() => {
                if len > max {
                    c.warnings
                        .push("PNG caBX (C2PA) over the metadata limit; not read".into());
                } else {
                    raw.c2pa = Some((Carrier::PngCabx, data.to_vec()));
                }
            }
            b"tEXt" | b"zTXt" | b"iTXt" | b"iCCP" => {
                let Some(nul) = nul else {
                    c.warnings.push(format!(
                        "PNG: {} chunk without a keyword terminator",
                        String::from_utf8_lossy(kind)
                    ));
                    continue;
                };
                let keyword = text_of(&data[..nul]);
                let rest = &data[nul + 1..];
                match kind {
                    b"tEXt" => push_text(c, keyword, text_of(rest)),
                    b"zTXt" => {
                        if let Some(t) = rest.get(1..).and_then(|z| inflate(z, max, "zTXt", c)) {
                            push_text(c, keyword, text_of(&t));
                        }
                    }
                    b"iCCP" => {
                        if raw.icc.is_none() {
                            raw.icc = rest.get(1..).and_then(|z| inflate(z, max, "iCCP", c));
                        }
                    }
                    _ => {
                        // iTXt: flag, method, language\0, translated keyword\0, text.
                        let compressed = rest.first() == Some(&1);
                        let body = rest.get(2..).and_then(|r| {
                            let a = r.iter().position(|&b| b == 0)?;
                            let r = &r[a + 1..];
                            let b = r.iter().position(|&b| b == 0)?;
                            Some(&r[b + 1..])
                        });
                        let Some(body) = body else {
                            c.warnings.push("PNG: malformed iTXt chunk".into());
                            continue;
                        };
                        let body = if compressed {
                            match inflate(body, max, "iTXt", c) {
                                Some(v) => v,
                                None => continue,
                            }
                        } else {
                            body.to_vec()
                        };
                        if keyword == "XML:com.adobe.xmp" {
                            if raw.xmp.is_none() {
                                raw.xmp = Some(body);
                            }
                        } else {
                            push_text(c, keyword, text_of(&body));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    // Every chunk kept was read and none was IEND: say why the walk ended,
    // the chunk limit first (the chunk past it may be the one cut short).
    if png.chunks_dropped > 0
        || (png.chunks.len() == MAX_PNG_CHUNKS_KEPT && matches!(png.end, PngEnd::Overrun { .. }))
    {
        c.warnings.push("PNG: too many chunks; stopped".into());
    } else if let PngEnd::Overrun { kind, length, .. } = png.end {
        c.warnings.push(format!(
            "PNG: {} chunk claims {length} bytes, file has fewer",
            String::from_utf8_lossy(&kind)
        ));
    }
}

fn push_text(c: &mut Container, keyword: String, text: String) {
    if c.png_text.len() < MAX_ENTRIES {
        c.png_text.push(PngText { keyword, text });
    }
}
