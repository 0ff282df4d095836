//! What `scan` keeps of each picture once its report has been streamed
//! (`--jsonl`) or written (`--out`): the table, `summary.json`, the
//! near-duplicate groups, the HTML index and the exit status are made at the
//! end of the batch, and a whole [`Report`] is ~4.7 KB inline whatever it holds
//! (~0.5 GB at 100 000 files). A [`BatchRecord`] holds only what those outputs
//! read, and the values that repeat across a batch (earliest copies, finding
//! lists, claimed dates) are shared rather than copied per file.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::Hash;
use std::path::Path;
use std::sync::Arc;

use crate::evidence::{Confidence, Severity, StageError};
use crate::hash::{HashBits, HashKind};
use crate::pipeline::cluster::Member;
use crate::report::{CopyRef, Outcome, Report};

/// A content SHA-256: 32 bytes instead of 64 hex digits on the heap. Any
/// other text (no report this version writes has one) is kept as it was, so
/// nothing printed from it can differ from the report.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Digest {
    Bytes([u8; 32]),
    Text(Box<str>),
}

impl Digest {
    fn of(s: &str) -> Digest {
        let b = s.as_bytes();
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            // Upper case would not print back the same.
            _ => None,
        };
        let mut out = [0u8; 32];
        if b.len() == 64 {
            let ok = out.iter_mut().zip(b.chunks_exact(2)).all(|(o, pair)| {
                match (nibble(pair[0]), nibble(pair[1])) {
                    (Some(hi), Some(lo)) => {
                        *o = hi << 4 | lo;
                        true
                    }
                    _ => false,
                }
            });
            if ok {
                return Digest::Bytes(out);
            }
        }
        Digest::Text(s.into())
    }

    fn hex(&self) -> Cow<'_, str> {
        match self {
            Digest::Bytes(b) => Cow::Owned(b.iter().map(|x| format!("{x:02x}")).collect()),
            Digest::Text(t) => Cow::Borrowed(t),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Digest::Bytes(b) => b,
            Digest::Text(t) => t.as_bytes(),
        }
    }
}

/// The earliest copy as the table, the summary and the index show it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EarliestCopy {
    sha256: Box<str>,
    path: Box<str>,
    source: Box<str>,
    url: Option<Box<str>>,
    first_seen: Box<str>,
    confidence: Confidence,
    transform: Box<str>,
    region: Option<Box<str>>,
}

type Findings = Arc<[(Arc<str>, Severity)]>;

const EXIF: u8 = 1;
const EARLIER_COPY: u8 = 2;
const ARCHIVE_SEARCHED: u8 = 4;
const HASHED: u8 = 8;
const PDQ: u8 = 16;
const PHASH: u8 = 32;
const DHASH: u8 = 64;
const CROP_SEARCH_OFF: u8 = 128;

/// What a batch keeps of one report.
#[derive(Debug)]
pub struct BatchRecord {
    path: Box<str>,
    sha256: Option<Digest>,
    pdq: [u64; 4],
    phash: u64,
    dhash: u64,
    bytes: u64,
    archive_images: Option<u64>,
    width: u32,
    height: u32,
    pdq_quality: u8,
    flags: u8,
    earliest_copy: Option<Arc<EarliestCopy>>,
    findings: Findings,
    errors: Box<[StageError]>,
    claim_date: Option<Arc<str>>,
    /// Where `--out` wrote the report, which is read back to add its group.
    pub written: Option<Box<Path>>,
    /// The file name of its `--html` page.
    pub page: Option<Box<str>>,
}

impl BatchRecord {
    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The file as given or found.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The content SHA-256 as the report wrote it.
    pub fn sha256(&self) -> Option<Cow<'_, str>> {
        self.sha256.as_ref().map(Digest::hex)
    }

    /// Content SHA-256 of the earliest copy, when one was found: the key the
    /// batch index groups pictures by.
    pub fn earliest_copy_sha256(&self) -> Option<&str> {
        self.earliest_copy.as_deref().map(|c| &*c.sha256)
    }

    /// Whether an earlier copy was found.
    pub fn has_earlier_copy(&self) -> bool {
        self.has(EARLIER_COPY)
    }

    /// Whether a stage failed.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The stages that failed.
    pub fn errors(&self) -> &[StageError] {
        &self.errors
    }

    /// The earliest copy.
    pub fn earliest_copy(&self) -> Option<CopyRef<'_>> {
        self.earliest_copy.as_deref().map(|m| CopyRef {
            path: &m.path,
            source: &m.source,
            url: m.url.as_deref(),
            first_seen: &m.first_seen,
            confidence: m.confidence,
            transform: &m.transform,
            region: m.region.as_deref(),
        })
    }

    /// Finding codes, most severe first.
    pub fn finding_codes(&self) -> impl Iterator<Item = &str> {
        self.findings.iter().map(|(c, _)| &**c)
    }

    /// What the one-line verdicts read: the same as [`Report::outcome`] of
    /// the report this record was kept from.
    pub fn outcome(&self) -> Outcome<'_> {
        Outcome {
            path: &self.path,
            readable: self.sha256.is_some(),
            hashed: self.has(HASHED),
            errors: &self.errors,
            has_earlier_copy: self.has_earlier_copy(),
            earliest_copy: self.earliest_copy(),
            archive_searched: self.has(ARCHIVE_SEARCHED),
            archive_images: self.archive_images,
            crop_search_off: self.has(CROP_SEARCH_OFF),
            claim_date: self.claim_date.as_deref(),
            findings: self.findings.iter().map(|(c, s)| (&**c, *s)).collect(),
        }
    }
}

impl Member for BatchRecord {
    fn path(&self) -> &str {
        &self.path
    }
    fn content(&self) -> Option<&[u8]> {
        self.sha256.as_ref().map(Digest::bytes)
    }
    fn hash(&self, kind: HashKind) -> Option<HashBits> {
        let (flag, words) = match kind {
            HashKind::Pdq => (PDQ, self.pdq),
            HashKind::Phash => (PHASH, [self.phash, 0, 0, 0]),
            HashKind::Dhash => (DHASH, [self.dhash, 0, 0, 0]),
        };
        self.has(flag).then_some(HashBits { kind, words })
    }
    /// Saturated at 255: only ever compared with a `u8` threshold.
    fn pdq_quality(&self) -> u64 {
        u64::from(self.pdq_quality)
    }
    fn size(&self) -> (u32, u32, u64, bool) {
        (self.width, self.height, self.bytes, self.has(EXIF))
    }
    fn archived(&self) -> Option<&str> {
        self.earliest_copy.as_deref().map(|c| &*c.sha256)
    }
}

/// The records of a batch and the values they share.
#[derive(Debug, Default)]
pub struct Batch {
    records: Vec<BatchRecord>,
    strings: HashSet<Arc<str>>,
    copies: HashSet<Arc<EarliestCopy>>,
    findings: HashSet<Findings>,
}

/// One shared copy per distinct value.
fn intern<T: ?Sized + Eq + Hash>(
    set: &mut HashSet<Arc<T>>,
    value: &T,
    share: impl FnOnce(&T) -> Arc<T>,
) -> Arc<T> {
    if let Some(shared) = set.get(value) {
        return shared.clone();
    }
    let shared = share(value);
    set.insert(shared.clone());
    shared
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Keep what the batch's outputs need of a finished report; the caller
    /// fills in [`BatchRecord::written`] and [`BatchRecord::page`].
    pub fn keep(&mut self, r: &Report) -> &mut BatchRecord {
        let mut flags = 0;
        let mut set = |on: bool, flag: u8| {
            if on {
                flags |= flag
            }
        };
        set(r.archive.crop_search_off(), CROP_SEARCH_OFF);
        set(
            r.metadata.as_ref().is_some_and(|m| !m.exif.is_empty()),
            EXIF,
        );
        set(r.has_earlier_copy(), EARLIER_COPY);
        set(r.archive.searched, ARCHIVE_SEARCHED);
        // The whole-frame hashes only: a thumbnail's or a preview's alone do
        // not make the picture itself hashed in the table.
        set(
            ["pdq", "pdq_quality", "phash", "dhash"]
                .iter()
                .any(|k| r.hashes.contains_key(*k)),
            HASHED,
        );
        let pdq = r.hash(HashKind::Pdq);
        let phash = r.hash(HashKind::Phash);
        let dhash = r.hash(HashKind::Dhash);
        set(pdq.is_some(), PDQ);
        set(phash.is_some(), PHASH);
        set(dhash.is_some(), DHASH);
        let earliest_copy = r.earliest_copy.as_ref().map(|m| {
            let copy = EarliestCopy {
                sha256: m.sha256.as_str().into(),
                path: m.path.as_str().into(),
                source: m.source.as_str().into(),
                url: m.url.as_deref().map(Into::into),
                first_seen: m.first_seen.as_str().into(),
                confidence: m.confidence,
                transform: m.transform.as_str().into(),
                region: m.region.as_ref().map(|r| r.description.as_str().into()),
            };
            intern(&mut self.copies, &copy, |c| Arc::new(c.clone()))
        });
        let findings: Vec<(Arc<str>, Severity)> = r
            .findings
            .iter()
            .map(|f| {
                (
                    intern(&mut self.strings, f.code.as_str(), |v| Arc::from(v)),
                    f.severity,
                )
            })
            .collect();
        let findings = intern(&mut self.findings, findings.as_slice(), |v| Arc::from(v));
        let claim_date = r
            .claim_date
            .as_deref()
            .map(|d| intern(&mut self.strings, d, |v| Arc::from(v)));
        self.records.push(BatchRecord {
            path: r.path.as_str().into(),
            sha256: r.sha256.as_deref().map(Digest::of),
            pdq: pdq.map_or([0; 4], |h| h.words),
            phash: phash.map_or(0, |h| h.words[0]),
            dhash: dhash.map_or(0, |h| h.words[0]),
            bytes: r.bytes.unwrap_or(0),
            archive_images: r.archive.images,
            width: r.width.unwrap_or(0),
            height: r.height.unwrap_or(0),
            pdq_quality: u8::try_from(r.pdq_quality()).unwrap_or(u8::MAX),
            flags,
            earliest_copy,
            findings,
            errors: r.errors.clone().into_boxed_slice(),
            claim_date,
            written: None,
            page: None,
        });
        let last = self.records.len() - 1;
        &mut self.records[last]
    }

    /// In path order (then content), as the table and the groups' numbers are.
    pub fn sort(&mut self) {
        self.records.sort_by(|a, b| {
            a.path
                .cmp(&b.path)
                .then_with(|| a.sha256().cmp(&b.sha256()))
        });
    }

    /// The records, in the order kept or sorted.
    pub fn records(&self) -> &[BatchRecord] {
        &self.records
    }

    /// How many pictures the batch holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch holds none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{Finding, FindingCode, Match};
    use crate::metadata::{ExifField, Metadata};

    fn copy(path: &str) -> Match {
        Match {
            path: path.into(),
            sha256: "cd".repeat(32),
            source: "Agency".into(),
            url: Some("https://example.org/p".into()),
            first_seen: "2019-06-12".into(),
            first_seen_from: crate::evidence::FirstSeenFrom::Manifest,
            distance: Default::default(),
            exact: false,
            transform: "mirror".into(),
            region: None,
            confidence: Confidence::Possible,
            evidence: vec!["pdq 10".into()],
            sightings: 1,
            format: "jpeg".into(),
            width: Some(10),
            height: Some(10),
            chance: None,
            geometry: None,
            hash_only: false,
        }
    }

    fn full(path: &str, sha: &str) -> Report {
        let mut r = Report::new(path.into());
        r.sha256 = Some(sha.into());
        r.bytes = Some(123_456);
        r.width = Some(640);
        r.height = Some(480);
        r.metadata = Some(Metadata {
            make: Some("Canon".into()),
            exif: vec![ExifField {
                ifd: "0th".into(),
                tag: "Make".into(),
                value: "Canon".into(),
            }],
            ..Default::default()
        });
        r.hashes.insert("pdq".into(), "0f".repeat(32).into());
        r.hashes.insert("phash".into(), "a1b2c3d4e5f60718".into());
        r.hashes.insert("dhash".into(), "FFEE000000000001".into());
        r.hashes.insert("pdq_quality".into(), 300.into());
        r.hashes
            .insert("thumbnail_pdq".into(), "00".repeat(32).into());
        r.matches = vec![copy("archive/a.jpg"), copy("archive/b.jpg")];
        r.earliest_copy = Some(copy("archive/a.jpg"));
        r.findings = vec![
            Finding::new(FindingCode::EarlierCopy, Severity::High, "long text"),
            Finding::new(FindingCode::NoMetadata, Severity::Info, "more text"),
        ];
        r.errors = vec![StageError {
            stage: crate::evidence::Stage::Metadata,
            message: "damaged".into(),
        }];
        r.archive.searched = true;
        r.archive.images = Some(7);
        r.claim_date = Some("2024-03-01".into());
        r
    }

    #[test]
    fn a_record_reads_as_its_report_does() {
        let sha = "0123456789abcdef".repeat(4);
        let r = full("in/a.jpg", &sha);
        let mut batch = Batch::new();
        let kept = batch.keep(&r);
        assert_eq!(kept.outcome(), r.outcome());
        assert_eq!(kept.sha256().as_deref(), Some(sha.as_str()));
        let bytes = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef].repeat(4);
        assert_eq!(kept.content(), Some(bytes.as_slice()));
        assert_eq!(
            kept.finding_codes().collect::<Vec<_>>(),
            ["earlier_copy", "no_metadata"]
        );
        for kind in [HashKind::Pdq, HashKind::Phash, HashKind::Dhash] {
            assert_eq!(kept.hash(kind), r.hash(kind), "{kind:?}");
        }
        assert_eq!(kept.pdq_quality(), 255);
        assert_eq!(kept.size(), r.size());
        assert!(kept.has_earlier_copy() && kept.has_errors());
    }

    #[test]
    fn unusual_digests_and_missing_hashes_are_kept_as_they_were() {
        let mut batch = Batch::new();
        for sha in ["ABCD".repeat(16), "xyz".into(), String::new()] {
            let r = full("b.jpg", &sha);
            let kept = batch.keep(&r);
            assert_eq!(kept.sha256().as_deref(), Some(sha.as_str()));
            assert_eq!(kept.content(), Some(sha.as_bytes()));
        }
        // Only a thumbnail hashed: the picture itself was not (the table says
        // ERROR for such a file with errors), and nothing is there to group by.
        let mut r = Report::new("c.jpg".into());
        r.hashes
            .insert("thumbnail_pdq".into(), "00".repeat(32).into());
        let kept = batch.keep(&r);
        assert!(!kept.outcome().hashed && r.outcome().hashed);
        assert_eq!(kept.hash(HashKind::Pdq), None);
        assert_eq!(kept.size(), (0, 0, 0, false));
        assert_eq!(kept.sha256(), None);
        assert_eq!(batch.len(), 4);
    }

    #[test]
    fn repeated_values_are_shared_and_a_record_stays_small() {
        let mut batch = Batch::new();
        for i in 0..3 {
            batch.keep(&full(&format!("{i}.jpg"), &"00".repeat(32)));
        }
        let r = batch.records();
        assert!(Arc::ptr_eq(
            r[0].earliest_copy.as_ref().unwrap(),
            r[2].earliest_copy.as_ref().unwrap()
        ));
        assert!(Arc::ptr_eq(&r[0].findings, &r[1].findings));
        assert_eq!((batch.copies.len(), batch.findings.len()), (1, 1));
        // What a batch costs per file besides its path and any errors (232
        // bytes when written): a field that grows it is a cost at 100 000 files.
        let record = std::mem::size_of::<BatchRecord>();
        assert!(record <= 240, "{record} bytes");
    }

    #[test]
    fn sorting_follows_path_then_content() {
        let mut batch = Batch::new();
        batch.keep(&full("b.jpg", &"11".repeat(32)));
        batch.keep(&full("a.jpg", &"ff".repeat(32)));
        batch.keep(&full("a.jpg", &"0a".repeat(32)));
        batch.keep(&Report::new("a.jpg".into()));
        batch.sort();
        let order: Vec<_> = batch
            .records()
            .iter()
            .map(|r| (r.path(), r.sha256().map(|s| s[..2].to_string())))
            .collect();
        assert_eq!(
            order,
            [
                ("a.jpg", None),
                ("a.jpg", Some("0a".into())),
                ("a.jpg", Some("ff".into())),
                ("b.jpg", Some("11".into()))
            ]
        );
    }
}
