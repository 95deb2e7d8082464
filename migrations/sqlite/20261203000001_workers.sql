-- Workers anywhere: the workers that registered over the worker protocol,
-- and the checkpoints they uploaded.
--
-- A worker registers with its capabilities and is seen again at every
-- claim; `seen_ms` is the server's clock, as leases are.
CREATE TABLE workers (
    id            TEXT    PRIMARY KEY,
    host          TEXT    NOT NULL,
    device        TEXT    NOT NULL,
    slots         INTEGER NOT NULL,
    threads       INTEGER NOT NULL,
    memory_bytes  INTEGER NOT NULL,
    protocol      INTEGER NOT NULL,
    registered_ms INTEGER NOT NULL,
    seen_ms       INTEGER NOT NULL
);

-- One checkpoint per trial and attempt, as uploaded (the file lives in the
-- checkpoint folder, `<sweep>/<trial>/<attempt>.ckpt`); a resuming attempt
-- is given the newest one of its trial.
CREATE TABLE checkpoints (
    trial_id    INTEGER NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    sha256      TEXT    NOT NULL,
    bytes       INTEGER NOT NULL,
    uploaded_ms INTEGER NOT NULL,
    PRIMARY KEY (trial_id, attempt)
) WITHOUT ROWID;
