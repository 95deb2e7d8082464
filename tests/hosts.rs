//! Workers on other hosts: the server and up to three workers in network
//! namespaces of their own (tests/common/netns.rs), joined by a bridge, the
//! workers with working folders of their own and no path to the server's
//! files, so that the dataset and the checkpoints travel over the worker
//! protocol. Each scenario ends with the invariants of tests/crashes.rs
//! (every trial completed once, every epoch reported once, no attempt
//! started twice) and, where an SSE client follows the run, with every event
//! seen by it once.
//!
//! Needs root; `HYPERSWEEP_SKIP_NETNS=1` skips them where there is none.
mod cluster;

use crate::common::netns::{Cut, Hosts};
use cluster::{check_followed, follow, follow_across, Cluster, DATASET, HOSTS};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

/// A grid of `trials` learning rates, `epochs` epochs each, on the dataset
/// only the server has.
fn sweep(trials: usize, epochs: i64) -> String {
    let rates: Vec<String> = (1..=trials)
        .map(|i| format!("{}", i as f64 * 0.01))
        .collect();
    format!(
        "dataset: {DATASET}\nmethod: grid\nparameters:\n  epochs: {{value: {epochs}}}\n  \
         batch_size: {{value: 64}}\n  learning_rate: {{values: [{}]}}\n",
        rates.join(", ")
    )
}

/// Whether trial `t` is held by worker `name`.
fn on(t: &Value, name: &str) -> bool {
    t["worker"].as_str() == Some(name)
}

fn epochs_done(t: &Value) -> i64 {
    t["epochs_done"].as_i64().unwrap_or(0)
}

/// The events of `kind` about trial `trial`.
fn events_of<'a>(events: &'a [Value], kind: &str, trial: i64) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["kind"] == kind && e["trial_id"] == trial)
        .collect()
}

/// One line per event: id, kind, attempt, epoch, worker.
fn summary(events: &[&Value]) -> String {
    events
        .iter()
        .filter(|e| e["kind"] != "trial_progress")
        .map(|e| {
            let d = &e["data"];
            let epoch = d["epoch"].as_i64().or(d["report"]["epoch"].as_i64());
            format!(
                "{} {} attempt={} epoch={epoch:?} worker={} {}",
                e["id"], e["kind"], d["attempt"], d["worker"], d["reason"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Epochs of a trial, per scenario: an epoch of mnist-10k takes about
/// 0.15 s on one thread, and a trial must outlast what a scenario does to it.
const EPOCHS_A: i64 = 20;
const EPOCHS_B: i64 = 20;
const EPOCHS_C: i64 = 60;
const EPOCHS_D: i64 = 40;

/// Runs a scenario on a fresh set of hosts, from the client host.
fn on_hosts<F>(scenario: F)
where
    F: AsyncFnOnce(&Hosts) + Send,
{
    let Some(hosts) = Hosts::new(HOSTS) else {
        return;
    };
    let hosts = &hosts;
    hosts.block_on_in("client", move || scenario(hosts));
}

/// Whether a TCP connection from the calling thread's namespace to `to`
/// opens within a second.
fn connects(to: std::net::SocketAddr) -> bool {
    std::net::TcpStream::connect_timeout(&to, Duration::from_secs(1)).is_ok()
}

/// The fixture itself: hosts reach each other over the bridge, none of its
/// interfaces is in this machine's own namespace, and both kinds of cut
/// stop the traffic until healed.
#[test]
fn hosts_reach_each_other_only_over_the_bridge_and_cuts_heal() {
    let Some(hosts) = Hosts::new(&["a", "b"]) else {
        return;
    };
    let to = std::net::SocketAddr::from((hosts.host("a").addr, 9000));
    // The socket belongs to the namespace it was made in, whoever uses it.
    let _listener = hosts.block_on_in(
        "a",
        || async move { std::net::TcpListener::bind(to).unwrap() },
    );
    hosts.check_nothing_outside();
    let from_b = || hosts.block_on_in("b", || async move { connects(to) });
    assert!(from_b(), "b cannot reach a");
    for how in [Cut::Port, Cut::Firewall] {
        hosts.cut("a", how);
        assert!(!from_b(), "{how:?}: b still reaches a");
        hosts.heal("a", how);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !from_b() {
            assert!(Instant::now() < deadline, "{how:?}: not healed");
        }
    }
}

/// kill -9 of a remote worker in the middle of an epoch: its lease runs
/// out on the server's clock, and a worker on another host resumes the
/// trial from the checkpoint the dead one had uploaded.
#[test]
fn a_remote_worker_killed_mid_epoch_is_resumed_on_another_host() {
    on_hosts(async |hosts| {
        let mut c = Cluster::new(hosts, "lease_seconds = 4");
        c.start_server().await;
        c.start_worker("w1");
        c.start_worker("w2");
        let id = c.submit(&sweep(3, EPOCHS_A)).await;
        let follower = tokio::spawn(follow(c.api.clone(), c.url.clone(), id));
        // A trial of w1's past its second epoch, with a checkpoint uploaded.
        let deadline = Instant::now() + Duration::from_secs(120);
        let t = loop {
            let t = c
                .wait_for_trial(id, "with 2 epochs on w1", Duration::from_secs(120), |t| {
                    t["state"] == "running" && on(t, "w1") && epochs_done(t) >= 2
                })
                .await;
            if c.has_checkpoint(&t, "w1").await {
                break t;
            }
            assert!(
                Instant::now() < deadline,
                "w1 uploaded no checkpoint\n{}",
                c.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        c.kill_worker("w1");
        let trial = t["id"].as_i64().unwrap();
        let at_kill = epochs_done(&c.get(&format!("/v1/trials/{trial}")).await);
        c.start_worker("w3");
        let moved = c
            .wait_for_trial(id, "moved off w1", Duration::from_secs(120), |x| {
                x["id"] == trial && x["attempt"].as_i64() > t["attempt"].as_i64()
            })
            .await;
        assert!(!on(&moved, "w1"), "{moved}");
        let events = c.check_ended(id, 3, EPOCHS_A).await;
        let about =
            || -> Vec<&Value> { events.iter().filter(|e| e["trial_id"] == trial).collect() };
        // (Once, unless a starved worker later lost a 4 s lease as well.)
        let resumed = events_of(&events, "trial_resumed", trial);
        // Said first in one line per event: CI keeps the start and the end
        // of a long message.
        assert!(
            !resumed.is_empty(),
            "no trial_resumed; its events:\n{}\n{}",
            summary(&about()),
            c.logs()
        );
        // From the checkpoint w1 uploaded: past epoch 0, not past what the
        // server had of it when w1 died.
        let from = resumed[0]["data"]["epoch"].as_i64().unwrap();
        assert!(
            (1..=at_kill).contains(&from),
            "resumed from epoch {from}, {at_kill} reported at the kill"
        );
        let second = events_of(&events, "trial_started", trial)
            .into_iter()
            .find(|e| e["data"]["attempt"].as_i64() == t["attempt"].as_i64().map(|a| a + 1))
            .unwrap_or_else(|| panic!("{:#?}", about()));
        assert_ne!(second["data"]["worker"], "w1", "{second}");
        check_followed(&follower.await.unwrap(), &events);
    });
}

/// A worker cut off for longer than its lease: its trial moves to another
/// host; it has stopped training by itself before the cut heals; after the
/// heal, its late writes and uploads are refused.
#[test]
fn a_worker_cut_off_past_its_lease_loses_its_trial_and_its_late_writes() {
    on_hosts(async |hosts| {
        let mut c = Cluster::new(hosts, "lease_seconds = 4");
        c.start_server().await;
        c.start_worker("w1");
        c.start_worker("w2");
        let id = c.submit(&sweep(3, EPOCHS_B)).await;
        let follower = tokio::spawn(follow(c.api.clone(), c.url.clone(), id));
        let t = c
            .wait_for_trial(id, "with an epoch on w1", Duration::from_secs(120), |t| {
                t["state"] == "running" && on(t, "w1") && epochs_done(t) >= 1
            })
            .await;
        let (trial, attempt) = (t["id"].as_i64().unwrap(), t["attempt"].as_i64().unwrap());
        c.hosts.cut("w1", Cut::Port);
        c.start_worker("w3");
        let moved = c
            .wait_for_trial(id, "moved off w1", Duration::from_secs(120), |x| {
                x["id"] == trial && x["attempt"].as_i64().unwrap_or(0) > attempt
            })
            .await;
        assert!(!on(&moved, "w1"), "{moved}");
        // Cut off, w1 stopped training on its own, and says so; it uses
        // next to no CPU (training keeps a core busy).
        let deadline = Instant::now() + Duration::from_secs(30);
        let said_so = |log: String| {
            log.contains("stopping the trial") || log.contains("the lease is taken for lost")
        };
        while !said_so(c.worker_log("w1")) {
            assert!(
                Instant::now() < deadline,
                "w1 never stopped by itself:\n{}",
                c.worker_log("w1")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let pid = c.worker_pid("w1");
        let before = cluster::cpu_time(pid);
        let window = Instant::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let used = cluster::cpu_time(pid) - before;
        assert!(
            used.as_secs_f64() < 0.4 * window.elapsed().as_secs_f64(),
            "w1 still trains while cut off: {used:?} of CPU in {:?}\n{}",
            window.elapsed(),
            c.worker_log("w1")
        );
        c.hosts.heal("w1", Cut::Port);

        // The lost attempt's writes, as the worker would send them late.
        let base = format!("{}/v1/worker/trials/{trial}/attempts/{attempt}", c.url);
        let report = serde_json::json!({
            "report": {"epoch": epochs_done(&t) + 1, "train_loss": 0.5, "val_loss": 0.5,
                       "val_accuracy": 0.5, "seconds": 1.0},
            "samples": [],
        });
        let checkpoint = b"a checkpoint from a lost lease".to_vec();
        let sha = {
            use sha2::{Digest, Sha256};
            Sha256::digest(&checkpoint)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let writes = [
            ("renew", c.worker.post(format!("{base}/renew"))),
            (
                "report",
                c.worker.post(format!("{base}/report")).json(&report),
            ),
            (
                "checkpoint",
                c.worker
                    .put(format!("{base}/checkpoint"))
                    .header("X-Checkpoint-Sha256", sha)
                    .body(checkpoint),
            ),
            (
                "finish",
                c.worker
                    .post(format!("{base}/finish"))
                    .json(&serde_json::json!({
                        "outcome": "completed", "test_loss": 0.5, "test_accuracy": 0.5
                    })),
            ),
        ];
        for (what, request) in writes {
            let r = request
                .header("X-Hypersweep-Worker", "w1")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            assert_eq!(status, 409, "late {what}: {body}");
            // The contract's flag, or the API's error code for it.
            let lost = body["lease_lost"] == true || body["error"]["code"] == "lease_lost";
            assert!(lost, "late {what}: {body}");
        }
        let events = c.check_ended(id, 3, EPOCHS_B).await;
        assert!(
            !events_of(&events, "trial_requeued", trial).is_empty(),
            "the lost lease was taken back"
        );
        check_followed(&follower.await.unwrap(), &events);
    });
}

/// A worker cut off for less than its lease (and less than the two thirds
/// after which it would stop by itself) carries on: nothing moves, its
/// reports of the cut arrive once, in order, after the heal.
#[test]
fn a_worker_cut_off_within_its_lease_carries_on() {
    on_hosts(async |hosts| {
        let mut c = Cluster::new(hosts, "lease_seconds = 20");
        c.start_server().await;
        c.start_worker("w1");
        c.start_worker("w2");
        let id = c.submit(&sweep(2, EPOCHS_C)).await;
        let follower = tokio::spawn(follow(c.api.clone(), c.url.clone(), id));
        let t = c
            .wait_for_trial(id, "with an epoch on w1", Duration::from_secs(120), |t| {
                t["state"] == "running" && on(t, "w1") && epochs_done(t) >= 1
            })
            .await;
        let trial = t["id"].as_i64().unwrap();
        c.hosts.cut("w1", Cut::Firewall);
        let at_cut = epochs_done(&c.get(&format!("/v1/trials/{trial}")).await);
        // The cut lasts 6 s: a fault of a chosen length, well within the
        // 13 s after which w1 would stop by itself.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let at_heal = epochs_done(&c.get(&format!("/v1/trials/{trial}")).await);
        c.hosts.heal("w1", Cut::Firewall);
        // The cut was real: no report got through it (but one under way).
        assert!(
            at_heal <= at_cut + 1,
            "{at_cut} epochs at the cut, {at_heal} at the heal"
        );
        let events = c.check_ended(id, 2, EPOCHS_C).await;
        assert!(
            events.iter().all(|e| e["kind"] != "trial_requeued"),
            "nothing was taken back: {events:?}"
        );
        assert_eq!(events_of(&events, "trial_started", trial).len(), 1);
        let done = c.get(&format!("/v1/trials/{trial}")).await;
        assert_eq!(done["attempt"], t["attempt"], "{done}");
        check_followed(&follower.await.unwrap(), &events);
    });
}

/// The server killed and restarted while remote workers train: they ride
/// it out (buffering their reports), nothing is taken back, nothing is lost;
/// an SSE client reconnecting with Last-Event-ID sees every event once.
#[test]
fn a_server_restarted_under_remote_workers_takes_nothing_back() {
    on_hosts(async |hosts| {
        let mut c = Cluster::new(hosts, "lease_seconds = 20");
        c.start_server().await;
        c.start_worker("w1");
        c.start_worker("w2");
        let id = c.submit(&sweep(3, EPOCHS_D)).await;
        let follower = tokio::spawn(follow(c.api.clone(), c.url.clone(), id));
        for w in ["w1", "w2"] {
            c.wait_for_trial(
                id,
                &format!("with an epoch on {w}"),
                Duration::from_secs(120),
                |t| t["state"] == "running" && on(t, w) && epochs_done(t) >= 1,
            )
            .await;
        }
        let before: Vec<(i64, i64)> = c
            .trials(id)
            .await
            .iter()
            .filter(|t| t["state"] == "running")
            .map(|t| (t["id"].as_i64().unwrap(), t["attempt"].as_i64().unwrap()))
            .collect();
        c.kill_server();
        // Down for 3 s (a fault of a chosen length, within the lease).
        tokio::time::sleep(Duration::from_secs(3)).await;
        c.start_server().await;
        let events = c.check_ended(id, 3, EPOCHS_D).await;
        assert!(
            events.iter().all(|e| e["kind"] != "trial_requeued"),
            "a restart took a live lease back\n{}",
            c.logs()
        );
        for (trial, attempt) in before {
            let t = c.get(&format!("/v1/trials/{trial}")).await;
            assert_eq!(t["attempt"], attempt, "trial {trial} lost its attempt: {t}");
            assert_eq!(events_of(&events, "trial_started", trial).len(), 1);
        }
        check_followed(&follower.await.unwrap(), &events);
    });
}

/// A dataset file damaged in a worker's cache (keyed by SHA-256) is
/// refused when the worker next needs it, downloaded again, and trained on.
#[test]
fn a_corrupted_cached_dataset_file_is_refused_and_downloaded_again() {
    on_hosts(async |hosts| {
        let mut c = Cluster::new(hosts, "lease_seconds = 10");
        c.start_server().await;
        c.start_worker("w1");
        let id = c.submit(&sweep(2, 2)).await;
        c.wait_for_trial(id, "completed", Duration::from_secs(120), |t| {
            t["state"] == "completed"
        })
        .await;
        c.terminate_worker("w1", Duration::from_secs(60)).await;

        let hashes = cluster::dataset_hashes(c.dir.path());
        let (name, hash) = hashes
            .iter()
            .find(|(name, _)| name.starts_with("train-images"))
            .unwrap();
        let cached = cluster::files_named(&c.work_dir("w1"), hash);
        assert_eq!(
            cached.len(),
            1,
            "{name} ({hash}) cached once by its hash in {:?}",
            c.work_dir("w1")
        );
        let mut bytes = std::fs::read(&cached[0]).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&cached[0], &bytes).unwrap();

        c.start_worker("w1");
        c.check_ended(id, 2, 2).await;
        assert!(
            c.worker_log("w1").contains("does not match its SHA-256"),
            "the damaged file was not refused:\n{}",
            c.worker_log("w1")
        );
        let cached = cluster::files_named(&c.work_dir("w1"), hash);
        assert_eq!(cached.len(), 1, "{cached:?}");
        let bytes = std::fs::read(&cached[0]).unwrap();
        let again: String = {
            use sha2::{Digest, Sha256};
            Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        assert_eq!(&again, hash, "the damaged file was downloaded again");
        // Both trials trained on real digits.
        for t in c.trials(id).await {
            let acc = t["val_accuracy"].as_f64().unwrap();
            assert!(acc > 0.5, "{t}");
        }
    });
}

/// The worker token speaks only the worker protocol: every API route
/// answers 403 to it; the API token may do everything.
#[test]
fn the_worker_token_is_refused_on_api_routes() {
    on_hosts(async |hosts| {
        let mut c = Cluster::new(hosts, "");
        c.start_server().await;
        let id = c.submit(&sweep(1, 1)).await;
        let api_routes = [
            ("GET", "/v1/sweeps".to_string()),
            ("POST", "/v1/sweeps".to_string()),
            ("GET", format!("/v1/sweeps/{id}")),
            ("GET", format!("/v1/sweeps/{id}/trials")),
            ("GET", format!("/v1/sweeps/{id}/events")),
            ("POST", format!("/v1/sweeps/{id}/cancel")),
            ("GET", "/v1/datasets".to_string()),
            ("GET", "/metrics".to_string()),
        ];
        for (method, path) in &api_routes {
            let method: reqwest::Method = method.parse().unwrap();
            let r = c
                .worker
                .request(method.clone(), format!("{}{path}", c.url))
                .header("content-type", "application/yaml")
                .body(sweep(1, 1))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "{method} {path} with the worker token");
        }
        let register = serde_json::json!({
            "host": "client", "device": "cpu", "slots": 1, "threads": 1,
            "memory_bytes": 1u64 << 30, "protocol": 1
        });
        let url = format!("{}/v1/worker/register", c.url);
        let bare = reqwest::Client::new();
        let r = bare.post(&url).json(&register).send().await.unwrap();
        assert_eq!(r.status(), 401, "no token");
        for client in [&c.worker, &c.api] {
            let r = client.post(&url).json(&register).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["protocol"], 1, "{body}");
        }
        // The sweep was not cancelled by the worker token.
        let s = c.get(&format!("/v1/sweeps/{id}")).await;
        assert_eq!(s["state"], "running", "{s}");
    });
}

/// A PostgreSQL server on host `db` (`scripts/postgres.sh`, listening on
/// that host's address), stopped when dropped.
struct DbHost {
    dir: tempfile::TempDir,
    url: String,
}

const POSTGRES_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres.sh");

impl DbHost {
    fn start(hosts: &Hosts) -> DbHost {
        let dir = tempfile::tempdir().unwrap();
        // The server runs as the `postgres` user, which must reach its folder.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let addr = hosts.host("db").addr.to_string();
        let mut start = Command::new("bash");
        start
            .arg(POSTGRES_SH)
            .arg("start")
            .arg(dir.path().join("pg"))
            .args(["--fast", "--listen", &addr]);
        let out = hosts.run_in("db", &start).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "postgres.sh start: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = stdout.lines().last().unwrap().to_string();
        DbHost { dir, url }
    }
}

impl Drop for DbHost {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(POSTGRES_SH)
            .arg("stop")
            .arg(self.dir.path().join("pg"))
            .status();
    }
}

/// Two server replicas on one PostgreSQL database (on a host of its own),
/// a worker on each (given both URLs, its own first), and a kill loop that kill -9s either replica
/// or either worker at random and starts it again, until the sweep ends:
/// the invariants of tests/crashes.rs hold, the periodic work moves to the
/// replica left (a killed worker's trial is taken back whichever replica
/// died), and an SSE client that leaves one replica for the other every
/// few events, and whenever its replica dies, sees every event once.
#[test]
fn replicas_on_postgres_lose_nothing_to_a_kill_loop_and_streams_switch_replica() {
    if crate::common::on_postgres() {
        eprintln!("replicas on PostgreSQL: run in the default pass, which starts its own database");
        return;
    }
    const TRIALS: usize = 6;
    const EPOCHS: i64 = 40;
    let Some(hosts) = Hosts::new(&["db", "r1", "r2", "w1", "w2", "client"]) else {
        return;
    };
    let db = DbHost::start(&hosts);
    let hosts = &hosts;
    let url = db.url.clone();
    hosts.block_on_in("client", move || async move {
        // Random kills may hit one trial's workers again and again: each
        // costs an attempt, and the trial must not run out of them.
        let extra = "lease_seconds = 3\nmax_attempts = 100";
        let mut r1 = Cluster::on(hosts, "r1", Some(&url), extra);
        let mut r2 = Cluster::on(hosts, "r2", Some(&url), extra);
        // Started together, on an empty database: they migrate once.
        tokio::join!(r1.start_server(), r2.start_server());
        // Each worker knows both replicas, its own first, and goes on with
        // the other while its own is down.
        let w1_servers = format!("{},{}", r1.url, r2.url);
        let w2_servers = format!("{},{}", r2.url, r1.url);
        r1.start_worker_with("w1", &w1_servers);
        r2.start_worker_with("w2", &w2_servers);
        let id = r1.submit(&sweep(TRIALS, EPOCHS)).await;
        let follower = tokio::spawn(follow_across(
            r2.api.clone(),
            vec![r2.url.clone(), r1.url.clone()],
            id,
            Some(7),
        ));
        let mut rng = rand::rng();
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut kills = Vec::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "the sweep never ended\n{}{}",
                r1.logs(),
                r2.logs()
            );
            let pause = rand::Rng::random_range(&mut rng, 1500..4000);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let state = match r1.try_get(&format!("/v1/sweeps/{id}")).await {
                Some(s) => s,
                None => r2.get(&format!("/v1/sweeps/{id}")).await,
            };
            if state["state"] != "running" {
                break;
            }
            let victim = rand::Rng::random_range(&mut rng, 0..4);
            match victim {
                0 => {
                    r1.kill_server();
                    r1.start_server().await;
                }
                1 => {
                    r2.kill_server();
                    r2.start_server().await;
                }
                2 => {
                    r1.kill_worker("w1");
                    r1.start_worker_with("w1", &w1_servers);
                }
                _ => {
                    r2.kill_worker("w2");
                    r2.start_worker_with("w2", &w2_servers);
                }
            }
            kills.push(["r1", "r2", "w1", "w2"][victim]);
        }
        eprintln!("kill loop: {} kills ({kills:?})", kills.len());
        assert!(
            !kills.is_empty(),
            "the sweep ended before anything was killed"
        );
        let events = r1.check_ended(id, TRIALS, EPOCHS).await;
        let followed = follower.await.unwrap();
        check_followed(&followed, &events);
        // Both replicas read the same log.
        assert_eq!(r2.events(id).await.len(), events.len());
        assert!(r1.server_runs() && r2.server_runs());
    });
}
