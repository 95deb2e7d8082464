//! The SQLite store: the single source of truth and the queue of trials.
//! All SQL lives here, one file per aggregate; the rest of the crate sees
//! domain types only.
mod events;
mod lifecycle;
mod queue;
mod recovery;
mod sessions;
mod sweeps;
mod trials;

pub use events::Event;
pub use lifecycle::Cancel;
pub use queue::{Claim, Finish, LeaseLost, Verdict};
pub use sweeps::{NewSweep, Sweep, TrialCounts};
pub use trials::Finished;
pub use trials::{BatchLoss, EpochReport, Trial, TrialDetail};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored {what} is not valid JSON: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
}

/// SQL for "now" as ISO-8601 UTC text with milliseconds.
pub(crate) const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// A handle to the database, cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if missing) the database at `url`; `migrate` applies the
    /// schema, which only the server does, before any worker starts.
    pub async fn open(url: &str, migrate: bool) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        if migrate {
            sqlx::migrate!("./migrations").run(&pool).await?;
        }
        Ok(Store { pool })
    }

    /// A write transaction that takes the write lock at once: with `BEGIN
    /// IMMEDIATE` two writers wait on the busy timeout instead of deadlocking
    /// on a read lock each wants to upgrade.
    pub(crate) async fn write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The trials column holding a metric's latest value. Metric names were
/// checked against `spec::METRICS` when the spec was parsed; these are the
/// only column names any of them maps to, so the result is safe in SQL.
pub(crate) fn metric_column(metric: &str) -> &'static str {
    match metric {
        "val_loss" => "val_loss",
        "train_loss" => "train_loss",
        _ => "val_accuracy",
    }
}

/// SQL selecting `columns` of the sweep's best trial (bind the sweep id):
/// the best final value of the metric among completed and pruned trials,
/// ties to the earlier trial. The one definition of "best".
pub(crate) fn best_trial_sql(columns: &str, metric: &str, minimize: bool) -> String {
    let column = metric_column(metric);
    let order = if minimize { "ASC" } else { "DESC" };
    format!(
        "SELECT {columns} FROM trials
         WHERE sweep_id = ? AND state IN ('completed', 'pruned') AND {column} IS NOT NULL
         ORDER BY {column} {order}, number ASC LIMIT 1"
    )
}

/// Milliseconds since the Unix epoch, for lease expiries.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn json<T: serde::de::DeserializeOwned>(what: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Json { what, source })
}
