//! The live event stream, cancelling a sweep, and server-side plots.

use crate::common::spawn_app;
use futures_util::StreamExt;
use hypersweep::store::{Events as _, Store};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Reads SSE messages until `limit` events arrived or the stream ended;
/// returns (id, kind) of each, and whether the stream ended.
async fn read_events(url: &str, last_id: Option<i64>, limit: usize) -> (Vec<(i64, String)>, bool) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(id) = last_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.bytes_stream();
    let (mut buffer, mut events) = (String::new(), Vec::new());
    while events.len() < limit {
        let Some(chunk) = tokio::time::timeout(Duration::from_secs(120), body.next())
            .await
            .expect("stream stalled")
        else {
            return (events, true);
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buffer.find("\n\n") {
            let message: String = buffer.drain(..end + 2).collect();
            let (mut id, mut kind) = (None, String::new());
            for line in message.lines() {
                if let Some(v) = line
                    .strip_prefix("id: ")
                    .or_else(|| line.strip_prefix("id:"))
                {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line
                    .strip_prefix("event: ")
                    .or_else(|| line.strip_prefix("event:"))
                {
                    kind = v.trim().to_string();
                } else if let Some(v) = line
                    .strip_prefix("data: ")
                    .or_else(|| line.strip_prefix("data:"))
                {
                    let data: Value = serde_json::from_str(v).unwrap();
                    assert_eq!(data["id"].as_i64(), id, "data carries the row id");
                }
            }
            if let Some(id) = id {
                events.push((id, kind));
            }
        }
    }
    (events, false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_client_gets_exactly_the_events_it_missed() {
    let app = spawn_app(2, |_| {}).await;
    let id = app
        .submit("method: grid\nparameters:\n  learning_rate: {values: [0.05, 0.01, 0.003]}\n  epochs: {value: 2}\n  batch_size: {value: 32}\n")
        .await;
    let url = format!("{}/v1/sweeps/{id}/events", app.url);
    let (first, ended) = read_events(&url, None, 6).await;
    assert!(!ended);
    // Reconnect once events were written meanwhile, as a client that lost
    // its connection would: there is something it missed.
    let last_seen = first.last().unwrap().0;
    let store = Store::open(&app.config.database, false).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.events(id, last_seen, 1).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no event after {last_seen}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (rest, ended) = read_events(&url, Some(last_seen), usize::MAX).await;
    assert!(ended, "the stream ends with the sweep");
    let got: Vec<(i64, String)> = first.into_iter().chain(rest).collect();
    assert_eq!(got.last().unwrap().1, "sweep_completed");

    let table: Vec<(i64, String)> = store
        .events(id, 0, i64::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e.kind))
        .collect();
    assert_eq!(got, table, "every event once, in order");
    for kind in [
        "sweep_created",
        "trial_queued",
        "trial_started",
        "trial_progress",
        "epoch_report",
        "trial_completed",
        "best_changed",
    ] {
        assert!(table.iter().any(|(_, k)| k == kind), "no {kind} event");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_queued_and_running_trials_within_an_epoch() {
    let app = spawn_app(2, |_| {}).await;
    let id = app
        .submit("method: grid\nparameters:\n  learning_rate: {values: [0.05, 0.01, 0.003, 0.001]}\n  epochs: {value: 200}\n  hidden_layers: {value: [2048, 2048]}\n  batch_size: {value: 32}\n")
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, sweep) = app.get(&format!("/v1/sweeps/{id}")).await;
        if sweep["trials"]["running"].as_i64().unwrap() >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no trial started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = app
        .post(&format!("/v1/sweeps/{id}/cancel"), "application/json", "")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "cancelled");
    let (_, trials) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    for t in trials["trials"].as_array().unwrap() {
        assert_eq!(t["state"], "cancelled", "{t}");
    }
    let (_, sweep) = app.get(&format!("/v1/sweeps/{id}")).await;
    assert_eq!(
        (sweep["state"].as_str(), sweep["ended_by"].as_str()),
        (Some("cancelled"), Some("cancelled"))
    );

    let (status, body) = app
        .post(&format!("/v1/sweeps/{id}/cancel"), "application/json", "")
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = app
        .post("/v1/sweeps/999/cancel", "application/json", "")
        .await;
    assert_eq!(status, 404);
    // The store refuses a cancelled trial's writes whatever its worker
    // does; that the workers stopped training shows in their being free:
    // both take a trial of the next sweep. Its trials are long enough that
    // one worker alone cannot finish the first and take the second before
    // the deadline, and a worker training on would need its remaining
    // ~199 epochs of a wide network: many minutes, far past it.
    let next = app
        .submit("method: grid\nparameters:\n  learning_rate: {values: [0.05, 0.01]}\n  epochs: {value: 100}\n  batch_size: {value: 32}\n")
        .await;
    let store = Store::open(&app.config.database, false).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let workers: std::collections::BTreeSet<String> = store
            .events(next, 0, i64::MAX)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "trial_started")
            .map(|e| e.data["worker"].as_str().unwrap().to_string())
            .collect();
        if workers.len() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cancelled trials still hold a worker: the next sweep started on {workers:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = app
        .post(&format!("/v1/sweeps/{next}/cancel"), "application/json", "")
        .await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plots_are_drawn_as_svg() {
    let app = spawn_app(2, |_| {}).await;
    let id = app
        .submit("method: grid\nparameters:\n  learning_rate: {values: [0.05, 0.001]}\n  epochs: {value: 3}\n  batch_size: {value: 32}\n")
        .await;
    app.wait_for_sweep(id, Duration::from_secs(180)).await;
    for query in ["", "?kind=val_loss", "?kind=train_loss", "?kind=batch_loss"] {
        let response = app
            .client
            .get(format!("{}/v1/sweeps/{id}/plot.svg{query}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{query}");
        assert_eq!(response.headers()["content-type"], "image/svg+xml");
        let svg = response.text().await.unwrap();
        assert!(svg.starts_with("<svg"), "{query}");
        assert!(
            svg.contains("<polyline") || svg.contains("<path"),
            "{query}: no line drawn"
        );
    }
    let (status, body) = app.get(&format!("/v1/sweeps/{id}/plot.svg?kind=pie")).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app
        .get(&format!(
            "/v1/sweeps/{id}/plot.svg?kind=batch_loss&trial=999"
        ))
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}
