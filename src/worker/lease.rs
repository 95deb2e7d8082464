//! Keeping a claimed trial's lease from the worker's side: renewal in a
//! task of its own, calls tried again with backoff while the server cannot
//! be reached, and the rule that stops a worker by itself: no word from
//! the server for two thirds of the lease means the server may take the
//! trial back at any moment, so nothing more of it is trained.
use super::remote::CallError;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Shortest and longest pause between tries of a call the server did not get.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));

/// When the server last answered for this attempt, by this worker's clock.
pub(super) struct Contact {
    last: Mutex<Instant>,
    lease: Duration,
}

impl Contact {
    /// Contact now, under a lease of `lease`.
    pub fn new(lease: Duration) -> Contact {
        Contact {
            last: Mutex::new(Instant::now()),
            lease,
        }
    }

    /// The server answered.
    pub fn touch(&self) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Two thirds of the lease have passed without an answer: the lease
    /// must be taken for lost, whatever the server says later.
    pub fn out_of_touch(&self) -> bool {
        let last = *self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.elapsed() >= self.lease * 2 / 3
    }
}

/// Renews the lease every third of its length, by `renew_once`, until
/// aborted. When it is lost (taken back, the trial ended elsewhere), or
/// nothing was heard from the server for two thirds of it, sets `lost` and
/// `stop`, which stops the training. A renewal that did not reach the
/// server is logged when failures start and tried again at the next tick.
#[tracing::instrument(name = "renew", skip_all, fields(trial_id = trial))]
pub(super) async fn renew<F, W>(
    trial: i64,
    contact: Arc<Contact>,
    mut renew_once: W,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
) where
    W: FnMut() -> F,
    F: Future<Output = Result<(), CallError>>,
{
    let mut every = tokio::time::interval(contact.lease / 3);
    every.tick().await;
    let mut failing = false;
    loop {
        every.tick().await;
        let give_up = match renew_once().await {
            Ok(()) => {
                contact.touch();
                if std::mem::take(&mut failing) {
                    tracing::info!(trial, "the server answers again");
                }
                false
            }
            Err(CallError::LeaseLost) => {
                tracing::info!(trial, "the lease was taken back: stopping the trial");
                true
            }
            Err(e) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(trial, "renewing the lease: {e}");
                }
                contact.out_of_touch()
            }
        };
        if give_up {
            if failing {
                tracing::warn!(
                    trial,
                    "no answer for two thirds of the lease: stopping the trial"
                );
            }
            lost.store(true, Ordering::Relaxed);
            stop.store(true, Ordering::Relaxed);
            return;
        }
    }
}

/// Makes a call, again with backoff while the server cannot be reached,
/// until it answers or two thirds of the lease have passed without an
/// answer (then the last error). Logged once per call, and once more when
/// it got through.
pub(super) async fn persist<T, F, W>(
    trial: i64,
    what: &str,
    contact: &Contact,
    mut call: W,
) -> Result<T, CallError>
where
    W: FnMut() -> F,
    F: Future<Output = Result<T, CallError>>,
{
    let started = Instant::now();
    let mut pause = BACKOFF.0;
    let mut failed = false;
    loop {
        match call().await {
            Err(e @ CallError::Unreachable(_)) => {
                if contact.out_of_touch() {
                    return Err(e);
                }
                if !std::mem::replace(&mut failed, true) {
                    tracing::warn!(trial, "{what}: {e}; trying again");
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(BACKOFF.1);
            }
            done => {
                if done.is_ok() {
                    contact.touch();
                }
                if failed {
                    let waited = started.elapsed().as_secs_f64();
                    tracing::info!(trial, "{what}: got through after {waited:.1} s");
                }
                return done;
            }
        }
    }
}

/// Aborts a task when dropped.
pub(super) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests;
