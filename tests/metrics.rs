//! `GET /metrics`: parsed by a real Prometheus text-format parser
//! (`prometheus_client`, in .venv) and checked against the SQLite file
//! after real sweeps; behind the token unless `metrics_public`.
use crate::common::{spawn_app, TestApp};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Parses an exposition with `prometheus_client.parser`; a parse error fails the test.
const PARSE: &str = r#"
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        v = s.value
        out.append({"family": family.name, "type": family.type, "name": s.name,
                    "labels": s.labels, "value": "+Inf" if math.isinf(v) else v})
print(json.dumps(out))
"#;

/// One sample as the parser read it.
#[derive(Debug, Clone)]
struct Sample {
    family_type: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let mut child = Command::new(&python)
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{} does not start ({e}): bash scripts/setup.sh",
                python.display()
            )
        });
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "prometheus_client cannot parse /metrics: {}\n---\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    parsed
        .into_iter()
        .map(|s| Sample {
            family_type: s["type"].as_str().unwrap().to_string(),
            name: s["name"].as_str().unwrap().to_string(),
            labels: serde_json::from_value(s["labels"].clone()).unwrap(),
            value: s["value"].as_f64().unwrap_or(f64::INFINITY),
        })
        .collect()
}

async fn scrape(app: &TestApp) -> (String, Vec<Sample>) {
    let response = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    let samples = parse(&text);
    (text, samples)
}

/// The value of the one sample named `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(found.len(), 1, "samples {name} {labels:?}: {found:?}");
    found[0].value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_agree_with_the_database_after_real_sweeps() {
    let app = spawn_app(1, |_| {}).await;
    let minute = Duration::from_secs(60);
    let done = app
        .submit(
            "name: metrics\nmethod: grid\nparameters:\n  epochs: {value: 2}\n  \
             learning_rate: {values: [0.05, 0.02]}\n",
        )
        .await;
    app.wait_for_sweep(done, 3 * minute).await;
    let cancelled = app
        .submit("name: stopped\nmethod: grid\nparameters:\n  epochs: {value: 1}\n  learning_rate: {values: [0.1, 0.2, 0.3]}\n")
        .await;
    let (status, _) = app
        .post(
            &format!("/v1/sweeps/{cancelled}/cancel"),
            "application/json",
            "",
        )
        .await;
    assert_eq!(status, 200);
    app.wait_for_sweep(cancelled, minute).await;
    assert_eq!(app.get(&format!("/v1/sweeps/{done}")).await.0, 200);
    assert_eq!(app.get("/v1/no-such-route/17").await.0, 404);

    let (text, samples) = scrape(&app).await;
    for family in [
        "hypersweep_trials",
        "hypersweep_sweeps",
        "hypersweep_workers_connected",
        "hypersweep_epochs_trained_total",
        "hypersweep_epoch_seconds",
        "hypersweep_http_request_duration_seconds",
        "hypersweep_events_written_total",
    ] {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "no HELP for {family}:\n{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "no TYPE for {family}:\n{text}"
        );
    }

    // Every count against a SQL count on the real database.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.config.database).await.unwrap();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap() as f64
        }
    };
    for state in [
        "queued",
        "running",
        "completed",
        "pruned",
        "failed",
        "cancelled",
    ] {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM trials WHERE state = $1")
            .bind(state)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(
            value(&samples, "hypersweep_trials", &[("state", state)]),
            n as f64,
            "{state}"
        );
    }
    assert_eq!(
        value(&samples, "hypersweep_trials", &[("state", "completed")]),
        2.0
    );
    for state in ["running", "completed", "cancelled"] {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sweeps WHERE state = $1")
            .bind(state)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(
            value(&samples, "hypersweep_sweeps", &[("state", state)]),
            n as f64,
            "{state}"
        );
    }
    let epochs = count("SELECT COUNT(*) FROM epoch_reports").await;
    assert!(epochs >= 4.0, "two trials of two epochs: {epochs}");
    assert_eq!(
        value(&samples, "hypersweep_epochs_trained_total", &[]),
        epochs
    );
    assert_eq!(
        value(&samples, "hypersweep_epoch_seconds_count", &[]),
        epochs
    );
    assert_eq!(
        value(
            &samples,
            "hypersweep_epoch_seconds_bucket",
            &[("le", "+Inf")]
        ),
        epochs
    );
    let seconds: f64 = sqlx::query_scalar("SELECT SUM(seconds) FROM epoch_reports")
        .fetch_one(&pool)
        .await
        .unwrap();
    let sum = value(&samples, "hypersweep_epoch_seconds_sum", &[]);
    assert!(
        (sum - seconds).abs() < 1e-6 * seconds.max(1.0),
        "{sum} vs {seconds}"
    );
    let events = count("SELECT COUNT(*) FROM events").await;
    assert_eq!(
        value(&samples, "hypersweep_events_written_total", &[]),
        events
    );
    assert_eq!(value(&samples, "hypersweep_workers_connected", &[]), 1.0);
    let family = |name: &str| {
        samples
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .family_type
            .clone()
    };
    assert_eq!(family("hypersweep_epochs_trained_total"), "counter");
    assert_eq!(family("hypersweep_epoch_seconds_sum"), "histogram");
    assert_eq!(family("hypersweep_trials"), "gauge");

    // API latency by route pattern, never the raw path.
    let show = [
        ("route", "/v1/sweeps/{id}"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert!(
        value(
            &samples,
            "hypersweep_http_request_duration_seconds_count",
            &show
        ) >= 1.0
    );
    let missing = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert_eq!(
        value(
            &samples,
            "hypersweep_http_request_duration_seconds_count",
            &missing
        ),
        1.0
    );
    assert!(
        !samples
            .iter()
            .any(|s| s.labels.get("route").is_some_and(|r| {
                r.split('/').any(|segment| {
                    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
                })
            })),
        "a raw path in a route label:\n{text}"
    );
    // Buckets are cumulative and end in +Inf = _count.
    let buckets: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "hypersweep_http_request_duration_seconds_bucket")
        .filter(|s| s.labels.get("route").map(String::as_str) == Some("/v1/sweeps/{id}"))
        .filter(|s| s.labels.get("status").map(String::as_str) == Some("200"))
        .collect();
    assert!(
        buckets.windows(2).all(|w| w[0].value <= w[1].value),
        "{buckets:?}"
    );
    assert_eq!(buckets.last().unwrap().labels["le"], "+Inf");
    assert_eq!(
        buckets.last().unwrap().value,
        value(
            &samples,
            "hypersweep_http_request_duration_seconds_count",
            &show
        )
    );

    // A later scrape counts the new events once: nothing has happened but
    // requests, so the counters stand still.
    let (_, again) = scrape(&app).await;
    assert_eq!(
        value(&again, "hypersweep_events_written_total", &[]),
        events
    );
    assert_eq!(
        value(&again, "hypersweep_epochs_trained_total", &[]),
        epochs
    );
    let metrics = [("route", "/metrics"), ("method", "GET"), ("status", "200")];
    assert!(
        value(
            &again,
            "hypersweep_http_request_duration_seconds_count",
            &metrics
        ) >= 1.0
    );
    pool.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_token_unless_public() {
    const TOKEN: &str = "metrics-token-0123456789";
    let token = || Some(hypersweep::config::ApiToken::new(TOKEN).unwrap());
    let bare = reqwest::Client::new();
    let guarded = spawn_app(1, |c| c.api_token = token()).await;
    let response = bare
        .get(format!("{}/metrics", guarded.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    let (_, samples) = scrape(&guarded).await; // its client sends the token
    assert!(samples.iter().any(|s| s.name == "hypersweep_trials"));
    guarded.stop().await;

    let public = spawn_app(1, |c| {
        c.api_token = token();
        c.metrics_public = true;
    })
    .await;
    let response = bare
        .get(format!("{}/metrics", public.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    parse(&response.text().await.unwrap());
    // Only /metrics is public.
    let sweeps = bare
        .get(format!("{}/v1/sweeps", public.url))
        .send()
        .await
        .unwrap();
    assert_eq!(sweeps.status(), 401);
    // The worker gauge follows the supervisor's live processes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, samples) = scrape(&public).await;
        if value(&samples, "hypersweep_workers_connected", &[]) == 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no worker counted alive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    public.stop().await;
}
