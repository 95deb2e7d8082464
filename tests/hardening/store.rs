//! Hardening tests: store.
//! The store under a full disk, undecodable rows and a second server on the
//! same database: each costs only the request or the job that met it, and
//! the service mends itself without a restart. Each test prints the figures
//! it measured (`figures:`) before it checks them.
use crate::common::process::Site;
use crate::common::{spawn_app, TestApp};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One trial of one epoch.
const TINY: &str =
    "method: random\nmax_trials: 1\nparameters:\n  epochs: {value: 1}\n  batch_size: {value: 64}\n";

/// Three trials of six epochs, one at a time.
const THREE: &str = "method: grid\nmax_parallel: 1\nparameters:\n  epochs: {value: 6}\n  batch_size: {value: 32}\n  learning_rate: {values: [0.01, 0.02, 0.03]}\n";

/// A tmpfs of a few MiB, mounted for one test and unmounted when dropped,
/// also when the test fails.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// None, saying why, where no tmpfs can be mounted (not root, no
    /// mount(8)); under CI=true that is a failure, not a skip.
    fn mount(bytes: u64) -> Option<SmallDisk> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return skipped("mounting a small tmpfs needs root");
        }
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(SmallDisk { dir }),
            Ok(out) => {
                let why = String::from_utf8_lossy(&out.stderr);
                skipped(&format!("cannot mount a tmpfs: {}", why.trim()))
            }
            Err(e) => skipped(&format!("cannot run mount: {e}")),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the disk has no room left; its path.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 1 << 20];
        for size in [1 << 20, 4096, 512] {
            loop {
                match file.write_all(&chunk[..size]) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                    Err(e) => panic!("filling the disk: {e}"),
                }
            }
        }
        path
    }
}

/// A test that cannot run here says why and passes, but fails where CI=true
/// (as CI services set it), where everything must run.
fn skipped<T>(why: &str) -> Option<T> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and this test cannot run: {why} (run the suite as root)"
    );
    eprintln!("skipped: {why}");
    None
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: worker processes of a failed test may still hold files open.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A pool on the SQLite file itself, as an operator's tool would open it.
async fn open_db(db: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap()
}

/// Checkpoints the WAL into the database file and truncates it, so that
/// the next commit has to grow it (and meets a full disk).
async fn truncate_wal(db: &Path) {
    let pool = open_db(db).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&pool)
            .await
            .unwrap();
        if busy == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the WAL stays busy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.close().await;
}

/// Status, `Retry-After` and JSON body of a POST.
async fn post(app: &TestApp, path: &str, body: &str) -> (u16, Option<String>, Value) {
    let response = app
        .client
        .post(format!("{}{path}", app.url))
        .header("content-type", "application/yaml")
        .body(body.to_string())
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, retry, response.json().await.unwrap_or(Value::Null))
}

/// Waits until some trial of the sweep runs with an epoch reported.
async fn a_trial_has_an_epoch(app: &TestApp, id: i64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, trials) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
        let training = trials["trials"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["state"] == "running" && t["epochs_done"].as_i64().unwrap_or(0) >= 1);
        if training {
            return;
        }
        assert!(Instant::now() < deadline, "no trial trains: {trials}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The sweep's state and trial counts, polled until it is no longer
/// running or `timeout` passes; None on a timeout.
async fn ended_within(app: &TestApp, id: i64, timeout: Duration) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let (status, sweep) = app.get(&format!("/v1/sweeps/{id}")).await;
        if status == 200 && sweep["state"] != "running" {
            return Some(sweep);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the store holds, checked for writes that were cut in half: every
/// sweep has exactly its trials, each queued with an event, counts agree.
async fn check_whole(db: &Path) -> i64 {
    let pool = open_db(db).await;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let sweeps: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT s.id, s.max_trials,
            (SELECT COUNT(*) FROM trials t WHERE t.sweep_id = s.id),
            (SELECT COUNT(*) FROM events e WHERE e.sweep_id = s.id AND e.kind = 'trial_queued')
         FROM sweeps s",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (id, max_trials, trials, queued) in &sweeps {
        assert_eq!(
            (trials, queued),
            (max_trials, max_trials),
            "sweep {id}: trials and trial_queued events"
        );
    }
    let created: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = 'sweep_created'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(created, sweeps.len() as i64, "one sweep_created per sweep");
    let counted: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT c.sweep_id, c.state, c.n,
            (SELECT COUNT(*) FROM trials t WHERE t.sweep_id = c.sweep_id AND t.state = c.state)
         FROM trial_counts c",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (sweep, state, n, real) in counted {
        assert_eq!(n, real, "trial_counts of sweep {sweep}, {state}");
    }
    pool.close().await;
    sweeps.len() as i64
}

/// A full disk (the database and checkpoints on a 16 MiB tmpfs, filled
/// while a sweep trains): API writes answer 503 `unavailable` with a
/// message and `Retry-After`, reads still answer, nothing is half-written;
/// once the filler is deleted every write succeeds and the sweep's trials
/// start and finish, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_and_all_works_again_once_it_has_room() {
    let Some(disk) = SmallDisk::mount(16 << 20) else {
        return;
    };
    let db = disk.path().join("test.db");
    let app = spawn_app(1, |c| {
        c.database = format!("sqlite://{}", db.display());
        c.checkpoint_dir = Some(disk.path().join("checkpoints"));
    })
    .await;
    let main = app.submit(THREE).await;
    // Queued behind `main`: a cancel of it while the disk is full must not half-happen.
    let spare = app.submit(TINY).await;
    a_trial_has_an_epoch(&app, main).await;
    let sweeps_before = check_whole(&db).await;

    truncate_wal(&db).await;
    let filler = disk.fill();
    let full = Instant::now();
    let mut while_full = Vec::new();
    while while_full.len() < 6 || full.elapsed() < Duration::from_secs(3) {
        let (status, retry, body) = if while_full.len() % 2 == 0 {
            post(&app, "/v1/sweeps", TINY).await
        } else {
            post(&app, &format!("/v1/sweeps/{spare}/cancel"), "").await
        };
        while_full.push((status, retry, body));
        let (status, listed) = app.get("/v1/sweeps").await;
        assert_eq!(status, 200, "reads answer while the disk is full: {listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, during) = app.get(&format!("/v1/sweeps/{spare}")).await;
    let (_, main_during) = app.get(&format!("/v1/sweeps/{main}")).await;
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();

    // Writes again: a new sweep and its cancel, until 10 in a row succeed.
    let (mut statuses, mut in_a_row, mut first_ok) = (Vec::new(), 0, None);
    while in_a_row < 10 && freed.elapsed() < Duration::from_secs(60) {
        let (status, _, body) = post(&app, "/v1/sweeps", TINY).await;
        statuses.push(status);
        let ok = status == 201 && {
            let cancel = format!("/v1/sweeps/{}/cancel", body["id"]);
            let (status, _, _) = post(&app, &cancel, "").await;
            statuses.push(status);
            status == 200
        };
        in_a_row = if ok { in_a_row + 2 } else { 0 };
        if ok && first_ok.is_none() {
            first_ok = Some(freed.elapsed());
        }
        if !ok {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let ended = ended_within(&app, main, Duration::from_secs(240)).await;
    let count = |list: &[u16], code: u16| list.iter().filter(|s| **s == code).count();
    let full_statuses: Vec<u16> = while_full.iter().map(|w| w.0).collect();
    eprintln!(
        "figures: while full, {} writes: {} x 503, {} x 500; after freeing: first write ok after {:?}, \
         {} of {} writes failed ({} x 500); sweep {main} ended after {:?}: {}",
        full_statuses.len(),
        count(&full_statuses, 503),
        count(&full_statuses, 500),
        first_ok,
        statuses.len() - count(&statuses, 201) - count(&statuses, 200),
        statuses.len(),
        count(&statuses, 500),
        ended.as_ref().map(|_| freed.elapsed()),
        ended.as_ref().map_or("still running".into(), |s| s["trials"].to_string()),
    );

    for (status, retry, body) in &while_full {
        assert_eq!(*status, 503, "a write on a full disk: {body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("full"), "{message}");
        assert!(retry.is_some(), "503 without Retry-After");
    }
    assert!(
        main_during["trials"]["queued"].as_i64().unwrap() >= 1,
        "trials were left to start once the disk had room: {main_during}"
    );
    assert_eq!(
        during["state"], "running",
        "the cancel did not happen: {during}"
    );
    assert_eq!(during["trials"]["queued"], 1, "{during}");
    assert!(
        in_a_row >= 10,
        "writes after the disk was freed: {statuses:?}"
    );
    let ended = ended.expect("the sweep ends once the disk has room");
    assert_eq!(ended["state"], "completed", "{ended}");
    assert_eq!(ended["trials"]["completed"], 3, "{ended}");
    // Nothing was half-written: the sweeps of the failed POSTs do not
    // exist, the rest are whole.
    let sweeps_after = check_whole(&db).await;
    assert_eq!(sweeps_after, sweeps_before + count(&statuses, 201) as i64);
    // Its trial, never cancelled, runs after `main`'s.
    let spare = ended_within(&app, spare, Duration::from_secs(120)).await;
    let spare = spare.expect("the spare sweep runs too");
    assert_eq!(spare["trials"]["completed"], 1, "{spare}");
    app.stop().await;
}

/// One block of a Server-Sent Events body: (event, id, data).
fn sse_blocks(text: &str) -> Vec<(String, Option<i64>, String)> {
    text.split("\n\n")
        .filter_map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            let data = field("data:")?;
            let event = field("event:").unwrap_or_else(|| "message".into());
            Some((event, field("id:").and_then(|i| i.parse().ok()), data))
        })
        .collect()
}

/// Reads the sweep's stream (after `last`) until the server ends it or
/// `timeout` passes: the body so far, and whether it ended.
async fn read_stream(
    app: &TestApp,
    id: i64,
    last: Option<i64>,
    timeout: Duration,
) -> (String, bool) {
    use futures_util::StreamExt;
    let mut request = app.client.get(format!("{}/v1/sweeps/{id}/events", app.url));
    if let Some(last) = last {
        request = request.header("last-event-id", last.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Ok(Some(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk.unwrap())),
            Ok(None) => return (text, true),
            Err(_) => return (text, false),
        }
    }
}

/// An `events` row whose data is not JSON: the stream sends every event
/// before it, then an `error` event naming the row, and closes; a client
/// may resume past the row; other sweeps' streams are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_event_ends_its_stream_with_an_error_naming_the_row() {
    if !crate::common::sqlite_only(
        "an_undecodable_event_ends_its_stream_with_an_error_naming_the_row",
    ) {
        return;
    }
    let app = spawn_app(1, |_| {}).await;
    let id = app.submit(TINY).await;
    app.wait_for_sweep(id, Duration::from_secs(120)).await;
    let events = app.events(id).await;
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.len() >= 5, "{events:?}");
    let bad = ids[2];
    let db = app.dir.path().join("test.db");
    let pool = open_db(&db).await;
    sqlx::query("UPDATE events SET data = 'not json' WHERE id = ?")
        .bind(bad)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let started = Instant::now();
    let (text, ended) = read_stream(&app, id, None, Duration::from_secs(20)).await;
    let blocks = sse_blocks(&text);
    eprintln!(
        "figures: stream with a bad row: ended {ended} after {:?}, {} events sent (of {} before the row)",
        started.elapsed(),
        blocks.len(),
        2
    );
    assert!(ended, "the stream stalls at the bad row: {text}");
    let (last, good) = blocks.split_last().expect("some events");
    let sent: Vec<i64> = good.iter().map(|b| b.1.unwrap()).collect();
    assert_eq!(sent, ids[..2], "every event before the bad row, once");
    assert_eq!(last.0, "error", "{text}");
    assert_eq!(last.1, None, "the error is not an event of the log");
    let error: Value = serde_json::from_str(&last.2).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("event {bad}")), "{message}");
    assert_eq!(error["error"]["code"], "bad_row", "{error}");

    // Past the bad row, the rest of the log streams to its end.
    let (text, ended) = read_stream(&app, id, Some(bad), Duration::from_secs(20)).await;
    let rest: Vec<i64> = sse_blocks(&text).iter().filter_map(|b| b.1).collect();
    assert!(ended);
    assert_eq!(rest, ids[3..], "{text}");

    // `hypersweep watch` says which event it skips and follows the rest to the end.
    let watch = tokio::process::Command::new(env!("CARGO_BIN_EXE_hypersweep"))
        .args(["watch", &id.to_string(), "--json", "--server", &app.url])
        .kill_on_drop(true)
        .output();
    let watch = tokio::time::timeout(Duration::from_secs(60), watch)
        .await
        .expect("hypersweep watch hangs on a bad event row")
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&watch.stdout),
        String::from_utf8_lossy(&watch.stderr),
    );
    assert!(watch.status.success(), "{err}");
    assert!(err.contains(&format!("event {bad}")), "{err}");
    let shown: Vec<i64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let expected: Vec<i64> = ids.iter().copied().filter(|i| *i != bad).collect();
    assert_eq!(shown, expected, "{out}");

    // Another sweep runs and streams as ever.
    let other = app.submit(TINY).await;
    app.wait_for_sweep(other, Duration::from_secs(120)).await;
    let (text, ended) = read_stream(&app, other, None, Duration::from_secs(20)).await;
    assert!(ended);
    let blocks = sse_blocks(&text);
    assert!(blocks.iter().all(|b| b.0 != "error"), "{text}");
    assert_eq!(blocks.last().unwrap().0, "sweep_completed", "{text}");
    app.stop().await;
}

/// Trial rows of one sweep straight from the database: (state, attempt).
async fn db_trials(db: &Path, sweep: i64) -> Vec<(String, i64)> {
    let pool = open_db(db).await;
    let rows =
        sqlx::query_as("SELECT state, attempt FROM trials WHERE sweep_id = ? ORDER BY number")
            .bind(sweep)
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    rows
}

/// GET on a site: status and JSON body; None when the server does not answer.
async fn site_get(site: &Site, path: &str) -> Option<(u16, Value)> {
    let r = site
        .client
        .get(format!("{}{path}", site.url))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().await.unwrap_or(Value::Null)))
}

/// Polls the sweep on a site until it has ended, or `timeout`; None on a timeout.
async fn site_ended_within(site: &Site, id: i64, timeout: Duration) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some((200, sweep)) = site_get(site, &format!("/v1/sweeps/{id}")).await {
            if sweep["state"] != "running" {
                return Some(sweep);
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A sweep whose stored spec is not JSON: claims skip it without starting
/// its trials and say so once; the reaper's time limits still apply to the
/// others, which run; `GET /v1/sweeps` lists it with an `error` marker, and
/// `GET /v1/sweeps/<id>` answers a JSON 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_sweep_spec_costs_only_that_sweep() {
    if !crate::common::sqlite_only("an_undecodable_sweep_spec_costs_only_that_sweep") {
        return;
    }
    let site = Site::new(1, "");
    let _server = site.start().await;
    // Keeps the only worker busy until the reaper's time limit (3 s) stops it.
    let blocker = site
        .submit("method: grid\ntrial_timeout_minutes: 0.05\nparameters:\n  epochs: {value: 200}\n  batch_size: {value: 8}\n  learning_rate: {value: 0.01}\n")
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while site.get(&format!("/v1/sweeps/{blocker}")).await.unwrap()["trials"]["running"] != 1 {
        assert!(Instant::now() < deadline, "the blocker never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bad = site
        .submit("method: grid\nparameters:\n  epochs: {value: 1}\n  learning_rate: {values: [0.01, 0.02]}\n")
        .await;
    let good = site.submit(TINY).await;
    let pool = open_db(&site.db()).await;
    sqlx::query("UPDATE sweeps SET spec = '{' WHERE id = ?")
        .bind(bad)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let timed_out = site_ended_within(&site, blocker, Duration::from_secs(60)).await;
    let completed = site_ended_within(&site, good, Duration::from_secs(120)).await;
    let listed = site_get(&site, "/v1/sweeps").await.unwrap();
    let shown = site_get(&site, &format!("/v1/sweeps/{bad}")).await.unwrap();
    let trials = db_trials(&site.db(), bad).await;
    eprintln!(
        "figures: bad spec: blocker timed out {}, next sweep completed {}, GET /v1/sweeps {}, \
         GET /v1/sweeps/{bad} {}, its trials (state, attempt) {trials:?}",
        timed_out.is_some(),
        completed.is_some(),
        listed.0,
        shown.0,
    );

    let timed_out = timed_out.expect("the trial-timeout check goes on");
    assert_eq!(timed_out["trials"]["failed"], 1, "{timed_out}");
    let completed = completed.expect("claims go on to the next sweep");
    assert_eq!(completed["trials"]["completed"], 1, "{completed}");
    assert_eq!(listed.0, 200, "{}", listed.1);
    let sweeps = listed.1["sweeps"].as_array().unwrap();
    let ids: Vec<i64> = sweeps.iter().map(|s| s["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [good, bad, blocker], "every sweep, newest first");
    let marked = &sweeps[1];
    assert!(
        marked["error"]
            .as_str()
            .unwrap_or_default()
            .contains("spec"),
        "{marked}"
    );
    assert_eq!(marked["state"], "running", "{marked}");
    assert!(sweeps[0].get("error").is_none() && sweeps[2].get("error").is_none());
    assert!((500..600).contains(&shown.0), "{}", shown.1);
    assert!(shown.1["error"]["code"].is_string(), "{}", shown.1);
    assert_eq!(
        trials,
        [("queued".to_string(), 0), ("queued".to_string(), 0)]
    );

    // Another sweep runs past it too; the skipped sweep was named once.
    let later = site.submit(TINY).await;
    let later = site_ended_within(&site, later, Duration::from_secs(120)).await;
    assert_eq!(later.expect("runs")["state"], "completed");
    let log = site.log();
    let warned = log
        .lines()
        .filter(|l| l.contains(&format!("claims skip sweep {bad},")))
        .count();
    assert_eq!(warned, 1, "{log}");
    assert_eq!(
        db_trials(&site.db(), bad).await[0],
        ("queued".to_string(), 0)
    );
}

/// The first trial of a sweep on a site.
async fn first_trial(site: &Site, id: i64) -> Value {
    let trials = site.get(&format!("/v1/sweeps/{id}/trials")).await.unwrap();
    trials["trials"][0].clone()
}

/// A second server on a database that a live server holds exits non-zero,
/// naming the database and the holder, and leaves the first's running
/// trial alone; once the first is killed (-9), a new server takes over at
/// once and the trial trains again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_refuses_a_held_database_and_takes_over_a_dead_ones() {
    if !crate::common::sqlite_only(
        "a_second_server_refuses_a_held_database_and_takes_over_a_dead_ones",
    ) {
        return;
    }
    let site = Site::new(1, "lease_seconds = 5");
    let first = site.start().await;
    let id = site
        .submit("method: grid\nparameters:\n  epochs: {value: 200}\n  batch_size: {value: 8}\n  learning_rate: {value: 0.01}\n")
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while first_trial(&site, id).await["epochs_done"]
        .as_i64()
        .unwrap_or(0)
        < 1
    {
        assert!(Instant::now() < deadline, "the trial never trained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    let (status, log) = site.serve_beside(Duration::from_secs(30));
    let refused_after = started.elapsed();
    let after = first_trial(&site, id).await;
    eprintln!(
        "figures: second server: exit {status:?} after {refused_after:?}; first's trial attempt {} \
         state {}",
        after["attempt"], after["state"]
    );
    eprintln!("figures: the second server said: {}", log.trim());
    let status = status.expect("the second server exits");
    assert!(!status.success(), "{log}");
    let db = site.db().display().to_string();
    assert!(log.contains(&db), "names the database: {log}");
    assert!(
        log.contains(&format!("pid {}", first.pid())),
        "names the holder: {log}"
    );
    assert_eq!(
        (&after["state"], &after["attempt"]),
        (&"running".into(), &1.into()),
        "{after}"
    );
    let pool = open_db(&site.db()).await;
    let requeued: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = 'trial_requeued'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(requeued, 0, "the running trial was not taken back");

    first.kill();
    let killed = Instant::now();
    let _third = site.start().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = first_trial(&site, id).await;
        if t["attempt"] == 2 && t["state"] == "running" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the trial was not taken over: {t}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "figures: killed server's database taken over, trial running again after {:?}",
        killed.elapsed()
    );
}
