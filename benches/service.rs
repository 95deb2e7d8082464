//! The service as users run it: the release binary (`hypersweep serve`) with
//! its worker processes, training the lab network on Fashion-MNIST.
//!
//! - `packing`: trials per minute of one sweep with workers x threads per
//!   trial = cores (and one worker with one thread for reference).
//! - `overhead`: from a trial's end to the next trial's first batch on the
//!   same worker; the cost of an epoch's report (judged, written with its
//!   event) and of its checkpoint (what training waits for, and the write on
//!   its own thread); the worker's memory with the data loaded.
//! - `load`: `oha` at 200 requests/s on `GET /v1/sweeps/<id>` and on `/best`
//!   at once, for 30 s, while both cores train (`bash scripts/oha.sh` first).
//!
//! - `protocol`: one trial trained in the bench's own process and by a
//!   worker over the worker protocol, in alternating rounds: what HTTP
//!   costs an epoch and a trial.
//!
//! `cargo bench --bench service -- [--only packing,overhead,load,protocol] [--reps 2] [--seconds 30] [--rate 200] [--rounds 5]`
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const BINARY: &str = env!("CARGO_BIN_EXE_hypersweep");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");
const OHA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.tools/bin/oha");

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// A `hypersweep serve` process on a free port, with its own database and log.
struct Service {
    child: Child,
    url: String,
    log: PathBuf,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Service {
    async fn start(settings: &str) -> anyhow::Result<Service> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\ndatabase = \"sqlite://{}\"\ndata_dir = \"{DATA}\"\n{settings}\n",
                dir.path().join("bench.db").display()
            ),
        )?;
        let log = dir.path().join("serve.log");
        let child = Command::new(BINARY)
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info,sqlx=warn,hypersweep=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()?;
        let service = Service {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            client: reqwest::Client::new(),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while service.get("/healthz").await.is_err() {
            anyhow::ensure!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(service)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await?;
        Ok(response.error_for_status()?.json().await?)
    }

    async fn submit(&self, spec: &str) -> anyhow::Result<i64> {
        let sweep: Value = self
            .client
            .post(format!("{}/v1/sweeps", self.url))
            .header("content-type", "application/yaml")
            .body(spec.to_string())
            .send()
            .await?
            .json()
            .await?;
        sweep["id"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("rejected: {sweep}"))
    }

    /// Polls the sweep until it ends, calling `watch` every 100 ms.
    async fn wait(&self, id: i64, mut watch: impl FnMut()) -> anyhow::Result<Value> {
        loop {
            let sweep = self.get(&format!("/v1/sweeps/{id}")).await?;
            if sweep["state"] != "running" {
                return Ok(sweep);
            }
            watch();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every trial of a sweep, following pages.
    async fn trials(&self, id: i64) -> anyhow::Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut path = format!("/v1/sweeps/{id}/trials?limit=1000");
        loop {
            let page = self.get(&path).await?;
            all.extend(page["trials"].as_array().cloned().unwrap_or_default());
            match page["next"].as_i64() {
                Some(after) => path = format!("/v1/sweeps/{id}/trials?limit=1000&after={after}"),
                None => return Ok(all),
            }
        }
    }

    /// Process ids of the server's workers.
    fn workers(&self) -> Vec<u32> {
        let server = self.child.id().unwrap_or(0);
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if proc_stat(pid).is_some_and(|s| s.ppid == server) {
                pids.push(pid);
            }
        }
        pids.sort();
        pids
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits for the exit.
    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            // SAFETY: signals our own child process.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
        tokio::time::timeout(Duration::from_secs(90), self.child.wait()).await??;
        // BENCH_LOG=path keeps the last server's log (its workers' too).
        if let Some(keep) = std::env::var_os("BENCH_LOG") {
            std::fs::copy(&self.log, keep)?;
        }
        Ok(())
    }
}

/// What /proc/<pid>/stat says of a process: its parent and CPU seconds.
struct ProcStat {
    ppid: u32,
    cpu_seconds: f64,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest: Vec<&str> = text[text.rfind(')')? + 2..].split(' ').collect();
    let ticks = 100.0; // sysconf(_SC_CLK_TCK) on Linux
    Some(ProcStat {
        ppid: rest.get(1)?.parse().ok()?,
        cpu_seconds: (rest.get(11)?.parse::<f64>().ok()? + rest.get(12)?.parse::<f64>().ok()?)
            / ticks,
    })
}

/// A field of /proc/<pid>/status in MiB (VmRSS, VmHWM).
fn memory_mib(pid: u32, field: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp (as the API and
/// the log write them), to the microsecond.
fn seconds(stamp: &str) -> f64 {
    let parse = |s: &str| s.parse::<f64>().unwrap_or(0.0);
    let (date, time) = stamp.split_once('T').unwrap_or(("", ""));
    let time = time.trim_end_matches('Z');
    let mut d = date.split('-').map(parse);
    let (y, m, day) = (
        d.next().unwrap_or(0.0),
        d.next().unwrap_or(0.0),
        d.next().unwrap_or(0.0),
    );
    let mut t = time.split(':').map(parse);
    let (h, min, s) = (
        t.next().unwrap_or(0.0),
        t.next().unwrap_or(0.0),
        t.next().unwrap_or(0.0),
    );
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if m <= 2.0 {
        (y - 1.0, m + 9.0)
    } else {
        (y, m - 3.0)
    };
    let era = (y / 400.0).floor();
    let yoe = y - era * 400.0;
    let doy = ((153.0 * m + 2.0) / 5.0).floor() + day - 1.0;
    let doe = yoe * 365.0 + (yoe / 4.0).floor() - (yoe / 100.0).floor() + doy;
    let days = era * 146_097.0 + doe - 719_468.0;
    days * 86_400.0 + h * 3600.0 + min * 60.0 + s
}

/// Log lines (timestamp in seconds, text) whose message is `message`.
fn log_lines<'a>(log: &'a str, message: &str) -> Vec<(f64, &'a str)> {
    log.lines()
        .filter(|l| l.contains(message))
        .filter_map(|l| {
            let plain = strip_ansi(l.split_whitespace().next()?);
            Some((seconds(&plain), l))
        })
        .collect()
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut escape = false;
    for c in s.chars() {
        match (escape, c) {
            (_, '\u{1b}') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

/// The integer value of `field=` in a log line.
fn log_field(line: &str, field: &str) -> Option<f64> {
    let plain = strip_ansi(line);
    let at = plain.find(&format!("{field}="))? + field.len() + 1;
    plain[at..]
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()?
        .parse()
        .ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Eight trials: the lab network and a wide one, at four batch sizes.
const PACKING_SPEC: &str = "name: packing
dataset: fashion-mnist
method: grid
seed: 1
parameters:
  hidden_layers: {values: [[128, 64], [512, 256]]}
  batch_size: {values: [32, 64, 128, 256]}
  learning_rate: {value: 0.01}
  epochs: {value: 2}
";

async fn packing(reps: usize) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism()?.get();
    println!("## packing: one sweep of 8 trials (2 networks x 4 batch sizes, 2 epochs of 54,000 images), {cores} cores\n");
    println!(
        "{:<24} {:>4} {:>9} {:>12} {:>22}",
        "workers x threads", "rep", "seconds", "trials/min", "mean trial seconds"
    );
    let mut layouts = vec![(cores, 1), (1, cores)];
    if cores > 2 {
        layouts.push((cores / 2, 2));
    }
    layouts.push((1, 1));
    let mut rates: Vec<(String, Vec<f64>)> = Vec::new();
    for rep in 1..=reps {
        for &(workers, threads) in &layouts {
            let service = Service::start(&format!(
                "workers = {workers}\nthreads_per_trial = {threads}"
            ))
            .await?;
            let started = Instant::now();
            let id = service.submit(PACKING_SPEC).await?;
            service.wait(id, || {}).await?;
            let seconds_taken = started.elapsed().as_secs_f64();
            let trials = service.trials(id).await?;
            let durations: Vec<f64> = trials
                .iter()
                .filter_map(|t| {
                    Some(seconds(t["finished_at"].as_str()?) - seconds(t["started_at"].as_str()?))
                })
                .collect();
            service.stop().await?;
            let rate = trials.len() as f64 / seconds_taken * 60.0;
            let name = format!("{workers} x {threads}");
            println!(
                "{name:<24} {rep:>4} {seconds_taken:>9.1} {rate:>12.2} {:>22.2}",
                durations.iter().sum::<f64>() / durations.len() as f64
            );
            match rates.iter_mut().find(|(n, _)| *n == name) {
                Some((_, r)) => r.push(rate),
                None => rates.push((name, vec![rate])),
            }
        }
    }
    let reference = rates.last().map(|(_, r)| mean(r)).unwrap_or(f64::NAN);
    println!("\nmean trials/min (x of 1 x 1):");
    for (name, r) in &rates {
        println!(
            "  {name:<22} {:>6.2}  ({:.2}x)",
            mean(r),
            mean(r) / reference
        );
    }
    Ok(())
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Ten trials of the lab network, two epochs each, one after the other.
const OVERHEAD_SPEC: &str = "name: overhead
dataset: fashion-mnist
method: grid
seed: 1
parameters:
  learning_rate: {values: [0.001, 0.002, 0.003, 0.005, 0.007, 0.01, 0.02, 0.03, 0.05, 0.07]}
  batch_size: {value: 64}
  epochs: {value: 2}
";

async fn overhead() -> anyhow::Result<()> {
    println!("## overhead: 1 worker x 1 thread, 10 trials of the lab network, 2 epochs of 54,000 Fashion-MNIST images at batch 64\n");
    let service = Service::start("workers = 1\nthreads_per_trial = 1").await?;
    // Give the worker time to start; its memory before any trial.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let worker = *service
        .workers()
        .first()
        .ok_or_else(|| anyhow::anyhow!("no worker"))?;
    let idle = memory_mib(worker, "VmRSS").unwrap_or(f64::NAN);
    let id = service.submit(OVERHEAD_SPEC).await?;
    let mut rss: Vec<(usize, f64)> = Vec::new(); // (trials ended, RSS MiB)
    let mut ended;
    loop {
        let sweep = service.get(&format!("/v1/sweeps/{id}")).await?;
        let counts = &sweep["trials"];
        ended = counts["completed"].as_u64().unwrap_or(0) as usize
            + counts["failed"].as_u64().unwrap_or(0) as usize;
        if let Some(m) = memory_mib(worker, "VmRSS") {
            rss.push((ended, m));
        }
        if sweep["state"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let peak = memory_mib(worker, "VmHWM").unwrap_or(f64::NAN);
    let after = |n: usize| {
        rss.iter()
            .filter(|(e, _)| *e == n)
            .map(|(_, m)| *m)
            .fold(f64::NAN, f64::max)
    };
    let log = service.log();
    let mut epoch_seconds = Vec::new();
    for trial in service.trials(id).await? {
        let detail = service
            .get(&format!("/v1/trials/{}", trial["id"].as_i64().unwrap_or(0)))
            .await?;
        for e in detail["epochs"].as_array().into_iter().flatten() {
            epoch_seconds.extend(e["seconds"].as_f64());
        }
    }
    service.stop().await?;

    let ends = log_lines(&log, "trial ended");
    let firsts = log_lines(&log, "first batch trained");
    // Each first batch after the first trial, paired with the end before it.
    let gaps = sorted(
        firsts
            .iter()
            .filter_map(|(t, _)| {
                let end = ends
                    .iter()
                    .map(|(e, _)| *e)
                    .filter(|e| e < t)
                    .fold(f64::NAN, f64::max);
                (!end.is_nan()).then(|| (t - end) * 1000.0)
            })
            .collect(),
    );
    let micros = |message: &str| {
        sorted(
            log_lines(&log, message)
                .iter()
                .filter_map(|(_, l)| log_field(l, "micros"))
                .map(|us| us / 1000.0)
                .collect(),
        )
    };
    let reports = micros("epoch judged and reported");
    let handed = micros("checkpoint handed over");
    let written = micros("checkpoint written");
    let epoch = mean(&epoch_seconds);
    let line = |what: &str, ms: &[f64]| {
        println!(
            "{what:<44} {:>4} {:>8.2} {:>8.2} {:>8.2} {:>9.3}%",
            ms.len(),
            percentile(ms, 0.5),
            percentile(ms, 0.9),
            ms.last().copied().unwrap_or(f64::NAN),
            percentile(ms, 0.5) / 10.0,
        );
    };
    println!(
        "{:<44} {:>4} {:>8} {:>8} {:>8} {:>10}",
        "ms", "n", "median", "p90", "max", "of 1 s"
    );
    line("trial end -> next trial's first batch", &gaps);
    line("epoch report (judge + write + event)", &reports);
    line("checkpoint: copy + hand-over (training)", &handed);
    line("checkpoint: write + fsync + rename (beside)", &written);
    println!(
        "\nepochs: {} of {epoch:.2} s on average (training + validation)",
        epoch_seconds.len()
    );
    println!(
        "worker RSS: {idle:.0} MiB idle, {:.0} MiB after trial 1, {:.0} MiB at the end ({ended} trials); peak (VmHWM) {peak:.0} MiB",
        after(1),
        rss.last().map_or(f64::NAN, |(_, m)| *m),
    );
    Ok(())
}

async fn load(seconds_: u64, rate: u32) -> anyhow::Result<()> {
    anyhow::ensure!(
        Path::new(OHA).exists(),
        "{OHA} is missing: run `bash scripts/oha.sh` first"
    );
    let cores = std::thread::available_parallelism()?.get();
    println!("## load: oha at {rate} requests/s on each of 2 URLs for {seconds_} s, while {cores} workers x 1 thread train\n");
    let service = Service::start(&format!("workers = {cores}\nthreads_per_trial = 1")).await?;
    let id = service
        .submit(
            "name: load
dataset: fashion-mnist
method: random
seed: 1
max_trials: 200
parameters:
  learning_rate: {distribution: log_uniform_values, min: 0.001, max: 0.1}
  batch_size: {values: [64, 128]}
  epochs: {value: 3}
",
        )
        .await?;
    // Both workers training, and a first trial finished so that /best answers.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let sweep = service.get(&format!("/v1/sweeps/{id}")).await?;
        if sweep["trials"]["completed"].as_i64().unwrap_or(0) >= 1
            && sweep["trials"]["running"].as_i64().unwrap_or(0) >= cores as i64
        {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the sweep did not get going");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let workers = service.workers();
    let cpu = |pids: &[u32]| {
        pids.iter()
            .filter_map(|p| proc_stat(*p))
            .map(|s| s.cpu_seconds)
            .sum::<f64>()
    };
    let server_pid = service.child.id().unwrap_or(0);
    let (workers_before, server_before) = (cpu(&workers), cpu(&[server_pid]));
    let started = Instant::now();
    let run = |path: String| {
        Command::new(OHA)
            .args([
                "--no-tui",
                "--output-format",
                "json",
                "--latency-correction",
                // Requests in flight at the end are waited for, not
                // counted as errors ("aborted due to deadline").
                "--wait-ongoing-requests-after-deadline",
            ])
            .args(["-z", &format!("{seconds_}s"), "-q", &rate.to_string()])
            .arg(format!("{}{path}", service.url))
            .stdout(Stdio::piped())
            .output()
    };
    let (sweep, best) = tokio::join!(
        run(format!("/v1/sweeps/{id}")),
        run(format!("/v1/sweeps/{id}/best"))
    );
    let wall = started.elapsed().as_secs_f64();
    let (workers_cpu, server_cpu) = (
        cpu(&workers) - workers_before,
        cpu(&[server_pid]) - server_before,
    );
    let trials_done = service.get(&format!("/v1/sweeps/{id}")).await?["trials"]["completed"]
        .as_i64()
        .unwrap_or(0);
    let _ = service
        .client
        .post(format!("{}/v1/sweeps/{id}/cancel", service.url))
        .send()
        .await?;
    service.stop().await?;

    println!(
        "{:<28} {:>8} {:>7} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "GET", "requests", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors"
    );
    for (name, output) in [("/v1/sweeps/<id>", sweep?), ("/v1/sweeps/<id>/best", best?)] {
        let report: Value = serde_json::from_slice(&output.stdout).map_err(|e| {
            anyhow::anyhow!(
                "oha: {e}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )
        })?;
        let ms = |p: &str| report["latencyPercentiles"][p].as_f64().unwrap_or(f64::NAN) * 1000.0;
        let codes = report["statusCodeDistribution"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let total: u64 = codes.values().filter_map(Value::as_u64).sum();
        let ok = codes.get("200").and_then(Value::as_u64).unwrap_or(0);
        let errors: u64 = report["errorDistribution"]
            .as_object()
            .map(|e| e.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        println!(
            "{name:<28} {total:>8} {:>7.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}",
            report["summary"]["requestsPerSec"]
                .as_f64()
                .unwrap_or(f64::NAN),
            ms("p50"),
            ms("p99"),
            ms("p99.9"),
            report["summary"]["slowest"].as_f64().unwrap_or(f64::NAN) * 1000.0,
            errors + (total - ok),
        );
        if errors + (total - ok) > 0 {
            println!(
                "  status codes {}, errors {}",
                report["statusCodeDistribution"], report["errorDistribution"]
            );
        }
    }
    println!(
        "\nduring the {wall:.0} s: workers used {:.2} of {cores} cores, the server {:.2}; {trials_done} trials completed by the end",
        workers_cpu / wall,
        server_cpu / wall
    );
    Ok(())
}

/// The protocol's trials in round `round`: 2 trials of the lab network,
/// 2 epochs each (learning rates a hair apart, and apart from every other
/// round's: a sweep never trains one configuration twice).
fn protocol_spec(round: usize) -> String {
    let lr = |k: usize| 0.01 + 0.0001 * (2 * round + k) as f64;
    format!(
        "name: protocol-{round}
dataset: fashion-mnist
method: grid
seed: 1
max_parallel: 1
parameters:
  learning_rate: {{values: [{}, {}]}}
  batch_size: {{value: 64}}
  epochs: {{value: 2}}
",
        lr(0),
        lr(1)
    )
}

/// One training of the protocol's configuration in this process, with no
/// server and no protocol, but a checkpoint after each epoch as local
/// training has always written (in `dir`): its epochs' seconds and its
/// wall time.
fn train_here(
    datasets: &mut hypersweep::train::Datasets,
    dir: &Path,
) -> anyhow::Result<(Vec<f64>, f64)> {
    use hypersweep::report::{BatchLoss, EpochReport};
    use hypersweep::train::{Control, Job, Listener};
    struct Epochs(Vec<f64>);
    impl Listener for Epochs {
        fn on_start(&mut self, _: i64) -> Control {
            Control::Continue
        }
        fn on_sample(&mut self, _: &BatchLoss, _: i64, _: i64) {}
        fn on_epoch(&mut self, report: EpochReport, _: Vec<BatchLoss>) -> Control {
            self.0.push(report.seconds);
            Control::Continue
        }
    }
    let params = hypersweep::spec::TrialParams {
        learning_rate: 0.01,
        batch_size: 64,
        epochs: 2,
        ..Default::default()
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let checkpoint = dir.join("trial.ckpt");
    let _ = std::fs::remove_file(&checkpoint);
    let job = Job {
        params: &params,
        seed: 7,
        batch_loss_every: 100,
        stop: &stop,
        checkpoint: Some(&checkpoint),
        resume_upto: 0,
        shuffle: None,
    };
    let mut epochs = Epochs(Vec::new());
    let started = Instant::now();
    datasets.train("fashion-mnist", 1, 0.1, &job, &mut epochs)?;
    Ok((epochs.0, started.elapsed().as_secs_f64()))
}

/// Milliseconds since the epoch of an RFC 3339 UTC timestamp with millis.
fn millis(stamp: &str) -> Option<f64> {
    // 2026-12-02T14:03:05.123Z: the time of day is enough within one run.
    let time = stamp.split('T').nth(1)?.trim_end_matches('Z');
    let mut parts = time.split(':');
    let (h, m, s): (f64, f64, f64) = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    Some(((h * 60.0 + m) * 60.0 + s) * 1000.0)
}

/// The same trial trained in this process and by a worker over the worker
/// protocol (its own process, HTTP on loopback): epoch seconds and wall
/// time. In `--rounds` rounds (default 5), each two trainings here then a
/// sweep of two trials there, so that a drift of the machine meets both
/// alike; the first of each side reads the dataset and is left out.
async fn protocol() -> anyhow::Result<()> {
    println!("## protocol: the lab network, 2 epochs of 54,000 Fashion-MNIST images at batch 64, 1 thread\n");
    let rounds: usize = arg("--rounds").map_or(Ok(5), |r| r.parse())?;
    hypersweep::train::set_threads(1);
    let catalog = hypersweep::data::catalog::Catalog::new(Some(DATA.into()));
    let mut datasets = hypersweep::train::Datasets::new(catalog);
    let checkpoints = tempfile::tempdir()?;
    let service = Service::start("workers = 1\nthreads_per_trial = 1").await?;
    let (mut here, mut remote) = (Vec::new(), Vec::new());
    println!(
        "{:<8} {:>14} {:>14} {:>14} {:>14}",
        "round", "epoch s here", "epoch s HTTP", "trial s here", "trial s HTTP"
    );
    for round in 0..rounds {
        let mut ours = Vec::new();
        for _ in 0..2 {
            ours.push(train_here(&mut datasets, checkpoints.path())?);
        }
        let theirs = remote_trials(&service, round).await?;
        let line = |runs: &[(Vec<f64>, f64)]| {
            let epochs: Vec<f64> = runs.iter().flat_map(|r| r.0.clone()).collect();
            let walls: Vec<f64> = runs.iter().map(|r| r.1).collect();
            (mean(&epochs), mean(&walls))
        };
        let ((he, hw), (re, rw)) = (line(&ours), line(&theirs));
        println!("{round:<8} {he:>14.3} {re:>14.3} {hw:>14.3} {rw:>14.3}");
        here.extend(ours);
        remote.extend(theirs);
    }
    service.stop().await?;
    let summary = |runs: &[(Vec<f64>, f64)]| {
        let later = &runs[1.min(runs.len())..];
        let mut epochs: Vec<f64> = later.iter().flat_map(|r| r.0.clone()).collect();
        let mut walls: Vec<f64> = later.iter().map(|r| r.1).collect();
        (median(&mut epochs), median(&mut walls))
    };
    let by_epoch = |runs: &[(Vec<f64>, f64)], k: usize| {
        let mut v: Vec<f64> = runs[1.min(runs.len())..]
            .iter()
            .filter_map(|r| r.0.get(k).copied())
            .collect();
        median(&mut v)
    };
    println!(
        "\nmedian epoch s by epoch: here {:.3} then {:.3}; over HTTP {:.3} then {:.3}",
        by_epoch(&here, 0),
        by_epoch(&here, 1),
        by_epoch(&remote, 0),
        by_epoch(&remote, 1)
    );
    let (here_epoch, here_wall) = summary(&here);
    let (remote_epoch, remote_wall) = summary(&remote);
    println!(
        "\nmedians over {} trainings a side (the first of each left out):",
        here.len() - 1
    );
    println!("{:<36} {:>12} {:>12}", "", "epoch s", "trial s");
    println!(
        "{:<36} {here_epoch:>12.3} {here_wall:>12.3}",
        "in this process (no protocol)"
    );
    println!(
        "{:<36} {remote_epoch:>12.3} {remote_wall:>12.3}",
        "worker over HTTP (claim..finish)"
    );
    println!(
        "{:<36} {:>11.2}% {:>11.2}%",
        "protocol overhead",
        (remote_epoch / here_epoch - 1.0) * 100.0,
        (remote_wall / here_wall - 1.0) * 100.0
    );
    Ok(())
}

/// One round's sweep trained by the service's worker: each trial's epoch
/// seconds and its wall time from start to finish, by the server's clock.
async fn remote_trials(service: &Service, round: usize) -> anyhow::Result<Vec<(Vec<f64>, f64)>> {
    let id = service.submit(&protocol_spec(round)).await?;
    loop {
        let sweep = service.get(&format!("/v1/sweeps/{id}")).await?;
        if sweep["state"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut remote = Vec::new();
    for trial in service.trials(id).await? {
        let detail = service
            .get(&format!("/v1/trials/{}", trial["id"].as_i64().unwrap_or(0)))
            .await?;
        let epochs: Vec<f64> = detail["epochs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["seconds"].as_f64())
            .collect();
        let stamp = |key: &str| trial[key].as_str().and_then(millis);
        let wall = match (stamp("started_at"), stamp("finished_at")) {
            (Some(a), Some(b)) => (b - a) / 1000.0,
            _ => f64::NAN,
        };
        remote.push((epochs, wall));
    }
    Ok(remote)
}

/// The median of `v` (sorted in place); NaN when empty.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let only = arg("--only").unwrap_or_else(|| "packing,overhead,load,protocol".into());
    let reps: usize = arg("--reps").map_or(Ok(2), |r| r.parse())?;
    let seconds_: u64 = arg("--seconds").map_or(Ok(30), |r| r.parse())?;
    let rate: u32 = arg("--rate").map_or(Ok(200), |r| r.parse())?;
    for part in only.split(',') {
        match part {
            "packing" => packing(reps).await?,
            "overhead" => overhead().await?,
            "load" => load(seconds_, rate).await?,
            "protocol" => protocol().await?,
            other => anyhow::bail!("unknown part `{other}`: packing, overhead, load or protocol"),
        }
        println!();
    }
    Ok(())
}
