//! The trial queue as workers use it: a claimed trial, the verdict on an
//! epoch, how a trial ends, and the sampled configuration of a claimed
//! trial. The frequent writes (claim, renew, report, progress, finish) are
//! in `hot.rs`, on the writer thread. Every write checks that the lease is
//! still the caller's, so a worker whose trial was taken back cannot count
//! it twice.
pub use super::lease::WriteError;
use super::{events, Store};
use crate::spec::TrialParams;
use serde_json::json;

/// What the further members of a fused group share with its first: the
/// sweep, and a configuration they fuse with (`TrialParams::fuses_with`).
/// A trial whose configuration is sampled when claimed is taken too: it
/// is sampled with the group's shape.
#[derive(Debug, Clone)]
pub struct Like {
    pub sweep_id: i64,
    pub params: TrialParams,
}

impl Like {
    /// Queued trials a claim looks at past those that do not fuse, before
    /// it gives up (a sweep of many shapes has its other shapes' trials
    /// first in line).
    pub const LOOK_AT: usize = 64;

    /// Whether a queued trial with these stored params may join.
    pub fn admits(&self, params: Option<&TrialParams>) -> bool {
        params.is_none_or(|p| p.fuses_with(&self.params))
    }
}

/// A trial a worker has claimed, with what it needs to train it.
#[derive(Debug, Clone)]
pub struct Claim {
    pub trial_id: i64,
    pub sweep_id: i64,
    pub number: i64,
    pub attempt: i64,
    /// Epochs the trial has reports of, from earlier attempts: a checkpoint
    /// up to this epoch may be resumed from.
    pub epochs_done: i64,
    /// None for methods that sample when the trial is claimed (see `assign_params`).
    pub params: Option<TrialParams>,
    pub seed: u64,
    pub dataset: String,
    /// Seed of the sweep, which fixes its validation split.
    pub sweep_seed: u64,
    /// The sweep's spec document, as stored.
    pub spec: serde_json::Value,
}

/// What the scheduler and the sweep's target made of one epoch report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// The early-stopping decision, if the sweep has a rule: (prune?, reason).
    pub decision: Option<(bool, String)>,
    /// The rung this epoch is, for hyperband.
    pub rung: Option<u32>,
    /// The report reaches the sweep's target: the sweep completes now.
    pub target_reached: bool,
}

impl Verdict {
    /// The stored report's `decision` (`prune` or `continue`) and `reason`.
    pub(super) fn columns(&self) -> (Option<&'static str>, Option<&str>) {
        match &self.decision {
            Some((prune, reason)) => (
                Some(if *prune { "prune" } else { "continue" }),
                Some(reason.as_str()),
            ),
            None => (None, None),
        }
    }

    /// The `epoch_report` event's data for trial `number`'s `report`.
    pub(super) fn event(
        &self,
        number: i64,
        report: &crate::report::EpochReport,
    ) -> serde_json::Value {
        json!({"number": number, "report": report,
            "decision": self.decision, "rung": self.rung})
    }
}

/// What became of an epoch report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    /// Stored, with its verdict.
    Stored,
    /// The attempt had reported this epoch before (a retry whose first
    /// answer was lost): nothing stored again, the lease renewed.
    DeliveredBefore,
}

/// How a trial ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    /// Trained every epoch; metrics on the test split.
    Completed { test_loss: f64, test_accuracy: f64 },
    /// Could not go on; the reason, e.g. `diverged`.
    Failed { reason: String },
}

impl Store {
    /// Records the configuration sampled for a claimed trial.
    pub(super) async fn assign_params(
        &self,
        claim: &Claim,
        worker: &str,
        params: &TrialParams,
    ) -> Result<(), WriteError> {
        let params = serde_json::to_value(params).expect("params serialize");
        self.with_lease(claim, worker, |mut tx| {
            Box::pin(async move {
                super::query("UPDATE trials SET params = ? WHERE id = ?")
                    .bind(params.to_string())
                    .bind(claim.trial_id)
                    .execute(&mut *tx)
                    .await?;
                let data = json!({"number": claim.number, "params": params});
                events::append(
                    &mut tx,
                    claim.sweep_id,
                    Some(claim.trial_id),
                    "trial_sampled",
                    data,
                )
                .await?;
                Ok((tx, ()))
            })
        })
        .await
    }
}
