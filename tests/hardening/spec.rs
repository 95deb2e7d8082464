//! Hardening tests: spec. The attackers' specs of issue 13, sent to a real
//! server: each is refused with a 4xx JSON body naming the culprit, nothing
//! is stored, and the server still answers. Before the fix they took 40 s
//! and 6 GB (hidden layers), never ended (the grid), took minutes of CPU
//! (nested YAML) or were accepted and truncated (batch size).
use crate::common::{spawn_app, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

/// Longer than any of these requests takes, far shorter than the attacks did.
const DEADLINE: Duration = Duration::from_secs(60);

/// POSTs a spec; the status and JSON body, or a panic naming the case when
/// no answer comes before the deadline.
async fn post_spec(app: &TestApp, case: &str, content_type: &str, body: String) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/v1/sweeps", app.url))
        .header("content-type", content_type)
        .body(body)
        .timeout(DEADLINE)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{case}: no answer within {DEADLINE:?}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The spec is refused naming `field`, nothing is stored, and the server answers.
async fn assert_refused(app: &TestApp, case: &str, content_type: &str, body: String, field: &str) {
    let (status, answer) = post_spec(app, case, content_type, body).await;
    // An accepted sweep echoes its spec, which may be huge.
    let start = |v: &Value| v.to_string().chars().take(300).collect::<String>();
    assert!(
        (400..500).contains(&status),
        "{case}: status {status}: {}",
        start(&answer)
    );
    assert_eq!(
        answer["error"]["field"],
        field,
        "{case}: {}",
        start(&answer)
    );
    assert!(
        answer["error"]["message"].is_string(),
        "{case}: {}",
        start(&answer)
    );
    let (status, sweeps) = app.get("/v1/sweeps").await;
    assert_eq!(status, 200, "{case}: listing sweeps: {}", start(&sweeps));
    assert_eq!(sweeps["sweeps"], json!([]), "{case}: something was stored");
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200, "{case}: the server no longer answers");
}

fn repeated(item: &str, n: usize) -> String {
    vec![item; n].join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attackers_specs_are_refused_and_the_server_stays_up() {
    let app = spawn_app(1, |_| {}).await;
    let yaml = "application/yaml";
    // Item 1: 60 KB, 20,000 hidden layers times 10,000 trials.
    let layers = format!(
        "method: random\nmax_trials: 10000\nparameters:\n  hidden_layers: {{value: [{}]}}\n",
        repeated("1", 20_000)
    );
    assert_refused(
        &app,
        "20,000 hidden layers",
        yaml,
        layers,
        "parameters.hidden_layers",
    )
    .await;
    // Item 2: 2 KB, eight parameters of one value repeated 40 times: 6.5e12 combinations.
    let params = [
        ("learning_rate", "0.1"),
        ("batch_size", "32"),
        ("epochs", "1"),
        ("dropout", "0.1"),
        ("weight_decay", "0.1"),
        ("optimizer", "sgd"),
        ("momentum", "0.5"),
        ("activation", "relu"),
    ];
    let mut grid = String::from("method: grid\nmax_trials: 2\nparameters:\n");
    for (name, value) in params {
        grid += &format!("  {name}: {{values: [{}]}}\n", repeated(value, 40));
    }
    assert_refused(
        &app,
        "a grid of repeats",
        yaml,
        grid,
        "parameters.activation.values[1]",
    )
    .await;
    // Item 4: 500 KB of nested flow mappings (78 s of CPU before).
    let n = 100_000;
    let nested = format!(
        "method: grid\nparameters: {}1{}\n",
        "{a: ".repeat(n),
        "}".repeat(n)
    );
    assert_refused(&app, "nested flow mappings", yaml, nested, "body").await;
    let nested_json = format!(
        "{{\"method\": \"grid\", \"seed\": {}1{}}}",
        "[".repeat(n),
        "]".repeat(n)
    );
    assert_refused(&app, "nested JSON", "application/json", nested_json, "body").await;
    // Item 5: batch sizes of 2^32 and 2^32 + 1 became 0 and 1.
    for batch in ["4294967296", "4294967297"] {
        let spec = format!(
            "method: random\nmax_trials: 1\nparameters:\n  batch_size: {{value: {batch}}}\n"
        );
        assert_refused(&app, batch, yaml, spec, "parameters.batch_size.value").await;
    }
    // Item 12: a control character or NUL in the name.
    for name in ["nul\u{0}name", "bell\u{7}", "esc\u{1b}[31m"] {
        let spec = json!({"method": "random", "max_trials": 1, "name": name}).to_string();
        assert_refused(&app, name, "application/json", spec, "name").await;
    }
    let escaped = "method: random\nmax_trials: 1\nname: \"a\\0b\"\n".to_string();
    assert_refused(&app, "an escaped NUL", yaml, escaped, "name").await;
    // Duplicate keys, which passed silently (the last won).
    let twice =
        "method: grid\nparameters:\n  batch_size: {values: [32]}\n  batch_size: {values: [64]}\n";
    assert_refused(
        &app,
        "a parameter twice",
        yaml,
        twice.into(),
        "parameters.batch_size",
    )
    .await;
    let twice = r#"{"method": "random", "max_trials": 1, "max_trials": 2}"#;
    assert_refused(
        &app,
        "a JSON key twice",
        "application/json",
        twice.into(),
        "max_trials",
    )
    .await;
    // 20 KB of aliases of a 1,000-entry list: 4 million nodes.
    let aliases = format!(
        "method: grid\ndescription: [&a [{}], {}]\n",
        repeated("1", 1000),
        repeated("*a", 4000)
    );
    assert_refused(&app, "aliases", yaml, aliases, "body").await;
    // The name limit counts characters: 201 refused.
    let long = json!({"method": "random", "max_trials": 1, "name": "é".repeat(201)}).to_string();
    assert_refused(&app, "201 characters", "application/json", long, "name").await;
    app.stop().await;
}

/// 200 characters of two bytes each (400 bytes) were refused as over 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_of_200_non_ascii_characters_is_accepted() {
    let app = spawn_app(1, |_| {}).await;
    let name = "é".repeat(200);
    let spec = json!({
        "method": "random",
        "max_trials": 1,
        "name": name,
        "parameters": {"epochs": {"value": 1}, "hidden_layers": {"value": []}},
    });
    let (status, sweep) =
        post_spec(&app, "200 characters", "application/json", spec.to_string()).await;
    assert_eq!(status, 201, "{sweep}");
    assert_eq!(sweep["name"], name);
    let (status, _) = app
        .post(
            &format!("/v1/sweeps/{}/cancel", sweep["id"]),
            "application/json",
            "",
        )
        .await;
    assert!(status < 300, "cancelling: {status}");
    app.stop().await;
}
