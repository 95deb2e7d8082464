//! The worker's training thread: owns the datasets it has read (tensors are
//! not `Sync`), per folder they were found in, and trains one claimed trial
//! or one fused group of them at a time.
use super::data::Located;
use crate::data::catalog::Catalog;
use crate::report::{BatchLoss, EpochReport};
use crate::spec::TrialParams;
use crate::train::grouped::{GroupMember, Joiners, MemberListener};
use crate::train::{self, Control, Datasets, Job, Listener, Outcome, Shuffle, TrainError};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use tokio::sync::mpsc::UnboundedSender;

/// What the training thread tells the worker about a trial, in order.
#[derive(Debug)]
pub enum Progress {
    /// Training starts after this epoch (0: from scratch, else resumed from
    /// the checkpoint), on the group's batch order when in one; it waits
    /// for the answer on the sender.
    Start(i64, Option<Shuffle>, mpsc::SyncSender<Control>),
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

/// What the training thread is given: one trial, or a fused group.
enum Work {
    One(Request),
    /// Trials of one sweep that fuse, on a batch order seeded by `order_seed`.
    Group {
        order_seed: u64,
        members: Vec<Request>,
    },
    /// Trials that join the group training now at its next epoch boundary;
    /// a group of their own (on `order_seed`) when it has ended meanwhile.
    Join {
        order_seed: u64,
        members: Vec<Request>,
    },
}

/// Handle to the training thread.
pub struct Trainer {
    requests: mpsc::Sender<Work>,
}

impl Trainer {
    /// Starts the training thread.
    pub fn spawn(settings: Settings) -> std::io::Result<Trainer> {
        let (requests, inbox) = mpsc::channel::<Work>();
        std::thread::Builder::new()
            .name("trainer".into())
            .spawn(move || run(settings, inbox))?;
        Ok(Trainer { requests })
    }

    /// Queues a trial; its progress arrives on `request.progress`.
    pub fn submit(&self, request: Request) -> Result<(), TrainerStopped> {
        self.send(Work::One(request))
    }

    /// Adds trials that fuse with the group training now, at its next
    /// epoch boundary (see `Work::Join`).
    pub fn join(&self, order_seed: u64, members: Vec<Request>) -> Result<(), TrainerStopped> {
        self.send(Work::Join {
            order_seed,
            members,
        })
    }

    /// Queues trials that fuse, to train as one group; each member's
    /// progress arrives on its own `progress`, its end as soon as it leaves.
    pub fn submit_group(
        &self,
        order_seed: u64,
        members: Vec<Request>,
    ) -> Result<(), TrainerStopped> {
        self.send(Work::Group {
            order_seed,
            members,
        })
    }

    fn send(&self, work: Work) -> Result<(), TrainerStopped> {
        self.requests.send(work).map_err(|_| TrainerStopped)
    }
}

/// The training thread has stopped: it takes no more trials.
#[derive(Debug, thiserror::Error)]
#[error("the training thread has stopped")]
pub struct TrainerStopped;

fn run(settings: Settings, inbox: mpsc::Receiver<Work>) {
    train::set_threads(settings.threads);
    train::flush_denormals();
    // One set per folder: a shared one and the worker's cache.
    let mut datasets: HashMap<PathBuf, Datasets> = HashMap::new();
    // Work that came while a group trained, taken after it.
    let mut later: VecDeque<Work> = VecDeque::new();
    while let Some(work) = later.pop_front().or_else(|| inbox.recv().ok()) {
        let (order_seed, members) = match work {
            Work::One(request) => {
                let these = datasets_for(&mut datasets, &settings, &request);
                let result = train_one(&settings, these, &request);
                // No receiver: the worker gave the trial up and hears of it no more.
                let _ = request.progress.send(Progress::Done(result));
                continue;
            }
            Work::Group {
                order_seed,
                members,
            }
            | Work::Join {
                order_seed,
                members,
            } => (order_seed, members),
        };
        let Some(first) = members.first() else {
            continue;
        };
        let (name, sweep_seed) = (first.data.name.clone(), first.sweep_seed);
        let these = datasets_for(&mut datasets, &settings, first);
        let members = members.into_iter().map(|r| member(&settings, r)).collect();
        let mut joiners = Inbox {
            inbox: &inbox,
            later: &mut later,
            settings: &settings,
        };
        let fraction = settings.validation_fraction;
        these.train_group(
            &name,
            sweep_seed,
            fraction,
            order_seed,
            members,
            &mut joiners,
        );
    }
}

/// The datasets of the folder a request's dataset is in.
fn datasets_for<'d>(
    datasets: &'d mut HashMap<PathBuf, Datasets>,
    settings: &Settings,
    request: &Request,
) -> &'d mut Datasets {
    let root = request.data.root.clone();
    datasets
        .entry(root.clone())
        .or_insert_with(|| Datasets::on(Catalog::new(Some(root)), settings.device))
}

/// A request made a member of a fused group.
fn member(settings: &Settings, r: Request) -> GroupMember<'static> {
    GroupMember {
        params: r.params,
        seed: r.seed,
        batch_loss_every: settings.batch_loss_every,
        stop: r.stop,
        checkpoint: Some(r.checkpoint),
        resume_upto: r.epochs_done,
        listener: Box::new(MemberRelay {
            progress: r.progress,
            answer: None,
        }),
    }
}

/// The members that joined the running group: taken from the inbox at an
/// epoch boundary without waiting; other work waits for the group's end.
struct Inbox<'i> {
    inbox: &'i mpsc::Receiver<Work>,
    later: &'i mut VecDeque<Work>,
    settings: &'i Settings,
}

impl Joiners<'static> for Inbox<'_> {
    fn join(&mut self) -> Vec<GroupMember<'static>> {
        let mut joining = Vec::new();
        while let Ok(work) = self.inbox.try_recv() {
            match work {
                Work::Join { members, .. } => {
                    joining.extend(members.into_iter().map(|r| member(self.settings, r)))
                }
                other => self.later.push_back(other),
            }
        }
        joining
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
        self.ask(|answer| Progress::Start(epoch, None, answer))
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

/// Passes one fused member's progress to its trial's async side: the
/// epoch's answer waited for only after every member was told.
struct MemberRelay {
    progress: UnboundedSender<Progress>,
    answer: Option<mpsc::Receiver<Control>>,
}

impl MemberListener for MemberRelay {
    fn on_start(&mut self, epoch: i64, shuffle: Shuffle) -> Control {
        Relay(&self.progress).ask(|answer| Progress::Start(epoch, Some(shuffle), answer))
    }

    fn on_sample(&mut self, sample: &BatchLoss, batch: i64, batches: i64) {
        Relay(&self.progress).on_sample(sample, batch, batches)
    }

    fn tell_epoch(&mut self, report: EpochReport, samples: Vec<BatchLoss>) {
        let (answer, answered) = mpsc::sync_channel(1);
        // No receiver: the worker gave the trial up; the answer is `Stop`.
        let _ = self.progress.send(Progress::Epoch(report, samples, answer));
        self.answer = Some(answered);
    }

    fn answer(&mut self) -> Control {
        match self.answer.take() {
            Some(answered) => answered.recv().unwrap_or(Control::Stop),
            None => Control::Stop,
        }
    }

    fn on_end(&mut self, result: Result<Outcome, TrainError>) {
        // No receiver: the worker gave the trial up and hears of it no more.
        let _ = self.progress.send(Progress::Done(result));
    }
}
