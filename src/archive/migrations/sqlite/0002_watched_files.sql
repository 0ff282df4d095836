-- retrace archive schema, migration 2.
-- What `retrace watch` has processed, so that a restart neither redoes a file
-- nor skips one that arrived while it was down. A file is "done" for one
-- (size, mtime); a file that changes afterwards is a new version and is
-- processed again.
CREATE TABLE watched_files (
    -- The file's path as the watcher saw it (OS bytes, so any name fits).
    path         BLOB    PRIMARY KEY,
    size         INTEGER NOT NULL,
    -- Modification time in nanoseconds since the Unix epoch.
    mtime_ns     INTEGER NOT NULL,
    sha256       TEXT,
    -- Where its report was written.
    report       TEXT    NOT NULL,
    processed_at TEXT    NOT NULL
);
