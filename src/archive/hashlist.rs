//! Hash lists to share: an archive's hashes without its pictures.
//!
//! Fact-checkers who debunked the same recycled picture want to share what
//! they know of it without sending the picture (rights, privacy, size), as
//! content-moderation teams share PDQ hash lists. `retrace archive export`
//! writes every picture's hashes with its first-seen date, source and URL;
//! `retrace archive import` reads such a list, or a ThreatExchange PDQ list,
//! into an archive as *hash-only entries*: an image row with hashes and a
//! sighting but no thumbnail, so matching judges them on hashes alone (the
//! aligner has nothing to align) and reports say `hash_only: true`.
//!
//! Two formats (docs/archive.md has the fields):
//!
//! - `retrace.hashlist/1`, JSON Lines: one picture per line with every
//!   current-stamp hash of every region retrace keeps (the whole frame and the
//!   windows the partial-copy search looks up), PDQ with its quality. Lossless:
//!   an import gives the entries back hash for hash.
//! - ThreatExchange PDQ CSV, as ThreatExchange's tools write and
//!   Hasher-Matcher-Actioner reads it: no header, `pdq_hex,id,added_on,labels`
//!   (labels space-separated). The whole frame's PDQ only.
//!
//! A list comes from outside: every line is checked before anything is
//! written, every problem is reported with its line number, and a list with
//! any problem is refused whole. Nothing here writes to the archive; the
//! caller records the entries in one transaction.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::archive::{Archive, NewImage, Sighting, StoredHash};
use crate::error::{Error, Result};
use crate::evidence::FirstSeenFrom;
use crate::hash::variants::ARCHIVE_WINDOWS;
use crate::hash::{HashBits, HashKind};

/// The `schema` of every line of a retrace list.
pub const SCHEMA: &str = "retrace.hashlist/1";

/// Longest line (or CSV record) read from a list: a retrace line with every
/// region's hashes is about 4 KB.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The formats a list can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// `retrace.hashlist/1` JSON Lines.
    Retrace,
    /// ThreatExchange PDQ CSV: `pdq_hex,id,added_on,labels`, no header.
    ThreatExchange,
}

/// One hash of a [`Line`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineHash {
    /// `full` or the name of a window (`tl87`, `c80`, ...).
    pub region: String,
    /// `pdq`, `phash`, `dhash`.
    pub kind: String,
    /// Lower-case hex, most significant bit first.
    pub bits: String,
    /// PDQ quality, 0-100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<u8>,
}

/// One picture of a `retrace.hashlist/1` list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Line {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Content SHA-256, when the exporting archive knew the picture's bytes
    /// (null for an entry it had itself imported from a list without one).
    pub sha256: Option<String>,
    /// When the picture was first seen (ISO 8601).
    pub first_seen: String,
    /// Where that date came from in the exporting archive (`exif`, `given`,
    /// ...; a name this version does not know is kept as it is).
    pub first_seen_from: FirstSeenFrom,
    /// Source label of the earliest sighting.
    pub source: String,
    /// Where it was published, when known.
    pub url: Option<String>,
    /// Container format, when known.
    #[serde(default)]
    pub format: Option<String>,
    /// Pixel width, when known.
    #[serde(default)]
    pub width: Option<u32>,
    /// Pixel height, when known.
    #[serde(default)]
    pub height: Option<u32>,
    /// Labels a list attached (ThreatExchange tags), kept through re-exports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// The stamp of each kind of hash in `hashes` (algorithm, parameters,
    /// version): hashes of another stamp are never compared. Once per line
    /// rather than per hash, which halves a line.
    pub stamps: BTreeMap<String, String>,
    /// The hashes.
    pub hashes: Vec<LineHash>,
}

/// What an imported entry remembers of its list, in the image's
/// `metadata_json` under `hash_only` (which is also how an entry is known to
/// be hash-only: a picture recorded from its bytes has a fixed set of keys).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HashOnly {
    /// The list's file name.
    pub list: String,
    /// `retrace.hashlist/1` or `threatexchange`.
    pub format: String,
    /// Whether the row's `sha256` is the picture's content SHA-256 (else an
    /// identifier made from its PDQ hash).
    pub content_sha256: bool,
    /// ThreatExchange's descriptor id, when the list gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Labels the list attached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Where the list's date came from in the archive that exported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen_from: Option<FirstSeenFrom>,
}

/// The hash-only record of an entry, from its `metadata_json`; `None` for a
/// picture recorded from its bytes.
pub fn hash_only(metadata_json: &str) -> Option<HashOnly> {
    // Cheap refusal first: most rows are pictures, and matching asks per match.
    if !metadata_json.contains("\"hash_only\"") {
        return None;
    }
    #[derive(Deserialize)]
    struct Meta {
        hash_only: Option<HashOnly>,
    }
    serde_json::from_str::<Meta>(metadata_json)
        .ok()
        .and_then(|m| m.hash_only)
}

/// The row key of an entry whose list gave no content SHA-256: a SHA-256 of
/// its whole-frame PDQ, prefixed so that it can never be the SHA-256 of a
/// picture's bytes by accident, and the same for the same hash on every import.
fn key_of_pdq(pdq: &HashBits) -> String {
    let mut h = Sha256::new();
    h.update(b"retrace hash-only entry\0pdq\0");
    h.update(pdq.to_hex().as_bytes());
    crate::input::read::hex(&h.finalize())
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exported {
    /// Entries written.
    pub written: u64,
    /// Pictures left out: in ThreatExchange CSV, those without a whole-frame PDQ hash.
    pub skipped: u64,
}

/// Pictures read from the archive per step.
const EXPORT_STEP: u32 = 256;

/// Write every picture of `archive` as a list: its current-stamp hashes and
/// its earliest sighting's date, source and URL. No pixels, no thumbnail, no
/// camera metadata (a GPS position is not the list's to share).
pub fn export(archive: &Archive, format: ListFormat, out: &mut impl Write) -> Result<Exported> {
    let io = |e: std::io::Error| Error::Invalid {
        what: "hash list output",
        message: e.to_string(),
    };
    let mut done = Exported::default();
    let mut after = 0;
    loop {
        let page = archive.images_after(after, EXPORT_STEP)?;
        let Some(&(last, _)) = page.last() else {
            break;
        };
        for (id, image) in page {
            let Some(known) = archive.known_image(id)? else {
                continue;
            };
            let hashes = archive.image_hashes(id)?;
            let entry = hash_only(&image.metadata_json);
            let earliest = &known.earliest;
            match format {
                ListFormat::Retrace => {
                    let line = Line {
                        schema: SCHEMA.to_string(),
                        sha256: entry
                            .as_ref()
                            .is_none_or(|h| h.content_sha256)
                            .then(|| image.sha256.clone()),
                        first_seen: earliest.first_seen.clone(),
                        first_seen_from: entry
                            .as_ref()
                            .and_then(|h| h.first_seen_from.clone())
                            .unwrap_or_else(|| earliest.first_seen_from.clone()),
                        source: earliest.source.clone(),
                        url: earliest.url.clone(),
                        format: Some(image.format.clone()).filter(|f| !f.is_empty()),
                        width: image.width,
                        height: image.height,
                        labels: entry.map(|h| h.labels).unwrap_or_default(),
                        stamps: hashes
                            .iter()
                            .map(|h| {
                                let k = h.bits.kind;
                                (k.name().to_string(), k.stamp().to_string())
                            })
                            .collect(),
                        hashes: hashes
                            .iter()
                            .map(|h| LineHash {
                                region: h.region.clone(),
                                kind: h.bits.kind.name().to_string(),
                                bits: h.bits.to_hex(),
                                quality: h.quality,
                            })
                            .collect(),
                    };
                    serde_json::to_writer(&mut *out, &line).map_err(|e| io(e.into()))?;
                    out.write_all(b"\n").map_err(io)?;
                }
                ListFormat::ThreatExchange => {
                    let Some(pdq) = hashes
                        .iter()
                        .find(|h| h.region == "full" && h.bits.kind == HashKind::Pdq)
                    else {
                        done.skipped += 1;
                        continue;
                    };
                    // ThreatExchange's ids are its descriptors'; an entry
                    // that came from ThreatExchange keeps its own, the others
                    // are numbered in the order written.
                    let id = entry
                        .as_ref()
                        .and_then(|h| h.id.clone())
                        .unwrap_or_else(|| (done.written + 1).to_string());
                    let labels = entry.map(|h| h.labels.join(" ")).unwrap_or_default();
                    let mut csv = csv::WriterBuilder::new()
                        .has_headers(false)
                        .terminator(csv::Terminator::Any(b'\n'))
                        .from_writer(&mut *out);
                    csv.write_record([
                        pdq.bits.to_hex().as_str(),
                        &id,
                        &earliest.first_seen,
                        &labels,
                    ])
                    .map_err(|e| io(e.into()))?;
                    csv.flush().map_err(io)?;
                }
            }
            done.written += 1;
        }
        after = last;
    }
    Ok(done)
}

/// A problem with one line of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number (of the record's first line, for CSV).
    pub line: u64,
    /// What is wrong with it.
    pub message: String,
}

/// How an import labels what it reads.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The list's file name, kept with each entry and in sightings without a URL.
    pub list_name: String,
    /// The source of every entry; by default a retrace list's own source per
    /// line, and `ThreatExchange list <name>` for a ThreatExchange CSV.
    pub source: Option<String>,
    /// When a ThreatExchange row has no date: first seen now.
    pub now: String,
}

/// Read a whole list: its entries ready for [`Archive::record_batch`], or
/// every problem found, line by line (then nothing may be recorded). The
/// format is recognised from the first non-blank line: `{` starts a retrace
/// list, anything else is read as ThreatExchange CSV.
pub fn read(
    input: impl BufRead,
    opts: &ImportOptions,
) -> std::result::Result<Vec<(NewImage, Sighting)>, Vec<LineError>> {
    let mut reader = LineReader::new(input);
    let first = loop {
        match reader.next_line() {
            Some(Ok((_, l))) if l.trim().is_empty() => continue,
            Some(Ok(l)) => break Some(l),
            Some(Err(e)) => return Err(vec![e]),
            None => break None,
        }
    };
    let Some(first) = first else {
        return Err(vec![LineError {
            line: 1,
            message: "the list is empty".into(),
        }]);
    };
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    let retrace = first.1.trim_start().starts_with('{');
    let mut one = |l: std::result::Result<(u64, String), LineError>| {
        let (n, text) = match l {
            Ok(l) => l,
            Err(e) => return errors.push(e),
        };
        if text.trim().is_empty() {
            return;
        }
        let parsed = if retrace {
            retrace_line(&text, opts)
        } else {
            threatexchange_row(&text, opts)
        };
        match parsed {
            Ok(entry) => {
                // The same picture twice in one list is one entry with two
                // sightings in the archive; the same sighting twice is a
                // mistake worth naming.
                let key = (
                    entry.0.sha256.clone(),
                    entry.1.location.clone(),
                    entry.1.source.clone(),
                );
                if seen.insert(key) {
                    entries.push(entry);
                } else {
                    errors.push(LineError {
                        line: n,
                        message: "the same entry as an earlier line".into(),
                    });
                }
            }
            Err(message) => errors.push(LineError { line: n, message }),
        }
    };
    one(Ok(first));
    while let Some(l) = reader.next_line() {
        one(l);
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors)
    }
}

/// Lines of at most [`MAX_LINE_BYTES`], numbered from 1; a longer line or
/// one that is not UTF-8 is an error for that line, and reading goes on.
struct LineReader<R> {
    input: R,
    n: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    fn new(input: R) -> Self {
        LineReader {
            input,
            n: 0,
            buf: Vec::new(),
        }
    }

    fn next_line(&mut self) -> Option<std::result::Result<(u64, String), LineError>> {
        self.buf.clear();
        let limit = (MAX_LINE_BYTES + 1) as u64;
        let read = Read::take(&mut self.input, limit).read_until(b'\n', &mut self.buf);
        self.n += 1;
        let line = self.n;
        match read {
            Err(e) => Some(Err(LineError {
                line,
                message: format!("reading the list: {e}"),
            })),
            Ok(0) => None,
            Ok(_) if self.buf.len() > MAX_LINE_BYTES && !self.buf.ends_with(b"\n") => {
                // Skip the rest of this line, a bounded piece at a time,
                // then go on with the next.
                let mut sink = Vec::new();
                loop {
                    sink.clear();
                    match Read::take(&mut self.input, limit).read_until(b'\n', &mut sink) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if sink.ends_with(b"\n") => break,
                        Ok(_) => {}
                    }
                }
                Some(Err(LineError {
                    line,
                    message: format!("longer than {MAX_LINE_BYTES} bytes"),
                }))
            }
            Ok(_) => {
                while self.buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    self.buf.pop();
                }
                match std::str::from_utf8(&self.buf) {
                    Ok(s) => Some(Ok((line, s.to_string()))),
                    Err(_) => Some(Err(LineError {
                        line,
                        message: "not UTF-8 text".into(),
                    })),
                }
            }
        }
    }
}

/// Longest text kept from a list's field (source, URL, id, label).
const MAX_FIELD_CHARS: usize = 2048;

fn field(name: &str, s: &str) -> std::result::Result<String, String> {
    if s.chars().count() > MAX_FIELD_CHARS {
        return Err(format!(
            "`{name}` is longer than {MAX_FIELD_CHARS} characters"
        ));
    }
    Ok(s.to_string())
}

/// A date as the archive stores it: ISO 8601, a day or a time with or
/// without its offset (`2019-06-12`, `2019-06-12T10:00:00Z`,
/// `2021-05-07T18:07:52+0000`); anything else is refused, because "earliest"
/// compares these as text.
fn check_date(s: &str) -> std::result::Result<String, String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let ok = NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
        || NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || DateTime::parse_from_rfc3339(s).is_ok()
        || DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z").is_ok();
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not an ISO 8601 date (2019-06-12, 2019-06-12T10:00:00Z)"
        ))
    }
}

fn hex_bits(kind: HashKind, s: &str) -> std::result::Result<HashBits, String> {
    let want = kind.bits() as usize / 4;
    if s.len() != want || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "{} hash {:?} is not {want} hex digits",
            kind.name(),
            s.chars().take(80).collect::<String>()
        ));
    }
    HashBits::from_hex(kind, s).ok_or_else(|| format!("{} hash {s:?} does not parse", kind.name()))
}

fn retrace_line(
    text: &str,
    opts: &ImportOptions,
) -> std::result::Result<(NewImage, Sighting), String> {
    let line: Line = serde_json::from_str(text).map_err(|e| format!("not a {SCHEMA} line: {e}"))?;
    if line.schema != SCHEMA {
        return Err(format!(
            "schema {:?}: this retrace reads {SCHEMA}",
            line.schema.chars().take(80).collect::<String>()
        ));
    }
    let first_seen = check_date(&line.first_seen)?;
    let mut hashes = Vec::new();
    let mut pairs = HashSet::new();
    for h in &line.hashes {
        let kind = HashKind::from_name(&h.kind).ok_or_else(|| {
            format!(
                "unknown hash kind {:?} (pdq, phash, dhash)",
                h.kind.chars().take(40).collect::<String>()
            )
        })?;
        let stamp = line.stamps.get(kind.name()).map(String::as_str);
        if stamp != Some(kind.stamp()) {
            return Err(match stamp {
                Some(other) => format!(
                    "{} hashes made by {:?}; this retrace compares only {:?} (a list from \
                     another version of retrace: export it again with this one)",
                    kind.name(),
                    other.chars().take(120).collect::<String>(),
                    kind.stamp()
                ),
                None => format!("no stamp for the {} hashes in `stamps`", kind.name()),
            });
        }
        if h.region != "full" && !ARCHIVE_WINDOWS.iter().any(|(n, _)| *n == h.region) {
            return Err(format!(
                "unknown region {:?}",
                h.region.chars().take(40).collect::<String>()
            ));
        }
        if !pairs.insert((kind, h.region.clone())) {
            return Err(format!(
                "two {} hashes for region {}",
                kind.name(),
                h.region
            ));
        }
        let quality = match (kind, h.quality) {
            (HashKind::Pdq, Some(q)) if q > 100 => {
                return Err(format!("PDQ quality {q} is above 100"))
            }
            (HashKind::Pdq, q) => q,
            (_, Some(_)) => return Err(format!("a {} hash has no quality", kind.name())),
            (_, None) => None,
        };
        hashes.push(StoredHash {
            region: h.region.clone(),
            bits: hex_bits(kind, &h.bits)?,
            quality,
        });
    }
    let full_pdq = hashes
        .iter()
        .find(|h| h.region == "full" && h.bits.kind == HashKind::Pdq)
        .map(|h| h.bits);
    let (sha256, content) = match &line.sha256 {
        Some(s) => {
            if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(format!(
                    "sha256 {:?} is not 64 lower-case hex digits",
                    s.chars().take(80).collect::<String>()
                ));
            }
            (s.clone(), true)
        }
        None => match &full_pdq {
            Some(p) => (key_of_pdq(p), false),
            None => return Err("no sha256 and no whole-frame PDQ hash to know the entry by".into()),
        },
    };
    if hashes.is_empty() {
        return Err("no hashes".into());
    }
    let labels = line
        .labels
        .iter()
        .map(|l| field("labels", l))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let meta = HashOnly {
        list: opts.list_name.clone(),
        format: SCHEMA.into(),
        content_sha256: content,
        id: None,
        labels,
        first_seen_from: Some(field("first_seen_from", line.first_seen_from.as_str())?.into()),
    };
    let source = match &opts.source {
        Some(s) => s.clone(),
        None => field("source", &line.source)?,
    };
    let url = line.url.as_deref().map(|u| field("url", u)).transpose()?;
    Ok((
        NewImage {
            sha256,
            format: field("format", line.format.as_deref().unwrap_or(""))?,
            width: line.width,
            height: line.height,
            bytes: 0,
            metadata_json: serde_json::json!({ "hash_only": meta }).to_string(),
            thumb: None,
            hashes,
            features: None,
        },
        Sighting {
            location: url
                .clone()
                .unwrap_or_else(|| format!("hash list {}", opts.list_name)),
            source,
            url,
            first_seen,
            first_seen_from: FirstSeenFrom::HashList,
        },
    ))
}

fn threatexchange_row(
    text: &str,
    opts: &ImportOptions,
) -> std::result::Result<(NewImage, Sighting), String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    match rdr.read_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Err("no columns".into()),
        Err(e) => return Err(format!("not CSV: {e}")),
    }
    if record.len() > 4 {
        return Err(format!(
            "{} columns; a ThreatExchange PDQ row has at most 4 (pdq_hex,id,added_on,labels)",
            record.len()
        ));
    }
    let col = |i: usize| record.get(i).map(str::trim).unwrap_or("");
    let pdq = hex_bits(HashKind::Pdq, col(0))
        .map_err(|e| format!("{e}: a ThreatExchange PDQ row starts with the 64-hex-digit hash"))?;
    let id = Some(field("id", col(1))?).filter(|s| !s.is_empty());
    let (first_seen, from) = match col(2) {
        "" => (opts.now.clone(), FirstSeenFrom::Recorded),
        d => (check_date(d)?, FirstSeenFrom::HashList),
    };
    let labels: Vec<String> = col(3)
        .split_whitespace()
        .map(|l| field("labels", l))
        .collect::<std::result::Result<_, _>>()?;
    let meta = HashOnly {
        list: opts.list_name.clone(),
        format: "threatexchange".into(),
        content_sha256: false,
        id: id.clone(),
        labels,
        first_seen_from: None,
    };
    Ok((
        NewImage {
            sha256: key_of_pdq(&pdq),
            format: String::new(),
            width: None,
            height: None,
            bytes: 0,
            metadata_json: serde_json::json!({ "hash_only": meta }).to_string(),
            thumb: None,
            hashes: vec![StoredHash {
                region: "full".into(),
                bits: pdq,
                quality: None,
            }],
            features: None,
        },
        Sighting {
            location: match &id {
                Some(id) => format!("threatexchange:{id}"),
                None => format!("hash list {}", opts.list_name),
            },
            source: opts
                .source
                .clone()
                .unwrap_or_else(|| format!("ThreatExchange list {}", opts.list_name)),
            url: None,
            first_seen,
            first_seen_from: from,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<std::result::Result<(u64, usize), String>> {
        let mut r = LineReader::new(input);
        std::iter::from_fn(|| r.next_line())
            .map(|l| {
                l.map(|(n, s)| (n, s.len()))
                    .map_err(|e| format!("{}: {}", e.line, e.message))
            })
            .collect()
    }

    #[test]
    fn a_line_at_the_cap_is_read_one_past_it_is_refused_and_the_next_keeps_its_number() {
        let mut input = vec![b'a'; MAX_LINE_BYTES];
        input.push(b'\n');
        input.extend(vec![b'b'; MAX_LINE_BYTES + 1]);
        input.extend(b"\r\nshort\n");
        input.extend(vec![b'c'; 3 * MAX_LINE_BYTES]);
        let got = lines(&input);
        assert_eq!(
            got,
            vec![
                Ok((1, MAX_LINE_BYTES)),
                Err(format!("2: longer than {MAX_LINE_BYTES} bytes")),
                Ok((3, 5)),
                Err(format!("4: longer than {MAX_LINE_BYTES} bytes")),
            ]
        );
        assert_eq!(
            lines(b"\xff\xfe\nok"),
            vec![Err("1: not UTF-8 text".into()), Ok((2, 2))]
        );
    }

    #[test]
    fn a_pdq_key_is_stable_and_never_a_hash_of_the_hex_alone() {
        let p = HashBits::from_hex(HashKind::Pdq, &"ab".repeat(32)).unwrap();
        assert_eq!(key_of_pdq(&p), key_of_pdq(&p));
        let plain = crate::input::read::hex(&Sha256::digest(p.to_hex().as_bytes()));
        assert_ne!(key_of_pdq(&p), plain);
        assert_eq!(key_of_pdq(&p).len(), 64);
    }

    #[test]
    fn dates_are_iso_8601_or_refused() {
        for ok in [
            "2019-06-12",
            "2019-06-12T10:00:00",
            "2019-06-12T10:00:00Z",
            "2021-05-07T18:07:52+0000",
            "2019-06-12T10:00:00.5+02:00",
        ] {
            assert!(check_date(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "2019-13-01",
            "12/06/2019",
            "2019-06-12Tnoon",
            "2019-06-12 junk",
            "yesterday",
        ] {
            assert!(check_date(bad).is_err(), "{bad}");
        }
    }
}
