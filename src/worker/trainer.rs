//! The worker's training thread: owns the datasets it has read (tensors are
//! not `Sync`), per folder they were found in, and trains one claimed trial
//! at a time.
use super::data::Located;
use crate::data::catalog::Catalog;
use crate::report::{BatchLoss, EpochReport};
use crate::spec::TrialParams;
use crate::train::{self, Control, Datasets, Job, Listener, Outcome, TrainError};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use tokio::sync::mpsc::UnboundedSender;

/// What the training thread tells the worker about a trial, in order.
#[derive(Debug)]
pub enum Progress {
    /// Training starts after this epoch (0: from scratch, else resumed from
    /// the checkpoint); it waits for the answer on the sender.
    Start(i64, mpsc::SyncSender<Control>),
    /// A training-loss sample, after `batch` of the epoch's `batches`.
    Sample {
        sample: BatchLoss,
        batch: i64,
        batches: i64,
    },
    /// An epoch's report; training waits for the answer on the sender.
    Epoch(EpochReport, Vec<BatchLoss>, mpsc::SyncSender<Control>),
    /// The trial ended; `Err` holds why it could not train.
    Done(Result<Outcome, TrainError>),
}

/// One trial to train, with where to send its progress.
pub struct Request {
    /// The configuration to train.
    pub params: TrialParams,
    /// The trial's seed (initialisation, shuffling, dropout).
    pub seed: u64,
    /// The sweep's seed, which fixes its validation split.
    pub sweep_seed: u64,
    /// Epochs the trial has reports of: a checkpoint up to it is resumed.
    pub epochs_done: i64,
    /// Where its dataset is read.
    pub data: Located,
    pub stop: Arc<AtomicBool>,
    pub progress: UnboundedSender<Progress>,
    /// The trial's checkpoint file.
    pub checkpoint: PathBuf,
}

/// Settings of the training thread.
#[derive(Clone)]
pub struct Settings {
    pub threads: usize,
    /// Where the model, its optimizer state and the data live.
    pub device: tch::Device,
    pub validation_fraction: f64,
    pub batch_loss_every: u32,
}

/// Handle to the training thread.
pub struct Trainer {
    requests: mpsc::Sender<Request>,
}

impl Trainer {
    /// Starts the training thread.
    pub fn spawn(settings: Settings) -> std::io::Result<Trainer> {
        let (requests, inbox) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("trainer".into())
            .spawn(move || run(settings, inbox))?;
        Ok(Trainer { requests })
    }

    /// Queues a trial; its progress arrives on `request.progress`.
    pub fn submit(&self, request: Request) -> Result<(), TrainerStopped> {
        self.requests.send(request).map_err(|_| TrainerStopped)
    }
}

/// The training thread has stopped: it takes no more trials.
#[derive(Debug, thiserror::Error)]
#[error("the training thread has stopped")]
pub struct TrainerStopped;

fn run(settings: Settings, inbox: mpsc::Receiver<Request>) {
    train::set_threads(settings.threads);
    train::flush_denormals();
    // One set per folder: a shared one and the worker's cache.
    let mut datasets: HashMap<PathBuf, Datasets> = HashMap::new();
    for request in inbox {
        let root = request.data.root.clone();
        let these = datasets
            .entry(root.clone())
            .or_insert_with(|| Datasets::on(Catalog::new(Some(root)), settings.device));
        let result = train_one(&settings, these, &request);
        // No receiver: the worker gave the trial up and hears of it no more.
        let _ = request.progress.send(Progress::Done(result));
    }
}

fn train_one(
    settings: &Settings,
    datasets: &mut Datasets,
    request: &Request,
) -> Result<Outcome, TrainError> {
    let job = Job {
        params: &request.params,
        seed: request.seed,
        batch_loss_every: settings.batch_loss_every,
        stop: &request.stop,
        checkpoint: Some(&request.checkpoint),
        resume_upto: request.epochs_done,
        shuffle: None,
    };
    let mut listener = Relay(&request.progress);
    datasets.train(
        &request.data.name,
        request.sweep_seed,
        settings.validation_fraction,
        &job,
        &mut listener,
    )
}

/// Passes training progress to the worker's async side.
struct Relay<'a>(&'a UnboundedSender<Progress>);

impl Relay<'_> {
    /// Sends what `wrap` makes of an answer channel and waits for the answer;
    /// no answer means the worker gave the trial up.
    fn ask(&self, wrap: impl FnOnce(mpsc::SyncSender<Control>) -> Progress) -> Control {
        let (answer, answered) = mpsc::sync_channel(1);
        if self.0.send(wrap(answer)).is_err() {
            return Control::Stop;
        }
        answered.recv().unwrap_or(Control::Stop)
    }
}

impl Listener for Relay<'_> {
    fn on_start(&mut self, epoch: i64) -> Control {
        self.ask(|answer| Progress::Start(epoch, answer))
    }

    fn on_sample(&mut self, sample: &BatchLoss, batch: i64, batches: i64) {
        // No receiver: the worker gave the trial up; its next answer stops it.
        let _ = self.0.send(Progress::Sample {
            sample: sample.clone(),
            batch,
            batches,
        });
    }

    fn on_epoch(&mut self, report: EpochReport, samples: Vec<BatchLoss>) -> Control {
        self.ask(|answer| Progress::Epoch(report, samples, answer))
    }
}
