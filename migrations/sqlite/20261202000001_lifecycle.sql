-- A sweep's life after submission: trials a user enqueues or a spec's
-- warm_start lists, forks that record their parent, and spaces that run
-- out of configurations.
--
-- `source` says where a trial's configuration came from: the sweep's search
-- method, a user's enqueue, or the spec's warm_start. Claims take a sweep's
-- queued trials by (priority, number): search and warm-start trials have
-- priority 0, an enqueued one a negative priority in the order enqueued,
-- so that it trains next. trials_claim keeps the claim an index walk.
ALTER TABLE trials ADD COLUMN source TEXT NOT NULL DEFAULT 'search'
    CHECK (source IN ('search', 'enqueued', 'warm_start'));
ALTER TABLE trials ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX trials_claim ON trials (state, sweep_id, priority, number);

-- The sweep a fork was made from; NULL for a sweep submitted afresh, and
-- once the parent is deleted.
ALTER TABLE sweeps ADD COLUMN parent_id INTEGER REFERENCES sweeps (id) ON DELETE SET NULL;

-- Set when planning found fewer new configurations than asked for: every
-- configuration of the (discrete) space has a trial, and the sweep, once
-- its trials end, ends `exhausted` rather than `max_trials`.
ALTER TABLE sweeps ADD COLUMN exhausted INTEGER NOT NULL DEFAULT 0;
