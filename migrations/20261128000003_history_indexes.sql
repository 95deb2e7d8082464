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
