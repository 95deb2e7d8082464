//! One claimed trial, trained by this worker: its configuration, then the
//! training thread's progress answered step by step (start, samples,
//! epochs, the end), each write fenced by the lease.
use super::judge::judge;
use super::lease::{lease_held, persist, renew, AbortOnDrop};
use super::trainer::{Progress, Request, Trainer};
use crate::report::{BatchLoss, EpochReport};
use crate::spec::{SweepSpec, TrialParams};
use crate::store::{Claim, Queue, StoreError, WriteError};
use crate::train::Control;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

/// One claimed trial being trained by this worker.
pub(super) struct TrialRun<'a, S> {
    pub store: &'a S,
    pub trainer: &'a Trainer,
    pub claim: &'a Claim,
    pub worker: &'a str,
    pub lease_ms: i64,
    pub checkpoint: PathBuf,
    pub draining: &'a AtomicBool,
    pub max_attempts: u32,
}

/// What one training of a trial keeps between the thread's messages.
struct Training {
    spec: SweepSpec,
    /// The configured epochs.
    epochs: i64,
    /// The sweep metric's value per epoch reported, for the scheduler.
    curve: Vec<f64>,
    /// Tells the training thread to stop at its next batch.
    stop: Arc<AtomicBool>,
    /// The lease is no longer held (or the trial was stopped): nothing
    /// more of it is written.
    lost: Arc<AtomicBool>,
}

impl Training {
    fn held(&self) -> bool {
        !self.lost.load(Ordering::Relaxed)
    }

    /// Stops the training and writes nothing more of it.
    fn drop_trial(&self) {
        self.lost.store(true, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl<S: Queue> TrialRun<'_, S> {
    /// Trains the trial to its end, or until it is pruned, the sweep ends,
    /// the lease is lost, or the worker shuts down.
    #[tracing::instrument(name = "train", skip_all, fields(trial_id = self.claim.trial_id))]
    pub async fn run(&self) -> Result<(), StoreError> {
        let spec = match SweepSpec::from_stored(&self.claim.spec) {
            Ok(spec) => spec,
            Err(e) => return self.fail(format!("the stored spec is invalid: {e}")).await,
        };
        let Some(params) = self.params(&spec).await? else {
            return Ok(());
        };
        let mut training = Training {
            epochs: i64::from(params.epochs),
            spec,
            curve: Vec::new(),
            stop: Arc::default(),
            lost: Arc::default(),
        };
        let (progress, mut updates) = tokio::sync::mpsc::unbounded_channel();
        let submitted = self.trainer.submit(Request {
            claim: self.claim.clone(),
            params,
            stop: training.stop.clone(),
            progress,
            checkpoint: self.checkpoint.clone(),
        });
        if let Err(stopped) = submitted {
            return self.fail(stopped.to_string()).await;
        }
        let _stop_renewing = self.keep_lease(&training);
        while let Some(update) = updates.recv().await {
            match update {
                Progress::Start(epoch, answer) => {
                    self.on_start(&mut training, epoch, answer).await?
                }
                Progress::Sample {
                    sample,
                    batch,
                    batches,
                } => self.on_sample(&training, &sample, batch, batches).await?,
                Progress::Epoch(report, samples, answer) => {
                    self.on_epoch(&mut training, report, &samples, answer)
                        .await?
                }
                Progress::Done(result) if training.held() => return self.done(result).await,
                Progress::Done(_) => return self.forget_if_ended().await,
            }
        }
        self.fail("the training thread stopped".to_string()).await
    }

    /// Renews the lease in a task of its own, so that neither a long epoch
    /// nor a slow write of the training loop can starve it; stopped when
    /// the returned guard drops.
    fn keep_lease(&self, training: &Training) -> AbortOnDrop {
        let (store, claim, worker) = (
            self.store.clone(),
            Arc::new(self.claim.clone()),
            Arc::<str>::from(self.worker),
        );
        let lease_ms = self.lease_ms;
        let renew_once = move || {
            let (store, claim, worker) = (store.clone(), claim.clone(), worker.clone());
            async move { store.renew_lease(&claim, &worker, lease_ms).await }
        };
        AbortOnDrop(tokio::spawn(renew(
            self.claim.trial_id,
            lease_ms,
            renew_once,
            training.stop.clone(),
            training.lost.clone(),
        )))
    }

    /// Training starts after `epoch` (0: from scratch): the trial's reports
    /// are rewound to it, and the thread told whether to go on.
    async fn on_start(
        &self,
        training: &mut Training,
        epoch: i64,
        answer: mpsc::SyncSender<Control>,
    ) -> Result<(), StoreError> {
        let rewound = self
            .write("rewinding to the checkpoint", || {
                self.store.rewind(self.claim, self.worker, epoch)
            })
            .await;
        let control = match lease_held(rewound)? {
            Some(kept) if training.held() => {
                let metric = training.spec.metric().name;
                training.curve = kept.iter().map(|r| r.metric(metric)).collect();
                Control::Continue
            }
            // The lease was lost: the trial is no longer ours to train.
            _ => Control::Stop,
        };
        if epoch > 0 {
            let trial = self.claim.trial_id;
            tracing::info!(trial, epoch, "resumed from the checkpoint");
        }
        // No receiver: the training thread has already ended the trial.
        let _ = answer.send(control);
        Ok(())
    }

    /// A training-loss sample: an event for watchers, and the way a worker
    /// learns early that its trial was cancelled.
    async fn on_sample(
        &self,
        training: &Training,
        sample: &BatchLoss,
        batch: i64,
        batches: i64,
    ) -> Result<(), StoreError> {
        if !training.held() {
            return Ok(());
        }
        let data = json!({
            "number": self.claim.number, "epoch": sample.epoch, "epochs": training.epochs,
            "step": sample.step, "batch": batch, "batches": batches, "loss": sample.loss,
        });
        // Progress is for watchers only: none is kept while the database
        // cannot be written.
        match self
            .store
            .report_progress(self.claim, self.worker, data)
            .await
        {
            Ok(()) | Err(WriteError::Store(StoreError::Unavailable { .. })) => Ok(()),
            Err(WriteError::LeaseLost) => {
                training.drop_trial();
                Ok(())
            }
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    /// An epoch's report: judged, stored, and the thread told what next.
    async fn on_epoch(
        &self,
        training: &mut Training,
        report: EpochReport,
        samples: &[BatchLoss],
        answer: mpsc::SyncSender<Control>,
    ) -> Result<(), StoreError> {
        let control = match training.held() {
            true => self.report(training, &report, samples).await?,
            false => Control::Stop,
        };
        if control == Control::Stop {
            training.lost.store(true, Ordering::Relaxed);
        }
        // No receiver: the training thread has already ended the trial.
        let _ = answer.send(control);
        Ok(())
    }

    /// Judges and stores an epoch's report; what the training does next.
    #[tracing::instrument(name = "report", skip_all,
        fields(trial_id = self.claim.trial_id, epoch = report.epoch))]
    async fn report(
        &self,
        training: &mut Training,
        report: &EpochReport,
        samples: &[BatchLoss],
    ) -> Result<Control, StoreError> {
        let started = Instant::now();
        training
            .curve
            .push(report.metric(training.spec.metric().name));
        let (spec, curve) = (&training.spec, &training.curve);
        let verdict = judge(self.store, spec, self.claim, curve, report, training.epochs).await?;
        let reported = self
            .write("reporting an epoch", || {
                let lease = self.lease_ms;
                self.store
                    .report_epoch(self.claim, self.worker, lease, report, samples, &verdict)
            })
            .await;
        tracing::debug!(
            trial = self.claim.trial_id,
            epoch = report.epoch,
            micros = started.elapsed().as_micros() as u64,
            "epoch judged and reported"
        );
        let draining = self.draining.load(Ordering::Relaxed);
        Ok(match lease_held(reported)? {
            // The lease was lost: the trial is no longer ours to train.
            None => Control::Stop,
            Some(()) if matches!(verdict.decision, Some((true, _))) => Control::Stop,
            Some(()) if verdict.target_reached => Control::Finish,
            Some(()) if report.epoch < training.epochs && draining => Control::Suspend,
            Some(()) => Control::Continue,
        })
    }

    /// The trial's configuration: the claim's, or sampled now (see
    /// `sample`); None when the lease was lost meanwhile, or the space is exhausted.
    async fn params(&self, spec: &SweepSpec) -> Result<Option<TrialParams>, StoreError> {
        match &self.claim.params {
            Some(params) => Ok(Some(params.clone())),
            None => self.sample(spec).await,
        }
    }

    /// Runs a write, again every `RETRY` while the database cannot take it.
    pub(super) async fn write<T, F, W>(&self, what: &str, write: W) -> Result<T, WriteError>
    where
        W: FnMut() -> F,
        F: std::future::Future<Output = Result<T, WriteError>>,
    {
        persist(self.claim.trial_id, what, write).await
    }
}
