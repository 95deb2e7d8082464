//! SQLite under concurrency: 8 worker processes writing reports, progress
//! samples and events as fast as small epochs allow, while API readers poll
//! the sweep, its best, its trials and its event stream. No client and no
//! worker may see "database is locked" (or any other error).
mod common;

use common::process::Site;
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
        readers.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let r = site
                    .client
                    .get(format!("{}{path}", site.url))
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let body = r.text().await.unwrap();
                // /best is 404 until a trial has finished.
                assert!(
                    status == 200 || (status == 404 && path.ends_with("/best")),
                    "{path}: {status} {body}"
                );
                assert!(!body.contains("locked"), "{path}: {body}");
                requests.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    let started = Instant::now();
    loop {
        let sweep = site.get(&format!("/v1/sweeps/{id}")).await.unwrap();
        if sweep["state"] != "running" {
            assert_eq!(sweep["trials"]["completed"], trials, "{sweep}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "{sweep}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let events = site.events(id).await;
    let count = |kind: &str| events.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!(count("trial_requeued"), 0, "no worker gave a trial up");
    assert_eq!(count("trial_failed"), 0);
    assert_eq!(count("trial_started"), trials, "one attempt each");
    let log = site.log();
    assert!(!log.contains("locked"), "{log}");
    assert!(!log.contains("ERROR"), "{log}");
    eprintln!(
        "8 workers: {trials} trials, {} events ({} progress samples) in {:.0} s; {} API reads, none failed",
        events.len(),
        count("trial_progress"),
        started.elapsed().as_secs_f64(),
        requests.load(Ordering::Relaxed)
    );
}
