//! Getting trials back from workers that stopped: crashed workers, expired
//! leases, a killed server, a graceful shutdown, a trial over its time
//! limit, a worker out of memory.
use super::lifecycle::complete_sweep_if_done;
use super::queue::{Claim, WriteError};
use super::{events, now_ms, Columns, Store, StoreError, NOW};
use crate::state::TrialState;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// Running trials (bind `TrialState::Running` first); callers add conditions.
const RUNNING: &str =
    "SELECT id, sweep_id, number, attempt, failures, worker FROM trials WHERE state = ?";

/// A running trial as taking it back needs it.
struct Running {
    id: i64,
    sweep_id: i64,
    number: i64,
    attempt: i64,
    failures: i64,
    worker: Option<String>,
}

impl Running {
    fn from_row(row: &AnyRow) -> Result<Running, StoreError> {
        let c = Columns::of(row, "trial", "id")?;
        Ok(Running {
            id: c.id,
            sweep_id: c.get("sweep_id")?,
            number: c.get("number")?,
            attempt: c.get("attempt")?,
            failures: c.get("failures")?,
            worker: c.get("worker")?,
        })
    }

    fn all(rows: &[AnyRow]) -> Result<Vec<Running>, StoreError> {
        rows.iter().map(Running::from_row).collect()
    }
}

/// Which running trials a take-back is for.
#[derive(Clone, Copy)]
pub(super) enum Found<'a> {
    /// Those whose lease has expired.
    Expired,
    /// Those of this worker.
    Of(&'a str),
    /// Those of the workers whose ids start so.
    Prefixed(&'a str),
}

impl Store {
    /// Takes back every running trial whose lease has expired. Returns how many.
    pub(super) async fn reap_expired_leases(&self, max_attempts: u32) -> Result<usize, StoreError> {
        self.take_back_found(Found::Expired, max_attempts, "the lease expired")
            .await
    }

    /// Takes back the trials of a worker process that exited. Returns how many.
    pub(super) async fn take_back_from(
        &self,
        worker: &str,
        max_attempts: u32,
    ) -> Result<usize, StoreError> {
        self.take_back_found(Found::Of(worker), max_attempts, "its worker died")
            .await
    }

    /// Takes back the running trials `found` names, in one write, for `why`.
    pub(super) async fn take_back_found(
        &self,
        found: Found<'_>,
        max_attempts: u32,
        why: &str,
    ) -> Result<usize, StoreError> {
        // Leases are judged by the database's clock, which every replica shares.
        let sql = match found {
            Found::Expired => format!("{RUNNING} AND lease_expires_ms < {}", self.engine.now_ms()),
            Found::Of(_) => format!("{RUNNING} AND worker = ?"),
            Found::Prefixed(_) => format!("{RUNNING} AND substr(worker, 1, length(?)) = ?"),
        };
        let bind = |query: sqlx::query::Query<'static, Any, sqlx::any::AnyArguments<'static>>| {
            let query = query.bind(TrialState::Running);
            match found {
                Found::Expired => query,
                Found::Of(worker) => query.bind(worker.to_string()),
                Found::Prefixed(prefix) => query.bind(prefix.to_string()).bind(prefix.to_string()),
            }
        };
        // Found with a read first; each sweep's are then taken back in a
        // write of its own that holds the sweep's lock and finds them again
        // under it (one may have finished meanwhile).
        let rows = bind(super::query(&sql)).fetch_all(&self.pool).await?;
        let mut taken = 0;
        for sweep_id in sweeps_of(&Running::all(&rows)?) {
            let mut tx = self.write_sweep(sweep_id).await?;
            let rows = bind(super::query(&format!("{sql} AND sweep_id = ?")))
                .bind(sweep_id)
                .fetch_all(&mut *tx)
                .await?;
            take_back(&mut tx, &Running::all(&rows)?, max_attempts, why).await?;
            super::pause::at(super::pause::Point::BeforeCommit).await;
            tx.commit().await?;
            taken += rows.len();
        }
        Ok(taken)
    }

    /// Gives up a claimed trial the way a crash would (its worker ran out of
    /// memory): queued again with a failure counted, or failed after
    /// `max_attempts`.
    pub(super) async fn lose_attempt(
        &self,
        claim: &Claim,
        worker: &str,
        max_attempts: u32,
        why: &str,
    ) -> Result<(), WriteError> {
        self.with_lease(claim, worker, |mut tx| {
            Box::pin(async move {
                let rows = super::query(&format!("{RUNNING} AND id = ?"))
                    .bind(TrialState::Running)
                    .bind(claim.trial_id)
                    .fetch_all(&mut *tx)
                    .await?;
                take_back(&mut tx, &Running::all(&rows)?, max_attempts, why).await?;
                Ok((tx, ()))
            })
        })
        .await
    }

    /// Hands a claimed trial back to the queue at a graceful shutdown, after
    /// its checkpoint: not counted as a failure.
    pub(super) async fn hand_back(&self, claim: &Claim, worker: &str) -> Result<(), WriteError> {
        self.with_lease(claim, worker, |mut tx| {
            Box::pin(async move {
            super::query(
                "UPDATE trials SET state = ?, worker = NULL, lease_expires_ms = NULL WHERE id = ?",
            )
            .bind(TrialState::Queued)
            .bind(claim.trial_id)
            .execute(&mut *tx)
            .await?;
            let data = json!({"number": claim.number, "attempt": claim.attempt, "worker": worker,
                "reason": "the worker is shutting down"});
            events::append(&mut tx, claim.sweep_id, Some(claim.trial_id), "trial_requeued", data).await?;
                Ok((tx, ()))
            })
        })
        .await
    }

    /// Ends running trials past their sweep's `trial_timeout_minutes` in
    /// this attempt as `failed` with reason `timeout`; their workers stop at
    /// their next write. Returns how many. A sweep whose spec is not JSON
    /// has no limit it can tell (claims skip it, so none of its trials
    /// starts); the others' limits still apply.
    pub(super) async fn enforce_trial_timeouts(&self) -> Result<usize, StoreError> {
        // Looked for with a read first: reading every running trial's spec
        // takes a while under many workers, and a sweep's lock is taken
        // only when it has a trial to fail, and the trials found again under it.
        let sql = timed_out_sql(self.engine);
        let found = super::query(&sql)
            .bind(TrialState::Running)
            .bind(now_ms())
            .fetch_all(&self.pool)
            .await?;
        let mut sweeps = Vec::with_capacity(found.len());
        for row in &found {
            sweeps.push(Columns::of(row, "trial", "id")?.get::<i64>("sweep_id")?);
        }
        sweeps.sort_unstable();
        sweeps.dedup();
        let mut ended = 0;
        for sweep_id in sweeps {
            ended += self.time_out_in(&sql, sweep_id).await?;
        }
        Ok(ended)
    }

    /// Fails the sweep's running trials past its time limit, in one write.
    async fn time_out_in(&self, sql: &str, sweep_id: i64) -> Result<usize, StoreError> {
        let mut tx = self.write_sweep(sweep_id).await?;
        let rows = super::query(&format!("{sql} AND sweep_id = ?"))
            .bind(TrialState::Running)
            .bind(now_ms())
            .bind(sweep_id)
            .fetch_all(&mut *tx)
            .await?;
        for row in &rows {
            let c = Columns::of(row, "trial", "id")?;
            fail(
                &mut tx,
                c.id,
                c.get("sweep_id")?,
                c.get("number")?,
                "timeout",
            )
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }
}

/// The running trials past their sweep's `trial_timeout_minutes` (bind the
/// running state and now); callers may add conditions on `sweep_id`.
fn timed_out_sql(engine: super::Engine) -> String {
    let minutes = engine.json_number("s.spec", &["trial_timeout_minutes"]);
    format!(
        "SELECT id, sweep_id, number FROM (
            SELECT t.id, t.sweep_id, t.number, t.started_ms, {minutes} AS minutes
            FROM trials t JOIN sweeps s ON s.id = t.sweep_id
            WHERE t.state = ? AND t.started_ms IS NOT NULL) AS running
         WHERE minutes IS NOT NULL AND started_ms + minutes * 60000.0 < ?"
    )
}

/// The sweeps of `trials`, each once, in id order.
fn sweeps_of(trials: &[Running]) -> Vec<i64> {
    let mut ids: Vec<i64> = trials.iter().map(|t| t.sweep_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Queues `rows` (running trials) again, counting a failure each; a trial
/// that reaches `max_attempts` failures ends `failed`.
async fn take_back(
    tx: &mut Transaction<'_, Any>,
    trials: &[Running],
    max_attempts: u32,
    why: &str,
) -> Result<(), StoreError> {
    for t in trials {
        let failures = t.failures + 1;
        tracing::warn!(
            trial = t.id,
            worker = ?t.worker,
            failures,
            "taking the trial back: {why}"
        );
        if failures >= i64::from(max_attempts) {
            super::query("UPDATE trials SET failures = ? WHERE id = ?")
                .bind(failures)
                .bind(t.id)
                .execute(&mut **tx)
                .await?;
            let reason = format!("{why}; {failures} of {max_attempts} attempts lost");
            fail(tx, t.id, t.sweep_id, t.number, &reason).await?;
        } else {
            super::query(
                "UPDATE trials SET state = ?, failures = ?, worker = NULL, lease_expires_ms = NULL
                 WHERE id = ?",
            )
            .bind(TrialState::Queued)
            .bind(failures)
            .bind(t.id)
            .execute(&mut **tx)
            .await?;
            let data = json!({"number": t.number, "attempt": t.attempt,
                "worker": t.worker, "reason": why, "failures": failures});
            events::append(tx, t.sweep_id, Some(t.id), "trial_requeued", data).await?;
        }
    }
    Ok(())
}

/// Ends a running trial `failed` with `reason`; completes its sweep if it was the last.
async fn fail(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    sweep_id: i64,
    number: i64,
    reason: &str,
) -> Result<(), StoreError> {
    super::query(&format!(
        "UPDATE trials SET state = ?, error = ?, finished_at = {NOW}, lease_expires_ms = NULL
         WHERE id = ?"
    ))
    .bind(TrialState::Failed)
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
