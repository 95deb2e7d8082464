//! Training a fused group (`fused.rs`) as `train_on` trains one trial: the
//! members share each epoch's batches, and each is otherwise a trial of its
//! own, with its own epochs (a member resumed from its checkpoint is ahead
//! of a fresh one), reports, answers, checkpoint and end. A member leaves
//! the group as soon as it ends (pruned, finished, diverged, stopped), its
//! slices removed, and its listener hears how it ended at once, not when
//! the group ends.
//!
//! The batch order is the group's: each group epoch's shuffle is seeded by
//! the group's `order_seed` and the group epoch. Dropout masks are each
//! member's own (`dropout.rs`). So a member trained alone on the same
//! batches trains as in the group, within float rounding (`fused.rs`).
use super::checkpoint::{self, Checkpoint};
use super::fused::{Group, Member, Shape};
use super::{error, Control, Job, Outcome, Shuffle, TestSet, TrainError};
use crate::data::tensors::Split;
use crate::report::{BatchLoss, EpochReport};
use std::sync::atomic::Ordering;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Who hears of one member's progress: what `Listener` hears of a lone
/// trial, with the epoch's question in two halves, so that the group tells
/// every member its report before it waits for any answer, and the end.
pub trait MemberListener {
    /// Training starts after `epoch` (0: from scratch, else resumed from
    /// the member's checkpoint); `Stop` ends it before any batch.
    /// `shuffle` is the batch order it trains on from then on: trained
    /// alone on it, the member trains as in the group.
    fn on_start(&mut self, epoch: i64, shuffle: Shuffle) -> Control;
    /// A training-loss sample, taken after `batch` of the epoch's `batches`.
    fn on_sample(&mut self, sample: &BatchLoss, batch: i64, batches: i64);
    /// An epoch ended; `answer` waits for what the listener wants next.
    fn tell_epoch(&mut self, report: EpochReport, samples: Vec<BatchLoss>);
    /// The answer to the epoch last told.
    fn answer(&mut self) -> Control;
    /// The member has left the group: how its training ended. Called once.
    fn on_end(&mut self, result: Result<Outcome, TrainError>);
}

/// One member to train: its job (its own seed, stop flag, checkpoint) and
/// who hears of it.
pub struct GroupMember<'a> {
    pub job: Job<'a>,
    pub listener: &'a mut dyn MemberListener,
}

/// Trains `members` as one group on `device`, telling each member's
/// listener of its progress and of its end (every member's `on_end` is
/// called exactly once). Members must share the network's shape, the
/// optimizer's kind and the batch size; one that differs from the first
/// ends at once with `InvalidConfiguration`. A failure of libtorch ends
/// every member still in the group with it.
pub fn train_group_on(
    device: Device,
    order_seed: u64,
    members: &mut [GroupMember],
    split: &Split,
    test: &TestSet,
    classes: i64,
) {
    let mut ended = vec![false; members.len()];
    if let Err(e) = super::device::check(device) {
        return end_all(members, &mut ended, &e.into());
    }
    let run = error::guard(|| {
        run(
            device,
            order_seed,
            &mut *members,
            &mut ended,
            split,
            test,
            classes,
        )
    });
    if let Err(e) = run {
        end_all(members, &mut ended, &e);
    }
}

/// Ends every member not ended yet with `e`.
fn end_all(members: &mut [GroupMember], ended: &mut [bool], e: &TrainError) {
    for (m, done) in members.iter_mut().zip(ended.iter_mut()) {
        if !std::mem::replace(done, true) {
            m.listener.on_end(Err(duplicate(e)));
        }
    }
}

/// The same error again, for another member.
pub(super) fn duplicate(e: &TrainError) -> TrainError {
    match e {
        TrainError::OutOfMemory(m) => TrainError::OutOfMemory(m.clone()),
        TrainError::InvalidConfiguration { field, problem } => TrainError::InvalidConfiguration {
            field: field.clone(),
            problem: problem.clone(),
        },
        TrainError::Data(d) => TrainError::InvalidConfiguration {
            field: "dataset".into(),
            problem: d.to_string(),
        },
        TrainError::BadCheckpoint(m) => TrainError::BadCheckpoint(m.clone()),
        TrainError::CheckpointNotWritten(m) => TrainError::CheckpointNotWritten(m.clone()),
        TrainError::Torch(m) => TrainError::Torch(m.clone()),
    }
}

/// A member in the group: where it stands.
struct Live {
    /// Its index in the caller's `members`.
    at: usize,
    /// The last epoch it trained.
    epoch: i64,
    step: i64,
    /// Its training-loss samples' running window, and this epoch's sum.
    window: (f64, i64),
    loss_sum: f64,
    samples: Vec<BatchLoss>,
}

/// The members in the group, in the group's order, and what to tell each.
struct Roster<'m, 'a> {
    members: &'m mut [GroupMember<'a>],
    ended: &'m mut [bool],
    live: Vec<Live>,
}

impl Roster<'_, '_> {
    /// Member `at` ends: it is told how.
    fn end(&mut self, at: usize, result: Result<Outcome, TrainError>) {
        if !std::mem::replace(&mut self.ended[at], true) {
            self.members[at].listener.on_end(result);
        }
    }

    /// The members at the group's `indices` leave it, each told its result.
    fn leave(
        &mut self,
        group: &mut Group,
        mut leaving: Vec<(usize, Result<Outcome, TrainError>)>,
    ) -> Result<(), TrainError> {
        // From the back, so that the indices still hold.
        leaving.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
        for (index, result) in leaving {
            let live = self.live.remove(index);
            if group.members() > 1 {
                group.remove(index as i64)?;
            }
            self.end(live.at, result);
        }
        Ok(())
    }

    fn job(&self, l: &Live) -> &Job<'_> {
        &self.members[l.at].job
    }
}

fn run(
    device: Device,
    order_seed: u64,
    members: &mut [GroupMember],
    ended: &mut [bool],
    split: &Split,
    test: &TestSet,
    classes: i64,
) -> Result<(), TrainError> {
    let mut roster = Roster {
        members,
        ended,
        live: Vec::new(),
    };
    // Members that cannot join end now; the first decides the shape.
    let first = roster.members.first().map(|m| {
        let p = m.job.params;
        (Shape::of(p), p.batch_size)
    });
    for at in 0..roster.members.len() {
        let p = roster.members[at].job.params;
        let fits = match super::check(p) {
            Err(e) => Err(e),
            Ok(()) if Some((Shape::of(p), p.batch_size)) != first => {
                Err(TrainError::InvalidConfiguration {
                    field: "group".into(),
                    problem: "its network shape, optimizer or batch size differs from the group's"
                        .into(),
                })
            }
            Ok(()) => Ok(()),
        };
        match fits {
            Ok(()) => roster.live.push(Live {
                at,
                epoch: 0,
                step: 0,
                window: (0.0, 0),
                loss_sum: 0.0,
                samples: Vec::new(),
            }),
            Err(e) => roster.end(at, Err(e)),
        }
    }
    if roster.live.is_empty() {
        return Ok(());
    }
    let split = &split.to_device(device);
    let (test_x, test_y) = (test.x.to_device(device), test.y.to_device(device));
    // Each member's checkpoint, where it has one it may resume from.
    let resumes: Vec<Option<Checkpoint>> = roster
        .live
        .iter()
        .map(|l| resumable(roster.job(l)))
        .collect();
    let list: Vec<Member> = roster
        .live
        .iter()
        .zip(&resumes)
        .map(|(l, resume)| {
            let job = roster.job(l);
            Member {
                params: job.params,
                seed: job.seed,
                resume: resume.as_ref(),
            }
        })
        .collect();
    let (mut group, starts) = Group::new(&list, split.features(), classes, device)?;
    drop(list);
    for (l, (epoch, step)) in roster.live.iter_mut().zip(starts) {
        (l.epoch, l.step) = (epoch, step);
    }
    // Dropped on return, after the last checkpoints are written.
    let mut saver = checkpoint::Saver::new();
    let mut leaving = Vec::new();
    for i in 0..roster.live.len() {
        let l = &roster.live[i];
        let at = l.at;
        // Its epoch e is group epoch e - start.
        let shuffle = Shuffle {
            seed: order_seed,
            offset: -l.epoch,
        };
        if roster.members[at].listener.on_start(l.epoch, shuffle) == Control::Stop {
            leaving.push((i, Ok(Outcome::Stopped)));
        }
    }
    roster.leave(&mut group, std::mem::take(&mut leaving))?;

    let n = split.train_len();
    let batch = i64::from(first.map_or(1, |f| f.1)).min(n);
    let batches = (n + batch - 1) / batch;
    let mut group_epoch = 0;
    while !roster.live.is_empty() {
        group_epoch += 1;
        let started = Instant::now();
        let shuffle = Shuffle {
            seed: order_seed,
            offset: 0,
        };
        tch::manual_seed(shuffle.epoch_seed(group_epoch));
        // Drawn on the CPU whatever the device, as a lone trial's.
        let order = Tensor::randperm(n, (Kind::Int64, Device::Cpu)).to_device(device);
        let rows = split.train_rows.index_select(0, &order);
        for l in &mut roster.live {
            (l.loss_sum, l.samples) = (0.0, Vec::new());
        }
        let mut start = 0;
        while start < n {
            for (i, l) in roster.live.iter().enumerate() {
                if roster.job(l).stop.load(Ordering::Relaxed) {
                    leaving.push((i, Ok(Outcome::Stopped)));
                }
            }
            roster.leave(&mut group, std::mem::take(&mut leaving))?;
            if roster.live.is_empty() {
                return Ok(());
            }
            let len = batch.min(n - start);
            let (x, y) = split.gather(&rows.narrow(0, start, len));
            let dropping: Vec<(u64, i64, f64)> = roster
                .live
                .iter()
                .map(|l| {
                    let job = roster.job(l);
                    (job.seed, l.epoch + 1, job.params.dropout)
                })
                .collect();
            let masks = group.dropout_masks(&dropping, start / batch, len)?;
            let losses = group.train_batch(&x, &y, &masks)?;
            let index = (start + len + batch - 1) / batch;
            for (i, loss) in losses.into_iter().enumerate() {
                let l = &mut roster.live[i];
                if !loss.is_finite() {
                    leaving.push((i, Ok(Outcome::Diverged { epoch: l.epoch + 1 })));
                    continue;
                }
                l.loss_sum += loss * len as f64;
                l.window = (l.window.0 + loss, l.window.1 + 1);
                l.step += 1;
                let every = i64::from(roster.members[l.at].job.batch_loss_every).max(1);
                if l.step % every == 0 {
                    let sample = BatchLoss {
                        step: l.step,
                        epoch: l.epoch + 1,
                        loss: l.window.0 / l.window.1 as f64,
                    };
                    roster.members[l.at]
                        .listener
                        .on_sample(&sample, index, batches);
                    l.samples.push(sample);
                    l.window = (0.0, 0);
                }
            }
            // A diverged member leaves before the next batch: its NaNs
            // reach no other member (they share no parameter), and cost
            // no more work.
            roster.leave(&mut group, std::mem::take(&mut leaving))?;
            if roster.live.is_empty() {
                return Ok(());
            }
            start += len;
        }
        let evaluated = group.evaluate(&split.val_x, &split.val_y)?;
        // Each epoch is reported once the previous checkpoints are on disk.
        let _ = saver.wait();
        let mut told = Vec::new();
        for (i, (val_loss, val_accuracy)) in evaluated.into_iter().enumerate() {
            let l = &mut roster.live[i];
            l.epoch += 1;
            if !val_loss.is_finite() {
                leaving.push((i, Ok(Outcome::Diverged { epoch: l.epoch })));
                continue;
            }
            let report = EpochReport {
                epoch: l.epoch,
                train_loss: l.loss_sum / n as f64,
                val_loss,
                val_accuracy,
                seconds: started.elapsed().as_secs_f64(),
            };
            let samples = std::mem::take(&mut l.samples);
            roster.members[l.at].listener.tell_epoch(report, samples);
            told.push(i);
        }
        let mut completing = Vec::new();
        let mut suspended = false;
        for i in told {
            let l = &roster.live[i];
            let member = &mut roster.members[l.at];
            let control = member.listener.answer();
            if matches!(control, Control::Continue | Control::Suspend) {
                if let Some(path) = member.job.checkpoint {
                    let state = group.member_state(i as i64, l.epoch, l.step)?;
                    saver.save_state(path, state);
                }
            }
            let last = l.epoch >= i64::from(member.job.params.epochs);
            match control {
                Control::Continue if !last => {}
                Control::Continue | Control::Finish => completing.push(i),
                Control::Stop => leaving.push((i, Ok(Outcome::Stopped))),
                Control::Suspend => {
                    suspended = true;
                    leaving.push((i, Ok(Outcome::Suspended)));
                }
            }
        }
        if suspended {
            // Another attempt resumes from it: it must be on disk first.
            let _ = saver.wait();
        }
        if !completing.is_empty() {
            let tested = group.evaluate(&test_x, &test_y)?;
            for i in completing {
                let (test_loss, test_accuracy) = tested[i];
                leaving.push((
                    i,
                    Ok(Outcome::Completed {
                        test_loss,
                        test_accuracy,
                    }),
                ));
            }
        }
        roster.leave(&mut group, std::mem::take(&mut leaving))?;
    }
    Ok(())
}

/// The job's checkpoint when it can be read and is not past `resume_upto`;
/// None otherwise (a bad one is told in the log: it costs its epochs).
fn resumable(job: &Job) -> Option<Checkpoint> {
    let path = job.checkpoint.filter(|_| job.resume_upto > 0)?;
    match checkpoint::load(path) {
        Ok(Some(c)) if c.epoch <= job.resume_upto => Some(c),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("not resuming: {e}");
            None
        }
    }
}

#[cfg(test)]
#[path = "grouped_tests.rs"]
mod tests;
