//! Fused trials end to end: a sweep with `fuse: N` has its trials of one
//! shape trained by a worker as one group, each member still a trial in
//! every way the API shows.
use crate::common::process::signal;
use crate::common::{spawn_app, TestApp};
use crate::leases::{epochs_of, pid_of, running_with_epochs};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

const MINUTES: Duration = Duration::from_secs(60);

/// A JSON array of trial ids, as a set.
fn ids(array: &Value) -> BTreeSet<i64> {
    let array = array
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {array}"));
    array.iter().map(|m| m.as_i64().unwrap()).collect()
}

/// Per trial id, the members of the groups it was trained in (its
/// `trial_grouped` events), in order.
fn groups(events: &[Value]) -> HashMap<i64, Vec<BTreeSet<i64>>> {
    let mut groups: HashMap<i64, Vec<BTreeSet<i64>>> = HashMap::new();
    for e in events.iter().filter(|e| e["kind"] == "trial_grouped") {
        let members = ids(&e["data"]["members"]);
        assert_eq!(
            e["data"]["size"].as_u64(),
            Some(members.len() as u64),
            "{e}"
        );
        let trial = e["trial_id"].as_i64().unwrap();
        assert!(members.contains(&trial), "{e}");
        groups.entry(trial).or_default().push(members);
    }
    groups
}

async fn trial_details(app: &TestApp, id: i64) -> Vec<Value> {
    let (_, body) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    let mut details = Vec::new();
    for t in body["trials"].as_array().unwrap() {
        let (_, detail) = app.get(&format!("/v1/trials/{}", t["id"])).await;
        details.push(detail);
    }
    details
}

/// One worker, eight trials of one shape with `fuse: 4`: a group of the
/// first four, the others joining it as members leave (or a group of their
/// own once it has ended). The hopeless learning rates meet the rung the
/// slow ones set and are pruned out of their group after one epoch, while
/// the best (0.05 and 0.04 beat every rate of the first four, whatever
/// order the members report in) train on; every trial ends completed or pruned after one attempt, with
/// its own reports, and `best` is a completed trial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fused_sweep_trains_groups_and_hyperband_prunes_members() {
    let app = spawn_app(1, |_| {}).await;
    let id = app
        .submit(
            "method: grid
fuse: 4
early_terminate: {type: hyperband, min_iter: 1, eta: 3}
parameters:
  learning_rate: {values: [0.001, 0.0015, 0.002, 0.0025, 0.05, 0.000001, 0.000002, 0.04]}
  dropout: {values: [0.2]}
  epochs: {value: 3}
  batch_size: {value: 128}
",
        )
        .await;
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    assert_eq!(sweep["state"], "completed", "{sweep}");
    let counts = &sweep["trials"];
    assert_eq!(
        counts["completed"].as_i64().unwrap() + counts["pruned"].as_i64().unwrap(),
        8,
        "{sweep}"
    );
    let events = app.events(id).await;
    let groups = groups(&events);
    let details = trial_details(&app, id).await;
    let mut pruned_out_of_running = 0;
    for d in &details {
        let trial = d["id"].as_i64().unwrap();
        assert_eq!(d["attempt"], 1, "{d}");
        let epochs = epochs_of(d);
        let expected: Vec<i64> = (1..=epochs.len() as i64).collect();
        assert_eq!(epochs, expected, "each epoch reported once: {d}");
        // Trained in one group, which the trial shows: one of the first
        // four, or one that joined the group as pruned members left.
        let of = &groups[&trial];
        assert_eq!(of.len(), 1, "{of:?}");
        if d["number"].as_i64().unwrap() < 4 {
            assert_eq!(of[0].len(), 4, "{of:?}");
        } else {
            assert!(of[0].len() >= 2, "{of:?}");
        }
        assert_eq!(d["group"]["size"], of[0].len(), "{d}");
        assert_eq!(ids(&d["group"]["members"]), of[0], "{d}");
        if d["state"] == "pruned" {
            assert!(epochs.len() < 3, "{d}");
            // Its group trained on without it.
            let longest = details
                .iter()
                .filter(|o| of[0].contains(&o["id"].as_i64().unwrap()))
                .map(|o| epochs_of(o).len())
                .max()
                .unwrap();
            if longest > epochs.len() {
                pruned_out_of_running += 1;
            }
        } else {
            assert_eq!(d["state"], "completed", "{d}");
            assert_eq!(epochs.len(), 3, "{d}");
            let last = d["epochs"].as_array().unwrap().last().unwrap();
            assert!(last["val_accuracy"].as_f64().unwrap() > 0.5, "{d}");
        }
    }
    assert!(pruned_out_of_running >= 1, "{details:#?}");
    let (_, best) = app.get(&format!("/v1/sweeps/{id}/best")).await;
    assert_eq!(best["trial"]["state"], "completed", "{best}");
    assert!(best["test"]["accuracy"].as_f64().unwrap() > 0.5, "{best}");
    app.stop().await;
}

/// A worker killed -9 in the middle of a group's third epoch: each member
/// loses one attempt, and each resumes from its own checkpoint on the
/// other worker, its reports counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_group_costs_each_member_one_attempt_and_each_resumes() {
    // A long lease: the trials come back because the supervisor sees their
    // worker die.
    let app = spawn_app(2, |c| c.lease_seconds = 600).await;
    let id = app
        .submit(
            "method: grid
fuse: 4
parameters:
  learning_rate: {values: [0.01, 0.02, 0.03, 0.04]}
  weight_decay: {values: [0.0001]}
  epochs: {value: 20}
  batch_size: {value: 32}
",
        )
        .await;
    let victim = running_with_epochs(&app, id, 0, 2).await;
    signal(pid_of(&victim), libc::SIGKILL);
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    assert_eq!(sweep["state"], "completed", "{sweep}");
    assert_eq!(sweep["trials"]["completed"], 4, "{sweep}");
    let events = app.events(id).await;
    let groups = groups(&events);
    for d in trial_details(&app, id).await {
        let trial = d["id"].as_i64().unwrap();
        assert_eq!(d["attempt"], 2, "one attempt lost: {d}");
        assert_eq!(epochs_of(&d), (1..=20).collect::<Vec<_>>(), "{d}");
        let resumed: Vec<&Value> = events
            .iter()
            .filter(|e| e["kind"] == "trial_resumed" && e["trial_id"] == trial)
            .collect();
        assert_eq!(resumed.len(), 1, "{resumed:?}");
        assert!(
            resumed[0]["data"]["epoch"].as_i64().unwrap() >= 1,
            "{resumed:?}"
        );
        // In the group of four before the kill (after it, in whatever group
        // the requeued trials form as the other worker claims them).
        assert_eq!(groups[&trial][0].len(), 4, "{:?}", groups[&trial]);
    }
    app.stop().await;
}

/// Cancelling a sweep stops its running group within an epoch: every
/// member ends cancelled, none trains to its last epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stops_a_whole_group_within_an_epoch() {
    let app = spawn_app(1, |_| {}).await;
    let id = app
        .submit(
            "method: grid
fuse: 3
parameters:
  learning_rate: {values: [0.01, 0.02, 0.03]}
  epochs: {value: 20}
  batch_size: {value: 32}
",
        )
        .await;
    let running = running_with_epochs(&app, id, 0, 1).await;
    let at_cancel = running["epochs_done"].as_i64().unwrap();
    let (status, body) = app
        .post(&format!("/v1/sweeps/{id}/cancel"), "application/json", "")
        .await;
    assert_eq!(status, 200, "{body}");
    let sweep = app.wait_for_sweep(id, 2 * MINUTES).await;
    assert_eq!(sweep["state"], "cancelled", "{sweep}");
    for d in trial_details(&app, id).await {
        assert_eq!(d["state"], "cancelled", "{d}");
        // Stopped within an epoch of the cancel (one more may have been
        // in flight).
        assert!(
            epochs_of(&d).len() as i64 <= at_cancel + 2,
            "{d}, {at_cancel} epochs at the cancel"
        );
    }
    // The worker is free again: a new sweep trains.
    let next = app
        .submit("method: grid\nparameters:\n  epochs: {value: 1}\n  batch_size: {value: 128}\n")
        .await;
    let done = app.wait_for_sweep(next, 2 * MINUTES).await;
    assert_eq!(done["state"], "completed", "{done}");
    app.stop().await;
}

/// Members that finish early make room: queued trials of the sweep join
/// the running group at its next epoch boundary and train alongside the
/// members still in it, each completing once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_trials_join_a_running_group_as_members_leave() {
    let app = spawn_app(1, |_| {}).await;
    let id = app
        .submit(
            "method: grid
fuse: 4
parameters:
  epochs: {values: [1, 4]}
  learning_rate: {values: [0.01, 0.02]}
  dropout: {values: [0.0, 0.1]}
  batch_size: {value: 128}
",
        )
        .await;
    let sweep = app.wait_for_sweep(id, 5 * MINUTES).await;
    assert_eq!(sweep["state"], "completed", "{sweep}");
    assert_eq!(sweep["trials"]["completed"], 8, "{sweep}");
    let events = app.events(id).await;
    let joined: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "trial_grouped" && e["data"]["joined"].is_i64())
        .collect();
    assert!(!joined.is_empty(), "no trial joined a running group");
    // A joiner trained alongside the group it joined: its first report
    // comes before the last report of the trial it joined.
    let report_ids = |trial: &Value| -> Vec<i64> {
        events
            .iter()
            .filter(|e| e["kind"] == "epoch_report" && e["trial_id"] == *trial)
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };
    let alongside = joined.iter().any(|j| {
        let own = report_ids(&j["trial_id"]);
        let lead = report_ids(&j["data"]["joined"]);
        own.first() < lead.last()
    });
    assert!(alongside, "{joined:?}");
    for d in trial_details(&app, id).await {
        assert_eq!(d["attempt"], 1, "{d}");
        let epochs = d["params"]["epochs"].as_i64().unwrap();
        assert_eq!(epochs_of(&d), (1..=epochs).collect::<Vec<_>>(), "{d}");
    }
    app.stop().await;
}
