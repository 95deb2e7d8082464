//! The append-only event log: every state change and report, with an
//! increasing id, so that a live stream is a tail of this table.
use super::{Columns, Store, StoreError, NOW};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// One row of the event log.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub sweep_id: i64,
    pub trial_id: Option<i64>,
    pub kind: String,
    pub data: Value,
    pub created_at: String,
}

impl Event {
    /// Decodes a row; a bad one is a `BadRow` error naming the event and column.
    fn from_row(row: &AnyRow) -> Result<Event, StoreError> {
        let c = Columns::of(row, "event", "id")?;
        let data: String = c.get("data")?;
        Ok(Event {
            id: c.id,
            sweep_id: c.get("sweep_id")?,
            trial_id: c.get("trial_id")?,
            kind: c.get("kind")?,
            data: serde_json::from_str(&data)
                .map_err(|e| c.bad("data", &format!("not JSON: {e}")))?,
            created_at: c.get("created_at")?,
        })
    }
}

/// Appends an event (bind: sweep id, trial id, kind, data as JSON text);
/// shared with the writer thread's `append` (`hot.rs`).
pub(super) fn insert_sql() -> String {
    insert_rows_sql(1)
}

/// Appends `rows` events in one statement (bind each row's four as above).
pub(super) fn insert_rows_sql(rows: usize) -> String {
    let row = format!("(?, ?, ?, ?, {NOW})");
    format!(
        "INSERT INTO events (sweep_id, trial_id, kind, data, created_at) VALUES {}",
        vec![row; rows].join(", ")
    )
}

/// Appends an event inside the transaction that made the change it tells of.
pub(crate) async fn append(
    tx: &mut Transaction<'_, Any>,
    sweep_id: i64,
    trial_id: Option<i64>,
    kind: &str,
    data: Value,
) -> Result<(), StoreError> {
    super::query(&insert_sql())
        .bind(sweep_id)
        .bind(trial_id)
        .bind(kind)
        .bind(data.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// The sweep's events with ids above `after`, oldest first, at most
    /// `limit`. A row that cannot be decoded ends the page before it; read
    /// first, it is a `BadRow` error naming it.
    pub(super) async fn events(
        &self,
        sweep_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = super::query(
            "SELECT id, sweep_id, trial_id, kind, data, created_at FROM events
             WHERE sweep_id = ? AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(sweep_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            match Event::from_row(row) {
                Ok(event) => events.push(event),
                Err(e) if events.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(events)
    }
}
