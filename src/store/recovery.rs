//! Getting trials back from workers that stopped: crashed workers, expired
//! leases, a killed server, a graceful shutdown, a trial over its time limit;
//! and a resumed attempt's rewind to its checkpoint.
use super::lifecycle::complete_sweep_if_done;
use super::queue::{hold, Claim, LeaseLost};
use super::{events, now_ms, EpochReport, Store, StoreError, NOW};
use serde_json::json;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

const RUNNING: &str =
    "SELECT id, sweep_id, number, attempt, failures, worker FROM trials WHERE state = 'running'";

impl Store {
    /// Takes back every running trial whose lease has expired. Returns how many.
    pub async fn reap_expired_leases(&self, max_attempts: u32) -> Result<usize, StoreError> {
        let mut tx = self.write().await?;
        let rows = sqlx::query(&format!("{RUNNING} AND lease_expires_ms < ?"))
            .bind(now_ms())
            .fetch_all(&mut *tx)
            .await?;
        take_back(&mut tx, &rows, max_attempts, "the lease expired").await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Takes back the trials of a worker process that exited. Returns how many.
    pub async fn take_back_from(
        &self,
        worker: &str,
        max_attempts: u32,
    ) -> Result<usize, StoreError> {
        let mut tx = self.write().await?;
        let rows = sqlx::query(&format!("{RUNNING} AND worker = ?"))
            .bind(worker)
            .fetch_all(&mut *tx)
            .await?;
        take_back(&mut tx, &rows, max_attempts, "its worker died").await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Takes back every running trial: at start-up, when no worker of this
    /// server runs yet, they were left by a server that stopped without
    /// handing them back. Returns how many.
    pub async fn take_back_orphans(&self, max_attempts: u32) -> Result<usize, StoreError> {
        let mut tx = self.write().await?;
        let rows = sqlx::query(RUNNING).fetch_all(&mut *tx).await?;
        take_back(&mut tx, &rows, max_attempts, "the server stopped").await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Gives up a claimed trial the way a crash would (its worker ran out of
    /// memory): queued again with a failure counted, or failed after
    /// `max_attempts`.
    pub async fn lose_attempt(
        &self,
        claim: &Claim,
        worker: &str,
        max_attempts: u32,
        why: &str,
    ) -> Result<Result<(), LeaseLost>, StoreError> {
        let mut tx = self.write().await?;
        if let Err(lost) = hold(&mut tx, claim, worker).await? {
            return Ok(Err(lost));
        }
        let rows = sqlx::query(&format!("{RUNNING} AND id = ?"))
            .bind(claim.trial_id)
            .fetch_all(&mut *tx)
            .await?;
        take_back(&mut tx, &rows, max_attempts, why).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Hands a claimed trial back to the queue at a graceful shutdown, after
    /// its checkpoint: not counted as a failure.
    pub async fn hand_back(
        &self,
        claim: &Claim,
        worker: &str,
    ) -> Result<Result<(), LeaseLost>, StoreError> {
        let mut tx = self.write().await?;
        if let Err(lost) = hold(&mut tx, claim, worker).await? {
            return Ok(Err(lost));
        }
        sqlx::query(
            "UPDATE trials SET state = 'queued', worker = NULL, lease_expires_ms = NULL WHERE id = ?",
        )
        .bind(claim.trial_id)
        .execute(&mut *tx)
        .await?;
        let data = json!({"number": claim.number, "attempt": claim.attempt, "worker": worker,
            "reason": "the worker is shutting down"});
        events::append(
            &mut tx,
            claim.sweep_id,
            Some(claim.trial_id),
            "trial_requeued",
            data,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Ends running trials past their sweep's `trial_timeout_minutes` in
    /// this attempt as `failed` with reason `timeout`; their workers stop at
    /// their next write. Returns how many. A sweep whose spec is not JSON
    /// has no limit it can tell (claims skip it, so none of its trials
    /// starts); the others' limits still apply.
    pub async fn enforce_trial_timeouts(&self) -> Result<usize, StoreError> {
        let mut tx = self.write().await?;
        // CASE, not AND: SQLite may evaluate AND's terms in any order, and
        // json_extract fails the whole statement on malformed JSON.
        let rows = sqlx::query(
            "SELECT id, sweep_id, number FROM (
                SELECT t.id, t.sweep_id, t.number, t.started_ms,
                    CASE WHEN json_valid(s.spec)
                        THEN json_extract(s.spec, '$.trial_timeout_minutes') END AS minutes
                FROM trials t JOIN sweeps s ON s.id = t.sweep_id
                WHERE t.state = 'running' AND t.started_ms IS NOT NULL)
             WHERE minutes IS NOT NULL AND started_ms + minutes * 60000.0 < ?",
        )
        .bind(now_ms())
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let (id, sweep_id): (i64, i64) = (row.get("id"), row.get("sweep_id"));
            fail(&mut tx, id, sweep_id, row.get("number"), "timeout").await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Rewinds a claimed trial to `epoch`, the checkpoint its new attempt
    /// resumes from (0: from scratch): reports and samples after it go, its
    /// latest metrics are those of `epoch`. Returns the reports kept.
    pub async fn rewind(
        &self,
        claim: &Claim,
        worker: &str,
        epoch: i64,
    ) -> Result<Result<Vec<EpochReport>, LeaseLost>, StoreError> {
        let mut tx = self.write().await?;
        if let Err(lost) = hold(&mut tx, claim, worker).await? {
            return Ok(Err(lost));
        }
        for table in ["epoch_reports", "batch_losses"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE trial_id = ? AND epoch > ?"
            ))
            .bind(claim.trial_id)
            .bind(epoch)
            .execute(&mut *tx)
            .await?;
        }
        let kept: Vec<EpochReport> = sqlx::query(
            "SELECT epoch, train_loss, val_loss, val_accuracy, seconds FROM epoch_reports
             WHERE trial_id = ? ORDER BY epoch",
        )
        .bind(claim.trial_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| EpochReport {
            epoch: r.get("epoch"),
            train_loss: r.get("train_loss"),
            val_loss: r.get("val_loss"),
            val_accuracy: r.get("val_accuracy"),
            seconds: r.get("seconds"),
        })
        .collect();
        let last = kept.last();
        sqlx::query(
            "UPDATE trials SET epochs_done = ?, train_loss = ?, val_loss = ?, val_accuracy = ? WHERE id = ?",
        )
        .bind(epoch)
        .bind(last.map(|r| r.train_loss))
        .bind(last.map(|r| r.val_loss))
        .bind(last.map(|r| r.val_accuracy))
        .bind(claim.trial_id)
        .execute(&mut *tx)
        .await?;
        if epoch > 0 {
            events::append(
                &mut tx,
                claim.sweep_id,
                Some(claim.trial_id),
                "trial_resumed",
                json!({"number": claim.number, "attempt": claim.attempt, "epoch": epoch}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(kept))
    }
}

/// Queues `rows` (running trials) again, counting a failure each; a trial
/// that reaches `max_attempts` failures ends `failed`.
async fn take_back(
    tx: &mut Transaction<'_, Sqlite>,
    rows: &[SqliteRow],
    max_attempts: u32,
    why: &str,
) -> Result<(), StoreError> {
    for row in rows {
        let (id, sweep_id, number): (i64, i64, i64) =
            (row.get("id"), row.get("sweep_id"), row.get("number"));
        let failures = row.get::<i64, _>("failures") + 1;
        let worker: Option<String> = row.get("worker");
        tracing::warn!(
            trial = id,
            ?worker,
            failures,
            "taking the trial back: {why}"
        );
        if failures >= i64::from(max_attempts) {
            sqlx::query("UPDATE trials SET failures = ? WHERE id = ?")
                .bind(failures)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            let reason = format!("{why}; {failures} of {max_attempts} attempts lost");
            fail(tx, id, sweep_id, number, &reason).await?;
        } else {
            sqlx::query(
                "UPDATE trials SET state = 'queued', failures = ?, worker = NULL, lease_expires_ms = NULL
                 WHERE id = ?",
            )
            .bind(failures)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            let data = json!({"number": number, "attempt": row.get::<i64, _>("attempt"),
                "worker": worker, "reason": why, "failures": failures});
            events::append(tx, sweep_id, Some(id), "trial_requeued", data).await?;
        }
    }
    Ok(())
}

/// Ends a running trial `failed` with `reason`; completes its sweep if it was the last.
async fn fail(
    tx: &mut Transaction<'_, Sqlite>,
    id: i64,
    sweep_id: i64,
    number: i64,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "UPDATE trials SET state = 'failed', error = ?, finished_at = {NOW}, lease_expires_ms = NULL
         WHERE id = ?"
    ))
    .bind(reason)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    events::append(
        tx,
        sweep_id,
        Some(id),
        "trial_failed",
        json!({"number": number, "error": reason}),
    )
    .await?;
    complete_sweep_if_done(tx, sweep_id).await
}
