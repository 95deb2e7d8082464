//! Keeping a claimed trial's lease: renewal in a task of its own, and
//! writes retried while the database cannot take them (a full disk), so
//! that a trial goes on once there is room instead of costing an attempt.
use super::RETRY;
use crate::store::{StoreError, WriteError};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Renews the lease every third of its length, by `renew_once`, until
/// aborted; when it is lost (taken back, the trial ended elsewhere), sets
/// `lost` and `stop`, which stops the training. A renewal the store fails
/// is logged when failures start and tried again at the next tick: the
/// lease is a third spent by then, not lost.
#[tracing::instrument(name = "renew", skip_all, fields(trial_id = trial))]
pub(super) async fn renew<F, W>(
    trial: i64,
    lease_ms: i64,
    mut renew_once: W,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
) where
    W: FnMut() -> F,
    F: Future<Output = Result<(), WriteError>>,
{
    let mut every = tokio::time::interval(Duration::from_millis(lease_ms as u64 / 3));
    every.tick().await;
    let mut failing = false;
    loop {
        every.tick().await;
        match renew_once().await {
            Ok(()) => failing = false,
            Err(WriteError::LeaseLost) => {
                lost.store(true, Ordering::Relaxed);
                stop.store(true, Ordering::Relaxed);
                return;
            }
            Err(WriteError::Store(e)) if !std::mem::replace(&mut failing, true) => {
                tracing::warn!(trial, "renewing the lease: {e}")
            }
            Err(WriteError::Store(_)) => {}
        }
    }
}

/// Runs a write, again every `RETRY` while the database cannot take it (a
/// full disk). Logged once per write, and once more when it worked.
pub(super) async fn persist<T, F, W>(trial: i64, what: &str, mut write: W) -> Result<T, WriteError>
where
    W: FnMut() -> F,
    F: Future<Output = Result<T, WriteError>>,
{
    let started = Instant::now();
    let mut failed = false;
    loop {
        match write().await {
            Err(WriteError::Store(e @ StoreError::Unavailable { .. })) => {
                if !std::mem::replace(&mut failed, true) {
                    tracing::warn!(trial, "{what}: {e}; trying again every {RETRY:?}");
                }
                tokio::time::sleep(RETRY).await;
            }
            done => {
                if failed {
                    let waited = started.elapsed().as_secs_f64();
                    tracing::info!(trial, "{what}: done after {waited:.0} s");
                }
                return done;
            }
        }
    }
}

/// A fenced write's result: Some when written, None when the lease was
/// lost (nothing was written), an error when the store failed.
pub(super) fn lease_held<T>(written: Result<T, WriteError>) -> Result<Option<T>, StoreError> {
    match written {
        Ok(written) => Ok(Some(written)),
        Err(WriteError::LeaseLost) => Ok(None),
        Err(WriteError::Store(e)) => Err(e),
    }
}

/// Aborts a task when dropped.
pub(super) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests;
