//! Trials as clients read them: state, parameters, latest metrics, reports.
use super::{Columns, Store, StoreError};
use crate::metric::MetricName;
pub use crate::report::{BatchLoss, EpochReport};
use crate::schedule::TrialGroup;
use crate::state::TrialState;
use serde_json::Value;

/// A trial and its latest metrics, as stored (`api::wire::Trial` is how
/// clients see it).
#[derive(Debug, Clone)]
pub struct Trial {
    pub id: i64,
    pub sweep_id: i64,
    pub number: i64,
    pub state: TrialState,
    /// Null until claimed, for methods that sample from history.
    pub params: Value,
    pub seed: i64,
    /// Where its configuration came from: search, enqueued or warm_start.
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
    /// Metrics on the dataset's held-out test split, measured when the trial completed.
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
    /// The trial ids of the fused group its latest attempt trains in
    /// (itself among them); None when it trains alone.
    pub group: Option<Vec<i64>>,
}

/// An epoch report as stored, with the early-stopping decision made on it.
#[derive(Debug, Clone)]
pub struct StoredReport {
    pub report: EpochReport,
    /// `continue` or `prune`; None when the sweep has no early stopping.
    pub decision: Option<String>,
    pub reason: Option<String>,
    /// The rung this epoch is, for hyperband.
    pub rung: Option<i64>,
}

/// A trial with all of its reports.
#[derive(Debug, Clone)]
pub struct TrialDetail {
    pub trial: Trial,
    pub epochs: Vec<StoredReport>,
    pub batch_losses: Vec<BatchLoss>,
}

impl Trial {
    /// The latest value of a metric; None for one not reported yet.
    pub fn metric(&self, name: MetricName) -> Option<f64> {
        match name {
            MetricName::ValAccuracy => self.val_accuracy,
            MetricName::ValLoss => self.val_loss,
            MetricName::TrainLoss => self.train_loss,
        }
    }

    /// Decodes a `SELECT *` row; a bad column is a `BadRow` naming it.
    pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> Result<Trial, StoreError> {
        let c = Columns::of(row, "trial", "id")?;
        Ok(Trial {
            id: c.id,
            sweep_id: c.get("sweep_id")?,
            number: c.get("number")?,
            state: c.get("state")?,
            params: c.json("params")?.unwrap_or(Value::Null),
            seed: c.get("seed")?,
            source: c.get("source")?,
            attempt: c.get("attempt")?,
            worker: c.get("worker")?,
            queued_at: c.get("queued_at")?,
            started_at: c.get("started_at")?,
            finished_at: c.get("finished_at")?,
            error: c.get("error")?,
            epochs_done: c.get("epochs_done")?,
            train_loss: c.get("train_loss")?,
            val_loss: c.get("val_loss")?,
            val_accuracy: c.get("val_accuracy")?,
            test_loss: c.get("test_loss")?,
            test_accuracy: c.get("test_accuracy")?,
            group: c.json("group_members")?,
        })
    }
}

/// A finished trial as a model-based sampler sees it.
#[derive(Debug, Clone)]
pub struct Finished {
    pub params: crate::spec::TrialParams,
    pub state: TrialState,
    /// The sweep metric's last value; None for a trial that failed.
    pub value: Option<f64>,
}

impl Store {
    /// The sweep's trials in trial-number order.
    pub(super) async fn trials(&self, sweep_id: i64) -> Result<Vec<Trial>, StoreError> {
        let rows = super::query("SELECT * FROM trials WHERE sweep_id = ? ORDER BY number")
            .bind(sweep_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Trial::from_row).collect()
    }

    /// Up to `limit` of the sweep's trials with numbers above `after`, in
    /// trial-number order: one page, read through the `(sweep_id, number)` key.
    pub(super) async fn trials_page(
        &self,
        sweep_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Trial>, StoreError> {
        let rows = super::query(
            "SELECT * FROM trials WHERE sweep_id = ? AND number > ? ORDER BY number LIMIT ?",
        )
        .bind(sweep_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Trial::from_row).collect()
    }

    /// One trial, or None.
    pub(super) async fn trial(&self, id: i64) -> Result<Option<Trial>, StoreError> {
        let row = super::query("SELECT * FROM trials WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Trial::from_row(&r)).transpose()
    }

    /// The sweep's trials grouped by how far they got, how far they were
    /// configured to go and whether they ended pruned: one pass, for rung
    /// statistics at any number of trials.
    pub(super) async fn progress_groups(
        &self,
        sweep_id: i64,
    ) -> Result<Vec<TrialGroup>, StoreError> {
        // Grouped in the index's order (by state, not by "pruned or not"),
        // so that SQLite walks trials_progress without sorting.
        let rows = super::query(
            "SELECT epochs_done, planned_epochs, state, COUNT(*) AS n FROM trials
             WHERE sweep_id = ? GROUP BY epochs_done, planned_epochs, state",
        )
        .bind(sweep_id)
        .fetch_all(&self.pool)
        .await?;
        let mut groups = Vec::with_capacity(rows.len());
        for row in &rows {
            let c = Columns {
                row,
                what: "trials of sweep",
                id: sweep_id,
            };
            // Trials not sampled yet have no planned epochs: in no rung.
            let Some(planned) = c.get::<Option<i64>>("planned_epochs")? else {
                continue;
            };
            let count = |name: &str, n: i64| u32::try_from(n).map_err(|e| c.bad(name, &e));
            groups.push(TrialGroup {
                epochs_done: count("epochs_done", c.get("epochs_done")?)?,
                max_epochs: count("planned_epochs", planned)?,
                pruned: c.get::<TrialState>("state")? == TrialState::Pruned,
                count: count("n", c.get("n")?)? as usize,
            });
        }
        Ok(groups)
    }

    /// The state of a trial, if it exists.
    pub(super) async fn trial_state(&self, id: i64) -> Result<Option<TrialState>, StoreError> {
        let row = super::query("SELECT id, state FROM trials WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Columns::of(&r, "trial", "id")?.get("state"))
            .transpose()
    }

    /// One trial with its epoch reports and training-loss samples, or None.
    pub(super) async fn trial_detail(&self, id: i64) -> Result<Option<TrialDetail>, StoreError> {
        let Some(trial) = self.trial(id).await? else {
            return Ok(None);
        };
        let rows = super::query(
            "SELECT epoch, train_loss, val_loss, val_accuracy, seconds, decision, reason, rung
             FROM epoch_reports WHERE trial_id = ? ORDER BY epoch",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let epochs = rows
            .iter()
            .map(|r| {
                let c = Columns {
                    row: r,
                    what: "epoch report of trial",
                    id,
                };
                Ok(StoredReport {
                    report: report_from(&c)?,
                    decision: c.get("decision")?,
                    reason: c.get("reason")?,
                    rung: c.get("rung")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let rows = super::query(
            "SELECT step, epoch, loss FROM batch_losses WHERE trial_id = ? ORDER BY step",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let batch_losses = rows
            .iter()
            .map(|r| {
                let c = Columns {
                    row: r,
                    what: "batch loss of trial",
                    id,
                };
                Ok(BatchLoss {
                    step: c.get("step")?,
                    epoch: c.get("epoch")?,
                    loss: c.get("loss")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Some(TrialDetail {
            trial,
            epochs,
            batch_losses,
        }))
    }
}

/// The report columns of an `epoch_reports` row.
pub(super) fn report_from(c: &Columns<'_>) -> Result<EpochReport, StoreError> {
    Ok(EpochReport {
        epoch: c.get("epoch")?,
        train_loss: c.get("train_loss")?,
        val_loss: c.get("val_loss")?,
        val_accuracy: c.get("val_accuracy")?,
        seconds: c.get("seconds")?,
    })
}
