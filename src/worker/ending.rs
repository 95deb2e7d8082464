//! How a claimed trial's end is recorded: completed, failed, handed back
//! at a checkpoint, or an attempt given up; and its checkpoint forgotten
//! once no attempt will resume from it.
use super::lease::lease_held;
use super::trial::TrialRun;
use crate::state::TrialState;
use crate::store::{Finish, Queue, StoreError, WriteError};
use crate::train::{Outcome, TrainError};

/// The exit status of a worker that ran out of memory (EX_TEMPFAIL).
const EXIT_OUT_OF_MEMORY: i32 = 75;

impl<S: Queue> TrialRun<'_, S> {
    /// Records how training ended while the lease was held.
    #[tracing::instrument(name = "finish", skip_all, fields(trial_id = self.claim.trial_id))]
    pub(super) async fn done(&self, result: Result<Outcome, TrainError>) -> Result<(), StoreError> {
        let (store, claim, worker) = (self.store, self.claim, self.worker);
        match result {
            Ok(Outcome::Suspended) => {
                let handed = self
                    .write("handing the trial back", || store.hand_back(claim, worker))
                    .await;
                if handed.is_ok() {
                    tracing::info!(trial = claim.trial_id, "handed back at its checkpoint");
                }
                return self.unless_lost("handing the trial back", handed);
            }
            Ok(Outcome::Stopped) => {}
            Ok(Outcome::Completed {
                test_loss,
                test_accuracy,
            }) => {
                let finish = Finish::Completed {
                    test_loss,
                    test_accuracy,
                };
                let ended = self
                    .write("ending the trial", || store.finish(claim, worker, &finish))
                    .await;
                self.unless_lost("ending the trial completed", ended)?;
            }
            Ok(Outcome::Diverged { epoch }) => {
                tracing::info!(epoch, "the loss became NaN or infinite");
                self.fail("diverged".to_string()).await?;
            }
            Err(e @ TrainError::OutOfMemory(_)) => {
                // Like a crash, this costs one attempt; the process starts
                // afresh so that no half-freed memory stays behind.
                let why = format!("the worker ran out of memory ({e})");
                let lost = self
                    .write("giving the attempt up", || {
                        store.lose_attempt(claim, worker, self.max_attempts, &why)
                    })
                    .await;
                // Restarted all the same: the memory is what it is about.
                self.unless_lost("giving the attempt up", lost)?;
                tracing::error!(trial = claim.trial_id, "{why}; restarting the worker");
                std::process::exit(EXIT_OUT_OF_MEMORY);
            }
            Err(
                e @ (TrainError::InvalidConfiguration { .. }
                | TrainError::Data(_)
                | TrainError::BadCheckpoint(_)
                | TrainError::CheckpointNotWritten(_)
                | TrainError::Torch(_)),
            ) => self.fail(e.to_string()).await?,
        }
        self.forget_if_ended().await
    }

    /// Ends the trial `failed` with `reason`.
    pub(super) async fn fail(&self, reason: String) -> Result<(), StoreError> {
        let finish = Finish::Failed { reason };
        let ended = self
            .write("ending the trial", || {
                self.store.finish(self.claim, self.worker, &finish)
            })
            .await;
        self.unless_lost("ending the trial failed", ended)
    }

    /// Logs a write the lease was lost for: the trial was taken back (or
    /// ended elsewhere) meanwhile and is no longer this worker's to record,
    /// so nothing more is done with it. A store failure is returned.
    fn unless_lost(&self, what: &str, written: Result<(), WriteError>) -> Result<(), StoreError> {
        if lease_held(written)?.is_none() {
            let trial = self.claim.trial_id;
            tracing::info!(trial, "{what}: not recorded, the lease was lost meanwhile");
        }
        Ok(())
    }

    /// Deletes the checkpoint once the trial has ended: no attempt will
    /// resume from it. A trial taken back keeps it for the next attempt.
    pub(super) async fn forget_if_ended(&self) -> Result<(), StoreError> {
        let state = self.store.trial_state(self.claim.trial_id).await?;
        // A trial that no longer exists has ended too.
        if state.is_none_or(TrialState::is_ended) {
            // Best effort: a checkpoint left behind goes with its sweep's folder.
            let _ = std::fs::remove_file(&self.checkpoint);
        }
        Ok(())
    }
}
