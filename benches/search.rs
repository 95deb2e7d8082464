//! How fast each search strategy finds a good configuration, on the same
//! space, data and wall-clock budget: random without early stopping, bayes
//! (TPE), and bayes + hyperband (ASHA). Real server, real worker processes,
//! real training on Fashion-MNIST.
//!
//! `cargo bench --bench search -- [--minutes 8] [--dataset fashion-mnist] [--only bayes-hyperband] [--fuse 1,8] [--space issue|lab]`
//!
//! `--fuse`: each strategy once per group size (`fuse: N` in its spec; 1:
//! one trial at a time), one after the other in this run.
use hypersweep::config::Config;
use hypersweep::store::{Events as _, Store};
use serde_json::Value;
use std::time::Duration;

/// The lab's space, as the issue states it: lr 1e-4..1e-1 log, batch 32..256,
/// up to 10 epochs, 1-3 layers of 32..512, dropout 0..0.5, L2 1e-6..1e-2 log,
/// sgd/adam/adagrad.
const SPACE: &str = "
  learning_rate: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
  batch_size: {values: [32, 64, 128, 256]}
  epochs: {value: 10}
  hidden_layers: {values: [[32], [64], [128], [256], [512], [128, 64], [256, 128], [512, 256], [512, 128], [256, 128, 64], [512, 256, 128], [128, 64, 32]]}
  dropout: {distribution: uniform, min: 0.0, max: 0.5}
  weight_decay: {distribution: log_uniform_values, min: 0.000001, max: 0.01}
  optimizer: {values: [sgd, adam, adagrad]}
  momentum: {value: 0.9, when: {optimizer: sgd}}
";

/// `--space lab`: the PyTorch lab's network only (784-128-64-10, SGD,
/// batch 64), its learning rate, momentum, dropout and weight decay
/// searched: a space every trial of which fuses with every other.
const LAB_SPACE: &str = "
  learning_rate: {distribution: log_uniform_values, min: 0.001, max: 0.1}
  batch_size: {value: 64}
  epochs: {value: 5}
  hidden_layers: {value: [128, 64]}
  dropout: {distribution: uniform, min: 0.0, max: 0.3}
  weight_decay: {distribution: log_uniform_values, min: 0.000001, max: 0.001}
  optimizer: {value: sgd}
  momentum: {distribution: uniform, min: 0.5, max: 0.95}
";

const STRATEGIES: [(&str, &str); 3] = [
    ("random", "method: random\n"),
    ("bayes", "method: bayes\n"),
    (
        "bayes-hyperband",
        "method: bayes\nearly_terminate: {type: hyperband, min_iter: 1, eta: 3}\n",
    ),
];

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let minutes: f64 = arg("--minutes")
        .map(|m| m.parse())
        .transpose()?
        .unwrap_or(8.0);
    let dataset = arg("--dataset").unwrap_or_else(|| "fashion-mnist".into());
    let only = arg("--only");
    let space = match arg("--space").as_deref() {
        None | Some("issue") => SPACE,
        Some("lab") => LAB_SPACE,
        Some(other) => anyhow::bail!("--space: `issue` or `lab`, not `{other}`"),
    };
    let fuses: Vec<u32> = arg("--fuse")
        .unwrap_or_else(|| "1".into())
        .split(',')
        .map(|f| f.trim().parse())
        .collect::<Result<_, _>>()?;
    let dir = tempfile::tempdir()?;
    let config = Config {
        database: format!("sqlite://{}", dir.path().join("bench.db").display()),
        data_dir: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data").into()),
        worker_program: Some(env!("CARGO_BIN_EXE_hypersweep").into()),
        ..Config::default()
    };
    std::env::set_var("RUST_LOG", "warn");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hypersweep::server::serve(listener, config.clone(), async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    while client.get(format!("{url}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let store = Store::open(&config.database, false).await?;
    println!(
        "search strategies on {dataset}, {minutes} min each, {} workers x {} thread(s)\n",
        config.packing().workers,
        config.packing().threads_per_trial
    );
    println!(
        "{:<16} {:>4} {:>7} {:>9} {:>6} {:>6} {:>10} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "strategy",
        "fuse",
        "started",
        "completed",
        "pruned",
        "failed",
        "ended/min",
        "best@1/4",
        "best@1/2",
        "best@1/1",
        "t(0.85)",
        "t(0.88)",
        "t(0.89)"
    );
    let runs = STRATEGIES
        .iter()
        .filter(|(name, _)| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|x| x == *name))
        })
        .flat_map(|s| fuses.iter().map(move |f| (*s, *f)));
    for ((name, method), fuse) in runs {
        let spec = format!(
            "name: bench-{name}-fuse-{fuse}\ndataset: {dataset}\n{method}fuse: {fuse}\nmax_trials: 1000\nmax_minutes: {minutes}\nat_max_minutes: stop\nseed: 1\nparameters:{space}"
        );
        let response = client
            .post(format!("{url}/v1/sweeps"))
            .header("content-type", "application/yaml")
            .body(spec)
            .send()
            .await?;
        let sweep: Value = response.json().await?;
        let id = sweep["id"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("rejected: {sweep}"))?;
        let sweep = loop {
            let sweep: Value = client
                .get(format!("{url}/v1/sweeps/{id}"))
                .send()
                .await?
                .json()
                .await?;
            if sweep["state"] != "running" {
                break sweep;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        let start = seconds(sweep["created_at"].as_str().unwrap_or_default());
        // (seconds since submission, validation accuracy) of every epoch report.
        let reports: Vec<(f64, f64)> = store
            .events(id, 0, i64::MAX)
            .await?
            .into_iter()
            .filter(|e| e.kind == "epoch_report")
            .filter_map(|e| {
                Some((
                    seconds(&e.created_at) - start,
                    e.data["report"]["val_accuracy"].as_f64()?,
                ))
            })
            .collect();
        let budget = minutes * 60.0;
        let best_by = |t: f64| {
            reports
                .iter()
                .filter(|r| r.0 <= t)
                .map(|r| r.1)
                .fold(f64::NAN, f64::max)
        };
        let time_to = |acc: f64| {
            reports
                .iter()
                .filter(|r| r.1 >= acc)
                .map(|r| r.0)
                .fold(f64::NAN, f64::min)
        };
        let counts = &sweep["trials"];
        let trials: Value = client
            .get(format!("{url}/v1/sweeps/{id}/trials"))
            .send()
            .await?
            .json()
            .await?;
        let started = trials["trials"].as_array().map_or(0, |t| {
            t.iter().filter(|t| t["started_at"].is_string()).count()
        });
        let fmt_t = |t: f64| {
            if t.is_nan() {
                "-".to_string()
            } else {
                format!("{t:.0}s")
            }
        };
        let ended = ["completed", "pruned", "failed"]
            .iter()
            .map(|k| counts[*k].as_i64().unwrap_or(0))
            .sum::<i64>();
        println!(
            "{:<16} {:>4} {:>7} {:>9} {:>6} {:>6} {:>10.1} {:>9.4} {:>9.4} {:>9.4} {:>8} {:>8} {:>8}",
            name,
            fuse,
            started,
            counts["completed"],
            counts["pruned"],
            counts["failed"],
            ended as f64 / minutes,
            best_by(budget / 4.0),
            best_by(budget / 2.0),
            best_by(budget),
            fmt_t(time_to(0.85)),
            fmt_t(time_to(0.88)),
            fmt_t(time_to(0.89)),
        );
        let best: Value = client
            .get(format!("{url}/v1/sweeps/{id}/best"))
            .send()
            .await?
            .json()
            .await?;
        println!(
            "    best: {} test accuracy {}",
            best["params"], best["test"]["accuracy"]
        );
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// Seconds since the Unix epoch of an ISO-8601 UTC time as the store writes it.
fn seconds(iso: &str) -> f64 {
    let parse = |s: &str| s.parse::<f64>().unwrap_or(0.0);
    let (date, time) = iso
        .trim_end_matches('Z')
        .split_once('T')
        .unwrap_or(("1970-01-01", "0:0:0"));
    let d: Vec<f64> = date.split('-').map(parse).collect();
    let t: Vec<f64> = time.split(':').map(parse).collect();
    let (y, m, day) = (d[0] as i64, d[1] as i64, d[2] as i64);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days as f64 * 86_400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]
}
