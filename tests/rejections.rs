//! Bad input gets a clear 4xx naming the field, and stores nothing.
mod common;

use common::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_specs_get_422_naming_the_field_and_store_nothing() {
    let app = spawn_app(1, |c| c.limits.max_epochs = 20).await;
    let cases: &[(&str, &str)] = &[
        ("method: random\nmax_trials: 2\ncolour: blue\n", "colour"),
        ("method: random\nmax_trials: 2\nparameters:\n  lr: {value: 0.1}\n", "parameters.lr"),
        ("method: random\nmax_trials: 2\nparameters:\n  batch_size: {value: \"big\"}\n", "parameters.batch_size.value"),
        ("method: random\nmax_trials: 2\nparameters:\n  learning_rate: {distribution: uniform, min: 0.3, max: 0.1}\n", "parameters.learning_rate.min"),
        ("method: random\nmax_trials: 2\nparameters:\n  learning_rate: {distribution: log_uniform_values, min: 0.0, max: 0.1}\n", "parameters.learning_rate.min"),
        ("method: random\nmax_trials: 2\nparameters:\n  optimizer: {values: []}\n", "parameters.optimizer.values"),
        ("method: random\nmax_trials: 2\nparameters:\n  batch_size: {value: 0}\n", "parameters.batch_size.value"),
        ("method: random\nmax_trials: 2\nparameters:\n  epochs: {value: 0}\n", "parameters.epochs.value"),
        ("method: random\nmax_trials: 2\nparameters:\n  hidden_layers: {values: [[128, 0]]}\n", "parameters.hidden_layers.values[0]"),
        ("method: random\nmax_trials: 2\nparameters:\n  epochs: {value: 21}\n", "parameters.epochs"),
        ("method: random\nmax_trials: 2\nparameters:\n  hidden_layers: {value: [100000, 100000]}\n", "parameters.hidden_layers"),
        ("method: random\nmax_trials: 100000\n", "max_trials"),
        ("method: random\n", "max_trials"),
        ("method: random\nmax_trials: 2\ndataset: ../../etc\n", "dataset"),
        ("method: [\n", "body"),
    ];
    for (yaml, field) in cases {
        let (status, body) = app.post("/v1/sweeps", "application/yaml", *yaml).await;
        assert_eq!(status, 422, "{yaml} -> {body}");
        assert_eq!(body["error"]["field"], *field, "{yaml} -> {body}");
        assert_eq!(body["error"]["code"], "invalid_spec");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(field),
            "message names the field: {message}"
        );
    }
    let (status, body) = app
        .post("/v1/sweeps", "application/json", "{\"method\": \"grid\", ")
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("body")),
        "{body}"
    );

    let (status, body) = app.post("/v1/sweeps", "image/png", "method: grid\n").await;
    assert_eq!(status, 415, "{body}");
    let huge = format!("method: grid\nname: {}\n", "x".repeat(2 << 20));
    let (status, body) = app.post("/v1/sweeps", "application/yaml", huge).await;
    assert_eq!(status, 413, "{body}");

    let (status, body) = app.get("/v1/sweeps").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["sweeps"].as_array().unwrap().len(),
        0,
        "nothing stored: {body}"
    );
    for path in [
        "/v1/sweeps/1",
        "/v1/sweeps/abc/best",
        "/v1/sweeps/1/trials",
        "/v1/trials/-3",
        "/nope",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(body["error"]["message"].is_string(), "{path}: {body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_is_404_with_a_message_until_a_trial_finishes() {
    // No workers can claim: the one worker program is a command that exits at once.
    let app = spawn_app(1, |c| c.worker_program = Some("/bin/true".into())).await;
    let id = app
        .submit("method: grid\nparameters:\n  epochs: {value: 1}\n")
        .await;
    let (status, body) = app.get(&format!("/v1/sweeps/{id}/best")).await;
    assert_eq!(status, 404);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("no trial"), "{message}");
    let (_, sweep) = app.get(&format!("/v1/sweeps/{id}")).await;
    assert_eq!(sweep["trials"]["queued"], 1);
    assert_eq!(sweep["best"], serde_json::Value::Null);
    app.stop().await;
}
