-- One server at a time on a database. The live server holds the one row of
-- this table and renews it every `server_lock_seconds`; another server
-- refuses to start while the hold is good, and takes it over only from a
-- server that is gone: its process has ended (seen from the same machine),
-- or it went 3 periods without renewing (`expires_ms` passed).
CREATE TABLE server_lock (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    -- Unique per server start.
    owner      TEXT    NOT NULL,
    host       TEXT    NOT NULL,
    pid        INTEGER NOT NULL,
    -- The kernel's boot id and the server's pid namespace: where `pid` means
    -- this process. NULL where unknown.
    machine    TEXT,
    -- When the process started (clock ticks after boot), which tells it from
    -- a later process given the same pid. NULL where unknown.
    started    TEXT,
    since      TEXT    NOT NULL,
    renewed_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
