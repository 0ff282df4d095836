-- retrace archive schema for PostgreSQL, migration 3 (the same table as
-- migrations/sqlite/0003_features.sql): each picture's local features and
-- their visual words.
CREATE TABLE features (
    image_id   BIGINT PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    stamp      TEXT   COLLATE "C" NOT NULL,
    data       BYTEA  NOT NULL,
    vocabulary TEXT   COLLATE "C" NOT NULL,
    words      BYTEA  NOT NULL
);
