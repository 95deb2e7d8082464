//! Workers that die: killed mid-trial (SIGKILL) or aborting (SIGABRT, as
//! libtorch does on a fatal error). The trial they held costs one attempt:
//! it is taken back at once, resumed by another worker from its checkpoint,
//! and counted once; the other trials and the server carry on.

use crate::common::process::signal;
use crate::common::{spawn_app, TestApp};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Waits until trial `number` of the sweep runs with at least one epoch reported.
async fn running_with_an_epoch(app: &TestApp, id: i64, number: usize) -> Value {
    running_with_epochs(app, id, number, 1).await
}

/// Waits until trial `number` of the sweep runs with at least `epochs`
/// epochs reported.
pub(crate) async fn running_with_epochs(
    app: &TestApp,
    id: i64,
    number: usize,
    epochs: i64,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, trials) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
        let trial = trials["trials"][number].clone();
        if trial["epochs_done"].as_i64().unwrap_or(0) >= epochs && trial["state"] == "running" {
            return trial;
        }
        assert!(
            Instant::now() < deadline,
            "the trial never started: {trial}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The pid of the worker process holding `trial`: the one started with
/// `--id <its worker id>`.
pub(crate) fn pid_of(trial: &Value) -> i32 {
    let id = trial["worker"].as_str().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.windows(2)
                .any(|w| w[0] == b"--id" && w[1] == id.as_bytes())
        })
        .unwrap_or_else(|| panic!("no worker process has id {id}"))
}

pub(crate) fn epochs_of(detail: &Value) -> Vec<i64> {
    detail["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["epoch"].as_i64().unwrap())
        .collect()
}

async fn a_dead_workers_trial_resumes_elsewhere(sig: i32) {
    // A long lease: the trial comes back because the supervisor sees its
    // worker die, not because the lease ran out.
    let app = spawn_app(2, |c| c.lease_seconds = 600).await;
    let id = app
        .submit("method: grid\nmax_parallel: 2\nparameters:\n  epochs: {value: 8}\n  batch_size: {value: 32}\n  learning_rate: {values: [0.01, 0.02, 0.03]}\n")
        .await;
    // Two epochs: an epoch is reported once the checkpoint before it is on
    // disk, so the victim surely has one to resume from (after only one,
    // the kill may come before the first checkpoint is written).
    let victim = running_with_epochs(&app, id, 0, 2).await;
    let bystander = running_with_an_epoch(&app, id, 1).await;
    signal(pid_of(&victim), sig);

    let sweep = app.wait_for_sweep(id, Duration::from_secs(180)).await;
    assert_eq!(sweep["state"], "completed", "{sweep}");
    assert_eq!(
        sweep["trials"]["completed"], 3,
        "exactly the sweep's trials: {sweep}"
    );
    assert_eq!(sweep["trials"]["total"], 3, "{sweep}");
    let (_, done) = app.get(&format!("/v1/trials/{}", victim["id"])).await;
    assert_eq!(done["attempt"], 2, "{done}");
    assert_ne!(done["worker"], victim["worker"]);
    assert_eq!(
        epochs_of(&done),
        (1..=8).collect::<Vec<_>>(),
        "reports counted once"
    );
    let (_, other) = app.get(&format!("/v1/trials/{}", bystander["id"])).await;
    assert_eq!(other["attempt"], 1, "the other trial carried on: {other}");

    let events = app.events(id).await;
    let of_victim = |kind: &str| {
        events
            .iter()
            .find(|e| e["kind"] == kind && e["trial_id"] == victim["id"])
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} event"))
    };
    assert_eq!(
        of_victim("trial_requeued")["data"]["reason"],
        "its worker died"
    );
    let resumed = of_victim("trial_resumed");
    assert!(resumed["data"]["epoch"].as_i64().unwrap() >= 1, "{resumed}");
    assert_eq!(resumed["data"]["attempt"], 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_trial_resumes_from_its_checkpoint_on_another_worker() {
    a_dead_workers_trial_resumes_elsewhere(libc::SIGKILL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_aborts_costs_one_attempt_of_one_trial() {
    a_dead_workers_trial_resumes_elsewhere(libc::SIGABRT).await;
}

/// A lease that is not renewed (the worker is frozen, SIGSTOP) expires: the
/// trial is taken back and finished elsewhere; when the frozen worker wakes,
/// its writes are refused and the trial is counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_workers_lease_expires_and_its_late_writes_are_refused() {
    let app = spawn_app(2, |c| c.lease_seconds = 2).await;
    let id = app
        .submit("method: grid\nparameters:\n  epochs: {value: 6}\n  batch_size: {value: 32}\n  learning_rate: {value: 0.01}\n")
        .await;
    let trial = running_with_an_epoch(&app, id, 0).await;
    signal(pid_of(&trial), libc::SIGSTOP);
    let sweep = app.wait_for_sweep(id, Duration::from_secs(120)).await;
    signal(pid_of(&trial), libc::SIGCONT);
    assert_eq!(sweep["trials"]["completed"], 1, "{sweep}");
    // The woken worker tries its late writes, is refused, drops the trial
    // and claims again: once it has started a trial of the next sweep, all
    // it would have written about the old one has been tried. Two trials,
    // long enough that the worker that was never frozen cannot finish the
    // first and take the second before the woken one claims.
    let next = app
        .submit("method: grid\nparameters:\n  epochs: {value: 20}\n  batch_size: {value: 32}\n  learning_rate: {values: [0.01, 0.02]}\n")
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, trials) = app.get(&format!("/v1/sweeps/{next}/trials")).await;
        let trials = trials["trials"].as_array().unwrap().clone();
        if trials.iter().any(|t| t["worker"] == trial["worker"]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the woken worker never claimed again: {trials:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, done) = app.get(&format!("/v1/trials/{}", trial["id"])).await;
    assert_eq!(done["state"], "completed");
    assert_eq!(done["attempt"], 2, "{done}");
    assert_eq!(epochs_of(&done), (1..=6).collect::<Vec<_>>());
    let events = app.events(id).await;
    let requeued: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "trial_requeued")
        .collect();
    assert_eq!(requeued.len(), 1);
    assert_eq!(requeued[0]["data"]["reason"], "the lease expired");
    let completions = events
        .iter()
        .filter(|e| e["kind"] == "trial_completed")
        .count();
    assert_eq!(completions, 1, "counted once");
    app.stop().await;
}

/// A trial that keeps losing its worker ends `failed` after `max_attempts`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trial_that_keeps_crashing_fails_after_max_attempts() {
    let app = spawn_app(1, |c| c.max_attempts = 2).await;
    let id = app
        .submit("method: grid\nparameters:\n  epochs: {value: 50}\n  batch_size: {value: 32}\n")
        .await;
    for _ in 0..2 {
        let trial = running_with_an_epoch(&app, id, 0).await;
        signal(pid_of(&trial), libc::SIGKILL);
        // Wait for the trial to leave that worker.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, now) = app.get(&format!("/v1/trials/{}", trial["id"])).await;
            if now["worker"] != trial["worker"] || now["state"] != "running" {
                break;
            }
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let sweep = app.wait_for_sweep(id, Duration::from_secs(60)).await;
    assert_eq!(sweep["trials"]["failed"], 1, "{sweep}");
    let (_, trials) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    let error = trials["trials"][0]["error"].as_str().unwrap().to_string();
    assert!(error.contains("2 of 2 attempts lost"), "{error}");
    app.stop().await;
}

/// A trial that needs more memory than a worker may have (`worker_memory_mb`)
/// loses its attempts, one per worker restart, and ends `failed`; a trial
/// that fits trains to the end beside it and the server carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_out_of_memory_costs_an_attempt_and_the_rest_carries_on() {
    let app = spawn_app(2, |c| {
        c.worker_memory_mb = Some(600);
        c.max_attempts = 2;
        c.limits.max_parameters = 100_000_000;
    })
    .await;
    // [8192, 8192, 8192]: about 140 M weights, 560 MB before any gradient.
    let big = app
        .submit("method: grid\nparameters:\n  epochs: {value: 1}\n  hidden_layers: {value: [8192, 8192]}\n  batch_size: {value: 1024}\n")
        .await;
    let small = app
        .submit("method: grid\nparameters:\n  epochs: {value: 2}\n")
        .await;
    let sweep = app.wait_for_sweep(big, Duration::from_secs(120)).await;
    assert_eq!(sweep["trials"]["failed"], 1, "{sweep}");
    let (_, trials) = app.get(&format!("/v1/sweeps/{big}/trials")).await;
    let error = trials["trials"][0]["error"].as_str().unwrap().to_string();
    assert!(error.contains("ran out of memory"), "{error}");
    assert!(!error.contains("frame #"), "no C++ backtrace: {error}");
    assert!(error.contains("2 of 2 attempts lost"), "{error}");
    let sweep = app.wait_for_sweep(small, Duration::from_secs(120)).await;
    assert_eq!(sweep["trials"]["completed"], 1, "{sweep}");
    let events = app.events(big).await;
    let requeued = events
        .iter()
        .filter(|e| e["kind"] == "trial_requeued")
        .count();
    assert_eq!(requeued, 1, "one attempt lost, then failed");
    app.stop().await;
}
