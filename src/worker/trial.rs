//! One claimed trial, trained by this worker: the training thread's
//! progress answered step by step (start, samples, epochs, the end), each
//! call made for this attempt only, so the server refuses it once the
//! lease is lost. Epoch reports the server could not take wait, in order,
//! while training goes on, and are delivered when it answers again; the
//! checkpoint goes up once the server has every report before it.
use super::lease::{persist, renew, AbortOnDrop, Contact};
use super::remote::{CallError, Remote};
use super::trainer::{Progress, Request, Trainer};
use crate::protocol::{Assignment, Decision};
use crate::report::{BatchLoss, EpochReport};
use crate::train::{Control, Shuffle};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::json;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc::UnboundedReceiver;

/// How often the checkpoint file is looked at for a new one to upload.
const UPLOAD_EVERY: Duration = Duration::from_millis(100);

/// One claimed trial being trained by this worker.
pub(super) struct TrialRun<'a> {
    pub remote: &'a Remote,
    pub trainer: &'a Trainer,
    pub a: Assignment,
    /// Where its dataset is read, prepared from the manifest.
    pub data: super::data::Located,
    /// This host's copy of the trial's checkpoint.
    pub checkpoint: PathBuf,
    pub draining: &'a AtomicBool,
}

/// What one training of a trial keeps between the thread's messages.
pub(super) struct Training {
    /// The configured epochs.
    epochs: i64,
    /// Reports not yet taken by the server, oldest first.
    pending: VecDeque<(EpochReport, Vec<BatchLoss>)>,
    /// How many there are, for the uploader: a checkpoint past what the
    /// server has reports of would not be resumed from.
    unsent: Arc<AtomicUsize>,
    /// Sends the checkpoint file when it changed.
    pub uploader: Arc<Uploader>,
    /// Tells the training thread to stop at its next batch.
    stop: Arc<AtomicBool>,
    /// The lease is no longer held (or the trial was stopped): nothing
    /// more of it is sent.
    lost: Arc<AtomicBool>,
    pub contact: Arc<Contact>,
}

impl Training {
    pub fn held(&self) -> bool {
        !self.lost.load(Ordering::Relaxed)
    }

    /// Stops the training and sends nothing more of it.
    fn drop_trial(&self) {
        self.lost.store(true, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl TrialRun<'_> {
    /// Trains the trial to its end, or until it is pruned, the sweep ends,
    /// the lease is lost, or the worker shuts down.
    #[tracing::instrument(name = "train", skip_all, fields(trial_id = self.a.trial_id))]
    pub async fn run(&self) {
        let (training, request, updates) = self.begin();
        if let Err(stopped) = self.trainer.submit(request) {
            return self.fail(&training, stopped.to_string()).await;
        }
        self.follow(training, updates).await
    }

    /// Trains `runs`, trials of one sweep that fuse, as one group on a
    /// batch order seeded by `order_seed`: each run is followed as a trial
    /// alone is, its lease, reports, checkpoints and end its own. Each
    /// time a member ends and the group has fewer than `capacity`, `more`
    /// is asked for trials to fill it: they join at the group's next epoch
    /// boundary (`more` gives none while the worker drains).
    pub async fn run_group<'s, F, Fut>(
        runs: Vec<TrialRun<'s>>,
        order_seed: u64,
        capacity: usize,
        mut more: F,
    ) where
        F: FnMut(usize, i64) -> Fut,
        Fut: std::future::Future<Output = Vec<TrialRun<'s>>>,
    {
        let Some(trainer) = runs.first().map(|r| r.trainer) else {
            return;
        };
        let mut follows = FuturesUnordered::new();
        let mut live: Vec<i64> = runs.iter().map(|r| r.a.trial_id).collect();
        let requests = Self::follow_all(runs, &mut follows);
        if let Err(stopped) = trainer.submit_group(order_seed, requests) {
            // Each follow hears the thread has stopped, and fails its trial.
            tracing::error!("{stopped}");
        }
        while let Some(ended) = follows.next().await {
            live.retain(|&t| t != ended);
            // Joiners fuse with a member still in the group.
            let Some(&with) = live.first() else { continue };
            if live.len() >= capacity {
                continue;
            }
            let joining = more(capacity - live.len(), with).await;
            if joining.is_empty() {
                continue;
            }
            live.extend(joining.iter().map(|r| r.a.trial_id));
            let requests = Self::follow_all(joining, &mut follows);
            if let Err(stopped) = trainer.join(order_seed, requests) {
                tracing::error!("{stopped}");
            }
        }
    }

    /// Begins each run, its follow (which ends with its trial's id) pushed
    /// into `follows`; their requests.
    fn follow_all<'s>(
        runs: Vec<TrialRun<'s>>,
        follows: &mut FuturesUnordered<Pin<Box<dyn std::future::Future<Output = i64> + Send + 's>>>,
    ) -> Vec<Request> {
        let mut requests = Vec::with_capacity(runs.len());
        for run in runs {
            let (training, request, updates) = run.begin();
            requests.push(request);
            follows.push(Box::pin(async move {
                run.follow(training, updates).await;
                run.a.trial_id
            }));
        }
        requests
    }

    /// What the training thread is given for this trial, and where its
    /// progress arrives.
    fn begin(&self) -> (Training, Request, UnboundedReceiver<Progress>) {
        let training = Training {
            epochs: i64::from(self.a.params.epochs),
            pending: VecDeque::new(),
            unsent: Arc::default(),
            uploader: Arc::new(Uploader::new(self.checkpoint.clone())),
            stop: Arc::default(),
            lost: Arc::default(),
            contact: Arc::new(Contact::new(Duration::from_millis(self.a.lease_ms))),
        };
        let (progress, updates) = tokio::sync::mpsc::unbounded_channel();
        let request = Request {
            params: self.a.params.clone(),
            seed: self.a.seed,
            sweep_seed: self.a.sweep_seed,
            epochs_done: self.a.epochs_done,
            data: self.data.clone(),
            stop: training.stop.clone(),
            progress,
            checkpoint: self.checkpoint.clone(),
        };
        (training, request, updates)
    }

    /// Answers the training thread's progress on this trial until it ends.
    #[tracing::instrument(name = "train", skip_all, fields(trial_id = self.a.trial_id))]
    async fn follow(&self, mut training: Training, mut updates: UnboundedReceiver<Progress>) {
        let _renewing = self.keep_lease(&training);
        let uploading = self.upload_checkpoints(&training);
        while let Some(update) = updates.recv().await {
            match update {
                Progress::Start(epoch, shuffle, answer) => {
                    self.on_start(&training, epoch, shuffle, answer).await
                }
                Progress::Sample {
                    sample,
                    batch,
                    batches,
                } => self.on_sample(&training, &sample, batch, batches).await,
                Progress::Epoch(report, samples, answer) => {
                    self.on_epoch(&mut training, report, samples, answer).await
                }
                Progress::Done(result) => {
                    // Nothing more to upload unless handing back, which
                    // sends the last one itself.
                    drop(uploading);
                    return self.done(&mut training, result).await;
                }
            }
        }
        self.fail(&training, "the training thread stopped".to_string())
            .await
    }

    /// Renews the lease in a task of its own, so that neither a long epoch
    /// nor a slow call of the training loop can starve it; stopped when
    /// the returned guard drops.
    fn keep_lease(&self, training: &Training) -> AbortOnDrop {
        let (remote, a) = (self.remote.clone(), Arc::new(self.a.clone()));
        let renew_once = move || {
            let (remote, a) = (remote.clone(), a.clone());
            async move { remote.renew(&a).await }
        };
        AbortOnDrop(tokio::spawn(renew(
            self.a.trial_id,
            training.contact.clone(),
            renew_once,
            training.stop.clone(),
            training.lost.clone(),
        )))
    }

    /// Uploads each new checkpoint the training thread writes, once the
    /// server has every report up to it, in a task of its own.
    fn upload_checkpoints(&self, training: &Training) -> AbortOnDrop {
        let (remote, a) = (self.remote.clone(), self.a.clone());
        let (uploader, unsent) = (training.uploader.clone(), training.unsent.clone());
        let (lost, stop, contact) = (
            training.lost.clone(),
            training.stop.clone(),
            training.contact.clone(),
        );
        AbortOnDrop(tokio::spawn(async move {
            loop {
                tokio::time::sleep(UPLOAD_EVERY).await;
                if lost.load(Ordering::Relaxed) {
                    return;
                }
                if unsent.load(Ordering::Relaxed) > 0 {
                    continue;
                }
                match uploader.sync(&remote, &a).await {
                    Ok(true) => contact.touch(),
                    Ok(false) => {}
                    Err(CallError::LeaseLost) => {
                        lost.store(true, Ordering::Relaxed);
                        stop.store(true, Ordering::Relaxed);
                        return;
                    }
                    // The next look tries again.
                    Err(e) => tracing::debug!(trial = a.trial_id, "uploading the checkpoint: {e}"),
                }
            }
        }))
    }

    /// Training starts after `epoch` (0: from scratch): the trial's reports
    /// are rewound to it on the server, and the thread told whether to go on.
    async fn on_start(
        &self,
        training: &Training,
        epoch: i64,
        shuffle: Option<Shuffle>,
        answer: mpsc::SyncSender<Control>,
    ) {
        if let Some(Shuffle { seed, offset }) = shuffle {
            // The batch order it trains on in its group: trained alone on
            // it (`Job::shuffle`), the trial trains as it does here.
            let trial = self.a.trial_id;
            tracing::info!(trial, seed, offset, "trains in a fused group");
        }
        let rewound = self
            .call(training, "rewinding to the checkpoint", || {
                self.remote.rewind(&self.a, epoch)
            })
            .await;
        let control = match rewound {
            Ok(_) if training.held() => Control::Continue,
            Ok(_) => Control::Stop,
            Err(e) => {
                self.given_up(training, "rewinding to the checkpoint", &e);
                Control::Stop
            }
        };
        if epoch > 0 {
            let trial = self.a.trial_id;
            tracing::info!(trial, epoch, "resumed from the checkpoint");
        }
        // No receiver: the training thread has already ended the trial.
        let _ = answer.send(control);
    }

    /// A training-loss sample: an event for watchers, sent once and only
    /// while no report waits, and the way a worker learns early that its
    /// trial was cancelled.
    async fn on_sample(&self, training: &Training, sample: &BatchLoss, batch: i64, batches: i64) {
        if !training.held() || !training.pending.is_empty() {
            return;
        }
        let data = json!({
            "number": self.a.number, "epoch": sample.epoch, "epochs": training.epochs,
            "step": sample.step, "batch": batch, "batches": batches, "loss": sample.loss,
        });
        match self.remote.progress(&self.a, &data).await {
            Ok(()) => training.contact.touch(),
            Err(CallError::LeaseLost) => training.drop_trial(),
            // Progress is for watchers only: none is kept while the server
            // cannot take it.
            Err(_) => {}
        }
    }

    /// An epoch's report: sent (with any that wait before it), the
    /// server's decision taken, and the thread told what next.
    async fn on_epoch(
        &self,
        training: &mut Training,
        report: EpochReport,
        samples: Vec<BatchLoss>,
        answer: mpsc::SyncSender<Control>,
    ) {
        let epoch = report.epoch;
        let mut control = Control::Stop;
        if training.held() {
            if training.pending.is_empty() {
                // The server has every report before this one: the
                // checkpoint before it goes up first, so that an epoch is
                // reported only once the server can resume from the one
                // before (as a local disk once guaranteed).
                match training.uploader.sync(self.remote, &self.a).await {
                    Ok(_) => {}
                    Err(CallError::LeaseLost) => training.drop_trial(),
                    // It waits for the next try; the report may go on.
                    Err(e) => {
                        tracing::debug!(trial = self.a.trial_id, "uploading the checkpoint: {e}")
                    }
                }
            }
            training.pending.push_back((report, samples));
            training
                .unsent
                .store(training.pending.len(), Ordering::Relaxed);
            let started = std::time::Instant::now();
            let decided = self.deliver(training).await;
            tracing::debug!(
                trial = self.a.trial_id,
                epoch,
                micros = started.elapsed().as_micros() as u64,
                "epoch judged and reported"
            );
            control = match decided {
                Some(Decision::Stop) | None => Control::Stop,
                Some(Decision::Finish) => Control::Finish,
                Some(Decision::Continue) if epoch < training.epochs && self.draining() => {
                    Control::Suspend
                }
                Some(Decision::Continue) => Control::Continue,
            };
        }
        if control == Control::Stop {
            training.lost.store(true, Ordering::Relaxed);
        }
        // No receiver: the training thread has already ended the trial.
        let _ = answer.send(control);
    }

    /// Sends the waiting reports in order, each once. The decision on the
    /// last one sent; `Continue` when some still wait because the server
    /// cannot be reached (training goes on meanwhile); None when the lease
    /// is lost.
    #[tracing::instrument(name = "report", skip_all, fields(trial_id = self.a.trial_id))]
    async fn deliver(&self, training: &mut Training) -> Option<Decision> {
        let mut decision = Decision::Continue;
        while let Some((report, samples)) = training.pending.front() {
            match self.remote.report(&self.a, report, samples).await {
                Ok(decided) => {
                    training.contact.touch();
                    training.pending.pop_front();
                    training
                        .unsent
                        .store(training.pending.len(), Ordering::Relaxed);
                    decision = decided;
                    if decided != Decision::Continue {
                        // Stopped or finished: what may wait after it is moot.
                        training.pending.clear();
                        training.unsent.store(0, Ordering::Relaxed);
                        return Some(decided);
                    }
                }
                Err(CallError::LeaseLost) => {
                    self.given_up(training, "reporting an epoch", &CallError::LeaseLost);
                    return None;
                }
                Err(e @ CallError::Unreachable(_)) => {
                    if training.contact.out_of_touch() {
                        self.given_up(training, "reporting an epoch", &e);
                        return None;
                    }
                    let waiting = training.pending.len();
                    tracing::warn!(
                        trial = self.a.trial_id,
                        waiting,
                        "reporting an epoch: {e}; training goes on, the reports wait"
                    );
                    return Some(Decision::Continue);
                }
                Err(e) => {
                    // A report the server will never take: it is dropped
                    // rather than kept blocking those behind it.
                    tracing::error!(
                        trial = self.a.trial_id,
                        epoch = report.epoch,
                        "the server refused a report: {e}"
                    );
                    training.pending.pop_front();
                    training
                        .unsent
                        .store(training.pending.len(), Ordering::Relaxed);
                }
            }
        }
        Some(decision)
    }

    /// Delivers every waiting report, trying again while the server cannot
    /// be reached and the lease may still hold; whether all got through.
    pub(super) async fn deliver_all(&self, training: &mut Training) -> bool {
        loop {
            match self.deliver(training).await {
                None => return false,
                Some(Decision::Continue) if !training.pending.is_empty() => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Some(Decision::Continue) => return true,
                // The server ended the trial (pruned or the sweep done).
                Some(_) => return false,
            }
        }
    }

    /// A call made again while the server cannot be reached and the lease
    /// may still hold.
    pub(super) async fn call<T, F, W>(
        &self,
        training: &Training,
        what: &str,
        call: W,
    ) -> Result<T, CallError>
    where
        W: FnMut() -> F,
        F: std::future::Future<Output = Result<T, CallError>>,
    {
        persist(self.a.trial_id, what, &training.contact, call).await
    }

    /// The lease is taken for lost after `e`: nothing more is sent.
    pub(super) fn given_up(&self, training: &Training, what: &str, e: &CallError) {
        let trial = self.a.trial_id;
        match e {
            CallError::LeaseLost => {
                tracing::info!(trial, "{what}: not recorded, the lease was lost meanwhile")
            }
            e => tracing::warn!(trial, "{what}: {e}; the lease is taken for lost"),
        }
        training.drop_trial();
    }

    fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// A file's length and modification time: whether it changed.
type Stamp = (u64, SystemTime);

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// Sends a trial's checkpoint file to the server each time it changes,
/// one upload at a time.
pub(super) struct Uploader {
    path: PathBuf,
    /// The file as last sent (or as found when training started: what the
    /// server already has, downloaded or kept from an earlier attempt).
    sent: tokio::sync::Mutex<Option<Stamp>>,
}

impl Uploader {
    fn new(path: PathBuf) -> Uploader {
        let sent = tokio::sync::Mutex::new(stamp(&path));
        Uploader { path, sent }
    }

    /// Uploads the file if it changed since it was last sent; whether it did.
    pub async fn sync(&self, remote: &Remote, a: &Assignment) -> Result<bool, CallError> {
        let mut sent = self.sent.lock().await;
        let now = stamp(&self.path);
        if now.is_none() || now == *sent {
            return Ok(false);
        }
        upload(remote, a, &self.path).await?;
        *sent = now;
        Ok(true)
    }
}

/// Uploads the checkpoint file at `path` for the attempt.
async fn upload(remote: &Remote, a: &Assignment, path: &std::path::Path) -> Result<(), CallError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| CallError::Refused {
            status: 0,
            message: format!("{}: {e}", path.display()),
        })?;
    remote.upload_checkpoint(a, bytes).await
}
