//! The worker protocol's frequent writes, as the writer thread runs them
//! on SQLite (`writer.rs`; PostgreSQL's are in `hot_pg.rs`): claim a trial, renew its lease, report an epoch or
//! progress, finish. Each is one closure on the thread's connection; every
//! one but the claim first checks, inside its transaction, that the caller
//! still holds the lease, so a worker whose trial was taken back cannot
//! count it twice. Statements that sqlx writes run too (the lease check,
//! an event, ending and completing a sweep) are shared with them, not
//! written again.
use super::events::insert_sql;
use super::lease::HOLD;
use super::lifecycle::{cancel_sql, complete_sql, ANY_OPEN, MARK_ENDED};
use super::queue::{Claim, Finish, Like, Reported, Verdict, WriteError};
use super::writer::sql;
use super::{bad_column, best_trial_sql, now_ms, Store, StoreError, NOW};
use crate::metric::{Goal, MetricName};
use crate::report::{BatchLoss, EpochReport};
use crate::state::{SweepState, TrialState};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Mutex;

impl Store {
    /// Claims the next queued trial that its sweep's `max_parallel` lets run,
    /// oldest sweep first, and within it an enqueued trial first (lowest
    /// priority, then lowest number), atomically. None when nothing can run
    /// now. A sweep whose stored spec (or a trial whose stored params)
    /// cannot be read is skipped, its trials left queued, and logged once.
    pub(super) async fn claim(
        &self,
        worker: &str,
        lease_ms: i64,
    ) -> Result<Option<Claim>, StoreError> {
        self.claim_where(worker, lease_ms, None).await
    }

    /// `claim`; with `like`, only a trial of its sweep that it admits.
    pub(super) async fn claim_where(
        &self,
        worker: &str,
        lease_ms: i64,
        like: Option<Like>,
    ) -> Result<Option<Claim>, StoreError> {
        let Some(hot) = &self.hot else {
            return self.claim_pg(worker, lease_ms, like.as_ref()).await;
        };
        let (worker, skipped) = (worker.to_string(), self.skipped.clone());
        hot.write(move |db| claim(db, &worker, lease_ms, &skipped, like.as_ref()))
            .await
    }

    /// Extends the lease of a claimed trial.
    pub(super) async fn renew_lease(
        &self,
        claim: &Claim,
        worker: &str,
        lease_ms: i64,
    ) -> Result<(), WriteError> {
        let Some(hot) = &self.hot else {
            return self.renew_lease_pg(claim, worker, lease_ms).await;
        };
        let fence = Fence::of(claim, worker);
        hot.write(move |db| fence.renew(db, lease_ms)).await
    }

    /// Stores one epoch's report, the training-loss samples since the last
    /// one and the verdict on it, and renews the lease. A pruning verdict ends
    /// the trial `pruned`; a reached target completes the sweep, cancelling
    /// its other trials (this one still finishes). A report the attempt
    /// delivered before is not stored again: only the lease is renewed.
    pub(super) async fn report_epoch(
        &self,
        claim: &Claim,
        worker: &str,
        lease_ms: i64,
        report: &EpochReport,
        batch_losses: &[BatchLoss],
        verdict: &Verdict,
    ) -> Result<Reported, WriteError> {
        let Some(hot) = &self.hot else {
            return (self.report_epoch_pg(claim, worker, lease_ms, report, batch_losses, verdict))
                .await;
        };
        let fence = Fence::of(claim, worker);
        let (report, losses, verdict) = (report.clone(), batch_losses.to_vec(), verdict.clone());
        hot.write(move |db| {
            fence.hold(db)?;
            let f = &fence;
            if f.reported(db, report.epoch)? {
                f.renew(db, lease_ms)?;
                return Ok(Reported::DeliveredBefore);
            }
            insert_report(db, f, &report, &losses, &verdict).map_err(sql)?;
            db.prepare_cached(
                "UPDATE trials SET epochs_done = ?, train_loss = ?, val_loss = ?, val_accuracy = ?,
                        lease_expires_ms = ? WHERE id = ?",
            )
            .and_then(|mut s| {
                s.execute(params![
                    report.epoch,
                    report.train_loss,
                    report.val_loss,
                    report.val_accuracy,
                    now_ms() + lease_ms,
                    f.trial_id
                ])
            })
            .map_err(sql)?;
            let data = verdict.event(f.number, &report);
            append(db, f.sweep_id, Some(f.trial_id), "epoch_report", &data)?;
            if let Some((true, reason)) = &verdict.decision {
                prune(db, f, report.epoch, reason)?;
            } else if verdict.target_reached {
                end_sweep(db, f.sweep_id, "target", Some(f.trial_id))?;
            }
            Ok(Reported::Stored)
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
        data: Value,
    ) -> Result<(), WriteError> {
        let Some(hot) = &self.hot else {
            return self.report_progress_pg(claim, worker, data).await;
        };
        let fence = Fence::of(claim, worker);
        hot.write(move |db| {
            fence.hold(db)?;
            append(
                db,
                fence.sweep_id,
                Some(fence.trial_id),
                "trial_progress",
                &data,
            )?;
            Ok(())
        })
        .await
    }

    /// Records the fused group a claimed trial trains in (its
    /// `group_members`, and an event `trial_grouped` with `data`).
    pub(super) async fn note_group(
        &self,
        claim: &Claim,
        worker: &str,
        members: &[i64],
        data: Value,
    ) -> Result<(), WriteError> {
        let members = json!(members).to_string();
        let Some(hot) = &self.hot else {
            return self.note_group_pg(claim, worker, members, data).await;
        };
        let fence = Fence::of(claim, worker);
        hot.write(move |db| {
            fence.hold(db)?;
            db.prepare_cached("UPDATE trials SET group_members = ? WHERE id = ?")
                .and_then(|mut s| s.execute(params![members, fence.trial_id]))
                .map_err(sql)?;
            let (sweep, trial) = (fence.sweep_id, Some(fence.trial_id));
            append(db, sweep, trial, "trial_grouped", &data)?;
            Ok(())
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
        let Some(hot) = &self.hot else {
            return self.finish_pg(claim, worker, finish).await;
        };
        let fence = Fence::of(claim, worker);
        let finish = finish.clone();
        hot.write(move |db| {
            fence.hold(db)?;
            let f = &fence;
            let (state, error, test_loss, test_accuracy) = match &finish {
                Finish::Completed {
                    test_loss,
                    test_accuracy,
                } => (
                    TrialState::Completed,
                    None,
                    Some(*test_loss),
                    Some(*test_accuracy),
                ),
                Finish::Failed { reason } => {
                    (TrialState::Failed, Some(reason.as_str()), None, None)
                }
            };
            db.prepare_cached(&format!(
                "UPDATE trials SET state = ?, error = ?, test_loss = ?, test_accuracy = ?,
                        finished_at = {NOW}, lease_expires_ms = NULL WHERE id = ?"
            ))
            .and_then(|mut s| {
                s.execute(params![
                    state.as_str(),
                    error,
                    test_loss,
                    test_accuracy,
                    f.trial_id
                ])
            })
            .map_err(sql)?;
            let kind = format!("trial_{state}");
            let data = json!({"number": f.number, "error": error});
            append(db, f.sweep_id, Some(f.trial_id), &kind, &data)?;
            if state == TrialState::Completed {
                emit_best_if_changed(db, f.sweep_id, f.trial_id)?;
            }
            complete_sweep_if_done(db, f.sweep_id)?;
            Ok(())
        })
        .await
    }
}

/// Who may write to a trial: the worker holding its current attempt.
struct Fence {
    trial_id: i64,
    sweep_id: i64,
    number: i64,
    attempt: i64,
    worker: String,
}

impl Fence {
    fn of(claim: &Claim, worker: &str) -> Fence {
        Fence {
            trial_id: claim.trial_id,
            sweep_id: claim.sweep_id,
            number: claim.number,
            attempt: claim.attempt,
            worker: worker.to_string(),
        }
    }

    /// Whether the caller still holds the trial's lease, checked inside the write.
    fn hold(&self, db: &Connection) -> Result<(), WriteError> {
        let held: Option<i64> = db
            .prepare_cached(HOLD)
            .and_then(|mut s| {
                s.query_row(
                    params![
                        self.trial_id,
                        TrialState::Running.as_str(),
                        self.worker,
                        self.attempt
                    ],
                    |r| r.get(0),
                )
                .optional()
            })
            .map_err(sql)?;
        held.map(|_| ()).ok_or(WriteError::LeaseLost)
    }

    /// Extends the lease, if the caller still holds it: one statement
    /// fenced by its WHERE clause.
    fn renew(&self, db: &Connection, lease_ms: i64) -> Result<(), WriteError> {
        let renewed = db
            .prepare_cached(
                "UPDATE trials SET lease_expires_ms = ?
                 WHERE id = ? AND state = ? AND worker = ? AND attempt = ?",
            )
            .and_then(|mut s| {
                s.execute(params![
                    now_ms() + lease_ms,
                    self.trial_id,
                    TrialState::Running.as_str(),
                    self.worker,
                    self.attempt
                ])
            })
            .map_err(sql)?;
        match renewed {
            1 => Ok(()),
            _ => Err(WriteError::LeaseLost),
        }
    }

    /// Whether this attempt has reported `epoch` already.
    fn reported(&self, db: &Connection, epoch: i64) -> Result<bool, StoreError> {
        db.prepare_cached(
            "SELECT 1 FROM epoch_reports WHERE trial_id = ? AND epoch = ? AND attempt = ?",
        )
        .and_then(|mut s| s.exists(params![self.trial_id, epoch, self.attempt]))
        .map_err(sql)
    }
}

/// The claim itself (see `Store::claim`).
fn claim(
    db: &Connection,
    worker: &str,
    lease_ms: i64,
    skipped: &Mutex<HashSet<String>>,
    like: Option<&Like>,
) -> Result<Option<Claim>, StoreError> {
    let (mut skip_sweeps, mut skip_trials) = (Vec::<i64>::new(), Vec::<i64>::new());
    let mut next = db
        .prepare_cached(
            "SELECT t.id, t.sweep_id, t.number, t.params, t.seed, t.epochs_done, s.dataset, s.seed AS sweep_seed, s.spec
             FROM trials t JOIN sweeps s ON s.id = t.sweep_id
             WHERE t.state = ?1 AND s.state = ?2
               AND (s.deadline_ms IS NULL OR s.deadline_ms > ?3)
               AND (s.max_parallel IS NULL OR s.max_parallel >
                    (SELECT COUNT(*) FROM trials r WHERE r.sweep_id = t.sweep_id AND r.state = ?4))
               AND t.sweep_id NOT IN (SELECT value FROM json_each(?5))
               AND t.id NOT IN (SELECT value FROM json_each(?6))
               AND (?7 IS NULL OR t.sweep_id = ?7)
             ORDER BY t.sweep_id, t.priority, t.number LIMIT 1",
        )
        .map_err(sql)?;
    let mut claim = loop {
        let found = next
            .query_row(
                params![
                    TrialState::Queued.as_str(),
                    SweepState::Running.as_str(),
                    now_ms(),
                    TrialState::Running.as_str(),
                    json!(skip_sweeps).to_string(),
                    json!(skip_trials).to_string(),
                    like.map(|l| l.sweep_id),
                ],
                Queued::of,
            )
            .optional()
            .map_err(sql)?;
        let Some(found) = found else { return Ok(None) };
        let queued = match found {
            Ok(queued) => queued,
            Err((trial, e)) => {
                skipping(skipped, format!("trial {trial}"), &e);
                skip_trials.push(trial);
                continue;
            }
        };
        let spec = match &queued.spec {
            Ok(text) => json_column::<Value>(text.as_deref(), "sweep", queued.sweep_id, "spec"),
            Err(e) => Err(bad_column("sweep", queued.sweep_id, "spec", e)),
        }
        .and_then(|spec| spec.ok_or_else(|| bad_column("sweep", queued.sweep_id, "spec", &"NULL")));
        let spec = match spec {
            Ok(spec) => spec,
            Err(e) => {
                skipping(skipped, format!("sweep {}", queued.sweep_id), &e);
                skip_sweeps.push(queued.sweep_id);
                continue;
            }
        };
        match json_column(queued.params.as_deref(), "trial", queued.id, "params") {
            Ok(params) if !like.is_none_or(|l| l.admits(params.as_ref())) => {
                // Not of the group's shape: left queued for another claim.
                skip_trials.push(queued.id);
                if skip_trials.len() >= Like::LOOK_AT {
                    return Ok(None);
                }
            }
            Ok(params) => {
                break Claim {
                    trial_id: queued.id,
                    sweep_id: queued.sweep_id,
                    number: queued.number,
                    attempt: 0,
                    epochs_done: queued.epochs_done,
                    params,
                    seed: queued.seed as u64,
                    dataset: queued.dataset,
                    sweep_seed: queued.sweep_seed as u64,
                    spec,
                }
            }
            Err(e) => {
                let what = format!("trial {} of sweep {}", queued.id, queued.sweep_id);
                skipping(skipped, what, &e);
                skip_trials.push(queued.id);
            }
        }
    };
    // Reports of earlier attempts stay: the worker rewinds them to the
    // checkpoint it resumes from (`Store::rewind`).
    claim.attempt = db
        .prepare_cached(&format!(
            "UPDATE trials SET state = ?, attempt = attempt + 1, worker = ?,
                lease_expires_ms = ?, started_at = {NOW}, started_ms = ?, group_members = NULL
             WHERE id = ? RETURNING attempt"
        ))
        .and_then(|mut s| {
            s.query_row(
                params![
                    TrialState::Running.as_str(),
                    worker,
                    now_ms() + lease_ms,
                    now_ms(),
                    claim.trial_id
                ],
                |r| r.get(0),
            )
        })
        .map_err(sql)?;
    let data = json!({"number": claim.number, "attempt": claim.attempt, "worker": worker});
    append(
        db,
        claim.sweep_id,
        Some(claim.trial_id),
        "trial_started",
        &data,
    )?;
    Ok(Some(claim))
}

/// A queued trial as the claim reads it, JSON columns still text.
struct Queued {
    id: i64,
    sweep_id: i64,
    number: i64,
    params: Option<String>,
    seed: i64,
    epochs_done: i64,
    dataset: String,
    sweep_seed: i64,
    /// The sweep's, read apart: a spec that cannot be read skips the
    /// sweep, not only this trial.
    spec: rusqlite::Result<Option<String>>,
}

impl Queued {
    /// The row, or the trial's id and why a column cannot be read.
    fn of(row: &Row<'_>) -> rusqlite::Result<Result<Queued, (i64, StoreError)>> {
        let id: i64 = row.get("id")?;
        let read = || -> rusqlite::Result<Queued> {
            Ok(Queued {
                id,
                sweep_id: row.get("sweep_id")?,
                number: row.get("number")?,
                params: row.get("params")?,
                seed: row.get("seed")?,
                epochs_done: row.get("epochs_done")?,
                dataset: row.get("dataset")?,
                sweep_seed: row.get("sweep_seed")?,
                spec: row.get("spec"),
            })
        };
        // rusqlite's message names the column that cannot be read.
        Ok(read().map_err(|e| {
            let why = e.to_string();
            (
                id,
                StoreError::BadRow {
                    what: "trial",
                    id,
                    why,
                },
            )
        }))
    }
}

/// Logs, once per sweep or trial in this process, why claims skip it.
fn skipping(skipped: &Mutex<HashSet<String>>, what: String, why: &StoreError) {
    let mut skipped = skipped.lock().unwrap_or_else(|e| e.into_inner());
    if skipped.insert(what.clone()) {
        tracing::warn!("claims skip {what}, leaving it queued: {why}");
    }
}

fn json_column<T: serde::de::DeserializeOwned>(
    text: Option<&str>,
    what: &'static str,
    id: i64,
    column: &str,
) -> Result<Option<T>, StoreError> {
    text.map(|t| {
        serde_json::from_str(t).map_err(|e| bad_column(what, id, column, &format!("not JSON: {e}")))
    })
    .transpose()
}

/// Appends an event inside the transaction that made the change it tells of.
fn append(
    db: &Connection,
    sweep_id: i64,
    trial_id: Option<i64>,
    kind: &str,
    data: &Value,
) -> Result<(), StoreError> {
    db.prepare_cached(&insert_sql())
        .and_then(|mut s| s.execute(params![sweep_id, trial_id, kind, data.to_string()]))
        .map_err(sql)?;
    Ok(())
}

/// Inserts an epoch's report, with its verdict, and its training-loss samples.
fn insert_report(
    db: &Connection,
    fence: &Fence,
    report: &EpochReport,
    batch_losses: &[BatchLoss],
    verdict: &Verdict,
) -> rusqlite::Result<()> {
    let (decision, reason) = verdict.columns();
    db.prepare_cached(&format!(
        "INSERT INTO epoch_reports (trial_id, epoch, attempt, train_loss, val_loss, val_accuracy, seconds,
            decision, reason, rung, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {NOW})"
    ))?
    .execute(params![
        fence.trial_id,
        report.epoch,
        fence.attempt,
        report.train_loss,
        report.val_loss,
        report.val_accuracy,
        report.seconds,
        decision,
        reason,
        verdict.rung.map(i64::from),
    ])?;
    let mut sample = db.prepare_cached(
        "INSERT INTO batch_losses (trial_id, step, epoch, loss) VALUES (?, ?, ?, ?)",
    )?;
    for s in batch_losses {
        sample.execute(params![fence.trial_id, s.step, s.epoch, s.loss])?;
    }
    Ok(())
}

/// Ends a claimed trial `pruned` at `epoch`; completes the sweep if it was the last.
fn prune(db: &Connection, fence: &Fence, epoch: i64, reason: &str) -> Result<(), StoreError> {
    db.prepare_cached(&format!(
        "UPDATE trials SET state = ?, error = ?, finished_at = {NOW}, lease_expires_ms = NULL WHERE id = ?"
    ))
    .and_then(|mut s| s.execute(params![TrialState::Pruned.as_str(), reason, fence.trial_id]))
    .map_err(sql)?;
    let data = json!({"number": fence.number, "epoch": epoch, "reason": reason});
    append(
        db,
        fence.sweep_id,
        Some(fence.trial_id),
        "trial_pruned",
        &data,
    )?;
    emit_best_if_changed(db, fence.sweep_id, fence.trial_id)?;
    complete_sweep_if_done(db, fence.sweep_id)
}

/// Appends `best_changed` if `trial_id` is now the sweep's best trial.
fn emit_best_if_changed(db: &Connection, sweep_id: i64, trial_id: i64) -> Result<(), StoreError> {
    let (metric, goal): (String, String) = db
        .prepare_cached("SELECT metric_name, metric_goal FROM sweeps WHERE id = ?")
        .and_then(|mut s| s.query_row([sweep_id], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(sql)?;
    let metric: MetricName = metric
        .parse()
        .map_err(|e| bad_column("sweep", sweep_id, "metric_name", &e))?;
    let goal: Goal = goal
        .parse()
        .map_err(|e| bad_column("sweep", sweep_id, "metric_goal", &e))?;
    let best: Option<(i64, i64, f64)> = db
        .prepare_cached(&best_trial_sql("id, number", metric, goal))
        .and_then(|mut s| {
            s.query_row([sweep_id], |r| {
                Ok((r.get("id")?, r.get("number")?, r.get("metric_value")?))
            })
            .optional()
        })
        .map_err(sql)?;
    if let Some((id, number, value)) = best.filter(|b| b.0 == trial_id) {
        let data = json!({"trial_id": id, "number": number, "value": value, "metric": metric});
        append(db, sweep_id, Some(id), "best_changed", &data)?;
    }
    Ok(())
}

/// Ends a sweep's budget (its target was reached): no trial starts any
/// more; its other trials are cancelled, running ones too, except `keep`.
/// The sweep completes once nothing runs.
fn end_sweep(
    db: &Connection,
    sweep_id: i64,
    ended_by: &str,
    keep: Option<i64>,
) -> Result<(), StoreError> {
    db.prepare_cached(MARK_ENDED)
        .and_then(|mut s| s.execute(params![ended_by, sweep_id]))
        .map_err(sql)?;
    let cancelled: Vec<(i64, i64)> = db
        .prepare_cached(&cancel_sql())
        .and_then(|mut s| {
            s.query_map(
                params![
                    TrialState::Cancelled.as_str(),
                    format!("the sweep ended: {ended_by}"),
                    sweep_id,
                    TrialState::Queued.as_str(),
                    TrialState::Running.as_str(),
                    keep
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .collect()
        })
        .map_err(sql)?;
    for (id, number) in cancelled {
        let data = json!({"number": number, "error": ended_by});
        append(db, sweep_id, Some(id), "trial_cancelled", &data)?;
    }
    complete_sweep_if_done(db, sweep_id)
}

/// Completes the sweep once none of its trials is queued or running.
fn complete_sweep_if_done(db: &Connection, sweep_id: i64) -> Result<(), StoreError> {
    let open = db
        .prepare_cached(ANY_OPEN)
        .and_then(|mut s| {
            s.exists(params![
                sweep_id,
                TrialState::Queued.as_str(),
                TrialState::Running.as_str()
            ])
        })
        .map_err(sql)?;
    if open {
        return Ok(());
    }
    let ended_by: Option<Option<String>> = db
        .prepare_cached(&complete_sql())
        .and_then(|mut s| {
            s.query_row(
                params![
                    SweepState::Completed.as_str(),
                    sweep_id,
                    SweepState::Running.as_str()
                ],
                |r| r.get(0),
            )
            .optional()
        })
        .map_err(sql)?;
    if let Some(ended_by) = ended_by {
        append(
            db,
            sweep_id,
            None,
            "sweep_completed",
            &json!({"ended_by": ended_by}),
        )?;
    }
    Ok(())
}
