//! The archive of pictures seen before. Each distinct content (SHA-256) is one
//! image row with its hashes, a metadata summary and a verification thumbnail;
//! every time it was seen is a sighting. Every write is one transaction, so an
//! interrupted run leaves the archive as it was after the last committed batch.
//!
//! [`Archive`] is the face the rest of retrace uses; behind it an
//! [`ArchiveBackend`] holds the data: a SQLite file (`sqlite.rs`, the default)
//! or a PostgreSQL database shared by many workers (`postgres.rs`, cargo
//! feature `postgres`), chosen by the location: `postgres://` or
//! `postgresql://` URLs go to PostgreSQL, anything else is a file. The backend
//! modules are the only ones that speak SQL.
//!
//! Dates are stored as ISO 8601 text as given (`2008-01-22T03:28:22`,
//! `2019-06-12`, `2024-03-01T10:00:00Z`); "earliest" compares them as text
//! (bytewise, `COLLATE "C"` on PostgreSQL), which orders correctly to the second
//! for dates of the same shape and to the day across shapes. Camera times
//! without an offset are local times anyway.
//!
//! Following new rows: image ids only grow, and an image's hashes are written
//! in the transaction that creates it and never afterwards, so "every image with
//! an id above the highest one loaded" is exactly what a worker's in-memory
//! index is missing ([`Archive::hashes_since`]). Both backends make ids visible
//! in commit order (SQLite has one writer at a time; PostgreSQL writers take one
//! advisory lock per transaction), so no row can appear below the mark later.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::evidence::FirstSeenFrom;
use crate::hash::{HashBits, HashKind};

pub mod hashlist;
#[cfg(feature = "postgres")]
mod postgres;
mod sqlite;

/// One step of the archive's schema, written once for each backend. The
/// schema at version N is what the first N steps make.
///
/// To change the schema, append a step with a file for each backend under
/// `migrations/` (never edit one that has shipped: archives out there have run
/// it). Both backends then bring every archive they open up to date, once,
/// under their lock: SQLite in one `BEGIN IMMEDIATE` transaction (one writer
/// at a time), PostgreSQL in one transaction under an advisory lock; a
/// process that comes second finds the work done. An archive whose version is
/// above [`SCHEMA_VERSION`] was written by a newer retrace and is refused
/// before anything in it is changed.
pub(crate) struct Migration {
    /// What the step adds, for messages.
    pub name: &'static str,
    /// The step in SQLite's dialect.
    pub sqlite: &'static str,
    /// The step in PostgreSQL's dialect.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub postgres: &'static str,
}

/// Every step, oldest first.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "initial",
        sqlite: include_str!("migrations/sqlite/0001_initial.sql"),
        postgres: include_str!("migrations/postgres/0001_initial.sql"),
    },
    Migration {
        name: "watched_files",
        sqlite: include_str!("migrations/sqlite/0002_watched_files.sql"),
        postgres: include_str!("migrations/postgres/0002_watched_files.sql"),
    },
    Migration {
        name: "features",
        sqlite: include_str!("migrations/sqlite/0003_features.sql"),
        postgres: include_str!("migrations/postgres/0003_features.sql"),
    },
];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The refusal of an archive whose schema is newer than this build's: its
/// tables may mean things this build does not know, so it neither reads nor
/// writes them.
fn newer_schema(found: u32) -> Error {
    Error::Archive(format!(
        "the archive's schema is version {found}, newer than the {SCHEMA_VERSION} this retrace ({}) understands: \
         it was written by a newer retrace; use that version or a newer one (the archive was not changed)",
        env!("CARGO_PKG_VERSION")
    ))
}

/// A picture to record.
#[derive(Debug, Clone)]
pub struct NewImage {
    /// Content SHA-256 (hex).
    pub sha256: String,
    /// Container format name.
    pub format: String,
    /// Pixel width as displayed, when decoded.
    pub width: Option<u32>,
    /// Pixel height as displayed, when decoded.
    pub height: Option<u32>,
    /// File size.
    pub bytes: u64,
    /// Metadata summary (JSON object).
    pub metadata_json: String,
    /// Verification thumbnail bytes.
    pub thumb: Option<Vec<u8>>,
    /// Hashes of the whole picture and of its regions.
    pub hashes: Vec<StoredHash>,
    /// Its local features, when it has any (see the `features` stage).
    pub features: Option<StoredFeatures>,
}

/// A picture's local features as the archive keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFeatures {
    /// Keypoints and descriptors, [`crate::features::Features::to_bytes`]
    /// (made as [`crate::features::STAMP`] names).
    pub data: Vec<u8>,
    /// Their visual words under [`crate::features::vocabulary::STAMP`]
    /// ([`crate::index::features::words_to_bytes`]): what the index is built from.
    pub words: Vec<u8>,
}

/// Where a backend hands the stored words it streams: (image id, words).
pub type WordSink<'a> = dyn FnMut(i64, &[u8]) + 'a;

/// One stored hash.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredHash {
    /// Which part of the picture: `full` or a region name.
    pub region: String,
    /// The bits (their kind says the algorithm).
    pub bits: HashBits,
    /// Quality score where the algorithm has one (PDQ).
    pub quality: Option<u8>,
}

/// Where and when a picture was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sighting {
    /// Path or URL.
    pub location: String,
    /// Who or what it came from (a human label).
    pub source: String,
    /// Where it was published, when known.
    pub url: Option<String>,
    /// ISO 8601 time it was first seen.
    pub first_seen: String,
    /// Where `first_seen` came from.
    pub first_seen_from: FirstSeenFrom,
}

/// Result of recording one picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// New content.
    Added,
    /// Content was known; a sighting was added (or already existed).
    AlreadyKnown,
}

/// What the archive knows of one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KnownImage {
    /// Row id.
    pub id: i64,
    /// Content SHA-256.
    pub sha256: String,
    /// Container format.
    pub format: String,
    /// Width.
    pub width: Option<u32>,
    /// Height.
    pub height: Option<u32>,
    /// The earliest sighting.
    pub earliest: Sighting,
    /// How many sightings in all.
    pub sightings: u64,
    /// Metadata summary as recorded.
    pub metadata_json: String,
}

/// Counts and ranges for `archive info`.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveInfo {
    /// Database file, or the PostgreSQL URL without its password.
    pub path: PathBuf,
    /// Schema version found in the file.
    pub schema_version: u32,
    /// Distinct images.
    pub images: u64,
    /// Sightings.
    pub sightings: u64,
    /// Earliest first-seen.
    pub first_seen_min: Option<String>,
    /// Latest first-seen.
    pub first_seen_max: Option<String>,
    /// Hash stamps present with their counts; only the current ones are matched.
    pub hash_stamps: Vec<(String, u64)>,
    /// Images with local features (current stamps): partial copies of the
    /// others are found by their hashes only. Pictures recorded before
    /// retrace kept features get them when their files are added again.
    pub with_features: u64,
}

/// One stored hash as loaded for the index: (image id, region, bits, quality).
pub type HashRow = (i64, String, HashBits, Option<u8>);

/// Where a backend hands the hash rows it streams: (image id, region borrowed
/// from the row buffer, bits, quality).
pub type HashSink<'a> = dyn FnMut(i64, &str, HashBits, Option<u8>) + 'a;

/// What a full load of the current hashes saw, in one snapshot of the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loaded {
    /// The highest image id in the snapshot: the next follow starts above it.
    pub last_id: i64,
    /// Images in the snapshot.
    pub images: u64,
}

/// The hashes of images recorded since a mark (see [`Archive::hashes_since`]).
#[derive(Debug, Clone, Default)]
pub struct Since {
    /// The highest image id read; the next call starts above it. Equal to the
    /// mark given when nothing was new.
    pub last_id: i64,
    /// New images read.
    pub images: u64,
    /// Their current-stamp hashes.
    pub rows: Vec<HashRow>,
    /// Their visual words (current stamps), by image id.
    pub words: Vec<(i64, Vec<u8>)>,
}

/// The storage behind an [`Archive`]: the only code that speaks SQL. Every
/// method is one statement or one transaction; ids are the backend's own.
pub trait ArchiveBackend: Send {
    /// Record pictures and their sightings in one transaction (see
    /// [`Archive::record_batch`]).
    fn record_batch(&mut self, items: &[(NewImage, Sighting)]) -> Result<Vec<Recorded>>;
    /// The image id for a content hash, when known.
    fn lookup_sha256(&self, sha256: &str) -> Result<Option<i64>>;
    /// Everything known of one image, with its earliest sighting.
    fn known_image(&self, id: i64) -> Result<Option<KnownImage>>;
    /// All sightings of one image, earliest first.
    fn sightings(&self, id: i64) -> Result<Vec<Sighting>>;
    /// The verification thumbnail of one image.
    fn thumb(&self, id: i64) -> Result<Option<Vec<u8>>>;
    /// The current-stamp hashes of one image, ordered by kind and region, so
    /// that matching breaks ties between equal distances the same way on
    /// every backend.
    fn image_hashes(&self, id: i64) -> Result<Vec<StoredHash>>;
    /// Stream every current-stamp hash to `f`, in one snapshot, and say what
    /// that snapshot held.
    fn load_current_hashes(&self, f: &mut HashSink) -> Result<Loaded>;
    /// The stored features of one image, when it has them with the current
    /// stamp; `words` is empty when they were quantised with another vocabulary.
    fn features(&self, id: i64) -> Result<Option<StoredFeatures>>;
    /// Stream the visual words (current stamps) of every image with an id up
    /// to `up_to` to `f`; returns how many.
    fn load_current_words(&self, up_to: i64, f: &mut WordSink) -> Result<u64>;
    /// The hashes of at most `max_images` images with ids above `after`,
    /// lowest ids first.
    fn hashes_since(&self, after: i64, max_images: u32) -> Result<Since>;
    /// At most `max_images` images with ids above `after`, lowest ids first,
    /// with their row ids and everything recorded of them except hashes and
    /// sightings (left empty: see [`ArchiveBackend::image_hashes`] and
    /// [`ArchiveBackend::sightings`]). What [`Archive::copy_into`] pages by.
    fn images_after(&self, after: i64, max_images: u32) -> Result<Vec<(i64, NewImage)>>;
    /// Number of distinct images.
    fn image_count(&self) -> Result<u64>;
    /// Images with an id up to `up_to` that have local features with the
    /// current stamps.
    fn feature_count(&self, up_to: i64) -> Result<u64>;
    /// Counts, ranges and versions (`path` left empty: the facade fills it).
    fn info(&self) -> Result<ArchiveInfo>;
    /// See [`Archive::watched`].
    fn watched(&self, path: &[u8]) -> Result<Option<(u64, i64)>>;
    /// See [`Archive::mark_watched`].
    fn mark_watched(
        &self,
        path: &[u8],
        size: u64,
        mtime_ns: i64,
        sha256: Option<&str>,
        report: &str,
    ) -> Result<()>;
    /// See [`Archive::watched_count`].
    fn watched_count(&self) -> Result<u64>;
    /// The database's own consistency check.
    fn integrity_check(&self) -> Result<()>;
}

/// What [`Archive::copy_into`] read and recorded so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Copied {
    /// Images read from the source.
    pub images: u64,
    /// Of those, content the destination did not have.
    pub added: u64,
    /// Sightings read from the source; each is recorded unless the destination
    /// already has one with the same location and source.
    pub sightings: u64,
    /// Images left behind because the source has no sighting for them (a
    /// damaged archive: every image is recorded with one).
    pub without_sighting: u64,
}

/// Images per step of a copy: one read from the source, one transaction in
/// the destination.
const COPY_STEP: u32 = 64;

/// An open archive.
pub struct Archive {
    backend: Box<dyn ArchiveBackend>,
    // Shown in reports and messages: for PostgreSQL the URL without its password.
    path: PathBuf,
}

/// Current UTC time as ISO 8601.
pub fn now_iso() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Whether an archive location names a PostgreSQL database rather than a file.
pub fn is_postgres_url(location: &Path) -> bool {
    location.to_str().is_some_and(|s| {
        let s = s.trim_start();
        ["postgres://", "postgresql://"]
            .iter()
            .any(|p| s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p))
    })
}

/// An archive location as it may be shown: a file path as given, a PostgreSQL
/// URL with its password (in the user part or a `password=` parameter)
/// replaced by `***`. Every message, log line and report uses this form.
pub fn display_location(location: &Path) -> String {
    if !is_postgres_url(location) {
        return location.display().to_string();
    }
    let s = location.to_string_lossy();
    let (scheme, rest) = s.split_once("://").unwrap_or(("postgres", &s));
    // The authority ends at the first '/', '?' or '#'; its user info at the last '@'.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// The bits of a stored hash when its kind is known, its stamp is the current
/// one and its length fits the kind; a damaged or foreign row is skipped, not
/// trusted.
fn current_bits(kind: &str, stamp: &str, bits: &[u8]) -> Option<HashBits> {
    let kind = HashKind::from_name(kind)?;
    if stamp != kind.stamp() {
        return None;
    }
    HashBits::from_bytes(kind, bits)
}

impl Archive {
    /// Open (creating if needed) and migrate an archive: a SQLite file, or a
    /// PostgreSQL database when `location` is a `postgres://` URL.
    pub fn open(location: &Path) -> Result<Archive> {
        if is_postgres_url(location) {
            return Archive::open_postgres(location);
        }
        Ok(Archive::with_backend(
            Box::new(sqlite::SqliteArchive::open(location)?),
            location.to_path_buf(),
        ))
    }

    /// Open an existing archive without creating it. A PostgreSQL database
    /// exists once its administrator created it; an empty one gets the schema.
    pub fn open_existing(location: &Path) -> Result<Archive> {
        if !is_postgres_url(location) && !location.exists() {
            return Err(Error::Archive(format!(
                "no archive at {} (create one with `retrace archive add`)",
                location.display()
            )));
        }
        Archive::open(location)
    }

    #[cfg(feature = "postgres")]
    fn open_postgres(url: &Path) -> Result<Archive> {
        // Callers name the location (redacted) in their own messages.
        let backend = postgres::PgArchive::connect(&url.to_string_lossy())?;
        Ok(Archive::with_backend(
            Box::new(backend),
            PathBuf::from(display_location(url)),
        ))
    }

    #[cfg(not(feature = "postgres"))]
    fn open_postgres(url: &Path) -> Result<Archive> {
        Err(Error::Archive(format!(
            "{}: this retrace was built without PostgreSQL support (cargo feature `postgres`)",
            display_location(url)
        )))
    }

    /// A throw-away archive in memory, for tests and one-off runs.
    pub fn in_memory() -> Result<Archive> {
        Ok(Archive::with_backend(
            Box::new(sqlite::SqliteArchive::in_memory()?),
            PathBuf::from(":memory:"),
        ))
    }

    /// An archive over a backend of the embedder's own; `shown` is how its
    /// location appears in reports.
    pub fn with_backend(backend: Box<dyn ArchiveBackend>, shown: PathBuf) -> Archive {
        Archive {
            backend,
            path: shown,
        }
    }

    /// The database file, or the PostgreSQL URL without its password.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record pictures and their sightings in one transaction.
    ///
    /// Known content gets a sighting (unless the same location and source are
    /// already recorded, so re-running an import is idempotent), and the image's
    /// first-seen becomes the earliest of all its sightings.
    pub fn record_batch(&mut self, items: &[(NewImage, Sighting)]) -> Result<Vec<Recorded>> {
        self.backend.record_batch(items)
    }

    /// The image id for a content hash, when known.
    pub fn lookup_sha256(&self, sha256: &str) -> Result<Option<i64>> {
        self.backend.lookup_sha256(sha256)
    }

    /// Everything known of one image, with its earliest sighting.
    pub fn known_image(&self, id: i64) -> Result<Option<KnownImage>> {
        self.backend.known_image(id)
    }

    /// All sightings of one image, earliest first.
    pub fn sightings(&self, id: i64) -> Result<Vec<Sighting>> {
        self.backend.sightings(id)
    }

    /// The verification thumbnail of one image.
    pub fn thumb(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.backend.thumb(id)
    }

    /// The current-stamp hashes of one image, every region and kind: matching
    /// measures every algorithm on a candidate, not only the ones the index
    /// happened to return, so a far PDQ distance can veto the 64-bit hashes.
    pub fn image_hashes(&self, id: i64) -> Result<Vec<StoredHash>> {
        self.backend.image_hashes(id)
    }

    /// The stored local features of one image (current stamp) and their
    /// words, for verifying a candidate the feature index pointed at.
    pub fn features(&self, id: i64) -> Result<Option<StoredFeatures>> {
        self.backend.features(id)
    }

    /// The stored features and words of one image (current stamps), as an
    /// archive copy carries them (only with words of this vocabulary).
    fn stored_features(&self, id: i64) -> Result<Option<StoredFeatures>> {
        Ok(self.backend.features(id)?.filter(|f| !f.words.is_empty()))
    }

    /// Hand the visual words of every image up to id `up_to` (the `last_id` of
    /// [`Archive::load_current_hashes`]) to `f`, for building the feature
    /// index; words made with another vocabulary or detector are skipped.
    pub fn load_current_words(&self, up_to: i64, mut f: impl FnMut(i64, &[u8])) -> Result<u64> {
        self.backend.load_current_words(up_to, &mut f)
    }

    /// Every stored hash with the current stamp, for building an in-memory index:
    /// (image id, region, bits, quality). Rows whose bits do not fit their kind
    /// (a damaged or foreign database) are skipped, not trusted.
    pub fn current_hashes(&self) -> Result<Vec<HashRow>> {
        let mut out = Vec::new();
        self.for_each_current_hash(|id, region, bits, quality| {
            out.push((id, region.to_string(), bits, quality));
        })?;
        Ok(out)
    }

    /// [`Archive::current_hashes`] without collecting them: each row is handed to
    /// `f` as it is read, its region borrowed from the database's row buffer.
    pub fn for_each_current_hash(
        &self,
        mut f: impl FnMut(i64, &str, HashBits, Option<u8>),
    ) -> Result<()> {
        self.backend.load_current_hashes(&mut f).map(|_| ())
    }

    /// [`Archive::for_each_current_hash`], also saying what the snapshot read
    /// held: the highest image id (where [`Archive::hashes_since`] goes on) and
    /// the number of images.
    pub fn load_current_hashes(
        &self,
        mut f: impl FnMut(i64, &str, HashBits, Option<u8>),
    ) -> Result<Loaded> {
        self.backend.load_current_hashes(&mut f)
    }

    /// The current-stamp hashes of the images recorded after image id `after`
    /// (by any process), at most `max_images` images per call, lowest ids first:
    /// an index loaded up to `after` follows the archive by calling this until
    /// `last_id` stops moving. Cheap when nothing is new (one indexed lookup).
    pub fn hashes_since(&self, after: i64, max_images: u32) -> Result<Since> {
        self.backend.hashes_since(after, max_images.max(1))
    }

    /// Content SHA-256 of image `id`, whatever else is recorded of it.
    pub fn sha256_of(&self, id: i64) -> Result<Option<String>> {
        Ok(self
            .backend
            .images_after(id.saturating_sub(1), 1)?
            .into_iter()
            .find(|(i, _)| *i == id)
            .map(|(_, img)| img.sha256))
    }

    /// At most `max_images` images with ids above `after`, lowest ids first,
    /// with their ids and what is recorded of them except hashes and
    /// sightings: how an export pages through the archive.
    pub fn images_after(&self, after: i64, max_images: u32) -> Result<Vec<(i64, NewImage)>> {
        self.backend.images_after(after, max_images.max(1))
    }

    /// Number of distinct images.
    pub fn image_count(&self) -> Result<u64> {
        self.backend.image_count()
    }

    /// Images with an id up to `up_to` whose local features (current
    /// stamps) are stored. Re-adding a picture recorded before features
    /// existed fills its features in, which this count sees and an id-based
    /// follow does not: the index snapshot keeps it to notice.
    pub fn feature_count(&self, up_to: i64) -> Result<u64> {
        self.backend.feature_count(up_to)
    }

    /// Record everything this archive holds into `dest` (another file or
    /// backend: a laptop's SQLite archive into the newsroom's PostgreSQL one):
    /// every image with its current-stamp hashes, metadata and thumbnail, and
    /// every sighting with its source, URL and first-seen, so the destination's
    /// first-seen of each picture becomes the earliest of both archives.
    ///
    /// Goes through [`Archive::record_batch`], so the usual rules hold: content
    /// the destination knows gets only the sightings it lacks, and re-running a
    /// copy adds nothing. Each step of 64 images is one transaction
    /// in `dest`; an interrupted copy leaves whole steps and is completed by
    /// running it again. Hashes of other stamps (older hasher versions) are not
    /// copied: this build never matches them. `progress` sees the running
    /// totals after each step.
    pub fn copy_into(
        &self,
        dest: &mut Archive,
        mut progress: impl FnMut(&Copied),
    ) -> Result<Copied> {
        let mut done = Copied::default();
        let mut after = 0;
        loop {
            let page = self.backend.images_after(after, COPY_STEP)?;
            let Some(&(last, _)) = page.last() else {
                break;
            };
            let mut items = Vec::new();
            for (id, mut image) in page {
                image.hashes = self.image_hashes(id)?;
                image.features = self.stored_features(id)?;
                let sightings = self.sightings(id)?;
                done.images += 1;
                done.sightings += sightings.len() as u64;
                if sightings.is_empty() {
                    done.without_sighting += 1;
                }
                // Earliest first, as the source lists them; only the first
                // occurrence of a content can add it, so the others carry no
                // copy of the thumbnail and hashes.
                for (k, s) in sightings.into_iter().enumerate() {
                    let image = if k == 0 {
                        image.clone()
                    } else {
                        NewImage {
                            sha256: image.sha256.clone(),
                            format: image.format.clone(),
                            width: image.width,
                            height: image.height,
                            bytes: image.bytes,
                            metadata_json: String::new(),
                            thumb: None,
                            hashes: Vec::new(),
                            features: None,
                        }
                    };
                    items.push((image, s));
                }
            }
            let mut seen = std::collections::HashSet::new();
            for (r, (image, _)) in dest.record_batch(&items)?.iter().zip(&items) {
                if *r == Recorded::Added && seen.insert(&image.sha256) {
                    done.added += 1;
                }
            }
            after = last;
            progress(&done);
        }
        Ok(done)
    }

    /// Counts, ranges and versions.
    pub fn info(&self) -> Result<ArchiveInfo> {
        let mut info = self.backend.info()?;
        info.path = self.path.clone();
        Ok(info)
    }

    /// The (size, mtime in ns) at which `retrace watch` last processed a file.
    pub fn watched(&self, path: &[u8]) -> Result<Option<(u64, i64)>> {
        self.backend.watched(path)
    }

    /// Remember that `retrace watch` processed this version of a file.
    pub fn mark_watched(
        &self,
        path: &[u8],
        size: u64,
        mtime_ns: i64,
        sha256: Option<&str>,
        report: &str,
    ) -> Result<()> {
        self.backend
            .mark_watched(path, size, mtime_ns, sha256, report)
    }

    /// How many file versions `retrace watch` has processed.
    pub fn watched_count(&self) -> Result<u64> {
        self.backend.watched_count()
    }

    /// Run the database's own consistency check (SQLite's `integrity_check`;
    /// on PostgreSQL the archive's invariants: no image without its sighting,
    /// no first-seen missing).
    pub fn integrity_check(&self) -> Result<()> {
        self.backend.integrity_check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn image(sha: &str) -> NewImage {
        NewImage {
            sha256: sha.to_string(),
            format: "jpeg".into(),
            width: Some(10),
            height: Some(20),
            bytes: 123,
            metadata_json: "{}".into(),
            thumb: Some(vec![1, 2, 3]),
            hashes: vec![StoredHash {
                region: "full".into(),
                bits: HashBits::from_hex(HashKind::Phash, "0123456789abcdef").unwrap(),
                quality: None,
            }],
            features: None,
        }
    }

    pub(super) fn seen(location: &str, when: &str) -> Sighting {
        Sighting {
            location: location.into(),
            source: "test".into(),
            url: None,
            first_seen: when.into(),
            first_seen_from: crate::evidence::FirstSeenFrom::Given,
        }
    }

    #[test]
    fn known_content_gets_a_sighting_and_keeps_the_earliest_date() {
        let mut a = Archive::in_memory().unwrap();
        let r = a
            .record_batch(&[(image("aa"), seen("x.jpg", "2020-05-01"))])
            .unwrap();
        assert_eq!(r, vec![Recorded::Added]);
        let r = a
            .record_batch(&[
                (image("aa"), seen("y.jpg", "2018-01-01T10:00:00")),
                (image("aa"), seen("z.jpg", "2022-01-01")),
            ])
            .unwrap();
        assert_eq!(r, vec![Recorded::AlreadyKnown, Recorded::AlreadyKnown]);
        let id = a.lookup_sha256("aa").unwrap().unwrap();
        let k = a.known_image(id).unwrap().unwrap();
        assert_eq!(k.earliest.location, "y.jpg");
        assert_eq!(k.earliest.first_seen, "2018-01-01T10:00:00");
        assert_eq!(k.sightings, 3);
        // Re-importing the same file from the same source adds nothing.
        a.record_batch(&[(image("aa"), seen("x.jpg", "2020-05-01"))])
            .unwrap();
        assert_eq!(a.info().unwrap().sightings, 3);
        assert_eq!(a.info().unwrap().images, 1);
        assert_eq!(a.current_hashes().unwrap().len(), 1);
        a.integrity_check().unwrap();
    }

    #[test]
    fn reopening_keeps_schema_and_data() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.db");
        {
            let mut a = Archive::open(&p).unwrap();
            a.record_batch(&[(image("dd"), seen("d.jpg", "2001-01-01"))])
                .unwrap();
        }
        let a = Archive::open_existing(&p).unwrap();
        let info = a.info().unwrap();
        assert_eq!(info.schema_version, SCHEMA_VERSION);
        assert_eq!(info.images, 1);
        assert_eq!(info.first_seen_min.as_deref(), Some("2001-01-01"));
        assert!(Archive::open_existing(&dir.path().join("missing.db")).is_err());
    }

    #[test]
    fn watched_files_are_remembered_per_version() {
        let a = Archive::in_memory().unwrap();
        let name = b"/in/\xff odd name.jpg";
        assert_eq!(a.watched(name).unwrap(), None);
        a.mark_watched(name, 10, 5, Some("aa"), "out/x.json")
            .unwrap();
        assert_eq!(a.watched(name).unwrap(), Some((10, 5)));
        a.mark_watched(name, 12, 6, None, "out/x.json").unwrap();
        assert_eq!(a.watched(name).unwrap(), Some((12, 6)));
        assert_eq!(a.watched_count().unwrap(), 1);
    }

    #[test]
    fn following_returns_only_new_images_in_bounded_steps() {
        let mut a = Archive::in_memory().unwrap();
        let loaded = a.load_current_hashes(|_, _, _, _| ()).unwrap();
        assert_eq!(loaded, Loaded::default());
        assert_eq!(a.hashes_since(0, 10).unwrap().images, 0);
        let batch: Vec<_> = ["e1", "e2", "e3"]
            .iter()
            .map(|s| (image(s), seen(&format!("{s}.jpg"), "2020-01-01")))
            .collect();
        a.record_batch(&batch).unwrap();
        let first = a.hashes_since(loaded.last_id, 2).unwrap();
        assert_eq!(first.images, 2);
        assert_eq!(first.rows.len(), 2, "one hash per test image");
        let second = a.hashes_since(first.last_id, 2).unwrap();
        assert_eq!(second.images, 1);
        assert_eq!(second.last_id, a.lookup_sha256("e3").unwrap().unwrap());
        let mut ids: Vec<i64> = first.rows.iter().chain(&second.rows).map(|r| r.0).collect();
        ids.dedup();
        assert_eq!(ids.len(), 3);
        let done = a.hashes_since(second.last_id, 2).unwrap();
        assert_eq!(
            (done.images, done.last_id, done.rows.len()),
            (0, second.last_id, 0)
        );
        // Known content adds a sighting, not an image: nothing new to follow.
        a.record_batch(&[(image("e1"), seen("again.jpg", "2019-01-01"))])
            .unwrap();
        assert_eq!(a.hashes_since(second.last_id, 2).unwrap().images, 0);
    }

    #[test]
    fn copying_keeps_every_sighting_and_the_earliest_date_and_is_idempotent() {
        let mut from = Archive::in_memory().unwrap();
        let mut lots: Vec<_> = (0..150)
            .map(|i| {
                let mut im = image(&format!("c{i:03}"));
                im.metadata_json = format!("{{\"n\":{i}}}");
                (im, seen(&format!("lap/{i}.jpg"), "2021-03-01"))
            })
            .collect();
        lots.push((image("c007"), seen("mail/7.jpg", "2016-07-07")));
        from.record_batch(&lots).unwrap();
        let mut to = Archive::in_memory().unwrap();
        // The shared archive already knows one picture, seen later there, and
        // one the laptop never saw.
        to.record_batch(&[
            (image("c007"), seen("desk/7.jpg", "2019-01-01")),
            (image("zz"), seen("desk/z.jpg", "2010-01-01")),
        ])
        .unwrap();

        let mut steps = 0;
        let done = from.copy_into(&mut to, |_| steps += 1).unwrap();
        assert_eq!(
            done,
            Copied {
                images: 150,
                added: 149,
                sightings: 151,
                without_sighting: 0
            }
        );
        assert!(steps >= 3, "150 images are copied in steps of {COPY_STEP}");
        let info = to.info().unwrap();
        assert_eq!((info.images, info.sightings), (151, 153));
        let id = to.lookup_sha256("c007").unwrap().unwrap();
        let k = to.known_image(id).unwrap().unwrap();
        assert_eq!(k.earliest.location, "mail/7.jpg");
        assert_eq!(k.earliest.first_seen, "2016-07-07");
        assert_eq!(k.sightings, 3);
        assert_eq!(
            k.metadata_json, "{}",
            "known content keeps what the destination had"
        );
        let id = to.lookup_sha256("c042").unwrap().unwrap();
        let from_id = from.lookup_sha256("c042").unwrap().unwrap();
        assert_eq!(
            to.known_image(id).unwrap().unwrap().metadata_json,
            "{\"n\":42}"
        );
        assert_eq!(
            to.image_hashes(id).unwrap(),
            from.image_hashes(from_id).unwrap()
        );
        assert_eq!(to.thumb(id).unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(to.sightings(id).unwrap(), from.sightings(from_id).unwrap());
        to.integrity_check().unwrap();

        // Again: nothing new.
        let again = from.copy_into(&mut to, |_| ()).unwrap();
        assert_eq!(again.added, 0);
        let info = to.info().unwrap();
        assert_eq!((info.images, info.sightings), (151, 153));
    }

    #[test]
    fn passwords_never_shown() {
        let show = |s: &str| display_location(Path::new(s));
        assert_eq!(show("archive.db"), "archive.db");
        assert_eq!(
            show("postgres://retrace:s3cret@db.example:5432/archive"),
            "postgres://retrace:***@db.example:5432/archive"
        );
        assert_eq!(
            show("postgresql://retrace@db/archive?password=s3cret&sslmode=disable"),
            "postgresql://retrace@db/archive?password=***&sslmode=disable"
        );
        assert_eq!(
            show("POSTGRES://u:p@ss:w@host/db"),
            "POSTGRES://u:***@host/db"
        );
        assert!(!show("postgres://u:hunter2@h/db?PASSWORD=hunter2").contains("hunter2"));
        assert!(is_postgres_url(Path::new("postgres://h/db")));
        assert!(!is_postgres_url(Path::new("./postgres.db")));
    }
}
