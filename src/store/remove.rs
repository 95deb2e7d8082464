//! Deleting an ended sweep with everything stored of it.
use super::{Store, StoreError};

/// What became of a delete request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    NotFound,
    /// The sweep is still running: it must end (or be cancelled) first.
    Running,
}

impl Store {
    /// Deletes an ended sweep: its trials, their reports and training-loss
    /// samples, its events and counts, in one write. A fork of it keeps
    /// running, its `parent_id` cleared.
    pub(super) async fn delete_sweep(&self, sweep_id: i64) -> Result<Deleted, StoreError> {
        let mut tx = self.write_sweep(sweep_id).await?;
        let Some(state) = super::sweeps::state_of(&mut *tx, sweep_id).await? else {
            return Ok(Deleted::NotFound);
        };
        if !state.is_ended() {
            return Ok(Deleted::Running);
        }
        for sql in [
            "DELETE FROM batch_losses WHERE trial_id IN (SELECT id FROM trials WHERE sweep_id = ?)",
            "DELETE FROM epoch_reports WHERE trial_id IN (SELECT id FROM trials WHERE sweep_id = ?)",
            "DELETE FROM events WHERE sweep_id = ?",
            "DELETE FROM blobs WHERE sweep_id = ?",
            "DELETE FROM trials WHERE sweep_id = ?",
            "DELETE FROM trial_counts WHERE sweep_id = ?",
            "DELETE FROM sweeps WHERE id = ?",
        ] {
            super::query(sql).bind(sweep_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Deleted::Deleted)
    }
}
