//! What the training benches share: their arguments, the sgemm peak they
//! measure beside their own figures, and the matrix FLOPs of an MLP.
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// The value after `name` on the command line.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The comma-separated integers after `name`, or `default`'s.
pub fn list(name: &str, default: &str) -> Vec<i64> {
    arg(name)
        .unwrap_or_else(|| default.into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("a comma-separated list of integers")
        })
        .collect()
}

/// Matrix FLOPs of one sample through an MLP of `widths` (input, hidden...,
/// classes), forward and backward: 2 per multiply-add; backward computes
/// the weight gradient of every layer and the input gradient of every layer
/// but the first (the images need none).
pub fn flops_per_sample(widths: &[i64]) -> f64 {
    let macs: Vec<i64> = widths.windows(2).map(|w| w[0] * w[1]).collect();
    let forward = 2 * macs.iter().sum::<i64>();
    let backward = 2 * macs.iter().sum::<i64>() + 2 * macs[1..].iter().sum::<i64>();
    (forward + backward) as f64
}

/// Best-of-`reps` GFLOP/s of a 1024x1024 f32 matmul on the current threads.
pub fn sgemm_peak(reps: usize) -> f64 {
    let n = 1024;
    let a = Tensor::randn([n, n], (Kind::Float, Device::Cpu));
    let b = Tensor::randn([n, n], (Kind::Float, Device::Cpu));
    let _ = a.matmul(&b);
    let mut best = 0.0f64;
    for _ in 0..reps {
        let started = Instant::now();
        for _ in 0..10 {
            let _ = a.matmul(&b);
        }
        let flops = 10.0 * 2.0 * (n * n * n) as f64;
        best = best.max(flops / started.elapsed().as_secs_f64() / 1e9);
    }
    best
}
