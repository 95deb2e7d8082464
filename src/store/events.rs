//! The append-only event log: every state change and report, with an
//! increasing id, so that a live stream is a tail of this table.
use super::{Store, StoreError, NOW};
use serde::Serialize;
use serde_json::Value;
use sqlx::{Sqlite, Transaction};

/// One row of the event log.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub sweep_id: i64,
    pub trial_id: Option<i64>,
    pub kind: String,
    #[sqlx(json)]
    pub data: Value,
    pub created_at: String,
}

/// Appends an event inside the transaction that made the change it tells of.
pub(crate) async fn append(
    tx: &mut Transaction<'_, Sqlite>,
    sweep_id: i64,
    trial_id: Option<i64>,
    kind: &str,
    data: Value,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO events (sweep_id, trial_id, kind, data, created_at) VALUES (?, ?, ?, ?, {NOW})"
    ))
    .bind(sweep_id)
    .bind(trial_id)
    .bind(kind)
    .bind(data.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// The sweep's events with ids above `after`, oldest first, at most `limit`.
    pub async fn events(
        &self,
        sweep_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Event>, StoreError> {
        Ok(sqlx::query_as::<_, Event>(
            "SELECT id, sweep_id, trial_id, kind, data, created_at FROM events
             WHERE sweep_id = ? AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(sweep_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
