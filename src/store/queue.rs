//! The trial queue as workers use it: claim a queued trial under a lease,
//! renew it, report epochs, finish. Every write checks that the lease is still
//! the caller's, so a worker whose trial was taken back cannot count it twice.
pub use super::lease::WriteError;
use super::lifecycle::{complete_sweep_if_done, emit_best_if_changed, end_sweep};
use super::{events, now_ms, BatchLoss, EpochReport, Store, StoreError, NOW};
use crate::spec::TrialParams;
use crate::state::TrialState;
use serde_json::json;
use sqlx::{Sqlite, Transaction};

/// A trial a worker has claimed, with what it needs to train it.
#[derive(Debug, Clone)]
pub struct Claim {
    pub trial_id: i64,
    pub sweep_id: i64,
    pub number: i64,
    pub attempt: i64,
    /// Epochs the trial has reports of, from earlier attempts: a checkpoint
    /// up to this epoch may be resumed from.
    pub epochs_done: i64,
    /// None for methods that sample when the trial is claimed (see `assign_params`).
    pub params: Option<TrialParams>,
    pub seed: u64,
    pub dataset: String,
    /// Seed of the sweep, which fixes its validation split.
    pub sweep_seed: u64,
    /// The sweep's spec document, as stored.
    pub spec: serde_json::Value,
}

/// What the scheduler and the sweep's target made of one epoch report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// The early-stopping decision, if the sweep has a rule: (prune?, reason).
    pub decision: Option<(bool, String)>,
    /// The rung this epoch is, for hyperband.
    pub rung: Option<u32>,
    /// The report reaches the sweep's target: the sweep completes now.
    pub target_reached: bool,
}

/// How a trial ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    /// Trained every epoch; metrics on the test split.
    Completed { test_loss: f64, test_accuracy: f64 },
    /// Could not go on; the reason, e.g. `diverged`.
    Failed { reason: String },
}

impl Store {
    /// Records the configuration sampled for a claimed trial.
    pub(super) async fn assign_params(
        &self,
        claim: &Claim,
        worker: &str,
        params: &TrialParams,
    ) -> Result<(), WriteError> {
        let params = serde_json::to_value(params).expect("params serialize");
        self.with_lease(claim, worker, |mut tx| {
            Box::pin(async move {
                sqlx::query("UPDATE trials SET params = ? WHERE id = ?")
                    .bind(params.to_string())
                    .bind(claim.trial_id)
                    .execute(&mut *tx)
                    .await?;
                let data = json!({"number": claim.number, "params": params});
                events::append(
                    &mut tx,
                    claim.sweep_id,
                    Some(claim.trial_id),
                    "trial_sampled",
                    data,
                )
                .await?;
                Ok((tx, ()))
            })
        })
        .await
    }

    /// Extends the lease of a claimed trial. One statement fenced by its
    /// WHERE clause, so no transaction is needed.
    pub(super) async fn renew_lease(
        &self,
        claim: &Claim,
        worker: &str,
        lease_ms: i64,
    ) -> Result<(), WriteError> {
        let done = sqlx::query(
            "UPDATE trials SET lease_expires_ms = ?
             WHERE id = ? AND state = ? AND worker = ? AND attempt = ?",
        )
        .bind(now_ms() + lease_ms)
        .bind(claim.trial_id)
        .bind(TrialState::Running)
        .bind(worker)
        .bind(claim.attempt)
        .execute(&self.writer)
        .await?;
        match done.rows_affected() {
            1 => Ok(()),
            _ => Err(WriteError::LeaseLost),
        }
    }

    /// Stores one epoch's report, the training-loss samples since the last
    /// one and the verdict on it, and renews the lease. A pruning verdict ends
    /// the trial `pruned`; a reached target completes the sweep, cancelling
    /// its other trials (this one still finishes).
    pub(super) async fn report_epoch(
        &self,
        claim: &Claim,
        worker: &str,
        lease_ms: i64,
        report: &EpochReport,
        batch_losses: &[BatchLoss],
        verdict: &Verdict,
    ) -> Result<(), WriteError> {
        self.with_lease(claim, worker, |mut tx| {
            Box::pin(async move {
                insert_report(&mut tx, claim, report, batch_losses, verdict).await?;
                sqlx::query(
                "UPDATE trials SET epochs_done = ?, train_loss = ?, val_loss = ?, val_accuracy = ?,
                    lease_expires_ms = ? WHERE id = ?",
            )
            .bind(report.epoch)
            .bind(report.train_loss)
            .bind(report.val_loss)
            .bind(report.val_accuracy)
            .bind(now_ms() + lease_ms)
            .bind(claim.trial_id)
            .execute(&mut *tx)
            .await?;
                let data = json!({"number": claim.number, "report": report,
                "decision": verdict.decision, "rung": verdict.rung});
                events::append(
                    &mut tx,
                    claim.sweep_id,
                    Some(claim.trial_id),
                    "epoch_report",
                    data,
                )
                .await?;
                if let Some((true, reason)) = &verdict.decision {
                    prune(&mut tx, claim, report.epoch, reason).await?;
                } else if verdict.target_reached {
                    end_sweep(
                        &mut tx,
                        claim.sweep_id,
                        "target",
                        true,
                        Some(claim.trial_id),
                    )
                    .await?;
                }
                Ok((tx, ()))
            })
        })
        .await
    }

    /// Ends a claimed trial; completes the sweep when it was its last.
    pub(super) async fn finish(
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
                sqlx::query(&format!(
                    "UPDATE trials SET state = ?, error = ?, test_loss = ?, test_accuracy = ?,
                    finished_at = {NOW}, lease_expires_ms = NULL WHERE id = ?"
                ))
                .bind(state)
                .bind(error)
                .bind(test_loss)
                .bind(test_accuracy)
                .bind(claim.trial_id)
                .execute(&mut *tx)
                .await?;
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

    /// Tells watchers how far a claimed trial is within its epoch (an event,
    /// not stored elsewhere); also how a worker learns early that its trial
    /// was cancelled.
    pub(super) async fn report_progress(
        &self,
        claim: &Claim,
        worker: &str,
        data: serde_json::Value,
    ) -> Result<(), WriteError> {
        self.with_lease(claim, worker, |mut tx| {
            Box::pin(async move {
                events::append(
                    &mut tx,
                    claim.sweep_id,
                    Some(claim.trial_id),
                    "trial_progress",
                    data,
                )
                .await?;
                Ok((tx, ()))
            })
        })
        .await
    }
}

/// Inserts an epoch's report, with its verdict, and its training-loss samples.
async fn insert_report(
    tx: &mut Transaction<'static, Sqlite>,
    claim: &Claim,
    report: &EpochReport,
    batch_losses: &[BatchLoss],
    verdict: &Verdict,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO epoch_reports (trial_id, epoch, attempt, train_loss, val_loss, val_accuracy, seconds,
            decision, reason, rung, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {NOW})"
    ))
    .bind(claim.trial_id)
    .bind(report.epoch)
    .bind(claim.attempt)
    .bind(report.train_loss)
    .bind(report.val_loss)
    .bind(report.val_accuracy)
    .bind(report.seconds)
    .bind(verdict.decision.as_ref().map(|(prune, _)| if *prune { "prune" } else { "continue" }))
    .bind(verdict.decision.as_ref().map(|(_, reason)| reason.as_str()))
    .bind(verdict.rung.map(i64::from))
    .execute(&mut **tx)
    .await?;
    for sample in batch_losses {
        sqlx::query("INSERT INTO batch_losses (trial_id, step, epoch, loss) VALUES (?, ?, ?, ?)")
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
async fn prune(
    tx: &mut Transaction<'static, Sqlite>,
    claim: &Claim,
    epoch: i64,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "UPDATE trials SET state = ?, error = ?, finished_at = {NOW}, lease_expires_ms = NULL WHERE id = ?"
    ))
    .bind(TrialState::Pruned)
    .bind(reason)
    .bind(claim.trial_id)
    .execute(&mut **tx)
    .await?;
    let data = json!({"number": claim.number, "epoch": epoch, "reason": reason});
    events::append(
        tx,
        claim.sweep_id,
        Some(claim.trial_id),
        "trial_pruned",
        data,
    )
    .await?;
    emit_best_if_changed(tx, claim.sweep_id, claim.trial_id).await?;
    complete_sweep_if_done(tx, claim.sweep_id).await
}
