//! The one way to write under a trial's lease: begin, check that the caller
//! still holds the lease (trial id, worker and attempt), write (with the
//! events that tell of it), commit. A worker whose trial was taken back
//! therefore cannot count it twice.
use super::pause::{self, Point};
use super::queue::Claim;
use super::{Store, StoreError};
use crate::state::TrialState;
use futures_util::future::BoxFuture;
use sqlx::{Any, Transaction};

/// Why a write fenced by a trial's lease was not made. One enum, so that
/// no caller can take a lost lease for a stored write by dropping an inner
/// result: the write either happened or its caller is told which of these.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The worker no longer holds the trial's lease: it was taken back, or
    /// the trial was ended by someone else. Nothing was written; the
    /// worker must drop the trial.
    #[error("the lease on this trial is no longer held")]
    LeaseLost,
    /// The store failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> WriteError {
        WriteError::Store(e.into())
    }
}

impl Store {
    /// Runs `write` in one write transaction after checking that `worker`
    /// still holds `claim`'s lease, and commits it if `write` succeeds.
    /// The sweep's row is locked first (`lock_sweep`): on PostgreSQL the
    /// reaper, which locks it too, cannot take the trial back between the
    /// check and the commit.
    /// Nothing is written when the lease is lost or `write` fails.
    ///
    /// `write` owns the transaction and hands it back with its result, in
    /// a boxed future: an async closure borrowing it cannot yet be proven
    /// `Send` for every lifetime of the borrow, which the store's traits
    /// require of their futures.
    pub(super) async fn with_lease<'a, T, W>(
        &self,
        claim: &Claim,
        worker: &str,
        write: W,
    ) -> Result<T, WriteError>
    where
        W: FnOnce(Tx) -> BoxFuture<'a, Result<(Tx, T), StoreError>>,
    {
        let mut tx = self.write_sweep(claim.sweep_id).await?;
        hold(&mut tx, claim, worker).await?;
        pause::at(Point::LeaseChecked).await;
        let (tx, written) = write(tx).await?;
        pause::at(Point::BeforeCommit).await;
        tx.commit().await?;
        Ok(written)
    }
}

/// The transaction of a lease-fenced write.
pub(super) type Tx = Transaction<'static, Any>;

/// A row if the caller holds the trial's lease (bind: trial id, the
/// running state, worker, attempt); shared with the writer thread's
/// fence (`hot.rs`).
pub(super) const HOLD: &str =
    "SELECT id FROM trials WHERE id = ? AND state = ? AND worker = ? AND attempt = ?";

/// Whether the caller still holds the trial's lease, checked inside the write.
async fn hold(
    tx: &mut Transaction<'static, Any>,
    claim: &Claim,
    worker: &str,
) -> Result<(), WriteError> {
    let held: Option<i64> = super::query_scalar(HOLD)
        .bind(claim.trial_id)
        .bind(TrialState::Running)
        .bind(worker)
        .bind(claim.attempt)
        .fetch_optional(&mut **tx)
        .await?;
    held.map(|_| ()).ok_or(WriteError::LeaseLost)
}
