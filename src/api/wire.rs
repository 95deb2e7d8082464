//! The API's response types, converted from the store's rows: the schema
//! and the wire format can change apart. Names, fields, docs and serde
//! attributes are those the rows had when they were the wire format, so
//! that answers and `/v1/openapi.json` read as they did.
use crate::report::{BatchLoss, EpochReport};
use crate::spec::Metric;
use crate::state::{SweepState, TrialState};
use crate::store;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A trial and its latest metrics.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Trial {
    pub id: i64,
    pub sweep_id: i64,
    pub number: i64,
    #[schema(value_type = String)]
    pub state: TrialState,
    /// Null until claimed, for methods that sample from history.
    pub params: Value,
    pub seed: i64,
    /// Where its configuration came from: `search` (the sweep's method),
    /// `enqueued` (POST /v1/sweeps/{id}/trials) or `warm_start` (the spec's
    /// `warm_start.trials`).
    pub source: String,
    pub attempt: i64,
    pub worker: Option<String>,
    pub queued_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Why the trial failed, e.g. `diverged`.
    pub error: Option<String>,
    pub epochs_done: i64,
    /// Metrics of the last epoch reported.
    pub train_loss: Option<f64>,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    /// The trials its latest attempt trains with in one fused group
    /// (itself among them, `fuse`); null when it trains alone.
    pub group: Option<Group>,
}

/// A fused group, as a trial shows the one it trains in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Group {
    pub size: usize,
    /// The members' trial ids.
    pub members: Vec<i64>,
}

/// An epoch report as stored, with the early-stopping decision made on it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoredReport {
    #[serde(flatten)]
    pub report: EpochReport,
    /// `continue` or `prune`; None when the sweep has no early stopping.
    pub decision: Option<String>,
    pub reason: Option<String>,
    /// The rung this epoch is, for hyperband.
    pub rung: Option<i64>,
}

/// A trial with all of its reports.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrialDetail {
    #[serde(flatten)]
    pub trial: Trial,
    pub epochs: Vec<StoredReport>,
    pub batch_losses: Vec<BatchLoss>,
}

/// How many of a sweep's trials are in each state.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, ToSchema)]
pub struct TrialCounts {
    pub queued: i64,
    pub running: i64,
    pub completed: i64,
    pub pruned: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub total: i64,
}

/// A sweep and where it stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Sweep {
    pub id: i64,
    pub name: String,
    pub dataset: String,
    pub method: String,
    pub metric: Metric,
    #[schema(value_type = String)]
    pub state: SweepState,
    pub max_trials: i64,
    pub max_parallel: Option<i64>,
    pub seed: i64,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// What ended the sweep: max_trials, max_minutes, target, exhausted
    /// (every configuration of a discrete space has trained) or cancelled.
    pub ended_by: Option<String>,
    /// The sweep this one was forked from (POST /v1/sweeps/{id}/fork);
    /// null for one submitted afresh, or once its parent is deleted.
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One row of the event log, as the data of a streamed event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: i64,
    pub sweep_id: i64,
    pub trial_id: Option<i64>,
    pub kind: String,
    pub data: Value,
    pub created_at: String,
}

impl From<store::Trial> for Trial {
    fn from(t: store::Trial) -> Trial {
        Trial {
            id: t.id,
            sweep_id: t.sweep_id,
            number: t.number,
            state: t.state,
            params: t.params,
            seed: t.seed,
            source: t.source,
            attempt: t.attempt,
            worker: t.worker,
            queued_at: t.queued_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
            error: t.error,
            epochs_done: t.epochs_done,
            train_loss: t.train_loss,
            val_loss: t.val_loss,
            val_accuracy: t.val_accuracy,
            group: t.group.map(|members| Group {
                size: members.len(),
                members,
            }),
        }
    }
}

impl From<store::StoredReport> for StoredReport {
    fn from(r: store::StoredReport) -> StoredReport {
        StoredReport {
            report: r.report,
            decision: r.decision,
            reason: r.reason,
            rung: r.rung,
        }
    }
}

impl From<store::TrialDetail> for TrialDetail {
    fn from(d: store::TrialDetail) -> TrialDetail {
        TrialDetail {
            trial: d.trial.into(),
            epochs: d.epochs.into_iter().map(StoredReport::from).collect(),
            batch_losses: d.batch_losses,
        }
    }
}

impl From<store::TrialCounts> for TrialCounts {
    fn from(c: store::TrialCounts) -> TrialCounts {
        TrialCounts {
            queued: c.queued,
            running: c.running,
            completed: c.completed,
            pruned: c.pruned,
            failed: c.failed,
            cancelled: c.cancelled,
            total: c.total,
        }
    }
}

impl From<store::Sweep> for Sweep {
    fn from(s: store::Sweep) -> Sweep {
        Sweep {
            id: s.id,
            name: s.name,
            dataset: s.dataset,
            method: s.method,
            metric: s.metric,
            state: s.state,
            max_trials: s.max_trials,
            max_parallel: s.max_parallel,
            seed: s.seed,
            created_at: s.created_at,
            finished_at: s.finished_at,
            ended_by: s.ended_by,
            parent_id: s.parent_id,
            deadline: s.deadline,
            early_terminate: s.early_terminate,
            trials: s.trials.into(),
            spec: s.spec,
            error: s.error,
        }
    }
}

impl From<store::Event> for Event {
    fn from(e: store::Event) -> Event {
        Event {
            id: e.id,
            sweep_id: e.sweep_id,
            trial_id: e.trial_id,
            kind: e.kind,
            data: e.data,
            created_at: e.created_at,
        }
    }
}
