//! The XMP packet: its provenance fields (dates, tools, document IDs, the
//! edit history, creator, rights, description, digital source type), in
//! either RDF form (attributes or elements), and finding a bare packet in a
//! file whose container is not walked.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use serde::{Deserialize, Serialize};

use super::{cap, find, set_once, MAX_ENTRIES};

/// Deepest XML nesting followed in an XMP packet.
const MAX_XML_DEPTH: usize = 64;

/// Provenance fields of an XMP packet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Xmp {
    /// xmp:CreateDate.
    pub create_date: Option<String>,
    /// xmp:ModifyDate.
    pub modify_date: Option<String>,
    /// xmp:MetadataDate.
    pub metadata_date: Option<String>,
    /// xmp:CreatorTool.
    pub creator_tool: Option<String>,
    /// photoshop:DateCreated.
    pub date_created: Option<String>,
    /// xmpMM:DocumentID.
    pub document_id: Option<String>,
    /// xmpMM:OriginalDocumentID.
    pub original_document_id: Option<String>,
    /// xmpMM:History, in order.
    pub history: Vec<HistoryEvent>,
    /// dc:creator (a sequence).
    pub creator: Vec<String>,
    /// dc:rights (the first alternative, normally x-default).
    pub rights: Option<String>,
    /// dc:description (the first alternative).
    pub description: Option<String>,
    /// Iptc4xmpExt:DigitalSourceType: the IPTC term (a URI such as
    /// `http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia`)
    /// by which generators and platforms declare how the picture was made.
    pub digital_source_type: Option<String>,
}

/// One xmpMM:History entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct HistoryEvent {
    /// stEvt:action ("created", "saved", "converted", …).
    pub action: Option<String>,
    /// stEvt:softwareAgent.
    pub software_agent: Option<String>,
    /// stEvt:when.
    pub when: Option<String>,
}

/// The first `<x:xmpmeta …</x:xmpmeta>` (or bare `<rdf:RDF …</rdf:RDF>`) in
/// the bytes.
pub(super) fn scan_xmp_packet(bytes: &[u8]) -> Option<&[u8]> {
    for (open, close) in [
        (&b"<x:xmpmeta"[..], &b"</x:xmpmeta>"[..]),
        (b"<rdf:RDF", b"</rdf:RDF>"),
    ] {
        if let Some(s) = find(bytes, open) {
            let e = find(&bytes[s..], close)?;
            return bytes.get(s..s + e + close.len());
        }
    }
    None
}

const NS_RDF: &[u8] = b"http://www.w3.org/1999/02/22-rdf-syntax-ns#";
const NS_XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/";
const NS_XMPMM: &[u8] = b"http://ns.adobe.com/xap/1.0/mm/";
const NS_STEVT: &[u8] = b"http://ns.adobe.com/xap/1.0/sType/ResourceEvent#";
const NS_PS: &[u8] = b"http://ns.adobe.com/photoshop/1.0/";
const NS_DC: &[u8] = b"http://purl.org/dc/elements/1.1/";
const NS_IPTC_EXT: &[u8] = b"http://iptc.org/std/Iptc4xmpExt/2008-02-29/";

/// A property this module keeps.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Prop {
    CreateDate,
    ModifyDate,
    MetadataDate,
    CreatorTool,
    DateCreated,
    DocumentId,
    OriginalDocumentId,
    History,
    Action,
    Agent,
    When,
    Creator,
    Rights,
    Description,
    DigitalSourceType,
    /// Any other property (its text is ignored).
    Other,
    /// An rdf: structural element.
    Rdf,
}

fn prop(ns: &[u8], local: &[u8]) -> Prop {
    match (ns, local) {
        (NS_RDF, _) => Prop::Rdf,
        (NS_XMP, b"CreateDate") => Prop::CreateDate,
        (NS_XMP, b"ModifyDate") => Prop::ModifyDate,
        (NS_XMP, b"MetadataDate") => Prop::MetadataDate,
        (NS_XMP, b"CreatorTool") => Prop::CreatorTool,
        (NS_PS, b"DateCreated") => Prop::DateCreated,
        (NS_XMPMM, b"DocumentID") => Prop::DocumentId,
        (NS_XMPMM, b"OriginalDocumentID") => Prop::OriginalDocumentId,
        (NS_XMPMM, b"History") => Prop::History,
        (NS_STEVT, b"action") => Prop::Action,
        (NS_STEVT, b"softwareAgent") => Prop::Agent,
        (NS_STEVT, b"when") => Prop::When,
        (NS_DC, b"creator") => Prop::Creator,
        (NS_DC, b"rights") => Prop::Rights,
        (NS_DC, b"description") => Prop::Description,
        (NS_IPTC_EXT, b"DigitalSourceType") => Prop::DigitalSourceType,
        _ => Prop::Other,
    }
}

fn store(x: &mut Xmp, p: Prop, in_history: bool, v: &str) {
    match p {
        Prop::CreateDate => set_once(&mut x.create_date, v),
        Prop::ModifyDate => set_once(&mut x.modify_date, v),
        Prop::MetadataDate => set_once(&mut x.metadata_date, v),
        Prop::CreatorTool => set_once(&mut x.creator_tool, v),
        Prop::DateCreated => set_once(&mut x.date_created, v),
        Prop::DocumentId => set_once(&mut x.document_id, v),
        Prop::OriginalDocumentId => set_once(&mut x.original_document_id, v),
        Prop::Rights => set_once(&mut x.rights, v),
        Prop::Description => set_once(&mut x.description, v),
        Prop::DigitalSourceType => set_once(&mut x.digital_source_type, v),
        Prop::Creator if x.creator.len() < MAX_ENTRIES && !v.trim().is_empty() => {
            x.creator.push(cap(v.trim()));
        }
        Prop::Action | Prop::Agent | Prop::When if in_history => {
            if let Some(ev) = x.history.last_mut() {
                match p {
                    Prop::Action => set_once(&mut ev.action, v),
                    Prop::Agent => set_once(&mut ev.software_agent, v),
                    _ => set_once(&mut ev.when, v),
                }
            }
        }
        _ => {}
    }
}

/// XMP may be UTF-16 or UTF-32 (the spec allows it; ExifTool's XMP.jpg is
/// UTF-16BE); quick-xml reads UTF-8, so UTF-16 is transcoded first. Detected by
/// BOM or by the NUL byte around the first '<'.
fn to_utf8(packet: &[u8]) -> Option<Vec<u8>> {
    let be = match packet {
        [0xFE, 0xFF, ..] | [0, b'<', ..] => true,
        [0xFF, 0xFE, ..] | [b'<', 0, ..] => false,
        _ => return None,
    };
    let units = packet.chunks_exact(2).map(|c| {
        if be {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_le_bytes([c[0], c[1]])
        }
    });
    let s: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .filter(|&c| c != '\u{FEFF}')
        .collect();
    Some(s.into_bytes())
}

pub(super) fn parse_xmp(packet: &[u8], warnings: &mut Vec<String>) -> Xmp {
    let utf8 = to_utf8(packet);
    let packet = utf8.as_deref().unwrap_or(packet);
    let mut x = Xmp::default();
    let mut reader = NsReader::from_reader(packet);
    reader.config_mut().trim_text(true);
    // The innermost non-rdf property of each open element.
    let mut stack: Vec<Prop> = Vec::new();
    let mut buf = Vec::new();
    let context = |stack: &[Prop]| -> (Prop, bool) {
        let in_history = stack.contains(&Prop::History);
        let p = stack
            .iter()
            .rev()
            .copied()
            .find(|p| *p != Prop::Rdf)
            .unwrap_or(Prop::Rdf);
        (p, in_history)
    };
    loop {
        buf.clear();
        let ev = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                warnings.push(format!(
                    "XMP: malformed XML at byte {}: {}",
                    reader.error_position(),
                    cap(&e.to_string())
                ));
                break;
            }
        };
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                let (ns, local) = reader.resolve_element(e.name());
                let p = match ns {
                    ResolveResult::Bound(n) => prop(n.as_ref(), local.as_ref()),
                    _ => Prop::Other,
                };
                let (outer, in_history) = context(&stack);
                // A new rdf:li directly inside History starts an event.
                if p == Prop::Rdf
                    && local.as_ref() == b"li"
                    && outer == Prop::History
                    && x.history.len() < MAX_ENTRIES
                {
                    x.history.push(HistoryEvent::default());
                }
                attributes(&reader, e, &mut x, in_history || p == Prop::History);
                if p == Prop::DigitalSourceType {
                    // A URI-valued property may be written as a resource.
                    for a in e.attributes().with_checks(false).flatten().take(256) {
                        let (ns, local) = reader.resolve_attribute(a.key);
                        if matches!(ns, ResolveResult::Bound(n) if n.as_ref() == NS_RDF)
                            && local.as_ref() == b"resource"
                        {
                            if let Ok(v) = a.unescape_value() {
                                set_once(&mut x.digital_source_type, &v);
                            }
                        }
                    }
                }
                if !empty {
                    if stack.len() >= MAX_XML_DEPTH {
                        warnings.push("XMP: nested too deeply; stopped".into());
                        break;
                    }
                    stack.push(p);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(t) => {
                let (p, in_history) = context(&stack);
                if let Ok(s) = t.unescape() {
                    store(&mut x, p, in_history, &s);
                }
            }
            Event::CData(t) => {
                let (p, in_history) = context(&stack);
                store(&mut x, p, in_history, &String::from_utf8_lossy(&t));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    x
}

/// Properties written in attribute form (`<rdf:Description xmp:CreatorTool="…">`).
fn attributes(reader: &NsReader<&[u8]>, e: &BytesStart<'_>, x: &mut Xmp, in_history: bool) {
    for a in e.attributes().with_checks(false).flatten().take(256) {
        let (ns, local) = reader.resolve_attribute(a.key);
        let ResolveResult::Bound(ns) = ns else {
            continue;
        };
        let p = prop(ns.as_ref(), local.as_ref());
        if matches!(p, Prop::Other | Prop::Rdf | Prop::History) {
            continue;
        }
        if let Ok(v) = a.unescape_value() {
            store(x, p, in_history, &v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xmp_attribute_and_element_forms() {
        let x = br#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
 xmp:CreatorTool="Tool &amp; Co" xmp:CreateDate="2020-01-02T03:04:05">
<dc:creator><rdf:Seq><rdf:li>Ann</rdf:li><rdf:li>Bob</rdf:li></rdf:Seq></dc:creator>
<dc:description><rdf:Alt><rdf:li xml:lang="x-default">A caption</rdf:li></rdf:Alt></dc:description>
<xmpMM:History><rdf:Seq>
<rdf:li stEvt:action="created" stEvt:softwareAgent="Adobe Photoshop 22.0"/>
<rdf:li rdf:parseType="Resource"><stEvt:action>saved</stEvt:action><stEvt:when>2020-01-03</stEvt:when></rdf:li>
</rdf:Seq></xmpMM:History>
</rdf:Description></rdf:RDF></x:xmpmeta>"#;
        let mut w = Vec::new();
        let p = parse_xmp(x, &mut w);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(p.creator_tool.as_deref(), Some("Tool & Co"));
        assert_eq!(p.create_date.as_deref(), Some("2020-01-02T03:04:05"));
        assert_eq!(p.creator, vec!["Ann", "Bob"]);
        assert_eq!(p.description.as_deref(), Some("A caption"));
        assert_eq!(p.history.len(), 2);
        assert_eq!(
            p.history[0].software_agent.as_deref(),
            Some("Adobe Photoshop 22.0")
        );
        assert_eq!(p.history[1].action.as_deref(), Some("saved"));
        assert_eq!(p.history[1].when.as_deref(), Some("2020-01-03"));
        // Malformed XML keeps what was read and warns.
        let mut w = Vec::new();
        let p = parse_xmp(&x[..x.len() - 40], &mut w);
        assert_eq!(p.creator_tool.as_deref(), Some("Tool & Co"));
        let mut w = Vec::new();
        parse_xmp(b"<a><b></a>", &mut w);
        assert!(!w.is_empty());
    }

    #[test]
    fn xmp_digital_source_type_in_each_form() {
        let ns = r#"xmlns:x="adobe:ns:meta/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/""#;
        let term = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";
        for body in [
            format!(r#"<rdf:Description Iptc4xmpExt:DigitalSourceType="{term}"/>"#),
            format!(
                r#"<rdf:Description><Iptc4xmpExt:DigitalSourceType>{term}</Iptc4xmpExt:DigitalSourceType></rdf:Description>"#
            ),
            format!(
                r#"<rdf:Description><Iptc4xmpExt:DigitalSourceType rdf:resource="{term}"/></rdf:Description>"#
            ),
        ] {
            let packet = format!(r#"<x:xmpmeta {ns}><rdf:RDF>{body}</rdf:RDF></x:xmpmeta>"#);
            let mut w = Vec::new();
            let x = parse_xmp(packet.as_bytes(), &mut w);
            assert!(w.is_empty(), "{w:?}");
            assert_eq!(x.digital_source_type.as_deref(), Some(term), "{body}");
        }
    }
}
