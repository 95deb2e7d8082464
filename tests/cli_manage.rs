//! The client's commands that manage sweeps, and its global `--server`:
//! the real binary against a real server.

use crate::cli::hypersweep;
use crate::common::{process::signal, spawn_app};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

const LONG: &str = "name: long
method: random
max_trials: 3
max_parallel: 1
parameters:
  learning_rate: {distribution: log_uniform_values, min: 0.005, max: 0.05}
  epochs: {value: 60}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_the_sweeps_with_server_given_before_the_command() {
    let app = spawn_app(1, |_| {}).await;
    let dir = app.dir.path();
    let first = app.submit(LONG).await;
    let second = app.submit(&LONG.replace("name: long", "name: other")).await;
    let run = hypersweep(&["--server", &app.url, "list"], None, dir).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("sweep  name"), "{}", run.stdout);
    assert!(
        lines[1].starts_with(&format!("{second} ")),
        "newest first: {}",
        run.stdout
    );
    assert!(
        lines[1].contains("other") && lines[1].contains("running"),
        "{}",
        run.stdout
    );
    assert!(lines[2].starts_with(&format!("{first} ")), "{}", run.stdout);
    assert!(lines[2].contains("0/3"), "{}", run.stdout);

    let run = hypersweep(&["list", "--limit", "1", "--json"], Some(&app.url), dir).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let page: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(page["sweeps"].as_array().unwrap().len(), 1);
    assert_eq!(page["next"], second);
    for id in [first, second] {
        app.post(&format!("/v1/sweeps/{id}/cancel"), "application/json", "")
            .await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_watching_and_says_the_sweep_goes_on() {
    let app = spawn_app(1, |_| {}).await;
    let dir = app.dir.path();
    let spec = dir.join("long.yaml");
    std::fs::write(&spec, LONG).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hypersweep"))
        .args([
            "--server",
            &app.url,
            "submit",
            spec.to_str().unwrap(),
            "--watch",
        ])
        .current_dir(dir)
        .env_remove("HYPERSWEEP_SERVER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Once the sweep trains, the client is watching it.
    let deadline = Instant::now() + Duration::from_secs(120);
    let id = loop {
        let (_, sweeps) = app.get("/v1/sweeps").await;
        let sweep = &sweeps["sweeps"][0];
        if sweep["trials"]["running"].as_i64() == Some(1) {
            break sweep["id"].as_i64().unwrap();
        }
        assert!(Instant::now() < deadline, "no trial started: {sweeps}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    signal(child.id().unwrap() as i32, libc::SIGINT);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the client exits on Ctrl-C")
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains(&format!("sweep {id} goes on in the server")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("hypersweep cancel {id}")),
        "{stderr}"
    );
    let (_, sweep) = app.get(&format!("/v1/sweeps/{id}")).await;
    assert_eq!(sweep["state"], "running", "{sweep}");
    app.post(&format!("/v1/sweeps/{id}/cancel"), "application/json", "")
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extend_enqueue_fork_and_delete_from_the_command_line() {
    let app = spawn_app(1, |_| {}).await;
    let dir = app.dir.path();
    let url = app.url.as_str();
    let id = app
        .submit(
            "method: random
max_trials: 3
max_parallel: 1
seed: 4
parameters:
  learning_rate: {distribution: log_uniform_values, min: 0.005, max: 0.1}
  batch_size: {value: 256}
  epochs: {value: 1}
",
        )
        .await;
    // A trial we choose takes the place of the last queued one.
    let run = hypersweep(
        &[
            "enqueue",
            &id.to_string(),
            "learning_rate=0.07",
            "--server",
            url,
        ],
        None,
        dir,
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("learning_rate: 0.07"), "{}", run.stdout);
    let run = hypersweep(
        &["enqueue", &id.to_string(), "learning_rate=7"],
        Some(url),
        dir,
    )
    .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("learning_rate"), "{}", run.stderr);
    let sweep = app.wait_for_sweep(id, Duration::from_secs(300)).await;
    assert_eq!(sweep["trials"]["completed"], 3, "{sweep}");
    let (_, trials) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    let chosen = trials["trials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["params"]["learning_rate"] == 0.07)
        .count();
    assert_eq!(chosen, 1, "{trials}");

    // Lowering the budget below what ran is refused, naming the field.
    let run = hypersweep(
        &["extend", &id.to_string(), "--max-trials", "1"],
        Some(url),
        dir,
    )
    .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("max_trials"), "{}", run.stderr);
    let run = hypersweep(&["extend", &id.to_string()], Some(url), dir).await;
    assert_eq!(
        run.code,
        Some(2),
        "nothing to change is a usage error: {run:?}"
    );
    // One more trial: the ended sweep runs again.
    let run = hypersweep(
        &[
            "--server",
            url,
            "extend",
            &id.to_string(),
            "--max-trials",
            "4",
        ],
        None,
        dir,
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains(&format!("sweep {id} running")),
        "{}",
        run.stdout
    );
    let sweep = app.wait_for_sweep(id, Duration::from_secs(300)).await;
    assert_eq!(sweep["trials"]["completed"], 4, "{sweep}");
    let run = hypersweep(&["trials", &id.to_string(), "--csv"], Some(url), dir).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let mut rows = csv::Reader::from_reader(run.stdout.as_bytes());
    let header = rows.headers().unwrap().clone();
    assert!(header.iter().any(|h| h == "learning_rate"), "{header:?}");
    assert_eq!(rows.records().count(), 4, "{}", run.stdout);

    // A fork records its parent; deleting waits for it to end.
    let changes = dir.join("changes.yaml");
    std::fs::write(
        &changes,
        "max_trials: 1\nparameters:\n  epochs: {value: 60}\n",
    )
    .unwrap();
    let run = hypersweep(
        &["fork", &id.to_string(), changes.to_str().unwrap()],
        Some(url),
        dir,
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains(&format!("(forked from sweep {id})")),
        "{}",
        run.stdout
    );
    let (_, sweeps) = app.get("/v1/sweeps").await;
    let fork = sweeps["sweeps"][0].clone();
    assert_eq!(fork["parent_id"], id, "{fork}");
    let fork = fork["id"].as_i64().unwrap().to_string();
    let run = hypersweep(&["delete", &fork], Some(url), dir).await;
    assert_eq!(run.code, Some(2), "a running sweep is not deleted: {run:?}");
    let run = hypersweep(&["cancel", &fork], Some(url), dir).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    app.wait_for_sweep(fork.parse().unwrap(), Duration::from_secs(60))
        .await;
    let run = hypersweep(&["delete", &fork], Some(url), dir).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout.trim(), format!("sweep {fork} deleted"));
    let (status, _) = app.get(&format!("/v1/sweeps/{fork}")).await;
    assert_eq!(status, 404);
    app.stop().await;
}
