//! `Store`, the SQLite engine, as each of the store's traits: every method
//! is the inherent one of the same name, in the file of its aggregate.
use super::interface::{Events, Lifecycle, Queue, Recovery, Sessions, Sweeps, Workers};
use super::workers::WorkerRow;
use super::{
    Budget, Cancel, Claim, Deleted, Enqueued, Event, Extended, Extension, Finish, Finished, Like,
    NewSweep, Reported, Store, StoreError, Sweep, Trial, TrialDetail, Verdict, WriteError,
};
use crate::metric::MetricName;
use crate::protocol::{CheckpointRef, Register};
use crate::report::{BatchLoss, EpochReport};
use crate::schedule::TrialGroup;
use crate::spec::TrialParams;
use crate::state::{SweepState, TrialState};
use std::future::Future;

impl Queue for Store {
    fn claim(
        &self,
        worker: &str,
        lease_ms: i64,
    ) -> impl Future<Output = Result<Option<Claim>, StoreError>> + Send {
        Store::claim(self, worker, lease_ms)
    }
    fn claim_like(
        &self,
        worker: &str,
        lease_ms: i64,
        like: &Like,
    ) -> impl Future<Output = Result<Option<Claim>, StoreError>> + Send {
        let like = like.clone();
        async move { Store::claim_where(self, worker, lease_ms, Some(like)).await }
    }
    fn assign_params(
        &self,
        claim: &Claim,
        worker: &str,
        params: &TrialParams,
    ) -> impl Future<Output = Result<(), WriteError>> + Send {
        Store::assign_params(self, claim, worker, params)
    }
    fn renew_lease(
        &self,
        claim: &Claim,
        worker: &str,
        lease_ms: i64,
    ) -> impl Future<Output = Result<(), WriteError>> + Send {
        Store::renew_lease(self, claim, worker, lease_ms)
    }
    fn report_epoch(
        &self,
        claim: &Claim,
        worker: &str,
        lease_ms: i64,
        report: &EpochReport,
        batch_losses: &[BatchLoss],
        verdict: &Verdict,
    ) -> impl Future<Output = Result<Reported, WriteError>> + Send {
        Store::report_epoch(self, claim, worker, lease_ms, report, batch_losses, verdict)
    }
    fn report_progress(
        &self,
        claim: &Claim,
        worker: &str,
        data: serde_json::Value,
    ) -> impl Future<Output = Result<(), WriteError>> + Send {
        Store::report_progress(self, claim, worker, data)
    }
    fn note_group(
        &self,
        claim: &Claim,
        worker: &str,
        members: &[i64],
        data: serde_json::Value,
    ) -> impl Future<Output = Result<(), WriteError>> + Send {
        Store::note_group(self, claim, worker, members, data)
    }
    fn finish(
        &self,
        claim: &Claim,
        worker: &str,
        finish: &Finish,
    ) -> impl Future<Output = Result<(), WriteError>> + Send {
        Store::finish(self, claim, worker, finish)
    }
    fn rewind(
        &self,
        claim: &Claim,
        worker: &str,
        epoch: i64,
    ) -> impl Future<Output = Result<Vec<EpochReport>, WriteError>> + Send {
        Store::rewind(self, claim, worker, epoch)
    }
    fn hand_back(
        &self,
        claim: &Claim,
        worker: &str,
    ) -> impl Future<Output = Result<(), WriteError>> + Send {
        Store::hand_back(self, claim, worker)
    }
    fn lose_attempt(
        &self,
        claim: &Claim,
        worker: &str,
        max_attempts: u32,
        why: &str,
    ) -> impl Future<Output = Result<(), WriteError>> + Send {
        Store::lose_attempt(self, claim, worker, max_attempts, why)
    }
    fn history(
        &self,
        sweep_id: i64,
        metric: MetricName,
    ) -> impl Future<Output = Result<Vec<Finished>, StoreError>> + Send {
        Store::history(self, sweep_id, metric)
    }
    fn curves(
        &self,
        sweep_id: i64,
        metric: MetricName,
        up_to_epoch: i64,
    ) -> impl Future<Output = Result<Vec<(i64, Vec<f64>)>, StoreError>> + Send {
        Store::curves(self, sweep_id, metric, up_to_epoch)
    }
    fn trial_state(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<TrialState>, StoreError>> + Send {
        Store::trial_state(self, id)
    }
    fn taken_configurations(
        &self,
        sweep_id: i64,
    ) -> impl Future<Output = Result<Vec<TrialParams>, StoreError>> + Send {
        Store::taken_configurations(self, sweep_id)
    }
    fn stored_spec(
        &self,
        sweep_id: i64,
    ) -> impl Future<Output = Result<Option<(serde_json::Value, String)>, StoreError>> + Send {
        Store::stored_spec(self, sweep_id)
    }
    fn exhaust(
        &self,
        claim: &Claim,
        worker: &str,
    ) -> impl Future<Output = Result<(), WriteError>> + Send {
        Store::exhaust(self, claim, worker)
    }
}

impl Lifecycle for Store {
    fn budget(&self, sweep_id: i64) -> impl Future<Output = Result<Budget, StoreError>> + Send {
        Store::budget(self, sweep_id)
    }
    fn extend_sweep(
        &self,
        extension: &Extension,
    ) -> impl Future<Output = Result<Extended, StoreError>> + Send {
        Store::extend_sweep(self, extension)
    }
    fn enqueue_trial(
        &self,
        sweep_id: i64,
        params: &serde_json::Value,
    ) -> impl Future<Output = Result<Enqueued, StoreError>> + Send {
        Store::enqueue_trial(self, sweep_id, params)
    }
    fn delete_sweep(
        &self,
        sweep_id: i64,
    ) -> impl Future<Output = Result<Deleted, StoreError>> + Send {
        Store::delete_sweep(self, sweep_id)
    }
}

impl Recovery for Store {
    fn periodic_turn(&self) -> impl Future<Output = Result<bool, StoreError>> + Send {
        Store::periodic_turn(self)
    }
    fn reap_expired_leases(
        &self,
        max_attempts: u32,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        Store::reap_expired_leases(self, max_attempts)
    }
    fn take_back_from(
        &self,
        worker: &str,
        max_attempts: u32,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        Store::take_back_from(self, worker, max_attempts)
    }
    fn take_back_local(
        &self,
        max_attempts: u32,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        Store::take_back_local(self, max_attempts)
    }
    fn enforce_trial_timeouts(&self) -> impl Future<Output = Result<usize, StoreError>> + Send {
        Store::enforce_trial_timeouts(self)
    }
    fn enforce_deadlines(&self) -> impl Future<Output = Result<usize, StoreError>> + Send {
        Store::enforce_deadlines(self)
    }
}

impl Sweeps for Store {
    fn create_sweep(
        &self,
        new: NewSweep<'_>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send {
        Store::create_sweep(self, new)
    }
    fn sweep(&self, id: i64) -> impl Future<Output = Result<Option<Sweep>, StoreError>> + Send {
        Store::sweep(self, id)
    }
    fn sweep_state(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<SweepState>, StoreError>> + Send {
        Store::sweep_state(self, id)
    }
    fn sweeps_page(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Sweep>, StoreError>> + Send {
        Store::sweeps_page(self, before, limit)
    }
    fn best_trial(
        &self,
        sweep: &Sweep,
    ) -> impl Future<Output = Result<Option<Trial>, StoreError>> + Send {
        Store::best_trial(self, sweep)
    }
    fn cancel_sweep(
        &self,
        sweep_id: i64,
    ) -> impl Future<Output = Result<Cancel, StoreError>> + Send {
        Store::cancel_sweep(self, sweep_id)
    }
    fn trials(&self, sweep_id: i64) -> impl Future<Output = Result<Vec<Trial>, StoreError>> + Send {
        Store::trials(self, sweep_id)
    }
    fn trials_page(
        &self,
        sweep_id: i64,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Trial>, StoreError>> + Send {
        Store::trials_page(self, sweep_id, after, limit)
    }
    fn trial(&self, id: i64) -> impl Future<Output = Result<Option<Trial>, StoreError>> + Send {
        Store::trial(self, id)
    }
    fn trial_detail(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<TrialDetail>, StoreError>> + Send {
        Store::trial_detail(self, id)
    }
    fn progress_groups(
        &self,
        sweep_id: i64,
    ) -> impl Future<Output = Result<Vec<TrialGroup>, StoreError>> + Send {
        Store::progress_groups(self, sweep_id)
    }
}

impl Events for Store {
    fn events(
        &self,
        sweep_id: i64,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send {
        Store::events(self, sweep_id, after, limit)
    }
}

impl Sessions for Store {
    fn open_session(
        &self,
        digest: &str,
        ttl_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        Store::open_session(self, digest, ttl_ms)
    }
    fn session_is_open(
        &self,
        digest: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        Store::session_is_open(self, digest)
    }
    fn close_session(&self, digest: &str) -> impl Future<Output = Result<bool, StoreError>> + Send {
        Store::close_session(self, digest)
    }
    fn close_all_sessions(&self) -> impl Future<Output = Result<u64, StoreError>> + Send {
        Store::close_all_sessions(self)
    }
}

impl Workers for Store {
    fn register_worker(
        &self,
        id: &str,
        worker: &Register,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        Store::register_worker(self, id, worker)
    }

    fn workers(&self) -> impl Future<Output = Result<Vec<WorkerRow>, StoreError>> + Send {
        Store::workers(self)
    }

    fn worker_registered(&self, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send {
        Store::worker_registered(self, id)
    }

    fn held_claim(
        &self,
        trial_id: i64,
        attempt: i64,
        worker: &str,
    ) -> impl Future<Output = Result<Option<Claim>, StoreError>> + Send {
        Store::held_claim(self, trial_id, attempt, worker)
    }

    fn record_checkpoint(
        &self,
        claim: &Claim,
        worker: &str,
        sha256: &str,
        bytes: u64,
        blob: Option<(String, Vec<u8>)>,
    ) -> impl Future<Output = Result<(), WriteError>> + Send {
        Store::record_checkpoint(self, claim, worker, sha256, bytes, blob)
    }

    fn latest_checkpoint(
        &self,
        trial_id: i64,
    ) -> impl Future<Output = Result<Option<CheckpointRef>, StoreError>> + Send {
        Store::latest_checkpoint(self, trial_id)
    }
}
