//! Training throughput of the lab network (784-128-64-10, ReLU, LogSoftmax +
//! NLL, SGD lr 0.01 momentum 0.9) on Fashion-MNIST's 60,000 training images,
//! through the project's own `train::train`, side by side with the same loop
//! in PyTorch (benches/pytorch_throughput.py): as a PyTorch user writes it
//! (DataLoader) and the fastest Python way (preloaded tensors, randperm,
//! slicing). Also the share of this machine's measured sgemm peak.
//!
//! `bash scripts/pytorch.sh && cargo bench --bench throughput -- [--reps 3] [--threads 1,2] [--batches 32,64,128,256] [--no-python]`
mod common;

use common::{arg, flops_per_sample, list, sgemm_peak};
use hypersweep::data::catalog::Catalog;
use hypersweep::data::tensors::{Dataset, Split};
use hypersweep::report::{BatchLoss, EpochReport};
use hypersweep::spec::TrialParams;
use hypersweep::train::{self, Control, Job, Listener, TestSet};
use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::AtomicBool;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Layer widths of the lab network.
const LAYERS: [i64; 4] = [784, 128, 64, 10];

/// Keeps the epoch's own timing: `EpochReport::seconds`, from the shuffle
/// through the last batch (the validation set here is one image).
struct Clock(Option<f64>);

impl Listener for Clock {
    fn on_start(&mut self, _: i64) -> Control {
        Control::Continue
    }
    fn on_sample(&mut self, _: &BatchLoss, _: i64, _: i64) {}
    fn on_epoch(&mut self, report: EpochReport, _: Vec<BatchLoss>) -> Control {
        self.0 = Some(report.seconds);
        Control::Finish
    }
}

/// Samples per second of one epoch of `train::train` at `batch`, best of `reps`.
fn ours(data: &Dataset, batch: i64, reps: usize) -> f64 {
    let split = Split::whole(
        &data.train_x,
        &data.train_y,
        data.test_x.narrow(0, 0, 1),
        data.test_y.narrow(0, 0, 1),
    );
    let test = TestSet {
        x: &split.val_x,
        y: &split.val_y,
    };
    let params = TrialParams {
        learning_rate: 0.01,
        batch_size: batch as u32,
        epochs: 1,
        ..TrialParams::default()
    };
    let stop = AtomicBool::new(false);
    let mut best = f64::INFINITY;
    for rep in 0..reps {
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
        train::train(&job, &split, &test, 10, &mut clock).expect("training");
        best = best.min(clock.0.expect("one epoch reported"));
    }
    data.train_x.size()[0] as f64 / best
}

/// Samples per second from the Python script, keyed by (loop, batch).
fn pytorch(threads: i64, batches: &[i64], reps: usize) -> HashMap<(String, i64), f64> {
    let batches: Vec<String> = batches.iter().map(i64::to_string).collect();
    let output = Command::new(format!("{ROOT}/.venv/bin/python"))
        .arg(format!("{ROOT}/benches/pytorch_throughput.py"))
        .args(["--threads", &threads.to_string()])
        .args(["--batches", &batches.join(",")])
        .args(["--reps", &reps.to_string()])
        .args(["--data", &format!("{ROOT}/../shared/data/fashion-mnist")])
        .output()
        .expect("running benches/pytorch_throughput.py (bash scripts/pytorch.sh installs torch)");
    assert!(
        output.status.success(),
        "pytorch_throughput.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (kind, batch, rate) = (f.next()?, f.next()?, f.next()?);
            Some(((kind.to_string(), batch.parse().ok()?), rate.parse().ok()?))
        })
        .collect()
}

fn main() {
    let reps: usize = arg("--reps").map_or(3, |r| r.parse().expect("--reps N"));
    let threads = list("--threads", "1,2");
    let batches = list("--batches", "32,64,128,256");
    let python = !std::env::args().any(|a| a == "--no-python");
    let catalog = Catalog::new(Some(format!("{ROOT}/../shared/data").into()));
    let data = Dataset::from_raw(catalog.load("fashion-mnist").expect("fashion-mnist"));
    train::flush_denormals();
    let flops = flops_per_sample(&LAYERS);
    println!(
        "one epoch of 784-128-64-10 SGD(momentum 0.9) on Fashion-MNIST ({} images), samples/s, best of {reps}",
        data.train_x.size()[0]
    );
    println!("matrix FLOPs per sample, forward + backward: {flops:.0}\n");
    println!(
        "{:>7} {:>5} {:>10} {:>10} {:>10} {:>9} {:>9} {:>11}",
        "threads", "batch", "ours", "dataloader", "fast", "/loader", "/fast", "% of sgemm"
    );
    for &t in &threads {
        tch::set_num_threads(t as i32);
        let peak = sgemm_peak(5);
        let theirs = if python {
            pytorch(t, &batches, reps)
        } else {
            HashMap::new()
        };
        for &b in &batches {
            let rate = ours(&data, b, reps);
            let loader = theirs.get(&("dataloader".into(), b)).copied();
            let fast = theirs.get(&("fast".into(), b)).copied();
            let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
            let ratio = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.2}x", rate / v));
            println!(
                "{t:>7} {b:>5} {rate:>10.0} {:>10} {:>10} {:>9} {:>9} {:>10.1}%",
                fmt(loader),
                fmt(fast),
                ratio(loader),
                ratio(fast),
                100.0 * rate * flops / (peak * 1e9)
            );
        }
        println!(
            "{:>7} sgemm peak (1024^3 f32 matmul): {peak:.1} GFLOP/s",
            ""
        );
    }
}
