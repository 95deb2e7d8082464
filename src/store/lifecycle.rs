//! How sweeps end: all trials done, a budget spent (`max_minutes`, `target`),
//! or cancelled; and the `best_changed` event when a trial takes the lead.
use super::{events, now_ms, Store, StoreError, NOW};
use crate::state::{SweepState, TrialState};
use serde_json::json;
use sqlx::{Any, Transaction};

/// Whether a cancel request found the sweep running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    Cancelled,
    NotFound,
    /// The sweep had already ended, in this state.
    AlreadyEnded,
}

impl Store {
    /// Ends the budget of every running sweep past its `max_minutes`: queued
    /// trials are cancelled, running ones too if the sweep says so.
    /// Each sweep is ended in a write of its own, holding its lock, and
    /// looked at again under it.
    pub(super) async fn enforce_deadlines(&self) -> Result<usize, StoreError> {
        let due: Vec<i64> =
            super::query_scalar(&format!("SELECT id FROM sweeps WHERE {PAST_DEADLINE}"))
                .bind(SweepState::Running)
                .bind(now_ms())
                .fetch_all(&self.pool)
                .await?;
        let mut ended = 0;
        for sweep_id in due {
            let mut tx = self.write_sweep(sweep_id).await?;
            let stop: Option<i64> = super::query_scalar(&format!(
                "SELECT stop_at_deadline FROM sweeps WHERE id = ? AND {PAST_DEADLINE}"
            ))
            .bind(sweep_id)
            .bind(SweepState::Running)
            .bind(now_ms())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(stop_running) = stop.map(|s| s != 0) else {
                continue;
            };
            // The deadline ends the budget only if it keeps a trial from
            // training: with nothing queued (and running trials left to
            // finish) every trial has started, and what ends the sweep is
            // max_trials (or the space, or a target), when they finish.
            if !deadline_cuts(&mut tx, sweep_id, stop_running).await? {
                continue;
            }
            end_sweep(&mut tx, sweep_id, "max_minutes", stop_running, None).await?;
            tx.commit().await?;
            ended += 1;
        }
        Ok(ended)
    }

    /// Cancels a running sweep: queued and running trials end `cancelled`
    /// (running ones at their worker's next write, within one epoch).
    pub(super) async fn cancel_sweep(&self, sweep_id: i64) -> Result<Cancel, StoreError> {
        let mut tx = self.write_sweep(sweep_id).await?;
        let Some(state) = super::sweeps::state_of(&mut *tx, sweep_id).await? else {
            return Ok(Cancel::NotFound);
        };
        if state.is_ended() {
            return Ok(Cancel::AlreadyEnded);
        }
        super::query(&format!(
            "UPDATE sweeps SET state = ?, ended_by = 'cancelled', finished_at = {NOW} WHERE id = ?"
        ))
        .bind(SweepState::Cancelled)
        .bind(sweep_id)
        .execute(&mut *tx)
        .await?;
        cancel_trials(&mut tx, sweep_id, "cancelled", true, None).await?;
        events::append(&mut tx, sweep_id, None, "sweep_cancelled", json!({})).await?;
        tx.commit().await?;
        Ok(Cancel::Cancelled)
    }
}

/// A running sweep whose deadline passed (bind: the running state, now).
const PAST_DEADLINE: &str =
    "state = ? AND ended_by IS NULL AND deadline_ms IS NOT NULL AND deadline_ms <= ?";

/// Whether a sweep's deadline keeps any of its trials from training:
/// one is queued, or one runs and the sweep stops running trials at it.
async fn deadline_cuts(
    tx: &mut Transaction<'_, Any>,
    sweep_id: i64,
    stop_running: bool,
) -> Result<bool, StoreError> {
    let stopped = match stop_running {
        true => TrialState::Running,
        false => TrialState::Queued,
    };
    let cut: Option<i64> =
        super::query_scalar("SELECT id FROM trials WHERE sweep_id = ? AND state IN (?, ?) LIMIT 1")
            .bind(sweep_id)
            .bind(TrialState::Queued)
            .bind(stopped)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(cut.is_some())
}

/// The statements of ending a sweep, shared with the writer thread's
/// versions of these functions (`hot.rs`), which bind the same values.
///
/// Marks what ended the sweep's budget (bind: ended_by, sweep id).
pub(super) const MARK_ENDED: &str =
    "UPDATE sweeps SET ended_by = COALESCE(ended_by, ?) WHERE id = ?";

/// Cancels trials (bind: the cancelled state, the error, sweep id, the two
/// states cancelled, the trial kept); returns each one's id and number.
pub(super) fn cancel_sql() -> String {
    format!(
        "UPDATE trials SET state = ?, error = ?, finished_at = {NOW}, lease_expires_ms = NULL
         WHERE sweep_id = ? AND state IN (?, ?) AND id IS DISTINCT FROM ? RETURNING id, number"
    )
}

/// A row if the sweep has a trial in either state (bind: sweep id, two states).
pub(super) const ANY_OPEN: &str =
    "SELECT 1 FROM trials WHERE sweep_id = ? AND state IN (?, ?) LIMIT 1";

/// Completes a running sweep (bind: the completed state, sweep id, the
/// running state); returns what ended it, no row if it was not running.
pub(super) fn complete_sql() -> String {
    format!(
        "UPDATE sweeps SET state = ?, finished_at = {NOW}, ended_by = COALESCE(ended_by,
            CASE WHEN exhausted <> 0 THEN 'exhausted' ELSE 'max_trials' END)
         WHERE id = ? AND state = ? RETURNING ended_by"
    )
}

/// Ends a sweep's budget: no trial starts any more; queued trials are
/// cancelled, and running ones except `keep` too if `stop_running`. The
/// sweep completes once nothing runs.
pub(super) async fn end_sweep(
    tx: &mut Transaction<'_, Any>,
    sweep_id: i64,
    ended_by: &str,
    stop_running: bool,
    keep: Option<i64>,
) -> Result<(), StoreError> {
    super::query(MARK_ENDED)
        .bind(ended_by)
        .bind(sweep_id)
        .execute(&mut **tx)
        .await?;
    cancel_trials(tx, sweep_id, ended_by, stop_running, keep).await?;
    complete_sweep_if_done(tx, sweep_id).await
}

/// Cancels the sweep's queued trials, and its running ones except `keep`
/// too if `stop_running`; their workers find out at their next write.
async fn cancel_trials(
    tx: &mut Transaction<'_, Any>,
    sweep_id: i64,
    ended_by: &str,
    stop_running: bool,
    keep: Option<i64>,
) -> Result<(), StoreError> {
    // The second state is the first again unless running trials stop too.
    let stopped = match stop_running {
        true => TrialState::Running,
        false => TrialState::Queued,
    };
    let cancelled: Vec<(i64, i64)> = super::query_as(&cancel_sql())
        .bind(TrialState::Cancelled)
        .bind(format!("the sweep ended: {ended_by}"))
        .bind(sweep_id)
        .bind(TrialState::Queued)
        .bind(stopped)
        .bind(keep)
        .fetch_all(&mut **tx)
        .await?;
    for (id, number) in cancelled {
        events::append(
            tx,
            sweep_id,
            Some(id),
            "trial_cancelled",
            json!({"number": number, "error": ended_by}),
        )
        .await?;
    }
    Ok(())
}

/// Completes the sweep once none of its trials is queued or running.
pub(super) async fn complete_sweep_if_done(
    tx: &mut Transaction<'_, Any>,
    sweep_id: i64,
) -> Result<(), StoreError> {
    let open: Option<i64> = super::query_scalar(ANY_OPEN)
        .bind(sweep_id)
        .bind(TrialState::Queued)
        .bind(TrialState::Running)
        .fetch_optional(&mut **tx)
        .await?;
    if open.is_some() {
        return Ok(());
    }
    let completed: Option<Option<String>> = super::query_scalar(&complete_sql())
        .bind(SweepState::Completed)
        .bind(sweep_id)
        .bind(SweepState::Running)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(ended_by) = completed {
        events::append(
            tx,
            sweep_id,
            None,
            "sweep_completed",
            json!({"ended_by": ended_by}),
        )
        .await?;
    }
    Ok(())
}
