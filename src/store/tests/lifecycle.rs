//! A sweep's life after submission, against any `Backend`: what ends it,
//! budgets changed, trials enqueued, sweeps deleted.
use super::{report, Fixture, LEASE_MS};
use crate::state::{SweepState, TrialState};
use crate::store::{Backend, Deleted, Enqueued, Extended, Extension, Finish, NewTrial, Verdict};
use serde_json::json;
use std::time::{Duration, Instant};

fn completed() -> Finish {
    Finish::Completed {
        test_loss: 0.2,
        test_accuracy: 0.9,
    }
}

/// The defect of issue 15: every trial had started when the deadline
/// passed; what ended the sweep is max_trials, not max_minutes.
pub async fn a_deadline_after_every_trial_started_leaves_max_trials_the_cause(
    store: &impl Backend,
) {
    let fixture = Fixture {
        max_minutes: Some(0.005), // 300 ms
        ..Fixture::new(2)
    };
    let id = fixture.create(store).await;
    let claims = [
        store.claim("w", LEASE_MS).await.unwrap().unwrap(),
        store.claim("w", LEASE_MS).await.unwrap().unwrap(),
    ];
    // The deadline passes while both train.
    let until = Instant::now() + Duration::from_secs(10);
    while store.enforce_deadlines().await.unwrap() == 0 {
        let sweep = store.sweep(id).await.unwrap().unwrap();
        let past = sweep.deadline.as_deref() < Some(&*now_text());
        if past {
            break;
        }
        assert!(Instant::now() < until, "the deadline never passed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        store.enforce_deadlines().await.unwrap(),
        0,
        "nothing to cut"
    );
    let sweep = store.sweep(id).await.unwrap().unwrap();
    assert_eq!(sweep.ended_by, None, "still running its trials");
    for claim in &claims {
        store.finish(claim, "w", &completed()).await.unwrap();
    }
    let sweep = store.sweep(id).await.unwrap().unwrap();
    assert_eq!(sweep.state, SweepState::Completed);
    assert_eq!(sweep.ended_by.as_deref(), Some("max_trials"));
}

/// Now as the store writes it (ISO-8601 UTC with milliseconds).
fn now_text() -> String {
    let ms = crate::store::now_ms();
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

pub async fn an_enqueued_trial_is_claimed_first_in_the_last_ones_place(store: &impl Backend) {
    let id = Fixture::new(3).create(store).await;
    let params = |learning_rate| {
        serde_json::to_value(crate::spec::TrialParams {
            learning_rate,
            ..Default::default()
        })
        .unwrap()
    };
    let chosen = params(0.5);
    let Enqueued::Done(trial) = store.enqueue_trial(id, &chosen).await.unwrap() else {
        panic!("not enqueued");
    };
    assert_eq!((trial.number, trial.source.as_str()), (2, "enqueued"));
    let second = params(0.25);
    let Enqueued::Done(later) = store.enqueue_trial(id, &second).await.unwrap() else {
        panic!("not enqueued");
    };
    assert_eq!(later.number, 1);
    let mut claimed = Vec::new();
    while let Some(claim) = store.claim("w", LEASE_MS).await.unwrap() {
        claimed.push(claim.number);
    }
    assert_eq!(claimed, [2, 1, 0], "enqueued first, in the order enqueued");
    let sweep = store.sweep(id).await.unwrap().unwrap();
    assert_eq!(sweep.trials.total, 3, "they count toward max_trials");
    assert!(matches!(
        store.enqueue_trial(id, &chosen).await.unwrap(),
        Enqueued::NoQueued
    ));
    assert!(matches!(
        store.enqueue_trial(id + 100, &chosen).await.unwrap(),
        Enqueued::NotFound
    ));
}

pub async fn extending_an_ended_sweep_queues_trials_and_resumes_it(store: &impl Backend) {
    let id = Fixture::new(1).create(store).await;
    let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    store
        .report_epoch(
            &claim,
            "w",
            LEASE_MS,
            &report(1, 0.5),
            &[],
            &Verdict::default(),
        )
        .await
        .unwrap();
    store.finish(&claim, "w", &completed()).await.unwrap();
    let sweep = store.sweep(id).await.unwrap().unwrap();
    assert_eq!(sweep.state, SweepState::Completed);
    let budget = store.budget(id).await.unwrap();
    assert_eq!((budget.started, budget.used, budget.last_number), (1, 1, 0));
    let mut extension = Extension {
        sweep_id: id,
        max_trials: 3,
        max_minutes: Some(60.0),
        target: Some(Some(json!({"metric": "val_accuracy", "value": 0.99}))),
        spec: json!({"method": "grid", "max_trials": 3}),
        trials: vec![NewTrial::search(None, 11), NewTrial::search(None, 12)],
        exhausted: false,
        planned_from: budget,
    };
    let stale = Extension {
        planned_from: crate::store::Budget { used: 0, ..budget },
        ..extension.clone()
    };
    assert_eq!(store.extend_sweep(&stale).await.unwrap(), Extended::Stale);
    extension.max_trials = 0;
    assert_eq!(
        store.extend_sweep(&extension).await.unwrap(),
        Extended::BelowStarted(1)
    );
    extension.max_trials = 3;
    assert_eq!(
        store.extend_sweep(&extension).await.unwrap(),
        Extended::Done { resumed: true }
    );
    let sweep = store.sweep(id).await.unwrap().unwrap();
    assert_eq!(sweep.state, SweepState::Running);
    assert_eq!((sweep.ended_by, sweep.finished_at), (None, None));
    assert_eq!((sweep.max_trials, sweep.trials.queued), (3, 2));
    assert!(sweep.deadline.is_some());
    let numbers: Vec<i64> = store
        .trials(id)
        .await
        .unwrap()
        .iter()
        .map(|t| t.number)
        .collect();
    assert_eq!(numbers, [0, 1, 2]);
    let kinds: Vec<String> = store
        .events(id, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"sweep_resumed".to_string()), "{kinds:?}");
    // Lowered again: the last queued trial is dropped.
    let lower = Extension {
        max_trials: 2,
        trials: Vec::new(),
        max_minutes: None,
        target: None,
        planned_from: store.budget(id).await.unwrap(),
        ..extension
    };
    assert_eq!(
        store.extend_sweep(&lower).await.unwrap(),
        Extended::Done { resumed: false }
    );
    let trials = store.trials(id).await.unwrap();
    assert_eq!(trials[2].state, TrialState::Cancelled);
    assert_eq!(trials[1].state, TrialState::Queued);
}

pub async fn deleting_an_ended_sweep_removes_everything_of_it(store: &impl Backend) {
    let id = Fixture::new(1).create(store).await;
    let other = Fixture::new(1).create(store).await;
    let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    assert_eq!(claim.sweep_id, id);
    assert_eq!(store.delete_sweep(id).await.unwrap(), Deleted::Running);
    let samples = [crate::store::BatchLoss {
        step: 1,
        epoch: 1,
        loss: 2.0,
    }];
    store
        .report_epoch(
            &claim,
            "w",
            LEASE_MS,
            &report(1, 0.5),
            &samples,
            &Verdict::default(),
        )
        .await
        .unwrap();
    store.finish(&claim, "w", &completed()).await.unwrap();
    assert_eq!(store.delete_sweep(id).await.unwrap(), Deleted::Deleted);
    assert!(store.sweep(id).await.unwrap().is_none());
    assert!(store.trial(claim.trial_id).await.unwrap().is_none());
    assert!(store.trial_detail(claim.trial_id).await.unwrap().is_none());
    assert!(store.events(id, 0, 100).await.unwrap().is_empty());
    assert_eq!(store.delete_sweep(id).await.unwrap(), Deleted::NotFound);
    let kept = store.sweep(other).await.unwrap().unwrap();
    assert_eq!(kept.trials.total, 1, "other sweeps are untouched");
}
