//! A sweep's whole life through the HTTP API, with a real server, real
//! worker processes and real (tiny) training: what ended it, extending it
//! (PATCH), enqueueing a chosen trial, forking, warm starts, exhausting a
//! discrete space, deleting, and the warnings of a submission.
use crate::common::{spawn_app, TestApp};
use hypersweep::search::{self, tpe::Observation};
use hypersweep::spec::{SweepSpec, TrialParams};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

const MINUTES: Duration = Duration::from_secs(60);

/// A tiny network, one epoch: a trial of a second or two.
const TINY: &str =
    "  epochs: {value: 1}\n  hidden_layers: {value: [32]}\n  batch_size: {value: 128}\n";

/// A server whose "worker" trains nothing: its sweeps stay queued.
async fn idle_app() -> TestApp {
    spawn_app(1, |c| c.worker_program = Some("/bin/true".into())).await
}

async fn send(app: &TestApp, method: &str, path: &str, body: Value) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = app
        .client
        .request(method, format!("{}{path}", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn trials(app: &TestApp, id: i64) -> Vec<Value> {
    let (status, body) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    assert_eq!(status, 200, "{body}");
    body["trials"].as_array().unwrap().clone()
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["kind"].as_str().map(String::from))
        .collect()
}

fn params(trial: &Value) -> TrialParams {
    serde_json::from_value(trial["params"].clone()).unwrap()
}

fn field(body: &Value) -> &str {
    body["error"]["field"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_whose_trials_all_started_before_its_deadline_ends_by_max_trials() {
    let app = spawn_app(1, |_| {}).await;
    // One trial that starts at once and trains past the 6 s deadline (30
    // epochs of mnist-10k at batch 16: 12 s or more even on a quiet machine).
    let id = app
        .submit("method: random\nmax_trials: 1\nmax_minutes: 0.1\nparameters:\n  learning_rate: {min: 0.01, max: 0.05}\n  epochs: {value: 30}\n  batch_size: {value: 16}\n")
        .await;
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    let all = trials(&app, id).await;
    let deadline = sweep["deadline"].as_str().unwrap();
    assert_eq!(all[0]["state"], "completed", "{sweep}");
    assert!(all[0]["started_at"].as_str().unwrap() < deadline);
    assert!(
        all[0]["finished_at"].as_str().unwrap() > deadline,
        "the trial must outlast the deadline for this test: {}",
        all[0]
    );
    assert_eq!(sweep["ended_by"], "max_trials", "{sweep}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extending_an_ended_random_sweep_resumes_it_and_continues_its_stream() {
    let app = spawn_app(1, |_| {}).await;
    let spec = format!("method: random\nmax_trials: 2\nseed: 21\nparameters:\n  learning_rate: {{min: 0.01, max: 0.1}}\n{TINY}");
    let id = app.submit(&spec).await;
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    assert_eq!(sweep["ended_by"], "max_trials");

    // Bad changes are refused, naming the field, and change nothing.
    for (body, named) in [
        (json!({"max_trials": 1, "oops": 1}), "oops"),
        (json!({"max_trials": 1}), "max_trials"),
        (json!({"max_trials": 0}), "max_trials"),
        (json!({"max_minutes": 0.0001}), "max_minutes"),
        (json!({"target": "high"}), "target"),
        (json!({"target": 2.0}), "target"),
        (json!({}), "body"),
    ] {
        let (status, error) = send(&app, "PATCH", &format!("/v1/sweeps/{id}"), body.clone()).await;
        assert_eq!(status, 422, "{body}: {error}");
        assert_eq!(field(&error), named, "{body}: {error}");
    }
    let (status, _) = send(&app, "PATCH", "/v1/sweeps/999", json!({"max_trials": 5})).await;
    assert_eq!(status, 404);
    let (_, unchanged) = app.get(&format!("/v1/sweeps/{id}")).await;
    assert_eq!(
        (unchanged["state"].clone(), unchanged["max_trials"].clone()),
        (json!("completed"), json!(2))
    );

    let (status, extended) = send(
        &app,
        "PATCH",
        &format!("/v1/sweeps/{id}"),
        json!({"max_trials": 4, "max_minutes": 60, "target": 0.999}),
    )
    .await;
    assert_eq!(status, 200, "{extended}");
    assert_eq!(extended["state"], "running");
    assert_eq!(extended["ended_by"], Value::Null);
    assert_eq!(extended["max_trials"], 4);
    assert_eq!(extended["spec"]["target"], json!({"val_accuracy": 0.999}));
    assert!(extended["deadline"].is_string());
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    assert_eq!(sweep["trials"]["completed"], 4, "{sweep}");
    assert_eq!(sweep["ended_by"], "max_trials");
    assert!(kinds(&app.events(id).await).contains(&"sweep_resumed".to_string()));

    // The new trials are the ones a sweep of 4 from the start would have drawn.
    let (_, twin) = app
        .post(
            "/v1/sweeps",
            "application/yaml",
            spec.replace("max_trials: 2", "max_trials: 4"),
        )
        .await;
    let twin_trials = trials(&app, twin["id"].as_i64().unwrap()).await;
    let ours = trials(&app, id).await;
    for n in 2..4 {
        assert_eq!(ours[n]["params"], twin_trials[n]["params"], "trial {n}");
        assert_eq!(ours[n]["seed"], twin_trials[n]["seed"], "trial {n}");
    }
    // Clearing the target; lowering below what has run is refused.
    let (status, cleared) = send(
        &app,
        "PATCH",
        &format!("/v1/sweeps/{id}"),
        json!({"target": null}),
    )
    .await;
    assert_eq!(status, 200, "{cleared}");
    assert!(cleared["spec"].get("target").is_none(), "{cleared}");
    let (status, error) = send(
        &app,
        "PATCH",
        &format!("/v1/sweeps/{id}"),
        json!({"max_trials": 3}),
    )
    .await;
    assert_eq!((status, field(&error)), (422, "max_trials"), "{error}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_extends_to_its_next_points_and_no_further() {
    let app = idle_app().await;
    let id = app
        .submit("method: grid\nmax_trials: 2\nparameters:\n  batch_size: {values: [32, 64, 128]}\n")
        .await;
    let (status, error) = send(
        &app,
        "PATCH",
        &format!("/v1/sweeps/{id}"),
        json!({"max_trials": 4}),
    )
    .await;
    assert_eq!((status, field(&error)), (422, "max_trials"), "{error}");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("3 configurations"));
    let (status, body) = send(
        &app,
        "PATCH",
        &format!("/v1/sweeps/{id}"),
        json!({"max_trials": 3}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sizes: Vec<i64> = trials(&app, id)
        .await
        .iter()
        .map(|t| t["params"]["batch_size"].as_i64().unwrap())
        .collect();
    assert_eq!(sizes, [32, 64, 128]);
    // Lowered to 1: the queued trials beyond it are dropped.
    let (status, body) = send(
        &app,
        "PATCH",
        &format!("/v1/sweeps/{id}"),
        json!({"max_trials": 1}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trials"]["queued"], 1, "{body}");
    assert_eq!(body["trials"]["cancelled"], 2, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extended_bayes_sweep_samples_from_its_whole_history() {
    let app = spawn_app(1, |_| {}).await;
    let id = app
        .submit(&format!("method: bayes\nmax_trials: 3\nmax_parallel: 1\nn_startup_trials: 2\nseed: 5\nparameters:\n  learning_rate: {{distribution: log_uniform_values, min: 0.001, max: 0.1}}\n  dropout: {{min: 0.0, max: 0.5}}\n{TINY}"))
        .await;
    app.wait_for_sweep(id, 5 * MINUTES).await;
    let (status, body) = send(
        &app,
        "PATCH",
        &format!("/v1/sweeps/{id}"),
        json!({"max_trials": 5}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    assert_eq!(sweep["trials"]["completed"], 5, "{sweep}");
    let spec = SweepSpec::from_stored(&sweep["spec"]).unwrap();
    let all = trials(&app, id).await;
    // Each new trial is TPE's draw over every trial finished before it (one at a time).
    for n in 3..5 {
        let history: Vec<(TrialParams, Option<f64>)> = all[..n]
            .iter()
            .map(|t| (params(t), t["val_accuracy"].as_f64()))
            .collect();
        let seed = all[n]["seed"].as_u64().unwrap();
        let expected = search::suggest(&spec, &history, seed);
        assert_eq!(params(&all[n]), expected, "trial {n}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueued_trial_trains_next_and_counts_toward_max_trials() {
    let app = spawn_app(1, |_| {}).await;
    let id = app
        .submit(&format!("method: random\nmax_trials: 3\nmax_parallel: 1\nparameters:\n  learning_rate: {{min: 0.01, max: 0.1}}\n  optimizer: {{values: [sgd, adam]}}\n  momentum: {{values: [0.5, 0.9], when: {{optimizer: sgd}}}}\n{TINY}"))
        .await;
    let path = format!("/v1/sweeps/{id}/trials");
    for (body, named) in [
        (json!({"params": {"lr": 0.05}}), "params.lr"),
        (
            json!({"params": {"learning_rate": 0.5}}),
            "params.learning_rate",
        ),
        (
            json!({"params": {"optimizer": "adam", "momentum": 0.9}}),
            "params.momentum",
        ),
        (
            json!({"params": {"optimizer": "rmsprop"}}),
            "params.optimizer",
        ),
        (json!({"param": {}}), "param"),
        (json!({}), "params"),
    ] {
        let (status, error) = send(&app, "POST", &path, body.clone()).await;
        assert_eq!((status, field(&error)), (422, named), "{body}: {error}");
    }
    let chosen = json!({"learning_rate": 0.042, "optimizer": "sgd", "momentum": 0.5});
    let (status, trial) = send(&app, "POST", &path, json!({"params": chosen})).await;
    assert_eq!(status, 201, "{trial}");
    assert_eq!(
        (trial["number"].clone(), trial["source"].clone()),
        (json!(2), json!("enqueued"))
    );
    assert_eq!(trial["params"]["learning_rate"], 0.042);
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    assert_eq!(
        sweep["trials"]["completed"], 3,
        "counts toward max_trials: {sweep}"
    );
    let all = trials(&app, id).await;
    let started = |n: usize| all[n]["started_at"].as_str().unwrap().to_string();
    assert!(
        started(2) < started(1),
        "the enqueued trial trained before trial 1"
    );

    // With the budget spent: 409, saying to raise max_trials first.
    let (status, error) = send(&app, "POST", &path, json!({"params": chosen})).await;
    assert_eq!(status, 409, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PATCH"),
        "{error}"
    );
    let (status, _) = send(&app, "POST", "/v1/sweeps/999/trials", json!({"params": {}})).await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &app,
        "PATCH",
        &format!("/v1/sweeps/{id}"),
        json!({"max_trials": 4}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, trial) = send(
        &app,
        "POST",
        &path,
        json!({"params": {"optimizer": "adam"}}),
    )
    .await;
    assert_eq!(status, 201, "{trial}");
    assert_eq!(trial["number"], 3);
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    assert_eq!(sweep["trials"]["completed"], 4, "{sweep}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_records_its_parent_and_merges_its_changes() {
    let app = idle_app().await;
    let parent = app
        .submit("name: base\nmethod: grid\nparameters:\n  batch_size: {values: [32, 64]}\n  epochs: {value: 1}\n  dropout: {value: 0.1}\n")
        .await;
    let (status, fork) = app
        .post(
            &format!("/v1/sweeps/{parent}/fork"),
            "application/yaml",
            "method: random\nmax_trials: 3\nparameters:\n  learning_rate: {min: 0.01, max: 0.1}\n  dropout: null\n",
        )
        .await;
    assert_eq!(status, 201, "{fork}");
    assert_eq!(fork["parent_id"], parent);
    assert_eq!(fork["warnings"], json!([]));
    assert_eq!(
        (fork["method"].clone(), fork["max_trials"].clone()),
        (json!("random"), json!(3))
    );
    let parameters = &fork["spec"]["parameters"];
    assert!(parameters.get("dropout").is_none(), "{parameters}");
    assert_eq!(parameters["batch_size"], json!({"values": [32, 64]}));
    assert!(parameters["learning_rate"].is_object());
    let child = fork["id"].as_i64().unwrap();
    let (_, shown) = app.get(&format!("/v1/sweeps/{child}")).await;
    assert_eq!(shown["parent_id"], parent);
    let (_, root) = app.get(&format!("/v1/sweeps/{parent}")).await;
    assert_eq!(root["parent_id"], Value::Null);

    // A grid fork trains its whole (new) grid; JSON works too.
    let (status, grid) = send(
        &app,
        "POST",
        &format!("/v1/sweeps/{parent}/fork"),
        json!({"parameters": {"batch_size": {"values": [16, 32, 64, 128]}}}),
    )
    .await;
    assert_eq!(status, 201, "{grid}");
    assert_eq!(grid["trials"]["total"], 4);
    // Refusals: an invalid merge names its field; no parent is a 404.
    let (status, error) = send(
        &app,
        "POST",
        &format!("/v1/sweeps/{parent}/fork"),
        json!({"parameters": {"lr": {"value": 1}}}),
    )
    .await;
    assert_eq!((status, field(&error)), (422, "parameters.lr"), "{error}");
    let (status, _) = send(&app, "POST", "/v1/sweeps/999/fork", json!({})).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_start_trains_its_configurations_first_and_gives_bayes_history() {
    let app = spawn_app(1, |_| {}).await;
    let space = "  learning_rate: {distribution: log_uniform_values, min: 0.001, max: 0.1}\n  dropout: {min: 0.0, max: 0.5}\n";
    let earlier = app
        .submit(&format!("method: random\nmax_trials: 3\nmax_parallel: 1\nwarm_start:\n  trials:\n    - {{learning_rate: 0.05, dropout: 0.1}}\n    - {{learning_rate: 0.002}}\nparameters:\n{space}{TINY}"))
        .await;
    let sweep = app.wait_for_sweep(earlier, 5 * MINUTES).await;
    assert_eq!(sweep["trials"]["completed"], 3, "{sweep}");
    let first = trials(&app, earlier).await;
    assert_eq!(
        (first[0]["source"].clone(), first[1]["source"].clone()),
        (json!("warm_start"), json!("warm_start"))
    );
    assert_eq!(first[2]["source"], "search");
    assert_eq!(
        (
            first[0]["params"]["learning_rate"].clone(),
            first[0]["params"]["dropout"].clone()
        ),
        (json!(0.05), json!(0.1))
    );
    assert_eq!(first[1]["params"]["learning_rate"], 0.002);
    let started = |n: usize| first[n]["started_at"].as_str().unwrap().to_string();
    assert!(
        started(0) < started(1) && started(1) < started(2),
        "given ones first"
    );

    // Refusals name the entry.
    for (warm, named) in [
        ("{sweeps: [999]}", "warm_start.sweeps[0]"),
        (
            "{trials: [{learning_rate: 0.01}, {learning_rate: 5}]}",
            "warm_start.trials[1].learning_rate",
        ),
    ] {
        let body =
            format!("method: bayes\nmax_trials: 2\nwarm_start: {warm}\nparameters:\n{space}");
        let (status, error) = app.post("/v1/sweeps", "application/yaml", body).await;
        assert_eq!((status, field(&error)), (422, named), "{error}");
    }
    let other = format!("method: bayes\nmax_trials: 2\ndataset: fashion-mnist\nwarm_start: {{sweeps: [{earlier}]}}\nparameters:\n{space}");
    let (status, error) = app.post("/v1/sweeps", "application/yaml", other).await;
    assert_eq!(
        (status, field(&error)),
        (422, "warm_start.sweeps[0]"),
        "another dataset: {error}"
    );

    // Bayes learns from the earlier sweep: past n_startup_trials at once.
    let id = app
        .submit(&format!("method: bayes\nmax_trials: 1\nn_startup_trials: 2\nwarm_start: {{sweeps: [{earlier}]}}\nparameters:\n  learning_rate: {{distribution: log_uniform_values, min: 0.001, max: 0.1}}\n  weight_decay: {{min: 0.0, max: 0.01}}\n{TINY}"))
        .await;
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    let spec = SweepSpec::from_stored(&sweep["spec"]).unwrap();
    let source =
        SweepSpec::from_stored(&app.get(&format!("/v1/sweeps/{earlier}")).await.1["spec"]).unwrap();
    let finished: Vec<(TrialParams, Option<f64>)> = first
        .iter()
        .map(|t| (params(t), t["val_accuracy"].as_f64()))
        .collect();
    let warm: Vec<Observation> = search::warm_observations(&spec, &source, &finished);
    assert_eq!(warm.len(), 3);
    use hypersweep::spec::ParamName;
    for o in &warm {
        assert!(
            o.params.contains_key(&ParamName::LearningRate),
            "shared: {o:?}"
        );
        assert!(
            !o.params.contains_key(&ParamName::Dropout),
            "not in this space: {o:?}"
        );
        assert!(
            !o.params.contains_key(&ParamName::WeightDecay),
            "not in that one: {o:?}"
        );
    }
    let trial = &trials(&app, id).await[0];
    let seed = trial["seed"].as_u64().unwrap();
    let expected = search::suggest_with(&spec, &[], &warm, seed);
    assert_eq!(params(trial), expected);
    assert_ne!(
        params(trial),
        search::suggest(&spec, &[], seed),
        "the history made a difference"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_discrete_space_is_exhausted_without_a_repeat() {
    let app = spawn_app(2, |_| {}).await;
    let space = format!("parameters:\n  optimizer: {{values: [sgd, adam]}}\n  learning_rate: {{values: [0.01, 0.05]}}\n{TINY}");
    let random = app
        .submit(&format!("method: random\nmax_trials: 6\n{space}"))
        .await;
    let bayes = app
        .submit(&format!(
            "method: bayes\nmax_trials: 6\nn_startup_trials: 2\nmax_parallel: 1\n{space}"
        ))
        .await;
    for id in [random, bayes] {
        let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
        assert_eq!(sweep["state"], "completed", "{sweep}");
        assert_eq!(sweep["ended_by"], "exhausted", "{sweep}");
        assert_eq!(sweep["trials"]["completed"], 4, "{sweep}");
        assert_eq!(sweep["max_trials"], 6);
        let configs: HashSet<String> = trials(&app, id)
            .await
            .iter()
            .filter(|t| t["state"] == "completed")
            .map(|t| {
                format!(
                    "{}/{}",
                    t["params"]["optimizer"], t["params"]["learning_rate"]
                )
            })
            .collect();
        assert_eq!(
            configs.len(),
            4,
            "four distinct configurations: {configs:?}"
        );
    }
    // Bayes planned six and dropped the two the space had no room for.
    let (_, sweep) = app.get(&format!("/v1/sweeps/{bayes}")).await;
    assert_eq!(sweep["trials"]["cancelled"], 2, "{sweep}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_ended_sweep_removes_it_and_its_files() {
    let app = idle_app().await;
    let id = app
        .submit("method: grid\nparameters:\n  batch_size: {values: [32, 64]}\n")
        .await;
    let child = app
        .post(&format!("/v1/sweeps/{id}/fork"), "application/json", "{}")
        .await
        .1["id"]
        .as_i64()
        .unwrap();
    let path = format!("/v1/sweeps/{id}");
    let (status, error) = send(&app, "DELETE", &path, Value::Null).await;
    assert_eq!(
        (status, error["error"]["code"].clone()),
        (409, json!("conflict")),
        "{error}"
    );
    let (status, _) = app
        .post(&format!("{path}/cancel"), "application/json", "")
        .await;
    assert_eq!(status, 200);
    // A checkpoint left in the sweep's folder, and one in the database's
    // blob store (PostgreSQL's default).
    let folder = app.config.checkpoints().join(id.to_string());
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("1.ckpt"), b"weights").unwrap();
    let store = hypersweep::store::Store::open(&app.config.database, false)
        .await
        .unwrap();
    let key = format!("{id}/1/1.ckpt");
    store
        .put_blob(&key, id, "00", b"weights".to_vec())
        .await
        .unwrap();
    let (status, _) = send(&app, "DELETE", &path, Value::Null).await;
    assert_eq!(status, 204);
    if app.config.blob_place() == hypersweep::blobs::BlobPlace::Folder {
        assert!(!folder.exists(), "its checkpoint files are gone");
    }
    assert!(
        store.blob(&key).await.unwrap().is_none(),
        "its stored files are gone"
    );
    assert_eq!(app.get(&path).await.0, 404);
    assert_eq!(app.get(&format!("{path}/trials")).await.0, 404);
    assert_eq!(send(&app, "DELETE", &path, Value::Null).await.0, 404);
    let (_, fork) = app.get(&format!("/v1/sweeps/{child}")).await;
    assert_eq!(fork["parent_id"], Value::Null, "a fork outlives its parent");
    assert_eq!(fork["state"], "running");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loss_maximized_is_accepted_with_a_warning() {
    let app = idle_app().await;
    let (status, body) = app
        .post(
            "/v1/sweeps",
            "application/yaml",
            "method: random\nmax_trials: 1\nmetric: {name: val_loss, goal: maximize}\n",
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let warnings = body["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{body}");
    assert!(
        warnings[0].as_str().unwrap().contains("worst val_loss"),
        "{body}"
    );
    let (status, body) = app
        .post(
            "/v1/sweeps",
            "application/yaml",
            "method: random\nmax_trials: 1\n",
        )
        .await;
    assert_eq!((status, body["warnings"].clone()), (201, json!([])));
    app.stop().await;
}
