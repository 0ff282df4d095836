//! The archive of pictures seen before: a SQLite database, the only module that
//! speaks SQL. Each distinct content (SHA-256) is one image row with its hashes,
//! a metadata summary and a verification thumbnail; every time it was seen is a
//! sighting. Every write is one transaction, so an interrupted run leaves the
//! archive as it was after the last committed batch.
//!
//! Dates are stored as ISO 8601 text as given (`2008-01-22T03:28:22`,
//! `2019-06-12`, `2024-03-01T10:00:00Z`); "earliest" compares them as text, which
//! orders correctly to the second for dates of the same shape and to the day
//! across shapes. Camera times without an offset are local times anyway.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::hash::{HashBits, HashKind};

/// Numbered migrations; index + 1 is the schema version they lead to.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_watched_files.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

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
}

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
    /// Where `first_seen` came from: `exif`, `mtime`, `given`, `manifest`, `recorded`.
    pub first_seen_from: String,
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
    /// Database file.
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
}

/// One stored hash as loaded for the index: (image id, region, bits, quality).
pub type HashRow = (i64, String, HashBits, Option<u8>);

/// An open archive.
pub struct Archive {
    conn: Connection,
    path: PathBuf,
}

fn db(e: rusqlite::Error) -> Error {
    Error::Archive(e.to_string())
}

/// Current UTC time as ISO 8601.
pub fn now_iso() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Archive {
    /// Open (creating if needed) and migrate an archive file.
    pub fn open(path: &Path) -> Result<Archive> {
        let conn = Connection::open(path).map_err(db)?;
        Archive::setup(conn, path.to_path_buf())
    }

    /// Open an existing archive without creating it.
    pub fn open_existing(path: &Path) -> Result<Archive> {
        if !path.exists() {
            return Err(Error::Archive(format!(
                "no archive at {} (create one with `retrace archive add`)",
                path.display()
            )));
        }
        Archive::open(path)
    }

    /// A throw-away archive in memory, for tests and one-off runs.
    pub fn in_memory() -> Result<Archive> {
        let conn = Connection::open_in_memory().map_err(db)?;
        Archive::setup(conn, PathBuf::from(":memory:"))
    }

    fn setup(conn: Connection, path: PathBuf) -> Result<Archive> {
        // WAL lets readers go on while one process writes; the busy timeout turns
        // a concurrent writer into a wait instead of "database is locked".
        conn.busy_timeout(Duration::from_secs(60)).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        let mut archive = Archive { conn, path };
        archive.migrate()?;
        Ok(archive)
    }

    fn migrate(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let version: u32 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db)?;
        if version > SCHEMA_VERSION {
            return Err(Error::Archive(format!(
                "archive schema version {version} is newer than this retrace understands ({SCHEMA_VERSION}); upgrade retrace"
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql).map_err(db)?;
            tx.pragma_update(None, "user_version", i as u32 + 1)
                .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record pictures and their sightings in one transaction.
    ///
    /// Known content gets a sighting (unless the same location and source are
    /// already recorded, so re-running an import is idempotent), and the image's
    /// first-seen becomes the earliest of all its sightings.
    pub fn record_batch(&mut self, items: &[(NewImage, Sighting)]) -> Result<Vec<Recorded>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let now = now_iso();
        let mut out = Vec::with_capacity(items.len());
        for (image, sighting) in items {
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM images WHERE sha256 = ?1",
                    [&image.sha256],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            let (id, recorded) = match existing {
                Some(id) => (id, Recorded::AlreadyKnown),
                None => {
                    tx.execute(
                        "INSERT INTO images (sha256, format, width, height, bytes, metadata_json, thumb, first_seen, added_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        params![
                            image.sha256,
                            image.format,
                            image.width,
                            image.height,
                            image.bytes as i64,
                            image.metadata_json,
                            image.thumb,
                            sighting.first_seen,
                            now
                        ],
                    )
                    .map_err(db)?;
                    let id = tx.last_insert_rowid();
                    let mut stmt = tx
                        .prepare_cached(
                            "INSERT OR REPLACE INTO hashes (image_id, kind, stamp, region, bits, quality)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )
                        .map_err(db)?;
                    for h in &image.hashes {
                        stmt.execute(params![
                            id,
                            h.bits.kind.name(),
                            h.bits.kind.stamp(),
                            h.region,
                            h.bits.to_bytes(),
                            h.quality
                        ])
                        .map_err(db)?;
                    }
                    (id, Recorded::Added)
                }
            };
            tx.execute(
                "INSERT OR IGNORE INTO sightings (image_id, location, source, url, first_seen, first_seen_from, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    sighting.location,
                    sighting.source,
                    sighting.url,
                    sighting.first_seen,
                    sighting.first_seen_from,
                    now
                ],
            )
            .map_err(db)?;
            tx.execute(
                "UPDATE images SET first_seen = (SELECT MIN(first_seen) FROM sightings WHERE image_id = ?1) WHERE id = ?1",
                [id],
            )
            .map_err(db)?;
            out.push(recorded);
        }
        tx.commit().map_err(db)?;
        Ok(out)
    }

    /// The image id for a content hash, when known.
    pub fn lookup_sha256(&self, sha256: &str) -> Result<Option<i64>> {
        self.conn
            .query_row("SELECT id FROM images WHERE sha256 = ?1", [sha256], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)
    }

    /// Everything known of one image, with its earliest sighting.
    pub fn known_image(&self, id: i64) -> Result<Option<KnownImage>> {
        let row = self
            .conn
            .query_row(
                "SELECT i.id, i.sha256, i.format, i.width, i.height, i.metadata_json,
                        s.location, s.source, s.url, s.first_seen, s.first_seen_from,
                        (SELECT COUNT(*) FROM sightings WHERE image_id = i.id)
                 FROM images i JOIN sightings s ON s.image_id = i.id
                 WHERE i.id = ?1
                 ORDER BY s.first_seen ASC, s.id ASC LIMIT 1",
                [id],
                |r| {
                    Ok(KnownImage {
                        id: r.get(0)?,
                        sha256: r.get(1)?,
                        format: r.get(2)?,
                        width: r.get(3)?,
                        height: r.get(4)?,
                        metadata_json: r.get(5)?,
                        earliest: Sighting {
                            location: r.get(6)?,
                            source: r.get(7)?,
                            url: r.get(8)?,
                            first_seen: r.get(9)?,
                            first_seen_from: r.get(10)?,
                        },
                        sightings: r.get::<_, i64>(11)? as u64,
                    })
                },
            )
            .optional()
            .map_err(db)?;
        Ok(row)
    }

    /// All sightings of one image, earliest first.
    pub fn sightings(&self, id: i64) -> Result<Vec<Sighting>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT location, source, url, first_seen, first_seen_from FROM sightings
                 WHERE image_id = ?1 ORDER BY first_seen ASC, id ASC",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map([id], |r| {
                Ok(Sighting {
                    location: r.get(0)?,
                    source: r.get(1)?,
                    url: r.get(2)?,
                    first_seen: r.get(3)?,
                    first_seen_from: r.get(4)?,
                })
            })
            .map_err(db)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db)
    }

    /// The verification thumbnail of one image.
    pub fn thumb(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT thumb FROM images WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map(Option::flatten)
            .map_err(db)
    }

    /// The current-stamp hashes of one image, every region and kind: matching
    /// measures every algorithm on a candidate, not only the ones the index
    /// happened to return, so a far PDQ distance can veto the 64-bit hashes.
    pub fn image_hashes(&self, id: i64) -> Result<Vec<StoredHash>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT kind, stamp, region, bits, quality FROM hashes WHERE image_id = ?1",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, Option<u8>>(4)?,
                ))
            })
            .map_err(db)?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, stamp, region, bits, quality) = row.map_err(db)?;
            let Some(kind) = HashKind::from_name(&kind) else {
                continue;
            };
            if stamp != kind.stamp() {
                continue;
            }
            if let Some(bits) = HashBits::from_bytes(kind, &bits) {
                out.push(StoredHash {
                    region,
                    bits,
                    quality,
                });
            }
        }
        Ok(out)
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
    /// `f` as it is read, its region borrowed from SQLite's row buffer.
    ///
    /// One pass over the table in storage order (`NOT INDEXED`: the stamp index
    /// would turn the read into one random lookup per row), with kind and stamp
    /// compared in place, so loading a million-image archive allocates nothing
    /// per row.
    pub fn for_each_current_hash(
        &self,
        mut f: impl FnMut(i64, &str, HashBits, Option<u8>),
    ) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT image_id, kind, stamp, region, bits, quality FROM hashes NOT INDEXED")
            .map_err(db)?;
        let mut rows = stmt.query([]).map_err(db)?;
        while let Some(row) = rows.next().map_err(db)? {
            let text = |i| row.get_ref(i).ok().and_then(|v| v.as_str().ok());
            let Some(kind) = text(1).and_then(HashKind::from_name) else {
                continue;
            };
            if text(2) != Some(kind.stamp()) {
                continue;
            }
            let (Some(region), Ok(id)) = (text(3), row.get::<_, i64>(0)) else {
                continue;
            };
            let Some(bits) = row
                .get_ref(4)
                .ok()
                .and_then(|v| v.as_blob().ok())
                .and_then(|b| HashBits::from_bytes(kind, b))
            else {
                continue;
            };
            let quality = row.get::<_, Option<u8>>(5).ok().flatten();
            f(id, region, bits, quality);
        }
        Ok(())
    }

    /// Number of distinct images.
    pub fn image_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM images", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db)
    }

    /// Counts, ranges and versions.
    pub fn info(&self) -> Result<ArchiveInfo> {
        let schema_version: u32 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db)?;
        let images = self.image_count()?;
        let (sightings, min, max): (i64, Option<String>, Option<String>) = self
            .conn
            .query_row(
                "SELECT COUNT(*), MIN(first_seen), MAX(first_seen) FROM sightings",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(db)?;
        let mut stmt = self
            .conn
            .prepare("SELECT stamp, COUNT(*) FROM hashes GROUP BY stamp ORDER BY stamp")
            .map_err(db)?;
        let hash_stamps = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(ArchiveInfo {
            path: self.path.clone(),
            schema_version,
            images,
            sightings: sightings as u64,
            first_seen_min: min,
            first_seen_max: max,
            hash_stamps,
        })
    }

    /// The (size, mtime in ns) at which `retrace watch` last processed a file.
    pub fn watched(&self, path: &[u8]) -> Result<Option<(u64, i64)>> {
        self.conn
            .query_row(
                "SELECT size, mtime_ns FROM watched_files WHERE path = ?1",
                [path],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)?)),
            )
            .optional()
            .map_err(db)
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
        self.conn
            .execute(
                "INSERT OR REPLACE INTO watched_files (path, size, mtime_ns, sha256, report, processed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![path, size as i64, mtime_ns, sha256, report, now_iso()],
            )
            .map(|_| ())
            .map_err(db)
    }

    /// How many file versions `retrace watch` has processed.
    pub fn watched_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM watched_files", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(db)
    }

    /// Run SQLite's own consistency check; `Ok(())` when it answers "ok".
    pub fn integrity_check(&self) -> Result<()> {
        let answer: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(db)?;
        if answer == "ok" {
            Ok(())
        } else {
            Err(Error::Archive(format!("integrity check: {answer}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loading_skips_other_stamps_kinds_and_damaged_bits() {
        let mut a = Archive::in_memory().unwrap();
        a.record_batch(&[(image("aa"), seen("/a.jpg", "2020-01-01T00:00:00Z"))])
            .unwrap();
        let id = a.lookup_sha256("aa").unwrap().unwrap();
        let insert = |kind: &str, stamp: &str, region: &str, bits: &[u8]| {
            a.conn
                .execute(
                    "INSERT INTO hashes (image_id, kind, stamp, region, bits) VALUES (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![id, kind, stamp, region, bits],
                )
                .unwrap();
        };
        insert("phash", "phash:older:v0", "c70", &[0; 8]);
        insert("nohash", HashKind::Phash.stamp(), "c50", &[0; 8]);
        insert("pdq", HashKind::Pdq.stamp(), "tl70", &[0; 8]); // 64 bits, PDQ has 256
        insert("dhash", HashKind::Dhash.stamp(), "tr70", &[0xAB; 8]);
        let mut got = Vec::new();
        a.for_each_current_hash(|i, region, bits, _| got.push((i, region.to_string(), bits.kind)))
            .unwrap();
        got.sort_by(|x, y| x.1.cmp(&y.1));
        assert_eq!(
            got,
            vec![
                (id, "full".to_string(), HashKind::Phash),
                (id, "tr70".to_string(), HashKind::Dhash)
            ]
        );
        assert_eq!(a.current_hashes().unwrap().len(), 2);
    }

    fn image(sha: &str) -> NewImage {
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
        }
    }

    fn seen(location: &str, when: &str) -> Sighting {
        Sighting {
            location: location.into(),
            source: "test".into(),
            url: None,
            first_seen: when.into(),
            first_seen_from: "given".into(),
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
    fn a_failed_batch_leaves_nothing_behind() {
        let mut a = Archive::in_memory().unwrap();
        // Simulate a write error after the image rows of the batch are inserted:
        // without the sightings table every sighting insert fails.
        a.conn.execute_batch("DROP TABLE sightings").unwrap();
        let batch = [
            (image("bb"), seen("b.jpg", "2020-01-01")),
            (image("cc"), seen("c.jpg", "2020-01-02")),
        ];
        assert!(a.record_batch(&batch).is_err());
        assert_eq!(a.image_count().unwrap(), 0);
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
}
