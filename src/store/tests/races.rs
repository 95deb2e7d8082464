//! PostgreSQL's concurrency, where SQLite's one writer gave each of these
//! for free: two writes of one sweep interleaved at exactly the step a
//! missing lock would let through (one held at a `pause` point while the
//! other runs), with several connections. Each test holds the first write,
//! starts the second, waits until the second has either finished or is
//! waiting on a lock (seen in `pg_stat_activity`), then lets the first go
//! on, and checks the guarantee. Without the sweep's row lock (`lock_sweep`
//! and the events trigger of the PostgreSQL baseline) the second write does
//! not wait, and each check fails.
use super::{open_postgres, report, Fixture, LEASE_MS};
use crate::state::{SweepState, TrialState};
use crate::store::pause::{hold_at, Point};
use crate::store::{Finish, Store, Verdict};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Waits until `second` has finished or some connection of this database
/// waits on a lock, for at most 20 s.
async fn finished_or_blocked<T>(store: &Store, second: &JoinHandle<T>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if second.is_finished() {
            return;
        }
        let waiting: i64 = crate::store::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the second write neither finished nor waited on a lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// 1. The lease check and the write are one: the reaper cannot take the
///    trial back between them, so no write of an attempt that lost its
///    lease is stored after the take-back. Here a lease-fenced write of the
///    transaction kind (`with_lease`: a progress report) is held between its
///    check and its write.
#[tokio::test]
async fn a_take_back_waits_for_a_lease_checked_write_to_commit() {
    let ((), store) = open_postgres().await;
    let sweep = Fixture::new(1).create(&store).await;
    let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    let (held, first) = {
        let (store, claim) = (store.clone(), claim.clone());
        hold_at(Point::LeaseChecked, async move {
            store.report_progress(&claim, "w", json!({"step": 1})).await
        })
    };
    let first = tokio::spawn(first);
    held.reached().await;
    let second = {
        let store = store.clone();
        tokio::spawn(async move { store.take_back_from("w", 3).await })
    };
    finished_or_blocked(&store, &second).await;
    held.resume().await;
    let reported = first.await.unwrap();
    assert_eq!(second.await.unwrap().unwrap(), 1);
    let kinds = kinds(&store, sweep).await;
    let requeued = kinds.iter().position(|k| k == "trial_requeued").unwrap();
    match kinds.iter().position(|k| k == "trial_progress") {
        // Stored: then before the take-back, which came after it.
        Some(report) => assert!(report < requeued, "{kinds:?}"),
        None => assert!(reported.is_err(), "{kinds:?}"),
    }
    let trial = store.trial(claim.trial_id).await.unwrap().unwrap();
    assert_eq!(trial.state, TrialState::Queued);
}

/// 1b. The same for an epoch report made in one call (`hs_report_epoch`):
///    while a take-back is uncommitted, the report waits for it, then finds
///    the lease lost and stores nothing. Without the function's lock on the
///    sweep it would read the trial as still running and store the report.
#[tokio::test]
async fn an_epoch_report_in_one_call_waits_for_a_take_back_and_stores_nothing() {
    let ((), store) = open_postgres().await;
    let sweep = Fixture::new(1).create(&store).await;
    let claim = store.claim("w", LEASE_MS).await.unwrap().unwrap();
    let (held, first) = {
        let store = store.clone();
        hold_at(Point::BeforeCommit, async move {
            store.take_back_from("w", 3).await
        })
    };
    let first = tokio::spawn(first);
    held.reached().await;
    let second = {
        let (store, claim) = (store.clone(), claim.clone());
        tokio::spawn(async move {
            let none = Verdict::default();
            store
                .report_epoch(&claim, "w", LEASE_MS, &report(1, 0.5), &[], &none)
                .await
        })
    };
    finished_or_blocked(&store, &second).await;
    held.resume().await;
    assert_eq!(first.await.unwrap().unwrap(), 1);
    let reported = second.await.unwrap();
    assert!(
        matches!(reported, Err(crate::store::WriteError::LeaseLost)),
        "{reported:?}"
    );
    let kinds = kinds(&store, sweep).await;
    assert!(!kinds.iter().any(|k| k == "epoch_report"), "{kinds:?}");
    let detail = store.trial(claim.trial_id).await.unwrap().unwrap();
    assert_eq!((detail.state, detail.epochs_done), (TrialState::Queued, 0));
}

/// The kinds of a sweep's events, in order.
async fn kinds(store: &Store, sweep: i64) -> Vec<String> {
    store
        .events(sweep, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// 2. `max_parallel`: two claims at once cannot both count the running
///    trials, see room, and start two where one is allowed.
#[tokio::test]
async fn two_claims_at_once_start_no_more_than_max_parallel() {
    let ((), store) = open_postgres().await;
    let sweep = Fixture {
        max_parallel: Some(1),
        ..Fixture::new(3)
    }
    .create(&store)
    .await;
    let (held, first) = {
        let store = store.clone();
        hold_at(Point::ClaimChosen, async move {
            store.claim("a", LEASE_MS).await
        })
    };
    let first = tokio::spawn(first);
    held.reached().await;
    let second = {
        let store = store.clone();
        tokio::spawn(async move { store.claim("b", LEASE_MS).await })
    };
    finished_or_blocked(&store, &second).await;
    held.resume().await;
    let first = first.await.unwrap().unwrap();
    let second = second.await.unwrap().unwrap();
    assert!(first.is_some());
    assert!(second.is_none(), "a second trial started: {second:?}");
    let running = store
        .trials(sweep)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.state == TrialState::Running)
        .count();
    assert_eq!(running, 1);
}

/// 3. Event ids in commit order: while a write that appended an event is
///    uncommitted, a reader sees no later id of the sweep, so a stream that
///    resumes after the last id it saw misses nothing.
#[tokio::test]
async fn a_reader_never_sees_an_event_id_past_an_uncommitted_one() {
    let ((), store) = open_postgres().await;
    let sweep = Fixture::new(2).create(&store).await;
    let a = store.claim("a", LEASE_MS).await.unwrap().unwrap();
    let b = store.claim("b", LEASE_MS).await.unwrap().unwrap();
    let base = store.events(sweep, 0, 100).await.unwrap();
    let base = base.last().unwrap().id;
    let (held, first) = {
        let (store, a) = (store.clone(), a.clone());
        hold_at(Point::BeforeCommit, async move {
            store.report_progress(&a, "a", json!({"step": 1})).await
        })
    };
    let first = tokio::spawn(first);
    held.reached().await;
    let second = {
        let (store, b) = (store.clone(), b.clone());
        tokio::spawn(async move { store.report_progress(&b, "b", json!({"step": 1})).await })
    };
    finished_or_blocked(&store, &second).await;
    // A stream reading now, then resuming after the last id it saw.
    let seen = store.events(sweep, base, 100).await.unwrap();
    held.resume().await;
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    let resume_after = seen.last().map_or(base, |e| e.id);
    let later = store.events(sweep, resume_after, 100).await.unwrap();
    let mut streamed: Vec<i64> = seen.iter().chain(&later).map(|e| e.id).collect();
    streamed.sort_unstable();
    let all: Vec<i64> = store
        .events(sweep, base, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(all.len(), 2);
    assert_eq!(streamed, all, "the stream missed an event");
}

/// 4. Two concurrent "complete the sweep if done" checks cannot each see
///    the other's trial running and leave the sweep running forever. Here
///    three locks each keep the second check waiting: the sweep's row, the
///    events trigger's lock on it, and the `trial_counts` row of `running`
///    that both trials' triggers decrement; without all three, the sweep
///    stays `running`.
#[tokio::test]
async fn the_last_two_trials_finishing_at_once_complete_the_sweep() {
    let ((), store) = open_postgres().await;
    let sweep = Fixture::new(2).create(&store).await;
    let a = store.claim("a", LEASE_MS).await.unwrap().unwrap();
    let b = store.claim("b", LEASE_MS).await.unwrap().unwrap();
    let done = Finish::Completed {
        test_loss: 0.1,
        test_accuracy: 0.5,
    };
    let (held, first) = {
        let (store, a, done) = (store.clone(), a.clone(), done.clone());
        hold_at(Point::BeforeCommit, async move {
            store.finish(&a, "a", &done).await
        })
    };
    let first = tokio::spawn(first);
    held.reached().await;
    let second = {
        let (store, b) = (store.clone(), b.clone());
        tokio::spawn(async move { store.finish(&b, "b", &done).await })
    };
    finished_or_blocked(&store, &second).await;
    held.resume().await;
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    assert_eq!(
        store.sweep_state(sweep).await.unwrap(),
        Some(SweepState::Completed)
    );
}
