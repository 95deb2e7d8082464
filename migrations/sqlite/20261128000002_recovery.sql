-- Crash recovery: attempts lost to crashes (dead workers, expired leases,
-- a killed server) are counted apart from attempts, which also grow when a
-- trial is handed back at a graceful shutdown; `max_attempts` bounds the
-- former. `started_ms` is when the current attempt was claimed, for the
-- per-trial time limit.
ALTER TABLE trials ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN started_ms INTEGER;
