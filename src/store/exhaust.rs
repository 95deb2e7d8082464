//! What bayes needs beyond its sweep's history: the configurations its
//! trials already have (no repeats on a discrete space), earlier sweeps'
//! specs (warm start), and ending a sweep whose space is exhausted.
use super::lifecycle::end_sweep;
use super::queue::{Claim, WriteError};
use super::{events, Columns, Store, StoreError, NOW};
use crate::spec::TrialParams;
use crate::state::TrialState;
use serde_json::{json, Value};

impl Store {
    /// The configurations of the sweep's trials that have trained, train
    /// or are queued with one: what a new configuration must not repeat.
    pub(super) async fn taken_configurations(
        &self,
        sweep_id: i64,
    ) -> Result<Vec<TrialParams>, StoreError> {
        let rows = super::query(
            "SELECT id, params FROM trials WHERE sweep_id = ? AND params IS NOT NULL
                AND (started_at IS NOT NULL OR state = ?)",
        )
        .bind(sweep_id)
        .bind(TrialState::Queued)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let c = Columns::of(r, "trial", "id")?;
                c.json("params")?.ok_or_else(|| c.bad("params", &"NULL"))
            })
            .collect()
    }

    /// A sweep's stored spec and dataset, or None when there is no such sweep.
    pub(super) async fn stored_spec(
        &self,
        sweep_id: i64,
    ) -> Result<Option<(Value, String)>, StoreError> {
        let row = super::query("SELECT id, spec, dataset FROM sweeps WHERE id = ?")
            .bind(sweep_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let c = Columns::of(&row, "sweep", "id")?;
        let spec = c.json("spec")?.ok_or_else(|| c.bad("spec", &"NULL"))?;
        Ok(Some((spec, c.get("dataset")?)))
    }

    /// Ends a claimed trial for which the sweep's discrete space has no
    /// configuration left: it and the queued trials are cancelled, and the
    /// sweep ends `exhausted` once its running trials finish.
    pub(super) async fn exhaust(&self, claim: &Claim, worker: &str) -> Result<(), WriteError> {
        self.with_lease(claim, worker, |mut tx| {
            Box::pin(async move {
                super::query(&format!(
                    "UPDATE trials SET state = ?, error = 'exhausted', finished_at = {NOW},
                        lease_expires_ms = NULL WHERE id = ?"
                ))
                .bind(TrialState::Cancelled)
                .bind(claim.trial_id)
                .execute(&mut *tx)
                .await?;
                let data = json!({"number": claim.number, "error": "exhausted"});
                let trial = Some(claim.trial_id);
                events::append(&mut tx, claim.sweep_id, trial, "trial_cancelled", data).await?;
                end_sweep(&mut tx, claim.sweep_id, "exhausted", false, None).await?;
                Ok((tx, ()))
            })
        })
        .await
    }
}
