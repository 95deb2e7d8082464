//! Training one trial with libtorch: the model, the optimizers, and the loop
//! that reports each epoch. Runs on a plain thread that owns its tensors;
//! never on the async executor.
//!
//! # Devices
//! A trial trains on one device, the CPU or a CUDA GPU ([`DeviceChoice`]
//! resolves the worker's `--device`). The device belongs to the training
//! thread, not to a trial: [`Datasets::on`] makes a thread's datasets for
//! one device, moves each dataset there once when it is first read (not per
//! batch, not per trial) and trains every trial there; [`Datasets::new`] is
//! the CPU. [`train_on`] is the loop on a device; [`train`] the loop on the
//! CPU. The weights are initialised on the CPU and then moved, so a seed
//! starts from the same weights on every device, and each epoch's shuffle
//! is drawn on the CPU for the same reason. Checkpoints are written from CPU
//! copies and read onto the training device: one written on a GPU resumes
//! on the CPU, and the other way round. On the CPU every result is bit for
//! bit what it was before devices existed. libtorch decides whether it has
//! CUDA once, at its first question (a seed counts): a process that trains
//! on a GPU resolves its device ([`DeviceChoice::resolve`],
//! [`cuda_devices`]) before anything trains.
pub mod checkpoint;
mod datasets;
mod device;
mod dropout;
mod error;
mod evaluate;
pub mod fused;
pub mod grouped;
mod model;
mod optim;

pub use datasets::Datasets;
pub use device::{check as check_device, cuda_devices, device_name, DeviceChoice, DeviceError};
pub use error::TrainError;
pub use evaluate::evaluate;
pub use model::Mlp;
pub use optim::Optimizer;

use crate::data::tensors::Split;
use crate::report::{BatchLoss, EpochReport};
use crate::spec::TrialParams;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tch::nn;
use tch::{Device, Kind, Tensor};

/// What a trial trains with.
pub struct Job<'a> {
    pub params: &'a TrialParams,
    /// Seeds the initial weights, the shuffling and dropout.
    pub seed: u64,
    /// A training-loss sample every this many batches.
    pub batch_loss_every: u32,
    /// Set from outside to stop the trial at the next batch.
    pub stop: &'a AtomicBool,
    /// Where the state is saved after each epoch, and resumed from.
    pub checkpoint: Option<&'a Path>,
    /// The last epoch the caller has a report of: a checkpoint past it is
    /// not resumed from (the caller's record is the truth).
    pub resume_upto: i64,
    /// The batch order to train on; None: the trial's own (its seed).
    pub shuffle: Option<Shuffle>,
}

/// A batch order: epoch `e` is shuffled as epoch `e + offset` of a run
/// seeded by `seed`. A trial alone trains on `Shuffle { seed: its seed,
/// offset: 0 }`; a member of a fused group on the group's order, from the
/// group epoch it joined at, and is trained alone on it again by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shuffle {
    pub seed: u64,
    pub offset: i64,
}

impl Shuffle {
    /// The seed of epoch `epoch`'s shuffle.
    pub fn epoch_seed(self, epoch: i64) -> i64 {
        epoch_seed(self.seed, epoch + self.offset)
    }
}

/// The held-out test images, evaluated once when a trial completes.
pub struct TestSet<'a> {
    pub x: &'a Tensor,
    pub y: &'a Tensor,
}

/// What the caller wants after an epoch report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Train the next epoch.
    Continue,
    /// Stop now (pruned, cancelled, or the lease was lost).
    Stop,
    /// Stop training and finish: evaluate the test set and complete.
    Finish,
    /// Save the checkpoint, then stop: another attempt resumes from it.
    Suspend,
}

/// Who hears of a trial's progress while it trains.
pub trait Listener {
    /// Training starts after `epoch` (0: from scratch, else resumed from
    /// its checkpoint); `Stop` ends it before any batch.
    fn on_start(&mut self, epoch: i64) -> Control;
    /// A training-loss sample, taken after `batch` of the epoch's `batches`.
    fn on_sample(&mut self, sample: &BatchLoss, batch: i64, batches: i64);
    /// An epoch ended; the answer decides whether training goes on.
    fn on_epoch(&mut self, report: EpochReport, samples: Vec<BatchLoss>) -> Control;
}

/// How a training run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every epoch trained; loss and accuracy on the test set.
    Completed { test_loss: f64, test_accuracy: f64 },
    /// The loss became NaN or infinite in this epoch.
    Diverged { epoch: i64 },
    /// `Job::stop` was set, or the listener said stop.
    Stopped,
    /// Stopped after saving a checkpoint, to be resumed.
    Suspended,
}

/// Sets how many threads libtorch's operations use, for the whole process.
pub fn set_threads(threads: usize) {
    tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
}

/// Trains a network on `split` (fresh, or resumed from the job's checkpoint),
/// telling `listener` of each training-loss sample and, after each epoch, of
/// its report; the listener's answer decides whether training goes on. Each
/// epoch's shuffling is seeded by the trial's seed and the epoch, each
/// batch's dropout by those and the batch (`dropout.rs`), so a resumed trial
/// trains exactly as an uninterrupted one would.
/// A failure, libtorch's included, is an error, never a panic. On the CPU:
/// [`train_on`] with `Device::Cpu`.
pub fn train(
    job: &Job,
    split: &Split,
    test: &TestSet,
    classes: i64,
    listener: &mut impl Listener,
) -> Result<Outcome, TrainError> {
    train_on(Device::Cpu, job, split, test, classes, listener)
}

/// [`train`] on `device`: the network, the optimizer's state and every
/// batch live there. `split` and `test` are best there already (as
/// [`Datasets::on`] keeps them); tensors elsewhere are copied there once,
/// for this trial. A device that is not there (`cuda:1` on a machine with
/// one GPU, or none) is `TrainError::InvalidConfiguration` on `device`.
pub fn train_on(
    device: Device,
    job: &Job,
    split: &Split,
    test: &TestSet,
    classes: i64,
    listener: &mut impl Listener,
) -> Result<Outcome, TrainError> {
    device::check(device)?;
    error::guard(|| train_unguarded(device, job, split, test, classes, listener))
}

/// The configuration's values that cannot be trained. Specs are range-checked
/// when submitted; a row stored before they were (batch sizes of 2^32 became
/// 0) must fail its trial, not divide by zero.
fn check(params: &TrialParams) -> Result<(), TrainError> {
    let invalid = |field: String| TrainError::InvalidConfiguration {
        field,
        problem: "must be at least 1, got 0".into(),
    };
    if params.batch_size == 0 {
        return Err(invalid("batch_size".into()));
    }
    if let Some(i) = params.hidden_layers.iter().position(|&w| w == 0) {
        return Err(invalid(format!("hidden_layers[{i}]")));
    }
    Ok(())
}

/// `train_on`, where libtorch may still panic.
fn train_unguarded(
    device: Device,
    job: &Job,
    split: &Split,
    test: &TestSet,
    classes: i64,
    listener: &mut impl Listener,
) -> Result<Outcome, TrainError> {
    check(job.params)?;
    // No copies where they are there already.
    let split = &split.to_device(device);
    let (test_x, test_y) = (test.x.to_device(device), test.y.to_device(device));
    tch::manual_seed(job.seed as i64);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let features = split.features();
    let net = Mlp::new(&vs.root(), job.params, features, classes)?;
    if device != Device::Cpu {
        // Drawn on the CPU and moved, in place (the network's layers share
        // the variables): the same seed starts from the same weights.
        vs.set_device(device);
    }
    let mut optimizer = Optimizer::new(&vs, job.params)?;
    let (first, mut step) = resume(device, job, &mut vs, &mut optimizer)?;
    // Dropped on return, after the last checkpoint is written: nothing is
    // written for a trial once its worker has heard it ended.
    let mut saver = checkpoint::Saver::new();
    if listener.on_start(first) == Control::Stop {
        return Ok(Outcome::Stopped);
    }

    let n = split.train_len();
    let batch = i64::from(job.params.batch_size).min(n);
    let every = i64::from(job.batch_loss_every);
    let batches = (n + batch - 1) / batch;
    let (mut window_sum, mut window_len) = (0.0, 0i64);
    for epoch in first + 1..=i64::from(job.params.epochs) {
        let started = Instant::now();
        let shuffle = job.shuffle.unwrap_or(Shuffle {
            seed: job.seed,
            offset: 0,
        });
        tch::manual_seed(shuffle.epoch_seed(epoch));
        // Drawn on the CPU whatever the device: the same order everywhere.
        let order = Tensor::randperm(n, (Kind::Int64, Device::Cpu)).to_device(device);
        // The epoch's rows in shuffled order; each batch gathers its own
        // images, so no shuffled copy of the whole set is ever made.
        let rows = split.train_rows.index_select(0, &order);
        let mut samples = Vec::new();
        let mut loss_sum = 0.0;
        let mut start = 0;
        while start < n {
            if job.stop.load(Ordering::Relaxed) {
                return Ok(Outcome::Stopped);
            }
            let len = batch.min(n - start);
            let (x, y) = split.gather(&rows.narrow(0, start, len));
            let masks = dropout::masks(
                job.seed,
                epoch,
                start / batch,
                job.params.dropout,
                len,
                &job.params.hidden_layers,
                device,
            )?;
            let loss = net.f_forward_masked(&x, &masks)?.f_nll_loss::<Tensor>(
                &y,
                None,
                tch::Reduction::Mean,
                -100,
            )?;
            optimizer.backward_step(&loss)?;
            let loss = loss.double_value(&[]);
            if !loss.is_finite() {
                return Ok(Outcome::Diverged { epoch });
            }
            loss_sum += loss * len as f64;
            (window_sum, window_len) = (window_sum + loss, window_len + 1);
            step += 1;
            if start == 0 && epoch == first + 1 {
                tracing::debug!(epoch, "first batch trained");
            }
            if step % every == 0 {
                let sample = BatchLoss {
                    step,
                    epoch,
                    loss: window_sum / window_len as f64,
                };
                listener.on_sample(&sample, (start + len + batch - 1) / batch, batches);
                samples.push(sample);
                (window_sum, window_len) = (0.0, 0);
            }
            start += len;
        }
        let (val_loss, val_accuracy) = evaluate(&net, &split.val_x, &split.val_y)?;
        if !val_loss.is_finite() {
            return Ok(Outcome::Diverged { epoch });
        }
        let report = EpochReport {
            epoch,
            train_loss: loss_sum / n as f64,
            val_loss,
            val_accuracy,
            seconds: started.elapsed().as_secs_f64(),
        };
        // The epoch is reported once the previous checkpoint is on disk
        // (long since, as a rule), so a crash after the report costs at
        // most this epoch, however slow the disk. A failed write was logged
        // and costs nothing but epochs after a crash: training goes on.
        let _ = saver.wait();
        let control = listener.on_epoch(report, samples);
        if matches!(control, Control::Continue | Control::Suspend) {
            if let Some(path) = job.checkpoint {
                let saving = Instant::now();
                // Written in the background; without it a crash costs more
                // epochs, and training goes on either way.
                saver.save(path, epoch, step, &vs, &optimizer);
                if control == Control::Suspend {
                    // Another attempt resumes from it: it must be on disk.
                    // Without it (logged), that attempt starts afresh.
                    let _ = saver.wait();
                }
                let micros = saving.elapsed().as_micros() as u64;
                tracing::debug!(epoch, micros, "checkpoint handed over");
            }
        }
        match control {
            Control::Continue => {}
            Control::Stop => return Ok(Outcome::Stopped),
            Control::Suspend => return Ok(Outcome::Suspended),
            Control::Finish => break,
        }
    }
    let (test_loss, test_accuracy) = evaluate(&net, &test_x, &test_y)?;
    Ok(Outcome::Completed {
        test_loss,
        test_accuracy,
    })
}

/// The epoch and step to start after: the job's checkpoint when it can be
/// read, fits the network and is not past `resume_upto`; else (0, 0).
fn resume(
    device: Device,
    job: &Job,
    vs: &mut nn::VarStore,
    optimizer: &mut Optimizer,
) -> Result<(i64, i64), TrainError> {
    let Some(path) = job.checkpoint.filter(|_| job.resume_upto > 0) else {
        return Ok((0, 0));
    };
    let restored = checkpoint::load_on(path, device).and_then(|c| match c {
        Some(c) if c.epoch <= job.resume_upto => c.restore(vs, optimizer).map(|_| Some(c)),
        _ => Ok(None),
    });
    match restored {
        Ok(Some(c)) => Ok((c.epoch, c.step)),
        Ok(None) => Ok((0, 0)),
        // A bad checkpoint costs the epochs it held, not the trial.
        // `restore` checks before it copies: the fresh state is intact.
        Err(e @ TrainError::BadCheckpoint(_)) => {
            tracing::warn!("not resuming: {e}");
            Ok((0, 0))
        }
        Err(e) => Err(e),
    }
}

/// The seed of one epoch's shuffling.
fn epoch_seed(seed: u64, epoch: i64) -> i64 {
    (seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) as i64
}

/// Flushes denormal floats to zero on this thread (x86 FTZ and DAZ bits):
/// small weights otherwise slow some configurations down several times over.
pub fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads and writes only this thread's MXCSR register; FTZ/DAZ
    // change rounding of subnormal floats and nothing else.
    unsafe {
        let mut csr: u32 = 0;
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
        csr |= 0x8040;
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack));
    }
}

#[cfg(test)]
mod tests;
