//! Tests of the SQLite engine alone: rows no code of ours would write
//! (checked through raw SQL), and a database made by an earlier binary.
use super::{open_sqlite, Fixture, LEASE_MS};
use crate::state::{SweepState, TrialState};
use crate::store::{Backend, Store, StoreError, Verdict};

/// Writes `sql` with CHECK constraints off, as a corrupt or foreign row would be.
async fn corrupt(store: &Store, sql: &str) {
    let mut conn = store.pool.acquire().await.unwrap();
    crate::store::query("PRAGMA ignore_check_constraints = ON")
        .execute(&mut *conn)
        .await
        .unwrap();
    crate::store::query(sql).execute(&mut *conn).await.unwrap();
    crate::store::query("PRAGMA ignore_check_constraints = OFF")
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// The message of a `BadRow` error; panics on any other result.
fn bad_row<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Err(e @ StoreError::BadRow { .. }) => e.to_string(),
        other => panic!("expected a BadRow error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_trial_state_is_an_error_naming_the_column_and_value() {
    let (_dir, store) = open_sqlite().await;
    let id = Fixture::new(1).create(&store).await;
    corrupt(&store, "UPDATE trials SET state = 'paused'").await;
    let message = bad_row(store.trials(id).await);
    assert!(
        message.contains("`state`") && message.contains("paused"),
        "{message}"
    );
    // The trial counts, kept by a trigger, hold the unknown state too.
    let message = bad_row(store.sweep(id).await);
    assert!(
        message.contains("`state`") && message.contains("paused"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_sweep_state_or_goal_is_an_error_not_a_default() {
    let (_dir, store) = open_sqlite().await;
    let id = Fixture::new(1).create(&store).await;
    corrupt(&store, "UPDATE sweeps SET metric_goal = 'minimise'").await;
    let message = bad_row(store.sweep(id).await);
    assert!(
        message.contains("`metric_goal`") && message.contains("minimise"),
        "{message}"
    );
    corrupt(
        &store,
        "UPDATE sweeps SET metric_goal = 'minimize', state = 'done'",
    )
    .await;
    let message = bad_row(store.sweep_state(id).await);
    assert!(
        message.contains("`state`") && message.contains("done"),
        "{message}"
    );
    // A listing leaves such a sweep out instead of failing.
    assert!(store.sweeps_page(None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_column_of_the_wrong_type_is_an_error_naming_it() {
    let (_dir, store) = open_sqlite().await;
    let id = Fixture::new(1).create(&store).await;
    corrupt(&store, "UPDATE trials SET epochs_done = 'many'").await;
    let message = bad_row(store.trials(id).await);
    assert!(message.contains("`epochs_done`"), "{message}");
}

/// A copy of `testdata/<name>`, made by the binary of main on 2026-12-02
/// (before the typed store): a grid sweep of 2 trials at 1 epoch each on
/// the built-in dataset, run to its end, then the server stopped by SIGTERM.
const FIXTURE: &str = "main-2026-12-02.sqlite";

async fn open_fixture() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/store/testdata")
        .join(FIXTURE);
    let copy = dir.path().join(FIXTURE);
    std::fs::copy(&source, &copy).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
    let store = Store::open(&format!("sqlite://{}", copy.display()), true)
        .await
        .expect("today's code opens and migrates a database of the earlier binary");
    (dir, store)
}

#[tokio::test]
async fn a_database_made_by_the_earlier_binary_reads_back_whole() {
    let (_dir, store) = open_fixture().await;
    let sweeps = store.sweeps_page(None, 10).await.unwrap();
    assert_eq!(sweeps.len(), 1, "{sweeps:?}");
    let sweep = store.sweep(sweeps[0].id).await.unwrap().unwrap();
    assert_eq!(sweep.state, SweepState::Completed);
    assert_eq!(sweep.error, None);
    assert_eq!((sweep.trials.completed, sweep.trials.total), (2, 2));
    let trials = store.trials(sweep.id).await.unwrap();
    assert_eq!(trials.len(), 2);
    for trial in &trials {
        assert_eq!(trial.state, TrialState::Completed);
        let detail = store.trial_detail(trial.id).await.unwrap().unwrap();
        assert_eq!(detail.epochs.len(), 1, "one report of its one epoch");
        assert!(!detail.batch_losses.is_empty());
        assert!(detail.trial.test_accuracy.is_some());
    }
    assert!(store.best_trial(&sweep).await.unwrap().is_some());
    let events = store.events(sweep.id, 0, 1000).await.unwrap();
    assert_eq!(events.first().unwrap().kind, "sweep_created");
    assert_eq!(events.last().unwrap().kind, "sweep_completed");
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert!(
        store
            .history(sweep.id, sweep.metric.name)
            .await
            .unwrap()
            .len()
            == 2
    );
    assert!(!store.progress_groups(sweep.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_database_made_by_the_earlier_binary_takes_new_sweeps() {
    let (_dir, store) = open_fixture().await;
    let old = store.sweeps_page(None, 10).await.unwrap()[0].id;
    let id = Fixture::new(1).create(&store).await;
    assert!(id > old);
    let claim = store.claim("local.w", LEASE_MS).await.unwrap().unwrap();
    assert_eq!(
        claim.sweep_id, id,
        "the finished sweep has nothing to claim"
    );
    let none = Verdict::default();
    store
        .report_epoch(
            &claim,
            "local.w",
            LEASE_MS,
            &super::report(1, 0.5),
            &[],
            &none,
        )
        .await
        .unwrap();
    assert_eq!(store.take_back_local(3).await.unwrap(), 1);
    let events = store.events(id, 0, 100).await.unwrap();
    assert!(events.iter().all(|e| e.id > 0));
    check_backend(&store);
}

/// `Store` is a whole `Backend`.
fn check_backend(_: &impl Backend) {}
