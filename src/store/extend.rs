//! A sweep's budget changed after submission (PATCH): more or fewer
//! trials, a later deadline, another target; an ended sweep runs again.
//! And a trial a user enqueues, in the place of the last queued search trial.
use super::lifecycle::complete_sweep_if_done;
use super::planned::{queue_trials, NewTrial};
use super::{events, now_ms, Columns, Store, StoreError, Trial, NOW};
use crate::state::{SweepState, TrialState};
use serde_json::{json, Value};

/// Where a sweep's trials stand against its budget: what an extension is
/// planned from, and checked again when it is written (`used` and
/// `last_number`; `started` is checked against the new `max_trials`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Budget {
    /// Trials that have started (in any state since).
    pub started: i64,
    /// Trials that count toward `max_trials`: started or queued.
    pub used: i64,
    /// The highest trial number; -1 for none.
    pub last_number: i64,
}

/// A change of a sweep's budgets.
#[derive(Debug, Clone)]
pub struct Extension {
    pub sweep_id: i64,
    pub max_trials: i64,
    /// Minutes from the sweep's creation to its new deadline; None keeps it.
    pub max_minutes: Option<f64>,
    /// The new target as stored (JSON); None keeps it, Some(None) clears it.
    pub target: Option<Option<Value>>,
    /// The spec document with the changes made.
    pub spec: Value,
    /// New trials, numbered after the last.
    pub trials: Vec<NewTrial>,
    /// The space has no configurations beyond these trials.
    pub exhausted: bool,
    /// The budget the trials were planned from.
    pub planned_from: Budget,
}

/// What became of an extension.
#[derive(Debug, Clone, PartialEq)]
pub enum Extended {
    NotFound,
    /// The sweep's trials changed since the extension was planned: plan again.
    Stale,
    /// `max_trials` is below the trials that have started.
    BelowStarted(i64),
    /// `max_minutes` is below the minutes since the sweep was created.
    BelowElapsed(f64),
    /// Written; whether an ended sweep was resumed.
    Done {
        resumed: bool,
    },
}

/// What became of an enqueued trial.
#[derive(Debug, Clone)]
pub enum Enqueued {
    NotFound,
    /// No search trial is queued whose place it could take.
    NoQueued,
    Done(Box<Trial>),
}

/// Enqueued trials' priorities start here, one up per trial enqueued: below
/// every search trial's 0, in the order enqueued.
const ENQUEUED_PRIORITY: i64 = -(1 << 40);

impl Store {
    /// The sweep's budget as it stands.
    pub(super) async fn budget(&self, sweep_id: i64) -> Result<Budget, StoreError> {
        let mut conn = self.pool.acquire().await?;
        budget_in(&mut conn, sweep_id).await
    }

    /// Changes a sweep's budgets in one write (see `Extension`).
    pub(super) async fn extend_sweep(&self, e: &Extension) -> Result<Extended, StoreError> {
        let mut tx = self.write_sweep(e.sweep_id).await?;
        let row = super::query(
            "SELECT id, state, CAST((julianday(created_at) - 2440587.5) * 86400000.0 AS BIGINT)
                AS created_ms FROM sweeps WHERE id = ?",
        )
        .bind(e.sweep_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Extended::NotFound);
        };
        let c = Columns::of(&row, "sweep", "id")?;
        let (state, created_ms): (SweepState, i64) = (c.get("state")?, c.get("created_ms")?);
        let budget = budget_in(&mut tx, e.sweep_id).await?;
        // Claims start trials meanwhile (`started` grows) without changing
        // the plan; a trial queued, or one cancelled unstarted, changes it.
        let planned = (e.planned_from.used, e.planned_from.last_number);
        if (budget.used, budget.last_number) != planned {
            return Ok(Extended::Stale);
        }
        if e.max_trials < budget.started {
            return Ok(Extended::BelowStarted(budget.started));
        }
        let elapsed = (now_ms() - created_ms) as f64 / 60_000.0;
        if e.max_minutes.is_some_and(|m| m < elapsed) {
            return Ok(Extended::BelowElapsed(elapsed));
        }
        let excess = budget.used + e.trials.len() as i64 - e.max_trials;
        let dropped: Vec<(i64, i64)> = super::query_as(&format!(
            "UPDATE trials SET state = ?, error = 'max_trials lowered', finished_at = {NOW}
             WHERE id IN (SELECT id FROM trials WHERE sweep_id = ? AND state = ?
                AND started_at IS NULL ORDER BY priority DESC, number DESC LIMIT ?)
             RETURNING id, number"
        ))
        .bind(TrialState::Cancelled)
        .bind(e.sweep_id)
        .bind(TrialState::Queued)
        .bind(excess.max(0))
        .fetch_all(&mut *tx)
        .await?;
        for (id, number) in dropped {
            let data = json!({"number": number, "error": "max_trials lowered"});
            events::append(&mut tx, e.sweep_id, Some(id), "trial_cancelled", data).await?;
        }
        queue_trials(&mut tx, e.sweep_id, budget.last_number + 1, &e.trials).await?;
        let deadline = e.max_minutes.map(|m| created_ms + (m * 60_000.0) as i64);
        super::query(
            "UPDATE sweeps SET max_trials = ?, spec = ?, exhausted = ?,
                deadline_ms = CASE WHEN ? THEN ? ELSE deadline_ms END,
                target = CASE WHEN ? THEN ? ELSE target END,
                state = ?, ended_by = NULL, finished_at = NULL
             WHERE id = ?",
        )
        .bind(e.max_trials)
        .bind(e.spec.to_string())
        .bind(i64::from(e.exhausted))
        .bind(deadline.is_some())
        .bind(deadline)
        .bind(e.target.is_some())
        .bind(e.target.clone().flatten().map(|t| t.to_string()))
        .bind(SweepState::Running)
        .bind(e.sweep_id)
        .execute(&mut *tx)
        .await?;
        let resumed = state.is_ended();
        if resumed {
            let data = json!({"from": state, "trials_queued": e.trials.len()});
            events::append(&mut tx, e.sweep_id, None, "sweep_resumed", data).await?;
        }
        let data = json!({"max_trials": e.max_trials, "max_minutes": e.max_minutes,
            "target": e.target, "trials_queued": e.trials.len()});
        events::append(&mut tx, e.sweep_id, None, "sweep_extended", data).await?;
        complete_sweep_if_done(&mut tx, e.sweep_id).await?;
        tx.commit().await?;
        Ok(Extended::Done { resumed })
    }

    /// Queues a configuration a user chose, to train next: it takes the
    /// place (number, seed) of the sweep's last queued search trial.
    pub(super) async fn enqueue_trial(
        &self,
        sweep_id: i64,
        params: &Value,
    ) -> Result<Enqueued, StoreError> {
        let mut tx = self.write_sweep(sweep_id).await?;
        let found: Option<i64> = super::query_scalar("SELECT id FROM sweeps WHERE id = ?")
            .bind(sweep_id)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Ok(Enqueued::NotFound);
        }
        let place: Option<i64> = super::query_scalar(
            "SELECT id FROM trials WHERE sweep_id = ? AND state = ? AND source = 'search'
                AND started_at IS NULL ORDER BY number DESC LIMIT 1",
        )
        .bind(sweep_id)
        .bind(TrialState::Queued)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(place) = place else {
            return Ok(Enqueued::NoQueued);
        };
        let row = super::query(
            "UPDATE trials SET params = ?, source = 'enqueued',
                priority = ? + (SELECT COUNT(*) FROM trials WHERE sweep_id = ? AND source = 'enqueued')
             WHERE id = ? RETURNING *",
        )
        .bind(params.to_string())
        .bind(ENQUEUED_PRIORITY)
        .bind(sweep_id)
        .bind(place)
        .fetch_one(&mut *tx)
        .await?;
        let trial = Trial::from_row(&row)?;
        let data = json!({"number": trial.number, "params": params});
        events::append(&mut tx, sweep_id, Some(trial.id), "trial_enqueued", data).await?;
        tx.commit().await?;
        Ok(Enqueued::Done(Box::new(trial)))
    }
}

/// The sweep's budget, read on `conn` (inside a write, or not).
async fn budget_in(conn: &mut sqlx::AnyConnection, sweep_id: i64) -> Result<Budget, StoreError> {
    let (started, used, last_number): (i64, i64, i64) = super::query_as(
        "SELECT COUNT(started_at),
                COUNT(CASE WHEN started_at IS NOT NULL OR state = ? THEN 1 END),
                COALESCE(MAX(number), -1)
         FROM trials WHERE sweep_id = ?",
    )
    .bind(TrialState::Queued)
    .bind(sweep_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Budget {
        started,
        used,
        last_number,
    })
}
