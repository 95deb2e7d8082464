//! What `GET /metrics` reads from the database: trials and sweeps counted
//! by state, and the event log's tail after a cursor. A trait of its own
//! (`Tallies`), so that a second engine implements it beside the others.
use super::{Store, StoreError};
use crate::metrics::EventTick;
use crate::state::{SweepState, TrialState};
use sqlx::Row;
use std::future::Future;

/// Counts of trials and sweeps in each state; every state is listed, zeros too.
#[derive(Debug, Clone, PartialEq)]
pub struct StateCounts {
    pub trials: Vec<(TrialState, i64)>,
    pub sweeps: Vec<(SweepState, i64)>,
}

/// The store as the metrics read it.
pub trait Tallies: Clone + Send + Sync + 'static {
    /// Trials and sweeps by state, over the whole database.
    fn state_counts(&self) -> impl Future<Output = Result<StateCounts, StoreError>> + Send;

    /// The events with ids above `after`, oldest first, at most `limit`;
    /// an epoch report's carries its seconds.
    fn event_ticks(
        &self,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<EventTick>, StoreError>> + Send;
}

impl Tallies for Store {
    fn state_counts(&self) -> impl Future<Output = Result<StateCounts, StoreError>> + Send {
        Store::state_counts(self)
    }

    fn event_ticks(
        &self,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<EventTick>, StoreError>> + Send {
        Store::event_ticks(self, after, limit)
    }
}

impl Store {
    async fn state_counts(&self) -> Result<StateCounts, StoreError> {
        let trials = grouped(
            self,
            "SELECT state, COUNT(*) AS n FROM trials GROUP BY state",
        )
        .await?;
        let sweeps = grouped(
            self,
            "SELECT state, COUNT(*) AS n FROM sweeps GROUP BY state",
        )
        .await?;
        let of = |counts: &[(String, i64)], state: &str| {
            counts
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n)
        };
        Ok(StateCounts {
            trials: TrialState::ALL
                .into_iter()
                .map(|s| (s, of(&trials, s.as_str())))
                .collect(),
            sweeps: SweepState::ALL
                .into_iter()
                .map(|s| (s, of(&sweeps, s.as_str())))
                .collect(),
        })
    }

    async fn event_ticks(&self, after: i64, limit: i64) -> Result<Vec<EventTick>, StoreError> {
        let seconds = self.engine.json_number("data", &["report", "seconds"]);
        let rows = super::query(&format!(
            "SELECT id, CASE WHEN kind = 'epoch_report' THEN {seconds} END AS seconds
             FROM events WHERE id > ? ORDER BY id LIMIT ?"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let c = super::Columns::of(row, "event", "id")?;
                Ok(EventTick {
                    id: c.id,
                    epoch_seconds: c.get("seconds")?,
                })
            })
            .collect()
    }
}

/// `(state, n)` rows of a `GROUP BY state` count.
async fn grouped(store: &Store, sql: &'static str) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = super::query(sql).fetch_all(&store.pool).await?;
    rows.iter()
        .map(|row| Ok((row.try_get("state")?, row.try_get("n")?)))
        .collect()
}
