//! Smarter search end to end: bayes, early stopping (hyperband, median),
//! and the budgets beyond max_trials (target, max_minutes).

use crate::common::spawn_app;
use serde_json::Value;
use std::time::Duration;

const MINUTES: Duration = Duration::from_secs(60);

async fn trials(app: &crate::common::TestApp, id: i64) -> Vec<Value> {
    let (_, body) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    body["trials"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyperband_prunes_some_trials_and_best_is_a_completed_one() {
    let app = spawn_app(2, |_| {}).await;
    // Learning rates from good to hopeless, one trial at a time: the later,
    // worse trials meet rungs already set by better ones.
    let id = app
        .submit(
            "method: grid
max_parallel: 1
early_terminate: {type: hyperband, min_iter: 1, eta: 3}
parameters:
  learning_rate: {values: [0.05, 0.02, 0.00001, 0.01, 0.000003, 0.000001]}
  epochs: {value: 3}
  batch_size: {value: 128}
",
        )
        .await;
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    let counts = &sweep["trials"];
    assert!(counts["pruned"].as_i64().unwrap() >= 1, "{sweep}");
    assert!(counts["completed"].as_i64().unwrap() >= 1, "{sweep}");
    assert_eq!(
        counts["pruned"].as_i64().unwrap() + counts["completed"].as_i64().unwrap(),
        6
    );
    let rungs = sweep["rungs"].as_array().unwrap();
    assert_eq!(rungs[0]["epoch"], 1, "{sweep}");
    assert_eq!(rungs[0]["reached"], 6, "{sweep}");

    let (_, best) = app.get(&format!("/v1/sweeps/{id}/best")).await;
    assert_eq!(best["trial"]["state"], "completed", "{best}");
    for trial in trials(&app, id).await {
        let (_, detail) = app.get(&format!("/v1/trials/{}", trial["id"])).await;
        let epochs = detail["epochs"].as_array().unwrap();
        if trial["state"] == "pruned" {
            let last = epochs.last().unwrap();
            assert_eq!(last["decision"], "prune", "{detail}");
            assert!(
                last["reason"].as_str().unwrap().contains("rung"),
                "{detail}"
            );
            assert!((epochs.len() as i64) < 3, "a pruned trial stops early");
            assert!(detail["error"].is_string());
        }
        // Every report but the last epoch's got a decision.
        for e in &epochs[..epochs.len().min(2)] {
            assert!(e["decision"].is_string(), "{detail}");
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn median_stopping_prunes_a_trial_worse_than_the_others() {
    let app = spawn_app(1, |_| {}).await;
    let id = app
        .submit(
            "method: grid
early_terminate: {type: median, min_iter: 1}
parameters:
  learning_rate: {values: [0.05, 0.03, 0.000001]}
  epochs: {value: 3}
  batch_size: {value: 128}
",
        )
        .await;
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    let all = trials(&app, id).await;
    assert_eq!(all[2]["state"], "pruned", "{sweep}");
    assert_eq!(all[2]["epochs_done"], 1);
    assert!(
        all[2]["error"].as_str().unwrap().contains("median"),
        "{}",
        all[2]
    );
    assert_eq!(all[0]["state"], "completed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bayes_samples_at_claim_time_and_completes() {
    let app = spawn_app(2, |_| {}).await;
    let id = app
        .submit(
            "method: bayes
max_trials: 6
n_startup_trials: 3
seed: 11
parameters:
  learning_rate: {distribution: log_uniform_values, min: 0.001, max: 0.1}
  optimizer: {values: [sgd, adam]}
  momentum: {distribution: uniform, min: 0.5, max: 0.95, when: {optimizer: sgd}}
  hidden_layers: {values: [[64], [128, 64]]}
  epochs: {value: 1}
",
        )
        .await;
    let (_, created) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    assert!(
        created["trials"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["params"].is_null()),
        "bayes samples when claimed"
    );
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    assert_eq!(sweep["trials"]["completed"], 6, "{sweep}");
    for t in trials(&app, id).await {
        let p = &t["params"];
        assert!(p["learning_rate"].as_f64().unwrap() >= 0.001, "{p}");
        if p["optimizer"] == "adam" {
            assert!(
                p["momentum"].is_null(),
                "momentum does not apply to adam: {p}"
            );
        } else {
            assert!(
                p["momentum"].as_f64().unwrap() >= 0.5,
                "sgd's momentum is sampled: {p}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_ends_the_sweep_as_soon_as_a_trial_reaches_it() {
    let app = spawn_app(2, |_| {}).await;
    let id = app
        .submit(
            "method: random
max_trials: 30
max_parallel: 2
target: {val_accuracy: 0.85}
parameters:
  # A range, not one value: a space of one configuration would train it once (no repeats).
  learning_rate: {min: 0.045, max: 0.055}
  epochs: {value: 5}
",
        )
        .await;
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    assert_eq!(sweep["ended_by"], "target", "{sweep}");
    assert!(
        sweep["trials"]["cancelled"].as_i64().unwrap() >= 20,
        "{sweep}"
    );
    let (_, best) = app.get(&format!("/v1/sweeps/{id}/best")).await;
    assert!(best["metric"]["value"].as_f64().unwrap() >= 0.85, "{best}");
    assert!(
        best["trial"]["epochs_done"].as_i64().unwrap() < 5,
        "it stopped at the target: {best}"
    );
    assert!(best["test"]["accuracy"].as_f64().is_some(), "{best}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_minutes_stops_new_trials_and_can_stop_running_ones() {
    let app = spawn_app(1, |_| {}).await;
    let id = app
        .submit(
            "method: random
max_trials: 50
max_minutes: 0.05
at_max_minutes: stop
parameters:
  # A range: a space of one configuration would plan one trial (no repeats).
  learning_rate: {min: 0.01, max: 0.02}
  epochs: {value: 200}
  batch_size: {value: 32}
",
        )
        .await;
    let sweep = app.wait_for_sweep(id, 2 * MINUTES).await;
    assert_eq!(sweep["ended_by"], "max_minutes", "{sweep}");
    let deadline = sweep["deadline"].as_str().unwrap().to_string();
    let all = trials(&app, id).await;
    let started: Vec<&Value> = all.iter().filter(|t| t["started_at"].is_string()).collect();
    assert_eq!(started.len(), 1, "one trial ran");
    assert!(started[0]["started_at"].as_str().unwrap() < deadline.as_str());
    assert_eq!(
        started[0]["state"], "cancelled",
        "the running trial was stopped"
    );
    assert_eq!(sweep["trials"]["cancelled"], 50);
    app.stop().await;
}
