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
///
/// In multi-row statements: one round trip per trial made creating a sweep
/// of 100,000 trials on PostgreSQL take three minutes. Batches are powers of
/// two up to `BATCH` (300 trials go as 9 x 32, then 8 and 4), so that
/// the set of statement texts, each translated and prepared once, stays small.
pub(super) async fn queue_trials(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sweep_id: i64,
    first: i64,
    trials: &[NewTrial],
) -> Result<(), StoreError> {
    const BATCH: usize = 32;
    let mut number = first;
    let mut rest = trials;
    while !rest.is_empty() {
        let n = if rest.len() >= BATCH {
            BATCH
        } else {
            1 << rest.len().ilog2()
        };
        let (batch, after) = rest.split_at(n);
        queue_batch(tx, sweep_id, number, batch).await?;
        number += n as i64;
        rest = after;
    }
    Ok(())
}

async fn queue_batch(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sweep_id: i64,
    first: i64,
    trials: &[NewTrial],
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO trials (sweep_id, number, params, seed, state, source, queued_at) VALUES {}
         RETURNING id, number",
        vec![format!("(?, ?, ?, ?, ?, ?, {NOW})"); trials.len()].join(", ")
    );
    let mut insert = super::query_as::<(i64, i64)>(&sql);
    for (number, trial) in (first..).zip(trials) {
        insert = insert
            .bind(sweep_id)
            .bind(number)
            .bind(trial.params.as_ref().map(Value::to_string))
            .bind(trial.seed as i64)
            .bind(TrialState::Queued)
            .bind(trial.source);
    }
    // RETURNING promises no order: the ids are matched by number.
    let mut ids = insert.fetch_all(&mut **tx).await?;
    ids.sort_by_key(|&(_, number)| number);
    if ids.len() != trials.len() || ids.iter().zip(first..).any(|(&(_, n), want)| n != want) {
        return Err(StoreError::Engine(format!(
            "queueing trials {first}..{}: the database returned other rows",
            first + trials.len() as i64
        )));
    }
    let mut events = super::query(&events::insert_rows_sql(trials.len()));
    for (&(trial_id, number), trial) in ids.iter().zip(trials) {
        let data = json!({"number": number, "params": trial.params, "source": trial.source});
        events = events
            .bind(sweep_id)
            .bind(trial_id)
            .bind("trial_queued")
            .bind(data.to_string());
    }
    events.execute(&mut **tx).await?;
    Ok(())
}
