//! Sweeps: creation with their queued trials, status and counts.
use super::planned::{queue_trials, NewTrial};
use super::{best_trial_sql, events, now_ms, Columns, Store, StoreError, Trial, NOW};
use crate::metric::{Metric, MetricName};
use crate::state::{SweepState, TrialState};
use serde_json::{json, Value};

/// What creating a sweep needs: the validated spec and its trials' configurations.
pub struct NewSweep<'a> {
    pub name: &'a str,
    pub dataset: &'a str,
    pub method: &'a str,
    pub metric: &'a Metric,
    pub max_parallel: Option<u32>,
    pub seed: u64,
    pub spec: &'a Value,
    /// The early-stopping rule, as JSON.
    pub early_terminate: Option<Value>,
    /// Minutes after creation past which no trial starts.
    pub max_minutes: Option<f64>,
    /// Whether running trials are stopped when `max_minutes` is up.
    pub stop_at_deadline: bool,
    /// The target that completes the sweep, as JSON.
    pub target: Option<Value>,
    /// Trials the sweep may train (its budget); may exceed `trials` when
    /// the space has fewer configurations.
    pub max_trials: i64,
    /// The sweep this one was forked from.
    pub parent_id: Option<i64>,
    /// Planning found fewer configurations than `max_trials`.
    pub exhausted: bool,
    /// Each trial, in trial-number order.
    pub trials: Vec<NewTrial>,
}

/// How many of a sweep's trials are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrialCounts {
    pub queued: i64,
    pub running: i64,
    pub completed: i64,
    pub pruned: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub total: i64,
}

/// A sweep and where it stands, as stored (`api::wire::Sweep` is how
/// clients see it).
#[derive(Debug, Clone)]
pub struct Sweep {
    pub id: i64,
    pub name: String,
    pub dataset: String,
    pub method: String,
    pub metric: Metric,
    pub state: SweepState,
    pub max_trials: i64,
    pub max_parallel: Option<i64>,
    pub seed: i64,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// What ended the sweep: max_trials, max_minutes, target, exhausted or cancelled.
    pub ended_by: Option<String>,
    /// The sweep this one was forked from, if any (and not deleted).
    pub parent_id: Option<i64>,
    /// When `max_minutes` is up, if the sweep has one.
    pub deadline: Option<String>,
    /// The early-stopping rule, if any.
    pub early_terminate: Option<Value>,
    pub trials: TrialCounts,
    /// Null when the stored spec cannot be read (see `error`).
    pub spec: Value,
    /// Why part of the stored sweep cannot be read, e.g. its spec is not
    /// JSON. Only listings show such a sweep, with this marker, so that the
    /// others still list; reading it alone is an error, and claims skip it.
    pub error: Option<String>,
}

const COLUMNS: &str = "id, name, dataset, method, metric_name, metric_goal, state, max_trials,
    max_parallel, seed, created_at, finished_at, ended_by, parent_id, spec, early_terminate,
    strftime('%Y-%m-%dT%H:%M:%fZ', deadline_ms / 1000.0, 'unixepoch') AS deadline";

impl Store {
    /// Stores a sweep and queues its trials in one transaction; returns its id.
    pub(super) async fn create_sweep(&self, new: NewSweep<'_>) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let id: i64 = super::query_scalar(&format!(
            "INSERT INTO sweeps (name, dataset, method, metric_name, metric_goal, max_trials,
                max_parallel, seed, spec, early_terminate, deadline_ms, stop_at_deadline, target,
                state, parent_id, exhausted, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {NOW}) RETURNING id"
        ))
        .bind(new.name)
        .bind(new.dataset)
        .bind(new.method)
        .bind(new.metric.name)
        .bind(new.metric.goal)
        .bind(new.max_trials)
        .bind(new.max_parallel.map(i64::from))
        .bind(new.seed as i64)
        .bind(new.spec.to_string())
        .bind(new.early_terminate.as_ref().map(Value::to_string))
        .bind(new.max_minutes.map(|m| now_ms() + (m * 60_000.0) as i64))
        .bind(i64::from(new.stop_at_deadline))
        .bind(new.target.as_ref().map(Value::to_string))
        .bind(SweepState::Running)
        .bind(new.parent_id)
        .bind(i64::from(new.exhausted))
        .fetch_one(&mut *tx)
        .await?;
        let data = match new.parent_id {
            Some(parent) => json!({"trials": new.trials.len(), "parent_id": parent}),
            None => json!({"trials": new.trials.len()}),
        };
        events::append(&mut tx, id, None, "sweep_created", data).await?;
        queue_trials(&mut tx, id, 0, &new.trials).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// One sweep with its trial counts, or None.
    pub(super) async fn sweep(&self, id: i64) -> Result<Option<Sweep>, StoreError> {
        let row = super::query(&format!("SELECT {COLUMNS} FROM sweeps WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let counts = self.trial_counts(id).await?;
        let sweep = sweep_from_row(&row, counts)?;
        match sweep.error {
            Some(why) => Err(StoreError::BadRow {
                what: "sweep",
                id,
                why,
            }),
            None => Ok(Some(sweep)),
        }
    }

    /// Just the sweep's state, or None.
    pub(super) async fn sweep_state(&self, id: i64) -> Result<Option<SweepState>, StoreError> {
        state_of(&self.pool, id).await
    }

    /// At most `limit` sweeps with ids below `before` (all when None),
    /// newest first, with trial counts: one page of the sweep list. A sweep
    /// whose spec (or another JSON column) cannot be read is listed with its
    /// `error` marker; one whose plain columns cannot be read is left out and logged.
    pub(super) async fn sweeps_page(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Sweep>, StoreError> {
        let rows = super::query(&format!(
            "SELECT {COLUMNS} FROM sweeps WHERE id < ? ORDER BY id DESC LIMIT ?"
        ))
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let counts = self
                .trial_counts(Columns::of(&row, "sweep", "id")?.id)
                .await?;
            match sweep_from_row(&row, counts) {
                Ok(sweep) => out.push(sweep),
                Err(e @ StoreError::BadRow { .. }) => tracing::warn!("not listed: {e}"),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn trial_counts(&self, sweep_id: i64) -> Result<TrialCounts, StoreError> {
        let rows = super::query(
            // Kept by triggers (migration ..._history_indexes): a long history costs nothing here.
            "SELECT state, n FROM trial_counts WHERE sweep_id = ?",
        )
        .bind(sweep_id)
        .fetch_all(&self.pool)
        .await?;
        let mut c = TrialCounts::default();
        for row in &rows {
            let columns = Columns {
                row,
                what: "trial counts of sweep",
                id: sweep_id,
            };
            let n: i64 = columns.get("n")?;
            let count = match columns.get::<TrialState>("state")? {
                TrialState::Queued => &mut c.queued,
                TrialState::Running => &mut c.running,
                TrialState::Completed => &mut c.completed,
                TrialState::Pruned => &mut c.pruned,
                TrialState::Failed => &mut c.failed,
                TrialState::Cancelled => &mut c.cancelled,
            };
            *count = n;
            c.total += n;
        }
        Ok(c)
    }

    /// The finished trial with the best final value of the sweep's metric;
    /// ties go to the earlier trial.
    pub(super) async fn best_trial(&self, sweep: &Sweep) -> Result<Option<Trial>, StoreError> {
        let sql = best_trial_sql("*", sweep.metric.name, sweep.metric.goal);
        let row = super::query(&sql)
            .bind(sweep.id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Trial::from_row(&r)).transpose()
    }
}

/// A sweep from its row. A plain column that cannot be read is a `BadRow`
/// error; a JSON column (spec, early-stopping rule) that cannot be read
/// leaves the sweep with its `error` marker instead.
fn sweep_from_row(row: &sqlx::any::AnyRow, trials: TrialCounts) -> Result<Sweep, StoreError> {
    let c = Columns::of(row, "sweep", "id")?;
    let mut error = None;
    let mut decode = |name: &'static str| -> Result<Option<Value>, StoreError> {
        let text: Option<&str> = c.get(name)?;
        Ok(text.and_then(|text| match serde_json::from_str(text) {
            Ok(value) => Some(value),
            Err(e) => {
                error.get_or_insert(format!("its stored {name} is not valid JSON: {e}"));
                None
            }
        }))
    };
    let early_terminate = decode("early_terminate")?;
    let spec = decode("spec")?.unwrap_or(Value::Null);
    let metric_name: MetricName = c.get("metric_name")?;
    let method: String = c.get("method")?;
    if let Err(e) = serde_json::from_value::<crate::spec::Method>(json!(method)) {
        return Err(c.bad("method", &e));
    }
    Ok(Sweep {
        id: c.id,
        name: c.get("name")?,
        dataset: c.get("dataset")?,
        method,
        metric: Metric {
            name: metric_name,
            goal: c.get("metric_goal")?,
        },
        state: c.get("state")?,
        max_trials: c.get("max_trials")?,
        max_parallel: c.get("max_parallel")?,
        seed: c.get("seed")?,
        created_at: c.get("created_at")?,
        finished_at: c.get("finished_at")?,
        ended_by: c.get("ended_by")?,
        parent_id: c.get("parent_id")?,
        deadline: c.get("deadline")?,
        early_terminate,
        trials,
        spec,
        error,
    })
}

/// A sweep's state, or None, read through `on`: the pool, or a write
/// transaction that then holds the sweep while it decides on that state.
pub(super) async fn state_of<'e>(
    on: impl sqlx::any::AnyExecutor<'e>,
    id: i64,
) -> Result<Option<SweepState>, StoreError> {
    let row = super::query("SELECT id, state FROM sweeps WHERE id = ?")
        .bind(id)
        .fetch_optional(on)
        .await?;
    row.map(|r| Columns::of(&r, "sweep", "id")?.get("state"))
        .transpose()
}
