//! Taking trials back, against any `Backend`: expired leases, stopped
//! workers, graceful hand-backs, time limits, and a resumed attempt's rewind.
use super::{report, Fixture, LEASE_MS};
use crate::state::TrialState;
use crate::store::{Backend, Verdict};
use serde_json::json;
use std::time::{Duration, Instant};

/// A lease already expired when it is granted.
const EXPIRED: i64 = -1_000;

pub async fn an_expired_lease_is_taken_back_and_counted(store: &impl Backend) {
    let id = Fixture::new(2).create(store).await;
    let expired = store.claim("w", EXPIRED).await.unwrap().unwrap();
    let live = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    assert_eq!(store.reap_expired_leases(3).await.unwrap(), 1);
    let trial = store.trial(expired.trial_id).await.unwrap().unwrap();
    assert_eq!((trial.state, trial.worker), (TrialState::Queued, None));
    let other = store.trial(live.trial_id).await.unwrap().unwrap();
    assert_eq!(other.state, TrialState::Running, "a live lease stays");
    let requeued = store.events(id, 0, 100).await.unwrap().pop().unwrap();
    assert_eq!(requeued.kind, "trial_requeued");
    assert_eq!(requeued.data["failures"], 1);
    assert_eq!(requeued.data["reason"], "the lease expired");
    // Claimed again, it is its second attempt.
    let again = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    assert_eq!((again.trial_id, again.attempt), (expired.trial_id, 2));
}

pub async fn attempts_lost_up_to_max_attempts_fail_the_trial(store: &impl Backend) {
    let id = Fixture::new(1).create(store).await;
    for _ in 0..2 {
        store.claim("w", EXPIRED).await.unwrap().unwrap();
        assert_eq!(store.reap_expired_leases(2).await.unwrap(), 1);
    }
    let trial = store.trials(id).await.unwrap().pop().unwrap();
    assert_eq!((trial.state, trial.attempt), (TrialState::Failed, 2));
    let error = trial.error.unwrap();
    assert!(error.contains("2 of 2 attempts lost"), "{error}");
    assert!(store.claim("w", LEASE_MS).await.unwrap().is_none());
}

pub async fn a_stopped_workers_trials_are_taken_back(store: &impl Backend) {
    Fixture::new(4).create(store).await;
    store.claim("a", LEASE_MS).await.unwrap().unwrap();
    store.claim("a", LEASE_MS).await.unwrap().unwrap();
    let b = store.claim("local.b", LEASE_MS).await.unwrap().unwrap();
    assert_eq!(store.take_back_from("a", 3).await.unwrap(), 2);
    assert_eq!(
        store.trial_state(b.trial_id).await.unwrap(),
        Some(TrialState::Running)
    );
    let remote = store.claim("remote-b", LEASE_MS).await.unwrap().unwrap();
    // A stopped server's own workers died with it; a remote one's lease decides.
    assert_eq!(store.take_back_local(3).await.unwrap(), 1);
    assert_eq!(
        store.trial_state(remote.trial_id).await.unwrap(),
        Some(TrialState::Running)
    );
    assert_eq!(
        store.trial_state(b.trial_id).await.unwrap(),
        Some(TrialState::Queued)
    );
}

pub async fn a_handed_back_trial_costs_no_attempt(store: &impl Backend) {
    let id = Fixture::new(1).create(store).await;
    let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    store.hand_back(&claim, "w").await.unwrap();
    // Two more losses at max_attempts 2 would fail it had the hand-back counted.
    store.claim("w", EXPIRED).await.unwrap().unwrap();
    store.reap_expired_leases(2).await.unwrap();
    let trial = store.trials(id).await.unwrap().pop().unwrap();
    assert_eq!(trial.state, TrialState::Queued, "{trial:?}");
    let kinds: Vec<String> = store
        .events(id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "trial_requeued").count(),
        2,
        "{kinds:?}"
    );
}

pub async fn a_trial_past_its_time_limit_fails(store: &impl Backend) {
    let fixture = Fixture {
        spec: json!({"method": "grid", "trial_timeout_minutes": 0}),
        ..Fixture::new(1)
    };
    let id = fixture.create(store).await;
    let untimed = Fixture::new(1).create(store).await;
    let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    let other = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    assert_eq!(claim.sweep_id, id);
    // A limit of 0 minutes is past as soon as the clock moves on from the claim.
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.enforce_trial_timeouts().await.unwrap() == 0 {
        assert!(Instant::now() < deadline, "the time limit never applied");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let trial = store.trial(claim.trial_id).await.unwrap().unwrap();
    assert_eq!(
        (trial.state, trial.error.as_deref()),
        (TrialState::Failed, Some("timeout"))
    );
    assert_eq!(
        store.trial_state(other.trial_id).await.unwrap(),
        Some(TrialState::Running)
    );
    assert_eq!(other.sweep_id, untimed);
}

pub async fn rewind_keeps_reports_up_to_the_checkpoint(store: &impl Backend) {
    let fixture = Fixture {
        epochs: 3,
        ..Fixture::new(1)
    };
    fixture.create(store).await;
    let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    let none = Verdict::default();
    for epoch in 1..=3 {
        let r = report(epoch, 0.1 * epoch as f64);
        store
            .report_epoch(&claim, "w", LEASE_MS, &r, &[], &none)
            .await
            .unwrap();
    }
    store.take_back_from("w", 3).await.unwrap();
    let again = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    assert_eq!(again.epochs_done, 3);
    let kept = store.rewind(&again, "w", 1).await.unwrap();
    assert_eq!(kept, [report(1, 0.1)]);
    let trial = store.trial(again.trial_id).await.unwrap().unwrap();
    assert_eq!((trial.epochs_done, trial.val_accuracy), (1, Some(0.1)));
}
