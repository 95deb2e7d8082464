//! Trials as clients read them: state, parameters, latest metrics, reports.
use super::{json, Store, StoreError};
pub use crate::report::{BatchLoss, EpochReport};
use crate::schedule::TrialGroup;
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

/// A trial and its latest metrics.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Trial {
    pub id: i64,
    pub sweep_id: i64,
    pub number: i64,
    pub state: String,
    /// Null until claimed, for methods that sample from history.
    pub params: Value,
    pub seed: i64,
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
    #[serde(skip)]
    pub test_loss: Option<f64>,
    #[serde(skip)]
    pub test_accuracy: Option<f64>,
}

/// An epoch report as stored, with the early-stopping decision made on it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrialDetail {
    #[serde(flatten)]
    pub trial: Trial,
    pub epochs: Vec<StoredReport>,
    pub batch_losses: Vec<BatchLoss>,
}

impl Trial {
    /// The latest value of a metric a spec can name (`spec::METRICS`).
    pub fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "val_loss" => self.val_loss,
            "train_loss" => self.train_loss,
            _ => self.val_accuracy,
        }
    }

    pub(crate) fn from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Trial, StoreError> {
        Ok(Trial {
            id: row.get("id"),
            sweep_id: row.get("sweep_id"),
            number: row.get("number"),
            state: row.get("state"),
            params: match row.get::<Option<&str>, _>("params") {
                Some(text) => json("params", text)?,
                None => Value::Null,
            },
            seed: row.get("seed"),
            attempt: row.get("attempt"),
            worker: row.get("worker"),
            queued_at: row.get("queued_at"),
            started_at: row.get("started_at"),
            finished_at: row.get("finished_at"),
            error: row.get("error"),
            epochs_done: row.get("epochs_done"),
            train_loss: row.get("train_loss"),
            val_loss: row.get("val_loss"),
            val_accuracy: row.get("val_accuracy"),
            test_loss: row.get("test_loss"),
            test_accuracy: row.get("test_accuracy"),
        })
    }
}

/// A finished trial as a model-based sampler sees it.
#[derive(Debug, Clone)]
pub struct Finished {
    pub params: crate::spec::TrialParams,
    pub state: String,
    /// The sweep metric's last value; None for a trial that failed.
    pub value: Option<f64>,
}

impl Store {
    /// The sweep's completed, pruned and failed trials with their final metric.
    pub async fn history(&self, sweep_id: i64, metric: &str) -> Result<Vec<Finished>, StoreError> {
        let column = super::metric_column(metric);
        let rows = sqlx::query(&format!(
            "SELECT params, state, {column} AS value FROM trials
             WHERE sweep_id = ? AND state IN ('completed', 'pruned', 'failed') AND params IS NOT NULL
             ORDER BY number"
        ))
        .bind(sweep_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let state: String = r.get("state");
                Ok(Finished {
                    params: json("params", r.get::<&str, _>("params"))?,
                    value: if state == "failed" {
                        None
                    } else {
                        r.get("value")
                    },
                    state,
                })
            })
            .collect()
    }

    /// Each trial's metric per epoch up to `up_to_epoch`: (trial id, values from epoch 1).
    pub async fn curves(
        &self,
        sweep_id: i64,
        metric: &str,
        up_to_epoch: i64,
    ) -> Result<Vec<(i64, Vec<f64>)>, StoreError> {
        let column = super::metric_column(metric);
        let rows = sqlx::query(&format!(
            "SELECT r.trial_id, r.{column} AS value FROM epoch_reports r JOIN trials t ON t.id = r.trial_id
             WHERE t.sweep_id = ? AND r.epoch <= ? ORDER BY r.trial_id, r.epoch"
        ))
        .bind(sweep_id)
        .bind(up_to_epoch)
        .fetch_all(&self.pool)
        .await?;
        let mut curves: Vec<(i64, Vec<f64>)> = Vec::new();
        for row in rows {
            let trial: i64 = row.get("trial_id");
            let value: f64 = row.get("value");
            match curves.last_mut() {
                Some((t, values)) if *t == trial => values.push(value),
                _ => curves.push((trial, vec![value])),
            }
        }
        Ok(curves)
    }

    /// The sweep's trials in trial-number order.
    pub async fn trials(&self, sweep_id: i64) -> Result<Vec<Trial>, StoreError> {
        let rows = sqlx::query("SELECT * FROM trials WHERE sweep_id = ? ORDER BY number")
            .bind(sweep_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Trial::from_row).collect()
    }

    /// Up to `limit` of the sweep's trials with numbers above `after`, in
    /// trial-number order: one page, read through the `(sweep_id, number)` key.
    pub async fn trials_page(
        &self,
        sweep_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Trial>, StoreError> {
        let rows = sqlx::query(
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
    pub async fn trial(&self, id: i64) -> Result<Option<Trial>, StoreError> {
        let row = sqlx::query("SELECT * FROM trials WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Trial::from_row(&r)).transpose()
    }

    /// The sweep's trials grouped by how far they got, how far they were
    /// configured to go and whether they ended pruned: one pass, for rung
    /// statistics at any number of trials.
    pub async fn progress_groups(&self, sweep_id: i64) -> Result<Vec<TrialGroup>, StoreError> {
        // Grouped in the index's order (by state, not by "pruned or not"),
        // so that SQLite walks trials_progress without sorting.
        let rows: Vec<(i64, Option<i64>, String, i64)> = sqlx::query_as(
            "SELECT epochs_done, planned_epochs, state, COUNT(*) FROM trials
             WHERE sweep_id = ? GROUP BY epochs_done, planned_epochs, state",
        )
        .bind(sweep_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(done, epochs, state, count)| {
                Some(TrialGroup {
                    epochs_done: done as u32,
                    max_epochs: epochs? as u32,
                    pruned: state == "pruned",
                    count: count as usize,
                })
            })
            .collect())
    }

    /// The state of a trial, if it exists.
    pub async fn trial_state(&self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT state FROM trials WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// One trial with its epoch reports and training-loss samples, or None.
    pub async fn trial_detail(&self, id: i64) -> Result<Option<TrialDetail>, StoreError> {
        let Some(trial) = self.trial(id).await? else {
            return Ok(None);
        };
        let epochs = sqlx::query(
            "SELECT epoch, train_loss, val_loss, val_accuracy, seconds, decision, reason, rung
             FROM epoch_reports WHERE trial_id = ? ORDER BY epoch",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| StoredReport {
            report: EpochReport {
                epoch: r.get("epoch"),
                train_loss: r.get("train_loss"),
                val_loss: r.get("val_loss"),
                val_accuracy: r.get("val_accuracy"),
                seconds: r.get("seconds"),
            },
            decision: r.get("decision"),
            reason: r.get("reason"),
            rung: r.get("rung"),
        })
        .collect();
        let batch_losses = sqlx::query(
            "SELECT step, epoch, loss FROM batch_losses WHERE trial_id = ? ORDER BY step",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| BatchLoss {
            step: r.get("step"),
            epoch: r.get("epoch"),
            loss: r.get("loss"),
        })
        .collect();
        Ok(Some(TrialDetail {
            trial,
            epochs,
            batch_losses,
        }))
    }
}
