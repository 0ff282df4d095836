-- retrace archive schema, migration 3: local features (issue 21).
-- One row per picture that has them: its ORB keypoints and descriptors (`data`,
-- layout in src/features/mod.rs, named by `stamp`), and their visual words
-- (`words`, 3 bytes each, named by `vocabulary`) that the index is built from.
-- Descriptors are kept because the archive keeps no pixels: a new vocabulary
-- can re-quantise them, a new detector cannot recompute them.
CREATE TABLE features (
    image_id   INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    stamp      TEXT    NOT NULL,
    data       BLOB    NOT NULL,
    vocabulary TEXT    NOT NULL,
    words      BLOB    NOT NULL
);
