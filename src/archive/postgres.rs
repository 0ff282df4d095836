//! The archive in a PostgreSQL database shared by many workers (cargo feature
//! `postgres`), with the sync `postgres` crate (its own small tokio runtime per
//! connection; the rest of retrace sees blocking calls, as with SQLite).
//!
//! - Migrations: the steps of `MIGRATIONS` (files in `migrations/postgres/`)
//!   that the database lacks, applied in one transaction under an advisory
//!   lock, recorded in `schema_version`; workers starting together on an empty
//!   database wait for the first one, and then find nothing to do. A current
//!   schema takes no lock; a newer one is refused before anything is written.
//! - Writes: each batch is one transaction; content is unique by SHA-256
//!   (`INSERT ... ON CONFLICT`), a sighting unique by image, location and
//!   source; the image's first-seen is recomputed as the earliest sighting in the
//!   same transaction. A worker killed mid-batch leaves nothing: the server
//!   rolls the transaction back when the connection drops.
//! - Write transactions also take one advisory lock, held until commit. That
//!   makes image ids visible in the order they were handed out, which is what
//!   lets workers follow new rows by "id above my mark" without ever missing a
//!   row that an older, slower transaction commits later. A batch is a few
//!   milliseconds of SQL against seconds of decoding and hashing, so the
//!   serialisation costs little; `idle_in_transaction_session_timeout` frees
//!   the lock if a worker's machine vanishes mid-transaction.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use postgres::config::SslMode;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, IsolationLevel, NoTls, Row, Transaction};

use super::{
    current_bits, newer_schema, now_iso, ArchiveBackend, ArchiveInfo, HashRow, HashSink,
    KnownImage, Loaded, NewImage, Recorded, Sighting, Since, StoredFeatures, StoredHash, WordSink,
    MIGRATIONS, SCHEMA_VERSION,
};
use crate::error::{DatabaseErrorKind, Error, Result};

// Advisory lock keys ("retrac" + a number), one for migrations, one for writes.
const MIGRATION_LOCK: i64 = 0x7265_7472_6163_0001;
const WRITE_LOCK: i64 = 0x7265_7472_6163_0002;

/// How long a connection attempt may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Session settings: a worker that dies mid-transaction (machine gone, no TCP
/// reset) releases the write lock after a minute; a writer waits at most five
/// minutes for it before its batch fails with an error instead of hanging.
const SESSION: &str = "SET idle_in_transaction_session_timeout = '60s'; SET lock_timeout = '300s'";

pub(super) struct PgArchive {
    client: Mutex<Client>,
    config: Config,
}

fn db(e: postgres::Error) -> Error {
    // The driver's messages name the server and the failing statement, never
    // the password.
    let mut message = e.to_string();
    // "error performing TLS handshake" alone does not say that the certificate
    // was refused, or why: that is in the causes.
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    if let Some(d) = e.as_db_error() {
        message = format!("{}: {}", d.severity(), d.message());
        if let Some(detail) = d.detail() {
            message.push_str(&format!(" ({detail})"));
        }
    }
    Error::Database {
        kind: kind_of(&e),
        message: format!("PostgreSQL: {message}"),
    }
}

/// The kind of a driver error, from its SQLSTATE or its connection state.
fn kind_of(e: &postgres::Error) -> DatabaseErrorKind {
    use postgres::error::SqlState;
    match e.code() {
        Some(c)
            if *c == SqlState::LOCK_NOT_AVAILABLE
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::QUERY_CANCELED
                || *c == SqlState::TOO_MANY_CONNECTIONS =>
        {
            DatabaseErrorKind::Busy
        }
        Some(c) if *c == SqlState::DATA_CORRUPTED || *c == SqlState::INDEX_CORRUPTED => {
            DatabaseErrorKind::Corrupt
        }
        Some(c)
            if *c == SqlState::READ_ONLY_SQL_TRANSACTION
                || *c == SqlState::DISK_FULL
                || *c == SqlState::INSUFFICIENT_RESOURCES =>
        {
            DatabaseErrorKind::ReadOnly
        }
        Some(_) => DatabaseErrorKind::Other,
        None if e.is_closed() || std::error::Error::source(e).is_some() => {
            DatabaseErrorKind::Unavailable
        }
        None => DatabaseErrorKind::Other,
    }
}

/// PostgreSQL text cannot hold NUL; a hostile name or catalogue that carries
/// one is stored with U+FFFD in its place rather than failing the batch.
fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn opt_text(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(text)
}

fn int(v: Option<u32>) -> Option<i32> {
    v.map(|v| i32::try_from(v).unwrap_or(i32::MAX))
}

fn uint(v: Option<i32>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

fn connect(config: &Config) -> Result<Client> {
    let mut client = if matches!(config.get_ssl_mode(), SslMode::Require) {
        config.connect(tls()?).map_err(db)?
    } else {
        // `prefer` (the driver's default) and `disable` connect in the clear, as
        // they always have here: libpq's `prefer` would encrypt without checking
        // who answers, which stops only a passive eavesdropper and looks safer
        // than it is. Encryption is asked for with `sslmode=require`, and then
        // the server is always verified.
        config.connect(NoTls).map_err(db)?
    };
    client.batch_execute(SESSION).map_err(db)?;
    Ok(client)
}

/// The TLS connector for `sslmode=require`. The server's certificate must chain
/// to a CA certificate in the PEM file named by `PGSSLROOTCERT` (libpq's variable,
/// as `PGPASSWORD` is), or else to one of the system's CAs, and name the host in
/// the URL: libpq's `verify-full`, the only mode that keeps a man in the middle out.
fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match std::env::var_os("PGSSLROOTCERT") {
        Some(path) => {
            let bad = |e: &dyn std::fmt::Display| {
                Error::Archive(format!(
                    "PGSSLROOTCERT {}: {e}",
                    std::path::Path::new(&path).display()
                ))
            };
            for cert in CertificateDer::pem_file_iter(&path).map_err(|e| bad(&e))? {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
        }
        None => {
            // Certificates the system store holds but rustls cannot parse are
            // skipped, as OpenSSL skips them.
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(Error::Archive(
            "sslmode=require: no CA certificate to verify the server with \
             (set PGSSLROOTCERT to a PEM file of the CA that signed the server's certificate)"
                .into(),
        ));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Archive(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl PgArchive {
    /// Connect to the database named by `url` and bring its schema up to date.
    /// A URL without a password takes it from `PGPASSWORD`, as libpq does.
    pub(super) fn connect(url: &str) -> Result<PgArchive> {
        // The parser's message may quote the URL, password included: not shown.
        let mut config: Config = url.trim().parse().map_err(|_| {
            Error::Archive(
                "not a valid PostgreSQL URL (postgres://USER@HOST[:PORT]/DATABASE)".into(),
            )
        })?;
        if config.get_password().is_none() {
            if let Ok(p) = std::env::var("PGPASSWORD") {
                config.password(p);
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("retrace");
        }
        let mut client = connect(&config)?;
        migrate(&mut client)?;
        Ok(PgArchive {
            client: Mutex::new(client),
            config,
        })
    }

    /// The connection, opened again when the server dropped it (a restart, a
    /// failover): a long-running `serve` or `watch` survives that.
    fn conn(&self) -> Result<MutexGuard<'_, Client>> {
        let mut guard = self
            .client
            .lock()
            .map_err(|_| Error::Archive("archive connection lock poisoned".into()))?;
        if guard.is_closed() {
            *guard = connect(&self.config)?;
        }
        Ok(guard)
    }

    /// A read-only transaction that sees one snapshot throughout.
    fn snapshot(client: &mut Client) -> Result<Transaction<'_>> {
        client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(db)
    }
}

/// The schema version recorded in the database; 0 when it has no schema yet.
fn schema_version(client: &mut impl postgres::GenericClient) -> Result<u32> {
    // From the catalog table itself, read with this statement's snapshot:
    // `to_regclass` goes through the session's catalog cache, which can still
    // say "no such table" after waiting for the lock while another worker
    // created it (the cache is refreshed when a table is locked, not an
    // advisory lock). Two statements: one naming a table that does not exist
    // fails to parse.
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables
                            WHERE schemaname = current_schema() AND tablename = 'schema_version')",
            &[],
        )
        .map_err(db)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
        .map_err(db)?;
    Ok(row.get::<_, i32>(0).max(0) as u32)
}

/// Bring the schema up to date: the steps the database lacks, in one
/// transaction under an advisory lock, so that workers starting together on an
/// empty database wait for the first one and then find nothing to do. A newer
/// schema is refused before anything is written; a current one takes no lock.
fn migrate(client: &mut Client) -> Result<()> {
    let found = schema_version(client)?;
    if found > SCHEMA_VERSION {
        return Err(newer_schema(found));
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let mut tx = client.transaction().map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(db)?;
    // Read again under the lock (each statement sees what committed before it):
    // another worker may have migrated meanwhile, or a newer retrace.
    let version = schema_version(&mut tx)?;
    if version > SCHEMA_VERSION {
        return Err(newer_schema(version));
    }
    if version < SCHEMA_VERSION {
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version    INTEGER PRIMARY KEY,
                 applied_at TEXT    NOT NULL
             )",
        )
        .map_err(db)?;
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(step.postgres).map_err(|e| match db(e) {
            Error::Database { kind, message } => Error::Database {
                kind,
                message: format!("schema migration {} ({}): {message}", i + 1, step.name),
            },
            other => other,
        })?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
            &[&(i as i32 + 1), &now_iso()],
        )
        .map_err(db)?;
    }
    tx.commit().map_err(db)
}

/// Hand one hash row (image_id, kind, stamp, region, bits, quality) to `f`
/// when it is current and well-formed.
fn hash_row(row: &Row, f: &mut HashSink) {
    let (Ok(id), Ok(kind), Ok(stamp), Ok(region), Ok(bits)) = (
        row.try_get::<_, i64>(0),
        row.try_get::<_, &str>(1),
        row.try_get::<_, &str>(2),
        row.try_get::<_, &str>(3),
        row.try_get::<_, &[u8]>(4),
    ) else {
        return;
    };
    let Some(bits) = current_bits(kind, stamp, bits) else {
        return;
    };
    let quality = row
        .try_get::<_, Option<i16>>(5)
        .ok()
        .flatten()
        .and_then(|q| u8::try_from(q).ok());
    f(id, region, bits, quality);
}

const HASH_COLUMNS: &str = "SELECT image_id, kind, stamp, region, bits, quality FROM hashes";

impl ArchiveBackend for PgArchive {
    /// The whole batch in a handful of statements over arrays (`unnest`), not
    /// four per picture: on a busy machine each round trip to the server costs
    /// milliseconds, and 64 pictures made 256 of them (97 pictures/s measured).
    fn record_batch(&mut self, items: &[(NewImage, Sighting)]) -> Result<Vec<Recorded>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .map_err(db)?;
        let now = now_iso();
        // The first occurrence of each content in the batch is the one that
        // may add it, as when the pictures are recorded one by one.
        let mut first: HashMap<Cow<str>, usize> = HashMap::new();
        for (i, (image, _)) in items.iter().enumerate() {
            first.entry(text(&image.sha256)).or_insert(i);
        }
        let mut news: Vec<usize> = first.values().copied().collect();
        news.sort_unstable();
        let col = |f: &dyn Fn(&(NewImage, Sighting)) -> Cow<str>| -> Vec<Cow<str>> {
            news.iter().map(|&i| f(&items[i])).collect()
        };
        let shas = col(&|(im, _)| text(&im.sha256));
        let inserted = tx
            .query(
                "INSERT INTO images (sha256, format, width, height, bytes, metadata_json, thumb, first_seen, added_at)
                 SELECT s, f, w, h, b, m, t, fs, $9
                 FROM unnest($1::text[], $2::text[], $3::int4[], $4::int4[], $5::int8[], $6::text[], $7::bytea[], $8::text[])
                      WITH ORDINALITY AS u(s, f, w, h, b, m, t, fs, n)
                 ORDER BY n
                 ON CONFLICT (sha256) DO NOTHING RETURNING sha256",
                &[
                    &shas,
                    &col(&|(im, _)| text(&im.format)),
                    &news.iter().map(|&i| int(items[i].0.width)).collect::<Vec<_>>(),
                    &news.iter().map(|&i| int(items[i].0.height)).collect::<Vec<_>>(),
                    &news
                        .iter()
                        .map(|&i| i64::try_from(items[i].0.bytes).unwrap_or(i64::MAX))
                        .collect::<Vec<_>>(),
                    &col(&|(im, _)| text(&im.metadata_json)),
                    &news
                        .iter()
                        .map(|&i| items[i].0.thumb.as_deref())
                        .collect::<Vec<_>>(),
                    &col(&|(_, s)| text(&s.first_seen)),
                    &now,
                ],
            )
            .map_err(db)?;
        let added: HashSet<String> = inserted.iter().map(|r| r.get(0)).collect();
        let ids: HashMap<String, i64> = tx
            .query(
                "SELECT sha256, id FROM images WHERE sha256 = ANY($1)",
                &[&shas],
            )
            .map_err(db)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let id_of = |image: &NewImage| -> Result<i64> {
            ids.get(text(&image.sha256).as_ref())
                .copied()
                .ok_or_else(|| {
                    Error::Archive(format!("image {} vanished mid-transaction", image.sha256))
                })
        };

        // The hashes of the images this batch added; one row per (kind,
        // region), the last one winning, as SQLite's INSERT OR REPLACE does.
        let (mut h_id, mut h_kind, mut h_stamp, mut h_region, mut h_bits, mut h_quality) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for &i in &news {
            let image = &items[i].0;
            if !added.contains(text(&image.sha256).as_ref()) {
                continue;
            }
            let id = id_of(image)?;
            let mut hashes: Vec<&StoredHash> = Vec::with_capacity(image.hashes.len());
            for h in &image.hashes {
                hashes.retain(|o| !(o.region == h.region && o.bits.kind == h.bits.kind));
                hashes.push(h);
            }
            for h in hashes {
                h_id.push(id);
                h_kind.push(h.bits.kind.name());
                h_stamp.push(h.bits.kind.stamp());
                h_region.push(text(&h.region));
                h_bits.push(h.bits.to_bytes());
                h_quality.push(h.quality.map(i16::from));
            }
        }
        if !h_id.is_empty() {
            tx.execute(
                "INSERT INTO hashes (image_id, kind, stamp, region, bits, quality)
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::int2[])
                 ON CONFLICT (image_id, kind, region)
                 DO UPDATE SET stamp = EXCLUDED.stamp, bits = EXCLUDED.bits, quality = EXCLUDED.quality",
                &[&h_id, &h_kind, &h_stamp, &h_region, &h_bits, &h_quality],
            )
            .map_err(db)?;
        }

        // Features of every content in the batch that has them, also content
        // already known without them (recorded by an older retrace).
        let (mut f_id, mut f_data, mut f_words) = (Vec::new(), Vec::new(), Vec::new());
        for &i in &news {
            if let Some(f) = &items[i].0.features {
                f_id.push(id_of(&items[i].0)?);
                f_data.push(f.data.as_slice());
                f_words.push(f.words.as_slice());
            }
        }
        if !f_id.is_empty() {
            tx.execute(
                "INSERT INTO features (image_id, stamp, data, vocabulary, words)
                 SELECT i, $4, d, $5, w FROM unnest($1::int8[], $2::bytea[], $3::bytea[]) AS u(i, d, w)
                 ON CONFLICT (image_id) DO NOTHING",
                &[
                    &f_id,
                    &f_data,
                    &f_words,
                    &crate::features::STAMP,
                    &crate::features::vocabulary::STAMP,
                ],
            )
            .map_err(db)?;
        }

        let mut s_id = Vec::with_capacity(items.len());
        for (image, _) in items {
            s_id.push(id_of(image)?);
        }
        let s_col = |f: &dyn Fn(&Sighting) -> Cow<str>| -> Vec<Cow<str>> {
            items.iter().map(|(_, s)| f(s)).collect()
        };
        tx.execute(
            "INSERT INTO sightings (image_id, location, source, url, first_seen, first_seen_from, added_at)
             SELECT i, l, s, u, f, ff, $7
             FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                  WITH ORDINALITY AS x(i, l, s, u, f, ff, n)
             ORDER BY n
             ON CONFLICT (image_id, location, source) DO NOTHING",
            &[
                &s_id,
                &s_col(&|s| text(&s.location)),
                &s_col(&|s| text(&s.source)),
                &items
                    .iter()
                    .map(|(_, s)| opt_text(&s.url))
                    .collect::<Vec<_>>(),
                &s_col(&|s| text(&s.first_seen)),
                &s_col(&|s| text(s.first_seen_from.as_str())),
                &now,
            ],
        )
        .map_err(db)?;
        tx.execute(
            "UPDATE images i SET first_seen = m.earliest
             FROM (SELECT image_id, MIN(first_seen) AS earliest FROM sightings
                   WHERE image_id = ANY($1) GROUP BY image_id) m
             WHERE i.id = m.image_id AND i.first_seen IS DISTINCT FROM m.earliest",
            &[&s_id],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;

        let mut seen_added = HashSet::new();
        Ok(items
            .iter()
            .map(|(image, _)| {
                let sha = text(&image.sha256);
                if added.contains(sha.as_ref()) && seen_added.insert(sha) {
                    Recorded::Added
                } else {
                    Recorded::AlreadyKnown
                }
            })
            .collect())
    }

    fn lookup_sha256(&self, sha256: &str) -> Result<Option<i64>> {
        Ok(self
            .conn()?
            .query_opt("SELECT id FROM images WHERE sha256 = $1", &[&text(sha256)])
            .map_err(db)?
            .map(|r| r.get(0)))
    }

    fn known_image(&self, id: i64) -> Result<Option<KnownImage>> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT i.id, i.sha256, i.format, i.width, i.height, i.metadata_json,
                        s.location, s.source, s.url, s.first_seen, s.first_seen_from,
                        (SELECT COUNT(*) FROM sightings WHERE image_id = i.id)
                 FROM images i JOIN sightings s ON s.image_id = i.id
                 WHERE i.id = $1
                 ORDER BY s.first_seen ASC, s.id ASC LIMIT 1",
                &[&id],
            )
            .map_err(db)?;
        let Some(r) = row else { return Ok(None) };
        let get = || -> std::result::Result<KnownImage, postgres::Error> {
            Ok(KnownImage {
                id: r.try_get(0)?,
                sha256: r.try_get(1)?,
                format: r.try_get(2)?,
                width: uint(r.try_get(3)?),
                height: uint(r.try_get(4)?),
                metadata_json: r.try_get(5)?,
                earliest: Sighting {
                    location: r.try_get(6)?,
                    source: r.try_get(7)?,
                    url: r.try_get(8)?,
                    first_seen: r.try_get(9)?,
                    first_seen_from: r.try_get::<_, String>(10)?.into(),
                },
                sightings: r.try_get::<_, i64>(11)?.max(0) as u64,
            })
        };
        get().map(Some).map_err(db)
    }

    fn sightings(&self, id: i64) -> Result<Vec<Sighting>> {
        let rows = self
            .conn()?
            .query(
                "SELECT location, source, url, first_seen, first_seen_from FROM sightings
                 WHERE image_id = $1 ORDER BY first_seen ASC, id ASC",
                &[&id],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(Sighting {
                    location: r.try_get(0)?,
                    source: r.try_get(1)?,
                    url: r.try_get(2)?,
                    first_seen: r.try_get(3)?,
                    first_seen_from: r.try_get::<_, String>(4)?.into(),
                })
            })
            .collect::<std::result::Result<Vec<_>, postgres::Error>>()
            .map_err(db)
    }

    fn features(&self, id: i64) -> Result<Option<StoredFeatures>> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT data, CASE WHEN vocabulary = $3 THEN words END FROM features
                 WHERE image_id = $1 AND stamp = $2",
                &[
                    &id,
                    &crate::features::STAMP,
                    &crate::features::vocabulary::STAMP,
                ],
            )
            .map_err(db)?;
        row.map(|r| {
            Ok(StoredFeatures {
                data: r.try_get::<_, Vec<u8>>(0)?,
                words: r.try_get::<_, Option<Vec<u8>>>(1)?.unwrap_or_default(),
            })
        })
        .transpose()
        .map_err(db)
    }

    fn load_current_words(&self, up_to: i64, f: &mut WordSink) -> Result<u64> {
        let mut client = self.conn()?;
        let mut tx = PgArchive::snapshot(&mut client)?;
        let mut n = 0;
        {
            let params: [&(dyn postgres::types::ToSql + Sync); 3] = [
                &up_to,
                &crate::features::STAMP,
                &crate::features::vocabulary::STAMP,
            ];
            let mut rows = tx
                .query_raw(
                    "SELECT image_id, words FROM features
                     WHERE image_id <= $1 AND stamp = $2 AND vocabulary = $3 ORDER BY image_id",
                    params,
                )
                .map_err(db)?;
            while let Some(row) = rows.next().map_err(db)? {
                if let (Ok(id), Ok(words)) = (row.try_get::<_, i64>(0), row.try_get::<_, &[u8]>(1))
                {
                    f(id, words);
                    n += 1;
                }
            }
        }
        tx.commit().map_err(db)?;
        Ok(n)
    }

    fn thumb(&self, id: i64) -> Result<Option<Vec<u8>>> {
        let row = self
            .conn()?
            .query_opt("SELECT thumb FROM images WHERE id = $1", &[&id])
            .map_err(db)?;
        row.map(|r| r.try_get::<_, Option<Vec<u8>>>(0))
            .transpose()
            .map(Option::flatten)
            .map_err(db)
    }

    fn image_hashes(&self, id: i64) -> Result<Vec<StoredHash>> {
        let rows = self
            .conn()?
            .query(
                &format!("{HASH_COLUMNS} WHERE image_id = $1 ORDER BY kind, region"),
                &[&id],
            )
            .map_err(db)?;
        let mut out = Vec::new();
        for row in &rows {
            hash_row(row, &mut |_, region, bits, quality| {
                out.push(StoredHash {
                    region: region.to_string(),
                    bits,
                    quality,
                })
            });
        }
        Ok(out)
    }

    fn load_current_hashes(&self, f: &mut HashSink) -> Result<Loaded> {
        let mut client = self.conn()?;
        let mut tx = PgArchive::snapshot(&mut client)?;
        let row = tx
            .query_one("SELECT COALESCE(MAX(id), 0), COUNT(*) FROM images", &[])
            .map_err(db)?;
        let loaded = Loaded {
            last_id: row.get(0),
            images: row.get::<_, i64>(1).max(0) as u64,
        };
        {
            // Streamed: rows are decoded as they arrive, never all held at once.
            let mut rows = tx.query_raw(HASH_COLUMNS, [0i64; 0]).map_err(db)?;
            while let Some(row) = rows.next().map_err(db)? {
                hash_row(&row, f);
            }
        }
        tx.commit().map_err(db)?;
        Ok(loaded)
    }

    fn hashes_since(&self, after: i64, max_images: u32) -> Result<Since> {
        let mut client = self.conn()?;
        let mut tx = PgArchive::snapshot(&mut client)?;
        let row = tx
            .query_one(
                "SELECT MAX(id), COUNT(*) FROM (SELECT id FROM images WHERE id > $1 ORDER BY id LIMIT $2) AS t",
                &[&after, &i64::from(max_images)],
            )
            .map_err(db)?;
        let mut since = Since {
            last_id: row.get::<_, Option<i64>>(0).unwrap_or(after),
            images: row.get::<_, i64>(1).max(0) as u64,
            rows: Vec::new(),
            words: Vec::new(),
        };
        if since.images > 0 {
            let rows = tx
                .query(
                    &format!(
                        "{HASH_COLUMNS} WHERE image_id > $1 AND image_id <= $2 ORDER BY image_id, kind, region"
                    ),
                    &[&after, &since.last_id],
                )
                .map_err(db)?;
            let out: &mut Vec<HashRow> = &mut since.rows;
            for row in &rows {
                hash_row(row, &mut |id, region, bits, quality| {
                    out.push((id, region.to_string(), bits, quality))
                });
            }
            let rows = tx
                .query(
                    "SELECT image_id, words FROM features
                     WHERE image_id > $1 AND image_id <= $2 AND stamp = $3 AND vocabulary = $4
                     ORDER BY image_id",
                    &[
                        &after,
                        &since.last_id,
                        &crate::features::STAMP,
                        &crate::features::vocabulary::STAMP,
                    ],
                )
                .map_err(db)?;
            for row in &rows {
                if let (Ok(id), Ok(w)) = (row.try_get::<_, i64>(0), row.try_get::<_, Vec<u8>>(1)) {
                    since.words.push((id, w));
                }
            }
        }
        tx.commit().map_err(db)?;
        Ok(since)
    }

    fn images_after(&self, after: i64, max_images: u32) -> Result<Vec<(i64, NewImage)>> {
        let rows = self
            .conn()?
            .query(
                "SELECT id, sha256, format, width, height, bytes, metadata_json, thumb FROM images
                 WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after, &i64::from(max_images)],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    NewImage {
                        sha256: r.try_get(1)?,
                        format: r.try_get(2)?,
                        width: uint(r.try_get(3)?),
                        height: uint(r.try_get(4)?),
                        bytes: r.try_get::<_, i64>(5)?.max(0) as u64,
                        metadata_json: r.try_get(6)?,
                        thumb: r.try_get(7)?,
                        hashes: Vec::new(),
                        features: None,
                    },
                ))
            })
            .collect::<std::result::Result<Vec<_>, postgres::Error>>()
            .map_err(db)
    }

    fn image_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn()?
            .query_one("SELECT COUNT(*) FROM images", &[])
            .map_err(db)?
            .get(0);
        Ok(n.max(0) as u64)
    }

    fn feature_count(&self, up_to: i64) -> Result<u64> {
        let n: i64 = self
            .conn()?
            .query_one(
                "SELECT COUNT(*) FROM features WHERE image_id <= $1 AND stamp = $2 AND vocabulary = $3",
                &[
                    &up_to,
                    &crate::features::STAMP,
                    &crate::features::vocabulary::STAMP,
                ],
            )
            .map_err(db)?
            .get(0);
        Ok(n.max(0) as u64)
    }

    fn info(&self) -> Result<ArchiveInfo> {
        let mut client = self.conn()?;
        let mut tx = PgArchive::snapshot(&mut client)?;
        let version: i32 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
            .map_err(db)?
            .get(0);
        let images: i64 = tx
            .query_one("SELECT COUNT(*) FROM images", &[])
            .map_err(db)?
            .get(0);
        let s = tx
            .query_one(
                "SELECT COUNT(*), MIN(first_seen), MAX(first_seen) FROM sightings",
                &[],
            )
            .map_err(db)?;
        let hash_stamps = tx
            .query(
                "SELECT stamp, COUNT(*) FROM hashes GROUP BY stamp ORDER BY stamp",
                &[],
            )
            .map_err(db)?
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1).max(0) as u64))
            .collect();
        let with_features: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM features WHERE stamp = $1 AND vocabulary = $2",
                &[&crate::features::STAMP, &crate::features::vocabulary::STAMP],
            )
            .map_err(db)?
            .get(0);
        tx.commit().map_err(db)?;
        Ok(ArchiveInfo {
            path: Default::default(),
            schema_version: version.max(0) as u32,
            images: images.max(0) as u64,
            sightings: s.get::<_, i64>(0).max(0) as u64,
            first_seen_min: s.get(1),
            first_seen_max: s.get(2),
            hash_stamps,
            with_features: with_features.max(0) as u64,
        })
    }

    fn watched(&self, path: &[u8]) -> Result<Option<(u64, i64)>> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT size, mtime_ns FROM watched_files WHERE path = $1",
                &[&path],
            )
            .map_err(db)?
            .map(|r| (r.get::<_, i64>(0).max(0) as u64, r.get(1))))
    }

    fn mark_watched(
        &self,
        path: &[u8],
        size: u64,
        mtime_ns: i64,
        sha256: Option<&str>,
        report: &str,
    ) -> Result<()> {
        self.conn()?
            .execute(
                "INSERT INTO watched_files (path, size, mtime_ns, sha256, report, processed_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (path) DO UPDATE SET size = EXCLUDED.size, mtime_ns = EXCLUDED.mtime_ns,
                     sha256 = EXCLUDED.sha256, report = EXCLUDED.report, processed_at = EXCLUDED.processed_at",
                &[
                    &path,
                    &i64::try_from(size).unwrap_or(i64::MAX),
                    &mtime_ns,
                    &sha256.map(text),
                    &text(report),
                    &now_iso(),
                ],
            )
            .map(|_| ())
            .map_err(db)
    }

    fn watched_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn()?
            .query_one("SELECT COUNT(*) FROM watched_files", &[])
            .map_err(db)?
            .get(0);
        Ok(n.max(0) as u64)
    }

    /// The server keeps its own pages consistent; what is checked here are the
    /// archive's invariants, which only a bug could break.
    fn integrity_check(&self) -> Result<()> {
        let broken: i64 = self
            .conn()?
            .query_one(
                "SELECT COUNT(*) FROM images i
                 WHERE i.first_seen IS NULL
                    OR NOT EXISTS (SELECT 1 FROM sightings s WHERE s.image_id = i.id)
                    OR i.first_seen <> (SELECT MIN(first_seen) FROM sightings s WHERE s.image_id = i.id)",
                &[],
            )
            .map_err(db)?
            .get(0);
        if broken == 0 {
            Ok(())
        } else {
            Err(Error::Archive(format!(
                "integrity check: {broken} images without a sighting or with a first-seen that is not their earliest"
            )))
        }
    }
}
