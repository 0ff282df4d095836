//! The archive in a SQLite file: WAL so readers go on while one process writes,
//! a busy timeout so a concurrent writer waits instead of failing, `BEGIN
//! IMMEDIATE` for every write so writers queue up front (and ids become visible
//! in the order they were given), `PRAGMA user_version` as the schema version.
//!
//! Opening is safe for any number of processes at once, on a file that does
//! not exist yet too: the schema version is read first (a newer one is refused
//! before anything is written), the switch to WAL is retried while another
//! process holds the file (SQLite answers that switch "database is locked" at
//! once instead of waiting: it needs the file to itself), and the migrations
//! run in one `BEGIN IMMEDIATE` transaction, so the first process applies them
//! and the others, queued behind it, find nothing to do.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use super::{
    current_bits, newer_schema, now_iso, ArchiveBackend, ArchiveInfo, HashRow, HashSink,
    KnownImage, Loaded, NewImage, Recorded, Sighting, Since, StoredFeatures, StoredHash, WordSink,
    MIGRATIONS, SCHEMA_VERSION,
};
use crate::error::{DatabaseErrorKind, Error, Result};

/// How long a process waits for another one's write (or WAL switch) before
/// giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) struct SqliteArchive {
    conn: Connection,
}

fn db(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    let kind = match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => DatabaseErrorKind::Busy,
        Some(C::DatabaseCorrupt | C::NotADatabase) => DatabaseErrorKind::Corrupt,
        Some(C::ReadOnly | C::DiskFull) => DatabaseErrorKind::ReadOnly,
        Some(C::CannotOpen | C::PermissionDenied) => DatabaseErrorKind::Unavailable,
        _ => DatabaseErrorKind::Other,
    };
    Error::Database {
        kind,
        message: e.to_string(),
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

fn user_version(conn: &Connection) -> Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db)
}

/// Switch the file to WAL. SQLite makes the switch inside a read transaction
/// that it then upgrades to an exclusive one, and an upgrade that finds
/// another reader fails at once rather than calling the busy handler (waiting
/// could deadlock two upgraders). Processes opening a new archive together do
/// exactly that, so the switch is retried, with a growing pause that differs
/// from process to process, until [`BUSY_TIMEOUT`]. A file already in WAL needs
/// no upgrade and never fails here.
fn switch_to_wal(conn: &Connection) -> Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let jitter = u64::from(std::process::id() % 7);
    let mut pause_ms = 1u64;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            // "wal", or "memory" for an archive in memory.
            Ok(_) => return Ok(()),
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(pause_ms + jitter));
                pause_ms = (pause_ms * 2).min(50);
            }
            Err(e) => return Err(db(e)),
        }
    }
}

impl SqliteArchive {
    pub(super) fn open(path: &Path) -> Result<SqliteArchive> {
        SqliteArchive::setup(Connection::open(path).map_err(db)?)
    }

    pub(super) fn in_memory() -> Result<SqliteArchive> {
        SqliteArchive::setup(Connection::open_in_memory().map_err(db)?)
    }

    fn setup(conn: Connection) -> Result<SqliteArchive> {
        // The busy timeout turns a concurrent writer into a wait instead of
        // "database is locked".
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        // Before anything is written, even the journal mode.
        let found = user_version(&conn)?;
        if found > SCHEMA_VERSION {
            return Err(newer_schema(found));
        }
        // WAL lets readers go on while one process writes.
        switch_to_wal(&conn)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        let mut archive = SqliteArchive { conn };
        // An archive already current takes no write lock: opening it never
        // waits for another process's batch.
        if found < SCHEMA_VERSION {
            archive.migrate()?;
        }
        Ok(archive)
    }

    /// Apply the steps this file lacks, all in one transaction; `BEGIN
    /// IMMEDIATE` takes the write lock first, so the version read inside is
    /// the one the steps apply to.
    fn migrate(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let version: u32 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db)?;
        if version > SCHEMA_VERSION {
            // A newer retrace migrated it since the first look.
            return Err(newer_schema(version));
        }
        if version == SCHEMA_VERSION {
            // Nothing to do: no write, so the commit is a lock released.
            return tx.commit().map_err(db);
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            // A database error (busy, read-only, ...) keeps its kind.
            tx.execute_batch(step.sqlite).map_err(|e| match db(e) {
                Error::Database { kind, message } => Error::Database {
                    kind,
                    message: format!("schema migration {} ({}): {message}", i + 1, step.name),
                },
                other => other,
            })?;
            tx.pragma_update(None, "user_version", i as u32 + 1)
                .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// Hand each current hash row of `rows` to `f`, its region borrowed from
    /// SQLite's row buffer; kind and stamp are compared in place.
    fn each_hash_row(mut rows: rusqlite::Rows<'_>, f: &mut HashSink) -> Result<()> {
        while let Some(row) = rows.next().map_err(db)? {
            let text = |i| row.get_ref(i).ok().and_then(|v| v.as_str().ok());
            let blob = row.get_ref(4).ok().and_then(|v| v.as_blob().ok());
            let (Some(kind), Some(stamp), Some(region), Some(blob), Ok(id)) =
                (text(1), text(2), text(3), blob, row.get::<_, i64>(0))
            else {
                continue;
            };
            let Some(bits) = current_bits(kind, stamp, blob) else {
                continue;
            };
            let quality = row.get::<_, Option<u8>>(5).ok().flatten();
            f(id, region, bits, quality);
        }
        Ok(())
    }
}

impl ArchiveBackend for SqliteArchive {
    fn record_batch(&mut self, items: &[(NewImage, Sighting)]) -> Result<Vec<Recorded>> {
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
            if let Some(f) = &image.features {
                // Also for content already known without features (recorded by
                // an older retrace): re-adding it fills them in.
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO features (image_id, stamp, data, vocabulary, words)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        id,
                        crate::features::STAMP,
                        f.data,
                        crate::features::vocabulary::STAMP,
                        f.words
                    ])
                })
                .map_err(db)?;
            }
            tx.execute(
                "INSERT OR IGNORE INTO sightings (image_id, location, source, url, first_seen, first_seen_from, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    sighting.location,
                    sighting.source,
                    sighting.url,
                    sighting.first_seen,
                    sighting.first_seen_from.as_str(),
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

    fn lookup_sha256(&self, sha256: &str) -> Result<Option<i64>> {
        self.conn
            .query_row("SELECT id FROM images WHERE sha256 = ?1", [sha256], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)
    }

    fn known_image(&self, id: i64) -> Result<Option<KnownImage>> {
        self.conn
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
                            first_seen_from: r.get::<_, String>(10)?.into(),
                        },
                        sightings: r.get::<_, i64>(11)? as u64,
                    })
                },
            )
            .optional()
            .map_err(db)
    }

    fn sightings(&self, id: i64) -> Result<Vec<Sighting>> {
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
                    first_seen_from: r.get::<_, String>(4)?.into(),
                })
            })
            .map_err(db)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db)
    }

    fn features(&self, id: i64) -> Result<Option<StoredFeatures>> {
        self.conn
            .prepare_cached(
                "SELECT data, CASE WHEN vocabulary = ?3 THEN words END FROM features
                 WHERE image_id = ?1 AND stamp = ?2",
            )
            .and_then(|mut st| {
                st.query_row(
                    params![
                        id,
                        crate::features::STAMP,
                        crate::features::vocabulary::STAMP
                    ],
                    |r| {
                        Ok(StoredFeatures {
                            data: r.get(0)?,
                            words: r.get::<_, Option<Vec<u8>>>(1)?.unwrap_or_default(),
                        })
                    },
                )
                .optional()
            })
            .map_err(db)
    }

    fn load_current_words(&self, up_to: i64, f: &mut WordSink) -> Result<u64> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT image_id, words FROM features
                 WHERE image_id <= ?1 AND stamp = ?2 AND vocabulary = ?3 ORDER BY image_id",
            )
            .map_err(db)?;
        let mut rows = stmt
            .query(params![
                up_to,
                crate::features::STAMP,
                crate::features::vocabulary::STAMP
            ])
            .map_err(db)?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(db)? {
            let (Ok(id), Some(words)) = (
                row.get::<_, i64>(0),
                row.get_ref(1).ok().and_then(|v| v.as_blob().ok()),
            ) else {
                continue;
            };
            f(id, words);
            n += 1;
        }
        Ok(n)
    }

    fn thumb(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT thumb FROM images WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map(Option::flatten)
            .map_err(db)
    }

    fn image_hashes(&self, id: i64) -> Result<Vec<StoredHash>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT kind, stamp, region, bits, quality FROM hashes WHERE image_id = ?1
                 ORDER BY kind, region",
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
            if let Some(bits) = current_bits(&kind, &stamp, &bits) {
                out.push(StoredHash {
                    region,
                    bits,
                    quality,
                });
            }
        }
        Ok(out)
    }

    /// One pass over the table in storage order (`NOT INDEXED`: the stamp index
    /// would turn the read into one random lookup per row), inside one read
    /// transaction so that the highest id and the rows come from one snapshot.
    fn load_current_hashes(&self, f: &mut HashSink) -> Result<Loaded> {
        let tx = self.conn.unchecked_transaction().map_err(db)?;
        let (last_id, images): (i64, i64) = tx
            .query_row(
                "SELECT COALESCE(MAX(id), 0), COUNT(*) FROM images",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(db)?;
        {
            let mut stmt = tx
                .prepare(
                    "SELECT image_id, kind, stamp, region, bits, quality FROM hashes NOT INDEXED",
                )
                .map_err(db)?;
            SqliteArchive::each_hash_row(stmt.query([]).map_err(db)?, f)?;
        }
        tx.commit().map_err(db)?;
        Ok(Loaded {
            last_id,
            images: images as u64,
        })
    }

    fn hashes_since(&self, after: i64, max_images: u32) -> Result<Since> {
        let tx = self.conn.unchecked_transaction().map_err(db)?;
        let (last_id, images): (Option<i64>, i64) = tx
            .query_row(
                "SELECT MAX(id), COUNT(*) FROM (SELECT id FROM images WHERE id > ?1 ORDER BY id LIMIT ?2)",
                params![after, max_images],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(db)?;
        let mut since = Since {
            last_id: last_id.unwrap_or(after),
            images: images as u64,
            rows: Vec::new(),
            words: Vec::new(),
        };
        if since.images > 0 {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT image_id, kind, stamp, region, bits, quality FROM hashes
                     WHERE image_id > ?1 AND image_id <= ?2 ORDER BY image_id, kind, region",
                )
                .map_err(db)?;
            let rows: &mut Vec<HashRow> = &mut since.rows;
            SqliteArchive::each_hash_row(
                stmt.query(params![after, since.last_id]).map_err(db)?,
                &mut |id, region, bits, quality| rows.push((id, region.to_string(), bits, quality)),
            )?;
            let mut stmt = tx
                .prepare_cached(
                    "SELECT image_id, words FROM features
                     WHERE image_id > ?1 AND image_id <= ?2 AND stamp = ?3 AND vocabulary = ?4
                     ORDER BY image_id",
                )
                .map_err(db)?;
            let words = stmt
                .query_map(
                    params![
                        after,
                        since.last_id,
                        crate::features::STAMP,
                        crate::features::vocabulary::STAMP
                    ],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
                )
                .map_err(db)?;
            for w in words {
                since.words.push(w.map_err(db)?);
            }
        }
        tx.commit().map_err(db)?;
        Ok(since)
    }

    fn images_after(&self, after: i64, max_images: u32) -> Result<Vec<(i64, NewImage)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, sha256, format, width, height, bytes, metadata_json, thumb FROM images
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map(params![after, max_images], |r| {
                Ok((
                    r.get(0)?,
                    NewImage {
                        sha256: r.get(1)?,
                        format: r.get(2)?,
                        width: r.get(3)?,
                        height: r.get(4)?,
                        bytes: r.get::<_, i64>(5)?.max(0) as u64,
                        metadata_json: r.get(6)?,
                        thumb: r.get(7)?,
                        hashes: Vec::new(),
                        features: None,
                    },
                ))
            })
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    fn image_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM images", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db)
    }

    fn feature_count(&self, up_to: i64) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM features WHERE image_id <= ?1 AND stamp = ?2 AND vocabulary = ?3",
                params![
                    up_to,
                    crate::features::STAMP,
                    crate::features::vocabulary::STAMP
                ],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(db)
    }

    fn info(&self) -> Result<ArchiveInfo> {
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
            path: Default::default(),
            schema_version,
            images,
            sightings: sightings as u64,
            first_seen_min: min,
            first_seen_max: max,
            hash_stamps,
            with_features: self.feature_count(i64::MAX)?,
        })
    }

    fn watched(&self, path: &[u8]) -> Result<Option<(u64, i64)>> {
        self.conn
            .query_row(
                "SELECT size, mtime_ns FROM watched_files WHERE path = ?1",
                [path],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)?)),
            )
            .optional()
            .map_err(db)
    }

    fn mark_watched(
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

    fn watched_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM watched_files", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(db)
    }

    fn integrity_check(&self) -> Result<()> {
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
    use super::super::tests::{image, seen};
    use super::*;
    use crate::hash::HashKind;

    #[test]
    fn database_failures_keep_their_kind() {
        let dir = tempfile::tempdir().unwrap();
        // A file that is not a database (a JPEG's first bytes and then text):
        // corrupt, not busy, with the driver's message as it was printed before.
        let damaged = dir.path().join("damaged.sqlite");
        std::fs::write(
            &damaged,
            [&[0xFF, 0xD8, 0xFF, 0xE0][..], &[b'x'; 4096][..]].concat(),
        )
        .unwrap();
        let e = crate::archive::Archive::open(&damaged)
            .err()
            .expect("refused");
        assert_eq!(e.database_kind(), Some(DatabaseErrorKind::Corrupt), "{e}");
        assert_eq!(e.to_string(), "archive: file is not a database");

        // Another connection holds the write lock: busy (after the wait,
        // here made short), which a caller may retry.
        let path = dir.path().join("held.sqlite");
        drop(crate::archive::Archive::open(&path).unwrap());
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let other = Connection::open(&path).unwrap();
        other.busy_timeout(Duration::from_millis(10)).unwrap();
        let e = db(other.execute_batch("BEGIN IMMEDIATE").unwrap_err());
        assert_eq!(e.database_kind(), Some(DatabaseErrorKind::Busy), "{e}");
        assert!(
            e.to_string().starts_with("archive: database is locked"),
            "{e}"
        );
    }

    #[test]
    fn loading_skips_other_stamps_kinds_and_damaged_bits() {
        let mut a = SqliteArchive::in_memory().unwrap();
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
        let loaded = a
            .load_current_hashes(&mut |i, region, bits, _| {
                got.push((i, region.to_string(), bits.kind))
            })
            .unwrap();
        got.sort_by(|x, y| x.1.cmp(&y.1));
        let want = vec![
            (id, "full".to_string(), HashKind::Phash),
            (id, "tr70".to_string(), HashKind::Dhash),
        ];
        assert_eq!(got, want);
        assert_eq!(
            loaded,
            Loaded {
                last_id: id,
                images: 1
            }
        );
        // Following from before the image finds the same rows, through the index.
        let since = a.hashes_since(0, 10).unwrap();
        let mut rows: Vec<_> = since
            .rows
            .iter()
            .map(|(i, r, b, _)| (*i, r.clone(), b.kind))
            .collect();
        rows.sort_by(|x, y| x.1.cmp(&y.1));
        assert_eq!(rows, want);
    }

    /// A file as a newer retrace would leave it: a version above this
    /// build's, a table this build does not know, the rollback journal (so
    /// that any write, even a switch to WAL, would show in the bytes).
    fn newer_archive(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(
            MIGRATIONS
                .iter()
                .map(|m| m.sqlite)
                .collect::<Vec<_>>()
                .concat()
                .as_str(),
        )
        .unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE from_the_future (x BLOB); PRAGMA user_version = {};",
            SCHEMA_VERSION + 1
        ))
        .unwrap();
    }

    #[test]
    fn a_newer_schema_is_refused_and_not_a_byte_changes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("newer.db");
        newer_archive(&p);
        let before = std::fs::read(&p).unwrap();
        let e = match SqliteArchive::open(&p) {
            Ok(_) => panic!("a newer schema was opened"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains(&format!("version {}", SCHEMA_VERSION + 1)) && e.contains("newer retrace"),
            "{e}"
        );
        assert!(e.contains("not changed"), "{e}");
        assert_eq!(
            std::fs::read(&p).unwrap(),
            before,
            "the file was written to"
        );
        assert!(!dir.path().join("newer.db-wal").exists(), "switched to WAL");
    }

    #[test]
    fn an_older_schema_is_migrated_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v1.db");
        {
            // What retrace wrote before `watch` existed: migration 1 only.
            let conn = Connection::open(&p).unwrap();
            conn.execute_batch(MIGRATIONS[0].sqlite).unwrap();
            conn.execute_batch(
                "PRAGMA user_version = 1;
                 INSERT INTO images (id, sha256, format, bytes, first_seen, added_at)
                     VALUES (1, 'old', 'jpeg', 10, '2001-01-01', '2001-01-02');
                 INSERT INTO sightings (image_id, location, first_seen, first_seen_from, added_at)
                     VALUES (1, 'old.jpg', '2001-01-01', 'given', '2001-01-02');",
            )
            .unwrap();
        }
        let a = SqliteArchive::open(&p).unwrap();
        assert_eq!(user_version(&a.conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(
            a.watched_count().unwrap(),
            0,
            "migration 2's table is there"
        );
        assert_eq!(a.lookup_sha256("old").unwrap(), Some(1));
        assert_eq!(a.sightings(1).unwrap()[0].location, "old.jpg");
        a.integrity_check().unwrap();
        drop(a);
        // Opening it again finds nothing to do (a second run of migration 2
        // would fail: its table exists).
        let a = SqliteArchive::open(&p).unwrap();
        assert_eq!(user_version(&a.conn).unwrap(), SCHEMA_VERSION);
    }

    /// A sighting whose `first_seen_from` this version does not know (an
    /// archive shared with a later version) still loads, and keeps the name.
    #[test]
    fn an_unknown_first_seen_from_is_kept_not_refused() {
        let mut a = SqliteArchive::in_memory().unwrap();
        let mut s = seen("x.jpg", "2020-01-01");
        s.first_seen_from = "carrier_pigeon".into();
        a.record_batch(&[(image("a"), s)]).unwrap();
        let id = a.lookup_sha256("a").unwrap().unwrap();
        let from = &a.sightings(id).unwrap()[0].first_seen_from;
        assert_eq!(
            *from,
            crate::evidence::FirstSeenFrom::Other("carrier_pigeon".into())
        );
        let known = a.known_image(id).unwrap().unwrap();
        assert_eq!(known.earliest.first_seen_from, "carrier_pigeon");
    }

    /// Threads of one process share SQLite's file locks the way processes do,
    /// and a barrier lines them up far closer than processes can be: many
    /// rounds of 8 at once on a new file, each opening it and writing a batch.
    /// (tests/it/startup.rs does the same with real processes.)
    #[test]
    fn eight_connections_create_one_new_file_at_the_same_instant() {
        let dir = tempfile::tempdir().unwrap();
        let mut failures = Vec::new();
        for round in 0..60 {
            let p = dir.path().join(format!("r{round}.db"));
            let barrier = std::sync::Barrier::new(8);
            let results: Vec<Result<()>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|t| {
                        let (p, barrier) = (&p, &barrier);
                        s.spawn(move || {
                            barrier.wait();
                            let mut a = SqliteArchive::open(p)?;
                            a.record_batch(&[(
                                image(&format!("t{t}")),
                                seen("x.jpg", "2020-01-01"),
                            )])
                            .map(|_| ())
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let failed = results.iter().filter(|r| r.is_err()).count() as u64;
            failures.extend(
                results
                    .into_iter()
                    .filter_map(|r| r.err())
                    .map(|e| format!("round {round}: {e}")),
            );
            let a = SqliteArchive::open(&p).unwrap();
            assert_eq!(a.image_count().unwrap() + failed, 8, "round {round}");
        }
        assert!(
            failures.is_empty(),
            "{} failed opens: {failures:?}",
            failures.len()
        );
    }

    #[test]
    fn a_failed_batch_leaves_nothing_behind() {
        let mut a = SqliteArchive::in_memory().unwrap();
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
}
