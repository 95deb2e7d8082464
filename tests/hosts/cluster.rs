//! A server and remote workers on hosts of their own (tests/common/netns.rs):
//! the server in its namespace with no local workers, each worker started as
//! `hypersweep worker --server http://ADDR:PORT` in another namespace with a
//! working folder of its own and no path to the server's files, and the
//! test's own client on one more host. The API is read from the client host,
//! through the bridge, like a user would.
use crate::common::invariants;
use crate::common::netns::Hosts;
use crate::common::ready::wait_until_answers;
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The hosts of every scenario: the server, three workers, the test's client.
pub const HOSTS: &[&str] = &["server", "w1", "w2", "w3", "client"];
/// The API token and the worker token of every scenario.
pub const API_TOKEN: &str = "hosts-api-token-0123456789";
pub const WORKER_TOKEN: &str = "hosts-worker-token-0123456789";
/// The server's port on its host (each fixture's network is its own).
const PORT: u16 = 8080;
/// The dataset the sweeps train on: mnist-10k's files under a name of their
/// own, so that it is not the built-in one and must travel by manifest.
pub const DATASET: &str = "digits";

/// The server's home and the workers, on their hosts.
pub struct Cluster<'h> {
    pub hosts: &'h Hosts,
    /// The server's host.
    host: String,
    /// The server's folder: config.toml, the database, data/, server.log.
    pub dir: tempfile::TempDir,
    pub url: String,
    /// Sends the API token.
    pub api: reqwest::Client,
    /// Sends the worker token.
    pub worker: reqwest::Client,
    server: Option<Child>,
    workers: HashMap<String, (Child, tempfile::TempDir)>,
}

fn client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {token}");
    headers.insert(reqwest::header::AUTHORIZATION, value.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn rust_log() -> String {
    std::env::var("TEST_LOG").map_or("warn".into(), |_| "info".to_string())
}

impl<'h> Cluster<'h> {
    /// A server home on host "server" with `extra` TOML lines (lease_seconds, ...).
    pub fn new(hosts: &'h Hosts, extra: &str) -> Cluster<'h> {
        Cluster::on(hosts, "server", None, extra)
    }

    /// A server home on host `host`, on `database` (None: a SQLite file of
    /// its own): replicas of one database are clusters on one URL.
    pub fn on(hosts: &'h Hosts, host: &str, database: Option<&str>, extra: &str) -> Cluster<'h> {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let digits = data.join(DATASET);
        std::fs::create_dir_all(&digits).unwrap();
        let shared = crate::common::shared_data().join("mnist-10k");
        for file in std::fs::read_dir(&shared).unwrap() {
            let file = file.unwrap();
            std::fs::copy(file.path(), digits.join(file.file_name())).unwrap();
        }
        let addr = hosts.host(host).addr;
        let db = match database {
            Some(url) => url.to_string(),
            None => format!("sqlite://{}", dir.path().join("site.db").display()),
        };
        let config = format!(
            "listen = \"{addr}:{PORT}\"\ndatabase = \"{db}\"\ndata_dir = \"{data}\"\n\
             workers = 0\napi_token = \"{API_TOKEN}\"\nworker_token = \"{WORKER_TOKEN}\"\n\
             server_lock_seconds = 1\n{extra}\n",
            data = data.display(),
        );
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        Cluster {
            hosts,
            host: host.to_string(),
            dir,
            url: format!("http://{addr}:{PORT}"),
            api: client(API_TOKEN),
            worker: client(WORKER_TOKEN),
            server: None,
            workers: HashMap::new(),
        }
    }

    /// What the server logged, across restarts.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// What worker `name` logged.
    pub fn worker_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Every log, for a failure's message.
    pub fn logs(&self) -> String {
        let mut all = format!("--- server\n{}", self.server_log());
        let mut names: Vec<&String> = self.workers.keys().collect();
        names.sort();
        for name in names {
            all.push_str(&format!("--- {name}\n{}", self.worker_log(name)));
        }
        all
    }

    fn log_file(&self, name: &str) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{name}.log")))
            .unwrap()
    }

    /// Starts the server on its host and waits until the client host gets
    /// an answer from it, through the bridge.
    pub async fn start_server(&mut self) {
        assert!(self.server.is_none(), "the server runs already");
        let mut serve = Command::new(env!("CARGO_BIN_EXE_hypersweep"));
        serve
            .args(["serve", "--config"])
            .arg(self.dir.path().join("config.toml"))
            .current_dir(self.dir.path())
            .env("RUST_LOG", rust_log())
            .env_remove("HYPERSWEEP_API_TOKEN")
            .env_remove("HYPERSWEEP_WORKER_TOKEN")
            .env_remove("HYPERSWEEP_WORKERS");
        let mut child = self
            .hosts
            .run_in(&self.host, &serve)
            .stdout(Stdio::null())
            .stderr(self.log_file("server"))
            .spawn()
            .unwrap();
        wait_until_answers(&mut child, &self.url, Duration::from_secs(60)).await;
        self.server = Some(child);
    }

    /// Whether the server process runs (started and not killed).
    pub fn server_runs(&self) -> bool {
        self.server.is_some()
    }

    /// kill -9 of the server.
    pub fn kill_server(&mut self) {
        let mut child = self.server.take().expect("a running server");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Starts `hypersweep worker` on host `name` (one slot, one thread, the
    /// CPU), with a working folder of its own: a new one the first time,
    /// the same one when restarted.
    pub fn start_worker(&mut self, name: &str) {
        let server = self.url.clone();
        self.start_worker_with(name, &server);
    }

    /// `start_worker` given `--server SERVER` (several replicas' URLs, comma-separated).
    pub fn start_worker_with(&mut self, name: &str, server: &str) {
        let work = match self.workers.remove(name) {
            Some((mut old, work)) => {
                assert!(
                    old.try_wait().unwrap().is_some(),
                    "worker {name} runs already"
                );
                work
            }
            None => tempfile::tempdir().unwrap(),
        };
        let mut worker = Command::new(env!("CARGO_BIN_EXE_hypersweep"));
        worker
            .arg("worker")
            .args(["--server", server, "--token", WORKER_TOKEN, "--id", name])
            .args(["--device", "cpu", "--slots", "1", "--threads", "1"])
            .arg("--work-dir")
            .arg(work.path())
            .current_dir(work.path())
            .env("RUST_LOG", rust_log())
            .env_remove("HYPERSWEEP_DATA_DIR")
            .env_remove("HYPERSWEEP_SERVER")
            .env_remove("HYPERSWEEP_TOKEN");
        let child = self
            .hosts
            .run_in(name, &worker)
            .stdout(Stdio::null())
            .stderr(self.log_file(name))
            .spawn()
            .unwrap();
        self.workers.insert(name.to_string(), (child, work));
    }

    /// The working folder of worker `name`.
    pub fn work_dir(&self, name: &str) -> PathBuf {
        self.workers[name].1.path().to_path_buf()
    }

    /// The pid of worker `name`.
    pub fn worker_pid(&self, name: &str) -> i32 {
        self.workers[name].0.id() as i32
    }

    /// Whether worker `name`'s process has exited.
    pub fn worker_exited(&mut self, name: &str) -> bool {
        let child = &mut self.workers.get_mut(name).unwrap().0;
        child.try_wait().unwrap().is_some()
    }

    /// kill -9 of worker `name`.
    pub fn kill_worker(&mut self, name: &str) {
        let child = &mut self.workers.get_mut(name).unwrap().0;
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM to worker `name`; waits until it exits (it hands its trial
    /// back at the next checkpoint).
    pub async fn terminate_worker(&mut self, name: &str, timeout: Duration) {
        crate::common::process::signal(self.worker_pid(name), libc::SIGTERM);
        let deadline = Instant::now() + timeout;
        while !self.worker_exited(name) {
            assert!(
                Instant::now() < deadline,
                "worker {name} still runs {timeout:?} after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// GET a path with the API token; None when the server does not answer.
    pub async fn try_get(&self, path: &str) -> Option<Value> {
        let r = self
            .api
            .get(format!("{}{path}", self.url))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.ok()
    }

    /// GET a path with the API token; the server must answer.
    pub async fn get(&self, path: &str) -> Value {
        self.try_get(path)
            .await
            .unwrap_or_else(|| panic!("GET {path}: no answer\n{}", self.logs()))
    }

    /// Submits a YAML spec; the sweep's id.
    pub async fn submit(&self, yaml: &str) -> i64 {
        let r = self
            .api
            .post(format!("{}/v1/sweeps", self.url))
            .header("content-type", "application/yaml")
            .body(yaml.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 201, "spec refused: {body}");
        body["id"].as_i64().unwrap()
    }

    /// The sweep's trials, by number.
    pub async fn trials(&self, sweep: i64) -> Vec<Value> {
        let trials = self.get(&format!("/v1/sweeps/{sweep}/trials")).await;
        trials["trials"].as_array().unwrap().clone()
    }

    /// Waits until `pick` finds a trial in the sweep's listing; that trial.
    pub async fn wait_for_trial(
        &self,
        sweep: i64,
        what: &str,
        timeout: Duration,
        pick: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(t) = self.trials(sweep).await.into_iter().find(&pick) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "no trial {what} within {timeout:?}: {:?}\n{}",
                self.trials(sweep).await,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the server holds a checkpoint of trial `t`, asked as its
    /// worker `worker` for the attempt `t` is at.
    pub async fn has_checkpoint(&self, t: &Value, worker: &str) -> bool {
        let url = format!(
            "{}/v1/worker/trials/{}/attempts/{}/checkpoint",
            self.url, t["id"], t["attempt"]
        );
        let r = self
            .worker
            .get(url)
            .header("X-Hypersweep-Worker", worker)
            .send()
            .await
            .unwrap();
        r.status() == 200
    }

    /// Waits until the sweep is no longer running (the server may be away
    /// meanwhile); the sweep.
    pub async fn wait_until_ended(&self, sweep: i64, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_get(&format!("/v1/sweeps/{sweep}")).await {
                if s["state"] != "running" {
                    return s;
                }
            }
            assert!(
                Instant::now() < deadline,
                "sweep {sweep} still running after {timeout:?}: {:?}\n{}",
                self.trials(sweep).await,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The events of an ended sweep, read from its stream to the end.
    pub async fn events(&self, sweep: i64) -> Vec<Value> {
        crate::common::read_events(&self.api, &self.url, sweep).await
    }

    /// The invariants of an ended sweep of `trials` trials of `epochs`
    /// epochs: completed with exactly its trials, numbers 0..n, every
    /// trial completed once, every epoch reported once, no (trial, attempt)
    /// started twice. The sweep's events.
    pub async fn check_ended(&self, sweep: i64, trials: usize, epochs: i64) -> Vec<Value> {
        let s = self.wait_until_ended(sweep, Duration::from_secs(300)).await;
        assert_eq!(s["state"], "completed", "{s}\n{}", self.logs());
        assert_eq!(s["trials"]["completed"], trials, "{s}\n{}", self.logs());
        assert_eq!(s["trials"]["total"], trials, "{s}");
        let listed = self.trials(sweep).await;
        let mut details = Vec::new();
        for t in &listed {
            details.push(self.get(&format!("/v1/trials/{}", t["id"])).await);
        }
        invariants::every_epoch_once(&listed, &details, epochs);
        let events = self.events(sweep).await;
        invariants::every_trial_once(&events, trials);
        events
    }
}

impl Drop for Cluster<'_> {
    fn drop(&mut self) {
        for (child, _) in self.workers.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(child) = self.server.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An SSE client following a sweep's events from its start to its end,
/// reconnecting with `Last-Event-ID` whenever the stream breaks (a server
/// restart): every event it got, in order.
pub async fn follow(api: reqwest::Client, url: String, sweep: i64) -> Vec<Value> {
    follow_across(api, vec![url], sweep, None).await
}

/// `follow` over several replicas: each reconnect goes to the next URL, and
/// with `switch_every` the client also leaves a replica on purpose after
/// that many events, resuming on the next one with `Last-Event-ID`.
pub async fn follow_across(
    api: reqwest::Client,
    urls: Vec<String>,
    sweep: i64,
    switch_every: Option<usize>,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(400);
    let mut got: Vec<Value> = Vec::new();
    let mut turn = 0;
    loop {
        assert!(Instant::now() < deadline, "the sweep's stream never ended");
        let url = &urls[turn % urls.len()];
        turn += 1;
        let mut request = api
            .get(format!("{url}/v1/sweeps/{sweep}/events"))
            .timeout(Duration::from_secs(600));
        if let Some(last) = got.last() {
            request = request.header("Last-Event-ID", last["id"].as_i64().unwrap().to_string());
        }
        let Ok(response) = request.send().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if !response.status().is_success() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        let mut clean_end = false;
        let mut here = 0;
        loop {
            if switch_every.is_some_and(|n| here >= n) {
                break;
            }
            match body.next().await {
                None => {
                    clean_end = true;
                    break;
                }
                Some(Err(_)) => break,
                Some(Ok(chunk)) => {
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buffer.find("\n\n") {
                        let message: String = buffer.drain(..end + 2).collect();
                        let events = crate::common::parse_sse(&message);
                        here += events.len();
                        got.extend(events);
                    }
                }
            }
        }
        // A stream ends cleanly once its sweep has ended and every event is
        // sent; a killed server ends it too (cleanly or not), so ask.
        if clean_end {
            let ended = api
                .get(format!("{url}/v1/sweeps/{sweep}"))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .ok();
            if let Some(r) = ended {
                if let Ok(s) = r.json::<Value>().await {
                    if s["state"].is_string() && s["state"] != "running" {
                        // The stream was read to its end after the sweep ended.
                        if got
                            .last()
                            .is_some_and(|e| e["kind"].as_str().unwrap_or("").starts_with("sweep_"))
                        {
                            return got;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts that a follower saw every event of the sweep once, in order:
/// the same ids as the whole log read after the end, none twice.
pub fn check_followed(followed: &[Value], all: &[Value]) {
    let ids: Vec<i64> = followed.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let mut seen = HashSet::new();
    for id in &ids {
        assert!(seen.insert(*id), "event {id} delivered twice");
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "events out of order: {ids:?}"
    );
    let expected: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, expected, "the follower saw every event once");
}

/// The SHA-256 of each file of the dataset (as a manifest names them).
pub fn dataset_hashes(dir: &Path) -> Vec<(String, String)> {
    use sha2::{Digest, Sha256};
    let mut hashes = Vec::new();
    for file in std::fs::read_dir(dir.join("data").join(DATASET)).unwrap() {
        let file = file.unwrap();
        let bytes = std::fs::read(file.path()).unwrap();
        let hash: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        hashes.push((file.file_name().to_string_lossy().into_owned(), hash));
    }
    hashes.sort();
    hashes
}

/// Every file under `dir` whose name contains `needle`.
pub fn files_named(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if entry.file_name().to_string_lossy().contains(needle) {
                found.push(path);
            }
        }
    }
    found
}

/// The CPU time (user + system) process `pid` has used so far.
pub fn cpu_time(pid: i32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces), from field 3.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}
