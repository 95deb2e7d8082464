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
