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
use super::fused::{Group, Member};
use super::{error, Control, Outcome, Shuffle, TestSet, TrainError};
use crate::data::tensors::Split;
use crate::report::{BatchLoss, EpochReport};
use crate::spec::TrialParams;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

impl<L: MemberListener + ?Sized> MemberListener for &mut L {
    fn on_start(&mut self, epoch: i64, shuffle: Shuffle) -> Control {
        (**self).on_start(epoch, shuffle)
    }
    fn on_sample(&mut self, sample: &BatchLoss, batch: i64, batches: i64) {
        (**self).on_sample(sample, batch, batches)
    }
    fn tell_epoch(&mut self, report: EpochReport, samples: Vec<BatchLoss>) {
        (**self).tell_epoch(report, samples)
    }
    fn answer(&mut self) -> Control {
        (**self).answer()
    }
    fn on_end(&mut self, result: Result<Outcome, TrainError>) {
        (**self).on_end(result)
    }
}

/// One member to train, owned by the group while it trains: its
/// configuration, seed, stop flag and checkpoint, and who hears of it.
pub struct GroupMember<'a> {
    pub params: TrialParams,
    /// Seeds its initial weights and its dropout masks.
    pub seed: u64,
    /// A training-loss sample every this many batches.
    pub batch_loss_every: u32,
    /// Set from outside to stop it at the next batch.
    pub stop: Arc<AtomicBool>,
    /// Where its state is saved after each epoch, and resumed from.
    pub checkpoint: Option<PathBuf>,
    /// The last epoch the caller has a report of (see `Job::resume_upto`).
    pub resume_upto: i64,
    pub listener: Box<dyn MemberListener + 'a>,
}

/// Members that join a running group, asked for at each epoch boundary.
pub trait Joiners<'a> {
    /// Members to take in now (none: the group goes on as it is).
    fn join(&mut self) -> Vec<GroupMember<'a>>;
}

/// No member ever joins.
pub struct NoJoiners;

impl<'a> Joiners<'a> for NoJoiners {
    fn join(&mut self) -> Vec<GroupMember<'a>> {
        Vec::new()
    }
}

/// Trains `members` as one group on `device`, telling each member's
/// listener of its progress and of its end (every member's `on_end` is
/// called exactly once, joiners' too). Members must share the network's
/// shape, the optimizer's kind and the batch size; one that differs from
/// the first ends at once with `InvalidConfiguration`. At each epoch
/// boundary `joiners` may add members, which start the next group epoch.
/// A failure of libtorch ends every member still in the group with it.
pub fn train_group_on<'a>(
    device: Device,
    order_seed: u64,
    members: Vec<GroupMember<'a>>,
    joiners: &mut dyn Joiners<'a>,
    split: &Split,
    test: &TestSet,
    classes: i64,
) {
    let mut roster = Roster {
        ended: vec![false; members.len()],
        members,
        live: Vec::new(),
    };
    if let Err(e) = super::device::check(device) {
        return roster.end_all(&e.into());
    }
    let run = error::guard(|| {
        run(
            device,
            order_seed,
            &mut roster,
            joiners,
            split,
            test,
            classes,
        )
    });
    if let Err(e) = run {
        roster.end_all(&e);
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
    /// Its index in the roster's `members`.
    at: usize,
    /// The last epoch it trained.
    epoch: i64,
    step: i64,
    /// Its training-loss samples' running window, and this epoch's sum.
    window: (f64, i64),
    loss_sum: f64,
    samples: Vec<BatchLoss>,
}

/// Every member the group was given (the first sets what the others must
/// fuse with), whether each has ended, and those in the group now, in the
/// group's order.
struct Roster<'a> {
    members: Vec<GroupMember<'a>>,
    ended: Vec<bool>,
    live: Vec<Live>,
}

impl<'a> Roster<'a> {
    /// Member `at` ends: it is told how.
    fn end(&mut self, at: usize, result: Result<Outcome, TrainError>) {
        if !std::mem::replace(&mut self.ended[at], true) {
            self.members[at].listener.on_end(result);
        }
    }

    /// Ends every member not ended yet with `e`.
    fn end_all(&mut self, e: &TrainError) {
        for at in 0..self.members.len() {
            self.end(at, Err(duplicate(e)));
        }
    }

    fn member(&self, l: &Live) -> &GroupMember<'a> {
        &self.members[l.at]
    }

    /// The members at the group's indices leave it, each told its result.
    fn leave(
        &mut self,
        group: &mut Option<Group>,
        mut leaving: Vec<(usize, Result<Outcome, TrainError>)>,
    ) -> Result<(), TrainError> {
        // From the back, so that the indices still hold.
        leaving.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
        // Once each (stopped and diverged in one batch: the first said).
        leaving.dedup_by_key(|(i, _)| *i);
        for (index, result) in leaving {
            let live = self.live.remove(index);
            match group {
                Some(g) if g.members() > 1 => g.remove(index as i64)?,
                // The last member: the group is no more.
                _ => *group = None,
            }
            self.end(live.at, result);
        }
        Ok(())
    }

    /// Members joining: taken into the roster, then admitted.
    fn join(&mut self, newcomers: Vec<GroupMember<'a>>) -> usize {
        let from = self.members.len();
        self.ended.extend(newcomers.iter().map(|_| false));
        self.members.extend(newcomers);
        from
    }

    /// Admits the members from `from` on: those that fuse with the first
    /// member join `group` (made if there is none), each resumed from its
    /// checkpoint where it has one and told it starts, on the group's batch
    /// order from the group epoch after `group_epoch`; the others end at
    /// once.
    fn admit(
        &mut self,
        from: usize,
        group: &mut Option<Group>,
        group_epoch: i64,
        order_seed: u64,
        at: (&Split, i64, Device),
    ) -> Result<(), TrainError> {
        let (split, classes, device) = at;
        let mut fitting = Vec::new();
        for at in from..self.members.len() {
            let p = &self.members[at].params;
            let fits = match super::check(p) {
                Err(e) => Err(e),
                Ok(()) if !self.members[0].params.fuses_with(p) => {
                    Err(TrainError::InvalidConfiguration {
                        field: "group".into(),
                        problem:
                            "its network shape, optimizer or batch size differs from the group's"
                                .into(),
                    })
                }
                Ok(()) => Ok(()),
            };
            match fits {
                Ok(()) => fitting.push(at),
                Err(e) => self.end(at, Err(e)),
            }
        }
        if fitting.is_empty() {
            return Ok(());
        }
        // Each one's checkpoint, where it has one it may resume from.
        let resumes: Vec<Option<Checkpoint>> = fitting
            .iter()
            .map(|&at| resumable(&self.members[at]))
            .collect();
        let list: Vec<Member> = fitting
            .iter()
            .zip(&resumes)
            .map(|(&at, resume)| Member {
                params: &self.members[at].params,
                seed: self.members[at].seed,
                resume: resume.as_ref(),
            })
            .collect();
        let (joined, starts) = Group::new(&list, split.features(), classes, device)?;
        drop(list);
        match group {
            Some(g) => g.absorb(joined)?,
            None => *group = Some(joined),
        }
        let mut leaving = Vec::new();
        for (at, (epoch, step)) in fitting.into_iter().zip(starts) {
            // Its epoch e is the group's epoch e + offset.
            let shuffle = Shuffle {
                seed: order_seed,
                offset: group_epoch - epoch,
            };
            let index = self.live.len();
            self.live.push(Live {
                at,
                epoch,
                step,
                window: (0.0, 0),
                loss_sum: 0.0,
                samples: Vec::new(),
            });
            if self.members[at].listener.on_start(epoch, shuffle) == Control::Stop {
                leaving.push((index, Ok(Outcome::Stopped)));
            }
        }
        self.leave(group, leaving)
    }
}

fn run<'a>(
    device: Device,
    order_seed: u64,
    roster: &mut Roster<'a>,
    joiners: &mut dyn Joiners<'a>,
    split: &Split,
    test: &TestSet,
    classes: i64,
) -> Result<(), TrainError> {
    let split = &split.to_device(device);
    let (test_x, test_y) = (test.x.to_device(device), test.y.to_device(device));
    let context = (split, classes, device);
    let mut group: Option<Group> = None;
    roster.admit(0, &mut group, 0, order_seed, context)?;
    // Dropped on return, after the last checkpoints are written.
    let mut saver = checkpoint::Saver::new();
    let mut leaving = Vec::new();
    let n = split.train_len();
    let mut group_epoch = 0;
    loop {
        if group_epoch > 0 {
            let newcomers = joiners.join();
            if !newcomers.is_empty() {
                let from = roster.join(newcomers);
                roster.admit(from, &mut group, group_epoch, order_seed, context)?;
            }
        }
        if group.is_none() {
            return Ok(());
        }
        // Every member in the group fuses with the first: one batch size.
        let batch = i64::from(roster.members[0].params.batch_size).min(n);
        let batches = (n + batch - 1) / batch;
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
                if roster.member(l).stop.load(Ordering::Relaxed) {
                    leaving.push((i, Ok(Outcome::Stopped)));
                }
            }
            if !leaving.is_empty() {
                roster.leave(&mut group, std::mem::take(&mut leaving))?;
            }
            let Some(g) = group.as_mut() else {
                return Ok(());
            };
            let len = batch.min(n - start);
            let (x, y) = split.gather(&rows.narrow(0, start, len));
            let dropping: Vec<(u64, i64, f64)> = roster
                .live
                .iter()
                .map(|l| {
                    let m = roster.member(l);
                    (m.seed, l.epoch + 1, m.params.dropout)
                })
                .collect();
            let masks = g.dropout_masks(&dropping, start / batch, len)?;
            let losses = g.train_batch(&x, &y, &masks)?;
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
                let member = &mut roster.members[l.at];
                let every = i64::from(member.batch_loss_every).max(1);
                if l.step % every == 0 {
                    let sample = BatchLoss {
                        step: l.step,
                        epoch: l.epoch + 1,
                        loss: l.window.0 / l.window.1 as f64,
                    };
                    member.listener.on_sample(&sample, index, batches);
                    l.samples.push(sample);
                    l.window = (0.0, 0);
                }
            }
            // A diverged member leaves before the next batch: its NaNs
            // reach no other member (they share no parameter), and cost
            // no more work.
            start += len;
        }
        let Some(g) = group.as_mut() else {
            return Ok(());
        };
        let evaluated = g.evaluate(&split.val_x, &split.val_y)?;
        // Each epoch is reported once the previous checkpoints are on disk.
        let _ = saver.wait();
        let mut told = Vec::new();
        for (i, (val_loss, val_accuracy)) in evaluated.into_iter().enumerate() {
            if leaving.iter().any(|(d, _)| *d == i) {
                continue; // diverged in the epoch's last batch
            }
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
                if let Some(path) = &member.checkpoint {
                    let state = g.member_state(i as i64, l.epoch, l.step)?;
                    saver.save_state(path, state);
                }
            }
            let last = l.epoch >= i64::from(member.params.epochs);
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
            let tested = g.evaluate(&test_x, &test_y)?;
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
}

/// The member's checkpoint when it can be read and is not past
/// `resume_upto`; None otherwise (a bad one is told in the log: it costs
/// its epochs).
fn resumable(m: &GroupMember) -> Option<Checkpoint> {
    let path = m.checkpoint.as_deref().filter(|_| m.resume_upto > 0)?;
    match checkpoint::load(path) {
        Ok(Some(c)) if c.epoch <= m.resume_upto => Some(c),
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
