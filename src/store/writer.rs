//! The writer thread: the worker protocol's frequent writes (claim, renew,
//! report, progress, finish; `hot.rs`) run on one thread of their own, on
//! one connection of their own, and every write queued while one
//! transaction ran goes into the next one together (group commit), each in
//! a savepoint of its own, so that one write's failure undoes only itself.
//!
//! Why not sqlx here, as everywhere else: sqlx runs each SQLite connection
//! on a thread of its own and hands it every statement and every answer
//! over a channel, two thread wake-ups a statement. Measured here (2 cores,
//! WAL, synchronous = NORMAL), a transaction of four statements took
//! 615 µs through sqlx and 24 µs on the connection's own thread; grouped 50
//! to a transaction, 308 µs and 3.8 µs a write. At 1,000 workers the
//! server's one sqlx writer was busy all the time and writes queued for up
//! to 0.8 s (BENCHMARKS.md, "Workers anywhere"). Here a write costs one
//! hand-off in and one out, whatever its statements, and the thread is
//! never idle while writes wait.
//!
//! The other writes (sweeps, cancels, the reaper, ...) still go through
//! sqlx's writer connection; the two meet at SQLite's write lock, where
//! this thread waits in short steps (`busy`) rather than SQLite's default
//! sleeps of up to 100 ms.
use super::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;

/// Most writes in one transaction: a bound on how long the first of them
/// waits for the commit.
const MAX_BATCH: usize = 256;

/// How long a write waits for SQLite's write lock held by another
/// connection, in steps of `BUSY_STEP`.
const BUSY_WAIT: Duration = Duration::from_secs(30);
const BUSY_STEP: Duration = Duration::from_micros(500);

/// The handle to the writer thread; the thread ends, closing its
/// connection, once this is closed or dropped.
pub(crate) struct Writer {
    jobs: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    /// Opens the database file at `path` for writing and starts the thread.
    pub fn start(path: &Path) -> Result<Writer, StoreError> {
        let db = Connection::open(path).map_err(sql)?;
        db.busy_handler(Some(busy)).map_err(sql)?;
        db.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
            .map_err(sql)?;
        db.set_prepared_statement_cache_capacity(64);
        let (jobs, queued) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(db, queued))
            .map_err(|e| StoreError::Unavailable {
                why: "its writer thread cannot start",
                source: Box::new(e),
            })?;
        Ok(Writer {
            jobs: Mutex::new(Some(jobs)),
        })
    }

    /// Runs `write` in a transaction on the writer thread and answers once
    /// it is committed. An `Err` from `write` undoes what it wrote (and only
    /// that) and is its answer; a failed commit is every write's answer.
    pub async fn write<T, E, W>(&self, write: W) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        W: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job = Box::new(Pending { write, answer });
        let sent = match &*self.jobs.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(closed().into());
        }
        answered.await.unwrap_or_else(|_| Err(closed().into()))
    }

    /// Ends the thread once the writes queued so far are done.
    pub fn close(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable {
        why: "the store is closed",
        source: "the writer thread has ended".into(),
    }
}

/// SQLite's busy handler for this connection: wait in short steps.
fn busy(tries: i32) -> bool {
    let waited = BUSY_STEP * u32::try_from(tries).unwrap_or(u32::MAX);
    if waited >= BUSY_WAIT {
        return false;
    }
    std::thread::sleep(BUSY_STEP);
    true
}

/// A write as the thread runs it.
trait Job: Send {
    /// Runs the write inside a savepoint; what to answer once committed.
    fn run(self: Box<Self>, db: &Connection) -> Box<dyn Done>;
    /// The write cannot run: answers `why`.
    fn refuse(self: Box<Self>, why: StoreError);
}

/// A write that ran, waiting for its transaction's commit.
trait Done: Send {
    /// Answers: the write's own result if committed, else `why`.
    fn answer(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Pending<W, T, E> {
    write: W,
    answer: oneshot::Sender<Result<T, E>>,
}

struct Ran<T, E> {
    result: Result<T, E>,
    answer: oneshot::Sender<Result<T, E>>,
}

impl<W, T, E> Job for Pending<W, T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    W: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
{
    fn run(self: Box<Self>, db: &Connection) -> Box<dyn Done> {
        let result = match db.execute_batch("SAVEPOINT write") {
            Err(e) => Err(sql(e).into()),
            Ok(()) => {
                let result = (self.write)(db);
                let ended = match &result {
                    Ok(_) => db.execute_batch("RELEASE write"),
                    Err(_) => db.execute_batch("ROLLBACK TO write; RELEASE write"),
                };
                match ended {
                    Ok(()) => result,
                    // The transaction is gone (SQLite may roll back by
                    // itself on a full disk): the thread sees that too.
                    Err(e) => Err(sql(e).into()),
                }
            }
        };
        Box::new(Ran {
            result,
            answer: self.answer,
        })
    }

    fn refuse(self: Box<Self>, why: StoreError) {
        let _ = self.answer.send(Err(why.into()));
    }
}

impl<T, E> Done for Ran<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn answer(self: Box<Self>, committed: Result<(), StoreError>) {
        let result = match committed {
            Ok(()) => self.result,
            // Nothing of the write was kept; a write that failed by itself
            // says so, the others say why the commit failed.
            Err(why) => match self.result {
                Ok(_) => Err(why.into()),
                failed => failed,
            },
        };
        let _ = self.answer.send(result);
    }
}

/// The thread: takes what is queued, runs it in one transaction, commits,
/// answers; until the handle is gone.
fn run(db: Connection, queued: mpsc::Receiver<Box<dyn Job>>) {
    let mut waiting: Vec<Box<dyn Job>> = Vec::new();
    loop {
        if waiting.is_empty() {
            match queued.recv() {
                Ok(job) => waiting.push(job),
                Err(_) => return,
            }
        }
        while waiting.len() < MAX_BATCH {
            match queued.try_recv() {
                Ok(job) => waiting.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = db.execute_batch("BEGIN IMMEDIATE") {
            let why = sql(e);
            for job in waiting.drain(..) {
                job.refuse(again(&why));
            }
            continue;
        }
        let mut ran: Vec<Box<dyn Done>> = Vec::with_capacity(waiting.len());
        let mut jobs = std::mem::take(&mut waiting).into_iter();
        for job in jobs.by_ref() {
            ran.push(job.run(&db));
            if db.is_autocommit() {
                // The transaction was rolled back under the writes that ran:
                // none of them is kept; the rest go into the next one.
                break;
            }
        }
        waiting.extend(jobs);
        let committed = match db.is_autocommit() {
            true => Err(StoreError::Unavailable {
                why: "an I/O error",
                source: "SQLite rolled the transaction back".into(),
            }),
            false => db.execute_batch("COMMIT").map_err(|e| {
                let _ = db.execute_batch("ROLLBACK");
                sql(e)
            }),
        };
        for done in ran {
            let committed = match &committed {
                Ok(()) => Ok(()),
                Err(why) => Err(again(why)),
            };
            done.answer(committed);
        }
    }
}

/// A copy of `why` for one more write (store errors are not `Clone`).
fn again(why: &StoreError) -> StoreError {
    match why {
        StoreError::Unavailable { why, source } => StoreError::Unavailable {
            why,
            source: source.to_string().into(),
        },
        other => StoreError::Engine(other.to_string()),
    }
}

/// A rusqlite error as the store's: a full disk or an I/O error is
/// `Unavailable` (retry later), as for sqlx's.
pub(super) fn sql(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    let why = match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => "its disk is full",
        Some(ErrorCode::SystemIoFailure) => "an I/O error",
        _ => return StoreError::Engine(e.to_string()),
    };
    StoreError::Unavailable {
        why,
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let db = Connection::open(&path).unwrap();
        db.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER UNIQUE);")
            .unwrap();
        (dir, Writer::start(&path).unwrap())
    }

    fn count(dir: &tempfile::TempDir) -> i64 {
        let db = Connection::open(dir.path().join("w.db")).unwrap();
        db.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_at_once_are_each_kept_or_undone_by_themselves() {
        let (dir, writer) = writer();
        let writer = std::sync::Arc::new(writer);
        // 200 writes at once, every tenth failing after it wrote (a
        // duplicate): the failures keep nothing, the others all.
        let writes: Vec<_> = (0..200)
            .map(|i| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .write(move |db| -> Result<(), StoreError> {
                            db.execute("INSERT INTO t (v) VALUES (?1)", [1000 + i])
                                .map_err(sql)?;
                            let v = if i % 10 == 0 { 0 } else { i + 1 };
                            db.execute("INSERT INTO t (v) VALUES (?1)", [v])
                                .map_err(sql)?;
                            if i % 10 == 0 {
                                db.execute("INSERT INTO t (v) VALUES (0)", [])
                                    .map_err(sql)?;
                            }
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        let mut failed = 0;
        for w in writes {
            if w.await.unwrap().is_err() {
                failed += 1;
            }
        }
        // i = 0 inserts 0 then fails on a second 0; so do the others of
        // i % 10 == 0 (0 is then taken): 20 failures, 180 writes of 2 rows.
        assert_eq!(failed, 20);
        assert_eq!(count(&dir), 180 * 2);
    }

    #[tokio::test]
    async fn a_closed_writer_refuses_writes() {
        let (_dir, writer) = writer();
        writer.close();
        let e = writer
            .write(|_| -> Result<(), StoreError> { Ok(()) })
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Unavailable { .. }), "{e}");
    }
}
