-- retrace archive schema, migration 1.
-- One row per distinct content (SHA-256); every time the content was seen is a sighting.
CREATE TABLE images (
    id            INTEGER PRIMARY KEY,
    sha256        TEXT    NOT NULL UNIQUE,
    format        TEXT    NOT NULL,
    width         INTEGER,
    height        INTEGER,
    bytes         INTEGER NOT NULL,
    -- The metadata summary as JSON (make, model, capture time, GPS, ...).
    metadata_json TEXT    NOT NULL DEFAULT '{}',
    -- Grayscale thumbnail used to verify crops and screenshots (format in align.rs).
    thumb         BLOB,
    -- Earliest first_seen over all sightings, kept up to date on every insert.
    first_seen    TEXT,
    added_at      TEXT    NOT NULL
);

-- Perceptual hashes. `stamp` names algorithm, parameters and implementation version:
-- hashes are only ever compared with hashes of the same stamp.
CREATE TABLE hashes (
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    kind     TEXT    NOT NULL,
    stamp    TEXT    NOT NULL,
    region   TEXT    NOT NULL,
    bits     BLOB    NOT NULL,
    quality  INTEGER,
    PRIMARY KEY (image_id, kind, region)
);
CREATE INDEX hashes_by_stamp ON hashes(stamp);

CREATE TABLE sightings (
    id              INTEGER PRIMARY KEY,
    image_id        INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    -- A path or a URL where the content was seen.
    location        TEXT    NOT NULL,
    source          TEXT    NOT NULL DEFAULT '',
    url             TEXT,
    first_seen      TEXT    NOT NULL,
    -- Where first_seen came from: exif, mtime, given, manifest, recorded.
    first_seen_from TEXT    NOT NULL,
    added_at        TEXT    NOT NULL,
    UNIQUE (image_id, location, source)
);
CREATE INDEX sightings_by_image ON sightings(image_id, first_seen);
