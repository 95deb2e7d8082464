//! What a user sees of a sweep's trials: one trial number everywhere (and a
//! route by it), parameters that did not apply shown as null, trials
//! filtered by state and sorted by a column, and query parameters a route
//! does not take refused with a 400 naming them.

use crate::common::spawn_app;
use serde_json::Value;
use std::time::Duration;

const SPEC: &str = "method: random
max_trials: 6
max_parallel: 1
seed: 11
parameters:
  optimizer: {values: [sgd, adam]}
  momentum: {values: [0.5, 0.9], when: {optimizer: sgd}}
  learning_rate: {distribution: log_uniform_values, min: 0.005, max: 0.05}
  batch_size: {value: 256}
  epochs: {value: 1}
";

fn trials(page: &Value) -> &Vec<Value> {
    page["trials"].as_array().expect("a trials list")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trials_filter_sort_and_show_what_did_not_apply() {
    let app = spawn_app(1, |_| {}).await;
    let id = app.submit(SPEC).await;
    let sweep = app.wait_for_sweep(id, Duration::from_secs(300)).await;
    assert_eq!(sweep["trials"]["completed"], 6, "{sweep}");

    let (status, all) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    assert_eq!(status, 200, "{all}");
    let all = trials(&all).clone();
    assert_eq!(all.len(), 6);
    let adam: Vec<&Value> = all
        .iter()
        .filter(|t| t["params"]["optimizer"] == "adam")
        .collect();
    assert!(
        !adam.is_empty() && adam.len() < 6,
        "seed 11 mixes optimizers"
    );
    for t in &all {
        let momentum = &t["params"]["momentum"];
        match t["params"]["optimizer"].as_str() {
            Some("adam") => assert!(momentum.is_null(), "adam's momentum is n/a: {t}"),
            _ => assert!(momentum.is_f64(), "sgd's momentum is shown: {t}"),
        }
    }

    // By number, in the sweep: the same trial as by its global id, n/a too.
    let first_adam = adam[0];
    let number = first_adam["number"].as_i64().unwrap();
    let (status, by_number) = app.get(&format!("/v1/sweeps/{id}/trials/{number}")).await;
    assert_eq!(status, 200, "{by_number}");
    assert_eq!(by_number["id"], first_adam["id"]);
    assert!(by_number["params"]["momentum"].is_null(), "{by_number}");
    let (_, by_id) = app.get(&format!("/v1/trials/{}", first_adam["id"])).await;
    assert_eq!(by_id["params"], by_number["params"]);
    assert_eq!(by_id["epochs"], by_number["epochs"]);
    let (status, zero) = app.get(&format!("/v1/sweeps/{id}/trials/0")).await;
    assert_eq!((status, zero["number"].as_i64()), (200, Some(0)), "{zero}");
    for missing in ["6", "01", "-1", "x"] {
        let (status, body) = app.get(&format!("/v1/sweeps/{id}/trials/{missing}")).await;
        assert_eq!(status, 404, "{missing}: {body}");
    }
    let (status, _) = app.get(&format!("/v1/sweeps/{}/trials/0", id + 1)).await;
    assert_eq!(status, 404);

    // The best trial's parameters say the same as its row in the list,
    // whichever optimizer won.
    let (_, best) = app.get(&format!("/v1/sweeps/{id}/best")).await;
    let listed = all
        .iter()
        .find(|t| t["id"] == best["trial"]["id"])
        .expect("the best trial is listed");
    assert_eq!(best["params"], listed["params"], "{best}");
    assert_eq!(best["trial"]["params"], listed["params"], "{best}");

    // Sorted by accuracy, descending, two at a time by offset.
    let mut sorted = Vec::new();
    let mut path = format!("/v1/sweeps/{id}/trials?sort=-val_accuracy&limit=2");
    loop {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        sorted.extend(trials(&page).iter().cloned());
        match page["next"].as_i64() {
            Some(next) => {
                path = format!("/v1/sweeps/{id}/trials?sort=-val_accuracy&limit=2&offset={next}")
            }
            None => break,
        }
    }
    let accuracies: Vec<f64> = sorted
        .iter()
        .map(|t| t["val_accuracy"].as_f64().unwrap())
        .collect();
    assert_eq!(accuracies.len(), 6);
    assert!(
        accuracies.windows(2).all(|w| w[0] >= w[1]),
        "{accuracies:?}"
    );
    let (_, ascending) = app
        .get(&format!("/v1/sweeps/{id}/trials?sort=val_loss"))
        .await;
    let losses: Vec<f64> = trials(&ascending)
        .iter()
        .map(|t| t["val_loss"].as_f64().unwrap())
        .collect();
    assert!(losses.windows(2).all(|w| w[0] <= w[1]), "{losses:?}");
    let (_, reversed) = app
        .get(&format!("/v1/sweeps/{id}/trials?sort=-number"))
        .await;
    let numbers: Vec<i64> = trials(&reversed)
        .iter()
        .map(|t| t["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![5, 4, 3, 2, 1, 0]);

    // Filtered by state.
    let (_, completed) = app
        .get(&format!("/v1/sweeps/{id}/trials?state=completed"))
        .await;
    assert_eq!(trials(&completed).len(), 6);
    let (_, none) = app
        .get(&format!("/v1/sweeps/{id}/trials?state=cancelled,pruned"))
        .await;
    assert!(trials(&none).is_empty(), "{none}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_or_bad_query_parameters_get_400_naming_them() {
    let app = spawn_app(1, |_| {}).await;
    // Long trials, cancelled at once: none completes.
    let id = app
        .submit(&SPEC.replace("epochs: {value: 1}", "epochs: {value: 50}"))
        .await;
    let (status, _) = app
        .post(&format!("/v1/sweeps/{id}/cancel"), "application/json", "")
        .await;
    assert_eq!(status, 200);
    // The one trial a worker may have claimed ends cancelled within an epoch.
    let (_, cancelled) = app
        .get(&format!("/v1/sweeps/{id}/trials?state=cancelled"))
        .await;
    assert!(trials(&cancelled).len() >= 5, "{cancelled}");
    assert!(trials(&cancelled).iter().all(|t| t["state"] == "cancelled"));
    for state in ["completed", "queued", "completed,queued"] {
        let (_, page) = app
            .get(&format!("/v1/sweeps/{id}/trials?state={state}"))
            .await;
        assert!(trials(&page).is_empty(), "{state}: {page}");
    }

    let cases = [
        (format!("/v1/sweeps/{id}/trials?limt=5"), "limt"),
        (format!("/v1/sweeps/{id}/trials?state=done"), "state"),
        (
            format!("/v1/sweeps/{id}/trials?state=queued&state=running"),
            "state",
        ),
        (format!("/v1/sweeps/{id}/trials?sort=speed"), "sort"),
        (
            format!("/v1/sweeps/{id}/trials?sort=val_loss&after=3"),
            "after",
        ),
        (format!("/v1/sweeps/{id}/trials?offset=2"), "offset"),
        (
            format!("/v1/sweeps/{id}/trials?offset=-1&sort=val_loss"),
            "offset",
        ),
        (format!("/v1/sweeps/{id}?verbose=1"), "verbose"),
        (format!("/v1/sweeps/{id}/best?trial=2"), "trial"),
        ("/v1/trials/1?x".to_string(), "x"),
        ("/v1/sweeps?limit=5&after=2".to_string(), "after"),
        ("/v1/datasets?all=true".to_string(), "all"),
    ];
    for (path, field) in cases {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{path}: {message}");
    }
    // What a route does take still passes, percent-encoded or not.
    for path in [
        format!("/v1/sweeps/{id}/trials?%6Cimit=2&state=cancelled"),
        format!("/v1/sweeps/{id}/trials?sort=-started_at&offset=1"),
        "/v1/sweeps?limit=1".to_string(),
    ] {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    app.stop().await;
}
