-- Files in the database: the blob store that every replica reaches without
-- a shared volume (`blob_store = "database"`, the default on PostgreSQL).
-- A key names a file, e.g. `checkpoints/<sweep>/<trial>/<attempt>.ckpt`;
-- `sweep_id` lets the files of an ended or deleted sweep go with it.
CREATE TABLE blobs (
    key       TEXT   PRIMARY KEY,
    sweep_id  BIGINT,
    sha256    TEXT   NOT NULL,
    bytes     BIGINT NOT NULL,
    data      BYTEA  NOT NULL,
    stored_ms BIGINT NOT NULL
);
CREATE INDEX blobs_by_sweep ON blobs (sweep_id);
