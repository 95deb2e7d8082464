//! The worker's training thread: owns the datasets it has read (tensors are
//! not `Sync`) and trains one claimed trial at a time.
use crate::data::catalog::Catalog;
use crate::data::tensors::{Dataset, Split};
use crate::report::{BatchLoss, EpochReport};
use crate::spec::TrialParams;
use crate::store::Claim;
use crate::train::{self, Control, Job, Listener, Outcome, TestSet};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
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
    Done(Result<Outcome, String>),
}

/// One trial to train, with where to send its progress.
pub struct Request {
    pub claim: Claim,
    /// The configuration to train (the claim's, or one sampled for it).
    pub params: TrialParams,
    pub stop: Arc<AtomicBool>,
    pub progress: UnboundedSender<Progress>,
    /// The trial's checkpoint file.
    pub checkpoint: PathBuf,
}

/// Settings of the training thread.
#[derive(Clone)]
pub struct Settings {
    pub catalog: Catalog,
    pub threads: usize,
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
    pub fn submit(&self, request: Request) -> Result<(), String> {
        self.requests
            .send(request)
            .map_err(|_| "the training thread has stopped".to_string())
    }
}

fn run(settings: Settings, inbox: mpsc::Receiver<Request>) {
    tch::set_num_threads(settings.threads as i32);
    train::flush_denormals();
    let mut datasets = Datasets::new(settings.catalog.clone());
    for request in inbox {
        let progress = request.progress.clone();
        let result = catch_unwind(AssertUnwindSafe(|| {
            train_one(&settings, &mut datasets, &request)
        }))
        .unwrap_or_else(|panic| Err(panic_message(panic)));
        let _ = progress.send(Progress::Done(result));
    }
}

fn train_one(
    settings: &Settings,
    datasets: &mut Datasets,
    request: &Request,
) -> Result<Outcome, String> {
    let claim = &request.claim;
    let (dataset, split) = datasets.split(
        &claim.dataset,
        claim.sweep_seed,
        settings.validation_fraction,
    )?;
    let job = Job {
        params: &request.params,
        seed: claim.seed,
        batch_loss_every: settings.batch_loss_every,
        stop: &request.stop,
        checkpoint: Some(&request.checkpoint),
        resume_upto: claim.epochs_done,
    };
    let test = TestSet {
        x: &dataset.test_x,
        y: &dataset.test_y,
    };
    let classes = dataset.info.classes as i64;
    let mut listener = Relay(&request.progress);
    train::train(&job, split, &test, classes, &mut listener)
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

/// Datasets read once per worker process, and the last validation split made.
struct Datasets {
    catalog: Catalog,
    loaded: HashMap<String, Dataset>,
    split: Option<((String, u64), Split)>,
}

impl Datasets {
    /// Datasets kept in memory at once; more are read again when needed.
    const KEEP: usize = 2;

    fn new(catalog: Catalog) -> Datasets {
        Datasets {
            catalog,
            loaded: HashMap::new(),
            split: None,
        }
    }

    fn split(
        &mut self,
        name: &str,
        seed: u64,
        fraction: f64,
    ) -> Result<(&Dataset, &Split), String> {
        if !self.loaded.contains_key(name) {
            let raw = self.catalog.load(name).map_err(|e| e.to_string())?;
            if self.loaded.len() >= Self::KEEP {
                self.loaded.clear();
            }
            self.loaded.insert(name.to_string(), Dataset::from_raw(raw));
        }
        let dataset = &self.loaded[name];
        let key = (name.to_string(), seed);
        if self.split.as_ref().map(|(k, _)| k) != Some(&key) {
            self.split = None; // free the old split before making the new one
            self.split = Some((key, dataset.split(seed, fraction)));
        }
        let split = &self.split.as_ref().expect("split was just made").1;
        Ok((dataset, split))
    }
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    // libtorch's errors carry a C++ backtrace (its newlines escaped when the
    // error went through Debug): the first line says it all.
    let text = text.split("\\n").next().unwrap_or_default();
    let text = text.lines().next().unwrap_or_default();
    format!("training failed: {text}")
}
