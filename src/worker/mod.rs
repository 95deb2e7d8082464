//! The worker process: claims trials from the database, trains them on its
//! training thread, reports each epoch and keeps its lease alive meanwhile.
mod trainer;

use crate::config::Config;
use crate::data::catalog::Catalog;
use crate::store::{Claim, Finish, Store, StoreError};
use crate::train::Outcome;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use trainer::{Progress, Request, Settings, Trainer};

/// How long an idle worker waits before looking for a queued trial again.
const POLL: Duration = Duration::from_millis(200);

/// Runs a worker until the process is killed.
pub async fn run(config: Config, name: &str) -> anyhow::Result<()> {
    // Training yields the CPU to the API server when both want it.
    // SAFETY: nice() only changes this process's scheduling priority.
    unsafe {
        libc::nice(5);
    }
    let store = Store::open(&config.database, false).await?;
    let worker = format!("{name}-{}", std::process::id());
    let trainer = Trainer::spawn(Settings {
        catalog: Catalog::new(config.data_dir.clone()),
        threads: config.threads_per_trial,
        validation_fraction: config.validation_fraction,
        batch_loss_every: config.batch_loss_every,
    })?;
    let lease_ms = config.lease_seconds as i64 * 1000;
    tracing::info!(%worker, "worker ready");
    loop {
        match store.claim(&worker, lease_ms).await {
            Ok(Some(claim)) => {
                tracing::info!(%worker, trial = claim.trial_id, attempt = claim.attempt, "training");
                if let Err(e) = run_trial(&store, &trainer, &claim, &worker, lease_ms).await {
                    // The lease runs out and the trial is queued again.
                    tracing::error!(%worker, trial = claim.trial_id, "giving up the trial: {e}");
                }
            }
            Ok(None) => tokio::time::sleep(POLL).await,
            Err(e) => {
                tracing::warn!(%worker, "claiming a trial: {e}");
                tokio::time::sleep(POLL * 5).await;
            }
        }
    }
}

/// Trains one claimed trial to its end, or until the lease is lost.
async fn run_trial(
    store: &Store,
    trainer: &Trainer,
    claim: &Claim,
    worker: &str,
    lease_ms: i64,
) -> Result<(), StoreError> {
    let stop = Arc::new(AtomicBool::new(false));
    let (progress, mut updates) = tokio::sync::mpsc::unbounded_channel();
    let submitted = trainer.submit(Request {
        claim: claim.clone(),
        stop: stop.clone(),
        progress,
    });
    if let Err(reason) = submitted {
        let _ = store
            .finish(claim, worker, &Finish::Failed { reason })
            .await?;
        return Ok(());
    }
    // Renewal runs beside training, so a long epoch cannot starve the lease.
    let mut renew = tokio::time::interval(Duration::from_millis(lease_ms as u64 / 3));
    let mut held = true;
    loop {
        tokio::select! {
            update = updates.recv() => match update {
                Some(Progress::Epoch(report, samples)) if held => {
                    if store.report_epoch(claim, worker, lease_ms, &report, &samples).await?.is_err() {
                        held = false;
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                Some(Progress::Epoch(..)) => {}
                Some(Progress::Done(result)) => {
                    if held {
                        if let Some(finish) = finish_of(result) {
                            let _ = store.finish(claim, worker, &finish).await?;
                        }
                    }
                    return Ok(());
                }
                None => {
                    let reason = "the training thread stopped".to_string();
                    let _ = store.finish(claim, worker, &Finish::Failed { reason }).await?;
                    return Ok(());
                }
            },
            _ = renew.tick(), if held => {
                if store.renew_lease(claim, worker, lease_ms).await?.is_err() {
                    held = false;
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
    }
}

/// The final state of a trial from how its training ended; None when it was
/// stopped and someone else decides its state.
fn finish_of(result: Result<Outcome, String>) -> Option<Finish> {
    match result {
        Ok(Outcome::Completed {
            test_loss,
            test_accuracy,
        }) => Some(Finish::Completed {
            test_loss,
            test_accuracy,
        }),
        Ok(Outcome::Diverged { epoch }) => {
            tracing::info!(epoch, "the loss became NaN or infinite");
            Some(Finish::Failed {
                reason: "diverged".into(),
            })
        }
        Ok(Outcome::Stopped) => None,
        Err(reason) => Some(Finish::Failed { reason }),
    }
}
