//! Dashboard sessions, kept by the digest of their cookie.
use super::{now_ms, Store, StoreError};

impl Store {
    /// Records a session valid for `ttl_ms` under `digest`, or renews it;
    /// sessions past their expiry are forgotten meanwhile.
    pub(super) async fn open_session(&self, digest: &str, ttl_ms: i64) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.write().await?;
        super::query("DELETE FROM sessions WHERE expires_ms <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        super::query(
            "INSERT INTO sessions (digest, created_ms, expires_ms) VALUES (?, ?, ?)
             ON CONFLICT (digest) DO UPDATE SET expires_ms = excluded.expires_ms",
        )
        .bind(digest)
        .bind(now)
        .bind(now.saturating_add(ttl_ms))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether a session with this digest exists and has not expired.
    pub(super) async fn session_is_open(&self, digest: &str) -> Result<bool, StoreError> {
        let found: Option<i64> =
            super::query_scalar("SELECT 1 FROM sessions WHERE digest = ? AND expires_ms > ?")
                .bind(digest)
                .bind(now_ms())
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// Ends one session; true if it was open.
    pub(super) async fn close_session(&self, digest: &str) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = super::query("DELETE FROM sessions WHERE digest = ?")
            .bind(digest)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(done > 0)
    }

    /// Ends every session; how many there were.
    pub(super) async fn close_all_sessions(&self) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let done = super::query("DELETE FROM sessions")
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(done)
    }
}
