//! Group commit of epoch reports: reports that arrive while one
//! transaction is written go together into the next, each under its own
//! lease check. The one writer connection then spends its time on reports
//! rather than on beginning and committing, so a thousand workers
//! reporting at once do not queue behind each other's commits.
use super::Held;
use crate::report::{BatchLoss, EpochReport};
use crate::store::{Queue as _, ReportWrite, Store, Verdict, Workers as _, WriteError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most reports written in one transaction.
const MOST: usize = 256;

/// One report waiting for its transaction.
pub(super) struct Job {
    pub held: Arc<Held>,
    pub lease_ms: i64,
    pub report: EpochReport,
    pub samples: Vec<BatchLoss>,
    pub verdict: Verdict,
    pub done: oneshot::Sender<Result<(), WriteError>>,
}

/// Starts the task that writes reports; send it jobs.
pub(super) fn start(store: Store) -> mpsc::UnboundedSender<Job> {
    let (jobs, mut waiting) = mpsc::unbounded_channel::<Job>();
    tokio::spawn(async move {
        while let Some(first) = waiting.recv().await {
            let mut batch = vec![first];
            while batch.len() < MOST {
                match waiting.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            write(&store, batch).await;
        }
    });
    jobs
}

/// Writes a batch and answers each job. When the transaction fails, each
/// report is written alone, so that each caller gets its own error (a full
/// disk answers 503, which workers try again) and one bad report costs no
/// other.
async fn write(store: &Store, batch: Vec<Job>) {
    let writes: Vec<ReportWrite<'_>> = batch.iter().map(as_write).collect();
    match store.report_epochs(&writes).await {
        Ok(results) => {
            drop(writes);
            for (job, result) in batch.into_iter().zip(results) {
                // No receiver: the request was dropped (its client left).
                let _ = job.done.send(result);
            }
        }
        Err(e) if batch.len() == 1 => {
            drop(writes);
            let job = batch.into_iter().next().expect("one job");
            let _ = job.done.send(Err(WriteError::Store(e)));
        }
        Err(_) => {
            drop(writes);
            for job in batch {
                let w = as_write(&job);
                let result = store
                    .report_epoch(
                        w.claim,
                        w.worker,
                        w.lease_ms,
                        w.report,
                        w.batch_losses,
                        w.verdict,
                    )
                    .await;
                let _ = job.done.send(result);
            }
        }
    }
}

fn as_write(job: &Job) -> ReportWrite<'_> {
    ReportWrite {
        claim: &job.held.claim,
        worker: &job.held.worker,
        lease_ms: job.lease_ms,
        report: &job.report,
        batch_losses: &job.samples,
        verdict: &job.verdict,
    }
}
