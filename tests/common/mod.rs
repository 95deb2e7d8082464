//! A real server on a free port with a fresh SQLite file and real worker
//! processes, for tests that go through the HTTP API.
#![allow(dead_code)]
pub mod invariants;
pub mod netns;
pub mod process;
pub mod ready;
use hypersweep::config::Config;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The shared real datasets (MNIST 10k subset, Fashion-MNIST).
pub fn shared_data() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data"))
}

/// The variable that runs the end-to-end suite on PostgreSQL: set to
/// `postgres`, each test's server gets a scratch database of its own on the
/// test server (`hypersweep::store::scratch`) instead of a SQLite file.
pub const DATABASE_ENV: &str = "HYPERSWEEP_TEST_DATABASE";

/// Whether this run's servers use PostgreSQL (see `DATABASE_ENV`).
pub fn on_postgres() -> bool {
    std::env::var(DATABASE_ENV).is_ok_and(|v| v == "postgres")
}

/// The database URL of a test's server: a SQLite file `file` in `dir`, or
/// on PostgreSQL runs a fresh scratch database.
pub fn test_database(dir: &std::path::Path, file: &str) -> String {
    match on_postgres() {
        true => hypersweep::store::scratch::database_now().expect("a scratch PostgreSQL database"),
        false => format!("sqlite://{}", dir.join(file).display()),
    }
}

/// Whether a test that reads or writes the SQLite file itself runs: not on
/// PostgreSQL runs, which say so.
pub fn sqlite_only(test: &str) -> bool {
    if on_postgres() {
        eprintln!("{test}: about the SQLite file itself; skipped on PostgreSQL");
        return false;
    }
    true
}

/// The events of a Server-Sent Events body, as JSON (each event's `data`).
pub fn parse_sse(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|block| {
            block
                .lines()
                .find_map(|l| l.strip_prefix("data:"))
                .and_then(|d| serde_json::from_str(d.trim()).ok())
        })
        .collect()
}

/// The events of an ended sweep at the server `url`, read from its stream to the end.
pub async fn read_events(client: &reqwest::Client, url: &str, sweep: i64) -> Vec<Value> {
    let text = client
        .get(format!("{url}/v1/sweeps/{sweep}/events"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    parse_sse(&text)
}

/// A running server, stopped when dropped.
pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub config: Config,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Starts a server with `workers` worker processes; `tweak` adjusts the config.
pub async fn spawn_app(workers: usize, tweak: impl FnOnce(&mut Config)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_env_filter("info").try_init();
    } else {
        // Worker processes inherit this: quiet unless a test asks for logs.
        std::env::set_var("RUST_LOG", "warn");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        database: test_database(dir.path(), "test.db"),
        data_dir: Some(shared_data()),
        workers: workers.into(),
        worker_program: Some(env!("CARGO_BIN_EXE_hypersweep").into()),
        ..Config::default()
    };
    tweak(&mut config);
    // Where SQLite's default puts them, on PostgreSQL too (whose default is
    // a folder of the current one, which every test would share).
    let postgres = hypersweep::store::Engine::of_url(&config.database);
    if config.checkpoint_dir.is_none() && postgres == hypersweep::store::Engine::Postgres {
        config.checkpoint_dir = Some(dir.path().join("test.db.checkpoints"));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(hypersweep::server::serve(listener, config.clone(), async {
        let _ = stopped.await;
    }));
    let mut app = TestApp {
        url,
        client: client_for(&config),
        dir,
        config,
        stop: Some(stop),
        server: Some(server),
    };
    let server = app.server.as_mut().expect("the server task");
    ready::wait_until_answers(server, &app.url, Duration::from_secs(30)).await;
    app
}

/// A client that sends the config's API token, if it has one.
fn client_for(config: &Config) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = &config.api_token {
        let value = format!("Bearer {}", token.expose());
        headers.insert(reqwest::header::AUTHORIZATION, value.parse().unwrap());
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

impl TestApp {
    /// GET a path; the status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POST a body with a content type; the status and the JSON body.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<String>,
    ) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .body(body.into())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Submits a YAML spec that must be accepted; returns the sweep id.
    pub async fn submit(&self, yaml: &str) -> i64 {
        let (status, body) = self.post("/v1/sweeps", "application/yaml", yaml).await;
        assert_eq!(status, 201, "spec rejected: {body}");
        body["id"].as_i64().unwrap()
    }

    /// Polls the sweep until it is no longer running; returns its status.
    pub async fn wait_for_sweep(&self, id: i64, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, sweep) = self.get(&format!("/v1/sweeps/{id}")).await;
            assert_eq!(status, 200, "{sweep}");
            if sweep["state"] != "running" {
                return sweep;
            }
            assert!(
                Instant::now() < deadline,
                "sweep {id} still running after {timeout:?}: {sweep}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The events of an ended sweep, read from its stream to the end.
    pub async fn events(&self, sweep: i64) -> Vec<Value> {
        read_events(&self.client, &self.url, sweep).await
    }

    /// Stops the server and waits for it and its workers to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
