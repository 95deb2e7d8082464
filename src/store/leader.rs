//! Which process runs the periodic work (the reaper, time limits,
//! deadlines, removing ended sweeps' files). On SQLite the one server does.
//! On PostgreSQL, where several replicas share the database, the one that
//! holds a session advisory lock does: it holds it on a connection of its
//! own for as long as that connection lives, so when the replica dies its
//! session ends, the lock is free, and the next replica to ask takes over.
use super::{Engine, Store, StoreError};
use sqlx::Connection;

/// The advisory lock's key: "hypersweep periodic" in 64 bits.
const PERIODIC_KEY: i64 = 0x6879_7065_7270_6572;

impl Store {
    /// Whether this process runs the periodic work now. On PostgreSQL it
    /// takes (or checks it still holds) the advisory lock; a connection
    /// that broke loses it, and the next call tries to take it again.
    pub(super) async fn periodic_turn(&self) -> Result<bool, StoreError> {
        if self.engine == Engine::Sqlite {
            return Ok(true);
        }
        let mut held = self.leader.lock().await;
        if let Some(conn) = held.as_mut() {
            match conn.ping().await {
                Ok(()) => return Ok(true),
                Err(e) => {
                    tracing::warn!("lost the periodic work's lock with its connection: {e}");
                    *held = None;
                }
            }
        }
        let mut conn = self.pool.acquire().await?.detach();
        let taken: bool = super::query_scalar("SELECT pg_try_advisory_lock(?)")
            .bind(PERIODIC_KEY)
            .fetch_one(&mut conn)
            .await?;
        if taken {
            tracing::info!("this replica runs the periodic work (reaper, deadlines)");
            *held = Some(conn);
        } else {
            conn.close().await.ok();
        }
        Ok(taken)
    }
}
