//! The store's own tests. Those in `queue`, `events` and `recovery` are
//! written against the store's traits (`Backend`), each a function taking
//! `&impl Backend`; `backend_tests!` runs them all on one engine, so that a
//! second engine runs the same ones by naming its own opener. `sqlite` holds
//! the tests of this engine alone (raw rows, the migration fixture).
use super::{Backend, NewSweep, NewTrial, Store};
use crate::spec::{Goal, Metric, TrialParams};
use serde_json::{json, Value};

mod events;
mod lifecycle;
mod queue;
mod races;
mod recovery;
mod sqlite;

/// Instantiates every backend test for one engine: `$open` is an async
/// function returning `(guard, store)`, the guard keeping its database alive.
macro_rules! backend_tests {
    ($engine:ident, $open:path, [$($module:ident :: $test:ident),* $(,)?]) => {
        mod $engine {
            $(
                #[tokio::test]
                async fn $test() {
                    let (_guard, store) = $open().await;
                    super::$module::$test(&store).await;
                }
            )*
        }
    };
}

/// The backend tests, named once, for each engine.
macro_rules! all_backend_tests {
    ($engine:ident, $open:path) => {
        backend_tests!(
            $engine,
            $open,
            [
                queue::claims_go_oldest_sweep_first_and_each_trial_once,
                queue::max_parallel_bounds_the_running_trials,
                queue::a_report_is_stored_and_renews_the_lease,
                queue::a_report_delivered_twice_is_stored_once,
                queue::a_pruning_verdict_ends_the_trial_pruned,
                queue::a_finished_sweep_completes_with_its_best_trial,
                queue::a_lost_lease_refuses_every_write_and_writes_nothing,
                queue::a_new_attempt_fences_out_the_old_one,
                queue::a_cancelled_sweep_refuses_its_running_trials_writes,
                events::event_ids_increase_in_the_order_of_the_changes,
                events::events_page_after_an_id,
                events::a_large_sweep_queues_every_trial_with_its_event_in_order,
                recovery::an_expired_lease_is_taken_back_and_counted,
                recovery::attempts_lost_up_to_max_attempts_fail_the_trial,
                recovery::a_stopped_workers_trials_are_taken_back,
                recovery::a_handed_back_trial_costs_no_attempt,
                recovery::a_trial_past_its_time_limit_fails,
                recovery::rewind_keeps_reports_up_to_the_checkpoint,
                lifecycle::a_deadline_after_every_trial_started_leaves_max_trials_the_cause,
                lifecycle::an_enqueued_trial_is_claimed_first_in_the_last_ones_place,
                lifecycle::extending_an_ended_sweep_queues_trials_and_resumes_it,
                lifecycle::deleting_an_ended_sweep_removes_everything_of_it,
            ]
        );
    };
}

all_backend_tests!(on_sqlite, super::open_sqlite);
all_backend_tests!(on_postgres, super::open_postgres);

/// A fresh SQLite database in a temporary folder, migrated.
pub(super) async fn open_sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.sqlite").display());
    let store = Store::open(&url, true).await.unwrap();
    (dir, store)
}

/// A fresh PostgreSQL database on the test server (`store::scratch`), migrated.
pub(super) async fn open_postgres() -> ((), Store) {
    let url = super::scratch::database().await.unwrap();
    ((), Store::open(&url, true).await.unwrap())
}

/// A sweep of `trials` trials, each with the default configuration at
/// `epochs` epochs, maximizing validation accuracy; `spec` is stored as given.
pub(super) struct Fixture {
    pub metric: Metric,
    pub spec: Value,
    pub trials: usize,
    pub epochs: u32,
    pub max_parallel: Option<u32>,
    pub max_minutes: Option<f64>,
}

impl Fixture {
    pub fn new(trials: usize) -> Fixture {
        Fixture {
            metric: Metric {
                name: crate::metric::MetricName::ValAccuracy,
                goal: Goal::Maximize,
            },
            spec: json!({"method": "grid"}),
            trials,
            epochs: 2,
            max_parallel: None,
            max_minutes: None,
        }
    }

    /// Stores the sweep; its id.
    pub async fn create(&self, store: &impl Backend) -> i64 {
        let params = TrialParams {
            epochs: self.epochs,
            ..TrialParams::default()
        };
        let params = serde_json::to_value(params).unwrap();
        store
            .create_sweep(NewSweep {
                name: "store test",
                dataset: "mnist-10k",
                method: "grid",
                metric: &self.metric,
                max_parallel: self.max_parallel,
                seed: 7,
                spec: &self.spec,
                early_terminate: None,
                max_minutes: self.max_minutes,
                stop_at_deadline: false,
                target: None,
                max_trials: self.trials as i64,
                parent_id: None,
                exhausted: false,
                trials: (0..self.trials)
                    .map(|n| NewTrial::search(Some(params.clone()), n as u64))
                    .collect(),
            })
            .await
            .unwrap()
    }
}

/// An epoch report with validation accuracy `accuracy`.
pub(super) fn report(epoch: i64, accuracy: f64) -> crate::report::EpochReport {
    crate::report::EpochReport {
        epoch,
        train_loss: 1.0 / epoch as f64,
        val_loss: 1.0 - accuracy,
        val_accuracy: accuracy,
        seconds: 0.5,
    }
}

/// A lease long enough that no test sees it expire.
pub(super) const LEASE_MS: i64 = 600_000;
