//! What the rest of the crate may ask of a store, as traits that a second
//! engine (PostgreSQL) can implement; `Store` (SQLite) is the one
//! implementation today, and `store::tests` are written against these
//! traits so that they can run on the next one too.
//!
//! Methods return `impl Future + Send` rather than being `async fn`, so
//! that a generic caller may move their futures across threads (the
//! worker's lease renewal runs in a task of its own).
use super::workers::WorkerRow;
use super::{
    Budget, Cancel, Claim, Deleted, Enqueued, Event, Extended, Extension, Finish, Finished, Like,
    NewSweep, Reported, StoreError, Sweep, Trial, TrialDetail, Verdict, WriteError,
};
use crate::metric::MetricName;
use crate::protocol::{CheckpointRef, Register};
use crate::report::{BatchLoss, EpochReport};
use crate::schedule::TrialGroup;
use crate::spec::TrialParams;
use crate::state::{SweepState, TrialState};
use std::future::Future;

/// Every part of a store, for callers that need all of them (the server, the API).
pub trait Backend: Queue + Recovery + Sweeps + Lifecycle + Events + Sessions + Workers {}

impl<S: Queue + Recovery + Sweeps + Lifecycle + Events + Sessions + Workers> Backend for S {}

/// The trial queue as workers use it: claims under a lease, and every write
/// fenced by it (`WriteError::LeaseLost` when the lease is no longer held).
pub trait Queue: Clone + Send + Sync + 'static {
    /// Claims the next queued trial its sweep lets run, under a lease of `lease_ms`.
    fn claim(
        &self,
        worker: &str,
        lease_ms: i64,
    ) -> impl Future<Output = Result<Option<Claim>, StoreError>> + Send;

    /// Claims a further member of a fused group: a queued trial of
    /// `like.sweep_id` that `like` admits and the sweep lets run.
    fn claim_like(
        &self,
        worker: &str,
        lease_ms: i64,
        like: &Like,
    ) -> impl Future<Output = Result<Option<Claim>, StoreError>> + Send;

    /// Records the configuration sampled for a claimed trial.
    fn assign_params(
        &self,
        claim: &Claim,
        worker: &str,
        params: &TrialParams,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// Extends the lease of a claimed trial by `lease_ms` from now.
    fn renew_lease(
        &self,
        claim: &Claim,
        worker: &str,
        lease_ms: i64,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// Stores an epoch's report with its samples and verdict, unless the
    /// attempt reported that epoch before; renews the lease either way.
    fn report_epoch(
        &self,
        claim: &Claim,
        worker: &str,
        lease_ms: i64,
        report: &EpochReport,
        batch_losses: &[BatchLoss],
        verdict: &Verdict,
    ) -> impl Future<Output = Result<Reported, WriteError>> + Send;

    /// Tells watchers how far a claimed trial is within its epoch.
    fn report_progress(
        &self,
        claim: &Claim,
        worker: &str,
        data: serde_json::Value,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// Records that a claimed trial trains in a fused group of `members`
    /// (its `group_members`, and an event `trial_grouped` with `data`).
    fn note_group(
        &self,
        claim: &Claim,
        worker: &str,
        members: &[i64],
        data: serde_json::Value,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// Ends a claimed trial; completes the sweep when it was its last.
    fn finish(
        &self,
        claim: &Claim,
        worker: &str,
        finish: &Finish,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// Rewinds a claimed trial to the checkpoint at `epoch`; the reports kept.
    fn rewind(
        &self,
        claim: &Claim,
        worker: &str,
        epoch: i64,
    ) -> impl Future<Output = Result<Vec<EpochReport>, WriteError>> + Send;

    /// Hands a claimed trial back to the queue (graceful shutdown), no failure counted.
    fn hand_back(
        &self,
        claim: &Claim,
        worker: &str,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// Gives up a claimed trial as a crash would, counting a failure.
    fn lose_attempt(
        &self,
        claim: &Claim,
        worker: &str,
        max_attempts: u32,
        why: &str,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// The sweep's finished trials with their final `metric`, for samplers.
    fn history(
        &self,
        sweep_id: i64,
        metric: MetricName,
    ) -> impl Future<Output = Result<Vec<Finished>, StoreError>> + Send;

    /// Each trial's `metric` per epoch up to `up_to_epoch`, for schedulers.
    fn curves(
        &self,
        sweep_id: i64,
        metric: MetricName,
        up_to_epoch: i64,
    ) -> impl Future<Output = Result<Vec<(i64, Vec<f64>)>, StoreError>> + Send;

    /// The state of a trial, if it exists.
    fn trial_state(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<TrialState>, StoreError>> + Send;

    /// The configurations of the sweep's trials that trained, train or are
    /// queued with one: what a sampler must not repeat on a discrete space.
    fn taken_configurations(
        &self,
        sweep_id: i64,
    ) -> impl Future<Output = Result<Vec<TrialParams>, StoreError>> + Send;

    /// A sweep's stored spec and dataset (a warm start's source), or None.
    fn stored_spec(
        &self,
        sweep_id: i64,
    ) -> impl Future<Output = Result<Option<(serde_json::Value, String)>, StoreError>> + Send;

    /// Cancels a claimed trial whose discrete space has no configuration
    /// left, with the queued ones; the sweep ends `exhausted`.
    fn exhaust(
        &self,
        claim: &Claim,
        worker: &str,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;
}

/// A sweep's life after submission: budgets changed, trials enqueued, deleted.
pub trait Lifecycle: Clone + Send + Sync + 'static {
    /// Where the sweep's trials stand against its budget.
    fn budget(&self, sweep_id: i64) -> impl Future<Output = Result<Budget, StoreError>> + Send;

    /// Changes a sweep's budgets; an ended sweep runs again.
    fn extend_sweep(
        &self,
        extension: &Extension,
    ) -> impl Future<Output = Result<Extended, StoreError>> + Send;

    /// Queues a chosen configuration to train next, in the place of the
    /// last queued search trial.
    fn enqueue_trial(
        &self,
        sweep_id: i64,
        params: &serde_json::Value,
    ) -> impl Future<Output = Result<Enqueued, StoreError>> + Send;

    /// Deletes an ended sweep and everything stored of it.
    fn delete_sweep(
        &self,
        sweep_id: i64,
    ) -> impl Future<Output = Result<Deleted, StoreError>> + Send;
}

/// Taking trials back and ending budgets: what the server's reaper runs.
pub trait Recovery: Clone + Send + Sync + 'static {
    /// Whether this process runs the periodic work (the reaper, time
    /// limits, deadlines) now: always the one server on SQLite; on
    /// PostgreSQL one replica at a time, any other taking over when it dies.
    fn periodic_turn(&self) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Takes back every running trial whose lease has expired; how many.
    fn reap_expired_leases(
        &self,
        max_attempts: u32,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Takes back the trials of a worker process that exited; how many.
    fn take_back_from(
        &self,
        worker: &str,
        max_attempts: u32,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Takes back the running trials of the workers a stopped server had
    /// started on its own host (ids starting `protocol::LOCAL_PREFIX`),
    /// which died with it; at start-up. Remote workers keep theirs: only
    /// their leases decide. How many.
    fn take_back_local(
        &self,
        max_attempts: u32,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Fails running trials past their sweep's `trial_timeout_minutes`; how many.
    fn enforce_trial_timeouts(&self) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Ends the budget of every sweep past its `max_minutes`; how many.
    fn enforce_deadlines(&self) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// Sweeps and their trials as clients create and read them.
pub trait Sweeps: Clone + Send + Sync + 'static {
    /// Stores a sweep and queues its trials; its id.
    fn create_sweep(
        &self,
        new: NewSweep<'_>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// One sweep with its trial counts, or None.
    fn sweep(&self, id: i64) -> impl Future<Output = Result<Option<Sweep>, StoreError>> + Send;

    /// Just the sweep's state, or None.
    fn sweep_state(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<SweepState>, StoreError>> + Send;

    /// At most `limit` sweeps with ids below `before`, newest first.
    fn sweeps_page(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Sweep>, StoreError>> + Send;

    /// The finished trial with the best final value of the sweep's metric.
    fn best_trial(
        &self,
        sweep: &Sweep,
    ) -> impl Future<Output = Result<Option<Trial>, StoreError>> + Send;

    /// Cancels a running sweep.
    fn cancel_sweep(
        &self,
        sweep_id: i64,
    ) -> impl Future<Output = Result<Cancel, StoreError>> + Send;

    /// The sweep's trials in trial-number order.
    fn trials(&self, sweep_id: i64) -> impl Future<Output = Result<Vec<Trial>, StoreError>> + Send;

    /// Up to `limit` of the sweep's trials numbered above `after`.
    fn trials_page(
        &self,
        sweep_id: i64,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Trial>, StoreError>> + Send;

    /// One trial, or None.
    fn trial(&self, id: i64) -> impl Future<Output = Result<Option<Trial>, StoreError>> + Send;

    /// One trial with its reports and samples, or None.
    fn trial_detail(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<TrialDetail>, StoreError>> + Send;

    /// The sweep's trials grouped for rung statistics.
    fn progress_groups(
        &self,
        sweep_id: i64,
    ) -> impl Future<Output = Result<Vec<TrialGroup>, StoreError>> + Send;
}

/// The append-only event log.
pub trait Events: Clone + Send + Sync + 'static {
    /// The sweep's events with ids above `after`, oldest first, at most `limit`.
    fn events(
        &self,
        sweep_id: i64,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;
}

/// Dashboard sessions, by the digest of their cookie.
pub trait Sessions: Clone + Send + Sync + 'static {
    /// Records (or renews) a session valid for `ttl_ms`.
    fn open_session(
        &self,
        digest: &str,
        ttl_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether a session with this digest is open.
    fn session_is_open(
        &self,
        digest: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Ends one session; true if it was open.
    fn close_session(&self, digest: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Ends every session; how many there were.
    fn close_all_sessions(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// What the worker protocol keeps beside the queue: registered workers,
/// uploaded checkpoints, and claims read back after a restart.
pub trait Workers: Clone + Send + Sync + 'static {
    /// Records a worker under `id`, or updates one that registers again.
    fn register_worker(
        &self,
        id: &str,
        worker: &Register,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every registered worker, most recently registered first.
    fn workers(&self) -> impl Future<Output = Result<Vec<WorkerRow>, StoreError>> + Send;

    /// Whether a worker with this id has registered.
    fn worker_registered(&self, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The claim `worker` holds on the trial in `attempt`, or None.
    fn held_claim(
        &self,
        trial_id: i64,
        attempt: i64,
        worker: &str,
    ) -> impl Future<Output = Result<Option<Claim>, StoreError>> + Send;

    /// Records an uploaded checkpoint while `worker` holds the lease; with
    /// `blob` (its key and bytes, for the database's blob store) the file
    /// is stored in the same write, so that a record never names a file
    /// another upload replaced.
    fn record_checkpoint(
        &self,
        claim: &Claim,
        worker: &str,
        sha256: &str,
        bytes: u64,
        blob: Option<(String, Vec<u8>)>,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// The newest checkpoint of a trial, if any.
    fn latest_checkpoint(
        &self,
        trial_id: i64,
    ) -> impl Future<Output = Result<Option<CheckpointRef>, StoreError>> + Send;
}
