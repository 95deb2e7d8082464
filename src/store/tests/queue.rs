//! Claims, leases and reports, against any `Backend`.
use super::{report, Fixture, LEASE_MS};
use crate::metric::MetricName;
use crate::state::{SweepState, TrialState};
use crate::store::{Backend, BatchLoss, Finish, Reported, Verdict, WriteError};
use serde_json::json;

pub async fn claims_go_oldest_sweep_first_and_each_trial_once(store: &impl Backend) {
    let first = Fixture::new(2).create(store).await;
    let second = Fixture::new(1).create(store).await;
    let mut claimed = Vec::new();
    while let Some(claim) = store.claim("w", LEASE_MS).await.unwrap() {
        assert_eq!(claim.attempt, 1);
        assert_eq!(claim.epochs_done, 0);
        assert!(claim.params.is_some());
        claimed.push((claim.sweep_id, claim.number));
    }
    assert_eq!(claimed, [(first, 0), (first, 1), (second, 0)]);
    let trials = store.trials(first).await.unwrap();
    assert!(trials.iter().all(|t| t.state == TrialState::Running));
    assert!(trials.iter().all(|t| t.worker.as_deref() == Some("w")));
    let sweep = store.sweep(first).await.unwrap().unwrap();
    assert_eq!((sweep.trials.running, sweep.trials.total), (2, 2));
}

pub async fn max_parallel_bounds_the_running_trials(store: &impl Backend) {
    let fixture = Fixture {
        max_parallel: Some(1),
        ..Fixture::new(2)
    };
    let id = fixture.create(store).await;
    let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    assert!(store.claim("w", LEASE_MS).await.unwrap().is_none());
    let done = Finish::Failed {
        reason: "test".into(),
    };
    store.finish(&claim, "w", &done).await.unwrap();
    let next = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    assert_eq!((next.sweep_id, next.number), (id, 1));
}

pub async fn a_report_is_stored_and_renews_the_lease(store: &impl Backend) {
    let id = Fixture::new(1).create(store).await;
    let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    let samples = [BatchLoss {
        step: 1,
        epoch: 1,
        loss: 2.5,
    }];
    let verdict = Verdict {
        decision: Some((false, "above the median".into())),
        rung: Some(1),
        target_reached: false,
    };
    store
        .report_epoch(&claim, "w", LEASE_MS, &report(1, 0.5), &samples, &verdict)
        .await
        .unwrap();
    store.renew_lease(&claim, "w", LEASE_MS).await.unwrap();
    let detail = store.trial_detail(claim.trial_id).await.unwrap().unwrap();
    assert_eq!(detail.trial.epochs_done, 1);
    assert_eq!(detail.trial.val_accuracy, Some(0.5));
    assert_eq!(detail.epochs.len(), 1);
    assert_eq!(detail.epochs[0].report, report(1, 0.5));
    assert_eq!(detail.epochs[0].decision.as_deref(), Some("continue"));
    assert_eq!(detail.epochs[0].rung, Some(1));
    assert_eq!(detail.batch_losses, samples);
    let curves = store.curves(id, MetricName::ValAccuracy, 10).await.unwrap();
    assert_eq!(curves, [(claim.trial_id, vec![0.5])]);
}

pub async fn a_report_delivered_twice_is_stored_once(store: &impl Backend) {
    Fixture::new(1).create(store).await;
    let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    let samples = [BatchLoss {
        step: 1,
        epoch: 1,
        loss: 2.5,
    }];
    let none = Verdict::default();
    let first = store
        .report_epoch(&claim, "w", LEASE_MS, &report(1, 0.5), &samples, &none)
        .await
        .unwrap();
    assert_eq!(first, Reported::Stored);
    // The retry of a report whose answer was lost, with other figures (a
    // worker never changes them; the stored ones stay).
    let again = store
        .report_epoch(&claim, "w", LEASE_MS, &report(1, 0.9), &samples, &none)
        .await
        .unwrap();
    assert_eq!(again, Reported::DeliveredBefore);
    let detail = store.trial_detail(claim.trial_id).await.unwrap().unwrap();
    assert_eq!(detail.epochs.len(), 1);
    assert_eq!(detail.epochs[0].report, report(1, 0.5));
    assert_eq!(detail.trial.val_accuracy, Some(0.5));
    assert_eq!(detail.batch_losses, samples);
}

pub async fn a_pruning_verdict_ends_the_trial_pruned(store: &impl Backend) {
    let id = Fixture::new(1).create(store).await;
    let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    let verdict = Verdict {
        decision: Some((true, "below the median".into())),
        ..Verdict::default()
    };
    store
        .report_epoch(&claim, "w", LEASE_MS, &report(1, 0.3), &[], &verdict)
        .await
        .unwrap();
    let trial = store.trial(claim.trial_id).await.unwrap().unwrap();
    assert_eq!(trial.state, TrialState::Pruned);
    assert_eq!(trial.error.as_deref(), Some("below the median"));
    let sweep = store.sweep(id).await.unwrap().unwrap();
    assert_eq!(sweep.state, SweepState::Completed);
    let history = store.history(id, MetricName::ValAccuracy).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].state, history[0].value),
        (TrialState::Pruned, Some(0.3))
    );
}

pub async fn a_finished_sweep_completes_with_its_best_trial(store: &impl Backend) {
    let id = Fixture::new(2).create(store).await;
    for accuracy in [0.6, 0.9] {
        let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
        let no_verdict = Verdict::default();
        store
            .report_epoch(
                &claim,
                "w",
                LEASE_MS,
                &report(1, accuracy),
                &[],
                &no_verdict,
            )
            .await
            .unwrap();
        let done = Finish::Completed {
            test_loss: 0.2,
            test_accuracy: accuracy,
        };
        store.finish(&claim, "w", &done).await.unwrap();
    }
    let sweep = store.sweep(id).await.unwrap().unwrap();
    assert_eq!(sweep.state, SweepState::Completed);
    assert_eq!(sweep.ended_by.as_deref(), Some("max_trials"));
    assert_eq!((sweep.trials.completed, sweep.trials.total), (2, 2));
    let best = store.best_trial(&sweep).await.unwrap().unwrap();
    assert_eq!((best.number, best.test_accuracy), (1, Some(0.9)));
    assert_eq!(
        store.trial_state(best.id).await.unwrap(),
        Some(TrialState::Completed)
    );
}

pub async fn a_lost_lease_refuses_every_write_and_writes_nothing(store: &impl Backend) {
    let id = Fixture::new(1).create(store).await;
    let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    assert_eq!(store.take_back_from("w", 3).await.unwrap(), 1);
    let lost = |r: Result<_, WriteError>| matches!(r, Err(WriteError::LeaseLost));
    let none = Verdict::default();
    assert!(lost(store.renew_lease(&claim, "w", LEASE_MS).await));
    assert!(lost(
        store
            .report_epoch(&claim, "w", LEASE_MS, &report(1, 0.5), &[], &none)
            .await
            .map(|_| ())
    ));
    assert!(lost(store.report_progress(&claim, "w", json!({})).await));
    assert!(lost(store.rewind(&claim, "w", 0).await.map(|_| ())));
    assert!(lost(store.hand_back(&claim, "w").await));
    assert!(lost(store.lose_attempt(&claim, "w", 3, "test").await));
    let params = claim.params.clone().unwrap();
    assert!(lost(store.assign_params(&claim, "w", &params).await));
    let done = Finish::Failed {
        reason: "late".into(),
    };
    assert!(lost(store.finish(&claim, "w", &done).await));
    let detail = store.trial_detail(claim.trial_id).await.unwrap().unwrap();
    assert_eq!(detail.trial.state, TrialState::Queued);
    assert!(
        detail.epochs.is_empty(),
        "nothing of a refused report is kept"
    );
    let kinds: Vec<String> = store
        .events(id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("trial_requeued"),
        "{kinds:?}"
    );
}

pub async fn a_new_attempt_fences_out_the_old_one(store: &impl Backend) {
    Fixture::new(1).create(store).await;
    let old = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    store.take_back_from("w", 3).await.unwrap();
    // The same worker name claims it again: only the attempt tells them apart.
    let new = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    assert_eq!((new.trial_id, new.attempt), (old.trial_id, 2));
    let none = Verdict::default();
    let stale = store
        .report_epoch(&old, "w", LEASE_MS, &report(1, 0.1), &[], &none)
        .await;
    assert!(matches!(stale, Err(WriteError::LeaseLost)));
    store
        .report_epoch(&new, "w", LEASE_MS, &report(1, 0.7), &[], &none)
        .await
        .unwrap();
    let trial = store.trial(new.trial_id).await.unwrap().unwrap();
    assert_eq!((trial.attempt, trial.val_accuracy), (2, Some(0.7)));
}

pub async fn a_cancelled_sweep_refuses_its_running_trials_writes(store: &impl Backend) {
    let id = Fixture::new(2).create(store).await;
    let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    assert_eq!(
        store.cancel_sweep(id).await.unwrap(),
        crate::store::Cancel::Cancelled
    );
    assert_eq!(
        store.cancel_sweep(id).await.unwrap(),
        crate::store::Cancel::AlreadyEnded
    );
    let none = Verdict::default();
    let late = store
        .report_epoch(&claim, "w", LEASE_MS, &report(1, 0.5), &[], &none)
        .await;
    assert!(matches!(late, Err(WriteError::LeaseLost)));
    let sweep = store.sweep(id).await.unwrap().unwrap();
    assert_eq!(sweep.state, SweepState::Cancelled);
    assert_eq!((sweep.trials.cancelled, sweep.trials.total), (2, 2));
    assert_eq!(
        store.sweep_state(id).await.unwrap(),
        Some(SweepState::Cancelled)
    );
    assert!(store.claim("w", LEASE_MS).await.unwrap().is_none());
}
