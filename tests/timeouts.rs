//! `trial_timeout_minutes`: a trial training past it ends `failed` with
//! reason `timeout` and the sweep goes on; the server's cap bounds it.

use crate::common::spawn_app;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trial_past_its_time_limit_fails_with_timeout() {
    let app = spawn_app(1, |c| c.limits.max_trial_minutes = 5).await;
    // 0.05 minutes = 3 s; 200 epochs would take minutes.
    let id = app
        .submit("method: grid\ntrial_timeout_minutes: 0.05\nparameters:\n  epochs: {value: 200}\n  batch_size: {value: 32}\n  learning_rate: {values: [0.01, 0.02]}\n")
        .await;
    let sweep = app.wait_for_sweep(id, Duration::from_secs(120)).await;
    assert_eq!(sweep["state"], "completed", "{sweep}");
    assert_eq!(sweep["trials"]["failed"], 2, "{sweep}");
    let (_, trials) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    for t in trials["trials"].as_array().unwrap() {
        assert_eq!(t["error"], "timeout", "{t}");
        // Stopped before its 200 epochs; how many it trained in 3 s
        // depends on the machine (none, on a busy one).
        let epochs = t["epochs_done"].as_i64().unwrap();
        assert!((0..200).contains(&epochs), "stopped partway: {t}");
    }
    // The stored spec says which limit applied.
    assert_eq!(sweep["spec"]["trial_timeout_minutes"], 0.05);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_limit_is_capped_by_the_server() {
    let app = spawn_app(1, |c| c.limits.max_trial_minutes = 30).await;
    for bad in ["31", "0", "-1", "\"soon\""] {
        let body = format!("method: random\nmax_trials: 1\ntrial_timeout_minutes: {bad}\n");
        let (status, error) = app.post("/v1/sweeps", "application/yaml", body).await;
        assert_eq!(status, 422, "{bad}: {error}");
        assert_eq!(error["error"]["field"], "trial_timeout_minutes");
    }
    let (_, sweeps) = app.get("/v1/sweeps").await;
    assert_eq!(
        sweeps["sweeps"].as_array().unwrap().len(),
        0,
        "nothing stored"
    );
    // Without one, the cap applies.
    let id = app
        .submit("method: random\nmax_trials: 1\nparameters:\n  epochs: {value: 1}\n")
        .await;
    let (_, sweep) = app.get(&format!("/v1/sweeps/{id}")).await;
    assert_eq!(sweep["spec"]["trial_timeout_minutes"], 30.0);
    app.stop().await;
}
