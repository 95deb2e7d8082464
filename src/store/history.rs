//! A sweep's history as samplers and schedulers read it: finished trials
//! with their final metric, and every trial's curve.
use super::trials::Finished;
use super::{metric_column, Columns, Store, StoreError};
use crate::metric::MetricName;
use crate::state::TrialState;

impl Store {
    /// The sweep's completed, pruned and failed trials with their final metric.
    pub(super) async fn history(
        &self,
        sweep_id: i64,
        metric: MetricName,
    ) -> Result<Vec<Finished>, StoreError> {
        let column = metric_column(metric);
        let rows = super::query(&format!(
            "SELECT id, params, state, {column} AS value FROM trials
             WHERE sweep_id = ? AND state IN (?, ?, ?) AND params IS NOT NULL
             ORDER BY number"
        ))
        .bind(sweep_id)
        .bind(TrialState::Completed)
        .bind(TrialState::Pruned)
        .bind(TrialState::Failed)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let c = Columns::of(r, "trial", "id")?;
                let state: TrialState = c.get("state")?;
                let params = c.json("params")?.ok_or_else(|| c.bad("params", &"NULL"))?;
                Ok(Finished {
                    params,
                    value: match state {
                        TrialState::Failed => None,
                        _ => c.get("value")?,
                    },
                    state,
                })
            })
            .collect()
    }

    /// Each trial's metric per epoch up to `up_to_epoch`: (trial id, values from epoch 1).
    pub(super) async fn curves(
        &self,
        sweep_id: i64,
        metric: MetricName,
        up_to_epoch: i64,
    ) -> Result<Vec<(i64, Vec<f64>)>, StoreError> {
        let column = metric_column(metric);
        let rows = super::query(&format!(
            "SELECT r.trial_id, r.{column} AS value FROM epoch_reports r JOIN trials t ON t.id = r.trial_id
             WHERE t.sweep_id = ? AND r.epoch <= ? ORDER BY r.trial_id, r.epoch"
        ))
        .bind(sweep_id)
        .bind(up_to_epoch)
        .fetch_all(&self.pool)
        .await?;
        let mut curves: Vec<(i64, Vec<f64>)> = Vec::new();
        for row in &rows {
            let c = Columns::of(row, "trial", "trial_id")?;
            let (trial, value): (i64, f64) = (c.id, c.get("value")?);
            match curves.last_mut() {
                Some((t, values)) if *t == trial => values.push(value),
                _ => curves.push((trial, vec![value])),
            }
        }
        Ok(curves)
    }
}
