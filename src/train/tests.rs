use super::*;
use crate::data::catalog::Catalog;
use crate::data::tensors::Dataset;
use tch::nn::{ModuleT, OptimizerConfig};

/// libtorch's random generator is global to the process: tests that seed
/// it take turns.
pub(super) static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn params(optimizer: &str, epochs: u32) -> TrialParams {
    TrialParams {
        optimizer: optimizer.parse().unwrap(),
        epochs,
        learning_rate: 0.01,
        weight_decay: 1e-4,
        dropout: 0.2,
        ..TrialParams::default()
    }
}

/// mnist-10k's split with only its first `rows` training images, for short
/// epochs.
fn first_rows(dataset: &Dataset, rows: i64) -> crate::data::tensors::Split {
    let split = dataset.split(1, 0.1);
    crate::data::tensors::Split {
        train_rows: split.train_rows.narrow(0, 0, rows),
        ..split
    }
}

/// Our update rules match libtorch's own optimizers step for step.
#[test]
fn optimizers_match_libtorchs_own() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    type Build = fn(&TrialParams) -> Box<dyn Fn(&nn::VarStore) -> nn::Optimizer>;
    let theirs: [(&str, Build); 4] = [
        ("sgd", |p| {
            let (m, wd, lr) = (p.momentum, p.weight_decay, p.learning_rate);
            Box::new(move |vs| nn::sgd(m, 0.0, wd, false).build(vs, lr).unwrap())
        }),
        ("adam", |p| {
            let (wd, lr) = (p.weight_decay, p.learning_rate);
            Box::new(move |vs| nn::adam(0.9, 0.999, wd).build(vs, lr).unwrap())
        }),
        ("adamw", |p| {
            let (wd, lr) = (p.weight_decay, p.learning_rate);
            Box::new(move |vs| nn::adamw(0.9, 0.999, wd).build(vs, lr).unwrap())
        }),
        ("rmsprop", |p| {
            let (m, wd, lr) = (p.momentum, p.weight_decay, p.learning_rate);
            Box::new(move |vs| {
                nn::rms_prop(0.99, 1e-8, wd, m, false)
                    .build(vs, lr)
                    .unwrap()
            })
        }),
    ];
    for (name, build) in theirs {
        let p = params(name, 1);
        let make = || {
            tch::manual_seed(7);
            let vs = nn::VarStore::new(Device::Cpu);
            let net = Mlp::new(
                &vs.root(),
                &TrialParams {
                    dropout: 0.0,
                    ..p.clone()
                },
                20,
                3,
            )
            .unwrap();
            (vs, net)
        };
        let (ours_vs, ours_net) = make();
        let (their_vs, their_net) = make();
        let mut ours = Optimizer::new(&ours_vs, &p).unwrap();
        let mut theirs = build(&p)(&their_vs);
        tch::manual_seed(3);
        for _ in 0..20 {
            let x = Tensor::randn([16, 20], (Kind::Float, Device::Cpu));
            let y = Tensor::randint(3, [16], (Kind::Int64, Device::Cpu));
            let loss = ours_net.f_forward_t(&x, true).unwrap().nll_loss(&y);
            ours.backward_step(&loss).unwrap();
            theirs.backward_step(&their_net.forward_t(&x, true).nll_loss(&y));
        }
        let a = ours_vs.variables();
        for (var, theirs) in their_vs.variables() {
            let diff = (&a[&var] - &theirs).abs().max().double_value(&[]);
            // Float rounding differs in the order of operations only.
            assert!(diff < 1e-4, "{name}: {var} differs by {diff}");
        }
    }
}

/// Records reports; suspends after `suspend_after` epochs if set.
#[derive(Default)]
struct Recorder {
    started: Vec<i64>,
    reports: Vec<EpochReport>,
    suspend_after: Option<i64>,
}

impl Listener for Recorder {
    fn on_start(&mut self, epoch: i64) -> Control {
        self.started.push(epoch);
        Control::Continue
    }
    fn on_sample(&mut self, _: &BatchLoss, _: i64, _: i64) {}
    fn on_epoch(&mut self, report: EpochReport, _: Vec<BatchLoss>) -> Control {
        let epoch = report.epoch;
        self.reports.push(report);
        if Some(epoch) == self.suspend_after {
            Control::Suspend
        } else {
            Control::Continue
        }
    }
}

/// A trial suspended at a checkpoint and resumed trains exactly as one that
/// never stopped, for every optimizer; a checkpoint past `resume_upto`, or
/// of another network, is not resumed from.
#[test]
fn a_resumed_trial_trains_exactly_as_an_uninterrupted_one() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    tch::set_num_threads(1);
    let dataset = Dataset::from_raw(Catalog::new(None).load("mnist-10k").unwrap());
    let split = first_rows(&dataset, 2000);
    let test = TestSet {
        x: &dataset.test_x,
        y: &dataset.test_y,
    };
    let dir = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    for optimizer in ["sgd", "adam", "adamw", "rmsprop", "adagrad"] {
        let p = params(optimizer, 3);
        let path = dir.path().join(format!("{optimizer}.ckpt"));
        let job = |resume_upto| Job {
            params: &p,
            seed: 11,
            batch_loss_every: 10,
            stop: &stop,
            checkpoint: Some(&path),
            resume_upto,
            shuffle: None,
        };
        let run = |resume_upto, suspend_after| {
            let mut r = Recorder {
                started: vec![],
                reports: vec![],
                suspend_after,
            };
            let outcome = train(&job(resume_upto), &split, &test, 10, &mut r).unwrap();
            (outcome, r)
        };
        let (whole, straight) = run(0, None);
        std::fs::remove_file(&path).unwrap();
        let (suspended, first) = run(0, Some(1));
        assert_eq!(suspended, Outcome::Suspended);
        let (resumed, rest) = run(1, None);
        assert_eq!(rest.started, vec![1], "{optimizer}");
        assert_eq!(resumed, whole, "{optimizer}");
        let mut joined = first.reports.clone();
        joined.extend(rest.reports.clone());
        assert_eq!(joined.len(), 3);
        for (a, b) in joined.iter().zip(&straight.reports) {
            assert_eq!(
                (a.epoch, a.train_loss, a.val_loss),
                (b.epoch, b.train_loss, b.val_loss),
                "{optimizer}"
            );
        }
        // The file now holds epoch 3: not resumed when the caller knows of epoch 1 only.
        let (_, fresh) = run(1, Some(1));
        assert_eq!(fresh.started, vec![0], "{optimizer}");
        let (_, ahead) = run(0, Some(1));
        assert_eq!(ahead.started, vec![0], "resume_upto 0 trains from scratch");
    }
    // A checkpoint of another network is ignored: training starts afresh.
    let path = dir.path().join("sgd.ckpt");
    let wide = TrialParams {
        hidden_layers: vec![32],
        ..params("sgd", 2)
    };
    let mut r = Recorder {
        started: vec![],
        reports: vec![],
        suspend_after: None,
    };
    let job = Job {
        params: &wide,
        seed: 11,
        batch_loss_every: 10,
        stop: &stop,
        checkpoint: Some(&path),
        resume_upto: 5,
        shuffle: None,
    };
    assert!(matches!(
        train(&job, &split, &test, 10, &mut r).unwrap(),
        Outcome::Completed { .. }
    ));
    assert_eq!(r.started, vec![0]);
    // A torn file is not a checkpoint either.
    std::fs::write(&path, b"not a checkpoint").unwrap();
    assert!(matches!(
        checkpoint::load(&path),
        Err(TrainError::BadCheckpoint(_))
    ));
}

/// What the saver writes is the state at `save`, although training goes on
/// changing the weights and the optimizer's buffers while it is written;
/// `wait` and dropping the saver leave the last one on disk, loadable.
#[test]
fn a_checkpoint_holds_the_state_at_save_while_training_goes_on() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(7);
    let p = params("sgd", 3);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let mlp = model::Mlp::new(&vs.root(), &p, 784, 10).unwrap();
    let mut optimizer = optim::Optimizer::new(&vs, &p).unwrap();
    let dataset = Dataset::from_raw(Catalog::new(None).load("mnist-10k").unwrap());
    let (x, y) = (
        dataset.test_x.narrow(0, 0, 32),
        dataset.test_y.narrow(0, 0, 32),
    );
    let step = |optimizer: &mut optim::Optimizer| {
        let loss = mlp.f_forward_t(&x, true).unwrap().nll_loss(&y);
        optimizer.backward_step(&loss).unwrap();
    };
    step(&mut optimizer);
    let snapshot = |vs: &nn::VarStore, optimizer: &optim::Optimizer| {
        let mut all: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        all.extend(optimizer.state());
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.into_iter()
            .map(|(n, t)| (n, t.copy()))
            .collect::<Vec<_>>()
    };
    let at_save = snapshot(&vs, &optimizer);

    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("a/checkpoint.pt");
    let second = dir.path().join("b/checkpoint.pt");
    let mut saver = checkpoint::Saver::new();
    saver.save(&first, 1, 1, &vs, &optimizer);
    // The weights change in place at once, before the writer thread can
    // have read them, and training goes on while the write may be running.
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            let _ = v.fill_(0.5);
        }
    });
    for _ in 0..5 {
        step(&mut optimizer);
    }
    assert!(saver.wait().is_ok());
    let after = snapshot(&vs, &optimizer);
    saver.save(&second, 6, 6, &vs, &optimizer);
    drop(saver);

    let check = |path: &std::path::Path, epoch: i64, want: &[(String, Tensor)]| {
        let c = checkpoint::load(path).unwrap().expect("written");
        assert_eq!((c.epoch, c.step), (epoch, epoch));
        let mut fresh = nn::VarStore::new(tch::Device::Cpu);
        model::Mlp::new(&fresh.root(), &p, 784, 10).unwrap();
        let mut fresh_optimizer = optim::Optimizer::new(&fresh, &p).unwrap();
        c.restore(&mut fresh, &mut fresh_optimizer).unwrap();
        let got = snapshot(&fresh, &fresh_optimizer);
        assert_eq!(got.len(), want.len());
        for ((gn, g), (wn, w)) in got.iter().zip(want) {
            assert_eq!(gn, wn);
            assert!(g.equal(w), "{path:?}: {gn} differs from the state at save");
        }
    };
    check(&first, 1, &at_save);
    check(&second, 6, &after);
    // Every tensor, weights and momentum buffers alike, differs between the
    // two checkpoints: each was compared with a state of its own.
    assert!(at_save
        .iter()
        .zip(&after)
        .all(|((_, a), (_, b))| !a.equal(b)));
}

/// Hears in which order epochs were reported and whether the slow disk had
/// taken epoch 1's checkpoint by then.
struct Order {
    taken: std::sync::Arc<AtomicBool>,
    reports: Vec<(i64, bool)>,
}

impl Listener for Order {
    fn on_start(&mut self, _: i64) -> Control {
        Control::Continue
    }
    fn on_sample(&mut self, _: &BatchLoss, _: i64, _: i64) {}
    fn on_epoch(&mut self, report: EpochReport, _: Vec<BatchLoss>) -> Control {
        self.reports
            .push((report.epoch, self.taken.load(Ordering::SeqCst)));
        Control::Continue
    }
}

/// An epoch is reported only once the previous epoch's checkpoint is
/// written, however slow the disk, so a crash after the report of epoch k
/// finds checkpoint k-1 at least. The slow disk: a FIFO at the checkpoint's
/// temporary path holds the write of epoch 1 until this test reads it,
/// 300 ms later, while an epoch of 256 images takes milliseconds. (A FIFO
/// cannot be synced, so that write then fails; the next ones are files.)
#[test]
fn an_epoch_is_reported_once_the_previous_checkpoint_is_written() {
    use std::io::Read;
    use std::os::unix::ffi::OsStrExt;
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dataset = Dataset::from_raw(Catalog::new(None).load("mnist-10k").unwrap());
    let split = first_rows(&dataset, 256);
    let test = TestSet {
        x: &dataset.test_x,
        y: &dataset.test_y,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.ckpt");
    let partial = checkpoint::partial_path(&path);
    let fifo = std::ffi::CString::new(partial.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);

    let taken = std::sync::Arc::new(AtomicBool::new(false));
    let disk = {
        let taken = taken.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            // The writer's open of the FIFO returns only once this one has
            // opened it: no write can be done before this flag is set.
            taken.store(true, Ordering::SeqCst);
            let mut bytes = Vec::new();
            std::fs::File::open(&partial)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .unwrap();
            // Later checkpoints go to a plain file. (This one's fsync fails:
            // a FIFO cannot be synced; the write is only logged.)
            std::fs::remove_file(&partial).unwrap();
            bytes.len()
        })
    };
    let stop = AtomicBool::new(false);
    let p = params("sgd", 3);
    let job = Job {
        params: &p,
        seed: 3,
        batch_loss_every: 10,
        stop: &stop,
        checkpoint: Some(&path),
        resume_upto: 0,
        shuffle: None,
    };
    let mut order = Order {
        taken: taken.clone(),
        reports: Vec::new(),
    };
    let outcome = train(&job, &split, &test, 10, &mut order).unwrap();
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
    assert!(
        disk.join().unwrap() > 0,
        "epoch 1's checkpoint reached the disk"
    );
    assert_eq!(order.reports, [(1, false), (2, true), (3, true)]);
    let last = checkpoint::load(&path).unwrap().expect("written");
    assert_eq!(last.epoch, 3);
}

/// A configuration stored before specs were range-checked (a batch size of
/// 2^32 truncated to 0) fails its trial with a reason instead of dividing by zero.
#[test]
fn a_zero_batch_size_or_width_fails_instead_of_panicking() {
    // train seeds libtorch's global generator: not while another test trains.
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dataset = Dataset::from_raw(Catalog::new(None).load("mnist-10k").unwrap());
    let split = first_rows(&dataset, 64);
    let test = TestSet {
        x: &dataset.test_x,
        y: &dataset.test_y,
    };
    let stop = AtomicBool::new(false);
    for (p, field) in [
        (
            TrialParams {
                batch_size: 0,
                ..params("sgd", 1)
            },
            "batch_size",
        ),
        (
            TrialParams {
                hidden_layers: vec![8, 0],
                ..params("sgd", 1)
            },
            "hidden_layers[1]",
        ),
    ] {
        let job = Job {
            params: &p,
            seed: 1,
            batch_loss_every: 10,
            stop: &stop,
            checkpoint: None,
            resume_upto: 0,
            shuffle: None,
        };
        let mut recorder = Recorder::default();
        match train(&job, &split, &test, 10, &mut recorder) {
            Err(TrainError::InvalidConfiguration { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
        // The trial's reason, as the user reads it.
        let error = train(&job, &split, &test, 10, &mut recorder).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("{field} must be at least 1, got 0")
        );
        assert!(recorder.started.is_empty(), "nothing trained");
    }
}

/// A checkpoint torn or overwritten with garbage is `BadCheckpoint` when
/// read, and a trial resuming from it trains from scratch instead of
/// failing (the epochs it held are lost, not the trial).
#[test]
fn a_bad_checkpoint_is_reported_and_training_starts_afresh() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dataset = Dataset::from_raw(Catalog::new(None).load("mnist-10k").unwrap());
    let split = first_rows(&dataset, 128);
    let test = TestSet {
        x: &dataset.test_x,
        y: &dataset.test_y,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trial.ckpt");
    let stop = AtomicBool::new(false);
    let p = params("adam", 1);
    let job = |resume_upto| Job {
        params: &p,
        seed: 5,
        batch_loss_every: 10,
        stop: &stop,
        checkpoint: Some(&path),
        resume_upto,
        shuffle: None,
    };
    let mut first = Recorder {
        suspend_after: Some(1),
        ..Recorder::default()
    };
    let outcome = train(&job(0), &split, &test, 10, &mut first).unwrap();
    assert_eq!(outcome, Outcome::Suspended);
    let whole = std::fs::read(&path).unwrap();
    assert!(checkpoint::load(&path).unwrap().is_some());
    let garbage = vec![0x5a; whole.len()];
    for (what, bytes) in [
        ("truncated", &whole[..whole.len() / 2]),
        ("garbage", &garbage[..]),
        ("empty", &[][..]),
    ] {
        std::fs::write(&path, bytes).unwrap();
        match checkpoint::load(&path) {
            Err(TrainError::BadCheckpoint(reason)) => {
                assert!(reason.contains("trial.ckpt"), "{what}: {reason}")
            }
            other => panic!("{what}: {:?}", other.map(|c| c.map(|c| c.epoch))),
        }
        let mut again = Recorder::default();
        let outcome = train(&job(1), &split, &test, 10, &mut again).unwrap();
        assert!(matches!(outcome, Outcome::Completed { .. }), "{what}");
        assert_eq!(again.started, vec![0], "{what}: trained from scratch");
    }
}

/// A network libtorch cannot allocate is `OutOfMemory`, not a panic: the
/// third layer's weights (2^24 x 2^24 floats, 1 PiB) exceed any address
/// space, so the allocation fails at once whatever the machine, after
/// about 200 MB for the layers before it.
#[test]
fn a_network_too_large_to_allocate_is_out_of_memory() {
    // train seeds libtorch's global generator: not while another test trains.
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dataset = Dataset::from_raw(Catalog::new(None).load("mnist-10k").unwrap());
    let split = first_rows(&dataset, 64);
    let test = TestSet {
        x: &dataset.test_x,
        y: &dataset.test_y,
    };
    let stop = AtomicBool::new(false);
    let p = TrialParams {
        hidden_layers: vec![1, 1 << 24, 1 << 24],
        ..params("sgd", 1)
    };
    let job = Job {
        params: &p,
        seed: 1,
        batch_loss_every: 10,
        stop: &stop,
        checkpoint: None,
        resume_upto: 0,
        shuffle: None,
    };
    let mut recorder = Recorder::default();
    match train(&job, &split, &test, 10, &mut recorder) {
        Err(e @ TrainError::OutOfMemory(_)) => {
            let text = e.to_string();
            assert!(!text.contains("frame #"), "no C++ backtrace: {text}");
            assert!(!text.contains('\n'), "one line: {text}");
        }
        other => panic!("{other:?}"),
    }
    assert!(recorder.started.is_empty(), "nothing trained");
}
