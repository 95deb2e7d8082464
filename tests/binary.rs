//! The `hypersweep` binary as a user runs it: flags, environment and
//! config.toml, no library path set, and a clean exit on SIGTERM.

use crate::common::ready::wait_until_answers;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_a_sweep_with_no_environment_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let repo = env!("CARGO_MANIFEST_DIR");
    let mut server = Command::new(env!("CARGO_BIN_EXE_hypersweep"))
        .arg("serve")
        .args(["--config", &format!("{repo}/config.toml")])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--data-dir", &format!("{repo}/../shared/data")])
        .current_dir(dir.path())
        // The binary finds libtorch through its baked-in rpath alone.
        .env_clear()
        .env(
            "HYPERSWEEP_DATABASE",
            format!("sqlite://{}/env.db", dir.path().display()),
        )
        .env("HYPERSWEEP_WORKERS", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_until_answers(&mut server, &url, Duration::from_secs(30)).await;
    let datasets: serde_json::Value = client
        .get(format!("{url}/v1/datasets"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        datasets.to_string().contains("fashion-mnist"),
        "--data-dir is used: {datasets}"
    );

    let spec = "method: grid\nparameters:\n  epochs: {value: 1}\n  learning_rate: {value: 0.05}\n";
    let created: serde_json::Value = client
        .post(format!("{url}/v1/sweeps"))
        .header("content-type", "application/yaml")
        .body(spec)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let best = client
            .get(format!("{url}/v1/sweeps/{id}/best"))
            .send()
            .await
            .unwrap();
        if best.status() == 200 {
            let best: serde_json::Value = best.json().await.unwrap();
            assert!(best["metric"]["value"].as_f64().unwrap() > 0.8, "{best}");
            break;
        }
        assert!(Instant::now() < deadline, "the sweep did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        dir.path().join("env.db").exists(),
        "HYPERSWEEP_DATABASE is used"
    );

    // SAFETY: sends SIGTERM to the child we spawned.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "server ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn a_bad_config_is_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "threads_per_trial = 0\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hypersweep"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("threads_per_trial must be at least 1"),
        "{stderr}"
    );
}

/// The server's worker processes: children of `server` in /proc.
fn children(server: u32) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let after_name = stat.rsplit(')').next().unwrap_or("");
            after_name.split_whitespace().nth(1) == Some(&server.to_string())
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_packing_starts_one_single_threaded_worker_per_core() {
    let cores = std::thread::available_parallelism().unwrap().get();
    let repo = env!("CARGO_MANIFEST_DIR");
    // The repo's config.toml says "auto" for both; then threads fixed at 2.
    for (extra, workers, threads) in [
        (vec![], cores, 1),
        (vec!["--threads-per-trial", "2"], (cores / 2).max(1), 2),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("serve.log");
        let mut server = Command::new(env!("CARGO_BIN_EXE_hypersweep"))
            .arg("serve")
            .args(["--config", &format!("{repo}/config.toml")])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--data-dir", &format!("{repo}/../shared/data")])
            .args(&extra)
            .current_dir(dir.path())
            .env(
                "HYPERSWEEP_DATABASE",
                format!("sqlite://{}/auto.db", dir.path().display()),
            )
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // Each worker process says "worker ready" once it can train: wait
        // for as many as the server should start, then count the processes.
        // The server starts all it will at start-up, one per worker slot,
        // so a count taken once each slot's worker is up is final.
        let ready = |text: &str| text.lines().filter(|l| l.contains("worker ready")).count();
        let deadline = Instant::now() + Duration::from_secs(60);
        let text = loop {
            let text = std::fs::read_to_string(&log).unwrap();
            if ready(&text) >= workers {
                break text;
            }
            assert!(server.try_wait().unwrap().is_none(), "server exited");
            assert!(
                Instant::now() < deadline,
                "{workers} workers did not start: {text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(ready(&text), workers, "{extra:?}: {text}");
        assert_eq!(children(server.id()), workers, "{extra:?}: {text}");
        assert!(!text.contains("worker exited"), "{text}");
        let serving = text
            .lines()
            .find(|l| l.contains("hypersweep serving"))
            .unwrap();
        assert!(
            serving.contains(&format!("workers={workers}"))
                && serving.contains(&format!("threads_per_trial={threads}")),
            "{serving}"
        );
        // SAFETY: sends SIGTERM to the child we spawned.
        unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
        server.wait().unwrap();
    }
}
