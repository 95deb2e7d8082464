//! The real `hypersweep serve` as a child process, for tests that kill it:
//! a config file, a database and checkpoints in a temp folder, a fixed port
//! so that a restarted server answers where the old one did.
use super::ready::wait_until_answers;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A server's home: its config, database and port, across restarts.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub url: String,
    pub client: reqwest::Client,
    /// Its database's URL (`common::test_database`).
    pub database: String,
}

/// A running server process.
pub struct Server {
    pub child: Child,
}

impl Site {
    /// A site whose config.toml has `workers` and `extra` TOML lines.
    pub fn new(workers: usize, extra: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let database = super::test_database(dir.path(), "site.db");
        // Where SQLite's default puts them, on PostgreSQL too (whose default
        // is a folder of the current one, shared by every test).
        let checkpoints = match super::on_postgres() {
            true => format!(
                "checkpoint_dir = \"{}\"\n",
                dir.path().join("site.db.checkpoints").display()
            ),
            false => String::new(),
        };
        let config = format!(
            "listen = \"127.0.0.1:{port}\"\ndatabase = \"{database}\"\ndata_dir = \"{data}\"\nworkers = {workers}\n{checkpoints}{extra}\n",
            data = super::shared_data().display(),
        );
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        Site {
            dir,
            port,
            url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            database,
        }
    }

    /// The SQLite file.
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("site.db")
    }

    /// What the server and its workers logged (warnings and errors), across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Starts the server and waits until it answers; it and its workers
    /// log to `server.log` in the site's folder.
    pub async fn start(&self) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_hypersweep"))
            .args(["serve", "--config"])
            .arg(self.dir.path().join("config.toml"))
            .current_dir(self.dir.path())
            .env(
                "RUST_LOG",
                std::env::var("TEST_LOG").map_or("warn".into(), |_| "info".to_string()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Server { child };
        wait_until_answers(&mut server.child, &self.url, Duration::from_secs(60)).await;
        server
    }

    /// GET a path; None when the server does not answer.
    pub async fn get(&self, path: &str) -> Option<Value> {
        let r = self
            .client
            .get(format!("{}{path}", self.url))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.ok()
    }

    /// Submits a YAML spec; the sweep's id.
    pub async fn submit(&self, yaml: &str) -> i64 {
        let r = self
            .client
            .post(format!("{}/v1/sweeps", self.url))
            .header("content-type", "application/yaml")
            .body(yaml.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    /// The events of an ended sweep, read from its stream to the end.
    pub async fn events(&self, sweep: i64) -> Vec<Value> {
        super::read_events(&self.client, &self.url, sweep).await
    }

    /// Runs a second `hypersweep serve` of this site (same config and
    /// database, any free port) until it exits or `timeout` passes, when
    /// it is killed: its exit status (None if killed) and what it logged.
    pub fn serve_beside(&self, timeout: Duration) -> (Option<ExitStatus>, String) {
        let path = self.dir.path().join("beside.log");
        let log = std::fs::File::create(&path).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_hypersweep"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(self.dir.path().join("config.toml"))
            .current_dir(self.dir.path())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (status, std::fs::read_to_string(path).unwrap_or_default())
    }
}

impl Server {
    /// The server's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The pids of its worker processes.
    pub fn workers(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        let tasks = format!("/proc/{}/task", self.pid());
        for task in std::fs::read_dir(tasks).into_iter().flatten().flatten() {
            if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
                pids.extend(
                    children
                        .split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
        }
        pids
    }

    /// kill -9 of the server; its workers die with it (PR_SET_PDEATHSIG).
    pub fn kill(mut self) {
        let workers = self.workers();
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        // Wait until the workers are gone too, so a restart starts clean.
        let deadline = Instant::now() + Duration::from_secs(10);
        while workers.iter().any(|p| alive(*p)) {
            assert!(Instant::now() < deadline, "workers outlived their server");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM; waits for the exit.
    pub fn terminate(mut self, timeout: Duration) -> ExitStatus {
        signal(self.pid(), libc::SIGTERM);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit within {timeout:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `sig` to `pid`.
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: signals a process this test started.
    unsafe {
        libc::kill(pid, sig);
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}
