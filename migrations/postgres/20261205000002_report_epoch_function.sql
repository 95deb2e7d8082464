-- An epoch report as one call: what `Store::report_epoch_pg` does in a
-- transaction of its own (lock the sweep's row, check the lease, check for
-- an earlier delivery, insert the report and its training-loss samples,
-- update the trial, append the event), run inside the database, so that a
-- report is one round trip and the sweep's lock is held for the call alone.
-- Every write to a sweep holds that lock to its commit (issue 17's four
-- cases), so one sweep's writes run one at a time; a report of eight round
-- trips held it 2.5-3.3 ms, which bounded a sweep to 300-400 writes a second.
--
-- Called as a statement of its own outside any transaction, it commits with
-- the call. Each statement in it reads the latest committed rows (READ
-- COMMITTED takes a snapshot per statement), as the transaction did.
--
-- `losses` is a JSON array of [step, epoch, loss]; `event_data` the event's JSON.
-- Returns 'stored', 'delivered_before' or 'lease_lost'. A report that prunes
-- its trial or reaches the sweep's target takes the transaction instead.
CREATE FUNCTION hs_report_epoch(
    sweep BIGINT, trial BIGINT, holder TEXT, attempt_no BIGINT, lease_ms BIGINT,
    epoch_no BIGINT, train DOUBLE PRECISION, val DOUBLE PRECISION,
    accuracy DOUBLE PRECISION, took DOUBLE PRECISION,
    decided TEXT, why TEXT, rung_no BIGINT, losses TEXT, event_data TEXT
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    now_ms BIGINT;
BEGIN
    PERFORM 1 FROM sweeps WHERE id = sweep FOR UPDATE;
    PERFORM 1 FROM trials
        WHERE id = trial AND state = 'running' AND worker = holder AND attempt = attempt_no;
    IF NOT FOUND THEN
        RETURN 'lease_lost';
    END IF;
    now_ms := CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS BIGINT);
    IF EXISTS (SELECT 1 FROM epoch_reports
               WHERE trial_id = trial AND epoch = epoch_no AND attempt = attempt_no) THEN
        UPDATE trials SET lease_expires_ms = now_ms + lease_ms WHERE id = trial;
        RETURN 'delivered_before';
    END IF;
    INSERT INTO epoch_reports (trial_id, epoch, attempt, train_loss, val_loss, val_accuracy,
            seconds, decision, reason, rung, created_at)
        VALUES (trial, epoch_no, attempt_no, train, val, accuracy, took, decided, why, rung_no,
            strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
    INSERT INTO batch_losses (trial_id, step, epoch, loss)
        SELECT trial, CAST(x ->> 0 AS BIGINT), CAST(x ->> 1 AS BIGINT),
               CAST(x ->> 2 AS DOUBLE PRECISION)
        FROM jsonb_array_elements(CAST(losses AS jsonb)) AS x;
    UPDATE trials SET epochs_done = epoch_no, train_loss = train, val_loss = val,
            val_accuracy = accuracy, lease_expires_ms = now_ms + lease_ms
        WHERE id = trial;
    INSERT INTO events (sweep_id, trial_id, kind, data, created_at)
        VALUES (sweep, trial, 'epoch_report', event_data, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
    RETURN 'stored';
END $$;
