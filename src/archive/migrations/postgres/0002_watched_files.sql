-- retrace archive schema for PostgreSQL, migration 2: what `retrace watch`
-- has processed (see migrations/sqlite/0002_watched_files.sql).
CREATE TABLE watched_files (
    path         BYTEA  PRIMARY KEY,
    size         BIGINT NOT NULL,
    mtime_ns     BIGINT NOT NULL,
    sha256       TEXT,
    report       TEXT   NOT NULL,
    processed_at TEXT   NOT NULL
);
