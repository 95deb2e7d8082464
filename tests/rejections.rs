//! Bad input gets a clear 4xx naming the field, and stores nothing.

use crate::common::spawn_app;

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
    // A client of its own: the server closes the connection of a body it
    // refused unread, which a pooled client could reuse for the next request.
    let response = reqwest::Client::new()
        .post(format!("{}/v1/sweeps", app.url))
        .header("content-type", "application/yaml")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

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

/// Sends a request and returns the status, the content type and the body as JSON.
async fn send(request: reqwest::RequestBuilder) -> (u16, String, serde_json::Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{status}: the body is not JSON: {text:?}"));
    (status, content_type, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_is_a_json_error() {
    let app = spawn_app(1, |c| c.worker_program = Some("/bin/true".into())).await;
    // Sweep 1 exists, so that its query strings are what is wrong.
    app.submit("method: grid\nparameters:\n  epochs: {value: 1}\n")
        .await;
    let url = |path: &str| format!("{}{path}", app.url);
    let c = &app.client;
    let cases = [
        (c.delete(url("/v1/sweeps")), 405, "method_not_allowed"),
        (c.put(url("/v1/sweeps/1")), 405, "method_not_allowed"),
        (c.get(url("/v1/sweeps/1/cancel")), 405, "method_not_allowed"),
        (c.post(url("/healthz")), 405, "method_not_allowed"),
        (c.get(url("/v1/sweeps/abc")), 404, "not_found"),
        (
            c.get(url("/v1/sweeps/99999999999999999999")),
            404,
            "not_found",
        ),
        (c.get(url("/v1/sweeps/%FF%FE")), 404, "not_found"),
        (c.get(url("/v1/trials/%C0%AF")), 404, "not_found"),
        (c.get(url("/assets/%FF")), 404, "not_found"),
        (
            c.get(url("/v1/sweeps/1/plot.svg?kind=bogus")),
            400,
            "bad_request",
        ),
        (
            c.get(url("/v1/sweeps/1/plot.svg?trial=abc")),
            400,
            "bad_request",
        ),
        (
            c.get(url("/v1/sweeps/1/plot.svg?trial=99999999999999999999")),
            400,
            "bad_request",
        ),
        (
            c.get(url("/v1/sweeps/1/plot.svg?colour=red")),
            400,
            "bad_request",
        ),
        (
            c.get(url("/v1/sweeps/1/plot.svg?kind=%FF")),
            400,
            "bad_request",
        ),
        (
            c.post(url("/v1/sweeps"))
                .header("content-type", "application/json")
                .body(vec![b'{', 0xff, 0xfe, b'}']),
            400,
            "bad_request",
        ),
        (
            c.post(url("/v1/sweeps"))
                .header("content-type", "application/json")
                .body("[1, 2"),
            422,
            "invalid_spec",
        ),
        (
            c.post(url("/v1/sweeps"))
                .header("content-type", "multipart/form-data")
                .body("method: grid"),
            415,
            "unsupported_media_type",
        ),
        (
            c.post(url("/v1/sweeps"))
                .header("content-type", "application/yaml")
                .body(format!("name: {}\n", "y".repeat(2 << 20))),
            413,
            "too_large",
        ),
    ];
    for (request, status, code) in cases {
        let described = format!("{request:?}");
        let (got, content_type, body) = send(request).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{described}: {body}"
        );
        assert!(
            content_type.starts_with("application/json"),
            "{described}: {content_type}"
        );
        assert!(body["error"]["message"].is_string(), "{described}: {body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_names_resolve_inside_the_data_dir_only() {
    let shared = crate::common::shared_data();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // A real dataset folder outside data_dir, reached by a symlink inside it,
    // and a folder whose one file links out.
    std::os::unix::fs::symlink(shared.join("fashion-mnist"), data.join("escape")).unwrap();
    let half = data.join("half");
    std::fs::create_dir(&half).unwrap();
    for entry in std::fs::read_dir(shared.join("fashion-mnist")).unwrap() {
        let entry = entry.unwrap();
        std::os::unix::fs::symlink(entry.path(), half.join(entry.file_name())).unwrap();
    }
    let app = spawn_app(1, |c| {
        c.data_dir = Some(data.clone());
        c.worker_program = Some("/bin/true".into());
    })
    .await;

    let (status, body) = app.get("/v1/datasets").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mnist-10k"], "{body}");

    let outside = shared.join("fashion-mnist").display().to_string();
    for name in [
        "escape",
        "half",
        "../escape",
        "..",
        "../../shared/data/fashion-mnist",
        outside.as_str(),
        "%2e%2e%2ffashion-mnist",
        "..%2ffashion-mnist",
        "escape/",
        "./escape",
    ] {
        let spec = serde_json::json!({"method": "grid", "dataset": name});
        let (status, body) = app
            .post("/v1/sweeps", "application/json", spec.to_string())
            .await;
        assert_eq!(status, 422, "{name}: {body}");
        assert_eq!(body["error"]["field"], "dataset", "{name}: {body}");
    }
    // Encoded traversal in a URL reaches no file either.
    for path in [
        "/assets/..%2f..%2fCargo.toml",
        "/assets/%2e%2e%2f%2e%2e%2fCargo.toml",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/v1/sweeps/..%2f..%2fetc%2fpasswd",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
    let (_, body) = app.get("/v1/sweeps").await;
    assert_eq!(body["sweeps"].as_array().unwrap().len(), 0, "{body}");
    app.stop().await;
}
