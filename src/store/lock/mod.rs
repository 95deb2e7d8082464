//! One server per database. The live server holds the `server_lock` row and
//! renews it every period; another server refuses to start while the hold is
//! good, since it would take the first one's running trials back as orphans.
//! A hold is taken over only from a server that is gone: its process has
//! ended, which a server on the same machine sees at once (a crashed server
//! restarted within a second must not wait), or it went three periods
//! without renewing (a server on another machine, or in another pid
//! namespace, whose process cannot be looked up here).
mod holder;

use super::{now_ms, Store, StoreError, NOW};
use holder::{process_started, standing, Holder, Identity, Standing};
use sqlx::Row;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

/// A hold lapses after this many periods without renewal.
const LAPSE_PERIODS: i64 = 3;

/// Why this server may not hold the database.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "refusing to start: the database {database} is held by another hypersweep server, {holder}. \
         Stop that server first (a killed server's hold is taken over at once on the same machine, \
         else {lapse} s after its last renewal)"
    )]
    Held {
        database: String,
        holder: String,
        lapse: u64,
    },
    #[error(
        "another server took over the database {database}: this one had not renewed its hold \
         for {lapse} s"
    )]
    Lost { database: String, lapse: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What trying to take the lock found.
enum Attempt {
    /// Taken; from this previous holder, if any.
    Taken(Option<(Holder, Standing)>),
    Held(Holder, Standing),
}

impl Store {
    /// Takes the lock in one write transaction if it is free or its holder
    /// is gone or lapsed.
    async fn take_lock(&self, me: &Identity, hold_ms: i64) -> Result<Attempt, StoreError> {
        let mut tx = self.write().await?;
        let row = super::query(
            "SELECT owner, host, pid, machine, started, since, renewed_ms, expires_ms
             FROM server_lock WHERE id = 1",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let now = now_ms();
        let previous = match row {
            None => None,
            Some(row) => {
                let holder = Holder {
                    identity: Identity {
                        owner: row.try_get("owner")?,
                        host: row.try_get("host")?,
                        pid: row.try_get("pid")?,
                        machine: row.try_get("machine")?,
                        started: row.try_get("started")?,
                    },
                    since: row.try_get("since")?,
                    renewed_ms: row.try_get("renewed_ms")?,
                    expires_ms: row.try_get("expires_ms")?,
                };
                let standing = standing(&holder, me, now, process_started);
                if matches!(standing, Standing::Alive | Standing::Unknown) {
                    return Ok(Attempt::Held(holder, standing));
                }
                Some((holder, standing))
            }
        };
        crate::store::query(&format!(
            "INSERT OR REPLACE INTO server_lock
                (id, owner, host, pid, machine, started, since, renewed_ms, expires_ms)
             VALUES (1, ?, ?, ?, ?, ?, {NOW}, ?, ?)"
        ))
        .bind(&me.owner)
        .bind(&me.host)
        .bind(me.pid)
        .bind(&me.machine)
        .bind(&me.started)
        .bind(now)
        .bind(now + hold_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Attempt::Taken(previous))
    }

    /// Extends the hold of `owner`; false when another server has it now.
    async fn renew_lock(&self, owner: &str, hold_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        let renewed = super::query(
            "UPDATE server_lock SET renewed_ms = ?, expires_ms = ? WHERE id = 1 AND owner = ?",
        )
        .bind(now)
        .bind(now + hold_ms)
        .bind(owner)
        .execute(&self.writer)
        .await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Gives up the hold of `owner`, if it still has it.
    async fn release_lock(&self, owner: &str) -> Result<(), StoreError> {
        crate::store::query("DELETE FROM server_lock WHERE id = 1 AND owner = ?")
            .bind(owner)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}

/// This server's hold on its database, renewed in the background until
/// released (graceful shutdown) or dropped.
pub struct ServerLock {
    store: Store,
    database: String,
    owner: String,
    lapse: u64,
    /// Turns true if another server took the database over.
    lost: watch::Receiver<bool>,
    renewal: tokio::task::JoinHandle<()>,
}

impl ServerLock {
    /// Takes the database for this server, renewing the hold every
    /// `period`. A holder that runs on this machine makes it refuse at
    /// once; one it cannot look up is waited for while it does not renew,
    /// at most until its hold lapses.
    pub async fn acquire(
        store: &Store,
        database: &str,
        period: Duration,
    ) -> Result<ServerLock, LockError> {
        let me = Identity::of_this_process();
        let period_ms = period.as_millis() as i64;
        let hold_ms = LAPSE_PERIODS * period_ms;
        let lapse = (hold_ms / 1000) as u64;
        let mut waiting_on: Option<Holder> = None;
        loop {
            let (holder, standing) = match store.take_lock(&me, hold_ms).await? {
                Attempt::Taken(previous) => {
                    if let Some((holder, standing)) = previous {
                        let how = match standing {
                            Standing::Gone => "whose process has ended",
                            _ => "whose hold lapsed",
                        };
                        tracing::warn!(
                            "took the database over from the server {how}: {}",
                            holder.describe(now_ms())
                        );
                    }
                    break;
                }
                Attempt::Held(holder, standing) => (holder, standing),
            };
            let renewed = waiting_on.as_ref().is_some_and(|w| {
                w.identity.owner != holder.identity.owner || w.renewed_ms != holder.renewed_ms
            });
            if standing == Standing::Alive || renewed {
                return Err(LockError::Held {
                    database: database.to_string(),
                    holder: holder.describe(now_ms()),
                    lapse,
                });
            }
            if waiting_on.is_none() {
                tracing::warn!(
                    "the database {database} is held by a server that cannot be looked up from \
                     here, {}; waiting for its hold to lapse unless it renews it",
                    holder.describe(now_ms())
                );
            }
            let until_lapse = (holder.expires_ms - now_ms()).clamp(0, period_ms) as u64;
            tokio::time::sleep(Duration::from_millis(until_lapse + 50)).await;
            waiting_on = Some(holder);
        }
        let (lost_tx, lost) = watch::channel(false);
        let renewal = tokio::spawn(renew(
            store.clone(),
            me.owner.clone(),
            period,
            hold_ms,
            lost_tx,
        ));
        Ok(ServerLock {
            store: store.clone(),
            database: database.to_string(),
            owner: me.owner,
            lapse,
            lost,
            renewal,
        })
    }

    /// Resolves when `shutdown` does, or when another server has taken the
    /// database over: this server must stop then.
    pub fn or_lost(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let mut lost = self.lost.clone();
        async move {
            tokio::select! {
                _ = shutdown => {}
                _ = lost.wait_for(|lost| *lost) => {}
            }
        }
    }

    /// Stops renewing and gives the database up; an error if another
    /// server had taken it over meanwhile.
    pub async fn release(self) -> Result<(), LockError> {
        self.renewal.abort();
        if *self.lost.borrow() {
            return Err(LockError::Lost {
                database: self.database.clone(),
                lapse: self.lapse,
            });
        }
        self.store.release_lock(&self.owner).await?;
        Ok(())
    }
}

impl Drop for ServerLock {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// Renews the hold every `period` until it is found taken over.
async fn renew(
    store: Store,
    owner: String,
    period: Duration,
    hold_ms: i64,
    lost: watch::Sender<bool>,
) {
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    let mut failing = false;
    loop {
        every.tick().await;
        match store.renew_lock(&owner, hold_ms).await {
            Ok(true) => failing = false,
            Ok(false) => {
                tracing::error!(
                    "another server took the database over; this one stops (it had not renewed \
                     its hold for {} s)",
                    hold_ms / 1000
                );
                let _ = lost.send(true);
                return;
            }
            Err(e) if !std::mem::replace(&mut failing, true) => {
                tracing::warn!("renewing this server's hold on the database: {e}")
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(owner: &str, machine: Option<&str>, pid: i64, started: Option<&str>) -> Identity {
        Identity {
            owner: owner.into(),
            host: "h".into(),
            pid,
            machine: machine.map(str::to_string),
            started: started.map(str::to_string),
        }
    }

    fn holder(identity: Identity, expires_ms: i64) -> Holder {
        Holder {
            identity,
            since: "t".into(),
            renewed_ms: expires_ms - 15_000,
            expires_ms,
        }
    }

    #[test]
    fn a_holder_is_alive_only_while_its_process_runs_on_this_machine() {
        let me = identity("me", Some("boot/ns"), 1, Some("100"));
        let them = holder(identity("them", Some("boot/ns"), 7, Some("50")), 10_000);
        let running = |started: Option<&'static str>| {
            move |pid: i64| (pid == 7).then(|| started.map(str::to_string))
        };
        assert_eq!(
            standing(&them, &me, 0, running(Some("50"))),
            Standing::Alive
        );
        assert_eq!(standing(&them, &me, 0, |_| None), Standing::Gone);
        // Its pid is another, later process's now.
        assert_eq!(standing(&them, &me, 0, running(Some("90"))), Standing::Gone);
        // Lapsed, whatever runs.
        assert_eq!(
            standing(&them, &me, 10_000, running(Some("50"))),
            Standing::Lapsed
        );
    }

    #[test]
    fn a_holder_elsewhere_is_judged_by_its_renewals_only() {
        let me = identity("me", Some("boot/ns"), 1, Some("100"));
        let any = |_: i64| None;
        for machine in [Some("other-boot/ns"), Some("boot/other-ns"), None] {
            let them = holder(identity("them", machine, 7, Some("50")), 10_000);
            assert_eq!(standing(&them, &me, 9_999, any), Standing::Unknown);
            assert_eq!(standing(&them, &me, 10_000, any), Standing::Lapsed);
        }
        let unknown_here = identity("me", None, 1, None);
        let them = holder(identity("them", None, 7, None), 10_000);
        assert_eq!(standing(&them, &unknown_here, 0, any), Standing::Unknown);
    }

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("lock.db").display());
        let store = Store::open(&url, true).await.unwrap();
        (dir, store)
    }

    /// Writes the lock row as a server on another machine would.
    async fn hold_from_elsewhere(store: &Store, expires_in_ms: i64) {
        crate::store::query(
            "INSERT OR REPLACE INTO server_lock
                (id, owner, host, pid, machine, started, since, renewed_ms, expires_ms)
             VALUES (1, 'elsewhere', 'far', 1, 'another-boot/pid:[1]', '1', 't', ?, ?)",
        )
        .bind(now_ms())
        .bind(now_ms() + expires_in_ms)
        .execute(&store.writer)
        .await
        .unwrap();
    }

    async fn owner(store: &Store) -> Option<String> {
        crate::store::query_scalar("SELECT owner FROM server_lock")
            .fetch_optional(&store.pool)
            .await
            .unwrap()
    }

    const PERIOD: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn a_live_holder_on_this_machine_is_refused_until_it_releases() {
        let (_dir, store) = store().await;
        let first = ServerLock::acquire(&store, "db", PERIOD).await.unwrap();
        match ServerLock::acquire(&store, "db", PERIOD).await {
            Err(LockError::Held { holder, .. }) => {
                assert!(
                    holder.contains(&format!("pid {}", std::process::id())),
                    "{holder}"
                )
            }
            other => panic!("a second server got the database: {:?}", other.is_ok()),
        }
        first.release().await.unwrap();
        assert_eq!(owner(&store).await, None);
        let second = ServerLock::acquire(&store, "db", PERIOD).await.unwrap();
        assert_eq!(owner(&store).await, Some(second.owner.clone()));
    }

    #[tokio::test]
    async fn a_hold_from_elsewhere_is_taken_over_once_it_lapses() {
        let (_dir, store) = store().await;
        hold_from_elsewhere(&store, 2 * PERIOD.as_millis() as i64).await;
        let lock = ServerLock::acquire(&store, "db", PERIOD).await.unwrap();
        assert_eq!(owner(&store).await, Some(lock.owner.clone()));
    }

    #[tokio::test]
    async fn a_hold_from_elsewhere_that_is_renewed_is_refused() {
        let (_dir, store) = store().await;
        hold_from_elsewhere(&store, 60_000).await;
        let renewing = store.clone();
        let renewal = tokio::spawn(async move {
            loop {
                tokio::time::sleep(PERIOD / 2).await;
                renewing.renew_lock("elsewhere", 60_000).await.unwrap();
            }
        });
        let refused = ServerLock::acquire(&store, "db", PERIOD).await;
        renewal.abort();
        assert!(matches!(refused, Err(LockError::Held { .. })));
        assert_eq!(owner(&store).await.as_deref(), Some("elsewhere"));
    }

    #[tokio::test]
    async fn a_server_whose_hold_was_taken_over_stops() {
        let (_dir, store) = store().await;
        let lock = ServerLock::acquire(&store, "db", PERIOD).await.unwrap();
        hold_from_elsewhere(&store, 60_000).await;
        lock.or_lost(std::future::pending()).await;
        assert!(matches!(lock.release().await, Err(LockError::Lost { .. })));
        assert_eq!(owner(&store).await.as_deref(), Some("elsewhere"));
    }

    #[test]
    fn this_process_can_be_looked_up() {
        let me = Identity::of_this_process();
        assert!(process_started(me.pid).is_some());
        let them = holder(me.clone(), now_ms() + 10_000);
        let other = Identity {
            owner: "another server in this process".into(),
            ..me.clone()
        };
        if me.machine.is_some() {
            assert_eq!(
                standing(&them, &other, now_ms(), process_started),
                Standing::Alive
            );
        }
    }
}
