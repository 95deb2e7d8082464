//! SQLite under concurrency: 8 worker processes writing reports, progress
//! samples and events as fast as small epochs allow, while API readers poll
//! the sweep, its best, its trials and its event stream. No client and no
//! worker may see "database is locked" (or any other error).

use crate::common::process::Site;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_workers_and_api_readers_never_see_a_locked_database() {
    // CONCURRENCY_TRIALS scales the run (48 trials: about a minute here).
    let trials: usize = std::env::var("CONCURRENCY_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(48);
    let site = Arc::new(Site::new(8, "batch_loss_every = 5\nlease_seconds = 10"));
    let _server = site.start().await;
    let id = site
        .submit(&format!(
            "method: random\nmax_trials: {trials}\nparameters:\n  epochs: {{value: 2}}\n  batch_size: {{values: [128, 256]}}\n  learning_rate: {{min: 0.001, max: 0.05}}\n"
        ))
        .await;
    let done = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for path in [
        format!("/v1/sweeps/{id}"),
        format!("/v1/sweeps/{id}/best"),
        format!("/v1/sweeps/{id}/trials"),
        "/v1/sweeps".to_string(),
    ] {
        let (site, done, requests) = (site.clone(), done.clone(), requests.clone());
        // Each reader returns the answers that were not what they should
        // be, so that the test reports all of them, not the first.
        readers.push(tokio::spawn(async move {
            let mut wrong = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let r = site
                    .client
                    .get(format!("{}{path}", site.url))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                requests.fetch_add(1, Ordering::Relaxed);
                match r {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body = r.text().await.unwrap_or_default();
                        if let Some(problem) = check_answer(&path, status, &body) {
                            wrong.push(problem);
                        }
                    }
                    Err(e) => wrong.push(format!("{path}: no answer: {e}")),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            wrong
        }));
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(600);
    loop {
        let sweep = site.get(&format!("/v1/sweeps/{id}")).await.unwrap();
        if sweep["state"] != "running" {
            assert_eq!(sweep["trials"]["completed"], trials, "{sweep}");
            break;
        }
        assert!(Instant::now() < deadline, "still running: {sweep}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    done.store(true, Ordering::Relaxed);
    let mut wrong = Vec::new();
    for r in readers {
        wrong.extend(r.await.unwrap());
    }
    assert!(
        wrong.is_empty(),
        "{} of {} API reads went wrong, e.g. {:#?}\nserver log:\n{}",
        wrong.len(),
        requests.load(Ordering::Relaxed),
        &wrong[..wrong.len().min(10)],
        site.log()
    );
    let events = site.events(id).await;
    let count = |kind: &str| events.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!(count("trial_requeued"), 0, "no worker gave a trial up");
    assert_eq!(count("trial_failed"), 0);
    assert_eq!(count("trial_started"), trials, "one attempt each");
    // A locked database shows in the log (the API logs the cause of a 5xx,
    // a worker the write it gave up), not in any answer.
    let log = site.log();
    assert!(!log.contains("database is locked"), "{log}");
    assert!(!log.contains("ERROR"), "{log}");
    eprintln!(
        "8 workers: {trials} trials, {} events ({} progress samples) in {:.0} s; {} API reads, none failed",
        events.len(),
        count("trial_progress"),
        started.elapsed().as_secs_f64(),
        requests.load(Ordering::Relaxed)
    );
}

/// What is wrong with one answer to a reader, if anything: every read is a
/// 200 with a JSON body, but for `/best` before any trial has finished (a
/// 404 `not_found`). A 5xx is reported with its error code, which must be
/// the API's error shape (`internal` or `unavailable`) and say nothing of
/// the database inside.
fn check_answer(path: &str, status: u16, body: &str) -> Option<String> {
    let json: Option<Value> = serde_json::from_str(body).ok();
    let code = json
        .as_ref()
        .and_then(|j| j["error"]["code"].as_str())
        .map(str::to_string);
    match status {
        200 if json.is_some() => None,
        404 if path.ends_with("/best") && code.as_deref() == Some("not_found") => None,
        500..=599 => Some(match code.as_deref() {
            Some("internal" | "unavailable") if !body.contains("locked") => {
                format!("{path}: {status} {body}")
            }
            _ => format!("{path}: {status} not in the API's error shape: {body}"),
        }),
        _ => Some(format!("{path}: {status} {body}")),
    }
}
