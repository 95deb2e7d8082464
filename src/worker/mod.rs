//! The worker process: claims trials from the database, trains them on its
//! training thread, reports each epoch and keeps its lease alive meanwhile.
//!
//! - `trial`: one claimed trial, from its configuration to its last report.
//! - `ending`: recording how a trial ended, and giving it up.
//! - `judge`: the scheduler's verdict on an epoch.
//! - `lease`: renewing the lease, and retrying writes on a full disk.
//! - `trainer`: the training thread.
mod ending;
mod judge;
mod lease;
mod sample;
mod trainer;
mod trial;

use crate::config::Config;
use crate::data::catalog::Catalog;
use crate::store::{Claim, Queue, Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use trainer::{Settings, Trainer};
use trial::TrialRun;

/// How long an idle worker waits before looking for a queued trial again.
const POLL: Duration = Duration::from_millis(200);

/// How often a write the database could not take (a full disk) is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// Runs a worker until the process is killed, or until SIGTERM or SIGINT:
/// then it takes no new trial, lets the running one reach its next
/// checkpoint, hands it back to the queue and returns.
pub async fn run(config: Config, name: &str) -> anyhow::Result<()> {
    // Training yields the CPU to the API server when both want it.
    // SAFETY: nice() only changes this process's scheduling priority.
    unsafe {
        libc::nice(5);
    }
    let draining = Arc::new(AtomicBool::new(false));
    let mut drain = drain_on_signal(draining.clone())?;
    let store = Store::open(&config.database, false).await?;
    let worker = format!("{name}-{}", std::process::id());
    let trainer = Trainer::spawn(Settings {
        catalog: Catalog::new(config.data_dir.clone()),
        threads: config.packing().threads_per_trial,
        validation_fraction: config.validation_fraction,
        batch_loss_every: config.batch_loss_every,
    })?;
    let lease_ms = config.lease_seconds as i64 * 1000;
    let checkpoints = config.checkpoints();
    tracing::info!(%worker, "worker ready");
    // Claims fail while the database cannot be written: said once, not every try.
    let mut claims_fail = false;
    while !draining.load(Ordering::Relaxed) {
        let claimed = claim(&store, &worker, lease_ms).await;
        if claimed.is_ok() && std::mem::take(&mut claims_fail) {
            tracing::info!(%worker, "claiming trials works again");
        }
        match claimed {
            Ok(Some(claim)) => {
                let job = TrialRun {
                    store: &store,
                    trainer: &trainer,
                    claim: &claim,
                    worker: &worker,
                    lease_ms,
                    checkpoint: checkpoint_path(&checkpoints, &claim),
                    draining: &draining,
                    max_attempts: config.max_attempts,
                };
                match job.run().await {
                    // Its end is committed; what follows until the next
                    // trial's first batch is this worker's overhead.
                    Ok(()) => tracing::debug!(%worker, trial = claim.trial_id, "trial ended"),
                    // The lease runs out and the trial is queued again.
                    Err(e) => {
                        tracing::error!(%worker, trial = claim.trial_id, "giving up the trial: {e}")
                    }
                }
            }
            Ok(None) => {
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = drain.changed() => {}
                }
            }
            Err(e) => {
                if !std::mem::replace(&mut claims_fail, true) {
                    tracing::warn!(%worker, "claiming a trial: {e}; trying again every {RETRY:?}");
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
    tracing::info!(%worker, "worker stopped");
    store.close().await;
    Ok(())
}

/// Claims the next trial that can run, if any, under a lease of `lease_ms`.
#[tracing::instrument(name = "claim", skip_all, fields(trial_id = tracing::field::Empty))]
async fn claim<S: Queue>(
    store: &S,
    worker: &str,
    lease_ms: i64,
) -> Result<Option<Claim>, StoreError> {
    let claimed = store.claim(worker, lease_ms).await?;
    if let Some(claim) = &claimed {
        tracing::Span::current().record("trial_id", claim.trial_id);
        tracing::info!(%worker, trial = claim.trial_id, attempt = claim.attempt, "training");
    }
    Ok(claimed)
}

/// Sets `draining` on SIGTERM or SIGINT; the receiver hears of it.
fn drain_on_signal(draining: Arc<AtomicBool>) -> std::io::Result<watch::Receiver<bool>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!(
            "shutting down: no new trials; the running one stops at its next checkpoint"
        );
        draining.store(true, Ordering::Relaxed);
        // No receiver: the claim loop has ended already, nothing to wake.
        let _ = tx.send(true);
    });
    Ok(rx)
}

/// Where a trial's checkpoint lives: one folder per sweep.
pub fn checkpoint_path(checkpoints: &Path, claim: &Claim) -> PathBuf {
    checkpoints
        .join(claim.sweep_id.to_string())
        .join(format!("{}.ckpt", claim.trial_id))
}
