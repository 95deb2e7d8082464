//! One server against many workers: simulated workers (worker-protocol
//! clients that train nothing) against the real `hypersweep serve` with no
//! local workers, at 50, 200 and 1,000 workers, a fresh server and database
//! for each count.
//!
//! Each simulated worker has its own HTTP client (its own connection, as a
//! real worker on its own host), registers, claims one trial at a time,
//! reports an epoch once a second, finishes after the trial's epochs and
//! claims the next. All of them claim at once at the start (the burst), then
//! spread their reports over the second. Beside them a reader polls
//! `GET /v1/sweeps/ID/trials` every 100 ms, as a dashboard would.
//!
//! Measured: claims per second (the burst, and the steady rate), claim,
//! report and finish latency (p50/p99), the reader's latency, errors; and
//! checked: no trial claimed twice (by the clients' own record and by every
//! trial's attempt count on the server).
//!
//! `cargo bench --bench workers -- [--workers 50,200,1000] [--seconds 30] [--epochs 10] [--binary PATH] [--db-dir DIR] [--database sqlite|postgres]`
//!
//! `--database postgres`: each count's server on a scratch PostgreSQL
//! database (`store::scratch`: the server `HYPERSWEEP_TEST_POSTGRES` names,
//! else one started for the bench with fsync off).
//!
//! The load generator shares the machine's cores with the server, as the
//! goal's "on this 2-core machine" has it.
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const API_TOKEN: &str = "bench-api-token-0123456789";
const WORKER_TOKEN: &str = "bench-worker-token-0123456789";
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {token}");
    headers.insert(reqwest::header::AUTHORIZATION, value.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A `hypersweep serve` with `workers = 0` on a free port, its own database.
struct Service {
    child: Child,
    url: String,
    api: reqwest::Client,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Service {
    async fn start(binary: &str, workers: usize) -> anyhow::Result<Service> {
        // --db-dir: where the server's folder (and database) goes, e.g. a
        // tmpfs to see what the disk's syncs cost.
        let dir = match arg("--db-dir") {
            Some(parent) => tempfile::tempdir_in(parent)?,
            None => tempfile::tempdir()?,
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let database = match arg("--database").as_deref() {
            None | Some("sqlite") => format!("sqlite://{}", dir.path().join("bench.db").display()),
            Some("postgres") => hypersweep::store::scratch::database()
                .await
                .map_err(anyhow::Error::msg)?,
            Some(other) => anyhow::bail!("--database {other}: sqlite or postgres"),
        };
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\ndatabase = \"{database}\"\ndata_dir = \"{DATA}\"\n\
                 workers = 0\napi_token = \"{API_TOKEN}\"\nworker_token = \"{WORKER_TOKEN}\"\n\
                 lease_seconds = 30\nmax_connections = {conns}\n[limits]\nmax_trials = 1000000\n",
                conns = workers * 2 + 64,
            ),
        )?;
        let log = dir.path().join("serve.log");
        let child = Command::new(binary)
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .env_remove("HYPERSWEEP_WORKERS")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()?;
        let service = Service {
            child,
            url: format!("http://127.0.0.1:{port}"),
            api: client(API_TOKEN),
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let up = service
                .api
                .get(format!("{}/healthz", service.url))
                .send()
                .await;
            if up.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the server did not start: {}",
                service.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(service)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the server and waits for its end.
    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    async fn submit(&self, spec: &str) -> anyhow::Result<i64> {
        let r = self
            .api
            .post(format!("{}/v1/sweeps", self.url))
            .header("content-type", "application/yaml")
            .body(spec.to_string())
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        anyhow::ensure!(status == 201, "spec refused: {body}");
        Ok(body["id"].as_i64().unwrap())
    }

    /// Every trial of the sweep, page by page: (id, state, attempt).
    async fn all_trials(&self, sweep: i64) -> anyhow::Result<Vec<(i64, String, i64)>> {
        let mut all = Vec::new();
        let mut after = -1;
        loop {
            let page: Value = self
                .api
                .get(format!(
                    "{}/v1/sweeps/{sweep}/trials?limit=1000&after={after}",
                    self.url
                ))
                .send()
                .await?
                .json()
                .await?;
            for t in page["trials"].as_array().unwrap() {
                all.push((
                    t["id"].as_i64().unwrap(),
                    t["state"].as_str().unwrap().to_string(),
                    t["attempt"].as_i64().unwrap(),
                ));
            }
            match page["next"].as_i64() {
                Some(next) => after = next,
                None => return Ok(all),
            }
        }
    }
}

/// What one simulated worker saw.
#[derive(Default)]
struct Seen {
    /// Seconds each claim that got a trial took.
    claims: Vec<f64>,
    /// When each claim that got a trial was answered (since the start).
    claimed_at: Vec<f64>,
    reports: Vec<f64>,
    finishes: Vec<f64>,
    renews: Vec<f64>,
    /// (trial id, attempt) of each claimed trial.
    trials: Vec<(i64, i64)>,
    errors: HashMap<String, usize>,
}

impl Seen {
    fn error(&mut self, what: &str) {
        *self.errors.entry(what.to_string()).or_default() += 1;
    }
}

/// A simulated worker: the protocol, no training.
struct Worker {
    http: reqwest::Client,
    url: String,
    id: String,
}

impl Worker {
    async fn post(&self, path: &str, body: Value) -> Result<(u16, Value), String> {
        let r = self
            .http
            .post(format!("{}/v1/worker{path}", self.url))
            .header("X-Hypersweep-Worker", &self.id)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{e}"))?;
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn register(url: &str, n: usize) -> Result<Worker, String> {
        let mut worker = Worker {
            http: client(WORKER_TOKEN),
            url: url.to_string(),
            id: format!("sim-{n}"),
        };
        let (status, body) = worker
            .post(
                "/register",
                json!({"id": worker.id, "host": format!("sim-{n}"), "device": "cpu",
                       "slots": 1, "threads": 1, "memory_bytes": 1u64 << 30, "protocol": 1}),
            )
            .await?;
        if status != 200 {
            return Err(format!("register: {status} {body}"));
        }
        worker.id = body["worker_id"].as_str().unwrap_or(&worker.id).to_string();
        Ok(worker)
    }

    /// One claim (long poll of `wait_ms`): the trial, if one came.
    async fn claim(&self, seen: &mut Seen, start: Instant, wait_ms: u64) -> Option<Value> {
        let t0 = Instant::now();
        let answer = self
            .post(
                "/claim",
                json!({"worker_id": self.id, "max": 1, "wait_ms": wait_ms}),
            )
            .await;
        match answer {
            Ok((200, body)) => {
                let trial = body["trials"].as_array()?.first()?.clone();
                seen.claims.push(t0.elapsed().as_secs_f64());
                seen.claimed_at.push(start.elapsed().as_secs_f64());
                Some(trial)
            }
            Ok((status, _)) => {
                seen.error(&format!("claim {status}"));
                None
            }
            Err(_) => {
                seen.error("claim: no answer");
                None
            }
        }
    }

    /// Reports every epoch of `trial` once a second, then finishes it;
    /// stops early at `stop`.
    async fn train(&self, trial: &Value, seen: &mut Seen, stop: Instant, lease: Duration) {
        let (id, attempt) = (
            trial["trial_id"].as_i64().unwrap(),
            trial["attempt"].as_i64().unwrap(),
        );
        let base = format!("/trials/{id}/attempts/{attempt}");
        let epochs = trial["params"]["epochs"].as_i64().unwrap_or(10);
        let mut epoch = trial["epochs_done"].as_i64().unwrap_or(0);
        let mut renewed = Instant::now();
        let mut next = Instant::now() + Duration::from_secs(1);
        while epoch < epochs {
            tokio::time::sleep_until(next.into()).await;
            // Once a second; a report that took longer than that delays the
            // next one instead of two going at once.
            next = (next + Duration::from_secs(1)).max(Instant::now());
            if Instant::now() >= stop {
                return;
            }
            if renewed.elapsed() >= lease / 3 {
                let t0 = Instant::now();
                match self.post(&format!("{base}/renew"), json!({})).await {
                    Ok((204, _)) | Ok((200, _)) => seen.renews.push(t0.elapsed().as_secs_f64()),
                    Ok((status, _)) => seen.error(&format!("renew {status}")),
                    Err(_) => seen.error("renew: no answer"),
                }
                renewed = Instant::now();
            }
            epoch += 1;
            let loss = 1.0 / epoch as f64;
            let body = json!({
                "report": {"epoch": epoch, "train_loss": loss, "val_loss": loss,
                           "val_accuracy": 1.0 - loss / 2.0, "seconds": 1.0},
                "samples": [{"epoch": epoch, "step": epoch * 100, "loss": loss}],
            });
            let t0 = Instant::now();
            match self.post(&format!("{base}/report"), body).await {
                Ok((200, answer)) => {
                    seen.reports.push(t0.elapsed().as_secs_f64());
                    if answer["decision"] != "continue" {
                        break;
                    }
                }
                Ok((status, _)) => {
                    seen.error(&format!("report {status}"));
                    return;
                }
                Err(_) => {
                    seen.error("report: no answer");
                    return;
                }
            }
        }
        let t0 = Instant::now();
        let done = json!({"outcome": "completed", "test_loss": 0.5, "test_accuracy": 0.75});
        match self.post(&format!("{base}/finish"), done).await {
            Ok((204, _)) | Ok((200, _)) => seen.finishes.push(t0.elapsed().as_secs_f64()),
            Ok((status, _)) => seen.error(&format!("finish {status}")),
            Err(_) => seen.error("finish: no answer"),
        }
    }
}

/// One simulated worker's life: claim with everyone at `go`, spread out,
/// then claim, report and finish until `stop`.
async fn simulate(
    worker: Worker,
    go: Arc<tokio::sync::Barrier>,
    start: Instant,
    stop: Instant,
    lease: Duration,
    phase: Duration,
) -> Seen {
    let mut seen = Seen::default();
    go.wait().await;
    let mut first = true;
    while Instant::now() < stop {
        let Some(trial) = worker.claim(&mut seen, start, 2000).await else {
            continue;
        };
        seen.trials.push((
            trial["trial_id"].as_i64().unwrap(),
            trial["attempt"].as_i64().unwrap(),
        ));
        if first {
            // Workers started together drift apart in practice: spread the
            // reports over the second.
            tokio::time::sleep(phase).await;
            first = false;
        }
        worker.train(&trial, &mut seen, stop, lease).await;
    }
    seen
}

/// CPU seconds (user + system) process `pid` has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap_or(f64::NAN)
        + fields[12].parse::<f64>().unwrap_or(f64::NAN);
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(sorted: &[f64], p: f64) -> String {
    format!("{:.1}", percentile(sorted, p) * 1000.0)
}

/// Runs `workers` simulated workers for `seconds` against a fresh server.
async fn level(binary: &str, workers: usize, seconds: u64, epochs: u64) -> anyhow::Result<Figures> {
    let service = Service::start(binary, workers).await?;
    // Enough trials that nobody waits for one: the steady rate is
    // workers / epochs claims a second.
    let trials = workers as u64 * (seconds / epochs + 2) + 100;
    let spec = format!(
        "method: random\nmax_trials: {trials}\nparameters:\n  epochs: {{value: {epochs}}}\n  \
         learning_rate: {{distribution: log_uniform_values, min: 0.0001, max: 0.1}}\n"
    );
    let sweep = service.submit(&spec).await?;
    let lease = Duration::from_secs(30);

    let mut registered = Vec::new();
    let t0 = Instant::now();
    let joins: Vec<_> = (0..workers)
        .map(|n| {
            let url = service.url.clone();
            tokio::spawn(async move { Worker::register(&url, n).await })
        })
        .collect();
    for j in joins {
        registered.push(j.await?.map_err(anyhow::Error::msg)?);
    }
    let register_s = t0.elapsed().as_secs_f64();

    let go = Arc::new(tokio::sync::Barrier::new(workers + 1));
    let start = Instant::now();
    let stop = start + Duration::from_secs(seconds);
    let tasks: Vec<_> = registered
        .into_iter()
        .enumerate()
        .map(|(n, w)| {
            let phase = Duration::from_millis((n as u64 * 1000) / workers as u64);
            tokio::spawn(simulate(w, go.clone(), start, stop, lease, phase))
        })
        .collect();

    // The reader beside them.
    let reader = {
        let api = service.api.clone();
        let url = format!("{}/v1/sweeps/{sweep}/trials", service.url);
        tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            let mut next = Instant::now();
            while Instant::now() < stop {
                tokio::time::sleep_until(next.into()).await;
                next += Duration::from_millis(100);
                let t0 = Instant::now();
                match api.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        latencies.push(t0.elapsed().as_secs_f64());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        })
    };
    let server_pid = service.child.id().unwrap_or(0);
    let (server_cpu0, own_cpu0) = (cpu_seconds(server_pid), cpu_seconds(std::process::id()));
    go.wait().await;

    let mut all = Seen::default();
    for t in tasks {
        let seen = t.await?;
        all.claims.extend(seen.claims);
        all.claimed_at.extend(seen.claimed_at);
        all.reports.extend(seen.reports);
        all.finishes.extend(seen.finishes);
        all.renews.extend(seen.renews);
        all.trials.extend(seen.trials);
        for (k, v) in seen.errors {
            *all.errors.entry(k).or_default() += v;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let server_cores = (cpu_seconds(server_pid) - server_cpu0) / elapsed;
    let generator_cores = (cpu_seconds(std::process::id()) - own_cpu0) / elapsed;
    let (read, read_errors) = reader.await?;

    // No trial claimed twice: by the clients' record...
    let mut claimed: HashMap<i64, usize> = HashMap::new();
    for (trial, _) in &all.trials {
        *claimed.entry(*trial).or_default() += 1;
    }
    let twice_here = claimed.values().filter(|n| **n > 1).count();
    // ...and by the server's attempt counts.
    let stored = service.all_trials(sweep).await?;
    let started = stored.iter().filter(|(_, _, a)| *a > 0).count();
    let twice_there = stored.iter().filter(|(_, _, a)| *a > 1).count();

    // The burst: every worker claiming at once at the start.
    let claimed_at = sorted(all.claimed_at.clone());
    let burst = claimed_at.iter().take(workers).count();
    let burst_s = claimed_at
        .get(burst.saturating_sub(1))
        .copied()
        .unwrap_or(f64::NAN);
    let steady = claimed_at.len() - burst;
    let figures = Figures {
        workers,
        seconds: elapsed,
        register_s,
        burst_claims_per_s: burst as f64 / burst_s,
        steady_claims_per_s: steady as f64 / (elapsed - burst_s).max(1e-9),
        claims: sorted(all.claims),
        reports: sorted(all.reports),
        finishes: sorted(all.finishes),
        read: sorted(read),
        read_errors,
        errors: all.errors,
        started,
        twice_here,
        twice_there,
        server_cores,
        generator_cores,
    };
    figures.print();
    let log = service.log();
    if !log.trim().is_empty() {
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        println!("  server log (last lines): {tail:?}");
    }
    service.stop().await;
    anyhow::ensure!(
        twice_here == 0 && twice_there == 0,
        "a trial was claimed twice"
    );
    Ok(figures)
}

/// What one level measured.
struct Figures {
    workers: usize,
    seconds: f64,
    /// How long all of them took to register, at once.
    register_s: f64,
    burst_claims_per_s: f64,
    steady_claims_per_s: f64,
    /// Latencies in seconds, sorted.
    claims: Vec<f64>,
    reports: Vec<f64>,
    finishes: Vec<f64>,
    read: Vec<f64>,
    read_errors: usize,
    errors: HashMap<String, usize>,
    /// Trials with at least one attempt on the server.
    started: usize,
    twice_here: usize,
    twice_there: usize,
    /// Cores the server and the load generator used, on average.
    server_cores: f64,
    generator_cores: f64,
}

impl Figures {
    fn print(&self) {
        println!(
            "workers={} in {:.1} s (registered in {:.2} s): claims/s burst {:.0}, steady {:.1} ({} claims, p50/p99 {}/{} ms); \
             reports {} ({:.0}/s) p50/p99/max {}/{}/{} ms; finishes {} p99 {} ms; \
             reader {} GETs p50/p99 {}/{} ms ({} errors); errors {:?}; \
             trials started {}, claimed twice: {} (clients), {} (server attempts); \
             cores used: server {:.2}, load generator {:.2}",
            self.workers,
            self.seconds,
            self.register_s,
            self.burst_claims_per_s,
            self.steady_claims_per_s,
            self.claims.len(),
            ms(&self.claims, 0.5),
            ms(&self.claims, 0.99),
            self.reports.len(),
            self.reports.len() as f64 / self.seconds,
            ms(&self.reports, 0.5),
            ms(&self.reports, 0.99),
            ms(&self.reports, 1.0),
            self.finishes.len(),
            ms(&self.finishes, 0.99),
            self.read.len(),
            ms(&self.read, 0.5),
            ms(&self.read, 0.99),
            self.read_errors,
            self.errors,
            self.started,
            self.twice_here,
            self.twice_there,
            self.server_cores,
            self.generator_cores,
        );
    }

    /// A row of the table in BENCHMARKS.md.
    fn row(&self) -> String {
        let errors: usize = self.errors.values().sum::<usize>() + self.read_errors;
        format!(
            "| {} | {:.0} | {:.1} | {} / {} | {:.0} | {} / {} | {} | {} / {} | {} | {} | {:.2} / {:.2} |",
            self.workers,
            self.burst_claims_per_s,
            self.steady_claims_per_s,
            ms(&self.claims, 0.5),
            ms(&self.claims, 0.99),
            self.reports.len() as f64 / self.seconds,
            ms(&self.reports, 0.5),
            ms(&self.reports, 0.99),
            ms(&self.finishes, 0.99),
            ms(&self.read, 0.5),
            ms(&self.read, 0.99),
            errors,
            self.twice_here + self.twice_there,
            self.server_cores,
            self.generator_cores,
        )
    }
}

fn main() -> anyhow::Result<()> {
    let binary = arg("--binary").unwrap_or_else(|| env!("CARGO_BIN_EXE_hypersweep").to_string());
    let counts: Vec<usize> = arg("--workers")
        .unwrap_or_else(|| "50,200,1000".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let seconds: u64 = arg("--seconds").map_or(Ok(30), |s| s.parse())?;
    let epochs: u64 = arg("--epochs").map_or(Ok(10), |s| s.parse())?;
    println!("binary: {binary}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for workers in counts {
        rows.push(
            runtime
                .block_on(level(&binary, workers, seconds, epochs))?
                .row(),
        );
    }
    println!("\n| workers | claims/s, burst | claims/s, steady | claim p50 / p99 ms | reports/s | report p50 / p99 ms | finish p99 ms | reader p50 / p99 ms | errors | claimed twice | cores: server / generator |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}
