//! The worker process: claims trials from the database, trains them on its
//! training thread, reports each epoch and keeps its lease alive meanwhile.
mod trainer;

use crate::config::Config;
use crate::data::catalog::Catalog;
use crate::report::EpochReport;
use crate::schedule::Curve;
use crate::search;
use crate::spec::SweepSpec;
use crate::store::{Claim, Finish, LeaseLost, Store, StoreError, Verdict};
use crate::train::{Control, Outcome};
use serde_json::json;
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

/// Trains one claimed trial to its end, or until it is pruned, the sweep
/// ends, or the lease is lost.
async fn run_trial(
    store: &Store,
    trainer: &Trainer,
    claim: &Claim,
    worker: &str,
    lease_ms: i64,
) -> Result<(), StoreError> {
    let spec = match SweepSpec::from_stored(&claim.spec) {
        Ok(spec) => spec,
        Err(e) => {
            let reason = format!("the stored spec is invalid: {e}");
            let _ = store
                .finish(claim, worker, &Finish::Failed { reason })
                .await?;
            return Ok(());
        }
    };
    let params = match &claim.params {
        Some(params) => params.clone(),
        None => {
            let finished: Vec<_> = store
                .history(claim.sweep_id, &spec.metric.name)
                .await?
                .into_iter()
                .map(|f| (f.params, f.value))
                .collect();
            let params = search::suggest(&spec, &finished, claim.seed);
            if store.assign_params(claim, worker, &params).await?.is_err() {
                return Ok(());
            }
            params
        }
    };
    let epochs = i64::from(params.epochs);
    let stop = Arc::new(AtomicBool::new(false));
    let (progress, mut updates) = tokio::sync::mpsc::unbounded_channel();
    let submitted = trainer.submit(Request {
        claim: claim.clone(),
        params,
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
    let mut curve = Vec::new();
    loop {
        tokio::select! {
            update = updates.recv() => match update {
                Some(Progress::Sample { sample, batch, batches }) => {
                    if held {
                        let data = json!({
                            "number": claim.number, "epoch": sample.epoch, "epochs": epochs,
                            "step": sample.step, "batch": batch, "batches": batches, "loss": sample.loss,
                        });
                        if store.report_progress(claim, worker, data).await?.is_err() {
                            held = false;
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
                Some(Progress::Epoch(report, samples, answer)) => {
                    let control = if held {
                        curve.push(report.metric(&spec.metric.name));
                        let verdict = judge(store, &spec, claim, &curve, &report, epochs).await?;
                        match store.report_epoch(claim, worker, lease_ms, &report, &samples, &verdict).await? {
                            Err(LeaseLost) => Control::Stop,
                            Ok(()) if matches!(verdict.decision, Some((true, _))) => Control::Stop,
                            Ok(()) if verdict.target_reached => Control::Finish,
                            Ok(()) => Control::Continue,
                        }
                    } else {
                        Control::Stop
                    };
                    held &= control != Control::Stop;
                    let _ = answer.send(control);
                }
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

/// The scheduler's decision on an epoch report and whether it reaches the
/// sweep's target. The last epoch is never pruned: the trial is done anyway.
async fn judge(
    store: &Store,
    spec: &SweepSpec,
    claim: &Claim,
    curve: &[f64],
    report: &EpochReport,
    epochs: i64,
) -> Result<Verdict, StoreError> {
    let mut verdict = Verdict::default();
    if let Some(rule) = spec
        .early_terminate
        .as_ref()
        .filter(|_| report.epoch < epochs)
    {
        let curves = store
            .curves(claim.sweep_id, &spec.metric.name, report.epoch)
            .await?;
        let others: Vec<Curve> = curves
            .iter()
            .filter(|(trial, _)| *trial != claim.trial_id)
            .map(|(trial, values)| Curve {
                trial: *trial,
                values,
            })
            .collect();
        let this = Curve {
            trial: claim.trial_id,
            values: curve,
        };
        let decision = rule.decide(spec.metric.goal, &this, &others);
        verdict.decision = Some((decision.stop, decision.reason));
        verdict.rung = decision.rung;
    }
    let pruned = matches!(verdict.decision, Some((true, _)));
    if let Some(target) = spec.target.as_ref().filter(|_| !pruned) {
        verdict.target_reached = target.reached(report.metric(&target.metric));
    }
    Ok(verdict)
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
