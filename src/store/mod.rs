//! The SQLite store: the single source of truth and the queue of trials.
//! All SQL lives here, one file per aggregate; the rest of the crate sees
//! domain types only.
mod bell;
mod blobs;
mod codec;
mod events;
mod exhaust;
mod extend;
mod history;
mod hot;
mod hot_pg;
mod interface;
mod leader;
mod lease;
mod lifecycle;
mod listing;
mod lock;
mod metrics;
mod pause;
mod planned;
mod queue;
mod recovery;
mod remove;
mod rewind;
pub mod scratch;
mod sessions;
mod sql;
mod sqlite;
mod sweeps;
mod trials;
mod workers;
mod writer;

pub use bell::{Bell, Ear};
pub use blobs::StoredBlob;
pub use events::Event;
pub use extend::{Budget, Enqueued, Extended, Extension};
pub use interface::{Backend, Events, Lifecycle, Queue, Recovery, Sessions, Sweeps, Workers};
pub use lifecycle::Cancel;
pub use listing::{Listing, PageStart, TrialListing, TrialSort};
pub use lock::{LockError, ServerLock};
pub use metrics::{StateCounts, Tallies};
pub use planned::NewTrial;
pub use queue::{Claim, Finish, Like, Reported, Verdict, WriteError};
pub use remove::Deleted;
pub use sql::Engine;
pub use sweeps::{NewSweep, Sweep, TrialCounts};
pub use trials::Finished;
pub use trials::{BatchLoss, EpochReport, StoredReport, Trial, TrialDetail};
pub use workers::WorkerRow;

use crate::metric::MetricName;
pub(crate) use sql::{lock_sweep, query, query_as, query_scalar};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AnyPool, ConnectOptions, Connection};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(sqlx::Error),
    /// The database cannot be written now (its disk is full, or an I/O
    /// error); nothing of the write was kept, and it may be tried again.
    #[error("the database cannot be written now: {why}")]
    Unavailable {
        why: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The writer thread's connection failed (`writer.rs`).
    #[error("database: {0}")]
    Engine(String),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored {what} is not valid JSON: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
    /// A stored row cannot be decoded: which (`event 17`, `sweep 3`) and why.
    #[error("{what} {id} cannot be read: {why}")]
    BadRow {
        what: &'static str,
        id: i64,
        why: String,
    },
    /// A value given to the store names nothing it knows, e.g. a metric.
    #[error("`{value}` is not a {what}")]
    Invalid { what: &'static str, value: String },
}

impl From<sqlx::Error> for StoreError {
    /// Sorts out the errors that say the disk, not the request, is at fault.
    fn from(e: sqlx::Error) -> StoreError {
        const SQLITE_IOERR: i64 = 10;
        const SQLITE_FULL: i64 = 13;
        let code = match &e {
            sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i64>().ok()),
            _ => None,
        };
        let out_of_space =
            matches!(&e, sqlx::Error::Io(io) if io.raw_os_error() == Some(libc::ENOSPC));
        // Extended result codes keep the primary one in their low byte.
        let why = match code.map(|c| c & 0xff) {
            Some(SQLITE_FULL) => "its disk is full",
            _ if out_of_space => "its disk is full",
            Some(SQLITE_IOERR) => "an I/O error",
            _ => return StoreError::Sql(e),
        };
        StoreError::Unavailable {
            why,
            source: Box::new(e),
        }
    }
}

/// SQL for "now" as ISO-8601 UTC text with milliseconds.
pub(crate) const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// A handle to the database, cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    engine: Engine,
    /// For reads.
    pool: AnyPool,
    /// For writes: on SQLite one connection, taken in turn; on PostgreSQL
    /// the same pool as reads, whose writers lock the rows they change.
    writer: AnyPool,
    /// For the worker protocol's frequent writes on SQLite: a thread of its
    /// own. PostgreSQL runs them through `writer` (`hot_pg.rs`).
    hot: Option<Arc<writer::Writer>>,
    /// Sweeps and trials that claims skip because a stored row of theirs
    /// cannot be read (`sweep 3`, `trial 7 of sweep 3`), each logged once
    /// by this process.
    skipped: Arc<Mutex<HashSet<String>>>,
    /// On PostgreSQL, the connection holding the periodic work's advisory
    /// lock while this process holds it (`leader.rs`).
    leader: Arc<tokio::sync::Mutex<Option<sqlx::AnyConnection>>>,
    /// On PostgreSQL, what wakes event streams (`bell.rs`).
    bell: Option<Bell>,
}

impl Store {
    /// Opens the database at `url`: a SQLite file (created if missing), or
    /// a PostgreSQL database (`postgres://...`). `migrate` applies the
    /// schema, which only the server does, before any worker starts;
    /// PostgreSQL replicas that start together migrate once (sqlx holds an
    /// advisory lock while it migrates).
    pub async fn open(url: &str, migrate: bool) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        match Engine::of_url(url) {
            Engine::Sqlite => Store::open_sqlite(url, migrate).await,
            Engine::Postgres => Store::open_postgres(url, migrate).await,
        }
    }

    async fn open_sqlite(url: &str, migrate: bool) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        if migrate {
            let mut conn = options.connect().await?;
            sqlx::migrate!("./migrations/sqlite")
                .run_direct(&mut conn)
                .await?;
            conn.close().await?;
        } else {
            // Creates the file (and its WAL mode) for a store that does not migrate.
            options.connect().await?.close().await?;
        }
        // Readers share a pool; writers take turns on one connection of
        // their own, in order. SQLite has one writer at a time anyway, and
        // writers queued here never meet its busy handler, which sleeps up
        // to 100 ms between tries: under many workers those sleeps, not
        // the writes, were the latency. sqlx's `Any` driver takes a URL:
        // the options above are set on each connection as it opens.
        let any = sqlite_any_url(&options);
        let pool = pool_of(8, &any, Engine::Sqlite).await?;
        let writer = pool_of(1, &any, Engine::Sqlite).await?;
        let hot = Arc::new(writer::Writer::start(options.get_filename())?);
        Ok(Store {
            engine: Engine::Sqlite,
            pool,
            writer,
            hot: Some(hot),
            skipped: Arc::default(),
            leader: Arc::default(),
            bell: None,
        })
    }

    async fn open_postgres(url: &str, migrate: bool) -> Result<Store, StoreError> {
        if migrate {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            sqlx::migrate!("./migrations/postgres")
                .run_direct(&mut conn)
                .await?;
            conn.close().await?;
        }
        // Writers have a pool of their own, as on SQLite: under many
        // workers a dashboard's reads then never queue behind the writes
        // for a connection (one shared pool of 16: a reader's median 4.6 s
        // at 1,000 workers).
        let pool = pool_of(16, url, Engine::Postgres).await?;
        let writer = pool_of(16, url, Engine::Postgres).await?;
        Ok(Store {
            engine: Engine::Postgres,
            writer,
            pool,
            hot: None,
            skipped: Arc::default(),
            leader: Arc::default(),
            bell: Some(Bell::new(url)),
        })
    }

    /// What wakes event streams on PostgreSQL; None on SQLite, where they poll.
    pub fn bell(&self) -> Option<&Bell> {
        self.bell.as_ref()
    }

    /// The engine behind this store.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// A write transaction (see `Engine::begin`).
    pub(crate) async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(self.writer.begin_with(self.engine.begin()).await?)
    }

    /// A write transaction holding the sweep's row lock (`lock_sweep`):
    /// the one way to start a write to a sweep's trials or events.
    pub(crate) async fn write_sweep(
        &self,
        sweep_id: i64,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let mut tx = self.write().await?;
        lock_sweep(&mut tx, sweep_id).await?;
        Ok(tx)
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
        if let Some(hot) = &self.hot {
            hot.close();
        }
    }
}

/// The URL of a SQLite database for sqlx's `Any` driver, which parses the
/// file name and mode from it and nothing else.
fn sqlite_any_url(options: &SqliteConnectOptions) -> String {
    format!("sqlite://{}?mode=rwc", options.get_filename().display())
}

/// A pool of at most `connections` connections to the database at `url`.
async fn pool_of(connections: u32, url: &str, engine: Engine) -> Result<AnyPool, StoreError> {
    Ok(AnyPoolOptions::new()
        .max_connections(connections)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if engine == Engine::Sqlite {
                    // What `open_sqlite`'s options say, on each connection.
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = NORMAL",
                        "PRAGMA busy_timeout = 30000",
                        "PRAGMA foreign_keys = ON",
                    ] {
                        query(pragma).execute(&mut *conn).await?;
                    }
                }
                Ok(())
            })
        })
        .after_release(move |conn, _| {
            Box::pin(async move {
                // A transaction dropped without COMMIT queues its ROLLBACK
                // on the connection: the ping runs after it. If sqlx still
                // counts the connection in a transaction then, its COMMIT
                // and that ROLLBACK both failed (on a full disk SQLite may
                // roll back by itself, and ROLLBACK then finds nothing to
                // undo), and every BEGIN on it would fail ("non-zero
                // transaction depth"): close it; the pool opens a fresh
                // one when needed. PostgreSQL's connection sends a queued
                // ROLLBACK with its next statement and counts the
                // transaction ended at once: no ping (a round trip a release).
                if engine == Engine::Sqlite {
                    conn.ping().await?;
                }
                if conn.is_in_transaction() {
                    tracing::debug!(
                        "closing a database connection left inside a failed transaction"
                    );
                    return Ok(false);
                }
                Ok(true)
            })
        })
        .connect(url)
        .await?)
}

/// The trials (and epoch_reports) column holding a metric's value: named
/// as the metric is, from a fixed set, so it is safe to splice into SQL.
pub(crate) fn metric_column(metric: MetricName) -> &'static str {
    metric.as_str()
}

/// SQL selecting `columns` (a compile-time list) of the sweep's best trial
/// (bind the sweep id): the best final value of the metric among completed
/// and pruned trials, ties to the earlier trial. The one definition of "best".
pub(crate) fn best_trial_sql(
    columns: &'static str,
    metric: MetricName,
    goal: crate::spec::Goal,
) -> String {
    let column = metric_column(metric);
    let order = match goal {
        crate::spec::Goal::Minimize => "ASC",
        crate::spec::Goal::Maximize => "DESC",
    };
    let scored = codec::SQL_SCORED_STATES;
    format!(
        "SELECT {columns}, {column} AS metric_value FROM trials
         WHERE sweep_id = ? AND state IN {scored} AND {column} IS NOT NULL
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

/// The columns of one row, read so that a bad one is a `BadRow` error
/// naming the row (`what` `id`) and the column.
pub(crate) struct Columns<'r> {
    pub row: &'r AnyRow,
    pub what: &'static str,
    pub id: i64,
}

impl<'r> Columns<'r> {
    /// The columns of `row`, a `what` whose id is in column `id_column`;
    /// an id that cannot be read is a `BadRow` naming the column, with id -1.
    pub fn of(
        row: &'r AnyRow,
        what: &'static str,
        id_column: &str,
    ) -> Result<Columns<'r>, StoreError> {
        let mut c = Columns { row, what, id: -1 };
        c.id = c.get(id_column)?;
        Ok(c)
    }

    /// A JSON column, None when NULL; a `BadRow` error when it is not JSON.
    pub fn json<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        let text: Option<&str> = self.get(name)?;
        text.map(|t| serde_json::from_str(t).map_err(|e| self.bad(name, &format!("not JSON: {e}"))))
            .transpose()
    }

    /// Column `name`, decoded.
    pub fn get<T>(&self, name: &str) -> Result<T, StoreError>
    where
        T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        use sqlx::Row;
        self.row.try_get(name).map_err(|e| self.bad(name, &e))
    }

    /// The error for column `name` of this row.
    pub fn bad(&self, name: &str, why: &dyn std::fmt::Display) -> StoreError {
        bad_column(self.what, self.id, name, why)
    }
}

/// The error for column `name` of the `what` whose id is `id`.
pub(crate) fn bad_column(
    what: &'static str,
    id: i64,
    name: &str,
    why: &dyn std::fmt::Display,
) -> StoreError {
    StoreError::BadRow {
        what,
        id,
        why: format!("column `{name}`: {why}"),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
impl StoreError {
    /// The error of a write the disk could not take, for tests of retries.
    pub(crate) fn unavailable_for_tests() -> StoreError {
        StoreError::Unavailable {
            why: "its disk is full",
            source: "no room".into(),
        }
    }
}
