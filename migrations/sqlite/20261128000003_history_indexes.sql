-- Indexes that keep a sweep with a long history quick to read: the best
-- trial by each metric a spec can name (GET /v1/sweeps/<id>, /best and the
-- best_changed check after every finished trial), and the trial counts per
-- state. Pages of /trials walk the UNIQUE (sweep_id, number) index.
CREATE INDEX trials_best_val_accuracy ON trials (sweep_id, val_accuracy)
    WHERE state IN ('completed', 'pruned');
CREATE INDEX trials_best_val_loss ON trials (sweep_id, val_loss)
    WHERE state IN ('completed', 'pruned');
CREATE INDEX trials_best_train_loss ON trials (sweep_id, train_loss)
    WHERE state IN ('completed', 'pruned');
CREATE INDEX trials_by_sweep_state ON trials (sweep_id, state);

-- Trials per sweep and state, kept by triggers, so that a sweep's status
-- reads a handful of rows instead of counting its whole history.
CREATE TABLE trial_counts (
    sweep_id INTEGER NOT NULL REFERENCES sweeps (id),
    state    TEXT    NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (sweep_id, state)
) WITHOUT ROWID;
INSERT INTO trial_counts (sweep_id, state, n)
    SELECT sweep_id, state, COUNT(*) FROM trials GROUP BY sweep_id, state;
CREATE TRIGGER trial_counts_insert AFTER INSERT ON trials BEGIN
    INSERT INTO trial_counts (sweep_id, state, n) VALUES (NEW.sweep_id, NEW.state, 1)
        ON CONFLICT (sweep_id, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER trial_counts_update AFTER UPDATE OF state, sweep_id ON trials
    WHEN OLD.state IS NOT NEW.state OR OLD.sweep_id IS NOT NEW.sweep_id BEGIN
    UPDATE trial_counts SET n = n - 1 WHERE sweep_id = OLD.sweep_id AND state = OLD.state;
    INSERT INTO trial_counts (sweep_id, state, n) VALUES (NEW.sweep_id, NEW.state, 1)
        ON CONFLICT (sweep_id, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER trial_counts_delete AFTER DELETE ON trials BEGIN
    UPDATE trial_counts SET n = n - 1 WHERE sweep_id = OLD.sweep_id AND state = OLD.state;
END;
