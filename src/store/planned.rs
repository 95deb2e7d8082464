//! Trials to queue, as a new sweep, an extension or a warm start plans
//! them, and queueing them with their events.
use super::{events, StoreError, NOW};
use crate::state::TrialState;
use serde_json::{json, Value};

/// A trial to queue.
#[derive(Debug, Clone)]
pub struct NewTrial {
    /// None for methods that sample when a worker claims the trial.
    pub params: Option<Value>,
    pub seed: u64,
    /// Where the configuration came from: search, enqueued or warm_start.
    pub source: &'static str,
}

impl NewTrial {
    /// A trial of the sweep's own search.
    pub fn search(params: Option<Value>, seed: u64) -> NewTrial {
        NewTrial {
            params,
            seed,
            source: "search",
        }
    }
}

/// Queues `trials` numbered from `first`, each with its `trial_queued` event.
pub(super) async fn queue_trials(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sweep_id: i64,
    first: i64,
    trials: &[NewTrial],
) -> Result<(), StoreError> {
    for (number, trial) in (first..).zip(trials) {
        let trial_id: i64 = super::query_scalar(&format!(
            "INSERT INTO trials (sweep_id, number, params, seed, state, source, queued_at)
             VALUES (?, ?, ?, ?, ?, ?, {NOW}) RETURNING id"
        ))
        .bind(sweep_id)
        .bind(number)
        .bind(trial.params.as_ref().map(Value::to_string))
        .bind(trial.seed as i64)
        .bind(TrialState::Queued)
        .bind(trial.source)
        .fetch_one(&mut **tx)
        .await?;
        let data = json!({"number": number, "params": trial.params, "source": trial.source});
        events::append(tx, sweep_id, Some(trial_id), "trial_queued", data).await?;
    }
    Ok(())
}
