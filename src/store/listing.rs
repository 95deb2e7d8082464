//! A sweep's trials as a user asks for them: only some states, sorted by a
//! column, page by page.
use super::trials::Trial;
use super::{Store, StoreError};
use crate::names::text_enum;
use crate::state::TrialState;
use std::future::Future;

/// The column a trial listing is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialSort {
    Number,
    ValAccuracy,
    ValLoss,
    TrainLoss,
    EpochsDone,
    StartedAt,
    FinishedAt,
}

impl TrialSort {
    /// Every sort key.
    pub const ALL: [TrialSort; 7] = [
        TrialSort::Number,
        TrialSort::ValAccuracy,
        TrialSort::ValLoss,
        TrialSort::TrainLoss,
        TrialSort::EpochsDone,
        TrialSort::StartedAt,
        TrialSort::FinishedAt,
    ];

    /// The key as a query string spells it; also its column's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TrialSort::Number => "number",
            TrialSort::ValAccuracy => "val_accuracy",
            TrialSort::ValLoss => "val_loss",
            TrialSort::TrainLoss => "train_loss",
            TrialSort::EpochsDone => "epochs_done",
            TrialSort::StartedAt => "started_at",
            TrialSort::FinishedAt => "finished_at",
        }
    }
}

text_enum!(TrialSort, "sort key");

/// Which of a sweep's trials, in which order, from where.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialListing {
    /// Only trials in these states; every state when empty.
    pub states: Vec<TrialState>,
    pub sort: TrialSort,
    pub descending: bool,
    pub from: PageStart,
    pub limit: i64,
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStart {
    /// After the trial numbered so (before it, descending): sorting by
    /// number, a page's `next`. Pages stay right while trials are added.
    Number(i64),
    /// After this many trials: sorting by anything else, whose order
    /// changes as trials report.
    Offset(i64),
}

/// A sweep's trials as listed.
pub trait Listing: Clone + Send + Sync + 'static {
    /// One page of the sweep's trials as `listing` asks.
    fn list_trials(
        &self,
        sweep_id: i64,
        listing: &TrialListing,
    ) -> impl Future<Output = Result<Vec<Trial>, StoreError>> + Send;
}

impl Listing for Store {
    fn list_trials(
        &self,
        sweep_id: i64,
        listing: &TrialListing,
    ) -> impl Future<Output = Result<Vec<Trial>, StoreError>> + Send {
        Store::list_trials(self, sweep_id, listing)
    }
}

impl Store {
    async fn list_trials(
        &self,
        sweep_id: i64,
        listing: &TrialListing,
    ) -> Result<Vec<Trial>, StoreError> {
        let states: Vec<&str> = listing.states.iter().map(|s| s.as_str()).collect();
        let states = serde_json::to_string(&states).expect("a list of names is JSON");
        let direction = if listing.descending { "DESC" } else { "ASC" };
        let (number, offset) = match listing.from {
            PageStart::Number(n) => (Some(n), 0),
            PageStart::Offset(n) => (None, n),
        };
        // Only constants are spliced: the column is the sort key's own name
        // and the direction one of two words. Ties (and NULLs, last) go by number.
        let past = if listing.descending { "<" } else { ">" };
        let sql = format!(
            "SELECT * FROM trials WHERE sweep_id = ?1
               AND (?2 = '[]' OR state IN ({states}))
               AND (?3 IS NULL OR number {past} ?3)
             ORDER BY {column} {direction} NULLS LAST, number {direction}
             LIMIT ?4 OFFSET ?5",
            column = listing.sort.as_str(),
            states = self.engine.json_array_values("?2"),
        );
        let rows = super::query(&sql)
            .bind(sweep_id)
            .bind(states)
            .bind(number)
            .bind(listing.limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Trial::from_row).collect()
    }
}
