//! Claiming a queued trial: the one write that starts a lease, so it needs
//! none; trials and sweeps whose stored rows cannot be read are skipped.
use super::queue::Claim;
use super::{events, now_ms, Columns, Store, StoreError, NOW};
use crate::state::{SweepState, TrialState};
use serde_json::json;

impl Store {
    /// Claims the next queued trial that its sweep's `max_parallel` lets run,
    /// oldest sweep first, and within it an enqueued trial first (lowest
    /// priority, then lowest number), atomically. None when nothing can run now. A
    /// sweep whose stored spec (or a trial whose stored params) cannot be
    /// read is skipped, its trials left queued, and logged once.
    pub(super) async fn claim(
        &self,
        worker: &str,
        lease_ms: i64,
    ) -> Result<Option<Claim>, StoreError> {
        let mut tx = self.write().await?;
        let (mut skip_sweeps, mut skip_trials) = (Vec::<i64>::new(), Vec::<i64>::new());
        let (row, trial_id, sweep_id, spec, params) = loop {
            let row = sqlx::query(
                "SELECT t.id, t.sweep_id, t.number, t.params, t.seed, t.epochs_done, s.dataset, s.seed AS sweep_seed, s.spec
                 FROM trials t JOIN sweeps s ON s.id = t.sweep_id
                 WHERE t.state = ?1 AND s.state = ?2
                   AND (s.deadline_ms IS NULL OR s.deadline_ms > ?3)
                   AND (s.max_parallel IS NULL OR s.max_parallel >
                        (SELECT COUNT(*) FROM trials r WHERE r.sweep_id = t.sweep_id AND r.state = ?4))
                   AND t.sweep_id NOT IN (SELECT value FROM json_each(?5))
                   AND t.id NOT IN (SELECT value FROM json_each(?6))
                 ORDER BY t.sweep_id, t.priority, t.number LIMIT 1",
            )
            .bind(TrialState::Queued)
            .bind(SweepState::Running)
            .bind(now_ms())
            .bind(TrialState::Running)
            .bind(json!(skip_sweeps).to_string())
            .bind(json!(skip_trials).to_string())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let c = Columns::of(&row, "trial", "id")?;
            let (trial_id, sweep_id): (i64, i64) = (c.id, c.get("sweep_id")?);
            let sweep = Columns {
                row: &row,
                what: "sweep",
                id: sweep_id,
            };
            let spec = sweep
                .json("spec")
                .and_then(|spec| spec.ok_or_else(|| sweep.bad("spec", &"NULL")));
            let spec = match spec {
                Ok(spec) => spec,
                Err(e) => {
                    self.skipping(format!("sweep {sweep_id}"), &e);
                    skip_sweeps.push(sweep_id);
                    continue;
                }
            };
            match c.json("params") {
                Ok(params) => break (row, trial_id, sweep_id, spec, params),
                Err(e) => {
                    self.skipping(format!("trial {trial_id} of sweep {sweep_id}"), &e);
                    skip_trials.push(trial_id);
                }
            }
        };
        let c = Columns {
            row: &row,
            what: "trial",
            id: trial_id,
        };
        let number: i64 = c.get("number")?;
        // Reports of earlier attempts stay: the worker rewinds them to the
        // checkpoint it resumes from (`Store::rewind`).
        let attempt: i64 = sqlx::query_scalar(&format!(
            "UPDATE trials SET state = ?, attempt = attempt + 1, worker = ?,
                lease_expires_ms = ?, started_at = {NOW}, started_ms = ?
             WHERE id = ? RETURNING attempt"
        ))
        .bind(TrialState::Running)
        .bind(worker)
        .bind(now_ms() + lease_ms)
        .bind(now_ms())
        .bind(trial_id)
        .fetch_one(&mut *tx)
        .await?;
        events::append(
            &mut tx,
            sweep_id,
            Some(trial_id),
            "trial_started",
            json!({"number": number, "attempt": attempt, "worker": worker}),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(Claim {
            trial_id,
            sweep_id,
            number,
            attempt,
            epochs_done: c.get("epochs_done")?,
            params,
            seed: c.get::<i64>("seed")? as u64,
            dataset: c.get("dataset")?,
            sweep_seed: c.get::<i64>("sweep_seed")? as u64,
            spec,
        }))
    }

    /// Logs, once per sweep or trial in this process, why claims skip it.
    fn skipping(&self, what: String, why: &StoreError) {
        let mut skipped = self.skipped.lock().unwrap_or_else(|e| e.into_inner());
        if skipped.insert(what.clone()) {
            tracing::warn!("claims skip {what}, leaving it queued: {why}");
        }
    }
}
