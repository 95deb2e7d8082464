//! A member of a group trains as it would alone, on the same batches.
use super::{Group, Member};
use crate::data::catalog::Catalog;
use crate::data::tensors::{Dataset, Split};
use crate::spec::TrialParams;
use crate::train::dropout::masks;
use crate::train::{evaluate, Mlp, Optimizer};
use tch::{nn, Device, Kind, Tensor};

/// Per epoch: mean training loss, validation loss, validation accuracy.
type Curve = Vec<(f64, f64, f64)>;

const BATCH: i64 = 64;
const EPOCHS: usize = 2;

fn split() -> Split {
    let dataset = Dataset::from_raw(Catalog::new(None).load("mnist-10k").unwrap());
    let split = dataset.split(1, 0.1);
    Split {
        train_rows: split.train_rows.narrow(0, 0, 1024),
        ..split
    }
}

/// The epochs' shuffles, shared by the group and the lone runs.
fn orders(n: i64) -> Vec<Tensor> {
    tch::manual_seed(99);
    (0..EPOCHS)
        .map(|_| Tensor::randperm(n, (Kind::Int64, Device::Cpu)))
        .collect()
}

/// Eight members of one shape and optimizer with settings of their own,
/// learning rates in the range where each optimizer trains this network
/// (RMSprop at 0.01 diverges, and a diverging run amplifies any rounding).
fn members(optimizer: &str) -> Vec<(TrialParams, u64)> {
    let scale = if optimizer == "sgd" { 0.005 } else { 0.0001 };
    (0..8u32)
        .map(|i| {
            let p = TrialParams {
                optimizer: optimizer.parse().unwrap(),
                learning_rate: scale * f64::from(i + 1),
                weight_decay: [0.0, 1e-4, 1e-3][i as usize % 3],
                momentum: [0.0, 0.5, 0.9][i as usize % 3],
                dropout: [0.0, 0.2][i as usize % 2],
                ..TrialParams::default()
            };
            (p, 1000 + u64::from(i))
        })
        .collect()
}

/// A lone trial on the given batches, as `train` trains one.
fn alone(p: &TrialParams, seed: u64, split: &Split, orders: &[Tensor]) -> Curve {
    alone_from(p, seed, None, split, orders)
}

/// `alone`, resumed from the checkpoint at `resume` if given (after the
/// first epoch: `orders` are then those of the epochs after it).
fn alone_from(
    p: &TrialParams,
    seed: u64,
    resume: Option<&std::path::Path>,
    split: &Split,
    orders: &[Tensor],
) -> Curve {
    let first = i64::from(resume.is_some());
    // Resumed: initialised from another seed, so that every weight must
    // come from the checkpoint (dropout draws from the trial's seed).
    tch::manual_seed(seed as i64 + 77 * first);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = Mlp::new(&vs.root(), p, split.features(), 10).unwrap();
    let mut optimizer = Optimizer::new(&vs, p).unwrap();
    if let Some(path) = resume {
        let checkpoint = crate::train::checkpoint::load(path).unwrap().unwrap();
        checkpoint.restore(&mut vs, &mut optimizer).unwrap();
    }
    let n = split.train_len();
    let mut curve = Vec::new();
    for (e, order) in orders.iter().enumerate() {
        let epoch = first + 1 + e as i64;
        let rows = split.train_rows.index_select(0, order);
        let mut sum = 0.0;
        let mut start = 0;
        while start < n {
            let len = BATCH.min(n - start);
            let (x, y) = split.gather(&rows.narrow(0, start, len));
            let widths = &p.hidden_layers;
            let masks = masks(
                seed,
                epoch,
                start / BATCH,
                p.dropout,
                len,
                widths,
                Device::Cpu,
            );
            let loss = net
                .f_forward_masked(&x, &masks.unwrap())
                .unwrap()
                .nll_loss(&y);
            optimizer.backward_step(&loss).unwrap();
            sum += loss.double_value(&[]) * len as f64;
            start += len;
        }
        let (val_loss, val_accuracy) = evaluate(&net, &split.val_x, &split.val_y).unwrap();
        curve.push((sum / n as f64, val_loss, val_accuracy));
    }
    curve
}

/// What happens to a group after its first epoch, besides training on.
#[derive(Clone, Copy)]
enum AfterFirstEpoch<'a> {
    Nothing,
    /// This member leaves.
    Leaves(usize),
    /// Every member's checkpoint is written into this folder as `<m>.ckpt`.
    Checkpoints(&'a std::path::Path),
}

/// The group on the same batches. Each member's curve, in the members'
/// order (one that left has its epochs up to then).
fn grouped(
    members: &[(TrialParams, u64)],
    split: &Split,
    orders: &[Tensor],
    after_first: AfterFirstEpoch,
) -> Vec<Curve> {
    let list: Vec<Member> = members
        .iter()
        .map(|(p, s)| Member {
            params: p,
            seed: *s,
            resume: None,
        })
        .collect();
    let (mut group, _) = Group::new(&list, split.features(), 10, Device::Cpu).unwrap();
    let mut present: Vec<usize> = (0..members.len()).collect();
    let mut curves = vec![Curve::new(); members.len()];
    let n = split.train_len();
    let mut steps = 0;
    for (epoch, order) in orders.iter().enumerate() {
        let rows = split.train_rows.index_select(0, order);
        let mut sums = vec![0.0; present.len()];
        let mut start = 0;
        while start < n {
            let len = BATCH.min(n - start);
            let (x, y) = split.gather(&rows.narrow(0, start, len));
            let dropping: Vec<(u64, i64, f64)> = present
                .iter()
                .map(|&m| (members[m].1, epoch as i64 + 1, members[m].0.dropout))
                .collect();
            let masks = group.dropout_masks(&dropping, start / BATCH, len).unwrap();
            for (s, l) in sums
                .iter_mut()
                .zip(group.train_batch(&x, &y, &masks).unwrap())
            {
                *s += l * len as f64;
            }
            steps += 1;
            start += len;
        }
        let evaluated = group.evaluate(&split.val_x, &split.val_y).unwrap();
        for ((&m, sum), (val_loss, val_accuracy)) in present.iter().zip(&sums).zip(evaluated) {
            curves[m].push((sum / n as f64, val_loss, val_accuracy));
        }
        match after_first {
            _ if epoch > 0 => {}
            AfterFirstEpoch::Nothing => {}
            AfterFirstEpoch::Leaves(who) => {
                let index = present.iter().position(|&m| m == who).unwrap();
                group.remove(index as i64).unwrap();
                present.remove(index);
            }
            AfterFirstEpoch::Checkpoints(dir) => {
                for m in 0..members.len() {
                    let state = group.member_state(m as i64, 1, steps).unwrap();
                    let path = dir.join(format!("{m}.ckpt"));
                    crate::train::checkpoint::write_state(&path, &state).unwrap();
                }
            }
        }
    }
    curves
}

/// The largest difference between two curves' losses, and their accuracies.
fn differences(a: &Curve, b: &Curve) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold((0.0, 0.0), |(dl, da), (x, y)| {
        (
            dl.max((x.0 - y.0).abs()).max((x.1 - y.1).abs()),
            da.max((x.2 - y.2).abs()),
        )
    })
}

/// For each optimizer, with weight decay, momentum and dropout differing
/// per member (each member's dropout masks drawn from its own seed, as a
/// lone trial draws them):
/// every member of a group of 8 gives the losses and accuracies its lone run
/// gives, within float32 rounding: the larger products may sum a dot
/// product in another order (a relative 1e-7 a step), which 32 steps an
/// epoch carry into the weights. Measured: losses within 7e-6 for RMSprop
/// (its division by a running root mean square amplifies rounding), 5e-7
/// for the others, the same accuracy; the bound held to is 5e-5 on every
/// loss and one validation image on accuracy. A member leaving after the first epoch
/// changes no other member's numbers beyond the same bound.
#[test]
fn a_member_of_a_group_trains_as_it_would_alone() {
    let _rng = super::super::tests::RNG
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    tch::set_num_threads(1);
    let split = split();
    let orders = orders(split.train_len());
    for optimizer in ["sgd", "adam", "adamw", "rmsprop", "adagrad"] {
        let members = members(optimizer);
        let lone: Vec<Curve> = members
            .iter()
            .map(|(p, s)| alone(p, *s, &split, &orders))
            .collect();
        let together = grouped(&members, &split, &orders, AfterFirstEpoch::Nothing);
        let left = grouped(&members, &split, &orders, AfterFirstEpoch::Leaves(3));
        let mut worst = (0.0f64, 0.0f64);
        for (m, lone) in lone.iter().enumerate() {
            let (dl, da) = differences(lone, &together[m]);
            worst = (worst.0.max(dl), worst.1.max(da));
            let expected: Curve = if m == 3 {
                lone[..1].to_vec()
            } else {
                lone.clone()
            };
            let (dl, da) = differences(&expected, &left[m]);
            worst = (worst.0.max(dl), worst.1.max(da));
        }
        eprintln!(
            "{optimizer}: largest loss difference {:.2e}, accuracy {:.4}",
            worst.0, worst.1
        );
        let image = 1.0 / split.val_y.size()[0] as f64;
        assert!(worst.0 < 5e-5, "{optimizer}: loss differs by {}", worst.0);
        assert!(
            worst.1 <= image + 1e-12,
            "{optimizer}: accuracy differs by {}",
            worst.1
        );
    }
}

/// A member's checkpoint is a lone trial's: for each optimizer and the
/// members with and without momentum, the state written after the group's
/// first epoch restores into a lone network and optimizer (which refuse a
/// checkpoint whose names or shapes differ from their own), and the second
/// epoch trained alone from it gives what the group's second epoch gave,
/// within the bound above.
#[test]
fn a_members_checkpoint_resumes_alone_as_it_would_have_gone_on_in_the_group() {
    let _rng = super::super::tests::RNG
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    tch::set_num_threads(1);
    let split = split();
    let orders = orders(split.train_len());
    let dir = tempfile::tempdir().unwrap();
    for optimizer in ["sgd", "adam", "adamw", "rmsprop", "adagrad"] {
        let members = members(optimizer);
        let together = grouped(
            &members,
            &split,
            &orders,
            AfterFirstEpoch::Checkpoints(dir.path()),
        );
        // Members 0, 1 and 2: momentum 0, 0.5 and 0.9.
        for m in 0..3 {
            let (p, seed) = &members[m];
            let path = dir.path().join(format!("{m}.ckpt"));
            let resumed = alone_from(p, *seed, Some(&path), &split, &orders[1..]);
            let (dl, da) = differences(&together[m][1..].to_vec(), &resumed);
            let image = 1.0 / split.val_y.size()[0] as f64;
            assert!(dl < 5e-5, "{optimizer} member {m}: loss differs by {dl}");
            assert!(
                da <= image + 1e-12,
                "{optimizer} member {m}: accuracy differs by {da}"
            );
        }
    }
}
