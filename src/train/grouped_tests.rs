//! The group's loop trains each member as `train` trains it alone on the
//! group's batch order, and ends each member as soon as it is done.
use super::*;
use crate::data::catalog::Catalog;
use crate::data::tensors::Dataset;
use crate::spec::TrialParams;
use crate::train::{Job, Listener, Shuffle};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A fresh member (no checkpoint to resume) that trains with `listener`.
fn fresh<'a>(
    params: &TrialParams,
    seed: u64,
    stop: &Arc<AtomicBool>,
    checkpoint: &std::path::Path,
    listener: &'a mut Recorder,
) -> GroupMember<'a> {
    GroupMember {
        params: params.clone(),
        seed,
        batch_loss_every: 5,
        stop: stop.clone(),
        checkpoint: Some(checkpoint.to_path_buf()),
        resume_upto: 0,
        listener: Box::new(listener),
    }
}

/// Gives one member to join at the first epoch boundary.
struct OnceAfterFirst<'a>(Option<GroupMember<'a>>);

impl<'a> Joiners<'a> for OnceAfterFirst<'a> {
    fn join(&mut self) -> Vec<GroupMember<'a>> {
        self.0.take().into_iter().collect()
    }
}

/// What a listener heard, in order.
#[derive(Debug, Clone, PartialEq)]
enum Heard {
    Start(i64, Shuffle),
    Epoch(EpochReport),
    End(String),
}

/// Answers every epoch `Continue`, except `Stop` after `stop_after`.
struct Recorder {
    heard: Vec<Heard>,
    stop_after: Option<i64>,
    /// Shared by all members: the order in which ends happened.
    log: std::rc::Rc<std::cell::RefCell<Vec<(usize, i64)>>>,
    who: usize,
    last_epoch: i64,
}

impl Recorder {
    fn control(&self, epoch: i64) -> Control {
        match self.stop_after {
            Some(e) if epoch >= e => Control::Stop,
            _ => Control::Continue,
        }
    }
}

impl MemberListener for Recorder {
    fn on_start(&mut self, epoch: i64, shuffle: Shuffle) -> Control {
        self.heard.push(Heard::Start(epoch, shuffle));
        Control::Continue
    }
    fn on_sample(&mut self, _: &BatchLoss, _: i64, _: i64) {}
    fn tell_epoch(&mut self, report: EpochReport, _: Vec<BatchLoss>) {
        self.last_epoch = report.epoch;
        self.log.borrow_mut().push((self.who, report.epoch));
        self.heard.push(Heard::Epoch(report));
    }
    fn answer(&mut self) -> Control {
        self.control(self.last_epoch)
    }
    fn on_end(&mut self, result: Result<Outcome, TrainError>) {
        self.log.borrow_mut().push((self.who, -1));
        self.heard.push(Heard::End(format!("{result:?}")));
    }
}

impl Listener for Recorder {
    fn on_start(&mut self, epoch: i64) -> Control {
        self.heard
            .push(Heard::Start(epoch, Shuffle { seed: 0, offset: 0 }));
        Control::Continue
    }
    fn on_sample(&mut self, _: &BatchLoss, _: i64, _: i64) {}
    fn on_epoch(&mut self, report: EpochReport, _: Vec<BatchLoss>) -> Control {
        let epoch = report.epoch;
        self.heard.push(Heard::Epoch(report));
        self.control(epoch)
    }
}

fn recorder(
    who: usize,
    stop_after: Option<i64>,
    log: &std::rc::Rc<std::cell::RefCell<Vec<(usize, i64)>>>,
) -> Recorder {
    Recorder {
        heard: Vec::new(),
        stop_after,
        log: log.clone(),
        who,
        last_epoch: 0,
    }
}

/// The reports heard, without their seconds.
fn reports(heard: &[Heard]) -> Vec<(i64, f64, f64, f64)> {
    heard
        .iter()
        .filter_map(|h| match h {
            Heard::Epoch(r) => Some((r.epoch, r.train_loss, r.val_loss, r.val_accuracy)),
            _ => None,
        })
        .collect()
}

/// Four Adam members with their own learning rates, weight decay, dropout
/// and epochs (2 or 3), one stopped after its first epoch, and a fifth
/// joining after the first group epoch, trained as a group and each alone
/// on the group's order (the joiner's shifted by the epoch it joined at): the same reports within the
/// bound `fused_tests.rs` holds to, the stopped member told of its end
/// before anyone's second epoch, the others completing after their last
/// epoch, each member ended once; a member resumed from a checkpoint
/// written in the group trains on from it.
#[test]
fn a_groups_members_train_as_alone_and_leave_when_done() {
    let _rng = super::super::tests::RNG
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    tch::set_num_threads(1);
    let dataset = Dataset::from_raw(Catalog::new(None).load("mnist-10k").unwrap());
    let split = dataset.split(1, 0.1);
    let split = crate::data::tensors::Split {
        train_rows: split.train_rows.narrow(0, 0, 768),
        ..split
    };
    let test = TestSet {
        x: &dataset.test_x.narrow(0, 0, 500),
        y: &dataset.test_y.narrow(0, 0, 500),
    };
    let params: Vec<TrialParams> = (0..5u32)
        .map(|i| TrialParams {
            optimizer: "adam".parse().unwrap(),
            learning_rate: 0.0005 * f64::from(i + 1),
            weight_decay: [0.0, 1e-4][i as usize % 2],
            dropout: [0.2, 0.0][i as usize % 2],
            epochs: [2, 3, 3, 2, 2][i as usize],
            batch_size: 64,
            ..TrialParams::default()
        })
        .collect();
    let stops = [None, Some(1), None, None, None];
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (0..5)
        .map(|i| dir.path().join(format!("{i}.ckpt")))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut listeners: Vec<Recorder> = (0..5).map(|i| recorder(i, stops[i], &log)).collect();
    let order_seed = 4242;
    let (first, joiner) = listeners.split_at_mut(4);
    let member = |i: usize, listener| fresh(&params[i], 100 + i as u64, &stop, &paths[i], listener);
    let members: Vec<GroupMember> = first
        .iter_mut()
        .enumerate()
        .map(|(i, l)| member(i, l))
        .collect();
    // Member 4 joins after the group's first epoch.
    let mut joining = OnceAfterFirst(Some(member(4, &mut joiner[0])));
    train_group_on(
        Device::Cpu,
        order_seed,
        members,
        &mut joining,
        &split,
        &test,
        10,
    );
    drop(joining);
    let log = log.borrow().clone();
    // Member 1 ended (-1) right after its first epoch, before any second.
    let ended_1 = log.iter().position(|&e| e == (1, -1)).unwrap();
    let first_second = log.iter().position(|e| e.1 == 2).unwrap();
    assert!(ended_1 < first_second, "{log:?}");
    for (i, l) in listeners.iter().enumerate() {
        let ends: Vec<&Heard> = l
            .heard
            .iter()
            .filter(|h| matches!(h, Heard::End(_)))
            .collect();
        assert_eq!(ends.len(), 1, "member {i}: {:?}", l.heard);
        let expected_end = if i == 1 {
            "Ok(Stopped)"
        } else {
            "Ok(Completed"
        };
        assert!(
            format!("{:?}", ends[0]).contains(expected_end),
            "{:?}",
            ends[0]
        );
        // The joiner's epoch e is the group's epoch e + 1.
        let shuffle = Shuffle {
            seed: order_seed,
            offset: i64::from(i == 4),
        };
        assert_eq!(l.heard[0], Heard::Start(0, shuffle));
        // Alone on the group's order.
        let mut alone = recorder(i, stops[i], &std::rc::Rc::default());
        let job = Job {
            params: &params[i],
            seed: 100 + i as u64,
            batch_loss_every: 5,
            stop: &stop,
            checkpoint: None,
            resume_upto: 0,
            shuffle: Some(shuffle),
        };
        let outcome = crate::train::train(&job, &split, &test, 10, &mut alone).unwrap();
        let (grouped, lone) = (reports(&l.heard), reports(&alone.heard));
        assert_eq!(grouped.len(), lone.len(), "member {i}");
        assert_eq!(
            grouped.len(),
            if i == 1 { 1 } else { params[i].epochs as usize }
        );
        for (g, a) in grouped.iter().zip(&lone) {
            assert_eq!(g.0, a.0);
            for (x, y) in [(g.1, a.1), (g.2, a.2)] {
                assert!((x - y).abs() < 5e-5, "member {i} epoch {}: {x} vs {y}", g.0);
            }
            assert!(
                (g.3 - a.3).abs() <= 1.0 / 1000.0 + 1e-12,
                "member {i}: {g:?} vs {a:?}"
            );
        }
        if let Outcome::Completed { test_accuracy, .. } = outcome {
            assert!(format!("{:?}", ends[0]).contains("test_accuracy"));
            assert!(test_accuracy > 0.5, "member {i}: {test_accuracy}");
        }
    }
    // Member 2's checkpoint after its last epoch (3) resumes, in a group
    // of its own, with nothing left to train: it completes at once.
    let mut resumed = recorder(2, None, &std::rc::Rc::default());
    let mut more = params[2].clone();
    more.epochs = 4;
    {
        let members = vec![GroupMember {
            params: more,
            seed: 999,
            batch_loss_every: 5,
            stop: stop.clone(),
            checkpoint: Some(paths[2].clone()),
            resume_upto: 3,
            listener: Box::new(&mut resumed),
        }];
        train_group_on(Device::Cpu, 7, members, &mut NoJoiners, &split, &test, 10);
    }
    assert_eq!(
        resumed.heard[0],
        Heard::Start(
            3,
            Shuffle {
                seed: 7,
                offset: -3
            }
        )
    );
    let after = reports(&resumed.heard);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].0, 4);
    // Trained on from epoch 3, not from fresh weights: close to epoch 3's
    // validation loss, far better than a first epoch's.
    let third = reports(&listeners[2].heard)[2];
    assert!(after[0].2 < third.2 * 1.5, "{after:?} after {third:?}");
}
