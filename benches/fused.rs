//! Fused trials (issue 18): aggregate training throughput of groups of 1 to
//! 32 lab networks (784-128-64-10, ReLU, SGD momentum 0.9, learning rates of
//! their own) trained as one (`train::fused::Group`) on Fashion-MNIST,
//! against the sgemm peak measured in the same run.
//!
//! `cargo bench --bench fused -- [--threads 1,2] [--batches 32,64,128,256] [--groups 1,2,4,8,16,32] [--images 12800] [--hidden 128,64]`
//!
//! Aggregate samples/s is members x images / seconds: each member trains on
//! every image. The share of peak counts each member's matrix FLOPs.
mod common;

use common::{arg, flops_per_sample, list, sgemm_peak};
use hypersweep::data::catalog::Catalog;
use hypersweep::data::tensors::Dataset;
use hypersweep::spec::TrialParams;
use hypersweep::train::{self, fused::Group, fused::Member};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Seconds to train a group of `members` on the first `images` images in
/// batches of `batch` (after one warm-up batch).
fn seconds(x: &Tensor, y: &Tensor, hidden: &[u32], members: usize, batch: i64, images: i64) -> f64 {
    let params: Vec<TrialParams> = (0..members)
        .map(|i| TrialParams {
            learning_rate: 0.001 * (i + 1) as f64,
            batch_size: batch as u32,
            hidden_layers: hidden.to_vec(),
            ..TrialParams::default()
        })
        .collect();
    let list: Vec<Member> = params
        .iter()
        .enumerate()
        .map(|(i, p)| Member {
            params: p,
            seed: i as u64,
            resume: None,
        })
        .collect();
    let (mut group, _) = Group::new(&list, 784, 10, Device::Cpu).expect("group");
    let order = Tensor::randperm(x.size()[0], (Kind::Int64, Device::Cpu)).narrow(0, 0, images);
    let (bx, by) = (x.index_select(0, &order), y.index_select(0, &order));
    group
        .train_batch(&bx.narrow(0, 0, batch), &by.narrow(0, 0, batch), &[])
        .expect("warm-up");
    let started = Instant::now();
    let mut start = 0;
    while start < images {
        let len = batch.min(images - start);
        group
            .train_batch(&bx.narrow(0, start, len), &by.narrow(0, start, len), &[])
            .expect("batch");
        start += len;
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    let threads = list("--threads", "1,2");
    let batches = list("--batches", "32,64,128,256");
    let groups = list("--groups", "1,2,4,8,16,32");
    let images: i64 = arg("--images").map_or(12_800, |v| v.parse().expect("--images N"));
    let hidden: Vec<u32> = list("--hidden", "128,64")
        .iter()
        .map(|&w| w as u32)
        .collect();
    let catalog = Catalog::new(Some(format!("{ROOT}/../shared/data").into()));
    let data = Dataset::from_raw(catalog.load("fashion-mnist").expect("fashion-mnist"));
    let x = data
        .train_x
        .reshape([data.train_x.size()[0], -1])
        .to_kind(Kind::Float);
    let y = data.train_y.shallow_clone();
    train::flush_denormals();
    let mut widths = vec![784i64];
    widths.extend(hidden.iter().map(|&w| i64::from(w)));
    widths.push(10);
    let flops = flops_per_sample(&widths);
    println!("groups of {widths:?} networks, SGD momentum 0.9, {images} Fashion-MNIST images each");
    println!(
        "{:>7} {:>5} {:>6} {:>12} {:>11} {:>11}",
        "threads", "batch", "group", "samples/s", "x group 1", "% of sgemm"
    );
    for &t in &threads {
        tch::set_num_threads(t as i32);
        let peak = sgemm_peak(5);
        for &b in &batches {
            let mut alone = None;
            for &g in &groups {
                let s = seconds(&x, &y, &hidden, g as usize, b, images);
                let rate = g as f64 * images as f64 / s;
                let one = *alone.get_or_insert(rate / g as f64);
                println!(
                    "{t:>7} {b:>5} {g:>6} {rate:>12.0} {:>10.2}x {:>10.1}%",
                    rate / one,
                    100.0 * rate * flops / (peak * 1e9)
                );
            }
        }
        println!(
            "{:>7} sgemm peak (1024^3 f32 matmul): {peak:.1} GFLOP/s",
            ""
        );
    }
}
