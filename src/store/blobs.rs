//! Files kept in the database (`blobs` table), for the blob store's
//! database variant (`crate::blobs`): every replica reads what any stored.
use super::{now_ms, Store, StoreError};
use crate::state::SweepState;

/// A file as stored: its digest and bytes.
pub struct StoredBlob {
    pub sha256: String,
    pub data: Vec<u8>,
}

/// Stores (or replaces) the file `key` of sweep `sweep_id` (bind: key,
/// sweep id, SHA-256, length, bytes, now).
const PUT: &str = "INSERT INTO blobs (key, sweep_id, sha256, bytes, data, stored_ms)
     VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET sweep_id = excluded.sweep_id,
        sha256 = excluded.sha256, bytes = excluded.bytes, data = excluded.data,
        stored_ms = excluded.stored_ms";

/// `Store::put_blob` inside a write of its own caller's.
pub(super) async fn put_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    key: &str,
    sweep_id: i64,
    sha256: &str,
    data: Vec<u8>,
) -> Result<(), StoreError> {
    let bytes = data.len() as i64;
    super::query(PUT)
        .bind(key.to_string())
        .bind(sweep_id)
        .bind(sha256.to_string())
        .bind(bytes)
        .bind(data)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Stores (or replaces) the file `key` of sweep `sweep_id`.
    pub async fn put_blob(
        &self,
        key: &str,
        sweep_id: i64,
        sha256: &str,
        data: Vec<u8>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        put_in(&mut tx, key, sweep_id, sha256, data).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The file `key`, if stored.
    pub async fn blob(&self, key: &str) -> Result<Option<StoredBlob>, StoreError> {
        let row: Option<(String, Vec<u8>)> =
            super::query_as("SELECT sha256, data FROM blobs WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(sha256, data)| StoredBlob { sha256, data }))
    }

    /// Removes the files whose keys start with `prefix`; how many.
    pub async fn remove_blobs(&self, prefix: &str) -> Result<u64, StoreError> {
        let done = super::query("DELETE FROM blobs WHERE substr(key, 1, length(?)) = ?")
            .bind(prefix)
            .bind(prefix)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    /// Removes the files of sweeps that ended or were deleted; how many.
    pub async fn remove_ended_blobs(&self) -> Result<u64, StoreError> {
        let done = super::query(
            "DELETE FROM blobs WHERE sweep_id IS NOT NULL AND sweep_id NOT IN
                (SELECT id FROM sweeps WHERE state = ?)",
        )
        .bind(SweepState::Running)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }
}
