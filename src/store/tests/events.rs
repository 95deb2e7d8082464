//! The event log, against any `Backend`: ids increase in the order of the
//! changes they tell of, and pages go on after an id.
use super::{report, Fixture, LEASE_MS};
use crate::store::{Backend, Finish, Verdict};

pub async fn event_ids_increase_in_the_order_of_the_changes(store: &impl Backend) {
    let id = Fixture::new(1).create(store).await;
    let other = Fixture::new(1).create(store).await;
    let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    let none = Verdict::default();
    store
        .report_epoch(&claim, "w", LEASE_MS, &report(1, 0.5), &[], &none)
        .await
        .unwrap();
    let done = Finish::Completed {
        test_loss: 0.1,
        test_accuracy: 0.5,
    };
    store.finish(&claim, "w", &done).await.unwrap();
    let events = store.events(id, 0, 100).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "sweep_created",
            "trial_queued",
            "trial_started",
            "epoch_report",
            "trial_completed",
            "best_changed",
            "sweep_completed"
        ]
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id), "{events:?}");
    assert!(events.iter().all(|e| e.sweep_id == id));
    assert_eq!(events[3].trial_id, Some(claim.trial_id));
    assert_eq!(events[3].data["report"]["val_accuracy"], 0.5);
    assert_eq!(events[0].trial_id, None);
    // The other sweep's log is its own, its ids between and after these.
    let others = store.events(other, 0, 100).await.unwrap();
    assert_eq!(others.len(), 2);
    assert!(others.iter().all(|e| e.sweep_id == other));
}

pub async fn events_page_after_an_id(store: &impl Backend) {
    let id = Fixture::new(5).create(store).await;
    let all = store.events(id, 0, 100).await.unwrap();
    assert_eq!(all.len(), 6);
    let first = store.events(id, 0, 4).await.unwrap();
    let rest = store.events(id, first.last().unwrap().id, 4).await.unwrap();
    let paged: Vec<i64> = first.iter().chain(&rest).map(|e| e.id).collect();
    let ids: Vec<i64> = all.iter().map(|e| e.id).collect();
    assert_eq!(paged, ids);
    assert!(store
        .events(id, *ids.last().unwrap(), 4)
        .await
        .unwrap()
        .is_empty());
}

/// A sweep of 300 trials is queued in batches (`planned.rs`: 32 at a time,
/// then 8 and 4): every trial once, numbered in order, each with its
/// `trial_queued` event naming it, in number order; the per-statement counts
/// (PostgreSQL's `trial_counts` triggers) follow a cancel of all of them.
pub async fn a_large_sweep_queues_every_trial_with_its_event_in_order(store: &impl Backend) {
    let id = Fixture::new(300).create(store).await;
    let trials = store.trials(id).await.unwrap();
    let numbers: Vec<i64> = trials.iter().map(|t| t.number).collect();
    assert_eq!(numbers, (0..300).collect::<Vec<i64>>());
    let events = store.events(id, 0, 1000).await.unwrap();
    assert_eq!(events.len(), 301);
    assert_eq!(events[0].kind, "sweep_created");
    for (event, trial) in events[1..].iter().zip(&trials) {
        assert_eq!(event.kind, "trial_queued");
        assert_eq!(event.trial_id, Some(trial.id));
        assert_eq!(event.data["number"], trial.number);
    }
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    let counts = store.sweep(id).await.unwrap().unwrap().trials;
    assert_eq!((counts.queued, counts.total), (300, 300));
    store.claim("w", LEASE_MS).await.unwrap().unwrap();
    store.cancel_sweep(id).await.unwrap();
    let counts = store.sweep(id).await.unwrap().unwrap().trials;
    assert_eq!(
        (
            counts.queued,
            counts.running,
            counts.cancelled,
            counts.total
        ),
        (0, 0, 300, 300),
        "{counts:?}"
    );
}
