-- Files in the database: the blob store that every server reaches without
-- a shared folder (`blob_store = "database"`). A key names a file, e.g.
-- `checkpoints/<sweep>/<trial>/<attempt>.ckpt`; `sweep_id` lets the files
-- of an ended or deleted sweep go with it.
CREATE TABLE blobs (
    key       TEXT    PRIMARY KEY,
    sweep_id  INTEGER,
    sha256    TEXT    NOT NULL,
    bytes     INTEGER NOT NULL,
    data      BLOB    NOT NULL,
    stored_ms INTEGER NOT NULL
);
CREATE INDEX blobs_by_sweep ON blobs (sweep_id);
