//! Epoch seconds of the lab network (784-128-64-10, ReLU, LogSoftmax + NLL,
//! SGD lr 0.01 momentum 0.9) on Fashion-MNIST, per device: a trial's epoch
//! as a worker trains it (`train::train_on`, the dataset moved to the
//! device once beforehand, 54,000 training images, the 6,000-image
//! validation pass included), its time as its epoch report gives it.
//! A device that is not there is reported as not measured, with why.
//!
//! `cargo bench --bench device -- [--devices cpu,cuda:0] [--batches 64,256] [--reps 3] [--threads N] [--data DIR]`
//! (`scripts/gpu-bench.sh` runs it on a GPU machine.)
use hypersweep::data::catalog::Catalog;
use hypersweep::data::tensors::Dataset;
use hypersweep::report::{BatchLoss, EpochReport};
use hypersweep::spec::TrialParams;
use hypersweep::train::{self, Control, DeviceChoice, Job, Listener, TestSet};
use std::sync::atomic::AtomicBool;
use tch::Device;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VALIDATION: f64 = 0.1;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn list(name: &str, default: &str) -> Vec<String> {
    arg(name)
        .unwrap_or_else(|| default.into())
        .split(',')
        .map(|s| s.trim().to_string())
        .collect()
}

/// Keeps the epoch's report and stops after one epoch.
struct Clock(Option<EpochReport>);

impl Listener for Clock {
    fn on_start(&mut self, _: i64) -> Control {
        Control::Continue
    }
    fn on_sample(&mut self, _: &BatchLoss, _: i64, _: i64) {}
    fn on_epoch(&mut self, report: EpochReport, _: Vec<BatchLoss>) -> Control {
        self.0 = Some(report);
        Control::Finish
    }
}

/// The reports of `reps` one-epoch trials at `batch` on `device`, in the
/// order run (the first on a GPU includes its libraries' warm-up).
fn epochs(device: Device, data: &Dataset, batch: u32, reps: usize) -> Vec<EpochReport> {
    let split = data.split(0, VALIDATION);
    // One test image: the bench times epochs, not the trial's end.
    let test_x = data.test_x.narrow(0, 0, 1);
    let test_y = data.test_y.narrow(0, 0, 1);
    let test = TestSet {
        x: &test_x,
        y: &test_y,
    };
    let params = TrialParams {
        learning_rate: 0.01,
        batch_size: batch,
        epochs: 1,
        ..TrialParams::default()
    };
    let stop = AtomicBool::new(false);
    (0..reps)
        .map(|rep| {
            let job = Job {
                params: &params,
                seed: rep as u64,
                batch_loss_every: 100,
                stop: &stop,
                checkpoint: None,
                resume_upto: 0,
                shuffle: None,
            };
            let mut clock = Clock(None);
            train::train_on(device, &job, &split, &test, 10, &mut clock).expect("training");
            clock.0.expect("one epoch reported")
        })
        .collect()
}

fn main() {
    let reps: usize = arg("--reps").map_or(3, |r| r.parse().expect("--reps N"));
    let devices = list("--devices", "cpu,cuda:0");
    let batches: Vec<u32> = list("--batches", "64,256")
        .iter()
        .map(|b| b.parse().expect("--batches: integers"))
        .collect();
    // Every device resolved before anything else: libtorch decides whether
    // it has CUDA at its first question, a seed included.
    let resolved: Vec<_> = devices
        .iter()
        .map(|name| {
            let choice = name.parse::<DeviceChoice>();
            (name, choice.and_then(DeviceChoice::resolve))
        })
        .collect();
    if let Some(t) = arg("--threads") {
        train::set_threads(t.parse().expect("--threads N"));
    }
    train::flush_denormals();
    let data_dir = arg("--data").unwrap_or_else(|| format!("{ROOT}/../shared/data"));
    let catalog = Catalog::new(Some(data_dir.clone().into()));
    println!(
        "one epoch of 784-128-64-10 SGD(momentum 0.9) on Fashion-MNIST ({data_dir}), \
         54,000 training + 6,000 validation images; epoch seconds, best of {reps}"
    );
    println!("cpu threads: {}", tch::get_num_threads());
    println!(
        "{:>8} {:>6} {:>9} {:>10} {:>8}  each run",
        "device", "batch", "epoch s", "samples/s", "val acc"
    );
    let mut best = Vec::new();
    for (name, resolved) in resolved {
        let device = match resolved.as_deref() {
            Ok([device, ..]) => *device,
            Ok([]) => unreachable!("resolve names at least one device"),
            Err(e) => {
                println!("{name:>8}  not measured: {e}");
                continue;
            }
        };
        let raw = catalog.load("fashion-mnist").expect("fashion-mnist");
        // Moved once per device, as `Datasets::on` does.
        let data = Dataset::from_raw(raw).to_device(device);
        let train_rows = data.train_x.size()[0] as f64 * (1.0 - VALIDATION);
        for &batch in &batches {
            let runs = epochs(device, &data, batch, reps);
            let seconds = runs.iter().map(|r| r.seconds);
            let fastest = seconds.clone().fold(f64::INFINITY, f64::min);
            let each: Vec<String> = seconds.map(|s| format!("{s:.3}")).collect();
            // A check that it learnt: accuracy after one epoch, first run.
            let accuracy = runs[0].val_accuracy;
            let label = train::device_name(device);
            println!(
                "{label:>8} {batch:>6} {fastest:>9.3} {:>10.0} {accuracy:>8.4}  {}",
                train_rows / fastest,
                each.join(" ")
            );
            best.push((label, batch, fastest));
        }
    }
    for &batch in &batches {
        let at = |prefix: &str| {
            best.iter()
                .find(|(d, b, _)| d.starts_with(prefix) && *b == batch)
                .map(|(_, _, s)| *s)
        };
        if let (Some(cpu), Some(gpu)) = (at("cpu"), at("cuda")) {
            println!(
                "batch {batch}: the GPU epoch is {:.2}x faster than the CPU's",
                cpu / gpu
            );
        }
    }
}
