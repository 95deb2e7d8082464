//! The worker protocol spoken by hand against a real server with no
//! workers of its own: roles of the tokens, registration, a claim of
//! several trials with the server's sampling, fenced writes refused for a
//! stale attempt, the server's decision on each report, checkpoints up and
//! down with their digests, dataset files by manifest, and bad input.
use crate::common::{spawn_app, TestApp};
use hypersweep::config::ApiToken;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

const API: &str = "api-token-0123456789abcdef";
const WORKER: &str = "worker-token-0123456789abcdef";

async fn app() -> TestApp {
    spawn_app(0, |c| {
        c.api_token = Some(ApiToken::new(API).unwrap());
        c.worker_token = Some(ApiToken::new(WORKER).unwrap());
        c.lease_seconds = 30;
    })
    .await
}

/// A client of the worker protocol with the worker token.
struct Worker {
    http: reqwest::Client,
    url: String,
    id: String,
}

impl Worker {
    async fn register(app: &TestApp, id: &str) -> Worker {
        let http = reqwest::Client::new();
        let mut w = Worker {
            http,
            url: app.url.clone(),
            id: String::new(),
        };
        let (status, body) = w
            .post(
                "/v1/worker/register",
                json!({"id": id, "host": "test-host",
                "device": "cpu", "slots": 1, "threads": 1, "memory_bytes": 0, "protocol": 1}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["lease_ms"], 30_000, "{body}");
        w.id = body["worker_id"].as_str().unwrap().to_string();
        w
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(WORKER)
            .header("x-hypersweep-worker", &self.id)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn claim(&self, max: u32, wait_ms: u64) -> Vec<Value> {
        let (status, body) = self
            .post(
                "/v1/worker/claim",
                json!({"worker_id": self.id, "max": max, "wait_ms": wait_ms}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["trials"].as_array().unwrap().clone()
    }

    async fn on(&self, a: &Value, route: &str, body: Value) -> (u16, Value) {
        let path = format!(
            "/v1/worker/trials/{}/attempts/{}/{route}",
            a["trial_id"], a["attempt"]
        );
        self.post(&path, body).await
    }

    async fn report(&self, a: &Value, epoch: i64, accuracy: f64) -> (u16, Value) {
        let report = json!({"report": {"epoch": epoch, "train_loss": 1.0 - accuracy,
            "val_loss": 1.0 - accuracy, "val_accuracy": accuracy, "seconds": 0.5},
            "samples": [{"epoch": epoch, "step": epoch * 10, "loss": 0.5}]});
        self.on(a, "report", report).await
    }
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_token_speaks_only_the_worker_protocol() {
    let app = app().await;
    let http = reqwest::Client::new();
    for path in ["/v1/sweeps", "/v1/datasets", "/metrics"] {
        let r = http
            .get(format!("{}{path}", app.url))
            .bearer_auth(WORKER)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "forbidden", "{body}");
    }
    let submitted = http
        .post(format!("{}/v1/sweeps", app.url))
        .bearer_auth(WORKER)
        .header("content-type", "application/yaml")
        .body("parameters: {epochs: {value: 1}}")
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 403);
    // No token, or a wrong one: 401 on the protocol too.
    let register = json!({"host": "h", "device": "cpu", "slots": 1, "threads": 1, "protocol": 1});
    for token in [None, Some("wrong-token-0123456789")] {
        let mut r = http
            .post(format!("{}/v1/worker/register", app.url))
            .json(&register);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        assert_eq!(r.send().await.unwrap().status(), 401, "{token:?}");
    }
    // The API token can do everything, the protocol included.
    let r = http
        .post(format!("{}/v1/worker/register", app.url))
        .bearer_auth(API)
        .json(&register)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["worker_id"].as_str().unwrap().starts_with("h-"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_claim_takes_several_trials_and_the_server_decides_each_report() {
    let app = app().await;
    let w = Worker::register(&app, "hand-1").await;
    // Nothing queued: a long poll waits, then answers empty.
    let started = Instant::now();
    assert!(w.claim(4, 400).await.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(400));
    let id = app
        .submit(
            "method: bayes\nmax_trials: 3\nmetric: {name: val_accuracy, goal: maximize}\n\
             early_terminate: {type: hyperband, min_iter: 1, eta: 2}\n\
             parameters:\n  epochs: {value: 4}\n  learning_rate: {min: 0.001, max: 0.1, distribution: log_uniform_values}\n",
        )
        .await;
    let trials = w.claim(8, 0).await;
    assert_eq!(trials.len(), 3, "every queued trial in one claim");
    for a in &trials {
        assert_eq!(a["sweep_id"], id);
        assert_eq!(a["attempt"], 1);
        assert_eq!(a["dataset"]["name"], "mnist-10k");
        assert_eq!(a["dataset"]["builtin"], true);
        assert!(a["checkpoint"].is_null());
        // Sampled by the server at the claim, and recorded there.
        let lr = a["params"]["learning_rate"].as_f64().unwrap();
        assert!((0.001..=0.1).contains(&lr), "{a}");
        let (_, trial) = app.get(&format!("/v1/trials/{}", a["trial_id"])).await;
        assert_eq!(
            trial["params"]["learning_rate"],
            a["params"]["learning_rate"]
        );
        assert_eq!(trial["state"], "running");
    }
    // The registry shows the worker with what it holds.
    let (status, listed) = app.get("/v1/workers").await;
    assert_eq!(status, 200, "{listed}");
    let me = listed["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "hand-1")
        .cloned()
        .unwrap_or_else(|| panic!("hand-1 is not listed: {listed}"));
    assert_eq!(me["running"], 3, "{me}");
    assert_eq!(
        (me["host"].as_str(), me["device"].as_str()),
        (Some("test-host"), Some("cpu"))
    );
    assert!(me["last_seen_ms"].as_i64().unwrap() >= me["registered_ms"].as_i64().unwrap());
    // The server judges: at the first rung (epoch 1, eta 2) the worst of
    // three is stopped once the others have reported.
    let (s0, d0) = w.report(&trials[0], 1, 0.9).await;
    let (s1, d1) = w.report(&trials[1], 1, 0.95).await;
    let (s2, d2) = w.report(&trials[2], 1, 0.1).await;
    assert_eq!((s0, s1, s2), (200, 200, 200), "{d0} {d1} {d2}");
    assert_eq!(d0["decision"], "continue");
    assert_eq!(d2["decision"], "stop", "the worst trial at the rung: {d2}");
    let (_, pruned) = app
        .get(&format!("/v1/trials/{}", trials[2]["trial_id"]))
        .await;
    assert_eq!(pruned["state"], "pruned", "{pruned}");
    // The pruned trial's attempt is over: every later write is refused.
    let (status, body) = w.report(&trials[2], 2, 0.2).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "lease_lost");
    // A report delivered twice (its answer was lost) is stored once.
    let (status, again) = w.report(&trials[0], 1, 0.9).await;
    assert_eq!(
        (status, again["decision"].as_str()),
        (200, Some("continue"))
    );
    let (_, detail) = app
        .get(&format!("/v1/trials/{}", trials[0]["trial_id"]))
        .await;
    assert_eq!(detail["epochs"].as_array().unwrap().len(), 1, "{detail}");
    // Another worker cannot write for an attempt it does not hold.
    let thief = Worker::register(&app, "hand-2").await;
    let (status, body) = thief.report(&trials[0], 2, 0.95).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("lease_lost"))
    );
    // Finishing ends the trials; the sweep completes with its last.
    for (a, accuracy) in trials[..2].iter().zip([0.9, 0.95]) {
        for epoch in 2..=4 {
            let (status, body) = w.report(a, epoch, accuracy).await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, body) = w
            .on(
                a,
                "finish",
                json!({"outcome": "completed", "test_loss": 0.3, "test_accuracy": 0.9}),
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }
    let sweep = app.wait_for_sweep(id, Duration::from_secs(10)).await;
    assert_eq!(sweep["state"], "completed", "{sweep}");
    assert_eq!(sweep["trials"]["completed"], 2, "{sweep}");
    assert_eq!(sweep["trials"]["pruned"], 1, "{sweep}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_go_up_and_down_by_digest_and_datasets_by_manifest() {
    let app = app().await;
    let w = Worker::register(&app, "hand-3").await;
    let id = app
        .submit("dataset: fashion-mnist\nmethod: grid\nparameters:\n  epochs: {value: 3}\n")
        .await;
    let a = w.claim(1, 2000).await.pop().expect("a trial");
    // The manifest: every file with the digest of its bytes on the server.
    let files = a["dataset"]["files"].as_array().unwrap();
    assert_eq!(a["dataset"]["builtin"], false);
    assert_eq!(files.len(), 4, "{a}");
    let folder = crate::common::shared_data().join("fashion-mnist");
    for f in files {
        let on_disk = std::fs::read(folder.join(f["name"].as_str().unwrap())).unwrap();
        assert_eq!(f["sha256"], sha(&on_disk));
        assert_eq!(f["bytes"], on_disk.len());
        let served = w
            .http
            .get(format!(
                "{}/v1/worker/files/{}",
                app.url,
                f["sha256"].as_str().unwrap()
            ))
            .bearer_auth(WORKER)
            .send()
            .await
            .unwrap();
        assert_eq!(served.status(), 200);
        assert_eq!(served.bytes().await.unwrap().as_ref(), on_disk.as_slice());
    }
    let unknown = w
        .http
        .get(format!("{}/v1/worker/files/{}", app.url, "0".repeat(64)))
        .bearer_auth(WORKER)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // Upload: a body whose digest is not the announced one is refused.
    let path = format!(
        "{}/v1/worker/trials/{}/attempts/1/checkpoint",
        app.url, a["trial_id"]
    );
    let bytes = b"weights after epoch 1".to_vec();
    let put = |digest: String, body: Vec<u8>| {
        w.http
            .put(&path)
            .bearer_auth(WORKER)
            .header("x-hypersweep-worker", &w.id)
            .header("x-checkpoint-sha256", digest)
            .body(body)
            .send()
    };
    let wrong = put(sha(b"something else"), bytes.clone()).await.unwrap();
    assert_eq!(wrong.status(), 400);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["field"], "x-checkpoint-sha256", "{body}");
    assert_eq!(w.report(&a, 1, 0.5).await.0, 200);
    let ok = put(sha(&bytes), bytes.clone()).await.unwrap();
    assert_eq!(ok.status(), 204);
    // The server takes the trial back (its worker is gone): the next
    // attempt is offered the checkpoint and downloads exactly those bytes.
    let (_, trial) = app.get(&format!("/v1/trials/{}", a["trial_id"])).await;
    assert_eq!(trial["state"], "running");
    let (status, _) = w.on(&a, "hand-back", json!(null)).await;
    assert_eq!(status, 204);
    let again = w.claim(1, 2000).await.pop().expect("the trial again");
    assert_eq!(again["trial_id"], a["trial_id"]);
    assert_eq!(again["attempt"], 2);
    assert_eq!(again["epochs_done"], 1);
    assert_eq!(again["checkpoint"]["sha256"], sha(&bytes), "{again}");
    assert_eq!(again["checkpoint"]["attempt"], 1);
    let down = w
        .http
        .get(format!(
            "{}/v1/worker/trials/{}/attempts/2/checkpoint",
            app.url, a["trial_id"]
        ))
        .bearer_auth(WORKER)
        .header("x-hypersweep-worker", &w.id)
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 200);
    assert_eq!(down.headers()["x-checkpoint-sha256"], sha(&bytes).as_str());
    assert_eq!(down.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // The stale attempt may no longer upload.
    let stale = put(sha(&bytes), bytes.clone()).await.unwrap();
    assert_eq!(stale.status(), 409);
    let (status, _) = w
        .on(
            &again,
            "finish",
            json!({"outcome": "failed", "reason": "a test"}),
        )
        .await;
    assert_eq!(status, 204);
    let sweep = app.wait_for_sweep(id, Duration::from_secs(10)).await;
    assert_eq!(sweep["trials"]["failed"], 1, "{sweep}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_protocol_input_is_a_clear_4xx_and_changes_nothing() {
    let app = app().await;
    let w = Worker::register(&app, "hand-4").await;
    let cases = [
        (
            "/v1/worker/register",
            json!({"host": "h", "device": "cpu", "slots": 1, "threads": 1, "protocol": 9}),
            400,
            "protocol",
        ),
        (
            "/v1/worker/register",
            json!({"id": "../x", "host": "h", "device": "cpu", "slots": 1, "threads": 1, "protocol": 1}),
            400,
            "id",
        ),
        (
            "/v1/worker/register",
            json!({"host": "h", "device": "cpu", "slots": 0, "threads": 1, "protocol": 1}),
            400,
            "slots",
        ),
        ("/v1/worker/register", json!({"host": "h"}), 400, "device"),
        (
            "/v1/worker/claim",
            json!({"worker_id": w.id, "max": 0}),
            400,
            "max",
        ),
        (
            "/v1/worker/claim",
            json!({"worker_id": w.id, "wait_ms": 3_600_000}),
            400,
            "wait_ms",
        ),
        (
            "/v1/worker/claim",
            json!({"worker_id": "never-registered"}),
            409,
            "register",
        ),
        (
            "/v1/worker/trials/1/attempts/1/report",
            json!({"report": {}}),
            400,
            "epoch",
        ),
        (
            "/v1/worker/trials/x/attempts/1/renew",
            json!(null),
            404,
            "trial",
        ),
        (
            "/v1/worker/trials/999/attempts/1/renew",
            json!(null),
            409,
            "lease",
        ),
    ];
    for (path, body, status, says) in cases {
        let (got, answer) = w.post(path, body.clone()).await;
        assert_eq!(got, status, "{path} {body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(says), "{path} {body}: {answer}");
    }
    let (_, sweeps) = app.get("/v1/sweeps").await;
    assert_eq!(sweeps["sweeps"].as_array().unwrap().len(), 0);
    app.stop().await;
}

/// Two replicas on one PostgreSQL database: a checkpoint uploaded to one is
/// served by the other, with each blob store (the database's, and a folder
/// both mount). Runs in the default pass on a scratch database of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_serves_a_checkpoint_another_replica_stored() {
    use hypersweep::blobs::BlobPlace;
    if crate::common::on_postgres() {
        eprintln!("replicas: run in the default pass, on a database of their own");
        return;
    }
    let shared = tempfile::tempdir().unwrap();
    for place in [BlobPlace::Database, BlobPlace::Folder] {
        let database = hypersweep::store::scratch::database().await.unwrap();
        let replica = |name: &'static str| {
            let database = database.clone();
            let folder = shared.path().join(format!("{place:?}"));
            spawn_app(0, move |c| {
                c.api_token = Some(ApiToken::new(API).unwrap());
                c.worker_token = Some(ApiToken::new(WORKER).unwrap());
                c.lease_seconds = 30;
                c.database = database;
                c.blob_store = Some(place);
                // The folder both mount, for the folder store; each keeps its
                // own working files beside it.
                c.checkpoint_dir = Some(match place {
                    BlobPlace::Folder => folder,
                    BlobPlace::Database => folder.join(name),
                });
            })
        };
        let (r1, r2) = (replica("r1").await, replica("r2").await);
        let mut w = Worker::register(&r1, "hand-replicas").await;
        r1.submit("method: grid\nparameters:\n  epochs: {value: 3}\n")
            .await;
        let a = w.claim(1, 2000).await.pop().expect("a trial");
        assert_eq!(w.report(&a, 1, 0.5).await.0, 200);
        let bytes = format!("weights of {place:?}").into_bytes();
        let up = w
            .http
            .put(format!(
                "{}/v1/worker/trials/{}/attempts/1/checkpoint",
                r1.url, a["trial_id"]
            ))
            .bearer_auth(WORKER)
            .header("x-hypersweep-worker", &w.id)
            .header("x-checkpoint-sha256", sha(&bytes))
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(up.status(), 204, "{place:?}");
        assert_eq!(w.on(&a, "hand-back", json!(null)).await.0, 204);
        // The same worker goes on through the other replica.
        w.url = r2.url.clone();
        let again = w.claim(1, 2000).await.pop().expect("the trial again");
        assert_eq!(again["trial_id"], a["trial_id"]);
        assert_eq!(again["checkpoint"]["sha256"], sha(&bytes), "{again}");
        let down = w
            .http
            .get(format!(
                "{}/v1/worker/trials/{}/attempts/2/checkpoint",
                r2.url, a["trial_id"]
            ))
            .bearer_auth(WORKER)
            .header("x-hypersweep-worker", &w.id)
            .send()
            .await
            .unwrap();
        assert_eq!(down.status(), 200, "{place:?}");
        assert_eq!(down.headers()["x-checkpoint-sha256"], sha(&bytes).as_str());
        assert_eq!(down.bytes().await.unwrap().as_ref(), bytes.as_slice());
        r1.stop().await;
        r2.stop().await;
    }
}
