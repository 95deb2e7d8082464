//! Sweeps end to end through the HTTP API: real server, real worker
//! processes, real training on the real MNIST / Fashion-MNIST files.

use crate::common::spawn_app;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const MINUTES: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_sweep_trains_and_best_is_the_max_over_trials() {
    let app = spawn_app(2, |_| {}).await;
    let id = app
        .submit(
            "name: small-lab
dataset: mnist-10k
method: random
metric: {name: val_accuracy, goal: maximize}
max_trials: 4
max_parallel: 2
seed: 3
parameters:
  learning_rate: {distribution: log_uniform_values, min: 0.01, max: 0.05}
  batch_size: {values: [32, 64]}
  epochs: {value: 2}
  optimizer: {value: sgd}
  momentum: {value: 0.9}
",
        )
        .await;
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    assert_eq!(sweep["state"], "completed");
    assert_eq!(sweep["trials"]["completed"], 4, "{sweep}");

    let (status, best) = app.get(&format!("/v1/sweeps/{id}/best")).await;
    assert_eq!(status, 200, "{best}");
    let best_value = best["metric"]["value"].as_f64().unwrap();
    assert!(best_value > 0.85, "best val_accuracy {best_value}");
    let test_accuracy = best["test"]["accuracy"].as_f64().unwrap();
    assert!(test_accuracy > 0.8, "test accuracy {test_accuracy}");

    let (_, trials) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    let trials = trials["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 4);
    let max = trials
        .iter()
        .map(|t| t["val_accuracy"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!(best_value, max);
    let first_best = trials
        .iter()
        .find(|t| t["val_accuracy"].as_f64() == Some(max))
        .unwrap();
    assert_eq!(
        best["trial"]["id"], first_best["id"],
        "ties go to the earlier trial"
    );
    assert_eq!(sweep["best"]["trial_id"], best["trial"]["id"]);

    // Every epoch has its report, and the training loss is sampled every 100 batches.
    let trial_id = best["trial"]["id"].as_i64().unwrap();
    let (status, trial) = app.get(&format!("/v1/trials/{trial_id}")).await;
    assert_eq!(status, 200);
    let epochs = trial["epochs"].as_array().unwrap();
    assert_eq!(
        epochs
            .iter()
            .map(|e| e["epoch"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    for e in epochs {
        for key in ["train_loss", "val_loss", "val_accuracy", "seconds"] {
            assert!(e[key].as_f64().unwrap() > 0.0, "{key} in {e}");
        }
    }
    let batch = trial["params"]["batch_size"].as_i64().unwrap();
    let batches_per_epoch = (7200 + batch - 1) / batch;
    let samples = trial["batch_losses"].as_array().unwrap();
    assert_eq!(
        samples.len() as i64,
        2 * batches_per_epoch / 100,
        "{samples:?}"
    );
    assert_eq!(samples[0]["step"], 100);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_runs_exactly_the_grid_and_never_exceeds_max_parallel() {
    let app = spawn_app(2, |_| {}).await;
    let id = app
        .submit(
            "method: grid
max_parallel: 1
parameters:
  batch_size: {values: [128, 256]}
  optimizer: {values: [sgd, adam]}
  learning_rate: {value: 0.01}
  epochs: {value: 1}
",
        )
        .await;
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    assert_eq!(sweep["trials"]["completed"], 4, "{sweep}");
    let (_, trials) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    let trials = trials["trials"].as_array().unwrap();
    let grid: BTreeSet<(i64, String)> = trials
        .iter()
        .map(|t| {
            (
                t["params"]["batch_size"].as_i64().unwrap(),
                t["params"]["optimizer"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(i64, String)> =
        [(128, "adam"), (128, "sgd"), (256, "adam"), (256, "sgd")]
            .iter()
            .map(|(b, o)| (*b, o.to_string()))
            .collect();
    assert_eq!(grid, expected);
    assert_eq!(trials.len(), 4);

    // With max_parallel 1 and two workers, no two trials' runs overlap.
    let mut spans: Vec<(String, String)> = trials
        .iter()
        .map(|t| {
            (
                t["started_at"].as_str().unwrap().to_string(),
                t["finished_at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "trials overlap: {pair:?}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_learning_rate_diverges_and_the_sweep_goes_on() {
    let app = spawn_app(2, |_| {}).await;
    let id = app
        .submit(
            "method: grid
parameters:
  learning_rate: {values: [100000000.0, 0.05]}
  batch_size: {value: 128}
  epochs: {value: 2}
",
        )
        .await;
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    assert_eq!(sweep["state"], "completed");
    let (_, trials) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    let trials = trials["trials"].as_array().unwrap();
    let absurd = &trials[0];
    assert_eq!(absurd["params"]["learning_rate"], 1e8);
    assert_eq!(absurd["state"], "failed", "{absurd}");
    assert_eq!(absurd["error"], "diverged");
    assert_eq!(trials[1]["state"], "completed");
    let (_, best) = app.get(&format!("/v1/sweeps/{id}/best")).await;
    assert_eq!(best["trial"]["id"], trials[1]["id"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fashion_mnist_from_data_dir_is_listed_and_trains() {
    let app = spawn_app(1, |_| {}).await;
    let (status, body) = app.get("/v1/datasets").await;
    assert_eq!(status, 200);
    let datasets = body["datasets"].as_array().unwrap();
    let find = |name: &str| {
        datasets
            .iter()
            .find(|d| d["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let builtin = find("mnist-10k");
    assert_eq!(builtin["train_size"], 8000);
    assert_eq!(builtin["source"], "built-in");
    let fashion = find("fashion-mnist");
    assert_eq!(fashion["train_size"], 60000, "{body}");
    assert_eq!(fashion["test_size"], 10000);
    assert_eq!(fashion["classes"], 10);

    let id = app
        .submit(
            "dataset: fashion-mnist
method: grid
parameters:
  optimizer: {value: adam}
  learning_rate: {value: 0.002}
  batch_size: {value: 128}
  epochs: {value: 1}
",
        )
        .await;
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    assert_eq!(sweep["trials"]["completed"], 1, "{sweep}");
    let (_, best) = app.get(&format!("/v1/sweeps/{id}/best")).await;
    let accuracy = best["metric"]["value"].as_f64().unwrap();
    assert!(
        accuracy > 0.75,
        "Fashion-MNIST val accuracy after one epoch: {accuracy}"
    );
    let (_, trial) = app
        .get(&format!("/v1/trials/{}", best["trial"]["id"]))
        .await;
    // 54,000 training images at batch 128: 422 batches, 4 samples.
    assert_eq!(trial["batch_losses"].as_array().unwrap().len(), 4);
    app.stop().await;
}
