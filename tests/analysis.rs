//! What a sweep teaches, through HTTP on a real server: importance, the
//! CSV and JSON exports, and the analysis plots, on a small real sweep of
//! mnist-10k; and every 4xx of those routes, on sweeps that never train.
use crate::common::{spawn_app, TestApp};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

const SWEEP: &str = "name: teach, me
method: random
max_trials: 5
max_parallel: 2
seed: 5
parameters:
  learning_rate: {distribution: log_uniform_values, min: 0.005, max: 0.1}
  batch_size: {values: [64, 128]}
  hidden_layers: {values: [[32], [64, 32]]}
  optimizer: {values: [sgd, adam]}
  momentum: {distribution: uniform, min: 0.5, max: 0.95, when: {optimizer: sgd}}
  epochs: {value: 2}
";

/// The swept parameters of `SWEEP`, as the CSV's columns name them.
const SWEPT: [&str; 5] = [
    "learning_rate",
    "batch_size",
    "hidden_layers",
    "optimizer",
    "momentum",
];

/// GET a path: the status, the content type and the body as text.
async fn get_text(app: &TestApp, path: &str) -> (u16, String, String) {
    let response = app
        .client
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

/// Every trial of a sweep, through the paged trials route.
async fn all_trials(app: &TestApp, id: i64) -> Vec<Value> {
    let (status, body) = app.get(&format!("/v1/sweeps/{id}/trials?limit=1000")).await;
    assert_eq!(status, 200, "{body}");
    body["trials"].as_array().unwrap().clone()
}

/// A plot that must be valid SVG; its text elements.
async fn svg_texts(app: &TestApp, id: i64, query: &str) -> Vec<String> {
    let (status, kind, svg) = get_text(app, &format!("/v1/sweeps/{id}/plot.svg?{query}")).await;
    assert_eq!(status, 200, "{query}: {svg}");
    assert_eq!(kind, "image/svg+xml", "{query}");
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{query}: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trained_sweep_answers_importance_exports_and_plots() {
    let app = spawn_app(2, |_| {}).await;
    let id = app.submit(SWEEP).await;
    let sweep = app.wait_for_sweep(id, Duration::from_secs(300)).await;
    assert_eq!(sweep["trials"]["completed"], 5, "{sweep}");
    let trials = all_trials(&app, id).await;

    // Importance: every swept parameter, highest first, summing to 1.
    for query in ["", "?include_pruned=true", "?include_pruned=false"] {
        let (status, body) = app.get(&format!("/v1/sweeps/{id}/importance{query}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["method"], "fanova");
        assert_eq!(body["metric"]["name"], "val_accuracy");
        assert_eq!(body["metric"]["goal"], "maximize");
        assert_eq!(body["trials_used"], 5);
        let shares = body["importance"].as_array().unwrap();
        let mut names: Vec<&str> = shares
            .iter()
            .map(|s| s["param"].as_str().unwrap())
            .collect();
        names.sort();
        let mut swept = SWEPT.to_vec();
        swept.sort();
        assert_eq!(names, swept, "{body}");
        let values: Vec<f64> = shares
            .iter()
            .map(|s| s["importance"].as_f64().unwrap())
            .collect();
        assert!(values.windows(2).all(|w| w[0] >= w[1]), "sorted: {body}");
        let sum: f64 = values.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6, "sums to {sum}: {body}");
    }

    // The CSV, read back by a real CSV parser, row for row the trials route.
    let (status, kind, text) = get_text(&app, &format!("/v1/sweeps/{id}/trials.csv")).await;
    assert_eq!(status, 200, "{text}");
    assert!(kind.starts_with("text/csv"), "{kind}");
    assert!(
        text.contains("\"[64, 32]\"") || text.contains("\"[32]\""),
        "{text}"
    );
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let mut expected = vec!["id", "number", "state"];
    expected.extend(SWEPT);
    expected.extend([
        "val_accuracy",
        "val_loss",
        "train_loss",
        "best_val_accuracy",
        "epochs_done",
        "seconds",
        "reason",
    ]);
    assert_eq!(header, expected);
    let rows: Vec<HashMap<String, String>> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), trials.len());
    for (row, t) in rows.iter().zip(&trials) {
        assert_eq!(row["id"], t["id"].to_string());
        assert_eq!(row["number"], t["number"].to_string());
        assert_eq!(row["state"], t["state"].as_str().unwrap());
        assert_eq!(row["epochs_done"], t["epochs_done"].to_string());
        for metric in ["val_accuracy", "val_loss", "train_loss"] {
            let value: f64 = row[metric].parse().unwrap();
            assert_eq!(value, t[metric].as_f64().unwrap(), "{metric} of {t}");
        }
        let best: f64 = row["best_val_accuracy"].parse().unwrap();
        assert!(best >= t["val_accuracy"].as_f64().unwrap(), "{row:?}");
        assert!(row["seconds"].parse::<f64>().unwrap() > 0.0, "{row:?}");
        let p = &t["params"];
        let lr: f64 = row["learning_rate"].parse().unwrap();
        assert_eq!(lr, p["learning_rate"].as_f64().unwrap());
        assert_eq!(row["batch_size"], p["batch_size"].to_string());
        assert_eq!(row["optimizer"], p["optimizer"].as_str().unwrap());
        let layers: Vec<String> = p["hidden_layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.to_string())
            .collect();
        assert_eq!(row["hidden_layers"], format!("[{}]", layers.join(", ")));
        if p["optimizer"] == "adam" {
            assert_eq!(
                row["momentum"], "",
                "momentum does not apply to adam: {row:?}"
            );
        } else {
            let m: f64 = row["momentum"].parse().unwrap();
            assert_eq!(m, p["momentum"].as_f64().unwrap());
        }
    }

    // The JSON export: the sweep with its spec, every trial, every epoch.
    let (status, kind, text) = get_text(&app, &format!("/v1/sweeps/{id}/export.json")).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(kind, "application/json");
    let export: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(export["sweep"]["id"], id);
    assert_eq!(export["sweep"]["spec"]["method"], "random");
    let exported = export["trials"].as_array().unwrap();
    assert_eq!(exported.len(), trials.len());
    for (e, t) in exported.iter().zip(&trials) {
        assert_eq!(e["id"], t["id"]);
        assert_eq!(e["val_accuracy"], t["val_accuracy"]);
        let epochs = e["epochs"].as_array().unwrap();
        assert_eq!(
            epochs.len() as i64,
            t["epochs_done"].as_i64().unwrap(),
            "{e}"
        );
        assert_eq!(epochs.last().unwrap()["val_accuracy"], t["val_accuracy"]);
        if e["params"]["optimizer"] == "adam" {
            assert!(e["params"]["momentum"].is_null(), "n/a is null: {e}");
        }
    }

    // Every new kind of plot is valid SVG and says what it draws.
    let texts = svg_texts(&app, id, "kind=importance").await.join(" | ");
    assert!(
        texts.contains("fanova") && texts.contains("learning_rate"),
        "{texts}"
    );
    let texts = svg_texts(&app, id, "kind=best_so_far").await.join(" | ");
    assert!(texts.contains("best val_accuracy"), "{texts}");
    let texts = svg_texts(&app, id, "kind=slice&param=learning_rate").await;
    assert!(texts.iter().any(|t| t.contains("log scale")), "{texts:?}");
    let texts = svg_texts(&app, id, "kind=slice&param=optimizer").await;
    assert!(
        texts.iter().any(|t| t == "sgd") && texts.iter().any(|t| t == "adam"),
        "{texts:?}"
    );
    let texts = svg_texts(&app, id, "kind=slice&param=hidden_layers").await;
    assert!(texts.iter().any(|t| t == "[64, 32]"), "{texts:?}");
    let texts = svg_texts(&app, id, "kind=contour&x=learning_rate&y=batch_size").await;
    assert!(
        texts.iter().any(|t| t == "128"),
        "batch sizes are ticks: {texts:?}"
    );
    svg_texts(
        &app,
        id,
        "kind=contour&x=optimizer&y=momentum&include_pruned=true",
    )
    .await;
    // Epoch axes tick at whole epochs only.
    let texts = svg_texts(&app, id, "kind=val_loss").await;
    assert!(texts.iter().any(|t| t == "2"), "{texts:?}");
    assert!(!texts.iter().any(|t| t == "1.5"), "{texts:?}");

    // `trial=` is the sweep's trial number; the title shows it and the id.
    let last = trials.last().unwrap();
    let (number, trial_id) = (
        last["number"].as_i64().unwrap(),
        last["id"].as_i64().unwrap(),
    );
    let title = svg_texts(&app, id, &format!("kind=batch_loss&trial={number}"))
        .await
        .join(" | ");
    assert!(
        title.contains(&format!("trial {number} (id {trial_id})")),
        "{title}"
    );
    let (status, body) = app
        .get(&format!(
            "/v1/sweeps/{id}/plot.svg?kind=batch_loss&trial={}",
            number + 1
        ))
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&format!("no trial {}", number + 1)));
    app.stop().await;
}

/// A server whose worker exits at once: its sweeps stay queued.
async fn idle_app() -> (TestApp, i64) {
    let app = spawn_app(1, |c| c.worker_program = Some("/bin/true".into())).await;
    let id = app.submit(SWEEP).await;
    (app, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_with_no_finished_trial_answers_empty_importance_and_bare_rows() {
    let (app, id) = idle_app().await;
    let (status, body) = app.get(&format!("/v1/sweeps/{id}/importance")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trials_used"], 0);
    assert_eq!(body["importance"], serde_json::json!([]));
    svg_texts(&app, id, "kind=importance").await;
    svg_texts(&app, id, "kind=best_so_far").await;
    svg_texts(&app, id, "kind=slice&param=momentum").await;
    svg_texts(&app, id, "kind=contour&x=learning_rate&y=optimizer").await;
    let (status, _, text) = get_text(&app, &format!("/v1/sweeps/{id}/trials.csv")).await;
    assert_eq!(status, 200, "{text}");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5);
    assert!(
        rows.iter().all(|r| &r[2] == "queued" && r[8].is_empty()),
        "{text}"
    );
    let (status, _, text) = get_text(&app, &format!("/v1/sweeps/{id}/export.json")).await;
    assert_eq!(status, 200);
    let export: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(export["trials"].as_array().unwrap().len(), 5);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_query_of_the_analysis_routes_is_a_400_naming_its_field() {
    let (app, id) = idle_app().await;
    let cases: &[(&str, &str)] = &[
        ("importance?include_pruned=yes", "include_pruned"),
        (
            "importance?include_pruned=true&include_pruned=false",
            "include_pruned",
        ),
        ("importance?limt=3", "limt"),
        ("trials.csv?sep=%3B", "sep"),
        ("export.json?pretty=true", "pretty"),
        ("plot.svg?kind=pie", "kind"),
        ("plot.svg?colour=red", "colour"),
        ("plot.svg?trial=abc", "trial"),
        ("plot.svg?kind=batch_loss&trial=abc", "trial"),
        ("plot.svg?kind=batch_loss&trial=-1", "trial"),
        ("plot.svg?kind=val_loss&trial=1", "trial"),
        ("plot.svg?kind=slice", "param"),
        ("plot.svg?kind=slice&param=epochs", "param"),
        ("plot.svg?kind=slice&param=bogus", "param"),
        ("plot.svg?kind=contour&x=learning_rate", "y"),
        ("plot.svg?kind=contour&x=learning_rate&y=learning_rate", "y"),
        ("plot.svg?kind=contour&x=nope&y=learning_rate", "x"),
        ("plot.svg?kind=best_so_far&param=dropout", "param"),
        (
            "plot.svg?kind=importance&include_pruned=1",
            "include_pruned",
        ),
    ];
    for (path, field) in cases {
        let (status, body) = app.get(&format!("/v1/sweeps/{id}/{path}")).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["field"], *field, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(!message.contains("deserialize"), "{path}: {message}");
    }
    for path in [
        "importance",
        "trials.csv",
        "export.json",
        "plot.svg?kind=importance",
    ] {
        let (status, body) = app.get(&format!("/v1/sweeps/999/{path}")).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    // Trial 0 is queued: no batches yet, an empty plot titled with it.
    let title = svg_texts(&app, id, "kind=batch_loss&trial=0")
        .await
        .join(" | ");
    assert!(title.contains("trial 0 (id "), "{title}");
    app.stop().await;
}
