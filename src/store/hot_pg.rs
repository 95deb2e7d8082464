//! The worker protocol's frequent writes on PostgreSQL: what the writer
//! thread does on SQLite (`hot.rs`), through sqlx, where concurrent
//! writers are kept apart by locks instead of SQLite's one writer. Every
//! write locks its sweep's row first (`lock_sweep`), then its trials.
use super::lifecycle::{complete_sweep_if_done, end_sweep};
use super::pause::{self, Point};
use super::queue::{Claim, Finish, Like, Reported, Verdict, WriteError};
use super::{best_trial_sql, events, now_ms, query, query_scalar, Columns, Store, StoreError, NOW};
use crate::metric::{Goal, MetricName};
use crate::report::{BatchLoss, EpochReport};
use crate::state::{SweepState, TrialState};
use serde_json::{json, Value};
use sqlx::{Any, Transaction};

type Tx = Transaction<'static, Any>;

impl Store {
    /// `claim` on PostgreSQL. Sweeps are tried oldest first, each in a
    /// transaction of its own that locks the sweep's row before it counts
    /// the running trials: two claims of one sweep take turns, so
    /// `max_parallel` holds. The trial is taken `FOR UPDATE SKIP LOCKED`.
    pub(super) async fn claim_pg(
        &self,
        worker: &str,
        lease_ms: i64,
        like: Option<&Like>,
    ) -> Result<Option<Claim>, StoreError> {
        if let Some(like) = like {
            return self
                .claim_in(like.sweep_id, worker, lease_ms, Some(like))
                .await;
        }
        let mut after = 0;
        loop {
            // A sweep that may have work: read without locks, checked again under one.
            let next: Option<i64> = query_scalar(
                "SELECT s.id FROM sweeps s WHERE s.id > ? AND s.state = ?
                   AND (s.deadline_ms IS NULL OR s.deadline_ms > ?)
                   AND EXISTS (SELECT 1 FROM trials t WHERE t.sweep_id = s.id AND t.state = ?)
                 ORDER BY s.id LIMIT 1",
            )
            .bind(after)
            .bind(SweepState::Running)
            .bind(now_ms())
            .bind(TrialState::Queued)
            .fetch_optional(&self.pool)
            .await?;
            let Some(sweep_id) = next else {
                return Ok(None);
            };
            if let Some(claim) = self.claim_in(sweep_id, worker, lease_ms, None).await? {
                return Ok(Some(claim));
            }
            after = sweep_id;
        }
    }

    /// Claims a trial of one sweep, if it lets one start now; with `like`,
    /// one it admits.
    async fn claim_in(
        &self,
        sweep_id: i64,
        worker: &str,
        lease_ms: i64,
        like: Option<&Like>,
    ) -> Result<Option<Claim>, StoreError> {
        if self.is_skipped(&format!("sweep {sweep_id}")) {
            return Ok(None);
        }
        let mut tx = self.write_sweep(sweep_id).await?;
        let mut skip_trials: Vec<i64> = Vec::new();
        let claim = loop {
            let row = query(
                "SELECT t.id, t.sweep_id, t.number, t.params, t.seed, t.epochs_done, s.dataset,
                    s.seed AS sweep_seed, s.spec
                 FROM trials t JOIN sweeps s ON s.id = t.sweep_id
                 WHERE t.sweep_id = ?1 AND t.state = ?2 AND s.state = ?3
                   AND (s.deadline_ms IS NULL OR s.deadline_ms > ?4)
                   AND (s.max_parallel IS NULL OR s.max_parallel >
                        (SELECT COUNT(*) FROM trials r WHERE r.sweep_id = ?1 AND r.state = ?5))
                   AND t.id NOT IN (SELECT CAST(jsonb_array_elements_text(CAST(?6 AS jsonb)) AS BIGINT))
                 ORDER BY t.priority, t.number LIMIT 1
                 FOR UPDATE OF t SKIP LOCKED",
            )
            .bind(sweep_id)
            .bind(TrialState::Queued)
            .bind(SweepState::Running)
            .bind(now_ms())
            .bind(TrialState::Running)
            .bind(json!(skip_trials).to_string())
            .fetch_optional(&mut *tx)
            .await;
            let row = match row {
                Ok(Some(row)) => row,
                Ok(None) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let c = Columns::of(&row, "trial", "id")?;
            let sweep = Columns {
                row: &row,
                what: "sweep",
                id: sweep_id,
            };
            let spec = sweep
                .json::<Value>("spec")
                .and_then(|spec| spec.ok_or_else(|| sweep.bad("spec", &"NULL")));
            let spec = match spec {
                Ok(spec) => spec,
                Err(e) => {
                    self.skipping(format!("sweep {sweep_id}"), &e);
                    return Ok(None);
                }
            };
            let read = || -> Result<Claim, StoreError> {
                Ok(Claim {
                    trial_id: c.id,
                    sweep_id,
                    number: c.get("number")?,
                    attempt: 0,
                    epochs_done: c.get("epochs_done")?,
                    params: c.json("params")?,
                    seed: c.get::<i64>("seed")? as u64,
                    dataset: c.get("dataset")?,
                    sweep_seed: c.get::<i64>("sweep_seed")? as u64,
                    spec: spec.clone(),
                })
            };
            match read() {
                Ok(claim) if !like.is_none_or(|l| l.admits(claim.params.as_ref())) => {
                    // Not of the group's shape: left queued for another claim.
                    skip_trials.push(claim.trial_id);
                    if skip_trials.len() >= Like::LOOK_AT {
                        return Ok(None);
                    }
                }
                Ok(claim) => break claim,
                Err(e) => {
                    self.skipping(format!("trial {} of sweep {sweep_id}", c.id), &e);
                    skip_trials.push(c.id);
                }
            }
        };
        pause::at(Point::ClaimChosen).await;
        let mut claim = claim;
        // Reports of earlier attempts stay: the worker rewinds them to the
        // checkpoint it resumes from (`Store::rewind`).
        claim.attempt = query_scalar(&format!(
            "UPDATE trials SET state = ?, attempt = attempt + 1, worker = ?,
                lease_expires_ms = {DB_NOW_MS} + ?, started_at = {NOW}, started_ms = {DB_NOW_MS},
                group_members = NULL
             WHERE id = ? RETURNING attempt"
        ))
        .bind(TrialState::Running)
        .bind(worker)
        .bind(lease_ms)
        .bind(claim.trial_id)
        .fetch_one(&mut *tx)
        .await?;
        let data = json!({"number": claim.number, "attempt": claim.attempt, "worker": worker});
        events::append(
            &mut tx,
            sweep_id,
            Some(claim.trial_id),
            "trial_started",
            data,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(claim))
    }

    /// Whether claims skip this sweep or trial (see `skipping`).
    fn is_skipped(&self, what: &str) -> bool {
        let skipped = self.skipped.lock().unwrap_or_else(|e| e.into_inner());
        skipped.contains(what)
    }

    /// Logs, once per sweep or trial in this process, why claims skip it.
    fn skipping(&self, what: String, why: &StoreError) {
        let mut skipped = self.skipped.lock().unwrap_or_else(|e| e.into_inner());
        if skipped.insert(what.clone()) {
            tracing::warn!("claims skip {what}, leaving it queued: {why}");
        }
    }

    /// `renew_lease` on PostgreSQL: one statement fenced by its WHERE clause.
    pub(super) async fn renew_lease_pg(
        &self,
        claim: &Claim,
        worker: &str,
        lease_ms: i64,
    ) -> Result<(), WriteError> {
        let renewed = query(&renew_sql())
            .bind(lease_ms)
            .bind(claim.trial_id)
            .bind(TrialState::Running)
            .bind(worker)
            .bind(claim.attempt)
            .execute(&self.writer)
            .await?;
        match renewed.rows_affected() {
            1 => Ok(()),
            _ => Err(WriteError::LeaseLost),
        }
    }

    /// `report_epoch` on PostgreSQL.
    pub(super) async fn report_epoch_pg(
        &self,
        claim: &Claim,
        worker: &str,
        lease_ms: i64,
        report: &EpochReport,
        batch_losses: &[BatchLoss],
        verdict: &Verdict,
    ) -> Result<Reported, WriteError> {
        let ends_trial_or_sweep =
            matches!(verdict.decision, Some((true, _))) || verdict.target_reached;
        let finite = [
            report.train_loss,
            report.val_loss,
            report.val_accuracy,
            report.seconds,
        ]
        .iter()
        .chain(batch_losses.iter().map(|b| &b.loss))
        .all(|x| x.is_finite());
        if !ends_trial_or_sweep && finite {
            return self
                .report_epoch_in_one_call(claim, worker, lease_ms, report, batch_losses, verdict)
                .await;
        }
        self.with_lease(claim, worker, |mut tx| {
            Box::pin(async move {
                let before: Option<i64> = query_scalar(REPORTED)
                    .bind(claim.trial_id)
                    .bind(report.epoch)
                    .bind(claim.attempt)
                    .fetch_optional(&mut *tx)
                    .await?;
                if before.is_some() {
                    query(&renew_sql())
                        .bind(lease_ms)
                        .bind(claim.trial_id)
                        .bind(TrialState::Running)
                        .bind(worker)
                        .bind(claim.attempt)
                        .execute(&mut *tx)
                        .await?;
                    return Ok((tx, Reported::DeliveredBefore));
                }
                insert_report(&mut tx, claim, report, batch_losses, verdict).await?;
                query(&report_update_sql())
                    .bind(report.epoch)
                    .bind(report.train_loss)
                    .bind(report.val_loss)
                    .bind(report.val_accuracy)
                    .bind(lease_ms)
                    .bind(claim.trial_id)
                    .execute(&mut *tx)
                    .await?;
                let data = verdict.event(claim.number, report);
                let trial = Some(claim.trial_id);
                events::append(&mut tx, claim.sweep_id, trial, "epoch_report", data).await?;
                if let Some((true, reason)) = &verdict.decision {
                    prune(&mut tx, claim, report.epoch, reason).await?;
                } else if verdict.target_reached {
                    end_sweep(&mut tx, claim.sweep_id, "target", true, trial).await?;
                }
                Ok((tx, Reported::Stored))
            })
        })
        .await
    }

    /// A report that neither prunes its trial nor ends the sweep, as one
    /// call of `hs_report_epoch` (migration `20261205000002`): the same
    /// steps as `with_lease` and the writes above, run in the database and
    /// committed with the call, so that the sweep's lock is held for one
    /// round trip instead of eight. Samples go as JSON, which carries only
    /// finite numbers: the caller sends other reports the long way.
    async fn report_epoch_in_one_call(
        &self,
        claim: &Claim,
        worker: &str,
        lease_ms: i64,
        report: &EpochReport,
        batch_losses: &[BatchLoss],
        verdict: &Verdict,
    ) -> Result<Reported, WriteError> {
        let (decision, reason) = verdict.columns();
        let losses: Vec<(i64, i64, f64)> = batch_losses
            .iter()
            .map(|b| (b.step, b.epoch, b.loss))
            .collect();
        let data = verdict.event(claim.number, report);
        let outcome: String =
            query_scalar("SELECT hs_report_epoch(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                .bind(claim.sweep_id)
                .bind(claim.trial_id)
                .bind(worker)
                .bind(claim.attempt)
                .bind(lease_ms)
                .bind(report.epoch)
                .bind(report.train_loss)
                .bind(report.val_loss)
                .bind(report.val_accuracy)
                .bind(report.seconds)
                .bind(decision)
                .bind(reason)
                .bind(verdict.rung.map(i64::from))
                .bind(json!(losses).to_string())
                .bind(data.to_string())
                .fetch_one(&self.writer)
                .await?;
        match outcome.as_str() {
            "stored" => Ok(Reported::Stored),
            "delivered_before" => Ok(Reported::DeliveredBefore),
            "lease_lost" => Err(WriteError::LeaseLost),
            other => Err(StoreError::Engine(format!("hs_report_epoch answered {other:?}")).into()),
        }
    }

    /// `note_group` on PostgreSQL.
    pub(super) async fn note_group_pg(
        &self,
        claim: &Claim,
        worker: &str,
        members: String,
        data: Value,
    ) -> Result<(), WriteError> {
        self.with_lease(claim, worker, |mut tx| {
            Box::pin(async move {
                query("UPDATE trials SET group_members = ? WHERE id = ?")
                    .bind(members)
                    .bind(claim.trial_id)
                    .execute(&mut *tx)
                    .await?;
                let trial = Some(claim.trial_id);
                events::append(&mut tx, claim.sweep_id, trial, "trial_grouped", data).await?;
                Ok((tx, ()))
            })
        })
        .await
    }

    /// `report_progress` on PostgreSQL.
    pub(super) async fn report_progress_pg(
        &self,
        claim: &Claim,
        worker: &str,
        data: Value,
    ) -> Result<(), WriteError> {
        self.with_lease(claim, worker, |mut tx| {
            Box::pin(async move {
                let trial = Some(claim.trial_id);
                events::append(&mut tx, claim.sweep_id, trial, "trial_progress", data).await?;
                Ok((tx, ()))
            })
        })
        .await
    }

    /// `finish` on PostgreSQL.
    pub(super) async fn finish_pg(
        &self,
        claim: &Claim,
        worker: &str,
        finish: &Finish,
    ) -> Result<(), WriteError> {
        let (state, error, test_loss, test_accuracy) = match finish {
            Finish::Completed {
                test_loss,
                test_accuracy,
            } => (
                TrialState::Completed,
                None,
                Some(*test_loss),
                Some(*test_accuracy),
            ),
            Finish::Failed { reason } => (TrialState::Failed, Some(reason.as_str()), None, None),
        };
        self.with_lease(claim, worker, |mut tx| {
            Box::pin(async move {
                // No NULL real is bound (see `sql.rs`).
                let tests = match (test_loss, test_accuracy) {
                    (Some(_), Some(_)) => "test_loss = ?, test_accuracy = ?",
                    _ => "test_loss = NULL, test_accuracy = NULL",
                };
                let sql = format!(
                    "UPDATE trials SET state = ?, error = ?, {tests},
                        finished_at = {NOW}, lease_expires_ms = NULL WHERE id = ?"
                );
                let mut update = query(&sql).bind(state).bind(error);
                if let (Some(loss), Some(accuracy)) = (test_loss, test_accuracy) {
                    update = update.bind(loss).bind(accuracy);
                }
                update.bind(claim.trial_id).execute(&mut *tx).await?;
                let kind = format!("trial_{state}");
                let data = json!({"number": claim.number, "error": error});
                events::append(&mut tx, claim.sweep_id, Some(claim.trial_id), &kind, data).await?;
                if state == TrialState::Completed {
                    emit_best_if_changed(&mut tx, claim.sweep_id, claim.trial_id).await?;
                }
                complete_sweep_if_done(&mut tx, claim.sweep_id).await?;
                Ok((tx, ()))
            })
        })
        .await
    }
}

/// Now in Unix milliseconds by the database's clock, which every replica
/// shares: leases are set and judged by it (`Engine::now_ms`).
const DB_NOW_MS: &str = super::Engine::Postgres.now_ms();

/// Extends a lease if the caller holds it (bind: lease length in ms, trial
/// id, the running state, worker, attempt).
fn renew_sql() -> String {
    format!(
        "UPDATE trials SET lease_expires_ms = {DB_NOW_MS} + ?
         WHERE id = ? AND state = ? AND worker = ? AND attempt = ?"
    )
}

/// A row if the attempt reported the epoch (bind: trial id, epoch, attempt).
const REPORTED: &str =
    "SELECT 1 FROM epoch_reports WHERE trial_id = ? AND epoch = ? AND attempt = ?";

/// A trial's latest metrics and lease (bind: epoch, the three metrics,
/// lease length in ms, trial id).
fn report_update_sql() -> String {
    format!(
        "UPDATE trials SET epochs_done = ?, train_loss = ?, val_loss = ?, val_accuracy = ?,
            lease_expires_ms = {DB_NOW_MS} + ? WHERE id = ?"
    )
}

/// Inserts an epoch's report, with its verdict, and its training-loss samples.
async fn insert_report(
    tx: &mut Tx,
    claim: &Claim,
    report: &EpochReport,
    batch_losses: &[BatchLoss],
    verdict: &Verdict,
) -> Result<(), StoreError> {
    let (decision, reason) = verdict.columns();
    query(&format!(
        "INSERT INTO epoch_reports (trial_id, epoch, attempt, train_loss, val_loss, val_accuracy,
            seconds, decision, reason, rung, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {NOW})"
    ))
    .bind(claim.trial_id)
    .bind(report.epoch)
    .bind(claim.attempt)
    .bind(report.train_loss)
    .bind(report.val_loss)
    .bind(report.val_accuracy)
    .bind(report.seconds)
    .bind(decision)
    .bind(reason)
    .bind(verdict.rung.map(i64::from))
    .execute(&mut **tx)
    .await?;
    for sample in batch_losses {
        query("INSERT INTO batch_losses (trial_id, step, epoch, loss) VALUES (?, ?, ?, ?)")
            .bind(claim.trial_id)
            .bind(sample.step)
            .bind(sample.epoch)
            .bind(sample.loss)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Ends a claimed trial `pruned` at `epoch`; completes the sweep if it was the last.
async fn prune(tx: &mut Tx, claim: &Claim, epoch: i64, reason: &str) -> Result<(), StoreError> {
    query(&format!(
        "UPDATE trials SET state = ?, error = ?, finished_at = {NOW}, lease_expires_ms = NULL
         WHERE id = ?"
    ))
    .bind(TrialState::Pruned)
    .bind(reason)
    .bind(claim.trial_id)
    .execute(&mut **tx)
    .await?;
    let data = json!({"number": claim.number, "epoch": epoch, "reason": reason});
    let trial = Some(claim.trial_id);
    events::append(tx, claim.sweep_id, trial, "trial_pruned", data).await?;
    emit_best_if_changed(tx, claim.sweep_id, claim.trial_id).await?;
    complete_sweep_if_done(tx, claim.sweep_id).await
}

/// Appends `best_changed` if `trial_id` is now the sweep's best trial.
async fn emit_best_if_changed(tx: &mut Tx, sweep_id: i64, trial_id: i64) -> Result<(), StoreError> {
    let row = query("SELECT id, metric_name, metric_goal FROM sweeps WHERE id = ?")
        .bind(sweep_id)
        .fetch_one(&mut **tx)
        .await?;
    let c = Columns::of(&row, "sweep", "id")?;
    let (metric, goal): (MetricName, Goal) = (c.get("metric_name")?, c.get("metric_goal")?);
    let best = query(&best_trial_sql("id, number", metric, goal))
        .bind(sweep_id)
        .fetch_optional(&mut **tx)
        .await?;
    let best = match &best {
        Some(row) => {
            let c = Columns::of(row, "trial", "id")?;
            Some((c.id, c.get::<i64>("number")?, c.get::<f64>("metric_value")?))
        }
        None => None,
    };
    if let Some((id, number, value)) = best.filter(|b| b.0 == trial_id) {
        let data = json!({"trial_id": id, "number": number, "value": value, "metric": metric});
        events::append(tx, sweep_id, Some(id), "best_changed", data).await?;
    }
    Ok(())
}
