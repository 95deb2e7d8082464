//! Training on a device: the CPU path named explicitly is bit for bit the
//! default one; a CUDA device that is not there is a clear error; and, where
//! libtorch sees a GPU, the lab network trains on `cuda:0` as on the CPU
//! (within float rounding) and checkpoints move between the two. The GPU
//! tests print "skipped: no CUDA device (why)" and pass where there is none.
use hypersweep::data::catalog::{Catalog, BUILTIN};
use hypersweep::data::tensors::Dataset;
use hypersweep::report::{BatchLoss, EpochReport};
use hypersweep::spec::TrialParams;
use hypersweep::train::{
    self, checkpoint, Control, Datasets, DeviceChoice, Job, Listener, Outcome, TestSet, TrainError,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use tch::Device;

/// libtorch's random generator is global to the process: the trials here
/// take turns.
static RNG: Mutex<()> = Mutex::new(());

/// The validation share of the tests, as the server's default.
const VALIDATION: f64 = 0.1;

/// The shared real datasets: `../shared/data`, or `shared/data` in a copy
/// of the project that carries it inside.
fn data_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [root.join("../shared/data"), root.join("shared/data")]
        .into_iter()
        .find(|d| d.join("fashion-mnist").is_dir())
        .unwrap_or_else(|| panic!("no fashion-mnist under {}/../shared/data", root.display()))
}

/// libtorch decides whether it has CUDA once, at its first question (a
/// seed counts), so every test here asks `cuda_devices`, which loads the
/// CUDA library, before it trains anything.
fn cuda() -> Result<usize, String> {
    train::cuda_devices()
}

/// The CUDA device count, or None after saying why the test is skipped.
fn cuda_or_skip(test: &str) -> Option<usize> {
    match cuda() {
        Ok(count) => Some(count),
        Err(why) => {
            eprintln!("{test}: skipped: no CUDA device ({why})");
            None
        }
    }
}

/// Records every report and sample; suspends after `suspend_after`.
#[derive(Default)]
struct Recorder {
    reports: Vec<EpochReport>,
    samples: Vec<BatchLoss>,
    suspend_after: Option<i64>,
}

impl Listener for Recorder {
    fn on_start(&mut self, _: i64) -> Control {
        Control::Continue
    }
    fn on_sample(&mut self, _: &BatchLoss, _: i64, _: i64) {}
    fn on_epoch(&mut self, report: EpochReport, samples: Vec<BatchLoss>) -> Control {
        let epoch = report.epoch;
        self.reports.push(report);
        self.samples.extend(samples);
        if Some(epoch) == self.suspend_after {
            Control::Suspend
        } else {
            Control::Continue
        }
    }
}

/// What a trial produced: its outcome, reports and samples.
type Run = (Outcome, Vec<EpochReport>, Vec<BatchLoss>);

/// The lab network (784-128-64-10, ReLU, SGD momentum 0.9) for `epochs`.
fn lab(epochs: u32, batch_size: u32) -> TrialParams {
    TrialParams {
        learning_rate: 0.01,
        batch_size,
        epochs,
        ..TrialParams::default()
    }
}

/// Trains `params` on `dataset` with `datasets`, checkpointing to
/// `checkpoint` (resumed from when `resume_upto` > 0), suspending after
/// `suspend_after`.
fn trial(
    datasets: &mut Datasets,
    dataset: &str,
    params: &TrialParams,
    checkpoint: Option<&Path>,
    resume_upto: i64,
    suspend_after: Option<i64>,
) -> Result<Run, TrainError> {
    let stop = AtomicBool::new(false);
    let job = Job {
        params,
        seed: 11,
        batch_loss_every: 50,
        stop: &stop,
        checkpoint,
        resume_upto,
        shuffle: None,
    };
    let mut recorder = Recorder {
        suspend_after,
        ..Recorder::default()
    };
    let outcome = datasets.train(dataset, 5, VALIDATION, &job, &mut recorder)?;
    Ok((outcome, recorder.reports, recorder.samples))
}

/// A run's numbers as bits, seconds left out: equal only if bit for bit.
fn bits(run: &Run) -> Vec<u64> {
    let (outcome, reports, samples) = run;
    let mut bits = Vec::new();
    match outcome {
        Outcome::Completed {
            test_loss,
            test_accuracy,
        } => bits.extend([test_loss.to_bits(), test_accuracy.to_bits()]),
        other => panic!("the trial did not complete: {other:?}"),
    }
    for r in reports {
        bits.extend([r.epoch as u64, r.train_loss.to_bits(), r.val_loss.to_bits()]);
        bits.push(r.val_accuracy.to_bits());
    }
    for s in samples {
        bits.extend([s.epoch as u64, s.step as u64, s.loss.to_bits()]);
    }
    bits
}

/// `a` and `b` agree within `relative` of `a` (losses), or absolutely
/// within `absolute` (accuracies).
fn close(what: &str, a: f64, b: f64, relative: f64, absolute: f64) {
    let tolerance = (a.abs() * relative).max(absolute);
    assert!(
        (a - b).abs() <= tolerance,
        "{what}: {a} and {b} differ by {} (more than {tolerance})",
        (a - b).abs()
    );
}

/// Two runs of one trial on different devices agree within float rounding:
/// the same weights, the same shuffles, other summation orders.
fn agree(what: &str, cpu: &Run, gpu: &Run) {
    let (cpu_outcome, cpu_reports, cpu_samples) = cpu;
    let (gpu_outcome, gpu_reports, gpu_samples) = gpu;
    assert_eq!(cpu_reports.len(), gpu_reports.len(), "{what}: epochs");
    for (c, g) in cpu_reports.iter().zip(gpu_reports) {
        let epoch = c.epoch;
        assert_eq!(epoch, g.epoch);
        close(
            &format!("{what}: epoch {epoch} train loss"),
            c.train_loss,
            g.train_loss,
            0.01,
            0.0,
        );
        close(
            &format!("{what}: epoch {epoch} val loss"),
            c.val_loss,
            g.val_loss,
            0.02,
            0.0,
        );
        let accuracy = format!("{what}: epoch {epoch} val accuracy");
        close(&accuracy, c.val_accuracy, g.val_accuracy, 0.0, 0.01);
    }
    // The first samples, before rounding has compounded, agree closely.
    let (c, g) = (&cpu_samples[0], &gpu_samples[0]);
    assert_eq!((c.epoch, c.step), (g.epoch, g.step));
    close(&format!("{what}: first sample"), c.loss, g.loss, 1e-3, 0.0);
    assert_eq!(cpu_samples.len(), gpu_samples.len(), "{what}: samples");
    match (cpu_outcome, gpu_outcome) {
        (
            Outcome::Completed {
                test_loss: cl,
                test_accuracy: ca,
            },
            Outcome::Completed {
                test_loss: gl,
                test_accuracy: ga,
            },
        ) => {
            close(&format!("{what}: test loss"), *cl, *gl, 0.02, 0.0);
            close(&format!("{what}: test accuracy"), *ca, *ga, 0.0, 0.01);
        }
        other => panic!("{what}: both runs must complete: {other:?}"),
    }
}

/// `Device::Cpu` named explicitly, through `Datasets::on` and `train_on`,
/// is bit for bit the default path (`Datasets::new`, `train`), resumed
/// from a checkpoint included.
#[test]
fn the_cpu_named_explicitly_is_bit_for_bit_the_default() {
    let _ = cuda();
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let p = TrialParams {
        dropout: 0.2, // the generator's draws count too
        ..lab(2, 64)
    };
    let catalog = Catalog::new(None);
    let default = trial(
        &mut Datasets::new(catalog.clone()),
        BUILTIN,
        &p,
        None,
        0,
        None,
    )
    .unwrap();
    let mut on_cpu = Datasets::on(catalog.clone(), Device::Cpu);
    assert_eq!(on_cpu.device(), Device::Cpu);
    let explicit = trial(&mut on_cpu, BUILTIN, &p, None, 0, None).unwrap();
    assert_eq!(bits(&default), bits(&explicit));
    // Once more on the same datasets: the cached dataset and split.
    let again = trial(&mut on_cpu, BUILTIN, &p, None, 0, None).unwrap();
    assert_eq!(bits(&default), bits(&again));

    // Suspended after epoch 1 and resumed through `checkpoint::load_on`.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trial.ckpt");
    let first = trial(&mut on_cpu, BUILTIN, &p, Some(&path), 0, Some(1)).unwrap();
    assert_eq!(first.0, Outcome::Suspended);
    let rest = trial(&mut on_cpu, BUILTIN, &p, Some(&path), 1, None).unwrap();
    // Samples left out: the window of the first one after a resumption
    // starts there (as it always has), not at the previous sample.
    let resumed = (rest.0, [first.1, rest.1].concat(), Vec::new());
    let reports = (default.0.clone(), default.1.clone(), Vec::new());
    assert_eq!(bits(&reports), bits(&resumed));

    // `train` and `train_on(Device::Cpu)` on one split.
    let data = Dataset::from_raw(catalog.load(BUILTIN).unwrap());
    let split = data.split(5, VALIDATION);
    let test = TestSet {
        x: &data.test_x,
        y: &data.test_y,
    };
    let stop = AtomicBool::new(false);
    let job = Job {
        params: &p,
        seed: 11,
        batch_loss_every: 50,
        stop: &stop,
        checkpoint: None,
        resume_upto: 0,
        shuffle: None,
    };
    let run = |device: Option<Device>| {
        let mut recorder = Recorder::default();
        let outcome = match device {
            None => train::train(&job, &split, &test, 10, &mut recorder),
            Some(d) => train::train_on(d, &job, &split, &test, 10, &mut recorder),
        };
        (outcome.unwrap(), recorder.reports, recorder.samples)
    };
    let plain = run(None);
    assert_eq!(bits(&plain), bits(&run(Some(Device::Cpu))));
    assert_eq!(
        bits(&plain),
        bits(&default),
        "Datasets::train is train on its split"
    );
}

/// A CUDA device that is not there fails the trial with an error that
/// says so, before any data is read; `resolve` says the same.
#[test]
fn a_cuda_device_that_is_not_there_is_a_clear_error() {
    let (device, expected) = match cuda() {
        Ok(count) => (
            count,
            format!("device cuda:{count}: this machine has {count} CUDA device(s)"),
        ),
        Err(why) => (
            0,
            format!("device cuda:0: no CUDA device is available ({why})"),
        ),
    };
    let mut datasets = Datasets::on(Catalog::new(None), Device::Cuda(device));
    let e = trial(&mut datasets, "no-such-dataset", &lab(1, 64), None, 0, None).unwrap_err();
    assert!(
        matches!(&e, TrainError::InvalidConfiguration { field, .. } if field == "device"),
        "{e:?}"
    );
    assert!(e.to_string().starts_with(&expected), "{e}");
    let choice: DeviceChoice = format!("cuda:{device}").parse().unwrap();
    let e = choice.resolve().unwrap_err();
    assert!(e.to_string().starts_with(&expected), "{e}");
}

/// The lab network trains on Fashion-MNIST on cuda:0 as on the CPU: the
/// same weights and shuffles, the same losses and accuracies within float
/// rounding; a second trial reuses the dataset already on the GPU.
#[test]
fn the_lab_network_trains_on_cuda_as_on_the_cpu() {
    let Some(_) = cuda_or_skip("the_lab_network_trains_on_cuda_as_on_the_cpu") else {
        return;
    };
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let catalog = Catalog::new(Some(data_dir()));
    let mut cpu = Datasets::new(catalog.clone());
    let mut gpu = Datasets::on(catalog, Device::Cuda(0));
    for batch in [256, 64] {
        let p = lab(2, batch);
        let on_cpu = trial(&mut cpu, "fashion-mnist", &p, None, 0, None).unwrap();
        let on_gpu = trial(&mut gpu, "fashion-mnist", &p, None, 0, None).unwrap();
        agree(&format!("batch {batch}"), &on_cpu, &on_gpu);
        let last = &on_gpu.1[1];
        assert!(last.val_accuracy > 0.8, "batch {batch}: {last:?}");
    }
}

/// A checkpoint written on the GPU resumes on the CPU and one written on
/// the CPU resumes on the GPU: each run agrees with the uninterrupted CPU
/// one; the file holds CPU tensors, which any worker reads.
#[test]
fn checkpoints_move_between_the_cpu_and_cuda() {
    let Some(_) = cuda_or_skip("checkpoints_move_between_the_cpu_and_cuda") else {
        return;
    };
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let p = TrialParams {
        optimizer: "adam".parse().unwrap(), // buffers beside the weights
        learning_rate: 0.001,
        ..lab(3, 64)
    };
    let catalog = Catalog::new(None);
    let mut cpu = Datasets::new(catalog.clone());
    let mut gpu = Datasets::on(catalog, Device::Cuda(0));
    let whole = trial(&mut cpu, BUILTIN, &p, None, 0, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let resumed = |name: &str, first: &mut Datasets, then: &mut Datasets| {
        let path = dir.path().join(format!("{name}.ckpt"));
        let head = trial(first, BUILTIN, &p, Some(&path), 0, Some(1)).unwrap();
        assert_eq!(head.0, Outcome::Suspended, "{name}");
        let saved = checkpoint::load(&path).unwrap().expect("written");
        assert_eq!(saved.epoch, 1, "{name}");
        // Read as saved (no device given): every tensor is a CPU one.
        for (tensor, t) in tch::Tensor::load_multi(&path).unwrap() {
            assert_eq!(t.device(), Device::Cpu, "{name}: {tensor}");
        }
        let tail = trial(then, BUILTIN, &p, Some(&path), 1, None).unwrap();
        assert_eq!(tail.1[0].epoch, 2, "{name}: resumed after epoch 1");
        let run = (tail.0, [head.1, tail.1].concat(), [head.2, tail.2].concat());
        agree(name, &whole, &run);
    };
    resumed("cuda-then-cpu", &mut gpu, &mut cpu);
    resumed("cpu-then-cuda", &mut cpu, &mut gpu);
    resumed(
        "cuda-then-cuda",
        &mut gpu,
        &mut Datasets::on(Catalog::new(None), Device::Cuda(0)),
    );
}
