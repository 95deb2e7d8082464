//! The worker process: claims trials from the database, trains them on its
//! training thread, reports each epoch and keeps its lease alive meanwhile.
mod trainer;

use crate::config::Config;
use crate::data::catalog::Catalog;
use crate::report::EpochReport;
use crate::schedule::Curve;
use crate::search;
use crate::spec::{SweepSpec, TrialParams};
use crate::store::{Claim, Finish, LeaseLost, Store, StoreError, Verdict};
use crate::train::{Control, Outcome, TrainError};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use trainer::{Progress, Request, Settings, Trainer};

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
        let claimed = store.claim(&worker, lease_ms).await;
        if claimed.is_ok() && std::mem::take(&mut claims_fail) {
            tracing::info!(%worker, "claiming trials works again");
        }
        match claimed {
            Ok(Some(claim)) => {
                tracing::info!(%worker, trial = claim.trial_id, attempt = claim.attempt, "training");
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

/// One claimed trial being trained by this worker.
struct TrialRun<'a> {
    store: &'a Store,
    trainer: &'a Trainer,
    claim: &'a Claim,
    worker: &'a str,
    lease_ms: i64,
    checkpoint: PathBuf,
    draining: &'a AtomicBool,
    max_attempts: u32,
}

impl TrialRun<'_> {
    /// Trains the trial to its end, or until it is pruned, the sweep ends,
    /// the lease is lost, or the worker shuts down.
    async fn run(&self) -> Result<(), StoreError> {
        let (store, claim, worker) = (self.store, self.claim, self.worker);
        let spec = match SweepSpec::from_stored(&claim.spec) {
            Ok(spec) => spec,
            Err(e) => {
                let reason = format!("the stored spec is invalid: {e}");
                self.fail(reason).await?;
                return Ok(());
            }
        };
        let Some(params) = self.params(&spec).await? else {
            return Ok(());
        };
        let epochs = i64::from(params.epochs);
        let stop = Arc::new(AtomicBool::new(false));
        let (progress, mut updates) = tokio::sync::mpsc::unbounded_channel();
        let submitted = self.trainer.submit(Request {
            claim: claim.clone(),
            params,
            stop: stop.clone(),
            progress,
            checkpoint: self.checkpoint.clone(),
        });
        if let Err(stopped) = submitted {
            self.fail(stopped.to_string()).await?;
            return Ok(());
        }
        // Renewal runs in its own task, so neither a long epoch nor a slow
        // write of this loop can starve the lease.
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = tokio::spawn(renew(
            store.clone(),
            claim.clone(),
            worker.to_string(),
            self.lease_ms,
            stop.clone(),
            lost.clone(),
        ));
        let _stop_renewing = AbortOnDrop(renewal);
        let mut curve = Vec::new();
        let held = |lost: &AtomicBool| !lost.load(Ordering::Relaxed);
        while let Some(update) = updates.recv().await {
            match update {
                Progress::Start(epoch, answer) => {
                    let rewound = self
                        .persist("rewinding to the checkpoint", || {
                            store.rewind(claim, worker, epoch)
                        })
                        .await?;
                    let control = match rewound {
                        Ok(kept) if held(&lost) => {
                            curve = kept.iter().map(|r| r.metric(&spec.metric().name)).collect();
                            Control::Continue
                        }
                        _ => Control::Stop,
                    };
                    if epoch > 0 {
                        tracing::info!(
                            trial = claim.trial_id,
                            epoch,
                            "resumed from the checkpoint"
                        );
                    }
                    let _ = answer.send(control);
                }
                Progress::Sample {
                    sample,
                    batch,
                    batches,
                } => {
                    if held(&lost) {
                        let data = json!({
                            "number": claim.number, "epoch": sample.epoch, "epochs": epochs,
                            "step": sample.step, "batch": batch, "batches": batches, "loss": sample.loss,
                        });
                        // Progress is for watchers only: none is kept while
                        // the database cannot be written.
                        match store.report_progress(claim, worker, data).await {
                            Ok(Ok(())) | Err(StoreError::Unavailable { .. }) => {}
                            Ok(Err(LeaseLost)) => {
                                lost.store(true, Ordering::Relaxed);
                                stop.store(true, Ordering::Relaxed);
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Progress::Epoch(report, samples, answer) => {
                    let control = if held(&lost) {
                        let started = Instant::now();
                        curve.push(report.metric(&spec.metric().name));
                        let verdict = judge(store, &spec, claim, &curve, &report, epochs).await?;
                        let reported = self
                            .persist("reporting an epoch", || {
                                store.report_epoch(
                                    claim,
                                    worker,
                                    self.lease_ms,
                                    &report,
                                    &samples,
                                    &verdict,
                                )
                            })
                            .await?;
                        tracing::debug!(
                            trial = claim.trial_id,
                            epoch = report.epoch,
                            micros = started.elapsed().as_micros() as u64,
                            "epoch judged and reported"
                        );
                        match reported {
                            Err(LeaseLost) => Control::Stop,
                            Ok(()) if matches!(verdict.decision, Some((true, _))) => Control::Stop,
                            Ok(()) if verdict.target_reached => Control::Finish,
                            Ok(())
                                if report.epoch < epochs
                                    && self.draining.load(Ordering::Relaxed) =>
                            {
                                Control::Suspend
                            }
                            Ok(()) => Control::Continue,
                        }
                    } else {
                        Control::Stop
                    };
                    if control == Control::Stop {
                        lost.store(true, Ordering::Relaxed);
                    }
                    let _ = answer.send(control);
                }
                Progress::Done(result) => {
                    if held(&lost) {
                        self.done(result).await?;
                    } else {
                        self.forget_if_ended().await?;
                    }
                    return Ok(());
                }
            }
        }
        self.fail("the training thread stopped".to_string()).await
    }

    /// Ends the trial `failed` with `reason`.
    async fn fail(&self, reason: String) -> Result<(), StoreError> {
        let finish = Finish::Failed { reason };
        let ended = self
            .persist("ending the trial", || {
                self.store.finish(self.claim, self.worker, &finish)
            })
            .await?;
        self.unless_lost("ending the trial failed", ended);
        Ok(())
    }

    /// Logs a write the lease was lost for: the trial was taken back (or
    /// ended elsewhere) meanwhile and is no longer this worker's to record,
    /// so nothing more is done with it.
    fn unless_lost(&self, what: &str, written: Result<(), LeaseLost>) {
        if let Err(LeaseLost) = written {
            let trial = self.claim.trial_id;
            tracing::info!(trial, "{what}: not recorded, the lease was lost meanwhile");
        }
    }

    /// Runs a write, again every `RETRY` while the database cannot take it
    /// (a full disk): the trial goes on once it has room, instead of being
    /// given up and costing an attempt. Logged once per write.
    async fn persist<T, F, W>(&self, what: &str, mut write: W) -> Result<T, StoreError>
    where
        W: FnMut() -> F,
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        let (trial, started) = (self.claim.trial_id, Instant::now());
        let mut failed = false;
        loop {
            match write().await {
                Err(e @ StoreError::Unavailable { .. }) => {
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

    /// The trial's configuration: the claim's, or sampled now from the
    /// sweep's history (None when the lease was lost meanwhile).
    async fn params(&self, spec: &SweepSpec) -> Result<Option<TrialParams>, StoreError> {
        if let Some(params) = &self.claim.params {
            return Ok(Some(params.clone()));
        }
        let finished: Vec<_> = self
            .store
            .history(self.claim.sweep_id, &spec.metric().name)
            .await?
            .into_iter()
            .map(|f| (f.params, f.value))
            .collect();
        // TPE over a long history is CPU work (46 ms at 10k trials): off the
        // async threads, which renew the lease meanwhile.
        let (owned, seed) = (spec.clone(), self.claim.seed);
        let params = tokio::task::spawn_blocking(move || search::suggest(&owned, &finished, seed))
            .await
            .expect("sampling a configuration panicked");
        let assigned = self
            .persist("recording the sampled configuration", || {
                self.store.assign_params(self.claim, self.worker, &params)
            })
            .await?;
        Ok(assigned.ok().map(|_| params))
    }

    /// Records how training ended while the lease was held.
    async fn done(&self, result: Result<Outcome, TrainError>) -> Result<(), StoreError> {
        let (store, claim, worker) = (self.store, self.claim, self.worker);
        match result {
            Ok(Outcome::Suspended) => {
                let handed = self
                    .persist("handing the trial back", || store.hand_back(claim, worker))
                    .await?;
                if handed.is_ok() {
                    tracing::info!(trial = claim.trial_id, "handed back at its checkpoint");
                }
                self.unless_lost("handing the trial back", handed);
                return Ok(());
            }
            Ok(Outcome::Stopped) => {}
            Ok(Outcome::Completed {
                test_loss,
                test_accuracy,
            }) => {
                let finish = Finish::Completed {
                    test_loss,
                    test_accuracy,
                };
                let ended = self
                    .persist("ending the trial", || store.finish(claim, worker, &finish))
                    .await?;
                self.unless_lost("ending the trial completed", ended);
            }
            Ok(Outcome::Diverged { epoch }) => {
                tracing::info!(epoch, "the loss became NaN or infinite");
                self.fail("diverged".to_string()).await?;
            }
            Err(e @ TrainError::OutOfMemory(_)) => {
                // Like a crash, this costs one attempt; the process starts
                // afresh so that no half-freed memory stays behind.
                let why = format!("the worker ran out of memory ({e})");
                let lost = self
                    .persist("giving the attempt up", || {
                        store.lose_attempt(claim, worker, self.max_attempts, &why)
                    })
                    .await?;
                // Restarted all the same: the memory is what it is about.
                self.unless_lost("giving the attempt up", lost);
                tracing::error!(trial = claim.trial_id, "{why}; restarting the worker");
                std::process::exit(EXIT_OUT_OF_MEMORY);
            }
            Err(
                e @ (TrainError::InvalidConfiguration { .. }
                | TrainError::Data(_)
                | TrainError::BadCheckpoint(_)
                | TrainError::CheckpointNotWritten(_)
                | TrainError::Torch(_)),
            ) => self.fail(e.to_string()).await?,
        }
        self.forget_if_ended().await
    }

    /// Deletes the checkpoint once the trial has ended: no attempt will
    /// resume from it. A trial taken back keeps it for the next attempt.
    async fn forget_if_ended(&self) -> Result<(), StoreError> {
        let state = self.store.trial_state(self.claim.trial_id).await?;
        if !matches!(state.as_deref(), Some("queued" | "running")) {
            let _ = std::fs::remove_file(&self.checkpoint);
        }
        Ok(())
    }
}

/// The exit status of a worker that ran out of memory (EX_TEMPFAIL).
const EXIT_OUT_OF_MEMORY: i32 = 75;

/// Renews the lease every third of its length until aborted; when it is
/// lost (taken back, the trial ended elsewhere), stops the training.
async fn renew(
    store: Store,
    claim: Claim,
    worker: String,
    lease_ms: i64,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
) {
    let mut every = tokio::time::interval(Duration::from_millis(lease_ms as u64 / 3));
    every.tick().await;
    let mut failing = false;
    loop {
        every.tick().await;
        match store.renew_lease(&claim, &worker, lease_ms).await {
            Ok(Ok(())) => failing = false,
            Ok(Err(LeaseLost)) => {
                lost.store(true, Ordering::Relaxed);
                stop.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) if !std::mem::replace(&mut failing, true) => {
                tracing::warn!(trial = claim.trial_id, "renewing the lease: {e}")
            }
            Err(_) => {}
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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
        .early_terminate()
        .as_ref()
        .filter(|_| report.epoch < epochs)
    {
        let curves = store
            .curves(claim.sweep_id, &spec.metric().name, report.epoch)
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
        let decision = rule.decide(spec.metric().goal, &this, &others);
        verdict.decision = Some((decision.stop, decision.reason));
        verdict.rung = decision.rung;
    }
    let pruned = matches!(verdict.decision, Some((true, _)));
    if let Some(target) = spec.target().filter(|_| !pruned) {
        verdict.target_reached = target.reached(report.metric(&target.metric));
    }
    Ok(verdict)
}
