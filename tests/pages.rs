//! `GET /v1/sweeps/<id>/trials` in pages: a cursor walk visits every trial
//! exactly once, in number order, and bad page parameters get a 400 naming them.

use crate::common::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_walk_lists_every_trial_exactly_once() {
    let app = spawn_app(1, |_| {}).await;
    let id = app
        .submit(
            "method: random
max_trials: 25
max_parallel: 1
seed: 5
parameters:
  learning_rate: {distribution: log_uniform_values, min: 0.001, max: 0.1}
  epochs: {value: 1}
",
        )
        .await;
    // Cancelled trials stay listed; cancelling keeps the test from training 25 trials.
    let (status, _) = app
        .post(&format!("/v1/sweeps/{id}/cancel"), "application/json", "")
        .await;
    assert_eq!(status, 200);

    let (status, all) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["trials"].as_array().unwrap().len(), 25, "{all}");
    assert!(
        all["next"].is_null(),
        "one default page (100) holds 25: {all}"
    );

    let mut numbers = Vec::new();
    let mut pages = 0;
    let mut path = format!("/v1/sweeps/{id}/trials?limit=7");
    loop {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let trials = page["trials"].as_array().unwrap();
        assert!(!trials.is_empty() && trials.len() <= 7, "{page}");
        numbers.extend(trials.iter().map(|t| t["number"].as_i64().unwrap()));
        pages += 1;
        match page["next"].as_i64() {
            Some(next) => path = format!("/v1/sweeps/{id}/trials?limit=7&after={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(numbers, (0..25).collect::<Vec<i64>>());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_parameters_out_of_bounds_get_400_naming_the_field() {
    let app = spawn_app(1, |_| {}).await;
    let id = app
        .submit("method: random\nmax_trials: 2\nparameters:\n  epochs: {value: 1}\n")
        .await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-3", "limit"),
        ("limit=ten", "limit"),
        ("limit=", "limit"),
        ("after=-2", "after"),
        ("after=x", "after"),
        ("limit=5&after=99999999999999999999", "after"),
    ] {
        let (status, body) = app.get(&format!("/v1/sweeps/{id}/trials?{query}")).await;
        assert_eq!(status, 400, "{query} -> {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{query} -> {body}");
        assert_eq!(body["error"]["field"], field, "{query} -> {body}");
    }
    let (status, body) = app.get(&format!("/v1/sweeps/{id}/trials?limit=1000")).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}
