//! A worker that dies mid-trial loses its lease; the trial is queued again
//! and trained to the end by another worker, its reports counted once.
mod common;

use common::spawn_app;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_trial_is_requeued_and_completed() {
    let app = spawn_app(1, |c| c.lease_seconds = 2).await;
    let id = app
        .submit("method: grid\nparameters:\n  epochs: {value: 12}\n  batch_size: {value: 32}\n  learning_rate: {value: 0.01}\n")
        .await;
    let trial_url = |t: &serde_json::Value| format!("/v1/trials/{}", t["id"]);
    // Wait until the trial has reported an epoch, then kill its worker.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (trial, worker) = loop {
        let (_, trials) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
        let trial = trials["trials"][0].clone();
        if trial["epochs_done"].as_i64().unwrap_or(0) >= 1 && trial["state"] == "running" {
            break (trial.clone(), trial["worker"].as_str().unwrap().to_string());
        }
        assert!(
            Instant::now() < deadline,
            "the trial never started: {trial}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let pid: i32 = worker.rsplit('-').next().unwrap().parse().unwrap();
    // SAFETY: kills the worker process the server started for this test.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);

    let sweep = app.wait_for_sweep(id, Duration::from_secs(180)).await;
    assert_eq!(sweep["trials"]["completed"], 1, "{sweep}");
    let (_, done) = app.get(&trial_url(&trial)).await;
    assert_eq!(done["attempt"], 2, "{done}");
    assert_ne!(done["worker"].as_str().unwrap(), worker);
    let epochs: Vec<i64> = done["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["epoch"].as_i64().unwrap())
        .collect();
    assert_eq!(epochs, (1..=12).collect::<Vec<_>>(), "reports counted once");
    app.stop().await;
}
