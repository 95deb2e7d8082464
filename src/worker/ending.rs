//! How a claimed trial's end is told to the server: completed, failed,
//! handed back at a checkpoint, or an attempt given up; every waiting
//! report first, and this host's copy of the checkpoint forgotten once no
//! attempt here will resume from it.
use super::remote::CallError;
use super::trial::{Training, TrialRun};
use crate::protocol::Outcome as Told;
use crate::train::{Outcome, TrainError};

/// The exit status of a worker that ran out of memory (EX_TEMPFAIL).
const EXIT_OUT_OF_MEMORY: i32 = 75;

impl TrialRun<'_> {
    /// Tells the server how training ended, while the lease was held.
    #[tracing::instrument(name = "finish", skip_all, fields(trial_id = self.a.trial_id))]
    pub(super) async fn done(&self, training: &mut Training, result: Result<Outcome, TrainError>) {
        if !training.held() {
            return self.forget();
        }
        let delivered = self.deliver_all(training).await;
        let trial = self.a.trial_id;
        match result {
            _ if !delivered => {}
            Ok(Outcome::Suspended) => {
                let (remote, a) = (self.remote, &self.a);
                let uploader = training.uploader.clone();
                let uploaded = self
                    .call(training, "uploading the checkpoint", || {
                        uploader.sync(remote, a)
                    })
                    .await;
                if let Err(e) = uploaded {
                    tracing::warn!(trial, "uploading the last checkpoint: {e}");
                }
                let handed = self
                    .call(training, "handing the trial back", || remote.hand_back(a))
                    .await;
                match handed {
                    Ok(()) => tracing::info!(trial, "handed back at its checkpoint"),
                    Err(e) => self.given_up(training, "handing the trial back", &e),
                }
                // Kept: an attempt on this host resumes from it without a download.
                return;
            }
            Ok(Outcome::Stopped) => {}
            Ok(Outcome::Completed {
                test_loss,
                test_accuracy,
            }) => {
                let told = Told::Completed {
                    test_loss,
                    test_accuracy,
                };
                self.tell(training, &told).await;
            }
            Ok(Outcome::Diverged { epoch }) => {
                tracing::info!(epoch, "the loss became NaN or infinite");
                self.fail(training, "diverged".to_string()).await;
            }
            Err(e @ TrainError::OutOfMemory(_)) => {
                // Like a crash, this costs one attempt; the process starts
                // afresh so that no half-freed memory stays behind.
                let why = format!("the worker ran out of memory ({e})");
                let (remote, a) = (self.remote, &self.a);
                let lost = self
                    .call(training, "giving the attempt up", || remote.lose(a, &why))
                    .await;
                if let Err(e) = lost {
                    self.given_up(training, "giving the attempt up", &e);
                }
                tracing::error!(trial, "{why}; restarting the worker");
                std::process::exit(EXIT_OUT_OF_MEMORY);
            }
            Err(
                e @ (TrainError::InvalidConfiguration { .. }
                | TrainError::Data(_)
                | TrainError::BadCheckpoint(_)
                | TrainError::CheckpointNotWritten(_)
                | TrainError::Torch(_)),
            ) => self.fail(training, e.to_string()).await,
        }
        self.forget();
    }

    /// Ends the trial `failed` with `reason`.
    pub(super) async fn fail(&self, training: &Training, reason: String) {
        self.tell(training, &Told::Failed { reason }).await;
        self.forget();
    }

    /// Tells the server how the trial ended.
    async fn tell(&self, training: &Training, told: &Told) {
        let (remote, a) = (self.remote, &self.a);
        let ended = self
            .call(training, "ending the trial", || remote.finish(a, told))
            .await;
        match ended {
            Ok(()) => {}
            Err(e @ (CallError::LeaseLost | CallError::Unreachable(_))) => {
                self.given_up(training, "ending the trial", &e)
            }
            Err(e) => tracing::error!(trial = a.trial_id, "ending the trial: {e}"),
        }
    }

    /// Deletes this host's copy of the checkpoint: the trial ended, or it
    /// moved to another attempt, which downloads what the server has.
    fn forget(&self) {
        // Best effort: a file left behind is replaced by the next download.
        let _ = std::fs::remove_file(&self.checkpoint);
    }
}
