-- Rung statistics of a hyperband sweep group its trials by how far they got,
-- how far they were configured to go and whether they ended pruned. The
-- configured epochs live in the params JSON; a virtual column names them so
-- that one covering index answers the grouping without reading any row.
ALTER TABLE trials ADD COLUMN planned_epochs INTEGER
    GENERATED ALWAYS AS (json_extract(params, '$.epochs')) VIRTUAL;
CREATE INDEX trials_progress ON trials (sweep_id, epochs_done, planned_epochs, state);
