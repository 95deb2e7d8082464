//! The command-line client as a user runs it: the real binary as a child
//! process against a real server, real workers and real training.

use crate::common::spawn_app;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Two learning rates, two epochs each: a sweep that ends in a few seconds.
const SMALL: &str = "name: cli
dataset: mnist-10k
method: grid
parameters:
  learning_rate: {values: [0.05, 0.1]}
  epochs: {value: 2}
";

/// What the binary did.
#[derive(Debug)]
pub(crate) struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `hypersweep ARGS` in `dir` with `HYPERSWEEP_SERVER` set to `server`
/// (left unset when None) and waits for it to exit.
pub(crate) async fn hypersweep(args: &[&str], server: Option<&str>, dir: &Path) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hypersweep"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("HYPERSWEEP_SERVER")
        .kill_on_drop(true);
    if let Some(server) = server {
        command.env("HYPERSWEEP_SERVER", server);
    }
    let output = tokio::time::timeout(Duration::from_secs(600), command.output())
        .await
        .unwrap_or_else(|_| panic!("hypersweep {args:?} did not exit"))
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_watch_returns_when_the_sweep_ends_with_its_best() {
    let app = spawn_app(2, |_| {}).await;
    let dir = app.dir.path();
    let spec = dir.join("small.yaml");
    std::fs::write(&spec, SMALL).unwrap();
    let spec = spec.to_str().unwrap();

    let run = hypersweep(
        &["submit", spec, "--watch", "--server", &app.url],
        None,
        dir,
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let (_, sweeps) = app.get("/v1/sweeps").await;
    let id = sweeps["sweeps"][0]["id"].as_i64().unwrap();
    let (status, best) = app.get(&format!("/v1/sweeps/{id}/best")).await;
    assert_eq!(status, 200, "{best}");
    let value = format!("{:.4}", best["metric"]["value"].as_f64().unwrap());
    let test_accuracy = format!("{:.4}", best["test"]["accuracy"].as_f64().unwrap());
    let out = &run.stdout;
    assert!(
        out.contains(&format!("sweep {id} submitted: 2 trials")),
        "{out}"
    );
    assert!(out.contains(&format!("sweep {id} completed")), "{out}");
    assert!(
        out.contains(&format!("best: trial {}", best["trial"]["number"])),
        "{out}"
    );
    assert!(
        out.contains("learning_rate") && out.contains(&value),
        "{out}"
    );

    // `best`, human and JSON.
    let id = id.to_string();
    let run = hypersweep(&["best", &id], Some(&app.url), dir).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("val_accuracy   {value} (maximize)")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("test accuracy  {test_accuracy}")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("learning_rate"), "{}", run.stdout);
    let run = hypersweep(&["best", &id, "--json"], Some(&app.url), dir).await;
    assert_eq!(serde_json::from_str::<Value>(&run.stdout).unwrap(), best);

    // `trials`, human and JSON; the server from ./config.toml when none is given.
    let listen = app.url.trim_start_matches("http://");
    std::fs::write(dir.join("config.toml"), format!("listen = \"{listen}\"\n")).unwrap();
    let run = hypersweep(&["trials", &id], None, dir).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let table = &run.stdout;
    assert!(table.contains("learning_rate"), "{table}");
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("completed")).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(rows.iter().all(|r| r.contains(" 2/2 ")), "{table}");
    // The learning rate is the last column (no error follows it).
    assert!(rows.iter().any(|r| r.ends_with(" 0.05")), "{table}");
    assert!(rows.iter().any(|r| r.ends_with(" 0.1")), "{table}");
    let run = hypersweep(&["trials", &id, "--json"], Some(&app.url), dir).await;
    let trials: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(trials["trials"].as_array().unwrap().len(), 2);

    let run = hypersweep(&["best", "999"], Some(&app.url), dir).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("error: no sweep `999`"),
        "{}",
        run.stderr
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_spec_prints_the_servers_message_and_stores_nothing() {
    let app = spawn_app(1, |_| {}).await;
    let dir = app.dir.path();
    let yaml = dir.join("bad.yaml");
    std::fs::write(
        &yaml,
        "method: grid\nparameters:\n  batch_size: {values: [64, 12.5]}\n",
    )
    .unwrap();
    let json = dir.join("bad.json");
    std::fs::write(
        &json,
        r#"{"method": "grid", "parameters": {"batch_size": {"values": [64, 12.5]}}}"#,
    )
    .unwrap();
    for file in [&yaml, &json] {
        let run = hypersweep(
            &[
                "submit",
                file.to_str().unwrap(),
                "--watch",
                "--server",
                &app.url,
            ],
            None,
            dir,
        )
        .await;
        assert_eq!(run.code, Some(2), "{run:?}");
        assert!(
            run.stderr
                .contains("error: parameters.batch_size.values[1]: must be an integer"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
    }
    let (_, sweeps) = app.get("/v1/sweeps").await;
    assert_eq!(sweeps["sweeps"], serde_json::json!([]));

    let run = hypersweep(&["submit", "missing.yaml"], Some(&app.url), dir).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("cannot read missing.yaml"),
        "{}",
        run.stderr
    );

    // Nothing listens here any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let run = hypersweep(&["trials", "1"], Some(&url), dir).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("cannot reach the server at {url}")),
        "{}",
        run.stderr
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_json_prints_each_event_once_in_order_even_across_reconnects() {
    // The cutting proxy below passes the client's Host (its own port) through,
    // as a reverse proxy does: the server is told to answer to it.
    let app = spawn_app(2, |c| c.allowed_hosts = vec!["127.0.0.1".into()]).await;
    let dir = app.dir.path();
    let id = app.submit(SMALL).await;
    let id_arg = id.to_string();

    let run = hypersweep(&["watch", &id_arg, "--json"], Some(&app.url), dir).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.iter().all(|e| e["sweep_id"] == id));
    assert_eq!(
        events.last().unwrap()["kind"],
        "sweep_completed",
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(&format!("sweep {id} completed")),
        "{}",
        run.stderr
    );
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // The same ids as one fresh read of the whole (now finished) stream.
    let body = app
        .client
        .get(format!("{}/v1/sweeps/{id}/events", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fresh: Vec<i64> = body
        .lines()
        .filter_map(|l| l.strip_prefix("id:"))
        .map(|v| v.trim().parse().unwrap())
        .collect();
    assert_eq!(ids, fresh);

    // Through a proxy that cuts the stream twice mid-event: still each event once.
    let (proxy, cuts) = cutting_proxy(&app.url, 2, 700).await;
    let run = hypersweep(&["watch", &id_arg, "--json"], Some(&proxy), dir).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(cuts.load(Ordering::SeqCst), 2);
    assert_eq!(
        run.stderr.matches("reconnecting after event").count(),
        2,
        "{}",
        run.stderr
    );
    let again: Vec<i64> = run
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(again, fresh);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_a_long_sweep_and_watch_exits_3() {
    let app = spawn_app(2, |_| {}).await;
    let dir = app.dir.path().to_path_buf();
    let id = app
        .submit("method: grid\nparameters:\n  learning_rate: {values: [0.05, 0.1]}\n  epochs: {value: 100}\n")
        .await;
    let id_arg = id.to_string();
    let watcher = {
        let (url, dir, id_arg) = (app.url.clone(), dir.clone(), id_arg.clone());
        tokio::spawn(async move { hypersweep(&["watch", &id_arg], Some(&url), &dir).await })
    };
    // Cancel while trials train, so that the watch sees it live.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, sweep) = app.get(&format!("/v1/sweeps/{id}")).await;
        if sweep["trials"]["running"].as_i64() > Some(0) {
            break;
        }
        assert!(Instant::now() < deadline, "no trial started: {sweep}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let run = hypersweep(&["cancel", &id_arg], Some(&app.url), &dir).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("cancelled"), "{}", run.stdout);

    let again = hypersweep(&["cancel", &id_arg], Some(&app.url), &dir).await;
    assert_eq!(again.code, Some(2), "{again:?}");
    assert!(again.stderr.contains("already ended"), "{}", again.stderr);

    let watched = watcher.await.unwrap();
    assert_eq!(watched.code, Some(3), "{watched:?}");
    assert!(
        watched.stdout.contains(&format!("sweep {id} cancelled")),
        "{}",
        watched.stdout
    );
    assert!(
        watched.stdout.contains("no best configuration"),
        "{}",
        watched.stdout
    );

    let run = hypersweep(&["trials", &id_arg], Some(&app.url), &dir).await;
    let rows: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("trial"))
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 2, "{}", run.stdout);
    assert!(
        rows.iter().all(|r| r.contains("cancelled")),
        "{}",
        run.stdout
    );
    let run = hypersweep(&["best", &id_arg], Some(&app.url), &dir).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    app.stop().await;
}

/// A TCP proxy to `upstream` that closes each of its first `cuts` event
/// streams `after` bytes past their content type, mid-event. Returns its URL
/// and how many streams it has cut.
async fn cutting_proxy(upstream: &str, cuts: usize, after: usize) -> (String, Arc<AtomicUsize>) {
    let upstream = upstream.trim_start_matches("http://").to_string();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let made = Arc::new(AtomicUsize::new(0));
    let counter = made.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&upstream).await.unwrap();
            let made = counter.clone();
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let upload = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    seen.extend_from_slice(&buf[..n]);
                    let cut_at = seen
                        .windows(17)
                        .position(|w| w == b"text/event-stream")
                        .map(|p| p + after)
                        .filter(|end| *end < seen.len());
                    if let Some(end) = cut_at {
                        let take = |m: usize| (m < cuts).then_some(m + 1);
                        if made
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, take)
                            .is_ok()
                        {
                            let keep = n.saturating_sub(seen.len() - end);
                            let _ = client_write.write_all(&buf[..keep]).await;
                            break;
                        }
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                upload.abort();
            });
        }
    });
    (url, made)
}
